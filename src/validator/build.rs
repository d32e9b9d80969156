//! Report assembly, outside the graph lock: a [`Report`] from each `Pending`.

use super::*;

pub(super) fn usage_of<'a>(
    g: &Graph,
    locks: impl Iterator<Item = &'a HeldLock>,
) -> HashMap<ClassId, u8> {
    locks.map(|h| (h.class, g.usage(h.class))).collect()
}

pub(super) fn bad_unlock(
    st: &ThreadState,
    class: ClassId,
    at: Option<&'static Location<'static>>,
) -> Pending {
    let usage = with_global(|g| usage_of(&g.graph, st.held.iter()));
    let mut releasing = lock_info(class, 0, Mode::Exclusive, false, at);
    releasing.usage = usage_string(with_global(|g| g.graph.usage(class)));
    Pending::Ready(Box::new(Report {
        process: process_info(),
        thread: thread_info(),
        problem: Problem::BadUnlockBalance { releasing },
        held: held_info(&st.held, &usage),
        backtrace: Backtrace::unresolved(trace::capture()),
    }))
}

pub(super) fn usage_string(bits: u8) -> String {
    [
        graph::USED_EXCLUSIVE,
        graph::USED_SHARED,
        graph::USED_RECURSIVE,
    ]
    .iter()
    .map(|&b| if bits & b != 0 { '+' } else { '.' })
    .collect()
}

pub(super) fn lock_info(
    class: ClassId,
    usage: u8,
    mode: Mode,
    trylock: bool,
    at: Option<&Location<'_>>,
) -> LockInfo {
    LockInfo {
        class,
        name: class::class_name(class),
        usage: usage_string(usage),
        mode,
        trylock,
        at: at.map(Site::from_location),
        kernel: None,
    }
}

/// A held (or being acquired) lock: its class's recorded usage, plus the
/// mode of this acquisition, which is a use too.
pub(super) fn held_lock_info(h: &HeldLock, usage: &HashMap<ClassId, u8>) -> LockInfo {
    lock_info(
        h.class,
        usage.get(&h.class).copied().unwrap_or(0) | graph::usage_bit(h.mode),
        h.mode,
        h.trylock,
        Some(h.at),
    )
}

pub(super) fn held_info(held: &[HeldLock], usage: &HashMap<ClassId, u8>) -> Vec<LockInfo> {
    held.iter().map(|h| held_lock_info(h, usage)).collect()
}

pub(crate) fn process_info() -> ProcessInfo {
    ProcessInfo {
        pid: std::process::id(),
        executable: std::env::current_exe()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "<unknown>".to_string()),
        lockdep_version: env!("CARGO_PKG_VERSION"),
        test: std::env::var("NEXTEST_TEST_NAME").ok(),
        kernel: None,
    }
}

pub(super) fn thread_info() -> ThreadInfo {
    if let Some(exiting) = exit_later::thread() {
        return exiting;
    }
    let t = std::thread::current();
    let id = format!("{:?}", t.id());
    ThreadInfo {
        name: t.name().unwrap_or("<unnamed>").to_string(),
        id: id
            .trim_start_matches("ThreadId(")
            .trim_end_matches(')')
            .parse()
            .unwrap_or(0),
    }
}

/// What makes `next` and the held `prev` one class.
fn recursion_cause(
    next: &HeldLock,
    prev: &HeldLock,
    comparison: Option<std::cmp::Ordering>,
) -> RecursionCause {
    if comparison.is_some() {
        return RecursionCause::Disorder;
    }
    if next.instance == prev.instance {
        return RecursionCause::SameLock;
    }
    match class::info(next.class).site {
        Some(site) => RecursionCause::SameSite {
            built_at: Site {
                file: crate::site::short_file(site.file).to_string(),
                line: site.line,
                column: site.column,
            },
            origin: match site.origin {
                crate::site::Origin::Code => SiteOrigin::Code,
                crate::site::Origin::Toolchain => SiteOrigin::Toolchain,
                crate::site::Origin::Lockdep => SiteOrigin::Lockdep,
            },
        },
        None => RecursionCause::SameKey,
    }
}

/// Turns pending data into a report: names, usage strings, and traces that
/// are symbolized when first read. Runs without any validator lock held.
pub(super) fn build(p: Pending) -> Report {
    match p {
        Pending::Ready(r) => *r,
        Pending::Recursive {
            next,
            prev,
            current,
            held,
            usage,
            comparison,
        } => Report {
            process: process_info(),
            thread: thread_info(),
            problem: Problem::RecursiveLocking {
                acquiring: held_lock_info(&next, &usage),
                holding: held_lock_info(&prev, &usage),
                comparison,
                cause: recursion_cause(&next, &prev, comparison),
            },
            held: held_info(&held, &usage),
            backtrace: Backtrace::unresolved(current),
        },
        Pending::Circular {
            next,
            prev,
            path,
            current,
            held,
            usage,
        } => {
            let backtrace = Backtrace::unresolved(current);
            let u = |c: ClassId| usage.get(&c).copied().unwrap_or(0);
            // Print order: the held lock's class (#N), back along the path,
            // to the lock being acquired (#0) with the current stack.
            let mut chain: Vec<ChainLink> = path
                .iter()
                .rev()
                .map(|p| ChainLink {
                    lock: lock_info(p.to, u(p.to), Mode::Exclusive, false, None),
                    dependency: graph::dep_names(p.dep),
                    trace: p
                        .trace
                        .clone()
                        .map(Backtrace::unresolved)
                        .unwrap_or_default(),
                    learned_by: None,
                })
                .collect();
            chain.push(ChainLink {
                lock: lock_info(next.class, u(next.class), next.mode, false, None),
                dependency: graph::dep_names(graph::dep_bit(prev.mode, next.mode)),
                trace: backtrace.clone(),
                learned_by: None,
            });
            Report {
                process: process_info(),
                thread: thread_info(),
                problem: Problem::CircularDependency {
                    acquiring: held_lock_info(&next, &usage),
                    holding: held_lock_info(&prev, &usage),
                    chain,
                },
                held: held_info(&held, &usage),
                backtrace,
            }
        }
    }
}
