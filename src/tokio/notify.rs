//! Async waits whose notifiers are declared, as [`crate::Condvar`]'s are:
//! [`Notify`] (tokio's, instrumented) and [`Wait`], a pseudo-lock for any
//! other wait (a channel's `recv`, a `watch::changed`, a oneshot).
//!
//! Code that will wake the waiters declares it by holding `notifier()`
//! while it does the work that leads to the notification (the producer's
//! loop, say); every wait touches the pseudo-lock under the locks its task
//! holds. A wait under lock `L` whose notifier takes `L` is the cycle
//! `L -> wait -> L`. Nothing declared, nothing reported.

use std::fmt;
use std::future::Future;
use std::panic::Location;

use crate::class::{ClassKey, Prefix};
use crate::held::Mode;
use crate::map::LockMap;
use crate::tokio::map::{AsyncMap, Hold};

/// A pseudo-lock for an async wait: declare its notifiers with
/// [`notifier`](Self::notifier), wrap its waits in [`wait`](Self::wait).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let jobs = lockdep::tokio::Wait::named("jobs");
/// let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(1);
/// {
///     let _producing = jobs.notifier();
///     tx.send(1).await.unwrap();
/// }
/// assert_eq!(jobs.wait(rx.recv()).await, Some(1));
/// # }
/// ```
pub struct Wait {
    map: AsyncMap,
}

impl Wait {
    /// A wait whose class is the call site.
    #[track_caller]
    pub const fn new() -> Wait {
        Wait::with_map(LockMap::of::<()>(Location::caller(), Prefix::Condvar))
    }

    /// A wait whose class is the call site and `name`.
    #[track_caller]
    pub const fn named(name: &'static str) -> Wait {
        Wait::with_map(LockMap::named_at(Location::caller(), name, Prefix::None))
    }

    /// A wait of the class of a static key.
    pub const fn with_key(key: &'static ClassKey) -> Wait {
        Wait::with_map(LockMap::with_key(key))
    }

    const fn with_map(map: LockMap) -> Wait {
        Wait {
            map: AsyncMap::new(map),
        }
    }

    /// Declares the calling code a notifier of this wait until the guard
    /// is dropped. The guard is `Send`: hold it across awaits.
    #[track_caller]
    pub fn notifier(&self) -> Notifier<'_> {
        Notifier {
            _hold: Hold::new(&self.map, Mode::Exclusive, false, Location::caller()),
        }
    }

    /// Waits for `future`, validated as a wait on this pseudo-lock when
    /// first polled.
    #[track_caller]
    pub fn wait<'a, F: Future + 'a>(&'a self, future: F) -> impl Future<Output = F::Output> + 'a {
        let at = Location::caller();
        async move {
            self.map.touch(at);
            future.await
        }
    }
}

impl Default for Wait {
    #[track_caller]
    fn default() -> Self {
        Wait::new()
    }
}

impl fmt::Debug for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wait").finish_non_exhaustive()
    }
}

/// A declared notifier (of a [`Wait`] or a [`Notify`]); see the module docs.
#[must_use = "the declaration ends when this is dropped"]
pub struct Notifier<'a> {
    _hold: Hold<&'a AsyncMap>,
}

impl fmt::Debug for Notifier<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier").finish_non_exhaustive()
    }
}

/// `tokio::sync::Notify` whose waits are validated against its declared
/// notifiers.
pub struct Notify {
    wait: Wait,
    inner: ::tokio::sync::Notify,
}

impl Notify {
    /// A `Notify` whose class is the call site.
    #[track_caller]
    pub const fn new() -> Notify {
        Notify::of(Wait::with_map(LockMap::of::<()>(
            Location::caller(),
            Prefix::Condvar,
        )))
    }

    /// A `Notify` whose class is the call site and `name`.
    #[track_caller]
    pub const fn named(name: &'static str) -> Notify {
        Notify::of(Wait::with_map(LockMap::named_at(
            Location::caller(),
            name,
            Prefix::None,
        )))
    }

    /// A `Notify` of the class of a static key.
    pub const fn with_key(key: &'static ClassKey) -> Notify {
        Notify::of(Wait::with_key(key))
    }

    const fn of(wait: Wait) -> Notify {
        Notify {
            wait,
            inner: ::tokio::sync::Notify::const_new(),
        }
    }

    /// Declares the calling code a notifier (see the module docs).
    #[track_caller]
    pub fn notifier(&self) -> Notifier<'_> {
        self.wait.notifier()
    }

    /// Waits for a notification: a wait on the pseudo-lock, validated when
    /// first polled. Like tokio's, the future counts as waiting for
    /// `notify_waiters` from the moment it is created.
    #[track_caller]
    pub fn notified(&self) -> impl Future<Output = ()> + '_ {
        self.wait.wait(self.inner.notified())
    }

    /// Wakes one waiter, or stores a permit for the next.
    pub fn notify_one(&self) {
        self.inner.notify_one()
    }

    /// Wakes the most recent waiter, or stores a permit.
    pub fn notify_last(&self) {
        self.inner.notify_last()
    }

    /// Wakes every waiter registered now.
    pub fn notify_waiters(&self) {
        self.inner.notify_waiters()
    }
}

impl Default for Notify {
    #[track_caller]
    fn default() -> Self {
        Notify::new()
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notify").finish_non_exhaustive()
    }
}
