//! `Action::Panic`: the thread panics before it takes the offending lock, and
//! the validator's state stays consistent.

use lockdep::{Action, Mutex};

/// Reports about the first test's classes (tests run in parallel).
fn reports_about_a() -> usize {
    lockdep::reports()
        .iter()
        .filter(|r| r.class_names().contains(&"panic_a"))
        .count()
}

#[test]
fn panics_before_taking_the_lock() {
    static A: Mutex<u32> = Mutex::named("panic_a", 0);
    static B: Mutex<u32> = Mutex::named("panic_b", 0);
    lockdep::set_action(Action::Panic);

    {
        let _a = A.lock();
        let _b = B.lock();
    }
    let result = std::panic::catch_unwind(|| {
        let _b = B.lock();
        let _a = A.lock(); // closes the cycle: panics here
        unreachable!("the acquisition must not return");
    });
    let message = result.expect_err("the bad order panics");
    let text = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        text,
        "lockdep: possible circular locking dependency detected"
    );

    // A was never taken; B's guard was dropped while unwinding.
    assert!(!A.is_locked());
    assert!(!B.is_locked());
    assert!(lockdep::held_locks().is_empty());
    assert_eq!(reports_about_a(), 1);

    // Known-good orders keep working, and the bad order is not reported twice.
    {
        let _a = A.lock();
        let _b = B.lock();
    }
    {
        let _b = B.lock();
        let _a = A.lock();
    }
    assert_eq!(reports_about_a(), 1);
}

#[test]
fn a_wait_that_panics_at_its_annotation_leaves_the_mutex_consistent() {
    use lockdep::Condvar;
    static L: Mutex<()> = Mutex::named("panic_cv_outer", ());
    static M: Mutex<bool> = Mutex::named("panic_cv_state", false);
    static CV: Condvar = Condvar::named("panic_cv");
    lockdep::set_action(Action::Panic);
    // The declared notifier takes L.
    {
        let _n = CV.notifier();
        let _l = L.lock();
    }
    // A wait under L: the annotation closes L -> cv -> L and panics.
    let result = std::panic::catch_unwind(|| {
        let _l = L.lock();
        let mut m = M.lock();
        CV.wait_for(&mut m, std::time::Duration::from_millis(1));
    });
    assert!(result.is_err(), "the wait's annotation panics");
    assert!(
        !M.is_locked(),
        "the condvar's mutex was unlocked exactly once"
    );
    assert!(!L.is_locked());
    assert!(lockdep::held_locks().is_empty());
    // Both still work.
    *M.lock() = true;
    drop(L.lock());
}
