//! An instrumented reader-writer lock over any `lock_api::RawRwLock`.
//!
//! Each way of taking the lock maps onto one of the validator's modes:
//!
//! | method | mode | why |
//! |---|---|---|
//! | `write`, `try_write` | exclusive | blocks and is blocked by everyone |
//! | `read`, `try_read` | shared (non-recursive) | a reader queues behind a *waiting* writer, so a second read can deadlock |
//! | `read_recursive` | recursive shared | ignores waiting writers; only a writer that holds the lock blocks it |
//! | `upgradable_read` | shared (non-recursive) | compatible with readers, but blocked by a waiting writer, like `read` |
//! | `upgrade` | exclusive, acquired at the upgrade | it waits for every reader to leave |
//! | `downgrade`, `downgrade_to_upgradable` | changes the held mode to shared | cannot block |
//!
//! With dependency types and strong cycles, a pattern of readers that cannot
//! deadlock is not reported, and one that can behind a waiting writer is.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::Location;

use lock_api::{
    RawRwLock, RawRwLockDowngrade, RawRwLockRecursive, RawRwLockUpgrade, RawRwLockUpgradeDowngrade,
};

use crate::class::{ClassId, ClassKey};
use crate::held::Mode;
use crate::map::{Acquisition, LockMap};
use crate::mutex::MapRef;

/// A reader-writer lock whose order against other locks is validated.
pub struct RwLock<R, T: ?Sized> {
    raw: R,
    map: LockMap,
    data: UnsafeCell<T>,
}

// SAFETY: the raw lock gives readers shared and writers exclusive access to
// `data`, as for `lock_api::RwLock`.
unsafe impl<R: RawRwLock + Send, T: ?Sized + Send> Send for RwLock<R, T> {}
// SAFETY: as above; readers on several threads need `T: Sync`.
unsafe impl<R: RawRwLock + Sync, T: ?Sized + Send + Sync> Sync for RwLock<R, T> {}

impl<R: RawRwLock, T> RwLock<R, T> {
    /// A lock whose class is the call site.
    #[track_caller]
    pub const fn new(value: T) -> Self {
        Self::from_map(LockMap::new(), value)
    }

    /// A lock whose class is the call site, printed as `name`.
    #[track_caller]
    pub const fn named(name: &'static str, value: T) -> Self {
        Self::from_map(LockMap::named(name), value)
    }

    /// A lock of the class of a static key.
    pub const fn with_key(key: &'static ClassKey, value: T) -> Self {
        Self::from_map(LockMap::with_key(key), value)
    }

    const fn from_map(map: LockMap, value: T) -> Self {
        RwLock {
            raw: R::INIT,
            map,
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the lock and returns the value.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

macro_rules! guard_common {
    ($guard:ident, $unlock:ident $(, $bound:path)?) => {
        impl<'a, R: RawRwLock $(+ $bound)?, T: ?Sized> $guard<'a, R, T> {
            fn new(lock: &'a RwLock<R, T>, acquisition: Acquisition) -> Self {
                $guard { lock, acquisition }
            }
        }

        impl<R: RawRwLock $(+ $bound)?, T: ?Sized> Deref for $guard<'_, R, T> {
            type Target = T;
            fn deref(&self) -> &T {
                // SAFETY: the guard exists only while this thread holds the raw lock.
                unsafe { &*self.lock.data.get() }
            }
        }

        impl<R: RawRwLock $(+ $bound)?, T: ?Sized> Drop for $guard<'_, R, T> {
            #[inline]
            fn drop(&mut self) {
                self.lock.map.end(&mut self.acquisition);
                // SAFETY: the guard was created after this thread took the raw
                // lock in this mode.
                unsafe { self.lock.raw.$unlock() };
            }
        }

        impl<R: RawRwLock $(+ $bound)?, T: ?Sized + fmt::Debug> fmt::Debug for $guard<'_, R, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&**self, f)
            }
        }
    };
}

impl<R: RawRwLock, T: ?Sized> RwLock<R, T> {
    #[inline]
    fn acquire(
        &self,
        mode: Mode,
        subclass: u32,
        trylock: bool,
        at: &'static Location<'static>,
    ) -> Acquisition {
        self.map.acquisition(mode, subclass, trylock, at)
    }

    /// Locks for reading: a non-recursive shared acquisition.
    #[inline]
    #[track_caller]
    pub fn read(&self) -> RwLockReadGuard<'_, R, T> {
        let at = Location::caller();
        let acquisition = self.acquire(Mode::Shared, 0, false, at);
        self.raw.lock_shared();
        RwLockReadGuard::new(self, acquisition)
    }

    /// Locks for reading if no writer holds or waits for the lock.
    #[track_caller]
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, R, T>> {
        let at = Location::caller();
        if !self.raw.try_lock_shared() {
            return None;
        }
        let acquisition = self.acquire(Mode::Shared, 0, true, at);
        Some(RwLockReadGuard::new(self, acquisition))
    }

    /// Locks for writing: an exclusive acquisition.
    #[inline]
    #[track_caller]
    pub fn write(&self) -> RwLockWriteGuard<'_, R, T> {
        self.write_nested(0)
    }

    /// Locks for writing as subclass `subclass` of the lock's class.
    #[inline]
    #[track_caller]
    pub fn write_nested(&self, subclass: u32) -> RwLockWriteGuard<'_, R, T> {
        let at = Location::caller();
        let acquisition = self.acquire(Mode::Exclusive, subclass, false, at);
        self.raw.lock_exclusive();
        RwLockWriteGuard::new(self, acquisition)
    }

    /// Locks for writing if the lock is free.
    #[track_caller]
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, R, T>> {
        let at = Location::caller();
        if !self.raw.try_lock_exclusive() {
            return None;
        }
        let acquisition = self.acquire(Mode::Exclusive, 0, true, at);
        Some(RwLockWriteGuard::new(self, acquisition))
    }

    /// Is the lock held in any mode (by anyone)?
    pub fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// Is the lock held for writing (by anyone)?
    pub fn is_locked_exclusive(&self) -> bool {
        self.raw.is_locked_exclusive()
    }

    /// Mutable access without locking: the borrow proves exclusivity.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// The lock's class.
    pub fn class(&self) -> ClassId {
        self.map.class()
    }

    /// Validates, here, a write acquisition that only happens on some path.
    #[track_caller]
    pub fn might_write(&self) {
        self.map.might_acquire(Mode::Exclusive);
    }

    /// Validates, here, a read acquisition that only happens on some path.
    #[track_caller]
    pub fn might_read(&self) {
        self.map.might_acquire(Mode::Shared);
    }

    crate::map::contract_methods!();
}

impl<R: RawRwLockRecursive, T: ?Sized> RwLock<R, T> {
    /// Locks for reading even if a writer is waiting: a recursive shared
    /// acquisition, which only a writer that holds the lock can block.
    #[inline]
    #[track_caller]
    pub fn read_recursive(&self) -> RwLockReadGuard<'_, R, T> {
        let at = Location::caller();
        let acquisition = self.acquire(Mode::SharedRecursive, 0, false, at);
        self.raw.lock_shared_recursive();
        RwLockReadGuard::new(self, acquisition)
    }

    /// [`read_recursive`](Self::read_recursive) without blocking.
    #[track_caller]
    pub fn try_read_recursive(&self) -> Option<RwLockReadGuard<'_, R, T>> {
        let at = Location::caller();
        if !self.raw.try_lock_shared_recursive() {
            return None;
        }
        let acquisition = self.acquire(Mode::SharedRecursive, 0, true, at);
        Some(RwLockReadGuard::new(self, acquisition))
    }
}

impl<R: RawRwLockUpgrade, T: ?Sized> RwLock<R, T> {
    /// Locks for reading with the right to upgrade to writing. Compatible with
    /// readers, exclusive against writers and other upgradable readers.
    #[track_caller]
    pub fn upgradable_read(&self) -> RwLockUpgradableReadGuard<'_, R, T> {
        let at = Location::caller();
        let acquisition = self.acquire(Mode::Shared, 0, false, at);
        self.raw.lock_upgradable();
        RwLockUpgradableReadGuard::new(self, acquisition)
    }

    /// [`upgradable_read`](Self::upgradable_read) without blocking.
    #[track_caller]
    pub fn try_upgradable_read(&self) -> Option<RwLockUpgradableReadGuard<'_, R, T>> {
        let at = Location::caller();
        if !self.raw.try_lock_upgradable() {
            return None;
        }
        let acquisition = self.acquire(Mode::Shared, 0, true, at);
        Some(RwLockUpgradableReadGuard::new(self, acquisition))
    }
}

impl<R: RawRwLock, T: ?Sized> crate::map::AsLockMap for RwLock<R, T> {
    fn as_lock_map(&self) -> &LockMap {
        &self.map
    }
}

impl<R: RawRwLock, T: Default> Default for RwLock<R, T> {
    #[track_caller]
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<R: RawRwLock, T: ?Sized + fmt::Debug> fmt::Debug for RwLock<R, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        // Peek without validation: formatting must not add dependencies.
        if self.raw.try_lock_shared() {
            // SAFETY: a shared lock is held until the unlock below.
            d.field("data", &unsafe { &*self.data.get() });
            // SAFETY: this thread took the shared lock just above.
            unsafe { self.raw.unlock_shared() };
        } else {
            d.field("data", &format_args!("<locked>"));
        }
        d.finish()
    }
}

/// Shared access to a read-locked [`RwLock`]. Not `Send`.
#[must_use = "the lock is released when the guard is dropped"]
pub struct RwLockReadGuard<'a, R: RawRwLock, T: ?Sized> {
    lock: &'a RwLock<R, T>,
    acquisition: Acquisition,
}
guard_common!(RwLockReadGuard, unlock_shared);

/// Exclusive access to a write-locked [`RwLock`]. Not `Send`.
#[must_use = "the lock is released when the guard is dropped"]
pub struct RwLockWriteGuard<'a, R: RawRwLock, T: ?Sized> {
    lock: &'a RwLock<R, T>,
    acquisition: Acquisition,
}
guard_common!(RwLockWriteGuard, unlock_exclusive);

impl<R: RawRwLock, T: ?Sized> DerefMut for RwLockWriteGuard<'_, R, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the write lock is held, and `&mut self` makes this unique.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<'a, R: RawRwLockDowngrade, T: ?Sized> RwLockWriteGuard<'a, R, T> {
    /// Turns the write lock into a read lock without letting a writer in.
    pub fn downgrade(mut self) -> RwLockReadGuard<'a, R, T> {
        let (lock, acquisition) = (self.lock, self.acquisition.take());
        std::mem::forget(self);
        // SAFETY: this thread holds the write lock, which the guard gave up.
        unsafe { lock.raw.downgrade() };
        let tracked = acquisition.tracked();
        // The new guard exists before the validator runs again, so a panic
        // from it (Action::Panic) still unlocks.
        let guard = RwLockReadGuard::new(lock, acquisition);
        if tracked {
            lock.map.change_mode(Mode::Shared);
        }
        guard
    }
}

impl<'a, R: RawRwLockUpgradeDowngrade, T: ?Sized> RwLockWriteGuard<'a, R, T> {
    /// Turns the write lock into an upgradable read lock.
    pub fn downgrade_to_upgradable(mut self) -> RwLockUpgradableReadGuard<'a, R, T> {
        let (lock, acquisition) = (self.lock, self.acquisition.take());
        std::mem::forget(self);
        // SAFETY: this thread holds the write lock, which the guard gave up.
        unsafe { lock.raw.downgrade_to_upgradable() };
        let tracked = acquisition.tracked();
        let guard = RwLockUpgradableReadGuard::new(lock, acquisition);
        if tracked {
            lock.map.change_mode(Mode::Shared);
        }
        guard
    }
}

/// An upgradable read lock on an [`RwLock`]. Not `Send`.
#[must_use = "the lock is released when the guard is dropped"]
pub struct RwLockUpgradableReadGuard<'a, R: RawRwLockUpgrade, T: ?Sized> {
    lock: &'a RwLock<R, T>,
    acquisition: Acquisition,
}
guard_common!(
    RwLockUpgradableReadGuard,
    unlock_upgradable,
    RawRwLockUpgrade
);

impl<'a, R: RawRwLockUpgrade, T: ?Sized> RwLockUpgradableReadGuard<'a, R, T> {
    /// Upgrades to a write lock, waiting for readers to leave: validated as
    /// an exclusive acquisition made now, under whatever the thread holds now.
    #[track_caller]
    pub fn upgrade(mut self) -> RwLockWriteGuard<'a, R, T> {
        let at = Location::caller();
        let mut old = self.acquisition.take();
        self.lock.map.end(&mut old);
        // If validation panics (Action::Panic), dropping `self`, now
        // untracked, unlocks the raw upgradable lock.
        let acquisition = self.lock.map.acquisition(Mode::Exclusive, 0, false, at);
        let lock = self.lock;
        std::mem::forget(self);
        // SAFETY: this thread holds the upgradable lock, which the guard gave up.
        unsafe { lock.raw.upgrade() };
        RwLockWriteGuard::new(lock, acquisition)
    }

    /// Upgrades if no reader holds the lock; otherwise gives the guard back.
    #[track_caller]
    pub fn try_upgrade(mut self) -> Result<RwLockWriteGuard<'a, R, T>, Self> {
        let at = Location::caller();
        // SAFETY: this thread holds the upgradable lock.
        if !unsafe { self.lock.raw.try_upgrade() } {
            return Err(self);
        }
        let (lock, acquisition) = (self.lock, self.acquisition.take());
        std::mem::forget(self);
        // The write guard owns the raw lock before the validator runs again.
        let mut guard = RwLockWriteGuard::new(lock, acquisition);
        let mut old = guard.acquisition.take();
        lock.map.end(&mut old);
        guard.acquisition = lock.map.acquisition(Mode::Exclusive, 0, true, at);
        Ok(guard)
    }
}

impl<'a, R: RawRwLockUpgradeDowngrade, T: ?Sized> RwLockUpgradableReadGuard<'a, R, T> {
    /// Gives up the right to upgrade, keeping a read lock. The mode stays shared.
    pub fn downgrade(mut self) -> RwLockReadGuard<'a, R, T> {
        let (lock, acquisition) = (self.lock, self.acquisition.take());
        std::mem::forget(self);
        // SAFETY: this thread holds the upgradable lock, which the guard gave up.
        unsafe { lock.raw.downgrade_upgradable() };
        RwLockReadGuard::new(lock, acquisition)
    }
}

impl<'a, R: RawRwLock, T: ?Sized> RwLockReadGuard<'a, R, T> {
    /// Narrows the guard to a part of the data, like `parking_lot`'s
    /// `RwLockReadGuard::map`. The lock stays read-locked, in the same mode
    /// in the validator, until the mapped guard is dropped.
    pub fn map<U: ?Sized, F>(mut s: Self, f: F) -> MappedRwLockReadGuard<'a, R, U>
    where
        F: FnOnce(&T) -> &U,
    {
        // If `f` panics, `s` is dropped as usual and unlocks.
        let data: *const U = f(&*s);
        let (lock, acquisition) = (s.lock, s.acquisition.take());
        std::mem::forget(s);
        MappedRwLockReadGuard::new(&lock.raw, MapRef::new(&lock.map), data, acquisition)
    }

    /// Like [`map`](Self::map), but `f` may decline, in which case the guard
    /// is given back unchanged.
    pub fn try_map<U: ?Sized, F>(mut s: Self, f: F) -> Result<MappedRwLockReadGuard<'a, R, U>, Self>
    where
        F: FnOnce(&T) -> Option<&U>,
    {
        let data: *const U = match f(&*s) {
            Some(data) => data,
            None => return Err(s),
        };
        let (lock, acquisition) = (s.lock, s.acquisition.take());
        std::mem::forget(s);
        Ok(MappedRwLockReadGuard::new(
            &lock.raw,
            MapRef::new(&lock.map),
            data,
            acquisition,
        ))
    }
}

impl<'a, R: RawRwLock, T: ?Sized> RwLockWriteGuard<'a, R, T> {
    /// Narrows the guard to a part of the data, like `parking_lot`'s
    /// `RwLockWriteGuard::map`. The lock stays write-locked, and held in the
    /// validator, until the mapped guard is dropped.
    pub fn map<U: ?Sized, F>(mut s: Self, f: F) -> MappedRwLockWriteGuard<'a, R, U>
    where
        F: FnOnce(&mut T) -> &mut U,
    {
        // If `f` panics, `s` is dropped as usual and unlocks.
        let data: *mut U = f(&mut *s);
        let (lock, acquisition) = (s.lock, s.acquisition.take());
        std::mem::forget(s);
        MappedRwLockWriteGuard::new(&lock.raw, MapRef::new(&lock.map), data, acquisition)
    }

    /// Like [`map`](Self::map), but `f` may decline, in which case the guard
    /// is given back unchanged.
    pub fn try_map<U: ?Sized, F>(
        mut s: Self,
        f: F,
    ) -> Result<MappedRwLockWriteGuard<'a, R, U>, Self>
    where
        F: FnOnce(&mut T) -> Option<&mut U>,
    {
        let data: *mut U = match f(&mut *s) {
            Some(data) => data,
            None => return Err(s),
        };
        let (lock, acquisition) = (s.lock, s.acquisition.take());
        std::mem::forget(s);
        Ok(MappedRwLockWriteGuard::new(
            &lock.raw,
            MapRef::new(&lock.map),
            data,
            acquisition,
        ))
    }
}

macro_rules! mapped_guard {
    ($guard:ident, $ptr:ty, $unlock:ident) => {
        impl<'a, R: RawRwLock, T: ?Sized> $guard<'a, R, T> {
            fn new(raw: &'a R, map: MapRef<'a>, data: $ptr, acquisition: Acquisition) -> Self {
                $guard {
                    raw,
                    map,
                    data,
                    acquisition,
                    _data: PhantomData,
                }
            }

            /// Takes the lock and its record out of a guard being re-mapped.
            fn into_parts(mut s: Self) -> (&'a R, MapRef<'a>, Acquisition) {
                let parts = (s.raw, s.map, s.acquisition.take());
                std::mem::forget(s);
                parts
            }
        }

        impl<R: RawRwLock, T: ?Sized> Deref for $guard<'_, R, T> {
            type Target = T;
            fn deref(&self) -> &T {
                // SAFETY: `data` points into the lock's data, and the guard
                // holds the raw lock for as long as it exists.
                unsafe { &*self.data }
            }
        }

        impl<R: RawRwLock, T: ?Sized> Drop for $guard<'_, R, T> {
            fn drop(&mut self) {
                self.map.end(&mut self.acquisition);
                // SAFETY: the guard took over the lock of the guard it was
                // mapped from, which this thread took in this mode.
                unsafe { self.raw.$unlock() };
            }
        }

        impl<R: RawRwLock, T: ?Sized + fmt::Debug> fmt::Debug for $guard<'_, R, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&**self, f)
            }
        }

        impl<R: RawRwLock, T: ?Sized + fmt::Display> fmt::Display for $guard<'_, R, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&**self, f)
            }
        }
    };
}

/// A [`RwLockReadGuard`] narrowed to a part of the data by
/// [`RwLockReadGuard::map`]. Releases the read lock on drop. Not `Send`.
#[must_use = "the lock is released when the guard is dropped"]
pub struct MappedRwLockReadGuard<'a, R: RawRwLock, T: ?Sized> {
    raw: &'a R,
    map: MapRef<'a>,
    data: *const T,
    acquisition: Acquisition,
    _data: PhantomData<&'a T>,
}
mapped_guard!(MappedRwLockReadGuard, *const T, unlock_shared);

impl<'a, R: RawRwLock, T: ?Sized> MappedRwLockReadGuard<'a, R, T> {
    /// Narrows the guard further.
    pub fn map<U: ?Sized, F>(s: Self, f: F) -> MappedRwLockReadGuard<'a, R, U>
    where
        F: FnOnce(&T) -> &U,
    {
        let data: *const U = f(&*s);
        let (raw, map, acquisition) = Self::into_parts(s);
        MappedRwLockReadGuard::new(raw, map, data, acquisition)
    }

    /// Narrows the guard further if `f` returns a part; otherwise gives it back.
    pub fn try_map<U: ?Sized, F>(s: Self, f: F) -> Result<MappedRwLockReadGuard<'a, R, U>, Self>
    where
        F: FnOnce(&T) -> Option<&U>,
    {
        let data: *const U = match f(&*s) {
            Some(data) => data,
            None => return Err(s),
        };
        let (raw, map, acquisition) = Self::into_parts(s);
        Ok(MappedRwLockReadGuard::new(raw, map, data, acquisition))
    }
}

/// A [`RwLockWriteGuard`] narrowed to a part of the data by
/// [`RwLockWriteGuard::map`]. Releases the write lock on drop. Not `Send`.
#[must_use = "the lock is released when the guard is dropped"]
pub struct MappedRwLockWriteGuard<'a, R: RawRwLock, T: ?Sized> {
    raw: &'a R,
    map: MapRef<'a>,
    data: *mut T,
    acquisition: Acquisition,
    _data: PhantomData<&'a mut T>,
}
mapped_guard!(MappedRwLockWriteGuard, *mut T, unlock_exclusive);

impl<R: RawRwLock, T: ?Sized> DerefMut for MappedRwLockWriteGuard<'_, R, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the write lock is held, and `&mut self` makes this the only
        // access.
        unsafe { &mut *self.data }
    }
}

impl<'a, R: RawRwLock, T: ?Sized> MappedRwLockWriteGuard<'a, R, T> {
    /// Narrows the guard further.
    pub fn map<U: ?Sized, F>(mut s: Self, f: F) -> MappedRwLockWriteGuard<'a, R, U>
    where
        F: FnOnce(&mut T) -> &mut U,
    {
        let data: *mut U = f(&mut *s);
        let (raw, map, acquisition) = Self::into_parts(s);
        MappedRwLockWriteGuard::new(raw, map, data, acquisition)
    }

    /// Narrows the guard further if `f` returns a part; otherwise gives it back.
    pub fn try_map<U: ?Sized, F>(
        mut s: Self,
        f: F,
    ) -> Result<MappedRwLockWriteGuard<'a, R, U>, Self>
    where
        F: FnOnce(&mut T) -> Option<&mut U>,
    {
        let data: *mut U = match f(&mut *s) {
            Some(data) => data,
            None => return Err(s),
        };
        let (raw, map, acquisition) = Self::into_parts(s);
        Ok(MappedRwLockWriteGuard::new(raw, map, data, acquisition))
    }
}

#[cfg(test)]
mod tests {
    type RwLock<T> = super::RwLock<parking_lot::RawRwLock, T>;

    fn held_modes() -> Vec<(String, crate::Mode)> {
        crate::held_locks()
            .into_iter()
            .map(|l| (l.name, l.mode))
            .collect()
    }

    #[test]
    fn modes_on_the_held_stack() {
        let l = RwLock::named("rw-unit-modes", 1);
        {
            let r = l.read();
            assert_eq!(*r, 1);
            assert_eq!(
                held_modes(),
                [("rw-unit-modes".into(), crate::Mode::Shared)]
            );
        }
        {
            let _r = l.read_recursive();
            assert_eq!(held_modes()[0].1, crate::Mode::SharedRecursive);
        }
        {
            let mut w = l.write();
            *w = 2;
            assert_eq!(held_modes()[0].1, crate::Mode::Exclusive);
            let r = w.downgrade();
            assert_eq!(*r, 2);
            assert_eq!(held_modes()[0].1, crate::Mode::Shared);
        }
        assert!(held_modes().is_empty());
    }

    #[test]
    fn upgrade_moves_the_lock_to_the_top_as_exclusive() {
        let a = RwLock::named("rw-unit-up-a", 0);
        let b = crate::Mutex::named("rw-unit-up-b", ());
        let u = a.upgradable_read();
        let g = b.lock();
        let mut w = u.upgrade();
        *w += 1;
        let names: Vec<_> = held_modes();
        assert_eq!(
            names,
            [
                ("rw-unit-up-b".to_string(), crate::Mode::Exclusive),
                ("rw-unit-up-a".to_string(), crate::Mode::Exclusive)
            ]
        );
        drop(g);
        let u = w.downgrade_to_upgradable();
        assert_eq!(held_modes(), [("rw-unit-up-a".into(), crate::Mode::Shared)]);
        assert!(u.try_upgrade().is_ok());
        assert!(held_modes().is_empty());
        assert!(!a.is_locked());
    }
}
