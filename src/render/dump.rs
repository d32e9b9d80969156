//! [`crate::dump()`] as text, in the layout of the kernel's `/proc/lockdep`,
//! `/proc/lockdep_chains` and `/proc/lockdep_stats`, or as JSON.

use std::fmt::Write;

use crate::schema::{Document, Dump, Envelope};

/// The dump as text: every class (`id FD: n BD: n usage: name`, then its
/// forward dependencies, ` -> [id] name (types)`), every chain (its
/// classes, outermost first), then the counters.
pub fn text(dump: &Dump) -> String {
    let mut out = String::new();
    let name = |id: u32| {
        dump.classes
            .get(id as usize)
            .filter(|c| c.id == id)
            .or_else(|| dump.classes.iter().find(|c| c.id == id))
            .map_or("<unknown class>", |c| c.name.as_str())
    };
    let _ = writeln!(out, "all lock classes:");
    for c in &dump.classes {
        let _ = writeln!(
            out,
            "{:>4} FD: {:>4} BD: {:>4} {}: {}",
            c.id, c.forward, c.backward, c.usage, c.name
        );
        for d in dump.dependencies.iter().filter(|d| d.from == c.id) {
            let _ = writeln!(out, " -> [{}] {} ({})", d.to, name(d.to), d.types);
        }
    }
    let _ = writeln!(out, "\nall lock chains:");
    for (i, chain) in dump.chains.iter().enumerate() {
        let _ = writeln!(out, "chain {i}:");
        for l in &chain.locks {
            let how = match (l.mode, l.trylock) {
                (m, false) => format!("{m:?}"),
                (m, true) => format!("{m:?}, trylock"),
            };
            let _ = writeln!(out, " [{}] {} ({how})", l.class, name(l.class));
        }
    }
    let s = &dump.stats;
    let _ = writeln!(out, "\nlockdep stats:");
    for (label, value) in [
        ("lock-classes", s.classes),
        ("direct dependencies", s.dependencies),
        ("dependency chains", s.chains),
        ("stack-trace entries", s.stack_traces),
        ("reports", s.reports),
        ("reports dropped from the log", s.reports_dropped),
        ("dependencies dropped", s.dependencies_dropped),
        ("internal errors", s.internal_errors),
        ("memory bytes", s.memory_bytes),
        ("record lines written", s.record_lines),
        ("record write errors", s.record_errors),
        ("report file write errors", s.report_file_errors),
    ] {
        let _ = writeln!(out, " {:<30} {value:>10}", format!("{label}:"));
    }
    let _ = writeln!(out, " {:<30} {:>10}", "frozen:", s.frozen);
    out
}

/// The dump as one line of JSON (an [`Envelope`] of [`Document::Dump`]).
pub fn json(dump: &Dump) -> String {
    Envelope::new(Document::Dump(dump.clone())).to_line()
}
