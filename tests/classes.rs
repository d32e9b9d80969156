//! Lock classes on the code people write: std adapters, derives, macros,
//! helper functions, thread pools and fork-join, run-time names and keys.
//!
//! Each pattern runs on a thread of its own, and a test looks only at the
//! reports raised on its threads. For each: locks the program can tell apart
//! (by type, by name, by the call site of a `#[track_caller]` helper) raise
//! no false report, and a real ABBA between them is reported as circular.
//! Where the program cannot tell them apart, the report says why and names
//! the fix.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use common::silent;
use lockdep::report::{Problem, RecursionCause, SiteOrigin};
use lockdep::{Mutex, Report};

/// Runs `f` on a thread named `name`, then returns every report raised on
/// threads whose name starts with `name`.
fn reports_of(name: &str, f: impl FnOnce() + Send) -> Vec<Arc<Report>> {
    silent();
    common::reports_on_thread(name, f)
}

fn titles(reports: &[Arc<Report>]) -> Vec<&'static str> {
    reports.iter().map(|r| r.title()).collect()
}

const CIRCULAR: &str = "possible circular locking dependency detected";
const RECURSIVE: &str = "possible recursive locking detected";

/// Nests `a` then `b` (no report may come of it), then `b` then `a`: a real
/// ABBA, which must be reported as circular, and as nothing else.
fn abba<A, B>(name: &str, a: &Mutex<A>, b: &Mutex<B>)
where
    A: Send,
    B: Send,
{
    let nested = reports_of(&format!("{name}-nested"), || {
        let _a = a.lock();
        let _b = b.lock();
    });
    assert!(
        nested.is_empty(),
        "{name}: a false report:\n{}",
        text(&nested)
    );
    let reversed = reports_of(&format!("{name}-abba"), || {
        let _b = b.lock();
        let _a = a.lock();
    });
    assert_eq!(
        titles(&reversed),
        [CIRCULAR],
        "{name}:\n{}",
        text(&reversed)
    );
}

fn text(reports: &[Arc<Report>]) -> String {
    reports.iter().map(|r| r.to_string()).collect()
}

/// Where the locks of a single recursion report about one site were built,
/// and what that site is.
fn same_site(reports: &[Arc<Report>]) -> (&lockdep::report::Site, SiteOrigin) {
    match cause(reports) {
        RecursionCause::SameSite { built_at, origin } => (built_at, *origin),
        other => panic!("not one site: {other:?}\n{}", text(reports)),
    }
}

/// The cause of a single recursion report.
fn cause(reports: &[Arc<Report>]) -> &RecursionCause {
    assert_eq!(titles(reports), [RECURSIVE], "{}", text(reports));
    match &reports[0].problem {
        Problem::RecursiveLocking { cause, .. } => cause,
        other => panic!("{other:?}"),
    }
}

#[derive(Default)]
struct Accounts(#[allow(dead_code)] u64);
#[derive(Default)]
struct Audit(#[allow(dead_code)] u64);

#[test]
fn locks_built_by_std_adapters_are_told_apart_by_type() {
    let accounts: Vec<Mutex<Accounts>> = (0..2).map(Accounts).map(Mutex::new).collect();
    let audits: Vec<Mutex<Audit>> = std::iter::repeat_with(Mutex::default).take(2).collect();
    abba("adapters", &accounts[0], &audits[1]);
}

#[test]
fn locks_built_by_std_defaults_are_told_apart_by_type() {
    let mut map: HashMap<u32, Mutex<Accounts>> = HashMap::new();
    let a = map.entry(1).or_default();
    let b = std::hint::black_box(None::<Mutex<Audit>>).unwrap_or_default();
    abba("or-default", a, &b);

    let c: Arc<Mutex<Vec<u8>>> = Arc::default();
    let d: Box<Mutex<String>> = Box::default();
    abba("arc-box-default", &c, &d);
}

#[test]
fn an_adapter_that_hides_the_site_says_why_and_names_the_fix() {
    // Two collections of one type, each built by `map(Mutex::new)`: both are
    // built inside core, and nothing tells them apart.
    let left: Vec<Mutex<u16>> = (0..1).map(Mutex::new).collect();
    let right: Vec<Mutex<u16>> = (0..1).map(Mutex::new).collect();
    let reports = reports_of("adapter-hidden", || {
        let _l = left[0].lock();
        let _r = right[0].lock();
    });
    let (built_at, origin) = same_site(&reports);
    assert_eq!(origin, SiteOrigin::Toolchain);
    assert!(built_at.file.starts_with("core/src/"), "{built_at}");
    let text = reports[0].to_string();
    assert!(text.contains("inside the standard library"), "{text}");
    assert!(text.contains(".map(|v| Mutex::new(v))"), "{text}");
    assert!(!text.contains("missing lock nesting notation"), "{text}");

    // The fix the report names: a closure, so each line is its own site.
    let left: Vec<Mutex<u16>> = (0..1).map(|v| Mutex::new(v)).collect();
    let right: Vec<Mutex<u16>> = (0..1).map(|v| Mutex::new(v)).collect();
    abba("adapter-fixed", &left[0], &right[0]);
}

#[test]
fn a_constructor_through_a_function_pointer_says_why() {
    let build: fn(u8) -> Mutex<u8> = Mutex::new;
    let (a, b) = (build(1), build(2));
    let reports = reports_of("fn-pointer", || {
        let _a = a.lock();
        let _b = b.lock();
    });
    let (_, origin) = same_site(&reports);
    assert_eq!(origin, SiteOrigin::Lockdep);
    assert!(reports[0].to_string().contains("function pointer"));
}

#[derive(Default)]
struct Service {
    config: Mutex<Accounts>,
    stats: Mutex<Audit>,
}

#[derive(Default)]
struct Twins {
    left: Mutex<u32>,
    right: Mutex<u32>,
}

/// Like [`Twins`], for the test that must see its recursion report first.
#[derive(Default)]
struct Pair {
    left: Mutex<u32>,
    right: Mutex<u32>,
}

#[test]
fn derived_default_fields_of_different_types_are_different_classes() {
    let s = Service::default();
    abba("derive", &s.config, &s.stats);
}

#[test]
fn derived_default_fields_of_one_type_say_why_and_name_the_fix() {
    let t = Twins::default();
    let reports = reports_of("derive-twins", || {
        let _l = t.left.lock();
        let _r = t.right.lock();
    });
    let (built_at, origin) = same_site(&reports);
    assert_eq!(origin, SiteOrigin::Code);
    assert_eq!(built_at.file, "tests/classes.rs");
    let text = reports[0].to_string();
    assert!(text.contains("#[derive(Default)]"), "{text}");
    assert!(text.contains("named(\"..\")"), "{text}");
}

macro_rules! two_locks {
    () => {
        (Mutex::new(Accounts(0)), Mutex::new(Audit(0)))
    };
}

#[test]
fn a_macro_that_builds_locks_of_two_types_builds_two_classes() {
    let (a, b) = two_locks!();
    abba("macro", &a, &b);
}

/// A crate's own constructor, as large crates have, without `#[track_caller]`.
fn new_mutex<T>(value: T) -> Mutex<T> {
    Mutex::new(value)
}

/// The same, with `#[track_caller]`: each call site is a class.
#[track_caller]
fn new_tracked<T>(value: T) -> Mutex<T> {
    Mutex::new(value)
}

/// A helper that names its locks.
fn named_mutex(name: &'static str) -> Mutex<u64> {
    Mutex::named(name, 0)
}

#[test]
fn a_crate_helper_tells_its_locks_apart_by_type_call_site_or_name() {
    let (a, b) = (new_mutex(Accounts(0)), new_mutex(Audit(0)));
    abba("helper-types", &a, &b);
    let (c, d) = (new_tracked(1u64), new_tracked(2u64));
    abba("helper-tracked", &c, &d);
    let (e, f) = (
        named_mutex("classes_helper_e"),
        named_mutex("classes_helper_f"),
    );
    abba("helper-named", &e, &f);
    // The report names each lock by its own name, not the helper's first.
    let reports = lockdep::reports();
    let abba = reports
        .iter()
        .find(|r| r.thread.name == "helper-named-abba")
        .expect("the ABBA report");
    let names = abba.class_names();
    assert!(
        names.contains(&"classes_helper_e") && names.contains(&"classes_helper_f"),
        "{names:?}"
    );
}

#[test]
fn a_helper_of_one_type_says_why_and_names_the_fix() {
    let (a, b) = (new_mutex(7u8), new_mutex(8u8));
    let reports = reports_of("helper-one-type", || {
        let _a = a.lock();
        let _b = b.lock();
    });
    assert_eq!(same_site(&reports).1, SiteOrigin::Code);
    assert!(reports[0]
        .to_string()
        .contains("#[track_caller] on the helper"));
}

#[test]
fn locks_in_a_loop_at_one_site_stay_one_class() {
    struct Inode {
        lock: Mutex<u32>,
    }
    let inodes: Vec<Inode> = (0..3)
        .map(|i| Inode {
            lock: Mutex::new(i),
        })
        .collect();
    let classes: Vec<_> = inodes
        .iter()
        .map(|i| lockdep::AsLockMap::as_lock_map(&i.lock).class())
        .collect();
    assert!(classes.windows(2).all(|w| w[0] == w[1]), "{classes:?}");
    // One class: nesting two inodes unannotated is recursion, with the
    // nesting hint.
    let reports = reports_of("inodes", || {
        let _a = inodes[0].lock.lock();
        let _b = inodes[1].lock.lock();
    });
    assert_eq!(same_site(&reports).1, SiteOrigin::Code);
    assert!(reports[0]
        .to_string()
        .contains("missing lock nesting notation"));
    let annotated = reports_of("inodes-nested", || {
        let _a = inodes[0].lock.lock();
        let _b = inodes[1].lock.lock_nested(1);
    });
    assert!(annotated.is_empty(), "{}", text(&annotated));
}

#[test]
fn a_recursion_report_does_not_hide_a_later_cycle() {
    // One class for both fields (one derive, one type): recursion.
    let t = Pair::default();
    let other = Mutex::new(Audit(0));
    let first = reports_of("blind-first", || {
        let _l = t.left.lock();
        let _r = t.right.lock();
    });
    assert_eq!(titles(&first), [RECURSIVE]);
    // left, other, right: the recursion again (not reported twice), and the
    // dependency other -> twins, learned all the same.
    let second = reports_of("blind-second", || {
        let _l = t.left.lock();
        let _o = other.lock();
        let _r = t.right.lock();
    });
    // twins -> other was learned as `left, other`: the same acquisition's
    // other -> twins closes the cycle, reported in the same breath.
    assert_eq!(titles(&second), [CIRCULAR], "{}", text(&second));
    let third = reports_of("blind-third", || {
        let _o = other.lock();
        let _r = t.right.lock();
    });
    assert!(third.is_empty(), "already reported: {}", text(&third));
}

#[test]
fn std_shaped_locks_get_the_same_classes() {
    let (a, b) = (
        lockdep::sync::Mutex::new(Accounts(0)),
        lockdep::sync::Mutex::new(Audit(0)),
    );
    let nested = reports_of("std-nested", || {
        let _a = a.lock().unwrap();
        let _b = b.lock().unwrap();
    });
    assert!(nested.is_empty(), "{}", text(&nested));
    let reversed = reports_of("std-abba", || {
        let _b = b.lock().unwrap();
        let _a = a.lock().unwrap();
    });
    assert_eq!(titles(&reversed), [CIRCULAR]);
}

/// A parallel sort: each level spawns its halves from one line and joins
/// them at the end of its scope.
fn par_sort(v: &mut [u32]) {
    if v.len() <= 2 {
        v.sort_unstable();
        return;
    }
    let mid = v.len() / 2;
    let (left, right) = v.split_at_mut(mid);
    lockdep::thread::scope(|s| {
        for half in [left, right] {
            s.spawn(move || par_sort(half));
        }
    });
    let mut merged = v.to_vec();
    merged.sort_unstable();
    v.copy_from_slice(&merged);
}

#[test]
fn a_recursive_fork_join_is_not_recursive_locking() {
    let mut v: Vec<u32> = (0..16).rev().collect();
    let reports = reports_of("fork-join", || par_sort(&mut v));
    assert!(reports.is_empty(), "{}", text(&reports));
    assert_eq!(v, (0..16).collect::<Vec<_>>());
}

/// A pool's helper: every worker is spawned by this one line.
fn spawn_worker<F: FnOnce() -> u32 + Send + 'static>(f: F) -> lockdep::thread::JoinHandle<u32> {
    lockdep::thread::spawn(f)
}

#[test]
fn workers_of_one_helper_that_join_each_other_are_told_apart() {
    let reports = reports_of("workers", || {
        let first = spawn_worker(|| 1);
        let second = spawn_worker(move || first.join().unwrap() + 1);
        assert_eq!(second.join().unwrap(), 2);
    });
    assert!(reports.is_empty(), "{}", text(&reports));
}

#[test]
fn a_thread_is_of_its_builders_name_or_key_and_held_where_it_was_spawned() {
    static POOL: lockdep::ClassKey = lockdep::ClassKey::new("classes_pool");
    let held =
        |b: lockdep::thread::Builder| b.spawn(lockdep::held_locks).expect("spawn").join().unwrap();
    let named = held(lockdep::thread::Builder::new().name("classes-io".into()));
    assert_eq!(named.len(), 1);
    assert_eq!(named[0].name, "(thread)classes-io");
    let at = named[0].at.as_ref().expect("a site");
    assert_eq!(at.file, "tests/classes.rs", "the spawn site, not lockdep's");
    let keyed = held(lockdep::thread::Builder::new().key(&POOL));
    assert_eq!(keyed[0].name, "classes_pool");
    let plain = lockdep::thread::spawn(lockdep::held_locks).join().unwrap();
    assert!(
        plain[0].name.starts_with("(thread)tests/classes.rs:"),
        "{}",
        plain[0].name
    );
    assert!(
        plain[0].name.contains("(classes"),
        "crate and module: {}",
        plain[0].name
    );

    // Two names from one helper: two classes, so one joining the other is
    // no recursion.
    let spawn_named = |name: &str, f: Box<dyn FnOnce() + Send>| {
        lockdep::thread::Builder::new()
            .name(name.to_string())
            .spawn(f)
            .expect("spawn")
    };
    let lock = Arc::new(Mutex::new(Accounts(0)));
    let reports = reports_of("named-threads", || {
        let l = lock.clone();
        let taker = spawn_named("classes-taker", Box::new(move || drop(l.lock())));
        let joiner = spawn_named(
            "classes-joiner",
            Box::new(move || {
                taker.join().unwrap();
            }),
        );
        joiner.join().unwrap();
        let _g = lock.lock();
    });
    assert!(reports.is_empty(), "{}", text(&reports));
}

#[test]
fn every_primitive_can_be_given_a_key() {
    use lockdep::{ClassKey, LazyLock, Once, OnceLock};
    static ONCE_KEY: ClassKey = ClassKey::new("classes_key_once");
    static CELL_KEY: ClassKey = ClassKey::new("classes_key_cell");
    static LAZY_KEY: ClassKey = ClassKey::new("classes_key_lazy");
    static CONDVAR_KEY: ClassKey = ClassKey::new("classes_key_condvar");
    static ACTIVE_KEY: ClassKey = ClassKey::new("classes_key_active");
    static WORK_KEY: ClassKey = ClassKey::new("classes_key_work");
    static QUEUE_KEY: ClassKey = ClassKey::new("classes_key_queue");
    let names = || -> Vec<String> { lockdep::held_locks().into_iter().map(|l| l.name).collect() };

    let once = Once::with_key(&ONCE_KEY);
    let mut seen = Vec::new();
    once.call_once(|| seen = names());
    assert_eq!(seen, ["classes_key_once"]);
    let cell: OnceLock<Vec<String>> = OnceLock::with_key(&CELL_KEY);
    assert_eq!(*cell.get_or_init(names), ["classes_key_cell"]);
    let lazy: LazyLock<Vec<String>, fn() -> Vec<String>> = LazyLock::with_key(&LAZY_KEY, || {
        lockdep::held_locks().into_iter().map(|l| l.name).collect()
    });
    assert_eq!(*lazy, ["classes_key_lazy"]);
    for condvar in [
        lockdep::Condvar::with_key(&CONDVAR_KEY),
        lockdep::Condvar::with_key(&CONDVAR_KEY),
    ] {
        let _notifier = condvar.notifier();
        assert_eq!(names(), ["classes_key_condvar"]);
    }
    let std_condvar = lockdep::sync::Condvar::with_key(&CONDVAR_KEY);
    drop(std_condvar.notifier());
    let active = lockdep::Active::with_key(&ACTIVE_KEY);
    {
        let _r = active.get().expect("live");
        assert_eq!(names(), ["classes_key_active"]);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let work = lockdep::Work::with_key(&WORK_KEY, move || {
        tx.send(
            lockdep::held_locks()
                .into_iter()
                .map(|l| l.name)
                .collect::<Vec<_>>(),
        )
        .unwrap();
    });
    let queue = lockdep::WorkQueue::with_key(&QUEUE_KEY, "classes-queue", 1);
    queue.queue(&work);
    queue.flush();
    assert_eq!(
        rx.recv().unwrap(),
        ["classes_key_queue", "classes_key_work"]
    );
}
