//! The validator guards itself: reports raised while another report is being
//! handled do not deadlock or get lost, and a user callback that panics
//! leaves the validator consistent. (The action is process-global, so the
//! phases run in order inside one test.)

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::time::Duration;

use lockdep::{Action, ClassKey, Mutex};

fn key(name: String) -> &'static ClassKey {
    Box::leak(Box::new(ClassKey::new(Box::leak(name.into_boxed_str()))))
}

fn abba(a: &Mutex<()>, b: &Mutex<()>) {
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    let _b = b.lock();
    let _a = a.lock();
}

#[test]
fn reports_while_reporting_and_a_panicking_callback() {
    // Phase 1: a slow callback, and eight threads raising reports at once.
    let handled = Arc::new(AtomicUsize::new(0));
    let h = handled.clone();
    lockdep::set_action(Action::callback(move |report| {
        // Slow, and printing, like a real handler: others queue behind it.
        std::thread::sleep(Duration::from_millis(20));
        eprint!("{report}");
        h.fetch_add(1, Ordering::SeqCst);
    }));
    const THREADS: usize = 8;
    let barrier = Arc::new(Barrier::new(THREADS));
    let (done_tx, done_rx) = mpsc::channel();
    for t in 0..THREADS {
        let (barrier, done_tx) = (barrier.clone(), done_tx.clone());
        std::thread::spawn(move || {
            let a = Mutex::with_key(key(format!("guard_{t}_a")), ());
            let b = Mutex::with_key(key(format!("guard_{t}_b")), ());
            barrier.wait();
            abba(&a, &b);
            done_tx.send(t).unwrap();
        });
    }
    for _ in 0..THREADS {
        done_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("a thread raising a report while others were being handled hung");
    }
    assert_eq!(handled.load(Ordering::SeqCst), THREADS);
    for t in 0..THREADS {
        let name = format!("guard_{t}_a");
        let n = lockdep::reports()
            .iter()
            .filter(|r| r.class_names().contains(&name.as_str()))
            .count();
        assert_eq!(n, 1, "the report about {name} is in the log once");
    }

    // Phase 2: a callback that panics. The panic reaches the acquiring
    // thread, before it takes the lock; the validator stays consistent.
    let armed = Arc::new(AtomicBool::new(true));
    let a2 = armed.clone();
    lockdep::set_action(Action::callback(move |_| {
        if a2.swap(false, Ordering::SeqCst) {
            panic!("a user callback that panics");
        }
    }));
    let c = Mutex::named("guard_panic_c", 0u32);
    let d = Mutex::named("guard_panic_d", 0u32);
    {
        let _c = c.lock();
        let _d = d.lock();
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _d = d.lock();
        let _c = c.lock();
    }));
    assert!(result.is_err(), "the callback's panic reaches the caller");
    assert!(!c.is_locked() && !d.is_locked());
    assert!(lockdep::held_locks().is_empty());
    // Everything still works, on this thread and others.
    {
        let _c = c.lock();
        let _d = d.lock();
        assert_eq!(lockdep::held_locks().len(), 2);
    }
    let e = Mutex::named("guard_panic_e", ());
    let f = Mutex::named("guard_panic_f", ());
    std::thread::scope(|s| {
        s.spawn(|| abba(&e, &f));
    });
    assert_eq!(lockdep::stats().internal_errors, 0);
    assert!(lockdep::reports()
        .iter()
        .any(|r| r.class_names().contains(&"guard_panic_e")));
}
