//! `lockdep::reset`: the validator forgets what it learned, safely, also
//! while other threads hold locks or validate. (A binary of its own: a
//! reset is process-wide. Its tests take turns.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use lockdep::{Action, Mutex};

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    lockdep::set_action(Action::Silent);
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn nest(first: &Mutex<u32>, second: &Mutex<u32>) {
    let _f = first.lock();
    *second.lock() += 1;
}

fn cycles_about(class: &str) -> usize {
    lockdep::reports()
        .iter()
        .filter(|r| r.title() == "possible circular locking dependency detected")
        .filter(|r| r.class_names().contains(&class))
        .count()
}

#[test]
fn a_reset_forgets_dependencies_chains_and_reports() {
    static A: Mutex<u32> = Mutex::named("reset_a", 0);
    static B: Mutex<u32> = Mutex::named("reset_b", 0);
    let _serial = serial();
    // Known on this thread: A -> B, twice (the second on the fast path).
    nest(&A, &B);
    nest(&A, &B);
    nest(&B, &A);
    assert_eq!(cycles_about("reset_a"), 1);
    lockdep::reset();
    let stats = lockdep::stats();
    assert_eq!((stats.dependencies, stats.chains, stats.reports), (0, 0, 0));
    assert!(lockdep::reports().is_empty());
    // B -> A alone is no cycle any more.
    nest(&B, &A);
    assert!(lockdep::reports().is_empty());
    // A -> B was a known chain of this thread: it is validated again, and
    // closes the cycle again (reported again: the reported set is gone too).
    nest(&A, &B);
    assert_eq!(cycles_about("reset_a"), 1);
    assert_eq!(lockdep::stats().dependencies, 2);
}

#[test]
fn locks_held_across_a_reset_are_released_as_usual() {
    static H: Mutex<u32> = Mutex::named("reset_held", 0);
    static I: Mutex<u32> = Mutex::named("reset_inner", 0);
    let _serial = serial();
    let (reset_done, wait_reset) = mpsc::channel::<()>();
    let (holding, wait_holding) = mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        let h = H.lock();
        holding.send(()).unwrap();
        wait_reset.recv().unwrap();
        // Taken under H after the reset: H -> I is learned now.
        *I.lock() += 1;
        drop(h);
        assert!(lockdep::held_locks().is_empty());
    });
    wait_holding.recv().unwrap();
    lockdep::reset();
    reset_done.send(()).unwrap();
    t.join().expect("the holder's releases are fine");
    // No "bad unlock balance" or any other report from the held lock.
    assert!(lockdep::reports().is_empty(), "{:?}", lockdep::reports());
    // The dependency formed under the held lock was learned.
    nest(&I, &H);
    assert_eq!(cycles_about("reset_held"), 1);
}

#[test]
fn resets_while_other_threads_validate_are_safe() {
    static LOCKS: [Mutex<u32>; 6] = [
        Mutex::named("reset_busy0", 0),
        Mutex::named("reset_busy1", 0),
        Mutex::named("reset_busy2", 0),
        Mutex::named("reset_busy3", 0),
        Mutex::named("reset_busy4", 0),
        Mutex::named("reset_busy5", 0),
    ];
    static STOP: AtomicBool = AtomicBool::new(false);
    let _serial = serial();
    let before = lockdep::stats().internal_errors;
    let workers: Vec<_> = (0..3)
        .map(|w| {
            std::thread::spawn(move || {
                let mut n: u32 = w;
                while !STOP.load(Ordering::Relaxed) {
                    // Increasing index order only: never a cycle.
                    let mut guards = Vec::new();
                    for (i, m) in LOCKS.iter().enumerate() {
                        if (n >> i) & 1 == 1 {
                            guards.push(m.lock());
                        }
                    }
                    drop(guards); // first to last: out of order
                    n = n.wrapping_mul(31).wrapping_add(7) % 64;
                }
            })
        })
        .collect();
    for _ in 0..50 {
        lockdep::reset();
        std::thread::yield_now();
    }
    STOP.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("a worker failed");
    }
    assert!(lockdep::reports().is_empty(), "{:?}", lockdep::reports());
    assert_eq!(lockdep::stats().internal_errors, before);
    assert!(LOCKS.iter().all(|m| !m.is_locked()));
}
