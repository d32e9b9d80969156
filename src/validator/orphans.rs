//! Releases on another thread than the acquisition's (a guard sent with
//! `send_guard`): the releasing thread posts the lock's instance with the
//! owner's token (`post`), lock-free; the owner removes its entry at its
//! next session or at its end (`collect`), before anything is validated
//! against it.

use std::cell::Cell;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};

use super::*;

const SLOTS: usize = 256;
const INSTANCE: u64 = (1 << 48) - 1;
/// `(owner token << 48) | instance`, 0 when empty.
static POSTED: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];
static PENDING: AtomicUsize = AtomicUsize::new(0);
static NEXT: AtomicU16 = AtomicU16::new(1);

thread_local! {
    static TOKEN: Cell<u16> = const { Cell::new(0) };
}

/// The calling thread's token (never 0; tokens repeat after 65 535 threads).
pub(crate) fn token() -> u16 {
    TOKEN
        .try_with(|token| {
            if token.get() == 0 {
                let next = NEXT.fetch_add(1, Ordering::Relaxed);
                token.set(next.max(1));
            }
            token.get()
        })
        .unwrap_or(0)
}

#[cfg_attr(not(feature = "send_guard"), allow(dead_code))]
/// `owner`'s acquisition of `instance` was released by this thread. If all
/// slots are taken, the owner keeps its entry (counted as dropped).
pub(crate) fn post(owner: u16, instance: usize) {
    let word = (u64::from(owner) << 48) | (instance as u64 & INSTANCE);
    for slot in &POSTED {
        if slot
            .compare_exchange(0, word, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            PENDING.fetch_add(1, Ordering::Release);
            return;
        }
    }
}

/// Removes the thread's entries that other threads released.
pub(super) fn collect(st: &mut ThreadState) {
    if PENDING.load(Ordering::Acquire) == 0 {
        return;
    }
    let me = u64::from(token());
    for slot in &POSTED {
        let word = slot.load(Ordering::Acquire);
        if word >> 48 != me
            || slot
                .compare_exchange(word, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            continue;
        }
        PENDING.fetch_sub(1, Ordering::Relaxed);
        if let Some(i) = held::find(&st.held, (word & INSTANCE) as usize) {
            remove_at(st, i);
        }
    }
}
