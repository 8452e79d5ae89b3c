//! Batch submission: `paychain_submitTxs [[hex, ...]]`, many transactions in one request (see
//! `paychain_api::chain`; the answer is one [`SubmitItem`] per transaction, in order).
//!
//! The transactions' signatures are checked as one batch, off the async workers (so consensus keeps
//! its threads), with at most as many batches at once as the machine has cores. Backpressure: a
//! full mempool answers every transaction at once with 1009 "mempool is full (N transactions):
//! retry later", before any signature work; and when [`MAX_QUEUED_TXS`] transactions already wait
//! for a core, the request is refused whole with 1010 "node busy: retry later" instead of queueing
//! more.
//!
//! Every refusal the caller is answerable for (see `mempool::Error::counts_against_address`)
//! counts against its address at the door ([`crate::door`]); while the address is slowed down,
//! its calls are refused at once by the RPC guard, before their params are read.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use jsonrpsee::types::ErrorObjectOwned;
pub use paychain_api::chain::MAX_SUBMIT_TXS;
use paychain_api::{ErrorCode, Param, SubmitError, SubmitItem};
use paychain_contracts::codec::MAX_TX_BYTES;
use tokio::sync::Semaphore;

use super::limits::{Conn, IpKey};
use crate::mempool;
use crate::shared::Shared;

/// The caller's address (the per-IP key) from a call's extensions.
pub(crate) fn address(ext: &jsonrpsee::Extensions) -> Option<IpKey> {
    ext.get::<Arc<Conn>>().map(|c| c.key)
}

/// Most transactions waiting for a core (over all calls) before further calls are refused: about
/// a second of signature checks on one core of a release build.
pub const MAX_QUEUED_TXS: usize = 32 * 1024;

fn refused(e: &mempool::Error) -> SubmitItem {
    SubmitItem {
        tx_hash: None,
        error: Some(SubmitError {
            code: e.code().code(),
            message: paychain_api::clip(e.to_string()),
        }),
    }
}

static CORES: LazyLock<Semaphore> = LazyLock::new(|| {
    Semaphore::new(
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
    )
});
static WAITING: AtomicUsize = AtomicUsize::new(0);

/// Transactions of one call counted in [`WAITING`] until dropped.
struct Waiting(usize);

impl Drop for Waiting {
    fn drop(&mut self) {
        WAITING.fetch_sub(self.0, Ordering::AcqRel);
    }
}

/// Decodes the params: a list of hex transactions, each within [`MAX_TX_BYTES`]. A transaction
/// that is not hex or too large gets its own refusal; the rest go on.
fn parse(
    transactions: Param<Vec<String>>,
) -> Result<Vec<Result<Vec<u8>, mempool::Error>>, ErrorObjectOwned> {
    let list = transactions.value("transactions")?;
    if list.len() > MAX_SUBMIT_TXS {
        return Err(ErrorCode::InvalidParams.err(format!(
            "{} transactions in one call, the limit is {MAX_SUBMIT_TXS}",
            list.len()
        )));
    }
    Ok(list
        .into_iter()
        .map(|h| {
            if h.len() > 2 * MAX_TX_BYTES {
                return Err(mempool::Error::TooLarge {
                    len: h.len() / 2,
                    max: MAX_TX_BYTES,
                });
            }
            hex::decode(h.trim_start_matches("0x"))
                .map_err(|e| mempool::Error::Decode(format!("transaction is not hex: {e}")))
        })
        .collect())
}

pub(crate) async fn submit_txs(
    shared: Arc<Shared>,
    from: Option<IpKey>,
    transactions: Param<Vec<String>>,
) -> Result<Vec<SubmitItem>, ErrorObjectOwned> {
    let items = parse(transactions)?;
    let count_failures = move |shared: &Shared, errors: Vec<&mempool::Error>| {
        if let Some(from) = from {
            shared.mempool.address_results(from, errors);
        }
    };
    // A full pool refuses everything at once: no queueing, no signature work.
    let pending = shared.mempool.len();
    if shared.mempool.is_full() {
        let e = mempool::Error::Full(pending);
        return Ok(items.iter().map(|_| refused(&e)).collect());
    }
    let n = items.len();
    let queued = WAITING.fetch_add(n, Ordering::AcqRel);
    // Counted as waiting until a core is ours, also when the caller goes away meanwhile.
    let waiting = Waiting(n);
    if queued > 0 && queued + n > MAX_QUEUED_TXS {
        return Err(ErrorCode::Busy.err(format!(
            "node busy: {queued} submitted transactions are waiting to be checked, retry later"
        )));
    }
    let permit = CORES.acquire().await;
    drop(waiting);
    let _permit = permit.map_err(|_| ErrorCode::Busy.err("node shutting down"))?;
    let worker = shared.clone();
    tokio::task::spawn_blocking(move || {
        // Where each input's answer comes from: its own refusal, or the k-th admitted bytes.
        let mut good: Vec<Vec<u8>> = Vec::with_capacity(items.len());
        let slots: Vec<Result<usize, mempool::Error>> = items
            .into_iter()
            .map(|r| {
                r.map(|bytes| {
                    good.push(bytes);
                    good.len() - 1
                })
            })
            .collect();
        let results = worker
            .mempool
            .admit_batch(&good, |pk| worker.sender_nonce(pk));
        count_failures(
            &worker,
            slots
                .iter()
                .filter_map(|s| s.as_ref().err())
                .chain(results.iter().filter_map(|r| r.as_ref().err()))
                .collect(),
        );
        slots
            .into_iter()
            .map(|slot| match slot {
                Err(e) => refused(&e),
                Ok(k) => match &results[k] {
                    Ok(tx_hash) => {
                        worker.gossip(std::mem::take(&mut good[k]));
                        SubmitItem {
                            tx_hash: Some(*tx_hash),
                            error: None,
                        }
                    }
                    Err(e) => refused(e),
                },
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| super::internal(format!("submission task failed: {e}")))
}
