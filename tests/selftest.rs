//! The kernel's locking API self-test (`lib/locking-selftest.c`), as a matrix.
//!
//! Rows are the kernel's cases: A-A, A-B-B-A, the longer cycles, double
//! unlock, bad unlock order and freeing a held lock, then the read/write
//! cases of the 2020 recursive-read work (Boqun Feng): same-class
//! re-acquisition and two- and three-lock cycles for every combination of
//! writer (`W`), non-recursive reader (`r`) and recursive reader (`R`) that
//! matters, the kernel's chain-cache case and its four named three-lock
//! cases in all six event orders; then nest locks (`mutex_lock_nest_lock`:
//! covered, too late, not held, the first of a class) and the re-annotation
//! of a held lock (`lock_set_subclass`: hand-over-hand locking, and the
//! re-validation of the locks above it). Columns are the ways of taking a lock:
//! `lockdep::Mutex`, `lockdep::RwLock` (write / read / read_recursive),
//! `LockMap` pseudo-locks, trylocks, `lockdep::sync` and
//! `lockdep::parking_lot`.
//!
//! Every cell has an expected outcome, derived from the kernel's rules, not
//! from what the library does:
//!
//! - A cycle is reported iff it is *strong*: no `-(xR)->` edge is followed by
//!   a `-(Sx)->` edge, where an edge `L1 -> L2` is `E`/`S` by how `L1` is
//!   held and `R`/`N` by how `L2` is acquired (`R` = recursive read, `N` =
//!   write or non-recursive read). An edge into a trylock never exists.
//! - Re-acquiring a class the thread holds is allowed only as a recursive
//!   read after a read (and as a trylock, or on a re-entrant mutex that the
//!   thread owns); otherwise it is recursive locking.
//! - Under a nest lock (the kernel's `check_deadlock`, walking the held locks
//!   from the bottom): a lock of the class met after the nest lock makes the
//!   acquisition *covered*, neither a recursion nor a dependency; met before
//!   it, recursive locking; none, a plain acquisition. A re-annotated lock
//!   and those above it are validated again as new acquisitions.
//!
//! Each cell gets classes of its own (static keys, named
//! `s<section>r<row>c<col>_<L>`) and runs on a fresh thread, one cell after
//! another, so nothing really deadlocks and no cell sees another's held locks
//! or chains. Reports are matched to the cell by class name.
//!
//! `cargo test --release --test selftest -- --nocapture` prints the matrix
//! and ends with `selftest: N cases, M as expected`; the test fails unless
//! every cell is as expected.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use lockdep::lock::{MutexExt, RwLockExt};
use lockdep::parking_lot::lock_api::GetThreadId as _;
use lockdep::report::Problem;
use lockdep::{AsLockMap, ClassKey, LockMap, Mode, Report};

// ---------------------------------------------------------------------------
// Modes, verdicts, edge types
// ---------------------------------------------------------------------------

/// The kernel's three kinds of locker.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum M {
    /// Writer / exclusive (`W`).
    W,
    /// Non-recursive reader (`r`): `RwLock::read`, `Mode::Shared`.
    Rd,
    /// Recursive reader (`R`): `read_recursive`, `Mode::SharedRecursive`.
    Rr,
}

const MODES: [M; 3] = [M::W, M::Rd, M::Rr];

impl M {
    fn ch(self) -> char {
        match self {
            M::W => 'W',
            M::Rd => 'r',
            M::Rr => 'R',
        }
    }

    fn mode(self) -> Mode {
        match self {
            M::W => Mode::Exclusive,
            M::Rd => Mode::Shared,
            M::Rr => Mode::SharedRecursive,
        }
    }

    fn shared(self) -> bool {
        self != M::W
    }
}

/// The dependency type of acquiring in mode `acquired` while holding a lock
/// in mode `held`: `EN`, `ER`, `SN` or `SR`.
fn dep_type(held: M, acquired: M) -> &'static str {
    match (held.shared(), acquired == M::Rr) {
        (false, false) => "EN",
        (false, true) => "ER",
        (true, false) => "SN",
        (true, true) => "SR",
    }
}

/// The strong-path rule over a closed cycle, given as `(held, acquired)`
/// per edge in cycle order: strong (a deadlock) iff no edge ending in `R` is
/// followed, cyclically, by an edge starting with `S`.
fn strong(cycle: &[(M, M)]) -> bool {
    (0..cycle.len()).all(|i| {
        let (_, acquired) = cycle[i];
        let (next_held, _) = cycle[(i + 1) % cycle.len()];
        !(acquired == M::Rr && next_held.shared())
    })
}

/// What a cell should produce, or produced.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Verdict {
    None,
    Circular,
    Recursive,
    /// Recursive locking of another lock of the class, which also closes a
    /// cycle through a lock held in between (reported too: a recursion
    /// report must not hide a cycle).
    RecursiveAndCircular,
    BadUnlock,
    Freed,
    NestNotHeld,
}

impl Verdict {
    fn name(self) -> &'static str {
        match self {
            Verdict::None => "none",
            Verdict::Circular => "circular",
            Verdict::Recursive => "recursive",
            Verdict::RecursiveAndCircular => "recursive+circular",
            Verdict::BadUnlock => "bad unlock",
            Verdict::Freed => "held lock freed",
            Verdict::NestNotHeld => "nest lock not held",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Verdict::None => "none",
            Verdict::Circular => "circ",
            Verdict::Recursive => "rec",
            Verdict::RecursiveAndCircular => "r+c",
            Verdict::BadUnlock => "unlk",
            Verdict::Freed => "free",
            Verdict::NestNotHeld => "nest",
        }
    }
}

// ---------------------------------------------------------------------------
// Front ends
// ---------------------------------------------------------------------------

/// A way of building a lock.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Front {
    Mutex,
    RwLock,
    Map,
    StdMutex,
    StdRwLock,
    PlMutex,
    PlFair,
    PlRwLock,
    PlReentrant,
}

impl Front {
    fn supports(self, m: M) -> bool {
        match self {
            Front::RwLock | Front::Map | Front::PlRwLock => true,
            Front::StdRwLock => m != M::Rr,
            Front::Mutex
            | Front::StdMutex
            | Front::PlMutex
            | Front::PlFair
            | Front::PlReentrant => m == M::W,
        }
    }

    /// Can a lock of this kind be taken in mode `m` under a nest lock?
    fn supports_under(self, m: M) -> bool {
        match self {
            Front::Map => true,
            Front::RwLock | Front::PlRwLock => m != M::Rr,
            Front::Mutex | Front::PlMutex | Front::PlFair => m == M::W,
            Front::StdMutex | Front::StdRwLock | Front::PlReentrant => false,
        }
    }

    /// Can a lock of this kind be taken in mode `m` as a subclass?
    fn supports_nested(self, m: M) -> bool {
        match self {
            Front::Map => true,
            // lock_api's re-entrant mutex calls its raw mutex itself: no
            // subclass reaches it.
            Front::StdRwLock | Front::PlReentrant => false,
            _ => m == M::W,
        }
    }

    fn is_rwlock(self) -> bool {
        matches!(self, Front::RwLock | Front::StdRwLock | Front::PlRwLock)
    }
}

/// One lock of any front end.
enum Lk {
    Mutex(lockdep::Mutex<()>),
    RwLock(lockdep::RwLock<()>),
    Map(LockMap),
    StdMutex(lockdep::sync::Mutex<()>),
    StdRwLock(lockdep::sync::RwLock<()>),
    PlMutex(lockdep::parking_lot::Mutex<()>),
    PlFair(lockdep::parking_lot::FairMutex<()>),
    PlRwLock(lockdep::parking_lot::RwLock<()>),
    PlReentrant(lockdep::parking_lot::ReentrantMutex<()>),
}

/// Any guard; dropping the box releases the lock.
trait Guard {}
impl<T: ?Sized> Guard for T {}

const UNCONTENDED: &str = "an uncontended trylock succeeds";

impl Lk {
    fn new(front: Front, key: &'static ClassKey) -> Lk {
        match front {
            Front::Mutex => Lk::Mutex(lockdep::Mutex::with_key(key, ())),
            Front::RwLock => Lk::RwLock(lockdep::RwLock::with_key(key, ())),
            Front::Map => Lk::Map(LockMap::with_key(key)),
            Front::StdMutex => Lk::StdMutex(lockdep::sync::Mutex::with_key(key, ())),
            Front::StdRwLock => Lk::StdRwLock(lockdep::sync::RwLock::with_key(key, ())),
            Front::PlMutex => Lk::PlMutex(lockdep::parking_lot::Mutex::from_raw(
                lockdep::parking_lot::RawMutex::with_key(key),
                (),
            )),
            Front::PlFair => Lk::PlFair(lockdep::parking_lot::FairMutex::from_raw(
                lockdep::parking_lot::RawFairMutex::with_key(key),
                (),
            )),
            Front::PlRwLock => Lk::PlRwLock(lockdep::parking_lot::RwLock::from_raw(
                lockdep::parking_lot::RawRwLock::with_key(key),
                (),
            )),
            Front::PlReentrant => Lk::PlReentrant(lockdep::parking_lot::ReentrantMutex::from_raw(
                lockdep::parking_lot::RawMutex::with_key(key),
                lockdep::parking_lot::RawThreadId::INIT,
                (),
            )),
        }
    }

    /// Takes the lock in mode `m`, as a trylock if `try_`.
    fn take(&self, m: M, try_: bool) -> Box<dyn Guard + '_> {
        match (self, m, try_) {
            (Lk::Mutex(l), M::W, false) => Box::new(l.lock()),
            (Lk::Mutex(l), M::W, true) => Box::new(l.try_lock().expect(UNCONTENDED)),
            (Lk::RwLock(l), M::W, false) => Box::new(l.write()),
            (Lk::RwLock(l), M::W, true) => Box::new(l.try_write().expect(UNCONTENDED)),
            (Lk::RwLock(l), M::Rd, false) => Box::new(l.read()),
            (Lk::RwLock(l), M::Rd, true) => Box::new(l.try_read().expect(UNCONTENDED)),
            (Lk::RwLock(l), M::Rr, false) => Box::new(l.read_recursive()),
            (Lk::RwLock(l), M::Rr, true) => Box::new(l.try_read_recursive().expect(UNCONTENDED)),
            (Lk::Map(l), m, false) => Box::new(l.hold(m.mode())),
            (Lk::Map(l), m, true) => Box::new(l.hold_try(m.mode())),
            (Lk::StdMutex(l), M::W, false) => Box::new(l.lock().expect("not poisoned")),
            (Lk::StdMutex(l), M::W, true) => Box::new(l.try_lock().expect(UNCONTENDED)),
            (Lk::StdRwLock(l), M::W, false) => Box::new(l.write().expect("not poisoned")),
            (Lk::StdRwLock(l), M::W, true) => Box::new(l.try_write().expect(UNCONTENDED)),
            (Lk::StdRwLock(l), M::Rd, false) => Box::new(l.read().expect("not poisoned")),
            (Lk::StdRwLock(l), M::Rd, true) => Box::new(l.try_read().expect(UNCONTENDED)),
            (Lk::PlMutex(l), M::W, false) => Box::new(l.lock()),
            (Lk::PlMutex(l), M::W, true) => Box::new(l.try_lock().expect(UNCONTENDED)),
            (Lk::PlFair(l), M::W, false) => Box::new(l.lock()),
            (Lk::PlFair(l), M::W, true) => Box::new(l.try_lock().expect(UNCONTENDED)),
            (Lk::PlRwLock(l), M::W, false) => Box::new(l.write()),
            (Lk::PlRwLock(l), M::W, true) => Box::new(l.try_write().expect(UNCONTENDED)),
            (Lk::PlRwLock(l), M::Rd, false) => Box::new(l.read()),
            (Lk::PlRwLock(l), M::Rd, true) => Box::new(l.try_read().expect(UNCONTENDED)),
            (Lk::PlRwLock(l), M::Rr, false) => Box::new(l.read_recursive()),
            (Lk::PlRwLock(l), M::Rr, true) => Box::new(l.try_read_recursive().expect(UNCONTENDED)),
            (Lk::PlReentrant(l), M::W, false) => Box::new(l.lock()),
            (Lk::PlReentrant(l), M::W, true) => Box::new(l.try_lock().expect(UNCONTENDED)),
            _ => unreachable!("mode {m:?} is filtered out as not applicable"),
        }
    }

    /// Takes the lock in mode `m` under the nest lock `nest`.
    fn take_under(&self, m: M, nest: &Lk) -> Box<dyn Guard + '_> {
        let n = nest.map();
        match (self, m) {
            (Lk::Mutex(l), M::W) => Box::new(l.lock_under(n)),
            (Lk::RwLock(l), M::W) => Box::new(l.write_under(n)),
            (Lk::RwLock(l), M::Rd) => Box::new(l.read_under(n)),
            (Lk::Map(l), m) => Box::new(l.hold_under(m.mode(), n)),
            (Lk::PlMutex(l), M::W) => Box::new(l.lock_under(n)),
            (Lk::PlFair(l), M::W) => Box::new(l.lock_under(n)),
            (Lk::PlRwLock(l), M::W) => Box::new(l.write_under(n)),
            (Lk::PlRwLock(l), M::Rd) => Box::new(l.read_under(n)),
            _ => unreachable!("mode {m:?} under a nest lock is filtered out"),
        }
    }

    /// Takes the lock in mode `m` as subclass `sub` of its class.
    fn take_nested(&self, m: M, sub: u32) -> Box<dyn Guard + '_> {
        match (self, m) {
            (Lk::Mutex(l), M::W) => Box::new(l.lock_nested(sub)),
            (Lk::RwLock(l), M::W) => Box::new(l.write_nested(sub)),
            (Lk::Map(l), m) => {
                assert!(l.acquire_nested(m.mode(), sub));
                Box::new(Released(l))
            }
            (Lk::StdMutex(l), M::W) => Box::new(l.lock_nested(sub).expect("not poisoned")),
            (Lk::PlMutex(l), M::W) => Box::new(l.lock_nested(sub)),
            (Lk::PlFair(l), M::W) => Box::new(l.lock_nested(sub)),
            (Lk::PlRwLock(l), M::W) => Box::new(l.write_nested(sub)),
            _ => unreachable!("mode {m:?} as a subclass is filtered out"),
        }
    }

    /// The lock's pseudo-lock: what `set_subclass` and nest locks work on.
    fn map(&self) -> &LockMap {
        match self {
            Lk::Mutex(l) => l.as_lock_map(),
            Lk::RwLock(l) => l.as_lock_map(),
            Lk::Map(l) => l,
            Lk::StdMutex(l) => l.as_lock_map(),
            Lk::StdRwLock(l) => l.as_lock_map(),
            Lk::PlMutex(l) => l.as_lock_map(),
            Lk::PlFair(l) => l.as_lock_map(),
            Lk::PlRwLock(l) => l.as_lock_map(),
            Lk::PlReentrant(l) => l.as_lock_map(),
        }
    }

    /// The pseudo-lock API's bare release (only a `LockMap` has one).
    fn release(&self) {
        match self {
            Lk::Map(l) => l.release(),
            _ => unreachable!("release is filtered out as not applicable"),
        }
    }
}

/// A pseudo-lock acquisition, released when dropped.
struct Released<'a>(&'a LockMap);

impl Drop for Released<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

// ---------------------------------------------------------------------------
// Columns
// ---------------------------------------------------------------------------

/// Which acquisitions of a case a column makes trylocks.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tries {
    /// None.
    No,
    /// The last acquisition of the case (the one that closes the cycle).
    Last,
    /// Every acquisition made while the thread holds nothing (the outer
    /// lock of each pair): held trylocks are still the source of edges.
    Outer,
}

struct Column {
    name: &'static str,
    front: Front,
    /// The mode of the case's `Md::Col` acquisitions.
    mode: M,
    tries: Tries,
}

const fn col(name: &'static str, front: Front, mode: M, tries: Tries) -> Column {
    Column {
        name,
        front,
        mode,
        tries,
    }
}

/// Columns of the kernel's base matrix: every lock kind, each case in one mode.
const BASE_COLUMNS: &[Column] = &[
    col("mutex", Front::Mutex, M::W, Tries::No),
    col("rw:W", Front::RwLock, M::W, Tries::No),
    col("rw:r", Front::RwLock, M::Rd, Tries::No),
    col("rw:R", Front::RwLock, M::Rr, Tries::No),
    col("map:W", Front::Map, M::W, Tries::No),
    col("map:r", Front::Map, M::Rd, Tries::No),
    col("map:R", Front::Map, M::Rr, Tries::No),
    col("try:last", Front::Mutex, M::W, Tries::Last),
    col("try:outer", Front::Mutex, M::W, Tries::Outer),
    col("std:Mutex", Front::StdMutex, M::W, Tries::No),
    col("std:W", Front::StdRwLock, M::W, Tries::No),
    col("std:r", Front::StdRwLock, M::Rd, Tries::No),
    col("pl:Mutex", Front::PlMutex, M::W, Tries::No),
    col("pl:Fair", Front::PlFair, M::W, Tries::No),
    col("pl:W", Front::PlRwLock, M::W, Tries::No),
    col("pl:r", Front::PlRwLock, M::Rd, Tries::No),
    col("pl:R", Front::PlRwLock, M::Rr, Tries::No),
    col("pl:Reent", Front::PlReentrant, M::W, Tries::No),
];

/// Columns of the read/write matrix: the kinds that take a mode per
/// acquisition (the mode here is unused: the cases name theirs).
const RW_COLUMNS: &[Column] = &[
    col("map", Front::Map, M::W, Tries::No),
    col("rw", Front::RwLock, M::W, Tries::No),
    col("pl:RwLock", Front::PlRwLock, M::W, Tries::No),
    col("std:RwLock", Front::StdRwLock, M::W, Tries::No),
];

/// Columns of the nest-lock and re-annotation matrix: the kinds that take
/// a lock under a nest lock or as a subclass, in each of their modes.
const NEST_COLUMNS: &[Column] = &[
    col("mutex", Front::Mutex, M::W, Tries::No),
    col("rw:W", Front::RwLock, M::W, Tries::No),
    col("rw:r", Front::RwLock, M::Rd, Tries::No),
    col("map:W", Front::Map, M::W, Tries::No),
    col("map:r", Front::Map, M::Rd, Tries::No),
    col("map:R", Front::Map, M::Rr, Tries::No),
    col("std:Mutex", Front::StdMutex, M::W, Tries::No),
    col("pl:Mutex", Front::PlMutex, M::W, Tries::No),
    col("pl:Fair", Front::PlFair, M::W, Tries::No),
    col("pl:W", Front::PlRwLock, M::W, Tries::No),
    col("pl:r", Front::PlRwLock, M::Rd, Tries::No),
    col("pl:Reent", Front::PlReentrant, M::W, Tries::No),
];

// ---------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------

/// The mode of an acquisition: the column's, or the case's own.
#[derive(Clone, Copy, Debug)]
enum Md {
    Col,
    Is(M),
}

#[derive(Clone, Copy, Debug)]
enum Step {
    /// Acquire lock `.0`.
    Lock(usize, Md),
    /// Acquire lock `.0` with a trylock, in every column.
    TryLock(usize, Md),
    /// Acquire lock `.0` under the nest lock `.2`.
    LockUnder(usize, Md, usize),
    /// Acquire lock `.0` as subclass `.2` of its class.
    LockNested(usize, Md, u32),
    /// Re-annotate the held lock `.0` as subclass `.1` (`set_subclass`).
    SetSub(usize, u32),
    /// Drop the oldest guard of lock `.0`.
    Unlock(usize),
    /// `LockMap::release` of lock `.0` (the pseudo-lock API).
    Release(usize),
    /// Build a lock of class `.0` in a box, acquire it, forget the guard and
    /// drop the lock: the kernel's "initialize held".
    HoldFree(usize, Md),
}

enum Expect {
    /// The steps close this cycle: `(held, acquired)` step indices of each
    /// edge, in cycle order.
    Cycle(Vec<(usize, usize)>),
    /// Step `.1` re-acquires the class that step `.0` holds.
    Recursion(usize, usize),
    /// Step `.2` takes another lock of the class that step `.0` holds, with
    /// step `.1`'s lock (of another class) held in between.
    RecursionOfAnother(usize, usize, usize),
    /// A fixed outcome.
    Fixed(Verdict),
}

struct Case {
    name: String,
    /// Class names; locks and classes are indices into this.
    classes: Vec<&'static str>,
    /// The class of each lock.
    locks: Vec<usize>,
    steps: Vec<Step>,
    expect: Expect,
    /// What the kernel's selftest table says, where it names the case:
    /// checked against the rule-derived expectation.
    kernel: Option<Verdict>,
}

/// A case being built.
struct Builder {
    classes: Vec<&'static str>,
    locks: Vec<usize>,
    steps: Vec<Step>,
}

impl Builder {
    /// One lock per class.
    fn new(classes: &[&'static str]) -> Builder {
        Builder {
            classes: classes.to_vec(),
            locks: (0..classes.len()).collect(),
            steps: Vec::new(),
        }
    }

    /// The kernel's `LOCK_UNLOCK_2(x, y)`; returns the step indices of the
    /// two acquisitions (the edge `x -> y`).
    fn pair(&mut self, x: usize, mx: Md, y: usize, my: Md) -> (usize, usize) {
        let i = self.steps.len();
        self.steps.extend([
            Step::Lock(x, mx),
            Step::Lock(y, my),
            Step::Unlock(y),
            Step::Unlock(x),
        ]);
        (i, i + 1)
    }

    fn case(self, name: impl Into<String>, expect: Expect, kernel: Option<Verdict>) -> Case {
        Case {
            name: name.into(),
            classes: self.classes,
            locks: self.locks,
            steps: self.steps,
            expect,
            kernel,
        }
    }
}

/// A cycle case from `LOCK_UNLOCK_2` pairs of lock indices, in the mode of
/// the column; `cycle` lists the pairs in cycle order.
fn base_cycle(
    name: &str,
    classes: &[&'static str],
    pairs: &[(usize, usize)],
    cycle: &[usize],
) -> Case {
    let mut b = Builder::new(classes);
    let edges: Vec<_> = pairs
        .iter()
        .map(|&(x, y)| b.pair(x, Md::Col, y, Md::Col))
        .collect();
    let expect = Expect::Cycle(cycle.iter().map(|&k| edges[k]).collect());
    b.case(name, expect, None)
}

/// The kernel's base cases, each run in the column's mode.
fn base_cases() -> Vec<Case> {
    let (a, b_, c, d) = (0, 1, 2, 3);
    let mut cases = Vec::new();

    // A-A: LOCK(X1); LOCK(X2), two locks of one class (the kernel's case).
    let mut b = Builder::new(&["X"]);
    b.locks = vec![0, 0];
    b.steps = vec![
        Step::Lock(0, Md::Col),
        Step::Lock(1, Md::Col),
        Step::Unlock(1),
        Step::Unlock(0),
    ];
    cases.push(b.case("A-A (X1,X2)", Expect::Recursion(0, 1), None));

    // A-A on one lock (rlock_AA1): only where the lock can really be taken
    // twice by one thread (readers, re-entrant mutexes, pseudo-locks). The
    // first guard is dropped first.
    let mut b = Builder::new(&["X"]);
    b.steps = vec![
        Step::Lock(0, Md::Col),
        Step::Lock(0, Md::Col),
        Step::Unlock(0),
        Step::Unlock(0),
    ];
    cases.push(b.case("A-A (X1,X1)", Expect::Recursion(0, 1), None));

    let ab = ["A", "B"];
    let abc = ["A", "B", "C"];
    let abcd = ["A", "B", "C", "D"];
    cases.push(base_cycle("A-B-B-A", &ab, &[(a, b_), (b_, a)], &[0, 1]));
    cases.push(base_cycle(
        "A-B-B-C-C-A",
        &abc,
        &[(a, b_), (b_, c), (c, a)],
        &[0, 1, 2],
    ));
    // AB, CA, BC: the cycle A -> B -> C -> A is pairs 0, 2, 1.
    cases.push(base_cycle(
        "A-B-C-A-B-C",
        &abc,
        &[(a, b_), (c, a), (b_, c)],
        &[0, 2, 1],
    ));
    cases.push(base_cycle(
        "A-B-B-C-C-D-D-A",
        &abcd,
        &[(a, b_), (b_, c), (c, d), (d, a)],
        &[0, 1, 2, 3],
    ));
    // AB, CD, BD, DA: the cycle is A -> B -> D -> A (C is off it).
    cases.push(base_cycle(
        "A-B-C-D-B-D-D-A",
        &abcd,
        &[(a, b_), (c, d), (b_, d), (d, a)],
        &[0, 2, 3],
    ));
    // AB, CD, BC, DA: A -> B -> C -> D -> A.
    cases.push(base_cycle(
        "A-B-C-D-B-C-D-A",
        &abcd,
        &[(a, b_), (c, d), (b_, c), (d, a)],
        &[0, 2, 1, 3],
    ));

    // A-B-A: the class re-acquired with another lock in between, on the
    // same lock (a re-entrant mutex's owner re-locking it) and on another
    // lock of the class. On the same lock, recursive locking and only that:
    // it waits on itself, and adds no dependency (as the kernel's
    // `validate_chain` returns when `check_deadlock` fails). On another lock
    // of the class, where the kernel would stop validating altogether,
    // lockdep goes on: it records B -> X, and reports the cycle
    // X -> B -> X too, so that a recursion report never hides a cycle.
    for (label, two) in [("A-B-A (X1,B,X1)", false), ("A-B-A (X1,B,X2)", true)] {
        let mut b = Builder::new(&["X", "B"]);
        let second = if two {
            b.locks = vec![0, 1, 0];
            2
        } else {
            0
        };
        b.steps = vec![
            Step::Lock(0, Md::Col),
            Step::Lock(1, Md::Col),
            Step::Lock(second, Md::Col),
            Step::Unlock(second),
            Step::Unlock(1),
            Step::Unlock(0),
        ];
        let expect = if two {
            Expect::RecursionOfAnother(0, 1, 2)
        } else {
            Expect::Recursion(0, 2)
        };
        cases.push(b.case(label, expect, None));
    }

    // Trylocks (the kernel's rules; its selftest has no such rows). A held
    // trylock is skipped over: A -> C is recorded through it.
    let mut b = Builder::new(&abc);
    b.steps = vec![
        Step::Lock(a, Md::Col),
        Step::TryLock(b_, Md::Col),
        Step::Lock(c, Md::Col),
        Step::Unlock(c),
        Step::Unlock(b_),
        Step::Unlock(a),
    ];
    let e2 = b.pair(c, Md::Col, a, Md::Col);
    cases.push(b.case("A-tB-C / C-A", Expect::Cycle(vec![(0, 2), e2]), None));
    // No dependency points into a trylock: A -> B is never recorded.
    let mut b = Builder::new(&ab);
    b.steps = vec![
        Step::Lock(a, Md::Col),
        Step::TryLock(b_, Md::Col),
        Step::Unlock(b_),
        Step::Unlock(a),
    ];
    let e2 = b.pair(b_, Md::Col, a, Md::Col);
    cases.push(b.case("A-tB / B-A", Expect::Cycle(vec![(0, 1), e2]), None));
    // A trylock that would close the cycle is not reported, and does not
    // hide the blocking acquisition that closes it later.
    let mut b = Builder::new(&ab);
    let e1 = b.pair(a, Md::Col, b_, Md::Col);
    b.steps.extend([
        Step::Lock(b_, Md::Col),
        Step::TryLock(a, Md::Col),
        Step::Unlock(a),
        Step::Unlock(b_),
    ]);
    let e3 = b.pair(b_, Md::Col, a, Md::Col);
    cases.push(b.case("A-B / B-tA / B-A", Expect::Cycle(vec![e1, e3]), None));

    // LOCK(A); UNLOCK(A); UNLOCK(A): only the pseudo-lock API can say it.
    let mut b = Builder::new(&["A"]);
    b.steps = vec![Step::Lock(0, Md::Col), Step::Unlock(0), Step::Release(0)];
    cases.push(b.case("double unlock", Expect::Fixed(Verdict::BadUnlock), None));

    // LOCK(A); LOCK(B); UNLOCK(A); UNLOCK(B): unlock order does not matter.
    let mut b = Builder::new(&ab);
    b.steps = vec![
        Step::Lock(0, Md::Col),
        Step::Lock(1, Md::Col),
        Step::Unlock(0),
        Step::Unlock(1),
    ];
    cases.push(b.case("bad unlock order", Expect::Fixed(Verdict::None), None));

    // LOCK(A); INIT(A): a lock dropped while held.
    let mut b = Builder::new(&["A"]);
    b.steps = vec![Step::HoldFree(0, Md::Col)];
    cases.push(b.case("initialize held", Expect::Fixed(Verdict::Freed), None));

    cases
}

/// A named kernel case: its name, `(held, acquired)` per event, verdict.
type Named = (&'static str, [(M, M); 3], Verdict);

/// The read/write cases, with explicit modes.
fn rw_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let is = Md::Is;

    // Same-class re-acquisition, on one lock and on two locks of one class:
    // rlock_AA1 (R R), rsem_AA1 (r r), rlock_AA2 (R W), rsem_AA2 (r W),
    // rlock_AA3 (W R), rsem_AA3 (W r) and the rest of the 3x3.
    for (label, two) in [("X1,X1", false), ("X1,X2", true)] {
        for m1 in MODES {
            for m2 in MODES {
                let mut b = Builder::new(&["X"]);
                let second = if two {
                    b.locks = vec![0, 0];
                    1
                } else {
                    0
                };
                b.steps = vec![
                    Step::Lock(0, is(m1)),
                    Step::Lock(second, is(m2)),
                    Step::Unlock(0),
                    Step::Unlock(second),
                ];
                let name = format!("A-A ({label}) {}{}", m1.ch(), m2.ch());
                cases.push(b.case(name, Expect::Recursion(0, 1), None));
            }
        }
    }

    // A-B-B-A: hold A (m1) take B (m2); hold B (m3) take A (m4). All 81.
    // rlock_ABBA1 = RW/WW, rlock_ABBA2 = RW/WR, rlock_ABBA3 = WW/WW, and
    // the rwsem variants with r.
    for m1 in MODES {
        for m2 in MODES {
            for m3 in MODES {
                for m4 in MODES {
                    let mut b = Builder::new(&["A", "B"]);
                    let e1 = b.pair(0, is(m1), 1, is(m2));
                    let e2 = b.pair(1, is(m3), 0, is(m4));
                    let name = format!(
                        "A-B-B-A {}{}/{}{} [{} {}]",
                        m1.ch(),
                        m2.ch(),
                        m3.ch(),
                        m4.ch(),
                        dep_type(m1, m2),
                        dep_type(m3, m4)
                    );
                    cases.push(b.case(name, Expect::Cycle(vec![e1, e2]), None));
                }
            }
        }
    }

    // rlock_chaincache_ABBA1: read_lock(A) spin_lock(B); spin_lock(B)
    // read_lock(A); spin_lock(B) write_lock(A). The chain B,A is known as
    // B then read A; the write must not hit that cache.
    let mut b = Builder::new(&["A", "B"]);
    let e1 = b.pair(0, is(M::Rr), 1, is(M::W));
    b.pair(1, is(M::W), 0, is(M::Rr));
    let e3 = b.pair(1, is(M::W), 0, is(M::W));
    cases.push(b.case(
        "chaincache R-L/L-R/L-W",
        Expect::Cycle(vec![e1, e3]),
        Some(Verdict::Circular),
    ));

    // A class first reached by a path ending in R, then by a longer one
    // ending in N: only the second may go on through an S edge. X -(ER)-> C,
    // X -(EN)-> D -(EN)-> C, C -(SN)-> P, then P -(EN)-> X closes the strong
    // cycle X -> D -> C -> P -> X.
    let mut b = Builder::new(&["X", "C", "D", "P"]);
    let (x, c, d, p) = (0, 1, 2, 3);
    b.pair(x, is(M::W), c, is(M::Rr));
    let e1 = b.pair(x, is(M::W), d, is(M::W));
    let e2 = b.pair(d, is(M::W), c, is(M::W));
    let e3 = b.pair(c, is(M::Rd), p, is(M::W));
    let e4 = b.pair(p, is(M::W), x, is(M::W));
    cases.push(b.case(
        "X-C(R), X-D-C, C(r)-P, P-X",
        Expect::Cycle(vec![e1, e2, e3, e4]),
        None,
    ));

    // The kernel's named three-lock cases (read_lock is recursive there),
    // in all six orders of their three events.
    let named: [Named; 4] = [
        (
            "W1R2/W2R3/W3R1",
            [(M::W, M::Rr), (M::W, M::Rr), (M::W, M::Rr)],
            Verdict::Circular,
        ),
        (
            "W1W2/R2R3/W3R1",
            [(M::W, M::W), (M::Rr, M::Rr), (M::W, M::Rr)],
            Verdict::Circular,
        ),
        (
            "W1W2/R2R3/R3W1",
            [(M::W, M::W), (M::Rr, M::Rr), (M::Rr, M::W)],
            Verdict::None,
        ),
        (
            "W1R2/R2R3/W3W1",
            [(M::W, M::Rr), (M::Rr, M::Rr), (M::W, M::W)],
            Verdict::None,
        ),
    ];
    for (name, events, kernel) in named {
        for order in [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ] {
            let mut b = Builder::new(&["X", "Y", "Z"]);
            // Event k is the edge from lock k to lock k+1.
            let mut edges = [(0, 0); 3];
            for &k in &order {
                let (h, a) = events[k];
                edges[k] = b.pair(k, is(h), (k + 1) % 3, is(a));
            }
            let label = format!("{name} #{}{}{}", order[0] + 1, order[1] + 1, order[2] + 1);
            cases.push(b.case(label, Expect::Cycle(edges.to_vec()), Some(kernel)));
        }
    }

    // A-B-B-C-C-A for the 64 combinations of edge types, each made of
    // concrete modes that vary from row to row (S is r or R, N is W or r).
    let types = ["EN", "ER", "SN", "SR"];
    for k in 0..64usize {
        let t = [k / 16, (k / 4) % 4, k % 4];
        let mut modes = [(M::W, M::W); 3];
        for (i, &ti) in t.iter().enumerate() {
            let held = if ti < 2 {
                M::W
            } else if (k + i) % 2 == 0 {
                M::Rd
            } else {
                M::Rr
            };
            let acquired = if ti % 2 == 1 {
                M::Rr
            } else if (k / 2 + i) % 2 == 0 {
                M::W
            } else {
                M::Rd
            };
            modes[i] = (held, acquired);
        }
        let mut b = Builder::new(&["A", "B", "C"]);
        let edges: Vec<_> = (0..3)
            .map(|i| b.pair(i, is(modes[i].0), (i + 1) % 3, is(modes[i].1)))
            .collect();
        let shown: Vec<String> = modes
            .iter()
            .map(|(h, a)| format!("{}{}", h.ch(), a.ch()))
            .collect();
        let name = format!(
            "A-B-B-C-C-A {} [{} {} {}]",
            shown.join("/"),
            types[t[0]],
            types[t[1]],
            types[t[2]]
        );
        cases.push(b.case(name, Expect::Cycle(edges), None));
    }

    cases
}

/// Nest locks (`mutex_lock_nest_lock`) and re-annotation of a held lock
/// (`lock_set_subclass`), in the column's mode. The kernel's rules
/// (`check_deadlock`, `validate_chain`, `__lock_set_class`): walking the held
/// locks from the bottom, a lock of the class met *after* the nest lock
/// makes the acquisition covered, with no recursion and no dependency at all
/// (`check_deadlock` returns 2); met before it, the acquisition is recursive
/// locking; none held, it is a plain acquisition with its dependencies. A
/// re-annotated lock and every lock above it are acquired again, and
/// validated like new acquisitions.
fn nest_cases() -> Vec<Case> {
    let col = Md::Col;
    let mut cases = Vec::new();

    // N, A1<N, A2<N: covered.
    let mut b = Builder::new(&["N", "A"]);
    b.locks = vec![0, 1, 1];
    b.steps = vec![
        Step::Lock(0, col),
        Step::LockUnder(1, col, 0),
        Step::LockUnder(2, col, 0),
        Step::Unlock(2),
        Step::Unlock(1),
        Step::Unlock(0),
    ];
    cases.push(b.case("N, A1<N, A2<N", Expect::Fixed(Verdict::None), None));

    // N, A1<N, B, A2<N: A2 is covered, so not even B -> A is recorded, and
    // the cycle A -> B -> A that edge would close is not there ...
    let covered_over_b = || {
        let mut b = Builder::new(&["N", "A", "B"]);
        b.locks = vec![0, 1, 2, 1];
        b.steps = vec![
            Step::Lock(0, col),
            Step::LockUnder(1, col, 0),
            Step::Lock(2, col),
            Step::LockUnder(3, col, 0),
            Step::Unlock(3),
            Step::Unlock(2),
            Step::Unlock(1),
            Step::Unlock(0),
        ];
        b
    };
    let b = covered_over_b();
    cases.push(b.case("N, A1<N, B, A2<N", Expect::Fixed(Verdict::None), None));
    // ... while A1 -> B, a plain acquisition, is: a plain B -> A closes it.
    let mut b = covered_over_b();
    let e2 = b.pair(2, col, 1, col);
    cases.push(b.case(
        "N, A1<N, B, A2<N / B-A",
        Expect::Cycle(vec![(1, 2), e2]),
        None,
    ));

    // N, A<N / A-N: the first lock of the class under the nest lock covers
    // nothing: N -> A is recorded, and A -> N closes the cycle.
    let mut b = Builder::new(&["N", "A"]);
    b.steps = vec![
        Step::Lock(0, col),
        Step::LockUnder(1, col, 0),
        Step::Unlock(1),
        Step::Unlock(0),
    ];
    let e2 = b.pair(1, col, 0, col);
    cases.push(b.case("N, A<N / A-N", Expect::Cycle(vec![(0, 1), e2]), None));

    // A1, tN, A2<N: the nest lock came after the first lock of the class.
    // (N is a trylock, so that no dependency points into it: whether or not
    // a recursion learns dependencies, N -> A closes no cycle.)
    let mut b = Builder::new(&["N", "A"]);
    b.locks = vec![0, 1, 1];
    b.steps = vec![
        Step::Lock(1, col),
        Step::TryLock(0, col),
        Step::LockUnder(2, col, 0),
        Step::Unlock(2),
        Step::Unlock(0),
        Step::Unlock(1),
    ];
    cases.push(b.case("A1, tN, A2<N", Expect::Recursion(0, 2), None));

    // N, A1<N, A2: the second lock is not taken under the nest lock.
    let mut b = Builder::new(&["N", "A"]);
    b.locks = vec![0, 1, 1];
    b.steps = vec![
        Step::Lock(0, col),
        Step::LockUnder(1, col, 0),
        Step::Lock(2, col),
        Step::Unlock(2),
        Step::Unlock(1),
        Step::Unlock(0),
    ];
    cases.push(b.case("N, A1<N, A2", Expect::Recursion(1, 2), None));

    // N, M, A1<N, A2<M: any held nest lock below the first of the class.
    let mut b = Builder::new(&["N", "M", "A"]);
    b.locks = vec![0, 1, 2, 2];
    b.steps = vec![
        Step::Lock(0, col),
        Step::Lock(1, col),
        Step::LockUnder(2, col, 0),
        Step::LockUnder(3, col, 1),
        Step::Unlock(3),
        Step::Unlock(2),
        Step::Unlock(1),
        Step::Unlock(0),
    ];
    cases.push(b.case("N, M, A1<N, A2<M", Expect::Fixed(Verdict::None), None));

    // X1, X2<X1: a nest lock of the class itself (met first) covers.
    let mut b = Builder::new(&["X"]);
    b.locks = vec![0, 0];
    b.steps = vec![
        Step::Lock(0, col),
        Step::LockUnder(1, col, 0),
        Step::Unlock(1),
        Step::Unlock(0),
    ];
    cases.push(b.case("X1, X2<X1", Expect::Fixed(Verdict::None), None));

    // A<N with N not held: "Nested lock was not taken".
    let mut b = Builder::new(&["N", "A"]);
    b.steps = vec![Step::LockUnder(1, col, 0), Step::Unlock(1)];
    cases.push(b.case("A<N, N not held", Expect::Fixed(Verdict::NestNotHeld), None));

    // Hand over hand over four locks of one class: plainly, recursion.
    let hand_over_hand = |next: &dyn Fn(usize) -> Vec<Step>| {
        let mut b = Builder::new(&["X"]);
        b.locks = vec![0; 4];
        b.steps = vec![Step::Lock(0, col)];
        for i in 1..4 {
            b.steps.extend(next(i));
        }
        b.steps.push(Step::Unlock(3));
        b
    };
    let b = hand_over_hand(&|i| vec![Step::Lock(i, col), Step::Unlock(i - 1)]);
    cases.push(b.case("hoh X1 X2 X3 X4", Expect::Recursion(0, 1), None));
    // The next one as subclass 1: recursion on X/1 at the third lock.
    let b = hand_over_hand(&|i| vec![Step::LockNested(i, col, 1), Step::Unlock(i - 1)]);
    cases.push(b.case("hoh X/1 kept", Expect::Recursion(1, 3), None));
    // ... set back to 0 once the previous one is released: the fix.
    let b = hand_over_hand(&|i| {
        vec![
            Step::LockNested(i, col, 1),
            Step::Unlock(i - 1),
            Step::SetSub(i, 0),
        ]
    });
    cases.push(b.case("hoh X/1, set 0", Expect::Fixed(Verdict::None), None));
    // ... or the held one set to 1 before the next is taken plainly.
    let b = hand_over_hand(&|i| {
        vec![
            Step::SetSub(i - 1, 1),
            Step::Lock(i, col),
            Step::Unlock(i - 1),
        ]
    });
    cases.push(b.case("hoh set 1, X", Expect::Fixed(Verdict::None), None));

    // B-X/1, then X, B and X set to 1: the re-annotation re-validates B
    // above it, recording X/1 -> B, which closes the cycle.
    let mut b = Builder::new(&["X", "B"]);
    b.steps = vec![
        Step::Lock(1, col),
        Step::LockNested(0, col, 1),
        Step::Unlock(0),
        Step::Unlock(1),
        Step::Lock(0, col),
        Step::Lock(1, col),
        Step::SetSub(0, 1),
        Step::Unlock(1),
        Step::Unlock(0),
    ];
    cases.push(b.case(
        "B-X/1; X, B, set X 1",
        Expect::Cycle(vec![(0, 1), (4, 5)]),
        None,
    ));

    // X1/1, X2, then X1 set to 0: X2 is re-validated above X1/0.
    let mut b = Builder::new(&["X"]);
    b.locks = vec![0, 0];
    b.steps = vec![
        Step::LockNested(0, col, 1),
        Step::Lock(1, col),
        Step::SetSub(0, 0),
        Step::Unlock(1),
        Step::Unlock(0),
    ];
    cases.push(b.case("X1/1, X2, set X1 0", Expect::Recursion(0, 1), None));

    // Re-annotating a lock not held: a bad unlock balance, as the kernel's.
    let mut b = Builder::new(&["X"]);
    b.steps = vec![Step::SetSub(0, 1)];
    cases.push(b.case("set X 1, not held", Expect::Fixed(Verdict::BadUnlock), None));

    cases
}

// ---------------------------------------------------------------------------
// Resolving and running a cell
// ---------------------------------------------------------------------------

/// A step with the column applied.
#[derive(Clone, Copy, Debug)]
enum Act {
    Lock { lock: usize, m: M, try_: bool },
    LockUnder { lock: usize, m: M, nest: usize },
    LockNested { lock: usize, m: M, sub: u32 },
    SetSub { lock: usize, sub: u32 },
    Unlock(usize),
    Release(usize),
    HoldFree { class: usize, m: M, try_: bool },
}

impl Act {
    /// The lock an acquisition takes, its mode and whether it is a trylock.
    fn acquisition(self) -> Option<(usize, M, bool)> {
        match self {
            Act::Lock { lock, m, try_ } => Some((lock, m, try_)),
            Act::LockUnder { lock, m, .. } | Act::LockNested { lock, m, .. } => {
                Some((lock, m, false))
            }
            _ => None,
        }
    }
}

fn resolve(case: &Case, col: &Column) -> Vec<Act> {
    let mode = |md: Md| match md {
        Md::Col => col.mode,
        Md::Is(m) => m,
    };
    let last = case
        .steps
        .iter()
        .rposition(|s| matches!(s, Step::Lock(..) | Step::TryLock(..) | Step::HoldFree(..)));
    let mut depth = 0usize;
    let mut acts = Vec::new();
    for (i, step) in case.steps.iter().enumerate() {
        let try_ = match col.tries {
            Tries::No => false,
            Tries::Last => Some(i) == last,
            Tries::Outer => depth == 0,
        };
        acts.push(match *step {
            Step::Lock(lock, md) => {
                depth += 1;
                Act::Lock {
                    lock,
                    m: mode(md),
                    try_,
                }
            }
            Step::TryLock(lock, md) => {
                depth += 1;
                Act::Lock {
                    lock,
                    m: mode(md),
                    try_: true,
                }
            }
            Step::LockUnder(lock, md, nest) => {
                depth += 1;
                Act::LockUnder {
                    lock,
                    m: mode(md),
                    nest,
                }
            }
            Step::LockNested(lock, md, sub) => {
                depth += 1;
                Act::LockNested {
                    lock,
                    m: mode(md),
                    sub,
                }
            }
            Step::SetSub(lock, sub) => Act::SetSub { lock, sub },
            Step::Unlock(lock) => {
                depth -= 1;
                Act::Unlock(lock)
            }
            Step::Release(lock) => Act::Release(lock),
            Step::HoldFree(class, md) => Act::HoldFree {
                class,
                m: mode(md),
                try_,
            },
        });
    }
    acts
}

/// Can this front end run these steps on one thread without really blocking?
fn applicable(front: Front, acts: &[Act]) -> bool {
    let mut held: Vec<(usize, M)> = Vec::new();
    for act in acts {
        let supported = match *act {
            Act::LockUnder { m, .. } => front.supports_under(m),
            Act::LockNested { m, .. } => front.supports_nested(m),
            _ => true,
        };
        if !supported {
            return false;
        }
        match *act {
            Act::SetSub { .. } => {}
            Act::LockUnder { lock, m, .. }
            | Act::LockNested { lock, m, .. }
            | Act::Lock { lock, m, .. } => {
                if !front.supports(m) {
                    return false;
                }
                let mine: Vec<M> = held
                    .iter()
                    .filter(|(l, _)| *l == lock)
                    .map(|(_, m)| *m)
                    .collect();
                let ok = mine.is_empty()
                    || match front {
                        Front::Map | Front::PlReentrant => true,
                        // A reader may join this thread's own readers.
                        f if f.is_rwlock() => m != M::W && !mine.contains(&M::W),
                        _ => false,
                    };
                if !ok {
                    return false;
                }
                held.push((lock, m));
            }
            Act::Unlock(lock) => {
                if let Some(p) = held.iter().position(|(l, _)| *l == lock) {
                    held.remove(p);
                }
            }
            Act::Release(_) => {
                if front != Front::Map {
                    return false;
                }
            }
            Act::HoldFree { m, .. } => {
                if !front.supports(m) {
                    return false;
                }
            }
        }
    }
    true
}

/// The expected outcome of taking `second` while `first`, of the same
/// class, is held.
fn expected_recursion(front: Front, first: (usize, M, bool), second: (usize, M, bool)) -> Verdict {
    let ((l1, m1, _), (l2, m2, try2)) = (first, second);
    if try2 {
        // A trylock is never checked: it cannot block.
        Verdict::None
    } else if l1 == l2 && front == Front::PlReentrant {
        // The owner re-locking a re-entrant mutex is no acquisition.
        Verdict::None
    } else if m2 == M::Rr && m1.shared() {
        // A recursive read after a read.
        Verdict::None
    } else {
        Verdict::Recursive
    }
}

/// The expected outcome of a cell, by the kernel's rules.
fn expected(case: &Case, front: Front, acts: &[Act]) -> Verdict {
    let lock_at = |i: usize| {
        acts[i]
            .acquisition()
            .unwrap_or_else(|| panic!("step {i} is not an acquisition: {:?}", acts[i]))
    };
    match &case.expect {
        Expect::Fixed(v) => *v,
        Expect::RecursionOfAnother(first, between, second) => {
            let recursion = expected_recursion(front, lock_at(*first), lock_at(*second));
            let (_, m1, _) = lock_at(*first);
            let (_, mb, tryb) = lock_at(*between);
            let (_, m2, try2) = lock_at(*second);
            // The cycle X -> B -> X: X held when B was taken, B held when
            // the second X is.
            let cycle = !tryb && !try2 && strong(&[(m1, mb), (mb, m2)]);
            match (recursion, cycle) {
                (Verdict::Recursive, true) => Verdict::RecursiveAndCircular,
                (Verdict::Recursive, false) => Verdict::Recursive,
                (_, true) => Verdict::Circular,
                (v, false) => v,
            }
        }
        Expect::Recursion(first, second) => {
            expected_recursion(front, lock_at(*first), lock_at(*second))
        }
        Expect::Cycle(edges) => {
            let mut cycle = Vec::new();
            for &(h, a) in edges {
                let (_, hm, _) = lock_at(h);
                let (_, am, atry) = lock_at(a);
                if atry {
                    // No dependency ever points into a trylock.
                    return Verdict::None;
                }
                cycle.push((hm, am));
            }
            if strong(&cycle) {
                Verdict::Circular
            } else {
                Verdict::None
            }
        }
    }
}

/// The classes a circular report should name: those of the cycle's locks.
fn cycle_classes(case: &Case, acts: &[Act]) -> Option<BTreeSet<&'static str>> {
    match &case.expect {
        Expect::Cycle(edges) => Some(
            edges
                .iter()
                .map(|&(h, _)| match acts[h].acquisition() {
                    Some((lock, ..)) => case.classes[case.locks[lock]],
                    None => unreachable!(),
                })
                .collect(),
        ),
        _ => None,
    }
}

/// What one report says, in the matrix's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Verdict(Verdict, BTreeSet<String>),
    Other(&'static str),
}

impl Seen {
    /// The report in a cell; with its classes when `classes` (a circular
    /// report where one was expected: the cycle may be the wrong one).
    fn describe(&self, classes: bool) -> String {
        match self {
            Seen::Verdict(Verdict::Circular, names) if classes => format!(
                "circular({})",
                names.iter().cloned().collect::<Vec<_>>().join(",")
            ),
            Seen::Verdict(v, _) => v.name().to_string(),
            Seen::Other(title) => format!("other({title})"),
        }
    }
}

fn classify(report: &Report, prefix: &str) -> Seen {
    let classes = report
        .class_names()
        .iter()
        .filter_map(|n| n.strip_prefix(prefix))
        // The class, whatever its subclass: a cycle through `X/1` is one
        // through the case's class `X`.
        .map(|n| n.split('/').next().unwrap_or(n).to_string())
        .collect();
    let verdict = match report.problem {
        Problem::CircularDependency { .. } => Verdict::Circular,
        Problem::RecursiveLocking { .. } => Verdict::Recursive,
        Problem::BadUnlockBalance { .. } => Verdict::BadUnlock,
        Problem::HeldLockFreed { .. } => Verdict::Freed,
        Problem::NestLockNotHeld { .. } => Verdict::NestNotHeld,
        _ => return Seen::Other(report.title()),
    };
    Seen::Verdict(verdict, classes)
}

/// A static key for a class of its own.
fn leak_key(name: String) -> &'static ClassKey {
    Box::leak(Box::new(ClassKey::new(Box::leak(name.into_boxed_str()))))
}

/// Runs the steps on this thread.
fn run_steps(case: &Case, front: Front, acts: &[Act], keys: &[&'static ClassKey]) {
    let locks: Vec<Lk> = case
        .locks
        .iter()
        .map(|&class| Lk::new(front, keys[class]))
        .collect();
    let mut guards: Vec<(usize, Box<dyn Guard + '_>)> = Vec::new();
    for act in acts {
        match *act {
            Act::Lock { lock, m, try_ } => guards.push((lock, locks[lock].take(m, try_))),
            Act::LockUnder { lock, m, nest } => {
                guards.push((lock, locks[lock].take_under(m, &locks[nest])))
            }
            Act::LockNested { lock, m, sub } => {
                guards.push((lock, locks[lock].take_nested(m, sub)))
            }
            Act::SetSub { lock, sub } => {
                let held = guards.iter().any(|(l, _)| *l == lock);
                assert_eq!(locks[lock].map().set_subclass(sub), held);
            }
            Act::Unlock(lock) => {
                if let Some(p) = guards.iter().position(|(l, _)| *l == lock) {
                    drop(guards.remove(p));
                }
            }
            Act::Release(lock) => locks[lock].release(),
            Act::HoldFree { class, m, try_ } => {
                let lock = Box::new(Lk::new(front, keys[class]));
                std::mem::forget(lock.take(m, try_));
                drop(lock);
            }
        }
    }
    while let Some(guard) = guards.pop() {
        drop(guard);
    }
}

/// Runs a cell on a thread of its own; returns what was reported about its
/// classes (including a report of locks left held when the thread ended).
fn run_cell(case: &Case, front: Front, acts: &[Act], prefix: &str) -> Vec<Seen> {
    let keys: Vec<&'static ClassKey> = case
        .classes
        .iter()
        .map(|c| leak_key(format!("{prefix}{c}")))
        .collect();
    let before = lockdep::reports().len();
    let joined = std::thread::scope(|s| {
        std::thread::Builder::new()
            .name(format!("selftest-{prefix}"))
            .spawn_scoped(s, || run_steps(case, front, acts, &keys))
            .expect("spawn")
            .join()
    });
    let mut seen: Vec<Seen> = lockdep::reports()[before..]
        .iter()
        .filter(|r| r.class_names().iter().any(|n| n.starts_with(prefix)))
        .map(|r| classify(r, prefix))
        .collect();
    if joined.is_err() {
        seen.push(Seen::Other("the cell panicked"));
    }
    seen
}

// ---------------------------------------------------------------------------
// The matrix
// ---------------------------------------------------------------------------

enum Cell {
    NotApplicable,
    Ok(Verdict),
    Miss { expected: String, got: String },
}

impl Cell {
    fn text(&self) -> String {
        match self {
            Cell::NotApplicable => "-".to_string(),
            Cell::Ok(v) => format!("ok {}", v.short()),
            Cell::Miss { expected, got } => format!("MISS(expected {expected}, got {got})"),
        }
    }
}

struct Tally {
    cases: usize,
    as_expected: usize,
    misses: Vec<String>,
}

fn run_section(
    title: &str,
    section: usize,
    cases: &[Case],
    columns: &[Column],
    tally: &mut Tally,
    out: &mut String,
) {
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    for (r, case) in cases.iter().enumerate() {
        let mut cells = Vec::new();
        for (c, col) in columns.iter().enumerate() {
            let acts = resolve(case, col);
            if !applicable(col.front, &acts) {
                cells.push(Cell::NotApplicable.text());
                continue;
            }
            let expect = expected(case, col.front, &acts);
            if let Some(kernel) = case.kernel {
                assert_eq!(
                    expect, kernel,
                    "the strong-path rule disagrees with the kernel's table on {}",
                    case.name
                );
            }
            let want_classes = cycle_classes(case, &acts);
            let prefix = format!("s{section}r{r}c{c}_");
            let seen = run_cell(case, col.front, &acts, &prefix);
            let ok = match (expect, seen.as_slice()) {
                (Verdict::None, []) => true,
                (Verdict::Circular, [Seen::Verdict(Verdict::Circular, got)]) => match &want_classes
                {
                    Some(want) => want.iter().map(|s| s.to_string()).eq(got.iter().cloned()),
                    None => true,
                },
                (
                    Verdict::RecursiveAndCircular,
                    [Seen::Verdict(Verdict::Recursive, _), Seen::Verdict(Verdict::Circular, _)],
                ) => true,
                (v, [Seen::Verdict(got, _)]) => v == *got && v != Verdict::Circular,
                _ => false,
            };
            tally.cases += 1;
            let cell = if ok {
                tally.as_expected += 1;
                Cell::Ok(expect)
            } else {
                let expected = match (&want_classes, expect) {
                    (Some(classes), Verdict::Circular) => format!(
                        "circular({})",
                        classes.iter().copied().collect::<Vec<_>>().join(",")
                    ),
                    _ => expect.name().to_string(),
                };
                let got = if seen.is_empty() {
                    "none".to_string()
                } else {
                    seen.iter()
                        .map(|x| x.describe(expect == Verdict::Circular))
                        .collect::<Vec<_>>()
                        .join("+")
                };
                let cell = Cell::Miss { expected, got };
                tally
                    .misses
                    .push(format!("{} / {}: {}", case.name, col.name, cell.text()));
                cell
            };
            cells.push(cell.text());
        }
        rows.push((case.name.clone(), cells));
    }

    let label_width = rows
        .iter()
        .map(|(n, _)| n.len())
        .chain([title.len()])
        .max()
        .unwrap_or(0);
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(c, col)| {
            rows.iter()
                .map(|(_, cells)| cells[c].len())
                .chain([col.name.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |label: &str, cells: &mut dyn Iterator<Item = &str>| {
        let mut s = format!("{label:<label_width$} |");
        for (cell, w) in cells.zip(&widths) {
            let _ = write!(s, " {cell:<w$} |");
        }
        s
    };
    let header = line(title, &mut columns.iter().map(|c| c.name));
    let rule = "-".repeat(header.len());
    let _ = writeln!(out, "{rule}\n{header}\n{rule}");
    for (name, cells) in &rows {
        let _ = writeln!(out, "{}", line(name, &mut cells.iter().map(String::as_str)));
    }
    let _ = writeln!(out, "{rule}");
}

#[test]
fn locking_selftest() {
    lockdep::set_action(lockdep::Action::Silent);
    let started = std::time::Instant::now();
    let mut tally = Tally {
        cases: 0,
        as_expected: 0,
        misses: Vec::new(),
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "lockdep locking selftest (after lib/locking-selftest.c)\n\
         cells: ok <expected> | MISS(expected .., got ..) | - (not applicable)\n\
         verdicts: circ = circular dependency, rec = recursive locking, \
         unlk = bad unlock balance, free = held lock freed, none = no report\n\
         modes: W = write, r = read (non-recursive), R = read_recursive; \
         try:last = the closing acquisition is a try_lock, try:outer = the \
         outer lock of each pair is a try_lock"
    );
    run_section(
        "kernel cases",
        0,
        &base_cases(),
        BASE_COLUMNS,
        &mut tally,
        &mut out,
    );
    let _ = writeln!(
        out,
        "\nread/write: `A-B-B-A ab/cd` = hold A in mode a, take B in b / hold B in c, \
         take A in d (three-lock rows alike); [..] = each edge's type: E/S by how \
         its first lock is held, R/N by how its second is acquired. A-A `ab` = \
         take X in a, then X (X1,X1) or another lock of its class (X1,X2) in b."
    );
    run_section(
        "read/write cases",
        1,
        &rw_cases(),
        RW_COLUMNS,
        &mut tally,
        &mut out,
    );
    let _ = writeln!(
        out,
        "\nnest locks and re-annotation: `A<N` = A taken under the nest lock N; \
         `X/1` = taken as subclass 1; `set X 1` = the held X re-annotated as \
         subclass 1; hoh = hand over hand (the next lock taken, then the \
         previous one released)."
    );
    run_section(
        "nest / re-annotation cases",
        2,
        &nest_cases(),
        NEST_COLUMNS,
        &mut tally,
        &mut out,
    );
    for miss in &tally.misses {
        let _ = writeln!(out, "MISS: {miss}");
    }
    let _ = writeln!(out, "({:.1?})", started.elapsed());
    let _ = writeln!(
        out,
        "selftest: {} cases, {} as expected",
        tally.cases, tally.as_expected
    );
    print!("{out}");
    assert!(tally.cases >= 100, "too few cases: {}", tally.cases);
    assert_eq!(
        tally.as_expected,
        tally.cases,
        "{} cells differ from the kernel's rules:\n{}",
        tally.cases - tally.as_expected,
        tally.misses.join("\n")
    );
}
