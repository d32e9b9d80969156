//! The validator's shared state, generic over the locks that guard it.
//!
//! Production uses lockdep's own raw locks (`crate::raw`: the validator never
//! instruments its own state). The model-checking tests use loom's, so that the real validation
//! code runs under every interleaving loom explores.

use crate::chain::{Key, KeySet};

/// The locks shared state is kept behind. Access goes through closures, so
/// no guard type leaks into the validator.
pub(crate) trait Facade: Sized + 'static {
    type Mutex<T: Send + 'static>: Send + Sync;
    type RwLock<T: Send + Sync + 'static>: Send + Sync;
    fn mutex<T: Send + 'static>(value: T) -> Self::Mutex<T>;
    fn rwlock<T: Send + Sync + 'static>(value: T) -> Self::RwLock<T>;
    fn with<T: Send + 'static, R>(m: &Self::Mutex<T>, f: impl FnOnce(&mut T) -> R) -> R;
    fn read<T: Send + Sync + 'static, R>(l: &Self::RwLock<T>, f: impl FnOnce(&T) -> R) -> R;
    fn write<T: Send + Sync + 'static, R>(l: &Self::RwLock<T>, f: impl FnOnce(&mut T) -> R) -> R;
}

/// lockdep's own raw locks (`crate::raw`): production.
pub(crate) struct Raw;

impl Facade for Raw {
    type Mutex<T: Send + 'static> = crate::raw::Mutex<T>;
    type RwLock<T: Send + Sync + 'static> = crate::raw::RwLock<T>;
    fn mutex<T: Send + 'static>(value: T) -> Self::Mutex<T> {
        crate::raw::Mutex::new(value)
    }
    fn rwlock<T: Send + Sync + 'static>(value: T) -> Self::RwLock<T> {
        crate::raw::RwLock::new(value)
    }
    fn with<T: Send + 'static, R>(m: &Self::Mutex<T>, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut m.lock())
    }
    fn read<T: Send + Sync + 'static, R>(l: &Self::RwLock<T>, f: impl FnOnce(&T) -> R) -> R {
        f(&l.read())
    }
    fn write<T: Send + Sync + 'static, R>(l: &Self::RwLock<T>, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut l.write())
    }
}

const SHARDS: usize = 16;

/// The global set of validated chain keys, sharded to keep readers apart.
pub(crate) struct GlobalChains<F: Facade> {
    shards: [F::RwLock<KeySet>; SHARDS],
}

impl<F: Facade> GlobalChains<F> {
    pub(crate) fn new() -> Self {
        GlobalChains {
            shards: std::array::from_fn(|_| F::rwlock(KeySet::with_hasher(Default::default()))),
        }
    }

    fn shard(&self, key: Key) -> &F::RwLock<KeySet> {
        &self.shards[(key.fold() >> 58) as usize % SHARDS]
    }

    pub(crate) fn contains(&self, key: Key) -> bool {
        F::read(self.shard(key), |s| s.contains(&key))
    }

    pub(crate) fn insert(&self, key: Key) {
        F::write(self.shard(key), |s| s.insert(key));
    }

    /// Forgets every key ([`crate::reset`]).
    pub(crate) fn clear(&self) {
        for shard in &self.shards {
            F::write(shard, |s| *s = KeySet::with_hasher(Default::default()));
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| F::read(s, |s| s.len())).sum()
    }

    /// Heap bytes held by the set: a key and a control byte per bucket.
    pub(crate) fn capacity_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| F::read(s, |s| s.capacity() * (std::mem::size_of::<Key>() + 1)))
            .sum()
    }
}

impl GlobalChains<Raw> {
    /// Write-locks every shard across a `fork` (see `crate::fork`).
    pub(crate) fn fork_lock(&self) {
        for s in &self.shards {
            std::mem::forget(s.write());
        }
    }

    /// Releases what [`fork_lock`](Self::fork_lock) took.
    ///
    /// # Safety
    /// As [`crate::fork::release_write`]'s.
    pub(crate) unsafe fn fork_unlock(&self, child: bool) {
        for s in &self.shards {
            // SAFETY: passed on from the caller.
            unsafe { crate::fork::release_write(s, child) };
        }
    }
}

/// Everything the threads share: the graph (with its traces and reported
/// sets) behind one lock, and the global chain set.
pub(crate) struct Shared<F: Facade, G: Send + 'static> {
    pub(crate) global: F::Mutex<G>,
    pub(crate) chains: GlobalChains<F>,
}

impl<F: Facade, G: Send + Default + 'static> Shared<F, G> {
    pub(crate) fn new() -> Self {
        Shared {
            global: F::mutex(G::default()),
            chains: GlobalChains::new(),
        }
    }

    pub(crate) fn with_global<R>(&self, f: impl FnOnce(&mut G) -> R) -> R {
        F::with(&self.global, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_set() {
        let g = GlobalChains::<Raw>::new();
        let (k1, k2) = (Key { a: 42, b: 1 }, Key { a: 42, b: 2 });
        assert!(!g.contains(k1));
        g.insert(k1);
        assert!(!g.contains(k2), "both lanes are compared");
        g.insert(k2);
        assert!(g.contains(k1) && g.contains(k2));
        assert_eq!(g.len(), 2);
        assert!(g.capacity_bytes() > 0);
    }
}
