//! Offline store, online identity, from the client side: the user's identity code (the text
//! `paychain-id:<public key hex>`, shown as a QR code), reading it back from a scan, the node's
//! `paychain_storeOrder` query, and the store's and the user's transactions.
//!
//! ```text
//! user:  identity_code(public key) ─► QR on the phone
//! store: scan ─► parse_identity_code ─► user key; OrderNo::parse (offline)
//!        ─► create_order ─► CreateOrder tx (id = its hash;
//!        a standing authorisation of the user may pay it in the same tx)
//! user:  paychain_storeOrder(id) ─► confirm ─► Confirm tx
//! user:  authorise (a store, up to a limit, from a wallet) / revoke
//! ```

use paychain_api::{method, StoreApiClient};
use paychain_contracts::api::{StoreOrderView, StoreOrdersView};
use paychain_contracts::crypto::{Hash, PublicKey, SecretKey};
use paychain_contracts::ids::{MerchantId, PlatformId};
use paychain_contracts::money::Amount;
use paychain_contracts::reads::Query;
use paychain_contracts::store;
use paychain_contracts::tx::Call;
use paychain_contracts::wallet;

use crate::rpc;
use crate::tx::{self, Sent, Wait};

pub use crate::identity_code::{identity_code, parse_identity_code, IDENTITY_PREFIX};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not an identity code.
    #[error(transparent)]
    IdentityCode(#[from] crate::identity_code::Error),
    /// An order number the contract would refuse ([`OrderNo::parse`]).
    #[error(transparent)]
    Invalid(#[from] store::Error),
    /// Talking to the node failed.
    #[error(transparent)]
    Rpc(#[from] rpc::Error),
    /// The transaction was not admitted.
    #[error(transparent)]
    Tx(#[from] tx::Error),
}

impl rpc::Client {
    /// `paychain_storeOrder`.
    pub async fn store_order(&self, id: &Hash) -> Result<StoreOrderView, rpc::Error> {
        let q = Query::StoreOrder { order_id: *id };
        crate::rpc::signed_read!(self, method::STORE_ORDER, q, store_order)
    }

    /// `paychain_storeOrders`: orders where `key` is the user or the store's merchant key.
    pub async fn store_orders(&self, key: &PublicKey) -> Result<StoreOrdersView, rpc::Error> {
        let q = Query::StoreOrders {
            public_key: *key,
            limit: None,
        };
        crate::rpc::signed_read!(self, method::STORE_ORDERS, q, store_orders)
    }
}

/// A store's order number, checked with the contract's rule (1 to
/// [`store::MAX_ORDER_NO_LEN`] printable ASCII characters, no spaces; unique per store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderNo(String);

impl OrderNo {
    /// `order_no`, if the contract would take it.
    pub fn parse(order_no: &str) -> Result<OrderNo, Error> {
        store::check_order_no(order_no)?;
        Ok(OrderNo(order_no.to_owned()))
    }

    /// The number.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for OrderNo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An order a store creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    /// The store.
    pub merchant: MerchantId,
    /// Acquiring platform credited when paid.
    pub acquirer: PlatformId,
    /// The user (from their identity code).
    pub user: PublicKey,
    /// The store's order number (unique per store).
    pub order_no: OrderNo,
    /// Amount.
    pub amount: Amount,
    /// SHA-256 of the item list.
    pub items_digest: Hash,
    /// Validity in seconds of block time from the latest block.
    pub expires_in_secs: u64,
}

/// An order created.
#[derive(Debug)]
pub struct OrderCreated {
    /// Its id (the create transaction's hash).
    pub id: Hash,
    /// Its expiry, block time.
    pub expires_at_ms: u64,
    /// The `CreateOrder` transaction.
    pub sent: Sent,
}

impl OrderCreated {
    /// Whether the user's standing authorisation paid it at once.
    pub fn auto_paid(&self) -> bool {
        self.sent.has_event("store_order_paid")
    }
}

/// The store (its merchant key) creates a pending order for a user; the expiry counts from the
/// latest block's time.
pub async fn create_order(
    client: &rpc::Client,
    store_key: &SecretKey,
    order: NewOrder,
    wait: Wait,
) -> Result<OrderCreated, Error> {
    let now_ms = client.status().await?.latest_block_time_ms;
    let expires_at_ms = now_ms.saturating_add(order.expires_in_secs.saturating_mul(1000));
    let call = Call::Store(store::Call::CreateOrder {
        merchant_id: order.merchant,
        acquirer: order.acquirer,
        user: order.user,
        order_no: order.order_no.0,
        amount: order.amount,
        items_digest: order.items_digest,
        expires_at_ms,
    });
    let sent = tx::send(client, store_key, call, wait).await?;
    Ok(OrderCreated {
        id: sent.tx_hash,
        expires_at_ms,
        sent,
    })
}

/// An order paid by its user.
#[derive(Debug)]
pub struct Confirmed {
    /// The order's amount.
    pub amount: Amount,
    /// The wallet that paid.
    pub from_wallet: Hash,
    /// The `Confirm` transaction.
    pub sent: Sent,
}

/// The order's user pays it from `wallet`, else from their wallet in the order's currency.
pub async fn confirm(
    client: &rpc::Client,
    user: &SecretKey,
    order: Hash,
    wallet: Option<Hash>,
    wait: Wait,
) -> Result<Confirmed, Error> {
    let client = &client.clone().with_reader(user);
    let view = client.store_order(&order).await?;
    let amount = view.order.amount;
    let from_wallet =
        wallet.unwrap_or_else(|| wallet::wallet_id(&user.public_key(), amount.currency));
    let call = Call::Store(store::Call::Confirm { order, from_wallet });
    let sent = tx::send(client, user, call, wait).await?;
    Ok(Confirmed {
        amount,
        from_wallet,
        sent,
    })
}

/// A standing authorisation sent.
#[derive(Debug)]
pub struct Authorised {
    /// The wallet that pays.
    pub from_wallet: Hash,
    /// The `Authorise` transaction.
    pub sent: Sent,
}

/// The user lets `merchant`'s orders up to `limit` be paid automatically from `wallet`, else from
/// their wallet in the limit's currency (replaces any previous authorisation for that store).
pub async fn authorise(
    client: &rpc::Client,
    user: &SecretKey,
    merchant: MerchantId,
    limit: Amount,
    wallet: Option<Hash>,
    wait: Wait,
) -> Result<Authorised, Error> {
    let from_wallet =
        wallet.unwrap_or_else(|| wallet::wallet_id(&user.public_key(), limit.currency));
    let call = Call::Store(store::Call::Authorise {
        merchant_id: merchant,
        per_order_limit: limit,
        from_wallet,
    });
    let sent = tx::send(client, user, call, wait).await?;
    Ok(Authorised { from_wallet, sent })
}

/// The user withdraws their standing authorisation for `merchant`.
pub async fn revoke(
    client: &rpc::Client,
    user: &SecretKey,
    merchant: MerchantId,
    wait: Wait,
) -> Result<Sent, Error> {
    let call = Call::Store(store::Call::Revoke {
        merchant_id: merchant,
    });
    Ok(tx::send(client, user, call, wait).await?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn order_numbers_are_checked_with_the_contracts_rule() {
        assert_eq!(OrderNo::parse("A-17").unwrap().as_str(), "A-17");
        assert_eq!(OrderNo::parse("A-17").unwrap().to_string(), "A-17");
        for bad in ["", "with space", &"9".repeat(store::MAX_ORDER_NO_LEN + 1)] {
            assert!(
                matches!(OrderNo::parse(bad), Err(Error::Invalid(_))),
                "{bad:?}"
            );
        }
    }
}
