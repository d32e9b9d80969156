//! [`ReentrantMutex<T>`]: `lock_api`'s re-entrant mutex over the tracked
//! raw mutex, with lockdep's constructors.

use lock_api::GetThreadId;

use super::{InnerMutex, RawMutex, RawThreadId, ReentrantMutexGuard, Tracked};

impl<T: ?Sized> ReentrantMutex<T> {
    /// `lock_api`'s `lock` (here too, for calls by path).
    #[inline]
    #[track_caller]
    pub fn lock(&self) -> ReentrantMutexGuard<'_, T> {
        self.inner.lock()
    }
}

super::newtype! {
    /// A mutex that its owner may lock again, whose order against other locks
    /// is validated. Guards give shared access only (`&T`).
    ///
    /// It derefs to `lock_api::ReentrantMutex<RawMutex, RawThreadId, T>` (the
    /// same type as [`crate::parking_lot::ReentrantMutex<T>`]), whose guards
    /// are `lock_api`'s. `lock_api` calls the raw mutex only at a thread's
    /// first acquisition and last release, so the validator sees one
    /// exclusive acquisition for as long as the thread owns the lock: a
    /// re-take by the owner cannot block, and is not one. Its order against
    /// other locks is checked like any mutex's.
    ///
    /// ```
    /// use lockdep::ReentrantMutex;
    /// use std::cell::Cell;
    ///
    /// static LOG: ReentrantMutex<Cell<u32>> = ReentrantMutex::named("log", Cell::new(0));
    ///
    /// fn write() {
    ///     let log = LOG.lock();
    ///     log.set(log.get() + 1);
    /// }
    ///
    /// let outer = LOG.lock();
    /// write(); // locks LOG again on this thread: fine, and not reported
    /// assert_eq!(lockdep::held_locks().len(), 1);
    /// drop(outer);
    /// assert_eq!(LOG.lock().get(), 1);
    /// ```
    ///
    /// `lock_api`'s `RawReentrantMutex` is not `#[track_caller]`: the
    /// acquisition is recorded at a line of `lock_api`'s source, not the
    /// caller's.
    ReentrantMutex(lock_api::ReentrantMutex<RawMutex, RawThreadId, T>, InnerMutex, RawThreadId::INIT)
}
