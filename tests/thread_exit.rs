//! A thread's lockdep state is destroyed with the thread's other
//! thread-locals, in an order the program does not control. Guards released,
//! and locks taken, by thread-local destructors that run after it must
//! neither crash nor confuse the validator.

use std::cell::RefCell;

use lockdep::report::Problem;
use lockdep::{Action, Mutex, MutexGuard};

static P: Mutex<()> = Mutex::named("te_p", ());
static Q: Mutex<()> = Mutex::named("te_q", ());
static R: Mutex<()> = Mutex::named("te_r", ());

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
    // The state saw P and Q still held when it was destroyed: that is what
    // it reports, once, for the bottom of the stack.
    let reports = lockdep::reports();
    assert_eq!(reports.len(), 1, "{reports:#?}");
    assert!(matches!(reports[0].problem, Problem::HeldAtThreadExit));
    assert_eq!(reports[0].thread.name, "te_thread");
    let held: Vec<&str> = reports[0].held.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(held, ["te_p", "te_q"], "including the fast path's entry");
    // The locks themselves were really released.
    assert!(P.try_lock().is_some() && Q.try_lock().is_some());
}
