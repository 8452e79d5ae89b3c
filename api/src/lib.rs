//! paychain's JSON-RPC interface, in one place: method names, params, result views and error
//! codes, as jsonrpsee `#[rpc(server, client)]` traits, one per area.
//!
//! | area | traits | file |
//! |---|---|---|
//! | chain | [`ChainApiServer`]/[`ChainApiClient`], [`SubscriptionApiServer`]/[`SubscriptionApiClient`] | `chain.rs` |
//! | enclave | [`EnclaveApiServer`]/[`EnclaveApiClient`] | `enclave.rs` |
//! | wallets, governance | [`WalletApiServer`]/[`WalletApiClient`] | `wallet.rs` |
//! | split-bill collections | [`CollectionApiServer`]/[`CollectionApiClient`] | `collection.rs` |
//! | store orders | [`StoreApiServer`]/[`StoreApiClient`] | `store.rs` |
//! | guardian bindings | [`GuardianApiServer`]/[`GuardianApiClient`] | `guardian.rs` |
//! | consortium CA | [`CaApiServer`]/[`CaApiClient`] | `ca.rs` |
//! | signed reads, the regulator's audit | [`ReadsApiServer`]/[`ReadsApiClient`] | `reads.rs` |
//!
//! The node implements the server traits (`node/src/rpc/`), the SDK calls the client traits
//! (`paychain_client::rpc::Client`). [`method`] names every method for callers that build requests
//! by hand (the test harness); [`ErrorCode`] is the one table of error codes; [`doc`] is the
//! reference rendered to `docs/rpc.md`. The wire: positional params, each a [`Param`] so that the
//! node words its own one-line errors.
//!
//! The views are `paychain_contracts::api`'s (re-exported here): the contracts build them from
//! state, and must never depend on this crate.

pub mod ca;
pub mod chain;
pub mod collection;
pub mod doc;
pub mod enclave;
mod error;
pub mod guardian;
mod param;
pub mod reads;
pub mod store;
pub mod wallet;

pub use ca::{CaApiClient, CaApiServer};
pub use chain::{ChainApiClient, ChainApiServer, SubscriptionApiClient, SubscriptionApiServer};
pub use collection::{CollectionApiClient, CollectionApiServer};
pub use enclave::{EnclaveApiClient, EnclaveApiServer};
pub use error::{clip, quote, ErrorCode, MAX_MESSAGE_BYTES, QUOTE_CHARS};
pub use guardian::{GuardianApiClient, GuardianApiServer};
pub use param::{invalid, Param};
pub use paychain_contracts::api::*;
pub use reads::{ReadsApiClient, ReadsApiServer};
pub use store::{StoreApiClient, StoreApiServer};
pub use wallet::{WalletApiClient, WalletApiServer};

use paychain_contracts::crypto::Hash;
use serde::{Deserialize, Serialize};

/// Every method name, notification name and unsubscribe name.
pub mod method {
    pub use crate::ca::method::*;
    pub use crate::chain::method::*;
    pub use crate::collection::method::*;
    pub use crate::enclave::method::*;
    pub use crate::guardian::method::*;
    pub use crate::reads::method::*;
    pub use crate::store::method::*;
    pub use crate::wallet::method::*;
}

/// The answer of `paychain_submitTxs` for one transaction of the batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitItem {
    /// The transaction's hash, when admitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_hash: Option<Hash>,
    /// Why it was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<SubmitError>,
}

/// A refusal in a `paychain_submitTxs` answer: the code and message `paychain_submitTx` would
/// have answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitError {
    /// One of the mempool's codes ([`ErrorCode::TxTooLarge`]..=[`ErrorCode::MempoolFull`],
    /// [`ErrorCode::UnknownSender`], [`ErrorCode::SlowedDown`]).
    pub code: i32,
    /// One line.
    pub message: String,
}
