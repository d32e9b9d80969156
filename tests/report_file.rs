//! `LOCKDEP_REPORT_FILE`, `LOCKDEP_REPORT_FORMAT` and `LOCKDEP_RECORD`, in
//! child processes of this test binary (each variable is read once per
//! process). The `child_*` tests are `#[ignore]`d: the tests below run
//! them, one per child, with the environment under test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lockdep::schema::{Document, Envelope};
use lockdep::{DynamicKey, Mutex};

const THREADS: usize = 8;

/// A cycle of two classes of its own on each of `THREADS` threads at once:
/// reports raised, rendered and appended concurrently.
fn cycles_on_threads() {
    std::thread::scope(|s| {
        for t in 0..THREADS {
            s.spawn(move || {
                let ka = DynamicKey::new(format!("report_file_{t}_a"));
                let kb = DynamicKey::new(format!("report_file_{t}_b"));
                let a = Mutex::with_dynamic_key(&ka, ());
                let b = Mutex::with_dynamic_key(&kb, ());
                drop((a.lock(), b.lock()));
                drop((b.lock(), a.lock()));
            });
        }
    });
}

#[test]
#[ignore = "run by report_file_has_one_whole_line_per_report, in a child"]
fn child_reports_to_file() {
    cycles_on_threads();
    assert_eq!(lockdep::reports().len(), THREADS);
    assert_eq!(lockdep::stats().report_file_errors, 0);
}

#[test]
#[ignore = "run by a_bad_report_file_is_counted_not_raised, in a child"]
fn child_reports_to_a_bad_file() {
    cycles_on_threads();
    assert_eq!(lockdep::reports().len(), THREADS);
    assert_eq!(lockdep::stats().report_file_errors, THREADS);
}

#[test]
#[ignore = "run by a_bad_record_dir_is_counted_not_raised, in a child"]
fn child_records_to_a_bad_dir() {
    cycles_on_threads();
    assert!(lockdep::record::flush(std::time::Duration::from_secs(10)));
    let stats = lockdep::stats();
    assert!(stats.record_errors > 0, "{stats:?}");
    assert_eq!(stats.record_lines, 0);
}

#[test]
#[ignore = "run by the format tests, in a child"]
fn child_prints_one_report() {
    let ka = DynamicKey::new("report_format_a");
    let kb = DynamicKey::new("report_format_b");
    let a = Mutex::with_dynamic_key(&ka, ());
    let b = Mutex::with_dynamic_key(&kb, ());
    drop((a.lock(), b.lock()));
    drop((b.lock(), a.lock()));
    assert_eq!(lockdep::reports().len(), 1);
}

fn child(test: &str, env: &[(&str, &Path)], action: &str) -> Output {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args(["--ignored", "--exact", test, "--test-threads=1"])
        .env("LOCKDEP_ACTION", action)
        .env_remove("LOCKDEP_REPORT_FILE")
        .env_remove("LOCKDEP_REPORT_FORMAT")
        .env_remove("LOCKDEP_RECORD");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run the child");
    assert!(
        out.status.success(),
        "{test} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("report_file")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[test]
fn report_file_has_one_whole_line_per_report() {
    let dir = scratch("lines");
    let file = dir.join("reports.jsonl");
    // Two processes append to one file.
    for _ in 0..2 {
        child(
            "child_reports_to_file",
            &[("LOCKDEP_REPORT_FILE", &file)],
            "silent",
        );
    }
    let body = std::fs::read_to_string(&file).expect("report file");
    assert!(body.ends_with('\n'));
    let mut names = Vec::new();
    for line in body.lines() {
        let doc = Envelope::parse(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let Document::Report(report) = doc.document else {
            panic!("not a report: {line}")
        };
        assert_eq!(
            report.title(),
            "possible circular locking dependency detected"
        );
        // Symbolized: the frames of the closure that took the locks.
        assert!(
            report
                .backtrace
                .iter()
                .any(|f| f.function.contains("cycles_on_threads")),
            "{:?}",
            report.backtrace
        );
        let mut classes: Vec<_> = report.class_names().iter().map(|s| s.to_string()).collect();
        classes.sort();
        names.push(classes.join(" "));
    }
    assert_eq!(names.len(), 2 * THREADS, "{body}");
    names.sort();
    names.dedup();
    assert_eq!(names.len(), THREADS, "each thread's cycle, in each process");
}

#[test]
fn a_bad_report_file_is_counted_not_raised() {
    let out = child(
        "child_reports_to_a_bad_file",
        &[(
            "LOCKDEP_REPORT_FILE",
            Path::new("/nonexistent-lockdep-dir/reports.jsonl"),
        )],
        "silent",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr
            .matches(
                "lockdep: LOCKDEP_REPORT_FILE: cannot open /nonexistent-lockdep-dir/reports.jsonl"
            )
            .count(),
        1,
        "said once: {stderr}"
    );
}

#[test]
fn a_bad_record_dir_is_counted_not_raised() {
    // A directory inside a regular file cannot be created.
    let dir = scratch("bad_record");
    let file = dir.join("a-file");
    std::fs::write(&file, "").unwrap();
    let out = child(
        "child_records_to_a_bad_dir",
        &[("LOCKDEP_RECORD", &file.join("records"))],
        "silent",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("lockdep: LOCKDEP_RECORD: cannot open"),
        "{stderr}"
    );
}

#[test]
fn json_format_prints_one_document_per_report() {
    let out = child(
        "child_prints_one_report",
        &[("LOCKDEP_REPORT_FORMAT", Path::new("json"))],
        "print",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let docs: Vec<Envelope> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| Envelope::parse(l).expect("a document"))
        .collect();
    assert_eq!(docs.len(), 1, "{stderr}");
    assert!(!stderr.contains("WARNING: possible"), "no text: {stderr}");
    let Document::Report(r) = &docs[0].document else {
        panic!("{stderr}")
    };
    assert_eq!(r.class_names(), ["report_format_b", "report_format_a"]);
}

#[test]
fn a_bad_format_says_so_and_prints_text() {
    let out = child(
        "child_prints_one_report",
        &[("LOCKDEP_REPORT_FORMAT", Path::new("yaml"))],
        "print",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "lockdep: LOCKDEP_REPORT_FORMAT=\"yaml\" is not valid: expected one of text, json; \
             printing reports as text"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("WARNING: possible circular locking dependency detected"),
        "{stderr}"
    );
}
