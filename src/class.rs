//! Lock classes: keys, names, subclasses and the registry that interns them.
//!
//! A *class* is the unit of validation. Every lock built at one source location
//! shares one class (the default, through `#[track_caller]`); a static
//! [`ClassKey`] gives a class a name and a role independent of where its locks
//! are built. A subclass (`lock_nested(n)`) is a separate class derived from a
//! base class, for legitimate nesting within one class.
//!
//! Instances resolve their class lazily, on first acquisition, and cache the
//! result in an atomic, so the registry's lock is taken once per instance and
//! subclass at most.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::site::{self, Origin};

/// Identifies a lock class for the lifetime of the process.
///
/// Ids are dense and start at 0; they index the dependency graph directly.
#[derive(
    Copy, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct ClassId(pub(crate) u32);

impl ClassId {
    /// What every lock answers when validation is compiled out.
    #[cfg(lockdep_off)]
    pub(crate) const PLACEHOLDER: ClassId = ClassId(u32::MAX);

    /// The dense index of this class.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for ClassId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "class {}", self.0)
    }
}

/// A static key that names a lock class, like the kernel's `lock_class_key`.
///
/// The class is identified by the key's address, not by its name: two keys
/// with the same name are two classes, printed as `name` and `name#2`.
///
/// ```
/// use lockdep::{ClassKey, Mutex};
///
/// static SLAB_MUTEX_KEY: ClassKey = ClassKey::new("slab_mutex");
/// static SLAB_MUTEX: Mutex<Vec<u32>> = Mutex::with_key(&SLAB_MUTEX_KEY, Vec::new());
///
/// SLAB_MUTEX.lock().push(1);
/// ```
///
/// The [`class!`](crate::class!) macro declares such a key in place.
pub struct ClassKey {
    name: &'static str,
    /// `id + 1` once registered, 0 before.
    id: AtomicU32,
    order: Option<OrderFn>,
}

/// Compares the order keys of two locks of one class: `Less` means the
/// first may be held while the second is taken.
pub type OrderFn = fn(u64, u64) -> std::cmp::Ordering;

fn natural_order(a: u64, b: u64) -> std::cmp::Ordering {
    a.cmp(&b)
}

impl ClassKey {
    /// A key whose class prints as `name`.
    pub const fn new(name: &'static str) -> ClassKey {
        ClassKey {
            name,
            id: AtomicU32::new(0),
            order: None,
        }
    }

    /// A key for a class whose locks may be nested within the class in
    /// increasing order of their *order keys*: the lock's address, or the key
    /// given to `lock_ordered`. Nesting out of order is reported as
    /// recursive locking (the kernel's `lockdep_set_lock_cmp_fn`).
    ///
    /// ```
    /// use lockdep::{ClassKey, Mutex};
    ///
    /// static ACCOUNT: ClassKey = ClassKey::ordered("account");
    /// let (a, b) = (Mutex::with_key(&ACCOUNT, 10), Mutex::with_key(&ACCOUNT, 20));
    /// // Transfer between two accounts: lock them by account number.
    /// let _first = a.lock_ordered(1);
    /// let _second = b.lock_ordered(2);
    /// ```
    pub const fn ordered(name: &'static str) -> ClassKey {
        Self::ordered_by(name, natural_order)
    }

    /// Like [`ordered`](Self::ordered), with a user comparison of order keys.
    pub const fn ordered_by(name: &'static str, order: OrderFn) -> ClassKey {
        ClassKey {
            name,
            id: AtomicU32::new(0),
            order: Some(order),
        }
    }

    /// The name this key gives its class.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The class of this key, registering it on first use.
    pub fn class(&'static self) -> ClassId {
        match self.id.load(Ordering::Acquire) {
            0 => {
                let id = registry_register(Source::Key(self));
                self.id.store(id.0 + 1, Ordering::Release);
                id
            }
            n => ClassId(n - 1),
        }
    }
}

impl fmt::Debug for ClassKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClassKey")
            .field("name", &self.name)
            .finish()
    }
}

/// Declares a static [`ClassKey`] in place and evaluates to a `&'static` reference to it.
///
/// ```
/// let m = lockdep::Mutex::with_key(lockdep::class!("registry"), 0u32);
/// *m.lock() += 1;
/// ```
#[macro_export]
macro_rules! class {
    ($name:expr) => {{
        static KEY: $crate::ClassKey = $crate::ClassKey::new($name);
        &KEY
    }};
}

/// The name of the type a lock protects, as a function: `type_name` is not
/// a `const fn`, but a pointer to it can be taken in one. Called only when
/// a class is registered.
pub(crate) type TypeName = fn() -> &'static str;

/// The [`TypeName`] of `T`.
pub(crate) const fn type_of<T: ?Sized>() -> TypeName {
    std::any::type_name::<T>
}

/// Where an instance's class comes from.
#[derive(Clone, Copy)]
pub(crate) enum Source {
    /// The construction site and the protected type: locks built by one line
    /// for one type are one class. The type tells apart the locks that one
    /// line builds for different types: the fields of a
    /// `#[derive(Default)]` struct, a macro, a crate's own `new_mutex<T>`
    /// helper, a standard-library adapter such as `map(Mutex::new)`.
    Site {
        at: &'static Location<'static>,
        ty: TypeName,
        prefix: Prefix,
    },
    /// The construction site and a name: one helper called with two names
    /// builds two classes.
    Named {
        at: &'static Location<'static>,
        name: &'static str,
        prefix: Prefix,
    },
    /// An explicit static key.
    Key(&'static ClassKey),
    /// A class registered up front: a thread's, a [`DynamicKey`]'s.
    Id(ClassId),
    /// No construction site: a lock built from `lock_api`'s `INIT`. Its
    /// class is its first acquisition's site, or, if that site is inside
    /// `lock_api`, a class of its own ([`LazyClass::resolve_first`]).
    Acquired,
}

/// What the name of a class of a construction site starts with: the kind of
/// wait a pseudo-lock stands for, when the site gave no name. One byte in
/// every lock, where a string would take sixteen.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Prefix {
    None,
    Acquired,
    Condvar,
    Once,
    Thread,
    WorkCompletion,
    WqCompletion,
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    Task,
}

impl Prefix {
    fn as_str(self) -> &'static str {
        match self {
            Prefix::None => "",
            Prefix::Acquired => "(first locked)",
            Prefix::Condvar => "(condvar)",
            Prefix::Once => "(once)",
            Prefix::Thread => "(thread)",
            Prefix::WorkCompletion => "(work_completion)",
            Prefix::WqCompletion => "(wq_completion)",
            Prefix::Task => "(task)",
        }
    }
}

/// Sentinel in [`LazyClass::base`]: not resolved yet.
const UNRESOLVED: u32 = u32::MAX;
/// Set in [`LazyClass::base`] when the class is ordered: one load tells
/// the fast path both the class and whether to check the order.
const ORDERED: u32 = 1 << 31;
const _: () = assert!(UNRESOLVED & ORDERED != 0);

/// An instance's handle on its class: the source plus a cache of the resolved
/// base class and of the last subclass used.
pub(crate) struct LazyClass {
    source: Source,
    /// The key of the last validated chain this instance ended: if the next
    /// acquisition computes the same key, the chain caches need not be asked.
    pub(crate) memo: AtomicU64,
    base: AtomicU32,
    /// `(id << 8) | subclass` of the last subclass in `1..=255` looked up,
    /// when its id fits in 24 bits; 0 when none. (Any other subclass, or
    /// one used before the last, is found in the lock-free `sub_cache`.)
    last_sub: AtomicU32,
}

impl LazyClass {
    pub(crate) const fn new(source: Source) -> LazyClass {
        LazyClass {
            source,
            memo: AtomicU64::new(0),
            base: AtomicU32::new(UNRESOLVED),
            last_sub: AtomicU32::new(0),
        }
    }

    /// A new instance of the same class (the same source; resolved again on
    /// first use, to the same class).
    pub(crate) const fn same_class(&self) -> LazyClass {
        LazyClass::new(self.source)
    }

    /// The class for `subclass` (0 = the base class).
    #[inline]
    pub(crate) fn get(&self, subclass: u32) -> ClassId {
        self.get_with_order(subclass).0
    }

    /// The class for `subclass`, if it is resolved, not ordered and (for a
    /// subclass) cached: what the fast path needs. For subclass 0 (a
    /// constant in most lock calls), one load and one test (`UNRESOLVED`
    /// has the `ORDERED` bit).
    #[inline(always)]
    pub(crate) fn cached_unordered(&self, subclass: u32) -> Option<ClassId> {
        let cached = self.base.load(Ordering::Relaxed);
        if cached & ORDERED != 0 {
            return None;
        }
        if subclass == 0 {
            return Some(ClassId(cached));
        }
        self.cached_sub(subclass)
    }

    /// The cached class of `subclass` (> 0), if it is the last one used.
    #[inline(always)]
    fn cached_sub(&self, subclass: u32) -> Option<ClassId> {
        let sub = self.last_sub.load(Ordering::Relaxed);
        (sub != 0 && sub & 0xff == subclass).then_some(ClassId(sub >> 8))
    }

    /// The class of `subclass` (> 0) of a resolved, unordered class, found
    /// without the registry's lock: the last subclass used, or the global
    /// lock-free cache of subclasses (which then becomes the last one).
    /// What the fast path tries when the inline check of the last subclass
    /// misses: alternating subclasses, or one of 256 and more.
    #[inline]
    pub(crate) fn sub_lockfree(&self, subclass: u32) -> Option<ClassId> {
        let cached = self.base.load(Ordering::Relaxed);
        if cached & ORDERED != 0 {
            return None;
        }
        if let Some(id) = self.cached_sub(subclass) {
            return Some(id);
        }
        let id = sub_cache::get(ClassId(cached), subclass)?;
        self.remember_sub(subclass, id);
        Some(id)
    }

    fn remember_sub(&self, subclass: u32, id: ClassId) {
        if subclass < 256 && id.0 < 1 << 24 {
            self.last_sub
                .store((id.0 << 8) | subclass, Ordering::Relaxed);
        }
    }

    /// The class for `subclass`, and whether it is ordered.
    #[inline]
    pub(crate) fn get_with_order(&self, subclass: u32) -> (ClassId, bool) {
        let cached = match self.base.load(Ordering::Relaxed) {
            UNRESOLVED => self.resolve_base(),
            cached => cached,
        };
        let ordered = cached & ORDERED != 0;
        let base = ClassId(cached & !ORDERED);
        let class = if subclass == 0 {
            base
        } else {
            self.sub(base, subclass)
        };
        (class, ordered)
    }

    /// Has any acquisition resolved the class yet? A lock never acquired
    /// cannot be held.
    #[inline]
    pub(crate) fn resolved(&self) -> bool {
        self.base.load(Ordering::Relaxed) != UNRESOLVED
    }

    /// The ordering of the class, if it is an ordered one.
    #[inline]
    pub(crate) fn order(&self) -> Option<OrderFn> {
        match self.source {
            Source::Key(key) => key.order,
            Source::Site { .. } | Source::Named { .. } | Source::Id(_) | Source::Acquired => None,
        }
    }

    /// Resolves the class of a lock acquired for the first time, at `at`
    /// (for a site class usually from the site cache; for a lock without a
    /// site, from `at`: see [`Source::Acquired`]). Returns whether it was
    /// unresolved, i.e. whether the fast path is worth another try.
    pub(crate) fn resolve_first(&self, at: &'static Location<'static>) -> bool {
        let unresolved = self.base.load(Ordering::Relaxed) == UNRESOLVED;
        if unresolved {
            match self.source {
                Source::Acquired => self.resolve_acquired(at),
                _ => {
                    self.resolve_base();
                }
            }
        }
        unresolved
    }

    /// A [`Source::Acquired`] lock taken for the first time at `at`: the
    /// class of that site; or, if the site says nothing about the lock
    /// (inside `lock_api`: a re-entrant mutex's inner lock, `Debug`), a
    /// class of its own, retired when the lock is dropped.
    #[cold]
    fn resolve_acquired(&self, at: &'static Location<'static>) {
        let own = crate::lock::inside_lock_api(at);
        let id = if own {
            with_registry(|r| r.push(Cow::Borrowed(INSTANCE_NAME), 0, None, None))
        } else {
            let site = Source::Named {
                at,
                name: "",
                prefix: Prefix::Acquired,
            };
            site_class(site, at, Some(usize::MAX))
        };
        // Two first acquisitions at once: the first to resolve wins.
        if self
            .base
            .compare_exchange(UNRESOLVED, id.0, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
            && own
        {
            self.last_sub.store(OWN_CLASS, Ordering::Relaxed);
        }
    }

    /// Retires the class of a lock that had a class of its own (see
    /// [`resolve_acquired`](Self::resolve_acquired)): the lock is gone.
    pub(crate) fn retire_own(&self) {
        if self.last_sub.load(Ordering::Relaxed) == OWN_CLASS {
            retire(ClassId(self.base.load(Ordering::Relaxed) & !ORDERED));
        }
    }

    #[cold]
    fn resolve_base(&self) -> u32 {
        let id = match self.source {
            Source::Key(key) => key.class(),
            Source::Id(id) => id,
            Source::Site { at, ty, .. } => site_class(self.source, at, Some(ty as usize)),
            Source::Named { at, name, .. } => site_class(self.source, at, name_disc(name)),
            Source::Acquired => {
                with_registry(|r| r.push(Cow::Borrowed(INSTANCE_NAME), 0, None, None))
            }
        };
        assert!(id.0 < ORDERED, "more than 2^31 lock classes");
        let cached = id.0 | if self.order().is_some() { ORDERED } else { 0 };
        self.base.store(cached, Ordering::Relaxed);
        if matches!(self.source, Source::Acquired) {
            self.last_sub.store(OWN_CLASS, Ordering::Relaxed);
        }
        cached
    }

    fn sub(&self, base: ClassId, subclass: u32) -> ClassId {
        if let Some(id) = self.cached_sub(subclass) {
            return id;
        }
        let id = sub_cache::get(base, subclass).unwrap_or_else(|| {
            let id = registry_subclass(base, subclass);
            sub_cache::put(base, subclass, id);
            id
        });
        self.remember_sub(subclass, id);
        id
    }
}

/// The class of a site source, from the site cache or the registry. `disc`
/// identifies what tells the site's classes apart, when it fits a word.
fn site_class(source: Source, at: &'static Location<'static>, disc: Option<usize>) -> ClassId {
    if let Some(id) = disc.and_then(|disc| site_cache::get(at, disc)) {
        return id;
    }
    let id = registry_register(source);
    if let Some(disc) = disc {
        site_cache::put(at, disc, id);
    }
    id
}

/// A name's address and length in one word, where both fit (a name that is
/// a prefix of another starts at the same address).
fn name_disc(name: &'static str) -> Option<usize> {
    let (addr, len) = (name.as_ptr() as usize as u64, name.len() as u64);
    if addr >= 1 << 48 || len >= 1 << 16 {
        return None;
    }
    usize::try_from(addr | (len << 48)).ok()
}

/// The classes of subclasses by `(base class, subclass)`: a lock-free cache
/// in front of the registry, two-way and direct-mapped, so that a lock
/// taken with alternating subclasses, or with one of 256 and more, finds
/// its class without the registry's lock.
mod sub_cache {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::ClassId;

    const SLOTS: usize = 4096;
    /// Bits of `(base << SUB_BITS) | subclass`: a bijection of them gives
    /// the slot (12 bits) and the tag (33 bits).
    const SUB_BITS: u32 = 20;
    const BITS: u32 = 45;
    const MASK: u64 = (1 << BITS) - 1;
    const TAG_BITS: u32 = 33;
    const _: () = assert!(1 << (BITS - TAG_BITS) == SLOTS);

    /// A slot holds `(tag << 31) | (id + 1)`, 0 when empty. The index and
    /// the tag are together the whole pair, so a hit is exact.
    static SUBS: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];

    /// The slot index (12 bits) and tag (33 bits) of a pair; `None` for a subclass of 2^20 or
    /// more or a base class of 2^25 or more (looked up in the registry).
    fn slot(base: ClassId, subclass: u32) -> Option<(usize, u64)> {
        if subclass >> SUB_BITS != 0 || u64::from(base.0) >> (BITS - SUB_BITS) != 0 {
            return None;
        }
        // An odd multiply within 45 bits: a bijection, whose top bits (the
        // slot) depend on every bit of the pair.
        let x = ((u64::from(base.0) << SUB_BITS) | u64::from(subclass))
            .wrapping_mul(0x9e37_79b9_7f4b)
            & MASK;
        Some(((x >> TAG_BITS) as usize, x & ((1 << TAG_BITS) - 1)))
    }

    fn hit(value: u64, tag: u64) -> Option<ClassId> {
        (value != 0 && value >> 31 == tag).then(|| ClassId((value & 0x7fff_ffff) as u32 - 1))
    }

    pub(super) fn get(base: ClassId, subclass: u32) -> Option<ClassId> {
        let (index, tag) = slot(base, subclass)?;
        hit(SUBS[index].load(Ordering::Relaxed), tag)
            .or_else(|| hit(SUBS[index ^ 1].load(Ordering::Relaxed), tag))
    }

    pub(super) fn put(base: ClassId, subclass: u32, id: ClassId) {
        let Some((index, tag)) = slot(base, subclass) else {
            return;
        };
        if id.0 >= (1 << 31) - 1 {
            return;
        }
        let value = (tag << 31) | u64::from(id.0 + 1);
        // The empty way of the two, or else the other one than the first.
        let way = if SUBS[index].load(Ordering::Relaxed) == 0 {
            index
        } else {
            index ^ 1
        };
        SUBS[way].store(value, Ordering::Relaxed);
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn slots_are_exact() {
            let mut seen = std::collections::HashSet::new();
            for base in [0u32, 1, 2, 1000, (1 << 25) - 1] {
                for sub in [1u32, 2, 255, 256, 1000, (1 << 20) - 1] {
                    assert!(seen.insert(slot(ClassId(base), sub).unwrap()));
                }
            }
            assert_eq!(slot(ClassId(1 << 25), 1), None);
            assert_eq!(slot(ClassId(1), 1 << 20), None);
        }
    }
}

/// The classes of construction sites by the address of their `Location` and
/// of what tells the site's classes apart (the type's `TypeName` function,
/// or the name's bytes): a lock-free, direct-mapped cache in front of the
/// registry, so that a lock built at a known site (a mutex in every object
/// of a type, say) resolves its class on first use without the registry's
/// lock.
mod site_cache {
    use std::panic::Location;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    use super::ClassId;

    const SLOTS: usize = 4096;

    /// A slot holds `(tag << 32) | (id + 1)`, 0 when empty.
    static SITES: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];

    /// The site's `Location` address and the discriminator of each class the
    /// cache may return (by id, for the first `OWNED` classes): a hit is
    /// checked against both, so it is exact. A class's site never changes;
    /// its discriminator may be rewritten with another that names the same
    /// type (generic code has a `type_name` function per codegen unit).
    const OWNED: usize = 1 << 14;
    static OWNER: [[AtomicUsize; 2]; OWNED] =
        [const { [AtomicUsize::new(0), AtomicUsize::new(0)] }; OWNED];

    fn slot(at: &'static Location<'static>, disc: usize) -> (usize, u64) {
        let addr = at as *const Location<'static> as usize as u64;
        // The discriminator moves the slot, so that the classes one site
        // builds for several types do not evict each other.
        let h = (addr ^ (disc as u64).rotate_left(29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        ((h >> 52) as usize & (SLOTS - 1), h >> 32)
    }

    pub(super) fn get(at: &'static Location<'static>, disc: usize) -> Option<ClassId> {
        let (index, tag) = slot(at, disc);
        let value = SITES[index].load(Ordering::Acquire);
        if value == 0 || value >> 32 != tag {
            return None;
        }
        let id = ClassId(value as u32 - 1);
        let [site, owner_disc] = OWNER.get(id.index())?;
        let exact = site.load(Ordering::Relaxed) == at as *const Location<'static> as usize
            && owner_disc.load(Ordering::Relaxed) == disc;
        exact.then_some(id)
    }

    pub(super) fn put(at: &'static Location<'static>, disc: usize, id: ClassId) {
        let (index, tag) = slot(at, disc);
        let (Some(id1), Some([site, owner_disc])) = (id.0.checked_add(1), OWNER.get(id.index()))
        else {
            return;
        };
        // The owner first: a reader that sees the slot (acquire) sees it too.
        site.store(at as *const Location<'static> as usize, Ordering::Relaxed);
        owner_disc.store(disc, Ordering::Relaxed);
        SITES[index].store((tag << 32) | u64::from(id1), Ordering::Release);
    }
}

/// What the registry knows of a class.
#[derive(Clone, Debug)]
pub(crate) struct ClassInfo {
    pub(crate) name: Cow<'static, str>,
    /// 1 for the first class of a name, 2 for the second, ... (the `#N` suffix).
    pub(crate) version: u32,
    pub(crate) subclass: u32,
    /// Where the class's locks are built, for a class of a construction site.
    pub(crate) site: Option<SiteInfo>,
    /// Unregistered ([`DynamicKey`] dropped): no lock may use it any more.
    pub(crate) retired: bool,
}

/// The construction site of a site class.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SiteInfo {
    pub(crate) file: &'static str,
    pub(crate) line: u32,
    pub(crate) column: u32,
    /// The protected type, for a class without a name.
    pub(crate) ty: Option<&'static str>,
    pub(crate) origin: Origin,
}

impl ClassInfo {
    /// The printed name: `name`, `name#N` when several classes share the
    /// name, and `/S` for a subclass.
    pub(crate) fn display_name(&self) -> String {
        let mut s = self.name.to_string();
        if self.version > 1 {
            s.push_str(&format!("#{}", self.version));
        }
        if self.subclass > 0 {
            s.push_str(&format!("/{}", self.subclass));
        }
        s
    }
}

/// What tells apart the classes of one construction site.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
enum Disc {
    Type(&'static str, Prefix),
    Name(Cow<'static, str>, Prefix),
}

#[derive(Default)]
struct Registry {
    sites: HashMap<(&'static str, u32, u32, Disc), ClassId>,
    keys: HashMap<usize, ClassId>,
    subs: HashMap<(ClassId, u32), ClassId>,
    name_versions: HashMap<Cow<'static, str>, u32>,
    classes: Vec<ClassInfo>,
}

// The registry's own lock is a plain (`crate::raw`) mutex: the validator never
// instruments its own state.
static REGISTRY: crate::raw::Mutex<Option<Registry>> = crate::raw::const_mutex(None);

fn with_registry<R>(f: impl FnOnce(&mut Registry) -> R) -> R {
    let mut guard = REGISTRY.lock();
    f(guard.get_or_insert_with(Registry::default))
}

impl Registry {
    fn push(
        &mut self,
        name: Cow<'static, str>,
        subclass: u32,
        version: Option<u32>,
        site: Option<SiteInfo>,
    ) -> ClassId {
        let version = version.unwrap_or_else(|| {
            let v = self.name_versions.entry(name.clone()).or_insert(0);
            *v += 1;
            *v
        });
        let id = ClassId(u32::try_from(self.classes.len()).expect("more than 2^32 lock classes"));
        self.classes.push(ClassInfo {
            name,
            version,
            subclass,
            site,
            retired: false,
        });
        id
    }

    /// The class of a construction site and what tells its classes apart.
    fn site(&mut self, at: &'static Location<'static>, disc: Disc) -> ClassId {
        let k = (at.file(), at.line(), at.column(), disc);
        if let Some(&id) = self.sites.get(&k) {
            return id;
        }
        let (file, line, column, disc) = k.clone();
        let (prefix, ty, name) = match disc {
            Disc::Type(ty, prefix) => (prefix, Some(ty), None),
            Disc::Name(name, prefix) => (prefix, None, Some(name)),
        };
        let site = SiteInfo {
            file,
            line,
            column,
            ty,
            origin: site::origin(file),
        };
        let prefix = prefix.as_str();
        let name = match name {
            Some(name) if prefix.is_empty() => name,
            Some(name) => Cow::Owned(format!("{prefix}{name}")),
            None => Cow::Owned(format!("{prefix}{}", site_label(&site))),
        };
        let id = self.push(name, 0, None, Some(site));
        self.sites.insert(k, id);
        id
    }
}

/// The printed name of an unnamed site class: the site, then its crate and
/// module and the protected type where they say something,
/// `tests/app.rs:12:5 (app, Vec<u32>)`.
fn site_label(site: &SiteInfo) -> String {
    let mut label = format!(
        "{}:{}:{}",
        site::short_file(site.file),
        site.line,
        site.column
    );
    let ty = site.ty.filter(|t| *t != "()").map(site::short_type);
    let notes: Vec<String> = site::module_of(site.file).into_iter().chain(ty).collect();
    if !notes.is_empty() {
        label.push_str(&format!(" ({})", notes.join(", ")));
    }
    label
}

fn registry_register(source: Source) -> ClassId {
    with_registry(|r| match source {
        Source::Key(key) => {
            let addr = key as *const ClassKey as usize;
            if let Some(&id) = r.keys.get(&addr) {
                return id;
            }
            let id = r.push(Cow::Borrowed(key.name), 0, None, None);
            r.keys.insert(addr, id);
            id
        }
        Source::Id(id) => id,
        Source::Site { at, ty, prefix } => r.site(at, Disc::Type(ty(), prefix)),
        Source::Named {
            at,
            name: "",
            prefix: Prefix::Acquired,
        } => r.site(at, Disc::Type("()", Prefix::Acquired)),
        Source::Named { at, name, prefix } => r.site(at, Disc::Name(Cow::Borrowed(name), prefix)),
        Source::Acquired => r.push(Cow::Borrowed(INSTANCE_NAME), 0, None, None),
    })
}

/// The class of a construction site with a name given at run time (a
/// thread's, from its `Builder`), or with the protected type's name.
pub(crate) fn site_class_named(
    at: &'static Location<'static>,
    name: Option<Cow<'static, str>>,
    ty: TypeName,
    prefix: Prefix,
) -> ClassId {
    let disc = match name {
        Some(name) => Disc::Name(name, prefix),
        None => Disc::Type(ty(), prefix),
    };
    with_registry(|r| r.site(at, disc))
}

fn registry_subclass(base: ClassId, subclass: u32) -> ClassId {
    with_registry(|r| {
        if let Some(&id) = r.subs.get(&(base, subclass)) {
            return id;
        }
        let info = r.classes[base.index()].clone();
        let id = r.push(info.name, subclass, Some(info.version), info.site);
        r.subs.insert((base, subclass), id);
        id
    })
}

/// A class created at run time, with a name chosen at run time, and
/// unregistered when the key is dropped: the kernel's
/// `lockdep_register_key` / `lockdep_unregister_key`.
///
/// Locks built with [`Mutex::with_dynamic_key`](crate::Mutex::with_dynamic_key)
/// (and the other primitives' `with_dynamic_key`) are of its class. Dropping
/// the key drops every dependency learned through the class (and through
/// its subclasses), so a program can create classes for as long as it runs
/// without the graph growing for ever. As in the kernel, drop the key only
/// after every lock of its class is gone: a lock of a dropped key is no
/// longer validated.
///
/// ```
/// use lockdep::{DynamicKey, Mutex};
///
/// let key = DynamicKey::new(format!("shard-{}", 3));
/// let shard = Mutex::with_dynamic_key(&key, 0u32);
/// *shard.lock() += 1;
/// assert_eq!(lockdep::class_name(key.class()), "shard-3");
/// drop(shard);
/// drop(key); // the class and its dependencies are gone
/// ```
pub struct DynamicKey {
    id: ClassId,
}

impl DynamicKey {
    /// Registers a new class printed as `name` (`name#N` if another class
    /// has that name).
    pub fn new(name: impl Into<Cow<'static, str>>) -> DynamicKey {
        let name = name.into();
        DynamicKey {
            id: with_registry(|r| r.push(name, 0, None, None)),
        }
    }

    /// The key's class.
    pub fn class(&self) -> ClassId {
        self.id
    }

    pub(crate) fn source(&self) -> Source {
        Source::Id(self.id)
    }
}

impl Drop for DynamicKey {
    fn drop(&mut self) {
        retire(self.id);
    }
}

/// The name of the class of its own that a lock without a site gets.
pub(crate) const INSTANCE_NAME: &str = "(lock instance)";

/// In [`LazyClass::last_sub`], which no subclass lookup matches (its
/// subclass byte is 0): the lock has a class of its own.
const OWN_CLASS: u32 = 1 << 8;

/// Unregisters `id` and its subclasses for good: their dependencies go.
fn retire(id: ClassId) {
    let mut retired = vec![id];
    with_registry(|r| {
        r.classes[id.index()].retired = true;
        r.subs.retain(|&(base, _), &mut sub| {
            if base == id {
                retired.push(sub);
            }
            base != id
        });
        for &id in &retired {
            r.classes[id.index()].retired = true;
        }
    });
    crate::validator::retire_classes(&retired);
}

impl fmt::Debug for DynamicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamicKey")
            .field("class", &class_name(self.id))
            .finish()
    }
}

/// Was `id`'s class inferred from the site of a lock's first acquisition
/// (a lock without a construction site, [`Source::Acquired`])?
pub(crate) fn inferred(id: ClassId) -> bool {
    with_registry(|r| {
        r.classes
            .get(id.index())
            .is_some_and(|c| c.name.starts_with(Prefix::Acquired.as_str()))
    })
}

/// A snapshot of the registry's view of `id`.
pub(crate) fn info(id: ClassId) -> ClassInfo {
    with_registry(|r| {
        r.classes.get(id.index()).cloned().unwrap_or(ClassInfo {
            name: Cow::Borrowed("<unknown class>"),
            version: 1,
            subclass: 0,
            site: None,
            retired: false,
        })
    })
}

/// A class as a [`schema::Class`](crate::schema::Class): its id, name, site
/// and type, and its identity across processes, `key`. The key is the
/// site (file, line, column) with the protected type, or `name`, and the
/// name without its `#N` (which counts classes in the order a process
/// registers them), then `/` and the subclass; for a class of a key, the
/// key's name and the subclass.
pub(crate) fn describe(id: ClassId) -> crate::schema::Class {
    let info = info(id);
    let key = match &info.site {
        Some(s) => format!(
            "site {}:{}:{} {} {}/{}",
            site::short_file(s.file),
            s.line,
            s.column,
            s.ty.map_or_else(|| "name".to_string(), |t| format!("type {t}")),
            info.name,
            info.subclass
        ),
        None => format!("key {}/{}", info.name, info.subclass),
    };
    crate::schema::Class {
        id: id.0,
        key,
        name: info.display_name(),
        subclass: info.subclass,
        site: info.site.map(|s| crate::report::Site {
            file: s.file.to_string(),
            line: s.line,
            column: s.column,
        }),
        type_name: info.site.and_then(|s| s.ty).map(str::to_string),
        ..Default::default()
    }
}

/// The printed name of a class (`s_active#3`, `rq_lock/1`).
pub fn class_name(id: ClassId) -> String {
    info(id).display_name()
}

/// Holds the registry's lock across a `fork` (see `crate::fork`).
pub(crate) fn fork_lock() {
    std::mem::forget(REGISTRY.lock());
}

/// Releases what [`fork_lock`] took.
///
/// # Safety
/// As [`crate::fork::release`]'s.
pub(crate) unsafe fn fork_unlock(child: bool) {
    // SAFETY: passed on from the caller.
    unsafe { crate::fork::release(&REGISTRY, child) }
}

/// The number of classes registered so far.
pub(crate) fn count() -> usize {
    with_registry(|r| r.classes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every lock carries a class handle: keep it, and the lock, small.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_class_handle_keeps_a_lock_within_a_cache_line() {
        assert_eq!(std::mem::size_of::<Source>(), 32);
        assert_eq!(std::mem::size_of::<LazyClass>(), 48);
        assert_eq!(std::mem::size_of::<crate::Mutex<u64>>(), 64);
    }

    #[test]
    fn site_classes_are_cached_by_location() {
        let at = Location::caller();
        let disc = name_disc("unit-sitecache").unwrap();
        assert_eq!(site_cache::get(at, disc), None);
        let first = LazyClass::new(site(at, Some("unit-sitecache"))).get(0);
        assert_eq!(
            site_cache::get(at, disc),
            Some(first),
            "cached on resolution"
        );
        assert_eq!(
            site_cache::get(at, disc + 1),
            None,
            "exact on the discriminator"
        );
        assert_eq!(
            LazyClass::new(site(at, Some("unit-sitecache"))).get(0),
            first
        );
        let elsewhere = Location::caller();
        assert_ne!(
            LazyClass::new(site(elsewhere, Some("unit-sitecache"))).get(0),
            first,
            "another site, another class"
        );
    }

    #[test]
    fn small_subclasses_are_cached_and_large_ones_still_resolve() {
        let lazy = LazyClass::new(site(Location::caller(), Some("unit-subcache")));
        let base = lazy.get(0);
        let one = lazy.get(1);
        assert_ne!(one, base);
        assert_eq!(lazy.last_sub.load(Ordering::Relaxed), (one.0 << 8) | 1);
        assert_eq!(lazy.get(1), one, "from the cache");
        let big = lazy.get(1000);
        assert_ne!(big, one);
        assert_eq!(lazy.get(1000), big, "from the lock-free cache");
        assert_eq!(lazy.sub_lockfree(1000), Some(big));
        assert_eq!(lazy.get(1), one);
        assert_eq!(info(big).subclass, 1000);
        // Alternating subclasses: each found without the registry.
        let two = lazy.get(2);
        for _ in 0..3 {
            assert_eq!(lazy.sub_lockfree(1), Some(one));
            assert_eq!(lazy.sub_lockfree(2), Some(two));
            assert_eq!(lazy.sub_lockfree(1000), Some(big));
        }
        // Another lock of the class, new: the cache is global.
        let other = LazyClass::new(site(Location::caller(), Some("unit-subcache")));
        assert_eq!(other.sub_lockfree(2), None, "its class is not resolved yet");
        other.get(0);
        assert_ne!(other.get(0), base, "another site");
    }

    #[test]
    fn the_subclass_cache_is_shared_by_the_locks_of_a_class() {
        static K: ClassKey = ClassKey::new("unit-subcache-key");
        let a = LazyClass::new(Source::Key(&K));
        let b = LazyClass::new(Source::Key(&K));
        let s = a.get(300);
        b.get(0);
        assert_eq!(b.sub_lockfree(300), Some(s), "found in the global cache");
        assert_eq!(b.sub_lockfree(301), None, "never looked up");
    }

    fn site(at: &'static Location<'static>, name: Option<&'static str>) -> Source {
        match name {
            Some(name) => Source::Named {
                at,
                name,
                prefix: Prefix::None,
            },
            None => Source::Site {
                at,
                ty: type_of::<u32>(),
                prefix: Prefix::None,
            },
        }
    }

    #[test]
    fn same_site_same_class() {
        let mk = || LazyClass::new(site(Location::caller(), None));
        let a = mk();
        let b = mk();
        assert_eq!(a.get(0), b.get(0));
    }

    #[test]
    fn different_sites_differ() {
        let a = LazyClass::new(site(Location::caller(), None));
        let b = LazyClass::new(site(Location::caller(), None));
        assert_ne!(a.get(0), b.get(0));
    }

    #[test]
    fn keys_with_one_name_get_versions() {
        static K1: ClassKey = ClassKey::new("class-test-shared-name");
        static K2: ClassKey = ClassKey::new("class-test-shared-name");
        let (a, b) = (K1.class(), K2.class());
        assert_ne!(a, b);
        let names = [class_name(a), class_name(b)];
        assert!(names.contains(&"class-test-shared-name".to_string()));
        assert!(names.contains(&"class-test-shared-name#2".to_string()));
        // Registering again is idempotent.
        assert_eq!(K1.class(), a);
    }

    #[test]
    fn subclasses_are_distinct_and_named() {
        static K: ClassKey = ClassKey::new("class-test-sub");
        let lazy = LazyClass::new(Source::Key(&K));
        let base = lazy.get(0);
        let s1 = lazy.get(1);
        let s2 = lazy.get(2);
        assert_ne!(base, s1);
        assert_ne!(s1, s2);
        assert_eq!(lazy.get(1), s1);
        assert_eq!(class_name(s1), "class-test-sub/1");
        assert_eq!(class_name(base), "class-test-sub");
    }

    #[test]
    fn one_site_builds_a_class_per_type_and_per_name() {
        let at = Location::caller();
        let typed = |ty| {
            LazyClass::new(Source::Site {
                at,
                ty,
                prefix: Prefix::None,
            })
            .get(0)
        };
        let a = typed(type_of::<u32>());
        assert_eq!(typed(type_of::<u32>()), a);
        let b = typed(type_of::<Vec<String>>());
        assert_ne!(a, b, "another type, another class");
        assert!(
            class_name(b).ends_with("(class, Vec<String>)"),
            "{}",
            class_name(b)
        );
        let named = |name| LazyClass::new(site(at, Some(name))).get(0);
        let (x, y) = (named("unit-one-site-x"), named("unit-one-site-y"));
        assert_ne!(x, y, "another name, another class");
        assert_eq!(named("unit-one-site-x"), x);
        assert_eq!(class_name(y), "unit-one-site-y");
        // A name that is a prefix of another starts at the same address.
        let long: &'static str = "unit-one-site-prefix";
        let (whole, prefix) = (named(long), named(&long[..16]));
        assert_ne!(whole, prefix);
        assert_eq!(class_name(prefix), "unit-one-site-pr");
        assert_eq!(named(long), whole);
    }

    #[test]
    fn dynamic_keys_register_and_retire() {
        let key = DynamicKey::new(String::from("unit-dynamic"));
        let id = key.class();
        assert_eq!(class_name(id), "unit-dynamic");
        let sub = LazyClass::new(key.source()).get(1);
        assert_eq!(class_name(sub), "unit-dynamic/1");
        assert!(!info(id).retired);
        drop(key);
        assert!(info(id).retired && info(sub).retired);
        let again = DynamicKey::new("unit-dynamic");
        assert_ne!(again.class(), id, "ids are never reused");
        assert_eq!(class_name(again.class()), "unit-dynamic#2");
    }

    #[test]
    fn named_site_uses_the_name() {
        let lazy = LazyClass::new(site(Location::caller(), Some("class-test-named")));
        assert_eq!(class_name(lazy.get(0)), "class-test-named");
    }
}
