//! Store orders (read-only).

use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;

use crate::doc::{Area, MethodDoc};
use crate::reads::{SealedReply, SIGNED_READ};
use crate::{ErrorCode as E, Param};

/// Method names of this area.
pub mod method {
    pub const STORE_ORDER: &str = "paychain_storeOrder";
    pub const STORE_ORDERS: &str = "paychain_storeOrders";
}

/// Store order queries.
#[rpc(server, client, namespace = "paychain")]
pub trait StoreApi {
    /// The order, its status and whether it is expired at the latest block time.
    #[method(name = "storeOrder")]
    fn store_order(&self, read: Param<String>) -> RpcResult<SealedReply>;

    /// Orders where the key is the user or the store's merchant key, newest first.
    #[method(name = "storeOrders")]
    fn store_orders(&self, read: Param<String>) -> RpcResult<SealedReply>;
}

/// The reference of this area (see [`crate::doc`]).
pub const AREA: Area = Area {
    name: "Store orders",
    traits: "StoreApi",
    summary: "Store orders and identity-code payments.",
    methods: &[
        MethodDoc {
            name: method::STORE_ORDER,
            params: &[SIGNED_READ],
            result: "SealedReply of StoreOrderView `{order, expired}`",
            errors: &[E::InvalidParams, E::UnknownOrder, E::ReadNotSigned, E::ReadBadSignature, E::ReadExpired, E::ReadNotEntitled, E::ReadMismatch, E::Internal],
            summary: "Signed read, query `store_order {order_id}`. The order, its status and whether it is expired at the latest block time.",
            subscription: None,
        },
        MethodDoc {
            name: method::STORE_ORDERS,
            params: &[SIGNED_READ],
            result: "SealedReply of StoreOrdersView `{orders, truncated}`",
            errors: &[E::InvalidParams, E::ReadNotSigned, E::ReadBadSignature, E::ReadExpired, E::ReadNotEntitled, E::ReadMismatch, E::Internal],
            summary: "Signed read, query `store_orders {public_key, limit?}`. Orders where the key is the user or the store's merchant key, newest first.",
            subscription: None,
        },
    ],
};
