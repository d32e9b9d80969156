//! `LOCKDEP_REPORT_FILE`: every report appended to a file, one JSON
//! document per line.
//!
//! The line is built (its stacks symbolized) before the file's lock is
//! taken, then written by one `write_all` under it, so two threads never
//! interleave their lines; the file is opened for appending, so processes
//! sharing it append too. A failure to open or write is counted
//! (`Stats::report_file_errors`) and said once on standard error, never
//! raised.

use std::fs::File;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::config;
use crate::report::Report;

/// The file, opened on the first report, or why it could not be.
static FILE: crate::raw::Mutex<Option<Result<File, String>>> = crate::raw::const_mutex(None);
static ERRORS: AtomicUsize = AtomicUsize::new(0);

/// Appends `report` if `LOCKDEP_REPORT_FILE` is set.
pub(crate) fn append(report: &Report) {
    let Some(path) = path() else { return };
    let mut line = crate::render::json::line(report);
    line.push('\n');
    let mut file = FILE.lock();
    let written = match file.get_or_insert_with(|| open(path).map_err(|e| e.to_string())) {
        Ok(f) => f
            .write_all(line.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display())),
        Err(e) => Err(format!("cannot open {}: {e}", path.display())),
    };
    if let Err(what) = written {
        failed(&what);
    }
}

fn path() -> Option<&'static std::path::Path> {
    static PATH: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    PATH.get_or_init(|| config::path_from_env(config::ENV_REPORT_FILE))
        .as_deref()
}

/// Opens a file for appending, creating it: shared by the report file and
/// the records.
pub(crate) fn open(path: &std::path::Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
}

fn failed(what: &str) {
    if ERRORS.fetch_add(1, Ordering::Relaxed) == 0 {
        config::to_stderr(&format!(
            "lockdep: {}: {what} (counted in Stats::report_file_errors)
",
            config::ENV_REPORT_FILE
        ));
    }
}

/// Reports that could not be written.
pub(crate) fn errors() -> usize {
    ERRORS.load(Ordering::Relaxed)
}

/// Holds the file's lock across a `fork` (see `crate::fork`).
pub(crate) fn fork_lock() {
    std::mem::forget(FILE.lock());
}

/// Releases what [`fork_lock`] took.
///
/// # Safety
/// As [`crate::fork::release`]'s.
pub(crate) unsafe fn fork_unlock(child: bool) {
    // SAFETY: passed on from the caller.
    unsafe { crate::fork::release(&FILE, child) }
}
