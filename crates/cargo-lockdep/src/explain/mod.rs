//! `cargo lockdep explain`: Linux lockdep reports read from a kernel log
//! into lockdep's report model, rendered in the kernel's layout
//! (`lockdep::render::text`), as JSON lines (`--json`, the `report`
//! documents of docs/json-schema.md, which `graph` reads back), or drawn
//! (`--html`, `--dot`).

pub mod log;
pub mod parse;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::graph::model::ClassGraph;
use parse::Explained;

/// `cargo lockdep explain <kernel-log>`.
#[derive(clap::Args)]
pub struct Args {
    /// The kernel log (`dmesg`, syslog, journal, console or a mail); `-`
    /// reads standard input.
    pub log: PathBuf,
    /// Print each report as one line of JSON (a `report` document of
    /// docs/json-schema.md) instead of the kernel's layout.
    #[arg(long)]
    pub json: bool,
    /// Also draw the reports' classes.
    #[command(flatten)]
    pub out: crate::graph::Outputs,
}

/// Runs the command: prints each report in the kernel's layout (or as
/// JSON); 0 when at
/// least one report was read, 2 on an error (printed, naming the line).
pub fn run(args: Args) -> ExitCode {
    let result = read_input(&args.log).and_then(|text| {
        let explained = parse(&args.log, &text)?;
        for (line, title) in &explained.skipped {
            eprintln!(
                "cargo lockdep explain: {}:{line}: skipped \"{title}\" (not a kind explain reads)",
                args.log.display()
            );
        }
        for (_, report) in &explained.reports {
            if args.json {
                println!("{}", lockdep::render::json::line(report));
            } else {
                print!("{}", lockdep::render::text(report));
            }
        }
        if args.out.any() {
            let g = class_graph(&args.log, &explained);
            crate::graph::write(&g, &args.log, &args.out)?;
        }
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cargo lockdep explain: {e}");
            ExitCode::from(2)
        }
    }
}

/// The text of `path` (`-`: standard input). Bytes that are not UTF-8 are
/// replaced: logs hold all sorts.
pub fn read_input(path: &Path) -> Result<String, String> {
    let mut bytes = Vec::new();
    let read = if path == Path::new("-") {
        std::io::stdin().read_to_end(&mut bytes).map(|_| ())
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes).map(|_| ()))
    };
    read.map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The reports in `text`; an error names the file and the line.
pub fn parse(path: &Path, text: &str) -> Result<Explained, String> {
    parse::parse_log(text).map_err(|e| format!("{}:{}: {}", path.display(), e.line, e.message))
}

/// The class graph of the reports read from `path`.
pub fn class_graph(path: &Path, explained: &Explained) -> ClassGraph {
    let mut g = ClassGraph::default();
    let name = path.display();
    for (line, report) in &explained.reports {
        g.add_report(report, &format!("{name}:{line}"));
    }
    g
}
