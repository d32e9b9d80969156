//! The public queries and controls: `reports`, `reset`, `Stats`, `stats`,
//! `held_locks`, and retiring classes.

use super::*;

/// Forgets every dependency of classes unregistered for good (a
/// [`DynamicKey`](crate::DynamicKey) dropped); their locks add none from now on.
pub(crate) fn retire_classes(gone: &[ClassId]) {
    with_global(|g| g.graph.remove_classes(gone));
}

/// Every report raised so far in this process (since the last [`reset`]),
/// oldest first.
pub fn reports() -> Vec<Arc<Report>> {
    report_log::snapshot()
}

/// Forgets everything the validator learned, for tests that want to be
/// isolated from the tests that ran before them in the same process: the
/// dependency graph and its stack traces, the validated chains, which
/// problems were already reported, the report log, and any panic owed by
/// the calling thread (see [`crate::config::Action::Panic`]). Lock classes
/// stay, and so do the locks each thread holds.
///
/// Safe at any moment, also while other threads hold locks or validate:
/// - a lock held across the reset stays held and is released as usual
///   (no report); the dependencies it formed before the reset are
///   forgotten, and those formed by locks taken under it afterwards are
///   learned again;
/// - the calling thread, and any thread that starts afterwards, validate
///   every chain again; another thread that is running catches up at its
///   next visit to the validator's slow path (a new chain, an
///   out-of-order release), and until then takes the chains it had
///   validated as known;
/// - it is process-wide: tests that run in parallel forget each other's
///   dependencies too (run them with `--test-threads=1`, or with
///   cargo-nextest, which runs each test in a process of its own and needs
///   no reset).
pub fn reset() {
    with_global(|g| {
        *g = Global::default();
        shared().chains.clear();
        GENERATION.fetch_add(1, Ordering::AcqRel);
    });
    report_log::clear();
    clear_due();
    // The calling thread catches up at once.
    with_state(|_| ());
}

/// Counters describing the validator's state.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Stats {
    /// Lock classes registered.
    pub classes: usize,
    /// Dependencies (edges) between classes.
    pub dependencies: usize,
    /// Validated chains in the global cache.
    pub chains: usize,
    /// Distinct stack traces stored.
    pub stack_traces: usize,
    /// Reports raised.
    pub reports: usize,
    /// Panics inside the validator's own code, contained (should be 0).
    pub internal_errors: usize,
    /// Bytes used by the graph, stored traces, chain set, report log and
    /// symbol cache (approximate).
    pub memory_bytes: usize,
    /// Reports dropped from the log to keep it within its bound (see
    /// `config::set_report_log_limit`); each was delivered.
    pub reports_dropped: usize,
    /// Bytes held by the report log (approximate).
    pub report_log_bytes: usize,
    /// Bytes held by the cache of symbolized addresses (see
    /// `config::set_symbol_cache_limit`).
    pub symbol_cache_bytes: usize,
    /// Dependencies not recorded past the memory limit: those of classes
    /// first registered after it was reached.
    pub dependencies_dropped: usize,
    /// Whether the memory limit was reached (see `config::set_memory_limit`).
    pub frozen: bool,
    /// Chains in the calling thread's cache.
    pub thread_chains: usize,
    /// Bytes used by the calling thread's chain cache.
    pub thread_chain_cache_bytes: usize,
    /// Bytes per class in the graph (excluding stack traces).
    pub bytes_per_class: usize,
    /// Bytes per dependency in the graph (excluding stack traces).
    pub bytes_per_dependency: usize,
    /// Bytes per validated chain: its share of the global set and of the
    /// log of the chains' classes (`dump`), plus its share of the calling
    /// thread's cache (each thread caches the chains it uses).
    pub bytes_per_chain: usize,
    /// Reports that could not be written to `LOCKDEP_REPORT_FILE`.
    pub report_file_errors: usize,
    /// Record lines that could not be written to `LOCKDEP_RECORD`'s file.
    pub record_errors: usize,
    /// Record lines written to `LOCKDEP_RECORD`'s file.
    pub record_lines: usize,
    /// Bytes written to `LOCKDEP_RECORD`'s file.
    pub record_bytes: usize,
}

/// A snapshot of the validator's counters.
pub fn stats() -> Stats {
    let (
        classes_in_graph,
        dependencies,
        stack_traces,
        (bytes_per_class, bytes_per_dependency),
        memory_bytes,
        frozen,
        dependencies_dropped,
        chain_log_bytes,
    ) = with_global(|g| {
        (
            g.graph.class_count(),
            g.graph.edge_count(),
            g.traces.len(),
            g.graph.memory(),
            g.memory(),
            g.frozen,
            g.dependencies_dropped,
            g.chain_log.bytes(),
        )
    });
    let (report_log_bytes, symbol_cache_bytes) = (report_log::bytes(), trace::symbol_cache_bytes());
    // The log exactly (its reports' frames, once symbolized, included).
    let memory_bytes = memory_bytes.saturating_sub(report_log::logged_bytes()) + report_log_bytes;
    let (thread_chains, thread_chain_cache_bytes) =
        with_state(|st| (st.chains.len(), st.chains.capacity_bytes())).unwrap_or((0, 0));
    let chains = shared().chains.len();
    let bytes_per_chain = shared().chains.capacity_bytes() / chains.max(1)
        + chain_log_bytes / chains.max(1)
        + thread_chain_cache_bytes / thread_chains.max(1);
    Stats {
        bytes_per_chain,
        classes: class::count().max(classes_in_graph),
        dependencies,
        chains,
        stack_traces,
        reports: report_log::counts().0,
        reports_dropped: report_log::counts().1,
        report_log_bytes,
        symbol_cache_bytes,
        dependencies_dropped,
        internal_errors: INTERNAL_ERRORS.load(std::sync::atomic::Ordering::Relaxed),
        memory_bytes,
        frozen,
        thread_chains,
        thread_chain_cache_bytes,
        bytes_per_class,
        bytes_per_dependency,
        report_file_errors: crate::report_file::errors(),
        record_errors: crate::record::counts().errors,
        record_lines: crate::record::counts().lines,
        record_bytes: crate::record::counts().bytes,
    }
}

/// The locks the calling thread holds, outermost first.
pub fn held_locks() -> Vec<LockInfo> {
    with_state(|st| {
        let usage = with_global(|g| usage_of(&g.graph, st.held.iter()));
        held_info(&st.held, &usage)
    })
    .unwrap_or_default()
}
