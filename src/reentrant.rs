//! An instrumented re-entrant mutex over `lock_api::RawReentrantMutex`.
//!
//! A thread that holds a [`ReentrantMutex`] may lock it again: that cannot
//! deadlock, so the validator is not told of it at all. The validator sees
//! one exclusive acquisition for as long as the thread owns the lock, from
//! its first `lock` to the drop of its last guard, in whatever order the
//! guards are dropped. The order of that acquisition against other locks is
//! checked like any mutex's: holding `R` while taking `M` in one place and
//! `M` while taking `R` in another is the usual ABBA, re-entrant or not.
//!
//! ```
//! use lockdep::parking_lot::ReentrantMutex;
//! use std::cell::Cell;
//!
//! static LOG: ReentrantMutex<Cell<u32>> = ReentrantMutex::named("log", Cell::new(0));
//!
//! fn write() {
//!     let log = LOG.lock();
//!     log.set(log.get() + 1);
//! }
//!
//! let outer = LOG.lock();
//! write(); // locks LOG again on this thread: fine, and not reported
//! assert_eq!(lockdep::held_locks().len(), 1);
//! drop(outer);
//! assert_eq!(LOG.lock().get(), 1);
//! ```

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::panic::Location;

use lock_api::{GetThreadId, RawMutex, RawReentrantMutex};

use crate::class::{ClassId, ClassKey};
use crate::held::Mode;
use crate::map::{Acquisition, LockMap};

/// A mutex that its owner may lock again, whose order against other locks is
/// validated. Guards give shared access only (`&T`), as a re-entrant lock
/// may hand out several at once.
pub struct ReentrantMutex<R, G, T: ?Sized> {
    core: Core<R, G>,
    data: UnsafeCell<T>,
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
// thread (and guards are neither `Send` nor `Sync`), `orphan` only by the
// owning thread.
unsafe impl<R: RawMutex + Sync, G: GetThreadId + Sync, T: ?Sized + Send> Sync
    for ReentrantMutex<R, G, T>
{
}

impl<R: RawMutex, G: GetThreadId, T> ReentrantMutex<R, G, T> {
    /// A re-entrant mutex whose class is the call site.
    #[track_caller]
    pub const fn new(value: T) -> Self {
        Self::from_map(LockMap::new(), value)
    }

    /// A re-entrant mutex whose class is the call site, printed as `name`.
    #[track_caller]
    pub const fn named(name: &'static str, value: T) -> Self {
        Self::from_map(LockMap::named(name), value)
    }

    /// A re-entrant mutex of the class of a static key.
    pub const fn with_key(key: &'static ClassKey, value: T) -> Self {
        Self::from_map(LockMap::with_key(key), value)
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
        let acquisition = if self.core.raw.is_owned_by_current_thread() {
            Acquisition::untracked()
        } else {
            // Validated before it can block, like every mutex.
            self.core
                .map
                .acquisition(Mode::Exclusive, subclass, false, at)
        };
        self.core.raw.lock();
        ReentrantMutexGuard {
            remutex: self,
            acquisition,
        }
    }

    /// Acquires the mutex if no other thread owns it. A first acquisition is
    /// recorded as a trylock; a re-entrant one is not recorded.
    #[track_caller]
    pub fn try_lock(&self) -> Option<ReentrantMutexGuard<'_, R, G, T>> {
        let at = Location::caller();
        let reentrant = self.core.raw.is_owned_by_current_thread();
        if !self.core.raw.try_lock() {
            return None;
        }
        let acquisition = if reentrant {
            Acquisition::untracked()
        } else {
            self.core.map.acquisition(Mode::Exclusive, 0, true, at)
        };
        Some(ReentrantMutexGuard {
            remutex: self,
            acquisition,
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

    /// Mutable access without locking: the borrow proves exclusivity.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    /// The mutex's class.
    pub fn class(&self) -> ClassId {
        self.core.map.class()
    }
}

impl<R: RawMutex, G: GetThreadId> Core<R, G> {
    /// Gives up one level of ownership: the shared tail of every guard's drop.
    /// The validator's record is released with the thread's last level, even
    /// if the guard that made it went first.
    fn unlock(&self, acquisition: &mut Acquisition) {
        #[cfg(not(lockdep_off))]
        {
            // SAFETY: this thread owns the raw lock (the guard being dropped
            // holds a level of it), and only the owner touches `orphan`.
            let orphan = unsafe { (*self.orphan.get()).take() };
            // SAFETY: the guard being dropped holds one level of the lock,
            // taken by this thread.
            unsafe { self.raw.unlock() };
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
                self.map.end(acquisition);
                if let Some(mut orphan) = orphan {
                    self.map.end(&mut orphan);
                }
            }
        }
        #[cfg(lockdep_off)]
        {
            self.map.end(acquisition);
            // SAFETY: the guard being dropped holds one level of the lock,
            // taken by this thread.
            unsafe { self.raw.unlock() };
        }
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

/// Shared access to a locked [`ReentrantMutex`]; gives up one level of
/// ownership on drop. Not `Send`.
#[must_use = "the mutex is unlocked when the guard is dropped"]
pub struct ReentrantMutexGuard<'a, R: RawMutex, G: GetThreadId, T: ?Sized> {
    remutex: &'a ReentrantMutex<R, G, T>,
    acquisition: Acquisition,
}

impl<'a, R: RawMutex, G: GetThreadId, T: ?Sized> ReentrantMutexGuard<'a, R, G, T> {
    /// The mutex this guard locks.
    pub fn remutex(s: &Self) -> &'a ReentrantMutex<R, G, T> {
        s.remutex
    }

    /// Narrows the guard to a part of the data, like `parking_lot`'s
    /// `ReentrantMutexGuard::map`.
    pub fn map<U: ?Sized, F>(mut s: Self, f: F) -> MappedReentrantMutexGuard<'a, R, G, U>
    where
        F: FnOnce(&T) -> &U,
    {
        // If `f` panics, `s` is dropped as usual and unlocks.
        let data: *const U = f(&*s);
        let (remutex, acquisition) = (s.remutex, s.acquisition.take());
        std::mem::forget(s);
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
        mut s: Self,
        f: F,
    ) -> Result<MappedReentrantMutexGuard<'a, R, G, U>, Self>
    where
        F: FnOnce(&T) -> Option<&U>,
    {
        let data: *const U = match f(&*s) {
            Some(data) => data,
            None => return Err(s),
        };
        let (remutex, acquisition) = (s.remutex, s.acquisition.take());
        std::mem::forget(s);
        Ok(MappedReentrantMutexGuard {
            core: &remutex.core,
            data,
            acquisition,
            _data: PhantomData,
        })
    }
}

impl<R: RawMutex, G: GetThreadId, T: ?Sized> Deref for ReentrantMutexGuard<'_, R, G, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this thread owns the raw lock;
        // every guard of it gives shared access only.
        unsafe { &*self.remutex.data.get() }
    }
}

impl<R: RawMutex, G: GetThreadId, T: ?Sized> Drop for ReentrantMutexGuard<'_, R, G, T> {
    fn drop(&mut self) {
        self.remutex.core.unlock(&mut self.acquisition);
    }
}

impl<R: RawMutex, G: GetThreadId, T: ?Sized + fmt::Debug> fmt::Debug
    for ReentrantMutexGuard<'_, R, G, T>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<R: RawMutex, G: GetThreadId, T: ?Sized + fmt::Display> fmt::Display
    for ReentrantMutexGuard<'_, R, G, T>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
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
        mut s: Self,
        f: F,
    ) -> Result<MappedReentrantMutexGuard<'a, R, G, U>, Self>
    where
        F: FnOnce(&T) -> Option<&U>,
    {
        let data: *const U = match f(&*s) {
            Some(data) => data,
            None => return Err(s),
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
