//! With `send_guard`, guards are `Send` (as `parking_lot`'s are then), and
//! a guard released on another thread than the one that took it leaves
//! the validator consistent: the raw lock is free, the releasing thread
//! records and reports nothing, and the thread that took the lock drops
//! its entry before it validates anything again.

mod common;

use std::sync::mpsc;
use std::thread;

use common::*;
use lockdep::parking_lot::{Mutex, MutexGuard, RawMutex, RawRwLock, RwLock};

fn send<T: Send>(value: T) -> T {
    value
}

#[test]
fn a_mutex_guard_released_on_another_thread() {
    silent();
    let m = Mutex::from_raw(RawMutex::named("sg_m"), 0u32);
    let other = Mutex::from_raw(RawMutex::named("sg_other"), 0u32);
    let reports = reports_on_thread("sg_owner", || {
        let guard: MutexGuard<'_, u32> = send(m.lock());
        assert_eq!(held_names(), ["sg_m"]);
        thread::scope(|s| {
            s.spawn(move || {
                let mut guard = guard;
                *guard += 1;
                // This thread holds no entry of it: nothing to release.
                assert!(held_names().is_empty());
                drop(guard);
                assert!(held_names().is_empty());
            });
        });
        assert!(!m.is_locked(), "the raw lock was released");
        // Taking another lock now is validated against the stack without
        // `sg_m` (no dependency from a lock not held), and taking `sg_m`
        // again is no recursion.
        let o = other.lock();
        assert_eq!(held_names(), ["sg_other"]);
        drop(o);
        let again = m.lock();
        let again2 = m.try_lock();
        assert!(again2.is_none());
        assert_eq!(held_names(), ["sg_m"]);
        drop(again);
    });
    // Nothing false: no bad unlock on the releasing thread, no recursion,
    // no lock held at the owner's exit.
    assert!(reports.is_empty(), "{reports:?}");
    assert_no_reports(&["sg_m", "sg_other"]);
    // And no dependency sg_m -> sg_other was learned from the entry left
    // behind: the other order closes no cycle.
    let reports = reports_on_thread("sg_reverse", || {
        let _o = other.lock();
        let _m = m.lock();
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn a_write_guard_sent_through_a_channel_and_released_there() {
    silent();
    let lock = std::sync::Arc::new(RwLock::from_raw(RawRwLock::named("sg_rw"), 0u32));
    let (tx, rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel();
    let worker = {
        let lock = std::sync::Arc::clone(&lock);
        thread::spawn(move || {
            let guard = lock.write_arc();
            tx.send(guard).unwrap();
            // The owner's stack keeps the entry until its next session or
            // its end, which drop it: nothing is reported.
            done_rx.recv().unwrap();
        })
    };
    let mut guard = rx.recv().unwrap();
    *guard += 1;
    drop(guard);
    done_tx.send(()).unwrap();
    worker.join().unwrap();
    assert!(!lock.is_locked());
    assert_eq!(*lock.read(), 1);
    assert_no_reports(&["sg_rw"]);
}
