//! Renderers: pure functions from a [`Report`] to output.
//!
//! [`text`] follows the layout of the Linux kernel's lockdep reports section
//! by section, so anyone who has read a kernel splat can read these.
//! [`json`] writes a report as a [`schema`](crate::schema) document, and
//! [`sarif`] writes reports as a SARIF 2.1.0 log for code scanning, and
//! [`dump`] renders [`crate::dump()`].

pub mod dump;
pub mod json;
pub mod sarif;

use std::fmt::Write;

use crate::report::{Frame, LockInfo, Problem, RecursionCause, Report, SiteOrigin};

/// Column of the second thread in the scenario table.
const SECOND_COLUMN: usize = 31;

/// Renders a report in the kernel's text layout.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    let title = format!("WARNING: {}", report.title());
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", "=".repeat(title.len()));
    let _ = writeln!(out, "{title}");
    let p = &report.process;
    match &p.kernel {
        Some(ident) => {
            let _ = writeln!(out, "{ident}");
        }
        None => {
            let _ = writeln!(
                out,
                "lockdep {} pid {} ({})",
                p.lockdep_version, p.pid, p.executable
            );
        }
    }
    let _ = writeln!(out, "{}", "-".repeat(title.len()));
    let thread = &report.thread;
    let kernel = p.kernel.is_some();
    // A kernel report's words: its tasks run on CPUs.
    let (task, cpu) = if kernel {
        ("task", "CPU")
    } else {
        ("thread", "THREAD")
    };
    match &report.problem {
        Problem::CircularDependency {
            acquiring,
            holding,
            chain,
        }
        | Problem::TaskAwaitedUnderLock {
            acquiring,
            holding,
            chain,
        } => {
            let _ = writeln!(out, "{thread} is trying to acquire lock:");
            lock_line(&mut out, None, acquiring);
            let _ = writeln!(
                out,
                "
but {task} is already holding lock:"
            );
            lock_line(&mut out, None, holding);
            let _ = writeln!(
                out,
                "
which lock already depends on the new lock.
"
            );
            if matches!(report.problem, Problem::TaskAwaitedUnderLock { .. }) {
                let _ = writeln!(
                    out,
                    "The cycle goes through a task: its JoinHandle is awaited by code
\
                     holding a lock that the task takes, so neither can finish."
                );
            }
            let _ = writeln!(out);
            let _ = writeln!(out, "the existing dependency chain (in reverse order) is:");
            for (i, link) in chain.iter().enumerate() {
                let depth = chain.len() - 1 - i;
                let _ = writeln!(
                    out,
                    "\n-> #{depth} ({}){{{}}}{}:",
                    link.lock.name,
                    link.lock.usage,
                    wait_context(&link.lock)
                );
                if let Some(who) = &link.learned_by {
                    let _ = writeln!(out, "       [learned by {who}]");
                }
                frames(&mut out, "       ", &link.trace, kernel);
            }
            let _ = writeln!(out, "\nother info that might help us debug this:\n");
            // The class next to the held one on the path; the cycle is longer
            // than two exactly when it is not the lock being acquired.
            let parent = chain.get(1).map_or(acquiring, |l| &l.lock);
            if parent.class != acquiring.class {
                let _ = writeln!(out, "Chain exists of:");
                let _ = writeln!(
                    out,
                    "  {} --> {} --> {}\n",
                    acquiring.name, parent.name, holding.name
                );
            }
            let _ = writeln!(out, " Possible unsafe locking scenario:\n");
            two_columns(&mut out, cpu);
            scenario(&mut out, 0, verb(holding), &holding.name);
            // As the kernel prints it: THREAD1's lines are plain acquisitions.
            scenario(&mut out, 1, "lock", &parent.name);
            scenario(&mut out, 1, "lock", &holding.name);
            scenario(&mut out, 0, verb(acquiring), &acquiring.name);
            let _ = writeln!(out, "\n *** DEADLOCK ***\n");
        }
        Problem::RecursiveLocking {
            acquiring,
            holding,
            comparison,
            cause,
        } => {
            let _ = writeln!(out, "{thread} is trying to acquire lock:");
            lock_line(&mut out, None, acquiring);
            let _ = writeln!(out, "\nbut {task} is already holding lock:");
            lock_line(&mut out, None, holding);
            match comparison {
                Some(c) if kernel => {
                    let _ = writeln!(
                        out,
                        "and the lock comparison function returns {}:",
                        *c as i8
                    );
                }
                Some(c) => {
                    let _ = writeln!(out, "and the lock order function returns {c:?}:");
                }
                None => {}
            }
            let _ = writeln!(out, "\nother info that might help us debug this:");
            let _ = writeln!(out, " Possible unsafe locking scenario:\n");
            one_column(&mut out, cpu);
            scenario(&mut out, 0, verb(holding), &holding.name);
            scenario(&mut out, 0, verb(acquiring), &acquiring.name);
            let _ = writeln!(out, "\n *** DEADLOCK ***\n");
            if kernel && *cause == RecursionCause::SameKey {
                let _ = writeln!(out, " May be due to missing lock nesting notation\n");
            } else {
                recursion_hint(&mut out, cause);
            }
        }
        Problem::BadUnlockBalance { releasing } => {
            let _ = writeln!(
                out,
                "{thread} is trying to release lock ({}) at:",
                releasing.name
            );
            match &releasing.at {
                Some(at) => {
                    let _ = writeln!(out, "{at}");
                }
                None => {
                    let _ = writeln!(out, "<unknown>");
                }
            }
            let _ = writeln!(out, "but there are no more locks to release!");
            let _ = writeln!(out, "\nother info that might help us debug this:");
        }
        Problem::HeldAtThreadExit => {
            let _ = writeln!(out, "{thread} is exiting with locks still held!");
            let _ = writeln!(out, "(a guard was leaked, e.g. with mem::forget)\n");
        }
        Problem::HeldLockFreed { lock } => {
            let _ = writeln!(out, "{thread} is freeing a lock it still holds:");
            lock_line(&mut out, None, lock);
            let _ = writeln!(out, "\nother info that might help us debug this:");
        }
        Problem::AssertionFailed {
            lock,
            expected_held,
        } => {
            let (claim, truth) = if *expected_held {
                ("holds", "but it does not.")
            } else {
                ("does not hold", "but it does.")
            };
            let _ = writeln!(out, "{thread} asserted that it {claim} lock:");
            lock_line(&mut out, None, lock);
            let _ = writeln!(out, "{truth}\n");
        }
        Problem::PinnedLockReleased { lock } => {
            let _ = writeln!(out, "{thread} is releasing a pinned lock:");
            lock_line(&mut out, None, lock);
            let _ = writeln!(
                out,
                "\nwhose holder pinned it to stay held across what it called.\n"
            );
        }
        Problem::NestLockNotHeld {
            acquiring,
            nest_lock,
        } => {
            let _ = writeln!(out, "{thread} is trying to acquire lock:");
            lock_line(&mut out, None, acquiring);
            let _ = writeln!(out, "\nunder the nest lock:");
            lock_line(&mut out, None, nest_lock);
            let _ = writeln!(out, "\nbut {task} is not holding it!\n");
        }
        Problem::InconsistentLockState {
            lock,
            registered,
            new_usage,
            irq_state,
            registered_at,
            irq_events,
        } => {
            let _ = writeln!(
                out,
                "inconsistent {{{registered}}} -> {{{new_usage}}} usage."
            );
            let _ = writeln!(out, "{thread} [{irq_state}] takes:");
            lock_line(&mut out, None, lock);
            let _ = writeln!(out, "{{{registered}}} state was registered at:");
            frames(&mut out, "  ", registered_at, kernel);
            for line in irq_events {
                let _ = writeln!(out, "{line}");
            }
            let _ = writeln!(out, "\nother info that might help us debug this:");
            let _ = writeln!(out, " Possible unsafe locking scenario:\n");
            one_column(&mut out, cpu);
            scenario(&mut out, 0, "lock", &lock.name);
            let _ = writeln!(out, "  <Interrupt>");
            scenario(&mut out, 2, "lock", &lock.name);
            let _ = writeln!(out, "\n *** DEADLOCK ***\n");
        }
        Problem::HeldAcrossAwait { lock, task } => {
            let _ = writeln!(out, "{thread} is suspending a task at an .await:");
            lock_line(&mut out, None, task);
            let _ = writeln!(out, "\nwhile it holds the thread-bound lock:");
            lock_line(&mut out, None, lock);
            let _ = writeln!(
                out,
                "\nAnother task polled on this thread that takes the lock blocks the\n\
                 thread, and this task cannot run to release it.\n"
            );
            let _ = writeln!(out, " Possible unsafe locking scenario:\n");
            let _ = writeln!(out, "       TASK0                   TASK1 (same thread)");
            let _ = writeln!(out, "       -----                   -------------------");
            scenario(&mut out, 0, verb(lock), &lock.name);
            let _ = writeln!(out, "  .await;");
            scenario(&mut out, 1, verb(lock), &lock.name);
            let _ = writeln!(out, "\n *** DEADLOCK ***\n");
        }
        Problem::BlockingWaitInTask {
            waiting,
            holding,
            task,
        } => {
            let _ = writeln!(out, "{thread} is blocking, in a task:");
            lock_line(&mut out, None, task);
            let _ = writeln!(out, "\non the wait:");
            lock_line(&mut out, None, waiting);
            let _ = writeln!(out, "\nwhile the task holds the async lock:");
            lock_line(&mut out, None, holding);
            let _ = writeln!(
                out,
                "\nwhich another task takes: that task waits for this one, whose thread\n\
                 is blocked; if the wait needs that task, or the thread, neither ends.\n"
            );
            let _ = writeln!(out, " Possible unsafe locking scenario:\n");
            let _ = writeln!(out, "       TASK0                   TASK1");
            let _ = writeln!(out, "       -----                   -----");
            scenario(&mut out, 0, verb(holding), &holding.name);
            scenario(&mut out, 1, verb(holding), &holding.name);
            scenario(&mut out, 0, "wait", &waiting.name);
            let _ = writeln!(out, "\n *** DEADLOCK ***\n");
        }
    }
    held_locks(&mut out, report);
    let _ = writeln!(out, "\nstack backtrace:");
    frames(&mut out, " ", &report.backtrace, kernel);
    out
}

fn verb(lock: &LockInfo) -> &'static str {
    if lock.mode.is_shared() {
        "rlock"
    } else {
        "lock"
    }
}

/// A scenario line: column 0 and 1 are the two threads (CPUs), 2 is the
/// first one's interrupt handler.
fn scenario(out: &mut String, column: usize, verb: &str, name: &str) {
    let indent = match column {
        0 => 2,
        1 => SECOND_COLUMN,
        _ => 4,
    };
    let _ = writeln!(out, "{}{verb}({name});", " ".repeat(indent));
}

/// The scenario table's header for two threads (`THREAD`) or CPUs (`CPU`).
fn two_columns(out: &mut String, who: &str) {
    let first = format!("{who}0");
    let rule = "-".repeat(first.len());
    let pad = SECOND_COLUMN - 7 - first.len();
    let _ = writeln!(out, "       {first}{}{who}1", " ".repeat(pad));
    let _ = writeln!(out, "       {rule}{}{rule}", " ".repeat(pad));
}

fn one_column(out: &mut String, who: &str) {
    let _ = writeln!(out, "       {who}0");
    let _ = writeln!(out, "       {}", "-".repeat(who.len() + 1));
}

/// The kernel's `-{outer:inner}` suffix, when the report has one.
fn wait_context(lock: &LockInfo) -> String {
    match lock.kernel.as_ref().and_then(|k| k.wait_context.as_ref()) {
        Some(w) => format!("-{{{w}}}"),
        None => String::new(),
    }
}

/// A lock line: `held` is its index in the held-lock list. Lockdep's own
/// are ` (name){usage}, at: file:line:col` (` #i: (name)...` when held); a
/// kernel's are as the kernel prints them, ` (name)` after the instance's
/// address or a space, after ` #i: ` when held.
fn lock_line(out: &mut String, held: Option<usize>, lock: &LockInfo) {
    let prefix = held.map(|i| format!(" #{i}: ")).unwrap_or_default();
    match &lock.kernel {
        Some(k) => {
            let _ = write!(
                out,
                "{prefix}{} ({}){{{}}}{}",
                k.instance.as_deref().unwrap_or(""),
                lock.name,
                lock.usage,
                wait_context(lock)
            );
            if let Some(at) = &k.at {
                let _ = write!(out, ", at: {at}");
            }
        }
        None => {
            let prefix = if held.is_some() { prefix } else { " ".into() };
            let _ = write!(out, "{prefix}({}){{{}}}", lock.name, lock.usage);
            if let Some(at) = &lock.at {
                let _ = write!(out, ", at: {at}");
            }
        }
    }
    let _ = writeln!(out);
}

fn held_locks(out: &mut String, report: &Report) {
    let thread = &report.thread;
    match report.held.len() {
        0 => {
            let _ = writeln!(out, "no locks held by {thread}.");
        }
        n => {
            let plural = if n == 1 { "" } else { "s" };
            let _ = writeln!(out, "{n} lock{plural} held by {thread}:");
            for (i, lock) in report.held.iter().enumerate() {
                lock_line(out, Some(i), lock);
            }
        }
    }
}

/// A stack, one frame a line: `function at file:line`, or in a kernel's
/// layout (`kernel`) `symbol file:line [inline]`, the function's bracketed
/// markers (`[inline]`, `[module]`) after the place.
fn frames(out: &mut String, indent: &str, frames: &[Frame], kernel: bool) {
    if frames.is_empty() {
        let _ = writeln!(out, "{indent}<no frames>");
    }
    for f in frames {
        let (function, markers) = match f.function.find(" [") {
            Some(i) if kernel => f.function.split_at(i),
            _ => (f.function.as_str(), ""),
        };
        let _ = write!(out, "{indent}{function}");
        if let Some(file) = &f.file {
            let at = if kernel { " " } else { " at " };
            let _ = write!(out, "{at}{file}");
            if let Some(line) = f.line {
                let _ = write!(out, ":{line}");
            }
        }
        let _ = writeln!(out, "{markers}");
    }
}

/// What a recursion report says after the scenario: where an annotation
/// could help, which one; where the class hides the locks' construction,
/// why, and the one-line fix.
fn recursion_hint(out: &mut String, cause: &RecursionCause) {
    let text = match cause {
        RecursionCause::SameLock => return,
        RecursionCause::Disorder => {
            " May be due to locks of an ordered class taken out of order\n".to_string()
        }
        RecursionCause::SameKey => " May be due to missing lock nesting notation\n \
             (both locks have the class of one key: annotate the nesting with\n \
             lock_nested(n), lock_under(&nest) or an ordered key, or give them\n \
             different keys)\n"
            .to_string(),
        RecursionCause::SameSite { built_at, origin } => match origin {
            SiteOrigin::Code => format!(
                " May be due to missing lock nesting notation\n \
                 (both locks were built at {built_at}. If they are one role, as a\n \
                 lock in every node is, annotate the nesting: lock_nested(n),\n \
                 lock_under(&nest) or an ordered key. If they play different roles\n \
                 (two fields of one #[derive(Default)] struct, a macro, a helper\n \
                 function), give each its own class: named(\"..\") or with_key(..)\n \
                 where it is built, or #[track_caller] on the helper)\n"
            ),
            SiteOrigin::Toolchain => format!(
                " Both locks were built inside the standard library, at\n \
                 {built_at},\n \
                 which hides the line that built them: two such locks are one class\n \
                 when they protect one type. Build each at its own line, with a\n \
                 closure: .map(|v| Mutex::new(v)), or_insert_with(|| Mutex::new(..)),\n \
                 or give it a class: named(\"..\") or with_key(..)\n"
            ),
            SiteOrigin::Lockdep => format!(
                " Both locks were built through a function pointer to a lockdep\n \
                 constructor ({built_at}), which hides the line that built them.\n \
                 Call the constructor from a closure, or give the lock a class:\n \
                 named(\"..\") or with_key(..)\n"
            ),
        },
    };
    let _ = writeln!(out, "{text}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::class::ClassId;
    use crate::held::Mode;
    use crate::report::{Backtrace, ChainLink, ProcessInfo, Site, ThreadInfo};

    fn lock(id: u32, name: &str, mode: Mode) -> LockInfo {
        LockInfo {
            class: ClassId(id),
            name: name.into(),
            usage: "+..".into(),
            mode,
            trylock: false,
            at: Some(Site {
                file: "src/x.rs".into(),
                line: 1,
                column: 2,
            }),
            kernel: None,
        }
    }

    fn report(problem: Problem, held: Vec<LockInfo>) -> Report {
        Report {
            process: ProcessInfo {
                pid: 7,
                executable: "x".into(),
                lockdep_version: "0.0.0",
                test: None,
                kernel: None,
            },
            thread: ThreadInfo {
                name: "main".into(),
                id: 1,
            },
            problem,
            held,
            backtrace: Backtrace::from_frames(vec![Frame {
                function: "x::main".into(),
                file: Some("src/x.rs".into()),
                line: Some(3),
            }]),
        }
    }

    fn link(l: LockInfo) -> ChainLink {
        ChainLink {
            lock: l,
            dependency: "EN".into(),
            trace: Backtrace::default(),
            learned_by: None,
        }
    }

    #[test]
    fn two_lock_cycle_has_no_chain_section() {
        let a = lock(0, "A", Mode::Exclusive);
        let b = lock(1, "B", Mode::Shared);
        let r = report(
            Problem::CircularDependency {
                acquiring: b.clone(),
                holding: a.clone(),
                chain: vec![link(a.clone()), link(b.clone())],
            },
            vec![a.clone()],
        );
        let t = text(&r);
        assert!(!t.contains("Chain exists of:"));
        assert!(t.contains("\n  lock(A);\n                               lock(B);\n                               lock(A);\n  rlock(B);\n"), "{t}");
        assert!(t.contains("-> #1 (A){+..}:"));
        assert!(t.contains("1 lock held by main/1:\n #0: (A){+..}, at: src/x.rs:1:2\n"));
        assert!(t.contains("*** DEADLOCK ***"));
        let held_shared = LockInfo {
            mode: Mode::Shared,
            ..a.clone()
        };
        let r = report(
            Problem::CircularDependency {
                acquiring: b.clone(),
                holding: held_shared.clone(),
                chain: vec![link(held_shared), link(b.clone())],
            },
            vec![],
        );
        let t = text(&r);
        assert!(t.contains("\n  rlock(A);\n                               lock(B);\n                               lock(A);\n  rlock(B);\n"), "{t}");
    }

    #[test]
    fn longer_cycle_prints_the_chain() {
        let a = lock(0, "A", Mode::Exclusive);
        let b = lock(1, "B", Mode::Exclusive);
        let c = lock(2, "C", Mode::Exclusive);
        let r = report(
            Problem::CircularDependency {
                acquiring: c.clone(),
                holding: a.clone(),
                chain: vec![link(a.clone()), link(b), link(c)],
            },
            vec![],
        );
        let t = text(&r);
        assert!(t.contains("Chain exists of:\n  C --> B --> A\n"), "{t}");
        assert!(t.contains("no locks held by main/1."));
    }

    #[test]
    fn title_rule_matches_title_width() {
        let a = lock(0, "A", Mode::Exclusive);
        let r = report(Problem::BadUnlockBalance { releasing: a }, vec![]);
        let t = text(&r);
        let lines: Vec<_> = t.lines().collect();
        assert_eq!(lines[1].len(), lines[2].len());
        assert_eq!(lines[2], "WARNING: bad unlock balance detected!");
    }
}
