//! An instrumented reader-writer lock over any `lock_api::RawRwLock`.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::ptr;
#[cfg(feature = "arc_lock")]
use std::sync::Arc;

use lock_api::{
    RawRwLock, RawRwLockDowngrade, RawRwLockFair, RawRwLockRecursive, RawRwLockRecursiveTimed,
    RawRwLockTimed, RawRwLockUpgrade, RawRwLockUpgradeDowngrade, RawRwLockUpgradeFair,
    RawRwLockUpgradeTimed,
};

use crate::class::{ClassId, ClassKey, DynamicKey, Prefix};
use crate::held::Mode;
use crate::map::{Acquisition, AsLockMap, Defer, LockMap};
use crate::mutex::MapRef;

/// A reader-writer lock whose order against other locks is validated.
///
/// Each way of taking the lock maps onto one of the validator's modes:
///
/// | method | mode | why |
/// |---|---|---|
/// | `write`, `try_write`, `write_nested` | exclusive | blocks and is blocked by everyone |
/// | `read`, `try_read` | shared (non-recursive) | a reader queues behind a *waiting* writer, so a second read can deadlock |
/// | `write_under`, `read_under` | exclusive, shared (non-recursive), under a nest lock | as `Mutex::lock_under`: covered by the nest lock once a lock of the class is held above it |
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
/// | `read_arc`, `write_arc`, `read_arc_recursive`, `upgradable_read_arc` and their `try_` and timed forms: `try_read_arc(_for/_until)`, `try_write_arc(_for/_until)`, `try_read_recursive_arc`, `try_read_arc_recursive_for/until`, `try_upgradable_read_arc(_for/_until)` (feature `arc_lock`; on an `Arc<RwLock>`) | the mode of the method without `arc`, trylocks and timed ones as trylocks | the same acquisitions; the guard (`ArcRwLockReadGuard`, `ArcRwLockWriteGuard`, `ArcRwLockUpgradableReadGuard`) owns an `Arc` of the lock instead of borrowing it |
/// | arc guards' `upgrade`, `try_upgrade(_for/_until)`, `downgrade`, `downgrade_to_upgradable`, `with_upgraded`, `try_with_upgraded(_for/_until)`, `unlocked`, `unlocked_fair`, `bump`, `unlock_fair` | as the borrowed guards' | one definition for both |
/// | arc guards' `into_arc`, `into_arc_fair` | a release | like dropping the guard; the `Arc` is given back |
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
        Self::from_map(LockMap::of::<T>(Location::caller(), Prefix::None), value)
    }

    /// A lock whose class is the call site, printed as `name`.
    #[track_caller]
    pub const fn named(name: &'static str, value: T) -> Self {
        Self::from_map(
            LockMap::named_at(Location::caller(), name, Prefix::None),
            value,
        )
    }

    /// A lock of the class of a static key.
    pub const fn with_key(key: &'static ClassKey, value: T) -> Self {
        Self::from_map(LockMap::with_key(key), value)
    }

    /// A lock of the class of a [`DynamicKey`], created at run time.
    pub fn with_dynamic_key(key: &DynamicKey, value: T) -> Self {
        Self::from_map(LockMap::with_dynamic_key(key), value)
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

    /// Every blocking acquisition: the validator is told of it in `mode`
    /// (before blocking, so a report comes before a hang), then `lock`
    /// blocks on the raw lock.
    #[inline]
    fn blocking(
        &self,
        mode: Mode,
        subclass: u32,
        at: &'static Location<'static>,
        lock: impl FnOnce(&R),
    ) -> Acquisition {
        let acquisition = self.acquire(mode, subclass, false, at);
        lock(&self.raw);
        acquisition
    }

    /// The record of a successful trylock (timed or not): a trylock in `mode`.
    #[inline]
    fn tried(
        &self,
        locked: bool,
        mode: Mode,
        at: &'static Location<'static>,
    ) -> Option<Acquisition> {
        locked.then(|| self.acquire(mode, 0, true, at))
    }

    /// Locks for reading: a non-recursive shared acquisition.
    #[inline]
    #[track_caller]
    pub fn read(&self) -> RwLockReadGuard<'_, R, T> {
        let at = Location::caller();
        RwLockReadGuard::new(self, self.blocking(Mode::Shared, 0, at, R::lock_shared))
    }

    /// Locks for reading if no writer holds or waits for the lock.
    #[track_caller]
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, R, T>> {
        let at = Location::caller();
        let acquisition = self.tried(self.raw.try_lock_shared(), Mode::Shared, at)?;
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
        let acquisition = self.blocking(Mode::Exclusive, subclass, at, R::lock_exclusive);
        RwLockWriteGuard::new(self, acquisition)
    }

    /// Locks for reading under a *nest lock* held by this thread (see
    /// [`Mutex::lock_under`](crate::mutex::Mutex::lock_under)): a
    /// non-recursive shared acquisition that the nest lock covers once a
    /// lock of this class is held above it. Not holding `nest` is reported.
    #[track_caller]
    pub fn read_under(&self, nest: &impl AsLockMap) -> RwLockReadGuard<'_, R, T> {
        let tracked = self.map.acquire_under(Mode::Shared, nest);
        self.raw.lock_shared();
        RwLockReadGuard::new(self, Acquisition::recorded(tracked))
    }

    /// Locks for writing under a *nest lock* held by this thread, as
    /// [`read_under`](Self::read_under) does for reading.
    #[track_caller]
    pub fn write_under(&self, nest: &impl AsLockMap) -> RwLockWriteGuard<'_, R, T> {
        let tracked = self.map.acquire_under(Mode::Exclusive, nest);
        self.raw.lock_exclusive();
        RwLockWriteGuard::new(self, Acquisition::recorded(tracked))
    }

    /// Locks for writing if the lock is free.
    #[track_caller]
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, R, T>> {
        let at = Location::caller();
        let acquisition = self.tried(self.raw.try_lock_exclusive(), Mode::Exclusive, at)?;
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
        let acquisition = self.tried(self.raw.try_lock_shared_for(timeout), Mode::Shared, at)?;
        Some(RwLockReadGuard::new(self, acquisition))
    }

    /// Locks for reading, waiting at most until `deadline`. Validated like
    /// [`try_read_for`](Self::try_read_for).
    #[track_caller]
    pub fn try_read_until(&self, deadline: R::Instant) -> Option<RwLockReadGuard<'_, R, T>> {
        let at = Location::caller();
        let acquisition = self.tried(self.raw.try_lock_shared_until(deadline), Mode::Shared, at)?;
        Some(RwLockReadGuard::new(self, acquisition))
    }

    /// Locks for writing, waiting at most `timeout`. A success is recorded
    /// as an exclusive trylock (see [`try_read_for`](Self::try_read_for)).
    #[track_caller]
    pub fn try_write_for(&self, timeout: R::Duration) -> Option<RwLockWriteGuard<'_, R, T>> {
        let at = Location::caller();
        let locked = self.raw.try_lock_exclusive_for(timeout);
        let acquisition = self.tried(locked, Mode::Exclusive, at)?;
        Some(RwLockWriteGuard::new(self, acquisition))
    }

    /// Locks for writing, waiting at most until `deadline`. Validated like
    /// [`try_write_for`](Self::try_write_for).
    #[track_caller]
    pub fn try_write_until(&self, deadline: R::Instant) -> Option<RwLockWriteGuard<'_, R, T>> {
        let at = Location::caller();
        let locked = self.raw.try_lock_exclusive_until(deadline);
        let acquisition = self.tried(locked, Mode::Exclusive, at)?;
        Some(RwLockWriteGuard::new(self, acquisition))
    }
}

impl<R: RawRwLockRecursive, T: ?Sized> RwLock<R, T> {
    /// Locks for reading even if a writer is waiting: a recursive shared
    /// acquisition, which only a writer that holds the lock can block.
    #[inline]
    #[track_caller]
    pub fn read_recursive(&self) -> RwLockReadGuard<'_, R, T> {
        let at = Location::caller();
        let acquisition = self.blocking(Mode::SharedRecursive, 0, at, R::lock_shared_recursive);
        RwLockReadGuard::new(self, acquisition)
    }

    /// [`read_recursive`](Self::read_recursive) without blocking.
    #[track_caller]
    pub fn try_read_recursive(&self) -> Option<RwLockReadGuard<'_, R, T>> {
        let at = Location::caller();
        let locked = self.raw.try_lock_shared_recursive();
        let acquisition = self.tried(locked, Mode::SharedRecursive, at)?;
        Some(RwLockReadGuard::new(self, acquisition))
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
        let acquisition = self.tried(locked, Mode::SharedRecursive, at)?;
        Some(RwLockReadGuard::new(self, acquisition))
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
        let acquisition = self.tried(locked, Mode::SharedRecursive, at)?;
        Some(RwLockReadGuard::new(self, acquisition))
    }
}

impl<R: RawRwLockUpgrade, T: ?Sized> RwLock<R, T> {
    /// Locks for reading with the right to upgrade to writing. Compatible with
    /// readers, exclusive against writers and other upgradable readers.
    #[track_caller]
    pub fn upgradable_read(&self) -> RwLockUpgradableReadGuard<'_, R, T> {
        let at = Location::caller();
        let acquisition = self.blocking(Mode::Shared, 0, at, R::lock_upgradable);
        RwLockUpgradableReadGuard::new(self, acquisition)
    }

    /// [`upgradable_read`](Self::upgradable_read) without blocking.
    #[track_caller]
    pub fn try_upgradable_read(&self) -> Option<RwLockUpgradableReadGuard<'_, R, T>> {
        let at = Location::caller();
        let acquisition = self.tried(self.raw.try_lock_upgradable(), Mode::Shared, at)?;
        Some(RwLockUpgradableReadGuard::new(self, acquisition))
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
        let locked = self.raw.try_lock_upgradable_for(timeout);
        let acquisition = self.tried(locked, Mode::Shared, at)?;
        Some(RwLockUpgradableReadGuard::new(self, acquisition))
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
        let locked = self.raw.try_lock_upgradable_until(deadline);
        let acquisition = self.tried(locked, Mode::Shared, at)?;
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

/// Exclusive access to a write-locked [`RwLock`]. Not `Send`.
#[must_use = "the lock is released when the guard is dropped"]
pub struct RwLockWriteGuard<'a, R: RawRwLock, T: ?Sized> {
    lock: &'a RwLock<R, T>,
    acquisition: Acquisition,
}

/// An upgradable read lock on an [`RwLock`]. Not `Send`.
#[must_use = "the lock is released when the guard is dropped"]
pub struct RwLockUpgradableReadGuard<'a, R: RawRwLockUpgrade, T: ?Sized> {
    lock: &'a RwLock<R, T>,
    acquisition: Acquisition,
}

// SAFETY (for the `Sync` impls of guards): through `&Guard` another thread
// reaches only `&T` (hence `T: Sync`), the lock or raw lock by shared
// reference (hence `R: Sync`), and nothing of the acquisition record: the
// validator is only told anything through `&mut Guard` or the guard itself
// (drop, `unlocked`, conversions), which stay on the owning thread because a
// guard is not `Send`.
unsafe impl<R: RawRwLock + Sync, T: ?Sized + Sync> Sync for RwLockReadGuard<'_, R, T> {}
// SAFETY: as above.
unsafe impl<R: RawRwLock + Sync, T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, R, T> {}
// SAFETY: as above.
unsafe impl<R: RawRwLockUpgrade + Sync, T: ?Sized + Sync> Sync
    for RwLockUpgradableReadGuard<'_, R, T>
{
}

/// What every guard of one mode has, whether it holds its lock through
/// `&'a RwLock` or `Arc<RwLock>` (`$handle`, in the field `lock`): access
/// to the data, giving the lock up for a while (`unlocked`, and with a fair
/// raw lock `unlock_fair`, `unlocked_fair` and `bump`), the release on drop.
/// `$mode` is the mode the raw lock is taken back in (`$lock`, `$bump`).
macro_rules! guard_common {
    (
        $guard:ident $(<$lt:lifetime>)?, $handle:ty, $bound:ident, $fair:ident, $mode:expr,
        $unlock:ident, $lock:ident, $unlock_fair:ident, $bump:ident
    ) => {
        impl<$($lt,)? R: $bound, T: ?Sized> $guard<$($lt,)? R, T> {
            #[inline]
            fn new(lock: $handle, acquisition: Acquisition) -> Self {
                $guard { lock, acquisition }
            }

            /// Takes the lock and the record out of a guard that is being
            /// converted, without releasing anything.
            fn into_parts(s: Self) -> ($handle, Acquisition) {
                let mut s = ManuallyDrop::new(s);
                let acquisition = s.acquisition.take();
                // SAFETY: `s` is neither used nor dropped again, so the
                // handle is moved out of it exactly once.
                let lock = unsafe { ptr::read(&s.lock) };
                (lock, acquisition)
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
                let lock: &RwLock<R, T> = &s.lock;
                lock.map.unlocked(
                    &mut s.acquisition,
                    $mode,
                    at,
                    // SAFETY: the guard holds the raw lock in this mode; the
                    // re-take locks it again before the guard can be used or
                    // dropped.
                    || unsafe { lock.raw.$unlock() },
                    || lock.raw.$lock(),
                    f,
                )
            }
        }

        impl<$($lt,)? R: $fair, T: ?Sized> $guard<$($lt,)? R, T> {
            /// Releases the lock fairly, handing it to a waiter if there is
            /// one. Validated as a release, like dropping the guard.
            pub fn unlock_fair(s: Self) {
                Self::release_fair(s);
            }

            /// [`unlock_fair`](Self::unlock_fair), giving the handle back.
            fn release_fair(s: Self) -> $handle {
                let (lock, mut acquisition) = Self::into_parts(s);
                // SAFETY: the guard, now gone, held the raw lock in this mode.
                unsafe { lock.raw.$unlock_fair() };
                lock.map.end(&mut acquisition);
                lock
            }

            /// [`unlocked`](Self::unlocked), releasing fairly. Validated the
            /// same way.
            #[track_caller]
            pub fn unlocked_fair<F, U>(s: &mut Self, f: F) -> U
            where
                F: FnOnce() -> U,
            {
                let at = Location::caller();
                let lock: &RwLock<R, T> = &s.lock;
                lock.map.unlocked(
                    &mut s.acquisition,
                    $mode,
                    at,
                    // SAFETY: as in `unlocked`.
                    || unsafe { lock.raw.$unlock_fair() },
                    || lock.raw.$lock(),
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

        impl<$($lt,)? R: $bound, T: ?Sized> Deref for $guard<$($lt,)? R, T> {
            type Target = T;
            fn deref(&self) -> &T {
                // SAFETY: the guard exists only while this thread holds the raw lock.
                unsafe { &*self.lock.data.get() }
            }
        }

        impl<$($lt,)? R: $bound, T: ?Sized> Drop for $guard<$($lt,)? R, T> {
            #[inline]
            fn drop(&mut self) {
                // SAFETY: the guard was created after this thread took the raw
                // lock in this mode.
                unsafe { self.lock.raw.$unlock() };
                // Unlocked first: whatever the validator does on the release,
                // the raw lock is free.
                self.lock.map.end(&mut self.acquisition);
            }
        }

        impl<$($lt,)? R: $bound, T: ?Sized + fmt::Debug> fmt::Debug for $guard<$($lt,)? R, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&**self, f)
            }
        }

        impl<$($lt,)? R: $bound, T: ?Sized + fmt::Display> fmt::Display
            for $guard<$($lt,)? R, T>
        {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&**self, f)
            }
        }
    };
}

/// The guards of one kind of handle (`&'a RwLock`: `RwLockReadGuard`...;
/// `Arc<RwLock>`: `ArcRwLockReadGuard`...), each mode's: the common part
/// (`guard_common`), and moving between modes (`downgrade`, `upgrade`,
/// `with_upgraded`, ...).
macro_rules! guards {
    ($($lt:lifetime)?; $read:ident, $write:ident, $upgradable:ident; $handle:ty) => {
        guard_common!(
            $read $(<$lt>)?, $handle, RawRwLock, RawRwLockFair, Mode::Shared,
            unlock_shared, lock_shared, unlock_shared_fair, bump_shared
        );
        guard_common!(
            $write $(<$lt>)?, $handle, RawRwLock, RawRwLockFair, Mode::Exclusive,
            unlock_exclusive, lock_exclusive, unlock_exclusive_fair, bump_exclusive
        );
        guard_common!(
            $upgradable $(<$lt>)?, $handle, RawRwLockUpgrade, RawRwLockUpgradeFair, Mode::Shared,
            unlock_upgradable, lock_upgradable, unlock_upgradable_fair, bump_upgradable
        );

        impl<$($lt,)? R: RawRwLock, T: ?Sized> DerefMut for $write<$($lt,)? R, T> {
            fn deref_mut(&mut self) -> &mut T {
                // SAFETY: the write lock is held, and `&mut self` makes this unique.
                unsafe { &mut *self.lock.data.get() }
            }
        }

        impl<$($lt,)? R: RawRwLockDowngrade, T: ?Sized> $write<$($lt,)? R, T> {
            /// Turns the write lock into a read lock without letting a writer
            /// in. The held mode changes to shared.
            pub fn downgrade(self) -> $read<$($lt,)? R, T> {
                let (lock, acquisition) = Self::into_parts(self);
                // SAFETY: this thread holds the write lock, which the guard gave up.
                unsafe { lock.raw.downgrade() };
                let tracked = acquisition.tracked();
                // The new guard exists before the validator runs again, so a
                // panic from it (Action::Panic) still unlocks.
                let guard = $read::new(lock, acquisition);
                if tracked {
                    guard.lock.map.change_mode(Mode::Shared);
                }
                guard
            }
        }

        impl<$($lt,)? R: RawRwLockUpgradeDowngrade, T: ?Sized> $write<$($lt,)? R, T> {
            /// Turns the write lock into an upgradable read lock. The held
            /// mode changes to shared.
            pub fn downgrade_to_upgradable(self) -> $upgradable<$($lt,)? R, T> {
                let (lock, acquisition) = Self::into_parts(self);
                // SAFETY: this thread holds the write lock, which the guard gave up.
                unsafe { lock.raw.downgrade_to_upgradable() };
                let tracked = acquisition.tracked();
                let guard = $upgradable::new(lock, acquisition);
                if tracked {
                    guard.lock.map.change_mode(Mode::Shared);
                }
                guard
            }
        }

        impl<$($lt,)? R: RawRwLockUpgrade, T: ?Sized> $upgradable<$($lt,)? R, T> {
            /// Upgrades to a write lock, waiting for readers to leave:
            /// validated as an exclusive acquisition made now, under whatever
            /// the thread holds now.
            #[track_caller]
            pub fn upgrade(mut self) -> $write<$($lt,)? R, T> {
                let at = Location::caller();
                let mut old = self.acquisition.take();
                self.lock.map.end(&mut old);
                // If validation panics (Action::Panic), dropping `self`, now
                // untracked, unlocks the raw upgradable lock.
                let acquisition = self.lock.map.acquisition(Mode::Exclusive, 0, false, at);
                let (lock, _untracked) = Self::into_parts(self);
                // SAFETY: this thread holds the upgradable lock, which the guard gave up.
                unsafe { lock.raw.upgrade() };
                $write::new(lock, acquisition)
            }

            /// Upgrades if no reader holds the lock; otherwise gives the guard back.
            #[track_caller]
            pub fn try_upgrade(self) -> Result<$write<$($lt,)? R, T>, Self> {
                let at = Location::caller();
                // SAFETY: this thread holds the upgradable lock.
                let upgraded = unsafe { self.lock.raw.try_upgrade() };
                self.tried_upgrade(upgraded, at)
            }

            /// The write guard of a successful trylock upgrade (timed or
            /// not): the shared acquisition is released and an exclusive
            /// trylock recorded.
            fn tried_upgrade(
                self,
                upgraded: bool,
                at: &'static Location<'static>,
            ) -> Result<$write<$($lt,)? R, T>, Self> {
                if !upgraded {
                    return Err(self);
                }
                let (lock, acquisition) = Self::into_parts(self);
                // The write guard owns the raw lock before the validator runs again.
                let mut guard = $write::new(lock, acquisition);
                let mut old = guard.acquisition.take();
                guard.lock.map.end(&mut old);
                guard.acquisition = guard.lock.map.acquisition(Mode::Exclusive, 0, true, at);
                Ok(guard)
            }
        }

        impl<$($lt,)? R: RawRwLockUpgradeTimed, T: ?Sized> $upgradable<$($lt,)? R, T> {
            /// Upgrades, waiting at most `timeout` for readers to leave;
            /// otherwise gives the guard back. Validated like
            /// [`try_upgrade`](Self::try_upgrade): a timed wait cannot wait
            /// forever.
            #[track_caller]
            pub fn try_upgrade_for(
                s: Self,
                timeout: R::Duration,
            ) -> Result<$write<$($lt,)? R, T>, Self> {
                let at = Location::caller();
                // SAFETY: this thread holds the upgradable lock.
                let upgraded = unsafe { s.lock.raw.try_upgrade_for(timeout) };
                s.tried_upgrade(upgraded, at)
            }

            /// Upgrades, waiting at most until `deadline`; otherwise gives the
            /// guard back. Validated like [`try_upgrade`](Self::try_upgrade).
            #[track_caller]
            pub fn try_upgrade_until(
                s: Self,
                deadline: R::Instant,
            ) -> Result<$write<$($lt,)? R, T>, Self> {
                let at = Location::caller();
                // SAFETY: this thread holds the upgradable lock.
                let upgraded = unsafe { s.lock.raw.try_upgrade_until(deadline) };
                s.tried_upgrade(upgraded, at)
            }
        }

        impl<$($lt,)? R: RawRwLockUpgradeDowngrade, T: ?Sized> $upgradable<$($lt,)? R, T> {
            /// Gives up the right to upgrade, keeping a read lock. The mode
            /// stays shared.
            pub fn downgrade(self) -> $read<$($lt,)? R, T> {
                let (lock, acquisition) = Self::into_parts(self);
                // SAFETY: this thread holds the upgradable lock, which the guard gave up.
                unsafe { lock.raw.downgrade_upgradable() };
                $read::new(lock, acquisition)
            }

            /// Upgrades to a write lock, runs `f` on the data, and downgrades
            /// back to an upgradable read lock (also if `f` panics). Validated
            /// like [`upgrade`](Self::upgrade) followed by
            /// `downgrade_to_upgradable`: an exclusive acquisition made now,
            /// shared again afterwards.
            #[track_caller]
            pub fn with_upgraded<Ret, F: FnOnce(&mut T) -> Ret>(&mut self, f: F) -> Ret {
                let at = Location::caller();
                let subclass = self.acquisition.subclass();
                self.lock.map.end(&mut self.acquisition);
                // Before the raw upgrade can block. If the validator panics
                // (Action::Panic), the guard, now untracked, still holds the
                // raw upgradable lock and releases it when dropped.
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
            pub fn try_with_upgraded<Ret, F: FnOnce(&mut T) -> Ret>(
                &mut self,
                f: F,
            ) -> Option<Ret> {
                let at = Location::caller();
                // SAFETY: the guard holds the upgradable lock.
                let upgraded = unsafe { self.lock.raw.try_upgrade() };
                self.tried_with_upgraded(upgraded, at, f)
            }

            /// After a successful trylock upgrade: the shared acquisition
            /// becomes an exclusive trylock, `f` runs, and the lock is
            /// downgraded back.
            fn tried_with_upgraded<Ret, F: FnOnce(&mut T) -> Ret>(
                &mut self,
                upgraded: bool,
                at: &'static Location<'static>,
                f: F,
            ) -> Option<Ret> {
                if !upgraded {
                    return None;
                }
                // The raw lock is exclusive now: downgrade it back whatever
                // happens, a panic of the validator included.
                let lock: &RwLock<R, T> = &self.lock;
                let downgrade = Defer(Some(|| {
                    // SAFETY: the upgrade above succeeded; this thread holds
                    // the lock exclusively.
                    unsafe { lock.raw.downgrade_to_upgradable() }
                }));
                let subclass = self.acquisition.subclass();
                lock.map.end(&mut self.acquisition);
                self.acquisition = lock.map.acquisition(Mode::Exclusive, subclass, true, at);
                std::mem::forget(downgrade);
                Some(self.upgraded(f))
            }

            /// Runs `f` on the data of the upgraded lock, then downgrades it
            /// back to upgradable, in the lock and in the validator, also if
            /// `f` panics.
            fn upgraded<Ret, F: FnOnce(&mut T) -> Ret>(&mut self, f: F) -> Ret {
                let (lock, tracked): (&RwLock<R, T>, _) = (&self.lock, self.acquisition.tracked());
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

        impl<$($lt,)? R: RawRwLockUpgradeTimed + RawRwLockUpgradeDowngrade, T: ?Sized>
            $upgradable<$($lt,)? R, T>
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

            /// [`try_with_upgraded`](Self::try_with_upgraded), waiting at most
            /// until `deadline`. Validated the same way.
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
    };
}

guards!('a; RwLockReadGuard, RwLockWriteGuard, RwLockUpgradableReadGuard; &'a RwLock<R, T>);

macro_rules! rwlock_accessor {
    ($($guard:ident: $bound:ident),+) => {$(
        impl<'a, R: $bound, T: ?Sized> $guard<'a, R, T> {
            /// The lock this guard holds.
            pub fn rwlock(s: &Self) -> &'a RwLock<R, T> {
                s.lock
            }
        }
    )+};
}
rwlock_accessor!(
    RwLockReadGuard: RawRwLock,
    RwLockWriteGuard: RawRwLock,
    RwLockUpgradableReadGuard: RawRwLockUpgrade
);

impl<'a, R: RawRwLock, T: ?Sized> RwLockReadGuard<'a, R, T> {
    /// Narrows the guard to a part of the data, like `parking_lot`'s
    /// `RwLockReadGuard::map`. The lock stays read-locked, in the same mode
    /// in the validator, until the mapped guard is dropped.
    pub fn map<U: ?Sized, F>(s: Self, f: F) -> MappedRwLockReadGuard<'a, R, U>
    where
        F: FnOnce(&T) -> &U,
    {
        // If `f` panics, `s` is dropped as usual and unlocks.
        let data: *const U = f(&*s);
        let (lock, acquisition) = Self::into_parts(s);
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
        let (lock, acquisition) = Self::into_parts(s);
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
        let (lock, acquisition) = Self::into_parts(s);
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
        let (lock, acquisition) = Self::into_parts(s);
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
                // SAFETY: the guard, now gone, held the raw lock in this mode.
                unsafe { raw.$unlock_fair() };
                map.end(&mut acquisition);
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
                // SAFETY: the guard took over the lock of the guard it was
                // mapped from, which this thread took in this mode.
                unsafe { self.raw.$unlock() };
                self.map.end(&mut self.acquisition);
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

// SAFETY: as for `RwLockReadGuard`.
unsafe impl<R: RawRwLock + Sync, T: ?Sized + Sync> Sync for MappedRwLockReadGuard<'_, R, T> {}
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

// SAFETY: as for `RwLockReadGuard`.
unsafe impl<R: RawRwLock + Sync, T: ?Sized + Sync> Sync for MappedRwLockWriteGuard<'_, R, T> {}
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

// ---------------------------------------------------------------------------
// Guards that own an `Arc` of their lock (feature `arc_lock`)
// ---------------------------------------------------------------------------

#[cfg(feature = "arc_lock")]
impl<R: RawRwLock, T: ?Sized> RwLock<R, T> {
    /// [`read`](Self::read) through an `Arc`: the guard keeps the lock alive
    /// and has no lifetime. Validated like `read`: shared (non-recursive).
    #[track_caller]
    pub fn read_arc(self: &Arc<Self>) -> ArcRwLockReadGuard<R, T> {
        let at = Location::caller();
        let acquisition = self.blocking(Mode::Shared, 0, at, R::lock_shared);
        ArcRwLockReadGuard::new(Arc::clone(self), acquisition)
    }

    /// [`try_read`](Self::try_read) through an `Arc`: a shared trylock.
    #[track_caller]
    pub fn try_read_arc(self: &Arc<Self>) -> Option<ArcRwLockReadGuard<R, T>> {
        let at = Location::caller();
        let acquisition = self.tried(self.raw.try_lock_shared(), Mode::Shared, at)?;
        Some(ArcRwLockReadGuard::new(Arc::clone(self), acquisition))
    }

    /// [`write`](Self::write) through an `Arc`: exclusive.
    #[track_caller]
    pub fn write_arc(self: &Arc<Self>) -> ArcRwLockWriteGuard<R, T> {
        let at = Location::caller();
        let acquisition = self.blocking(Mode::Exclusive, 0, at, R::lock_exclusive);
        ArcRwLockWriteGuard::new(Arc::clone(self), acquisition)
    }

    /// [`try_write`](Self::try_write) through an `Arc`: an exclusive trylock.
    #[track_caller]
    pub fn try_write_arc(self: &Arc<Self>) -> Option<ArcRwLockWriteGuard<R, T>> {
        let at = Location::caller();
        let acquisition = self.tried(self.raw.try_lock_exclusive(), Mode::Exclusive, at)?;
        Some(ArcRwLockWriteGuard::new(Arc::clone(self), acquisition))
    }
}

#[cfg(feature = "arc_lock")]
impl<R: RawRwLockTimed, T: ?Sized> RwLock<R, T> {
    /// [`try_read_for`](Self::try_read_for) through an `Arc`: a shared
    /// trylock once it succeeds.
    #[track_caller]
    pub fn try_read_arc_for(
        self: &Arc<Self>,
        timeout: R::Duration,
    ) -> Option<ArcRwLockReadGuard<R, T>> {
        let at = Location::caller();
        let acquisition = self.tried(self.raw.try_lock_shared_for(timeout), Mode::Shared, at)?;
        Some(ArcRwLockReadGuard::new(Arc::clone(self), acquisition))
    }

    /// [`try_read_until`](Self::try_read_until) through an `Arc`: a shared
    /// trylock once it succeeds.
    #[track_caller]
    pub fn try_read_arc_until(
        self: &Arc<Self>,
        deadline: R::Instant,
    ) -> Option<ArcRwLockReadGuard<R, T>> {
        let at = Location::caller();
        let acquisition = self.tried(self.raw.try_lock_shared_until(deadline), Mode::Shared, at)?;
        Some(ArcRwLockReadGuard::new(Arc::clone(self), acquisition))
    }

    /// [`try_write_for`](Self::try_write_for) through an `Arc`: an exclusive
    /// trylock once it succeeds.
    #[track_caller]
    pub fn try_write_arc_for(
        self: &Arc<Self>,
        timeout: R::Duration,
    ) -> Option<ArcRwLockWriteGuard<R, T>> {
        let at = Location::caller();
        let locked = self.raw.try_lock_exclusive_for(timeout);
        let acquisition = self.tried(locked, Mode::Exclusive, at)?;
        Some(ArcRwLockWriteGuard::new(Arc::clone(self), acquisition))
    }

    /// [`try_write_until`](Self::try_write_until) through an `Arc`: an
    /// exclusive trylock once it succeeds.
    #[track_caller]
    pub fn try_write_arc_until(
        self: &Arc<Self>,
        deadline: R::Instant,
    ) -> Option<ArcRwLockWriteGuard<R, T>> {
        let at = Location::caller();
        let locked = self.raw.try_lock_exclusive_until(deadline);
        let acquisition = self.tried(locked, Mode::Exclusive, at)?;
        Some(ArcRwLockWriteGuard::new(Arc::clone(self), acquisition))
    }
}

#[cfg(feature = "arc_lock")]
impl<R: RawRwLockRecursive, T: ?Sized> RwLock<R, T> {
    /// [`read_recursive`](Self::read_recursive) through an `Arc`: recursive
    /// shared. (`lock_api`'s name, with `arc` before `recursive`.)
    #[track_caller]
    pub fn read_arc_recursive(self: &Arc<Self>) -> ArcRwLockReadGuard<R, T> {
        let at = Location::caller();
        let acquisition = self.blocking(Mode::SharedRecursive, 0, at, R::lock_shared_recursive);
        ArcRwLockReadGuard::new(Arc::clone(self), acquisition)
    }

    /// [`try_read_recursive`](Self::try_read_recursive) through an `Arc`: a
    /// recursive shared trylock. (`lock_api`'s name, with `arc` after
    /// `recursive`.)
    #[track_caller]
    pub fn try_read_recursive_arc(self: &Arc<Self>) -> Option<ArcRwLockReadGuard<R, T>> {
        let at = Location::caller();
        let locked = self.raw.try_lock_shared_recursive();
        let acquisition = self.tried(locked, Mode::SharedRecursive, at)?;
        Some(ArcRwLockReadGuard::new(Arc::clone(self), acquisition))
    }
}

#[cfg(feature = "arc_lock")]
impl<R: RawRwLockRecursiveTimed, T: ?Sized> RwLock<R, T> {
    /// [`try_read_recursive_for`](Self::try_read_recursive_for) through an
    /// `Arc`: a recursive shared trylock once it succeeds.
    #[track_caller]
    pub fn try_read_arc_recursive_for(
        self: &Arc<Self>,
        timeout: R::Duration,
    ) -> Option<ArcRwLockReadGuard<R, T>> {
        let at = Location::caller();
        let locked = self.raw.try_lock_shared_recursive_for(timeout);
        let acquisition = self.tried(locked, Mode::SharedRecursive, at)?;
        Some(ArcRwLockReadGuard::new(Arc::clone(self), acquisition))
    }

    /// [`try_read_recursive_until`](Self::try_read_recursive_until) through
    /// an `Arc`: a recursive shared trylock once it succeeds.
    #[track_caller]
    pub fn try_read_arc_recursive_until(
        self: &Arc<Self>,
        deadline: R::Instant,
    ) -> Option<ArcRwLockReadGuard<R, T>> {
        let at = Location::caller();
        let locked = self.raw.try_lock_shared_recursive_until(deadline);
        let acquisition = self.tried(locked, Mode::SharedRecursive, at)?;
        Some(ArcRwLockReadGuard::new(Arc::clone(self), acquisition))
    }
}

#[cfg(feature = "arc_lock")]
impl<R: RawRwLockUpgrade, T: ?Sized> RwLock<R, T> {
    /// [`upgradable_read`](Self::upgradable_read) through an `Arc`: shared
    /// (non-recursive); its `upgrade` is an exclusive acquisition made then.
    #[track_caller]
    pub fn upgradable_read_arc(self: &Arc<Self>) -> ArcRwLockUpgradableReadGuard<R, T> {
        let at = Location::caller();
        let acquisition = self.blocking(Mode::Shared, 0, at, R::lock_upgradable);
        ArcRwLockUpgradableReadGuard::new(Arc::clone(self), acquisition)
    }

    /// [`try_upgradable_read`](Self::try_upgradable_read) through an `Arc`:
    /// a shared trylock.
    #[track_caller]
    pub fn try_upgradable_read_arc(self: &Arc<Self>) -> Option<ArcRwLockUpgradableReadGuard<R, T>> {
        let at = Location::caller();
        let acquisition = self.tried(self.raw.try_lock_upgradable(), Mode::Shared, at)?;
        Some(ArcRwLockUpgradableReadGuard::new(
            Arc::clone(self),
            acquisition,
        ))
    }
}

#[cfg(feature = "arc_lock")]
impl<R: RawRwLockUpgradeTimed, T: ?Sized> RwLock<R, T> {
    /// [`try_upgradable_read_for`](Self::try_upgradable_read_for) through an
    /// `Arc`: a shared trylock once it succeeds.
    #[track_caller]
    pub fn try_upgradable_read_arc_for(
        self: &Arc<Self>,
        timeout: R::Duration,
    ) -> Option<ArcRwLockUpgradableReadGuard<R, T>> {
        let at = Location::caller();
        let locked = self.raw.try_lock_upgradable_for(timeout);
        let acquisition = self.tried(locked, Mode::Shared, at)?;
        Some(ArcRwLockUpgradableReadGuard::new(
            Arc::clone(self),
            acquisition,
        ))
    }

    /// [`try_upgradable_read_until`](Self::try_upgradable_read_until)
    /// through an `Arc`: a shared trylock once it succeeds.
    #[track_caller]
    pub fn try_upgradable_read_arc_until(
        self: &Arc<Self>,
        deadline: R::Instant,
    ) -> Option<ArcRwLockUpgradableReadGuard<R, T>> {
        let at = Location::caller();
        let locked = self.raw.try_lock_upgradable_until(deadline);
        let acquisition = self.tried(locked, Mode::Shared, at)?;
        Some(ArcRwLockUpgradableReadGuard::new(
            Arc::clone(self),
            acquisition,
        ))
    }
}

/// A [`RwLockReadGuard`] that owns an `Arc` of its lock, so it has no
/// lifetime (`lock_api`'s `ArcRwLockReadGuard`, with the `arc_lock`
/// feature). Validated as `RwLockReadGuard` is. Not `Send`.
#[cfg(feature = "arc_lock")]
#[must_use = "the lock is released when the guard is dropped"]
pub struct ArcRwLockReadGuard<R: RawRwLock, T: ?Sized> {
    lock: Arc<RwLock<R, T>>,
    acquisition: Acquisition,
}

/// A [`RwLockWriteGuard`] that owns an `Arc` of its lock, so it has no
/// lifetime (`lock_api`'s `ArcRwLockWriteGuard`). Validated as
/// `RwLockWriteGuard` is. Not `Send`.
#[cfg(feature = "arc_lock")]
#[must_use = "the lock is released when the guard is dropped"]
pub struct ArcRwLockWriteGuard<R: RawRwLock, T: ?Sized> {
    lock: Arc<RwLock<R, T>>,
    acquisition: Acquisition,
}

/// A [`RwLockUpgradableReadGuard`] that owns an `Arc` of its lock, so it has
/// no lifetime (`lock_api`'s `ArcRwLockUpgradableReadGuard`). Validated as
/// `RwLockUpgradableReadGuard` is. Not `Send`.
#[cfg(feature = "arc_lock")]
#[must_use = "the lock is released when the guard is dropped"]
pub struct ArcRwLockUpgradableReadGuard<R: RawRwLockUpgrade, T: ?Sized> {
    lock: Arc<RwLock<R, T>>,
    acquisition: Acquisition,
}

// SAFETY: as for `RwLockReadGuard`; `T: Send` too, since another thread can
// clone the `Arc` through `&Guard` and drop the lock with it.
#[cfg(feature = "arc_lock")]
unsafe impl<R: RawRwLock + Sync, T: ?Sized + Send + Sync> Sync for ArcRwLockReadGuard<R, T> {}
// SAFETY: as above.
#[cfg(feature = "arc_lock")]
unsafe impl<R: RawRwLock + Sync, T: ?Sized + Send + Sync> Sync for ArcRwLockWriteGuard<R, T> {}
// SAFETY: as above.
#[cfg(feature = "arc_lock")]
unsafe impl<R: RawRwLockUpgrade + Sync, T: ?Sized + Send + Sync> Sync
    for ArcRwLockUpgradableReadGuard<R, T>
{
}

#[cfg(feature = "arc_lock")]
guards!(;
    ArcRwLockReadGuard, ArcRwLockWriteGuard, ArcRwLockUpgradableReadGuard;
    Arc<RwLock<R, T>>
);

/// What only the arc guards have: the `Arc` itself, and giving it back.
#[cfg(feature = "arc_lock")]
macro_rules! arc_guard {
    ($guard:ident: $bound:ident, $fair:ident, $unlock:ident) => {
        impl<R: $bound, T: ?Sized> $guard<R, T> {
            /// The lock this guard holds, in its `Arc`.
            pub fn rwlock(s: &Self) -> &Arc<RwLock<R, T>> {
                &s.lock
            }

            /// Releases the lock and gives back the guard's `Arc` of it.
            /// Validated as a release, like dropping the guard.
            pub fn into_arc(s: Self) -> Arc<RwLock<R, T>> {
                let (lock, mut acquisition) = Self::into_parts(s);
                // SAFETY: the guard, now gone, held the raw lock in this mode.
                unsafe { lock.raw.$unlock() };
                lock.map.end(&mut acquisition);
                lock
            }
        }

        impl<R: $fair, T: ?Sized> $guard<R, T> {
            /// Releases the lock fairly and gives back the guard's `Arc` of
            /// it. Validated as a release, like dropping the guard.
            pub fn into_arc_fair(s: Self) -> Arc<RwLock<R, T>> {
                Self::release_fair(s)
            }
        }
    };
}

#[cfg(feature = "arc_lock")]
arc_guard!(ArcRwLockReadGuard: RawRwLock, RawRwLockFair, unlock_shared);
#[cfg(feature = "arc_lock")]
arc_guard!(ArcRwLockWriteGuard: RawRwLock, RawRwLockFair, unlock_exclusive);
#[cfg(feature = "arc_lock")]
arc_guard!(ArcRwLockUpgradableReadGuard: RawRwLockUpgrade, RawRwLockUpgradeFair, unlock_upgradable);

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
