//! `cargo lockdep merge <dir>`: the records of many processes
//! (`LOCKDEP_RECORD=<dir>`) merged into one graph, searched for the cycles
//! no single process could see.
//!
//! Classes are joined by their stable key, dependencies by their pair of
//! classes. Every recorded dependency type is then replayed, in file-name
//! and line order, through `lockdep::offline::Graph::learn`: the
//! validator's own step (the same strong-cycle search before each new
//! dependency), so each cycle is the one a process that learned all of
//! them would have reported, once per set of classes.

use std::collections::HashMap;
use std::fmt;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use lockdep::offline::{DepType, Graph};
use lockdep::report::{
    Backtrace, ChainLink, Frame, LockInfo, Problem, ProcessInfo, Report, ThreadInfo,
};
use lockdep::schema::{self, Class, Cycle, Dependency, Document, Envelope, Process};
use lockdep::Mode;

/// `merge`'s command line.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The directory of records (or record files).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Print the merged graph and its cycles as one JSON document
    /// (docs/json-schema.md, kind "graph").
    #[arg(long, conflicts_with = "sarif")]
    json: bool,
    /// Print the cycles as a SARIF 2.1.0 log, paths relative to --root.
    #[arg(long)]
    sarif: bool,
    /// The workspace root that SARIF paths are relative to (default: the
    /// current directory).
    #[arg(long)]
    root: Option<PathBuf>,
}

/// Runs `merge`: exit 1 if a cycle is found, 0 if none, 2 on bad input.
pub fn run(args: Args) -> ExitCode {
    let graph = match merge(&args.paths) {
        Ok(g) => g,
        Err(e) => {
            eprintln!("cargo lockdep merge: {e}");
            return ExitCode::from(2);
        }
    };
    let found = !graph.cycles.is_empty();
    if args.json {
        println!("{}", Envelope::new(Document::Graph(graph)).to_line());
    } else if args.sarif {
        let root = args
            .root
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_default();
        let reports: Vec<&Report> = graph.cycles.iter().map(|c| &c.report).collect();
        print!("{}", lockdep::render::sarif::text(&reports, &root));
    } else {
        for cycle in &graph.cycles {
            print!("{}", lockdep::render::text(&cycle.report));
        }
        let across = graph.cycles.iter().filter(|c| c.across_processes).count();
        println!(
            "cargo lockdep merge: {} record(s), {} class(es), {} dependencies, {} cycle(s) \
             ({across} across processes)",
            graph.processes.len(),
            graph.classes.len(),
            graph.dependencies.len(),
            graph.cycles.len(),
        );
    }
    if found {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Reads and merges the records in `paths` (directories of `*.jsonl`, or
/// files) and searches the merged graph: what `merge` prints, for any
/// command that draws or lists it. Warnings (a last line cut short) go to
/// standard error; a progress line is drawn there on a terminal.
pub fn merge(paths: &[PathBuf]) -> Result<schema::Graph, InputError> {
    let files = record_files(paths)?;
    let progress = progress(files.len() as u64);
    let mut merged = Merged::default();
    for file in &files {
        let name = file.display().to_string();
        progress.set_message(name.clone());
        let read = std::fs::read(file)
            .map_err(|e| InputError {
                file: name.clone(),
                line: None,
                message: format!("cannot read: {e}"),
            })
            .and_then(|bytes| parse_record(&name, &bytes));
        let record = match read {
            Ok(r) => r,
            Err(e) => {
                progress.finish_and_clear();
                return Err(e);
            }
        };
        for w in &record.warnings {
            progress.suspend(|| eprintln!("cargo lockdep merge: warning: {w}"));
        }
        merged.add(record);
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(merged.search())
}

/// A progress line on standard error, drawn only on a terminal.
fn progress(files: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() || files < 2 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(files);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("merging {pos}/{len} records {wide_msg}")
    {
        bar.set_style(style);
    }
    bar
}

/// The record files: `*.jsonl` in each directory given, and each file
/// given, in name order.
fn record_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, InputError> {
    let mut files = Vec::new();
    for path in paths {
        let err = |message: String| InputError {
            file: path.display().to_string(),
            line: None,
            message,
        };
        let meta = std::fs::metadata(path).map_err(|e| err(format!("cannot read: {e}")))?;
        if meta.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|e| err(format!("cannot list: {e}")))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "jsonl") && p.is_file())
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

/// Input that cannot be merged, and where.
#[derive(Debug, PartialEq, Eq)]
pub struct InputError {
    file: String,
    line: Option<usize>,
    message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// One process's record, as read.
#[derive(Debug, Default)]
pub struct Record {
    process: Process,
    /// By the process's own class id.
    classes: HashMap<u32, Class>,
    dependencies: Vec<(DepType, Dependency)>,
    warnings: Vec<String>,
}

/// Reads one record file. Never panics: anything that is not a record is an
/// error naming the file and line (a last line without its newline, left by
/// a process killed mid-write, is a warning and skipped).
pub fn parse_record(file: &str, bytes: &[u8]) -> Result<Record, InputError> {
    let mut record = Record::default();
    let mut seen_process = false;
    let mut lines = bytes.split(|&b| b == b'\n').enumerate().peekable();
    while let Some((i, raw)) = lines.next() {
        let last = lines.peek().is_none();
        let at = |message: String| InputError {
            file: file.to_string(),
            line: Some(i + 1),
            message,
        };
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = std::str::from_utf8(raw)
            .map_err(|e| format!("not UTF-8: {e}"))
            .and_then(|text| Envelope::parse(text).map_err(|e| e.to_string()));
        let doc = match parsed {
            Ok(doc) => doc.document,
            // Not followed by a newline: cut short by a crash.
            Err(e) if last => {
                record.warnings.push(format!(
                    "{file}:{}: skipped an unfinished last line ({e})",
                    i + 1
                ));
                continue;
            }
            Err(e) => return Err(at(e)),
        };
        match doc {
            Document::Process(p) if !seen_process => {
                record.process = p;
                seen_process = true;
            }
            _ if !seen_process => {
                return Err(at("a record starts with a \"process\" line".into()));
            }
            Document::Process(_) => return Err(at("a second \"process\" line".into())),
            Document::Class(c) => {
                if let Some(old) = record.classes.get(&c.id) {
                    if old.key != c.key {
                        return Err(at(format!(
                            "class {} declared again with another key",
                            c.id
                        )));
                    }
                }
                record.classes.insert(c.id, c);
            }
            Document::Dependency(d) => {
                for id in [d.from, d.to] {
                    if !record.classes.contains_key(&id) {
                        return Err(at(format!("dependency on class {id}, not declared above")));
                    }
                }
                let types = DepType::parse_list(&d.types).map_err(&at)?;
                for t in types {
                    record.dependencies.push((t, d.clone()));
                }
            }
            _ => return Err(at("not a record line (process, class or dependency)".into())),
        }
    }
    if !seen_process {
        return Err(InputError {
            file: file.to_string(),
            line: None,
            message: "empty: no \"process\" line".into(),
        });
    }
    Ok(record)
}

/// One recorded dependency type, with its classes joined.
struct Learned {
    from: u32,
    to: u32,
    dep: DepType,
    from_mode: Mode,
    to_mode: Mode,
    stack: Vec<Frame>,
    process: u32,
}

/// Records joined by class key, in the order read.
#[derive(Default)]
struct Merged {
    processes: Vec<Process>,
    classes: Vec<Class>,
    by_key: HashMap<String, u32>,
    learned: Vec<Learned>,
}

impl Merged {
    fn add(&mut self, record: Record) {
        let process = self.processes.len() as u32;
        self.processes.push(record.process);
        let mut ids: Vec<_> = record.classes.into_values().collect();
        ids.sort_by_key(|c| c.id);
        let mut local = HashMap::new();
        for c in ids {
            let next = self.classes.len() as u32;
            let id = *self.by_key.entry(c.key.clone()).or_insert(next);
            if id == next {
                self.classes.push(Class {
                    id,
                    usage: "...".into(),
                    forward: 0,
                    backward: 0,
                    ..c.clone()
                });
            }
            local.insert(c.id, id);
        }
        for (dep, d) in record.dependencies {
            let (held, acquired) = dep.modes();
            self.learned.push(Learned {
                from: local[&d.from],
                to: local[&d.to],
                dep,
                from_mode: d.from_mode.unwrap_or(held),
                to_mode: d.to_mode.unwrap_or(acquired),
                stack: d.stack,
                process,
            });
        }
    }

    /// Replays every dependency through the validator's step, and builds
    /// the graph with each cycle's report.
    fn search(mut self) -> schema::Graph {
        let mut usage: Vec<[bool; 3]> = vec![[false; 3]; self.classes.len()];
        let mode_index = |m: Mode| match m {
            Mode::Exclusive => 0,
            Mode::Shared => 1,
            Mode::SharedRecursive => 2,
        };
        for l in &self.learned {
            usage[l.from as usize][mode_index(l.from_mode)] = true;
            usage[l.to as usize][mode_index(l.to_mode)] = true;
        }
        for (c, u) in self.classes.iter_mut().zip(&usage) {
            c.usage = u.iter().map(|&s| if s { '+' } else { '.' }).collect();
        }
        let mut graph = Graph::new();
        let mut pairs: HashMap<(u32, u32), u32> = HashMap::new();
        let mut dependencies: Vec<Dependency> = Vec::new();
        let mut types: Vec<Vec<DepType>> = Vec::new();
        let mut found: Vec<(Vec<u32>, Cycle)> = Vec::new();
        for (i, l) in self.learned.iter().enumerate() {
            let path = graph.learn(l.from, l.to, l.dep, i as u32);
            let pair = *pairs.entry((l.from, l.to)).or_insert_with(|| {
                dependencies.push(Dependency {
                    from: l.from,
                    to: l.to,
                    stack: l.stack.clone(),
                    process: Some(l.process),
                    ..Default::default()
                });
                types.push(Vec::new());
                dependencies.len() as u32 - 1
            });
            if !types[pair as usize].contains(&l.dep) {
                types[pair as usize].push(l.dep);
            }
            let Some(path) = path else { continue };
            let mut set: Vec<u32> = path.iter().map(|e| e.to).chain([l.to]).collect();
            set.sort_unstable();
            set.dedup();
            if found.iter().any(|(s, _)| *s == set) {
                continue;
            }
            let cycle = self.cycle(i, &path, &pairs);
            found.push((set, cycle));
        }
        for (d, t) in dependencies.iter_mut().zip(&types) {
            d.types = DepType::names(t);
            self.classes[d.from as usize].forward += 1;
            self.classes[d.to as usize].backward += 1;
        }
        schema::Graph {
            processes: self.processes,
            classes: self.classes,
            dependencies,
            cycles: found.into_iter().map(|(_, c)| c).collect(),
        }
    }

    /// The report of the cycle that `learned[closing]` closes through `path`
    /// (from its `to` back to its `from`), in a process's layout.
    fn cycle(
        &self,
        closing: usize,
        path: &[lockdep::offline::PathEdge],
        pairs: &HashMap<(u32, u32), u32>,
    ) -> Cycle {
        let l = &self.learned[closing];
        let lock = |class: u32, mode: Mode| LockInfo {
            class: lockdep::offline::class_id(class),
            name: self.classes[class as usize].name.clone(),
            usage: self.classes[class as usize].usage.clone(),
            mode,
            trylock: false,
            at: None,
            kernel: None,
        };
        let who = |i: usize| self.processes[self.learned[i].process as usize].describe();
        // Print order: the held lock's class (#N) back along the path, to
        // the lock being acquired (#0), with the closing dependency's stack.
        let mut chain: Vec<ChainLink> = path
            .iter()
            .rev()
            .map(|e| ChainLink {
                lock: lock(e.to, Mode::Exclusive),
                dependency: DepType::names(&e.types),
                trace: Backtrace::from_frames(self.learned[e.tag as usize].stack.clone()),
                learned_by: Some(who(e.tag as usize)),
            })
            .collect();
        let stack = Backtrace::from_frames(l.stack.clone());
        chain.push(ChainLink {
            lock: lock(l.to, l.to_mode),
            dependency: l.dep.name().to_string(),
            trace: stack.clone(),
            learned_by: Some(who(closing)),
        });
        let p = &self.processes[l.process as usize];
        let holding = lock(l.from, l.from_mode);
        let report = Report {
            process: ProcessInfo::from(p),
            thread: ThreadInfo {
                name: p.test_name.clone().unwrap_or_else(|| "<merged>".into()),
                id: 0,
            },
            problem: Problem::CircularDependency {
                acquiring: lock(l.to, l.to_mode),
                holding: holding.clone(),
                chain,
            },
            held: vec![holding],
            backtrace: stack,
        };
        let tags: Vec<usize> = path
            .iter()
            .map(|e| e.tag as usize)
            .chain([closing])
            .collect();
        let mut classes: Vec<u32> = path.iter().rev().map(|e| e.to).collect();
        classes.push(l.to);
        Cycle {
            classes,
            dependencies: path
                .iter()
                .map(|e| pairs[&(e.from, e.to)])
                .chain([pairs[&(l.from, l.to)]])
                .collect(),
            across_processes: tags
                .iter()
                .any(|&t| self.learned[t].process != self.learned[closing].process),
            report,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PROCESS: &str = r#"{"schema_version":1,"kind":"process","pid":1,"executable":"t","lockdep_version":"0.1.0"}"#;

    fn class(id: u32, key: &str) -> String {
        format!(r#"{{"schema_version":1,"kind":"class","id":{id},"key":"{key}","name":"{key}"}}"#)
    }

    fn dep(from: u32, to: u32, types: &str) -> String {
        format!(
            r#"{{"schema_version":1,"kind":"dependency","from":{from},"to":{to},"types":"{types}"}}"#
        )
    }

    fn record(lines: &[String]) -> Record {
        parse_record("r.jsonl", (lines.join("\n") + "\n").as_bytes()).expect("a record")
    }

    fn search(records: Vec<Record>) -> schema::Graph {
        let mut m = Merged::default();
        for r in records {
            m.add(r);
        }
        m.search()
    }

    #[test]
    fn classes_join_by_key_whatever_their_ids() {
        let one = record(&[
            PROCESS.into(),
            class(0, "a"),
            class(1, "b"),
            dep(0, 1, "EN"),
        ]);
        let two = record(&[
            PROCESS.into(),
            class(7, "b"),
            class(3, "a"),
            dep(7, 3, "EN"),
        ]);
        let g = search(vec![one, two]);
        assert_eq!(g.classes.len(), 2);
        assert_eq!(g.cycles.len(), 1);
        assert!(g.cycles[0].across_processes);
        assert_eq!(g.cycles[0].dependencies.len(), 2);
    }

    #[test]
    fn the_search_is_the_validators_strong_one() {
        // a -SR-> b and b -SR-> a: readers only, no deadlock.
        let r = record(&[
            PROCESS.into(),
            class(0, "a"),
            class(1, "b"),
            dep(0, 1, "SR"),
        ]);
        let s = record(&[
            PROCESS.into(),
            class(0, "a"),
            class(1, "b"),
            dep(1, 0, "SR"),
        ]);
        assert!(search(vec![r, s]).cycles.is_empty());
        // A three-class cycle over three processes, found once.
        let recs = [("a", "b"), ("b", "c"), ("c", "a")]
            .iter()
            .map(|(x, y)| record(&[PROCESS.into(), class(0, x), class(1, y), dep(0, 1, "EN")]))
            .collect();
        let g = search(recs);
        assert_eq!(g.cycles.len(), 1);
        assert_eq!(g.cycles[0].classes.len(), 3);
        let Problem::CircularDependency { chain, .. } = &g.cycles[0].report.problem else {
            panic!()
        };
        assert_eq!(chain.len(), 3);
        assert!(chain.iter().all(|l| l.learned_by.is_some()));
    }

    #[test]
    fn a_dependency_of_two_types_is_one_pair() {
        let r = record(&[
            PROCESS.into(),
            class(0, "a"),
            class(1, "b"),
            dep(0, 1, "EN|SN"),
        ]);
        let g = search(vec![r]);
        assert_eq!(g.dependencies.len(), 1);
        assert_eq!(g.dependencies[0].types, "EN|SN");
        assert_eq!(g.classes[0].usage, "++.");
    }

    fn valid_lines() -> Vec<String> {
        vec![
            PROCESS.into(),
            class(0, "a"),
            class(1, "b"),
            dep(0, 1, "EN"),
            dep(1, 0, "SR|EN"),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Arbitrary bytes: an error or a record, never a panic.
        #[test]
        fn the_parser_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_record("fuzz.jsonl", &bytes);
        }

        /// A valid record cut, spliced and corrupted at random: an error
        /// naming the file (and the line, for a line), or a record that
        /// merges; never a panic.
        #[test]
        fn the_parser_never_panics_on_mangled_records(
            cut in 0usize..400,
            at in 0usize..400,
            junk in proptest::collection::vec(any::<u8>(), 0..16),
        ) {
            let mut bytes = (valid_lines().join("\n") + "\n").into_bytes();
            bytes.truncate(cut.min(bytes.len()).max(1));
            let at = at.min(bytes.len());
            bytes.splice(at..at, junk);
            match parse_record("m.jsonl", &bytes) {
                Ok(r) => { let _ = search(vec![r]); }
                Err(e) => prop_assert!(e.to_string().starts_with("m.jsonl")),
            }
        }

        /// Any sequence of well-formed lines with arbitrary ids and types.
        #[test]
        fn well_formed_lines_with_any_values_never_panic(
            lines in proptest::collection::vec((0u8..3, 0u32..5, 0u32..5, "[ENSR|]{0,5}"), 0..12),
        ) {
            let mut text = vec![PROCESS.to_string()];
            for (kind, x, y, types) in lines {
                text.push(match kind {
                    0 => class(x, &format!("k{y}")),
                    1 => dep(x, y, &types),
                    _ => PROCESS.to_string(),
                });
            }
            if let Ok(r) = parse_record("w.jsonl", (text.join("\n") + "\n").as_bytes()) {
                let _ = search(vec![r]);
            }
        }
    }
}
