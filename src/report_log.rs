//! The report log behind [`crate::reports`]: bounded, counted, and honest
//! about what it dropped.
//!
//! It keeps the newest reports, up to `config::set_report_log_limit`. Past
//! the bound the oldest leave the log (every report is still delivered by
//! the action first); the first time, the validator says so on standard
//! error, and `Stats::reports_dropped` counts them all.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::report::Report;

struct Log {
    reports: VecDeque<Arc<Report>>,
    /// Reports ever logged.
    total: usize,
    /// Reports dropped from the log to keep it within its bound.
    dropped: usize,
    /// The reports' bytes as they were logged (unsymbolized).
    bytes: usize,
}

static LOG: crate::raw::Mutex<Log> = crate::raw::const_mutex(Log {
    reports: VecDeque::new(),
    total: 0,
    dropped: 0,
    bytes: 0,
});

/// Holds the log's lock across a `fork` (see `crate::fork`).
pub(crate) fn fork_lock() {
    std::mem::forget(LOG.lock());
}

/// Releases what [`fork_lock`] took.
///
/// # Safety
/// As [`crate::fork::release`]'s.
pub(crate) unsafe fn fork_unlock(child: bool) {
    // SAFETY: passed on from the caller.
    unsafe { crate::fork::release(&LOG, child) }
}

/// Appends a report, dropping the oldest past the bound.
pub(crate) fn push(report: Arc<Report>) {
    let limit = crate::config::report_log_limit();
    let mut log = LOG.lock();
    log.total += 1;
    log.bytes += report_bytes(&report);
    log.reports.push_back(report);
    let mut first_drop = false;
    while log.reports.len() > limit {
        if let Some(old) = log.reports.pop_front() {
            log.bytes = log.bytes.saturating_sub(report_bytes(&old));
        }
        first_drop |= log.dropped == 0;
        log.dropped += 1;
    }
    drop(log);
    if first_drop {
        eprintln!(
            "lockdep: the report log keeps the last {limit} reports \
             (config::set_report_log_limit): older ones leave it from now on \
             (each is still delivered; Stats::reports_dropped counts them)"
        );
    }
}

/// Empties the log and its counts (see [`crate::reset`]).
pub(crate) fn clear() {
    let mut log = LOG.lock();
    log.reports.clear();
    (log.total, log.dropped, log.bytes) = (0, 0, 0);
}

/// The reports in the log, oldest first.
pub(crate) fn snapshot() -> Vec<Arc<Report>> {
    LOG.lock().reports.iter().cloned().collect()
}

/// Reports ever logged, and those dropped from the log since.
pub(crate) fn counts() -> (usize, usize) {
    let log = LOG.lock();
    (log.total, log.dropped)
}

/// Approximate heap bytes the log holds (traces counted with their frames
/// once symbolized).
pub(crate) fn bytes() -> usize {
    LOG.lock().reports.iter().map(|r| report_bytes(r)).sum()
}

/// [`bytes`] without reading every report: the reports' sizes as they were
/// logged, before any was symbolized. For the memory limit's frequent check.
pub(crate) fn logged_bytes() -> usize {
    LOG.lock().bytes
}

fn report_bytes(r: &Report) -> usize {
    use crate::report::Problem;
    let lock = std::mem::size_of::<crate::report::LockInfo>() + 64;
    let links = match &r.problem {
        Problem::CircularDependency { chain, .. } => chain
            .iter()
            .map(|l| lock + l.dependency.len() + l.trace.bytes())
            .sum(),
        _ => 0,
    };
    std::mem::size_of::<Report>()
        + r.process.executable.len()
        + r.thread.name.len()
        + r.held.len() * lock
        + r.backtrace.bytes()
        + links
}
