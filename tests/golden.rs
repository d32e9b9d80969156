//! Golden (snapshot) tests of the text reports.
//!
//! Each test renders a report, normalizes the parts that change from run to
//! run, and compares the result with a file under `tests/golden/`. They pin
//! the layout (the kernel's, section by section) and the frames of each stack.
//!
//! - One test per kind of report: a two-class cycle, a three-class cycle (with
//!   its `Chain exists of:` line), recursive locking and a bad unlock balance.
//!   These run in this process, on threads of their own, with classes named
//!   for the test, and pick their report out of the shared log by class name.
//! - One test per mode of `examples/slub_sysfs.rs`, run as a child process;
//!   the golden file holds its normalized standard error, then its standard
//!   output. `cargo test` builds the example; `cargo test --test golden`
//!   alone does not, so run `cargo test` (or `cargo build --examples`) first.
//!   A missing binary, or one older than a source it was built from,
//!   fails the test.
//!
//! - The JSON (`render::json`) and SARIF (`render::sarif`) renderings of a
//!   two-class cycle, a three-class cycle and recursive locking, in
//!   `tests/golden/*.json`, normalized by [`normalize_json`].
//!
//! The in-process tests set [`lockdep::Action::Silent`]; a `LOCKDEP_ACTION`
//! of `panic` in the environment overrides that and fails them. The example
//! runs with `LOCKDEP_ACTION` removed, so with its default action (print).
//!
//! Normalization (see [`normalize`]) replaces process ids, thread ids, line
//! and column numbers, the crate version, the hash in a test binary's name
//! and absolute paths outside the project with placeholders. Function and
//! file names are kept.
//!
//! The frames are those of a debug build (`cargo test`); in other profiles
//! inlining changes them, so the comparisons are skipped there.
//!
//! # Updating the golden files
//!
//! After an intended change of the output, run
//!
//! ```text
//! LOCKDEP_BLESS=1 cargo test --test golden
//! ```
//!
//! which writes the actual output to the golden files instead of comparing,
//! then review the change with `git diff tests/golden/`.

mod common;
use common::on_thread;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use lockdep::{ClassKey, LockMap, Mutex, Report};

/// The project's root, as compiled.
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The environment variable that switches comparison to writing.
const BLESS: &str = "LOCKDEP_BLESS";

// ---- normalization ------------------------------------------------------

/// Replaces what varies between runs and machines with placeholders:
///
/// - `pid 1234` -> `pid <pid>`;
/// - the thread id after a thread's name, in `name/4 is trying to ...` and
///   `... held by name/4:` (or `.`) -> `name/<tid>`;
/// - `lockdep 0.1.0` -> `lockdep <version>`;
/// - the hash cargo gives a test binary, `(golden-0123456789abcdef)` ->
///   `(golden-<hash>)`;
/// - an absolute path inside `root` -> the path relative to it; any other
///   absolute path (`/rustc/<hash>/...`, `~/.cargo/registry/...`) ->
///   `<external>/` and its file name;
/// - `file.rs:LINE` -> `file.rs:<line>`, `file.rs:LINE:COL` ->
///   `file.rs:<line>:<col>`.
fn normalize(text: &str, root: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let line = paths(line, root);
        let line = numbered(&line, "pid ", "<pid>");
        let line = version(&line);
        let line = binary_hash(&line);
        let line = thread_ids(&line);
        out.push_str(&line_numbers(&line));
    }
    out
}

/// Rewrites each whitespace-separated word that is an absolute path.
fn paths(line: &str, root: &str) -> String {
    let root = format!("{}/", root.trim_end_matches('/'));
    let mut out = String::with_capacity(line.len());
    for (i, word) in line.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if let Some(inside) = word.strip_prefix(root.as_str()) {
            out.push_str(inside);
        } else if word.starts_with('/') {
            let name = word.rsplit('/').next().unwrap_or(word);
            out.push_str("<external>/");
            out.push_str(name);
        } else {
            out.push_str(word);
        }
    }
    out
}

/// Replaces the digits that follow each `marker` with `placeholder`.
fn numbered(line: &str, marker: &str, placeholder: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find(marker) {
        let after = &rest[at + marker.len()..];
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let word = starts_word(char_before(&out, &rest[..at]));
        out.push_str(&rest[..at + marker.len()]);
        if digits > 0 && word {
            out.push_str(placeholder);
            rest = &after[digits..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The last character of `out` followed by `pending`.
fn char_before(out: &str, pending: &str) -> Option<char> {
    pending
        .chars()
        .next_back()
        .or_else(|| out.chars().next_back())
}

/// Is a match preceded by `before` at the start of a word?
fn starts_word(before: Option<char>) -> bool {
    !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// `lockdep 0.1.0` -> `lockdep <version>`.
fn version(line: &str) -> String {
    const MARKER: &str = "lockdep ";
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find(MARKER) {
        let after = &rest[at + MARKER.len()..];
        let len = after.len()
            - after
                .trim_start_matches(|c: char| c.is_ascii_alphanumeric() || ".-+".contains(c))
                .len();
        let word = starts_word(char_before(&out, &rest[..at]));
        out.push_str(&rest[..at + MARKER.len()]);
        if after.starts_with(|c: char| c.is_ascii_digit()) && word {
            out.push_str("<version>");
            rest = &after[len..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// `(name-0123456789abcdef)` -> `(name-<hash>)`: the suffix cargo gives test
/// binaries, on the report's ident line.
fn binary_hash(line: &str) -> String {
    if !line.starts_with("lockdep ") || !line.ends_with(')') {
        return line.to_string();
    }
    let body = &line[..line.len() - 1];
    match body.rsplit_once('-') {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            format!("{head}-<hash>)")
        }
        _ => line.to_string(),
    }
}

/// `name/4 is trying to ...` and `... held by name/4:` -> `name/<tid>`.
fn thread_ids(line: &str) -> String {
    // Lines that start with the thread: "<name>/<id> is trying to ...",
    // "... is exiting ...", "... is freeing ...", "... asserted ...",
    // "... is suspending ...", "... is blocking, ...".
    for phrase in [
        " is trying to ",
        " is exiting ",
        " is freeing ",
        " is releasing ",
        " asserted ",
        " is suspending ",
        " is blocking,",
    ] {
        if let Some(at) = line.find(phrase) {
            if !line[..at].contains(' ') {
                return format!("{}{}", without_id(&line[..at]), &line[at..]);
            }
        }
    }
    if let Some(at) = line.find(" held by ") {
        let start = at + " held by ".len();
        if line.len() > start && (line.ends_with(':') || line.ends_with('.')) {
            let end = line.len() - 1;
            return format!(
                "{}{}{}",
                &line[..start],
                without_id(&line[start..end]),
                &line[end..]
            );
        }
    }
    line.to_string()
}

/// `name/4` -> `name/<tid>`; anything else unchanged.
fn without_id(thread: &str) -> String {
    match thread.rsplit_once('/') {
        Some((name, id)) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{name}/<tid>")
        }
        _ => thread.to_string(),
    }
}

/// `x.rs:12` -> `x.rs:<line>`, `x.rs:12:5` -> `x.rs:<line>:<col>`.
fn line_numbers(line: &str) -> String {
    const MARKER: &str = ".rs:";
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find(MARKER) {
        out.push_str(&rest[..at + MARKER.len()]);
        rest = &rest[at + MARKER.len()..];
        for (i, placeholder) in ["<line>", "<col>"].into_iter().enumerate() {
            let number = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if number == 0 {
                break;
            }
            if i > 0 {
                out.push(':');
            }
            out.push_str(placeholder);
            rest = &rest[number..];
            match rest.strip_prefix(':') {
                Some(r) if r.starts_with(|c: char| c.is_ascii_digit()) => rest = r,
                _ => break,
            }
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn normalize_replaces_what_varies() {
    let root = "/work/main";
    let cases = [
        (
            "lockdep 0.1.0 pid 6046 (slub_sysfs)",
            "lockdep <version> pid <pid> (slub_sysfs)",
        ),
        (
            "lockdep 0.12.3-rc.1 pid 7 (golden-0123456789abcdef)",
            "lockdep <version> pid <pid> (golden-<hash>)",
        ),
        ("lockdep x (golden-01234)", "lockdep x (golden-01234)"),
        (
            "rmmod/4 is trying to acquire lock:",
            "rmmod/<tid> is trying to acquire lock:",
        ),
        (
            "events/0/12 is trying to release lock (m/1) at:",
            "events/0/<tid> is trying to release lock (m/1) at:",
        ),
        ("2 locks held by rmmod/4:", "2 locks held by rmmod/<tid>:"),
        ("no locks held by <unnamed>/17.", "no locks held by <unnamed>/<tid>."),
        // A subclass suffix is not a thread id.
        ("  lock(rq_lock/1);", "  lock(rq_lock/1);"),
        (
            " (s_active#3){++.}, at: examples/slub_sysfs.rs:184:17",
            " (s_active#3){++.}, at: examples/slub_sysfs.rs:<line>:<col>",
        ),
        (
            "       slub_sysfs::kvm_exit at examples/slub_sysfs.rs:240",
            "       slub_sysfs::kvm_exit at examples/slub_sysfs.rs:<line>",
        ),
        (
            " lockdep::workqueue::Work::run at /work/main/src/workqueue.rs:200",
            " lockdep::workqueue::Work::run at src/workqueue.rs:<line>",
        ),
        (
            " core::ops::function::FnOnce::call_once at /rustc/0123abc/library/core/src/ops/function.rs:250",
            " core::ops::function::FnOnce::call_once at <external>/function.rs:<line>",
        ),
        (
            " parking_lot::Mutex::lock at /root/.cargo/registry/src/index-1/parking_lot-0.12.3/src/mutex.rs:9:1",
            " parking_lot::Mutex::lock at <external>/mutex.rs:<line>:<col>",
        ),
        // Only the project's own root is relative; a sibling is external.
        (
            " f at /work/mainline/src/x.rs:3",
            " f at <external>/x.rs:<line>",
        ),
        (" __rust_try", " __rust_try"),
        // Only whole words: `rapid 3` has no pid, `mylockdep 1` no version.
        ("rapid 3 mylockdep 1", "rapid 3 mylockdep 1"),
        ("slub_sysfs: 1 lockdep report(s)", "slub_sysfs: 1 lockdep report(s)"),
        ("x.rs:12: and y.rs:", "x.rs:<line>: and y.rs:"),
    ];
    for (input, expected) in cases {
        assert_eq!(normalize(input, root), expected, "input: {input:?}");
    }
    // Lines, and the empty lines between them, are kept as they are.
    assert_eq!(
        normalize("\na.rs:1\n\nb.rs:2:3\n", root),
        "\na.rs:<line>\n\nb.rs:<line>:<col>\n"
    );
    // Normalizing twice changes nothing more.
    let once = normalize(
        "rmmod/4 is trying to acquire lock:\n at a.rs:1:2 pid 3",
        root,
    );
    assert_eq!(normalize(&once, root), once);
}

/// [`normalize`] for a JSON document: every string is normalized as text
/// is, and the values that vary by their key: `pid`, a thread's `id`, a
/// class id (`class`, `id`), `line`, `column`, `startLine`, `startColumn`
/// (numbers become `"<pid>"`, `"<tid>"`, `"<class>"`, `"<line>"`,
/// `"<col>"`), a thread's id in a SARIF message (`thread name/<tid>`),
/// `lockdep_version` and the driver's `version`
/// (`"<version>"`), the executable's cargo hash, and the SARIF root's
/// `uri` (`"<root>"`). `test`, set only under cargo-nextest, is dropped.
/// The result is pretty-printed, keys sorted.
fn normalize_json(text: &str, root: &str) -> String {
    use serde_json::Value;
    fn walk(v: &mut Value, key: &str, root: &str) {
        let placeholder = match key {
            "pid" => Some("<pid>"),
            "line" | "startLine" => Some("<line>"),
            "column" | "startColumn" => Some("<col>"),
            "class" => Some("<class>"),
            _ => None,
        };
        match v {
            Value::Number(_) if placeholder.is_some() => {
                *v = Value::String(placeholder.unwrap_or_default().into());
            }
            Value::String(s) if key == "lockdep_version" => *s = "<version>".into(),
            // A SARIF thread flow's message: `thread name/4`.
            Value::String(s) if key == "text" && s.starts_with("thread ") => {
                *s = format!("thread {}", without_id(&s["thread ".len()..]));
            }
            Value::String(s) if key == "executable" => {
                *s = binary_hash(&format!("lockdep ({s})"))
                    .trim_start_matches("lockdep (")
                    .trim_end_matches(')')
                    .to_string();
            }
            Value::String(s) => {
                // A URI of a path: normalized as the path.
                let (scheme, path) = match s.strip_prefix("file://") {
                    Some(p) => ("file://", p.to_string()),
                    None => ("", s.clone()),
                };
                *s = if key == "uri" && path.trim_end_matches('/') == root {
                    "<root>".to_string()
                } else {
                    format!("{scheme}{}", normalize(&path, root))
                };
            }
            Value::Array(items) => items.iter_mut().for_each(|i| walk(i, key, root)),
            Value::Object(map) => {
                map.remove("test");
                // A thread's id, beside its name.
                if map.contains_key("name") && map.get("id").is_some_and(Value::is_number) {
                    let tid = if map.len() == 2 { "<tid>" } else { "<class>" };
                    map.insert("id".into(), Value::String(tid.into()));
                }
                for (k, v) in map.iter_mut() {
                    if k == "version" && v.is_string() && key == "driver" {
                        *v = Value::String("<version>".into());
                    } else {
                        walk(v, k, root);
                    }
                }
            }
            _ => {}
        }
    }
    let mut v: Value = serde_json::from_str(text).expect("a JSON document");
    walk(&mut v, "", root.trim_end_matches('/'));
    let mut out = serde_json::to_string_pretty(&v).expect("JSON");
    out.push('\n');
    out
}

#[test]
fn normalize_json_replaces_what_varies() {
    let root = "/work/main";
    let input = r#"{"process":{"pid":7,"executable":"golden-0123456789abcdef","lockdep_version":"0.1.0","test":"t"},
        "thread":{"name":"main","id":4},"message":{"text":"thread main/4"},"lock":{"class":3,"at":{"file":"tests/a.rs","line":3,"column":9}},
        "backtrace":[{"function":"f","file":"/work/main/src/x.rs","line":12},{"function":"g","file":"/rustc/abc/lib.rs","line":1}],
        "driver":{"version":"0.1.0"},"base":{"uri":"file:///work/main/"},"loc":{"uri":"file:///work/main/src/x.rs","startLine":3}}"#;
    let v: serde_json::Value = serde_json::from_str(&normalize_json(input, root)).unwrap();
    assert_eq!(v["process"]["pid"], "<pid>");
    assert_eq!(v["process"]["executable"], "golden-<hash>");
    assert_eq!(v["process"]["lockdep_version"], "<version>");
    assert!(v["process"].get("test").is_none());
    assert_eq!(v["thread"]["id"], "<tid>");
    assert_eq!(v["message"]["text"], "thread main/<tid>");
    assert_eq!(v["lock"]["class"], "<class>");
    assert_eq!(v["lock"]["at"]["line"], "<line>");
    assert_eq!(v["lock"]["at"]["column"], "<col>");
    assert_eq!(v["backtrace"][0]["file"], "src/x.rs");
    assert_eq!(v["backtrace"][1]["file"], "<external>/lib.rs");
    assert_eq!(v["driver"]["version"], "<version>");
    assert_eq!(v["base"]["uri"], "<root>");
    assert_eq!(v["loc"]["uri"], "file://src/x.rs");
    assert_eq!(v["loc"]["startLine"], "<line>");
    // Normalizing twice changes nothing more.
    let once = normalize_json(input, root);
    assert_eq!(normalize_json(&once, root), once);
}

// ---- comparison -----------------------------------------------------------

/// Compares `actual` with `tests/golden/<name>.txt`, or writes it there when
/// `LOCKDEP_BLESS=1`.
fn check_golden(name: &str, actual: &str) {
    check_golden_file(&format!("{name}.txt"), actual)
}

/// [`check_golden`] of any file under `tests/golden/`.
fn check_golden_file(file: &str, actual: &str) {
    let path = Path::new(ROOT).join("tests/golden").join(file);
    if std::env::var(BLESS).is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("golden dir")).expect("create tests/golden");
        std::fs::write(&path, actual).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        eprintln!("blessed {}", path.display());
        return;
    }
    let expected = match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) => panic!(
            "cannot read golden file {}: {e}\nactual output:\n{actual}\n\
             (run with {BLESS}=1 to create it)",
            path.display()
        ),
    };
    if expected != actual {
        panic!(
            "output differs from golden file {}\n{}\n\
             (if the change is intended, run with {BLESS}=1 and review `git diff tests/golden/`)",
            path.display(),
            line_diff(&expected, actual)
        );
    }
}

/// A readable line diff: the first differing line, then the lines of both
/// sides around it as a unified diff (`-` expected, `+` actual).
fn line_diff(expected: &str, actual: &str) -> String {
    let e: Vec<&str> = expected.split('\n').collect();
    let a: Vec<&str> = actual.split('\n').collect();
    // Longest common subsequence, by dynamic programming: the files are small.
    let mut lcs = vec![vec![0u32; a.len() + 1]; e.len() + 1];
    for i in (0..e.len()).rev() {
        for j in (0..a.len()).rev() {
            lcs[i][j] = if e[i] == a[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    // Each entry: (marker, expected line number, actual line number, text).
    let mut ops: Vec<(char, usize, usize, &str)> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < e.len() || j < a.len() {
        if i < e.len() && j < a.len() && e[i] == a[j] {
            ops.push((' ', i, j, e[i]));
            i += 1;
            j += 1;
        } else if i < e.len() && (j == a.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', i, j, e[i]));
            i += 1;
        } else {
            ops.push(('+', i, j, a[j]));
            j += 1;
        }
    }
    let mut out = String::new();
    let Some(first) = ops.iter().position(|op| op.0 != ' ') else {
        return "(no line differs)".to_string();
    };
    let (_, el, al, _) = ops[first];
    let at = |k: usize, lines: &[&str]| {
        lines
            .get(k)
            .map_or("<end of file>".into(), |l| format!("{l:?}"))
    };
    let _ = writeln!(
        out,
        "first difference at expected line {}, actual line {}:",
        el + 1,
        al + 1
    );
    let _ = writeln!(out, "  expected: {}", at(el, &e));
    let _ = writeln!(out, "  actual:   {}", at(al, &a));
    let _ = writeln!(out, "diff (- expected, + actual):");
    const CONTEXT: usize = 3;
    const MAX_LINES: usize = 60;
    let near = |k: usize| {
        ops[k.saturating_sub(CONTEXT)..(k + CONTEXT + 1).min(ops.len())]
            .iter()
            .any(|op| op.0 != ' ')
    };
    let mut printed = 0;
    let mut skipped = false;
    for (k, &(mark, _, _, text)) in ops.iter().enumerate() {
        if !near(k) {
            skipped = true;
            continue;
        }
        if skipped && printed > 0 {
            let _ = writeln!(out, "  ...");
        }
        skipped = false;
        if printed == MAX_LINES {
            let _ = writeln!(out, "  ... (more differences)");
            break;
        }
        let _ = writeln!(out, "{mark} {text}");
        printed += 1;
    }
    out
}

#[test]
fn line_diff_shows_the_first_difference() {
    let d = line_diff("a\nb\nc\nd\n", "a\nB\nc\nd\ne\n");
    assert!(
        d.starts_with("first difference at expected line 2, actual line 2:\n"),
        "{d}"
    );
    assert!(d.contains("  expected: \"b\"\n  actual:   \"B\"\n"), "{d}");
    assert!(d.contains("- b\n+ B\n  c\n"), "{d}");
    assert!(d.contains("+ e\n"), "{d}");
    assert_eq!(line_diff("x\n", "x\n"), "(no line differs)");
}

/// Golden files pin the frames of a debug build; other profiles inline
/// differently.
fn pinned_profile() -> bool {
    if cfg!(debug_assertions) {
        return true;
    }
    eprintln!("golden comparison skipped: the golden files pin a debug build (`cargo test`)");
    false
}

// ---- reports raised in this process ---------------------------------------

/// The one report about class `name`, among all of the process's.
fn report_about(name: &str) -> Arc<Report> {
    let found: Vec<_> = lockdep::reports()
        .into_iter()
        .filter(|r| r.class_names().contains(&name))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one report about {name}, got {found:#?}"
    );
    found.into_iter().next().expect("one report")
}

fn check_report(golden: &str, class: &str) {
    let report = report_about(class);
    let text = lockdep::render::text(&report);
    assert_eq!(text, report.to_string(), "Display renders as render::text");
    if pinned_profile() {
        check_golden(golden, &normalize(&text, ROOT));
    }
}

/// The report about `class` as JSON and SARIF, against
/// `tests/golden/<golden>.json` and `<golden>.sarif.json`. The JSON reads
/// back as the report.
fn check_data(golden: &str, class: &str) {
    let report = report_about(class);
    let line = lockdep::render::json::line(&report);
    assert!(!line.contains('\n'), "one line");
    let back = lockdep::schema::Envelope::parse(&line).expect("reads back");
    assert_eq!(
        back.document,
        lockdep::schema::Document::Report(Box::new((*report).clone()))
    );
    let sarif = lockdep::render::sarif::text(&[report], Path::new(ROOT));
    if pinned_profile() {
        check_golden_file(&format!("{golden}.json"), &normalize_json(&line, ROOT));
        check_golden_file(
            &format!("{golden}.sarif.json"),
            &normalize_json(&sarif, ROOT),
        );
    }
}

static ABBA_A: Mutex<()> = Mutex::named("golden_abba_a", ());
static ABBA_B: Mutex<()> = Mutex::named("golden_abba_b", ());

#[inline(never)]
fn abba_a_then_b() {
    let _a = ABBA_A.lock();
    let _b = ABBA_B.lock();
}

#[inline(never)]
fn abba_b_then_a() {
    let _b = ABBA_B.lock();
    let _a = ABBA_A.lock();
}

#[test]
fn circular_abba() {
    lockdep::set_action(lockdep::Action::Silent);
    on_thread("golden-abba", || {
        abba_a_then_b();
        abba_b_then_a();
    });
    check_report("circular_abba", "golden_abba_a");
    check_data("circular_abba", "golden_abba_a");
}

static THREE_A: Mutex<()> = Mutex::named("golden_three_a", ());
static THREE_B: Mutex<()> = Mutex::named("golden_three_b", ());
static THREE_C: Mutex<()> = Mutex::named("golden_three_c", ());

#[inline(never)]
fn three_a_then_b() {
    let _a = THREE_A.lock();
    let _b = THREE_B.lock();
}

#[inline(never)]
fn three_b_then_c() {
    let _b = THREE_B.lock();
    let _c = THREE_C.lock();
}

#[inline(never)]
fn three_c_then_a() {
    let _c = THREE_C.lock();
    let _a = THREE_A.lock();
}

#[test]
fn circular_three() {
    lockdep::set_action(lockdep::Action::Silent);
    on_thread("golden-three", || {
        three_a_then_b();
        three_b_then_c();
        three_c_then_a();
    });
    check_report("circular_three", "golden_three_a");
    check_data("circular_three", "golden_three_a");
}

static RECURSIVE_KEY: ClassKey = ClassKey::new("golden_recursive");
static RECURSIVE_OUTER: Mutex<()> = Mutex::with_key(&RECURSIVE_KEY, ());
static RECURSIVE_INNER: Mutex<()> = Mutex::with_key(&RECURSIVE_KEY, ());

#[inline(never)]
fn recursive_outer_then_inner() {
    let _outer = RECURSIVE_OUTER.lock();
    let _inner = RECURSIVE_INNER.lock();
}

#[test]
fn recursive_locking() {
    lockdep::set_action(lockdep::Action::Silent);
    on_thread("golden-recursive", recursive_outer_then_inner);
    let report = report_about("golden_recursive");
    assert!(
        matches!(
            report.problem,
            lockdep::report::Problem::RecursiveLocking { .. }
        ),
        "{report:#?}"
    );
    check_report("recursive_locking", "golden_recursive");
    check_data("recursive_locking", "golden_recursive");
}

/// Two lock fields of one type in a `#[derive(Default)]` struct: one class,
/// which the report says, naming the fix.
#[derive(Default)]
struct GoldenTwins {
    left: Mutex<GoldenShared>,
    right: Mutex<GoldenShared>,
}

#[derive(Default)]
struct GoldenShared(#[allow(dead_code)] u8);

#[inline(never)]
fn twins_nested(t: &GoldenTwins) {
    let _l = t.left.lock();
    let _r = t.right.lock();
}

#[test]
fn recursive_locking_of_one_site() {
    lockdep::set_action(lockdep::Action::Silent);
    let twins = GoldenTwins::default();
    let class = lockdep::class_name(lockdep::AsLockMap::as_lock_map(&twins.left).class());
    on_thread("golden-twins", || twins_nested(&twins));
    check_report("recursive_locking_one_site", &class);
}

/// Two collections of one type, each built by `map(Mutex::new)`: the site
/// is inside core, which the report says, naming the fix.
#[inline(never)]
fn adapters_nested(a: &[Mutex<GoldenAdapted>], b: &[Mutex<GoldenAdapted>]) {
    let _a = a[0].lock();
    let _b = b[0].lock();
}

struct GoldenAdapted(#[allow(dead_code)] u8);

#[test]
fn recursive_locking_of_a_std_adapter() {
    lockdep::set_action(lockdep::Action::Silent);
    let a: Vec<Mutex<GoldenAdapted>> = (0..1).map(GoldenAdapted).map(Mutex::new).collect();
    let b: Vec<Mutex<GoldenAdapted>> = (0..1).map(GoldenAdapted).map(Mutex::new).collect();
    let class = lockdep::class_name(lockdep::AsLockMap::as_lock_map(&a[0]).class());
    on_thread("golden-adapters", || adapters_nested(&a, &b));
    check_report("recursive_locking_std_adapter", &class);
}

static UNBALANCED: LockMap = LockMap::named("golden_unbalanced");

#[inline(never)]
fn release_unheld() {
    UNBALANCED.release();
}

#[test]
fn bad_unlock_balance() {
    lockdep::set_action(lockdep::Action::Silent);
    on_thread("golden-unlock", release_unheld);
    let report = report_about("golden_unbalanced");
    assert!(
        matches!(
            report.problem,
            lockdep::report::Problem::BadUnlockBalance { .. }
        ),
        "{report:#?}"
    );
    check_report("bad_unlock_balance", "golden_unbalanced");
}

/// The one report about `class`, checked to be of the expected kind, then
/// compared with its golden file.
fn check_misuse(golden: &str, class: &str, expected: fn(&lockdep::report::Problem) -> bool) {
    let report = report_about(class);
    assert!(expected(&report.problem), "{report:#?}");
    check_report(golden, class);
}

static LEAKED: LockMap = LockMap::named("golden_leaked");

#[inline(never)]
fn acquire_and_exit() {
    assert!(LEAKED.acquire(lockdep::Mode::Exclusive));
}

#[test]
fn held_at_thread_exit() {
    lockdep::set_action(lockdep::Action::Silent);
    on_thread("golden-leak", acquire_and_exit);
    check_misuse("held_at_thread_exit", "golden_leaked", |p| {
        matches!(p, lockdep::report::Problem::HeldAtThreadExit)
    });
}

#[inline(never)]
fn free_while_held() {
    let map = Box::new(LockMap::named("golden_freed"));
    assert!(map.acquire(lockdep::Mode::Exclusive));
    drop(map);
    assert!(
        lockdep::held_locks().is_empty(),
        "the freed lock is forgotten"
    );
}

#[test]
fn held_lock_freed() {
    lockdep::set_action(lockdep::Action::Silent);
    on_thread("golden-free", free_while_held);
    check_misuse("held_lock_freed", "golden_freed", |p| {
        matches!(p, lockdep::report::Problem::HeldLockFreed { .. })
    });
}

static ASSERTED: Mutex<()> = Mutex::named("golden_asserted", ());
static ASSERTED_NOT: Mutex<()> = Mutex::named("golden_asserted_not", ());

#[inline(never)]
fn assert_held_without_holding() {
    ASSERTED.assert_held();
}

#[inline(never)]
fn assert_not_held_while_holding() {
    let _g = ASSERTED_NOT.lock();
    ASSERTED_NOT.assert_not_held();
}

#[test]
fn assertion_failures() {
    lockdep::set_action(lockdep::Action::Silent);
    on_thread("golden-assert", || {
        assert_held_without_holding();
        assert_not_held_while_holding();
        // Assertions that hold are silent.
        let _g = ASSERTED.lock();
        ASSERTED.assert_held();
        ASSERTED_NOT.assert_not_held();
    });
    check_misuse("assert_held_failed", "golden_asserted", |p| {
        matches!(
            p,
            lockdep::report::Problem::AssertionFailed {
                expected_held: true,
                ..
            }
        )
    });
    check_misuse("assert_not_held_failed", "golden_asserted_not", |p| {
        matches!(
            p,
            lockdep::report::Problem::AssertionFailed {
                expected_held: false,
                ..
            }
        )
    });
}

static MIGHT_A: Mutex<()> = Mutex::named("golden_might_a", ());
static MIGHT_B: Mutex<()> = Mutex::named("golden_might_b", ());

#[inline(never)]
fn might_a_then_b() {
    let _a = MIGHT_A.lock();
    let _b = MIGHT_B.lock();
}

/// B is held and A *might* be taken (on some rare path): checked now.
#[inline(never)]
fn under_b_might_lock_a() {
    let _b = MIGHT_B.lock();
    MIGHT_A.might_lock();
}

#[test]
fn might_lock_is_validated() {
    lockdep::set_action(lockdep::Action::Silent);
    on_thread("golden-might", || {
        might_a_then_b();
        under_b_might_lock_a();
        assert!(lockdep::held_locks().is_empty());
    });
    check_misuse("might_lock", "golden_might_a", |p| {
        matches!(p, lockdep::report::Problem::CircularDependency { .. })
    });
}

static PINNED: Mutex<u32> = Mutex::named("golden_pinned", 0);

/// A callee that drops and retakes the lock its caller relies on.
#[inline(never)]
fn callee_drops_the_lock(
    guard: lockdep::MutexGuard<'static, u32>,
) -> lockdep::MutexGuard<'static, u32> {
    drop(guard);
    PINNED.lock()
}

#[inline(never)]
fn pin_then_call() {
    let guard = PINNED.lock();
    let pin = PINNED.pin();
    let guard = callee_drops_the_lock(guard);
    drop(pin);
    drop(guard);
}

#[test]
fn pinned_lock_released() {
    lockdep::set_action(lockdep::Action::Silent);
    on_thread("golden-pin", pin_then_call);
    check_misuse("pinned_lock_released", "golden_pinned", |p| {
        matches!(p, lockdep::report::Problem::PinnedLockReleased { .. })
    });
}

// ---- the example --------------------------------------------------------

/// `<target>/<profile>/examples/<name>`, next to this test binary's
/// `<target>/<profile>/deps/`.
fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or_else(|| panic!("unexpected test binary location {}", exe.display()));
    let bin = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "example binary {} not found: run these tests with `cargo test`, which builds \
         the examples (`cargo test --test golden` alone does not; run \
         `cargo build --examples` first then)",
        bin.display()
    );
    assert_fresh(&bin, name);
    bin
}

/// Fails if any source the example was built from changed after it was
/// built: the comparison would be of an old program. The sources are the
/// ones cargo lists in the binary's dep-info file (`<name>.d`: the
/// example, the library's sources, `build.rs`), so an edit cargo does not
/// rebuild for (a comment in `Cargo.toml`) does not count.
fn assert_fresh(bin: &Path, name: &str) {
    let modified = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    let Some(built) = modified(bin) else { return };
    let mut inputs = vec![Path::new(ROOT).join(format!("examples/{name}.rs"))];
    if let Ok(dep_info) = std::fs::read_to_string(bin.with_extension("d")) {
        // `target: dep dep ...`, spaces inside a path escaped as `\ `.
        let deps = dep_info.split_once(": ").map_or("", |(_, deps)| deps);
        let deps = deps.lines().next().unwrap_or("").replace("\\ ", "\0");
        inputs.extend(
            deps.split_whitespace()
                .map(|d| PathBuf::from(d.replace('\0', " "))),
        );
    }
    for input in inputs {
        if modified(&input).is_some_and(|t| t > built) {
            panic!(
                "example binary {} is older than {}: run `cargo test` (or \
                 `cargo build --examples`) to rebuild it",
                bin.display(),
                input.display()
            );
        }
    }
}

fn check_example(golden: &str, args: &[&str]) -> String {
    run_example("slub_sysfs", golden, args)
}

/// Runs `examples/<name>` with `args` and compares its normalized output
/// with the golden file.
fn run_example(name: &str, golden: &str, args: &[&str]) -> String {
    let bin = example_binary(name);
    let out = Command::new(&bin)
        .args(args)
        .current_dir(ROOT)
        .env_remove("LOCKDEP_ACTION")
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", bin.display()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{name} {args:?} exited with {}\nstderr:\n{stderr}\nstdout:\n{stdout}",
        out.status
    );
    let combined = normalize(
        &format!("== stderr ==\n{stderr}== stdout ==\n{stdout}"),
        ROOT,
    );
    if pinned_profile() {
        check_golden(golden, &combined);
    }
    combined
}

#[test]
fn slub_sysfs_default() {
    let out = check_example("slub_sysfs_default", &[]);
    assert!(out.contains("WARNING: possible circular locking dependency detected"));
    assert!(!out.contains("Chain exists of:"), "a two-class cycle");
    assert!(out.contains("slub_sysfs: 1 lockdep report(s)"));
}

#[test]
fn slub_sysfs_fixed() {
    let out = check_example("slub_sysfs_fixed", &["--fixed"]);
    assert!(
        !out.contains("WARNING"),
        "the fix must not be reported:\n{out}"
    );
    assert!(
        out.starts_with("== stderr ==\n== stdout ==\n"),
        "no stderr:\n{out}"
    );
    assert!(out.contains("slub_sysfs: 0 lockdep report(s)"));
}

#[test]
fn slub_sysfs_flush_under_lock() {
    let out = check_example("slub_sysfs_flush_under_lock", &["--flush-under-lock"]);
    assert!(out.contains("WARNING: possible circular locking dependency detected"));
    assert!(out.contains("Chain exists of:"), "a three-class cycle");
    assert!(out.contains("slub_sysfs: 1 lockdep report(s)"));
}

static NEST_PARENT: Mutex<()> = Mutex::named("golden_nest_parent", ());

fn nest_child() -> Mutex<u32> {
    // One construction site: every child is one class.
    Mutex::named("golden_nest_child", 0)
}

#[inline(never)]
fn child_without_its_nest_lock() {
    let child = nest_child();
    let _c = child.lock_under(&NEST_PARENT);
}

#[test]
fn nest_lock_not_held() {
    lockdep::set_action(lockdep::Action::Silent);
    on_thread("golden-nest", child_without_its_nest_lock);
    check_misuse("nest_lock_not_held", "golden_nest_child", |p| {
        matches!(p, lockdep::report::Problem::NestLockNotHeld { .. })
    });
}

// ---- async tasks (lockdep::tokio) ------------------------------------------

/// Runs `f` on a current-thread runtime, on a thread called `name`: every
/// task is polled there, so the thread in the report is stable.
fn on_runtime<F: std::future::Future<Output = ()>>(name: &str, f: impl FnOnce() -> F + Send) {
    on_thread(name, || {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f());
    });
}

static AWAITED_SYNC: Mutex<u32> = Mutex::named("golden_await_sync", 0);

#[inline(never)]
// Held across the await on purpose: the golden pins lockdep's report of it.
#[allow(clippy::await_holding_lock)]
async fn sync_guard_across_await() {
    let mut g = AWAITED_SYNC.lock();
    *g += 1;
    tokio::task::yield_now().await;
    *g += 1;
}

#[test]
fn held_across_await() {
    lockdep::set_action(lockdep::Action::Silent);
    on_runtime("golden-await", || {
        lockdep::tokio::task(sync_guard_across_await())
    });
    let report = report_about("golden_await_sync");
    assert!(report.title().contains("await"), "{report}");
    check_misuse("held_across_await", "golden_await_sync", |p| {
        matches!(p, lockdep::report::Problem::HeldAcrossAwait { .. })
    });
}

static BLOCKED_UNDER: lockdep::tokio::Mutex<u32> =
    lockdep::tokio::Mutex::named("golden_block_async", 0);

#[inline(never)]
async fn block_on_under_async_lock() {
    let _g = BLOCKED_UNDER.lock().await;
    lockdep::tokio::block_on(async {});
}

#[test]
fn blocking_wait_in_task() {
    lockdep::set_action(lockdep::Action::Silent);
    on_runtime("golden-block", || async {
        lockdep::tokio::spawn(async { *BLOCKED_UNDER.lock().await += 1 })
            .await
            .unwrap();
        lockdep::tokio::spawn(block_on_under_async_lock())
            .await
            .unwrap();
    });
    check_misuse("blocking_wait_in_task", "golden_block_async", |p| {
        matches!(p, lockdep::report::Problem::BlockingWaitInTask { .. })
    });
}

static JOINED_UNDER: lockdep::tokio::Mutex<u32> =
    lockdep::tokio::Mutex::named("golden_join_under", 0);

#[inline(never)]
async fn await_task_under_its_lock() {
    let worker = lockdep::tokio::spawn(async { *JOINED_UNDER.lock().await += 1 });
    while !worker.is_finished() {
        tokio::task::yield_now().await;
    }
    let _g = JOINED_UNDER.lock().await;
    worker.await.unwrap();
}

#[test]
fn task_awaited_under_lock() {
    lockdep::set_action(lockdep::Action::Silent);
    on_runtime("golden-join", || {
        lockdep::tokio::task(await_task_under_its_lock())
    });
    let report = report_about("golden_join_under");
    assert!(report.title().contains("await"), "{report}");
    check_misuse("task_awaited_under_lock", "golden_join_under", |p| {
        matches!(p, lockdep::report::Problem::TaskAwaitedUnderLock { .. })
    });
}

// ---- the async example ----------------------------------------------------

#[test]
fn async_cache_default() {
    let out = run_example("async_cache", "async_cache_default", &[]);
    assert!(out.contains("WARNING: possible circular locking dependency detected"));
    assert!(
        out.contains("(sources)") && out.contains("(cache)"),
        "{out}"
    );
    assert!(out.contains("async_cache: 1 lockdep report(s)"));
}

#[test]
fn async_cache_fixed() {
    let out = run_example("async_cache", "async_cache_fixed", &["--fixed"]);
    assert!(
        out.starts_with("== stderr ==\n== stdout ==\n"),
        "the fix must not be reported:\n{out}"
    );
    assert!(out.contains("async_cache: 0 lockdep report(s)"));
}

#[test]
fn async_cache_stats_across_await() {
    let out = run_example(
        "async_cache",
        "async_cache_stats_across_await",
        &["--stats-across-await"],
    );
    assert!(out.contains("WARNING: thread-bound lock held across an await!"));
    assert!(out.contains("async_cache: 1 lockdep report(s)"));
}
