use super::*;

struct Loom;

impl Facade for Loom {
    type Mutex<T: Send + 'static> = loom::sync::Mutex<T>;
    type RwLock<T: Send + Sync + 'static> = loom::sync::RwLock<T>;
    fn mutex<T: Send + 'static>(value: T) -> Self::Mutex<T> {
        loom::sync::Mutex::new(value)
    }
    fn rwlock<T: Send + Sync + 'static>(value: T) -> Self::RwLock<T> {
        loom::sync::RwLock::new(value)
    }
    fn with<T: Send + 'static, R>(m: &Self::Mutex<T>, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut m.lock().unwrap())
    }
    fn read<T: Send + Sync + 'static, R>(l: &Self::RwLock<T>, f: impl FnOnce(&T) -> R) -> R {
        f(&l.read().unwrap())
    }
    fn write<T: Send + Sync + 'static, R>(l: &Self::RwLock<T>, f: impl FnOnce(&mut T) -> R) -> R {
        f(&mut l.write().unwrap())
    }
}

/// Stack capture is the unwinder's business, not the model's.
fn no_trace() -> Arc<[usize]> {
    Arc::from(Vec::new())
}

fn entry(class: u32, below: Key) -> HeldLock {
    let at = Location::caller();
    NewEntry::plain(ClassId(class), class as usize + 1, Mode::Exclusive, at).held(below)
}

/// One thread's new chain: holding `first`, acquiring `second`. Returns
/// the circular reports it raised, and the chain's key.
fn acquire_pair(shared: &Shared<Loom, Global>, first: u32, second: u32) -> (usize, Key) {
    let held = entry(first, Key::initial());
    let prefix = chain::mix(Key::initial(), held.chain_id());
    let next = entry(second, prefix);
    let key = chain::mix(prefix, next.chain_id());
    let mut st = ThreadState {
        held: vec![held],
        key: prefix,
        chains: LocalChains::new(),
        order_keys: Vec::new(),
        generation: 0,
    };
    let pending = validate_in(shared, &mut st, &next, key, no_trace);
    let circular = pending
        .iter()
        .filter(|p| matches!(p, Pending::Circular { .. }))
        .count();
    assert!(
        st.chains.contains(key),
        "the thread caches the chain it validated"
    );
    (circular, key)
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(f);
}

#[test]
fn concurrent_abba_is_reported_exactly_once() {
    model(|| {
        let shared = loom::sync::Arc::new(Shared::<Loom, Global>::new());
        let other = shared.clone();
        let t = loom::thread::spawn(move || acquire_pair(&other, 0, 1));
        let (here, key_ba) = acquire_pair(&shared, 1, 0);
        let (there, key_ab) = t.join().unwrap();
        // Whichever order the two insertions took, the second saw the
        // first, and exactly one of them closed the cycle.
        assert_eq!(here + there, 1);
        shared.with_global(|g| {
            assert!(g.graph.has(ClassId(0), ClassId(1), graph::DEP_EN));
            assert!(g.graph.has(ClassId(1), ClassId(0), graph::DEP_EN));
            assert_eq!(g.reported.len(), 1);
        });
        assert!(shared.chains.contains(key_ab) && shared.chains.contains(key_ba));
    });
}

#[test]
fn one_chain_validated_by_two_threads_at_once_is_recorded_once() {
    model(|| {
        let shared = loom::sync::Arc::new(Shared::<Loom, Global>::new());
        let other = shared.clone();
        let t = loom::thread::spawn(move || acquire_pair(&other, 0, 1));
        let (here, key) = acquire_pair(&shared, 0, 1);
        let (there, same) = t.join().unwrap();
        assert_eq!((here, there), (0, 0));
        assert_eq!(key, same);
        shared.with_global(|g| {
            assert_eq!(g.graph.edge_count(), 1);
            assert!(g.chains >= 1);
        });
        assert_eq!(shared.chains.len(), 1);
    });
}
