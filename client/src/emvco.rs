//! EMVCo Merchant-Presented Mode (MPM) payment codes: decode any scheme's code, encode paychain's.
//!
//! A code is a string of TLV fields: a two-digit id, a two-digit length counted in **characters**
//! (not bytes), then the value. Field `00` (payload format indicator) comes first and `63` (a
//! CRC-16/CCITT-FALSE over the UTF-8 bytes of everything up to and including `6304`) comes last.
//! Templates (merchant accounts 26-51, additional data 62, language 64, unreserved 80-99) hold
//! sub-fields of the same shape and are parsed one level deep.
//!
//! paychain codes carry template 26 with GUID [`PAYCHAIN_GUID`] and the merchant id in sub-field 01;
//! dynamic codes (point of initiation `12`) also carry an amount (54) and an order reference (62-05),
//! or, for a split-bill collection, the total (54) and the collection id in 62-50
//! ([`COLLECTION_SUBFIELD`]).
//!
//! Every field is kept as read in [`MerchantCode::tags`] (id, raw value, and the sub-fields of
//! templates), beside the interpreted fields: point of initiation `"12"` and `dynamic`, currency
//! `"156"` and `CNY`.
//!
//! Tip and convenience fee (fields 55-57): `55` = `01` asks the payer for a tip, `02` adds the
//! fixed fee in `56`, `03` the percentage in `57` (0.01 to 99.99). [`MerchantCode::amount_due`]
//! says what the payer pays: the base amount, the fee (a percentage fee rounded half up to the
//! currency's minor unit), the tip (required when asked for, refused otherwise) and the total.
//!
//! ```text
//! decode(&str) ──► MerchantCode ──► paychain_merchant() ──► Ok("M…") | Err(NotPaychain: "this is a Pix code …")
//!                      │       └──► amount_due(base, tip) ──► Due { base, fee, tip, total }
//!                      └── tags: [{ id: "00", value: "01" }, { id: "01", value: "12" }, { id: "26", value: "…", tags: [...] }, ...]
//! MerchantCodeSpec::new(..)?.with_payment(..)?.with_tip(..)? ──► encode(&spec) ──► "00020101021226…6304ABCD"
//! ```
//!
//! The decoder is pure and bounded: inputs over [`MAX_PAYLOAD_CHARS`] are refused before parsing, and
//! it never panics (slicing is done on characters, never on byte offsets from the input). It is
//! lenient where real codes deviate harmlessly (lowercase CRC hex, unknown fields kept, missing
//! optional fields, whitespace around the code) and strict where integrity is at stake (CRC, lengths,
//! structure, duplicate fields, amounts).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::str::FromStr;

use paychain_contracts::ids::MerchantId;
use paychain_contracts::money::{self, Amount, Currency as PaychainCurrency};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

/// Longest payload accepted, in characters. EMVCo codes are at most 512 characters.
pub const MAX_PAYLOAD_CHARS: usize = 512;

/// GUID (sub-field 00) of paychain's merchant account template.
pub const PAYCHAIN_GUID: &str = "COM.PAYCHAIN";

/// Merchant account template paychain codes use.
pub const PAYCHAIN_TEMPLATE: &str = "26";

/// Longest merchant name in an encoded code (EMVCo field 59), in characters.
pub const MAX_NAME_CHARS: usize = 25;

/// Longest merchant city in an encoded code (EMVCo field 60), in characters.
pub const MAX_CITY_CHARS: usize = 15;

/// Longest order reference (field 62-05, reference label), in characters.
pub const MAX_ORDER_REF_CHARS: usize = 25;

/// Sub-field of the additional data template (62) that carries a split-bill collection: a
/// payment-system-specific template (62-50) with GUID [`PAYCHAIN_GUID`] in 00 and the collection id
/// (64 hex characters) in 01. 62-05 is limited to 25 characters, too short for the id.
pub const COLLECTION_SUBFIELD: &str = "50";

/// Longest transaction amount (field 54) or fixed convenience fee (56), in characters.
pub const MAX_AMOUNT_CHARS: usize = 13;

/// Longest convenience fee percentage (field 57), in characters (`"99.99"`).
pub const MAX_PERCENT_CHARS: usize = 5;

/// Why a payload is not a valid EMVCo MPM code. Field ids of sub-fields are written `62-05`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("the code is empty")]
    Empty,
    #[error("the code is longer than {max} characters")]
    TooLong { max: usize },
    #[error("the code must start with the payload format indicator (field 00), it starts with {found:?}")]
    FormatNotFirst { found: String },
    #[error("{context}: {remaining} characters left at character {at}, too few for a field id and length")]
    TruncatedHeader {
        context: String,
        at: usize,
        remaining: usize,
    },
    #[error("{context}: field id {found:?} at character {at} is not two digits")]
    BadId {
        context: String,
        at: usize,
        found: String,
    },
    #[error("field {id}: length {found:?} is not two digits")]
    BadLength { id: String, found: String },
    #[error("field {id} declares {declared} characters but only {remaining} remain")]
    Truncated {
        id: String,
        declared: usize,
        remaining: usize,
    },
    #[error("field {id} appears more than once")]
    Duplicate { id: String },
    #[error("the code has no CRC (field 63)")]
    MissingCrc,
    #[error("the CRC (field 63) must be the last field, {trailing} characters follow it")]
    CrcNotLast { trailing: usize },
    #[error("the CRC (field 63) must be 4 characters, it declares {declared}")]
    CrcLength { declared: String },
    #[error("the CRC (field 63) is not 4 hex digits: {found:?}")]
    CrcNotHex { found: String },
    #[error("CRC mismatch: code says {stated}, computed {computed}")]
    CrcMismatch { stated: String, computed: String },
    #[error("field {id} ({name}) {reason}")]
    InvalidField {
        id: String,
        name: &'static str,
        reason: String,
    },
}

fn invalid(id: &str, name: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidField {
        id: id.to_owned(),
        name,
        reason: reason.into(),
    }
}

/// One TLV field as found in the code (unknown fields are kept as these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Field {
    /// Two-digit id.
    pub tag: String,
    pub value: String,
}

/// A field exactly as read, in code order: its id, its EMVCo name when it has one, its raw value
/// and, for a template, its sub-fields (the same shape, one level down; the payment-system
/// templates 50-99 inside field 62 one level further, when their value is well-formed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tag {
    /// Two-digit id.
    pub id: String,
    /// What EMVCo calls the field (`"point of initiation method"`), if this decoder knows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'static str>,
    /// The value as it appears in the code.
    pub value: String,
    /// Sub-fields of a template, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
}

impl Tag {
    /// The sub-field `id`.
    pub fn tag(&self, id: &str) -> Option<&Tag> {
        self.tags.iter().find(|t| t.id == id)
    }
}

/// Static codes serve many payments; dynamic codes one (and carry the amount).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PointOfInitiation {
    /// `11`.
    Static,
    /// `12`.
    Dynamic,
}

/// A merchant account: a primitive card-network account (ids 02-25, `value` set) or a template
/// (ids 26-51, `guid` from sub-field 00 and the other sub-fields in `fields`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MerchantAccount {
    pub tag: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<Field>,
}

impl MerchantAccount {
    /// The value of sub-field `tag`.
    pub fn field(&self, tag: &str) -> Option<&str> {
        find(&self.fields, tag)
    }
}

/// An unreserved template (ids 80-99): GUID in sub-field 00, the rest as found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Template {
    pub tag: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guid: Option<String>,
    pub fields: Vec<Field>,
}

/// ISO 4217 currency: the numeric code found in field 53 and, for common currencies, its letters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Currency {
    pub numeric: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpha: Option<&'static str>,
}

/// Tip or convenience fee (fields 55, 56, 57).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Tip {
    /// `55` = `01`: the payer is asked for a tip.
    Prompt,
    /// `55` = `02`: a fixed convenience fee (field 56), in the code's currency.
    FixedFee { amount: Decimal },
    /// `55` = `03`: a convenience fee of `percent` % of the amount (field 57, 0.01 to 99.99).
    PercentageFee { percent: Decimal },
}

impl Tip {
    /// The value of field 55 for this tip or fee.
    pub fn indicator(&self) -> &'static str {
        match self {
            Tip::Prompt => "01",
            Tip::FixedFee { .. } => "02",
            Tip::PercentageFee { .. } => "03",
        }
    }
}

/// Additional data field template (62). `"***"` in a field means "ask the payer".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AdditionalData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bill_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mobile_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loyalty_number: Option<String>,
    /// 62-05; paychain's order reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reference_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminal_label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose_of_transaction: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_consumer_data_request: Option<String>,
    /// Sub-fields 10-99 (RFU and payment-system templates), as found.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_fields: Vec<Field>,
}

/// Merchant information in an alternate language (64).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LanguageTemplate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language_preference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_city: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_fields: Vec<Field>,
}

/// A decoded EMVCo MPM code. Fields the spec calls mandatory but some national schemes omit
/// (PromptPay has no 52/59/60, for instance) are optional here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MerchantCode {
    /// Field 00 (`01`; DuitNow uses `02`).
    pub payload_format: String,
    /// Field 01.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub point_of_initiation: Option<PointOfInitiation>,
    /// Fields 02-51 in code order.
    pub merchant_accounts: Vec<MerchantAccount>,
    /// Field 52 (ISO 18245).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcc: Option<String>,
    /// Field 53.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    /// Field 54.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<Decimal>,
    /// Fields 55-57.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tip: Option<Tip>,
    /// Field 58 (ISO 3166-1 alpha-2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Field 59.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_name: Option<String>,
    /// Field 60.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_city: Option<String>,
    /// Field 61.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// Field 62.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_data: Option<AdditionalData>,
    /// Field 64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<LanguageTemplate>,
    /// Fields 80-99.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreserved_templates: Vec<Template>,
    /// Fields this decoder has no meaning for (RFU ids 65-79), as found.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub other_fields: Vec<Field>,
    /// Field 63 as 4 uppercase hex digits (verified).
    pub crc: String,
    /// Every field as read, in order, with its raw value (and the sub-fields of templates).
    pub tags: Vec<Tag>,
}

/// Why a valid EMVCo code cannot be paid through paychain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotPaychain {
    #[error("this is a {scheme} code (GUID {guid}), it carries no paychain merchant")]
    OtherScheme { scheme: &'static str, guid: String },
    #[error(
        "this is a {network} code (merchant account field {tag}), it carries no paychain merchant"
    )]
    CardNetwork { network: &'static str, tag: String },
    #[error("this is an EMVCo code of an unrecognised scheme (GUID {guids}), it carries no paychain merchant")]
    UnknownScheme { guids: String },
    #[error(
        "this EMVCo code has no merchant account information, it carries no paychain merchant"
    )]
    NoMerchantAccount,
}

impl MerchantCode {
    /// The paychain merchant id this code pays, or why there is none.
    pub fn paychain_merchant(&self) -> Result<&str, NotPaychain> {
        if let Some(id) = self.paychain_account().and_then(|a| a.field("01")) {
            return Ok(id);
        }
        let templates: Vec<&MerchantAccount> = self
            .merchant_accounts
            .iter()
            .filter(|a| a.guid.is_some())
            .collect();
        for account in &templates {
            if let Some(guid) = &account.guid {
                if let Some(scheme) = scheme_of_guid(guid) {
                    return Err(NotPaychain::OtherScheme {
                        scheme,
                        guid: guid.clone(),
                    });
                }
            }
        }
        if !templates.is_empty() {
            let guids: Vec<&str> = templates.iter().filter_map(|a| a.guid.as_deref()).collect();
            return Err(NotPaychain::UnknownScheme {
                guids: guids.join(", "),
            });
        }
        match self.merchant_accounts.first() {
            Some(a) => Err(NotPaychain::CardNetwork {
                network: card_network(&a.tag),
                tag: a.tag.clone(),
            }),
            None => Err(NotPaychain::NoMerchantAccount),
        }
    }

    /// The name of the first payment scheme recognised in the code (`"paychain"`, `"Pix"`, ...).
    pub fn scheme(&self) -> Option<&'static str> {
        if self.paychain_account().is_some() {
            return Some("paychain");
        }
        self.merchant_accounts.iter().find_map(|a| {
            a.guid.as_deref().and_then(scheme_of_guid).or_else(|| {
                a.value
                    .as_ref()
                    .map(|_| card_network(&a.tag))
                    .filter(|n| !n.is_empty())
            })
        })
    }

    /// The split-bill collection id of a collection code (62-50 with GUID `COM.PAYCHAIN`, sub-field
    /// 01), unchecked.
    pub fn collection_ref(&self) -> Option<String> {
        let data = self.additional_data.as_ref()?;
        let t = data
            .other_fields
            .iter()
            .find(|f| f.tag == COLLECTION_SUBFIELD)?;
        let fields = sub_fields("62-50", &t.value).ok()?;
        let guid = find(&fields, "00")?;
        if !guid.eq_ignore_ascii_case(PAYCHAIN_GUID) {
            return None;
        }
        find(&fields, "01").map(str::to_owned)
    }

    /// The order reference of a dynamic code (62-05).
    pub fn order_ref(&self) -> Option<&str> {
        self.additional_data
            .as_ref()
            .and_then(|d| d.reference_label.as_deref())
    }

    /// The top-level field `id` as read.
    pub fn tag(&self, id: &str) -> Option<&Tag> {
        self.tags.iter().find(|t| t.id == id)
    }

    /// What the payer pays for this code: `base` (the code's amount for a dynamic code, the
    /// amount the payer entered for a static one), plus the convenience fee the code states, plus
    /// `tip` (in `base`'s currency).
    ///
    /// - A code asking for a tip (55 = `01`) needs `tip` (zero for none); any other code refuses one.
    /// - A fixed fee (56) is added as stated; it may not have more decimals than the currency.
    /// - A percentage fee (57) is `base × percent / 100`, computed exactly in decimal and rounded
    ///   half up (half away from zero) to the currency's minor unit: 3 % of 10.25 CNY is 0.3075,
    ///   so 0.31.
    /// - `base` must be the code's amount (54) when it has one, and in the code's currency (53).
    ///
    /// Fee and tip are zero amounts (in the currency, with its minor-unit decimals) when there is
    /// none; base and total are valid payment amounts ([`Amount::validate`]).
    pub fn amount_due(&self, base: Amount, tip: Option<Decimal>) -> Result<Due, DueError> {
        base.validate()?;
        let currency = base.currency;
        let minor = currency.minor_units()?;
        if let Some(c) = &self.currency {
            if currency_alpha(&c.numeric) != Some(currency.code()) {
                return Err(DueError::CurrencyMismatch {
                    code: match currency_alpha(&c.numeric) {
                        Some(alpha) => format!("{alpha} ({})", c.numeric),
                        None => c.numeric.clone(),
                    },
                    given: currency,
                });
            }
        }
        if let Some(stated) = self.amount {
            if stated != base.value {
                return Err(DueError::AmountMismatch {
                    code: currency.format(stated),
                    given: currency.format(base.value),
                });
            }
        }
        let exact = |mut value: Decimal| {
            value.rescale(minor);
            Amount { value, currency }
        };
        let fee = match &self.tip {
            Some(Tip::FixedFee { amount }) => {
                if amount.normalize().scale() > minor {
                    return Err(DueError::FeeDecimals {
                        fee: amount.to_string(),
                        currency,
                        allowed: minor,
                    });
                }
                *amount
            }
            Some(Tip::PercentageFee { percent }) => base
                .value
                .checked_mul(*percent)
                .and_then(|v| v.checked_div(Decimal::ONE_HUNDRED))
                .ok_or(money::Error::Overflow(currency))?
                .round_dp_with_strategy(minor, RoundingStrategy::MidpointAwayFromZero),
            Some(Tip::Prompt) | None => Decimal::ZERO,
        };
        let tip = match (&self.tip, tip) {
            (Some(Tip::Prompt), None) => return Err(DueError::TipRequired),
            (Some(Tip::Prompt), Some(t)) => {
                if t.is_sign_negative() || t.normalize().scale() > minor {
                    return Err(DueError::BadTip {
                        tip: t.to_string(),
                        currency,
                        allowed: minor,
                    });
                }
                t
            }
            (_, Some(_)) => return Err(DueError::TipNotAsked),
            (_, None) => Decimal::ZERO,
        };
        let total = money::checked_add(base.value, fee, currency)
            .and_then(|v| money::checked_add(v, tip, currency))?;
        let total = exact(total);
        total.validate()?;
        Ok(Due {
            base,
            fee: exact(fee),
            tip: exact(tip),
            total,
        })
    }

    fn paychain_account(&self) -> Option<&MerchantAccount> {
        self.merchant_accounts.iter().find(|a| {
            a.guid
                .as_deref()
                .is_some_and(|g| g.eq_ignore_ascii_case(PAYCHAIN_GUID))
        })
    }
}

/// What a payer pays for a code ([`MerchantCode::amount_due`]), all in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Due {
    /// The amount before fee and tip, as given.
    pub base: Amount,
    /// The convenience fee the code states (zero if none), with the currency's minor-unit decimals.
    pub fee: Amount,
    /// The payer's tip (zero if none), with the currency's minor-unit decimals.
    pub tip: Amount,
    /// `base + fee + tip`, with the currency's minor-unit decimals: what the payer pays.
    pub total: Amount,
}

impl std::fmt::Display for Due {
    /// `103.00 CNY (100.00 CNY + convenience fee 3.00 CNY)`, or just the total when there is
    /// neither fee nor tip.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.total)?;
        let mut parts = Vec::new();
        if !self.fee.value.is_zero() {
            parts.push(format!("convenience fee {}", self.fee));
        }
        if !self.tip.value.is_zero() {
            parts.push(format!("tip {}", self.tip));
        }
        if !parts.is_empty() {
            write!(f, " ({} + {})", self.base, parts.join(" + "))?;
        }
        Ok(())
    }
}

/// Why [`MerchantCode::amount_due`] cannot say what to pay. One line a payer understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DueError {
    /// Field 55 is `01` and no tip was given.
    #[error("this code asks for a tip: pass --tip AMOUNT (0 for none)")]
    TipRequired,
    /// A tip was given for a code that does not ask for one.
    #[error("this code does not ask for a tip (field 55 is not 01): leave out --tip")]
    TipNotAsked,
    /// A negative tip, or one with more decimals than the currency has.
    #[error("invalid tip {tip}: zero or more {currency}, at most {allowed} decimals")]
    BadTip {
        tip: String,
        currency: PaychainCurrency,
        allowed: u32,
    },
    /// The code's fixed fee (56) has more decimals than the currency has.
    #[error(
        "the code's convenience fee {fee} has more decimals than {currency} allows ({allowed})"
    )]
    FeeDecimals {
        fee: String,
        currency: PaychainCurrency,
        allowed: u32,
    },
    /// The base amount is not the code's amount (54).
    #[error("amount mismatch: the code asks for {code}, the payment says {given}")]
    AmountMismatch { code: String, given: String },
    /// The base amount is not in the code's currency (53).
    #[error("currency mismatch: the code is in {code}, the payment in {given}")]
    CurrencyMismatch {
        code: String,
        given: PaychainCurrency,
    },
    /// An amount the money rules refuse (unsupported currency, too large, overflow, ...).
    #[error("invalid amount: {0}")]
    Money(#[from] money::Error),
}

/// Known merchant account GUIDs (compared without case) and the scheme they belong to.
const SCHEMES: &[(&str, &str)] = &[
    (PAYCHAIN_GUID, "paychain"),
    ("br.gov.bcb.pix", "Pix (Brazil)"),
    ("SG.PAYNOW", "PayNow (Singapore)"),
    ("SG.SGQR", "SGQR (Singapore)"),
    ("SG.COM.NETS", "NETS (Singapore)"),
    ("A000000677010111", "PromptPay (Thailand)"),
    ("A000000677010112", "PromptPay (Thailand)"),
    ("A000000677010113", "PromptPay (Thailand)"),
    ("A000000677010114", "PromptPay (Thailand)"),
    ("ID.CO.QRIS.WWW", "QRIS (Indonesia)"),
    ("MY.COM.PAYNET", "DuitNow (Malaysia)"),
    ("A0000006150001", "DuitNow (Malaysia)"),
    ("A000000727", "VietQR/NAPAS (Vietnam)"),
    ("A000000524", "BharatQR/UPI (India)"),
    ("HK.COM.HKICL", "FPS (Hong Kong)"),
    ("kh.gov.nbc.bakong", "KHQR/Bakong (Cambodia)"),
];

fn scheme_of_guid(guid: &str) -> Option<&'static str> {
    SCHEMES
        .iter()
        .find(|(g, _)| g.eq_ignore_ascii_case(guid))
        .map(|(_, s)| *s)
}

/// EMVCo's allocation of the primitive merchant account ids 02-25.
fn card_network(tag: &str) -> &'static str {
    match tag {
        "02" | "03" => "Visa",
        "04" | "05" => "Mastercard",
        "06" | "07" | "08" => "EMVCo-reserved",
        "09" | "10" => "Discover",
        "11" | "12" => "American Express",
        "13" | "14" => "JCB",
        "15" | "16" => "UnionPay",
        _ => "card network",
    }
}

/// (numeric, alpha, minor units) of common ISO 4217 currencies.
const CURRENCIES: &[(&str, &str, u32)] = &[
    ("036", "AUD", 2),
    ("048", "BHD", 3),
    ("050", "BDT", 2),
    ("096", "BND", 2),
    ("116", "KHR", 2),
    ("124", "CAD", 2),
    ("144", "LKR", 2),
    ("156", "CNY", 2),
    ("344", "HKD", 2),
    ("356", "INR", 2),
    ("360", "IDR", 2),
    ("392", "JPY", 0),
    ("410", "KRW", 0),
    ("414", "KWD", 3),
    ("418", "LAK", 2),
    ("446", "MOP", 2),
    ("458", "MYR", 2),
    ("484", "MXN", 2),
    ("524", "NPR", 2),
    ("554", "NZD", 2),
    ("586", "PKR", 2),
    ("608", "PHP", 2),
    ("682", "SAR", 2),
    ("702", "SGD", 2),
    ("704", "VND", 0),
    ("710", "ZAR", 2),
    ("756", "CHF", 2),
    ("764", "THB", 2),
    ("784", "AED", 2),
    ("826", "GBP", 2),
    ("840", "USD", 2),
    ("901", "TWD", 2),
    ("978", "EUR", 2),
    ("986", "BRL", 2),
];

/// The letters of a numeric ISO 4217 code, for common currencies.
pub fn currency_alpha(numeric: &str) -> Option<&'static str> {
    CURRENCIES
        .iter()
        .find(|(n, _, _)| *n == numeric)
        .map(|(_, a, _)| *a)
}

/// The numeric ISO 4217 code of a currency given as digits or as common letters (`CNY`, `sgd`).
pub fn currency_numeric(code: &str) -> Option<&'static str> {
    CURRENCIES
        .iter()
        .find(|(n, a, _)| *n == code || a.eq_ignore_ascii_case(code))
        .map(|(n, _, _)| *n)
}

fn minor_units(numeric: &str) -> u32 {
    CURRENCIES
        .iter()
        .find(|(n, _, _)| *n == numeric)
        .map_or(2, |(_, _, m)| *m)
}

/// CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor).
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// A field as parsed, with its position (in characters) for the CRC.
struct Raw {
    tag: String,
    value: String,
    /// Character offset of the value's first character.
    value_at: usize,
}

/// Parses `chars` as a sequence of TLV fields. `context` names the enclosing field for errors
/// ("the code" or "field 62"); `prefix` is prepended to sub-field ids ("62-").
fn parse_fields(
    chars: &[char],
    context: &str,
    prefix: &str,
    stop_at_crc: bool,
) -> Result<Vec<Raw>, Error> {
    let mut fields = Vec::new();
    let mut seen = BTreeSet::new();
    let mut at = 0;
    while at < chars.len() {
        let remaining = chars.len() - at;
        if remaining < 4 {
            return Err(Error::TruncatedHeader {
                context: context.to_owned(),
                at,
                remaining,
            });
        }
        let tag: String = chars[at..at + 2].iter().collect();
        if !tag.chars().all(|c| c.is_ascii_digit()) {
            if at == 0 && prefix.is_empty() {
                return Err(Error::FormatNotFirst { found: tag });
            }
            return Err(Error::BadId {
                context: context.to_owned(),
                at,
                found: tag,
            });
        }
        let id = format!("{prefix}{tag}");
        if at == 0 && prefix.is_empty() && tag != "00" {
            return Err(Error::FormatNotFirst { found: tag });
        }
        let len: String = chars[at + 2..at + 4].iter().collect();
        let declared = parse_two_digits(&len).ok_or_else(|| Error::BadLength {
            id: id.clone(),
            found: len.clone(),
        })?;
        if stop_at_crc && tag == "63" && len != "04" {
            return Err(Error::CrcLength { declared: len });
        }
        let value_at = at + 4;
        let remaining = chars.len() - value_at;
        if declared > remaining {
            return Err(Error::Truncated {
                id,
                declared,
                remaining,
            });
        }
        if !seen.insert(tag.clone()) {
            return Err(Error::Duplicate { id });
        }
        let value: String = chars[value_at..value_at + declared].iter().collect();
        at = value_at + declared;
        let is_crc = stop_at_crc && tag == "63";
        fields.push(Raw {
            tag,
            value,
            value_at,
        });
        if is_crc {
            if at < chars.len() {
                return Err(Error::CrcNotLast {
                    trailing: chars.len() - at,
                });
            }
            break;
        }
    }
    Ok(fields)
}

fn parse_two_digits(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    match b {
        [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => {
            Some(usize::from(a - b'0') * 10 + usize::from(b - b'0'))
        }
        _ => None,
    }
}

/// Sub-fields of template `tag` (one level deep).
fn sub_fields(tag: &str, value: &str) -> Result<Vec<Field>, Error> {
    let chars: Vec<char> = value.chars().collect();
    let raws = parse_fields(&chars, &format!("field {tag}"), &format!("{tag}-"), false)?;
    Ok(raws
        .into_iter()
        .map(|r| Field {
            tag: r.tag,
            value: r.value,
        })
        .collect())
}

fn find<'a>(fields: &'a [Field], tag: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|f| f.tag == tag)
        .map(|f| f.value.as_str())
}

fn take(fields: &mut Vec<Field>, tag: &str) -> Option<String> {
    let i = fields.iter().position(|f| f.tag == tag)?;
    Some(fields.remove(i).value)
}

fn digits(id: &str, name: &'static str, value: &str, len: usize) -> Result<String, Error> {
    if value.chars().count() == len && value.chars().all(|c| c.is_ascii_digit()) {
        Ok(value.to_owned())
    } else {
        Err(invalid(
            id,
            name,
            format!("must be {len} digits, is {value:?}"),
        ))
    }
}

/// An amount as EMVCo writes it: digits with at most one `.`, up to 13 characters.
fn amount(id: &str, name: &'static str, value: &str) -> Result<Decimal, Error> {
    let ok = !value.is_empty()
        && value.chars().count() <= MAX_AMOUNT_CHARS
        && value.chars().all(|c| c.is_ascii_digit() || c == '.')
        && value.chars().filter(|&c| c == '.').count() <= 1
        && value.chars().any(|c| c.is_ascii_digit());
    if !ok {
        return Err(invalid(
            id,
            name,
            format!("must be up to {MAX_AMOUNT_CHARS} digits with at most one '.', is {value:?}"),
        ));
    }
    Decimal::from_str(value).map_err(|e| invalid(id, name, format!("{value:?}: {e}")))
}

/// Decodes and verifies an EMVCo MPM code.
///
/// Whitespace around the code is ignored; anything over [`MAX_PAYLOAD_CHARS`] characters is refused
/// before it is parsed.
pub fn decode(payload: &str) -> Result<MerchantCode, Error> {
    let payload = payload.trim();
    if payload.is_empty() {
        return Err(Error::Empty);
    }
    if payload.chars().nth(MAX_PAYLOAD_CHARS).is_some() {
        return Err(Error::TooLong {
            max: MAX_PAYLOAD_CHARS,
        });
    }
    let chars: Vec<char> = payload.chars().collect();
    let raws = parse_fields(&chars, "the code", "", true)?;

    // Integrity first: nothing is interpreted before the CRC matches.
    let crc_field = raws
        .iter()
        .find(|r| r.tag == "63")
        .ok_or(Error::MissingCrc)?;
    if !crc_field.value.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::CrcNotHex {
            found: crc_field.value.clone(),
        });
    }
    let stated = crc_field.value.to_ascii_uppercase();
    let covered: String = chars[..crc_field.value_at].iter().collect();
    let computed = format!("{:04X}", crc16(covered.as_bytes()));
    if stated != computed {
        return Err(Error::CrcMismatch { stated, computed });
    }

    let mut code = MerchantCode {
        payload_format: String::new(),
        point_of_initiation: None,
        merchant_accounts: Vec::new(),
        mcc: None,
        currency: None,
        amount: None,
        tip: None,
        country: None,
        merchant_name: None,
        merchant_city: None,
        postal_code: None,
        additional_data: None,
        language: None,
        unreserved_templates: Vec::new(),
        other_fields: Vec::new(),
        crc: stated,
        tags: raws.iter().map(tag_of).collect(),
    };
    let mut fee_fixed = None;
    let mut fee_percent = None;
    let mut tip_indicator = None;
    for Raw { tag, value, .. } in raws {
        let id = tag.as_str();
        let n = parse_two_digits(id).unwrap_or(100);
        match n {
            0 => {
                // EMVCo says "01"; DuitNow's v1.5 spec uses "02".
                if value != "01" && value != "02" {
                    return Err(invalid(
                        id,
                        "payload format indicator",
                        format!("must be \"01\", is {value:?}"),
                    ));
                }
                code.payload_format = value;
            }
            1 => {
                code.point_of_initiation = Some(match value.as_str() {
                    "11" => PointOfInitiation::Static,
                    "12" => PointOfInitiation::Dynamic,
                    _ => {
                        return Err(invalid(
                            id,
                            "point of initiation",
                            format!("must be \"11\" (static) or \"12\" (dynamic), is {value:?}"),
                        ))
                    }
                });
            }
            2..=25 => code.merchant_accounts.push(MerchantAccount {
                tag,
                guid: None,
                value: Some(value),
                fields: Vec::new(),
            }),
            26..=51 => {
                let fields = sub_fields(id, &value)?;
                code.merchant_accounts.push(MerchantAccount {
                    guid: find(&fields, "00").map(str::to_owned),
                    tag,
                    value: None,
                    fields,
                });
            }
            52 => code.mcc = Some(digits(id, "merchant category code", &value, 4)?),
            53 => {
                let numeric = digits(id, "transaction currency", &value, 3)?;
                code.currency = Some(Currency {
                    alpha: currency_alpha(&numeric),
                    numeric,
                });
            }
            54 => code.amount = Some(amount(id, "transaction amount", &value)?),
            55 => tip_indicator = Some(value),
            56 => fee_fixed = Some(amount(id, "convenience fee fixed", &value)?),
            57 => fee_percent = Some(percentage(id, &value)?),
            58 => {
                if value.chars().count() != 2 || !value.chars().all(|c| c.is_ascii_alphabetic()) {
                    return Err(invalid(
                        id,
                        "country code",
                        format!("must be 2 letters, is {value:?}"),
                    ));
                }
                code.country = Some(value);
            }
            59 => code.merchant_name = Some(value),
            60 => code.merchant_city = Some(value),
            61 => code.postal_code = Some(value),
            62 => code.additional_data = Some(additional_data(&value)?),
            63 => {}
            64 => code.language = Some(language(&value)?),
            80..=99 => {
                let fields = sub_fields(id, &value)?;
                code.unreserved_templates.push(Template {
                    guid: find(&fields, "00").map(str::to_owned),
                    tag,
                    fields,
                });
            }
            _ => code.other_fields.push(Field { tag, value }),
        }
    }
    code.tip = match tip_indicator.as_deref() {
        None => None,
        Some("01") => Some(Tip::Prompt),
        Some("02") => Some(Tip::FixedFee {
            amount: fee_fixed.ok_or_else(|| {
                invalid(
                    "56",
                    "convenience fee fixed",
                    "is missing but field 55 is 02",
                )
            })?,
        }),
        Some("03") => Some(Tip::PercentageFee {
            percent: fee_percent.ok_or_else(|| {
                invalid(
                    "57",
                    "convenience fee percentage",
                    "is missing but field 55 is 03",
                )
            })?,
        }),
        Some(other) => {
            return Err(invalid(
                "55",
                "tip or convenience indicator",
                format!("must be 01, 02 or 03, is {other:?}"),
            ))
        }
    };
    // 56 and 57 belong to their indicator only: a fee the payer would not be charged (or charged
    // twice over) must not pass unnoticed.
    let indicator = tip_indicator.as_deref();
    if fee_fixed.is_some() && indicator != Some("02") {
        return Err(invalid(
            "56",
            "convenience fee fixed",
            format!("is present but field 55 is {}, not 02", shown(indicator)),
        ));
    }
    if fee_percent.is_some() && indicator != Some("03") {
        return Err(invalid(
            "57",
            "convenience fee percentage",
            format!("is present but field 55 is {}, not 03", shown(indicator)),
        ));
    }
    check_paychain(&code)?;
    Ok(code)
}

fn shown(value: Option<&str>) -> String {
    value.map_or_else(|| "missing".to_owned(), |v| format!("{v:?}"))
}

/// A convenience fee percentage (57): an amount-format number from 0.01 to 99.99 with at most two
/// decimals, in at most [`MAX_PERCENT_CHARS`] characters (`"3"`, `"3.5"`, `"03.00"`).
fn percentage(id: &str, value: &str) -> Result<Decimal, Error> {
    const NAME: &str = "convenience fee percentage";
    if value.chars().count() > MAX_PERCENT_CHARS {
        return Err(invalid(
            id,
            NAME,
            format!("must be at most {MAX_PERCENT_CHARS} characters, is {value:?}"),
        ));
    }
    let percent = amount(id, NAME, value)?;
    if percent.normalize().scale() > 2 {
        return Err(invalid(
            id,
            NAME,
            format!("must have at most 2 decimals, is {value:?}"),
        ));
    }
    if percent < Decimal::new(1, 2) || percent > Decimal::new(9999, 2) {
        return Err(invalid(
            id,
            NAME,
            format!("must be from 0.01 to 99.99, is {value:?}"),
        ));
    }
    Ok(percent)
}

/// Whether field `id` (top level) is a template whose value holds sub-fields.
fn is_template(id: usize) -> bool {
    matches!(id, 26..=51 | 62 | 64 | 80..=99)
}

/// EMVCo's name of top-level field `id`.
fn field_name(id: usize) -> Option<&'static str> {
    Some(match id {
        0 => "payload format indicator",
        1 => "point of initiation method",
        2..=51 => "merchant account information",
        52 => "merchant category code",
        53 => "transaction currency",
        54 => "transaction amount",
        55 => "tip or convenience indicator",
        56 => "value of convenience fee fixed",
        57 => "value of convenience fee percentage",
        58 => "country code",
        59 => "merchant name",
        60 => "merchant city",
        61 => "postal code",
        62 => "additional data field template",
        63 => "CRC",
        64 => "merchant information language template",
        65..=79 => "RFU for EMVCo",
        80..=99 => "unreserved template",
        _ => return None,
    })
}

/// EMVCo's name of sub-field `sub` of template `parent`.
fn sub_field_name(parent: usize, sub: usize) -> Option<&'static str> {
    Some(match (parent, sub) {
        (26..=51 | 80..=99, 0) => "globally unique identifier",
        (62, 1) => "bill number",
        (62, 2) => "mobile number",
        (62, 3) => "store label",
        (62, 4) => "loyalty number",
        (62, 5) => "reference label",
        (62, 6) => "customer label",
        (62, 7) => "terminal label",
        (62, 8) => "purpose of transaction",
        (62, 9) => "additional consumer data request",
        (62, 10..=49) => "RFU for EMVCo",
        (62, 50..=99) => "payment system specific template",
        (64, 0) => "language preference",
        (64, 1) => "merchant name, alternate language",
        (64, 2) => "merchant city, alternate language",
        _ => return None,
    })
}

/// The [`Tag`] of a top-level field. Templates were parsed successfully by [`decode`] before this
/// is called; a sub-field template of 62 (50-99) that does not parse is kept without sub-fields.
fn tag_of(raw: &Raw) -> Tag {
    let n = parse_two_digits(&raw.tag).unwrap_or(100);
    let subs =
        |parent: &str, value: &str| -> Vec<Field> { sub_fields(parent, value).unwrap_or_default() };
    let tags = if is_template(n) {
        subs(&raw.tag, &raw.value)
            .into_iter()
            .map(|f| {
                let s = parse_two_digits(&f.tag).unwrap_or(100);
                let nested = if n == 62 && (50..=99).contains(&s) {
                    let id = format!("62-{}", f.tag);
                    subs(&id, &f.value)
                        .into_iter()
                        .map(|g| Tag {
                            name: (g.tag == "00").then_some("globally unique identifier"),
                            id: g.tag,
                            value: g.value,
                            tags: Vec::new(),
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                Tag {
                    name: sub_field_name(n, s),
                    id: f.tag,
                    value: f.value,
                    tags: nested,
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    Tag {
        id: raw.tag.clone(),
        name: field_name(n),
        value: raw.value.clone(),
        tags,
    }
}

fn additional_data(value: &str) -> Result<AdditionalData, Error> {
    let mut fields = sub_fields("62", value)?;
    Ok(AdditionalData {
        bill_number: take(&mut fields, "01"),
        mobile_number: take(&mut fields, "02"),
        store_label: take(&mut fields, "03"),
        loyalty_number: take(&mut fields, "04"),
        reference_label: take(&mut fields, "05"),
        customer_label: take(&mut fields, "06"),
        terminal_label: take(&mut fields, "07"),
        purpose_of_transaction: take(&mut fields, "08"),
        additional_consumer_data_request: take(&mut fields, "09"),
        other_fields: fields,
    })
}

fn language(value: &str) -> Result<LanguageTemplate, Error> {
    let mut fields = sub_fields("64", value)?;
    Ok(LanguageTemplate {
        language_preference: take(&mut fields, "00"),
        merchant_name: take(&mut fields, "01"),
        merchant_city: take(&mut fields, "02"),
        other_fields: fields,
    })
}

/// A code claiming to be paychain's must name a well-formed merchant, and a dynamic one must say
/// what to pay for which order.
fn check_paychain(code: &MerchantCode) -> Result<(), Error> {
    let Some(account) = code.paychain_account() else {
        return Ok(());
    };
    let id = format!("{}-01", account.tag);
    let merchant = account
        .field("01")
        .ok_or_else(|| invalid(&id, "paychain merchant id", "is missing"))?;
    MerchantId::from_str(merchant)
        .map_err(|e| invalid(&id, "paychain merchant id", e.to_string()))?;
    if code.point_of_initiation == Some(PointOfInitiation::Dynamic) {
        if code.amount.is_none() {
            return Err(invalid(
                "54",
                "transaction amount",
                "is missing from a dynamic paychain code",
            ));
        }
        if let Some(id) = code.collection_ref() {
            if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(
                    "62-50-01",
                    "collection id",
                    format!("must be 64 hex characters, is {id:?}"),
                ));
            }
        } else if code.order_ref().is_none() {
            return Err(invalid(
                "62-05",
                "order reference",
                "is missing from a dynamic paychain code",
            ));
        }
    }
    Ok(())
}

/// What a paychain code says, validated; build with [`MerchantCodeSpec::new`] (a static code) and
/// [`MerchantCodeSpec::with_payment`] (a dynamic code for one order), then [`encode`] it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantCodeSpec {
    merchant_id: MerchantId,
    name: String,
    city: String,
    mcc: String,
    currency: String,
    country: String,
    payment: Option<(Decimal, String)>,
    collection: Option<String>,
    tip: Option<Tip>,
}

fn check_text(id: &str, name: &'static str, value: &str, max: usize) -> Result<(), Error> {
    let n = value.chars().count();
    if n == 0 || n > max {
        return Err(invalid(
            id,
            name,
            format!("must be 1 to {max} characters, has {n}"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(id, name, "must not contain control characters"));
    }
    if value.trim() != value {
        return Err(invalid(id, name, "must not start or end with whitespace"));
    }
    Ok(())
}

impl MerchantCodeSpec {
    /// A static code for `merchant_id`. `currency` is a numeric ISO 4217 code or common letters
    /// (`156` or `CNY`); `country` is ISO 3166-1 alpha-2.
    pub fn new(
        merchant_id: MerchantId,
        name: &str,
        city: &str,
        mcc: &str,
        currency: &str,
        country: &str,
    ) -> Result<MerchantCodeSpec, Error> {
        check_text("59", "merchant name", name, MAX_NAME_CHARS)?;
        check_text("60", "merchant city", city, MAX_CITY_CHARS)?;
        let mcc = digits("52", "merchant category code", mcc, 4)?;
        let currency = match currency_numeric(currency) {
            Some(n) => n.to_owned(),
            None => digits("53", "transaction currency", currency, 3)?,
        };
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(invalid(
                "58",
                "country code",
                format!("must be 2 uppercase letters, is {country:?}"),
            ));
        }
        Ok(MerchantCodeSpec {
            merchant_id,
            name: name.to_owned(),
            city: city.to_owned(),
            mcc,
            currency,
            country: country.to_owned(),
            payment: None,
            collection: None,
            tip: None,
        })
    }

    /// Makes this a dynamic code asking `amount` for order `order_ref`. The amount must be positive,
    /// have no more decimals than the currency allows and fit in 13 characters.
    pub fn with_payment(mut self, amount: Decimal, order_ref: &str) -> Result<Self, Error> {
        let minor = minor_units(&self.currency);
        if amount <= Decimal::ZERO {
            return Err(invalid("54", "transaction amount", "must be positive"));
        }
        if amount.normalize().scale() > minor {
            return Err(invalid(
                "54",
                "transaction amount",
                format!(
                    "{amount} has more than {minor} decimals for currency {}",
                    self.currency
                ),
            ));
        }
        let amount = amount.round_dp(minor);
        if format_amount(amount, minor).len() > MAX_AMOUNT_CHARS {
            return Err(invalid(
                "54",
                "transaction amount",
                format!("{amount} is longer than {MAX_AMOUNT_CHARS} characters"),
            ));
        }
        check_text("62-05", "order reference", order_ref, MAX_ORDER_REF_CHARS)?;
        self.payment = Some((amount, order_ref.to_owned()));
        Ok(self)
    }

    /// Makes this a dynamic split-bill collection code: `total` in 54, `collection_id` (64 hex
    /// characters) in 62-50-01; no order reference.
    pub fn with_collection(self, total: Decimal, collection_id: &str) -> Result<Self, Error> {
        if collection_id.len() != 64 || !collection_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid(
                "62-50-01",
                "collection id",
                "must be 64 hex characters",
            ));
        }
        let mut spec = self.with_payment(total, "collection")?;
        if let Some((amount, _)) = spec.payment.take() {
            spec.payment = Some((amount, String::new()));
        }
        spec.collection = Some(collection_id.to_owned());
        Ok(spec)
    }

    /// Adds a tip prompt or a convenience fee (fields 55-57). A fixed fee must be positive, have no
    /// more decimals than the currency allows and fit in 13 characters; a percentage must be from
    /// 0.01 to 99.99 with at most 2 decimals.
    pub fn with_tip(mut self, tip: Tip) -> Result<Self, Error> {
        let tip = match tip {
            Tip::Prompt => Tip::Prompt,
            Tip::FixedFee { amount } => {
                const NAME: &str = "convenience fee fixed";
                let minor = minor_units(&self.currency);
                if amount <= Decimal::ZERO {
                    return Err(invalid("56", NAME, "must be positive"));
                }
                if amount.normalize().scale() > minor {
                    return Err(invalid(
                        "56",
                        NAME,
                        format!(
                            "{amount} has more than {minor} decimals for currency {}",
                            self.currency
                        ),
                    ));
                }
                let amount = amount.round_dp(minor);
                if format_amount(amount, minor).len() > MAX_AMOUNT_CHARS {
                    return Err(invalid(
                        "56",
                        NAME,
                        format!("{amount} is longer than {MAX_AMOUNT_CHARS} characters"),
                    ));
                }
                Tip::FixedFee { amount }
            }
            Tip::PercentageFee { percent } => {
                if percent.normalize().scale() > 2 {
                    return Err(invalid(
                        "57",
                        "convenience fee percentage",
                        format!("{percent} has more than 2 decimals"),
                    ));
                }
                let percent = percent.round_dp(2);
                percentage("57", &format_amount(percent, 2))?;
                Tip::PercentageFee { percent }
            }
        };
        self.tip = Some(tip);
        Ok(self)
    }

    pub fn merchant_id(&self) -> &MerchantId {
        &self.merchant_id
    }

    /// The tip prompt or convenience fee, if any.
    pub fn tip(&self) -> Option<&Tip> {
        self.tip.as_ref()
    }

    pub fn amount(&self) -> Option<Decimal> {
        self.payment.as_ref().map(|(a, _)| *a)
    }

    pub fn order_ref(&self) -> Option<&str> {
        self.payment
            .as_ref()
            .map(|(_, r)| r.as_str())
            .filter(|r| !r.is_empty())
    }
}

fn format_amount(amount: Decimal, minor: u32) -> String {
    format!("{amount:.prec$}", prec = minor as usize)
}

fn push_field(out: &mut String, tag: &str, value: &str) {
    // Every value is validated to at most 99 characters before it gets here.
    let _ = write!(out, "{tag}{:02}{value}", value.chars().count());
}

/// Encodes a paychain code, CRC included.
pub fn encode(spec: &MerchantCodeSpec) -> String {
    let mut out = String::new();
    push_field(&mut out, "00", "01");
    let initiation = if spec.payment.is_some() { "12" } else { "11" };
    push_field(&mut out, "01", initiation);
    let mut account = String::new();
    push_field(&mut account, "00", PAYCHAIN_GUID);
    push_field(&mut account, "01", spec.merchant_id.as_str());
    push_field(&mut out, PAYCHAIN_TEMPLATE, &account);
    push_field(&mut out, "52", &spec.mcc);
    push_field(&mut out, "53", &spec.currency);
    if let Some((amount, _)) = &spec.payment {
        push_field(
            &mut out,
            "54",
            &format_amount(*amount, minor_units(&spec.currency)),
        );
    }
    if let Some(tip) = &spec.tip {
        push_field(&mut out, "55", tip.indicator());
        match tip {
            Tip::Prompt => {}
            Tip::FixedFee { amount } => push_field(
                &mut out,
                "56",
                &format_amount(*amount, minor_units(&spec.currency)),
            ),
            Tip::PercentageFee { percent } => {
                push_field(&mut out, "57", &format_amount(*percent, 2))
            }
        }
    }
    push_field(&mut out, "58", &spec.country);
    push_field(&mut out, "59", &spec.name);
    push_field(&mut out, "60", &spec.city);
    if let Some(id) = &spec.collection {
        let mut template = String::new();
        push_field(&mut template, "00", PAYCHAIN_GUID);
        push_field(&mut template, "01", id);
        let mut data = String::new();
        push_field(&mut data, COLLECTION_SUBFIELD, &template);
        push_field(&mut out, "62", &data);
    } else if let Some((_, order_ref)) = &spec.payment {
        let mut data = String::new();
        push_field(&mut data, "05", order_ref);
        push_field(&mut out, "62", &data);
    }
    out.push_str("6304");
    let crc = crc16(out.as_bytes());
    let _ = write!(out, "{crc:04X}");
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn collection_code_round_trips() {
        let id = "ab".repeat(32);
        let m = MerchantId::derive(&paychain_contracts::crypto::PublicKey([7; 32]));
        let spec = MerchantCodeSpec::new(m.clone(), "Noodle Bar", "Shanghai", "5812", "CNY", "CN")
            .unwrap()
            .with_collection(Decimal::new(10000, 2), &id)
            .unwrap();
        let payload = encode(&spec);
        let code = decode(&payload).unwrap();
        assert_eq!(code.collection_ref().as_deref(), Some(id.as_str()));
        assert_eq!(code.order_ref(), None);
        assert_eq!(code.amount, Some(Decimal::new(10000, 2)));
        assert_eq!(code.point_of_initiation, Some(PointOfInitiation::Dynamic));
        assert_eq!(code.paychain_merchant().unwrap(), m.as_str());
        assert!(spec.clone().with_collection(Decimal::ONE, "xyz").is_err());
    }

    #[test]
    fn crc_check_value() {
        // The catalogue check value of CRC-16/CCITT-FALSE.
        assert_eq!(crc16(b"123456789"), 0x29B1);
    }

    #[test]
    fn two_digits_only() {
        assert_eq!(parse_two_digits("07"), Some(7));
        assert_eq!(parse_two_digits("7"), None);
        assert_eq!(parse_two_digits("+7"), None);
        assert_eq!(parse_two_digits("٠٧"), None);
    }
}
