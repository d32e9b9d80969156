//! lockdep's own raw locks, on `parking_lot_core` and `lock_api`.
//!
//! They serve twice: under lockdep's validating locks as the locks that
//! really block, and, as they are, for the validator's own state (which it
//! never instruments). lockdep does not depend on the `parking_lot` crate
//! for them, so a crate named `parking_lot` that re-exports lockdep's locks
//! can stand in for the real one in a whole dependency graph.
//!
//! Nothing here is validated or recorded: a lock of this module is a plain
//! lock, as fast as `parking_lot`'s when uncontended (one compare-exchange
//! to lock, one to unlock).
//!
//! | type | what | as in `parking_lot` |
//! |---|---|---|
//! | [`RawMutex`] | `lock_api::RawMutex`, `RawMutexFair`, `RawMutexTimed` | `RawMutex` |
//! | [`RawFairMutex`] | the same, every unlock fair | `RawFairMutex` |
//! | [`RawRwLock`] | `lock_api::RawRwLock` and its `Fair`, `Timed`, `Recursive`, `RecursiveTimed`, `Upgrade`, `UpgradeFair`, `UpgradeTimed`, `Downgrade`, `UpgradeDowngrade` | `RawRwLock` |
//! | [`RawThreadId`] | `lock_api::GetThreadId` | `RawThreadId` |
//! | [`Condvar`] | waits on the guard of any `lock_api` mutex | `Condvar` |
//! | [`Once`], [`OnceState`] | one-time initialization, poisoning | `Once`, `OnceState` |
//!
//! Guards are not `Send` (`lock_api::GuardNoSend`) unless the `send_guard`
//! feature is on. Every lock and `Once` is reset by writing its initial
//! value (`INIT`, `Once::new()`) over it: that is how a forked child
//! releases a lock that a thread of the parent held (`crate::fork`).
//!
//! ```
//! use lockdep::raw::{const_mutex, Condvar, Mutex};
//!
//! static QUEUE: Mutex<Vec<u32>> = const_mutex(Vec::new());
//! static READY: Condvar = Condvar::new();
//!
//! std::thread::spawn(|| {
//!     QUEUE.lock().push(7);
//!     READY.notify_one();
//! });
//! let mut queue = QUEUE.lock();
//! READY.wait_while(&mut queue, |q| q.is_empty());
//! assert_eq!(queue.pop(), Some(7));
//! ```

mod condvar;
mod mutex;
mod once;
mod park;
mod rwlock;
mod thread_id;

use std::time::{Duration, Instant};

pub(crate) use condvar::wait_while_with;
pub use condvar::{Condvar, WaitTimeoutResult};
pub use mutex::{RawFairMutex, RawMutex};
pub use once::{Once, OnceState};
pub use rwlock::RawRwLock;
pub use thread_id::RawThreadId;

/// Whether guards may be sent to another thread (feature `send_guard`).
#[cfg(not(feature = "send_guard"))]
type GuardMarker = lock_api::GuardNoSend;
#[cfg(feature = "send_guard")]
type GuardMarker = lock_api::GuardSend;

/// A deadline `timeout` from now; `None` (wait for ever) past `Instant`'s
/// range.
fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// A mutex on [`RawMutex`].
pub type Mutex<T> = lock_api::Mutex<RawMutex, T>;
/// The guard of a [`Mutex`].
pub type MutexGuard<'a, T> = lock_api::MutexGuard<'a, RawMutex, T>;
/// A mutex on [`RawFairMutex`].
pub type FairMutex<T> = lock_api::Mutex<RawFairMutex, T>;
/// A reader-writer lock on [`RawRwLock`].
pub type RwLock<T> = lock_api::RwLock<RawRwLock, T>;
/// The read guard of an [`RwLock`].
pub type RwLockReadGuard<'a, T> = lock_api::RwLockReadGuard<'a, RawRwLock, T>;
/// The write guard of an [`RwLock`].
pub type RwLockWriteGuard<'a, T> = lock_api::RwLockWriteGuard<'a, RawRwLock, T>;
/// The upgradable read guard of an [`RwLock`].
pub type RwLockUpgradableReadGuard<'a, T> = lock_api::RwLockUpgradableReadGuard<'a, RawRwLock, T>;

/// A [`Mutex`] in a const context.
pub const fn const_mutex<T>(value: T) -> Mutex<T> {
    Mutex::const_new(<RawMutex as lock_api::RawMutex>::INIT, value)
}

/// A [`FairMutex`] in a const context.
pub const fn const_fair_mutex<T>(value: T) -> FairMutex<T> {
    FairMutex::const_new(<RawFairMutex as lock_api::RawMutex>::INIT, value)
}

/// An [`RwLock`] in a const context.
pub const fn const_rwlock<T>(value: T) -> RwLock<T> {
    RwLock::const_new(<RawRwLock as lock_api::RawRwLock>::INIT, value)
}

/// For the unit tests of the handoffs: waits until a thread has announced
/// that it parks (its bit in `state`), then a little more, so that it is
/// in the queue when the test unlocks.
#[cfg(test)]
fn until_parked(state: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !state() {
        assert!(Instant::now() < deadline, "the waiter never parked");
        std::thread::yield_now();
    }
    std::thread::sleep(Duration::from_millis(20));
}

// The unlocked values the tracked locks (`crate::lock::Tracked`) are built from.
impl crate::lock::RawInit for RawMutex {
    const UNLOCKED: Self = <Self as lock_api::RawMutex>::INIT;
}
impl crate::lock::RawInit for RawFairMutex {
    const UNLOCKED: Self = <Self as lock_api::RawMutex>::INIT;
}
impl crate::lock::RawInit for RawRwLock {
    const UNLOCKED: Self = <Self as lock_api::RawRwLock>::INIT;
}
