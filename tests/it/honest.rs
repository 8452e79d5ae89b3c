//! Honest clients for the network fault tests and the attack and fault figures: one thread per
//! client, each committing its transactions one after the other (sign, submit, poll until
//! committed) through "its" node, and resubmitting the very same bytes through the next node when
//! one does not commit within a few seconds (a client whose node is cut off goes elsewhere; a
//! transaction is never signed twice). The clients are either genesis platforms registering
//! merchants ([`HonestLoad::start`]) or payers paying a merchant from funded wallets
//! ([`pay_setup`], [`HonestLoad::start_payments`]). Every acknowledged commit is recorded with its
//! height and latency, so a test can report honest transactions per second and p99 latency for a
//! window, and check afterwards that each acknowledged transaction is in the chain exactly once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use paychain_contracts::crypto::{Hash, PublicKey, SecretKey};
use paychain_contracts::ids::{ChainId, MerchantId, PlatformId};
use paychain_contracts::money::{Amount, Currency};
use paychain_contracts::registry::{self, Route};
use paychain_contracts::tx::{Call, SignedTx};
use paychain_contracts::wallet;
use paychain_tests::{txs, Rpc, Testnet};
use rust_decimal::Decimal;
use serde_json::json;

use crate::PROGRESS;

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
    refused: Arc<AtomicU64>,
    /// What each client is doing now (for a failure's message).
    status: Arc<Mutex<Vec<String>>>,
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

/// Rate and p99 latency of the transactions of `acked` submitted in `[from, to)`.
pub(crate) fn figures(acked: &[Acked], from: Instant, to: Instant) -> Figures {
    let mut lat: Vec<u128> = acked
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

/// A merchant acquired by platform-0 with an accepted record, and what a payment to it names.
#[derive(Clone)]
pub(crate) struct Shop {
    pub(crate) merchant: MerchantId,
    pub(crate) acquirer: PlatformId,
    pub(crate) route: Route,
}

/// A verified user of platform-0 with a CNY wallet, a bound card and a top-up.
#[derive(Clone)]
pub(crate) struct Payer {
    pub(crate) key: SecretKey,
    pub(crate) wallet: Hash,
}

/// Signs and commits `call` from `key` through node `via` with the key's next nonce (setup, no
/// faults yet).
pub(crate) fn commit(
    net: &Testnet,
    via: usize,
    chain: &str,
    key: &SecretKey,
    call: Call,
) -> Result<()> {
    let nonce = net.rpc(via).nonce(&key.public_key())?;
    let tx = txs::signed_call(key, chain, nonce, call);
    let hash = tx.hash().to_hex();
    if let Err(e) = net.rpc(via).submit(&tx.to_bytes())? {
        bail!("setup tx refused: {}", e.message);
    }
    let r = net.rpc(via).wait_committed(&hash, PROGRESS)?;
    ensure!(r["code"] == 0, "setup tx failed: {r}");
    Ok(())
}

/// Through node 0: qualifies platform-0 as a wallet host, registers the merchant of `shop_seed`
/// with a record of platform-0 it accepts, and sets up `payers` payers (key seeds `payer_seed`,
/// `payer_seed + 1`, ...), each verified, with a CNY wallet, a bound card and a top-up of `top_up`.
pub(crate) fn pay_setup(
    net: &Testnet,
    shop_seed: u8,
    payer_seed: u8,
    payers: usize,
    top_up: Decimal,
) -> Result<(Shop, Vec<Payer>)> {
    let chain = net.rpc(0).status()?["chain_id"]
        .as_str()
        .context("chain id")?
        .to_owned();
    net.qualify_wallet_host(0)?;
    let p0 = net.platform_key(0)?;
    let shop_key = SecretKey::from_seed([shop_seed; 32]);
    let merchant = MerchantId::derive(&shop_key.public_key());
    let acquirer = PlatformId::new("platform-0")?;
    let sealed = net.seal(
        &merchant,
        "platform-0",
        1,
        paychain_tests::acquiring_record("48020000", "FAULT-SHOP").as_bytes(),
    )?;
    let route = Route {
        record_version: 1,
        record_hash: registry::payload_hash(&sealed),
    };
    let reg = |call| Call::Registry(call);
    commit(
        net,
        0,
        &chain,
        &p0,
        reg(txs::register(&shop_key.public_key(), "Fault Shop")),
    )?;
    commit(net, 0, &chain, &p0, reg(txs::put(&merchant, &sealed)))?;
    commit(net, 0, &chain, &shop_key, reg(txs::accept("platform-0")))?;
    // platform-0's CA certifies the shop and every payer (one batch): wallets open and payments
    // go through only for certified parties.
    let payer_keys: Vec<SecretKey> = (0..payers)
        .map(|n| SecretKey::from_seed([payer_seed + n as u8; 32]))
        .collect();
    let mut parties = vec![(&shop_key, paychain_contracts::ca::PartyRole::Merchant)];
    parties.extend(
        payer_keys
            .iter()
            .map(|k| (k, paychain_contracts::ca::PartyRole::User)),
    );
    net.certify(0, &parties)?;
    let card = Hash::digest(b"card");
    let amount = Amount {
        value: top_up,
        currency: Currency::CNY,
    };
    let mut out = Vec::new();
    for n in 0..payers {
        let key = SecretKey::from_seed([payer_seed + n as u8; 32]);
        let user = key.public_key();
        let w = |call| Call::Wallet(call);
        commit(
            net,
            0,
            &chain,
            &p0,
            w(wallet::Call::VerifyUser {
                user,
                name_hash: Hash::digest(&[b'n', n as u8]),
                id_hash: Hash::digest(&[b'i', n as u8]),
                phone_hash: Hash::digest(&[b'p', n as u8]),
            }),
        )?;
        commit(
            net,
            0,
            &chain,
            &p0,
            w(wallet::Call::OpenWallet {
                user,
                currency: Currency::CNY,
            }),
        )?;
        let binding =
            wallet::card_binding_id(&p0.public_key(), net.rpc(0).nonce(&p0.public_key())?);
        commit(
            net,
            0,
            &chain,
            &p0,
            w(wallet::Call::RequestCardBinding {
                user,
                card_hash: card,
                otp_commitment: wallet::otp_commitment(&binding, "424242"),
            }),
        )?;
        commit(
            net,
            0,
            &chain,
            &key,
            w(wallet::Call::ConfirmCardBinding {
                binding_id: binding,
                otp: "424242".into(),
            }),
        )?;
        let wallet_id = wallet::wallet_id(&user, Currency::CNY);
        commit(
            net,
            0,
            &chain,
            &p0,
            w(wallet::Call::TopUp {
                wallet: wallet_id,
                amount,
                card_hash: card,
                mandate: wallet::sign_top_up(
                    &key,
                    &ChainId::new(chain.as_str()),
                    &wallet_id,
                    &amount,
                    &card,
                    Hash::digest(wallet_id.as_bytes()),
                ),
            }),
        )?;
        out.push(Payer {
            key,
            wallet: wallet_id,
        });
    }
    Ok((
        Shop {
            merchant,
            acquirer,
            route,
        },
        out,
    ))
}

/// A payment of `cents` from `payer` to `shop` with nonce `nonce` and order reference `order`.
pub(crate) fn payment(
    chain: &str,
    payer: &Payer,
    shop: &Shop,
    nonce: u64,
    cents: i64,
    order: &str,
) -> SignedTx {
    txs::signed_call(
        &payer.key,
        chain,
        nonce,
        Call::Wallet(wallet::Call::Pay {
            from_wallet: payer.wallet,
            merchant_id: shop.merchant.clone(),
            acquirer: shop.acquirer.clone(),
            amount: Amount {
                value: Decimal::new(cents, 2),
                currency: Currency::CNY,
            },
            order_ref: order.to_owned(),
            route: shop.route,
        }),
    )
}

/// What an honest client commits.
#[derive(Clone)]
enum Work {
    /// Merchant registrations signed by a genesis platform.
    Register,
    /// Payments of 0.01 CNY to a shop from a payer's wallet.
    Pay(Box<(Payer, Shop)>),
}

impl HonestLoad {
    /// One client per genesis platform of `net`: platform `i` submits through node `i` first.
    pub(crate) fn start(net: &Testnet) -> Result<HonestLoad> {
        Self::start_n(net, net.len())
    }

    /// [`HonestLoad::start`] for the first `clients` platforms and nodes (a network with more
    /// nodes than platforms).
    pub(crate) fn start_n(net: &Testnet, clients: usize) -> Result<HonestLoad> {
        let mut list = Vec::new();
        for p in 0..clients {
            list.push((net.platform_key(p)?, Work::Register));
        }
        let through: Vec<usize> = (0..clients).collect();
        Self::spawn(net, list, &through)
    }

    /// One client per payer, paying `shop` 0.01 CNY at a time; client `k` submits through
    /// `through[k % len]` first, then the next ones of `through` in turn.
    pub(crate) fn start_payments(
        net: &Testnet,
        shop: &Shop,
        payers: &[Payer],
        through: &[usize],
    ) -> Result<HonestLoad> {
        let list = payers
            .iter()
            .map(|p| {
                (
                    p.key.clone(),
                    Work::Pay(Box::new((p.clone(), shop.clone()))),
                )
            })
            .collect();
        Self::spawn(net, list, through)
    }

    fn spawn(
        net: &Testnet,
        clients: Vec<(SecretKey, Work)>,
        through: &[usize],
    ) -> Result<HonestLoad> {
        ensure!(!through.is_empty(), "honest clients need a node");
        let chain = net.rpc(through[0]).status()?["chain_id"]
            .as_str()
            .context("chain id")?
            .to_owned();
        let rpcs: Vec<Rpc> = through.iter().map(|&i| net.rpc(i)).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(AtomicU64::new(0));
        let status = Arc::new(Mutex::new(vec![String::from("starting"); clients.len()]));
        let mut threads = Vec::new();
        let mut keys = Vec::new();
        for (p, (key, work)) in clients.into_iter().enumerate() {
            let nonce = rpcs[p % rpcs.len()].nonce(&key.public_key())?;
            keys.push((key.public_key(), nonce));
            let client = Client {
                p,
                key,
                nonce,
                chain: chain.clone(),
                rpcs: rpcs.clone(),
                work,
            };
            let (stop, acked, refused) = (stop.clone(), acked.clone(), refused.clone());
            let status = status.clone();
            threads.push(std::thread::spawn(move || {
                client.run(&stop, &acked, &refused, &status)
            }));
        }
        Ok(HonestLoad {
            stop,
            acked,
            threads,
            keys,
            refused,
            status,
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
                "honest clients acknowledged {} of {n} more commits within {timeout:?}; clients now: {}",
                self.acked().len() - start,
                self.status
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .join("; ")
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
        figures(&self.acked(), from, to)
    }

    /// Refusals the clients waited out so far (rate limited, pool full, slowed down).
    pub(crate) fn refusals(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
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
    work: Work,
}

impl Client {
    fn run(
        mut self,
        stop: &AtomicBool,
        acked: &Mutex<Vec<Acked>>,
        refused: &AtomicU64,
        status: &Mutex<Vec<String>>,
    ) -> Result<()> {
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let tx = match &self.work {
                Work::Register => {
                    let merchant = SecretKey::from_seed(
                        Hash::digest(format!("honest/{}/{}/{n}", self.p, self.nonce).as_bytes()).0,
                    )
                    .public_key();
                    txs::signed(
                        &self.key,
                        &self.chain,
                        self.nonce,
                        txs::register(&merchant, &format!("Honest {}-{}", self.p, self.nonce)),
                    )
                }
                Work::Pay(to) => payment(
                    &self.chain,
                    &to.0,
                    &to.1,
                    self.nonce,
                    1,
                    &format!("H-{}-{}", &to.0.key.public_key().to_hex()[..8], self.nonce),
                ),
            };
            let a = self.follow(&tx.to_bytes(), &tx.hash().to_hex(), refused, status)?;
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
    fn follow(
        &self,
        bytes: &[u8],
        hash: &str,
        refused: &AtomicU64,
        status: &Mutex<Vec<String>>,
    ) -> Result<Acked> {
        let submitted = Instant::now();
        let mut attempt = 0usize;
        let say = |what: String| {
            if let Some(s) = status
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .get_mut(self.p)
            {
                *s = format!("{} tx {} {what}", self.p, &hash[..8]);
            }
        };
        loop {
            ensure!(
                submitted.elapsed() < GIVE_UP_AFTER,
                "client {}: tx {hash} not committed within {GIVE_UP_AFTER:?}",
                self.p
            );
            let via = (self.p + attempt) % self.rpcs.len();
            let rpc = &self.rpcs[via];
            attempt += 1;
            let submit = rpc.submit(bytes);
            say(format!(
                "attempt {attempt} via through[{via}] after {:?}: {}",
                submitted.elapsed(),
                match &submit {
                    Ok(Ok(_)) => "admitted".to_owned(),
                    Ok(Err(e)) => format!("refused {}", e.code),
                    Err(e) => format!("no answer ({e:#})").chars().take(120).collect(),
                }
            ));
            match submit {
                Ok(Ok(_)) => {}
                // These bytes are pending or committed already (an earlier attempt): follow them.
                Ok(Err(e))
                    if e.message.contains("already pending") || e.message.contains("nonce") => {}
                // Turned away for now (this address's call rate, a full pool, slowed down):
                // counted, and tried again through the next node.
                Ok(Err(e))
                    if e.code == 5001
                        || e.code == 1012
                        || e.message.contains("mempool is full") =>
                {
                    refused.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(POLL);
                    continue;
                }
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
