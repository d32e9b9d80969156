//! A deferred work queue, annotated as the kernel's workqueue is.
//!
//! Worker threads run [`Work`] items. While an item runs, its worker holds
//! the item's pseudo-lock and the queue's. Waiting for work is an
//! acquisition of those pseudo-locks:
//! - [`Work::flush`] and [`Work::cancel`] touch the item's map, and, on an
//!   ordered queue, the queue's (an item flushed from inside the same
//!   single-threaded queue waits for itself);
//! - [`WorkQueue::flush`] and dropping the queue touch the queue's map.
//!
//! So a flush made while holding a lock that the work takes is reported as a
//! circular dependency, the first time both have happened, in either order.
//!
//! ```
//! use lockdep::{Work, WorkQueue};
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//!
//! let wq = WorkQueue::new("example_wq", 2);
//! let runs = Arc::new(AtomicUsize::new(0));
//! let r = runs.clone();
//! let work = Work::named("count_work", move || {
//!     r.fetch_add(1, Ordering::SeqCst);
//! });
//! assert!(wq.queue(&work));
//! work.flush();
//! assert_eq!(runs.load(Ordering::SeqCst), 1);
//! ```

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::panic::{AssertUnwindSafe, Location};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;

use crate::class::{ClassKey, Prefix};
use crate::held::Mode;
use crate::map::LockMap;

#[derive(Default)]
struct WorkState {
    pending: bool,
    /// Incremented each time the item is queued.
    generation: u64,
    /// The generation a worker is running, if any.
    running: Option<u64>,
    /// The latest generation that finished running.
    done: u64,
    /// The latest generation cancelled before it ran.
    cancelled: u64,
    /// A queueing taken off the queue while the item was running elsewhere:
    /// its sequence number. The worker running the item runs it again next,
    /// so an item never runs on two workers at once (as in the kernel).
    rerun: Option<u64>,
    /// The queue the item was last queued on.
    queue: Option<Weak<Shared>>,
}

impl WorkState {
    /// Has the run that covers `target` finished, or been cancelled with
    /// nothing left running?
    fn settled(&self, target: u64) -> bool {
        self.done >= target || (self.cancelled >= target && self.running.is_none())
    }
}

struct WorkInner {
    func: Box<dyn Fn() + Send + Sync>,
    map: LockMap,
    state: crate::raw::Mutex<WorkState>,
    finished: crate::raw::Condvar,
}

/// A work item: a function that a [`WorkQueue`] runs on a worker thread.
///
/// Cloning gives another handle on the same item. An item is queued at most
/// once at a time: queueing a pending item does nothing.
#[derive(Clone)]
pub struct Work {
    inner: Arc<WorkInner>,
}

impl Work {
    fn from_map(map: LockMap, func: impl Fn() + Send + Sync + 'static) -> Work {
        Work {
            inner: Arc::new(WorkInner {
                func: Box::new(func),
                map,
                state: crate::raw::Mutex::new(WorkState::default()),
                finished: crate::raw::Condvar::new(),
            }),
        }
    }

    /// An item whose class is the call site, printed as
    /// `(work_completion)file:line:column`.
    #[track_caller]
    pub fn new(func: impl Fn() + Send + Sync + 'static) -> Work {
        Self::from_map(
            LockMap::of::<()>(Location::caller(), Prefix::WorkCompletion),
            func,
        )
    }

    /// An item whose class is the call site, printed as `(work_completion)name`.
    #[track_caller]
    pub fn named(name: &'static str, func: impl Fn() + Send + Sync + 'static) -> Work {
        Self::from_map(
            LockMap::named_at(Location::caller(), name, Prefix::WorkCompletion),
            func,
        )
    }

    /// An item of the class of a static key.
    pub fn with_key(key: &'static ClassKey, func: impl Fn() + Send + Sync + 'static) -> Work {
        Self::from_map(LockMap::with_key(key), func)
    }

    /// Is the item queued and not yet started?
    pub fn is_pending(&self) -> bool {
        self.inner.state.lock().pending
    }

    /// Waits until the item's latest queueing has finished running. Returns
    /// whether there was anything to wait for.
    ///
    /// Annotated as an acquisition of the item's class (and, on an ordered
    /// queue, the queue's) whether or not it has to wait.
    #[track_caller]
    pub fn flush(&self) -> bool {
        self.annotate_wait(Location::caller());
        let mut s = self.inner.state.lock();
        let target = match (s.pending, s.running) {
            (true, _) => s.generation,
            (false, Some(running)) => running,
            (false, None) => return false,
        };
        while !s.settled(target) {
            self.inner.finished.wait(&mut s);
        }
        true
    }

    /// Removes the item from its queue if it is pending, then waits for a run
    /// in progress to finish. Returns whether a pending run was cancelled.
    ///
    /// It may wait for the item, so it is annotated as [`flush`](Self::flush) is.
    #[track_caller]
    pub fn cancel(&self) -> bool {
        self.annotate_wait(Location::caller());
        let mut s = self.inner.state.lock();
        let mut cancelled = false;
        if s.pending {
            let queue = s.queue.as_ref().and_then(Weak::upgrade);
            let removed = match (s.rerun.take(), &queue) {
                // Taken off the queue already, waiting for the run in progress.
                (Some(seq), Some(q)) => {
                    q.finish(seq);
                    true
                }
                (Some(_), None) => true,
                (None, Some(q)) => q.remove(&self.inner),
                (None, None) => false,
            };
            if removed {
                s.pending = false;
                s.cancelled = s.generation;
                cancelled = true;
                self.inner.finished.notify_all();
            }
        }
        // A run in progress, or a queueing a worker has taken but not yet
        // started: wait for it.
        let target = match (s.pending, s.running) {
            (true, _) => Some(s.generation),
            (false, running) => running,
        };
        if let Some(target) = target {
            while !s.settled(target) {
                self.inner.finished.wait(&mut s);
            }
        }
        cancelled
    }

    fn annotate_wait(&self, at: &'static Location<'static>) {
        let ordered_queue = {
            let s = self.inner.state.lock();
            s.queue
                .as_ref()
                .and_then(Weak::upgrade)
                .filter(|q| q.ordered)
        };
        self.inner.map.touch_at(Mode::Exclusive, at);
        if let Some(q) = ordered_queue {
            q.map.touch_at(Mode::Exclusive, at);
        }
    }

    /// Runs the item on the calling worker, holding the queue's and the
    /// item's pseudo-locks, for the queueing numbered `seq`; then again for
    /// any queueing that arrived for it while it ran. If another worker is
    /// running the item, hands the queueing over to that worker instead.
    fn run(&self, queue: &Shared, mut seq: u64) {
        let mut generation = {
            let mut s = self.inner.state.lock();
            if s.running.is_some() {
                s.rerun = Some(seq);
                return;
            }
            s.pending = false;
            s.running = Some(s.generation);
            s.generation
        };
        loop {
            {
                let _queue = queue.map.hold(Mode::Exclusive);
                let _work = self.inner.map.hold(Mode::Exclusive);
                // A panicking item must not take its worker down; the panic
                // message has been printed by the hook already.
                let _ = std::panic::catch_unwind(AssertUnwindSafe(|| (self.inner.func)()));
            }
            let next = {
                let mut s = self.inner.state.lock();
                s.done = s.done.max(generation);
                let next = s.rerun.take();
                if next.is_some() {
                    s.pending = false;
                    s.running = Some(s.generation);
                    generation = s.generation;
                } else {
                    s.running = None;
                }
                self.inner.finished.notify_all();
                next
            };
            queue.finish(seq);
            match next {
                Some(n) => seq = n,
                None => return,
            }
        }
    }
}

impl fmt::Debug for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.inner.state.lock();
        f.debug_struct("Work")
            .field("pending", &s.pending)
            .field("running", &s.running.is_some())
            .finish()
    }
}

#[derive(Default)]
struct QueueState {
    items: VecDeque<(u64, Work)>,
    /// Sequence numbers of items queued or running.
    in_flight: BTreeSet<u64>,
    next_seq: u64,
    stop: bool,
}

struct Shared {
    map: LockMap,
    ordered: bool,
    state: crate::raw::Mutex<QueueState>,
    changed: crate::raw::Condvar,
}

impl Shared {
    /// Takes `work` off the queue if it is there.
    fn remove(&self, work: &Arc<WorkInner>) -> bool {
        let mut q = self.state.lock();
        let Some(pos) = q
            .items
            .iter()
            .position(|(_, w)| Arc::ptr_eq(&w.inner, work))
        else {
            return false;
        };
        if let Some((seq, _)) = q.items.remove(pos) {
            q.in_flight.remove(&seq);
        }
        self.changed.notify_all();
        true
    }

    /// Marks the queueing numbered `seq` as done, for queue flushes.
    fn finish(&self, seq: u64) {
        self.state.lock().in_flight.remove(&seq);
        self.changed.notify_all();
    }

    fn worker(self: Arc<Self>) {
        loop {
            let (seq, work) = {
                let mut q = self.state.lock();
                loop {
                    if let Some(item) = q.items.pop_front() {
                        break item;
                    }
                    if q.stop {
                        return;
                    }
                    self.changed.wait(&mut q);
                }
            };
            work.run(&self, seq);
        }
    }
}

/// A queue of deferred work with its own worker threads.
///
/// Dropping the queue waits for every queued item to run, then stops and
/// joins the workers.
pub struct WorkQueue {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
}

impl WorkQueue {
    fn build(name: &'static str, workers: usize, ordered: bool, map: LockMap) -> WorkQueue {
        map.class();
        let shared = Arc::new(Shared {
            map,
            ordered,
            state: crate::raw::Mutex::new(QueueState::default()),
            changed: crate::raw::Condvar::new(),
        });
        let workers = (0..workers.max(1))
            .map(|i| {
                let s = shared.clone();
                std::thread::Builder::new()
                    .name(format!("{name}/{i}"))
                    .spawn(move || s.worker())
                    .expect("lockdep: cannot spawn a work queue worker")
            })
            .collect();
        WorkQueue { shared, workers }
    }

    /// A queue with `workers` threads (at least one). Its class is the call
    /// site, printed as `(wq_completion)name`.
    #[track_caller]
    pub fn new(name: &'static str, workers: usize) -> WorkQueue {
        Self::build(name, workers, false, Self::site(name))
    }

    /// A queue with `workers` threads (at least one), of the class of a
    /// static key; `name` names its worker threads.
    pub fn with_key(key: &'static ClassKey, name: &'static str, workers: usize) -> WorkQueue {
        Self::build(name, workers, false, LockMap::with_key(key))
    }

    #[track_caller]
    fn site(name: &'static str) -> LockMap {
        LockMap::named_at(Location::caller(), name, Prefix::WqCompletion)
    }

    /// A queue with one worker that runs items one at a time, in order.
    /// Flushing an item also waits for everything queued before it, and is
    /// annotated that way.
    #[track_caller]
    pub fn ordered(name: &'static str) -> WorkQueue {
        Self::build(name, 1, true, Self::site(name))
    }

    /// Queues `work`. Returns false if it was already pending.
    pub fn queue(&self, work: &Work) -> bool {
        let mut s = work.inner.state.lock();
        if s.pending {
            return false;
        }
        s.pending = true;
        s.generation += 1;
        s.queue = Some(Arc::downgrade(&self.shared));
        let mut q = self.shared.state.lock();
        let seq = q.next_seq;
        q.next_seq += 1;
        q.in_flight.insert(seq);
        q.items.push_back((seq, work.clone()));
        self.shared.changed.notify_all();
        true
    }

    /// Waits until every item queued before the call has run. Annotated as an
    /// acquisition of the queue's class.
    #[track_caller]
    pub fn flush(&self) {
        self.shared.map.touch(Mode::Exclusive);
        let mut q = self.shared.state.lock();
        let target = q.next_seq;
        while q.in_flight.range(..target).next().is_some() {
            self.shared.changed.wait(&mut q);
        }
    }
}

impl Drop for WorkQueue {
    fn drop(&mut self) {
        let me = std::thread::current().id();
        let on_own_worker = self.workers.iter().any(|w| w.thread().id() == me);
        if on_own_worker {
            // Waiting here would wait for the item doing the dropping. Keep
            // the annotation (the validator reports the self-wait), skip the
            // wait: the workers drain what is queued, then exit.
            self.shared.map.touch(Mode::Exclusive);
        } else {
            self.flush();
        }
        self.shared.state.lock().stop = true;
        self.shared.changed.notify_all();
        for w in self.workers.drain(..) {
            if w.thread().id() != me {
                let _ = w.join();
            }
        }
    }
}

impl fmt::Debug for WorkQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkQueue")
            .field("workers", &self.workers.len())
            .field("ordered", &self.shared.ordered)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn queue_flush_cancel_and_drop() {
        let runs = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(crate::raw::Mutex::new(()));
        let wq = WorkQueue::ordered("wq-unit");
        let (r, g) = (runs.clone(), gate.clone());
        let work = Work::named("wq-unit-work", move || {
            let _g = g.lock();
            r.fetch_add(1, Ordering::SeqCst);
        });
        // Keep the item from finishing until well after the flush below has
        // started: that flush has something to wait for.
        let closed = Arc::new(std::sync::Barrier::new(2));
        let opener = {
            let (gate, closed) = (gate.clone(), closed.clone());
            std::thread::spawn(move || {
                let _held = gate.lock();
                closed.wait();
                std::thread::sleep(std::time::Duration::from_millis(50));
            })
        };
        closed.wait();
        assert!(wq.queue(&work));
        assert!(work.flush(), "the item was still pending or running");
        opener.join().unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(!work.flush(), "nothing to wait for");

        // Block the worker on the gate, queue a second item behind it, cancel it.
        let held = gate.lock();
        assert!(wq.queue(&work));
        let other = Work::named("wq-unit-other", || {});
        while work.is_pending() {
            std::thread::yield_now();
        }
        assert!(wq.queue(&other));
        assert!(other.cancel(), "pending item is cancelled");
        assert!(!other.is_pending());
        drop(held);
        wq.flush();
        assert_eq!(runs.load(Ordering::SeqCst), 2);

        assert!(wq.queue(&work));
        drop(wq);
        assert_eq!(runs.load(Ordering::SeqCst), 3, "drop runs queued work");
    }

    #[test]
    fn dropping_a_queue_from_its_own_work_is_reported_and_does_not_hang() {
        crate::set_action(crate::Action::Silent);
        let slot: Arc<crate::raw::Mutex<Option<WorkQueue>>> = Arc::default();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let s2 = slot.clone();
        let work = Work::named("wq-unit-self-drop-work", move || {
            let wq = s2.lock().take();
            drop(wq);
            done_tx.send(()).unwrap();
        });
        let wq = WorkQueue::new("wq-unit-self-drop", 1);
        assert!(wq.queue(&work));
        *slot.lock() = Some(wq);
        done_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the work item finished dropping its own queue");
        let reported = crate::reports().iter().any(|r| {
            r.class_names()
                .iter()
                .any(|n| n.contains("wq-unit-self-drop"))
        });
        assert!(reported, "the self-wait is reported");
    }
}
