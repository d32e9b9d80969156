//! `cargo lockdep graph`: draws the class graph of a record directory
//! (merged as `merge` does), a JSON file of lockdep documents (reports,
//! a merged graph, a dump, a record) or a kernel log (read by `explain`),
//! as one HTML page or as DOT.

pub mod dot;
pub mod draw;
pub mod html;
pub mod model;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use lockdep::schema::{self, Document, Envelope};
use model::ClassGraph;

/// `cargo lockdep graph <input> --html <out> | --dot <out>`.
#[derive(clap::Args)]
pub struct Args {
    /// A directory of records (LOCKDEP_RECORD), a JSON file of lockdep
    /// documents (LOCKDEP_REPORT_FILE, `merge --json`, a dump, a record), or
    /// a kernel log.
    pub input: PathBuf,
    #[command(flatten)]
    pub out: Outputs,
    /// Draw only the classes of reported cycles and the dependencies among
    /// them (for a large graph).
    #[arg(long)]
    pub cycles_only: bool,
}

/// Where to draw the graph (`graph`, and `explain` besides its text).
#[derive(clap::Args)]
pub struct Outputs {
    /// Write the picture as one self-contained HTML page.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write the graph in Graphviz's DOT language.
    #[arg(long, value_name = "FILE")]
    pub dot: Option<PathBuf>,
}

impl Outputs {
    /// Is any output asked for?
    pub fn any(&self) -> bool {
        self.html.is_some() || self.dot.is_some()
    }
}

/// Runs the command: 0 when written, 2 on an error (printed).
pub fn run(args: Args) -> ExitCode {
    if !args.out.any() {
        eprintln!("cargo lockdep graph: give --html FILE or --dot FILE");
        return ExitCode::from(2);
    }
    let drawn = load(&args.input).and_then(|g| {
        let g = if args.cycles_only { g.cycles_only() } else { g };
        write(&g, &args.input, &args.out)
    });
    match drawn {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cargo lockdep graph: {e}");
            ExitCode::from(2)
        }
    }
}

/// The class graph of `input`.
pub fn load(input: &Path) -> Result<ClassGraph, String> {
    if input.is_dir() {
        return from_graph(input, &merge(input)?);
    }
    let text = crate::explain::read_input(input)?;
    if !text.trim_start().starts_with('{') {
        let explained = crate::explain::parse(input, &text)?;
        return Ok(crate::explain::class_graph(input, &explained));
    }
    let name = input.display().to_string();
    let mut g = ClassGraph::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let doc = Envelope::parse(line).map_err(|e| format!("{name}:{}: {e}", i + 1))?;
        let origin = format!("{name}:{}", i + 1);
        match doc.document {
            Document::Report(r) => g.add_report(&r, &origin),
            Document::Graph(m) => g.add_graph(
                &m.classes,
                &m.dependencies,
                &m.processes,
                &m.cycles,
                &origin,
            ),
            Document::Dump(d) => g.add_graph(&d.classes, &d.dependencies, &[], &[], &origin),
            // A record file: merged on its own, as `merge` would.
            Document::Process(_) => return from_graph(input, &merge(input)?),
            _ => {
                return Err(format!(
                    "{origin}: a record's class or dependency before its process line"
                ))
            }
        }
    }
    if g.classes.is_empty() && g.cycles.is_empty() {
        return Err(format!("{name}: no report, graph, dump or record in it"));
    }
    Ok(g)
}

fn merge(input: &Path) -> Result<schema::Graph, String> {
    crate::merge::merge(&[input.to_path_buf()]).map_err(|e| e.to_string())
}

fn from_graph(input: &Path, m: &schema::Graph) -> Result<ClassGraph, String> {
    let mut g = ClassGraph::default();
    g.add_graph(
        &m.classes,
        &m.dependencies,
        &m.processes,
        &m.cycles,
        &input.display().to_string(),
    );
    Ok(g)
}

/// Writes the page and the DOT file asked for.
pub fn write(g: &ClassGraph, input: &Path, out: &Outputs) -> Result<(), String> {
    let title = input.file_name().map_or_else(
        || input.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    if let Some(out) = &out.html {
        let page = html::page(g, &title)?;
        std::fs::write(out, page).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    if let Some(out) = &out.dot {
        std::fs::write(out, dot::dot(g)).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A `graph` document with classes, dependencies and cycles whose ids
    /// may point anywhere.
    fn graph_doc() -> impl Strategy<Value = String> {
        let ids = || prop::collection::vec(0u32..10, 0..5);
        (
            1usize..8,
            prop::collection::vec((0u32..10, 0u32..10, "(EN|SR|EN\\|SN)?"), 0..12),
            prop::collection::vec((ids(), ids()), 0..3),
        )
            .prop_map(|(classes, deps, cycles)| {
                let classes: Vec<_> = (0..classes)
                    .map(|i| serde_json::json!({"id": i, "key": format!("k{i}"), "name": format!("c{i}"), "subclass": 0}))
                    .collect();
                let deps: Vec<_> = deps
                    .iter()
                    .map(|(f, t, ty)| serde_json::json!({"from": f, "to": t, "types": ty, "stack": [{"function": "f", "file": null, "line": null}]}))
                    .collect();
                let report = serde_json::json!({
                    "process": {"pid": 1, "executable": "x", "lockdep_version": "0"},
                    "thread": {"name": "t", "id": 1},
                    "problem": {"kind": "held_at_thread_exit"},
                    "held": [], "backtrace": []
                });
                let cycles: Vec<_> = cycles
                    .iter()
                    .map(|(c, d)| serde_json::json!({"classes": c, "dependencies": d, "across_processes": true, "report": report}))
                    .collect();
                serde_json::json!({"schema_version": 1, "kind": "graph", "processes": [],
                    "classes": classes, "dependencies": deps, "cycles": cycles})
                .to_string()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Whatever ids a document holds, it loads, draws and becomes a
        /// page (or an error), never a panic.
        #[test]
        fn any_graph_document_draws(doc in graph_doc()) {
            let dir = std::env::temp_dir().join(format!("lockdep-graph-fuzz-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("g.json");
            std::fs::write(&path, &doc).unwrap();
            let g = load(&path).map_err(TestCaseError::fail)?;
            for d in &g.deps {
                prop_assert!(d.from < g.classes.len() && d.to < g.classes.len());
            }
            if let Ok(page) = html::page(&g, "fuzz") {
                prop_assert!(page.contains("id=\"graph-data\""));
            }
            prop_assert!(dot::dot(&g).starts_with("digraph"));
        }
    }
}
