//! `cargo lockdep explain` on kernel logs of each layout (tests/kernel/),
//! run as the binary. Each log's text output is pinned by a golden file
//! beside it (`<log>.expected`; `LOCKDEP_BLESS=1 cargo test -p cargo-lockdep
//! --test explain` rewrites them, then review `git diff`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BLESS: &str = "LOCKDEP_BLESS";

fn kernel(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/kernel")
        .join(name)
}

fn cargo_lockdep(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cargo-lockdep"))
        .arg("lockdep")
        .args(args)
        .output()
        .expect("run cargo-lockdep")
}

fn explain(name: &str) -> (String, String, Option<i32>) {
    let path = kernel(name);
    let out = cargo_lockdep(&["explain", path.to_str().unwrap()]);
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        out.status.code(),
    )
}

/// The output of `explain` on `name`, checked against its golden file.
fn golden(name: &str) -> String {
    let (stdout, stderr, code) = explain(name);
    assert_eq!(code, Some(0), "{name}: {stderr}");
    let expected = kernel(&format!("{name}.expected"));
    if std::env::var(BLESS).is_ok_and(|v| v == "1") {
        std::fs::write(&expected, &stdout).unwrap();
    }
    let want = std::fs::read_to_string(&expected)
        .unwrap_or_else(|_| panic!("{} missing (run with {BLESS}=1)", expected.display()));
    assert_eq!(
        stdout, want,
        "{name}: output differs from its golden file (if intended, run with {BLESS}=1 and review the diff)"
    );
    stdout
}

#[test]
fn seed_prints_the_slab_mutex_s_active_cycle() {
    let out = golden("seed-slub-4.10.txt");
    // The old `[ INFO: ... ]` title, read and printed in today's layout.
    assert!(out.contains(
        "\nWARNING: possible circular locking dependency detected\n4.10.0-test+ #48 Not tainted\n"
    ));
    assert!(out.contains("rmmod/1211 is trying to acquire lock:\n (s_active#120){++++.+}, at: [<ffffffff81308073>] kernfs_remove+0x23/0x40\n"));
    assert!(out.contains("but task is already holding lock:\n (slab_mutex){+.+.+.}, at: "));
    assert!(out.contains("-> #1 (slab_mutex){+.+.+.}:\n       lock_acquire+0xf6/0x1f0\n"));
    assert!(out.contains("       slab_attr_store+0x75/0xd0\n"));
    assert!(out.contains("-> #0 (s_active#120){++++.+}:\n       __lock_acquire+0x10ed/0x1260\n"));
    assert!(out.contains("       kvm_exit+0x2d/0x80 [kvm]\n"));
    assert!(out.contains(
        "  lock(slab_mutex);\n                               lock(s_active#120);\n                               lock(slab_mutex);\n  lock(s_active#120);\n"
    ));
    assert!(out.contains("2 locks held by rmmod/1211:\n #0:  (cpu_hotplug.dep_map){++++++}, at: [<ffffffff810a7877>] get_online_cpus+0x37/0x80\n #1:  (slab_mutex){+.+.+.}"));
    assert!(out.contains("stack backtrace:\n print_circular_bug+0x1be/0x210\n"));
    assert!(out.contains(" ? SyS_delete_module+0x5/0x1f0\n"));
    // One report: the commit message's prose and the patch are not.
    assert_eq!(out.matches("WARNING:").count(), 1);
}

#[test]
fn seed_from_a_web_archive_reads_the_same() {
    // No blank lines, no-break spaces, addresses wrapped after `[<`.
    let (archived, _, code) = explain("seed-slub-4.10-web-archive.txt");
    assert_eq!(code, Some(0));
    assert_eq!(archived, golden("seed-slub-4.10.txt"));
}

#[test]
fn circular_5_10_syslog_with_a_three_class_chain() {
    let out = golden("circular-5.10-syslog.log");
    assert!(!out.contains("testvm"), "syslog prefix kept:\n{out}");
    assert!(!out.contains("211.4"), "timestamp kept:\n{out}");
    assert!(out.contains("dd/2210 is trying to acquire lock:\nffff8881052a1e58 (&mm->mmap_lock#2){++++}-{3:3}, at: __might_fault+0x3e/0x90\n"));
    assert!(out.contains("-> #2 (&sb->s_type->i_mutex_key#14){+.+.}-{3:3}:\n"));
    assert!(out.contains("-> #1 (&ei->i_mmap_sem){++++}-{3:3}:\n       down_read+0x3f/0x150\n"));
    assert!(out.contains("Chain exists of:\n  &mm->mmap_lock#2 --> &ei->i_mmap_sem --> &sb->s_type->i_mutex_key#14\n"));
    // The acquisition was a read: the scenario says so.
    assert!(out.contains("\n  rlock(&mm->mmap_lock#2);\n"));
    assert!(out
        .contains(" #0: ffff888103f5e438 (sb_writers#3){.+.+}-{0:0}, at: vfs_write+0x17e/0x2a0\n"));
    assert!(
        !out.contains("EXT4-fs"),
        "the report ran past its end:\n{out}"
    );
}

#[test]
fn circular_4_4_with_addressed_chain_frames() {
    let out = golden("circular-4.4-addresses.log");
    assert!(out.contains("kworker/u16:2/2711 is trying to acquire lock:\n (&rdev->mutex){+.+.+.}, at: [<ffffffffa04a0ce2>] ath10k_mac_op_set_key+0x52/0x3f0 [ath10k_core]\n"));
    // The chain's `[<address>]`es go; the frames stay, modules too.
    assert!(out.contains("-> #1 (&local->iflist_mtx){+.+...}:\n       lock_acquire+0xce/0x1e0\n       mutex_lock_nested+0x66/0x3d0\n       ieee80211_iterate_active_interfaces_atomic+0x33/0x90 [mac80211]\n"));
    assert!(out
        .contains("Chain exists of:\n  &rdev->mutex --> &local->iflist_mtx --> &local->sta_mtx\n"));
    // Names with quotes and doubled parentheses.
    assert!(out.contains(" #0:  (\"%s\"wiphy_name(local->hw.wiphy)){.+.+.+}, at: "));
    assert!(out.contains(" #1:  ((&sdata->work)){+.+.+.}, at: "));
    // The `Workqueue:` line and stack words are not frames.
    assert!(
        out.contains("stack backtrace:\n dump_stack+0x85/0xc2\n print_circular_bug+0x1f3/0x2f0\n")
    );
    assert!(!out.contains("failed to install key"));
}

#[test]
fn circular_6_6_with_caller_ids_and_symbolized_frames() {
    let out = golden("circular-6.6-dmesg-symbolized.log");
    assert!(!out.contains("T1187]"));
    assert!(out.contains("-> #0 ((work_completion)(&adapter->reset_task)){+.+.}-{0:0}:\n"));
    assert!(out.contains("       __mutex_lock_common kernel/locking/mutex.c:603 [inline]\n"));
    assert!(out.contains("       igb_remove+0x9e/0x2a0 [igb]\n"));
    // The symbolizer's repeated held-lock line is one held lock.
    assert!(out.contains("2 locks held by rmmod/1187:\n #0: ffff88801f2c41b0 (&dev->mutex){....}-{3:3}, at: device_lock include/linux/device.h:992 [inline]\n #1: "));
    assert!(out.contains("stack backtrace:\n __dump_stack lib/dump_stack.c:88 [inline]\n"));
    assert!(!out.contains("RIP"));
    assert!(!out.contains("removing device"));
}

#[test]
fn recursive_4_9_info_style() {
    let out = golden("recursive-4.9-info.log");
    assert!(
        out.contains("\nWARNING: possible recursive locking detected\n4.9.0-rc2+ #3 Not tainted\n")
    );
    assert!(out.contains("bash/3512 is trying to acquire lock:\n (kn->count#21){++++.+}, at: [<ffffffff812a6d0b>] kernfs_remove_by_name_ns+0x4b/0xa0\n"));
    assert!(
        out.contains("       CPU0\n       ----\n  lock(kn->count#21);\n  lock(kn->count#21);\n")
    );
    assert!(out.contains(" May be due to missing lock nesting notation\n"));
    assert!(out.contains("4 locks held by bash/3512:\n"));
    assert!(out.contains(" #3:  (pci_rescan_remove_lock){+.+.+.}"));
    // The raw stack words before the call trace are not frames.
    assert!(out.contains("stack backtrace:\n dump_stack+0x85/0xc9\n __lock_acquire"));
    assert!(out.contains(" entry_SYSCALL_64_fastpath+0x18/0xad\n"));
    assert!(!out.contains("ffffc90001a3fb30"));
    assert!(!out.contains("8086:095a"));
}

#[test]
fn recursive_6_8_journal_with_a_comparison_function() {
    let out = golden("recursive-6.8-journal.log");
    assert!(out.contains("6.8.0-rc5-00031-g1a2b3c4d5e6f #7 Tainted: G        W\n"));
    assert!(out.contains("lock_rename+0x3c/0x80\nand the lock comparison function returns 0:\n"));
    assert!(out.contains("3 locks held by fsstress/5561:\n"));
    assert!(out.contains(" down_write_nested+0x45/0xf0\n"));
    assert!(!out.contains("devbox"));
}

#[test]
fn inconsistent_4_4_reclaim_fs() {
    let out = golden("inconsistent-4.4-info.log");
    assert!(out.contains("\nWARNING: inconsistent lock state\n4.4.0-rc4+ #28 Not tainted\n--------------------------------\n"));
    assert!(out.contains("inconsistent {RECLAIM_FS-ON-W} -> {IN-RECLAIM_FS-W} usage.\nkswapd0/62 [HC0[0]:SC0[0]:HE1:SE1] takes:\n (&xfs_nondir_ilock_class){++++-+}, at: "));
    assert!(
        out.contains("{RECLAIM_FS-ON-W} state was registered at:\n  mark_held_locks+0x6d/0x90\n")
    );
    assert!(out.contains("  entry_SYSCALL_64_fastpath+0x16/0x7a\nirq event stamp: 1240983\nhardirqs last  enabled at (1240983): "));
    assert!(out.contains(
        "  lock(&xfs_nondir_ilock_class);\n  <Interrupt>\n    lock(&xfs_nondir_ilock_class);\n"
    ));
    assert!(out.contains(" #1:  (&type->s_umount_key#28){++++++}"));
    assert!(out.contains(" ret_from_fork+0x3f/0x70\n"));
}

#[test]
fn inconsistent_5_15_in_softirq() {
    let out = golden("inconsistent-5.15-irq.log");
    assert!(out.contains("swapper/1/0 [HC0[0]:SC1[1]:HE1:SE0] takes:\nffff88810c83a018 (&priv->stats_lock){+.?.}-{2:2}, at: mydrv_rx_poll+0x9c/0x2b0 [mydrv]\n"));
    assert!(out.contains("no locks held by swapper/1/0.\n"));
    // <IRQ> and <TASK> markers are not frames; the frames on both sides are.
    assert!(out.contains(" common_interrupt+0x87/0xa0\n asm_common_interrupt+0x1e/0x40\n"));
    assert!(!out.contains("<IRQ>"));
}

#[test]
fn a_report_of_another_kind_is_named_and_skipped() {
    let (out, err, code) = explain("mixed-inversion-skipped.log");
    assert_eq!(code, Some(0));
    assert!(
        err.contains(":3: skipped \"possible irq lock inversion dependency detected\""),
        "{err}"
    );
    assert_eq!(out.matches("WARNING:").count(), 1);
    assert!(out.contains("kworker/u4:1/77 is trying to acquire lock:\n"));
    golden("mixed-inversion-skipped.log");
}

/// Runs explain on `text` written to a file; the error output.
fn explain_text(text: &str) -> (String, Option<i32>) {
    let dir = std::env::temp_dir().join(format!("lockdep-explain-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{:x}.log", text.len() * 31 + text.lines().count()));
    std::fs::write(&path, text).unwrap();
    let out = cargo_lockdep(&["explain", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    (String::from_utf8(out.stderr).unwrap(), out.status.code())
}

#[test]
fn bad_input_is_an_error_naming_the_line() {
    let seed = std::fs::read_to_string(kernel("seed-slub-4.10.txt")).unwrap();
    let lines: Vec<&str> = seed.lines().collect();
    let find = |needle: &str| lines.iter().position(|l| l.contains(needle)).unwrap();

    // A garbled lock line.
    let at = find("(s_active#120){++++.+}, at: [<ffffffff81308073>]");
    let mut broken = lines.clone();
    broken[at] = "   (s_active#120{++++.+}, at: kernfs_remove+0x23/0x40";
    let (err, code) = explain_text(&broken.join("\n"));
    assert_eq!(code, Some(2));
    assert!(
        err.contains(&format!(":{}: expected the lock being acquired", at + 1)),
        "{err}"
    );

    // A chain entry out of order.
    let at = find("-> #0 (s_active#120)");
    let mut broken = lines.clone();
    broken[at] = "  -> #3 (s_active#120){++++.+}:";
    let (err, _) = explain_text(&broken.join("\n"));
    assert!(
        err.contains(&format!(
            ":{}: chain entry #3 out of order: expected #0",
            at + 1
        )),
        "{err}"
    );

    // Cut off inside the report.
    let at = find("but task is already holding lock:");
    let cut = lines[..at].join("\n");
    let (err, code) = explain_text(&cut);
    assert_eq!(code, Some(2));
    assert!(
        err.contains(&format!(
            ":{}: the report that starts at line {} ends before `but task is already holding lock:`",
            cut.lines().count(),
            find("[ INFO:") + 1
        )),
        "{err}"
    );

    // A scenario step that is not one.
    let at = find("lock(s_active#120);");
    let mut broken = lines.clone();
    broken[at] = "\t\t\t\t lock s_active#120";
    let (err, _) = explain_text(&broken.join("\n"));
    assert!(
        err.contains(&format!(":{}: expected a scenario step", at + 1)),
        "{err}"
    );

    // No report at all.
    let (err, code) = explain_text("just a boot log\nwith nothing in it\n");
    assert_eq!(code, Some(2));
    assert!(err.contains(":2: no lockdep report found"), "{err}");

    // A missing file.
    let out = cargo_lockdep(&["explain", "/nonexistent/kernel.log"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/kernel.log"));
}
