//! [`Guard`], the RPC middleware every call passes (single, or each call of a batch):
//!
//! - the per-IP rate limit (a batch takes as many tokens as it holds calls, before any runs);
//! - the batch limit (`[rpc] max_batch_calls`), before any call runs; an oversized batch is
//!   charged to its IP as the calls it holds (into debt, down to minus the burst), and the IP's
//!   connections are not read until that is repaid, so the next one is not even parsed;
//! - `paychain_submitTx`/`submitTxs` from an address the mempool's door slowed down (its
//!   submissions kept failing, see `crate::door`): refused with 1012 before their params are read,
//!   and the address's connections are not read until its wait is over (at most the burst's worth,
//!   as for an oversized batch);
//! - calls that read storage or check signatures run on the [`Pool`], off the async workers
//!   (every method but those in [`runs_inline`]);
//! - the connection's activity and subscriptions, for its idle watcher;
//! - no error leaves longer than [`paychain_api::MAX_MESSAGE_BYTES`] (a backstop: messages are
//!   built short, see `paychain_api::quote`).
//!
//! jsonrpsee runs a batch's calls one after the other, each through this layer's `call`, so a
//! batch holds at most one pool thread at a time.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use jsonrpsee::core::middleware::{Batch, BatchEntry, Notification, RpcServiceT};
use jsonrpsee::server::{BatchResponseBuilder, MethodResponse};
use jsonrpsee::types::{ErrorObjectOwned, Id, Request};
use paychain_api::{method, ErrorCode};
use serde_json::Value;

use super::limits::{Conn, Limits, RetryAfter};
use super::pool::Pool;
use crate::metrics::RpcMetrics;

/// Error responses longer than this are rebuilt with a clipped message (and without a long
/// `data`).
const MAX_ERROR_JSON: usize = 2 * paychain_api::MAX_MESSAGE_BYTES;

/// What every [`Guard`] of a server shares.
pub(crate) struct Shared {
    pub(crate) limits: Arc<Limits>,
    pub(crate) pool: Pool,
    pub(crate) metrics: RpcMetrics,
    pub(crate) max_batch_calls: usize,
    pub(crate) max_response_bytes: usize,
    /// The node (its mempool's door, for the slow-down per address).
    pub(crate) node: Arc<crate::shared::Shared>,
}

/// The middleware (see the module docs), around `S`.
#[derive(Clone)]
pub(crate) struct Guard<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Guard<S> {
    pub(crate) fn new(inner: S, shared: Arc<Shared>) -> Self {
        Guard { inner, shared }
    }
}

/// Methods that run on the async worker: they touch no storage and check no signature
/// (`status`), or bound and offload their own work (`submitTxs`: its signature checks go to its
/// own pool of cores; `provenState`: its proofs go to the pool, its wait for a block is async),
/// or are subscriptions (whose per-block reads go to the pool).
pub(crate) fn runs_inline(name: &str) -> bool {
    matches!(
        name,
        method::STATUS
            | method::SUBMIT_TXS
            | method::PROVEN_STATE
            | method::SUBSCRIBE_BLOCKS
            | method::UNSUBSCRIBE_BLOCKS
            | method::SUBSCRIBE_EVENTS
            | method::UNSUBSCRIBE_EVENTS
    )
}

/// Methods that submit transactions: refused at once while their address is slowed down at the
/// mempool's door (see `crate::door`).
fn submits(name: &str) -> bool {
    matches!(name, method::SUBMIT_TX | method::SUBMIT_TXS)
}

/// The refusal of a submission whose address failed at the door too often: nothing of it is
/// decoded.
fn slowed_down(id: Id<'_>, conn: &Conn, wait: Duration) -> MethodResponse {
    let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
    MethodResponse::error(
        id,
        ErrorCode::SlowedDown.err_with(
            format!(
                "address {} failed at the door too often (unknown senders, bad signatures, nonces too far ahead): slowed down, retry after {ms} ms",
                conn.key
            ),
            serde_json::json!({ "retry_after_ms": ms }),
        ),
    )
}

fn conn_of(req: &Request<'_>) -> Option<Arc<Conn>> {
    req.extensions().get::<Arc<Conn>>().cloned()
}

/// The refusal of a call (or batch) by the rate limit; carries [`RetryAfter`] for the HTTP layer.
fn rate_limited(
    id: Id<'_>,
    conn: &Conn,
    calls: usize,
    limits: &Limits,
    wait: Duration,
) -> MethodResponse {
    let (rate, burst) = limits.rate();
    let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
    let what = if calls == 1 {
        "this call".to_string()
    } else {
        format!("this batch of {calls} calls")
    };
    let e = ErrorCode::RateLimited.err_with(
        format!(
            "rate limited: {} may make {rate} calls a second (bursts of {burst}, rpc.max_calls_per_sec_per_ip); retry {what} after {ms} ms",
            conn.key
        ),
        serde_json::json!({ "retry_after_ms": ms, "max_calls_per_sec": rate, "burst": burst }),
    );
    let mut rp = MethodResponse::error(id, e);
    rp.extensions_mut().insert(RetryAfter(wait));
    rp
}

/// `rp`, with its error message clipped when the error is long.
fn bounded(rp: MethodResponse) -> MethodResponse {
    if !rp.is_error() || rp.as_json().get().len() <= MAX_ERROR_JSON {
        return rp;
    }
    let Ok(v) = serde_json::from_str::<Value>(rp.as_json().get()) else {
        return rp;
    };
    let id = match &v["id"] {
        Value::Number(n) => n.as_u64().map_or(Id::Null, Id::Number),
        Value::String(s) => Id::Str(s.clone().into()),
        _ => Id::Null,
    };
    let code = v["error"]["code"]
        .as_i64()
        .and_then(|c| i32::try_from(c).ok())
        .unwrap_or(ErrorCode::Internal.code());
    let message = paychain_api::clip(v["error"]["message"].as_str().unwrap_or("").to_owned());
    let data = v["error"]
        .get("data")
        .filter(|d| d.to_string().len() <= paychain_api::MAX_MESSAGE_BYTES)
        .cloned();
    let (_, _, extensions) = rp.into_parts();
    MethodResponse::error(id, ErrorObjectOwned::owned(code, message, data))
        .with_extensions(extensions)
}

impl<S> Guard<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Clone
        + Send
        + Sync
        + 'static,
{
    /// Runs one call (its tokens already taken).
    async fn run(&self, req: Request<'_>, conn: Option<Arc<Conn>>) -> MethodResponse {
        if let Some(c) = &conn {
            c.touch();
        }
        let name = req.method_name().to_owned();
        if let Some(c) = conn.as_ref().filter(|_| submits(&name)) {
            if let Some(wait) = self.shared.node.mempool.address_blocked(c.key) {
                // And the address's connections are not read until then (at most the rate
                // limit's burst): what it sends meanwhile is not even parsed.
                self.shared.limits.hold(c.key, wait);
                return slowed_down(req.id, c, wait);
            }
        }
        let rp = if runs_inline(&name) {
            self.inner.call(req).await
        } else {
            let id = req.id().into_owned();
            let mut owned = Request::owned(
                name.clone(),
                req.params.map(|p| p.into_owned()),
                req.id.into_owned(),
            );
            *owned.extensions_mut() = req.extensions;
            let inner = self.inner.clone();
            let rt = tokio::runtime::Handle::current();
            // The generated handlers are synchronous: the whole call runs inside `inner.call`,
            // here on a pool thread (`block_on` only collects its ready answer).
            match self
                .shared
                .pool
                .call(move || rt.block_on(inner.call(owned)))
                .await
            {
                Ok(rp) => rp,
                Err(e) => {
                    if ErrorCode::Busy.is(&e) {
                        self.shared.metrics.busy();
                    }
                    MethodResponse::error(id, e)
                }
            }
        };
        if let Some(c) = &conn {
            c.touch();
            if rp.is_success() {
                match name.as_str() {
                    method::SUBSCRIBE_BLOCKS | method::SUBSCRIBE_EVENTS => c.subscribed(),
                    method::UNSUBSCRIBE_BLOCKS | method::UNSUBSCRIBE_EVENTS
                        if rp.as_json().get().contains("\"result\":true") =>
                    {
                        c.unsubscribed()
                    }
                    _ => {}
                }
            }
        }
        bounded(rp)
    }
}

impl<S> RpcServiceT for Guard<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Clone
        + Send
        + Sync
        + 'static,
{
    type MethodResponse = MethodResponse;
    type NotificationResponse = MethodResponse;
    type BatchResponse = MethodResponse;

    fn call<'a>(&self, req: Request<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        let this = self.clone();
        async move {
            let conn = conn_of(&req);
            if let Some(c) = &conn {
                if let Err(RetryAfter(wait)) = this.shared.limits.take(c.key, 1) {
                    this.shared.metrics.rate_limited();
                    return rate_limited(req.id, c, 1, &this.shared.limits, wait);
                }
            }
            this.run(req, conn).await
        }
    }

    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        let this = self.clone();
        async move {
            let shared = &this.shared;
            let conn = batch.iter().find_map(|e| match e {
                Ok(BatchEntry::Call(req)) => conn_of(req),
                _ => None,
            });
            let n = batch.len();
            if n > shared.max_batch_calls {
                shared.metrics.batch_refused();
                if let Some(c) = &conn {
                    shared
                        .limits
                        .charge(c.key, u32::try_from(n).unwrap_or(u32::MAX));
                }
                return MethodResponse::error(
                    Id::Null,
                    ErrorCode::BatchTooLarge.err_with(
                        format!(
                            "batch of {n} calls refused: at most {} calls in one batch (rpc.max_batch_calls); none ran",
                            shared.max_batch_calls
                        ),
                        serde_json::json!({ "max_batch_calls": shared.max_batch_calls, "calls": n }),
                    ),
                );
            }
            let calls = batch
                .iter()
                .filter(|e| matches!(e, Ok(BatchEntry::Call(_))))
                .count();
            if let Some(c) = conn.as_ref().filter(|_| calls > 0) {
                let tokens = u32::try_from(calls).unwrap_or(u32::MAX);
                if let Err(RetryAfter(wait)) = shared.limits.take(c.key, tokens) {
                    shared.metrics.rate_limited();
                    return rate_limited(Id::Null, c, calls, &shared.limits, wait);
                }
            }
            let mut out = BatchResponseBuilder::new_with_limit(shared.max_response_bytes);
            let mut got_notification = false;
            for entry in batch {
                let rp = match entry {
                    Ok(BatchEntry::Call(req)) => this.run(req, conn.clone()).await,
                    Ok(BatchEntry::Notification(n)) => {
                        got_notification = true;
                        this.inner.notification(n).await;
                        continue;
                    }
                    Err(e) => {
                        let (e, id) = e.into_parts();
                        MethodResponse::error(id, e)
                    }
                };
                if let Err(too_big) = out.append(rp) {
                    return too_big;
                }
            }
            if out.is_empty() && got_notification {
                MethodResponse::notification()
            } else {
                MethodResponse::from_batch(out.finish())
            }
        }
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = MethodResponse> + Send + 'a {
        self.inner.notification(n)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn long_errors_are_clipped() {
        let long = "q".repeat(500_000);
        let rp = MethodResponse::error(
            Id::Number(7),
            ErrorObjectOwned::owned(-32602, format!("invalid thing {long}"), Some(long.clone())),
        );
        let rp = bounded(rp);
        let v: Value = serde_json::from_str(rp.as_json().get()).unwrap();
        assert_eq!(v["id"], 7);
        assert_eq!(v["error"]["code"], -32602);
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("invalid thing qqq") && message.ends_with('…'));
        assert!(message.len() <= paychain_api::MAX_MESSAGE_BYTES);
        assert!(v["error"].get("data").is_none());
        // Short errors pass untouched.
        let short = MethodResponse::error(Id::Str("a".into()), ErrorCode::Busy.err("node busy"));
        let before = short.as_json().get().to_owned();
        assert_eq!(bounded(short).as_json().get(), before);
    }

    #[test]
    fn only_cheap_or_self_bounded_methods_run_inline() {
        assert!(runs_inline(method::STATUS));
        assert!(runs_inline(method::SUBMIT_TXS));
        // Its proofs go to the pool; only its wait for the next block stays on the async side.
        assert!(runs_inline(method::PROVEN_STATE));
        for m in [
            method::SUBMIT_TX,
            method::TX,
            method::BLOCK,
            method::CERTIFICATE,
            method::COMMIT,
            method::ACCOUNT,
            paychain_api::method::LOOKUP,
            paychain_api::method::ENCLAVE,
            paychain_api::method::STATEMENT,
            paychain_api::method::CERTIFICATES,
        ] {
            assert!(!runs_inline(m), "{m}");
        }
    }
}
