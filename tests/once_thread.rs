//! One-time initialization and thread joins, validated as waits.

mod common;

use std::sync::Arc;

use common::{assert_no_reports, circular, one_report, silent};
use lockdep::{Mutex, OnceLock};

fn cell() -> OnceLock<u32> {
    // One construction site: every cell made here is one class.
    OnceLock::named("ot_cell")
}

#[test]
fn initializer_taking_a_lock_whose_holder_waits_on_the_cell_is_reported() {
    silent();
    let config = Mutex::named("ot_config", 7u32);
    // An initializer that reads the configuration under its lock.
    let first = cell();
    assert_eq!(*first.get_or_init(|| *config.lock()), 7);
    // Elsewhere, code holding the configuration lock initializes a cell of
    // the same kind: if another thread were initializing it, both would hang.
    let second = cell();
    {
        let _c = config.lock();
        second.get_or_init(|| 1);
    }
    let report = one_report(&["ot_config", "ot_cell"]);
    let c = circular(&report);
    assert_eq!(c.acquiring.name, "ot_cell");
    assert_eq!(c.holding.name, "ot_config");
    // Reaching an initialized cell under the lock is validated (the halves
    // need not overlap), and already known: no second report.
    let _c = config.lock();
    assert_eq!(second.get(), Some(&1));
    assert_eq!(*first.get_or_init(|| 0), 7);
}

/// Spawns, from one site (so one class), a thread that takes `m` if `take`.
fn spawn_from_one_site(m: &Arc<Mutex<u32>>, take: bool) -> lockdep::thread::JoinHandle<()> {
    let m = m.clone();
    lockdep::thread::spawn(move || {
        if take {
            *m.lock() += 1;
        }
    })
}

fn wait_finished<T>(h: &lockdep::thread::JoinHandle<T>) {
    while !h.is_finished() {
        std::thread::yield_now();
    }
}

#[test]
fn join_under_a_lock_the_thread_takes_is_reported() {
    silent();
    let m = Arc::new(Mutex::named("ot_join_m", 0u32));
    // Such a thread takes `m`; joined with nothing held: fine.
    spawn_from_one_site(&m, true).join().unwrap();
    assert_no_reports(&["ot_join_m"]);
    // Another thread of the same kind, joined while holding `m`. It has
    // finished already, so nothing hangs, but the join is the wait.
    let h = spawn_from_one_site(&m, false);
    wait_finished(&h);
    {
        let _g = m.lock();
        h.join().unwrap();
    }
    let report = one_report(&["ot_join_m"]);
    let c = circular(&report);
    assert_eq!(c.holding.name, "ot_join_m");
    assert!(
        c.acquiring.name.starts_with("(thread)"),
        "{}",
        c.acquiring.name
    );
    assert_eq!(*m.lock(), 1);
}

/// A scope with one thread, spawned from one site, that takes `m` if `take`;
/// the scope ends only after the thread has finished.
fn scope_from_one_site(m: &Mutex<u32>, take: bool) {
    lockdep::thread::scope(|s| {
        let h = s.spawn(|| {
            if take {
                *m.lock() += 1;
            }
        });
        while !h.is_finished() {
            std::thread::yield_now();
        }
    });
}

#[test]
fn end_of_scope_under_a_lock_the_threads_take_is_reported() {
    silent();
    let m = Mutex::named("ot_scope_m", 0u32);
    scope_from_one_site(&m, true);
    assert_no_reports(&["ot_scope_m"]);
    {
        let _g = m.lock();
        scope_from_one_site(&m, false);
    }
    assert_eq!(*m.lock(), 1);
    let report = one_report(&["ot_scope_m"]);
    let c = circular(&report);
    assert_eq!(c.holding.name, "ot_scope_m");
    assert!(c.acquiring.name.starts_with("(thread)"));
}

#[test]
fn an_initialized_cell_reached_under_a_lock_its_initializer_took_is_reported() {
    silent();
    // The initializer takes `ot_late_lock`; it runs first, on its own.
    static LATE: OnceLock<u32> = OnceLock::named("ot_late_cell");
    let lock = Mutex::named("ot_late_lock", 3u32);
    common::on_thread("ot-late-init", || {
        assert_eq!(*LATE.get_or_init(|| *lock.lock()), 3);
    });
    // Later, code holding the lock reaches the cell, initialized by then: it
    // did not wait this time, but had it come first, both would hang.
    common::on_thread("ot-late-reader", || {
        let _l = lock.lock();
        assert_eq!(*LATE.get_or_init(|| 0), 3);
    });
    let report = one_report(&["ot_late_cell", "ot_late_lock"]);
    let c = circular(&report);
    assert_eq!(c.acquiring.name, "ot_late_cell");
    assert_eq!(c.holding.name, "ot_late_lock");
    assert_eq!(report.thread.name, "ot-late-reader");
}

#[test]
fn a_forced_lazy_value_reached_under_its_initializers_lock_is_reported() {
    silent();
    static CONFIG: Mutex<u32> = Mutex::named("ot_lazy_config", 9);
    static DERIVED: lockdep::LazyLock<u32> =
        lockdep::LazyLock::named("ot_lazy_value", || *CONFIG.lock() + 1);
    common::on_thread("ot-lazy-init", || assert_eq!(*DERIVED, 10));
    // Deref with nothing held: free, and nothing to report.
    assert_no_reports(&["ot_lazy_value"]);
    common::on_thread("ot-lazy-reader", || {
        let _c = CONFIG.lock();
        assert_eq!(*DERIVED, 10);
    });
    let report = one_report(&["ot_lazy_value", "ot_lazy_config"]);
    assert_eq!(circular(&report).acquiring.name, "ot_lazy_value");
}
