//! Integration tests of the validator through the public API.
//!
//! All tests of this binary run as threads of one process and share the
//! validator's graph and report log. Each test therefore uses classes of its
//! own (names starting `it_<test>_`), sets the action to `Silent`, and finds
//! its reports by class name. Every path runs to completion before the next
//! starts, so nothing ever really deadlocks.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use common::*;
use lockdep::report::Problem;
use lockdep::{Active, ClassKey, LockMap, Mode, Mutex, Work, WorkQueue};

// ---------------------------------------------------------------------------
// 1. ABBA
// ---------------------------------------------------------------------------

#[test]
fn abba_on_two_threads_is_reported_once() {
    silent();
    static A: Mutex<u32> = Mutex::named("it_abba2t_a", 0);
    static B: Mutex<u32> = Mutex::named("it_abba2t_b", 0);
    static X: Mutex<u32> = Mutex::named("it_abba2t_x", 0);
    let names = ["it_abba2t_a", "it_abba2t_b", "it_abba2t_x"];

    on_thread("it_abba2t_first", || {
        let _a = A.lock();
        let _b = B.lock();
    });
    assert_no_reports(&names);

    on_thread("it_abba2t_second", || {
        let _b = B.lock();
        let _a = A.lock();
    });
    let report = one_report(&names);
    assert_eq!(
        report.title(),
        "possible circular locking dependency detected"
    );
    assert_eq!(
        report.thread.name, "it_abba2t_second",
        "raised on the acquiring thread"
    );
    let c = circular(&report);
    assert_eq!(c.acquiring.name, "it_abba2t_a");
    assert_eq!(c.acquiring.mode, Mode::Exclusive);
    assert!(!c.acquiring.trylock);
    assert_eq!(c.holding.name, "it_abba2t_b");
    assert_eq!(c.chain_names(), ["it_abba2t_b", "it_abba2t_a"]);
    assert_eq!(c.chain[0].dependency, "EN");
    assert_eq!(c.chain[1].dependency, "EN");
    assert_eq!(report.class_names(), ["it_abba2t_b", "it_abba2t_a"]);
    let held: Vec<_> = report.held.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(held, ["it_abba2t_b"]);
    let text = report.to_string();
    assert!(
        text.contains("WARNING: possible circular locking dependency detected"),
        "{text}"
    );
    assert!(text.contains("-> #1 (it_abba2t_b)"), "{text}");
    assert!(text.contains("-> #0 (it_abba2t_a)"), "{text}");
    assert!(!text.contains("Chain exists of:"), "{text}");

    // The bad order again: on a third thread, on this thread, and inside a
    // longer chain. Still one report.
    on_thread("it_abba2t_third", || {
        let _b = B.lock();
        let _a = A.lock();
    });
    for _ in 0..3 {
        let _b = B.lock();
        let _a = A.lock();
    }
    {
        let _x = X.lock();
        let _b = B.lock();
        let _a = A.lock();
    }
    {
        let _a = A.lock();
        let _b = B.lock();
    }
    assert_eq!(
        reports_about(&names).len(),
        1,
        "each cycle is reported once"
    );
}

#[test]
fn abba_on_one_thread() {
    silent();
    let a = Mutex::named("it_abba1t_a", ());
    let b = Mutex::named("it_abba1t_b", ());
    let names = ["it_abba1t_a", "it_abba1t_b"];
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    assert_no_reports(&names);
    {
        let _b = b.lock();
        let _a = a.lock();
    }
    let report = one_report(&names);
    let c = circular(&report);
    assert_eq!(c.acquiring.name, "it_abba1t_a");
    assert_eq!(c.holding.name, "it_abba1t_b");
    assert_eq!(c.chain_names(), ["it_abba1t_b", "it_abba1t_a"]);
    // Both classes have only ever been taken exclusively.
    assert_eq!(c.acquiring.usage, "+..");
    assert_eq!(c.holding.usage, "+..");
    assert_eq!(report.thread.name, std::thread::current().name().unwrap());

    // Repeating both orders changes nothing.
    for _ in 0..5 {
        {
            let _a = a.lock();
            let _b = b.lock();
        }
        {
            let _b = b.lock();
            let _a = a.lock();
        }
    }
    assert_eq!(reports_about(&names).len(), 1);
    assert!(held_names().is_empty());
}

#[test]
fn consistent_order_is_never_reported() {
    silent();
    let a = Mutex::named("it_order_a", 0u32);
    let b = Mutex::named("it_order_b", 0u32);
    let c = Mutex::named("it_order_c", 0u32);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..100 {
                    let mut ga = a.lock();
                    let mut gb = b.lock();
                    let mut gc = c.lock();
                    *ga += 1;
                    *gb += 1;
                    *gc += 1;
                }
            });
        }
    });
    assert_eq!(*a.lock(), 400);
    assert_eq!(*c.lock(), 400);
    assert_no_reports(&["it_order_a", "it_order_b", "it_order_c"]);
}

#[test]
fn keys_sharing_a_name_print_with_versions() {
    silent();
    static K1: ClassKey = ClassKey::new("it_keyname");
    static K2: ClassKey = ClassKey::new("it_keyname");
    // Register in a known order: K1 is "it_keyname", K2 "it_keyname#2".
    let (c1, c2) = (K1.class(), K2.class());
    assert_ne!(c1, c2);
    assert_eq!(lockdep::class_name(c1), "it_keyname");
    assert_eq!(lockdep::class_name(c2), "it_keyname#2");
    let m1 = Mutex::with_key(&K1, ());
    let m2 = Mutex::with_key(&K2, ());
    // Another mutex of K1's class, built elsewhere: same class.
    let m1b = Mutex::with_key(&K1, ());
    assert_eq!(m1.class(), m1b.class());
    {
        let _a = m1.lock();
        let _b = m2.lock();
    }
    {
        let _b = m2.lock();
        let _a = m1b.lock();
    }
    let report = one_report(&["it_keyname"]);
    let c = circular(&report);
    assert_eq!(c.acquiring.name, "it_keyname");
    assert_eq!(c.holding.name, "it_keyname#2");
    assert_eq!(c.chain_names(), ["it_keyname#2", "it_keyname"]);
}

// ---------------------------------------------------------------------------
// 2. Longer cycles
// ---------------------------------------------------------------------------

#[test]
fn three_class_cycle() {
    silent();
    let a = Mutex::named("it_cyc3_a", ());
    let b = Mutex::named("it_cyc3_b", ());
    let c = Mutex::named("it_cyc3_c", ());
    let names = ["it_cyc3_a", "it_cyc3_b", "it_cyc3_c"];
    on_thread("it_cyc3_ab", || {
        let _a = a.lock();
        let _b = b.lock();
    });
    on_thread("it_cyc3_bc", || {
        let _b = b.lock();
        let _c = c.lock();
    });
    assert_no_reports(&names);
    on_thread("it_cyc3_ca", || {
        let _c = c.lock();
        let _a = a.lock();
    });
    let report = one_report(&names);
    assert_eq!(report.thread.name, "it_cyc3_ca");
    let cy = circular(&report);
    assert_eq!(cy.acquiring.name, "it_cyc3_a");
    assert_eq!(cy.holding.name, "it_cyc3_c");
    assert_eq!(cy.chain.len(), 3);
    // #2 = held (C), #1 = B (C was taken under B), #0 = A (being acquired).
    assert_eq!(cy.chain_names(), ["it_cyc3_c", "it_cyc3_b", "it_cyc3_a"]);
    assert!(cy.chain.iter().all(|l| l.dependency == "EN"));
    let text = report.to_string();
    assert!(
        text.contains("Chain exists of:\n  it_cyc3_a --> it_cyc3_b --> it_cyc3_c\n"),
        "{text}"
    );
    assert!(text.contains("-> #2 (it_cyc3_c)"), "{text}");
}

#[test]
fn four_class_cycle() {
    silent();
    let a = Mutex::named("it_cyc4_a", ());
    let b = Mutex::named("it_cyc4_b", ());
    let c = Mutex::named("it_cyc4_c", ());
    let d = Mutex::named("it_cyc4_d", ());
    let names = ["it_cyc4_a", "it_cyc4_b", "it_cyc4_c", "it_cyc4_d"];
    for (first, second) in [(&a, &b), (&b, &c), (&c, &d)] {
        let _first = first.lock();
        let _second = second.lock();
    }
    assert_no_reports(&names);
    {
        let _d = d.lock();
        let _a = a.lock();
    }
    let report = one_report(&names);
    let cy = circular(&report);
    assert_eq!(cy.acquiring.name, "it_cyc4_a");
    assert_eq!(cy.holding.name, "it_cyc4_d");
    assert_eq!(cy.chain.len(), 4);
    assert_eq!(
        cy.chain_names(),
        ["it_cyc4_d", "it_cyc4_c", "it_cyc4_b", "it_cyc4_a"]
    );
    // Every non-final link carries a stack trace of its first sighting.
    assert!(cy.chain.iter().all(|l| !l.trace.is_empty()), "{report}");
}

#[test]
fn nested_acquisition_records_only_the_nearest_dependency() {
    // A, B, C taken nested records A->B and B->C, not A->C directly; the
    // cycle found when C is held and A taken is the full three-class one.
    silent();
    let a = Mutex::named("it_nest3_a", ());
    let b = Mutex::named("it_nest3_b", ());
    let c = Mutex::named("it_nest3_c", ());
    {
        let _a = a.lock();
        let _b = b.lock();
        let _c = c.lock();
    }
    {
        let _c = c.lock();
        let _a = a.lock();
    }
    let report = one_report(&["it_nest3_a", "it_nest3_b", "it_nest3_c"]);
    assert_eq!(
        circular(&report).chain_names(),
        ["it_nest3_c", "it_nest3_b", "it_nest3_a"]
    );
}

// ---------------------------------------------------------------------------
// 3. Shared and exclusive pseudo-locks
// ---------------------------------------------------------------------------

#[test]
fn recursive_reads_in_both_orders_do_not_report() {
    silent();
    let a = LockMap::named("it_rr_a");
    let b = LockMap::named("it_rr_b");
    {
        let _a = a.hold(Mode::SharedRecursive);
        let _b = b.hold(Mode::SharedRecursive);
    }
    {
        let _b = b.hold(Mode::SharedRecursive);
        let _a = a.hold(Mode::SharedRecursive);
    }
    // The same with explicit acquire/release.
    assert!(a.acquire(Mode::SharedRecursive));
    assert!(b.acquire(Mode::SharedRecursive));
    b.release();
    a.release();
    assert!(b.acquire(Mode::SharedRecursive));
    assert!(a.acquire(Mode::SharedRecursive));
    a.release();
    b.release();
    assert!(held_names().is_empty());
    assert_no_reports(&["it_rr_a", "it_rr_b"]);
}

#[test]
fn exclusive_then_recursive_read_both_ways_reports() {
    silent();
    let a = LockMap::named("it_er_a");
    let b = LockMap::named("it_er_b");
    {
        let _a = a.hold(Mode::Exclusive);
        let _b = b.hold(Mode::SharedRecursive);
    }
    assert_no_reports(&["it_er_a", "it_er_b"]);
    {
        let _b = b.hold(Mode::Exclusive);
        let _a = a.hold(Mode::SharedRecursive);
    }
    let report = one_report(&["it_er_a", "it_er_b"]);
    let c = circular(&report);
    assert_eq!(c.acquiring.name, "it_er_a");
    assert_eq!(c.acquiring.mode, Mode::SharedRecursive);
    assert_eq!(c.holding.name, "it_er_b");
    assert_eq!(c.holding.mode, Mode::Exclusive);
    assert_eq!(c.chain_names(), ["it_er_b", "it_er_a"]);
    // A -(ER)-> B recorded first; B -(ER)-> A is the new link.
    assert_eq!(c.chain[0].dependency, "ER");
    assert_eq!(c.chain[1].dependency, "ER");
    let text = report.to_string();
    assert!(text.contains("  lock(it_er_b);"), "{text}");
    assert!(text.contains("  rlock(it_er_a);"), "{text}");
}

#[test]
fn recursive_read_then_shared_holder_is_not_strong() {
    // A -(ER)-> B, then B held shared and A read recursively: the path
    // ends in R and the new link starts with S, so it is not a deadlock.
    silent();
    let a = LockMap::named("it_ers_a");
    let b = LockMap::named("it_ers_b");
    {
        let _a = a.hold(Mode::Exclusive);
        let _b = b.hold(Mode::SharedRecursive);
    }
    {
        let _b = b.hold(Mode::Shared);
        let _a = a.hold(Mode::SharedRecursive);
    }
    assert_no_reports(&["it_ers_a", "it_ers_b"]);
}

#[test]
fn recursive_reader_against_writer_does_not_report() {
    // A read recursively then B written; B written then A read recursively.
    // A is only ever read, and a recursive reader never waits for a waiting
    // writer: no deadlock.
    silent();
    let a = LockMap::named("it_rre_a");
    let b = LockMap::named("it_rre_b");
    {
        let _a = a.hold(Mode::SharedRecursive);
        let _b = b.hold(Mode::Exclusive);
    }
    {
        let _b = b.hold(Mode::Exclusive);
        let _a = a.hold(Mode::SharedRecursive);
    }
    assert_no_reports(&["it_rre_a", "it_rre_b"]);
}

#[test]
fn non_recursive_reader_against_writer_reports() {
    silent();
    let a = LockMap::named("it_sn_a");
    let b = LockMap::named("it_sn_b");
    assert!(a.acquire(Mode::Shared));
    assert!(b.acquire(Mode::Exclusive));
    b.release();
    a.release();
    assert_no_reports(&["it_sn_a", "it_sn_b"]);
    assert!(b.acquire(Mode::Exclusive));
    assert!(a.acquire(Mode::Shared));
    a.release();
    b.release();
    assert!(held_names().is_empty());
    let report = one_report(&["it_sn_a", "it_sn_b"]);
    let c = circular(&report);
    assert_eq!(c.acquiring.name, "it_sn_a");
    assert_eq!(c.acquiring.mode, Mode::Shared);
    assert_eq!(c.holding.name, "it_sn_b");
    assert_eq!(c.chain_names(), ["it_sn_b", "it_sn_a"]);
    assert_eq!(c.chain[0].dependency, "SN");
    assert_eq!(c.chain[1].dependency, "EN");
}

#[test]
fn non_recursive_readers_in_both_orders_report() {
    // With writers waiting on both, two non-recursive readers taking A and B
    // in opposite orders deadlock.
    silent();
    let a = LockMap::named("it_ss_a");
    let b = LockMap::named("it_ss_b");
    {
        let _a = a.hold(Mode::Shared);
        let _b = b.hold(Mode::Shared);
    }
    {
        let _b = b.hold(Mode::Shared);
        let _a = a.hold(Mode::Shared);
    }
    let report = one_report(&["it_ss_a", "it_ss_b"]);
    let c = circular(&report);
    assert_eq!(c.acquiring.name, "it_ss_a");
    assert_eq!(c.holding.name, "it_ss_b");
    assert_eq!(c.chain[0].dependency, "SN");
    assert_eq!(c.chain[1].dependency, "SN");
}

#[test]
fn strong_path_through_a_more_permissive_second_arrival() {
    // 0 -(ER)-> 1, 0 -(EN)-> 2, 2 -(EN)-> 1, 1 -(SN)-> 3. Reaching 1 through
    // the ER edge forbids 1 -(SN)-> 3 (R then S is not strong); through 2 it
    // is allowed. Taking 0 while holding 3 closes the strong cycle 3->0->2->1->3.
    silent();
    let n: [LockMap; 4] = [
        LockMap::named("it_perm_0"),
        LockMap::named("it_perm_1"),
        LockMap::named("it_perm_2"),
        LockMap::named("it_perm_3"),
    ];
    let names = ["it_perm_0", "it_perm_1", "it_perm_2", "it_perm_3"];
    let edge = |a: usize, am: Mode, b: usize, bm: Mode| {
        let _a = n[a].hold(am);
        let _b = n[b].hold(bm);
    };
    edge(0, Mode::Exclusive, 1, Mode::SharedRecursive);
    edge(0, Mode::Exclusive, 2, Mode::Exclusive);
    edge(2, Mode::Exclusive, 1, Mode::Exclusive);
    edge(1, Mode::Shared, 3, Mode::Exclusive);
    assert_no_reports(&names);
    edge(3, Mode::Exclusive, 0, Mode::Exclusive);
    let report = one_report(&names);
    let c = circular(&report);
    assert_eq!(c.acquiring.name, "it_perm_0");
    assert_eq!(c.holding.name, "it_perm_3");
    assert_eq!(
        c.chain_names(),
        ["it_perm_3", "it_perm_1", "it_perm_2", "it_perm_0"]
    );
    let deps: Vec<_> = c.chain.iter().map(|l| l.dependency.as_str()).collect();
    assert_eq!(deps, ["SN", "EN", "EN", "EN"]);
}

#[test]
fn weak_path_only_is_not_a_cycle() {
    // The same graph without the way through 2: the only path from 0 to 3
    // is ER then SN, which is not strong.
    silent();
    let n: [LockMap; 3] = [
        LockMap::named("it_weak_0"),
        LockMap::named("it_weak_1"),
        LockMap::named("it_weak_3"),
    ];
    let edge = |a: usize, am: Mode, b: usize, bm: Mode| {
        let _a = n[a].hold(am);
        let _b = n[b].hold(bm);
    };
    edge(0, Mode::Exclusive, 1, Mode::SharedRecursive);
    edge(1, Mode::Shared, 2, Mode::Exclusive);
    edge(2, Mode::Exclusive, 0, Mode::Exclusive);
    assert_no_reports(&["it_weak_0", "it_weak_1", "it_weak_3"]);
}

#[test]
fn recursive_read_after_read_of_the_same_class_is_allowed() {
    silent();
    let a = LockMap::named("it_rrself_a");
    {
        let _s = a.hold(Mode::Shared);
        let _r1 = a.hold(Mode::SharedRecursive);
        let _r2 = a.hold(Mode::SharedRecursive);
        assert_eq!(held_names(), ["it_rrself_a"; 3]);
    }
    let b = LockMap::named("it_rrself_b");
    {
        let _r1 = b.hold(Mode::SharedRecursive);
        let _r2 = b.hold(Mode::SharedRecursive);
    }
    assert!(held_names().is_empty());
    assert_no_reports(&["it_rrself_a", "it_rrself_b"]);
}

#[test]
fn exclusive_twice_is_recursive_locking() {
    silent();
    let a = LockMap::named("it_ee_a");
    {
        let _outer = a.hold(Mode::Exclusive);
        let _inner = a.hold(Mode::Exclusive);
    }
    assert!(held_names().is_empty());
    let report = one_report(&["it_ee_a"]);
    assert_eq!(report.title(), "possible recursive locking detected");
    let (acquiring, holding) = recursive(&report);
    assert_eq!(acquiring.name, "it_ee_a");
    assert_eq!(holding.name, "it_ee_a");
    assert_eq!(acquiring.mode, Mode::Exclusive);
    assert_eq!(report.class_names(), ["it_ee_a"]);
    let held: Vec<_> = report.held.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(held, ["it_ee_a"]);
    let text = report.to_string();
    assert!(
        text.contains("WARNING: possible recursive locking detected"),
        "{text}"
    );
    // The very lock, twice: no annotation could help, so no hint.
    assert!(
        !text.contains("May be due to missing lock nesting notation"),
        "{text}"
    );
    assert!(matches!(
        &report.problem,
        lockdep::report::Problem::RecursiveLocking {
            cause: lockdep::report::RecursionCause::SameLock,
            ..
        }
    ));
}

#[test]
fn reads_that_can_block_on_themselves_are_recursive_locking() {
    silent();
    // A recursive read while holding the write side.
    let w = LockMap::named("it_er_self");
    {
        let _w = w.hold(Mode::Exclusive);
        let _r = w.hold(Mode::SharedRecursive);
    }
    let report = one_report(&["it_er_self"]);
    let (acquiring, holding) = recursive(&report);
    assert_eq!(acquiring.mode, Mode::SharedRecursive);
    assert_eq!(holding.mode, Mode::Exclusive);

    // A non-recursive read twice: a writer waiting in between blocks it.
    let s = LockMap::named("it_ss_self");
    {
        let _outer = s.hold(Mode::Shared);
        let _inner = s.hold(Mode::Shared);
    }
    let report = one_report(&["it_ss_self"]);
    let (acquiring, holding) = recursive(&report);
    assert_eq!(acquiring.name, "it_ss_self");
    assert_eq!(acquiring.mode, Mode::Shared);
    assert_eq!(holding.mode, Mode::Shared);
}

#[test]
fn bad_unlock_balance() {
    silent();
    let m = LockMap::named("it_badunlock");
    let other = LockMap::named("it_badunlock_other");
    let _o = other.hold(Mode::Exclusive);
    m.release();
    let report = one_report(&["it_badunlock"]);
    assert_eq!(report.title(), "bad unlock balance detected!");
    match &report.problem {
        Problem::BadUnlockBalance { releasing } => {
            assert_eq!(releasing.name, "it_badunlock");
            assert!(releasing
                .at
                .as_ref()
                .is_some_and(|s| s.file.ends_with("integration.rs")));
        }
        _ => panic!("expected bad unlock balance:\n{report}"),
    }
    // The held stack is untouched.
    assert_eq!(held_names(), ["it_badunlock_other"]);
}

// ---------------------------------------------------------------------------
// 4. Trylock
// ---------------------------------------------------------------------------

#[test]
fn trylock_never_gets_an_incoming_dependency() {
    silent();
    let a = Mutex::named("it_try_in_a", ());
    let b = Mutex::named("it_try_in_b", ());
    let names = ["it_try_in_a", "it_try_in_b"];
    {
        let _a = a.lock();
        let _b = b.try_lock().expect("free");
        let held = lockdep::held_locks();
        assert_eq!(held.len(), 2);
        assert_eq!(held[1].name, "it_try_in_b");
        assert!(held[1].trylock);
        assert!(!held[0].trylock);
    }
    {
        let _b = b.lock();
        let _a = a.lock(); // records B -> A only; A -> B was never recorded
    }
    assert_no_reports(&names);

    // B -> A is in the graph: now A then B (a real lock) closes the cycle.
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    let report = one_report(&names);
    let c = circular(&report);
    assert_eq!(c.acquiring.name, "it_try_in_b");
    assert_eq!(c.holding.name, "it_try_in_a");
    assert_eq!(c.chain_names(), ["it_try_in_a", "it_try_in_b"]);
}

#[test]
fn held_trylock_is_the_source_of_dependencies() {
    silent();
    let a = Mutex::named("it_try_out_a", ());
    let b = Mutex::named("it_try_out_b", ());
    let names = ["it_try_out_a", "it_try_out_b"];
    {
        let _b = b.try_lock().expect("free");
        let _a = a.lock(); // records B -> A
    }
    assert_no_reports(&names);
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    let report = one_report(&names);
    let c = circular(&report);
    assert_eq!(c.acquiring.name, "it_try_out_b");
    assert!(!c.acquiring.trylock);
    assert_eq!(c.holding.name, "it_try_out_a");
    assert_eq!(c.chain_names(), ["it_try_out_a", "it_try_out_b"]);
}

#[test]
fn trylock_below_a_lock_still_links_to_the_lock_under_it() {
    // Held: X, T (trylock). Taking A records both T -> A and X -> A.
    silent();
    let x = Mutex::named("it_trymid_x", ());
    let t = Mutex::named("it_trymid_t", ());
    let a = Mutex::named("it_trymid_a", ());
    let names = ["it_trymid_x", "it_trymid_t", "it_trymid_a"];
    {
        let _x = x.lock();
        let _t = t.try_lock().expect("free");
        let _a = a.lock();
    }
    assert_no_reports(&names);
    {
        let _a = a.lock();
        let _x = x.lock();
    }
    let report = one_report(&names);
    assert_eq!(
        circular(&report).chain_names(),
        ["it_trymid_a", "it_trymid_x"]
    );
}

#[test]
fn failed_trylock_is_not_recorded() {
    silent();
    let a = Mutex::named("it_tryfail_a", ());
    let _g = a.lock();
    std::thread::scope(|s| {
        s.spawn(|| {
            assert!(a.try_lock().is_none());
            assert!(held_names().is_empty());
        });
    });
    assert_eq!(held_names(), ["it_tryfail_a"]);
    assert!(a.is_locked());
}

// ---------------------------------------------------------------------------
// 5. Subclasses
// ---------------------------------------------------------------------------

fn make_sub_rec() -> Mutex<()> {
    Mutex::named("it_sub_rec", ())
}

fn make_sub_nest() -> Mutex<()> {
    Mutex::named("it_sub_nest", ())
}

fn make_sub_cyc() -> Mutex<()> {
    Mutex::named("it_sub_cyc", ())
}

#[test]
fn two_locks_of_one_class_nested_is_recursive_locking() {
    silent();
    let parent = make_sub_rec();
    let child = make_sub_rec();
    assert_eq!(
        parent.class(),
        child.class(),
        "one construction site, one class"
    );
    {
        let _p = parent.lock();
        let _c = child.lock();
        assert_eq!(held_names(), ["it_sub_rec", "it_sub_rec"]);
    }
    let report = one_report(&["it_sub_rec"]);
    let (acquiring, holding) = recursive(&report);
    assert_eq!(acquiring.name, "it_sub_rec");
    assert_eq!(holding.name, "it_sub_rec");
    // The two acquisitions are at different places in this file.
    assert_ne!(acquiring.at, holding.at);
}

#[test]
fn lock_nested_is_not_recursive_locking() {
    silent();
    let parent = make_sub_nest();
    let child = make_sub_nest();
    assert_eq!(parent.class(), child.class());
    for _ in 0..2 {
        let _p = parent.lock();
        let _c = child.lock_nested(1);
        assert_eq!(held_names(), ["it_sub_nest", "it_sub_nest/1"]);
    }
    assert_no_reports(&["it_sub_nest"]);
}

#[test]
fn locks_made_in_a_loop_nest_with_subclasses() {
    silent();
    let locks: Vec<Mutex<u32>> = (0..3).map(|i| Mutex::named("it_sub_loop", i)).collect();
    assert!(locks.iter().all(|m| m.class() == locks[0].class()));
    {
        let guards: Vec<_> = locks
            .iter()
            .enumerate()
            .map(|(i, m)| m.lock_nested(i as u32))
            .collect();
        assert_eq!(*guards[2], 2);
        assert_eq!(
            held_names(),
            ["it_sub_loop", "it_sub_loop/1", "it_sub_loop/2"]
        );
    }
    assert_no_reports(&["it_sub_loop"]);
}

#[test]
fn subclass_prints_with_its_number_in_a_cycle() {
    silent();
    let parent = make_sub_cyc();
    let child = make_sub_cyc();
    let x = Mutex::named("it_sub_cyc_x", ());
    let names = ["it_sub_cyc", "it_sub_cyc_x"];
    {
        let _p = parent.lock();
        let _c = child.lock_nested(1);
        let _x = x.lock(); // it_sub_cyc/1 -> x
    }
    assert_no_reports(&names);
    {
        let _x = x.lock();
        let _c = child.lock_nested(1); // x -> it_sub_cyc/1: cycle
    }
    let report = one_report(&names);
    let c = circular(&report);
    assert_eq!(c.acquiring.name, "it_sub_cyc/1");
    assert_eq!(c.holding.name, "it_sub_cyc_x");
    assert_eq!(c.chain_names(), ["it_sub_cyc_x", "it_sub_cyc/1"]);
    let text = report.to_string();
    assert!(text.contains("-> #0 (it_sub_cyc/1)"), "{text}");
    assert!(text.contains("lock(it_sub_cyc/1);"), "{text}");
}

// ---------------------------------------------------------------------------
// 6. Out-of-order release
// ---------------------------------------------------------------------------

#[test]
fn out_of_order_release_keeps_the_held_stack_consistent() {
    silent();
    let a = Mutex::named("it_ooo_a", ());
    let b = Mutex::named("it_ooo_b", ());
    let c = Mutex::named("it_ooo_c", ());
    let names = ["it_ooo_a", "it_ooo_b", "it_ooo_c"];
    for round in 0..3 {
        let ga = a.lock();
        let gb = b.lock();
        let gc = c.lock();
        assert_eq!(held_names(), names, "round {round}");
        drop(gb);
        assert_eq!(held_names(), ["it_ooo_a", "it_ooo_c"], "round {round}");
        assert!(!b.is_locked());
        drop(gc);
        assert_eq!(held_names(), ["it_ooo_a"], "round {round}");
        drop(ga);
        assert!(held_names().is_empty(), "round {round}");
    }
    // Later uses in the correct order, and a prefix of it, do not report.
    for _ in 0..2 {
        let _a = a.lock();
        let _b = b.lock();
        let _c = c.lock();
    }
    {
        let _a = a.lock();
        let _c = c.lock();
    }
    {
        let _b = b.lock();
        let _c = c.lock();
    }
    assert_no_reports(&names);
    assert!(held_names().is_empty());
}

#[test]
fn releasing_the_outermost_lock_first() {
    silent();
    let a = LockMap::named("it_ooo2_a");
    let b = LockMap::named("it_ooo2_b");
    let c = LockMap::named("it_ooo2_c");
    let ga = a.hold(Mode::Exclusive);
    let gb = b.hold(Mode::Exclusive);
    let gc = c.hold(Mode::Exclusive);
    drop(ga);
    assert_eq!(held_names(), ["it_ooo2_b", "it_ooo2_c"]);
    // Taking A again on top of B and C is a new chain, validated against the
    // rebuilt stack.
    let ga = a.hold(Mode::Exclusive);
    assert_eq!(held_names(), ["it_ooo2_b", "it_ooo2_c", "it_ooo2_a"]);
    drop(gb);
    assert_eq!(held_names(), ["it_ooo2_c", "it_ooo2_a"]);
    drop(ga);
    drop(gc);
    assert!(held_names().is_empty());
    // A -> B -> C was learnt first; C -> A (A taken while C is held) closes a
    // real cycle, reported on the rebuilt stack.
    let report = one_report(&["it_ooo2_a", "it_ooo2_b", "it_ooo2_c"]);
    let cy = circular(&report);
    assert_eq!(cy.acquiring.name, "it_ooo2_a");
    assert_eq!(cy.holding.name, "it_ooo2_c");
    assert_eq!(cy.chain_names(), ["it_ooo2_c", "it_ooo2_b", "it_ooo2_a"]);
    let held: Vec<_> = report.held.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(held, ["it_ooo2_b", "it_ooo2_c"]);
}

// ---------------------------------------------------------------------------
// 7. Work queues
// ---------------------------------------------------------------------------

#[test]
fn flushing_work_while_holding_its_lock_is_reported() {
    silent();
    let m = Arc::new(Mutex::named("it_wflush_m", 0u32));
    let wq = WorkQueue::new("it_wflush_wq", 2);
    let m2 = m.clone();
    let work = Work::named("it_wflush_work", move || {
        *m2.lock() += 1;
    });
    let names = ["it_wflush_m", "(work_completion)it_wflush_work"];

    // Let the work run once, with nothing held while waiting.
    assert!(wq.queue(&work));
    work.flush(); // true or false: it may have run already
    assert_eq!(*m.lock(), 1);
    assert_no_reports(&names);

    {
        let _g = m.lock();
        assert!(!work.flush(), "nothing to wait for");
    }
    let report = one_report(&names);
    let c = circular(&report);
    assert_eq!(c.acquiring.name, "(work_completion)it_wflush_work");
    assert_eq!(c.holding.name, "it_wflush_m");
    assert_eq!(
        c.chain_names(),
        ["it_wflush_m", "(work_completion)it_wflush_work"]
    );
    // The first link's stack is the worker's, running the work function.
    assert!(!c.chain[0].trace.is_empty());
    drop(wq);
    assert_eq!(*m.lock(), 1);
}

#[test]
fn flushing_the_queue_while_holding_a_lock_of_its_work_is_reported() {
    silent();
    let m = Arc::new(Mutex::named("it_qflush_m", 0u32));
    let wq = WorkQueue::new("it_qflush_wq", 1);
    let m2 = m.clone();
    let work = Work::named("it_qflush_work", move || {
        *m2.lock() += 1;
    });
    let names = [
        "it_qflush_m",
        "(work_completion)it_qflush_work",
        "(wq_completion)it_qflush_wq",
    ];
    assert!(wq.queue(&work));
    wq.flush();
    assert_eq!(*m.lock(), 1);
    assert_no_reports(&names);

    {
        let _g = m.lock();
        wq.flush();
    }
    let report = one_report(&names);
    let c = circular(&report);
    assert_eq!(c.acquiring.name, "(wq_completion)it_qflush_wq");
    assert_eq!(c.holding.name, "it_qflush_m");
    // The queue's worker held the queue, then the work, then took M.
    assert_eq!(
        c.chain_names(),
        [
            "it_qflush_m",
            "(work_completion)it_qflush_work",
            "(wq_completion)it_qflush_wq"
        ]
    );
    let text = report.to_string();
    assert!(text.contains("Chain exists of:"), "{text}");
}

#[test]
fn flushing_without_the_lock_is_not_reported() {
    silent();
    let m = Arc::new(Mutex::named("it_wfneg_m", 0u32));
    let unrelated = Mutex::named("it_wfneg_other", ());
    let wq = WorkQueue::new("it_wfneg_wq", 1);
    let runs = Arc::new(AtomicUsize::new(0));
    let (m2, r2) = (m.clone(), runs.clone());
    let work = Work::named("it_wfneg_work", move || {
        *m2.lock() += 1;
        r2.fetch_add(1, Ordering::SeqCst);
    });
    for i in 1..=3 {
        assert!(wq.queue(&work));
        work.flush(); // true or false: it may have run already
        assert_eq!(runs.load(Ordering::SeqCst), i, "flush waited for the run");
        wq.flush();
    }
    assert_eq!(runs.load(Ordering::SeqCst), 3);
    // Holding a lock the work never takes is fine, too.
    {
        let _u = unrelated.lock();
        assert!(wq.queue(&work));
        work.flush();
        wq.flush();
    }
    assert_eq!(runs.load(Ordering::SeqCst), 4);
    drop(wq);
    assert_no_reports(&[
        "it_wfneg_m",
        "it_wfneg_other",
        "(work_completion)it_wfneg_work",
        "(wq_completion)it_wfneg_wq",
    ]);
}

#[test]
fn work_flush_really_waits_for_the_run() {
    silent();
    let wq = WorkQueue::new("it_wwait_wq", 1);
    let sent = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<()>();
    let rx = std::sync::Mutex::new(rx);
    let (s2, d2) = (sent.clone(), done.clone());
    let work = Work::named("it_wwait_work", move || {
        rx.lock().unwrap().recv().unwrap();
        assert!(s2.load(Ordering::SeqCst));
        d2.store(true, Ordering::SeqCst);
    });
    assert!(wq.queue(&work));
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(20));
            sent.store(true, Ordering::SeqCst);
            tx.send(()).unwrap();
        });
        work.flush();
        assert!(
            done.load(Ordering::SeqCst),
            "flush returned before the run ended"
        );
    });
    assert!(!work.flush(), "nothing left to wait for");
    assert_no_reports(&[
        "(work_completion)it_wwait_work",
        "(wq_completion)it_wwait_wq",
    ]);
}

#[test]
fn cancelling_work_while_holding_its_lock_is_reported() {
    silent();
    let m = Arc::new(Mutex::named("it_wcancel_m", 0u32));
    let wq = WorkQueue::new("it_wcancel_wq", 1);
    let m2 = m.clone();
    let work = Work::named("it_wcancel_work", move || {
        *m2.lock() += 1;
    });
    let names = ["it_wcancel_m", "(work_completion)it_wcancel_work"];
    assert!(wq.queue(&work));
    work.flush(); // true or false: it may have run already
    assert_eq!(*m.lock(), 1, "flush waited for the run");
    assert_no_reports(&names);
    {
        let _g = m.lock();
        assert!(!work.cancel(), "nothing pending to cancel");
    }
    let report = one_report(&names);
    let c = circular(&report);
    assert_eq!(c.acquiring.name, "(work_completion)it_wcancel_work");
    assert_eq!(c.holding.name, "it_wcancel_m");
}

#[test]
fn cancel_removes_a_pending_item() {
    silent();
    let wq = WorkQueue::ordered("it_wcpend_wq");
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    let gate_rx = std::sync::Mutex::new(gate_rx);
    let blocker = Work::named("it_wcpend_blocker", move || {
        started_tx.send(()).unwrap();
        gate_rx.lock().unwrap().recv().unwrap();
    });
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let victim = Work::named("it_wcpend_victim", move || {
        r.fetch_add(1, Ordering::SeqCst);
    });
    assert!(wq.queue(&blocker));
    started_rx.recv().unwrap();
    // The only worker is busy: the victim stays pending.
    assert!(wq.queue(&victim));
    assert!(victim.is_pending());
    assert!(!wq.queue(&victim), "queueing a pending item does nothing");
    assert!(victim.cancel());
    assert!(!victim.is_pending());
    gate_tx.send(()).unwrap();
    wq.flush();
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert_no_reports(&[
        "(work_completion)it_wcpend_blocker",
        "(work_completion)it_wcpend_victim",
        "(wq_completion)it_wcpend_wq",
    ]);
}

#[test]
fn flushing_work_of_an_ordered_queue_also_waits_for_the_queue() {
    silent();
    let m = Arc::new(Mutex::named("it_oflush_m", 0u32));
    let wq = WorkQueue::ordered("it_oflush_wq");
    let m2 = m.clone();
    let work = Work::named("it_oflush_work", move || {
        *m2.lock() += 1;
    });
    let names = [
        "it_oflush_m",
        "(work_completion)it_oflush_work",
        "(wq_completion)it_oflush_wq",
    ];
    assert!(wq.queue(&work));
    work.flush(); // true or false: it may have run already
    assert_eq!(*m.lock(), 1, "flush waited for the run");
    assert_no_reports(&names);
    {
        let _g = m.lock();
        work.flush();
    }
    let found = reports_about(&names);
    let on_queue: Vec<_> = found
        .iter()
        .filter(|r| circular(r).acquiring.name == "(wq_completion)it_oflush_wq")
        .collect();
    assert_eq!(
        on_queue.len(),
        1,
        "the flush is annotated on the ordered queue too"
    );
    assert_eq!(
        circular(on_queue[0]).chain_names(),
        [
            "it_oflush_m",
            "(work_completion)it_oflush_work",
            "(wq_completion)it_oflush_wq"
        ]
    );
    assert!(found
        .iter()
        .any(|r| circular(r).acquiring.name == "(work_completion)it_oflush_work"));
}

#[test]
fn work_is_not_reentrant_and_flush_waits_for_the_rerun() {
    silent();
    let wq = WorkQueue::new("it_wrerun_wq", 2);
    let count = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
    let (started_tx, started_rx) = mpsc::channel::<usize>();
    let (gate0_tx, gate0_rx) = mpsc::channel::<()>();
    let (gate1_tx, gate1_rx) = mpsc::channel::<()>();
    let gates = [
        std::sync::Mutex::new(gate0_rx),
        std::sync::Mutex::new(gate1_rx),
    ];
    let (c, f) = (count.clone(), finished.clone());
    let work = Work::named("it_wrerun_work", move || {
        let n = c.fetch_add(1, Ordering::SeqCst);
        started_tx.send(n).unwrap();
        gates[n].lock().unwrap().recv().unwrap();
        f[n].store(true, Ordering::SeqCst);
    });
    // Run 0 starts; queued again, the item is pending, and the idle second
    // worker must not start it while run 0 is in progress.
    assert!(wq.queue(&work));
    assert_eq!(started_rx.recv().unwrap(), 0);
    assert!(wq.queue(&work));
    assert!(
        started_rx.recv_timeout(Duration::from_millis(100)).is_err(),
        "a work item must never run on two workers at once"
    );
    assert_eq!(count.load(Ordering::SeqCst), 1);
    std::thread::scope(|s| {
        s.spawn(move || {
            gate0_tx.send(()).unwrap();
            assert_eq!(started_rx.recv().unwrap(), 1, "the rerun follows run 0");
            std::thread::sleep(Duration::from_millis(100));
            gate1_tx.send(()).unwrap();
        });
        assert!(work.flush());
        assert!(finished[0].load(Ordering::SeqCst));
        assert!(
            finished[1].load(Ordering::SeqCst),
            "flush returned while the latest run was still in progress"
        );
    });
}

#[test]
fn work_cancel_waits_for_the_run_in_progress() {
    silent();
    let wq = WorkQueue::new("it_wcrun_wq", 1);
    let count = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicBool::new(false));
    let (started_tx, started_rx) = mpsc::channel::<usize>();
    let (gate_tx, gate_rx) = mpsc::channel::<()>();
    let gate_rx = std::sync::Mutex::new(gate_rx);
    let (c, f) = (count.clone(), finished.clone());
    let work = Work::named("it_wcrun_work", move || {
        let n = c.fetch_add(1, Ordering::SeqCst);
        started_tx.send(n).unwrap();
        if n == 0 {
            gate_rx.lock().unwrap().recv().unwrap();
            f.store(true, Ordering::SeqCst);
        }
    });
    assert!(wq.queue(&work));
    assert_eq!(started_rx.recv().unwrap(), 0);
    // Queued again while running: pending behind the run on the only worker.
    assert!(wq.queue(&work));
    assert!(work.is_pending());
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            gate_tx.send(()).unwrap();
        });
        assert!(work.cancel(), "the pending queueing is cancelled");
        assert!(
            finished.load(Ordering::SeqCst),
            "cancel returned while a run was still in progress"
        );
    });
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------------------
// 8. Active references and drain
// ---------------------------------------------------------------------------

#[test]
fn draining_while_holding_a_lock_an_operation_takes_is_reported() {
    silent();
    let m = Mutex::named("it_drain_m", ());
    let file = Active::named("it_drain_active");
    let names = ["it_drain_m", "it_drain_active"];
    // An operation: an active reference, then M.
    on_thread("it_drain_op", || {
        let _op = file.get().expect("active");
        let _g = m.lock();
        let held = lockdep::held_locks();
        assert_eq!(held[0].name, "it_drain_active");
        assert!(held[0].trylock);
        assert_eq!(held[0].mode, Mode::Shared);
    });
    assert_no_reports(&names);
    // Removal: drain under M.
    on_thread("it_drain_remove", || {
        let _g = m.lock();
        file.drain();
    });
    assert!(!file.is_active());
    assert!(file.get().is_none());
    let report = one_report(&names);
    assert_eq!(report.thread.name, "it_drain_remove");
    let c = circular(&report);
    assert_eq!(c.acquiring.name, "it_drain_active");
    assert_eq!(c.acquiring.mode, Mode::Exclusive);
    assert_eq!(c.holding.name, "it_drain_m");
    assert_eq!(c.chain_names(), ["it_drain_m", "it_drain_active"]);
    // The active reference was held shared: M depends on it as S -> N.
    assert_eq!(c.chain[0].dependency, "SN");
}

#[test]
fn draining_without_the_lock_is_not_reported() {
    silent();
    let m = Mutex::named("it_drainneg_m", ());
    let file = Active::named("it_drainneg_active");
    {
        let _op = file.get().expect("active");
        let _g = m.lock();
    }
    file.drain();
    assert_eq!(file.active_count(), 0);
    assert!(file.get().is_none());
    assert_no_reports(&["it_drainneg_m", "it_drainneg_active"]);
}

#[test]
fn drain_blocks_until_references_are_dropped() {
    silent();
    let file = Active::named("it_drainwait_active");
    let released = AtomicBool::new(false);
    let (ready_tx, ready_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel();
    std::thread::scope(|s| {
        let (file, released) = (&file, &released);
        s.spawn(move || {
            let op = file.get().expect("active");
            ready_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            // Give drain a chance to start waiting; correctness does not
            // depend on it.
            std::thread::sleep(Duration::from_millis(20));
            released.store(true, Ordering::SeqCst);
            drop(op);
        });
        ready_rx.recv().unwrap();
        assert_eq!(file.active_count(), 1);
        go_tx.send(()).unwrap();
        file.drain();
        assert!(
            released.load(Ordering::SeqCst),
            "drain returned before the reference was dropped"
        );
        assert_eq!(file.active_count(), 0);
    });
    assert!(file.get().is_none());
    assert_no_reports(&["it_drainwait_active"]);
}

// ---------------------------------------------------------------------------
// The fast path and the slow path keep one held stack
// ---------------------------------------------------------------------------

/// Acquisitions of known chains take the fast path, which the thread-exit
/// check, the freed-lock check and new-chain validation must all see.
#[test]
fn locks_taken_on_the_fast_path_are_seen_by_every_check() {
    silent();
    static A: Mutex<u32> = Mutex::named("it_fastseen_a", 0);
    static B: Mutex<u32> = Mutex::named("it_fastseen_b", 0);
    static C: Mutex<u32> = Mutex::named("it_fastseen_c", 0);
    static LEAKED: Mutex<u32> = Mutex::named("it_fastseen_leaked", 0);
    let names = ["it_fastseen_a", "it_fastseen_b", "it_fastseen_c"];

    on_thread("it_fastseen_learn", || {
        // The first time, every acquisition is new; the second time A and B
        // are known (the fast path), and C under them is a new chain whose
        // validation must see both.
        for _ in 0..2 {
            let _a = A.lock();
            let _b = B.lock();
        }
        let _a = A.lock();
        let _b = B.lock();
        assert_eq!(held_names(), ["it_fastseen_a", "it_fastseen_b"]);
        let _c = C.lock();
    });
    assert_no_reports(&names);
    on_thread("it_fastseen_close", || {
        let _c = C.lock();
        let _a = A.lock();
    });
    let report = one_report(&names);
    assert_eq!(
        circular(&report).chain_names(),
        ["it_fastseen_c", "it_fastseen_b", "it_fastseen_a"],
        "the dependency B -> C was learned on top of fast-path entries"
    );

    on_thread("it_fastseen_leak", || {
        drop(LEAKED.lock());
        // Known now: this acquisition takes the fast path, and its guard
        // is leaked.
        std::mem::forget(LEAKED.lock());
        assert_eq!(held_names(), ["it_fastseen_leaked"]);
    });
    let leaked = one_report(&["it_fastseen_leaked"]);
    assert!(
        matches!(leaked.problem, Problem::HeldAtThreadExit),
        "{leaked:#?}"
    );
}
