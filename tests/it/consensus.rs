//! Consensus under faults: agreement, liveness with f = 1, safety with more than f faulty, restarts.

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use paychain_api::method;
use paychain_contracts::ids::MerchantId;
use paychain_tests::{bin, txs, Testnet};
use serde_json::json;

use crate::{assert_same_chain, PROGRESS};

const ALL4: [usize; 4] = [0, 1, 2, 3];

fn chain_id(net: &Testnet) -> Result<String> {
    Ok(net.rpc(0).status()?["chain_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

/// Registers a merchant (key from `seed`) from platform-0 through node `via`; returns its id and tx hash.
fn register_via(net: &Testnet, via: usize, seed: u8) -> Result<(MerchantId, String)> {
    let key = net.platform_key(0)?;
    let nonce = net.rpc(via).nonce(&key.public_key())?;
    let merchant_key = txs::merchant_key(seed);
    let tx = txs::signed(
        &key,
        &chain_id(net)?,
        nonce,
        txs::register(&merchant_key, &format!("Shop {seed}")),
    );
    let hash = net
        .rpc(via)
        .submit(&tx.to_bytes())?
        .map_err(|e| anyhow::anyhow!("submit to node {via}: {e}"))?;
    ensure!(
        hash == tx.hash().to_hex(),
        "node returned tx hash {hash}, expected {}",
        tx.hash().to_hex()
    );
    Ok((MerchantId::derive(&merchant_key), hash))
}

#[test]
fn n4_all_reach_height_with_equal_app_hash() -> Result<()> {
    let mut net = Testnet::start(4)?;
    net.wait_all(&ALL4, 5, PROGRESS)?;
    assert_same_chain(&mut net, &ALL4, 1..=5)?;
    for i in ALL4 {
        let status = net.rpc(i).status()?;
        ensure!(
            status["validators"].as_array().map(Vec::len) == Some(4),
            "node {i}: {status}"
        );
    }
    Ok(())
}

#[test]
fn n4_tx_submitted_to_node4_is_committed() -> Result<()> {
    let mut net = Testnet::start(4)?;
    let (merchant, hash) = register_via(&net, 3, 1)?;
    let receipt = net.rpc(3).wait_committed(&hash, PROGRESS)?;
    ensure!(receipt["code"] == 0, "receipt: {receipt}");
    let height = receipt["height"].as_u64().context("receipt height")?;
    // Every other node commits it at the same height and serves the merchant.
    for i in 0..3 {
        let at = net.rpc(i).wait_committed(&hash, PROGRESS)?;
        ensure!(
            at == receipt,
            "node {i} has receipt {at}, node 3 has {receipt}"
        );
        let view = net
            .rpc(i)
            .call(method::MERCHANT, json!([merchant.as_str()]))?;
        ensure!(
            view["merchant"]["id"] == merchant.as_str(),
            "node {i}: {view}"
        );
        ensure!(
            view["merchant"]["registered_by"] == "platform-0",
            "node {i}: {view}"
        );
    }
    assert_same_chain(&mut net, &ALL4, height..=height)?;
    Ok(())
}

#[test]
fn n4f1_validator_killed_others_keep_committing_then_it_catches_up() -> Result<()> {
    let mut net = Testnet::start(4)?;
    net.wait_all(&ALL4, 2, PROGRESS)?;
    net.kill_9(3);
    let live = [0, 1, 2];
    let h0 = net.height(0)?;
    // Three of four are a quorum: heights keep coming and a transaction still gets in.
    net.wait_all(&live, h0 + 4, PROGRESS)?;
    let (merchant, hash) = register_via(&net, 1, 2)?;
    let receipt = net.rpc(1).wait_committed(&hash, PROGRESS)?;
    ensure!(receipt["code"] == 0, "receipt: {receipt}");

    net.restart(3)?;
    let target = net.height(0)?;
    net.wait_height(3, target, PROGRESS)?;
    assert_same_chain(&mut net, &ALL4, (target - 2)..=target)?;
    let view = net
        .rpc(3)
        .call(method::MERCHANT, json!([merchant.as_str()]))?;
    ensure!(
        view["merchant"]["id"] == merchant.as_str(),
        "node 3 after catch-up: {view}"
    );
    // And it takes part again: the chain moves on with all four.
    net.wait_all(&ALL4, target + 2, PROGRESS)?;
    Ok(())
}

#[test]
fn n4f2_two_killed_chain_halts_without_fork_and_resumes() -> Result<()> {
    let mut net = Testnet::start(4)?;
    net.wait_all(&ALL4, 2, PROGRESS)?;
    net.kill_9(2);
    net.kill_9(3);
    // Two of four are no quorum. A height already under way may still finish; after that, nothing.
    let halted_at = net.height(0)?.max(net.height(1)?) + 1;
    let (merchant, hash) = register_via(&net, 0, 3)?;
    let watch = Instant::now() + Duration::from_secs(4);
    while Instant::now() < watch {
        for i in [0, 1] {
            let h = net.height(i)?;
            ensure!(
                h <= halted_at,
                "node {i} reached height {h} with two of four validators dead"
            );
        }
        thread::sleep(Duration::from_millis(200));
    }
    let stuck = net.height(0)?.min(net.height(1)?);
    assert_same_chain(&mut net, &[0, 1], 1..=stuck.saturating_sub(1).max(1))?;
    let pending = net.rpc(0).tx(&hash)?;
    ensure!(pending["status"] == "pending", "tx while halted: {pending}");

    // One returns: three of four, the chain resumes and the waiting transaction commits.
    net.restart(2)?;
    let live = [0, 1, 2];
    net.wait_all(&live, stuck + 3, PROGRESS)?;
    let receipt = net.rpc(0).wait_committed(&hash, PROGRESS)?;
    ensure!(receipt["code"] == 0, "receipt: {receipt}");
    assert_same_chain(&mut net, &live, 1..=stuck + 2)?;
    let view = net
        .rpc(2)
        .call(method::MERCHANT, json!([merchant.as_str()]))?;
    ensure!(
        view["merchant"]["id"] == merchant.as_str(),
        "node 2: {view}"
    );
    Ok(())
}

#[test]
fn n1_restart_preserves_state_height_and_app_hash() -> Result<()> {
    let mut net = Testnet::start(1)?;
    let (merchant, hash) = register_via(&net, 0, 4)?;
    let receipt = net.rpc(0).wait_committed(&hash, PROGRESS)?;
    ensure!(receipt["code"] == 0, "receipt: {receipt}");
    let committed_at = receipt["height"].as_u64().context("receipt height")?;
    let app_before = net.app_hash_after(0, committed_at, PROGRESS)?;
    let h = net.height(0)?;
    let block_before = net.block_hash(0, h)?.context("latest block")?;
    let merchant_before = net
        .rpc(0)
        .call(method::MERCHANT, json!([merchant.as_str()]))?;
    let key = net.platform_key(0)?.public_key();
    let nonce_before = net.rpc(0).nonce(&key)?;

    net.kill_9(0);
    // An operator compacts the stopped node's database: it reports what is kept on disk, and the
    // checks after the restart show that nothing was lost.
    let out = std::process::Command::new(bin("paychain-node"))
        .args(["compact", "--home"])
        .arg(&net.nodes[0].home)
        .output()?;
    ensure!(
        out.status.success(),
        "compact failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sizes: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    ensure!(
        sizes["height"].as_u64() >= Some(h) && sizes["txs"].as_u64() >= Some(1),
        "compact report: {sizes}"
    );
    let per_family: u64 = sizes["column_families"]
        .as_array()
        .context("column families")?
        .iter()
        .filter_map(|f| f["sst_bytes"].as_u64())
        .sum();
    ensure!(
        per_family > 0 && Some(per_family) == sizes["sst_bytes"].as_u64(),
        "compact report: {sizes}"
    );
    net.restart(0)?;

    let h_after = net.height(0)?;
    ensure!(
        h_after >= h,
        "height went back from {h} to {h_after} over a restart"
    );
    ensure!(
        net.block_hash(0, h)?.as_deref() == Some(block_before.as_str()),
        "block {h} changed over a restart"
    );
    ensure!(
        net.app_hash_after(0, committed_at, PROGRESS)? == app_before,
        "app hash changed"
    );
    ensure!(
        net.rpc(0)
            .call(method::MERCHANT, json!([merchant.as_str()]))?
            == merchant_before,
        "merchant changed over a restart"
    );
    ensure!(
        net.rpc(0).nonce(&key)? == nonce_before,
        "nonce changed over a restart"
    );
    ensure!(
        net.rpc(0).tx(&hash)?["receipt"] == receipt,
        "receipt changed over a restart"
    );
    // The chain goes on from where it was.
    net.wait_height(0, h_after + 2, PROGRESS)?;
    Ok(())
}
