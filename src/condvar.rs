//! A condition variable for the instrumented mutexes, with opt-in validation
//! of the wait itself.
//!
//! Waiting releases the mutex and takes it again afterwards; the held-lock
//! stack follows both steps, and the re-acquisition is validated like any
//! other (it can block).
//!
//! # The rule for waits
//!
//! A thread that waits on a condition variable while holding *other* locks
//! depends on whoever will notify it. If that notifier needs one of those
//! locks, the two hang. Nothing in a condition variable says who the notifier
//! is, and guessing (the kernel's cross-release tried) gives false reports.
//! So the rule is explicit:
//!
//! - Code that is the notifier of a condition variable declares it, by
//!   holding [`Condvar::notifier`] while it does the work that leads to the
//!   notification. That region holds the condvar's pseudo-lock.
//! - Every wait touches the condvar's pseudo-lock, under the locks the waiter
//!   still holds.
//!
//! A wait under lock `L` on a condvar whose declared notifier takes `L` is
//! then the cycle `L -> condvar -> L`, reported the first time both have
//! run. A condvar with no declared notifier has no dependencies of its own,
//! so its waits can never be part of a reported cycle: zero false positives
//! by default.
//!
//! ```
//! use lockdep::{Condvar, Mutex};
//!
//! let queue = Mutex::named("queue", Vec::<u32>::new());
//! let ready = Condvar::named("queue_ready");
//!
//! // The producer, declared as the notifier of `ready`.
//! {
//!     let _notifying = ready.notifier();
//!     queue.lock().push(1);
//!     ready.notify_one();
//! }
//! // The consumer.
//! let mut q = queue.lock();
//! ready.wait_while(&mut q, |q| q.is_empty());
//! assert_eq!(q.pop(), Some(1));
//! ```

use std::fmt;
use std::panic::Location;
use std::time::{Duration, Instant};

use lock_api::RawMutex;

use crate::class::{ClassKey, Prefix};
use crate::held::Mode;
use crate::lock::Tracked;
use crate::map::{LockMap, LockMapGuard};

/// The guards a condvar waits on: `lock_api`'s, over a tracked raw mutex.
type MutexGuard<'a, R, T> = lock_api::MutexGuard<'a, Tracked<R>, T>;

/// A condition variable usable with [`crate::Mutex`] and any
/// `lock_api::Mutex` over a [`Tracked`](crate::lock::Tracked) raw mutex (every `Mutex` and `FairMutex` of [`crate::parking_lot`]).
pub struct Condvar {
    /// Notifications since creation; waiters sleep until it changes.
    sequence: crate::raw::Mutex<u64>,
    wakeup: crate::raw::Condvar,
    map: LockMap,
}

impl Condvar {
    /// A condition variable whose class is the call site, printed as
    /// `(condvar)file:line:column`.
    #[track_caller]
    pub const fn new() -> Condvar {
        Self::with_map(LockMap::of::<()>(Location::caller(), Prefix::Condvar))
    }

    /// A condition variable whose class is the call site, printed as `name`.
    #[track_caller]
    pub const fn named(name: &'static str) -> Condvar {
        Self::with_map(LockMap::named_at(Location::caller(), name, Prefix::None))
    }

    /// A condition variable of the class of a static key.
    pub const fn with_key(key: &'static ClassKey) -> Condvar {
        Self::with_map(LockMap::with_key(key))
    }

    const fn with_map(map: LockMap) -> Condvar {
        Condvar {
            sequence: crate::raw::const_mutex(0),
            wakeup: crate::raw::Condvar::new(),
            map,
        }
    }

    /// Declares the current code as a notifier of this condition variable,
    /// until the guard is dropped (see the module docs).
    #[track_caller]
    pub fn notifier(&self) -> LockMapGuard<'_> {
        self.map.hold(Mode::Exclusive)
    }

    /// Wakes one waiter. Returns whether there may have been one.
    pub fn notify_one(&self) -> bool {
        *self.sequence.lock() += 1;
        self.wakeup.notify_one()
    }

    /// Wakes every waiter. Returns how many were woken.
    pub fn notify_all(&self) -> usize {
        *self.sequence.lock() += 1;
        self.wakeup.notify_all()
    }

    /// Blocks until notified (or woken spuriously), releasing the mutex
    /// meanwhile.
    #[track_caller]
    pub fn wait<R: RawMutex, T: ?Sized>(&self, guard: &mut MutexGuard<'_, R, T>) {
        self.wait_inner(guard, None, Location::caller());
    }

    /// Blocks until `condition` is false, releasing the mutex while waiting.
    #[track_caller]
    pub fn wait_while<R: RawMutex, T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, R, T>,
        mut condition: impl FnMut(&mut T) -> bool,
    ) {
        let at = Location::caller();
        while condition(&mut *guard) {
            self.wait_inner(guard, None, at);
        }
    }

    /// Blocks until notified or until `timeout` has passed.
    #[track_caller]
    pub fn wait_for<R: RawMutex, T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, R, T>,
        timeout: Duration,
    ) -> WaitTimeoutResult {
        let deadline = Instant::now().checked_add(timeout);
        WaitTimeoutResult::new(self.wait_inner(guard, deadline, Location::caller()))
    }

    /// Blocks until notified or until `deadline`.
    #[track_caller]
    pub fn wait_until<R: RawMutex, T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, R, T>,
        deadline: Instant,
    ) -> WaitTimeoutResult {
        WaitTimeoutResult::new(self.wait_inner(guard, Some(deadline), Location::caller()))
    }

    /// Blocks until `condition` is false or until `timeout` has passed.
    /// Timed out means the time passed with the condition still true.
    #[track_caller]
    pub fn wait_while_for<R: RawMutex, T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, R, T>,
        condition: impl FnMut(&mut T) -> bool,
        timeout: Duration,
    ) -> WaitTimeoutResult {
        let deadline = Instant::now().checked_add(timeout);
        self.wait_while_deadline(guard, condition, deadline, Location::caller())
    }

    /// Blocks until `condition` is false or until `deadline`. Timed out
    /// means the deadline passed with the condition still true.
    #[track_caller]
    pub fn wait_while_until<R: RawMutex, T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, R, T>,
        condition: impl FnMut(&mut T) -> bool,
        deadline: Instant,
    ) -> WaitTimeoutResult {
        self.wait_while_deadline(guard, condition, Some(deadline), Location::caller())
    }

    fn wait_while_deadline<R: RawMutex, T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, R, T>,
        condition: impl FnMut(&mut T) -> bool,
        deadline: Option<Instant>,
        at: &'static Location<'static>,
    ) -> WaitTimeoutResult {
        crate::raw::wait_while_with(guard, condition, |g| self.wait_inner(g, deadline, at))
    }

    fn wait_inner<R: RawMutex, T: ?Sized>(
        &self,
        guard: &mut MutexGuard<'_, R, T>,
        deadline: Option<Instant>,
        at: &'static Location<'static>,
    ) -> bool {
        // Taking the sequence lock before the mutex is released means no
        // notification made under the mutex can slip in unseen.
        // The wait: a dependency of every lock still held (but the mutex) on
        // the notifier. Annotated while the mutex is still really held, so
        // that a panic from it (Action::Panic) leaves a consistent guard.
        // SAFETY: the tracked raw lock is unlocked below only for the guard
        // this thread holds, and taken back for it before it can be used.
        let raw = unsafe { MutexGuard::mutex(guard).raw() };
        let subclass = raw.forget_held(true);
        self.map.touch_at(Mode::Exclusive, at);
        let mut sequence = self.sequence.lock();
        let seen = *sequence;
        // SAFETY: the guard holds the raw lock; it is taken back below.
        unsafe { raw.unlock_for_wait() };
        let mut timed_out = false;
        while *sequence == seen && !timed_out {
            match deadline {
                Some(d) => timed_out = self.wakeup.wait_until(&mut sequence, d).timed_out(),
                None => self.wakeup.wait(&mut sequence),
            }
        }
        drop(sequence);
        raw.retake_after_wait(subclass, at, R::lock);
        timed_out
    }
}

// As `parking_lot`'s and std's: a condition variable holds no user data to
// break.
impl std::panic::RefUnwindSafe for Condvar {}
impl std::panic::UnwindSafe for Condvar {}

/// Whether a timed wait on a condition variable timed out: the raw
/// condvar's, shared by every condition variable of this crate.
pub use crate::raw::WaitTimeoutResult;

impl Default for Condvar {
    #[track_caller]
    fn default() -> Self {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn wait_releases_and_retakes_the_mutex_on_the_held_stack() {
        let m = Arc::new(crate::Mutex::named("cv-unit-m", false));
        let cv = Arc::new(Condvar::named("cv-unit"));
        let (m2, cv2) = (m.clone(), cv.clone());
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            *m2.lock() = true;
            cv2.notify_all();
        });
        let mut g = m.lock();
        cv.wait_while(&mut g, |ready| !*ready);
        assert!(*g);
        let names: Vec<_> = crate::held_locks().into_iter().map(|l| l.name).collect();
        assert_eq!(names, ["cv-unit-m"]);
        drop(g);
        assert!(crate::held_locks().is_empty());
        t.join().unwrap();
    }

    #[test]
    fn timeouts() {
        let m = crate::Mutex::named("cv-unit-timeout-m", ());
        let cv = Condvar::new();
        let mut g = m.lock();
        assert!(cv.wait_for(&mut g, Duration::from_millis(10)).timed_out());
        assert!(cv
            .wait_while_for(&mut g, |_| true, Duration::from_millis(10))
            .timed_out());
        assert!(!cv
            .wait_while_for(&mut g, |_| false, Duration::from_millis(10))
            .timed_out());
        assert!(m.is_locked());
    }
}
