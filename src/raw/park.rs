//! The one wait loop of every raw lock: take it, or spin a little, then say
//! that you park (a bit in the state), then park while the state still
//! blocks you.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Instant;

use parking_lot_core::{ParkResult, ParkToken, SpinWait, UnparkToken};

/// The token of a thread woken by a fair release: what it waited for was
/// handed to it.
pub(super) const HANDOFF: UnparkToken = UnparkToken(1);
/// The token of a thread woken to look again (`DEFAULT_UNPARK_TOKEN`).
pub(super) const RETRY: UnparkToken = UnparkToken(0);

/// A lock's state word, whatever its width.
pub(super) trait Word: Sync {
    fn get(&self) -> usize;
    fn replace(&self, from: usize, to: usize, success: Ordering) -> Result<(), usize>;
    fn clear(&self, bits: usize);
}

impl Word for AtomicU8 {
    fn get(&self) -> usize {
        self.load(Ordering::Acquire).into()
    }
    fn replace(&self, from: usize, to: usize, success: Ordering) -> Result<(), usize> {
        // The states of a one-byte lock fit in a byte.
        self.compare_exchange_weak(from as u8, to as u8, success, Ordering::Acquire)
            .map(drop)
            .map_err(usize::from)
    }
    fn clear(&self, bits: usize) {
        self.fetch_and(!(bits as u8), Ordering::Relaxed);
    }
}

impl Word for AtomicUsize {
    fn get(&self) -> usize {
        self.load(Ordering::Acquire)
    }
    fn replace(&self, from: usize, to: usize, success: Ordering) -> Result<(), usize> {
        self.compare_exchange_weak(from, to, success, Ordering::Acquire)
            .map(drop)
    }
    fn clear(&self, bits: usize) {
        self.fetch_and(!bits, Ordering::Relaxed);
    }
}

/// What a state lets a waiting thread do.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Take {
    /// Enter: replace the state with this one.
    To(usize),
    /// Already where it wants to be: nothing to change.
    Have,
    /// Wait.
    Blocked,
    /// Give up (the caller looks at the state again).
    Stop,
}

/// How a wait ended.
pub(super) enum Waited {
    /// Entered; with the state it replaced, or none if handed over.
    Entered(Option<usize>),
    TimedOut,
    Stopped,
}

/// One kind of wait on a lock.
pub(super) struct Wait<'a, W: Word> {
    pub(super) word: &'a W,
    /// The address parked on.
    pub(super) key: usize,
    /// The bit that says someone parks on `key`; cleared with the queue
    /// locked by the last waiter to time out.
    pub(super) parked: usize,
    pub(super) token: ParkToken,
    pub(super) deadline: Option<Instant>,
}

impl<W: Word> Wait<'_, W> {
    /// Waits until `take` lets the thread in. `take` may run with the
    /// queue locked (to validate a park), so it must neither panic nor call
    /// `parking_lot_core`.
    pub(super) fn run(&self, take: impl Fn(usize) -> Take) -> Waited {
        let mut spin = SpinWait::new();
        loop {
            let state = self.word.get();
            match take(state) {
                Take::To(new) => match self.word.replace(state, new, Ordering::Acquire) {
                    Ok(()) => return Waited::Entered(Some(state)),
                    Err(_) => continue,
                },
                Take::Have => return Waited::Entered(Some(state)),
                Take::Stop => return Waited::Stopped,
                Take::Blocked => {}
            }
            // Spin only while nobody parks: once someone does, the lock is
            // contended enough that spinning just burns the CPU.
            if state & self.parked == 0 {
                if spin.spin() {
                    continue;
                }
                if self
                    .word
                    .replace(state, state | self.parked, Ordering::Relaxed)
                    .is_err()
                {
                    continue;
                }
            }
            // SAFETY: `key` is an address inside the lock that waits on it,
            // which only that lock parks on. `validate` runs `take`, which
            // neither panics nor calls parking_lot_core (its contract), and
            // `timed_out` only clears a bit.
            let result = unsafe {
                parking_lot_core::park(
                    self.key,
                    || {
                        let state = self.word.get();
                        state & self.parked != 0 && take(state) == Take::Blocked
                    },
                    || {},
                    |_, last| {
                        if last {
                            self.word.clear(self.parked);
                        }
                    },
                    self.token,
                    self.deadline,
                )
            };
            match result {
                ParkResult::Unparked(HANDOFF) => return Waited::Entered(None),
                ParkResult::TimedOut => return Waited::TimedOut,
                ParkResult::Unparked(_) | ParkResult::Invalid => spin.reset(),
            }
        }
    }
}
