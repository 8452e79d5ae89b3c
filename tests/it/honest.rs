//! Honest clients for the network fault tests: one thread per genesis platform, each committing
//! merchant registrations one after the other (sign, submit, poll until committed) through "its"
//! node, and resubmitting the very same bytes through the next node when one does not commit
//! within a few seconds (a client whose node is cut off goes elsewhere; a transaction is never
//! signed twice). Every acknowledged commit is recorded with its height and latency, so a test can
//! report honest transactions per second and p99 latency for a window, and check afterwards that
//! each acknowledged transaction is in the chain exactly once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use paychain_contracts::crypto::{Hash, PublicKey, SecretKey};
use paychain_tests::{txs, Rpc, Testnet};
use serde_json::json;

/// A client waits this long for a commit through one node before resubmitting elsewhere.
const RESUBMIT_AFTER: Duration = Duration::from_secs(4);
/// A transaction not committed through any node within this fails the load.
const GIVE_UP_AFTER: Duration = Duration::from_secs(60);
/// How often a client asks whether its transaction is committed (four clients stay well inside
/// a node's per-address call rate).
const POLL: Duration = Duration::from_millis(40);

/// `paychain_tx`, waiting out the node's per-address rate limit (JSON-RPC 5001) when the checks
/// below ask many questions at once.
fn tx_view(rpc: &Rpc, hash: &str) -> Result<serde_json::Value> {
    for _ in 0..100 {
        match rpc.try_call(paychain_api::method::TX, json!([hash]))? {
            Ok(v) => return Ok(v),
            Err(e) if e.code == 5001 => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => bail!("paychain_tx {hash}: {e}"),
        }
    }
    bail!("paychain_tx {hash}: still rate limited after 2 s")
}

/// One acknowledged commit.
#[derive(Debug, Clone)]
pub(crate) struct Acked {
    /// Transaction hash.
    pub(crate) hash: String,
    /// Height of the acknowledged commit.
    pub(crate) height: u64,
    /// When it was first submitted.
    pub(crate) submitted: Instant,
    /// Submission to the first answer that said committed.
    pub(crate) latency: Duration,
}

/// Each client's key and its nonce when the load started.
pub(crate) type ClientKeys = Vec<(PublicKey, u64)>;

/// The honest load: [`HonestLoad::start`], then [`HonestLoad::stop`].
pub(crate) struct HonestLoad {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<Acked>>>,
    threads: Vec<JoinHandle<Result<()>>>,
    /// (client key, its nonce when the load started).
    keys: ClientKeys,
}

/// Rate and latency of the commits of transactions submitted in a window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Figures {
    /// Acknowledged commits per second of the window.
    pub(crate) per_sec: f64,
    /// 99th percentile latency (submission to commit), in ms.
    pub(crate) p99_ms: u128,
    /// Number of commits.
    pub(crate) count: usize,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.1} tx/s, p99 {} ms (n={})",
            self.per_sec, self.p99_ms, self.count
        )
    }
}

impl HonestLoad {
    /// One client per genesis platform of `net`: platform `i` submits through node `i` first.
    pub(crate) fn start(net: &Testnet) -> Result<HonestLoad> {
        Self::start_n(net, net.len())
    }

    /// [`HonestLoad::start`] for the first `clients` platforms and nodes (a network with more
    /// nodes than platforms).
    pub(crate) fn start_n(net: &Testnet, clients: usize) -> Result<HonestLoad> {
        let chain = net.rpc(0).status()?["chain_id"]
            .as_str()
            .context("chain id")?
            .to_owned();
        let rpcs: Vec<Rpc> = (0..clients).map(|i| net.rpc(i)).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let mut threads = Vec::new();
        let mut keys = Vec::new();
        for p in 0..clients {
            let key = net.platform_key(p)?;
            let nonce = net.rpc(p).nonce(&key.public_key())?;
            keys.push((key.public_key(), nonce));
            let client = Client {
                p,
                key,
                nonce,
                chain: chain.clone(),
                rpcs: rpcs.clone(),
            };
            let (stop, acked) = (stop.clone(), acked.clone());
            threads.push(std::thread::spawn(move || client.run(&stop, &acked)));
        }
        Ok(HonestLoad {
            stop,
            acked,
            threads,
            keys,
        })
    }

    /// What was acknowledged so far.
    pub(crate) fn acked(&self) -> Vec<Acked> {
        self.acked
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Waits until `n` more commits are acknowledged than now (progress, not time).
    pub(crate) fn wait_more(&self, n: usize, timeout: Duration) -> Result<()> {
        let start = self.acked().len();
        let deadline = Instant::now() + timeout;
        while self.acked().len() < start + n {
            ensure!(
                Instant::now() < deadline,
                "honest clients acknowledged {} of {n} more commits within {timeout:?}",
                self.acked().len() - start
            );
            ensure!(
                !self.threads.iter().any(JoinHandle::is_finished),
                "an honest client stopped early"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Rate and p99 latency of the transactions submitted in `[from, to)` and acknowledged.
    pub(crate) fn figures(&self, from: Instant, to: Instant) -> Figures {
        let mut lat: Vec<u128> = self
            .acked()
            .iter()
            .filter(|a| a.submitted >= from && a.submitted < to)
            .map(|a| a.latency.as_millis())
            .collect();
        lat.sort_unstable();
        let secs = to.saturating_duration_since(from).as_secs_f64().max(1e-3);
        Figures {
            per_sec: lat.len() as f64 / secs,
            p99_ms: lat
                .get(((lat.len().saturating_sub(1)) as f64 * 0.99).round() as usize)
                .copied()
                .unwrap_or(0),
            count: lat.len(),
        }
    }

    /// Stops the clients (each finishes the transaction it follows) and returns every
    /// acknowledged commit; fails if a client failed.
    pub(crate) fn stop(self) -> Result<(Vec<Acked>, ClientKeys)> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            match t.join() {
                Ok(r) => r?,
                Err(_) => bail!("an honest client panicked"),
            }
        }
        let acked = self
            .acked
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        Ok((acked, self.keys))
    }
}

struct Client {
    p: usize,
    key: SecretKey,
    nonce: u64,
    chain: String,
    rpcs: Vec<Rpc>,
}

impl Client {
    fn run(mut self, stop: &AtomicBool, acked: &Mutex<Vec<Acked>>) -> Result<()> {
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let merchant = SecretKey::from_seed(
                Hash::digest(format!("honest/{}/{}/{n}", self.p, self.nonce).as_bytes()).0,
            )
            .public_key();
            let tx = txs::signed(
                &self.key,
                &self.chain,
                self.nonce,
                txs::register(&merchant, &format!("Honest {}-{}", self.p, self.nonce)),
            );
            let a = self.follow(&tx.to_bytes(), &tx.hash().to_hex())?;
            acked
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(a);
            self.nonce += 1;
            n += 1;
        }
        Ok(())
    }

    /// Submits through node `p`, then the next ones in turn, until a node answers committed.
    fn follow(&self, bytes: &[u8], hash: &str) -> Result<Acked> {
        let submitted = Instant::now();
        let mut attempt = 0usize;
        loop {
            ensure!(
                submitted.elapsed() < GIVE_UP_AFTER,
                "client {}: tx {hash} not committed within {GIVE_UP_AFTER:?}",
                self.p
            );
            let rpc = &self.rpcs[(self.p + attempt) % self.rpcs.len()];
            attempt += 1;
            match rpc.submit(bytes) {
                Ok(Ok(_)) => {}
                // These bytes are pending or committed already (an earlier attempt): follow them.
                Ok(Err(e))
                    if e.message.contains("already pending") || e.message.contains("nonce") => {}
                Ok(Err(e)) => bail!("client {}: tx {hash} refused: {}", self.p, e.message),
                Err(_) => continue,
            }
            let tried = Instant::now();
            while tried.elapsed() < RESUBMIT_AFTER {
                if let Ok(t) = tx_view(rpc, hash) {
                    if t["status"] == "committed" {
                        ensure!(t["receipt"]["code"] == 0, "receipt of {hash}: {t}");
                        return Ok(Acked {
                            hash: hash.to_owned(),
                            height: t["receipt"]["height"].as_u64().context("height")?,
                            submitted,
                            latency: submitted.elapsed(),
                        });
                    }
                }
                std::thread::sleep(POLL);
            }
        }
    }
}

/// Every acknowledged transaction is committed at its acknowledged height on every node in
/// `which`, and each client's nonce moved by exactly its acknowledged count (none twice, none lost).
pub(crate) fn exactly_once(
    net: &Testnet,
    which: &[usize],
    acked: &[Acked],
    keys: &[(PublicKey, u64)],
) -> Result<()> {
    for &i in which {
        for a in acked {
            let t = tx_view(&net.rpc(i), &a.hash)?;
            ensure!(
                t["status"] == "committed" && t["receipt"]["height"] == json!(a.height),
                "node {i}: tx {} acknowledged at {}: {t}",
                a.hash,
                a.height
            );
        }
    }
    // Distinct transactions: the hashes are of distinct (key, nonce) pairs.
    let mut hashes: Vec<&str> = acked.iter().map(|a| a.hash.as_str()).collect();
    hashes.sort_unstable();
    hashes.dedup();
    ensure!(hashes.len() == acked.len(), "a tx was acknowledged twice");
    let total_moved: u64 = keys
        .iter()
        .map(|(k, start)| Ok(net.rpc(which[0]).nonce(k)? - start))
        .sum::<Result<u64>>()?;
    ensure!(
        total_moved == acked.len() as u64,
        "client nonces moved by {total_moved}, acknowledged {}",
        acked.len()
    );
    Ok(())
}
