//! A thread's end: closing its fast path, and the check of what it still
//! holds, after every thread-local destructor where the platform allows.

use super::*;

impl Drop for ThreadSlot {
    /// A thread is ending: anything still on its stack was leaked.
    fn drop(&mut self) {
        // Locks taken while this runs (by an allocator, say) are untracked.
        let _entered = Enter::new();
        let st = &mut self.0;
        // Close the fast path for good, and take in what it pushed.
        let _ = FAST.try_with(|fast| {
            fast.room.set(0);
            if fast.limit.replace(0) != 0 {
                // SAFETY: the fast path was open, so (by `Fast`'s invariant)
                // `fast.held` is this very vector's buffer (`ThreadSlot` is
                // only ever the thread-local `STATE`), and its first `depth`
                // entries are initialized.
                unsafe { st.held.set_len(fast.step.depth.get() as usize) };
                take_in_released(st, fast.low.replace(0) as usize);
            }
            fast.step.depth.set(0);
        });
        orphans::collect(st);
        if st.held.is_empty() || !config::is_enabled() {
            return;
        }
        // Thread-local destructors that run after this one may still
        // release guards they own: check once they all have, where the
        // platform allows.
        let st = std::mem::replace(st, ThreadState::new());
        if let Err(mut st) = exit_later::defer(st) {
            exit_check(&mut st);
        }
    }
}

/// A thread has ended, its other thread-local destructors included: what it
/// still holds was leaked.
fn exit_check(st: &mut ThreadState) {
    orphans::collect(st);
    if let Some(first) = st.held.first().copied() {
        misuse(st, MisuseKind::HeldAtThreadExit, &first, first.at);
    }
}

/// The exit check after every thread-local destructor (Linux with glibc).
/// `ThreadSlot`'s destructor hands the state over to a heap box; later
/// destructors' releases apply to it; then, for a spawned thread, the
/// destructor of a pthread key (glibc runs those after all thread-local
/// destructors) runs the check, and for the main thread at `exit`, an
/// `atexit` handler (which glibc runs after the main thread's thread-local
/// destructors). Elsewhere the check runs in `ThreadSlot`'s destructor.
pub(super) mod exit_later {
    use super::*;

    /// A thread's state after its `ThreadSlot` was destroyed.
    pub(super) struct Exiting {
        pub(super) st: ThreadState,
        pub(super) thread: ThreadInfo,
    }

    thread_local! {
        /// This thread's exiting state, until its exit check has run.
        pub(super) static EXITING: Cell<*mut Exiting> = const { Cell::new(std::ptr::null_mut()) };
    }

    /// Applies a late release to the exiting state, if there is one.
    pub(in crate::validator) fn apply_late(op: Deferred) {
        let _ = EXITING.try_with(|e| {
            let p = e.get();
            if !p.is_null() {
                // SAFETY: the box is this thread's, alive until its exit
                // check nulls `EXITING` (and the caller's `Enter` keeps this
                // from being re-entered); nothing else refers to it.
                apply(unsafe { &mut (*p).st }, op);
            }
        });
    }

    /// The thread of an exit check running late, for its report.
    pub(in crate::validator) fn thread() -> Option<ThreadInfo> {
        let p = EXITING.try_with(Cell::get).ok()?;
        // SAFETY: as in `apply_late`; only read.
        (!p.is_null()).then(|| unsafe { (*p).thread.clone() })
    }

    /// Runs the exit check on a box handed over by `defer`, and frees it.
    ///
    /// # Safety
    /// `p` came from `defer` on this thread, and is not used after.
    unsafe fn check(p: *mut Exiting) {
        let _entered = Enter::new();
        // SAFETY: the caller's contract: the box is this thread's, alive.
        exit_check(unsafe { &mut (*p).st });
        let _ = EXITING.try_with(|e| e.set(std::ptr::null_mut()));
        // SAFETY: from `Box::into_raw` in `defer`; no reference remains.
        drop(unsafe { Box::from_raw(p) });
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    pub(super) fn defer(st: ThreadState) -> Result<(), ThreadState> {
        use std::sync::atomic::AtomicPtr;
        static MAIN: AtomicPtr<Exiting> = AtomicPtr::new(std::ptr::null_mut());
        static KEY: std::sync::OnceLock<Option<libc::pthread_key_t>> = std::sync::OnceLock::new();

        extern "C" fn key_destructor(p: *mut libc::c_void) {
            // SAFETY: the key's only value is a box from `defer`, set once
            // on this thread; glibc calls this once, after the thread's
            // thread-local destructors.
            unsafe { check(p.cast()) }
        }
        extern "C" fn at_exit() {
            let p = MAIN.swap(std::ptr::null_mut(), Ordering::AcqRel);
            if !p.is_null() {
                // SAFETY: the main thread's box, set by `defer` on this
                // thread (exit runs on the thread that called it, the one
                // whose thread-locals were destroyed).
                unsafe { check(p) }
            }
        }

        let thread = thread_info();
        // SAFETY: both calls have no preconditions.
        let main = unsafe { libc::getpid() == libc::gettid() };
        let p = Box::into_raw(Box::new(Exiting { st, thread }));
        let handed = if main {
            // SAFETY: `at_exit` is a plain function that does not unwind
            // (the check contains the validator's own panics).
            MAIN.compare_exchange(std::ptr::null_mut(), p, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
                && unsafe { libc::atexit(at_exit) } == 0
        } else {
            let key = KEY.get_or_init(|| {
                let mut key = 0;
                // SAFETY: creates a key with a destructor that does not
                // unwind; the key is never deleted.
                (unsafe { libc::pthread_key_create(&mut key, Some(key_destructor)) } == 0)
                    .then_some(key)
            });
            // SAFETY: a live key; the value is this thread's.
            key.is_some_and(|key| unsafe { libc::pthread_setspecific(key, p.cast()) } == 0)
        };
        if !handed {
            let _ =
                MAIN.compare_exchange(p, std::ptr::null_mut(), Ordering::AcqRel, Ordering::Acquire);
            // SAFETY: from `Box::into_raw` just above, handed to no one.
            return Err(unsafe { Box::from_raw(p) }.st);
        }
        let _ = EXITING.try_with(|e| e.set(p));
        Ok(())
    }

    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    pub(super) fn defer(st: ThreadState) -> Result<(), ThreadState> {
        Err(st)
    }
}
