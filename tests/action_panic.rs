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
    // The title, then the whole report: what a test harness shows.
    assert_eq!(
        text.lines().next(),
        Some("lockdep: possible circular locking dependency detected")
    );
    assert!(text.contains("WARNING: possible circular locking dependency detected"));
    assert!(text.contains("*** DEADLOCK ***"), "{text}");

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

/// The message of a panic caught by `catch_unwind`.
fn message(result: std::thread::Result<()>) -> String {
    let payload = result.expect_err("expected a panic");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_retake_that_panics_leaves_the_guard_consistent() {
    use lockdep::{MutexGuard, RwLock};
    use std::panic::{catch_unwind, AssertUnwindSafe};
    static A: Mutex<u32> = Mutex::named("panic_retake_a", 0);
    static B: Mutex<u32> = Mutex::named("panic_retake_b", 0);
    static C: Mutex<u32> = Mutex::named("panic_bump_c", 0);
    static D: Mutex<u32> = Mutex::named("panic_bump_d", 0);
    static U: RwLock<u32> = RwLock::named("panic_upgrade_u", 0);
    static E: Mutex<u32> = Mutex::named("panic_upgrade_e", 0);
    lockdep::set_action(Action::Panic);
    // Learn A -> B, C -> D, U (shared) -> E.
    for (first, second) in [(&A, &B), (&C, &D)] {
        let _f = first.lock();
        let _s = second.lock();
    }
    {
        let _u = U.read();
        let _e = E.lock();
    }
    let cycle = "lockdep: possible circular locking dependency detected";
    // `unlocked`: taking A back under B closes the cycle and panics after
    // the closure; the guard owns A again, and unlocks it exactly once.
    let result = catch_unwind(|| {
        let mut a = A.lock();
        let _b = B.lock();
        MutexGuard::unlocked(&mut a, || ());
        unreachable!("the re-take panics");
    });
    assert_eq!(message(result), cycle);
    // `bump`: the panic comes before the raw bump, with the guard's record
    // already released.
    let result = catch_unwind(|| {
        let mut c = C.lock();
        let _d = D.lock();
        MutexGuard::bump(&mut c);
        unreachable!("the re-take panics");
    });
    assert_eq!(message(result), cycle);
    // `with_upgraded`: the panic comes before the raw upgrade.
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut u = U.upgradable_read();
        let _e = E.lock();
        u.with_upgraded(|v| *v += 1);
        unreachable!("the upgrade panics");
    }));
    assert_eq!(message(result), cycle);
    for m in [&A, &B, &C, &D, &E] {
        assert!(!m.is_locked());
    }
    assert!(!U.is_locked());
    assert!(lockdep::held_locks().is_empty());
    // All still work.
    *A.lock() += 1;
    *U.write() += 1;
    assert_eq!(*U.read(), 1);
}

/// A re-entrant mutex's raw lock is called from inside `lock_api`'s
/// `RawReentrantMutex`: a panic at its validation leaves it free (it has
/// no guard to own it yet) and consistent.
#[test]
fn a_re_entrant_lock_that_panics_leaves_the_mutex_free() {
    use lockdep::ReentrantMutex;
    use std::panic::catch_unwind;
    static R: ReentrantMutex<()> = ReentrantMutex::named("panic_re_r", ());
    static F: Mutex<u32> = Mutex::named("panic_re_f", 0);
    lockdep::set_action(Action::Panic);
    {
        let _r = R.lock();
        let _f = F.lock();
    }
    let result = catch_unwind(|| {
        let _f = F.lock();
        let _r = R.lock(); // closes panic_re_r -> panic_re_f -> panic_re_r
        unreachable!("the lock panics");
    });
    assert_eq!(
        message(result),
        "lockdep: possible circular locking dependency detected"
    );
    assert!(!R.is_locked());
    assert!(lockdep::held_locks().is_empty());
    let outer = R.lock();
    let inner = R.lock();
    assert!(R.is_owned_by_current_thread());
    drop((inner, outer));
    assert!(!R.is_locked());
}
