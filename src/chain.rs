//! Chain keys and the cache of validated chains: the fast path.
//!
//! A *chain* is the sequence of `(class, mode, trylock)` a thread holds,
//! ending with the lock it is acquiring. Its key is a 64-bit hash built
//! incrementally: each held entry keeps the key from before it, so release can
//! restore it. A chain whose validation has run once never needs it again,
//! because validation depends on nothing but the chain's content.
//!
//! Two levels of cache keep the known-chain path free of shared state:
//! - a per-thread open-addressing set, touched only by its own thread;
//! - a global sharded set (in `shared.rs`), consulted when the thread-local
//!   one misses, so a chain learned by one thread costs another thread one
//!   read lock, once.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

/// The key of the empty chain.
pub(crate) const INITIAL_KEY: u64 = 0x6c6f_636b_6465_7021;

/// Extends a chain key by one held-lock id.
#[inline]
pub(crate) fn mix(key: u64, id: u64) -> u64 {
    // One multiply and a xor-shift: for each id a bijection of the key (so
    // two stacks that differ below collide only by chance), and the high
    // bits the multiply produces are folded into the low bits the caches
    // index by.
    let x = (key ^ id).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^ (x >> 29)
}

/// Most chains a thread caches; past it the cache starts over, and refills
/// from the global set (one read lock per chain) as chains recur. Bounds a
/// thread's cache at 1 MiB however many distinct lock stacks it goes through.
const LOCAL_LIMIT: usize = 1 << 16;

/// The per-thread set of validated chain keys.
pub(crate) struct LocalChains {
    slots: Vec<u64>,
    len: usize,
}

impl LocalChains {
    pub(crate) const fn new() -> LocalChains {
        LocalChains {
            slots: Vec::new(),
            len: 0,
        }
    }

    #[inline]
    fn slot_key(key: u64) -> u64 {
        // 0 marks an empty slot.
        if key == 0 {
            1
        } else {
            key
        }
    }

    #[inline]
    pub(crate) fn contains(&self, key: u64) -> bool {
        probe(&self.slots, key)
    }

    /// The slots, for a lookup from the fast path, which cannot borrow the
    /// set (see `validator::Fast`). Valid until the next insertion.
    pub(crate) fn slots(&self) -> (*const u64, usize) {
        (self.slots.as_ptr(), self.slots.len())
    }

    pub(crate) fn insert(&mut self, key: u64) {
        let key = Self::slot_key(key);
        if self.len >= LOCAL_LIMIT {
            self.slots.iter_mut().for_each(|s| *s = 0);
            self.len = 0;
        }
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = (key as usize) & mask;
        loop {
            match self.slots[i] {
                0 => {
                    self.slots[i] = key;
                    self.len += 1;
                    return;
                }
                k if k == key => return,
                _ => i = (i + 1) & mask,
            }
        }
    }

    fn grow(&mut self) {
        let cap = (self.slots.len() * 2).max(64);
        let old = std::mem::replace(&mut self.slots, vec![0; cap]);
        self.len = 0;
        for k in old.into_iter().filter(|&k| k != 0) {
            self.insert(k);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn capacity_bytes(&self) -> usize {
        self.slots.len() * std::mem::size_of::<u64>()
    }
}

/// Is `key` among `slots` (the table of a [`LocalChains`])?
#[inline]
pub(crate) fn probe(slots: &[u64], key: u64) -> bool {
    let key = LocalChains::slot_key(key);
    let mask = slots.len().wrapping_sub(1);
    if slots.is_empty() {
        return false;
    }
    let mut i = (key as usize) & mask;
    loop {
        match slots[i] {
            0 => return false,
            k if k == key => return true,
            _ => i = (i + 1) & mask,
        }
    }
}

/// A hasher for keys that are already well-mixed hashes.
#[derive(Default)]
pub(crate) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A set of chain keys.
pub(crate) type KeySet = HashSet<u64, BuildHasherDefault<IdentityHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_depends_on_order_and_content() {
        let a = mix(mix(INITIAL_KEY, 1), 2);
        let b = mix(mix(INITIAL_KEY, 2), 1);
        let c = mix(mix(INITIAL_KEY, 1), 3);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, mix(mix(INITIAL_KEY, 1), 2));
    }

    #[test]
    fn local_set_inserts_and_grows() {
        let mut s = LocalChains::new();
        assert!(!s.contains(7));
        for k in 0..1000u64 {
            s.insert(mix(INITIAL_KEY, k));
        }
        assert_eq!(s.len(), 1000);
        for k in 0..1000u64 {
            assert!(s.contains(mix(INITIAL_KEY, k)));
        }
        assert!(!s.contains(mix(INITIAL_KEY, 5000)));
        s.insert(0);
        assert!(s.contains(0));
        s.insert(mix(INITIAL_KEY, 3));
        assert_eq!(s.len(), 1001, "re-inserting a key does not grow the set");
    }

    #[test]
    fn local_set_is_bounded() {
        let mut s = LocalChains::new();
        for k in 0..(LOCAL_LIMIT as u64 * 3) {
            s.insert(mix(INITIAL_KEY, k));
        }
        assert!(s.len() <= LOCAL_LIMIT);
        assert!(s.capacity_bytes() <= LOCAL_LIMIT * 2 * 8);
        // The newest keys are there.
        assert!(s.contains(mix(INITIAL_KEY, LOCAL_LIMIT as u64 * 3 - 1)));
    }
}
