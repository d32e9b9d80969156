//! The fast path: [`Fast`], the thread's cells, and the pushes and pops that
//! touch only them, with the compaction of entries it released.

use super::*;

/// Runs `$step`, which reads and updates the thread's stack through
/// `$fast`, as one step for whatever interrupts it on this thread (a signal
/// handler): that sees the flag up and leaves its locks untracked. `$step`
/// is a call (so that no `return` in it can leave the flag up, and so that
/// it is inlined, which a closure's body need not be) that returns the
/// stack's new depth, or `None` when it does not apply. True when it
/// applied; false too, without the call, when the validator is already
/// running on the thread. The flag is raised before the step's first read:
/// a handler whose locks went through the fast path meanwhile (and
/// compacted the stack) would leave what it read stale. The new depth and
/// the lowered flag are one store ([`Step::end`]).
macro_rules! one_step {
    ($fast:expr, $step:ident($($arg:expr),*)) => {{
        let fast: &Fast = $fast;
        fast.step.enter() && {
            std::sync::atomic::compiler_fence(Ordering::SeqCst);
            let depth = $step($($arg),*);
            std::sync::atomic::compiler_fence(Ordering::SeqCst);
            match depth {
                Some(depth) => {
                    fast.step.end(depth);
                    true
                }
                None => {
                    fast.step.leave();
                    false
                }
            }
        }
    }};
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
/// `base` is the chain key of the empty stack, and each entry's `key` that
/// of the entries up to it (so the top one's is the held stack's when
/// `low` is 0, and a pop needs no key); and
/// `chains`/`chains_len` are the slots of its chain cache. `limit` is 0
/// before a thread's first acquisition, during a session (so the validator
/// and the report callback never re-enter it), and from the moment the
/// thread's state starts being destroyed. `room` is `limit` when `low` is
/// 0 and 0 otherwise: a push needs the held stack's key, so it first
/// compacts the stack ([`compact_fast`]).
pub(super) struct Fast {
    /// The depth, and whether the validator is running on this thread.
    pub(super) step: Step,
    pub(super) limit: Cell<u32>,
    pub(super) room: Cell<u32>,
    pub(super) low: Cell<u32>,
    pub(super) base: Cell<Key>,
    pub(super) held: Cell<*mut HeldLock>,
    pub(super) chains: Cell<*const u64>,
    pub(super) chains_len: Cell<usize>,
    /// Some held lock may have an explicit order key (`lock_ordered`): the
    /// fast path leaves ordered classes to the slow path.
    pub(super) explicit_keys: Cell<bool>,
    /// The lock whose acquisition the validator is handling on this thread
    /// (0: none): one taken again meanwhile is taken by the validator's own
    /// allocations (see [`alloc_locks`]).
    pub(super) acquiring: Cell<usize>,
}

/// The fast path's depth and the flag of the validator running on the
/// thread, side by side in one aligned word: a step's last store publishes
/// the new depth and lowers the flag at once ([`Step::end`]).
///
/// `inside` (0 or 1): the fast path is updating the held stack, or an
/// [`Enter`] is alive (class resolution, a session, a report callback).
/// Whatever interrupts it on the same thread (a signal handler, the global
/// allocator called by the validator's own allocations) takes its locks
/// untracked.
#[repr(C, align(8))]
pub(super) struct Step {
    pub(super) depth: Cell<u32>,
    inside: Cell<u32>,
}

impl Step {
    pub(super) const fn new() -> Step {
        Step {
            depth: Cell::new(0),
            inside: Cell::new(0),
        }
    }

    /// Raises the flag; false if it was up already (the validator is
    /// running on the thread). It stores the flag's own half of the word,
    /// never the whole: whatever interrupts this (and may change the
    /// depth) leaves the flag down again.
    #[inline(always)]
    pub(super) fn enter(&self) -> bool {
        self.inside.replace(1) == 0
    }

    /// Lowers the flag.
    #[inline(always)]
    pub(super) fn leave(&self) {
        self.inside.set(0);
    }

    /// Ends a step that leaves `depth` entries: the depth and the lowered
    /// flag in one store.
    #[inline(always)]
    pub(super) fn end(&self, depth: u32) {
        let mut word = [0; 8];
        word[..4].copy_from_slice(&depth.to_ne_bytes());
        // SAFETY: `Step` is two `Cell<u32>`s, `depth` at offset 0 and
        // `inside` at 4 (`repr(C)`), 8-aligned: its 8 bytes are all the
        // contents of `UnsafeCell`s, so writing them through a pointer made
        // from `&self` is allowed, and aligned. `Cell` is not `Sync`: no
        // other thread reads them. The word written is `depth`, then 0.
        unsafe {
            (self as *const Step)
                .cast_mut()
                .cast::<u64>()
                .write(u64::from_ne_bytes(word))
        }
    }
}

const _: () = assert!(std::mem::offset_of!(Step, inside) == 4 && std::mem::size_of::<Step>() == 8);

/// Locks that the validator's own allocations take: locks of the global
/// allocator. Found when the validator, handling the acquisition of one,
/// allocates and so re-enters the acquisition of that very lock. While a
/// thread holds one, it is inside the allocator, where nothing may
/// allocate: a lock it takes then (an allocator's nested lock) is left
/// untracked rather than validated.
pub(super) mod alloc_locks {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::held::HeldLock;

    static LOCKS: [AtomicUsize; 8] = [const { AtomicUsize::new(0) }; 8];

    /// `instance` was acquired again while the validator handled its
    /// acquisition on this thread.
    pub(in crate::validator) fn reentered(instance: usize) {
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
    pub(in crate::validator) fn held(held: &[HeldLock]) -> bool {
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
pub(super) struct Acquiring(&'static Fast, usize);

impl Acquiring {
    pub(super) fn new(instance: usize) -> Option<Acquiring> {
        let fast = fast()?;
        Some(Acquiring(fast, fast.acquiring.replace(instance)))
    }
}

impl Drop for Acquiring {
    fn drop(&mut self) {
        self.0.acquiring.set(self.1);
    }
}

/// Drops the `low` oldest entries of `st.held`, released on the fast path,
/// and gives those above the keys of the stack without them.
pub(super) fn take_in_released(st: &mut ThreadState, low: usize) {
    if low > 0 {
        let (len, key) = compact(&mut st.held, low, base_key(st.generation));
        st.held.truncate(len);
        st.key = key;
    }
}

/// Moves the entries above the `low` released ones of `held` down to its
/// start and rekeys them from `base`, the key of the empty stack; returns
/// how many there are and the stack's key. Nothing to validate: see
/// [`fast_release_oldest`].
pub(super) fn compact(held: &mut [HeldLock], low: usize, base: Key) -> (usize, Key) {
    held.copy_within(low.., 0);
    let len = held.len() - low;
    (len, held::rekey(&mut held[..len], base))
}

/// Compacts the fast path's stack after releases of its oldest entries, so
/// that a push has the held stack's key. Returns whether it did.
#[cold]
pub(super) fn compact_fast() -> bool {
    let Some(fast) = fast() else {
        return false;
    };
    one_step!(fast, compact_step(fast))
}

/// [`compact_fast`]'s step: the stack's new depth, or `None`.
#[inline(always)]
fn compact_step(fast: &Fast) -> Option<u32> {
    let low = fast.low.get() as usize;
    if low == 0 || fast.limit.get() == 0 {
        return None;
    }
    // SAFETY: the fast path is open (`limit != 0`), so by `Fast`'s
    // invariant the first `depth` entries of the live held buffer are
    // initialized and nothing else borrows it; the slice does not outlive
    // this call.
    let held =
        unsafe { std::slice::from_raw_parts_mut(fast.held.get(), fast.step.depth.get() as usize) };
    let (len, _) = compact(held, low, fast.base.get());
    fast.low.set(0);
    fast.room.set(fast.limit.get());
    Some(len as u32)
}

/// The fast path of an acquisition of a lock of an unordered class whose
/// (sub)class the lock has cached. `None` when it does not apply.
#[inline(always)]
pub(super) fn fast_acquire(
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
pub(super) fn fast_acquire_by(
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
    let new = NewEntry {
        trylock,
        nest: Nest::No,
        ..NewEntry::plain(id, instance, mode, at)
    };
    fast_push(fast, new, &class.memo)
}

/// The fast path's push: the held stack has room, and the chain is the
/// lock's memo or in this thread's cache. `None` when it does not apply.
#[inline(always)]
fn fast_push(fast: &Fast, new: NewEntry, memo: &std::sync::atomic::AtomicU64) -> Option<bool> {
    one_step!(fast, push_step(fast, new, memo)).then_some(true)
}

/// [`fast_push`]'s step: the stack's new depth, or `None`.
#[inline(always)]
fn push_step(fast: &Fast, new: NewEntry, memo: &std::sync::atomic::AtomicU64) -> Option<u32> {
    let depth = fast.step.depth.get();
    if depth >= fast.room.get() {
        return None;
    }
    let key = match depth {
        // A lone lock has no chain to check.
        0 => chain::mix(fast.base.get(), new.chain_id()),
        _ => known_chain(fast, depth, new.chain_id(), new.trylock, memo)?,
    };
    // SAFETY: `depth < room <= limit`, so by `Fast`'s invariant the slot is
    // within the capacity of the live held buffer, which nothing borrows.
    unsafe { fast.held.get().add(depth as usize).write(new.keyed(key)) };
    Some(depth + 1)
}

/// The key of a push on `depth` (> 0) open entries of the fast path, if
/// its chain is known: the lock's memo, or in the thread's cache (a trylock
/// is never a dependency's target: any chain of it is known).
#[inline(always)]
fn known_chain(
    fast: &Fast,
    depth: u32,
    hid: u64,
    trylock: bool,
    memo: &std::sync::atomic::AtomicU64,
) -> Option<Key> {
    // SAFETY: the caller's `0 < depth < room <= limit`: by `Fast`'s
    // invariant, an initialized entry of the live held buffer, which nothing
    // borrows.
    let below = unsafe { (*fast.held.get().add(depth as usize - 1)).key };
    let key = chain::mix(below, hid);
    if !trylock && memo.load(Ordering::Relaxed) != key.memo() {
        // SAFETY: the fast path is open (`depth < limit`), so by `Fast`'s
        // invariant these are the live slots of this thread's chain cache,
        // which nothing else borrows.
        let slots = unsafe { std::slice::from_raw_parts(fast.chains.get(), fast.chains_len.get()) };
        if !chain::probe(slots, key) {
            return None;
        }
        memo.store(key.memo(), Ordering::Relaxed);
    }
    Some(key)
}

/// Does this thread hold any tracked lock? One thread-local read; false
/// while the fast path is closed (the validator runs on this thread, or its
/// state is gone).
#[inline]
pub(crate) fn holds_any() -> bool {
    fast().is_some_and(|f| f.limit.get() != 0 && f.step.depth.get() != 0)
}

/// The locks this thread holds, as the fast path sees them; `None` while
/// the fast path is closed.
pub(super) fn fast_held(fast: &Fast) -> Option<&[HeldLock]> {
    if fast.limit.get() == 0 {
        return None;
    }
    let low = fast.low.get() as usize;
    // SAFETY: the fast path is open, so by `Fast`'s invariant the first
    // `depth` entries of the live held buffer are initialized, `low` of them
    // at most released, and nothing borrows it; the slice is used before
    // anything can change the stack.
    Some(unsafe {
        std::slice::from_raw_parts(
            fast.held.get().add(low),
            fast.step.depth.get() as usize - low,
        )
    })
}

/// The fast path of an acquisition of a lock of an ordered class, at
/// subclass 0, when no held lock has an explicit order key: every held lock
/// of the class must come before this one by address (or the slow path
/// reports it), then the push is the usual one.
#[inline]
pub(super) fn fast_acquire_ordered(
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
    let new = NewEntry {
        trylock,
        nest: Nest::Ordered,
        ..NewEntry::plain(id, instance, mode, at)
    };
    fast_push(fast, new, &class.memo)
}

/// The fast path of a release: `instance` is the top entry, and not pinned.
/// Returns whether it applied.
#[inline(always)]
pub(super) fn fast_release(instance: usize) -> bool {
    let Some(fast) = fast() else {
        return false;
    };
    one_step!(fast, pop_step(fast, instance))
}

/// [`fast_release`]'s step: the stack's new depth, or `None`.
#[inline(always)]
fn pop_step(fast: &Fast, instance: usize) -> Option<u32> {
    let depth = fast.step.depth.get();
    // `depth - 1 < limit`: the fast path is open and the stack not empty.
    if depth.wrapping_sub(1) >= fast.limit.get() {
        return None;
    }
    // SAFETY: `0 < depth <= limit`: by `Fast`'s invariant, an initialized
    // entry of the live held buffer, which nothing borrows.
    let top = unsafe { fast.held.get().add(depth as usize - 1).read() };
    // The stack's key is now the entry's below, or `base`. Over released
    // entries only (`depth == low`), the stack is empty, and the next push
    // compacts it.
    (top.instance == instance && top.pins == 0).then_some(depth - 1)
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
pub(super) fn fast_release_oldest(instance: usize) -> bool {
    let Some(fast) = fast() else {
        return false;
    };
    one_step!(fast, release_oldest_step(fast, instance))
}

/// [`fast_release_oldest`]'s step: the stack's depth, or `None`.
#[inline(always)]
fn release_oldest_step(fast: &Fast, instance: usize) -> Option<u32> {
    let depth = fast.step.depth.get();
    let low = fast.low.get();
    // `depth - 1 < limit`: open and not empty; `low + 1 < depth`: the oldest
    // held entry is not the top one (the top's release is `fast_release`'s).
    if depth.wrapping_sub(1) >= fast.limit.get() || low + 1 >= depth {
        return None;
    }
    // SAFETY: `low < depth <= limit`: by `Fast`'s invariant, an initialized
    // entry of the live held buffer, which nothing borrows.
    let oldest = unsafe { fast.held.get().add(low as usize).read() };
    if oldest.instance != instance || oldest.pins != 0 {
        return None;
    }
    // SAFETY: as above; the entry, released, matches no instance now (no
    // lock is at address 0), so no release takes it for the top one.
    unsafe { (*fast.held.get().add(low as usize)).instance = 0 };
    fast.low.set(low + 1);
    fast.room.set(0);
    Some(depth)
}

/// The fast path of an acquisition under a nest lock the thread holds, of a
/// lock of an unordered class at subclass 0: a known chain, covered or
/// plain, is pushed. `None` when it does not apply.
#[inline]
pub(super) fn fast_acquire_under(
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
    let new = NewEntry {
        nest,
        ..NewEntry::plain(id, instance, mode, at)
    };
    fast_push(fast, new, &class.memo)
}
