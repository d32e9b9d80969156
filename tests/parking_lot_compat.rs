//! `lockdep::parking_lot` used exactly as `parking_lot` 0.12 code uses it:
//! the locks and guards are `lock_api`'s types over the tracked raw locks,
//! so code generic over `lock_api` compiles against them unchanged; and
//! the class of a lock built through `lock_api`'s `const fn new` (no
//! construction site) is the site of its first acquisition.

mod common;

use std::sync::Arc;
use std::thread;

use common::*;
use lockdep::parking_lot::{
    const_fair_mutex, const_mutex, const_reentrant_mutex, const_rwlock, lock_api, Condvar,
    FairMutex, MappedMutexGuard, Mutex, MutexGuard, Once, RawMutex, RawRwLock, ReentrantMutex,
    RwLock, RwLockUpgradableReadGuard, RwLockWriteGuard,
};
use lockdep::report::Problem;

// Statics, as parking_lot code builds them: `const_*` (a site class each)
// and `lock_api`'s `const fn new` (no site).
static COUNTER: Mutex<u32> = const_mutex(0);
static FAIR: FairMutex<u32> = const_fair_mutex(0);
static TABLE: RwLock<Vec<u32>> = const_rwlock(Vec::new());
static LOG: ReentrantMutex<()> = const_reentrant_mutex(());
static PLAIN: Mutex<u32> = Mutex::new(0);

/// Generic over any `lock_api` mutex, as libraries write it.
fn bump<R: lock_api::RawMutex, T: std::ops::AddAssign<u32>>(m: &lock_api::Mutex<R, T>) {
    *m.lock() += 1;
}

/// Names `lock_api`'s upgradable guard over `parking_lot`'s raw lock, as a
/// real crate does.
fn insert_if_missing(
    guard: lock_api::RwLockUpgradableReadGuard<'_, RawRwLock, Vec<u32>>,
    value: u32,
) -> bool {
    if guard.contains(&value) {
        return false;
    }
    let mut write: RwLockWriteGuard<'_, Vec<u32>> = RwLockUpgradableReadGuard::upgrade(guard);
    write.push(value);
    true
}

/// Generic over the raw rwlock, with the upgrade and downgrade traits.
fn upgrade_then_read<R, T: Clone>(lock: &lock_api::RwLock<R, T>) -> T
where
    R: lock_api::RawRwLockUpgrade + lock_api::RawRwLockUpgradeDowngrade,
{
    let up = lock.upgradable_read();
    let write = lock_api::RwLockUpgradableReadGuard::upgrade(up);
    let read = lock_api::RwLockWriteGuard::downgrade(write);
    (*read).clone()
}

#[test]
fn parking_lot_code_compiles_and_runs_unchanged() {
    silent();
    on_thread("plc_run", || {
        bump(&COUNTER);
        bump(&PLAIN);
        bump(&FAIR);
        assert_eq!((*COUNTER.lock(), *PLAIN.lock(), *FAIR.lock()), (1, 1, 1));

        assert!(insert_if_missing(TABLE.upgradable_read(), 7));
        assert!(!insert_if_missing(TABLE.upgradable_read(), 7));
        assert_eq!(upgrade_then_read(&TABLE), vec![7]);

        // Mapped guards, fair unlocks and bumps are lock_api's.
        let m = Mutex::new((1u32, 2u32));
        let mut second: MappedMutexGuard<'_, u32> = MutexGuard::map(m.lock(), |p| &mut p.1);
        *second += 1;
        drop(second);
        let mut g = m.lock();
        MutexGuard::bump(&mut g);
        MutexGuard::unlock_fair(g);
        assert_eq!(*m.lock(), (1, 3));

        // Re-entrant: the owner locks again.
        let outer = LOG.lock();
        let inner = LOG.lock();
        assert_eq!(held_names().len(), 1);
        drop((inner, outer));

        // Once, Condvar.
        static INIT: Once = Once::new();
        let mut ran = 0;
        INIT.call_once(|| ran += 1);
        INIT.call_once(|| ran += 1);
        assert_eq!(ran, 1);
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let other = Arc::clone(&pair);
        let notifier = thread::spawn(move || {
            *other.0.lock() = true;
            other.1.notify_all();
        });
        let mut ready = pair.0.lock();
        pair.1.wait_while(&mut ready, |ready| !*ready);
        assert!(*ready);
        drop(ready);
        notifier.join().unwrap();
        assert!(held_names().is_empty());
    });
}

#[test]
fn const_constructors_give_the_call_site_class_and_new_the_first_acquisition_s() {
    silent();
    on_thread("plc_sites", || {
        let _c = COUNTER.lock();
        let _p = PLAIN.lock();
        let names = held_names();
        // `const_mutex(0)` at its line of this file, with the type.
        assert!(
            names[0].starts_with("tests/parking_lot_compat.rs:"),
            "{names:?}"
        );
        assert!(names[0].contains("u32"), "{names:?}");
        // `Mutex::new(0)`: no site, so the line that first locked it.
        assert!(
            names[1].starts_with("(first locked)tests/parking_lot_compat.rs:"),
            "{names:?}"
        );
    });
}

#[test]
fn an_abba_between_locks_built_by_new_is_reported() {
    silent();
    let a = Mutex::new(0u32);
    let b = Mutex::new(0u32);
    let reports = reports_on_thread("plc_abba", || {
        // First acquisitions at two lines: two classes.
        let ga = a.lock();
        let gb = b.lock();
        drop((gb, ga));
        let gb = b.lock();
        let ga = a.lock();
        drop((ga, gb));
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    let c = circular(&reports[0]);
    assert!(
        c.acquiring
            .name
            .starts_with("(first locked)tests/parking_lot_compat.rs:"),
        "{}",
        reports[0]
    );
}

/// A helper every lock of a crate goes through: the first acquisition of
/// both locks is at its line, so they are one class.
fn with<T>(m: &Mutex<T>, f: impl FnOnce(&mut T)) {
    f(&mut m.lock())
}

#[test]
fn two_locks_first_taken_at_one_helper_line_nest_without_a_report() {
    silent();
    let parent = Mutex::new(1u32);
    let child = Mutex::new(2u32);
    let leaf = Mutex::new(3u32);
    let reports = reports_on_thread("plc_helper", || {
        with(&parent, |p| with(&child, |c| *p += *c));
        // They are one class: the same nesting the other way round is no
        // report either (a cycle between two instances of one inferred
        // class is not seen: the trade-off of the crate docs).
        with(&child, |c| with(&parent, |p| *c += *p));
        // Their dependencies on other classes are still learned: the helper
        // class -> leaf, then leaf -> helper class closes a cycle.
        with(&parent, |_| *leaf.lock() += 1);
        let _l = leaf.lock();
        with(&child, |_| ());
    });
    assert_eq!(*parent.lock(), 3);
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(
        matches!(reports[0].problem, Problem::CircularDependency { .. }),
        "{}",
        reports[0]
    );
}

/// The read helper of a crate: every lock it reads first is one class.
fn read<T>(l: &RwLock<T>) -> lockdep::parking_lot::RwLockReadGuard<'_, T> {
    l.read()
}

#[test]
fn the_very_lock_taken_again_is_still_recursive_locking() {
    silent();
    let x = RwLock::new(0u32);
    let y = RwLock::new(0u32);
    let reports = reports_on_thread("plc_self", || {
        let _x = read(&x);
        let _y = read(&y); // another lock of the class: no report
        let _again = read(&x); // the very lock, read twice: can deadlock
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    match &reports[0].problem {
        Problem::RecursiveLocking { .. } => {}
        other => panic!("expected recursive locking, got {other:?}"),
    }
}

/// Another crate's read helper (a class of its own: a recursion is
/// reported once per class).
fn read_in_place<T>(l: &RwLock<T>) -> lockdep::parking_lot::RwLockReadGuard<'_, T> {
    l.read()
}

#[test]
fn the_very_lock_taken_again_after_a_benign_nesting_is_still_reported() {
    silent();
    let x = RwLock::new(0u32);
    let y = RwLock::new(0u32);
    let reports = reports_on_thread("plc_again", || {
        {
            // Two locks of the class: no report, and the chain of classes
            // (inferred, inferred) must not be cached as validated...
            let _x = read_in_place(&x);
            let _y = read_in_place(&y);
        }
        // ...since the very lock read twice is the same chain of classes.
        let _x = read_in_place(&x);
        let _again = read_in_place(&x);
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(
        matches!(reports[0].problem, Problem::RecursiveLocking { .. }),
        "{}",
        reports[0]
    );
}

#[test]
fn a_raw_lock_with_a_name_names_the_class() {
    silent();
    let m = Mutex::from_raw(RawMutex::named("plc_named"), 0);
    on_thread("plc_named", || {
        let _g = m.lock();
        assert_eq!(held_names(), ["plc_named"]);
    });
}

/// `lockdep::Mutex` in an `Arc` reaches `lock_api`'s arc methods through
/// `into_lock_api`, which shares the allocation: the guard validates like
/// `lock`, and the counts stay right.
#[cfg(feature = "arc_lock")]
#[test]
fn a_newtype_in_an_arc_takes_lock_api_s_arc_guards() {
    silent();
    let m = Arc::new(lockdep::Mutex::named("plc_arc", 1u32));
    let inner = Arc::clone(&m).into_lock_api();
    assert_eq!(Arc::strong_count(&m), 2);
    on_thread("plc_arc", || {
        let mut guard: lockdep::parking_lot::ArcMutexGuard<RawMutex, u32> = inner.lock_arc();
        *guard += 1;
        assert_eq!(held_names(), ["plc_arc"]);
        assert!(m.is_locked());
        drop(guard);
        assert!(held_names().is_empty());
    });
    drop(inner);
    assert_eq!(Arc::strong_count(&m), 1);
    assert_eq!(*m.lock(), 2);
    assert_no_reports(&["plc_arc"]);
}

/// A re-entrant mutex built by `lock_api` is first taken inside `lock_api`
/// (its raw re-entrant mutex is not `#[track_caller]`): the site says
/// nothing, so each such lock is a class of its own, and two of them nest
/// without a report, while their order against other locks is learned.
#[test]
fn re_entrant_mutexes_built_by_new_are_a_class_each() {
    silent();
    let outer = ReentrantMutex::new(());
    let inner = ReentrantMutex::new(());
    let m = Mutex::from_raw(RawMutex::named("plc_re_m"), ());
    let reports = reports_on_thread("plc_re", || {
        let _o = outer.lock();
        let _i = inner.lock();
        let _again = outer.lock(); // re-entrant: not an acquisition
        let names = held_names();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(
            names.iter().all(|n| n.starts_with("(lock instance)")),
            "{names:?}"
        );
        assert_ne!(names[0], names[1]);
        drop((_again, _i, _o));
        {
            let _m = m.lock();
            let _i = inner.lock(); // plc_re_m -> inner's class
        }
        let _i = inner.lock();
        let _m = m.lock(); // inner's class -> plc_re_m: a cycle
    });
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(
        matches!(reports[0].problem, Problem::CircularDependency { .. }),
        "{}",
        reports[0]
    );
}
