//! Store orders (read-only).

use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;
use paychain_contracts::api::{StoreOrderView, StoreOrdersView};
use paychain_contracts::crypto::{Hash, PublicKey};

use crate::doc::{Area, MethodDoc, ParamDoc};
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
    fn store_order(&self, order_id: Param<Hash>) -> RpcResult<StoreOrderView>;

    /// Orders where the key is the user or the store's merchant key, newest first.
    #[method(name = "storeOrders")]
    fn store_orders(
        &self,
        public_key: Param<PublicKey>,
        limit: Option<Param<usize>>,
    ) -> RpcResult<StoreOrdersView>;
}

/// The reference of this area (see [`crate::doc`]).
pub const AREA: Area = Area {
    name: "Store orders",
    traits: "StoreApi",
    summary: "Store orders and identity-code payments.",
    methods: &[
        MethodDoc {
            name: method::STORE_ORDER,
            params: &[ParamDoc::required("order id", "string: 64 hex characters")],
            result: "StoreOrderView `{order, expired}`",
            errors: &[E::InvalidParams, E::UnknownOrder, E::Internal],
            summary: "The order, its status and whether it is expired at the latest block time.",
            subscription: None,
        },
        MethodDoc {
            name: method::STORE_ORDERS,
            params: &[
                ParamDoc::required("public key", "string: 64 hex characters"),
                ParamDoc::optional("limit", "integer (default and at most 100)"),
            ],
            result: "StoreOrdersView `{orders, truncated}`",
            errors: &[E::InvalidParams, E::Internal],
            summary: "Orders where the key is the user or the store's merchant key, newest first.",
            subscription: None,
        },
    ],
};
