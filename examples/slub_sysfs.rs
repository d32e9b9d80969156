//! The seed, replayed: "slub: make sysfs file removal asynchronous".
//!
//! `kmem_cache_destroy()` held `slab_mutex` while it removed the cache's sysfs
//! files, and removing a file waits until its active references drain. A write
//! to such a file holds an active reference while it takes `slab_mutex`. That
//! is an ABBA deadlock between `slab_mutex` and the drain, and lockdep found it
//! without the hang ever happening: each path ran once, on its own.
//!
//! This program runs the same system with real threads and blocking
//! primitives:
//!
//! - default: removal is synchronous, under `slab_mutex`; the circular
//!   dependency `slab_mutex -> s_active#N -> slab_mutex` is reported;
//! - `--fixed`: removal is punted to a work item, as the patch does, with a
//!   reference that keeps the cache alive until the work runs; no report;
//! - `--flush-under-lock`: the fixed version, except that destroy waits for the
//!   removal work while still holding `slab_mutex`; the three-class chain
//!   `slab_mutex -> (work_completion) -> s_active#N -> slab_mutex` is reported.
//!
//! Each path runs once, in sequence, so nothing actually deadlocks, and the
//! program exits 0 in every mode.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use lockdep::{Active, ClassKey, LockMap, Mode, Mutex, Work, WorkQueue};

/// How `sysfs_slab_remove()` removes a cache's files.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Removal {
    /// Before the fix: synchronously, from `kmem_cache_destroy()`.
    Sync,
    /// The fix: from a work item.
    Async,
    /// The fix, misused: the work item is flushed under `slab_mutex`.
    AsyncFlushUnderLock,
}

static SLAB_MUTEX_KEY: ClassKey = ClassKey::new("slab_mutex");
/// The list of caches, and the lock that serialises cache creation,
/// destruction and tuning.
static SLAB_MUTEX: Mutex<Vec<Arc<KmemCache>>> = Mutex::with_key(&SLAB_MUTEX_KEY, Vec::new());

/// `get_online_cpus()`: a recursive read of the CPU hotplug pseudo-lock.
static CPU_HOTPLUG: LockMap = LockMap::named("cpu_hotplug.dep_map");

/// Each sysfs attribute definition is one class, shared by the files of every
/// cache; kernfs names them all `s_active`, so they print as `s_active#N`.
static ATTR_KEYS: [ClassKey; 5] = [
    ClassKey::new("s_active"),
    ClassKey::new("s_active"),
    ClassKey::new("s_active"),
    ClassKey::new("s_active"),
    ClassKey::new("s_active"),
];
const ATTRS: [&str; 5] = ["order", "objects", "min_partial", "cpu_partial", "shrink"];

/// The system work queue (`system_wq`).
static SYSTEM_WQ: OnceLock<WorkQueue> = OnceLock::new();

struct SysfsFile {
    attr: &'static str,
    active: Active,
}

struct KmemCache {
    name: String,
    min_partial: AtomicUsize,
    files: Vec<SysfsFile>,
    /// `s->kobj_remove_work`.
    remove_work: Work,
    /// The kobject reference taken for the removal work (`kobject_get()`),
    /// dropped by the work (`kobject_put()`). A reference count, not a lock.
    kobj_ref: std::sync::Mutex<Option<Arc<KmemCache>>>,
}

fn system_wq() -> &'static WorkQueue {
    SYSTEM_WQ.get_or_init(|| WorkQueue::new("events", 1))
}

// ---- mm/slab_common.c ---------------------------------------------------

#[inline(never)]
fn kmem_cache_create(name: &str) -> Arc<KmemCache> {
    let mut caches = SLAB_MUTEX.lock();
    let cache = sysfs_slab_add(name);
    caches.push(cache.clone());
    cache
}

#[inline(never)]
fn kmem_cache_destroy(cache: &Arc<KmemCache>, removal: Removal) {
    let _cpus = CPU_HOTPLUG.hold(Mode::SharedRecursive); // get_online_cpus()
    let mut caches = SLAB_MUTEX.lock();
    caches.retain(|c| !Arc::ptr_eq(c, cache));
    kmem_cache_shutdown(cache, removal);
    drop(caches);
}

// ---- mm/slub.c ------------------------------------------------------------

#[inline(never)]
fn kmem_cache_shutdown(cache: &Arc<KmemCache>, removal: Removal) {
    // ... free the cache's slabs ...
    sysfs_slab_remove(cache, removal);
    keep_frame();
}

#[inline(never)]
fn sysfs_slab_add(name: &str) -> Arc<KmemCache> {
    Arc::new_cyclic(|weak: &Weak<KmemCache>| {
        let weak = weak.clone();
        KmemCache {
            name: name.to_string(),
            min_partial: AtomicUsize::new(5),
            files: ATTRS
                .iter()
                .zip(&ATTR_KEYS)
                .map(|(&attr, key)| SysfsFile {
                    attr,
                    active: Active::with_key(key),
                })
                .collect(),
            // INIT_WORK(&s->kobj_remove_work, sysfs_slab_remove_workfn)
            remove_work: Work::named("kobj_remove_work", move || sysfs_slab_remove_workfn(&weak)),
            kobj_ref: std::sync::Mutex::new(None),
        }
    })
}

#[inline(never)]
fn sysfs_slab_remove(cache: &Arc<KmemCache>, removal: Removal) {
    match removal {
        Removal::Sync => kobject_del(cache),
        Removal::Async | Removal::AsyncFlushUnderLock => {
            // kobject_get(&s->kobj); schedule_work(&s->kobj_remove_work);
            *cache.kobj_ref.lock().unwrap() = Some(cache.clone());
            system_wq().queue(&cache.remove_work);
            if removal == Removal::AsyncFlushUnderLock {
                cache.remove_work.flush(); // still under slab_mutex
            }
        }
    }
    keep_frame();
}

#[inline(never)]
fn sysfs_slab_remove_workfn(cache: &Weak<KmemCache>) {
    let Some(cache) = cache.upgrade() else { return };
    kobject_del(&cache);
    // kobject_put(&s->kobj)
    cache.kobj_ref.lock().unwrap().take();
}

#[inline(never)]
fn slab_attr_store(cache: &KmemCache, attr: &str, value: usize) -> Result<(), &'static str> {
    if attr != "min_partial" {
        return Err("EIO");
    }
    // Propagates the new value to the memcg children: under slab_mutex.
    let _caches = SLAB_MUTEX.lock();
    cache.min_partial.store(value, Ordering::Relaxed);
    Ok(())
}

// ---- fs/kernfs, fs/sysfs, lib/kobject.c -----------------------------------

#[inline(never)]
fn kobject_del(cache: &KmemCache) {
    sysfs_remove_dir(cache);
    keep_frame();
}

#[inline(never)]
fn sysfs_remove_dir(cache: &KmemCache) {
    for file in &cache.files {
        kernfs_remove(file);
    }
}

#[inline(never)]
fn kernfs_remove(file: &SysfsFile) {
    // Deactivate, then wait until every operation in flight is done.
    file.active.drain();
    keep_frame();
}

#[inline(never)]
fn kernfs_fop_write(cache: &KmemCache, attr: &str, value: usize) -> Result<(), &'static str> {
    let file = cache
        .files
        .iter()
        .find(|f| f.attr == attr)
        .ok_or("ENOENT")?;
    let _active = file.active.get().ok_or("ENODEV")?; // kernfs_get_active()
    let r = sysfs_kf_write(cache, attr, value);
    keep_frame();
    r
}

#[inline(never)]
fn sysfs_kf_write(cache: &KmemCache, attr: &str, value: usize) -> Result<(), &'static str> {
    let r = slab_attr_store(cache, attr, value);
    keep_frame();
    r
}

// ---- the processes ----------------------------------------------------------

/// `echo 7 > /sys/kernel/slab/kvm_vcpu/min_partial`
#[inline(never)]
fn ksys_write(cache: &KmemCache) {
    kernfs_fop_write(cache, "min_partial", 7).expect("write to min_partial");
    keep_frame();
}

/// A memcg child cache is deactivated: its files go away, and the
/// deactivation waits for that, holding no lock.
#[inline(never)]
fn memcg_deactivate_kmem_cache(cache: &Arc<KmemCache>, removal: Removal) {
    match removal {
        Removal::Sync => kobject_del(cache),
        Removal::Async | Removal::AsyncFlushUnderLock => {
            *cache.kobj_ref.lock().unwrap() = Some(cache.clone());
            system_wq().queue(&cache.remove_work);
            cache.remove_work.flush();
        }
    }
}

/// `rmmod kvm_intel`
#[inline(never)]
fn delete_module(cache: &Arc<KmemCache>, removal: Removal) {
    kvm_exit(cache, removal);
    keep_frame();
}

#[inline(never)]
fn kvm_exit(cache: &Arc<KmemCache>, removal: Removal) {
    kmem_cache_destroy(cache, removal);
    keep_frame();
}

/// Keeps the calling function's frame in stack traces: without it, a call in
/// tail position becomes a jump and the caller disappears from the trace.
#[inline(always)]
fn keep_frame() {
    std::hint::black_box(());
}

fn run_on(name: &str, f: impl FnOnce() + Send) {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn_scoped(s, f)
            .expect("spawn")
            .join()
            .expect("thread panicked");
    });
}

fn parse_args() -> Result<Removal, String> {
    let mut removal = Removal::Sync;
    for arg in std::env::args().skip(1) {
        removal = match arg.as_str() {
            "--fixed" => Removal::Async,
            "--flush-under-lock" => Removal::AsyncFlushUnderLock,
            "-h" | "--help" => {
                println!("usage: slub_sysfs [--fixed | --flush-under-lock]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other:?}")),
        };
    }
    Ok(removal)
}

fn main() {
    let removal = match parse_args() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("slub_sysfs: {e}\nusage: slub_sysfs [--fixed | --flush-under-lock]");
            std::process::exit(2);
        }
    };
    println!("slub_sysfs: sysfs removal mode {removal:?}");

    // Boot: kvm creates its caches, and a memcg child of one of them.
    let kvm_vcpu = kmem_cache_create("kvm_vcpu");
    let memcg_child = kmem_cache_create("kvm_vcpu(1:user.slice)");

    // A user tunes the cache through sysfs: active reference, then slab_mutex.
    run_on("bash", || ksys_write(&kvm_vcpu));
    println!(
        "slub_sysfs: {} min_partial = {}",
        kvm_vcpu.name,
        kvm_vcpu.min_partial.load(Ordering::Relaxed)
    );

    // The memcg child is deactivated; its files are removed, with no lock held.
    run_on("kworker/memcg", || {
        memcg_deactivate_kmem_cache(&memcg_child, removal)
    });

    // rmmod kvm_intel: kmem_cache_destroy() under slab_mutex.
    run_on("rmmod", || delete_module(&kvm_vcpu, removal));

    // Let any removal work finish, then stop the workers.
    if let Some(wq) = SYSTEM_WQ.get() {
        wq.flush();
    }
    let removed = kvm_vcpu.files.iter().all(|f| !f.active.is_active());
    println!("slub_sysfs: {} files removed: {removed}", kvm_vcpu.name);
    println!("slub_sysfs: {} lockdep report(s)", lockdep::reports().len());
}
