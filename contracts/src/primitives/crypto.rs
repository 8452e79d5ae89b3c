//! Hashes, keys and signatures.
//!
//! SHA-256 for every hash and ed25519 under the ZIP-215 rules for every signature, implemented by
//! `ed25519-zebra` (whose fork `ed25519-consensus` Malachite uses, with the same rules): single and batch
//! verification agree bit for bit, so no crafted signature can split the validators. This module is
//! with the node's batch check (`paychain_node::mempool::verify_batch`), the chain's implementation of
//! the rule.
//!
//! [`Hash`](struct@Hash), [`PublicKey`] and [`Signature`] serialize as lowercase hex strings in human-readable formats
//! (JSON) and as their raw bytes, a fixed-size array without length prefix, in the canonical borsh
//! encoding ([`crate::primitives::codec`]).

use std::fmt;
use std::str::FromStr;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

/// Errors of this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The signature does not verify for this key and message.
    #[error("bad signature")]
    BadSignature,
    /// The 32 bytes are not a valid ed25519 verification key encoding.
    #[error("malformed public key")]
    MalformedPublicKey,
    /// A key of small order (anyone can sign for it under ZIP-215) or a non-canonical encoding of a
    /// key (a second name for the same key): never an identity.
    #[error("weak public key: a small-order or non-canonically encoded ed25519 key cannot be an identity")]
    WeakPublicKey,
    /// A hex string had the wrong number of characters.
    #[error("expected {expected} hex characters, got {got}")]
    HexLength {
        /// Characters expected.
        expected: usize,
        /// Characters received.
        got: usize,
    },
    /// A hex string contained a non-hex character.
    #[error("invalid hex: {0}")]
    InvalidHex(String),
}

/// SHA-256 over the concatenation of `parts`.
pub fn sha256(parts: &[&[u8]]) -> Hash {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    Hash(hasher.finalize().into())
}

fn decode_hex<const N: usize>(s: &str) -> Result<[u8; N], Error> {
    if s.len() != 2 * N {
        return Err(Error::HexLength {
            expected: 2 * N,
            got: s.len(),
        });
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).map_err(|e| Error::InvalidHex(e.to_string()))?;
    Ok(out)
}

fn serialize_fixed<S: Serializer, const N: usize>(
    bytes: &[u8; N],
    s: S,
) -> Result<S::Ok, S::Error> {
    if s.is_human_readable() {
        s.serialize_str(&hex::encode(bytes))
    } else {
        let mut tup = s.serialize_tuple(N)?;
        for b in bytes {
            tup.serialize_element(b)?;
        }
        tup.end()
    }
}

struct FixedVisitor<const N: usize>(&'static str);

impl<'de, const N: usize> Visitor<'de> for FixedVisitor<N> {
    type Value = [u8; N];

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} as {} hex characters or {} bytes", self.0, 2 * N, N)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        decode_hex::<N>(v).map_err(E::custom)
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
        v.try_into().map_err(|_| E::invalid_length(v.len(), &self))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = [0u8; N];
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = seq
                .next_element()?
                .ok_or_else(|| de::Error::invalid_length(i, &self))?;
        }
        Ok(out)
    }
}

fn deserialize_fixed<'de, D: Deserializer<'de>, const N: usize>(
    d: D,
    what: &'static str,
) -> Result<[u8; N], D::Error> {
    if d.is_human_readable() {
        d.deserialize_str(FixedVisitor::<N>(what))
    } else {
        d.deserialize_tuple(N, FixedVisitor::<N>(what))
    }
}

macro_rules! fixed_bytes {
    ($name:ident, $len:expr, $what:literal) => {
        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Lowercase hex.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), hex::encode(self.0))
            }
        }

        impl FromStr for $name {
            type Err = Error;
            /// Parses exactly `2 * LEN` hex characters (either case).
            fn from_str(s: &str) -> Result<Self, Error> {
                decode_hex::<$len>(s).map($name)
            }
        }

        impl From<[u8; $len]> for $name {
            fn from(bytes: [u8; $len]) -> Self {
                $name(bytes)
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                serialize_fixed(&self.0, s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                deserialize_fixed::<D, $len>(d, $what).map($name)
            }
        }
    };
}

/// A SHA-256 digest. `Default` is [`Hash::ZERO`].
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize,
)]
pub struct Hash(pub [u8; 32]);
fixed_bytes!(Hash, 32, "a SHA-256 hash");

impl Hash {
    /// The all-zero hash: the root of an empty Merkle tree and of an empty state bucket.
    pub const ZERO: Hash = Hash([0u8; 32]);

    /// SHA-256 of `bytes`.
    pub fn digest(bytes: &[u8]) -> Hash {
        sha256(&[bytes])
    }
}

/// An ed25519 verification key (32 bytes, not checked for validity until [`PublicKey::verify`]).
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize,
)]
pub struct PublicKey(pub [u8; 32]);
fixed_bytes!(PublicKey, 32, "an ed25519 public key");

impl PublicKey {
    /// Checks that the bytes can be an identity: a canonical encoding of a point on the curve that is
    /// not of small order. Under ZIP-215 anyone can produce a signature that verifies for a
    /// small-order key (e.g. `R` = identity, `s` = 0), and a non-canonical encoding would give one
    /// key two names; both are refused wherever a key becomes an account, a member, a validator, a
    /// merchant or a user.
    pub fn validate(&self) -> Result<(), Error> {
        let point = curve25519_dalek::edwards::CompressedEdwardsY(self.0)
            .decompress()
            .ok_or(Error::MalformedPublicKey)?;
        if point.is_small_order() || point.compress().0 != self.0 {
            return Err(Error::WeakPublicKey);
        }
        Ok(())
    }

    /// Verifies `sig` over `msg` under the ZIP-215 rules (the one signature rule of the chain).
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> Result<(), Error> {
        let vk = ed25519_zebra::VerificationKey::try_from(self.0)
            .map_err(|_| Error::MalformedPublicKey)?;
        vk.verify(&ed25519_zebra::Signature::from(sig.0), msg)
            .map_err(|_| Error::BadSignature)
    }
}

/// An ed25519 signature (64 bytes).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct Signature(pub [u8; 64]);
fixed_bytes!(Signature, 64, "an ed25519 signature");

/// An ed25519 signing key. Zeroized on drop; `Debug` never prints it.
///
/// This crate has no randomness: callers draw the 32-byte seed from the OS and pass it to
/// [`SecretKey::from_seed`].
#[derive(Clone)]
pub struct SecretKey(ed25519_zebra::SigningKey);

impl SecretKey {
    /// The signing key for a 32-byte seed (the standard ed25519 secret key encoding).
    pub fn from_seed(mut seed: [u8; 32]) -> SecretKey {
        let key = SecretKey(ed25519_zebra::SigningKey::from(seed));
        seed.zeroize();
        key
    }

    /// The seed, to be stored in a keystore; zeroized when dropped.
    pub fn to_seed(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verification_key().into())
    }

    /// Signs `msg`.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.0.sign(msg).to_bytes())
    }
}

impl Drop for SecretKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        let sk = SecretKey::from_seed([7u8; 32]);
        let pk = sk.public_key();
        let sig = sk.sign(b"hello");
        assert_eq!(pk.verify(b"hello", &sig), Ok(()));
        assert_eq!(pk.verify(b"hellp", &sig), Err(Error::BadSignature));
        let other = SecretKey::from_seed([8u8; 32]).public_key();
        assert_eq!(other.verify(b"hello", &sig), Err(Error::BadSignature));
        assert_eq!(*sk.to_seed(), [7u8; 32]);
        assert_eq!(format!("{sk:?}"), "SecretKey(..)");
    }

    #[test]
    fn hex_round_trip_and_errors() {
        let h = Hash::digest(b"abc");
        assert_eq!(
            h.to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(h.to_string().parse::<Hash>().unwrap(), h);
        assert!(matches!("ab".parse::<Hash>(), Err(Error::HexLength { .. })));
        assert!(matches!(
            "zz".repeat(32).parse::<Hash>(),
            Err(Error::InvalidHex(_))
        ));
        assert_eq!(Hash::default(), Hash::ZERO);
        assert_eq!(sha256(&[b"a", b"bc"]), h);
    }

    #[test]
    fn serde_json_is_hex_and_borsh_is_raw() {
        let sig = SecretKey::from_seed([1u8; 32]).sign(b"m");
        let json = serde_json::to_string(&sig).unwrap();
        assert_eq!(json, format!("\"{}\"", sig));
        assert_eq!(serde_json::from_str::<Signature>(&json).unwrap(), sig);
        let bin = crate::primitives::codec::encode(&sig);
        assert_eq!(bin.len(), 64);
        assert_eq!(
            crate::primitives::codec::decode::<Signature>(&bin, 64).unwrap(),
            sig
        );
        let h = Hash::digest(b"x");
        assert_eq!(crate::primitives::codec::encode(&h), h.0.to_vec());
    }

    /// Encodings of the eight points of small order, canonical and not (y >= p, or a sign bit on
    /// x = 0): the inputs on which ed25519 implementations disagree (ZIP-215 and "Taming the many
    /// EdDSAs", Chalkias et al. 2020).
    const SMALL_ORDER: [&str; 14] = [
        "0100000000000000000000000000000000000000000000000000000000000000",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        "0100000000000000000000000000000000000000000000000000000000000080",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    ];

    #[test]
    fn small_order_and_non_canonical_keys_are_no_identity() {
        for enc in SMALL_ORDER {
            let key = PublicKey(bytes32(enc));
            assert!(key.validate().is_err(), "{enc} accepted as an identity");
        }
        // a non-canonical encoding of an ordinary point: y = 2 + p is the point with y = 2 (if any)
        // under a second name; whatever the curve says of y = 2, this name is never accepted
        let mut y2_plus_p =
            bytes32("efffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f");
        assert!(PublicKey(y2_plus_p).validate().is_err());
        y2_plus_p[31] |= 0x80;
        assert!(PublicKey(y2_plus_p).validate().is_err());
        for seed in 0..32u8 {
            assert_eq!(
                SecretKey::from_seed([seed; 32]).public_key().validate(),
                Ok(())
            );
        }
    }

    fn reference_verify(key: &[u8; 32], sig: &[u8; 64], msg: &[u8]) -> bool {
        ed25519_consensus::VerificationKey::try_from(*key)
            .and_then(|vk| vk.verify(&ed25519_consensus::Signature::from(*sig), msg))
            .is_ok()
    }

    fn bytes32(hex_str: &str) -> [u8; 32] {
        let mut b = [0u8; 32];
        hex::decode_to_slice(hex_str, &mut b).expect("32 bytes of hex");
        b
    }

    /// The chain's verifier (ed25519-zebra) against ed25519-consensus, the ZIP-215 implementation
    /// Malachite uses, on all 196 (key, R) pairs of small-order encodings: with s = 0 the cofactored
    /// equation holds for every message, so ZIP-215 accepts them all, and both must say so. With a
    /// non-canonical s (>= the group order) both must refuse.
    #[test]
    fn zip215_agrees_with_the_reference_on_small_order_points() {
        let mut accepted = 0;
        for a in SMALL_ORDER {
            for r in SMALL_ORDER {
                let key = bytes32(a);
                let mut sig = [0u8; 64];
                sig[..32].copy_from_slice(&bytes32(r));
                let ours = PublicKey(key).verify(b"zip215", &Signature(sig)).is_ok();
                assert_eq!(ours, reference_verify(&key, &sig, b"zip215"), "A={a} R={r}");
                accepted += usize::from(ours);
                // s = l (the group order), not reduced: refused by both.
                sig[32..].copy_from_slice(&bytes32(
                    "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010",
                ));
                let ours = PublicKey(key).verify(b"zip215", &Signature(sig)).is_ok();
                assert!(!ours, "A={a} R={r} with s = l");
                assert!(!reference_verify(&key, &sig, b"zip215"));
            }
        }
        assert_eq!(accepted, 196);
    }

    proptest::proptest! {
        /// Valid signatures, signatures with one byte changed and random bytes: the chain's
        /// verifier and the reference give the same answer, and signing agrees byte for byte.
        #[test]
        fn zip215_agrees_with_the_reference(
            seed: [u8; 32],
            msg in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            flip in 0usize..96,
            bit in 0u8..8,
            noise: [u8; 32],
        ) {
            let sk = SecretKey::from_seed(seed);
            let pk = sk.public_key();
            let sig = sk.sign(&msg);
            let reference = ed25519_consensus::SigningKey::from(seed);
            proptest::prop_assert_eq!(sig.0, reference.sign(&msg).to_bytes());
            proptest::prop_assert_eq!(pk.0, reference.verification_key().to_bytes());
            proptest::prop_assert!(pk.verify(&msg, &sig).is_ok());
            // One bit changed in the key (flip < 32) or the signature.
            let (mut key, mut s) = (pk.0, sig.0);
            if flip < 32 { key[flip] ^= 1 << bit } else { s[flip - 32] ^= 1 << bit }
            proptest::prop_assert_eq!(
                PublicKey(key).verify(&msg, &Signature(s)).is_ok(),
                reference_verify(&key, &s, &msg)
            );
            // Garbage key.
            proptest::prop_assert_eq!(
                PublicKey(noise).verify(&msg, &sig).is_ok(),
                reference_verify(&noise, &sig.0, &msg)
            );
        }
    }
}
