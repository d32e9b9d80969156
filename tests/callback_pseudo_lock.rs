//! A report callback that takes and releases a pseudo-lock (a `LockMap`
//! acquire/release pair, as tracing or metrics code does): the validator is
//! running on the thread, so the acquisition is not tracked, and neither is
//! its release. One cycle is one report, not a bad unlock per re-run of the
//! callback.

use std::sync::atomic::{AtomicUsize, Ordering};

use lockdep::{Action, LockMap, Mode, Mutex};

static IN_CALLBACK: LockMap = LockMap::named("cbmap_in_callback");
static CALLS: AtomicUsize = AtomicUsize::new(0);

#[test]
fn a_pseudo_lock_pair_in_the_callback_raises_nothing() {
    lockdep::set_action(Action::callback(|_| {
        CALLS.fetch_add(1, Ordering::SeqCst);
        let tracked = IN_CALLBACK.acquire(Mode::Exclusive);
        assert!(!tracked, "nothing is tracked inside the validator");
        IN_CALLBACK.release();
    }));
    let (a, b) = (Mutex::named("cbmap_a", ()), Mutex::named("cbmap_b", ()));
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    {
        let _b = b.lock();
        let _a = a.lock();
    }
    let titles: Vec<String> = lockdep::reports()
        .iter()
        .map(|r| r.title().to_string())
        .collect();
    assert_eq!(titles, ["possible circular locking dependency detected"]);
    assert_eq!(CALLS.load(Ordering::SeqCst), 1);
    assert!(lockdep::held_locks().is_empty());
    // The pseudo-lock still works outside the callback.
    assert!(IN_CALLBACK.acquire(Mode::Exclusive));
    assert_eq!(lockdep::held_locks()[0].name, "cbmap_in_callback");
    IN_CALLBACK.release();
    assert!(lockdep::held_locks().is_empty());
    assert_eq!(lockdep::reports().len(), 1);
}
