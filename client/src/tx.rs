//! Building, signing, submitting and following transactions.
//!
//! ```text
//! TxBuilder::new(&client, &key)            chain id ◄─ paychain_status   (unless .chain_id(..))
//!     .submit(call) ──► sign ──► paychain_submitTx     nonce ◄─ paychain_account (unless .nonce(..))
//!     ──► Submitted { tx_hash }
//! wait_committed(&client, &tx_hash, timeout) ──► poll paychain_tx ──► Receipt (code 0) | Error::Failed
//! ```

use std::time::Duration;

use paychain_contracts::api::TxStatus;
use paychain_contracts::crypto::{Hash, SecretKey};
use paychain_contracts::executor::Receipt;
use paychain_contracts::ids::ChainId;
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
    /// The node reported something inconsistent.
    #[error("inconsistent answer from node: {0}")]
    Inconsistent(String),
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
        let tx = Transaction {
            chain_id,
            sender,
            nonce,
            call,
        };
        Ok(SignedTx::sign(tx, self.key))
    }

    /// Builds, signs and submits `call`; returns once the node admitted it to its mempool.
    pub async fn submit(&self, call: Call) -> Result<Submitted, Error> {
        let tx = self.build(call).await?;
        submit(self.client, tx).await
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
