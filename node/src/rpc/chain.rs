//! [`ChainApiServer`] and [`SubscriptionApiServer`]: status, single submission, transactions,
//! blocks, commits, certificates, accounts, merchants, records, proven state (built by
//! `crate::enclave::proven_state`), and the block and event subscriptions. Batch submission is in
//! [`super::submit`].

use std::sync::atomic::Ordering;
use std::sync::Arc;

use jsonrpsee::core::{async_trait, RpcResult, SubscriptionResult};
use jsonrpsee::types::ErrorObjectOwned;
use jsonrpsee::Extensions;
use jsonrpsee::PendingSubscriptionSink;
use malachitebft_app::types::codec::Codec;
use malachitebft_core_types::CommitCertificate;
use paychain_api::chain::{MAX_PROVEN_KEYS, MAX_PROVEN_KEY_BYTES};
use paychain_api::{
    AccountView, BlockView, ChainApiServer, ErrorCode, EventFilter, EventNotification,
    MerchantView, Param, RecordView, RouteView, StatusView, SubmitItem, SubmitView,
    SubscriptionApiServer, TxStatus, TxView, ValidatorView,
};
use paychain_contracts::certificate::TxCertificate;
use paychain_contracts::codec::MAX_TX_BYTES;
use paychain_contracts::commit::{Commit, CommitSignature};
use paychain_contracts::crypto::{Hash, PublicKey, Signature};
use paychain_contracts::grants::StateEvidence;
use paychain_contracts::ids::{MerchantId, PlatformId};
use paychain_contracts::reads::{self, Query, SealedReply};
use paychain_contracts::{executor, governance, merkle, registry};
use tokio::sync::broadcast::error::RecvError;

use super::{internal, Rpc};
use crate::consensus::{BorshCodec, PaychainContext};
use crate::shared::Shared;

/// Expected form of hashes and keys, as error messages say it.
pub(crate) const HEX64: &str = "64 hex characters";

#[async_trait]
impl ChainApiServer for Rpc {
    fn status(&self) -> RpcResult<StatusView> {
        Ok(status(&self.shared))
    }

    fn submit_tx(&self, ext: &Extensions, transaction: Param<String>) -> RpcResult<SubmitView> {
        let shared = &self.shared;
        // Failures the caller is answerable for count against its address (`crate::door`).
        let from = super::submit::address(ext);
        let failed = |e: &crate::mempool::Error| {
            if let Some(from) = from {
                shared.mempool.address_results(from, [e]);
            }
        };
        let hex_tx = transaction.text("transaction")?;
        if hex_tx.len() > 2 * MAX_TX_BYTES {
            let e = crate::mempool::Error::TooLarge {
                len: hex_tx.len() / 2,
                max: MAX_TX_BYTES,
            };
            failed(&e);
            return Err(e.code().err(e.to_string()));
        }
        let bytes = hex::decode(hex_tx.trim_start_matches("0x")).map_err(|e| {
            failed(&crate::mempool::Error::Decode(String::new()));
            ErrorCode::InvalidParams.err(format!("transaction is not hex: {e}"))
        })?;
        let (tx_hash, _) = shared
            .mempool
            .admit_bytes(&bytes, |pk| shared.sender_nonce(pk))
            .map_err(|e| {
                failed(&e);
                e.code().err(e.to_string())
            })?;
        shared.gossip(bytes);
        Ok(SubmitView { tx_hash })
    }

    async fn submit_txs(
        &self,
        ext: &Extensions,
        transactions: Param<Vec<String>>,
    ) -> RpcResult<Vec<SubmitItem>> {
        let from = super::submit::address(ext);
        super::submit::submit_txs(self.shared.clone(), from, transactions).await
    }

    fn tx(&self, tx_hash: Param<Hash>) -> RpcResult<TxView> {
        let shared = &self.shared;
        let tx_hash = tx_hash.parsed("tx hash", HEX64)?;
        if let Some(loc) = shared.storage.tx_location(&tx_hash).map_err(internal)? {
            let receipt = shared
                .storage
                .receipts(loc.height)
                .map_err(internal)?
                .and_then(|r| r.into_iter().nth(loc.index as usize));
            return Ok(TxView {
                tx_hash,
                status: TxStatus::Committed,
                height: Some(loc.height),
                index: Some(loc.index),
                receipt,
            });
        }
        let status = if shared.mempool.contains(&tx_hash) {
            TxStatus::Pending
        } else {
            TxStatus::Unknown
        };
        Ok(TxView {
            tx_hash,
            status,
            height: None,
            index: None,
            receipt: None,
        })
    }

    fn certificate(&self, read: Param<String>) -> RpcResult<SealedReply> {
        if executor::private_exec_public(&self.shared.storage)
            .map_err(internal)?
            .is_some()
        {
            // A chain with private state: the enclave decides on the opened call and discloses it.
            return self
                .disclosed_certificate(read, |rpc, tx_hash| certificate(&rpc.shared, tx_hash));
        }
        self.signed_read_host(paychain_api::method::CERTIFICATE, read, |rpc, r| {
            let tx_hash = super::reads::query!(r, Query::Certificate { tx_hash } => *tx_hash);
            let cert = certificate(&rpc.shared, tx_hash)?;
            Rpc::entitled(
                r,
                reads::may_read_tx(&rpc.shared.storage, &r.requester, &tx_hash, &cert.tx.tx),
            )?;
            Ok(cert)
        })
    }

    fn block(&self, height: Param<u64>) -> RpcResult<Option<BlockView>> {
        block_view(&self.shared, height.value("height")?)
    }

    fn commit(&self, height: Param<u64>) -> RpcResult<Option<Commit>> {
        commit_view(&self.shared, height.value("height")?)
    }

    fn account(&self, public_key: Param<PublicKey>) -> RpcResult<AccountView> {
        let public_key = public_key.parsed("public key", HEX64)?;
        let storage = &self.shared.storage;
        let nonce = executor::nonce(storage, &public_key).map_err(internal)?;
        let member = governance::member_by_key(storage, &public_key).map_err(internal)?;
        Ok(AccountView {
            public_key,
            nonce,
            member,
        })
    }

    fn merchant(&self, merchant_id: Param<MerchantId>) -> RpcResult<MerchantView> {
        let id = merchant_id.parsed_with("merchant id", MerchantId::parse)?;
        let storage = &self.shared.storage;
        let merchant = registry::merchant(storage, &id)
            .map_err(internal)?
            .ok_or_else(|| ErrorCode::UnknownMerchant.err(format!("unknown merchant {id}")))?;
        let platforms = registry::platforms_of(storage, &id).map_err(internal)?;
        let mut routes = Vec::with_capacity(platforms.len());
        for p in &platforms {
            if let Some(r) = registry::record(storage, &id, p).map_err(internal)? {
                routes.push(RouteView {
                    platform_id: r.platform_id,
                    route: registry::Route {
                        record_version: r.version,
                        record_hash: r.payload_hash,
                    },
                });
            }
        }
        let pending = registry::pending_of(storage, &id).map_err(internal)?;
        Ok(MerchantView {
            merchant,
            platforms,
            routes,
            pending,
        })
    }

    fn record(
        &self,
        merchant_id: Param<MerchantId>,
        platform_id: Param<PlatformId>,
    ) -> RpcResult<RecordView> {
        // Both params are checked for presence before either is parsed.
        merchant_id.text("merchant id")?;
        platform_id.text("platform id")?;
        let merchant_id = merchant_id.parsed_with("merchant id", MerchantId::parse)?;
        let platform_id = platform_id.parsed_with("platform id", |s| PlatformId::new(s))?;
        let storage = &self.shared.storage;
        if registry::merchant(storage, &merchant_id)
            .map_err(internal)?
            .is_none()
        {
            return Err(ErrorCode::UnknownMerchant.err(format!("unknown merchant {merchant_id}")));
        }
        let record = registry::record(storage, &merchant_id, &platform_id)
            .map_err(internal)?
            .ok_or_else(|| {
                ErrorCode::NoRecord.err(format!(
                    "platform {platform_id} has no acquiring record for merchant {merchant_id}"
                ))
            })?;
        Ok(RecordView { record })
    }

    async fn proven_state(&self, keys: Param<Vec<String>>) -> RpcResult<StateEvidence> {
        proven_state(self, proven_keys(keys)?).await
    }
}

/// `paychain_provenState` (runs on the async worker, see `guard::runs_inline`): each attempt
/// builds its proofs on the pool ([`crate::enclave::proven_state_now`]); between attempts it waits
/// for the next commit on the async side, holding no pool thread. It waits when the node has
/// committed no block since it started, and once when the last block wrote an asked key (so that
/// the answer shows what was committed before the call), at most
/// [`crate::enclave::BLOCK_WAIT`] in all.
async fn proven_state(rpc: &Rpc, keys: Vec<Vec<u8>>) -> Result<StateEvidence, ErrorObjectOwned> {
    let keys = Arc::new(keys);
    // Subscribed before the first attempt, so that no commit after it is missed.
    let mut blocks = rpc.shared.subscribe_blocks();
    let deadline = tokio::time::Instant::now() + crate::enclave::BLOCK_WAIT;
    let mut first: Option<StateEvidence> = None;
    let mut after = 0;
    loop {
        let (shared, k) = (rpc.shared.clone(), keys.clone());
        let attempt = rpc
            .pool
            .call(move || crate::enclave::proven_state_now(&shared, &k, after))
            .await?
            .map_err(|e| match e {
                crate::enclave::LookupError::Storage(detail) => internal(detail),
                e => e.code().err(e.to_string()),
            })?;
        match attempt {
            Some((evidence, false)) => return Ok(evidence),
            Some((evidence, true)) => {
                if first.is_some() {
                    return Ok(evidence);
                }
                after = evidence.header.height;
                first = Some(evidence);
            }
            None => {}
        }
        // The next commit (tip > after: the state after `after` is then certified).
        loop {
            match tokio::time::timeout_at(deadline, blocks.recv()).await {
                Ok(Ok(tip)) if tip > after => break,
                Ok(Ok(_)) => continue,
                Ok(Err(RecvError::Lagged(_))) => break,
                Ok(Err(RecvError::Closed)) | Err(_) => {
                    return first.ok_or_else(|| {
                        ErrorCode::NoCertifiedState.err(format!(
                            "this node has committed no block in the {} s since it started, so it has no certified state to prove from yet; retry after its next block",
                            crate::enclave::BLOCK_WAIT.as_secs()
                        ))
                    })
                }
            }
        }
    }
}

/// The keys of a `paychain_provenState` call: an array of at most [`MAX_PROVEN_KEYS`] hex
/// strings of at most [`MAX_PROVEN_KEY_BYTES`] bytes each, checked before any is decoded.
fn proven_keys(keys: Param<Vec<String>>) -> Result<Vec<Vec<u8>>, ErrorObjectOwned> {
    let Some(raw) = keys.as_json().as_array() else {
        return Err(paychain_api::invalid("keys"));
    };
    if raw.len() > MAX_PROVEN_KEYS {
        return Err(ErrorCode::ProofRequestTooLarge.err(format!(
            "{} keys asked, at most {MAX_PROVEN_KEYS} are proven in one call",
            raw.len()
        )));
    }
    let mut out = Vec::with_capacity(raw.len());
    for (i, k) in raw.iter().enumerate() {
        let Some(text) = k.as_str() else {
            return Err(ErrorCode::InvalidParams.err(format!("invalid key {i}: not a string")));
        };
        if text.len() > 2 * MAX_PROVEN_KEY_BYTES {
            return Err(ErrorCode::ProofRequestTooLarge.err(format!(
                "key {i} is longer than {MAX_PROVEN_KEY_BYTES} bytes"
            )));
        }
        let bytes = hex::decode(text).map_err(|e| {
            ErrorCode::InvalidParams.err(format!(
                "invalid key {i} {}: not hex: {e}",
                paychain_api::quote(text)
            ))
        })?;
        out.push(bytes);
    }
    Ok(out)
}

#[async_trait]
impl SubscriptionApiServer for Rpc {
    async fn subscribe_blocks(&self, pending: PendingSubscriptionSink) -> SubscriptionResult {
        subscribe_blocks(pending, self.clone()).await;
        Ok(())
    }

    async fn subscribe_events(
        &self,
        pending: PendingSubscriptionSink,
        filter: Option<Param<EventFilter>>,
    ) -> SubscriptionResult {
        match event_filter(filter) {
            Ok(filter) => subscribe_events(pending, self.clone(), filter).await,
            Err(e) => pending.reject(e).await,
        }
        Ok(())
    }
}

fn status(shared: &Shared) -> StatusView {
    let tip = shared.tip();
    StatusView {
        chain_id: shared.chain_id.0.clone(),
        moniker: shared.moniker.clone(),
        height: tip.height,
        app_hash: tip.app_hash,
        latest_block_hash: tip.block_hash,
        latest_block_time_ms: tip.time_ms,
        validators: shared
            .genesis
            .validators
            .iter()
            .map(|v| ValidatorView {
                name: v.name.clone(),
                public_key: v.public_key,
                power: v.power,
            })
            .collect(),
        peers: shared.peers(),
        syncing: shared.syncing.load(Ordering::Relaxed),
        mempool_size: shared.mempool.len() as u64,
    }
}

fn block_view(shared: &Shared, height: u64) -> Result<Option<BlockView>, ErrorObjectOwned> {
    let Some(block) = shared.storage.block(height).map_err(internal)? else {
        return Ok(None);
    };
    let receipts = shared
        .storage
        .receipts(height)
        .map_err(internal)?
        .unwrap_or_default();
    Ok(Some(BlockView {
        height,
        hash: block.hash(),
        tx_hashes: block.txs.iter().map(|t| t.hash()).collect(),
        header: block.header,
        receipts,
    }))
}

/// The commit certificate of the block at `height`, in the offline-verifiable form.
fn commit_view(shared: &Shared, height: u64) -> Result<Option<Commit>, ErrorObjectOwned> {
    let Some(bytes) = shared.storage.certificate(height).map_err(internal)? else {
        return Ok(None);
    };
    let cert: CommitCertificate<PaychainContext> =
        Codec::decode(&BorshCodec, bytes::Bytes::from(bytes)).map_err(internal)?;
    Ok(Some(Commit {
        height: cert.height.0,
        round: cert.round.as_i64(),
        block_hash: Hash(cert.value_id.0),
        signatures: cert
            .commit_signatures
            .iter()
            .map(|s| CommitSignature {
                validator: PublicKey(s.address.0),
                signature: Signature(s.signature.0),
            })
            .collect(),
    }))
}

/// Builds the certificate of a committed transaction (available once the next block is
/// committed, because that block's header commits to the receipts).
fn certificate(shared: &Shared, tx_hash: Hash) -> Result<TxCertificate, ErrorObjectOwned> {
    let loc = shared
        .storage
        .tx_location(&tx_hash)
        .map_err(internal)?
        .ok_or_else(|| {
            ErrorCode::NotCommitted.err(format!("transaction {tx_hash} is not committed"))
        })?;
    let not_yet = || {
        ErrorCode::NotYetCertifiable.err(format!(
            "transaction {tx_hash} is in block {}; its certificate needs block {} to be committed",
            loc.height,
            loc.height + 1
        ))
    };
    let block = shared
        .storage
        .block(loc.height)
        .map_err(internal)?
        .ok_or_else(not_yet)?;
    let next = shared
        .storage
        .block(loc.height + 1)
        .map_err(internal)?
        .ok_or_else(not_yet)?;
    let receipts = shared
        .storage
        .receipts(loc.height)
        .map_err(internal)?
        .ok_or_else(not_yet)?;
    let commit = commit_view(shared, loc.height)?.ok_or_else(not_yet)?;
    let next_commit = commit_view(shared, loc.height + 1)?.ok_or_else(not_yet)?;
    let index = loc.index as usize;
    let tx_hashes: Vec<Hash> = block.txs.iter().map(|t| t.hash()).collect();
    let receipt_hashes: Vec<Hash> = receipts.iter().map(|r| r.hash()).collect();
    let corrupt = || {
        internal(format!(
            "block {} does not hold tx index {index}",
            loc.height
        ))
    };
    let tx = block.txs.get(index).cloned().ok_or_else(corrupt)?;
    let receipt = receipts.get(index).cloned().ok_or_else(corrupt)?;
    Ok(TxCertificate {
        chain_id: shared.chain_id.clone(),
        tx,
        receipt,
        tx_proof: merkle::proof(&tx_hashes, index).ok_or_else(corrupt)?,
        header: block.header,
        commit,
        receipt_proof: merkle::proof(&receipt_hashes, index).ok_or_else(corrupt)?,
        next_header: next.header,
        next_commit,
    })
}

impl Rpc {
    /// Block `height` as the subscriptions send it: read once, on the pool (off the async
    /// workers), and shared by every subscriber.
    async fn subscribed_block(&self, height: u64) -> Option<Arc<BlockView>> {
        let last = || self.last_block.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((h, view)) = &*last() {
            if *h == height {
                return Some(view.clone());
            }
        }
        let shared = self.shared.clone();
        let view = match self.pool.run(move || block_view(&shared, height)).await {
            Ok(Ok(Some(view))) => Arc::new(view),
            _ => return None,
        };
        let mut last = last();
        if last.as_ref().is_none_or(|(h, _)| *h < height) {
            *last = Some((height, view.clone()));
        }
        Some(view)
    }
}

async fn subscribe_blocks(pending: PendingSubscriptionSink, rpc: Rpc) {
    let Ok(sink) = pending.accept().await else {
        return;
    };
    let mut rx = rpc.shared.subscribe_blocks();
    loop {
        tokio::select! {
            _ = sink.closed() => return,
            next = rx.recv() => match next {
                Ok(height) => {
                    let Some(view) = rpc.subscribed_block(height).await else { continue };
                    let Ok(msg) = serde_json::value::to_raw_value(&*view) else { continue };
                    if sink.send(msg).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            }
        }
    }
}

/// The optional filter of `paychain_subscribeEvents` (bounded strings).
fn event_filter(filter: Option<Param<EventFilter>>) -> Result<EventFilter, ErrorObjectOwned> {
    let filter = match filter {
        Some(f) => f.value("event filter")?,
        None => EventFilter::default(),
    };
    let too_long = filter
        .kind_prefix
        .iter()
        .chain(filter.attribute.iter().flat_map(|(k, v)| [k, v]))
        .any(|s| s.len() > EventFilter::MAX_LEN);
    if too_long {
        return Err(ErrorCode::InvalidParams.err(format!(
            "invalid event filter: strings longer than {} bytes",
            EventFilter::MAX_LEN
        )));
    }
    Ok(filter)
}

/// Streams the events of each committed block that match `filter`, in block and tx order.
async fn subscribe_events(pending: PendingSubscriptionSink, rpc: Rpc, filter: EventFilter) {
    let Ok(sink) = pending.accept().await else {
        return;
    };
    let mut rx = rpc.shared.subscribe_blocks();
    loop {
        tokio::select! {
            _ = sink.closed() => return,
            next = rx.recv() => match next {
                Ok(height) => {
                    let Some(view) = rpc.subscribed_block(height).await else { continue };
                    for r in &view.receipts {
                        for e in r.events.iter().filter(|e| filter.matches(e)) {
                            let n = EventNotification {
                                height,
                                time_ms: view.header.time_ms,
                                tx_hash: r.tx_hash,
                                event: e.clone(),
                            };
                            let Ok(msg) = serde_json::value::to_raw_value(&n) else { continue };
                            if sink.send(msg).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            }
        }
    }
}
