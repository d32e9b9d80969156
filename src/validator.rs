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
use crate::shared::{Facade, ParkingLot, Shared};
use crate::trace::{self, TraceId, TraceStore};

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
            depth: Cell::new(0),
            limit: Cell::new(0),
            room: Cell::new(0),
            low: Cell::new(0),
            key: Cell::new(Key { a: 0, b: 0 }),
            held: Cell::new(std::ptr::null_mut()),
            chains: Cell::new(std::ptr::null()),
            chains_len: Cell::new(0),
            explicit_keys: Cell::new(false),
            inside: Cell::new(false),
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

/// What the fast path needs of a thread's state, in plain cells with no
/// destructor: reaching them is one thread-local offset, without the
/// registration and liveness check of a thread-local that has a destructor,
/// and without a `RefCell` borrow.
///
/// The fast path pushes and pops entries of [`ThreadState::held`]'s buffer
/// through `held`; the slow path works on the `ThreadState` itself, inside a
/// [`Session`], which takes the fast path's changes in when it starts and
/// publishes its own when it ends.
///
/// Invariant: while `limit` is not 0, `STATE` is alive and not borrowed;
/// `held` points to its held-lock buffer, whose capacity is at least
/// `limit` and whose first `depth` entries are initialized; the first
/// `low` of them are released (the thread's oldest locks, released first,
/// see [`fast_release_oldest`], their instance 0) and the others held;
/// `key` is the chain key of all `depth` entries, which is the held
/// stack's when `low` is 0; and
/// `chains`/`chains_len` are the slots of its chain cache. `limit` is 0
/// before a thread's first acquisition, during a session (so the validator
/// and the report callback never re-enter it), and from the moment the
/// thread's state starts being destroyed. `room` is `limit` when `low` is
/// 0 and 0 otherwise: a push needs the held stack's key, so it first
/// compacts the stack ([`compact_fast`]).
struct Fast {
    depth: Cell<u32>,
    limit: Cell<u32>,
    room: Cell<u32>,
    low: Cell<u32>,
    key: Cell<Key>,
    held: Cell<*mut HeldLock>,
    chains: Cell<*const u64>,
    chains_len: Cell<usize>,
    /// Some held lock may have an explicit order key (`lock_ordered`): the
    /// fast path leaves ordered classes to the slow path.
    explicit_keys: Cell<bool>,
    /// The validator is running on this thread: the fast path is updating
    /// the held stack, or an [`Enter`] is alive (class resolution, a
    /// session, a report callback). Whatever interrupts it on the same
    /// thread (a signal handler, the global allocator called by the
    /// validator's own allocations) takes its locks untracked.
    inside: Cell<bool>,
    /// The lock whose acquisition the validator is handling on this thread
    /// (0: none): one taken again meanwhile is taken by the validator's own
    /// allocations (see [`alloc_locks`]).
    acquiring: Cell<usize>,
}

/// Locks that the validator's own allocations take: locks of the global
/// allocator. Found when the validator, handling the acquisition of one,
/// allocates and so re-enters the acquisition of that very lock. While a
/// thread holds one, it is inside the allocator, where nothing may
/// allocate: a lock it takes then (an allocator's nested lock) is left
/// untracked rather than validated.
mod alloc_locks {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::held::HeldLock;

    static LOCKS: [AtomicUsize; 8] = [const { AtomicUsize::new(0) }; 8];

    /// `instance` was acquired again while the validator handled its
    /// acquisition on this thread.
    pub(super) fn reentered(instance: usize) {
        let Some(fast) = super::fast() else { return };
        if fast.acquiring.get() != instance || instance == 0 {
            return;
        }
        for slot in &LOCKS {
            match slot.compare_exchange(0, instance, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return,
                Err(seen) if seen == instance => return,
                Err(_) => {}
            }
        }
    }

    /// Does the thread hold a lock of the allocator?
    pub(super) fn held(held: &[HeldLock]) -> bool {
        if LOCKS[0].load(Ordering::Relaxed) == 0 {
            return false;
        }
        held.iter().any(|h| {
            LOCKS
                .iter()
                .any(|s| s.load(Ordering::Relaxed) == h.instance)
        })
    }
}

/// Sets [`Fast::acquiring`] for its lifetime.
struct Acquiring(&'static Fast, usize);

impl Acquiring {
    fn new(instance: usize) -> Option<Acquiring> {
        let fast = fast()?;
        Some(Acquiring(fast, fast.acquiring.replace(instance)))
    }
}

impl Drop for Acquiring {
    fn drop(&mut self) {
        self.0.acquiring.set(self.1);
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
        if fast.inside.replace(true) {
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
        fast.inside.set(true);
    }
}

impl Drop for Enter {
    #[inline]
    fn drop(&mut self) {
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
        self.0.inside.set(false);
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
            let depth = fast.depth.get() as usize;
            fast.room.set(0);
            if fast.limit.replace(0) != 0 {
                debug_assert!(depth <= st.held.capacity());
                // SAFETY: the fast path was open, so (by `Fast`'s invariant)
                // `fast.held` is this vector's buffer, `depth` is within its
                // capacity and the first `depth` entries are initialized
                // (`HeldLock` is `Copy`: nothing to drop).
                unsafe { st.held.set_len(depth) };
                st.key = fast.key.get();
                take_in_released(&mut st, fast.low.replace(0) as usize);
            }
        });
        let generation = GENERATION.load(Ordering::Acquire);
        if st.generation != generation {
            catch_up(&mut st, generation);
        }
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
            fast.depth.set(depth);
            fast.key.set(st.key);
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

/// Drops the `low` oldest entries of `st.held`, released on the fast path,
/// and gives those above the keys of the stack without them.
fn take_in_released(st: &mut ThreadState, low: usize) {
    if low > 0 {
        let (len, key) = compact(&mut st.held, low);
        st.held.truncate(len);
        st.key = key;
    }
}

/// Moves the entries above the `low` released ones of `held` down to its
/// start and rekeys them; returns how many there are and the stack's key.
/// Nothing to validate: see [`fast_release_oldest`].
fn compact(held: &mut [HeldLock], low: usize) -> (usize, Key) {
    let Some(bottom) = held.first() else {
        return (0, Key::initial());
    };
    let below = bottom.prev_key;
    held.copy_within(low.., 0);
    let len = held.len() - low;
    (len, held::rekey(&mut held[..len], below))
}

/// Compacts the fast path's stack after releases of its oldest entries, so
/// that a push has the held stack's key. Returns whether it did.
#[cold]
fn compact_fast() -> bool {
    let Some(fast) = fast() else {
        return false;
    };
    one_step(fast, || {
        let low = fast.low.get() as usize;
        if low == 0 || fast.limit.get() == 0 {
            return false;
        }
        // SAFETY: the fast path is open (`limit != 0`), so by `Fast`'s
        // invariant the first `depth` entries of the live held buffer are
        // initialized and nothing else borrows it; the slice does not
        // outlive this call.
        let held =
            unsafe { std::slice::from_raw_parts_mut(fast.held.get(), fast.depth.get() as usize) };
        let (len, key) = compact(held, low);
        fast.depth.set(len as u32);
        fast.key.set(key);
        fast.low.set(0);
        fast.room.set(fast.limit.get());
        true
    })
    .unwrap_or(false)
}

/// The fast path of an acquisition of a lock of an unordered class whose
/// (sub)class the lock has cached. `None` when it does not apply.
#[inline(always)]
fn fast_acquire(
    class: &LazyClass,
    subclass: u32,
    instance: usize,
    mode: Mode,
    trylock: bool,
    at: &'static Location<'static>,
) -> Option<bool> {
    fast_acquire_by(
        LazyClass::cached_unordered,
        class,
        subclass,
        instance,
        mode,
        trylock,
        at,
    )
}

/// The fast path of an acquisition whose class `find` gives without a lock:
/// [`LazyClass::cached_unordered`] (inline, [`fast_acquire`]), or, for a
/// subclass (> 0) other than the lock's last one, the lock-free cache of
/// subclasses, [`LazyClass::sub_lockfree`] (out of line).
#[inline(always)]
fn fast_acquire_by(
    find: impl FnOnce(&LazyClass, u32) -> Option<ClassId>,
    class: &LazyClass,
    subclass: u32,
    instance: usize,
    mode: Mode,
    trylock: bool,
    at: &'static Location<'static>,
) -> Option<bool> {
    let fast = fast()?;
    let id = find(class, subclass)?;
    fast_push(fast, id, &class.memo, instance, mode, trylock, Nest::No, at)
}

/// The fast path's push: the held stack has room, and the chain is the
/// lock's memo or in this thread's cache. `None` when it does not apply.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn fast_push(
    fast: &Fast,
    id: ClassId,
    memo: &std::sync::atomic::AtomicU64,
    instance: usize,
    mode: Mode,
    trylock: bool,
    nest: Nest,
    at: &'static Location<'static>,
) -> Option<bool> {
    one_step(fast, || {
        let depth = fast.depth.get();
        if depth >= fast.room.get() {
            return None;
        }
        let prev_key = fast.key.get();
        let key = chain::mix(
            prev_key,
            HeldLock::id(id, mode, trylock, nest == Nest::Covered),
        );
        if depth != 0 && !trylock && memo.load(Ordering::Relaxed) != key.memo() {
            // SAFETY: the fast path is open (`depth < limit`), so by `Fast`'s
            // invariant these are the live slots of this thread's chain cache,
            // which nothing else borrows.
            let slots =
                unsafe { std::slice::from_raw_parts(fast.chains.get(), fast.chains_len.get()) };
            if !chain::probe(slots, key) {
                return None;
            }
            memo.store(key.memo(), Ordering::Relaxed);
        }
        let entry = HeldLock {
            class: id,
            instance,
            mode,
            trylock,
            pins: 0,
            nest,
            prev_key,
            at,
        };
        // SAFETY: `depth < room <= limit`, so by `Fast`'s invariant the slot is
        // within the capacity of the live held buffer, which nothing borrows.
        unsafe { fast.held.get().add(depth as usize).write(entry) };
        fast.depth.set(depth + 1);
        fast.key.set(key);
        Some(true)
    })
    .flatten()
}

/// Runs `f`, which reads and updates the thread's stack through `fast`, as
/// one step for whatever interrupts it on this thread (a signal handler):
/// that sees `inside` and leaves its locks untracked. `None`, without
/// running `f`, when the validator is already running on the thread. The
/// flag is set before `f`'s first read: a handler whose locks went through
/// the fast path meanwhile (and compacted the stack) would leave what `f`
/// read stale.
#[inline(always)]
fn one_step<R>(fast: &Fast, f: impl FnOnce() -> R) -> Option<R> {
    if fast.inside.replace(true) {
        return None;
    }
    std::sync::atomic::compiler_fence(Ordering::SeqCst);
    let result = f();
    std::sync::atomic::compiler_fence(Ordering::SeqCst);
    fast.inside.set(false);
    Some(result)
}

/// Does this thread hold any tracked lock? One thread-local read; false
/// while the fast path is closed (the validator runs on this thread, or its
/// state is gone).
#[inline]
pub(crate) fn holds_any() -> bool {
    fast().is_some_and(|f| f.limit.get() != 0 && f.depth.get() != 0)
}

/// The locks this thread holds, as the fast path sees them; `None` while
/// the fast path is closed.
fn fast_held(fast: &Fast) -> Option<&[HeldLock]> {
    if fast.limit.get() == 0 {
        return None;
    }
    let low = fast.low.get() as usize;
    // SAFETY: the fast path is open, so by `Fast`'s invariant the first
    // `depth` entries of the live held buffer are initialized, `low` of them
    // at most released, and nothing borrows it; the slice is used before
    // anything can change the stack.
    Some(unsafe {
        std::slice::from_raw_parts(fast.held.get().add(low), fast.depth.get() as usize - low)
    })
}

/// The fast path of an acquisition of a lock of an ordered class, at
/// subclass 0, when no held lock has an explicit order key: every held lock
/// of the class must come before this one by address (or the slow path
/// reports it), then the push is the usual one.
#[inline]
fn fast_acquire_ordered(
    class: &LazyClass,
    instance: usize,
    mode: Mode,
    trylock: bool,
    at: &'static Location<'static>,
) -> Option<bool> {
    let fast = fast()?;
    let (id, ordered) = class.get_with_order(0);
    if !ordered || fast.explicit_keys.get() {
        return None;
    }
    if !trylock {
        let order = class.order()?;
        let key = instance as u64;
        let out_of_order = fast_held(fast)?
            .iter()
            .any(|h| h.class == id && order(h.instance as u64, key) != std::cmp::Ordering::Less);
        if out_of_order {
            return None;
        }
    }
    fast_push(
        fast,
        id,
        &class.memo,
        instance,
        mode,
        trylock,
        Nest::Ordered,
        at,
    )
}

/// The fast path of a release: `instance` is the top entry, and not pinned.
/// Returns whether it applied.
#[inline(always)]
fn fast_release(instance: usize) -> bool {
    let Some(fast) = fast() else {
        return false;
    };
    one_step(fast, || {
        let depth = fast.depth.get();
        // `depth - 1 < limit`: the fast path is open and the stack not empty.
        if depth.wrapping_sub(1) >= fast.limit.get() {
            return false;
        }
        // SAFETY: `0 < depth <= limit`: by `Fast`'s invariant, an initialized
        // entry of the live held buffer, which nothing borrows.
        let top = unsafe { fast.held.get().add(depth as usize - 1).read() };
        let on_top = top.instance == instance && top.pins == 0;
        if on_top {
            // Over released entries only (`depth == low`), the stack is
            // empty, and the next push compacts it.
            fast.key.set(top.prev_key);
            fast.depth.set(depth - 1);
        }
        on_top
    })
    .unwrap_or(false)
}

/// The fast path of a release of the thread's *oldest* held lock, not on
/// top (a `Vec` of guards drops first to last): it only moves `low` up, in
/// O(1). Returns whether it applied.
///
/// No chain needs validating again. A release re-validates only the first
/// non-trylock entry above the released lock, whose walk down the stack
/// stopped at it and now goes on below it (see [`remove_at`]); below the
/// oldest held lock there is nothing to go on to.
///
/// Of two entries of one lock (a lock read twice), a release removes the
/// top one if it is on top, or else the oldest one if that is the
/// thread's oldest held lock, or else the topmost.
#[inline]
fn fast_release_oldest(instance: usize) -> bool {
    let Some(fast) = fast() else {
        return false;
    };
    one_step(fast, || {
        let depth = fast.depth.get();
        let low = fast.low.get();
        // `depth - 1 < limit`: open and not empty; `low + 1 < depth`: the
        // oldest held entry is not the top one (the top's release is
        // `fast_release`'s).
        if depth.wrapping_sub(1) >= fast.limit.get() || low + 1 >= depth {
            return false;
        }
        // SAFETY: `low < depth <= limit`: by `Fast`'s invariant, an
        // initialized entry of the live held buffer, which nothing borrows.
        let oldest = unsafe { fast.held.get().add(low as usize).read() };
        if oldest.instance != instance || oldest.pins != 0 {
            return false;
        }
        // SAFETY: as above; the entry, released, matches no instance now (no
        // lock is at address 0), so no release takes it for the top one.
        unsafe { (*fast.held.get().add(low as usize)).instance = 0 };
        fast.low.set(low + 1);
        fast.room.set(0);
        true
    })
    .unwrap_or(false)
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
}

/// The shared state in production: parking_lot locks, created on first use
/// (only slow paths reach it).
static SHARED: std::sync::OnceLock<Shared<ParkingLot, Global>> = std::sync::OnceLock::new();

fn shared() -> &'static Shared<ParkingLot, Global> {
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

/// Records an acquisition. Returns whether it was tracked; pass that to
/// [`release`] through the guard.
#[inline(always)]
pub(crate) fn acquire(
    class: &LazyClass,
    subclass: u32,
    instance: usize,
    mode: Mode,
    trylock: bool,
    at: &'static Location<'static>,
) -> bool {
    if !config::is_enabled() {
        return false;
    }
    if let Some(tracked) = fast_acquire(class, subclass, instance, mode, trylock, at) {
        return tracked;
    }
    // Few arguments, so that the call costs the inlined fast path little.
    let how = (u64::from(subclass) << 8) | (mode.bits() << 1) | u64::from(trylock);
    acquire_unpack(class, instance, how, at)
}

/// The first step out of line: a subclass other than the lock's last one,
/// found without a lock, takes the fast path from here; anything else goes
/// on in [`acquire_rest`] (a tail call: no frame more before a stack
/// capture, and no registers saved here for its sake).
#[inline(never)]
fn acquire_unpack(
    class: &LazyClass,
    instance: usize,
    how: u64,
    at: &'static Location<'static>,
) -> bool {
    let subclass = (how >> 8) as u32;
    if subclass != 0 {
        let mode = Mode::from_bits((how >> 1) & 3);
        if let Some(tracked) = fast_acquire_by(
            LazyClass::sub_lockfree,
            class,
            subclass,
            instance,
            mode,
            how & 1 != 0,
            at,
        ) {
            return tracked;
        }
    }
    acquire_rest(class, instance, how, at)
}

#[inline(never)]
fn acquire_rest(
    class: &LazyClass,
    instance: usize,
    how: u64,
    at: &'static Location<'static>,
) -> bool {
    let subclass = (how >> 8) as u32;
    let mode = Mode::from_bits((how >> 1) & 3);
    let trylock = how & 1 != 0;
    // After releases of the oldest locks, the stack is compacted first, and
    // the acquisition starts over (once: nothing is left to compact).
    if fast().is_some_and(|f| f.low.get() != 0) && compact_fast() {
        return acquire(class, subclass, instance, mode, trylock, at);
    }
    // A lock's first acquisition: once its class is resolved (without the
    // registry's lock for a known site), a known chain is the fast path's.
    let Some(entered) = Enter::new() else {
        alloc_locks::reentered(instance);
        return false;
    };
    // Inside the global allocator (holding its lock): nothing may allocate.
    // An exiting thread's locks are untracked: its held stack is gone, so
    // whether it holds one cannot be told.
    if fast().and_then(fast_held).is_some_and(alloc_locks::held) || STATE.try_with(|_| ()).is_err()
    {
        return false;
    }
    let _acquiring = Acquiring::new(instance);
    crate::fork::register();
    let first = class.resolve_first();
    drop(entered);
    if first {
        if let Some(tracked) = fast_acquire(class, subclass, instance, mode, trylock, at) {
            return tracked;
        }
    }
    if subclass == 0 {
        if let Some(tracked) = fast_acquire_ordered(class, instance, mode, trylock, at) {
            return tracked;
        }
    }
    acquire_slow(class, subclass, instance, mode, trylock, at, None)
}

/// Records an acquisition of a lock of an ordered class with an explicit
/// order key (any other lock's order key is its address).
pub(crate) fn acquire_ordered(
    class: &LazyClass,
    instance: usize,
    mode: Mode,
    key: u64,
    at: &'static Location<'static>,
) -> bool {
    acquire_slow(class, 0, instance, mode, false, at, Some(key))
}

/// An acquisition the fast path does not take: the thread's first, a
/// subclass, an ordered class, a full held buffer, a chain this thread has
/// not validated, or one made while the validator runs on this thread.
/// Inlined into its two callers: every frame between a lock call and the
/// capture of a new dependency's stack trace costs the unwinder time.
#[inline(always)]
fn acquire_slow(
    class: &LazyClass,
    subclass: u32,
    instance: usize,
    mode: Mode,
    trylock: bool,
    at: &'static Location<'static>,
    order_key: Option<u64>,
) -> bool {
    if !config::is_enabled() {
        return false;
    }
    if !trylock {
        // A report deferred from where no panic could be raised is raised
        // here, before the lock is taken (a trylock is recorded once it
        // holds its lock: it raises nothing).
        raise_due();
    }
    let Some(entered) = Enter::new() else {
        return false;
    };
    let (id, ordered) = class.get_with_order(subclass);
    drop(entered);
    let pushed = with_state(|st| {
        if alloc_locks::held(&st.held) {
            // Inside the global allocator: see `alloc_locks`.
            return None;
        }
        if ordered {
            if let Some(order) = class.order() {
                let key = order_key.unwrap_or(instance as u64);
                check_order(st, id, instance, key, order, trylock, at);
                if order_key.is_some() {
                    st.order_keys.push((instance, key));
                }
            }
        }
        let new = NewEntry {
            class: id,
            instance,
            mode,
            trylock,
            nest: if ordered { Nest::Ordered } else { Nest::No },
            at,
        };
        Some(push(st, new, Some(&class.memo)))
    })
    .flatten();
    tracked_or_raise(pushed)
}

/// The end of a slow acquisition: `pushed` is `None` when untracked,
/// `Some(false)` when a report raised by it must panic now, before the
/// caller takes its lock.
fn tracked_or_raise(pushed: Option<bool>) -> bool {
    if pushed == Some(false) {
        raise_due();
    }
    pushed == Some(true)
}

/// For an ordered class, the chain cache cannot tell two orders of the same
/// class apart, so the order is checked on every acquisition: each held lock
/// of the class must come before the new one.
#[cold]
fn check_order(
    st: &mut ThreadState,
    class: ClassId,
    instance: usize,
    key: u64,
    order: crate::class::OrderFn,
    trylock: bool,
    at: &'static Location<'static>,
) {
    // Forget explicit keys of locks no longer held.
    let held = &st.held;
    st.order_keys
        .retain(|(i, _)| held.iter().any(|h| h.instance == *i));
    if trylock {
        return;
    }
    let key_of = |st: &ThreadState, h: &HeldLock| {
        st.order_keys
            .iter()
            .rev()
            .find(|(i, _)| *i == h.instance)
            .map_or(h.instance as u64, |(_, k)| *k)
    };
    let Some((prev, comparison)) = st
        .held
        .iter()
        .rev()
        .filter(|h| h.class == class)
        .map(|h| (*h, order(key_of(st, h), key)))
        .find(|(_, c)| *c != std::cmp::Ordering::Less)
    else {
        return;
    };
    let first = with_global(|g| g.reported.insert(Reported::Disorder(class)));
    if !first {
        return;
    }
    let next = NewEntry {
        nest: Nest::Ordered,
        ..NewEntry::plain(class, instance, Mode::Exclusive, at)
    }
    .held(st.key);
    let pending = Pending::Recursive {
        next,
        prev,
        current: trace::capture(),
        held: st.held.clone(),
        usage: with_global(|g| usage_of(&g.graph, st.held.iter().chain([&next]))),
        comparison: Some(comparison),
    };
    emit_all(vec![pending], Raised::AtAcquire);
}

/// Records an acquisition made under a nest lock, with the kernel's rule
/// (`check_deadlock` given a `nest_lock`). The nest lock covers the locks of
/// the class taken after it: if the thread holds the nest lock below its
/// first held lock of the class, the acquisition is neither a recursion nor a
/// dependency (the nest lock serializes everyone who holds several locks of
/// the class). Otherwise it is validated as a plain acquisition: the first
/// lock of its class gets its dependencies, and one whose class was held
/// before the nest lock was taken is recursive locking. Not holding the nest
/// lock at all is reported too.
pub(crate) fn acquire_under(
    class: &LazyClass,
    instance: usize,
    mode: Mode,
    at: &'static Location<'static>,
    nest_class: &LazyClass,
    nest_instance: usize,
) -> bool {
    if !config::is_enabled() {
        return false;
    }
    if let Some(tracked) = fast_acquire_under(class, instance, mode, at, nest_instance) {
        return tracked;
    }
    raise_due();
    let memo = &class.memo;
    let order = class.order();
    let Some(entered) = Enter::new() else {
        return false;
    };
    let (class, ordered) = class.get_with_order(0);
    drop(entered);
    let pushed = with_state(|st| {
        let cover = cover(&st.held, class, mode, nest_instance);
        if cover == Cover::NotHeld {
            let lock = NewEntry::plain(class, instance, mode, at).held(st.key);
            let nest = HeldLock {
                class: nest_class.get(0),
                instance: nest_instance,
                ..lock
            };
            misuse(st, MisuseKind::NestLockNotHeld(nest.into()), &lock, at);
        }
        let nest = match (cover, order) {
            (Cover::Covered, _) => Nest::Covered,
            (_, Some(order)) if ordered => {
                check_order(st, class, instance, instance as u64, order, false, at);
                Nest::Ordered
            }
            _ => Nest::No,
        };
        let new = NewEntry {
            class,
            instance,
            mode,
            trylock: false,
            nest,
            at,
        };
        push(st, new, Some(memo))
    });
    tracked_or_raise(pushed)
}

/// The fast path of an acquisition under a nest lock the thread holds, of a
/// lock of an unordered class at subclass 0: a known chain, covered or
/// plain, is pushed. `None` when it does not apply.
#[inline]
fn fast_acquire_under(
    class: &LazyClass,
    instance: usize,
    mode: Mode,
    at: &'static Location<'static>,
    nest_instance: usize,
) -> Option<bool> {
    let fast = fast()?;
    let held = fast_held(fast)?;
    let id = class.cached_unordered(0)?;
    let nest = match cover(held, id, mode, nest_instance) {
        Cover::Covered => Nest::Covered,
        Cover::Plain => Nest::No,
        Cover::NotHeld => return None,
    };
    fast_push(fast, id, &class.memo, instance, mode, false, nest, at)
}

/// What a nest lock does for an acquisition.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cover {
    /// The thread does not hold the nest lock.
    NotHeld,
    /// It covers the acquisition: no recursion, no dependencies.
    Covered,
    /// It is held, but no lock of the class is, or the first one was taken
    /// before it: a plain acquisition.
    Plain,
}

/// The kernel's `check_deadlock` with a nest lock: walking the held locks
/// from the bottom, whichever comes first decides, the nest lock (covered
/// if a lock of the class is held above it) or a lock of `class` the
/// acquisition could deadlock on (then the nest lock came too late).
/// Thread-local data only: the fast path runs it.
#[inline]
fn cover(held: &[HeldLock], class: ClassId, mode: Mode, nest: usize) -> Cover {
    let mut nest_held = false;
    for (i, h) in held.iter().enumerate() {
        nest_held |= h.instance == nest;
        if blocks_on(h, class, mode) {
            return if nest_held {
                Cover::Covered
            } else if held[i..].iter().any(|h| h.instance == nest) {
                Cover::Plain
            } else {
                Cover::NotHeld
            };
        }
    }
    if nest_held {
        Cover::Plain
    } else {
        Cover::NotHeld
    }
}

/// Could an acquisition of `class` in `mode` deadlock on the held `h`? Only
/// a recursive read after a read of the class cannot.
#[inline(always)]
fn blocks_on(h: &HeldLock, class: ClassId, mode: Mode) -> bool {
    h.class == class && !(mode == Mode::SharedRecursive && h.mode.is_shared())
}

/// What a new held entry is made of (its chain key comes from the stack).
#[derive(Clone, Copy)]
struct NewEntry {
    class: ClassId,
    instance: usize,
    mode: Mode,
    trylock: bool,
    nest: Nest,
    at: &'static Location<'static>,
}

impl NewEntry {
    /// A plain exclusive, non-try entry (for reports about locks that are
    /// not, or not yet, on the stack).
    fn plain(class: ClassId, instance: usize, mode: Mode, at: &'static Location<'static>) -> Self {
        NewEntry {
            class,
            instance,
            mode,
            trylock: false,
            nest: Nest::No,
            at,
        }
    }

    /// The entry, pushed after the chain key `prev_key`.
    #[inline]
    fn held(self, prev_key: Key) -> HeldLock {
        HeldLock {
            class: self.class,
            instance: self.instance,
            mode: self.mode,
            trylock: self.trylock,
            pins: 0,
            nest: self.nest,
            prev_key,
            at: self.at,
        }
    }
}

/// The acquisition itself, on the slow path: validation when the chain is
/// new, then the push. Inlined into its callers, for the same reason as
/// [`acquire_slow`].
///
/// Returns false, and pushes nothing, when the acquisition raised a report
/// that must panic now: the caller raises it ([`raise_due`]) once the
/// session is over, before its lock is taken.
#[inline(always)]
fn push(st: &mut ThreadState, new: NewEntry, memo: Option<&std::sync::atomic::AtomicU64>) -> bool {
    let id = HeldLock::id(new.class, new.mode, new.trylock, new.nest == Nest::Covered);
    let prev_key = st.key;
    let key = chain::mix(prev_key, id);
    // A lone lock has no chain to check; a trylock is never a dependency's
    // target.
    if !st.held.is_empty() && !new.trylock {
        let remembered = memo.is_some_and(|m| m.load(Ordering::Relaxed) == key.memo());
        if !remembered {
            if !st.chains.contains(key) {
                check_new_chain(st, new.held(prev_key), key);
            }
            if let Some(m) = memo {
                m.store(key.memo(), Ordering::Relaxed);
            }
        }
    }
    if is_due(true) {
        return false;
    }
    st.held.push(new.held(prev_key));
    st.key = key;
    true
}

/// Records a release of a tracked acquisition of `instance`.
#[inline(always)]
pub(crate) fn release(class: &LazyClass, instance: usize, at: Option<&'static Location<'static>>) {
    if !fast_release(instance) {
        release_slow_path(class, instance, at);
    }
}

#[inline(never)]
fn release_slow_path(class: &LazyClass, instance: usize, at: Option<&'static Location<'static>>) {
    if !fast_release_oldest(instance) {
        release_in_session(class, instance, at);
    }
}

/// A release that needs the thread's state (or, while a session runs on
/// the thread, is deferred to its end). Out of line, so that the release of
/// the oldest held lock before it saves no registers.
#[cold]
#[inline(never)]
fn release_in_session(class: &LazyClass, instance: usize, at: Option<&'static Location<'static>>) {
    with_state_or_defer(Deferred::Release {
        class: class.get(0),
        instance,
        at,
    });
}

/// The slow half of an acquisition: validate, then emit. A report that
/// must panic now (`Action::Panic`, a panicking callback) makes [`push`]
/// skip the entry, and the panic comes once the session is over: the lock
/// is neither taken nor recorded.
#[cold]
#[inline(never)]
fn check_new_chain(st: &mut ThreadState, entry: HeldLock, key: Key) {
    let pending = contained("validation", || validate(st, &entry, key)).unwrap_or_default();
    emit_all(pending, Raised::AtAcquire);
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

/// A release on the slow path: the entry is removed (a pinned one reported)
/// and any entries above it re-acquired; one not held is a bad unlock.
#[cold]
fn release_slow(
    st: &mut ThreadState,
    class: ClassId,
    instance: usize,
    at: Option<&'static Location<'static>>,
) {
    let Some(i) = held::find(&st.held, instance) else {
        if let Some(report) = contained("report building", || bad_unlock(st, class, at)) {
            emit_all(vec![report], Raised::Deferred);
        }
        return;
    };
    if st.held[i].pins > 0 {
        let lock = st.held[i];
        misuse(st, MisuseKind::PinnedReleased, &lock, lock.at);
    }
    remove_at(st, i);
}

/// Pushes `entries` back on the stack one by one, recomputing chain keys and
/// validating any chain this order makes new, the way the kernel re-acquires
/// the locks above one released out of order.
fn reacquire(st: &mut ThreadState, entries: Vec<HeldLock>) {
    let mut pending = Vec::new();
    for mut h in entries {
        h.nest = reacquired_nest(&st.held, h);
        let key = chain::mix(st.key, h.chain_id());
        h.prev_key = st.key;
        if !st.held.is_empty() && !h.trylock && !st.chains.contains(key) {
            pending.extend(contained("validation", || validate(st, &h, key)).unwrap_or_default());
        }
        st.held.push(h);
        st.key = key;
    }
    emit_all(pending, Raised::Deferred);
}

/// What excuses a re-acquired entry: a covered one stays covered while a
/// lock of its class it could deadlock on is still held below it (its nest
/// lock is not looked for again: the entry does not record which it was).
fn reacquired_nest(held: &[HeldLock], h: HeldLock) -> Nest {
    match h.nest {
        Nest::Covered if !held.iter().any(|b| blocks_on(b, h.class, h.mode)) => Nest::No,
        nest => nest,
    }
}

/// Re-annotates this thread's acquisition of `instance` as subclass
/// `subclass` of its class, as the kernel's `lock_set_subclass`: the entry
/// and every entry above it are re-acquired, and any chain that makes new is
/// validated. Hand-over-hand locking takes the next node as subclass 1, lets
/// the previous one go, and sets the next one back to 0. A lock the thread
/// does not hold is reported as a bad unlock balance, as the kernel does.
pub(crate) fn set_subclass(
    class: &LazyClass,
    instance: usize,
    subclass: u32,
    at: &'static Location<'static>,
) -> bool {
    if !config::is_enabled() {
        return false;
    }
    let id = class.get(subclass);
    with_state(|st| {
        let Some(i) = held::find(&st.held, instance) else {
            if let Some(report) = contained("report building", || bad_unlock(st, id, Some(at))) {
                emit_all(vec![report], Raised::Deferred);
            }
            return false;
        };
        let mut entries = st.held.split_off(i);
        entries[0].class = id;
        st.key = entries[0].prev_key;
        reacquire(st, entries);
        true
    })
    .unwrap_or(false)
}

/// Removes entry `i` of the held stack (its lock released, or freed while
/// held), in O(depth).
///
/// The entries above it get the chain keys of the stack without it. Of
/// their validations, only one can change: the first non-trylock entry
/// above, if the removed entry was a non-trylock with locks below it. Its
/// walk down the stack (edges from each held lock, stopping after the first
/// non-trylock) stopped at the removed entry, and now goes on below, as if
/// it had been acquired without the removed lock held: it is validated
/// again, unless its new chain is known. Every other walk ends above the
/// removed entry, or passed through it as a trylock, and is unchanged; a
/// recursion check over fewer locks finds nothing new.
fn remove_at(st: &mut ThreadState, i: usize) {
    let removed = st.held.remove(i);
    for j in i..st.held.len() {
        st.held[j].nest = reacquired_nest(&st.held[..j], st.held[j]);
    }
    st.key = held::rekey(&mut st.held[i..], removed.prev_key);
    if i > 0 && !removed.trylock {
        revalidate_first_above(st, i);
    }
}

/// Validates again the first non-trylock entry at or above `from`, against
/// the stack below it, if its chain is new.
fn revalidate_first_above(st: &mut ThreadState, from: usize) {
    let Some(j) = st.held[from..].iter().position(|h| !h.trylock) else {
        return;
    };
    let j = from + j;
    let entry = st.held[j];
    let key = chain::mix(entry.prev_key, entry.chain_id());
    if st.chains.contains(key) {
        return;
    }
    let above = st.held.split_off(j);
    let pending = contained("validation", || validate(st, &entry, key)).unwrap_or_default();
    st.held.extend(above);
    emit_all(pending, Raised::Deferred);
}

/// Changes the mode of a held lock in place (a downgrade: it cannot block, so
/// the entry itself is not validated again; the entries above it are, since
/// their chains change). Returns false if the thread does not hold `instance`.
pub(crate) fn change_mode(instance: usize, mode: Mode) -> bool {
    with_state(|st| {
        let Some(i) = held::find(&st.held, instance) else {
            return false;
        };
        st.held[i].mode = mode;
        let below = st.held[i].prev_key;
        st.key = held::rekey(&mut st.held[i..], below);
        // The walk of the first non-trylock above ends at this entry (or
        // passes it, a trylock): its edge from it changes type.
        revalidate_first_above(st, i + 1);
        true
    })
    .unwrap_or(false)
}

/// Does the calling thread hold `instance`? `None` when it cannot be known
/// (validation off, or asked from inside the validator).
pub(crate) fn holds(instance: usize) -> Option<bool> {
    if !config::is_enabled() {
        return None;
    }
    with_state(|st| held::find(&st.held, instance).is_some())
}

/// Kinds of misuse the validator reports (besides bad unlock balance).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum MisuseKind {
    HeldAtThreadExit,
    HeldLockFreed,
    AssertHeld,
    AssertNotHeld,
    PinnedReleased,
    /// The nest lock named for the acquisition (its class and instance).
    NestLockNotHeld(NestRef),
}

/// The part of a nest lock a misuse report needs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct NestRef {
    class: ClassId,
    instance: usize,
}

impl From<HeldLock> for NestRef {
    fn from(h: HeldLock) -> NestRef {
        NestRef {
            class: h.class,
            instance: h.instance,
        }
    }
}

/// Reports a misuse of `lock` at `at`, once per kind, class and site. Never
/// panics the thread (these are found in destructors and assertions).
fn misuse(st: &ThreadState, kind: MisuseKind, lock: &HeldLock, at: &'static Location<'static>) {
    let first = with_global(|g| {
        g.reported_misuse
            .insert((kind, lock.class, at.file(), at.line(), at.column()))
    });
    if !first {
        return;
    }
    let report = contained("report building", || {
        let usage = with_global(|g| usage_of(&g.graph, st.held.iter().chain([lock])));
        let mut info = held_lock_info(lock, &usage);
        info.at = Some(Site::from_location(at));
        let problem = match kind {
            MisuseKind::HeldAtThreadExit => Problem::HeldAtThreadExit,
            MisuseKind::HeldLockFreed => Problem::HeldLockFreed { lock: info },
            MisuseKind::AssertHeld => Problem::AssertionFailed {
                lock: info,
                expected_held: true,
            },
            MisuseKind::AssertNotHeld => Problem::AssertionFailed {
                lock: info,
                expected_held: false,
            },
            MisuseKind::PinnedReleased => Problem::PinnedLockReleased { lock: info },
            MisuseKind::NestLockNotHeld(nest) => Problem::NestLockNotHeld {
                acquiring: info,
                nest_lock: lock_info(
                    nest.class,
                    usage.get(&nest.class).copied().unwrap_or(0),
                    Mode::Exclusive,
                    false,
                    None,
                ),
            },
        };
        // At thread exit the stack is the runtime's teardown: nothing to show.
        let backtrace = match kind {
            MisuseKind::HeldAtThreadExit => Backtrace::default(),
            _ => Backtrace::unresolved(trace::capture()),
        };
        Pending::Ready(Report {
            process: process_info(),
            thread: thread_info(),
            problem,
            held: held_info(&st.held, &usage),
            backtrace,
        })
    });
    let raised = match kind {
        MisuseKind::HeldAtThreadExit => Raised::AtExit,
        _ => Raised::Deferred,
    };
    if let Some(report) = report {
        emit_all(vec![report], raised);
    }
}

impl Drop for ThreadSlot {
    /// A thread is ending: anything still on its stack was leaked.
    fn drop(&mut self) {
        // Locks taken while this runs (by an allocator, say) are untracked.
        let _entered = Enter::new();
        let st = &mut self.0;
        // Close the fast path for good, and take in what it pushed.
        let _ = FAST.try_with(|fast| {
            fast.room.set(0);
            if fast.limit.replace(0) != 0 {
                // SAFETY: the fast path was open, so (by `Fast`'s invariant)
                // `fast.held` is this very vector's buffer (`ThreadSlot` is
                // only ever the thread-local `STATE`), and its first `depth`
                // entries are initialized.
                unsafe { st.held.set_len(fast.depth.get() as usize) };
                take_in_released(st, fast.low.replace(0) as usize);
            }
            fast.depth.set(0);
        });
        if st.held.is_empty() || !config::is_enabled() {
            return;
        }
        // Thread-local destructors that run after this one may still
        // release guards they own: check once they all have, where the
        // platform allows.
        let st = std::mem::replace(st, ThreadState::new());
        if let Err(mut st) = exit_later::defer(st) {
            exit_check(&mut st);
        }
    }
}

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

/// A thread has ended, its other thread-local destructors included: what it
/// still holds was leaked.
fn exit_check(st: &mut ThreadState) {
    if let Some(first) = st.held.first().copied() {
        misuse(st, MisuseKind::HeldAtThreadExit, &first, first.at);
    }
}

/// The exit check after every thread-local destructor (Linux with glibc).
/// `ThreadSlot`'s destructor hands the state over to a heap box; later
/// destructors' releases apply to it; then, for a spawned thread, the
/// destructor of a pthread key (glibc runs those after all thread-local
/// destructors) runs the check, and for the main thread at `exit`, an
/// `atexit` handler (which glibc runs after the main thread's thread-local
/// destructors). Elsewhere the check runs in `ThreadSlot`'s destructor.
mod exit_later {
    use super::*;

    /// A thread's state after its `ThreadSlot` was destroyed.
    pub(super) struct Exiting {
        pub(super) st: ThreadState,
        pub(super) thread: ThreadInfo,
    }

    thread_local! {
        /// This thread's exiting state, until its exit check has run.
        pub(super) static EXITING: Cell<*mut Exiting> = const { Cell::new(std::ptr::null_mut()) };
    }

    /// Applies a late release to the exiting state, if there is one.
    pub(super) fn apply_late(op: Deferred) {
        let _ = EXITING.try_with(|e| {
            let p = e.get();
            if !p.is_null() {
                // SAFETY: the box is this thread's, alive until its exit
                // check nulls `EXITING` (and the caller's `Enter` keeps this
                // from being re-entered); nothing else refers to it.
                apply(unsafe { &mut (*p).st }, op);
            }
        });
    }

    /// The thread of an exit check running late, for its report.
    pub(super) fn thread() -> Option<ThreadInfo> {
        let p = EXITING.try_with(Cell::get).ok()?;
        // SAFETY: as in `apply_late`; only read.
        (!p.is_null()).then(|| unsafe { (*p).thread.clone() })
    }

    /// Runs the exit check on a box handed over by `defer`, and frees it.
    ///
    /// # Safety
    /// `p` came from `defer` on this thread, and is not used after.
    unsafe fn check(p: *mut Exiting) {
        let _entered = Enter::new();
        // SAFETY: the caller's contract: the box is this thread's, alive.
        exit_check(unsafe { &mut (*p).st });
        let _ = EXITING.try_with(|e| e.set(std::ptr::null_mut()));
        // SAFETY: from `Box::into_raw` in `defer`; no reference remains.
        drop(unsafe { Box::from_raw(p) });
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    pub(super) fn defer(st: ThreadState) -> Result<(), ThreadState> {
        use std::sync::atomic::AtomicPtr;
        static MAIN: AtomicPtr<Exiting> = AtomicPtr::new(std::ptr::null_mut());
        static KEY: std::sync::OnceLock<Option<libc::pthread_key_t>> = std::sync::OnceLock::new();

        extern "C" fn key_destructor(p: *mut libc::c_void) {
            // SAFETY: the key's only value is a box from `defer`, set once
            // on this thread; glibc calls this once, after the thread's
            // thread-local destructors.
            unsafe { check(p.cast()) }
        }
        extern "C" fn at_exit() {
            let p = MAIN.swap(std::ptr::null_mut(), Ordering::AcqRel);
            if !p.is_null() {
                // SAFETY: the main thread's box, set by `defer` on this
                // thread (exit runs on the thread that called it, the one
                // whose thread-locals were destroyed).
                unsafe { check(p) }
            }
        }

        let thread = thread_info();
        // SAFETY: both calls have no preconditions.
        let main = unsafe { libc::getpid() == libc::gettid() };
        let p = Box::into_raw(Box::new(Exiting { st, thread }));
        let handed = if main {
            // SAFETY: `at_exit` is a plain function that does not unwind
            // (the check contains the validator's own panics).
            MAIN.compare_exchange(std::ptr::null_mut(), p, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
                && unsafe { libc::atexit(at_exit) } == 0
        } else {
            let key = KEY.get_or_init(|| {
                let mut key = 0;
                // SAFETY: creates a key with a destructor that does not
                // unwind; the key is never deleted.
                (unsafe { libc::pthread_key_create(&mut key, Some(key_destructor)) } == 0)
                    .then_some(key)
            });
            // SAFETY: a live key; the value is this thread's.
            key.is_some_and(|key| unsafe { libc::pthread_setspecific(key, p.cast()) } == 0)
        };
        if !handed {
            let _ =
                MAIN.compare_exchange(p, std::ptr::null_mut(), Ordering::AcqRel, Ordering::Acquire);
            // SAFETY: from `Box::into_raw` just above, handed to no one.
            return Err(unsafe { Box::from_raw(p) }.st);
        }
        let _ = EXITING.try_with(|e| e.set(p));
        Ok(())
    }

    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    pub(super) fn defer(st: ThreadState) -> Result<(), ThreadState> {
        Err(st)
    }
}

/// A lock instance is being dropped: if this thread still holds it (its guard
/// was leaked), report it and forget the entry, so that a new lock at the
/// same address is not mistaken for it.
pub(crate) fn freed(instance: usize) {
    // Usually the thread holds nothing, or not this lock: the fast path's
    // view of the stack says so without a session.
    if let Some(held) = fast().and_then(fast_held) {
        if !held.iter().any(|h| h.instance == instance) {
            return;
        }
    }
    with_state_or_defer(Deferred::Freed { instance });
}

fn freed_in(st: &mut ThreadState, instance: usize) {
    if let Some(i) = held::find(&st.held, instance) {
        let lock = st.held[i];
        misuse(st, MisuseKind::HeldLockFreed, &lock, lock.at);
        remove_at(st, i);
    }
}

/// Checks that the calling thread holds (`expected_held`) or does not hold
/// `instance`, and reports it if not.
pub(crate) fn assert_held(
    class: &LazyClass,
    instance: usize,
    expected_held: bool,
    at: &'static Location<'static>,
) {
    if !config::is_enabled() {
        return;
    }
    with_state(|st| {
        let found = held::find(&st.held, instance);
        let lock = match (found, expected_held) {
            (Some(_), true) | (None, false) => return,
            (Some(i), false) => st.held[i],
            (None, true) => {
                NewEntry::plain(class.get(0), instance, Mode::Exclusive, at).held(st.key)
            }
        };
        let kind = if expected_held {
            MisuseKind::AssertHeld
        } else {
            MisuseKind::AssertNotHeld
        };
        misuse(st, kind, &lock, at);
    });
}

/// Pins (`delta` = 1) or unpins (`delta` = -1) the calling thread's entry for
/// `instance`. Returns false if the thread does not hold it (or, unpinning,
/// if it is not pinned).
pub(crate) fn pin(instance: usize, delta: i32) -> bool {
    with_state(|st| {
        let Some(i) = held::find(&st.held, instance) else {
            return false;
        };
        let pins = &mut st.held[i].pins;
        match delta {
            1 => *pins = pins.saturating_add(1),
            _ if *pins == 0 => return false,
            _ => *pins -= 1,
        }
        true
    })
    .unwrap_or(false)
}

/// One edge of a cycle's path, copied out of the graph for a report.
struct PathEdge {
    to: ClassId,
    dep: u8,
    trace: Option<Arc<[usize]>>,
}

/// A report waiting for the validator's locks to be released.
enum Pending {
    Circular {
        next: HeldLock,
        prev: HeldLock,
        /// The edges of the path, from the lock being acquired to the held lock.
        path: Vec<PathEdge>,
        current: Arc<[usize]>,
        held: Vec<HeldLock>,
        usage: HashMap<ClassId, u8>,
    },
    Recursive {
        next: HeldLock,
        prev: HeldLock,
        current: Arc<[usize]>,
        held: Vec<HeldLock>,
        usage: HashMap<ClassId, u8>,
        comparison: Option<std::cmp::Ordering>,
    },
    Ready(Report),
}

/// Validates a chain the thread has not seen: the recursion check, then a
/// dependency from each held lock down to the nearest non-trylock one.
#[cold]
#[inline(never)]
fn validate(st: &mut ThreadState, next: &HeldLock, key: Key) -> Vec<Pending> {
    #[cfg(test)]
    VALIDATIONS.with(|n| n.set(n.get() + 1));
    validate_in(shared(), st, next, key, trace::capture)
}

#[cfg(test)]
thread_local! {
    /// Test hook: validations of new chains run on this thread.
    static VALIDATIONS: Cell<usize> = const { Cell::new(0) };
    /// Test hook: sessions (slow paths) started on this thread.
    static SESSIONS: Cell<usize> = const { Cell::new(0) };
}

/// [`validate`] against any shared state: the production one, or a fresh
/// one built with loom's locks by the model-checking tests.
fn validate_in<F: Facade>(
    shared: &Shared<F, Global>,
    st: &mut ThreadState,
    next: &HeldLock,
    key: Key,
    capture: fn() -> Arc<[usize]>,
) -> Vec<Pending> {
    if shared.chains.contains(key) {
        st.chains.insert(key);
        return Vec::new();
    }
    // Capture before taking the global lock: it is the slow part.
    let current = capture();
    let mut pending = Vec::new();
    shared.with_global(|g| {
        if g.knows(next.class) {
            g.graph.mark_used(next.class, next.mode);
        }
        let mut trace_id = None;
        // A recursive read after any read of the same class cannot block on
        // itself; anything else can, unless a nest lock covers it or its
        // class is ordered.
        let recursion = st
            .held
            .iter()
            .rev()
            .find(|h| next.nest == Nest::No && blocks_on(h, next.class, next.mode));
        if let Some(prev) = recursion {
            if g.reported.insert(Reported::Recursion(next.class)) {
                pending.push(Pending::Recursive {
                    next: *next,
                    prev: *prev,
                    current: current.clone(),
                    held: st.held.clone(),
                    usage: usage_of(&g.graph, st.held.iter().chain([next])),
                    comparison: None,
                });
            }
        }
        // Unlike the kernel, which stops validating after any report, a
        // recursive acquisition of another lock of the class still learns
        // its dependencies on the other held locks: a recursion report never
        // hides a later cycle through the class. Taking the very lock again
        // waits on itself and learns nothing; nor does a class unregistered
        // for good.
        let self_deadlock = recursion.is_some_and(|prev| prev.instance == next.instance);
        // Nor does one a nest lock covers: the nest lock serializes it.
        let edges_from =
            if self_deadlock || g.graph.retired(next.class) || next.nest == Nest::Covered {
                &[][..]
            } else {
                &st.held[..]
            };
        for prev in edges_from.iter().rev() {
            if !(g.knows(prev.class) && g.knows(next.class)) {
                // Past the memory limit, a class registered after it stays
                // out of the graph: no dependencies, so no cycle through it.
                g.dependencies_dropped += 1;
                if !prev.trylock {
                    break;
                }
                continue;
            }
            g.graph.mark_used(prev.class, prev.mode);
            if prev.class != next.class && !g.graph.retired(prev.class) {
                let dep = graph::dep_bit(prev.mode, next.mode);
                if !g.graph.has(prev.class, next.class, dep) {
                    if let Some(path) = g
                        .graph
                        .find_cycle(prev.class, prev.mode, next.class, next.mode)
                    {
                        let mut cycle: Vec<ClassId> =
                            path.iter().map(|&e| g.graph.edge(e).to).collect();
                        cycle.push(next.class);
                        cycle.sort_unstable();
                        cycle.dedup();
                        if g.reported.insert(Reported::Cycle(cycle)) {
                            let path: Vec<_> = path
                                .iter()
                                .map(|&e| {
                                    let edge = g.graph.edge(e);
                                    PathEdge {
                                        to: edge.to,
                                        dep: edge.dep,
                                        trace: g.traces.get(edge.trace),
                                    }
                                })
                                .collect();
                            let classes = path.iter().map(|p| p.to).collect::<Vec<_>>();
                            let mut usage = usage_of(&g.graph, st.held.iter().chain([next]));
                            for c in classes {
                                usage.insert(c, g.graph.usage(c));
                            }
                            pending.push(Pending::Circular {
                                next: *next,
                                prev: *prev,
                                path,
                                current: current.clone(),
                                held: st.held.clone(),
                                usage,
                            });
                        }
                    }
                    g.record(prev.class, next.class, dep, &mut trace_id, &current);
                }
            }
            // Non-trylock entries below have added their own dependencies.
            if !prev.trylock {
                break;
            }
        }
        if !g.frozen {
            shared.chains.insert(key);
            g.chains += 1;
            g.check_memory();
        }
    });
    st.chains.insert(key);
    pending
}

impl Global {
    /// Bytes held by the graph, the stored traces and the global chain set.
    fn memory(&self) -> usize {
        let (per_class, per_edge) = self.graph.memory();
        self.graph.class_count() * per_class
            + self.graph.edge_count() * per_edge
            + self.traces.bytes()
            + self.chains * CHAIN_BYTES
            + report_log::logged_bytes()
            + trace::symbol_cache_bytes()
    }

    /// May the graph learn about `class`? Past the memory limit, only
    /// classes registered before it are known.
    fn knows(&self, class: ClassId) -> bool {
        !self.frozen || class.index() < self.known_classes
    }

    /// Records the dependency `from -> to`: with the current stack before
    /// the memory limit; after it (between known classes), without one, so
    /// that cycles among them are still found.
    fn record(
        &mut self,
        from: ClassId,
        to: ClassId,
        dep: u8,
        trace_id: &mut Option<TraceId>,
        current: &Arc<[usize]>,
    ) {
        let tid = if self.frozen {
            TraceId::NONE
        } else {
            *trace_id.get_or_insert_with(|| self.traces.intern(current))
        };
        self.graph.add_edge(from, to, dep, tid);
    }

    /// Freezes the graph once the optional memory limit is passed, saying
    /// so once.
    fn check_memory(&mut self) {
        let limit = config::memory_limit();
        if limit == 0 || self.frozen {
            return;
        }
        let used = self.memory();
        if used > limit {
            self.frozen = true;
            self.known_classes = class::count();
            eprintln!(
                "lockdep: memory limit of {limit} bytes reached ({used} used): the {} \
                 dependencies learned so far are kept and still checked; new dependencies \
                 among the {} classes registered so far are still recorded and checked, \
                 without stack traces; those of classes registered from now on are not \
                 (Stats::dependencies_dropped counts them)",
                self.graph.edge_count(),
                self.known_classes
            );
        }
    }
}

/// Approximate bytes per chain in the global set (key, control byte, load).
const CHAIN_BYTES: usize = 24;

fn usage_of<'a>(g: &Graph, locks: impl Iterator<Item = &'a HeldLock>) -> HashMap<ClassId, u8> {
    locks.map(|h| (h.class, g.usage(h.class))).collect()
}

fn bad_unlock(st: &ThreadState, class: ClassId, at: Option<&'static Location<'static>>) -> Pending {
    let usage = with_global(|g| usage_of(&g.graph, st.held.iter()));
    let mut releasing = lock_info(class, 0, Mode::Exclusive, false, at);
    releasing.usage = usage_string(with_global(|g| g.graph.usage(class)));
    Pending::Ready(Report {
        process: process_info(),
        thread: thread_info(),
        problem: Problem::BadUnlockBalance { releasing },
        held: held_info(&st.held, &usage),
        backtrace: Backtrace::unresolved(trace::capture()),
    })
}

fn usage_string(bits: u8) -> String {
    [
        graph::USED_EXCLUSIVE,
        graph::USED_SHARED,
        graph::USED_RECURSIVE,
    ]
    .iter()
    .map(|&b| if bits & b != 0 { '+' } else { '.' })
    .collect()
}

fn lock_info(
    class: ClassId,
    usage: u8,
    mode: Mode,
    trylock: bool,
    at: Option<&Location<'_>>,
) -> LockInfo {
    LockInfo {
        class,
        name: class::class_name(class),
        usage: usage_string(usage),
        mode,
        trylock,
        at: at.map(Site::from_location),
    }
}

/// A held (or being acquired) lock: its class's recorded usage, plus the
/// mode of this acquisition, which is a use too.
fn held_lock_info(h: &HeldLock, usage: &HashMap<ClassId, u8>) -> LockInfo {
    lock_info(
        h.class,
        usage.get(&h.class).copied().unwrap_or(0) | graph::usage_bit(h.mode),
        h.mode,
        h.trylock,
        Some(h.at),
    )
}

fn held_info(held: &[HeldLock], usage: &HashMap<ClassId, u8>) -> Vec<LockInfo> {
    held.iter().map(|h| held_lock_info(h, usage)).collect()
}

fn process_info() -> ProcessInfo {
    ProcessInfo {
        pid: std::process::id(),
        executable: std::env::current_exe()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "<unknown>".to_string()),
        lockdep_version: env!("CARGO_PKG_VERSION"),
    }
}

fn thread_info() -> ThreadInfo {
    if let Some(exiting) = exit_later::thread() {
        return exiting;
    }
    let t = std::thread::current();
    let id = format!("{:?}", t.id());
    ThreadInfo {
        name: t.name().unwrap_or("<unnamed>").to_string(),
        id: id
            .trim_start_matches("ThreadId(")
            .trim_end_matches(')')
            .parse()
            .unwrap_or(0),
    }
}

/// What makes `next` and the held `prev` one class.
fn recursion_cause(
    next: &HeldLock,
    prev: &HeldLock,
    comparison: Option<std::cmp::Ordering>,
) -> RecursionCause {
    if comparison.is_some() {
        return RecursionCause::Disorder;
    }
    if next.instance == prev.instance {
        return RecursionCause::SameLock;
    }
    match class::info(next.class).site {
        Some(site) => RecursionCause::SameSite {
            built_at: Site {
                file: crate::site::short_file(site.file).to_string(),
                line: site.line,
                column: site.column,
            },
            origin: match site.origin {
                crate::site::Origin::Code => SiteOrigin::Code,
                crate::site::Origin::Toolchain => SiteOrigin::Toolchain,
                crate::site::Origin::Lockdep => SiteOrigin::Lockdep,
            },
        },
        None => RecursionCause::SameKey,
    }
}

/// Turns pending data into a report: names, usage strings, and traces that
/// are symbolized when first read. Runs without any validator lock held.
fn build(p: Pending) -> Report {
    match p {
        Pending::Ready(r) => r,
        Pending::Recursive {
            next,
            prev,
            current,
            held,
            usage,
            comparison,
        } => Report {
            process: process_info(),
            thread: thread_info(),
            problem: Problem::RecursiveLocking {
                acquiring: held_lock_info(&next, &usage),
                holding: held_lock_info(&prev, &usage),
                comparison,
                cause: recursion_cause(&next, &prev, comparison),
            },
            held: held_info(&held, &usage),
            backtrace: Backtrace::unresolved(current),
        },
        Pending::Circular {
            next,
            prev,
            path,
            current,
            held,
            usage,
        } => {
            let backtrace = Backtrace::unresolved(current);
            let u = |c: ClassId| usage.get(&c).copied().unwrap_or(0);
            // Print order: the held lock's class (#N), back along the path,
            // to the lock being acquired (#0) with the current stack.
            let mut chain: Vec<ChainLink> = path
                .iter()
                .rev()
                .map(|p| ChainLink {
                    lock: lock_info(p.to, u(p.to), Mode::Exclusive, false, None),
                    dependency: graph::dep_names(p.dep),
                    trace: p
                        .trace
                        .clone()
                        .map(Backtrace::unresolved)
                        .unwrap_or_default(),
                })
                .collect();
            chain.push(ChainLink {
                lock: lock_info(next.class, u(next.class), next.mode, false, None),
                dependency: graph::dep_names(graph::dep_bit(prev.mode, next.mode)),
                trace: backtrace.clone(),
            });
            Report {
                process: process_info(),
                thread: thread_info(),
                problem: Problem::CircularDependency {
                    acquiring: held_lock_info(&next, &usage),
                    holding: held_lock_info(&prev, &usage),
                    chain,
                },
                held: held_info(&held, &usage),
                backtrace,
            }
        }
    }
}

/// Where a report is raised, which decides whether it may panic there.
///
/// The rule: a panic is raised only by a blocking acquisition, before its
/// lock is taken and before anything is recorded, outside the validator's
/// session, and not while the thread is already panicking. Never by a
/// release, a lock being dropped, an assertion or the thread's exit: they
/// run, or may run, in destructors, where a panic skips an unlock, or
/// aborts the process.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Raised {
    /// By the acquisition being validated: it panics, and is not pushed.
    AtAcquire,
    /// Where no panic may be raised: the report is printed now, and the
    /// panic is deferred to the thread's next blocking acquisition.
    Deferred,
    /// At the thread's exit: printed and recorded, never raised.
    AtExit,
}

/// What this thread owes a panic: under `Action::Panic`, the reports raised
/// since it last could panic; with a callback, the first panic it raised.
/// While anything is due, the fast path stays closed, so that the next
/// acquisition comes to [`raise_due`].
struct Due {
    reports: Vec<Arc<Report>>,
    payload: Option<Box<dyn std::any::Any + Send>>,
    /// Something raised by the acquisition under validation: it must not
    /// be pushed.
    now: bool,
}

thread_local! {
    static DUE: RefCell<Due> = const {
        RefCell::new(Due { reports: Vec::new(), payload: None, now: false })
    };
}

/// Is a panic owed by this thread? `now`: only one raised by the
/// acquisition under validation.
fn is_due(now: bool) -> bool {
    DUE.try_with(|d| {
        d.try_borrow()
            .is_ok_and(|d| (d.now || !now) && (d.payload.is_some() || !d.reports.is_empty()))
    })
    .unwrap_or(false)
}

/// Forgets what this thread owes.
pub(crate) fn clear_due() {
    let _ = DUE.try_with(|d| {
        if let Ok(mut d) = d.try_borrow_mut() {
            d.reports.clear();
            d.payload = None;
            d.now = false;
        }
    });
}

/// Raises what this thread owes, if anything: called by blocking
/// acquisitions only, before the lock is taken and outside any session.
fn raise_due() {
    if std::thread::panicking() {
        return;
    }
    let Some((reports, payload, now)) = DUE
        .try_with(|d| {
            let mut d = d.try_borrow_mut().ok()?;
            if d.payload.is_none() && d.reports.is_empty() {
                return None;
            }
            let now = std::mem::take(&mut d.now);
            Some((std::mem::take(&mut d.reports), d.payload.take(), now))
        })
        .ok()
        .flatten()
    else {
        return;
    };
    if let Some(payload) = payload {
        std::panic::resume_unwind(payload);
    }
    std::panic::panic_any(panic_message(&reports, !now));
}

/// The message of `Action::Panic`'s panic: a title line, then every
/// report in full, so that a test harness shows them as the failure.
pub(crate) fn panic_message(reports: &[Arc<Report>], deferred: bool) -> String {
    let mut message = match reports {
        [one] => format!("lockdep: {}", one.title()),
        _ => format!(
            "lockdep: {} reports: {}",
            reports.len(),
            reports
                .iter()
                .map(|r| r.title())
                .collect::<Vec<_>>()
                .join("; ")
        ),
    };
    if deferred {
        message.push_str(
            " (raised earlier on this thread, where no panic may be raised; \
             raised at its next blocking acquisition)",
        );
    }
    message.push('\n');
    for r in reports {
        message.push_str(&r.to_string());
    }
    message
}

/// Builds and delivers every pending report: none is skipped, whatever the
/// action does with the ones before it.
fn emit_all(pending: Vec<Pending>, raised: Raised) {
    for p in pending {
        if let Some(report) = contained("report building", || build(p)) {
            emit(report, raised);
        }
    }
}

/// Writes a report to standard error itself, not through `eprint!`: a test
/// harness captures `eprint!`'s output, and shows it only for tests that
/// fail.
fn print(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Delivers one report: the log, the watches, then the action. Nothing
/// here unwinds: `Action::Panic`'s panic and a callback's are recorded as
/// due, and raised (or not) by [`raise_due`].
fn emit(report: Report, raised: Raised) {
    let report = Arc::new(report);
    report_log::push(report.clone());
    crate::watch::collect(&report);
    // Can a panic be raised for it, now or at the thread's next acquisition?
    // (One raised by an acquisition while the thread panics is deferred.)
    let due = raised != Raised::AtExit;
    let now = raised == Raised::AtAcquire && !std::thread::panicking();
    let owe = |report: Option<Arc<Report>>, payload: Option<Box<dyn std::any::Any + Send>>| {
        DUE.try_with(|d| {
            let Ok(mut d) = d.try_borrow_mut() else {
                return false;
            };
            d.now |= now;
            d.reports.extend(report);
            if d.payload.is_none() {
                d.payload = payload;
            }
            true
        })
        .unwrap_or(false)
    };
    match config::action() {
        Action::Print => print(&report.to_string()),
        Action::Silent => {}
        Action::Callback(f) => {
            let called = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&report)));
            if let Err(payload) = called {
                if !(due && owe(None, Some(payload))) {
                    print("lockdep: the report callback panicked where no panic may be raised\n");
                }
            }
        }
        Action::Panic => {
            let owed = due && owe(Some(report.clone()), None);
            // Raised now, the panic's message shows it; else show it now.
            if !(now && owed) {
                print(&report.to_string());
            }
        }
    }
}

/// Forgets every dependency of classes unregistered for good (a
/// [`DynamicKey`](crate::DynamicKey) dropped); their locks add none from now on.
pub(crate) fn retire_classes(gone: &[ClassId]) {
    with_global(|g| g.graph.remove_classes(gone));
}

/// Every report raised so far in this process (since the last [`reset`]),
/// oldest first.
pub fn reports() -> Vec<Arc<Report>> {
    report_log::snapshot()
}

/// Forgets everything the validator learned, for tests that want to be
/// isolated from the tests that ran before them in the same process: the
/// dependency graph and its stack traces, the validated chains, which
/// problems were already reported, the report log, and any panic owed by
/// the calling thread (see [`crate::config::Action::Panic`]). Lock classes
/// stay, and so do the locks each thread holds.
///
/// Safe at any moment, also while other threads hold locks or validate:
/// - a lock held across the reset stays held and is released as usual
///   (no report); the dependencies it formed before the reset are
///   forgotten, and those formed by locks taken under it afterwards are
///   learned again;
/// - the calling thread, and any thread that starts afterwards, validate
///   every chain again; another thread that is running catches up at its
///   next visit to the validator's slow path (a new chain, an
///   out-of-order release), and until then takes the chains it had
///   validated as known;
/// - it is process-wide: tests that run in parallel forget each other's
///   dependencies too (run them with `--test-threads=1`, or with
///   cargo-nextest, which runs each test in a process of its own and needs
///   no reset).
pub fn reset() {
    with_global(|g| {
        *g = Global::default();
        shared().chains.clear();
        GENERATION.fetch_add(1, Ordering::AcqRel);
    });
    report_log::clear();
    clear_due();
    // The calling thread catches up at once.
    with_state(|_| ());
}

/// Counters describing the validator's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Lock classes registered.
    pub classes: usize,
    /// Dependencies (edges) between classes.
    pub dependencies: usize,
    /// Validated chains in the global cache.
    pub chains: usize,
    /// Distinct stack traces stored.
    pub stack_traces: usize,
    /// Reports raised.
    pub reports: usize,
    /// Panics inside the validator's own code, contained (should be 0).
    pub internal_errors: usize,
    /// Bytes used by the graph, stored traces, chain set, report log and
    /// symbol cache (approximate).
    pub memory_bytes: usize,
    /// Reports dropped from the log to keep it within its bound (see
    /// `config::set_report_log_limit`); each was delivered.
    pub reports_dropped: usize,
    /// Bytes held by the report log (approximate).
    pub report_log_bytes: usize,
    /// Bytes held by the cache of symbolized addresses (see
    /// `config::set_symbol_cache_limit`).
    pub symbol_cache_bytes: usize,
    /// Dependencies not recorded past the memory limit: those of classes
    /// first registered after it was reached.
    pub dependencies_dropped: usize,
    /// Whether the memory limit was reached (see `config::set_memory_limit`).
    pub frozen: bool,
    /// Chains in the calling thread's cache.
    pub thread_chains: usize,
    /// Bytes used by the calling thread's chain cache.
    pub thread_chain_cache_bytes: usize,
    /// Bytes per class in the graph (excluding stack traces).
    pub bytes_per_class: usize,
    /// Bytes per dependency in the graph (excluding stack traces).
    pub bytes_per_dependency: usize,
    /// Bytes per validated chain: its share of the global set, plus its
    /// share of the calling thread's cache (each thread caches the chains it
    /// uses).
    pub bytes_per_chain: usize,
}

/// A snapshot of the validator's counters.
pub fn stats() -> Stats {
    let (
        classes_in_graph,
        dependencies,
        stack_traces,
        (bytes_per_class, bytes_per_dependency),
        memory_bytes,
        frozen,
        dependencies_dropped,
    ) = with_global(|g| {
        (
            g.graph.class_count(),
            g.graph.edge_count(),
            g.traces.len(),
            g.graph.memory(),
            g.memory(),
            g.frozen,
            g.dependencies_dropped,
        )
    });
    let (report_log_bytes, symbol_cache_bytes) = (report_log::bytes(), trace::symbol_cache_bytes());
    // The log exactly (its reports' frames, once symbolized, included).
    let memory_bytes = memory_bytes.saturating_sub(report_log::logged_bytes()) + report_log_bytes;
    let (thread_chains, thread_chain_cache_bytes) =
        with_state(|st| (st.chains.len(), st.chains.capacity_bytes())).unwrap_or((0, 0));
    let chains = shared().chains.len();
    let bytes_per_chain = shared().chains.capacity_bytes() / chains.max(1)
        + thread_chain_cache_bytes / thread_chains.max(1);
    Stats {
        bytes_per_chain,
        classes: class::count().max(classes_in_graph),
        dependencies,
        chains,
        stack_traces,
        reports: report_log::counts().0,
        reports_dropped: report_log::counts().1,
        report_log_bytes,
        symbol_cache_bytes,
        dependencies_dropped,
        internal_errors: INTERNAL_ERRORS.load(std::sync::atomic::Ordering::Relaxed),
        memory_bytes,
        frozen,
        thread_chains,
        thread_chain_cache_bytes,
        bytes_per_class,
        bytes_per_dependency,
    }
}

/// The locks the calling thread holds, outermost first.
pub fn held_locks() -> Vec<LockInfo> {
    with_state(|st| {
        let usage = with_global(|g| usage_of(&g.graph, st.held.iter()));
        held_info(&st.held, &usage)
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::class::{Prefix, Source};
    use crate::report::Problem;

    #[track_caller]
    fn lazy(name: &'static str) -> LazyClass {
        LazyClass::new(Source::Named {
            at: Location::caller(),
            name,
            prefix: Prefix::None,
        })
    }

    fn key_from_scratch(held: &[HeldLock]) -> Key {
        held.iter()
            .fold(Key::initial(), |k, h| chain::mix(k, h.chain_id()))
    }

    fn current_key_and_stack() -> (Key, Vec<HeldLock>) {
        with_state(|st| (st.key, st.held.clone())).expect("state")
    }

    #[test]
    fn a_known_chain_adds_nothing() {
        let a = lazy("unit-known-a");
        let b = lazy("unit-known-b");
        let at = Location::caller();
        let run = || {
            assert!(acquire(&a, 0, 1, Mode::Exclusive, false, at));
            assert!(acquire(&b, 0, 2, Mode::Exclusive, false, at));
            release(&b, 2, Some(at));
            release(&a, 1, Some(at));
        };
        run();
        let local = with_state(|st| st.chains.len()).unwrap();
        assert_eq!(local, 1, "one nested chain validated on this thread");
        run();
        assert_eq!(with_state(|st| st.chains.len()).unwrap(), local);
        assert!(with_global(|g| g.graph.has(
            a.get(0),
            b.get(0),
            graph::DEP_EN
        )));
    }

    #[test]
    fn out_of_order_release_restores_chain_keys() {
        let a = lazy("unit-ooo-a");
        let b = lazy("unit-ooo-b");
        let c = lazy("unit-ooo-c");
        let at = Location::caller();
        acquire(&a, 0, 11, Mode::Exclusive, false, at);
        acquire(&b, 0, 12, Mode::Shared, false, at);
        acquire(&c, 0, 13, Mode::Exclusive, true, at);
        release(&b, 12, Some(at));
        let (key, held) = current_key_and_stack();
        assert_eq!(
            held.iter().map(|h| h.instance).collect::<Vec<_>>(),
            [11, 13]
        );
        assert_eq!(key, key_from_scratch(&held));
        assert_eq!(held[1].prev_key, key_from_scratch(&held[..1]));
        // The trylock stays a trylock when re-acquired.
        assert!(held[1].trylock);
        release(&a, 11, Some(at));
        release(&c, 13, Some(at));
        let (key, held) = current_key_and_stack();
        assert!(held.is_empty());
        assert_eq!(key, Key::initial());
    }

    /// Entries pushed and popped by the fast path and by the slow path are
    /// one stack: each sees the other's, with the right chain keys.
    #[test]
    fn fast_and_slow_paths_share_one_stack() {
        let classes: Vec<LazyClass> = (0..40).map(|_| leaked_key("unit-fast")).collect();
        let at = Location::caller();
        let check = check_stack;
        // The first time every chain is new: the slow path, which grows the
        // buffer past its first capacity.
        for (i, c) in classes.iter().enumerate() {
            assert!(acquire(c, 0, 100 + i, Mode::Exclusive, false, at));
        }
        let all: Vec<usize> = (100..140).collect();
        check(&all);
        for (i, c) in classes.iter().enumerate().rev() {
            release(c, 100 + i, Some(at));
        }
        check(&[]);
        // The second time every acquisition is known: the fast path.
        for (i, c) in classes.iter().enumerate() {
            assert_eq!(
                fast_acquire(c, 0, 100 + i, Mode::Exclusive, false, at),
                Some(true),
                "lock {i}"
            );
        }
        check(&all);
        // Out of order: the slow path re-acquires what was above.
        release(&classes[20], 120, Some(at));
        let mut rest = all.clone();
        rest.remove(20);
        check(&rest);
        assert!(
            fast_release(139),
            "the top entry is released on the fast path"
        );
        assert!(
            !fast_release(100),
            "not the top entry: the slow path's work"
        );
        for i in (0..39).rev().filter(|&i| i != 20) {
            release(&classes[i], 100 + i, Some(at));
        }
        check(&[]);
        assert_eq!(current_key_and_stack().0, Key::initial());
    }

    /// A subclass the lock has cached takes the fast path too; one it has
    /// not, or an ordered class, does not.
    #[test]
    fn cached_subclasses_take_the_fast_path() {
        let parent = lazy("unit-fastsub-parent");
        let child = lazy("unit-fastsub-child");
        let at = Location::caller();
        let pair = |sub| {
            assert!(acquire(&parent, 0, 31, Mode::Exclusive, false, at));
            let fast = fast_acquire(&child, sub, 32, Mode::Exclusive, false, at);
            if fast.is_none() {
                assert!(acquire(&child, sub, 32, Mode::Exclusive, false, at));
            }
            release(&child, 32, Some(at));
            release(&parent, 31, Some(at));
            fast
        };
        assert_eq!(pair(2), None, "the first time: the slow path");
        assert_eq!(pair(2), Some(true), "known chain, cached subclass");
        assert_eq!(pair(3), None, "another subclass is not the cached one");
        assert_eq!(pair(3), Some(true));
        assert_eq!(pair(0), None, "subclass 0 under this parent: a new chain");
        assert_eq!(pair(0), Some(true));
        assert!(current_key_and_stack().1.is_empty());
    }

    /// Under a nest lock, known chains take the fast path: the first lock
    /// of the class as a plain entry, the next ones covered; a nest lock
    /// that is not held, or taken too late, leaves the entry plain.
    #[test]
    fn acquisitions_under_a_nest_lock_take_the_fast_path() {
        let nest = lazy("unit-fastnest-parent");
        let child = lazy("unit-fastnest-child");
        let at = Location::caller();
        let (n, c1, c2) = (51, 52, 53);
        let nests = || -> Vec<Nest> { current_key_and_stack().1.iter().map(|h| h.nest).collect() };
        std::thread::spawn(move || {
            for round in 0..2 {
                assert!(acquire(&nest, 0, n, Mode::Exclusive, false, at));
                for c in [c1, c2] {
                    let fast = fast_acquire_under(&child, c, Mode::Exclusive, at, n);
                    match round {
                        0 => {
                            assert_eq!(fast, None, "a new chain: the slow path");
                            assert!(acquire_under(&child, c, Mode::Exclusive, at, &nest, n));
                        }
                        _ => assert_eq!(fast, Some(true), "a known chain: the fast path"),
                    }
                }
                assert_eq!(nests(), [Nest::No, Nest::No, Nest::Covered]);
                release(&child, c2, Some(at));
                release(&child, c1, Some(at));
                release(&nest, n, Some(at));
            }
            // The nest lock not held: the slow path, which reports it.
            assert!(acquire(&child, 0, c1, Mode::Exclusive, false, at));
            assert_eq!(fast_acquire_under(&child, c2, Mode::Exclusive, at, n), None);
            // Taken after the first child: a plain entry (the recursion
            // was reported by the slow path).
            assert!(acquire(&nest, 0, n, Mode::Exclusive, false, at));
            assert!(acquire_under(&child, c2, Mode::Exclusive, at, &nest, n));
            assert_eq!(nests(), [Nest::No, Nest::No, Nest::No]);
            release(&child, c2, Some(at));
            release(&nest, n, Some(at));
            release(&child, c1, Some(at));
        })
        .join()
        .unwrap();
    }

    /// Alternating subclasses, and subclasses of 256 and more, of known
    /// chains take no slow path (nor the registry's lock).
    #[test]
    fn alternating_and_large_subclasses_take_no_slow_path() {
        std::thread::spawn(|| {
            let parent = lazy("unit-altsub-parent");
            let child = lazy("unit-altsub-child");
            let at = Location::caller();
            let pair = |sub| {
                assert!(acquire(&parent, 0, 41, Mode::Exclusive, false, at));
                assert!(acquire(&child, sub, 42, Mode::Exclusive, false, at));
                release(&child, 42, Some(at));
                release(&parent, 41, Some(at));
            };
            let subs = [1, 2, 300, 70_000];
            for &sub in &subs {
                pair(sub);
            }
            let sessions = SESSIONS.with(Cell::get);
            for _ in 0..10 {
                for &sub in &subs {
                    pair(sub);
                }
            }
            assert_eq!(SESSIONS.with(Cell::get), sessions, "all on the fast path");
        })
        .join()
        .unwrap();
    }

    /// An ordered class's known chain takes the fast path only in order:
    /// the reverse order still goes to the slow path, and is reported.
    #[test]
    fn ordered_classes_take_the_fast_path_in_order_only() {
        static KEY: crate::ClassKey = crate::ClassKey::ordered("unit-fastord");
        let class = LazyClass::new(Source::Key(&KEY));
        let at = Location::caller();
        let (low, high) = (0x7000, 0x7100);
        std::thread::spawn(move || {
            for _ in 0..2 {
                assert!(acquire(&class, 0, low, Mode::Exclusive, false, at));
                assert!(acquire(&class, 0, high, Mode::Exclusive, false, at));
                release(&class, high, Some(at));
                release(&class, low, Some(at));
            }
            assert!(acquire(&class, 0, low, Mode::Exclusive, false, at));
            assert_eq!(
                fast_acquire_ordered(&class, high, Mode::Exclusive, false, at),
                Some(true),
                "in order, known chain"
            );
            release(&class, high, Some(at));
            release(&class, low, Some(at));
            assert!(acquire(&class, 0, high, Mode::Exclusive, false, at));
            assert_eq!(
                fast_acquire_ordered(&class, low, Mode::Exclusive, false, at),
                None
            );
            assert!(acquire(&class, 0, low, Mode::Exclusive, false, at));
            release(&class, low, Some(at));
            release(&class, high, Some(at));
        })
        .join()
        .unwrap();
        let disorder = reports()
            .into_iter()
            .filter(|r| r.class_names().contains(&"unit-fastord"))
            .count();
        assert_eq!(disorder, 1, "the reverse order is reported once");
    }

    /// Random sequences of acquisitions (plain, subclass, trylock, shared)
    /// and releases in any order, on one thread, against a model stack:
    /// after every step the validator's stack, its chain keys and the fast
    /// path's depth agree with the model, whichever path each step took.
    /// Locks are taken in one global order, so nothing is ever reported.
    /// (Not in the compiled-out twin crate, which has no proptest.)
    #[cfg(not(lockdep_off))]
    mod stack_model {
        use super::*;
        use proptest::prelude::*;

        #[derive(Clone, Debug)]
        enum Op {
            Acquire {
                lock: usize,
                subclass: u32,
                mode: u8,
                trylock: bool,
            },
            Release {
                nth: usize,
            },
            /// `lock_under` a held lock.
            AcquireUnder {
                lock: usize,
                nest_nth: usize,
            },
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                3 => (0..8usize, 0..3u32, 0..3u8, proptest::bool::weighted(0.2)).prop_map(
                    |(lock, subclass, mode, trylock)| Op::Acquire { lock, subclass, mode, trylock }
                ),
                2 => (0..8usize).prop_map(|nth| Op::Release { nth }),
                1 => (0..8usize, 0..8usize).prop_map(|(lock, nest_nth)| Op::AcquireUnder { lock, nest_nth }),
            ]
        }

        fn classes() -> &'static [LazyClass] {
            static CLASSES: std::sync::OnceLock<Vec<LazyClass>> = std::sync::OnceLock::new();
            // Locks 5, 6 and 7 are of one ordered class (their addresses
            // increase with their index).
            static ORDERED: crate::ClassKey = crate::ClassKey::ordered("unit-model-ordered");
            CLASSES.get_or_init(|| {
                (0..8)
                    .map(|i| {
                        let key: &'static crate::ClassKey = if i >= 5 {
                            &ORDERED
                        } else {
                            Box::leak(Box::new(crate::ClassKey::new("unit-model")))
                        };
                        LazyClass::new(Source::Key(key))
                    })
                    .collect()
            })
        }

        fn run(ops: &[Op]) {
            let at = Location::caller();
            let instance = |lock: usize| 0x5000 + lock * 8;
            let classes = classes();
            // The lock of each held entry, bottom first.
            let mut model: Vec<usize> = Vec::new();
            // The second time round, most chains are known: the fast path.
            for _ in 0..2 {
                for op in ops {
                    match *op {
                        Op::Acquire {
                            lock,
                            subclass,
                            mode,
                            trylock,
                        } => {
                            if model.last().is_some_and(|&top| top >= lock) {
                                continue; // one global order
                            }
                            let mode = Mode::from_bits(u64::from(mode));
                            // The ordered locks share a class: subclasses of
                            // it would order them by something else.
                            let subclass = if lock >= 5 { 0 } else { subclass };
                            let tracked = acquire(
                                &classes[lock],
                                subclass,
                                instance(lock),
                                mode,
                                trylock,
                                at,
                            );
                            assert!(tracked);
                            model.push(lock);
                        }
                        Op::Release { nth } => {
                            if model.is_empty() {
                                continue;
                            }
                            let lock = model.remove(nth % model.len());
                            release(&classes[lock], instance(lock), Some(at));
                        }
                        Op::AcquireUnder { lock, nest_nth } => {
                            let Some(&top) = model.last() else {
                                continue;
                            };
                            if top >= lock {
                                continue;
                            }
                            let nest = model[nest_nth % model.len()];
                            let tracked = acquire_under(
                                &classes[lock],
                                instance(lock),
                                Mode::Exclusive,
                                at,
                                &classes[nest],
                                instance(nest),
                            );
                            assert!(tracked);
                            model.push(lock);
                        }
                    }
                    let (key, held) = current_key_and_stack();
                    let instances: Vec<usize> = held.iter().map(|h| h.instance).collect();
                    let expected: Vec<usize> = model.iter().map(|&l| instance(l)).collect();
                    assert_eq!(instances, expected, "after {op:?}");
                    assert_eq!(key, key_from_scratch(&held));
                    for i in 0..held.len() {
                        assert_eq!(held[i].prev_key, key_from_scratch(&held[..i]));
                    }
                    assert_eq!(FAST.with(|f| f.depth.get()) as usize, held.len());
                }
                while let Some(lock) = model.pop() {
                    release(&classes[lock], instance(lock), Some(at));
                }
            }
            assert!(current_key_and_stack().1.is_empty());
            let ours = reports()
                .into_iter()
                .filter(|r| r.class_names().iter().any(|n| n.starts_with("unit-model")))
                .count();
            assert_eq!(ours, 0, "one global order: nothing to report");
        }

        proptest! {
            #![proptest_config(ProptestConfig {
                cases: 256,
                failure_persistence: None,
                ..ProptestConfig::default()
            })]
            #[test]
            fn fast_and_slow_paths_keep_the_model_stack(ops in proptest::collection::vec(op(), 1..60)) {
                // A thread of its own: a fresh state, nothing held by other tests.
                std::thread::spawn(move || run(&ops))
                    .join()
                    .map_err(|_| TestCaseError::fail("the model thread panicked"))?;
            }
        }
    }

    fn leaked_key(name: &'static str) -> LazyClass {
        LazyClass::new(Source::Key(Box::leak(Box::new(crate::ClassKey::new(name)))))
    }

    fn validations() -> usize {
        VALIDATIONS.with(Cell::get)
    }

    /// Two 4-lock chains whose keys collide in lane a (forced by the test
    /// hook, at every depth), the unkeyed lane, which a program could
    /// search for, are told apart at every level of the cache: the second,
    /// which closes a cycle, is validated and reported, although the first
    /// is in its last lock's memo (lane b), in the thread's set (the fold)
    /// and in the global set (both lanes), and each of its prefixes too.
    #[test]
    fn a_chain_key_collision_does_not_hide_a_cycle() {
        let names = ["unit-collide-q1", "unit-collide-q2", "unit-collide-d"];
        std::thread::spawn(|| {
            chain::COLLIDE_LANE_A.with(|c| c.set(true));
            let at = Location::caller();
            let p: Vec<LazyClass> = (0..3).map(|_| leaked_key("unit-collide-p")).collect();
            let q: Vec<LazyClass> = ["unit-collide-q0", "unit-collide-q1", "unit-collide-q2"]
                .into_iter()
                .map(leaked_key)
                .collect();
            let d = leaked_key("unit-collide-d");
            let take = |locks: &[&LazyClass]| {
                for (i, l) in locks.iter().enumerate() {
                    assert!(acquire(l, 0, 0x9000 + i * 8, Mode::Exclusive, false, at));
                }
                let key = current_key_and_stack().0;
                for (i, l) in locks.iter().enumerate().rev() {
                    release(l, 0x9000 + i * 8, Some(at));
                }
                key
            };
            // d -> q1 learned.
            take(&[&d, &q[1]]);
            // The first chain, twice: validated, then known (d's memo).
            let first = take(&[&p[0], &p[1], &p[2], &d]);
            assert_eq!(take(&[&p[0], &p[1], &p[2], &d]), first);
            assert_eq!(d.memo.load(Ordering::Relaxed), first.memo(), "in d's memo");
            let in_set = with_state(|st| st.chains.contains(first));
            assert_eq!(in_set, Some(true), "in the thread's set");
            assert!(shared().chains.contains(first), "in the global set");
            // The second closes q1 -> q2 -> d -> q1.
            let before = validations();
            let second = take(&[&q[0], &q[1], &q[2], &d]);
            assert_eq!(second.a, first.a, "the hook collides lane a");
            assert_ne!(second.memo(), first.memo(), "the memo tells them apart");
            assert_ne!(second.fold(), first.fold(), "the thread's set does");
            assert_ne!(second, first, "the global set does");
            assert_eq!(validations() - before, 3, "every chain of q was validated");
            chain::COLLIDE_LANE_A.with(|c| c.set(false));
        })
        .join()
        .unwrap();
        let found = reports().into_iter().any(|r| {
            matches!(r.problem, Problem::CircularDependency { .. })
                && names.iter().all(|n| r.class_names().contains(n))
        });
        assert!(found, "the cycle through q1, q2 and d is reported");
    }

    fn check_stack(instances: &[usize]) {
        let (key, held) = current_key_and_stack();
        assert_eq!(
            held.iter().map(|h| h.instance).collect::<Vec<_>>(),
            instances
        );
        assert_eq!(key, key_from_scratch(&held));
        for i in 0..held.len() {
            assert_eq!(held[i].prev_key, key_from_scratch(&held[..i]), "entry {i}");
        }
        assert_eq!(FAST.with(|f| f.depth.get()) as usize, held.len());
    }

    /// Four locks (one a trylock) released in each of the 24 orders, each
    /// order twice (slow path, then fast path): after every release the
    /// stack and its chain keys are those of the locks still held, and so
    /// after taking one more lock on what is left; the oldest held lock's
    /// release takes the fast path, and no release validates a chain
    /// unless the first non-trylock above a released lock has locks below.
    #[test]
    fn releases_in_every_order_keep_stack_and_keys() {
        std::thread::spawn(|| {
            let at = Location::caller();
            let locks: Vec<LazyClass> = (0..5).map(|_| leaked_key("unit-order")).collect();
            let inst = |i: usize| 0xa000 + i * 8;
            let mut orders = vec![vec![]];
            for n in 0..4 {
                orders = orders
                    .into_iter()
                    .flat_map(|o: Vec<usize>| {
                        (0..=o.len()).map(move |p| {
                            let mut o = o.clone();
                            o.insert(p, n);
                            o
                        })
                    })
                    .collect();
            }
            assert_eq!(orders.len(), 24);
            for order in &orders {
                for _ in 0..2 {
                    for (i, l) in locks[..4].iter().enumerate() {
                        assert!(acquire(l, 0, inst(i), Mode::Exclusive, i == 2, at));
                    }
                    let mut held: Vec<usize> = (0..4).collect();
                    for &r in order {
                        let pos = held.iter().position(|&h| h == r).unwrap();
                        let oldest = pos == 0 && held.len() > 1;
                        if oldest {
                            assert!(fast_release_oldest(inst(r)), "{order:?}: oldest");
                        } else {
                            release(&locks[r], inst(r), Some(at));
                        }
                        held.remove(pos);
                        if oldest {
                            assert_eq!(FAST.with(|f| f.low.get()), 1);
                        }
                        let before = validations();
                        check_stack(&held.iter().map(|&h| inst(h)).collect::<Vec<_>>());
                        assert_eq!(validations(), before, "checking validates nothing");
                        // One more lock on what is left, and off again.
                        assert!(acquire(&locks[4], 0, inst(4), Mode::Exclusive, false, at));
                        let mut with = held.iter().map(|&h| inst(h)).collect::<Vec<_>>();
                        with.push(inst(4));
                        check_stack(&with);
                        release(&locks[4], inst(4), Some(at));
                    }
                    check_stack(&[]);
                }
                // The second round found every chain known.
                let before = validations();
                for (i, l) in locks[..4].iter().enumerate() {
                    assert!(acquire(l, 0, inst(i), Mode::Exclusive, i == 2, at));
                }
                for &r in order {
                    release(&locks[r], inst(r), Some(at));
                }
                assert_eq!(validations(), before, "{order:?}: all known");
            }
        })
        .join()
        .unwrap();
    }

    /// 10 000 held locks released oldest first cost no validation and one
    /// step each; in other orders, a release validates at most one chain.
    #[test]
    fn ten_thousand_locks_release_in_bounded_work() {
        std::thread::spawn(|| {
            let at = Location::caller();
            let n = 10_000;
            let locks: Vec<LazyClass> = (0..n).map(|_| leaked_key("unit-10k")).collect();
            let inst = |i: usize| 0x10_0000 + i * 8;
            let take = |count: usize| {
                for (i, l) in locks[..count].iter().enumerate() {
                    assert!(acquire(l, 0, inst(i), Mode::Exclusive, false, at));
                }
            };
            take(n);
            let before = validations();
            for (i, l) in locks.iter().enumerate() {
                release(l, inst(i), Some(at));
                if i + 1 < n {
                    assert_eq!(FAST.with(|f| f.low.get()) as usize, i + 1, "O(1) each");
                }
            }
            assert_eq!(validations(), before, "oldest first: nothing validated");
            check_stack(&[]);
            // The second oldest first, on 1000 of them: one validation each
            // at most (the lock above it, now over the oldest).
            take(1000);
            let before = validations();
            for (i, l) in locks[1..1000].iter().enumerate() {
                release(l, inst(i + 1), Some(at));
            }
            assert!(validations() - before <= 998);
            check_stack(&[inst(0)]);
            release(&locks[0], inst(0), Some(at));
            check_stack(&[]);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn internal_panics_are_contained() {
        let before = INTERNAL_ERRORS.load(std::sync::atomic::Ordering::Relaxed);
        let r: Option<()> = contained("a unit test", || panic!("deliberate"));
        assert!(r.is_none());
        assert_eq!(contained("a unit test", || 5), Some(5));
        assert!(INTERNAL_ERRORS.load(std::sync::atomic::Ordering::Relaxed) > before);
    }

    #[test]
    fn untracked_while_the_validator_runs_on_this_thread() {
        let a = lazy("unit-reentrant-a");
        let at = Location::caller();
        let inner = with_state(|_| acquire(&a, 0, 21, Mode::Exclusive, false, at));
        assert_eq!(
            inner,
            Some(false),
            "nested use of the validator is not tracked"
        );
    }
}

/// Model checking of the concurrent internals: the real validation code,
/// run on shared state built with loom's locks, under the interleavings loom
/// explores (preemption bound 3, to keep the run quick).
#[cfg(all(test, not(lockdep_off)))]
mod model {
    use super::*;

    struct Loom;

    impl Facade for Loom {
        type Mutex<T: Send + 'static> = loom::sync::Mutex<T>;
        type RwLock<T: Send + Sync + 'static> = loom::sync::RwLock<T>;
        fn mutex<T: Send + 'static>(value: T) -> Self::Mutex<T> {
            loom::sync::Mutex::new(value)
        }
        fn rwlock<T: Send + Sync + 'static>(value: T) -> Self::RwLock<T> {
            loom::sync::RwLock::new(value)
        }
        fn with<T: Send + 'static, R>(m: &Self::Mutex<T>, f: impl FnOnce(&mut T) -> R) -> R {
            f(&mut m.lock().unwrap())
        }
        fn read<T: Send + Sync + 'static, R>(l: &Self::RwLock<T>, f: impl FnOnce(&T) -> R) -> R {
            f(&l.read().unwrap())
        }
        fn write<T: Send + Sync + 'static, R>(
            l: &Self::RwLock<T>,
            f: impl FnOnce(&mut T) -> R,
        ) -> R {
            f(&mut l.write().unwrap())
        }
    }

    /// Stack capture is the unwinder's business, not the model's.
    fn no_trace() -> Arc<[usize]> {
        Arc::from(Vec::new())
    }

    fn entry(class: u32, prev_key: Key) -> HeldLock {
        let at = Location::caller();
        NewEntry::plain(ClassId(class), class as usize + 1, Mode::Exclusive, at).held(prev_key)
    }

    /// One thread's new chain: holding `first`, acquiring `second`. Returns
    /// the circular reports it raised, and the chain's key.
    fn acquire_pair(shared: &Shared<Loom, Global>, first: u32, second: u32) -> (usize, Key) {
        let held = entry(first, Key::initial());
        let prefix = chain::mix(Key::initial(), held.chain_id());
        let next = entry(second, prefix);
        let key = chain::mix(prefix, next.chain_id());
        let mut st = ThreadState {
            held: vec![held],
            key: prefix,
            chains: LocalChains::new(),
            order_keys: Vec::new(),
            generation: 0,
        };
        let pending = validate_in(shared, &mut st, &next, key, no_trace);
        let circular = pending
            .iter()
            .filter(|p| matches!(p, Pending::Circular { .. }))
            .count();
        assert!(
            st.chains.contains(key),
            "the thread caches the chain it validated"
        );
        (circular, key)
    }

    fn model(f: impl Fn() + Sync + Send + 'static) {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = Some(3);
        builder.check(f);
    }

    #[test]
    fn concurrent_abba_is_reported_exactly_once() {
        model(|| {
            let shared = loom::sync::Arc::new(Shared::<Loom, Global>::new());
            let other = shared.clone();
            let t = loom::thread::spawn(move || acquire_pair(&other, 0, 1));
            let (here, key_ba) = acquire_pair(&shared, 1, 0);
            let (there, key_ab) = t.join().unwrap();
            // Whichever order the two insertions took, the second saw the
            // first, and exactly one of them closed the cycle.
            assert_eq!(here + there, 1);
            shared.with_global(|g| {
                assert!(g.graph.has(ClassId(0), ClassId(1), graph::DEP_EN));
                assert!(g.graph.has(ClassId(1), ClassId(0), graph::DEP_EN));
                assert_eq!(g.reported.len(), 1);
            });
            assert!(shared.chains.contains(key_ab) && shared.chains.contains(key_ba));
        });
    }

    #[test]
    fn one_chain_validated_by_two_threads_at_once_is_recorded_once() {
        model(|| {
            let shared = loom::sync::Arc::new(Shared::<Loom, Global>::new());
            let other = shared.clone();
            let t = loom::thread::spawn(move || acquire_pair(&other, 0, 1));
            let (here, key) = acquire_pair(&shared, 0, 1);
            let (there, same) = t.join().unwrap();
            assert_eq!((here, there), (0, 0));
            assert_eq!(key, same);
            shared.with_global(|g| {
                assert_eq!(g.graph.edge_count(), 1);
                assert!(g.chains >= 1);
            });
            assert_eq!(shared.chains.len(), 1);
        });
    }
}
