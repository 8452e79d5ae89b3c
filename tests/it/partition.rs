//! Network partitions: every node-to-node link (consensus p2p and tx gossip) runs through the
//! harness's TCP proxy, which cuts and heals sets of links (no root, no firewall).

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use paychain_api::method;
use paychain_contracts::ids::MerchantId;
use paychain_tests::proxy::Kind;
use paychain_tests::{txs, Options, Testnet};
use serde_json::json;

use crate::{assert_same_chain, PROGRESS};

const ALL4: [usize; 4] = [0, 1, 2, 3];

fn proxied_net() -> Result<Testnet> {
    Testnet::start_with(
        4,
        Options {
            proxied: true,
            ..Options::default()
        },
    )
}

/// Registers a merchant (key from `seed`) from platform-0 through node `via`; returns its id and
/// the tx hash (pending until a quorum commits it).
fn register_via(net: &Testnet, via: usize, seed: u8) -> Result<(MerchantId, String)> {
    let key = net.platform_key(0)?;
    let chain_id = net.rpc(via).status()?["chain_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let nonce = net.rpc(via).nonce(&key.public_key())?;
    let merchant_key = txs::merchant_key(seed);
    let tx = txs::signed(
        &key,
        &chain_id,
        nonce,
        txs::register(&merchant_key, &format!("Shop {seed}")),
    );
    let hash = net
        .rpc(via)
        .submit(&tx.to_bytes())?
        .map_err(|e| anyhow::anyhow!("submit to node {via}: {e}"))?;
    Ok((MerchantId::derive(&merchant_key), hash))
}

/// Every pair of nodes has used a consensus link of the proxy (in one direction or the other),
/// so no node reaches another around it.
fn assert_every_pair_connected_through_proxy(net: &Testnet) -> Result<()> {
    let used = |a: usize, b: usize| {
        net.proxy()
            .links()
            .iter()
            .any(|l| l.kind == Kind::P2p && l.from == a && l.to == b && l.connections() > 0)
    };
    for a in ALL4 {
        for b in (a + 1)..4 {
            ensure!(
                used(a, b) || used(b, a),
                "nodes {a} and {b} never connected through the proxy"
            );
        }
    }
    Ok(())
}

/// Watches `which` for `window`: none may pass height `limit`. Returns their lowest height.
fn assert_no_progress_past(
    net: &Testnet,
    which: &[usize],
    limit: u64,
    window: Duration,
) -> Result<u64> {
    let until = Instant::now() + window;
    loop {
        let mut lowest = u64::MAX;
        for &i in which {
            let h = net.height(i)?;
            ensure!(
                h <= limit,
                "node {i} reached height {h} (> {limit}) without a quorum on its side"
            );
            lowest = lowest.min(h);
        }
        if Instant::now() >= until {
            return Ok(lowest);
        }
        thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn n4_partition_2_2_halts_without_fork_then_heals() -> Result<()> {
    let mut net = proxied_net()?;
    // All traffic goes through the proxy: progress proves the links work.
    net.wait_all(&ALL4, 3, PROGRESS)?;
    assert_every_pair_connected_through_proxy(&net)?;

    net.proxy().partition(&[&[0, 1], &[2, 3]]);
    // Neither half has more than 2/3 of the power. A height whose votes were already on the
    // wire may still finish on one side; after that, nothing.
    let cut_at = ALL4
        .iter()
        .map(|&i| net.height(i))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .max()
        .unwrap_or(0);
    let halted_at = cut_at + 1;
    let (merchant, hash) = register_via(&net, 0, 21)?;
    let stuck = assert_no_progress_past(&net, &ALL4, halted_at, Duration::from_secs(5))?;
    // What each side has is a prefix of one chain: no fork.
    assert_same_chain(&mut net, &ALL4, 1..=stuck.saturating_sub(1).max(1))?;
    let pending = net.rpc(0).tx(&hash)?;
    ensure!(
        pending["status"] == "pending",
        "tx during the partition: {pending}"
    );

    net.proxy().heal();
    // The nodes redial by themselves; the chain resumes and the waiting tx commits.
    let healed = Instant::now();
    net.wait_all(&ALL4, halted_at + 3, PROGRESS)
        .context("no progress after the partition healed")?;
    eprintln!("partition 2/2: progress {:?} after heal", healed.elapsed());
    let receipt = net.rpc(0).wait_committed(&hash, PROGRESS)?;
    ensure!(receipt["code"] == 0, "receipt: {receipt}");
    let top = halted_at + 2;
    assert_same_chain(&mut net, &ALL4, 1..=top)?;
    for i in ALL4 {
        let view = net
            .rpc(i)
            .call(method::MERCHANT, json!([merchant.as_str()]))?;
        ensure!(
            view["merchant"]["id"] == merchant.as_str(),
            "node {i}: {view}"
        );
    }
    Ok(())
}

#[test]
fn n4_partition_1_3_majority_keeps_deciding_minority_catches_up() -> Result<()> {
    let mut net = proxied_net()?;
    net.wait_all(&ALL4, 3, PROGRESS)?;

    assert_every_pair_connected_through_proxy(&net)?;
    net.proxy().partition(&[&[0, 1, 2]]);
    let cut_at = net.height(3)?;
    let majority = [0, 1, 2];
    let h0 = majority
        .iter()
        .map(|&i| net.height(i))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .max()
        .unwrap_or(0);
    // Three of four are a quorum: heights keep coming and a transaction gets in.
    let (merchant, hash) = register_via(&net, 1, 22)?;
    let receipt = net.rpc(1).wait_committed(&hash, PROGRESS)?;
    ensure!(receipt["code"] == 0, "receipt: {receipt}");
    net.wait_all(&majority, h0 + 4, PROGRESS)?;
    // The isolated node decides nothing on its own (one height may have been in flight).
    let isolated = net.height(3)?;
    ensure!(
        isolated <= cut_at + 1,
        "isolated node 3 went from {cut_at} to {isolated}"
    );
    let missing = net.rpc(3).tx(&hash)?;
    ensure!(
        missing["status"] != "committed",
        "the isolated node committed the tx: {missing}"
    );

    net.proxy().heal();
    let healed = Instant::now();
    let target = net.height(0)?;
    net.wait_height(3, target, PROGRESS)
        .context("node 3 did not catch up after the partition healed")?;
    eprintln!(
        "partition 1/3: node 3 caught up {:?} after heal",
        healed.elapsed()
    );
    assert_same_chain(&mut net, &ALL4, 1..=target)?;
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
