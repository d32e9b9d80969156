//! Validation of a chain never seen: the checks under the global graph lock
//! (recursion, cycle search), the new edges, and the memory accounting.

use super::*;

/// One edge of a cycle's path, copied out of the graph for a report.
pub(super) struct PathEdge {
    pub(super) to: ClassId,
    pub(super) dep: u8,
    pub(super) trace: Option<Arc<[usize]>>,
}

/// A report waiting for the validator's locks to be released.
pub(super) enum Pending {
    Circular {
        next: HeldLock,
        prev: HeldLock,
        /// The edges of the path, from the lock being acquired to the held lock.
        path: Vec<PathEdge>,
        current: Arc<[usize]>,
        held: Vec<HeldLock>,
        usage: HashMap<ClassId, u8>,
    },
    Recursive {
        next: HeldLock,
        prev: HeldLock,
        current: Arc<[usize]>,
        held: Vec<HeldLock>,
        usage: HashMap<ClassId, u8>,
        comparison: Option<std::cmp::Ordering>,
    },
    /// Boxed: a report is big, and the other variants are what validation makes.
    Ready(Box<Report>),
}

/// Validates a chain the thread has not seen: the recursion check, then a
/// dependency from each held lock down to the nearest non-trylock one.
#[cold]
#[inline(never)]
pub(super) fn validate(st: &mut ThreadState, next: &HeldLock, key: Key) -> Vec<Pending> {
    #[cfg(test)]
    VALIDATIONS.with(|n| n.set(n.get() + 1));
    validate_in(shared(), st, next, key, trace::capture)
}

#[cfg(test)]
thread_local! {
    /// Test hook: validations of new chains run on this thread.
    pub(super) static VALIDATIONS: Cell<usize> = const { Cell::new(0) };
    /// Test hook: sessions (slow paths) started on this thread.
    pub(super) static SESSIONS: Cell<usize> = const { Cell::new(0) };
}

/// [`validate()`] against any shared state: the production one, or a fresh
/// one built with loom's locks by the model-checking tests.
pub(super) fn validate_in<F: Facade>(
    shared: &Shared<F, Global>,
    st: &mut ThreadState,
    next: &HeldLock,
    key: Key,
    capture: fn() -> Arc<[usize]>,
) -> Vec<Pending> {
    if shared.chains.contains(key) {
        st.chains.insert(key);
        return Vec::new();
    }
    // Capture before taking the global lock: it is the slow part.
    let current = capture();
    // Two locks of a class inferred from a first acquisition's site (no
    // construction site: see `Source::Acquired`) nested: the program cannot
    // annotate them, so it is not recursion (asked outside the global lock).
    let unannotatable = st
        .held
        .iter()
        .any(|h| h.class == next.class && h.instance != next.instance)
        && crate::class::inferred(next.class);
    let mut pending = Vec::new();
    // New dependency types, for `LOCKDEP_RECORD`'s writer, handed over
    // once the graph's lock is released.
    let recording = crate::record::enabled();
    let mut learned = Vec::new();
    shared.with_global(|g| {
        if g.knows(next.class) {
            g.graph.mark_used(next.class, next.mode);
        }
        let mut trace_id = None;
        // A recursive read after any read of the same class cannot block on
        // itself; anything else can, unless a nest lock covers it or its
        // class is ordered.
        // Of locks of an inferred class, only the very lock taken again.
        let mut blocking = st
            .held
            .iter()
            .rev()
            .filter(|h| next.nest == Nest::No && blocks_on(h, next.class, next.mode));
        let recursion = if unannotatable {
            blocking.find(|h| h.instance == next.instance)
        } else {
            blocking.next()
        };
        if let Some(prev) = recursion {
            if g.reported.insert(Reported::Recursion(next.class)) {
                pending.push(Pending::Recursive {
                    next: *next,
                    prev: *prev,
                    current: current.clone(),
                    held: st.held.clone(),
                    usage: usage_of(&g.graph, st.held.iter().chain([next])),
                    comparison: None,
                });
            }
        }
        // Unlike the kernel, which stops validating after any report, a
        // recursive acquisition of another lock of the class still learns
        // its dependencies on the other held locks: a recursion report never
        // hides a later cycle through the class. Taking the very lock again
        // waits on itself and learns nothing; nor does a class unregistered
        // for good.
        let self_deadlock = recursion.is_some_and(|prev| prev.instance == next.instance);
        // Nor does one a nest lock covers: the nest lock serializes it.
        let edges_from =
            if self_deadlock || g.graph.retired(next.class) || next.nest == Nest::Covered {
                &[][..]
            } else {
                &st.held[..]
            };
        for prev in edges_from.iter().rev() {
            if !(g.knows(prev.class) && g.knows(next.class)) {
                // Past the memory limit, a class registered after it stays
                // out of the graph: no dependencies, so no cycle through it.
                g.dependencies_dropped += 1;
                if !prev.trylock {
                    break;
                }
                continue;
            }
            g.graph.mark_used(prev.class, prev.mode);
            if prev.class != next.class && !g.graph.retired(prev.class) {
                let dep = graph::dep_bit(prev.mode, next.mode);
                if !g.graph.has(prev.class, next.class, dep) {
                    if let Some(path) = g
                        .graph
                        .find_cycle(prev.class, prev.mode, next.class, next.mode)
                    {
                        let mut cycle: Vec<ClassId> =
                            path.iter().map(|&e| g.graph.edge(e).to).collect();
                        cycle.push(next.class);
                        cycle.sort_unstable();
                        cycle.dedup();
                        if g.reported.insert(Reported::Cycle(cycle)) {
                            let path: Vec<_> = path
                                .iter()
                                .map(|&e| {
                                    let edge = g.graph.edge(e);
                                    PathEdge {
                                        to: edge.to,
                                        dep: edge.dep,
                                        trace: g.traces.get(edge.trace),
                                    }
                                })
                                .collect();
                            let classes = path.iter().map(|p| p.to).collect::<Vec<_>>();
                            let mut usage = usage_of(&g.graph, st.held.iter().chain([next]));
                            for c in classes {
                                usage.insert(c, g.graph.usage(c));
                            }
                            pending.push(Pending::Circular {
                                next: *next,
                                prev: *prev,
                                path,
                                current: current.clone(),
                                held: st.held.clone(),
                                usage,
                            });
                        }
                    }
                    let new = g.record(prev.class, next.class, dep, &mut trace_id, &current);
                    if recording && new {
                        learned.push(crate::record::Learned {
                            from: prev.class,
                            to: next.class,
                            dep,
                            from_mode: prev.mode,
                            to_mode: next.mode,
                            stack: current.clone(),
                        });
                    }
                }
            }
            // Non-trylock entries below have added their own dependencies.
            if !prev.trylock {
                break;
            }
        }
        // A chain with two locks of an inferred class is not cached: the
        // same classes with the very lock taken twice have the same key, and
        // must still be checked (and reported) when they come.
        if !g.frozen && !unannotatable {
            shared.chains.insert(key);
            g.chains += 1;
            g.chain_log.push(&st.held, next);
            g.check_memory();
        }
    });
    crate::record::learned(learned);
    if !unannotatable {
        st.chains.insert(key);
    }
    pending
}

impl Global {
    /// Bytes held by the graph, the stored traces and the global chain set.
    pub(super) fn memory(&self) -> usize {
        let (per_class, per_edge) = self.graph.memory();
        self.graph.class_count() * per_class
            + self.graph.edge_count() * per_edge
            + self.traces.bytes()
            + self.chains * CHAIN_BYTES
            + self.chain_log.bytes()
            + report_log::logged_bytes()
            + trace::symbol_cache_bytes()
    }

    /// May the graph learn about `class`? Past the memory limit, only
    /// classes registered before it are known.
    fn knows(&self, class: ClassId) -> bool {
        !self.frozen || class.index() < self.known_classes
    }

    /// Records the dependency `from -> to`: with the current stack before
    /// the memory limit; after it (between known classes), without one, so
    /// that cycles among them are still found. Whether it was new.
    pub(super) fn record(
        &mut self,
        from: ClassId,
        to: ClassId,
        dep: u8,
        trace_id: &mut Option<TraceId>,
        current: &Arc<[usize]>,
    ) -> bool {
        let tid = if self.frozen {
            TraceId::NONE
        } else {
            *trace_id.get_or_insert_with(|| self.traces.intern(current))
        };
        self.graph.add_edge(from, to, dep, tid) == graph::Added::New
    }

    /// Freezes the graph once the optional memory limit is passed, saying
    /// so once.
    fn check_memory(&mut self) {
        let limit = config::memory_limit();
        if limit == 0 || self.frozen {
            return;
        }
        let used = self.memory();
        if used > limit {
            self.frozen = true;
            self.known_classes = class::count();
            eprintln!(
                "lockdep: memory limit of {limit} bytes reached ({used} used): the {} \
                 dependencies learned so far are kept and still checked; new dependencies \
                 among the {} classes registered so far are still recorded and checked, \
                 without stack traces; those of classes registered from now on are not \
                 (Stats::dependencies_dropped counts them)",
                self.graph.edge_count(),
                self.known_classes
            );
        }
    }
}

/// Approximate bytes per chain in the global set (key, control byte, load).
const CHAIN_BYTES: usize = 24;

/// The slow half of an acquisition: validate, then emit. A report that
/// must panic now (`Action::Panic`, a panicking callback) makes [`push`]
/// skip the entry, and the panic comes once the session is over: the lock
/// is neither taken nor recorded.
#[cold]
#[inline(never)]
pub(super) fn check_new_chain(st: &mut ThreadState, entry: HeldLock, key: Key) {
    task::check_blocking(st, &entry);
    let pending = contained("validation", || validate(st, &entry, key)).unwrap_or_default();
    emit_all(pending, Raised::AtAcquire);
}
