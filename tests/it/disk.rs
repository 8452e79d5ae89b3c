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
