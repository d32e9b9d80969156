//! `Action::Callback`: the callback sees each report once, and locks it takes
//! are not validated (the validator does not recurse into itself).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use lockdep::report::Problem;
use lockdep::{Action, Mutex};

#[test]
fn callback_gets_reports_and_its_locks_are_not_validated() {
    static X: Mutex<()> = Mutex::named("cb_x", ());
    static Y: Mutex<()> = Mutex::named("cb_y", ());
    static A: Mutex<()> = Mutex::named("cb_a", ());
    static B: Mutex<()> = Mutex::named("cb_b", ());

    let seen = Arc::new(AtomicUsize::new(0));
    let names = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let (s, n) = (seen.clone(), names.clone());
    lockdep::set_action(Action::callback(move |report| {
        s.fetch_add(1, Ordering::SeqCst);
        n.lock().push(report.title().to_string());
        // Inside the callback, take X and Y in both orders: no report may
        // come of it, and nothing may deadlock.
        {
            let _x = X.lock();
            let _y = Y.lock();
        }
        {
            let _y = Y.lock();
            let _x = X.lock();
        }
    }));

    {
        let _a = A.lock();
        let _b = B.lock();
    }
    {
        let _b = B.lock();
        let _a = A.lock();
    }
    assert_eq!(seen.load(Ordering::SeqCst), 1, "one report, delivered once");
    assert_eq!(
        names.lock().as_slice(),
        ["possible circular locking dependency detected"]
    );
    let reports = lockdep::reports();
    assert_eq!(
        reports.len(),
        1,
        "the callback's own lock order was not validated"
    );
    match &reports[0].problem {
        Problem::CircularDependency {
            acquiring, holding, ..
        } => {
            assert_eq!(acquiring.name, "cb_a");
            assert_eq!(holding.name, "cb_b");
        }
        other => panic!("unexpected problem {other:?}"),
    }
    // The locks taken inside the callback were untracked, and released
    // cleanly: nothing is left on this thread's stack.
    assert!(lockdep::held_locks().is_empty());
}
