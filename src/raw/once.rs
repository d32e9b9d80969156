//! `Once`: one byte, four bits.
//!
//! `DONE` (set once, with `Release`, when an initializer returned),
//! `POISONED` (an initializer panicked), `RUNNING` (an initializer runs,
//! owned by the thread that set it from a state without it), `PARKED`
//! (threads may be parked on the address waiting for it). The thread that
//! ends a run (by returning or by unwinding) replaces the state in one
//! swap and, if `PARKED` was set, wakes every waiter; they look again.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

use parking_lot_core::{DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN};

use super::park::{Take, Wait, Waited};

const DONE: u8 = 1;
const POISONED: u8 = 2;
const RUNNING: u8 = 4;
const PARKED: u8 = 8;

/// The state of a [`Once`], as `parking_lot::OnceState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnceState {
    /// No initializer has run yet.
    New,
    /// An initializer panicked: the next `call_once` panics, the next
    /// `call_once_force` runs.
    Poisoned,
    /// An initializer is running.
    InProgress,
    /// An initializer returned.
    Done,
}

impl OnceState {
    /// Did an initializer panic (with no initializer having returned since)?
    pub fn poisoned(self) -> bool {
        matches!(self, OnceState::Poisoned)
    }

    /// Did an initializer return?
    pub fn done(self) -> bool {
        matches!(self, OnceState::Done)
    }
}

/// One-time initialization on `parking_lot_core`, with
/// `parking_lot::Once`'s methods. Uninstrumented.
pub struct Once {
    state: AtomicU8,
}

/// Ends a run: poisons on unwind (the default), or marks it done.
struct Run<'a> {
    once: &'a Once,
    end: u8,
}

impl Drop for Run<'_> {
    fn drop(&mut self) {
        let before = self.once.state.swap(self.end, Ordering::Release);
        if before & PARKED != 0 {
            // SAFETY: the key is this `Once`'s address, which only it parks
            // on.
            unsafe {
                parking_lot_core::unpark_all(self.once.key(), DEFAULT_UNPARK_TOKEN);
            }
        }
    }
}

impl Once {
    /// A `Once` whose initializer has not run.
    pub const fn new() -> Once {
        Once {
            state: AtomicU8::new(0),
        }
    }

    fn key(&self) -> usize {
        self as *const Once as usize
    }

    /// Where the `Once` stands.
    pub fn state(&self) -> OnceState {
        let state = self.state.load(Ordering::Acquire);
        if state & DONE != 0 {
            OnceState::Done
        } else if state & RUNNING != 0 {
            OnceState::InProgress
        } else if state & POISONED != 0 {
            OnceState::Poisoned
        } else {
            OnceState::New
        }
    }

    /// Runs `f` if no initializer has returned yet, or waits for the one
    /// running. Panics if an initializer panicked (the `Once` is poisoned).
    #[inline]
    pub fn call_once(&self, f: impl FnOnce()) {
        if self.state.load(Ordering::Acquire) & DONE != 0 {
            return;
        }
        let mut f = Some(f);
        self.call_slow(false, &mut |_| {
            if let Some(f) = f.take() {
                f()
            }
        });
    }

    /// As [`call_once`](Self::call_once), but runs even if poisoned; `f`
    /// is told which (`OnceState::New` or `OnceState::Poisoned`).
    #[inline]
    pub fn call_once_force(&self, f: impl FnOnce(OnceState)) {
        if self.state.load(Ordering::Acquire) & DONE != 0 {
            return;
        }
        let mut f = Some(f);
        self.call_slow(true, &mut |state| {
            if let Some(f) = f.take() {
                f(state)
            }
        });
    }

    #[cold]
    fn call_slow(&self, force: bool, f: &mut dyn FnMut(OnceState)) {
        let wait = Wait {
            word: &self.state,
            key: self.key(),
            parked: PARKED.into(),
            token: DEFAULT_PARK_TOKEN,
            deadline: None,
        };
        let take = |state: usize| {
            // A byte's state, widened by `Wait`.
            let state = state as u8;
            if state & DONE != 0 || state & (POISONED | RUNNING) == POISONED && !force {
                Take::Stop
            } else if state & RUNNING != 0 {
                Take::Blocked
            } else {
                Take::To((state | RUNNING).into())
            }
        };
        loop {
            match wait.run(take) {
                Waited::Entered(Some(before)) => {
                    let mut run = Run {
                        once: self,
                        end: POISONED,
                    };
                    f(if before & usize::from(POISONED) != 0 {
                        OnceState::Poisoned
                    } else {
                        OnceState::New
                    });
                    run.end = DONE;
                    return;
                }
                Waited::Stopped if self.state.load(Ordering::Acquire) & DONE != 0 => return,
                Waited::Stopped => panic!("Once instance has previously been poisoned"),
                // Nothing hands a `Once` over, and nothing times out.
                Waited::Entered(None) | Waited::TimedOut => {}
            }
        }
    }
}

impl Default for Once {
    fn default() -> Once {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poison_then_force() {
        let once = Once::new();
        assert_eq!(once.state(), OnceState::New);
        let panicked = std::panic::catch_unwind(|| once.call_once(|| panic!("boom")));
        assert!(panicked.is_err());
        assert!(once.state().poisoned());
        let again = std::panic::catch_unwind(|| once.call_once(|| {}));
        assert!(again.is_err(), "a poisoned Once panics in call_once");
        let mut seen = None;
        once.call_once_force(|s| seen = Some(s));
        assert_eq!(seen, Some(OnceState::Poisoned));
        assert!(once.state().done());
        once.call_once_force(|_| panic!("never runs again"));
    }
}
