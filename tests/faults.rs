//! Faults under contention: 8 threads, real lock contention, and reports
//! raised all the time, in panic mode, for a bounded time
//! (`LOCKDEP_STRESS_SECS`, default 2).
//!
//! Every worker runs jobs as a thread pool does, catching each job's panic.
//! A job either takes shared locks in one global order (contention, no
//! report), closes a fresh ABBA (a report at an acquisition: the job
//! panics before the lock is taken), or releases a pseudo-lock it does not
//! hold (a report at a release: printed at once, its panic owed to the
//! job's next blocking acquisition, never raised inside the destructor).
//!
//! Checked: the run ends (nothing hangs or aborts); after every job the
//! worker holds nothing and every shared lock it touched is free; every
//! report is logged and each one's panic reached the job that raised it;
//! the validator's own code never panicked.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use lockdep::{Action, DynamicKey, LockMap, Mutex};

const THREADS: usize = 8;

fn secs() -> u64 {
    std::env::var("LOCKDEP_STRESS_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n as u64) as usize
    }
}

/// What one job did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Job {
    Ordered,
    Abba,
    BadRelease,
}

#[test]
fn reports_in_panic_mode_never_hang_abort_or_leak_a_lock() {
    lockdep::set_action(Action::Panic);
    // The panics are expected: keep the default hook from printing each.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));

    let shared: Vec<Mutex<u64>> = (0..16).map(|_| Mutex::new(0)).collect();
    let deadline = Instant::now() + Duration::from_secs(secs());
    let start = Barrier::new(THREADS);
    let panics = AtomicUsize::new(0);
    let raised = AtomicUsize::new(0);
    let internal_before = lockdep::stats().internal_errors;
    let reports_before = lockdep::stats().reports;

    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (shared, start, panics, raised) = (&shared, &start, &panics, &raised);
            s.spawn(move || {
                let mut rng = Rng(0x9e37_79b9 + t as u64);
                start.wait();
                while Instant::now() < deadline {
                    let job = [Job::Ordered, Job::Abba, Job::BadRelease][rng.below(3)];
                    let (a, b) = {
                        let (x, y) = (rng.below(shared.len()), rng.below(shared.len()));
                        (x.min(y), x.max(y))
                    };
                    let outcome = catch_unwind(AssertUnwindSafe(|| match job {
                        Job::Ordered => {
                            // Subclasses keep the one shared class apart by
                            // level: always lower index at level 0.
                            let _first = shared[a].lock();
                            if b != a {
                                let _second = shared[b].lock_nested(1);
                            }
                        }
                        Job::Abba => {
                            let ka = DynamicKey::new(format!("faults_a{t}"));
                            let kb = DynamicKey::new(format!("faults_b{t}"));
                            let (x, y) = (
                                Mutex::with_dynamic_key(&ka, 0u8),
                                Mutex::with_dynamic_key(&kb, 0u8),
                            );
                            {
                                let _x = x.lock();
                                let _y = y.lock();
                            }
                            let _y = y.lock();
                            raised.fetch_add(1, Ordering::Relaxed);
                            let _x = x.lock(); // closes the cycle: panics here
                            unreachable!("the report did not panic");
                        }
                        Job::BadRelease => {
                            let key = DynamicKey::new(format!("faults_unheld{t}"));
                            let map = LockMap::with_dynamic_key(&key);
                            raised.fetch_add(1, Ordering::Relaxed);
                            map.release(); // reported, and the panic is owed
                                           // The next blocking acquisition pays it.
                            drop(shared[a].lock());
                            unreachable!("the owed panic was not raised");
                        }
                    }));
                    if outcome.is_err() {
                        let message = common::panic_text(outcome);
                        assert!(
                            message.starts_with("lockdep"),
                            "{job:?} panicked, but not with a report: {message}"
                        );
                        panics.fetch_add(1, Ordering::Relaxed);
                    }
                    assert!(
                        lockdep::held_locks().is_empty(),
                        "{job:?} left {:?}",
                        lockdep::held_locks()
                    );
                    // Nothing of the job is left locked: the raw locks it took
                    // are free (another worker may hold them for a moment,
                    // and be descheduled meanwhile on a busy machine).
                    for m in [&shared[a], &shared[b]] {
                        let free = m.try_lock_for(Duration::from_secs(30)).is_some();
                        assert!(free, "{job:?} left a shared lock locked");
                    }
                }
            });
        }
    });
    std::panic::set_hook(hook);
    lockdep::set_action(Action::Silent);

    let raised = raised.load(Ordering::Relaxed);
    assert!(raised > 0, "no report was raised");
    assert_eq!(
        panics.load(Ordering::Relaxed),
        raised,
        "every report's panic reached its job, and nothing else panicked"
    );
    // Each job's classes are fresh, so each raised exactly one report, and
    // this test is the only one here: every report was logged (the log keeps
    // the newest, and counts those it let go).
    let stats = lockdep::stats();
    assert_eq!(
        stats.reports - reports_before,
        raised,
        "every report is logged"
    );
    let kept = lockdep::reports()
        .iter()
        .filter(|r| r.class_names().iter().any(|n| n.starts_with("faults_")))
        .count();
    assert_eq!(
        kept + stats.reports_dropped,
        stats.reports,
        "the log is honest"
    );
    assert_eq!(lockdep::stats().internal_errors, internal_before);
}
