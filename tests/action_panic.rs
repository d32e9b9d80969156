//! `Action::Panic`: the thread panics before it takes the offending lock, and
//! the validator's state stays consistent.

use lockdep::{Action, Mutex};

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
    assert_eq!(lockdep::reports().len(), 1);

    // Known-good orders keep working, and the bad order is not reported twice.
    {
        let _a = A.lock();
        let _b = B.lock();
    }
    {
        let _b = B.lock();
        let _a = A.lock();
    }
    assert_eq!(lockdep::reports().len(), 1);
}
