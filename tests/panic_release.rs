//! `Action::Panic` where no panic may be raised: a report raised by a
//! release (a destructor) leaves the raw lock free and the held stack right,
//! never panics in the destructor, and panics at the thread's next blocking
//! acquisition instead. And one acquisition that closes several cycles
//! logs and raises all of them.

mod common;

use std::panic::{catch_unwind, AssertUnwindSafe};

use common::{close_two_cycles, held_names, panic_text};
use lockdep::{Action, Mutex};

fn count(title: &str, class: &str) -> usize {
    lockdep::reports()
        .iter()
        .filter(|r| r.title() == title && r.class_names().contains(&class))
        .count()
}

#[test]
fn a_report_at_release_is_raised_at_the_next_blocking_acquisition() {
    static PINNED: Mutex<u32> = Mutex::named("pr_pinned", 0);
    static NEXT: Mutex<u32> = Mutex::named("pr_next", 0);
    lockdep::set_action(Action::Panic);
    std::thread::spawn(|| {
        let guard = PINNED.lock();
        std::mem::forget(PINNED.pin());
        // Releasing a pinned lock is reported, from the guard's destructor:
        // the drop returns, and the raw lock is free.
        let dropped = catch_unwind(AssertUnwindSafe(|| drop(guard)));
        assert!(dropped.is_ok(), "no panic inside a destructor");
        assert!(!PINNED.is_locked());
        assert!(held_names().is_empty());
        assert_eq!(count("releasing a pinned lock!", "pr_pinned"), 1);
        // A trylock records its lock once it holds it: it raises nothing.
        drop(NEXT.try_lock().expect("free"));
        // The next blocking acquisition raises it, before taking its lock.
        let text = panic_text(catch_unwind(|| {
            let _n = NEXT.lock();
        }));
        let first = text.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("lockdep: releasing a pinned lock! (raised earlier on this thread"),
            "{text}"
        );
        assert!(text.contains("WARNING: releasing a pinned lock!"), "{text}");
        assert!(!NEXT.is_locked());
        assert!(held_names().is_empty());
        // Raised once: the thread goes on.
        *NEXT.lock() += 1;
        *PINNED.lock() += 1;
    })
    .join()
    .expect("the thread ends normally");
}

#[test]
fn guards_in_a_vec_are_all_unlocked_by_the_unwinding() {
    static LOCKS: [Mutex<u32>; 4] = [
        Mutex::named("pr_vec0", 0),
        Mutex::named("pr_vec1", 0),
        Mutex::named("pr_vec2", 0),
        Mutex::named("pr_vec3", 0),
    ];
    lockdep::set_action(Action::Panic);
    std::thread::spawn(|| {
        // Learn 0 -> 1 -> 2 -> 3.
        {
            let guards: Vec<_> = LOCKS.iter().map(|m| m.lock()).collect();
            assert_eq!(guards.len(), 4);
        }
        // 3, 1, then 0 closes 0 -> 1 -> ... : panics with 3 and 1 in the Vec.
        let text = panic_text(catch_unwind(|| {
            let mut guards = vec![LOCKS[3].lock(), LOCKS[1].lock()];
            guards.push(LOCKS[0].lock());
            unreachable!("the acquisition of 0 panics");
        }));
        assert!(
            text.starts_with("lockdep: possible circular locking dependency detected\n"),
            "{text}"
        );
        for m in &LOCKS {
            assert!(!m.is_locked());
        }
        assert!(held_names().is_empty());
        // A Vec dropped first to last releases out of order: no panic.
        let guards: Vec<_> = LOCKS.iter().map(|m| m.lock()).collect();
        drop(guards);
        assert!(held_names().is_empty());
        assert!(LOCKS.iter().all(|m| !m.is_locked()));
    })
    .join()
    .expect("the thread ends normally");
}

/// Holding X and a trylock of Y, taking Z closes two cycles at once:
/// Y -> Z -> Y and X -> Z -> X. Both are logged, and the panic carries both.
#[test]
fn one_acquisition_that_closes_two_cycles_logs_and_raises_both() {
    static X: Mutex<u32> = Mutex::named("pr_two_x", 0);
    static Y: Mutex<u32> = Mutex::named("pr_two_y", 0);
    static Z: Mutex<u32> = Mutex::named("pr_two_z", 0);
    lockdep::set_action(Action::Panic);
    std::thread::spawn(|| {
        let text = close_two_cycles(&X, &Y, &Z);
        assert!(
            text.starts_with(
                "lockdep: 2 reports: possible circular locking dependency detected; \
                 possible circular locking dependency detected\n"
            ),
            "{text}"
        );
        assert_eq!(text.matches("WARNING: possible circular").count(), 2);
        // Each cycle's classes (the chain of a cycle report).
        let cycles: Vec<Vec<String>> = lockdep::reports()
            .iter()
            .filter(|r| r.class_names().contains(&"pr_two_z"))
            .map(|r| {
                let mut names: Vec<String> =
                    r.class_names().into_iter().map(String::from).collect();
                names.sort_unstable();
                names.dedup();
                names
            })
            .collect();
        assert_eq!(cycles.len(), 2, "both cycles are in the log");
        assert!(
            cycles.contains(&vec!["pr_two_x".into(), "pr_two_z".into()]),
            "{cycles:?}"
        );
        assert!(
            cycles.contains(&vec!["pr_two_y".into(), "pr_two_z".into()]),
            "{cycles:?}"
        );
        assert!(held_names().is_empty());
        assert!(!X.is_locked() && !Y.is_locked() && !Z.is_locked());
    })
    .join()
    .expect("the thread ends normally");
}

/// A sharded map that takes every shard (one class: one construction site)
/// without a nesting annotation: the second shard's acquisition is reported
/// as recursive locking and panics; the first shard, already taken, is
/// unlocked by the unwinding, and the map stays usable.
#[test]
fn a_panic_after_one_shard_was_taken_leaves_no_shard_locked() {
    use lockdep::RwLock;
    lockdep::set_action(Action::Panic);
    std::thread::spawn(|| {
        let shards: Vec<RwLock<u32>> = (0..4).map(|_| RwLock::new(0)).collect();
        let text = panic_text(catch_unwind(AssertUnwindSafe(|| {
            let all: Vec<_> = shards.iter().map(|s| s.write()).collect();
            all.len()
        })));
        assert!(
            text.starts_with("lockdep: possible recursive locking detected\n"),
            "{text}"
        );
        assert!(
            shards.iter().all(|s| !s.is_locked()),
            "no shard left locked"
        );
        assert!(held_names().is_empty());
        for s in &shards {
            *s.write() += 1;
        }
        assert!(shards.iter().all(|s| *s.read() == 1));
    })
    .join()
    .expect("the thread ends normally");
}
