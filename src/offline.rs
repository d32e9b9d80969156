//! The validator's dependency graph and strong-cycle search, for tools
//! that work on graphs recorded elsewhere (`cargo lockdep merge`).
//!
//! [`Graph`] is the very graph a process validates with (`graph.rs`), with
//! classes numbered densely from 0 by the caller. [`Graph::learn`] does what
//! the validator does when an acquisition brings a dependency type it has
//! not seen: search for the shortest *strong* cycle the new dependency
//! would close (breadth-first, no `*R` edge followed by an `S*` edge), then
//! add it. Replaying every recorded dependency through it finds each cycle
//! that a single process learning all of them would have reported.
//!
//! ```
//! use lockdep::offline::{DepType, Graph};
//!
//! let mut g = Graph::new();
//! assert!(g.learn(0, 1, DepType::EN, 100).is_none()); // a -> b, learned by "100"
//! let cycle = g.learn(1, 0, DepType::EN, 200).expect("b -> a closes a cycle");
//! assert_eq!(cycle.len(), 1);
//! assert_eq!((cycle[0].from, cycle[0].to, cycle[0].tag), (0, 1, 100));
//! // A shared holder and recursive readers make no strong cycle.
//! let mut g = Graph::new();
//! g.learn(0, 1, DepType::SR, 0);
//! assert!(g.learn(1, 0, DepType::SR, 0).is_none());
//! ```

use crate::class::ClassId;
use crate::graph;
use crate::held::Mode;
use crate::trace::TraceId;

/// One of the kernel's four dependency types: how the first lock was held
/// (`E`xclusive or `S`hared) and how the second was acquired (`N`: can
/// block behind a waiting writer; `R`: a recursive read).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DepType {
    /// Exclusive holder, non-recursive acquirer.
    EN,
    /// Exclusive holder, recursive-read acquirer.
    ER,
    /// Shared holder, non-recursive acquirer.
    SN,
    /// Shared holder, recursive-read acquirer.
    SR,
}

impl DepType {
    /// All four, in the order they are printed.
    pub const ALL: [DepType; 4] = [DepType::EN, DepType::ER, DepType::SN, DepType::SR];

    /// The type of acquiring in `acquired` mode while holding in `holder`
    /// mode.
    pub fn of(holder: Mode, acquired: Mode) -> DepType {
        Self::from_bit(graph::dep_bit(holder, acquired))
    }

    fn from_bit(bit: u8) -> DepType {
        match bit {
            graph::DEP_EN => DepType::EN,
            graph::DEP_ER => DepType::ER,
            graph::DEP_SN => DepType::SN,
            _ => DepType::SR,
        }
    }

    fn bit(self) -> u8 {
        match self {
            DepType::EN => graph::DEP_EN,
            DepType::ER => graph::DEP_ER,
            DepType::SN => graph::DEP_SN,
            DepType::SR => graph::DEP_SR,
        }
    }

    /// Modes that make this type: the holder's and the acquirer's.
    pub fn modes(self) -> (Mode, Mode) {
        match self {
            DepType::EN => (Mode::Exclusive, Mode::Exclusive),
            DepType::ER => (Mode::Exclusive, Mode::SharedRecursive),
            DepType::SN => (Mode::Shared, Mode::Exclusive),
            DepType::SR => (Mode::Shared, Mode::SharedRecursive),
        }
    }

    /// `"EN"`, `"ER"`, `"SN"` or `"SR"`.
    pub fn name(self) -> &'static str {
        match self {
            DepType::EN => "EN",
            DepType::ER => "ER",
            DepType::SN => "SN",
            DepType::SR => "SR",
        }
    }

    /// Reads a `|`-separated list (`"EN|SN"`), as reports and records
    /// write them; the error names the part that is not a type.
    pub fn parse_list(text: &str) -> Result<Vec<DepType>, String> {
        text.split('|')
            .map(|part| {
                DepType::ALL
                    .into_iter()
                    .find(|t| t.name() == part.trim())
                    .ok_or_else(|| format!("{part:?} is not a dependency type (EN, ER, SN or SR)"))
            })
            .collect()
    }

    /// The names of a set of types, `|`-separated, as reports print them.
    pub fn names(types: &[DepType]) -> String {
        graph::dep_names(types.iter().fold(0, |bits, t| bits | t.bit()))
    }
}

/// The [`ClassId`] numbered `index`, for reports built from a graph
/// recorded elsewhere ([`Report`](crate::Report)s name their classes by id).
/// It names no class of this process.
pub fn class_id(index: u32) -> ClassId {
    ClassId(index)
}

/// One dependency of a cycle's path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathEdge {
    /// The held class.
    pub from: u32,
    /// The class acquired under it.
    pub to: u32,
    /// Every type the dependency carries.
    pub types: Vec<DepType>,
    /// The tag given when the dependency was first learned.
    pub tag: u32,
}

/// A dependency graph between classes `0..n`, searched as the validator
/// searches its own.
#[derive(Default)]
pub struct Graph {
    inner: graph::Graph,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Graph {
        Graph::default()
    }

    /// Does `from -> to` already carry `dep`?
    pub fn has(&self, from: u32, to: u32, dep: DepType) -> bool {
        self.inner.has(ClassId(from), ClassId(to), dep.bit())
    }

    /// The validator's step for a dependency type: if `from -> to` does not
    /// carry `dep` yet, searches for the shortest strong cycle adding it
    /// closes, then adds it, keeping `tag` if the pair is new (a known pair
    /// keeps its first tag, as the validator keeps the first stack).
    /// Returns the cycle's path, from `to` back to `from`, without the new
    /// dependency. A class depending on itself is not a dependency: the
    /// validator reports that as recursion.
    pub fn learn(&mut self, from: u32, to: u32, dep: DepType, tag: u32) -> Option<Vec<PathEdge>> {
        if from == to || self.has(from, to, dep) {
            return None;
        }
        let (from_mode, to_mode) = dep.modes();
        let path = self
            .inner
            .find_cycle(ClassId(from), from_mode, ClassId(to), to_mode);
        self.inner
            .add_edge(ClassId(from), ClassId(to), dep.bit(), TraceId(tag));
        path.map(|path| {
            path.iter()
                .map(|&e| {
                    let edge = self.inner.edge(e);
                    PathEdge {
                        from: edge.from.0,
                        to: edge.to.0,
                        types: DepType::ALL
                            .into_iter()
                            .filter(|t| edge.dep & t.bit() != 0)
                            .collect(),
                        tag: edge.trace.0,
                    }
                })
                .collect()
        })
    }

    /// The number of dependencies (pairs of classes).
    pub fn dependency_count(&self) -> usize {
        self.inner.edge_count()
    }
}
