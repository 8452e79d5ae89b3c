//! Disk faults: the storage write that commits a block fails on one validator (the node's
//! test-only switch `PAYCHAIN_TEST_FAIL_COMMIT_AT`, see `paychain_node::faults`; the write is
//! refused as a full or broken disk would refuse it). The node must stop at once with a one-line
//! reason and a non-zero exit, the others go on, and after a restart it catches up.

use anyhow::{ensure, Context, Result};
use paychain_api::method;
use paychain_contracts::ids::MerchantId;
use paychain_tests::{tail, txs, Options, Testnet};
use serde_json::json;

use crate::{assert_same_chain, PROGRESS};

const FAULTY: usize = 2;
const FAIL_AT: u64 = 4;

#[test]
fn n4_disk_write_fails_node_stops_cleanly_and_recovers() -> Result<()> {
    let env = |k: &str, v: &str| (FAULTY, k.to_owned(), v.to_owned());
    let mut net = Testnet::start_with(
        4,
        Options {
            env: vec![
                env("PAYCHAIN_TEST_FAULTS", "enable"),
                env("PAYCHAIN_TEST_FAIL_COMMIT_AT", &FAIL_AT.to_string()),
            ],
            ..Options::default()
        },
    )?;
    let live = [0, 1, 3];

    // The faulty node stops by itself when block FAIL_AT is decided.
    let status = net.nodes[FAULTY].wait_exit(PROGRESS)?;
    ensure!(!status.success(), "node {FAULTY} exited with {status}");
    let log = tail(&net.nodes[FAULTY].log_path(), 5);
    let last = log.lines().last().unwrap_or_default();
    ensure!(
        last.starts_with("error: ")
            && last.contains(&format!("storage write of block {FAIL_AT} failed")),
        "last line of node {FAULTY}'s output is not the reason: {last:?}"
    );

    // The others go on (three of four are a quorum) and commit a transaction.
    let chain_id = net.rpc(0).status()?["chain_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let merchant_key = txs::merchant_key(41);
    let tx = txs::signed(
        &net.platform_key(0)?,
        &chain_id,
        0,
        txs::register(&merchant_key, "Shop 41"),
    );
    let hash = net
        .rpc(0)
        .submit(&tx.to_bytes())?
        .map_err(|e| anyhow::anyhow!("submit: {e}"))?;
    let receipt = net.rpc(0).wait_committed(&hash, PROGRESS)?;
    ensure!(receipt["code"] == 0, "receipt: {receipt}");
    net.wait_all(&live, FAIL_AT + 3, PROGRESS)?;

    // Restarted with a working disk, it resumes from its last good block and catches up.
    net.set_env(FAULTY, "PAYCHAIN_TEST_FAIL_COMMIT_AT", None);
    net.restart(FAULTY)?;
    // Nothing of the failed block reached the disk: it reopened at the block before.
    let log = std::fs::read_to_string(net.nodes[FAULTY].log_path())?;
    let reopened = log
        .rsplit("---- spawn ----")
        .next()
        .and_then(|run| run.lines().find(|l| l.contains("storage opened")))
        .context("no 'storage opened' line after the restart")?;
    ensure!(
        reopened.contains(&format!("height={}", FAIL_AT - 1)),
        "restarted node reopened its storage at: {reopened}"
    );
    let target = net.height(0)?;
    net.wait_height(FAULTY, target, PROGRESS)
        .context("the restarted node did not catch up")?;
    assert_same_chain(&mut net, &[0, 1, 2, 3], 1..=target)?;
    let view = net.rpc(FAULTY).call(
        method::MERCHANT,
        json!([MerchantId::derive(&merchant_key).as_str()]),
    )?;
    ensure!(
        view["merchant"]["id"] == MerchantId::derive(&merchant_key).as_str(),
        "node {FAULTY} after recovery: {view}"
    );
    net.wait_all(&[0, 1, 2, 3], target + 2, PROGRESS)?;
    Ok(())
}

/// A tmpfs mounted by the test (root only), unmounted when dropped, even when the test fails.
pub(crate) struct Tmpfs {
    path: std::path::PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `"64m"`) at `path`; `None` (after saying why) when this
    /// machine does not let the test mount one.
    pub(crate) fn mount(path: &std::path::Path, size: &str) -> Result<Option<Tmpfs>> {
        std::fs::create_dir_all(path)?;
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(path)
            .output();
        match out {
            Ok(o) if o.status.success() => Ok(Some(Tmpfs {
                path: path.to_path_buf(),
            })),
            Ok(o) => {
                eprintln!(
                    "SKIPPED: cannot mount a tmpfs (needs root and CAP_SYS_ADMIN): {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                Ok(None)
            }
            Err(e) => {
                eprintln!("SKIPPED: cannot run mount: {e}");
                Ok(None)
            }
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: the node may still hold files on it until the testnet kills it.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

/// Copies the regular files of `from` into `to` (one level: a RocksDB directory).
pub(crate) fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

/// Fills the file system of `dir` with a file of zeros until it refuses (ENOSPC); returns it.
pub(crate) fn fill(dir: &std::path::Path) -> Result<std::path::PathBuf> {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path)?;
    let chunk = vec![0u8; 1 << 20];
    loop {
        if let Err(e) = f.write_all(&chunk).and_then(|_| f.sync_data()) {
            ensure!(
                e.raw_os_error() == Some(28),
                "filling {}: {e} (expected: no space left)",
                dir.display()
            );
            break;
        }
    }
    // Fill the last partial chunk's worth too.
    for _ in 0..1024 {
        if f.write_all(&[0u8; 1024])
            .and_then(|_| f.sync_data())
            .is_err()
        {
            break;
        }
    }
    Ok(path)
}

/// The last line of node `i`'s log is its one-line reason, starts with `error: `, mentions
/// `needle`, and the node did not panic.
pub(crate) fn stopped_with(net: &Testnet, i: usize, needle: &str) -> Result<String> {
    let log = std::fs::read_to_string(net.nodes[i].log_path())?;
    let run = log.rsplit("---- spawn ----").next().unwrap_or_default();
    ensure!(
        !run.contains("panicked at"),
        "node {i} panicked:\n{}",
        tail(&net.nodes[i].log_path(), 20)
    );
    let last = run.lines().last().unwrap_or_default().to_owned();
    ensure!(
        last.starts_with("error: ") && last.to_lowercase().contains(needle),
        "last line of node {i}'s output is not a one-line reason with {needle:?}: {last:?}"
    );
    Ok(last)
}

/// A real full disk: node 2's data directory is a small tmpfs the test fills up. The node stops
/// at its next storage write with a one-line reason (no panic); the others go on. Once space is
/// freed it restarts, catches up, and agrees with the others block by block.
#[test]
fn n4_real_full_disk_node_stops_with_reason_and_recovers_after_space_is_freed() -> Result<()> {
    let mut net = Testnet::start(4)?;
    let all = [0, 1, 2, 3];
    net.wait_all(&all, 3, PROGRESS)?;
    // Move node 2's data onto a 64 MiB tmpfs while it is down.
    net.kill_9(FAULTY);
    let data = net.nodes[FAULTY].home.join("data");
    let saved = net.dir.path().join("node2-data-saved");
    std::fs::rename(&data, &saved)?;
    let Some(_mount) = Tmpfs::mount(&data, "64m")? else {
        return Ok(());
    };
    copy_dir(&saved, &data)?;
    net.restart(FAULTY)?;
    let h = net.height(0)?;
    net.wait_height(FAULTY, h, PROGRESS)?;

    // The disk fills up: the node must stop by itself, with its reason as the last line.
    let filler = fill(&data)?;
    let full = std::time::Instant::now();
    let status = net.nodes[FAULTY].wait_exit(PROGRESS)?;
    ensure!(!status.success(), "node {FAULTY} exited with {status}");
    let reason = stopped_with(&net, FAULTY, "no space left on device")?;
    ensure!(
        reason.contains("storage write of"),
        "the reason does not say which write failed: {reason}"
    );
    let stopped_after = full.elapsed();
    let live = [0, 1, 3];
    let h = net.height(0)?;
    net.wait_all(&live, h + 2, PROGRESS)?;

    // Space freed: it starts again where it stopped and catches up.
    std::fs::remove_file(&filler)?;
    let freed = std::time::Instant::now();
    net.restart(FAULTY)?;
    let target = net.height(0)?;
    net.wait_height(FAULTY, target, PROGRESS)
        .context("the node did not catch up after space was freed")?;
    let recovered = freed.elapsed();
    assert_same_chain(&mut net, &all, 1..=target)?;
    net.wait_all(&all, target + 2, PROGRESS)?;
    eprintln!(
        "FIGURES full disk: stopped {stopped_after:?} after the disk filled ({reason}); caught up {recovered:?} after space was freed"
    );
    Ok(())
}

/// Storage damaged while the node is down: a torn RocksDB log (recovered by RocksDB to the last
/// whole block), then garbage over its RocksDB MANIFEST. A damaged store stops the node at startup with a one-line reason, no
/// panic; the repair (wipe the data and WAL, resync from the peers) brings it back on the one chain.
#[test]
fn n4_corrupted_store_stops_with_reason_and_resyncs_after_repair() -> Result<()> {
    let mut net = Testnet::start(4)?;
    let all = [0, 1, 2, 3];
    net.wait_all(&all, 4, PROGRESS)?;
    let home = net.nodes[FAULTY].home.clone();
    let data = home.join("data");
    let file_starting = |prefix: &str| -> Result<std::path::PathBuf> {
        let mut found: Vec<std::path::PathBuf> = std::fs::read_dir(&data)?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix) || n.ends_with(prefix))
            })
            .collect();
        found.sort();
        found
            .pop()
            .with_context(|| format!("no {prefix} file in {}", data.display()))
    };

    // A torn RocksDB write-ahead log (the newest `.log` cut in half, as a crash mid-write leaves
    // it): RocksDB recovers to the last complete write batch before the tear (a block is one
    // batch, so the last whole block; here often the genesis state alone), the node reopens
    // there without a word and catches up from its peers. No stop, no fork.
    net.kill_9(FAULTY);
    let log = file_starting(".log")?;
    let len = std::fs::metadata(&log)?.len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)?
        .set_len(len / 2)?;
    net.restart(FAULTY)?;
    let reopened = std::fs::read_to_string(net.nodes[FAULTY].log_path())?
        .rsplit("---- spawn ----")
        .next()
        .and_then(|run| run.lines().find(|l| l.contains("storage opened")))
        .map(str::to_owned)
        .unwrap_or_default();
    let target = net.height(0)?;
    net.wait_height(FAULTY, target, PROGRESS)
        .context("the node did not catch up after its RocksDB log was torn")?;
    assert_same_chain(&mut net, &all, 1..=target)?;
    eprintln!("torn RocksDB log: {reopened}");

    net.kill_9(FAULTY);
    let manifest = file_starting("MANIFEST-")?;
    // Garbage over the middle of the MANIFEST (a torn tail would be skipped as an unfinished
    // record: RocksDB reads a MANIFEST as a log).
    let mut bytes = std::fs::read(&manifest)?;
    let mid = bytes.len() / 2;
    let end = (mid + 64).min(bytes.len());
    bytes[mid..end].iter_mut().for_each(|b| *b ^= 0x5a);
    std::fs::write(&manifest, &bytes)?;

    net.spawn(FAULTY)?;
    let status = net.nodes[FAULTY].wait_exit(PROGRESS)?;
    ensure!(!status.success(), "node {FAULTY} exited with {status}");
    let reason = stopped_with(&net, FAULTY, "corrupt")?;

    // The repair: wipe the damaged store and the consensus WAL, resync from the peers.
    let repaired = std::time::Instant::now();
    std::fs::remove_dir_all(&data)?;
    std::fs::remove_dir_all(home.join("wal"))?;
    net.restart(FAULTY)?;
    let target = net.height(0)?;
    net.wait_height(FAULTY, target, PROGRESS)
        .context("the repaired node did not resync")?;
    let resynced = repaired.elapsed();
    assert_same_chain(&mut net, &all, 1..=target)?;
    net.wait_all(&all, target + 2, PROGRESS)?;
    eprintln!(
        "FIGURES corrupted store: stopped with ({reason}); resynced {resynced:?} after the repair"
    );
    Ok(())
}
