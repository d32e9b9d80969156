//! Pseudo-locks: the kernel's `lockdep_map`, for waits that are not locks.
//!
//! A [`LockMap`] is a lock that guards nothing. It lets any blocking wait take
//! part in validation: the code being waited for *holds* the map while it
//! works, and the waiter *touches* it (acquires and releases it at once) at
//! the wait. If the waiter holds a lock the worker needs, the graph sees the
//! cycle, whether or not the wait ever actually blocked.
//!
//! ```
//! use lockdep::{LockMap, Mode};
//!
//! static JOB_DONE: LockMap = LockMap::named("job_done");
//!
//! // The worker side.
//! {
//!     let _working = JOB_DONE.hold(Mode::Exclusive);
//!     // ... the job, taking whatever locks it takes ...
//! }
//! // The waiting side, at the point it blocks.
//! JOB_DONE.touch(Mode::Exclusive);
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::panic::Location;

use crate::class::{type_of, ClassId, ClassKey, DynamicKey, LazyClass, Prefix, Source};
use crate::held::Mode;
use crate::validator;

/// A pseudo-lock: a class and an instance, without any lock behind them.
///
/// With validation compiled out (`--cfg lockdep_off`),
/// a map is zero-sized and every method does nothing.
pub struct LockMap {
    #[cfg(not(lockdep_off))]
    class: LazyClass,
}

impl LockMap {
    /// A map whose class is the call site.
    #[track_caller]
    pub const fn new() -> LockMap {
        LockMap::of::<()>(Location::caller(), Prefix::None)
    }

    /// A map whose class is the call site and `name`, printed as `name`:
    /// one line that builds maps with two names builds two classes.
    #[track_caller]
    pub const fn named(name: &'static str) -> LockMap {
        LockMap::named_at(Location::caller(), name, Prefix::None)
    }

    /// A map of the class of a [`DynamicKey`].
    pub fn with_dynamic_key(key: &DynamicKey) -> LockMap {
        LockMap::from_source(key.source())
    }

    /// A map whose class is the site `at` and the type `T` (the protected
    /// type of the primitive it stands for).
    pub(crate) const fn of<T: ?Sized>(at: &'static Location<'static>, prefix: Prefix) -> LockMap {
        LockMap::from_source(Source::Site {
            at,
            ty: type_of::<T>(),
            prefix,
        })
    }

    /// A map whose class is the site `at` and `name`.
    pub(crate) const fn named_at(
        at: &'static Location<'static>,
        name: &'static str,
        prefix: Prefix,
    ) -> LockMap {
        LockMap::from_source(Source::Named { at, name, prefix })
    }

    /// A map of the class of a static key.
    pub const fn with_key(key: &'static ClassKey) -> LockMap {
        LockMap::from_source(Source::Key(key))
    }

    pub(crate) const fn from_source(source: Source) -> LockMap {
        #[cfg(lockdep_off)]
        let _ = source;
        LockMap {
            #[cfg(not(lockdep_off))]
            class: LazyClass::new(source),
        }
    }

    /// The map's class (subclass 0), registered on first use. With
    /// validation compiled out, every map answers the same placeholder.
    pub fn class(&self) -> ClassId {
        #[cfg(not(lockdep_off))]
        return self.class.get(0);
        #[cfg(lockdep_off)]
        ClassId::PLACEHOLDER
    }

    /// The class of subclass `subclass` of the map's class.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn subclass_class(&self, subclass: u32) -> ClassId {
        #[cfg(not(lockdep_off))]
        return self.class.get(subclass);
        #[cfg(lockdep_off)]
        {
            let _ = subclass;
            ClassId::PLACEHOLDER
        }
    }

    #[inline]
    pub(crate) fn instance(&self) -> usize {
        self as *const LockMap as usize
    }

    /// Acquires, and returns what a guard needs to undo it.
    #[inline(always)]
    pub(crate) fn acquisition(
        &self,
        mode: Mode,
        subclass: u32,
        trylock: bool,
        at: &'static Location<'static>,
    ) -> Acquisition {
        Acquisition::recorded(self.acquire_full(mode, subclass, trylock, at))
    }

    /// Undoes an acquisition, once: the shared tail of every guard's drop.
    #[inline(always)]
    pub(crate) fn end(&self, acquisition: &mut Acquisition) {
        #[cfg(not(lockdep_off))]
        if std::mem::take(&mut acquisition.tracked) {
            // A guard's release always finds its entry: no site needed.
            validator::release(&self.class, self.instance(), None);
        }
        #[cfg(lockdep_off)]
        let _ = acquisition;
    }

    /// [`touch`](Self::touch) at an explicit call site.
    pub(crate) fn touch_at(&self, mode: Mode, at: &'static Location<'static>) {
        self.touch_nested_at(mode, 0, at);
    }

    /// A wait that did not block this time, but could have (a one-time
    /// initialization already done): validated as [`touch_at`](Self::touch_at)
    /// when the thread holds a lock, since the halves of a deadlock need not
    /// overlap in time. With nothing held there is nothing to validate, and
    /// it costs one thread-local read.
    #[inline]
    pub(crate) fn touch_if_holding(&self, mode: Mode, at: &'static Location<'static>) {
        #[cfg(not(lockdep_off))]
        if validator::holds_any() {
            self.touch_at(mode, at);
        }
        #[cfg(lockdep_off)]
        let _ = (mode, at);
    }

    /// [`touch_at`](Self::touch_at) of a subclass.
    pub(crate) fn touch_nested_at(
        &self,
        mode: Mode,
        subclass: u32,
        at: &'static Location<'static>,
    ) {
        let mut a = self.acquisition(mode, subclass, false, at);
        self.end(&mut a);
    }

    /// [`hold`](Self::hold) of a subclass, at an explicit call site.
    pub(crate) fn hold_nested_at(
        &self,
        mode: Mode,
        subclass: u32,
        at: &'static Location<'static>,
    ) -> LockMapGuard<'_> {
        LockMapGuard {
            map: self,
            acquisition: self.acquisition(mode, subclass, false, at),
        }
    }

    /// Records an acquisition in `mode`. Returns whether it was recorded:
    /// it is not while validation is off, or inside the validator itself.
    #[track_caller]
    pub fn acquire(&self, mode: Mode) -> bool {
        self.acquire_full(mode, 0, false, Location::caller())
    }

    /// Records an acquisition of subclass `subclass` of the map's class.
    #[track_caller]
    pub fn acquire_nested(&self, mode: Mode, subclass: u32) -> bool {
        self.acquire_full(mode, subclass, false, Location::caller())
    }

    /// Records a successful trylock: it is held, and can be the start of
    /// dependencies, but nothing ever depends on it.
    #[track_caller]
    pub fn acquire_try(&self, mode: Mode) -> bool {
        self.acquire_full(mode, 0, true, Location::caller())
    }

    /// The whole contract: `acquire(class, mode, trylock)` at `at`.
    #[inline(always)]
    pub fn acquire_full(
        &self,
        mode: Mode,
        subclass: u32,
        trylock: bool,
        at: &'static Location<'static>,
    ) -> bool {
        #[cfg(not(lockdep_off))]
        return validator::acquire(&self.class, subclass, self.instance(), mode, trylock, at);
        #[cfg(lockdep_off)]
        {
            let _ = (mode, subclass, trylock, at);
            false
        }
    }

    /// A blocking [`acquire_full`](Self::acquire_full) in two halves: the
    /// fast one, `None` when the slow one, [`acquire_slow`](Self::acquire_slow),
    /// must run (it may unwind, under `Action::Panic`; the fast one never does).
    #[inline(always)]
    pub(crate) fn acquire_fast(
        &self,
        mode: Mode,
        subclass: u32,
        at: &'static Location<'static>,
    ) -> Option<bool> {
        #[cfg(not(lockdep_off))]
        return validator::acquire_fast(&self.class, subclass, self.instance(), mode, at);
        #[cfg(lockdep_off)]
        {
            let _ = (mode, subclass, at);
            Some(false)
        }
    }

    /// The slow half of [`acquire_fast`](Self::acquire_fast).
    pub(crate) fn acquire_slow(
        &self,
        mode: Mode,
        subclass: u32,
        at: &'static Location<'static>,
    ) -> bool {
        #[cfg(not(lockdep_off))]
        return validator::acquire_blocking_slow(&self.class, subclass, self.instance(), mode, at);
        #[cfg(lockdep_off)]
        {
            let _ = (mode, subclass, at);
            false
        }
    }

    /// Records the release of this map's most recent acquisition by this
    /// thread. Releasing a map the thread does not hold is reported as a bad
    /// unlock balance.
    #[track_caller]
    pub fn release(&self) {
        self.release_at(Location::caller())
    }

    /// [`release`](Self::release) with an explicit call site.
    pub fn release_at(&self, at: &'static Location<'static>) {
        #[cfg(not(lockdep_off))]
        if crate::config::is_enabled() {
            validator::release(&self.class, self.instance(), Some(at));
        }
        #[cfg(lockdep_off)]
        let _ = at;
    }

    /// Acquires and releases at once: the annotation for a wait on whatever
    /// holds this map (a flush, a join, a drain).
    #[track_caller]
    pub fn touch(&self, mode: Mode) {
        self.touch_at(mode, Location::caller());
    }

    /// Acquires and returns a guard that releases on drop.
    #[track_caller]
    pub fn hold(&self, mode: Mode) -> LockMapGuard<'_> {
        LockMapGuard {
            map: self,
            acquisition: self.acquisition(mode, 0, false, Location::caller()),
        }
    }

    /// Like [`hold`](Self::hold), as a trylock.
    #[track_caller]
    pub fn hold_try(&self, mode: Mode) -> LockMapGuard<'_> {
        LockMapGuard {
            map: self,
            acquisition: self.acquisition(mode, 0, true, Location::caller()),
        }
    }
}

impl LockMap {
    /// A new map of this map's class (a clone of a cell is of the cell's
    /// class, as if built at the same place).
    pub(crate) fn same_class(&self) -> LockMap {
        LockMap {
            #[cfg(not(lockdep_off))]
            class: self.class.same_class(),
        }
    }

    /// Changes the mode of this thread's acquisition of the map in place
    /// (a downgrade). Returns false if the thread does not hold it.
    pub(crate) fn change_mode(&self, mode: Mode) -> bool {
        #[cfg(not(lockdep_off))]
        return validator::change_mode(self.instance(), mode);
        #[cfg(lockdep_off)]
        {
            let _ = mode;
            false
        }
    }

    /// Releases this thread's most recent acquisition of the map if there
    /// is one; nothing (and no report) otherwise: a shared acquisition the
    /// validator did not record, or a guard sent here from another thread.
    #[inline]
    pub(crate) fn release_if_held(&self) {
        #[cfg(not(lockdep_off))]
        if crate::config::is_enabled() || validator::holds_any() {
            validator::release(&self.class, self.instance(), None);
        }
    }

    /// Does the calling thread hold this map? `None` when that cannot be
    /// known: validation is off, or the question comes from inside the
    /// validator.
    pub fn is_held(&self) -> Option<bool> {
        #[cfg(not(lockdep_off))]
        return validator::holds(self.instance());
        #[cfg(lockdep_off)]
        None
    }
}

impl LockMap {
    /// Reports it if the calling thread does not hold this map.
    #[track_caller]
    pub fn assert_held(&self) {
        #[cfg(not(lockdep_off))]
        validator::assert_held(&self.class, self.instance(), true, Location::caller());
    }

    /// Reports it if the calling thread holds this map.
    #[track_caller]
    pub fn assert_not_held(&self) {
        #[cfg(not(lockdep_off))]
        validator::assert_held(&self.class, self.instance(), false, Location::caller());
    }

    /// Declares that the caller *might* acquire this map in `mode` here: an
    /// acquisition that is validated and released at once, so an order that
    /// is only taken on a rare path is checked on every run.
    #[track_caller]
    pub fn might_acquire(&self, mode: Mode) {
        self.touch_at(mode, Location::caller());
    }

    /// Pins the calling thread's hold on this map until the returned value is
    /// dropped: releasing the map meanwhile (say, a callee that drops and
    /// retakes the lock the caller relies on) is reported. Does nothing if
    /// the thread does not hold the map.
    pub fn pin(&self) -> Pinned<'_> {
        #[cfg(not(lockdep_off))]
        let pinned = validator::pin(self.instance(), 1);
        #[cfg(lockdep_off)]
        let pinned = false;
        Pinned { map: self, pinned }
    }
}

#[cfg(not(lockdep_off))]
impl Drop for LockMap {
    /// A lock dropped while this thread still holds it (its guard leaked) is
    /// reported, and forgotten.
    #[inline]
    fn drop(&mut self) {
        // A lock that was never acquired cannot be held: dropping it stays
        // as cheap as dropping the plain lock.
        if self.class.resolved() {
            if crate::config::is_enabled() {
                validator::freed(self.instance());
            }
            self.class.retire_own();
        }
    }
}

/// A pin on a held lock; see [`LockMap::pin`].
#[must_use = "the pin is removed when this is dropped"]
pub struct Pinned<'a> {
    map: &'a LockMap,
    pinned: bool,
}

impl Drop for Pinned<'_> {
    fn drop(&mut self) {
        #[cfg(not(lockdep_off))]
        if self.pinned {
            validator::pin(self.map.instance(), -1);
        }
    }
}

impl fmt::Debug for Pinned<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pinned")
            .field("pinned", &self.pinned)
            .finish()
    }
}

/// The contract methods every instrumented lock has, on the field (path)
/// given, which is a [`LockMap`] or another lock: one definition for all of
/// them, the front ends' included.
macro_rules! contract_methods {
    ($($field:ident).+) => {
        /// Reports it if the calling thread does not hold this lock.
        #[track_caller]
        pub fn assert_held(&self) {
            crate::map::AsLockMap::as_lock_map(&self.$($field).+).assert_held();
        }

        /// Reports it if the calling thread holds this lock.
        #[track_caller]
        pub fn assert_not_held(&self) {
            crate::map::AsLockMap::as_lock_map(&self.$($field).+).assert_not_held();
        }

        /// Re-annotates this thread's hold on the lock as subclass
        /// `subclass` of its class, re-validating the locks held above it:
        /// for hand-over-hand locking (see
        /// [`LockMap::set_subclass`](crate::LockMap::set_subclass)).
        #[track_caller]
        pub fn set_subclass(&self, subclass: u32) -> bool {
            crate::map::AsLockMap::as_lock_map(&self.$($field).+).set_subclass(subclass)
        }

        /// Pins this thread's hold on the lock until the returned value is
        /// dropped; releasing it meanwhile is reported (see
        /// [`LockMap::pin`](crate::LockMap::pin)).
        pub fn pin(&self) -> crate::Pinned<'_> {
            crate::map::AsLockMap::as_lock_map(&self.$($field).+).pin()
        }
    };
}
pub(crate) use contract_methods;

/// Anything with a pseudo-lock inside: every instrumented lock. Lets one
/// lock be named as the nest lock of another.
pub trait AsLockMap {
    /// The lock's pseudo-lock.
    fn as_lock_map(&self) -> &LockMap;
}

impl AsLockMap for LockMap {
    fn as_lock_map(&self) -> &LockMap {
        self
    }
}

impl LockMap {
    /// Acquires this map under a *nest lock*: while the thread holds `nest`,
    /// it may hold any number of maps of this class taken after it (the nest
    /// lock serializes everyone who takes them, so their order cannot
    /// deadlock). Such an acquisition adds no dependency; the first map of
    /// the class under `nest` is validated as usual. If the thread does not
    /// hold `nest`, that is reported; if it took a map of this class before
    /// `nest`, this one is recursive locking.
    #[track_caller]
    pub fn acquire_under(&self, mode: Mode, nest: &impl AsLockMap) -> bool {
        self.acquire_under_at(mode, nest.as_lock_map(), Location::caller())
    }

    /// [`acquire_under`](Self::acquire_under) at an explicit call site.
    pub(crate) fn acquire_under_at(
        &self,
        mode: Mode,
        nest: &LockMap,
        at: &'static Location<'static>,
    ) -> bool {
        #[cfg(not(lockdep_off))]
        return validator::acquire_under(
            &self.class,
            self.instance(),
            mode,
            at,
            &nest.class,
            nest.instance(),
        );
        #[cfg(lockdep_off)]
        {
            let _ = (mode, nest, at);
            false
        }
    }

    /// Acquires a map of an ordered class ([`ClassKey::ordered`]) with an
    /// explicit order key, in place of its address.
    #[track_caller]
    pub fn acquire_ordered(&self, mode: Mode, key: u64) -> bool {
        self.acquire_ordered_at(mode, key, Location::caller())
    }

    /// [`acquire_ordered`](Self::acquire_ordered) at an explicit call site.
    pub(crate) fn acquire_ordered_at(
        &self,
        mode: Mode,
        key: u64,
        at: &'static Location<'static>,
    ) -> bool {
        #[cfg(not(lockdep_off))]
        return validator::acquire_ordered(&self.class, self.instance(), mode, key, at);
        #[cfg(lockdep_off)]
        {
            let _ = (mode, key, at);
            false
        }
    }

    /// Re-annotates the calling thread's hold on this map as subclass
    /// `subclass` of its class (the kernel's `lock_set_subclass`): the held
    /// entry and every one above it are re-acquired, and any order that
    /// makes new is validated. This is the fix for hand-over-hand locking
    /// of one class: take the next node as subclass 1, release the previous
    /// one, and set the next one back to subclass 0. Returns false if the
    /// thread does not hold the map, which is reported as a bad unlock
    /// balance.
    ///
    /// A lock taken back later (a condvar wait, a guard's `unlocked` or
    /// `bump`) is taken as the subclass of its acquisition, not this one.
    /// The re-validation works as a release's does: under `Action::Panic`
    /// its reports are printed, not raised as panics.
    #[track_caller]
    pub fn set_subclass(&self, subclass: u32) -> bool {
        #[cfg(not(lockdep_off))]
        return validator::set_subclass(&self.class, self.instance(), subclass, Location::caller());
        #[cfg(lockdep_off)]
        {
            let _ = subclass;
            false
        }
    }

    /// [`acquire_under`](Self::acquire_under), with a guard.
    #[track_caller]
    pub fn hold_under(&self, mode: Mode, nest: &impl AsLockMap) -> LockMapGuard<'_> {
        LockMapGuard {
            map: self,
            acquisition: Acquisition::recorded(self.acquire_under(mode, nest)),
        }
    }
}

impl Default for LockMap {
    #[track_caller]
    fn default() -> Self {
        LockMap::new()
    }
}

impl fmt::Debug for LockMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockMap").finish_non_exhaustive()
    }
}

/// What a guard keeps of its acquisition so that it can undo it: whether
/// the validator recorded it. Not `Send`: a held lock belongs to its thread.
#[derive(Debug)]
pub(crate) struct Acquisition {
    #[cfg(not(lockdep_off))]
    tracked: bool,
    _not_send: PhantomData<*const ()>,
}

impl Acquisition {
    /// Did the validator record the acquisition?
    pub(crate) fn tracked(&self) -> bool {
        #[cfg(not(lockdep_off))]
        return self.tracked;
        #[cfg(lockdep_off)]
        false
    }

    /// The record of an acquisition made by other means.
    pub(crate) fn recorded(tracked: bool) -> Acquisition {
        #[cfg(lockdep_off)]
        let _ = tracked;
        Acquisition {
            #[cfg(not(lockdep_off))]
            tracked,
            _not_send: PhantomData,
        }
    }
}

/// Holds a [`LockMap`] until dropped. Not `Send`: a held lock belongs to its thread.
#[must_use = "the map is released when the guard is dropped"]
pub struct LockMapGuard<'a> {
    map: &'a LockMap,
    acquisition: Acquisition,
}

impl Drop for LockMapGuard<'_> {
    fn drop(&mut self) {
        self.map.end(&mut self.acquisition);
    }
}

impl fmt::Debug for LockMapGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockMapGuard")
            .field("tracked", &self.acquisition.tracked())
            .finish()
    }
}
