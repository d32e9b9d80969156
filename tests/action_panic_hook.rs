//! `Action::Panic` panics through a panic hook that itself takes a
//! validated lock: the panic is raised once the validator is done with the
//! thread, so the hook's lock is validated like any other, nothing
//! deadlocks, and afterwards the thread's held stack is right and its known
//! chains take the fast path again.

use lockdep::{Action, Mutex};

static A: Mutex<()> = Mutex::named("ph_a", ());
static B: Mutex<()> = Mutex::named("ph_b", ());
static OUTER: Mutex<()> = Mutex::named("ph_outer", ());
static HOOK: Mutex<u32> = Mutex::named("ph_hook", 0);

fn held() -> Vec<String> {
    lockdep::held_locks().into_iter().map(|l| l.name).collect()
}

#[test]
fn a_panic_out_of_the_validator_leaves_the_thread_state_right() {
    lockdep::set_action(Action::Panic);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        *HOOK.lock() += 1;
        previous(info);
    }));
    for _ in 0..2 {
        let _o = OUTER.lock();
        let _a = A.lock();
        let _b = B.lock();
    }
    let outer = OUTER.lock();
    drop(A.lock());
    let unwound = std::panic::catch_unwind(|| {
        let _b = B.lock();
        let _a = A.lock(); // OUTER, B, A: closes B -> A -> B
    });
    assert!(unwound.is_err(), "Action::Panic panicked");
    assert_eq!(*HOOK.lock(), 1, "the hook ran once, and its lock was free");
    assert_eq!(
        held(),
        ["ph_outer"],
        "B was released by unwinding, A never taken"
    );
    {
        let _a = A.lock();
        let _b = B.lock();
        assert_eq!(held(), ["ph_outer", "ph_a", "ph_b"]);
    }
    drop(outer);
    assert!(held().is_empty());
    let reports = lockdep::reports();
    assert_eq!(
        reports.len(),
        1,
        "only the cycle; the hook's lock closes nothing"
    );
    assert_eq!(
        reports[0].title(),
        "possible circular locking dependency detected"
    );
}
