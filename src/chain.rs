//! Chain keys and the cache of validated chains: the fast path.
//!
//! A *chain* is the sequence of `(class, mode, trylock)` a thread holds,
//! ending with the lock it is acquiring. Its [`Key`] is a 128-bit hash built
//! incrementally: each held entry keeps the key from before it, so release can
//! restore it. A chain whose validation has run once never needs it again,
//! because validation depends on nothing but the chain's content.
//!
//! A hit on a key skips validation, so two chains must not share one. The
//! key has two independent 64-bit lanes: lane `a`, a multiply-xorshift of
//! each entry (cheap, unkeyed), and lane `b`, another one, seeded per
//! process from the OS's randomness, whose values no program can predict.
//! Each level of the cache trusts 64 seeded bits or more, and none can be
//! searched for offline, the seed being unknown:
//! - a lock's memo keeps lane b of one key: a false hit there is one value
//!   of the seeded lane matching another, about 2^-64 per acquisition;
//! - the thread's set keeps [`Key::fold`], `a ^ b`: a false hit is the
//!   fold of a chain the set lacks matching one of the at most 2^18 folds
//!   it holds, at most 2^-46 per lookup of a chain new to the thread (or
//!   evicted), so an even chance needs about 2^45 new chains on one
//!   thread, where the memo's exposure grows with every acquisition;
//! - the global set compares both lanes: a false hit takes a collision in
//!   both at once, about 2^64 chains for a birthday collision (a chain set
//!   of exabytes).
//!
//! A collision of lane `a` alone, the unkeyed one, which can be searched
//! for, is caught at every level: lanes b and the folds still differ.
//!
//! Two levels of cache keep the known-chain path free of shared state:
//! - a per-thread open-addressing set of folds, touched only by its own
//!   thread, bounded (2 MiB): past its size a new chain replaces the one in
//!   its home slot, so a thread going through more chains keeps most of
//!   them;
//! - a global sharded set (in `shared.rs`), consulted when the thread-local
//!   one misses, so a chain learned by one thread costs another thread one
//!   read lock, once.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// A chain key: two independent 64-bit lanes (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Key {
    pub(crate) a: u64,
    pub(crate) b: u64,
}

impl Key {
    /// The key of the empty chain. Lane `b` starts from the process's seed.
    pub(crate) fn initial() -> Key {
        Key {
            a: INITIAL_A,
            b: seed(),
        }
    }

    /// 64 bits of the key that depend on both lanes: what the sets index
    /// by, and all that the thread's set keeps of a key (see the module
    /// docs).
    #[inline(always)]
    pub(crate) fn fold(self) -> u64 {
        self.a ^ self.b
    }

    /// What a lock's memo keeps of a key: lane b, the seeded one (lane b
    /// depends on lane a, see [`mix`]).
    #[inline(always)]
    pub(crate) fn memo(self) -> u64 {
        self.b
    }
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.fold());
    }
}

/// Lane `a` of the empty chain's key.
const INITIAL_A: u64 = 0x6c6f_636b_6465_7021;

/// The process's seed for lane `b` (0 until the first chain key is made).
static SEED: AtomicU64 = AtomicU64::new(0);

/// The seed of lane `b`: drawn once per process from the standard
/// library's random hash keys (the OS's randomness), never 0.
pub(crate) fn seed() -> u64 {
    match SEED.load(Ordering::Relaxed) {
        0 => init_seed(),
        s => s,
    }
}

#[cold]
fn init_seed() -> u64 {
    use std::hash::BuildHasher;
    let drawn = std::collections::hash_map::RandomState::new().hash_one(INITIAL_A) | 1;
    // The first thread to draw decides, so that every thread's keys agree.
    match SEED.compare_exchange(0, drawn, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => drawn,
        Err(first) => first,
    }
}

#[cfg(test)]
thread_local! {
    /// Test hook: lane `a` ignores the class of every entry on this thread,
    /// so that any two chains of one shape collide in it (lane `b` still
    /// takes in each entry, as it does below a real collision of lane `a`).
    /// Lane `b` must still tell them apart.
    pub(crate) static COLLIDE_LANE_A: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Extends a chain key by one held-lock id.
#[inline(always)]
pub(crate) fn mix(key: Key, id: u64) -> Key {
    // Lane a: one multiply, for each id a bijection of the key (so two
    // stacks that differ below collide only by chance). Its low bits take
    // in only low bits; the sets index by `a ^ b`, whose lane b has them
    // mixed.
    let x = (key.a ^ id).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    // Lane b: lane a's product, which spreads the id over 64 bits (so that
    // ids differing in a few low bits do not cancel a difference of the
    // keys), into another odd multiplier and shift, from a seeded start.
    // Both lanes collide only if lane a does, and lane b did one entry
    // below, for two different stacks: an event of the seed, about 2^-64,
    // whatever lane a does.
    let y = (key.b ^ x).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    #[cfg(test)]
    let x = if COLLIDE_LANE_A.with(|c| c.get()) {
        (key.a ^ (id & 0xf)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    } else {
        x
    };
    Key {
        a: x,
        b: y ^ (y >> 32),
    }
}

/// Most chains a thread's set holds: 7/8 of its largest table, 2^18 slots
/// (2 MiB). Past that, a new chain replaces the first one from its home
/// slot on (usually the one there), so a thread that goes through more
/// chains keeps most of them, instead of starting over.
const LOCAL_LIMIT: usize = (1 << 18) / 8 * 7;

/// The per-thread set of validated chains: open addressing with linear
/// probing over 8-byte slots, each holding a key's [`Key::fold`] (0 is an
/// empty slot, see [`LocalChains::slot`]), at most 7/8 full. Small slots
/// and a high load keep the table of 100 000 chains in 1 MiB, within a
/// core's L2 cache, where 16-byte keys at half load took 4 MiB; a hit, the
/// fast path's, probes 2.5 to 4.5 slots on average (3/4 to 7/8 full), mostly
/// in one cache line.
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

    /// What a slot holds of `key`: its fold, with 0 (the empty slot) moved
    /// to 1.
    #[inline(always)]
    fn slot(key: Key) -> u64 {
        key.fold().max(1)
    }

    #[inline]
    pub(crate) fn contains(&self, key: Key) -> bool {
        probe(&self.slots, key)
    }

    /// The slots, for a lookup from the fast path, which cannot borrow the
    /// set (see `validator::Fast`). Valid until the next insertion.
    pub(crate) fn slots(&self) -> (*const u64, usize) {
        (self.slots.as_ptr(), self.slots.len())
    }

    pub(crate) fn insert(&mut self, key: Key) {
        if !self.contains(key) {
            self.insert_slot(Self::slot(key));
        }
    }

    /// Inserts `s`, a non-empty slot value that is not in the set.
    fn insert_slot(&mut self, s: u64) {
        if self.len >= LOCAL_LIMIT {
            // Full: the first chain from the new one's home slot on makes
            // room.
            let mask = self.slots.len() - 1;
            let mut i = home(self.slots.len(), s);
            while self.slots[i] == 0 {
                i = (i + 1) & mask;
            }
            self.remove_at(i);
        } else if (self.len + 1) * 8 > self.slots.len() * 7 {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = home(self.slots.len(), s);
        while self.slots[i] != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = s;
        self.len += 1;
    }

    /// Empties slot `i` (occupied) and moves back the keys after it that
    /// would no longer be found (deletion from linear probing, without
    /// tombstones).
    fn remove_at(&mut self, mut i: usize) {
        let mask = self.slots.len() - 1;
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let k = self.slots[j];
            if k == 0 {
                break;
            }
            // `k` stays if its home is cyclically in (i, j].
            let h = home(self.slots.len(), k);
            let stays = if i <= j {
                i < h && h <= j
            } else {
                i < h || h <= j
            };
            if !stays {
                self.slots[i] = k;
                i = j;
            }
        }
        self.slots[i] = 0;
        self.len -= 1;
    }

    fn grow(&mut self) {
        let cap = (self.slots.len() * 2).max(64);
        let old = std::mem::replace(&mut self.slots, vec![0; cap]);
        self.len = 0;
        for s in old.into_iter().filter(|&s| s != 0) {
            self.insert_slot(s);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn capacity_bytes(&self) -> usize {
        self.slots.len() * std::mem::size_of::<u64>()
    }
}

/// The home slot of slot value `s` in a table of `slots` slots (a power of
/// two).
#[inline(always)]
fn home(slots: usize, s: u64) -> usize {
    s as usize & (slots - 1)
}

/// Is `key` among `slots` (the table of a [`LocalChains`])? Out of line:
/// the fast path asks only when the lock's memo differs, and with the loop
/// inlined, the fast path (with the key's second lane) grew too big to be
/// inlined into lock calls.
#[inline(never)]
pub(crate) fn probe(slots: &[u64], key: Key) -> bool {
    if slots.is_empty() {
        return false;
    }
    let s = LocalChains::slot(key);
    let mask = slots.len() - 1;
    let mut i = home(slots.len(), s);
    loop {
        let k = slots[i];
        if k == s {
            return true;
        }
        if k == 0 {
            return false;
        }
        i = (i + 1) & mask;
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
pub(crate) type KeySet = HashSet<Key, BuildHasherDefault<IdentityHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn k(n: u64) -> Key {
        mix(Key::initial(), n)
    }

    #[test]
    fn mix_depends_on_order_and_content() {
        let i = Key::initial();
        let a = mix(mix(i, 1), 2);
        let b = mix(mix(i, 2), 1);
        let c = mix(mix(i, 1), 3);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, mix(mix(i, 1), 2));
        assert_eq!(seed(), seed(), "one seed per process");
    }

    /// The test hook collides lane a for chains of one shape; lane b still
    /// separates them, so the keys differ.
    #[test]
    fn the_second_lane_separates_a_forced_collision() {
        COLLIDE_LANE_A.with(|c| c.set(true));
        let i = Key::initial();
        let one = mix(mix(i, 5 << 4), 6 << 4);
        let other = mix(mix(i, 7 << 4), 8 << 4);
        COLLIDE_LANE_A.with(|c| c.set(false));
        assert_eq!(one.a, other.a, "the hook forces lane a to collide");
        assert_ne!(one.memo(), other.memo(), "the memo tells them apart");
        assert_ne!(one.fold(), other.fold(), "the thread's set does");
        assert_ne!(one, other);
        let mut s = LocalChains::new();
        s.insert(one);
        assert!(s.contains(one) && !s.contains(other));
    }

    #[test]
    fn local_set_inserts_and_grows() {
        let mut s = LocalChains::new();
        assert!(!s.contains(k(7)));
        for n in 0..1000u64 {
            s.insert(k(n));
        }
        assert_eq!(s.len(), 1000);
        for n in 0..1000u64 {
            assert!(s.contains(k(n)));
        }
        assert!(!s.contains(k(5000)));
        // A key whose fold is the empty slot's value is kept too.
        let zero = Key { a: 5, b: 5 };
        assert_eq!(zero.fold(), 0);
        assert!(!s.contains(zero));
        s.insert(zero);
        assert!(s.contains(zero));
        s.insert(k(3));
        assert_eq!(s.len(), 1001, "re-inserting a key does not grow the set");
        // At most 7/8 full: 1001 folds in 2048 slots (8 bytes each).
        assert_eq!(s.capacity_bytes(), 2048 * 8);
    }

    /// Past its bound the set replaces instead of starting over: its size
    /// stays bounded, the newest key is always there, every key still in
    /// it is found (removal keeps the probe sequences whole), and a working
    /// set somewhat larger than the bound mostly stays.
    #[test]
    fn local_set_is_bounded_and_degrades_gracefully() {
        let max = LOCAL_LIMIT;
        let mut s = LocalChains::new();
        for n in 0..(max as u64 * 2) {
            s.insert(k(n));
            assert!(s.contains(k(n)));
        }
        assert_eq!(s.len(), max);
        assert_eq!(s.capacity_bytes(), (1 << 18) * 8, "2 MiB at most");
        let present: Vec<u64> = s.slots.iter().copied().filter(|&f| f != 0).collect();
        assert_eq!(present.len(), max);
        assert!(present.iter().all(|&f| probe(&s.slots, Key { a: f, b: 0 })));
        // The last `max / 2` keys: most are still there.
        let kept = (max as u64 * 3 / 2..max as u64 * 2)
            .filter(|&n| s.contains(k(n)))
            .count();
        assert!(kept * 10 >= max / 2 * 6, "kept {kept} of {}", max / 2);
    }
}
