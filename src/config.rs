//! Configuration: what happens on a report, and the runtime on/off switch.
//!
//! The action is set in code with [`set_action`]; the environment variable
//! [`ENV_ACTION`] (`LOCKDEP_ACTION`) overrides it, so a test run can be made
//! strict, or quiet, without a rebuild. Validation itself can be switched off
//! and on at run time with [`set_enabled`].

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use crate::report::Report;

/// The environment variable that overrides the action: `panic`, `print` or `silent`.
pub const ENV_ACTION: &str = "LOCKDEP_ACTION";

/// A user callback for reports.
pub type Callback = Arc<dyn Fn(&Report) + Send + Sync>;

/// What the validator does with a report.
///
/// Whatever the action, every report is also appended to the log that
/// [`crate::reports`] returns, so none is lost.
#[derive(Clone, Default)]
pub enum Action {
    /// Panic in the thread that raised the report, with the report in full
    /// as the panic's message (what a test harness shows as the failure).
    ///
    /// A panic is raised only by a blocking acquisition, before its lock is
    /// taken and before anything is recorded. A report raised anywhere else
    /// (a release or a dropped lock, which run in destructors, an
    /// assertion, an acquisition while the thread is already panicking) is
    /// printed at once, and its panic is raised by the thread's next
    /// blocking acquisition. A report at a thread's exit is printed only.
    /// One acquisition that raises several reports panics once, with all
    /// of them.
    Panic,
    /// Print the report to standard error and continue. The default.
    /// The text is written to the process's standard error itself, so that
    /// a test harness's output capture does not hide it.
    #[default]
    Print,
    /// Only record the report in the log.
    Silent,
    /// Call a function with the report, then continue. Locks the callback
    /// takes are not validated (the validator does not recurse into itself).
    ///
    /// A callback that panics is treated as [`Action::Panic`] is: its panic
    /// is caught, every other report is still delivered, and the panic is
    /// resumed where a panic may be raised (the blocking acquisition that
    /// raised the report, else the thread's next one); at a thread's exit
    /// it is dropped, with a line on standard error. (Inside a panic hook
    /// Rust itself aborts on any panic: a callback must not panic there.)
    Callback(Callback),
}

impl Action {
    /// A callback action from a closure.
    pub fn callback(f: impl Fn(&Report) + Send + Sync + 'static) -> Action {
        Action::Callback(Arc::new(f))
    }
}

impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Panic => "Panic",
            Action::Print => "Print",
            Action::Silent => "Silent",
            Action::Callback(_) => "Callback(..)",
        })
    }
}

/// A bad configuration value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable.
    pub variable: &'static str,
    /// The value found.
    pub value: String,
    /// What it may be.
    pub expected: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "lockdep: {}={:?} is not valid: expected one of {}",
            self.variable, self.value, self.expected
        )
    }
}

impl std::error::Error for ConfigError {}

/// `"panic"`, `"print"` or `"silent"`, in any case and with white space
/// around it, as `LOCKDEP_ACTION` takes them.
///
/// ```
/// let action: lockdep::Action = " Panic ".parse().unwrap();
/// assert!(matches!(action, lockdep::Action::Panic));
/// assert!("painc".parse::<lockdep::Action>().is_err());
/// ```
impl std::str::FromStr for Action {
    type Err = ConfigError;

    fn from_str(value: &str) -> Result<Action, ConfigError> {
        parse_action(value)
    }
}

/// Parses a value of [`ENV_ACTION`]. Case and surrounding space are ignored.
pub(crate) fn parse_action(value: &str) -> Result<Action, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "panic" => Ok(Action::Panic),
        "print" => Ok(Action::Print),
        "silent" => Ok(Action::Silent),
        _ => Err(ConfigError {
            variable: ENV_ACTION,
            value: value.to_string(),
            expected: "panic, print, silent",
        }),
    }
}

/// The override from the environment: `Ok(None)` when the variable is unset.
pub fn action_from_env() -> Result<Option<Action>, ConfigError> {
    from_env(ENV_ACTION, "panic, print, silent", parse_action)
}

/// A variable's value parsed: `Ok(None)` when it is unset, an error naming
/// it when its value is bad or not Unicode.
fn from_env<T>(
    variable: &'static str,
    expected: &'static str,
    parse: fn(&str) -> Result<T, ConfigError>,
) -> Result<Option<T>, ConfigError> {
    match std::env::var(variable) {
        Ok(v) => parse(&v).map(Some),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(v)) => Err(ConfigError {
            variable,
            value: v.to_string_lossy().into_owned(),
            expected,
        }),
    }
}

/// The environment variable that chooses how printed reports look:
/// `text` (the kernel's layout, the default) or `json` (one
/// [`schema`](crate::schema) document per line).
pub const ENV_REPORT_FORMAT: &str = "LOCKDEP_REPORT_FORMAT";

/// The environment variable naming a file that every report is appended
/// to, one JSON document ([`crate::schema::Envelope`]) per line, whatever
/// the action and format. A line is written whole, by one write, under a
/// lock, so threads never interleave; a write error is counted
/// (`Stats::report_file_errors`), never raised.
pub const ENV_REPORT_FILE: &str = "LOCKDEP_REPORT_FILE";

/// The environment variable naming a directory where the process records
/// what it learns (see [`crate::record`]).
pub const ENV_RECORD: &str = "LOCKDEP_RECORD";

/// How printed reports look ([`ENV_REPORT_FORMAT`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReportFormat {
    /// The kernel's text layout ([`crate::render::text`]).
    #[default]
    Text,
    /// One line of JSON per report ([`crate::render::json::line`]).
    Json,
}

/// `"text"` or `"json"`, in any case and with white space around it.
///
/// ```
/// use lockdep::config::ReportFormat;
/// assert_eq!(" JSON ".parse::<ReportFormat>().unwrap(), ReportFormat::Json);
/// assert!("yaml".parse::<ReportFormat>().is_err());
/// ```
impl std::str::FromStr for ReportFormat {
    type Err = ConfigError;

    fn from_str(value: &str) -> Result<ReportFormat, ConfigError> {
        parse_format(value)
    }
}

fn parse_format(value: &str) -> Result<ReportFormat, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "text" => Ok(ReportFormat::Text),
        "json" => Ok(ReportFormat::Json),
        _ => Err(ConfigError {
            variable: ENV_REPORT_FORMAT,
            value: value.to_string(),
            expected: "text, json",
        }),
    }
}

/// The format in force, from [`ENV_REPORT_FORMAT`], read once. A bad value
/// is reported on standard error once, and reports are printed as text:
/// none is lost to a typo.
pub fn report_format() -> ReportFormat {
    static FORMAT: OnceLock<ReportFormat> = OnceLock::new();
    *FORMAT.get_or_init(
        || match from_env(ENV_REPORT_FORMAT, "text, json", parse_format) {
            Ok(f) => f.unwrap_or_default(),
            Err(e) => {
                to_stderr(&format!("{e}; printing reports as text\n"));
                ReportFormat::Text
            }
        },
    )
}

/// Writes to the process's standard error itself, not through `eprint!`:
/// a test harness captures `eprint!`'s output, and shows it only for tests
/// that fail. For reports, and for what the validator must say.
pub(crate) fn to_stderr(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// A path from the environment, read once: `None` when unset or empty.
pub(crate) fn path_from_env(variable: &'static str) -> Option<std::path::PathBuf> {
    std::env::var_os(variable)
        .filter(|v| !v.is_empty())
        .map(std::path::PathBuf::from)
}

static ACTION: crate::raw::RwLock<Option<Action>> = crate::raw::const_rwlock(None);
static ENV: OnceLock<Option<Action>> = OnceLock::new();
static ENABLED: AtomicBool = AtomicBool::new(true);
static MEMORY_LIMIT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Caps the memory the validator's graph, stored traces, chain set, report
/// log and symbol cache may use (`None`: no cap, the default; tables grow
/// as needed). When the cap is passed, the validator says so once on
/// standard error and from then on stores no new stack trace and no new
/// chain in the global set. It keeps every dependency learned so far, and
/// keeps learning and checking dependencies among the classes registered
/// before the cap (so cycles among them are still found; their reports show
/// no stack for those links). Dependencies of classes registered after it
/// are not recorded: `Stats::dependencies_dropped` counts them.
pub fn set_memory_limit(bytes: Option<usize>) {
    MEMORY_LIMIT.store(bytes.unwrap_or(0), Ordering::Relaxed);
}

/// The memory cap in bytes; 0 when there is none.
pub(crate) fn memory_limit() -> usize {
    MEMORY_LIMIT.load(Ordering::Relaxed)
}

static REPORT_LOG_LIMIT: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(DEFAULT_REPORT_LOG_LIMIT);
static SYMBOL_CACHE_LIMIT: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(DEFAULT_SYMBOL_CACHE_LIMIT);

/// How many reports [`crate::reports`] keeps by default.
pub const DEFAULT_REPORT_LOG_LIMIT: usize = 10_000;
/// The default bound, in bytes, of the cache of symbolized addresses.
pub const DEFAULT_SYMBOL_CACHE_LIMIT: usize = 4 << 20;

/// How many reports the log ([`crate::reports`]) keeps: past it, the oldest
/// are dropped from the log (each is still delivered by the action; the
/// validator says so once on standard error, and `Stats::reports_dropped`
/// counts them). `None` restores the default, [`DEFAULT_REPORT_LOG_LIMIT`].
pub fn set_report_log_limit(reports: Option<usize>) {
    let limit = reports.unwrap_or(DEFAULT_REPORT_LOG_LIMIT);
    REPORT_LOG_LIMIT.store(limit, Ordering::Relaxed);
}

/// The number of reports the log keeps.
pub(crate) fn report_log_limit() -> usize {
    REPORT_LOG_LIMIT.load(Ordering::Relaxed)
}

/// Bounds the cache of symbolized addresses (and with it the `backtrace`
/// crate's cache of parsed debug information, cleared whenever this one
/// starts over) to `bytes`. `None` restores the default,
/// [`DEFAULT_SYMBOL_CACHE_LIMIT`].
pub fn set_symbol_cache_limit(bytes: Option<usize>) {
    let limit = bytes.unwrap_or(DEFAULT_SYMBOL_CACHE_LIMIT);
    SYMBOL_CACHE_LIMIT.store(limit, Ordering::Relaxed);
}

/// The symbol cache's bound in bytes.
pub(crate) fn symbol_cache_limit() -> usize {
    SYMBOL_CACHE_LIMIT.load(Ordering::Relaxed)
}

/// Sets the action taken on a report (unless [`ENV_ACTION`] overrides it).
pub fn set_action(action: Action) {
    *ACTION.write() = Some(action);
}

/// The action in force: the environment's override if set, else the one set
/// in code, else [`Action::Print`].
///
/// A bad value in the environment is reported on standard error once, and is
/// then treated as `panic`: a mistyped strict setting must not pass silently.
pub fn action() -> Action {
    let env = ENV.get_or_init(|| match action_from_env() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}; treating it as \"panic\"");
            Some(Action::Panic)
        }
    });
    if let Some(a) = env {
        return a.clone();
    }
    ACTION.read().clone().unwrap_or_default()
}

/// Turns validation on or off at run time. Locks keep working either way;
/// while off, acquisitions are neither recorded nor checked.
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Is validation on?
#[inline]
pub fn is_enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_values() {
        assert!(matches!(parse_action("panic"), Ok(Action::Panic)));
        assert!(matches!(parse_action(" Print "), Ok(Action::Print)));
        assert!(matches!(parse_action("SILENT"), Ok(Action::Silent)));
    }

    #[test]
    fn report_formats_parse_with_clear_errors() {
        assert_eq!(parse_format("text").unwrap(), ReportFormat::Text);
        assert_eq!(parse_format(" Json\n").unwrap(), ReportFormat::Json);
        assert_eq!(
            parse_format("xml").unwrap_err().to_string(),
            "lockdep: LOCKDEP_REPORT_FORMAT=\"xml\" is not valid: expected one of text, json"
        );
    }

    #[test]
    fn bad_value_has_a_clear_error() {
        let e = parse_action("painc").unwrap_err();
        assert_eq!(e.value, "painc");
        assert_eq!(
            e.to_string(),
            "lockdep: LOCKDEP_ACTION=\"painc\" is not valid: expected one of panic, print, silent"
        );
    }
}
