//! The class graph a picture draws: classes, the dependencies between them
//! with the stack that first made each, and the reported cycles.

use std::collections::HashMap;

use lockdep::report::{Frame, Problem, Report};
use lockdep::schema;

/// A lock class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Class {
    /// Its printed name.
    pub name: String,
    /// Its usage string, as reported (`+.+.`, `+..`), or empty.
    pub usage: String,
}

/// A dependency `from -> to`: `to` was acquired while `from` was held.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dep {
    /// Index of the class held.
    pub from: usize,
    /// Index of the class acquired.
    pub to: usize,
    /// Dependency types (`EN`, `SN`, ...), when known.
    pub types: String,
    /// What the arrow is labelled with: the types, or the entry of the
    /// report's chain (`#1`).
    pub label: String,
    /// The stack that first made it, innermost first.
    pub stack: Vec<String>,
    /// Where it was learned (a report, a process, a test).
    pub origin: String,
    /// Implied by a held-lock list rather than recorded with a stack.
    pub implied: bool,
}

/// A reported problem: the classes and dependencies it is about, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cycle {
    /// What the report says (`possible circular locking dependency detected`).
    pub title: String,
    /// The classes, in the cycle's order.
    pub classes: Vec<usize>,
    /// The dependencies that close the cycle, in order.
    pub deps: Vec<usize>,
}

/// Classes, dependencies, reported cycles.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClassGraph {
    /// The classes.
    pub classes: Vec<Class>,
    /// The dependencies, at most one per ordered pair of classes.
    pub deps: Vec<Dep>,
    /// The reported problems.
    pub cycles: Vec<Cycle>,
    by_name: HashMap<String, usize>,
    by_pair: HashMap<(usize, usize), usize>,
}

/// A frame as one line: `function at file:line`.
pub fn frame_line(f: &Frame) -> String {
    match (&f.file, f.line) {
        (Some(file), Some(line)) => format!("{} at {file}:{line}", f.function),
        (Some(file), None) => format!("{} at {file}", f.function),
        _ => f.function.clone(),
    }
}

impl ClassGraph {
    /// The class named `name`, added if new; a usage string fills one that
    /// was unknown.
    pub fn class(&mut self, name: &str, usage: &str) -> usize {
        if let Some(&i) = self.by_name.get(name) {
            if self.classes[i].usage.is_empty() {
                self.classes[i].usage = usage.to_string();
            }
            return i;
        }
        self.classes.push(Class {
            name: name.to_string(),
            usage: usage.to_string(),
        });
        self.by_name
            .insert(name.to_string(), self.classes.len() - 1);
        self.classes.len() - 1
    }

    /// A class of its own even if its name is taken (a graph's classes are
    /// told apart by key, not by name); reports name it by its first name.
    fn distinct_class(&mut self, name: &str, usage: &str) -> usize {
        self.classes.push(Class {
            name: name.to_string(),
            usage: usage.to_string(),
        });
        let i = self.classes.len() - 1;
        self.by_name.entry(name.to_string()).or_insert(i);
        i
    }

    /// Adds a graph or a dump (`cargo lockdep merge --json`,
    /// `lockdep::dump()`): its classes by id, its dependencies with their
    /// types, stacks and who learned them, its cycles with their reports'
    /// titles.
    pub fn add_graph(
        &mut self,
        classes: &[schema::Class],
        deps: &[schema::Dependency],
        processes: &[schema::Process],
        cycles: &[schema::Cycle],
        origin: &str,
    ) {
        let ids: HashMap<u32, usize> = classes
            .iter()
            .map(|c| (c.id, self.distinct_class(&c.name, &c.usage)))
            .collect();
        let dep_ids: Vec<Option<usize>> = deps
            .iter()
            .map(|d| {
                let (from, to) = (*ids.get(&d.from)?, *ids.get(&d.to)?);
                let who = d
                    .process
                    .and_then(|p| processes.get(p as usize))
                    .map_or_else(
                        || origin.to_string(),
                        |p| format!("{origin}: {}", p.describe()),
                    );
                Some(self.dep(Dep {
                    from,
                    to,
                    types: d.types.clone(),
                    label: d.types.clone(),
                    stack: d.stack.iter().map(frame_line).collect(),
                    origin: who,
                    implied: false,
                }))
            })
            .collect();
        for c in cycles {
            let cycle = Cycle {
                title: c.report.title().to_string(),
                classes: c
                    .classes
                    .iter()
                    .filter_map(|i| ids.get(i).copied())
                    .collect(),
                deps: c
                    .dependencies
                    .iter()
                    .filter_map(|&i| dep_ids.get(i as usize).copied().flatten())
                    .collect(),
            };
            if !self.cycles.contains(&cycle) {
                self.cycles.push(cycle);
            }
        }
    }

    /// Only the classes of the reported problems, and the dependencies
    /// among them: the part of a large graph worth a picture.
    pub fn cycles_only(&self) -> ClassGraph {
        let mut g = ClassGraph::default();
        let mut map = HashMap::new();
        for (i, c) in self.classes.iter().enumerate() {
            if self.in_cycle(i) {
                map.insert(i, g.distinct_class(&c.name, &c.usage));
            }
        }
        let mut deps = HashMap::new();
        for (i, d) in self.deps.iter().enumerate() {
            if let (Some(&from), Some(&to)) = (map.get(&d.from), map.get(&d.to)) {
                deps.insert(
                    i,
                    g.dep(Dep {
                        from,
                        to,
                        ..d.clone()
                    }),
                );
            }
        }
        for c in &self.cycles {
            g.cycles.push(Cycle {
                title: c.title.clone(),
                classes: c.classes.iter().map(|i| map[i]).collect(),
                deps: c.deps.iter().filter_map(|i| deps.get(i).copied()).collect(),
            });
        }
        g
    }

    /// The dependency `from -> to`, added if new. As the kernel does, the
    /// first stack is kept; types are merged; a recorded dependency
    /// replaces an implied one.
    pub fn dep(&mut self, new: Dep) -> usize {
        let key = (new.from, new.to);
        if let Some(&i) = self.by_pair.get(&key) {
            let d = &mut self.deps[i];
            for t in new.types.split(',').filter(|t| !t.is_empty()) {
                if !d.types.split(',').any(|x| x == t) {
                    if !d.types.is_empty() {
                        d.types.push(',');
                    }
                    d.types.push_str(t);
                }
            }
            if d.implied && !new.implied {
                d.stack = new.stack;
                d.origin = new.origin;
                d.implied = false;
            }
            return i;
        }
        self.deps.push(new);
        self.by_pair.insert(key, self.deps.len() - 1);
        self.deps.len() - 1
    }

    /// The dependencies out of class `c`.
    pub fn out_degree(&self, c: usize) -> usize {
        self.deps.iter().filter(|d| d.from == c).count()
    }

    /// The dependencies into class `c`.
    pub fn in_degree(&self, c: usize) -> usize {
        self.deps.iter().filter(|d| d.to == c).count()
    }

    /// Is class `c` in a reported cycle?
    pub fn in_cycle(&self, c: usize) -> bool {
        self.cycles.iter().any(|k| k.classes.contains(&c))
    }

    /// Is dependency `d` in a reported cycle?
    pub fn dep_in_cycle(&self, d: usize) -> bool {
        self.cycles.iter().any(|k| k.deps.contains(&d))
    }

    /// Adds what a report shows: its classes, the dependencies its chain
    /// proves (each with its stack) and those its held-lock list implies,
    /// and the problem as a cycle. `origin` names the report.
    pub fn add_report(&mut self, report: &Report, origin: &str) {
        let stack = |frames: &[Frame]| frames.iter().map(frame_line).collect::<Vec<_>>();
        let held: Vec<usize> = report
            .held
            .iter()
            .map(|l| self.class(&l.name, &l.usage))
            .collect();
        let title = report.title().to_string();
        let cycle = match &report.problem {
            Problem::CircularDependency { chain, .. } if !chain.is_empty() => {
                // In print order #N (the held lock) .. #0 (the one acquired);
                // each link's stack is that of the dependency into its class
                // from the next link's (the last link's: from the held lock).
                let ids: Vec<usize> = chain
                    .iter()
                    .map(|l| self.class(&l.lock.name, &l.lock.usage))
                    .collect();
                let n = ids.len();
                let deps: Vec<usize> = (0..n)
                    .map(|i| {
                        let link = &chain[i];
                        let entry = format!("#{}", n - 1 - i);
                        let label = if link.dependency.is_empty() {
                            entry.clone()
                        } else {
                            link.dependency.clone()
                        };
                        self.dep(Dep {
                            from: ids[(i + 1) % n],
                            to: ids[i],
                            types: link.dependency.clone(),
                            label,
                            stack: stack(link.trace.frames()),
                            origin: format!("{origin}, chain entry {entry}"),
                            implied: false,
                        })
                    })
                    .collect();
                // The cycle's order: from the lock acquired, along the chain.
                Some(Cycle {
                    title,
                    classes: ids.iter().rev().copied().collect(),
                    deps: deps.iter().rev().copied().collect(),
                })
            }
            Problem::RecursiveLocking { acquiring, .. } => {
                let c = self.class(&acquiring.name, &acquiring.usage);
                let d = self.dep(Dep {
                    from: c,
                    to: c,
                    types: String::new(),
                    label: "again".to_string(),
                    stack: stack(report.backtrace.frames()),
                    origin: origin.to_string(),
                    implied: false,
                });
                Some(Cycle {
                    title,
                    classes: vec![c],
                    deps: vec![d],
                })
            }
            _ => {
                let names = report.class_names();
                let classes = names.iter().map(|n| self.class(n, "")).collect();
                Some(Cycle {
                    title,
                    classes,
                    deps: Vec::new(),
                })
            }
        };
        for w in held.windows(2) {
            if w[0] != w[1] {
                self.dep(Dep {
                    from: w[0],
                    to: w[1],
                    types: String::new(),
                    label: String::new(),
                    stack: Vec::new(),
                    origin: format!("{origin}, held-lock list"),
                    implied: true,
                });
            }
        }
        if let Some(c) = cycle {
            if !self.cycles.contains(&c) {
                self.cycles.push(c);
            }
        }
    }
}
