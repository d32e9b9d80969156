//! `cargo lockdep`: the command-line side of lockdep.
//!
//! Each subcommand lives in its own module; this file only parses the
//! command line and dispatches.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod explain;
mod graph;
mod merge;

/// How cargo runs a subcommand: `cargo lockdep ARGS` runs
/// `cargo-lockdep lockdep ARGS`.
#[derive(Parser)]
#[command(name = "cargo", bin_name = "cargo")]
enum Cargo {
    /// lockdep's tools.
    Lockdep(Cli),
}

#[derive(clap::Args)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Merge the records of many processes (`LOCKDEP_RECORD=<dir>`) and find
    /// the cycles no single process saw. Exit 1 if any, 0 if none, 2 on bad
    /// input.
    Merge(merge::Args),
    /// Read Linux lockdep reports from a kernel log and render them in the
    /// kernel's layout, as JSON, or drawn. Exit 0, or 2 on bad input.
    Explain(explain::Args),
    /// Draw the class graph of a record directory, a JSON report file or a
    /// kernel log, as one HTML page or as DOT. Exit 0, or 2 on bad input.
    Graph(graph::Args),
}

fn main() -> ExitCode {
    let Cargo::Lockdep(cli) = Cargo::parse();
    match cli.command {
        Command::Merge(args) => merge::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Graph(args) => graph::run(args),
    }
}
