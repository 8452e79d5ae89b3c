//! Split-bill collections from the client side: the node's `paychain_collection` query, the
//! collection code (a dynamic EMVCo code whose 62-50 carries the collection id) and the choice of
//! the share a payer pays.
//!
//! ```text
//! payee: Create tx ─► committed; collection id = its tx hash ─► code(merchant, total, id) ─► PNG
//! payer: scan(code) ─► collection id ─► paychain_collection ─► share (--share N, else the first
//!        unpaid) and its exact amount ─► Pay tx (the chain checks everything again)
//! ```

use paychain_api::{method, CollectionApiClient};
use paychain_contracts::api::{CollectionView, CollectionsView, MerchantView};
use paychain_contracts::collection::Status;
use paychain_contracts::crypto::{Hash, PublicKey};
use paychain_contracts::money::Amount;

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
}

impl rpc::Client {
    /// `paychain_collection`.
    pub async fn collection(&self, id: &Hash) -> Result<CollectionView, rpc::Error> {
        self.run(method::COLLECTION, self.api().collection((*id).into()))
            .await
    }

    /// `paychain_collections`: what `key` created, is the payee of, or paid a share of.
    pub async fn collections(&self, key: &PublicKey) -> Result<CollectionsView, rpc::Error> {
        self.run(
            method::COLLECTIONS,
            self.api().collections((*key).into(), None),
        )
        .await
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
