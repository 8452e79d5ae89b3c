//! [`Param`]: one positional parameter, typed for the caller, kept raw for the node.
//!
//! jsonrpsee's generated servers answer a parameter that does not deserialize with their own
//! error (`-32602 "Invalid params"` plus data). The node answers one line that names the parameter
//! instead (`invalid tx hash: Invalid params`, `invalid tx hash "zz": expected 64 hex
//! characters`, `invalid merchant id "x": ...`). So every parameter of the traits is a `Param<T>`:
//! a client builds it from a `T` (`hash.into()`), the server receives the raw JSON value (it always
//! deserializes) and decodes it itself with [`Param::value`], [`Param::parsed`] or
//! [`Param::text`], whose errors carry the old messages, quoting at most the first
//! [`crate::QUOTE_CHARS`] characters of what was sent.

use std::fmt;
use std::marker::PhantomData;

use jsonrpsee::types::ErrorObjectOwned;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::error::quote;
use crate::ErrorCode;

/// A positional parameter of type `T` (serialized as `T` is; see the module docs).
pub struct Param<T> {
    raw: Value,
    _t: PhantomData<fn() -> T>,
}

impl<T: Serialize> From<T> for Param<T> {
    fn from(t: T) -> Self {
        // Our param types are strings, numbers and plain structs: they always serialize. Were one
        // not to, the node would answer "invalid <param>" rather than the client panicking.
        Param::raw(serde_json::to_value(t).unwrap_or(Value::Null))
    }
}

impl<T> Param<T> {
    /// A parameter with this JSON value, whatever it holds (tests send malformed ones).
    pub fn raw(raw: Value) -> Self {
        Param {
            raw,
            _t: PhantomData,
        }
    }

    /// The JSON value as sent.
    pub fn as_json(&self) -> &Value {
        &self.raw
    }

    /// The value as a string, or `invalid {what}: Invalid params` (-32602).
    pub fn text(&self, what: &str) -> Result<&str, ErrorObjectOwned> {
        self.raw.as_str().ok_or_else(|| invalid(what))
    }

    /// The value as `T`, or `invalid {what}: Invalid params` (-32602).
    pub fn value(self, what: &str) -> Result<T, ErrorObjectOwned>
    where
        T: DeserializeOwned,
    {
        T::deserialize(self.raw).map_err(|_| invalid(what))
    }

    /// A string parameter parsed with `T`'s `FromStr`: `invalid {what}: Invalid params` when not a
    /// string, `invalid {what} "<text>": expected {expected}` when it does not parse (-32602).
    pub fn parsed(&self, what: &str, expected: &str) -> Result<T, ErrorObjectOwned>
    where
        T: std::str::FromStr,
    {
        let s = self.text(what)?;
        s.parse().map_err(|_| {
            ErrorCode::InvalidParams
                .err(format!("invalid {what} {}: expected {expected}", quote(s)))
        })
    }

    /// A string parameter parsed with `parse`: `invalid {what} "<text>": {error}` (-32602).
    pub fn parsed_with<E: fmt::Display>(
        &self,
        what: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<T, ErrorObjectOwned> {
        let s = self.text(what)?;
        parse(s).map_err(|e| {
            // A parser's error may quote the input in full: it gets the short quote too.
            let mut reason = e.to_string();
            if s.chars().nth(crate::QUOTE_CHARS).is_some() {
                reason = reason.replace(&format!("{s:?}"), &quote(s));
            }
            ErrorCode::InvalidParams.err(format!("invalid {what} {}: {reason}", quote(s)))
        })
    }
}

/// `invalid {what}: Invalid params` (-32602): the parameter is missing or of the wrong JSON type.
pub fn invalid(what: &str) -> ErrorObjectOwned {
    ErrorCode::InvalidParams.err(format!("invalid {what}: Invalid params"))
}

impl<T> Serialize for Param<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for Param<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Value::deserialize(d).map(Param::raw)
    }
}

impl<T> Clone for Param<T> {
    fn clone(&self) -> Self {
        Param::raw(self.raw.clone())
    }
}

impl<T> fmt::Debug for Param<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Param({})", self.raw)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use paychain_contracts::crypto::Hash;

    #[test]
    fn typed_in_raw_out() {
        let h = Hash([7; 32]);
        let p: Param<Hash> = h.into();
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            format!("\"{}\"", h.to_hex())
        );
        let back: Param<Hash> = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back.parsed("tx hash", "64 hex characters").unwrap(), h);
        assert_eq!(back.value("tx hash").unwrap(), h);
    }

    #[test]
    fn errors_name_the_param() {
        let p: Param<Hash> = serde_json::from_str("5").unwrap();
        assert_eq!(
            p.parsed("tx hash", "64 hex characters")
                .unwrap_err()
                .message(),
            "invalid tx hash: Invalid params"
        );
        let p: Param<Hash> = serde_json::from_str("\"zz\"").unwrap();
        let e = p.parsed("tx hash", "64 hex characters").unwrap_err();
        assert_eq!(e.code(), -32602);
        assert_eq!(
            e.message(),
            "invalid tx hash \"zz\": expected 64 hex characters"
        );
        let p: Param<u64> = serde_json::from_str("-1").unwrap();
        assert_eq!(
            p.value("height").unwrap_err().message(),
            "invalid height: Invalid params"
        );
    }

    /// A 500 KB parameter comes back as its first 64 characters, not in full.
    #[test]
    fn errors_quote_a_short_prefix() {
        let long = format!("\"{}\"", "z".repeat(500_000));
        let p: Param<Hash> = serde_json::from_str(&long).unwrap();
        let e = p.parsed("tx hash", "64 hex characters").unwrap_err();
        assert_eq!(
            e.message(),
            format!(
                "invalid tx hash \"{}\"…: expected 64 hex characters",
                "z".repeat(crate::QUOTE_CHARS)
            )
        );
        let p: Param<String> = serde_json::from_str(&long).unwrap();
        let e = p
            .parsed_with("merchant id", |s| Err::<String, _>(format!("bad {s:?}")))
            .unwrap_err();
        let short = crate::quote(&"z".repeat(500_000));
        assert_eq!(
            e.message(),
            format!("invalid merchant id {short}: bad {short}")
        );
    }
}
