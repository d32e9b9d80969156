//! Validated drop-ins for `std::sync`: change `use std::sync::{..}` to
//! `use lockdep::sync::{..}`.
//!
//! The signatures are the standard library's, poisoning included: `lock`
//! returns a [`LockResult`], a guard dropped while its thread panics poisons
//! the lock, and [`PoisonError::into_inner`] gets the guard anyway. Each way
//! of taking a lock is validated as the one table in [`crate::lock`] says:
//! a [`Mutex`] or [`RwLock`] here is a [`crate::Mutex`] / [`crate::RwLock`]
//! underneath, with its `lock_api` guard. So [`RwLock::read`] is shared
//! and **not** recursive: std's readers queue behind a waiting writer, so
//! two readers that take two locks in opposite orders can deadlock, and
//! are reported. [`Condvar`] waits release and re-take the mutex (see
//! [`crate::Condvar`] for validating the wait itself). [`Once`],
//! [`OnceLock`] and [`LazyLock`]: running or
//! waiting for an initializer is an exclusive acquisition (also `wait`);
//! one already done is validated only when the thread holds a lock (see
//! the crate docs); `get`, `get_mut`, `take`, `into_inner`, `Clone` (a new
//! cell of the original's class) never wait. `is_poisoned`,
//! `clear_poison`, `get_mut`, `into_inner` are not acquisitions.
//!
//! [`Arc`], [`Barrier`], [`mpsc`], [`atomic`] and the result types are the
//! standard library's own, re-exported so that one `use` line covers a
//! program. Barriers and channels are not validated.
//!
//! Beyond std's API, every lock has `named(..)` and `with_key(..)`
//! constructors to choose its class (see the crate docs).
//!
//! # Migrating
//!
//! A producer and a consumer, written for `std::sync`. Only the `use` line
//! changed:
//!
//! ```
//! // Was: use std::sync::{Arc, Condvar, Mutex};
//! use lockdep::sync::{Arc, Condvar, Mutex};
//! use std::thread;
//!
//! let shared = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
//! let producer = {
//!     let shared = Arc::clone(&shared);
//!     thread::spawn(move || {
//!         let (queue, ready) = &*shared;
//!         for item in 0..10 {
//!             queue.lock().unwrap().push(item);
//!             ready.notify_one();
//!         }
//!     })
//! };
//!
//! let (queue, ready) = &*shared;
//! let mut received = Vec::new();
//! while received.len() < 10 {
//!     let mut items = ready
//!         .wait_while(queue.lock().unwrap(), |items| items.is_empty())
//!         .unwrap();
//!     received.extend(items.drain(..));
//! }
//! producer.join().unwrap();
//! assert_eq!(received, (0..10).collect::<Vec<_>>());
//! ```
//!
//! And what it buys: two readers that take two `RwLock`s in opposite orders
//! never hang in a test, but can in production once writers queue up. They
//! are reported the first time both orders have run:
//!
//! ```
//! use lockdep::sync::RwLock;
//!
//! lockdep::set_action(lockdep::Action::Silent);
//! let config = RwLock::named("config", 1);
//! let routes = RwLock::named("routes", 2);
//! {
//!     let _c = config.read().unwrap();
//!     let _r = routes.read().unwrap();
//! }
//! {
//!     let _r = routes.read().unwrap();
//!     let _c = config.read().unwrap(); // reported
//! }
//! let report = lockdep::reports().pop().expect("a report");
//! assert_eq!(report.title(), "possible circular locking dependency detected");
//! ```

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub use crate::once::{LazyLock, Once, OnceLock};
pub use std::sync::{
    atomic, mpsc, Arc, Barrier, BarrierWaitResult, LockResult, OnceState, PoisonError,
    TryLockError, TryLockResult, Weak,
};

use crate::class::{ClassId, ClassKey};
use crate::map::LockMapGuard;

/// Sets a poison flag if dropped while its thread panics, unless the thread
/// was already panicking when the lock was taken (as std does).
struct PoisonOnPanic<'a> {
    flag: &'a AtomicBool,
    panicking: bool,
}

impl<'a> PoisonOnPanic<'a> {
    fn new(flag: &'a AtomicBool) -> Self {
        PoisonOnPanic {
            flag,
            panicking: std::thread::panicking(),
        }
    }

    fn poisoned(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }
}

impl Drop for PoisonOnPanic<'_> {
    fn drop(&mut self) {
        if !self.panicking && std::thread::panicking() {
            self.flag.store(true, Ordering::Relaxed);
        }
    }
}

/// `Ok(value)`, or `Err` carrying it if `poisoned`.
fn poison_result<G>(poisoned: bool, value: G) -> LockResult<G> {
    if poisoned {
        Err(PoisonError::new(value))
    } else {
        Ok(value)
    }
}

// ---------------------------------------------------------------------------
// Mutex
// ---------------------------------------------------------------------------

/// A mutual-exclusion lock shaped like `std::sync::Mutex`, poisoning
/// included, whose order against other locks is validated.
pub struct Mutex<T: ?Sized> {
    poison: AtomicBool,
    inner: crate::Mutex<T>,
}

impl<T: ?Sized> crate::AsLockMap for Mutex<T> {
    fn as_lock_map(&self) -> &crate::LockMap {
        crate::AsLockMap::as_lock_map(&self.inner)
    }
}

impl<T> Mutex<T> {
    /// A mutex whose class is the call site: every mutex created by this
    /// line of code is one class.
    #[track_caller]
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            poison: AtomicBool::new(false),
            inner: crate::Mutex::new(value),
        }
    }

    /// A mutex whose class is the call site, printed as `name`.
    #[track_caller]
    pub const fn named(name: &'static str, value: T) -> Mutex<T> {
        Mutex {
            poison: AtomicBool::new(false),
            inner: crate::Mutex::named(name, value),
        }
    }

    /// A mutex of the class of a static key.
    pub const fn with_key(key: &'static ClassKey, value: T) -> Mutex<T> {
        Mutex {
            poison: AtomicBool::new(false),
            inner: crate::Mutex::with_key(key, value),
        }
    }

    /// Consumes the mutex and returns the value; `Err` (still carrying it)
    /// if the mutex is poisoned.
    pub fn into_inner(self) -> LockResult<T> {
        let poisoned = self.poison.load(Ordering::Relaxed);
        poison_result(poisoned, self.inner.into_inner())
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Acquires the mutex, blocking until it is free. `Err` (still carrying
    /// the guard) if the mutex is poisoned.
    #[track_caller]
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        self.lock_nested(0)
    }

    /// Like [`lock`](Self::lock), as subclass `subclass` of the mutex's
    /// class, for nesting two mutexes of one class in a fixed order.
    #[track_caller]
    pub fn lock_nested(&self, subclass: u32) -> LockResult<MutexGuard<'_, T>> {
        let inner = self.inner.lock_nested(subclass);
        self.guard(inner)
    }

    /// Acquires the mutex if it is free: `Err(WouldBlock)` if it is not,
    /// `Err(Poisoned(..))` if it is poisoned.
    #[track_caller]
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T>> {
        match self.inner.try_lock() {
            Some(inner) => Ok(self.guard(inner)?),
            None => Err(TryLockError::WouldBlock),
        }
    }

    fn guard<'a>(&'a self, inner: crate::MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        let guard = MutexGuard {
            poison: PoisonOnPanic::new(&self.poison),
            inner,
        };
        poison_result(guard.poison.poisoned(), guard)
    }

    /// Did a thread panic while holding the mutex?
    pub fn is_poisoned(&self) -> bool {
        self.poison.load(Ordering::Relaxed)
    }

    /// Forgets that the mutex was poisoned.
    pub fn clear_poison(&self) {
        self.poison.store(false, Ordering::Relaxed);
    }

    /// Mutable access without locking: the borrow proves exclusivity. `Err`
    /// (still carrying it) if the mutex is poisoned.
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        let poisoned = self.is_poisoned();
        poison_result(poisoned, self.inner.get_mut())
    }

    /// The mutex's class.
    pub fn class(&self) -> ClassId {
        self.inner.class()
    }

    crate::map::contract_methods!(inner);
}

// As std's: a panic while holding the lock poisons it, so code that catches
// one sees the data's possible breakage through `LockResult`.
impl<T: ?Sized> UnwindSafe for Mutex<T> {}
impl<T: ?Sized> RefUnwindSafe for Mutex<T> {}

impl<T: Default> Default for Mutex<T> {
    #[track_caller]
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    #[track_caller]
    fn from(value: T) -> Self {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        // As std does: a trylock, which cannot block (nor be depended on).
        match self.inner.try_lock() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.field("poisoned", &self.is_poisoned());
        d.finish_non_exhaustive()
    }
}

/// Access to a locked [`Mutex`]; unlocks on drop, and poisons the mutex if
/// dropped while the thread panics. Not `Send`.
#[must_use = "the mutex is unlocked when the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    // Dropped first: the mutex is poisoned before it is unlocked.
    poison: PoisonOnPanic<'a>,
    inner: crate::MutexGuard<'a, T>,
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

// ---------------------------------------------------------------------------
// RwLock
// ---------------------------------------------------------------------------

/// A reader-writer lock shaped like `std::sync::RwLock`, poisoning
/// included, whose order against other locks is validated. Reads are
/// non-recursive shared acquisitions, as std's readers are (they queue behind
/// a waiting writer); writes are exclusive.
pub struct RwLock<T: ?Sized> {
    poison: AtomicBool,
    inner: crate::RwLock<T>,
}

impl<T: ?Sized> crate::AsLockMap for RwLock<T> {
    fn as_lock_map(&self) -> &crate::LockMap {
        crate::AsLockMap::as_lock_map(&self.inner)
    }
}

impl<T> RwLock<T> {
    /// A lock whose class is the call site.
    #[track_caller]
    pub const fn new(value: T) -> RwLock<T> {
        RwLock {
            poison: AtomicBool::new(false),
            inner: crate::RwLock::new(value),
        }
    }

    /// A lock whose class is the call site, printed as `name`.
    #[track_caller]
    pub const fn named(name: &'static str, value: T) -> RwLock<T> {
        RwLock {
            poison: AtomicBool::new(false),
            inner: crate::RwLock::named(name, value),
        }
    }

    /// A lock of the class of a static key.
    pub const fn with_key(key: &'static ClassKey, value: T) -> RwLock<T> {
        RwLock {
            poison: AtomicBool::new(false),
            inner: crate::RwLock::with_key(key, value),
        }
    }

    /// Consumes the lock and returns the value; `Err` (still carrying it) if
    /// the lock is poisoned.
    pub fn into_inner(self) -> LockResult<T> {
        let poisoned = self.poison.load(Ordering::Relaxed);
        poison_result(poisoned, self.inner.into_inner())
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Locks for reading: a non-recursive shared acquisition. `Err` (still
    /// carrying the guard) if the lock is poisoned.
    #[track_caller]
    pub fn read(&self) -> LockResult<RwLockReadGuard<'_, T>> {
        let inner = self.inner.read();
        poison_result(self.is_poisoned(), RwLockReadGuard { inner })
    }

    /// Locks for reading if no writer holds or waits for the lock.
    #[track_caller]
    pub fn try_read(&self) -> TryLockResult<RwLockReadGuard<'_, T>> {
        match self.inner.try_read() {
            Some(inner) => Ok(poison_result(
                self.is_poisoned(),
                RwLockReadGuard { inner },
            )?),
            None => Err(TryLockError::WouldBlock),
        }
    }

    /// Locks for writing: an exclusive acquisition. `Err` (still carrying the
    /// guard) if the lock is poisoned.
    #[track_caller]
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_, T>> {
        let inner = self.inner.write();
        self.write_guard(inner)
    }

    /// Locks for writing if the lock is free.
    #[track_caller]
    pub fn try_write(&self) -> TryLockResult<RwLockWriteGuard<'_, T>> {
        match self.inner.try_write() {
            Some(inner) => Ok(self.write_guard(inner)?),
            None => Err(TryLockError::WouldBlock),
        }
    }

    fn write_guard<'a>(
        &'a self,
        inner: crate::RwLockWriteGuard<'a, T>,
    ) -> LockResult<RwLockWriteGuard<'a, T>> {
        let guard = RwLockWriteGuard {
            poison: PoisonOnPanic::new(&self.poison),
            inner,
        };
        poison_result(guard.poison.poisoned(), guard)
    }

    /// Did a thread panic while holding the lock for writing?
    pub fn is_poisoned(&self) -> bool {
        self.poison.load(Ordering::Relaxed)
    }

    /// Forgets that the lock was poisoned.
    pub fn clear_poison(&self) {
        self.poison.store(false, Ordering::Relaxed);
    }

    /// Mutable access without locking: the borrow proves exclusivity. `Err`
    /// (still carrying it) if the lock is poisoned.
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        let poisoned = self.is_poisoned();
        poison_result(poisoned, self.inner.get_mut())
    }

    /// The lock's class.
    pub fn class(&self) -> ClassId {
        self.inner.class()
    }

    crate::map::contract_methods!(inner);
}

// As std's, for the same reason as `Mutex`'s.
impl<T: ?Sized> UnwindSafe for RwLock<T> {}
impl<T: ?Sized> RefUnwindSafe for RwLock<T> {}

impl<T: Default> Default for RwLock<T> {
    #[track_caller]
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T> From<T> for RwLock<T> {
    #[track_caller]
    fn from(value: T) -> Self {
        RwLock::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        // As std does: a trylock, which cannot block (nor be depended on).
        match self.inner.try_read() {
            Some(guard) => d.field("data", &&*guard),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.field("poisoned", &self.is_poisoned());
        d.finish_non_exhaustive()
    }
}

/// Shared access to a read-locked [`RwLock`]. A reader that panics does not
/// poison the lock (as in std). Not `Send`.
#[must_use = "the lock is released when the guard is dropped"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    inner: crate::RwLockReadGuard<'a, T>,
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// Exclusive access to a write-locked [`RwLock`]; poisons the lock if
/// dropped while the thread panics. Not `Send`.
#[must_use = "the lock is released when the guard is dropped"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    // Dropped first: the lock is poisoned before it is released.
    poison: PoisonOnPanic<'a>,
    inner: crate::RwLockWriteGuard<'a, T>,
}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    /// Turns the write lock into a read lock without letting a writer in
    /// (std's `RwLockWriteGuard::downgrade`). The held mode becomes shared.
    pub fn downgrade(s: Self) -> RwLockReadGuard<'a, T> {
        let RwLockWriteGuard { poison, inner } = s;
        // Handing the lock on is not giving it up: nothing to poison.
        std::mem::forget(poison);
        RwLockReadGuard {
            inner: lock_api::RwLockWriteGuard::downgrade(inner),
        }
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

// ---------------------------------------------------------------------------
// Condvar
// ---------------------------------------------------------------------------

pub use crate::condvar::WaitTimeoutResult;

/// A condition variable shaped like `std::sync::Condvar`, validated as
/// [`crate::Condvar`] is (it is one underneath). Waits take and give back the
/// [`MutexGuard`] by value, and report poisoning like std's.
pub struct Condvar {
    inner: crate::Condvar,
}

impl Condvar {
    /// A condition variable whose class is the call site.
    #[track_caller]
    pub const fn new() -> Condvar {
        Condvar {
            inner: crate::Condvar::new(),
        }
    }

    /// A condition variable whose class is the call site, printed as `name`.
    #[track_caller]
    pub const fn named(name: &'static str) -> Condvar {
        Condvar {
            inner: crate::Condvar::named(name),
        }
    }

    /// A condition variable of the class of a static key.
    pub const fn with_key(key: &'static crate::ClassKey) -> Condvar {
        Condvar {
            inner: crate::Condvar::with_key(key),
        }
    }

    /// Declares the current code as a notifier of this condition variable
    /// until the guard is dropped, so that waits on it are validated (see
    /// [`crate::Condvar`]).
    #[track_caller]
    pub fn notifier(&self) -> LockMapGuard<'_> {
        self.inner.notifier()
    }

    /// Wakes one waiter.
    pub fn notify_one(&self) {
        self.inner.notify_one();
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        self.inner.notify_all();
    }

    /// Blocks until notified (or woken spuriously), releasing the mutex
    /// meanwhile. `Err` (still carrying the guard) if the mutex is poisoned
    /// when it is taken back.
    #[track_caller]
    pub fn wait<'a, T: ?Sized>(
        &self,
        mut guard: MutexGuard<'a, T>,
    ) -> LockResult<MutexGuard<'a, T>> {
        self.inner.wait(&mut guard.inner);
        poison_result(guard.poison.poisoned(), guard)
    }

    /// Blocks until `condition` is false, releasing the mutex while waiting.
    #[track_caller]
    pub fn wait_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
    ) -> LockResult<MutexGuard<'a, T>>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            guard = self.wait(guard)?;
        }
        Ok(guard)
    }

    /// Blocks until notified or until `timeout` has passed.
    #[track_caller]
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        mut guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        let timed_out = self.inner.wait_for(&mut guard.inner, timeout).timed_out();
        let poisoned = guard.poison.poisoned();
        poison_result(poisoned, (guard, WaitTimeoutResult::new(timed_out)))
    }

    /// Blocks until `condition` is false or until `timeout` has passed.
    /// Timed out means the time passed with the condition still true.
    #[track_caller]
    pub fn wait_timeout_while<'a, T: ?Sized, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        timeout: Duration,
        mut condition: F,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)>
    where
        F: FnMut(&mut T) -> bool,
    {
        let start = Instant::now();
        loop {
            if !condition(&mut *guard) {
                return Ok((guard, WaitTimeoutResult::new(false)));
            }
            let Some(left) = timeout.checked_sub(start.elapsed()) else {
                return Ok((guard, WaitTimeoutResult::new(true)));
            };
            guard = self.wait_timeout(guard, left)?.0;
        }
    }
}

// As std's: a condition variable holds no user data to break.
impl UnwindSafe for Condvar {}
impl RefUnwindSafe for Condvar {}

impl Default for Condvar {
    #[track_caller]
    fn default() -> Self {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}
