//! Nesting within one class: subclasses, nest locks, and ordered classes.

mod common;

use common::{assert_no_reports, held_names, one_report, recursive, silent};
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
    let re_parent = lockdep::parking_lot::ReentrantMutex::named("nest_fe_re", ());
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
