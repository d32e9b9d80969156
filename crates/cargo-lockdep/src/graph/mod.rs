//! `cargo lockdep graph`: draws the class graph of a kernel log (through
//! `explain`'s parser) as one HTML page or as DOT.

pub mod dot;
pub mod draw;
pub mod html;
pub mod model;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use model::ClassGraph;

/// `cargo lockdep graph <input> --html <out> | --dot <out>`.
#[derive(clap::Args)]
pub struct Args {
    /// A kernel log with lockdep reports.
    pub input: PathBuf,
    /// Write the picture as one self-contained HTML page.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write the graph in Graphviz's DOT language.
    #[arg(long, value_name = "FILE")]
    pub dot: Option<PathBuf>,
}

/// Runs the command: 0 when written, 2 on an error (printed).
pub fn run(args: Args) -> ExitCode {
    if args.html.is_none() && args.dot.is_none() {
        eprintln!("cargo lockdep graph: give --html FILE or --dot FILE");
        return ExitCode::from(2);
    }
    match load(&args.input).and_then(|g| write(&g, &args.input, args.html, args.dot)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cargo lockdep graph: {e}");
            ExitCode::from(2)
        }
    }
}

/// The class graph of `input`.
pub fn load(input: &Path) -> Result<ClassGraph, String> {
    let text = crate::explain::read_input(input)?;
    let explained = crate::explain::parse(input, &text)?;
    Ok(crate::explain::class_graph(input, &explained))
}

/// Writes the page and the DOT file asked for.
pub fn write(
    g: &ClassGraph,
    input: &Path,
    html: Option<PathBuf>,
    dot: Option<PathBuf>,
) -> Result<(), String> {
    let title = input.file_name().map_or_else(
        || input.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    if let Some(out) = html {
        let page = html::page(g, &title)?;
        std::fs::write(&out, page).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    if let Some(out) = dot {
        std::fs::write(&out, dot::dot(g)).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    Ok(())
}
