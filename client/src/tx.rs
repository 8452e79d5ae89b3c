//! Building, signing, submitting and following transactions.
//!
//! ```text
//! send(&client, &key, call, wait)           the one way the SDK's flows send a transaction:
//!   = TxBuilder::new(&client, &key)          chain id ◄─ paychain_status   (unless .chain_id(..))
//!       .send(call, wait) ──► sign ──► paychain_submitTx    nonce ◄─ paychain_account (unless .nonce(..))
//!       ──► follow(&client, tx_hash, wait) ──► Sent { tx_hash, committed }
//! wait_committed(&client, &tx_hash, timeout) ──► poll paychain_tx ──► Receipt (code 0) | Error::Failed
//! sign(&chain_id, &key, nonce, call)         offline, for callers that pre-sign (the load generator)
//! ```

use std::time::Duration;

use paychain_contracts::api::TxStatus;
use paychain_contracts::crypto::{Hash, PublicKey, SecretKey};
use paychain_contracts::enclave::KxPublicKey;
use paychain_contracts::executor::Receipt;
use paychain_contracts::ids::ChainId;
use paychain_contracts::private;
use paychain_contracts::tx::{Call, SignedTx, Transaction};
use tokio::time::Instant;

use crate::rpc;

/// How often [`wait_committed`] asks the node.
pub const POLL_INTERVAL: Duration = Duration::from_millis(150);
/// Default for [`wait_committed`]'s timeout in the CLI.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Talking to the node failed, or it refused the transaction.
    #[error(transparent)]
    Rpc(#[from] rpc::Error),
    /// The transaction was committed, but the contract refused it (no state change but the nonce).
    #[error(
        "transaction {} failed at height {} (code {}): {}",
        .receipt.tx_hash, .receipt.height, .receipt.code,
        .receipt.error.as_deref().unwrap_or("no reason given")
    )]
    Failed {
        /// The failed receipt.
        receipt: Box<Receipt>,
    },
    /// Not committed before the deadline; it may still be.
    #[error(
        "transaction {tx_hash} not committed within {} s (last status: {})",
        .timeout.as_secs_f32(), status_name(*.last)
    )]
    Timeout {
        /// Transaction.
        tx_hash: Hash,
        /// How long we waited.
        timeout: Duration,
        /// Last status the node reported.
        last: TxStatus,
    },
    /// The call could not be sealed to the chain's exec key.
    #[error("cannot seal the call to the enclaves: {0}")]
    Seal(String),
    /// The node reported something inconsistent.
    #[error("inconsistent answer from node: {0}")]
    Inconsistent(String),
    /// The transaction was sent with [`Wait::Admitted`], and a receipt was asked for.
    #[error("transaction {0} was sent without waiting for its commit")]
    NotWaited(Hash),
}

impl Error {
    /// The receipt of a failed transaction.
    pub fn receipt(&self) -> Option<&Receipt> {
        match self {
            Error::Failed { receipt } => Some(receipt),
            _ => None,
        }
    }
}

/// `pending`, `committed` or `unknown`, as in the JSON API.
pub fn status_name(status: TxStatus) -> &'static str {
    match status {
        TxStatus::Pending => "pending",
        TxStatus::Committed => "committed",
        TxStatus::Unknown => "unknown",
    }
}

/// A transaction accepted into the node's mempool.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// Its hash (its id).
    pub tx_hash: Hash,
    /// What was sent.
    pub tx: SignedTx,
}

/// What [`send`] waits for once the node admitted the transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Nothing: return as soon as the node admitted it to its mempool.
    Admitted,
    /// Its commit, for at most this long ([`wait_committed`]).
    Committed(Duration),
}

impl Wait {
    /// [`Wait::Admitted`] when `no_wait`, else [`Wait::Committed`] for `timeout_secs` seconds (the
    /// CLI's `--no-wait` and `--wait-timeout`).
    pub fn new(no_wait: bool, timeout_secs: u64) -> Wait {
        if no_wait {
            Wait::Admitted
        } else {
            Wait::Committed(Duration::from_secs(timeout_secs))
        }
    }
}

/// A transaction the node admitted, and what came of it.
#[derive(Debug)]
pub struct Sent {
    /// Its hash (its id).
    pub tx_hash: Hash,
    /// `None` with [`Wait::Admitted`]; otherwise what [`wait_committed`] said: the receipt of a
    /// successful call, or [`Error::Failed`] (committed, refused by the contract), [`Error::Timeout`]
    /// or the node's failure to answer after it admitted the transaction.
    pub committed: Option<Result<Receipt, Error>>,
}

impl Sent {
    /// The receipt, of a successful call or of a failed one.
    pub fn receipt(&self) -> Option<&Receipt> {
        match &self.committed {
            Some(Ok(receipt)) => Some(receipt),
            Some(Err(e)) => e.receipt(),
            None => None,
        }
    }

    /// The receipt of a successful call; the error otherwise ([`Error::NotWaited`] when it was not
    /// waited for).
    pub fn into_receipt(self) -> Result<Receipt, Error> {
        self.committed
            .unwrap_or(Err(Error::NotWaited(self.tx_hash)))
    }

    /// The first value of attribute `key` among the events `kind` of a successful call.
    pub fn event_attr(&self, kind: &str, key: &str) -> Option<&str> {
        match &self.committed {
            Some(Ok(receipt)) => event_attr(receipt, kind, key),
            _ => None,
        }
    }

    /// Whether a successful call emitted an event `kind`.
    pub fn has_event(&self, kind: &str) -> bool {
        matches!(&self.committed, Some(Ok(r)) if r.events.iter().any(|e| e.kind == kind))
    }
}

/// The first value of attribute `key` among the events `kind` of `receipt`.
pub fn event_attr<'r>(receipt: &'r Receipt, kind: &str, key: &str) -> Option<&'r str> {
    receipt
        .events
        .iter()
        .filter(|e| e.kind == kind)
        .find_map(|e| e.attribute(key))
}

/// On a chain with private state (`exec` is its exec key, from the pinned genesis), a wallet,
/// collection, store or guardian call sealed to the enclaves for the transaction (`chain_id`,
/// `sender`, `nonce`), with fresh randomness; any other call, or any call without `exec`, as it is.
pub fn seal_if_private(
    exec: Option<&KxPublicKey>,
    chain_id: &ChainId,
    sender: &PublicKey,
    nonce: u64,
    call: Call,
) -> Result<Call, Error> {
    match exec {
        Some(exec) if private::may_be_sealed(&call) => private::seal_call(
            exec,
            chain_id,
            sender,
            nonce,
            &call,
            &fresh_box_randomness(),
        )
        .map(Call::Sealed)
        .map_err(|e| Error::Seal(e.to_string())),
        _ => Ok(call),
    }
}

/// Fresh randomness for sealing one call (OS randomness).
fn fresh_box_randomness() -> paychain_contracts::enclave::BoxRandomness {
    use rand::RngCore;
    let mut ephemeral = [0u8; 32];
    let mut nonce = [0u8; paychain_contracts::enclave::NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut ephemeral);
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    paychain_contracts::enclave::BoxRandomness::new(ephemeral, nonce)
}

/// Signs `call` as `key` on `chain_id` with `nonce`, without asking the node anything.
pub fn sign(chain_id: &ChainId, key: &SecretKey, nonce: u64, call: Call) -> SignedTx {
    let tx = Transaction {
        chain_id: chain_id.clone(),
        sender: key.public_key(),
        nonce,
        call,
    };
    SignedTx::sign(tx, key)
}

/// Signs `call` as `key`, submits it through `client` and waits as `wait` says: the one send of
/// the SDK's flows (see [`TxBuilder::send`] to give the nonce or chain id).
pub async fn send(
    client: &rpc::Client,
    key: &SecretKey,
    call: Call,
    wait: Wait,
) -> Result<Sent, Error> {
    TxBuilder::new(client, key).send(call, wait).await
}

/// What came of a transaction the node admitted: waits as `wait` says. Never fails: a failure
/// while waiting is the [`Sent::committed`] outcome, next to the hash.
pub async fn follow(client: &rpc::Client, tx_hash: Hash, wait: Wait) -> Sent {
    let committed = match wait {
        Wait::Admitted => None,
        Wait::Committed(timeout) => Some(wait_committed(client, &tx_hash, timeout).await),
    };
    Sent { tx_hash, committed }
}

/// Signs and submits calls for one key. Chain id and nonce are asked from the node unless given.
///
/// The nonce comes from the committed state, so sending a second transaction before the first is committed
/// needs [`TxBuilder::nonce`] (or waiting with [`wait_committed`] in between).
#[derive(Debug)]
pub struct TxBuilder<'a> {
    client: &'a rpc::Client,
    key: &'a SecretKey,
    chain_id: Option<ChainId>,
    nonce: Option<u64>,
}

impl<'a> TxBuilder<'a> {
    /// A builder sending as `key` through `client`.
    pub fn new(client: &'a rpc::Client, key: &'a SecretKey) -> Self {
        TxBuilder {
            client,
            key,
            chain_id: None,
            nonce: None,
        }
    }

    /// Uses this chain id instead of asking `paychain_status`.
    pub fn chain_id(mut self, chain_id: ChainId) -> Self {
        self.chain_id = Some(chain_id);
        self
    }

    /// Uses this nonce instead of asking `paychain_account`.
    pub fn nonce(mut self, nonce: u64) -> Self {
        self.nonce = Some(nonce);
        self
    }

    /// The signed transaction for `call`.
    pub async fn build(&self, call: Call) -> Result<SignedTx, Error> {
        let sender = self.key.public_key();
        let chain_id = match &self.chain_id {
            Some(id) => id.clone(),
            None => ChainId::new(self.client.status().await?.chain_id),
        };
        let nonce = match self.nonce {
            Some(n) => n,
            None => self.client.account(&sender).await?.nonce,
        };
        let call = seal_if_private(
            self.client.exec_key().as_ref(),
            &chain_id,
            &sender,
            nonce,
            call,
        )?;
        Ok(sign(&chain_id, self.key, nonce, call))
    }

    /// Builds, signs and submits `call`; returns once the node admitted it to its mempool.
    pub async fn submit(&self, call: Call) -> Result<Submitted, Error> {
        let tx = self.build(call).await?;
        submit(self.client, tx).await
    }

    /// Builds, signs and submits `call`, then waits as `wait` says ([`follow`]). An error means the
    /// transaction was not admitted; what happened after is in [`Sent::committed`].
    pub async fn send(&self, call: Call, wait: Wait) -> Result<Sent, Error> {
        let submitted = self.submit(call).await?;
        Ok(follow(self.client, submitted.tx_hash, wait).await)
    }
}

/// Submits a signed transaction and checks that the node computed the same hash.
pub async fn submit(client: &rpc::Client, tx: SignedTx) -> Result<Submitted, Error> {
    let tx_hash = tx.hash();
    let answer = client.submit_tx(&tx).await?;
    if answer.tx_hash != tx_hash {
        return Err(Error::Inconsistent(format!(
            "node reported tx hash {}, expected {tx_hash}",
            answer.tx_hash
        )));
    }
    Ok(Submitted { tx_hash, tx })
}

/// Polls `paychain_tx` every [`POLL_INTERVAL`] until the transaction is committed or `timeout` passes.
///
/// Returns the receipt of a successful call; a receipt with a non-zero code becomes [`Error::Failed`].
/// A status of `unknown` is not final (the node may not have indexed it yet), so it keeps polling.
pub async fn wait_committed(
    client: &rpc::Client,
    tx_hash: &Hash,
    timeout: Duration,
) -> Result<Receipt, Error> {
    let deadline = Instant::now() + timeout;
    loop {
        let view = client.tx(tx_hash).await?;
        if view.status == TxStatus::Committed {
            let receipt = view.receipt.ok_or_else(|| {
                Error::Inconsistent(format!("transaction {tx_hash} committed without a receipt"))
            })?;
            return check_receipt(receipt);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::Timeout {
                tx_hash: *tx_hash,
                timeout,
                last: view.status,
            });
        }
        tokio::time::sleep(POLL_INTERVAL.min(deadline - now)).await;
    }
}

/// `Ok` for a successful receipt, [`Error::Failed`] otherwise.
pub fn check_receipt(receipt: Receipt) -> Result<Receipt, Error> {
    if receipt.is_ok() {
        Ok(receipt)
    } else {
        Err(Error::Failed {
            receipt: Box::new(receipt),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use paychain_contracts::executor::Event;

    fn receipt(code: u32, error: Option<&str>) -> Receipt {
        Receipt {
            tx_hash: Hash::digest(b"t"),
            height: 7,
            index: 0,
            code,
            error: error.map(str::to_owned),
            events: vec![],
        }
    }

    #[test]
    fn failed_receipt_is_an_error_with_the_contract_message() {
        assert!(check_receipt(receipt(0, None)).is_ok());
        let err = check_receipt(receipt(3, Some("not a platform"))).unwrap_err();
        assert_eq!(err.receipt().unwrap().code, 3);
        assert_eq!(
            err.to_string(),
            format!(
                "transaction {} failed at height 7 (code 3): not a platform",
                Hash::digest(b"t")
            )
        );
    }

    #[test]
    fn sent_reads_its_receipt() {
        let mut ok = receipt(0, None);
        ok.events = vec![
            Event::new("other").with("k", "x"),
            Event::new("settled").with("currency", "CNY"),
            Event::new("settled").with("amount", "1.00"),
        ];
        let sent = Sent {
            tx_hash: ok.tx_hash,
            committed: Some(Ok(ok.clone())),
        };
        assert_eq!(sent.event_attr("settled", "amount"), Some("1.00"));
        assert_eq!(sent.event_attr("settled", "k"), None);
        assert!(sent.has_event("other") && !sent.has_event("none"));
        assert_eq!(sent.receipt(), Some(&ok));
        assert_eq!(sent.into_receipt().unwrap(), ok);

        let failed = Sent {
            tx_hash: Hash::ZERO,
            committed: Some(check_receipt(receipt(3, Some("no")))),
        };
        assert_eq!(failed.receipt().map(|r| r.code), Some(3));
        assert!(!failed.has_event("other"));
        assert!(matches!(failed.into_receipt(), Err(Error::Failed { .. })));

        let admitted = Sent {
            tx_hash: Hash::ZERO,
            committed: None,
        };
        assert!(admitted.receipt().is_none());
        assert!(matches!(admitted.into_receipt(), Err(Error::NotWaited(_))));
        assert_eq!(Wait::new(true, 5), Wait::Admitted);
        assert_eq!(Wait::new(false, 5), Wait::Committed(Duration::from_secs(5)));
    }

    #[test]
    fn offline_signature_is_the_builders() {
        let key = SecretKey::from_seed([4; 32]);
        let chain = ChainId::new("c");
        let call = Call::Registry(paychain_contracts::registry::Call::RevokeRecord {
            merchant_id: paychain_contracts::ids::MerchantId::derive(&key.public_key()),
        });
        let tx = sign(&chain, &key, 7, call);
        assert_eq!((tx.tx.nonce, tx.tx.sender), (7, key.public_key()));
        assert!(paychain_contracts::tx::check_stateless(&tx, &chain).is_ok());
    }

    #[test]
    fn timeout_message() {
        let err = Error::Timeout {
            tx_hash: Hash::ZERO,
            timeout: Duration::from_secs(30),
            last: TxStatus::Pending,
        };
        assert!(err
            .to_string()
            .ends_with("not committed within 30 s (last status: pending)"));
    }
}
