//! The dependency graph between classes, and the search for strong cycles.
//!
//! An edge `A -> B` means "B was acquired while A was held". Each edge carries
//! a set of the kernel's four dependency types, named by what the *first* lock
//! was held as (E = exclusive, S = shared) and how the *second* was acquired
//! (R = recursive shared, N = anything that can block behind a waiting writer):
//! `-(ER)->`, `-(EN)->`, `-(SR)->`, `-(SN)->`.
//!
//! A cycle is a deadlock only if it is *strong*: no edge ending in R is
//! followed by an edge starting with S, since a recursive reader is only
//! blocked by a writer that already holds the lock, and a shared holder does
//! not block it. The search is a breadth-first search, so the shortest strong
//! cycle is the one reported. Each visited state is `(class, only_xr)`, where
//! `only_xr` says every way the search reached the class ended in `*R`; the
//! search may visit a class once in each state, so it never misses a strong
//! path that a more permissive arrival would allow.

use std::collections::{HashMap, VecDeque};

use crate::class::ClassId;
use crate::held::Mode;
use crate::trace::TraceId;

/// Shared holder, recursive acquirer.
pub(crate) const DEP_SR: u8 = 1 << 0;
/// Exclusive holder, recursive acquirer.
pub(crate) const DEP_ER: u8 = 1 << 1;
/// Shared holder, non-recursive acquirer.
pub(crate) const DEP_SN: u8 = 1 << 2;
/// Exclusive holder, non-recursive acquirer.
pub(crate) const DEP_EN: u8 = 1 << 3;

/// The dependency type of acquiring `next` while `prev` is held.
#[inline]
pub(crate) fn dep_bit(prev: Mode, next: Mode) -> u8 {
    let exclusive_prev = u8::from(prev == Mode::Exclusive);
    let non_recursive_next = u8::from(next != Mode::SharedRecursive);
    1 << (exclusive_prev + (non_recursive_next << 1))
}

/// Names of the dependency types present in `dep`, e.g. `"EN|SN"`.
pub(crate) fn dep_names(dep: u8) -> String {
    [
        (DEP_EN, "EN"),
        (DEP_ER, "ER"),
        (DEP_SN, "SN"),
        (DEP_SR, "SR"),
    ]
    .iter()
    .filter(|(bit, _)| dep & bit != 0)
    .map(|(_, name)| *name)
    .collect::<Vec<_>>()
    .join("|")
}

/// Usage bits: how a class has been acquired in validated chains.
pub(crate) const USED_EXCLUSIVE: u8 = 1 << 0;
pub(crate) const USED_SHARED: u8 = 1 << 1;
pub(crate) const USED_RECURSIVE: u8 = 1 << 2;
/// Not a usage: the class was unregistered.
const RETIRED: u8 = 1 << 7;

pub(crate) fn usage_bit(mode: Mode) -> u8 {
    match mode {
        Mode::Exclusive => USED_EXCLUSIVE,
        Mode::Shared => USED_SHARED,
        Mode::SharedRecursive => USED_RECURSIVE,
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Edge {
    pub(crate) from: ClassId,
    pub(crate) to: ClassId,
    pub(crate) dep: u8,
    /// The stack of the first acquisition that created the edge.
    pub(crate) trace: TraceId,
}

/// What [`Graph::add_edge`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Added {
    /// The edge already carried these dependency types.
    Known,
    /// New edge, or new dependency types on a known edge.
    New,
}

#[derive(Default)]
pub(crate) struct Graph {
    after: Vec<Vec<u32>>,
    usage: Vec<u8>,
    edges: Vec<Edge>,
    /// Slots of `edges` freed by [`Graph::remove_classes`], to reuse.
    free: Vec<u32>,
    index: HashMap<(ClassId, ClassId), u32>,
    // Breadth-first search scratch space, reused between searches.
    generation: u32,
    seen: Vec<[u32; 2]>,
    parent: Vec<[(u32, bool); 2]>,
    queue: VecDeque<(ClassId, bool)>,
}

impl Graph {
    fn ensure(&mut self, class: ClassId) {
        let n = class.index() + 1;
        if self.after.len() < n {
            self.after.resize_with(n, Vec::new);
            self.usage.resize(n, 0);
            self.seen.resize(n, [0; 2]);
            self.parent.resize(n, [(0, false); 2]);
        }
    }

    pub(crate) fn mark_used(&mut self, class: ClassId, mode: Mode) {
        self.ensure(class);
        self.usage[class.index()] |= usage_bit(mode);
    }

    pub(crate) fn usage(&self, class: ClassId) -> u8 {
        self.usage.get(class.index()).copied().unwrap_or(0)
    }

    /// Does the edge `from -> to` already carry every type in `dep`?
    pub(crate) fn has(&self, from: ClassId, to: ClassId, dep: u8) -> bool {
        self.index
            .get(&(from, to))
            .is_some_and(|&e| self.edges[e as usize].dep & dep == dep)
    }

    /// Records `from -> to` with the types in `dep`. A known edge keeps the
    /// trace of its first sighting.
    pub(crate) fn add_edge(
        &mut self,
        from: ClassId,
        to: ClassId,
        dep: u8,
        trace: TraceId,
    ) -> Added {
        self.ensure(from);
        self.ensure(to);
        if let Some(&e) = self.index.get(&(from, to)) {
            let edge = &mut self.edges[e as usize];
            if edge.dep & dep == dep {
                return Added::Known;
            }
            edge.dep |= dep;
            return Added::New;
        }
        let edge = Edge {
            from,
            to,
            dep,
            trace,
        };
        let e = match self.free.pop() {
            Some(e) => {
                self.edges[e as usize] = edge;
                e
            }
            None => {
                let e = u32::try_from(self.edges.len()).expect("more than 2^32 dependencies");
                self.edges.push(edge);
                e
            }
        };
        self.index.insert((from, to), e);
        self.after[from.index()].push(e);
        Added::New
    }

    pub(crate) fn edge(&self, e: u32) -> &Edge {
        &self.edges[e as usize]
    }

    /// Every dependency, in the order first learned (freed slots skipped).
    pub(crate) fn edges(&self) -> impl Iterator<Item = &Edge> + '_ {
        self.edges.iter().filter(|e| e.dep != 0)
    }

    pub(crate) fn edge_count(&self) -> usize {
        self.edges.len() - self.free.len()
    }

    /// Forgets every dependency from or to the classes in `gone` (classes
    /// unregistered for good), and their usage. Their slots are reused.
    pub(crate) fn remove_classes(&mut self, gone: &[ClassId]) {
        let doomed: Vec<((ClassId, ClassId), u32)> = self
            .index
            .iter()
            .filter(|((from, to), _)| gone.contains(from) || gone.contains(to))
            .map(|(&k, &e)| (k, e))
            .collect();
        for ((from, to), e) in doomed {
            self.index.remove(&(from, to));
            self.after[from.index()].retain(|&x| x != e);
            self.edges[e as usize].dep = 0;
            self.free.push(e);
        }
        for &c in gone {
            self.ensure(c);
            self.usage[c.index()] = RETIRED;
        }
    }

    /// Was the class unregistered? Its locks add no dependencies.
    pub(crate) fn retired(&self, class: ClassId) -> bool {
        self.usage(class) & RETIRED != 0
    }

    pub(crate) fn class_count(&self) -> usize {
        self.after.len()
    }

    /// Would adding `prev -> next` close a strong cycle? Searches forward from
    /// `next` for `prev` and returns the edges of the shortest strong path
    /// found, from `next` to `prev`.
    #[inline(never)]
    pub(crate) fn find_cycle(
        &mut self,
        prev: ClassId,
        prev_mode: Mode,
        next: ClassId,
        next_mode: Mode,
    ) -> Option<Vec<u32>> {
        self.ensure(prev);
        self.ensure(next);
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // Wrapped: clear the marks so stale ones cannot match.
            self.seen.iter_mut().for_each(|s| *s = [0; 2]);
            self.generation = 1;
        }
        let generation = self.generation;
        self.queue.clear();
        // The new edge ends in R when `next` is a recursive read, and then the
        // path may not start with an S edge.
        let root_xr = next_mode == Mode::SharedRecursive;
        self.seen[next.index()][usize::from(root_xr)] = generation;
        self.queue.push_back((next, root_xr));
        while let Some((class, only_xr)) = self.queue.pop_front() {
            for i in 0..self.after[class.index()].len() {
                let e = self.after[class.index()][i];
                let edge = &self.edges[e as usize];
                let mut dep = edge.dep;
                if only_xr {
                    dep &= !(DEP_SR | DEP_SN);
                }
                if dep == 0 {
                    continue;
                }
                let to = edge.to;
                let to_xr = dep & (DEP_SN | DEP_EN) == 0;
                let seen = self.seen[to.index()];
                // Arriving with only_xr = false dominates arriving with true.
                if seen[0] == generation || (to_xr && seen[1] == generation) {
                    continue;
                }
                self.seen[to.index()][usize::from(to_xr)] = generation;
                self.parent[to.index()][usize::from(to_xr)] = (e, only_xr);
                // The path closes through the new edge `prev -> next`, which
                // starts with S when `prev` is held shared.
                if to == prev && (prev_mode == Mode::Exclusive || !to_xr) {
                    return Some(self.path_to((next, root_xr), prev, to_xr));
                }
                self.queue.push_back((to, to_xr));
            }
        }
        None
    }

    /// Walks parent links back from `(class, xr)` to the root state.
    fn path_to(&self, root: (ClassId, bool), mut class: ClassId, mut xr: bool) -> Vec<u32> {
        let mut path = Vec::new();
        while (class, xr) != root {
            let (e, parent_xr) = self.parent[class.index()][usize::from(xr)];
            path.push(e);
            class = self.edges[e as usize].from;
            xr = parent_xr;
        }
        path.reverse();
        path
    }

    /// Approximate heap bytes used by classes and edges (no stack traces).
    pub(crate) fn memory(&self) -> (usize, usize) {
        let per_class = std::mem::size_of::<Vec<u32>>()
            + 1
            + std::mem::size_of::<[u32; 2]>()
            + std::mem::size_of::<[(u32, bool); 2]>();
        let per_edge = std::mem::size_of::<Edge>()
            + std::mem::size_of::<u32>()
            + std::mem::size_of::<((ClassId, ClassId), u32)>() * 2;
        (per_class, per_edge)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Mode::*;

    fn c(n: u32) -> ClassId {
        ClassId(n)
    }

    fn edge(g: &mut Graph, a: u32, am: Mode, b: u32, bm: Mode) {
        g.add_edge(c(a), c(b), dep_bit(am, bm), TraceId::NONE);
    }

    #[test]
    fn removed_classes_take_their_dependencies_along() {
        let mut g = Graph::default();
        let t = TraceId(0);
        g.add_edge(c(0), c(1), DEP_EN, t);
        g.add_edge(c(1), c(2), DEP_EN, t);
        g.add_edge(c(2), c(3), DEP_EN, t);
        assert!(g.find_cycle(c(3), Exclusive, c(0), Exclusive).is_some());
        g.remove_classes(&[c(1)]);
        assert_eq!(g.edge_count(), 1);
        assert!(!g.has(c(0), c(1), DEP_EN) && !g.has(c(1), c(2), DEP_EN));
        assert!(g.find_cycle(c(3), Exclusive, c(0), Exclusive).is_none());
        assert!(g.retired(c(1)) && !g.retired(c(2)));
        // Freed slots are reused.
        g.add_edge(c(4), c(5), DEP_EN, t);
        assert_eq!(g.edge_count(), 2);
        assert!(g.has(c(4), c(5), DEP_EN) && g.has(c(2), c(3), DEP_EN));
    }

    #[test]
    fn dep_bits_match_the_kernel_encoding() {
        assert_eq!(dep_bit(Shared, SharedRecursive), DEP_SR);
        assert_eq!(dep_bit(Exclusive, SharedRecursive), DEP_ER);
        assert_eq!(dep_bit(SharedRecursive, Shared), DEP_SN);
        assert_eq!(dep_bit(Exclusive, Exclusive), DEP_EN);
        assert_eq!(dep_names(DEP_EN | DEP_SN), "EN|SN");
    }

    #[test]
    fn abba_is_a_cycle() {
        let mut g = Graph::default();
        edge(&mut g, 1, Exclusive, 2, Exclusive);
        let path = g
            .find_cycle(c(2), Exclusive, c(1), Exclusive)
            .expect("cycle");
        assert_eq!(path.len(), 1);
        assert_eq!(g.edge(path[0]).from, c(1));
    }

    #[test]
    fn shortest_cycle_is_found() {
        let mut g = Graph::default();
        // 1 -> 2 -> 3 -> 4 and 1 -> 4.
        edge(&mut g, 1, Exclusive, 2, Exclusive);
        edge(&mut g, 2, Exclusive, 3, Exclusive);
        edge(&mut g, 3, Exclusive, 4, Exclusive);
        edge(&mut g, 1, Exclusive, 4, Exclusive);
        let path = g
            .find_cycle(c(4), Exclusive, c(1), Exclusive)
            .expect("cycle");
        assert_eq!(path.len(), 1);
        let path = g
            .find_cycle(c(3), Exclusive, c(1), Exclusive)
            .expect("cycle");
        let classes: Vec<_> = path.iter().map(|&e| g.edge(e).to).collect();
        assert_eq!(classes, vec![c(2), c(3)]);
    }

    #[test]
    fn shared_shared_is_not_a_cycle() {
        // Recursive read of 1 then shared 2; and recursive read of 2 then recursive 1.
        let mut g = Graph::default();
        edge(&mut g, 1, SharedRecursive, 2, SharedRecursive); // SR
        assert!(g.find_cycle(c(2), Shared, c(1), SharedRecursive).is_none());
    }

    #[test]
    fn recursive_reader_behind_writer_holder_is_a_cycle() {
        // A(E) -> B(R) recorded; now holding B exclusively and taking A recursively.
        let mut g = Graph::default();
        edge(&mut g, 1, Exclusive, 2, SharedRecursive); // ER
        assert!(g
            .find_cycle(c(2), Exclusive, c(1), SharedRecursive)
            .is_some());
        // Holding B shared and taking A recursively: R then S is not strong.
        assert!(g.find_cycle(c(2), Shared, c(1), SharedRecursive).is_none());
    }

    #[test]
    fn strong_path_through_a_more_permissive_second_arrival() {
        // next=0 (R). 0 -ER-> 1, 0 -EN-> 2, 2 -EN-> 1, 1 -SN-> 3 (prev).
        // Reaching 1 via ER leaves only_xr, which forbids 1 -SN-> 3; the
        // longer way via 2 arrives with N and allows it.
        let mut g = Graph::default();
        g.add_edge(c(0), c(1), DEP_ER, TraceId::NONE);
        g.add_edge(c(0), c(2), DEP_EN, TraceId::NONE);
        g.add_edge(c(2), c(1), DEP_EN, TraceId::NONE);
        g.add_edge(c(1), c(3), DEP_SN, TraceId::NONE);
        let path = g
            .find_cycle(c(3), Exclusive, c(0), Exclusive)
            .expect("strong cycle");
        let classes: Vec<_> = path.iter().map(|&e| g.edge(e).to).collect();
        assert_eq!(classes, vec![c(2), c(1), c(3)]);
    }

    #[test]
    fn known_edges_keep_their_first_trace() {
        let mut g = Graph::default();
        assert_eq!(g.add_edge(c(1), c(2), DEP_EN, TraceId(7)), Added::New);
        assert_eq!(g.add_edge(c(1), c(2), DEP_EN, TraceId(8)), Added::Known);
        assert_eq!(g.add_edge(c(1), c(2), DEP_SN, TraceId(9)), Added::New);
        assert!(g.has(c(1), c(2), DEP_EN | DEP_SN));
        assert_eq!(g.edge(0).trace, TraceId(7));
        assert_eq!(g.edge_count(), 1);
    }
}
