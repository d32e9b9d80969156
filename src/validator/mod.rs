//! The core contract: `acquire` and `release`. Every primitive calls these.
//!
//! The fast path touches only thread-local state, through [`Fast`]: plain
//! cells holding the held-lock stack's buffer and depth, the running chain
//! key, and the slots of the thread's cache of validated chains. A known
//! chain is pushed, and a top entry popped, without a call or a borrow; the
//! thread's oldest held lock is released without a session too.
//! Only a chain never seen before takes the global graph lock, runs the
//! checks, and records new dependencies.
//!
//! Everything else works on the thread's [`ThreadState`], a `RefCell`,
//! inside a [`Session`] that closes the fast path while it lasts. While the
//! validator runs for a thread (including the user's report callback), the
//! cell is borrowed, and any lock the thread takes in that time is simply not
//! tracked; the guard remembers that, so its release is not tracked either.
//! A release of a lock taken *before* (a guard dropped by the callback) is
//! queued and applied when the session ends.
//!
//! Reports are delivered by `emit`, which never unwinds: a panic that
//! `Action::Panic` or a callback owes is raised by `raise_due`, at a
//! blocking acquisition only (see [`Raised`]).

use std::cell::{Cell, RefCell, RefMut};
use std::collections::{HashMap, HashSet};
use std::panic::Location;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::chain::{self, Key, LocalChains};
use crate::class::{self, ClassId, LazyClass};
use crate::config::{self, Action};
use crate::graph::{self, Graph};
use crate::held::{self, HeldLock, Mode, Nest};
use crate::report::{
    Backtrace, ChainLink, LockInfo, Problem, ProcessInfo, RecursionCause, Report, Site, SiteOrigin,
    ThreadInfo,
};
use crate::report_log;
use crate::shared::{Facade, Raw, Shared};
use crate::trace::{self, TraceId, TraceStore};

mod acquire;
mod build;
mod dump;
mod emit;
mod exit;
mod fast;
mod misuse;
pub(crate) mod orphans;
mod release;
mod stats;
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
pub(crate) mod task;
mod validate;

// The engine's files share their items with each other through this module.
use acquire::*;
use build::*;
use emit::*;
use exit::*;
use fast::*;
use misuse::*;
use release::*;
use validate::*;

// What the rest of the crate calls, as visible as before the split.
pub(crate) use acquire::{
    acquire, acquire_blocking_slow, acquire_fast, acquire_ordered, acquire_under,
};
pub(crate) use build::process_info;
pub use dump::dump;
pub(crate) use emit::{clear_due, panic_message};
pub(crate) use fast::holds_any;
pub(crate) use misuse::{assert_held, freed};
pub(crate) use release::{change_mode, holds, pin, release, set_subclass};
pub(crate) use stats::retire_classes;
pub use stats::{held_locks, reports, reset, stats, Stats};

struct ThreadState {
    held: Vec<HeldLock>,
    key: Key,
    chains: LocalChains,
    /// Order keys given explicitly (`lock_ordered`) for held locks of ordered
    /// classes, by instance; any other lock's order key is its address.
    order_keys: Vec<(usize, u64)>,
    /// The [`reset`] this state last caught up with.
    generation: u64,
}

/// How many times [`reset`] ran. A thread whose state is of an older
/// generation forgets its validated chains at its next session, and takes
/// a new base for its chain keys, so that neither its cache nor any lock's
/// memo of a chain validated before the reset matches again.
static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl ThreadState {
    /// The chain key under held entry `i` (the stack's below the first is
    /// its generation's base).
    fn key_below(&self, i: usize) -> Key {
        held::key_below(&self.held, i, base_key(self.generation))
    }
}

/// The chain key of an empty stack in a generation.
fn base_key(generation: u64) -> Key {
    match generation {
        0 => Key::initial(),
        g => chain::mix(Key::initial(), g),
    }
}

/// Catches a thread's state up with a [`reset`]: a new, empty chain cache,
/// and the held entries' chain keys recomputed from the new base.
#[cold]
fn catch_up(st: &mut ThreadState, generation: u64) {
    st.generation = generation;
    st.chains = LocalChains::new();
    st.key = held::rekey(&mut st.held, base_key(generation));
}

thread_local! {
    static STATE: RefCell<ThreadSlot> = const { RefCell::new(ThreadSlot(ThreadState::new())) };
    /// What the thread did to its held locks while a session ran on it (a
    /// report callback dropping a guard or a lock): applied when the session
    /// ends, so that no release is lost.
    static DEFERRED: RefCell<Vec<Deferred>> = const { RefCell::new(Vec::new()) };
    static FAST: Fast = const {
        Fast {
            step: Step::new(),
            limit: Cell::new(0),
            room: Cell::new(0),
            low: Cell::new(0),
            base: Cell::new(Key { a: 0, b: 0 }),
            held: Cell::new(std::ptr::null_mut()),
            chains: Cell::new(std::ptr::null()),
            chains_len: Cell::new(0),
            explicit_keys: Cell::new(false),
            acquiring: Cell::new(0),
        }
    };
}

/// The thread-local owner of a thread's [`ThreadState`]: its destructor is
/// the thread's exit. (A `ThreadState` built anywhere else, as the model
/// tests do, has no destructor of its own.)
struct ThreadSlot(ThreadState);

/// An operation on the held stack that arrived while a session ran on the
/// thread.
#[derive(Clone, Copy, Debug)]
enum Deferred {
    Release {
        class: ClassId,
        instance: usize,
        at: Option<&'static Location<'static>>,
    },
    Freed {
        instance: usize,
    },
}

/// Runs `op` on this thread's state now if it can; if a session is running
/// on the thread (the validator, or a report callback inside it), queues it
/// for the session's end instead. Only a thread that is exiting drops it.
fn with_state_or_defer(op: Deferred) {
    let entered = Enter::new();
    let deferred = STATE.try_with(|cell| match cell.try_borrow_mut() {
        Ok(slot) if entered.is_some() => {
            let mut session = Session::start(RefMut::map(slot, |s| &mut s.0));
            apply(&mut session.st, op);
            false
        }
        _ => true,
    });
    if deferred.is_err() && entered.is_some() {
        // The thread is exiting and its state is gone: a later
        // thread-local destructor releasing a guard it kept.
        exit_later::apply_late(op);
    }
    drop(entered);
    if deferred == Ok(true) {
        let _ = DEFERRED.try_with(|d| {
            if let Ok(mut d) = d.try_borrow_mut() {
                d.push(op);
            }
        });
    }
}

fn apply(st: &mut ThreadState, op: Deferred) {
    match op {
        Deferred::Release {
            class,
            instance,
            at,
        } => release_slow(st, class, instance, at),
        Deferred::Freed { instance } => freed_in(st, instance),
    }
}

/// Applies what was deferred while the session ran, including anything the
/// reports this raises defer in turn (bounded, in case a callback keeps
/// releasing locks it takes untracked).
fn apply_deferred(st: &mut ThreadState) {
    for _ in 0..64 {
        let batch = DEFERRED
            .try_with(|d| d.try_borrow_mut().map(|mut d| std::mem::take(&mut *d)))
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        if batch.is_empty() {
            return;
        }
        for op in batch {
            match op {
                // Not held: the release of an acquisition made while the
                // session ran, which was not tracked (a `LockMap`
                // acquire/release pair in a report callback). Not a bad
                // unlock.
                Deferred::Release { instance, .. } if held::find(&st.held, instance).is_none() => {}
                op => apply(st, op),
            }
        }
    }
}

/// The validator's hold on its thread: while it lives, every acquisition on
/// the thread is untracked and every release deferred, so nothing re-enters
/// the validator (its allocations may call a global allocator that takes
/// instrumented locks; a signal handler may run at any instruction).
struct Enter(&'static Fast);

impl Enter {
    /// `None` when the validator is already running on this thread.
    #[inline]
    fn new() -> Option<Enter> {
        let fast = fast()?;
        if !fast.step.enter() {
            return None;
        }
        // Nothing the guarded code touches moves before the flag is set.
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
        Some(Enter(fast))
    }
}

/// Leaves every acquisition on the calling thread untracked from now on:
/// for the validator's own helper threads.
pub(crate) fn untracked_thread() {
    if let Some(fast) = fast() {
        fast.step.enter();
    }
}

impl Drop for Enter {
    #[inline]
    fn drop(&mut self) {
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
        self.0.step.leave();
    }
}

/// This thread's [`Fast`], without a closure: `LocalKey::with` around the
/// whole fast path is too big for the compiler to inline into every lock
/// call, and an out-of-line call costs about as much as the path itself.
///
/// `None` only where thread-locals live in memory the platform frees at
/// thread exit, once it has (with native thread-locals, never).
/// Callers use the reference within their own frame and never keep it.
#[inline(always)]
fn fast() -> Option<&'static Fast> {
    let fast = FAST.try_with(|fast| fast as *const Fast).ok()?;
    // SAFETY: `try_with` succeeded, so the storage is alive now, and it is
    // not freed while this thread is inside a call (with native
    // thread-locals it never is: the initializer is const and there is no
    // destructor; otherwise only when the thread's destructors run, and
    // callers do not keep the reference past their own frame). `Fast` is
    // made of `Cell`s and is not `Sync`, so the reference cannot leave this
    // thread, and no `&mut` to it ever exists.
    Some(unsafe { &*fast })
}

/// Runs `f` on this thread's state, unless the thread is exiting or the
/// validator is already running on it.
#[inline]
fn with_state<R>(f: impl FnOnce(&mut ThreadState) -> R) -> Option<R> {
    let _entered = Enter::new()?;
    STATE
        .try_with(|cell| {
            let slot = cell.try_borrow_mut().ok()?;
            let mut session = Session::start(RefMut::map(slot, |s| &mut s.0));
            Some(f(&mut session.st))
        })
        .ok()
        .flatten()
}

/// The slow path's exclusive hold on a thread's state. While it lasts the
/// fast path is closed; when it ends (also by unwinding) the state is
/// published back to [`Fast`].
struct Session<'a> {
    st: RefMut<'a, ThreadState>,
}

impl<'a> Session<'a> {
    fn start(mut st: RefMut<'a, ThreadState>) -> Session<'a> {
        #[cfg(test)]
        SESSIONS.with(|n| n.set(n.get() + 1));
        let _ = FAST.try_with(|fast| {
            let depth = fast.step.depth.get() as usize;
            fast.room.set(0);
            if fast.limit.replace(0) != 0 {
                debug_assert!(depth <= st.held.capacity());
                // SAFETY: the fast path was open, so (by `Fast`'s invariant)
                // `fast.held` is this vector's buffer, `depth` is within its
                // capacity and the first `depth` entries are initialized
                // (`HeldLock` is `Copy`: nothing to drop).
                unsafe { st.held.set_len(depth) };
                st.key = st.held.last().map_or(fast.base.get(), |top| top.key);
                take_in_released(&mut st, fast.low.replace(0) as usize);
            }
        });
        let generation = GENERATION.load(Ordering::Acquire);
        if st.generation != generation {
            catch_up(&mut st, generation);
        }
        orphans::collect(&mut st);
        if st.held.is_empty() {
            // Also the first session's: `ThreadState::new` cannot compute it.
            st.key = base_key(st.generation);
        }
        Session { st }
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let st = &mut *self.st;
        apply_deferred(st);
        if st.held.capacity() == 0 {
            st.held.reserve(16);
        }
        if is_due(false) {
            // A panic is owed: the fast path stays closed, so that the
            // next acquisition comes to the slow path and raises it.
            return;
        }
        let (chains, chains_len) = st.chains.slots();
        let _ = FAST.try_with(|fast| {
            let (Ok(depth), Ok(limit)) = (
                u32::try_from(st.held.len()),
                u32::try_from(st.held.capacity()),
            ) else {
                // Too deep to publish: the fast path stays closed.
                return;
            };
            fast.step.depth.set(depth);
            fast.base.set(base_key(st.generation));
            fast.held.set(st.held.as_mut_ptr());
            fast.chains.set(chains);
            fast.chains_len.set(chains_len);
            fast.explicit_keys.set(!st.order_keys.is_empty());
            fast.low.set(0);
            fast.limit.set(limit);
            fast.room.set(limit);
        });
    }
}

/// Global state, behind one plain (uninstrumented) lock. Only the slow path
/// takes it.
#[derive(Default)]
struct Global {
    graph: Graph,
    traces: TraceStore,
    /// Lock-order problems already reported.
    reported: HashSet<Reported>,
    /// Misuse already reported, by kind, class and site.
    reported_misuse: HashSet<(MisuseKind, ClassId, &'static str, u32, u32)>,
    /// Chains in the global set.
    chains: usize,
    /// Past the memory limit: no new stack traces or chains are recorded,
    /// and dependencies only between classes registered before it.
    frozen: bool,
    /// Classes registered when the limit was reached: the known classes.
    known_classes: usize,
    /// Dependencies not recorded since (a class registered after the limit).
    dependencies_dropped: usize,
    /// The classes of every chain in the global set, for `dump`.
    chain_log: ChainLog,
    /// Releases made outside the context that took the lock, by owner
    /// context (see `task`).
    elsewhere: Vec<(u64, ClassId, usize)>,
    /// Blocking waits in tasks under an async class no second context took
    /// yet: reported once one does (see `task`).
    blocked_under: Vec<(ClassId, Report)>,
    /// Tasks that ended with async guards still out, and how many: their
    /// releases have no stack to go to (see `task`).
    escaped: HashMap<u64, usize>,
}

/// The locks of the validated chains, flat: what `dump` lists, as the
/// kernel's `/proc/lockdep_chains` does. Five bytes per lock of a chain,
/// four per chain.
#[derive(Default)]
struct ChainLog {
    /// Each lock's class.
    classes: Vec<ClassId>,
    /// Each lock's mode bits, and `TRYLOCK`.
    modes: Vec<u8>,
    /// Where each chain ends in `classes`.
    ends: Vec<u32>,
}

impl ChainLog {
    const TRYLOCK: u8 = 1 << 4;

    fn push(&mut self, held: &[HeldLock], next: &HeldLock) {
        for h in held.iter().chain([next]) {
            self.classes.push(h.class);
            self.modes
                .push(h.mode.bits() as u8 | if h.trylock { Self::TRYLOCK } else { 0 });
        }
        self.ends
            .push(u32::try_from(self.classes.len()).unwrap_or(u32::MAX));
    }

    fn bytes(&self) -> usize {
        self.classes.capacity() * std::mem::size_of::<ClassId>()
            + self.modes.capacity()
            + self.ends.capacity() * 4
    }

    /// Each chain's locks: `(class, mode, trylock)`, outermost first.
    fn chains(&self) -> impl Iterator<Item = Vec<(ClassId, Mode, bool)>> + '_ {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let end = (end as usize).min(self.classes.len());
            let chain = (start..end)
                .map(|i| {
                    let m = self.modes[i];
                    (
                        self.classes[i],
                        Mode::from_bits(u64::from(m & 3)),
                        m & Self::TRYLOCK != 0,
                    )
                })
                .collect();
            start = end;
            chain
        })
    }
}

/// What makes two lock-order reports the same report.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
enum Reported {
    /// A cycle, by its sorted classes.
    Cycle(Vec<ClassId>),
    /// A class acquired while already held.
    Recursion(ClassId),
    /// An ordered class nested out of order.
    Disorder(ClassId),
    /// A task's report (see `task`): its kind and two classes.
    Task(u8, ClassId, ClassId),
}

/// The shared state in production: lockdep's own raw locks, created on first use
/// (only slow paths reach it).
static SHARED: std::sync::OnceLock<Shared<Raw, Global>> = std::sync::OnceLock::new();

fn shared() -> &'static Shared<Raw, Global> {
    SHARED.get_or_init(|| {
        crate::fork::register();
        Shared::new()
    })
}

fn with_global<R>(f: impl FnOnce(&mut Global) -> R) -> R {
    shared().with_global(f)
}

/// Holds the graph's lock and the chain set's across a `fork` (see
/// `crate::fork`); the graph's first, as the validator nests them.
pub(crate) fn fork_lock() {
    let shared = shared();
    std::mem::forget(shared.global.lock());
    shared.chains.fork_lock();
}

/// Releases what [`fork_lock`] took.
///
/// # Safety
/// As [`crate::fork::release`]'s.
pub(crate) unsafe fn fork_unlock(child: bool) {
    let shared = shared();
    // SAFETY: passed on from the caller.
    unsafe {
        shared.chains.fork_unlock(child);
        crate::fork::release(&shared.global, child);
    }
}

/// Runs a piece of the validator's own work so that a bug in it cannot take
/// the host program down: a panic is reported as an internal error and
/// validation goes on. (User code, the report callback and `Action::Panic`,
/// never runs inside this.)
fn contained<R>(what: &str, f: impl FnOnce() -> R) -> Option<R> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => Some(r),
        Err(_) => {
            INTERNAL_ERRORS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            eprintln!("lockdep: internal error during {what}; validation continues");
            None
        }
    }
}

static INTERNAL_ERRORS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl ThreadState {
    const fn new() -> ThreadState {
        ThreadState {
            held: Vec::new(),
            // Set by the first session: `Key::initial()` is not const.
            key: Key { a: 0, b: 0 },
            chains: LocalChains::new(),
            order_keys: Vec::new(),
            generation: 0,
        }
    }
}

#[cfg(test)]
mod tests;

/// Model checking of the concurrent internals: the real validation code,
/// run on shared state built with loom's locks, under the interleavings loom
/// explores (preemption bound 3, to keep the run quick).
#[cfg(all(test, not(lockdep_off)))]
mod model;
