//! An instrumented mutex over any `lock_api::RawMutex`.
//!
//! [`Mutex<R, T>`] is the generic safe wrapper; [`crate::Mutex<T>`] is this
//! over `parking_lot::RawMutex`. The validator is told of an acquisition
//! *before* the raw lock is taken, so a lock order that could deadlock is
//! reported before it has the chance to.

use std::cell::UnsafeCell;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::Location;

use lock_api::RawMutex;

use crate::class::{ClassId, ClassKey};
use crate::held::Mode;
use crate::map::{Acquisition, LockMap};

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
    #[track_caller]
    pub fn lock(&self) -> MutexGuard<'_, R, T> {
        self.lock_nested(0)
    }

    /// Acquires the mutex as subclass `subclass` of its class, for nesting
    /// two locks of one class in a fixed order (parent 0, child 1, ...).
    #[track_caller]
    pub fn lock_nested(&self, subclass: u32) -> MutexGuard<'_, R, T> {
        let acquisition =
            self.map
                .acquisition(Mode::Exclusive, subclass, false, Location::caller());
        self.raw.lock();
        MutexGuard {
            mutex: self,
            acquisition,
        }
    }

    /// Acquires the mutex if it is free. A trylock cannot deadlock, so it is
    /// never the target of a dependency; while held it can be the source of one.
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
    /// For a condition variable's wait: releases the mutex, in the validator
    /// and for real. The guard must be re-armed with
    /// [`reacquire_after_wait`](Self::reacquire_after_wait) before anything else.
    pub(crate) fn release_for_wait(&mut self) {
        self.mutex.map.end(&mut self.acquisition);
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
