//! Split-bill collections from the client side: the node's `paychain_collection` query, the
//! collection code (a dynamic EMVCo code whose 62-50 carries the collection id) and the choice of
//! the share a payer pays.
//!
//! ```text
//! payee: NewCollection::new (split checked) ─► create ─► Create tx ─► committed; collection id =
//!        its tx hash ─► Created::code (merchant, total, id) ─► PNG
//! payer: scan(code) ─► collection id ─► pay_share: paychain_collection ─► share (--share N, else
//!        the first unpaid) and its exact amount ─► Pay tx (the chain checks everything again)
//! anyone, after the expiry: expire ─► Expire tx
//! ```

use paychain_api::{method, CollectionApiClient};
use paychain_contracts::api::{CollectionView, CollectionsView, MerchantView};
use paychain_contracts::collection::{self, Shares, Status};
use paychain_contracts::crypto::{Hash, PublicKey, SecretKey};
use paychain_contracts::ids::{MerchantId, PlatformId};
use paychain_contracts::money::Amount;
use paychain_contracts::reads::Query;
use paychain_contracts::tx::Call;
use paychain_contracts::wallet;

use crate::tx::{self, Sent, Wait};
use crate::{emvco, rpc};

/// Why a collection code or share cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not a valid EMVCo code.
    #[error("invalid collection code: {0}")]
    Code(#[from] emvco::Error),
    /// A valid code without a collection.
    #[error(
        "this code carries no split-bill collection (field 62-50): pay it with `paychain pay`"
    )]
    NotACollection,
    /// The collection id in the code is malformed.
    #[error("invalid collection code: collection id {0:?} is not 64 hex characters")]
    BadId(String),
    /// The collection is not open.
    #[error("collection {id} is {status}: it takes no more payments")]
    Closed {
        /// Collection.
        id: Hash,
        /// `completed` or `expired`.
        status: &'static str,
    },
    /// Every share is paid (while still open: never expected).
    #[error("every share of collection {0} is paid")]
    NoUnpaidShare(Hash),
    /// No such share.
    #[error("collection {id} has shares 0 to {last}, not {share}")]
    UnknownShare {
        /// Collection.
        id: Hash,
        /// Asked.
        share: u32,
        /// Last index.
        last: usize,
    },
    /// The code's text fields do not fit an EMVCo code.
    #[error("cannot build the collection code: {0}")]
    Encode(emvco::Error),
    /// A total or split the contract would refuse ([`NewCollection::new`]).
    #[error(transparent)]
    Invalid(#[from] collection::Error),
    /// Talking to the node failed.
    #[error(transparent)]
    Rpc(#[from] rpc::Error),
    /// The transaction was not admitted.
    #[error(transparent)]
    Tx(#[from] tx::Error),
}

impl rpc::Client {
    /// `paychain_collection`.
    pub async fn collection(&self, id: &Hash) -> Result<CollectionView, rpc::Error> {
        let q = Query::Collection { collection_id: *id };
        crate::rpc::signed_read!(self, method::COLLECTION, q, collection)
    }

    /// `paychain_collections`: what `key` created, is the payee of, or paid a share of.
    pub async fn collections(&self, key: &PublicKey) -> Result<CollectionsView, rpc::Error> {
        let q = Query::Collections {
            public_key: *key,
            limit: None,
        };
        crate::rpc::signed_read!(self, method::COLLECTIONS, q, collections)
    }
}

/// The collection id a scanned code carries.
pub fn scan(payload: &str) -> Result<Hash, Error> {
    let code = emvco::decode(payload.trim())?;
    let id = code.collection_ref().ok_or(Error::NotACollection)?;
    id.parse().map_err(|_| Error::BadId(id))
}

/// The dynamic EMVCo code of collection `id` for `merchant` (name and city cut to EMVCo's lengths).
pub fn code(merchant: &MerchantView, total: &Amount, id: &Hash) -> Result<String, Error> {
    let m = &merchant.merchant;
    let name: String = m.name.chars().take(emvco::MAX_NAME_CHARS).collect();
    let city: String = m.city.chars().take(emvco::MAX_CITY_CHARS).collect();
    let spec = emvco::MerchantCodeSpec::new(
        m.id.clone(),
        name.trim(),
        city.trim(),
        &m.mcc,
        total.currency.code(),
        &m.country,
    )
    .and_then(|s| s.with_collection(total.value, &id.to_hex()))
    .map_err(Error::Encode)?;
    Ok(emvco::encode(&spec))
}

/// The share to pay: `wanted`, else the first unpaid one; with its amount.
pub fn choose_share(view: &CollectionView, wanted: Option<u32>) -> Result<(u32, Amount), Error> {
    let c = &view.collection;
    match c.status {
        Status::Open => {}
        Status::Completed => {
            return Err(Error::Closed {
                id: c.id,
                status: "completed",
            })
        }
        Status::Expired => {
            return Err(Error::Closed {
                id: c.id,
                status: "expired",
            })
        }
    }
    let sub = match wanted {
        Some(i) => c.sub_orders.get(i as usize).ok_or(Error::UnknownShare {
            id: c.id,
            share: i,
            last: c.sub_orders.len().saturating_sub(1),
        })?,
        None => c
            .sub_orders
            .iter()
            .find(|s| s.payer.is_none())
            .ok_or(Error::NoUnpaidShare(c.id))?,
    };
    Ok((sub.share, sub.amount))
}

/// A collection to open, its split checked with the contract's rule ([`NewCollection::new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCollection {
    merchant: MerchantId,
    acquirer: PlatformId,
    total: Amount,
    shares: Shares,
    amounts: Vec<Amount>,
    expires_in_secs: u64,
    password: Option<String>,
}

impl NewCollection {
    /// A collection of `total` for `merchant`, credited to `acquirer` on completion, split as
    /// `shares`, open for `expires_in_secs` of block time from the latest block, with an optional
    /// password; if the contract would take the split.
    pub fn new(
        merchant: MerchantId,
        acquirer: PlatformId,
        total: Amount,
        shares: Shares,
        expires_in_secs: u64,
        password: Option<String>,
    ) -> Result<NewCollection, Error> {
        let amounts = collection::split(&total, &shares)?;
        Ok(NewCollection {
            merchant,
            acquirer,
            total,
            shares,
            amounts,
            expires_in_secs,
            password,
        })
    }

    /// The shares' amounts, in order.
    pub fn amounts(&self) -> &[Amount] {
        &self.amounts
    }
}

/// A collection opened.
#[derive(Debug)]
pub struct Created {
    /// Its id (the create transaction's hash).
    pub id: Hash,
    /// The shares' amounts, in order.
    pub shares: Vec<Amount>,
    /// Its expiry, block time.
    pub expires_at_ms: u64,
    /// Total.
    pub total: Amount,
    /// The merchant paid, as registered.
    pub merchant: MerchantView,
    /// The `Create` transaction.
    pub sent: Sent,
}

impl Created {
    /// The collection's code ([`code`]) for payers to scan.
    pub fn code(&self) -> Result<String, Error> {
        code(&self.merchant, &self.total, &self.id)
    }
}

/// The payee (the merchant's key or its acquirer) opens a collection; the expiry counts from the
/// latest block's time.
pub async fn create(
    client: &rpc::Client,
    payee: &SecretKey,
    new: NewCollection,
    wait: Wait,
) -> Result<Created, Error> {
    let merchant = client.merchant(&new.merchant).await?;
    let now_ms = client.status().await?.latest_block_time_ms;
    let expires_at_ms = now_ms.saturating_add(new.expires_in_secs.saturating_mul(1000));
    let call = Call::Collection(collection::Call::Create {
        merchant_id: new.merchant,
        acquirer: new.acquirer,
        total: new.total,
        shares: new.shares,
        expires_at_ms,
        password_hash: new.password.as_deref().map(collection::password_hash),
    });
    let sent = tx::send(client, payee, call, wait).await?;
    Ok(Created {
        id: sent.tx_hash,
        shares: new.amounts,
        expires_at_ms,
        total: new.total,
        merchant,
        sent,
    })
}

/// A share paid.
#[derive(Debug)]
pub struct SharePaid {
    /// The collection.
    pub id: Hash,
    /// The share.
    pub share: u32,
    /// Its amount.
    pub amount: Amount,
    /// The wallet that paid.
    pub from_wallet: Hash,
    /// The collection's total.
    pub total: Amount,
    /// The `Pay` transaction.
    pub sent: Sent,
}

impl SharePaid {
    /// Whether this payment completed the collection (the payee is credited the total).
    pub fn completed(&self) -> bool {
        self.sent.has_event("collection_completed")
    }
}

/// A payer pays one share of collection `id` (from its code: [`scan`]): `share`, else the first
/// unpaid one, from `wallet`, else the payer's wallet in the collection's currency.
pub async fn pay_share(
    client: &rpc::Client,
    payer: &SecretKey,
    id: Hash,
    share: Option<u32>,
    wallet: Option<Hash>,
    password: Option<String>,
    wait: Wait,
) -> Result<SharePaid, Error> {
    let client = &client.clone().with_reader(payer);
    let view = client.collection(&id).await?;
    let (share, amount) = choose_share(&view, share)?;
    let from_wallet =
        wallet.unwrap_or_else(|| wallet::wallet_id(&payer.public_key(), amount.currency));
    let call = Call::Collection(collection::Call::Pay {
        collection: id,
        share,
        from_wallet,
        amount,
        password,
    });
    let sent = tx::send(client, payer, call, wait).await?;
    Ok(SharePaid {
        id,
        share,
        amount,
        from_wallet,
        total: view.collection.total,
        sent,
    })
}

/// Anyone closes an incomplete collection after its expiry: paid shares go back to their wallets.
pub async fn expire(
    client: &rpc::Client,
    sender: &SecretKey,
    id: Hash,
    wait: Wait,
) -> Result<Sent, Error> {
    let call = Call::Collection(collection::Call::Expire { collection: id });
    Ok(tx::send(client, sender, call, wait).await?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use paychain_contracts::money::Currency;

    #[test]
    fn new_collections_are_split_when_made() {
        let m = MerchantId::derive(&PublicKey([3; 32]));
        let p = PlatformId::new("platform-0").unwrap();
        let total = Amount::parse("100.00", Currency::CNY).unwrap();
        let c = NewCollection::new(
            m.clone(),
            p.clone(),
            total,
            Shares::Equal { payers: 3 },
            60,
            None,
        )
        .unwrap();
        let shares: Vec<String> = c.amounts().iter().map(|a| a.value.to_string()).collect();
        assert_eq!(shares, ["33.34", "33.33", "33.33"]);
        let e = NewCollection::new(m, p, total, Shares::Proportions(vec![]), 60, None);
        assert!(matches!(e, Err(Error::Invalid(_))));
    }
}
