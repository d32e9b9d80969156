//! Acquisition modes and the per-thread stack of held locks.

use std::panic::Location;

use crate::chain::{self, Key};
use crate::class::ClassId;

/// How a lock is acquired.
///
/// These are the kernel's three kinds of locker: a writer, a reader that can
/// be blocked by a *waiting* writer (non-recursive), and a reader that is only
/// blocked by a writer that already *holds* the lock (recursive).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Exclusive (write) acquisition: blocks and is blocked by everyone.
    Exclusive,
    /// Shared, non-recursive (read) acquisition: can block behind a waiting
    /// writer, so taking it twice can deadlock.
    Shared,
    /// Shared, recursive acquisition: only blocked by a writer that holds the
    /// lock.
    SharedRecursive,
}

impl Mode {
    pub(crate) fn bits(self) -> u64 {
        match self {
            Mode::Exclusive => 0,
            Mode::Shared => 1,
            Mode::SharedRecursive => 2,
        }
    }

    /// The inverse of [`bits`](Self::bits) (3 reads as recursive).
    pub(crate) fn from_bits(bits: u64) -> Mode {
        match bits {
            0 => Mode::Exclusive,
            1 => Mode::Shared,
            _ => Mode::SharedRecursive,
        }
    }

    /// Is this a read (shared) acquisition?
    pub fn is_shared(self) -> bool {
        self != Mode::Exclusive
    }
}

/// One entry of a thread's held-lock stack.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeldLock {
    pub(crate) class: ClassId,
    /// Address of the lock instance, to match the release.
    pub(crate) instance: usize,
    pub(crate) mode: Mode,
    pub(crate) trylock: bool,
    /// How many times the holder pinned it (see `LockMap::pin`).
    pub(crate) pins: u8,
    /// Why other locks of its class may be held with it, if they may.
    pub(crate) nest: Nest,
    /// The chain key of the stack up to and including this entry: the
    /// thread's key once it is pushed, and again once the entries above it
    /// are released (a pop restores the key for free).
    pub(crate) key: Key,
    pub(crate) at: &'static Location<'static>,
}

impl HeldLock {
    /// What an entry contributes to the chain key.
    #[inline]
    pub(crate) fn id(class: ClassId, mode: Mode, trylock: bool, nested: bool) -> u64 {
        (u64::from(class.0) << 4)
            | (u64::from(nested) << 3)
            | (mode.bits() << 1)
            | u64::from(trylock)
    }

    /// What this entry contributes to the chain key.
    #[inline]
    pub(crate) fn chain_id(&self) -> u64 {
        Self::id(
            self.class,
            self.mode,
            self.trylock,
            self.nest == Nest::Covered,
        )
    }
}

/// What excuses an entry from the recursion check.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Nest {
    /// Nothing: a held lock of its class is recursive locking.
    No,
    /// Its class is ordered: the order is checked on every acquisition
    /// instead, and its dependencies are recorded as usual.
    Ordered,
    /// A held nest lock covers it (it was taken under the nest lock, after
    /// the first held lock of its class, which was taken after the nest
    /// lock): no recursion, and no dependencies. In the chain key.
    Covered,
}

/// Gives `entries` the chain keys of a stack that has the chain key
/// `below` under them, and returns the key of the whole: what a stack's
/// part above a removed or changed entry needs.
pub(crate) fn rekey(entries: &mut [HeldLock], below: Key) -> Key {
    entries.iter_mut().fold(below, |key, h| {
        h.key = chain::mix(key, h.chain_id());
        h.key
    })
}

/// The chain key under entry `i` of `held`, a stack whose empty key is
/// `base`.
pub(crate) fn key_below(held: &[HeldLock], i: usize, base: Key) -> Key {
    match i {
        0 => base,
        i => held[i - 1].key,
    }
}

/// Finds the topmost entry for `instance`.
pub(crate) fn find(held: &[HeldLock], instance: usize) -> Option<usize> {
    held.iter().rposition(|h| h.instance == instance)
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_entry_is_five_words() {
        assert_eq!(std::mem::size_of::<HeldLock>(), 40);
    }

    use super::*;

    #[test]
    fn chain_ids_separate_mode_and_trylock() {
        let c = ClassId(5);
        let ids = [
            HeldLock::id(c, Mode::Exclusive, false, false),
            HeldLock::id(c, Mode::Shared, false, false),
            HeldLock::id(c, Mode::SharedRecursive, false, false),
            HeldLock::id(c, Mode::Exclusive, true, false),
            HeldLock::id(c, Mode::Exclusive, false, true),
            HeldLock::id(ClassId(6), Mode::Exclusive, false, false),
        ];
        for i in 0..ids.len() {
            for j in 0..i {
                assert_ne!(ids[i], ids[j]);
            }
        }
    }

    #[test]
    fn find_prefers_the_topmost_entry() {
        let at = Location::caller();
        let mk = |instance| HeldLock {
            class: ClassId(0),
            instance,
            mode: Mode::Exclusive,
            trylock: false,
            pins: 0,
            nest: Nest::No,
            key: Key::initial(),
            at,
        };
        let held = [mk(1), mk(2), mk(1)];
        assert_eq!(find(&held, 1), Some(2));
        assert_eq!(find(&held, 2), Some(1));
        assert_eq!(find(&held, 3), None);
    }

    #[test]
    fn rekey_chains_the_keys() {
        let at = Location::caller();
        let mk = |class| HeldLock {
            class: ClassId(class),
            instance: class as usize,
            mode: Mode::Exclusive,
            trylock: false,
            pins: 0,
            nest: Nest::No,
            key: Key { a: 9, b: 9 },
            at,
        };
        let mut held = [mk(1), mk(2), mk(3)];
        let start = Key::initial();
        let key = rekey(&mut held, start);
        assert_eq!(held[0].key, chain::mix(start, held[0].chain_id()));
        assert_eq!(held[1].key, chain::mix(held[0].key, held[1].chain_id()));
        assert_eq!(held[2].key, chain::mix(held[1].key, held[2].chain_id()));
        assert_eq!(key, held[2].key);
        assert_eq!(key_below(&held, 0, start), start);
        assert_eq!(key_below(&held, 2, start), held[1].key);
    }
}
