//! The test-facing API: `assert_no_reports`, `watch`, `watch_all`.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use common::panic_text;
use lockdep::{Action, Mutex};

/// Takes `first` then `second`.
fn nest(first: &Mutex<u32>, second: &Mutex<u32>) {
    let _f = first.lock();
    *second.lock() += 1;
}

fn titles(reports: &[std::sync::Arc<lockdep::Report>]) -> Vec<&str> {
    reports.iter().map(|r| r.title()).collect()
}

#[test]
fn a_clean_block_passes_and_returns_its_value() {
    static A: Mutex<u32> = Mutex::named("watch_clean_a", 0);
    static B: Mutex<u32> = Mutex::named("watch_clean_b", 0);
    lockdep::set_action(Action::Silent);
    let v = lockdep::assert_no_reports(|| {
        nest(&A, &B);
        nest(&A, &B);
        *B.lock()
    });
    assert_eq!(v, 2);
}

#[test]
fn a_block_that_raises_a_report_fails_with_it() {
    static A: Mutex<u32> = Mutex::named("watch_cycle_a", 0);
    static B: Mutex<u32> = Mutex::named("watch_cycle_b", 0);
    lockdep::set_action(Action::Silent);
    nest(&A, &B); // outside the block: learned, not watched
    let text = panic_text(catch_unwind(|| {
        lockdep::assert_no_reports(|| nest(&B, &A));
    }));
    assert!(
        text.starts_with(
            "lockdep: a report was raised where none was expected: \
             possible circular locking dependency detected\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("watch_cycle_a") && text.contains("*** DEADLOCK ***"),
        "{text}"
    );
    assert!(!A.is_locked() && !B.is_locked());
}

#[test]
fn reports_before_the_watch_or_on_other_threads_are_not_its_own() {
    static A: Mutex<u32> = Mutex::named("watch_other_a", 0);
    static B: Mutex<u32> = Mutex::named("watch_other_b", 0);
    lockdep::set_action(Action::Silent);
    nest(&A, &B);
    let watch = lockdep::watch();
    // A thread of the std library does not inherit the watch.
    std::thread::spawn(|| nest(&B, &A)).join().unwrap();
    assert!(watch.reports().is_empty());
    assert!(lockdep::reports()
        .iter()
        .any(|r| r.class_names().contains(&"watch_other_a")));
    watch.assert_none();
}

#[test]
fn threads_spawned_with_lockdep_thread_hand_their_reports_to_the_watch() {
    static A: Mutex<u32> = Mutex::named("watch_inherit_a", 0);
    static B: Mutex<u32> = Mutex::named("watch_inherit_b", 0);
    static C: Mutex<u32> = Mutex::named("watch_inherit_c", 0);
    lockdep::set_action(Action::Silent);
    nest(&A, &B);
    nest(&B, &C);
    let watch = lockdep::watch();
    lockdep::thread::scope(|s| {
        s.spawn(|| nest(&B, &A));
    });
    lockdep::thread::spawn(|| nest(&C, &B)).join().unwrap();
    let seen = watch.take();
    assert_eq!(
        titles(&seen),
        [
            "possible circular locking dependency detected",
            "possible circular locking dependency detected"
        ]
    );
    assert!(seen[0].class_names().contains(&"watch_inherit_a"));
    assert!(seen[1].class_names().contains(&"watch_inherit_c"));
}

#[test]
fn watch_all_sees_std_scope_threads() {
    static A: Mutex<u32> = Mutex::named("watch_all_a", 0);
    static B: Mutex<u32> = Mutex::named("watch_all_b", 0);
    lockdep::set_action(Action::Silent);
    nest(&A, &B);
    let watch = lockdep::watch_all();
    std::thread::scope(|s| {
        s.spawn(|| nest(&B, &A));
    });
    // Other tests of this binary run at the same time: find ours.
    let seen = watch.take();
    assert_eq!(
        seen.iter()
            .filter(|r| r.class_names().contains(&"watch_all_a"))
            .count(),
        1
    );
}

/// The guard form: dropped with a report, it panics with it (the end of a
/// test); a release's report, raised in a destructor, is seen too.
#[test]
fn a_watch_dropped_with_reports_panics() {
    static PINNED: Mutex<u32> = Mutex::named("watch_pinned", 0);
    lockdep::set_action(Action::Silent);
    let text = panic_text(catch_unwind(AssertUnwindSafe(|| {
        let _watch = lockdep::watch();
        let guard = PINNED.lock();
        std::mem::forget(PINNED.pin());
        drop(guard);
    })));
    assert!(text.contains("releasing a pinned lock!"), "{text}");
    assert!(!PINNED.is_locked());
    // A watch dropped while the thread panics adds no panic of its own.
    let text = panic_text(catch_unwind(AssertUnwindSafe(|| {
        let _watch = lockdep::watch();
        static M: lockdep::LockMap = lockdep::LockMap::named("watch_unbalanced");
        M.release(); // bad unlock balance: reported
        panic!("the test's own failure");
    })));
    assert_eq!(text, "the test's own failure");
}
