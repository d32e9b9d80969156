//! With validation compiled out (`cfg(lockdep_off)`, here through the
//! `lockdep-off` twin crate, which is `lockdep`'s sources built that way),
//! every wrapper is the plain lock: same size, and nothing is recorded.

use std::mem::size_of;

#[test]
fn wrappers_are_the_size_of_the_plain_locks() {
    assert_eq!(
        size_of::<lockdep_off::Mutex<u64>>(),
        size_of::<parking_lot::Mutex<u64>>()
    );
    assert_eq!(
        size_of::<lockdep_off::RwLock<u64>>(),
        size_of::<parking_lot::RwLock<u64>>()
    );
    assert_eq!(
        size_of::<lockdep_off::MutexGuard<'static, u64>>(),
        size_of::<parking_lot::MutexGuard<'static, u64>>()
    );
    assert_eq!(size_of::<lockdep_off::LockMap>(), 0);
}

#[test]
fn nothing_is_validated_or_recorded() {
    let a = lockdep_off::Mutex::named("off_a", 1u32);
    let b = lockdep_off::Mutex::named("off_b", 2u32);
    {
        let _a = a.lock();
        let _b = b.lock();
        assert!(lockdep_off::held_locks().is_empty());
    }
    {
        let _b = b.lock();
        let mut a = a.lock();
        *a += 1;
    }
    assert_eq!(*a.lock(), 2);
    assert!(lockdep_off::reports().is_empty());
    const { assert!(lockdep_off::COMPILED_OUT && !lockdep::COMPILED_OUT) };
    assert_eq!(a.class(), lockdep_off::Mutex::named("off_c", 0u8).class());
    assert!(a.try_lock().is_some());
}
