//! Split-bill collection: one code, many payers.
//!
//! ```text
//! payee (merchant key or acquirer): Create { total, shares, expires_at_ms, password_hash? }
//!     id = the create tx hash; shares fixed now by split(total, shares)   ─► status open
//! payer i: Pay { collection, share, from_wallet, amount, password? }     wallet ─► escrow
//!     the N-th payment completes:                                         escrow ─► payee's to-be-settled
//! anyone, once block time ≥ expires_at_ms and not completed: Expire      escrow ─► each payer's wallet
//! ```
//!
//! # Shares
//!
//! [`split`] divides the total in the currency's minor units (1 fen for CNY, 1 yen for JPY, 1 fils
//! for BHD). Each share first gets `floor(total × wᵢ / Σw)`; the units left over (fewer than the
//! number of shares) go one each to the shares with the **largest remainders**, ties to the
//! **earliest share**. With an equal split this means the first payers carry the extra unit
//! (100.00 CNY / 3 = 33.34, 33.33, 33.33). The shares always sum exactly to the total; a share of
//! zero units is refused ([`Error::InvalidShares`]).
//!
//! # Paying
//!
//! Each payer pays one share, from a wallet they own, in the collection's currency, stating the
//! share's exact amount (what they sign is what they pay). The merchant's key must hold a valid
//! merchant certificate and the payer a valid user certificate at the block's time (at `Create` the
//! merchant's, at every share both: [`crate::ca::certified`]; refusals carry the CA's codes). One
//! share per payer key. Paid shares sit in the collection's escrow account ([`Account::Escrow`])
//! until the last share is paid; then the whole total moves, once, to the payee's to-be-settled
//! account at the acquirer.
//!
//! # Expiry and refunds (policy)
//!
//! Block time only: a payment in a block whose time is at or after `expires_at_ms` is refused. A
//! collection that expired before completing is closed by [`Call::Expire`], which anyone may send:
//! every paid share is returned in full to the wallet it came from, and the collection is marked
//! expired. A completed collection never expires (its money belongs to the payee; refunds are then
//! the acquirer's [`crate::wallet::Call::Refund`] business).
//!
//! # Password
//!
//! `password_hash` is [`password_hash`]`(collection-independent password)`. The password travels in
//! clear in each `Pay` transaction, so once the first share is paid it is public on chain: it keeps
//! strangers who only saw the code from paying before the first payment, no more. The payer's key
//! is what identifies the payer.
//!
//! # State keys
//!
//! `col/{collection id}` → [`Collection`].

use borsh::{BorshDeserialize, BorshSerialize};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::chain::kernel::{CallError, Context, Event, Refusal};
use crate::chain::state::{get_decoded, put_encoded, Overlay, StateError, StateReader};
use crate::governance::{self, Role};
use crate::primitives::crypto::{sha256, Hash, PublicKey};
use crate::primitives::ids::{MerchantId, PlatformId};
use crate::primitives::money::{self, decimal_str, Amount};
use crate::registry;
use crate::wallet::{self, Account, MovementKind};

/// Most payers of one collection.
pub const MAX_PAYERS: u32 = 100;
/// Largest proportion weight.
pub const MAX_WEIGHT: u32 = 1_000_000;
/// Longest validity window: 30 days of block time.
pub const MAX_VALIDITY_MS: u64 = 30 * 24 * 3600 * 1000;
/// Longest password, in bytes.
pub const MAX_PASSWORD_LEN: usize = 64;

const COLLECTION_PREFIX: &[u8] = b"col/";

/// Refusals of collection calls (500..=599; wallet and money refusals keep their codes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An amount or currency refusal.
    #[error(transparent)]
    Money(#[from] money::Error),
    /// The sender is neither the merchant's key nor the acquiring platform.
    #[error(
        "only merchant {merchant_id}'s key or its acquirer {acquirer} can create its collection"
    )]
    NotPayee {
        /// Merchant.
        merchant_id: MerchantId,
        /// Named acquirer.
        acquirer: PlatformId,
    },
    /// The shares cannot be split as asked.
    #[error("invalid shares: {0}")]
    InvalidShares(String),
    /// The expiry is not in the future, or too far.
    #[error("invalid expiry {expires_at_ms}: must be after block time {now_ms} and at most {MAX_VALIDITY_MS} ms later")]
    InvalidExpiry {
        /// Asked expiry.
        expires_at_ms: u64,
        /// Block time.
        now_ms: u64,
    },
    /// No such collection.
    #[error("unknown collection {0}")]
    UnknownCollection(Hash),
    /// Every share is paid.
    #[error("collection {0} is already completed")]
    Completed(Hash),
    /// The collection expired.
    #[error("collection {collection} expired at {expires_at_ms} (block time {now_ms})")]
    Expired {
        /// Collection.
        collection: Hash,
        /// Its expiry.
        expires_at_ms: u64,
        /// Block time.
        now_ms: u64,
    },
    /// Missing or wrong password.
    #[error("wrong password for collection {0}")]
    WrongPassword(Hash),
    /// This payer already paid a share.
    #[error("payer {payer} already paid share {share} of collection {collection}")]
    PayerAlreadyPaid {
        /// Collection.
        collection: Hash,
        /// Payer.
        payer: PublicKey,
        /// The share they paid.
        share: u32,
    },
    /// The share is paid (by someone else).
    #[error("share {share} of collection {collection} is already paid by {payer}")]
    ShareAlreadyPaid {
        /// Collection.
        collection: Hash,
        /// Share.
        share: u32,
        /// Its payer.
        payer: PublicKey,
    },
    /// No such share.
    #[error("collection {collection} has shares 0 to {last}, not {share}")]
    UnknownShare {
        /// Collection.
        collection: Hash,
        /// Asked.
        share: u32,
        /// Last share index.
        last: u32,
    },
    /// The amount stated is not the share's.
    #[error("share {share} of collection {collection} is {expected}, not {got}")]
    WrongAmount {
        /// Collection.
        collection: Hash,
        /// Share.
        share: u32,
        /// The share's amount.
        expected: String,
        /// Stated.
        got: String,
    },
    /// Expire before the expiry.
    #[error("collection {collection} is open until {expires_at_ms} (block time {now_ms})")]
    NotExpired {
        /// Collection.
        collection: Hash,
        /// Expiry.
        expires_at_ms: u64,
        /// Block time.
        now_ms: u64,
    },
    /// Expire of an already expired collection.
    #[error("collection {0} is already expired and refunded")]
    AlreadyExpired(Hash),
}

impl Error {
    /// Stable receipt code: 300..=309 money, 500..=599 collection.
    pub fn code(&self) -> u32 {
        match self {
            Error::Money(e) => e.code(),
            Error::NotPayee { .. } => 500,
            Error::InvalidShares(_) => 501,
            Error::InvalidExpiry { .. } => 502,
            Error::UnknownCollection(_) => 503,
            Error::Completed(_) => 504,
            Error::Expired { .. } => 505,
            Error::WrongPassword(_) => 506,
            Error::PayerAlreadyPaid { .. } => 507,
            Error::ShareAlreadyPaid { .. } => 508,
            Error::UnknownShare { .. } => 509,
            Error::WrongAmount { .. } => 510,
            Error::NotExpired { .. } => 511,
            Error::AlreadyExpired(_) => 512,
        }
    }
}

impl Refusal for Error {
    fn code(&self) -> u32 {
        Error::code(self)
    }
}

/// How the total is divided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shares {
    /// `payers` equal shares.
    Equal {
        /// Number of payers (1..=[`MAX_PAYERS`]).
        payers: u32,
    },
    /// One share per weight, proportional to it (each 1..=[`MAX_WEIGHT`]).
    Proportions(Vec<u32>),
}

/// Collection calls. JSON: externally tagged, snake_case.
///
/// Encoding: borsh, a `u8` variant index in declaration order (first variant = 0), then the variant's
/// fields (`docs/encoding.md`). The order is part of the signed format: new variants are appended
/// at the end, none is ever removed or reordered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// The payee opens a collection (id: the tx hash).
    Create {
        /// Merchant paid.
        merchant_id: MerchantId,
        /// Acquirer whose to-be-settled account is credited.
        acquirer: PlatformId,
        /// Total.
        total: Amount,
        /// Split.
        shares: Shares,
        /// Block time from which payments are refused.
        expires_at_ms: u64,
        /// [`password_hash`] of the password payers must give, if any.
        password_hash: Option<Hash>,
    },
    /// A payer pays one share from their wallet.
    Pay {
        /// Collection id.
        collection: Hash,
        /// Share index (0-based).
        share: u32,
        /// Payer's wallet (the collection's currency).
        from_wallet: Hash,
        /// The share's amount, as the payer agreed to it.
        amount: Amount,
        /// The password, when the collection has one.
        password: Option<String>,
    },
    /// Anyone closes an expired, incomplete collection: paid shares go back to their wallets.
    Expire {
        /// Collection id.
        collection: Hash,
    },
}

/// Where a collection stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Taking payments until expiry.
    Open,
    /// Every share paid; the payee was credited.
    Completed,
    /// Closed after expiry; paid shares refunded.
    Expired,
}

/// One payer's sub-order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct SubOrder {
    /// Index (0-based).
    pub share: u32,
    /// Amount due.
    pub amount: Amount,
    /// Payer, once paid.
    pub payer: Option<PublicKey>,
    /// The wallet that paid.
    pub wallet: Option<Hash>,
    /// The paying tx.
    pub paid_tx: Option<Hash>,
    /// Block time of the payment.
    pub paid_at_ms: Option<u64>,
    /// Returned to the wallet on expiry.
    pub refunded: bool,
}

/// A collection (total order with its sub-orders).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Collection {
    /// The create tx hash.
    pub id: Hash,
    /// The key that created it.
    pub creator: PublicKey,
    /// Merchant paid.
    pub merchant_id: MerchantId,
    /// Acquirer.
    pub acquirer: PlatformId,
    /// Total.
    pub total: Amount,
    /// Sub-orders, by share index.
    pub sub_orders: Vec<SubOrder>,
    /// Expiry (block time).
    pub expires_at_ms: u64,
    /// Password hash, if any.
    pub password_hash: Option<Hash>,
    /// Height of creation.
    pub created_at: u64,
    /// Block time of creation.
    pub created_at_ms: u64,
    /// Status.
    pub status: Status,
    /// Block time of completion or expiry.
    pub closed_at_ms: Option<u64>,
}

impl Collection {
    /// Sum of the paid (and not refunded) shares.
    pub fn paid(&self) -> Decimal {
        self.sub_orders
            .iter()
            .filter(|s| s.payer.is_some() && !s.refunded)
            .map(|s| s.amount.value)
            .sum()
    }
}

/// `sha256("paychain/collection-password/v1" ‖ password)`.
pub fn password_hash(password: &str) -> Hash {
    sha256(&[b"paychain/collection-password/v1", password.as_bytes()])
}

/// Splits `total` into shares exact to its currency's minor unit that sum to it: largest
/// remainder, ties to the earliest share (see the module docs).
pub fn split(total: &Amount, shares: &Shares) -> Result<Vec<Amount>, Error> {
    total.validate()?;
    let digits = total.currency.minor_units()?;
    let weights: Vec<u32> = match shares {
        Shares::Equal { payers } => {
            if *payers == 0 || *payers > MAX_PAYERS {
                return Err(Error::InvalidShares(format!(
                    "{payers} payers: expected 1 to {MAX_PAYERS}"
                )));
            }
            vec![1; *payers as usize]
        }
        Shares::Proportions(w) => {
            if w.is_empty() || w.len() > MAX_PAYERS as usize {
                return Err(Error::InvalidShares(format!(
                    "{} proportions: expected 1 to {MAX_PAYERS}",
                    w.len()
                )));
            }
            if let Some(bad) = w.iter().find(|x| **x == 0 || **x > MAX_WEIGHT) {
                return Err(Error::InvalidShares(format!(
                    "proportion {bad}: expected 1 to {MAX_WEIGHT}"
                )));
            }
            w.clone()
        }
    };
    // Validated: scale ≤ digits ≤ 3 and value ≤ 10^12, so the minor units fit easily in u128.
    let mantissa = u128::try_from(total.value.mantissa())
        .map_err(|_| Error::InvalidShares("negative total".into()))?;
    let units = mantissa * 10u128.pow(digits - total.value.scale());
    let sum_w: u128 = weights.iter().map(|w| u128::from(*w)).sum();
    let mut parts: Vec<(u128, u128)> = weights
        .iter()
        .map(|w| {
            let x = units * u128::from(*w);
            (x / sum_w, x % sum_w)
        })
        .collect();
    let given: u128 = parts.iter().map(|(q, _)| q).sum();
    let left = units - given;
    let mut order: Vec<usize> = (0..parts.len()).collect();
    // Largest remainder first; equal remainders keep index order (stable sort).
    order.sort_by(|a, b| parts[*b].1.cmp(&parts[*a].1));
    for &i in order.iter().take(left as usize) {
        parts[i].0 += 1;
    }
    parts
        .iter()
        .enumerate()
        .map(|(i, (q, _))| {
            if *q == 0 {
                return Err(Error::InvalidShares(format!(
                    "share {i} of {total} would be zero"
                )));
            }
            let q = i128::try_from(*q).map_err(|_| Error::InvalidShares("overflow".into()))?;
            Ok(Amount {
                value: Decimal::from_i128_with_scale(q, digits),
                currency: total.currency,
            })
        })
        .collect()
}

fn collection_key(id: &Hash) -> Vec<u8> {
    [COLLECTION_PREFIX, &id.0[..]].concat()
}

/// The collection `id`.
pub fn collection(reader: &impl StateReader, id: &Hash) -> Result<Option<Collection>, StateError> {
    get_decoded(reader, &collection_key(id))
}

/// A split-bill collection with its sub-orders, what is paid (held in escrow) and what is
/// outstanding (zero once completed or expired).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionView {
    /// The collection and its sub-orders.
    pub collection: Collection,
    /// Paid and not refunded.
    #[serde(with = "decimal_str")]
    pub paid: Decimal,
    /// Still to pay while open.
    #[serde(with = "decimal_str")]
    pub outstanding: Decimal,
}

/// The collection `id` with what is paid and outstanding.
pub fn collection_view(
    reader: &impl StateReader,
    id: &Hash,
) -> Result<Option<CollectionView>, StateError> {
    Ok(collection(reader, id)?.map(|c| {
        let paid = c.paid();
        let outstanding = if c.status == Status::Open {
            c.total.value.checked_sub(paid).unwrap_or(Decimal::ZERO)
        } else {
            Decimal::ZERO
        };
        let mut paid = paid;
        let mut outstanding = outstanding;
        let digits = c.total.currency.minor_units().unwrap_or(0);
        paid.rescale(digits);
        outstanding.rescale(digits);
        CollectionView {
            collection: c,
            paid,
            outstanding,
        }
    }))
}

fn escrow(c: &Collection) -> Account {
    Account::Escrow {
        collection: c.id,
        currency: c.total.currency,
    }
}

fn is_payee(
    reader: &impl StateReader,
    ctx: &Context,
    m: &MerchantId,
    a: &PlatformId,
) -> Result<bool, CallError> {
    if registry::merchant(reader, m)?.is_some_and(|r| r.merchant_key == ctx.sender) {
        return Ok(true);
    }
    Ok(governance::member_by_key(reader, &ctx.sender)?
        .is_some_and(|mem| mem.id == *a && mem.has_role(Role::Platform)))
}

/// The collections `key` created, is the payee's merchant key of, or paid a share of, newest first (at most `limit`), and whether
/// older ones were left out.
pub fn collections_of(
    reader: &impl StateReader,
    key: &PublicKey,
    limit: usize,
) -> Result<(Vec<CollectionView>, bool), StateError> {
    let (ids, more) = crate::chain::index::newest(reader, COLLECTION_PREFIX, key, limit)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(c) = collection_view(reader, &id)? {
            out.push(c);
        }
    }
    Ok((out, more))
}

/// Runs a collection call.
pub(crate) fn execute<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: &Context,
    call: &Call,
) -> Result<Vec<Event>, CallError> {
    match call {
        Call::Create {
            merchant_id,
            acquirer,
            total,
            shares,
            expires_at_ms,
            password_hash,
        } => {
            wallet::check_acquirer(ov, merchant_id, acquirer)?;
            if !is_payee(ov, ctx, merchant_id, acquirer)? {
                return Err(Error::NotPayee {
                    merchant_id: merchant_id.clone(),
                    acquirer: acquirer.clone(),
                }
                .into());
            }
            wallet::check_payee(ov, merchant_id, ctx.time_ms)?;
            let amounts = split(total, shares)?;
            if *expires_at_ms <= ctx.time_ms || *expires_at_ms - ctx.time_ms > MAX_VALIDITY_MS {
                return Err(Error::InvalidExpiry {
                    expires_at_ms: *expires_at_ms,
                    now_ms: ctx.time_ms,
                }
                .into());
            }
            let c = Collection {
                id: ctx.tx_hash,
                creator: ctx.sender,
                merchant_id: merchant_id.clone(),
                acquirer: acquirer.clone(),
                total: *total,
                sub_orders: amounts
                    .into_iter()
                    .zip(0u32..)
                    .map(|(amount, share)| SubOrder {
                        share,
                        amount,
                        payer: None,
                        wallet: None,
                        paid_tx: None,
                        paid_at_ms: None,
                        refunded: false,
                    })
                    .collect(),
                expires_at_ms: *expires_at_ms,
                password_hash: *password_hash,
                created_at: ctx.height,
                created_at_ms: ctx.time_ms,
                status: Status::Open,
                closed_at_ms: None,
            };
            put_encoded(ov, collection_key(&c.id), &c);
            crate::chain::index::push(ov, COLLECTION_PREFIX, &ctx.sender, &c.id)?;
            if let Some(m) = crate::registry::merchant(ov, merchant_id)? {
                if m.merchant_key != ctx.sender {
                    crate::chain::index::push(ov, COLLECTION_PREFIX, &m.merchant_key, &c.id)?;
                }
            }
            Ok(vec![Event::new("collection_created")
                .with("collection_id", c.id.to_string())
                .with("merchant_id", merchant_id.as_str())
                .with("acquirer", acquirer.as_str())
                .with("total", total.value.to_string())
                .with("currency", total.currency.code())
                .with("payers", c.sub_orders.len().to_string())
                .with("expires_at_ms", expires_at_ms.to_string())])
        }
        Call::Pay {
            collection: id,
            share,
            from_wallet,
            amount,
            password,
        } => pay(
            ov,
            ctx,
            id,
            *share,
            from_wallet,
            amount,
            password.as_deref(),
        ),
        Call::Expire { collection: id } => {
            let mut c = collection(ov, id)?.ok_or(Error::UnknownCollection(*id))?;
            match c.status {
                Status::Completed => return Err(Error::Completed(c.id).into()),
                Status::Expired => return Err(Error::AlreadyExpired(c.id).into()),
                Status::Open => {}
            }
            if ctx.time_ms < c.expires_at_ms {
                return Err(Error::NotExpired {
                    collection: c.id,
                    expires_at_ms: c.expires_at_ms,
                    now_ms: ctx.time_ms,
                }
                .into());
            }
            let from = escrow(&c);
            let mut events = Vec::new();
            for s in c.sub_orders.iter_mut() {
                if let (Some(w), false) = (s.wallet, s.refunded) {
                    wallet::transfer(
                        ov,
                        ctx,
                        MovementKind::CollectionRefund,
                        &from,
                        &Account::Wallet { id: w },
                        &s.amount,
                        &format!("{} {}", c.id, s.share),
                    )?;
                    s.refunded = true;
                    events.push(
                        Event::new("collection_share_refunded")
                            .with("collection_id", c.id.to_string())
                            .with("share", s.share.to_string())
                            .with("wallet_id", w.to_string())
                            .with("amount", s.amount.value.to_string()),
                    );
                }
            }
            c.status = Status::Expired;
            c.closed_at_ms = Some(ctx.time_ms);
            put_encoded(ov, collection_key(&c.id), &c);
            events.push(
                Event::new("collection_expired")
                    .with("collection_id", c.id.to_string())
                    .with("refunded_shares", (events.len()).to_string()),
            );
            Ok(events)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn pay<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: &Context,
    id: &Hash,
    share: u32,
    from_wallet: &Hash,
    amount: &Amount,
    password: Option<&str>,
) -> Result<Vec<Event>, CallError> {
    let mut c = collection(ov, id)?.ok_or(Error::UnknownCollection(*id))?;
    match c.status {
        Status::Completed => return Err(Error::Completed(c.id).into()),
        Status::Expired => {
            return Err(Error::Expired {
                collection: c.id,
                expires_at_ms: c.expires_at_ms,
                now_ms: ctx.time_ms,
            }
            .into())
        }
        Status::Open => {}
    }
    if ctx.time_ms >= c.expires_at_ms {
        return Err(Error::Expired {
            collection: c.id,
            expires_at_ms: c.expires_at_ms,
            now_ms: ctx.time_ms,
        }
        .into());
    }
    if let Some(h) = c.password_hash {
        let ok = password.is_some_and(|p| p.len() <= MAX_PASSWORD_LEN && password_hash(p) == h);
        if !ok {
            return Err(Error::WrongPassword(c.id).into());
        }
    }
    if let Some(s) = c.sub_orders.iter().find(|s| s.payer == Some(ctx.sender)) {
        return Err(Error::PayerAlreadyPaid {
            collection: c.id,
            payer: ctx.sender,
            share: s.share,
        }
        .into());
    }
    let last = u32::try_from(c.sub_orders.len().saturating_sub(1)).unwrap_or(u32::MAX);
    let sub = c
        .sub_orders
        .get(share as usize)
        .ok_or(Error::UnknownShare {
            collection: c.id,
            share,
            last,
        })?
        .clone();
    if let Some(payer) = sub.payer {
        return Err(Error::ShareAlreadyPaid {
            collection: c.id,
            share,
            payer,
        }
        .into());
    }
    if *amount != sub.amount {
        amount.validate().map_err(Error::from)?;
        amount
            .expect_currency(sub.amount.currency)
            .map_err(Error::from)?;
        return Err(Error::WrongAmount {
            collection: c.id,
            share,
            expected: sub.amount.to_string(),
            got: amount.to_string(),
        }
        .into());
    }
    let w = wallet::wallet(ov, from_wallet)?.ok_or(wallet::Error::UnknownWallet(*from_wallet))?;
    if w.owner != ctx.sender {
        return Err(wallet::Error::NotWalletOwner(w.id).into());
    }
    amount.expect_currency(w.currency).map_err(Error::from)?;
    // The merchant paid (when the last share completes) and the payer must both be certified now.
    wallet::check_payee(ov, &c.merchant_id, ctx.time_ms)?;
    wallet::check_payer(ov, &ctx.sender, ctx.time_ms)?;
    let to = escrow(&c);
    wallet::transfer(
        ov,
        ctx,
        MovementKind::CollectionShare,
        &Account::Wallet { id: w.id },
        &to,
        amount,
        &format!("{} {share}", c.id),
    )?;
    crate::chain::index::push(ov, COLLECTION_PREFIX, &ctx.sender, &c.id)?;
    if let Some(s) = c.sub_orders.get_mut(share as usize) {
        s.payer = Some(ctx.sender);
        s.wallet = Some(w.id);
        s.paid_tx = Some(ctx.tx_hash);
        s.paid_at_ms = Some(ctx.time_ms);
    }
    let mut events = vec![Event::new("collection_share_paid")
        .with("collection_id", c.id.to_string())
        .with("share", share.to_string())
        .with("wallet_id", w.id.to_string())
        .with("amount", amount.value.to_string())
        .with("currency", amount.currency.code())];
    if c.sub_orders.iter().all(|s| s.payer.is_some()) {
        let payee = Account::ToBeSettled {
            merchant_id: c.merchant_id.clone(),
            acquirer: c.acquirer.clone(),
            currency: c.total.currency,
        };
        wallet::transfer(
            ov,
            ctx,
            MovementKind::CollectionCompleted,
            &to,
            &payee,
            &c.total,
            &c.id.to_string(),
        )?;
        c.status = Status::Completed;
        c.closed_at_ms = Some(ctx.time_ms);
        events.push(
            Event::new("collection_completed")
                .with("collection_id", c.id.to_string())
                .with("merchant_id", c.merchant_id.as_str())
                .with("acquirer", c.acquirer.as_str())
                .with("total", c.total.value.to_string())
                .with("currency", c.total.currency.code()),
        );
    }
    put_encoded(ov, collection_key(&c.id), &c);
    Ok(events)
}

#[cfg(test)]
mod tests;
