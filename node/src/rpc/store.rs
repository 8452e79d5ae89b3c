//! [`StoreApiServer`]: store orders (signed reads).

use jsonrpsee::core::RpcResult;
use paychain_api::{method, ErrorCode, Param, StoreApiServer, StoreOrdersView};
use paychain_contracts::reads::{Query, SealedReply};
use paychain_contracts::store;

use super::guardian::list_limit;
use super::reads::query;
use super::{internal, Rpc};

impl StoreApiServer for Rpc {
    fn store_order(&self, read: Param<String>) -> RpcResult<SealedReply> {
        self.signed_read(method::STORE_ORDER, read, |rpc, r| {
            let id = query!(r, Query::StoreOrder { order_id } => *order_id);
            let now_ms = rpc.shared.tip().time_ms;
            store::order_view(&rpc.shared.storage, &id, now_ms)
                .map_err(internal)?
                .ok_or_else(|| ErrorCode::UnknownOrder.err(format!("unknown order {id}")))
        })
    }

    fn store_orders(&self, read: Param<String>) -> RpcResult<SealedReply> {
        self.signed_read(method::STORE_ORDERS, read, |rpc, r| {
            let (key, limit) = query!(r, Query::StoreOrders { public_key, limit } => (*public_key, list_limit(*limit)));
            let now_ms = rpc.shared.tip().time_ms;
            let (orders, truncated) =
                store::orders_of(&rpc.shared.storage, &key, now_ms, limit).map_err(internal)?;
            Ok(StoreOrdersView { orders, truncated })
        })
    }
}
