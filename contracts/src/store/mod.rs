//! Offline store, online identity: a store's terminal creates a pending order against a user's
//! public key (scanned from the user's identity code); the user confirms it, or a standing
//! authorisation pays it at once.
//!
//! ```text
//! store (merchant key): CreateOrder { merchant_id, acquirer, user, order_no, amount,
//!                                      items_digest, expires_at_ms }      id = the create tx hash
//!     if user has Authorise { merchant_id, per_order_limit, from_wallet } and amount ≤ limit
//!     (same currency, wallet covers it): paid in the same tx              ─► status paid
//!     otherwise                                                           ─► status pending
//! user: Confirm { order, from_wallet }        wallet ─► store's to-be-settled at the acquirer
//! user: Authorise { .. } / Revoke { merchant_id }
//! ```
//!
//! Paying moves the money through [`wallet::transfer`] as a [`MovementKind::Payment`] (wallet →
//! to-be-settled) and records a [`wallet::Payment`] whose id is the paying tx hash, so the
//! acquirer's refunds, settlement and `paychain_certificates` treat it like any other payment; the
//! paying tx's certificate is the receipt.
//!
//! # Rules
//!
//! Certificates: the store's merchant key must hold a valid merchant certificate to create an order
//! and when it is paid, and the paying user a valid user certificate when it pays (a standing
//! authorisation of a user whose certificate is no longer valid is skipped: the order stays
//! pending); [`crate::ca::certified`] at the block's time, refusals with the CA's codes.
//!
//! Block time only: a confirmation in a block whose time is at or after `expires_at_ms` is refused
//! (pending orders simply expire; nothing is held, so nothing is refunded). An order is paid at most
//! once. Only the order's user may confirm it. An order number is unique per store, forever. An
//! automatic payment that the wallet does not cover leaves the order pending (the create succeeds).
//!
//! # State keys
//!
//! `sto/order/{order id}` → [`Order`]; `sto/order_no/{merchant id}/{order no}` → order id;
//! `sto/auth/{user key}/{merchant id}` → [`Authorisation`]; per-key lists ([`crate::chain::index`]) of
//! each user's and each store key's orders under `sto/order/`.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::chain::kernel::{CallError, Context, Event, Refusal};
use crate::chain::state::{get_decoded, put_encoded, Overlay, StateError, StateReader};
use crate::primitives::crypto::{Hash, PublicKey};
use crate::primitives::ids::{MerchantId, PlatformId};
use crate::primitives::money::{self, Amount};
use crate::registry;
use crate::wallet::{self, Account, MovementKind};

/// Longest order number, in bytes (printable ASCII, no spaces).
pub const MAX_ORDER_NO_LEN: usize = 32;
/// Longest validity window: 1 day of block time.
pub const MAX_VALIDITY_MS: u64 = 24 * 3600 * 1000;

const ORDER_PREFIX: &[u8] = b"sto/order/";
const ORDER_NO_PREFIX: &[u8] = b"sto/order_no/";
const AUTH_PREFIX: &[u8] = b"sto/auth/";

/// Refusals of store calls (600..=699; wallet and money refusals keep their codes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An amount or currency refusal.
    #[error(transparent)]
    Money(#[from] money::Error),
    /// The sender is not the store's merchant key.
    #[error("only merchant {0}'s key can create its orders")]
    NotMerchant(MerchantId),
    /// Empty, too long or non-printable order number.
    #[error(
        "invalid order number {0:?}: 1 to {MAX_ORDER_NO_LEN} printable ASCII characters, no spaces"
    )]
    InvalidOrderNo(String),
    /// The expiry is not in the future, or too far.
    #[error("invalid expiry {expires_at_ms}: must be after block time {now_ms} and at most {MAX_VALIDITY_MS} ms later")]
    InvalidExpiry {
        /// Asked expiry.
        expires_at_ms: u64,
        /// Block time.
        now_ms: u64,
    },
    /// No such order.
    #[error("unknown order {0}")]
    UnknownOrder(Hash),
    /// The store already used this order number.
    #[error("store {merchant_id} already has order number {order_no:?} (order {order})")]
    DuplicateOrderNo {
        /// Store.
        merchant_id: MerchantId,
        /// Order number.
        order_no: String,
        /// The existing order.
        order: Hash,
    },
    /// The order expired unpaid.
    #[error("order {order} expired at {expires_at_ms} (block time {now_ms})")]
    Expired {
        /// Order.
        order: Hash,
        /// Its expiry.
        expires_at_ms: u64,
        /// Block time.
        now_ms: u64,
    },
    /// The order is already paid.
    #[error("order {order} is already paid (tx {paid_tx})")]
    AlreadyPaid {
        /// Order.
        order: Hash,
        /// The paying tx.
        paid_tx: Hash,
    },
    /// The sender is not the order's user.
    #[error("order {order} belongs to user {user}, not {sender}")]
    NotOrderUser {
        /// Order.
        order: Hash,
        /// Its user.
        user: PublicKey,
        /// Sender.
        sender: PublicKey,
    },
    /// Revoke without an authorisation.
    #[error("no standing authorisation for merchant {0}")]
    NoAuthorisation(MerchantId),
}

impl Error {
    /// Stable receipt code: 300..=309 money, 600..=699 store.
    pub fn code(&self) -> u32 {
        match self {
            Error::Money(e) => e.code(),
            Error::NotMerchant(_) => 600,
            Error::InvalidOrderNo(_) => 601,
            Error::InvalidExpiry { .. } => 602,
            Error::UnknownOrder(_) => 603,
            Error::DuplicateOrderNo { .. } => 604,
            Error::Expired { .. } => 605,
            Error::AlreadyPaid { .. } => 606,
            Error::NotOrderUser { .. } => 607,
            Error::NoAuthorisation(_) => 608,
        }
    }
}

impl Refusal for Error {
    fn code(&self) -> u32 {
        Error::code(self)
    }
}

/// Store calls. JSON: externally tagged, snake_case.
///
/// Encoding: borsh, a `u8` variant index in declaration order (first variant = 0), then the variant's
/// fields (`docs/encoding.md`). The order is part of the signed format: new variants are appended
/// at the end, none is ever removed or reordered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// The store (its merchant key) creates a pending order for a user (id: the tx hash).
    CreateOrder {
        /// The store.
        merchant_id: MerchantId,
        /// Acquirer whose to-be-settled account is credited.
        acquirer: PlatformId,
        /// The user's online identity (from their identity code).
        user: PublicKey,
        /// Store's order number (unique per store).
        order_no: String,
        /// Amount.
        amount: Amount,
        /// Digest of the items list.
        items_digest: Hash,
        /// Block time from which the order can no longer be paid.
        expires_at_ms: u64,
    },
    /// The order's user pays it from their wallet.
    Confirm {
        /// Order id.
        order: Hash,
        /// Wallet that pays (the order's currency).
        from_wallet: Hash,
    },
    /// The user lets a store's orders up to a limit be paid automatically (replaces any previous).
    Authorise {
        /// The store.
        merchant_id: MerchantId,
        /// Largest order paid automatically (its currency is the authorisation's).
        per_order_limit: Amount,
        /// Wallet that pays.
        from_wallet: Hash,
    },
    /// The user withdraws a standing authorisation.
    Revoke {
        /// The store.
        merchant_id: MerchantId,
    },
}

/// Where an order stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for the user (until expiry).
    Pending,
    /// Paid.
    Paid,
}

/// A store order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Order {
    /// The create tx hash.
    pub id: Hash,
    /// The store.
    pub merchant_id: MerchantId,
    /// Acquirer.
    pub acquirer: PlatformId,
    /// The user.
    pub user: PublicKey,
    /// Order number.
    pub order_no: String,
    /// Amount.
    pub amount: Amount,
    /// Items digest.
    pub items_digest: Hash,
    /// Expiry (block time).
    pub expires_at_ms: u64,
    /// Height of creation.
    pub created_at: u64,
    /// Block time of creation.
    pub created_at_ms: u64,
    /// Status.
    pub status: Status,
    /// The wallet that paid.
    pub paid_from: Option<Hash>,
    /// The paying tx (the payment id).
    pub paid_tx: Option<Hash>,
    /// Block time of the payment.
    pub paid_at_ms: Option<u64>,
    /// Paid by a standing authorisation.
    pub auto_paid: bool,
}

/// A user's standing authorisation for one store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Authorisation {
    /// User.
    pub user: PublicKey,
    /// Store.
    pub merchant_id: MerchantId,
    /// Largest order paid automatically.
    pub per_order_limit: Amount,
    /// Wallet that pays.
    pub from_wallet: Hash,
    /// Block time it was given.
    pub since_ms: u64,
}

fn order_key(id: &Hash) -> Vec<u8> {
    [ORDER_PREFIX, &id.0[..]].concat()
}

fn order_no_key(m: &MerchantId, order_no: &str) -> Vec<u8> {
    [
        ORDER_NO_PREFIX,
        m.as_str().as_bytes(),
        b"/",
        order_no.as_bytes(),
    ]
    .concat()
}

fn auth_key(user: &PublicKey, m: &MerchantId) -> Vec<u8> {
    [AUTH_PREFIX, &user.0[..], b"/", m.as_str().as_bytes()].concat()
}

/// The order `id`.
pub fn order(reader: &impl StateReader, id: &Hash) -> Result<Option<Order>, StateError> {
    get_decoded(reader, &order_key(id))
}

/// The order id of the store's `order_no`.
pub fn order_by_no(
    reader: &impl StateReader,
    merchant_id: &MerchantId,
    order_no: &str,
) -> Result<Option<Hash>, StateError> {
    get_decoded(reader, &order_no_key(merchant_id, order_no))
}

/// `user`'s standing authorisation for `merchant_id`.
pub fn authorisation(
    reader: &impl StateReader,
    user: &PublicKey,
    merchant_id: &MerchantId,
) -> Result<Option<Authorisation>, StateError> {
    get_decoded(reader, &auth_key(user, merchant_id))
}

/// A store order and whether it is expired (pending and past its expiry at the latest block time).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreOrderView {
    /// The order.
    pub order: Order,
    /// Pending and no longer payable.
    pub expired: bool,
}

/// The order `id` and whether it is expired at block time `now_ms` (unpaid and past its expiry).
pub fn order_view(
    reader: &impl StateReader,
    id: &Hash,
    now_ms: u64,
) -> Result<Option<StoreOrderView>, StateError> {
    Ok(order(reader, id)?.map(|o| StoreOrderView {
        expired: o.status == Status::Pending && now_ms >= o.expires_at_ms,
        order: o,
    }))
}

/// The orders of `key` as user or as the store's merchant key, newest first (at most `limit`),
/// each with whether it is expired at block time `now_ms`, and whether older ones were left out.
pub fn orders_of(
    reader: &impl StateReader,
    key: &PublicKey,
    now_ms: u64,
    limit: usize,
) -> Result<(Vec<StoreOrderView>, bool), StateError> {
    let (ids, more) = crate::chain::index::newest(reader, ORDER_PREFIX, key, limit)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(v) = order_view(reader, &id, now_ms)? {
            out.push(v);
        }
    }
    Ok((out, more))
}

/// Checks an order number: 1..=[`MAX_ORDER_NO_LEN`] printable ASCII bytes, no spaces.
pub fn check_order_no(order_no: &str) -> Result<(), Error> {
    let ok = !order_no.is_empty()
        && order_no.len() <= MAX_ORDER_NO_LEN
        && order_no.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidOrderNo(
            order_no.chars().take(MAX_ORDER_NO_LEN).collect(),
        ))
    }
}

/// Runs a store call.
pub(crate) fn execute<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: &Context,
    call: &Call,
) -> Result<Vec<Event>, CallError> {
    match call {
        Call::CreateOrder {
            merchant_id,
            acquirer,
            user,
            order_no,
            amount,
            items_digest,
            expires_at_ms,
        } => {
            wallet::check_acquirer(ov, merchant_id, acquirer)?;
            if registry::merchant(ov, merchant_id)?.is_none_or(|r| r.merchant_key != ctx.sender) {
                return Err(Error::NotMerchant(merchant_id.clone()).into());
            }
            wallet::check_payee(ov, merchant_id, ctx.time_ms)?;
            check_order_no(order_no)?;
            amount.validate().map_err(Error::from)?;
            if *expires_at_ms <= ctx.time_ms || *expires_at_ms - ctx.time_ms > MAX_VALIDITY_MS {
                return Err(Error::InvalidExpiry {
                    expires_at_ms: *expires_at_ms,
                    now_ms: ctx.time_ms,
                }
                .into());
            }
            if let Some(existing) = order_by_no(ov, merchant_id, order_no)? {
                return Err(Error::DuplicateOrderNo {
                    merchant_id: merchant_id.clone(),
                    order_no: order_no.clone(),
                    order: existing,
                }
                .into());
            }
            let mut o = Order {
                id: ctx.tx_hash,
                merchant_id: merchant_id.clone(),
                acquirer: acquirer.clone(),
                user: *user,
                order_no: order_no.clone(),
                amount: *amount,
                items_digest: *items_digest,
                expires_at_ms: *expires_at_ms,
                created_at: ctx.height,
                created_at_ms: ctx.time_ms,
                status: Status::Pending,
                paid_from: None,
                paid_tx: None,
                paid_at_ms: None,
                auto_paid: false,
            };
            put_encoded(ov, order_no_key(merchant_id, order_no), &o.id);
            let mut events = vec![Event::new("store_order_created")
                .with("order_id", o.id.to_string())
                .with("merchant_id", merchant_id.as_str())
                .with("acquirer", acquirer.as_str())
                .with("user", user.to_string())
                .with("order_no", order_no.as_str())
                .with("amount", amount.value.to_string())
                .with("currency", amount.currency.code())
                .with("expires_at_ms", expires_at_ms.to_string())];
            if let Some(a) = authorisation(ov, user, merchant_id)? {
                let covered = a.per_order_limit.currency == amount.currency
                    && amount.value <= a.per_order_limit.value;
                if covered {
                    match auto_wallet(ov, &a, amount, ctx.time_ms)? {
                        Ok(()) => {
                            events.push(pay(ov, ctx, &mut o, &a.from_wallet, true)?);
                        }
                        Err(reason) => events.push(
                            Event::new("store_auto_pay_skipped")
                                .with("order_id", o.id.to_string())
                                .with("reason", reason),
                        ),
                    }
                } else {
                    events.push(
                        Event::new("store_auto_pay_skipped")
                            .with("order_id", o.id.to_string())
                            .with("reason", format!("above the limit {}", a.per_order_limit)),
                    );
                }
            }
            put_encoded(ov, order_key(&o.id), &o);
            crate::chain::index::push(ov, ORDER_PREFIX, user, &o.id)?;
            crate::chain::index::push(ov, ORDER_PREFIX, &ctx.sender, &o.id)?;
            Ok(events)
        }
        Call::Confirm {
            order: id,
            from_wallet,
        } => {
            let mut o = order(ov, id)?.ok_or(Error::UnknownOrder(*id))?;
            if o.user != ctx.sender {
                return Err(Error::NotOrderUser {
                    order: o.id,
                    user: o.user,
                    sender: ctx.sender,
                }
                .into());
            }
            if let (Status::Paid, Some(paid_tx)) = (o.status, o.paid_tx) {
                return Err(Error::AlreadyPaid {
                    order: o.id,
                    paid_tx,
                }
                .into());
            }
            if ctx.time_ms >= o.expires_at_ms {
                return Err(Error::Expired {
                    order: o.id,
                    expires_at_ms: o.expires_at_ms,
                    now_ms: ctx.time_ms,
                }
                .into());
            }
            let w = wallet::wallet(ov, from_wallet)?
                .ok_or(wallet::Error::UnknownWallet(*from_wallet))?;
            if w.owner != ctx.sender {
                return Err(wallet::Error::NotWalletOwner(w.id).into());
            }
            o.amount.expect_currency(w.currency).map_err(Error::from)?;
            let e = pay(ov, ctx, &mut o, &w.id, false)?;
            put_encoded(ov, order_key(&o.id), &o);
            Ok(vec![e])
        }
        Call::Authorise {
            merchant_id,
            per_order_limit,
            from_wallet,
        } => {
            if registry::merchant(ov, merchant_id)?.is_none() {
                return Err(wallet::Error::UnknownMerchant(merchant_id.clone()).into());
            }
            let w = wallet::wallet(ov, from_wallet)?
                .ok_or(wallet::Error::UnknownWallet(*from_wallet))?;
            if w.owner != ctx.sender {
                return Err(wallet::Error::NotWalletOwner(w.id).into());
            }
            per_order_limit.validate().map_err(Error::from)?;
            per_order_limit
                .expect_currency(w.currency)
                .map_err(Error::from)?;
            let a = Authorisation {
                user: ctx.sender,
                merchant_id: merchant_id.clone(),
                per_order_limit: *per_order_limit,
                from_wallet: w.id,
                since_ms: ctx.time_ms,
            };
            put_encoded(ov, auth_key(&ctx.sender, merchant_id), &a);
            Ok(vec![Event::new("store_authorised")
                .with("user", ctx.sender.to_string())
                .with("merchant_id", merchant_id.as_str())
                .with("per_order_limit", per_order_limit.value.to_string())
                .with("currency", per_order_limit.currency.code())
                .with("wallet_id", w.id.to_string())])
        }
        Call::Revoke { merchant_id } => {
            let key = auth_key(&ctx.sender, merchant_id);
            if get_decoded::<Authorisation>(ov, &key)?.is_none() {
                return Err(Error::NoAuthorisation(merchant_id.clone()).into());
            }
            ov.delete(key);
            Ok(vec![Event::new("store_authorisation_revoked")
                .with("user", ctx.sender.to_string())
                .with("merchant_id", merchant_id.as_str())])
        }
    }
}

/// Whether the authorised wallet can pay `amount` now: `Ok(Err(reason))` when it cannot.
fn auto_wallet(
    reader: &impl StateReader,
    a: &Authorisation,
    amount: &Amount,
    time_ms: u64,
) -> Result<Result<(), String>, StateError> {
    if let Err(e) = wallet::payer_certified(reader, &a.user, time_ms)? {
        return Ok(Err(e.to_string()));
    }
    let Some(w) = wallet::wallet(reader, &a.from_wallet)? else {
        return Ok(Err(format!("wallet {} no longer exists", a.from_wallet)));
    };
    if w.owner != a.user || w.currency != amount.currency {
        return Ok(Err(format!("wallet {} cannot pay this order", w.id)));
    }
    let holds = wallet::balance(reader, &Account::Wallet { id: w.id })?;
    if holds < amount.value {
        return Ok(Err(format!(
            "wallet {} holds {}, order needs {amount}",
            w.id,
            amount.currency.format(holds)
        )));
    }
    Ok(Ok(()))
}

/// Pays `o` from `from_wallet` (owned by the order's user, in its currency): wallet →
/// to-be-settled, a payment record, the order marked paid (the caller stores it).
fn pay<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: &Context,
    o: &mut Order,
    from_wallet: &Hash,
    auto: bool,
) -> Result<Event, CallError> {
    wallet::check_payee(ov, &o.merchant_id, ctx.time_ms)?;
    wallet::check_payer(ov, &o.user, ctx.time_ms)?;
    let debit = Account::Wallet { id: *from_wallet };
    let holds = wallet::balance(ov, &debit)?;
    if holds < o.amount.value {
        return Err(wallet::Error::InsufficientBalance {
            wallet: *from_wallet,
            holds: o.amount.currency.format(holds),
            needs: o.amount.to_string(),
        }
        .into());
    }
    let credit = Account::ToBeSettled {
        merchant_id: o.merchant_id.clone(),
        acquirer: o.acquirer.clone(),
        currency: o.amount.currency,
    };
    let id = ctx.tx_hash;
    wallet::transfer(
        ov,
        ctx,
        MovementKind::Payment,
        &debit,
        &credit,
        &o.amount,
        &format!("{id} {}", o.order_no),
    )?;
    wallet::record_payment(
        ov,
        &wallet::Payment {
            id,
            payer: o.user,
            from_wallet: *from_wallet,
            merchant_id: o.merchant_id.clone(),
            acquirer: o.acquirer.clone(),
            amount: o.amount,
            order_ref: o.order_no.clone(),
            route: None,
            height: ctx.height,
            time_ms: ctx.time_ms,
            refunded: rust_decimal::Decimal::ZERO,
        },
    );
    o.status = Status::Paid;
    o.paid_from = Some(*from_wallet);
    o.paid_tx = Some(id);
    o.paid_at_ms = Some(ctx.time_ms);
    o.auto_paid = auto;
    Ok(Event::new("store_order_paid")
        .with("order_id", o.id.to_string())
        .with("payment_id", id.to_string())
        .with("merchant_id", o.merchant_id.as_str())
        .with("acquirer", o.acquirer.as_str())
        .with("wallet_id", from_wallet.to_string())
        .with("amount", o.amount.value.to_string())
        .with("currency", o.amount.currency.code())
        .with("auto", auto.to_string()))
}

#[cfg(test)]
mod tests;
