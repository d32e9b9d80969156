//! `tokio::sync::Mutex`, instrumented: every lock is an exclusive
//! acquisition of the mutex's class, validated at the first poll of
//! `lock()`, before it can wait.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::sync::Arc;

use crate::held::Mode;
use crate::tokio::map::{uncontended, AsyncMap, Hold, MapHandle};

/// An async mutex, like `tokio::sync::Mutex`, whose acquisitions are
/// validated in the task that makes them. Its class is its construction
/// site and the protected type, or a name, or a key.
pub struct Mutex<T: ?Sized> {
    map: AsyncMap,
    inner: ::tokio::sync::Mutex<T>,
}

/// The constructors of an async lock `$lock<T>` over tokio's `$inner`
/// (and `Default`): one definition for [`Mutex`] and `RwLock`.
macro_rules! async_lock_new {
    ($lock:ident, $inner:ty, $what:literal) => {
        impl<T> $lock<T> {
            #[doc = concat!("A ", $what, " whose class is the call site (and `T`).")]
            #[track_caller]
            pub fn new(value: T) -> $lock<T> {
                Self::const_new(value)
            }

            /// [`new`](Self::new), in a `const` context (a `static`).
            #[track_caller]
            pub const fn const_new(value: T) -> $lock<T> {
                Self::with_map(
                    $crate::map::LockMap::of::<T>(
                        std::panic::Location::caller(),
                        $crate::class::Prefix::None,
                    ),
                    value,
                )
            }

            #[doc = concat!("A ", $what, " whose class is the call site and `name`, printed `name`.")]
            #[track_caller]
            pub const fn named(name: &'static str, value: T) -> $lock<T> {
                Self::with_map(
                    $crate::map::LockMap::named_at(
                        std::panic::Location::caller(),
                        name,
                        $crate::class::Prefix::None,
                    ),
                    value,
                )
            }

            #[doc = concat!("A ", $what, " of the class of a static key.")]
            pub const fn with_key(key: &'static $crate::ClassKey, value: T) -> $lock<T> {
                Self::with_map($crate::map::LockMap::with_key(key), value)
            }

            const fn with_map(map: $crate::map::LockMap, value: T) -> $lock<T> {
                $lock {
                    map: $crate::tokio::map::AsyncMap::new(map),
                    inner: <$inner>::const_new(value),
                }
            }

            /// The protected value.
            pub fn into_inner(self) -> T {
                self.inner.into_inner()
            }
        }

        impl<T: Default> Default for $lock<T> {
            #[track_caller]
            fn default() -> Self {
                $lock::new(T::default())
            }
        }
    };
}
pub(crate) use async_lock_new;

async_lock_new!(Mutex, ::tokio::sync::Mutex<T>, "mutex");

impl<T: ?Sized> Mutex<T> {
    /// Locks the mutex, waiting in FIFO order: an exclusive acquisition,
    /// validated when first polled. A free mutex is taken without queueing
    /// (see `uncontended`), with tokio's cooperative budget consumed as
    /// tokio's own `lock` does.
    #[track_caller]
    pub fn lock(&self) -> impl Future<Output = MutexGuard<'_, T>> {
        let at = Location::caller();
        async move {
            let hold = Hold::new(&self.map, Mode::Exclusive, false, at);
            let inner = match uncontended(|| self.inner.try_lock().ok()).await {
                Some(inner) => inner,
                None => self.inner.lock().await,
            };
            MutexGuard { inner, _hold: hold }
        }
    }

    /// Locks the mutex if it is free: a trylock.
    #[track_caller]
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        let inner = self.inner.try_lock()?;
        let hold = Hold::new(&self.map, Mode::Exclusive, true, Location::caller());
        Ok(MutexGuard { inner, _hold: hold })
    }

    /// Locks the mutex from synchronous code, blocking the thread (tokio
    /// panics if that is an async context): an exclusive acquisition.
    #[track_caller]
    pub fn blocking_lock(&self) -> MutexGuard<'_, T> {
        let hold = Hold::new(&self.map, Mode::Exclusive, false, Location::caller());
        let inner = self.inner.blocking_lock();
        MutexGuard { inner, _hold: hold }
    }

    /// The protected value, through a unique reference: no locking.
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }
}

impl<T: ?Sized + 'static> Mutex<T> {
    /// [`lock`](Self::lock), for a guard that owns an `Arc` of the mutex.
    #[track_caller]
    pub fn lock_owned(self: Arc<Self>) -> impl Future<Output = OwnedMutexGuard<T>> {
        let at = Location::caller();
        async move {
            let hold = Hold::new(self, Mode::Exclusive, false, at);
            let lock = owned_target(&hold.handle);
            let inner = match uncontended(|| lock.inner.try_lock().ok()).await {
                Some(inner) => inner,
                None => lock.inner.lock().await,
            };
            OwnedMutexGuard { inner, hold }
        }
    }

    /// [`try_lock`](Self::try_lock), for a guard that owns an `Arc` of the
    /// mutex.
    #[track_caller]
    pub fn try_lock_owned(self: Arc<Self>) -> Result<OwnedMutexGuard<T>, TryLockError> {
        let lock = owned_target(&self);
        let inner = lock.inner.try_lock()?;
        let hold = Hold::new(self, Mode::Exclusive, true, Location::caller());
        Ok(OwnedMutexGuard { inner, hold })
    }

    /// [`blocking_lock`](Self::blocking_lock), for a guard that owns an
    /// `Arc` of the mutex.
    #[track_caller]
    pub fn blocking_lock_owned(self: Arc<Self>) -> OwnedMutexGuard<T> {
        let hold = Hold::new(self, Mode::Exclusive, false, Location::caller());
        let lock = owned_target(&hold.handle);
        let inner = lock.inner.blocking_lock();
        OwnedMutexGuard { inner, hold }
    }
}

/// The lock an owned guard borrows its raw guard from, for as long as the
/// guard lives.
fn owned_target<L: ?Sized>(lock: &Arc<L>) -> &'static L {
    // SAFETY: every caller stores the returned reference's borrow (a raw
    // tokio guard) in an owned guard whose `hold` field, declared after
    // it, owns this `Arc` (or a clone of it): fields drop in order, so the
    // raw guard is gone before the `Arc` is dropped, and the lock lives, at
    // the `Arc`'s fixed address, as long as any reference derived here is
    // used. While a lock future waits, the `Arc` is in its `hold`, a local
    // declared before tokio's queued future, which is dropped first. The
    // reference is never handed out of the guard or the future.
    unsafe { &*Arc::as_ptr(lock) }
}

impl<T: ?Sized> MapHandle for Arc<Mutex<T>> {
    fn async_map(&self) -> &AsyncMap {
        &self.map
    }
}

/// The error of a `try_lock`, tokio's.
pub use ::tokio::sync::TryLockError;

impl<T> From<T> for Mutex<T> {
    #[track_caller]
    fn from(value: T) -> Self {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex")
            .field("inner", &&self.inner)
            .finish()
    }
}

/// A held [`Mutex`]. `Send` (when `T` is `Send + Sync`), like tokio's:
/// dropped in another task or thread, its release is queued for the task
/// that took it.
#[must_use = "the lock is released when the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    inner: ::tokio::sync::MutexGuard<'a, T>,
    _hold: Hold<&'a AsyncMap>,
}

/// A held [`Mutex`] that owns an `Arc` of it.
#[must_use = "the lock is released when the guard is dropped"]
pub struct OwnedMutexGuard<T: ?Sized + 'static> {
    inner: ::tokio::sync::MutexGuard<'static, T>,
    hold: Hold<Arc<Mutex<T>>>,
}

/// Deref, `Debug` and `Display` for a guard type whose `inner` derefs to
/// the value: one definition for each guard of this module's locks.
macro_rules! guard_deref {
    ([$($gen:tt)*] $guard:ty => $t:ident) => {
        impl<$($gen)*> std::ops::Deref for $guard {
            type Target = $t;
            fn deref(&self) -> &$t {
                &self.inner
            }
        }

        impl<$($gen)*> std::fmt::Debug for $guard
        where
            $t: std::fmt::Debug,
        {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&**self, f)
            }
        }

        impl<$($gen)*> std::fmt::Display for $guard
        where
            $t: std::fmt::Display,
        {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&**self, f)
            }
        }
    };
    ([$($gen:tt)*] $guard:ty => $t:ident, mut) => {
        guard_deref!([$($gen)*] $guard => $t);

        impl<$($gen)*> std::ops::DerefMut for $guard {
            fn deref_mut(&mut self) -> &mut $t {
                &mut self.inner
            }
        }
    };
}
pub(crate) use guard_deref;

guard_deref!(['a, T: ?Sized] MutexGuard<'a, T> => T, mut);
guard_deref!([T: ?Sized + 'static] OwnedMutexGuard<T> => T, mut);

impl<T: ?Sized> OwnedMutexGuard<T> {
    /// The mutex the guard holds.
    pub fn mutex(this: &Self) -> &Arc<Mutex<T>> {
        &this.hold.handle
    }
}
