//! The JSON schema: every document lockdep writes or reads, versioned.
//!
//! One JSON object per document, one document per line where a file holds
//! several (`LOCKDEP_REPORT_FILE`, `LOCKDEP_RECORD`). Each is an
//! [`Envelope`]: a `schema_version` ([`SCHEMA_VERSION`]), a `kind`, and the
//! [`Document`]'s fields beside them, flat. `docs/json-schema.md` documents
//! every field.
//!
//! ```
//! use lockdep::schema::{Document, Envelope};
//!
//! let line = Envelope::new(Document::Class(lockdep::schema::Class {
//!     id: 0,
//!     key: "key accounts/0".into(),
//!     name: "accounts".into(),
//!     ..Default::default()
//! }))
//! .to_line();
//! assert!(line.starts_with(r#"{"schema_version":1,"kind":"class","#));
//! let back = Envelope::parse(&line).unwrap();
//! assert!(matches!(back.document, Document::Class(c) if c.name == "accounts"));
//! ```
//!
//! Versioning: fields are only ever added, optional, within a version;
//! readers ignore fields they do not know. A change that removes or
//! changes the meaning of a field bumps [`SCHEMA_VERSION`], and
//! [`Envelope::parse`] refuses documents of a version it does not know.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::held::Mode;
use crate::report::{Frame, Report, Site};
use crate::validator::Stats;

/// The version of the schema this crate writes, and the only one it reads.
pub const SCHEMA_VERSION: u32 = 1;

/// A document with its version: what one JSON line holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// The document, its `kind` and fields beside `schema_version`.
    #[serde(flatten)]
    pub document: Document,
}

/// Every kind of document, tagged by `kind`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Document {
    /// A report, as `LOCKDEP_REPORT_FORMAT=json` prints it and
    /// `LOCKDEP_REPORT_FILE` appends it.
    Report(Box<Report>),
    /// The first line of a process's record: who wrote it.
    Process(Process),
    /// A class of a record, written before the first dependency that uses it.
    Class(Class),
    /// A dependency of a record, written when first learned.
    Dependency(Dependency),
    /// [`crate::dump()`]: what the validator knows, like the kernel's
    /// `/proc/lockdep`, `/proc/lockdep_chains` and `/proc/lockdep_stats`.
    Dump(Dump),
    /// A dependency graph merged from records (`cargo lockdep merge --json`),
    /// with the cycles found in it.
    Graph(Graph),
}

/// The process that wrote a record, and the test it ran.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    /// Operating-system process id.
    pub pid: u32,
    /// File name of the executable (a test binary's has cargo's hash).
    pub executable: String,
    /// Version of the lockdep crate that wrote it.
    pub lockdep_version: String,
    /// `NEXTEST_TEST_NAME`: the test this process runs under cargo-nextest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_name: Option<String>,
    /// `NEXTEST_BINARY_ID`: the test binary, as nextest names it
    /// (`crate::test-target`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_id: Option<String>,
    /// `NEXTEST_RUN_ID`: the nextest run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// When the process started recording, in milliseconds since the Unix
    /// epoch.
    #[serde(default)]
    pub started_at_ms: u64,
}

impl Process {
    /// How a report names who learned a dependency: the test if known,
    /// the binary, the pid.
    pub fn describe(&self) -> String {
        let binary = self.binary_id.as_deref().unwrap_or(&self.executable);
        match &self.test_name {
            Some(test) => format!("test {test} (binary {binary}, pid {})", self.pid),
            None => format!("process {} (binary {binary})", self.pid),
        }
    }
}

/// A lock class.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Class {
    /// The class's number in this document: a process's own class id in a
    /// record or dump, an index into [`Graph::classes`] in a graph.
    pub id: u32,
    /// The identity that stays the same across processes of one build, by
    /// which `merge` joins records: the construction site and protected
    /// type or name for a site class, the name for a key's class, and the
    /// subclass. Opaque: compare it, do not parse it.
    pub key: String,
    /// The printed name (`s_active#3`, `rq_lock/1`).
    pub name: String,
    /// The subclass (0 for a base class).
    #[serde(default)]
    pub subclass: u32,
    /// Where the class's locks are built, for a class of a construction
    /// site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<Site>,
    /// The protected type, for a site class without a name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    /// How the class has been acquired, as in a report: exclusive, shared,
    /// recursive-shared, each `+` (seen) or `.`.
    #[serde(default = "no_usage")]
    pub usage: String,
    /// Dependencies from this class (the kernel's `FD`), in a dump or graph.
    #[serde(default)]
    pub forward: usize,
    /// Dependencies to this class (`BD`), in a dump or graph.
    #[serde(default)]
    pub backward: usize,
}

fn no_usage() -> String {
    "...".to_string()
}

impl Default for Class {
    fn default() -> Class {
        Class {
            id: 0,
            key: String::new(),
            name: String::new(),
            subclass: 0,
            site: None,
            type_name: None,
            usage: no_usage(),
            forward: 0,
            backward: 0,
        }
    }
}

/// A dependency: `to` was acquired while `from` was held.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependency {
    /// The held class ([`Class::id`]).
    pub from: u32,
    /// The class acquired under it.
    pub to: u32,
    /// Its dependency types, `|`-separated, of `EN`, `ER`, `SN`, `SR` (the
    /// holder exclusive or shared, the acquirer non-recursive or
    /// recursive-read). A record writes one line per type learned.
    pub types: String,
    /// The mode `from` was held in when the type was first learned (records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_mode: Option<Mode>,
    /// The mode `to` was acquired in then (records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_mode: Option<Mode>,
    /// The stack that first learned it, innermost first, symbolized.
    #[serde(default)]
    pub stack: Vec<Frame>,
    /// In a graph: who learned it first, an index into [`Graph::processes`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<u32>,
}

/// One lock of a chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainLock {
    /// The class ([`Class::id`]).
    pub class: u32,
    /// How it was acquired.
    pub mode: Mode,
    /// Whether it was a trylock.
    #[serde(default)]
    pub trylock: bool,
}

/// A validated chain: the classes a thread held, outermost first, the last
/// being the one acquired (the kernel's `/proc/lockdep_chains`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chain {
    /// The locks, outermost first.
    pub locks: Vec<ChainLock>,
}

/// What the validator knows: classes, dependencies, chains and counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dump {
    /// Every class registered.
    pub classes: Vec<Class>,
    /// Every dependency in the graph, without stacks.
    pub dependencies: Vec<Dependency>,
    /// Every validated chain kept (see `Stats::chains`).
    pub chains: Vec<Chain>,
    /// The counters of [`crate::stats()`].
    pub stats: Stats,
}

/// A cycle found in a merged graph.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cycle {
    /// Its classes ([`Class::id`]), in the report's chain order.
    pub classes: Vec<u32>,
    /// Its dependencies, indices into [`Graph::dependencies`].
    pub dependencies: Vec<u32>,
    /// Whether its dependencies were learned by more than one process.
    pub across_processes: bool,
    /// The report, in the layout a process raises.
    pub report: Report,
}

/// A dependency graph merged from the records of several processes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Graph {
    /// The processes whose records were merged.
    pub processes: Vec<Process>,
    /// The classes, joined by [`Class::key`]; ids are indices.
    pub classes: Vec<Class>,
    /// The dependencies, joined by their classes; types are the union.
    pub dependencies: Vec<Dependency>,
    /// The strong cycles found.
    pub cycles: Vec<Cycle>,
}

/// A document that could not be read.
#[derive(Debug)]
pub enum ParseError {
    /// Not JSON, or not a document of this schema.
    Json(serde_json::Error),
    /// A document of another schema version.
    Version(u32),
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::Json(e) => write!(f, "{e}"),
            ParseError::Version(v) => write!(
                f,
                "schema_version {v} is not supported (this reader knows {SCHEMA_VERSION})"
            ),
        }
    }
}

impl std::error::Error for ParseError {}

impl Envelope {
    /// A document of this crate's [`SCHEMA_VERSION`].
    pub fn new(document: Document) -> Envelope {
        Envelope {
            schema_version: SCHEMA_VERSION,
            document,
        }
    }

    /// The document as one line of JSON, without the newline.
    pub fn to_line(&self) -> String {
        // Serializing plain data with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads one document, refusing another schema version.
    pub fn parse(text: &str) -> Result<Envelope, ParseError> {
        #[derive(Deserialize)]
        struct Version {
            schema_version: u32,
        }
        let v: Version = serde_json::from_str(text).map_err(ParseError::Json)?;
        if v.schema_version != SCHEMA_VERSION {
            return Err(ParseError::Version(v.schema_version));
        }
        serde_json::from_str(text).map_err(ParseError::Json)
    }
}

/// A report's [`ProcessInfo`](crate::report::ProcessInfo) as read: its
/// `lockdep_version` is interned (this crate's version as is), so that
/// reading many reports keeps one copy of each distinct value.
#[derive(Deserialize)]
pub(crate) struct ProcessInfoData {
    pid: u32,
    executable: String,
    lockdep_version: String,
    #[serde(default)]
    test: Option<String>,
    #[serde(default)]
    kernel: Option<String>,
}

impl<'de> Deserialize<'de> for crate::report::ProcessInfo {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ProcessInfoData::deserialize(d).map(Into::into)
    }
}

/// A recorded process as a report's: its pid, executable, version and test.
impl From<&Process> for crate::report::ProcessInfo {
    fn from(p: &Process) -> crate::report::ProcessInfo {
        crate::report::ProcessInfo {
            pid: p.pid,
            executable: p.executable.clone(),
            lockdep_version: intern(p.lockdep_version.clone()),
            test: p.test_name.clone(),
            kernel: None,
        }
    }
}

impl From<ProcessInfoData> for crate::report::ProcessInfo {
    fn from(d: ProcessInfoData) -> crate::report::ProcessInfo {
        crate::report::ProcessInfo {
            pid: d.pid,
            executable: d.executable,
            lockdep_version: intern(d.lockdep_version),
            test: d.test,
            kernel: d.kernel,
        }
    }
}

fn intern(s: String) -> &'static str {
    static SEEN: crate::raw::Mutex<Option<HashSet<&'static str>>> = crate::raw::const_mutex(None);
    if s == env!("CARGO_PKG_VERSION") {
        return env!("CARGO_PKG_VERSION");
    }
    let mut seen = SEEN.lock();
    let seen = seen.get_or_insert_with(HashSet::new);
    if let Some(&known) = seen.get(s.as_str()) {
        return known;
    }
    let leaked: &'static str = Box::leak(s.into_boxed_str());
    seen.insert(leaked);
    leaked
}

/// `Option<Ordering>` as `"less"`, `"equal"`, `"greater"` or `null`.
pub(crate) mod ordering {
    use std::cmp::Ordering;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(o: &Option<Ordering>, s: S) -> Result<S::Ok, S::Error> {
        match o {
            None => s.serialize_none(),
            Some(Ordering::Less) => s.serialize_str("less"),
            Some(Ordering::Equal) => s.serialize_str("equal"),
            Some(Ordering::Greater) => s.serialize_str("greater"),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Ordering>, D::Error> {
        match Option::<String>::deserialize(d)?.as_deref() {
            None => Ok(None),
            Some("less") => Ok(Some(Ordering::Less)),
            Some("equal") => Ok(Some(Ordering::Equal)),
            Some("greater") => Ok(Some(Ordering::Greater)),
            Some(other) => Err(serde::de::Error::unknown_variant(
                other,
                &["less", "equal", "greater"],
            )),
        }
    }
}
