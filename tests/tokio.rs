//! `lockdep::tokio` on the idioms async code really uses: tasks sharing
//! `Arc<Mutex<_>>`, `select!`, `join!`, a `JoinSet`, a `LocalSet`, guards
//! that cross threads; and the reports only tasks have.

mod common;
use common::{assert_no_reports, circular, one_report, silent};

use std::sync::Arc;
use std::time::Duration;

use lockdep::report::Problem;
use lockdep::tokio::{self as ltokio, Mutex, RwLock, Semaphore};

fn multi() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn current() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn tasks_taking_two_locks_in_opposite_orders_are_a_cycle() {
    silent();
    multi().block_on(async {
        let a = Arc::new(Mutex::named("tk_abba_a", 0));
        let b = Arc::new(Mutex::named("tk_abba_b", 0));
        let (a1, b1) = (a.clone(), b.clone());
        ltokio::spawn(async move {
            let _a = a1.lock().await;
            tokio::task::yield_now().await;
            let _b = b1.lock().await;
        })
        .await
        .unwrap();
        assert_no_reports(&["tk_abba_a"]);
        ltokio::spawn(async move {
            let _b = b.lock().await;
            tokio::task::yield_now().await;
            let _a = a.lock().await;
        })
        .await
        .unwrap();
    });
    let r = one_report(&["tk_abba_a"]);
    let c = circular(&r);
    assert_eq!(c.acquiring.name, "tk_abba_a");
    assert_eq!(c.holding.name, "tk_abba_b");
    // The task's own pseudo-lock is at the bottom of its stack.
    assert!(r.held[0].name.starts_with("(task)"), "{r}");
}

/// Two tasks on one thread, one holding a lock across an await while the
/// other takes another: with stacks per task, no dependency between them.
#[test]
fn two_tasks_on_one_thread_do_not_see_each_others_locks() {
    silent();
    current().block_on(async {
        let x = Arc::new(Mutex::named("tk_sep_x", ()));
        let y = Arc::new(Mutex::named("tk_sep_y", ()));
        let (x1, y1) = (x.clone(), y.clone());
        let holder = ltokio::spawn(async move {
            let _x = x1.lock().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        });
        let other = ltokio::spawn(async move {
            tokio::task::yield_now().await;
            let _y = y1.lock().await;
        });
        holder.await.unwrap();
        other.await.unwrap();
        // y then x, in a third task: a cycle only if x -> y had been learned.
        ltokio::spawn(async move {
            let _y = y.lock().await;
            let _x = x.lock().await;
        })
        .await
        .unwrap();
    });
    assert_no_reports(&["tk_sep_x", "tk_sep_y"]);
}

/// The same program with bare `tokio::spawn`: outside an instrumented
/// task, a tokio task's async locks are not tracked (on the worker's stack
/// they would outlive its polls): no report, true or false.
#[test]
fn bare_tokio_tasks_leave_async_locks_untracked() {
    silent();
    current().block_on(async {
        let x = Arc::new(Mutex::named("tk_bare_x", ()));
        let y = Arc::new(Mutex::named("tk_bare_y", ()));
        let (x1, y1) = (x.clone(), y.clone());
        let holder = tokio::spawn(async move {
            let _x = x1.lock().await;
            assert!(lockdep::held_locks().is_empty(), "untracked");
            tokio::time::sleep(Duration::from_millis(20)).await;
        });
        let other = tokio::spawn(async move {
            tokio::task::yield_now().await;
            let _y = y1.lock().await;
        });
        holder.await.unwrap();
        other.await.unwrap();
        tokio::spawn(async move {
            let _y = y.lock().await;
            let _x = x.lock().await;
        })
        .await
        .unwrap();
        // The runtime's root future is no task: there, they are tracked.
        let root = Mutex::named("tk_bare_root", ());
        let _r = root.lock().await;
        assert_eq!(lockdep::held_locks().len(), 1);
    });
    assert_no_reports(&["tk_bare_x", "tk_bare_y"]);
}

/// A task that moves between worker threads keeps its stack: its release
/// on another worker finds its entry, and its later locks still see it.
#[test]
fn a_task_keeps_its_stack_across_worker_threads() {
    silent();
    let threads = multi().block_on(async {
        let m = Arc::new(Mutex::named("tk_move_m", ()));
        let n = Arc::new(Mutex::named("tk_move_n", ()));
        let mut handles = Vec::new();
        for _ in 0..8 {
            let (m, n) = (m.clone(), n.clone());
            handles.push(ltokio::spawn(async move {
                let mut seen = std::collections::HashSet::new();
                for _ in 0..50 {
                    let _m = m.lock().await;
                    seen.insert(std::thread::current().id());
                    tokio::task::yield_now().await;
                    seen.insert(std::thread::current().id());
                    let _n = n.lock().await;
                    // Two locks held, whatever thread this is.
                    assert_eq!(lockdep::held_locks().len(), 3);
                }
                seen.len()
            }));
        }
        let mut most = 0;
        for h in handles {
            most = most.max(h.await.unwrap());
        }
        assert!(lockdep::held_locks().is_empty());
        most
    });
    assert!(threads >= 1);
    assert_no_reports(&["tk_move_m", "tk_move_n"]);
}

#[test]
fn reading_twice_across_an_await_is_recursive_locking() {
    silent();
    current().block_on(ltokio::task(async {
        let state = RwLock::named("tk_reread", 1);
        let first = state.read().await;
        tokio::task::yield_now().await;
        let second = state.read().await;
        assert_eq!(*first + *second, 2);
    }));
    let r = one_report(&["tk_reread"]);
    assert!(matches!(r.problem, Problem::RecursiveLocking { .. }), "{r}");
}

/// `select!` drops the branch not taken: its lock future gives its
/// acquisition up, and nothing stays on the stack.
#[test]
fn a_lock_future_dropped_by_select_gives_up_its_acquisition() {
    silent();
    current().block_on(ltokio::task(async {
        let busy = Arc::new(Mutex::named("tk_select_busy", ()));
        let other = Mutex::named("tk_select_other", ());
        let (locked, is_locked) = tokio::sync::oneshot::channel();
        let b = busy.clone();
        let holder = ltokio::spawn(async move {
            let _held = b.lock().await;
            locked.send(()).unwrap();
            tokio::time::sleep(Duration::from_millis(10)).await;
        });
        is_locked.await.unwrap();
        tokio::select! {
            _ = busy.lock() => unreachable!("the lock is held"),
            _ = tokio::time::sleep(Duration::from_millis(1)) => {}
        }
        assert_eq!(lockdep::held_locks().len(), 1, "only the task's own");
        holder.await.unwrap();
        let _o = other.lock().await;
        let _b = busy.lock().await;
    }));
    assert_no_reports(&["tk_select_busy", "tk_select_other"]);
}

#[test]
fn join_of_two_lock_futures_in_one_task() {
    silent();
    current().block_on(ltokio::task(async {
        let a = Mutex::named("tk_join_a", 1);
        let b = Mutex::named("tk_join_b", 2);
        let (ga, gb) = tokio::join!(a.lock(), b.lock());
        assert_eq!(*ga + *gb, 3);
        assert_eq!(lockdep::held_locks().len(), 3);
    }));
    assert_no_reports(&["tk_join_a", "tk_join_b"]);
}

#[test]
fn a_joinset_of_instrumented_tasks() {
    silent();
    multi().block_on(async {
        // A permit for every task: the opposite orders cannot really hang
        // this test (with 2 each, tasks 0 and 2 could hold both `a`s while
        // 1 and 3 hold both `b`s), and are still reported.
        let a = Arc::new(Semaphore::named("tk_set_a", 4));
        let b = Arc::new(Semaphore::named("tk_set_b", 4));
        let mut set = tokio::task::JoinSet::new();
        for i in 0..4 {
            let (a, b) = (a.clone(), b.clone());
            set.spawn(ltokio::task(async move {
                if i % 2 == 0 {
                    let _a = a.acquire().await.unwrap();
                    let _b = b.acquire().await.unwrap();
                } else {
                    let _b = b.acquire().await.unwrap();
                    tokio::task::yield_now().await;
                    let _a = a.acquire().await.unwrap();
                }
            }));
        }
        while let Some(done) = set.join_next().await {
            done.unwrap();
        }
    });
    // Permits taken in opposite orders: reported (with fewer permits than
    // tasks, the two orders wait for each other).
    let r = one_report(&["tk_set_a"]);
    circular(&r);
}

#[test]
fn a_std_guard_held_across_an_await_is_reported() {
    silent();
    let std_lock = lockdep::sync::Mutex::named("tk_std_across", 0);
    current().block_on(ltokio::task(async {
        let mut g = std_lock.lock().unwrap();
        *g += 1;
        tokio::task::yield_now().await;
        *g += 1;
    }));
    let r = one_report(&["tk_std_across"]);
    assert!(r.title().contains("await"), "{r}");
    match &r.problem {
        Problem::HeldAcrossAwait { lock, task } => {
            assert_eq!(lock.name, "tk_std_across");
            assert!(task.name.starts_with("(task)"), "{r}");
        }
        _ => panic!("{r}"),
    }
}

#[test]
fn an_async_guard_held_across_an_await_is_fine() {
    silent();
    current().block_on(ltokio::task(async {
        let m = Mutex::named("tk_async_across", 0);
        let mut g = m.lock().await;
        tokio::task::yield_now().await;
        *g += 1;
    }));
    assert_no_reports(&["tk_async_across"]);
}

#[test]
fn a_guard_held_across_an_await_in_a_local_set() {
    silent();
    let local = tokio::task::LocalSet::new();
    current().block_on(local.run_until(async {
        let a = std::rc::Rc::new(Mutex::named("tk_local_a", ()));
        let b = std::rc::Rc::new(Mutex::named("tk_local_b", ()));
        let (a1, b1) = (a.clone(), b.clone());
        let first = ltokio::spawn_local(async move {
            let _a = a1.lock().await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        });
        let second = ltokio::spawn_local(async move {
            tokio::task::yield_now().await;
            let _b = b1.lock().await;
            assert_eq!(lockdep::held_locks().len(), 2);
        });
        first.await.unwrap();
        second.await.unwrap();
        ltokio::spawn_local(async move {
            let _b = b.lock().await;
            let _a = a.lock().await;
        })
        .await
        .unwrap();
    }));
    assert_no_reports(&["tk_local_a", "tk_local_b"]);
}

#[test]
fn block_on_under_an_async_lock_another_task_takes() {
    silent();
    multi().block_on(async {
        let shared = Arc::new(Mutex::named("tk_block_shared", 0));
        let s = shared.clone();
        ltokio::spawn(async move {
            let _g = s.lock().await;
            ltokio::block_on(async { 1 });
        })
        .await
        .unwrap();
        // Not yet: no other task took the lock.
        assert_no_reports(&["tk_block_shared"]);
        ltokio::spawn(async move {
            *shared.lock().await += 1;
        })
        .await
        .unwrap();
    });
    let r = one_report(&["tk_block_shared"]);
    match &r.problem {
        Problem::BlockingWaitInTask {
            waiting, holding, ..
        } => {
            assert_eq!(waiting.name, "block_on");
            assert_eq!(holding.name, "tk_block_shared");
        }
        _ => panic!("{r}"),
    }
}

#[test]
fn a_sync_lock_in_a_task_holding_a_shared_async_lock() {
    silent();
    let sync = Arc::new(lockdep::Mutex::named("tk_sync_inner", ()));
    multi().block_on(async {
        let shared = Arc::new(Mutex::named("tk_sync_outer", ()));
        let s = shared.clone();
        ltokio::spawn(async move { drop(s.lock().await) })
            .await
            .unwrap();
        let sync = sync.clone();
        ltokio::spawn(async move {
            let _g = shared.lock().await;
            let _s = sync.lock();
        })
        .await
        .unwrap();
    });
    let r = one_report(&["tk_sync_inner"]);
    assert!(
        matches!(r.problem, Problem::BlockingWaitInTask { .. }),
        "{r}"
    );
}

#[test]
fn awaiting_a_task_that_needs_a_held_lock() {
    silent();
    multi().block_on(ltokio::task(async {
        let config = Arc::new(Mutex::named("tk_join_under", 0));
        let c = config.clone();
        let worker = ltokio::spawn(async move {
            *c.lock().await += 1;
        });
        // Let the worker finish first: the report needs no hang.
        while !worker.is_finished() {
            tokio::task::yield_now().await;
        }
        let _g = config.lock().await;
        worker.await.unwrap();
    }));
    let r = one_report(&["tk_join_under"]);
    assert!(r.title().contains("await"), "{r}");
    match &r.problem {
        Problem::TaskAwaitedUnderLock { chain, .. } => {
            assert!(chain.iter().any(|l| l.lock.name.starts_with("(task)")));
        }
        _ => panic!("{r}"),
    }
}

/// An owned guard sent to another task and dropped there: no bad unlock,
/// and the taker's stack is clear after its next poll.
#[test]
fn an_owned_guard_moved_to_another_task() {
    silent();
    multi().block_on(ltokio::task(async {
        let m = Arc::new(Mutex::named("tk_owned_moved", 0));
        let g = m.clone().lock_owned().await;
        assert_eq!(lockdep::held_locks().len(), 2);
        ltokio::spawn(async move {
            let mut g = g;
            *g += 1;
        })
        .await
        .unwrap();
        tokio::task::yield_now().await;
        assert_eq!(
            lockdep::held_locks().len(),
            1,
            "{:?}",
            lockdep::held_locks()
        );
        assert_eq!(*m.lock().await, 1);
    }));
    assert_no_reports(&["tk_owned_moved"]);
}

#[test]
fn a_notify_waited_under_a_lock_its_notifier_takes() {
    silent();
    current().block_on(ltokio::task(async {
        let state = Arc::new(Mutex::named("tk_notify_state", 0));
        let ready = Arc::new(ltokio::Notify::named("tk_notify_ready"));
        let (s, r) = (state.clone(), ready.clone());
        let producer = ltokio::spawn(async move {
            let _notifying = r.notifier();
            *s.lock().await += 1;
            r.notify_one();
        });
        producer.await.unwrap();
        let _g = state.lock().await;
        ready.notified().await;
    }));
    let r = one_report(&["tk_notify_ready"]);
    circular(&r);
}

#[test]
fn a_once_cell_initializer_that_needs_a_lock_held_by_a_waiter() {
    silent();
    current().block_on(ltokio::task(async {
        let cell = ltokio::OnceCell::<u32>::named("tk_cell");
        let lock = Mutex::named("tk_cell_lock", ());
        let v = cell
            .get_or_init(|| async {
                let _l = lock.lock().await;
                7
            })
            .await;
        assert_eq!(*v, 7);
        let _l = lock.lock().await;
        assert_eq!(*cell.get_or_init(|| async { 8 }).await, 7);
    }));
    let r = one_report(&["tk_cell"]);
    circular(&r);
}

#[test]
// The guard is held across the await on purpose: that is the bug reported.
// (clippy knows lockdep's guards: they are lock_api's.)
#[allow(clippy::await_holding_lock)]
fn spawn_blocking_join_is_validated() {
    silent();
    let m = Arc::new(lockdep::Mutex::named("tk_blocking_m", ()));
    multi().block_on(ltokio::task(async {
        let m2 = m.clone();
        let h = ltokio::spawn_blocking(move || drop(m2.lock()));
        while !h.is_finished() {
            tokio::task::yield_now().await;
        }
        let _g = m.lock();
        h.await.unwrap();
    }));
    let r = one_report(&["tk_blocking_m"]);
    assert!(
        matches!(r.problem, Problem::TaskAwaitedUnderLock { .. }),
        "{r}"
    );
}

/// A refresh loop on an `interval` and request handlers, on a multi-thread
/// runtime: the refresher writes the cache under the config lock, a handler
/// reads the cache and then wants the config.
#[test]
fn a_refresh_loop_and_its_handlers_in_opposite_orders() {
    silent();
    multi().block_on(async {
        let config = Arc::new(Mutex::named("tk_refresh_config", 1u32));
        let cache = Arc::new(RwLock::named("tk_refresh_cache", 0u32));
        let (c, k) = (config.clone(), cache.clone());
        let refresher = ltokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(1));
            for _ in 0..3 {
                every.tick().await;
                let step = c.lock().await;
                *k.write().await += *step;
            }
        });
        refresher.await.unwrap();
        ltokio::spawn(async move {
            let seen = cache.read().await;
            let step = config.lock().await;
            assert_eq!(*seen, 3 * *step);
        })
        .await
        .unwrap();
    });
    let r = one_report(&["tk_refresh_config"]);
    let c = circular(&r);
    assert_eq!(c.acquiring.name, "tk_refresh_config");
    assert_eq!(c.holding.name, "tk_refresh_cache");
}

/// Bare `tokio::spawn` on a multi-thread runtime, tasks contending for one
/// lock across awaits: untracked, so no false recursion from a task
/// polled on a worker where another is suspended holding the lock.
#[test]
fn a_bare_task_that_moves_releases_without_a_report() {
    silent();
    multi().block_on(async {
        let m = Arc::new(Mutex::named("tk_bare_move", 0u32));
        let mut handles = Vec::new();
        for _ in 0..4 {
            let m = m.clone();
            handles.push(tokio::spawn(async move {
                for _ in 0..50 {
                    let mut g = m.lock().await;
                    tokio::task::yield_now().await;
                    *g += 1;
                }
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(*m.lock().await, 200);
    });
    assert_no_reports(&["tk_bare_move"]);
}

#[test]
fn owned_permits_and_a_cell_set_once() {
    silent();
    multi().block_on(ltokio::task(async {
        let permits = Arc::new(Semaphore::named("tk_permits", 2));
        let a = permits.clone().acquire_owned().await.unwrap();
        let b = permits.clone().try_acquire_owned().unwrap();
        assert_eq!(permits.available_permits(), 0);
        assert!(permits.try_acquire().is_err());
        assert_eq!(lockdep::held_locks().len(), 3, "the task and two permits");
        drop(a);
        b.forget();
        assert_eq!(permits.available_permits(), 1);
        assert_eq!(lockdep::held_locks().len(), 1);
        let cell = ltokio::OnceCell::named("tk_cell_set");
        cell.set(5).unwrap();
        assert_eq!(*cell.get_or_init(|| async { 6 }).await, 5);
        assert!(cell.set(7).is_err());
    }));
    assert_no_reports(&["tk_permits", "tk_cell_set"]);
}

/// A guard that outlives the task that took it (the task's output): its
/// release, made by the joiner, has no stack to go to, and takes nothing
/// from anyone else's.
#[test]
fn a_guard_returned_by_its_task() {
    silent();
    multi().block_on(ltokio::task(async {
        let m = Arc::new(Mutex::named("tk_returned", 0u32));
        let guard = ltokio::spawn(m.clone().lock_owned()).await.unwrap();
        assert_eq!(lockdep::held_locks().len(), 1, "not the joiner's");
        drop(guard);
        let again = ltokio::spawn(async move {
            let mut g = m.lock().await;
            *g += 1;
            *g
        });
        assert_eq!(again.await.unwrap(), 1);
        assert_eq!(lockdep::held_locks().len(), 1);
    }));
    assert_no_reports(&["tk_returned"]);
}

/// A channel wait declared with `Wait`: the consumer waits for a message
/// while holding the lock its producer takes before it sends.
#[test]
fn a_channel_wait_under_a_lock_its_producer_takes() {
    silent();
    current().block_on(ltokio::task(async {
        let jobs = Arc::new(ltokio::Wait::named("tk_chan_jobs"));
        let queue = Arc::new(Mutex::named("tk_chan_queue", 0u32));
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(4);
        let (j, q) = (jobs.clone(), queue.clone());
        ltokio::spawn(async move {
            let _producing = j.notifier();
            let n = {
                let mut q = q.lock().await;
                *q += 1;
                *q
            };
            tx.send(n).await.unwrap();
        })
        .await
        .unwrap();
        let _q = queue.lock().await;
        assert_eq!(jobs.wait(rx.recv()).await, Some(1));
    }));
    let r = one_report(&["tk_chan_jobs"]);
    circular(&r);
}
