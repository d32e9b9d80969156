//! An instrumented reader-writer lock over any `lock_api::RawRwLock`.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::Location;

use lock_api::{
    RawRwLock, RawRwLockDowngrade, RawRwLockFair, RawRwLockRecursive, RawRwLockRecursiveTimed,
    RawRwLockTimed, RawRwLockUpgrade, RawRwLockUpgradeDowngrade, RawRwLockUpgradeFair,
    RawRwLockUpgradeTimed,
};

use crate::class::{ClassId, ClassKey};
use crate::held::Mode;
use crate::map::{Acquisition, Defer, LockMap};
use crate::mutex::MapRef;

/// A reader-writer lock whose order against other locks is validated.
///
/// Each way of taking the lock maps onto one of the validator's modes:
///
/// | method | mode | why |
/// |---|---|---|
/// | `write`, `try_write` | exclusive | blocks and is blocked by everyone |
/// | `read`, `try_read` | shared (non-recursive) | a reader queues behind a *waiting* writer, so a second read can deadlock |
/// | `read_recursive` | recursive shared | ignores waiting writers; only a writer that holds the lock blocks it |
/// | `upgradable_read` | shared (non-recursive) | compatible with readers, but blocked by a waiting writer, like `read` |
/// | `upgrade` | exclusive, acquired at the upgrade | it waits for every reader to leave |
/// | `downgrade`, `downgrade_to_upgradable` | changes the held mode to shared | cannot block |
/// | `try_read_for/until`, `try_write_for/until`, `try_read_recursive_for/until`, `try_upgradable_read_for/until` | the mode of the untimed method, as a trylock once they succeed | a timed wait cannot wait forever: like a trylock it is never the target of a dependency, so a timed lock taken in an ABBA order is **not** reported |
/// | `try_upgrade_for/until` | exclusive trylock, acquired at the upgrade | as `try_upgrade`, and timed |
/// | `with_upgraded` | like `upgrade` then `downgrade_to_upgradable`: an exclusive acquisition made then, shared again after `f` | it waits for every reader to leave |
/// | `try_with_upgraded`, `try_with_upgraded_for/until` | the same, with the upgrade as a trylock | they cannot wait forever |
/// | guard `unlocked`, `unlocked_fair` | released while `f` runs, then a new blocking acquisition: exclusive for a write guard, shared for a read or upgradable one | the raw lock is taken back with `lock_exclusive` / `lock_shared` / `lock_upgradable`, so a read guard from `read_recursive` comes back as a plain (non-recursive) read |
/// | guard `bump` | released and taken back at once, in the mode `unlocked` uses, before the raw bump | it may hand the lock to a waiter and wait to get it back |
/// | guard `unlock_fair` (mapped guards too) | a release | like dropping the guard |
/// | `force_unlock_read`, `force_unlock_write` (+ `_fair`; unsafe) | releases the calling thread's latest acquisition of the lock | for a forgotten guard; if the thread holds none, that is reported as a bad unlock balance |
/// | `raw` (unsafe) | nothing | locking the raw lock directly bypasses the validator |
/// | `is_locked`, `is_locked_exclusive`, `data_ptr` | nothing | not acquisitions |
///
/// With dependency types and strong cycles, a pattern of readers that cannot
/// deadlock is not reported, and one that can behind a waiting writer is.
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

impl<R, T> RwLock<R, T> {
    /// A lock over an existing raw lock (which should be unlocked), whose
    /// class is the call site. Like `lock_api::RwLock::from_raw`.
    #[track_caller]
    pub const fn from_raw(raw: R, value: T) -> Self {
        RwLock {
            raw,
            map: LockMap::new(),
            data: UnsafeCell::new(value),
        }
    }

    /// The same as [`from_raw`](Self::from_raw) (`lock_api`'s legacy name).
    #[track_caller]
    pub const fn const_new(raw: R, value: T) -> Self {
        Self::from_raw(raw, value)
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
        self.tried_read(self.raw.try_lock_shared(), Mode::Shared, Location::caller())
    }

    /// The guard of a successful shared trylock (timed or not), recorded as
    /// a trylock in `mode`.
    fn tried_read(
        &self,
        locked: bool,
        mode: Mode,
        at: &'static Location<'static>,
    ) -> Option<RwLockReadGuard<'_, R, T>> {
        locked.then(|| RwLockReadGuard::new(self, self.acquire(mode, 0, true, at)))
    }

    /// The guard of a successful exclusive trylock (timed or not).
    fn tried_write(
        &self,
        locked: bool,
        at: &'static Location<'static>,
    ) -> Option<RwLockWriteGuard<'_, R, T>> {
        locked.then(|| RwLockWriteGuard::new(self, self.acquire(Mode::Exclusive, 0, true, at)))
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
        self.tried_write(self.raw.try_lock_exclusive(), Location::caller())
    }

    /// Is the lock held in any mode (by anyone)?
    pub fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }

    /// Is the lock held for writing (by anyone)?
    pub fn is_locked_exclusive(&self) -> bool {
        self.raw.is_locked_exclusive()
    }

    /// Releases a shared lock without a guard: for a read guard given up
    /// with `mem::forget`. The validator releases the calling thread's
    /// latest acquisition of the lock; if the thread holds none (say, it was
    /// locked through [`raw`](Self::raw)), that is reported as a bad unlock
    /// balance.
    ///
    /// # Safety
    ///
    /// As for `lock_api::RwLock::force_unlock_read`: the calling thread must
    /// hold a shared lock through a guard it has forgotten. Unlocking a lock
    /// that is not so locked is undefined behavior.
    #[track_caller]
    pub unsafe fn force_unlock_read(&self) {
        self.map.release_at(Location::caller());
        // SAFETY: the caller guarantees this thread holds a shared lock that
        // no guard will release again.
        unsafe { self.raw.unlock_shared() };
    }

    /// Releases an exclusive lock without a guard: for a write guard given
    /// up with `mem::forget`. Validated like
    /// [`force_unlock_read`](Self::force_unlock_read).
    ///
    /// # Safety
    ///
    /// As for `lock_api::RwLock::force_unlock_write`: the calling thread must
    /// hold the write lock through a guard it has forgotten.
    #[track_caller]
    pub unsafe fn force_unlock_write(&self) {
        self.map.release_at(Location::caller());
        // SAFETY: the caller guarantees this thread holds the write lock and
        // no guard will release it again.
        unsafe { self.raw.unlock_exclusive() };
    }

    /// The raw lock. Locking or unlocking it directly bypasses the
    /// validator: such acquisitions are neither validated nor recorded.
    ///
    /// # Safety
    ///
    /// As for `lock_api::RwLock::raw`: it allows unlocking the lock while a
    /// guard still holds it.
    pub unsafe fn raw(&self) -> &R {
        &self.raw
    }

    /// A raw pointer to the data, for use while a forgotten guard holds the
    /// lock. Dereferencing it is up to the caller to make race-free; nothing
    /// is validated.
    pub fn data_ptr(&self) -> *mut T {
        self.data.get()
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

    crate::map::contract_methods!(map);
}

impl<R: RawRwLockFair, T: ?Sized> RwLock<R, T> {
    /// [`force_unlock_read`](Self::force_unlock_read) with a fair unlock.
    /// Validated the same way.
    ///
    /// # Safety
    ///
    /// As for [`force_unlock_read`](Self::force_unlock_read).
    #[track_caller]
    pub unsafe fn force_unlock_read_fair(&self) {
        self.map.release_at(Location::caller());
        // SAFETY: as in `force_unlock_read`, guaranteed by the caller.
        unsafe { self.raw.unlock_shared_fair() };
    }

    /// [`force_unlock_write`](Self::force_unlock_write) with a fair unlock.
    /// Validated the same way.
    ///
    /// # Safety
    ///
    /// As for [`force_unlock_write`](Self::force_unlock_write).
    #[track_caller]
    pub unsafe fn force_unlock_write_fair(&self) {
        self.map.release_at(Location::caller());
        // SAFETY: as in `force_unlock_write`, guaranteed by the caller.
        unsafe { self.raw.unlock_exclusive_fair() };
    }
}

impl<R: RawRwLockTimed, T: ?Sized> RwLock<R, T> {
    /// Locks for reading, waiting at most `timeout`. A success is recorded
    /// as a shared trylock: a timed wait cannot wait forever, so it is never
    /// the target of a dependency (an ABBA order through it is not reported).
    #[track_caller]
    pub fn try_read_for(&self, timeout: R::Duration) -> Option<RwLockReadGuard<'_, R, T>> {
        let at = Location::caller();
        self.tried_read(self.raw.try_lock_shared_for(timeout), Mode::Shared, at)
    }

    /// Locks for reading, waiting at most until `deadline`. Validated like
    /// [`try_read_for`](Self::try_read_for).
    #[track_caller]
    pub fn try_read_until(&self, deadline: R::Instant) -> Option<RwLockReadGuard<'_, R, T>> {
        let at = Location::caller();
        self.tried_read(self.raw.try_lock_shared_until(deadline), Mode::Shared, at)
    }

    /// Locks for writing, waiting at most `timeout`. A success is recorded
    /// as an exclusive trylock (see [`try_read_for`](Self::try_read_for)).
    #[track_caller]
    pub fn try_write_for(&self, timeout: R::Duration) -> Option<RwLockWriteGuard<'_, R, T>> {
        let at = Location::caller();
        self.tried_write(self.raw.try_lock_exclusive_for(timeout), at)
    }

    /// Locks for writing, waiting at most until `deadline`. Validated like
    /// [`try_write_for`](Self::try_write_for).
    #[track_caller]
    pub fn try_write_until(&self, deadline: R::Instant) -> Option<RwLockWriteGuard<'_, R, T>> {
        let at = Location::caller();
        self.tried_write(self.raw.try_lock_exclusive_until(deadline), at)
    }
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
        let locked = self.raw.try_lock_shared_recursive();
        self.tried_read(locked, Mode::SharedRecursive, at)
    }
}

impl<R: RawRwLockRecursiveTimed, T: ?Sized> RwLock<R, T> {
    /// [`read_recursive`](Self::read_recursive), waiting at most `timeout`.
    /// A success is recorded as a recursive shared trylock (see
    /// [`try_read_for`](Self::try_read_for)).
    #[track_caller]
    pub fn try_read_recursive_for(
        &self,
        timeout: R::Duration,
    ) -> Option<RwLockReadGuard<'_, R, T>> {
        let at = Location::caller();
        let locked = self.raw.try_lock_shared_recursive_for(timeout);
        self.tried_read(locked, Mode::SharedRecursive, at)
    }

    /// [`read_recursive`](Self::read_recursive), waiting at most until
    /// `deadline`. Validated like
    /// [`try_read_recursive_for`](Self::try_read_recursive_for).
    #[track_caller]
    pub fn try_read_recursive_until(
        &self,
        deadline: R::Instant,
    ) -> Option<RwLockReadGuard<'_, R, T>> {
        let at = Location::caller();
        let locked = self.raw.try_lock_shared_recursive_until(deadline);
        self.tried_read(locked, Mode::SharedRecursive, at)
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
        self.tried_upgradable(self.raw.try_lock_upgradable(), Location::caller())
    }

    /// The guard of a successful upgradable trylock (timed or not).
    fn tried_upgradable(
        &self,
        locked: bool,
        at: &'static Location<'static>,
    ) -> Option<RwLockUpgradableReadGuard<'_, R, T>> {
        locked
            .then(|| RwLockUpgradableReadGuard::new(self, self.acquire(Mode::Shared, 0, true, at)))
    }
}

impl<R: RawRwLockUpgradeTimed, T: ?Sized> RwLock<R, T> {
    /// [`upgradable_read`](Self::upgradable_read), waiting at most
    /// `timeout`. A success is recorded as a shared trylock (see
    /// [`try_read_for`](Self::try_read_for)).
    #[track_caller]
    pub fn try_upgradable_read_for(
        &self,
        timeout: R::Duration,
    ) -> Option<RwLockUpgradableReadGuard<'_, R, T>> {
        let at = Location::caller();
        self.tried_upgradable(self.raw.try_lock_upgradable_for(timeout), at)
    }

    /// [`upgradable_read`](Self::upgradable_read), waiting at most until
    /// `deadline`. Validated like
    /// [`try_upgradable_read_for`](Self::try_upgradable_read_for).
    #[track_caller]
    pub fn try_upgradable_read_until(
        &self,
        deadline: R::Instant,
    ) -> Option<RwLockUpgradableReadGuard<'_, R, T>> {
        let at = Location::caller();
        self.tried_upgradable(self.raw.try_lock_upgradable_until(deadline), at)
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

impl<R: RawRwLock, T> From<T> for RwLock<R, T> {
    #[track_caller]
    fn from(value: T) -> Self {
        Self::new(value)
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

/// What every guard can do to give its lock up for a while: `unlocked`, and
/// with a fair raw lock `unlock_fair`, `unlocked_fair` and `bump`. `$mode` is
/// the mode the raw lock is taken back in (`$lock`, `$bump`).
macro_rules! guard_unlocking {
    (
        $guard:ident: $bound:ident, $fair:ident, $mode:expr,
        $unlock:ident, $lock:ident, $unlock_fair:ident, $bump:ident
    ) => {
        impl<'a, R: $bound, T: ?Sized> $guard<'a, R, T> {
            /// The lock this guard holds.
            pub fn rwlock(s: &Self) -> &'a RwLock<R, T> {
                s.lock
            }

            /// Releases the lock while `f` runs, then takes it back, also if
            /// `f` panics. The validator sees a release, then a new blocking
            /// acquisition (see the module docs for its mode): if locks taken
            /// since this one are still held, the re-take is validated
            /// against them.
            #[track_caller]
            pub fn unlocked<F, U>(s: &mut Self, f: F) -> U
            where
                F: FnOnce() -> U,
            {
                let at = Location::caller();
                let raw = &s.lock.raw;
                s.lock.map.unlocked(
                    &mut s.acquisition,
                    $mode,
                    at,
                    // SAFETY: the guard holds the raw lock in this mode; the
                    // re-take locks it again before the guard can be used or
                    // dropped.
                    || unsafe { raw.$unlock() },
                    || raw.$lock(),
                    f,
                )
            }
        }

        impl<'a, R: $fair, T: ?Sized> $guard<'a, R, T> {
            /// Releases the lock fairly, handing it to a waiter if there is
            /// one. Validated as a release, like dropping the guard.
            pub fn unlock_fair(mut s: Self) {
                let lock = s.lock;
                lock.map.end(&mut s.acquisition);
                std::mem::forget(s);
                // SAFETY: the guard, now gone, held the raw lock in this mode.
                unsafe { lock.raw.$unlock_fair() };
            }

            /// [`unlocked`](Self::unlocked), releasing fairly. Validated the
            /// same way.
            #[track_caller]
            pub fn unlocked_fair<F, U>(s: &mut Self, f: F) -> U
            where
                F: FnOnce() -> U,
            {
                let at = Location::caller();
                let raw = &s.lock.raw;
                s.lock.map.unlocked(
                    &mut s.acquisition,
                    $mode,
                    at,
                    // SAFETY: as in `unlocked`.
                    || unsafe { raw.$unlock_fair() },
                    || raw.$lock(),
                    f,
                )
            }

            /// Lets a waiting thread have the lock, if there is one, and
            /// takes it back. The validator sees a release and a new blocking
            /// acquisition, made before the raw bump can block, as for
            /// [`unlocked`](Self::unlocked).
            #[track_caller]
            pub fn bump(s: &mut Self) {
                let at = Location::caller();
                s.lock.map.rearm(&mut s.acquisition, $mode, at);
                // SAFETY: the guard holds the raw lock in this mode, and holds
                // it again on return.
                unsafe { s.lock.raw.$bump() };
            }
        }
    };
}

guard_unlocking!(
    RwLockReadGuard: RawRwLock, RawRwLockFair, Mode::Shared,
    unlock_shared, lock_shared, unlock_shared_fair, bump_shared
);
guard_unlocking!(
    RwLockWriteGuard: RawRwLock, RawRwLockFair, Mode::Exclusive,
    unlock_exclusive, lock_exclusive, unlock_exclusive_fair, bump_exclusive
);
guard_unlocking!(
    RwLockUpgradableReadGuard: RawRwLockUpgrade, RawRwLockUpgradeFair, Mode::Shared,
    unlock_upgradable, lock_upgradable, unlock_upgradable_fair, bump_upgradable
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
    pub fn try_upgrade(self) -> Result<RwLockWriteGuard<'a, R, T>, Self> {
        let at = Location::caller();
        // SAFETY: this thread holds the upgradable lock.
        let upgraded = unsafe { self.lock.raw.try_upgrade() };
        self.tried_upgrade(upgraded, at)
    }

    /// The write guard of a successful trylock upgrade (timed or not): the
    /// shared acquisition is released and an exclusive trylock recorded.
    fn tried_upgrade(
        mut self,
        upgraded: bool,
        at: &'static Location<'static>,
    ) -> Result<RwLockWriteGuard<'a, R, T>, Self> {
        if !upgraded {
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

impl<'a, R: RawRwLockUpgradeTimed, T: ?Sized> RwLockUpgradableReadGuard<'a, R, T> {
    /// Upgrades, waiting at most `timeout` for readers to leave; otherwise
    /// gives the guard back. Validated like
    /// [`try_upgrade`](Self::try_upgrade): a timed wait cannot wait forever.
    #[track_caller]
    pub fn try_upgrade_for(
        s: Self,
        timeout: R::Duration,
    ) -> Result<RwLockWriteGuard<'a, R, T>, Self> {
        let at = Location::caller();
        // SAFETY: this thread holds the upgradable lock.
        let upgraded = unsafe { s.lock.raw.try_upgrade_for(timeout) };
        s.tried_upgrade(upgraded, at)
    }

    /// Upgrades, waiting at most until `deadline`; otherwise gives the guard
    /// back. Validated like [`try_upgrade`](Self::try_upgrade).
    #[track_caller]
    pub fn try_upgrade_until(
        s: Self,
        deadline: R::Instant,
    ) -> Result<RwLockWriteGuard<'a, R, T>, Self> {
        let at = Location::caller();
        // SAFETY: this thread holds the upgradable lock.
        let upgraded = unsafe { s.lock.raw.try_upgrade_until(deadline) };
        s.tried_upgrade(upgraded, at)
    }
}

impl<R: RawRwLockUpgradeDowngrade, T: ?Sized> RwLockUpgradableReadGuard<'_, R, T> {
    /// Upgrades to a write lock, runs `f` on the data, and downgrades back
    /// to an upgradable read lock (also if `f` panics). Validated like
    /// [`upgrade`](Self::upgrade) followed by
    /// `RwLockWriteGuard::downgrade_to_upgradable`: an exclusive acquisition
    /// made now, shared again afterwards.
    #[track_caller]
    pub fn with_upgraded<Ret, F: FnOnce(&mut T) -> Ret>(&mut self, f: F) -> Ret {
        let at = Location::caller();
        let subclass = self.acquisition.subclass();
        self.lock.map.end(&mut self.acquisition);
        // Before the raw upgrade can block. If the validator panics
        // (Action::Panic), the guard, now untracked, still holds the raw
        // upgradable lock and releases it when dropped.
        self.acquisition = self
            .lock
            .map
            .acquisition(Mode::Exclusive, subclass, false, at);
        // SAFETY: the guard holds the upgradable lock.
        unsafe { self.lock.raw.upgrade() };
        self.upgraded(f)
    }

    /// Upgrades if no reader holds the lock, runs `f` on the data and
    /// downgrades back; `None` if the upgrade failed. The upgrade is
    /// validated as a trylock, as [`try_upgrade`](Self::try_upgrade) is.
    #[track_caller]
    pub fn try_with_upgraded<Ret, F: FnOnce(&mut T) -> Ret>(&mut self, f: F) -> Option<Ret> {
        let at = Location::caller();
        // SAFETY: the guard holds the upgradable lock.
        let upgraded = unsafe { self.lock.raw.try_upgrade() };
        self.tried_with_upgraded(upgraded, at, f)
    }

    /// After a successful trylock upgrade: the shared acquisition becomes an
    /// exclusive trylock, `f` runs, and the lock is downgraded back.
    fn tried_with_upgraded<Ret, F: FnOnce(&mut T) -> Ret>(
        &mut self,
        upgraded: bool,
        at: &'static Location<'static>,
        f: F,
    ) -> Option<Ret> {
        if !upgraded {
            return None;
        }
        // The raw lock is exclusive now: downgrade it back whatever happens,
        // a panic of the validator included.
        let lock = self.lock;
        let downgrade = Defer(Some(|| {
            // SAFETY: the upgrade above succeeded; this thread holds the
            // lock exclusively.
            unsafe { lock.raw.downgrade_to_upgradable() }
        }));
        let subclass = self.acquisition.subclass();
        self.lock.map.end(&mut self.acquisition);
        self.acquisition = self
            .lock
            .map
            .acquisition(Mode::Exclusive, subclass, true, at);
        std::mem::forget(downgrade);
        Some(self.upgraded(f))
    }

    /// Runs `f` on the data of the upgraded lock, then downgrades it back
    /// to upgradable, in the lock and in the validator, also if `f` panics.
    fn upgraded<Ret, F: FnOnce(&mut T) -> Ret>(&mut self, f: F) -> Ret {
        let (lock, tracked) = (self.lock, self.acquisition.tracked());
        let _downgrade = Defer(Some(move || {
            // SAFETY: this thread holds the lock exclusively (upgraded).
            unsafe { lock.raw.downgrade_to_upgradable() };
            if tracked {
                lock.map.change_mode(Mode::Shared);
            }
        }));
        // SAFETY: the lock is held exclusively until the downgrade, and
        // `&mut self` keeps every other access through the guard away.
        f(unsafe { &mut *lock.data.get() })
    }
}

impl<R: RawRwLockUpgradeTimed + RawRwLockUpgradeDowngrade, T: ?Sized>
    RwLockUpgradableReadGuard<'_, R, T>
{
    /// [`try_with_upgraded`](Self::try_with_upgraded), waiting at most
    /// `timeout` for readers to leave. Validated the same way.
    #[track_caller]
    pub fn try_with_upgraded_for<Ret, F: FnOnce(&mut T) -> Ret>(
        &mut self,
        timeout: R::Duration,
        f: F,
    ) -> Option<Ret> {
        let at = Location::caller();
        // SAFETY: the guard holds the upgradable lock.
        let upgraded = unsafe { self.lock.raw.try_upgrade_for(timeout) };
        self.tried_with_upgraded(upgraded, at, f)
    }

    /// [`try_with_upgraded`](Self::try_with_upgraded), waiting at most until
    /// `deadline`. Validated the same way.
    #[track_caller]
    pub fn try_with_upgraded_until<Ret, F: FnOnce(&mut T) -> Ret>(
        &mut self,
        deadline: R::Instant,
        f: F,
    ) -> Option<Ret> {
        let at = Location::caller();
        // SAFETY: the guard holds the upgradable lock.
        let upgraded = unsafe { self.lock.raw.try_upgrade_until(deadline) };
        self.tried_with_upgraded(upgraded, at, f)
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
    pub fn try_map<U: ?Sized, F>(s: Self, f: F) -> Result<MappedRwLockReadGuard<'a, R, U>, Self>
    where
        F: FnOnce(&T) -> Option<&U>,
    {
        Self::try_map_or_err(s, |data| f(data).ok_or(())).map_err(|(s, ())| s)
    }

    /// Like [`try_map`](Self::try_map), but `f` says why it declined: the
    /// guard is given back with the error.
    pub fn try_map_or_err<U: ?Sized, F, E>(
        mut s: Self,
        f: F,
    ) -> Result<MappedRwLockReadGuard<'a, R, U>, (Self, E)>
    where
        F: FnOnce(&T) -> Result<&U, E>,
    {
        let data: *const U = match f(&*s) {
            Ok(data) => data,
            Err(e) => return Err((s, e)),
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
    pub fn try_map<U: ?Sized, F>(s: Self, f: F) -> Result<MappedRwLockWriteGuard<'a, R, U>, Self>
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
    ) -> Result<MappedRwLockWriteGuard<'a, R, U>, (Self, E)>
    where
        F: FnOnce(&mut T) -> Result<&mut U, E>,
    {
        let data: *mut U = match f(&mut *s) {
            Ok(data) => data,
            Err(e) => return Err((s, e)),
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
    ($guard:ident, $ptr:ty, $unlock:ident, $unlock_fair:ident) => {
        impl<R: RawRwLockFair, T: ?Sized> $guard<'_, R, T> {
            /// Releases the lock fairly, handing it to a waiter if there is
            /// one. Validated as a release, like dropping the guard.
            pub fn unlock_fair(s: Self) {
                let (raw, map, mut acquisition) = Self::into_parts(s);
                map.end(&mut acquisition);
                // SAFETY: the guard, now gone, held the raw lock in this mode.
                unsafe { raw.$unlock_fair() };
            }
        }

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
mapped_guard!(
    MappedRwLockReadGuard,
    *const T,
    unlock_shared,
    unlock_shared_fair
);

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
        Self::try_map_or_else(s, |data| f(data).ok_or(())).map_err(|(s, ())| s)
    }

    /// Narrows the guard further if `f` returns a part; otherwise gives it
    /// back with `f`'s error. (`lock_api` 0.4 names this one
    /// `try_map_or_else`, where the other guards have `try_map_or_err`.)
    pub fn try_map_or_else<U: ?Sized, F, E>(
        s: Self,
        f: F,
    ) -> Result<MappedRwLockReadGuard<'a, R, U>, (Self, E)>
    where
        F: FnOnce(&T) -> Result<&U, E>,
    {
        let data: *const U = match f(&*s) {
            Ok(data) => data,
            Err(e) => return Err((s, e)),
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
mapped_guard!(
    MappedRwLockWriteGuard,
    *mut T,
    unlock_exclusive,
    unlock_exclusive_fair
);

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
    pub fn try_map<U: ?Sized, F>(s: Self, f: F) -> Result<MappedRwLockWriteGuard<'a, R, U>, Self>
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
    ) -> Result<MappedRwLockWriteGuard<'a, R, U>, (Self, E)>
    where
        F: FnOnce(&mut T) -> Result<&mut U, E>,
    {
        let data: *mut U = match f(&mut *s) {
            Ok(data) => data,
            Err(e) => return Err((s, e)),
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
