//! A thread's lockdep state is destroyed with the thread's other
//! thread-locals, in an order the program does not control. Guards released,
//! and locks taken, by thread-local destructors that run after it must
//! neither crash nor confuse the validator. On Linux with glibc the exit
//! check waits for every thread-local destructor: a guard kept in a
//! thread-local and released by its destructor is not reported; one that is
//! never released is.

use std::cell::RefCell;

use lockdep::report::Problem;
use lockdep::{Action, Mutex, MutexGuard};

static P: Mutex<()> = Mutex::named("te_p", ());
static Q: Mutex<()> = Mutex::named("te_q", ());
static R: Mutex<()> = Mutex::named("te_r", ());
static S: Mutex<()> = Mutex::named("te_s", ());

/// Keeps a guard and leaks it when destroyed.
struct Leaky(RefCell<Option<MutexGuard<'static, ()>>>);

impl Drop for Leaky {
    fn drop(&mut self) {
        std::mem::forget(self.0.borrow_mut().take());
    }
}

/// Registered before the validator's state, so destroyed after it.
struct Late(RefCell<Vec<MutexGuard<'static, ()>>>);

impl Drop for Late {
    fn drop(&mut self) {
        {
            let _r = R.lock();
            let _q = Q.try_lock();
        }
        self.0.borrow_mut().clear();
        drop(R.lock());
    }
}

thread_local! {
    static LATE: Late = const { Late(RefCell::new(Vec::new())) };
    static LEAKY: Leaky = const { Leaky(RefCell::new(None)) };
}

#[test]
fn guards_released_by_later_thread_local_destructors() {
    lockdep::set_action(Action::Silent);
    std::thread::Builder::new()
        .name("te_thread".into())
        .spawn(|| {
            LATE.with(|_| {});
            for _ in 0..3 {
                let _p = P.lock();
                let _q = Q.lock();
            }
            let p = P.lock();
            let q = Q.lock(); // a known chain: the fast path
            LATE.with(|l| l.0.borrow_mut().extend([p, q]));
        })
        .unwrap()
        .join()
        .expect("the thread exits cleanly");
    let reports = lockdep::reports();
    if cfg!(all(target_os = "linux", target_env = "gnu")) {
        // LATE's destructor released P and Q after the validator's state
        // was destroyed: the exit check ran after it, and found nothing.
        assert!(reports.is_empty(), "{reports:#?}");
    } else {
        // Elsewhere the check runs when the state is destroyed, and saw P
        // and Q still held: that is what it reports, once.
        assert_eq!(reports.len(), 1, "{reports:#?}");
        assert!(matches!(reports[0].problem, Problem::HeldAtThreadExit));
        let held: Vec<&str> = reports[0].held.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(held, ["te_p", "te_q"], "including the fast path's entry");
    }
    // The locks themselves were really released.
    assert!(P.try_lock().is_some() && Q.try_lock().is_some());

    // A guard kept in a thread-local whose destructor leaks it is reported,
    // for its thread, once.
    std::thread::Builder::new()
        .name("te_leaker".into())
        .spawn(|| {
            LEAKY.with(|_| {});
            let s = S.lock();
            LEAKY.with(|l| *l.0.borrow_mut() = Some(s));
        })
        .unwrap()
        .join()
        .expect("the thread exits cleanly");
    let leaks: Vec<_> = lockdep::reports()
        .into_iter()
        .filter(|r| r.class_names().contains(&"te_s"))
        .collect();
    assert_eq!(leaks.len(), 1, "{leaks:#?}");
    assert!(matches!(leaks[0].problem, Problem::HeldAtThreadExit));
    assert_eq!(leaks[0].thread.name, "te_leaker");
    let held: Vec<&str> = leaks[0].held.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(held, ["te_s"]);
}
