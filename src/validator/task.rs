//! Held-lock stacks of tasks, and the checks only a task has.
//!
//! A task's stack lives in its wrapper ([`TaskStack`]) between polls. For
//! each poll it is swapped with the thread's own (`swap`): inside the
//! poll, the fast and slow paths see the task's locks as the thread's, so
//! they are unchanged and cost nothing more; the swap is one session at
//! each end of a poll. The thread's chain cache stays the thread's: a
//! validated chain is valid in any context.
//!
//! Every context (an OS thread outside any task, or a task) has an id
//! (`context`). Guards that may move between threads (an async lock's)
//! keep the id they were taken in: one dropped in another context queues
//! its release for its owner (`release_elsewhere`), which applies it when
//! it is next swapped in or out, or next takes an async lock (a look at
//! its bucket of the queue's counts: one atomic load). A task that ends
//! with async guards still out (its output, or moved away) leaves a count
//! of them, and their releases are dropped instead of queued.
//!
//! Three bit sets by class id, lock-free: async classes (locks and
//! pseudo-locks that may be held across an `.await`), task pseudo-locks,
//! and async classes one of whose locks was taken in two contexts. Any
//! other class is thread-bound: held while a task suspends, it is reported
//! (`check_suspend`), and waited on while the task holds an async lock that
//! another context takes, it is reported too (`check_blocking`).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::*;

/// A task's held locks while the task is not polled.
#[derive(Debug)]
pub(crate) struct TaskStack {
    held: Vec<HeldLock>,
    key: Key,
    order_keys: Vec<(usize, u64)>,
    /// The [`reset`] generation its chain keys were computed in.
    generation: u64,
    /// The task's context id.
    id: u64,
    /// The task's depth in the tree of instrumented tasks (0: spawned from
    /// outside any).
    depth: u32,
}

impl TaskStack {
    /// An empty stack, of a new context spawned from the current one.
    pub(crate) fn new() -> TaskStack {
        let id = new_context();
        TaskStack {
            held: Vec::new(),
            key: Key { a: 0, b: 0 },
            order_keys: Vec::new(),
            generation: u64::MAX,
            id,
            depth: current_depth() + 1,
        }
    }

    /// The depth of the task in the tree of instrumented tasks, from 1.
    pub(crate) fn depth(&self) -> u32 {
        self.depth
    }
}

impl Drop for TaskStack {
    /// The task has ended. Async locks still on its stack are guards that
    /// outlive it (its output, or moved away): their releases, when they
    /// come, are dropped rather than queued for an owner that is gone.
    fn drop(&mut self) {
        let left = self
            .held
            .iter()
            .filter(|h| is_async(h.class) && !is_task(h.class))
            .count();
        if left == 0 {
            forget_context(self.id);
            return;
        }
        let id = self.id;
        with_global(|g| {
            let escaped = left.saturating_sub(take_queued(g, id).len());
            if escaped > 0 {
                g.escaped.insert(id, escaped);
            }
        });
    }
}

/// A context has ended: the releases queued for it are dropped.
fn forget_context(id: u64) {
    if bucket(id).load(Ordering::Acquire) != 0 {
        with_global(|g| take_queued(g, id));
    }
}

/// The current context, swapped along with the stack.
struct Ctx {
    /// The task being polled (its context id), 0 outside any.
    current: Cell<u64>,
    /// The thread's own context id, 0 until first asked for.
    thread: Cell<u64>,
    /// The current task's depth (0 outside any).
    depth: Cell<u32>,
}

thread_local! {
    static CTX: Ctx = const {
        Ctx { current: Cell::new(0), thread: Cell::new(0), depth: Cell::new(0) }
    };
    /// Unregisters the thread's context at its exit.
    static THREAD_CONTEXT: ThreadContext = const { ThreadContext(Cell::new(0)) };
}

struct ThreadContext(Cell<u64>);

impl Drop for ThreadContext {
    fn drop(&mut self) {
        forget_context(self.0.get());
    }
}

fn new_context() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The id of the calling context: the task being polled, else the thread.
#[inline]
pub(crate) fn context() -> u64 {
    CTX.try_with(|c| match c.current.get() {
        0 => match c.thread.get() {
            0 => thread_context(c),
            id => id,
        },
        id => id,
    })
    .unwrap_or(0)
}

#[cold]
fn thread_context(c: &Ctx) -> u64 {
    let id = new_context();
    c.thread.set(id);
    let _ = THREAD_CONTEXT.try_with(|t| t.0.set(id));
    id
}

/// The depth of the task being polled in the tree of instrumented tasks
/// (0 outside any).
pub(crate) fn current_depth() -> u32 {
    CTX.try_with(|c| c.depth.get()).unwrap_or(0)
}

/// Is the calling code polled inside an instrumented task?
pub(crate) fn in_task() -> bool {
    CTX.try_with(|c| c.current.get() != 0).unwrap_or(false)
}

/// What [`swap`] took out, to put back.
#[derive(Debug)]
pub(crate) struct Swapped {
    current: u64,
    depth: u32,
}

/// Swaps `stack` with the thread's held stack, and makes its task the
/// current context. `None` (nothing swapped) where the thread's state
/// cannot be reached: the validator runs on the thread, or it is exiting.
pub(crate) fn swap_in(stack: &mut TaskStack) -> Option<Swapped> {
    let saved = CTX
        .try_with(|c| Swapped {
            current: c.current.replace(stack.id),
            depth: c.depth.replace(stack.depth),
        })
        .ok()?;
    if exchange(stack, stack.id).is_none() {
        let _ = CTX.try_with(|c| {
            c.current.set(saved.current);
            c.depth.set(saved.depth);
        });
        return None;
    }
    Some(saved)
}

/// Undoes [`swap_in`]: the task's stack back into `stack`, the thread's (or
/// the enclosing task's) back on the thread.
pub(crate) fn swap_out(stack: &mut TaskStack, saved: Swapped) {
    let outer = match saved.current {
        0 => CTX.try_with(|c| c.thread.get()).unwrap_or(0),
        id => id,
    };
    let _ = exchange(stack, outer);
    let _ = CTX.try_with(|c| {
        c.current.set(saved.current);
        c.depth.set(saved.depth);
    });
}

/// Exchanges the thread state's stack with `stack`'s, then applies the
/// releases queued for `incoming`, the context now on the thread.
fn exchange(stack: &mut TaskStack, incoming: u64) -> Option<()> {
    with_state(|st| {
        std::mem::swap(&mut st.held, &mut stack.held);
        std::mem::swap(&mut st.key, &mut stack.key);
        std::mem::swap(&mut st.order_keys, &mut stack.order_keys);
        let keyed_in = std::mem::replace(&mut stack.generation, st.generation);
        if keyed_in != st.generation || st.held.is_empty() {
            st.key = held::rekey(&mut st.held, base_key(st.generation));
        }
        apply_elsewhere(st, incoming);
    })
}

/// Buckets of [`PENDING`].
const BUCKETS: usize = 256;

/// Releases made in other contexts and queued for their owner, counted by
/// the owner's bucket: a context looks at its own bucket only, so a release
/// that waits for an idle owner slows no one else down, but the contexts
/// that share its bucket (1 in 256), at their async lock calls.
static PENDING: [AtomicU32; BUCKETS] = [const { AtomicU32::new(0) }; BUCKETS];

fn bucket(ctx: u64) -> &'static AtomicU32 {
    &PENDING[(ctx % BUCKETS as u64) as usize]
}

/// Takes the releases queued for `ctx` out of the queue.
fn take_queued(g: &mut Global, ctx: u64) -> Vec<usize> {
    let mut mine = Vec::new();
    g.elsewhere.retain(|&(owner, _, instance)| {
        let own = owner == ctx;
        if own {
            mine.push(instance);
        }
        !own
    });
    bucket(ctx).fetch_sub(mine.len() as u32, Ordering::Release);
    mine
}

fn apply_elsewhere(st: &mut ThreadState, ctx: u64) {
    if ctx == 0 || bucket(ctx).load(Ordering::Acquire) == 0 {
        return;
    }
    for instance in with_global(|g| take_queued(g, ctx)) {
        // Not held any more (a task's stack discarded): nothing to undo.
        if let Some(i) = held::find(&st.held, instance) {
            remove_at(st, i);
        }
    }
}

/// Applies the releases other contexts made of the locks of `ctx`, the
/// calling context; one atomic load when there are none.
#[inline]
pub(crate) fn catch_up_releases(ctx: u64) {
    if bucket(ctx).load(Ordering::Relaxed) != 0 {
        with_state(|st| apply_elsewhere(st, ctx));
    }
}

/// How many releases may wait for their owners: past it the oldest are
/// dropped.
const ELSEWHERE_BOUND: usize = 4096;

/// The release of a lock taken in context `owner`, made in another: queued
/// for the owner (dropped if the owner was a task that has ended).
#[cold]
pub(crate) fn release_elsewhere(owner: u64, class: ClassId, instance: usize) {
    with_global(|g| {
        if let Some(left) = g.escaped.get_mut(&owner) {
            *left -= 1;
            if *left == 0 {
                g.escaped.remove(&owner);
            }
            return;
        }
        if g.elsewhere.len() >= ELSEWHERE_BOUND {
            let (oldest, _, _) = g.elsewhere.remove(0);
            bucket(oldest).fetch_sub(1, Ordering::Release);
        }
        g.elsewhere.push((owner, class, instance));
        bucket(owner).fetch_add(1, Ordering::Release);
    });
}

/// Words of a [`ClassSet`]: 2^20 classes, 128 KiB of zeroed memory, of
/// which only the pages of the classes in use are ever touched.
const CLASS_WORDS: usize = 1 << 14;

/// A lock-free set of class ids (the first 2^20 of them).
struct ClassSet([AtomicU64; CLASS_WORDS]);

impl ClassSet {
    const fn new() -> ClassSet {
        ClassSet([const { AtomicU64::new(0) }; CLASS_WORDS])
    }

    /// Adds `class`; returns whether it was new.
    #[inline]
    fn insert(&self, class: ClassId) -> bool {
        let i = class.index();
        let Some(word) = self.0.get(i / 64) else {
            return false;
        };
        let bit = 1u64 << (i % 64);
        word.load(Ordering::Relaxed) & bit == 0 && word.fetch_or(bit, Ordering::Relaxed) & bit == 0
    }

    /// Is `class` in, or `beyond` if past the set's range?
    #[inline]
    fn contains(&self, class: ClassId, beyond: bool) -> bool {
        let i = class.index();
        self.0
            .get(i / 64)
            .map_or(beyond, |w| w.load(Ordering::Relaxed) & (1 << (i % 64)) != 0)
    }
}

static ASYNC: ClassSet = ClassSet::new();
static TASKS: ClassSet = ClassSet::new();
static SHARED_ASYNC: ClassSet = ClassSet::new();

/// Marks `class` as async: its locks may be held across an `.await`.
#[inline]
pub(crate) fn mark_async(class: ClassId) {
    ASYNC.insert(class);
}

/// Marks `class` as a task's pseudo-lock (async too).
pub(crate) fn mark_task(class: ClassId) {
    ASYNC.insert(class);
    TASKS.insert(class);
}

fn is_async(class: ClassId) -> bool {
    ASYNC.contains(class, true)
}

fn is_task(class: ClassId) -> bool {
    TASKS.contains(class, false)
}

/// A lock of the async `class` was taken in a second context: blocking
/// waits recorded under the class become reports.
#[cold]
pub(crate) fn mark_shared(class: ClassId) {
    if !SHARED_ASYNC.insert(class) {
        return;
    }
    let due = with_global(|g| {
        let (due, keep) = std::mem::take(&mut g.blocked_under)
            .into_iter()
            .partition(|(c, _)| *c == class);
        g.blocked_under = keep;
        due
    });
    let due: Vec<Pending> = due
        .into_iter()
        .map(|(_, r)| Pending::Ready(Box::new(r)))
        .collect();
    emit_all(due, Raised::Deferred);
}

/// The calling task is suspending (its poll returned `Pending`): each
/// thread-bound lock it holds is reported, once per class and task class.
/// Reads the fast path's view of the stack; a session only to report.
pub(crate) fn check_suspend() {
    let thread_bound = fast()
        .and_then(fast_held)
        .is_some_and(|held| held.iter().any(|h| !is_async(h.class)));
    if !thread_bound || !config::is_enabled() {
        return;
    }
    with_state(|st| {
        let Some(task) = st.held.iter().find(|h| is_task(h.class)).copied() else {
            return;
        };
        let bound: Vec<HeldLock> = st
            .held
            .iter()
            .filter(|h| !is_async(h.class))
            .copied()
            .collect();
        for lock in bound {
            let first =
                with_global(|g| g.reported.insert(Reported::Task(0, lock.class, task.class)));
            if !first {
                continue;
            }
            let report = contained("report building", || {
                let usage = with_global(|g| usage_of(&g.graph, st.held.iter()));
                Pending::Ready(Box::new(Report {
                    process: process_info(),
                    thread: thread_info(),
                    problem: Problem::HeldAcrossAwait {
                        lock: held_lock_info(&lock, &usage),
                        task: held_lock_info(&task, &usage),
                    },
                    held: held_info(&st.held, &usage),
                    backtrace: Backtrace::unresolved(trace::capture()),
                }))
            });
            emit_all(report.into_iter().collect(), Raised::Deferred);
        }
    });
}

/// A chain never seen, in a session: if the thread is polling a task and
/// `next` is a blocking wait on a thread-bound class while the task holds
/// an async lock, that is reported, now if another context took a lock of
/// the async class, else once one does.
pub(super) fn check_blocking(st: &ThreadState, next: &HeldLock) {
    if next.trylock || is_async(next.class) || !in_task() {
        return;
    }
    let Some(task) = st.held.iter().find(|h| is_task(h.class)).copied() else {
        return;
    };
    let Some(holding) = st
        .held
        .iter()
        .rev()
        .find(|h| is_async(h.class) && !is_task(h.class))
        .copied()
    else {
        return;
    };
    let first = with_global(|g| {
        g.reported
            .insert(Reported::Task(1, next.class, holding.class))
    });
    if !first {
        return;
    }
    let Some(Pending::Ready(report)) = contained("report building", || {
        let usage = with_global(|g| usage_of(&g.graph, st.held.iter().chain([next])));
        Pending::Ready(Box::new(Report {
            process: process_info(),
            thread: thread_info(),
            problem: Problem::BlockingWaitInTask {
                waiting: held_lock_info(next, &usage),
                holding: held_lock_info(&holding, &usage),
                task: held_lock_info(&task, &usage),
            },
            held: held_info(&st.held, &usage),
            backtrace: Backtrace::unresolved(trace::capture()),
        }))
    }) else {
        return;
    };
    if SHARED_ASYNC.contains(holding.class, false) {
        emit_all(vec![Pending::Ready(report)], Raised::Deferred);
    } else {
        with_global(|g| g.blocked_under.push((holding.class, *report)));
    }
}

/// A cycle through a task's pseudo-lock is a task awaited (its
/// `JoinHandle`) while holding a lock that the task takes.
pub(super) fn refine(report: Report) -> Report {
    let Problem::CircularDependency {
        acquiring,
        holding,
        chain,
    } = report.problem
    else {
        return report;
    };
    let problem = if chain.iter().any(|l| is_task(l.lock.class)) {
        Problem::TaskAwaitedUnderLock {
            acquiring,
            holding,
            chain,
        }
    } else {
        Problem::CircularDependency {
            acquiring,
            holding,
            chain,
        }
    };
    Report { problem, ..report }
}
