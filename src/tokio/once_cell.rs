//! `tokio::sync::OnceCell`, instrumented like [`crate::OnceLock`]: running
//! the initializer holds the cell's class for as long as it lasts (across
//! its awaits), waiting for it touches the class, and a cell already set
//! is still an instant acquisition when the context holds a lock.

use std::fmt;
use std::future::Future;
use std::panic::Location;

use crate::class::{ClassKey, Prefix};
use crate::held::Mode;
use crate::map::LockMap;
use crate::tokio::map::{AsyncMap, Hold};

pub use ::tokio::sync::SetError;

/// A cell set once, asynchronously, like `tokio::sync::OnceCell`.
pub struct OnceCell<T> {
    map: AsyncMap,
    inner: ::tokio::sync::OnceCell<T>,
}

impl<T> OnceCell<T> {
    /// An empty cell whose class is the call site, printed
    /// `(once)file:line:column`.
    #[track_caller]
    pub fn new() -> OnceCell<T> {
        Self::const_new()
    }

    /// [`new`](Self::new), in a `const` context.
    #[track_caller]
    pub const fn const_new() -> OnceCell<T> {
        Self::with_map(LockMap::of::<T>(Location::caller(), Prefix::Once))
    }

    /// An empty cell whose class is the call site and `name`.
    #[track_caller]
    pub const fn named(name: &'static str) -> OnceCell<T> {
        Self::with_map(LockMap::named_at(Location::caller(), name, Prefix::None))
    }

    /// An empty cell of the class of a static key.
    pub const fn with_key(key: &'static ClassKey) -> OnceCell<T> {
        Self::with_map(LockMap::with_key(key))
    }

    /// A cell holding `value` if it is `Some`.
    #[track_caller]
    pub fn new_with(value: Option<T>) -> OnceCell<T> {
        OnceCell {
            map: AsyncMap::new(LockMap::of::<T>(Location::caller(), Prefix::Once)),
            inner: ::tokio::sync::OnceCell::new_with(value),
        }
    }

    const fn with_map(map: LockMap) -> OnceCell<T> {
        OnceCell {
            map: AsyncMap::new(map),
            inner: ::tokio::sync::OnceCell::const_new(),
        }
    }

    /// The value, if set. Never waits.
    pub fn get(&self) -> Option<&T> {
        self.inner.get()
    }

    /// The value, through a unique reference.
    pub fn get_mut(&mut self) -> Option<&mut T> {
        self.inner.get_mut()
    }

    /// Is it set?
    pub fn initialized(&self) -> bool {
        self.inner.initialized()
    }

    /// Sets the value if the cell is empty and no initializer runs.
    #[track_caller]
    pub fn set(&self, value: T) -> Result<(), SetError<T>> {
        self.map.touch_if_holding(Location::caller());
        self.inner.set(value)
    }

    /// The value, initialized by `f` if the cell is empty; waits for an
    /// initializer that runs in another task.
    #[track_caller]
    pub fn get_or_init<'a, F, Fut>(&'a self, f: F) -> impl Future<Output = &'a T> + 'a
    where
        F: FnOnce() -> Fut + 'a,
        Fut: Future<Output = T> + 'a,
    {
        let at = Location::caller();
        async move {
            if let Some(value) = self.inner.get() {
                self.map.touch_if_holding(at);
                return value;
            }
            self.map.touch(at);
            self.inner
                .get_or_init(|| async move {
                    let _init = Hold::new(&self.map, Mode::Exclusive, false, at);
                    f().await
                })
                .await
        }
    }

    /// [`get_or_init`](Self::get_or_init) with an initializer that may fail
    /// (the cell stays empty then).
    #[track_caller]
    pub fn get_or_try_init<'a, E, F, Fut>(
        &'a self,
        f: F,
    ) -> impl Future<Output = Result<&'a T, E>> + 'a
    where
        F: FnOnce() -> Fut + 'a,
        Fut: Future<Output = Result<T, E>> + 'a,
    {
        let at = Location::caller();
        async move {
            if let Some(value) = self.inner.get() {
                self.map.touch_if_holding(at);
                return Ok(value);
            }
            self.map.touch(at);
            self.inner
                .get_or_try_init(|| async move {
                    let _init = Hold::new(&self.map, Mode::Exclusive, false, at);
                    f().await
                })
                .await
        }
    }

    /// The value, emptying the cell.
    pub fn take(&mut self) -> Option<T> {
        self.inner.take()
    }

    /// The value, if set.
    pub fn into_inner(self) -> Option<T> {
        self.inner.into_inner()
    }
}

impl<T> Default for OnceCell<T> {
    #[track_caller]
    fn default() -> Self {
        OnceCell::new()
    }
}

impl<T: Clone> Clone for OnceCell<T> {
    /// A clone is of the cell's class.
    fn clone(&self) -> Self {
        OnceCell {
            map: self.map.same_class(),
            inner: self.inner.clone(),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for OnceCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnceCell")
            .field("value", &self.get())
            .finish()
    }
}
