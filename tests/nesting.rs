//! Nesting within one class: subclasses, nest locks, and ordered classes.

mod common;

use common::{
    assert_no_reports, circular, held_names, on_thread, one_report, recursive, reports_about,
    silent,
};
use lockdep::parking_lot::lock_api::GetThreadId as _;
use lockdep::report::Problem;
use lockdep::{ClassKey, LockMap, Mode, Mutex};

static OK_CHILD: ClassKey = ClassKey::new("nest_ok_child");
static CMP_CHILD: ClassKey = ClassKey::new("nest_cmp_child");

/// Children of one class: the class of the key.
fn child(key: &'static ClassKey) -> Mutex<u32> {
    Mutex::with_key(key, 0)
}

#[test]
fn many_children_under_a_held_nest_lock_are_fine() {
    silent();
    let parent = Mutex::named("nest_ok_parent", ());
    let children: Vec<_> = (0..5).map(|_| child(&OK_CHILD)).collect();
    for _ in 0..2 {
        let _p = parent.lock();
        // Any order, any number, while the parent is held.
        let guards: Vec<_> = children
            .iter()
            .rev()
            .map(|c| c.lock_under(&parent))
            .collect();
        assert_eq!(held_names().len(), 6);
        drop(guards);
    }
    assert_no_reports(&["nest_ok_parent", "nest_ok_child"]);
}

#[test]
fn the_same_chain_without_the_nest_lock_is_still_checked() {
    silent();
    let parent = Mutex::named("nest_cmp_parent", ());
    let (a, b) = (child(&CMP_CHILD), child(&CMP_CHILD));
    {
        let _p = parent.lock();
        let _a = a.lock_under(&parent);
        let _b = b.lock_under(&parent);
    }
    assert_no_reports(&["nest_cmp_child"]);
    {
        let _p = parent.lock();
        let _a = a.lock();
        let _b = b.lock(); // not under the nest lock: recursion
    }
    let report = one_report(&["nest_cmp_child"]);
    let (acquiring, holding) = recursive(&report);
    assert_eq!(acquiring.name, "nest_cmp_child");
    assert_eq!(holding.name, "nest_cmp_child");
}

#[test]
fn a_nest_lock_that_is_not_held_is_reported() {
    silent();
    let parent = LockMap::named("nest_miss_parent");
    let c = LockMap::named("nest_miss_child");
    assert!(c.acquire_under(Mode::Exclusive, &parent));
    c.release();
    let report = one_report(&["nest_miss_child"]);
    match &report.problem {
        Problem::NestLockNotHeld {
            acquiring,
            nest_lock,
        } => {
            assert_eq!(acquiring.name, "nest_miss_child");
            assert_eq!(nest_lock.name, "nest_miss_parent");
        }
        other => panic!("unexpected {other:?}"),
    }
}

static ACCOUNT: ClassKey = ClassKey::ordered("nest_account");

#[test]
fn ordered_class_allows_increasing_keys_and_reports_disorder() {
    silent();
    let a = Mutex::with_key(&ACCOUNT, 100u32);
    let b = Mutex::with_key(&ACCOUNT, 200u32);
    for _ in 0..3 {
        let _x = a.lock_ordered(1);
        let _y = b.lock_ordered(2);
    }
    assert_no_reports(&["nest_account"]);
    // The same chain of classes in the other key order: the chain cache
    // cannot tell them apart, the order check does.
    {
        let _y = b.lock_ordered(2);
        let _x = a.lock_ordered(1);
    }
    let report = one_report(&["nest_account"]);
    match &report.problem {
        Problem::RecursiveLocking { comparison, .. } => {
            assert_eq!(*comparison, Some(std::cmp::Ordering::Greater));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(report
        .to_string()
        .contains("and the lock order function returns Greater:"));
}

static BY_ADDRESS: ClassKey = ClassKey::ordered("nest_by_address");

#[test]
fn ordered_class_defaults_to_address_order() {
    silent();
    let locks = [
        Mutex::with_key(&BY_ADDRESS, 0u8),
        Mutex::with_key(&BY_ADDRESS, 1u8),
    ];
    let (low, high) = (&locks[0], &locks[1]);
    assert!((low as *const _ as usize) < (high as *const _ as usize));
    {
        let _l = low.lock();
        let _h = high.lock();
    }
    assert_no_reports(&["nest_by_address"]);
    {
        let _h = high.lock();
        let _l = low.lock();
    }
    one_report(&["nest_by_address"]);
}

static REVERSED: ClassKey = ClassKey::ordered_by("nest_reversed", |a, b| b.cmp(&a));

#[test]
fn ordered_class_with_a_user_comparison() {
    silent();
    let a = Mutex::with_key(&REVERSED, ());
    let b = Mutex::with_key(&REVERSED, ());
    {
        let _x = a.lock_ordered(9);
        let _y = b.lock_ordered(3);
    }
    assert_no_reports(&["nest_reversed"]);
    {
        let _x = a.lock_ordered(3);
        let _y = b.lock_ordered(9);
    }
    one_report(&["nest_reversed"]);
}

static FE_CHILD: ClassKey = ClassKey::new("nest_fe_child");

/// Any instrumented lock can be the nest lock: the std- and
/// parking_lot-shaped front ends' and a re-entrant mutex too.
#[test]
fn front_end_and_reentrant_locks_can_be_nest_locks() {
    silent();
    let std_parent = lockdep::sync::Mutex::named("nest_fe_std", ());
    let rw_parent = lockdep::sync::RwLock::named("nest_fe_rw", ());
    let re_parent = lockdep::parking_lot::ReentrantMutex::from_raw(
        lockdep::parking_lot::RawMutex::named("nest_fe_re"),
        lockdep::parking_lot::RawThreadId::INIT,
        (),
    );
    let children: Vec<_> = (0..3).map(|_| child(&FE_CHILD)).collect();
    for _ in 0..2 {
        {
            let _p = std_parent.lock().unwrap();
            let guards: Vec<_> = children.iter().map(|c| c.lock_under(&std_parent)).collect();
            assert_eq!(held_names().len(), 4);
            drop(guards);
        }
        {
            let _p = rw_parent.write().unwrap();
            let guards: Vec<_> = children
                .iter()
                .rev()
                .map(|c| c.lock_under(&rw_parent))
                .collect();
            assert_eq!(held_names().len(), 4);
            drop(guards);
        }
        {
            let _p = re_parent.lock();
            let _again = re_parent.lock();
            let guards: Vec<_> = children.iter().map(|c| c.lock_under(&re_parent)).collect();
            assert_eq!(held_names().len(), 4, "the re-entrant parent is one entry");
            drop(guards);
        }
    }
    assert!(held_names().is_empty());
    assert_no_reports(&["nest_fe_std", "nest_fe_rw", "nest_fe_re", "nest_fe_child"]);
}

// ---- the kernel's nest-lock rule, exactly ----------------------------------

static COVER_CHILD: ClassKey = ClassKey::new("nest_cover_child");

/// A covered acquisition (a lock of the class is already held, taken after
/// the nest lock) adds no dependency at all: not even from the held lock
/// right below it. `B -> child` is never recorded, so the cycle
/// `child -> B -> child` is not reported; a plain `B -> child` later is.
#[test]
fn a_covered_acquisition_adds_no_dependency() {
    silent();
    let parent = Mutex::named("nest_cover_parent", ());
    let b = Mutex::named("nest_cover_b", ());
    let (c1, c2) = (child(&COVER_CHILD), child(&COVER_CHILD));
    for _ in 0..2 {
        let _p = parent.lock();
        let _c1 = c1.lock_under(&parent);
        let _b = b.lock(); // child -> B
        let _c2 = c2.lock_under(&parent); // covered: no B -> child
        assert_eq!(held_names().len(), 4);
    }
    assert_no_reports(&["nest_cover_child", "nest_cover_b"]);
    {
        let _b = b.lock();
        let _c = c1.lock(); // B -> child, plain: closes child -> B -> child
    }
    let report = one_report(&["nest_cover_child", "nest_cover_b"]);
    let c = circular(&report);
    assert_eq!(c.acquiring.name, "nest_cover_child");
    assert_eq!(c.holding.name, "nest_cover_b");
}

static FIRST_CHILD: ClassKey = ClassKey::new("nest_first_child");

/// The first lock of the class taken under the nest lock covers nothing
/// yet: it is validated as a plain acquisition, and its dependency on the
/// nest lock is recorded.
#[test]
fn the_first_lock_under_a_nest_lock_gets_its_dependencies() {
    silent();
    let parent = Mutex::named("nest_first_parent", ());
    let c = child(&FIRST_CHILD);
    on_thread("nest-first-1", || {
        let _p = parent.lock();
        let _c = c.lock_under(&parent); // parent -> child
    });
    assert_no_reports(&["nest_first_parent", "nest_first_child"]);
    on_thread("nest-first-2", || {
        let _c = c.lock();
        let _p = parent.lock(); // child -> parent: the cycle
    });
    let report = one_report(&["nest_first_parent", "nest_first_child"]);
    let cycle = circular(&report);
    assert_eq!(cycle.acquiring.name, "nest_first_parent");
    assert_eq!(cycle.holding.name, "nest_first_child");
}

static LATE_CHILD: ClassKey = ClassKey::new("nest_late_child");

/// A nest lock covers only the locks of its class taken after it: one
/// taken after the first lock of the class does not make a second one
/// legitimate (the kernel's `check_deadlock` meets the held lock of the
/// class before the nest lock). The chain is reported once.
#[test]
fn a_nest_lock_taken_after_the_first_lock_of_the_class_is_recursion() {
    silent();
    let parent = Mutex::named("nest_late_parent", ());
    let (c1, c2) = (child(&LATE_CHILD), child(&LATE_CHILD));
    for _ in 0..3 {
        let _c1 = c1.lock();
        let _p = parent.lock();
        let _c2 = c2.lock_under(&parent);
    }
    // (Where a recursive acquisition still learns its dependencies, the
    // cycle child -> parent -> child it closes is reported too: a real one.)
    let recursions: Vec<_> = reports_about(&["nest_late_child"])
        .into_iter()
        .filter(|r| matches!(r.problem, Problem::RecursiveLocking { .. }))
        .collect();
    assert_eq!(recursions.len(), 1, "the recursion is reported once");
    let (acquiring, holding) = recursive(&recursions[0]);
    assert_eq!(acquiring.name, "nest_late_child");
    assert_eq!(holding.name, "nest_late_child");
    assert_eq!(recursions[0].held.len(), 2, "child and parent held");
}

static RW_CHILD: ClassKey = ClassKey::new("nest_rw_child");
static RW_BARE: ClassKey = ClassKey::new("nest_rw_bare");

/// `RwLock` readers and writers under a nest lock: any mix of one class is
/// covered (whichever front end the nest lock is). The same reads without
/// it are recursive locking: a second non-recursive read can deadlock
/// behind a waiting writer.
#[test]
fn rwlock_reads_and_writes_under_a_nest_lock() {
    silent();
    let parent = lockdep::sync::RwLock::named("nest_rw_parent", ());
    let children: Vec<_> = (0..4)
        .map(|_| lockdep::RwLock::with_key(&RW_CHILD, 0u32))
        .collect();
    for _ in 0..2 {
        let _p = parent.write().unwrap();
        let mut w0 = children[0].write_under(&parent);
        let r1 = children[1].read_under(&parent);
        let mut w2 = children[2].write_under(&parent);
        let r3 = children[3].read_under(&parent);
        *w0 += *r1 + 1;
        *w2 += *r3 + 2;
        assert_eq!(held_names().len(), 5);
    }
    assert_eq!(*children[0].read(), 2);
    assert_no_reports(&["nest_rw_parent", "nest_rw_child"]);

    let pl: Vec<lockdep::parking_lot::RwLock<()>> = (0..2)
        .map(|_| {
            lockdep::parking_lot::RwLock::from_raw(
                lockdep::parking_lot::RawRwLock::with_key(&RW_BARE),
                (),
            )
        })
        .collect();
    {
        let _a = pl[0].read();
        let _b = pl[1].read();
    }
    let report = one_report(&["nest_rw_bare"]);
    let (acquiring, holding) = recursive(&report);
    assert_eq!((acquiring.mode, holding.mode), (Mode::Shared, Mode::Shared));
}

// ---- re-annotating a held lock: hand-over-hand -----------------------------

/// A singly linked list in an arena: node `i`'s lock holds the index of the
/// next node. Every node lock is one class.
fn list(key: &'static ClassKey, len: usize) -> Vec<Mutex<Option<usize>>> {
    (0..len)
        .map(|i| Mutex::with_key(key, (i + 1 < len).then_some(i + 1)))
        .collect()
}

#[derive(Clone, Copy)]
enum Walk {
    /// Every node locked plainly.
    Plain,
    /// The next node as subclass 1, never set back.
    Nested,
    /// The next node as subclass 1, set back to 0 once the previous one is
    /// released (the kernel's `lock_set_subclass` idiom).
    Reannotated,
}

/// Walks the list hand over hand (the next node is locked before the
/// current one is released); returns the number of nodes visited.
fn walk(nodes: &[Mutex<Option<usize>>], how: Walk) -> usize {
    let mut visited = 1;
    let mut current = nodes[0].lock();
    while let Some(next) = *current {
        let guard = match how {
            Walk::Plain => nodes[next].lock(),
            Walk::Nested | Walk::Reannotated => nodes[next].lock_nested(1),
        };
        drop(current);
        if let Walk::Reannotated = how {
            assert!(nodes[next].set_subclass(0));
        }
        assert_eq!(held_names().len(), 1, "hand over hand: one node held");
        current = guard;
        visited += 1;
    }
    visited
}

static HOH_PLAIN: ClassKey = ClassKey::new("nest_hoh_plain");
static HOH_NESTED: ClassKey = ClassKey::new("nest_hoh_nested");
static HOH_FIXED: ClassKey = ClassKey::new("nest_hoh_fixed");

/// Hand-over-hand locking of one class: without an annotation, or with only
/// a subclass for the next node, the walk is reported as recursive locking
/// (falsely: one walker at a time holds two nodes, always in list order).
/// Setting the next node back to subclass 0 once the previous one is let go
/// is the fix, and nothing is reported.
#[test]
fn hand_over_hand_needs_the_reannotation() {
    silent();
    let plain = list(&HOH_PLAIN, 5);
    assert_eq!(walk(&plain, Walk::Plain), 5);
    let report = one_report(&["nest_hoh_plain"]);
    let (acquiring, holding) = recursive(&report);
    assert_eq!(
        (acquiring.name.as_str(), holding.name.as_str()),
        ("nest_hoh_plain", "nest_hoh_plain")
    );

    let nested = list(&HOH_NESTED, 5);
    assert_eq!(walk(&nested, Walk::Nested), 5);
    let report = one_report(&["nest_hoh_nested"]);
    let (acquiring, holding) = recursive(&report);
    assert_eq!(acquiring.name, "nest_hoh_nested/1");
    assert_eq!(holding.name, "nest_hoh_nested/1");

    let fixed = list(&HOH_FIXED, 5);
    for _ in 0..3 {
        assert_eq!(walk(&fixed, Walk::Reannotated), 5);
    }
    assert!(held_names().is_empty());
    assert_no_reports(&["nest_hoh_fixed"]);
}

/// A re-annotation re-validates the held entry and every one above it, as
/// the kernel's re-acquisition does: the order it makes is recorded (here
/// `X/1 -> B`, which closes a cycle with `B -> X/1`), and a re-annotation
/// that makes two held locks one class is recursive locking.
#[test]
fn a_reannotation_revalidates_the_locks_above_it() {
    silent();
    let x = Mutex::named("nest_reann_x", ());
    let b = Mutex::named("nest_reann_b", ());
    on_thread("nest-reann-1", || {
        let _b = b.lock();
        let _x = x.lock_nested(1); // B -> X/1
    });
    on_thread("nest-reann-2", || {
        let _x = x.lock(); // X/0
        let _b = b.lock(); // X/0 -> B
        assert_eq!(held_names(), ["nest_reann_x", "nest_reann_b"]);
        assert!(x.set_subclass(1)); // X/1 -> B: the cycle
        assert_eq!(held_names(), ["nest_reann_x/1", "nest_reann_b"]);
    });
    let report = one_report(&["nest_reann_x", "nest_reann_b"]);
    let cycle = circular(&report);
    assert_eq!(cycle.acquiring.name, "nest_reann_b");
    assert_eq!(cycle.holding.name, "nest_reann_x/1");

    static Z: ClassKey = ClassKey::new("nest_reann_z");
    let (z1, z2) = (Mutex::with_key(&Z, ()), Mutex::with_key(&Z, ()));
    on_thread("nest-reann-3", || {
        let _z1 = z1.lock_nested(1);
        let _z2 = z2.lock(); // Z/1 -> Z: fine
        assert_no_reports(&["nest_reann_z"]);
        assert!(z1.set_subclass(0)); // now Z then Z
    });
    let report = one_report(&["nest_reann_z"]);
    let (acquiring, holding) = recursive(&report);
    assert_eq!(
        (acquiring.name.as_str(), holding.name.as_str()),
        ("nest_reann_z", "nest_reann_z")
    );
}

/// Re-annotating a lock the thread does not hold is reported as the kernel
/// reports it, as a bad unlock balance; nothing changes.
#[test]
fn reannotating_a_lock_not_held_is_reported() {
    silent();
    let m = Mutex::named("nest_reann_missing", ());
    assert!(!m.set_subclass(1));
    let report = one_report(&["nest_reann_missing"]);
    match &report.problem {
        Problem::BadUnlockBalance { releasing } => {
            assert_eq!(releasing.name, "nest_reann_missing/1");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(held_names().is_empty());
}
