//! One-time initialization: `Once`, `OnceLock` and `LazyLock`, validated.
//!
//! Running an initializer, or waiting for another thread's, is an exclusive
//! acquisition of the cell's class for as long as it lasts. An initializer
//! that takes a lock whose holder is waiting on the same cell is then the
//! cycle `lock -> cell -> lock`, and an initializer that re-enters its own
//! cell is recursive locking: both hang for real.
//!
//! Once the cell is initialized, `get_or_init`, `force` (and a `LazyLock`'s
//! deref), `call_once`, `set` and `wait` no longer block, but they would have
//! had they run first: a thread that holds `L` and reaches an initialized
//! cell whose initializer took `L` has the other half of the cycle. So they
//! are still validated, as an instant acquisition of the cell's class, when
//! the thread holds a lock. With nothing held they cost one check and one
//! thread-local read, and touch nothing.
//!
//! The standard library's types do the work underneath, poisoning included.
//!
//! `wait` (on [`Once`] and [`OnceLock`]) blocks until another thread's
//! initializer is done, so it is the same acquisition as waiting in
//! `call_once` or `get_or_init`; once the cell is initialized it touches
//! nothing.

use std::fmt;
use std::ops::Deref;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::class::{ClassKey, Prefix};
use crate::held::Mode;
use crate::map::LockMap;

/// The map of a cell built at `at`, of the value type `T`.
pub(crate) const fn site<T: ?Sized>(
    at: &'static Location<'static>,
    name: Option<&'static str>,
) -> LockMap {
    match name {
        Some(name) => LockMap::named_at(at, name, Prefix::None),
        None => LockMap::of::<T>(at, Prefix::Once),
    }
}

/// A one-time initialization, like `std::sync::Once`.
pub struct Once {
    inner: std::sync::Once,
    map: LockMap,
}

impl Once {
    /// A `Once` whose class is the call site, printed as `(once)file:line:column`.
    #[track_caller]
    pub const fn new() -> Once {
        Once {
            inner: std::sync::Once::new(),
            map: site::<()>(Location::caller(), None),
        }
    }

    /// A `Once` of the class of a static key.
    pub const fn with_key(key: &'static ClassKey) -> Once {
        Once {
            inner: std::sync::Once::new(),
            map: LockMap::with_key(key),
        }
    }

    /// A `Once` whose class is the call site, printed as `name`.
    #[track_caller]
    pub const fn named(name: &'static str) -> Once {
        Once {
            inner: std::sync::Once::new(),
            map: site::<()>(Location::caller(), Some(name)),
        }
    }

    /// Runs `f` if no call has completed yet; otherwise waits for the one in
    /// progress. Panics if a previous call panicked (the `Once` is poisoned).
    #[track_caller]
    pub fn call_once(&self, f: impl FnOnce()) {
        if self.inner.is_completed() {
            self.map
                .touch_if_holding(Mode::Exclusive, Location::caller());
            return;
        }
        let _init = self.map.hold(Mode::Exclusive);
        self.inner.call_once(f);
    }

    /// Like [`call_once`](Self::call_once), but runs even if poisoned.
    #[track_caller]
    pub fn call_once_force(&self, f: impl FnOnce(&std::sync::OnceState)) {
        if self.inner.is_completed() {
            self.map
                .touch_if_holding(Mode::Exclusive, Location::caller());
            return;
        }
        let _init = self.map.hold(Mode::Exclusive);
        self.inner.call_once_force(f);
    }

    /// Has a call completed?
    pub fn is_completed(&self) -> bool {
        self.inner.is_completed()
    }

    /// Blocks until a call has completed (someone else's: this does not
    /// run one). Panics if the initializer panicked (the `Once` is
    /// poisoned). Waiting is validated like waiting in
    /// [`call_once`](Self::call_once): an exclusive acquisition of the
    /// `Once`'s class; once completed, nothing is touched.
    #[track_caller]
    pub fn wait(&self) {
        if self.inner.is_completed() {
            self.map
                .touch_if_holding(Mode::Exclusive, Location::caller());
            return;
        }
        let _waiting = self.map.hold(Mode::Exclusive);
        self.inner.wait();
    }

    /// Like [`wait`](Self::wait), but also returns once an initializer has
    /// panicked (poisoned). Validated the same way.
    #[track_caller]
    pub fn wait_force(&self) {
        if self.inner.is_completed() {
            self.map
                .touch_if_holding(Mode::Exclusive, Location::caller());
            return;
        }
        let _waiting = self.map.hold(Mode::Exclusive);
        self.inner.wait_force();
    }
}

impl Default for Once {
    #[track_caller]
    fn default() -> Self {
        Once::new()
    }
}

impl fmt::Debug for Once {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Once")
            .field("completed", &self.is_completed())
            .finish()
    }
}

/// A cell written once, like `std::sync::OnceLock`.
pub struct OnceLock<T> {
    inner: std::sync::OnceLock<T>,
    map: LockMap,
}

impl<T> OnceLock<T> {
    /// An empty cell whose class is the call site.
    #[track_caller]
    pub const fn new() -> OnceLock<T> {
        OnceLock {
            inner: std::sync::OnceLock::new(),
            map: site::<T>(Location::caller(), None),
        }
    }

    /// An empty cell of the class of a static key.
    pub const fn with_key(key: &'static ClassKey) -> OnceLock<T> {
        OnceLock {
            inner: std::sync::OnceLock::new(),
            map: LockMap::with_key(key),
        }
    }

    /// An empty cell whose class is the call site, printed as `name`.
    #[track_caller]
    pub const fn named(name: &'static str) -> OnceLock<T> {
        OnceLock {
            inner: std::sync::OnceLock::new(),
            map: site::<T>(Location::caller(), Some(name)),
        }
    }

    /// The value, if initialized. Never blocks.
    pub fn get(&self) -> Option<&T> {
        self.inner.get()
    }

    /// The value, if initialized, mutably.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        self.inner.get_mut()
    }

    /// The value, initializing it with `f` first if needed (or waiting for
    /// another thread that is).
    #[track_caller]
    pub fn get_or_init(&self, f: impl FnOnce() -> T) -> &T {
        if let Some(v) = self.inner.get() {
            self.map
                .touch_if_holding(Mode::Exclusive, Location::caller());
            return v;
        }
        let _init = self.map.hold(Mode::Exclusive);
        self.inner.get_or_init(f)
    }

    /// Sets the value if the cell is empty; otherwise gives it back.
    #[track_caller]
    pub fn set(&self, value: T) -> Result<(), T> {
        if self.inner.get().is_some() {
            self.map
                .touch_if_holding(Mode::Exclusive, Location::caller());
            return Err(value);
        }
        let _init = self.map.hold(Mode::Exclusive);
        self.inner.set(value)
    }

    /// Takes the value out, leaving the cell empty.
    pub fn take(&mut self) -> Option<T> {
        self.inner.take()
    }

    /// Blocks until the cell is initialized (by someone else: this does not
    /// initialize it), and returns the value. Waiting is validated like
    /// waiting in [`get_or_init`](Self::get_or_init), for another thread's
    /// initializer: an exclusive acquisition of the cell's class. If the
    /// cell is initialized already, nothing is touched.
    #[track_caller]
    pub fn wait(&self) -> &T {
        if let Some(v) = self.inner.get() {
            self.map
                .touch_if_holding(Mode::Exclusive, Location::caller());
            return v;
        }
        let _waiting = self.map.hold(Mode::Exclusive);
        self.inner.wait()
    }

    /// The value, if initialized.
    pub fn into_inner(self) -> Option<T> {
        self.inner.into_inner()
    }
}

impl<T> Default for OnceLock<T> {
    #[track_caller]
    fn default() -> Self {
        OnceLock::new()
    }
}

impl<T> From<T> for OnceLock<T> {
    /// An initialized cell, whose class is the call site.
    #[track_caller]
    fn from(value: T) -> Self {
        OnceLock {
            inner: std::sync::OnceLock::from(value),
            map: site::<T>(Location::caller(), None),
        }
    }
}

impl<T: Clone> Clone for OnceLock<T> {
    /// A cell of the same class, holding a clone of the value if there is
    /// one. Never waits: an initializer in progress is not waited for.
    fn clone(&self) -> Self {
        OnceLock {
            inner: self.inner.clone(),
            map: self.map.same_class(),
        }
    }
}

impl<T: PartialEq> PartialEq for OnceLock<T> {
    /// Equal if both are empty, or both hold equal values. Never waits.
    fn eq(&self, other: &Self) -> bool {
        self.inner == other.inner
    }
}

impl<T: Eq> Eq for OnceLock<T> {}

impl<T: fmt::Debug> fmt::Debug for OnceLock<T> {
    /// As std's: `OnceLock(value)`, or `OnceLock(<uninit>)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("OnceLock");
        match self.inner.get() {
            Some(value) => d.field(value),
            None => d.field(&format_args!("<uninit>")),
        };
        d.finish()
    }
}

/// A value initialized on first access, like `std::sync::LazyLock`.
pub struct LazyLock<T, F = fn() -> T> {
    inner: std::sync::LazyLock<T, F>,
    ready: AtomicBool,
    map: LockMap,
}

impl<T, F: FnOnce() -> T> LazyLock<T, F> {
    /// A lazy value whose class is the call site.
    #[track_caller]
    pub const fn new(init: F) -> LazyLock<T, F> {
        LazyLock {
            inner: std::sync::LazyLock::new(init),
            ready: AtomicBool::new(false),
            map: site::<T>(Location::caller(), None),
        }
    }

    /// A lazy value of the class of a static key.
    pub const fn with_key(key: &'static ClassKey, init: F) -> LazyLock<T, F> {
        LazyLock {
            inner: std::sync::LazyLock::new(init),
            ready: AtomicBool::new(false),
            map: LockMap::with_key(key),
        }
    }

    /// A lazy value whose class is the call site, printed as `name`.
    #[track_caller]
    pub const fn named(name: &'static str, init: F) -> LazyLock<T, F> {
        LazyLock {
            inner: std::sync::LazyLock::new(init),
            ready: AtomicBool::new(false),
            map: site::<T>(Location::caller(), Some(name)),
        }
    }

    /// Forces initialization and returns the value.
    #[track_caller]
    pub fn force(this: &LazyLock<T, F>) -> &T {
        if this.ready.load(Ordering::Acquire) {
            this.map
                .touch_if_holding(Mode::Exclusive, Location::caller());
            return &this.inner;
        }
        let _init = this.map.hold(Mode::Exclusive);
        let value = &*this.inner;
        this.ready.store(true, Ordering::Release);
        value
    }
}

impl<T, F: FnOnce() -> T> Deref for LazyLock<T, F> {
    type Target = T;
    #[track_caller]
    fn deref(&self) -> &T {
        LazyLock::force(self)
    }
}

impl<T: fmt::Debug, F: FnOnce() -> T> fmt::Debug for LazyLock<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_tuple("LazyLock");
        if self.ready.load(Ordering::Acquire) {
            d.field(&*self.inner);
        } else {
            d.field(&format_args!("<uninit>"));
        }
        d.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_initialize_once() {
        static ONCE: Once = Once::new();
        let mut runs = 0;
        ONCE.call_once(|| runs += 1);
        ONCE.call_once(|| runs += 1);
        assert_eq!(runs, 1);
        assert!(ONCE.is_completed());

        let cell = OnceLock::named("once-unit-cell");
        assert_eq!(cell.get(), None);
        assert_eq!(*cell.get_or_init(|| 5), 5);
        assert_eq!(cell.set(6), Err(6));
        assert_eq!(*cell.get_or_init(|| 7), 5);

        static LAZY: LazyLock<u32> = LazyLock::new(|| 42);
        assert_eq!(*LAZY, 42);
        assert_eq!(format!("{LAZY:?}"), "LazyLock(42)");
        assert!(crate::held_locks().is_empty());
    }
}
