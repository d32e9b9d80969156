//! The guards that own an `Arc` of their lock (feature `arc_lock`): code
//! written against `parking_lot`'s `arc_lock` API compiles unchanged against
//! `lockdep::parking_lot` and behaves the same, and every arc acquisition is
//! validated as its borrowed twin is (modes, trylocks, timed acquisitions as
//! trylocks, re-takes), released exactly once however its guard goes.
//!
//! As in the other test files: every test uses classes of its own (names
//! starting `arc_<test>_`), sets the action to `Silent`, and finds its
//! reports by class name. Classes left unnamed (those of the migrated
//! program) are named by their site in this file.

#![cfg(feature = "arc_lock")]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use lockdep::parking_lot::lock_api::GetThreadId as _;
use lockdep::parking_lot::{
    ArcMutexGuard, ArcReentrantMutexGuard, ArcRwLockReadGuard, ArcRwLockUpgradableReadGuard,
    ArcRwLockWriteGuard, Mutex, RawMutex, RawRwLock, RawThreadId, ReentrantMutex, RwLock,
};
use lockdep::Mode;

/// `(name, mode, trylock)` of each lock the calling thread holds, outermost
/// first.
fn held() -> Vec<(String, Mode, bool)> {
    lockdep::held_locks()
        .into_iter()
        .map(|l| (l.name, l.mode, l.trylock))
        .collect()
}

fn entry(name: &str, mode: Mode, trylock: bool) -> (String, Mode, bool) {
    (name.to_string(), mode, trylock)
}

const SHORT: Duration = Duration::from_millis(5);

// ---------------------------------------------------------------------------
// Migration: the same source against the real crate and against lockdep
// ---------------------------------------------------------------------------

/// A program written against `parking_lot` 0.12 with its `arc_lock`
/// feature, using every arc method and guard function. Instantiated once
/// with `use parking_lot::..` and once with `use lockdep::parking_lot::..`:
/// the body is the same tokens, so if it compiles twice, migrating it only
/// takes the `use` line. It returns what it observed, to compare the two.
///
/// Every lock built in the macro is of one class (its invocation site), so
/// the program holds one lock at a time, beside trylocks and recursive reads.
macro_rules! arc_program {
    ($name:ident, $($krate:tt)+) => {
        mod $name {
            use $($krate)+::{
                ArcMutexGuard, ArcReentrantMutexGuard, ArcRwLockReadGuard,
                ArcRwLockUpgradableReadGuard, ArcRwLockWriteGuard, FairMutex, Mutex, RawFairMutex,
                RawMutex, RawRwLock, RawThreadId, ReentrantMutex, RwLock,
            };
            use std::sync::Arc;
            use std::time::{Duration, Instant};

            /// A guard kept in a struct, with no lifetime to carry.
            struct Holder {
                items: ArcMutexGuard<RawMutex, Vec<u32>>,
            }

            fn locked_items(items: Vec<u32>) -> Holder {
                // The guard's `Arc` is the only one left once this returns.
                let mutex = Arc::new(Mutex::new(items));
                Holder { items: mutex.lock_arc() }
            }

            pub fn run() -> Vec<String> {
                let mut log = Vec::new();
                let short = Duration::from_millis(5);
                let soon = || Instant::now() + Duration::from_millis(5);

                // Mutex.
                let m = Arc::new(Mutex::new(1u32));
                let mut g: ArcMutexGuard<RawMutex, u32> = m.lock_arc();
                *g += 1;
                log.push(format!("locked: {} {} {}", *g, m.is_locked(), m.try_lock_arc().is_none()));
                let free = ArcMutexGuard::unlocked(&mut g, || !m.is_locked());
                let took = ArcMutexGuard::unlocked_fair(&mut g, || m.try_lock_arc().map(|g| *g));
                ArcMutexGuard::bump(&mut g);
                let same = Arc::ptr_eq(ArcMutexGuard::mutex(&g), &m);
                let back = ArcMutexGuard::into_arc(g);
                log.push(format!(
                    "unlocked: {free} {took:?} {same} {} {} {}",
                    Arc::ptr_eq(&back, &m),
                    m.is_locked(),
                    Arc::strong_count(&m)
                ));
                let g = m.try_lock_arc_for(short).expect("free");
                let busy = m.try_lock_arc_until(soon()).is_none();
                ArcMutexGuard::unlock_fair(g);
                let g = m.try_lock_arc_until(soon()).expect("free");
                let back = ArcMutexGuard::into_arc_fair(g);
                log.push(format!("timed: {busy} {} {}", m.is_locked(), Arc::strong_count(&back)));
                drop(back);

                // A guard that outlives every other `Arc` of its mutex.
                let mut holder = locked_items(vec![1, 2]);
                holder.items.push(3);
                let mutex = Arc::clone(ArcMutexGuard::mutex(&holder.items));
                log.push(format!("holder: {:?} {}", *holder.items, mutex.is_locked()));
                drop(holder);
                log.push(format!("holder gone: {} {}", mutex.is_locked(), Arc::strong_count(&mutex)));

                // FairMutex.
                let fair = Arc::new(FairMutex::new(5u32));
                let mut g: ArcMutexGuard<RawFairMutex, u32> = fair.lock_arc();
                ArcMutexGuard::bump(&mut g);
                *g += 1;
                ArcMutexGuard::unlock_fair(g);
                let unlocked = !fair.is_locked();
                log.push(format!("fair: {} {unlocked}", *fair.lock()));

                // RwLock: each way in.
                let rw = Arc::new(RwLock::new(10u32));
                {
                    let r: ArcRwLockReadGuard<RawRwLock, u32> = rw.read_arc();
                    let r2 = rw.try_read_arc().expect("shared");
                    let r3 = rw.try_read_arc_for(short).expect("shared");
                    let r4 = rw.try_read_arc_until(soon()).expect("shared");
                    let r5 = rw.read_arc_recursive();
                    let r6 = rw.try_read_recursive_arc().expect("recursive");
                    let r7 = rw.try_read_arc_recursive_for(short).expect("recursive");
                    let r8 = rw.try_read_arc_recursive_until(soon()).expect("recursive");
                    log.push(format!(
                        "readers: {} {} {} {:?} {}",
                        *r + *r2 + *r3 + *r4 + *r5 + *r6 + *r7 + *r8,
                        rw.is_locked_exclusive(),
                        rw.try_write_arc().is_none(),
                        r,
                        r2
                    ));
                }
                {
                    let mut w: ArcRwLockWriteGuard<RawRwLock, u32> = rw.write_arc();
                    *w += 1;
                    log.push(format!(
                        "writer: {:?} {} {} {}",
                        w,
                        w,
                        rw.try_read_arc_for(short).is_none(),
                        rw.try_write_arc_until(soon()).is_none()
                    ));
                    let r = ArcRwLockWriteGuard::downgrade(w);
                    log.push(format!(
                        "downgraded: {} {} {}",
                        *r,
                        rw.is_locked_exclusive(),
                        rw.try_read_arc().is_some()
                    ));
                }
                {
                    let w = rw.try_write_arc().expect("free");
                    drop(w);
                    let w = rw.try_write_arc_for(short).expect("free");
                    let u: ArcRwLockUpgradableReadGuard<RawRwLock, u32> =
                        ArcRwLockWriteGuard::downgrade_to_upgradable(w);
                    let busy = rw.try_upgradable_read_arc().is_none();
                    let mut w = ArcRwLockUpgradableReadGuard::upgrade(u);
                    *w += 1;
                    let u = ArcRwLockWriteGuard::downgrade_to_upgradable(w);
                    let w = ArcRwLockUpgradableReadGuard::try_upgrade(u).ok().expect("no readers");
                    let u = ArcRwLockWriteGuard::downgrade_to_upgradable(w);
                    let w = ArcRwLockUpgradableReadGuard::try_upgrade_for(u, short)
                        .ok()
                        .expect("no readers");
                    let u = ArcRwLockWriteGuard::downgrade_to_upgradable(w);
                    let w = ArcRwLockUpgradableReadGuard::try_upgrade_until(u, soon())
                        .ok()
                        .expect("no readers");
                    let mut u = ArcRwLockWriteGuard::downgrade_to_upgradable(w);
                    u.with_upgraded(|v| *v += 1);
                    let tried = u.try_with_upgraded(|v| { *v += 1; *v });
                    let tried_for = u.try_with_upgraded_for(short, |v| { *v += 1; *v });
                    let tried_until = u.try_with_upgraded_until(soon(), |v| { *v += 1; *v });
                    let reader = rw.try_read_arc().expect("upgradable admits readers");
                    let refused = ArcRwLockUpgradableReadGuard::try_upgrade(u).err().expect("a reader");
                    drop(reader);
                    let r = ArcRwLockUpgradableReadGuard::downgrade(refused);
                    log.push(format!(
                        "upgradable: {busy} {tried:?} {tried_for:?} {tried_until:?} {} {:?}",
                        *r,
                        ArcRwLockReadGuard::rwlock(&r).is_locked_exclusive()
                    ));
                }
                {
                    let u = rw.upgradable_read_arc();
                    drop(u);
                    let u = rw.try_upgradable_read_arc().expect("free");
                    drop(u);
                    let u = rw.try_upgradable_read_arc_for(short).expect("free");
                    drop(u);
                    let u = rw.try_upgradable_read_arc_until(soon()).expect("free");
                    log.push(format!("upgradable timed: {:?} {}", u, u));
                }

                // RwLock guards given up for a while, and their `Arc`s.
                {
                    let mut r = rw.read_arc();
                    let free = ArcRwLockReadGuard::unlocked(&mut r, || !rw.is_locked());
                    let writer = ArcRwLockReadGuard::unlocked_fair(&mut r, || rw.try_write_arc().is_some());
                    ArcRwLockReadGuard::bump(&mut r);
                    let same = Arc::ptr_eq(ArcRwLockReadGuard::rwlock(&r), &rw);
                    ArcRwLockReadGuard::unlock_fair(r);
                    let mut w = rw.write_arc();
                    let w_free = ArcRwLockWriteGuard::unlocked(&mut w, || rw.try_read_arc().is_some());
                    ArcRwLockWriteGuard::unlocked_fair(&mut w, || ());
                    ArcRwLockWriteGuard::bump(&mut w);
                    let w_same = Arc::ptr_eq(ArcRwLockWriteGuard::rwlock(&w), &rw);
                    ArcRwLockWriteGuard::unlock_fair(w);
                    let mut u = rw.upgradable_read_arc();
                    let u_free = ArcRwLockUpgradableReadGuard::unlocked(&mut u, || !rw.is_locked());
                    ArcRwLockUpgradableReadGuard::unlocked_fair(&mut u, || ());
                    ArcRwLockUpgradableReadGuard::bump(&mut u);
                    let u_same = Arc::ptr_eq(ArcRwLockUpgradableReadGuard::rwlock(&u), &rw);
                    ArcRwLockUpgradableReadGuard::unlock_fair(u);
                    log.push(format!(
                        "rw unlocked: {free} {writer} {same} {w_free} {w_same} {u_free} {u_same} {}",
                        rw.is_locked()
                    ));
                    let counts: Vec<usize> = vec![
                        Arc::strong_count(&ArcRwLockReadGuard::into_arc(rw.read_arc())),
                        Arc::strong_count(&ArcRwLockReadGuard::into_arc_fair(rw.read_arc())),
                        Arc::strong_count(&ArcRwLockWriteGuard::into_arc(rw.write_arc())),
                        Arc::strong_count(&ArcRwLockWriteGuard::into_arc_fair(rw.write_arc())),
                        Arc::strong_count(&ArcRwLockUpgradableReadGuard::into_arc(rw.upgradable_read_arc())),
                        Arc::strong_count(&ArcRwLockUpgradableReadGuard::into_arc_fair(
                            rw.upgradable_read_arc(),
                        )),
                    ];
                    log.push(format!("rw into_arc: {counts:?} {} {}", rw.is_locked(), *rw.read()));
                }

                // ReentrantMutex.
                let re = Arc::new(ReentrantMutex::new(7u32));
                {
                    let outer: ArcReentrantMutexGuard<RawMutex, RawThreadId, u32> = re.lock_arc();
                    let mut inner = re.lock_arc();
                    let again = re.try_lock_arc().expect("owner");
                    let timed = re.try_lock_arc_for(short).expect("owner");
                    let until = re.try_lock_arc_until(soon()).expect("owner");
                    let still = ArcReentrantMutexGuard::unlocked(&mut inner, || re.is_locked());
                    ArcReentrantMutexGuard::unlocked_fair(&mut inner, || ());
                    ArcReentrantMutexGuard::bump(&mut inner);
                    let same = Arc::ptr_eq(ArcReentrantMutexGuard::remutex(&inner), &re);
                    log.push(format!(
                        "re: {} {still} {same} {}",
                        *outer + *inner + *again + *timed + *until,
                        re.is_owned_by_current_thread()
                    ));
                    drop(outer);
                    let back = ArcReentrantMutexGuard::into_arc(again);
                    ArcReentrantMutexGuard::unlock_fair(timed);
                    let back_fair = ArcReentrantMutexGuard::into_arc_fair(until);
                    log.push(format!(
                        "re levels: {} {} {}",
                        re.is_locked(),
                        Arc::ptr_eq(&back, &back_fair),
                        Arc::strong_count(&re)
                    ));
                    drop(inner);
                }
                let mut last = re.lock_arc();
                let free = ArcReentrantMutexGuard::unlocked(&mut last, || !re.is_locked());
                ArcReentrantMutexGuard::unlock_fair(last);
                log.push(format!("re free: {free} {} {}", re.is_locked(), Arc::strong_count(&re)));
                log
            }
        }
    };
}

arc_program!(with_parking_lot, ::parking_lot);
arc_program!(with_lockdep, ::lockdep::parking_lot);

/// Reports about classes built, unnamed, in this file: the migrated program's.
fn reports_about_unnamed_classes_here() -> Vec<String> {
    lockdep::reports()
        .iter()
        .filter(|r| involved(r).iter().any(|n| n.contains("arc_guards.rs")))
        .map(|r| r.to_string())
        .collect()
}

#[test]
fn parking_lot_arc_code_compiles_unchanged_and_behaves_the_same() {
    silent();
    let ours = with_lockdep::run();
    assert_eq!(ours, with_parking_lot::run());
    assert!(ours.len() > 15, "{ours:?}");
    assert!(held().is_empty(), "{:?}", held());
    let reports = reports_about_unnamed_classes_here();
    assert!(reports.is_empty(), "{}", reports.concat());
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

#[test]
fn an_abba_through_arc_guards_is_reported() {
    silent();
    let a = Arc::new(Mutex::from_raw(RawMutex::named("arc_abba_a"), 0u32));
    let b = Arc::new(RwLock::from_raw(RawRwLock::named("arc_abba_b"), 0u32));
    {
        let mut ga = a.lock_arc();
        let mut gb = b.write_arc();
        *ga += 1;
        *gb += 1;
    }
    assert_no_reports(&["arc_abba_a", "arc_abba_b"]);
    // The other order, from guards that outlive the scope they were taken in.
    let gb = b.read_arc();
    let ga = a.lock_arc();
    let report = one_report(&["arc_abba_a", "arc_abba_b"]);
    let c = circular(&report);
    assert_eq!(c.acquiring.name, "arc_abba_a");
    assert_eq!(c.holding.name, "arc_abba_b");
    assert_eq!(
        held(),
        [
            entry("arc_abba_b", Mode::Shared, false),
            entry("arc_abba_a", Mode::Exclusive, false)
        ]
    );
    drop((gb, ga));
    assert!(held().is_empty());
}

#[test]
fn an_abba_through_a_reentrant_arc_guard_is_reported() {
    silent();
    let r = Arc::new(ReentrantMutex::from_raw(
        RawMutex::named("arc_re_abba_r"),
        RawThreadId::INIT,
        (),
    ));
    let m = Arc::new(Mutex::from_raw(RawMutex::named("arc_re_abba_m"), ()));
    {
        let _r = r.lock_arc();
        let _again = r.lock_arc(); // re-entrant: not an acquisition
        let _m = m.lock_arc();
        assert_eq!(held().len(), 2);
    }
    {
        let _m = m.lock_arc();
        let _r = r.lock_arc();
    }
    let report = one_report(&["arc_re_abba_r", "arc_re_abba_m"]);
    assert_eq!(circular(&report).acquiring.name, "arc_re_abba_r");
    assert!(held().is_empty());
}

/// Guards of each kind kept in a struct, built where the only other `Arc`s
/// of their locks are dropped: they stay held (in the locks and in the
/// validator) until the struct goes, whatever order they go in.
struct Held {
    mutex: ArcMutexGuard<RawMutex, u32>,
    read: ArcRwLockReadGuard<RawRwLock, u32>,
    remutex: ArcReentrantMutexGuard<RawMutex, RawThreadId, u32>,
}

fn hold_three() -> Held {
    let mutex = Arc::new(Mutex::from_raw(RawMutex::named("arc_struct_m"), 1));
    let rw = Arc::new(RwLock::from_raw(RawRwLock::named("arc_struct_rw"), 2));
    let re = Arc::new(ReentrantMutex::from_raw(
        RawMutex::named("arc_struct_re"),
        RawThreadId::INIT,
        3,
    ));
    Held {
        mutex: mutex.lock_arc(),
        read: rw.read_arc(),
        remutex: re.lock_arc(),
    }
}

#[test]
fn guards_held_in_a_struct_are_released_when_dropped_later() {
    silent();
    let held_three = hold_three();
    assert_eq!(
        held(),
        [
            entry("arc_struct_m", Mode::Exclusive, false),
            entry("arc_struct_rw", Mode::Shared, false),
            entry("arc_struct_re", Mode::Exclusive, false)
        ]
    );
    assert_eq!(
        *held_three.mutex + *held_three.read + *held_three.remutex,
        6
    );
    // Weak handles see when each lock is freed, which only the guard's
    // `Arc` still prevents.
    let mutex = Arc::downgrade(ArcMutexGuard::mutex(&held_three.mutex));
    let rw = Arc::downgrade(ArcRwLockReadGuard::rwlock(&held_three.read));
    let re = Arc::downgrade(ArcReentrantMutexGuard::remutex(&held_three.remutex));
    assert!(mutex.upgrade().is_some_and(|m| m.is_locked()));

    // Out of order: the middle one first.
    let Held {
        mutex: m,
        read: r,
        remutex: e,
    } = held_three;
    drop(r);
    assert!(rw.upgrade().is_none(), "the lock went with its guard");
    assert_eq!(
        held(),
        [
            entry("arc_struct_m", Mode::Exclusive, false),
            entry("arc_struct_re", Mode::Exclusive, false)
        ]
    );
    drop(m);
    drop(e);
    assert!(held().is_empty(), "{:?}", held());
    assert!(mutex.upgrade().is_none() && re.upgrade().is_none());
    // Nothing was reported about them: no lock freed while held, no bad
    // unlock balance.
    assert_no_reports(&["arc_struct_m", "arc_struct_rw", "arc_struct_re"]);
}

#[test]
fn an_arc_guard_moved_to_a_longer_lived_owner_is_released_once() {
    silent();
    let m = Arc::new(Mutex::from_raw(RawMutex::named("arc_moved_m"), Vec::new()));
    let mut kept: Vec<ArcMutexGuard<RawMutex, Vec<u32>>> = Vec::new();
    {
        let mut g = m.lock_arc();
        g.push(1);
        kept.push(g);
    }
    assert_eq!(held(), [entry("arc_moved_m", Mode::Exclusive, false)]);
    let back = ArcMutexGuard::into_arc(kept.pop().expect("kept"));
    assert!(Arc::ptr_eq(&back, &m));
    assert!(held().is_empty());
    assert!(!m.is_locked());
    assert_eq!(*m.lock(), [1]);
    assert_no_reports(&["arc_moved_m"]);
}

#[test]
fn an_arc_write_guard_downgraded_then_dropped() {
    silent();
    let rw = Arc::new(RwLock::from_raw(RawRwLock::named("arc_down_rw"), 1u32));
    let mut w = rw.write_arc();
    *w = 2;
    assert_eq!(held(), [entry("arc_down_rw", Mode::Exclusive, false)]);
    let r = ArcRwLockWriteGuard::downgrade(w);
    assert_eq!(*r, 2);
    assert_eq!(held(), [entry("arc_down_rw", Mode::Shared, false)]);
    assert!(rw.is_locked() && !rw.is_locked_exclusive());
    drop(r);
    assert!(held().is_empty());
    assert!(!rw.is_locked());

    // To upgradable, upgraded, and given back as its `Arc`.
    let u = ArcRwLockWriteGuard::downgrade_to_upgradable(rw.write_arc());
    assert_eq!(held(), [entry("arc_down_rw", Mode::Shared, false)]);
    let mut w = ArcRwLockUpgradableReadGuard::upgrade(u);
    *w += 1;
    assert_eq!(held(), [entry("arc_down_rw", Mode::Exclusive, false)]);
    let back = ArcRwLockWriteGuard::into_arc(w);
    assert!(Arc::ptr_eq(&back, &rw));
    assert!(held().is_empty());
    assert!(!rw.is_locked());
    assert_eq!(*rw.read(), 3);
    assert_no_reports(&["arc_down_rw"]);
}

#[test]
fn timed_arc_locks_are_recorded_as_trylocks() {
    silent();
    let m = Arc::new(Mutex::from_raw(RawMutex::named("arc_timed_m"), ()));
    let rw = Arc::new(RwLock::from_raw(RawRwLock::named("arc_timed_rw"), ()));
    let re = Arc::new(ReentrantMutex::from_raw(
        RawMutex::named("arc_timed_re"),
        RawThreadId::INIT,
        (),
    ));
    let until = || Instant::now() + SHORT;
    {
        let _m = m.try_lock_arc_for(SHORT).expect("free");
        let _r = rw.try_read_arc_until(until()).expect("free");
        let _e = re.try_lock_arc_for(SHORT).expect("free");
        assert_eq!(
            held(),
            [
                entry("arc_timed_m", Mode::Exclusive, true),
                entry("arc_timed_rw", Mode::Shared, true),
                entry("arc_timed_re", Mode::Exclusive, true)
            ]
        );
    }
    {
        let _w = rw.try_write_arc_for(SHORT).expect("free");
        assert_eq!(held(), [entry("arc_timed_rw", Mode::Exclusive, true)]);
    }
    {
        let _r = rw.try_read_arc_recursive_for(SHORT).expect("free");
        assert_eq!(held(), [entry("arc_timed_rw", Mode::SharedRecursive, true)]);
    }
    {
        let u = rw.try_upgradable_read_arc_until(until()).expect("free");
        assert_eq!(held(), [entry("arc_timed_rw", Mode::Shared, true)]);
        // A timed upgrade is an exclusive trylock made at the upgrade.
        let _w = ArcRwLockUpgradableReadGuard::try_upgrade_for(u, SHORT).expect("no readers");
        assert_eq!(held(), [entry("arc_timed_rw", Mode::Exclusive, true)]);
    }
    assert!(held().is_empty());
}

#[test]
fn a_timed_arc_lock_in_an_abba_order_is_not_reported_but_a_blocking_one_is() {
    silent();
    let a = Arc::new(Mutex::from_raw(RawMutex::named("arc_tabba_a"), ()));
    let b = Arc::new(Mutex::from_raw(RawMutex::named("arc_tabba_b"), ()));
    {
        let _a = a.lock_arc();
        let _b = b.try_lock_arc_for(SHORT).expect("free");
    }
    {
        let _b = b.lock_arc();
        let _a = a.try_lock_arc_until(Instant::now() + SHORT).expect("free");
    }
    // Neither timed acquisition is the target of a dependency.
    assert_no_reports(&["arc_tabba_a", "arc_tabba_b"]);
    {
        let _a = a.lock_arc();
        let _b = b.lock_arc();
    }
    {
        let _b = b.lock_arc();
        let _a = a.lock_arc();
    }
    let report = one_report(&["arc_tabba_a", "arc_tabba_b"]);
    assert_eq!(circular(&report).acquiring.name, "arc_tabba_a");
}

#[test]
fn unlocked_and_bump_release_and_retake_through_arc_guards() {
    silent();
    let m = Arc::new(Mutex::from_raw(RawMutex::named("arc_unlocked_m"), 0u32));
    let other = Mutex::from_raw(RawMutex::named("arc_unlocked_other"), ());
    let mut g = m.lock_arc();
    let inside = ArcMutexGuard::unlocked(&mut g, || (held(), m.is_locked()));
    assert_eq!(inside, (vec![], false));
    assert_eq!(held(), [entry("arc_unlocked_m", Mode::Exclusive, false)]);
    ArcMutexGuard::bump(&mut g);
    assert_eq!(held(), [entry("arc_unlocked_m", Mode::Exclusive, false)]);

    // The re-take is validated against what is held then: `other` taken
    // after `m`, then `m` taken back under `other`, closes a cycle.
    let _o = other.lock();
    ArcMutexGuard::unlocked(&mut g, || ());
    let report = one_report(&["arc_unlocked_m", "arc_unlocked_other"]);
    let c = circular(&report);
    assert_eq!(c.acquiring.name, "arc_unlocked_m");
    assert_eq!(c.holding.name, "arc_unlocked_other");

    // A read guard comes back as a plain shared acquisition.
    let rw = Arc::new(RwLock::from_raw(RawRwLock::named("arc_unlocked_rw"), ()));
    let mut r = rw.read_arc_recursive();
    ArcRwLockReadGuard::unlocked_fair(&mut r, || assert!(!rw.is_locked()));
    let modes: Vec<Mode> = lockdep::held_locks()
        .into_iter()
        .filter(|l| l.name == "arc_unlocked_rw")
        .map(|l| l.mode)
        .collect();
    assert_eq!(modes, [Mode::Shared]);
}

#[test]
fn a_reentrant_arc_guard_is_one_acquisition_per_owning_thread() {
    silent();
    let re = Arc::new(ReentrantMutex::from_raw(
        RawMutex::named("arc_levels_re"),
        RawThreadId::INIT,
        1u32,
    ));
    let outer = re.lock_arc();
    let inner = re.lock_arc();
    let borrowed = re.lock();
    assert_eq!(held(), [entry("arc_levels_re", Mode::Exclusive, false)]);
    // The guard that made the acquisition goes first: the thread still owns
    // the mutex, and so does the validator.
    drop(outer);
    assert_eq!(held(), [entry("arc_levels_re", Mode::Exclusive, false)]);
    drop(borrowed);
    assert_eq!(held().len(), 1);
    let back = ArcReentrantMutexGuard::into_arc(inner);
    assert!(held().is_empty());
    assert!(!back.is_locked());
    assert_no_reports(&["arc_levels_re"]);
}

/// Compiles only if `T` is not `Send` (the `Send` impl would make the
/// trait's type parameter ambiguous).
#[cfg(not(feature = "send_guard"))]
trait AmbiguousIfSend<A> {
    fn not_send() {}
}
#[cfg(not(feature = "send_guard"))]
impl<T: ?Sized> AmbiguousIfSend<()> for T {}
#[cfg(not(feature = "send_guard"))]
impl<T: ?Sized + Send> AmbiguousIfSend<u8> for T {}

/// Without `send_guard` (which makes them `Send`, as `parking_lot`'s).
#[cfg(not(feature = "send_guard"))]
#[test]
fn arc_guards_are_not_send() {
    <ArcMutexGuard<RawMutex, u32> as AmbiguousIfSend<_>>::not_send();
    <ArcRwLockReadGuard<RawRwLock, u32> as AmbiguousIfSend<_>>::not_send();
    <ArcRwLockWriteGuard<RawRwLock, u32> as AmbiguousIfSend<_>>::not_send();
    <ArcRwLockUpgradableReadGuard<RawRwLock, u32> as AmbiguousIfSend<_>>::not_send();
    <ArcReentrantMutexGuard<RawMutex, RawThreadId, u32> as AmbiguousIfSend<_>>::not_send();
}

#[test]
fn compiled_out_arc_guards_are_the_size_of_parking_lots_and_record_nothing() {
    use std::mem::size_of;
    assert_eq!(
        size_of::<lockdep_off::parking_lot::ArcMutexGuard<RawMutex, u64>>(),
        size_of::<parking_lot::ArcMutexGuard<RawMutex, u64>>()
    );
    assert_eq!(
        size_of::<lockdep_off::parking_lot::ArcRwLockWriteGuard<RawRwLock, u64>>(),
        size_of::<parking_lot::ArcRwLockWriteGuard<RawRwLock, u64>>()
    );
    let m = Arc::new(lockdep_off::parking_lot::Mutex::new(1));
    let rw = Arc::new(lockdep_off::parking_lot::RwLock::new(2));
    let g = m.lock_arc();
    let w = rw.write_arc();
    assert!(lockdep_off::held_locks().is_empty());
    let r = lockdep_off::parking_lot::ArcRwLockWriteGuard::downgrade(w);
    assert_eq!(*g + *r, 3);
    drop((g, r));
    assert!(!m.is_locked() && !rw.is_locked());
}
