//! Fault injection under load: validators killed with SIGKILL at changing moments while clients
//! keep committing transactions.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use paychain_contracts::crypto::{Hash, SecretKey};
use paychain_contracts::ids::MerchantId;
use paychain_tests::{txs, Testnet};
use serde_json::json;

use crate::{assert_same_chain, PROGRESS};

/// Kill-and-restart cycles (the long profile runs more through `FAULT_CYCLES`).
fn cycles() -> usize {
    std::env::var("FAULT_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
}

/// A client that commits registrations through whichever nodes are up, resubmitting the same
/// signed bytes elsewhere when a node dies (so a tx is never signed twice with two meanings).
struct Client {
    key: SecretKey,
    chain_id: String,
    nonce: u64,
    seq: u64,
    /// tx hash → height its commit was acknowledged at.
    acked: HashMap<String, u64>,
}

impl Client {
    fn commit_one(&mut self, net: &Testnet, live: &[usize]) -> Result<()> {
        let seed = Hash::digest(format!("faults/{}", self.seq).as_bytes());
        self.seq += 1;
        let merchant = SecretKey::from_seed(seed.0).public_key();
        let tx = txs::signed(
            &self.key,
            &self.chain_id,
            self.nonce,
            txs::register(&merchant, &format!("Shop {}", self.seq)),
        );
        let hash = tx.hash().to_hex();
        let deadline = Instant::now() + PROGRESS;
        let mut attempt = 0usize;
        loop {
            ensure!(Instant::now() < deadline, "tx {hash} not committed in time");
            let via = live[attempt % live.len()];
            attempt += 1;
            match net.rpc(via).submit(&tx.to_bytes()) {
                Ok(Ok(_)) => {}
                // Already pending or already committed (a replay of these very bytes): follow it.
                Ok(Err(e))
                    if e.message.contains("already pending") || e.message.contains("nonce") => {}
                Ok(Err(e)) => bail!("node {via} refused tx {hash}: {}", e.message),
                Err(_) => continue, // node unreachable: try another
            }
            if let Ok(receipt) = net.rpc(via).wait_committed(&hash, Duration::from_secs(8)) {
                ensure!(receipt["code"] == 0, "receipt {receipt}");
                let height = receipt["height"].as_u64().context("receipt height")?;
                self.acked.insert(hash, height);
                self.nonce += 1;
                return Ok(());
            }
        }
    }
}

#[test]
fn n4f1_kill9_cycles_under_load_every_acknowledged_tx_committed_exactly_once() -> Result<()> {
    let mut net = Testnet::start(4)?;
    net.wait_all(&[0, 1, 2, 3], 2, PROGRESS)?;
    let chain_id = net.rpc(0).status()?["chain_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut client = Client {
        key: net.platform_key(0)?,
        chain_id,
        nonce: 0,
        seq: 0,
        acked: HashMap::new(),
    };
    for cycle in 0..cycles() {
        // A different validator each cycle, killed at a different point of the load.
        let victim = (cycle * 3 + 1) % 4;
        let live: Vec<usize> = (0..4).filter(|i| *i != victim).collect();
        for _ in 0..(cycle % 3) {
            client.commit_one(&net, &[0, 1, 2, 3])?;
        }
        net.kill_9(victim);
        for _ in 0..2 {
            client.commit_one(&net, &live)?;
        }
        let h = net.height(live[0])?;
        net.wait_all(&live, h + 1, PROGRESS)?;
        net.restart(victim)?;
        let target = net.height(live[0])?;
        net.wait_height(victim, target, PROGRESS)
            .with_context(|| format!("cycle {cycle}: node {victim} did not catch up"))?;
    }

    // Everyone agrees on every block up to a common height.
    let top = (0..4)
        .map(|i| net.height(i))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .min()
        .unwrap_or(0);
    assert_same_chain(&mut net, &[0, 1, 2, 3], 1..=top)?;

    // Every acknowledged commit is in the chain exactly once, at the acknowledged height.
    let mut seen: HashMap<String, Vec<u64>> = HashMap::new();
    for h in 1..=top {
        let block = net.rpc(0).block(h)?.context("block")?;
        for t in block["tx_hashes"].as_array().context("tx_hashes")? {
            seen.entry(t.as_str().unwrap_or_default().to_owned())
                .or_default()
                .push(h);
        }
    }
    for (hash, height) in &client.acked {
        let at = seen.get(hash).cloned().unwrap_or_default();
        ensure!(
            at == vec![*height],
            "tx {hash} acknowledged at {height} appears at heights {at:?}"
        );
    }
    ensure!(
        client.acked.len() >= 2 * cycles(),
        "too few commits: {}",
        client.acked.len()
    );
    // And the state says so too: the account's nonce counts exactly the acknowledged txs.
    let nonce = net.rpc(0).nonce(&client.key.public_key())?;
    ensure!(
        nonce == client.acked.len() as u64,
        "nonce {nonce} vs {} commits",
        client.acked.len()
    );
    let any = MerchantId::derive(&SecretKey::from_seed(Hash::digest(b"faults/0").0).public_key());
    let view = net
        .rpc(3)
        .call("paychain_merchant", json!([any.as_str()]))?;
    ensure!(view["merchant"]["id"] == any.as_str(), "{view}");
    Ok(())
}
