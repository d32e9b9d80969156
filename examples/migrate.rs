//! Migrating an existing program: only the `use` lines change.
//!
//! A small bank, written once against `std::sync` and once against
//! `parking_lot`. Transfers lock the two accounts' ledgers in argument order;
//! an audit locks the audit log and then a ledger, while a transfer that
//! records itself locks a ledger and then the audit log. Run one after the
//! other, nothing ever hangs; run at the same time, they can. After the
//! switch, the first run that has taken both orders says so.
//!
//! `cargo run --example migrate` runs both versions.

/// The program as written for `std::sync`.
mod with_std {
    // Was: use std::sync::{Arc, Mutex, RwLock};
    use lockdep::sync::{Arc, Mutex, RwLock};
    use std::thread;

    pub struct Bank {
        pub ledgers: Vec<Mutex<i64>>,
        pub audit_log: RwLock<Vec<String>>,
    }

    impl Bank {
        pub fn new(accounts: usize) -> Bank {
            Bank {
                ledgers: (0..accounts).map(|_| Mutex::new(100)).collect(),
                audit_log: RwLock::new(Vec::new()),
            }
        }

        /// Moves money, and records the transfer in the audit log while the
        /// ledger is still locked.
        pub fn transfer(&self, from: usize, to: usize, amount: i64) {
            let mut source = self.ledgers[from].lock().unwrap();
            *source -= amount;
            self.audit_log
                .write()
                .unwrap()
                .push(format!("{from} -> {to}: {amount}"));
            drop(source);
            *self.ledgers[to].lock().unwrap() += amount;
        }

        /// Reads the log, and checks each account while holding it.
        pub fn audit(&self) -> i64 {
            let log = self.audit_log.read().unwrap();
            let total = self.ledgers.iter().map(|l| *l.lock().unwrap()).sum();
            drop(log);
            total
        }
    }

    pub fn run() -> i64 {
        let bank = Arc::new(Bank::new(4));
        let b = Arc::clone(&bank);
        thread::spawn(move || b.transfer(0, 1, 25)).join().unwrap();
        let b = Arc::clone(&bank);
        thread::spawn(move || b.audit()).join().unwrap()
    }
}

/// The same program as written for `parking_lot`.
mod with_parking_lot {
    // Was: use parking_lot::{Mutex, RwLock};
    use lockdep::parking_lot::{Mutex, RwLock};
    use std::sync::Arc;
    use std::thread;

    pub struct Bank {
        pub ledgers: Vec<Mutex<i64>>,
        pub audit_log: RwLock<Vec<String>>,
    }

    impl Bank {
        pub fn new(accounts: usize) -> Bank {
            Bank {
                ledgers: (0..accounts).map(|_| Mutex::new(100)).collect(),
                audit_log: RwLock::new(Vec::new()),
            }
        }

        pub fn transfer(&self, from: usize, to: usize, amount: i64) {
            let mut source = self.ledgers[from].lock();
            *source -= amount;
            self.audit_log
                .write()
                .push(format!("{from} -> {to}: {amount}"));
            drop(source);
            *self.ledgers[to].lock() += amount;
        }

        /// parking_lot's recursive read does not queue behind writers, but
        /// the writer in `transfer` still waits for this reader to finish:
        /// the cycle is real, and reported.
        pub fn audit(&self) -> i64 {
            let log = self.audit_log.read_recursive();
            let total = self.ledgers.iter().map(|l| *l.lock()).sum();
            drop(log);
            total
        }
    }

    pub fn run() -> i64 {
        let bank = Arc::new(Bank::new(4));
        let b = Arc::clone(&bank);
        thread::spawn(move || b.transfer(2, 3, 10)).join().unwrap();
        let b = Arc::clone(&bank);
        thread::spawn(move || b.audit()).join().unwrap()
    }
}

fn main() {
    lockdep::set_action(lockdep::Action::Silent);
    let total = with_std::run();
    assert_eq!(total, 400, "money is conserved");
    let total = with_parking_lot::run();
    assert_eq!(total, 400, "money is conserved");
    let reports = lockdep::reports();
    for report in &reports {
        println!("{report}");
    }
    println!(
        "migrate: both versions ran to completion without hanging; {} potential deadlock(s) reported",
        reports.len()
    );
    assert_eq!(reports.len(), 2, "one cycle in each version");
}
