//! A byzantine validator (f = 1 of 4): node 3 runs with the node's test-only switch
//! `PAYCHAIN_TEST_BYZANTINE=invalid-proposal,garbage` (see `paychain_node::faults`). As proposer it
//! only proposes invalid blocks (a badly signed transaction, or a wrong `prev_app_hash`), and all
//! along it floods garbage: undecodable tx gossip, proposal streams impersonating the round's
//! proposer, streams naming a validator that is not the round's proposer or a height far ahead
//! (refused at their init, before anything of them is buffered), genuine proposals replayed with
//! other bytes.

use std::collections::HashSet;
use std::fs;

use anyhow::{ensure, Context, Result};
use paychain_api::method;
use paychain_contracts::crypto::{Hash, SecretKey};
use paychain_contracts::ids::MerchantId;
use paychain_tests::{load_key, txs, Options, Testnet};
use serde_json::json;

use crate::{assert_same_chain, PROGRESS};

const HONEST: [usize; 3] = [0, 1, 2];
const BYZANTINE: usize = 3;

/// `paychain_invalid_proposals` from node `i`'s `/metrics`.
fn invalid_proposals(net: &Testnet, i: usize) -> Result<u64> {
    let (status, text) = net.rpc(i).http("GET", "/metrics", None)?;
    ensure!(status == 200, "node {i} /metrics: HTTP {status}");
    let line = text
        .lines()
        .find(|l| l.starts_with("paychain_invalid_proposals"))
        .with_context(|| format!("node {i} has no paychain_invalid_proposals metric"))?;
    let value = line.split_whitespace().last().unwrap_or_default();
    Ok(value
        .parse::<f64>()
        .with_context(|| format!("metric line {line:?}"))? as u64)
}

/// `paychain_proposal_streams_dropped_total{reason="<reason>"}` from node `i`'s `/metrics` (0
/// when none was dropped for that reason yet).
fn proposal_streams_dropped(net: &Testnet, i: usize, reason: &str) -> Result<u64> {
    let (status, text) = net.rpc(i).http("GET", "/metrics", None)?;
    ensure!(status == 200, "node {i} /metrics: HTTP {status}");
    let label = format!("reason=\"{reason}\"");
    Ok(text
        .lines()
        .filter(|l| l.starts_with("paychain_proposal_streams_dropped") && l.contains(&label))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum::<f64>() as u64)
}

#[test]
fn n4f1_byzantine_proposer_invalid_blocks_never_reach_state() -> Result<()> {
    let env = |k: &str, v: &str| (BYZANTINE, k.to_owned(), v.to_owned());
    let mut net = Testnet::start_with(
        4,
        Options {
            env: vec![
                env("PAYCHAIN_TEST_FAULTS", "enable"),
                env("PAYCHAIN_TEST_BYZANTINE", "invalid-proposal,garbage"),
            ],
            ..Options::default()
        },
    )?;
    let byzantine_key =
        load_key(&net.nodes[BYZANTINE].home.join("keys/validator.json"))?.public_key();
    let byzantine_hex = hex::encode(byzantine_key.0);
    net.wait_all(&HONEST, 2, PROGRESS)?;
    let h0 = net.height(0)?;

    // Honest clients keep committing meanwhile.
    let chain_id = net.rpc(0).status()?["chain_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let key = net.platform_key(0)?;
    let mut merchants = Vec::new();
    for (n, seed) in [31u8, 32].into_iter().enumerate() {
        let merchant_key = txs::merchant_key(seed);
        let tx = txs::signed(
            &key,
            &chain_id,
            n as u64,
            txs::register(&merchant_key, &format!("Shop {seed}")),
        );
        let hash = net
            .rpc(n)
            .submit(&tx.to_bytes())?
            .map_err(|e| anyhow::anyhow!("submit: {e}"))?;
        let receipt = net.rpc(n).wait_committed(&hash, PROGRESS)?;
        ensure!(receipt["code"] == 0, "receipt: {receipt}");
        merchants.push(MerchantId::derive(&merchant_key));
    }

    // Twelve heights: the byzantine node is the round-0 proposer of every fourth one.
    let top = h0 + 12;
    net.wait_all(&HONEST, top + 1, PROGRESS)?;
    ensure!(
        net.nodes[BYZANTINE].is_running(),
        "the byzantine node itself crashed"
    );

    // It proposed, both kinds of invalid block, and every honest node refused them...
    let log = fs::read_to_string(net.nodes[BYZANTINE].log_path())?;
    let bad_txs: HashSet<String> = log
        .lines()
        .filter(|l| l.contains("proposing a block with a badly signed tx"))
        .filter_map(|l| l.split("tx=").nth(1))
        .map(|t| t.split_whitespace().next().unwrap_or_default().to_owned())
        .collect();
    let wrong_app_hash = log
        .lines()
        .filter(|l| l.contains("proposing a block with a wrong prev_app_hash"))
        .count();
    ensure!(
        !bad_txs.is_empty() && wrong_app_hash >= 1,
        "the byzantine node proposed {} badly signed and {wrong_app_hash} wrong-app-hash blocks",
        bad_txs.len()
    );
    for i in HONEST {
        let refused = invalid_proposals(&net, i)?;
        ensure!(
            refused >= 2,
            "node {i} refused only {refused} invalid proposals"
        );
    }

    // The garbage reached honest nodes and was dropped without a verdict (the invalid-proposal
    // counts above are the byzantine node's own proposals only, one per height it led), each
    // stream counted by reason. Refused at their init, before anything of them is buffered:
    // streams naming the round's proposer from another peer than the one the proposer's validator
    // proof names (the impersonations and replays), streams naming a validator that is not the
    // round's proposer, streams for a height far ahead, streams without an init.
    for i in HONEST {
        let dropped = |reason: &str| proposal_streams_dropped(&net, i, reason);
        let (peer, not_proposer, out_of_reach, no_init) = (
            dropped("not_proposers_peer")?,
            dropped("not_proposer")?,
            dropped("out_of_reach")?,
            dropped("no_init")?,
        );
        ensure!(
            peer >= 2 && not_proposer >= 2 && out_of_reach >= 2 && no_init >= 2,
            "node {i} dropped proposal streams: not_proposers_peer {peer}, not_proposer {not_proposer}, out_of_reach {out_of_reach}, no_init {no_init}"
        );
    }
    // (The count first: a proposal is logged before it can reach node 0.)
    let refused0 = invalid_proposals(&net, 0)?;
    let led = fs::read_to_string(net.nodes[BYZANTINE].log_path())?
        .lines()
        .filter(|l| l.contains("proposing a block with"))
        .count() as u64;
    ensure!(
        refused0 <= led,
        "node 0 counted {refused0} invalid proposals, the byzantine node made {led}"
    );

    // ... so no committed block is the byzantine node's, and its rounds were skipped.
    let mut later_rounds = 0;
    for h in 1..=top {
        let block = net.rpc(0).block(h)?.context("block")?;
        ensure!(
            block["header"]["proposer"].as_str() != Some(byzantine_hex.as_str()),
            "block {h} was proposed by the byzantine node: {block}"
        );
        for t in block["tx_hashes"].as_array().context("tx_hashes")? {
            let t = t.as_str().unwrap_or_default();
            ensure!(!bad_txs.contains(t), "block {h} holds the bad tx {t}");
        }
        let commit = net.rpc(0).call(method::COMMIT, json!([h]))?;
        if commit["round"].as_i64().unwrap_or(0) >= 1 {
            later_rounds += 1;
        }
    }
    ensure!(
        later_rounds >= 2,
        "only {later_rounds} heights needed a second round"
    );

    // No honest node's state holds the bad transaction or its effects.
    let bad_sender = SecretKey::from_seed(Hash::digest(b"paychain/test/byzantine/sender").0);
    let bad_merchant = MerchantId::derive(
        &SecretKey::from_seed(Hash::digest(b"paychain/test/byzantine/merchant").0).public_key(),
    );
    for i in HONEST {
        for t in &bad_txs {
            let status = net.rpc(i).tx(t)?;
            ensure!(
                status["status"] != "committed",
                "node {i} committed the bad tx: {status}"
            );
        }
        let view = net
            .rpc(i)
            .try_call(method::MERCHANT, json!([bad_merchant.as_str()]))?;
        ensure!(
            view.is_err(),
            "node {i} knows the byzantine merchant: {view:?}"
        );
        ensure!(
            net.rpc(i).nonce(&bad_sender.public_key())? == 0,
            "node {i} moved the byzantine sender's nonce"
        );
        for m in &merchants {
            let view = net.rpc(i).call(method::MERCHANT, json!([m.as_str()]))?;
            ensure!(view["merchant"]["id"] == m.as_str(), "node {i}: {view}");
        }
    }
    assert_same_chain(&mut net, &HONEST, 1..=top)?;
    Ok(())
}

/// Node 3 runs `PAYCHAIN_TEST_BYZANTINE=unknown-sender`: as proposer it puts into every block a
/// validly signed wallet payment from a fresh key the chain does not know (the door would never
/// admit it; a proposer can still propose it). The block is valid, so it is decided; every validator
/// refuses that transaction in execution with receipt code 3 "sender X is not known to this chain"
/// and writes nothing: no fork, the same app hash on all four, the key has no nonce, and honest
/// transactions commit alongside.
#[test]
fn n4_a_proposed_transaction_from_an_unknown_sender_is_refused_in_execution_and_writes_nothing(
) -> Result<()> {
    let env = |k: &str, v: &str| (BYZANTINE, k.to_owned(), v.to_owned());
    let mut net = Testnet::start_with(
        4,
        Options {
            env: vec![
                env("PAYCHAIN_TEST_FAULTS", "enable"),
                env("PAYCHAIN_TEST_BYZANTINE", "unknown-sender"),
            ],
            ..Options::default()
        },
    )?;
    net.wait_all(&[0, 1, 2, 3], 2, PROGRESS)?;
    let rpc = net.rpc(0);
    let chain_id = rpc.status()?["chain_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // Find a decided block holding the stranger's transaction (node 3 proposes about one in four).
    let deadline = std::time::Instant::now() + PROGRESS;
    let mut h = 1;
    let (height, sender) = loop {
        ensure!(
            std::time::Instant::now() < deadline,
            "no block with an unknown sender's tx up to height {h}"
        );
        if h > net.height(0)? {
            std::thread::sleep(std::time::Duration::from_millis(100));
            continue;
        }
        let block = net.rpc(0).block(h)?.context("block")?;
        let found = block["receipts"].as_array().and_then(|rs| {
            rs.iter().find_map(|r| {
                let msg = r["error"].as_str()?;
                let rest = msg.strip_prefix("sender ")?;
                let (sender, why) = rest.split_once(' ')?;
                (r["code"] == 3 && why.starts_with("is not known to this chain: "))
                    .then(|| sender.to_owned())
            })
        });
        if let Some(sender) = found {
            break (h, sender);
        }
        h += 1;
    };
    // An honest transaction commits after it.
    let p0 = net.platform_key(0)?;
    let tx = txs::signed(
        &p0,
        &chain_id,
        rpc.nonce(&p0.public_key())?,
        txs::register(&txs::merchant_key(93), "Honest After"),
    );
    let hash = rpc
        .submit(&tx.to_bytes())?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let r = rpc.wait_committed(&hash, PROGRESS)?;
    ensure!(r["code"] == 0, "{r}");
    let last = net.height(0)?.max(height + 1);
    net.wait_all(&[0, 1, 2, 3], last, PROGRESS)?;
    assert_same_chain(&mut net, &[0, 1, 2, 3], 1..=last)?;
    for i in 0..4 {
        let a = net.rpc(i).call(method::ACCOUNT, json!([sender.as_str()]))?;
        ensure!(a["nonce"] == 0, "node {i}: the stranger has a nonce: {a}");
    }
    eprintln!("block {height}: the unknown sender {sender}'s payment refused (code 3), nothing written; honest tx committed");
    Ok(())
}
