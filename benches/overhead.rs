//! Overhead of `lockdep` against plain and other checked locks, side by side.
//!
//! Run with `cargo bench --bench overhead`. Implementations, all measured in
//! one run:
//!
//! - `parking_lot`: `parking_lot::Mutex` / `RwLock` (the baseline of every ratio);
//! - `std`: `std::sync::Mutex` / `RwLock`;
//! - `tracing_mutex`: `tracing_mutex::stdsync::tracing::Mutex` / `RwLock`
//!   (the always-tracing types; built without the `backtraces` feature);
//! - `lockdep`: `lockdep::Mutex` / `RwLock`;
//! - `lockdep_off`: the same sources compiled with validation out;
//! - in rows of their own (`raw_*`), `lockdep_raw`: lockdep's raw locks
//!   (`lockdep::raw`) against parking_lot's, both through `lock_api`.
//!
//! Method: the parent process runs every (scenario, implementation) pair in
//! its own child process (this binary re-executed with `--child`), so that
//! the process-global state of the validators (lockdep's graph and chain
//! cache, tracing-mutex's graph) starts empty for each figure and no scenario
//! biases another. There are [`ROUNDS`] rounds; each runs every pair once, in
//! an order rotated per round, and the samples of the rounds are pooled. A
//! figure is the median of the pooled samples.
//!
//! - Batched scenarios: calibrate a batch to about 10 ms, warm up for 100 ms,
//!   then take 25 samples of one batch each; a sample is ns per iteration.
//! - One-shot scenarios (`newedge_*`): a chain is built, then 5 warm-up and
//!   40 measured first acquisitions, each on a fresh lock created before the
//!   timed region; each is timed alone with `Instant`, minus the median cost
//!   of the timer itself.
//! - One-shot report scenarios (`report_silent`, `report_callback`): the
//!   same timing of 5 + 40 acquisitions that each close a fresh two-lock
//!   cycle and raise a report nobody reads (silent, or to a callback that
//!   counts it); for implementations without reports, the fresh pair's
//!   first nesting.
//!
//! Each iteration goes through `black_box` on every lock reference and
//! mutates the guarded data. An iteration's body is a non-inlined function,
//! so that every scenario nesting a pair runs the same machine code.
//! A one-shot sample is the whole nested pair (lock, lock, mutate, unlock,
//! unlock) whose second lock is a first acquisition of a new edge; for
//! lockdep it includes registering the fresh lock's class.
//!
//! Output: one `BENCH <scenario> <impl> <ns_per_op>` line per figure, then a
//! table with ratios to `parking_lot`, then the target checks.
//!
//! Async scenarios (`async_*`), against `tokio::sync` alone, in a table of
//! their own (ratios to `tokio`): `tokio::sync::Mutex`, `lockdep::tokio::Mutex`
//! and the compiled-out one. Each batch runs inside one task (for lockdep an
//! instrumented [`lockdep::tokio::Task`], so its stack is swapped in), and
//! each iteration polls the lock futures once with a no-op waker: an
//! uncontended `lock().await` resolves in its first poll, as in a running
//! task, with no runtime around (so no coop budget either, for any of them).
//! `async_poll` is the cost of one poll of a task whose future returns
//! `Pending` each time: what the per-task stack swap adds to every poll.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::ops::{Deref, DerefMut};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Barrier;
use std::time::{Duration, Instant};

/// Implementations, in column order. The first is the baseline.
const IMPLS: [&str; 5] = [
    "parking_lot",
    "std",
    "tracing_mutex",
    "lockdep",
    "lockdep_off",
];

/// Scenarios, in row order.
const SCENARIOS: [&str; 16] = [
    "single",
    "nested2",
    "nested4",
    "under4",
    "threads2",
    "graph10000",
    "newedge_leaf10000",
    "newedge_worst10000",
    "rwread2",
    "create_drop",
    "create_lock_drop",
    "report_silent",
    "report_callback",
    "drop_vec64",
    "subclass_alt",
    "many_chains",
];

/// Locks held at once in `drop_vec64`.
const VEC_N: usize = 64;
/// The subclasses `subclass_alt` goes through in turn: two alternating
/// below 256, and one above.
const ALT_SUBS: [u32; 3] = [1, 2, 300];
/// `many_chains`: outer and inner locks; every (outer, inner) pair is a
/// chain of its own, 320 * 320 = 102 400 chains, past the 65 536 that one
/// thread's cache once held.
const MANY_N: usize = 320;

/// Edges in the chain of the graph and new-edge scenarios.
const GRAPH_N: usize = 10_000;
/// Child processes per (scenario, implementation); their samples are pooled.
const ROUNDS: usize = 3;
/// Target duration of one batched sample.
const SAMPLE_TIME: Duration = Duration::from_millis(10);
/// Warm-up before the batched samples.
const WARM_UP: Duration = Duration::from_millis(100);
/// Batched samples per process.
const SAMPLES: usize = 25;
/// One-shot acquisitions per process: discarded warm-up, then measured.
const ONE_SHOT_WARM: usize = 5;
const ONE_SHOT_SAMPLES: usize = 40;
/// `threads2`: warm-up and measured samples per process.
const THREAD_WARM: usize = 3;
const THREAD_SAMPLES: usize = 15;

// ---------------------------------------------------------------------------
// The implementations behind one interface.

/// A mutex guarding a `u64`.
trait BenchMutex: Send + Sync + Sized + 'static {
    type Guard<'a>: DerefMut<Target = u64>
    where
        Self: 'a;
    /// A lock of a class of its own (for the validators that have classes).
    fn distinct() -> Self;
    /// A lock from the ordinary constructor.
    fn plain() -> Self;
    fn lock(&self) -> Self::Guard<'_>;
    /// `n` locks of one class (for the validators that have classes).
    fn family(n: usize) -> Vec<Self> {
        (0..n).map(|_| Self::distinct()).collect()
    }
    /// Locks this one under the held `nest` (a nest lock, for lockdep;
    /// a plain lock for the others).
    fn lock_under<'a>(&'a self, nest: &Self) -> Self::Guard<'a> {
        let _ = nest;
        self.lock()
    }
    /// A lock with a subclass, for the validators that have them; the
    /// others just lock.
    #[inline]
    fn lock_sub(&self, _subclass: u32) -> Self::Guard<'_> {
        self.lock()
    }
    /// The validator's statistics, for lockdep.
    fn stats() -> Option<lockdep::Stats> {
        None
    }
}

/// A reader-writer lock guarding an `AtomicU64`, so that a reader can mutate
/// it (with a plain relaxed load and store, no read-modify-write).
trait BenchRwLock: Send + Sync + Sized + 'static {
    type ReadGuard<'a>: Deref<Target = AtomicU64>
    where
        Self: 'a;
    fn distinct() -> Self;
    fn read(&self) -> Self::ReadGuard<'_>;
}

impl BenchMutex for parking_lot::Mutex<u64> {
    type Guard<'a> = parking_lot::MutexGuard<'a, u64>;
    fn distinct() -> Self {
        parking_lot::Mutex::new(0)
    }
    fn plain() -> Self {
        parking_lot::Mutex::new(0)
    }
    // Always inlined, for every implementation alike: the benchmark's own
    // wrapper must not be what a lock call costs.
    #[inline(always)]
    fn lock(&self) -> Self::Guard<'_> {
        parking_lot::Mutex::lock(self)
    }
}

impl BenchRwLock for parking_lot::RwLock<AtomicU64> {
    type ReadGuard<'a> = parking_lot::RwLockReadGuard<'a, AtomicU64>;
    fn distinct() -> Self {
        parking_lot::RwLock::new(AtomicU64::new(0))
    }
    #[inline]
    fn read(&self) -> Self::ReadGuard<'_> {
        parking_lot::RwLock::read(self)
    }
}

impl BenchMutex for std::sync::Mutex<u64> {
    type Guard<'a> = std::sync::MutexGuard<'a, u64>;
    fn distinct() -> Self {
        std::sync::Mutex::new(0)
    }
    fn plain() -> Self {
        std::sync::Mutex::new(0)
    }
    // Always inlined, for every implementation alike: the benchmark's own
    // wrapper must not be what a lock call costs.
    #[inline(always)]
    fn lock(&self) -> Self::Guard<'_> {
        std::sync::Mutex::lock(self).unwrap()
    }
}

impl BenchRwLock for std::sync::RwLock<AtomicU64> {
    type ReadGuard<'a> = std::sync::RwLockReadGuard<'a, AtomicU64>;
    fn distinct() -> Self {
        std::sync::RwLock::new(AtomicU64::new(0))
    }
    #[inline]
    fn read(&self) -> Self::ReadGuard<'_> {
        std::sync::RwLock::read(self).unwrap()
    }
}

type TmMutex = tracing_mutex::stdsync::tracing::Mutex<u64>;
type TmRwLock = tracing_mutex::stdsync::tracing::RwLock<AtomicU64>;

impl BenchMutex for TmMutex {
    type Guard<'a> = tracing_mutex::stdsync::tracing::MutexGuard<'a, u64>;
    fn distinct() -> Self {
        TmMutex::new(0)
    }
    fn plain() -> Self {
        TmMutex::new(0)
    }
    // Always inlined, for every implementation alike: the benchmark's own
    // wrapper must not be what a lock call costs.
    #[inline(always)]
    fn lock(&self) -> Self::Guard<'_> {
        TmMutex::lock(self).unwrap()
    }
}

impl BenchRwLock for TmRwLock {
    type ReadGuard<'a> = tracing_mutex::stdsync::tracing::RwLockReadGuard<'a, AtomicU64>;
    fn distinct() -> Self {
        TmRwLock::new(AtomicU64::new(0))
    }
    #[inline]
    fn read(&self) -> Self::ReadGuard<'_> {
        TmRwLock::read(self).unwrap()
    }
}

/// `lockdep` and `lockdep_off` have one API. A lock of a class of its own
/// needs a static key of its own: the default class is the construction
/// site, which a loop shares.
macro_rules! lockdep_impls {
    ($krate:ident, $stats:expr) => {
        impl BenchMutex for $krate::Mutex<u64> {
            type Guard<'a> = $krate::MutexGuard<'a, u64>;
            fn distinct() -> Self {
                let key: &'static $krate::ClassKey =
                    Box::leak(Box::new($krate::ClassKey::new("bench")));
                $krate::Mutex::with_key(key, 0)
            }
            fn plain() -> Self {
                $krate::Mutex::new(0)
            }
            #[inline(always)]
            fn lock(&self) -> Self::Guard<'_> {
                $krate::Mutex::lock(self)
            }
            fn family(n: usize) -> Vec<Self> {
                let key: &'static $krate::ClassKey =
                    Box::leak(Box::new($krate::ClassKey::new("bench-family")));
                (0..n).map(|_| $krate::Mutex::with_key(key, 0)).collect()
            }
            #[inline]
            fn lock_under<'a>(&'a self, nest: &Self) -> Self::Guard<'a> {
                $krate::Mutex::lock_under(self, nest)
            }
            #[inline]
            fn lock_sub(&self, subclass: u32) -> Self::Guard<'_> {
                $krate::Mutex::lock_nested(self, subclass)
            }
            fn stats() -> Option<lockdep::Stats> {
                $stats
            }
        }

        impl BenchRwLock for $krate::RwLock<AtomicU64> {
            type ReadGuard<'a> = $krate::RwLockReadGuard<'a, AtomicU64>;
            fn distinct() -> Self {
                let key: &'static $krate::ClassKey =
                    Box::leak(Box::new($krate::ClassKey::new("bench-rw")));
                $krate::RwLock::with_key(key, AtomicU64::new(0))
            }
            #[inline]
            fn read(&self) -> Self::ReadGuard<'_> {
                $krate::RwLock::read(self)
            }
        }
    };
}

lockdep_impls!(lockdep, Some(lockdep::stats()));
lockdep_impls!(lockdep_off, None);

/// Is `lockdep` itself compiled out in this build (`--cfg lockdep_off`)?
fn lockdep_compiled_out() -> bool {
    lockdep::COMPILED_OUT
}

// ---------------------------------------------------------------------------
// Timing.

/// Runs `op` in batches: calibration, warm-up, then [`SAMPLES`] samples, each
/// the mean ns per call over one batch.
fn batched(mut op: impl FnMut()) -> Vec<f64> {
    let iters = calibrate(&mut op);
    let start = Instant::now();
    while start.elapsed() < WARM_UP {
        for _ in 0..iters / 10 + 1 {
            op();
        }
    }
    (0..SAMPLES).map(|_| time_batch(&mut op, iters)).collect()
}

/// The batch size that takes about [`SAMPLE_TIME`].
fn calibrate(op: &mut impl FnMut()) -> u64 {
    let mut iters = 16u64;
    loop {
        let t = Instant::now();
        for _ in 0..iters {
            op();
        }
        let e = t.elapsed();
        if e >= SAMPLE_TIME / 8 {
            let scaled = iters as f64 * SAMPLE_TIME.as_secs_f64() / e.as_secs_f64();
            return (scaled as u64).max(1);
        }
        iters *= 2;
    }
}

fn time_batch(op: &mut impl FnMut(), iters: u64) -> f64 {
    let t = Instant::now();
    for _ in 0..iters {
        op();
    }
    t.elapsed().as_nanos() as f64 / iters as f64
}

/// A time limit on a batch that another thread can stall (a checker's
/// global lock held through long searches). The batch cannot look at the
/// clock on every call without changing what it measures, so another thread
/// watches the deadline and raises `abort`; the batch only loads that flag.
/// The watching thread also stops stalling it once `abort` is up.
struct Cap {
    origin: Instant,
    /// ns since `origin`.
    deadline: AtomicU64,
    abort: AtomicBool,
}

/// The longest a capped batch may take.
const BATCH_CAP: Duration = Duration::from_millis(100);

impl Cap {
    fn new() -> Cap {
        Cap {
            origin: Instant::now(),
            deadline: AtomicU64::new(u64::MAX),
            abort: AtomicBool::new(false),
        }
    }

    /// For the watching thread: raise `abort` once the deadline has passed.
    fn watch(&self) {
        if self.origin.elapsed().as_nanos() as u64 > self.deadline.load(Relaxed) {
            self.abort.store(true, Relaxed);
        }
    }

    /// [`time_batch`] that stops early when `abort` is raised: ns per call
    /// over the calls made.
    fn time_batch(&self, op: &mut impl FnMut(), iters: u64) -> f64 {
        self.abort.store(false, Relaxed);
        let deadline = (self.origin.elapsed() + BATCH_CAP).as_nanos() as u64;
        self.deadline.store(deadline, Relaxed);
        let t = Instant::now();
        let mut done = 0;
        while done < iters {
            op();
            done += 1;
            if self.abort.load(Relaxed) {
                break;
            }
        }
        let ns = t.elapsed().as_nanos() as f64 / done as f64;
        self.deadline.store(u64::MAX, Relaxed);
        ns
    }
}

/// The median cost of `Instant::now()` followed by `elapsed()`.
fn timer_overhead() -> f64 {
    let mut v: Vec<f64> = (0..10_001)
        .map(|_| {
            let t = Instant::now();
            black_box(t.elapsed()).as_nanos() as f64
        })
        .collect();
    median(&mut v)
}

fn median(v: &mut [f64]) -> f64 {
    percentile(v, 0.5)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    v[i]
}

// ---------------------------------------------------------------------------
// The operations measured.

// The body of one iteration of each scenario is a function of its own that
// is never inlined: every scenario that nests a pair runs the same machine
// code, whatever the compiler would decide for the loop around it (inlining
// of the lock calls into a bigger caller moves lockdep's figure by several ns).

#[inline(never)]
fn single<M: BenchMutex>(a: &M) {
    let mut g = black_box(a).lock();
    *g += 1;
}

#[inline(never)]
fn nested2<M: BenchMutex>(a: &M, b: &M) {
    let mut ga = black_box(a).lock();
    let mut gb = black_box(b).lock();
    *ga += 1;
    *gb += 1;
    drop(gb);
    drop(ga);
}

#[inline(never)]
fn nested4<M: BenchMutex>(m: &[M; 4]) {
    let mut g0 = black_box(&m[0]).lock();
    let mut g1 = black_box(&m[1]).lock();
    let mut g2 = black_box(&m[2]).lock();
    let mut g3 = black_box(&m[3]).lock();
    *g0 += 1;
    *g1 += 1;
    *g2 += 1;
    *g3 += 1;
    drop(g3);
    drop(g2);
    drop(g1);
    drop(g0);
}

/// A parent, then three locks of one class under it: for lockdep the first
/// is a plain acquisition, the other two are covered by the nest lock.
#[inline(never)]
fn under4<M: BenchMutex>(parent: &M, children: &[M]) {
    let mut g0 = black_box(parent).lock();
    let mut g1 = black_box(&children[0]).lock_under(parent);
    let mut g2 = black_box(&children[1]).lock_under(parent);
    let mut g3 = black_box(&children[2]).lock_under(parent);
    *g0 += 1;
    *g1 += 1;
    *g2 += 1;
    *g3 += 1;
    drop(g3);
    drop(g2);
    drop(g1);
    drop(g0);
}

#[inline(never)]
fn rwread2<R: BenchRwLock>(a: &R, b: &R) {
    let ga = black_box(a).read();
    let gb = black_box(b).read();
    bump(&ga);
    bump(&gb);
    drop(gb);
    drop(ga);
}

#[inline(never)]
fn create_drop<M: BenchMutex>() {
    drop(black_box(M::plain()));
}

/// A lock in every object: built, locked once, dropped. For `lockdep` the
/// lock is new every time, so its class is resolved every time.
#[inline(never)]
fn create_lock_drop<M: BenchMutex>() {
    let m = black_box(M::plain());
    *black_box(&m).lock() += 1;
    drop(black_box(m));
}

/// `VEC_N` locks taken in order into a `Vec` of guards, which is cleared:
/// dropped first to last, the oldest held lock first each time.
#[inline(never)]
fn drop_vec64<'a, M: BenchMutex>(m: &'a [M], guards: &mut Vec<M::Guard<'a>>) {
    for l in m {
        guards.push(black_box(l).lock());
    }
    for g in guards.iter_mut() {
        **g += 1;
    }
    guards.clear();
}

/// A nested pair whose inner lock is taken with a subclass.
#[inline(never)]
fn subclass_pair<M: BenchMutex>(a: &M, b: &M, subclass: u32) {
    let mut ga = black_box(a).lock();
    let mut gb = black_box(b).lock_sub(subclass);
    *ga += 1;
    *gb += 1;
    drop(gb);
    drop(ga);
}

#[inline(always)]
fn bump(a: &AtomicU64) {
    a.store(a.load(Relaxed).wrapping_add(1), Relaxed);
}

/// A chain of `GRAPH_N + 1` locks of distinct classes, with every
/// `m[i] -> m[i+1]` acquired once.
fn build_chain<M: BenchMutex>() -> Vec<M> {
    let chain: Vec<M> = (0..=GRAPH_N).map(|_| M::distinct()).collect();
    for w in chain.windows(2) {
        nested2(&w[0], &w[1]);
    }
    chain
}

/// Aligned and padded to keep two threads' locks off each other's cache lines.
#[repr(align(128))]
struct Padded<T>(T);

/// `threads2`: each thread nests its own pair; returns per-thread ns/op
/// (the mean of the two threads) per sample.
fn threads2<M: BenchMutex>() -> Vec<f64> {
    two_threads(|| {
        // Allocated by the thread that uses them.
        let a = Box::new(Padded(M::distinct()));
        let b = Box::new(Padded(M::distinct()));
        move || nested2(&a.0, &b.0)
    })
}

/// Two threads, each timing the op `make_op` builds for it, in step (one
/// batch size, batches started together); per-thread ns/op (the mean of the
/// two threads) per sample.
fn two_threads<O: FnMut()>(make_op: impl Fn() -> O + Sync) -> Vec<f64> {
    let barrier = Barrier::new(2);
    let iters = AtomicU64::new(u64::MAX);
    let per_thread: Vec<Vec<f64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut op = make_op();
                    iters.fetch_min(calibrate(&mut op), Relaxed);
                    barrier.wait();
                    let n = iters.load(Relaxed);
                    let mut out = Vec::with_capacity(THREAD_SAMPLES);
                    for i in 0..THREAD_WARM + THREAD_SAMPLES {
                        barrier.wait();
                        let ns = time_batch(&mut op, n);
                        if i >= THREAD_WARM {
                            out.push(ns);
                        }
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    (0..THREAD_SAMPLES)
        .map(|i| (per_thread[0][i] + per_thread[1][i]) / 2.0)
        .collect()
}

/// The one-shot scenarios: the first acquisition of a new edge, with the
/// chain's `GRAPH_N` edges in the graph. `worst` picks `fresh -> chain[0]`
/// (the search from `chain[0]` reaches every class of the chain), otherwise
/// `chain[mid] -> fresh` (nothing is reachable from the fresh lock).
fn newedge<M: BenchMutex>(worst: bool) -> (Vec<f64>, f64) {
    let chain = build_chain::<M>();
    let timer = timer_overhead();
    // Created outside the timed region, and kept alive to the end so that
    // no graph shrinks between samples.
    let fresh: Vec<M> = (0..ONE_SHOT_WARM + ONE_SHOT_SAMPLES)
        .map(|_| M::distinct())
        .collect();
    let mid = &chain[GRAPH_N / 2];
    let mut out = Vec::with_capacity(ONE_SHOT_SAMPLES);
    for (i, x) in fresh.iter().enumerate() {
        let (first, second) = if worst { (x, &chain[0]) } else { (mid, x) };
        let t = Instant::now();
        nested2(first, second);
        let ns = t.elapsed().as_nanos() as f64;
        if i >= ONE_SHOT_WARM {
            out.push(ns - timer);
        }
    }
    (out, timer)
}

/// The one-shot report scenarios: the acquisition that closes a fresh
/// two-lock cycle, so raises a report, silent or to a callback that counts
/// it (nobody reads it: it is not symbolized). For the implementations that
/// have no reports (or, as tracing-mutex, panic on a cycle), the first
/// acquisition of a fresh pair in one order: the new edge alone.
fn report_cost<M: BenchMutex>(callback: bool) -> Vec<f64> {
    let reports = M::stats().is_some();
    if reports {
        static SEEN: AtomicUsize = AtomicUsize::new(0);
        lockdep::set_action(if callback {
            lockdep::Action::callback(|r| {
                black_box(r);
                SEEN.fetch_add(1, Relaxed);
            })
        } else {
            lockdep::Action::Silent
        });
    }
    let timer = timer_overhead();
    let pairs: Vec<(M, M)> = (0..ONE_SHOT_WARM + ONE_SHOT_SAMPLES)
        .map(|_| (M::distinct(), M::distinct()))
        .collect();
    let mut out = Vec::with_capacity(ONE_SHOT_SAMPLES);
    for (i, (a, b)) in pairs.iter().enumerate() {
        if reports {
            nested2(a, b);
        }
        let t = Instant::now();
        if reports {
            nested2(b, a);
        } else {
            nested2(a, b);
        }
        let ns = t.elapsed().as_nanos() as f64;
        if i >= ONE_SHOT_WARM {
            out.push(ns - timer);
        }
    }
    if let Some(s) = M::stats() {
        assert_eq!(s.reports, pairs.len(), "one report per cycle");
    }
    out
}

/// The optional check: a thread's known-chain nested pair, with and without
/// another thread running `newedge_worst10000` searches over and over. The
/// same thread also times a plain `parking_lot` pair as a control: it shows
/// what the other thread's work costs through the hardware alone (shared
/// caches, memory bandwidth, the hypervisor), with no validator involved.
struct Concurrent {
    /// `M`'s pair: alone, then during searches.
    off: Vec<f64>,
    on: Vec<f64>,
    /// The `parking_lot` control pair: alone, then during searches.
    control_off: Vec<f64>,
    control_on: Vec<f64>,
    searches: usize,
    mean_search_ns: f64,
}

fn concurrent<M: BenchMutex>() -> Concurrent {
    let chain = build_chain::<M>();
    let active = AtomicBool::new(false);
    let stop = AtomicBool::new(false);
    let searches = AtomicUsize::new(0);
    let search_ns = AtomicU64::new(0);
    let mut r = Concurrent {
        off: Vec::new(),
        on: Vec::new(),
        control_off: Vec::new(),
        control_on: Vec::new(),
        searches: 0,
        mean_search_ns: 0.0,
    };
    let cap = Cap::new();
    std::thread::scope(|s| {
        // tracing-mutex's search recurses once per node: a default 2 MiB
        // thread stack overflows on the 10 000-node chain.
        let searcher = std::thread::Builder::new().stack_size(256 << 20);
        searcher
            .spawn_scoped(s, || {
                let mut fresh = Vec::new();
                while !stop.load(Relaxed) {
                    cap.watch();
                    // Past the deadline, let the stalled batch finish.
                    if !active.load(Relaxed) || cap.abort.load(Relaxed) {
                        std::thread::sleep(Duration::from_micros(200));
                        continue;
                    }
                    let x = Box::new(M::distinct());
                    let t = Instant::now();
                    nested2(&*x, &chain[0]);
                    search_ns.fetch_add(t.elapsed().as_nanos() as u64, Relaxed);
                    searches.fetch_add(1, Relaxed);
                    fresh.push(x);
                }
            })
            .expect("the searcher thread");
        let a = Box::new(Padded(M::distinct()));
        let b = Box::new(Padded(M::distinct()));
        let pa = Box::new(Padded(parking_lot::Mutex::new(0u64)));
        let pb = Box::new(Padded(parking_lot::Mutex::new(0u64)));
        let mut op = || nested2(&a.0, &b.0);
        let mut control = || nested2(&pa.0, &pb.0);
        let iters = calibrate(&mut op);
        let control_iters = calibrate(&mut control);
        let start = Instant::now();
        while start.elapsed() < WARM_UP {
            op();
            control();
        }
        for _ in 0..10 {
            for searching in [false, true] {
                active.store(searching, Relaxed);
                std::thread::sleep(Duration::from_millis(2));
                for _ in 0..2 {
                    let ns = cap.time_batch(&mut op, iters);
                    let control_ns = cap.time_batch(&mut control, control_iters);
                    if searching {
                        r.on.push(ns);
                        r.control_on.push(control_ns);
                    } else {
                        r.off.push(ns);
                        r.control_off.push(control_ns);
                    }
                }
            }
        }
        active.store(false, Relaxed);
        stop.store(true, Relaxed);
    });
    r.searches = searches.load(Relaxed);
    r.mean_search_ns = search_ns.load(Relaxed) as f64 / r.searches.max(1) as f64;
    r
}

// ---------------------------------------------------------------------------
// The child process: one (scenario, implementation), results on stdout.

fn print_samples(samples: &[f64]) {
    let s: Vec<String> = samples.iter().map(|x| format!("{x:.3}")).collect();
    println!("SAMPLES {}", s.join(" "));
}

fn print_stats<M: BenchMutex>(when: &str) {
    if let Some(s) = M::stats() {
        println!(
            "STATS {when} {} {} {} {} {} {} {} {} {}",
            s.classes,
            s.dependencies,
            s.chains,
            s.stack_traces,
            s.bytes_per_class,
            s.bytes_per_dependency,
            s.bytes_per_chain,
            s.reports,
            s.internal_errors
        );
    }
}

fn child<M: BenchMutex, R: BenchRwLock>(scenario: &str) {
    match scenario {
        "single" => {
            let a = M::distinct();
            print_samples(&batched(|| single(&a)));
        }
        "nested2" => {
            let (a, b) = (M::distinct(), M::distinct());
            print_samples(&batched(|| nested2(&a, &b)));
        }
        "nested4" => {
            let m: [M; 4] = std::array::from_fn(|_| M::distinct());
            print_samples(&batched(|| nested4(&m)));
        }
        "under4" => {
            let (parent, children) = (M::distinct(), M::family(3));
            print_samples(&batched(|| under4(&parent, &children)));
        }
        "threads2" => print_samples(&threads2::<M>()),
        "graph10000" => {
            let chain = build_chain::<M>();
            let (a, b) = (&chain[GRAPH_N / 2], &chain[GRAPH_N / 2 + 1]);
            print_samples(&batched(|| nested2(a, b)));
            print_stats::<M>("graph10000");
        }
        "newedge_leaf10000" | "newedge_worst10000" => {
            let worst = scenario == "newedge_worst10000";
            let (samples, timer) = newedge::<M>(worst);
            println!("TIMER {timer:.3}");
            print_samples(&samples);
            print_stats::<M>(scenario);
        }
        "rwread2" => {
            let (a, b) = (R::distinct(), R::distinct());
            print_samples(&batched(|| rwread2(&a, &b)));
        }
        "create_drop" => {
            print_samples(&batched(create_drop::<M>));
        }
        "create_lock_drop" => {
            print_samples(&batched(create_lock_drop::<M>));
        }
        "report_silent" | "report_callback" => {
            print_samples(&report_cost::<M>(scenario == "report_callback"));
        }
        "drop_vec64" => {
            let m: Vec<M> = (0..VEC_N).map(|_| M::distinct()).collect();
            let mut guards = Vec::with_capacity(VEC_N);
            print_samples(&batched(|| drop_vec64(&m, &mut guards)));
        }
        "subclass_alt" => {
            let (a, b) = (M::distinct(), M::distinct());
            let mut turn = 0;
            print_samples(&batched(|| {
                turn = (turn + 1) % ALT_SUBS.len();
                subclass_pair(&a, &b, ALT_SUBS[turn]);
            }));
        }
        "many_chains" => {
            let outer: Vec<M> = (0..MANY_N).map(|_| M::distinct()).collect();
            let inner: Vec<M> = (0..MANY_N).map(|_| M::distinct()).collect();
            // Every chain learned once, then gone through in turn.
            for a in &outer {
                for b in &inner {
                    nested2(a, b);
                }
            }
            let (mut i, mut j) = (0, 0);
            print_samples(&batched(|| {
                nested2(&outer[i], &inner[j]);
                j += 1;
                if j == MANY_N {
                    j = 0;
                    i = (i + 1) % MANY_N;
                }
            }));
            print_stats::<M>("many_chains");
        }
        "concurrent" => {
            let r = concurrent::<M>();
            println!("CONCURRENT {} {:.1}", r.searches, r.mean_search_ns);
            print_samples(&r.off);
            print_samples(&r.on);
            print_samples(&r.control_off);
            print_samples(&r.control_on);
        }
        other => panic!("unknown scenario {other}"),
    }
}

fn run_child(scenario: &str, imp: &str) {
    match imp {
        "parking_lot" => child::<parking_lot::Mutex<u64>, parking_lot::RwLock<AtomicU64>>(scenario),
        "std" => child::<std::sync::Mutex<u64>, std::sync::RwLock<AtomicU64>>(scenario),
        "tracing_mutex" => child::<TmMutex, TmRwLock>(scenario),
        "lockdep" => child::<lockdep::Mutex<u64>, lockdep::RwLock<AtomicU64>>(scenario),
        "lockdep_off" => child::<lockdep_off::Mutex<u64>, lockdep_off::RwLock<AtomicU64>>(scenario),
        other => panic!("unknown implementation {other}"),
    }
}

// ---------------------------------------------------------------------------
// The parent: runs the children, pools, prints.

/// What the children of one (scenario, implementation) reported.
#[derive(Default)]
struct Pooled {
    /// One list per `SAMPLES` line position (the concurrent check has two).
    samples: Vec<Vec<f64>>,
    timers: Vec<f64>,
    stats: Vec<Vec<String>>,
    concurrent: Vec<(usize, f64)>,
    failures: usize,
}

fn spawn_child(exe: &std::path::Path, scenario: &str, imp: &str, into: &mut Pooled) {
    let out = Command::new(exe)
        .args(["--child", scenario, imp])
        .stderr(std::process::Stdio::inherit())
        .output();
    let out = match out {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            eprintln!("child {scenario} {imp} failed: {}", o.status);
            into.failures += 1;
            return;
        }
        Err(e) => {
            eprintln!("child {scenario} {imp} could not start: {e}");
            into.failures += 1;
            return;
        }
    };
    let mut nth = 0;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut words = line.split_whitespace();
        let parse = |w: &str| w.parse::<f64>().unwrap_or(f64::NAN);
        match words.next() {
            Some("SAMPLES") => {
                if into.samples.len() <= nth {
                    into.samples.push(Vec::new());
                }
                into.samples[nth].extend(words.map(parse));
                nth += 1;
            }
            Some("TIMER") => into.timers.extend(words.map(parse)),
            Some("STATS") => into.stats.push(words.map(str::to_string).collect()),
            Some("CONCURRENT") => {
                let v: Vec<f64> = words.map(parse).collect();
                into.concurrent.push((v[0] as usize, v[1]));
            }
            _ => {}
        }
    }
}

/// CPU accounting, in clock ticks: (busy ticks of the whole machine, all
/// ticks of the whole machine, ticks used by this process and its waited-for
/// children). `None` off Linux.
fn cpu_ticks() -> Option<(u64, u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|w| w.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let total: u64 = v.iter().take(8).sum();
    let busy = total - v.get(3)? - v.get(4).copied().unwrap_or(0);
    let own = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name: utime stime cutime cstime are 14..=17.
    let after_comm = &own[own.rfind(')')? + 2..];
    let f: Vec<i64> = after_comm
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    // after_comm starts at field 3, the state, which is not a number: f[0]
    // is field 4, so fields 14..=17 are f[10..14].
    let mine = f.get(10..14)?.iter().map(|&t| t.max(0) as u64).sum();
    Some((busy, total, mine))
}

/// How many CPUs other processes kept busy, on average, between two
/// [`cpu_ticks`] readings.
fn foreign_load(from: (u64, u64, u64), to: (u64, u64, u64)) -> f64 {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let total = (to.1 - from.1).max(1) as f64;
    let foreign = (to.0 - from.0).saturating_sub(to.2 - from.2) as f64;
    cpus * foreign / total
}

fn print_load(when: &str, busy: f64) {
    let warn = if busy > 0.1 {
        " WARNING: other processes were using the CPUs; the figures (threads2 and \
         the concurrent check especially) are disturbed"
    } else {
        ""
    };
    println!("other processes' CPU load {when}: {busy:.2} CPUs{warn}");
}

fn machine() -> (String, String, String) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string());
    let nproc = std::thread::available_parallelism()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_string());
    let rustc = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string()))
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    (nproc, cpu, rustc)
}

fn fmt_ns(ns: f64) -> String {
    if ns.is_nan() {
        "n/a".to_string()
    } else if ns >= 1000.0 {
        format!("{ns:.0}")
    } else {
        format!("{ns:.2}")
    }
}

/// The `BENCH <scenario> <impl> <ns>` lines, then `title` and the table of
/// medians, each with its ratio to the first column (`med[scenario][impl]`).
fn print_medians(scenarios: &[&str], impls: &[&str], med: &[&[f64]], title: &str) {
    println!();
    for (si, scenario) in scenarios.iter().enumerate() {
        for (ii, imp) in impls.iter().enumerate() {
            println!("BENCH {scenario} {imp} {:.2}", med[si][ii]);
        }
    }
    println!();
    println!("{title}");
    println!();
    print!("| scenario |");
    for imp in impls {
        print!(" {imp} |");
    }
    println!();
    print!("|---|");
    for _ in impls {
        print!("---:|");
    }
    println!();
    for (si, scenario) in scenarios.iter().enumerate() {
        print!("| {scenario} |");
        let base = med[si][0];
        for (ii, &ns) in med[si].iter().enumerate() {
            if ii == 0 {
                print!(" {} |", fmt_ns(ns));
            } else {
                print!(" {} ({:.2}x) |", fmt_ns(ns), ns / base);
            }
        }
        println!();
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "MISS"
    }
}

fn parent() {
    let started = Instant::now();
    let exe = std::env::current_exe().expect("the benchmark's own path");
    let (nproc, cpu, rustc) = machine();
    let compiled_out = lockdep_compiled_out();
    println!("lockdep overhead benchmark");
    println!("machine: nproc={nproc}, cpu={cpu}, {rustc}");
    println!(
        "method: each (scenario, impl) in its own child process (fresh global state), \
         {ROUNDS} processes per figure, samples pooled, figure = median"
    );
    println!(
        "  batched: ~{}ms per sample, {} samples/process after {}ms warm-up; \
         one-shot: {} warm-up + {} timed samples/process, timer overhead subtracted",
        SAMPLE_TIME.as_millis(),
        SAMPLES,
        WARM_UP.as_millis(),
        ONE_SHOT_WARM,
        ONE_SHOT_SAMPLES
    );
    let ticks_before = cpu_ticks();
    if let Some(t0) = ticks_before {
        std::thread::sleep(Duration::from_millis(500));
        if let Some(t1) = cpu_ticks() {
            print_load("in the 0.5 s before the run", foreign_load(t0, t1));
        }
    }
    if compiled_out {
        println!(
            "NOTE: lockdep is compiled out in this build (--cfg lockdep_off): \
             the lockdep column measures the plain wrappers"
        );
    }

    let mut results: BTreeMap<(usize, usize), Pooled> = BTreeMap::new();
    for round in 0..ROUNDS {
        for (si, scenario) in SCENARIOS.iter().enumerate() {
            for k in 0..IMPLS.len() {
                // Rotate the order per round so no implementation always runs first.
                let ii = (k + round + si) % IMPLS.len();
                let pooled = results.entry((si, ii)).or_default();
                spawn_child(&exe, scenario, IMPLS[ii], pooled);
            }
        }
    }
    let async_med = async_parent(&exe);
    let mut concurrent: Vec<(&str, Pooled)> = Vec::new();
    for imp in ["lockdep", "tracing_mutex"] {
        let mut p = Pooled::default();
        spawn_child(&exe, "concurrent", imp, &mut p);
        concurrent.push((imp, p));
    }

    // Medians and spreads.
    let mut med = [[f64::NAN; IMPLS.len()]; SCENARIOS.len()];
    let mut spread = [[(f64::NAN, f64::NAN); IMPLS.len()]; SCENARIOS.len()];
    for (&(si, ii), p) in &mut results {
        if let Some(v) = p.samples.first_mut() {
            med[si][ii] = median(v);
            spread[si][ii] = (percentile(v, 0.1), percentile(v, 0.9));
        }
    }

    let rows: Vec<&[f64]> = med.iter().map(|r| &r[..]).collect();
    print_medians(
        &SCENARIOS,
        &IMPLS,
        &rows,
        "median ns per iteration (ratio to parking_lot, same run); threads2 is per thread",
    );
    println!();
    println!("spread: p10..p90 of the pooled samples (ns)");
    println!();
    print!("| scenario |");
    for imp in IMPLS {
        print!(" {imp} |");
    }
    println!();
    print!("|---|");
    for _ in IMPLS {
        print!("---:|");
    }
    println!();
    for (si, scenario) in SCENARIOS.iter().enumerate() {
        print!("| {scenario} |");
        for (lo, hi) in spread[si] {
            print!(" {}..{} |", fmt_ns(lo), fmt_ns(hi));
        }
        println!();
    }
    let timers: Vec<f64> = results.values().flat_map(|p| p.timers.clone()).collect();
    if !timers.is_empty() {
        let (lo, hi) = timers
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &t| (lo.min(t), hi.max(t)));
        println!();
        println!(
            "timer overhead subtracted from one-shot samples: {lo:.1}..{hi:.1} ns (median per process)"
        );
    }
    let sizes = [
        std::mem::size_of::<parking_lot::Mutex<u64>>(),
        std::mem::size_of::<std::sync::Mutex<u64>>(),
        std::mem::size_of::<TmMutex>(),
        std::mem::size_of::<lockdep::Mutex<u64>>(),
        std::mem::size_of::<lockdep_off::Mutex<u64>>(),
    ];
    print!("size_of Mutex<u64> (bytes):");
    for (imp, size) in IMPLS.iter().zip(sizes) {
        print!(" {imp}={size}");
    }
    println!();

    let raw_targets = raw_locks::run(&exe);

    // Target checks.
    let at = |scenario: &str, imp: &str| {
        let si = SCENARIOS.iter().position(|s| *s == scenario).unwrap();
        let ii = IMPLS.iter().position(|i| *i == imp).unwrap();
        med[si][ii]
    };
    let ratio = |scenario: &str, imp: &str, base: &str| at(scenario, imp) / at(scenario, base);
    let mut pass = 0;
    let mut total = 0;
    let mut check = |what: String, value: f64, limit: f64, unit: &str| {
        let ok = value <= limit;
        total += 1;
        pass += usize::from(ok);
        println!(
            "TARGET {what}: {value:.2}{unit} <= {limit:.2}{unit} {}",
            verdict(ok)
        );
    };
    println!();
    if compiled_out {
        println!("(lockdep is compiled out: the lockdep targets below measure the plain wrappers)");
    }
    // Ratios of one implementation to another in one scenario, printed
    // `scenario imp/base`, then what the scenario is where that helps.
    let ratio_targets = |targets: &[(&str, &str, &str, f64, String)]| {
        targets
            .iter()
            .map(|(scenario, imp, base, limit, note)| {
                (
                    format!("{scenario} {imp}/{base}{note}"),
                    ratio(scenario, imp, base),
                    *limit,
                )
            })
            .collect::<Vec<_>>()
    };
    let plain = String::new;
    for (what, value, limit) in ratio_targets(&[
        ("single", "lockdep", "parking_lot", 1.3, plain()),
        ("nested2", "lockdep", "parking_lot", 1.5, plain()),
        ("nested2", "lockdep", "tracing_mutex", 0.6, plain()),
        ("nested4", "lockdep", "parking_lot", 1.5, plain()),
        ("under4", "lockdep", "parking_lot", 1.5, plain()),
        ("graph10000", "lockdep", "parking_lot", 1.5, plain()),
    ]) {
        check(what, value, limit, "x");
    }
    check(
        "graph10000 flat: lockdep graph10000/nested2".into(),
        at("graph10000", "lockdep") / at("nested2", "lockdep"),
        1.1,
        "x",
    );
    check(
        "threads2 lockdep per-thread / lockdep nested2".into(),
        at("threads2", "lockdep") / at("nested2", "lockdep"),
        1.1,
        "x",
    );
    let worst = at("newedge_worst10000", "lockdep");
    check(
        "newedge_worst10000 lockdep".into(),
        worst / 1000.0,
        200.0,
        " us",
    );
    check(
        format!("newedge_worst10000 lockdep per class visited ({GRAPH_N} classes)"),
        worst / GRAPH_N as f64,
        20.0,
        " ns",
    );
    for scenario in ["report_silent", "report_callback"] {
        check(
            format!("{scenario} lockdep (a report nobody reads)"),
            at(scenario, "lockdep") / 1000.0,
            50.0,
            " us",
        );
    }
    for (what, value, limit) in ratio_targets(&[
        (
            "drop_vec64",
            "lockdep",
            "parking_lot",
            2.0,
            format!(" ({VEC_N} locks, dropped first to last)"),
        ),
        (
            "subclass_alt",
            "lockdep",
            "parking_lot",
            1.5,
            " (nested pair, subclasses 1, 2, 300 in turn)".into(),
        ),
        (
            "many_chains",
            "lockdep",
            "parking_lot",
            1.5,
            format!(" (nested pairs, {} chains in turn)", MANY_N * MANY_N),
        ),
        ("single", "lockdep_off", "parking_lot", 1.05, plain()),
        ("nested2", "lockdep_off", "parking_lot", 1.05, plain()),
    ]) {
        check(what, value, limit, "x");
    }
    for (what, value, limit) in raw_targets {
        check(what, value, limit, "x");
    }
    let aat = |scenario: &str, imp: &str| {
        let si = ASYNC_SCENARIOS.iter().position(|s| *s == scenario).unwrap();
        let ii = ASYNC_IMPLS.iter().position(|i| *i == imp).unwrap();
        async_med[si][ii]
    };
    for (scenario, limit, note) in [
        ("async_single", 1.2, " (uncontended lock().await in a task)"),
        ("async_nested2", 1.3, " (a nested pair in one task)"),
    ] {
        check(
            format!("{scenario} lockdep/tokio{note}"),
            aat(scenario, "lockdep") / aat(scenario, "tokio"),
            limit,
            "x",
        );
    }

    // Memory.
    println!();
    let mut any_stats = false;
    for scenario in ["graph10000", "newedge_worst10000", "many_chains"] {
        let si = SCENARIOS.iter().position(|s| *s == scenario).unwrap();
        let lockdep_index = IMPLS.iter().position(|i| *i == "lockdep").unwrap();
        let Some(p) = results.get(&(si, lockdep_index)) else {
            continue;
        };
        let Some(s) = p.stats.last() else { continue };
        let v: Vec<usize> = s[1..].iter().map(|w| w.parse().unwrap_or(0)).collect();
        if v[0] == 0 {
            continue;
        }
        any_stats = true;
        println!(
            "MEMORY lockdep::stats() after {scenario}: classes={} dependencies={} chains={} \
             stack_traces={} bytes_per_class={} bytes_per_dependency={} bytes_per_chain={} \
             reports={} internal_errors={}",
            v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]
        );
        if scenario == "graph10000" {
            for (name, value) in [
                ("bytes_per_class", v[4]),
                ("bytes_per_dependency", v[5]),
                ("bytes_per_chain", v[6]),
            ] {
                check(format!("memory {name}"), value as f64, 256.0, " B");
            }
        }
    }
    if !any_stats {
        println!("MEMORY lockdep is compiled out: lockdep::stats() shows nothing");
    }

    // The optional check: searches on one thread, fast path on another.
    println!();
    println!(
        "concurrent check: one thread times a known-chain nested2 (and a plain parking_lot \
         pair as a hardware control) while another thread is idle, then while it runs \
         newedge_worst10000 searches back to back (alternating, 20 samples each; \
         medians; a sample stops after 100 ms)"
    );
    let mut lockdep_normalized = None;
    for (imp, p) in &mut concurrent {
        if p.samples.len() < 4 {
            println!("CONCURRENT {imp}: failed");
            continue;
        }
        let worst_on = p.samples[1].iter().copied().fold(0.0, f64::max);
        let [off, on, control_off, control_on]: [f64; 4] =
            std::array::from_fn(|i| median(&mut p.samples[i]));
        let (n, mean) = p.concurrent.first().copied().unwrap_or((0, f64::NAN));
        let normalized = (on / off) / (control_on / control_off);
        println!(
            "CONCURRENT {imp}: nested2 {off:.2} ns/op alone, {on:.2} ns/op during {n} searches \
             (mean {:.1} us each): {:.2}x, worst sample {worst_on:.2} ns/op; control \
             parking_lot pair {control_off:.2} -> {control_on:.2} ns/op ({:.2}x); slowdown \
             beyond the control {normalized:.2}x",
            mean / 1000.0,
            on / off,
            control_on / control_off,
        );
        if *imp == "lockdep" {
            lockdep_normalized = Some(normalized);
        }
    }
    if let Some(normalized) = lockdep_normalized {
        check(
            "concurrent: lockdep nested2 slowdown during searches, beyond the control".into(),
            normalized,
            1.1,
            "x",
        );
    }

    println!();
    if let (Some(t0), Some(t1)) = (ticks_before, cpu_ticks()) {
        print_load(
            "during the run (machine busy time minus this run's)",
            foreign_load(t0, t1),
        );
    }
    let failures: usize = results.values().map(|p| p.failures).sum::<usize>()
        + concurrent.iter().map(|(_, p)| p.failures).sum::<usize>();
    println!();
    println!(
        "{pass}/{total} targets met; {failures} child failures; total time {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

// ---------------------------------------------------------------------------
// Async scenarios: tokio::sync alone against lockdep::tokio.

/// Async implementations, in column order. The first is the baseline.
const ASYNC_IMPLS: [&str; 3] = ["tokio", "lockdep", "lockdep_off"];

/// Async scenarios, in row order.
const ASYNC_SCENARIOS: [&str; 3] = ["async_single", "async_nested2", "async_poll"];

/// An async mutex guarding a `u64`.
trait BenchAsync: Send + Sync + Sized + 'static {
    type Guard<'a>: DerefMut<Target = u64>
    where
        Self: 'a;
    fn distinct() -> Self;
    fn lock(&self) -> impl std::future::Future<Output = Self::Guard<'_>>;
    /// A future in a task of this implementation, with its output.
    fn wrap_out<T, F: std::future::Future<Output = T>>(
        f: F,
    ) -> impl std::future::Future<Output = T>;
    /// A future in a task of this implementation, for `async_poll`.
    fn wrap<F: std::future::Future<Output = ()>>(f: F) -> impl std::future::Future<Output = ()>;
}

impl BenchAsync for tokio::sync::Mutex<u64> {
    type Guard<'a> = tokio::sync::MutexGuard<'a, u64>;
    fn distinct() -> Self {
        tokio::sync::Mutex::new(0)
    }
    fn lock(&self) -> impl std::future::Future<Output = Self::Guard<'_>> {
        tokio::sync::Mutex::lock(self)
    }
    fn wrap_out<T, F: std::future::Future<Output = T>>(
        f: F,
    ) -> impl std::future::Future<Output = T> {
        f
    }
    fn wrap<F: std::future::Future<Output = ()>>(f: F) -> impl std::future::Future<Output = ()> {
        f
    }
}

macro_rules! lockdep_async_impls {
    ($krate:ident) => {
        impl BenchAsync for $krate::tokio::Mutex<u64> {
            type Guard<'a> = $krate::tokio::MutexGuard<'a, u64>;
            fn distinct() -> Self {
                // One class per lock: every lock is built at this line, so
                // give each a name of its own.
                $krate::tokio::Mutex::named(
                    Box::leak(
                        format!("bench{}", NEXT_ASYNC.fetch_add(1, Relaxed)).into_boxed_str(),
                    ),
                    0,
                )
            }
            fn lock(&self) -> impl std::future::Future<Output = Self::Guard<'_>> {
                $krate::tokio::Mutex::lock(self)
            }
            fn wrap_out<T, F: std::future::Future<Output = T>>(
                f: F,
            ) -> impl std::future::Future<Output = T> {
                $krate::tokio::task(f)
            }
            fn wrap<F: std::future::Future<Output = ()>>(
                f: F,
            ) -> impl std::future::Future<Output = ()> {
                $krate::tokio::task(f)
            }
        }
    };
}

static NEXT_ASYNC: AtomicUsize = AtomicUsize::new(0);

lockdep_async_impls!(lockdep);
lockdep_async_impls!(lockdep_off);

/// Polls `f` once with a no-op waker.
#[inline(always)]
fn poll_once<F: std::future::Future>(f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

#[inline(never)]
async fn async_single<A: BenchAsync>(a: &A) {
    let mut g = black_box(a).lock().await;
    *g += 1;
}

#[inline(never)]
async fn async_nested2<A: BenchAsync>(a: &A, b: &A) {
    let mut ga = black_box(a).lock().await;
    let mut gb = black_box(b).lock().await;
    *ga += 1;
    *gb += 1;
    drop(gb);
    drop(ga);
}

/// [`batched`] for an async iteration, awaited in a loop inside one task:
/// the whole run is one poll, since every lock is free.
async fn async_batched<F, Fut>(mut op: F) -> Vec<f64>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut iters = 16u64;
    loop {
        let t = Instant::now();
        for _ in 0..iters {
            op().await;
        }
        let e = t.elapsed();
        if e >= SAMPLE_TIME / 8 {
            iters = ((iters as f64 * SAMPLE_TIME.as_secs_f64() / e.as_secs_f64()) as u64).max(1);
            break;
        }
        iters *= 2;
    }
    let start = Instant::now();
    while start.elapsed() < WARM_UP {
        for _ in 0..iters / 10 + 1 {
            op().await;
        }
    }
    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let t = Instant::now();
        for _ in 0..iters {
            op().await;
        }
        samples.push(t.elapsed().as_nanos() as f64 / iters as f64);
    }
    samples
}

/// A future that never ends and yields at every poll.
struct Forever(u64);

impl std::future::Future for Forever {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        self.0 = black_box(self.0 + 1);
        std::task::Poll::Pending
    }
}

fn async_child<A: BenchAsync>(scenario: &str) {
    match scenario {
        "async_single" => {
            let a = A::distinct();
            let samples = poll_once(A::wrap_out(async_batched(|| async_single(&a))));
            print_samples(&samples.expect("every lock is free"));
        }
        "async_nested2" => {
            let (a, b) = (A::distinct(), A::distinct());
            let samples = poll_once(A::wrap_out(async_batched(|| async_nested2(&a, &b))));
            print_samples(&samples.expect("every lock is free"));
        }
        "async_poll" => {
            let mut task = std::pin::pin!(A::wrap(Forever(0)));
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            print_samples(&batched(|| {
                assert!(std::future::Future::poll(black_box(task.as_mut()), &mut cx).is_pending());
            }));
        }
        other => panic!("unknown async scenario {other}"),
    }
}

fn run_async_child(scenario: &str, imp: &str) {
    match imp {
        "tokio" => async_child::<tokio::sync::Mutex<u64>>(scenario),
        "lockdep" => async_child::<lockdep::tokio::Mutex<u64>>(scenario),
        "lockdep_off" => async_child::<lockdep_off::tokio::Mutex<u64>>(scenario),
        other => panic!("unknown async implementation {other}"),
    }
}

/// Runs the async scenarios, prints their table, and returns the figures:
/// `[scenario][impl]` medians.
fn async_parent(exe: &std::path::Path) -> [[f64; ASYNC_IMPLS.len()]; ASYNC_SCENARIOS.len()] {
    let mut med = [[f64::NAN; ASYNC_IMPLS.len()]; ASYNC_SCENARIOS.len()];
    let mut pooled: BTreeMap<(usize, usize), Pooled> = BTreeMap::new();
    for round in 0..ROUNDS {
        for (si, scenario) in ASYNC_SCENARIOS.iter().enumerate() {
            for k in 0..ASYNC_IMPLS.len() {
                let ii = (k + round + si) % ASYNC_IMPLS.len();
                let into = pooled.entry((si, ii)).or_default();
                spawn_child(exe, scenario, ASYNC_IMPLS[ii], into);
            }
        }
    }
    for (&(si, ii), p) in &mut pooled {
        if let Some(v) = p.samples.first_mut() {
            med[si][ii] = median(v);
        }
    }
    let rows: Vec<&[f64]> = med.iter().map(|r| &r[..]).collect();
    print_medians(
        &ASYNC_SCENARIOS,
        &ASYNC_IMPLS,
        &rows,
        "async: median ns per iteration (ratio to tokio::sync alone, same run)",
    );
    let failures: usize = pooled.values().map(|p| p.failures).sum();
    if failures > 0 {
        println!("async: {failures} child failures");
    }
    med
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        if args[i + 1].starts_with("async_") {
            return run_async_child(&args[i + 1], &args[i + 2]);
        }
        if raw_locks::is_scenario(&args[i + 1]) {
            raw_locks::child(&args[i + 1], &args[i + 2]);
        } else {
            run_child(&args[i + 1], &args[i + 2]);
        }
    } else {
        parent();
    }
}

// ---------------------------------------------------------------------------
// lockdep's own raw locks (`lockdep::raw`, on parking_lot_core) against
// parking_lot's, both through `lock_api::Mutex` / `RwLock`: the inner lock
// of every validating lock must cost what parking_lot's does.

mod raw_locks {
    use super::*;
    use lock_api::{RawMutex, RawRwLock};

    /// Rows: uncontended lock/unlock pairs, then two threads on one lock,
    /// each doing a little work of its own between acquisitions.
    const SCENARIOS: [&str; 5] = [
        "raw_mutex",
        "raw_rwlock_write",
        "raw_rwlock_read",
        "raw_mutex_threads2",
        "raw_rwlock_threads2",
    ];
    const IMPLS: [&str; 2] = ["parking_lot", "lockdep_raw"];
    /// The uncontended rows' target: lockdep_raw / parking_lot.
    const UNCONTENDED_LIMIT: f64 = 1.1;

    pub(super) fn is_scenario(scenario: &str) -> bool {
        SCENARIOS.contains(&scenario)
    }

    #[inline(never)]
    fn lock<M: RawMutex>(m: &lock_api::Mutex<M, u64>) {
        *black_box(m).lock() += 1;
    }

    #[inline(never)]
    fn write<R: RawRwLock>(l: &lock_api::RwLock<R, u64>) {
        *black_box(l).write() += 1;
    }

    #[inline(never)]
    fn read<R: RawRwLock>(l: &lock_api::RwLock<R, u64>) {
        black_box(*black_box(l).read());
    }

    /// Work outside the lock between two acquisitions: light contention.
    #[inline(never)]
    fn outside() {
        for i in 0..16u64 {
            black_box(i);
        }
    }

    fn measure<M: RawMutex + Sync, R: RawRwLock + Sync>(scenario: &str) {
        let m = lock_api::Mutex::<M, u64>::new(0);
        let l = lock_api::RwLock::<R, u64>::new(0);
        let samples = match scenario {
            "raw_mutex" => batched(|| lock(&m)),
            "raw_rwlock_write" => batched(|| write(&l)),
            "raw_rwlock_read" => batched(|| read(&l)),
            // Two threads on one lock.
            "raw_mutex_threads2" => two_threads(|| {
                || {
                    lock(&m);
                    outside();
                }
            }),
            "raw_rwlock_threads2" => two_threads(|| {
                || {
                    write(&l);
                    outside();
                    read(&l);
                    outside();
                }
            }),
            other => panic!("unknown scenario {other}"),
        };
        print_samples(&samples);
    }

    pub(super) fn child(scenario: &str, imp: &str) {
        match imp {
            "parking_lot" => measure::<parking_lot::RawMutex, parking_lot::RawRwLock>(scenario),
            "lockdep_raw" => measure::<lockdep::raw::RawMutex, lockdep::raw::RawRwLock>(scenario),
            other => panic!("unknown implementation {other}"),
        }
    }

    /// Runs the children, prints the rows; returns the targets
    /// `(what, ratio, limit)`.
    pub(super) fn run(exe: &std::path::Path) -> Vec<(String, f64, f64)> {
        let mut results: BTreeMap<(usize, usize), Pooled> = BTreeMap::new();
        for round in 0..ROUNDS {
            for (si, scenario) in SCENARIOS.iter().enumerate() {
                for k in 0..IMPLS.len() {
                    let ii = (k + round + si) % IMPLS.len();
                    spawn_child(
                        exe,
                        scenario,
                        IMPLS[ii],
                        results.entry((si, ii)).or_default(),
                    );
                }
            }
        }
        let mut med = [[f64::NAN; IMPLS.len()]; SCENARIOS.len()];
        for (&(si, ii), p) in &mut results {
            if let Some(v) = p.samples.first_mut() {
                med[si][ii] = median(v);
            }
        }
        println!();
        for (si, scenario) in SCENARIOS.iter().enumerate() {
            for (ii, imp) in IMPLS.iter().enumerate() {
                println!("BENCH {scenario} {imp} {:.2}", med[si][ii]);
            }
        }
        println!();
        println!(
            "raw locks through lock_api: median ns per op (ratio to parking_lot, same run); \
             threads2 rows: two threads on one lock, per thread"
        );
        println!();
        println!("| scenario | parking_lot | lockdep_raw |");
        println!("|---|---:|---:|");
        for (si, scenario) in SCENARIOS.iter().enumerate() {
            let [base, ours] = med[si];
            println!(
                "| {scenario} | {} | {} ({:.2}x) |",
                fmt_ns(base),
                fmt_ns(ours),
                ours / base
            );
        }
        SCENARIOS
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.ends_with("threads2"))
            .map(|(si, scenario)| {
                (
                    format!("{scenario} lockdep_raw/parking_lot (uncontended)"),
                    med[si][1] / med[si][0],
                    UNCONTENDED_LIMIT,
                )
            })
            .collect()
    }
}
