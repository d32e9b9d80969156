//! The main thread's locks are checked when the process exits: a guard
//! leaked by `main` is reported, whether `main` returns or calls
//! `process::exit`. (glibc runs the main thread's thread-local destructors
//! at exit.) No test harness: this binary's `main` is the main thread under
//! test, and runs itself as the child.

use std::process::Command;

static LEAKED: lockdep::Mutex<u32> = lockdep::Mutex::named("main_exit_leaked", 0);

fn main() {
    match std::env::var("LOCKDEP_MAIN_EXIT_CHILD").as_deref() {
        Ok("return") => {
            std::mem::forget(LEAKED.lock());
        }
        Ok("exit") => {
            std::mem::forget(LEAKED.lock());
            std::process::exit(3);
        }
        _ => parent(),
    }
}

fn parent() {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) {
        println!("main_exit: skipped (checked where the C library runs the main thread's TLS destructors: Linux with glibc)");
        return;
    }
    for (how, code) in [("return", 0), ("exit", 3)] {
        let out = Command::new(std::env::current_exe().expect("current_exe"))
            .env("LOCKDEP_MAIN_EXIT_CHILD", how)
            .env("LOCKDEP_ACTION", "print")
            .output()
            .expect("run the child");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{how}: {stderr}");
        assert!(
            stderr.contains("WARNING: thread exiting with locks still held!"),
            "{how}: no report on stderr:\n{stderr}"
        );
        assert!(
            stderr.contains("main/"),
            "{how}: not the main thread:\n{stderr}"
        );
        assert!(stderr.contains("(main_exit_leaked)"), "{how}: {stderr}");
        assert_eq!(
            stderr.matches("WARNING").count(),
            1,
            "{how}: exactly one report:\n{stderr}"
        );
    }
    println!("main_exit: a lock leaked by main is reported at exit (return and process::exit)");
}
