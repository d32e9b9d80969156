//! [`Mutex<T>`]: `lock_api`'s mutex over the tracked raw mutex, with
//! lockdep's constructors and annotations.

use super::{InnerMutex, MutexGuard, RawMutex, Tracked};
use crate::held::Mode;
use crate::map::AsLockMap;

impl<T: ?Sized> Mutex<T> {
    /// `lock_api`'s `lock` (here too, for calls by path, `Mutex::lock(&m)`).
    #[inline(always)]
    #[track_caller]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.inner.lock()
    }

    /// [`MutexExt::lock_nested`].
    #[inline(always)]
    #[track_caller]
    pub fn lock_nested(&self, subclass: u32) -> MutexGuard<'_, T> {
        self.inner.lock_nested(subclass)
    }

    /// [`MutexExt::lock_under`].
    #[inline(always)]
    #[track_caller]
    pub fn lock_under(&self, nest: &impl AsLockMap) -> MutexGuard<'_, T> {
        self.inner.lock_under(nest)
    }

    /// [`MutexExt::lock_ordered`].
    #[track_caller]
    pub fn lock_ordered(&self, key: u64) -> MutexGuard<'_, T> {
        self.inner.lock_ordered(key)
    }

    /// [`MutexExt::might_lock`].
    #[track_caller]
    pub fn might_lock(&self) {
        self.inner.might_lock();
    }
}

/// lockdep's annotations on any `lock_api` mutex over a tracked raw mutex
/// (a [`crate::parking_lot::Mutex`] or `FairMutex`); [`Mutex`] has them
/// inherently.
pub trait MutexExt<R: lock_api::RawMutex, T: ?Sized> {
    /// Acquires the mutex as subclass `subclass` of its class, for nesting
    /// two locks of one class in a fixed order (parent 0, child 1, ...).
    #[track_caller]
    fn lock_nested(&self, subclass: u32) -> lock_api::MutexGuard<'_, Tracked<R>, T>;

    /// Acquires the mutex under a *nest lock* held by this thread: any
    /// number of mutexes of this class taken after `nest` may then be held
    /// together, since `nest` serializes everyone who takes them (the
    /// kernel's `mutex_lock_nest_lock`). Not holding `nest` is reported,
    /// and so is a nest lock taken after the first mutex of the class.
    #[track_caller]
    fn lock_under(&self, nest: &impl AsLockMap) -> lock_api::MutexGuard<'_, Tracked<R>, T>;

    /// Acquires a mutex of an ordered class ([`ClassKey::ordered`](crate::ClassKey::ordered)) with an
    /// explicit order key: mutexes of the class may be nested in increasing
    /// key order, and nesting them out of order is reported.
    #[track_caller]
    fn lock_ordered(&self, key: u64) -> lock_api::MutexGuard<'_, Tracked<R>, T>;

    /// Validates, here, an acquisition that only happens on some path (an
    /// acquisition released at once), so its order is checked on every run.
    #[track_caller]
    fn might_lock(&self);
}

impl<R: lock_api::RawMutex, T: ?Sized> MutexExt<R, T> for lock_api::Mutex<Tracked<R>, T> {
    #[inline(always)]
    #[track_caller]
    fn lock_nested(&self, subclass: u32) -> lock_api::MutexGuard<'_, Tracked<R>, T> {
        // SAFETY (here and below): the tracked raw lock is locked once, and
        // the guard made for it at once is its only owner.
        unsafe {
            self.raw().lock_nested(Mode::Exclusive, subclass, R::lock);
            self.make_guard_unchecked()
        }
    }

    #[inline(always)]
    #[track_caller]
    fn lock_under(&self, nest: &impl AsLockMap) -> lock_api::MutexGuard<'_, Tracked<R>, T> {
        unsafe {
            self.raw().lock_under(Mode::Exclusive, nest, R::lock);
            self.make_guard_unchecked()
        }
    }

    #[track_caller]
    fn lock_ordered(&self, key: u64) -> lock_api::MutexGuard<'_, Tracked<R>, T> {
        unsafe {
            self.raw().lock_ordered(key, R::lock);
            self.make_guard_unchecked()
        }
    }

    #[track_caller]
    fn might_lock(&self) {
        self.as_lock_map().might_acquire(Mode::Exclusive);
    }
}

super::newtype! {
    /// A mutual-exclusion lock whose order against other locks is validated.
    ///
    /// It derefs to `lock_api::Mutex<RawMutex, T>` (the same type as
    /// [`crate::parking_lot::Mutex<T>`]), and its guard is `lock_api`'s
    /// [`MutexGuard`](crate::MutexGuard): `lock`, `try_lock`, the timed locks,
    /// the guard methods (`map`, `unlocked`, `bump`, `unlock_fair`, `leak`),
    /// `force_unlock`, `lock_arc` (through
    /// `into_lock_api`, with the `arc_lock` feature) are `lock_api`'s, validated as
    /// the table in [`crate::lock`] says. What this type adds: a class from
    /// the construction site and the protected type (`#[track_caller]`), or a
    /// name or a key, and the annotations below.
    Mutex(lock_api::Mutex<RawMutex, T>, InnerMutex)
}
