//! Locks a report callback releases or frees: the validator is running on
//! the thread at that moment, so these operations are queued and applied
//! when it is done. None is lost.

use std::cell::RefCell;

use lockdep::report::Problem;
use lockdep::{Action, Mutex, MutexGuard};

static HELD: Mutex<()> = Mutex::named("cbrel_held", ());
static A: Mutex<()> = Mutex::named("cbrel_a", ());
static B: Mutex<()> = Mutex::named("cbrel_b", ());

thread_local! {
    /// A guard taken before the report, dropped by the callback.
    static STASH: RefCell<Option<MutexGuard<'static, ()>>> = const { RefCell::new(None) };
    /// A lock the thread holds (its guard leaked), freed by the callback.
    static DOOMED: RefCell<Option<Box<Mutex<()>>>> = const { RefCell::new(None) };
}

fn held() -> Vec<String> {
    lockdep::held_locks().into_iter().map(|l| l.name).collect()
}

fn titles() -> Vec<String> {
    lockdep::reports()
        .iter()
        .map(|r| r.title().to_string())
        .collect()
}

#[test]
fn releases_and_frees_inside_the_callback_are_applied() {
    lockdep::set_action(Action::callback(|_| {
        STASH.with(|s| drop(s.borrow_mut().take()));
        DOOMED.with(|d| drop(d.borrow_mut().take()));
    }));

    // Known chains, so that what is held before the report went through
    // the fast path.
    for _ in 0..2 {
        drop(HELD.lock());
    }
    STASH.with(|s| *s.borrow_mut() = Some(HELD.lock()));
    let doomed = Box::new(Mutex::named("cbrel_doomed", ()));
    std::mem::forget(doomed.lock());
    DOOMED.with(|d| *d.borrow_mut() = Some(doomed));
    assert_eq!(held(), ["cbrel_held", "cbrel_doomed"]);

    {
        let _a = A.lock();
        let _b = B.lock();
    }
    {
        // Closes A -> B -> A: the report's callback drops HELD's guard and
        // frees the doomed lock, while the validator runs on this thread.
        let _b = B.lock();
        let _a = A.lock();
        assert!(STASH.with(|s| s.borrow().is_none()), "the callback ran");
        assert_eq!(held(), ["cbrel_b", "cbrel_a"], "both applied");
    }
    assert!(held().is_empty());

    // HELD is free, and known to be: taking it again is no recursion.
    drop(HELD.lock());
    let titles = titles();
    assert_eq!(
        titles,
        [
            "possible circular locking dependency detected",
            "held lock freed!"
        ],
        "the cycle, then the freed lock (applied after the cycle's session)"
    );
    let freed = lockdep::reports()
        .into_iter()
        .find(|r| matches!(r.problem, Problem::HeldLockFreed { .. }))
        .expect("a freed-lock report");
    assert!(freed.class_names().contains(&"cbrel_doomed"), "{freed:#?}");
}
