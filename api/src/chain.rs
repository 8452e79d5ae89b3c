//! Chain: status, transactions (single and batch submission), blocks, commits, certificates,
//! accounts, merchants and acquiring records, proven state; and the block and event subscriptions.

use jsonrpsee::core::{RpcResult, SubscriptionResult};
use jsonrpsee::proc_macros::rpc;
use paychain_contracts::api::{
    AccountView, BlockView, EventFilter, EventNotification, MerchantView, RecordView, StatusView,
    SubmitView, TxView,
};
use paychain_contracts::commit::Commit;
use paychain_contracts::crypto::{Hash, PublicKey};
use paychain_contracts::grants::StateEvidence;
use paychain_contracts::ids::{MerchantId, PlatformId};

use crate::doc::{Area, MethodDoc, ParamDoc, SubscriptionDoc};
use crate::reads::{SealedReply, SIGNED_READ};
use crate::{ErrorCode as E, Param, SubmitItem};

/// Method names of this area.
pub mod method {
    pub const STATUS: &str = "paychain_status";
    pub const SUBMIT_TX: &str = "paychain_submitTx";
    pub const SUBMIT_TXS: &str = "paychain_submitTxs";
    pub const TX: &str = "paychain_tx";
    pub const CERTIFICATE: &str = "paychain_certificate";
    pub const BLOCK: &str = "paychain_block";
    pub const COMMIT: &str = "paychain_commit";
    pub const ACCOUNT: &str = "paychain_account";
    pub const MERCHANT: &str = "paychain_merchant";
    pub const RECORD: &str = "paychain_record";
    pub const PROVEN_STATE: &str = "paychain_provenState";
    pub const SUBSCRIBE_BLOCKS: &str = "paychain_subscribeBlocks";
    /// Notifications of [`SUBSCRIBE_BLOCKS`] (the same name as the [`BLOCK`] query).
    pub const BLOCK_NOTIFICATION: &str = "paychain_block";
    pub const UNSUBSCRIBE_BLOCKS: &str = "paychain_unsubscribeBlocks";
    pub const SUBSCRIBE_EVENTS: &str = "paychain_subscribeEvents";
    /// Notifications of [`SUBSCRIBE_EVENTS`].
    pub const EVENT_NOTIFICATION: &str = "paychain_event";
    pub const UNSUBSCRIBE_EVENTS: &str = "paychain_unsubscribeEvents";
}

/// Most transactions in one `paychain_submitTxs` call.
pub const MAX_SUBMIT_TXS: usize = 1024;

/// Most state keys one `paychain_provenState` call proves (a client's check reads a handful).
pub const MAX_PROVEN_KEYS: usize = 32;
/// Longest state key `paychain_provenState` proves, in bytes (before hex).
pub const MAX_PROVEN_KEY_BYTES: usize = paychain_contracts::grants::MAX_EVIDENCE_KEY_BYTES;

/// Chain queries and transaction submission.
#[rpc(server, client, namespace = "paychain")]
pub trait ChainApi {
    /// Chain id, height, app hash, validators, peers, mempool size.
    #[method(name = "status")]
    fn status(&self) -> RpcResult<StatusView>;

    /// Admits one hex-encoded transaction to the mempool (and gossips it). The server reads the
    /// caller's address from the extensions (the door's slow-down per address).
    #[method(name = "submitTx", with_extensions)]
    fn submit_tx(&self, transaction: Param<String>) -> RpcResult<SubmitView>;

    /// Admits many hex-encoded transactions; one answer per transaction, in order (the caller's
    /// address from the extensions, as for `submitTx`).
    #[method(name = "submitTxs", with_extensions)]
    async fn submit_txs(&self, transactions: Param<Vec<String>>) -> RpcResult<Vec<SubmitItem>>;

    /// Where a transaction stands, with its receipt once committed.
    #[method(name = "tx")]
    fn tx(&self, tx_hash: Param<Hash>) -> RpcResult<TxView>;

    /// The offline-verifiable certificate of a committed transaction.
    #[method(name = "certificate")]
    fn certificate(&self, read: Param<String>) -> RpcResult<SealedReply>;

    /// The committed block at a height, `null` if there is none (yet).
    #[method(name = "block")]
    fn block(&self, height: Param<u64>) -> RpcResult<Option<BlockView>>;

    /// The commit certificate of the block at a height, `null` if there is none (yet).
    #[method(name = "commit")]
    fn commit(&self, height: Param<u64>) -> RpcResult<Option<Commit>>;

    /// Next nonce and membership of a key.
    #[method(name = "account")]
    fn account(&self, public_key: Param<PublicKey>) -> RpcResult<AccountView>;

    /// A merchant and the platforms with an active record for it.
    #[method(name = "merchant")]
    fn merchant(&self, merchant_id: Param<MerchantId>) -> RpcResult<MerchantView>;

    /// One platform's acquiring record for a merchant.
    #[method(name = "record")]
    fn record(
        &self,
        merchant_id: Param<MerchantId>,
        platform_id: Param<PlatformId>,
    ) -> RpcResult<RecordView>;

    /// Proven state: the last block's header, its commit certificate, and a proof of each state
    /// key asked (hex) in the state that header certifies, for a client to check against the
    /// validator set it pinned from genesis.
    #[method(name = "provenState")]
    async fn proven_state(&self, keys: Param<Vec<String>>) -> RpcResult<StateEvidence>;
}

/// Subscriptions (WebSocket). A trait of their own: the block notification has the name of the
/// `paychain_block` query, which the macro refuses within one trait.
#[rpc(server, client, namespace = "paychain")]
pub trait SubscriptionApi {
    /// Each committed block, as `paychain_block` answers it.
    #[subscription(name = "subscribeBlocks" => "block", unsubscribe = "unsubscribeBlocks", item = BlockView)]
    async fn subscribe_blocks(&self) -> SubscriptionResult;

    /// Each event of a committed transaction that matches the optional filter.
    #[subscription(name = "subscribeEvents" => "event", unsubscribe = "unsubscribeEvents", item = EventNotification)]
    async fn subscribe_events(&self, filter: Option<Param<EventFilter>>) -> SubscriptionResult;
}

const HASH: &str = "tx hash";
const HEX64: &str = "string: 64 hex characters";

/// The reference of this area (see [`crate::doc`]).
pub const AREA: Area = Area {
    name: "Chain",
    traits: "ChainApi, SubscriptionApi",
    summary: "Status, transactions, blocks, commits, certificates, accounts, merchants and records, \
              proven state; the block and event subscriptions (WebSocket).",
    methods: &[
        MethodDoc {
            name: method::STATUS,
            params: &[],
            result: "StatusView",
            errors: &[],
            summary: "Chain id, height, app hash, latest block, validators, peers, syncing, mempool size.",
            subscription: None,
        },
        MethodDoc {
            name: method::SUBMIT_TX,
            params: &[ParamDoc::required("transaction", "string: hex of the encoded SignedTx (optional 0x)")],
            result: "SubmitView `{tx_hash}`",
            errors: &[
                E::InvalidParams,
                E::TxTooLarge,
                E::TxDecode,
                E::TxInvalid,
                E::StaleNonce,
                E::NonceTooHigh,
                E::NonceTaken,
                E::Duplicate,
                E::SenderFull,
                E::MempoolFull,
                E::UnknownSender,
                E::SlowedDown,
            ],
            summary: "Mempool admission (an address or sender slowed down for failing too often, size, decode, a sender \
                      the chain knows, chain id, signature, nonce, bounds), then gossip. An address whose submissions \
                      keep failing at the door gets 1012 at once, before its transaction is decoded.",
            subscription: None,
        },
        MethodDoc {
            name: method::SUBMIT_TXS,
            params: &[ParamDoc::required("transactions", "array of hex transactions (at most 1024)")],
            result: "array of SubmitItem, one per transaction in order: `{tx_hash}` or `{error: {code, message}}` \
                     with the code and message `paychain_submitTx` would answer (1001-1009, 1011, 1012)",
            errors: &[E::InvalidParams, E::Busy, E::SlowedDown, E::Internal],
            summary: "Batch submission; signatures checked as one batch off the async workers. An address whose \
                      submissions keep failing at the door has the whole call refused with 1012 (`retry_after_ms` in \
                      `data`) before anything in it is decoded. If they do \
                      not verify as a batch, every item that reached the signature check is refused (none admitted, \
                      no one-by-one re-check). A full mempool refuses every item with 1009; too many queued \
                      transactions refuse the call with 1010.",
            subscription: None,
        },
        MethodDoc {
            name: method::TX,
            params: &[ParamDoc::required(HASH, HEX64)],
            result: "TxView `{tx_hash, status: pending|committed|unknown, height, index, receipt}`",
            errors: &[E::InvalidParams, E::Internal],
            summary: "Where a transaction stands, with its receipt once committed.",
            subscription: None,
        },
        MethodDoc {
            name: method::CERTIFICATE,
            params: &[SIGNED_READ],
            result: "SealedReply of TxCertificate (on a chain with private state with `disclosure`: {call_key, call, receipt {error, events}}, the sealed call opened for the reader)",
            errors: &[E::InvalidParams, E::NotCommitted, E::NotYetCertifiable, E::ReadNotSigned, E::ReadBadSignature, E::ReadExpired, E::ReadNotEntitled, E::ReadMismatch, E::Internal],
            summary: "Signed read, query `certificate {tx_hash}`. Tx, receipt, both headers, Merkle proofs and both commits, verifiable offline; \
                      available once the next block is committed.",
            subscription: None,
        },
        MethodDoc {
            name: method::BLOCK,
            params: &[ParamDoc::required("height", "integer")],
            result: "BlockView or null",
            errors: &[E::InvalidParams, E::Internal],
            summary: "The committed block at a height with its tx hashes and receipts.",
            subscription: None,
        },
        MethodDoc {
            name: method::COMMIT,
            params: &[ParamDoc::required("height", "integer")],
            result: "Commit or null",
            errors: &[E::InvalidParams, E::Internal],
            summary: "The commit certificate of the block at a height (validators' signatures).",
            subscription: None,
        },
        MethodDoc {
            name: method::ACCOUNT,
            params: &[ParamDoc::required("public key", HEX64)],
            result: "AccountView `{public_key, nonce, member}`",
            errors: &[E::InvalidParams, E::Internal],
            summary: "Next nonce and consortium membership of a key.",
            subscription: None,
        },
        MethodDoc {
            name: method::MERCHANT,
            params: &[ParamDoc::required("merchant id", "string: merchant id")],
            result: "MerchantView `{merchant, platforms, routes, pending}`",
            errors: &[E::InvalidParams, E::UnknownMerchant, E::Internal],
            summary: "A merchant; the platforms a payment may be routed to (an active record the merchant accepted), each with the route (record version and hash) a payment must name; and the platforms whose record awaits the merchant's consent.",
            subscription: None,
        },
        MethodDoc {
            name: method::RECORD,
            params: &[
                ParamDoc::required("merchant id", "string: merchant id"),
                ParamDoc::required("platform id", "string: platform id"),
            ],
            result: "RecordView `{record}`",
            errors: &[E::InvalidParams, E::UnknownMerchant, E::NoRecord, E::Internal],
            summary: "One platform's acquiring record for a merchant.",
            subscription: None,
        },
        MethodDoc {
            name: method::PROVEN_STATE,
            params: &[ParamDoc::required(
                "keys",
                "array of state keys, each hex (at most 32 keys of at most 512 bytes)",
            )],
            result: "StateEvidence `{header, commit, entries: [{key, value, proof}]}`",
            errors: &[E::InvalidParams, E::ProofRequestTooLarge, E::NoCertifiedState, E::Internal],
            summary: "Proofs of the named state keys (inclusion, or exclusion: `value` null) in the state \
                      after block H - 1, where H is the node's last block: `header` is block H's (its \
                      `prev_app_hash` is that state's app hash) and `commit` its commit certificate. A \
                      client checks the commit against the validator set it pinned from genesis, each \
                      proof against `prev_app_hash`, and decodes the values itself. When the last block \
                      wrote an asked key, the answer waits for the next block (at most 5 s) so that it \
                      shows what was committed before the call.",
            subscription: None,
        },
        MethodDoc {
            name: method::SUBSCRIBE_BLOCKS,
            params: &[],
            result: "subscription id; notifications carry BlockView",
            errors: &[],
            summary: "Each committed block (a lagging subscriber skips blocks).",
            subscription: Some(SubscriptionDoc {
                notification: method::BLOCK_NOTIFICATION,
                unsubscribe: method::UNSUBSCRIBE_BLOCKS,
            }),
        },
        MethodDoc {
            name: method::SUBSCRIBE_EVENTS,
            params: &[ParamDoc::optional(
                "event filter",
                "`{\"kind_prefix\": \"...\", \"attribute\": [\"name\", \"value\"]}` (both optional, strings ≤ 128 bytes)",
            )],
            result: "subscription id; notifications carry EventNotification `{height, time_ms, tx_hash, event}`",
            errors: &[E::InvalidParams],
            summary: "Each event of a committed transaction that matches the filter, in block and tx order.",
            subscription: Some(SubscriptionDoc {
                notification: method::EVENT_NOTIFICATION,
                unsubscribe: method::UNSUBSCRIBE_EVENTS,
            }),
        },
    ],
};
