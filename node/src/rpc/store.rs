//! JSON-RPC query of store orders (read-only).
//!
//! | method | params | answer |
//! |---|---|---|
//! | `paychain_storeOrder` | `[order_id]` | [`StoreOrderView`]: the order, its status and whether it is expired at the latest block time (3201 unknown order) |
//! | `paychain_storeOrders` | `[public_key, limit?]` | [`StoreOrdersView`]: orders where the key is the user or the store's merchant key, newest first |

use std::sync::Arc;

use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::RpcModule;
use paychain_contracts::api::{StoreOrderView, StoreOrdersView};
use paychain_contracts::crypto::Hash;
use paychain_contracts::store;

use crate::node::Shared;

/// Error codes of these methods.
pub mod code {
    /// Malformed params (JSON-RPC standard).
    pub const INVALID_PARAMS: i32 = -32602;
    /// Storage trouble on the node.
    pub const INTERNAL: i32 = -32603;
    /// No such order.
    pub const UNKNOWN_ORDER: i32 = 3201;
}

fn err(code: i32, msg: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, msg.into(), None::<()>)
}

fn order_view(s: &Shared, p: &Params<'_>) -> Result<StoreOrderView, ErrorObjectOwned> {
    let raw: String = p.sequence().next().map_err(|e| {
        err(
            code::INVALID_PARAMS,
            format!("invalid order id: {}", e.message()),
        )
    })?;
    let id: Hash = raw.parse().map_err(|_| {
        err(
            code::INVALID_PARAMS,
            format!("invalid order id {raw:?}: expected 64 hex characters"),
        )
    })?;
    let now_ms = s.tip().time_ms;
    store::order_view(&s.storage, &id, now_ms)
        .map_err(|e| err(code::INTERNAL, format!("node storage error: {e}")))?
        .ok_or_else(|| err(code::UNKNOWN_ORDER, format!("unknown order {id}")))
}

/// Registers this module's methods.
pub(crate) fn register(
    m: &mut RpcModule<Arc<Shared>>,
) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    m.register_method("paychain_storeOrder", |p, s, _| order_view(s, &p))?;
    m.register_method("paychain_storeOrders", |p, s, _| {
        let (key, limit) = crate::rpc_guardian::key_and_limit(&p)?;
        let (orders, truncated) = store::orders_of(&s.storage, &key, s.tip().time_ms, limit)
            .map_err(|e| err(code::INTERNAL, format!("node storage error: {e}")))?;
        Ok::<_, ErrorObjectOwned>(StoreOrdersView { orders, truncated })
    })?;
    Ok(())
}
