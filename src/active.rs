//! Active references with drain: the kernfs model.
//!
//! An object that users operate on (a sysfs file, a plugin, a connection)
//! hands out *active references* for the duration of each operation. Removing
//! the object first *deactivates* it, so no new reference can be taken, then
//! *drains* it: waits until every reference in flight is gone.
//!
//! The wait is a lock in disguise. As kernfs does, each active reference is a
//! shared trylock acquisition of the object's class (so nothing can depend on
//! taking it, but whatever the operation locks depends on it), and the drain
//! is an exclusive acquisition. If the remover holds a lock that an operation
//! takes, the cycle is reported the first time both paths have run, whether or
//! not they ever overlapped.
//!
//! ```
//! use lockdep::Active;
//!
//! let file = Active::named("attr_active");
//! if let Some(_op) = file.get() {
//!     // ... the operation ...
//! }
//! file.drain(); // no operation can start now, and none is in flight
//! assert!(file.get().is_none());
//! ```

use std::fmt;
use std::panic::Location;

use crate::class::{ClassId, ClassKey, Prefix};
use crate::held::Mode;
use crate::map::{Acquisition, LockMap};

#[derive(Default)]
struct State {
    active: usize,
    deactivated: bool,
}

/// An object whose operations hold active references, and whose removal
/// drains them.
pub struct Active {
    map: LockMap,
    state: crate::raw::Mutex<State>,
    drained: crate::raw::Condvar,
}

impl Active {
    fn from_map(map: LockMap) -> Active {
        // Register the class now, so classes number in creation order.
        map.class();
        Active {
            map,
            state: crate::raw::Mutex::new(State::default()),
            drained: crate::raw::Condvar::new(),
        }
    }

    /// An object whose class is the call site.
    #[track_caller]
    pub fn new() -> Active {
        Self::from_map(LockMap::new())
    }

    /// An object whose class is the call site, printed as `name`.
    #[track_caller]
    pub fn named(name: &'static str) -> Active {
        Self::from_map(LockMap::named_at(Location::caller(), name, Prefix::None))
    }

    /// An object of the class of a static key: every object made from one
    /// definition (one sysfs attribute, say) shares it.
    pub fn with_key(key: &'static ClassKey) -> Active {
        Self::from_map(LockMap::with_key(key))
    }

    /// The object's class.
    pub fn class(&self) -> ClassId {
        self.map.class()
    }

    /// Takes an active reference, unless the object is deactivated.
    #[track_caller]
    pub fn get(&self) -> Option<ActiveRef<'_>> {
        {
            let mut s = self.state.lock();
            if s.deactivated {
                return None;
            }
            s.active += 1;
        }
        Some(ActiveRef {
            owner: self,
            acquisition: self
                .map
                .acquisition(Mode::Shared, 0, true, Location::caller()),
        })
    }

    /// Stops new references from being taken. References in flight stay valid.
    pub fn deactivate(&self) {
        self.state.lock().deactivated = true;
    }

    /// Is the object still active?
    pub fn is_active(&self) -> bool {
        !self.state.lock().deactivated
    }

    /// References in flight.
    pub fn active_count(&self) -> usize {
        self.state.lock().active
    }

    /// Deactivates the object and blocks until every reference in flight is
    /// gone: an exclusive acquisition of the object's class.
    #[track_caller]
    pub fn drain(&self) {
        self.deactivate();
        let at = Location::caller();
        // Annotate before waiting: the point is to report the cycle whether
        // or not this particular wait would block.
        let mut acquisition = self.map.acquisition(Mode::Exclusive, 0, false, at);
        let mut s = self.state.lock();
        while s.active > 0 {
            self.drained.wait(&mut s);
        }
        drop(s);
        self.map.end(&mut acquisition);
    }

    fn put(&self) {
        let mut s = self.state.lock();
        s.active -= 1;
        if s.active == 0 && s.deactivated {
            self.drained.notify_all();
        }
    }
}

impl Default for Active {
    #[track_caller]
    fn default() -> Self {
        Active::new()
    }
}

impl fmt::Debug for Active {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.lock();
        f.debug_struct("Active")
            .field("active", &s.active)
            .field("deactivated", &s.deactivated)
            .finish()
    }
}

/// An active reference: the object cannot finish draining while it exists.
#[must_use = "the reference is dropped at once otherwise"]
pub struct ActiveRef<'a> {
    owner: &'a Active,
    acquisition: Acquisition,
}

impl Drop for ActiveRef<'_> {
    fn drop(&mut self) {
        self.owner.map.end(&mut self.acquisition);
        self.owner.put();
    }
}

impl fmt::Debug for ActiveRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActiveRef").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn drain_waits_for_references() {
        let a = Arc::new(Active::named("active-unit-drain"));
        let (tx, rx) = std::sync::mpsc::channel();
        let a2 = a.clone();
        let t = std::thread::spawn(move || {
            let r = a2.get().expect("active");
            tx.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            drop(r);
        });
        rx.recv().unwrap();
        assert_eq!(a.active_count(), 1);
        a.drain();
        assert_eq!(a.active_count(), 0);
        assert!(!a.is_active());
        assert!(a.get().is_none());
        t.join().unwrap();
    }
}
