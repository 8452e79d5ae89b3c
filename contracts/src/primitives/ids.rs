//! Identifiers: chain, platform (consortium member) and merchant.
//!
//! All are strings on the wire (JSON, and borsh strings in [`crate::primitives::codec`]); platform and merchant ids
//! are validated when parsed or decoded from either form (a chain id is checked by the genesis and by
//! [`crate::chain::tx::check_stateless`], which compares it with the chain's).

use std::fmt;
use std::str::FromStr;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::primitives::crypto::{sha256, PublicKey};

/// Longest [`PlatformId`].
pub const MAX_PLATFORM_ID_LEN: usize = 32;
/// Longest [`ChainId`].
pub const MAX_CHAIN_ID_LEN: usize = 64;
/// Length of a [`MerchantId`]: "M" + 20 uppercase hex characters.
pub const MERCHANT_ID_LEN: usize = 21;

/// Errors of this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not 1..=32 characters of `[a-z0-9-]`.
    #[error("invalid platform id {0:?}: expected 1 to 32 characters of a-z, 0-9 and '-'")]
    InvalidPlatformId(String),
    /// Not "M" followed by 20 uppercase hex characters.
    #[error("invalid merchant id {0:?}: expected 'M' followed by 20 uppercase hex characters")]
    InvalidMerchantId(String),
    /// Empty, longer than 64 characters, or outside `[A-Za-z0-9._-]`.
    #[error(
        "invalid chain id {0:?}: expected 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'"
    )]
    InvalidChainId(String),
}

/// The chain's name; every transaction and header carries it.
#[derive(
    Clone,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Default,
    BorshSerialize,
    BorshDeserialize,
)]
#[serde(transparent)]
pub struct ChainId(pub String);

impl ChainId {
    /// Wraps `s` without validation (see [`ChainId::validate`]).
    pub fn new(s: impl Into<String>) -> ChainId {
        ChainId(s.into())
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Checks 1..=64 characters of `[A-Za-z0-9._-]` (done by [`crate::chain::genesis::Genesis::validate`]).
    pub fn validate(&self) -> Result<(), Error> {
        let ok = !self.0.is_empty()
            && self.0.len() <= MAX_CHAIN_ID_LEN
            && self
                .0
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidChainId(self.0.clone()))
        }
    }
}

impl fmt::Display for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ChainId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainId({:?})", self.0)
    }
}

impl FromStr for ChainId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let id = ChainId(s.to_owned());
        id.validate()?;
        Ok(id)
    }
}

impl From<&str> for ChainId {
    fn from(s: &str) -> Self {
        ChainId(s.to_owned())
    }
}

/// A consortium member's (platform's) id: 1..=32 characters of `[a-z0-9-]`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PlatformId(pub String);

impl PlatformId {
    /// Validates and wraps `s`.
    pub fn new(s: impl Into<String>) -> Result<PlatformId, Error> {
        let s = s.into();
        let ok = !s.is_empty()
            && s.len() <= MAX_PLATFORM_ID_LEN
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(PlatformId(s))
        } else {
            Err(Error::InvalidPlatformId(s))
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PlatformId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        PlatformId::new(s)
    }
}

impl From<PlatformId> for String {
    fn from(id: PlatformId) -> String {
        id.0
    }
}

impl fmt::Display for PlatformId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PlatformId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlatformId({:?})", self.0)
    }
}

impl FromStr for PlatformId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        PlatformId::new(s)
    }
}

/// A merchant's id, derived from its key: "M" + the first 10 bytes of
/// `sha256("paychain/merchant/v1" ‖ key)` in uppercase hex (21 ASCII alphanumerics, so it fits the
/// 25-character merchant id field of an EMVCo QR code).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MerchantId(pub String);

impl MerchantId {
    /// Domain separator of the derivation.
    pub const DOMAIN: &'static [u8] = b"paychain/merchant/v1";

    /// The id of the merchant whose key is `merchant_key`.
    pub fn derive(merchant_key: &PublicKey) -> MerchantId {
        let h = sha256(&[Self::DOMAIN, &merchant_key.0]);
        MerchantId(format!("M{}", hex::encode_upper(&h.0[..10])))
    }

    /// Validates the format (not that such a merchant exists).
    pub fn parse(s: &str) -> Result<MerchantId, Error> {
        let ok = s.len() == MERCHANT_ID_LEN
            && s.starts_with('M')
            && s.bytes()
                .skip(1)
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b));
        if ok {
            Ok(MerchantId(s.to_owned()))
        } else {
            Err(Error::InvalidMerchantId(s.to_owned()))
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for MerchantId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        MerchantId::parse(&s)
    }
}

impl From<MerchantId> for String {
    fn from(id: MerchantId) -> String {
        id.0
    }
}

impl fmt::Display for MerchantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MerchantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MerchantId({:?})", self.0)
    }
}

impl FromStr for MerchantId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        MerchantId::parse(s)
    }
}

/// Borsh: the id as a string (u32 length + UTF-8), validated on decode like the serde path.
macro_rules! borsh_as_validated_string {
    ($name:ident) => {
        impl BorshSerialize for $name {
            fn serialize<W: std::io::Write>(&self, w: &mut W) -> std::io::Result<()> {
                BorshSerialize::serialize(&self.0, w)
            }
        }

        impl BorshDeserialize for $name {
            fn deserialize_reader<R: std::io::Read>(r: &mut R) -> std::io::Result<Self> {
                let s = String::deserialize_reader(r)?;
                $name::try_from(s).map_err(|e| {
                    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
                })
            }
        }
    };
}

borsh_as_validated_string!(PlatformId);
borsh_as_validated_string!(MerchantId);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn platform_id_rules() {
        assert!(PlatformId::new("alipay-1").is_ok());
        assert!(PlatformId::new("a".repeat(32)).is_ok());
        for bad in ["", "Alipay", "a b", "a_b", &"a".repeat(33), "é"] {
            assert!(PlatformId::new(bad).is_err(), "{bad:?}");
        }
        assert!(serde_json::from_str::<PlatformId>("\"BAD\"").is_err());
        assert_eq!(
            serde_json::to_string(&PlatformId::new("p1").unwrap()).unwrap(),
            "\"p1\""
        );
    }

    #[test]
    fn merchant_id_derivation() {
        let id = MerchantId::derive(&PublicKey([3; 32]));
        assert_eq!(id.as_str().len(), MERCHANT_ID_LEN);
        assert!(id.as_str().bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(MerchantId::parse(id.as_str()).unwrap(), id);
        assert_eq!(id.to_string().parse::<MerchantId>().unwrap(), id);
        assert_ne!(id, MerchantId::derive(&PublicKey([4; 32])));
        assert!(MerchantId::parse("M0123456789abcdef0123").is_err());
        assert!(MerchantId::parse("X0123456789ABCDEF0123").is_err());
        assert!(MerchantId::parse("M0123").is_err());
        let bin = crate::primitives::codec::encode(&id);
        assert_eq!(&bin[..4], &21u32.to_le_bytes());
        assert_eq!(&bin[4..], id.as_str().as_bytes());
        assert_eq!(
            crate::primitives::codec::decode::<MerchantId>(&bin, 100).unwrap(),
            id
        );
        // An invalid id is refused from bytes as from JSON.
        let bad = crate::primitives::codec::encode(&"M0123456789abcdef0123".to_owned());
        assert!(crate::primitives::codec::decode::<MerchantId>(&bad, 100).is_err());
        let bad = crate::primitives::codec::encode(&"BAD".to_owned());
        assert!(crate::primitives::codec::decode::<PlatformId>(&bad, 100).is_err());
        let good = crate::primitives::codec::encode(&"p-1".to_owned());
        assert_eq!(
            crate::primitives::codec::decode::<PlatformId>(&good, 100).unwrap(),
            PlatformId::new("p-1").unwrap()
        );
    }

    #[test]
    fn chain_id_rules() {
        assert!("paychain-dev".parse::<ChainId>().is_ok());
        assert!("".parse::<ChainId>().is_err());
        assert!("a b".parse::<ChainId>().is_err());
    }
}
