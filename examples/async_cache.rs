//! A small async service: a price cache that a background task refreshes on
//! an interval, and request handlers that read it, all tasks of one
//! `LocalSet` (so a handler may keep a thread-bound guard across an await:
//! nothing makes it `Send`).
//!
//! The bug (default): the refresher takes `sources` and then writes
//! `cache`; a handler that misses keeps its read of `cache` and takes
//! `sources` to learn where to fetch from. Two tasks, opposite orders: a
//! refresh waiting for its write while a handler holds its read and waits
//! for `sources` hangs both, and every later request behind them. lockdep
//! reports it the first time both orders have run, without the hang.
//!
//! `--fixed`: the handler lets go of its read before it takes `sources`.
//!
//! `--stats-across-await`: the fixed handler, which also counts misses in a
//! thread-bound (`lockdep::Mutex`) counter and keeps its guard across the
//! fetch's `.await`: reported when the task suspends.
//!
//! ```text
//! cargo run --example async_cache [-- --fixed | --stats-across-await]
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lockdep::tokio::{spawn_local, task, Mutex, RwLock};

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Buggy,
    Fixed,
    StatsAcrossAwait,
}

struct Service {
    sources: Mutex<Vec<String>>,
    cache: RwLock<HashMap<String, u64>>,
    misses: lockdep::Mutex<u64>,
}

impl Service {
    fn new() -> Service {
        Service {
            sources: Mutex::named("sources", vec!["primary".into(), "backup".into()]),
            cache: RwLock::named("cache", HashMap::new()),
            misses: lockdep::Mutex::named("misses", 0),
        }
    }
}

/// A stand-in for a network call.
async fn fetch(source: &str, key: &str) -> u64 {
    tokio::task::yield_now().await;
    (source.len() * 100 + key.len()) as u64
}

/// The refresher's work: every source into the cache.
async fn refresh(svc: &Service) {
    let sources = svc.sources.lock().await;
    let mut cache = svc.cache.write().await;
    for source in sources.iter() {
        let price = fetch(source, source).await;
        cache.insert(source.clone(), price);
    }
}

// `--stats-across-await` holds a guard across an await on purpose, for
// lockdep to report at run time; clippy's `await_holding_lock` sees it too,
// since lockdep's guards are lock_api's.
#[allow(clippy::await_holding_lock)]
async fn handle(svc: Arc<Service>, key: &'static str, mode: Mode) -> u64 {
    if mode == Mode::Buggy {
        let cache = svc.cache.read().await;
        if let Some(&price) = cache.get(key) {
            return price;
        }
        // Still reading `cache`.
        let sources = svc.sources.lock().await;
        return fetch(&sources[0], key).await;
    }
    if let Some(price) = svc.cache.read().await.get(key).copied() {
        return price;
    }
    let source = svc.sources.lock().await[0].clone();
    if mode == Mode::StatsAcrossAwait {
        let mut misses = svc.misses.lock();
        *misses += 1;
        // The thread-bound guard lives across the fetch's await.
        return fetch(&source, key).await;
    }
    *svc.misses.lock() += 1;
    fetch(&source, key).await
}

async fn run(mode: Mode) {
    let svc = Arc::new(Service::new());
    // The first refresh, before serving.
    refresh(&svc).await;

    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    let refresher = spawn_local({
        let svc = svc.clone();
        async move {
            let mut every = tokio::time::interval(Duration::from_millis(2));
            loop {
                tokio::select! {
                    _ = every.tick() => refresh(&svc).await,
                    _ = stopped.changed() => break,
                }
            }
        }
    });

    let mut served = 0;
    for key in ["primary", "backup", "missing"] {
        served += spawn_local(handle(svc.clone(), key, mode)).await.unwrap();
    }
    stop.send(true).unwrap();
    refresher.await.unwrap();
    println!("async_cache: served {served}");
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mode = match std::env::args().nth(1).as_deref() {
        None => Mode::Buggy,
        Some("--fixed") => Mode::Fixed,
        Some("--stats-across-await") => Mode::StatsAcrossAwait,
        Some(other) => {
            eprintln!("usage: async_cache [--fixed | --stats-across-await], not {other}");
            std::process::exit(2);
        }
    };
    let local = tokio::task::LocalSet::new();
    local.run_until(task(run(mode))).await;
    println!(
        "async_cache: {} lockdep report(s)",
        lockdep::reports().len()
    );
}
