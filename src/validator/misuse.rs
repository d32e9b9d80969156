//! Misuse reports: a lock held at thread exit or freed while held, a failed
//! `assert_held`, a pinned lock released, a nest lock not held.

use super::*;

/// Kinds of misuse the validator reports (besides bad unlock balance).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(super) enum MisuseKind {
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
pub(super) struct NestRef {
    pub(super) class: ClassId,
    pub(super) instance: usize,
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
pub(super) fn misuse(
    st: &ThreadState,
    kind: MisuseKind,
    lock: &HeldLock,
    at: &'static Location<'static>,
) {
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
        Pending::Ready(Box::new(Report {
            process: process_info(),
            thread: thread_info(),
            problem,
            held: held_info(&st.held, &usage),
            backtrace,
        }))
    });
    let raised = match kind {
        MisuseKind::HeldAtThreadExit => Raised::AtExit,
        _ => Raised::Deferred,
    };
    if let Some(report) = report {
        emit_all(vec![report], raised);
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

pub(super) fn freed_in(st: &mut ThreadState, instance: usize) {
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
