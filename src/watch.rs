//! Watching for reports, for tests: assert that a block, or a whole test,
//! raised none.
//!
//! A [`Watch`] collects the reports raised while it lives: by default those
//! of the thread that made it and of the threads it spawns through
//! [`crate::thread`] (their `spawn` and `scope` hand the watch down);
//! [`watch_all`] collects every thread's. Whatever the action, a watched
//! report is also in [`crate::reports`]. The crate docs (In test suites)
//! have an example.

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::report::Report;

/// Where a watch's reports go.
type Collector = crate::raw::Mutex<Vec<Arc<Report>>>;

thread_local! {
    /// The watches of this thread (its own, and those handed down to it).
    static WATCHES: RefCell<Vec<Arc<Collector>>> = const { RefCell::new(Vec::new()) };
}

/// The watches of every thread ([`watch_all`]).
static ALL: crate::raw::Mutex<Vec<Arc<Collector>>> = crate::raw::const_mutex(Vec::new());

/// Hands a report to the watches that see it (from the validator's emit).
pub(crate) fn collect(report: &Arc<Report>) {
    let _ = WATCHES.try_with(|w| {
        if let Ok(w) = w.try_borrow() {
            for c in w.iter() {
                c.lock().push(report.clone());
            }
        }
    });
    for c in ALL.lock().iter() {
        c.lock().push(report.clone());
    }
}

/// The watches a thread spawned now inherits (see [`Inherited::adopt`]).
pub(crate) fn inherit() -> Inherited {
    Inherited(
        WATCHES
            .try_with(|w| w.try_borrow().map(|w| w.clone()).unwrap_or_default())
            .unwrap_or_default(),
    )
}

/// Watches handed from a thread to the threads it spawns.
pub(crate) struct Inherited(Vec<Arc<Collector>>);

impl Inherited {
    /// Watches the calling (new) thread with them until the result is dropped.
    pub(crate) fn adopt(self) -> impl Drop {
        let _ = WATCHES.try_with(|w| {
            if let Ok(mut w) = w.try_borrow_mut() {
                w.extend(self.0.iter().cloned());
            }
        });
        Unwatch(self.0)
    }
}

/// Removes the collectors from the calling thread's watches when dropped.
struct Unwatch(Vec<Arc<Collector>>);

impl Drop for Unwatch {
    fn drop(&mut self) {
        for c in &self.0 {
            remove_local(c);
        }
    }
}

fn remove_local(c: &Arc<Collector>) {
    let _ = WATCHES.try_with(|w| {
        if let Ok(mut w) = w.try_borrow_mut() {
            w.retain(|x| !Arc::ptr_eq(x, c));
        }
    });
}

/// Watches the reports raised on the calling thread, and on the threads it
/// spawns with [`crate::thread`], until the watch is dropped.
///
/// Dropped with reports collected, and not taken, the watch panics with
/// them (the usual assertion of a test), unless the thread is already
/// panicking. Threads spawned with `std::thread` do not inherit it: use
/// [`watch_all`] for those.
pub fn watch() -> Watch {
    let collector = Arc::new(Collector::new(Vec::new()));
    let _ = WATCHES.try_with(|w| {
        if let Ok(mut w) = w.try_borrow_mut() {
            w.push(collector.clone());
        }
    });
    Watch {
        collector,
        all: false,
        done: false,
        _not_send: PhantomData,
    }
}

/// Watches the reports raised on every thread of the process until the
/// watch is dropped. Tests that run in parallel in one process see each
/// other's reports through it.
pub fn watch_all() -> Watch {
    let collector = Arc::new(Collector::new(Vec::new()));
    ALL.lock().push(collector.clone());
    Watch {
        collector,
        all: true,
        done: false,
        _not_send: PhantomData,
    }
}

/// Runs `f`, then panics with the reports it raised (on this thread and on
/// the threads it spawned with [`crate::thread`]), if any; returns `f`'s
/// result otherwise. A panic of `f` goes through as it is.
pub fn assert_no_reports<R>(f: impl FnOnce() -> R) -> R {
    let watch = watch();
    let r = f();
    watch.assert_none();
    r
}

/// Reports collected while it lives; see [`watch`] and [`watch_all`].
/// Not `Send`: it belongs to the thread that watches.
#[must_use = "the watch ends when dropped"]
pub struct Watch {
    collector: Arc<Collector>,
    all: bool,
    done: bool,
    _not_send: PhantomData<*const ()>,
}

impl Watch {
    /// The reports collected so far, oldest first.
    pub fn reports(&self) -> Vec<Arc<Report>> {
        self.collector.lock().clone()
    }

    /// Ends the watch and returns its reports, without asserting anything.
    pub fn take(mut self) -> Vec<Arc<Report>> {
        self.done = true;
        std::mem::take(&mut *self.collector.lock())
    }

    /// Ends the watch, and panics with its reports if there are any.
    pub fn assert_none(mut self) {
        self.done = true;
        let reports = std::mem::take(&mut *self.collector.lock());
        fail(&reports);
    }
}

/// Panics with `reports`, if any: the message is the validator's own, so
/// that a harness shows every report in full. A panic owed by this thread
/// for them is forgiven, since this one replaces it.
fn fail(reports: &[Arc<Report>]) {
    if reports.is_empty() {
        return;
    }
    crate::validator::clear_due();
    let head = match reports {
        [_] => "lockdep: a report was raised where none was expected:",
        _ => "lockdep: reports were raised where none was expected:",
    };
    std::panic::panic_any(format!(
        "{head} {}",
        crate::validator::panic_message(reports, false).trim_start_matches("lockdep: ")
    ));
}

impl Drop for Watch {
    fn drop(&mut self) {
        if self.all {
            ALL.lock().retain(|c| !Arc::ptr_eq(c, &self.collector));
        } else {
            remove_local(&self.collector);
        }
        if !self.done && !std::thread::panicking() {
            let reports = std::mem::take(&mut *self.collector.lock());
            fail(&reports);
        }
    }
}

impl fmt::Debug for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watch")
            .field("all_threads", &self.all)
            .field("reports", &self.collector.lock().len())
            .finish()
    }
}
