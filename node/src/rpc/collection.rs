//! JSON-RPC query of split-bill collections (read-only).
//!
//! | method | params | answer |
//! |---|---|---|
//! | `paychain_collection` | `[collection_id]` | [`CollectionView`]: the total order, its sub-orders, paid and outstanding (3101 unknown collection) |
//! | `paychain_collections` | `[public_key, limit?]` | [`CollectionsView`]: collections the key created, is the payee of, or paid a share of, newest first |

use std::sync::Arc;

use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::RpcModule;
use paychain_contracts::api::{CollectionView, CollectionsView};
use paychain_contracts::collection;
use paychain_contracts::crypto::Hash;

use crate::node::Shared;

/// Error codes of these methods.
pub mod code {
    /// Malformed params (JSON-RPC standard).
    pub const INVALID_PARAMS: i32 = -32602;
    /// Storage trouble on the node.
    pub const INTERNAL: i32 = -32603;
    /// No such collection.
    pub const UNKNOWN_COLLECTION: i32 = 3101;
}

fn err(code: i32, msg: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, msg.into(), None::<()>)
}

fn collection_view(s: &Shared, p: &Params<'_>) -> Result<CollectionView, ErrorObjectOwned> {
    let raw: String = p.sequence().next().map_err(|e| {
        err(
            code::INVALID_PARAMS,
            format!("invalid collection id: {}", e.message()),
        )
    })?;
    let id: Hash = raw.parse().map_err(|_| {
        err(
            code::INVALID_PARAMS,
            format!("invalid collection id {raw:?}: expected 64 hex characters"),
        )
    })?;
    collection::collection_view(&s.storage, &id)
        .map_err(|e| err(code::INTERNAL, format!("node storage error: {e}")))?
        .ok_or_else(|| err(code::UNKNOWN_COLLECTION, format!("unknown collection {id}")))
}

/// Registers this module's methods.
pub(crate) fn register(
    m: &mut RpcModule<Arc<Shared>>,
) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    m.register_method("paychain_collection", |p, s, _| collection_view(s, &p))?;
    m.register_method("paychain_collections", |p, s, _| {
        let (key, limit) = crate::rpc_guardian::key_and_limit(&p)?;
        let (collections, truncated) = collection::collections_of(&s.storage, &key, limit)
            .map_err(|e| err(code::INTERNAL, format!("node storage error: {e}")))?;
        Ok::<_, ErrorObjectOwned>(CollectionsView {
            collections,
            truncated,
        })
    })?;
    Ok(())
}
