//! Stack traces: captured raw, deduplicated, symbolized only when read.
//!
//! Capture records instruction pointers and nothing else. Identical traces are
//! stored once. A report carries [`Backtrace`]s of raw addresses; the first
//! read of one symbolizes it (the expensive part), on a helper thread with a
//! big stack, so that the thread that raised the report needs no deep stack,
//! and trims the validator's own frames from the top and the runtime's
//! start-up frames from the bottom. Resolved addresses are kept in a symbol
//! cache whose size is bounded (`config::set_symbol_cache_limit`).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::report::Frame;

/// Index of a stored trace.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) struct TraceId(pub(crate) u32);

impl TraceId {
    /// No trace was recorded.
    pub(crate) const NONE: TraceId = TraceId(u32::MAX);
}

/// The deepest stack recorded.
const MAX_FRAMES: usize = 64;

/// Taken around every call into the `backtrace` crate (capture and
/// symbolization), so that a `fork` can wait for them to finish: a child
/// must not inherit the unwinder's or the symbolizer's locks held.
static UNWINDER: crate::raw::Mutex<()> = crate::raw::const_mutex(());

/// Raw instruction pointers of the current stack, innermost first.
pub(crate) fn capture() -> Arc<[usize]> {
    let mut ips = Vec::with_capacity(32);
    let _unwinder = UNWINDER.lock();
    backtrace::trace(|frame| {
        ips.push(frame.ip() as usize);
        ips.len() < MAX_FRAMES
    });
    ips.into()
}

/// Holds the trace module's locks across a `fork` (see `crate::fork`).
pub(crate) fn fork_lock() {
    // The order in which `resolve` nests them.
    std::mem::forget(SYMBOLS.lock());
    std::mem::forget(UNWINDER.lock());
}

/// Releases what [`fork_lock`] took.
///
/// # Safety
/// As [`crate::fork::release`]'s.
pub(crate) unsafe fn fork_unlock(child: bool) {
    // SAFETY: passed on from the caller.
    unsafe {
        crate::fork::release(&UNWINDER, child);
        crate::fork::release(&SYMBOLS, child);
    }
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

/// A stack trace of a report: the raw addresses captured when the report
/// was raised, symbolized the first time it is read ([`frames`](Self::frames),
/// or through `Deref` to `[Frame]`), once. Silent and callback reports that
/// nobody reads cost no symbolization.
#[derive(Clone, Default)]
pub struct Backtrace(Arc<Lazy>);

#[derive(Default)]
struct Lazy {
    ips: Arc<[usize]>,
    frames: OnceLock<Vec<Frame>>,
}

impl Backtrace {
    /// A trace already symbolized (for reports built by hand, as in tests).
    pub fn from_frames(frames: Vec<Frame>) -> Backtrace {
        Backtrace(Arc::new(Lazy {
            ips: Arc::from(Vec::new()),
            frames: OnceLock::from(frames),
        }))
    }

    /// A trace of raw instruction pointers, innermost first, symbolized when
    /// first read.
    pub(crate) fn unresolved(ips: Arc<[usize]>) -> Backtrace {
        Backtrace(Arc::new(Lazy {
            ips,
            frames: OnceLock::new(),
        }))
    }

    /// The frames, innermost first: symbolized now if they were not yet.
    pub fn frames(&self) -> &[Frame] {
        self.0
            .frames
            .get_or_init(|| symbolize_off_thread(&self.0.ips))
    }

    /// The raw instruction pointers captured, innermost first (empty for a
    /// trace built from frames).
    pub fn addresses(&self) -> &[usize] {
        &self.0.ips
    }

    /// Has the trace been symbolized yet?
    pub fn is_symbolized(&self) -> bool {
        self.0.frames.get().is_some()
    }

    /// Approximate heap bytes the trace holds (its frames once symbolized).
    pub(crate) fn bytes(&self) -> usize {
        let frames = self
            .0
            .frames
            .get()
            .map_or(0, |f| f.iter().map(frame_bytes).sum());
        std::mem::size_of::<Lazy>() + self.0.ips.len() * std::mem::size_of::<usize>() + frames
    }
}

impl std::ops::Deref for Backtrace {
    type Target = [Frame];
    fn deref(&self) -> &[Frame] {
        self.frames()
    }
}

impl fmt::Debug for Backtrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.frames()).finish()
    }
}

/// Two traces are equal when their frames are.
impl PartialEq for Backtrace {
    fn eq(&self, other: &Backtrace) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.frames() == other.frames()
    }
}

impl Eq for Backtrace {}

/// As its frames, symbolized first if they were not yet: serialize a
/// report outside any validator lock, as rendering it does.
impl serde::Serialize for Backtrace {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.frames().serialize(s)
    }
}

/// From its frames: a trace read back is symbolized already.
impl<'de> serde::Deserialize<'de> for Backtrace {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Backtrace, D::Error> {
        Vec::<Frame>::deserialize(d).map(Backtrace::from_frames)
    }
}

impl From<Vec<Frame>> for Backtrace {
    fn from(frames: Vec<Frame>) -> Backtrace {
        Backtrace::from_frames(frames)
    }
}

/// Stack size of the thread that symbolizes: reading debug information
/// takes a deep stack, which the thread that raised a report may not have.
const SYMBOLIZE_STACK: usize = 8 << 20;

/// [`symbolize`] on a helper thread with a big stack. If no thread can be
/// started, or symbolization fails, the frames are the raw addresses.
fn symbolize_off_thread(ips: &[usize]) -> Vec<Frame> {
    if ips.is_empty() {
        return Vec::new();
    }
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("lockdep-symbolize".into())
            .stack_size(SYMBOLIZE_STACK)
            .spawn_scoped(s, || {
                // Locks its allocations take (a lockdep lock in the global
                // allocator) must not enter the validator, which may be
                // waiting for this thread.
                crate::validator::untracked_thread();
                symbolize(ips)
            })
            .ok()
            .and_then(|h| h.join().ok())
    })
    .unwrap_or_else(|| ips.iter().map(|&ip| address_frame(ip)).collect())
}

fn address_frame(ip: usize) -> Frame {
    Frame {
        function: format!("{ip:#x}"),
        file: None,
        line: None,
    }
}

fn frame_bytes(f: &Frame) -> usize {
    std::mem::size_of::<Frame>() + f.function.len() + f.file.as_ref().map_or(0, String::len)
}

/// Resolved addresses (inlined frames expanded, untrimmed), bounded in
/// bytes: past the bound it starts over, and so does the `backtrace`
/// crate's cache of parsed debug information.
#[derive(Default)]
struct SymbolCache {
    frames: HashMap<usize, Arc<[Frame]>>,
    bytes: usize,
}

static SYMBOLS: crate::raw::Mutex<Option<SymbolCache>> = crate::raw::const_mutex(None);

/// Bytes held by the symbol cache.
pub(crate) fn symbol_cache_bytes() -> usize {
    SYMBOLS.lock().as_ref().map_or(0, |c| c.bytes)
}

/// The frames of one address, from the cache or resolved now.
fn resolve(ip: usize) -> Arc<[Frame]> {
    if let Some(hit) = SYMBOLS.lock().as_ref().and_then(|c| c.frames.get(&ip)) {
        return hit.clone();
    }
    let mut frames = Vec::new();
    let unwinder = UNWINDER.lock();
    backtrace::resolve(ip as *mut std::ffi::c_void, |sym| {
        frames.push(Frame {
            function: sym
                .name()
                .map(|n| format!("{n:#}"))
                .unwrap_or_else(|| "<unknown>".to_string()),
            file: sym.filename().map(|p| p.display().to_string()),
            line: sym.lineno(),
        });
    });
    drop(unwinder);
    if frames.is_empty() {
        frames.push(address_frame(ip));
    }
    let frames: Arc<[Frame]> = frames.into();
    let bytes = 64 + frames.iter().map(frame_bytes).sum::<usize>();
    let limit = crate::config::symbol_cache_limit();
    let mut cache = SYMBOLS.lock();
    let cache = cache.get_or_insert_with(SymbolCache::default);
    if cache.bytes + bytes > limit {
        *cache = SymbolCache::default();
        let _unwinder = UNWINDER.lock();
        backtrace::clear_symbol_cache();
    }
    if bytes <= limit && cache.frames.insert(ip, frames.clone()).is_none() {
        cache.bytes += bytes;
    }
    frames
}

/// This crate's own source directory, as compiled.
const OWN_SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/");

/// Is this frame part of the machinery that captures or validates (the
/// locks' `lock_api` layer included)? Judged by
/// name and, for builds whose inlined frames carry short names, by file.
fn is_validator(f: &Frame) -> bool {
    let name = f.function.trim_start_matches('<');
    name.starts_with("lockdep::")
        || name.starts_with("backtrace::")
        || name.starts_with("lock_api::")
        || f.file.as_deref().is_some_and(|file| {
            file.starts_with(OWN_SOURCE)
                || (file.contains("/backtrace-") && file.contains("/src/backtrace/"))
                || (file.contains("/lock_api-") && file.contains("/src/"))
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
    let frames: Vec<Frame> = ips.iter().flat_map(|&ip| resolve(ip).to_vec()).collect();
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
    // Below the top, lockdep's own frames are plumbing too (a work queue's
    // worker, a spawned thread's wrapper): a report shows only the
    // program's.
    frames.retain(|f| !is_validator(f));
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
            f("<lockdep::lock::Tracked<R> as lock_api::mutex::RawMutex>::lock"),
            f("lock_api::mutex::Mutex<R,T>::lock"),
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
    fn drops_lockdeps_frames_below_the_top_too() {
        let frames = vec![
            f("lockdep::trace::capture"),
            f("user::remove_work"),
            f("user::add::{{closure}}"),
            f("lockdep::workqueue::Work::run::{{closure}}"),
            f("lockdep::workqueue::Shared::worker"),
            f("std::sys::backtrace::__rust_begin_short_backtrace"),
        ];
        let names: Vec<_> = trim(frames).into_iter().map(|f| f.function).collect();
        assert_eq!(names, ["user::remove_work", "user::add::{{closure}}"]);
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
