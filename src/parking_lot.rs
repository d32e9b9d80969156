//! Validated drop-ins for the `parking_lot` crate: change
//! `use parking_lot::{..}` to `use lockdep::parking_lot::{..}`.
//!
//! The module is `parking_lot` 0.12's public surface, item by item, over
//! validated raw locks: `Mutex<T>` is `lock_api::Mutex<RawMutex, T>` where
//! [`RawMutex`] is the tracked raw mutex ([`crate::lock::Tracked`]), and so
//! on for every lock and guard; `lock_api` itself is re-exported. Code
//! generic over `lock_api::Mutex<R, T>`, or that names
//! `lock_api::RwLockUpgradableReadGuard<'_, RawRwLock, T>`, compiles
//! unchanged. What each operation is validated as is the table in
//! [`crate::lock`]; [`Condvar`] waits release and re-take the mutex (see
//! [`crate::Condvar`] for validating the wait itself), and [`Once`] running
//! or waiting for its initializer is an exclusive acquisition.
//!
//! A lock built here (`Mutex::new`, `const_mutex`, ...) goes through
//! `lock_api`'s `const fn new`, which has no construction site: its class
//! is the site of its **first acquisition** (see "Classes and nesting" in
//! the crate docs). The `const_*` functions are `#[track_caller]`: their
//! locks have their call site's class, as [`crate::Mutex::new`]'s do. To
//! name a class, build the lock with [`crate::Mutex::named`] (whose guards
//! are this module's) or from a raw lock:
//! `Mutex::from_raw(RawMutex::named("queue"), value)`.
//!
//! With this crate's `arc_lock` feature (`lock_api`'s), the guards that own
//! an `Arc` of their lock (`lock_arc`, `ArcMutexGuard`, ...); with
//! `send_guard`, guards are `Send`, as `parking_lot`'s are then (a guard
//! released on another thread: see the crate docs' limitations). Not provided:
//! `parking_lot::deadlock` (this crate's reports replace it).
//!
//! # Migrating
//!
//! A producer and a consumer, written for `parking_lot`. Only the `use`
//! line changed:
//!
//! ```
//! // Was: use parking_lot::{Condvar, Mutex};
//! use lockdep::parking_lot::{Condvar, Mutex};
//! use std::sync::Arc;
//! use std::thread;
//!
//! let shared = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
//! let producer = {
//!     let shared = Arc::clone(&shared);
//!     thread::spawn(move || {
//!         let (queue, ready) = &*shared;
//!         for item in 0..10 {
//!             queue.lock().push(item);
//!             ready.notify_one();
//!         }
//!     })
//! };
//!
//! let (queue, ready) = &*shared;
//! let mut received = Vec::new();
//! while received.len() < 10 {
//!     let mut items = queue.lock();
//!     ready.wait_while(&mut items, |items| items.is_empty());
//!     received.extend(items.drain(..));
//! }
//! producer.join().unwrap();
//! assert_eq!(received, (0..10).collect::<Vec<_>>());
//! ```
//!
//! And what it buys: two recursive readers in either order are fine, as with
//! `parking_lot` they are; two plain readers in opposite orders are reported,
//! because a writer waiting on each lock would hang them both.
//!
//! ```
//! use lockdep::parking_lot::RwLock;
//!
//! lockdep::set_action(lockdep::Action::Silent);
//! use lockdep::parking_lot::RawRwLock;
//! let a = RwLock::from_raw(RawRwLock::named("pl_doc_a"), 0);
//! let b = RwLock::from_raw(RawRwLock::named("pl_doc_b"), 0);
//! {
//!     let _a = a.read_recursive();
//!     let _b = b.read_recursive();
//! }
//! {
//!     let _b = b.read_recursive();
//!     let _a = a.read_recursive();
//! }
//! assert!(lockdep::reports().is_empty());
//! {
//!     let _a = a.read();
//!     let _b = b.read();
//! }
//! {
//!     let _b = b.read();
//!     let _a = a.read(); // reported: possible circular locking dependency
//! }
//! assert_eq!(lockdep::reports().len(), 1);
//! ```

use std::fmt;
use std::panic::Location;

use crate::class::ClassKey;
use crate::held::Mode;
use crate::lock::Tracked;
use crate::map::LockMap;

pub use crate::condvar::WaitTimeoutResult;
pub use crate::lock::{RawFairMutex, RawMutex, RawRwLock, RawThreadId};
pub use crate::raw::OnceState;
/// A condition variable shaped like `parking_lot::Condvar`: [`crate::Condvar`]
/// itself. Works with the guards of [`Mutex`] and [`FairMutex`].
pub use crate::Condvar;
pub use ::lock_api;

/// The guards that own an `Arc` of their lock (feature `arc_lock`):
/// `lock_api`'s, as `parking_lot` re-exports them.
#[cfg(feature = "arc_lock")]
pub use ::lock_api::{
    ArcMutexGuard, ArcReentrantMutexGuard, ArcRwLockReadGuard, ArcRwLockUpgradableReadGuard,
    ArcRwLockWriteGuard,
};

/// A validated `parking_lot::Mutex`.
pub type Mutex<T> = lock_api::Mutex<RawMutex, T>;
/// The guard of a [`Mutex`].
pub type MutexGuard<'a, T> = lock_api::MutexGuard<'a, RawMutex, T>;
/// A [`MutexGuard`] narrowed by `MutexGuard::map`.
pub type MappedMutexGuard<'a, T> = lock_api::MappedMutexGuard<'a, RawMutex, T>;

/// A validated `parking_lot::FairMutex`: unlocking hands the lock to the
/// next waiter.
pub type FairMutex<T> = lock_api::Mutex<RawFairMutex, T>;
/// The guard of a [`FairMutex`].
pub type FairMutexGuard<'a, T> = lock_api::MutexGuard<'a, RawFairMutex, T>;
/// A [`FairMutexGuard`] narrowed by `FairMutexGuard::map`.
pub type MappedFairMutexGuard<'a, T> = lock_api::MappedMutexGuard<'a, RawFairMutex, T>;

/// A validated `parking_lot::RwLock`.
pub type RwLock<T> = lock_api::RwLock<RawRwLock, T>;
/// Read guard of an [`RwLock`].
pub type RwLockReadGuard<'a, T> = lock_api::RwLockReadGuard<'a, RawRwLock, T>;
/// Write guard of an [`RwLock`].
pub type RwLockWriteGuard<'a, T> = lock_api::RwLockWriteGuard<'a, RawRwLock, T>;
/// Upgradable read guard of an [`RwLock`].
pub type RwLockUpgradableReadGuard<'a, T> = lock_api::RwLockUpgradableReadGuard<'a, RawRwLock, T>;
/// A [`RwLockReadGuard`] narrowed by `RwLockReadGuard::map`.
pub type MappedRwLockReadGuard<'a, T> = lock_api::MappedRwLockReadGuard<'a, RawRwLock, T>;
/// A [`RwLockWriteGuard`] narrowed by `RwLockWriteGuard::map`.
pub type MappedRwLockWriteGuard<'a, T> = lock_api::MappedRwLockWriteGuard<'a, RawRwLock, T>;

/// A validated `parking_lot::ReentrantMutex`.
pub type ReentrantMutex<T> = lock_api::ReentrantMutex<RawMutex, RawThreadId, T>;
/// The guard of a [`ReentrantMutex`].
pub type ReentrantMutexGuard<'a, T> = lock_api::ReentrantMutexGuard<'a, RawMutex, RawThreadId, T>;
/// A [`ReentrantMutexGuard`] narrowed by `ReentrantMutexGuard::map`.
pub type MappedReentrantMutexGuard<'a, T> =
    lock_api::MappedReentrantMutexGuard<'a, RawMutex, RawThreadId, T>;

/// A [`Mutex`] built in a const context, like `parking_lot::const_mutex`.
/// Its class is the call site.
#[track_caller]
pub const fn const_mutex<T>(value: T) -> Mutex<T> {
    Mutex::from_raw(Tracked::of::<T>(Location::caller()), value)
}

/// A [`FairMutex`] built in a const context. Its class is the call site.
#[track_caller]
pub const fn const_fair_mutex<T>(value: T) -> FairMutex<T> {
    FairMutex::from_raw(Tracked::of::<T>(Location::caller()), value)
}

/// An [`RwLock`] built in a const context. Its class is the call site.
#[track_caller]
pub const fn const_rwlock<T>(value: T) -> RwLock<T> {
    RwLock::from_raw(Tracked::of::<T>(Location::caller()), value)
}

/// A [`ReentrantMutex`] built in a const context. Its class is the call site.
#[track_caller]
pub const fn const_reentrant_mutex<T>(value: T) -> ReentrantMutex<T> {
    ReentrantMutex::from_raw(
        Tracked::of::<T>(Location::caller()),
        <RawThreadId as lock_api::GetThreadId>::INIT,
        value,
    )
}

/// A one-time initialization shaped like `parking_lot::Once`. Running the
/// initializer, or waiting for another thread's, is an exclusive acquisition
/// of the `Once`'s class (see [`crate::Once`]).
pub struct Once {
    inner: crate::raw::Once,
    map: LockMap,
}

impl Once {
    /// A `Once` whose class is the call site, printed as `(once)file:line:column`.
    #[track_caller]
    pub const fn new() -> Once {
        Once::with_name(Location::caller(), None)
    }

    /// A `Once` whose class is the call site, printed as `name`.
    #[track_caller]
    pub const fn named(name: &'static str) -> Once {
        Once::with_name(Location::caller(), Some(name))
    }

    /// A `Once` of the class of a static key.
    pub const fn with_key(key: &'static ClassKey) -> Once {
        Once {
            inner: crate::raw::Once::new(),
            map: LockMap::with_key(key),
        }
    }

    const fn with_name(at: &'static Location<'static>, name: Option<&'static str>) -> Once {
        Once {
            inner: crate::raw::Once::new(),
            map: crate::once::site::<()>(at, name),
        }
    }

    /// The current state: new, in progress, done or poisoned.
    pub fn state(&self) -> OnceState {
        self.inner.state()
    }

    /// Runs `f` if no call has completed yet; otherwise waits for the one in
    /// progress. Panics if a previous initializer panicked (poisoning).
    #[track_caller]
    pub fn call_once<F: FnOnce()>(&self, f: F) {
        if self.enter(Location::caller()) {
            let _init = self.map.hold(Mode::Exclusive);
            self.inner.call_once(f);
        }
    }

    /// Like [`call_once`](Self::call_once), but runs even if a previous
    /// initializer panicked; `f` is told the state it found.
    #[track_caller]
    pub fn call_once_force<F: FnOnce(OnceState)>(&self, f: F) {
        if self.enter(Location::caller()) {
            let _init = self.map.hold(Mode::Exclusive);
            self.inner.call_once_force(f);
        }
    }

    /// Whether a call must run or wait: an initialized `Once` is not waited
    /// on, but is still validated if the thread holds a lock.
    fn enter(&self, at: &'static Location<'static>) -> bool {
        let done = self.inner.state().done();
        if done {
            self.map.touch_if_holding(Mode::Exclusive, at);
        }
        !done
    }
}

impl Default for Once {
    #[track_caller]
    fn default() -> Self {
        Once::new()
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once")
            .field("state", &self.state())
            .finish()
    }
}
