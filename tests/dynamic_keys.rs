//! Classes created at run time: a `DynamicKey` names its class, and
//! unregistering it (dropping the key) drops the class's dependencies, as
//! the kernel's `lockdep_unregister_key` does. A binary of its own, since it
//! counts the validator's dependencies.

mod common;

use lockdep::{DynamicKey, Mutex};

fn reports_on_thread(name: &str, f: impl FnOnce() + Send) -> usize {
    lockdep::set_action(lockdep::Action::Silent);
    common::reports_on_thread(name, f).len()
}

#[test]
fn a_dynamic_key_names_its_class_and_unregistering_it_drops_its_dependencies() {
    let before = lockdep::stats().dependencies;
    let fixed = Mutex::new(0u64);
    for round in 0..3 {
        let key = DynamicKey::new(format!("classes_shard_{round}"));
        let shard = Mutex::with_dynamic_key(&key, 0u32);
        assert_eq!(
            lockdep::class_name(key.class()),
            format!("classes_shard_{round}")
        );
        let reports = reports_on_thread(&format!("dynamic-{round}"), || {
            let _f = fixed.lock();
            let _s = shard.lock();
        });
        assert_eq!(reports, 0);
        assert!(lockdep::stats().dependencies > before);
        drop(shard);
        drop(key);
    }
    // Every shard's dependency went with its key.
    assert_eq!(lockdep::stats().dependencies, before);
    // A new class never meets the old dependencies: shard -> fixed is fine.
    let key = DynamicKey::new("classes_shard_last");
    let shard = Mutex::with_dynamic_key(&key, 0u32);
    let reports = reports_on_thread("dynamic-last", || {
        let _s = shard.lock();
        let _f = fixed.lock();
    });
    assert_eq!(reports, 0);
}
