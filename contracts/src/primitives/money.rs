//! Money: ISO 4217 currencies and validated decimal amounts.
//!
//! Values are [`rust_decimal::Decimal`]s. Their wire form is pinned here (DESIGN §8): the canonical
//! decimal string (`"12.50"`) in JSON **and** in the canonical borsh encoding ([`crate::primitives::codec`]: a
//! borsh string, u32 length + ASCII), written by [`decimal_str`]. The string was chosen over a
//! `(mantissa, scale)` pair because it is what JSON already carries and what another language's
//! decimal type prints, and because it keeps the scale (`"12.50"` ≠ `"12.5"`) visibly. A
//! non-canonical form (`"012.5"`, `"1_2.5"`, `"+1"`, `"1e3"`) is refused on decode so that one value
//! has exactly one encoding (a re-encoded transaction must give the bytes its sender signed).
//!
//! A [`Currency`] is a borsh string too (three uppercase ASCII letters, `03 00 00 00` + the code).
//!
//! An [`Amount`] that moves money is positive, carries no more decimals than its currency's minor
//! unit, and is at most [`MAX_AMOUNT`] ([`Amount::validate`]). Arithmetic is checked only.

use std::fmt;
use std::str::FromStr;

use borsh::{BorshDeserialize, BorshSerialize};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Largest amount a single movement may carry: 10^12 major units.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(3_567_587_328, 232, 0, false, 0);

/// Longest decimal string accepted on decode.
pub const MAX_DECIMAL_CHARS: usize = 40;

/// The supported currencies: ISO 4217 alphabetic code and minor-unit digits.
pub const SUPPORTED_CURRENCIES: &[(&str, u32)] = &[
    ("BHD", 3),
    ("BRL", 2),
    ("CNY", 2),
    ("EUR", 2),
    ("IDR", 2),
    ("INR", 2),
    ("JPY", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("MYR", 2),
    ("SGD", 2),
    ("THB", 2),
    ("USD", 2),
    ("VND", 0),
];

/// Refusals of amounts and currencies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not three uppercase ASCII letters, or not in [`SUPPORTED_CURRENCIES`].
    #[error("unsupported currency {0:?}")]
    UnsupportedCurrency(String),
    /// Zero or negative.
    #[error("amount must be positive, got {0}")]
    NotPositive(String),
    /// More decimals than the currency allows.
    #[error("amount {value} {currency} has {scale} decimals, {currency} allows {allowed}")]
    TooManyDecimals {
        /// The value as given.
        value: String,
        /// Currency.
        currency: Currency,
        /// Decimals given.
        scale: u32,
        /// Decimals allowed.
        allowed: u32,
    },
    /// Above [`MAX_AMOUNT`].
    #[error("amount {value} {currency} exceeds the maximum of {MAX_AMOUNT}")]
    TooLarge {
        /// The value as given.
        value: String,
        /// Currency.
        currency: Currency,
    },
    /// Two amounts of different currencies were combined.
    #[error("currency mismatch: expected {expected}, got {got}")]
    CurrencyMismatch {
        /// The account's (or payment's) currency.
        expected: Currency,
        /// The amount's.
        got: Currency,
    },
    /// Checked arithmetic overflowed.
    #[error("arithmetic overflow on {0}")]
    Overflow(Currency),
    /// A decimal string is not a canonical decimal.
    #[error("invalid decimal {0:?}")]
    InvalidDecimal(String),
}

impl Error {
    /// Stable receipt code (300..=309).
    pub fn code(&self) -> u32 {
        match self {
            Error::UnsupportedCurrency(_) => 300,
            Error::NotPositive(_) => 301,
            Error::TooManyDecimals { .. } => 302,
            Error::TooLarge { .. } => 303,
            Error::CurrencyMismatch { .. } => 304,
            Error::Overflow(_) => 305,
            Error::InvalidDecimal(_) => 306,
        }
    }
}

/// An ISO 4217 alphabetic currency code: three uppercase ASCII letters. Whether it is supported is
/// checked by [`Currency::minor_units`] (and [`Amount::validate`]), so an unsupported code is a
/// readable receipt error, not an undecodable transaction.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// Chinese yuan (2 decimals).
    pub const CNY: Currency = Currency(*b"CNY");
    /// US dollar (2 decimals).
    pub const USD: Currency = Currency(*b"USD");
    /// Euro (2 decimals).
    pub const EUR: Currency = Currency(*b"EUR");
    /// Singapore dollar (2 decimals).
    pub const SGD: Currency = Currency(*b"SGD");
    /// Japanese yen (0 decimals).
    pub const JPY: Currency = Currency(*b"JPY");
    /// South Korean won (0 decimals).
    pub const KRW: Currency = Currency(*b"KRW");
    /// Bahraini dinar (3 decimals).
    pub const BHD: Currency = Currency(*b"BHD");
    /// Kuwaiti dinar (3 decimals).
    pub const KWD: Currency = Currency(*b"KWD");

    /// Parses three uppercase ASCII letters (supported or not).
    pub fn new(code: &str) -> Result<Currency, Error> {
        match code.as_bytes() {
            [a, b, c] if [a, b, c].iter().all(|x| x.is_ascii_uppercase()) => {
                Ok(Currency([*a, *b, *c]))
            }
            _ => Err(Error::UnsupportedCurrency(code.to_owned())),
        }
    }

    /// The code, e.g. `"CNY"`.
    pub fn code(&self) -> &str {
        // Constructed only from ASCII uppercase letters.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// Minor-unit digits of a supported currency.
    pub fn minor_units(&self) -> Result<u32, Error> {
        SUPPORTED_CURRENCIES
            .iter()
            .find(|(c, _)| c.as_bytes() == self.0)
            .map(|(_, d)| *d)
            .ok_or_else(|| Error::UnsupportedCurrency(self.code().to_owned()))
    }

    /// All supported currencies, sorted by code.
    pub fn supported() -> impl Iterator<Item = Currency> {
        SUPPORTED_CURRENCIES
            .iter()
            .filter_map(|(c, _)| Currency::new(c).ok())
    }

    /// `value` rendered with exactly the currency's minor digits (`12.5` CNY → `"12.50"`), for
    /// messages and views. Values with more decimals (never stored) are shown as they are.
    pub fn format(&self, value: Decimal) -> String {
        let mut v = value;
        if let Ok(d) = self.minor_units() {
            if v.scale() < d {
                v.rescale(d);
            }
        }
        format!("{v} {self}")
    }
}

impl TryFrom<String> for Currency {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        Currency::new(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.code().to_owned()
    }
}

impl FromStr for Currency {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Currency::new(s)
    }
}

/// Borsh: a string (`03 00 00 00` + three uppercase ASCII letters), checked like the serde path.
impl BorshSerialize for Currency {
    fn serialize<W: std::io::Write>(&self, w: &mut W) -> std::io::Result<()> {
        BorshSerialize::serialize(self.code(), w)
    }
}

impl BorshDeserialize for Currency {
    fn deserialize_reader<R: std::io::Read>(r: &mut R) -> std::io::Result<Self> {
        let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
        let len = u32::deserialize_reader(r)?;
        if len != 3 {
            return Err(invalid(format!("currency code of {len} bytes")));
        }
        let mut code = [0u8; 3];
        r.read_exact(&mut code)?;
        let s = std::str::from_utf8(&code).map_err(|e| invalid(e.to_string()))?;
        Currency::new(s).map_err(|e| invalid(e.to_string()))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.code())
    }
}

/// Parses a canonical decimal string: what `Decimal::to_string` gives back unchanged, at most
/// [`MAX_DECIMAL_CHARS`] characters.
pub fn parse_decimal(s: &str) -> Result<Decimal, Error> {
    if s.len() > MAX_DECIMAL_CHARS {
        return Err(Error::InvalidDecimal(
            s.chars().take(MAX_DECIMAL_CHARS).collect(),
        ));
    }
    match Decimal::from_str_exact(s) {
        Ok(d) if d.to_string() == s => Ok(d),
        _ => Err(Error::InvalidDecimal(s.to_owned())),
    }
}

/// Serde and borsh helpers for `Decimal` fields: the canonical decimal string in every format (JSON
/// and borsh). Use as `#[serde(with = "paychain_contracts::money::decimal_str")]` and
/// `#[borsh(serialize_with = "paychain_contracts::money::decimal_str::borsh_serialize",
/// deserialize_with = "paychain_contracts::money::decimal_str::borsh_deserialize")]`.
pub mod decimal_str {
    use rust_decimal::Decimal;
    use serde::de::{self, Deserializer, Visitor};
    use serde::Serializer;
    use std::fmt;

    /// Serializes `d` as its canonical string.
    pub fn serialize<S: Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&d.to_string())
    }

    struct DecVisitor;

    impl Visitor<'_> for DecVisitor {
        type Value = Decimal;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a canonical decimal string such as \"12.50\"")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
            super::parse_decimal(v).map_err(E::custom)
        }
    }

    /// Deserializes a canonical decimal string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        d.deserialize_str(DecVisitor)
    }

    /// Borsh: writes `d` as a borsh string (u32 LE length, then the canonical decimal in ASCII).
    pub fn borsh_serialize<W: std::io::Write>(d: &Decimal, w: &mut W) -> std::io::Result<()> {
        borsh::BorshSerialize::serialize(&d.to_string(), w)
    }

    /// Borsh: reads a borsh string of at most [`super::MAX_DECIMAL_CHARS`] bytes holding a canonical
    /// decimal ([`super::parse_decimal`]); anything else is an `InvalidData` error.
    pub fn borsh_deserialize<R: std::io::Read>(r: &mut R) -> std::io::Result<Decimal> {
        let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
        let len = <u32 as borsh::BorshDeserialize>::deserialize_reader(r)? as usize;
        if len > super::MAX_DECIMAL_CHARS {
            return Err(invalid(format!("decimal string of {len} bytes")));
        }
        let mut buf = vec![0u8; len];
        r.read_exact(&mut buf)?;
        let s = String::from_utf8(buf).map_err(|e| invalid(e.to_string()))?;
        super::parse_decimal(&s).map_err(|e| invalid(e.to_string()))
    }
}

/// A sum of money. JSON: `{"value": "12.50", "currency": "CNY"}`.
///
/// The type holds any decimal; [`Amount::validate`] is what makes it a movable amount.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    BorshSerialize,
    BorshDeserialize,
)]
pub struct Amount {
    /// The value in major units.
    #[serde(with = "decimal_str")]
    #[borsh(
        serialize_with = "crate::primitives::money::decimal_str::borsh_serialize",
        deserialize_with = "crate::primitives::money::decimal_str::borsh_deserialize"
    )]
    pub value: Decimal,
    /// Currency.
    pub currency: Currency,
}

impl Amount {
    /// A validated amount.
    pub fn new(value: Decimal, currency: Currency) -> Result<Amount, Error> {
        let a = Amount { value, currency };
        a.validate()?;
        Ok(a)
    }

    /// Parses `value` (canonical decimal string) and validates.
    pub fn parse(value: &str, currency: Currency) -> Result<Amount, Error> {
        Amount::new(parse_decimal(value)?, currency)
    }

    /// Checks: supported currency, positive, no more decimals than the currency's minor unit, at
    /// most [`MAX_AMOUNT`].
    pub fn validate(&self) -> Result<(), Error> {
        let allowed = self.currency.minor_units()?;
        if self.value <= Decimal::ZERO {
            return Err(Error::NotPositive(self.value.to_string()));
        }
        // Trailing zeros beyond the minor unit ("1.000" JPY) are still too many decimals: the
        // scale is part of the signed encoding.
        if self.value.scale() > allowed {
            return Err(Error::TooManyDecimals {
                value: self.value.to_string(),
                currency: self.currency,
                scale: self.value.scale(),
                allowed,
            });
        }
        if self.value > MAX_AMOUNT {
            return Err(Error::TooLarge {
                value: self.value.to_string(),
                currency: self.currency,
            });
        }
        Ok(())
    }

    /// Refuses an amount of another currency than `expected`.
    pub fn expect_currency(&self, expected: Currency) -> Result<(), Error> {
        if self.currency == expected {
            Ok(())
        } else {
            Err(Error::CurrencyMismatch {
                expected,
                got: self.currency,
            })
        }
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.currency.format(self.value))
    }
}

/// `a + b`, refusing overflow.
pub fn checked_add(a: Decimal, b: Decimal, currency: Currency) -> Result<Decimal, Error> {
    a.checked_add(b).ok_or(Error::Overflow(currency))
}

/// `a - b`, refusing overflow.
pub fn checked_sub(a: Decimal, b: Decimal, currency: Currency) -> Result<Decimal, Error> {
    a.checked_sub(b).ok_or(Error::Overflow(currency))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::primitives::codec;
    use proptest::prelude::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    #[test]
    fn max_amount_is_ten_to_the_twelve() {
        assert_eq!(MAX_AMOUNT, Decimal::from(1_000_000_000_000u64));
    }

    #[test]
    fn currency_table() {
        assert_eq!(SUPPORTED_CURRENCIES.len(), 14);
        assert_eq!(Currency::CNY.minor_units(), Ok(2));
        assert_eq!(Currency::JPY.minor_units(), Ok(0));
        assert_eq!(Currency::KWD.minor_units(), Ok(3));
        assert_eq!(Currency::new("VND").unwrap().minor_units(), Ok(0));
        assert!(Currency::new("XYZ").unwrap().minor_units().is_err());
        for bad in ["", "cny", "CN", "CNYY", "C1Y", "中国"] {
            assert!(Currency::new(bad).is_err(), "{bad}");
        }
        assert_eq!(Currency::supported().count(), 14);
        assert_eq!(
            serde_json::to_string(&Currency::CNY).unwrap(),
            "\"CNY\"".to_string()
        );
        assert!(serde_json::from_str::<Currency>("\"usd\"").is_err());
    }

    #[test]
    fn amount_validation_table() {
        use Error::*;
        let cases: &[(&str, Currency, Option<u32>)] = &[
            ("12.50", Currency::CNY, None),
            ("0.01", Currency::CNY, None),
            ("1000000000000", Currency::CNY, None),
            ("1000000000000.00", Currency::CNY, None),
            ("1000000000000.01", Currency::CNY, Some(303)),
            ("0", Currency::CNY, Some(301)),
            ("0.00", Currency::CNY, Some(301)),
            ("-1", Currency::CNY, Some(301)),
            ("1.005", Currency::CNY, Some(302)),
            ("1.0", Currency::JPY, Some(302)),
            ("1500", Currency::JPY, None),
            ("1.234", Currency::BHD, None),
            ("1.2345", Currency::KWD, Some(302)),
        ];
        for (v, c, want) in cases {
            let got = Amount::new(dec(v), *c).err().map(|e| e.code());
            assert_eq!(got, *want, "{v} {c}");
        }
        let xyz = Currency::new("XYZ").unwrap();
        assert!(matches!(
            Amount::new(dec("1"), xyz),
            Err(UnsupportedCurrency(_))
        ));
        let e = Amount::new(dec("1.005"), Currency::CNY).unwrap_err();
        assert_eq!(
            e.to_string(),
            "amount 1.005 CNY has 3 decimals, CNY allows 2"
        );
        assert_eq!(
            Amount::parse("12.5", Currency::CNY).unwrap().to_string(),
            "12.50 CNY"
        );
        assert_eq!(Currency::JPY.format(dec("1500")), "1500 JPY");
    }

    #[test]
    fn non_canonical_decimals_refused() {
        for bad in ["012.5", "+1", "1_000", "1e3", " 1", "1.", ".5", "", "abc"] {
            assert!(parse_decimal(bad).is_err(), "{bad:?}");
        }
        assert!(parse_decimal(&"1".repeat(41)).is_err());
        assert_eq!(parse_decimal("12.50").unwrap().scale(), 2);
        let json = r#"{"value":"012.50","currency":"CNY"}"#;
        assert!(serde_json::from_str::<Amount>(json).is_err());
        let json = r#"{"value":12.5,"currency":"CNY"}"#;
        assert!(serde_json::from_str::<Amount>(json).is_err());
        let json = r#"{"value":"12.50","currency":"CNY"}"#;
        let a: Amount = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&a).unwrap(), json);
        // Borsh: the same strings, the same refusals.
        let bytes = codec::encode(&a);
        assert_eq!(bytes, b"\x05\0\0\x0012.50\x03\0\0\0CNY");
        for (value, currency) in [
            ("012.50", "CNY"),
            ("12.5e0", "CNY"),
            ("12.50", "cny"),
            ("12.50", "CNYX"),
        ] {
            let bad = [codec::encode(value), codec::encode(currency)].concat();
            assert!(
                codec::decode::<Amount>(&bad, 100).is_err(),
                "{value} {currency}"
            );
        }
        let mut long = codec::encode(&"1".repeat(41));
        long.extend_from_slice(&codec::encode("CNY"));
        assert!(codec::decode::<Amount>(&long, 100).is_err());
    }

    #[test]
    fn checked_arithmetic() {
        assert_eq!(
            checked_add(Decimal::MAX, Decimal::ONE, Currency::CNY),
            Err(Error::Overflow(Currency::CNY))
        );
        assert_eq!(
            checked_sub(Decimal::MIN, Decimal::ONE, Currency::CNY),
            Err(Error::Overflow(Currency::CNY))
        );
        assert_eq!(
            checked_sub(dec("12.00"), dec("15.00"), Currency::CNY).unwrap(),
            dec("-3.00")
        );
    }

    fn currency() -> impl Strategy<Value = Currency> {
        proptest::sample::select(Currency::supported().collect::<Vec<_>>())
    }

    proptest! {
        #[test]
        fn amount_round_trips_borsh_and_json(m in any::<i64>(), scale in 0u32..=28, c in currency()) {
            let a = Amount { value: Decimal::new(m, scale), currency: c };
            let bytes = codec::encode(&a);
            let back: Amount = codec::decode(&bytes, bytes.len()).unwrap();
            prop_assert_eq!(back, a);
            prop_assert_eq!(back.value.scale(), a.value.scale());
            prop_assert_eq!(codec::encode(&back), bytes);
            let json = serde_json::to_string(&a).unwrap();
            let back: Amount = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, a);
            prop_assert_eq!(back.value.scale(), a.value.scale());
        }

        #[test]
        fn decimal_garbage_never_panics(s in ".{0,50}", bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_decimal(&s);
            let _ = codec::decode::<Amount>(&bytes, 64);
        }
    }
}
