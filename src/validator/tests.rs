use super::*;
use crate::class::{Prefix, Source};
use crate::report::Problem;

#[track_caller]
fn lazy(name: &'static str) -> LazyClass {
    LazyClass::new(Source::Named {
        at: Location::caller(),
        name,
        prefix: Prefix::None,
    })
}

fn key_from_scratch(held: &[HeldLock]) -> Key {
    held.iter()
        .fold(Key::initial(), |k, h| chain::mix(k, h.chain_id()))
}

fn current_key_and_stack() -> (Key, Vec<HeldLock>) {
    with_state(|st| (st.key, st.held.clone())).expect("state")
}

#[test]
fn a_known_chain_adds_nothing() {
    let a = lazy("unit-known-a");
    let b = lazy("unit-known-b");
    let at = Location::caller();
    let run = || {
        assert!(acquire(&a, 0, 1, Mode::Exclusive, false, at));
        assert!(acquire(&b, 0, 2, Mode::Exclusive, false, at));
        release(&b, 2, Some(at));
        release(&a, 1, Some(at));
    };
    run();
    let local = with_state(|st| st.chains.len()).unwrap();
    assert_eq!(local, 1, "one nested chain validated on this thread");
    run();
    assert_eq!(with_state(|st| st.chains.len()).unwrap(), local);
    assert!(with_global(|g| g.graph.has(
        a.get(0),
        b.get(0),
        graph::DEP_EN
    )));
}

#[test]
fn out_of_order_release_restores_chain_keys() {
    let a = lazy("unit-ooo-a");
    let b = lazy("unit-ooo-b");
    let c = lazy("unit-ooo-c");
    let at = Location::caller();
    acquire(&a, 0, 11, Mode::Exclusive, false, at);
    acquire(&b, 0, 12, Mode::Shared, false, at);
    acquire(&c, 0, 13, Mode::Exclusive, true, at);
    release(&b, 12, Some(at));
    let (key, held) = current_key_and_stack();
    assert_eq!(
        held.iter().map(|h| h.instance).collect::<Vec<_>>(),
        [11, 13]
    );
    assert_eq!(key, key_from_scratch(&held));
    assert_eq!(held[1].key, key_from_scratch(&held[..2]));
    // The trylock stays a trylock when re-acquired.
    assert!(held[1].trylock);
    release(&a, 11, Some(at));
    release(&c, 13, Some(at));
    let (key, held) = current_key_and_stack();
    assert!(held.is_empty());
    assert_eq!(key, Key::initial());
}

/// Entries pushed and popped by the fast path and by the slow path are
/// one stack: each sees the other's, with the right chain keys.
#[test]
fn fast_and_slow_paths_share_one_stack() {
    let classes: Vec<LazyClass> = (0..40).map(|_| leaked_key("unit-fast")).collect();
    let at = Location::caller();
    let check = check_stack;
    // The first time every chain is new: the slow path, which grows the
    // buffer past its first capacity.
    for (i, c) in classes.iter().enumerate() {
        assert!(acquire(c, 0, 100 + i, Mode::Exclusive, false, at));
    }
    let all: Vec<usize> = (100..140).collect();
    check(&all);
    for (i, c) in classes.iter().enumerate().rev() {
        release(c, 100 + i, Some(at));
    }
    check(&[]);
    // The second time every acquisition is known: the fast path.
    for (i, c) in classes.iter().enumerate() {
        assert_eq!(
            fast_acquire(c, 0, 100 + i, Mode::Exclusive, false, at),
            Some(true),
            "lock {i}"
        );
    }
    check(&all);
    // Out of order: the slow path re-acquires what was above.
    release(&classes[20], 120, Some(at));
    let mut rest = all.clone();
    rest.remove(20);
    check(&rest);
    assert!(
        fast_release(139),
        "the top entry is released on the fast path"
    );
    assert!(
        !fast_release(100),
        "not the top entry: the slow path's work"
    );
    for i in (0..39).rev().filter(|&i| i != 20) {
        release(&classes[i], 100 + i, Some(at));
    }
    check(&[]);
    assert_eq!(current_key_and_stack().0, Key::initial());
}

/// A subclass the lock has cached takes the fast path too; one it has
/// not, or an ordered class, does not.
#[test]
fn cached_subclasses_take_the_fast_path() {
    let parent = lazy("unit-fastsub-parent");
    let child = lazy("unit-fastsub-child");
    let at = Location::caller();
    let pair = |sub| {
        assert!(acquire(&parent, 0, 31, Mode::Exclusive, false, at));
        let fast = fast_acquire(&child, sub, 32, Mode::Exclusive, false, at);
        if fast.is_none() {
            assert!(acquire(&child, sub, 32, Mode::Exclusive, false, at));
        }
        release(&child, 32, Some(at));
        release(&parent, 31, Some(at));
        fast
    };
    assert_eq!(pair(2), None, "the first time: the slow path");
    assert_eq!(pair(2), Some(true), "known chain, cached subclass");
    assert_eq!(pair(3), None, "another subclass is not the cached one");
    assert_eq!(pair(3), Some(true));
    assert_eq!(pair(0), None, "subclass 0 under this parent: a new chain");
    assert_eq!(pair(0), Some(true));
    assert!(current_key_and_stack().1.is_empty());
}

/// Under a nest lock, known chains take the fast path: the first lock
/// of the class as a plain entry, the next ones covered; a nest lock
/// that is not held, or taken too late, leaves the entry plain.
#[test]
fn acquisitions_under_a_nest_lock_take_the_fast_path() {
    let nest = lazy("unit-fastnest-parent");
    let child = lazy("unit-fastnest-child");
    let at = Location::caller();
    let (n, c1, c2) = (51, 52, 53);
    let nests = || -> Vec<Nest> { current_key_and_stack().1.iter().map(|h| h.nest).collect() };
    std::thread::spawn(move || {
        for round in 0..2 {
            assert!(acquire(&nest, 0, n, Mode::Exclusive, false, at));
            for c in [c1, c2] {
                let fast = fast_acquire_under(&child, c, Mode::Exclusive, at, n);
                match round {
                    0 => {
                        assert_eq!(fast, None, "a new chain: the slow path");
                        assert!(acquire_under(&child, c, Mode::Exclusive, at, &nest, n));
                    }
                    _ => assert_eq!(fast, Some(true), "a known chain: the fast path"),
                }
            }
            assert_eq!(nests(), [Nest::No, Nest::No, Nest::Covered]);
            release(&child, c2, Some(at));
            release(&child, c1, Some(at));
            release(&nest, n, Some(at));
        }
        // The nest lock not held: the slow path, which reports it.
        assert!(acquire(&child, 0, c1, Mode::Exclusive, false, at));
        assert_eq!(fast_acquire_under(&child, c2, Mode::Exclusive, at, n), None);
        // Taken after the first child: a plain entry (the recursion
        // was reported by the slow path).
        assert!(acquire(&nest, 0, n, Mode::Exclusive, false, at));
        assert!(acquire_under(&child, c2, Mode::Exclusive, at, &nest, n));
        assert_eq!(nests(), [Nest::No, Nest::No, Nest::No]);
        release(&child, c2, Some(at));
        release(&nest, n, Some(at));
        release(&child, c1, Some(at));
    })
    .join()
    .unwrap();
}

/// Alternating subclasses, and subclasses of 256 and more, of known
/// chains take no slow path (nor the registry's lock).
#[test]
fn alternating_and_large_subclasses_take_no_slow_path() {
    std::thread::spawn(|| {
        let parent = lazy("unit-altsub-parent");
        let child = lazy("unit-altsub-child");
        let at = Location::caller();
        let pair = |sub| {
            assert!(acquire(&parent, 0, 41, Mode::Exclusive, false, at));
            assert!(acquire(&child, sub, 42, Mode::Exclusive, false, at));
            release(&child, 42, Some(at));
            release(&parent, 41, Some(at));
        };
        let subs = [1, 2, 300, 70_000];
        for &sub in &subs {
            pair(sub);
        }
        let sessions = SESSIONS.with(Cell::get);
        for _ in 0..10 {
            for &sub in &subs {
                pair(sub);
            }
        }
        assert_eq!(SESSIONS.with(Cell::get), sessions, "all on the fast path");
    })
    .join()
    .unwrap();
}

/// An ordered class's known chain takes the fast path only in order:
/// the reverse order still goes to the slow path, and is reported.
#[test]
fn ordered_classes_take_the_fast_path_in_order_only() {
    static KEY: crate::ClassKey = crate::ClassKey::ordered("unit-fastord");
    let class = LazyClass::new(Source::Key(&KEY));
    let at = Location::caller();
    let (low, high) = (0x7000, 0x7100);
    std::thread::spawn(move || {
        for _ in 0..2 {
            assert!(acquire(&class, 0, low, Mode::Exclusive, false, at));
            assert!(acquire(&class, 0, high, Mode::Exclusive, false, at));
            release(&class, high, Some(at));
            release(&class, low, Some(at));
        }
        assert!(acquire(&class, 0, low, Mode::Exclusive, false, at));
        assert_eq!(
            fast_acquire_ordered(&class, high, Mode::Exclusive, false, at),
            Some(true),
            "in order, known chain"
        );
        release(&class, high, Some(at));
        release(&class, low, Some(at));
        assert!(acquire(&class, 0, high, Mode::Exclusive, false, at));
        assert_eq!(
            fast_acquire_ordered(&class, low, Mode::Exclusive, false, at),
            None
        );
        assert!(acquire(&class, 0, low, Mode::Exclusive, false, at));
        release(&class, low, Some(at));
        release(&class, high, Some(at));
    })
    .join()
    .unwrap();
    let disorder = reports()
        .into_iter()
        .filter(|r| r.class_names().contains(&"unit-fastord"))
        .count();
    assert_eq!(disorder, 1, "the reverse order is reported once");
}

/// Random sequences of acquisitions (plain, subclass, trylock, shared)
/// and releases in any order, on one thread, against a model stack:
/// after every step the validator's stack, its chain keys and the fast
/// path's depth agree with the model, whichever path each step took.
/// Locks are taken in one global order, so nothing is ever reported.
/// (Not in the compiled-out twin crate, which has no proptest.)
#[cfg(not(lockdep_off))]
mod stack_model {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Acquire {
            lock: usize,
            subclass: u32,
            mode: u8,
            trylock: bool,
        },
        Release {
            nth: usize,
        },
        /// `lock_under` a held lock.
        AcquireUnder {
            lock: usize,
            nest_nth: usize,
        },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0..8usize, 0..3u32, 0..3u8, proptest::bool::weighted(0.2)).prop_map(
                |(lock, subclass, mode, trylock)| Op::Acquire { lock, subclass, mode, trylock }
            ),
            2 => (0..8usize).prop_map(|nth| Op::Release { nth }),
            1 => (0..8usize, 0..8usize).prop_map(|(lock, nest_nth)| Op::AcquireUnder { lock, nest_nth }),
        ]
    }

    fn classes() -> &'static [LazyClass] {
        static CLASSES: std::sync::OnceLock<Vec<LazyClass>> = std::sync::OnceLock::new();
        // Locks 5, 6 and 7 are of one ordered class (their addresses
        // increase with their index).
        static ORDERED: crate::ClassKey = crate::ClassKey::ordered("unit-model-ordered");
        CLASSES.get_or_init(|| {
            (0..8)
                .map(|i| {
                    let key: &'static crate::ClassKey = if i >= 5 {
                        &ORDERED
                    } else {
                        Box::leak(Box::new(crate::ClassKey::new("unit-model")))
                    };
                    LazyClass::new(Source::Key(key))
                })
                .collect()
        })
    }

    fn run(ops: &[Op]) {
        let at = Location::caller();
        let instance = |lock: usize| 0x5000 + lock * 8;
        let classes = classes();
        // The lock of each held entry, bottom first.
        let mut model: Vec<usize> = Vec::new();
        // The second time round, most chains are known: the fast path.
        for _ in 0..2 {
            for op in ops {
                match *op {
                    Op::Acquire {
                        lock,
                        subclass,
                        mode,
                        trylock,
                    } => {
                        if model.last().is_some_and(|&top| top >= lock) {
                            continue; // one global order
                        }
                        let mode = Mode::from_bits(u64::from(mode));
                        // The ordered locks share a class: subclasses of
                        // it would order them by something else.
                        let subclass = if lock >= 5 { 0 } else { subclass };
                        let tracked =
                            acquire(&classes[lock], subclass, instance(lock), mode, trylock, at);
                        assert!(tracked);
                        model.push(lock);
                    }
                    Op::Release { nth } => {
                        if model.is_empty() {
                            continue;
                        }
                        let lock = model.remove(nth % model.len());
                        release(&classes[lock], instance(lock), Some(at));
                    }
                    Op::AcquireUnder { lock, nest_nth } => {
                        let Some(&top) = model.last() else {
                            continue;
                        };
                        if top >= lock {
                            continue;
                        }
                        let nest = model[nest_nth % model.len()];
                        let tracked = acquire_under(
                            &classes[lock],
                            instance(lock),
                            Mode::Exclusive,
                            at,
                            &classes[nest],
                            instance(nest),
                        );
                        assert!(tracked);
                        model.push(lock);
                    }
                }
                let (key, held) = current_key_and_stack();
                let instances: Vec<usize> = held.iter().map(|h| h.instance).collect();
                let expected: Vec<usize> = model.iter().map(|&l| instance(l)).collect();
                assert_eq!(instances, expected, "after {op:?}");
                assert_eq!(key, key_from_scratch(&held));
                for i in 0..held.len() {
                    assert_eq!(held[i].key, key_from_scratch(&held[..=i]));
                }
                assert_eq!(FAST.with(|f| f.step.depth.get()) as usize, held.len());
            }
            while let Some(lock) = model.pop() {
                release(&classes[lock], instance(lock), Some(at));
            }
        }
        assert!(current_key_and_stack().1.is_empty());
        let ours = reports()
            .into_iter()
            .filter(|r| r.class_names().iter().any(|n| n.starts_with("unit-model")))
            .count();
        assert_eq!(ours, 0, "one global order: nothing to report");
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 256,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]
        #[test]
        fn fast_and_slow_paths_keep_the_model_stack(ops in proptest::collection::vec(op(), 1..60)) {
            // A thread of its own: a fresh state, nothing held by other tests.
            std::thread::spawn(move || run(&ops))
                .join()
                .map_err(|_| TestCaseError::fail("the model thread panicked"))?;
        }
    }
}

fn leaked_key(name: &'static str) -> LazyClass {
    LazyClass::new(Source::Key(Box::leak(Box::new(crate::ClassKey::new(name)))))
}

fn validations() -> usize {
    VALIDATIONS.with(Cell::get)
}

/// Two 4-lock chains whose keys collide in lane a (forced by the test
/// hook, at every depth), the unkeyed lane, which a program could
/// search for, are told apart at every level of the cache: the second,
/// which closes a cycle, is validated and reported, although the first
/// is in its last lock's memo (lane b), in the thread's set (the fold)
/// and in the global set (both lanes), and each of its prefixes too.
#[test]
fn a_chain_key_collision_does_not_hide_a_cycle() {
    let names = ["unit-collide-q1", "unit-collide-q2", "unit-collide-d"];
    std::thread::spawn(|| {
        chain::COLLIDE_LANE_A.with(|c| c.set(true));
        let at = Location::caller();
        let p: Vec<LazyClass> = (0..3).map(|_| leaked_key("unit-collide-p")).collect();
        let q: Vec<LazyClass> = ["unit-collide-q0", "unit-collide-q1", "unit-collide-q2"]
            .into_iter()
            .map(leaked_key)
            .collect();
        let d = leaked_key("unit-collide-d");
        let take = |locks: &[&LazyClass]| {
            for (i, l) in locks.iter().enumerate() {
                assert!(acquire(l, 0, 0x9000 + i * 8, Mode::Exclusive, false, at));
            }
            let key = current_key_and_stack().0;
            for (i, l) in locks.iter().enumerate().rev() {
                release(l, 0x9000 + i * 8, Some(at));
            }
            key
        };
        // d -> q1 learned.
        take(&[&d, &q[1]]);
        // The first chain, twice: validated, then known (d's memo).
        let first = take(&[&p[0], &p[1], &p[2], &d]);
        assert_eq!(take(&[&p[0], &p[1], &p[2], &d]), first);
        assert_eq!(d.memo.load(Ordering::Relaxed), first.memo(), "in d's memo");
        let in_set = with_state(|st| st.chains.contains(first));
        assert_eq!(in_set, Some(true), "in the thread's set");
        assert!(shared().chains.contains(first), "in the global set");
        // The second closes q1 -> q2 -> d -> q1.
        let before = validations();
        let second = take(&[&q[0], &q[1], &q[2], &d]);
        assert_eq!(second.a, first.a, "the hook collides lane a");
        assert_ne!(second.memo(), first.memo(), "the memo tells them apart");
        assert_ne!(second.fold(), first.fold(), "the thread's set does");
        assert_ne!(second, first, "the global set does");
        assert_eq!(validations() - before, 3, "every chain of q was validated");
        chain::COLLIDE_LANE_A.with(|c| c.set(false));
    })
    .join()
    .unwrap();
    let found = reports().into_iter().any(|r| {
        matches!(r.problem, Problem::CircularDependency { .. })
            && names.iter().all(|n| r.class_names().contains(n))
    });
    assert!(found, "the cycle through q1, q2 and d is reported");
}

fn check_stack(instances: &[usize]) {
    let (key, held) = current_key_and_stack();
    assert_eq!(
        held.iter().map(|h| h.instance).collect::<Vec<_>>(),
        instances
    );
    assert_eq!(key, key_from_scratch(&held));
    for i in 0..held.len() {
        assert_eq!(held[i].key, key_from_scratch(&held[..=i]), "entry {i}");
    }
    assert_eq!(FAST.with(|f| f.step.depth.get()) as usize, held.len());
}

/// Four locks (one a trylock) released in each of the 24 orders, each
/// order twice (slow path, then fast path): after every release the
/// stack and its chain keys are those of the locks still held, and so
/// after taking one more lock on what is left; the oldest held lock's
/// release takes the fast path, and no release validates a chain
/// unless the first non-trylock above a released lock has locks below.
#[test]
fn releases_in_every_order_keep_stack_and_keys() {
    std::thread::spawn(|| {
        let at = Location::caller();
        let locks: Vec<LazyClass> = (0..5).map(|_| leaked_key("unit-order")).collect();
        let inst = |i: usize| 0xa000 + i * 8;
        let mut orders = vec![vec![]];
        for n in 0..4 {
            orders = orders
                .into_iter()
                .flat_map(|o: Vec<usize>| {
                    (0..=o.len()).map(move |p| {
                        let mut o = o.clone();
                        o.insert(p, n);
                        o
                    })
                })
                .collect();
        }
        assert_eq!(orders.len(), 24);
        for order in &orders {
            for _ in 0..2 {
                for (i, l) in locks[..4].iter().enumerate() {
                    assert!(acquire(l, 0, inst(i), Mode::Exclusive, i == 2, at));
                }
                let mut held: Vec<usize> = (0..4).collect();
                for &r in order {
                    let pos = held.iter().position(|&h| h == r).unwrap();
                    let oldest = pos == 0 && held.len() > 1;
                    if oldest {
                        assert!(fast_release_oldest(inst(r)), "{order:?}: oldest");
                    } else {
                        release(&locks[r], inst(r), Some(at));
                    }
                    held.remove(pos);
                    if oldest {
                        assert_eq!(FAST.with(|f| f.low.get()), 1);
                    }
                    let before = validations();
                    check_stack(&held.iter().map(|&h| inst(h)).collect::<Vec<_>>());
                    assert_eq!(validations(), before, "checking validates nothing");
                    // One more lock on what is left, and off again.
                    assert!(acquire(&locks[4], 0, inst(4), Mode::Exclusive, false, at));
                    let mut with = held.iter().map(|&h| inst(h)).collect::<Vec<_>>();
                    with.push(inst(4));
                    check_stack(&with);
                    release(&locks[4], inst(4), Some(at));
                }
                check_stack(&[]);
            }
            // The second round found every chain known.
            let before = validations();
            for (i, l) in locks[..4].iter().enumerate() {
                assert!(acquire(l, 0, inst(i), Mode::Exclusive, i == 2, at));
            }
            for &r in order {
                release(&locks[r], inst(r), Some(at));
            }
            assert_eq!(validations(), before, "{order:?}: all known");
        }
    })
    .join()
    .unwrap();
}

/// 10 000 held locks released oldest first cost no validation and one
/// step each; in other orders, a release validates at most one chain.
#[test]
fn ten_thousand_locks_release_in_bounded_work() {
    std::thread::spawn(|| {
        let at = Location::caller();
        let n = 10_000;
        let locks: Vec<LazyClass> = (0..n).map(|_| leaked_key("unit-10k")).collect();
        let inst = |i: usize| 0x10_0000 + i * 8;
        let take = |count: usize| {
            for (i, l) in locks[..count].iter().enumerate() {
                assert!(acquire(l, 0, inst(i), Mode::Exclusive, false, at));
            }
        };
        take(n);
        let before = validations();
        for (i, l) in locks.iter().enumerate() {
            release(l, inst(i), Some(at));
            if i + 1 < n {
                assert_eq!(FAST.with(|f| f.low.get()) as usize, i + 1, "O(1) each");
            }
        }
        assert_eq!(validations(), before, "oldest first: nothing validated");
        check_stack(&[]);
        // The second oldest first, on 1000 of them: one validation each
        // at most (the lock above it, now over the oldest).
        take(1000);
        let before = validations();
        for (i, l) in locks[1..1000].iter().enumerate() {
            release(l, inst(i + 1), Some(at));
        }
        assert!(validations() - before <= 998);
        check_stack(&[inst(0)]);
        release(&locks[0], inst(0), Some(at));
        check_stack(&[]);
    })
    .join()
    .unwrap();
}

#[test]
fn internal_panics_are_contained() {
    let before = INTERNAL_ERRORS.load(std::sync::atomic::Ordering::Relaxed);
    let r: Option<()> = contained("a unit test", || panic!("deliberate"));
    assert!(r.is_none());
    assert_eq!(contained("a unit test", || 5), Some(5));
    assert!(INTERNAL_ERRORS.load(std::sync::atomic::Ordering::Relaxed) > before);
}

#[test]
fn untracked_while_the_validator_runs_on_this_thread() {
    let a = lazy("unit-reentrant-a");
    let at = Location::caller();
    let inner = with_state(|_| acquire(&a, 0, 21, Mode::Exclusive, false, at));
    assert_eq!(
        inner,
        Some(false),
        "nested use of the validator is not tracked"
    );
}

#[test]
fn a_fast_step_ends_with_its_depth_and_the_flag_down() {
    let step = Step::new();
    assert!(step.enter(), "a new step word has the flag down");
    assert!(!step.enter(), "the flag, once up, refuses a second step");
    step.end(7);
    assert_eq!(step.depth.get(), 7);
    assert!(step.enter(), "ending a step lowers the flag");
    step.depth.set(3);
    step.leave();
    assert_eq!(step.depth.get(), 3, "lowering the flag keeps the depth");
    assert!(step.enter());
}
