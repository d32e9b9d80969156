//! `deadlock_detection`: parking_lot_core's detector finds a deadlock that
//! has happened among the shim's locks, as it does among parking_lot's.
#![cfg(feature = "deadlock_detection")]

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

#[test]
fn a_deadlock_that_happened_is_found() {
    // lockdep reports the order before it hangs; this test is about the
    // hang itself.
    lockdep::set_action(lockdep::Action::Silent);
    let a = Arc::new(Mutex::new(()));
    let b = Arc::new(Mutex::new(()));
    let barrier = Arc::new(Barrier::new(2));
    for (first, second) in [(a.clone(), b.clone()), (b, a)] {
        let barrier = barrier.clone();
        // Left deadlocked: the process ends with the test binary.
        std::thread::spawn(move || {
            let _one = first.lock();
            barrier.wait();
            let _two = second.lock();
        });
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = parking_lot::deadlock::check_deadlock();
        if !found.is_empty() {
            assert_eq!(found.len(), 1, "one cycle");
            assert_eq!(found[0].len(), 2, "of two threads");
            return;
        }
        assert!(Instant::now() < deadline, "no deadlock found");
        std::thread::sleep(Duration::from_millis(50));
    }
}
