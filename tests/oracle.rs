//! Differential test: the validator against an independent, deliberately
//! naive oracle.
//!
//! A seeded generator writes random programs: 2 to 4 threads (or tasks), each a sequence
//! of acquisitions and releases (releases in any order) over 2 to 8 classes,
//! in every mode (exclusive, shared, recursive-shared, trylock), with
//! subclasses, and with waits that are not locks: pseudo-lock touches,
//! `Work::flush`, thread joins and `Active::drain`. Each program runs for real
//! through the public API, one thread after another (so nothing can really
//! deadlock), on fresh classes (keys named `o<run>c<class>`), and the reports
//! it raises are found by those names.
//!
//! The oracle never looks at the validator. It replays the program's held
//! stacks, builds the class graph with typed edges, and decides two things:
//! is there a strong cycle (by searching a graph whose nodes are
//! `(edge, type)` pairs, where a step is forbidden exactly when an `*R` edge
//! is followed by an `S*` edge), and did a recursive acquisition happen. The
//! validator must agree on both verdicts for every program, and every cycle
//! it reports must be a strong closed walk of the oracle's graph.
//!
//! Rules the oracle follows (lockdep.md §1–2 and docs/ARCHITECTURE.md):
//! - Dependency type bit = `(prev exclusive) + 2 * (next not recursive-read)`:
//!   SR = 0, ER = 1, SN = 2, EN = 3.
//! - A non-trylock acquisition gets edges from the held locks, walked from the
//!   top down, stopping after the first non-trylock entry. A trylock gets no
//!   edge and no recursion check.
//! - Recursion: a non-trylock acquisition of a class already held (by any
//!   entry, trylocks included) is recursive locking unless it is a recursive
//!   read and the held entry is a read. Subclasses are different classes.
//! - A recursive acquisition is reported. Of the very lock held, it adds no
//!   dependency (it waits on itself: the kernel's `validate_chain` returns
//!   after `check_deadlock` reports). Of another lock of the class, it still
//!   adds its dependencies on the held locks as any acquisition does: where
//!   the kernel stops validating after any report, lockdep goes on, and a
//!   recursion report must not hide a later cycle through the class. The
//!   lock is pushed, and is a `prev` for what comes after it.
//! - Where the rules are ambiguous, chosen: no dependency links a class to
//!   itself. The only one the rules allow, a recursive read after a read
//!   (`SR`), can never be part of a strong cycle, so the kernel's self-edge
//!   changes nothing. A same-class held entry that is not a trylock still
//!   ends the walk down the held stack, as the kernel's does.
//! - Out-of-order release removes the entry. If it was a non-trylock with
//!   a lock below it, the first non-trylock entry above it is validated
//!   again against the stack now below it (its walk down the stack had
//!   stopped at the released lock, and now goes on below), which can add
//!   dependencies; no other entry is (their walks did not reach the
//!   released lock, or passed it as a trylock). Unlike the kernel, which
//!   re-acquires every entry above: only an entry above that was itself a
//!   recursive acquisition could differ, and it stays without dependencies.
//!   Under a nest lock, an entry above the released one that was covered
//!   stays covered while a lock of its class it could deadlock on is still
//!   held below it, and becomes a plain entry otherwise (the validator's
//!   entries do not record their nest lock: docs/ARCHITECTURE.md); a
//!   covered entry validated again adds nothing.
//! - Under a nest lock (the kernel's `check_deadlock`): walking the held
//!   locks from the bottom, a lock the acquisition could deadlock on (as
//!   above) met after the nest lock makes it *covered*: no recursion and no
//!   dependency at all; met before it, recursion; none, a plain acquisition.
//! - A wait (flush, join, drain, touch) is a non-trylock acquisition released
//!   at once. A spawned thread holds its `(thread)` class (exclusive) while
//!   its body runs; a work item's body runs holding the queue's class, then
//!   the item's (both exclusive).
//! - "Circular" means a strong cycle through at least two classes; a cycle
//!   of one class is recursion, which has its own verdict.
//!
//! - Tasks (`lockdep::tokio::task`): a task is a thread whose steps may
//!   suspend (its poll returns `Pending`) and move: it is resumed on
//!   another executor thread, after other threads of the program ran on
//!   those threads meanwhile. A task holds its `(task)` class (exclusive)
//!   while it runs; its held locks are its own, wherever it runs. A task
//!   takes `LockMap`s and async locks (`lockdep::tokio`'s `Mutex` and
//!   `RwLock`: exclusive, or a read that is shared and non-recursive, or
//!   their trylocks); other threads take async locks with `blocking_*`.
//!   A suspension while the task holds a thread-bound lock (any class that
//!   is not async) is reported once per class: a third verdict, the set
//!   of such classes.
//!
//! `LOCKDEP_ORACLE_CASES=N` sets the number of programs (default 4000),
//! `LOCKDEP_ORACLE_SEED=S` the seed. A disagreement is shrunk and printed as
//! pseudo-code.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt::Write as _;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex as StdMutex, OnceLock, Weak};
use std::time::Instant;

use lockdep::report::Problem;
use lockdep::{Active, ActiveRef, AsLockMap, ClassKey, LockMap, Mode, Report, Work, WorkQueue};

const DEFAULT_CASES: usize = 4000;
const DEFAULT_SEED: u64 = 0x5EED_10C4_DE90_0001;
const BATCH: usize = 256;
const POOL_THREADS: usize = 3;
/// Shrink (and print) at most this many disagreeing programs.
const MAX_SHRUNK: usize = 5;

// ---------------------------------------------------------------------------
// PRNG: splitmix64, so every program is a pure function of (seed, case).
// ---------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

// ---------------------------------------------------------------------------
// Programs
// ---------------------------------------------------------------------------

/// What a class is made of, which decides which operations it offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A `LockMap`: any mode, subclass and trylock; waits are touches.
    Map,
    /// A `lockdep::RwLock`: write (nested), read, read_recursive, try_*;
    /// waits are `might_write` / `might_read`.
    Rw,
    /// A `lockdep::Mutex`: lock (nested), try_lock; waits are `might_lock`.
    Mx,
    /// An `Active`: `get` (a shared trylock), waits are `drain`.
    Active,
    /// A `Work` item: never acquired directly; its body is a thread of the
    /// program (if any), waits are `flush`.
    Work,
    /// A `lockdep::tokio::Mutex`: `lock().await` in a task, `blocking_lock`
    /// elsewhere, `try_lock`; waits lock and drop a fresh one.
    AsyncMx,
    /// A `lockdep::tokio::RwLock`: `write`/`read` (`.await` in a task,
    /// `blocking_*` elsewhere), `try_*`; waits take and drop a fresh one.
    AsyncRw,
}

impl Kind {
    /// May a task hold its locks across a suspension without a report?
    fn is_async(self) -> bool {
        matches!(self, Kind::AsyncMx | Kind::AsyncRw)
    }

    /// Can a task take it (its guards are `Send`)?
    fn in_tasks(self) -> bool {
        matches!(self, Kind::Map | Kind::AsyncMx | Kind::AsyncRw)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ThreadKind {
    /// Runs on a plain executor thread.
    Plain,
    /// Runs as a `lockdep::thread::spawn`ed thread.
    Spawned,
    /// Runs as the body of the work item of this class.
    WorkBody(usize),
    /// Runs as a `lockdep::tokio::task`, polled on executor threads, moving
    /// at each suspension.
    Task,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Acquire {
        slot: usize,
        class: usize,
        sub: u32,
        mode: Mode,
        trylock: bool,
        /// Under the nest lock held as this slot (`lock_under`).
        nest: Option<usize>,
    },
    Release {
        slot: usize,
    },
    /// A wait: touch / flush / drain / might_*, by the class's kind.
    Wait {
        class: usize,
        sub: u32,
        mode: Mode,
    },
    /// Join a thread spawned at the program's one spawn site.
    Join,
    /// An `.await` that suspends the task (in tasks only).
    Suspend,
}

#[derive(Clone, Debug)]
struct ThreadProg {
    kind: ThreadKind,
    steps: Vec<Step>,
}

#[derive(Clone, Debug)]
struct Program {
    kinds: Vec<Kind>,
    threads: Vec<ThreadProg>,
}

impl Program {
    fn slots(&self) -> usize {
        self.threads
            .iter()
            .flat_map(|t| &t.steps)
            .filter_map(|s| match s {
                Step::Acquire { slot, .. } => Some(slot + 1),
                _ => None,
            })
            .max()
            .unwrap_or(0)
    }
}

fn pick_mode(rng: &mut Rng) -> Mode {
    match rng.below(100) {
        0..=44 => Mode::Exclusive,
        45..=69 => Mode::Shared,
        _ => Mode::SharedRecursive,
    }
}

fn pick_sub(rng: &mut Rng, percent: u64) -> u32 {
    if rng.chance(percent) {
        1 + rng.below(3) as u32
    } else {
        0
    }
}

/// (subclass, mode, trylock) of an acquisition of a class of `kind`.
fn pick_acquire(rng: &mut Rng, kind: Kind, nested: bool) -> (u32, Mode, bool) {
    let sub_pct = if nested { 70 } else { 15 };
    match kind {
        Kind::Map => {
            let trylock = rng.chance(15);
            (pick_sub(rng, sub_pct), pick_mode(rng), trylock)
        }
        Kind::Rw => match rng.below(100) {
            0..=34 => (pick_sub(rng, sub_pct), Mode::Exclusive, false),
            35..=54 => (0, Mode::Shared, false),
            55..=79 => (0, Mode::SharedRecursive, false),
            80..=87 => (0, Mode::Exclusive, true),
            88..=93 => (0, Mode::Shared, true),
            _ => (0, Mode::SharedRecursive, true),
        },
        Kind::Mx => {
            if rng.chance(15) {
                (0, Mode::Exclusive, true)
            } else {
                (pick_sub(rng, sub_pct), Mode::Exclusive, false)
            }
        }
        Kind::Active => (0, Mode::Shared, true),
        Kind::Work => unreachable!("work items are not acquired"),
        Kind::AsyncMx => (0, Mode::Exclusive, rng.chance(15)),
        Kind::AsyncRw => match rng.below(100) {
            0..=39 => (0, Mode::Exclusive, false),
            40..=74 => (0, Mode::Shared, false),
            75..=87 => (0, Mode::Exclusive, true),
            _ => (0, Mode::Shared, true),
        },
    }
}

fn pick_wait(rng: &mut Rng, kind: Kind) -> (u32, Mode) {
    match kind {
        Kind::Map => (pick_sub(rng, 15), pick_mode(rng)),
        Kind::Rw => {
            if rng.chance(50) {
                (0, Mode::Exclusive)
            } else {
                (0, Mode::Shared)
            }
        }
        Kind::AsyncRw => {
            if rng.chance(50) {
                (0, Mode::Exclusive)
            } else {
                (0, Mode::Shared)
            }
        }
        Kind::Mx | Kind::Active | Kind::Work | Kind::AsyncMx => (0, Mode::Exclusive),
    }
}

fn generate(rng: &mut Rng) -> Program {
    let nclasses = 2 + rng.below(7);
    let flavor = rng.below(100);
    let pseudo = flavor >= 82;
    let mut kinds: Vec<Kind> = (0..nclasses)
        .map(|_| {
            if flavor < 55 {
                Kind::Map
            } else {
                match rng.below(100) {
                    0..=34 => Kind::Map,
                    35..=59 => Kind::Rw,
                    60..=74 => Kind::Mx,
                    75..=87 => Kind::Active,
                    _ if pseudo => Kind::Work,
                    _ => Kind::Map,
                }
            }
        })
        .collect();
    // At least two lockable classes.
    for k in kinds.iter_mut().take(2) {
        if *k == Kind::Work {
            *k = Kind::Map;
        }
    }
    if pseudo && !kinds.contains(&Kind::Work) && rng.chance(60) {
        let last = kinds.len() - 1;
        if last >= 2 {
            kinds[last] = Kind::Work;
        }
    }
    // Tasks and async locks.
    let asynch = rng.chance(30);
    if asynch {
        for k in kinds.iter_mut() {
            if *k != Kind::Work && rng.chance(40) {
                *k = if rng.chance(50) {
                    Kind::AsyncMx
                } else {
                    Kind::AsyncRw
                };
            }
        }
    }
    let lockable: Vec<usize> = (0..nclasses).filter(|&c| kinds[c] != Kind::Work).collect();

    let nthreads = 2 + rng.below(3);
    let mut bodies_left: Vec<usize> = (0..nclasses).filter(|&c| kinds[c] == Kind::Work).collect();
    let mut next_slot = 0;
    let mut threads = Vec::new();
    for _ in 0..nthreads {
        let kind = if asynch && rng.chance(55) {
            ThreadKind::Task
        } else if pseudo {
            if !bodies_left.is_empty() && rng.chance(50) {
                ThreadKind::WorkBody(bodies_left.remove(rng.below(bodies_left.len())))
            } else if rng.chance(35) {
                ThreadKind::Spawned
            } else {
                ThreadKind::Plain
            }
        } else {
            ThreadKind::Plain
        };
        let len = 1 + rng.below(12);
        let mut steps = Vec::new();
        // (slot, class, sub) of what this thread holds.
        let mut held: Vec<(usize, usize, u32)> = Vec::new();
        for _ in 0..len {
            if kind == ThreadKind::Task && rng.chance(20) {
                steps.push(Step::Suspend);
            }
            let r = rng.below(100);
            if !held.is_empty() && (r < 30 || held.len() >= 6) {
                let (slot, _, _) = held.remove(rng.below(held.len()));
                steps.push(Step::Release { slot });
            } else if r < 45 {
                let join_ok = pseudo && kind != ThreadKind::Spawned;
                if join_ok && rng.chance(30) {
                    steps.push(Step::Join);
                } else {
                    let class = if rng.chance(85) {
                        let free: Vec<usize> = (0..nclasses)
                            .filter(|c| held.iter().all(|h| h.1 != *c))
                            .collect();
                        free.get(rng.below(free.len().max(1))).copied().unwrap_or(0)
                    } else {
                        rng.below(nclasses)
                    };
                    // A work item flushed from its own body waits for itself.
                    if kind == ThreadKind::WorkBody(class) {
                        continue;
                    }
                    let (sub, mode) = pick_wait(rng, kinds[class]);
                    steps.push(Step::Wait { class, sub, mode });
                }
            } else {
                // Sometimes the class of a held lock: same-class nesting.
                // Otherwise mostly a class not held yet.
                let same = !held.is_empty() && rng.chance(10);
                // A task takes only what its guards may move with.
                let lockable: Vec<usize> = lockable
                    .iter()
                    .copied()
                    .filter(|&c| kind != ThreadKind::Task || kinds[c].in_tasks())
                    .collect();
                if lockable.is_empty() {
                    continue;
                }
                let free: Vec<usize> = lockable
                    .iter()
                    .copied()
                    .filter(|c| held.iter().all(|h| h.1 != *c))
                    .collect();
                let class = if same {
                    held[rng.below(held.len())].1
                } else if !free.is_empty() && rng.chance(90) {
                    free[rng.below(free.len())]
                } else if free.is_empty() && rng.chance(70) {
                    let (slot, _, _) = held.remove(rng.below(held.len()));
                    steps.push(Step::Release { slot });
                    continue;
                } else {
                    lockable[rng.below(lockable.len())]
                };
                let (sub, mode, trylock) = pick_acquire(rng, kinds[class], same);
                // Sometimes under a nest lock, mostly a second lock of a held
                // class: any held lock that has the API, below or above the
                // first of the class.
                let under_ok = !trylock
                    && sub == 0
                    && match kinds[class] {
                        Kind::Map => true,
                        Kind::Rw | Kind::Mx => mode != Mode::SharedRecursive,
                        Kind::Active | Kind::Work | Kind::AsyncMx | Kind::AsyncRw => false,
                    };
                let nests: Vec<usize> = held
                    .iter()
                    .filter(|h| matches!(kinds[h.1], Kind::Map | Kind::Rw | Kind::Mx))
                    .map(|h| h.0)
                    .collect();
                let nest = (under_ok && !nests.is_empty() && rng.chance(if same { 60 } else { 8 }))
                    .then(|| nests[rng.below(nests.len())]);
                let slot = next_slot;
                next_slot += 1;
                held.push((slot, class, sub));
                steps.push(Step::Acquire {
                    slot,
                    class,
                    sub,
                    mode,
                    trylock,
                    nest,
                });
            }
        }
        while !held.is_empty() {
            let (slot, _, _) = held.remove(rng.below(held.len()));
            steps.push(Step::Release { slot });
        }
        threads.push(ThreadProg { kind, steps });
    }
    Program { kinds, threads }
}

fn generate_case(seed: u64, case: usize) -> Program {
    let mut rng = Rng::new(seed ^ (case as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
    generate(&mut rng)
}

// ---------------------------------------------------------------------------
// The oracle
// ---------------------------------------------------------------------------

/// A class as the oracle sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Node {
    /// Class `.0` of the program, subclass `.1`.
    Class(usize, u32),
    /// The class of every thread spawned by this test (one spawn site).
    Thread,
    /// The class of this test's one work queue.
    Queue,
    /// The class of every task (one spawn site per run).
    Task,
}

const SR: u8 = 0;
const ER: u8 = 1;
const SN: u8 = 2;
const EN: u8 = 3;
const TYPE_NAMES: [&str; 4] = ["SR", "ER", "SN", "EN"];

fn dep_type(prev: Mode, next: Mode) -> u8 {
    u8::from(prev == Mode::Exclusive) + 2 * u8::from(next != Mode::SharedRecursive)
}

/// `-(xR)->` then `-(Sx)->` is the one forbidden pair of a strong path.
fn pair_ok(first: u8, second: u8) -> bool {
    let first_ends_recursive = first == SR || first == ER;
    let second_starts_shared = second == SR || second == SN;
    !(first_ends_recursive && second_starts_shared)
}

#[derive(Clone, Copy, Debug)]
struct Held {
    node: Node,
    mode: Mode,
    trylock: bool,
    slot: Option<usize>,
    /// The slot of the nest lock it is acquired under.
    nest: Option<usize>,
    /// Covered by its nest lock when it was acquired.
    covered: bool,
}

#[derive(Default, Debug)]
struct Oracle {
    /// (from, to) -> bit set of dependency types.
    edges: BTreeMap<(Node, Node), u8>,
    /// Classes acquired recursively.
    recursion: BTreeSet<Node>,
    /// Acquisitions a nest lock covered.
    covered: usize,
    /// Thread-bound classes a task held when it suspended.
    awaited: BTreeSet<Node>,
}

impl Oracle {
    /// Could acquiring `next` deadlock on the held `h`?
    fn blocks(h: &Held, next: &Held) -> bool {
        h.node == next.node && !(next.mode == Mode::SharedRecursive && h.mode != Mode::Exclusive)
    }

    /// Validates acquiring `next` on top of `held` (not pushed here).
    /// Returns whether its nest lock covers it.
    fn acquire(&mut self, held: &[Held], next: Held) -> bool {
        if next.trylock {
            return false;
        }
        // The kernel's check_deadlock, from the bottom of the stack.
        let mut nest_seen = false;
        for h in held {
            nest_seen |= next.nest.is_some() && h.slot == next.nest;
            if Self::blocks(h, &next) {
                if nest_seen {
                    // Covered: no recursion, and no dependency at all.
                    self.covered += 1;
                    return true;
                }
                // Recursion. Of the very lock held, it waits on itself and
                // adds no dependency; of another lock of the class, it still
                // learns its dependencies on the held locks below.
                self.recursion.insert(next.node);
                if next.slot.is_some() && h.slot == next.slot {
                    return false;
                }
                break;
            }
        }
        for h in held.iter().rev() {
            if h.node != next.node {
                *self.edges.entry((h.node, next.node)).or_insert(0) |=
                    1 << dep_type(h.mode, next.mode);
            }
            if !h.trylock {
                break;
            }
        }
        false
    }

    fn push(&mut self, held: &mut Vec<Held>, mut next: Held) {
        next.covered = self.acquire(held, next);
        held.push(next);
    }

    fn run(prog: &Program) -> Oracle {
        let mut o = Oracle::default();
        for t in &prog.threads {
            let mut held: Vec<Held> = Vec::new();
            let base = |node| Held {
                node,
                mode: Mode::Exclusive,
                trylock: false,
                slot: None,
                nest: None,
                covered: false,
            };
            match t.kind {
                ThreadKind::Plain => {}
                ThreadKind::Spawned => o.push(&mut held, base(Node::Thread)),
                ThreadKind::WorkBody(c) => {
                    o.push(&mut held, base(Node::Queue));
                    o.push(&mut held, base(Node::Class(c, 0)));
                }
                ThreadKind::Task => o.push(&mut held, base(Node::Task)),
            }
            for step in &t.steps {
                match *step {
                    Step::Acquire {
                        slot,
                        class,
                        sub,
                        mode,
                        trylock,
                        nest,
                    } => o.push(
                        &mut held,
                        Held {
                            node: Node::Class(class, sub),
                            mode,
                            trylock,
                            slot: Some(slot),
                            nest,
                            covered: false,
                        },
                    ),
                    Step::Release { slot } => {
                        if let Some(i) = held.iter().rposition(|h| h.slot == Some(slot)) {
                            let released = held.remove(i);
                            for j in i..held.len() {
                                let h = held[j];
                                if h.covered && !held[..j].iter().any(|b| Oracle::blocks(b, &h)) {
                                    held[j].covered = false;
                                    held[j].nest = None;
                                }
                            }
                            let first = (i..held.len()).find(|&j| !held[j].trylock);
                            if let (false, true, Some(j)) = (released.trylock, i > 0, first) {
                                // Validated again as it is now: an entry
                                // its nest lock did not cover never looks
                                // for that nest lock again (the validator's
                                // entry does not record which it was).
                                if !held[j].covered {
                                    o.acquire(
                                        &held[..j],
                                        Held {
                                            nest: None,
                                            ..held[j]
                                        },
                                    );
                                }
                            }
                        }
                    }
                    Step::Wait { class, sub, mode } => {
                        o.acquire(
                            &held,
                            Held {
                                node: Node::Class(class, sub),
                                mode,
                                trylock: false,
                                slot: None,
                                nest: None,
                                covered: false,
                            },
                        );
                    }
                    Step::Join => {
                        o.acquire(&held, base(Node::Thread));
                    }
                    Step::Suspend => {
                        for h in &held {
                            if let Node::Class(c, _) = h.node {
                                if !prog.kinds[c].is_async() {
                                    o.awaited.insert(h.node);
                                }
                            }
                        }
                    }
                }
            }
        }
        o
    }

    /// Is there a strong closed walk through at least two classes? Searched
    /// in the graph of (edge, type) pairs, where (a->b, t1) steps to
    /// (b->c, t2) iff `pair_ok(t1, t2)`: a cycle there is exactly a closed
    /// walk whose every consecutive pair, the wrap-around included, is
    /// allowed. There are no self-loops, so any cycle spans two classes.
    fn circular(&self) -> bool {
        let pairs: Vec<(Node, Node, u8)> = self
            .edges
            .iter()
            .flat_map(|(&(a, b), &mask)| {
                (0..4u8)
                    .filter(move |t| mask & (1 << t) != 0)
                    .map(move |t| (a, b, t))
            })
            .collect();
        let succ = |i: usize| -> Vec<usize> {
            let (_, b, t1) = pairs[i];
            (0..pairs.len())
                .filter(|&j| pairs[j].0 == b && pair_ok(t1, pairs[j].2))
                .collect()
        };
        // From each pair, a plain search for a way back to it.
        (0..pairs.len()).any(|start| {
            let mut seen = vec![false; pairs.len()];
            let mut stack = succ(start);
            while let Some(i) = stack.pop() {
                if i == start {
                    return true;
                }
                if !seen[i] {
                    seen[i] = true;
                    stack.extend(succ(i));
                }
            }
            false
        })
    }
}

/// Is the closed walk `masks[0], masks[1], ..., masks[n-1], (back to 0)`
/// strong for some choice of one type per edge?
fn strong_walk(masks: &[u8]) -> bool {
    if masks.is_empty() {
        return false;
    }
    (0..4u8).filter(|s| masks[0] & (1 << s) != 0).any(|first| {
        // Types the current edge can end with, given the first was `first`.
        let mut cur: u8 = 1 << first;
        for &m in &masks[1..] {
            let mut nxt = 0u8;
            for t in (0..4u8).filter(|t| m & (1 << t) != 0) {
                if (0..4u8).any(|p| cur & (1 << p) != 0 && pair_ok(p, t)) {
                    nxt |= 1 << t;
                }
            }
            cur = nxt;
        }
        (0..4u8).any(|p| cur & (1 << p) != 0 && pair_ok(p, first))
    })
}

// ---------------------------------------------------------------------------
// Running a program for real
// ---------------------------------------------------------------------------

static NEXT_RUN: AtomicU64 = AtomicU64::new(1);

fn class_name(run: u64, class: usize) -> String {
    format!("o{run}c{class}")
}

/// The node a reported class name stands for, and the run it belongs to
/// (`None` for the classes every run shares: threads and the work queue).
fn parse_name(name: &str) -> Option<(Option<u64>, Node)> {
    if name.starts_with("(thread)") {
        return Some((None, Node::Thread));
    }
    if name.starts_with("(wq_completion)") {
        return Some((None, Node::Queue));
    }
    if name.starts_with("(task)") {
        return Some((None, Node::Task));
    }
    let rest = name.strip_prefix('o')?;
    let (run, rest) = rest.split_once('c')?;
    let (class, sub) = match rest.split_once('/') {
        Some((c, s)) => (c, s.parse().ok()?),
        None => (rest, 0),
    };
    Some((
        Some(run.parse().ok()?),
        Node::Class(class.parse().ok()?, sub),
    ))
}

enum Inst {
    Map(LockMap),
    Rw(lockdep::RwLock<()>),
    Mx(lockdep::Mutex<()>),
    Act(Active),
    AMx(lockdep::tokio::Mutex<()>),
    ARw(lockdep::tokio::RwLock<()>),
}

struct Runtime {
    run: u64,
    prog: Program,
    keys: Vec<&'static ClassKey>,
    /// One fresh instance per acquisition: no real lock is ever contended.
    insts: Vec<Option<Inst>>,
    works: Vec<Option<Work>>,
    /// Finished spawned threads of the program, not joined yet.
    handles: StdMutex<VecDeque<lockdep::thread::JoinHandle<()>>>,
}

enum Guard<'a> {
    Map(&'a LockMap),
    Read(lockdep::RwLockReadGuard<'a, ()>),
    Write(lockdep::RwLockWriteGuard<'a, ()>),
    Mx(lockdep::MutexGuard<'a, ()>),
    Act(ActiveRef<'a>),
    Async(AsyncGuard<'a>),
}

/// What a task holds: guards that may move between threads (held for
/// their drop).
#[allow(dead_code)]
enum AsyncGuard<'a> {
    Map(&'a LockMap),
    Mx(lockdep::tokio::MutexGuard<'a, ()>),
    Read(lockdep::tokio::RwLockReadGuard<'a, ()>),
    Write(lockdep::tokio::RwLockWriteGuard<'a, ()>),
}

impl AsyncGuard<'_> {
    fn release(self) {
        match self {
            AsyncGuard::Map(m) => m.release(),
            other => drop(other),
        }
    }
}

impl Guard<'_> {
    fn release(self) {
        match self {
            Guard::Map(m) => m.release(),
            Guard::Read(g) => drop(g),
            Guard::Write(g) => drop(g),
            Guard::Mx(g) => drop(g),
            Guard::Act(g) => drop(g),
            Guard::Async(g) => g.release(),
        }
    }
}

fn leak_key(name: String) -> &'static ClassKey {
    Box::leak(Box::new(ClassKey::new(Box::leak(name.into_boxed_str()))))
}

/// Every thread of a program is spawned at one of these sites (the run's
/// site), so they share one class. The class is shared with other runs too;
/// no cycle can go through it from one run to another (every edge into or
/// out of it links it to one run's own classes), but every edge makes it a
/// bigger hub, so runs are spread over sixteen sites.
fn spawn_thread(run: u64, f: Job) -> lockdep::thread::JoinHandle<()> {
    match run % 16 {
        0 => lockdep::thread::spawn(f),
        1 => lockdep::thread::spawn(f),
        2 => lockdep::thread::spawn(f),
        3 => lockdep::thread::spawn(f),
        4 => lockdep::thread::spawn(f),
        5 => lockdep::thread::spawn(f),
        6 => lockdep::thread::spawn(f),
        7 => lockdep::thread::spawn(f),
        8 => lockdep::thread::spawn(f),
        9 => lockdep::thread::spawn(f),
        10 => lockdep::thread::spawn(f),
        11 => lockdep::thread::spawn(f),
        12 => lockdep::thread::spawn(f),
        13 => lockdep::thread::spawn(f),
        14 => lockdep::thread::spawn(f),
        _ => lockdep::thread::spawn(f),
    }
}

fn work_queue() -> &'static WorkQueue {
    static WQ: OnceLock<WorkQueue> = OnceLock::new();
    WQ.get_or_init(|| WorkQueue::new("oracle_wq", 1))
}

impl Runtime {
    fn new(prog: &Program, run: u64) -> Arc<Runtime> {
        let keys: Vec<&'static ClassKey> = (0..prog.kinds.len())
            .map(|c| leak_key(class_name(run, c)))
            .collect();
        let mut insts: Vec<Option<Inst>> = (0..prog.slots()).map(|_| None).collect();
        for step in prog.threads.iter().flat_map(|t| &t.steps) {
            if let Step::Acquire { slot, class, .. } = *step {
                let key = keys[class];
                insts[slot] = Some(match prog.kinds[class] {
                    Kind::Map => Inst::Map(LockMap::with_key(key)),
                    Kind::Rw => Inst::Rw(lockdep::RwLock::with_key(key, ())),
                    Kind::Mx => Inst::Mx(lockdep::Mutex::with_key(key, ())),
                    Kind::Active => Inst::Act(Active::with_key(key)),
                    Kind::AsyncMx => Inst::AMx(lockdep::tokio::Mutex::with_key(key, ())),
                    Kind::AsyncRw => Inst::ARw(lockdep::tokio::RwLock::with_key(key, ())),
                    Kind::Work => unreachable!(),
                });
            }
        }
        Arc::new_cyclic(|weak: &Weak<Runtime>| {
            let works = (0..prog.kinds.len())
                .map(|c| {
                    (prog.kinds[c] == Kind::Work).then(|| {
                        let body = prog
                            .threads
                            .iter()
                            .position(|t| t.kind == ThreadKind::WorkBody(c));
                        let weak = weak.clone();
                        Work::with_key(keys[c], move || {
                            if let (Some(t), Some(rt)) = (body, weak.upgrade()) {
                                run_steps(&rt, t);
                            }
                        })
                    })
                })
                .collect();
            Runtime {
                run,
                prog: prog.clone(),
                keys,
                insts,
                works,
                handles: StdMutex::new(VecDeque::new()),
            }
        })
    }

    fn acquire(&self, slot: usize, sub: u32, mode: Mode, trylock: bool) -> Guard<'_> {
        const FREE: &str = "a fresh lock is free";
        match self.insts[slot].as_ref().expect("instance of slot") {
            Inst::Map(m) => {
                match (trylock, sub) {
                    (true, 0) => m.acquire_try(mode),
                    (true, s) => m.acquire_full(mode, s, true, Location::caller()),
                    (false, 0) => m.acquire(mode),
                    (false, s) => m.acquire_nested(mode, s),
                };
                Guard::Map(m)
            }
            Inst::Rw(l) => match (mode, trylock) {
                (Mode::Exclusive, false) if sub == 0 => Guard::Write(l.write()),
                (Mode::Exclusive, false) => Guard::Write(l.write_nested(sub)),
                (Mode::Exclusive, true) => Guard::Write(l.try_write().expect(FREE)),
                (Mode::Shared, false) => Guard::Read(l.read()),
                (Mode::Shared, true) => Guard::Read(l.try_read().expect(FREE)),
                (Mode::SharedRecursive, false) => Guard::Read(l.read_recursive()),
                (Mode::SharedRecursive, true) => Guard::Read(l.try_read_recursive().expect(FREE)),
            },
            Inst::Mx(l) => match (trylock, sub) {
                (true, _) => Guard::Mx(l.try_lock().expect(FREE)),
                (false, 0) => Guard::Mx(l.lock()),
                (false, s) => Guard::Mx(l.lock_nested(s)),
            },
            Inst::Act(a) => Guard::Act(a.get().expect("a fresh object is active")),
            Inst::AMx(l) => Guard::Async(AsyncGuard::Mx(if trylock {
                l.try_lock().expect(FREE)
            } else {
                l.blocking_lock()
            })),
            Inst::ARw(l) => Guard::Async(match (mode, trylock) {
                (Mode::Exclusive, false) => AsyncGuard::Write(l.blocking_write()),
                (Mode::Exclusive, true) => AsyncGuard::Write(l.try_write().expect(FREE)),
                (_, false) => AsyncGuard::Read(l.blocking_read()),
                (_, true) => AsyncGuard::Read(l.try_read().expect(FREE)),
            }),
        }
    }

    /// [`acquire`](Self::acquire) in a task: async locks are awaited.
    async fn acquire_async(
        &self,
        slot: usize,
        sub: u32,
        mode: Mode,
        trylock: bool,
    ) -> AsyncGuard<'_> {
        const FREE: &str = "a fresh lock is free";
        match self.insts[slot].as_ref().expect("instance of slot") {
            Inst::Map(m) => {
                match (trylock, sub) {
                    (true, 0) => m.acquire_try(mode),
                    (true, s) => m.acquire_full(mode, s, true, Location::caller()),
                    (false, 0) => m.acquire(mode),
                    (false, s) => m.acquire_nested(mode, s),
                };
                AsyncGuard::Map(m)
            }
            Inst::AMx(l) if trylock => AsyncGuard::Mx(l.try_lock().expect(FREE)),
            Inst::AMx(l) => AsyncGuard::Mx(l.lock().await),
            Inst::ARw(l) => match (mode, trylock) {
                (Mode::Exclusive, false) => AsyncGuard::Write(l.write().await),
                (Mode::Exclusive, true) => AsyncGuard::Write(l.try_write().expect(FREE)),
                (_, false) => AsyncGuard::Read(l.read().await),
                (_, true) => AsyncGuard::Read(l.try_read().expect(FREE)),
            },
            _ => unreachable!("a task takes only maps and async locks"),
        }
    }

    /// Acquires slot `slot` in `mode` under the lock of slot `nest`.
    fn acquire_under(&self, slot: usize, mode: Mode, nest: usize) -> Guard<'_> {
        let nest: &LockMap = match self.insts[nest].as_ref().expect("instance of nest slot") {
            Inst::Map(m) => m,
            Inst::Rw(l) => l.as_lock_map(),
            Inst::Mx(l) => l.as_lock_map(),
            Inst::Act(_) | Inst::AMx(_) | Inst::ARw(_) => {
                unreachable!("an Active or an async lock is never a nest lock")
            }
        };
        match (self.insts[slot].as_ref().expect("instance of slot"), mode) {
            (Inst::Map(m), mode) => {
                m.acquire_under(mode, nest);
                Guard::Map(m)
            }
            (Inst::Rw(l), Mode::Exclusive) => Guard::Write(l.write_under(nest)),
            (Inst::Rw(l), Mode::Shared) => Guard::Read(l.read_under(nest)),
            (Inst::Mx(l), _) => Guard::Mx(l.lock_under(nest)),
            _ => unreachable!("no nest-lock acquisition in {mode:?}"),
        }
    }

    fn wait(&self, class: usize, sub: u32, mode: Mode) {
        let key = self.keys[class];
        match self.prog.kinds[class] {
            Kind::Map => {
                let m = LockMap::with_key(key);
                if sub == 0 {
                    m.touch(mode);
                } else {
                    m.acquire_full(mode, sub, false, Location::caller());
                    m.release();
                }
            }
            Kind::Rw => {
                let l = lockdep::RwLock::with_key(key, ());
                if mode == Mode::Exclusive {
                    l.might_write();
                } else {
                    l.might_read();
                }
            }
            Kind::Mx => lockdep::Mutex::with_key(key, ()).might_lock(),
            Kind::Active => Active::with_key(key).drain(),
            Kind::Work => {
                self.works[class].as_ref().expect("work item").flush();
            }
            Kind::AsyncMx => drop(lockdep::tokio::Mutex::with_key(key, ()).blocking_lock()),
            Kind::AsyncRw => {
                let l = lockdep::tokio::RwLock::with_key(key, ());
                if mode == Mode::Exclusive {
                    drop(l.blocking_write());
                } else {
                    drop(l.blocking_read());
                }
            }
        }
    }

    fn join(&self) {
        let handle = self.handles.lock().unwrap().pop_front();
        let handle = handle.unwrap_or_else(|| spawn_thread(self.run, Box::new(|| {})));
        handle.join().expect("joined thread");
    }
}

/// Runs thread `t` of the program on the calling thread; what is still held
/// at the end is released, last first.
fn run_steps(rt: &Runtime, t: usize) {
    let mut held: Vec<(usize, Guard<'_>)> = Vec::new();
    for step in &rt.prog.threads[t].steps {
        match *step {
            Step::Acquire {
                slot,
                sub,
                mode,
                trylock,
                nest,
                ..
            } => held.push((
                slot,
                match nest {
                    Some(n) => rt.acquire_under(slot, mode, n),
                    None => rt.acquire(slot, sub, mode, trylock),
                },
            )),
            Step::Release { slot } => {
                if let Some(i) = held.iter().rposition(|(s, _)| *s == slot) {
                    held.remove(i).1.release();
                }
            }
            Step::Wait { class, sub, mode } => rt.wait(class, sub, mode),
            Step::Join => rt.join(),
            Step::Suspend => {}
        }
    }
    while let Some((_, g)) = held.pop() {
        g.release();
    }
}

/// Thread `t` of the program as a task's body: each `Suspend` returns
/// `Pending` once.
async fn run_steps_async(rt: Arc<Runtime>, t: usize) {
    let rt = &*rt;
    let mut held: Vec<(usize, AsyncGuard<'_>)> = Vec::new();
    for step in &rt.prog.threads[t].steps {
        match *step {
            Step::Acquire {
                slot,
                sub,
                mode,
                trylock,
                nest,
                ..
            } => held.push((
                slot,
                match nest {
                    // Only a map is taken under a nest lock in a task.
                    Some(n) => match rt.acquire_under(slot, mode, n) {
                        Guard::Map(m) => AsyncGuard::Map(m),
                        _ => unreachable!("a task takes only maps under a nest lock"),
                    },
                    None => rt.acquire_async(slot, sub, mode, trylock).await,
                },
            )),
            Step::Release { slot } => {
                if let Some(i) = held.iter().rposition(|(s, _)| *s == slot) {
                    held.remove(i).1.release();
                }
            }
            Step::Wait { class, sub, mode } => rt.wait(class, sub, mode),
            Step::Join => rt.join(),
            Step::Suspend => {
                let mut once = false;
                std::future::poll_fn(|_| {
                    if std::mem::replace(&mut once, true) {
                        std::task::Poll::Ready(())
                    } else {
                        std::task::Poll::Pending
                    }
                })
                .await;
            }
        }
    }
    while let Some((_, g)) = held.pop() {
        g.release();
    }
}

type TaskFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// A task of run `run`: one of four spawn sites, so that the task class
/// (shared by the runs of a site) is not one hub for every run.
fn new_task(run: u64, rt: Arc<Runtime>, t: usize) -> TaskFuture {
    match run % 4 {
        0 => Box::pin(lockdep::tokio::task(run_steps_async(rt, t))),
        1 => Box::pin(lockdep::tokio::task(run_steps_async(rt, t))),
        2 => Box::pin(lockdep::tokio::task(run_steps_async(rt, t))),
        _ => Box::pin(lockdep::tokio::task(run_steps_async(rt, t))),
    }
}

/// Polls a task once on executor `which`; returns it if it is not done.
fn poll_on(which: usize, mut task: TaskFuture) -> Option<TaskFuture> {
    let (tx, rx) = mpsc::channel();
    on_executor(
        which,
        Box::new(move || {
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            let pending = task.as_mut().poll(&mut cx).is_pending();
            let _ = tx.send(pending.then_some(task));
        }),
    );
    rx.recv().expect("the executor polled the task")
}

type Job = Box<dyn FnOnce() + Send>;

/// Long-lived plain threads that run the plain threads of programs, one job
/// at a time.
struct Pool {
    jobs: Vec<mpsc::Sender<Job>>,
    done: mpsc::Receiver<()>,
}

fn pool() -> &'static StdMutex<Pool> {
    static POOL: OnceLock<StdMutex<Pool>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (done_tx, done) = mpsc::channel();
        let jobs = (0..POOL_THREADS)
            .map(|i| {
                let (tx, rx) = mpsc::channel::<Job>();
                let done_tx = done_tx.clone();
                std::thread::Builder::new()
                    .name(format!("oracle-exec-{i}"))
                    .spawn(move || {
                        for job in rx {
                            job();
                            if done_tx.send(()).is_err() {
                                break;
                            }
                        }
                    })
                    .expect("spawn executor");
                tx
            })
            .collect();
        StdMutex::new(Pool { jobs, done })
    })
}

fn on_executor(which: usize, job: Job) {
    let pool = pool().lock().unwrap_or_else(|e| e.into_inner());
    pool.jobs[which % POOL_THREADS]
        .send(job)
        .expect("executor alive");
    pool.done.recv().expect("executor finished the job");
}

/// Runs the program, each thread to completion before the next starts.
fn execute(prog: &Program, run: u64) {
    let rt = Runtime::new(prog, run);
    // Suspended tasks, and the executor that polls each next: a task moves
    // to another executor at every suspension, and the threads after it run
    // meanwhile.
    let mut suspended: Vec<(TaskFuture, usize)> = Vec::new();
    let resume = |suspended: &mut Vec<(TaskFuture, usize)>| {
        for (task, which) in std::mem::take(suspended) {
            if let Some(task) = poll_on(which, task) {
                suspended.push((task, which + 1));
            }
        }
    };
    for (t, thread) in prog.threads.iter().enumerate() {
        resume(&mut suspended);
        match thread.kind {
            ThreadKind::Task => {
                let which = run as usize + t;
                if let Some(task) = poll_on(which, new_task(run, rt.clone(), t)) {
                    suspended.push((task, which + 1));
                }
            }
            ThreadKind::Plain => {
                let rt = rt.clone();
                on_executor(run as usize + t, Box::new(move || run_steps(&rt, t)));
            }
            ThreadKind::Spawned => {
                let rt2 = rt.clone();
                let handle = spawn_thread(run, Box::new(move || run_steps(&rt2, t)));
                while !handle.is_finished() {
                    std::thread::yield_now();
                }
                rt.handles.lock().unwrap().push_back(handle);
            }
            ThreadKind::WorkBody(c) => {
                let work = rt.works[c].as_ref().expect("work item");
                work_queue().queue(work);
                work.flush();
            }
        }
    }
    while !suspended.is_empty() {
        resume(&mut suspended);
    }
    let handles: Vec<_> = rt.handles.lock().unwrap().drain(..).collect();
    for h in handles {
        h.join().expect("spawned thread");
    }
}

// ---------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------

/// All class names a report mentions.
fn report_names(r: &Report) -> Vec<&str> {
    let mut names: Vec<&str> = r.class_names();
    match &r.problem {
        Problem::CircularDependency {
            acquiring, holding, ..
        }
        | Problem::TaskAwaitedUnderLock {
            acquiring, holding, ..
        }
        | Problem::RecursiveLocking {
            acquiring, holding, ..
        } => {
            names.push(&acquiring.name);
            names.push(&holding.name);
        }
        _ => {}
    }
    names
}

/// The one run a report is about, if exactly one.
fn report_run(r: &Report) -> Option<u64> {
    let runs: BTreeSet<u64> = report_names(r)
        .into_iter()
        .filter_map(|n| parse_name(n).and_then(|(run, _)| run))
        .collect();
    if runs.len() == 1 {
        runs.into_iter().next()
    } else {
        None
    }
}

fn parse_types(s: &str) -> Option<u8> {
    let mut mask = 0;
    for part in s.split(|c: char| !c.is_ascii_alphabetic()) {
        if part.is_empty() {
            continue;
        }
        mask |= 1 << TYPE_NAMES.iter().position(|&n| n == part)?;
    }
    (mask != 0).then_some(mask)
}

fn short(r: &Report) -> String {
    match &r.problem {
        Problem::CircularDependency {
            acquiring,
            holding,
            chain,
        } => {
            let links: Vec<String> = chain
                .iter()
                .map(|l| format!("{}[{}]", l.lock.name, l.dependency))
                .collect();
            format!(
                "circular: acquiring {} ({:?}) holding {} ({:?}); chain {}",
                acquiring.name,
                acquiring.mode,
                holding.name,
                holding.mode,
                links.join(" ")
            )
        }
        Problem::RecursiveLocking {
            acquiring, holding, ..
        } => format!(
            "recursive: acquiring {} ({:?}{}) holding {} ({:?}{})",
            acquiring.name,
            acquiring.mode,
            if acquiring.trylock { ", try" } else { "" },
            holding.name,
            holding.mode,
            if holding.trylock { ", try" } else { "" }
        ),
        _ => format!("{}: {:?}", r.title(), r.class_names()),
    }
}

/// Checks a reported cycle against the oracle's graph; `Err` says why not.
fn check_chain(run: u64, o: &Oracle, r: &Report) -> Result<(), String> {
    let (Problem::CircularDependency {
        acquiring,
        holding,
        chain,
    }
    | Problem::TaskAwaitedUnderLock {
        acquiring,
        holding,
        chain,
    }) = &r.problem
    else {
        unreachable!()
    };
    let n = chain.len();
    if n < 2 {
        return Err(format!("chain of {n} links"));
    }
    if chain[0].lock.name != holding.name || chain[n - 1].lock.name != acquiring.name {
        return Err("chain does not run from the held lock to the acquired one".into());
    }
    let mut nodes = Vec::new();
    for l in chain {
        match parse_name(&l.lock.name) {
            Some((None, node)) => nodes.push(node),
            Some((Some(x), node)) if x == run => nodes.push(node),
            _ => return Err(format!("class {} is not the program's", l.lock.name)),
        }
    }
    // Link i's dependency is the edge into chain[i]: from chain[i+1], or,
    // for the last link (the new dependency), from chain[0]. In walk order:
    // chain[n-1] -> chain[n-2] -> ... -> chain[0] -> chain[n-1].
    let mut masks = Vec::new();
    for i in (0..n).rev().map(|k| (k + n - 1) % n) {
        let from = if i == n - 1 { nodes[0] } else { nodes[i + 1] };
        let to = nodes[i];
        let reported = parse_types(&chain[i].dependency)
            .ok_or_else(|| format!("bad dependency {:?}", chain[i].dependency))?;
        let known = o.edges.get(&(from, to)).copied().unwrap_or(0);
        if known == 0 {
            return Err(format!(
                "no dependency {} -> {} in the oracle",
                chain[(i + 1) % n].lock.name,
                chain[i].lock.name
            ));
        }
        if reported & !known != 0 {
            return Err(format!(
                "dependency {} -> {} reported {}, oracle has {}",
                chain[(i + 1) % n].lock.name,
                chain[i].lock.name,
                chain[i].dependency,
                mask_str(known)
            ));
        }
        masks.push(reported);
    }
    if !strong_walk(&masks) {
        return Err("the reported cycle is not strong".into());
    }
    Ok(())
}

fn mask_str(mask: u8) -> String {
    let v: Vec<&str> = (0..4)
        .filter(|t| mask & (1 << t) != 0)
        .map(|t| TYPE_NAMES[t as usize])
        .collect();
    v.join("|")
}

/// Everything the validator and the oracle disagree about, for one program.
fn compare(prog: &Program, run: u64, reports: &[Arc<Report>]) -> Vec<String> {
    let o = Oracle::run(prog);
    let oracle_circular = o.circular();
    let mut problems = Vec::new();
    let mut circular = 0;
    let mut recursive = 0;
    let mut awaited = BTreeSet::new();
    for r in reports {
        match &r.problem {
            Problem::CircularDependency { .. } | Problem::TaskAwaitedUnderLock { .. } => {
                circular += 1;
                if let Err(e) = check_chain(run, &o, r) {
                    problems.push(format!("{e}: {}", short(r)));
                }
            }
            Problem::RecursiveLocking {
                acquiring, holding, ..
            } => {
                recursive += 1;
                let node = parse_name(&acquiring.name).map(|(_, n)| n);
                if acquiring.name != holding.name {
                    problems.push(format!("recursion across two classes: {}", short(r)));
                } else if !node.is_some_and(|n| o.recursion.contains(&n)) {
                    problems.push(format!("recursion the oracle did not see: {}", short(r)));
                }
            }
            Problem::HeldAcrossAwait { lock, task } => {
                match parse_name(&lock.name) {
                    Some((Some(x), node)) if x == run && awaited.insert(node) => {}
                    _ => problems.push(format!("held across an await: {}", short(r))),
                }
                if parse_name(&task.name).map(|(_, n)| n) != Some(Node::Task) {
                    problems.push(format!("not a task's class: {}", short(r)));
                }
            }
            _ => problems.push(format!("unexpected report: {}", short(r))),
        }
    }
    if awaited != o.awaited {
        problems.push(format!(
            "held across an await: validator {awaited:?}, oracle {:?}",
            o.awaited
        ));
    }
    if (circular > 0) != oracle_circular {
        problems.push(format!(
            "circular: validator {} report(s), oracle {}",
            circular,
            if oracle_circular {
                "finds a strong cycle"
            } else {
                "finds none"
            }
        ));
    }
    let oracle_recursion = !o.recursion.is_empty();
    if (recursive > 0) != oracle_recursion {
        problems.push(format!(
            "recursion: validator {} report(s), oracle {:?}",
            recursive, o.recursion
        ));
    }
    problems
}

/// Runs one program alone and compares.
fn check_alone(prog: &Program) -> (u64, Vec<String>, Vec<Arc<Report>>) {
    // A watch, not an index into `lockdep::reports()`: that log is bounded,
    // and past its bound an index no longer points at the newest reports.
    let watch = lockdep::watch_all();
    let run = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
    execute(prog, run);
    let mine: Vec<Arc<Report>> = watch
        .take()
        .into_iter()
        .filter(|r| report_run(r) == Some(run))
        .collect();
    (run, compare(prog, run, &mine), mine)
}

// ---------------------------------------------------------------------------
// Shrinking and printing
// ---------------------------------------------------------------------------

fn without_step(prog: &Program, t: usize, i: usize) -> Program {
    let mut p = prog.clone();
    let removed = p.threads[t].steps.remove(i);
    if let Step::Acquire { slot, .. } = removed {
        p.threads[t]
            .steps
            .retain(|s| !matches!(s, Step::Release { slot: x } if *x == slot));
        // What was taken under it is taken plainly.
        for s in &mut p.threads[t].steps {
            if let Step::Acquire { nest, .. } = s {
                if *nest == Some(slot) {
                    *nest = None;
                }
            }
        }
    }
    p
}

fn still_disagrees(p: &Program, budget: &mut usize) -> bool {
    if *budget == 0 {
        return false;
    }
    *budget -= 1;
    !check_alone(p).1.is_empty()
}

/// Drops threads and steps, and subclasses, while the program still
/// disagrees. Each try runs on fresh classes.
fn shrink(prog: &Program) -> Program {
    let mut best = prog.clone();
    let mut budget = 3000;
    loop {
        let mut changed = false;
        let mut t = 0;
        while t < best.threads.len() && best.threads.len() > 1 {
            let mut p = best.clone();
            p.threads.remove(t);
            if still_disagrees(&p, &mut budget) {
                best = p;
                changed = true;
            } else {
                t += 1;
            }
        }
        for t in 0..best.threads.len() {
            let mut i = best.threads[t].steps.len();
            while i > 0 {
                i -= 1;
                if i >= best.threads[t].steps.len() {
                    continue;
                }
                let p = without_step(&best, t, i);
                if still_disagrees(&p, &mut budget) {
                    best = p;
                    changed = true;
                }
            }
        }
        for t in 0..best.threads.len() {
            for i in 0..best.threads[t].steps.len() {
                let mut p = best.clone();
                let simpler = match &mut p.threads[t].steps[i] {
                    Step::Acquire { sub, .. } | Step::Wait { sub, .. } if *sub != 0 => {
                        *sub = 0;
                        true
                    }
                    _ => false,
                };
                if simpler && still_disagrees(&p, &mut budget) {
                    best = p;
                    changed = true;
                }
            }
        }
        if !changed || budget == 0 {
            return best;
        }
    }
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Exclusive => "Exclusive",
        Mode::Shared => "Shared",
        Mode::SharedRecursive => "SharedRecursive",
    }
}

fn render(prog: &Program) -> String {
    let mut s = String::new();
    let used: BTreeSet<usize> = prog
        .threads
        .iter()
        .flat_map(|t| {
            let body = match t.kind {
                ThreadKind::WorkBody(c) => Some(c),
                _ => None,
            };
            t.steps
                .iter()
                .filter_map(|s| match *s {
                    Step::Acquire { class, .. } | Step::Wait { class, .. } => Some(class),
                    _ => None,
                })
                .chain(body)
        })
        .collect();
    let _ = writeln!(
        s,
        "// classes, each with its own ClassKey; every acquisition uses a fresh\n\
         // instance; what a thread still holds at its end is released last-first."
    );
    for (c, k) in prog.kinds.iter().enumerate() {
        if !used.contains(&c) {
            continue;
        }
        let what = match k {
            Kind::Map => "LockMap",
            Kind::Rw => "RwLock<()>",
            Kind::Mx => "Mutex<()>",
            Kind::Active => "Active",
            Kind::Work => "Work (run on a 1-worker WorkQueue)",
            Kind::AsyncMx => "lockdep::tokio::Mutex<()>",
            Kind::AsyncRw => "lockdep::tokio::RwLock<()>",
        };
        let _ = writeln!(s, "//   c{c}: {what}");
    }
    for (t, th) in prog.threads.iter().enumerate() {
        let kind = match th.kind {
            ThreadKind::Plain => "a plain thread".to_string(),
            ThreadKind::Spawned => "lockdep::thread::spawn(|| { .. })  // holds (thread)".into(),
            ThreadKind::WorkBody(c) => {
                format!(
                    "body of work c{c}: queue(c{c}); c{c}.flush()  // holds (wq_completion), c{c}"
                )
            }
            ThreadKind::Task => {
                "lockdep::tokio::task(async { .. })  // holds (task), moves at each .await".into()
            }
        };
        let _ = writeln!(s, "thread {t}: {kind} {{");
        for step in &th.steps {
            let line = match *step {
                Step::Acquire {
                    slot,
                    class,
                    sub,
                    mode,
                    trylock,
                    nest,
                } => {
                    let m = mode_name(mode);
                    let call = match (prog.kinds[class], trylock, sub) {
                        _ if nest.is_some() => {
                            let n = nest.unwrap_or(0);
                            match (prog.kinds[class], mode) {
                                (Kind::Map, _) => {
                                    format!("acquire_under(Mode::{m}, /* the lock of */ g{n})")
                                }
                                (Kind::Rw, Mode::Exclusive) => format!("write_under(g{n})"),
                                (Kind::Rw, _) => format!("read_under(g{n})"),
                                _ => format!("lock_under(g{n})"),
                            }
                        }
                        (Kind::Map, true, 0) => format!("acquire_try(Mode::{m})"),
                        (Kind::Map, true, s) => {
                            format!("acquire_full(Mode::{m}, {s}, /*trylock*/ true, here)")
                        }
                        (Kind::Map, false, 0) => format!("acquire(Mode::{m})"),
                        (Kind::Map, false, s) => format!("acquire_nested(Mode::{m}, {s})"),
                        (Kind::Rw, false, 0) => match mode {
                            Mode::Exclusive => "write()".into(),
                            Mode::Shared => "read()".into(),
                            Mode::SharedRecursive => "read_recursive()".into(),
                        },
                        (Kind::Rw, false, s) => format!("write_nested({s})"),
                        (Kind::Rw, true, _) => match mode {
                            Mode::Exclusive => "try_write().unwrap()".into(),
                            Mode::Shared => "try_read().unwrap()".into(),
                            Mode::SharedRecursive => "try_read_recursive().unwrap()".into(),
                        },
                        (Kind::Mx, true, _) => "try_lock().unwrap()".into(),
                        (Kind::Mx, false, 0) => "lock()".into(),
                        (Kind::Mx, false, s) => format!("lock_nested({s})"),
                        (Kind::Active, _, _) => "get().unwrap()".into(),
                        (Kind::Work, _, _) => "?".into(),
                        (Kind::AsyncMx, true, _) => "try_lock().unwrap()".into(),
                        (Kind::AsyncMx, false, _) if th.kind == ThreadKind::Task => {
                            "lock().await".into()
                        }
                        (Kind::AsyncMx, false, _) => "blocking_lock()".into(),
                        (Kind::AsyncRw, true, _) if mode == Mode::Exclusive => {
                            "try_write().unwrap()".into()
                        }
                        (Kind::AsyncRw, true, _) => "try_read().unwrap()".into(),
                        (Kind::AsyncRw, false, _) => {
                            let verb = if mode == Mode::Exclusive {
                                "write"
                            } else {
                                "read"
                            };
                            if th.kind == ThreadKind::Task {
                                format!("{verb}().await")
                            } else {
                                format!("blocking_{verb}()")
                            }
                        }
                    };
                    format!("let g{slot} = c{class}.{call};")
                }
                Step::Release { slot } => format!("drop(g{slot});"),
                Step::Wait { class, sub, mode } => {
                    let m = mode_name(mode);
                    match (prog.kinds[class], sub) {
                        (Kind::Map, 0) => format!("c{class}.touch(Mode::{m});"),
                        (Kind::Map, s) => {
                            format!("c{class}.acquire_nested(Mode::{m}, {s}); c{class}.release();")
                        }
                        (Kind::Rw, _) if mode == Mode::Exclusive => {
                            format!("c{class}.might_write();")
                        }
                        (Kind::Rw, _) => format!("c{class}.might_read();"),
                        (Kind::Mx, _) => format!("c{class}.might_lock();"),
                        (Kind::Active, _) => format!("c{class}.drain();"),
                        (Kind::Work, _) => format!("c{class}.flush();"),
                        (Kind::AsyncMx, _) => format!("drop(c{class}.blocking_lock());"),
                        (Kind::AsyncRw, _) if mode == Mode::Exclusive => {
                            format!("drop(c{class}.blocking_write());")
                        }
                        (Kind::AsyncRw, _) => format!("drop(c{class}.blocking_read());"),
                    }
                }
                Step::Join => "lockdep::thread::spawn(|| {}).join();".into(),
                Step::Suspend => "yield_now().await;  // resumed on another thread".into(),
            };
            let _ = writeln!(s, "    {line}");
        }
        let _ = writeln!(s, "}}");
    }
    s
}

fn explain(prog: &Program) -> String {
    let (run, problems, reports) = check_alone(prog);
    let o = Oracle::run(prog);
    let mut s = render(prog);
    let _ = writeln!(s, "// run o{run}: disagreements:");
    for p in &problems {
        let _ = writeln!(s, "//   {p}");
    }
    let _ = writeln!(s, "// validator reports:");
    for r in &reports {
        let _ = writeln!(s, "//   {}", short(r));
    }
    let _ = writeln!(
        s,
        "// oracle: circular={} recursion={:?} held across an await={:?}",
        o.circular(),
        o.recursion,
        o.awaited
    );
    for ((a, b), m) in &o.edges {
        let _ = writeln!(s, "//   {a:?} -> {b:?} {}", mask_str(*m));
    }
    s
}

// ---------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------

fn validation_compiled_out() -> bool {
    lockdep::COMPILED_OUT
}

fn env_number(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

#[test]
fn validator_agrees_with_oracle() {
    if validation_compiled_out() {
        println!("oracle: validation is compiled out; nothing to compare");
        return;
    }
    lockdep::set_action(lockdep::Action::Silent);
    let cases = env_number("LOCKDEP_ORACLE_CASES").map_or(DEFAULT_CASES, |n| n as usize);
    let seed = env_number("LOCKDEP_ORACLE_SEED").unwrap_or(DEFAULT_SEED);
    let start = Instant::now();

    let mut disagreements: Vec<(usize, Program, Vec<String>)> = Vec::new();
    let mut unattributed: Vec<String> = Vec::new();
    let (mut with_circular, mut with_recursion, mut reports_seen) = (0usize, 0usize, 0usize);
    let mut with_covered = 0usize;
    let (mut with_tasks, mut with_awaited) = (0usize, 0usize);
    let mut chain_lengths: BTreeMap<usize, usize> = BTreeMap::new();
    let mut case = 0;
    while case < cases {
        let batch: Vec<(usize, u64, Program)> = (case..cases.min(case + BATCH))
            .map(|c| {
                let run = NEXT_RUN.fetch_add(1, Ordering::Relaxed);
                (c, run, generate_case(seed, c))
            })
            .collect();
        case += batch.len();
        // The batch's reports by a watch: the report log is bounded (10 000
        // by default), and more cases than that raise more reports.
        let watch = lockdep::watch_all();
        for (_, run, prog) in &batch {
            execute(prog, *run);
        }
        let mut by_run: HashMap<u64, Vec<Arc<Report>>> = HashMap::new();
        for r in &watch.take() {
            reports_seen += 1;
            if let Problem::CircularDependency { chain, .. } = &r.problem {
                *chain_lengths.entry(chain.len()).or_insert(0) += 1;
            }
            match report_run(r) {
                Some(run) => by_run.entry(run).or_default().push(r.clone()),
                None => unattributed.push(short(r)),
            }
        }
        for (c, run, prog) in batch {
            let mine = by_run.remove(&run).unwrap_or_default();
            let o = Oracle::run(&prog);
            with_circular += usize::from(o.circular());
            with_recursion += usize::from(!o.recursion.is_empty());
            with_covered += usize::from(o.covered > 0);
            with_tasks += usize::from(prog.threads.iter().any(|t| t.kind == ThreadKind::Task));
            with_awaited += usize::from(!o.awaited.is_empty());
            let problems = compare(&prog, run, &mine);
            if !problems.is_empty() {
                disagreements.push((c, prog, problems));
            }
        }
        if !by_run.is_empty() {
            for (run, rs) in by_run {
                for r in rs {
                    unattributed.push(format!("run o{run} is not in the batch: {}", short(&r)));
                }
            }
        }
    }
    let elapsed = start.elapsed();

    for (c, prog, problems) in disagreements.iter().take(MAX_SHRUNK) {
        println!("--- disagreement: seed {seed:#x}, case {c}:");
        for p in problems {
            println!("    {p}");
        }
        let small = shrink(prog);
        println!("shrunk program:\n{}", explain(&small));
    }
    for u in &unattributed {
        println!("--- report not attributable to one program: {u}");
    }
    let d = disagreements.len() + unattributed.len();
    println!(
        "oracle: {} programs with a strong cycle, {} with recursion, {} with an \
         acquisition a nest lock covers, {} with tasks ({} holding a thread-bound lock \
         across an await), {} reports (cycles by length: {:?}), {:.1?}",
        with_circular,
        with_recursion,
        with_covered,
        with_tasks,
        with_awaited,
        reports_seen,
        chain_lengths,
        elapsed
    );
    println!("oracle: {cases} programs, {d} disagreements");
    assert_eq!(d, 0, "the validator disagrees with the oracle");
}

/// The oracle's cycle search against brute force: every simple cycle of a
/// small random typed graph, every choice of types.
#[test]
fn strong_cycle_search_matches_brute_force() {
    fn brute(n: usize, edges: &BTreeMap<(Node, Node), u8>) -> bool {
        // Simple cycles as sequences of distinct nodes, smallest first.
        fn extend(
            path: &mut Vec<usize>,
            n: usize,
            edges: &BTreeMap<(Node, Node), u8>,
            found: &mut bool,
        ) {
            let node = |i: usize| Node::Class(i, 0);
            let last = *path.last().unwrap();
            if path.len() >= 2 {
                if let Some(&back) = edges.get(&(node(last), node(path[0]))) {
                    let mut masks: Vec<u8> = path
                        .windows(2)
                        .map(|w| edges[&(node(w[0]), node(w[1]))])
                        .collect();
                    masks.push(back);
                    // Every assignment of one type per edge.
                    let len = masks.len() as u32;
                    for code in 0..4usize.pow(len) {
                        let types: Vec<u8> = (0..len)
                            .map(|k| ((code / 4usize.pow(k)) % 4) as u8)
                            .collect();
                        let fits = masks.iter().zip(&types).all(|(m, t)| m & (1 << t) != 0);
                        let strong = (0..types.len())
                            .all(|i| pair_ok(types[i], types[(i + 1) % types.len()]));
                        if fits && strong {
                            *found = true;
                            return;
                        }
                    }
                }
            }
            for next in path[0] + 1..n {
                if !path.contains(&next) && edges.contains_key(&(node(last), node(next))) {
                    path.push(next);
                    extend(path, n, edges, found);
                    path.pop();
                    if *found {
                        return;
                    }
                }
            }
        }
        let mut found = false;
        for start in 0..n {
            extend(&mut vec![start], n, edges, &mut found);
        }
        found
    }

    let mut rng = Rng::new(7);
    let (mut yes, mut no) = (0, 0);
    for _ in 0..3000 {
        let n = 2 + rng.below(4);
        let mut o = Oracle::default();
        for a in 0..n {
            for b in 0..n {
                if a != b && rng.chance(35) {
                    let mask = 1 + rng.below(15) as u8;
                    o.edges.insert((Node::Class(a, 0), Node::Class(b, 0)), mask);
                }
            }
        }
        let expected = brute(n, &o.edges);
        assert_eq!(o.circular(), expected, "graph {:?}", o.edges);
        if expected {
            yes += 1;
        } else {
            no += 1;
        }
    }
    assert!(yes > 300 && no > 300, "{yes} with, {no} without a cycle");
}

fn acq(slot: usize, class: usize, mode: Mode) -> Step {
    Step::Acquire {
        slot,
        class,
        sub: 0,
        mode,
        trylock: false,
        nest: None,
    }
}

fn try_acq(slot: usize, class: usize, mode: Mode) -> Step {
    Step::Acquire {
        slot,
        class,
        sub: 0,
        mode,
        trylock: true,
        nest: None,
    }
}

fn rel(slot: usize) -> Step {
    Step::Release { slot }
}

fn plain(steps: Vec<Step>) -> ThreadProg {
    ThreadProg {
        kind: ThreadKind::Plain,
        steps,
    }
}

fn maps(n: usize, threads: Vec<ThreadProg>) -> Program {
    Program {
        kinds: vec![Kind::Map; n],
        threads,
    }
}

/// The oracle on hand-made programs whose answers are known.
#[test]
fn oracle_knows_the_classic_cases() {
    use Mode::{Exclusive as E, Shared as S, SharedRecursive as R};
    assert_eq!(
        [
            dep_type(S, R),
            dep_type(E, R),
            dep_type(R, S),
            dep_type(E, S)
        ],
        [SR, ER, SN, EN]
    );
    let verdict = |p: &Program| {
        let o = Oracle::run(p);
        (o.circular(), !o.recursion.is_empty())
    };
    // ABBA.
    let abba = maps(
        2,
        vec![
            plain(vec![acq(0, 0, E), acq(1, 1, E), rel(1), rel(0)]),
            plain(vec![acq(2, 1, E), acq(3, 0, E), rel(3), rel(2)]),
        ],
    );
    assert_eq!(verdict(&abba), (true, false));
    // ABBA where one side is a trylock: no edge into it.
    let abba_try = maps(
        2,
        vec![
            plain(vec![acq(0, 0, E), acq(1, 1, E), rel(1), rel(0)]),
            plain(vec![acq(2, 1, E), try_acq(3, 0, E), rel(3), rel(2)]),
        ],
    );
    assert_eq!(verdict(&abba_try), (false, false));
    // Recursive readers on both sides: A -(SR)-> B, B -(SR)-> A: not strong.
    let readers = maps(
        2,
        vec![
            plain(vec![acq(0, 0, R), acq(1, 1, R), rel(1), rel(0)]),
            plain(vec![acq(2, 1, R), acq(3, 0, R), rel(3), rel(2)]),
        ],
    );
    assert_eq!(verdict(&readers), (false, false));
    // A -(SN)-> B and B -(EN)-> A: a waiting writer makes it a deadlock.
    let rw = maps(
        2,
        vec![
            plain(vec![acq(0, 0, S), acq(1, 1, E), rel(1), rel(0)]),
            plain(vec![acq(2, 1, E), acq(3, 0, S), rel(3), rel(2)]),
        ],
    );
    assert_eq!(verdict(&rw), (true, false));
    // A -(SN)-> B and B -(ER)-> A: ER then SN is a forbidden pair.
    let rw_rec = maps(
        2,
        vec![
            plain(vec![acq(0, 0, S), acq(1, 1, E), rel(1), rel(0)]),
            plain(vec![acq(2, 1, E), acq(3, 0, R), rel(3), rel(2)]),
        ],
    );
    assert_eq!(verdict(&rw_rec), (false, false));
    // Edges come from the trylocks above the nearest non-trylock, too.
    let try_chain = maps(
        3,
        vec![
            plain(vec![
                acq(0, 0, E),
                try_acq(1, 1, E),
                acq(2, 2, E),
                rel(2),
                rel(1),
                rel(0),
            ]),
            plain(vec![acq(3, 2, E), acq(4, 0, E), rel(4), rel(3)]),
        ],
    );
    assert_eq!(verdict(&try_chain), (true, false));
    // [A, B] + C gives B -> C (only the nearest non-trylock), then C -> A.
    let nearest = maps(
        3,
        vec![
            plain(vec![
                acq(0, 0, E),
                acq(1, 1, E),
                acq(2, 2, E),
                rel(2),
                rel(1),
                rel(0),
            ]),
            plain(vec![acq(3, 2, E), acq(4, 0, E), rel(4), rel(3)]),
        ],
    );
    assert_eq!(verdict(&nearest), (true, false), "A -> B -> C -> A");
    let nearest_only = maps(
        3,
        vec![
            plain(vec![
                acq(0, 0, S),
                acq(1, 1, R),
                acq(2, 2, E),
                rel(2),
                rel(1),
                rel(0),
            ]),
            plain(vec![acq(3, 2, E), acq(4, 0, S), rel(4), rel(3)]),
        ],
    );
    // A -(SR)-> B -(SN)-> C -(EN)-> A: SR then SN is forbidden, and there
    // is no A -> C, since only the nearest non-trylock gets an edge...
    assert_eq!(verdict(&nearest_only), (false, false));
    // ...but releasing B first re-acquires C over A: A -(SN)-> C.
    let reacquire = maps(
        3,
        vec![
            plain(vec![
                acq(0, 0, S),
                acq(1, 1, R),
                acq(2, 2, E),
                rel(1),
                rel(2),
                rel(0),
            ]),
            plain(vec![acq(3, 2, E), acq(4, 0, S), rel(4), rel(3)]),
        ],
    );
    assert_eq!(verdict(&reacquire), (true, false));
    // Recursion: exclusive twice; read twice; recursive read after a read;
    // a held trylock counts; a trylock is not checked.
    let twice = |a: Step, b: Step| maps(1, vec![plain(vec![a, b, rel(1), rel(0)])]);
    assert_eq!(verdict(&twice(acq(0, 0, E), acq(1, 0, E))), (false, true));
    assert_eq!(verdict(&twice(acq(0, 0, S), acq(1, 0, S))), (false, true));
    assert_eq!(verdict(&twice(acq(0, 0, S), acq(1, 0, R))), (false, false));
    assert_eq!(verdict(&twice(acq(0, 0, E), acq(1, 0, R))), (false, true));
    assert_eq!(
        verdict(&twice(try_acq(0, 0, E), acq(1, 0, E))),
        (false, true)
    );
    assert_eq!(
        verdict(&twice(acq(0, 0, E), try_acq(1, 0, E))),
        (false, false)
    );
    // A recursive acquisition still learns its dependencies: [A, B] + A is
    // recursion, and its B -> A closes A -> B, so the cycle is found too.
    let recursion_still_learns = maps(
        2,
        vec![plain(vec![
            acq(0, 0, E),
            acq(1, 1, E),
            acq(2, 0, E),
            rel(2),
            rel(1),
            rel(0),
        ])],
    );
    assert_eq!(verdict(&recursion_still_learns), (true, true));
    // Subclasses are other classes.
    let nested = maps(
        1,
        vec![plain(vec![
            acq(0, 0, E),
            Step::Acquire {
                slot: 1,
                class: 0,
                sub: 1,
                mode: E,
                trylock: false,
                nest: None,
            },
            rel(1),
            rel(0),
        ])],
    );
    assert_eq!(verdict(&nested), (false, false));
    // Under a nest lock (slot 0): covered once a lock of the class is held
    // above it, with no dependency (B -> A would close A -> B); a nest lock
    // taken after the first lock of the class covers nothing.
    let under = |slot, class, nest| Step::Acquire {
        slot,
        class,
        sub: 0,
        mode: E,
        trylock: false,
        nest: Some(nest),
    };
    let covered = maps(
        3,
        vec![plain(vec![
            acq(0, 2, E),
            under(1, 0, 0),
            acq(2, 1, E),
            under(3, 0, 0),
            rel(3),
            rel(2),
            rel(1),
            rel(0),
        ])],
    );
    assert_eq!(verdict(&covered), (false, false));
    assert_eq!(Oracle::run(&covered).covered, 1);
    // (The nest lock is a trylock here, so that no dependency points into
    // it: whether or not a recursion learns dependencies, no cycle.)
    let late = maps(
        2,
        vec![plain(vec![
            acq(0, 0, E),
            try_acq(1, 1, E),
            under(2, 0, 1),
            rel(2),
            rel(1),
            rel(0),
        ])],
    );
    assert_eq!(verdict(&late), (false, true));
    // A work item flushed under a lock its body takes.
    let flush = Program {
        kinds: vec![Kind::Map, Kind::Map, Kind::Work],
        threads: vec![
            ThreadProg {
                kind: ThreadKind::WorkBody(2),
                steps: vec![acq(0, 0, E), rel(0)],
            },
            plain(vec![
                acq(1, 0, E),
                Step::Wait {
                    class: 2,
                    sub: 0,
                    mode: E,
                },
                rel(1),
            ]),
        ],
    };
    assert_eq!(verdict(&flush), (true, false));
    // A thread joined under a lock it takes.
    let join = Program {
        kinds: vec![Kind::Map, Kind::Map],
        threads: vec![
            ThreadProg {
                kind: ThreadKind::Spawned,
                steps: vec![acq(0, 1, E), rel(0)],
            },
            plain(vec![acq(1, 1, E), Step::Join, rel(1)]),
        ],
    };
    assert_eq!(verdict(&join), (true, false));
}
