//! [`RwLock<T>`]: `lock_api`'s reader-writer lock over the tracked raw
//! one, with lockdep's constructors and annotations.

use super::{InnerRwLock, RawRwLock, RwLockReadGuard, RwLockWriteGuard, Tracked};
use crate::held::Mode;
use crate::map::AsLockMap;

impl<T: ?Sized> RwLock<T> {
    /// `lock_api`'s `read` (here too, for calls by path).
    #[inline]
    #[track_caller]
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        self.inner.read()
    }

    /// `lock_api`'s `write` (here too, for calls by path).
    #[inline]
    #[track_caller]
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.inner.write()
    }

    /// [`RwLockExt::write_nested`].
    #[track_caller]
    pub fn write_nested(&self, subclass: u32) -> RwLockWriteGuard<'_, T> {
        self.inner.write_nested(subclass)
    }

    /// [`RwLockExt::read_under`].
    #[track_caller]
    pub fn read_under(&self, nest: &impl AsLockMap) -> RwLockReadGuard<'_, T> {
        self.inner.read_under(nest)
    }

    /// [`RwLockExt::write_under`].
    #[track_caller]
    pub fn write_under(&self, nest: &impl AsLockMap) -> RwLockWriteGuard<'_, T> {
        self.inner.write_under(nest)
    }

    /// [`RwLockExt::might_write`].
    #[track_caller]
    pub fn might_write(&self) {
        self.inner.might_write();
    }

    /// [`RwLockExt::might_read`].
    #[track_caller]
    pub fn might_read(&self) {
        self.inner.might_read();
    }
}

/// The read guard of a `lock_api` reader-writer lock over `Tracked<R>`.
type ReadGuard<'a, R, T> = lock_api::RwLockReadGuard<'a, Tracked<R>, T>;
/// Its write guard.
type WriteGuard<'a, R, T> = lock_api::RwLockWriteGuard<'a, Tracked<R>, T>;

/// lockdep's annotations on any `lock_api` reader-writer lock over a
/// tracked raw one (a [`crate::parking_lot::RwLock`]); [`RwLock`] has them
/// inherently.
pub trait RwLockExt<R: lock_api::RawRwLock, T: ?Sized> {
    /// Locks for writing as subclass `subclass` of the lock's class.
    #[track_caller]
    fn write_nested(&self, subclass: u32) -> WriteGuard<'_, R, T>;

    /// Locks for reading (shared, non-recursive) under a nest lock this
    /// thread holds (see [`MutexExt::lock_under`](super::MutexExt::lock_under)).
    #[track_caller]
    fn read_under(&self, nest: &impl AsLockMap) -> ReadGuard<'_, R, T>;

    /// Locks for writing under a nest lock this thread holds.
    #[track_caller]
    fn write_under(&self, nest: &impl AsLockMap) -> WriteGuard<'_, R, T>;

    /// Validates, here, a write that only happens on some path.
    #[track_caller]
    fn might_write(&self);

    /// Validates, here, a (non-recursive) read that only happens on some
    /// path.
    #[track_caller]
    fn might_read(&self);
}

impl<R: lock_api::RawRwLock, T: ?Sized> RwLockExt<R, T> for lock_api::RwLock<Tracked<R>, T> {
    #[track_caller]
    fn write_nested(&self, subclass: u32) -> WriteGuard<'_, R, T> {
        // SAFETY (here and below): the tracked raw lock is locked once, in
        // the guard's mode, and the guard made at once is its only owner.
        unsafe {
            let raw = self.raw();
            raw.lock_nested(Mode::Exclusive, subclass, R::lock_exclusive);
            self.make_write_guard_unchecked()
        }
    }

    #[track_caller]
    fn read_under(&self, nest: &impl AsLockMap) -> ReadGuard<'_, R, T> {
        unsafe {
            self.raw().lock_under(Mode::Shared, nest, R::lock_shared);
            self.make_read_guard_unchecked()
        }
    }

    #[track_caller]
    fn write_under(&self, nest: &impl AsLockMap) -> WriteGuard<'_, R, T> {
        unsafe {
            self.raw()
                .lock_under(Mode::Exclusive, nest, R::lock_exclusive);
            self.make_write_guard_unchecked()
        }
    }

    #[track_caller]
    fn might_write(&self) {
        self.as_lock_map().might_acquire(Mode::Exclusive);
    }

    #[track_caller]
    fn might_read(&self) {
        self.as_lock_map().might_acquire(Mode::Shared);
    }
}

super::newtype! {
    /// A reader-writer lock whose order against other locks is validated.
    ///
    /// It derefs to `lock_api::RwLock<RawRwLock, T>` (the same type as
    /// [`crate::parking_lot::RwLock<T>`]), and its guards are `lock_api`'s:
    /// `read`, `read_recursive`, `write`, `upgradable_read`, their `try_`,
    /// timed and `arc` forms, and the guards' `upgrade`, `downgrade`,
    /// `with_upgraded`, `unlocked`, `bump`, `map` are `lock_api`'s, validated
    /// as the table in [`crate::lock`] says: `read` is shared and **not**
    /// recursive (a waiting writer blocks it), `read_recursive` is. With
    /// dependency types and strong cycles, a pattern of readers that cannot
    /// deadlock is not reported, and one that can behind a waiting writer is.
    RwLock(lock_api::RwLock<RawRwLock, T>, InnerRwLock)
}
