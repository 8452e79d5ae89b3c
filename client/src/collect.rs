//! Split-bill collections from the client side: the node's `paychain_collection` query, the
//! collection code (a dynamic EMVCo code whose 62-50 carries the collection id) and the choice of
//! the share a payer pays.
//!
//! ```text
//! payee: create ─► split checked ─► Create tx ─► committed; collection id = its tx hash
//!        ─► Created::code (merchant, total, id) ─► PNG
//! payer: pay_share: scan(code) ─► collection id ─► paychain_collection ─► share (--share N, else
//!        the first unpaid) and its exact amount ─► Pay tx (the chain checks everything again)
//! anyone, after the expiry: expire ─► Expire tx
//! ```

use paychain_api::{method, CollectionApiClient};
use paychain_contracts::api::{CollectionView, CollectionsView, MerchantView};
use paychain_contracts::collection::{self, Shares, Status};
use paychain_contracts::crypto::{Hash, PublicKey, SecretKey};
use paychain_contracts::ids::{MerchantId, PlatformId};
use paychain_contracts::money::Amount;
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
    /// A total or split the contract would refuse (checked before anything is sent).
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

/// A collection to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCollection {
    /// Merchant paid.
    pub merchant: MerchantId,
    /// Acquiring platform credited on completion.
    pub acquirer: PlatformId,
    /// Total.
    pub total: Amount,
    /// How it is split.
    pub shares: Shares,
    /// Validity in seconds of block time from the latest block.
    pub expires_in_secs: u64,
    /// Password payers must give.
    pub password: Option<String>,
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

/// The payee (the merchant's key or its acquirer) opens a collection; the split is checked first
/// with the contract's rule, the expiry counts from the latest block's time.
pub async fn create(
    client: &rpc::Client,
    payee: &SecretKey,
    new: NewCollection,
    wait: Wait,
) -> Result<Created, Error> {
    let shares = collection::split(&new.total, &new.shares)?;
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
        shares,
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

/// A payer pays one share of the collection whose code is `payload`: `share`, else the first unpaid
/// one, from `wallet`, else the payer's wallet in the collection's currency.
pub async fn pay_share(
    client: &rpc::Client,
    payer: &SecretKey,
    payload: &str,
    share: Option<u32>,
    wallet: Option<Hash>,
    password: Option<String>,
    wait: Wait,
) -> Result<SharePaid, Error> {
    let id = scan(payload)?;
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
