//! Async locks and tasks: tokio's `sync` primitives, instrumented, and
//! held-lock stacks per task (the `tokio` feature).
//!
//! ```
//! use std::sync::Arc;
//! use lockdep::tokio::{spawn, Mutex};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! lockdep::set_action(lockdep::Action::Silent);
//! let users = Arc::new(Mutex::named("users", 0u32));
//! let audit = Arc::new(Mutex::named("audit", 0u32));
//! let (u, a) = (users.clone(), audit.clone());
//! spawn(async move {
//!     let _u = u.lock().await;
//!     let _a = a.lock().await; // learns: users -> audit
//! })
//! .await
//! .unwrap();
//! spawn(async move {
//!     let _a = audit.lock().await;
//!     let _u = users.lock().await; // audit -> users closes a cycle
//! })
//! .await
//! .unwrap();
//! let report = lockdep::reports().pop().expect("a report");
//! assert_eq!(report.title(), "possible circular locking dependency detected");
//! # }
//! ```
//!
//! # The primitives
//!
//! [`Mutex`], [`RwLock`], [`Semaphore`] and [`OnceCell`] have tokio's API
//! shape (`lock().await`, `try_lock`, `blocking_lock`, owned guards such as
//! `lock_owned`), and their guards are `Send`. Each is of the class of its
//! construction site and protected type (`#[track_caller]` constructors),
//! or of a name (`named`) or a key (`with_key`), like every lockdep lock.
//!
//! | call | validated as |
//! |---|---|
//! | `Mutex::lock`, `RwLock::write`, `blocking_*` | exclusive, at the first poll, before it waits |
//! | `RwLock::read` | shared, **non-recursive**: tokio's lock is fair, a second read queues behind a waiting writer |
//! | `Semaphore::acquire*` | shared, non-recursive, held until the permits return |
//! | `try_*` | a trylock, recorded once it succeeds |
//! | `OnceCell::get_or_init` | its initializer holds the cell; a wait touches it; a set cell is touched when locks are held |
//! | [`Notify::notified`], [`Wait::wait`] | a wait on the pseudo-lock its declared notifiers hold (`notifier()`), as [`crate::Condvar`]'s |
//! | awaiting a [`JoinHandle`] | a wait on the task's pseudo-lock, which its body holds |
//! | [`block_on`] | a blocking wait (class `block_on`) |
//!
//! A lock future dropped before it resolves (a `select!` branch not taken)
//! gives its acquisition up.
//!
//! # Held-lock stacks per task
//!
//! A task spawned with [`spawn`] or [`spawn_local`], or any future wrapped
//! in [`task`] (a `JoinSet`'s: `set.spawn(task(fut))`), has its own
//! held-lock stack. Each poll swaps it in as the thread's and back out
//! after: inside the poll, every lock (async or not) is validated against
//! the task's locks only, so a task that moves between worker threads
//! keeps its stack, and two tasks on one worker never see each other's
//! locks. It works on stock tokio (no `tokio_unstable`), on multi-thread
//! and current-thread runtimes and in a `LocalSet`. Lock calls cost what
//! they cost anywhere (the fast path is the thread's); a poll costs two
//! swaps, each a session of the validator on the thread.
//!
//! While swapped in, a task holds its own pseudo-lock at the bottom of its
//! stack, class `(task)file:line:column` of its spawn site and future type
//! (one subclass deeper for a task spawned by a task, as threads are).
//!
//! # What is reported besides cycles
//!
//! - **A thread-bound lock held across an `.await`**: a poll that returns
//!   `Pending` while the task holds a std, parking_lot or lockdep sync
//!   lock (any lock not of this module). Once per lock class and task class.
//! - **A blocking wait in a task holding an async lock**: a sync lock, a
//!   thread join, [`block_on`] or a `OnceLock` wait, made while the task
//!   holds an async lock that another task (or thread) takes. Reported
//!   when both have happened, in either order.
//! - **A task awaited while holding a lock the task takes**: the cycle
//!   through the task's pseudo-lock.
//!
//! # What is lost outside an instrumented task
//!
//! - In a tokio task not spawned through [`spawn`] / [`spawn_local`] nor
//!   wrapped in [`task`] (a bare `tokio::spawn`, a `JoinSet` entry), async
//!   locks are **not tracked**: on its worker's stack they would outlive
//!   its polls, and every task polled there meanwhile would be validated as
//!   if it held them (false cycles, false recursion). So no report comes
//!   from them, true or false. Its sync locks are validated on the worker's
//!   stack as a thread's (a `Send` future cannot hold them across an
//!   `.await`). Nothing sees it suspend, and its `tokio::task::JoinHandle`
//!   is not a validated wait.
//! - A future polled outside any tokio task (a `block_on` root, which has
//!   no task id, or a future polled by hand) is validated on its thread's
//!   stack, as by a thread-based validator: a thread-bound lock it holds
//!   across an `.await` is not reported, and instrumented tasks polled on
//!   that thread meanwhile do not see its locks (they are swapped out).
//!
//! Also: a guard moved to another task (an `OwnedMutexGuard` sent away)
//! stays on its taker's stack until dropped, and its release reaches the
//! taker at the taker's next poll; a task that ends before its guards do
//! drops them from its stack unreported (a guard may be the task's output).
//! A [`JoinSet`](::tokio::task::JoinSet)'s `join_next` is not a validated
//! wait (it waits for any one task).

mod map;
mod mutex;
mod notify;
mod once_cell;
mod rwlock;
mod semaphore;
mod task;

pub use mutex::{Mutex, MutexGuard, OwnedMutexGuard, TryLockError};
pub use notify::{Notifier, Notify, Wait};
pub use once_cell::{OnceCell, SetError};
pub use rwlock::{
    OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock, RwLockReadGuard, RwLockWriteGuard,
};
pub use semaphore::{
    AcquireError, OwnedSemaphorePermit, Semaphore, SemaphorePermit, TryAcquireError,
};
pub use task::{block_on, spawn, spawn_blocking, spawn_local, task, JoinHandle, Task};
