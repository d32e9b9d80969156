//! The report model: plain data describing what the validator found.
//!
//! Detection fills these structures in; renderers (see [`crate::render`])
//! turn them into text without consulting any other state. Every field is
//! public so tools can consume reports directly.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::class::ClassId;
use crate::held::Mode;
pub use crate::trace::Backtrace;

/// One symbolized stack frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// Demangled function name, without the hash suffix.
    pub function: String,
    /// Source file, relative to the working directory when inside it.
    pub file: Option<String>,
    /// Source line.
    pub line: Option<u32>,
}

/// A source location.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    /// Source file.
    pub file: String,
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub column: u32,
}

impl Site {
    pub(crate) fn from_location(loc: &std::panic::Location<'_>) -> Site {
        Site {
            file: loc.file().to_string(),
            line: loc.line(),
            column: loc.column(),
        }
    }
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// The process a report comes from. (Deserialized in `schema.rs`.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProcessInfo {
    /// Operating-system process id.
    pub pid: u32,
    /// File name of the executable.
    pub executable: String,
    /// Version of this crate (empty for a report read from a kernel log).
    pub lockdep_version: &'static str,
    /// The test the process runs, when a test runner says so
    /// (`NEXTEST_TEST_NAME`, set by cargo-nextest, which runs each test in a
    /// process of its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<String>,
    /// For a report read from a Linux kernel log (`cargo lockdep explain`):
    /// the kernel's identification line, `<release> <version> <taint>`
    /// (`4.10.0-test+ #48 Not tainted`). `None` for reports lockdep raised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
}

/// The thread a report comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadInfo {
    /// The thread's name, or `<unnamed>`.
    pub name: String,
    /// The number in the thread's `std::thread::ThreadId`.
    pub id: u64,
}

impl fmt::Display for ThreadInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.name, self.id)
    }
}

/// A lock class as it appears in a report: a held lock, the lock being
/// acquired, or a link of a dependency chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// The class.
    pub class: ClassId,
    /// Printed name, with `#N` and `/subclass` suffixes.
    pub name: String,
    /// How the class has been used in validated chains: three characters for
    /// exclusive, shared and recursive-shared acquisition, each `+` (seen) or
    /// `.` (never seen).
    pub usage: String,
    /// The mode of this acquisition (for held locks and the lock acquired).
    pub mode: Mode,
    /// Whether this acquisition was a trylock.
    pub trylock: bool,
    /// Where this acquisition happened, when known.
    pub at: Option<Site>,
    /// What a kernel log says of this lock beyond the fields above, for a
    /// report read from one; `None` for reports lockdep raised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<Box<KernelLock>>,
}

/// What a Linux kernel report prints of a lock that lockdep's own reports
/// do not have.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelLock {
    /// The lock instance's address (kernels since 4.20 print it first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The wait types `outer:inner` (`-{3:3}`, kernels since 5.7).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_context: Option<String>,
    /// Where the lock was acquired, as printed after `at:`
    /// (`kernfs_remove+0x23/0x40`, older kernels with `[<address>] `).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

/// One link of a dependency chain: a class, and the stack that first made it
/// depend on the previous link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainLink {
    /// The class this link reaches.
    pub lock: LockInfo,
    /// Dependency types of the edge into this class (`EN`, `SN`, `ER`, `SR`).
    pub dependency: String,
    /// The stack saved when that dependency was first seen; for the last
    /// link (`#0`), the current stack. Symbolized when first read.
    pub trace: Backtrace,
    /// Who learned this dependency, when the chain was put together from
    /// several processes' records (`cargo lockdep merge`): the test, test
    /// binary and process. `None` in a process's own reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learned_by: Option<String>,
}

/// What went wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// Acquiring `acquiring` while holding `holding` closes a strong cycle.
    CircularDependency {
        /// The lock being acquired.
        acquiring: LockInfo,
        /// The held lock the new dependency starts from.
        holding: LockInfo,
        /// The existing chain, in print order: `#N` (the held lock's class)
        /// down to `#0` (the lock being acquired).
        chain: Vec<ChainLink>,
    },
    /// Acquiring a lock of a class the thread already holds, in a way that
    /// can block on itself.
    RecursiveLocking {
        /// The lock being acquired.
        acquiring: LockInfo,
        /// The held lock of the same class.
        holding: LockInfo,
        /// For an ordered class: what its order function said of the held
        /// lock's key against the new one (anything but `Less` is disorder).
        #[serde(default, with = "crate::schema::ordering")]
        comparison: Option<std::cmp::Ordering>,
        /// Why the two acquisitions are one class, and what would fix it.
        cause: RecursionCause,
    },
    /// Releasing a lock the thread does not hold.
    BadUnlockBalance {
        /// The class of the lock being released.
        releasing: LockInfo,
    },
    /// A thread ended with locks still held (a leaked guard); they are in
    /// [`Report::held`].
    HeldAtThreadExit,
    /// A lock was dropped (freed) while the thread still held it.
    HeldLockFreed {
        /// The lock.
        lock: LockInfo,
    },
    /// An assertion about the calling thread's locks failed.
    AssertionFailed {
        /// The lock asserted about.
        lock: LockInfo,
        /// Whether the assertion was that the lock is held.
        expected_held: bool,
    },
    /// A pinned lock was released: the code that pinned it relies on it
    /// staying held across what it called.
    PinnedLockReleased {
        /// The lock.
        lock: LockInfo,
    },
    /// A lock was acquired under a nest lock the thread does not hold.
    NestLockNotHeld {
        /// The lock being acquired.
        acquiring: LockInfo,
        /// The nest lock named for it.
        nest_lock: LockInfo,
    },
    /// A Linux kernel's "inconsistent lock state": a class used both in an
    /// interrupt context and with that interrupt enabled. Lockdep raises it
    /// for no Rust program; `cargo lockdep explain` reads it from kernel logs.
    InconsistentLockState {
        /// The lock whose usage changed.
        lock: LockInfo,
        /// The usage registered first (`HARDIRQ-ON-W`).
        registered: String,
        /// The new usage that conflicts with it (`IN-HARDIRQ-W`).
        new_usage: String,
        /// The task's interrupt state, `HC1[1]:SC0[0]:HE0:SE1`.
        irq_state: String,
        /// Where the registered usage was first seen.
        registered_at: Backtrace,
        /// The `irq event stamp` lines, as printed.
        irq_events: Vec<String>,
    },
    /// A task suspended at an `.await` while holding a thread-bound lock
    /// (std's, parking_lot's, lockdep's sync locks): every other task
    /// polled on the thread that takes the lock blocks the thread, and the
    /// holder cannot run to release it.
    HeldAcrossAwait {
        /// The thread-bound lock.
        lock: LockInfo,
        /// The task's pseudo-lock: its class names its spawn site.
        task: LockInfo,
    },
    /// A blocking wait (a sync lock, a thread join, a `block_on`) inside a
    /// task that holds an async lock which another task or thread takes:
    /// that one waits, unscheduled, for a thread that is blocked.
    BlockingWaitInTask {
        /// The blocking wait.
        waiting: LockInfo,
        /// The async lock held.
        holding: LockInfo,
        /// The task's pseudo-lock.
        task: LockInfo,
    },
    /// A task awaited (its `JoinHandle`) while holding a lock that the task
    /// takes: a cycle through the task's pseudo-lock, fields as
    /// [`Problem::CircularDependency`]'s.
    TaskAwaitedUnderLock {
        /// The lock being acquired (the task's, at the await, or the lock,
        /// in the task).
        acquiring: LockInfo,
        /// The held lock the new dependency starts from.
        holding: LockInfo,
        /// The existing chain, in print order, as a cycle's.
        chain: Vec<ChainLink>,
    },
}

/// Why a recursive acquisition was reported: what makes the two locks one
/// class, which says what would tell them apart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RecursionCause {
    /// The thread already holds this very lock: it would wait for itself.
    SameLock,
    /// An ordered class, nested out of order.
    Disorder,
    /// Two locks of the class of one key (a [`ClassKey`](crate::ClassKey),
    /// a `DynamicKey`, a thread's key), nested without an annotation.
    SameKey,
    /// Two locks built at one construction site, for one type (or with one
    /// name), nested without an annotation.
    SameSite {
        /// The construction site.
        built_at: Site,
        /// What the site is.
        origin: SiteOrigin,
    },
}

/// What a construction site is, as far as telling classes apart goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(rename_all = "snake_case")]
pub enum SiteOrigin {
    /// A line of the program, or of a crate it uses. It may build the locks
    /// of one role (one field, in every object), or of several (a
    /// `#[derive(Default)]` struct whose lock fields have one type, a macro,
    /// a helper function without `#[track_caller]`).
    Code,
    /// Inside the standard library: an adapter such as `map(Mutex::new)`,
    /// `repeat_with(Mutex::default)`, `or_default()` or `Arc::default()`
    /// built the lock, and hides the line that called it.
    Toolchain,
    /// Inside this crate: a constructor called through a function pointer.
    Lockdep,
}

/// A complete report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The process.
    pub process: ProcessInfo,
    /// The thread that triggered the report.
    pub thread: ThreadInfo,
    /// What went wrong.
    pub problem: Problem,
    /// Locks held by the thread, outermost first.
    pub held: Vec<LockInfo>,
    /// The thread's stack at the time of the report. Symbolized when first
    /// read.
    pub backtrace: Backtrace,
}

impl Report {
    /// The report's title, as rendered.
    pub fn title(&self) -> &'static str {
        match self.problem {
            Problem::CircularDependency { .. } => "possible circular locking dependency detected",
            Problem::RecursiveLocking { .. } => "possible recursive locking detected",
            Problem::BadUnlockBalance { .. } => "bad unlock balance detected!",
            Problem::HeldAtThreadExit => "thread exiting with locks still held!",
            Problem::HeldLockFreed { .. } => "held lock freed!",
            Problem::AssertionFailed {
                expected_held: true,
                ..
            } => "lock assertion failed: lock not held!",
            Problem::AssertionFailed {
                expected_held: false,
                ..
            } => "lock assertion failed: lock held!",
            Problem::PinnedLockReleased { .. } => "releasing a pinned lock!",
            Problem::NestLockNotHeld { .. } => "nested lock was not taken!",
            Problem::InconsistentLockState { .. } => "inconsistent lock state",
            Problem::HeldAcrossAwait { .. } => "thread-bound lock held across an await!",
            Problem::BlockingWaitInTask { .. } => {
                "blocking wait in an async task holding an async lock!"
            }
            Problem::TaskAwaitedUnderLock { .. } => {
                "task awaited while holding a lock the task takes!"
            }
        }
    }

    /// Names of the classes the problem is about (the cycle, or the lock).
    pub fn class_names(&self) -> Vec<&str> {
        match &self.problem {
            Problem::CircularDependency { chain, .. }
            | Problem::TaskAwaitedUnderLock { chain, .. } => {
                chain.iter().map(|l| l.lock.name.as_str()).collect()
            }
            Problem::RecursiveLocking { acquiring, .. } => vec![acquiring.name.as_str()],
            Problem::BadUnlockBalance { releasing } => vec![releasing.name.as_str()],
            Problem::HeldAtThreadExit => self.held.iter().map(|l| l.name.as_str()).collect(),
            Problem::HeldLockFreed { lock }
            | Problem::AssertionFailed { lock, .. }
            | Problem::PinnedLockReleased { lock }
            | Problem::InconsistentLockState { lock, .. } => vec![lock.name.as_str()],
            Problem::NestLockNotHeld {
                acquiring,
                nest_lock,
            } => vec![acquiring.name.as_str(), nest_lock.name.as_str()],
            Problem::HeldAcrossAwait { lock, task } => vec![lock.name.as_str(), task.name.as_str()],
            Problem::BlockingWaitInTask {
                waiting, holding, ..
            } => vec![waiting.name.as_str(), holding.name.as_str()],
        }
    }
}

impl AsRef<Report> for Report {
    fn as_ref(&self) -> &Report {
        self
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::render::text(self))
    }
}
