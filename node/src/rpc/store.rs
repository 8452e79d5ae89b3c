//! [`StoreApiServer`]: store orders (signed reads, [`crate::views`]).

use jsonrpsee::core::RpcResult;
use paychain_api::{method, Param, StoreApiServer};
use paychain_contracts::reads::SealedReply;

use super::Rpc;

impl StoreApiServer for Rpc {
    fn store_order(&self, read: Param<String>) -> RpcResult<SealedReply> {
        self.signed_read(method::STORE_ORDER, read)
    }

    fn store_orders(&self, read: Param<String>) -> RpcResult<SealedReply> {
        self.signed_read(method::STORE_ORDERS, read)
    }
}
