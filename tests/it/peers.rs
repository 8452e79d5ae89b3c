//! Bounded peers: only the consortium's nodes (their peer ids in `[gossip] allowed_peers`) may
//! connect to transaction gossip, and
//! a listed node that gossips garbage or badly signed transactions is disconnected and refused
//! from then on; every refusal is counted in `/metrics`.
//!
//! The stranger is a real `paychain-node` (a full node the validators do not list) that dials
//! every validator's consensus and gossip ports; the misbehaving peer is validator 3 with the test-only
//! `garbage` switch (it gossips undecodable and badly signed transactions every few hundred ms).

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use paychain_tests::{txs, Options, Testnet};

use crate::honest::{exactly_once, HonestLoad};
use crate::PROGRESS;

const HONEST: [usize; 3] = [0, 1, 2];
const GARBAGE: usize = 3;

/// The sum of `paychain_<name>` samples (with `labels`) in node `i`'s `/metrics`.
fn metric(net: &Testnet, i: usize, name: &str, labels: &str) -> Result<u64> {
    let (status, text) = net.rpc(i).http("GET", "/metrics", None)?;
    ensure!(status == 200, "node {i} /metrics: HTTP {status}");
    let prefix = format!("paychain_{name}");
    Ok(text
        .lines()
        .filter(|l| l.starts_with(&prefix) && l.contains(labels))
        .filter(|l| l[prefix.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64)
}

/// Polls until `ok` holds, failing with `what` at the deadline.
fn wait_until(what: &str, mut ok: impl FnMut() -> Result<bool>) -> Result<Duration> {
    let start = Instant::now();
    while !ok()? {
        ensure!(
            start.elapsed() < PROGRESS,
            "{what}: not within {PROGRESS:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(start.elapsed())
}

#[test]
fn n4_gossip_only_from_allowed_peers_stranger_refused_garbage_peer_dropped() -> Result<()> {
    let env = |k: &str, v: &str| (GARBAGE, k.to_owned(), v.to_owned());
    let mut net = Testnet::start_with(
        4,
        Options {
            allow_list: true,
            env: vec![
                env("PAYCHAIN_TEST_FAULTS", "enable"),
                env("PAYCHAIN_TEST_BYZANTINE", "garbage"),
            ],
            ..Options::default()
        },
    )?;
    net.wait_all(&[0, 1, 2, 3], 2, PROGRESS)?;

    // The garbage peer is dropped by every honest node, its rejected transactions counted by
    // kind; the honest nodes keep gossiping among themselves (two peers each).
    for i in HONEST {
        let took = wait_until(&format!("node {i} drops the garbage peer"), || {
            Ok(metric(&net, i, "gossip_peers_dropped_total", "")? >= 1)
        })?;
        eprintln!("node {i} dropped the garbage peer after {took:?}");
    }
    let undecodable = metric(
        &net,
        0,
        "gossip_rejected_txs_total",
        "reason=\"undecodable\"",
    )?;
    let bad_sig = metric(
        &net,
        0,
        "gossip_rejected_txs_total",
        "reason=\"bad_signature\"",
    )?;
    ensure!(
        undecodable > 0 && bad_sig > 0,
        "node 0 counted {undecodable} undecodable and {bad_sig} badly signed gossip transactions"
    );

    // A stranger (a node nobody lists) dials every validator's gossip port and is refused.
    let stranger = net.add_full_node()?;
    for i in HONEST {
        wait_until(&format!("node {i} refuses the stranger's gossip"), || {
            Ok(metric(&net, i, "gossip_refused_connections_total", "")? >= 1)
        })?;
    }
    for i in HONEST {
        wait_until(&format!("node {i} keeps only the two honest peers"), || {
            Ok(net.rpc(i).status()?["peers"] == 2)
        })?;
    }
    ensure!(
        net.rpc(stranger).status()?["peers"] == 0,
        "the stranger holds gossip connections: {}",
        net.rpc(stranger).status()?
    );

    // What the stranger admits goes nowhere: the chain moves on without it.
    let chain = net.rpc(0).status()?["chain_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let key = net.platform_key(0)?;
    let tx = txs::signed(
        &key,
        &chain,
        net.rpc(0).nonce(&key.public_key())?,
        txs::register(&txs::merchant_key(91), "Via stranger"),
    );
    let hash = net
        .rpc(stranger)
        .submit(&tx.to_bytes())?
        .map_err(|e| anyhow::anyhow!("the stranger's own RPC refused the tx: {e}"))?;
    let h = net.height(0)?;
    net.wait_all(&HONEST, h + 3, PROGRESS)?;
    for i in HONEST {
        let t = net.rpc(i).tx(&hash)?;
        ensure!(
            t["status"] != "pending" && t["status"] != "committed",
            "node {i} got the stranger's gossip: {t}"
        );
    }

    // Honest transactions keep committing through every honest node.
    let load = HonestLoad::start_n(&net, 3)?;
    let t = Instant::now();
    load.wait_more(9, PROGRESS)?;
    let during = load.figures(t, Instant::now());
    // The key of the stranger's tx is platform-0's: it never got in, so nonces count only the load.
    let (acked, keys) = load.stop()?;
    exactly_once(&net, &HONEST, &acked, &keys)?;
    eprintln!(
        "FIGURES bounded gossip peers: garbage peer dropped, {undecodable} undecodable + {bad_sig} badly signed txs counted at node 0; stranger refused (consensus and gossip, height 0); honest {during}"
    );
    Ok(())
}
