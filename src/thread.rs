//! Threads whose joins are validated.
//!
//! A thread spawned here holds its own pseudo-lock for as long as its body
//! runs. Joining it is an acquisition of that pseudo-lock, and so is the end
//! of a [`scope`], which joins every thread spawned in it. A join made while
//! holding a lock that the thread takes is then reported as a cycle, the
//! first time both have happened, whether or not the join actually waited.
//!
//! A thread's class is, in this order: the key given to
//! [`Builder::key`]; else its spawn site and the name given to
//! [`Builder::name`], printed `(thread)name`; else its spawn site and the
//! type of its closure, printed `(thread)file:line:column (module)`. A
//! helper that spawns workers for several closures thus gives each its own
//! class. A thread spawned by a spawned thread holds its class one
//! subclass deeper than its parent did (`/1`, `/2`, ...), so a recursive
//! fork-join, where each level joins the threads of the next, is not
//! reported as recursive locking; threads of one class at one depth that
//! join each other are.
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

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::panic::Location;
use std::sync::Arc;

use crate::class::{self, ClassKey, Prefix, Source};
use crate::held::Mode;
use crate::map::LockMap;

thread_local! {
    /// How deep in a tree of spawned threads this one is: 0 for a thread
    /// not spawned here, its subclass + 1 for one that is. A thread it
    /// spawns holds its class as this subclass.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// The deepest subclass a thread is given; deeper threads share it.
const MAX_DEPTH: u32 = 48;

/// A thread's pseudo-lock, and how its body holds it.
struct ThreadMap {
    map: LockMap,
    /// The thread's depth: its body holds this subclass, a join takes it.
    subclass: u32,
    /// The spawn site, where the body's hold is recorded.
    at: &'static Location<'static>,
}

impl ThreadMap {
    fn new<F>(
        at: &'static Location<'static>,
        name: Option<&str>,
        key: Option<&'static ClassKey>,
    ) -> Arc<ThreadMap> {
        let source = match key {
            Some(key) => Source::Key(key),
            None => Source::Id(class::site_class_named(
                at,
                name.map(|n| Cow::Owned(n.to_owned())),
                class::type_of::<F>(),
                Prefix::Thread,
            )),
        };
        let parent = DEPTH.try_with(Cell::get).unwrap_or(0);
        Arc::new(ThreadMap {
            map: LockMap::from_source(source),
            subclass: parent.min(MAX_DEPTH),
            at,
        })
    }

    /// A join at `at`: an instant acquisition of the thread's pseudo-lock.
    fn join_at(&self, at: &'static Location<'static>) {
        self.map.touch_nested_at(Mode::Exclusive, self.subclass, at);
    }
}

/// Wraps a thread body so that it holds the thread's pseudo-lock.
/// It inherits the spawning thread's report watches ([`crate::watch`]).
fn holding<F: FnOnce() -> T, T>(thread: Arc<ThreadMap>, f: F) -> impl FnOnce() -> T {
    let watches = crate::watch::inherit();
    move || {
        let _watched = watches.adopt();
        let _ = DEPTH.try_with(|d| d.set(thread.subclass + 1));
        let _running = thread
            .map
            .hold_nested_at(Mode::Exclusive, thread.subclass, thread.at);
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
    name: Option<String>,
    key: Option<&'static ClassKey>,
}

impl Builder {
    /// A builder with the standard defaults.
    pub fn new() -> Builder {
        Builder {
            inner: std::thread::Builder::new(),
            name: None,
            key: None,
        }
    }

    /// Names the thread. The name appears in reports, and with the spawn
    /// site it is the thread's class, printed `(thread)name` (unless a
    /// [`key`](Self::key) is given). Every distinct name is a class for the
    /// life of the process: a pool that numbers the threads it respawns
    /// without end (`worker-1`, `worker-2`, ...) should give them a key.
    pub fn name(self, name: String) -> Builder {
        Builder {
            inner: self.inner.name(name.clone()),
            name: Some(name),
            ..self
        }
    }

    /// Gives the thread the class of a static key, wherever it is spawned.
    pub fn key(self, key: &'static ClassKey) -> Builder {
        Builder {
            key: Some(key),
            ..self
        }
    }

    /// Sets the stack size.
    pub fn stack_size(self, size: usize) -> Builder {
        Builder {
            inner: self.inner.stack_size(size),
            ..self
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
        let map = ThreadMap::new::<F>(at, self.name.as_deref(), self.key);
        let inner = self.inner.spawn(holding(map.clone(), f))?;
        Ok(JoinHandle { inner, map })
    }

    /// Spawns a thread in `scope`, like `std::thread::Builder::spawn_scoped`:
    /// the scope joins it at its end.
    #[track_caller]
    pub fn spawn_scoped<'scope, 'env, F, T>(
        self,
        scope: &'scope Scope<'scope, 'env>,
        f: F,
    ) -> std::io::Result<ScopedJoinHandle<'scope, T>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let map = ThreadMap::new::<F>(Location::caller(), self.name.as_deref(), self.key);
        let inner = self
            .inner
            .spawn_scoped(scope.inner, holding(map.clone(), f))?;
        scope.spawned.lock().push(map.clone());
        Ok(ScopedJoinHandle { inner, map })
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
    map: Arc<ThreadMap>,
}

impl<T> JoinHandle<T> {
    /// Waits for the thread to finish: an acquisition of its pseudo-lock.
    #[track_caller]
    pub fn join(self) -> std::thread::Result<T> {
        self.map.join_at(Location::caller());
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
            spawned: crate::raw::Mutex::new(Vec::new()),
        };
        let result = f(&scope);
        // std joins every thread when this closure returns: that is the wait.
        for map in scope.spawned.lock().iter() {
            map.join_at(at);
        }
        result
    })
}

/// A scope to spawn threads in.
pub struct Scope<'scope, 'env: 'scope> {
    inner: &'scope std::thread::Scope<'scope, 'env>,
    spawned: crate::raw::Mutex<Vec<Arc<ThreadMap>>>,
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// Spawns a thread that the scope joins at its end.
    #[track_caller]
    pub fn spawn<F, T>(&self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let map = ThreadMap::new::<F>(Location::caller(), None, None);
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
    map: Arc<ThreadMap>,
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Waits for the thread to finish: an acquisition of its pseudo-lock.
    #[track_caller]
    pub fn join(self) -> std::thread::Result<T> {
        self.map.join_at(Location::caller());
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
