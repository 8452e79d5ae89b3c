//! Wallet accounts: hosting, real-name verification, wallets, card binding, top-up, payment,
//! settlement, refunds and statements, on a double-entry ledger.
//!
//! # Who does what
//!
//! | call | signer | needs |
//! |---|---|---|
//! | [`Call::VerifyUser`] | platform | qualified host (by governance, [`crate::governance::Action::QualifyWalletHost`]); the user is not hosted elsewhere |
//! | [`Call::OpenWallet`] | platform | qualified host that verified the user; the user holds a valid user certificate of that host's CA ([`crate::ca`]); one wallet per (user, currency) |
//! | [`Call::RequestCardBinding`] | platform | qualified host of the user (it runs the simulated bank channel) |
//! | [`Call::ConfirmCardBinding`] | **user** | the one-time code, before expiry, within [`MAX_OTP_ATTEMPTS`] |
//! | [`Call::TopUp`] | platform | host of the wallet; the card is bound to the wallet's owner through it; a [`TopUpMandate`] the **owner** signed for exactly this wallet, amount and card, used once |
//! | [`Call::Pay`] | **user** | owner of the wallet; the acquirer has an active registry record for the merchant; the merchant's key holds a valid merchant certificate and the payer a valid user certificate at the block's time; order not paid |
//! | [`Call::Settle`] | platform | acquirer of the merchant's to-be-settled balance |
//! | [`Call::Refund`] | platform | acquirer of the payment; never more than paid minus refunded |
//!
//! Wallets are opened by the hosting platform (the user's real-name verification is the host's act,
//! so the host opens the account, as a bank would); the user's key alone moves its money ([`Call::Pay`]).
//!
//! # Card binding (simulated bank channel)
//!
//! ```text
//! host: RequestCardBinding { user, card_hash, otp_commitment = sha256(binding_id ‖ otp) }
//!         binding_id = card_binding_id(host key, tx nonce)   (known before the tx is sent)
//!       the bank channel sends `otp` to the card holder, off chain
//! user: ConfirmCardBinding { binding_id, otp }   checked against the commitment; a wrong code is
//!       refused **and counted** (the receipt has code 324, the attempt is kept); the 3rd wrong code
//!       locks the binding; after `expires_at` it is refused.
//! ```
//!
//! The commitment is public state: a short code (6 digits) can be found from it by trying every
//! value, so the user's signature, not the code, is what stops a stranger. A bank channel that
//! wants the code itself to prove possession of the phone sends a high-entropy code (up to 64
//! printable characters are accepted).
//!
//! # Ledger
//!
//! Every movement debits one [`Account`] and credits another by the same [`Amount`] and appends one
//! [`StatementEntry`] to each, so the sum over all accounts of each currency never changes. Accounts:
//! a user's wallet, a merchant's to-be-settled account at an acquirer, and a platform's bank-channel
//! clearing account. Top-up: clearing → wallet; pay: wallet → to-be-settled; settle: to-be-settled →
//! clearing (the merchant's bank); refund: to-be-settled → wallet. Clearing accounts may go negative
//! (they mirror money held at banks); wallets and to-be-settled accounts never do. Balances are kept
//! at the currency's minor-unit scale.
//!
//! # State keys
//!
//! `wal/host/{platform}` → [`HostQualification`]; `wal/user/{user key}` → [`VerifiedUser`];
//! `wal/wallet/{wallet id}` → [`Wallet`]; `wal/user_wallets/{user key}` → sorted wallet ids;
//! `wal/binding/{binding id}` → [`CardBinding`]; `wal/cards/{user key}` → [`BoundCard`]s sorted by
//! card hash; `wal/payment/{payment id}` → [`Payment`]; `wal/order/{merchant id}/{order ref}` →
//! payment id; `wal/acct/{account key}` → [`AccountState`]; `wal/entry/{account key}/{u64 BE}` →
//! [`StatementEntry`]; `wal/movements` → next movement id; `wal/mandate/{request id}` → the wallet a used top-up
//! instruction loaded. Keys are raw 32 bytes for keys and hashes;
//! the account key is [`Account::key`].

use borsh::{BorshDeserialize, BorshSerialize};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::ca::{self, PartyRole};
use crate::chain::kernel::{CallError, Context, Event, Refusal};
use crate::chain::state::{get_decoded, put_encoded, Overlay, StateError, StateReader};
use crate::governance::{self, Role};
use crate::primitives::crypto::{sha256, Hash, PublicKey, Signature};
use crate::primitives::ids::{MerchantId, PlatformId};
use crate::primitives::money::{self, decimal_str, Amount, Currency};
use crate::registry::{self, Route, RouteError};

mod execute;
mod views;

pub(crate) use execute::{
    check_acquirer, check_payee, check_payer, execute, pay_merchant, payer_certified,
    payment_event, transfer, PayTo,
};
pub use views::{payment_view, statement, wallet_view, PaymentView, StatementView, WalletView};

/// Blocks during which a card binding can be confirmed.
pub const CARD_BINDING_TTL_BLOCKS: u64 = 300;
/// Wrong one-time codes after which a binding is locked.
pub const MAX_OTP_ATTEMPTS: u32 = 3;
/// Bound cards per user.
pub const MAX_CARDS_PER_USER: usize = 8;
/// Longest order reference, in bytes (printable ASCII).
pub const MAX_ORDER_REF_LEN: usize = 64;
/// One-time code length bounds, in bytes (printable ASCII).
pub const OTP_LEN: std::ops::RangeInclusive<usize> = 4..=64;
/// Most entries one statement query returns.
pub const MAX_STATEMENT_ENTRIES: usize = 1000;

const HOST_PREFIX: &[u8] = b"wal/host/";
const USER_PREFIX: &[u8] = b"wal/user/";
const WALLET_PREFIX: &[u8] = b"wal/wallet/";
const USER_WALLETS_PREFIX: &[u8] = b"wal/user_wallets/";
const BINDING_PREFIX: &[u8] = b"wal/binding/";
const CARDS_PREFIX: &[u8] = b"wal/cards/";
const PAYMENT_PREFIX: &[u8] = b"wal/payment/";
const ORDER_PREFIX: &[u8] = b"wal/order/";
const ACCOUNT_PREFIX: &[u8] = b"wal/acct/";
const ENTRY_PREFIX: &[u8] = b"wal/entry/";
const MOVEMENTS_KEY: &[u8] = b"wal/movements";
const MANDATE_PREFIX: &[u8] = b"wal/mandate/";
const CAP_PREFIX: &[u8] = b"wal/cap/";

/// A wallet host's net debit cap until governance sets one ([`governance::Action::SetNetDebitCap`]):
/// its clearing account may owe at most this much, in major units of each currency.
pub const DEFAULT_NET_DEBIT_CAP: u64 = 1_000_000;

/// Refusals of wallet calls (310..=399; money refusals keep their 300..=309 codes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An amount or currency refusal.
    #[error(transparent)]
    Money(#[from] money::Error),
    /// The sender is not a member with the platform role.
    #[error("sender is not a platform member")]
    NotAPlatform,
    /// The platform is not a qualified wallet host.
    #[error("platform {0} is not a qualified wallet host")]
    NotQualifiedHost(PlatformId),
    /// A user key is not a valid ed25519 key.
    #[error("user key {0} is not a valid ed25519 key")]
    InvalidUserKey(PublicKey),
    /// The user is verified (hosted) by another platform.
    #[error("user {user} is hosted by platform {host}, not {platform}")]
    UserHostedElsewhere {
        /// User.
        user: PublicKey,
        /// Their host.
        host: PlatformId,
        /// The sender.
        platform: PlatformId,
    },
    /// No real-name verification for the user.
    #[error("user {0} has no real-name verification")]
    UserNotVerified(PublicKey),
    /// The user already has a wallet in this currency.
    #[error("user {user} already has a {currency} wallet ({wallet})")]
    WalletExists {
        /// User.
        user: PublicKey,
        /// Currency.
        currency: Currency,
        /// The existing wallet.
        wallet: Hash,
    },
    /// No such wallet.
    #[error("unknown wallet {0}")]
    UnknownWallet(Hash),
    /// The sender platform does not host the wallet.
    #[error("wallet {wallet} is hosted by platform {host}, not {platform}")]
    NotWalletHost {
        /// Wallet.
        wallet: Hash,
        /// Its host.
        host: PlatformId,
        /// The sender.
        platform: PlatformId,
    },
    /// The sender does not own the wallet.
    #[error("sender does not own wallet {0}")]
    NotWalletOwner(Hash),
    /// The card is not bound to the user through this platform.
    #[error("card {card} is not bound to user {user} at platform {platform}")]
    CardNotBound {
        /// User.
        user: PublicKey,
        /// Card hash.
        card: Hash,
        /// Platform.
        platform: PlatformId,
    },
    /// The card is already bound to the user.
    #[error("card {card} is already bound to user {user}")]
    CardAlreadyBound {
        /// User.
        user: PublicKey,
        /// Card hash.
        card: Hash,
    },
    /// No such card binding.
    #[error("unknown card binding {0}")]
    UnknownBinding(Hash),
    /// The binding expired.
    #[error("card binding {binding} expired at height {expires_at}")]
    BindingExpired {
        /// Binding.
        binding: Hash,
        /// Last height it could be confirmed.
        expires_at: u64,
    },
    /// The one-time code does not match (the attempt is counted).
    #[error("wrong one-time code for card binding {binding}: {attempts_left} attempts left")]
    WrongOtp {
        /// Binding.
        binding: Hash,
        /// Attempts left (0: the binding is now locked).
        attempts_left: u32,
    },
    /// Too many wrong codes.
    #[error("card binding {binding} is locked after {attempts} wrong one-time codes")]
    BindingLocked {
        /// Binding.
        binding: Hash,
        /// Wrong attempts.
        attempts: u32,
    },
    /// The binding is already confirmed.
    #[error("card binding {0} is already confirmed")]
    BindingAlreadyConfirmed(Hash),
    /// Only the binding's user confirms it.
    #[error("only user {user} can confirm card binding {binding}")]
    NotBindingUser {
        /// Binding.
        binding: Hash,
        /// Its user.
        user: PublicKey,
    },
    /// Not enough money in a wallet.
    #[error("insufficient balance: wallet holds {holds}, payment needs {needs}")]
    InsufficientBalance {
        /// Wallet.
        wallet: Hash,
        /// Its balance.
        holds: String,
        /// The amount.
        needs: String,
    },
    /// The merchant's order was already paid.
    #[error("order {order_ref} of merchant {merchant_id} is already paid (payment {payment})")]
    OrderAlreadyPaid {
        /// Order reference.
        order_ref: String,
        /// Merchant.
        merchant_id: MerchantId,
        /// The earlier payment.
        payment: Hash,
    },
    /// An order reference is empty, too long or not printable ASCII.
    #[error("invalid order reference {0:?}: expected 1 to {MAX_ORDER_REF_LEN} printable ASCII characters")]
    InvalidOrderRef(String),
    /// No such merchant.
    #[error("unknown merchant {0}")]
    UnknownMerchant(MerchantId),
    /// The acquirer has no active acquiring record for the merchant.
    #[error("platform {acquirer} is not an acquirer of merchant {merchant_id}")]
    NotAnAcquirer {
        /// Merchant.
        merchant_id: MerchantId,
        /// Named acquirer.
        acquirer: PlatformId,
    },
    /// The acquirer's record is active but the merchant has not accepted the acquirer (or ended it).
    #[error("merchant {merchant_id} has not accepted platform {acquirer} as its acquirer: its record is pending the merchant's consent")]
    AcquirerNotAccepted {
        /// Merchant.
        merchant_id: MerchantId,
        /// Named acquirer.
        acquirer: PlatformId,
    },
    /// The record the payment was routed by was updated or revoked since it was looked up.
    #[error("the merchant's acquiring record changed (platform {acquirer} routed by version {routed}, now {now}): look it up again")]
    RecordChanged {
        /// Merchant.
        merchant_id: MerchantId,
        /// Named acquirer.
        acquirer: PlatformId,
        /// The version the payment names.
        routed: u64,
        /// `version N`, `version N with another payload`, or `revoked`.
        now: String,
    },
    /// No such payment.
    #[error("unknown payment {0}")]
    UnknownPayment(Hash),
    /// Only the payment's acquirer refunds it.
    #[error("payment {payment} was acquired by platform {acquirer}")]
    NotPaymentAcquirer {
        /// Payment.
        payment: Hash,
        /// Its acquirer.
        acquirer: PlatformId,
    },
    /// The refund would exceed what was paid.
    #[error(
        "refund of {requested} exceeds payment {payment}: paid {paid}, already refunded {refunded}"
    )]
    RefundExceedsPayment {
        /// Payment.
        payment: Hash,
        /// Paid.
        paid: String,
        /// Already refunded.
        refunded: String,
        /// This refund.
        requested: String,
    },
    /// The merchant's to-be-settled balance does not cover the movement.
    #[error("to-be-settled balance of merchant {merchant_id} at {acquirer} holds {holds}, {purpose} needs {needs}")]
    ToBeSettledShort {
        /// Merchant.
        merchant_id: MerchantId,
        /// Acquirer.
        acquirer: PlatformId,
        /// Balance.
        holds: String,
        /// "refund" or "settlement".
        purpose: String,
        /// Amount.
        needs: String,
    },
    /// No to-be-settled balance in any currency.
    #[error("merchant {merchant_id} has nothing to settle at {acquirer}")]
    NothingToSettle {
        /// Merchant.
        merchant_id: MerchantId,
        /// Acquirer.
        acquirer: PlatformId,
    },
    /// The user has [`MAX_CARDS_PER_USER`] cards.
    #[error("user {0} already has {MAX_CARDS_PER_USER} bound cards")]
    TooManyCards(PublicKey),
    /// A one-time code is not 4..=64 printable ASCII characters.
    #[error("malformed one-time code: expected 4 to 64 printable ASCII characters")]
    MalformedOtp,
    /// A top-up without the owner's valid instruction.
    #[error("the top-up of wallet {0} is not authorised by its owner: the instruction's signature does not verify for this wallet, amount and card")]
    TopUpNotAuthorised(Hash),
    /// A top-up instruction used before.
    #[error("top-up instruction {0} was already used")]
    MandateUsed(Hash),
    /// The movement would take a wallet host's clearing account past its net debit cap.
    #[error("platform {platform}'s clearing account would owe {would_owe}, above its net debit cap of {cap}")]
    NetDebitCapExceeded {
        /// The wallet host.
        platform: PlatformId,
        /// Currency.
        currency: Currency,
        /// The cap.
        cap: String,
        /// What the account would owe after the movement.
        would_owe: String,
    },
    /// A collection's escrow does not cover a movement (never expected: a ledger fault guard).
    #[error("collection escrow holds {holds}, movement needs {needs}")]
    EscrowShort {
        /// Balance.
        holds: String,
        /// Amount.
        needs: String,
    },
    /// A party of the call holds no valid certificate of the role it needs at the block's time
    /// ([`crate::ca::certified`]): the receipt carries the CA's code (720..=749) of `reason`.
    #[error("{who} {party} is not certified: {reason}")]
    NotCertified {
        /// Which party: "wallet owner", "payer" or "merchant <id>".
        who: String,
        /// Its key.
        party: PublicKey,
        /// Why (no certificate 741, wrong role 742, revoked 733, expired 728, ...).
        reason: Box<ca::Error>,
    },
}

impl Error {
    /// Stable receipt code: 300..=309 money ([`money::Error::code`]), 310..=399 wallet; a party
    /// without a valid certificate ([`Error::NotCertified`]) gets the CA's code (720..=749).
    pub fn code(&self) -> u32 {
        match self {
            Error::Money(e) => e.code(),
            Error::NotAPlatform => 310,
            Error::NotQualifiedHost(_) => 311,
            Error::InvalidUserKey(_) => 312,
            Error::UserHostedElsewhere { .. } => 313,
            Error::UserNotVerified(_) => 314,
            Error::WalletExists { .. } => 315,
            Error::UnknownWallet(_) => 316,
            Error::NotWalletHost { .. } => 317,
            Error::NotWalletOwner(_) => 318,
            Error::CardNotBound { .. } => 319,
            Error::CardAlreadyBound { .. } => 320,
            Error::UnknownBinding(_) => 321,
            Error::BindingExpired { .. } => 322,
            Error::WrongOtp { .. } => 323,
            Error::BindingLocked { .. } => 324,
            Error::BindingAlreadyConfirmed(_) => 325,
            Error::NotBindingUser { .. } => 326,
            Error::InsufficientBalance { .. } => 327,
            Error::OrderAlreadyPaid { .. } => 328,
            Error::InvalidOrderRef(_) => 329,
            Error::UnknownMerchant(_) => 330,
            Error::NotAnAcquirer { .. } => 331,
            Error::UnknownPayment(_) => 332,
            Error::NotPaymentAcquirer { .. } => 333,
            Error::RefundExceedsPayment { .. } => 334,
            Error::ToBeSettledShort { .. } => 335,
            Error::NothingToSettle { .. } => 336,
            Error::TooManyCards(_) => 337,
            Error::MalformedOtp => 338,
            Error::EscrowShort { .. } => 339,
            Error::TopUpNotAuthorised(_) => 340,
            Error::MandateUsed(_) => 341,
            Error::AcquirerNotAccepted { .. } => 342,
            Error::RecordChanged { .. } => 343,
            Error::NetDebitCapExceeded { .. } => 344,
            Error::NotCertified { reason, .. } => reason.code(),
        }
    }
}

impl Refusal for Error {
    fn code(&self) -> u32 {
        Error::code(self)
    }
}

/// Wallet calls. JSON: externally tagged, snake_case (`{"pay": {...}}`).
///
/// Encoding: borsh, a `u8` variant index in declaration order (first variant = 0), then the variant's
/// fields (`docs/encoding.md`). The order is part of the signed format: new variants are appended
/// at the end, none is ever removed or reordered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// The host attests the user's real-name verification (salted hashes only; the salt stays off
    /// chain). The same host may re-attest (new hashes).
    VerifyUser {
        /// The user's key.
        user: PublicKey,
        /// `sha256(salt ‖ name)`.
        name_hash: Hash,
        /// `sha256(salt ‖ id number)`.
        id_hash: Hash,
        /// `sha256(salt ‖ phone)`.
        phone_hash: Hash,
    },
    /// The host opens the user's wallet in `currency` (id: [`wallet_id`]).
    OpenWallet {
        /// The user.
        user: PublicKey,
        /// Currency.
        currency: Currency,
    },
    /// Step 1 of card binding, by the host (bank channel). Binding id: [`card_binding_id`].
    RequestCardBinding {
        /// The user.
        user: PublicKey,
        /// `sha256(salt ‖ card number)`.
        card_hash: Hash,
        /// [`otp_commitment`]`(binding_id, otp)`.
        otp_commitment: Hash,
    },
    /// Step 2 of card binding, by the user.
    ConfirmCardBinding {
        /// Binding id.
        binding_id: Hash,
        /// The one-time code the bank channel sent.
        otp: String,
    },
    /// The host, as bank channel, loads the wallet from the owner's bound card, on the owner's signed
    /// instruction.
    TopUp {
        /// Wallet.
        wallet: Hash,
        /// Amount (the wallet's currency).
        amount: Amount,
        /// The bound card charged.
        card_hash: Hash,
        /// The owner's instruction for exactly this top-up.
        mandate: TopUpMandate,
    },
    /// The owner pays a merchant through an acquirer. Payment id: the tx hash.
    Pay {
        /// Payer's wallet.
        from_wallet: Hash,
        /// Merchant.
        merchant_id: MerchantId,
        /// Acquiring platform (has an active record for the merchant).
        acquirer: PlatformId,
        /// Amount (the wallet's currency).
        amount: Amount,
        /// The merchant's order reference: one payment per (merchant, order).
        order_ref: String,
        /// The acquirer's record the payment was routed by (from the payer's enclave lookup).
        route: Route,
    },
    /// The acquirer settles to the merchant's bank: to-be-settled → its clearing account. With no
    /// amount, every currency's whole balance.
    Settle {
        /// Merchant.
        merchant_id: MerchantId,
        /// Amount, or `null` for everything.
        amount: Option<Amount>,
    },
    /// The acquirer refunds (part of) a payment to the payer's wallet.
    Refund {
        /// Payment id (the pay tx hash).
        payment: Hash,
        /// Amount (≤ paid − refunded).
        amount: Amount,
    },
}

/// A platform qualified by governance to host wallets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct HostQualification {
    /// Platform.
    pub platform: PlatformId,
    /// The proposal that qualified it.
    pub proposal: u64,
    /// Height.
    pub qualified_at: u64,
    /// Block time.
    pub qualified_at_ms: u64,
}

/// A host's real-name attestation of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct VerifiedUser {
    /// User.
    pub user: PublicKey,
    /// Hosting platform.
    pub host: PlatformId,
    /// Salted name hash.
    pub name_hash: Hash,
    /// Salted ID-number hash.
    pub id_hash: Hash,
    /// Salted phone hash.
    pub phone_hash: Hash,
    /// Height of the (last) attestation.
    pub verified_at: u64,
    /// Block time.
    pub verified_at_ms: u64,
}

/// A wallet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Wallet {
    /// [`wallet_id`]`(owner, currency)`.
    pub id: Hash,
    /// Owner.
    pub owner: PublicKey,
    /// Currency.
    pub currency: Currency,
    /// Hosting platform.
    pub host: PlatformId,
    /// Height.
    pub opened_at: u64,
    /// Block time.
    pub opened_at_ms: u64,
}

/// Where a card binding stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum BindingStatus {
    /// Waiting for the code.
    Pending,
    /// Confirmed.
    Bound,
    /// [`MAX_OTP_ATTEMPTS`] wrong codes.
    Locked,
}

/// A card binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct CardBinding {
    /// [`card_binding_id`].
    pub id: Hash,
    /// User.
    pub user: PublicKey,
    /// Host (bank channel).
    pub host: PlatformId,
    /// Card hash.
    pub card_hash: Hash,
    /// `sha256(id ‖ otp)`.
    pub otp_commitment: Hash,
    /// Height of the request.
    pub requested_at: u64,
    /// Last height it can be confirmed.
    pub expires_at: u64,
    /// Wrong codes so far.
    pub attempts: u32,
    /// Status (an expired pending binding stays `pending`; confirming it is refused).
    pub status: BindingStatus,
}

/// A card bound to a user through a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct BoundCard {
    /// Card hash.
    pub card_hash: Hash,
    /// Host (bank channel).
    pub host: PlatformId,
    /// The binding that bound it.
    pub binding_id: Hash,
    /// Height.
    pub bound_at: u64,
}

/// A payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Payment {
    /// The pay tx hash.
    pub id: Hash,
    /// Payer.
    pub payer: PublicKey,
    /// Payer's wallet.
    pub from_wallet: Hash,
    /// Merchant.
    pub merchant_id: MerchantId,
    /// Acquirer.
    pub acquirer: PlatformId,
    /// Amount paid.
    pub amount: Amount,
    /// Order reference.
    pub order_ref: String,
    /// The acquirer's record the payment was routed by (`None` for payments that name no record:
    /// collections and store orders, whose acquirer set the terms itself).
    pub route: Option<Route>,
    /// Height.
    pub height: u64,
    /// Block time.
    pub time_ms: u64,
    /// Refunded so far.
    #[serde(with = "decimal_str")]
    #[borsh(
        serialize_with = "crate::primitives::money::decimal_str::borsh_serialize",
        deserialize_with = "crate::primitives::money::decimal_str::borsh_deserialize"
    )]
    pub refunded: Decimal,
}

/// A ledger account.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    BorshSerialize,
    BorshDeserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Account {
    /// A user's wallet.
    Wallet {
        /// Wallet id.
        id: Hash,
    },
    /// A merchant's to-be-settled account at an acquirer.
    ToBeSettled {
        /// Merchant.
        merchant_id: MerchantId,
        /// Acquirer.
        acquirer: PlatformId,
        /// Currency.
        currency: Currency,
    },
    /// A platform's bank-channel clearing account (may be negative).
    Clearing {
        /// Platform.
        platform: PlatformId,
        /// Currency.
        currency: Currency,
    },
    /// A split-bill collection's escrow: the shares paid until the collection completes (then the
    /// payee's to-be-settled account) or expires (then back to each payer's wallet).
    Escrow {
        /// Collection id.
        collection: Hash,
        /// Currency.
        currency: Currency,
    },
}

impl Account {
    /// The account's key in state: `w:{hex}`, `m:{merchant}:{acquirer}:{CUR}`, `c:{platform}:{CUR}`,
    /// `e:{collection hex}:{CUR}`.
    pub fn key(&self) -> String {
        match self {
            Account::Wallet { id } => format!("w:{id}"),
            Account::ToBeSettled {
                merchant_id,
                acquirer,
                currency,
            } => format!("m:{merchant_id}:{acquirer}:{currency}"),
            Account::Clearing { platform, currency } => format!("c:{platform}:{currency}"),
            Account::Escrow {
                collection,
                currency,
            } => format!("e:{collection}:{currency}"),
        }
    }

    /// Whether the balance may go negative.
    pub fn may_go_negative(&self) -> bool {
        matches!(self, Account::Clearing { .. })
    }
}

/// An account's balance and entry count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct AccountState {
    /// Currency.
    pub currency: Currency,
    /// Balance at the currency's minor-unit scale.
    #[serde(with = "decimal_str")]
    #[borsh(
        serialize_with = "crate::primitives::money::decimal_str::borsh_serialize",
        deserialize_with = "crate::primitives::money::decimal_str::borsh_deserialize"
    )]
    pub balance: Decimal,
    /// Statement entries.
    pub entries: u64,
}

/// What moved money.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum MovementKind {
    /// Clearing → wallet.
    TopUp,
    /// Wallet → to-be-settled.
    Payment,
    /// To-be-settled → wallet.
    Refund,
    /// To-be-settled → clearing.
    Settlement,
    /// Wallet → escrow: one share of a split-bill collection.
    CollectionShare,
    /// Escrow → to-be-settled: a completed collection credits its payee.
    CollectionCompleted,
    /// Escrow → wallet: an expired collection returns a paid share.
    CollectionRefund,
}

/// Debit (balance down) or credit (balance up).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Balance decreases.
    Debit,
    /// Balance increases.
    Credit,
}

/// One line of an account's statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct StatementEntry {
    /// Position in the account's statement (0, 1, ...).
    pub seq: u64,
    /// Chain-wide movement id (both sides of a movement share it).
    pub movement: u64,
    /// Height.
    pub height: u64,
    /// Block time.
    pub time_ms: u64,
    /// The transaction.
    pub tx_hash: Hash,
    /// What moved the money.
    pub kind: MovementKind,
    /// Debit or credit.
    pub side: Side,
    /// Amount.
    pub amount: Amount,
    /// The other account.
    pub counterparty: Account,
    /// Balance after the entry.
    #[serde(with = "decimal_str")]
    #[borsh(
        serialize_with = "crate::primitives::money::decimal_str::borsh_serialize",
        deserialize_with = "crate::primitives::money::decimal_str::borsh_deserialize"
    )]
    pub balance_after: Decimal,
    /// Payment id, order reference or card hash, as applies.
    pub reference: String,
}

/// Stores a payment record made by another contract ([`crate::store`]) after its
/// [`MovementKind::Payment`] transfer, so refunds and certificates find it.
pub(crate) fn record_payment<R: StateReader>(ov: &mut Overlay<'_, R>, p: &Payment) {
    put_encoded(ov, key_of(PAYMENT_PREFIX, &p.id.0), p);
}

/// The id of `user`'s wallet in `currency`: `sha256("paychain/wallet/v1" ‖ user ‖ code)`.
pub fn wallet_id(user: &PublicKey, currency: Currency) -> Hash {
    sha256(&[b"paychain/wallet/v1", &user.0, currency.code().as_bytes()])
}

/// The id of the binding requested by `host_key`'s tx with `nonce`:
/// `sha256("paychain/card-binding/v1" ‖ host key ‖ u64be(nonce))`.
pub fn card_binding_id(host_key: &PublicKey, nonce: u64) -> Hash {
    sha256(&[
        b"paychain/card-binding/v1",
        &host_key.0,
        &nonce.to_be_bytes(),
    ])
}

/// The commitment to a one-time code: `sha256(binding_id ‖ otp)`.
pub fn otp_commitment(binding_id: &Hash, otp: &str) -> Hash {
    sha256(&[&binding_id.0, otp.as_bytes()])
}

/// The wallet owner's instruction to load its wallet from a bound card: the owner signs
/// [`top_up_signing_bytes`] with its own key and hands it to its host (the bank channel), which
/// submits it in [`Call::TopUp`]. The host alone cannot load a wallet, and each instruction is used
/// once (`request_id`, chosen at random by the owner, is remembered on chain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct TopUpMandate {
    /// The owner's random id of this instruction.
    pub request_id: Hash,
    /// The owner's signature over [`top_up_signing_bytes`].
    pub signature: Signature,
}

/// What a wallet owner signs to authorise one top-up: `"paychain/top-up/v1"` followed by the borsh
/// encoding of (chain id, wallet, amount, card hash, request id).
pub fn top_up_signing_bytes(
    chain_id: &crate::primitives::ids::ChainId,
    wallet: &Hash,
    amount: &Amount,
    card_hash: &Hash,
    request_id: &Hash,
) -> Vec<u8> {
    let mut out = b"paychain/top-up/v1".to_vec();
    out.extend(crate::primitives::codec::encode(&(
        chain_id, wallet, amount, card_hash, request_id,
    )));
    out
}

/// The owner's signed instruction for one top-up (`request_id` fresh and random for each).
pub fn sign_top_up(
    owner: &crate::primitives::crypto::SecretKey,
    chain_id: &crate::primitives::ids::ChainId,
    wallet: &Hash,
    amount: &Amount,
    card_hash: &Hash,
    request_id: Hash,
) -> TopUpMandate {
    let signature = owner.sign(&top_up_signing_bytes(
        chain_id,
        wallet,
        amount,
        card_hash,
        &request_id,
    ));
    TopUpMandate {
        request_id,
        signature,
    }
}

fn key_of(prefix: &[u8], suffix: &[u8]) -> Vec<u8> {
    [prefix, suffix].concat()
}

fn order_key(merchant: &MerchantId, order_ref: &str) -> Vec<u8> {
    [
        ORDER_PREFIX,
        merchant.as_str().as_bytes(),
        b"/",
        order_ref.as_bytes(),
    ]
    .concat()
}

fn entry_key(account: &Account, seq: u64) -> Vec<u8> {
    [
        ENTRY_PREFIX,
        account.key().as_bytes(),
        b"/",
        &seq.to_be_bytes()[..],
    ]
    .concat()
}

// ---------------------------------------------------------------------------------------------
// Queries.

/// The wallet-host qualification of `platform`.
pub fn host(
    reader: &impl StateReader,
    platform: &PlatformId,
) -> Result<Option<HostQualification>, StateError> {
    get_decoded(reader, &key_of(HOST_PREFIX, platform.as_str().as_bytes()))
}

/// The real-name attestation of `user`.
pub fn user(
    reader: &impl StateReader,
    user: &PublicKey,
) -> Result<Option<VerifiedUser>, StateError> {
    get_decoded(reader, &key_of(USER_PREFIX, &user.0))
}

/// The wallet `id`.
pub fn wallet(reader: &impl StateReader, id: &Hash) -> Result<Option<Wallet>, StateError> {
    get_decoded(reader, &key_of(WALLET_PREFIX, &id.0))
}

/// `user`'s wallets, by id.
pub fn wallets_of(reader: &impl StateReader, user: &PublicKey) -> Result<Vec<Wallet>, StateError> {
    let ids: Vec<Hash> =
        get_decoded(reader, &key_of(USER_WALLETS_PREFIX, &user.0))?.unwrap_or_default();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(
            wallet(reader, &id)?
                .ok_or_else(|| StateError(format!("wallet index names missing wallet {id}")))?,
        );
    }
    Ok(out)
}

/// The card binding `id`.
pub fn card_binding(
    reader: &impl StateReader,
    id: &Hash,
) -> Result<Option<CardBinding>, StateError> {
    get_decoded(reader, &key_of(BINDING_PREFIX, &id.0))
}

/// `user`'s bound cards, by card hash.
pub fn cards_of(reader: &impl StateReader, user: &PublicKey) -> Result<Vec<BoundCard>, StateError> {
    Ok(get_decoded(reader, &key_of(CARDS_PREFIX, &user.0))?.unwrap_or_default())
}

/// The payment `id` (its pay tx hash).
pub fn payment(reader: &impl StateReader, id: &Hash) -> Result<Option<Payment>, StateError> {
    get_decoded(reader, &key_of(PAYMENT_PREFIX, &id.0))
}

/// The payment of `merchant`'s order `order_ref`, if paid.
pub fn payment_for_order(
    reader: &impl StateReader,
    merchant: &MerchantId,
    order_ref: &str,
) -> Result<Option<Payment>, StateError> {
    match get_decoded::<Hash>(reader, &order_key(merchant, order_ref))? {
        Some(id) => payment(reader, &id),
        None => Ok(None),
    }
}

/// The state of `account` (`None` before its first movement).
pub fn account_state(
    reader: &impl StateReader,
    account: &Account,
) -> Result<Option<AccountState>, StateError> {
    get_decoded(reader, &key_of(ACCOUNT_PREFIX, account.key().as_bytes()))
}

/// The balance of `account` (zero before its first movement).
pub fn balance(reader: &impl StateReader, account: &Account) -> Result<Decimal, StateError> {
    Ok(account_state(reader, account)?.map_or(Decimal::ZERO, |s| s.balance))
}

/// The currency of `account` (a wallet's from its record).
pub fn account_currency(
    reader: &impl StateReader,
    account: &Account,
) -> Result<Option<Currency>, StateError> {
    Ok(match account {
        Account::Wallet { id } => wallet(reader, id)?.map(|w| w.currency),
        Account::ToBeSettled { currency, .. }
        | Account::Clearing { currency, .. }
        | Account::Escrow { currency, .. } => Some(*currency),
    })
}

fn entry(
    reader: &impl StateReader,
    account: &Account,
    seq: u64,
) -> Result<StatementEntry, StateError> {
    get_decoded(reader, &entry_key(account, seq))?
        .ok_or_else(|| StateError(format!("missing entry {seq} of account {}", account.key())))
}

// ---------------------------------------------------------------------------------------------
/// How much `platform`'s clearing account may owe in `currency`: the cap governance set, or
/// [`DEFAULT_NET_DEBIT_CAP`].
pub fn net_debit_cap(
    reader: &impl StateReader,
    platform: &PlatformId,
    currency: Currency,
) -> Result<Decimal, StateError> {
    let cap: Option<Amount> = get_decoded(reader, &cap_key(platform, currency))?;
    Ok(cap.map_or(Decimal::from(DEFAULT_NET_DEBIT_CAP), |a| a.value))
}

fn cap_key(platform: &PlatformId, currency: Currency) -> Vec<u8> {
    key_of(
        CAP_PREFIX,
        format!("{platform}/{}", currency.code()).as_bytes(),
    )
}

// Writes used by governance.

/// Sets `platform`'s net debit cap in `cap`'s currency (governance checked it).
pub(crate) fn set_net_debit_cap<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    platform: &PlatformId,
    cap: &Amount,
) {
    put_encoded(ov, cap_key(platform, cap.currency), cap);
}

/// Records `platform` as a qualified host (governance checked the member and its role).
pub(crate) fn qualify_host<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: &Context,
    platform: &PlatformId,
    proposal: u64,
) {
    let q = HostQualification {
        platform: platform.clone(),
        proposal,
        qualified_at: ctx.height,
        qualified_at_ms: ctx.time_ms,
    };
    put_encoded(ov, key_of(HOST_PREFIX, platform.as_str().as_bytes()), &q);
}

/// Withdraws `platform`'s qualification (no-op if it has none).
pub(crate) fn revoke_host<R: StateReader>(ov: &mut Overlay<'_, R>, platform: &PlatformId) {
    ov.delete(key_of(HOST_PREFIX, platform.as_str().as_bytes()));
}

#[cfg(test)]
mod tests;
