//! Threads whose joins are validated.
//!
//! A thread spawned here holds its own pseudo-lock (class: the spawn site,
//! printed `(thread)file:line:column`) for as long as its body runs. Joining
//! it is an acquisition of that pseudo-lock, and so is the end of a
//! [`scope`], which joins every thread spawned in it. A join made while
//! holding a lock that the thread takes is then reported as a cycle, the
//! first time both have happened, whether or not the join actually waited.
//!
//! ```
//! let handle = lockdep::thread::spawn(|| 6 * 7);
//! assert_eq!(handle.join().unwrap(), 42);
//!
//! let mut total = 0;
//! lockdep::thread::scope(|s| {
//!     let a = s.spawn(|| 1);
//!     let b = s.spawn(|| 2);
//!     total = a.join().unwrap() + b.join().unwrap();
//! });
//! assert_eq!(total, 3);
//! ```

use std::fmt;
use std::panic::Location;
use std::sync::Arc;

use crate::class::{Prefix, Source};
use crate::held::Mode;
use crate::map::LockMap;

fn thread_map(at: &'static Location<'static>) -> Arc<LockMap> {
    Arc::new(LockMap::from_source(Source::Site {
        at,
        name: None,
        prefix: Prefix::Thread,
    }))
}

/// Wraps a thread body so that it holds the thread's pseudo-lock.
/// It inherits the spawning thread's report watches ([`crate::watch`]).
fn holding<F: FnOnce() -> T, T>(map: Arc<LockMap>, f: F) -> impl FnOnce() -> T {
    let watches = crate::watch::inherit();
    move || {
        let _watched = watches.adopt();
        let _running = map.hold(Mode::Exclusive);
        f()
    }
}

/// Spawns a thread, like `std::thread::spawn`.
#[track_caller]
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new()
        .spawn_at(f, Location::caller())
        .expect("failed to spawn thread")
}

/// A thread factory, like `std::thread::Builder`.
#[derive(Debug)]
pub struct Builder {
    inner: std::thread::Builder,
}

impl Builder {
    /// A builder with the standard defaults.
    pub fn new() -> Builder {
        Builder {
            inner: std::thread::Builder::new(),
        }
    }

    /// Names the thread (it appears in reports).
    pub fn name(self, name: String) -> Builder {
        Builder {
            inner: self.inner.name(name),
        }
    }

    /// Sets the stack size.
    pub fn stack_size(self, size: usize) -> Builder {
        Builder {
            inner: self.inner.stack_size(size),
        }
    }

    /// Spawns the thread.
    #[track_caller]
    pub fn spawn<F, T>(self, f: F) -> std::io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.spawn_at(f, Location::caller())
    }

    fn spawn_at<F, T>(self, f: F, at: &'static Location<'static>) -> std::io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let map = thread_map(at);
        let inner = self.inner.spawn(holding(map.clone(), f))?;
        Ok(JoinHandle { inner, map })
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

/// An owned permission to join a thread.
pub struct JoinHandle<T> {
    inner: std::thread::JoinHandle<T>,
    map: Arc<LockMap>,
}

impl<T> JoinHandle<T> {
    /// Waits for the thread to finish: an acquisition of its pseudo-lock.
    #[track_caller]
    pub fn join(self) -> std::thread::Result<T> {
        self.map.touch_at(Mode::Exclusive, Location::caller());
        self.inner.join()
    }

    /// The thread.
    pub fn thread(&self) -> &std::thread::Thread {
        self.inner.thread()
    }

    /// Has the thread finished running its body?
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle").finish_non_exhaustive()
    }
}

/// Spawns scoped threads, like `std::thread::scope`. Its end joins every
/// thread spawned in it, and is validated as such.
///
/// Unlike `std`'s, the scope handle cannot be moved into the threads it
/// spawns: spawn from the scope's own closure.
#[track_caller]
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&Scope<'scope, 'env>) -> T,
{
    let at = Location::caller();
    std::thread::scope(|s| {
        let scope = Scope {
            inner: s,
            spawned: parking_lot::Mutex::new(Vec::new()),
        };
        let result = f(&scope);
        // std joins every thread when this closure returns: that is the wait.
        for map in scope.spawned.lock().iter() {
            map.touch_at(Mode::Exclusive, at);
        }
        result
    })
}

/// A scope to spawn threads in.
pub struct Scope<'scope, 'env: 'scope> {
    inner: &'scope std::thread::Scope<'scope, 'env>,
    spawned: parking_lot::Mutex<Vec<Arc<LockMap>>>,
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// Spawns a thread that the scope joins at its end.
    #[track_caller]
    pub fn spawn<F, T>(&self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let map = thread_map(Location::caller());
        self.spawned.lock().push(map.clone());
        ScopedJoinHandle {
            inner: self.inner.spawn(holding(map.clone(), f)),
            map,
        }
    }
}

impl fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope").finish_non_exhaustive()
    }
}

/// A permission to join a scoped thread.
pub struct ScopedJoinHandle<'scope, T> {
    inner: std::thread::ScopedJoinHandle<'scope, T>,
    map: Arc<LockMap>,
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Waits for the thread to finish: an acquisition of its pseudo-lock.
    #[track_caller]
    pub fn join(self) -> std::thread::Result<T> {
        self.map.touch_at(Mode::Exclusive, Location::caller());
        self.inner.join()
    }

    /// The thread.
    pub fn thread(&self) -> &std::thread::Thread {
        self.inner.thread()
    }

    /// Has the thread finished running its body?
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }
}

impl<T> fmt::Debug for ScopedJoinHandle<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopedJoinHandle").finish_non_exhaustive()
    }
}
