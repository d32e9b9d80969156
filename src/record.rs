//! Recording what a process learns, for `cargo lockdep merge`.
//!
//! With `LOCKDEP_RECORD=<dir>` ([`ENV_RECORD`](crate::config::ENV_RECORD))
//! set, each process writes a file of its own in `<dir>` (created if
//! missing), named `lockdep-<executable>-<pid>-<milliseconds>.jsonl`: one
//! [`schema`](crate::schema) document per line, appended as it learns. A
//! process that learns no dependency writes no file.
//!
//! - first a [`Process`]: pid, executable, and the
//!   test under cargo-nextest (`NEXTEST_TEST_NAME`, `NEXTEST_BINARY_ID`,
//!   `NEXTEST_RUN_ID`);
//! - a [`Class`](crate::schema::Class) before the first dependency that
//!   uses it, with its stable identity ([`Class::key`](crate::schema::Class::key):
//!   construction site and type or name, key name, subclass; never an id or
//!   address);
//! - a [`Dependency`] for each dependency type
//!   (`EN`, `ER`, `SN`, `SR`) of each pair of classes, when first learned,
//!   with the modes and the symbolized stack that learned it.
//!
//! Nothing is written or symbolized by the thread that learns: the
//! validator queues the new dependency (class ids, type, the raw stack it
//! already captured) after it has released the graph's lock, and a
//! background thread (`lockdep-record`, untracked, with a big stack)
//! symbolizes and writes it, one `write` per dependency with its classes,
//! to a file opened for appending. What was written survives the process's
//! crash or abort (the kernel has it). At a normal exit an `atexit` handler
//! waits (up to 5 s) for the queue to drain; [`flush`] waits for it at any
//! moment (before an `abort`, say). A child forked without `exec` records
//! nothing (no thread may safely be started or woken there). A write error is counted
//! (`Stats::record_errors`) and said once, never raised. With the variable
//! unset, the cost is one check of a `OnceLock` per *new* dependency; the
//! fast path is untouched.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::class::ClassId;
use crate::config;
use crate::graph;
use crate::held::Mode;
use crate::schema::{Dependency, Document, Envelope, Process};

/// A dependency type learned, queued for the writer.
pub(crate) struct Learned {
    pub(crate) from: ClassId,
    pub(crate) to: ClassId,
    /// One dependency type bit.
    pub(crate) dep: u8,
    pub(crate) from_mode: Mode,
    pub(crate) to_mode: Mode,
    /// The raw stack that learned it.
    pub(crate) stack: Arc<[usize]>,
}

struct Queue {
    /// The process whose writer this is: in a forked child, `flush` has
    /// nothing to wait for.
    pid: u32,
    learned: Vec<Learned>,
    /// Taken by the writer and not yet written.
    in_flight: usize,
    writer: bool,
}

static QUEUE: crate::raw::Mutex<Queue> = crate::raw::const_mutex(Queue {
    pid: 0,
    learned: Vec::new(),
    in_flight: 0,
    writer: false,
});
static WAKE: crate::raw::Condvar = crate::raw::Condvar::new();
static DRAINED: crate::raw::Condvar = crate::raw::Condvar::new();

static LINES: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);
static ERRORS: AtomicUsize = AtomicUsize::new(0);

/// The recording directory, from the environment, read once.
fn dir() -> Option<&'static Path> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| config::path_from_env(config::ENV_RECORD))
        .as_deref()
}

/// Set in a child forked from a process (and not exec'd since): it
/// records nothing. The writer thread it would need is not safe to start
/// or wake there: a thread of the parent may have held a lock of
/// parking_lot's own at the moment of the fork, which no one will release.
static FORKED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Is this process recording?
#[inline]
pub(crate) fn enabled() -> bool {
    dir().is_some() && !FORKED.load(Ordering::Relaxed)
}

/// Hands dependencies just learned to the writer. Called outside every
/// validator lock.
pub(crate) fn learned(new: Vec<Learned>) {
    if new.is_empty() {
        return;
    }
    let mut q = QUEUE.lock();
    q.pid = std::process::id();
    q.learned.extend(new);
    if !q.writer {
        q.writer = true;
        let spawned = std::thread::Builder::new()
            .name("lockdep-record".into())
            .stack_size(8 << 20)
            .spawn(writer);
        if spawned.is_err() {
            q.writer = false;
            error(&format!("{} learned dependencies lost", q.learned.len()));
            q.learned.clear();
            return;
        }
        register_exit_flush();
    }
    WAKE.notify_one();
}

/// Waits until every dependency learned so far is written (at most
/// `timeout`); returns whether it was. Without `LOCKDEP_RECORD`, returns
/// `true` at once.
///
/// Recording writes in the background; a program about to `abort` (a
/// `panic = "abort"` hook, say) calls this first to keep its last
/// dependencies. A normal exit waits by itself.
pub fn flush(timeout: Duration) -> bool {
    if !enabled() {
        return true;
    }
    let deadline = Instant::now() + timeout;
    let mut q = QUEUE.lock();
    while q.pid == std::process::id() && q.writer && (!q.learned.is_empty() || q.in_flight > 0) {
        if DRAINED.wait_until(&mut q, deadline).timed_out() {
            return false;
        }
    }
    true
}

fn register_exit_flush() {
    #[cfg(unix)]
    {
        extern "C" fn at_exit() {
            flush(Duration::from_secs(5));
        }
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: `at_exit` is a plain function that does not unwind
            // (`flush` only waits on a condvar, with a deadline).
            unsafe { libc::atexit(at_exit) };
        });
    }
}

/// The writer thread: symbolizes and writes what is queued, batch by batch.
fn writer() {
    // Its own locks (a lockdep lock in a global allocator, say) must not
    // enter the validator, which may be waiting for the queue.
    crate::validator::untracked_thread();
    let Some(dir) = dir() else { return };
    let mut out = Writer::open(dir);
    loop {
        let batch = {
            let mut q = QUEUE.lock();
            q.in_flight = 0;
            DRAINED.notify_all();
            while q.learned.is_empty() {
                WAKE.wait(&mut q);
            }
            let batch = std::mem::take(&mut q.learned);
            q.in_flight = batch.len();
            batch
        };
        for l in batch {
            out.write(&l);
        }
    }
}

/// The record file and what it has said.
struct Writer {
    file: Option<std::fs::File>,
    path: PathBuf,
    classes: HashSet<ClassId>,
}

impl Writer {
    fn open(dir: &Path) -> Writer {
        let process = process();
        let exe: String = process
            .executable
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = dir.join(format!(
            "lockdep-{exe}-{}-{}.jsonl",
            process.pid, process.started_at_ms
        ));
        let file = std::fs::create_dir_all(dir)
            .and_then(|()| crate::report_file::open(&path))
            .map_err(|e| error(&format!("cannot open {}: {e}", path.display())))
            .ok();
        let mut w = Writer {
            file,
            path,
            classes: HashSet::new(),
        };
        w.put(Envelope::new(Document::Process(process)).to_line() + "\n");
        w
    }

    fn write(&mut self, l: &Learned) {
        let mut text = String::new();
        for c in [l.from, l.to] {
            if self.classes.insert(c) {
                text.push_str(&Envelope::new(Document::Class(crate::class::describe(c))).to_line());
                text.push('\n');
            }
        }
        let dep = Dependency {
            from: l.from.0,
            to: l.to.0,
            types: graph::dep_names(l.dep),
            from_mode: Some(l.from_mode),
            to_mode: Some(l.to_mode),
            stack: crate::trace::symbolize(&l.stack),
            process: None,
        };
        text.push_str(&Envelope::new(Document::Dependency(dep)).to_line());
        text.push('\n');
        self.put(text);
    }

    /// One `write` of whole lines.
    fn put(&mut self, text: String) {
        let Some(f) = &mut self.file else {
            ERRORS.fetch_add(1, Ordering::Relaxed);
            return;
        };
        match f.write_all(text.as_bytes()) {
            Ok(()) => {
                LINES.fetch_add(text.matches('\n').count(), Ordering::Relaxed);
                BYTES.fetch_add(text.len(), Ordering::Relaxed);
            }
            Err(e) => error(&format!("cannot write {}: {e}", self.path.display())),
        }
    }
}

fn process() -> Process {
    let info = crate::validator::process_info();
    Process {
        pid: info.pid,
        executable: info.executable,
        lockdep_version: info.lockdep_version.to_string(),
        test_name: info.test,
        binary_id: std::env::var("NEXTEST_BINARY_ID").ok(),
        run_id: std::env::var("NEXTEST_RUN_ID").ok(),
        started_at_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
    }
}

fn error(what: &str) {
    if ERRORS.fetch_add(1, Ordering::Relaxed) == 0 {
        config::to_stderr(&format!(
            "lockdep: {}: {what} (counted in Stats::record_errors)
",
            config::ENV_RECORD
        ));
    }
}

/// Lines and bytes written, and errors.
pub(crate) struct Counts {
    pub(crate) lines: usize,
    pub(crate) bytes: usize,
    pub(crate) errors: usize,
}

pub(crate) fn counts() -> Counts {
    Counts {
        lines: LINES.load(Ordering::Relaxed),
        bytes: BYTES.load(Ordering::Relaxed),
        errors: ERRORS.load(Ordering::Relaxed),
    }
}

/// Holds the queue's lock across a `fork` (see `crate::fork`).
pub(crate) fn fork_lock() {
    std::mem::forget(QUEUE.lock());
}

/// Releases what [`fork_lock`] took.
///
/// # Safety
/// As [`crate::fork::release`]'s.
pub(crate) unsafe fn fork_unlock(child: bool) {
    if child {
        FORKED.store(true, Ordering::Relaxed);
    }
    // SAFETY: passed on from the caller.
    unsafe { crate::fork::release(&QUEUE, child) }
}
