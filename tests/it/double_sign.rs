//! Double signing: validator 3's key runs on two nodes at once (node 3 and a fifth node, its
//! "twin", as an operator who starts a standby without stopping the primary). When validator 3
//! proposes, both build and sign a proposal and each votes for its own: two conflicting signed
//! messages for one height, round and step. The chain keeps safety (one block per height on all
//! five nodes, equal app hashes), honest transactions keep committing exactly once, and the honest
//! nodes record the evidence: a warning naming validator 3, `paychain_equivocations_total`, and the
//! two signed messages of each pair in their storage (`paychain-node evidence`), which anyone can
//! check offline against validator 3's key (`paychain-node verify-evidence`).
//!
//! Deterministic: both hosts run the test-only `equivocate` mode and no minimum block time (see
//! [`DOUBLE_SIGNER_ENV`] for why two plain hosts sign conflicting messages only by chance), so in
//! each of validator 3's turns both build, sign and vote for a block of their own before anyone
//! has decided. Production code does its part: a node re-proposes only a proposal it built itself
//! (`host::PendingProposal::built_here`), never one received with its own key.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use paychain_tests::{load_key, Options, Testnet};

use crate::honest::{exactly_once, HonestLoad};
use crate::{assert_same_chain, PROGRESS};

const HONEST: [usize; 3] = [0, 1, 2];
const DOUBLE: usize = 3;

/// The test-only switches validator `of`'s two hosts run with: each builds and signs a block of
/// its own in every one of the validator's turns (`equivocate`: a proposal made with the key by
/// the other host waits until this one has proposed its own, then goes to consensus like any
/// other, so both stay live), and the twin has a libp2p identity of its own.
///
/// Why not just two hosts with one key, as an operator would start them: the pair then signs
/// conflicting messages only by chance. The engine adopts (and votes for) whichever proposal of
/// the validator reaches it first, so a host that receives the other's before building its own
/// signs the same block; and a host that catches up a fraction of a height behind the others
/// stays at that phase (every height waits out its block time from its own start), so its own
/// proposals, when it makes them, arrive after the others have decided. Measured: evidence after
/// anything from 1 s to over 80 s.
pub(crate) const DOUBLE_SIGNER_ENV: [(&str, &str); 2] = [
    ("PAYCHAIN_TEST_FAULTS", "enable"),
    ("PAYCHAIN_TEST_BYZANTINE", "equivocate"),
];

/// Starts the twin of validator `of` (whose node must run with [`DOUBLE_SIGNER_ENV`] and
/// `consensus.block_time_ms = 0`): the same key, `equivocate`, a libp2p identity of its own (with
/// the same key file both would share one peer id, each honest node would talk to only one of
/// them), no minimum block time (both hosts start each height as soon as they have decided the
/// last, ahead of the others, so both propose in the validator's turns before anyone has decided),
/// and a host clock 700 ms off (two hosts' clocks differ), so its blocks differ from the other
/// host's even when their mempools hold the same transactions.
pub(crate) fn add_twin(net: &mut Testnet, of: usize) -> Result<usize> {
    net.add_twin(
        of,
        &[
            DOUBLE_SIGNER_ENV[0],
            ("PAYCHAIN_TEST_BYZANTINE", "equivocate,own-peer-id"),
            ("PAYCHAIN_TEST_CLOCK_OFFSET_MS", "700"),
        ],
        &[("consensus.block_time_ms", "0")],
    )
}

/// `paychain_equivocations_total` (every kind) in node `i`'s `/metrics`.
pub(crate) fn equivocations(net: &Testnet, i: usize) -> Result<u64> {
    let (status, text) = net.rpc(i).http("GET", "/metrics", None)?;
    ensure!(status == 200, "node {i} /metrics: HTTP {status}");
    Ok(text
        .lines()
        .filter(|l| l.starts_with("paychain_equivocations_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64)
}

#[test]
fn n4f1_same_validator_key_on_two_nodes_no_fork_evidence_recorded() -> Result<()> {
    // Both of validator 3's hosts run with the test-only `equivocate` mode and no minimum block
    // time (see [`DOUBLE_SIGNER_ENV`] and [`add_twin`]).
    let mut net = Testnet::start_with(
        4,
        Options {
            env: DOUBLE_SIGNER_ENV
                .iter()
                .map(|(k, v)| (DOUBLE, k.to_string(), v.to_string()))
                .collect(),
            config: vec![(DOUBLE, "consensus.block_time_ms".into(), "0".into())],
            ..Options::default()
        },
    )?;
    net.wait_all(&[0, 1, 2, 3], 2, PROGRESS)?;
    let twin = add_twin(&mut net, DOUBLE)?;
    // The twin starts from genesis: the clock starts once it has caught up (by value sync).
    let joined = Instant::now();
    let live = net.height(0)? + 1;
    net.wait_height(twin, live, PROGRESS)?;
    let caught_up = joined.elapsed();
    let validator = load_key(&net.nodes[DOUBLE].home.join("keys").join("validator.json"))?
        .public_key()
        .to_hex();
    let chain = net.rpc(0).status()?["chain_id"]
        .as_str()
        .context("chain id")?
        .to_owned();
    let load = HonestLoad::start_n(&net, 4)?;
    let start = Instant::now();
    let h_start = net.height(0)?;

    // Validator 3 proposes in its turn (one height in four); both of its hosts build and sign a
    // block of their own, so the honest nodes see two proposals and conflicting votes by it at
    // the first such height both reach in time. Wait for the evidence.
    let deadline = start + PROGRESS;
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
            PROGRESS,
            HONEST.map(|i| net.height(i).ok())
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let found = start.elapsed();
    let h = net.height(0)?;
    let heights_to_evidence = h.saturating_sub(h_start);
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
    let out = Command::new(paychain_tests::bin("paychain-node"))
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
    let kinds: Vec<&str> = stored.iter().filter_map(|e| e["kind"].as_str()).collect();

    // Checkable by anyone, offline: the node's own check against its genesis (a validator of the
    // chain signed both messages), and the bare lines checked by the standalone verifier with
    // only the chain id.
    let out = Command::new(paychain_tests::bin("paychain-node"))
        .args(["evidence", "--verify", "--home"])
        .arg(&net.nodes[witness].home)
        .output()?;
    ensure!(
        out.status.success(),
        "paychain-node evidence --verify: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let e: serde_json::Value = serde_json::from_str(line)?;
        ensure!(
            e["verified"] == true && e["member"] == true,
            "stored evidence does not verify against validator 3's key: {e}"
        );
    }
    let lines: Vec<String> = stored.iter().map(|e| e.to_string()).collect();
    let (ok, verdicts) = verify_offline(&chain, &lines)?;
    ensure!(
        ok && verdicts.iter().all(|v| v == "ok") && verdicts.len() == lines.len(),
        "verify-evidence on chain {chain}: {verdicts:?}"
    );
    // Played as a hostile node framing validator 3: the same pair with the second value changed,
    // or checked as if signed on another chain, proves nothing.
    let mut forged = stored[0].clone();
    forged["second"]["value"] = serde_json::json!(hex::encode([0x42u8; 32]));
    let (ok, verdicts) = verify_offline(&chain, &[forged.to_string()])?;
    ensure!(
        !ok && verdicts.first().is_some_and(|v| v.starts_with("refuted")),
        "a forged pair verified: {verdicts:?}"
    );
    let (ok, _) = verify_offline("paychain-elsewhere", &lines[..1])?;
    ensure!(!ok, "evidence verified on another chain");
    // Against the chain's genesis the pairs also name a key of its validator set; against a
    // genesis without validator 3 (a key nobody appointed signs "conflicts" at will) they prove
    // nothing.
    let genesis = net.nodes[0].home.join("genesis.json");
    let (ok, verdicts) = verify_offline_args(&["--genesis", &genesis.to_string_lossy()], &lines)?;
    ensure!(
        ok && verdicts.iter().all(|v| v == "ok"),
        "verify-evidence --genesis: {verdicts:?}"
    );
    let mut g: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&genesis)?)?;
    g["validators"]
        .as_array_mut()
        .context("genesis validators")?
        .retain(|v| v["public_key"] != validator.as_str());
    let without = net.nodes[0].home.join("genesis-without-3.json");
    std::fs::write(&without, g.to_string())?;
    let (ok, verdicts) =
        verify_offline_args(&["--genesis", &without.to_string_lossy()], &lines[..1])?;
    ensure!(
        !ok && verdicts
            .first()
            .is_some_and(|v| v.contains("not a key of the genesis validator set")),
        "a pair of a key outside the validator set verified: {verdicts:?}"
    );

    eprintln!(
        "FIGURES double signing: twin caught up in {caught_up:?}; evidence after {found:?} ({heights_to_evidence} heights) at nodes {seen_by:?}, counts {counts:?}, {} stored at node {witness} ({kinds:?}), all verified offline; honest {during}; heights to {top}, no fork",
        stored.len()
    );
    Ok(())
}

/// Pipes `lines` into `paychain-node verify-evidence --chain-id chain`: whether it succeeded, and
/// its verdict per line.
fn verify_offline(chain: &str, lines: &[String]) -> Result<(bool, Vec<String>)> {
    verify_offline_args(&["--chain-id", chain], lines)
}

/// [`verify_offline`] with the arguments `args`.
fn verify_offline_args(args: &[&str], lines: &[String]) -> Result<(bool, Vec<String>)> {
    let mut child = Command::new(paychain_tests::bin("paychain-node"))
        .arg("verify-evidence")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    {
        let mut stdin = child.stdin.take().context("stdin")?;
        for l in lines {
            writeln!(stdin, "{l}")?;
        }
    }
    let out = child.wait_with_output()?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect(),
    ))
}
