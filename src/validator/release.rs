//! Release paths and edits of a held entry: `release`, `remove_at`,
//! `reacquire` of the entries above, `set_subclass`, `change_mode`, `pin`.

use super::*;

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

/// A release on the slow path: the entry is removed (a pinned one reported)
/// and any entries above it re-acquired; one not held is a bad unlock.
#[cold]
pub(super) fn release_slow(
    st: &mut ThreadState,
    class: ClassId,
    instance: usize,
    at: Option<&'static Location<'static>>,
) {
    let Some(i) = held::find(&st.held, instance) else {
        // A guard's release (no site) that finds no entry: the validator
        // did not record its acquisition, or another thread made it (a
        // guard sent here). Nothing to release, nothing to report.
        if at.is_none() {
            return;
        }
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
        h.key = key;
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
        st.key = st.key_below(i);
        let mut entries = st.held.split_off(i);
        entries[0].class = id;
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
pub(super) fn remove_at(st: &mut ThreadState, i: usize) {
    let removed = st.held.remove(i);
    for j in i..st.held.len() {
        st.held[j].nest = reacquired_nest(&st.held[..j], st.held[j]);
    }
    let below = st.key_below(i);
    st.key = held::rekey(&mut st.held[i..], below);
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
    let key = entry.key;
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
        let below = st.key_below(i);
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
