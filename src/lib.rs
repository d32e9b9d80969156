//! # lockdep: the Linux kernel's lock-dependency validator, for Rust
//!
//! Rust's types rule out data races, not deadlocks. Two threads that take the
//! same two locks in opposite orders will, one day, hang. `lockdep` finds such
//! orders the *first time each half runs*, even if the two halves never
//! overlap: it learns the order in which lock **classes** are taken, and the
//! moment a new order would close a cycle it prints who holds what, the chain
//! of dependencies that proves the cycle, and the two-thread scenario that
//! would hang. The hang never has to happen.
//!
//! It also sees waits that are not locks: joining threads ([`thread`]),
//! one-time initialization ([`OnceLock`], [`LazyLock`], [`Once`]), draining
//! references ([`Active`]), flushing work ([`WorkQueue`], [`Work`]), condition
//! variables whose notifiers you declare ([`Condvar`]), and anything else you
//! annotate with a pseudo-lock ([`LockMap`]).
//!
//! ## Quick start
//!
//! Replace your mutex with [`Mutex`] (parking_lot underneath, same API shape):
//!
//! ```
//! use lockdep::Mutex;
//!
//! static ACCOUNTS: Mutex<u32> = Mutex::named("accounts", 0);
//! static AUDIT: Mutex<u32> = Mutex::named("audit", 0);
//!
//! lockdep::set_action(lockdep::Action::Silent);
//! {
//!     let _a = ACCOUNTS.lock();
//!     let _b = AUDIT.lock(); // learns: accounts -> audit
//! }
//! {
//!     let _b = AUDIT.lock();
//!     let _a = ACCOUNTS.lock(); // audit -> accounts closes a cycle: reported
//! }
//! let report = lockdep::reports().pop().expect("a report");
//! assert_eq!(report.title(), "possible circular locking dependency detected");
//! ```
//!
//! Nothing deadlocked: both blocks ran on one thread. The report says that two
//! threads running them at once could.
//!
//! ## Migrating
//!
//! An existing program switches by changing its `use` lines; the code below
//! them stays as it is:
//!
//! - `use std::sync::{..}` becomes `use lockdep::sync::{..}` ([`sync`]):
//!   `Mutex`, `RwLock`, `Condvar`, `Once`, `OnceLock`, `LazyLock` with std's
//!   signatures and poisoning, plus std's `Arc`, `Barrier`, `mpsc`, ...
//! - `use parking_lot::{..}` becomes `use lockdep::parking_lot::{..}`
//!   ([`mod@parking_lot`]): `parking_lot` 0.12's whole surface, as
//!   `lock_api`'s own types over validated raw locks (`Mutex<T>` is
//!   `lock_api::Mutex<RawMutex, T>`), so code generic over `lock_api`
//!   compiles unchanged; with the `arc_lock` feature (as with
//!   `parking_lot`'s), the guards that own an `Arc` of their lock
//!   (`lock_arc`, `ArcMutexGuard`, ...), and with `send_guard`, guards that
//!   are `Send`.
//! - `std::thread::{spawn, scope}` become [`thread::spawn`] and
//!   [`thread::scope`], so that joins are validated too.
//! - With the `tokio` feature, `use tokio::sync::{..}` becomes
//!   `use lockdep::tokio::{..}` (`Mutex`, `RwLock`, `Semaphore`,
//!   `OnceCell`, `Notify`), and `tokio::spawn` / `spawn_local` become
//!   `lockdep::tokio::spawn` / `spawn_local`, so that each task has a
//!   held-lock stack of its own (see Async below).
//!
//! Every primitive is validated with the read/write semantics it really has:
//! a `std` read lock is a plain shared acquisition (a waiting writer blocks
//! it), `parking_lot`'s `read_recursive` a recursive one, a re-entrant mutex
//! is acquired once per owning thread. The table of what each operation
//! is validated as is in [`lock`]: every lock is `lock_api`'s over a
//! tracked raw lock ([`lock::Tracked`]), and [`Mutex`], [`RwLock`] and
//! [`ReentrantMutex`] are thin newtypes over those, whose guards are
//! `lock_api`'s.
//!
//! ## Classes and nesting
//!
//! Validation is per **class**, not per lock: what the validator learns
//! about one lock holds for every lock of its class. A lock's class is
//! chosen, in this order:
//!
//! 1. a key: [`Mutex::with_key`] with a static [`ClassKey`] (or the
//!    [`class!`] macro), or [`Mutex::with_dynamic_key`] with a
//!    [`DynamicKey`] made at run time (dropping the key unregisters the
//!    class and its dependencies). A key is a *role*, wherever its locks
//!    are built. Different keys may share a name; they print as `name`,
//!    `name#2`, ...
//! 2. a name: [`Mutex::named`]. The class is the construction site *and*
//!    the name, so one helper called with two names builds two classes.
//! 3. by default, the construction site (through `#[track_caller]`) *and*
//!    the type the lock protects. Every mutex made by one line of code for
//!    one type is one class, so one `struct Inode { lock: Mutex<..> }`
//!    teaches the validator about all inodes at once; and the locks one
//!    line builds for several types are told apart: the fields of a
//!    `#[derive(Default)]` struct, the locks a macro builds, a crate's own
//!    `fn new_mutex<T>(t: T) -> Mutex<T>`, `(0..n).map(Mutex::new)` and
//!    `or_default()`. An unnamed class prints as its site, then its crate
//!    and module and the type: `src/cache.rs:12:20 (app::cache, Vec<u8>)`.
//!
//! A lock built through `lock_api`'s `const fn new` (every
//! [`parking_lot::Mutex::new`](mod@parking_lot), and every lock of a crate
//! compiled against a `parking_lot` that is this crate's) has no
//! construction site: `lock_api` builds it from one constant. Its class is
//! the site of its **first acquisition** (`lock_api`'s locking methods are
//! `#[track_caller]`), printed `(first locked)src/pool.rs:40:9 (app::pool)`:
//! `self.state.lock()` in a method names the role of `state`. A first
//! acquisition inside `lock_api` itself (a re-entrant mutex's, whose raw
//! calls are not `#[track_caller]`, or `Debug`'s) says nothing: such a lock
//! gets a class of its own, `(lock instance)#N`, unregistered when it is
//! dropped. The trade-off: when every lock of a crate is first taken at one
//! line (a helper, `fn with<T>(m: &Mutex<T>, f)`), they are one class, and
//! the program cannot annotate them. So two *different* locks of a class
//! inferred this way, held together, are not recursive locking: no report,
//! and no dependency between them (a cycle between two such locks of one
//! inferred class is not seen). Their dependencies on every other class
//! are learned, and the very lock taken again is still reported (so a chain
//! that holds two locks of such a class is checked every time it is
//! taken, never cached: the very lock taken twice has the same classes). A
//! `const_mutex(..)` or `lockdep::Mutex::new` has its construction site,
//! and none of this applies.
//!
//! Threads spawned through [`thread`] have classes too: a
//! [`thread::Builder::key`], else the spawn site and the
//! [`thread::Builder::name`] (`(thread)io-worker`), else the spawn site and
//! the closure's type. A thread spawned by a spawned thread is one subclass
//! deeper, so a recursive fork-join is not mistaken for recursion.
//!
//! Where the program does not carry enough to tell two locks apart, they are
//! one class, and nesting them is reported as recursive locking. The report
//! says why and names the one-line fix:
//!
//! - two lock fields of one type in one `#[derive(Default)]` struct, or a
//!   helper without `#[track_caller]` that builds locks of one type for
//!   several roles: give each role a class where it is built (`named`,
//!   `with_key`), or put `#[track_caller]` on the helper, so that each of
//!   its call sites is a class;
//! - two collections of one type built by a standard-library adapter
//!   (`map(Mutex::new)`, `repeat_with(Mutex::default)`, `or_default()`,
//!   `Arc::default()`): the adapter's line, inside `core` or `std`, is the
//!   site of both. Build each at its own line with a closure,
//!   `.map(|v| Mutex::new(v))`, `or_insert_with(|| Mutex::new(..))`;
//! - a constructor called through a function pointer: call it from a
//!   closure.
//!
//! A recursion report never blinds the validator: the acquisition still
//! learns its dependencies on the other locks held, so a later cycle through
//! the class is still found.
//!
//! Two locks of one class held together look like a lock taken twice. When
//! that nesting is legitimate, say how:
//!
//! - [`Mutex::lock_nested`]: a **subclass** per level (parent 0, child 1,
//!   ...); subclass `n` prints as `name/n`.
//! - [`Mutex::lock_under`] (and [`RwLock::read_under`] /
//!   [`RwLock::write_under`]): a **nest lock**, as the kernel's
//!   `mutex_lock_nest_lock`. The nest lock covers the locks of the class
//!   taken after it: while the thread holds it, any number of them may be
//!   held, in any order, since it serializes everyone who takes them. The
//!   exact rule: walking the held locks from the oldest, if the nest lock
//!   comes before the first lock of the class, the acquisition is
//!   *covered*, and adds no dependency at all (not even from the lock held
//!   just below it); if no lock of the class is held, it is a plain
//!   acquisition with its dependencies (the first child depends on the
//!   nest lock); if the first lock of the class was taken before the nest
//!   lock, it is recursive locking. Not holding the nest lock is reported.
//! - `set_subclass` on a held lock: a **re-annotation**, as the kernel's
//!   `lock_set_subclass`. The held lock becomes subclass `n`, and it and
//!   every lock held above it are validated again, as new acquisitions.
//!   Hand-over-hand locking over one class (a linked list walked by lock
//!   coupling) needs it: lock the next node with `lock_nested(1)`, release
//!   the previous one, then `set_subclass(0)` on the next one (or set the
//!   held node to 1 before taking the next one plainly; see
//!   `examples/hand_over_hand.rs`).
//! - [`ClassKey::ordered`] / [`ClassKey::ordered_by`]: an **ordered class**.
//!   Its locks nest in increasing order of address, or of the key given to
//!   [`Mutex::lock_ordered`]; out of order is reported.
//!
//! ```
//! use lockdep::{ClassKey, Mutex};
//!
//! static ACCOUNT: ClassKey = ClassKey::ordered("account");
//!
//! struct Account { id: u64, balance: Mutex<i64> }
//!
//! fn transfer(from: &Account, to: &Account, amount: i64) {
//!     // Always lock the lower account number first.
//!     let (first, second) = if from.id < to.id { (from, to) } else { (to, from) };
//!     let mut a = first.balance.lock_ordered(first.id);
//!     let mut b = second.balance.lock_ordered(second.id);
//!     if first.id == from.id { *a -= amount; *b += amount } else { *b -= amount; *a += amount }
//! }
//!
//! let x = Account { id: 1, balance: Mutex::with_key(&ACCOUNT, 100) };
//! let y = Account { id: 2, balance: Mutex::with_key(&ACCOUNT, 0) };
//! transfer(&x, &y, 30);
//! transfer(&y, &x, 10);
//! assert_eq!((*x.balance.lock(), *y.balance.lock()), (80, 20));
//! ```
//!
//! ## Contracts
//!
//! Beyond lock order, the validator checks what code says about its locks,
//! each reported in the same layout:
//!
//! - [`Mutex::assert_held`] / [`Mutex::assert_not_held`];
//! - [`Mutex::might_lock`]: an order taken only on a rare path is checked
//!   on every run;
//! - [`Mutex::pin`]: a callee that drops and retakes a lock its caller relies
//!   on is reported;
//! - a thread that ends with locks held (a leaked guard), a lock dropped
//!   while held, releasing a pseudo-lock that is not held, a nest lock that
//!   is not held.
//!
//! ## How to read a report
//!
//! The layout is the kernel's, section by section:
//!
//! ```text
//! ======================================================
//! WARNING: possible circular locking dependency detected
//! lockdep 0.1.0 pid 4242 (slub_sysfs)
//! ------------------------------------------------------
//! rmmod/3 is trying to acquire lock:              <- the thread and the new lock
//!  (s_active#4){++.}, at: examples/slub_sysfs.rs:..
//!
//! but thread is already holding lock:             <- the held lock it depends on
//!  (slab_mutex){+..}, at: examples/slub_sysfs.rs:..
//!
//! the existing dependency chain (in reverse order) is:
//! -> #1 (slab_mutex){+..}:                        <- each link, with the stack that
//!        slub_sysfs::slab_attr_store at ...          first created the dependency
//! -> #0 (s_active#4){++.}:                        <- the new link: the current stack
//!        ...
//!  Possible unsafe locking scenario:              <- two threads that would hang
//!  *** DEADLOCK ***
//! 2 locks held by rmmod/3:                        <- everything the thread holds
//! stack backtrace:
//! ```
//!
//! `{+..}` is the class's usage: whether it has been taken exclusively,
//! shared, and recursive-shared (`+` yes, `.` no). `rlock(...)` in the
//! scenario marks a shared acquisition. Cycles of three or more classes add a
//! `Chain exists of:` line. Frames of the validator itself are trimmed.
//!
//! Reports are data first ([`Report`]); [`render::text`] turns one into the
//! text above. What happens on a report is set by [`set_action`] or the
//! `LOCKDEP_ACTION` environment variable (`panic`, `print`, `silent`); every
//! report is also kept, see [`reports`] (the newest 10 000 by default,
//! [`config::set_report_log_limit`]). Each distinct cycle is reported
//! once, and validation goes on after a report. A report's stacks are
//! symbolized only when it is read (printed, rendered, or its frames
//! looked at: [`report::Backtrace`]), on a helper thread, so a report
//! nobody reads is cheap and a thread with a small stack can raise one.
//!
//! ## In test suites
//!
//! - **Panic mode.** With `LOCKDEP_ACTION=panic` (or [`Action::Panic`]) a
//!   report fails the test that raised it, with the report in full as the
//!   failure's message, and the other tests go on: under `cargo test`, whose
//!   tests run on threads of their own, and under cargo-nextest, whose
//!   tests run in processes of their own, it is an ordinary panic.
//! - **Where it panics.** Only at a blocking acquisition, before its lock is
//!   taken: nothing is recorded, and the guards that unwinding drops unlock
//!   their locks. A report raised where a panic is not safe (a release or a
//!   lock dropped while held, both in destructors; an assertion; anything
//!   while the thread already panics) is printed at once, and panics at the
//!   thread's next blocking acquisition. A report at a thread's exit is
//!   printed only. So no raw lock stays locked, no held stack goes wrong,
//!   and no panic leaves a destructor (which, while unwinding, would abort
//!   the process). A report callback that panics gets the same treatment.
//! - **Visible reports.** `print` mode writes to the process's standard
//!   error itself: test harnesses capture `print!` and `eprint!`, and show
//!   their output only for failing tests, but not that.
//! - **Asserting.** [`assert_no_reports`] runs a block and panics with the
//!   reports it raised; [`watch`] returns a guard that does the same when
//!   dropped (say, at the end of a test), or hands them over
//!   ([`Watch::take`]). Both see the calling thread and the threads it
//!   spawns with [`thread`]; [`watch_all`] sees every thread.
//! - **Isolation.** [`reset`] makes the validator forget what it learned
//!   (dependencies, validated chains, the report log), also while other
//!   threads hold locks; see its docs for what it means for them.
//!
//! ```
//! use lockdep::Mutex;
//!
//! static A: Mutex<()> = Mutex::named("doc_watch_a", ());
//! static B: Mutex<()> = Mutex::named("doc_watch_b", ());
//! lockdep::set_action(lockdep::Action::Silent);
//!
//! lockdep::assert_no_reports(|| {
//!     let _a = A.lock();
//!     let _b = B.lock();
//! });
//!
//! let watch = lockdep::watch();
//! {
//!     let _b = B.lock();
//!     let _a = A.lock(); // closes A -> B -> A
//! }
//! let seen = watch.take();
//! assert_eq!(seen[0].title(), "possible circular locking dependency detected");
//! ```
//!
//! ## Reports as data, and cycles across test processes
//!
//! - **JSON.** `LOCKDEP_REPORT_FORMAT=json` prints each report as one line
//!   of JSON instead of the kernel's text; `LOCKDEP_REPORT_FILE=<path>`
//!   also appends each to a file, one line each, whatever the action. The
//!   documents are versioned ([`schema`], `docs/json-schema.md`);
//!   [`render::json`] and [`render::sarif`] (SARIF 2.1.0, a thread flow
//!   for each side of the deadlock, for code scanning) render a report in
//!   code, as [`render::text`] does.
//! - **Recording.** cargo-nextest runs each test in a process of its own,
//!   so a cycle whose halves are two tests is seen by neither.
//!   `LOCKDEP_RECORD=<dir>` makes every process append what it learns to a
//!   file of its own in `<dir>` ([`record`]): classes by an identity that
//!   is the same in every process (construction site and type, or name),
//!   dependencies with their types and first stacks, and the test
//!   (`NEXTEST_TEST_NAME`). `cargo lockdep merge <dir>` (the
//!   `cargo-lockdep` crate) joins the records and runs the validator's own
//!   cycle search over them ([`offline`]), printing each cycle in the
//!   kernel's layout with the test that learned each dependency; it exits
//!   1 if it found one.
//! - **Introspection.** [`dump()`] is what the validator knows, as the
//!   kernel's `/proc/lockdep`, `/proc/lockdep_chains` and
//!   `/proc/lockdep_stats` show it: classes with their usage and forward
//!   and backward dependency counts, dependencies, chains, and [`stats()`];
//!   [`render::dump`] renders it as text or JSON.
//!
//! ```sh
//! LOCKDEP_RECORD=target/lockdep cargo nextest run
//! cargo lockdep merge target/lockdep   # exit 1: a cycle across tests
//! ```
//!
//! ## Async (the `tokio` feature)
//!
//! `lockdep::tokio`'s locks are validated in the *task* that takes
//! them, not the OS thread: a task spawned with `lockdep::tokio::spawn` (or
//! any future wrapped in `lockdep::tokio::task`) keeps its own held-lock
//! stack, swapped in as the thread's for each poll, so a task that moves
//! between workers keeps its locks and two tasks on one worker never see
//! each other's. Stock tokio; multi-thread, current-thread and `LocalSet`.
//! Besides cycles and recursion (a `RwLock::read` taken twice is one:
//! tokio's lock is fair), tasks get three reports of their own:
//!
//! - a thread-bound lock (std's, parking_lot's, this crate's sync locks)
//!   held when the task suspends at an `.await`;
//! - a blocking wait (a sync lock, a thread join, `lockdep::tokio::block_on`)
//!   in a task that holds an async lock another task takes;
//! - a task awaited (its `JoinHandle`) while holding a lock it takes.
//!
//! `examples/async_cache.rs` is a small service with such a bug, and its
//! fix. In a tokio task that is not instrumented (a bare `tokio::spawn`),
//! async locks are not tracked: the module docs say what that loses.
//!
//! ## Read/write semantics
//!
//! Every acquisition has a [`Mode`]: exclusive, shared (a reader that a
//! waiting writer can block) or recursive-shared (blocked only by a writer
//! that holds the lock). Dependencies carry the kernel's four types, and only
//! *strong* cycles are reported, so shared/shared patterns that cannot
//! deadlock are not. A trylock never gets an incoming dependency (it cannot
//! block), but while held it is the source of dependencies.
//!
//! ## The cost
//!
//! A locking sequence seen before costs a hash step, a compare with the
//! lock's memo of its last validated sequence, and a push on a thread-local
//! stack: no global lock, no shared cache line, no allocation. Only a
//! sequence never seen before takes the validator's lock and searches the
//! graph. On the machine of `BENCHMARKS.md` (`cargo bench --bench
//! overhead`), an uncontended lock/unlock costs 1.26x a bare
//! `parking_lot` mutex, a nested pair 1.23x, whatever the size of the graph
//! or the number of threads; tracing-mutex costs 2.6x on the pair. A new
//! dependency costs a few microseconds, mostly the capture of its stack
//! trace; one whose cycle search visits all of a 10 000-class graph about
//! 55 µs, and other threads' known sequences do not wait for it. A report
//! nobody reads (silent, or a callback that does not render it) costs
//! about 7 µs: its stacks are symbolized only when it is read.
//!
//! The validator's own state sits behind [`raw`]'s locks: lockdep's own
//! raw locks on `parking_lot_core`, uninstrumented, as fast as
//! `parking_lot`'s, usable through `lock_api` like any raw lock.
//!
//! ## Switching it off
//!
//! - At run time: [`set_enabled(false)`](set_enabled). Locks keep working;
//!   acquisitions are neither recorded nor checked while it is off.
//! - At compile time: `RUSTFLAGS="--cfg lockdep_off"` compiles validation
//!   out of the whole build. It is the final binary's choice, so no Cargo
//!   feature does it: features are additive, and a library that enabled one
//!   would turn validation off for every crate in the graph. Every lock is
//!   then `lock_api`'s over the inner raw lock, with the same size and
//!   code: the tracked raw lock keeps only the inner one (its map is
//!   zero-sized), so a `lockdep::Mutex<T>` is the size of a
//!   `parking_lot::Mutex<T>`. Keep the `use` lines; flip the switch per
//!   build.
//!
//! ## Limitations
//!
//! - A lock is known by its address while held. One moved while held (only
//!   possible after leaking its guard, or between [`LockMap::acquire`] and
//!   [`LockMap::release`]) is not recognized at its release or drop.
//! - Locks still held when a thread ends are reported from its thread-local
//!   destructors. For the main thread that happens only where the C
//!   library runs them at exit, as glibc does (`tests/main_exit.rs` checks
//!   it, for `main` returning and for `process::exit`).
//! - `fork`: the child starts with the parent's graph and validates on its
//!   own. Fork handlers (`pthread_atfork`) make the forking thread wait for
//!   other threads to leave the validator's critical sections, and leave
//!   the child's copies of its locks free (`tests/fork_threads.rs`). Not
//!   covered: another library using the `backtrace` crate at the moment of
//!   the fork (its lock), which can block the child's first stack capture.
//! - Coverage-based: a cycle is found only once both halves have run, each at
//!   least once, in some thread.
//! - A crate that wraps `parking_lot`'s locks in a type of its own, with
//!   one locking line for all of them, gives all its `new`-built locks one
//!   inferred class per line (see Classes and nesting): nested, they are
//!   not seen. Where its locks are first taken through two lines (a
//!   wrapper's `read` and `write`), which class a lock gets depends on
//!   which ran first, and the two classes can form a cycle that no two real
//!   locks form: a false report (found on `quick_cache` 0.7.0 through the
//!   `[patch]` shim, in about one run in four). A class per instance would
//!   avoid it at the cost of one registered class per lock ever created.
//! - Through the `[patch]` shim, `serde_json` (which this crate depends on)
//!   joins every patched crate's dependency graph, and its `PartialEq`
//!   impls for integers make `n == x as _` ambiguous there (`E0282`): such
//!   code needs the cast's type written out. (Found in `tokio`'s unit
//!   tests.)
//! - Locks of one type built at one line for different roles are one class:
//!   two same-typed lock fields of a `#[derive(Default)]` struct, one
//!   standard adapter (`map(Mutex::new)`) used for two collections of one
//!   type, a helper without `#[track_caller]`. Nesting them is reported as
//!   recursive locking, and the report says why and names the fix (see
//!   Classes and nesting). The type is the protected one, not the lock's: a
//!   macro that builds a `Mutex<T>` and an `RwLock<T>` at one line gives them
//!   one class.
//! - Chains are identified by a 128-bit hash, half of it seeded per process;
//!   the caches in front of the global set keep 64 seeded bits of it. A
//!   collision, which would skip the validation of one new chain, is a
//!   2^-64 event per comparison (2^-46 at worst per chain new to a
//!   thread, against its whole cache) and cannot be searched for offline.
//! - Waits that are not annotated (a condition variable without a declared
//!   notifier, a channel, a barrier, a spin on a trylock) are invisible.
//! - Locks taken inside a report callback are not validated; nor are locks
//!   taken while the validator runs on the thread for another reason: in a
//!   signal handler that interrupted it, or in a global allocator that its
//!   own allocations call. Outside those moments, both are validated,
//!   except locks an allocator takes while it holds its own lock (the
//!   validator may not allocate there).
//! - In panic mode, a report raised where no panic may be raised (a release,
//!   a dropped lock) panics at the thread's next blocking acquisition, which
//!   may belong to other code: in a worker that catches panics around its
//!   jobs only, the next job, or the worker's own next lock.
//! - [`reset`] reaches a thread that is running at that moment at its next
//!   new chain (or out-of-order release); until then, the chains it had
//!   validated before the reset pass as known.
//! - Guards are not `Send` (they are `lock_api`'s, `Sync` when the data
//!   is): a held lock belongs to its thread, whose held stack records it.
//!   With the `send_guard` feature they are, as `parking_lot`'s are then. A
//!   guard released on another thread unlocks the lock; that thread holds
//!   no entry of it and reports nothing, and the thread that took it drops
//!   its entry at its next visit to the validator's slow path (before it
//!   validates anything against it) or at its end. Not covered: a shared
//!   (read) guard so released (its taker keeps the entry), and a thread
//!   that ends while a guard it took lives on elsewhere (reported as held
//!   at its exit: a sent guard cannot be told from a leaked one).
//! - A [`ReentrantMutex`]'s acquisitions are recorded at a line of
//!   `lock_api`'s source: its raw re-entrant mutex is not `#[track_caller]`.
//!   For the same reason it has no `lock_nested`, and a report raised as a
//!   panic (`Action::Panic`) at the re-take that ends a guard's `unlocked`
//!   (the closure returned) cannot leave the lock taken for the guard, as
//!   it does for the other locks: its plain lock is the same call.
//!   `lock_api` then finds the lock's count at zero when the guard drops.
//! - A lock taken back after a condvar wait, a guard's `unlocked` or `bump`
//!   is validated as a plain acquisition of its class and subclass (the
//!   subclass it was acquired as, not one set later by `set_subclass`): one
//!   first taken with `lock_under` or `lock_ordered` loses its nest lock or
//!   order key at the re-take.
//! - A held entry does not record which nest lock covered it. When the
//!   entries above a lock released out of order or re-annotated are
//!   validated again, a covered one stays covered while a lock of its class
//!   is still held below it, even if its nest lock was the lock released.
//! - Async (`tokio`): in a tokio task that is not instrumented (a bare
//!   `tokio::spawn`), async locks are not tracked; a `block_on` root
//!   future is validated on its thread's stack, and nothing sees it
//!   suspend. A guard moved to another task stays on its taker's stack
//!   until dropped (its release reaches the taker at its next poll). A `JoinSet`'s
//!   `join_next` is not a validated wait. A blocking wait under an async
//!   lock is checked where its chain is validated (once per chain and
//!   thread), and reported only once a lock of the async class was taken
//!   by a second task or thread, before or after.
//! - A timed acquisition (`try_lock_for` and the like) is validated as a
//!   trylock, since it cannot wait forever: an order that closes a cycle
//!   only through timed acquisitions is not reported.

#![warn(missing_docs)]
// With validation compiled out, the validator's machinery is unused.
#![cfg_attr(lockdep_off, allow(dead_code, unused_imports))]

mod active;
mod chain;
mod class;
mod condvar;
pub mod config;
mod fork;
mod graph;
mod held;
pub mod lock;
mod map;
pub mod offline;
mod once;
pub mod parking_lot;
pub mod raw;
pub mod record;
pub mod render;
pub mod report;
mod report_file;
mod report_log;
pub mod schema;
mod shared;
mod site;
pub mod sync;
pub mod thread;
#[cfg(feature = "tokio")]
pub mod tokio;
mod trace;
mod validator;
mod watch;
mod workqueue;

pub use active::{Active, ActiveRef};
pub use class::{class_name, ClassId, ClassKey, DynamicKey};
pub use condvar::{Condvar, WaitTimeoutResult};
pub use config::{set_action, set_enabled, Action};
pub use held::Mode;
pub use map::{AsLockMap, LockMap, LockMapGuard, Pinned};
pub use once::{LazyLock, Once, OnceLock};
pub use report::Report;
pub use validator::{dump, held_locks, reports, reset, stats, Stats};
pub use watch::{assert_no_reports, watch, watch_all, Watch};
pub use workqueue::{Work, WorkQueue};

/// Is validation compiled out of this build (`--cfg lockdep_off`)? Then every
/// lock is the plain lock underneath, and nothing is recorded.
pub const COMPILED_OUT: bool = cfg!(lockdep_off);

pub use lock::{
    Mutex, MutexGuard, ReentrantMutex, ReentrantMutexGuard, RwLock, RwLockReadGuard,
    RwLockUpgradableReadGuard, RwLockWriteGuard,
};
