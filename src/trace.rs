//! Stack traces: captured raw, deduplicated, symbolized only for a report.
//!
//! Capture records instruction pointers and nothing else. Identical traces are
//! stored once. Symbolization (the expensive part) happens when a report is
//! built, and trims the validator's own frames from the top and the runtime's
//! start-up frames from the bottom.

use std::collections::HashMap;
use std::sync::Arc;

use crate::report::Frame;

/// Index of a stored trace.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) struct TraceId(pub(crate) u32);

impl TraceId {
    /// No trace was recorded.
    #[cfg(test)]
    pub(crate) const NONE: TraceId = TraceId(u32::MAX);
}

/// The deepest stack recorded.
const MAX_FRAMES: usize = 64;

/// Raw instruction pointers of the current stack, innermost first.
pub(crate) fn capture() -> Arc<[usize]> {
    let mut ips = Vec::with_capacity(32);
    backtrace::trace(|frame| {
        ips.push(frame.ip() as usize);
        ips.len() < MAX_FRAMES
    });
    ips.into()
}

/// Deduplicated storage of raw traces.
#[derive(Default)]
pub(crate) struct TraceStore {
    traces: Vec<Arc<[usize]>>,
    index: HashMap<Arc<[usize]>, u32>,
}

impl TraceStore {
    pub(crate) fn intern(&mut self, ips: &Arc<[usize]>) -> TraceId {
        if let Some(&id) = self.index.get(ips) {
            return TraceId(id);
        }
        let id = u32::try_from(self.traces.len()).unwrap_or(u32::MAX - 1);
        self.traces.push(ips.clone());
        self.index.insert(ips.clone(), id);
        TraceId(id)
    }

    pub(crate) fn get(&self, id: TraceId) -> Option<Arc<[usize]>> {
        self.traces.get(id.0 as usize).cloned()
    }

    pub(crate) fn len(&self) -> usize {
        self.traces.len()
    }

    /// Bytes held: each trace once, plus its index entry.
    pub(crate) fn bytes(&self) -> usize {
        self.traces
            .iter()
            .map(|t| t.len() * std::mem::size_of::<usize>() + 48)
            .sum()
    }
}

/// This crate's own source directory, as compiled.
const OWN_SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/");

/// Is this frame part of the machinery that captures or validates? Judged by
/// name and, for builds whose inlined frames carry short names, by file.
fn is_validator(f: &Frame) -> bool {
    let name = f.function.trim_start_matches('<');
    name.starts_with("lockdep::")
        || name.starts_with("backtrace::")
        || f.file.as_deref().is_some_and(|file| {
            file.starts_with(OWN_SOURCE)
                || (file.contains("/backtrace-") && file.contains("/src/backtrace/"))
        })
}

/// Is this frame standard-library plumbing (closure calls, unwinding guards,
/// thread-local access)? Such frames are dropped everywhere.
fn is_runtime(f: &Frame) -> bool {
    match &f.file {
        Some(file) => file.starts_with("/rustc/"),
        None => {
            let name = f.function.trim_start_matches('<');
            // `__rust_try` and friends: the unwinding machinery behind
            // `catch_unwind`, which carries no file; and the C library's
            // thread and process entry and teardown.
            ["std::", "core::", "alloc::", "__rust_"]
                .iter()
                .any(|p| name.starts_with(p))
                || LIBC_PLUMBING.contains(&name)
        }
    }
}

/// C library frames that start and end threads and processes.
const LIBC_PLUMBING: [&str; 8] = [
    "start_thread",
    "clone",
    "clone3",
    "__clone3",
    "__libc_start_main",
    "__libc_start_call_main",
    "_start",
    "__call_tls_dtors",
];

/// Where the runtime hands over to user code: frames from here down are start-up.
fn is_entry(f: &Frame) -> bool {
    f.function.contains("__rust_begin_short_backtrace")
        || f.function.starts_with("std::rt::lang_start")
}

/// Resolves raw instruction pointers to frames, with inlined frames expanded,
/// the validator's own frames trimmed from the top, start-up frames from the
/// bottom, and standard-library plumbing dropped.
pub(crate) fn symbolize(ips: &[usize]) -> Vec<Frame> {
    let mut frames = Vec::new();
    for &ip in ips {
        let mut resolved = false;
        backtrace::resolve(ip as *mut std::ffi::c_void, |sym| {
            resolved = true;
            frames.push(Frame {
                function: sym
                    .name()
                    .map(|n| format!("{n:#}"))
                    .unwrap_or_else(|| "<unknown>".to_string()),
                file: sym.filename().map(|p| p.display().to_string()),
                line: sym.lineno(),
            });
        });
        if !resolved {
            frames.push(Frame {
                function: format!("{ip:#x}"),
                file: None,
                line: None,
            });
        }
    }
    let mut frames = trim(frames);
    if let Ok(cwd) = std::env::current_dir() {
        let cwd = format!("{}/", cwd.display());
        for f in &mut frames {
            if let Some(rel) = f.file.as_deref().and_then(|p| p.strip_prefix(cwd.as_str())) {
                f.file = Some(rel.to_string());
            }
        }
    }
    frames
}

fn trim(mut frames: Vec<Frame>) -> Vec<Frame> {
    // Top: drop the leading run of validator and runtime frames, up to the
    // last validator frame in it.
    let mut cut = 0;
    for (i, f) in frames.iter().enumerate() {
        if is_validator(f) {
            cut = i + 1;
        } else if !is_runtime(f) {
            break;
        }
    }
    frames.drain(..cut);
    if let Some(end) = frames.iter().position(is_entry) {
        frames.truncate(end);
    }
    frames.retain(|f| !is_runtime(f));
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str) -> Frame {
        Frame {
            function: name.to_string(),
            file: None,
            line: None,
        }
    }

    #[test]
    fn trims_validator_top_and_runtime_bottom() {
        let frames = vec![
            f("backtrace::backtrace::trace"),
            f("lockdep::trace::capture"),
            f("std::thread::local::LocalKey<T>::with"),
            f("__rust_try"),
            f("<lockdep::Mutex<R,T>>::lock"),
            f("user::store"),
            f("core::ops::function::FnOnce::call_once"),
            f("user::main"),
            f("std::sys::backtrace::__rust_begin_short_backtrace"),
            f("std::rt::lang_start"),
        ];
        let names: Vec<_> = trim(frames).into_iter().map(|f| f.function).collect();
        assert_eq!(names, ["user::store", "user::main"]);
    }

    #[test]
    fn trims_by_file_when_names_are_short() {
        let at = |function: &str, file: &str| Frame {
            function: function.to_string(),
            file: Some(file.to_string()),
            line: Some(1),
        };
        let frames = vec![
            at("capture", &format!("{OWN_SOURCE}trace.rs")),
            at("with", "/rustc/abc/library/std/src/thread/local.rs"),
            at("lock", &format!("{OWN_SOURCE}mutex.rs")),
            at("store", "examples/user.rs"),
            at("call_once", "/rustc/abc/library/core/src/ops/function.rs"),
            at("main", "examples/user.rs"),
        ];
        let names: Vec<_> = trim(frames).into_iter().map(|f| f.function).collect();
        assert_eq!(names, ["store", "main"]);
    }

    #[test]
    fn store_deduplicates() {
        let mut s = TraceStore::default();
        let a: Arc<[usize]> = vec![1, 2, 3].into();
        let b: Arc<[usize]> = vec![1, 2, 3].into();
        let c: Arc<[usize]> = vec![4].into();
        assert_eq!(s.intern(&a), s.intern(&b));
        assert_ne!(s.intern(&a), s.intern(&c));
        assert_eq!(s.len(), 2);
        let id = s.intern(&c);
        assert_eq!(&*s.get(id).unwrap(), &[4]);
    }

    #[test]
    fn capture_and_symbolize_this_function() {
        #[inline(never)]
        fn marker_function_for_trace_test() -> Arc<[usize]> {
            capture()
        }
        let ips = marker_function_for_trace_test();
        assert!(!ips.is_empty());
        // Inside the crate every frame is "lockdep::", so resolve untrimmed.
        let mut names = Vec::new();
        for &ip in ips.iter() {
            backtrace::resolve(ip as *mut std::ffi::c_void, |s| {
                names.push(s.name().map(|n| format!("{n:#}")).unwrap_or_default())
            });
        }
        assert!(
            names
                .iter()
                .any(|n| n.contains("marker_function_for_trace_test")),
            "{names:?}"
        );
    }
}
