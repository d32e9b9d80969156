//! A report callback that panics gets `Action::Panic`'s treatment: at a
//! blocking acquisition its panic goes through, before the lock is taken;
//! where no panic may be raised (a release, a destructor) it is contained,
//! and raised at the thread's next blocking acquisition. Every report is
//! delivered to it, also after one of them panicked.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use common::{close_two_cycles, held_names, panic_text};
use lockdep::{Action, Mutex};

static CALLS: AtomicUsize = AtomicUsize::new(0);

/// Every test of this binary uses this one action.
fn panicking_callback() {
    lockdep::set_action(Action::callback(|report| {
        CALLS.fetch_add(1, Ordering::SeqCst);
        panic!("callback: {}", report.title());
    }));
}

fn reports_about(class: &str) -> usize {
    lockdep::reports()
        .iter()
        .filter(|r| r.class_names().contains(&class))
        .count()
}

#[test]
fn at_a_release_the_panic_is_contained_and_raised_at_the_next_acquisition() {
    static PINNED: Mutex<u32> = Mutex::named("pc_pinned", 0);
    static NEXT: Mutex<u32> = Mutex::named("pc_next", 0);
    panicking_callback();
    std::thread::spawn(|| {
        let guard = PINNED.lock();
        std::mem::forget(PINNED.pin());
        let dropped = catch_unwind(AssertUnwindSafe(|| drop(guard)));
        assert!(
            dropped.is_ok(),
            "the callback's panic does not leave the destructor"
        );
        assert!(!PINNED.is_locked(), "the raw lock was unlocked");
        assert!(held_names().is_empty(), "and the held stack is right");
        assert_eq!(reports_about("pc_pinned"), 1);
        let text = panic_text(catch_unwind(|| {
            let _n = NEXT.lock();
        }));
        assert_eq!(text, "callback: releasing a pinned lock!");
        assert!(!NEXT.is_locked());
        assert!(held_names().is_empty());
        *NEXT.lock() += 1;
    })
    .join()
    .expect("the thread ends normally");
}

#[test]
fn at_an_acquisition_every_report_reaches_the_callback_then_it_panics() {
    static X: Mutex<u32> = Mutex::named("pc_two_x", 0);
    static Y: Mutex<u32> = Mutex::named("pc_two_y", 0);
    static Z: Mutex<u32> = Mutex::named("pc_two_z", 0);
    panicking_callback();
    std::thread::spawn(|| {
        let before = CALLS.load(Ordering::SeqCst);
        let text = close_two_cycles(&X, &Y, &Z);
        assert_eq!(
            text,
            "callback: possible circular locking dependency detected"
        );
        assert!(
            CALLS.load(Ordering::SeqCst) >= before + 2,
            "called for both"
        );
        assert_eq!(reports_about("pc_two_z"), 2, "both logged");
        assert!(held_names().is_empty());
        assert!(!X.is_locked() && !Y.is_locked() && !Z.is_locked());
    })
    .join()
    .expect("the thread ends normally");
}

/// A pool whose workers catch each job's panic: a job whose lock order is
/// reported fails alone, the worker goes on with the next job, and nothing
/// is left locked.
#[test]
fn a_thread_pool_that_catches_panics_goes_on() {
    static A: Mutex<u32> = Mutex::named("pc_pool_a", 0);
    static B: Mutex<u32> = Mutex::named("pc_pool_b", 0);
    panicking_callback();
    type Job = Box<dyn FnOnce() -> u32 + Send>;
    let (jobs, queue) = mpsc::channel::<Job>();
    let (results, outcomes) = mpsc::channel::<Result<u32, String>>();
    let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let queue = queue.clone();
            let results = results.clone();
            std::thread::spawn(move || loop {
                let job = queue.lock().unwrap().recv();
                let Ok(job) = job else { return };
                let outcome =
                    catch_unwind(AssertUnwindSafe(job)).map_err(|p| panic_text(Err::<(), _>(p)));
                results.send(outcome).unwrap();
            })
        })
        .collect();
    let run = |job: Job| {
        jobs.send(job).unwrap();
        outcomes.recv().unwrap()
    };
    assert_eq!(
        run(Box::new(|| {
            let _a = A.lock();
            *B.lock() += 1;
            1
        })),
        Ok(1)
    );
    assert_eq!(
        run(Box::new(|| {
            let _b = B.lock();
            *A.lock() += 1; // B -> A closes the cycle
            2
        })),
        Err("callback: possible circular locking dependency detected".to_string())
    );
    for i in 3..7 {
        assert_eq!(
            run(Box::new(move || {
                *B.lock() += 1;
                i
            })),
            Ok(i),
            "the pool goes on"
        );
    }
    drop(jobs);
    for w in workers {
        w.join().expect("no worker died");
    }
    assert!(!A.is_locked() && !B.is_locked());
    assert_eq!(*A.lock(), 0, "A was never taken under B");
}

/// `std::thread::scope`: a scoped thread that takes a reported order panics
/// before taking the lock; the scope hands the panic on; the other scoped
/// threads finish, and nothing is left locked.
#[test]
fn std_scope_hands_the_panic_on_and_leaves_nothing_locked() {
    static A: Mutex<u32> = Mutex::named("pc_scope_a", 0);
    static B: Mutex<u32> = Mutex::named("pc_scope_b", 0);
    static OTHER: Mutex<u32> = Mutex::named("pc_scope_other", 0);
    panicking_callback();
    {
        let _a = A.lock();
        let _b = B.lock();
    }
    let scoped = catch_unwind(|| {
        std::thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..100 {
                    *OTHER.lock() += 1;
                }
            });
            s.spawn(|| {
                let _b = B.lock();
                let _a = A.lock();
            });
        })
    });
    assert!(scoped.is_err(), "the scope re-raised the thread's panic");
    assert_eq!(*OTHER.lock(), 100);
    assert!(!A.is_locked() && !B.is_locked());
}
