//! The drop-in front ends, `lockdep::sync` (std-shaped) and
//! `lockdep::parking_lot`, primitive by primitive: each is validated with the
//! semantics it really has, and behaves like the type it replaces.
//!
//! As in `integration.rs`: every test uses classes of its own (names
//! starting `fe_<test>_`), sets the action to `Silent`, and finds its reports
//! by class name. Each path runs to completion before the next starts, so
//! nothing ever really deadlocks.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use lockdep::report::Problem;
use lockdep::Mode;

/// The mode of each lock the calling thread holds, outermost first.
fn held_modes() -> Vec<(String, Mode)> {
    lockdep::held_locks()
        .into_iter()
        .map(|l| (l.name, l.mode))
        .collect()
}

/// Runs `f`, which panics, without the panic going further. (The message is
/// printed; the test harness captures it.)
fn panics(f: impl FnOnce()) {
    let result = catch_unwind(AssertUnwindSafe(f));
    assert!(result.is_err(), "expected a panic");
}

// ---------------------------------------------------------------------------
// lockdep::sync
// ---------------------------------------------------------------------------

mod sync_front_end {
    use super::*;
    use lockdep::sync::{Condvar, LazyLock, Mutex, Once, OnceLock, RwLock, TryLockError};

    #[test]
    fn mutex_abba_is_reported() {
        silent();
        let a = Mutex::named("fe_sm_a", 1);
        let b = Mutex::named("fe_sm_b", 2);
        let names = ["fe_sm_a", "fe_sm_b"];
        on_thread("fe_sm_first", || {
            let ga = a.lock().unwrap();
            let gb = b.lock().unwrap();
            assert_eq!(*ga + *gb, 3);
        });
        assert_no_reports(&names);
        on_thread("fe_sm_second", || {
            let _b = b.lock().unwrap();
            let _a = a.lock().unwrap();
        });
        let report = one_report(&names);
        let c = circular(&report);
        assert_eq!(c.acquiring.name, "fe_sm_a");
        assert_eq!(c.acquiring.mode, Mode::Exclusive);
        assert_eq!(c.holding.name, "fe_sm_b");
        assert_eq!(report.thread.name, "fe_sm_second");
        // The acquisition site is the caller's, through the wrapper.
        let site = c.acquiring.at.as_ref().expect("a site");
        assert!(site.file.ends_with("front_ends.rs"), "{}", site.file);
    }

    #[test]
    fn unwind_safety_matches_std() {
        fn unwind_safe<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
        unwind_safe::<Mutex<std::cell::Cell<u8>>>();
        unwind_safe::<RwLock<std::cell::Cell<u8>>>();
        unwind_safe::<Condvar>();
        unwind_safe::<Once>();
        // So a lock can be used across catch_unwind as with std.
        let m = Mutex::named("fe_sunwind_m", 0);
        assert!(catch_unwind(|| *m.lock().unwrap() += 1).is_ok());
        assert_eq!(*m.lock().unwrap(), 1);
    }

    #[test]
    fn mutex_api_matches_std() {
        silent();
        let m = Mutex::named("fe_smapi_m", vec![1]);
        {
            let mut g = m.lock().unwrap();
            g.push(2);
            assert_eq!(held_names(), ["fe_smapi_m"]);
            assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
            assert_eq!(
                format!("{m:?}"),
                "Mutex { data: <locked>, poisoned: false, .. }"
            );
        }
        assert!(held_names().is_empty());
        assert_eq!(*m.try_lock().unwrap(), [1, 2]);
        assert_eq!(
            format!("{m:?}"),
            "Mutex { data: [1, 2], poisoned: false, .. }"
        );
        let mut m = m;
        m.get_mut().unwrap().push(3);
        assert_eq!(m.into_inner().unwrap(), [1, 2, 3]);
        static STATIC: Mutex<u32> = Mutex::new(5);
        assert_eq!(*STATIC.lock().unwrap(), 5);
        let d: Mutex<u8> = Mutex::default();
        assert_eq!(*d.lock().unwrap(), 0);
        assert_eq!(*Mutex::from(9).lock().unwrap(), 9);
    }

    #[test]
    fn a_panic_while_holding_a_mutex_poisons_it_and_the_held_stack_stays_consistent() {
        silent();
        let m = Mutex::named("fe_spoison_m", 0u32);
        let other = Mutex::named("fe_spoison_other", ());
        assert!(!m.is_poisoned());
        panics(|| {
            let _o = other.lock().unwrap();
            let mut g = m.lock().unwrap();
            *g = 1;
            panic!("while holding fe_spoison_m");
        });
        // Unwinding released both, in the validator and for real.
        assert!(held_names().is_empty());
        assert!(m.is_poisoned());
        // As in std, every guard dropped by the unwinding poisons its lock.
        assert!(other.is_poisoned());
        // lock() returns Err, whose into_inner is a working guard.
        let err = m.lock().unwrap_err();
        let mut g = err.into_inner();
        assert_eq!(*g, 1);
        *g = 2;
        assert_eq!(held_names(), ["fe_spoison_m"]);
        drop(g);
        assert!(held_names().is_empty());
        match m.try_lock() {
            Err(TryLockError::Poisoned(e)) => assert_eq!(*e.into_inner(), 2),
            other => panic!("expected Poisoned, got {:?}", other.map(|g| *g)),
        }
        assert!(held_names().is_empty());
        // No report: poisoning is not a locking problem.
        assert_no_reports(&["fe_spoison_m", "fe_spoison_other"]);
        m.clear_poison();
        assert!(!m.is_poisoned());
        assert_eq!(*m.lock().unwrap(), 2);
        // into_inner and get_mut see the poison too.
        panics(|| {
            let _g = m.lock().unwrap();
            panic!("again");
        });
        let mut m = m;
        assert_eq!(*m.get_mut().unwrap_err().into_inner(), 2);
        assert_eq!(m.into_inner().unwrap_err().into_inner(), 2);
    }

    #[test]
    fn poisoning_on_another_thread() {
        silent();
        let m = Arc::new(Mutex::named("fe_spoisont_m", 0));
        let m2 = m.clone();
        let joined = std::thread::spawn(move || {
            let _g = m2.lock().unwrap();
            panic!("thread dies holding the lock");
        })
        .join();
        assert!(joined.is_err());
        assert!(m.is_poisoned());
        assert!(m.lock().is_err());
        assert!(held_names().is_empty());
    }

    /// Takes `first` then `second` in the given modes (true = write).
    fn pair(first: (&RwLock<()>, bool), second: (&RwLock<()>, bool)) {
        let _g1 = if first.1 {
            (Some(first.0.write().unwrap()), None)
        } else {
            (None, Some(first.0.read().unwrap()))
        };
        let _g2 = if second.1 {
            (Some(second.0.write().unwrap()), None)
        } else {
            (None, Some(second.0.read().unwrap()))
        };
    }

    #[test]
    fn rwlock_read_read_in_both_orders_is_reported() {
        silent();
        let a = RwLock::named("fe_srr_a", ());
        let b = RwLock::named("fe_srr_b", ());
        let names = ["fe_srr_a", "fe_srr_b"];
        {
            let _a = a.read().unwrap();
            let _b = b.read().unwrap();
            assert_eq!(
                held_modes(),
                [
                    ("fe_srr_a".to_string(), Mode::Shared),
                    ("fe_srr_b".to_string(), Mode::Shared)
                ]
            );
        }
        assert_no_reports(&names);
        {
            // std's read is not recursive: with a writer waiting on each
            // lock, two threads doing these two orders hang.
            let _b = b.read().unwrap();
            let _a = a.read().unwrap();
        }
        let report = one_report(&names);
        let c = circular(&report);
        assert_eq!(c.acquiring.name, "fe_srr_a");
        assert_eq!(c.acquiring.mode, Mode::Shared);
        assert_eq!(c.holding.name, "fe_srr_b");
        assert_eq!(c.holding.mode, Mode::Shared);
        assert!(report.to_string().contains("rlock("), "{report}");
    }

    #[test]
    fn rwlock_write_and_read_combinations_are_reported() {
        silent();
        use lockdep::ClassKey;
        // Per case, two classes A and B (keys, so that locks built in the
        // loop below are of the case's classes), and the modes of
        // [A, B] in the first path and [B, A] in the second (true = write).
        // Every pair of paths takes them in opposite orders and can hang.
        static WW: [ClassKey; 2] = [ClassKey::new("fe_srw_ww_a"), ClassKey::new("fe_srw_ww_b")];
        static WR: [ClassKey; 2] = [ClassKey::new("fe_srw_wr_a"), ClassKey::new("fe_srw_wr_b")];
        static RW: [ClassKey; 2] = [ClassKey::new("fe_srw_rw_a"), ClassKey::new("fe_srw_rw_b")];
        static MIX: [ClassKey; 2] = [ClassKey::new("fe_srw_mix_a"), ClassKey::new("fe_srw_mix_b")];
        let cases: [(&[ClassKey; 2], [bool; 2], [bool; 2]); 4] = [
            (&WW, [true, true], [true, true]),
            (&WR, [true, false], [false, true]),
            (&RW, [false, true], [true, false]),
            (&MIX, [true, false], [true, false]),
        ];
        for (keys, first, second) in cases {
            let names = [keys[0].name(), keys[1].name()];
            let a = RwLock::with_key(&keys[0], ());
            let b = RwLock::with_key(&keys[1], ());
            pair((&a, first[0]), (&b, first[1]));
            assert_no_reports(&names);
            pair((&b, second[0]), (&a, second[1]));
            let report = one_report(&names);
            let c = circular(&report);
            assert_eq!(c.acquiring.name, names[0]);
            let expected = if second[1] {
                Mode::Exclusive
            } else {
                Mode::Shared
            };
            assert_eq!(c.acquiring.mode, expected, "{names:?}");
            assert_eq!(c.holding.name, names[1]);
        }
        assert!(held_names().is_empty());
    }

    #[test]
    fn rwlock_try_read_in_the_other_order_is_not_reported() {
        silent();
        let a = RwLock::named("fe_stry_a", ());
        let b = RwLock::named("fe_stry_b", ());
        {
            let _a = a.read().unwrap();
            let _b = b.read().unwrap();
        }
        {
            let _b = b.read().unwrap();
            let _a = a.try_read().unwrap();
            assert!(a.try_write().is_err());
        }
        assert_no_reports(&["fe_stry_a", "fe_stry_b"]);
    }

    #[test]
    fn rwlock_poisoning_follows_std() {
        silent();
        let l = RwLock::named("fe_srwpoison_l", 1);
        // A panicking reader does not poison.
        panics(|| {
            let _r = l.read().unwrap();
            panic!("reader");
        });
        assert!(!l.is_poisoned());
        assert!(held_names().is_empty());
        // A panicking writer does.
        panics(|| {
            let mut w = l.write().unwrap();
            *w = 2;
            panic!("writer");
        });
        assert!(l.is_poisoned());
        assert!(held_names().is_empty());
        let r = l.read().unwrap_err().into_inner();
        assert_eq!(*r, 2);
        assert_eq!(held_modes(), [("fe_srwpoison_l".to_string(), Mode::Shared)]);
        drop(r);
        let w = l.write().unwrap_err().into_inner();
        assert_eq!(
            held_modes(),
            [("fe_srwpoison_l".to_string(), Mode::Exclusive)]
        );
        let r = lockdep::sync::RwLockWriteGuard::downgrade(w);
        assert_eq!(held_modes(), [("fe_srwpoison_l".to_string(), Mode::Shared)]);
        assert!(matches!(l.try_write(), Err(TryLockError::WouldBlock)));
        drop(r);
        assert!(held_names().is_empty());
        l.clear_poison();
        assert_eq!(*l.read().unwrap(), 2);
        assert_eq!(l.into_inner().unwrap(), 2);
    }

    #[test]
    fn condvar_wait_timeout_and_wait_while_with_a_notifier() {
        silent();
        let pair = Arc::new((Mutex::named("fe_scv_m", 0u32), Condvar::named("fe_scv_cv")));
        // Nobody notifies: the wait times out, the mutex is held again after.
        {
            let (m, cv) = &*pair;
            let g = m.lock().unwrap();
            let start = Instant::now();
            let (g, result) = cv.wait_timeout(g, Duration::from_millis(20)).unwrap();
            assert!(result.timed_out());
            assert!(start.elapsed() >= Duration::from_millis(20));
            assert_eq!(held_names(), ["fe_scv_m"]);
            let (g, result) = cv
                .wait_timeout_while(g, Duration::from_millis(10), |v| *v == 0)
                .unwrap();
            assert!(result.timed_out());
            let (g, result) = cv
                .wait_timeout_while(g, Duration::from_millis(10), |_| false)
                .unwrap();
            assert!(!result.timed_out());
            drop(g);
        }
        assert!(held_names().is_empty());
        // A notifier thread sets the value step by step.
        let p = pair.clone();
        let notifier = std::thread::spawn(move || {
            let (m, cv) = &*p;
            for _ in 0..3 {
                std::thread::sleep(Duration::from_millis(5));
                *m.lock().unwrap() += 1;
                cv.notify_all();
            }
        });
        let (m, cv) = &*pair;
        let g = cv.wait_while(m.lock().unwrap(), |v| *v < 3).unwrap();
        assert_eq!(*g, 3);
        assert_eq!(held_names(), ["fe_scv_m"]);
        drop(g);
        notifier.join().unwrap();
        assert!(held_names().is_empty());
        assert_no_reports(&["fe_scv_m", "fe_scv_cv"]);
    }

    #[test]
    fn condvar_wait_under_a_lock_its_declared_notifier_takes_is_reported() {
        silent();
        let outer = Arc::new(Mutex::named("fe_scvd_outer", ()));
        let state = Arc::new(Mutex::named("fe_scvd_state", false));
        let cv = Arc::new(Condvar::named("fe_scvd_cv"));
        let (o, s, c) = (outer.clone(), state.clone(), cv.clone());
        on_thread("fe_scvd_notifier", move || {
            let _declared = c.notifier();
            let _o = o.lock().unwrap();
            *s.lock().unwrap() = true;
            c.notify_all();
        });
        assert_no_reports(&["fe_scvd_outer", "fe_scvd_cv"]);
        let _o = outer.lock().unwrap();
        let g = state.lock().unwrap();
        let (g, result) = cv.wait_timeout(g, Duration::from_millis(1)).unwrap();
        assert!(result.timed_out());
        assert!(*g);
        let report = one_report(&["fe_scvd_outer", "fe_scvd_cv"]);
        let c = circular(&report);
        assert_eq!(c.acquiring.name, "fe_scvd_cv");
        assert_eq!(c.holding.name, "fe_scvd_outer");
    }

    #[test]
    fn a_condvar_wait_reports_poisoning() {
        silent();
        let pair = Arc::new((Mutex::named("fe_scvp_m", false), Condvar::new()));
        let p = pair.clone();
        let t = std::thread::spawn(move || {
            let (m, cv) = &*p;
            let mut g = m.lock().unwrap();
            *g = true;
            cv.notify_all();
            panic!("the notifier dies holding the mutex");
        });
        let (m, cv) = &*pair;
        let mut g = match m.lock() {
            Ok(g) => g,
            Err(e) => e.into_inner(),
        };
        let mut poisoned = false;
        while !*g {
            g = match cv.wait(g) {
                Ok(g) => g,
                Err(e) => {
                    poisoned = true;
                    e.into_inner()
                }
            };
        }
        drop(g);
        assert!(t.join().is_err());
        assert!(poisoned || m.is_poisoned());
        assert!(m.lock().is_err());
        assert!(held_names().is_empty());
    }

    fn once_of_one_class() -> Once {
        Once::named("fe_sonce_once")
    }

    #[test]
    fn once_oncelock_lazylock() {
        silent();
        static INIT: Once = Once::new();
        let runs = AtomicUsize::new(0);
        INIT.call_once(|| {
            runs.fetch_add(1, Ordering::Relaxed);
        });
        INIT.call_once(|| {
            runs.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(runs.load(Ordering::Relaxed), 1);
        assert!(INIT.is_completed());

        let forced = Once::new();
        panics(|| forced.call_once(|| panic!("init fails")));
        let mut saw_poison = false;
        forced.call_once_force(|state| saw_poison = state.is_poisoned());
        assert!(saw_poison);
        assert!(forced.is_completed());

        static CELL: OnceLock<String> = OnceLock::new();
        assert_eq!(CELL.get_or_init(|| "x".into()), "x");
        static LAZY: LazyLock<usize> = LazyLock::new(|| 6 * 7);
        assert_eq!(*LAZY, 42);
        assert!(held_names().is_empty());
    }

    #[test]
    fn once_initializer_against_a_lock_is_reported() {
        silent();
        let config = Mutex::named("fe_sonce_config", 3);
        // The initializer takes the config lock.
        let first = once_of_one_class();
        first.call_once(|| assert_eq!(*config.lock().unwrap(), 3));
        assert_no_reports(&["fe_sonce_config", "fe_sonce_once"]);
        // Elsewhere, code holding the config lock runs an initializer of the
        // same kind: with another thread inside it, both hang.
        let second = once_of_one_class();
        {
            let _c = config.lock().unwrap();
            second.call_once(|| {});
        }
        let report = one_report(&["fe_sonce_config", "fe_sonce_once"]);
        let c = circular(&report);
        assert_eq!(c.acquiring.name, "fe_sonce_once");
        assert_eq!(c.holding.name, "fe_sonce_config");
    }
}

// ---------------------------------------------------------------------------
// lockdep::parking_lot
// ---------------------------------------------------------------------------

mod parking_lot_front_end {
    use super::*;
    use lockdep::parking_lot::{
        const_fair_mutex, const_mutex, const_reentrant_mutex, const_rwlock, Condvar, FairMutex,
        MappedMutexGuard, MappedRwLockReadGuard, MappedRwLockWriteGuard, Mutex, MutexGuard, Once,
        OnceState, ReentrantMutex, ReentrantMutexGuard, RwLock, RwLockReadGuard,
        RwLockUpgradableReadGuard, RwLockWriteGuard,
    };
    use lockdep::parking_lot::{
        lock_api::GetThreadId as _, RawFairMutex, RawMutex, RawRwLock, RawThreadId,
    };

    #[test]
    fn mutex_abba_is_reported() {
        silent();
        static A: Mutex<u32> = const_mutex(0);
        let b = Mutex::from_raw(RawMutex::named("fe_pm_b"), 0);
        {
            let _a = A.lock();
            let _b = b.lock();
        }
        {
            let _b = b.lock();
            let _a = A.lock();
        }
        let report = one_report(&["fe_pm_b"]);
        let c = circular(&report);
        assert_eq!(c.holding.name, "fe_pm_b");
        // A const_mutex's class is its call site.
        assert!(
            c.acquiring.name.contains("front_ends.rs"),
            "{}",
            c.acquiring.name
        );
    }

    #[test]
    fn rwlock_read_recursive_in_both_orders_is_not_reported() {
        silent();
        let a = RwLock::from_raw(RawRwLock::named("fe_prr_a"), 1);
        let b = RwLock::from_raw(RawRwLock::named("fe_prr_b"), 2);
        {
            let ra = a.read_recursive();
            let rb = b.read_recursive();
            assert_eq!(*ra + *rb, 3);
            assert_eq!(
                held_modes(),
                [
                    ("fe_prr_a".to_string(), Mode::SharedRecursive),
                    ("fe_prr_b".to_string(), Mode::SharedRecursive)
                ]
            );
        }
        {
            let _b = b.read_recursive();
            let _a = a.read_recursive();
        }
        // Also on two threads, several times.
        on_thread("fe_prr_t1", || {
            let _a = a.read_recursive();
            let _b = b.read_recursive();
        });
        on_thread("fe_prr_t2", || {
            let _b = b.read_recursive();
            let _a = a.read_recursive();
        });
        assert_no_reports(&["fe_prr_a", "fe_prr_b"]);
    }

    #[test]
    fn rwlock_plain_read_in_both_orders_is_reported() {
        silent();
        let a = RwLock::from_raw(RawRwLock::named("fe_prd_a"), ());
        let b = RwLock::from_raw(RawRwLock::named("fe_prd_b"), ());
        {
            let _a = a.read();
            let _b = b.read();
        }
        {
            let _b = b.read();
            let _a = a.read();
        }
        let report = one_report(&["fe_prd_a", "fe_prd_b"]);
        assert_eq!(circular(&report).acquiring.mode, Mode::Shared);
    }

    #[test]
    fn rwlock_upgradable_and_write() {
        silent();
        static L: RwLock<u32> = const_rwlock(0);
        let other = Mutex::from_raw(RawMutex::named("fe_pup_other"), ());
        let u = L.upgradable_read();
        let mut w = RwLockUpgradableReadGuard::upgrade(u);
        *w += 1;
        let r = RwLockWriteGuard::downgrade(w);
        assert_eq!(*r, 1);
        drop(r);
        {
            let _w = L.write();
            let _o = other.lock();
        }
        {
            let _o = other.lock();
            let _r = L.read_recursive();
        }
        // write -> other, other -> recursive read: a real cycle (the
        // recursive reader still waits for a writer that holds the lock).
        assert_eq!(reports_about(&["fe_pup_other"]).len(), 1);
    }

    #[test]
    fn fair_mutex_is_validated_like_a_mutex() {
        silent();
        static F: FairMutex<u32> = const_fair_mutex(1);
        let m = Mutex::from_raw(RawMutex::named("fe_pfair_m"), ());
        let f2 = Arc::new(FairMutex::from_raw(RawFairMutex::named("fe_pfair_f"), 0));
        // Works as a lock under contention.
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..100 {
                        *f2.lock() += 1;
                    }
                });
            }
        });
        assert_eq!(*f2.lock(), 400);
        assert!(f2.try_lock().is_some());
        assert_no_reports(&["fe_pfair_f"]);
        // And its order is checked.
        {
            let _f = f2.lock();
            let _m = m.lock();
            assert_eq!(
                held_modes(),
                [
                    ("fe_pfair_f".to_string(), Mode::Exclusive),
                    ("fe_pfair_m".to_string(), Mode::Exclusive)
                ]
            );
        }
        {
            let _m = m.lock();
            let _f = f2.lock();
        }
        let report = one_report(&["fe_pfair_f"]);
        assert_eq!(circular(&report).acquiring.name, "fe_pfair_f");
        assert_eq!(*F.lock(), 1);
    }

    #[test]
    fn reentrant_mutex_recursion_is_not_reported_and_is_one_entry() {
        silent();
        let r = ReentrantMutex::from_raw(
            RawMutex::named("fe_prec_r"),
            RawThreadId::INIT,
            std::cell::Cell::new(0),
        );
        let g1 = r.lock();
        let g2 = r.lock();
        let g3 = r.try_lock().expect("the owner may always re-lock");
        g3.set(g1.get() + 1);
        assert_eq!(g2.get(), 1);
        assert_eq!(held_names(), ["fe_prec_r"]);
        assert!(r.is_owned_by_current_thread());
        // Another thread cannot take it.
        std::thread::scope(|s| {
            s.spawn(|| assert!(r.try_lock().is_none()));
        });
        // Out of order: the first guard goes first; the validator keeps the
        // lock held until the last one is gone.
        drop(g1);
        assert_eq!(held_names(), ["fe_prec_r"]);
        drop(g3);
        assert_eq!(held_names(), ["fe_prec_r"]);
        assert!(r.is_locked());
        drop(g2);
        assert!(held_names().is_empty());
        assert!(!r.is_locked());
        assert_no_reports(&["fe_prec_r"]);
        assert!(lockdep::reports()
            .iter()
            .all(|rep| !matches!(&rep.problem, Problem::BadUnlockBalance { releasing } if releasing.name == "fe_prec_r")));
        // Usable again from another thread.
        std::thread::scope(|s| {
            s.spawn(|| {
                let g = r.lock();
                g.set(5);
                assert_eq!(held_names(), ["fe_prec_r"]);
            });
        });
        assert_eq!(r.lock().get(), 5);
    }

    #[test]
    fn reentrant_mutex_order_against_another_lock_is_checked() {
        silent();
        static R: ReentrantMutex<()> = const_reentrant_mutex(());
        let r = ReentrantMutex::from_raw(RawMutex::named("fe_preo_r"), RawThreadId::INIT, ());
        let m = Mutex::from_raw(RawMutex::named("fe_preo_m"), ());
        let names = ["fe_preo_r", "fe_preo_m"];
        // R, R again, then M: learns R -> M (once).
        {
            let _r1 = r.lock();
            let _r2 = r.lock();
            let _m = m.lock();
        }
        // M, then a recursive pair of R: re-locking is free, but the first
        // acquisition of R under M closes the cycle.
        {
            let _m = m.lock();
            let _r1 = r.lock();
            let _r2 = r.lock();
        }
        let report = one_report(&names);
        let c = circular(&report);
        assert_eq!(c.acquiring.name, "fe_preo_r");
        assert_eq!(c.holding.name, "fe_preo_m");
        // Holding M under R, the re-entrant R under M again is not a new
        // acquisition (and not another report).
        {
            let _r1 = r.lock();
            let _m = m.lock();
            let _r2 = r.lock();
            assert_eq!(held_names(), ["fe_preo_r", "fe_preo_m"]);
        }
        assert_eq!(reports_about(&names).len(), 1);
        drop(R.lock());
    }

    #[test]
    fn mapped_mutex_guards_release_both_in_the_validator_and_for_real() {
        silent();
        struct Pair {
            left: u32,
            right: Vec<u32>,
        }
        let m = Mutex::from_raw(
            RawMutex::named("fe_pmap_m"),
            Pair {
                left: 1,
                right: vec![],
            },
        );
        let mut left: MappedMutexGuard<'_, u32> = MutexGuard::map(m.lock(), |p| &mut p.left);
        *left += 1;
        assert_eq!(held_names(), ["fe_pmap_m"]);
        assert!(m.is_locked());
        assert!(m.try_lock().is_none(), "held through the mapped guard");
        drop(left);
        assert!(held_names().is_empty());
        assert!(!m.is_locked());
        assert_eq!(m.lock().left, 2);

        // try_map that declines gives the guard back, still held.
        let g = m.lock();
        let g = match MutexGuard::try_map(g, |p| p.right.first_mut()) {
            Ok(_) => panic!("the vector is empty"),
            Err(g) => g,
        };
        assert_eq!(held_names(), ["fe_pmap_m"]);
        // Re-mapping a mapped guard.
        let v = MutexGuard::map(g, |p| &mut p.right);
        let mut v = MappedMutexGuard::map(v, |v| v);
        v.push(7);
        let first = MappedMutexGuard::try_map(v, |v| v.first_mut())
            .ok()
            .unwrap();
        assert_eq!(*first, 7);
        assert_eq!(format!("{first:?} {first}"), "7 7");
        drop(first);
        assert!(held_names().is_empty());
        assert!(m.try_lock().is_some());
        assert_no_reports(&["fe_pmap_m"]);
    }

    #[test]
    fn a_mapped_guard_takes_part_in_ordering() {
        silent();
        let a = Mutex::from_raw(RawMutex::named("fe_pmapord_a"), (0u8, 0u8));
        let b = Mutex::from_raw(RawMutex::named("fe_pmapord_b"), ());
        {
            let _a = MutexGuard::map(a.lock(), |p| &mut p.0);
            let _b = b.lock();
        }
        {
            let _b = b.lock();
            let _a = MutexGuard::map(a.lock(), |p| &mut p.1);
        }
        let report = one_report(&["fe_pmapord_a", "fe_pmapord_b"]);
        assert_eq!(circular(&report).acquiring.name, "fe_pmapord_a");
        assert!(held_names().is_empty());
    }

    #[test]
    fn mapped_rwlock_guards_keep_their_mode() {
        silent();
        let l = RwLock::from_raw(RawRwLock::named("fe_prwmap_l"), (1u32, String::from("x")));
        {
            let r: MappedRwLockReadGuard<'_, u32> = RwLockReadGuard::map(l.read(), |p| &p.0);
            assert_eq!(*r, 1);
            assert_eq!(held_modes(), [("fe_prwmap_l".to_string(), Mode::Shared)]);
            let r2 = RwLockReadGuard::map(l.read_recursive(), |p| p.1.as_str());
            assert_eq!(&*r2, "x");
            assert_eq!(held_modes()[1].1, Mode::SharedRecursive);
            assert!(l.try_write().is_none());
            let r = MappedRwLockReadGuard::map(r, |v| v);
            assert!(MappedRwLockReadGuard::try_map(r, |_| None::<&u8>).is_err());
        }
        assert!(held_names().is_empty());
        assert!(!l.is_locked());
        {
            let mut w: MappedRwLockWriteGuard<'_, String> =
                RwLockWriteGuard::map(l.write(), |p| &mut p.1);
            w.push('y');
            assert_eq!(held_modes(), [("fe_prwmap_l".to_string(), Mode::Exclusive)]);
            assert!(l.is_locked_exclusive());
            assert!(l.try_read().is_none());
            let w = MappedRwLockWriteGuard::map(w, |s| s);
            drop(w);
            assert!(!l.is_locked());
            let w = RwLockWriteGuard::try_map(l.write(), |p| Some(&mut p.0));
            let mut w = w.ok().unwrap();
            *w += 1;
        }
        assert!(held_names().is_empty());
        assert!(!l.is_locked());
        assert_eq!(*l.read(), (2, "xy".to_string()));
        assert_no_reports(&["fe_prwmap_l"]);
    }

    #[test]
    fn mapped_reentrant_guards() {
        silent();
        let r = ReentrantMutex::from_raw(RawMutex::named("fe_premap_r"), RawThreadId::INIT, (1, 2));
        let outer = r.lock();
        let second: lockdep::parking_lot::MappedReentrantMutexGuard<'_, i32> =
            ReentrantMutexGuard::map(r.lock(), |p| &p.1);
        drop(outer);
        assert_eq!(*second, 2);
        assert_eq!(held_names(), ["fe_premap_r"]);
        drop(second);
        assert!(held_names().is_empty());
        assert!(!r.is_locked());
    }

    #[test]
    fn condvar_wait_for_and_wait_while_with_a_notifier() {
        silent();
        let pair = Arc::new((
            Mutex::from_raw(RawMutex::named("fe_pcv_m"), 0u32),
            Condvar::named("fe_pcv_cv"),
        ));
        {
            let (m, cv) = &*pair;
            let mut g = m.lock();
            assert!(cv.wait_for(&mut g, Duration::from_millis(10)).timed_out());
            assert!(cv
                .wait_until(&mut g, Instant::now() + Duration::from_millis(5))
                .timed_out());
            assert!(cv
                .wait_while_for(&mut g, |v| *v == 0, Duration::from_millis(5))
                .timed_out());
            assert!(!cv
                .wait_while_until(&mut g, |_| false, Instant::now())
                .timed_out());
            assert_eq!(held_names(), ["fe_pcv_m"]);
            assert!(m.is_locked());
        }
        assert!(held_names().is_empty());
        let p = pair.clone();
        let notifier = std::thread::spawn(move || {
            let (m, cv) = &*p;
            for _ in 0..3 {
                std::thread::sleep(Duration::from_millis(5));
                *m.lock() += 1;
                cv.notify_one();
            }
        });
        let (m, cv) = &*pair;
        let mut g = m.lock();
        cv.wait_while(&mut g, |v| *v < 3);
        assert_eq!(*g, 3);
        assert_eq!(held_names(), ["fe_pcv_m"]);
        drop(g);
        notifier.join().unwrap();
        assert_eq!(cv.notify_all(), 0);
        assert!(!cv.notify_one());
        assert_no_reports(&["fe_pcv_m", "fe_pcv_cv"]);
    }

    #[test]
    fn condvar_wait_under_a_lock_its_declared_notifier_takes_is_reported() {
        silent();
        let outer = Mutex::from_raw(RawMutex::named("fe_pcvd_outer"), ());
        let state = FairMutex::from_raw(RawFairMutex::named("fe_pcvd_state"), ());
        let cv = Condvar::named("fe_pcvd_cv");
        on_thread("fe_pcvd_notifier", || {
            let _declared = cv.notifier();
            let _o = outer.lock();
            cv.notify_all();
        });
        let _o = outer.lock();
        // A FairMutex guard works with the condvar too.
        let mut s = state.lock();
        assert!(cv.wait_for(&mut s, Duration::from_millis(1)).timed_out());
        let report = one_report(&["fe_pcvd_outer", "fe_pcvd_cv"]);
        assert_eq!(circular(&report).acquiring.name, "fe_pcvd_cv");
    }

    fn once_of_one_class() -> Once {
        Once::named("fe_ponce_once")
    }

    #[test]
    fn once_follows_parking_lot() {
        silent();
        static INIT: Once = Once::new();
        assert_eq!(INIT.state(), OnceState::New);
        let mut runs = 0;
        INIT.call_once(|| runs += 1);
        INIT.call_once(|| runs += 1);
        assert_eq!(runs, 1);
        assert!(INIT.state().done());

        let forced = Once::new();
        panics(|| forced.call_once(|| panic!("init fails")));
        assert!(forced.state().poisoned());
        // call_once on a poisoned Once panics, as parking_lot's does.
        panics(|| forced.call_once(|| {}));
        let mut seen = None;
        forced.call_once_force(|state| seen = Some(state));
        assert_eq!(seen, Some(OnceState::Poisoned));
        assert_eq!(forced.state(), OnceState::Done);
        assert!(held_names().is_empty());
        assert_eq!(format!("{forced:?}"), "Once { state: Done }");
    }

    #[test]
    fn once_initializer_against_a_lock_is_reported() {
        silent();
        let config = Mutex::from_raw(RawMutex::named("fe_ponce_config"), 3);
        let first = once_of_one_class();
        first.call_once(|| assert_eq!(*config.lock(), 3));
        assert_no_reports(&["fe_ponce_config", "fe_ponce_once"]);
        let second = once_of_one_class();
        {
            let _c = config.lock();
            second.call_once_force(|_| {});
        }
        let report = one_report(&["fe_ponce_config", "fe_ponce_once"]);
        let c = circular(&report);
        assert_eq!(c.acquiring.name, "fe_ponce_once");
        assert_eq!(c.holding.name, "fe_ponce_config");
    }
}

// ---------------------------------------------------------------------------
// Compiled out
// ---------------------------------------------------------------------------

mod compiled_out {
    use std::mem::size_of;

    #[test]
    fn new_wrappers_are_the_size_of_the_plain_locks() {
        assert_eq!(
            size_of::<lockdep_off::parking_lot::MappedMutexGuard<'static, u64>>(),
            size_of::<parking_lot::MappedMutexGuard<'static, u64>>()
        );
        assert_eq!(
            size_of::<lockdep_off::parking_lot::MappedRwLockWriteGuard<'static, u64>>(),
            size_of::<parking_lot::MappedRwLockWriteGuard<'static, u64>>()
        );
        assert_eq!(
            size_of::<lockdep_off::parking_lot::ReentrantMutex<u64>>(),
            size_of::<parking_lot::ReentrantMutex<u64>>()
        );
        assert_eq!(
            size_of::<lockdep_off::parking_lot::FairMutex<u64>>(),
            size_of::<parking_lot::FairMutex<u64>>()
        );
    }

    #[test]
    fn front_ends_work_compiled_out() {
        let m = lockdep_off::sync::Mutex::new(1);
        let r = std::panic::catch_unwind(|| {
            let _g = m.lock().unwrap();
            panic!("poison");
        });
        assert!(r.is_err());
        assert!(m.is_poisoned());
        let r = lockdep_off::parking_lot::ReentrantMutex::new(2);
        let (a, b) = (r.lock(), r.lock());
        assert_eq!(*a + *b, 4);
        drop((a, b));
        assert!(!r.is_locked());
        assert!(lockdep_off::held_locks().is_empty());
    }
}

/// Guards are not `Send` (a held lock belongs to its thread) but, like
/// `lock_api`'s and std's, they are `Sync` when the data is: code that lends
/// `&guard` to scoped threads migrates.
#[test]
fn guards_are_sync_when_the_data_is() {
    fn sync<T: Sync>(_: &T) {}
    let m = lockdep::Mutex::new(5u32);
    let rw = lockdep::RwLock::new(vec![1u32, 2, 3]);
    let std_m = lockdep::sync::Mutex::new(7u32);
    let re = lockdep::parking_lot::ReentrantMutex::new(9u32);
    {
        let g = m.lock();
        sync(&g);
        let r = rw.read();
        sync(&r);
        let s = std_m.lock().unwrap();
        sync(&s);
        let e = re.lock();
        sync(&e);
        let mapped = lockdep::parking_lot::RwLockReadGuard::map(rw.read_recursive(), |v| &v[1]);
        sync(&mapped);
        std::thread::scope(|scope| {
            let seen = scope.spawn(|| *g + r.iter().sum::<u32>() + *s + *e + *mapped);
            assert_eq!(seen.join().unwrap(), 5 + 6 + 7 + 9 + 2);
        });
        let names: Vec<String> = lockdep::held_locks().into_iter().map(|l| l.name).collect();
        assert_eq!(names.len(), 5, "all still held by this thread: {names:?}");
    }
    assert!(lockdep::held_locks().is_empty());
}
