//! Typed JSON-RPC client for a paychain node.
//!
//! The methods call the clients `paychain-api` generates from its traits (`ChainApiClient`, ...), so
//! names, params and results are the node's by construction.
//!
//! [`Client`] wraps a `jsonrpsee` HTTP client (one request at a time is plenty for a CLI, and HTTP needs no
//! background task); [`Client::subscribe_blocks`] opens a WebSocket to the same port for the block feed.
//! Every failure becomes one [`Error`] whose message fits on one line and says what to do about it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use jsonrpsee::core::client::{Error as RpcError, Subscription};
use jsonrpsee::http_client::{transport, HttpClient};
use jsonrpsee::ws_client::{WsClient, WsClientBuilder};
use paychain_api::Param;
use paychain_api::{
    method, AccountView, BlockView, ChainApiClient, EnclaveApiClient, EnclaveStatusView, ErrorCode,
    EventFilter, EventNotification, LookupView, MerchantView, RecordView, StatusView, SubmitItem,
    SubmitView, SubscriptionApiClient, TxView,
};
use paychain_contracts::certificate::{CertificateView, TxCertificate};
use paychain_contracts::commit::Commit;
use paychain_contracts::crypto::{Hash, PublicKey, SecretKey};
use paychain_contracts::enclave::{KxPublicKey, KxSecret, SignedLookup};
use paychain_contracts::ids::{MerchantId, PlatformId};
use paychain_contracts::reads::{self, Query, ReadRequest, SealedReply, READ_NONCE_LEN};
use paychain_contracts::tx::SignedTx;

/// A read request by `key` for `query` with a fresh nonce and reply key (returned with it).
pub fn read_request(
    key: &SecretKey,
    chain_id: paychain_contracts::ids::ChainId,
    query: Query,
    valid_until_height: u64,
) -> (ReadRequest, KxSecret) {
    use rand::RngCore;
    let mut seed = [0u8; 32];
    let mut nonce = [0u8; READ_NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let reply_secret = KxSecret::from_seed(seed);
    let request = ReadRequest {
        chain_id,
        requester: key.public_key(),
        query,
        reply_kx_public: reply_secret.public_key(),
        nonce,
        valid_until_height,
    };
    (request, reply_secret)
}

/// A signed read sent, waiting for its answer.
pub(crate) struct PendingRead {
    method: &'static str,
    request: ReadRequest,
    reply_secret: KxSecret,
}

impl PendingRead {
    /// Opens the sealed answer with the reply key and parses its JSON.
    pub(crate) fn open<T: serde::de::DeserializeOwned>(
        self,
        reply: SealedReply,
    ) -> Result<T, Error> {
        let method = self.method;
        let bad = |reason: String| Error::BadResponse { method, reason };
        let json = reads::open_reply(&self.reply_secret, &self.request.hash(), &reply)
            .map_err(|e| bad(e.to_string()))?;
        serde_json::from_slice(&json).map_err(|e| bad(one_line(&e.to_string())))
    }
}

/// A signed read with the client's reader key: `signed_read!(client, method, query, api_call)`
/// prepares the request, calls `client.api().api_call(read)` and opens the sealed answer.
macro_rules! signed_read {
    ($client:expr, $method:expr, $query:expr, $call:ident) => {{
        let (read, pending) = $client.prepare_read($method, $query).await?;
        let reply = $client.run($method, $client.api().$call(read)).await?;
        pending.open(reply)
    }};
}
pub(crate) use signed_read;

/// The node's default JSON-RPC address.
pub const DEFAULT_URL: &str = "http://127.0.0.1:26657";
/// How long one request may take, connection included.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL cannot be used.
    #[error("invalid node URL {url:?}: {reason}")]
    InvalidUrl {
        /// URL given.
        url: String,
        /// Why.
        reason: String,
    },
    /// No connection could be made (refused, DNS, reset...).
    #[error("cannot reach node at {url}: {reason}")]
    Unreachable {
        /// Node URL.
        url: String,
        /// Cause, lowercase, e.g. "connection refused".
        reason: String,
    },
    /// The node did not answer in time.
    #[error("node at {url} did not answer within {} s", .timeout.as_secs_f32())]
    Timeout {
        /// Node URL.
        url: String,
        /// Limit.
        timeout: Duration,
    },
    /// The HTTP layer refused the request (e.g. 413 when the body exceeds the node's limit).
    #[error("node at {url} rejected the request with HTTP status {status}")]
    HttpStatus {
        /// Node URL.
        url: String,
        /// Status code.
        status: u16,
    },
    /// `paychain_submitTx` answered with an error: the transaction was not admitted.
    #[error("node refused transaction: {reason}")]
    TxRefused {
        /// The node's one-line reason (bad signature, stale nonce, ...).
        reason: String,
    },
    /// Any other method answered with a JSON-RPC error (e.g. "unknown merchant ...").
    #[error("{message}")]
    Call {
        /// Method called.
        method: &'static str,
        /// JSON-RPC error code.
        code: i32,
        /// The node's message.
        message: String,
    },
    /// A private read was asked of a client without a key to sign it.
    #[error("{method} is a private read: it must be signed by an entitled key (give the client a key: `Client::with_reader`, or `--key` on the command line)")]
    ReadKeyNeeded {
        /// Method called.
        method: &'static str,
    },
    /// The answer could not be understood (version mismatch between client and node?).
    #[error("unexpected answer from node to {method}: {reason}")]
    BadResponse {
        /// Method called.
        method: &'static str,
        /// Why.
        reason: String,
    },
}

impl Error {
    /// The node's error code, when the node answered the call with one of ours.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Call { code, .. } => ErrorCode::from_code(*code),
            _ => None,
        }
    }
}

/// A client for one node.
#[derive(Clone)]
pub struct Client {
    inner: HttpClient,
    url: String,
    timeout: Duration,
    /// The key that signs private reads.
    reader: Option<Arc<SecretKey>>,
    /// The exec key of a chain with private state (from the pinned genesis): payment calls are
    /// sealed to it ([`crate::tx::TxBuilder::build`]).
    exec: Option<KxPublicKey>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.url)
            .field("timeout", &self.timeout)
            .field("reader", &self.reader.as_ref().map(|k| k.public_key()))
            .finish()
    }
}

/// How many blocks ahead of the node's tip a signed read stays valid.
pub const READ_VALID_BLOCKS: u64 = 20;

impl Client {
    /// A client for the node at `url` (`http://host:port`) with [`DEFAULT_REQUEST_TIMEOUT`].
    pub fn new(url: &str) -> Result<Client, Error> {
        Client::with_timeout(url, DEFAULT_REQUEST_TIMEOUT)
    }

    /// A client whose requests time out after `timeout`.
    pub fn with_timeout(url: &str, timeout: Duration) -> Result<Client, Error> {
        let url = url.trim_end_matches('/').to_owned();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Error::InvalidUrl {
                url,
                reason: "expected http://host:port".into(),
            });
        }
        let inner = HttpClient::builder()
            .request_timeout(timeout)
            .connect_timeout(timeout)
            .build(&url)
            .map_err(|e| Error::InvalidUrl {
                url: url.clone(),
                reason: one_line(&e.to_string()),
            })?;
        Ok(Client {
            inner,
            url,
            timeout,
            reader: None,
            exec: None,
        })
    }

    /// This client, sealing wallet, collection, store and guardian calls to `exec`: the exec key
    /// of a chain with private state, taken from the pinned genesis (never from a node).
    pub fn with_exec_key(mut self, exec: Option<KxPublicKey>) -> Client {
        self.exec = exec;
        self
    }

    /// The exec key calls are sealed to, if any.
    pub fn exec_key(&self) -> Option<KxPublicKey> {
        self.exec
    }

    /// This client, signing its private reads (payments, balances, statements, certificates, ...)
    /// with `key`: the node answers only what that key is entitled to, sealed to a fresh reply key.
    pub fn with_reader(mut self, key: &SecretKey) -> Client {
        self.reader = Some(Arc::new(key.clone()));
        self
    }

    /// The key that signs private reads, if any.
    pub fn reader(&self) -> Option<PublicKey> {
        self.reader.as_ref().map(|k| k.public_key())
    }

    /// A signed read of `query` for `method` (the query's method) by the client's reader key, with
    /// a fresh reply key: the param to send, and what opens the answer. The request is valid for
    /// [`READ_VALID_BLOCKS`] past the node's tip. See [`signed_read!`].
    pub(crate) async fn prepare_read(
        &self,
        method: &'static str,
        query: Query,
    ) -> Result<(Param<String>, PendingRead), Error> {
        let key = self.reader.clone().ok_or(Error::ReadKeyNeeded { method })?;
        let status = self.status().await?;
        let (request, reply_secret) = read_request(
            &key,
            paychain_contracts::ids::ChainId::new(status.chain_id),
            query,
            status.height.saturating_add(READ_VALID_BLOCKS),
        );
        let signed = request.clone().sign(&key);
        let param = hex::encode(signed.to_bytes()).into();
        Ok((
            param,
            PendingRead {
                method,
                request,
                reply_secret,
            },
        ))
    }

    /// The node's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `paychain_status`: chain id, height, app hash, validators, ...
    pub async fn status(&self) -> Result<StatusView, Error> {
        self.run(method::STATUS, self.inner.status()).await
    }

    /// `paychain_submitTx` with the canonical encoding of `tx`.
    pub async fn submit_tx(&self, tx: &SignedTx) -> Result<SubmitView, Error> {
        self.submit_raw(&tx.to_bytes()).await
    }

    /// `paychain_submitTx` with bytes sent as they are (the node decodes and checks them).
    pub async fn submit_raw(&self, bytes: &[u8]) -> Result<SubmitView, Error> {
        let call = self.inner.submit_tx(hex::encode(bytes).into());
        match self.run(method::SUBMIT_TX, call).await {
            Err(Error::Call { message, .. }) => Err(Error::TxRefused { reason: message }),
            other => other,
        }
    }

    /// `paychain_submitTxs` with the canonical encodings of `txs` (at most
    /// [`paychain_api::chain::MAX_SUBMIT_TXS`]): one answer per transaction, in order, with the
    /// code and message `paychain_submitTx` would have answered for a refused one.
    pub async fn submit_txs(&self, txs: &[SignedTx]) -> Result<Vec<SubmitItem>, Error> {
        let hexes: Vec<String> = txs.iter().map(|t| hex::encode(t.to_bytes())).collect();
        self.submit_raw_many(hexes).await
    }

    /// `paychain_submitTxs` with hex-encoded transactions sent as they are.
    pub async fn submit_raw_many(&self, hex_txs: Vec<String>) -> Result<Vec<SubmitItem>, Error> {
        self.run(method::SUBMIT_TXS, self.inner.submit_txs(hex_txs.into()))
            .await
    }

    /// `paychain_tx`: where a transaction stands, with its receipt once committed.
    pub async fn tx(&self, hash: &Hash) -> Result<TxView, Error> {
        self.run(method::TX, ChainApiClient::tx(&self.inner, (*hash).into()))
            .await
    }

    /// `paychain_certificate`: the certificate of a committed transaction (needs the next
    /// block committed too).
    /// (A signed read: by the tx's sender, the parties of the payment it made, or the regulator.)
    pub async fn certificate(&self, hash: &Hash) -> Result<TxCertificate, Error> {
        Ok(self.certificate_view(hash).await?.certificate)
    }

    /// [`Client::certificate`] as answered: on a chain with private state, with the disclosure of
    /// the sealed call to the reader (check it with `CertificateView::check_disclosure`).
    pub async fn certificate_view(&self, hash: &Hash) -> Result<CertificateView, Error> {
        let q = Query::Certificate { tx_hash: *hash };
        crate::rpc::signed_read!(self, method::CERTIFICATE, q, certificate)
    }

    /// `paychain_regulatorAudit`: a page of the answering node's audit of the regulator's reads (a
    /// signed read by a member's key or the regulator's).
    pub async fn regulator_audit(
        &self,
        from_seq: u64,
        limit: u32,
    ) -> Result<paychain_api::reads::RegulatorAuditPage, Error> {
        use paychain_api::ReadsApiClient;
        let q = Query::RegulatorAudit { from_seq, limit };
        crate::rpc::signed_read!(self, method::REGULATOR_AUDIT, q, regulator_audit)
    }

    /// `paychain_block`: the committed block at `height`, `None` if there is none (yet).
    pub async fn block(&self, height: u64) -> Result<Option<BlockView>, Error> {
        self.run(method::BLOCK, self.inner.block(height.into()))
            .await
    }

    /// `paychain_commit`: the commit certificate of the block at `height`, `None` if there is
    /// none (yet).
    pub async fn commit(&self, height: u64) -> Result<Option<Commit>, Error> {
        self.run(method::COMMIT, self.inner.commit(height.into()))
            .await
    }

    /// `paychain_account`: next nonce and membership of a key.
    pub async fn account(&self, key: &PublicKey) -> Result<AccountView, Error> {
        self.run(method::ACCOUNT, self.inner.account((*key).into()))
            .await
    }

    /// `paychain_merchant`: the merchant and the platforms with an active record for it.
    pub async fn merchant(&self, id: &MerchantId) -> Result<MerchantView, Error> {
        self.run(method::MERCHANT, self.inner.merchant(id.clone().into()))
            .await
    }

    /// `paychain_record`: one platform's acquiring record for a merchant.
    pub async fn record(
        &self,
        merchant: &MerchantId,
        platform: &PlatformId,
    ) -> Result<RecordView, Error> {
        let call = self
            .inner
            .record(merchant.clone().into(), platform.clone().into());
        self.run(method::RECORD, call).await
    }

    /// `paychain_provenState`: the last block's header and commit and a proof of each of `keys`
    /// in the state it certifies (check it with [`crate::proven::verify`] before using it).
    pub async fn proven_state(
        &self,
        keys: &std::collections::BTreeSet<Vec<u8>>,
    ) -> Result<paychain_contracts::grants::StateEvidence, Error> {
        let keys: Vec<String> = keys.iter().map(hex::encode).collect();
        self.run(method::PROVEN_STATE, self.inner.proven_state(keys.into()))
            .await
    }

    /// `paychain_enclave`: the chain's enclave configuration, registered enclaves and the node's own.
    pub async fn enclave(&self) -> Result<EnclaveStatusView, Error> {
        self.run(method::ENCLAVE, self.inner.enclave()).await
    }

    /// `paychain_lookup`: the node's enclave answers a signed lookup (verify it with
    /// [`crate::enclave::PendingLookup::finish`] before trusting it).
    pub async fn lookup(&self, lookup: &SignedLookup) -> Result<LookupView, Error> {
        let call = self.inner.lookup(hex::encode(lookup.to_bytes()).into());
        self.run(method::LOOKUP, call).await
    }

    /// `paychain_enclaveAudit`: a page of a platform's audit trail on this node (verify it with
    /// [`crate::enclave::fetch_audit`], which pages and checks the hash chain).
    pub async fn enclave_audit(
        &self,
        request: &paychain_contracts::enclave::audit::SignedAuditRequest,
    ) -> Result<paychain_api::enclave::AuditPage, Error> {
        let call = self
            .inner
            .enclave_audit(hex::encode(request.to_bytes()).into());
        self.run(method::ENCLAVE_AUDIT, call).await
    }

    /// `paychain_subscribeBlocks` over a WebSocket to the same host and port.
    pub async fn subscribe_blocks(&self) -> Result<BlockSubscription, Error> {
        let ws = self.ws(method::SUBSCRIBE_BLOCKS).await?;
        let sub = self
            .run(method::SUBSCRIBE_BLOCKS, ws.subscribe_blocks())
            .await?;
        Ok(BlockSubscription { _ws: ws, sub })
    }

    /// `paychain_subscribeEvents` with `filter`, over a WebSocket to the same host and port.
    pub async fn subscribe_events(&self, filter: &EventFilter) -> Result<EventSubscription, Error> {
        let ws = self.ws(method::SUBSCRIBE_EVENTS).await?;
        let call = ws.subscribe_events(Some(filter.clone().into()));
        let sub = self.run(method::SUBSCRIBE_EVENTS, call).await?;
        Ok(EventSubscription { _ws: ws, sub })
    }

    /// A WebSocket to the same host and port, for `method`'s subscription.
    async fn ws(&self, method: &'static str) -> Result<WsClient, Error> {
        WsClientBuilder::default()
            .request_timeout(self.timeout)
            .connection_timeout(self.timeout)
            .build(&ws_url(&self.url))
            .await
            .map_err(|e| self.map_error(method, e))
    }

    /// The HTTP client, for the `paychain-api` client traits (`WalletApiClient`, ...).
    pub(crate) fn api(&self) -> &HttpClient {
        &self.inner
    }

    /// Awaits one call of a `paychain-api` client trait to `method`, mapping its error.
    pub(crate) async fn run<R>(
        &self,
        method: &'static str,
        call: impl Future<Output = Result<R, RpcError>>,
    ) -> Result<R, Error> {
        call.await.map_err(|e| self.map_error(method, e))
    }

    fn map_error(&self, method: &'static str, e: RpcError) -> Error {
        let url = self.url.clone();
        match e {
            RpcError::Call(obj) => Error::Call {
                method,
                code: obj.code(),
                message: one_line(obj.message()),
            },
            RpcError::RequestTimeout => Error::Timeout {
                url,
                timeout: self.timeout,
            },
            RpcError::ParseError(e) => Error::BadResponse {
                method,
                reason: one_line(&e.to_string()),
            },
            RpcError::Transport(err) => match err.downcast_ref::<transport::Error>() {
                Some(transport::Error::Rejected { status_code }) => Error::HttpStatus {
                    url,
                    status: *status_code,
                },
                Some(transport::Error::RequestTooLarge) => Error::HttpStatus { url, status: 413 },
                Some(transport::Error::Url(reason)) => Error::InvalidUrl {
                    url,
                    reason: one_line(reason),
                },
                _ => Error::Unreachable {
                    url,
                    reason: root_cause(err.as_ref()),
                },
            },
            RpcError::RestartNeeded(_) | RpcError::ServiceDisconnect => Error::Unreachable {
                url,
                reason: "connection closed".into(),
            },
            other => Error::BadResponse {
                method,
                reason: one_line(&other.to_string()),
            },
        }
    }
}

/// New blocks as the node commits them. Dropping it closes the WebSocket.
#[derive(Debug)]
pub struct BlockSubscription {
    _ws: WsClient,
    sub: Subscription<BlockView>,
}

impl BlockSubscription {
    /// The next block; `None` when the node closed the subscription (e.g. this client fell behind).
    pub async fn next(&mut self) -> Option<Result<BlockView, Error>> {
        self.sub.next().await.map(|r| {
            r.map_err(|e| Error::BadResponse {
                method: method::BLOCK_NOTIFICATION,
                reason: one_line(&e.to_string()),
            })
        })
    }
}

/// Events of committed transactions that match a filter. Dropping it closes the WebSocket.
#[derive(Debug)]
pub struct EventSubscription {
    _ws: WsClient,
    sub: Subscription<EventNotification>,
}

impl EventSubscription {
    /// The next event; `None` when the node closed the subscription.
    pub async fn next(&mut self) -> Option<Result<EventNotification, Error>> {
        self.sub.next().await.map(|r| {
            r.map_err(|e| Error::BadResponse {
                method: method::EVENT_NOTIFICATION,
                reason: one_line(&e.to_string()),
            })
        })
    }
}

fn ws_url(http_url: &str) -> String {
    if let Some(rest) = http_url.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = http_url.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        http_url.to_owned()
    }
}

/// The innermost cause of a transport error, in words a user recognizes.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    let mut io_kind = None;
    while let Some(next) = current.source() {
        if let Some(io) = next.downcast_ref::<std::io::Error>() {
            io_kind = Some(io.kind());
        }
        current = next;
    }
    if let Some(io) = current.downcast_ref::<std::io::Error>() {
        io_kind = Some(io.kind());
    }
    use std::io::ErrorKind as K;
    match io_kind {
        Some(K::ConnectionRefused) => "connection refused".into(),
        Some(K::ConnectionReset) => "connection reset".into(),
        Some(K::ConnectionAborted) => "connection aborted".into(),
        Some(K::TimedOut) => "connection timed out".into(),
        _ => {
            let text = one_line(&current.to_string());
            // Strip the OS error number ("... (os error 111)") and lowercase the first letter.
            let text = match text.find(" (os error") {
                Some(i) => text[..i].to_owned(),
                None => text,
            };
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => "unknown error".into(),
            }
        }
    }
}

/// Collapses whitespace runs (newlines included) so a message prints on one line.
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(ws_url("http://127.0.0.1:26657"), "ws://127.0.0.1:26657");
        assert_eq!(ws_url("https://node.example"), "wss://node.example");
        assert!(matches!(
            Client::new("127.0.0.1:26657"),
            Err(Error::InvalidUrl { .. })
        ));
        assert_eq!(
            Client::new("http://127.0.0.1:1/").unwrap().url(),
            "http://127.0.0.1:1"
        );
    }

    #[tokio::test]
    async fn unreachable_node_is_one_clear_line() {
        // Bind then drop a listener so the port is (almost certainly) closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let client = Client::new(&url).unwrap();
        let err = client.status().await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("cannot reach node at {url}: connection refused")
        );
    }

    #[test]
    fn one_line_collapses() {
        assert_eq!(one_line(" a\n  b\tc "), "a b c");
    }
}
