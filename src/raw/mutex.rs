//! `RawMutex` and `RawFairMutex`: one byte, two bits.
//!
//! `LOCKED` says the mutex is held. `PARKED` says threads may be parked on
//! the mutex's address (set by a thread about to park; cleared only with the
//! address's queue locked, when no thread is left in it). The uncontended
//! lock is one compare-exchange `0 -> LOCKED`, the uncontended unlock one
//! compare-exchange `LOCKED -> 0`. Contended: a short spin, then park.
//!
//! Unlocking with `PARKED` set wakes one thread with the queue locked. A
//! normal unlock clears `LOCKED` and lets the woken thread race for the
//! lock; a fair one (or one that `parking_lot_core` says is due, `be_fair`)
//! keeps `LOCKED` set and hands the lock to the woken thread
//! ([`HANDOFF`]), which returns from its `lock` holding it.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use parking_lot_core::{UnparkResult, DEFAULT_PARK_TOKEN};

use super::park::{Take, Wait, Waited, HANDOFF, RETRY};
use super::{deadline_after, GuardMarker};

const LOCKED: u8 = 1;
const PARKED: u8 = 2;

/// A mutex on `parking_lot_core`, for `lock_api::Mutex`. Uninstrumented:
/// locking it is neither validated nor recorded.
pub struct RawMutex {
    state: AtomicU8,
}

// SAFETY: `lock` and `try_lock` return only after setting `LOCKED` with a
// compare-exchange from a state without it (or when a fair unlock handed
// the still-set `LOCKED` over to this thread alone), and only `unlock` (by
// the holder) clears it: one holder at a time.
unsafe impl lock_api::RawMutex for RawMutex {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawMutex = RawMutex {
        state: AtomicU8::new(0),
    };

    type GuardMarker = GuardMarker;

    #[inline]
    fn lock(&self) {
        if self
            .state
            .compare_exchange_weak(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow(None);
        }
    }

    #[inline]
    fn try_lock(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        while state & LOCKED == 0 {
            match self.state.compare_exchange_weak(
                state,
                state | LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
        false
    }

    #[inline]
    unsafe fn unlock(&self) {
        if self
            .state
            .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_slow(false);
        }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & LOCKED != 0
    }
}

// SAFETY: `unlock_fair` releases the lock like `unlock` or hands it to
// exactly one woken thread; `bump` is `unlock_fair` then `lock`.
unsafe impl lock_api::RawMutexFair for RawMutex {
    #[inline]
    unsafe fn unlock_fair(&self) {
        if self
            .state
            .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_slow(true);
        }
    }

    #[inline]
    unsafe fn bump(&self) {
        if self.state.load(Ordering::Relaxed) & PARKED != 0 {
            self.bump_slow();
        }
    }
}

// SAFETY: the timed locks are `lock`'s loop with a deadline; they return
// true only holding the lock, as `lock` does.
unsafe impl lock_api::RawMutexTimed for RawMutex {
    type Duration = Duration;
    type Instant = Instant;

    #[inline]
    fn try_lock_for(&self, timeout: Duration) -> bool {
        self.try_lock_fast() || self.lock_slow(deadline_after(timeout))
    }

    #[inline]
    fn try_lock_until(&self, deadline: Instant) -> bool {
        self.try_lock_fast() || self.lock_slow(Some(deadline))
    }
}

impl RawMutex {
    fn try_lock_fast(&self) -> bool {
        self.state
            .compare_exchange_weak(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    fn key(&self) -> usize {
        self as *const RawMutex as usize
    }

    /// Takes the lock, parking while it is held; false if `deadline`
    /// passed first.
    #[cold]
    #[inline(never)]
    fn lock_slow(&self, deadline: Option<Instant>) -> bool {
        let wait = Wait {
            word: &self.state,
            key: self.key(),
            parked: PARKED.into(),
            token: DEFAULT_PARK_TOKEN,
            deadline,
        };
        let take = |state: usize| {
            // A byte's state, widened by `Wait`.
            let state = state as u8;
            if state & LOCKED == 0 {
                Take::To((state | LOCKED).into())
            } else {
                Take::Blocked
            }
        };
        matches!(wait.run(take), Waited::Entered(_))
    }

    /// Unlocks with `PARKED` set: wakes one thread, and hands the lock to it
    /// if `fair` (or if it is time to be fair).
    #[cold]
    #[inline(never)]
    fn unlock_slow(&self, fair: bool) {
        // SAFETY: the key is this mutex's address. The callback only
        // stores the state: it neither panics nor calls parking_lot_core.
        unsafe {
            parking_lot_core::unpark_one(self.key(), |result: UnparkResult| {
                // With the queue locked, the state can change only by another
                // thread adding `PARKED` on its way to park; that thread's
                // `validate` runs after this (same queue lock) and sees the
                // state stored here, so a plain store loses nothing.
                let parked = if result.have_more_threads { PARKED } else { 0 };
                if result.unparked_threads != 0 && (fair || result.be_fair) {
                    self.state.store(LOCKED | parked, Ordering::Relaxed);
                    HANDOFF
                } else {
                    self.state.store(parked, Ordering::Release);
                    RETRY
                }
            });
        }
    }

    #[cold]
    fn bump_slow(&self) {
        self.unlock_slow(true);
        <Self as lock_api::RawMutex>::lock(self);
    }
}

/// A mutex whose every unlock is fair: it hands the lock to the next waiter
/// if there is one, as `parking_lot::RawFairMutex` does.
pub struct RawFairMutex(RawMutex);

// SAFETY: the inner `RawMutex` does the locking.
unsafe impl lock_api::RawMutex for RawFairMutex {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawFairMutex = RawFairMutex(<RawMutex as lock_api::RawMutex>::INIT);

    type GuardMarker = GuardMarker;

    #[inline]
    fn lock(&self) {
        lock_api::RawMutex::lock(&self.0)
    }

    #[inline]
    fn try_lock(&self) -> bool {
        lock_api::RawMutex::try_lock(&self.0)
    }

    #[inline]
    unsafe fn unlock(&self) {
        // SAFETY: the caller holds the lock.
        unsafe { lock_api::RawMutexFair::unlock_fair(&self.0) }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        lock_api::RawMutex::is_locked(&self.0)
    }
}

// SAFETY: the inner `RawMutex` does the locking.
unsafe impl lock_api::RawMutexFair for RawFairMutex {
    #[inline]
    unsafe fn unlock_fair(&self) {
        // SAFETY: the caller holds the lock.
        unsafe { lock_api::RawMutexFair::unlock_fair(&self.0) }
    }

    #[inline]
    unsafe fn bump(&self) {
        // SAFETY: the caller holds the lock.
        unsafe { lock_api::RawMutexFair::bump(&self.0) }
    }
}

// SAFETY: the inner `RawMutex` does the locking.
unsafe impl lock_api::RawMutexTimed for RawFairMutex {
    type Duration = Duration;
    type Instant = Instant;

    #[inline]
    fn try_lock_for(&self, timeout: Duration) -> bool {
        lock_api::RawMutexTimed::try_lock_for(&self.0, timeout)
    }

    #[inline]
    fn try_lock_until(&self, deadline: Instant) -> bool {
        lock_api::RawMutexTimed::try_lock_until(&self.0, deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lock_api::{RawMutex as _, RawMutexFair as _, RawMutexTimed as _};

    #[test]
    fn states() {
        let m = RawMutex::INIT;
        assert!(!m.is_locked());
        m.lock();
        assert!(m.is_locked());
        assert!(!m.try_lock());
        assert!(!m.try_lock_for(Duration::from_millis(5)));
        // SAFETY: locked above.
        unsafe { m.unlock() };
        assert!(m.try_lock());
        // SAFETY: locked by the try_lock; bump without waiters keeps it.
        unsafe { m.bump() };
        assert!(m.is_locked());
        // SAFETY: still held.
        unsafe { m.unlock_fair() };
        assert_eq!(m.state.load(Ordering::Relaxed), 0);
    }

    /// A fair unlock and a bump give the lock to the parked waiter before
    /// the unlocking thread can take it back.
    #[test]
    fn unlock_fair_and_bump_hand_over() {
        for _ in 0..5 {
            let m = lock_api::Mutex::<RawMutex, Vec<&str>>::new(Vec::new());
            // SAFETY: only the state is read through it.
            let parked = || unsafe { m.raw() }.state.load(Ordering::Relaxed) & PARKED != 0;
            std::thread::scope(|s| {
                let g = m.lock();
                s.spawn(|| m.lock().push("waiter"));
                super::super::until_parked(parked);
                lock_api::MutexGuard::unlock_fair(g);
                m.lock().push("unlocker");
            });
            std::thread::scope(|s| {
                let mut g = m.lock();
                s.spawn(|| m.lock().push("bumped in"));
                super::super::until_parked(parked);
                g.push("before bump");
                lock_api::MutexGuard::bump(&mut g);
                g.push("after bump");
            });
            assert_eq!(
                *m.lock(),
                [
                    "waiter",
                    "unlocker",
                    "before bump",
                    "bumped in",
                    "after bump"
                ]
            );
            // A fair mutex's every unlock is fair.
            let f = lock_api::Mutex::<RawFairMutex, Vec<&str>>::new(Vec::new());
            // SAFETY: only the state is read through it.
            let parked = || unsafe { f.raw() }.0.state.load(Ordering::Relaxed) & PARKED != 0;
            std::thread::scope(|s| {
                let g = f.lock();
                s.spawn(|| f.lock().push("waiter"));
                super::super::until_parked(parked);
                drop(g);
                f.lock().push("unlocker");
            });
            assert_eq!(*f.lock(), ["waiter", "unlocker"]);
        }
    }

    #[test]
    fn a_timed_out_waiter_clears_parked() {
        let m = RawMutex::INIT;
        m.lock();
        std::thread::scope(|s| {
            s.spawn(|| assert!(!m.try_lock_for(Duration::from_millis(20))));
        });
        assert_eq!(m.state.load(Ordering::Relaxed), LOCKED);
        // SAFETY: locked above.
        unsafe { m.unlock() };
    }
}
