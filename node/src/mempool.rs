//! The bounded transaction pool.
//!
//! Admission runs every stateless check once per node (size, decoding, chain id, signature)
//! plus a nonce check against committed state, so proposals can skip re-verifying signatures
//! of transactions that came through here. Each sender's transactions are kept ordered by
//! nonce; a block takes, for each sender, only the run of nonces that continues from the
//! sender's committed nonce.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use paychain_contracts::codec::MAX_TX_BYTES;
use paychain_contracts::crypto::{Hash, PublicKey};
use paychain_contracts::ids::ChainId;
use paychain_contracts::tx::{check_stateless, SignedTx};

/// Mempool limits.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Most transactions held at once.
    pub max_txs: usize,
    /// Most pending transactions per sender.
    pub max_per_sender: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_txs: 100_000,
            max_per_sender: 64,
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
    #[error("mempool is full ({0} transactions)")]
    Full(usize),
}

impl Error {
    /// Stable JSON-RPC error code.
    pub fn code(&self) -> i32 {
        match self {
            Error::TooLarge { .. } => 1001,
            Error::Decode(_) => 1002,
            Error::Invalid(_) => 1003,
            Error::StaleNonce { .. } => 1004,
            Error::NonceTooHigh { .. } => 1005,
            Error::NonceTaken { .. } => 1006,
            Error::Duplicate(_) => 1007,
            Error::SenderFull(_) => 1008,
            Error::Full(_) => 1009,
        }
    }
}

struct Entry {
    tx: SignedTx,
    size: usize,
}

#[derive(Default)]
struct Inner {
    by_hash: HashMap<Hash, Entry>,
    by_sender: BTreeMap<PublicKey, BTreeMap<u64, Hash>>,
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
}

impl Mempool {
    pub fn new(config: Config, chain_id: ChainId) -> Self {
        Self::with_policy(config, chain_id, Box::new(|_| Ok(())))
    }

    /// A pool that also applies `policy` to every transaction.
    pub fn with_policy(config: Config, chain_id: ChainId, policy: Policy) -> Self {
        Self {
            config,
            chain_id,
            policy,
            inner: Mutex::new(Inner::default()),
            admitted: Arc::new(Notify::new()),
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

    /// True if `hash` is pending here (so its signature was verified at admission).
    pub fn contains(&self, hash: &Hash) -> bool {
        self.lock().by_hash.contains_key(hash)
    }

    /// Decodes and admits raw bytes. `account_nonce` is the sender's committed next nonce.
    pub fn admit_bytes(
        &self,
        bytes: &[u8],
        account_nonce: impl FnOnce(&PublicKey) -> u64,
    ) -> Result<(Hash, SignedTx), Error> {
        if bytes.len() > MAX_TX_BYTES {
            return Err(Error::TooLarge {
                len: bytes.len(),
                max: MAX_TX_BYTES,
            });
        }
        let tx = SignedTx::from_bytes(bytes).map_err(|e| Error::Decode(e.to_string()))?;
        let hash = self.admit(tx.clone(), bytes.len(), account_nonce)?;
        Ok((hash, tx))
    }

    /// Admits a decoded transaction of encoded size `size`.
    pub fn admit(
        &self,
        tx: SignedTx,
        size: usize,
        account_nonce: impl FnOnce(&PublicKey) -> u64,
    ) -> Result<Hash, Error> {
        let hash = tx.hash();
        if self.contains(&hash) {
            return Err(Error::Duplicate(hash));
        }
        // The expensive check runs outside the lock.
        self.check(&tx).map_err(Error::Invalid)?;
        let sender = tx.tx.sender;
        let nonce = tx.tx.nonce;
        let expected = account_nonce(&sender);
        if nonce < expected {
            return Err(Error::StaleNonce {
                expected,
                got: nonce,
            });
        }
        let window = self.config.max_per_sender as u64;
        if nonce >= expected.saturating_add(window) {
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
        if inner.by_hash.len() >= self.config.max_txs {
            return Err(Error::Full(inner.by_hash.len()));
        }
        let queue = inner.by_sender.entry(sender).or_default();
        if queue.contains_key(&nonce) {
            return Err(Error::NonceTaken { nonce });
        }
        if queue.len() >= self.config.max_per_sender {
            return Err(Error::SenderFull(queue.len()));
        }
        queue.insert(nonce, hash);
        inner.by_hash.insert(hash, Entry { tx, size });
        drop(inner);
        self.admitted.notify_waiters();
        Ok(hash)
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
                (next, q.range(next..))
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
            out.push(entry.tx.clone());
            queues.push_back((next + 1, range));
        }
        out
    }

    /// Drops committed transactions and everything made stale by the new nonces.
    pub fn remove_committed(&self, txs: &[SignedTx], account_nonce: impl Fn(&PublicKey) -> u64) {
        let mut inner = self.lock();
        let mut senders: Vec<PublicKey> = Vec::new();
        for tx in txs {
            inner.by_hash.remove(&tx.hash());
            senders.push(tx.tx.sender);
        }
        senders.sort();
        senders.dedup();
        for sender in senders {
            let next = account_nonce(&sender);
            let stale: Vec<Hash> = match inner.by_sender.get_mut(&sender) {
                Some(queue) => {
                    let keep = queue.split_off(&next);
                    let stale = std::mem::replace(queue, keep);
                    stale.into_values().collect()
                }
                None => Vec::new(),
            };
            for h in stale {
                inner.by_hash.remove(&h);
            }
            if inner.by_sender.get(&sender).is_some_and(|q| q.is_empty()) {
                inner.by_sender.remove(&sender);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use paychain_contracts::crypto::SecretKey;
    use paychain_contracts::governance;
    use paychain_contracts::tx::{Call, Transaction};

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
        pool.admit_bytes(&t.to_bytes(), |_| committed)
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

    fn admit_raw(pool: &Mempool, bytes: &[u8]) -> Result<Hash, Error> {
        pool.admit_bytes(bytes, |_| 0).map(|(h, _)| h)
    }

    #[test]
    fn bounded_per_sender_and_in_total() {
        let pool = Mempool::new(
            Config {
                max_txs: 3,
                max_per_sender: 2,
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
}
