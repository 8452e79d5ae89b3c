//! Double signing: validator 3's key runs on two nodes at once (node 3 and a fifth node, its
//! "twin", as an operator who starts a standby without stopping the primary). When validator 3
//! proposes, both build and sign a proposal and each votes for its own: two conflicting signed
//! messages for one height, round and step. The chain keeps safety (one block per height on all
//! five nodes, equal app hashes), honest transactions keep committing exactly once, and the honest
//! nodes record the evidence: a warning naming validator 3, `paychain_equivocations_total`, and the
//! two signed messages of each pair in their storage (`paychain-node evidence`).

use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use paychain_tests::{load_key, Testnet};

use crate::honest::{exactly_once, HonestLoad};
use crate::{assert_same_chain, PROGRESS};

const HONEST: [usize; 3] = [0, 1, 2];
const DOUBLE: usize = 3;

/// `paychain_equivocations_total` (every kind) in node `i`'s `/metrics`.
fn equivocations(net: &Testnet, i: usize) -> Result<u64> {
    let (status, text) = net.rpc(i).http("GET", "/metrics", None)?;
    ensure!(status == 200, "node {i} /metrics: HTTP {status}");
    Ok(text
        .lines()
        .filter(|l| l.starts_with("paychain_equivocations_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64)
}

// The evidence appears only when the twin builds its own proposal before node 3's reaches it, a race
// it wins every few seconds on a loaded machine and that it lost for 80 s (781 heights) in one full
// suite run: until the twin has a deterministic trigger, CI skips it. Run it with
// `scripts/test.sh -p paychain-tests -- --ignored double_sign`.
#[test]
#[ignore = "racy: evidence needs the twin to win a proposal race; run with --ignored"]
fn n4f1_same_validator_key_on_two_nodes_no_fork_evidence_recorded() -> Result<()> {
    let mut net = Testnet::start(4)?;
    net.wait_all(&[0, 1, 2, 3], 2, PROGRESS)?;
    // The twin runs with a libp2p identity of its own (test-only switch): with the same key file
    // both would share one peer id, each honest node would talk to only one of them, and the
    // other would fall behind and never sign at the live height. Its host clock is 700 ms off
    // (two hosts' clocks differ), so its block times, and so its proposals, differ from node 3's
    // even when their mempools hold the same transactions.
    let twin = net.add_twin(
        DOUBLE,
        &[
            ("PAYCHAIN_TEST_FAULTS", "enable"),
            ("PAYCHAIN_TEST_BYZANTINE", "own-peer-id"),
            ("PAYCHAIN_TEST_CLOCK_OFFSET_MS", "700"),
        ],
    )?;
    let validator = load_key(&net.nodes[DOUBLE].home.join("keys").join("validator.json"))?
        .public_key()
        .to_hex();
    let load = HonestLoad::start_n(&net, 4)?;
    let start = Instant::now();

    // Validator 3 proposes in its turn; with two signers for it, the honest nodes see two
    // proposals and conflicting votes (in the turns where the twin builds its own block before
    // node 3's proposal reaches it: a race, won every few seconds). Wait for the evidence.
    let deadline = start + 2 * PROGRESS;
    let seen_by = loop {
        let mut seen = Vec::new();
        for i in HONEST {
            if equivocations(&net, i)? > 0 {
                seen.push(i);
            }
        }
        if !seen.is_empty() {
            break seen;
        }
        ensure!(
            Instant::now() < deadline,
            "no honest node recorded an equivocation within {:?} (heights {:?})",
            2 * PROGRESS,
            HONEST.map(|i| net.height(i).ok())
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let found = start.elapsed();
    let h = net.height(0)?;
    load.wait_more(8, PROGRESS)?;
    net.wait_all(&[0, 1, 2, 3, twin], h + 3, PROGRESS)?;
    let during = load.figures(start, Instant::now());

    for &i in &seen_by {
        let log = std::fs::read_to_string(net.nodes[i].log_path())?;
        let line = log
            .lines()
            .find(|l| l.contains("equivocation: a validator signed two conflicting"))
            .with_context(|| format!("node {i} counted an equivocation but logged none"))?;
        ensure!(
            line.contains(&validator),
            "node {i}'s evidence names another validator than {validator}: {line}"
        );
    }

    let (acked, keys) = load.stop()?;
    let top = net.height(0)?;
    net.wait_all(&[0, 1, 2, 3, twin], top, PROGRESS)?;
    // Safety: one chain on all five nodes, the twin included.
    assert_same_chain(&mut net, &[0, 1, 2, 3, twin], 1..=top)?;
    exactly_once(&net, &HONEST, &acked, &keys)?;
    let counts: Vec<u64> = HONEST
        .iter()
        .map(|&i| equivocations(&net, i))
        .collect::<Result<_>>()?;
    // The evidence is kept: a node that saw it, stopped, lists the pairs it stored, each naming
    // validator 3 with two different values and a signature for each.
    let witness = seen_by[0];
    net.kill_9(witness);
    let out = std::process::Command::new(paychain_tests::bin("paychain-node"))
        .args(["evidence", "--home"])
        .arg(&net.nodes[witness].home)
        .output()?;
    ensure!(
        out.status.success(),
        "paychain-node evidence: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stored: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    ensure!(!stored.is_empty(), "node {witness} stored no evidence");
    for e in &stored {
        ensure!(
            e["validator"] == validator.as_str()
                && e["first"]["value"] != e["second"]["value"]
                && e["first"]["signature"].as_str().map(str::len) == Some(128)
                && e["second"]["signature"].as_str().map(str::len) == Some(128),
            "stored evidence: {e}"
        );
    }

    eprintln!(
        "FIGURES double signing: evidence after {found:?} at nodes {seen_by:?}, counts {counts:?}, {} stored at node {witness}; honest {during}; heights to {top}, no fork",
        stored.len()
    );
    Ok(())
}
