//! The attack and fault figures of issue 18: a benchmark, not a test (`#[ignore]`d; run by
//! `scripts/bench.sh --only faults`, or directly with
//! `cargo test -p paychain-tests --test it -- --ignored --nocapture figures::`).
//!
//! One 4-validator network with every node-to-node link through the harness proxy. Honest payers
//! (platform-0's verified users with funded wallets, see [`crate::honest`]) pay a merchant 0.01
//! CNY at a time, closed loop, while each attack or fault runs for [`window`]; for each scenario
//! the run prints one JSON line (`FIGURE {...}`, also appended to `$FIGURES_OUT` when set): the
//! honest payments committed per second and their p99 latency (submission → committed) of the
//! payments submitted in the window, the same as ratios to a baseline measured in the same run with
//! the same routing (the machine is shared and noisy), and for faults the time to recover after
//! the fault ends (every node at the height the chain had then, plus two heights decided with all
//! four).
//!
//! Attacks hit node 0 from other loopback addresses (127.0.0.2, ...), and the honest payers submit
//! through node 0 too; faults hit node 3 (or all nodes), and the payers submit through nodes 0-2.
//! Attackers run on the same 2 cores as the nodes, so every attack also costs the nodes CPU a real
//! attacker would spend on its own machines. `FIGURES_ONLY=a,b` runs only the scenarios named
//! (the two baselines, `baseline_attacks` and `baseline_faults`, always run); `FIGURES_WINDOW_SECS` sets the window (default 8).

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Context, Result};
use paychain_api::method;
use paychain_contracts::crypto::{Hash, SecretKey};
use paychain_contracts::ids::MerchantId;
use paychain_tests::{txs, Options, Testnet};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::abuse::{self, wire, GarbageAnswer};
use crate::disk::{self, Tmpfs};
use crate::double_sign;
use crate::honest::{self, Figures, HonestLoad, Payer, Shop};
use crate::netfaults::{highest, recovery, recovery_within};
use crate::PROGRESS;

const ALL4: [usize; 4] = [0, 1, 2, 3];
/// Honest payers (closed loop each: within one address's default call rate while polling).
const PAYERS: usize = 6;
/// Known senders (users of platform-0) the gap-nonce and bad-signature floods sign with.
const FLOODERS: usize = 20;
/// Node 0's pool bound (`[mempool] max_txs`): below what the gap-nonce flooders send.
const POOL: usize = 600;
/// Node of the faults on one validator.
const VICTIM: usize = 3;

/// How long each attack or fault lasts (`FIGURES_WINDOW_SECS`, default 8 s).
fn window() -> Duration {
    let secs = std::env::var("FIGURES_WINDOW_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8u64);
    Duration::from_secs(secs)
}

/// What a scenario's action reports: its window, the recovery after it, what happened.
struct Outcome {
    from: Instant,
    to: Instant,
    recover: Option<Duration>,
    note: String,
}

/// Attacker threads, stopped together; each returns its counts.
struct Attack {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Result<BTreeMap<String, u64>>>>,
}

impl Attack {
    /// `n` threads running `f(thread index, stop)`.
    fn spawn<F>(n: usize, f: F) -> Attack
    where
        F: Fn(usize, &AtomicBool) -> Result<BTreeMap<String, u64>> + Send + Sync + 'static,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let f = Arc::new(f);
        let threads = (0..n)
            .map(|k| {
                let (stop, f) = (stop.clone(), f.clone());
                std::thread::spawn(move || f(k, &stop))
            })
            .collect();
        Attack { stop, threads }
    }

    /// Stops the attackers; the sum of their counts, as text.
    fn end(self) -> Result<String> {
        self.stop.store(true, Ordering::SeqCst);
        let mut total: BTreeMap<String, u64> = BTreeMap::new();
        for t in self.threads {
            let counts = t.join().map_err(|_| anyhow!("an attacker panicked"))??;
            for (k, v) in counts {
                *total.entry(k).or_default() += v;
            }
        }
        Ok(total
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "))
    }
}

fn bump(counts: &mut BTreeMap<String, u64>, what: impl Into<String>) {
    *counts.entry(what.into()).or_default() += 1;
}

/// Posts `txs` (hex) in one `paychain_submitTxs` from `from` and counts the answers by outcome.
fn submit_from(
    from: [u8; 4],
    port: u16,
    batch: &[String],
    counts: &mut BTreeMap<String, u64>,
) -> Result<()> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method::SUBMIT_TXS, "params": [batch]})
        .to_string();
    let (status, _, body) = wire::post_from(from, port, &body)?;
    if status == 429 {
        bump(counts, "batches rate limited (429)");
        return Ok(());
    }
    let v: Value = serde_json::from_str(&body).with_context(|| format!("{body:.200}"))?;
    let Some(answers) = v["result"].as_array() else {
        bump(counts, format!("batches refused ({})", v["error"]["code"]));
        return Ok(());
    };
    for a in answers {
        if a.get("tx_hash").is_some() {
            bump(counts, "admitted");
        } else if a["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("mempool is full"))
        {
            bump(counts, "refused: pool full");
        } else {
            let code = a["error"]["code"].as_i64().unwrap_or(0);
            bump(counts, format!("refused {code} {}", code_name(code)));
        }
    }
    Ok(())
}

/// What node `rpc`'s `/metrics` says of its gossip connections.
struct GossipMetrics {
    handshakes: u64,
    established: u64,
    refused_per_source: u64,
    timed_out: u64,
}

fn gossip_metrics(rpc: &paychain_tests::Rpc) -> Result<GossipMetrics> {
    let (status, text) = rpc.http("GET", "/metrics", None)?;
    ensure!(status == 200, "/metrics: HTTP {status}");
    let sum = |name: &str, labels: &str| -> u64 {
        text.lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
            .filter(|l| l.contains(labels))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    };
    Ok(GossipMetrics {
        handshakes: sum("paychain_gossip_connections", "state=\"handshake\""),
        established: sum("paychain_gossip_connections", "state=\"established\""),
        refused_per_source: sum(
            "paychain_gossip_connections_refused_total",
            "reason=\"per_source\"",
        ),
        timed_out: sum(
            "paychain_gossip_handshakes_failed_total",
            "reason=\"timeout\"",
        ),
    })
}

/// Short names of the submission refusals (`paychain_api::ErrorCode`).
fn code_name(code: i64) -> &'static str {
    match code {
        1001 => "too large",
        1002 => "undecodable",
        1003 => "invalid (bad signature)",
        1004 => "stale nonce",
        1005 => "nonce too high",
        1006 => "nonce taken",
        1007 => "duplicate",
        1008 => "sender full",
        1009 => "pool full",
        1010 => "busy",
        1011 => "unknown sender",
        1012 => "slowed down",
        _ => "",
    }
}

/// The run: the network, the payers, the baselines per routing.
struct Run {
    net: Testnet,
    chain: String,
    shop: Shop,
    payers: Vec<Payer>,
    flooders: Vec<SecretKey>,
    baselines: BTreeMap<String, Figures>,
    only: Option<Vec<String>>,
    out: Option<std::path::PathBuf>,
    failed: Vec<String>,
}

fn routing(through: &[usize]) -> String {
    match through {
        [one] => format!("node {one}"),
        many => format!(
            "nodes {}",
            many.iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

fn ratio(a: f64, b: f64) -> Value {
    if b > 0.0 {
        json!((a / b * 100.0).round() / 100.0)
    } else {
        Value::Null
    }
}

impl Run {
    fn wanted(&self, name: &str) -> bool {
        name.starts_with("baseline_")
            || self
                .only
                .as_ref()
                .is_none_or(|o| o.iter().any(|n| n == name))
    }

    /// Runs one scenario under the honest load through `through`, prints its row.
    fn scenario(
        &mut self,
        name: &str,
        kind: &str,
        through: &[usize],
        what: &str,
        act: impl FnOnce(&mut Testnet, &HonestLoad) -> Result<Outcome>,
    ) -> Result<()> {
        if !self.wanted(name) {
            return Ok(());
        }
        eprintln!("figures: {name}: {what}");
        let load = HonestLoad::start_payments(&self.net, &self.shop, &self.payers, through)?;
        load.wait_more(2, PROGRESS)
            .with_context(|| format!("{name}: no honest payment before the scenario"))?;
        let h0 = highest(&self.net, &[through[0]])?;
        let outcome = act(&mut self.net, &load);
        let refused = load.refusals();
        let stopped = load.stop();
        let (outcome, acked) = match (outcome, stopped) {
            (Ok(o), Ok((acked, _))) => (o, acked),
            (Err(e), _) | (_, Err(e)) => {
                let msg = format!("{name}: {e:#}");
                eprintln!("figures: FAILED {msg}");
                self.emit(json!({"scenario": name, "kind": kind, "what": what, "error": msg}))?;
                self.failed.push(msg);
                return Ok(());
            }
        };
        let h1 = highest(&self.net, &[through[0]])?;
        let f = honest::figures(&acked, outcome.from, outcome.to);
        let secs = outcome.to.duration_since(outcome.from).as_secs_f64();
        let route = routing(through);
        if kind == "fault_baseline" {
            self.baselines.insert(route.clone(), f);
        }
        let base = self.baselines.get(&route).copied();
        self.emit(json!({
            "scenario": name,
            "kind": kind,
            "what": what,
            "honest_through": route,
            "window_s": (secs * 10.0).round() / 10.0,
            "honest_tx_per_s": (f.per_sec * 10.0).round() / 10.0,
            "p99_ms": f.p99_ms,
            "payments": f.count,
            "honest_refusals_waited_out": refused,
            "baseline_tx_per_s": base.map(|b| (b.per_sec * 10.0).round() / 10.0),
            "baseline_p99_ms": base.map(|b| b.p99_ms),
            "tx_per_s_ratio": base.map_or(Value::Null, |b| ratio(f.per_sec, b.per_sec)),
            "p99_ratio": base.map_or(Value::Null, |b| ratio(f.p99_ms as f64, b.p99_ms as f64)),
            "recover_s": outcome.recover.map(|d| (d.as_secs_f64() * 10.0).round() / 10.0),
            "heights_during_and_after": h1.saturating_sub(h0),
            "note": outcome.note,
        }))
    }

    fn emit(&self, row: Value) -> Result<()> {
        println!("FIGURE {row}");
        if let Some(path) = &self.out {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            writeln!(f, "{row}")?;
        }
        Ok(())
    }

    /// An attack on node 0 for the window, the honest payers submitting through node 0.
    fn attack(
        &mut self,
        name: &str,
        what: &str,
        start: impl FnOnce(&Testnet) -> Result<Attack>,
    ) -> Result<()> {
        self.scenario(name, "attack", &[0], what, |net, _| {
            let attack = start(net)?;
            let from = Instant::now();
            std::thread::sleep(window()); // the attack's duration, not a wait for anything
            let to = Instant::now();
            let note = attack.end()?;
            ensure!(
                net.rpc(0).status().is_ok(),
                "node 0 does not answer after the attack"
            );
            Ok(Outcome {
                from,
                to,
                recover: None,
                note,
            })
        })
    }
}

/// The honest payers' view of the network for a scenario that only waits (the baselines).
fn idle(_: &mut Testnet, _: &HonestLoad) -> Result<Outcome> {
    let from = Instant::now();
    std::thread::sleep(window());
    Ok(Outcome {
        from,
        to: Instant::now(),
        recover: None,
        note: String::new(),
    })
}

/// Sleeps out the rest of a window that started at `from` (a fault shorter than the window).
fn rest_of_window(from: Instant) -> Instant {
    if let Some(left) = window().checked_sub(from.elapsed()) {
        std::thread::sleep(left);
    }
    Instant::now()
}

#[test]
#[ignore = "a benchmark (minutes): scripts/bench.sh --only faults"]
fn figures_of_attacks_and_faults() -> Result<()> {
    // Declared before the network: dropped (unmounted) after its nodes are gone.
    let mut mounts: Vec<Tmpfs> = Vec::new();
    let mut net = Testnet::start_with(
        4,
        Options {
            proxied: true,
            config: vec![(0, "mempool.max_txs".into(), POOL.to_string())],
            ..Options::default()
        },
    )?;
    net.wait_all(&ALL4, 2, PROGRESS)?;
    let chain = net.rpc(0).status()?["chain_id"]
        .as_str()
        .context("chain id")?
        .to_owned();
    let setup = Instant::now();
    let (shop, payers) = honest::pay_setup(&net, 77, 100, PAYERS, Decimal::new(1_000_000, 2))?;
    let flooders: Vec<SecretKey> = (0..FLOODERS as u32)
        .map(|i| SecretKey::from_seed(Hash::digest(format!("flooder/{i}").as_bytes()).0))
        .collect();
    net.onboard_users(
        0,
        &flooders
            .iter()
            .map(SecretKey::public_key)
            .collect::<Vec<_>>(),
    )?;
    eprintln!("figures: set up in {:?}", setup.elapsed());
    let mut run = Run {
        net,
        chain,
        shop,
        payers,
        flooders,
        baselines: BTreeMap::new(),
        only: std::env::var("FIGURES_ONLY")
            .ok()
            .filter(|s| !s.is_empty())
            .map(|s| s.split(',').map(str::to_owned).collect()),
        out: std::env::var_os("FIGURES_OUT").map(Into::into),
        failed: Vec::new(),
    };
    let attack_route = [0];
    let fault_route = [0, 1, 2];
    run.scenario(
        "baseline_attacks",
        "fault_baseline",
        &attack_route,
        "no attack, payers through node 0",
        idle,
    )?;
    run.scenario(
        "baseline_faults",
        "fault_baseline",
        &fault_route,
        "no fault, payers through nodes 0-2",
        idle,
    )?;
    attacks(&mut run)?;
    faults(&mut run, &mut mounts)?;

    // One chain at the end: every node at a common height with the same app hash.
    let top = highest(&run.net, &ALL4)?;
    run.net.wait_all(&ALL4, top, PROGRESS)?;
    let reference = run.net.app_hash_after(0, top, PROGRESS)?;
    for i in 1..4 {
        let app = run.net.app_hash_after(i, top, PROGRESS)?;
        ensure!(
            app == reference,
            "app hash after {top}: node 0 {reference}, node {i} {app}"
        );
    }
    // Node 3 off the tmpfs before it is unmounted.
    run.net.kill_9(VICTIM);
    drop(run.net);
    drop(mounts);
    ensure!(run.failed.is_empty(), "scenarios failed: {:?}", run.failed);
    Ok(())
}

/// Double signing: validator 3's key on two hosts (a row of the table of its own test: a fifth
/// node cannot join the proxied network above, and one test process runs one network at a time).
/// A network without the proxy, node 3 and its twin as in `double_sign.rs` (the twin from height
/// 2 on), the same payers' setup and routing as the fault rows, and its own baseline measured
/// just after, with the twin stopped.
#[test]
#[ignore = "a benchmark (a minute): scripts/bench.sh --only faults"]
fn figures_of_double_signing() -> Result<()> {
    let only: Option<Vec<String>> = std::env::var("FIGURES_ONLY")
        .ok()
        .filter(|s| !s.is_empty())
        .map(|s| s.split(',').map(str::to_owned).collect());
    if only
        .as_ref()
        .is_some_and(|o| !o.iter().any(|n| n == "double_signing"))
    {
        return Ok(());
    }
    let v = VICTIM;
    let mut net = Testnet::start_with(
        4,
        Options {
            env: double_sign::DOUBLE_SIGNER_ENV
                .iter()
                .map(|(k, val)| (v, k.to_string(), val.to_string()))
                .collect(),
            config: vec![(v, "consensus.block_time_ms".into(), "0".into())],
            ..Options::default()
        },
    )?;
    net.wait_all(&ALL4, 2, PROGRESS)?;
    let twin = double_sign::add_twin(&mut net, v)?;
    let live = highest(&net, &ALL4)? + 1;
    net.wait_height(twin, live, PROGRESS)?;
    let chain = net.rpc(0).status()?["chain_id"]
        .as_str()
        .context("chain id")?
        .to_owned();
    let (shop, payers) = honest::pay_setup(&net, 77, 100, PAYERS, Decimal::new(1_000_000, 2))?;
    let mut run = Run {
        net,
        chain,
        shop,
        payers,
        flooders: Vec::new(),
        baselines: BTreeMap::new(),
        only,
        out: std::env::var_os("FIGURES_OUT").map(Into::into),
        failed: Vec::new(),
    };
    double_signing_rows(&mut run, twin, [0, 1, 2])?;
    ensure!(run.failed.is_empty(), "scenarios failed: {:?}", run.failed);
    Ok(())
}

fn double_signing_rows(run: &mut Run, twin: usize, through: [usize; 3]) -> Result<()> {
    run.scenario(
        "double_signing",
        "fault",
        &through,
        "validator 3's key on two hosts (node 3 and a twin), both signing a block of their own in its turns, for the window",
        |net, _| {
            let pairs = |net: &Testnet| -> Result<u64> {
                through
                    .iter()
                    .map(|&i| double_sign::equivocations(net, i))
                    .sum()
            };
            let before = pairs(net)?;
            let from = Instant::now();
            let h0 = highest(net, &through)?;
            // Sampling the evidence counters through the window (its length is the fault's).
            let mut first = None;
            while from.elapsed() < window() {
                if first.is_none() && pairs(net)? > before {
                    first = Some((from.elapsed(), highest(net, &through)? - h0));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let to = Instant::now();
            let recorded = pairs(net)? - before;
            let h1 = highest(net, &through)?;
            net.kill_9(twin);
            let recover = recovery(net, to)?;
            let (after, heights) =
                first.context("no honest node recorded a new equivocation in the window")?;
            Ok(Outcome {
                from,
                to,
                recover: Some(recover),
                note: format!(
                    "first new evidence {:.2} s ({heights} heights) into the window; {recorded} pairs recorded by nodes 0-2 (summed) over {} heights ({} of them validator 3's turns); recovery = twin stopped",
                    after.as_secs_f64(),
                    h1 - h0,
                    (h1 - h0) / 4
                ),
            })
        },
    )?;
    // Measured after the fault (the twin must run from the start: one that joins a chain of
    // hundreds of heights catches up by value sync and, with votes published while it syncs,
    // seldom joins the live rounds in time); compare the row above with this one.
    run.scenario(
        "baseline_double_signing",
        "fault_baseline",
        &through,
        "no fault (twin stopped), payers through nodes 0-2, on the double-signing row's own network",
        idle,
    )
}

fn attacks(run: &mut Run) -> Result<()> {
    let rpc_port = run.net.nodes[0].rpc_port;
    let chain = run.chain.clone();

    // Gap-nonce flood: known senders send nonces 1..=63 (never executable), round after round
    // with new contents, into a pool of POOL.
    let keys = run.flooders.clone();
    let c = chain.clone();
    run.attack(
        "gap_nonce_flood",
        "20 known senders send nonces 1..=63 (never executable) over and over, pool bound 600",
        move |_| {
            Ok(Attack::spawn(1, move |_, stop| {
                let mut counts = BTreeMap::new();
                let mut round = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    for key in &keys {
                        let batch: Vec<String> = (1..=63)
                            .map(|nonce| {
                                let call =
                                    txs::register(&txs::merchant_key(1), &format!("Flood {round}"));
                                hex::encode(txs::signed(key, &c, nonce, call).to_bytes())
                            })
                            .collect();
                        submit_from([127, 0, 0, 2], rpc_port, &batch, &mut counts)?;
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                    }
                    round += 1;
                }
                Ok(counts)
            }))
        },
    )?;

    // Unknown-sender flood: 2,048 fresh keys' payment-shaped calls, from 4 addresses.
    let c = chain.clone();
    run.attack(
        "unknown_sender_flood",
        "4 addresses send batches of 512 payments signed by 2,048 fresh keys",
        move |_| {
            let strangers: Vec<String> = (0..2048u32)
                .map(|k| {
                    let key =
                        SecretKey::from_seed(Hash::digest(format!("stranger/{k}").as_bytes()).0);
                    let payer = Payer {
                        wallet: paychain_contracts::wallet::wallet_id(
                            &key.public_key(),
                            paychain_contracts::money::Currency::CNY,
                        ),
                        key,
                    };
                    let shop = Shop {
                        merchant: MerchantId::derive(&txs::merchant_key(1)),
                        acquirer: paychain_contracts::ids::PlatformId::new("platform-0")
                            .expect("platform id"),
                        route: paychain_contracts::registry::Route {
                            record_version: 1,
                            record_hash: Hash::digest(b"r"),
                        },
                    };
                    let tx = honest::payment(&c, &payer, &shop, 0, 100, &format!("stolen-{k}"));
                    hex::encode(tx.to_bytes())
                })
                .collect();
            let strangers = Arc::new(strangers);
            Ok(Attack::spawn(4, move |t, stop| {
                let mut counts = BTreeMap::new();
                let mut k = t;
                while !stop.load(Ordering::SeqCst) {
                    let chunk = strangers.chunks(512).nth(k % 4).unwrap_or_default();
                    submit_from([127, 0, 0, 2 + t as u8], rpc_port, chunk, &mut counts)?;
                    k += 1;
                }
                Ok(counts)
            }))
        },
    )?;

    // WebSocket hold: 2 addresses × 100 WebSockets, held, pings answered, a call each second.
    run.attack(
        "websocket_hold",
        "2 addresses open 100 WebSockets each and hold them (pings answered, one call a second)",
        move |_| {
            Ok(Attack::spawn(1, move |_, stop| {
                let mut counts = BTreeMap::new();
                let mut held = Vec::new();
                for ip in [[127, 0, 0, 2], [127, 0, 0, 3]] {
                    for _ in 0..100 {
                        match wire::Ws::open(ip, rpc_port)? {
                            Ok(ws) => held.push(ws),
                            Err((status, _)) => bump(&mut counts, format!("refused ({status})")),
                        }
                    }
                }
                *counts.entry("held".into()).or_default() += held.len() as u64;
                let mut last_call = Instant::now();
                while !stop.load(Ordering::SeqCst) && !held.is_empty() {
                    let call = last_call.elapsed() >= Duration::from_secs(1);
                    if call {
                        last_call = Instant::now();
                    }
                    let mut still = Vec::with_capacity(held.len());
                    for mut ws in held.drain(..) {
                        if call {
                            let _ = ws.send(&json!({"jsonrpc": "2.0", "id": 2, "method": method::STATUS, "params": []}));
                        }
                        let (_, closed) = ws.poll(Duration::from_millis(1))?;
                        if closed {
                            bump(&mut counts, "closed by the node while held");
                        } else {
                            still.push(ws);
                        }
                    }
                    held = still;
                }
                Ok(counts)
            }))
        },
    )?;

    // Oversized batch: 4 addresses send the 0.9 MB batch of 14,000 calls back to back.
    run.attack(
        "oversized_batch",
        "4 addresses send a 0.9 MB batch of 14,000 paychain_enclave calls back to back",
        move |_| {
            let big = Arc::new(abuse::enclave_batch(abuse::OVERSIZED_CALLS));
            Ok(Attack::spawn(4, move |t, stop| {
                let mut counts = BTreeMap::new();
                while !stop.load(Ordering::SeqCst) {
                    abuse::post_oversized([127, 0, 0, 2 + t as u8], rpc_port, &big)?;
                    bump(&mut counts, "batches refused");
                }
                Ok(counts)
            }))
        },
    )?;

    // Garbage lookups: 4 addresses send batches of 100 garbage paychain_lookup calls.
    let c = chain.clone();
    run.attack(
        "garbage_lookup_flood",
        "4 addresses send batches of 100 garbage lookups (random, badly signed, signed by no role)",
        move |net| {
            let batches = Arc::new(abuse::garbage_lookup_batches(&net.rpc(0), &c)?);
            Ok(Attack::spawn(4, move |t, stop| {
                let mut counts = BTreeMap::new();
                let mut k = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    let batch = &batches[k % batches.len()];
                    match abuse::post_garbage([127, 0, 0, 2 + t as u8], rpc_port, batch)? {
                        GarbageAnswer::Answered(n) => {
                            *counts.entry("lookups refused".into()).or_default() += n as u64
                        }
                        GarbageAnswer::RateLimited => bump(&mut counts, "batches rate limited"),
                    }
                    k += 1;
                }
                Ok(counts)
            }))
        },
    )?;

    // Gossip connection flood: one address (not the validators' host) keeps up to 900 silent raw
    // connections to node 0's gossip port, reopening what the node closes; a second thread reads
    // node 0's own count of what it holds (`paychain_gossip_connections`) every 100 ms.
    let gossip_port = run.net.base_port + 2;
    let node0 = run.net.rpc(0);
    run.attack(
        "gossip_connection_flood",
        "one address keeps up to 900 silent raw connections open to the gossip port, reopening closed ones",
        move |_| {
            Ok(Attack::spawn(2, move |t, stop| {
                let mut counts = BTreeMap::new();
                if t == 1 {
                    let before = gossip_metrics(&node0)?;
                    let (mut handshakes, mut established) = (0, 0);
                    while !stop.load(Ordering::SeqCst) {
                        let m = gossip_metrics(&node0)?;
                        handshakes = handshakes.max(m.handshakes);
                        established = established.max(m.established);
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    let after = gossip_metrics(&node0)?;
                    counts.insert("node 0: most held in their handshake".into(), handshakes);
                    counts.insert("node 0: most established".into(), established);
                    counts.insert(
                        "node 0: refused per source".into(),
                        after.refused_per_source - before.refused_per_source,
                    );
                    counts.insert(
                        "node 0: handshakes timed out".into(),
                        after.timed_out - before.timed_out,
                    );
                    return Ok(counts);
                }
                let mut open: Vec<TcpStream> = Vec::new();
                let mut buf = [0u8; 64];
                while !stop.load(Ordering::SeqCst) {
                    while open.len() < 900 && !stop.load(Ordering::SeqCst) {
                        match wire::connect_from([127, 0, 0, 2], gossip_port) {
                            Ok(s) => {
                                s.set_nonblocking(true)?;
                                open.push(s);
                                bump(&mut counts, "connections opened");
                            }
                            Err(_) => {
                                bump(&mut counts, "connects failed");
                                break;
                            }
                        }
                    }
                    open.retain_mut(|s| match s.read(&mut buf) {
                        Ok(0) => false,
                        Ok(_) => true,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => true,
                        Err(_) => false,
                    });
                }
                Ok(counts)
            }))
        },
    )?;

    // Bad-signature flood: known senders, right nonces, every signature broken.
    let keys = run.flooders.clone();
    let c = chain.clone();
    run.attack(
        "bad_signature_flood",
        "4 addresses send batches of 250 txs from 20 known senders, right nonces, bad signatures",
        move |net| {
            let mut bad = Vec::new();
            for key in &keys {
                let first = net.rpc(0).nonce(&key.public_key())?;
                for n in 0..50 {
                    let mut tx = txs::signed(
                        key,
                        &c,
                        first + n,
                        txs::register(&txs::merchant_key(2), "Bad"),
                    );
                    tx.signature.0[0] ^= 1;
                    bad.push(hex::encode(tx.to_bytes()));
                }
            }
            let bad = Arc::new(bad);
            Ok(Attack::spawn(4, move |t, stop| {
                let mut counts = BTreeMap::new();
                let mut k = t;
                while !stop.load(Ordering::SeqCst) {
                    let chunk = bad.chunks(250).nth(k % 4).unwrap_or_default();
                    submit_from([127, 0, 0, 2 + t as u8], rpc_port, chunk, &mut counts)?;
                    k += 1;
                }
                Ok(counts)
            }))
        },
    )?;

    // Stranger consensus connections: hosts not in `[p2p] allowed_sources` dial the consensus
    // port over and over and speak multistream-select.
    let p2p = run.net.base_port + 1;
    run.attack(
        "stranger_consensus_connections",
        "2 hosts outside allowed_sources dial node 0's consensus port over and over",
        move |_| {
            Ok(Attack::spawn(2, move |t, stop| {
                let mut counts = BTreeMap::new();
                while !stop.load(Ordering::SeqCst) {
                    let Ok(mut s) = wire::connect_from([127, 0, 0, 9 + t as u8], p2p) else {
                        bump(&mut counts, "connects failed");
                        continue;
                    };
                    let _ = s.write_all(b"\x13/multistream/1.0.0\n");
                    let mut got = [0u8; 20];
                    match s.read(&mut got) {
                        Ok(0) | Err(_) => bump(&mut counts, "closed by the gate"),
                        Ok(_) => bump(&mut counts, "answered by the swarm"),
                    }
                }
                Ok(counts)
            }))
        },
    )?;
    // Control: no attack, after the attacks (the chain is longer and the machine as busy as it is
    // then): how much of a row's cost is the attack's.
    run.scenario(
        "no_attack_after",
        "attack",
        &[0],
        "no attack (a control measured after the attack rows)",
        idle,
    )?;
    Ok(())
}

fn faults(run: &mut Run, mounts: &mut Vec<Tmpfs>) -> Result<()> {
    let through = [0, 1, 2];
    let v = VICTIM;

    run.scenario(
        "validator_paused",
        "fault",
        &through,
        "node 3 stopped (SIGSTOP) for the window (rounds time out after 1.5 s), then SIGCONT",
        |net, _| {
            let from = Instant::now();
            net.pause(v)?;
            let to = rest_of_window(from);
            net.resume(v)?;
            let recover = recovery(net, to)?;
            Ok(Outcome {
                from,
                to,
                recover: Some(recover),
                note: "node 3 caught up after SIGCONT".into(),
            })
        },
    )?;

    run.scenario(
        "validator_killed_restarted",
        "fault",
        &through,
        "node 3 killed (SIGKILL) for the window, then restarted",
        |net, _| {
            let from = Instant::now();
            net.kill_9(v);
            let to = rest_of_window(from);
            net.restart(v)?;
            let recover = recovery(net, to)?;
            Ok(Outcome {
                from,
                to,
                recover: Some(recover),
                note: "recovery includes the node's start".into(),
            })
        },
    )?;

    run.scenario(
        "all_killed_restarted",
        "fault",
        &through,
        "all four killed at once (SIGKILL) and restarted at once",
        |net, _| {
            let from = Instant::now();
            let before = highest(net, &ALL4)?;
            for i in ALL4 {
                net.kill_9(i);
            }
            let ended = Instant::now();
            for i in ALL4 {
                net.restart(i)?;
            }
            let recover = recovery(net, ended)?;
            let to = rest_of_window(from);
            Ok(Outcome {
                from,
                to,
                recover: Some(recover),
                note: format!("down at height {before}; recovery from the kill: starts, then two heights with all four"),
            })
        },
    )?;

    run.scenario(
        "rolling_restart",
        "fault",
        &through,
        "each node in turn killed, restarted and caught up",
        |net, _| {
            let from = Instant::now();
            for victim in ALL4 {
                net.kill_9(victim);
                net.restart(victim)?;
                let other = (victim + 1) % 4;
                let target = net.height(other)?;
                net.wait_height(victim, target, PROGRESS)?;
            }
            let ended = Instant::now();
            let recover = recovery(net, ended)?;
            Ok(Outcome {
                from,
                to: ended,
                recover: Some(recover),
                note: format!(
                    "the four restarts took {:.1} s",
                    ended.duration_since(from).as_secs_f64()
                ),
            })
        },
    )?;

    for (name, what, deaf) in [
        (
            "one_way_partition_deaf",
            "node 3 hears nothing (its sends still arrive) for the window",
            true,
        ),
        (
            "one_way_partition_mute",
            "node 3 is not heard (it still hears everything) for the window",
            false,
        ),
    ] {
        run.scenario(name, "fault", &through, what, |net, _| {
            let from = Instant::now();
            if deaf {
                net.proxy().deafen(v);
            } else {
                net.proxy().mute(v);
            }
            let at = net.height(v)?;
            let to = rest_of_window(from);
            let then = net.height(v)?;
            net.proxy().heal();
            let recover = recovery(net, to)?;
            Ok(Outcome {
                from,
                to,
                recover: Some(recover),
                note: format!("node 3 went from height {at} to {then} during the window"),
            })
        })?;
    }

    let halves: &[&[usize]] = &[&[0, 1], &[2, 3]];
    for (name, what, reset) in [
        (
            "flapping_link_stall",
            "links between {0,1} and {2,3} stall and resume every 300 ms for the window",
            false,
        ),
        (
            "flapping_link_reset",
            "links between {0,1} and {2,3} are cut (reset) and restored every 300 ms for the window",
            true,
        ),
    ] {
        run.scenario(name, "fault", &through, what, |net, _| {
            let from = Instant::now();
            let h0 = highest(net, &ALL4)?;
            // The fault's schedule, not a wait for anything.
            while from.elapsed() < window() {
                if reset {
                    net.proxy().partition(halves);
                } else {
                    net.proxy().stall(halves);
                }
                std::thread::sleep(Duration::from_millis(300));
                net.proxy().heal();
                std::thread::sleep(Duration::from_millis(300));
            }
            let to = Instant::now();
            let h1 = highest(net, &ALL4)?;
            let recover = recovery(net, to)?;
            Ok(Outcome {
                from,
                to,
                recover: Some(recover),
                note: format!("heights {h0} -> {h1} while flapping"),
            })
        })?;
    }

    run.scenario(
        "latency_jitter_loss",
        "fault",
        &through,
        "every link 50 ms ± 20 ms one way, 3 % of chunks 200 ms more (a retransmission), in the proxy",
        |net, _| {
            net.proxy()
                .set_delay(Duration::from_millis(50), Duration::from_millis(20), 30);
            let from = Instant::now();
            let h0 = highest(net, &ALL4)?;
            let to = rest_of_window(from);
            let h1 = highest(net, &ALL4)?;
            net.proxy().heal();
            let recover = recovery(net, to)?;
            Ok(Outcome {
                from,
                to,
                recover: Some(recover),
                note: format!(
                    "{:.1} heights/s during",
                    (h1 - h0) as f64 / to.duration_since(from).as_secs_f64()
                ),
            })
        },
    )?;

    for (name, what, offset) in [
        (
            "clock_40s_ahead",
            "node 3's clock 40 s ahead (restarted with PAYCHAIN_TEST_CLOCK_OFFSET_MS) for the window",
            "40000",
        ),
        (
            "clock_40s_behind",
            "node 3's clock 40 s behind for the window",
            "-40000",
        ),
    ] {
        run.scenario(name, "fault", &through, what, |net, _| {
            net.set_env(v, "PAYCHAIN_TEST_FAULTS", Some("enable"));
            net.set_env(v, "PAYCHAIN_TEST_CLOCK_OFFSET_MS", Some(offset));
            net.restart(v)?;
            let from = Instant::now();
            let h0 = highest(net, &ALL4)?;
            let to = rest_of_window(from);
            let h1 = highest(net, &ALL4)?;
            let skewed_at = net.height(v)?;
            net.set_env(v, "PAYCHAIN_TEST_FAULTS", None);
            net.set_env(v, "PAYCHAIN_TEST_CLOCK_OFFSET_MS", None);
            net.restart(v)?;
            let recover = recovery(net, to)?;
            Ok(Outcome {
                from,
                to,
                recover: Some(recover),
                note: format!(
                    "heights {h0} -> {h1} during ({:.1}/s), node 3 at {skewed_at} at the end; recovery includes its restart with the right clock",
                    (h1 - h0) as f64 / to.duration_since(from).as_secs_f64()
                ),
            })
        })?;
    }

    run.scenario(
        "corrupted_store",
        "fault",
        &through,
        "node 3 killed, garbage written over its RocksDB MANIFEST, started (it must stop), repaired (data and WAL wiped, resync)",
        |net, _| {
            let home = net.nodes[v].home.clone();
            let data = home.join("data");
            let from = Instant::now();
            net.kill_9(v);
            let mut manifests: Vec<std::path::PathBuf> = std::fs::read_dir(&data)?
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("MANIFEST-"))
                })
                .collect();
            manifests.sort();
            let manifest = manifests.pop().context("no MANIFEST")?;
            let mut bytes = std::fs::read(&manifest)?;
            let mid = bytes.len() / 2;
            let end = (mid + 64).min(bytes.len());
            bytes[mid..end].iter_mut().for_each(|b| *b ^= 0x5a);
            std::fs::write(&manifest, &bytes)?;
            net.spawn(v)?;
            let status = net.nodes[v].wait_exit(PROGRESS)?;
            ensure!(!status.success(), "node 3 exited with {status}");
            let reason = disk::stopped_with(net, v, "corrupt")?;
            let to = rest_of_window(from);
            std::fs::remove_dir_all(&data)?;
            std::fs::remove_dir_all(home.join("wal"))?;
            let behind = highest(net, &through)?;
            net.restart(v)?;
            // A resync from genesis: its time grows with the chain (dev binaries: ~12 heights/s).
            let recover = recovery_within(net, to, Duration::from_secs(240))?;
            Ok(Outcome {
                from,
                to,
                recover: Some(recover),
                note: format!(
                    "stopped with: {reason:.120}; recovery = wipe + resync of {behind} heights from genesis"
                ),
            })
        },
    )?;

    let mut mounted = None;
    run.scenario(
        "full_disk",
        "fault",
        &through,
        "node 3's data directory is a 64 MiB tmpfs, filled up; space freed and node restarted after the window",
        |net, _| {
            net.kill_9(v);
            let data = net.nodes[v].home.join("data");
            let saved = net.dir.path().join("node3-data-saved");
            std::fs::rename(&data, &saved)?;
            let mount = Tmpfs::mount(&data, "64m")?;
            let Some(mount) = mount else {
                std::fs::rename(&saved, &data)?;
                net.restart(v)?;
                anyhow::bail!("SKIPPED: no tmpfs on this machine (needs root)");
            };
            mounted = Some(mount);
            disk::copy_dir(&saved, &data)?;
            net.restart(v)?;
            let h = net.height(0)?;
            net.wait_height(v, h, PROGRESS)?;
            let from = Instant::now();
            let filler = disk::fill(&data)?;
            let status = net.nodes[v].wait_exit(PROGRESS)?;
            ensure!(!status.success(), "node 3 exited with {status}");
            let stopped = from.elapsed();
            let reason = disk::stopped_with(net, v, "no space left on device")?;
            let to = rest_of_window(from);
            std::fs::remove_file(&filler)?;
            net.restart(v)?;
            let recover = recovery(net, to)?;
            Ok(Outcome {
                from,
                to,
                recover: Some(recover),
                note: format!(
                    "stopped {:.1} s after the disk filled: {reason:.160}",
                    stopped.as_secs_f64()
                ),
            })
        },
    )?;
    mounts.extend(mounted);
    Ok(())
}
