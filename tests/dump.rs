//! `lockdep::dump()`: classes with their dependency counts and usage,
//! dependencies, chains and stats, as text and JSON.

use lockdep::schema::{Document, Envelope};
use lockdep::{Mode, Mutex, RwLock};

static CONFIG: RwLock<u32> = RwLock::named("dump_config", 0);
static CACHE: Mutex<u32> = Mutex::named("dump_cache", 0);
static STORE: Mutex<u32> = Mutex::named("dump_store", 0);
static LOG: Mutex<Vec<u32>> = Mutex::named("dump_log", Vec::new());

/// A read path and a write path of a small service.
fn lookup() -> u32 {
    let config = CONFIG.read();
    let cache = CACHE.lock();
    *config + *cache
}

fn update(v: u32) {
    let mut cache = CACHE.lock();
    let mut store = STORE.lock();
    *cache = v;
    *store = v;
}

fn reconfigure(v: u32) {
    let mut config = CONFIG.write();
    let mut store = STORE.lock();
    *config = v;
    *store = v;
}

/// A lock under a trylock: a chain with a trylock in it.
fn flush() {
    let store = STORE.try_lock().expect("uncontended");
    LOG.lock().push(*store);
}

#[test]
fn dump_lists_classes_dependencies_chains_and_stats() {
    lockdep::set_action(lockdep::Action::Silent);
    lookup();
    update(3);
    reconfigure(1);
    flush();
    let dump = lockdep::dump();
    let class = |name: &str| {
        dump.classes
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("{name} in {:#?}", dump.classes))
    };
    let (config, cache, store) = (
        class("dump_config"),
        class("dump_cache"),
        class("dump_store"),
    );
    // config -> cache, config -> store; cache -> store.
    assert_eq!((config.forward, config.backward), (2, 0));
    assert_eq!((cache.forward, cache.backward), (1, 1));
    assert_eq!((store.forward, store.backward), (1, 2));
    // Read and written: both usages.
    assert_eq!(config.usage, "++.");
    assert_eq!(cache.usage, "+..");
    let dep = |from: u32, to: u32| {
        dump.dependencies
            .iter()
            .find(|d| d.from == from && d.to == to)
            .map(|d| d.types.clone())
    };
    assert_eq!(dep(config.id, cache.id).as_deref(), Some("SN"));
    assert_eq!(dep(config.id, store.id).as_deref(), Some("EN"));
    assert_eq!(dep(cache.id, store.id).as_deref(), Some("EN"));
    assert_eq!(dep(store.id, cache.id), None);
    // The chain of lookup: config (read), then cache.
    let chain = dump
        .chains
        .iter()
        .find(|c| {
            c.locks.len() == 2 && c.locks[0].class == config.id && c.locks[1].class == cache.id
        })
        .expect("lookup's chain");
    assert_eq!(chain.locks[0].mode, Mode::Shared);
    // flush's: the trylock of the store, then the log.
    let log = class("dump_log");
    assert!(dump.chains.iter().any(|c| c.locks.len() == 2
        && c.locks[0].class == store.id
        && c.locks[0].mode == Mode::Exclusive
        && c.locks[0].trylock
        && c.locks[1].class == log.id
        && !c.locks[1].trylock));
    assert!(dump.stats.dependencies >= 3 && dump.stats.chains >= dump.chains.len());

    let text = lockdep::render::dump::text(&dump);
    assert!(
        text.contains(&format!(
            "{:>4} FD:    2 BD:    0 ++.: dump_config\n -> [{}] dump_cache (SN)\n -> [{}] dump_store (EN)\n",
            config.id, cache.id, store.id
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            " [{}] dump_store (Exclusive, trylock)\n [{}] dump_log (Exclusive)\n",
            store.id, log.id
        )),
        "{text}"
    );
    assert!(text.contains("lockdep stats:\n lock-classes:"), "{text}");

    let line = lockdep::render::dump::json(&dump);
    let back = Envelope::parse(&line).expect("a dump document");
    assert_eq!(back.document, Document::Dump(dump));
}
