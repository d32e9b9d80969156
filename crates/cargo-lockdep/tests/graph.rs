//! `cargo lockdep graph` on each input it takes: a record directory written
//! by two real processes (each one half of an ABBA order), a report file
//! (`LOCKDEP_REPORT_FILE`), `merge --json`'s graph, `explain --json`'s
//! reports and a kernel log. The `half` test is `#[ignore]`d: the others
//! run it in child processes of this binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lockdep::Mutex;

static LEDGER: Mutex<u32> = Mutex::named("ledger", 0);
static JOURNAL: Mutex<u32> = Mutex::named("journal", 0);
static LONELY: Mutex<u32> = Mutex::named("lonely", 0);

/// Takes the two locks in the order `LOCKDEP_GRAPH_HALF` says (`lj`, `jl`
/// or `both`).
fn take_in_order(order: &str) {
    if order != "jl" {
        let _l = LEDGER.lock();
        *JOURNAL.lock() += 1;
        // ledger -> lonely: in no cycle.
        *LONELY.lock() += 1;
    }
    if order != "lj" {
        let _j = JOURNAL.lock();
        *LEDGER.lock() += 1;
    }
}

#[test]
#[ignore = "run by the tests below in child processes"]
fn half() {
    take_in_order(&std::env::var("LOCKDEP_GRAPH_HALF").unwrap());
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lockdep-graph-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// This binary's `half` test in a child process, with `env`.
fn run_half(order: &str, env: &[(&str, &Path)], test_name: &str) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "half", "--test-threads", "1"])
        .env("LOCKDEP_GRAPH_HALF", order)
        .env("LOCKDEP_ACTION", "silent")
        .env("NEXTEST_TEST_NAME", test_name)
        .envs(env.iter().map(|(k, v)| (*k, v.as_os_str())))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn cargo_lockdep(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cargo-lockdep"))
        .arg("lockdep")
        .args(args)
        .output()
        .unwrap()
}

/// The DOT of `input`.
fn dot(input: &Path) -> String {
    let out = cargo_lockdep(&["graph", input.to_str().unwrap(), "--dot", "/dev/stdout"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The graph data embedded in the page drawn from `input`.
fn page_data(input: &Path, dir: &Path) -> serde_json::Value {
    let html = dir.join("page.html");
    let out = cargo_lockdep(&[
        "graph",
        input.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(html).unwrap();
    let start = page.find("id=\"graph-data\">").unwrap() + "id=\"graph-data\">".len();
    let end = start + page[start..].find("</script>").unwrap();
    serde_json::from_str(&page[start..end]).unwrap()
}

fn names(data: &serde_json::Value, classes: &serde_json::Value) -> Vec<String> {
    let mut v: Vec<String> = classes
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            data["classes"][i.as_u64().unwrap() as usize]["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    v.sort();
    v
}

/// Two processes, each one half: the record directory's graph has the
/// cycle no process saw, each dependency with its stack and its test.
#[test]
fn a_record_directory_across_two_processes() {
    let dir = scratch("records");
    let records = dir.join("records");
    run_half("lj", &[("LOCKDEP_RECORD", &records)], "graph::ledger_first");
    run_half(
        "jl",
        &[("LOCKDEP_RECORD", &records)],
        "graph::journal_first",
    );
    let data = page_data(&records, &dir);
    let cycles = data["cycles"].as_array().unwrap();
    assert_eq!(cycles.len(), 1, "{data}");
    assert_eq!(names(&data, &cycles[0]["classes"]), ["journal", "ledger"]);
    let deps = data["deps"].as_array().unwrap();
    assert_eq!(deps.len(), 3);
    for d in deps {
        let stack = d["stack"].as_array().unwrap();
        assert!(
            stack
                .iter()
                .any(|f| f.as_str().unwrap().contains("take_in_order")),
            "{d}"
        );
        assert_eq!(d["types"], "EN");
    }
    let origins: Vec<&str> = deps.iter().map(|d| d["origin"].as_str().unwrap()).collect();
    assert!(
        origins.iter().any(|o| o.contains("graph::ledger_first")),
        "{origins:?}"
    );
    assert!(
        origins.iter().any(|o| o.contains("graph::journal_first")),
        "{origins:?}"
    );

    // Focused on the cycle, a third class taken alone is left out.
    let focus = cargo_lockdep(&[
        "graph",
        records.to_str().unwrap(),
        "--cycles-only",
        "--dot",
        "/dev/stdout",
    ]);
    let focus = String::from_utf8(focus.stdout).unwrap();
    assert!(!focus.contains("lonely"), "{focus}");
    assert!(dot(&records).contains("lonely"));
    assert_eq!(focus.matches(" -> ").count(), 2, "{focus}");
    assert_eq!(focus.matches("fillcolor=\"#ff9f9f\"").count(), 2, "{focus}");

    // merge --json's graph draws the same.
    let merged = cargo_lockdep(&["merge", records.to_str().unwrap(), "--json"]);
    assert_eq!(merged.status.code(), Some(1));
    let json = dir.join("merged.json");
    std::fs::write(&json, &merged.stdout).unwrap();
    assert_eq!(dot(&json), dot(&records));
    let _ = std::fs::remove_dir_all(&dir);
}

/// One process, both halves: the report it appended is drawn as its cycle.
#[test]
fn a_report_file() {
    let dir = scratch("report");
    let file = dir.join("reports.jsonl");
    run_half("both", &[("LOCKDEP_REPORT_FILE", &file)], "graph::both");
    let data = page_data(&file, &dir);
    let cycles = data["cycles"].as_array().unwrap();
    assert_eq!(cycles.len(), 1, "{data}");
    assert_eq!(
        cycles[0]["title"],
        "possible circular locking dependency detected"
    );
    assert_eq!(names(&data, &cycles[0]["classes"]), ["journal", "ledger"]);
    assert_eq!(cycles[0]["deps"].as_array().unwrap().len(), 2);
    let dot = dot(&file);
    assert_eq!(dot.matches("fillcolor=\"#ff9f9f\"").count(), 2, "{dot}");
    // The report's chain: its two dependencies (lonely is in no report).
    assert_eq!(dot.matches(" -> ").count(), 2, "{dot}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// explain --json's reports draw as the kernel log they came from.
#[test]
fn explain_json_draws_as_its_log() {
    let dir = scratch("explain");
    for log in ["seed-slub-4.10.txt", "circular-6.6-dmesg-symbolized.log"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/kernel")
            .join(log);
        let out = cargo_lockdep(&["explain", path.to_str().unwrap(), "--json"]);
        assert!(out.status.success());
        let json = dir.join(format!("{log}.jsonl"));
        std::fs::write(&json, &out.stdout).unwrap();
        let from_log = dot(&path);
        assert_eq!(dot(&json), from_log);
        assert!(from_log.contains("slab_mutex") || from_log.contains("rtnl_mutex"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_is_an_error() {
    let dir = scratch("bad");
    let file = dir.join("bad.jsonl");
    std::fs::write(&file, "{\"schema_version\":1,\"kind\":\"report\"}\n").unwrap();
    let out = cargo_lockdep(&["graph", file.to_str().unwrap(), "--dot", "/dev/null"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.jsonl:1:"));
    let out = cargo_lockdep(&["graph", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--html FILE or --dot FILE"));
    let _ = std::fs::remove_dir_all(&dir);
}
