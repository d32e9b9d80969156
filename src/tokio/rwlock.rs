//! `tokio::sync::RwLock`, instrumented. A write is an exclusive
//! acquisition; a read is a shared, **non-recursive** one: tokio's lock is
//! fair, so a second read queues behind a waiting writer, and a task that
//! reads twice while a writer waits hangs.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::sync::Arc;

use crate::held::Mode;
use crate::tokio::map::{uncontended, AsyncMap, Hold, MapHandle};
use crate::tokio::mutex::{async_lock_new, guard_deref};
use crate::tokio::TryLockError;

/// An async reader-writer lock, like `tokio::sync::RwLock`, validated in
/// the task that takes it.
pub struct RwLock<T: ?Sized> {
    map: AsyncMap,
    inner: ::tokio::sync::RwLock<T>,
}

async_lock_new!(RwLock, ::tokio::sync::RwLock<T>, "reader-writer lock");

impl<T: ?Sized> RwLock<T> {
    /// Takes a read lock: a shared, non-recursive acquisition.
    #[track_caller]
    pub fn read(&self) -> impl Future<Output = RwLockReadGuard<'_, T>> {
        let at = Location::caller();
        async move {
            let hold = Hold::new(&self.map, Mode::Shared, false, at);
            let inner = match uncontended(|| self.inner.try_read().ok()).await {
                Some(inner) => inner,
                None => self.inner.read().await,
            };
            RwLockReadGuard { inner, _hold: hold }
        }
    }

    /// Takes the write lock: an exclusive acquisition.
    #[track_caller]
    pub fn write(&self) -> impl Future<Output = RwLockWriteGuard<'_, T>> {
        let at = Location::caller();
        async move {
            let hold = Hold::new(&self.map, Mode::Exclusive, false, at);
            let inner = match uncontended(|| self.inner.try_write().ok()).await {
                Some(inner) => inner,
                None => self.inner.write().await,
            };
            RwLockWriteGuard { inner, hold }
        }
    }

    /// A read lock if one is free now: a shared trylock.
    #[track_caller]
    pub fn try_read(&self) -> Result<RwLockReadGuard<'_, T>, TryLockError> {
        let inner = self.inner.try_read()?;
        let hold = Hold::new(&self.map, Mode::Shared, true, Location::caller());
        Ok(RwLockReadGuard { inner, _hold: hold })
    }

    /// The write lock if it is free now: an exclusive trylock.
    #[track_caller]
    pub fn try_write(&self) -> Result<RwLockWriteGuard<'_, T>, TryLockError> {
        let inner = self.inner.try_write()?;
        let hold = Hold::new(&self.map, Mode::Exclusive, true, Location::caller());
        Ok(RwLockWriteGuard { inner, hold })
    }

    /// A read lock from synchronous code, blocking the thread.
    #[track_caller]
    pub fn blocking_read(&self) -> RwLockReadGuard<'_, T> {
        let hold = Hold::new(&self.map, Mode::Shared, false, Location::caller());
        let inner = self.inner.blocking_read();
        RwLockReadGuard { inner, _hold: hold }
    }

    /// The write lock from synchronous code, blocking the thread.
    #[track_caller]
    pub fn blocking_write(&self) -> RwLockWriteGuard<'_, T> {
        let hold = Hold::new(&self.map, Mode::Exclusive, false, Location::caller());
        let inner = self.inner.blocking_write();
        RwLockWriteGuard { inner, hold }
    }

    /// The protected value, through a unique reference: no locking.
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }
}

impl<T: ?Sized + 'static> RwLock<T> {
    /// [`read`](Self::read), for a guard that owns an `Arc` of the lock.
    #[track_caller]
    pub fn read_owned(self: Arc<Self>) -> impl Future<Output = OwnedRwLockReadGuard<T>> {
        let at = Location::caller();
        async move {
            let hold = Hold::new(self, Mode::Shared, false, at);
            let lock = owned_target(&hold.handle);
            let inner = match uncontended(|| lock.inner.try_read().ok()).await {
                Some(inner) => inner,
                None => lock.inner.read().await,
            };
            OwnedRwLockReadGuard { inner, _hold: hold }
        }
    }

    /// [`write`](Self::write), for a guard that owns an `Arc` of the lock.
    #[track_caller]
    pub fn write_owned(self: Arc<Self>) -> impl Future<Output = OwnedRwLockWriteGuard<T>> {
        let at = Location::caller();
        async move {
            let hold = Hold::new(self, Mode::Exclusive, false, at);
            let lock = owned_target(&hold.handle);
            let inner = match uncontended(|| lock.inner.try_write().ok()).await {
                Some(inner) => inner,
                None => lock.inner.write().await,
            };
            OwnedRwLockWriteGuard { inner, _hold: hold }
        }
    }
}

fn owned_target<T: ?Sized>(lock: &Arc<RwLock<T>>) -> &'static RwLock<T> {
    // SAFETY: as in `mutex::owned_target`: the borrow lives in an owned
    // guard's `inner`, which drops before its `hold`, which owns the `Arc`.
    unsafe { &*Arc::as_ptr(lock) }
}

impl<T: ?Sized> MapHandle for Arc<RwLock<T>> {
    fn async_map(&self) -> &AsyncMap {
        &self.map
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RwLock")
            .field("inner", &&self.inner)
            .finish()
    }
}

/// A read lock of a [`RwLock`]; `Send` when `T` is `Sync`.
#[must_use = "the lock is released when the guard is dropped"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    inner: ::tokio::sync::RwLockReadGuard<'a, T>,
    _hold: Hold<&'a AsyncMap>,
}

/// The write lock of a [`RwLock`].
#[must_use = "the lock is released when the guard is dropped"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    inner: ::tokio::sync::RwLockWriteGuard<'a, T>,
    hold: Hold<&'a AsyncMap>,
}

/// A read lock that owns an `Arc` of its [`RwLock`].
#[must_use = "the lock is released when the guard is dropped"]
pub struct OwnedRwLockReadGuard<T: ?Sized + 'static> {
    inner: ::tokio::sync::RwLockReadGuard<'static, T>,
    _hold: Hold<Arc<RwLock<T>>>,
}

/// The write lock, owning an `Arc` of its [`RwLock`].
#[must_use = "the lock is released when the guard is dropped"]
pub struct OwnedRwLockWriteGuard<T: ?Sized + 'static> {
    inner: ::tokio::sync::RwLockWriteGuard<'static, T>,
    _hold: Hold<Arc<RwLock<T>>>,
}

guard_deref!(['a, T: ?Sized] RwLockReadGuard<'a, T> => T);
guard_deref!(['a, T: ?Sized] RwLockWriteGuard<'a, T> => T, mut);
guard_deref!([T: ?Sized + 'static] OwnedRwLockReadGuard<T> => T);
guard_deref!([T: ?Sized + 'static] OwnedRwLockWriteGuard<T> => T, mut);

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    /// Turns the write lock into a read lock without letting a writer in:
    /// the held entry changes mode in place.
    pub fn downgrade(this: Self) -> RwLockReadGuard<'a, T> {
        let RwLockWriteGuard { inner, hold } = this;
        hold.handle.change_mode(&hold.held, Mode::Shared);
        RwLockReadGuard {
            inner: ::tokio::sync::RwLockWriteGuard::downgrade(inner),
            _hold: hold,
        }
    }
}
