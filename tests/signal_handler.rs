//! A lock taken in a signal handler. The handler can interrupt its thread
//! anywhere, including in the middle of the validator's update of that
//! thread's held stack, or inside the validator itself. Either way its
//! acquisition is left untracked; otherwise it is validated as usual. The
//! interrupted thread's stack is never corrupted: no phantom entries, no
//! false reports.
#![cfg(unix)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use lockdep::{Action, Mutex};

static A: Mutex<u64> = Mutex::named("sig_a", 0);
static B: Mutex<u64> = Mutex::named("sig_b", 0);
static C: Mutex<u64> = Mutex::named("sig_c", 0);
/// Only ever taken by the handler (and by the warm-up, before any signal).
static H: Mutex<u64> = Mutex::named("sig_handler", 0);
static HANDLED: AtomicUsize = AtomicUsize::new(0);

extern "C" fn handler(_: libc::c_int) {
    *H.lock() += 1;
    HANDLED.fetch_add(1, Ordering::Relaxed);
}

/// One round of the interrupted thread: known chains (the fast path), in
/// and out of order, plus a slow-path release.
fn round(i: u64) {
    let mut a = A.lock();
    *a += i;
    let b = B.lock();
    let c = C.lock();
    drop(c);
    drop(b);
    drop(a);
    let a = A.lock();
    let c = C.lock();
    drop(a); // not on top: the slow path
    drop(c);
}

#[test]
fn locks_in_a_signal_handler_leave_the_held_stack_intact() {
    lockdep::set_action(Action::Silent);
    // SAFETY: installs a handler for SIGUSR1, which nothing else in this
    // binary uses; the handler only takes a lock no interrupted code holds.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = handler as extern "C" fn(libc::c_int) as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let worker = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            // Every chain the handler can see, learned before any signal.
            for _ in 0..2 {
                drop(H.lock());
                let a = A.lock();
                drop(H.lock());
                let b = B.lock();
                drop(H.lock());
                let c = C.lock();
                drop(H.lock());
                drop((c, b));
                let c = C.lock();
                drop(H.lock());
                drop((c, a));
                round(0);
            }
            // SAFETY: pthread_self has no preconditions.
            tid_tx
                .send(unsafe { libc::pthread_self() } as usize)
                .unwrap();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                round(i);
                i += 1;
            }
            lockdep::held_locks()
                .into_iter()
                .map(|l| l.name)
                .collect::<Vec<_>>()
        })
    };
    let tid = tid_rx.recv().unwrap() as libc::pthread_t;
    // One signal at a time (pending signals of one kind merge), each
    // waited for: 5 000 signals, or as many as 5 s allow once 1 000 were
    // handled (a loaded machine schedules the worker seldom); a minute at
    // most, in case the worker hangs.
    let start = std::time::Instant::now();
    let enough = |now: std::time::Instant| {
        now - start > std::time::Duration::from_secs(5) && HANDLED.load(Ordering::Relaxed) >= 1000
    };
    let hard = start + std::time::Duration::from_secs(60);
    let mut sent = 0;
    while sent < 5_000 && !enough(std::time::Instant::now()) && std::time::Instant::now() < hard {
        let before = HANDLED.load(Ordering::Relaxed);
        // SAFETY: the worker is alive until `stop` is set, after this loop.
        assert_eq!(unsafe { libc::pthread_kill(tid, libc::SIGUSR1) }, 0);
        sent += 1;
        while HANDLED.load(Ordering::Relaxed) == before && std::time::Instant::now() < hard {
            std::hint::spin_loop();
        }
    }
    assert!(
        HANDLED.load(Ordering::Relaxed) >= sent.min(1000),
        "{sent} sent"
    );
    stop.store(true, Ordering::Relaxed);
    let left = worker.join().expect("the worker ran to the end");
    assert!(left.is_empty(), "phantom held entries: {left:?}");
    let reports = lockdep::reports();
    assert!(reports.is_empty(), "false reports: {reports:#?}");
    assert_eq!(lockdep::stats().internal_errors, 0);
    assert!(*H.lock() > 0);
}
