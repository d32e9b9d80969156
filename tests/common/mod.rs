//! Helpers shared by the integration tests.
//!
//! Every test in a binary shares the validator's global graph and report log,
//! so a test only ever looks at reports that involve its own classes.

#![allow(dead_code)]

use std::sync::Arc;

use lockdep::report::{ChainLink, LockInfo, Problem};
use lockdep::{Action, Report};

/// Makes reports silent (they are still logged). Every test calls this first.
pub fn silent() {
    lockdep::set_action(Action::Silent);
}

/// Does the printed class name `name` belong to the class named `base`
/// (itself, a subclass `base/N`, or another class of that name `base#N`)?
pub fn is_class(name: &str, base: &str) -> bool {
    name == base
        || name
            .strip_prefix(base)
            .is_some_and(|rest| rest.starts_with('/') || rest.starts_with('#'))
}

/// Every class name a report is about: the problem's classes, the acquiring
/// and holding locks, and the locks the reporting thread held.
pub fn involved(report: &Report) -> Vec<String> {
    let mut names: Vec<String> = report.class_names().iter().map(|s| s.to_string()).collect();
    match &report.problem {
        Problem::CircularDependency {
            acquiring,
            holding,
            chain,
        }
        | Problem::TaskAwaitedUnderLock {
            acquiring,
            holding,
            chain,
        } => {
            names.push(acquiring.name.clone());
            names.push(holding.name.clone());
            names.extend(chain.iter().map(|l| l.lock.name.clone()));
        }
        Problem::RecursiveLocking {
            acquiring, holding, ..
        } => {
            names.push(acquiring.name.clone());
            names.push(holding.name.clone());
        }
        Problem::BadUnlockBalance { releasing } => names.push(releasing.name.clone()),
        _ => {}
    }
    names.extend(report.held.iter().map(|l| l.name.clone()));
    names
}

/// Reports that involve any of the classes named in `bases`.
pub fn reports_about(bases: &[&str]) -> Vec<Arc<Report>> {
    lockdep::reports()
        .into_iter()
        .filter(|r| {
            involved(r)
                .iter()
                .any(|n| bases.iter().any(|b| is_class(n, b)))
        })
        .collect()
}

/// Asserts that no report involves any of the classes named in `bases`.
#[track_caller]
pub fn assert_no_reports(bases: &[&str]) {
    let found = reports_about(bases);
    assert!(
        found.is_empty(),
        "expected no report about {bases:?}, found {}:\n{}",
        found.len(),
        found.iter().map(|r| r.to_string()).collect::<String>()
    );
}

/// The single report about `bases`.
#[track_caller]
pub fn one_report(bases: &[&str]) -> Arc<Report> {
    let mut found = reports_about(bases);
    assert_eq!(
        found.len(),
        1,
        "expected exactly one report about {bases:?}, found:\n{}",
        found.iter().map(|r| r.to_string()).collect::<String>()
    );
    found.pop().unwrap()
}

/// The parts of a circular-dependency report.
pub struct Circular<'a> {
    pub acquiring: &'a LockInfo,
    pub holding: &'a LockInfo,
    pub chain: &'a [ChainLink],
}

impl Circular<'_> {
    /// Class names of the chain, in print order (#N first, #0 last).
    pub fn chain_names(&self) -> Vec<&str> {
        self.chain.iter().map(|l| l.lock.name.as_str()).collect()
    }
}

/// The report's problem as a circular dependency, or a panic that shows it.
#[track_caller]
pub fn circular(report: &Report) -> Circular<'_> {
    match &report.problem {
        Problem::CircularDependency {
            acquiring,
            holding,
            chain,
        } => Circular {
            acquiring,
            holding,
            chain,
        },
        _ => panic!("expected a circular dependency, got:\n{report}"),
    }
}

/// The report's problem as recursive locking: `(acquiring, holding)`.
#[track_caller]
pub fn recursive(report: &Report) -> (&LockInfo, &LockInfo) {
    match &report.problem {
        Problem::RecursiveLocking {
            acquiring, holding, ..
        } => (acquiring, holding),
        _ => panic!("expected recursive locking, got:\n{report}"),
    }
}

/// Names of the locks the calling thread holds, outermost first.
pub fn held_names() -> Vec<String> {
    lockdep::held_locks().into_iter().map(|l| l.name).collect()
}

/// Runs `f` to completion on a new thread called `name`, so that paths run
/// one after another and nothing can really deadlock.
pub fn on_thread<F: FnOnce() + Send>(name: &str, f: F) {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn_scoped(s, f)
            .expect("spawn")
            .join()
            .expect("thread panicked");
    });
}

/// Runs `f` on a new thread called `name` (see [`on_thread`]), then returns
/// every report raised on threads whose name starts with `name`.
pub fn reports_on_thread<F: FnOnce() + Send>(name: &str, f: F) -> Vec<Arc<Report>> {
    on_thread(name, f);
    lockdep::reports()
        .into_iter()
        .filter(|r| r.thread.name.starts_with(name))
        .collect()
}

/// The message of a panic caught by `catch_unwind` (a `String` or `&str`
/// payload); fails the test if there was none.
pub fn panic_text<T>(result: std::thread::Result<T>) -> String {
    let Err(payload) = result else {
        panic!("expected a panic");
    };
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Learns `z -> x` and `z -> y`, then, holding `x` and a trylock of `y`,
/// takes `z`: one acquisition that closes two cycles (`y -> z -> y` and
/// `x -> z -> x`). Returns the panic it raises, as text (the action must
/// panic).
pub fn close_two_cycles(
    x: &lockdep::Mutex<u32>,
    y: &lockdep::Mutex<u32>,
    z: &lockdep::Mutex<u32>,
) -> String {
    for other in [x, y] {
        let _z = z.lock();
        let _o = other.lock();
    }
    panic_text(std::panic::catch_unwind(std::panic::AssertUnwindSafe(
        || {
            let _x = x.lock();
            let _y = y.try_lock().expect("free");
            let _z = z.lock();
        },
    )))
}

/// Waits for the forked child `pid`, polling; past `timeout` kills it and
/// returns `None` (it hung). Else its wait status.
#[cfg(unix)]
pub fn wait_child(pid: libc::pid_t, timeout: std::time::Duration) -> Option<i32> {
    let deadline = std::time::Instant::now() + timeout;
    let mut status = 0;
    loop {
        // SAFETY: polls the caller's own child.
        if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
            return Some(status);
        }
        if std::time::Instant::now() > deadline {
            // SAFETY: kills and reaps the caller's own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}
