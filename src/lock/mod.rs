//! The lock layer: validation below `lock_api`.
//!
//! [`Tracked<R>`] wraps an inner raw lock `R` and implements `lock_api`'s
//! raw traits, telling the validator of each operation. `lock_api`'s own
//! `Mutex`, `RwLock` and `ReentrantMutex` over it are validated locks whose
//! guards, mapped guards, `Arc` guards (feature `arc_lock`), `unlocked`,
//! `bump`, timed, upgrade and downgrade operations are `lock_api`'s:
//! [`crate::parking_lot`] is exactly that, and [`crate::Mutex`],
//! [`crate::RwLock`] and [`crate::ReentrantMutex`] are thin newtypes over
//! it that add lockdep's constructors and annotations. `lock_api` (0.4.14
//! on) marks its locking methods `#[track_caller]`, so each acquisition is
//! recorded at the user's line.
//!
//! What each raw operation is validated as, defined once, here:
//!
//! | raw operation (the `lock_api` methods that call it) | validated as |
//! |---|---|
//! | `lock`, `lock_exclusive` (`lock`, `write`, `lock_arc`, `write_arc`) | exclusive, validated before blocking: a report comes before a hang |
//! | `lock_shared` (`read`) | shared, **not** recursive: a reader queues behind a waiting writer, so two readers in opposite orders can deadlock and are reported |
//! | `lock_shared_recursive` (`read_recursive`) | recursive shared: only a writer that holds the lock blocks it |
//! | `lock_upgradable` (`upgradable_read`) | shared (non-recursive): a waiting writer blocks it |
//! | `upgrade` (`upgrade`, `with_upgraded`) | the shared acquisition released, then an exclusive one validated before the raw upgrade waits for the readers |
//! | every `try_` form, timed or not (`try_lock`, `try_read_for`, `try_upgrade_until`, ...) | the same mode as a trylock, once it succeeds: never the target of a dependency (a timed wait cannot wait forever, so an ABBA order through timed locks is **not** reported); while held, a source |
//! | `downgrade`, `downgrade_to_upgradable`, `downgrade_upgradable` | the held mode becomes shared (cannot block) |
//! | `unlock*`, `unlock*_fair` (dropping a guard, `unlock_fair`, `into_arc`, `force_unlock*`) | the release of the thread's acquisition. One the validator did not record, or made on another thread (a guard sent with `send_guard`), releases nothing and reports nothing |
//! | `bump*` (`bump`) | a release and a new blocking acquisition of the same mode and subclass, before the raw bump (which may hand the lock over and wait for it) |
//! | a lock from inside `lock_api` (the re-take of a guard's `unlocked`, `unlocked_fair`) | a blocking acquisition of the subclass the guard had; if the validator panics (`Action::Panic`), the raw lock is taken anyway, so the guard still owns it |
//! | `is_locked`, `is_locked_exclusive`, `is_owned_by_current_thread`, `data_ptr`, `get_mut`, `into_inner`, `MutexGuard::leak` (stays held, in the validator as in the lock: a thread that ends, or a lock dropped, with it so is reported) | nothing |
//! | `raw` (unsafe) | the tracked raw lock: locking it is validated as above |
//!
//! A `ReentrantMutex` calls its raw mutex only at a thread's first
//! acquisition and last release: a re-lock by the owner cannot block. The
//! inner raw locks are named once, here ([`InnerMutex`], ...).

mod mutex;
mod raw;
mod reentrant;
mod rwlock;

pub use mutex::{Mutex, MutexExt};
pub(crate) use raw::inside_lock_api;
pub use raw::{RawInit, Tracked};
pub use reentrant::ReentrantMutex;
pub use rwlock::{RwLock, RwLockExt};

/// The inner raw mutex: what a validated mutex locks.
pub type InnerMutex = crate::raw::RawMutex;
/// The inner raw fair mutex.
pub type InnerFairMutex = crate::raw::RawFairMutex;
/// The inner raw reader-writer lock.
pub type InnerRwLock = crate::raw::RawRwLock;
/// The thread-id getter of re-entrant mutexes.
pub type RawThreadId = crate::raw::RawThreadId;

/// The validated raw mutex.
pub type RawMutex = Tracked<InnerMutex>;
/// The validated raw fair mutex.
pub type RawFairMutex = Tracked<InnerFairMutex>;
/// The validated raw reader-writer lock.
pub type RawRwLock = Tracked<InnerRwLock>;

/// The guard of a [`crate::Mutex`]: `lock_api`'s.
pub type MutexGuard<'a, T> = lock_api::MutexGuard<'a, RawMutex, T>;
/// The guards of a [`crate::RwLock`]: `lock_api`'s.
pub type RwLockReadGuard<'a, T> = lock_api::RwLockReadGuard<'a, RawRwLock, T>;
/// The write guard of a [`crate::RwLock`]: `lock_api`'s.
pub type RwLockWriteGuard<'a, T> = lock_api::RwLockWriteGuard<'a, RawRwLock, T>;
/// The upgradable read guard of a [`crate::RwLock`]: `lock_api`'s.
pub type RwLockUpgradableReadGuard<'a, T> = lock_api::RwLockUpgradableReadGuard<'a, RawRwLock, T>;
/// The guard of a [`crate::ReentrantMutex`]: `lock_api`'s.
pub type ReentrantMutexGuard<'a, T> = lock_api::ReentrantMutexGuard<'a, RawMutex, RawThreadId, T>;

/// A newtype over a `lock_api` lock: the struct, its constructors,
/// `Deref`, the contracts, `AsLockMap`, `Default` and `From` with the
/// caller's site, and the `Arc` cast for `lock_api`'s arc methods.
macro_rules! newtype {
    ($(#[$attr:meta])* $name:ident($inner:ty, $raw:ty $(, $extra:expr)*)) => {
        use crate::map::LockMap;

        $(#[$attr])*
        #[repr(transparent)]
        pub struct $name<T: ?Sized> {
            inner: $inner,
        }

        impl<T> $name<T> {
            const fn with_map(map: LockMap, value: T) -> Self {
                let raw = Tracked::with_map(<$raw as super::RawInit>::UNLOCKED, map);
                $name {
                    inner: <$inner>::from_raw(raw, $($extra,)* value),
                }
            }
        }

        impl<T: ?Sized> std::ops::Deref for $name<T> {
            type Target = $inner;
            #[inline(always)]
            fn deref(&self) -> &$inner {
                &self.inner
            }
        }

        impl<T: ?Sized> std::ops::DerefMut for $name<T> {
            #[inline(always)]
            fn deref_mut(&mut self) -> &mut $inner {
                &mut self.inner
            }
        }

        impl<T: ?Sized> crate::AsLockMap for $name<T> {
            fn as_lock_map(&self) -> &crate::LockMap {
                crate::AsLockMap::as_lock_map(&self.inner)
            }
        }

        impl<T> $name<T> {
            /// A lock whose class is the call site and `T`: every lock this
            /// line builds for this type is one class.
            #[track_caller]
            pub const fn new(value: T) -> Self {
                let at = std::panic::Location::caller();
                Self::with_map(LockMap::of::<T>(at, crate::class::Prefix::None), value)
            }

            /// A lock whose class is the call site and `name`, printed as
            /// `name`.
            #[track_caller]
            pub const fn named(name: &'static str, value: T) -> Self {
                let at = std::panic::Location::caller();
                Self::with_map(
                    LockMap::named_at(at, name, crate::class::Prefix::None),
                    value,
                )
            }

            /// A lock of the class of a static key.
            pub const fn with_key(key: &'static crate::ClassKey, value: T) -> Self {
                Self::with_map(LockMap::with_key(key), value)
            }

            /// A lock of the class of a [`DynamicKey`](crate::DynamicKey),
            /// created at run time.
            pub fn with_dynamic_key(key: &crate::DynamicKey, value: T) -> Self {
                Self::with_map(LockMap::with_dynamic_key(key), value)
            }

            /// Consumes the lock and returns the value.
            pub fn into_inner(self) -> T {
                self.inner.into_inner()
            }
        }

        impl<T: ?Sized> $name<T> {
            #[allow(dead_code)]
            fn map(&self) -> &crate::LockMap {
                crate::AsLockMap::as_lock_map(&self.inner)
            }

            crate::map::contract_methods!(inner);

            /// The lock's class.
            pub fn class(&self) -> crate::ClassId {
                self.map().class()
            }

            /// `self` as the `lock_api` lock it is, in its `Arc`: for
            /// `lock_api`'s arc methods (`lock_arc`, `read_arc`, ...), as
            /// `Arc::clone(&lock).into_lock_api().lock_arc()`.
            #[cfg(feature = "arc_lock")]
            pub fn into_lock_api(self: std::sync::Arc<Self>) -> std::sync::Arc<$inner> {
                let ptr = std::sync::Arc::into_raw(self) as *const $inner;
                // SAFETY: the newtype is `repr(transparent)` over the
                // `lock_api` lock, so the two (and their `Arc` allocations)
                // have one layout; `ptr` comes from `Arc::into_raw`.
                unsafe { std::sync::Arc::from_raw(ptr) }
            }
        }

        impl<T: Default> Default for $name<T> {
            #[track_caller]
            fn default() -> Self {
                Self::new(T::default())
            }
        }

        impl<T> From<T> for $name<T> {
            #[track_caller]
            fn from(value: T) -> Self {
                Self::new(value)
            }
        }

        impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&self.inner, f)
            }
        }
    };
}
pub(crate) use newtype;
