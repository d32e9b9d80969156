//! An instrumented mutex over any `lock_api::RawMutex`.
//!
//! [`Mutex<R, T>`] is the generic safe wrapper; [`crate::Mutex<T>`] is this
//! over `parking_lot::RawMutex`. The validator is told of an acquisition
//! *before* the raw lock is taken, so a lock order that could deadlock is
//! reported before it has the chance to.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::Location;

use lock_api::RawMutex;

use crate::class::{ClassId, ClassKey};
use crate::held::Mode;
use crate::map::{Acquisition, AsLockMap, LockMap};

/// A mutual-exclusion lock whose order against other locks is validated.
pub struct Mutex<R, T: ?Sized> {
    raw: R,
    map: LockMap,
    data: UnsafeCell<T>,
}

// SAFETY: the raw lock serialises all access to `data`, as for `lock_api::Mutex`.
unsafe impl<R: RawMutex + Send, T: ?Sized + Send> Send for Mutex<R, T> {}
// SAFETY: sharing the mutex only gives access to `data` through the raw lock.
unsafe impl<R: RawMutex + Sync, T: ?Sized + Send> Sync for Mutex<R, T> {}

impl<R: RawMutex, T> Mutex<R, T> {
    /// A mutex whose class is the call site: every mutex created by this
    /// line of code is one class.
    #[track_caller]
    pub const fn new(value: T) -> Self {
        Self::from_map(LockMap::new(), value)
    }

    /// A mutex whose class is the call site, printed as `name`.
    #[track_caller]
    pub const fn named(name: &'static str, value: T) -> Self {
        Self::from_map(LockMap::named(name), value)
    }

    /// A mutex of the class of a static key.
    pub const fn with_key(key: &'static ClassKey, value: T) -> Self {
        Self::from_map(LockMap::with_key(key), value)
    }

    const fn from_map(map: LockMap, value: T) -> Self {
        Mutex {
            raw: R::INIT,
            map,
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the mutex and returns the value.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<R: RawMutex, T: ?Sized> Mutex<R, T> {
    /// Acquires the mutex, blocking until it is free.
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> MutexGuard<'_, R, T> {
        self.lock_nested(0)
    }

    /// Acquires the mutex as subclass `subclass` of its class, for nesting
    /// two locks of one class in a fixed order (parent 0, child 1, ...).
    #[inline]
    #[track_caller]
    pub fn lock_nested(&self, subclass: u32) -> MutexGuard<'_, R, T> {
        let at = Location::caller();
        self.locked(self.map.acquisition(Mode::Exclusive, subclass, false, at))
    }

    /// The common tail of every blocking acquisition: the validator has been
    /// told (before blocking, so a report comes before a hang); now block.
    #[inline]
    fn locked(&self, acquisition: Acquisition) -> MutexGuard<'_, R, T> {
        self.raw.lock();
        MutexGuard {
            mutex: self,
            acquisition,
        }
    }

    /// Acquires the mutex under a *nest lock* held by this thread: any number
    /// of mutexes of this class may then be held together, since `nest`
    /// serializes everyone who takes them (the kernel's
    /// `mutex_lock_nest_lock`). Not holding `nest` is reported.
    #[track_caller]
    pub fn lock_under(&self, nest: &impl AsLockMap) -> MutexGuard<'_, R, T> {
        let tracked = self.map.acquire_under(Mode::Exclusive, nest);
        self.locked(Acquisition::recorded(tracked))
    }

    /// Acquires a mutex of an ordered class ([`ClassKey::ordered`]) with an
    /// explicit order key: mutexes of the class may be nested in increasing
    /// key order, and nesting them out of order is reported.
    #[track_caller]
    pub fn lock_ordered(&self, key: u64) -> MutexGuard<'_, R, T> {
        let tracked = self.map.acquire_ordered(Mode::Exclusive, key);
        self.locked(Acquisition::recorded(tracked))
    }

    /// Acquires the mutex if it is free. A trylock cannot deadlock, so it is
    /// never the target of a dependency; while held it can be the source of one.
    #[inline]
    #[track_caller]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, R, T>> {
        let at = Location::caller();
        if !self.raw.try_lock() {
            return None;
        }
        Some(MutexGuard {
            mutex: self,
            acquisition: self.map.acquisition(Mode::Exclusive, 0, true, at),
        })
    }

    /// Is the mutex locked (by anyone)?
    pub fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// Mutable access without locking: the borrow proves exclusivity.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// The mutex's class.
    pub fn class(&self) -> ClassId {
        self.map.class()
    }

    /// Validates, here, an acquisition that only happens on some path (an
    /// acquisition released at once), so its order is checked on every run.
    #[track_caller]
    pub fn might_lock(&self) {
        self.map.might_acquire(Mode::Exclusive);
    }

    crate::map::contract_methods!();
}

impl<R: RawMutex, T: ?Sized> AsLockMap for Mutex<R, T> {
    fn as_lock_map(&self) -> &LockMap {
        &self.map
    }
}

impl<R: RawMutex, T: Default> Default for Mutex<R, T> {
    #[track_caller]
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<R: RawMutex, T: ?Sized + fmt::Debug> fmt::Debug for Mutex<R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        // Peek without validation: formatting must not add dependencies.
        if self.raw.try_lock() {
            // SAFETY: the raw lock is held until the unlock just below.
            d.field("data", &unsafe { &*self.data.get() });
            // SAFETY: this thread locked it with the try_lock above.
            unsafe { self.raw.unlock() };
        } else {
            d.field("data", &format_args!("<locked>"));
        }
        d.finish()
    }
}

/// Access to a locked mutex; unlocks on drop. Not `Send`.
#[must_use = "the mutex is unlocked when the guard is dropped"]
pub struct MutexGuard<'a, R: RawMutex, T: ?Sized> {
    mutex: &'a Mutex<R, T>,
    acquisition: Acquisition,
}

impl<R: RawMutex, T: ?Sized> Deref for MutexGuard<'_, R, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this thread holds the raw lock.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<R: RawMutex, T: ?Sized> DerefMut for MutexGuard<'_, R, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for `deref`, and `&mut self` makes the access unique.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<R: RawMutex, T: ?Sized> MutexGuard<'_, R, T> {
    /// For a condition variable's wait, step one: the validator forgets the
    /// mutex (it will not be held during the wait). The raw lock is still
    /// held, so a panic before step two leaves a guard that unlocks normally.
    pub(crate) fn forget_for_wait(&mut self) {
        self.mutex.map.end(&mut self.acquisition);
    }

    /// Step two: unlocks the raw mutex. The guard must be re-armed with
    /// [`reacquire_after_wait`](Self::reacquire_after_wait) before anything else.
    pub(crate) fn unlock_for_wait(&mut self) {
        // SAFETY: the guard holds the raw lock; `reacquire_after_wait` takes
        // it again before the guard can be used or dropped.
        unsafe { self.mutex.raw.unlock() };
    }

    /// Takes the mutex again after a wait: validated, since it can block.
    pub(crate) fn reacquire_after_wait(&mut self, at: &'static Location<'static>) {
        let subclass = self.acquisition.subclass();
        let validated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.mutex
                .map
                .acquisition(Mode::Exclusive, subclass, false, at)
        }));
        // Whatever the validator did (Action::Panic unwinds), the guard must
        // own the lock again before it can be dropped.
        self.mutex.raw.lock();
        match validated {
            Ok(acquisition) => self.acquisition = acquisition,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl<R: RawMutex, T: ?Sized> Drop for MutexGuard<'_, R, T> {
    #[inline]
    fn drop(&mut self) {
        self.mutex.map.end(&mut self.acquisition);
        // SAFETY: the guard was created after this thread locked the raw lock.
        unsafe { self.mutex.raw.unlock() };
    }
}

impl<R: RawMutex, T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<R: RawMutex, T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// The map a mapped guard releases on drop. With validation compiled out it
/// is zero-sized, so a mapped guard is the size of `lock_api`'s: the raw lock
/// and the data pointer.
#[derive(Clone, Copy)]
pub(crate) struct MapRef<'a> {
    #[cfg(not(lockdep_off))]
    map: &'a LockMap,
    _map: PhantomData<&'a LockMap>,
}

impl<'a> MapRef<'a> {
    pub(crate) fn new(map: &'a LockMap) -> MapRef<'a> {
        #[cfg(lockdep_off)]
        let _ = map;
        MapRef {
            #[cfg(not(lockdep_off))]
            map,
            _map: PhantomData,
        }
    }

    /// [`LockMap::end`] on the map.
    pub(crate) fn end(self, acquisition: &mut Acquisition) {
        #[cfg(not(lockdep_off))]
        self.map.end(acquisition);
        #[cfg(lockdep_off)]
        let _ = acquisition;
    }
}

impl<'a, R: RawMutex, T: ?Sized> MutexGuard<'a, R, T> {
    /// Narrows the guard to a part of the data, like `parking_lot`'s
    /// `MutexGuard::map`. The mutex stays locked, and held in the validator,
    /// until the mapped guard is dropped. An associated function, so that it
    /// does not shadow a method of `T`.
    pub fn map<U: ?Sized, F>(mut s: Self, f: F) -> MappedMutexGuard<'a, R, U>
    where
        F: FnOnce(&mut T) -> &mut U,
    {
        // If `f` panics, `s` is dropped as usual and unlocks.
        let data: *mut U = f(&mut *s);
        let (mutex, acquisition) = (s.mutex, s.acquisition.take());
        std::mem::forget(s);
        MappedMutexGuard::new(&mutex.raw, MapRef::new(&mutex.map), data, acquisition)
    }

    /// Like [`map`](Self::map), but `f` may decline, in which case the guard
    /// is given back unchanged.
    pub fn try_map<U: ?Sized, F>(mut s: Self, f: F) -> Result<MappedMutexGuard<'a, R, U>, Self>
    where
        F: FnOnce(&mut T) -> Option<&mut U>,
    {
        let data: *mut U = match f(&mut *s) {
            Some(data) => data,
            None => return Err(s),
        };
        let (mutex, acquisition) = (s.mutex, s.acquisition.take());
        std::mem::forget(s);
        Ok(MappedMutexGuard::new(
            &mutex.raw,
            MapRef::new(&mutex.map),
            data,
            acquisition,
        ))
    }
}

/// A [`MutexGuard`] narrowed to a part of the data by [`MutexGuard::map`].
/// Unlocks on drop. Not `Send`.
#[must_use = "the mutex is unlocked when the guard is dropped"]
pub struct MappedMutexGuard<'a, R: RawMutex, T: ?Sized> {
    raw: &'a R,
    map: MapRef<'a>,
    data: *mut T,
    acquisition: Acquisition,
    _data: PhantomData<&'a mut T>,
}

impl<'a, R: RawMutex, T: ?Sized> MappedMutexGuard<'a, R, T> {
    fn new(raw: &'a R, map: MapRef<'a>, data: *mut T, acquisition: Acquisition) -> Self {
        MappedMutexGuard {
            raw,
            map,
            data,
            acquisition,
            _data: PhantomData,
        }
    }

    /// Takes the lock and its record out of a guard that is being re-mapped.
    fn into_parts(mut s: Self) -> (&'a R, MapRef<'a>, Acquisition) {
        let parts = (s.raw, s.map, s.acquisition.take());
        std::mem::forget(s);
        parts
    }

    /// Narrows the guard further.
    pub fn map<U: ?Sized, F>(mut s: Self, f: F) -> MappedMutexGuard<'a, R, U>
    where
        F: FnOnce(&mut T) -> &mut U,
    {
        let data: *mut U = f(&mut *s);
        let (raw, map, acquisition) = Self::into_parts(s);
        MappedMutexGuard::new(raw, map, data, acquisition)
    }

    /// Narrows the guard further if `f` returns a part; otherwise gives it back.
    pub fn try_map<U: ?Sized, F>(mut s: Self, f: F) -> Result<MappedMutexGuard<'a, R, U>, Self>
    where
        F: FnOnce(&mut T) -> Option<&mut U>,
    {
        let data: *mut U = match f(&mut *s) {
            Some(data) => data,
            None => return Err(s),
        };
        let (raw, map, acquisition) = Self::into_parts(s);
        Ok(MappedMutexGuard::new(raw, map, data, acquisition))
    }
}

impl<R: RawMutex, T: ?Sized> Deref for MappedMutexGuard<'_, R, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: `data` points into the mutex's data, and the guard holds the
        // raw lock for as long as it exists.
        unsafe { &*self.data }
    }
}

impl<R: RawMutex, T: ?Sized> DerefMut for MappedMutexGuard<'_, R, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as for `deref`; the lock is exclusive and `&mut self` makes
        // this the only access.
        unsafe { &mut *self.data }
    }
}

impl<R: RawMutex, T: ?Sized> Drop for MappedMutexGuard<'_, R, T> {
    fn drop(&mut self) {
        self.map.end(&mut self.acquisition);
        // SAFETY: the guard took over the lock of the guard it was mapped
        // from, which this thread locked.
        unsafe { self.raw.unlock() };
    }
}

impl<R: RawMutex, T: ?Sized + fmt::Debug> fmt::Debug for MappedMutexGuard<'_, R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<R: RawMutex, T: ?Sized + fmt::Display> fmt::Display for MappedMutexGuard<'_, R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
