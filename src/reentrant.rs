//! An instrumented re-entrant mutex over `lock_api::RawReentrantMutex`.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::Deref;
use std::panic::Location;
use std::ptr;
#[cfg(feature = "arc_lock")]
use std::sync::Arc;

use lock_api::{GetThreadId, RawMutex, RawMutexFair, RawMutexTimed, RawReentrantMutex};

use crate::class::{ClassId, ClassKey, DynamicKey, Prefix};
use crate::held::Mode;
use crate::map::{Acquisition, Defer, LockMap};

/// A mutex that its owner may lock again, whose order against other locks is
/// validated. Guards give shared access only (`&T`), as a re-entrant lock
/// may hand out several at once.
///
/// A thread that holds a [`ReentrantMutex`] may lock it again: that cannot
/// deadlock, so the validator is not told of it at all. The validator sees
/// one exclusive acquisition for as long as the thread owns the lock, from
/// its first `lock` to the drop of its last guard, in whatever order the
/// guards are dropped. The order of that acquisition against other locks is
/// checked like any mutex's: holding `R` while taking `M` in one place and
/// `M` while taking `R` in another is the usual ABBA, re-entrant or not.
///
/// ```
/// use lockdep::parking_lot::ReentrantMutex;
/// use std::cell::Cell;
///
/// static LOG: ReentrantMutex<Cell<u32>> = ReentrantMutex::named("log", Cell::new(0));
///
/// fn write() {
///     let log = LOG.lock();
///     log.set(log.get() + 1);
/// }
///
/// let outer = LOG.lock();
/// write(); // locks LOG again on this thread: fine, and not reported
/// assert_eq!(lockdep::held_locks().len(), 1);
/// drop(outer);
/// assert_eq!(LOG.lock().get(), 1);
/// ```
///
/// The rest of `lock_api::ReentrantMutex`'s API is validated in the same
/// spirit, one acquisition per owning thread:
///
/// | method | validated as |
/// |---|---|
/// | `try_lock`, `try_lock_for`, `try_lock_until` | a trylock if the thread does not own the mutex yet (a timed wait cannot wait forever, so an ABBA order through it is **not** reported); nothing if it does |
/// | guard `unlocked`, `unlocked_fair` | gives up one level: if that was the thread's last, a release, then a new blocking acquisition when `f` is done (also if it panics); otherwise nothing |
/// | guard `bump` | `unlocked_fair` with nothing to run: a release and a validated re-take if it is the thread's last level, nothing otherwise (as the raw bump only yields then) |
/// | guard `unlock_fair` (mapped guards too) | like dropping the guard |
/// | `force_unlock`, `force_unlock_fair` (unsafe) | gives up one level of a forgotten guard: when it is the thread's last, the thread's acquisition is released (a bad unlock balance is reported if the thread holds none); when other levels remain, the release comes with the last of them |
/// | `is_locked`, `is_owned_by_current_thread`, `data_ptr` | nothing: not acquisitions |
/// | `lock_arc`, `try_lock_arc`, `try_lock_arc_for`, `try_lock_arc_until` (feature `arc_lock`; on an `Arc<ReentrantMutex>`) | as `lock`, `try_lock`, `try_lock_for`, `try_lock_until`; the guard, an `ArcReentrantMutexGuard`, owns an `Arc` of the mutex instead of borrowing it, and counts as one of the thread's levels like any guard |
/// | `ArcReentrantMutexGuard::unlocked`, `unlocked_fair`, `bump`, `unlock_fair` | as `ReentrantMutexGuard`'s |
/// | `ArcReentrantMutexGuard::into_arc`, `into_arc_fair` | like dropping the guard (the `Arc` is given back) |
///
/// There is no `raw` or `from_raw`: the raw re-entrant lock underneath is
/// `lock_api`'s `RawReentrantMutex`, which keeps its inner mutex private.
pub struct ReentrantMutex<R, G, T: ?Sized> {
    core: Core<R, G>,
    data: UnsafeCell<T>,
}

impl<R, G, T: ?Sized> crate::AsLockMap for ReentrantMutex<R, G, T> {
    fn as_lock_map(&self) -> &LockMap {
        &self.core.map
    }
}

/// Everything of a [`ReentrantMutex`] but the data: what a guard, mapped or
/// not, needs to give up its level of ownership.
struct Core<R, G> {
    raw: RawReentrantMutex<R, G>,
    map: LockMap,
    /// The validator's record of the owner's acquisition once the guard that
    /// made it is gone but the thread still owns the lock through others
    /// (guards dropped out of order). Touched only by the owning thread, and
    /// always `None` while no thread owns the lock.
    #[cfg(not(lockdep_off))]
    orphan: UnsafeCell<Option<Acquisition>>,
}

// SAFETY: the raw lock serialises access between threads, as for
// `lock_api::ReentrantMutex`. `orphan` never holds a record while the lock is
// unowned, so no record moves between threads.
unsafe impl<R: RawMutex + Send, G: GetThreadId + Send, T: ?Sized + Send> Send
    for ReentrantMutex<R, G, T>
{
}
// SAFETY: as above: `data` is reached only through guards of the owning
// thread (guards are not `Send`, and are `Sync` only when `T` is: another
// thread reaches at most `&T` through one), `orphan` only by the owning
// thread (through `&Guard`, another thread can only take the mutex, and
// waits for it like any other thread).
unsafe impl<R: RawMutex + Sync, G: GetThreadId + Sync, T: ?Sized + Send> Sync
    for ReentrantMutex<R, G, T>
{
}

impl<R: RawMutex, G: GetThreadId, T> ReentrantMutex<R, G, T> {
    /// A re-entrant mutex whose class is the call site.
    #[track_caller]
    pub const fn new(value: T) -> Self {
        Self::from_map(LockMap::of::<T>(Location::caller(), Prefix::None), value)
    }

    /// A re-entrant mutex whose class is the call site, printed as `name`.
    #[track_caller]
    pub const fn named(name: &'static str, value: T) -> Self {
        Self::from_map(
            LockMap::named_at(Location::caller(), name, Prefix::None),
            value,
        )
    }

    /// A re-entrant mutex of the class of a static key.
    pub const fn with_key(key: &'static ClassKey, value: T) -> Self {
        Self::from_map(LockMap::with_key(key), value)
    }

    /// A mutex of the class of a [`DynamicKey`], created at run time.
    pub fn with_dynamic_key(key: &DynamicKey, value: T) -> Self {
        Self::from_map(LockMap::with_dynamic_key(key), value)
    }

    const fn from_map(map: LockMap, value: T) -> Self {
        ReentrantMutex {
            core: Core {
                raw: RawReentrantMutex::INIT,
                map,
                #[cfg(not(lockdep_off))]
                orphan: UnsafeCell::new(None),
            },
            data: UnsafeCell::new(value),
        }
    }

    /// Consumes the mutex and returns the value.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<R: RawMutex, G: GetThreadId, T: ?Sized> ReentrantMutex<R, G, T> {
    /// Acquires the mutex, blocking while another thread owns it. If this
    /// thread owns it already, succeeds at once and the validator is not
    /// told: a re-entrant acquisition cannot deadlock.
    #[track_caller]
    pub fn lock(&self) -> ReentrantMutexGuard<'_, R, G, T> {
        self.lock_nested(0)
    }

    /// Like [`lock`](Self::lock), as subclass `subclass` of the mutex's
    /// class when the acquisition is not re-entrant.
    #[track_caller]
    pub fn lock_nested(&self, subclass: u32) -> ReentrantMutexGuard<'_, R, G, T> {
        let at = Location::caller();
        ReentrantMutexGuard::new(self, self.locked(subclass, at))
    }

    /// Every blocking acquisition: validated (before it can block, like
    /// every mutex's) unless the thread owns the mutex already, then locked.
    fn locked(&self, subclass: u32, at: &'static Location<'static>) -> Acquisition {
        let acquisition = if self.core.raw.is_owned_by_current_thread() {
            Acquisition::untracked()
        } else {
            self.core
                .map
                .acquisition(Mode::Exclusive, subclass, false, at)
        };
        self.core.raw.lock();
        acquisition
    }

    /// Acquires the mutex if no other thread owns it. A first acquisition is
    /// recorded as a trylock; a re-entrant one is not recorded.
    #[track_caller]
    pub fn try_lock(&self) -> Option<ReentrantMutexGuard<'_, R, G, T>> {
        let at = Location::caller();
        let reentrant = self.core.raw.is_owned_by_current_thread();
        let acquisition = self.tried(self.core.raw.try_lock(), reentrant, at)?;
        Some(ReentrantMutexGuard::new(self, acquisition))
    }

    /// The record of a successful trylock (timed or not): a trylock unless
    /// the thread owned the mutex already.
    fn tried(
        &self,
        locked: bool,
        reentrant: bool,
        at: &'static Location<'static>,
    ) -> Option<Acquisition> {
        if !locked {
            return None;
        }
        Some(if reentrant {
            Acquisition::untracked()
        } else {
            self.core.map.acquisition(Mode::Exclusive, 0, true, at)
        })
    }

    /// Is the mutex locked (by any thread)?
    pub fn is_locked(&self) -> bool {
        self.core.raw.is_locked()
    }

    /// Does the calling thread own the mutex?
    pub fn is_owned_by_current_thread(&self) -> bool {
        self.core.raw.is_owned_by_current_thread()
    }

    /// Gives up one level of ownership without a guard: for a guard given up
    /// with `mem::forget`. When that was the thread's last level, the
    /// validator releases the thread's acquisition of the mutex (and
    /// reports a bad unlock balance if the thread holds none); otherwise the
    /// release comes with the last level.
    ///
    /// # Safety
    ///
    /// As for `lock_api::ReentrantMutex::force_unlock`: the calling thread
    /// must own the mutex through a guard it has forgotten. Unlocking a
    /// mutex that is not so locked is undefined behavior.
    #[track_caller]
    pub unsafe fn force_unlock(&self) {
        let raw = &self.core.raw;
        // SAFETY: the caller guarantees this thread holds a level of the
        // lock that no guard will give up again.
        self.core
            .forced(Location::caller(), || unsafe { raw.unlock() });
    }

    /// A raw pointer to the data, for use while a forgotten guard holds the
    /// lock. Dereferencing it is up to the caller to make race-free (guards
    /// only ever give shared access); nothing is validated.
    pub fn data_ptr(&self) -> *mut T {
        self.data.get()
    }

    /// Mutable access without locking: the borrow proves exclusivity.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// The mutex's class.
    pub fn class(&self) -> ClassId {
        self.core.map.class()
    }

    crate::map::contract_methods!(core.map);
}

impl<R: RawMutexFair, G: GetThreadId, T: ?Sized> ReentrantMutex<R, G, T> {
    /// [`force_unlock`](Self::force_unlock) with a fair unlock, handing the
    /// mutex to a waiter if this was the last level. Validated the same way.
    ///
    /// # Safety
    ///
    /// As for [`force_unlock`](Self::force_unlock).
    #[track_caller]
    pub unsafe fn force_unlock_fair(&self) {
        let raw = &self.core.raw;
        // SAFETY: as in `force_unlock`, guaranteed by the caller.
        self.core
            .forced(Location::caller(), || unsafe { raw.unlock_fair() });
    }
}

impl<R: RawMutexTimed, G: GetThreadId, T: ?Sized> ReentrantMutex<R, G, T> {
    /// Acquires the mutex, waiting at most `timeout` while another thread
    /// owns it. A first acquisition is recorded as a trylock: a timed wait
    /// cannot wait forever, so it is never the target of a dependency (an
    /// ABBA order through it is not reported). A re-entrant one is not
    /// recorded.
    #[track_caller]
    pub fn try_lock_for(&self, timeout: R::Duration) -> Option<ReentrantMutexGuard<'_, R, G, T>> {
        let at = Location::caller();
        let reentrant = self.core.raw.is_owned_by_current_thread();
        let acquisition = self.tried(self.core.raw.try_lock_for(timeout), reentrant, at)?;
        Some(ReentrantMutexGuard::new(self, acquisition))
    }

    /// Acquires the mutex, waiting at most until `deadline`. Validated like
    /// [`try_lock_for`](Self::try_lock_for).
    #[track_caller]
    pub fn try_lock_until(&self, deadline: R::Instant) -> Option<ReentrantMutexGuard<'_, R, G, T>> {
        let at = Location::caller();
        let reentrant = self.core.raw.is_owned_by_current_thread();
        let acquisition = self.tried(self.core.raw.try_lock_until(deadline), reentrant, at)?;
        Some(ReentrantMutexGuard::new(self, acquisition))
    }
}

impl<R: RawMutex, G: GetThreadId> Core<R, G> {
    /// Gives up one level of ownership: the shared tail of every guard's drop.
    fn unlock(&self, acquisition: &mut Acquisition) {
        // SAFETY: the guard being dropped holds one level of the lock, taken
        // by this thread.
        self.give_up(acquisition, || unsafe { self.raw.unlock() });
    }

    /// Gives up one level of ownership with `unlock`, which must unlock one
    /// level the thread holds. The validator's record is released with the
    /// thread's last level, even if the guard that made it went first.
    fn give_up(&self, acquisition: &mut Acquisition, unlock: impl FnOnce()) {
        #[cfg(not(lockdep_off))]
        {
            // SAFETY: this thread owns the raw lock (the caller holds a level
            // of it), and only the owner touches `orphan`.
            let orphan = unsafe { (*self.orphan.get()).take() };
            unlock();
            if self.raw.is_owned_by_current_thread() {
                // Other guards of this thread still hold it: so does the
                // validator. At most one of the two records is tracked.
                let keep = if acquisition.tracked() {
                    Some(acquisition.take())
                } else {
                    orphan
                };
                // SAFETY: this thread still owns the lock.
                unsafe { *self.orphan.get() = keep };
            } else {
                // `orphan` only ever keeps a tracked record.
                let recorded = acquisition.tracked() || orphan.is_some();
                self.map.end(acquisition);
                if let Some(mut orphan) = orphan {
                    self.map.end(&mut orphan);
                }
                if !recorded {
                    // The record may be in a guard that was forgotten, its
                    // level given up by `force_unlock` while others remained.
                    self.map.release_if_held();
                }
            }
        }
        #[cfg(lockdep_off)]
        {
            self.map.end(acquisition);
            unlock();
        }
    }

    /// `force_unlock`: gives up one level with `unlock` without a guard's
    /// record. If that ends the thread's ownership, its acquisition is
    /// released: the orphaned record if there is one, else whatever the
    /// thread holds of the map (a forgotten guard's), reported as a bad
    /// unlock balance if nothing.
    fn forced(&self, at: &'static Location<'static>, unlock: impl FnOnce()) {
        #[cfg(not(lockdep_off))]
        {
            // SAFETY: the caller owns the raw lock, and only the owner
            // touches `orphan`.
            let orphan = unsafe { (*self.orphan.get()).take() };
            unlock();
            if self.raw.is_owned_by_current_thread() {
                // SAFETY: this thread still owns the lock.
                unsafe { *self.orphan.get() = orphan };
            } else if let Some(mut orphan) = orphan {
                self.map.end(&mut orphan);
            } else {
                self.map.release_at(at);
            }
        }
        #[cfg(lockdep_off)]
        {
            let _ = at;
            unlock();
        }
    }

    /// Runs `f` with one level given up (`unlock`), then takes it back,
    /// also if `f` panics: if the thread no longer owned the mutex, the
    /// re-take is a validated blocking acquisition; otherwise it is a
    /// re-entrant level, not an acquisition.
    fn unlocked<U>(
        &self,
        acquisition: &mut Acquisition,
        at: &'static Location<'static>,
        unlock: impl FnOnce(),
        f: impl FnOnce() -> U,
    ) -> U {
        self.give_up(acquisition, unlock);
        let _retake = Defer(Some(move || {
            if self.raw.is_owned_by_current_thread() {
                self.raw.lock();
            } else {
                self.map
                    .retake(acquisition, Mode::Exclusive, at, || self.raw.lock());
            }
        }));
        f()
    }
}

impl<R: RawMutex, G: GetThreadId, T: Default> Default for ReentrantMutex<R, G, T> {
    #[track_caller]
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<R: RawMutex, G: GetThreadId, T> From<T> for ReentrantMutex<R, G, T> {
    #[track_caller]
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<R: RawMutex, G: GetThreadId, T: ?Sized + fmt::Debug> fmt::Debug for ReentrantMutex<R, G, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("ReentrantMutex");
        // Peek without validation: formatting must not add dependencies.
        if self.core.raw.try_lock() {
            // SAFETY: the raw lock is held until the unlock just below; only
            // shared access is made, which re-entrant guards allow.
            d.field("data", &unsafe { &*self.data.get() });
            // SAFETY: this thread locked it with the try_lock above. A level
            // taken and given back directly leaves `orphan` alone.
            unsafe { self.core.raw.unlock() };
        } else {
            d.field("data", &format_args!("<locked>"));
        }
        d.finish()
    }
}

/// What `ReentrantMutexGuard` and `ArcReentrantMutexGuard` share: one
/// definition for a guard that holds its mutex through `$handle`
/// (`&'a ReentrantMutex` or `Arc<ReentrantMutex>`) in the field `remutex`,
/// with its [`Acquisition`]: access to the data, giving its level up for a
/// while (`unlocked`, `unlock_fair`, `unlocked_fair`, `bump`), and giving it
/// up on drop.
macro_rules! remutex_guard {
    ($guard:ident $(<$lt:lifetime>)?, $handle:ty) => {
        impl<$($lt,)? R: RawMutex, G: GetThreadId, T: ?Sized> $guard<$($lt,)? R, G, T> {
            #[inline]
            fn new(remutex: $handle, acquisition: Acquisition) -> Self {
                $guard {
                    remutex,
                    acquisition,
                }
            }

            /// Takes the mutex and the record out of a guard that is being
            /// converted, without giving anything up.
            fn into_parts(s: Self) -> ($handle, Acquisition) {
                let mut s = ManuallyDrop::new(s);
                let acquisition = s.acquisition.take();
                // SAFETY: `s` is neither used nor dropped again, so the
                // handle is moved out of it exactly once.
                let remutex = unsafe { ptr::read(&s.remutex) };
                (remutex, acquisition)
            }

            /// Gives up this guard's level of ownership while `f` runs, then
            /// takes it back, also if `f` panics. If that was the thread's
            /// last level, the validator sees a release, then a new blocking
            /// acquisition, validated against the locks held then; otherwise
            /// nothing.
            #[track_caller]
            pub fn unlocked<F, U>(s: &mut Self, f: F) -> U
            where
                F: FnOnce() -> U,
            {
                let at = Location::caller();
                let core = &s.remutex.core;
                // SAFETY: the guard holds a level of the lock; the re-take
                // takes it again before the guard can be used or dropped.
                core.unlocked(&mut s.acquisition, at, || unsafe { core.raw.unlock() }, f)
            }
        }

        impl<$($lt,)? R: RawMutexFair, G: GetThreadId, T: ?Sized> $guard<$($lt,)? R, G, T> {
            /// Gives up this guard's level of ownership, fairly if it was the
            /// thread's last (handing the mutex to a waiter). Validated like
            /// dropping the guard.
            pub fn unlock_fair(s: Self) {
                Self::release_fair(s);
            }

            /// [`unlock_fair`](Self::unlock_fair), giving the handle back.
            fn release_fair(s: Self) -> $handle {
                let (remutex, mut acquisition) = Self::into_parts(s);
                let core = &remutex.core;
                // SAFETY: the guard, now gone, held a level of the lock.
                core.give_up(&mut acquisition, || unsafe { core.raw.unlock_fair() });
                remutex
            }

            /// [`unlocked`](Self::unlocked), unlocking fairly. Validated the
            /// same way.
            #[track_caller]
            pub fn unlocked_fair<F, U>(s: &mut Self, f: F) -> U
            where
                F: FnOnce() -> U,
            {
                let at = Location::caller();
                let core = &s.remutex.core;
                // SAFETY: as in `unlocked`.
                core.unlocked(
                    &mut s.acquisition,
                    at,
                    || unsafe { core.raw.unlock_fair() },
                    f,
                )
            }

            /// Lets a waiting thread have the mutex, if this is the thread's
            /// last level and there is one, and takes it back. Done (and
            /// validated) as [`unlocked_fair`](Self::unlocked_fair) with
            /// nothing to run: a release and a validated re-take when it is
            /// the last level, nothing otherwise.
            #[track_caller]
            pub fn bump(s: &mut Self) {
                Self::unlocked_fair(s, || ());
            }
        }

        impl<$($lt,)? R: RawMutex, G: GetThreadId, T: ?Sized> Deref for $guard<$($lt,)? R, G, T> {
            type Target = T;
            fn deref(&self) -> &T {
                // SAFETY: the guard exists only while this thread owns the raw
                // lock; every guard of it gives shared access only.
                unsafe { &*self.remutex.data.get() }
            }
        }

        impl<$($lt,)? R: RawMutex, G: GetThreadId, T: ?Sized> Drop for $guard<$($lt,)? R, G, T> {
            fn drop(&mut self) {
                self.remutex.core.unlock(&mut self.acquisition);
            }
        }

        impl<$($lt,)? R: RawMutex, G: GetThreadId, T: ?Sized + fmt::Debug> fmt::Debug
            for $guard<$($lt,)? R, G, T>
        {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&**self, f)
            }
        }

        impl<$($lt,)? R: RawMutex, G: GetThreadId, T: ?Sized + fmt::Display> fmt::Display
            for $guard<$($lt,)? R, G, T>
        {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&**self, f)
            }
        }
    };
}

/// Shared access to a locked [`ReentrantMutex`]; gives up one level of
/// ownership on drop. Not `Send`.
#[must_use = "the mutex is unlocked when the guard is dropped"]
pub struct ReentrantMutexGuard<'a, R: RawMutex, G: GetThreadId, T: ?Sized> {
    remutex: &'a ReentrantMutex<R, G, T>,
    acquisition: Acquisition,
}

// SAFETY (for the `Sync` impls of guards): through `&Guard` another thread
// reaches only `&T` (hence `T: Sync`), the lock or raw lock by shared
// reference (hence `R: Sync`), and nothing of the acquisition record: the
// validator is only told anything through `&mut Guard` or the guard itself
// (drop, `unlocked`, conversions), which stay on the owning thread because a
// guard is not `Send`.
unsafe impl<R: RawMutex + Sync, G: GetThreadId + Sync, T: ?Sized + Sync> Sync
    for ReentrantMutexGuard<'_, R, G, T>
{
}

remutex_guard!(ReentrantMutexGuard<'a>, &'a ReentrantMutex<R, G, T>);

impl<'a, R: RawMutex, G: GetThreadId, T: ?Sized> ReentrantMutexGuard<'a, R, G, T> {
    /// The mutex this guard locks.
    pub fn remutex(s: &Self) -> &'a ReentrantMutex<R, G, T> {
        s.remutex
    }

    /// Narrows the guard to a part of the data, like `parking_lot`'s
    /// `ReentrantMutexGuard::map`.
    pub fn map<U: ?Sized, F>(s: Self, f: F) -> MappedReentrantMutexGuard<'a, R, G, U>
    where
        F: FnOnce(&T) -> &U,
    {
        // If `f` panics, `s` is dropped as usual and unlocks.
        let data: *const U = f(&*s);
        let (remutex, acquisition) = Self::into_parts(s);
        MappedReentrantMutexGuard {
            core: &remutex.core,
            data,
            acquisition,
            _data: PhantomData,
        }
    }

    /// Like [`map`](Self::map), but `f` may decline, in which case the guard
    /// is given back unchanged.
    pub fn try_map<U: ?Sized, F>(
        s: Self,
        f: F,
    ) -> Result<MappedReentrantMutexGuard<'a, R, G, U>, Self>
    where
        F: FnOnce(&T) -> Option<&U>,
    {
        Self::try_map_or_err(s, |data| f(data).ok_or(())).map_err(|(s, ())| s)
    }

    /// Like [`try_map`](Self::try_map), but `f` says why it declined: the
    /// guard is given back with the error.
    pub fn try_map_or_err<U: ?Sized, F, E>(
        s: Self,
        f: F,
    ) -> Result<MappedReentrantMutexGuard<'a, R, G, U>, (Self, E)>
    where
        F: FnOnce(&T) -> Result<&U, E>,
    {
        let data: *const U = match f(&*s) {
            Ok(data) => data,
            Err(e) => return Err((s, e)),
        };
        let (remutex, acquisition) = Self::into_parts(s);
        Ok(MappedReentrantMutexGuard {
            core: &remutex.core,
            data,
            acquisition,
            _data: PhantomData,
        })
    }
}

/// A [`ReentrantMutexGuard`] narrowed to a part of the data by
/// [`ReentrantMutexGuard::map`]. Gives up its level of ownership on drop.
/// Not `Send`.
#[must_use = "the mutex is unlocked when the guard is dropped"]
pub struct MappedReentrantMutexGuard<'a, R: RawMutex, G: GetThreadId, T: ?Sized> {
    core: &'a Core<R, G>,
    data: *const T,
    acquisition: Acquisition,
    _data: PhantomData<&'a T>,
}

// SAFETY: as for `ReentrantMutexGuard`.
unsafe impl<R: RawMutex + Sync, G: GetThreadId + Sync, T: ?Sized + Sync> Sync
    for MappedReentrantMutexGuard<'_, R, G, T>
{
}

impl<'a, R: RawMutex, G: GetThreadId, T: ?Sized> MappedReentrantMutexGuard<'a, R, G, T> {
    /// Narrows the guard further.
    pub fn map<U: ?Sized, F>(mut s: Self, f: F) -> MappedReentrantMutexGuard<'a, R, G, U>
    where
        F: FnOnce(&T) -> &U,
    {
        let data: *const U = f(&*s);
        let (core, acquisition) = (s.core, s.acquisition.take());
        std::mem::forget(s);
        MappedReentrantMutexGuard {
            core,
            data,
            acquisition,
            _data: PhantomData,
        }
    }

    /// Narrows the guard further if `f` returns a part; otherwise gives it back.
    pub fn try_map<U: ?Sized, F>(
        s: Self,
        f: F,
    ) -> Result<MappedReentrantMutexGuard<'a, R, G, U>, Self>
    where
        F: FnOnce(&T) -> Option<&U>,
    {
        Self::try_map_or_err(s, |data| f(data).ok_or(())).map_err(|(s, ())| s)
    }

    /// Narrows the guard further if `f` returns a part; otherwise gives it
    /// back with `f`'s error.
    pub fn try_map_or_err<U: ?Sized, F, E>(
        mut s: Self,
        f: F,
    ) -> Result<MappedReentrantMutexGuard<'a, R, G, U>, (Self, E)>
    where
        F: FnOnce(&T) -> Result<&U, E>,
    {
        let data: *const U = match f(&*s) {
            Ok(data) => data,
            Err(e) => return Err((s, e)),
        };
        let (core, acquisition) = (s.core, s.acquisition.take());
        std::mem::forget(s);
        Ok(MappedReentrantMutexGuard {
            core,
            data,
            acquisition,
            _data: PhantomData,
        })
    }
}

impl<R: RawMutex, G: GetThreadId, T: ?Sized> Deref for MappedReentrantMutexGuard<'_, R, G, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: `data` points into the mutex's data, and the guard holds a
        // level of the raw lock for as long as it exists; access is shared.
        unsafe { &*self.data }
    }
}

impl<R: RawMutexFair, G: GetThreadId, T: ?Sized> MappedReentrantMutexGuard<'_, R, G, T> {
    /// Gives up this guard's level of ownership, fairly if it was the
    /// thread's last. Validated like dropping the guard.
    pub fn unlock_fair(mut s: Self) {
        let core = s.core;
        let mut acquisition = s.acquisition.take();
        std::mem::forget(s);
        // SAFETY: the guard, now gone, held a level of the lock.
        core.give_up(&mut acquisition, || unsafe { core.raw.unlock_fair() });
    }
}

impl<R: RawMutex, G: GetThreadId, T: ?Sized> Drop for MappedReentrantMutexGuard<'_, R, G, T> {
    fn drop(&mut self) {
        self.core.unlock(&mut self.acquisition);
    }
}

impl<R: RawMutex, G: GetThreadId, T: ?Sized + fmt::Debug> fmt::Debug
    for MappedReentrantMutexGuard<'_, R, G, T>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<R: RawMutex, G: GetThreadId, T: ?Sized + fmt::Display> fmt::Display
    for MappedReentrantMutexGuard<'_, R, G, T>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

// ---------------------------------------------------------------------------
// Guards that own an `Arc` of their mutex (feature `arc_lock`)
// ---------------------------------------------------------------------------

#[cfg(feature = "arc_lock")]
impl<R: RawMutex, G: GetThreadId, T: ?Sized> ReentrantMutex<R, G, T> {
    /// [`lock`](Self::lock) through an `Arc`: the guard keeps the mutex
    /// alive and has no lifetime. Validated like `lock`: an exclusive
    /// acquisition if the thread does not own the mutex yet, nothing if it
    /// does.
    #[track_caller]
    pub fn lock_arc(self: &Arc<Self>) -> ArcReentrantMutexGuard<R, G, T> {
        let at = Location::caller();
        let acquisition = self.locked(0, at);
        ArcReentrantMutexGuard::new(Arc::clone(self), acquisition)
    }

    /// [`try_lock`](Self::try_lock) through an `Arc`: a trylock if the
    /// thread does not own the mutex yet, nothing if it does.
    #[track_caller]
    pub fn try_lock_arc(self: &Arc<Self>) -> Option<ArcReentrantMutexGuard<R, G, T>> {
        let at = Location::caller();
        let reentrant = self.core.raw.is_owned_by_current_thread();
        let acquisition = self.tried(self.core.raw.try_lock(), reentrant, at)?;
        Some(ArcReentrantMutexGuard::new(Arc::clone(self), acquisition))
    }
}

#[cfg(feature = "arc_lock")]
impl<R: RawMutexTimed, G: GetThreadId, T: ?Sized> ReentrantMutex<R, G, T> {
    /// [`try_lock_for`](Self::try_lock_for) through an `Arc`. Validated like
    /// `try_lock_for`: a trylock if the thread does not own the mutex yet.
    #[track_caller]
    pub fn try_lock_arc_for(
        self: &Arc<Self>,
        timeout: R::Duration,
    ) -> Option<ArcReentrantMutexGuard<R, G, T>> {
        let at = Location::caller();
        let reentrant = self.core.raw.is_owned_by_current_thread();
        let acquisition = self.tried(self.core.raw.try_lock_for(timeout), reentrant, at)?;
        Some(ArcReentrantMutexGuard::new(Arc::clone(self), acquisition))
    }

    /// [`try_lock_until`](Self::try_lock_until) through an `Arc`. Validated
    /// like `try_lock_until`: a trylock if the thread does not own the mutex
    /// yet.
    #[track_caller]
    pub fn try_lock_arc_until(
        self: &Arc<Self>,
        deadline: R::Instant,
    ) -> Option<ArcReentrantMutexGuard<R, G, T>> {
        let at = Location::caller();
        let reentrant = self.core.raw.is_owned_by_current_thread();
        let acquisition = self.tried(self.core.raw.try_lock_until(deadline), reentrant, at)?;
        Some(ArcReentrantMutexGuard::new(Arc::clone(self), acquisition))
    }
}

/// A [`ReentrantMutexGuard`] that owns an `Arc` of its mutex, so it has no
/// lifetime (`lock_api`'s `ArcReentrantMutexGuard`, with the `arc_lock`
/// feature). Validated as `ReentrantMutexGuard` is; gives up one level of
/// ownership on drop. Not `Send`.
#[cfg(feature = "arc_lock")]
#[must_use = "the mutex is unlocked when the guard is dropped"]
pub struct ArcReentrantMutexGuard<R: RawMutex, G: GetThreadId, T: ?Sized> {
    remutex: Arc<ReentrantMutex<R, G, T>>,
    acquisition: Acquisition,
}

// SAFETY: as for `ReentrantMutexGuard`; `T: Send` too, since another thread
// can clone the `Arc` through `&Guard` and drop the mutex with it.
#[cfg(feature = "arc_lock")]
unsafe impl<R: RawMutex + Sync, G: GetThreadId + Sync, T: ?Sized + Send + Sync> Sync
    for ArcReentrantMutexGuard<R, G, T>
{
}

#[cfg(feature = "arc_lock")]
remutex_guard!(ArcReentrantMutexGuard, Arc<ReentrantMutex<R, G, T>>);

#[cfg(feature = "arc_lock")]
impl<R: RawMutex, G: GetThreadId, T: ?Sized> ArcReentrantMutexGuard<R, G, T> {
    /// The mutex this guard locks, in its `Arc`.
    pub fn remutex(s: &Self) -> &Arc<ReentrantMutex<R, G, T>> {
        &s.remutex
    }

    /// Gives up this guard's level of ownership and gives back its `Arc` of
    /// the mutex. Validated like dropping the guard.
    pub fn into_arc(s: Self) -> Arc<ReentrantMutex<R, G, T>> {
        let (remutex, mut acquisition) = Self::into_parts(s);
        remutex.core.unlock(&mut acquisition);
        remutex
    }
}

#[cfg(feature = "arc_lock")]
impl<R: RawMutexFair, G: GetThreadId, T: ?Sized> ArcReentrantMutexGuard<R, G, T> {
    /// [`into_arc`](Self::into_arc), unlocking fairly if this was the
    /// thread's last level. Validated like dropping the guard.
    pub fn into_arc_fair(s: Self) -> Arc<ReentrantMutex<R, G, T>> {
        Self::release_fair(s)
    }
}
