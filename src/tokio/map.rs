//! The pseudo-lock every async primitive holds, and the record a guard
//! keeps: one definition of taking, giving up and handing over an async
//! acquisition.

use std::fmt;
use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::held::Mode;
use crate::map::{Acquisition, LockMap};
use crate::validator::task;

/// `AsyncMap::first` once two contexts took the lock.
const SHARED: u64 = u64::MAX;

/// A [`LockMap`] whose class is async (its locks may be held across an
/// `.await`), and the first context that took it.
pub(crate) struct AsyncMap {
    pub(crate) map: LockMap,
    /// The context of the first acquisition, [`SHARED`] once a second
    /// context took it (a blocking wait under it is then reported).
    first: AtomicU64,
}

impl AsyncMap {
    pub(crate) const fn new(map: LockMap) -> AsyncMap {
        AsyncMap {
            map,
            first: AtomicU64::new(0),
        }
    }

    /// A new map of this one's class (a clone's).
    pub(crate) fn same_class(&self) -> AsyncMap {
        AsyncMap::new(self.map.same_class())
    }

    /// Records an acquisition in the calling context.
    #[inline]
    pub(crate) fn acquire(
        &self,
        mode: Mode,
        trylock: bool,
        at: &'static Location<'static>,
    ) -> Held {
        if crate::COMPILED_OUT || !crate::config::is_enabled() || bare_tokio_task() {
            return Held::NONE;
        }
        let ctx = task::context();
        task::catch_up_releases(ctx);
        self.enter(ctx);
        Held {
            tracked: self.map.acquire_full(mode, 0, trylock, at),
            ctx,
        }
    }

    /// Notes the context `ctx` as one that took the lock. The first
    /// acquisition (by any context) marks its class async.
    #[inline]
    fn enter(&self, ctx: u64) {
        let first = self.first.load(Ordering::Relaxed);
        if first != ctx && first != SHARED {
            self.another_context(first, ctx);
        }
    }

    #[cold]
    fn another_context(&self, first: u64, ctx: u64) {
        if first == 0 {
            task::mark_async(self.map.class());
            if self
                .first
                .compare_exchange(0, ctx, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
            if self.first.load(Ordering::Relaxed) == ctx {
                return;
            }
        }
        self.first.store(SHARED, Ordering::Relaxed);
        task::mark_shared(self.map.class());
    }

    /// A wait on whoever holds the map: acquired and released at once.
    pub(crate) fn touch(&self, at: &'static Location<'static>) {
        let mut held = self.acquire(Mode::Exclusive, false, at);
        self.end(&mut held);
    }

    /// A wait that did not block this time (a cell already set): a touch
    /// when the context holds a lock.
    pub(crate) fn touch_if_holding(&self, at: &'static Location<'static>) {
        if !crate::COMPILED_OUT && crate::validator::holds_any() {
            self.touch(at);
        }
    }

    /// Undoes an acquisition, once: in the context that made it, or, from
    /// another context (a guard moved to another task or thread), queued
    /// for that one.
    #[inline]
    pub(crate) fn end(&self, held: &mut Held) {
        if std::mem::take(&mut held.tracked) {
            if task::context() == held.ctx {
                // A guard's release always finds its entry: no site needed.
                self.map.end(&mut Acquisition::recorded(true));
            } else {
                task::release_elsewhere(held.ctx, self.map.class(), self.map.instance());
            }
        }
    }

    /// Changes the mode of the calling context's hold (a downgrade).
    pub(crate) fn change_mode(&self, held: &Held, mode: Mode) {
        if held.tracked && task::context() == held.ctx {
            self.map.change_mode(mode);
        }
    }
}

impl fmt::Debug for AsyncMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncMap").finish_non_exhaustive()
    }
}

/// Is the caller a tokio task that is not an instrumented one? Its async
/// locks are not tracked: on its worker's stack they would outlive its
/// polls, and other tasks polled there would be validated as if they held
/// them (false cycles and recursion).
#[inline]
fn bare_tokio_task() -> bool {
    !task::in_task() && ::tokio::task::try_id().is_some()
}

/// What a guard keeps of its acquisition: whether it was recorded, and in
/// which context. `Send`, unlike a thread-bound guard's record.
#[derive(Debug, Default)]
pub(crate) struct Held {
    tracked: bool,
    ctx: u64,
}

impl Held {
    pub(crate) const NONE: Held = Held {
        tracked: false,
        ctx: 0,
    };
}

/// The uncontended path of an acquisition future: tokio's cooperative
/// budget is consumed as its own lock futures consume it (a task out of
/// budget yields here), then `now` tries the lock without queueing. `None`:
/// it is taken, wait for it. This cannot overtake a queued waiter: tokio's
/// locks hand released permits to their waiters first, so a lock with a
/// waiter has none to try for.
#[inline]
pub(crate) async fn uncontended<G>(now: impl FnOnce() -> Option<G>) -> Option<G> {
    let coop = std::future::poll_fn(::tokio::task::coop::poll_proceed).await;
    let got = now();
    if got.is_some() {
        coop.made_progress();
    }
    got
}

/// Anything that leads to an [`AsyncMap`]: a reference, or an `Arc` of a
/// lock (an owned guard's).
pub(crate) trait MapHandle {
    fn async_map(&self) -> &AsyncMap;
}

impl MapHandle for &AsyncMap {
    fn async_map(&self) -> &AsyncMap {
        self
    }
}

/// An acquisition held through `H`, undone when dropped: a guard's last
/// field, so that the raw guard before it unlocks first. Also what an
/// acquisition future keeps while it waits, so that a cancelled one (a
/// `select!` branch not taken) gives its record up.
pub(crate) struct Hold<H: MapHandle> {
    pub(crate) handle: H,
    pub(crate) held: Held,
}

impl<H: MapHandle> Hold<H> {
    #[inline]
    pub(crate) fn new(
        handle: H,
        mode: Mode,
        trylock: bool,
        at: &'static Location<'static>,
    ) -> Self {
        let held = handle.async_map().acquire(mode, trylock, at);
        Hold { handle, held }
    }

    /// Gives the acquisition up now (a failed or closed acquisition).
    pub(crate) fn cancel(mut self) {
        let map = self.handle.async_map();
        map.end(&mut self.held);
    }
}

impl<H: MapHandle> Drop for Hold<H> {
    #[inline]
    fn drop(&mut self) {
        let map = self.handle.async_map();
        map.end(&mut self.held);
    }
}

impl<H: MapHandle> fmt::Debug for Hold<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hold").field("held", &self.held).finish()
    }
}
