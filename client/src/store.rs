//! Offline store, online identity, from the client side: the user's identity code (the text
//! `paychain-id:<public key hex>`, shown as a QR code), reading it back from a scan, and the node's
//! `paychain_storeOrder` query.
//!
//! ```text
//! user:  identity_code(public key) ─► QR on the phone
//! store: scan ─► parse_identity_code ─► user key ─► CreateOrder tx (id = its hash)
//! user:  paychain_storeOrder(id) ─► Confirm tx (or a standing authorisation already paid it)
//! ```

use jsonrpsee::rpc_params;
use paychain_contracts::api::{StoreOrderView, StoreOrdersView};
use paychain_contracts::crypto::{Hash, PublicKey};

use crate::rpc;

/// Prefix of an identity code.
pub const IDENTITY_PREFIX: &str = "paychain-id:";

/// Why an identity code cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not `paychain-id:<64 hex>`.
    #[error("invalid identity code {0:?}: expected paychain-id:<64 hex characters>")]
    BadIdentityCode(String),
}

impl rpc::Client {
    /// `paychain_storeOrder`.
    pub async fn store_order(&self, id: &Hash) -> Result<StoreOrderView, rpc::Error> {
        self.call("paychain_storeOrder", rpc_params![id.to_hex()])
            .await
    }

    /// `paychain_storeOrders`: orders where `key` is the user or the store's merchant key.
    pub async fn store_orders(&self, key: &PublicKey) -> Result<StoreOrdersView, rpc::Error> {
        self.call("paychain_storeOrders", rpc_params![key.to_hex()])
            .await
    }
}

/// The identity code of `user`: `paychain-id:<hex>`.
pub fn identity_code(user: &PublicKey) -> String {
    format!("{IDENTITY_PREFIX}{}", user.to_hex())
}

/// The public key an identity code carries.
pub fn parse_identity_code(text: &str) -> Result<PublicKey, Error> {
    let t = text.trim();
    t.strip_prefix(IDENTITY_PREFIX)
        .and_then(|hex| hex.parse().ok())
        .ok_or_else(|| Error::BadIdentityCode(t.chars().take(80).collect()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn identity_code_round_trip() {
        let pk = PublicKey([7; 32]);
        let code = identity_code(&pk);
        assert!(code.starts_with("paychain-id:0707"));
        assert_eq!(parse_identity_code(&format!(" {code}\n")).unwrap(), pk);
        assert!(parse_identity_code("paychain-id:zz").is_err());
        assert!(parse_identity_code(&pk.to_hex()).is_err());
    }
}
