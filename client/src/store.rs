//! Offline store, online identity, from the client side: the user's identity code (the text
//! `paychain-id:<public key hex>`, shown as a QR code), reading it back from a scan, and the node's
//! `paychain_storeOrder` query.
//!
//! ```text
//! user:  identity_code(public key) ─► QR on the phone
//! store: scan ─► parse_identity_code ─► user key ─► CreateOrder tx (id = its hash)
//! user:  paychain_storeOrder(id) ─► Confirm tx (or a standing authorisation already paid it)
//! ```

use paychain_api::{method, StoreApiClient};
use paychain_contracts::api::{StoreOrderView, StoreOrdersView};
use paychain_contracts::crypto::{Hash, PublicKey};

use crate::rpc;

pub use crate::identity_code::{identity_code, parse_identity_code, Error, IDENTITY_PREFIX};

impl rpc::Client {
    /// `paychain_storeOrder`.
    pub async fn store_order(&self, id: &Hash) -> Result<StoreOrderView, rpc::Error> {
        self.run(method::STORE_ORDER, self.api().store_order((*id).into()))
            .await
    }

    /// `paychain_storeOrders`: orders where `key` is the user or the store's merchant key.
    pub async fn store_orders(&self, key: &PublicKey) -> Result<StoreOrdersView, rpc::Error> {
        self.run(
            method::STORE_ORDERS,
            self.api().store_orders((*key).into(), None),
        )
        .await
    }
}
