//! Guardian-delegated payment: a dependant (a child, an elder) pays merchants from a guardian's
//! wallet, within limits the guardian sets.
//!
//! ```text
//! registration terminal shows  PCREG1:<device no>:<business type>:<check code>
//! dependant: RequestBinding { guardian, terminal }            id = the tx hash   ─► pending
//!     event guardian_binding_requested { guardian, .. }   (the guardian's client subscribes to it)
//! guardian:  Approve { binding, wallet, limits, biometric? }                      ─► active
//!            Reject { binding }                                                   ─► rejected
//!            SetLimits { binding, limits } / SetBiometric { binding, biometric? } (active only)
//! guardian or dependant: Revoke { binding }                                       ─► revoked
//! dependant: Pay { binding, merchant_id, acquirer, amount, order_ref, biometric?, route }
//!     every limit holds ─► the guardian's wallet pays the merchant (a wallet payment)
//!     else refused, naming the limit that failed
//! ```
//!
//! # Limits and days
//!
//! A day is a UTC calendar day of **block time** (`time_ms / 86 400 000`), never a node's clock.
//! Each active binding keeps the current day's usage (amount spent, payments made); the first
//! payment of a later day starts from zero. A payment is made if and only if, in this order:
//! the binding is active, the sender is its dependant, the biometric matches (when one is bound),
//! the amount is in the wallet's currency, `amount ≤ per_payment`, `payments today + 1 ≤
//! payments_per_day` and `spent today + amount ≤ per_day`; then the ordinary payment rules apply
//! (order not paid before, acquirer serves the merchant, the wallet covers it). New limits apply
//! at once to what is left of today: usage is kept when limits change.
//!
//! The authorisation is password-free payment on one platform: the platform hosting the
//! guardian's chosen wallet, which is recorded with the approval. A refund by the acquirer goes
//! back to that wallet (it is an ordinary [`wallet::Payment`]) and does not give back daily limit.
//!
//! # Biometric
//!
//! Only a salted hash of the dependant's template is stored: `sha256("paychain/biometric/v1" ‖
//! salt ‖ template)`, with a fresh random salt chosen by the guardian's device. A payment of a
//! binding with a biometric must carry the same hash, computed by the paying device from the
//! presented template. This is evidence that the device matched the template, not a secret: it is
//! public once on chain. The dependant's signature remains the authentication.
//!
//! # Statement
//!
//! Each payment is indexed under its binding and UTC calendar month, so the guardian's monthly
//! statement ([`statement`]) reads that month's entries only.
//!
//! # State keys
//!
//! `grd/b/{binding id}` → [`Binding`]; `grd/pair/{dependant}/{guardian}` → the open binding id;
//! per-key lists ([`crate::chain::index`]) of the guardian's and the dependant's bindings under `grd/b/`;
//! `grd/pay/{binding}/{u32be yyyymm}/{u64be seq}` → [`DependantPayment`], with
//! `grd/mon/{binding}/{u32be yyyymm}` → count.

use borsh::{BorshDeserialize, BorshSerialize};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::chain::kernel::{CallError, Context, Event, Refusal};
use crate::chain::state::{get_decoded, put_encoded, Overlay, StateError, StateReader};
use crate::primitives::crypto::{sha256, Hash, PublicKey};
use crate::primitives::ids::{MerchantId, PlatformId};
use crate::primitives::money::{self, decimal_str, Amount, Currency};
use crate::wallet;

pub use crate::primitives::calendar::DAY_MS;
/// Prefix of a registration terminal's code.
pub const TERMINAL_CODE_PREFIX: &str = "PCREG1";
/// Longest device number.
pub const MAX_DEVICE_NO_LEN: usize = 32;
/// Longest business type.
pub const MAX_BUSINESS_TYPE_LEN: usize = 16;
/// Most payments per day a guardian may allow.
pub const MAX_PAYMENTS_PER_DAY: u32 = 1000;

const BINDING_PREFIX: &[u8] = b"grd/b/";
const PAIR_PREFIX: &[u8] = b"grd/pair/";
const PAY_PREFIX: &[u8] = b"grd/pay/";
const MONTH_COUNT_PREFIX: &[u8] = b"grd/mon/";

/// Refusals of guardian calls (700..=799; wallet and money refusals keep their codes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An amount or currency refusal.
    #[error(transparent)]
    Money(#[from] money::Error),
    /// The terminal code's fields or check code are wrong.
    #[error("invalid registration terminal code: {0}")]
    InvalidTerminal(String),
    /// The dependant named itself as guardian.
    #[error("a dependant cannot be their own guardian")]
    SelfGuardian,
    /// An open (pending or active) binding already links the two keys.
    #[error(
        "dependant {dependant} already has an open binding {binding} with guardian {guardian}"
    )]
    DuplicateBinding {
        /// Dependant.
        dependant: PublicKey,
        /// Guardian.
        guardian: PublicKey,
        /// The open binding.
        binding: Hash,
    },
    /// No such binding.
    #[error("unknown guardian binding {0}")]
    UnknownBinding(Hash),
    /// The sender is not the binding's guardian.
    #[error("only the guardian {guardian} of binding {binding} can do this, not {sender}")]
    NotGuardian {
        /// Binding.
        binding: Hash,
        /// Its guardian.
        guardian: PublicKey,
        /// Sender.
        sender: PublicKey,
    },
    /// The sender is not the binding's dependant.
    #[error("only the dependant {dependant} of binding {binding} can pay with it, not {sender}")]
    NotDependant {
        /// Binding.
        binding: Hash,
        /// Its dependant.
        dependant: PublicKey,
        /// Sender.
        sender: PublicKey,
    },
    /// Neither the guardian nor the dependant of the binding.
    #[error("only the guardian or the dependant of binding {binding} can end it, not {sender}")]
    NotParty {
        /// Binding.
        binding: Hash,
        /// Sender.
        sender: PublicKey,
    },
    /// The binding is not in the status the call needs.
    #[error("binding {binding} is {status}, it must be {needed}")]
    WrongStatus {
        /// Binding.
        binding: Hash,
        /// Its status.
        status: Status,
        /// What the call needs.
        needed: &'static str,
    },
    /// Limits that make no sense.
    #[error("invalid limits: {0}")]
    InvalidLimits(String),
    /// The per-payment limit.
    #[error("limit per payment exceeded: {amount} is above the limit of {limit} per payment")]
    PerPaymentLimit {
        /// Asked.
        amount: String,
        /// Limit.
        limit: String,
    },
    /// The daily amount limit.
    #[error("daily limit exceeded: {spent} spent today plus {amount} is above the limit of {limit} per day")]
    DailyAmountLimit {
        /// Spent today.
        spent: String,
        /// Asked.
        amount: String,
        /// Limit.
        limit: String,
    },
    /// The daily count limit.
    #[error("payments per day exceeded: {count} of {limit} payments already made today")]
    DailyCountLimit {
        /// Made today.
        count: u32,
        /// Limit.
        limit: u32,
    },
    /// The binding has a biometric and the payment carries none.
    #[error("binding {0} requires the dependant's biometric: none presented")]
    BiometricRequired(Hash),
    /// The presented biometric hash differs.
    #[error("biometric does not match the template bound to binding {0}")]
    BiometricMismatch(Hash),
}

impl Error {
    /// Stable receipt code: 300..=309 money, 700..=799 guardian.
    pub fn code(&self) -> u32 {
        match self {
            Error::Money(e) => e.code(),
            Error::InvalidTerminal(_) => 700,
            Error::SelfGuardian => 701,
            Error::DuplicateBinding { .. } => 702,
            Error::UnknownBinding(_) => 703,
            Error::NotGuardian { .. } => 704,
            Error::NotDependant { .. } => 705,
            Error::WrongStatus { .. } => 706,
            Error::InvalidLimits(_) => 707,
            Error::NotParty { .. } => 708,
            Error::PerPaymentLimit { .. } => 710,
            Error::DailyAmountLimit { .. } => 711,
            Error::DailyCountLimit { .. } => 712,
            Error::BiometricRequired(_) => 713,
            Error::BiometricMismatch(_) => 714,
        }
    }
}

impl Refusal for Error {
    fn code(&self) -> u32 {
        Error::code(self)
    }
}

/// What a registration terminal's code carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Terminal {
    /// The terminal's device number: 1 to 32 of `A-Z 0-9 -`.
    pub device_no: String,
    /// Business type of the place (school, clinic, ...): 1 to 16 of `a-z 0-9 -`.
    pub business_type: String,
    /// [`check_code`] of the two, 8 upper-case hex digits.
    pub check_code: String,
}

/// The check code of a terminal: the first 4 bytes of `sha256("paychain/terminal/v1" ‖ device_no
/// ‖ 0x00 ‖ business_type)` in upper-case hex. It catches a mistyped or damaged code; it is not a
/// secret.
pub fn check_code(device_no: &str, business_type: &str) -> String {
    let h = sha256(&[
        b"paychain/terminal/v1",
        device_no.as_bytes(),
        &[0],
        business_type.as_bytes(),
    ]);
    hex::encode_upper(&h.0[..4])
}

impl Terminal {
    /// A terminal with its check code.
    pub fn new(device_no: &str, business_type: &str) -> Result<Terminal, Error> {
        let t = Terminal {
            device_no: device_no.to_owned(),
            business_type: business_type.to_owned(),
            check_code: check_code(device_no, business_type),
        };
        t.check()?;
        Ok(t)
    }

    /// Checks the fields and the check code.
    pub fn check(&self) -> Result<(), Error> {
        let dev_ok = !self.device_no.is_empty()
            && self.device_no.len() <= MAX_DEVICE_NO_LEN
            && self
                .device_no
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
        if !dev_ok {
            return Err(Error::InvalidTerminal(format!(
                "device number {:?} must be 1 to {MAX_DEVICE_NO_LEN} of A-Z, 0-9 and -",
                truncate(&self.device_no, MAX_DEVICE_NO_LEN)
            )));
        }
        let bt_ok = !self.business_type.is_empty()
            && self.business_type.len() <= MAX_BUSINESS_TYPE_LEN
            && self
                .business_type
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !bt_ok {
            return Err(Error::InvalidTerminal(format!(
                "business type {:?} must be 1 to {MAX_BUSINESS_TYPE_LEN} of a-z, 0-9 and -",
                truncate(&self.business_type, MAX_BUSINESS_TYPE_LEN)
            )));
        }
        let expected = check_code(&self.device_no, &self.business_type);
        if self.check_code != expected {
            return Err(Error::InvalidTerminal(format!(
                "check code {:?} does not match device {} and business type {}",
                truncate(&self.check_code, 8),
                self.device_no,
                self.business_type
            )));
        }
        Ok(())
    }

    /// The text of the terminal's code: `PCREG1:<device no>:<business type>:<check code>`.
    pub fn code_text(&self) -> String {
        format!(
            "{TERMINAL_CODE_PREFIX}:{}:{}:{}",
            self.device_no, self.business_type, self.check_code
        )
    }

    /// Parses and checks a scanned terminal code (at most 128 bytes).
    pub fn parse(text: &str) -> Result<Terminal, Error> {
        let text = text.trim();
        if text.len() > 128 {
            return Err(Error::InvalidTerminal(format!(
                "{} bytes, a terminal code has at most 128",
                text.len()
            )));
        }
        let parts: Vec<&str> = text.split(':').collect();
        let [prefix, device_no, business_type, check] = parts[..] else {
            return Err(Error::InvalidTerminal(format!(
                "expected {TERMINAL_CODE_PREFIX}:<device no>:<business type>:<check code>, got {:?}",
                truncate(text, 40)
            )));
        };
        if prefix != TERMINAL_CODE_PREFIX {
            return Err(Error::InvalidTerminal(format!(
                "not a registration terminal code (starts with {:?}, not {TERMINAL_CODE_PREFIX})",
                truncate(prefix, 16)
            )));
        }
        let t = Terminal {
            device_no: device_no.to_owned(),
            business_type: business_type.to_owned(),
            check_code: check.to_owned(),
        };
        t.check()?;
        Ok(t)
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// The guardian's limits, in the currency of the paying wallet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Limits {
    /// Largest single payment.
    pub per_payment: Amount,
    /// Largest total per day (block time, UTC).
    pub per_day: Amount,
    /// Most payments per day.
    pub payments_per_day: u32,
}

impl Limits {
    /// Valid amounts in `currency`, `0 < per_payment ≤ per_day`, `1 ≤ payments_per_day ≤ 1000`.
    pub fn check(&self, currency: Currency) -> Result<(), Error> {
        for a in [&self.per_payment, &self.per_day] {
            a.validate()?;
            a.expect_currency(currency)?;
        }
        if self.per_payment.value > self.per_day.value {
            return Err(Error::InvalidLimits(format!(
                "the limit per payment {} is above the limit per day {}",
                self.per_payment, self.per_day
            )));
        }
        if self.payments_per_day == 0 || self.payments_per_day > MAX_PAYMENTS_PER_DAY {
            return Err(Error::InvalidLimits(format!(
                "payments per day must be 1 to {MAX_PAYMENTS_PER_DAY}, got {}",
                self.payments_per_day
            )));
        }
        Ok(())
    }
}

/// A salted hash of the dependant's biometric template.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize,
)]
pub struct Biometric {
    /// Random salt chosen by the guardian's device.
    pub salt: Hash,
    /// [`biometric_hash`]`(salt, template)`.
    pub template_hash: Hash,
}

/// `sha256("paychain/biometric/v1" ‖ salt ‖ template)`.
pub fn biometric_hash(salt: &Hash, template: &[u8]) -> Hash {
    sha256(&[b"paychain/biometric/v1", &salt.0, template])
}

/// Where a binding stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Requested, waiting for the guardian.
    Pending,
    /// Approved: the dependant can pay within the limits.
    Active,
    /// Refused by the guardian.
    Rejected,
    /// Ended by the guardian or the dependant.
    Revoked,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Pending => "pending",
            Status::Active => "active",
            Status::Rejected => "rejected",
            Status::Revoked => "revoked",
        })
    }
}

/// The guardian's approval: which wallet pays, on which platform, within which limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Authorisation {
    /// The guardian's wallet that pays.
    pub wallet: Hash,
    /// The platform hosting it (where password-free payment is authorised).
    pub platform: PlatformId,
    /// Limits.
    pub limits: Limits,
    /// Optional biometric of the dependant.
    pub biometric: Option<Biometric>,
    /// Block time of the approval.
    pub approved_at_ms: u64,
}

/// What the dependant used on one day.
#[derive(
    Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize,
)]
pub struct DayUsage {
    /// Day number: block time / [`DAY_MS`].
    pub day: u64,
    /// Paid that day.
    #[serde(with = "decimal_str")]
    #[borsh(
        serialize_with = "crate::primitives::money::decimal_str::borsh_serialize",
        deserialize_with = "crate::primitives::money::decimal_str::borsh_deserialize"
    )]
    pub spent: Decimal,
    /// Payments that day.
    pub count: u32,
}

/// A dependant–guardian binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Binding {
    /// The request tx hash.
    pub id: Hash,
    /// Who pays.
    pub dependant: PublicKey,
    /// Whose wallet pays.
    pub guardian: PublicKey,
    /// Where the dependant registered.
    pub terminal: Terminal,
    /// Status.
    pub status: Status,
    /// The approval (kept after revocation, for the record).
    pub authorisation: Option<Authorisation>,
    /// Usage on the day of the latest payment.
    pub usage: DayUsage,
    /// Payments made, ever.
    pub payments: u64,
    /// Block time of the request.
    pub requested_at_ms: u64,
    /// Block time of the latest change.
    pub updated_at_ms: u64,
}

/// One payment by a dependant, as the guardian's statement lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct DependantPayment {
    /// The payment id (the pay tx hash).
    pub payment_id: Hash,
    /// Height.
    pub height: u64,
    /// Block time.
    pub time_ms: u64,
    /// Merchant.
    pub merchant_id: MerchantId,
    /// Acquirer.
    pub acquirer: PlatformId,
    /// Amount.
    pub amount: Amount,
    /// Order reference.
    pub order_ref: String,
}

/// Guardian calls. JSON: externally tagged, snake_case.
///
/// Encoding: borsh, a `u8` variant index in declaration order (first variant = 0), then the variant's
/// fields (`docs/encoding.md`). The order is part of the signed format: new variants are appended
/// at the end, none is ever removed or reordered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// The dependant asks `guardian` to let them pay (id: the tx hash).
    RequestBinding {
        /// The guardian's key.
        guardian: PublicKey,
        /// The scanned registration terminal.
        terminal: Terminal,
    },
    /// The guardian approves a pending request.
    Approve {
        /// Binding.
        binding: Hash,
        /// The guardian's wallet that pays.
        wallet: Hash,
        /// Limits.
        limits: Limits,
        /// Optional biometric of the dependant.
        biometric: Option<Biometric>,
    },
    /// The guardian refuses a pending request.
    Reject {
        /// Binding.
        binding: Hash,
    },
    /// The guardian changes the limits of an active binding.
    SetLimits {
        /// Binding.
        binding: Hash,
        /// New limits (the wallet's currency).
        limits: Limits,
    },
    /// The guardian binds, replaces or removes (`null`) the dependant's biometric.
    SetBiometric {
        /// Binding.
        binding: Hash,
        /// The new biometric, or none.
        biometric: Option<Biometric>,
    },
    /// The guardian or the dependant ends a pending or active binding.
    Revoke {
        /// Binding.
        binding: Hash,
    },
    /// The dependant pays a merchant from the guardian's wallet.
    Pay {
        /// Binding.
        binding: Hash,
        /// Merchant.
        merchant_id: MerchantId,
        /// Acquiring platform.
        acquirer: PlatformId,
        /// Amount.
        amount: Amount,
        /// The merchant's order reference.
        order_ref: String,
        /// [`biometric_hash`] of the presented template, when the binding has a biometric.
        biometric: Option<Hash>,
        /// The acquirer's record the payment was routed by (as for a wallet payment).
        route: crate::registry::Route,
    },
}

fn binding_key(id: &Hash) -> Vec<u8> {
    [BINDING_PREFIX, &id.0[..]].concat()
}

fn pair_key(dependant: &PublicKey, guardian: &PublicKey) -> Vec<u8> {
    [PAIR_PREFIX, &dependant.0[..], b"/", &guardian.0[..]].concat()
}

fn month_count_key(binding: &Hash, month: u32) -> Vec<u8> {
    [
        MONTH_COUNT_PREFIX,
        &binding.0[..],
        b"/",
        &month.to_be_bytes(),
    ]
    .concat()
}

fn pay_key(binding: &Hash, month: u32, seq: u64) -> Vec<u8> {
    [
        PAY_PREFIX,
        &binding.0[..],
        b"/",
        &month.to_be_bytes(),
        b"/",
        &seq.to_be_bytes(),
    ]
    .concat()
}

/// The binding `id`.
pub fn binding(reader: &impl StateReader, id: &Hash) -> Result<Option<Binding>, StateError> {
    get_decoded(reader, &binding_key(id))
}

/// The bindings in which `who` is guardian or dependant, newest first (at most `limit`), and
/// whether older ones were left out.
pub fn bindings_of(
    reader: &impl StateReader,
    who: &PublicKey,
    limit: usize,
) -> Result<(Vec<Binding>, bool), StateError> {
    let (ids, more) = crate::chain::index::newest(reader, BINDING_PREFIX, who, limit)?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(b) = binding(reader, &id)? {
            out.push(b);
        }
    }
    Ok((out, more))
}

/// `yyyymm` as a number (202611), the statement index of a block time.
pub fn month_index(time_ms: u64) -> u32 {
    let (y, m) = crate::primitives::calendar::year_month(time_ms);
    (y.min(400_000) as u32) * 100 + m
}

/// A guardian's statement of a binding's payments in one UTC calendar month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Statement {
    /// The binding.
    pub binding: Hash,
    /// `yyyymm`.
    pub month: u32,
    /// Payments, oldest first.
    pub payments: Vec<StatementLine>,
    /// Sum of the amounts paid, at the currency's scale.
    #[serde(with = "decimal_str")]
    #[borsh(
        serialize_with = "crate::primitives::money::decimal_str::borsh_serialize",
        deserialize_with = "crate::primitives::money::decimal_str::borsh_deserialize"
    )]
    pub total: Decimal,
    /// Sum refunded so far.
    #[serde(with = "decimal_str")]
    #[borsh(
        serialize_with = "crate::primitives::money::decimal_str::borsh_serialize",
        deserialize_with = "crate::primitives::money::decimal_str::borsh_deserialize"
    )]
    pub refunded: Decimal,
}

/// One payment of a statement and what the acquirer refunded of it so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct StatementLine {
    /// The payment.
    pub payment: DependantPayment,
    /// Refunded so far.
    #[serde(with = "decimal_str")]
    #[borsh(
        serialize_with = "crate::primitives::money::decimal_str::borsh_serialize",
        deserialize_with = "crate::primitives::money::decimal_str::borsh_deserialize"
    )]
    pub refunded: Decimal,
}

/// The payments of binding `id` in month `yyyymm` (see [`month_index`]).
pub fn statement(
    reader: &impl StateReader,
    id: &Hash,
    month: u32,
) -> Result<Statement, StateError> {
    let n: u64 = get_decoded(reader, &month_count_key(id, month))?.unwrap_or(0);
    let digits = binding(reader, id)?
        .and_then(|b| b.authorisation)
        .and_then(|a| a.limits.per_day.currency.minor_units().ok())
        .unwrap_or(0);
    let mut out = Statement {
        binding: *id,
        month,
        payments: Vec::new(),
        total: Decimal::new(0, digits),
        refunded: Decimal::new(0, digits),
    };
    for seq in 0..n {
        if let Some(p) = get_decoded::<DependantPayment>(reader, &pay_key(id, month, seq))? {
            let mut refunded = wallet::payment(reader, &p.payment_id)?
                .map(|w| w.refunded)
                .unwrap_or(Decimal::ZERO);
            refunded.rescale(digits);
            out.total += p.amount.value;
            out.refunded += refunded;
            out.payments.push(StatementLine {
                payment: p,
                refunded,
            });
        }
    }
    out.total.rescale(digits);
    out.refunded.rescale(digits);
    Ok(out)
}

fn load(reader: &impl StateReader, id: &Hash) -> Result<Binding, CallError> {
    Ok(binding(reader, id)?.ok_or(Error::UnknownBinding(*id))?)
}

fn expect_guardian(b: &Binding, ctx: &Context) -> Result<(), Error> {
    if b.guardian == ctx.sender {
        Ok(())
    } else {
        Err(Error::NotGuardian {
            binding: b.id,
            guardian: b.guardian,
            sender: ctx.sender,
        })
    }
}

fn expect_status(b: &Binding, ok: &[Status], needed: &'static str) -> Result<(), Error> {
    if ok.contains(&b.status) {
        Ok(())
    } else {
        Err(Error::WrongStatus {
            binding: b.id,
            status: b.status,
            needed,
        })
    }
}

/// The limit checks of a payment of `amount` at block time `now_ms`: `Ok(usage after)` or the
/// limit that fails. Pure, shared with clients that want to tell early.
pub fn check_limits(
    limits: &Limits,
    usage: &DayUsage,
    amount: &Amount,
    now_ms: u64,
) -> Result<DayUsage, Error> {
    amount.validate()?;
    amount.expect_currency(limits.per_day.currency)?;
    let today = now_ms / DAY_MS;
    let (spent, count) = if usage.day == today {
        (usage.spent, usage.count)
    } else {
        (Decimal::ZERO, 0)
    };
    let cur = amount.currency;
    if amount.value > limits.per_payment.value {
        return Err(Error::PerPaymentLimit {
            amount: amount.to_string(),
            limit: limits.per_payment.to_string(),
        });
    }
    if count >= limits.payments_per_day {
        return Err(Error::DailyCountLimit {
            count,
            limit: limits.payments_per_day,
        });
    }
    let after = money::checked_add(spent, amount.value, cur)?;
    if after > limits.per_day.value {
        return Err(Error::DailyAmountLimit {
            spent: cur.format(spent),
            amount: amount.to_string(),
            limit: limits.per_day.to_string(),
        });
    }
    Ok(DayUsage {
        day: today,
        spent: after,
        count: count + 1,
    })
}

fn binding_event(kind: &str, b: &Binding) -> Event {
    Event::new(kind)
        .with("binding_id", b.id.to_string())
        .with("guardian", b.guardian.to_string())
        .with("dependant", b.dependant.to_string())
        .with("status", b.status.to_string())
}

fn limits_event(e: Event, l: &Limits) -> Event {
    e.with("per_payment", l.per_payment.value.to_string())
        .with("per_day", l.per_day.value.to_string())
        .with("payments_per_day", l.payments_per_day.to_string())
        .with("currency", l.per_day.currency.code())
}

/// Runs a guardian call.
pub(crate) fn execute<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: &Context,
    call: &Call,
) -> Result<Vec<Event>, CallError> {
    match call {
        Call::RequestBinding { guardian, terminal } => {
            terminal.check()?;
            if *guardian == ctx.sender {
                return Err(Error::SelfGuardian.into());
            }
            let pair = pair_key(&ctx.sender, guardian);
            if let Some(open) = get_decoded::<Hash>(ov, &pair)? {
                return Err(Error::DuplicateBinding {
                    dependant: ctx.sender,
                    guardian: *guardian,
                    binding: open,
                }
                .into());
            }
            let b = Binding {
                id: ctx.tx_hash,
                dependant: ctx.sender,
                guardian: *guardian,
                terminal: terminal.clone(),
                status: Status::Pending,
                authorisation: None,
                usage: DayUsage::default(),
                payments: 0,
                requested_at_ms: ctx.time_ms,
                updated_at_ms: ctx.time_ms,
            };
            put_encoded(ov, pair, &b.id);
            crate::chain::index::push(ov, BINDING_PREFIX, &b.guardian, &b.id)?;
            crate::chain::index::push(ov, BINDING_PREFIX, &b.dependant, &b.id)?;
            put_encoded(ov, binding_key(&b.id), &b);
            Ok(vec![binding_event("guardian_binding_requested", &b)
                .with("device_no", terminal.device_no.clone())
                .with("business_type", terminal.business_type.clone())])
        }
        Call::Approve {
            binding: id,
            wallet: wallet_id,
            limits,
            biometric,
        } => {
            let mut b = load(ov, id)?;
            expect_guardian(&b, ctx)?;
            expect_status(&b, &[Status::Pending], "pending")?;
            let w =
                wallet::wallet(ov, wallet_id)?.ok_or(wallet::Error::UnknownWallet(*wallet_id))?;
            if w.owner != ctx.sender {
                return Err(wallet::Error::NotWalletOwner(w.id).into());
            }
            limits.check(w.currency)?;
            b.status = Status::Active;
            b.authorisation = Some(Authorisation {
                wallet: w.id,
                platform: w.host.clone(),
                limits: limits.clone(),
                biometric: *biometric,
                approved_at_ms: ctx.time_ms,
            });
            b.updated_at_ms = ctx.time_ms;
            put_encoded(ov, binding_key(&b.id), &b);
            let e = binding_event("guardian_binding_approved", &b)
                .with("wallet_id", w.id.to_string())
                .with("platform", w.host.as_str())
                .with("biometric", biometric.is_some().to_string());
            Ok(vec![limits_event(e, limits)])
        }
        Call::Reject { binding: id } => {
            let mut b = load(ov, id)?;
            expect_guardian(&b, ctx)?;
            expect_status(&b, &[Status::Pending], "pending")?;
            close(ov, ctx, &mut b, Status::Rejected);
            Ok(vec![binding_event("guardian_binding_rejected", &b)])
        }
        Call::SetLimits {
            binding: id,
            limits,
        } => {
            let mut b = load(ov, id)?;
            expect_guardian(&b, ctx)?;
            expect_status(&b, &[Status::Active], "active")?;
            let Some(a) = b.authorisation.as_mut() else {
                return Err(Error::UnknownBinding(*id).into());
            };
            limits.check(a.limits.per_day.currency)?;
            a.limits = limits.clone();
            b.updated_at_ms = ctx.time_ms;
            put_encoded(ov, binding_key(&b.id), &b);
            Ok(vec![limits_event(
                binding_event("guardian_limits_changed", &b),
                limits,
            )])
        }
        Call::SetBiometric {
            binding: id,
            biometric,
        } => {
            let mut b = load(ov, id)?;
            expect_guardian(&b, ctx)?;
            expect_status(&b, &[Status::Active], "active")?;
            let Some(a) = b.authorisation.as_mut() else {
                return Err(Error::UnknownBinding(*id).into());
            };
            a.biometric = *biometric;
            b.updated_at_ms = ctx.time_ms;
            put_encoded(ov, binding_key(&b.id), &b);
            Ok(vec![binding_event("guardian_biometric_changed", &b)
                .with("biometric", biometric.is_some().to_string())])
        }
        Call::Revoke { binding: id } => {
            let mut b = load(ov, id)?;
            if ctx.sender != b.guardian && ctx.sender != b.dependant {
                return Err(Error::NotParty {
                    binding: b.id,
                    sender: ctx.sender,
                }
                .into());
            }
            expect_status(&b, &[Status::Pending, Status::Active], "pending or active")?;
            close(ov, ctx, &mut b, Status::Revoked);
            Ok(vec![
                binding_event("guardian_binding_revoked", &b).with("by", ctx.sender.to_string())
            ])
        }
        Call::Pay {
            binding: id,
            merchant_id,
            acquirer,
            amount,
            order_ref,
            biometric,
            route,
        } => {
            let mut b = load(ov, id)?;
            if b.dependant != ctx.sender {
                return Err(Error::NotDependant {
                    binding: b.id,
                    dependant: b.dependant,
                    sender: ctx.sender,
                }
                .into());
            }
            expect_status(&b, &[Status::Active], "active")?;
            let Some(a) = b.authorisation.clone() else {
                return Err(Error::UnknownBinding(*id).into());
            };
            if let Some(bio) = a.biometric {
                match biometric {
                    None => return Err(Error::BiometricRequired(b.id).into()),
                    Some(h) if *h != bio.template_hash => {
                        return Err(Error::BiometricMismatch(b.id).into())
                    }
                    Some(_) => {}
                }
            }
            b.usage = check_limits(&a.limits, &b.usage, amount, ctx.time_ms)?;
            let w = wallet::wallet(ov, &a.wallet)?.ok_or(wallet::Error::UnknownWallet(a.wallet))?;
            let to = wallet::PayTo {
                merchant_id,
                acquirer,
                amount,
                order_ref,
                route,
            };
            let p = wallet::pay_merchant(ov, ctx, &w, to)?;
            let month = month_index(ctx.time_ms);
            let n: u64 = get_decoded(ov, &month_count_key(&b.id, month))?.unwrap_or(0);
            put_encoded(
                ov,
                pay_key(&b.id, month, n),
                &DependantPayment {
                    payment_id: p.id,
                    height: ctx.height,
                    time_ms: ctx.time_ms,
                    merchant_id: merchant_id.clone(),
                    acquirer: acquirer.clone(),
                    amount: *amount,
                    order_ref: order_ref.clone(),
                },
            );
            put_encoded(ov, month_count_key(&b.id, month), &n.saturating_add(1));
            b.payments = b.payments.saturating_add(1);
            b.updated_at_ms = ctx.time_ms;
            put_encoded(ov, binding_key(&b.id), &b);
            Ok(vec![
                wallet::payment_event(&p),
                binding_event("guardian_payment", &b)
                    .with("payment_id", p.id.to_string())
                    .with("merchant_id", merchant_id.as_str())
                    .with("amount", amount.value.to_string())
                    .with("currency", amount.currency.code())
                    .with("spent_today", b.usage.spent.to_string())
                    .with("payments_today", b.usage.count.to_string()),
            ])
        }
    }
}

/// Ends a binding: the pair can be requested again.
fn close<R: StateReader>(ov: &mut Overlay<'_, R>, ctx: &Context, b: &mut Binding, to: Status) {
    b.status = to;
    b.updated_at_ms = ctx.time_ms;
    ov.delete(pair_key(&b.dependant, &b.guardian));
    put_encoded(ov, binding_key(&b.id), b);
}

#[cfg(test)]
mod tests;
