//! JSON-RPC 2.0 over HTTP and WebSocket (jsonrpsee), with `GET /health` and `GET /metrics`
//! served on the same port. Bodies, connections and subscriptions are bounded.
//!
//! Methods (positional params): `paychain_status`, `paychain_submitTx [hex]`,
//! `paychain_submitTxs [[hex, ...]]` (batch, [`crate::rpc_submit`]),
//! `paychain_tx [hash]`, `paychain_certificate [hash]`, `paychain_block [height]`,
//! `paychain_commit [height]`, `paychain_enclave`, `paychain_lookup [hex]`, `paychain_account [pubkey]`,
//! `paychain_merchant [id]`, `paychain_record [merchant, platform]`, and the subscription
//! `paychain_subscribeBlocks` (notifications `paychain_block`) and `paychain_subscribeEvents
//! [filter]` (notifications `paychain_event`: each matching event of a committed tx, with an
//! optional filter `{"kind_prefix": "...", "attribute": ["name", "value"]}`).
//!
//! The RPC layer checks only the shape of requests; permissions are the contracts' business.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

use jsonrpsee::server::{HttpBody, HttpResponse, RpcModule, Server, ServerConfig, ServerHandle};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::PendingSubscriptionSink;
use malachitebft_app::types::codec::Codec;
use malachitebft_core_types::CommitCertificate;
use paychain_contracts::api::{
    AccountView, BlockView, MerchantView, RecordView, StatusView, SubmitView, TxStatus, TxView,
    ValidatorView,
};
use paychain_contracts::api::{
    EnclaveStatusView, EventFilter, EventNotification, LookupView, NodeEnclaveView,
};
use paychain_contracts::certificate::TxCertificate;
use paychain_contracts::codec::MAX_TX_BYTES;
use paychain_contracts::commit::{Commit, CommitSignature};
use paychain_contracts::crypto::{Hash, PublicKey, Signature};
use paychain_contracts::ids::{MerchantId, PlatformId};
use paychain_contracts::merkle;
use paychain_contracts::{enclave_registry, executor, governance, registry};
use tokio::sync::broadcast::error::RecvError;

use crate::config;
use crate::consensus::{BorshCodec, PaychainContext};
use crate::node::Shared;

/// Stable error codes (JSON-RPC application range).
pub mod code {
    pub const INVALID_PARAMS: i32 = -32602;
    pub const INTERNAL: i32 = -32603;
    pub const UNKNOWN_MERCHANT: i32 = 2001;
    pub const NO_RECORD: i32 = 2002;
    pub const UNKNOWN_PLATFORM: i32 = 2003;
    pub const NOT_COMMITTED: i32 = 2004;
    pub const NOT_YET_CERTIFIABLE: i32 = 2005;
}

fn err(code: i32, msg: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, msg.into(), None::<()>)
}

fn internal(e: impl std::fmt::Display) -> ErrorObjectOwned {
    err(code::INTERNAL, format!("node storage error: {e}"))
}

fn param<T: serde::de::DeserializeOwned>(
    params: &Params<'_>,
    what: &str,
) -> Result<T, ErrorObjectOwned> {
    let mut seq = params.sequence();
    seq.next::<T>().map_err(|e| {
        err(
            code::INVALID_PARAMS,
            format!("invalid {what}: {}", e.message()),
        )
    })
}

fn hash_param(params: &Params<'_>) -> Result<Hash, ErrorObjectOwned> {
    let s: String = param(params, "tx hash")?;
    s.parse().map_err(|_| {
        err(
            code::INVALID_PARAMS,
            format!("invalid tx hash {s:?}: expected 64 hex characters"),
        )
    })
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
fn certificate(shared: &Shared, params: &Params<'_>) -> Result<TxCertificate, ErrorObjectOwned> {
    let tx_hash = hash_param(params)?;
    let loc = shared
        .storage
        .tx_location(&tx_hash)
        .map_err(internal)?
        .ok_or_else(|| {
            err(
                code::NOT_COMMITTED,
                format!("transaction {tx_hash} is not committed"),
            )
        })?;
    let not_yet = || {
        err(
            code::NOT_YET_CERTIFIABLE,
            format!(
                "transaction {tx_hash} is in block {}; its certificate needs block {} to be committed",
                loc.height,
                loc.height + 1
            ),
        )
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

fn enclave_status(shared: &Shared) -> Result<EnclaveStatusView, ErrorObjectOwned> {
    let storage = &shared.storage;
    Ok(EnclaveStatusView {
        config: enclave_registry::config(storage).map_err(internal)?,
        allowed_measurements: enclave_registry::allowed(storage).map_err(internal)?,
        revoked_measurements: enclave_registry::revoked(storage).map_err(internal)?,
        enclaves: enclave_registry::enclaves(storage).map_err(internal)?,
        node_enclave: shared.enclave.as_ref().map(|e| {
            let e = e.read().unwrap_or_else(|p| p.into_inner());
            NodeEnclaveView {
                signer: e.signer(),
                measurement: e.measurement(),
                provisioned: e.is_provisioned(),
            }
        }),
    })
}

fn submit(shared: &Shared, params: &Params<'_>) -> Result<SubmitView, ErrorObjectOwned> {
    let hex_tx: String = param(params, "transaction")?;
    if hex_tx.len() > 2 * MAX_TX_BYTES {
        let e = crate::mempool::Error::TooLarge {
            len: hex_tx.len() / 2,
            max: MAX_TX_BYTES,
        };
        return Err(err(e.code(), e.to_string()));
    }
    let bytes = hex::decode(hex_tx.trim_start_matches("0x"))
        .map_err(|e| err(code::INVALID_PARAMS, format!("transaction is not hex: {e}")))?;
    let (tx_hash, _) = shared
        .mempool
        .admit_bytes(&bytes, |pk| shared.account_nonce(pk))
        .map_err(|e| err(e.code(), e.to_string()))?;
    shared.gossip(bytes);
    Ok(SubmitView { tx_hash })
}

fn tx(shared: &Shared, params: &Params<'_>) -> Result<TxView, ErrorObjectOwned> {
    let tx_hash = hash_param(params)?;
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

fn account(shared: &Shared, params: &Params<'_>) -> Result<AccountView, ErrorObjectOwned> {
    let s: String = param(params, "public key")?;
    let public_key: PublicKey = s.parse().map_err(|_| {
        err(
            code::INVALID_PARAMS,
            format!("invalid public key {s:?}: expected 64 hex characters"),
        )
    })?;
    let nonce = executor::nonce(&shared.storage, &public_key).map_err(internal)?;
    let member = governance::member_by_key(&shared.storage, &public_key).map_err(internal)?;
    Ok(AccountView {
        public_key,
        nonce,
        member,
    })
}

fn merchant(shared: &Shared, params: &Params<'_>) -> Result<MerchantView, ErrorObjectOwned> {
    let s: String = param(params, "merchant id")?;
    let id = MerchantId::parse(&s).map_err(|e| {
        err(
            code::INVALID_PARAMS,
            format!("invalid merchant id {s:?}: {e}"),
        )
    })?;
    let merchant = registry::merchant(&shared.storage, &id)
        .map_err(internal)?
        .ok_or_else(|| err(code::UNKNOWN_MERCHANT, format!("unknown merchant {id}")))?;
    let platforms = registry::platforms_of(&shared.storage, &id).map_err(internal)?;
    Ok(MerchantView {
        merchant,
        platforms,
    })
}

fn record(shared: &Shared, params: &Params<'_>) -> Result<RecordView, ErrorObjectOwned> {
    let mut seq = params.sequence();
    let m: String = seq.next().map_err(|e| {
        err(
            code::INVALID_PARAMS,
            format!("invalid merchant id: {}", e.message()),
        )
    })?;
    let p: String = seq.next().map_err(|e| {
        err(
            code::INVALID_PARAMS,
            format!("invalid platform id: {}", e.message()),
        )
    })?;
    let merchant_id = MerchantId::parse(&m).map_err(|e| {
        err(
            code::INVALID_PARAMS,
            format!("invalid merchant id {m:?}: {e}"),
        )
    })?;
    let platform_id = PlatformId::new(&p).map_err(|e| {
        err(
            code::INVALID_PARAMS,
            format!("invalid platform id {p:?}: {e}"),
        )
    })?;
    if registry::merchant(&shared.storage, &merchant_id)
        .map_err(internal)?
        .is_none()
    {
        return Err(err(
            code::UNKNOWN_MERCHANT,
            format!("unknown merchant {merchant_id}"),
        ));
    }
    let record = registry::record(&shared.storage, &merchant_id, &platform_id)
        .map_err(internal)?
        .ok_or_else(|| {
            err(
                code::NO_RECORD,
                format!(
                    "platform {platform_id} has no acquiring record for merchant {merchant_id}"
                ),
            )
        })?;
    Ok(RecordView { record })
}

async fn subscribe_blocks(pending: PendingSubscriptionSink, shared: Arc<Shared>) {
    let Ok(sink) = pending.accept().await else {
        return;
    };
    let mut rx = shared.subscribe_blocks();
    loop {
        tokio::select! {
            _ = sink.closed() => return,
            next = rx.recv() => match next {
                Ok(height) => {
                    let Ok(Some(view)) = block_view(&shared, height) else { continue };
                    let Ok(msg) = serde_json::value::to_raw_value(&view) else { continue };
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

/// Parses the optional filter of `paychain_subscribeEvents` (bounded strings).
fn event_filter(params: &Params<'_>) -> Result<EventFilter, ErrorObjectOwned> {
    let filter: EventFilter = params
        .sequence()
        .optional_next::<EventFilter>()
        .map_err(|e| err(-32602, format!("invalid event filter: {}", e.message())))?
        .unwrap_or_default();
    let too_long = filter
        .kind_prefix
        .iter()
        .chain(filter.attribute.iter().flat_map(|(k, v)| [k, v]))
        .any(|s| s.len() > EventFilter::MAX_LEN);
    if too_long {
        return Err(err(
            -32602,
            format!(
                "invalid event filter: strings longer than {} bytes",
                EventFilter::MAX_LEN
            ),
        ));
    }
    Ok(filter)
}

/// Streams the events of each committed block that match `filter`, in block and tx order.
async fn subscribe_events(
    pending: PendingSubscriptionSink,
    shared: Arc<Shared>,
    filter: EventFilter,
) {
    let Ok(sink) = pending.accept().await else {
        return;
    };
    let mut rx = shared.subscribe_blocks();
    loop {
        tokio::select! {
            _ = sink.closed() => return,
            next = rx.recv() => match next {
                Ok(height) => {
                    let Ok(Some(view)) = block_view(&shared, height) else { continue };
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

fn module(
    shared: Arc<Shared>,
) -> Result<RpcModule<Arc<Shared>>, jsonrpsee::core::RegisterMethodError> {
    let mut m = RpcModule::new(shared);
    m.register_method("paychain_status", |_, s, _| {
        Ok::<_, ErrorObjectOwned>(status(s))
    })?;
    m.register_method("paychain_submitTx", |p, s, _| submit(s, &p))?;
    m.register_method("paychain_tx", |p, s, _| tx(s, &p))?;
    m.register_method("paychain_block", |p, s, _| {
        let height: u64 = param(&p, "height")?;
        block_view(s, height)
    })?;
    m.register_method("paychain_commit", |p, s, _| {
        let height: u64 = param(&p, "height")?;
        commit_view(s, height)
    })?;
    m.register_method("paychain_certificate", |p, s, _| certificate(s, &p))?;
    m.register_method("paychain_account", |p, s, _| account(s, &p))?;
    m.register_method("paychain_enclave", |_, s, _| enclave_status(s))?;
    m.register_method("paychain_lookup", |p, s, _| {
        let hex_req: String = param(&p, "lookup")?;
        if hex_req.len() > 2 * 4096 {
            return Err(err(4004, "malformed lookup: larger than 4 KiB"));
        }
        let bytes = hex::decode(&hex_req)
            .map_err(|e| err(4004, format!("malformed lookup: not hex: {e}")))?;
        crate::enclave::lookup(s, &bytes)
            .map(|answer| LookupView { answer })
            .map_err(|e| err(e.code(), e.to_string()))
    })?;
    m.register_method("paychain_merchant", |p, s, _| merchant(s, &p))?;
    m.register_method("paychain_record", |p, s, _| record(s, &p))?;
    m.register_subscription(
        "paychain_subscribeBlocks",
        "paychain_block",
        "paychain_unsubscribeBlocks",
        |_, pending, s, _| async move {
            subscribe_blocks(pending, (*s).clone()).await;
        },
    )?;
    m.register_subscription(
        "paychain_subscribeEvents",
        "paychain_event",
        "paychain_unsubscribeEvents",
        |p, pending, s, _| async move {
            match event_filter(&p) {
                Ok(filter) => subscribe_events(pending, (*s).clone(), filter).await,
                Err(e) => pending.reject(e).await,
            }
        },
    )?;
    crate::rpc_guardian::register(&mut m)?;
    crate::rpc_wallet::register(&mut m)?;
    crate::rpc_collection::register(&mut m)?;
    crate::rpc_store::register(&mut m)?;
    crate::rpc_submit::register(&mut m)?;
    Ok(m)
}

/// Starts the server; returns its handle and bound address (port 0 picks a free port).
pub async fn start(
    shared: Arc<Shared>,
    cfg: &config::Rpc,
) -> anyhow::Result<(ServerHandle, SocketAddr)> {
    let middleware = tower::ServiceBuilder::new().layer(ExtrasLayer {
        shared: shared.clone(),
    });
    let server_config = ServerConfig::builder()
        .max_request_body_size(cfg.max_body_bytes)
        .max_response_body_size(64 * 1024 * 1024)
        .max_connections(cfg.max_connections)
        .max_subscriptions_per_connection(16)
        .build();
    let server = Server::builder()
        .set_config(server_config)
        .set_http_middleware(middleware)
        .build(cfg.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for RPC on {}: {e}", cfg.listen))?;
    let addr = server.local_addr()?;
    let handle = server.start(module(shared)?);
    Ok((handle, addr))
}

/// Serves `GET /health` and `GET /metrics`; everything else goes to JSON-RPC.
#[derive(Clone)]
struct ExtrasLayer {
    shared: Arc<Shared>,
}

impl<S> tower::Layer<S> for ExtrasLayer {
    type Service = Extras<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Extras {
            inner,
            shared: self.shared.clone(),
        }
    }
}

#[derive(Clone)]
struct Extras<S> {
    inner: S,
    shared: Arc<Shared>,
}

fn plain(status: u16, content_type: &str, body: String) -> HttpResponse {
    let mut resp = HttpResponse::new(HttpBody::from(body));
    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    resp
}

impl<S, B> tower::Service<http::Request<B>> for Extras<S>
where
    S: tower::Service<http::Request<B>, Response = HttpResponse>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.method() == http::Method::GET {
            match req.uri().path() {
                "/health" => {
                    let tip = self.shared.tip();
                    let body = serde_json::json!({
                        "status": "ok",
                        "height": tip.height,
                        "syncing": self.shared.syncing.load(Ordering::Relaxed),
                    })
                    .to_string();
                    let resp = plain(200, "application/json", body);
                    return Box::pin(async move { Ok(resp) });
                }
                "/metrics" => {
                    let storage = self.shared.storage.memory().ok();
                    let text = self.shared.metrics.render(
                        self.shared.mempool.len(),
                        self.shared.peers(),
                        storage,
                    );
                    let resp = plain(200, "text/plain; version=0.0.4", text);
                    return Box::pin(async move { Ok(resp) });
                }
                _ => {}
            }
        }
        Box::pin(self.inner.call(req))
    }
}
