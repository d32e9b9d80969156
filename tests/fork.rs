//! A forked child process starts with the parent's graph and validates on
//! its own. (See the crate docs' limitations: if another thread is inside
//! the validator at the moment of the fork, the child may block the first
//! time it validates a new chain, as with any lock a library holds.)
#![cfg(unix)]

use lockdep::{Action, Mutex};

static A: Mutex<u32> = Mutex::named("fork_a", 0);
static B: Mutex<u32> = Mutex::named("fork_b", 0);

fn reports_about(name: &str) -> usize {
    lockdep::reports()
        .iter()
        .filter(|r| r.class_names().contains(&name))
        .count()
}

/// The child's checks; its exit status says how they went.
fn child() -> i32 {
    let outcome = std::panic::catch_unwind(|| {
        // The order learned before the fork is known here...
        {
            let _b = B.lock();
            let _a = A.lock();
        }
        assert_eq!(
            reports_about("fork_a"),
            1,
            "the inherited graph finds B -> A"
        );
        // ...and new orders are learned and checked.
        let (c, d) = (Mutex::named("fork_c", ()), Mutex::named("fork_d", ()));
        {
            let _c = c.lock();
            let _d = d.lock();
        }
        let _d = d.lock();
        let _c = c.lock();
        assert_eq!(reports_about("fork_c"), 1);
        assert_eq!(lockdep::stats().internal_errors, 0);
    });
    i32::from(outcome.is_err())
}

#[test]
fn a_forked_child_validates_on_its_own() {
    lockdep::set_action(Action::Silent);
    {
        let _a = A.lock();
        let _b = B.lock();
    }
    // SAFETY: the child only runs this crate's code and then `_exit`s; no
    // other thread of this test binary is inside the validator (this is
    // the only test in the binary).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let status = child();
        // SAFETY: ends the child without running the parent's test harness.
        unsafe { libc::_exit(status) };
    }
    let mut status = 0;
    // SAFETY: waits for the child just forked.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid);
    assert!(libc::WIFEXITED(status), "the child did not exit normally");
    assert_eq!(libc::WEXITSTATUS(status), 0, "the child's checks failed");
    // The parent's own state is untouched by the child's reports.
    assert_eq!(reports_about("fork_a"), 0);
}
