//! `dump`: what the validator knows, in the spirit of the kernel's
//! `/proc/lockdep`, `/proc/lockdep_chains` and `/proc/lockdep_stats`.

use super::*;
use crate::schema::{Chain, ChainLock, Dependency, Dump};

/// A snapshot of everything the validator has learned: every class (with
/// its usage and its forward and backward dependency counts, the kernel's
/// `FD` and `BD`), every dependency with its types, every validated chain
/// (the classes held, outermost first, ending with the one acquired), and
/// [`stats()`]. Render it with [`render::dump`](crate::render::dump) as
/// text or JSON.
///
/// The graph's lock is held only to copy the graph out; names are looked
/// up after.
///
/// ```
/// let a = lockdep::Mutex::named("dump_a", ());
/// let b = lockdep::Mutex::named("dump_b", ());
/// drop((a.lock(), b.lock()));
/// let dump = lockdep::dump();
/// let id = |n: &str| dump.classes.iter().find(|c| c.name == n).unwrap().id;
/// assert!(dump
///     .dependencies
///     .iter()
///     .any(|d| d.from == id("dump_a") && d.to == id("dump_b") && d.types == "EN"));
/// let text = lockdep::render::dump::text(&dump);
/// assert!(text.contains("dump_a\n -> [") && text.contains("] dump_b (EN)"));
/// ```
pub fn dump() -> Dump {
    let (edges, usage, chains) = with_global(|g| {
        let edges: Vec<(ClassId, ClassId, u8)> =
            g.graph.edges().map(|e| (e.from, e.to, e.dep)).collect();
        let usage: Vec<u8> = (0..g.graph.class_count())
            .map(|i| g.graph.usage(ClassId(i as u32)))
            .collect();
        let chains: Vec<_> = g.chain_log.chains().collect();
        (edges, usage, chains)
    });
    let mut classes: Vec<crate::schema::Class> = (0..class::count())
        .map(|i| {
            let id = ClassId(i as u32);
            let mut c = class::describe(id);
            c.usage = usage_string(usage.get(i).copied().unwrap_or(0));
            c
        })
        .collect();
    for &(from, to, _) in &edges {
        if let Some(c) = classes.get_mut(from.index()) {
            c.forward += 1;
        }
        if let Some(c) = classes.get_mut(to.index()) {
            c.backward += 1;
        }
    }
    Dump {
        classes,
        dependencies: edges
            .iter()
            .map(|&(from, to, dep)| Dependency {
                from: from.0,
                to: to.0,
                types: graph::dep_names(dep),
                ..Default::default()
            })
            .collect(),
        chains: chains
            .into_iter()
            .map(|locks| Chain {
                locks: locks
                    .into_iter()
                    .map(|(class, mode, trylock)| ChainLock {
                        class: class.0,
                        mode,
                        trylock,
                    })
                    .collect(),
            })
            .collect(),
        stats: stats(),
    }
}
