//! A lock first taken inside `lock_api` (a re-entrant mutex built by
//! `lock_api`'s `new`) has a class of its own, and dropping the lock
//! unregisters it: its dependencies go, as a dropped `DynamicKey`'s do.
//! One test in this binary, since it counts the validator's dependencies.

use lockdep::parking_lot::{Mutex, RawMutex, ReentrantMutex};

#[test]
fn dropping_a_lock_with_a_class_of_its_own_drops_its_dependencies() {
    lockdep::set_action(lockdep::Action::Silent);
    let m = Mutex::from_raw(RawMutex::named("own_m"), ());
    drop(m.lock()); // its class registered
    let before = lockdep::stats().dependencies;
    let classes = lockdep::stats().classes;
    let re = ReentrantMutex::new(());
    {
        let _r = re.lock();
        let _m = m.lock(); // (lock instance) -> own_m
    }
    assert_eq!(lockdep::stats().classes, classes + 1);
    assert_eq!(lockdep::stats().dependencies, before + 1);
    drop(re);
    assert_eq!(lockdep::stats().dependencies, before);
    // Another such lock is another class: no cycle with the old one.
    let other = ReentrantMutex::new(());
    {
        let _m = m.lock();
        let _o = other.lock();
    }
    assert!(lockdep::reports().is_empty(), "{:?}", lockdep::reports());
}
