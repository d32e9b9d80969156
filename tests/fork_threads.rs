//! `fork` from a multi-threaded program, while other threads are busy in
//! the validator: registering classes, validating new chains, raising and
//! logging reports, capturing stacks. Each child resolves classes, learns
//! and checks new orders, renders a report and exits; none may hang on a
//! lock a parent thread held at the moment of the fork.
#![cfg(unix)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lockdep::{Action, ClassKey, Mutex};

mod common;

fn key(name: String) -> &'static ClassKey {
    Box::leak(Box::new(ClassKey::new(Box::leak(name.into_boxed_str()))))
}

/// New classes, new chains and a report on every round.
fn churn(tag: &str, round: usize) {
    let a = Mutex::with_key(key(format!("fk_{tag}_{round}_a")), ());
    let b = Mutex::with_key(key(format!("fk_{tag}_{round}_b")), ());
    let site = Mutex::new(()); // a site class: the registry's lock
    {
        let _a = a.lock();
        let _b = b.lock();
        let _s = site.lock();
    }
    let _b = b.lock();
    let _a = a.lock();
}

/// The child's work; its exit status says how it went.
fn child(render: bool) -> i32 {
    let ok = std::panic::catch_unwind(|| {
        let before = lockdep::stats().reports;
        churn("child", 0);
        assert_eq!(lockdep::stats().reports, before + 1);
        let report = lockdep::reports().pop().expect("the child's report");
        assert!(report.class_names().contains(&"fk_child_0_a"));
        if render {
            // Symbolizing: the unwinder's and the symbol cache's locks.
            let text = report.to_string();
            assert!(text.contains("fork_threads::churn"), "{text}");
        }
        assert!(lockdep::held_locks().is_empty());
        assert_eq!(lockdep::stats().internal_errors, 0);
    })
    .is_ok();
    i32::from(!ok)
}

#[test]
fn children_forked_while_threads_validate_never_hang() {
    lockdep::set_action(Action::Silent);
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..3)
        .map(|t| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut round = 0;
                while !stop.load(Ordering::Relaxed) {
                    churn(&format!("w{t}"), round);
                    let _ = lockdep::reports().len();
                    round += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    for i in 0..12 {
        // SAFETY: the child only runs this crate's code (the validator's
        // locks are released in it by the fork handlers), allocates, and
        // then `_exit`s.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let status = child(i < 2);
            // SAFETY: ends the child without running the parent's harness.
            unsafe { libc::_exit(status) };
        }
        let status = common::wait_child(pid, Duration::from_secs(20))
            .unwrap_or_else(|| panic!("child {i} hung in the validator"));
        assert!(libc::WIFEXITED(status), "child {i} did not exit normally");
        assert_eq!(libc::WEXITSTATUS(status), 0, "child {i}'s checks failed");
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
}
