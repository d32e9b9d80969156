//! Emission: delivering reports (never unwinding), and the panic owed by
//! `Action::Panic` or a callback, raised by `raise_due` (see [`Raised`]).

use super::*;

/// Where a report is raised, which decides whether it may panic there.
///
/// The rule: a panic is raised only by a blocking acquisition, before its
/// lock is taken and before anything is recorded, outside the validator's
/// session, and not while the thread is already panicking. Never by a
/// release, a lock being dropped, an assertion or the thread's exit: they
/// run, or may run, in destructors, where a panic skips an unlock, or
/// aborts the process.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Raised {
    /// By the acquisition being validated: it panics, and is not pushed.
    AtAcquire,
    /// Where no panic may be raised: the report is printed now, and the
    /// panic is deferred to the thread's next blocking acquisition.
    Deferred,
    /// At the thread's exit: printed and recorded, never raised.
    AtExit,
}

/// What this thread owes a panic: under `Action::Panic`, the reports raised
/// since it last could panic; with a callback, the first panic it raised.
/// While anything is due, the fast path stays closed, so that the next
/// acquisition comes to [`raise_due`].
struct Due {
    reports: Vec<Arc<Report>>,
    payload: Option<Box<dyn std::any::Any + Send>>,
    /// Something raised by the acquisition under validation: it must not
    /// be pushed.
    now: bool,
}

thread_local! {
    static DUE: RefCell<Due> = const {
        RefCell::new(Due { reports: Vec::new(), payload: None, now: false })
    };
}

/// Is a panic owed by this thread? `now`: only one raised by the
/// acquisition under validation.
pub(super) fn is_due(now: bool) -> bool {
    DUE.try_with(|d| {
        d.try_borrow()
            .is_ok_and(|d| (d.now || !now) && (d.payload.is_some() || !d.reports.is_empty()))
    })
    .unwrap_or(false)
}

/// Forgets what this thread owes.
pub(crate) fn clear_due() {
    let _ = DUE.try_with(|d| {
        if let Ok(mut d) = d.try_borrow_mut() {
            d.reports.clear();
            d.payload = None;
            d.now = false;
        }
    });
}

/// Raises what this thread owes, if anything: called by blocking
/// acquisitions only, before the lock is taken and outside any session.
pub(super) fn raise_due() {
    if std::thread::panicking() {
        return;
    }
    let Some((reports, payload, now)) = DUE
        .try_with(|d| {
            let mut d = d.try_borrow_mut().ok()?;
            if d.payload.is_none() && d.reports.is_empty() {
                return None;
            }
            let now = std::mem::take(&mut d.now);
            Some((std::mem::take(&mut d.reports), d.payload.take(), now))
        })
        .ok()
        .flatten()
    else {
        return;
    };
    if let Some(payload) = payload {
        std::panic::resume_unwind(payload);
    }
    std::panic::panic_any(panic_message(&reports, !now));
}

/// The message of `Action::Panic`'s panic: a title line, then every
/// report in full, so that a test harness shows them as the failure.
pub(crate) fn panic_message(reports: &[Arc<Report>], deferred: bool) -> String {
    let mut message = match reports {
        [one] => format!("lockdep: {}", one.title()),
        _ => format!(
            "lockdep: {} reports: {}",
            reports.len(),
            reports
                .iter()
                .map(|r| r.title())
                .collect::<Vec<_>>()
                .join("; ")
        ),
    };
    if deferred {
        message.push_str(
            " (raised earlier on this thread, where no panic may be raised; \
             raised at its next blocking acquisition)",
        );
    }
    message.push('\n');
    for r in reports {
        message.push_str(&r.to_string());
    }
    message
}

/// Builds and delivers every pending report: none is skipped, whatever the
/// action does with the ones before it.
pub(super) fn emit_all(pending: Vec<Pending>, raised: Raised) {
    for p in pending {
        if let Some(report) = contained("report building", || task::refine(build(p))) {
            emit(report, raised);
        }
    }
}

/// Writes a report to standard error itself, past a test harness's
/// capture.
fn print(text: &str) {
    config::to_stderr(text);
}

/// A report as printed: in the format `LOCKDEP_REPORT_FORMAT` chose.
fn printed(report: &Report) -> String {
    match config::report_format() {
        config::ReportFormat::Text => report.to_string(),
        config::ReportFormat::Json => crate::render::json::line(report) + "\n",
    }
}

/// Delivers one report: the log, the watches, then the action. Nothing
/// here unwinds: `Action::Panic`'s panic and a callback's are recorded as
/// due, and raised (or not) by [`raise_due`].
pub(super) fn emit(report: Report, raised: Raised) {
    let report = Arc::new(report);
    report_log::push(report.clone());
    crate::watch::collect(&report);
    crate::report_file::append(&report);
    // Can a panic be raised for it, now or at the thread's next acquisition?
    // (One raised by an acquisition while the thread panics is deferred.)
    let due = raised != Raised::AtExit;
    let now = raised == Raised::AtAcquire && !std::thread::panicking();
    let owe = |report: Option<Arc<Report>>, payload: Option<Box<dyn std::any::Any + Send>>| {
        DUE.try_with(|d| {
            let Ok(mut d) = d.try_borrow_mut() else {
                return false;
            };
            d.now |= now;
            d.reports.extend(report);
            if d.payload.is_none() {
                d.payload = payload;
            }
            true
        })
        .unwrap_or(false)
    };
    match config::action() {
        Action::Print => print(&printed(&report)),
        Action::Silent => {}
        Action::Callback(f) => {
            let called = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&report)));
            if let Err(payload) = called {
                if !(due && owe(None, Some(payload))) {
                    print("lockdep: the report callback panicked where no panic may be raised\n");
                }
            }
        }
        Action::Panic => {
            let owed = due && owe(Some(report.clone()), None);
            // Raised now, the panic's message shows it; else show it now.
            if !(now && owed) {
                print(&printed(&report));
            }
        }
    }
}
