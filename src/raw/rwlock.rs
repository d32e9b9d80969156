//! `RawRwLock`: one word, four bits and a reader count.
//!
//! - `READERS` (the bits above `WRITER`): shared holders, an upgradable
//!   holder counted among them.
//! - `UPGRADABLE`: the one upgradable holder.
//! - `WRITER`: a writer owns the lock, or owns its exclusive right and is
//!   waiting for the readers to drain (*phase 2*). Taking it (*phase 1*)
//!   needs neither `WRITER` nor `UPGRADABLE` set; once set, no new
//!   non-recursive reader enters, so a writer waits for the readers already
//!   in and for no others: a stream of readers does not starve it.
//! - `PARKED`: threads may be parked on the lock's address, waiting to
//!   acquire (their park token says in which mode).
//! - `WRITER_PARKED`: the phase-2 writer is parked on the address plus one,
//!   waiting for the last reader, who wakes it.
//!
//! A thread parks on the address only while what it wants is blocked by a
//! bit some holder will clear (`WRITER`, or `UPGRADABLE` for upgradables
//! and writers), and `PARKED` is set (both checked with the queue locked).
//! Whoever clears `WRITER` or `UPGRADABLE` with `PARKED` set does it with
//! the queue locked ([`RawRwLock::release_slow`]) and wakes, from the
//! front, every waiter the new state lets in: readers, one upgradable, and
//! a writer if no upgradable stays (after which it stops: what follows is
//! blocked by the writer). A fair release hands the woken threads their
//! modes directly; a normal one lets them race again. A writer handed the
//! lock still has phase 2 to go.
//!
//! Every state change is a compare-exchange or an arithmetic operation on
//! the word; the uncontended exclusive lock and unlock are one
//! compare-exchange each, a shared lock a load and a compare-exchange, a
//! shared unlock one subtraction.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot_core::{FilterOp, ParkToken, UnparkResult};

use super::park::{Take, Wait, Waited, HANDOFF, RETRY};
use super::{deadline_after, GuardMarker};

const PARKED: usize = 1;
const WRITER_PARKED: usize = 2;
const UPGRADABLE: usize = 4;
const WRITER: usize = 8;
const ONE_READER: usize = 16;
const READERS: usize = !(ONE_READER - 1);

/// Park tokens: the mode a parked thread waits for.
const SHARED_TOKEN: ParkToken = ParkToken(0);
const UPGRADABLE_TOKEN: ParkToken = ParkToken(1);
const EXCLUSIVE_TOKEN: ParkToken = ParkToken(2);

/// What blocks each acquisition, in a thread that would park for it.
fn shared_blocked(state: usize) -> bool {
    state & WRITER != 0
}
/// A recursive read enters while readers hold the lock, even past a writer
/// waiting for them (which is why it cannot deadlock on a read it holds).
fn recursive_blocked(state: usize) -> bool {
    state & WRITER != 0 && state & READERS == 0
}
fn upgradable_blocked(state: usize) -> bool {
    state & (WRITER | UPGRADABLE) != 0
}
/// A trylock of the exclusive mode also needs no reader in.
fn exclusive_try_blocked(state: usize) -> bool {
    state & (WRITER | UPGRADABLE | READERS) != 0
}

/// A reader-writer lock on `parking_lot_core`, for `lock_api::RwLock`, with
/// `parking_lot`'s semantics: one writer or many readers, at most one
/// upgradable reader among them, writers not starved. Uninstrumented:
/// locking it is neither validated nor recorded.
pub struct RawRwLock {
    state: AtomicUsize,
}

// SAFETY: `WRITER` is set only from a state with neither `WRITER` nor
// `UPGRADABLE` (or by the upgradable holder itself), and the exclusive
// lock returns only once `READERS` is 0 with `WRITER` set, which no shared
// acquisition enters (a recursive one needs readers in): a writer excludes
// everyone. A reader enters only with `WRITER` clear or readers already in.
unsafe impl lock_api::RawRwLock for RawRwLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawRwLock = RawRwLock {
        state: AtomicUsize::new(0),
    };

    type GuardMarker = GuardMarker;

    #[inline]
    fn lock_shared(&self) {
        let state = self.state.load(Ordering::Relaxed);
        let entered = !shared_blocked(state)
            && state.checked_add(ONE_READER).is_some_and(|new| {
                self.state
                    .compare_exchange_weak(state, new, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            });
        if !entered {
            self.wait(SHARED_TOKEN, shared_blocked, ONE_READER, None);
        }
    }

    #[inline]
    fn try_lock_shared(&self) -> bool {
        self.try_add(shared_blocked, ONE_READER)
    }

    #[inline]
    unsafe fn unlock_shared(&self) {
        let before = self.state.fetch_sub(ONE_READER, Ordering::Release);
        if before & (READERS | WRITER_PARKED) == ONE_READER | WRITER_PARKED {
            self.wake_drained_writer();
        }
    }

    #[inline]
    fn lock_exclusive(&self) {
        if self
            .state
            .compare_exchange_weak(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_exclusive_slow(None);
        }
    }

    #[inline]
    fn try_lock_exclusive(&self) -> bool {
        self.try_add(exclusive_try_blocked, WRITER)
    }

    #[inline]
    unsafe fn unlock_exclusive(&self) {
        if self
            .state
            .compare_exchange(WRITER, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.release(WRITER, 0, false, false);
        }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & (WRITER | READERS) != 0
    }

    #[inline]
    fn is_locked_exclusive(&self) -> bool {
        self.state.load(Ordering::Relaxed) & (WRITER | READERS) == WRITER
    }
}

// SAFETY: the fair unlocks release like the normal ones, handing modes
// only to threads the new state lets in; the bumps are an unlock and a
// lock.
unsafe impl lock_api::RawRwLockFair for RawRwLock {
    /// Nobody waits for one reader's share but a draining writer, whom
    /// every last reader wakes: the same as `unlock_shared`.
    #[inline]
    unsafe fn unlock_shared_fair(&self) {
        // SAFETY: the caller holds a shared lock.
        unsafe { lock_api::RawRwLock::unlock_shared(self) }
    }

    #[inline]
    unsafe fn unlock_exclusive_fair(&self) {
        self.release(WRITER, 0, false, true);
    }

    #[inline]
    unsafe fn bump_shared(&self) {
        if self.state.load(Ordering::Relaxed) & (WRITER | PARKED) != 0 {
            // SAFETY: the caller holds a shared lock.
            unsafe { lock_api::RawRwLock::unlock_shared(self) };
            lock_api::RawRwLock::lock_shared(self);
        }
    }

    #[inline]
    unsafe fn bump_exclusive(&self) {
        if self.state.load(Ordering::Relaxed) & PARKED != 0 {
            self.release(WRITER, 0, false, true);
            lock_api::RawRwLock::lock_exclusive(self);
        }
    }
}

// SAFETY: a downgrade turns `WRITER` into a reader in one step: nobody can
// take the exclusive mode in between.
unsafe impl lock_api::RawRwLockDowngrade for RawRwLock {
    #[inline]
    unsafe fn downgrade(&self) {
        self.release(WRITER, ONE_READER, false, false);
    }
}

// SAFETY: the timed acquisitions are the blocking ones with a deadline;
// they return true only holding the mode.
unsafe impl lock_api::RawRwLockTimed for RawRwLock {
    type Duration = Duration;
    type Instant = Instant;

    fn try_lock_shared_for(&self, timeout: Duration) -> bool {
        self.try_lock_shared_until_opt(shared_blocked, deadline_after(timeout))
    }

    fn try_lock_shared_until(&self, deadline: Instant) -> bool {
        self.try_lock_shared_until_opt(shared_blocked, Some(deadline))
    }

    fn try_lock_exclusive_for(&self, timeout: Duration) -> bool {
        self.try_lock_exclusive_fast() || self.lock_exclusive_slow(deadline_after(timeout))
    }

    fn try_lock_exclusive_until(&self, deadline: Instant) -> bool {
        self.try_lock_exclusive_fast() || self.lock_exclusive_slow(Some(deadline))
    }
}

// SAFETY: as `lock_shared`, with the recursive rule (readers in let it in).
unsafe impl lock_api::RawRwLockRecursive for RawRwLock {
    #[inline]
    fn lock_shared_recursive(&self) {
        if !self.try_add(recursive_blocked, ONE_READER) {
            self.wait(SHARED_TOKEN, recursive_blocked, ONE_READER, None);
        }
    }

    #[inline]
    fn try_lock_shared_recursive(&self) -> bool {
        self.try_add(recursive_blocked, ONE_READER)
    }
}

// SAFETY: as the recursive and timed acquisitions.
unsafe impl lock_api::RawRwLockRecursiveTimed for RawRwLock {
    fn try_lock_shared_recursive_for(&self, timeout: Duration) -> bool {
        self.try_lock_shared_until_opt(recursive_blocked, deadline_after(timeout))
    }

    fn try_lock_shared_recursive_until(&self, deadline: Instant) -> bool {
        self.try_lock_shared_until_opt(recursive_blocked, Some(deadline))
    }
}

// SAFETY: `UPGRADABLE` is set only from a state without it or `WRITER`:
// one upgradable holder, compatible with readers. An upgrade trades it for
// `WRITER` in one step (no writer can hold `WRITER` meanwhile), then waits
// for the readers like a writer.
unsafe impl lock_api::RawRwLockUpgrade for RawRwLock {
    #[inline]
    fn lock_upgradable(&self) {
        if !self.try_add(upgradable_blocked, ONE_READER | UPGRADABLE) {
            self.wait(
                UPGRADABLE_TOKEN,
                upgradable_blocked,
                ONE_READER | UPGRADABLE,
                None,
            );
        }
    }

    #[inline]
    fn try_lock_upgradable(&self) -> bool {
        self.try_add(upgradable_blocked, ONE_READER | UPGRADABLE)
    }

    #[inline]
    unsafe fn unlock_upgradable(&self) {
        self.release(ONE_READER | UPGRADABLE, 0, false, false);
    }

    #[inline]
    unsafe fn upgrade(&self) {
        if !self.upgrade_fast() {
            self.start_upgrade();
            self.drain(None);
        }
    }

    #[inline]
    unsafe fn try_upgrade(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        while state & READERS == ONE_READER {
            match self.state.compare_exchange_weak(
                state,
                state - (ONE_READER | UPGRADABLE) + WRITER,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
        false
    }
}

// SAFETY: as the upgrade and fair releases.
unsafe impl lock_api::RawRwLockUpgradeFair for RawRwLock {
    #[inline]
    unsafe fn unlock_upgradable_fair(&self) {
        self.release(ONE_READER | UPGRADABLE, 0, false, true);
    }

    #[inline]
    unsafe fn bump_upgradable(&self) {
        if self.state.load(Ordering::Relaxed) & PARKED != 0 {
            self.release(ONE_READER | UPGRADABLE, 0, false, true);
            lock_api::RawRwLockUpgrade::lock_upgradable(self);
        }
    }
}

// SAFETY: each downgrade is one step from the held mode to the weaker one.
unsafe impl lock_api::RawRwLockUpgradeDowngrade for RawRwLock {
    #[inline]
    unsafe fn downgrade_upgradable(&self) {
        self.release(UPGRADABLE, 0, false, false);
    }

    #[inline]
    unsafe fn downgrade_to_upgradable(&self) {
        self.release(WRITER, ONE_READER | UPGRADABLE, true, false);
    }
}

// SAFETY: as the upgradable and timed acquisitions; a timed-out upgrade
// gives `WRITER` back for the upgradable mode in one step.
unsafe impl lock_api::RawRwLockUpgradeTimed for RawRwLock {
    fn try_lock_upgradable_for(&self, timeout: Duration) -> bool {
        self.try_lock_upgradable_until_opt(deadline_after(timeout))
    }

    fn try_lock_upgradable_until(&self, deadline: Instant) -> bool {
        self.try_lock_upgradable_until_opt(Some(deadline))
    }

    unsafe fn try_upgrade_for(&self, timeout: Duration) -> bool {
        self.try_upgrade_until_opt(deadline_after(timeout))
    }

    unsafe fn try_upgrade_until(&self, deadline: Instant) -> bool {
        self.try_upgrade_until_opt(Some(deadline))
    }
}

impl RawRwLock {
    fn key(&self) -> usize {
        self as *const RawRwLock as usize
    }

    /// Where the phase-2 writer parks: inside this lock's own word, so no
    /// other primitive's address.
    fn drain_key(&self) -> usize {
        self.key() + 1
    }

    /// Adds `add` to the state unless `blocked` says no; never waits.
    #[inline]
    fn try_add(&self, blocked: fn(usize) -> bool, add: usize) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        while !blocked(state) {
            let new = state
                .checked_add(add)
                .expect("RwLock reader count overflow");
            match self
                .state
                .compare_exchange_weak(state, new, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
        false
    }

    fn try_lock_exclusive_fast(&self) -> bool {
        self.state
            .compare_exchange(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    fn try_lock_shared_until_opt(
        &self,
        blocked: fn(usize) -> bool,
        deadline: Option<Instant>,
    ) -> bool {
        self.try_add(blocked, ONE_READER) || self.wait(SHARED_TOKEN, blocked, ONE_READER, deadline)
    }

    fn try_lock_upgradable_until_opt(&self, deadline: Option<Instant>) -> bool {
        let add = ONE_READER | UPGRADABLE;
        self.try_add(upgradable_blocked, add)
            || self.wait(UPGRADABLE_TOKEN, upgradable_blocked, add, deadline)
    }

    /// Waits on the lock's address until `blocked` lets `add` in, spinning
    /// a little first; false if `deadline` passed first. A handoff (a fair
    /// release) added `add` for this thread already.
    #[cold]
    #[inline(never)]
    fn wait(
        &self,
        token: ParkToken,
        blocked: fn(usize) -> bool,
        add: usize,
        deadline: Option<Instant>,
    ) -> bool {
        let wait = Wait {
            word: &self.state,
            key: self.key(),
            parked: PARKED,
            token,
            deadline,
        };
        let take = |state| match blocked(state) {
            true => Take::Blocked,
            false => state.checked_add(add).map_or(Take::Stop, Take::To),
        };
        match wait.run(take) {
            Waited::Entered(_) => true,
            Waited::TimedOut => false,
            Waited::Stopped => panic!("RwLock reader count overflow"),
        }
    }

    /// Phase 1 (`WRITER`), then phase 2 (the readers drained); on a
    /// timeout in phase 2, `WRITER` is given back.
    #[cold]
    #[inline(never)]
    fn lock_exclusive_slow(&self, deadline: Option<Instant>) -> bool {
        if !self.wait(EXCLUSIVE_TOKEN, upgradable_blocked, WRITER, deadline) {
            return false;
        }
        if self.drain(deadline) {
            return true;
        }
        self.release(WRITER, 0, false, false);
        false
    }

    /// Phase 2: with `WRITER` held, waits until no reader is left; false if
    /// `deadline` passed with readers still in.
    fn drain(&self, deadline: Option<Instant>) -> bool {
        let wait = Wait {
            word: &self.state,
            key: self.drain_key(),
            parked: WRITER_PARKED,
            token: EXCLUSIVE_TOKEN,
            deadline,
        };
        // `Wait` reads the state with `Acquire`: the readers' critical
        // sections end before ours starts.
        let take = |state| match state & READERS {
            0 => Take::Have,
            _ => Take::Blocked,
        };
        match wait.run(take) {
            Waited::Entered(_) => true,
            Waited::TimedOut | Waited::Stopped => self.state.load(Ordering::Acquire) & READERS == 0,
        }
    }

    /// The last reader out, with the writer parked waiting for it.
    #[cold]
    #[inline(never)]
    fn wake_drained_writer(&self) {
        // SAFETY: the drain key lies inside this lock's word. The callback
        // only clears a bit: it neither panics nor calls parking_lot_core.
        unsafe {
            parking_lot_core::unpark_one(self.drain_key(), |_| {
                // One writer at most parks there: none is left.
                self.state.fetch_and(!WRITER_PARKED, Ordering::Relaxed);
                RETRY
            });
        }
    }

    fn upgrade_fast(&self) -> bool {
        self.state
            .compare_exchange(
                ONE_READER | UPGRADABLE,
                WRITER,
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// The upgradable holder's share and bit become `WRITER` (phase 1 done
    /// at once: `UPGRADABLE` kept every other writer out).
    fn start_upgrade(&self) {
        self.state
            .fetch_sub(ONE_READER + UPGRADABLE - WRITER, Ordering::Acquire);
    }

    fn try_upgrade_until_opt(&self, deadline: Option<Instant>) -> bool {
        if self.upgrade_fast() {
            return true;
        }
        self.start_upgrade();
        if self.drain(deadline) {
            return true;
        }
        self.release(WRITER, ONE_READER | UPGRADABLE, true, false);
        false
    }

    /// Replaces the held bits `sub` with `add` (a release: `add` 0; a
    /// downgrade: a weaker mode), waking the waiters the new state lets
    /// in. `upgradable_stays`: `add` holds `UPGRADABLE`.
    #[inline]
    fn release(&self, sub: usize, add: usize, upgradable_stays: bool, fair: bool) {
        let mut state = self.state.load(Ordering::Relaxed);
        while state & PARKED == 0 {
            match self.state.compare_exchange_weak(
                state,
                state - sub + add,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => state = now,
            }
        }
        self.release_slow(sub, add, upgradable_stays, fair);
    }

    #[cold]
    #[inline(never)]
    fn release_slow(&self, sub: usize, add: usize, upgradable_stays: bool, fair: bool) {
        // What the woken threads get if the lock is handed to them.
        let granted = Cell::new(0);
        let upgradable = Cell::new(upgradable_stays);
        let writer = Cell::new(false);
        let filter = |token: ParkToken| {
            if writer.get() {
                // Everything behind a woken writer is blocked by it.
                return FilterOp::Stop;
            }
            match token {
                SHARED_TOKEN => {
                    granted.set(granted.get() + ONE_READER);
                    FilterOp::Unpark
                }
                // Blocked by the upgradable holder: left parked, and woken
                // when it goes.
                _ if upgradable.get() => FilterOp::Skip,
                UPGRADABLE_TOKEN => {
                    upgradable.set(true);
                    granted.set(granted.get() + (ONE_READER | UPGRADABLE));
                    FilterOp::Unpark
                }
                _ => {
                    writer.set(true);
                    granted.set(granted.get() + WRITER);
                    FilterOp::Unpark
                }
            }
        };
        let callback = |result: UnparkResult| {
            let handoff = result.unparked_threads != 0 && (fair || result.be_fair);
            let mut state = self.state.load(Ordering::Relaxed);
            loop {
                let mut new = state - sub + add;
                if handoff {
                    new += granted.get();
                }
                if result.have_more_threads {
                    new |= PARKED;
                } else {
                    new &= !PARKED;
                }
                // Readers may come and go meanwhile (when `add` or the
                // grants let them): a compare-exchange, not a store.
                match self.state.compare_exchange_weak(
                    state,
                    new,
                    Ordering::Release,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(now) => state = now,
                }
            }
            if handoff {
                HANDOFF
            } else {
                RETRY
            }
        };
        // SAFETY: the key is this lock's address. The filter only reads
        // tokens and sets cells, the callback only updates the atomic
        // state: neither panics nor calls parking_lot_core (the additions
        // cannot overflow: each woken thread adds one reader at most).
        unsafe {
            parking_lot_core::unpark_filter(self.key(), filter, callback);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lock_api::RawRwLockUpgradeDowngrade as _;
    use lock_api::{RawRwLock as _, RawRwLockDowngrade as _, RawRwLockUpgrade as _};

    fn state(l: &RawRwLock) -> usize {
        l.state.load(Ordering::Relaxed)
    }

    #[test]
    fn transitions_leave_the_state_they_say() {
        let l = RawRwLock::INIT;
        l.lock_shared();
        l.lock_shared();
        assert_eq!(state(&l), 2 * ONE_READER);
        assert!(!l.try_lock_exclusive());
        assert!(l.try_lock_upgradable());
        assert!(!l.try_lock_upgradable(), "one upgradable at a time");
        // SAFETY: each call releases or converts a mode taken above.
        unsafe {
            assert!(!l.try_upgrade(), "readers still in");
            l.unlock_shared();
            l.unlock_shared();
            assert!(l.try_upgrade());
            assert!(l.is_locked_exclusive());
            assert_eq!(state(&l), WRITER);
            l.downgrade_to_upgradable();
            assert_eq!(state(&l), ONE_READER | UPGRADABLE);
            l.downgrade_upgradable();
            assert_eq!(state(&l), ONE_READER);
            l.unlock_shared();
            l.lock_exclusive();
            l.downgrade();
            assert_eq!(state(&l), ONE_READER);
            l.unlock_shared();
        }
        assert_eq!(state(&l), 0);
        assert!(!l.is_locked());
    }

    /// Fair unlocks and bumps hand each mode to the parked waiters the
    /// new state lets in, before the unlocking thread can take it back.
    #[test]
    fn fair_unlocks_and_bumps_hand_over() {
        use lock_api::{RwLockUpgradableReadGuard, RwLockWriteGuard};
        for _ in 0..5 {
            let l = lock_api::RwLock::<RawRwLock, Vec<&str>>::new(Vec::new());
            // SAFETY: only the state is read through it.
            let parked = || state(unsafe { l.raw() }) & PARKED != 0;
            // Exclusive to a waiting writer.
            std::thread::scope(|s| {
                let w = l.write();
                s.spawn(|| l.write().push("writer"));
                super::super::until_parked(parked);
                RwLockWriteGuard::unlock_fair(w);
                l.write().push("unlocker");
            });
            // Exclusive to waiting readers: all three get in first.
            let inside = std::sync::atomic::AtomicUsize::new(0);
            std::thread::scope(|s| {
                let w = l.write();
                for _ in 0..3 {
                    s.spawn(|| {
                        let _r = l.read();
                        inside.fetch_add(1, Ordering::SeqCst);
                    });
                }
                // Three parked: wait for the bit, then for the others.
                super::super::until_parked(parked);
                std::thread::sleep(std::time::Duration::from_millis(50));
                RwLockWriteGuard::unlock_fair(w);
                let mut w = l.write();
                assert_eq!(
                    inside.load(Ordering::SeqCst),
                    3,
                    "readers not handed the lock"
                );
                w.push("after readers");
            });
            // A bump lets the waiting writer in first.
            std::thread::scope(|s| {
                let mut w = l.write();
                s.spawn(|| l.write().push("bumped in"));
                super::super::until_parked(parked);
                RwLockWriteGuard::bump(&mut w);
                w.push("after bump");
            });
            // An upgradable's fair unlock, to a waiting writer.
            std::thread::scope(|s| {
                let u = l.upgradable_read();
                s.spawn(|| l.write().push("after upgradable"));
                super::super::until_parked(parked);
                RwLockUpgradableReadGuard::unlock_fair(u);
                l.write().push("unlocker");
            });
            assert_eq!(
                *l.read(),
                [
                    "writer",
                    "unlocker",
                    "after readers",
                    "bumped in",
                    "after bump",
                    "after upgradable",
                    "unlocker"
                ]
            );
        }
    }

    #[test]
    fn recursive_read_passes_a_draining_writer() {
        use lock_api::RawRwLockRecursive as _;
        let l = RawRwLock::INIT;
        l.lock_shared();
        std::thread::scope(|s| {
            let writer = s.spawn(|| {
                l.lock_exclusive();
                // SAFETY: locked just above.
                unsafe { l.unlock_exclusive() };
            });
            while state(&l) & WRITER == 0 {
                std::thread::yield_now();
            }
            assert!(!l.try_lock_shared(), "a waiting writer blocks new readers");
            assert!(l.try_lock_shared_recursive());
            // SAFETY: two shared locks held.
            unsafe {
                l.unlock_shared();
                l.unlock_shared();
            }
            writer.join().unwrap();
        });
        assert_eq!(state(&l), 0);
    }
}
