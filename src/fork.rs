//! `fork` from a multi-threaded program: the child must not inherit a
//! validator lock held by a thread that does not exist in it.
//!
//! `pthread_atfork` handlers, registered on the first acquisition that
//! reaches the slow path: before the fork, the forking thread takes every
//! lock of the validator's own state, in the order the validator nests
//! them (so it waits for other threads to leave their critical sections);
//! after it, the parent unlocks them, and the child resets them to
//! unlocked (an unlock could hand a lock over to a thread that was waiting
//! for it in the parent, and does not exist in the child). The child starts
//! with the parent's graph, classes and reports, consistent, and validates
//! on its own.

use crate::raw::{RawMutex, RawRwLock};

/// Registers the handlers, once per process.
pub(crate) fn register() {
    #[cfg(unix)]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: the handlers are `extern "C"` functions without
            // arguments that never unwind (they only lock and unlock).
            let failed = unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) };
            if failed != 0 {
                eprintln!(
                    "lockdep: pthread_atfork failed ({failed}): a child forked while another \
                     thread is inside the validator may block in it"
                );
            }
        });
    }
}

/// Before `fork`: take every validator lock, outermost first.
#[cfg(unix)]
extern "C" fn prepare() {
    crate::validator::fork_lock();
    crate::class::fork_lock();
    crate::report_log::fork_lock();
    crate::report_file::fork_lock();
    crate::record::fork_lock();
    crate::trace::fork_lock();
}

#[cfg(unix)]
extern "C" fn parent() {
    // SAFETY: `prepare` took every lock on this thread just before.
    unsafe { release_all(false) }
}

#[cfg(unix)]
extern "C" fn child() {
    // SAFETY: `prepare` took every lock on this thread (of which this one
    // is the copy), and this is the child's only thread.
    unsafe { release_all(true) }
}

/// Releases what `prepare` took, innermost first.
///
/// # Safety
/// As [`release`]'s, for every lock `prepare` takes.
#[cfg(unix)]
unsafe fn release_all(child: bool) {
    // SAFETY: passed on from the caller.
    unsafe {
        crate::trace::fork_unlock(child);
        crate::record::fork_unlock(child);
        crate::report_file::fork_unlock(child);
        crate::report_log::fork_unlock(child);
        crate::class::fork_unlock(child);
        crate::validator::fork_unlock(child);
    }
}

/// Releases a mutex locked (its guard forgotten) by this thread just before
/// a fork: in the parent, an unlock; in the child, a reset to the unlocked
/// state, which wakes no one.
///
/// # Safety
/// `m` was locked by this thread in `prepare`, and nothing has used it
/// since; `child` only in the child process, while it has one thread.
pub(crate) unsafe fn release<T: ?Sized>(m: &crate::raw::Mutex<T>, child: bool) {
    if child {
        // SAFETY: the raw lock is made of atomics (interior mutability), so
        // writing it through a pointer derived from a shared reference is
        // allowed; no other thread exists to observe the write, and the
        // state written is the valid unlocked one.
        unsafe {
            let raw = m.raw() as *const RawMutex as *mut RawMutex;
            raw.write(<RawMutex as lock_api::RawMutex>::INIT);
        }
    } else {
        // SAFETY: this thread holds the lock (the caller's contract).
        unsafe { m.force_unlock() }
    }
}

/// [`release`] for a reader-writer lock write-locked in `prepare`.
///
/// # Safety
/// As [`release`]'s.
pub(crate) unsafe fn release_write<T: ?Sized>(l: &crate::raw::RwLock<T>, child: bool) {
    if child {
        // SAFETY: as in `release`.
        unsafe {
            let raw = l.raw() as *const RawRwLock as *mut RawRwLock;
            raw.write(<RawRwLock as lock_api::RawRwLock>::INIT);
        }
    } else {
        // SAFETY: this thread holds the write lock (the caller's contract).
        unsafe { l.force_unlock_write() }
    }
}
