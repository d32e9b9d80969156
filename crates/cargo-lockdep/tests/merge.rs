//! `cargo lockdep merge` on records written by real processes.
//!
//! The `half_*` tests are the halves of an ABBA deadlock, in two tests: run
//! in one process they would be reported by the validator itself; each in
//! its own process (as cargo-nextest runs tests), only `merge` sees the
//! cycle. They are `#[ignore]`d: the other tests here run them, each in a
//! child process of this binary, with `LOCKDEP_RECORD` set, and
//! `.ci/nextest-merge.sh` runs them under `cargo nextest`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lockdep::sync::Mutex;

/// A bank with an account table and an audit log: the shape of code that
/// grows an ABBA order, one method at a time.
struct Bank {
    accounts: Mutex<Vec<u64>>,
    audit: Mutex<Vec<String>>,
}

impl Bank {
    fn new() -> Bank {
        Bank {
            accounts: Mutex::new(vec![100, 100]),
            audit: Mutex::new(Vec::new()),
        }
    }

    /// accounts, then audit.
    fn transfer(&self, from: usize, to: usize, amount: u64) {
        let mut accounts = self.accounts.lock().unwrap();
        accounts[from] -= amount;
        accounts[to] += amount;
        self.audit
            .lock()
            .unwrap()
            .push(format!("{from}->{to}: {amount}"));
    }

    /// audit, then accounts: the other half.
    fn report(&self) -> String {
        let audit = self.audit.lock().unwrap();
        let total: u64 = self.accounts.lock().unwrap().iter().sum();
        format!("{} entries, total {total}", audit.len())
    }

    /// Only the accounts: no dependency.
    fn balance(&self, who: usize) -> u64 {
        self.accounts.lock().unwrap()[who]
    }
}

#[test]
#[ignore = "half of a cross-process cycle: run by the tests below and by .ci/nextest-merge.sh"]
fn half_transfer() {
    let bank = Bank::new();
    bank.transfer(0, 1, 10);
    assert_eq!(bank.balance(1), 110);
}

#[test]
#[ignore = "half of a cross-process cycle: run by the tests below and by .ci/nextest-merge.sh"]
fn half_report() {
    let bank = Bank::new();
    assert_eq!(bank.report(), "0 entries, total 200");
}

#[test]
#[ignore = "takes the locks one at a time: no cycle with anything"]
fn half_balance_only() {
    let bank = Bank::new();
    let a = Mutex::new(1);
    let b = Mutex::new(2);
    drop((a.lock().unwrap(), b.lock().unwrap()));
    assert_eq!(bank.balance(0), 100);
}

#[test]
#[ignore = "learns a dependency, waits for it to be written, and aborts"]
fn half_abort() {
    let bank = Bank::new();
    bank.transfer(0, 1, 1);
    assert!(lockdep::record::flush(std::time::Duration::from_secs(10)));
    std::process::abort();
}

/// A fresh directory under the target directory.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Runs one ignored test of this binary in a child process, recording.
fn run_half(name: &str, dir: &Path) -> Output {
    Command::new(std::env::current_exe().expect("test binary"))
        .args(["--ignored", "--exact", name, "--test-threads=1"])
        .env("LOCKDEP_RECORD", dir)
        .env("NEXTEST_TEST_NAME", name)
        .env("NEXTEST_BINARY_ID", "cargo-lockdep::merge")
        .env_remove("LOCKDEP_ACTION")
        .output()
        .expect("run the test binary")
}

fn merge(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cargo-lockdep"))
        .arg("lockdep")
        .arg("merge")
        .args(args)
        .output()
        .expect("run cargo-lockdep")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn records(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("records dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    files
}

#[test]
fn a_cycle_across_two_test_processes_is_found() {
    let dir = scratch("two_halves");
    for half in ["half_transfer", "half_report"] {
        let out = run_half(half, &dir);
        assert!(out.status.success(), "{half}: {}", text(&out.stderr));
        // Neither process saw a cycle on its own.
        assert!(
            !text(&out.stderr).contains("circular locking"),
            "{half} reported by itself: {}",
            text(&out.stderr)
        );
    }
    assert_eq!(records(&dir).len(), 2, "one record per process");
    let out = merge(&[dir.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("WARNING: possible circular locking dependency detected"),
        "{stdout}"
    );
    // Each dependency names the test that learned it.
    assert!(
        stdout.contains("[learned by test half_transfer (binary cargo-lockdep::merge, pid "),
        "{stdout}"
    );
    assert!(
        stdout.contains("[learned by test half_report (binary cargo-lockdep::merge, pid "),
        "{stdout}"
    );
    // The classes are the two fields' construction sites, with their types.
    assert!(stdout.contains("tests/merge.rs:"), "{stdout}");
    assert!(
        stdout.contains("Vec<u64>") && stdout.contains("Vec<String>"),
        "{stdout}"
    );
    // The functions of both halves are in the stacks.
    assert!(stdout.contains("merge::Bank::transfer"), "{stdout}");
    assert!(stdout.contains("merge::Bank::report"), "{stdout}");
    assert!(
        stdout.contains("1 cycle(s) (1 across processes)"),
        "{stdout}"
    );

    // --json: the graph, its cycle across processes.
    let out = merge(&["--json", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["kind"], "graph");
    assert_eq!(doc["processes"].as_array().unwrap().len(), 2);
    let cycles = doc["cycles"].as_array().unwrap();
    assert_eq!(cycles.len(), 1);
    assert_eq!(cycles[0]["across_processes"], true);
    assert_eq!(
        cycles[0]["report"]["problem"]["kind"],
        "circular_dependency"
    );
    let deps = doc["dependencies"].as_array().unwrap();
    assert_eq!(deps.len(), 2);
    assert!(deps.iter().all(|d| d["types"] == "EN"));

    // --sarif: one result, a thread flow for each side.
    let out = merge(&["--sarif", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).expect("SARIF");
    assert_eq!(log["version"], "2.1.0");
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["ruleId"], "lockdep/circular-dependency");
    let flows = results[0]["codeFlows"][0]["threadFlows"]
        .as_array()
        .unwrap();
    assert_eq!(flows.len(), 2);
    let flow_text = flows
        .iter()
        .map(|f| f["message"]["text"].to_string())
        .collect::<String>();
    assert!(
        flow_text.contains("learned by test half_transfer"),
        "{flow_text}"
    );
    assert!(
        flow_text.contains("learned by test half_report"),
        "{flow_text}"
    );
    // The locations of a flow include the test's own file, relative.
    let uris: Vec<String> = flows[0]["locations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["location"]["physicalLocation"]["artifactLocation"]["uri"].to_string())
        .collect();
    assert!(
        uris.iter().any(|u| u.contains("tests/merge.rs")),
        "{uris:?}"
    );
}

#[test]
fn records_without_a_cycle_merge_to_exit_0() {
    let dir = scratch("no_cycle");
    for half in ["half_transfer", "half_balance_only"] {
        let out = run_half(half, &dir);
        assert!(out.status.success(), "{half}: {}", text(&out.stderr));
    }
    let out = merge(&[dir.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(!stdout.contains("WARNING"), "{stdout}");
    assert!(stdout.contains("2 record(s)"), "{stdout}");
    assert!(stdout.contains("0 cycle(s)"), "{stdout}");
}

#[test]
fn a_record_survives_its_process_aborting() {
    let dir = scratch("abort");
    let out = run_half("half_abort", &dir);
    assert!(!out.status.success(), "the child aborted");
    let files = records(&dir);
    assert_eq!(files.len(), 1);
    let body = std::fs::read_to_string(&files[0]).expect("record");
    assert!(body.ends_with('\n'), "whole lines only: {body}");
    let kinds: Vec<String> = body
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            v["kind"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(kinds, ["process", "class", "class", "dependency"], "{body}");
    // With the other half, recorded by a process that ran to its end.
    let out = run_half("half_report", &dir);
    assert!(out.status.success());
    let out = merge(&[dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("[learned by test half_abort"));
}

#[test]
fn bad_records_exit_2_naming_the_file_and_line() {
    let dir = scratch("bad");
    let out = run_half("half_transfer", &dir);
    assert!(out.status.success());
    let good = std::fs::read_to_string(&records(&dir)[0]).unwrap();
    let cases: [(&str, String, &str); 5] = [
        (
            "not_json.jsonl",
            format!("{}{{oops\n", good),
            "not_json.jsonl:5: ",
        ),
        (
            "no_process.jsonl",
            good.lines().skip(1).map(|l| format!("{l}\n")).collect(),
            "no_process.jsonl:1: a record starts with a \"process\" line",
        ),
        (
            "undeclared.jsonl",
            good.lines()
                .filter(|l| !l.contains("\"kind\":\"class\""))
                .map(|l| format!("{l}\n"))
                .collect(),
            "undeclared.jsonl:2: dependency on class",
        ),
        (
            "version.jsonl",
            good.replacen("\"schema_version\":1", "\"schema_version\":99", 1),
            "version.jsonl:1: schema_version 99 is not supported",
        ),
        (
            "bad_type.jsonl",
            good.replace("\"types\":\"EN\"", "\"types\":\"XX\""),
            "bad_type.jsonl:4: \"XX\" is not a dependency type",
        ),
    ];
    for (name, body, expected) in cases {
        let bad = scratch(&format!("bad_{name}"));
        std::fs::write(bad.join(name), body).unwrap();
        let out = merge(&[bad.to_str().unwrap()]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(expected), "{name}: {stderr}");
    }
    // A missing directory.
    let out = merge(&["/nonexistent/lockdep-records"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent/lockdep-records: cannot read"));
    // A last line cut short by a crash is skipped, with a warning.
    let cut = scratch("cut");
    std::fs::write(cut.join("cut.jsonl"), format!("{good}{{\"schema_ver")).unwrap();
    let out = merge(&[cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("cut.jsonl:5: skipped an unfinished last line"));
}
