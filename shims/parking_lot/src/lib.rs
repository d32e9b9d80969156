//! `parking_lot` 0.12, validated by [lockdep](https://docs.rs/lockdep).
//!
//! This crate has parking_lot 0.12's name, version and public API, and its
//! locks are lockdep's: `lock_api` locks over lockdep's tracked raw locks.
//! Patched into a dependency graph, it validates the lock order of every
//! crate in the graph that uses parking_lot, with no change to their code:
//!
//! ```toml
//! [patch.crates-io]
//! parking_lot = { path = "path/to/lockdep/shims/parking_lot" }
//! ```
//!
//! Every item is `lockdep::parking_lot`'s, so `parking_lot::Mutex<T>` is
//! `lock_api::Mutex<parking_lot::RawMutex, T>`, as in parking_lot, and code
//! generic over `lock_api`'s types compiles unchanged. What each operation
//! is validated as, and the class a lock gets, are documented there.
//!
//! Features: `arc_lock`, `send_guard`, `serde`, `owning_ref` and `nightly`
//! do what parking_lot's do. `deadlock_detection` enables parking_lot_core's
//! detector and `parking_lot::deadlock::check_deadlock`, as in parking_lot;
//! lockdep reports the orders that could deadlock before one happens.
//! `hardware-lock-elision` is accepted and does nothing.
//!
//! Not covered: parking_lot 0.13, which is built on `lock_api` 0.5, a
//! different set of traits. A graph that has both 0.12 and 0.13 validates
//! only the 0.12 locks.
#![warn(missing_docs)]

pub use lockdep::parking_lot::*;

/// parking_lot_core's deadlock detector, as parking_lot exposes it.
///
/// lockdep's raw locks tell the detector what they hold, so a deadlock that
/// has happened is found as with parking_lot. lockdep itself reports the
/// lock order that could deadlock, before it does.
#[cfg(feature = "deadlock_detection")]
pub mod deadlock {
    pub use parking_lot_core::deadlock::check_deadlock;
}
