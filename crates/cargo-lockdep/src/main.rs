//! `cargo lockdep`: lockdep's command-line tool.

mod explain;
mod graph;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Cargo runs `cargo-lockdep lockdep <args>`: the outer command takes the
/// `lockdep` word, the inner one the subcommands.
#[derive(Parser)]
#[command(name = "cargo", bin_name = "cargo")]
enum Cargo {
    /// lockdep's tool: explain kernel reports, draw class graphs.
    #[command(subcommand)]
    Lockdep(Command),
}

#[derive(Subcommand)]
enum Command {
    /// Read Linux lockdep reports from a kernel log and render them.
    Explain(explain::Args),
    /// Draw the class graph of a report, a kernel log or a record directory.
    Graph(graph::Args),
}

fn main() -> ExitCode {
    let Cargo::Lockdep(command) = Cargo::parse();
    match command {
        Command::Explain(args) => explain::run(args),
        Command::Graph(args) => graph::run(args),
    }
}
