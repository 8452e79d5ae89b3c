//! `paychain-load`: an open-loop load generator for a paychain network.
//!
//! Pre-signs transactions from many fresh keys (so nonces never block each other), submits them
//! at a fixed rate spread over every node's RPC, follows committed blocks on one node, and
//! prints committed tx/s, blocks/s, block interval and submit→commit latency percentiles as one
//! JSON object (plus CPU and peak memory of the node processes named by `--pids`). A line of
//! progress per second goes to stderr.
//!
//! `--payments --platform-key host.json --merchant ID --acquirer platform-0`: the transactions are
//! wallet payments (`wallet::Call::Pay`, 1.00 CNY each, one order ref per payment) signed by many
//! users' keys. Before the timed window the generator sets the wallets up, closed loop, with the
//! host's key (a platform qualified by governance to host wallets): for each wallet it verifies the
//! user, registers the user's certificate issued by the host's CA (`--ca-key`, `--ca-cert`: a
//! wallet opens only for a certified user; the user signs its consent), opens a CNY wallet,
//! requests a card binding, has the user confirm it (the user's nonce 0),
//! and tops the wallet up on the user's instruction. The merchant must already have an active
//! record of the acquirer, accepted
//! by the merchant.
//!
//! Everything is pre-signed (`paychain_client::tx::sign`) with the nonces planned here, so that
//! signing and nonce look-ups never compete with the measurement; the calls with derived values
//! come from the SDK the `paychain` CLI uses: the card binding request and confirmation
//! (`paychain_client::wallet::card_binding_request`, `confirm_card_call`), the owner's top-up
//! instruction (`wallet::instruct_top_up`), and the verified enclave lookups
//! (`enclave::lookup_through`).
//!
//! Without `--payments` (the pipeline load) the transactions are registry calls from keys that are
//! not platforms: each is signed, gossiped, ordered, executed (refused by the contract, nonce
//! bumped) and committed like any other, so that measures the chain's pipeline, not one
//! contract's logic (`failed_receipts` then equals `committed`). The chain admits only keys it
//! knows, so before the timed window `--platform-key` (any platform member's key file) registers
//! each sender as a merchant's key (closed loop; a sender then revokes "its" record, which only a
//! platform may).
//!
//! `--register N --platform-keys a.json,b.json,...` instead registers N merchants as fast as the
//! chain takes them (closed loop: each platform keeps at most `--window` registrations in flight,
//! under the mempool's per-sender limit), to grow the state before a measurement.
//!
//! `--till N --merchant ID --genesis genesis.json --platform-key host.json` instead runs N complete
//! till flows, closed loop: the payer decodes the merchant's code from a PNG, pays it with the SDK
//! (`pay::pay_scanned`) and verifies the certificate offline against genesis; every step is timed
//! (`till.rs`). `--ready-file` lets a script start such a run once an open-loop load is under way.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use paychain_client::contracts::ca;
use paychain_client::contracts::crypto::{Hash, PublicKey, SecretKey};
use paychain_client::contracts::enclave::KxSecret;
use paychain_client::contracts::ids::{ChainId, MerchantId, PlatformId};
use paychain_client::contracts::money::{Amount, Currency};
use paychain_client::contracts::registry;
use paychain_client::contracts::tx::{Call, SignedTx};
use paychain_client::contracts::wallet;
use paychain_client::keystore;
use paychain_client::rpc::Client;

/// The exec key of a chain with private state (from `--genesis`): wallet calls are sealed to it.
static EXEC_KEY: std::sync::OnceLock<Option<paychain_client::contracts::enclave::KxPublicKey>> =
    std::sync::OnceLock::new();

/// Signs `call` (sealed to the chain's exec key first, on a chain with private state: the load
/// then pays for the sealing, as a real client does).
fn sign(chain_id: &ChainId, key: &SecretKey, nonce: u64, call: Call) -> SignedTx {
    let exec = EXEC_KEY.get().copied().flatten();
    let call = paychain_client::tx::seal_if_private(
        exec.as_ref(),
        chain_id,
        &key.public_key(),
        nonce,
        call,
    )
    .expect("sealing a wallet call to a well-formed exec key");
    paychain_client::tx::sign(chain_id, key, nonce, call)
}
use paychain_client::wallet::{card_binding_request, confirm_card_call, instruct_top_up};

use jsonrpsee::http_client::{HttpClient, HttpClientBuilder};
use paychain_api::ChainApiClient;

mod till;

#[derive(Parser)]
#[command(name = "paychain-load", about = "open-loop load generator")]
struct Args {
    /// Comma-separated RPC URLs; submissions rotate over them.
    #[arg(long, default_value = "http://127.0.0.1:26657")]
    rpc: String,
    /// Target submissions per second.
    #[arg(long, default_value_t = 500)]
    rate: u64,
    /// Seconds of load.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Transactions per sender (≤ the mempool's per-sender window).
    #[arg(long, default_value_t = 16)]
    per_sender: u64,
    /// Seconds to keep following blocks after the load stops.
    #[arg(long, default_value_t = 10)]
    drain: u64,
    /// Comma-separated pids of the node processes: their CPU use during the load and peak memory
    /// (VmHWM) are reported.
    #[arg(long, default_value = "")]
    pids: String,
    /// Register this many merchants (closed loop) instead of the open-loop load.
    #[arg(long)]
    register: Option<u64>,
    /// Comma-separated platform key files that sign the registrations (with --register).
    #[arg(long, default_value = "")]
    platform_keys: String,
    /// Registrations each platform keeps in flight (with --register).
    #[arg(long, default_value_t = 48)]
    window: u64,
    /// Ramp the offered rate linearly from 0 to --rate over --duration (half as many transactions)
    /// instead of a constant rate: the peak committed rate then shows the capacity without a long
    /// overload collapsing it.
    #[arg(long)]
    ramp: bool,
    /// No per-second progress on stderr.
    #[arg(long)]
    quiet: bool,
    /// Open loop: send the transactions due at the same moment in one `paychain_submitTxs` call
    /// of at most this many (1: one `paychain_submitTx` call per transaction, as a wallet would).
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Instead of transactions: merchant record lookups through the node's enclave for this many
    /// seconds (closed loop, --concurrency at a time), signed with the first --platform-keys key
    /// as --platform, over the merchants of --merchants; every answer is verified and opened.
    #[arg(long)]
    lookups: Option<u64>,
    /// Comma-separated merchant ids (with --lookups).
    #[arg(long, default_value = "")]
    merchants: String,
    /// Platform id the lookups are made as (with --lookups).
    #[arg(long, default_value = "platform-0")]
    platform: String,
    /// Lookups in flight (with --lookups).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Open loop of wallet payments (set up before the timed window, see the module docs) instead
    /// of refused registry calls; --per-sender payments per wallet.
    #[arg(long, requires_all = ["platform_key", "merchant", "acquirer"])]
    payments: bool,
    /// Key file of a qualified wallet host that sets the wallets up (with --payments); of the
    /// platform that registers the pipeline load's senders as merchants' keys (without it).
    #[arg(long)]
    platform_key: Option<String>,
    /// The wallet host's CA key (PKCS#8 PEM, from `paychain ca init`), approved by governance:
    /// the setup certifies each user with it before opening the wallet (with --payments, --till).
    #[arg(long, requires = "ca_cert")]
    ca_key: Option<String>,
    /// The wallet host's CA certificate (PEM), with --ca-key.
    #[arg(long, requires = "ca_key")]
    ca_cert: Option<String>,
    /// Merchant paid (with --payments).
    #[arg(long)]
    merchant: Option<String>,
    /// Acquiring platform with an active record for --merchant (with --payments).
    #[arg(long)]
    acquirer: Option<String>,
    /// Open loop: create this file when the timed window starts (after the setup and the
    /// signing), so that a script can measure something else under the load.
    #[arg(long)]
    ready_file: Option<String>,
    /// Instead of a load: this many complete till flows (see `till.rs`): the payer decodes the
    /// merchant's code from a PNG, pays it with the SDK (checks, signed enclave lookup, pay, wait
    /// for the certificate) and verifies the certificate offline against --genesis; each step
    /// timed. The payers are set up by the wallet host of --platform-key; --merchant must have
    /// accepted that host's record.
    #[arg(long, requires_all = ["merchant", "genesis"])]
    till: Option<u64>,
    /// The chain's genesis.json (with --till and --lookups): pins the enclave, verifies the
    /// certificates.
    #[arg(long, env = "PAYCHAIN_GENESIS")]
    genesis: Option<String>,
    /// Payers at the till at the same time, each closed loop (with --till).
    #[arg(long, default_value_t = 1)]
    till_payers: u64,
    /// Stop starting till flows after this many seconds, even if fewer than --till were done.
    #[arg(long)]
    till_secs: Option<u64>,
    /// Pay one static code with the amount entered (a printed code at a counter) instead of a
    /// dynamic code per order (with --till).
    #[arg(long)]
    static_code: bool,
    /// Seed of the payers' keys (with --till); default: one per process. A later run with the
    /// same seed and --no-setup pays from the same wallets.
    #[arg(long)]
    payer_seed: Option<String>,
    /// Before each till flow (off the clock) the payer pauses a random 0 to this many ms, so that
    /// payers arrive at random moments of the block cycle, not in step with it (closed loop).
    #[arg(long, default_value_t = 400)]
    till_pause_ms: u64,
    /// How a till flow waits for its commit and certificate: poll (the SDK's pay_scanned, as the
    /// CLI) or push (block subscription; see `till.rs`).
    #[arg(long, default_value = "poll")]
    till_wait: String,
    /// The payers of --payer-seed were set up by an earlier --till run of the same size (the
    /// top-up covers four runs).
    #[arg(long, requires = "payer_seed")]
    no_setup: bool,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// A JSON number, or null for NaN/inf (JSON has no NaN).
fn num(x: f64) -> serde_json::Value {
    if x.is_finite() {
        serde_json::json!((x * 100.0).round() / 100.0)
    } else {
        serde_json::Value::Null
    }
}

/// CPU seconds (user + system) and peak resident memory of a process, from /proc.
#[derive(Clone, Copy, Default)]
struct ProcSample {
    cpu_s: f64,
    hwm_kib: u64,
    rss_kib: u64,
}

/// Each node's CPU share over `secs` and its memory, from samples before and after (in `pids` order).
fn node_usage(
    pids: &[u32],
    before: &[Option<ProcSample>],
    after: &[Option<ProcSample>],
    secs: f64,
) -> Vec<serde_json::Value> {
    pids.iter()
        .zip(before.iter().zip(after.iter()))
        .map(|(pid, (b, a))| match (b, a) {
            (Some(b), Some(a)) => serde_json::json!({
                "pid": pid,
                "cpu_percent": num((a.cpu_s - b.cpu_s) / secs * 100.0),
                "peak_rss_mib": num(a.hwm_kib as f64 / 1024.0),
                "rss_mib": num(a.rss_kib as f64 / 1024.0),
            }),
            _ => serde_json::json!({ "pid": pid, "error": "process not found" }),
        })
        .collect()
}

fn sample(pid: u32) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Some(ProcSample {
        // USER_HZ is 100 on every Linux ABI this runs on.
        cpu_s: ticks / 100.0,
        hwm_kib: kib("VmHWM:"),
        rss_kib: kib("VmRSS:"),
    })
}

/// One block as seen by the follower.
struct Seen {
    at: Instant,
    time_ms: u64,
    txs: usize,
}

/// What the follower records, shared with the submitters.
#[derive(Default)]
struct Ledger {
    submitted: Mutex<HashMap<Hash, Instant>>,
    committed: Mutex<HashMap<Hash, Instant>>,
    blocks: Mutex<Vec<Seen>>,
    refused: AtomicU64,
    /// Refusal reasons at submit (first words of the message) and how often.
    refusals: Mutex<HashMap<String, u64>>,
    failed_receipts: AtomicU64,
    /// Per-sender-group committed counts (registrations: one group per platform).
    group_of: HashMap<Hash, usize>,
    group_done: Vec<AtomicU64>,
}

fn registrations(
    platforms: &[(SecretKey, u64)],
    chain_id: &ChainId,
    n: u64,
) -> Vec<Vec<(Hash, Vec<u8>)>> {
    let run = std::process::id();
    let mut per: Vec<Vec<(Hash, Vec<u8>)>> = vec![Vec::new(); platforms.len()];
    for i in 0..n {
        let p = (i % platforms.len() as u64) as usize;
        let (key, first_nonce) = &platforms[p];
        let merchant =
            SecretKey::from_seed(Hash::digest(format!("paychain-bench/{run}/{i}").as_bytes()).0);
        let nonce = first_nonce + per[p].len() as u64;
        let tx = sign(
            chain_id,
            key,
            nonce,
            Call::Registry(registry::Call::RegisterMerchant {
                name: format!("Bench {i}"),
                city: "Shanghai".into(),
                mcc: "5812".into(),
                country: "CN".into(),
                merchant_key: merchant.public_key(),
            }),
        );
        per[p].push((tx.hash(), tx.to_bytes()));
    }
    per
}

/// The pipeline load's senders (fresh per run).
fn pipeline_keys(total: u64, per_sender: u64) -> Vec<SecretKey> {
    (0..total.div_ceil(per_sender.max(1)))
        .map(|s| {
            let seed = Hash::digest(format!("paychain-load/{}/{s}", std::process::id()).as_bytes());
            SecretKey::from_seed(seed.0)
        })
        .collect()
}

/// Makes the pipeline load's senders known to the chain (it admits no other key): `platform`
/// registers each as a merchant's key, closed loop, before the timed window.
async fn pipeline_setup(
    args: &Args,
    client: &Client,
    http: &HttpClient,
    chain_id: &ChainId,
    keys: &[SecretKey],
) -> Result<(), Box<dyn std::error::Error>> {
    let path = args.platform_key.as_deref().ok_or(
        "the pipeline load needs --platform-key (a platform member's key file) to register its senders: the chain admits only keys it knows",
    )?;
    let platform = keystore::load(path)?.secret_key().clone();
    let first = client.account(&platform.public_key()).await?.nonce;
    let txs: Vec<SignedTx> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            sign(
                chain_id,
                &platform,
                first + i as u64,
                Call::Registry(registry::Call::RegisterMerchant {
                    name: format!("Load sender {i}"),
                    city: "Shanghai".into(),
                    mcc: "5812".into(),
                    country: "CN".into(),
                    merchant_key: k.public_key(),
                }),
            )
        })
        .collect();
    eprintln!("registering {} senders as merchants' keys ...", keys.len());
    closed_loop(client, http, &platform.public_key(), first, &txs).await?;
    Ok(())
}

fn pipeline_txs(
    keys: &[SecretKey],
    total: u64,
    per_sender: u64,
    chain_id: &ChainId,
) -> Vec<(Hash, Vec<u8>)> {
    let mut txs: Vec<(Hash, Vec<u8>)> = Vec::with_capacity(total as usize);
    'outer: for key in keys {
        for nonce in 0..per_sender {
            if txs.len() as u64 >= total {
                break 'outer;
            }
            let tx = sign(
                chain_id,
                key,
                nonce,
                Call::Registry(registry::Call::RevokeRecord {
                    merchant_id: MerchantId::derive(&key.public_key()),
                }),
            );
            txs.push((tx.hash(), tx.to_bytes()));
        }
    }
    interleave(txs, per_sender)
}

/// Interleaves senders (`per_sender` consecutive transactions each) so consecutive submissions
/// come from different keys, keeping each sender's nonces in order.
fn interleave(txs: Vec<(Hash, Vec<u8>)>, per_sender: u64) -> Vec<(Hash, Vec<u8>)> {
    let per = per_sender as usize;
    let mut order: Vec<usize> = Vec::with_capacity(txs.len());
    for n in 0..per {
        let mut i = n;
        while i < txs.len() {
            order.push(i);
            i += per;
        }
    }
    let mut slots: Vec<Option<(Hash, Vec<u8>)>> = txs.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// Sends `txs` in one `paychain_submitTxs` call; returns the indexes refused and one reason.
async fn submit_batch(http: &HttpClient, txs: &[SignedTx]) -> (Vec<usize>, Option<String>) {
    let hexes: Vec<String> = txs.iter().map(|t| hex::encode(t.to_bytes())).collect();
    let answer = http.submit_txs(hexes.into()).await;
    match answer {
        Ok(items) if items.len() == txs.len() => {
            let mut refused = Vec::new();
            let mut reason = None;
            for (i, item) in items.into_iter().enumerate() {
                if item.tx_hash.is_none() {
                    refused.push(i);
                    reason.get_or_insert_with(|| {
                        item.error
                            .and_then(|e| serde_json::to_string(&e).ok())
                            .unwrap_or_default()
                    });
                }
            }
            (refused, reason)
        }
        Ok(_) => (
            (0..txs.len()).collect(),
            Some("answer of the wrong length".into()),
        ),
        Err(e) => ((0..txs.len()).collect(), Some(e.to_string())),
    }
}

/// Follows blocks from `*next` until every hash of `want` is committed; returns how many of them
/// have a failed receipt, and the first failure.
async fn await_hashes(
    client: &Client,
    next: &mut u64,
    mut want: std::collections::HashSet<Hash>,
    timeout: Duration,
) -> Result<(u64, Option<String>), String> {
    let deadline = Instant::now() + timeout;
    let (mut failed, mut first) = (0u64, None);
    while !want.is_empty() {
        match client.block(*next).await.map_err(|e| e.to_string())? {
            Some(block) => {
                for (h, r) in block.tx_hashes.iter().zip(&block.receipts) {
                    if want.remove(h) && r.code != 0 {
                        failed += 1;
                        first.get_or_insert_with(|| format!("code {}: {:?}", r.code, r.error));
                    }
                }
                *next += 1;
            }
            None => {
                if Instant::now() > deadline {
                    return Err(format!("{} setup transactions not committed", want.len()));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    Ok((failed, first))
}

/// Sends one sender's consecutive-nonce transactions closed loop: at most `WINDOW` beyond the
/// sender's committed nonce (under the mempool's per-sender window), resending from the committed
/// nonce when it stalls.
async fn closed_loop(
    client: &Client,
    http: &HttpClient,
    sender: &PublicKey,
    first_nonce: u64,
    txs: &[SignedTx],
) -> Result<(), String> {
    const WINDOW: u64 = 56;
    let end = first_nonce + txs.len() as u64;
    let (mut sent, mut last_done, mut moved) = (0usize, first_nonce, Instant::now());
    loop {
        let done = client
            .account(sender)
            .await
            .map_err(|e| e.to_string())?
            .nonce;
        if done >= end {
            return Ok(());
        }
        if done != last_done {
            (last_done, moved) = (done, Instant::now());
        } else if moved.elapsed() > Duration::from_secs(5) {
            if moved.elapsed() > Duration::from_secs(60) {
                return Err(format!("setup stalled at nonce {done} of {end}"));
            }
            // Something was refused (or dropped): send again from the committed nonce.
            sent = sent.min((done - first_nonce) as usize);
        }
        let upto = ((done + WINDOW).min(end) - first_nonce) as usize;
        if upto > sent {
            let (refused, reason) = submit_batch(http, &txs[sent..upto]).await;
            if let Some(r) = reason {
                eprintln!("  setup: {} refused at submit ({r})", refused.len());
            }
            sent = upto;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// Sets up `n` funded wallets hosted by `host` (closed loop, before the measurement) and signs
/// `total` payments from them (`per_sender` per wallet, the users' nonces 1..), interleaved.
async fn payments_setup(
    args: &Args,
    client: &Client,
    http: &HttpClient,
    chain_id: &ChainId,
    total: u64,
) -> Result<Vec<(Hash, Vec<u8>)>, Box<dyn std::error::Error>> {
    let per = args.per_sender.max(1);
    let n = total.div_ceil(per);
    let host = keystore::load(args.platform_key.as_deref().unwrap_or_default())?
        .secret_key()
        .clone();
    let merchant = MerchantId::parse(args.merchant.as_deref().unwrap_or_default().trim())
        .map_err(|e| e.to_string())?;
    let acquirer =
        PlatformId::new(args.acquirer.clone().unwrap_or_default()).map_err(|e| e.to_string())?;
    // The route every payment names: the acquirer's current record, as the public registry lists it
    // (the payments are signed ahead, so one lookup's answer stands for all of them).
    let route = client
        .merchant(&merchant)
        .await
        .map_err(|e| e.to_string())?
        .routes
        .into_iter()
        .find(|r| r.platform_id == acquirer)
        .map(|r| r.route)
        .ok_or_else(|| {
            format!("merchant {merchant} has no record of {acquirer} that it accepted")
        })?;
    let run = std::process::id();
    let currency = Currency::CNY;
    let pay_amount = Amount::parse("1.00", currency).map_err(|e| e.to_string())?;
    let top_up = Amount::parse(&format!("{}.00", per + 10), currency).map_err(|e| e.to_string())?;
    let ca = HostCa::load(args)?;
    let users = setup_wallets(
        client,
        http,
        chain_id,
        (&host, &ca),
        &format!("paychain-pay/{run}"),
        n,
        top_up,
    )
    .await?;
    eprintln!("  signing {total} payments ...");

    // The payments: per wallet, nonces 1..=per, one order ref each.
    let mut txs = Vec::with_capacity(total as usize);
    'outer: for (i, user) in users.iter().enumerate() {
        let w = wallet::wallet_id(&user.public_key(), currency);
        for nonce in 1..=per {
            if txs.len() as u64 >= total {
                break 'outer;
            }
            let tx = sign(
                chain_id,
                user,
                nonce,
                Call::Wallet(wallet::Call::Pay {
                    from_wallet: w,
                    merchant_id: merchant.clone(),
                    acquirer: acquirer.clone(),
                    amount: pay_amount,
                    order_ref: format!("bench-{run}-{i}-{nonce}"),
                    route,
                }),
            );
            txs.push((tx.hash(), tx.to_bytes()));
        }
    }
    Ok(interleave(txs, per))
}

/// The wallet host's CA (`--ca-key`, `--ca-cert`).
pub(crate) struct HostCa {
    key: SecretKey,
    cert: Vec<u8>,
}

impl HostCa {
    /// Reads `--ca-key` and `--ca-cert`.
    pub(crate) fn load(args: &Args) -> Result<HostCa, Box<dyn std::error::Error>> {
        let (Some(key), Some(cert)) = (args.ca_key.as_deref(), args.ca_cert.as_deref()) else {
            return Err("setting wallets up needs --ca-key and --ca-cert (the host's CA, approved by governance): a wallet opens only for a certified user".into());
        };
        let read = |path: &str, max: usize| -> Result<String, Box<dyn std::error::Error>> {
            let len = std::fs::metadata(path)?.len();
            if len > max as u64 {
                return Err(format!("{path} is {len} bytes, at most {max}").into());
            }
            Ok(std::fs::read_to_string(path)?)
        };
        let key =
            paychain_client::ca::key_from_pem(&read(key, paychain_client::ca::MAX_KEY_PEM_BYTES)?)?;
        let cert = ca::from_pem(&read(cert, 4 * ca::MAX_CERT_BYTES)?)?;
        Ok(HostCa { key, cert })
    }

    /// The host's registration of `user`'s user certificate (issued now, valid a year; its
    /// encryption key derived from `enc_seed`), with the user's consent.
    fn register_call(
        &self,
        chain_id: &ChainId,
        user: &SecretKey,
        enc_seed: &str,
    ) -> Result<Call, Box<dyn std::error::Error>> {
        let now_s = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        let (not_before_s, not_after_s) = paychain_client::ca::validity(now_s, 365)?;
        let der = paychain_client::ca::issue(
            &self.key,
            &self.cert,
            &paychain_client::ca::NewParty {
                party_key: user.public_key(),
                encryption_key: KxSecret::from_seed(Hash::digest(enc_seed.as_bytes()).0)
                    .public_key(),
                role: ca::PartyRole::User,
                common_name: format!("user {}", &user.public_key().to_hex()[..16]),
                serial: None,
                not_before_s,
                not_after_s,
            },
        )?;
        let party_signature = ca::sign_registration(user, chain_id, &der);
        Ok(Call::Ca(ca::Call::RegisterPartyCert {
            cert: ca::CertDer::new(der)?,
            party_signature,
        }))
    }
}

/// Sets up `n` users with a verified identity and a CNY wallet hosted by `host`, a bound card, and
/// `top_up` in the wallet (closed loop; see the module docs). The users' keys derive from `seed`
/// (`{seed}/{i}`), so a later run can use the same wallets again; each has used its nonce 0.
async fn setup_wallets(
    client: &Client,
    http: &HttpClient,
    chain_id: &ChainId,
    (host, ca): (&SecretKey, &HostCa),
    seed: &str,
    n: u64,
    top_up: Amount,
) -> Result<Vec<SecretKey>, Box<dyn std::error::Error>> {
    let host_pk = host.public_key();
    let currency = top_up.currency;
    let sign = |key: &SecretKey, nonce: u64, call: Call| sign(chain_id, key, nonce, call);
    let users = payer_keys(seed, n);
    let card = |i: u64| Hash::digest(format!("{seed}/card/{i}").as_bytes());
    let mut next_height = client.status().await?.height + 1;
    let t = Instant::now();

    // 1. The host verifies each user, registers its certificate, opens the wallet and requests the
    // card binding.
    const HOST_TXS: usize = 4;
    let first = client.account(&host_pk).await?.nonce;
    let mut host_txs = Vec::with_capacity(HOST_TXS * n as usize);
    let mut bindings = Vec::with_capacity(n as usize);
    for (i, user) in users.iter().enumerate() {
        let (i, pk) = (i as u64, user.public_key());
        let h = |what: &str| Hash::digest(format!("{seed}/{what}/{i}").as_bytes());
        let nonce = first + HOST_TXS as u64 * i;
        host_txs.push(sign(
            host,
            nonce,
            Call::Wallet(wallet::Call::VerifyUser {
                user: pk,
                name_hash: h("name"),
                id_hash: h("id"),
                phone_hash: h("phone"),
            }),
        ));
        let register = ca.register_call(chain_id, user, &format!("{seed}/enc/{i}"))?;
        host_txs.push(sign(host, nonce + 1, register));
        host_txs.push(sign(
            host,
            nonce + 2,
            Call::Wallet(wallet::Call::OpenWallet { user: pk, currency }),
        ));
        // The request the CLI's `wallet bind-card` sends, with the nonce planned here.
        let otp = format!("{:06}", i % 1_000_000);
        let request = card_binding_request(&host_pk, nonce + 3, pk, card(i), &otp);
        host_txs.push(sign(host, nonce + 3, request.call));
        bindings.push((request.binding_id, otp));
    }
    eprintln!(
        "setting up {n} wallets: verify, certify, open, request card binding ({} host txs) ...",
        host_txs.len()
    );
    let check = |failed: (u64, Option<String>), what: &str| -> Result<(), String> {
        match failed {
            (0, _) => Ok(()),
            (k, first) => Err(format!("{k} {what} failed: {}", first.unwrap_or_default())),
        }
    };
    // 2. Each user confirms its binding (the user's nonce 0).
    let confirms: Vec<SignedTx> = users
        .iter()
        .zip(&bindings)
        .map(|(user, (binding_id, otp))| sign(user, 0, confirm_card_call(*binding_id, otp.clone())))
        .collect();
    // Steps 1 and 2 go in rounds: a binding expires CARD_BINDING_TTL_BLOCKS (300) after its
    // request, which a fast chain reaches before the host has requested thousands of them (a round
    // is HOST_TXS host transactions per user; 1,500 users' 6,000 outlived 300 blocks on a loaded
    // 4-validator private chain).
    const SETUP_ROUND: usize = 500;
    for start in (0..users.len()).step_by(SETUP_ROUND) {
        let end = (start + SETUP_ROUND).min(users.len());
        let round_txs = &host_txs[HOST_TXS * start..HOST_TXS * end];
        closed_loop(
            client,
            http,
            &host_pk,
            first + (HOST_TXS * start) as u64,
            round_txs,
        )
        .await?;
        let hashes = round_txs.iter().map(SignedTx::hash).collect();
        check(
            await_hashes(client, &mut next_height, hashes, Duration::from_secs(60)).await?,
            "host setup txs",
        )?;
        if start == 0 {
            eprintln!("  users confirm their card bindings (rounds of {SETUP_ROUND}) ...");
        }
        let mut pending: Vec<usize> = (start..end).collect();
        for attempt in 0.. {
            if pending.is_empty() {
                break;
            }
            if attempt == 50 {
                return Err(
                    format!("{} card confirmations refused at submit", pending.len()).into(),
                );
            }
            let mut refused_all = Vec::new();
            for chunk in pending.chunks(256) {
                let batch: Vec<SignedTx> = chunk.iter().map(|i| confirms[*i].clone()).collect();
                let (refused, _) = submit_batch(http, &batch).await;
                refused_all.extend(refused.into_iter().map(|k| chunk[k]));
            }
            pending = refused_all;
            if !pending.is_empty() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        let hashes = confirms[start..end].iter().map(SignedTx::hash).collect();
        check(
            await_hashes(client, &mut next_height, hashes, Duration::from_secs(60)).await?,
            "card confirmations",
        )?;
    }

    // 3. The host tops each wallet up from the bound card.
    let first = client.account(&host_pk).await?.nonce;
    let wallets: Vec<Hash> = users
        .iter()
        .map(|u| wallet::wallet_id(&u.public_key(), currency))
        .collect();
    let top_ups: Vec<SignedTx> = wallets
        .iter()
        .enumerate()
        .map(|(i, w)| {
            sign(
                host,
                first + i as u64,
                Call::Wallet(wallet::Call::TopUp {
                    wallet: *w,
                    amount: top_up,
                    card_hash: card(i as u64),
                    // Each user instructs its own top-up.
                    mandate: instruct_top_up(&users[i], chain_id, w, &top_up, &card(i as u64)),
                }),
            )
        })
        .collect();
    eprintln!(
        "  top-ups of {} {} ...",
        top_up.value,
        top_up.currency.code()
    );
    closed_loop(client, http, &host_pk, first, &top_ups).await?;
    let hashes = top_ups.iter().map(SignedTx::hash).collect();
    check(
        await_hashes(client, &mut next_height, hashes, Duration::from_secs(60)).await?,
        "top-ups",
    )?;
    eprintln!("  {n} wallets ready in {:.1}s", t.elapsed().as_secs_f64());
    Ok(users)
}

/// The keys of the `n` users [`setup_wallets`] sets up from `seed`.
fn payer_keys(seed: &str, n: u64) -> Vec<SecretKey> {
    (0..n)
        .map(|i| SecretKey::from_seed(Hash::digest(format!("{seed}/{i}").as_bytes()).0))
        .collect()
}

async fn submit(client: &Client, ledger: &Ledger, hash: Hash, bytes: &[u8]) {
    let at = Instant::now();
    match client.submit_raw(bytes).await {
        Ok(_) => {
            ledger
                .submitted
                .lock()
                .expect("lock")
                .entry(hash)
                .or_insert(at);
        }
        Err(e) => {
            note_refusal(ledger, &e.to_string(), 1);
            ledger.refused.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn note_refusal(ledger: &Ledger, reason: &str, n: u64) {
    // Numbers vary (counts, nonces): keep the words only, so reasons group.
    let key: String = reason
        .split_whitespace()
        .filter(|w| !w.chars().any(|c| c.is_ascii_digit()))
        .take(8)
        .collect::<Vec<_>>()
        .join(" ");
    *ledger
        .refusals
        .lock()
        .expect("lock")
        .entry(key)
        .or_default() += n;
}

/// Submits many transactions in one `paychain_submitTxs` call, all stamped with the call's start.
async fn submit_many(client: &HttpClient, ledger: &Ledger, txs: Vec<(Hash, Vec<u8>)>) {
    let at = Instant::now();
    let hexes: Vec<String> = txs.iter().map(|(_, b)| hex::encode(b)).collect();
    let answer = client.submit_txs(hexes.into()).await;
    match answer {
        Ok(items) if items.len() == txs.len() => {
            let mut refused = 0u64;
            let mut submitted = ledger.submitted.lock().expect("lock");
            for ((hash, _), item) in txs.iter().zip(items) {
                if item.tx_hash.is_some() {
                    submitted.entry(*hash).or_insert(at);
                } else {
                    refused += 1;
                    let msg = item.error.as_ref().map_or("?", |e| e.message.as_str());
                    note_refusal(ledger, msg, 1);
                }
            }
            drop(submitted);
            ledger.refused.fetch_add(refused, Ordering::Relaxed);
        }
        other => {
            let reason = match other {
                Err(e) => e.to_string(),
                Ok(_) => "answer of the wrong length".into(),
            };
            note_refusal(ledger, &reason, txs.len() as u64);
            ledger
                .refused
                .fetch_add(txs.len() as u64, Ordering::Relaxed);
        }
    }
}

#[tokio::main]
async fn main() -> anyhow_like::Result {
    let args = Args::parse();
    let exec = match &args.genesis {
        Some(path) => paychain_client::enclave::Pin::load(std::path::Path::new(path))?.exec_public,
        None => None,
    };
    let _ = EXEC_KEY.set(exec);
    let urls: Vec<String> = args.rpc.split(',').map(|s| s.trim().to_string()).collect();
    let clients: Vec<Client> = urls
        .iter()
        .map(|u| Client::with_timeout(u, Duration::from_secs(10)))
        .collect::<Result<_, _>>()?;
    let status = clients[0].status().await?;
    let chain_id = ChainId::new(status.chain_id.clone());
    let start_height = status.height;
    let pids: Vec<u32> = args
        .pids
        .split(',')
        .filter_map(|p| p.trim().parse().ok())
        .collect();

    if let Some(secs) = args.lookups {
        return lookups(&args, &clients, &pids, secs).await;
    }
    if let Some(n) = args.till {
        return till::run(&args, &urls[0], &clients[0], &chain_id, &pids, n).await;
    }

    // Sign everything up front so signing never competes with the measurement.
    let t_sign = Instant::now();
    let mut group_of = HashMap::new();
    let mut groups = 0;
    let mut setup_secs = None;
    let (mut open_loop, register_plan) = if let Some(n) = args.register {
        let mut platforms = Vec::new();
        for path in args.platform_keys.split(',').filter(|s| !s.is_empty()) {
            let key = keystore::load(path)?.secret_key().clone();
            let pk: PublicKey = key.public_key();
            let nonce = clients[0].account(&pk).await?.nonce;
            platforms.push((key, nonce));
        }
        if platforms.is_empty() {
            return Err("--register needs --platform-keys".into());
        }
        eprintln!(
            "signing {n} merchant registrations from {} platforms ...",
            platforms.len()
        );
        let plan = registrations(&platforms, &chain_id, n);
        for (p, txs) in plan.iter().enumerate() {
            for (h, _) in txs {
                group_of.insert(*h, p);
            }
        }
        groups = plan.len();
        (Vec::new(), plan)
    } else {
        let total = if args.ramp {
            args.rate * args.duration / 2
        } else {
            args.rate * args.duration
        };
        if args.payments {
            let http = HttpClientBuilder::default()
                .request_timeout(Duration::from_secs(30))
                .max_request_size(16 * 1024 * 1024)
                .build(&urls[0])?;
            let t_setup = Instant::now();
            let txs = payments_setup(&args, &clients[0], &http, &chain_id, total).await?;
            setup_secs = Some(t_setup.elapsed().as_secs_f64());
            (txs, Vec::new())
        } else {
            let keys = pipeline_keys(total, args.per_sender);
            let http = HttpClientBuilder::default()
                .request_timeout(Duration::from_secs(30))
                .max_request_size(16 * 1024 * 1024)
                .build(&urls[0])?;
            let t_setup = Instant::now();
            pipeline_setup(&args, &clients[0], &http, &chain_id, &keys).await?;
            setup_secs = Some(t_setup.elapsed().as_secs_f64());
            eprintln!(
                "signing {total} transactions from {} senders ...",
                keys.len()
            );
            (
                pipeline_txs(&keys, total, args.per_sender, &chain_id),
                Vec::new(),
            )
        }
    };
    let sign_secs = t_sign.elapsed().as_secs_f64();
    let planned = (open_loop.len() + register_plan.iter().map(Vec::len).sum::<usize>()) as u64;
    // Followed from here: the wallet setup's blocks (committed before) are no part of the load,
    // and fetching them one by one made the follower miss the whole window after a long setup.
    let start_height = if setup_secs.is_some() {
        clients[0].status().await?.height
    } else {
        start_height
    };

    let ledger = Arc::new(Ledger {
        group_of,
        group_done: (0..groups).map(|_| AtomicU64::new(0)).collect(),
        ..Ledger::default()
    });

    // Follow committed blocks from the start, concurrently with the load.
    let stop = Arc::new(AtomicBool::new(false));
    let follower = {
        // Its own connections: behind thousands of queued submissions on the shared one, the
        // follower would see blocks late and inflate every latency. Blocks are pushed over a
        // WebSocket subscription as node 0 commits them; gaps (and a closed subscription) are
        // filled by fetching blocks by height.
        let client = Client::with_timeout(&urls[0], Duration::from_secs(10))?;
        let ledger = ledger.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let record = |block: &paychain_client::contracts::api::BlockView| {
                let now = Instant::now();
                let failed = block.receipts.iter().filter(|r| r.code != 0).count();
                ledger
                    .failed_receipts
                    .fetch_add(failed as u64, Ordering::Relaxed);
                {
                    let mut map = ledger.committed.lock().expect("lock");
                    for h in &block.tx_hashes {
                        map.insert(*h, now);
                        if let Some(g) = ledger.group_of.get(h) {
                            ledger.group_done[*g].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                ledger.blocks.lock().expect("lock").push(Seen {
                    at: now,
                    time_ms: block.header.time_ms,
                    txs: block.tx_hashes.len(),
                });
            };
            let mut next = start_height + 1;
            let mut sub = client.subscribe_blocks().await.ok();
            while !stop.load(Ordering::Relaxed) {
                let pushed = match sub.as_mut() {
                    Some(s) => {
                        match tokio::time::timeout(Duration::from_millis(200), s.next()).await {
                            Ok(Some(Ok(block))) => Some(block),
                            Ok(_) => {
                                sub = None;
                                None
                            }
                            Err(_) => None,
                        }
                    }
                    None => None,
                };
                let upto = pushed.as_ref().map(|b| b.height);
                // Fill in every block before the pushed one (or poll when there is no subscription).
                while upto.is_none_or(|h| next < h) && !stop.load(Ordering::Relaxed) {
                    match client.block(next).await {
                        Ok(Some(block)) => {
                            record(&block);
                            next += 1;
                        }
                        _ => {
                            if upto.is_none() {
                                if sub.is_none() {
                                    tokio::time::sleep(Duration::from_millis(5)).await;
                                }
                                break;
                            }
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                }
                if let Some(block) = pushed {
                    if block.height == next {
                        record(&block);
                        next += 1;
                    }
                }
            }
        })
    };

    let before: Vec<Option<ProcSample>> = pids.iter().map(|p| sample(*p)).collect();
    let self_before = sample(std::process::id());
    let t0 = Instant::now();
    if let Some(path) = &args.ready_file {
        std::fs::write(path, b"").map_err(|e| format!("writing {path}: {e}"))?;
    }

    let progress = {
        let ledger = ledger.clone();
        let stop = stop.clone();
        let quiet = args.quiet;
        // The bar shows time for a timed load, submissions for registrations.
        let (expected, by_count) = match args.register {
            Some(_) => (planned.max(1), true),
            None => (args.duration.max(1), false),
        };
        tokio::spawn(async move {
            let mut last = (0usize, 0usize);
            let mut tick = tokio::time::interval_at(
                (t0 + Duration::from_secs(1)).into(),
                Duration::from_secs(1),
            );
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                if quiet {
                    continue;
                }
                let s = ledger.submitted.lock().expect("lock").len();
                let c = ledger.committed.lock().expect("lock").len();
                let h = ledger.blocks.lock().expect("lock").len() as u64 + start_height;
                let secs = t0.elapsed().as_secs();
                let done = if by_count { s as u64 } else { secs };
                let filled = ((done * 20) / expected).min(20) as usize;
                eprintln!(
                    "  [{}{}] {:>3}s submitted {:>7} (+{:>5}/s) committed {:>7} (+{:>5}/s) height {} refused {}",
                    "#".repeat(filled),
                    ".".repeat(20 - filled),
                    secs,
                    s,
                    s - last.0,
                    c,
                    c.saturating_sub(last.1),
                    h,
                    ledger.refused.load(Ordering::Relaxed)
                );
                last = (s, c);
            }
        })
    };

    let mut not_sent = 0u64;
    if args.register.is_some() {
        // Closed loop per platform: at most `window` registrations in flight each.
        let mut tasks = Vec::new();
        for (p, txs) in register_plan.into_iter().enumerate() {
            let client = clients[p % clients.len()].clone();
            let ledger = ledger.clone();
            let window = args.window.max(1);
            tasks.push(tokio::spawn(async move {
                for (k, (hash, bytes)) in txs.into_iter().enumerate() {
                    while k as u64 >= ledger.group_done[p].load(Ordering::Relaxed) + window {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    submit(&client, &ledger, hash, &bytes).await;
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    } else {
        let interval = Duration::from_secs_f64(1.0 / args.rate.max(1) as f64);
        // Open loop: never slow down for the chain; when the generator itself falls behind the
        // schedule (both cores busy), stop at the end of the period and report what was not sent.
        let cutoff = t0 + Duration::from_secs(args.duration) + Duration::from_millis(500);
        let mut handles = Vec::new();
        let due_at = |k: usize| {
            if args.ramp {
                // k transactions are due by t when rate * t^2 / (2 * duration) = k.
                t0 + Duration::from_secs_f64(
                    (2.0 * args.duration as f64 * k as f64 / args.rate.max(1) as f64).sqrt(),
                )
            } else {
                t0 + interval.mul_f64(k as f64)
            }
        };
        if args.batch > 1 {
            // Whatever is due when the generator wakes goes out in one call per node (at most
            // --batch each), to the nodes in turn.
            let batchers: Vec<HttpClient> = urls
                .iter()
                .map(|u| {
                    HttpClientBuilder::default()
                        .request_timeout(Duration::from_secs(10))
                        .max_request_size(16 * 1024 * 1024)
                        .build(u)
                })
                .collect::<Result<_, _>>()?;
            let mut txs = std::mem::take(&mut open_loop)
                .into_iter()
                .enumerate()
                .peekable();
            let mut turn = 0usize;
            while let Some((k, _)) = txs.peek() {
                let due = due_at(*k);
                if Instant::now() > cutoff {
                    not_sent = planned - *k as u64;
                    break;
                }
                tokio::time::sleep_until(due.into()).await;
                // Everything due by now (and at least this one), in calls of at most --batch.
                let now = Instant::now();
                let mut ready = Vec::new();
                while let Some((k, _)) = txs.peek() {
                    if due_at(*k) > now && !ready.is_empty() {
                        break;
                    }
                    if let Some((_, tx)) = txs.next() {
                        ready.push(tx);
                    }
                }
                let per_node = ready.len().div_ceil(urls.len()).clamp(1, args.batch);
                while !ready.is_empty() {
                    let rest = ready.split_off(per_node.min(ready.len()));
                    let chunk = std::mem::replace(&mut ready, rest);
                    let client = batchers[turn % batchers.len()].clone();
                    turn += 1;
                    let ledger = ledger.clone();
                    handles.push(tokio::spawn(async move {
                        submit_many(&client, &ledger, chunk).await;
                    }));
                }
                // Gather for a few ms: fewer, larger calls (each stamped when it is sent).
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        for (k, (hash, bytes)) in open_loop.into_iter().enumerate() {
            let due = if args.ramp {
                // k transactions are due by t when rate * t^2 / (2 * duration) = k.
                t0 + Duration::from_secs_f64(
                    (2.0 * args.duration as f64 * k as f64 / args.rate.max(1) as f64).sqrt(),
                )
            } else {
                t0 + interval.mul_f64(k as f64)
            };
            if Instant::now() > cutoff {
                not_sent = planned - k as u64;
                break;
            }
            let client = clients[k % clients.len()].clone();
            let ledger = ledger.clone();
            tokio::time::sleep_until(due.into()).await;
            handles.push(tokio::spawn(async move {
                submit(&client, &ledger, hash, &bytes).await;
            }));
        }
        for h in handles {
            let _ = h.await;
        }
    }
    let load_secs = t0.elapsed().as_secs_f64();
    let t_load_end = Instant::now();
    let after: Vec<Option<ProcSample>> = pids.iter().map(|p| sample(*p)).collect();
    let self_after = sample(std::process::id());
    // Committed while the load ran (the throughput a sustained load gets, backlog excluded).
    let in_window = ledger.committed.lock().expect("lock").len();

    let want = ledger.submitted.lock().expect("lock").len();
    let deadline = Instant::now() + Duration::from_secs(args.drain);
    loop {
        let done = {
            let c = ledger.committed.lock().expect("lock");
            let s = ledger.submitted.lock().expect("lock");
            s.keys().filter(|h| c.contains_key(*h)).count()
        };
        if done >= want || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = follower.await;
    let _ = progress.await;

    let mut latencies = Vec::new();
    let mut last_commit = t0;
    {
        let c = ledger.committed.lock().expect("lock");
        for (h, at) in ledger.submitted.lock().expect("lock").iter() {
            if let Some(done) = c.get(h) {
                latencies.push(done.saturating_duration_since(*at).as_secs_f64() * 1000.0);
                last_commit = last_commit.max(*done);
            }
        }
    }
    let committed = latencies.len() as u64;
    // Per-second series of our transactions: offered (accepted at submit) and committed.
    let (offered_series, committed_series) = {
        let secs = (t0.elapsed().as_secs() + 1) as usize;
        let mut offered = vec![0u64; secs];
        let mut done = vec![0u64; secs];
        let c = ledger.committed.lock().expect("lock");
        for (h, at) in ledger.submitted.lock().expect("lock").iter() {
            if let Some(i) = offered.get_mut(at.saturating_duration_since(t0).as_secs() as usize) {
                *i += 1;
            }
            if let Some(d) = c.get(h) {
                if let Some(i) = done.get_mut(d.saturating_duration_since(t0).as_secs() as usize) {
                    *i += 1;
                }
            }
        }
        (offered, done)
    };
    // Capacity under a ramp: the offered rate the chain kept up with, i.e. up to the last second t
    // at which (nearly) everything accepted by t - KEPT_UP_LAG_S was committed; the rate is the
    // mean accepted rate of the 3 seconds before t - KEPT_UP_LAG_S. Blocks drain a backlog in
    // bursts, so a peak committed rate alone would flatter the chain.
    const KEPT_UP_LAG_S: usize = 3;
    let kept_up = {
        let cum = |v: &[u64]| {
            v.iter()
                .scan(0u64, |a, x| {
                    *a += x;
                    Some(*a)
                })
                .collect::<Vec<u64>>()
        };
        let (acc, com) = (cum(&offered_series), cum(&committed_series));
        let mut last_ok = None;
        for t in KEPT_UP_LAG_S..acc.len() {
            if (com[t] as f64) < 0.95 * acc[t - KEPT_UP_LAG_S] as f64 {
                break;
            }
            last_ok = Some(t - KEPT_UP_LAG_S);
        }
        last_ok.map_or(0.0, |e| {
            let s = e.saturating_sub(2);
            offered_series[s..=e].iter().sum::<u64>() as f64 / (e - s + 1) as f64
        })
    };
    let saturated = saturated_rate(&offered_series, &committed_series);
    let peak_5s = committed_series
        .windows(5.min(committed_series.len().max(1)))
        .map(|w| w.iter().sum::<u64>() as f64 / w.len() as f64)
        .fold(0.0, f64::max);
    let span = last_commit.duration_since(t0).as_secs_f64().max(load_secs);
    latencies.sort_by(|a, b| a.total_cmp(b));

    // Blocks decided while the load ran: interval (BFT time) and size.
    let window: Vec<(u64, usize)> = ledger
        .blocks
        .lock()
        .expect("lock")
        .iter()
        .filter(|b| b.at >= t0 && b.at <= t_load_end)
        .map(|b| (b.time_ms, b.txs))
        .collect();
    let mut intervals: Vec<f64> = window
        .windows(2)
        .map(|w| w[1].0.saturating_sub(w[0].0) as f64)
        .collect();
    intervals.sort_by(|a, b| a.total_cmp(b));
    let mean_interval = if intervals.is_empty() {
        f64::NAN
    } else {
        intervals.iter().sum::<f64>() / intervals.len() as f64
    };
    let mean_txs = if window.is_empty() {
        f64::NAN
    } else {
        window.iter().map(|b| b.1).sum::<usize>() as f64 / window.len() as f64
    };

    let nodes = node_usage(&pids, &before, &after, load_secs);
    let generator = match (self_before, self_after) {
        (Some(b), Some(a)) => serde_json::json!({
            "cpu_percent": num((a.cpu_s - b.cpu_s) / load_secs * 100.0),
            "peak_rss_mib": num(a.hwm_kib as f64 / 1024.0),
            "sign_s": num(sign_secs),
        }),
        _ => serde_json::Value::Null,
    };

    let end = clients[0].status().await?;
    let height_delta = end.height - start_height;
    let report = serde_json::json!({
        "mode": if args.register.is_some() {
            "register"
        } else if args.payments {
            "payments"
        } else {
            "open_loop"
        },
        "setup_s": setup_secs.map_or(serde_json::Value::Null, num),
        "nodes": urls.len(),
        "target_rate": if args.register.is_some() { serde_json::Value::Null } else { args.rate.into() },
        "duration_s": num(load_secs),
        "planned": planned,
        "not_sent_generator_behind": not_sent,
        "submitted": want,
        "refused_at_submit": ledger.refused.load(Ordering::Relaxed),
        "refusals": *ledger.refusals.lock().expect("lock"),
        "committed": committed,
        "failed_receipts": ledger.failed_receipts.load(Ordering::Relaxed),
        "committed_tx_per_s": num(committed as f64 / span),
        "committed_in_window_tx_per_s": num(in_window as f64 / load_secs),
        "kept_up_tx_per_s": num(kept_up),
        "saturated_tx_per_s": saturated.map_or(serde_json::Value::Null, num),
        "kept_up_lag_s": KEPT_UP_LAG_S,
        "peak_5s_committed_tx_per_s": num(peak_5s),
        "ramp": args.ramp,
        "blocks": height_delta,
        "blocks_per_s": num(height_delta as f64 / t0.elapsed().as_secs_f64()),
        "block_interval_ms": { "mean": num(mean_interval), "p50": num(percentile(&intervals, 0.5)) },
        "txs_per_block_mean": num(mean_txs),
        "latency_ms": {
            "p50": num(percentile(&latencies, 0.50)),
            "p95": num(percentile(&latencies, 0.95)),
            "p99": num(percentile(&latencies, 0.99)),
        },
        "series_per_s": { "accepted": offered_series, "committed": committed_series },
        "node_processes": nodes,
        "generator": generator,
    });
    println!("{report}");
    Ok(())
}

/// `--lookups`: closed-loop enclave lookups, each verified and opened like the CLI's.
async fn lookups(args: &Args, clients: &[Client], pids: &[u32], secs: u64) -> anyhow_like::Result {
    use paychain_client::enclave::{lookup_through, trusted_enclave, Pin};
    let key_path = args
        .platform_keys
        .split(',')
        .find(|s| !s.is_empty())
        .ok_or("--lookups needs --platform-keys")?;
    let key = keystore::load(key_path)?.secret_key().clone();
    let platform = PlatformId::new(args.platform.clone()).map_err(|e| e.to_string())?;
    let merchants: Vec<MerchantId> = args
        .merchants
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| MerchantId::parse(s.trim()).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    if merchants.is_empty() {
        return Err("--lookups needs --merchants".into());
    }
    let client = clients[0].clone();
    let status = client.status().await?;
    let chain_id = ChainId::new(status.chain_id.clone());
    let pin = Pin::load(std::path::Path::new(args.genesis.as_deref().ok_or(
        "--lookups needs --genesis (the enclave is trusted only as genesis pins it)",
    )?))?;
    pin.check_chain(&chain_id)?;
    let (enclave, _) = trusted_enclave(&client, &pin).await?;
    let height = Arc::new(AtomicU64::new(status.height));
    let stop = Arc::new(AtomicBool::new(false));
    let before: Vec<Option<ProcSample>> = pids.iter().map(|p| sample(*p)).collect();
    let self_before = sample(std::process::id());
    let t0 = Instant::now();
    // The requests name a recent height (the enclave refuses stale ones): refreshed every 500 ms.
    let ticker = {
        let (client, height, stop) = (client.clone(), height.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if let Ok(s) = client.status().await {
                    height.store(s.height, Ordering::Relaxed);
                }
            }
        })
    };
    let end = t0 + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for w in 0..args.concurrency.max(1) {
        let (client, key, platform, merchants, chain_id, height) = (
            client.clone(),
            key.clone(),
            platform.clone(),
            merchants.clone(),
            chain_id.clone(),
            height.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut failed, mut errors) =
                (Vec::new(), 0u64, HashMap::<String, u64>::new());
            let mut i = w;
            while Instant::now() < end {
                let merchant = merchants[i % merchants.len()].clone();
                i += 1;
                let at = Instant::now();
                // The CLI's verified lookup, through the enclave trusted once above.
                let done = lookup_through(
                    &client,
                    &key,
                    &enclave,
                    chain_id.clone(),
                    merchant,
                    platform.clone(),
                    height.load(Ordering::Relaxed),
                )
                .await
                .map(|_| ())
                .map_err(|e| e.to_string());
                match done {
                    Ok(()) => lat.push(at.elapsed().as_secs_f64() * 1000.0),
                    Err(e) => {
                        failed += 1;
                        *errors.entry(e.chars().take(80).collect()).or_default() += 1;
                    }
                }
            }
            (lat, failed, errors)
        }));
    }
    let (mut lat, mut failed, mut errors) = (Vec::new(), 0u64, HashMap::<String, u64>::new());
    for t in tasks {
        let (l, f, e) = t.await?;
        lat.extend(l);
        failed += f;
        for (k, v) in e {
            *errors.entry(k).or_default() += v;
        }
    }
    let took = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = ticker.await;
    let after: Vec<Option<ProcSample>> = pids.iter().map(|p| sample(*p)).collect();
    let self_after = sample(std::process::id());
    lat.sort_by(|a, b| a.total_cmp(b));
    let nodes = node_usage(pids, &before, &after, took);
    let generator = match (self_before, self_after) {
        (Some(b), Some(a)) => serde_json::json!({
            "cpu_percent": num((a.cpu_s - b.cpu_s) / took * 100.0),
            "peak_rss_mib": num(a.hwm_kib as f64 / 1024.0),
        }),
        _ => serde_json::Value::Null,
    };
    let report = serde_json::json!({
        "mode": "lookups",
        "nodes": 1,
        "duration_s": num(took),
        "concurrency": args.concurrency.max(1),
        "merchants": merchants.len(),
        "lookups": lat.len(),
        "failed": failed,
        "errors": errors,
        "lookups_per_s": num(lat.len() as f64 / took),
        "latency_ms": {
            "p50": num(percentile(&lat, 0.50)),
            "p95": num(percentile(&lat, 0.95)),
            "p99": num(percentile(&lat, 0.99)),
        },
        "node_processes": nodes,
        "generator": generator,
    });
    println!("{report}");
    Ok(())
}

/// Service rate once saturated: from the first second the backlog exceeds 2 s of the offered rate
/// to the last commit (the drain after the load runs at the service rate), committed per second;
/// `None` when the chain kept up. The backlog must still exceed that size when the load ends: a
/// stall (a slow round) followed by a burst that drains the backlog is not saturation, and the
/// burst's rate would flatter the chain.
fn saturated_rate(offered_series: &[u64], committed_series: &[u64]) -> Option<f64> {
    let (mut acc, mut com, mut peak) = (0u64, 0u64, 0u64);
    let mut start = None;
    let mut backlog_at_load_end = 0;
    let load_end = offered_series.iter().rposition(|a| *a > 0)?;
    for (t, (a, c)) in offered_series.iter().zip(committed_series).enumerate() {
        acc += a;
        com += c;
        // 2 s of the highest offered rate so far, not of this second's: the load's last second
        // is a partial one, and its few submissions would make any backlog look large.
        peak = peak.max(*a);
        if start.is_none() && peak > 0 && acc.saturating_sub(com) > 2 * peak {
            start = Some((t, com, peak));
        }
        if t == load_end {
            backlog_at_load_end = acc.saturating_sub(com);
        }
    }
    let (t, at_start, rate_at_start) = start?;
    let last = committed_series.iter().rposition(|c| *c > 0)?;
    (last > t && backlog_at_load_end > 2 * rate_at_start)
        .then(|| (com - at_start) as f64 / (last - t) as f64)
}

#[cfg(test)]
mod tests {
    use super::saturated_rate;

    #[test]
    fn saturation_is_a_backlog_that_lasts_to_the_end_of_the_load() {
        // Kept up all along.
        assert_eq!(saturated_rate(&[100; 10], &[100; 10]), None);
        // Capacity 100/s under a ramp to 300/s, then the drain: the service rate comes out.
        let mut offered: Vec<u64> = (1..=10).map(|t| t * 30).collect();
        let mut committed: Vec<u64> = offered.iter().map(|a| (*a).min(100)).collect();
        offered.extend([0; 8]);
        committed.extend([100, 100, 100, 100, 100, 100, 100, 70]);
        let rate = saturated_rate(&offered, &committed).expect("saturated");
        assert!((90.0..=100.0).contains(&rate), "{rate}");
        // Constant overload at 3x capacity.
        let mut offered = vec![300u64; 10];
        let mut committed = vec![100u64; 10];
        offered.extend([0; 20]);
        committed.extend([100; 20]);
        let rate = saturated_rate(&offered, &committed).expect("saturated");
        assert!((95.0..=105.0).contains(&rate), "{rate}");
        // A 3 s stall, then a burst that drains the backlog before the load ends: not saturated,
        // whatever the burst's rate.
        let offered = [100u64; 10];
        let committed = [100, 100, 0, 0, 0, 400, 100, 100, 100, 100];
        assert_eq!(saturated_rate(&offered, &committed), None);
        // A quick ramp whose blocks lag about a second, committed in one burst after a partial last
        // second of load (seen in a bench run): kept up, not saturated at the burst's 3,407/s.
        let offered = [
            113, 342, 561, 795, 1031, 1240, 1484, 1701, 1950, 2146, 22, 0, 0,
        ];
        let committed = [
            84, 285, 593, 448, 954, 773, 1176, 527, 1273, 1865, 0, 3407, 0,
        ];
        assert_eq!(saturated_rate(&offered, &committed), None);
    }
}

/// Minimal error plumbing for a tool binary.
mod anyhow_like {
    pub(crate) type Result = std::result::Result<(), Box<dyn std::error::Error>>;
}
