//! The slow acquisition paths: a plain acquisition's checks, nest locks
//! (`acquire_under`) and ordered classes (`acquire_ordered`), and the push.

use super::*;

/// Records an acquisition. Returns whether it was tracked; pass that to
/// [`release()`] through the guard.
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

/// [`acquire`] in two halves, for a caller that must prepare for the slow
/// path (which may unwind, under `Action::Panic`) but not pay for that on
/// the fast one: `None` when the slow half, [`acquire_slow`], must run.
#[inline(always)]
pub(crate) fn acquire_fast(
    class: &LazyClass,
    subclass: u32,
    instance: usize,
    mode: Mode,
    at: &'static Location<'static>,
) -> Option<bool> {
    if !config::is_enabled() {
        return Some(false);
    }
    let fast = fast_acquire(class, subclass, instance, mode, false, at);
    if fast.is_none() && subclass != 0 {
        return fast_subclass(class, subclass, instance, mode, false, at);
    }
    fast
}

/// A subclass other than the lock's last one, found without a lock: the
/// first step out of line of both [`acquire_fast`] and [`acquire_unpack`].
/// Never unwinds.
#[inline(never)]
fn fast_subclass(
    class: &LazyClass,
    subclass: u32,
    instance: usize,
    mode: Mode,
    trylock: bool,
    at: &'static Location<'static>,
) -> Option<bool> {
    fast_acquire_by(
        LazyClass::sub_lockfree,
        class,
        subclass,
        instance,
        mode,
        trylock,
        at,
    )
}

/// The slow half of a blocking [`acquire`], after [`acquire_fast`] (which
/// tried the subclass cache too).
#[inline(always)]
pub(crate) fn acquire_blocking_slow(
    class: &LazyClass,
    subclass: u32,
    instance: usize,
    mode: Mode,
    at: &'static Location<'static>,
) -> bool {
    acquire_rest(
        class,
        instance,
        (u64::from(subclass) << 8) | (mode.bits() << 1),
        at,
    )
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
        if let Some(tracked) = fast_subclass(class, subclass, instance, mode, how & 1 != 0, at) {
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
    let first = class.resolve_first(at);
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

/// What a nest lock does for an acquisition.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Cover {
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
pub(super) fn cover(held: &[HeldLock], class: ClassId, mode: Mode, nest: usize) -> Cover {
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
pub(super) fn blocks_on(h: &HeldLock, class: ClassId, mode: Mode) -> bool {
    h.class == class && !(mode == Mode::SharedRecursive && h.mode.is_shared())
}

/// What a new held entry is made of (its chain key comes from the stack).
#[derive(Clone, Copy)]
pub(super) struct NewEntry {
    pub(super) class: ClassId,
    pub(super) instance: usize,
    pub(super) mode: Mode,
    pub(super) trylock: bool,
    pub(super) nest: Nest,
    pub(super) at: &'static Location<'static>,
}

impl NewEntry {
    /// An entry that is neither a trylock nor excused by a nest: reports'
    /// entries of locks not (yet) on the stack, and the start of any other
    /// (`NewEntry { trylock, ..NewEntry::plain(..) }`).
    pub(super) fn plain(
        class: ClassId,
        instance: usize,
        mode: Mode,
        at: &'static Location<'static>,
    ) -> Self {
        NewEntry {
            class,
            instance,
            mode,
            trylock: false,
            nest: Nest::No,
            at,
        }
    }

    /// The entry, pushed on a stack whose chain key is `below`.
    #[inline]
    pub(super) fn held(self, below: Key) -> HeldLock {
        self.keyed(chain::mix(below, self.chain_id()))
    }

    /// What the entry contributes to the chain key.
    #[inline(always)]
    pub(super) fn chain_id(&self) -> u64 {
        HeldLock::id(
            self.class,
            self.mode,
            self.trylock,
            self.nest == Nest::Covered,
        )
    }

    /// The entry, with the chain key `key` of the stack up to it.
    #[inline(always)]
    pub(super) fn keyed(self, key: Key) -> HeldLock {
        HeldLock {
            class: self.class,
            instance: self.instance,
            mode: self.mode,
            trylock: self.trylock,
            pins: 0,
            nest: self.nest,
            key,
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
pub(super) fn push(
    st: &mut ThreadState,
    new: NewEntry,
    memo: Option<&std::sync::atomic::AtomicU64>,
) -> bool {
    let entry = new.held(st.key);
    let key = entry.key;
    // A lone lock has no chain to check; a trylock is never a dependency's
    // target.
    if !st.held.is_empty() && !new.trylock {
        let remembered = memo.is_some_and(|m| m.load(Ordering::Relaxed) == key.memo());
        if !remembered {
            if !st.chains.contains(key) {
                check_new_chain(st, entry, key);
            }
            // Remembered only if validation cached it (see `validate_in`).
            if let Some(m) = memo.filter(|_| st.chains.contains(key)) {
                m.store(key.memo(), Ordering::Relaxed);
            }
        }
    }
    if is_due(true) {
        return false;
    }
    st.held.push(entry);
    st.key = key;
    true
}
