//! JSON-RPC 2.0 over HTTP and WebSocket (jsonrpsee), with `GET /health` and `GET /metrics`
//! served on the same port.
//!
//! The interface (method names, params, views, error codes) is declared once, in the
//! `paychain-api` crate; this folder implements its server traits on [`Rpc`], one file per area:
//! [`chain`] (status, submission, blocks, certificates, accounts, merchants, records, and the
//! subscriptions), [`submit`] (batch submission with backpressure), [`enclave`], [`wallet`],
//! [`collection`], [`store`], [`guardian`], [`ca`]. The reference is `docs/rpc.md`.
//!
//! The RPC layer checks only the shape of requests; permissions are the contracts' business: the
//! private methods take a signed read ([`reads`]), answered only to a requester the contracts entitle
//! (`paychain_contracts::reads::may_read`), sealed to its reply key.
//!
//! No client, address or load can take the node (each bound is in `[rpc]`, see
//! [`config::Rpc`], and what it refused is counted in `/metrics` as `paychain_rpc_*`):
//! - connections, in total and per IP, counted as they are accepted ([`listener`], [`limits`]);
//!   one beyond either bound gets HTTP 429 with `Retry-After` and error 5003;
//! - calls per second per IP, a token bucket (5001, and HTTP 429 with `Retry-After`); calls per
//!   batch (5002); request and response size; subscriptions per WebSocket ([`guard`]);
//! - a connection that makes no call and holds no subscription for `idle_timeout_ms` is closed;
//!   WebSockets are pinged, and one that answers nothing for as long is closed too;
//! - every call that reads storage or checks a signature runs on a bounded [`pool`] of blocking
//!   threads, never on the async workers that drive consensus (1010 when too many wait);
//! - errors quote at most 64 characters of what was sent, and an internal fault is answered
//!   `internal error (logged as #N)`, its detail only in the node's log ([`internal`]).

pub mod ca;
pub mod chain;
pub mod collection;
pub mod enclave;
mod guard;
pub mod guardian;
mod limits;
mod listener;
mod pool;
pub(crate) mod reads;
pub mod store;
pub mod submit;
pub mod wallet;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use jsonrpsee::core::middleware::{
    Batch, BatchEntry, Notification, RpcServiceBuilder, RpcServiceT,
};
use jsonrpsee::server::{
    BatchRequestConfig, HttpBody, HttpResponse, PingConfig, RpcModule, Server, ServerConfig,
    ServerHandle,
};
use jsonrpsee::types::Request;
use paychain_api::{
    doc, CaApiServer, ChainApiServer, CollectionApiServer, EnclaveApiServer, GuardianApiServer,
    ReadsApiServer, StoreApiServer, SubscriptionApiServer, WalletApiServer,
};
use serde_json::value::RawValue;

use crate::config;
use crate::shared::Shared;
pub use pool::{Pool, MAX_WAITING_CALLS};

/// The node's implementation of every `paychain-api` server trait.
#[derive(Clone)]
pub struct Rpc {
    shared: Arc<Shared>,
    pool: Pool,
    /// The last block a subscription read, shared by every subscriber.
    last_block: Arc<std::sync::Mutex<Option<SharedBlock>>>,
    /// The regulator's reads answered by this node.
    audit: reads::SharedAudit,
}

/// A block as subscriptions send it, with its height.
type SharedBlock = (u64, Arc<paychain_api::BlockView>);

pub use crate::errors::internal;

/// Every area's methods, merged into one module; `pool` runs the subscriptions' reads.
pub fn module(
    shared: Arc<Shared>,
    pool: Pool,
) -> Result<RpcModule<()>, jsonrpsee::core::RegisterMethodError> {
    let rpc = Rpc {
        shared,
        pool,
        last_block: Default::default(),
        audit: Default::default(),
    };
    let mut m = RpcModule::new(());
    m.merge(ChainApiServer::into_rpc(rpc.clone()))?;
    m.merge(SubscriptionApiServer::into_rpc(rpc.clone()))?;
    m.merge(EnclaveApiServer::into_rpc(rpc.clone()))?;
    m.merge(WalletApiServer::into_rpc(rpc.clone()))?;
    m.merge(CollectionApiServer::into_rpc(rpc.clone()))?;
    m.merge(StoreApiServer::into_rpc(rpc.clone()))?;
    m.merge(GuardianApiServer::into_rpc(rpc.clone()))?;
    m.merge(CaApiServer::into_rpc(rpc.clone()))?;
    m.merge(ReadsApiServer::into_rpc(rpc))?;
    Ok(m)
}

/// Starts the server; returns its handle (dropping it stops the server) and bound address (port
/// 0 picks a free port).
pub async fn start(
    shared: Arc<Shared>,
    cfg: &config::Rpc,
) -> anyhow::Result<(ServerHandle, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen for RPC on {}: {e}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let metrics = shared.metrics.rpc().clone();
    let limits = limits::Limits::new(cfg, metrics.clone());
    let pool = Pool::new(cfg.blocking_threads as usize);
    tracing::info!(
        target: "rpc",
        blocking_threads = pool.threads(),
        max_connections = cfg.max_connections,
        max_connections_per_ip = cfg.max_connections_per_ip,
        max_calls_per_sec_per_ip = cfg.max_calls_per_sec_per_ip,
        max_batch_calls = cfg.max_batch_calls,
        idle_timeout_ms = cfg.idle_timeout_ms,
        "RPC bounds"
    );
    let guard = Arc::new(guard::Shared {
        limits: limits.clone(),
        pool: pool.clone(),
        metrics: metrics.clone(),
        max_batch_calls: cfg.max_batch_calls as usize,
        max_response_bytes: cfg.max_response_bytes as usize,
        node: shared.clone(),
    });
    let idle = Duration::from_millis(cfg.idle_timeout_ms);
    let server_config = ServerConfig::builder()
        .max_request_body_size(cfg.max_body_bytes)
        .max_response_body_size(cfg.max_response_bytes)
        .max_connections(cfg.max_connections)
        .max_subscriptions_per_connection(cfg.max_subscriptions_per_connection)
        // Enforced (and counted) by the guard, which also charges the rate limit per call.
        .set_batch_request_config(BatchRequestConfig::Unlimited)
        .enable_ws_ping(
            PingConfig::new()
                .ping_interval(Duration::from_millis(cfg.ws_ping_interval_ms))
                .inactive_limit(idle),
        )
        .build();
    let service = Server::builder()
        .set_config(server_config)
        .set_http_middleware(tower::ServiceBuilder::new().layer(ExtrasLayer {
            shared: shared.clone(),
        }))
        .set_rpc_middleware(
            RpcServiceBuilder::new()
                .layer_fn(move |s| guard::Guard::new(s, guard.clone()))
                .layer_fn(PositionalParams),
        )
        .to_service_builder();
    let methods = module(shared, pool)?;
    let (stop, handle) = jsonrpsee::server::stop_channel();
    let serve_stop = stop.clone();
    let serve = move |io: listener::Watched, conn: Arc<limits::Conn>| {
        let svc = listener::WithConn {
            inner: service.clone().build(methods.clone(), serve_stop.clone()),
            conn,
        };
        let stopped = serve_stop.clone().shutdown();
        tokio::spawn(async move {
            if let Err(e) = jsonrpsee::server::serve_with_graceful_shutdown(io, svc, stopped).await
            {
                tracing::debug!(target: "rpc", error = %e, "RPC connection ended");
            }
        });
    };
    tokio::spawn(listener::accept_loop(
        listener, stop, limits, idle, metrics, serve,
    ));
    Ok((handle, addr))
}

/// Keeps the wire of the hand-written handlers this server replaced: params are positional only.
///
/// jsonrpsee's generated servers also take named params (an object), and answer a missing
/// param with their own error before any handler runs. This layer rewrites the params of our
/// methods before they are parsed, so that the handlers word every error as before:
/// - fewer positional params than the method requires: padded with `null`, which the handler
///   answers `invalid <param>: Invalid params` (-32602), as a missing param always was;
/// - params that are not an array (named params): replaced by a first param no type accepts (and
///   nulls for the other required ones), so the handler answers `invalid <first param>: Invalid
///   params`, as before.
///
/// Methods without params ignore params, as before.
#[derive(Clone)]
struct PositionalParams<S>(S);

/// What to send the handler instead of `params`, if anything.
fn positional(method: &str, params: Option<&RawValue>) -> Option<Box<RawValue>> {
    let doc = doc::method(method)?;
    if doc.params.is_empty() {
        return None;
    }
    let required = doc.params.iter().filter(|p| !p.optional).count();
    let text = params.map(|p| p.get().trim()).unwrap_or("[]");
    let mut list: Vec<&RawValue> = if text.starts_with('[') {
        let list: Vec<&RawValue> = serde_json::from_str(text).ok()?;
        if list.len() >= required {
            return None;
        }
        list
    } else {
        vec![serde_json::from_str(r#"{"": "positional params only"}"#).ok()?]
    };
    let null: &RawValue = serde_json::from_str("null").ok()?;
    if list.len() < required {
        list.resize(required, null);
    }
    serde_json::value::to_raw_value(&list).ok()
}

impl<S> RpcServiceT for PositionalParams<S>
where
    S: RpcServiceT + Send + Sync + Clone + 'static,
{
    type MethodResponse = S::MethodResponse;
    type NotificationResponse = S::NotificationResponse;
    type BatchResponse = S::BatchResponse;

    fn call<'a>(
        &self,
        mut req: Request<'a>,
    ) -> impl Future<Output = Self::MethodResponse> + Send + 'a {
        if let Some(p) = positional(&req.method, req.params.as_deref()) {
            req.params = Some(std::borrow::Cow::Owned(p));
        }
        self.0.call(req)
    }

    fn batch<'a>(
        &self,
        mut batch: Batch<'a>,
    ) -> impl Future<Output = Self::BatchResponse> + Send + 'a {
        for entry in batch.iter_mut().flatten() {
            if let BatchEntry::Call(req) = entry {
                if let Some(p) = positional(&req.method, req.params.as_deref()) {
                    req.params = Some(std::borrow::Cow::Owned(p));
                }
            }
        }
        self.0.batch(batch)
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = Self::NotificationResponse> + Send + 'a {
        self.0.notification(n)
    }
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
                    let (handshakes, established) = self.shared.gossip_connections();
                    self.shared
                        .metrics
                        .set_gossip_connections(handshakes, established);
                    self.shared
                        .metrics
                        .set_door_tracked_addresses(self.shared.mempool.tracked_addresses());
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use paychain_api::method;

    /// The reference (`paychain_api::doc`, rendered to docs/rpc.md) lists exactly the methods the
    /// node serves: a method cannot be added, renamed or dropped without the reference changing.
    #[test]
    fn reference_lists_every_served_method() {
        let dir = tempfile::tempdir().unwrap();
        let shared = Arc::new(Shared::for_tests(dir.path()));
        let mut served: Vec<&str> = module(shared, Pool::new(1))
            .unwrap()
            .method_names()
            .collect();
        served.sort_unstable();
        assert_eq!(
            served,
            doc::registered_names(),
            "node/src/rpc serves methods that paychain_api::doc does not list (or the reverse): \
             add the method's MethodDoc next to its trait in api/src/, then regenerate docs/rpc.md \
             with `{}`",
            doc::REGENERATE
        );
    }

    #[test]
    fn params_stay_positional() {
        let raw = |s: &str| RawValue::from_string(s.to_owned()).unwrap();
        let p = |m: &str, s: Option<&str>| {
            let r = s.map(raw);
            positional(m, r.as_deref()).map(|b| b.get().to_owned())
        };
        // Enough params, methods without params, unknown methods: untouched.
        assert_eq!(p(method::TX, Some(r#"["ab"]"#)), None);
        assert_eq!(p(method::STATUS, Some(r#"{"a":1}"#)), None);
        assert_eq!(p("no_such_method", None), None);
        assert_eq!(p(method::COLLECTIONS, Some(r#"["ab"]"#)), None);
        // Missing required params: padded with null (optional ones stay missing).
        assert_eq!(p(method::TX, None).as_deref(), Some("[null]"));
        assert_eq!(
            p(method::RECORD, Some(r#"["M1"]"#)).as_deref(),
            Some(r#"["M1",null]"#)
        );
        assert_eq!(
            p(method::COLLECTIONS, Some("[]")).as_deref(),
            Some("[null]")
        );
        assert_eq!(p(method::SUBSCRIBE_EVENTS, None), None);
        // Named params (or no array at all): a first param no type accepts, then nulls.
        let named = p(method::TX, Some(r#"{"tx_hash":"ab"}"#)).unwrap();
        assert!(named.starts_with("[{"), "{named}");
        let named = p(method::RECORD, Some("{}")).unwrap();
        assert!(
            named.starts_with("[{") && named.ends_with(",null]"),
            "{named}"
        );
        let named = p(method::SUBSCRIBE_EVENTS, Some("5")).unwrap();
        assert!(named.starts_with("[{"), "{named}");
    }
}
