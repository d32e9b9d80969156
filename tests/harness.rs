//! Reports under a real test harness. The `inner_*` tests are the scenarios:
//! they do nothing unless `LOCKDEP_HARNESS` is set. The other tests run this
//! very binary again with it set, as `cargo test` (one process, tests in
//! parallel, output captured) and as cargo-nextest (one process per test,
//! `--exact NAME --nocapture`) run tests, and check what the harness says.

use std::process::{Command, Output};

use lockdep::{Action, Mutex};

static A: Mutex<u32> = Mutex::named("harness_a", 0);
static B: Mutex<u32> = Mutex::named("harness_b", 0);
static PINNED: Mutex<u32> = Mutex::named("harness_pinned", 0);
static NEXT: Mutex<u32> = Mutex::named("harness_next", 0);
static LEAKED: Mutex<u32> = Mutex::named("harness_leaked", 0);
static UNWOUND: Mutex<u32> = Mutex::named("harness_unwound", 0);

const ENV: &str = "LOCKDEP_HARNESS";
/// Written with `eprintln!` by a passing test: the harness must hide it.
const CAPTURED: &str = "harness-captured-marker";

/// The scenario's mode, if this is a child run; sets the action it needs.
fn mode() -> Option<String> {
    let mode = std::env::var(ENV).ok()?;
    if mode == "callback" {
        lockdep::set_action(Action::callback(|r| panic!("callback: {}", r.title())));
    }
    Some(mode)
}

#[test]
fn inner_cycle() {
    if mode().is_none() {
        return;
    }
    {
        let _a = A.lock();
        *B.lock() += 1;
    }
    let _b = B.lock();
    *A.lock() += 1; // closes A -> B -> A
}

#[test]
fn inner_release() {
    if mode().is_none() {
        return;
    }
    let guard = PINNED.lock();
    std::mem::forget(PINNED.pin());
    drop(guard); // reported from the destructor: no panic there
    assert!(!PINNED.is_locked());
    *NEXT.lock() += 1; // the next acquisition raises it
}

#[test]
fn inner_clean() {
    if mode().is_none() {
        return;
    }
    for _ in 0..100 {
        let _n = NEXT.lock();
        let _l = LEAKED.try_lock();
    }
}

#[test]
fn inner_thread_exit() {
    if mode().is_none() {
        return;
    }
    // The thread ends with a lock held: reported from its thread-local
    // destructors, where no panic may be raised, not even the callback's.
    std::thread::spawn(|| std::mem::forget(LEAKED.lock()))
        .join()
        .expect("the thread exits normally");
}

#[test]
fn inner_unwinding_release() {
    if mode().is_none() {
        return;
    }
    // A test that fails by itself while holding a pinned lock: the release
    // runs while unwinding, and is reported there.
    let guard = UNWOUND.lock();
    std::mem::forget(UNWOUND.pin());
    let _guard = guard;
    panic!("the test's own failure");
}

#[test]
fn inner_print_visible() {
    if mode().is_none() {
        return;
    }
    eprintln!("{CAPTURED}");
    static C: Mutex<u32> = Mutex::named("harness_print_c", 0);
    static D: Mutex<u32> = Mutex::named("harness_print_d", 0);
    {
        let _c = C.lock();
        let _d = D.lock();
    }
    let _d = D.lock();
    let _c = C.lock(); // printed, and the test passes
}

/// Runs this binary with `args`, in `mode`, and `LOCKDEP_ACTION` as given.
fn child(mode: &str, action: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(args).env(ENV, mode).env_remove("LOCKDEP_ACTION");
    if let Some(action) = action {
        cmd.env("LOCKDEP_ACTION", action);
    }
    let out = cmd.output().expect("run the test binary");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            out.status.signal(),
            None,
            "the child was killed (aborted?):\n{}",
            text(&out)
        );
    }
    out
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// One child running every scenario but the print one, the way `cargo
/// test` does: the tests that raised a report fail with it as their
/// message, the others pass, and the process ends normally.
fn cargo_test_run(mode: &str, action: Option<&str>, expected_message: &[&str]) {
    let out = child(
        mode,
        action,
        &["inner_", "--skip", "inner_print", "--test-threads=2"],
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(101), "{all}");
    for (test, result) in [
        ("inner_cycle", "FAILED"),
        ("inner_release", "FAILED"),
        ("inner_unwinding_release", "FAILED"),
        ("inner_clean", "ok"),
        ("inner_thread_exit", "ok"),
    ] {
        assert!(
            all.contains(&format!("test {test} ... {result}")),
            "{test}:\n{all}"
        );
    }
    assert!(
        all.contains("test result: FAILED. 2 passed; 3 failed"),
        "{all}"
    );
    for m in expected_message {
        assert!(all.contains(m), "{m:?} missing:\n{all}");
    }
    assert!(!all.contains("abort"), "{all}");
}

#[test]
fn cargo_test_panic_mode_fails_the_raising_tests_only() {
    cargo_test_run(
        "panic",
        Some("panic"),
        &[
            // The cycle is the failure's message, in full.
            "panicked at",
            "lockdep: possible circular locking dependency detected\n",
            "WARNING: possible circular locking dependency detected",
            "*** DEADLOCK ***",
            // The release's report, raised at the next acquisition.
            "lockdep: releasing a pinned lock! (raised earlier on this thread",
            // The thread's exit, printed.
            "WARNING: thread exiting with locks still held!",
        ],
    );
}

#[test]
fn cargo_test_panicking_callback_fails_the_raising_tests_only() {
    cargo_test_run(
        "callback",
        None,
        &[
            "callback: possible circular locking dependency detected",
            "callback: releasing a pinned lock!",
        ],
    );
}

/// `print` reports are written to the process's standard error, past the
/// harness's capture: they show for a test that passes, whose `eprintln!`
/// output the harness hides.
#[test]
fn cargo_test_print_mode_shows_reports_of_passing_tests() {
    let out = child("print", Some("print"), &["inner_print_visible", "--exact"]);
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains("test inner_print_visible ... ok"), "{all}");
    assert!(
        !all.contains(CAPTURED),
        "the harness captures eprintln!: {all}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("WARNING: possible circular locking dependency detected"),
        "{all}"
    );
    assert!(stderr.contains("harness_print_c"), "{all}");
}

/// cargo-nextest runs each test in a process of its own, as
/// `BINARY --exact NAME --nocapture`: each raising test fails with the
/// report, each other passes.
#[test]
fn nextest_runs_fail_the_raising_tests_only() {
    for mode in ["panic", "callback"] {
        let action = (mode == "panic").then_some("panic");
        for (test, passes) in [
            ("inner_cycle", false),
            ("inner_release", false),
            ("inner_unwinding_release", false),
            ("inner_clean", true),
            ("inner_thread_exit", true),
        ] {
            let out = child(mode, action, &["--exact", test, "--nocapture"]);
            let all = text(&out);
            assert_eq!(out.status.success(), passes, "{mode} {test}:\n{all}");
            if test == "inner_cycle" {
                let expected = match mode {
                    "panic" => "WARNING: possible circular locking dependency detected",
                    _ => "callback: possible circular locking dependency detected",
                };
                assert!(all.contains(expected), "{mode} {test}:\n{all}");
            }
        }
    }
}
