//! An instrumented mutex over any `lock_api::RawMutex`.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::ptr;
#[cfg(feature = "arc_lock")]
use std::sync::Arc;

use lock_api::{RawMutex, RawMutexFair, RawMutexTimed};

use crate::class::{ClassId, ClassKey, DynamicKey, Prefix};
use crate::held::Mode;
use crate::map::{Acquisition, AsLockMap, LockMap};

/// A mutual-exclusion lock whose order against other locks is validated.
///
/// [`Mutex<R, T>`] is the generic safe wrapper; [`crate::Mutex<T>`] is this
/// over `parking_lot::RawMutex`. The validator is told of an acquisition
/// *before* the raw lock is taken, so a lock order that could deadlock is
/// reported before it has the chance to.
///
/// The rest of `lock_api::Mutex`'s API is here too, validated as follows:
///
/// | method | validated as |
/// |---|---|
/// | `lock`, `lock_nested`, `lock_under`, `lock_ordered` | exclusive |
/// | `try_lock` | exclusive trylock: held, a source of dependencies, never a target |
/// | `try_lock_for`, `try_lock_until` | exclusive trylock once they succeed: a timed wait cannot wait forever, so (like the kernel's trylock) it is never the target of a dependency, and a timed lock taken in an ABBA order is **not** reported |
/// | `MutexGuard::unlocked`, `unlocked_fair` | released while `f` runs, then taken back as a new blocking acquisition (validated like a condvar wait's re-take), also if `f` panics |
/// | `MutexGuard::bump` | released and taken back as a new blocking acquisition, before the raw bump (which may hand the lock to a waiter and wait for it again) |
/// | `MutexGuard::unlock_fair`, `MappedMutexGuard::unlock_fair` | a release, like dropping the guard |
/// | `MutexGuard::leak` | stays held, in the validator as in the lock: a thread that ends, or a mutex dropped, with it so is reported |
/// | `force_unlock`, `force_unlock_fair` (unsafe) | releases the calling thread's acquisition of the mutex (a forgotten guard's); if the thread does not hold it, that is reported as a bad unlock balance |
/// | `raw` (unsafe) | nothing: locking or unlocking the raw mutex directly bypasses the validator |
/// | `is_locked`, `data_ptr`, `get_mut`, `MutexGuard::mutex` | nothing: not acquisitions |
/// | `lock_arc`, `try_lock_arc`, `try_lock_arc_for`, `try_lock_arc_until` (feature `arc_lock`; on an `Arc<Mutex>`) | as `lock`, `try_lock`, `try_lock_for`, `try_lock_until`; the guard, an `ArcMutexGuard`, owns an `Arc` of the mutex instead of borrowing it |
/// | `ArcMutexGuard::unlocked`, `unlocked_fair`, `bump`, `unlock_fair` | as `MutexGuard`'s |
/// | `ArcMutexGuard::into_arc`, `into_arc_fair` | a release, like dropping the guard (the `Arc` is given back) |
/// | `ArcMutexGuard::mutex` | nothing: not an acquisition |
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
        Self::from_map(LockMap::of::<T>(Location::caller(), Prefix::None), value)
    }

    /// A mutex whose class is the call site, printed as `name`.
    #[track_caller]
    pub const fn named(name: &'static str, value: T) -> Self {
        Self::from_map(
            LockMap::named_at(Location::caller(), name, Prefix::None),
            value,
        )
    }

    /// A mutex of the class of a static key.
    pub const fn with_key(key: &'static ClassKey, value: T) -> Self {
        Self::from_map(LockMap::with_key(key), value)
    }

    /// A mutex of the class of a [`DynamicKey`], created at run time.
    pub fn with_dynamic_key(key: &DynamicKey, value: T) -> Self {
        Self::from_map(LockMap::with_dynamic_key(key), value)
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

impl<R, T> Mutex<R, T> {
    /// A mutex over an existing raw mutex (which should be unlocked), whose
    /// class is the call site. Like `lock_api::Mutex::from_raw`.
    #[track_caller]
    pub const fn from_raw(raw: R, value: T) -> Self {
        Mutex {
            raw,
            map: LockMap::of::<T>(Location::caller(), Prefix::None),
            data: UnsafeCell::new(value),
        }
    }

    /// The same as [`from_raw`](Self::from_raw) (`lock_api`'s legacy name).
    #[track_caller]
    pub const fn const_new(raw: R, value: T) -> Self {
        Self::from_raw(raw, value)
    }
}

impl<R: RawMutex, T: ?Sized> Mutex<R, T> {
    /// Acquires the mutex, blocking until it is free.
    // Always inlined, down to the validator's fast path, as parking_lot's
    // lock is: one out-of-line call costs about what the whole path does.
    #[inline(always)]
    #[track_caller]
    pub fn lock(&self) -> MutexGuard<'_, R, T> {
        self.lock_nested(0)
    }

    /// Acquires the mutex as subclass `subclass` of its class, for nesting
    /// two locks of one class in a fixed order (parent 0, child 1, ...).
    #[inline(always)]
    #[track_caller]
    pub fn lock_nested(&self, subclass: u32) -> MutexGuard<'_, R, T> {
        let at = Location::caller();
        self.locked(self.map.acquisition(Mode::Exclusive, subclass, false, at))
    }

    /// The common tail of every blocking acquisition: the validator has been
    /// told (before blocking, so a report comes before a hang); now block.
    #[inline(always)]
    fn locked(&self, acquisition: Acquisition) -> MutexGuard<'_, R, T> {
        MutexGuard::new(self, self.block(acquisition))
    }

    /// Blocks on the raw lock for an acquisition the validator has been told of.
    #[inline(always)]
    fn block(&self, acquisition: Acquisition) -> Acquisition {
        self.raw.lock();
        acquisition
    }

    /// The record of a successful trylock (timed or not): an exclusive trylock.
    #[inline]
    fn tried(&self, locked: bool, at: &'static Location<'static>) -> Option<Acquisition> {
        locked.then(|| self.map.acquisition(Mode::Exclusive, 0, true, at))
    }

    /// Acquires the mutex under a *nest lock* held by this thread: any number
    /// of mutexes of this class taken after `nest` may then be held
    /// together, since `nest` serializes everyone who takes them (the
    /// kernel's `mutex_lock_nest_lock`). Not holding `nest` is reported, and
    /// so is a nest lock taken after the first mutex of the class.
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
        let acquisition = self.tried(self.raw.try_lock(), at)?;
        Some(MutexGuard::new(self, acquisition))
    }

    /// Is the mutex locked (by anyone)?
    pub fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// Unlocks the mutex without a guard: for a guard given up with
    /// `mem::forget`. The validator releases the calling thread's acquisition
    /// of the mutex; if the thread does not hold it (say, the mutex was
    /// locked through [`raw`](Self::raw)), that is reported as a bad unlock
    /// balance.
    ///
    /// # Safety
    ///
    /// As for `lock_api::Mutex::force_unlock`: the calling thread must hold
    /// the lock through a guard it has forgotten, and no guard of it may be
    /// left. Unlocking a mutex that is not locked is undefined behavior.
    #[track_caller]
    pub unsafe fn force_unlock(&self) {
        self.map.release_at(Location::caller());
        // SAFETY: the caller guarantees this thread holds the raw lock and no
        // guard will unlock it again.
        unsafe { self.raw.unlock() };
    }

    /// The raw mutex. Locking or unlocking it directly bypasses the
    /// validator: such acquisitions are neither validated nor recorded.
    ///
    /// # Safety
    ///
    /// As for `lock_api::Mutex::raw`: it allows unlocking the mutex while a
    /// guard still holds it.
    pub unsafe fn raw(&self) -> &R {
        &self.raw
    }

    /// A raw pointer to the data, for use while a forgotten guard holds the
    /// lock (say, across FFI). Dereferencing it is up to the caller to make
    /// race-free; nothing is validated.
    pub fn data_ptr(&self) -> *mut T {
        self.data.get()
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

    crate::map::contract_methods!(map);
}

impl<R: RawMutexFair, T: ?Sized> Mutex<R, T> {
    /// [`force_unlock`](Self::force_unlock) with a fair unlock, handing the
    /// lock to a waiter if there is one. Validated the same way.
    ///
    /// # Safety
    ///
    /// As for [`force_unlock`](Self::force_unlock).
    #[track_caller]
    pub unsafe fn force_unlock_fair(&self) {
        self.map.release_at(Location::caller());
        // SAFETY: as in `force_unlock`, guaranteed by the caller.
        unsafe { self.raw.unlock_fair() };
    }
}

impl<R: RawMutexTimed, T: ?Sized> Mutex<R, T> {
    /// Acquires the mutex, waiting at most `timeout`. A success is recorded
    /// as a trylock: a timed wait cannot wait forever, so it is never the
    /// target of a dependency (an ABBA order through it is not reported).
    #[track_caller]
    pub fn try_lock_for(&self, timeout: R::Duration) -> Option<MutexGuard<'_, R, T>> {
        let at = Location::caller();
        let acquisition = self.tried(self.raw.try_lock_for(timeout), at)?;
        Some(MutexGuard::new(self, acquisition))
    }

    /// Acquires the mutex, waiting at most until `deadline`. Validated like
    /// [`try_lock_for`](Self::try_lock_for).
    #[track_caller]
    pub fn try_lock_until(&self, deadline: R::Instant) -> Option<MutexGuard<'_, R, T>> {
        let at = Location::caller();
        let acquisition = self.tried(self.raw.try_lock_until(deadline), at)?;
        Some(MutexGuard::new(self, acquisition))
    }
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

impl<R: RawMutex, T> From<T> for Mutex<R, T> {
    #[track_caller]
    fn from(value: T) -> Self {
        Self::new(value)
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

/// What `MutexGuard` and `ArcMutexGuard` share: one definition for a
/// guard that holds its mutex through `$handle` (`&'a Mutex` or
/// `Arc<Mutex>`) in the field `mutex`, with its [`Acquisition`]: access to
/// the data, giving the lock up for a while (`unlocked`, `unlock_fair`,
/// `unlocked_fair`, `bump`), and the release on drop.
macro_rules! mutex_guard {
    ($guard:ident $(<$lt:lifetime>)?, $handle:ty) => {
        impl<$($lt,)? R: RawMutex, T: ?Sized> $guard<$($lt,)? R, T> {
            #[inline]
            fn new(mutex: $handle, acquisition: Acquisition) -> Self {
                $guard { mutex, acquisition }
            }

            /// Takes the mutex and the record out of a guard that is being
            /// converted, without unlocking.
            fn into_parts(s: Self) -> ($handle, Acquisition) {
                let mut s = ManuallyDrop::new(s);
                let acquisition = s.acquisition.take();
                // SAFETY: `s` is neither used nor dropped again, so the
                // handle is moved out of it exactly once.
                let mutex = unsafe { ptr::read(&s.mutex) };
                (mutex, acquisition)
            }

            /// Unlocks the mutex while `f` runs, then locks it again, also if
            /// `f` panics. The validator sees a release, then a new blocking
            /// acquisition (as at a condvar wait's re-take): if locks taken
            /// since this one are still held, the re-take is validated
            /// against them.
            #[track_caller]
            pub fn unlocked<F, U>(s: &mut Self, f: F) -> U
            where
                F: FnOnce() -> U,
            {
                let at = Location::caller();
                let mutex: &Mutex<R, T> = &s.mutex;
                mutex.map.unlocked(
                    &mut s.acquisition,
                    Mode::Exclusive,
                    at,
                    // SAFETY: the guard holds the raw lock; the re-take locks
                    // it again before the guard can be used or dropped.
                    || unsafe { mutex.raw.unlock() },
                    || mutex.raw.lock(),
                    f,
                )
            }
        }

        impl<$($lt,)? R: RawMutexFair, T: ?Sized> $guard<$($lt,)? R, T> {
            /// Unlocks the mutex fairly, handing it to a waiter if there is
            /// one. Validated as a release, like dropping the guard.
            pub fn unlock_fair(s: Self) {
                Self::release_fair(s);
            }

            /// [`unlock_fair`](Self::unlock_fair), giving the handle back.
            fn release_fair(s: Self) -> $handle {
                let (mutex, mut acquisition) = Self::into_parts(s);
                // SAFETY: the guard, now gone, held the raw lock.
                unsafe { mutex.raw.unlock_fair() };
                mutex.map.end(&mut acquisition);
                mutex
            }

            /// [`unlocked`](Self::unlocked), unlocking fairly. Validated the
            /// same way.
            #[track_caller]
            pub fn unlocked_fair<F, U>(s: &mut Self, f: F) -> U
            where
                F: FnOnce() -> U,
            {
                let at = Location::caller();
                let mutex: &Mutex<R, T> = &s.mutex;
                mutex.map.unlocked(
                    &mut s.acquisition,
                    Mode::Exclusive,
                    at,
                    // SAFETY: as in `unlocked`.
                    || unsafe { mutex.raw.unlock_fair() },
                    || mutex.raw.lock(),
                    f,
                )
            }

            /// Lets a waiting thread have the mutex, if there is one, and
            /// takes it back. The validator sees a release and a new blocking
            /// acquisition, made before the raw bump can block: as for
            /// [`unlocked`](Self::unlocked), the re-take is validated against
            /// the locks taken since this one.
            #[track_caller]
            pub fn bump(s: &mut Self) {
                let at = Location::caller();
                s.mutex.map.rearm(&mut s.acquisition, Mode::Exclusive, at);
                // SAFETY: the guard holds the raw lock, and holds it again on
                // return.
                unsafe { s.mutex.raw.bump() };
            }
        }

        impl<$($lt,)? R: RawMutex, T: ?Sized> Deref for $guard<$($lt,)? R, T> {
            type Target = T;
            fn deref(&self) -> &T {
                // SAFETY: the guard exists only while this thread holds the
                // raw lock.
                unsafe { &*self.mutex.data.get() }
            }
        }

        impl<$($lt,)? R: RawMutex, T: ?Sized> DerefMut for $guard<$($lt,)? R, T> {
            fn deref_mut(&mut self) -> &mut T {
                // SAFETY: as for `deref`, and `&mut self` makes the access
                // unique.
                unsafe { &mut *self.mutex.data.get() }
            }
        }

        impl<$($lt,)? R: RawMutex, T: ?Sized> Drop for $guard<$($lt,)? R, T> {
            #[inline(always)]
            fn drop(&mut self) {
                // SAFETY: the guard was created after this thread locked the
                // raw lock.
                unsafe { self.mutex.raw.unlock() };
                // Unlocked first: whatever the validator does on the release,
                // the raw lock is free.
                self.mutex.map.end(&mut self.acquisition);
            }
        }

        impl<$($lt,)? R: RawMutex, T: ?Sized + fmt::Debug> fmt::Debug for $guard<$($lt,)? R, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&**self, f)
            }
        }

        impl<$($lt,)? R: RawMutex, T: ?Sized + fmt::Display> fmt::Display
            for $guard<$($lt,)? R, T>
        {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&**self, f)
            }
        }
    };
}

/// Access to a locked mutex; unlocks on drop. Not `Send`.
#[must_use = "the mutex is unlocked when the guard is dropped"]
pub struct MutexGuard<'a, R: RawMutex, T: ?Sized> {
    mutex: &'a Mutex<R, T>,
    acquisition: Acquisition,
}

// SAFETY (for the `Sync` impls of guards): through `&Guard` another thread
// reaches only `&T` (hence `T: Sync`), the lock or raw lock by shared
// reference (hence `R: Sync`), and nothing of the acquisition record: the
// validator is only told anything through `&mut Guard` or the guard itself
// (drop, `unlocked`, conversions), which stay on the owning thread because a
// guard is not `Send`.
unsafe impl<R: RawMutex + Sync, T: ?Sized + Sync> Sync for MutexGuard<'_, R, T> {}

mutex_guard!(MutexGuard<'a>, &'a Mutex<R, T>);

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
        let raw = &self.mutex.raw;
        // Whatever the validator does (Action::Panic unwinds), the guard
        // owns the lock again before it can be dropped.
        self.mutex
            .map
            .retake(&mut self.acquisition, Mode::Exclusive, at, || raw.lock());
    }
}

impl<'a, R: RawMutex, T: ?Sized> MutexGuard<'a, R, T> {
    /// The mutex this guard locks.
    pub fn mutex(s: &Self) -> &'a Mutex<R, T> {
        s.mutex
    }

    /// Leaves the mutex locked for good and returns its data. The validator,
    /// like the lock, keeps it held: a thread that ends holding it, or a
    /// mutex dropped while so held, is reported.
    pub fn leak(s: Self) -> &'a mut T {
        let data = s.mutex.data.get();
        std::mem::forget(s);
        // SAFETY: the raw lock stays locked forever, and the guard that had
        // exclusive access is gone: this is now the only access.
        unsafe { &mut *data }
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
        let (mutex, acquisition) = Self::into_parts(s);
        MappedMutexGuard::new(&mutex.raw, MapRef::new(&mutex.map), data, acquisition)
    }

    /// Like [`map`](Self::map), but `f` may decline, in which case the guard
    /// is given back unchanged.
    pub fn try_map<U: ?Sized, F>(s: Self, f: F) -> Result<MappedMutexGuard<'a, R, U>, Self>
    where
        F: FnOnce(&mut T) -> Option<&mut U>,
    {
        Self::try_map_or_err(s, |data| f(data).ok_or(())).map_err(|(s, ())| s)
    }

    /// Like [`try_map`](Self::try_map), but `f` says why it declined: the
    /// guard is given back with the error.
    pub fn try_map_or_err<U: ?Sized, F, E>(
        mut s: Self,
        f: F,
    ) -> Result<MappedMutexGuard<'a, R, U>, (Self, E)>
    where
        F: FnOnce(&mut T) -> Result<&mut U, E>,
    {
        let data: *mut U = match f(&mut *s) {
            Ok(data) => data,
            Err(e) => return Err((s, e)),
        };
        let (mutex, acquisition) = Self::into_parts(s);
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

// SAFETY: as for `MutexGuard` (above).
unsafe impl<R: RawMutex + Sync, T: ?Sized + Sync> Sync for MappedMutexGuard<'_, R, T> {}

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
    pub fn try_map<U: ?Sized, F>(s: Self, f: F) -> Result<MappedMutexGuard<'a, R, U>, Self>
    where
        F: FnOnce(&mut T) -> Option<&mut U>,
    {
        Self::try_map_or_err(s, |data| f(data).ok_or(())).map_err(|(s, ())| s)
    }

    /// Narrows the guard further if `f` returns a part; otherwise gives it
    /// back with `f`'s error.
    pub fn try_map_or_err<U: ?Sized, F, E>(
        mut s: Self,
        f: F,
    ) -> Result<MappedMutexGuard<'a, R, U>, (Self, E)>
    where
        F: FnOnce(&mut T) -> Result<&mut U, E>,
    {
        let data: *mut U = match f(&mut *s) {
            Ok(data) => data,
            Err(e) => return Err((s, e)),
        };
        let (raw, map, acquisition) = Self::into_parts(s);
        Ok(MappedMutexGuard::new(raw, map, data, acquisition))
    }
}

impl<R: RawMutexFair, T: ?Sized> MappedMutexGuard<'_, R, T> {
    /// Unlocks the mutex fairly, handing it to a waiter if there is one.
    /// Validated as a release, like dropping the guard.
    pub fn unlock_fair(s: Self) {
        let (raw, map, mut acquisition) = Self::into_parts(s);
        // SAFETY: the guard, now gone, held the raw lock.
        unsafe { raw.unlock_fair() };
        map.end(&mut acquisition);
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
        // SAFETY: the guard took over the lock of the guard it was mapped
        // from, which this thread locked.
        unsafe { self.raw.unlock() };
        self.map.end(&mut self.acquisition);
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

// ---------------------------------------------------------------------------
// Guards that own an `Arc` of their mutex (feature `arc_lock`)
// ---------------------------------------------------------------------------

#[cfg(feature = "arc_lock")]
impl<R: RawMutex, T: ?Sized> Mutex<R, T> {
    /// [`lock`](Self::lock) through an `Arc`: the guard keeps the mutex
    /// alive and has no lifetime. Validated like `lock`: an exclusive
    /// acquisition, before blocking.
    #[inline]
    #[track_caller]
    pub fn lock_arc(self: &Arc<Self>) -> ArcMutexGuard<R, T> {
        let at = Location::caller();
        let acquisition = self.block(self.map.acquisition(Mode::Exclusive, 0, false, at));
        ArcMutexGuard::new(Arc::clone(self), acquisition)
    }

    /// [`try_lock`](Self::try_lock) through an `Arc`. Validated like
    /// `try_lock`: an exclusive trylock.
    #[track_caller]
    pub fn try_lock_arc(self: &Arc<Self>) -> Option<ArcMutexGuard<R, T>> {
        let at = Location::caller();
        let acquisition = self.tried(self.raw.try_lock(), at)?;
        Some(ArcMutexGuard::new(Arc::clone(self), acquisition))
    }
}

#[cfg(feature = "arc_lock")]
impl<R: RawMutexTimed, T: ?Sized> Mutex<R, T> {
    /// [`try_lock_for`](Self::try_lock_for) through an `Arc`. A success is
    /// recorded as a trylock, like `try_lock_for`'s.
    #[track_caller]
    pub fn try_lock_arc_for(self: &Arc<Self>, timeout: R::Duration) -> Option<ArcMutexGuard<R, T>> {
        let at = Location::caller();
        let acquisition = self.tried(self.raw.try_lock_for(timeout), at)?;
        Some(ArcMutexGuard::new(Arc::clone(self), acquisition))
    }

    /// [`try_lock_until`](Self::try_lock_until) through an `Arc`. A success
    /// is recorded as a trylock, like `try_lock_until`'s.
    #[track_caller]
    pub fn try_lock_arc_until(
        self: &Arc<Self>,
        deadline: R::Instant,
    ) -> Option<ArcMutexGuard<R, T>> {
        let at = Location::caller();
        let acquisition = self.tried(self.raw.try_lock_until(deadline), at)?;
        Some(ArcMutexGuard::new(Arc::clone(self), acquisition))
    }
}

/// A [`MutexGuard`] that owns an `Arc` of its mutex, so it has no lifetime
/// (`lock_api`'s `ArcMutexGuard`, with the `arc_lock` feature). Validated
/// as `MutexGuard` is; unlocks on drop. Not `Send`: a held lock belongs to
/// its thread.
#[cfg(feature = "arc_lock")]
#[must_use = "the mutex is unlocked when the guard is dropped"]
pub struct ArcMutexGuard<R: RawMutex, T: ?Sized> {
    mutex: Arc<Mutex<R, T>>,
    acquisition: Acquisition,
}

// SAFETY: as for `MutexGuard` (above); `T: Send` too, since another thread
// can clone the `Arc` through `&ArcMutexGuard` and drop the mutex with it.
#[cfg(feature = "arc_lock")]
unsafe impl<R: RawMutex + Sync, T: ?Sized + Send + Sync> Sync for ArcMutexGuard<R, T> {}

#[cfg(feature = "arc_lock")]
mutex_guard!(ArcMutexGuard, Arc<Mutex<R, T>>);

#[cfg(feature = "arc_lock")]
impl<R: RawMutex, T: ?Sized> ArcMutexGuard<R, T> {
    /// The mutex this guard locks, in its `Arc`.
    pub fn mutex(s: &Self) -> &Arc<Mutex<R, T>> {
        &s.mutex
    }

    /// Unlocks the mutex and gives back the guard's `Arc` of it. Validated
    /// as a release, like dropping the guard.
    pub fn into_arc(s: Self) -> Arc<Mutex<R, T>> {
        let (mutex, mut acquisition) = Self::into_parts(s);
        // SAFETY: the guard, now gone, held the raw lock.
        unsafe { mutex.raw.unlock() };
        mutex.map.end(&mut acquisition);
        mutex
    }
}

#[cfg(feature = "arc_lock")]
impl<R: RawMutexFair, T: ?Sized> ArcMutexGuard<R, T> {
    /// Unlocks the mutex fairly and gives back the guard's `Arc` of it.
    /// Validated as a release, like dropping the guard.
    pub fn into_arc_fair(s: Self) -> Arc<Mutex<R, T>> {
        Self::release_fair(s)
    }
}
