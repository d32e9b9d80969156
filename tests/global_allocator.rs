//! A `lockdep::Mutex` inside the program's `#[global_allocator]`. The
//! validator allocates (resolving a class, capturing a stack, building a
//! report): those allocations re-enter the allocator, and so the validator,
//! on the same thread. The inner acquisitions are left untracked; nothing
//! recurses. Outside the validator the allocator's lock is validated like
//! any other. No test harness: the allocator serves the whole binary, from
//! before `main`.

use std::alloc::{GlobalAlloc, Layout, System};

use lockdep::{Action, Mutex};

struct Counting {
    calls: Mutex<usize>,
    /// Taken under `calls`: the allocator nests two locks, so an
    /// allocation on a fresh thread validates a new chain.
    bytes: Mutex<usize>,
}

impl Counting {
    fn count(&self, size: usize) {
        let mut calls = self.calls.lock();
        *calls += 1;
        *self.bytes.lock() += size;
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments;
// the lock only guards a counter.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.count(layout.size());
        // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        self.count(0);
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting {
    calls: Mutex::named("ga_allocator", 0),
    bytes: Mutex::named("ga_allocator_bytes", 0),
};

static OUTER: Mutex<Vec<u32>> = Mutex::named("ga_outer", Vec::new());

fn reports_about(name: &str) -> usize {
    lockdep::reports()
        .iter()
        .filter(|r| r.class_names().contains(&name))
        .count()
}

fn main() {
    lockdep::set_action(Action::Print);
    let before = *ALLOCATOR.calls.lock();
    assert!(before > 0, "the allocator ran before main");

    // Allocating under a lock: a real dependency OUTER -> allocator.
    OUTER.lock().extend(0..1000);
    // A cycle, reported (its report allocates, inside the validator).
    let (a, b) = (Mutex::named("ga_a", ()), Mutex::named("ga_b", ()));
    {
        let _a = a.lock();
        let _b = b.lock();
    }
    {
        let _b = b.lock();
        let _a = a.lock();
        let _v: Vec<u8> = Vec::with_capacity(64);
    }
    assert_eq!(reports_about("ga_a"), 1);
    // Rendering symbolizes on a helper thread, whose allocations take the
    // allocator's two locks too.
    let text = lockdep::reports()[0].to_string();
    assert!(text.contains("global_allocator::main"), "{text}");
    let stats = lockdep::stats();
    assert_eq!(stats.internal_errors, 0, "{stats:?}");
    // OUTER -> allocator and a -> b, b -> a at least.
    assert!(stats.dependencies >= 3, "{stats:?}");
    assert!(lockdep::held_locks().is_empty());
    assert!(
        lockdep::reports().len() == 1,
        "only the cycle: {:#?}",
        lockdep::reports()
    );
    std::thread::spawn(|| drop(vec![1u8; 100])).join().unwrap();
    assert!(*ALLOCATOR.calls.lock() > before);
    println!(
        "global_allocator: a lockdep Mutex in the global allocator works, and the cycle was found"
    );
}
