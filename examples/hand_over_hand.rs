//! Hand-over-hand locking over locks of one class, and the annotation it
//! needs.
//!
//! A sorted linked list, shared by several threads, whose every node has its
//! own lock (all built by one line, so they are one class). Each operation
//! walks the list hand over hand: it locks the next node before it lets the
//! current one go, so it never holds more than two nodes, always in list
//! order, and nobody can unlink a node under it or overtake it.
//!
//! Two locks of one class held together look to the validator like one lock
//! taken twice. The kernel's fix is a re-annotation of the held lock
//! (`lock_set_subclass`): here, before locking the next node, the walker
//! re-annotates the node it holds as subclass 1 with
//! [`LockMap::set_subclass`](lockdep::LockMap::set_subclass) (on its
//! lock's map: the nodes are `parking_lot` mutexes, locked through `Arc`s). The
//! validator then learns one order, `node/1 -> node`, and nothing is
//! reported.
//!
//! `cargo run --example hand_over_hand` runs four threads of inserts, removals
//! and lookups and reports nothing; `-- --unannotated` leaves the
//! re-annotation out and shows the report it avoids ("possible recursive
//! locking"). The program exits 0 in both modes, and 1 if the validator's
//! verdict is not the expected one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use lockdep::parking_lot::{ArcMutexGuard, Mutex, RawMutex};
use lockdep::report::Problem;
use lockdep::AsLockMap;

/// Re-annotate the held node before taking the next one?
static ANNOTATE: AtomicBool = AtomicBool::new(true);

/// A node: its lock guards its key and its link to the next node.
type Node = Arc<Mutex<Link>>;

struct Link {
    key: u64,
    next: Option<Node>,
}

type Guard = ArcMutexGuard<RawMutex, Link>;

fn node(key: u64, next: Option<Node>) -> Node {
    Arc::new(Mutex::from_raw(
        RawMutex::named("list_node"),
        Link { key, next },
    ))
}

/// A sorted list of distinct keys, after a sentinel head node (key 0).
struct List {
    head: Node,
}

impl List {
    fn new() -> List {
        List {
            head: node(0, None),
        }
    }

    /// Walks hand over hand to the window where `key` belongs: the last node
    /// with a smaller key, and the node after it if there is one, both
    /// locked.
    fn window(&self, key: u64) -> (Guard, Option<Guard>) {
        let mut prev = self.head.lock_arc();
        loop {
            let Some(next) = prev.next.clone() else {
                return (prev, None);
            };
            if ANNOTATE.load(Ordering::Relaxed) {
                // The held node becomes subclass 1 before the next one (of
                // the same class, subclass 0) is taken.
                ArcMutexGuard::mutex(&prev).as_lock_map().set_subclass(1);
            }
            let next = next.lock_arc();
            if next.key >= key {
                return (prev, Some(next));
            }
            drop(prev);
            prev = next;
        }
    }

    fn insert(&self, key: u64) -> bool {
        let (mut prev, next) = self.window(key);
        if next.as_ref().is_some_and(|n| n.key == key) {
            return false;
        }
        let rest = prev.next.take();
        prev.next = Some(node(key, rest));
        true
    }

    fn remove(&self, key: u64) -> bool {
        let (mut prev, next) = self.window(key);
        match next {
            Some(mut found) if found.key == key => {
                prev.next = found.next.take();
                true
            }
            _ => false,
        }
    }

    fn contains(&self, key: u64) -> bool {
        let (_prev, next) = self.window(key);
        next.is_some_and(|n| n.key == key)
    }

    /// The keys, in list order (walked hand over hand too).
    fn keys(&self) -> Vec<u64> {
        let mut keys = Vec::new();
        let (mut prev, mut next) = self.window(0);
        while let Some(current) = next {
            keys.push(current.key);
            drop(prev);
            prev = current;
            let after = prev.next.clone();
            if ANNOTATE.load(Ordering::Relaxed) {
                ArcMutexGuard::mutex(&prev).as_lock_map().set_subclass(1);
            }
            next = after.map(|n| n.lock_arc());
        }
        keys
    }
}

fn main() {
    let unannotated = std::env::args().any(|a| a == "--unannotated");
    ANNOTATE.store(!unannotated, Ordering::Relaxed);

    let list = Arc::new(List::new());
    let workers: Vec<_> = (0..4u64)
        .map(|t| {
            let list = Arc::clone(&list);
            thread::spawn(move || {
                let mut state = 0x9E37_79B9_7F4A_7C15u64.wrapping_mul(t + 1);
                let mut changed = 0usize;
                for _ in 0..2000 {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let key = 1 + state % 64;
                    changed += match state % 3 {
                        0 => usize::from(list.insert(key)),
                        1 => usize::from(list.remove(key)),
                        _ => usize::from(list.contains(key)),
                    };
                }
                changed
            })
        })
        .collect();
    let changed: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();

    let keys = list.keys();
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "the list stays sorted"
    );
    let reports = lockdep::reports();
    println!(
        "hand_over_hand ({}): 8000 operations on 4 threads ({changed} found or changed a key), \
         {} keys left, {} lockdep report(s)",
        if unannotated {
            "unannotated"
        } else {
            "annotated"
        },
        keys.len(),
        reports.len()
    );
    // Annotated: nothing to report. Unannotated: the walk, and only it, is
    // reported as recursive locking of the node class.
    let recursion_on_nodes = |r: &lockdep::Report| {
        matches!(r.problem, Problem::RecursiveLocking { .. })
            && r.class_names().iter().all(|n| *n == "list_node")
    };
    let as_expected = if unannotated {
        !reports.is_empty() && reports.iter().all(|r| recursion_on_nodes(r))
    } else {
        reports.is_empty()
    };
    if !as_expected {
        eprintln!("hand_over_hand: not the expected verdict");
        std::process::exit(1);
    }
}
