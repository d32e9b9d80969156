//! Condition variables: the held stack across waits, and the opt-in rule
//! for validating the wait itself (see `lockdep::Condvar`).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{assert_no_reports, circular, on_thread, one_report, silent};
use lockdep::{Condvar, Mutex};

/// The waiter holds `outer` while it waits on `cv`; a notifier thread takes
/// `outer` before it notifies. Returns once both have run.
fn wait_under(outer: &Arc<Mutex<()>>, cv: &Arc<Condvar>, declare_notifier: bool) {
    let state = Arc::new(Mutex::named("cvt_state", false));
    let (o, c, st) = (outer.clone(), cv.clone(), state.clone());
    // The notifier's path, once, on its own (nothing waits yet).
    on_thread("cvt-notifier", move || {
        let _declared = declare_notifier.then(|| c.notifier());
        let _o = o.lock();
        *st.lock() = true;
        c.notify_all();
    });
    // The waiter's path: holds `outer`, waits (the condition is already true,
    // so the wait returns at once, but the annotation is made).
    let _o = outer.lock();
    let mut s = state.lock();
    cv.wait_for(&mut s, Duration::from_millis(1));
}

#[test]
fn wait_under_a_lock_the_declared_notifier_takes_is_reported() {
    silent();
    let outer = Arc::new(Mutex::named("cvt_decl_outer", ()));
    let cv = Arc::new(Condvar::named("cvt_decl_cv"));
    wait_under(&outer, &cv, true);
    let report = one_report(&["cvt_decl_outer", "cvt_decl_cv"]);
    let c = circular(&report);
    assert_eq!(c.acquiring.name, "cvt_decl_cv");
    assert_eq!(c.holding.name, "cvt_decl_outer");
    assert_eq!(c.chain.len(), 2);
}

#[test]
fn without_a_declared_notifier_waits_are_not_reported() {
    silent();
    let outer = Arc::new(Mutex::named("cvt_undecl_outer", ()));
    let cv = Arc::new(Condvar::named("cvt_undecl_cv"));
    wait_under(&outer, &cv, false);
    assert_no_reports(&["cvt_undecl_outer", "cvt_undecl_cv"]);
}

#[test]
fn retaking_the_mutex_after_a_wait_is_validated() {
    silent();
    let m = Mutex::named("cvt_retake_m", ());
    let l = Mutex::named("cvt_retake_l", ());
    let cv = Condvar::named("cvt_retake_cv");
    // M then L: learns M -> L.
    let mut g = m.lock();
    let _l = l.lock();
    // The wait releases M and takes it back while L is held: L -> M closes
    // the cycle (a thread holding M and wanting L would hang against it).
    cv.wait_for(&mut g, Duration::from_millis(1));
    let report = one_report(&["cvt_retake_m", "cvt_retake_l"]);
    let c = circular(&report);
    assert_eq!(c.acquiring.name, "cvt_retake_m");
    assert_eq!(c.holding.name, "cvt_retake_l");
}
