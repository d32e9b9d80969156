//! lockdep's own raw locks (`lockdep::raw`), through `lock_api`'s types:
//! exclusion, concurrency, writer preference, timeouts, upgrades, condvar
//! wakeups and `Once`. Each test fails if its primitive breaks the property named.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use lock_api::{MutexGuard, RwLockUpgradableReadGuard, RwLockWriteGuard};
use lockdep::raw::{
    const_mutex, Condvar, FairMutex, Mutex, Once, OnceState, RawMutex, RawThreadId, RwLock,
};

/// Long enough for a thread that is about to block to have parked, on a
/// loaded machine.
const SETTLE: Duration = Duration::from_millis(200);
/// Bounds every wait that must succeed: a broken lock fails the test
/// instead of hanging it.
const LONG: Duration = Duration::from_secs(20);

/// A read-modify-write of plain memory under the lock, with a yield in the
/// middle: two holders at once lose an update.
fn racy_increment(counter: &mut u64) {
    let seen = *counter;
    if seen % 64 == 0 {
        thread::yield_now();
    }
    *std::hint::black_box(counter) = seen + 1;
}

const THREADS: usize = 8;
const ROUNDS: u64 = 20_000;

#[test]
fn mutex_excludes_under_8_threads() {
    static COUNTER: Mutex<u64> = const_mutex(0);
    let fair: FairMutex<u64> = FairMutex::new(0);
    thread::scope(|s| {
        for t in 0..THREADS {
            let fair = &fair;
            s.spawn(move || {
                for i in 0..ROUNDS {
                    // All the ways in: lock, try_lock, timed, fair unlock.
                    let mut g = match (i + t as u64) % 4 {
                        0 => COUNTER.lock(),
                        1 => loop {
                            if let Some(g) = COUNTER.try_lock() {
                                break g;
                            }
                            std::hint::spin_loop();
                        },
                        2 => COUNTER
                            .try_lock_for(LONG)
                            .expect("try_lock_for within 20 s"),
                        _ => COUNTER.lock(),
                    };
                    racy_increment(&mut g);
                    if i % 2 == 0 {
                        MutexGuard::unlock_fair(g);
                    } else {
                        drop(g);
                    }
                    racy_increment(&mut fair.lock());
                }
            });
        }
    });
    assert_eq!(*COUNTER.lock(), THREADS as u64 * ROUNDS);
    assert_eq!(*fair.lock(), THREADS as u64 * ROUNDS);
    assert!(!COUNTER.is_locked());
}

#[test]
fn rwlock_writers_exclude_under_8_threads() {
    let lock = RwLock::new(0u64);
    let readers_inside = AtomicUsize::new(0);
    thread::scope(|s| {
        for t in 0..THREADS {
            let (lock, readers_inside) = (&lock, &readers_inside);
            s.spawn(move || {
                for i in 0..ROUNDS / 4 {
                    match (i as usize + t) % 5 {
                        0 => racy_increment(&mut lock.write()),
                        1 => racy_increment(&mut RwLockUpgradableReadGuard::upgrade(
                            lock.upgradable_read(),
                        )),
                        2 => racy_increment(&mut lock.try_write_for(LONG).expect("within 20 s")),
                        3 => {
                            let g = lock.read();
                            readers_inside.fetch_add(1, SeqCst);
                            let _ = *g;
                            readers_inside.fetch_sub(1, SeqCst);
                        }
                        _ => {
                            let mut w = lock.write();
                            racy_increment(&mut w);
                            let r = RwLockWriteGuard::downgrade(w);
                            let _ = *r;
                        }
                    }
                }
            });
        }
    });
    // Every case but 3 adds one.
    let writes = (0..THREADS)
        .flat_map(|t| (0..ROUNDS / 4).map(move |i| (i as usize + t) % 5))
        .filter(|case| *case != 3)
        .count() as u64;
    assert_eq!(*lock.read(), writes, "lost updates");
    assert!(!lock.is_locked());
}

/// Every mode at once, with the holders counted: a writer is alone, an
/// upgradable reader is the only one.
#[test]
fn rwlock_modes_stress_keeps_the_invariants() {
    let lock = RwLock::new(());
    let (readers, upgradables, writers) = (
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let check = || {
        let (r, u, w) = (
            readers.load(SeqCst),
            upgradables.load(SeqCst),
            writers.load(SeqCst),
        );
        assert!(w <= 1 && u <= 1, "w={w} u={u}");
        assert!(
            w == 0 || (r == 0 && u == 0),
            "a writer with company: r={r} u={u}"
        );
    };
    let enter = |c: &AtomicUsize| {
        c.fetch_add(1, SeqCst);
        check();
    };
    let leave = |c: &AtomicUsize| {
        c.fetch_sub(1, SeqCst);
    };
    thread::scope(|s| {
        for t in 0..THREADS {
            let (lock, readers, upgradables, writers) = (&lock, &readers, &upgradables, &writers);
            s.spawn(move || {
                for i in 0..4000usize {
                    match (i * 7 + t) % 9 {
                        0 => {
                            let _g = lock.read();
                            enter(readers);
                            leave(readers);
                        }
                        1 => {
                            let _g = lock.read_recursive();
                            enter(readers);
                            leave(readers);
                        }
                        2 => {
                            let _g = lock.write();
                            enter(writers);
                            leave(writers);
                        }
                        3 => {
                            let g = lock.upgradable_read();
                            enter(upgradables);
                            leave(upgradables);
                            let _w = RwLockUpgradableReadGuard::upgrade(g);
                            enter(writers);
                            leave(writers);
                        }
                        4 => {
                            let w = lock.write();
                            enter(writers);
                            leave(writers);
                            let u = RwLockWriteGuard::downgrade_to_upgradable(w);
                            enter(upgradables);
                            leave(upgradables);
                            let _r = RwLockUpgradableReadGuard::downgrade(u);
                            enter(readers);
                            leave(readers);
                        }
                        5 => {
                            if let Some(_g) = lock.try_write_for(Duration::from_micros(50)) {
                                enter(writers);
                                leave(writers);
                            }
                        }
                        6 => {
                            if let Some(_g) = lock.try_read_for(Duration::from_micros(50)) {
                                enter(readers);
                                leave(readers);
                            }
                        }
                        7 => {
                            let g = lock.upgradable_read();
                            enter(upgradables);
                            leave(upgradables);
                            match RwLockUpgradableReadGuard::try_upgrade_for(
                                g,
                                Duration::from_micros(50),
                            ) {
                                Ok(_w) => {
                                    enter(writers);
                                    leave(writers);
                                }
                                Err(_g) => {
                                    enter(upgradables);
                                    leave(upgradables);
                                }
                            }
                        }
                        _ => {
                            let mut w = lock.write();
                            enter(writers);
                            leave(writers);
                            RwLockWriteGuard::bump(&mut w);
                            enter(writers);
                            leave(writers);
                            drop(w);
                            let mut u = lock.upgradable_read();
                            enter(upgradables);
                            leave(upgradables);
                            RwLockUpgradableReadGuard::bump(&mut u);
                        }
                    }
                }
            });
        }
    });
    assert!(!lock.is_locked());
    assert!(lock.try_write().is_some(), "nothing left held");
}

/// Runs a closure while a guard is held.
trait WhileHeld {
    fn with<G>(&self, guard: G);
}

impl<F: Fn()> WhileHeld for F {
    fn with<G>(&self, guard: G) {
        self();
        drop(guard);
    }
}

#[test]
fn readers_are_really_concurrent() {
    let lock = RwLock::new(());
    let inside = AtomicUsize::new(0);
    thread::scope(|s| {
        for t in 0..4 {
            let (lock, inside) = (&lock, &inside);
            s.spawn(move || {
                let all_in = || {
                    inside.fetch_add(1, SeqCst);
                    let deadline = Instant::now() + LONG;
                    while inside.load(SeqCst) < 4 {
                        assert!(
                            Instant::now() < deadline,
                            "the four readers never held it together"
                        );
                        thread::yield_now();
                    }
                };
                // Plain, recursive, upgradable and timed reads share the lock.
                match t {
                    0 => all_in.with(lock.read()),
                    1 => all_in.with(lock.read_recursive()),
                    2 => all_in.with(lock.upgradable_read()),
                    _ => all_in.with(lock.try_read_for(LONG).unwrap()),
                }
            });
        }
    });
    assert_eq!(inside.load(SeqCst), 4);
}

#[test]
fn a_waiting_writer_is_not_starved_by_a_stream_of_readers() {
    let lock = RwLock::new(0u32);
    let stop = AtomicBool::new(false);
    let reads = AtomicUsize::new(0);
    thread::scope(|s| {
        // Four readers whose read sections overlap, so that without writer
        // preference there would always be a reader in.
        for _ in 0..4 {
            let (lock, stop, reads) = (&lock, &stop, &reads);
            s.spawn(move || {
                while !stop.load(SeqCst) {
                    let g = lock.read();
                    reads.fetch_add(1, SeqCst);
                    thread::sleep(Duration::from_millis(2));
                    drop(g);
                }
            });
        }
        while reads.load(SeqCst) < 20 {
            thread::yield_now();
        }
        let started = Instant::now();
        let w = lock.try_write_for(Duration::from_secs(10));
        let waited = started.elapsed();
        stop.store(true, SeqCst);
        assert!(w.is_some(), "the writer starved for 10 s");
        assert!(
            waited < Duration::from_secs(5),
            "the writer waited {waited:?}"
        );
        // And a blocking writer too.
        drop(w);
        stop.store(false, SeqCst);
        *lock.write() += 1;
        stop.store(true, SeqCst);
    });
    assert_eq!(*lock.read(), 1);
}

#[test]
fn upgradable_excludes_upgradables_and_writers_not_readers() {
    let lock = RwLock::new(0);
    let u = lock.upgradable_read();
    assert!(lock.try_upgradable_read().is_none());
    assert!(lock.try_write().is_none());
    assert!(
        lock.try_read().is_some(),
        "readers share with the upgradable"
    );
    assert!(lock
        .try_upgradable_read_for(Duration::from_millis(30))
        .is_none());
    assert!(lock.try_write_for(Duration::from_millis(30)).is_none());
    let got = AtomicUsize::new(0);
    thread::scope(|s| {
        s.spawn(|| {
            let _u2 = lock.upgradable_read();
            got.fetch_add(1, SeqCst);
        });
        s.spawn(|| {
            *lock.write() += 1;
            got.fetch_add(1, SeqCst);
        });
        thread::sleep(SETTLE);
        assert_eq!(
            got.load(SeqCst),
            0,
            "an upgradable or a writer got past the upgradable"
        );
        drop(u);
    });
    assert_eq!(got.load(SeqCst), 2);
    assert_eq!(*lock.read(), 1);
}

#[test]
fn upgrade_waits_for_the_readers_and_downgrades_keep_the_lock() {
    let lock = RwLock::new(0);
    let reader_gone = AtomicBool::new(false);
    let tried = AtomicBool::new(false);
    thread::scope(|s| {
        let r = lock.read();
        let upgrader = s.spawn(|| {
            let u = lock.upgradable_read();
            // A timed upgrade gives up, and the upgradable survives it.
            let u = RwLockUpgradableReadGuard::try_upgrade_for(u, Duration::from_millis(30))
                .expect_err("a reader is still in");
            let u = RwLockUpgradableReadGuard::try_upgrade(u).expect_err("a reader is still in");
            assert!(
                lock.try_upgradable_read().is_none(),
                "still upgradable-locked"
            );
            tried.store(true, SeqCst);
            let mut w = RwLockUpgradableReadGuard::upgrade(u);
            assert!(reader_gone.load(SeqCst), "upgraded with a reader in");
            *w += 1;
            // Write -> upgradable -> read: never unlocked in between.
            let u = RwLockWriteGuard::downgrade_to_upgradable(w);
            assert!(lock.try_write().is_none());
            assert!(lock.try_upgradable_read().is_none());
            let r = RwLockUpgradableReadGuard::downgrade(u);
            assert!(lock.try_upgradable_read().is_some(), "a plain read now");
            assert_eq!(*r, 1);
        });
        while !tried.load(SeqCst) {
            thread::yield_now();
        }
        thread::sleep(SETTLE);
        // A reader waiting behind the upgrade's writer bit does not get in.
        assert!(
            lock.try_read().is_none(),
            "a new reader passed an upgrade waiting"
        );
        reader_gone.store(true, SeqCst);
        drop(r);
        upgrader.join().unwrap();
    });
    let u = lock.upgradable_read();
    let w = RwLockUpgradableReadGuard::try_upgrade_for(u, Duration::from_millis(30))
        .expect("no reader: the upgrade succeeds");
    let r = RwLockWriteGuard::downgrade(w);
    assert!(lock.try_write().is_none());
    assert!(lock.try_read().is_some());
    drop(r);
    assert!(!lock.is_locked());
}

#[test]
fn timed_locks_time_out_then_succeed() {
    let m = Mutex::new(());
    let l = RwLock::new(());
    let wait = Duration::from_millis(40);
    let g = m.lock();
    let w = l.write();
    thread::scope(|s| {
        s.spawn(|| {
            let t = Instant::now();
            assert!(m.try_lock_for(wait).is_none());
            assert!(l.try_read_for(wait).is_none());
            assert!(l.try_read_recursive_for(wait).is_none());
            assert!(l.try_upgradable_read_for(wait).is_none());
            assert!(l.try_write_until(Instant::now() + wait).is_none());
            assert!(t.elapsed() >= wait * 5, "a timed lock returned early");
        });
    });
    // Released while the waiters wait: they succeed.
    thread::scope(|s| {
        s.spawn(|| assert!(m.try_lock_for(LONG).is_some()));
        s.spawn(|| assert!(l.try_read_for(LONG).is_some()));
        s.spawn(|| assert!(l.try_write_for(LONG).is_some()));
        thread::sleep(Duration::from_millis(50));
        drop(g);
        drop(w);
    });
    // A reader times out on a writer that waits for another reader, and
    // the writer, timing out too, lets readers in again.
    let r = l.read();
    thread::scope(|s| {
        s.spawn(|| assert!(l.try_write_for(Duration::from_millis(150)).is_none()));
        thread::sleep(Duration::from_millis(50));
        assert!(l.try_read_for(Duration::from_millis(20)).is_none());
    });
    assert!(
        l.try_read().is_some(),
        "the timed-out writer left its bit set"
    );
    drop(r);
    assert!(l.try_write().is_some());
}

// The fair handoffs (`unlock_fair`, `bump`) are tested in the raw modules'
// unit tests, which can see a waiter's parked bit before they unlock.

#[test]
fn reentrant_mutex_with_raw_thread_id() {
    let m = lock_api::ReentrantMutex::<RawMutex, RawThreadId, u32>::new(0);
    let a = m.lock();
    let b = m.lock();
    assert_eq!(*a + *b, 0);
    thread::scope(|s| {
        s.spawn(|| assert!(m.try_lock().is_none(), "another thread entered"));
    });
    drop((a, b));
    thread::scope(|s| {
        s.spawn(|| assert!(m.try_lock().is_some()));
    });
}

// --- Condvar ---------------------------------------------------------------

/// Ping-pong: each side waits for its turn; a lost wakeup is a wait that
/// times out with the turn still the other's.
fn ping_pong<R: lock_api::RawMutex + Sync>(turns: usize, notify_all: bool) {
    let m = lock_api::Mutex::<R, usize>::new(0);
    let cv = Condvar::new();
    thread::scope(|s| {
        for side in 0..2 {
            let (m, cv) = (&m, &cv);
            s.spawn(move || {
                let mut g = m.lock();
                while *g < turns {
                    let r = cv.wait_while_for(&mut g, |n| *n % 2 != side && *n < turns, LONG);
                    assert!(!r.timed_out(), "lost wakeup at turn {}", *g);
                    if *g < turns {
                        *g += 1;
                        if notify_all {
                            cv.notify_all();
                        } else {
                            cv.notify_one();
                        }
                    }
                }
            });
        }
    });
    assert_eq!(*m.lock(), turns);
}

#[test]
fn condvar_no_lost_wakeup_notify_one() {
    ping_pong::<RawMutex>(20_000, false);
}

#[test]
fn condvar_no_lost_wakeup_notify_all() {
    ping_pong::<RawMutex>(20_000, true);
}

#[test]
fn condvar_works_over_any_raw_mutex() {
    ping_pong::<lockdep::raw::RawFairMutex>(2_000, false);
    ping_pong::<parking_lot::RawMutex>(2_000, true);
}

/// Many waiters, generations broadcast with `notify_all`, and consumers
/// that poll with short timeouts: every generation is seen by everyone.
#[test]
fn condvar_broadcast_and_timeouts_under_stress() {
    const WAITERS: usize = 4;
    const GENERATIONS: usize = 2_000;
    let m = Mutex::new((0usize, 0usize)); // (generation, arrivals)
    let cv = Condvar::new();
    thread::scope(|s| {
        for w in 0..WAITERS {
            let (m, cv) = (&m, &cv);
            s.spawn(move || {
                for gen in 0..GENERATIONS {
                    let mut g = m.lock();
                    g.1 += 1;
                    cv.notify_all();
                    let deadline = Instant::now() + LONG;
                    while g.0 == gen {
                        // Half the waiters poll with a short timeout.
                        if w % 2 == 0 {
                            cv.wait_for(&mut g, Duration::from_micros(200));
                        } else {
                            assert!(
                                !cv.wait_until(&mut g, deadline).timed_out(),
                                "lost broadcast"
                            );
                        }
                        assert!(Instant::now() < deadline, "lost broadcast");
                    }
                }
            });
        }
        let (m, cv) = (&m, &cv);
        s.spawn(move || {
            for gen in 0..GENERATIONS {
                let mut g = m.lock();
                let r = cv.wait_while_for(&mut g, |g| g.1 < WAITERS, LONG);
                assert!(!r.timed_out(), "lost arrival in generation {gen}");
                *g = (gen + 1, 0);
                cv.notify_all();
            }
        });
    });
    assert_eq!(m.lock().0, GENERATIONS);
}

#[test]
fn condvar_timeouts_and_counts() {
    let m = Mutex::new(false);
    let cv = Condvar::new();
    assert!(!cv.notify_one(), "no waiter to wake");
    assert_eq!(cv.notify_all(), 0);
    let mut g = m.lock();
    let t = Instant::now();
    assert!(cv.wait_for(&mut g, Duration::from_millis(30)).timed_out());
    assert!(t.elapsed() >= Duration::from_millis(30));
    assert!(cv.wait_until(&mut g, Instant::now()).timed_out());
    assert!(cv
        .wait_while_for(&mut g, |_| true, Duration::from_millis(10))
        .timed_out());
    assert!(!cv
        .wait_while_for(&mut g, |_| false, Duration::from_millis(10))
        .timed_out());
    assert!(
        m.is_locked(),
        "the guard holds the mutex again after each wait"
    );
    drop(g);
    // Three parked waiters: notify_all wakes and counts all three.
    thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                let mut g = m.lock();
                cv.wait_while(&mut g, |go| !*go);
            });
        }
        thread::sleep(SETTLE);
        *m.lock() = true;
        assert_eq!(cv.notify_all(), 3);
    });
    // One waiter: notify_one wakes it and says so.
    *m.lock() = false;
    thread::scope(|s| {
        s.spawn(|| {
            let mut g = m.lock();
            cv.wait_while(&mut g, |go| !*go);
        });
        thread::sleep(SETTLE);
        *m.lock() = true;
        assert!(cv.notify_one());
    });
}

// --- Once ------------------------------------------------------------------

#[test]
fn once_runs_exactly_once_and_others_wait_for_it() {
    static ONCE: Once = Once::new();
    let runs = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let barrier = Barrier::new(THREADS);
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                barrier.wait();
                ONCE.call_once(|| {
                    runs.fetch_add(1, SeqCst);
                    assert_eq!(ONCE.state(), OnceState::InProgress);
                    thread::sleep(Duration::from_millis(50));
                    done.store(true, SeqCst);
                });
                assert!(
                    done.load(SeqCst),
                    "call_once returned before the initializer did"
                );
                assert!(ONCE.state().done());
            });
        }
    });
    assert_eq!(runs.load(SeqCst), 1);
    ONCE.call_once(|| panic!("ran twice"));
}

#[test]
fn once_poisoning_reaches_waiters_and_call_once_force_recovers() {
    let once = Once::new();
    thread::scope(|s| {
        let runner = s.spawn(|| {
            once.call_once(|| {
                thread::sleep(Duration::from_millis(100));
                panic!("initializer fails");
            })
        });
        thread::sleep(Duration::from_millis(20));
        // Waits for the running initializer, which then poisons the Once.
        let waiter = s.spawn(|| once.call_once(|| unreachable!("the runner runs")));
        assert!(runner.join().is_err());
        assert!(waiter.join().is_err(), "a waiter of a poisoned Once panics");
    });
    assert_eq!(once.state(), OnceState::Poisoned);
    assert!(once.state().poisoned() && !once.state().done());
    let mut told = None;
    once.call_once_force(|state| told = Some(state));
    assert_eq!(told, Some(OnceState::Poisoned));
    assert_eq!(once.state(), OnceState::Done);
    once.call_once(|| panic!("done already"));
}
