//! Validated drop-ins for the `parking_lot` crate: change
//! `use parking_lot::{..}` to `use lockdep::parking_lot::{..}`.
//!
//! The names and shapes are `parking_lot`'s: guards are returned directly,
//! guard methods are associated functions (`MutexGuard::map(guard, ..)`), the
//! [`Condvar`] waits on `&mut MutexGuard`, and there is no poisoning. Each
//! way of taking a lock is validated with the semantics it really has (see
//! [`crate::generic::RwLock`] for the reader-writer table):
//!
//! | primitive | validated as |
//! |---|---|
//! | [`Mutex`], [`FairMutex`] | exclusive |
//! | [`RwLock::write`] | exclusive |
//! | [`RwLock::read`] | shared: a waiting writer blocks it, so two readers can deadlock |
//! | [`RwLock::read_recursive`] | recursive shared: only a writer that holds the lock blocks it |
//! | [`RwLock::upgradable_read`] | shared; `upgrade` is an exclusive acquisition made then |
//! | [`ReentrantMutex`] | exclusive once per owning thread; re-locking by the owner is not an acquisition |
//! | [`Condvar`] waits | releases and re-takes the mutex; see [`crate::Condvar`] for validating the wait itself |
//! | [`Once`] | running or waiting for the initializer is an exclusive acquisition |
//! | `try_lock`, `try_read`, `try_write`, `try_read_recursive`, `try_upgradable_read`, `try_upgrade` | trylocks in the mode of the blocking method: they never wait, so nothing depends on them |
//! | the timed `*_for` / `*_until` methods (`try_lock_for`, `try_read_until`, `try_upgrade_for`, ...) | trylocks too once they succeed: a timed wait cannot wait forever, so a timed lock taken in an ABBA order is **not** reported |
//! | `with_upgraded` | `upgrade` (exclusive, acquired then), then back to shared after the closure; `try_with_upgraded*` upgrade as a trylock |
//! | guard `unlocked`, `unlocked_fair` | a release while the closure runs, then a new blocking acquisition, as a condvar wait's re-take: exclusive for mutex and write guards, shared for read and upgradable ones; a [`ReentrantMutex`] guard does this only if it held the thread's last level |
//! | guard `bump` | a release and a new blocking acquisition (the mode `unlocked` uses), before the raw bump, which may hand the lock to a waiter and wait for it |
//! | guard `unlock_fair` (mapped guards too) | a release, like dropping the guard |
//! | `MutexGuard::leak` | stays held, in the validator as in the lock |
//! | `force_unlock`, `force_unlock_fair`, `force_unlock_read`, `force_unlock_write` (+ `_fair`) | unsafe; releases the calling thread's acquisition of the lock (a forgotten guard's). If the thread holds none, a bad unlock balance is reported |
//! | `raw` | unsafe; nothing: locking the raw lock directly bypasses the validator |
//! | `assert_held`, `assert_not_held`, `pin` | not acquisitions: checks on what the calling thread holds (see [`crate::Mutex::assert_held`]) |
//! | `set_subclass` | re-annotates the held acquisition, re-validating the locks held above it (see [`crate::LockMap::set_subclass`]) |
//! | `is_locked`, `is_locked_exclusive`, `is_owned_by_current_thread`, `data_ptr`, `get_mut`, `into_inner` | nothing: not acquisitions |
//! | with the `arc_lock` feature, on a lock in an `Arc`: `lock_arc`, `read_arc`, `write_arc`, `upgradable_read_arc`, `read_arc_recursive`, and their `try_` and timed forms (`try_lock_arc_for`, `try_write_arc_until`, ...) | as the method without `arc`; the guard (`ArcMutexGuard`, `ArcRwLockReadGuard`, `ArcRwLockWriteGuard`, `ArcRwLockUpgradableReadGuard`, `ArcReentrantMutexGuard`) owns an `Arc` of the lock, and its methods (`unlocked`, `bump`, `upgrade`, `downgrade`, ...) are validated as the borrowed guard's |
//! | arc guards' `into_arc`, `into_arc_fair` | a release, like dropping the guard; the `Arc` is given back |
//!
//! See [`crate::generic::Mutex`], [`crate::generic::RwLock`] and
//! [`crate::generic::ReentrantMutex`] for the details of each method.
//!
//! Beyond `parking_lot`'s API, every lock has `named(..)` and `with_key(..)`
//! constructors to choose its class (see the crate docs), `Mutex` and
//! `RwLock` have `lock_nested` / `write_nested` and `lock_under` /
//! `read_under` / `write_under` for nesting within a class, and every lock
//! has `set_subclass` to re-annotate a held acquisition.
//! Not provided: the unsafe `make_guard_unchecked` family (with its arc
//! forms, `make_arc_read_guard_unchecked` and the like), `serde` support, and
//! `parking_lot::deadlock` (this crate's reports replace it).
//!
//! The guards that own an `Arc` of their lock (`lock_arc`, `read_arc`,
//! `ArcMutexGuard`, ...) come with this crate's `arc_lock` feature, as
//! `parking_lot`'s come with its own. Like every guard here they are not
//! `Send`: a held lock belongs to its thread.
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
//! let (a, b) = (RwLock::named("pl_doc_a", 0), RwLock::named("pl_doc_b", 0));
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
use crate::map::LockMap;

pub use crate::condvar::WaitTimeoutResult;
/// A condition variable shaped like `parking_lot::Condvar`: [`crate::Condvar`]
/// itself. Works with the guards of [`Mutex`] and [`FairMutex`].
pub use crate::Condvar;
pub use ::parking_lot::OnceState;

/// The raw locks underneath, as `parking_lot` exports them: they name the
/// lock type parameter of the arc guards (`ArcMutexGuard<RawMutex, T>`).
/// Locking one directly is neither validated nor recorded.
pub use ::parking_lot::{RawFairMutex, RawMutex, RawRwLock, RawThreadId};

/// The guards that own an `Arc` of their lock (feature `arc_lock`), generic
/// over the raw lock as `parking_lot`'s are: `ArcMutexGuard<RawMutex, T>`
/// is [`Mutex::lock_arc`](crate::generic::Mutex::lock_arc)'s.
#[cfg(feature = "arc_lock")]
pub use crate::{
    mutex::ArcMutexGuard,
    reentrant::ArcReentrantMutexGuard,
    rwlock::{ArcRwLockReadGuard, ArcRwLockUpgradableReadGuard, ArcRwLockWriteGuard},
};

/// A validated `parking_lot::Mutex`.
pub type Mutex<T> = crate::mutex::Mutex<RawMutex, T>;
/// The guard of a [`Mutex`].
pub type MutexGuard<'a, T> = crate::mutex::MutexGuard<'a, RawMutex, T>;
/// A [`MutexGuard`] narrowed by [`MutexGuard::map`](crate::generic::MutexGuard::map).
pub type MappedMutexGuard<'a, T> = crate::mutex::MappedMutexGuard<'a, RawMutex, T>;

/// A validated `parking_lot::FairMutex`: unlocking hands the lock to the
/// next waiter. Validated like [`Mutex`].
pub type FairMutex<T> = crate::mutex::Mutex<RawFairMutex, T>;
/// The guard of a [`FairMutex`].
pub type FairMutexGuard<'a, T> = crate::mutex::MutexGuard<'a, RawFairMutex, T>;
/// A [`FairMutexGuard`] narrowed by `FairMutexGuard::map`.
pub type MappedFairMutexGuard<'a, T> = crate::mutex::MappedMutexGuard<'a, RawFairMutex, T>;

/// A validated `parking_lot::RwLock`.
pub type RwLock<T> = crate::rwlock::RwLock<RawRwLock, T>;
/// Read guard of an [`RwLock`].
pub type RwLockReadGuard<'a, T> = crate::rwlock::RwLockReadGuard<'a, RawRwLock, T>;
/// Write guard of an [`RwLock`].
pub type RwLockWriteGuard<'a, T> = crate::rwlock::RwLockWriteGuard<'a, RawRwLock, T>;
/// Upgradable read guard of an [`RwLock`].
pub type RwLockUpgradableReadGuard<'a, T> =
    crate::rwlock::RwLockUpgradableReadGuard<'a, RawRwLock, T>;
/// A [`RwLockReadGuard`] narrowed by `RwLockReadGuard::map`.
pub type MappedRwLockReadGuard<'a, T> = crate::rwlock::MappedRwLockReadGuard<'a, RawRwLock, T>;
/// A [`RwLockWriteGuard`] narrowed by `RwLockWriteGuard::map`.
pub type MappedRwLockWriteGuard<'a, T> = crate::rwlock::MappedRwLockWriteGuard<'a, RawRwLock, T>;

/// A validated `parking_lot::ReentrantMutex` (see
/// [`crate::generic::ReentrantMutex`]).
pub type ReentrantMutex<T> = crate::reentrant::ReentrantMutex<RawMutex, RawThreadId, T>;
/// The guard of a [`ReentrantMutex`].
pub type ReentrantMutexGuard<'a, T> =
    crate::reentrant::ReentrantMutexGuard<'a, RawMutex, RawThreadId, T>;
/// A [`ReentrantMutexGuard`] narrowed by `ReentrantMutexGuard::map`.
pub type MappedReentrantMutexGuard<'a, T> =
    crate::reentrant::MappedReentrantMutexGuard<'a, RawMutex, RawThreadId, T>;

/// A [`Mutex`] built in a const context, like `parking_lot::const_mutex`.
/// Its class is the call site.
#[track_caller]
pub const fn const_mutex<T>(value: T) -> Mutex<T> {
    Mutex::new(value)
}

/// A [`FairMutex`] built in a const context. Its class is the call site.
#[track_caller]
pub const fn const_fair_mutex<T>(value: T) -> FairMutex<T> {
    FairMutex::new(value)
}

/// An [`RwLock`] built in a const context. Its class is the call site.
#[track_caller]
pub const fn const_rwlock<T>(value: T) -> RwLock<T> {
    RwLock::new(value)
}

/// A [`ReentrantMutex`] built in a const context. Its class is the call site.
#[track_caller]
pub const fn const_reentrant_mutex<T>(value: T) -> ReentrantMutex<T> {
    ReentrantMutex::new(value)
}

/// A one-time initialization shaped like `parking_lot::Once`. Running the
/// initializer, or waiting for another thread's, is an exclusive acquisition
/// of the `Once`'s class (see [`crate::Once`]).
pub struct Once {
    inner: ::parking_lot::Once,
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
            inner: ::parking_lot::Once::new(),
            map: LockMap::with_key(key),
        }
    }

    const fn with_name(at: &'static Location<'static>, name: Option<&'static str>) -> Once {
        Once {
            inner: ::parking_lot::Once::new(),
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
        if self.inner.state().done() {
            self.map
                .touch_if_holding(Mode::Exclusive, Location::caller());
            return;
        }
        let _init = self.map.hold(Mode::Exclusive);
        self.inner.call_once(f);
    }

    /// Like [`call_once`](Self::call_once), but runs even if a previous
    /// initializer panicked; `f` is told the state it found.
    #[track_caller]
    pub fn call_once_force<F: FnOnce(OnceState)>(&self, f: F) {
        if self.inner.state().done() {
            self.map
                .touch_if_holding(Mode::Exclusive, Location::caller());
            return;
        }
        let _init = self.map.hold(Mode::Exclusive);
        self.inner.call_once_force(f);
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
