//! The API that code migrated from `parking_lot` / `lock_api` and `std::sync`
//! expects: that it compiles unchanged against `lockdep::parking_lot` and
//! `lockdep::sync`, behaves the same, and is validated as the module docs
//! say (timed locks as trylocks, `unlocked` / `bump` as a release and a
//! validated re-take, `force_unlock` as a release, `OnceLock::wait` as
//! waiting for the initializer).
//!
//! As in the other test files: every test uses classes of its own (names
//! starting `api_<test>_`), sets the action to `Silent`, and finds its
//! reports by class name. Classes left unnamed (those of the migrated
//! programs) are named by their site in this file.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use lockdep::lock::MutexExt;
use lockdep::parking_lot::{
    lock_api::GetThreadId as _, RawFairMutex, RawMutex, RawRwLock, RawThreadId,
};
use lockdep::parking_lot::{
    FairMutex, MappedMutexGuard, Mutex, MutexGuard, ReentrantMutex, ReentrantMutexGuard, RwLock,
    RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard,
};
use lockdep::report::Problem;
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

/// Reports about classes built, unnamed, in this file: the migrated programs'.
fn reports_about_unnamed_classes_here() -> Vec<String> {
    lockdep::reports()
        .iter()
        .filter(|r| involved(r).iter().any(|n| n.contains("api_surface.rs")))
        .map(|r| r.to_string())
        .collect()
}

// ---------------------------------------------------------------------------
// Migration: the same source against the real crate and against lockdep
// ---------------------------------------------------------------------------

/// A program written against `parking_lot` 0.12 (and `lock_api` 0.4), using
/// the API this crate had been missing. Instantiated once with
/// `use parking_lot::..` and once with `use lockdep::parking_lot::..`: the
/// body is the same tokens, so if it compiles twice, migrating it only takes
/// the `use` line. It returns what it observed, to compare the two.
macro_rules! parking_lot_program {
    ($name:ident, $($krate:tt)+) => {
        mod $name {
            use $($krate)+::{
                FairMutex, FairMutexGuard, MappedMutexGuard, MappedReentrantMutexGuard,
                MappedRwLockReadGuard, MappedRwLockWriteGuard, Mutex, MutexGuard, ReentrantMutex,
                ReentrantMutexGuard, RwLock, RwLockReadGuard, RwLockUpgradableReadGuard,
                RwLockWriteGuard,
            };
            use lock_api::{RawMutex as _, RawRwLock as _};
            use std::time::{Duration, Instant};

            pub fn run() -> Vec<String> {
                let mut log = Vec::new();
                let short = Duration::from_millis(5);
                let soon = || Instant::now() + Duration::from_millis(5);

                // Mutex: constructors.
                let m: Mutex<u32> = Mutex::from(1);
                let raw = Mutex::from_raw(<$($krate)+::RawMutex as lock_api::RawMutex>::INIT, 2);
                let legacy = Mutex::const_new(<$($krate)+::RawMutex as lock_api::RawMutex>::INIT, 3);
                // (One guard at a time: every lock built in this macro is of
                // one class, its invocation site.)
                let first = *m.lock();
                let second = *raw.lock();
                let third = *legacy.lock();
                log.push(format!("{first} {second} {third}"));

                // Timed locks.
                let g = m.try_lock_for(short).expect("free");
                log.push(format!("held: {} {}", m.is_locked(), m.try_lock_for(short).is_none()));
                drop(g);
                log.push(format!("until: {:?}", m.try_lock_until(soon()).map(|g| *g)));

                // Guards given up for a while.
                let mut g = m.lock();
                let free = MutexGuard::unlocked(&mut g, || !m.is_locked());
                let free_fair = MutexGuard::unlocked_fair(&mut g, || m.try_lock().is_some());
                MutexGuard::bump(&mut g);
                *g += 10;
                let same = std::ptr::eq(MutexGuard::mutex(&g), &m);
                MutexGuard::unlock_fair(g);
                log.push(format!("unlocked: {free} {free_fair} {same} {}", m.is_locked()));

                // Mapped guards.
                let mapped = MutexGuard::map(m.lock(), |v| v);
                MappedMutexGuard::unlock_fair(mapped);
                let declined = MutexGuard::try_map_or_err(m.lock(), |_| Err::<&mut u32, _>("no"));
                let (g, why) = declined.err().expect("declined");
                let mapped = MappedMutexGuard::try_map_or_err(MutexGuard::map(g, |v| v), |v| {
                    Ok::<_, ()>(v)
                })
                .ok()
                .expect("mapped");
                log.push(format!("mapped: {why} {}", *mapped));
                drop(mapped);

                // Forced unlocks, raw access, leaking.
                std::mem::forget(m.lock());
                // SAFETY: this thread holds the lock through the forgotten guard.
                unsafe { m.force_unlock() };
                std::mem::forget(m.lock());
                // SAFETY: as above.
                unsafe { m.force_unlock_fair() };
                // SAFETY: only reads the raw lock's state.
                let raw_locked = unsafe { m.raw() }.is_locked();
                // SAFETY: no guard of `m` exists, nor any other thread.
                let value = unsafe { *m.data_ptr() };
                let leaked = MutexGuard::leak(m.lock());
                *leaked += 1;
                let leaked_locked = m.is_locked();
                // SAFETY: the leaked guard holds the lock; `leaked` is not used again.
                unsafe { m.force_unlock() };
                log.push(format!(
                    "forced: {raw_locked} {value} {leaked_locked} {}",
                    *m.lock()
                ));

                // FairMutex: bump and unlock_fair on its guard type.
                let fair = FairMutex::new(5);
                let mut g = fair.lock();
                FairMutexGuard::bump(&mut g);
                FairMutexGuard::unlock_fair(g);
                log.push(format!("fair: {}", fair.is_locked()));

                // RwLock: constructors and timed locks.
                let rw: RwLock<u32> = RwLock::from(1);
                let rw_raw =
                    RwLock::from_raw(<$($krate)+::RawRwLock as lock_api::RawRwLock>::INIT, 2);
                let first = *rw.read();
                let second = *rw_raw.read();
                log.push(format!("rw: {first} {second}"));
                {
                    let r1 = rw.try_read_for(short).expect("free");
                    let r2 = rw.try_read_until(soon()).expect("shared");
                    let r3 = rw.try_read_recursive_for(short).expect("recursive");
                    let r4 = rw.try_read_recursive_until(soon()).expect("recursive");
                    log.push(format!(
                        "readers: {} {} {}",
                        *r1 + *r2 + *r3 + *r4,
                        rw.is_locked_exclusive(),
                        rw.try_write_for(short).is_none()
                    ));
                }
                {
                    let w = rw.try_write_until(soon()).expect("free");
                    log.push(format!("writer: {} {}", rw.is_locked_exclusive(), rw.try_read_for(short).is_none()));
                    drop(w);
                    let mut w = rw.try_write_for(short).expect("free");
                    *w += 1;
                }
                {
                    let u = rw.try_upgradable_read_for(short).expect("free");
                    let u2 = rw.try_upgradable_read_until(soon());
                    log.push(format!("upgradable: {} {}", *u, u2.is_none()));
                    let mut w = RwLockUpgradableReadGuard::try_upgrade_for(u, short).ok().expect("no readers");
                    *w += 1;
                    let u = RwLockWriteGuard::downgrade_to_upgradable(w);
                    let w = RwLockUpgradableReadGuard::try_upgrade_until(u, soon()).ok().expect("no readers");
                    let mut u = RwLockWriteGuard::downgrade_to_upgradable(w);
                    u.with_upgraded(|v| *v += 1);
                    let tried = u.try_with_upgraded(|v| { *v += 1; *v });
                    let tried_for = u.try_with_upgraded_for(short, |v| { *v += 1; *v });
                    let tried_until = u.try_with_upgraded_until(soon(), |v| { *v += 1; *v });
                    log.push(format!("with_upgraded: {tried:?} {tried_for:?} {tried_until:?} {}", *u));
                }

                // RwLock guards given up for a while.
                {
                    let mut r = rw.read();
                    let free = RwLockReadGuard::unlocked(&mut r, || !rw.is_locked());
                    let free_fair = RwLockReadGuard::unlocked_fair(&mut r, || rw.try_write().is_some());
                    RwLockReadGuard::bump(&mut r);
                    let same = std::ptr::eq(RwLockReadGuard::rwlock(&r), &rw);
                    RwLockReadGuard::unlock_fair(r);
                    let mut w = rw.write();
                    let w_free = RwLockWriteGuard::unlocked(&mut w, || rw.try_read().is_some());
                    RwLockWriteGuard::unlocked_fair(&mut w, || ());
                    RwLockWriteGuard::bump(&mut w);
                    let w_same = std::ptr::eq(RwLockWriteGuard::rwlock(&w), &rw);
                    RwLockWriteGuard::unlock_fair(w);
                    let mut u = rw.upgradable_read();
                    let u_free = RwLockUpgradableReadGuard::unlocked(&mut u, || rw.try_write().is_some());
                    RwLockUpgradableReadGuard::unlocked_fair(&mut u, || ());
                    RwLockUpgradableReadGuard::bump(&mut u);
                    let u_same = std::ptr::eq(RwLockUpgradableReadGuard::rwlock(&u), &rw);
                    RwLockUpgradableReadGuard::unlock_fair(u);
                    log.push(format!(
                        "rw unlocked: {free} {free_fair} {same} {w_free} {w_same} {u_free} {u_same} {}",
                        rw.is_locked()
                    ));
                }

                // RwLock mapped guards.
                {
                    let (r, why) = RwLockReadGuard::try_map_or_err(rw.read(), |_| Err::<&u32, _>(1))
                        .err()
                        .expect("declined");
                    let mapped = RwLockReadGuard::map(r, |v| v);
                    let (mapped, why2) =
                        MappedRwLockReadGuard::try_map_or_else(mapped, |_| Err::<&u32, _>(2))
                            .err()
                            .expect("declined");
                    log.push(format!("mapped read: {why} {why2} {}", *mapped));
                    MappedRwLockReadGuard::unlock_fair(mapped);
                    let w = RwLockWriteGuard::try_map_or_err(rw.write(), |v| Ok::<_, ()>(v))
                        .ok()
                        .expect("mapped");
                    let w = MappedRwLockWriteGuard::try_map_or_err(w, |v| Ok::<_, ()>(v))
                        .ok()
                        .expect("mapped");
                    MappedRwLockWriteGuard::unlock_fair(w);
                }

                // RwLock forced unlocks and raw access.
                std::mem::forget(rw.read());
                // SAFETY: this thread holds a read lock through the forgotten guard.
                unsafe { rw.force_unlock_read() };
                std::mem::forget(rw.read());
                // SAFETY: as above.
                unsafe { rw.force_unlock_read_fair() };
                std::mem::forget(rw.write());
                // SAFETY: this thread holds the write lock through the forgotten guard.
                unsafe { rw.force_unlock_write() };
                std::mem::forget(rw.write());
                // SAFETY: as above.
                unsafe { rw.force_unlock_write_fair() };
                // SAFETY: only reads the raw lock's state.
                let raw_locked = unsafe { rw.raw() }.is_locked();
                // SAFETY: no guard of `rw` exists, nor any other thread.
                let value = unsafe { *rw.data_ptr() };
                log.push(format!("rw forced: {raw_locked} {value} {}", rw.is_locked()));

                // ReentrantMutex.
                let re = ReentrantMutex::new(7);
                {
                    let g1 = re.try_lock_for(short).expect("free");
                    let g2 = re.try_lock_until(soon()).expect("re-entrant");
                    log.push(format!("re: {} {}", *g1 + *g2, re.is_owned_by_current_thread()));
                }
                {
                    let mut g = re.lock();
                    let free = ReentrantMutexGuard::unlocked(&mut g, || !re.is_locked());
                    let free_fair = ReentrantMutexGuard::unlocked_fair(&mut g, || re.is_owned_by_current_thread());
                    ReentrantMutexGuard::bump(&mut g);
                    let same = std::ptr::eq(ReentrantMutexGuard::remutex(&g), &re);
                    ReentrantMutexGuard::unlock_fair(g);
                    let (g, why) = ReentrantMutexGuard::try_map_or_err(re.lock(), |_| Err::<&u32, _>("no"))
                        .err()
                        .expect("declined");
                    let mapped = ReentrantMutexGuard::map(g, |v| v);
                    let mapped = MappedReentrantMutexGuard::try_map_or_err(mapped, |v| Ok::<_, ()>(v))
                        .ok()
                        .expect("mapped");
                    MappedReentrantMutexGuard::unlock_fair(mapped);
                    log.push(format!("re unlocked: {free} {free_fair} {same} {why} {}", re.is_locked()));
                }
                std::mem::forget(re.lock());
                // SAFETY: this thread owns the mutex through the forgotten guard.
                unsafe { re.force_unlock() };
                std::mem::forget(re.lock());
                // SAFETY: as above.
                unsafe { re.force_unlock_fair() };
                // SAFETY: no guard of `re` exists, nor any other thread.
                let value = unsafe { *re.data_ptr() };
                log.push(format!("re forced: {value} {}", re.is_locked()));
                log
            }
        }
    };
}

parking_lot_program!(with_parking_lot, ::parking_lot);
parking_lot_program!(with_lockdep, ::lockdep::parking_lot);

#[test]
fn parking_lot_code_compiles_unchanged_and_behaves_the_same() {
    silent();
    let ours = with_lockdep::run();
    assert_eq!(ours, with_parking_lot::run());
    assert!(ours.len() > 15, "{ours:?}");
    assert!(held_names().is_empty(), "{:?}", held_names());
    let reports = reports_about_unnamed_classes_here();
    assert!(reports.is_empty(), "{}", reports.concat());
}

/// A program written against `std::sync`, using `OnceLock` and `Once` the
/// ways std allows. Instantiated with `use std::sync::..` and with
/// `use lockdep::sync::..`.
macro_rules! std_program {
    ($name:ident, $($krate:tt)+) => {
        mod $name {
            #[allow(unused_imports)]
            use $($krate)+::{Arc, Once, OnceLock};
            use std::panic::{RefUnwindSafe, UnwindSafe};

            fn unwind_safe<T: UnwindSafe + RefUnwindSafe>(_: &T) {}
            fn thread_safe<T: Send + Sync>(_: &T) {}

            /// Waiting for initializers on other threads.
            fn waits(log: &mut Vec<String>) {
                // Waiting for an initializer on another thread.
                let shared: Arc<OnceLock<u32>> = Arc::new(OnceLock::new());
                let init = {
                    let shared = Arc::clone(&shared);
                    std::thread::spawn(move || {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        shared.get_or_init(|| 42);
                    })
                };
                log.push(format!("waited: {}", shared.wait()));
                init.join().unwrap();
                log.push(format!("again: {}", shared.wait()));

                let once = Arc::new(Once::new());
                let init = {
                    let once = Arc::clone(&once);
                    std::thread::spawn(move || {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        once.call_once(|| {});
                    })
                };
                once.wait();
                once.wait_force();
                log.push(format!("once: {}", once.is_completed()));
                init.join().unwrap();
            }

            pub fn run() -> Vec<String> {
                let mut log = Vec::new();
                let empty: OnceLock<u32> = OnceLock::default();
                let five = OnceLock::from(5);
                log.push(format!("{empty:?} {five:?}"));
                log.push(format!(
                    "eq: {} {} {}",
                    five == OnceLock::from(5),
                    empty == OnceLock::new(),
                    five == empty
                ));
                let copy = five.clone();
                let empty_copy = empty.clone();
                log.push(format!("clone: {:?} {:?}", copy.get(), empty_copy.get()));
                unwind_safe(&five);
                thread_safe(&five);

                let mut cell = copy;
                *cell.get_mut().expect("set") += 1;
                log.push(format!("take: {:?} {:?}", cell.take(), cell.get()));
                log.push(format!("set: {:?} {:?}", cell.set(9), cell.set(10)));
                log.push(format!("init: {}", cell.get_or_init(|| 11)));
                log.push(format!("into_inner: {:?}", cell.into_inner()));

                waits(&mut log);
                log
            }
        }
    };
}

std_program!(with_std, ::std::sync);
std_program!(with_lockdep_sync, ::lockdep::sync);

#[test]
fn std_code_compiles_unchanged_and_behaves_the_same() {
    silent();
    let ours = with_lockdep_sync::run();
    assert_eq!(ours, with_std::run());
    assert_eq!(ours[0], "OnceLock(<uninit>) OnceLock(5)");
    assert!(ours.contains(&"waited: 42".to_string()), "{ours:?}");
    assert!(held_names().is_empty(), "{:?}", held_names());
    let reports = reports_about_unnamed_classes_here();
    assert!(reports.is_empty(), "{}", reports.concat());
}

// ---------------------------------------------------------------------------
// Timed locks are trylocks
// ---------------------------------------------------------------------------

#[test]
fn a_timed_lock_in_an_abba_order_is_not_reported_but_a_blocking_one_is() {
    silent();
    let a = Mutex::from_raw(RawMutex::named("api_timed_a"), ());
    let b = Mutex::from_raw(RawMutex::named("api_timed_b"), ());
    on_thread("api_timed_1", || {
        let _b = b.lock();
        let _a = a.try_lock_for(Duration::from_secs(5)).expect("free");
        assert_eq!(
            held(),
            [
                entry("api_timed_b", Mode::Exclusive, false),
                entry("api_timed_a", Mode::Exclusive, true)
            ]
        );
    });
    on_thread("api_timed_2", || {
        let _a = a.lock();
        let _b = b.lock();
    });
    on_thread("api_timed_3", || {
        let _b = b.lock();
        let _a = a.try_lock_until(Instant::now() + Duration::from_secs(5));
    });
    assert_no_reports(&["api_timed_a", "api_timed_b"]);

    // The same orders with a blocking lock: reported.
    let c = Mutex::from_raw(RawMutex::named("api_blocking_a"), ());
    let d = Mutex::from_raw(RawMutex::named("api_blocking_b"), ());
    on_thread("api_blocking_1", || {
        let _d = d.lock();
        let _c = c.lock();
    });
    on_thread("api_blocking_2", || {
        let _c = c.lock();
        let _d = d.lock();
    });
    let report = one_report(&["api_blocking_a", "api_blocking_b"]);
    let cycle = circular(&report);
    assert_eq!(cycle.acquiring.name, "api_blocking_b");
    assert_eq!(cycle.holding.name, "api_blocking_a");
}

#[test]
fn timed_rwlock_and_reentrant_locks_are_recorded_as_trylocks() {
    silent();
    let rw = RwLock::from_raw(RawRwLock::named("api_trw_rw"), 0);
    let other = Mutex::from_raw(RawMutex::named("api_trw_other"), ());
    let re = ReentrantMutex::from_raw(RawMutex::named("api_trw_re"), RawThreadId::INIT, ());
    let soon = || Instant::now() + SHORT;
    on_thread("api_trw_1", || {
        let _o = other.lock();
        {
            let _r = rw.try_read_for(SHORT).expect("free");
            let _rr = rw.try_read_recursive_until(soon()).expect("shared");
            assert_eq!(
                held()[1..],
                [
                    entry("api_trw_rw", Mode::Shared, true),
                    entry("api_trw_rw", Mode::SharedRecursive, true)
                ]
            );
        }
        {
            let _w = rw.try_write_until(soon()).expect("free");
            assert_eq!(held()[1], entry("api_trw_rw", Mode::Exclusive, true));
        }
        {
            let u = rw.try_upgradable_read_for(SHORT).expect("free");
            assert_eq!(held()[1], entry("api_trw_rw", Mode::Shared, true));
            let _w = RwLockUpgradableReadGuard::try_upgrade_for(u, SHORT).expect("no readers");
            assert_eq!(held()[1], entry("api_trw_rw", Mode::Exclusive, true));
        }
        {
            let _g = re.try_lock_until(soon()).expect("free");
            let _again = re.try_lock_for(SHORT).expect("re-entrant");
            // One entry for the owning thread, a trylock.
            assert_eq!(held()[1..], [entry("api_trw_re", Mode::Exclusive, true)]);
        }
    });
    // The other order, blocking: no cycle, since the timed ones were trylocks.
    on_thread("api_trw_2", || {
        let _w = rw.write();
        let _o = other.lock();
    });
    on_thread("api_trw_3", || {
        let _g = re.lock();
        let _o = other.lock();
    });
    assert_no_reports(&["api_trw_rw", "api_trw_other", "api_trw_re"]);
}

// ---------------------------------------------------------------------------
// unlocked, unlocked_fair, bump: a release and a validated re-take
// ---------------------------------------------------------------------------

#[test]
fn unlocked_releases_and_retakes_on_the_held_stack() {
    silent();
    let a = Mutex::from_raw(RawMutex::named("api_unl_a"), 1);
    let b = Mutex::from_raw(RawMutex::named("api_unl_b"), ());
    on_thread("api_unl", || {
        let mut ga = a.lock_nested(1);
        let _gb = b.lock();
        let seen = MutexGuard::unlocked(&mut ga, || {
            assert!(!a.is_locked());
            held()
        });
        assert_eq!(seen, [entry("api_unl_b", Mode::Exclusive, false)]);
        // Taken back on top, as the same subclass, blocking.
        assert_eq!(
            held(),
            [
                entry("api_unl_b", Mode::Exclusive, false),
                entry("api_unl_a/1", Mode::Exclusive, false)
            ]
        );
        assert!(a.is_locked());
        // (Taking `a` back under `b` reverses the order a -> b: reported,
        // which `a_cycle_closed_by_the_retake_of_unlocked_is_reported`
        // checks.)
        *ga += 1;
        let seen = MutexGuard::unlocked_fair(&mut ga, held);
        assert_eq!(seen, [entry("api_unl_b", Mode::Exclusive, false)]);
        assert_eq!(held().len(), 2);
    });
    assert_eq!(*a.lock(), 2);
    assert!(held_names().is_empty());
}

#[test]
fn a_cycle_closed_by_the_retake_of_unlocked_is_reported() {
    silent();
    let a = Mutex::from_raw(RawMutex::named("api_unlcyc_a"), ());
    let b = Mutex::from_raw(RawMutex::named("api_unlcyc_b"), ());
    on_thread("api_unlcyc_1", || {
        let _a = a.lock();
        let _b = b.lock();
    });
    assert_no_reports(&["api_unlcyc_a", "api_unlcyc_b"]);
    on_thread("api_unlcyc_2", || {
        let mut ga = a.lock();
        let _gb = b.lock();
        // Taking `a` back while holding `b`: b -> a, against a -> b.
        MutexGuard::unlocked(&mut ga, || ());
    });
    let report = one_report(&["api_unlcyc_a", "api_unlcyc_b"]);
    let cycle = circular(&report);
    assert_eq!(cycle.acquiring.name, "api_unlcyc_a");
    assert_eq!(cycle.holding.name, "api_unlcyc_b");
}

#[test]
fn unlocked_takes_the_lock_back_when_the_closure_panics() {
    silent();
    let m = Mutex::from_raw(RawMutex::named("api_unlpanic_m"), 0);
    let rw = RwLock::from_raw(RawRwLock::named("api_unlpanic_rw"), 0);
    let re = ReentrantMutex::from_raw(RawMutex::named("api_unlpanic_re"), RawThreadId::INIT, 0);
    on_thread("api_unlpanic", || {
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut g = m.lock();
            MutexGuard::unlocked(&mut g, || panic!("in unlocked"));
        }));
        assert!(result.is_err());
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut w = rw.write();
            RwLockWriteGuard::unlocked(&mut w, || panic!("in unlocked"));
        }));
        assert!(result.is_err());
        let result = catch_unwind(AssertUnwindSafe(|| {
            let mut g = re.lock();
            ReentrantMutexGuard::unlocked(&mut g, || panic!("in unlocked"));
        }));
        assert!(result.is_err());
        assert!(held().is_empty(), "{:?}", held());
        assert!(!m.is_locked() && !rw.is_locked() && !re.is_locked());
    });
    assert_no_reports(&["api_unlpanic_m", "api_unlpanic_rw", "api_unlpanic_re"]);
}

#[test]
fn rwlock_guards_retake_in_their_mode() {
    silent();
    let rw = RwLock::from_raw(RawRwLock::named("api_rwunl_rw"), 0);
    let other = Mutex::from_raw(RawMutex::named("api_rwunl_other"), ());
    on_thread("api_rwunl", || {
        let _o = other.lock();
        {
            // A recursive read comes back as a plain read: the raw lock is
            // taken back with `lock_shared`, as lock_api does.
            let mut r = rw.read_recursive();
            assert_eq!(
                held()[1],
                entry("api_rwunl_rw", Mode::SharedRecursive, false)
            );
            let seen = RwLockReadGuard::unlocked(&mut r, || (held(), rw.is_locked()));
            assert_eq!(
                seen,
                (
                    vec![entry("api_rwunl_other", Mode::Exclusive, false)],
                    false
                )
            );
            assert_eq!(held()[1], entry("api_rwunl_rw", Mode::Shared, false));
            RwLockReadGuard::bump(&mut r);
            assert_eq!(held()[1], entry("api_rwunl_rw", Mode::Shared, false));
        }
        {
            let mut w = rw.write();
            let seen = RwLockWriteGuard::unlocked_fair(&mut w, || held().len());
            assert_eq!(seen, 1);
            assert_eq!(held()[1], entry("api_rwunl_rw", Mode::Exclusive, false));
            RwLockWriteGuard::bump(&mut w);
            assert_eq!(held()[1], entry("api_rwunl_rw", Mode::Exclusive, false));
        }
        {
            let mut u = rw.upgradable_read();
            let seen = RwLockUpgradableReadGuard::unlocked(&mut u, || rw.try_write().is_some());
            assert!(seen);
            assert_eq!(held()[1], entry("api_rwunl_rw", Mode::Shared, false));
            RwLockUpgradableReadGuard::bump(&mut u);
            assert_eq!(held()[1], entry("api_rwunl_rw", Mode::Shared, false));
            let w = RwLockUpgradableReadGuard::upgrade(u);
            assert_eq!(held()[1], entry("api_rwunl_rw", Mode::Exclusive, false));
            drop(w);
        }
        assert_eq!(held().len(), 1);
    });
    assert!(!rw.is_locked());
    assert_no_reports(&["api_rwunl_rw", "api_rwunl_other"]);
}

#[test]
fn bump_is_a_release_and_a_validated_retake() {
    silent();
    let a = Mutex::from_raw(RawMutex::named("api_bump_a"), ());
    let b = Mutex::from_raw(RawMutex::named("api_bump_b"), ());
    let fair = FairMutex::from_raw(RawFairMutex::named("api_bump_fair"), ());
    on_thread("api_bump_1", || {
        let _a = a.lock();
        let _b = b.lock();
    });
    on_thread("api_bump_2", || {
        let mut ga = a.lock();
        let _gb = b.lock();
        // Another thread may get `a` meanwhile, and this one waits for it
        // while holding `b`: the ABBA is real, and reported.
        MutexGuard::bump(&mut ga);
        assert_eq!(
            held(),
            [
                entry("api_bump_b", Mode::Exclusive, false),
                entry("api_bump_a", Mode::Exclusive, false)
            ]
        );
        let mut gf = fair.lock();
        lockdep::parking_lot::FairMutexGuard::bump(&mut gf);
        assert_eq!(held()[2], entry("api_bump_fair", Mode::Exclusive, false));
    });
    let report = one_report(&["api_bump_a", "api_bump_b"]);
    let cycle = circular(&report);
    assert_eq!(cycle.acquiring.name, "api_bump_a");
    assert_eq!(cycle.holding.name, "api_bump_b");
    assert!(!a.is_locked() && !fair.is_locked());
}

#[test]
fn reentrant_unlocked_gives_up_only_the_last_level() {
    silent();
    let re = ReentrantMutex::from_raw(RawMutex::named("api_reunl_re"), RawThreadId::INIT, ());
    let m = Mutex::from_raw(RawMutex::named("api_reunl_m"), ());
    on_thread("api_reunl_1", || {
        let outer = re.lock();
        let mut inner = re.lock();
        // Still owned through `outer`: nothing changes in the validator.
        let seen =
            ReentrantMutexGuard::unlocked(&mut inner, || (re.is_owned_by_current_thread(), held()));
        assert_eq!(
            seen,
            (true, vec![entry("api_reunl_re", Mode::Exclusive, false)])
        );
        ReentrantMutexGuard::bump(&mut inner);
        assert_eq!(held(), [entry("api_reunl_re", Mode::Exclusive, false)]);
        drop(outer);
        // Now `inner` holds the last level (and the record, orphaned by `outer`).
        assert_eq!(held(), [entry("api_reunl_re", Mode::Exclusive, false)]);
        let _m = m.lock();
        let seen =
            ReentrantMutexGuard::unlocked(&mut inner, || (re.is_owned_by_current_thread(), held()));
        assert_eq!(
            seen,
            (false, vec![entry("api_reunl_m", Mode::Exclusive, false)])
        );
        // Taken back under `m`: m -> re, against re -> m when `m` was
        // taken: reported at the re-take.
        assert_eq!(
            held(),
            [
                entry("api_reunl_m", Mode::Exclusive, false),
                entry("api_reunl_re", Mode::Exclusive, false)
            ]
        );
    });
    let report = one_report(&["api_reunl_re", "api_reunl_m"]);
    let cycle = circular(&report);
    assert_eq!(cycle.acquiring.name, "api_reunl_re");
    assert_eq!(cycle.holding.name, "api_reunl_m");
    assert!(!re.is_locked());
}

#[test]
fn with_upgraded_is_an_upgrade_then_a_downgrade() {
    silent();
    let rw = RwLock::from_raw(RawRwLock::named("api_withup_rw"), 0);
    let m = Mutex::from_raw(RawMutex::named("api_withup_m"), ());
    on_thread("api_withup", || {
        let mut u = rw.upgradable_read();
        let _m = m.lock();
        let seen = u.with_upgraded(|v| {
            *v += 1;
            held()
        });
        assert_eq!(
            seen,
            [
                entry("api_withup_m", Mode::Exclusive, false),
                entry("api_withup_rw", Mode::Exclusive, false)
            ]
        );
        assert_eq!(held()[1], entry("api_withup_rw", Mode::Shared, false));
        let seen = u.try_with_upgraded(|v| {
            *v += 1;
            held()[1].clone()
        });
        assert_eq!(seen, Some(entry("api_withup_rw", Mode::Exclusive, true)));
        assert_eq!(held()[1], entry("api_withup_rw", Mode::Shared, true));
        // A reader elsewhere makes the timed upgrade fail: nothing changes.
        let reader = std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::channel();
            let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
            let rw = &rw;
            let t = s.spawn(move || {
                let _r = rw.read();
                tx.send(()).unwrap();
                done_rx.recv().unwrap();
            });
            rx.recv().unwrap();
            let r = u.try_with_upgraded_for(SHORT, |v| *v);
            done_tx.send(()).unwrap();
            t.join().unwrap();
            r
        });
        assert_eq!(reader, None);
        assert_eq!(held()[1], entry("api_withup_rw", Mode::Shared, true));
        assert_eq!(*u, 2);
    });
    assert!(!rw.is_locked());
    // The upgrade waits for readers while `m` is held, and `m` was taken
    // under the upgradable read: reported at the upgrade.
    let report = one_report(&["api_withup_rw", "api_withup_m"]);
    let cycle = circular(&report);
    assert_eq!(cycle.acquiring.name, "api_withup_rw");
    assert_eq!(cycle.acquiring.mode, Mode::Exclusive);
    assert_eq!(cycle.holding.name, "api_withup_m");
}

// ---------------------------------------------------------------------------
// unlock_fair, leak, force_unlock
// ---------------------------------------------------------------------------

#[test]
fn unlock_fair_releases_like_a_drop() {
    silent();
    let m = Mutex::from_raw(RawMutex::named("api_fair_m"), 0);
    let rw = RwLock::from_raw(RawRwLock::named("api_fair_rw"), 0);
    let re = ReentrantMutex::from_raw(RawMutex::named("api_fair_re"), RawThreadId::INIT, 0);
    on_thread("api_fair", || {
        MutexGuard::unlock_fair(m.lock());
        MappedMutexGuard::unlock_fair(MutexGuard::map(m.lock(), |v| v));
        RwLockReadGuard::unlock_fair(rw.read());
        RwLockWriteGuard::unlock_fair(rw.write());
        RwLockUpgradableReadGuard::unlock_fair(rw.upgradable_read());
        lockdep::parking_lot::MappedRwLockReadGuard::unlock_fair(RwLockReadGuard::map(
            rw.read(),
            |v| v,
        ));
        lockdep::parking_lot::MappedRwLockWriteGuard::unlock_fair(RwLockWriteGuard::map(
            rw.write(),
            |v| v,
        ));
        let outer = re.lock();
        ReentrantMutexGuard::unlock_fair(re.lock());
        assert_eq!(held(), [entry("api_fair_re", Mode::Exclusive, false)]);
        ReentrantMutexGuard::unlock_fair(outer);
        assert!(held().is_empty(), "{:?}", held());
        assert!(!m.is_locked() && !rw.is_locked() && !re.is_locked());
    });
    assert_no_reports(&["api_fair_m", "api_fair_rw", "api_fair_re"]);
}

#[test]
fn force_unlock_leaves_the_held_stack_empty() {
    silent();
    let m = Mutex::from_raw(RawMutex::named("api_force_m"), 0);
    let rw = RwLock::from_raw(RawRwLock::named("api_force_rw"), 0);
    let re = ReentrantMutex::from_raw(RawMutex::named("api_force_re"), RawThreadId::INIT, 0);
    on_thread("api_force", || {
        std::mem::forget(m.lock());
        assert_eq!(held(), [entry("api_force_m", Mode::Exclusive, false)]);
        // SAFETY: this thread holds the lock through the forgotten guard.
        unsafe { m.force_unlock() };
        assert!(held().is_empty());
        assert!(!m.is_locked());

        std::mem::forget(rw.read());
        std::mem::forget(rw.read_recursive());
        assert_eq!(held().len(), 2);
        // SAFETY: this thread holds two read locks through forgotten guards.
        unsafe { rw.force_unlock_read() };
        assert_eq!(held(), [entry("api_force_rw", Mode::Shared, false)]);
        // SAFETY: as above, the second one.
        unsafe { rw.force_unlock_read_fair() };
        std::mem::forget(rw.write());
        // SAFETY: this thread holds the write lock through the forgotten guard.
        unsafe { rw.force_unlock_write() };
        std::mem::forget(rw.write());
        // SAFETY: as above.
        unsafe { rw.force_unlock_write_fair() };
        assert!(held().is_empty());
        assert!(!rw.is_locked());

        // A re-entrant mutex: the last level releases.
        std::mem::forget(re.lock());
        // SAFETY: this thread owns the mutex through the forgotten guard.
        unsafe { re.force_unlock() };
        assert!(held().is_empty());
        assert!(!re.is_locked());
        // The forgotten guard made the record, and another level remains:
        // the release comes with that level.
        let first = re.lock();
        let second = re.lock();
        std::mem::forget(first);
        // SAFETY: as above, for the first level.
        unsafe { re.force_unlock_fair() };
        assert_eq!(held(), [entry("api_force_re", Mode::Exclusive, false)]);
        drop(second);
        assert!(held().is_empty(), "{:?}", held());
        assert!(!re.is_locked());

        // Leaking keeps the lock held, in the validator too.
        let leaked = MutexGuard::leak(m.lock());
        *leaked += 1;
        assert_eq!(held(), [entry("api_force_m", Mode::Exclusive, false)]);
        // SAFETY: the leaked guard holds the lock; `leaked` is not used again.
        unsafe { m.force_unlock() };
        assert!(held().is_empty());
    });
    assert_eq!(*m.lock(), 1);
    assert_no_reports(&["api_force_m", "api_force_rw", "api_force_re"]);
}

/// `raw` is the tracked raw lock (`lock_api`'s `raw` over it): a lock
/// taken through it is validated and recorded like `lock`, and
/// `force_unlock` releases it. (No lock can be taken behind the
/// validator's back any more, so a bad unlock balance comes only from
/// `LockMap::release`.)
#[test]
fn locking_through_raw_is_validated_and_force_unlock_releases_it() {
    use lock_api::RawMutex as _;
    silent();
    let m = Mutex::from_raw(RawMutex::named("api_badforce_m"), ());
    on_thread("api_badforce", || {
        // SAFETY: the raw lock is unlocked by `force_unlock` below.
        unsafe { m.raw() }.lock();
        assert_eq!(held(), [entry("api_badforce_m", Mode::Exclusive, false)]);
        // SAFETY: this thread holds the raw lock, and no guard exists.
        unsafe { m.force_unlock() };
        assert!(!m.is_locked());
        assert!(held().is_empty());
    });
    assert_no_reports(&["api_badforce_m"]);
}

// ---------------------------------------------------------------------------
// OnceLock::wait
// ---------------------------------------------------------------------------

mod once_wait {
    use super::*;
    use lockdep::sync::{Once, OnceLock};

    fn cell_of_one_class() -> OnceLock<u32> {
        OnceLock::named("api_wait_cell")
    }

    #[test]
    fn wait_returns_once_an_initializer_on_another_thread_is_done() {
        silent();
        let cell = OnceLock::named("api_waitok_cell");
        let m = Mutex::from_raw(RawMutex::named("api_waitok_m"), ());
        std::thread::scope(|s| {
            let started = Instant::now();
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(30));
                cell.get_or_init(|| 7);
            });
            assert_eq!(*cell.wait(), 7);
            assert!(started.elapsed() >= Duration::from_millis(20));
            assert!(held().is_empty());
        });
        // Initialized: `wait` touches nothing, even under a lock.
        let _m = m.lock();
        assert_eq!(*cell.wait(), 7);
        assert_no_reports(&["api_waitok_cell", "api_waitok_m"]);
    }

    #[test]
    fn waiting_under_a_lock_the_initializer_takes_is_reported() {
        silent();
        let l = Mutex::from_raw(RawMutex::named("api_wait_l"), ());
        // An initializer of the class takes `l`: cell -> l.
        let first = cell_of_one_class();
        first.get_or_init(|| {
            let _l = l.lock();
            1
        });
        assert_no_reports(&["api_wait_cell", "api_wait_l"]);
        // A waiter holds `l` while waiting for a cell of that class, which
        // another thread initializes (without `l`, so this run completes):
        // l -> cell, the cycle a real initializer taking `l` would hang on.
        let second = cell_of_one_class();
        let start = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            let guard = l.lock();
            s.spawn(|| {
                start.wait();
                // Time for the waiter to reach `wait` (a cell already set
                // would not be waited for).
                std::thread::sleep(Duration::from_millis(50));
                second.set(2).unwrap();
            });
            start.wait();
            assert_eq!(*second.wait(), 2);
            drop(guard);
        });
        let report = one_report(&["api_wait_cell", "api_wait_l"]);
        let cycle = circular(&report);
        assert_eq!(cycle.acquiring.name, "api_wait_cell");
        assert_eq!(cycle.holding.name, "api_wait_l");
    }

    #[test]
    fn once_wait_is_validated_like_call_once() {
        silent();
        fn once_of_one_class() -> Once {
            Once::named("api_oncewait_once")
        }
        let l = Mutex::from_raw(RawMutex::named("api_oncewait_l"), ());
        once_of_one_class().call_once(|| drop(l.lock()));
        let second = once_of_one_class();
        let start = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            let guard = l.lock();
            s.spawn(|| {
                start.wait();
                std::thread::sleep(Duration::from_millis(50));
                second.call_once(|| {});
            });
            start.wait();
            second.wait_force();
            second.wait();
            drop(guard);
        });
        let report = one_report(&["api_oncewait_once", "api_oncewait_l"]);
        assert_eq!(circular(&report).acquiring.name, "api_oncewait_once");
    }
}

#[test]
fn a_clone_of_a_cell_is_of_its_class() {
    silent();
    let l = Mutex::from_raw(RawMutex::named("api_clone_l"), ());
    let original = lockdep::sync::OnceLock::<u32>::named("api_clone_cell");
    let copy = original.clone();
    original.get_or_init(|| {
        let _l = l.lock();
        1
    });
    assert_eq!(copy.get(), None);
    {
        let _l = l.lock();
        copy.get_or_init(|| 2);
    }
    let report = one_report(&["api_clone_cell", "api_clone_l"]);
    assert_eq!(circular(&report).acquiring.name, "api_clone_cell");
    assert_eq!(copy.get(), Some(&2));
}

// ---------------------------------------------------------------------------
// The contract methods on every front end
// ---------------------------------------------------------------------------

#[test]
fn sync_and_reentrant_locks_have_the_contract_methods() {
    silent();
    let m = lockdep::sync::Mutex::named("api_contract_m", 0);
    let rw = lockdep::sync::RwLock::named("api_contract_rw", 0);
    let re = lockdep::ReentrantMutex::named("api_contract_re", 0);
    on_thread("api_contract", || {
        m.assert_not_held();
        rw.assert_not_held();
        re.assert_not_held();
        let g = m.lock().unwrap();
        let r = rw.read().unwrap();
        let e = re.lock();
        m.assert_held();
        rw.assert_held();
        re.assert_held();
        {
            let _pins = (m.pin(), rw.pin(), re.pin());
        }
        drop((g, r, e));
    });
    assert_no_reports(&["api_contract_m", "api_contract_rw", "api_contract_re"]);

    // And they report.
    let m = lockdep::sync::Mutex::named("api_contract2_m", 0);
    let rw = lockdep::sync::RwLock::named("api_contract2_rw", 0);
    let re = lockdep::ReentrantMutex::named("api_contract2_re", 0);
    on_thread("api_contract2", || {
        m.assert_held();
        let w = rw.write().unwrap();
        rw.assert_not_held();
        drop(w);
        let g = re.lock();
        let pin = re.pin();
        drop(g);
        drop(pin);
    });
    let assertion = |name: &str, held: bool| {
        let report = one_report(&[name]);
        match &report.problem {
            Problem::AssertionFailed {
                lock,
                expected_held,
            } => {
                assert_eq!(lock.name, name);
                assert_eq!(*expected_held, held);
            }
            other => panic!("expected a failed assertion, got {other:?}"),
        }
    };
    assertion("api_contract2_m", true);
    assertion("api_contract2_rw", false);
    let report = one_report(&["api_contract2_re"]);
    assert!(
        matches!(report.problem, Problem::PinnedLockReleased { .. }),
        "{report}"
    );
}

#[test]
fn generic_constructors_and_accessors() {
    silent();
    let m: Mutex<Vec<u32>> = vec![1].into();
    let rw: RwLock<u32> = RwLock::from(2);
    let raw = Mutex::from_raw(<RawMutex as lock_api::RawMutex>::INIT, 3);
    // SAFETY: no guard of `m` exists, nor any other thread.
    unsafe { (*m.data_ptr()).push(2) };
    assert_eq!(*m.lock(), [1, 2]);
    assert_eq!(*rw.read() + *raw.lock(), 5);
    // A mutex built from a raw one is of its call site's class, validated.
    {
        let _g = raw.lock();
        let names = held_names();
        assert_eq!(names.len(), 1);
        assert!(names[0].contains("api_surface.rs"), "{names:?}");
    }
    let re = ReentrantMutex::from_raw(RawMutex::named("api_ctor_re"), RawThreadId::INIT, 4);
    assert!(!re.is_owned_by_current_thread());
    let g = re.lock();
    assert!(re.is_owned_by_current_thread());
    drop(g);
    let shared = Arc::new(Mutex::from_raw(RawMutex::named("api_ctor_shared"), 0));
    let other = Arc::clone(&shared);
    std::thread::spawn(move || *other.lock() += 1)
        .join()
        .unwrap();
    assert_eq!(*shared.lock(), 1);
}
