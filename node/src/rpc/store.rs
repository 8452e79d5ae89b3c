//! [`StoreApiServer`]: store orders (read-only).

use jsonrpsee::core::RpcResult;
use paychain_api::{ErrorCode, Param, StoreApiServer, StoreOrderView, StoreOrdersView};
use paychain_contracts::crypto::{Hash, PublicKey};
use paychain_contracts::store;

use super::chain::HEX64;
use super::guardian::key_and_limit;
use super::{internal, Rpc};

impl StoreApiServer for Rpc {
    fn store_order(&self, order_id: Param<Hash>) -> RpcResult<StoreOrderView> {
        let id = order_id.parsed("order id", HEX64)?;
        let now_ms = self.shared.tip().time_ms;
        store::order_view(&self.shared.storage, &id, now_ms)
            .map_err(internal)?
            .ok_or_else(|| ErrorCode::UnknownOrder.err(format!("unknown order {id}")))
    }

    fn store_orders(
        &self,
        public_key: Param<PublicKey>,
        limit: Option<Param<usize>>,
    ) -> RpcResult<StoreOrdersView> {
        let (key, limit) = key_and_limit(public_key, limit)?;
        let now_ms = self.shared.tip().time_ms;
        let (orders, truncated) =
            store::orders_of(&self.shared.storage, &key, now_ms, limit).map_err(internal)?;
        Ok(StoreOrdersView { orders, truncated })
    }
}
