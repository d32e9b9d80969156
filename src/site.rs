//! What a construction site says about the locks built there: whether it is
//! a line of the user's code at all, and which crate and module it is in.
//!
//! A lock's default class is where it was built, through `#[track_caller]`.
//! In ordinary Rust that is often not the user's line: `(0..n).map(Mutex::new)`
//! and `repeat_with(Mutex::default)` build inside `core`, `or_default()`
//! inside `std`, and a function pointer to a constructor (`let f:
//! fn(T) -> Mutex<T> = Mutex::new`) reports the constructor's own line in
//! this crate. Such a site cannot tell the locks of two callers apart, so a
//! report that merges them says so and names the fix. Nothing here runs on
//! a lock's fast path: it is asked when a class is registered and when a
//! report is built.

/// Where a construction site is, as far as telling classes apart goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Origin {
    /// A line of the program or of a crate it uses.
    Code,
    /// Inside the standard library: an adapter (`map`, `repeat_with`,
    /// `or_default`, `unwrap_or_default`, `Arc::default`, ...) called the
    /// constructor, and every lock it builds, for any caller, shares the site.
    Toolchain,
    /// Inside this crate: a constructor called through a function pointer.
    Lockdep,
}

/// The directory of this crate's sources, as `Location::file` spells it.
fn own_dir() -> &'static str {
    let me = file!();
    me.strip_suffix("site.rs").unwrap_or(me)
}

/// Is `file` one of the toolchain's library sources? A remapped path
/// (`/rustc/<hash>/library/core/src/..`) or a local one (`.../rustlib/src/
/// rust/library/..`).
fn in_toolchain(file: &str) -> bool {
    file.starts_with("/rustc/")
        || file.contains("/rustlib/src/rust/library/")
        || file.starts_with("library/core/src/")
        || file.starts_with("library/alloc/src/")
        || file.starts_with("library/std/src/")
}

/// Classifies a construction site's file.
pub(crate) fn origin(file: &str) -> Origin {
    if in_toolchain(file) {
        Origin::Toolchain
    } else if file.strip_prefix(own_dir()).is_some_and(|rest| {
        rest.ends_with(".rs") && rest.split('/').count() <= 2 && !rest.starts_with("bin/")
    }) {
        Origin::Lockdep
    } else {
        Origin::Code
    }
}

/// The crate and module a source file belongs to, guessed from its path:
/// `core::ops::function` for the toolchain's `library/core/src/ops/function.rs`,
/// `r2d2` for a registry crate's `.../r2d2-0.8.10/src/lib.rs`, `integration`
/// for a test target's `tests/integration.rs`, `cache` for a package's own
/// `src/cache.rs` (its crate name is not in the path). `None` where the path
/// says nothing useful.
pub(crate) fn module_of(file: &str) -> Option<String> {
    let file = file.replace('\\', "/");
    let parts: Vec<&str> = file.split('/').filter(|p| !p.is_empty()).collect();
    // The last `src`, `tests`, `examples` or `benches` directory splits the
    // path into the package's directory and the module path.
    let split = parts
        .iter()
        .rposition(|p| matches!(*p, "src" | "tests" | "examples" | "benches"))?;
    let kind = parts[split];
    let package = split.checked_sub(1).map(|i| crate_name(parts[i]));
    let mut modules: Vec<String> = parts[split + 1..]
        .iter()
        .map(|p| p.strip_suffix(".rs").unwrap_or(p).replace('-', "_"))
        .collect();
    if matches!(
        modules.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        modules.pop();
    }
    let mut path = Vec::new();
    match kind {
        // A target of its own: the file (or directory) names the crate.
        "tests" | "examples" | "benches" => {}
        _ => {
            if let Some(package) = package.filter(|p| !p.is_empty()) {
                path.push(package);
            }
        }
    }
    path.extend(modules);
    (!path.is_empty()).then(|| path.join("::"))
}

/// A directory name as a crate name: `r2d2-0.8.10` -> `r2d2`, `foo-bar` ->
/// `foo_bar`.
fn crate_name(dir: &str) -> String {
    let name = match dir.rsplit_once('-') {
        Some((name, version)) if version.starts_with(|c: char| c.is_ascii_digit()) => name,
        _ => dir,
    };
    name.replace('-', "_")
}

/// The file as a report shows it: the toolchain's hash-prefixed paths are
/// shortened to `core/src/ops/function.rs`.
/// Toolchain paths lose their prefix up to `library/`, and a crate from a
/// registry (`$CARGO_HOME/registry/src/<index>/<crate>-<version>/...`)
/// its prefix up to the crate's directory, so that a name reads, and a
/// record's class key stays, the same on every machine.
pub(crate) fn short_file(file: &str) -> &str {
    if let Some(i) = file.find("/library/").filter(|_| in_toolchain(file)) {
        return &file[i + "/library/".len()..];
    }
    if let Some(i) = file.find("/registry/src/") {
        let index = &file[i + "/registry/src/".len()..];
        if let Some(j) = index.find('/') {
            return &index[j + 1..];
        }
    }
    file
}

/// A type's name without its module paths: `alloc::vec::Vec<alloc::string::String>`
/// -> `Vec<String>`.
pub(crate) fn short_type(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(word.rsplit("::").next().unwrap_or(word));
        word.clear();
    };
    for c in name.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_inside_the_toolchain_and_this_crate_are_recognized() {
        let core =
            "/rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/ops/function.rs";
        assert_eq!(origin(core), Origin::Toolchain);
        assert_eq!(
            origin("/root/.rustup/toolchains/x/lib/rustlib/src/rust/library/std/src/collections/hash/map.rs"),
            Origin::Toolchain
        );
        assert_eq!(origin(file!()), Origin::Lockdep);
        assert_eq!(origin(&format!("{}mutex.rs", own_dir())), Origin::Lockdep);
        assert_eq!(origin("tests/integration.rs"), Origin::Code);
        assert_eq!(origin("/home/u/app/src/lib.rs"), Origin::Code);
        assert_eq!(short_file(core), "core/src/ops/function.rs");
        assert_eq!(short_file("src/lib.rs"), "src/lib.rs");
        assert_eq!(
            short_file(
                "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/r2d2-0.8.10/src/lib.rs"
            ),
            "r2d2-0.8.10/src/lib.rs"
        );
    }

    #[test]
    fn modules_are_read_off_paths() {
        let m = |f: &str| module_of(f);
        assert_eq!(
            m("/rustc/abc/library/core/src/ops/function.rs").as_deref(),
            Some("core::ops::function")
        );
        assert_eq!(
            m("/root/.cargo/registry/src/index.crates.io-6f17d22bba15001f/r2d2-0.8.10/src/lib.rs")
                .as_deref(),
            Some("r2d2")
        );
        assert_eq!(
            m("/x/scheduled-thread-pool-0.2.7/src/thunk.rs").as_deref(),
            Some("scheduled_thread_pool::thunk")
        );
        assert_eq!(m("tests/integration.rs").as_deref(), Some("integration"));
        assert_eq!(m("examples/slub_sysfs.rs").as_deref(), Some("slub_sysfs"));
        assert_eq!(
            m("crates/foo-bar/src/a/mod.rs").as_deref(),
            Some("foo_bar::a")
        );
        assert_eq!(m("src/cache.rs").as_deref(), Some("cache"));
        assert_eq!(m("src/lib.rs"), None);
        assert_eq!(m("build.rs"), None);
    }

    #[test]
    fn type_names_lose_their_paths() {
        assert_eq!(short_type("u32"), "u32");
        assert_eq!(
            short_type("alloc::vec::Vec<alloc::string::String>"),
            "Vec<String>"
        );
        assert_eq!(
            short_type("core::option::Option<(u8, &str)>"),
            "Option<(u8, &str)>"
        );
    }
}
