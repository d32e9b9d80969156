//! The optional memory cap: past it, the validator says so once, keeps what
//! it learned (and keeps checking against it), keeps learning and checking
//! dependencies among the classes it knows (without their stack traces),
//! and counts what it no longer records: the dependencies of classes
//! registered after the cap.

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
fn past_the_limit_known_classes_are_still_checked_and_the_rest_is_counted() {
    lockdep::set_action(Action::Silent);
    let (a, b) = (Mutex::named("mem_a", ()), Mutex::named("mem_b", ()));
    let (c, d) = (Mutex::named("mem_c", ()), Mutex::named("mem_d", ()));
    let (e, f) = (Mutex::named("mem_e", ()), Mutex::named("mem_f", ()));
    // e and f are known (registered) before the limit, never nested.
    drop(e.lock());
    drop(f.lock());

    order(&a, &b); // learned: a -> b
    assert!(!lockdep::stats().frozen);
    let learned = lockdep::stats().dependencies;

    lockdep::config::set_memory_limit(Some(1));
    order(&c, &d); // recorded, and then the limit is seen
    let stats = lockdep::stats();
    assert!(stats.frozen, "{stats:?}");
    assert_eq!(stats.dependencies, learned + 1);
    let traces = stats.stack_traces;

    // A new order against what was learned before is still checked.
    order(&b, &a);
    assert_eq!(reports_about("mem_a"), 1);
    // A cycle among known classes, learned entirely after the limit, is
    // found too; its dependencies carry no stack trace.
    order(&e, &f);
    order(&f, &e);
    assert_eq!(reports_about("mem_e"), 1);
    let cycle = lockdep::reports()
        .into_iter()
        .find(|r| r.class_names().contains(&"mem_e"))
        .unwrap();
    let lockdep::report::Problem::CircularDependency { chain, .. } = &cycle.problem else {
        panic!("{cycle:#?}");
    };
    assert!(chain[0].trace.is_empty(), "no stack stored after the limit");
    assert!(
        !cycle.backtrace.is_empty(),
        "the current stack is still shown"
    );

    // Classes registered after the limit are not recorded, and that is
    // counted, not silent.
    let before = lockdep::stats();
    let (g, h) = (Mutex::named("mem_g", ()), Mutex::named("mem_h", ()));
    order(&g, &h);
    order(&h, &g);
    assert_eq!(reports_about("mem_g"), 0);
    let after = lockdep::stats();
    assert!(
        after.dependencies_dropped >= before.dependencies_dropped + 2,
        "{after:?}"
    );
    assert_eq!(after.dependencies, learned + 4, "c->d, b->a, e->f, f->e");
    assert_eq!(after.stack_traces, traces, "no stack stored past the limit");

    // Known chains keep working, and nothing is reported twice.
    for _ in 0..3 {
        order(&a, &b);
        order(&c, &d);
        order(&e, &f);
    }
    assert_eq!(reports_about("mem_a"), 1);
    assert_eq!(reports_about("mem_e"), 1);
    assert!(lockdep::held_locks().is_empty());
    assert!(after.memory_bytes >= after.report_log_bytes + after.symbol_cache_bytes);
}
