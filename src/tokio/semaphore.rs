//! `tokio::sync::Semaphore`, instrumented: taking permits is a shared,
//! non-recursive acquisition of the semaphore's class (tokio's semaphore
//! is fair: a task that takes permits twice can queue behind a waiter for
//! the rest), held until the permits are returned.

use std::fmt;
use std::panic::Location;
use std::sync::Arc;

use crate::class::{ClassKey, Prefix};
use crate::held::Mode;
use crate::map::LockMap;
use crate::tokio::map::{AsyncMap, Hold, MapHandle};

pub use ::tokio::sync::{AcquireError, TryAcquireError};

/// A counting semaphore, like `tokio::sync::Semaphore`, validated in the
/// task that takes its permits.
pub struct Semaphore {
    map: AsyncMap,
    inner: ::tokio::sync::Semaphore,
}

impl Semaphore {
    /// The largest number of permits a semaphore can hold.
    pub const MAX_PERMITS: usize = ::tokio::sync::Semaphore::MAX_PERMITS;

    /// A semaphore with `permits`, whose class is the call site.
    #[track_caller]
    pub fn new(permits: usize) -> Semaphore {
        Self::const_new(permits)
    }

    /// [`new`](Self::new), in a `const` context.
    #[track_caller]
    pub const fn const_new(permits: usize) -> Semaphore {
        Self::with_map(
            LockMap::of::<Semaphore>(Location::caller(), Prefix::None),
            permits,
        )
    }

    /// A semaphore whose class is the call site and `name`.
    #[track_caller]
    pub const fn named(name: &'static str, permits: usize) -> Semaphore {
        Self::with_map(
            LockMap::named_at(Location::caller(), name, Prefix::None),
            permits,
        )
    }

    /// A semaphore of the class of a static key.
    pub const fn with_key(key: &'static ClassKey, permits: usize) -> Semaphore {
        Self::with_map(LockMap::with_key(key), permits)
    }

    const fn with_map(map: LockMap, permits: usize) -> Semaphore {
        Semaphore {
            map: AsyncMap::new(map),
            inner: ::tokio::sync::Semaphore::const_new(permits),
        }
    }

    /// Permits available now.
    pub fn available_permits(&self) -> usize {
        self.inner.available_permits()
    }

    /// Adds `n` permits.
    pub fn add_permits(&self, n: usize) {
        self.inner.add_permits(n)
    }

    /// Removes up to `n` available permits; returns how many.
    pub fn forget_permits(&self, n: usize) -> usize {
        self.inner.forget_permits(n)
    }

    /// Closes the semaphore: waiting and later acquisitions fail.
    pub fn close(&self) {
        self.inner.close()
    }

    /// Is it closed?
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Takes one permit, waiting in FIFO order.
    #[track_caller]
    pub fn acquire(
        &self,
    ) -> impl std::future::Future<Output = Result<SemaphorePermit<'_>, AcquireError>> {
        self.acquire_many_at(1, Location::caller())
    }

    /// Takes `n` permits at once, waiting in FIFO order.
    #[track_caller]
    pub fn acquire_many(
        &self,
        n: u32,
    ) -> impl std::future::Future<Output = Result<SemaphorePermit<'_>, AcquireError>> {
        self.acquire_many_at(n, Location::caller())
    }

    async fn acquire_many_at(
        &self,
        n: u32,
        at: &'static Location<'static>,
    ) -> Result<SemaphorePermit<'_>, AcquireError> {
        let hold = Hold::new(&self.map, Mode::Shared, false, at);
        match self.inner.acquire_many(n).await {
            Ok(inner) => Ok(SemaphorePermit { inner, hold }),
            Err(e) => {
                hold.cancel();
                Err(e)
            }
        }
    }

    /// Takes one permit if one is free now: a trylock.
    #[track_caller]
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_many_at(1, Location::caller())
    }

    /// Takes `n` permits if they are free now: a trylock.
    #[track_caller]
    pub fn try_acquire_many(&self, n: u32) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_many_at(n, Location::caller())
    }

    fn try_acquire_many_at(
        &self,
        n: u32,
        at: &'static Location<'static>,
    ) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        let inner = self.inner.try_acquire_many(n)?;
        let hold = Hold::new(&self.map, Mode::Shared, true, at);
        Ok(SemaphorePermit { inner, hold })
    }

    /// [`acquire`](Self::acquire), for a permit that owns an `Arc` of the
    /// semaphore.
    #[track_caller]
    pub fn acquire_owned(
        self: Arc<Self>,
    ) -> impl std::future::Future<Output = Result<OwnedSemaphorePermit, AcquireError>> {
        self.acquire_many_owned(1)
    }

    /// [`acquire_many`](Self::acquire_many), owning an `Arc` of the
    /// semaphore.
    #[track_caller]
    pub fn acquire_many_owned(
        self: Arc<Self>,
        n: u32,
    ) -> impl std::future::Future<Output = Result<OwnedSemaphorePermit, AcquireError>> {
        let at = Location::caller();
        async move {
            let hold = Hold::new(self, Mode::Shared, false, at);
            let acquired = hold.handle.inner.acquire_many(n).await.map(|p| p.forget());
            match acquired {
                Ok(()) => Ok(OwnedSemaphorePermit { permits: n, hold }),
                Err(e) => {
                    hold.cancel();
                    Err(e)
                }
            }
        }
    }

    /// [`try_acquire`](Self::try_acquire), owning an `Arc` of the semaphore.
    #[track_caller]
    pub fn try_acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.try_acquire_many_owned(1)
    }

    /// [`try_acquire_many`](Self::try_acquire_many), owning an `Arc` of the
    /// semaphore.
    #[track_caller]
    pub fn try_acquire_many_owned(
        self: Arc<Self>,
        n: u32,
    ) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.inner.try_acquire_many(n)?.forget();
        let hold = Hold::new(self, Mode::Shared, true, Location::caller());
        Ok(OwnedSemaphorePermit { permits: n, hold })
    }
}

impl MapHandle for Arc<Semaphore> {
    fn async_map(&self) -> &AsyncMap {
        &self.map
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("inner", &self.inner)
            .finish()
    }
}

/// Permits of a [`Semaphore`], returned when dropped. `Send`.
#[must_use = "the permits are returned when this is dropped"]
pub struct SemaphorePermit<'a> {
    inner: ::tokio::sync::SemaphorePermit<'a>,
    hold: Hold<&'a AsyncMap>,
}

impl SemaphorePermit<'_> {
    /// Keeps the permits out of the semaphore for good: the acquisition
    /// ends now.
    pub fn forget(self) {
        let SemaphorePermit { inner, hold } = self;
        inner.forget();
        drop(hold);
    }

    /// How many permits this is.
    pub fn num_permits(&self) -> usize {
        self.inner.num_permits()
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("permits", &self.inner.num_permits())
            .finish()
    }
}

/// Permits of a [`Semaphore`] that own an `Arc` of it.
#[must_use = "the permits are returned when this is dropped"]
pub struct OwnedSemaphorePermit {
    permits: u32,
    hold: Hold<Arc<Semaphore>>,
}

impl OwnedSemaphorePermit {
    /// Keeps the permits out of the semaphore for good.
    pub fn forget(mut self) {
        self.permits = 0;
    }

    /// How many permits this is.
    pub fn num_permits(&self) -> usize {
        self.permits as usize
    }

    /// The semaphore.
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.hold.handle
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        // The permits first, then (the `hold` field) the validator.
        self.hold.handle.inner.add_permits(self.permits as usize);
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit")
            .field("permits", &self.permits)
            .finish()
    }
}
