//! Releases in the orders real code uses: a `Vec` of guards (dropped first
//! to last), guards dropped in any order, and a lock taken while older
//! ones are released. The held stack stays right, nothing is reported
//! that should not be, and a cycle that only an out-of-order release
//! reveals is still found.

use lockdep::report::Problem;
use lockdep::{ClassKey, Mutex, RwLock};

fn key(name: &'static str) -> &'static ClassKey {
    Box::leak(Box::new(ClassKey::new(name)))
}

fn held_names() -> Vec<String> {
    lockdep::held_locks()
        .into_iter()
        .map(|l| l.name.clone())
        .collect()
}

fn reports_naming(prefix: &str) -> usize {
    lockdep::reports()
        .iter()
        .filter(|r| r.class_names().iter().any(|n| n.starts_with(prefix)))
        .count()
}

/// A `Vec` of 64 guards, taken in order and dropped as a `Vec` drops
/// (first to last), many times; halfway through a drain, the rest is
/// still held in order; a lock taken then nests under what is left.
#[test]
fn a_vec_of_guards_drops_first_to_last() {
    std::thread::spawn(|| {
        let locks: Vec<Mutex<u32>> = (0..64)
            .map(|_| Mutex::with_key(key("rel-vec"), 0))
            .collect();
        let names: Vec<String> = (0..64)
            .map(|i| lockdep::class_name(locks[i].class()))
            .collect();
        for _ in 0..100 {
            let guards: Vec<_> = locks.iter().map(|l| l.lock()).collect();
            assert_eq!(held_names(), names);
            drop(guards);
            assert!(held_names().is_empty());
        }
        let mut guards: Vec<_> = locks.iter().map(|l| l.lock()).collect();
        guards.drain(..32);
        assert_eq!(held_names(), names[32..]);
        let extra = Mutex::with_key(key("rel-vec-extra"), 0);
        let g = extra.lock();
        let mut expected = names[32..].to_vec();
        expected.push(lockdep::class_name(extra.class()));
        assert_eq!(held_names(), expected);
        drop(g);
        drop(guards);
        assert!(held_names().is_empty());
    })
    .join()
    .unwrap();
    assert_eq!(reports_naming("rel-vec"), 0, "one order: nothing to report");
}

/// Hand over hand along a chain of locks: take the next, release the
/// previous (always the oldest held). The stack is the last two.
#[test]
fn hand_over_hand() {
    std::thread::spawn(|| {
        let locks: Vec<Mutex<u32>> = (0..1000)
            .map(|_| Mutex::with_key(key("rel-hoh"), 0))
            .collect();
        for _ in 0..3 {
            let mut prev = locks[0].lock();
            for (i, l) in locks.iter().enumerate().skip(1) {
                let next = l.lock();
                drop(std::mem::replace(&mut prev, next));
                assert_eq!(held_names(), [lockdep::class_name(locks[i].class())]);
            }
            drop(prev);
            assert!(held_names().is_empty());
        }
    })
    .join()
    .unwrap();
    assert_eq!(reports_naming("rel-hoh"), 0);
}

/// A holds B holds C, where B is a recursive read: A -> C is not implied
/// (an `*R` edge followed by an `S*` one is not a strong path). Releasing B
/// first makes C's walk go on down to A: A -> C is learned, and with
/// C -> A the cycle is reported, as the kernel finds it.
#[test]
fn an_out_of_order_release_still_reveals_its_dependency() {
    std::thread::spawn(|| {
        let a = RwLock::with_key(key("rel-ooo-a"), 0);
        let b = RwLock::with_key(key("rel-ooo-b"), 0);
        let c = Mutex::with_key(key("rel-ooo-c"), 0);
        {
            let _c = c.lock();
            let _a = a.read();
        }
        let ga = a.read();
        let gb = b.read_recursive();
        let gc = c.lock();
        drop(gb);
        drop(gc);
        drop(ga);
    })
    .join()
    .unwrap();
    let cycle = lockdep::reports().into_iter().any(|r| {
        matches!(r.problem, Problem::CircularDependency { .. })
            && r.class_names().contains(&"rel-ooo-a")
            && r.class_names().contains(&"rel-ooo-c")
    });
    assert!(cycle, "the cycle through A and C is reported");
}
