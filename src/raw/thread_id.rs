//! `RawThreadId`: the current thread's id for `lock_api::RawReentrantMutex`.

use std::num::NonZeroUsize;

/// A thread id for `lock_api::ReentrantMutex`: the address of a
/// thread-local, so non-zero, distinct for every live thread, and one
/// `fs`-relative address computation to get.
pub struct RawThreadId;

// SAFETY: two live threads' thread-locals are distinct objects, so their
// addresses differ; an address of an object is never 0.
unsafe impl lock_api::GetThreadId for RawThreadId {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: RawThreadId = RawThreadId;

    #[inline]
    fn nonzero_thread_id(&self) -> NonZeroUsize {
        // One byte with no destructor: always accessible, even while the
        // thread's other thread-locals are being destroyed.
        thread_local!(static ID: u8 = const { 0 });
        ID.with(|id| NonZeroUsize::new(id as *const u8 as usize))
            .expect("a thread-local's address is not null")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lock_api::GetThreadId as _;

    #[test]
    fn distinct_per_live_thread_and_stable() {
        let me = RawThreadId.nonzero_thread_id();
        assert_eq!(me, RawThreadId.nonzero_thread_id());
        let barrier = std::sync::Barrier::new(4);
        let ids: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        let id = RawThreadId.nonzero_thread_id();
                        barrier.wait(); // all four alive at once
                        id
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut all = ids.clone();
        all.push(me);
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 5);
    }
}
