//! parking_lot 0.12's public surface, named the way code that depends on
//! parking_lot names it. This file compiles only if every item is there,
//! with parking_lot's (`lock_api`'s) types.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::lock_api::{self, RawMutex as _, RawRwLock as _};
use parking_lot::{
    const_fair_mutex, const_mutex, const_reentrant_mutex, const_rwlock, Condvar, FairMutex,
    FairMutexGuard, MappedFairMutexGuard, MappedMutexGuard, MappedReentrantMutexGuard,
    MappedRwLockReadGuard, MappedRwLockWriteGuard, Mutex, MutexGuard, Once, OnceState,
    RawFairMutex, RawMutex, RawRwLock, RawThreadId, ReentrantMutex, ReentrantMutexGuard, RwLock,
    RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard, WaitTimeoutResult,
};

static STATIC_MUTEX: Mutex<u32> = const_mutex(0);
static STATIC_FAIR: FairMutex<u32> = const_fair_mutex(0);
static STATIC_RW: RwLock<u32> = const_rwlock(0);
static STATIC_RE: ReentrantMutex<u32> = const_reentrant_mutex(0);
// lock_api's own const constructor, as `static X: Mutex<_> = Mutex::new(..)`.
static STATIC_NEW: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static ONCE: Once = Once::new();

/// Code generic over lock_api, as crates write it.
fn generic_lock<R: lock_api::RawMutex, T: Copy>(m: &lock_api::Mutex<R, T>) -> T {
    *m.lock()
}

fn generic_upgrade<T: Clone>(g: lock_api::RwLockUpgradableReadGuard<'_, RawRwLock, T>) -> T {
    let w: lock_api::RwLockWriteGuard<'_, RawRwLock, T> =
        lock_api::RwLockUpgradableReadGuard::upgrade(g);
    (*w).clone()
}

#[test]
fn every_type_is_lock_apis() {
    let m: lock_api::Mutex<RawMutex, u32> = Mutex::new(1);
    let g: MutexGuard<'_, u32> = m.lock();
    let mapped: MappedMutexGuard<'_, u32> = MutexGuard::map(g, |v| v);
    assert_eq!(*mapped, 1);
    drop(mapped);
    assert_eq!(generic_lock(&m), 1);

    let f: lock_api::Mutex<RawFairMutex, u32> = FairMutex::new(2);
    let g: FairMutexGuard<'_, u32> = f.lock();
    let g: MappedFairMutexGuard<'_, u32> = FairMutexGuard::map(g, |v| v);
    assert_eq!(*g, 2);
    drop(g);

    let rw: lock_api::RwLock<RawRwLock, u32> = RwLock::new(3);
    {
        let r: RwLockReadGuard<'_, u32> = rw.read();
        let r: MappedRwLockReadGuard<'_, u32> = RwLockReadGuard::map(r, |v| v);
        assert_eq!(*r, 3);
    }
    {
        let w: RwLockWriteGuard<'_, u32> = rw.write();
        let mut w: MappedRwLockWriteGuard<'_, u32> = RwLockWriteGuard::map(w, |v| v);
        *w = 4;
    }
    let u: RwLockUpgradableReadGuard<'_, u32> = rw.upgradable_read();
    assert_eq!(generic_upgrade(u), 4);
    let w = rw.write();
    let r = RwLockWriteGuard::downgrade(w);
    assert_eq!(*r, 4);
    drop(r);
    assert!(rw.try_read_for(Duration::from_millis(1)).is_some());
    assert!(rw.try_write_until(Instant::now()).is_some());
    assert!(rw.try_read_recursive().is_some());

    let re: lock_api::ReentrantMutex<RawMutex, RawThreadId, u32> = ReentrantMutex::new(5);
    let a: ReentrantMutexGuard<'_, u32> = re.lock();
    let b = re.lock();
    let b: MappedReentrantMutexGuard<'_, u32> = ReentrantMutexGuard::map(b, |v| v);
    assert_eq!(*a + *b, 10);
}

#[test]
fn statics_and_const_constructors() {
    *STATIC_MUTEX.lock() += 1;
    *STATIC_FAIR.lock() += 1;
    *STATIC_RW.write() += 1;
    assert_eq!(*STATIC_RE.lock(), 0);
    STATIC_NEW.lock().push(1);
    let mut ran = 0;
    ONCE.call_once(|| ran += 1);
    ONCE.call_once(|| ran += 1);
    assert_eq!(ran, 1);
    assert!(matches!(ONCE.state(), OnceState::Done));
    assert!(ONCE.state().done());
}

#[test]
fn condvar_waits_on_a_lock_api_guard() {
    let pair = Arc::new((Mutex::new(false), Condvar::new()));
    let other = pair.clone();
    let t = std::thread::spawn(move || {
        *other.0.lock() = true;
        other.1.notify_all();
    });
    let mut ready = pair.0.lock();
    while !*ready {
        let r: WaitTimeoutResult = pair.1.wait_for(&mut ready, Duration::from_secs(5));
        assert!(!r.timed_out() || *ready);
    }
    drop(ready);
    t.join().unwrap();
}

#[test]
fn raw_locks_are_usable_raw() {
    // Code that uses the raw locks directly, as some crates do.
    let raw = <RawMutex as lock_api::RawMutex>::INIT;
    raw.lock();
    assert!(raw.is_locked());
    // SAFETY: locked just above, in this context.
    unsafe { raw.unlock() };
    let raw = <RawRwLock as lock_api::RawRwLock>::INIT;
    raw.lock_shared();
    // SAFETY: a shared lock taken just above, in this context.
    unsafe { raw.unlock_shared() };
}
