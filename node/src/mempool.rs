//! The bounded transaction pool.
//!
//! Admission runs every stateless check once per node (size, decoding, chain id, signature)
//! plus a nonce check against committed state, so proposals can skip re-verifying signatures
//! of transactions that came through here (same hash = same bytes). Each sender's transactions
//! are kept ordered by nonce; a block takes, for each sender, only the run of nonces that
//! continues from the sender's committed nonce.
//!
//! Many transactions at once (a gossip batch, `paychain_submitTxs`, the unknown transactions of a
//! proposal) have their signatures checked in one ZIP-215 batch ([`ed25519_zebra::batch`],
//! which accepts exactly what single verification accepts). A failing batch from a client
//! (`paychain_submitTxs`, [`Mempool::admit_batch`]) is refused whole, so a batch of bad signatures
//! costs the node one batch verification, not one full verification per transaction; a failing
//! batch from gossip or a proposal is re-checked one by one to name the culprits (peers and
//! proposers are known nodes). A full pool refuses at once, before any signature work.
//!
//! Only senders the chain knows get in ([`paychain_contracts::admission::known_sender`], read from
//! the latest committed state by the caller's `sender_nonce`, which answers `None` for an unknown
//! key): an unknown sender is refused ([`Error::UnknownSender`], code 1011) before any signature
//! work, and a sender that keeps failing at the door is slowed down ([`crate::door`], code 1012).
//!
//! Nothing stays for ever and no one can lock the pool: entries expire after
//! [`Config::ttl_secs`] or [`Config::ttl_blocks`], whichever comes first, and when the pool is full a
//! transaction that could go into the next block (its nonce continues its sender's run from the
//! committed nonce) evicts the highest nonce of a sender whose queue has a gap, which no block can
//! take until the gap is filled. So a flood of gapped nonces from fresh keys, however large, cannot keep
//! an executable payment out.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use paychain_api::ErrorCode;
use paychain_contracts::codec::MAX_TX_BYTES;
use paychain_contracts::crypto::{Hash, PublicKey};
use paychain_contracts::ids::ChainId;
use paychain_contracts::tx::{check_stateless, SignedTx, TxError};

use crate::door::Penalties;
use crate::source::IpKey;

/// Below this many signatures a batch is not worth its setup; they are checked one by one.
const MIN_BATCH: usize = 4;

/// Why every transaction of a client's batch is refused when its signatures fail as a batch.
pub const BATCH_REFUSED: &str =
    "a signature in this batch is invalid, so none of it was admitted: check each transaction's signature and resubmit";

/// Mempool limits.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Most transactions held at once.
    pub max_txs: usize,
    /// Most pending transactions per sender.
    pub max_per_sender: usize,
    /// A transaction not committed this many seconds after its admission is dropped.
    #[serde(default = "default_ttl_secs")]
    pub ttl_secs: u64,
    /// A transaction not committed this many blocks after its admission is dropped.
    #[serde(default = "default_ttl_blocks")]
    pub ttl_blocks: u64,
    /// Door failures (unknown sender, nonce too far ahead) one sender may have in a row before it
    /// is slowed down ([`crate::door`]).
    #[serde(default = "default_door_failure_burst")]
    pub door_failure_burst: u32,
    /// Door failures a second a slowed-down sender is allowed (its bucket's refill); 0: no
    /// slowing down.
    #[serde(default = "default_door_failures_per_sec")]
    pub door_failures_per_sec: u32,
    /// Most senders whose door failures are tracked (the least recently failed are forgotten).
    #[serde(default = "default_door_max_tracked")]
    pub door_max_tracked: usize,
    /// Door failures the transactions one address submits over RPC may have at once before the
    /// address is slowed down ([`crate::door`]): every transaction it sends that is too large,
    /// undecodable, badly signed, from an unknown sender, or with a nonce too far
    /// ahead. Beyond it, a batch's failures go into debt down to minus this.
    #[serde(default = "default_door_failure_burst_per_ip")]
    pub door_failure_burst_per_ip: u32,
    /// Door failures a second a slowed-down address is allowed; 0: no slowing down by address.
    #[serde(default = "default_door_failures_per_sec_per_ip")]
    pub door_failures_per_sec_per_ip: u32,
    /// Most addresses whose door failures are tracked (the least recently failed are forgotten).
    #[serde(default = "default_door_max_tracked_ips")]
    pub door_max_tracked_ips: usize,
    /// Addresses never slowed down by address: the platform's own gateways and relays, which submit
    /// for many users (a user that sends garbage through them would otherwise slow down all the
    /// others). Their senders are still slowed down one by one.
    #[serde(default)]
    pub door_exempt_ips: Vec<std::net::IpAddr>,
}

fn default_door_failure_burst_per_ip() -> u32 {
    128
}

fn default_door_failures_per_sec_per_ip() -> u32 {
    32
}

fn default_door_max_tracked_ips() -> usize {
    10_000
}

fn default_door_failure_burst() -> u32 {
    16
}

fn default_door_failures_per_sec() -> u32 {
    2
}

fn default_door_max_tracked() -> usize {
    10_000
}

fn default_ttl_secs() -> u64 {
    120
}

fn default_ttl_blocks() -> u64 {
    1200
}

impl Default for Config {
    /// 20,000 transactions: two of the largest blocks (`consensus.max_block_txs`), several seconds
    /// of a node's capacity. Beyond that a payment would queue for tens of seconds; refusing it at
    /// the door ("mempool is full: retry later", before any signature work) keeps latency bounded
    /// and leaves the CPU to committing. With 100,000, a 1-validator node flooded at twice its
    /// capacity spent a third of its CPU admitting transactions it could not commit for 30 s.
    fn default() -> Self {
        Self {
            max_txs: 20_000,
            max_per_sender: 64,
            ttl_secs: default_ttl_secs(),
            ttl_blocks: default_ttl_blocks(),
            door_failure_burst: default_door_failure_burst(),
            door_failures_per_sec: default_door_failures_per_sec(),
            door_max_tracked: default_door_max_tracked(),
            door_failure_burst_per_ip: default_door_failure_burst_per_ip(),
            door_failures_per_sec_per_ip: default_door_failures_per_sec_per_ip(),
            door_max_tracked_ips: default_door_max_tracked_ips(),
            door_exempt_ips: Vec::new(),
        }
    }
}

/// Why a transaction was refused at the door.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("transaction of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: usize, max: usize },
    #[error("undecodable transaction: {0}")]
    Decode(String),
    #[error("{0}")]
    Invalid(String),
    #[error("replayed or stale nonce {got}: the account's next nonce is {expected}")]
    StaleNonce { expected: u64, got: u64 },
    #[error("nonce {got} is too far ahead: the account's next nonce is {expected} and at most {window} may be pending")]
    NonceTooHigh {
        expected: u64,
        got: u64,
        window: u64,
    },
    #[error("a different transaction with nonce {nonce} from this sender is already pending")]
    NonceTaken { nonce: u64 },
    #[error("transaction {0} is already pending")]
    Duplicate(Hash),
    #[error("sender has {0} pending transactions, the per-sender limit")]
    SenderFull(usize),
    #[error("mempool is full ({0} transactions): retry later")]
    Full(usize),
    #[error("sender {0} is not known to this chain: {hint}", hint = paychain_contracts::admission::UNKNOWN_SENDER_HINT)]
    UnknownSender(PublicKey),
    #[error("sender {sender} failed at the door too often: slowed down, retry after {retry_after_ms} ms")]
    SlowedDown {
        sender: PublicKey,
        retry_after_ms: u64,
    },
}

impl Error {
    /// Stable JSON-RPC error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::TooLarge { .. } => ErrorCode::TxTooLarge,
            Error::Decode(_) => ErrorCode::TxDecode,
            Error::Invalid(_) => ErrorCode::TxInvalid,
            Error::StaleNonce { .. } => ErrorCode::StaleNonce,
            Error::NonceTooHigh { .. } => ErrorCode::NonceTooHigh,
            Error::NonceTaken { .. } => ErrorCode::NonceTaken,
            Error::Duplicate(_) => ErrorCode::Duplicate,
            Error::SenderFull(_) => ErrorCode::SenderFull,
            Error::Full(_) => ErrorCode::MempoolFull,
            Error::UnknownSender(_) => ErrorCode::UnknownSender,
            Error::SlowedDown { .. } => ErrorCode::SlowedDown,
        }
    }

    /// Whether this refusal counts against the address that submitted the transaction (see
    /// [`crate::door`]): what the submitter got wrong, not what can befall an honest client (a
    /// stale or duplicate resubmission, a full pool or sender queue, a nonce taken).
    pub fn counts_against_address(&self) -> bool {
        matches!(
            self,
            Error::TooLarge { .. }
                | Error::Decode(_)
                | Error::Invalid(_)
                | Error::NonceTooHigh { .. }
                | Error::UnknownSender(_)
        )
    }
}

struct Entry {
    tx: SignedTx,
    size: usize,
    /// Admission sequence number, to tell this admission from an earlier one of the same hash.
    seq: u64,
}

/// One sender's pending transactions by nonce, and its committed next nonce when last seen.
#[derive(Default)]
struct Queue {
    base: u64,
    txs: BTreeMap<u64, Hash>,
}

impl Queue {
    /// True when a block could take every pending transaction of this sender in turn.
    fn contiguous(&self) -> bool {
        match (self.txs.first_key_value(), self.txs.last_key_value()) {
            (Some((&first, _)), Some((&last, _))) => {
                first == self.base && last - first + 1 == self.txs.len() as u64
            }
            _ => true,
        }
    }

    /// True when `nonce` would extend the run that starts at the committed nonce.
    fn continues(&self, nonce: u64) -> bool {
        if nonce == self.base {
            return true;
        }
        self.contiguous()
            && self
                .txs
                .last_key_value()
                .is_some_and(|(&last, _)| nonce == last + 1)
    }
}

#[derive(Default)]
struct Inner {
    by_hash: HashMap<Hash, Entry>,
    by_sender: BTreeMap<PublicKey, Queue>,
    /// Senders whose queue has a gap: their transactions are the first evicted when full.
    gapped: BTreeSet<PublicKey>,
    /// (admitted at, height then, seq, hash) in admission order, for expiry.
    admitted: VecDeque<(Instant, u64, u64, Hash)>,
    next_seq: u64,
    /// Last committed height seen.
    height: u64,
}

impl Inner {
    fn refresh_gap(&mut self, sender: &PublicKey) {
        let gapped = self.by_sender.get(sender).is_some_and(|q| !q.contiguous());
        if gapped {
            self.gapped.insert(*sender);
        } else {
            self.gapped.remove(sender);
        }
        if self.by_sender.get(sender).is_some_and(|q| q.txs.is_empty()) {
            self.by_sender.remove(sender);
        }
    }

    /// Removes one pending transaction.
    fn remove(&mut self, hash: &Hash) -> Option<Entry> {
        let entry = self.by_hash.remove(hash)?;
        let sender = entry.tx.tx.sender;
        if let Some(q) = self.by_sender.get_mut(&sender) {
            q.txs.remove(&entry.tx.tx.nonce);
        }
        self.refresh_gap(&sender);
        Some(entry)
    }

    /// Evicts the highest nonce of a gapped sender; false when no sender has a gap.
    fn evict_gapped(&mut self) -> bool {
        let Some(sender) = self.gapped.first().copied() else {
            return false;
        };
        let victim = self
            .by_sender
            .get(&sender)
            .and_then(|q| q.txs.last_key_value().map(|(_, h)| *h));
        match victim {
            Some(h) => self.remove(&h).is_some(),
            None => {
                self.gapped.remove(&sender);
                false
            }
        }
    }
}

/// The pool. Shared between RPC, gossip and the consensus host.
/// A chain-specific stateless rule every transaction must pass before it is kept or voted for
/// (e.g. "record payloads are sealed" on chains with an enclave).
pub type Policy = Box<dyn Fn(&SignedTx) -> Result<(), String> + Send + Sync>;

pub struct Mempool {
    config: Config,
    chain_id: ChainId,
    policy: Policy,
    inner: Mutex<Inner>,
    admitted: Arc<Notify>,
    penalties: Mutex<Penalties>,
    /// The same by submitting address (RPC).
    addresses: Mutex<Penalties<IpKey>>,
    metrics: std::sync::OnceLock<crate::metrics::Metrics>,
}

impl Mempool {
    pub fn new(config: Config, chain_id: ChainId) -> Self {
        Self::with_policy(config, chain_id, Box::new(|_| Ok(())))
    }

    /// A pool that also applies `policy` to every transaction.
    pub fn with_policy(config: Config, chain_id: ChainId, policy: Policy) -> Self {
        let penalties = Penalties::new(
            config.door_failure_burst,
            config.door_failures_per_sec,
            config.door_max_tracked,
        );
        let addresses = Penalties::with_debt(
            config.door_failure_burst_per_ip,
            config.door_failures_per_sec_per_ip,
            config.door_max_tracked_ips,
        );
        Self {
            config,
            chain_id,
            policy,
            inner: Mutex::new(Inner::default()),
            admitted: Arc::new(Notify::new()),
            penalties: Mutex::new(penalties),
            addresses: Mutex::new(addresses),
            metrics: std::sync::OnceLock::new(),
        }
    }

    /// Counts door refusals (unknown sender, slowed down) in `metrics` from now on (set once).
    pub fn set_metrics(&self, metrics: crate::metrics::Metrics) {
        let _ = self.metrics.set(metrics);
    }

    fn penalties(&self) -> std::sync::MutexGuard<'_, Penalties> {
        self.penalties.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn addresses(&self) -> std::sync::MutexGuard<'_, Penalties<IpKey>> {
        self.addresses.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long the address `from` must wait before its next submission is looked at, if its
    /// submissions failed at the door too often (see [`crate::door`]). Counted in `/metrics`.
    pub fn address_blocked(&self, from: IpKey) -> Option<Duration> {
        if self.exempt(from) {
            return None;
        }
        let wait = self.addresses().blocked(&from, Instant::now());
        if wait.is_some() {
            if let Some(m) = self.metrics.get() {
                m.door_address_refused();
            }
        }
        wait
    }

    /// Counts the refusals in `results` that are the submitter's doing against its address `from`.
    pub fn address_results<'a>(&self, from: IpKey, results: impl IntoIterator<Item = &'a Error>) {
        let failed = results
            .into_iter()
            .filter(|e| e.counts_against_address())
            .count();
        self.address_failed(from, failed);
    }

    /// Counts `n` door failures against the address `from`.
    pub fn address_failed(&self, from: IpKey, n: usize) {
        if n == 0 || self.exempt(from) {
            return;
        }
        self.addresses().fail_n(&from, n, Instant::now());
        if let Some(m) = self.metrics.get() {
            m.door_address_failures(n as u64);
        }
    }

    /// The nonce `sender`'s next transaction should take: `committed` (its committed next nonce),
    /// past the transactions of its this pool holds in a run from there (a node that signs with a
    /// key its operator also uses must not take a nonce one of the operator's pending ones holds).
    pub fn next_nonce(&self, sender: &PublicKey, committed: u64) -> u64 {
        let inner = self.lock();
        let mut next = committed;
        if let Some(q) = inner.by_sender.get(sender) {
            while q.txs.contains_key(&next) {
                next += 1;
            }
        }
        next
    }

    /// Whether `from` is one of `door_exempt_ips`.
    fn exempt(&self, from: IpKey) -> bool {
        self.config
            .door_exempt_ips
            .iter()
            .any(|ip| IpKey::of(*ip) == from)
    }

    /// Addresses whose door failures are tracked now.
    pub fn tracked_addresses(&self) -> usize {
        self.addresses().tracked()
    }

    /// The door's checks that need no signature: a slowed-down sender, then an unknown one
    /// (`sender_nonce` answers `None`); the sender's committed next nonce otherwise.
    fn door(
        &self,
        sender: &PublicKey,
        sender_nonce: impl FnOnce(&PublicKey) -> Option<u64>,
    ) -> Result<u64, Error> {
        let now = Instant::now();
        if let Some(wait) = self.penalties().blocked(sender, now) {
            self.count_refusal("slowed_down");
            return Err(Error::SlowedDown {
                sender: *sender,
                retry_after_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1),
            });
        }
        match sender_nonce(sender) {
            Some(nonce) => Ok(nonce),
            None => {
                self.penalties().fail(sender, now);
                self.count_refusal("unknown_sender");
                Err(Error::UnknownSender(*sender))
            }
        }
    }

    fn count_refusal(&self, reason: &'static str) {
        if let Some(m) = self.metrics.get() {
            m.door_refused(reason);
        }
    }

    /// Signalled whenever a transaction is admitted (a waiting proposer wakes up).
    pub fn notifier(&self) -> Arc<Notify> {
        self.admitted.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters (every update is a few map operations), so poisoning is ignored.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Number of pending transactions.
    pub fn len(&self) -> usize {
        self.lock().by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when no further transaction is admitted until some are committed or expire: the pool is
    /// at its bound and no sender has a gap to evict.
    pub fn is_full(&self) -> bool {
        let inner = self.lock();
        inner.by_hash.len() >= self.config.max_txs && inner.gapped.is_empty()
    }

    /// True if `hash` is pending here (so its signature was verified at admission).
    pub fn contains(&self, hash: &Hash) -> bool {
        self.lock().by_hash.contains_key(hash)
    }

    /// Decodes and admits raw bytes. `sender_nonce` is the sender's committed next nonce, `None`
    /// when the chain does not know the sender.
    pub fn admit_bytes(
        &self,
        bytes: &[u8],
        sender_nonce: impl FnOnce(&PublicKey) -> Option<u64>,
    ) -> Result<(Hash, SignedTx), Error> {
        if bytes.len() > MAX_TX_BYTES {
            return Err(Error::TooLarge {
                len: bytes.len(),
                max: MAX_TX_BYTES,
            });
        }
        let tx = SignedTx::from_bytes(bytes).map_err(|e| Error::Decode(e.to_string()))?;
        let hash = self.admit(tx.clone(), bytes.len(), sender_nonce)?;
        Ok((hash, tx))
    }

    /// Admits a decoded transaction of encoded size `size`.
    pub fn admit(
        &self,
        tx: SignedTx,
        size: usize,
        sender_nonce: impl FnOnce(&PublicKey) -> Option<u64>,
    ) -> Result<Hash, Error> {
        let hash = tx.hash();
        self.precheck(&hash)?;
        let expected = self.door(&tx.tx.sender, sender_nonce)?;
        // The expensive check runs outside the lock.
        self.check(&tx).map_err(Error::Invalid)?;
        self.insert(hash, tx, size, expected)
    }

    /// What is refused before any signature work: a transaction already pending, a full pool.
    fn precheck(&self, hash: &Hash) -> Result<(), Error> {
        let inner = self.lock();
        if inner.by_hash.contains_key(hash) {
            return Err(Error::Duplicate(*hash));
        }
        if inner.by_hash.len() >= self.config.max_txs && inner.gapped.is_empty() {
            return Err(Error::Full(inner.by_hash.len()));
        }
        Ok(())
    }

    /// Nonce checks and insertion of a transaction that passed the stateless checks.
    fn insert(&self, hash: Hash, tx: SignedTx, size: usize, expected: u64) -> Result<Hash, Error> {
        let sender = tx.tx.sender;
        let nonce = tx.tx.nonce;
        if nonce < expected {
            return Err(Error::StaleNonce {
                expected,
                got: nonce,
            });
        }
        let window = self.config.max_per_sender as u64;
        if nonce >= expected.saturating_add(window) {
            // Signed by the sender (a stale nonce is not counted: anyone can replay one).
            self.penalties().fail(&sender, Instant::now());
            return Err(Error::NonceTooHigh {
                expected,
                got: nonce,
                window,
            });
        }
        let mut inner = self.lock();
        if inner.by_hash.contains_key(&hash) {
            return Err(Error::Duplicate(hash));
        }
        let (taken, queued, continues) = match inner.by_sender.get_mut(&sender) {
            Some(q) => {
                q.base = q.base.max(expected);
                (q.txs.contains_key(&nonce), q.txs.len(), q.continues(nonce))
            }
            None => (false, 0, nonce == expected),
        };
        if taken {
            return Err(Error::NonceTaken { nonce });
        }
        if queued >= self.config.max_per_sender {
            return Err(Error::SenderFull(queued));
        }
        if inner.by_hash.len() >= self.config.max_txs {
            // Only a transaction a block could take now makes room, at a gapped sender's expense.
            if !continues || !inner.evict_gapped() {
                return Err(Error::Full(inner.by_hash.len()));
            }
        }
        let queue = inner.by_sender.entry(sender).or_default();
        queue.base = queue.base.max(expected);
        queue.txs.insert(nonce, hash);
        inner.refresh_gap(&sender);
        let seq = inner.next_seq;
        inner.next_seq += 1;
        let height = inner.height;
        inner
            .admitted
            .push_back((Instant::now(), height, seq, hash));
        inner.by_hash.insert(hash, Entry { tx, size, seq });
        drop(inner);
        self.admitted.notify_waiters();
        Ok(hash)
    }

    /// Decodes and admits many raw transactions, with one batch signature check for all of them;
    /// one result per input, in order, each what [`Mempool::admit_bytes`] would have answered.
    pub fn admit_many(
        &self,
        items: &[Vec<u8>],
        sender_nonce: impl Fn(&PublicKey) -> Option<u64>,
    ) -> Vec<Result<Hash, Error>> {
        self.admit_raw(items, sender_nonce, false)
    }

    /// [`Mempool::admit_many`] for a client's batch: if its signatures do not verify as one batch,
    /// none of it is admitted (each is refused, saying so) and no signature is checked one by one.
    pub fn admit_batch(
        &self,
        items: &[Vec<u8>],
        sender_nonce: impl Fn(&PublicKey) -> Option<u64>,
    ) -> Vec<Result<Hash, Error>> {
        self.admit_raw(items, sender_nonce, true)
    }

    fn admit_raw(
        &self,
        items: &[Vec<u8>],
        sender_nonce: impl Fn(&PublicKey) -> Option<u64>,
        whole: bool,
    ) -> Vec<Result<Hash, Error>> {
        let mut out: Vec<Result<Hash, Error>> = Vec::with_capacity(items.len());
        // (index in `items`, hash, tx, sender's committed nonce) of those that passed the cheap
        // checks.
        let mut todo: Vec<(usize, Hash, SignedTx, u64)> = Vec::with_capacity(items.len());
        for (i, bytes) in items.iter().enumerate() {
            if bytes.len() > MAX_TX_BYTES {
                out.push(Err(Error::TooLarge {
                    len: bytes.len(),
                    max: MAX_TX_BYTES,
                }));
                continue;
            }
            let tx = match SignedTx::from_bytes(bytes) {
                Ok(tx) => tx,
                Err(e) => {
                    out.push(Err(Error::Decode(e.to_string())));
                    continue;
                }
            };
            let hash = tx.hash();
            if let Err(e) = self.precheck(&hash) {
                out.push(Err(e));
                continue;
            }
            // The same transaction twice in one batch: the second is a duplicate.
            if todo.iter().any(|(_, h, _, _)| *h == hash) {
                out.push(Err(Error::Duplicate(hash)));
                continue;
            }
            let expected = match self.door(&tx.tx.sender, &sender_nonce) {
                Ok(n) => n,
                Err(e) => {
                    out.push(Err(e));
                    continue;
                }
            };
            out.push(Ok(hash));
            todo.push((i, hash, tx, expected));
        }
        let txs: Vec<&SignedTx> = todo.iter().map(|(_, _, tx, _)| tx).collect();
        let checks = self.check_batch(&txs, whole);
        for ((i, hash, tx, expected), check) in todo.into_iter().zip(checks) {
            out[i] = match check {
                Err(e) => Err(Error::Invalid(e)),
                Ok(()) => {
                    let size = items[i].len();
                    self.insert(hash, tx, size, expected)
                }
            };
        }
        out
    }

    /// The stateless checks of [`Mempool::check`] for many transactions, signatures in one batch;
    /// one result per transaction, in order.
    pub fn check_all(&self, txs: &[&SignedTx]) -> Vec<Result<(), String>> {
        self.check_batch(txs, false)
    }

    /// [`Mempool::check_all`]; with `whole`, a batch whose signatures fail refuses all of them.
    fn check_batch(&self, txs: &[&SignedTx], whole: bool) -> Vec<Result<(), String>> {
        // Chain id and size first (as check_stateless orders them), then signatures, then policy.
        let mut out: Vec<Result<(), String>> = txs
            .iter()
            .map(|tx| {
                if tx.tx.chain_id != self.chain_id {
                    return Err(TxError::WrongChainId {
                        expected: self.chain_id.clone(),
                        got: tx.tx.chain_id.clone(),
                    }
                    .to_string());
                }
                if let Err(e) = tx.tx.sender.validate() {
                    return Err(TxError::WeakSender(e).to_string());
                }
                let len = tx.to_bytes().len();
                if len > MAX_TX_BYTES {
                    return Err(TxError::TooLarge {
                        len,
                        max: MAX_TX_BYTES,
                    }
                    .to_string());
                }
                Ok(())
            })
            .collect();
        let pending: Vec<usize> = (0..txs.len()).filter(|i| out[*i].is_ok()).collect();
        let batch_ok = pending.len() >= MIN_BATCH && verify_batch(pending.iter().map(|i| txs[*i]));
        if whole && !batch_ok && pending.len() >= MIN_BATCH {
            for i in pending {
                out[i] = Err(BATCH_REFUSED.to_owned());
            }
            return out;
        }
        for i in pending {
            if !batch_ok {
                if let Err(e) = txs[i].verify_signature() {
                    out[i] = Err(e.to_string());
                    continue;
                }
            }
            out[i] = (self.policy)(txs[i]);
        }
        out
    }

    /// Checks the transactions of a proposal that this node has not admitted itself (those it
    /// holds were checked at admission, and the same hash means the same bytes): the first
    /// refused one, as (index, reason).
    pub fn check_unknown(&self, txs: &[SignedTx]) -> Result<(), (usize, String)> {
        let unknown: Vec<usize> = {
            let inner = self.lock();
            (0..txs.len())
                .filter(|i| !inner.by_hash.contains_key(&txs[*i].hash()))
                .collect()
        };
        let refs: Vec<&SignedTx> = unknown.iter().map(|i| &txs[*i]).collect();
        for (i, r) in unknown.iter().zip(self.check_all(&refs)) {
            r.map_err(|e| (*i, e))?;
        }
        Ok(())
    }

    /// The stateless checks of admission (chain id, signature, chain policy); proposals run the
    /// same checks on transactions this node has not admitted itself.
    pub fn check(&self, tx: &SignedTx) -> Result<(), String> {
        check_stateless(tx, &self.chain_id).map_err(|e| e.to_string())?;
        (self.policy)(tx)
    }

    /// Picks transactions for a block: round-robin over senders, each contributing its run of
    /// consecutive nonces from its committed nonce, within `max_bytes` and `max_txs`.
    pub fn reap(
        &self,
        max_bytes: usize,
        max_txs: usize,
        account_nonce: impl Fn(&PublicKey) -> u64,
    ) -> Vec<SignedTx> {
        let inner = self.lock();
        let mut queues: VecDeque<(u64, std::collections::btree_map::Range<'_, u64, Hash>)> = inner
            .by_sender
            .iter()
            .map(|(sender, q)| {
                let next = account_nonce(sender);
                (next, q.txs.range(next..))
            })
            .collect();
        let mut out = Vec::new();
        let mut bytes = 0usize;
        while let Some((next, mut range)) = queues.pop_front() {
            if out.len() >= max_txs {
                break;
            }
            let Some((&nonce, hash)) = range.next() else {
                continue;
            };
            if nonce != next {
                continue; // a gap: the rest of this sender's queue must wait
            }
            let Some(entry) = inner.by_hash.get(hash) else {
                continue;
            };
            if bytes + entry.size > max_bytes {
                break;
            }
            bytes += entry.size;
            out.push(entry.tx.clone_hashed());
            queues.push_back((next + 1, range));
        }
        out
    }

    /// Drops committed transactions and everything made stale by the new nonces.
    pub fn remove_committed(&self, txs: &[SignedTx], account_nonce: impl Fn(&PublicKey) -> u64) {
        let mut inner = self.lock();
        let mut senders: Vec<PublicKey> = Vec::new();
        for tx in txs {
            inner.remove(&tx.hash());
            senders.push(tx.tx.sender);
        }
        senders.sort();
        senders.dedup();
        for sender in senders {
            let next = account_nonce(&sender);
            let stale: Vec<Hash> = match inner.by_sender.get_mut(&sender) {
                Some(queue) => {
                    queue.base = queue.base.max(next);
                    let keep = queue.txs.split_off(&next);
                    let stale = std::mem::replace(&mut queue.txs, keep);
                    stale.into_values().collect()
                }
                None => Vec::new(),
            };
            for h in stale {
                inner.by_hash.remove(&h);
            }
            inner.refresh_gap(&sender);
        }
    }

    /// Drops what waited longer than the time or block bound, with `height` the block just
    /// committed; returns how many were dropped.
    pub fn expire(&self, now: Instant, height: u64) -> usize {
        let ttl = Duration::from_secs(self.config.ttl_secs);
        let mut inner = self.lock();
        inner.height = height;
        let mut dropped = 0;
        while let Some(&(at, h, seq, hash)) = inner.admitted.front() {
            let old = now.saturating_duration_since(at) >= ttl
                || height.saturating_sub(h) >= self.config.ttl_blocks;
            if !old {
                break;
            }
            inner.admitted.pop_front();
            if inner.by_hash.get(&hash).is_some_and(|e| e.seq == seq) {
                inner.remove(&hash);
                dropped += 1;
            }
        }
        // Committed and evicted entries leave their admission records behind: keep the list
        // within a few times the pool's bound.
        if inner.admitted.len() > 4 * self.config.max_txs.max(1) {
            let Inner {
                admitted, by_hash, ..
            } = &mut *inner;
            admitted.retain(|(_, _, seq, h)| by_hash.get(h).is_some_and(|e| e.seq == *seq));
        }
        dropped
    }
}

/// True if every signature verifies, checked as one ZIP-215 batch (the same acceptance rule as
/// one by one, so nodes that batch and nodes that don't agree on every signature).
pub fn verify_batch<'a>(txs: impl Iterator<Item = &'a SignedTx>) -> bool {
    let mut batch = ed25519_zebra::batch::Verifier::new();
    for tx in txs {
        let msg = tx.tx.signing_bytes();
        let vk = ed25519_zebra::VerificationKeyBytes::from(tx.tx.sender.0);
        let sig = ed25519_zebra::Signature::from(tx.signature.0);
        batch.queue((vk, sig, &msg[..]));
    }
    batch.verify(rand::thread_rng()).is_ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use paychain_contracts::crypto::{PublicKey, SecretKey};
    use paychain_contracts::governance;
    use paychain_contracts::tx::{Call, Transaction};

    #[test]
    fn an_exempt_gateway_is_never_slowed_down_and_a_slowed_sender_is_not_its_submitters_fault() {
        let (gateway, other): (std::net::IpAddr, std::net::IpAddr) =
            ("10.0.0.7".parse().unwrap(), "10.0.0.8".parse().unwrap());
        // As an operator writes it in [mempool].
        let text = toml::to_string(&Config::default())
            .unwrap()
            .replace("door_exempt_ips = []", "door_exempt_ips = [\"10.0.0.7\"]")
            .replace(
                "door_failure_burst_per_ip = 128",
                "door_failure_burst_per_ip = 4",
            )
            .replace(
                "door_failures_per_sec_per_ip = 32",
                "door_failures_per_sec_per_ip = 1",
            );
        let config: Config = toml::from_str(&text).unwrap();
        assert_eq!(config.door_failure_burst_per_ip, 4);
        assert_eq!(config.door_exempt_ips, vec![gateway]);
        let pool = Mempool::new(config, ChainId::new("t"));
        pool.address_failed(IpKey::of(gateway), 100);
        pool.address_failed(IpKey::of(other), 100);
        assert_eq!(pool.address_blocked(IpKey::of(gateway)), None);
        assert!(pool.address_blocked(IpKey::of(other)).is_some());
        assert_eq!(pool.tracked_addresses(), 1);
        // A sender slowed down for its own failures: the key's doing, whoever relays it.
        let slowed = Error::SlowedDown {
            sender: SecretKey::from_seed([1; 32]).public_key(),
            retry_after_ms: 10,
        };
        assert!(!slowed.counts_against_address());
        assert!(
            Error::UnknownSender(SecretKey::from_seed([2; 32]).public_key())
                .counts_against_address()
        );
    }

    #[test]
    fn the_next_nonce_skips_what_the_pool_holds_from_the_committed_one() {
        let pool = Mempool::new(Config::default(), chain());
        let k = SecretKey::from_seed([1; 32]);
        assert_eq!(pool.next_nonce(&k.public_key(), 5), 5);
        admit(&pool, &tx(&k, 5, chain()), 5).unwrap();
        admit(&pool, &tx(&k, 6, chain()), 5).unwrap();
        admit(&pool, &tx(&k, 9, chain()), 5).unwrap();
        assert_eq!(pool.next_nonce(&k.public_key(), 5), 7);
        assert_eq!(
            pool.next_nonce(&SecretKey::from_seed([2; 32]).public_key(), 0),
            0
        );
    }

    fn chain() -> ChainId {
        ChainId::new("mempool-test")
    }

    fn tx(key: &SecretKey, nonce: u64, chain_id: ChainId) -> SignedTx {
        SignedTx::sign(
            Transaction {
                chain_id,
                sender: key.public_key(),
                nonce,
                call: Call::Governance(governance::Call::UpdateMemberName {
                    name: format!("n{nonce}"),
                }),
            },
            key,
        )
    }

    fn admit(pool: &Mempool, t: &SignedTx, committed: u64) -> Result<Hash, Error> {
        pool.admit_bytes(&t.to_bytes(), |_| Some(committed))
            .map(|(h, _)| h)
    }

    #[test]
    fn refuses_bad_input_at_the_door() {
        let pool = Mempool::new(Config::default(), chain());
        let k = SecretKey::from_seed([1; 32]);
        // garbage and oversize
        assert!(matches!(
            admit_raw(&pool, &[0xde, 0xad]),
            Err(Error::Decode(_))
        ));
        let big = vec![0u8; MAX_TX_BYTES + 1];
        assert!(matches!(
            admit_raw(&pool, &big),
            Err(Error::TooLarge { .. })
        ));
        // wrong chain id
        let e = admit(&pool, &tx(&k, 0, ChainId::new("other")), 0).unwrap_err();
        assert!(e.to_string().contains("chain"), "{e}");
        // bad signature
        let mut t = tx(&k, 0, chain());
        t.signature.0[0] ^= 1;
        let e = admit(&pool, &t, 0).unwrap_err();
        assert!(e.to_string().contains("signature"), "{e}");
        // replay of a committed nonce
        let e = admit(&pool, &tx(&k, 3, chain()), 5).unwrap_err();
        assert_eq!(
            e,
            Error::StaleNonce {
                expected: 5,
                got: 3
            }
        );
        // duplicate and nonce already taken by another tx
        let t = tx(&k, 5, chain());
        admit(&pool, &t, 5).unwrap();
        assert!(matches!(admit(&pool, &t, 5), Err(Error::Duplicate(_))));
        let mut other = Transaction { ..t.tx.clone() };
        other.call = Call::Governance(governance::Call::UpdateMemberName { name: "x".into() });
        let other = SignedTx::sign(other, &k);
        assert_eq!(admit(&pool, &other, 5), Err(Error::NonceTaken { nonce: 5 }));
        assert_eq!(pool.len(), 1);
    }

    #[test]
    fn unknown_senders_are_refused_before_signature_work_and_slowed_down() {
        let pool = Mempool::new(
            Config {
                door_failure_burst: 3,
                door_failures_per_sec: 1,
                ..Config::default()
            },
            chain(),
        );
        let stranger = SecretKey::from_seed([9; 32]);
        let known = SecretKey::from_seed([10; 32]);
        let unknown = |pk: &PublicKey| (*pk == known.public_key()).then_some(0);
        // Refused as unknown, even with a bad signature (no signature work for an unknown key).
        let mut forged = tx(&stranger, 7, chain());
        forged.signature.0[0] ^= 1;
        let e = pool.admit_bytes(&forged.to_bytes(), unknown).unwrap_err();
        assert_eq!(e, Error::UnknownSender(stranger.public_key()));
        assert_eq!(e.code(), ErrorCode::UnknownSender);
        assert!(
            e.to_string().starts_with(&format!(
                "sender {} is not known to this chain: ",
                stranger.public_key()
            )),
            "{e}"
        );
        // In a batch too; after its burst of 3 failures the sender is slowed down.
        let items: Vec<Vec<u8>> = (0..5)
            .map(|n| tx(&stranger, n, chain()).to_bytes())
            .collect();
        let out = pool.admit_batch(&items, unknown);
        assert!(matches!(out[0], Err(Error::UnknownSender(_))), "{out:?}");
        assert!(matches!(out[1], Err(Error::UnknownSender(_))), "{out:?}");
        for r in &out[2..] {
            match r {
                Err(e @ Error::SlowedDown { retry_after_ms, .. }) => {
                    assert!((1..=1000).contains(retry_after_ms), "{e}");
                    assert_eq!(e.code(), ErrorCode::SlowedDown);
                }
                other => panic!("expected slowed down, got {other:?}"),
            }
        }
        assert!(pool.is_empty());
        // A known sender is not affected, and a known sender whose signed nonces run too far
        // ahead is slowed down too; a replayed (stale) nonce does not count against it.
        for _ in 0..5 {
            let e = pool
                .admit_bytes(&tx(&known, 0, chain()).to_bytes(), |_| Some(1))
                .unwrap_err();
            assert!(matches!(e, Error::StaleNonce { .. }), "{e}");
        }
        assert!(pool
            .admit_bytes(&tx(&known, 0, chain()).to_bytes(), unknown)
            .is_ok());
        for n in 0..3 {
            let e = pool
                .admit_bytes(&tx(&known, 1000 + n, chain()).to_bytes(), unknown)
                .unwrap_err();
            assert!(matches!(e, Error::NonceTooHigh { .. }), "{e}");
        }
        let e = pool
            .admit_bytes(&tx(&known, 1, chain()).to_bytes(), unknown)
            .unwrap_err();
        assert!(matches!(e, Error::SlowedDown { .. }), "{e}");
        assert_eq!(pool.len(), 1);
    }

    fn admit_raw(pool: &Mempool, bytes: &[u8]) -> Result<Hash, Error> {
        pool.admit_bytes(bytes, |_| Some(0)).map(|(h, _)| h)
    }

    #[test]
    fn bounded_per_sender_and_in_total() {
        let pool = Mempool::new(
            Config {
                max_txs: 3,
                max_per_sender: 2,
                ..Config::default()
            },
            chain(),
        );
        let a = SecretKey::from_seed([1; 32]);
        let b = SecretKey::from_seed([2; 32]);
        admit(&pool, &tx(&a, 0, chain()), 0).unwrap();
        admit(&pool, &tx(&a, 1, chain()), 0).unwrap();
        // nonce window is max_per_sender wide
        assert!(matches!(
            admit(&pool, &tx(&a, 2, chain()), 0),
            Err(Error::NonceTooHigh { .. })
        ));
        admit(&pool, &tx(&b, 0, chain()), 0).unwrap();
        assert_eq!(admit(&pool, &tx(&b, 1, chain()), 0), Err(Error::Full(3)));
    }

    #[test]
    fn reap_takes_contiguous_nonces_round_robin_and_commit_prunes() {
        let pool = Mempool::new(Config::default(), chain());
        let a = SecretKey::from_seed([1; 32]);
        let b = SecretKey::from_seed([2; 32]);
        for n in [0, 1, 3] {
            admit(&pool, &tx(&a, n, chain()), 0).unwrap();
        }
        for n in [0, 1] {
            admit(&pool, &tx(&b, n, chain()), 0).unwrap();
        }
        let picked = pool.reap(usize::MAX, 100, |_| 0);
        let nonces: Vec<(bool, u64)> = picked
            .iter()
            .map(|t| (t.tx.sender == a.public_key(), t.tx.nonce))
            .collect();
        // a's nonce 3 waits for the gap at 2; senders alternate.
        assert_eq!(nonces.len(), 4);
        assert!(!nonces.contains(&(true, 3)));
        for s in [true, false] {
            let mine: Vec<u64> = nonces.iter().filter(|x| x.0 == s).map(|x| x.1).collect();
            assert_eq!(mine, vec![0, 1]);
        }
        assert_eq!(pool.reap(usize::MAX, 1, |_| 0).len(), 1);
        pool.remove_committed(&picked, |_| 2);
        assert_eq!(pool.len(), 1); // a's nonce 3 stays
        assert!(pool.reap(usize::MAX, 100, |_| 2).is_empty());
        assert_eq!(pool.reap(usize::MAX, 100, |_| 3).len(), 1);
    }

    /// A client's batch of forged signatures costs one batch verification and admits nothing: every
    /// transaction that reached the signature check is refused, saying why; cheap refusals keep
    /// their own reason. The same batch over gossip names the culprit and admits the rest.
    #[test]
    fn client_batch_with_a_bad_signature_is_refused_whole() {
        let pool = Mempool::new(Config::default(), chain());
        let keys: Vec<SecretKey> = (1..=8).map(|i| SecretKey::from_seed([i; 32])).collect();
        let mut items: Vec<Vec<u8>> = keys.iter().map(|k| tx(k, 0, chain()).to_bytes()).collect();
        let mut forged = tx(&keys[0], 1, chain());
        forged.signature.0[0] ^= 1;
        items.push(forged.to_bytes());
        items.push(tx(&keys[1], 1, ChainId::new("other")).to_bytes());
        let out = pool.admit_batch(&items, |_| Some(0));
        assert_eq!(out.len(), items.len());
        for r in &out[..9] {
            assert!(
                matches!(r, Err(Error::Invalid(e)) if e == BATCH_REFUSED),
                "{r:?}"
            );
        }
        assert!(matches!(&out[9], Err(Error::Invalid(e)) if e.contains("chain")));
        assert!(pool.is_empty());
        // The same bytes from a peer: one by one, the forged one alone is refused.
        let out = pool.admit_many(&items, |_| Some(0));
        assert!(out[..8].iter().all(Result::is_ok));
        assert!(matches!(&out[8], Err(Error::Invalid(e)) if e.contains("signature")));
        assert_eq!(pool.len(), 8);
        // A valid client batch is admitted as before.
        let more: Vec<Vec<u8>> = keys.iter().map(|k| tx(k, 1, chain()).to_bytes()).collect();
        assert!(pool
            .admit_batch(&more, |_| Some(0))
            .iter()
            .all(Result::is_ok));
    }

    #[test]
    fn batch_admission_answers_like_one_by_one() {
        let pool = Mempool::new(
            Config {
                max_txs: 9,
                max_per_sender: 4,
                ..Config::default()
            },
            chain(),
        );
        let keys: Vec<SecretKey> = (1..=6).map(|i| SecretKey::from_seed([i; 32])).collect();
        let mut items: Vec<Vec<u8>> = keys.iter().map(|k| tx(k, 0, chain()).to_bytes()).collect();
        let mut forged = tx(&keys[0], 1, chain());
        forged.signature.0[0] ^= 1;
        items.push(forged.to_bytes()); // 6: bad signature, caught by the batch fallback
        items.push(items[1].clone()); // 7: duplicate within the batch
        items.push(tx(&keys[2], 0, ChainId::new("other")).to_bytes()); // 8: wrong chain
        items.push(vec![1, 2, 3]); // 9: garbage
        let out = pool.admit_many(&items, |_| Some(0));
        assert_eq!(out.len(), items.len());
        for (i, r) in out.iter().enumerate().take(6) {
            assert_eq!(
                r.as_ref().unwrap(),
                &SignedTx::from_bytes(&items[i]).unwrap().hash()
            );
        }
        assert!(matches!(&out[6], Err(Error::Invalid(e)) if e.contains("signature")));
        assert!(matches!(&out[7], Err(Error::Duplicate(_))));
        assert!(matches!(&out[8], Err(Error::Invalid(e)) if e.contains("chain")));
        assert!(matches!(&out[9], Err(Error::Decode(_))));
        assert_eq!(pool.len(), 6);
        // Already pending, then full: refused before any signature work.
        let again = pool.admit_many(&items[..1], |_| Some(0));
        assert!(matches!(&again[0], Err(Error::Duplicate(_))));
        let mut more: Vec<Vec<u8>> = (1..=3)
            .map(|n| tx(&keys[0], n, chain()).to_bytes())
            .collect();
        more.push(tx(&keys[1], 1, chain()).to_bytes());
        let out = pool.admit_many(&more, |_| Some(0));
        assert!(out[..3].iter().all(|r| r.is_ok()));
        assert_eq!(out[3], Err(Error::Full(9)));
        assert!(pool.is_full());
        assert!(Error::Full(9).to_string().contains("retry later"));
    }

    #[test]
    fn proposals_check_only_what_the_pool_did_not_admit() {
        let pool = Mempool::new(Config::default(), chain());
        let keys: Vec<SecretKey> = (1..=8).map(|i| SecretKey::from_seed([i; 32])).collect();
        let txs: Vec<SignedTx> = keys.iter().map(|k| tx(k, 0, chain())).collect();
        admit(&pool, &txs[0], 0).unwrap();
        assert_eq!(pool.check_unknown(&txs), Ok(()));
        let mut bad = txs.clone();
        bad[5].signature.0[3] ^= 1;
        let (i, e) = pool.check_unknown(&bad).unwrap_err();
        assert_eq!(i, 5);
        assert!(e.contains("signature"), "{e}");
        // A forged copy of an admitted tx has another hash: checked, refused.
        let mut forged = txs.clone();
        forged[0].tx.nonce = 9;
        assert!(pool.check_unknown(&forged).is_err());
        assert!(verify_batch(txs.iter()));
        assert!(!verify_batch(bad.iter()));
    }

    /// Batch and single checks agree on the edge of ZIP-215 too: a sender key and R of small order
    /// (non-canonical encodings) with s = 0 verify for any message, one by one and in a batch.
    #[test]
    fn batch_and_single_agree_on_small_order_signatures() {
        let keys: Vec<SecretKey> = (1..=8).map(|i| SecretKey::from_seed([i; 32])).collect();
        let mut txs: Vec<SignedTx> = keys.iter().map(|k| tx(k, 0, chain())).collect();
        let mut odd = txs[0].clone();
        odd.tx.sender.0 = [0xff; 32];
        odd.tx.sender.0[0] = 0xee;
        odd.tx.sender.0[31] = 0x7f; // y = p + 1: the identity, not canonically encoded
        odd.signature.0 = [0; 64];
        odd.signature.0[0] = 0xec;
        odd.signature.0[1..32].fill(0xff);
        odd.signature.0[31] = 0x7f; // R of order 2
        let msg = odd.tx.signing_bytes();
        assert_eq!(odd.tx.sender.verify(&msg, &odd.signature), Ok(()));
        // ... which is why such a key is never an identity: the sender is refused before any
        // signature is looked at.
        assert!(matches!(
            odd.verify_signature(),
            Err(TxError::WeakSender(_))
        ));
        txs.push(odd.clone());
        assert!(verify_batch(txs.iter()));
        odd.signature.0[40] = 1; // s != 0: the equation fails
        assert!(odd.tx.sender.verify(&msg, &odd.signature).is_err());
        txs.push(odd);
        assert!(!verify_batch(txs.iter()));
    }

    #[test]
    fn a_flood_of_gapped_nonces_cannot_keep_an_executable_transaction_out() {
        let pool = Mempool::new(
            Config {
                max_txs: 40,
                max_per_sender: 10,
                ..Config::default()
            },
            chain(),
        );
        // five fresh keys fill the pool with nonces 1..=8: all gapped (their next nonce is 0)
        let flooders: Vec<SecretKey> = (10..15).map(|i| SecretKey::from_seed([i; 32])).collect();
        for k in &flooders {
            for n in 1..=8 {
                admit(&pool, &tx(k, n, chain()), 0).unwrap();
            }
        }
        assert_eq!(pool.len(), 40);
        assert!(!pool.is_full(), "gapped entries can be evicted");
        // another gapped transaction gets no room ...
        let late = SecretKey::from_seed([20; 32]);
        assert_eq!(
            admit(&pool, &tx(&late, 3, chain()), 0),
            Err(Error::Full(40))
        );
        // ... an executable one does, at a gapped sender's highest nonce
        let honest = SecretKey::from_seed([21; 32]);
        admit(&pool, &tx(&honest, 0, chain()), 0).unwrap();
        admit(&pool, &tx(&honest, 1, chain()), 0).unwrap();
        assert_eq!(pool.len(), 40);
        let reaped = pool.reap(usize::MAX, 100, |_| 0);
        assert_eq!(reaped.len(), 2, "only the honest run can go into a block");
        assert!(reaped.iter().all(|t| t.tx.sender == honest.public_key()));
        // every executable admission evicts one gapped entry; once none is left, the pool is full
        let mut fresh = 0u8;
        while !pool.is_full() {
            admit(
                &pool,
                &tx(&SecretKey::from_seed([100 + fresh; 32]), 0, chain()),
                0,
            )
            .unwrap();
            fresh += 1;
            assert!(fresh < 100);
        }
        assert_eq!(fresh, 38);
        assert_eq!(pool.len(), 40);
        let e = admit(&pool, &tx(&SecretKey::from_seed([50; 32]), 0, chain()), 0);
        assert_eq!(e, Err(Error::Full(40)));
    }

    #[test]
    fn entries_expire_by_time_and_by_blocks() {
        let pool = Mempool::new(
            Config {
                ttl_secs: 60,
                ttl_blocks: 10,
                ..Config::default()
            },
            chain(),
        );
        let a = SecretKey::from_seed([1; 32]);
        let b = SecretKey::from_seed([2; 32]);
        let start = Instant::now();
        assert_eq!(pool.expire(start, 100), 0);
        admit(&pool, &tx(&a, 0, chain()), 0).unwrap();
        admit(&pool, &tx(&a, 1, chain()), 0).unwrap();
        assert_eq!(pool.expire(start, 109), 0, "9 blocks, no time: kept");
        admit(&pool, &tx(&b, 5, chain()), 5).unwrap();
        assert_eq!(pool.expire(start, 110), 2, "a's two waited 10 blocks");
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.expire(start + Duration::from_secs(59), 111), 0);
        assert_eq!(
            pool.expire(start + Duration::from_secs(61), 111),
            1,
            "b waited 60 s"
        );
        assert!(pool.is_empty());
        // a's nonces may be used again after expiry
        admit(&pool, &tx(&a, 0, chain()), 0).unwrap();
    }

    /// The reported attack: sender `01 00..00` (the identity point, small order) with the signature
    /// (R = identity, s = 0) verifies under ZIP-215 for any message, and was committed. Now it is
    /// refused at the door, one by one and in a batch, and so in a proposal.
    #[test]
    fn small_order_and_non_canonical_senders_are_refused_at_the_door() {
        let pool = Mempool::new(Config::default(), chain());
        let honest = SecretKey::from_seed([1; 32]);
        let mut forged = tx(&honest, 0, chain());
        forged.tx.sender.0 = [0; 32];
        forged.tx.sender.0[0] = 1;
        forged.signature.0 = [0; 64];
        forged.signature.0[0] = 1;
        let msg = forged.tx.signing_bytes();
        assert_eq!(forged.tx.sender.verify(&msg, &forged.signature), Ok(()));
        let e = admit(&pool, &forged, 0).unwrap_err();
        assert!(e.to_string().contains("weak public key"), "{e}");
        // in a batch of otherwise valid transactions (as gossip and submitTxs bring them)
        let mut batch: Vec<Vec<u8>> = (2..8u8)
            .map(|i| tx(&SecretKey::from_seed([i; 32]), 0, chain()).to_bytes())
            .collect();
        batch.push(forged.to_bytes());
        let out = pool.admit_many(&batch, |_| Some(0));
        assert!(out[..6].iter().all(Result::is_ok), "{out:?}");
        assert!(matches!(&out[6], Err(Error::Invalid(m)) if m.contains("weak public key")));
        // and in a proposal this node did not admit
        let err = pool.check_unknown(&[forged.clone()]).unwrap_err();
        assert!(err.1.contains("weak public key"), "{err:?}");
        // a non-canonical encoding (here of the identity) is refused too; an ordinary key is not
        let mut y_plus_p = [0xffu8; 32];
        y_plus_p[0] = 0xee;
        y_plus_p[31] = 0x7f; // y = p + 1 encodes the identity non-canonically
        assert!(PublicKey(y_plus_p).validate().is_err());
        assert!(honest.public_key().validate().is_ok());
    }
}
