//! `lockdep::tokio` under `Action::Panic`, in a process of its own (the
//! action is global).

mod common;
use common::{circular, one_report, silent};

use std::sync::Arc;

use lockdep::tokio::{self as ltokio, Mutex};

/// Under `Action::Panic`, the report fails the task that raised it, the
/// swap back still happens, and the worker's own stack stays clean.
#[test]
fn a_report_in_panic_mode_fails_the_task_and_nothing_else() {
    silent();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let a = Arc::new(Mutex::named("tk_panic_a", ()));
        let b = Arc::new(Mutex::named("tk_panic_b", ()));
        let (a1, b1) = (a.clone(), b.clone());
        ltokio::spawn(async move {
            let _a = a1.lock().await;
            let _b = b1.lock().await;
        })
        .await
        .unwrap();
        let failed = ltokio::spawn(async move {
            let _b = b.lock().await;
            lockdep::set_action(lockdep::Action::Panic);
            let _a = a.lock().await;
        })
        .await;
        silent();
        let err = failed.expect_err("the report panics the task");
        assert!(err.is_panic());
        assert!(
            lockdep::held_locks().is_empty(),
            "{:?}",
            lockdep::held_locks()
        );
        ltokio::spawn(async {
            assert_eq!(lockdep::held_locks().len(), 1, "only the task's own");
        })
        .await
        .unwrap();
    });
    let r = one_report(&["tk_panic_a"]);
    circular(&r);
}
