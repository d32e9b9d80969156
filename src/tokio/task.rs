//! Instrumented tasks: a held-lock stack per task, a pseudo-lock per task
//! that its `JoinHandle` waits on, and `block_on` as a blocking wait.

use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::class::Prefix;
use crate::held::Mode;
use crate::map::LockMap;
use crate::validator::task::{self as engine, TaskStack};

/// The deepest subclass a task's pseudo-lock is held at.
const MAX_DEPTH: u32 = 48;

/// A task's pseudo-lock: its body holds it while it runs, a join waits on
/// it. Its class is the spawn site and the future's type, printed
/// `(task)file:line:column`.
struct TaskMap {
    map: LockMap,
    /// The spawning context's depth: the body holds this subclass.
    subclass: u32,
    at: &'static Location<'static>,
}

impl TaskMap {
    fn new<F>(at: &'static Location<'static>, depth: u32) -> Arc<TaskMap> {
        Arc::new(TaskMap {
            map: LockMap::of::<F>(at, Prefix::Task),
            subclass: depth.saturating_sub(1).min(MAX_DEPTH),
            at,
        })
    }

    /// The class, marked as a task's (once resolved).
    fn mark(&self) {
        if !crate::COMPILED_OUT {
            engine::mark_task(self.map.subclass_class(self.subclass));
        }
    }

    /// A wait for the task to finish, at `at`.
    fn join_at(&self, at: &'static Location<'static>) {
        self.mark();
        self.map.touch_nested_at(Mode::Exclusive, self.subclass, at);
    }
}

/// A future with its own held-lock stack: what [`spawn`] runs. Wrap a
/// future in it ([`task`]) to give it a stack wherever it is polled: a
/// `JoinSet`'s task, a `block_on` root, a `select!` branch that takes
/// locks of its own.
///
/// Each poll swaps the task's stack in as the thread's, and back out
/// after (also if the poll panics). While it is swapped in, the task also
/// holds its own pseudo-lock. A poll that returns `Pending` with a
/// thread-bound lock held is reported.
#[must_use = "futures do nothing unless polled"]
pub struct Task<F> {
    future: Option<F>,
    stack: TaskStack,
    map: Arc<TaskMap>,
    /// The body holds its pseudo-lock (from its first poll to its end).
    holding: bool,
}

/// Wraps `future` in a [`Task`] whose class is the call site and the
/// future's type.
#[track_caller]
pub fn task<F: Future>(future: F) -> Task<F> {
    Task::at(future, Location::caller())
}

impl<F: Future> Task<F> {
    fn at(future: F, at: &'static Location<'static>) -> Task<F> {
        let stack = TaskStack::new();
        let map = TaskMap::new::<F>(at, stack.depth());
        Task {
            future: Some(future),
            stack,
            map,
            holding: false,
        }
    }
}

/// The task's stack, swapped in for as long as this lives.
struct SwappedIn<'a> {
    stack: &'a mut TaskStack,
    saved: Option<engine::Swapped>,
}

impl<'a> SwappedIn<'a> {
    fn new(stack: &'a mut TaskStack) -> SwappedIn<'a> {
        let saved = if crate::COMPILED_OUT {
            None
        } else {
            engine::swap_in(stack)
        };
        SwappedIn { stack, saved }
    }
}

impl Drop for SwappedIn<'_> {
    fn drop(&mut self) {
        if let Some(saved) = self.saved.take() {
            engine::swap_out(self.stack, saved);
        }
    }
}

impl<F: Future> Future for Task<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is the only structurally pinned field: it is
        // never moved out of (only dropped in place, by `Pin::set` below or
        // by `Drop`, which also never moves it), `Task` has no `Unpin` impl
        // of its own (it is `Unpin` only when `F` is), and no other field
        // is ever pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let swapped = SwappedIn::new(&mut this.stack);
        let tracked = swapped.saved.is_some();
        if tracked && !this.holding {
            this.map.mark();
            this.holding =
                this.map
                    .map
                    .acquire_full(Mode::Exclusive, this.map.subclass, false, this.map.at);
        }
        // SAFETY: see above: a pinned projection of `future`.
        let mut future = unsafe { Pin::new_unchecked(&mut this.future) };
        let Some(inner) = future.as_mut().as_pin_mut() else {
            panic!("lockdep::tokio::Task polled after it completed");
        };
        let poll = inner.poll(cx);
        if poll.is_ready() {
            // Dropped here, in the task's context, with its guards.
            future.set(None);
            if std::mem::take(&mut this.holding) {
                this.map.map.release_at(this.map.at);
            }
        } else if tracked {
            engine::check_suspend();
        }
        drop(swapped);
        poll
    }
}

impl<F> Drop for Task<F> {
    fn drop(&mut self) {
        if self.future.is_none() && !self.holding {
            return;
        }
        // Cancelled (aborted, or a dropped `select!` branch): the future's
        // guards drop in the task's own context.
        let _swapped = SwappedIn::new(&mut self.stack);
        self.future = None;
        if std::mem::take(&mut self.holding) {
            self.map.map.release_at(self.map.at);
        }
    }
}

impl<F> fmt::Debug for Task<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("done", &self.future.is_none())
            .finish_non_exhaustive()
    }
}

/// Spawns a task on the current runtime, like `tokio::spawn`, with its own
/// held-lock stack ([`Task`]). Awaiting its [`JoinHandle`] is a wait on
/// the task's pseudo-lock.
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let task = Task::at(future, Location::caller());
    let map = task.map.clone();
    JoinHandle::new(::tokio::spawn(task), map)
}

/// Spawns a `!Send` task on the current `LocalSet`, like
/// `tokio::task::spawn_local`, with its own held-lock stack.
#[track_caller]
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let task = Task::at(future, Location::caller());
    let map = task.map.clone();
    JoinHandle::new(::tokio::task::spawn_local(task), map)
}

/// Runs `f` on the runtime's blocking threads, like
/// `tokio::task::spawn_blocking`; `f` holds the task's pseudo-lock, so
/// awaiting the handle is validated too.
#[track_caller]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let at = Location::caller();
    let map = TaskMap::new::<F>(at, engine::current_depth() + 1);
    let body = map.clone();
    let watches = crate::watch::inherit();
    let inner = ::tokio::task::spawn_blocking(move || {
        let _watched = watches.adopt();
        body.mark();
        let _running = body
            .map
            .hold_nested_at(Mode::Exclusive, body.subclass, body.at);
        f()
    });
    JoinHandle::new(inner, map)
}

/// An owned permission to await a task, like tokio's: awaiting it is an
/// acquisition of the task's pseudo-lock, validated when first polled, so
/// awaiting a task while holding a lock the task takes is reported.
pub struct JoinHandle<T> {
    inner: ::tokio::task::JoinHandle<T>,
    map: Arc<TaskMap>,
    waited: bool,
}

impl<T> JoinHandle<T> {
    fn new(inner: ::tokio::task::JoinHandle<T>, map: Arc<TaskMap>) -> JoinHandle<T> {
        JoinHandle {
            inner,
            map,
            waited: false,
        }
    }

    /// Cancels the task.
    pub fn abort(&self) {
        self.inner.abort()
    }

    /// Has the task finished?
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }

    /// The task's id.
    pub fn id(&self) -> ::tokio::task::Id {
        self.inner.id()
    }

    /// A handle that can cancel the task.
    pub fn abort_handle(&self) -> ::tokio::task::AbortHandle {
        self.inner.abort_handle()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, ::tokio::task::JoinError>;

    #[track_caller]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if !std::mem::replace(&mut self.waited, true) {
            self.map.join_at(Location::caller());
        }
        Pin::new(&mut self.inner).poll(cx)
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.inner.id())
            .finish_non_exhaustive()
    }
}

/// The pseudo-lock of every [`block_on`]: a blocking wait.
static BLOCK_ON: LockMap = LockMap::named("block_on");

/// Runs `future` to completion on the calling thread, blocking it, like
/// `futures::executor::block_on`: validated as a blocking wait (class
/// `block_on`), so one made inside a task that holds an async lock that
/// another task takes is reported. The future is polled in the calling
/// context: inside a task, with the task's held locks.
#[track_caller]
pub fn block_on<F: Future>(future: F) -> F::Output {
    BLOCK_ON.touch_at(Mode::Exclusive, Location::caller());
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}
