//! `Condvar`: a condition variable for the guard of any `lock_api` mutex.
//!
//! One word: a notification count (in steps of 2) and a `WAITERS` bit.
//!
//! # Why no wakeup is lost
//!
//! A waiter reads the count while it holds the mutex, then unlocks the
//! mutex (`MutexGuard::unlocked`) and parks on the condvar's address,
//! with a `validate` that, with the queue locked, sets `WAITERS` and sleeps
//! only if the count is still the one it read. A notifier adds 2 to the
//! count and, if `WAITERS` was set, unparks (with the queue locked).
//!
//! Take a notifier that changed the waited-for state under the mutex, then
//! notified. If it took the mutex before the waiter did, the waiter sees
//! the new state and does not wait. Otherwise it took the mutex after the
//! waiter released it, so the waiter's read of the count happens before the
//! notifier's addition: the read saw an older count. `validate`'s step
//! (one `fetch_or`, a read-modify-write, so it reads the latest count) and
//! the notifier's `fetch_add` are ordered in the word's modification order:
//! - `fetch_add` first: `validate` sees a new count, and the waiter does
//!   not sleep;
//! - `validate` first: it set `WAITERS` with the queue locked and
//!   enqueued the waiter before unlocking the queue, and `fetch_add` reads
//!   `WAITERS`, so the notifier unparks, locking the queue after the waiter
//!   is in it, and wakes it (`notify_all` all of them; `notify_one` one of
//!   the waiters, each of which would do).
//!
//! `WAITERS` is cleared only with the queue locked and empty (by the last
//! waiter to time out, or by a notification that leaves none), so a
//! sleeping waiter always has it set. Nothing is known of the mutex but its
//! guard's `unlocked`, so the same condvar serves lockdep's tracked mutexes.
//! A count that wraps exactly back to the read value (2^63 notifications
//! during one wait) would be a lost wakeup; it cannot happen in practice.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lock_api::{MutexGuard, RawMutex};
use parking_lot_core::{
    FilterOp, ParkResult, UnparkResult, DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN,
};

use super::deadline_after;

const WAITERS: usize = 1;
const STEP: usize = 2;

/// Whether a timed wait on a [`Condvar`] timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    pub(crate) fn new(timed_out: bool) -> WaitTimeoutResult {
        WaitTimeoutResult(timed_out)
    }

    /// Did the wait end because the time ran out?
    pub fn timed_out(self) -> bool {
        self.0
    }
}

/// A condition variable for `lock_api::MutexGuard<'_, R, T>` over any raw
/// mutex `R`, with `parking_lot::Condvar`'s methods. Uninstrumented: its
/// waits are neither validated nor recorded (the mutex's own relocking is,
/// if the mutex is a tracked one).
pub struct Condvar {
    state: AtomicUsize,
}

impl Condvar {
    /// A condition variable with no waiters.
    pub const fn new() -> Condvar {
        Condvar {
            state: AtomicUsize::new(0),
        }
    }

    fn key(&self) -> usize {
        self as *const Condvar as usize
    }

    /// Wakes one waiter. Returns whether one was woken.
    pub fn notify_one(&self) -> bool {
        if self.state.fetch_add(STEP, Ordering::Relaxed) & WAITERS == 0 {
            return false;
        }
        // SAFETY: the key is this condvar's address. The callback only
        // clears a bit: it neither panics nor calls parking_lot_core.
        let result = unsafe {
            parking_lot_core::unpark_one(self.key(), |result| {
                self.cleared_if_empty(result);
                DEFAULT_UNPARK_TOKEN
            })
        };
        result.unparked_threads != 0
    }

    /// Wakes every waiter. Returns how many were woken.
    pub fn notify_all(&self) -> usize {
        if self.state.fetch_add(STEP, Ordering::Relaxed) & WAITERS == 0 {
            return 0;
        }
        // SAFETY: as in `notify_one`.
        let result = unsafe {
            parking_lot_core::unpark_filter(
                self.key(),
                |_| FilterOp::Unpark,
                |result| {
                    self.cleared_if_empty(result);
                    DEFAULT_UNPARK_TOKEN
                },
            )
        };
        result.unparked_threads
    }

    /// With the queue locked: no waiter left, so `WAITERS` goes.
    fn cleared_if_empty(&self, result: UnparkResult) {
        if !result.have_more_threads {
            self.state.fetch_and(!WAITERS, Ordering::Relaxed);
        }
    }

    /// Blocks until notified (or woken spuriously), with the mutex
    /// unlocked meanwhile.
    pub fn wait<R: RawMutex, T: ?Sized>(&self, guard: &mut MutexGuard<'_, R, T>) {
        self.wait_deadline(guard, None);
    }

    /// Blocks until notified or until `deadline`.
    pub fn wait_until<R: RawMutex, T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, R, T>,
        deadline: Instant,
    ) -> WaitTimeoutResult {
        WaitTimeoutResult(self.wait_deadline(guard, Some(deadline)))
    }

    /// Blocks until notified or until `timeout` has passed.
    pub fn wait_for<R: RawMutex, T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, R, T>,
        timeout: Duration,
    ) -> WaitTimeoutResult {
        WaitTimeoutResult(self.wait_deadline(guard, deadline_after(timeout)))
    }

    /// Blocks until `condition` is false.
    pub fn wait_while<R: RawMutex, T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, R, T>,
        condition: impl FnMut(&mut T) -> bool,
    ) {
        self.wait_while_deadline(guard, condition, None);
    }

    /// Blocks until `condition` is false or until `deadline`; timed out
    /// means the deadline passed with the condition still true.
    pub fn wait_while_until<R: RawMutex, T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, R, T>,
        condition: impl FnMut(&mut T) -> bool,
        deadline: Instant,
    ) -> WaitTimeoutResult {
        self.wait_while_deadline(guard, condition, Some(deadline))
    }

    /// Blocks until `condition` is false or until `timeout` has passed.
    pub fn wait_while_for<R: RawMutex, T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, R, T>,
        condition: impl FnMut(&mut T) -> bool,
        timeout: Duration,
    ) -> WaitTimeoutResult {
        self.wait_while_deadline(guard, condition, deadline_after(timeout))
    }

    fn wait_while_deadline<R: RawMutex, T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, R, T>,
        condition: impl FnMut(&mut T) -> bool,
        deadline: Option<Instant>,
    ) -> WaitTimeoutResult {
        wait_while_with(guard, condition, |g| self.wait_deadline(g, deadline))
    }

    /// One wait; true if it timed out.
    fn wait_deadline<R: RawMutex, T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, R, T>,
        deadline: Option<Instant>,
    ) -> bool {
        // Read under the mutex (see the module docs).
        let seen = self.state.load(Ordering::Relaxed) & !WAITERS;
        MutexGuard::unlocked(guard, || {
            // SAFETY: the key is this condvar's address, which only it parks
            // on. `validate` and `timed_out` only touch the atomic state:
            // they neither panic nor call parking_lot_core.
            let result = unsafe {
                parking_lot_core::park(
                    self.key(),
                    || self.state.fetch_or(WAITERS, Ordering::Relaxed) & !WAITERS == seen,
                    || {},
                    |_, last| {
                        if last {
                            self.state.fetch_and(!WAITERS, Ordering::Relaxed);
                        }
                    },
                    DEFAULT_PARK_TOKEN,
                    deadline,
                )
            };
            result == ParkResult::TimedOut
        })
    }
}

impl Default for Condvar {
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}

/// The loop of every `wait_while*`, this module's and the validated
/// condvar's: waits (`wait` returns true on a timeout) while `condition`
/// holds; timed out means the time ran out with it still true.
pub(crate) fn wait_while_with<G: std::ops::DerefMut>(
    guard: &mut G,
    mut condition: impl FnMut(&mut G::Target) -> bool,
    mut wait: impl FnMut(&mut G) -> bool,
) -> WaitTimeoutResult {
    while condition(&mut *guard) {
        if wait(guard) {
            return WaitTimeoutResult(condition(&mut *guard));
        }
    }
    WaitTimeoutResult(false)
}
