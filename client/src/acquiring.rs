//! The acquiring record: what a platform configured for a merchant, sealed to the enclave.
//!
//! The chain never reads it (it stores ciphertext); the platform's client validates it before sealing
//! ([`AcquiringInfo::parse`]) and the payer's client after a lookup opens it, then routes the payment
//! by it ([`AcquiringInfo::check_usable`]). The plaintext is one JSON object, so that platforms'
//! back-ends in any language can write it:
//!
//! ```json
//! {
//!   "schema": "paychain/acquiring-record/v1",
//!   "acquirer_institution_id": "48020000",
//!   "acquirer_merchant_id": "P0-000123",
//!   "terminal_id": "T0000001",
//!   "settlement_account": "CN12-3456-7890",
//!   "currencies": ["CNY"],
//!   "mcc": "5812",
//!   "fees": { "rate_bps": 60, "fixed_minor_units": 0 },
//!   "valid_from": 1767225600,
//!   "valid_until": 1798761600
//! }
//! ```
//!
//! | field | rule |
//! |---|---|
//! | `schema` | exactly [`SCHEMA`]; a later version gets a new name |
//! | `acquirer_institution_id` | 4 to 11 ASCII digits (ISO 8583 field 32, the acquiring institution) |
//! | `acquirer_merchant_id` | 1 to 15 ASCII letters, digits or `-` (ISO 8583 field 42, card acceptor id) |
//! | `terminal_id` | 1 to 8 ASCII letters or digits (ISO 8583 field 41) |
//! | `settlement_account` | 1 to 34 ASCII letters, digits or `-` (a reference, IBAN length at most) |
//! | `currencies` | 1 to 16 distinct ISO 4217 codes that paychain supports |
//! | `mcc` | 4 ASCII digits |
//! | `fees` | optional: `rate_bps` ≤ 10 000 (basis points), `fixed_minor_units` ≤ 10⁹ |
//! | `valid_from`, `valid_until` | Unix seconds; `valid_until` optional and after `valid_from` |
//!
//! Unknown fields are refused, so a typo is an error rather than a silently ignored setting.

use paychain_contracts::money::Currency;
use serde::{Deserialize, Serialize};

/// The schema name of this version.
pub const SCHEMA: &str = "paychain/acquiring-record/v1";
/// Largest record text accepted (the enclave's plaintext limit is larger).
pub const MAX_RECORD_TEXT: usize = 4 * 1024;
/// Most currencies one record accepts.
pub const MAX_CURRENCIES: usize = 16;

/// Why a record is not a valid acquiring record, or not usable for a payment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Larger than [`MAX_RECORD_TEXT`].
    #[error("acquiring record is {0} bytes, limit is {MAX_RECORD_TEXT}")]
    TooLarge(usize),
    /// Not JSON of the schema's shape (the message names the field or position).
    #[error("acquiring record is not valid {SCHEMA} JSON: {0}")]
    Json(String),
    /// A field breaks its rule.
    #[error("acquiring record field {field}: {reason}")]
    Field {
        /// The field.
        field: &'static str,
        /// The rule it breaks.
        reason: String,
    },
    /// `valid_until` has passed.
    #[error("the acquiring record expired at {valid_until} (Unix seconds; now {now}): your platform must renew it")]
    Expired {
        /// End of validity.
        valid_until: u64,
        /// The payer's clock.
        now: u64,
    },
    /// `valid_from` is still ahead.
    #[error("the acquiring record is valid from {valid_from} (Unix seconds; now {now})")]
    NotYetValid {
        /// Start of validity.
        valid_from: u64,
        /// The payer's clock.
        now: u64,
    },
    /// The payment's currency is not among `currencies`.
    #[error("currency {currency} is not accepted by this acquiring setup (accepted: {accepted})")]
    CurrencyNotAccepted {
        /// The payment's currency.
        currency: Currency,
        /// The record's currencies.
        accepted: String,
    },
}

/// Optional fee terms of the acquirer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeTerms {
    /// Merchant discount rate, in basis points (1/100 of a percent), at most 10 000.
    pub rate_bps: u32,
    /// Fixed fee per payment, in the payment currency's minor units.
    #[serde(default)]
    pub fixed_minor_units: u64,
}

/// An acquiring record, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcquiringInfo {
    /// [`SCHEMA`].
    pub schema: String,
    /// The acquiring institution (ISO 8583 field 32).
    pub acquirer_institution_id: String,
    /// The merchant's id at the acquirer (ISO 8583 field 42).
    pub acquirer_merchant_id: String,
    /// The terminal id (ISO 8583 field 41).
    pub terminal_id: String,
    /// Where the acquirer settles the merchant's funds (a reference, not a secret).
    pub settlement_account: String,
    /// Currencies accepted.
    pub currencies: Vec<Currency>,
    /// Merchant category code.
    pub mcc: String,
    /// Fee terms, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fees: Option<FeeTerms>,
    /// Start of validity (Unix seconds).
    pub valid_from: u64,
    /// End of validity (Unix seconds), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<u64>,
}

fn field(field: &'static str, reason: impl Into<String>) -> Error {
    Error::Field {
        field,
        reason: reason.into(),
    }
}

fn check_chars(
    name: &'static str,
    value: &str,
    min: usize,
    max: usize,
    allowed: impl Fn(u8) -> bool,
    what: &str,
) -> Result<(), Error> {
    if value.len() < min || value.len() > max || !value.bytes().all(allowed) {
        return Err(field(name, format!("must be {min} to {max} {what}")));
    }
    Ok(())
}

impl AcquiringInfo {
    /// Parses and validates a record's text: at most [`MAX_RECORD_TEXT`] bytes, the schema's fields
    /// only, each by its rule.
    pub fn parse(bytes: &[u8]) -> Result<AcquiringInfo, Error> {
        if bytes.len() > MAX_RECORD_TEXT {
            return Err(Error::TooLarge(bytes.len()));
        }
        let info: AcquiringInfo = serde_json::from_slice(bytes).map_err(|e| {
            // serde_json's message names the field and position; it may quote a bad value, so it
            // is cut short.
            let mut msg = e.to_string();
            if msg.len() > 160 {
                let cut = (0..=160)
                    .rev()
                    .find(|i| msg.is_char_boundary(*i))
                    .unwrap_or(0);
                msg.truncate(cut);
                msg.push('…');
            }
            Error::Json(msg)
        })?;
        info.validate()?;
        Ok(info)
    }

    /// Checks every field's rule (see the module docs).
    pub fn validate(&self) -> Result<(), Error> {
        if self.schema != SCHEMA {
            return Err(field("schema", format!("must be {SCHEMA:?}")));
        }
        let digit = |b: u8| b.is_ascii_digit();
        let alnum = |b: u8| b.is_ascii_alphanumeric();
        let alnum_dash = |b: u8| b.is_ascii_alphanumeric() || b == b'-';
        check_chars(
            "acquirer_institution_id",
            &self.acquirer_institution_id,
            4,
            11,
            digit,
            "ASCII digits",
        )?;
        check_chars(
            "acquirer_merchant_id",
            &self.acquirer_merchant_id,
            1,
            15,
            alnum_dash,
            "ASCII letters, digits or '-'",
        )?;
        check_chars(
            "terminal_id",
            &self.terminal_id,
            1,
            8,
            alnum,
            "ASCII letters or digits",
        )?;
        check_chars(
            "settlement_account",
            &self.settlement_account,
            1,
            34,
            alnum_dash,
            "ASCII letters, digits or '-'",
        )?;
        check_chars("mcc", &self.mcc, 4, 4, digit, "ASCII digits")?;
        if self.currencies.is_empty() || self.currencies.len() > MAX_CURRENCIES {
            return Err(field(
                "currencies",
                format!("must list 1 to {MAX_CURRENCIES} currencies"),
            ));
        }
        let mut sorted = self.currencies.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != self.currencies.len() {
            return Err(field("currencies", "must not repeat a currency"));
        }
        if let Some(f) = &self.fees {
            if f.rate_bps > 10_000 {
                return Err(field("fees.rate_bps", "must be at most 10000 (100 %)"));
            }
            if f.fixed_minor_units > 1_000_000_000 {
                return Err(field(
                    "fees.fixed_minor_units",
                    "must be at most 1000000000",
                ));
            }
        }
        if let Some(until) = self.valid_until {
            if until <= self.valid_from {
                return Err(field("valid_until", "must be after valid_from"));
            }
        }
        Ok(())
    }

    /// The record's canonical text (what is sealed).
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serializing a struct of strings, numbers and vectors cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Whether a payment in `currency` at Unix second `now` may be routed by this record.
    pub fn check_usable(&self, now: u64, currency: Currency) -> Result<(), Error> {
        if now < self.valid_from {
            return Err(Error::NotYetValid {
                valid_from: self.valid_from,
                now,
            });
        }
        if let Some(valid_until) = self.valid_until.filter(|u| now >= *u) {
            return Err(Error::Expired { valid_until, now });
        }
        if !self.currencies.contains(&currency) {
            return Err(Error::CurrencyNotAccepted {
                currency,
                accepted: self
                    .currencies
                    .iter()
                    .map(|c| c.code())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> AcquiringInfo {
        AcquiringInfo {
            schema: SCHEMA.into(),
            acquirer_institution_id: "48020000".into(),
            acquirer_merchant_id: "P0-000123".into(),
            terminal_id: "T0000001".into(),
            settlement_account: "CN12-3456-7890".into(),
            currencies: vec![Currency::CNY],
            mcc: "5812".into(),
            fees: Some(FeeTerms {
                rate_bps: 60,
                fixed_minor_units: 0,
            }),
            valid_from: 1_000,
            valid_until: Some(2_000),
        }
    }

    #[test]
    fn round_trip() {
        let info = sample();
        assert_eq!(AcquiringInfo::parse(&info.to_bytes()).unwrap(), info);
    }

    #[test]
    fn each_bad_field_is_named() {
        type Edit = Box<dyn Fn(&mut AcquiringInfo)>;
        let cases: Vec<(&str, Edit)> = vec![
            ("schema", Box::new(|i| i.schema = "v0".into())),
            (
                "acquirer_institution_id",
                Box::new(|i| i.acquirer_institution_id = "12a4".into()),
            ),
            (
                "acquirer_institution_id",
                Box::new(|i| i.acquirer_institution_id = "123".into()),
            ),
            (
                "acquirer_merchant_id",
                Box::new(|i| i.acquirer_merchant_id = "x".repeat(16)),
            ),
            (
                "acquirer_merchant_id",
                Box::new(|i| i.acquirer_merchant_id.clear()),
            ),
            ("terminal_id", Box::new(|i| i.terminal_id = "T 1".into())),
            (
                "settlement_account",
                Box::new(|i| i.settlement_account = "ab/cd".into()),
            ),
            ("mcc", Box::new(|i| i.mcc = "58123".into())),
            ("currencies", Box::new(|i| i.currencies.clear())),
            (
                "currencies",
                Box::new(|i| i.currencies = vec![Currency::CNY, Currency::CNY]),
            ),
            (
                "fees.rate_bps",
                Box::new(|i| {
                    i.fees = Some(FeeTerms {
                        rate_bps: 10_001,
                        fixed_minor_units: 0,
                    })
                }),
            ),
            ("valid_until", Box::new(|i| i.valid_until = Some(1_000))),
        ];
        for (name, edit) in cases {
            let mut info = sample();
            edit(&mut info);
            let e = AcquiringInfo::parse(&info.to_bytes()).unwrap_err();
            assert!(
                matches!(&e, Error::Field { field, .. } if *field == name),
                "{name}: {e}"
            );
        }
    }

    #[test]
    fn unknown_fields_bad_json_and_size_are_refused() {
        let mut v = serde_json::to_value(sample()).unwrap();
        v["acquirer_mid"] = "typo".into();
        let e = AcquiringInfo::parse(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert!(
            e.to_string().contains("unknown field `acquirer_mid`"),
            "{e}"
        );
        let e = AcquiringInfo::parse(b"{\"schema\": ").unwrap_err();
        assert!(matches!(e, Error::Json(_)), "{e}");
        let e = AcquiringInfo::parse(
            br#"{"schema":"paychain/acquiring-record/v1","currencies":["XXX"]}"#,
        )
        .unwrap_err();
        assert!(matches!(e, Error::Json(_)), "{e}");
        let big = vec![b' '; MAX_RECORD_TEXT + 1];
        assert_eq!(
            AcquiringInfo::parse(&big).unwrap_err(),
            Error::TooLarge(MAX_RECORD_TEXT + 1)
        );
    }

    #[test]
    fn usable_checks_validity_and_currency() {
        let info = sample();
        assert!(info.check_usable(1_500, Currency::CNY).is_ok());
        assert!(matches!(
            info.check_usable(999, Currency::CNY),
            Err(Error::NotYetValid { .. })
        ));
        let e = info.check_usable(2_000, Currency::CNY).unwrap_err();
        assert!(e.to_string().contains("expired"), "{e}");
        let e = info.check_usable(1_500, Currency::JPY).unwrap_err();
        assert!(e.to_string().contains("JPY is not accepted"), "{e}");
    }

    proptest! {
        /// Any bytes: a clear error or a record that validates, never a panic; errors stay short.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            match AcquiringInfo::parse(&bytes) {
                Ok(info) => prop_assert!(info.validate().is_ok()),
                Err(e) => prop_assert!(e.to_string().len() < 300),
            }
        }
    }
}
