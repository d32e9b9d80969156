//! Code written for parking_lot, unmodified, is validated: an ABBA order
//! on two locks built and taken exactly as a parking_lot user does is
//! reported, and a consistent order is not.

use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

struct Pool {
    idle: Mutex<Vec<u32>>,
    stats: RwLock<u64>,
}

impl Pool {
    fn new() -> Self {
        Pool {
            idle: Mutex::new(Vec::new()),
            stats: RwLock::new(0),
        }
    }
    fn put(&self, v: u32) {
        let mut idle = self.idle.lock();
        *self.stats.write() += 1;
        idle.push(v);
    }
    fn report(&self) -> usize {
        let _stats = self.stats.read();
        self.idle.lock().len()
    }
}

#[test]
fn an_abba_through_the_shim_is_reported() {
    let pool = Arc::new(Pool::new());
    let watch = lockdep::watch();
    pool.put(1);
    assert_eq!(pool.report(), 1);
    let reports = watch.take();
    assert_eq!(reports.len(), 1, "one report: {reports:?}");
    let text = reports[0].to_string();
    assert!(
        text.contains("possible circular locking dependency"),
        "{text}"
    );
}

#[test]
fn a_consistent_order_is_not() {
    let pool = Pool::new();
    let watch = lockdep::watch();
    pool.put(1);
    pool.put(2);
    assert_eq!(pool.idle.lock().len(), 2);
    watch.assert_none();
}
