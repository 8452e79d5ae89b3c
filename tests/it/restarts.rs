//! Faults real networks have beyond a single crash (CometBFT's "pause", Jepsen's whole-cluster
//! restarts): a validator frozen longer than a round, all four killed at once, rolling restarts, and a
//! validator whose clock is 40 s off in either direction.
//! Each waits on progress, never on time, then checks that the nodes agree block by block and on the
//! app hash and that every transaction whose commit was acknowledged is in the chain exactly once.

use std::collections::BTreeMap;

use anyhow::{ensure, Context, Result};
use paychain_tests::{txs, Options, Testnet};
use serde_json::json;

use crate::{assert_same_chain, PROGRESS};

const ALL4: [usize; 4] = [0, 1, 2, 3];

/// Commits a merchant registration from platform-0 through node `via`; returns (tx hash, height).
fn acknowledged(net: &Testnet, via: usize, seed: u8) -> Result<(String, u64)> {
    let chain = net.rpc(via).status()?["chain_id"]
        .as_str()
        .context("chain id")?
        .to_owned();
    let key = net.platform_key(0)?;
    let nonce = net.rpc(via).nonce(&key.public_key())?;
    let tx = txs::signed(
        &key,
        &chain,
        nonce,
        txs::register(&txs::merchant_key(seed), &format!("Shop {seed}")),
    );
    let hash = net
        .rpc(via)
        .submit(&tx.to_bytes())?
        .map_err(|e| anyhow::anyhow!("submit through node {via}: {e}"))?;
    let receipt = net.rpc(via).wait_committed(&hash, PROGRESS)?;
    ensure!(receipt["code"] == 0, "{receipt}");
    let height = receipt["height"].as_u64().context("receipt height")?;
    Ok((hash, height))
}

/// Every acknowledged transaction is committed at its acknowledged height on every node in `which`,
/// and platform-0's nonce counts exactly the acknowledged ones (none twice, none lost).
fn exactly_once(net: &Testnet, which: &[usize], acked: &BTreeMap<String, u64>) -> Result<()> {
    let p0 = net.platform_key(0)?.public_key();
    for &i in which {
        for (hash, height) in acked {
            let tx = net.rpc(i).tx(hash)?;
            ensure!(
                tx["status"] == "committed" && tx["receipt"]["height"] == json!(height),
                "node {i}: tx {hash} acknowledged at {height}: {tx}"
            );
        }
        let nonce = net.rpc(i).nonce(&p0)?;
        ensure!(
            nonce == acked.len() as u64,
            "node {i}: platform-0 nonce {nonce}, acknowledged {}",
            acked.len()
        );
    }
    Ok(())
}

/// Waits until every node reaches `height`, then checks that they agree on blocks 1..=height and
/// that every acknowledged transaction is in the chain exactly once.
fn settled(net: &mut Testnet, height: u64, acked: &BTreeMap<String, u64>) -> Result<()> {
    net.wait_all(&ALL4, height, PROGRESS)?;
    assert_same_chain(net, &ALL4, 1..=height)?;
    exactly_once(net, &ALL4, acked)
}

#[test]
fn n4f1_validator_paused_for_rounds_resumes_and_catches_up() -> Result<()> {
    let mut net = Testnet::start(4)?;
    net.wait_all(&ALL4, 2, PROGRESS)?;
    let mut acked = BTreeMap::new();
    net.pause(3)?;
    let live = [0, 1, 2];
    // The three others go on for several heights, including ones node 3 should have proposed.
    let h0 = net.height(0)?;
    net.wait_all(&live, h0 + 6, PROGRESS)?;
    for seed in 1..=3 {
        let (hash, h) = acknowledged(&net, seed as usize % 3, seed)?;
        acked.insert(hash, h);
    }
    net.resume(3)?;
    let target = net.height(0)? + 2;
    settled(&mut net, target, &acked)?;
    // It votes and proposes again: the chain moves on with all four.
    let (hash, h) = acknowledged(&net, 3, 4)?;
    acked.insert(hash, h);
    exactly_once(&net, &ALL4, &acked)?;
    Ok(())
}

#[test]
fn n4_all_killed_at_once_restart_without_fork_or_loss() -> Result<()> {
    let mut net = Testnet::start(4)?;
    net.wait_all(&ALL4, 2, PROGRESS)?;
    let mut acked = BTreeMap::new();
    for seed in 1..=4u8 {
        let (hash, h) = acknowledged(&net, seed as usize % 4, seed)?;
        acked.insert(hash, h);
    }
    let before = ALL4
        .iter()
        .map(|&i| net.height(i))
        .collect::<Result<Vec<_>>>()?;
    for i in ALL4 {
        net.kill_9(i);
    }
    for i in ALL4 {
        net.restart(i)?;
    }
    let resume = before.iter().copied().max().unwrap_or(0) + 2;
    settled(&mut net, resume, &acked)?;
    let (hash, h) = acknowledged(&net, 2, 5)?;
    acked.insert(hash, h);
    exactly_once(&net, &ALL4, &acked)?;
    Ok(())
}

#[test]
fn n4f1_rolling_restart_keeps_committing() -> Result<()> {
    let mut net = Testnet::start(4)?;
    net.wait_all(&ALL4, 2, PROGRESS)?;
    let mut acked = BTreeMap::new();
    for (step, victim) in ALL4.into_iter().enumerate() {
        net.kill_9(victim);
        // Through a node that is up, while one of four is down.
        let via = (victim + 1) % 4;
        let (hash, h) = acknowledged(&net, via, 10 + step as u8)?;
        acked.insert(hash, h);
        net.restart(victim)?;
        let target = net.height(via)?;
        net.wait_height(victim, target, PROGRESS)?;
    }
    let end = net.height(0)? + 1;
    settled(&mut net, end, &acked)
}

/// Validator `skewed` runs with its clock `offset_ms` off: the chain must keep deciding for eight
/// heights (two of each validator's turns as proposer, round-robin over four), commit transactions
/// sent through the skewed node, and stay one chain.
fn skewed_clock_keeps_deciding(skewed: usize, offset_ms: i64) -> Result<()> {
    let mut net = Testnet::start_with(
        4,
        Options {
            env: vec![
                (skewed, "PAYCHAIN_TEST_FAULTS".into(), "enable".into()),
                (
                    skewed,
                    "PAYCHAIN_TEST_CLOCK_OFFSET_MS".into(),
                    offset_ms.to_string(),
                ),
            ],
            ..Options::default()
        },
    )?;
    let h0 = net.height(0)?;
    net.wait_all(&ALL4, h0 + 8, PROGRESS)?;
    let mut acked = BTreeMap::new();
    for seed in 1..=2u8 {
        let (hash, h) = acknowledged(&net, skewed, seed)?;
        acked.insert(hash, h);
    }
    let end = net.height(0)?;
    settled(&mut net, end, &acked)
}

/// What the chain does with one clock 40 s ahead: the skewed validator's proposals carry a time more
/// than 30 s ahead of everyone else's clock, so the others refuse them and its rounds time out to
/// the next proposer; every other height is decided as usual, and the skewed node follows the chain.
#[test]
fn n4f1_validator_clock_40s_ahead_chain_keeps_deciding() -> Result<()> {
    skewed_clock_keeps_deciding(3, 40_000)
}

/// What the chain does with one clock 40 s behind: the skewed validator sees everyone else's block
/// times as more than 30 s in the future and votes against their proposals, which three of four
/// decide anyway; it commits what was decided all the same, and its own proposals (time = its
/// parent's + 1 ms at least) are accepted by the others.
#[test]
fn n4f1_validator_clock_40s_behind_chain_keeps_deciding() -> Result<()> {
    skewed_clock_keeps_deciding(2, -40_000)
}
