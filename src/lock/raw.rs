//! [`Tracked<R>`]: a raw lock `R` that tells the validator, below
//! `lock_api`. What each raw operation is validated as is the table in the
//! [module docs](crate::lock).

use std::panic::Location;
#[cfg(not(lockdep_off))]
use std::sync::atomic::{AtomicU32, Ordering};

use lock_api::{
    GetThreadId, RawMutex, RawMutexFair, RawMutexTimed, RawRwLock, RawRwLockDowngrade,
    RawRwLockFair, RawRwLockRecursive, RawRwLockRecursiveTimed, RawRwLockTimed, RawRwLockUpgrade,
    RawRwLockUpgradeDowngrade, RawRwLockUpgradeFair, RawRwLockUpgradeTimed,
};

use crate::class::{ClassId, ClassKey, Prefix, Source};
use crate::held::Mode;
use crate::map::{Acquisition, AsLockMap, LockMap};
#[cfg(all(feature = "send_guard", not(lockdep_off)))]
use crate::validator::orphans;

/// The unlocked value of an inner raw lock of any kind, for [`Tracked`]'s constructors.
pub trait RawInit: Sized {
    /// The unlocked raw lock.
    const UNLOCKED: Self;
}

/// A raw lock `R` whose acquisitions and releases are validated: it
/// implements `lock_api`'s raw traits where `R` does, so
/// `lock_api::Mutex<Tracked<R>, T>` (and `RwLock`, `ReentrantMutex`) is a
/// validated lock whose guards are `lock_api`'s own.
pub struct Tracked<R> {
    raw: R,
    /// The exclusive (or upgradable) holder's acquisition: [`RECORDED`] if
    /// recorded, and its subclass above. Written after taking `raw`, read
    /// before unlocking: the raw lock orders the accesses. The subclass
    /// stays after the unlock, for a guard's `unlocked` (`exclusive`).
    #[cfg(not(lockdep_off))]
    held: AtomicU32,
    /// With `send_guard`: the token of the thread whose stack holds the
    /// holder's record (a guard may be released on another thread).
    #[cfg(all(feature = "send_guard", not(lockdep_off)))]
    owner: std::sync::atomic::AtomicU16,
    map: LockMap,
}

#[cfg(not(lockdep_off))]
const RECORDED: u32 = 1;

/// A call site, as `#[track_caller]` gives it.
type At = &'static Location<'static>;

impl<R: RawInit> Tracked<R> {
    /// A raw lock whose class is the call site and `name`, printed as `name`.
    #[track_caller]
    pub const fn named(name: &'static str) -> Self {
        Self::with_map(R::UNLOCKED, LockMap::named(name))
    }

    /// A raw lock of the class of a static key.
    pub const fn with_key(key: &'static ClassKey) -> Self {
        Self::with_map(R::UNLOCKED, LockMap::with_key(key))
    }

    /// A raw lock whose class is the site `at` and the protected type `T`.
    pub(crate) const fn of<T: ?Sized>(at: At) -> Self {
        Self::with_map(R::UNLOCKED, LockMap::of::<T>(at, Prefix::None))
    }
}

impl<R> Tracked<R> {
    /// An unlocked raw lock `raw` of the class of `map`.
    pub const fn with_map(raw: R, map: LockMap) -> Self {
        Tracked {
            raw,
            #[cfg(not(lockdep_off))]
            held: AtomicU32::new(0),
            #[cfg(all(feature = "send_guard", not(lockdep_off)))]
            owner: std::sync::atomic::AtomicU16::new(0),
            map,
        }
    }

    /// The lock's class.
    pub fn class(&self) -> ClassId {
        self.map.class()
    }

    /// Unlocks the raw lock for a condvar's wait, past the validator (the
    /// caller has had it forget the acquisition: [`Self::forget_held`]).
    pub(crate) unsafe fn unlock_for_wait(&self)
    where
        R: RawMutex,
    {
        self.deadlock_held(false);
        // SAFETY: the caller holds the raw lock.
        unsafe { self.raw.unlock() }
    }

    #[inline(always)]
    fn set_held(&self, recorded: bool, subclass: u32) {
        #[cfg(not(lockdep_off))]
        self.held
            .store((subclass << 1) | u32::from(recorded), Ordering::Relaxed);
        #[cfg(all(feature = "send_guard", not(lockdep_off)))]
        if recorded {
            self.owner.store(orphans::token(), Ordering::Relaxed);
        }
        #[cfg(lockdep_off)]
        let _ = (recorded, subclass);
    }

    /// The thread whose stack holds the holder's record (0 if unknown).
    #[inline(always)]
    fn owner(&self) -> u16 {
        #[cfg(all(feature = "send_guard", not(lockdep_off)))]
        return self.owner.load(Ordering::Relaxed);
        #[cfg(not(all(feature = "send_guard", not(lockdep_off))))]
        0
    }

    /// The validator forgets the holder's recorded acquisition, made by
    /// thread `owner`: here, or (a guard sent with `send_guard`) on that
    /// thread, at its next session or its end.
    #[inline(always)]
    fn end_holder(&self, owner: u16) {
        #[cfg(all(feature = "send_guard", not(lockdep_off)))]
        if owner != orphans::token() {
            return orphans::post(owner, self.map.instance());
        }
        let _ = owner;
        self.map.end(&mut Acquisition::recorded(true));
    }

    /// The holder's acquisition: whether it was recorded, and its subclass.
    #[inline(always)]
    fn holder(&self) -> (bool, u32) {
        #[cfg(not(lockdep_off))]
        {
            let held = self.held.load(Ordering::Relaxed);
            (held & RECORDED != 0, held >> 1)
        }
        #[cfg(lockdep_off)]
        (false, 0)
    }

    /// A plain exclusive lock: subclass 0, unless it is the re-take of a
    /// guard's `unlocked` (from `lock_api`'s source), which keeps the one it
    /// had; only a lock last held nested looks at the caller, out of line.
    #[inline(always)]
    fn exclusive(&self, at: At, lock: fn(&R)) {
        match self.holder().1 {
            0 => self.plain(Mode::Exclusive, 0, at, lock, true),
            _ => self.exclusive_retake(at, lock),
        }
    }

    #[cold]
    fn exclusive_retake(&self, at: At, lock: fn(&R)) {
        let subclass = match inside_lock_api(at) {
            true => self.holder().1,
            false => 0,
        };
        self.plain(Mode::Exclusive, subclass, at, lock, true)
    }

    /// The one definition of a blocking acquisition, in two halves: the
    /// validator is told first (a report comes before a hang), by
    /// `validate` with a [`Retake`] armed in case it unwinds; then
    /// [`took`](Self::took) takes the raw lock.
    #[inline(always)]
    fn armed(&self, at: &Location<'_>, lock: fn(&R), validate: impl FnOnce() -> bool) -> bool {
        let retake = Retake {
            lock: self,
            at,
            relock: lock,
        };
        let recorded = validate();
        std::mem::forget(retake);
        recorded
    }

    /// The second half: takes the raw lock. `holder`: an exclusive or
    /// upgradable acquisition's subclass, whose record the lock keeps (a
    /// shared one has many).
    #[inline(always)]
    fn took(&self, lock: fn(&R), recorded: bool, holder: Option<u32>) {
        lock(&self.raw);
        self.deadlock_held(true);
        if let Some(subclass) = holder {
            self.set_held(recorded, subclass);
        }
    }

    /// Tells parking_lot_core's deadlock detector (feature `deadlock_detection`,
    /// else empty calls) what the thread holds, as parking_lot's locks do.
    #[inline(always)]
    fn deadlock_held(&self, held: bool) {
        use parking_lot_core::deadlock::{acquire_resource as took, release_resource as gave};
        let tell = if held { took } else { gave };
        // SAFETY: a key is acquired when the raw lock is taken and released
        // before it is unlocked, as the detector requires.
        unsafe { tell(&self.raw as *const R as usize) }
    }

    /// A blocking acquisition in `mode`, as subclass `subclass`.
    #[inline(always)]
    fn plain(&self, mode: Mode, subclass: u32, at: At, lock: fn(&R), holder: bool) {
        // Only the slow half may unwind, so only it arms a `Retake`.
        let recorded = match self.map.acquire_fast(mode, subclass, at) {
            Some(recorded) => recorded,
            None => self.plain_slow(mode, subclass, at, lock),
        };
        self.took(lock, recorded, holder.then_some(subclass));
    }

    #[cold]
    fn plain_slow(&self, mode: Mode, subclass: u32, at: At, lock: fn(&R)) -> bool {
        self.armed(at, lock, || self.map.acquire_slow(mode, subclass, at))
    }

    /// The one definition of a successful trylock, timed or not: a trylock
    /// in `mode`. If the validator unwinds, `unlock` gives the raw lock
    /// back: no lock stays locked without a guard.
    #[inline]
    fn tried(&self, locked: bool, mode: Mode, at: At, holder: bool, unlock: unsafe fn(&R)) -> bool {
        if locked {
            self.deadlock_held(true);
            let give_back = GiveBack(&self.raw, unlock);
            let recorded = self.map.acquire_full(mode, 0, true, at);
            std::mem::forget(give_back);
            if holder {
                self.set_held(recorded, 0);
            }
        }
        locked
    }

    /// The one definition of a release: `unlock` unlocks the raw lock
    /// first (whatever the validator does, the lock is free), then the
    /// validator forgets the acquisition. A holder's record says whether
    /// there is one; a shared release forgets the thread's entry of the
    /// lock if there is one (an untracked acquisition, or a guard sent
    /// here from another thread, has none: nothing is reported).
    #[inline(always)]
    unsafe fn release(&self, holder: bool, unlock: unsafe fn(&R)) {
        let ((recorded, _), owner) = (self.holder(), self.owner());
        self.deadlock_held(false);
        // SAFETY: the caller holds the raw lock, as `unlock` needs.
        unsafe { unlock(&self.raw) };
        if !holder {
            self.map.release_if_held();
        } else if recorded {
            self.end_holder(owner);
        }
    }

    /// The validator's half of a `bump` (or of an upgrade): the held
    /// acquisition is released, then a blocking one in `mode` validated
    /// and recorded, before the caller's raw operation can block. If the
    /// validator panics, the guard still owns the raw lock, unrecorded.
    fn rearm(&self, mode: Mode, holder: bool, at: At) {
        let subclass = self.forget_held(holder);
        let recorded = self.map.acquire_full(mode, subclass, false, at);
        if holder {
            self.set_held(recorded, subclass);
        }
    }

    /// Forgets this thread's acquisition in the validator, keeping the raw
    /// lock (a bump, a condvar wait). Returns its subclass.
    pub(crate) fn forget_held(&self, holder: bool) -> u32 {
        let (recorded, subclass) = self.holder();
        if !holder {
            self.map.release_if_held();
            return 0;
        }
        let owner = self.owner();
        self.set_held(false, subclass);
        if recorded {
            self.end_holder(owner);
        }
        subclass
    }

    /// A held acquisition becomes shared (a downgrade, which cannot block).
    /// `holder`: the thread is still the upgradable holder.
    fn downgraded(&self, holder: bool) {
        let (recorded, _) = self.holder();
        if recorded {
            self.map.change_mode(Mode::Shared);
        }
        if !holder {
            self.set_held(false, 0);
        }
    }

    /// A successful upgrade trylock: the upgradable acquisition becomes an
    /// exclusive trylock.
    fn tried_upgrade(&self, upgraded: bool, at: At) -> bool {
        if upgraded {
            self.forget_held(true);
            let recorded = self.map.acquire_full(Mode::Exclusive, 0, true, at);
            self.set_held(recorded, 0);
        }
        upgraded
    }
}

/// Is `at` in `lock_api`'s source? Only its guards (a re-take after
/// `unlocked`), `RawReentrantMutex` and `Debug` lock from there.
#[cold]
pub(crate) fn inside_lock_api(at: &Location<'_>) -> bool {
    at.file()
        .split(['/', '\\'])
        .any(|part| part == "lock_api" || part.starts_with("lock_api-"))
}

/// Armed while a blocking acquisition is validated. If the validator
/// unwinds (`Action::Panic`) in the re-take of a guard's `unlocked` (from
/// inside `lock_api`), that guard lives on and will unlock: take the raw
/// lock for it, unrecorded. Other callers have no guard: it stays free.
struct Retake<'a, R> {
    lock: &'a Tracked<R>,
    at: &'a Location<'a>,
    relock: fn(&R),
}

impl<R> Drop for Retake<'_, R> {
    #[cold]
    fn drop(&mut self) {
        // Not from `RawReentrantMutex` (`remutex.rs`): its plain lock and its
        // guard's re-take are one call site, and a plain lock has no guard.
        if inside_lock_api(self.at) && !self.at.file().ends_with("remutex.rs") {
            (self.relock)(&self.lock.raw);
            self.lock.set_held(false, self.lock.holder().1);
        }
    }
}

/// Unlocks a raw lock if dropped, which only happens while unwinding.
struct GiveBack<'a, R>(&'a R, unsafe fn(&R));

impl<R> Drop for GiveBack<'_, R> {
    #[cold]
    fn drop(&mut self) {
        // SAFETY: armed only between a successful trylock of the raw lock
        // and the guard that would own it, which now will not exist.
        unsafe { (self.1)(self.0) };
    }
}

/// The annotated acquisitions, for `lock_nested`, `lock_under`,
/// `read_under`, ... (`lock` is `R`'s plain or exclusive lock).
impl<R> Tracked<R> {
    /// A blocking acquisition in `mode` as subclass `subclass`.
    #[inline(always)]
    #[track_caller]
    pub(crate) fn lock_nested(&self, mode: Mode, subclass: u32, lock: fn(&R)) {
        let holder = mode == Mode::Exclusive;
        self.plain(mode, subclass, Location::caller(), lock, holder);
    }

    /// A blocking acquisition in `mode` under a nest lock.
    #[inline(always)]
    #[track_caller]
    pub(crate) fn lock_under(&self, mode: Mode, nest: &impl AsLockMap, lock: fn(&R)) {
        let at = Location::caller();
        let recorded = self.armed(at, lock, || {
            self.map.acquire_under_at(mode, nest.as_lock_map(), at)
        });
        self.took(lock, recorded, (mode == Mode::Exclusive).then_some(0));
    }

    /// An exclusive acquisition of an ordered class with an order key.
    #[inline]
    #[track_caller]
    pub(crate) fn lock_ordered(&self, key: u64, lock: fn(&R)) {
        let at = Location::caller();
        let recorded = self.armed(at, lock, || {
            self.map.acquire_ordered_at(Mode::Exclusive, key, at)
        });
        self.took(lock, recorded, Some(0));
    }

    /// After a condvar's wait, takes the lock back: a blocking acquisition
    /// of `subclass`. If the validator unwinds (`Action::Panic`), the raw
    /// lock is taken anyway, so that the guard owns it when dropped.
    pub(crate) fn retake_after_wait(&self, subclass: u32, at: At, lock: fn(&R)) {
        let validated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.map.acquire_full(Mode::Exclusive, subclass, false, at)
        }));
        self.took(lock, *validated.as_ref().unwrap_or(&false), Some(subclass));
        if let Err(panic) = validated {
            std::panic::resume_unwind(panic)
        }
    }
}

/// Raw trait methods, each one of the definitions above. `try`: a trylock
/// (timed or not: `R`'s method of the same name, then [`Tracked::tried`]
/// in `$mode`); `unlock`: [`Tracked::release`] by `R`'s method of the same
/// name; `bump`: [`Tracked::rearm`] in `$mode`, then `R`'s bump.
macro_rules! raw_ops {
    ($(try $name:ident($($arg:ident: $ty:ty)?) $mode:ident $holder:literal $unlock:ident;)*
     $(unlock $uname:ident $uholder:literal;)*
     $(bump $bname:ident $bmode:ident $bholder:literal;)*
     $(upgrade $gname:ident($($garg:ident: $gty:ty)?);)*) => {
        $(
            #[inline]
            #[track_caller]
            fn $name(&self $(, $arg: $ty)?) -> bool {
                let locked = self.raw.$name($($arg)?);
                self.tried(locked, Mode::$mode, Location::caller(), $holder, R::$unlock)
            }
        )*
        $(
            #[inline(always)]
            unsafe fn $uname(&self) {
                // SAFETY: the caller holds the lock in the mode this unlocks.
                unsafe { self.release($uholder, R::$uname) }
            }
        )*
        $(
            #[track_caller]
            unsafe fn $bname(&self) {
                self.rearm(Mode::$bmode, $bholder, Location::caller());
                // SAFETY: the caller holds the lock; held again on return.
                unsafe { self.raw.$bname() }
            }
        )*
        $(
            #[track_caller]
            unsafe fn $gname(&self $(, $garg: $gty)?) -> bool {
                // SAFETY: the caller holds the upgradable lock.
                let upgraded = unsafe { self.raw.$gname($($garg)?) };
                self.tried_upgrade(upgraded, Location::caller())
            }
        )*
    };
}

// SAFETY (every raw trait below): `Tracked<R>` is the lock `R` is. Each
// method locks or unlocks `R` exactly as the trait requires, and the
// validator's calls around it never touch `R`, but on unwinding, where
// `Retake` locks `R` only for a guard that still exists and `GiveBack`
// unlocks it only for one that never will.
unsafe impl<R: RawMutex> RawMutex for Tracked<R> {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Self::with_map(R::INIT, LockMap::from_source(Source::Acquired));

    /// The inner lock's: guards are `Send` where its are (`parking_lot`'s
    /// with its `send_guard` feature, which this crate's turns on).
    type GuardMarker = R::GuardMarker;

    #[inline(always)]
    #[track_caller]
    fn lock(&self) {
        self.exclusive(Location::caller(), R::lock);
    }

    raw_ops! { try try_lock() Exclusive true unlock; unlock unlock true; }

    #[inline]
    fn is_locked(&self) -> bool {
        probe::seen(&self.map);
        self.raw.is_locked()
    }
}

unsafe impl<R: RawMutexFair> RawMutexFair for Tracked<R> {
    raw_ops! { unlock unlock_fair true; bump bump Exclusive true; }
}

unsafe impl<R: RawMutexTimed> RawMutexTimed for Tracked<R> {
    type Duration = R::Duration;
    type Instant = R::Instant;
    raw_ops! {
        try try_lock_for(timeout: R::Duration) Exclusive true unlock;
        try try_lock_until(deadline: R::Instant) Exclusive true unlock;
    }
}

unsafe impl<R: RawRwLock> RawRwLock for Tracked<R> {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Self::with_map(R::INIT, LockMap::from_source(Source::Acquired));

    type GuardMarker = R::GuardMarker;

    #[inline]
    #[track_caller]
    fn lock_shared(&self) {
        self.plain(Mode::Shared, 0, Location::caller(), R::lock_shared, false);
    }

    #[inline]
    #[track_caller]
    fn lock_exclusive(&self) {
        self.exclusive(Location::caller(), R::lock_exclusive);
    }

    raw_ops! {
        try try_lock_shared() Shared false unlock_shared;
        try try_lock_exclusive() Exclusive true unlock_exclusive;
        unlock unlock_shared false;
        unlock unlock_exclusive true;
    }

    fn is_locked(&self) -> bool {
        self.raw.is_locked()
    }

    fn is_locked_exclusive(&self) -> bool {
        self.raw.is_locked_exclusive()
    }
}

unsafe impl<R: RawRwLockFair> RawRwLockFair for Tracked<R> {
    raw_ops! {
        unlock unlock_shared_fair false;
        unlock unlock_exclusive_fair true;
        bump bump_shared Shared false;
        bump bump_exclusive Exclusive true;
    }
}

unsafe impl<R: RawRwLockDowngrade> RawRwLockDowngrade for Tracked<R> {
    unsafe fn downgrade(&self) {
        // SAFETY: the caller holds the lock exclusively.
        unsafe { self.raw.downgrade() };
        self.downgraded(false);
    }
}

unsafe impl<R: RawRwLockTimed> RawRwLockTimed for Tracked<R> {
    type Duration = R::Duration;
    type Instant = R::Instant;
    raw_ops! {
        try try_lock_shared_for(timeout: R::Duration) Shared false unlock_shared;
        try try_lock_shared_until(deadline: R::Instant) Shared false unlock_shared;
        try try_lock_exclusive_for(timeout: R::Duration) Exclusive true unlock_exclusive;
        try try_lock_exclusive_until(deadline: R::Instant) Exclusive true unlock_exclusive;
    }
}

unsafe impl<R: RawRwLockRecursive> RawRwLockRecursive for Tracked<R> {
    #[track_caller]
    fn lock_shared_recursive(&self) {
        let at = Location::caller();
        self.plain(
            Mode::SharedRecursive,
            0,
            at,
            R::lock_shared_recursive,
            false,
        );
    }

    raw_ops! { try try_lock_shared_recursive() SharedRecursive false unlock_shared; }
}

unsafe impl<R: RawRwLockRecursiveTimed> RawRwLockRecursiveTimed for Tracked<R> {
    raw_ops! {
        try try_lock_shared_recursive_for(timeout: R::Duration) SharedRecursive false unlock_shared;
        try try_lock_shared_recursive_until(deadline: R::Instant) SharedRecursive false unlock_shared;
    }
}

unsafe impl<R: RawRwLockUpgrade> RawRwLockUpgrade for Tracked<R> {
    #[track_caller]
    fn lock_upgradable(&self) {
        self.plain(
            Mode::Shared,
            0,
            Location::caller(),
            R::lock_upgradable,
            true,
        );
    }

    raw_ops! {
        try try_lock_upgradable() Shared true unlock_upgradable;
        unlock unlock_upgradable true;
        bump upgrade Exclusive true;
        upgrade try_upgrade();
    }
}

unsafe impl<R: RawRwLockUpgradeFair> RawRwLockUpgradeFair for Tracked<R> {
    raw_ops! { unlock unlock_upgradable_fair true; bump bump_upgradable Shared true; }
}

unsafe impl<R: RawRwLockUpgradeDowngrade> RawRwLockUpgradeDowngrade for Tracked<R> {
    unsafe fn downgrade_upgradable(&self) {
        // SAFETY: the caller holds the upgradable lock.
        unsafe { self.raw.downgrade_upgradable() };
        self.set_held(false, 0);
    }

    unsafe fn downgrade_to_upgradable(&self) {
        // SAFETY: the caller holds the lock exclusively.
        unsafe { self.raw.downgrade_to_upgradable() };
        self.downgraded(true);
    }
}

unsafe impl<R: RawRwLockUpgradeTimed> RawRwLockUpgradeTimed for Tracked<R> {
    raw_ops! {
        try try_lock_upgradable_for(timeout: R::Duration) Shared true unlock_upgradable;
        try try_lock_upgradable_until(deadline: R::Instant) Shared true unlock_upgradable;
        upgrade try_upgrade_for(timeout: R::Duration);
        upgrade try_upgrade_until(deadline: R::Instant);
    }
}

impl<R> AsLockMap for Tracked<R> {
    fn as_lock_map(&self) -> &LockMap {
        &self.map
    }
}

impl<R: RawMutex, T: ?Sized> AsLockMap for lock_api::Mutex<Tracked<R>, T> {
    fn as_lock_map(&self) -> &LockMap {
        // SAFETY: the raw lock is only read here, never locked or unlocked.
        unsafe { self.raw() }.as_lock_map()
    }
}

impl<R: RawRwLock, T: ?Sized> AsLockMap for lock_api::RwLock<Tracked<R>, T> {
    fn as_lock_map(&self) -> &LockMap {
        // SAFETY: the raw lock is only read here, never locked or unlocked.
        unsafe { self.raw() }.as_lock_map()
    }
}

impl<R: RawMutex, G: GetThreadId, T: ?Sized> AsLockMap
    for lock_api::ReentrantMutex<Tracked<R>, G, T>
{
    fn as_lock_map(&self) -> &LockMap {
        map_of(self)
    }
}

/// `lock_api`'s `RawReentrantMutex` keeps its inner mutex private, but its
/// `is_locked` asks the inner one: the tracked mutex notes there, on the
/// calling thread, which map it is, so that a re-entrant mutex's map can
/// be found ([`map_of`]).
mod probe {
    use std::cell::Cell;

    use crate::map::LockMap;

    thread_local! {
        static SEEN: Cell<*const LockMap> = const { Cell::new(std::ptr::null()) };
    }

    #[inline]
    pub(super) fn seen(map: &LockMap) {
        let _ = SEEN.try_with(|seen| seen.set(map));
    }

    pub(super) fn take() -> *const LockMap {
        SEEN.try_with(|seen| seen.replace(std::ptr::null()))
            .unwrap_or(std::ptr::null())
    }
}

/// The map of the tracked mutex inside a re-entrant one.
fn map_of<R: RawMutex, G: GetThreadId, T: ?Sized>(
    lock: &lock_api::ReentrantMutex<Tracked<R>, G, T>,
) -> &LockMap {
    lock.is_locked();
    let map = probe::take();
    assert!(
        !map.is_null(),
        "lockdep: the re-entrant mutex's map was not seen"
    );
    // SAFETY: `is_locked` just ran `Tracked::is_locked` on this thread, on
    // the tracked mutex inside `lock` (`RawReentrantMutex::is_locked` asks
    // its inner mutex), which noted its map: a field of `lock`, which
    // lives as long as the borrow returned.
    unsafe { &*map }
}
