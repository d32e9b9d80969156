//! Reports as a SARIF 2.1.0 log, for code scanning in CI.
//!
//! One run, of the tool `lockdep`, with one rule per kind of problem. Each
//! report is a result: its location is where the lock was being acquired
//! (or released), and its code flow has a thread flow for each side of the
//! deadlock. For a circular dependency, one per dependency of the cycle
//! (the stack that first took the second lock while holding the first),
//! the last being the acquisition that closed it; for any other report,
//! one, the reporting thread's stack. A thread flow's locations run
//! outermost call first.
//!
//! Paths under the workspace root given are relative to it, with the
//! `uriBaseId` `%SRCROOT%`; paths already relative (a crate's own files, as
//! `Location::caller` and lockdep's symbolization give them) are taken as
//! relative to it too; other absolute paths (the toolchain's, a registry
//! crate's) are `file://` URIs. Every URI is percent-encoded (RFC 3986):
//! a path with a space or a non-ASCII name is still a valid URI, which the
//! SARIF schema requires (`.ci/sarif-check`).

use std::path::Path;

use serde_json::{json, Value};

use crate::report::{Frame, LockInfo, Problem, Report, Site};

/// The rules: one per kind of problem, `(id, short description)`.
const RULES: [(&str, &str); 9] = [
    (
        "circular-dependency",
        "possible circular locking dependency (a lock-order cycle: a deadlock)",
    ),
    ("recursive-locking", "possible recursive locking"),
    ("bad-unlock-balance", "a lock released that is not held"),
    ("held-at-thread-exit", "a thread exited with locks held"),
    ("held-lock-freed", "a lock freed while held"),
    ("assertion-failed", "a lock assertion failed"),
    ("pinned-lock-released", "a pinned lock was released"),
    (
        "nest-lock-not-held",
        "a lock taken under a nest lock not held",
    ),
    ("other", "another lockdep report"),
];

fn rule_of(report: &Report) -> usize {
    match report.problem {
        Problem::CircularDependency { .. } => 0,
        Problem::RecursiveLocking { .. } => 1,
        Problem::BadUnlockBalance { .. } => 2,
        Problem::HeldAtThreadExit => 3,
        Problem::HeldLockFreed { .. } => 4,
        Problem::AssertionFailed { .. } => 5,
        Problem::PinnedLockReleased { .. } => 6,
        Problem::NestLockNotHeld { .. } => 7,
        #[allow(unreachable_patterns)]
        _ => 8,
    }
}

/// The SARIF log of `reports`, paths relative to `root` (see the module
/// docs). Symbolizes the reports' stacks if they were not yet.
///
/// ```
/// # use lockdep::render::sarif;
/// lockdep::set_action(lockdep::Action::Silent);
/// let (a, b) = (lockdep::Mutex::named("sarif_a", ()), lockdep::Mutex::named("sarif_b", ()));
/// drop((a.lock(), b.lock()));
/// drop((b.lock(), a.lock()));
/// let log = sarif::log(&lockdep::reports(), &std::env::current_dir().unwrap());
/// assert_eq!(log["version"], "2.1.0");
/// let result = &log["runs"][0]["results"][0];
/// assert_eq!(result["ruleId"], "lockdep/circular-dependency");
/// // A thread flow for each side: a -> b, then b -> a.
/// let flows = result["codeFlows"][0]["threadFlows"].as_array().unwrap();
/// assert_eq!(flows[0]["message"]["text"], "holding sarif_a, acquires sarif_b (EN)");
/// assert_eq!(flows[1]["message"]["text"], "holding sarif_b, acquires sarif_a (EN)");
/// ```
pub fn log(reports: &[impl AsRef<Report>], root: &Path) -> Value {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|(id, text)| {
            json!({
                "id": format!("lockdep/{id}"),
                "name": id,
                "shortDescription": { "text": text },
                "defaultConfiguration": { "level": "error" },
            })
        })
        .collect();
    let root_uri = format!(
        "file://{}/",
        encode(root.display().to_string().trim_end_matches('/'))
    );
    json!({
        "$schema": "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "lockdep",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "originalUriBaseIds": { "%SRCROOT%": { "uri": root_uri } },
            "results": reports.iter().map(|r| result(r.as_ref(), root)).collect::<Vec<_>>(),
        }],
    })
}

/// The log as text, followed by a newline.
pub fn text(reports: &[impl AsRef<Report>], root: &Path) -> String {
    let mut s = serde_json::to_string_pretty(&log(reports, root)).unwrap_or_default();
    s.push('\n');
    s
}

fn result(report: &Report, root: &Path) -> Value {
    let rule = rule_of(report);
    let names = report.class_names().join(" -> ");
    let message = format!("{}: {names}", report.title());
    let site = main_site(report);
    let mut result = json!({
        "ruleId": format!("lockdep/{}", RULES[rule].0),
        "ruleIndex": rule,
        "level": "error",
        "message": { "text": message },
        "partialFingerprints": { "lockdepClasses/v1": sorted_names(report) },
        "codeFlows": [{ "threadFlows": thread_flows(report, root) }],
    });
    if let Some(loc) = site.and_then(|s| physical(&s.file, Some(s.line), Some(s.column), root)) {
        result["locations"] = json!([{ "physicalLocation": loc }]);
    } else if let Some(loc) = report
        .backtrace
        .iter()
        .find_map(|f| frame_location(f, root))
    {
        result["locations"] = json!([{ "physicalLocation": loc }]);
    }
    result
}

/// What the report is about most precisely: where the lock was acquired.
fn main_site(report: &Report) -> Option<&Site> {
    let lock: Option<&LockInfo> = match &report.problem {
        Problem::CircularDependency { acquiring, .. }
        | Problem::RecursiveLocking { acquiring, .. }
        | Problem::NestLockNotHeld { acquiring, .. } => Some(acquiring),
        Problem::BadUnlockBalance { releasing } => Some(releasing),
        Problem::HeldLockFreed { lock }
        | Problem::AssertionFailed { lock, .. }
        | Problem::PinnedLockReleased { lock } => Some(lock),
        _ => report.held.last(),
    };
    lock.and_then(|l| l.at.as_ref())
}

/// The classes, sorted: the same cycle found twice has one fingerprint.
fn sorted_names(report: &Report) -> String {
    let mut names = report.class_names();
    names.sort_unstable();
    names.dedup();
    names.join("|")
}

fn thread_flows(report: &Report, root: &Path) -> Vec<Value> {
    match &report.problem {
        Problem::CircularDependency { holding, chain, .. } if !chain.is_empty() => {
            let n = chain.len();
            // Link i is the dependency into its class from the next link's
            // class (the held lock's, for the last link, the acquisition
            // that closes the cycle).
            chain
                .iter()
                .enumerate()
                .map(|(i, link)| {
                    let from = if i + 1 == n {
                        &holding.name
                    } else {
                        &chain[i + 1].lock.name
                    };
                    let mut text = format!(
                        "holding {from}, acquires {} ({})",
                        link.lock.name, link.dependency
                    );
                    if let Some(who) = &link.learned_by {
                        text.push_str(&format!(", learned by {who}"));
                    }
                    flow(&text, &link.trace, root)
                })
                .collect()
        }
        _ => vec![flow(
            &format!("thread {}", report.thread),
            &report.backtrace,
            root,
        )],
    }
}

fn flow(text: &str, frames: &[Frame], root: &Path) -> Value {
    let locations: Vec<Value> = frames
        .iter()
        .rev()
        .filter_map(|f| {
            frame_location(f, root).map(|loc| {
                json!({
                    "location": {
                        "physicalLocation": loc,
                        "message": { "text": f.function },
                    },
                })
            })
        })
        .collect();
    json!({ "message": { "text": text }, "locations": locations })
}

fn frame_location(f: &Frame, root: &Path) -> Option<Value> {
    physical(f.file.as_deref()?, f.line, None, root)
}

fn physical(file: &str, line: Option<u32>, column: Option<u32>, root: &Path) -> Option<Value> {
    let path = Path::new(file);
    let artifact = match path.strip_prefix(root) {
        Ok(rel) => json!({ "uri": encode(&rel.display().to_string()), "uriBaseId": "%SRCROOT%" }),
        Err(_) if path.is_absolute() => json!({ "uri": format!("file://{}", encode(file)) }),
        Err(_) => json!({ "uri": encode(file), "uriBaseId": "%SRCROOT%" }),
    };
    let mut loc = json!({ "artifactLocation": artifact });
    if let Some(line) = line.filter(|&l| l > 0) {
        loc["region"] = json!({ "startLine": line });
        if let Some(col) = column.filter(|&c| c > 0) {
            loc["region"]["startColumn"] = json!(col);
        }
    }
    Some(loc)
}

/// `path` as a URI's path: every byte but RFC 3986's unreserved characters
/// and `/` as `%HH` (a `:` too, which would read as a scheme in a relative
/// reference).
fn encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(file: &str, root: &str) -> Value {
        let loc = physical(file, Some(3), None, Path::new(root)).expect("a location");
        loc["artifactLocation"]["uri"].clone()
    }

    #[test]
    fn uris_are_percent_encoded() {
        let root = "/home/me/My Projects/app";
        // Under the root, relative; elsewhere absolute; already relative.
        assert_eq!(
            uri("/home/me/My Projects/app/src/a b.rs", root),
            "src/a%20b.rs"
        );
        assert_eq!(
            uri("/opt/rust/100%/lib#1.rs", root),
            "file:///opt/rust/100%25/lib%231.rs"
        );
        assert_eq!(
            uri("tests/\u{e9}t\u{e9}.rs", root),
            "tests/%C3%A9t%C3%A9.rs"
        );
        assert_eq!(uri("C:x.rs", root), "C%3Ax.rs");
        // Plain paths are unchanged.
        assert_eq!(uri("src/lib.rs", root), "src/lib.rs");
        let log = log(&[] as &[Report], Path::new(root));
        assert_eq!(
            log["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"],
            "file:///home/me/My%20Projects/app/"
        );
    }
}
