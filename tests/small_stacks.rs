//! Threads with small stacks (32 KiB, and 48) raise reports, which are
//! printed, or rendered by a callback, on that very thread. Symbolizing a
//! trace takes a deep stack, so it runs on a helper thread of its own, and
//! only when a report is read: a silent report is never symbolized.

use std::sync::{Arc, Mutex as StdMutex};

use lockdep::{Action, ClassKey, LockMap, Mode, Mutex};

fn key(name: String) -> &'static ClassKey {
    Box::leak(Box::new(ClassKey::new(Box::leak(name.into_boxed_str()))))
}

#[inline(never)]
fn small_stack_abba(tag: &str) {
    let a = Mutex::with_key(key(format!("small_{tag}_a")), ());
    let b = Mutex::with_key(key(format!("small_{tag}_b")), ());
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    let _b = b.lock();
    let _a = a.lock();
    // A misuse report too: a pseudo-lock released without being held.
    let map = LockMap::with_key(key(format!("small_{tag}_map")));
    map.release();
    assert!(map.acquire(Mode::Exclusive));
    map.release();
}

fn on_small_stack(kib: usize, tag: String) {
    std::thread::Builder::new()
        .name(format!("small-{tag}"))
        .stack_size(kib << 10)
        .spawn(move || small_stack_abba(&tag))
        .expect("spawn")
        .join()
        .expect("the small-stack thread survived its reports");
}

#[test]
fn reports_on_small_stacks_and_lazy_symbols() {
    // Silent: the report is logged, its traces not symbolized.
    lockdep::set_action(Action::Silent);
    on_small_stack(32, "silent".into());
    let silent = lockdep::reports();
    assert_eq!(silent.len(), 2, "{silent:#?}");
    assert!(silent.iter().all(|r| !r.backtrace.is_symbolized()));
    assert!(!silent[0].backtrace.addresses().is_empty());
    // Read on this thread, later: symbolized now, once.
    let text = silent[0].to_string();
    assert!(silent[0].backtrace.is_symbolized());
    assert!(text.contains("small_stack_abba"), "{text}");

    // Rendered by a callback on the small-stack thread itself.
    let rendered = Arc::new(StdMutex::new(Vec::new()));
    let sink = rendered.clone();
    lockdep::set_action(Action::callback(move |r| {
        sink.lock().unwrap().push(r.to_string());
    }));
    for kib in [32, 40, 48] {
        on_small_stack(kib, format!("cb{kib}"));
    }
    let rendered = rendered.lock().unwrap();
    assert_eq!(rendered.len(), 6);
    for text in rendered.iter() {
        assert!(text.contains("small_stack_abba"), "{text}");
    }

    // Printed on the small-stack thread.
    lockdep::set_action(Action::Print);
    on_small_stack(32, "print".into());
    let all = lockdep::reports();
    assert_eq!(all.len(), 2 + 6 + 2);
    assert!(
        all[all.len() - 1].backtrace.is_symbolized(),
        "printing read it"
    );
    assert_eq!(lockdep::stats().internal_errors, 0);
    assert!(lockdep::stats().symbol_cache_bytes > 0);
}
