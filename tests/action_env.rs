//! `LOCKDEP_ACTION` overrides the action set in code, and a bad value is a
//! clear error that fails safe (as `panic`).
//!
//! The environment is read once per process, so each case runs this test
//! binary again as a child with the variable set.

use std::process::Command;

use lockdep::{Action, Mutex};

/// The child's body: set `Print` in code, then make an ABBA.
#[test]
fn child_abba() {
    if std::env::var_os("LOCKDEP_ACTION_CHILD").is_none() {
        return;
    }
    static A: Mutex<()> = Mutex::named("env_a", ());
    static B: Mutex<()> = Mutex::named("env_b", ());
    lockdep::set_action(Action::Print);
    {
        let _a = A.lock();
        let _b = B.lock();
    }
    let _b = B.lock();
    let _a = A.lock();
    println!("CHILD-CONTINUED");
}

fn run_child(value: &str) -> (bool, String) {
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "child_abba", "--nocapture", "--test-threads=1"])
        .env("LOCKDEP_ACTION_CHILD", "1")
        .env("LOCKDEP_ACTION", value)
        .output()
        .expect("run the child");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn env_panic_overrides_print() {
    let (ok, text) = run_child("panic");
    assert!(!ok, "the child must fail: {text}");
    assert!(text.contains("WARNING: possible circular locking dependency detected"));
    assert!(!text.contains("CHILD-CONTINUED"), "{text}");
}

#[test]
fn env_silent_overrides_print() {
    let (ok, text) = run_child("silent");
    assert!(ok, "{text}");
    assert!(!text.contains("WARNING:"), "{text}");
    assert!(text.contains("CHILD-CONTINUED"));
}

#[test]
fn env_bad_value_is_a_clear_error_and_fails_safe() {
    let (ok, text) = run_child("painc");
    assert!(!ok, "a mistyped value must not pass silently: {text}");
    assert!(
        text.contains(
            "lockdep: LOCKDEP_ACTION=\"painc\" is not valid: expected one of panic, print, silent; treating it as \"panic\""
        ),
        "{text}"
    );
}
