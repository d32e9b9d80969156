//! The optional memory cap: past it, the validator says so once, keeps what
//! it learned (and keeps checking against it), and records nothing new.

use lockdep::{Action, Mutex};

fn order(first: &Mutex<()>, second: &Mutex<()>) {
    let _a = first.lock();
    let _b = second.lock();
}

fn reports_about(name: &str) -> usize {
    lockdep::reports()
        .iter()
        .filter(|r| r.class_names().contains(&name))
        .count()
}

#[test]
fn past_the_limit_the_graph_is_kept_and_nothing_new_is_recorded() {
    lockdep::set_action(Action::Silent);
    let (a, b) = (Mutex::named("mem_a", ()), Mutex::named("mem_b", ()));
    let (c, d) = (Mutex::named("mem_c", ()), Mutex::named("mem_d", ()));
    let (e, f) = (Mutex::named("mem_e", ()), Mutex::named("mem_f", ()));

    order(&a, &b); // learned: a -> b
    assert!(!lockdep::stats().frozen);
    let learned = lockdep::stats().dependencies;

    lockdep::config::set_memory_limit(Some(1));
    order(&c, &d); // recorded, and then the limit is seen
    let stats = lockdep::stats();
    assert!(stats.frozen, "{stats:?}");
    assert_eq!(stats.dependencies, learned + 1);

    // A new order against what was learned before is still checked.
    order(&b, &a);
    assert_eq!(reports_about("mem_a"), 1);
    // Orders learned after the limit are not recorded, so not checked.
    order(&e, &f);
    order(&f, &e);
    assert_eq!(reports_about("mem_e"), 0);
    assert_eq!(lockdep::stats().dependencies, learned + 1);
    // Known chains keep working, and nothing is reported twice.
    for _ in 0..3 {
        order(&a, &b);
        order(&c, &d);
    }
    assert_eq!(reports_about("mem_a"), 1);
    assert!(lockdep::held_locks().is_empty());
}
