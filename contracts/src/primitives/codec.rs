//! The canonical binary encoding: [borsh](https://borsh.io) 1.x. What is signed, hashed and stored
//! (transactions, signing bytes, tx hashes, blocks and headers, state values, receipts, enclave
//! records and quotes, certificates) is `encode(value)`; the format is specified byte for byte, for
//! implementations in other languages, in `docs/encoding.md` (test vectors in `docs/vectors/`).
//!
//! The borsh rules in use: integers little-endian at their full width (`u8` … `u128`, `i*` two's
//! complement), `bool` one byte `0`/`1`, fixed arrays (`[u8; 32]` keys and hashes, `[u8; 64]`
//! signatures) as their bytes without prefix, `Vec<T>` and strings (UTF-8) as a `u32` element count
//! then the elements, `Option<T>` a `0`/`1` byte then the value, enums a `u8` variant index (the
//! declaration order, so **variants are only ever appended**) then the variant's fields, structs their
//! fields in declaration order, maps (`BTreeMap`, always: deterministic order) a `u32` count then the
//! `(key, value)` pairs in strictly increasing key order. Decimals ([`crate::primitives::money`]) and ids
//! ([`crate::primitives::ids`]) are strings, checked on decode as the serde path checks them.
//!
//! Decoding is strict so that one value has exactly one encoding: a `bool` or `Option` tag other than
//! `0`/`1`, an unknown enum index, invalid UTF-8, map keys out of order or repeated (borsh's
//! `de_strict_order`), a non-canonical decimal or an invalid id are all refused, as are trailing bytes.
//! Every decoder of outside bytes takes an explicit size limit: the input is refused before decoding
//! when it is longer than the limit, and since a length prefix can only be honoured by reading that many
//! bytes of input, a lying prefix fails at the end of the input instead of allocating what it claims
//! (borsh caps its preallocation).

use std::io;

use borsh::{BorshDeserialize, BorshSerialize};

/// Largest encoded [`crate::chain::tx::SignedTx`] accepted anywhere.
pub const MAX_TX_BYTES: usize = 64 * 1024;
/// Largest encoded [`crate::chain::block::Block`] accepted anywhere.
pub const MAX_BLOCK_BYTES: usize = 4 * 1024 * 1024;
/// Largest `max_len` [`decode`] honours; larger limits are clamped to it.
pub const MAX_DECODE_BYTES: usize = 64 * 1024 * 1024;

/// Errors of this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input is longer than the caller's limit.
    #[error("encoded value is {len} bytes, limit is {max}")]
    TooLarge {
        /// Input length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// A value decoded but bytes were left over.
    #[error("{extra} trailing bytes after the encoded value")]
    TrailingBytes {
        /// Bytes left over.
        extra: usize,
    },
    /// The bytes are not a valid encoding.
    #[error("decode: {0}")]
    Decode(String),
    /// The value could not be encoded (a foreign `BorshSerialize` impl failed).
    #[error("encode: {0}")]
    Encode(String),
}

/// Encodes `v`, reporting a failing `BorshSerialize` impl.
pub fn try_encode<T: BorshSerialize + ?Sized>(v: &T) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    v.serialize(&mut out)
        .map_err(|e| Error::Encode(e.to_string()))?;
    Ok(out)
}

/// Encodes `v`.
///
/// Writing into a `Vec` fails only when an impl reports an error (borsh refuses a collection of more
/// than `u32::MAX` elements, which no size limit of this chain lets through); no type of this crate
/// does otherwise, so this returns the bytes directly. Should a value fail anyway, the result is an
/// empty vector (deterministic on every node, never a panic); use [`try_encode`] for such values.
pub fn encode<T: BorshSerialize + ?Sized>(v: &T) -> Vec<u8> {
    try_encode(v).unwrap_or_default()
}

/// Decodes exactly one `T` from `bytes`, which must be at most `max_len` bytes long (`max_len` is
/// clamped to [`MAX_DECODE_BYTES`]).
///
/// The length is checked before anything is decoded; bytes left after the value are refused
/// ([`Error::TrailingBytes`]).
pub fn decode<T: BorshDeserialize>(bytes: &[u8], max_len: usize) -> Result<T, Error> {
    let max = max_len.min(MAX_DECODE_BYTES);
    if bytes.len() > max {
        return Err(Error::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    let mut rest = bytes;
    let value = T::deserialize(&mut rest).map_err(|e: io::Error| Error::Decode(e.to_string()))?;
    if !rest.is_empty() {
        return Err(Error::TrailingBytes { extra: rest.len() });
    }
    Ok(value)
}

/// Serde helper for `Vec<u8>` fields: lowercase hex in human-readable formats (JSON), length-prefixed
/// bytes otherwise. (Borsh needs no helper: a `Vec<u8>` is a `u32` length and the bytes.) Use as `#[serde(with = "paychain_contracts::codec::hex_bytes")]`.
pub mod hex_bytes {
    use serde::de::{self, Deserializer, SeqAccess, Visitor};
    use serde::Serializer;
    use std::fmt;

    /// Serializes `bytes`.
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&hex::encode(bytes))
        } else {
            s.serialize_bytes(bytes)
        }
    }

    struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a hex string or a byte string")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
            hex::decode(v).map_err(E::custom)
        }

        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }

        fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            // Cap the preallocation: the hint comes from the input.
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(b) = seq.next_element()? {
                out.push(b);
            }
            Ok(out)
        }
    }

    /// Deserializes bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        if d.is_human_readable() {
            d.deserialize_str(BytesVisitor)
        } else {
            d.deserialize_byte_buf(BytesVisitor)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};
    use std::collections::BTreeMap;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
    struct Sample {
        a: u64,
        s: String,
        #[serde(with = "hex_bytes")]
        payload: Vec<u8>,
        list: Vec<u32>,
        opt: Option<i64>,
        flag: bool,
        map: BTreeMap<u16, String>,
    }

    proptest! {
        #[test]
        fn round_trip(a: u64, s in ".{0,40}", payload in proptest::collection::vec(any::<u8>(), 0..200),
                      list in proptest::collection::vec(any::<u32>(), 0..20), opt: Option<i64>, flag: bool,
                      map in proptest::collection::btree_map(any::<u16>(), ".{0,8}", 0..8)) {
            let v = Sample { a, s, payload, list, opt, flag, map };
            let bytes = encode(&v);
            prop_assert_eq!(decode::<Sample>(&bytes, bytes.len()).unwrap(), v.clone());
            // Oversize (a limit one byte short) and trailing input are refused.
            prop_assert_eq!(
                decode::<Sample>(&bytes, bytes.len() - 1),
                Err(Error::TooLarge { len: bytes.len(), max: bytes.len() - 1 })
            );
            let mut longer = bytes.clone();
            longer.push(0);
            prop_assert_eq!(decode::<Sample>(&longer, MAX_TX_BYTES), Err(Error::TrailingBytes { extra: 1 }));
            let json = serde_json::to_string(&v).unwrap();
            prop_assert_eq!(serde_json::from_str::<Sample>(&json).unwrap(), v);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode::<Sample>(&bytes, MAX_TX_BYTES);
            let _ = decode::<crate::chain::tx::SignedTx>(&bytes, MAX_TX_BYTES);
            let _ = decode::<crate::chain::block::Block>(&bytes, MAX_BLOCK_BYTES);
        }
    }

    #[test]
    fn borsh_rules() {
        assert_eq!(encode(&0x0102_0304u32), [4, 3, 2, 1]);
        assert_eq!(
            encode(&-2i64),
            [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(encode("ab"), [2, 0, 0, 0, b'a', b'b']);
        assert_eq!(encode(&vec![7u8, 8]), [2, 0, 0, 0, 7, 8]);
        assert_eq!(encode(&[7u8, 8]), [7, 8]);
        assert_eq!(encode(&Some(5u8)), [1, 5]);
        assert_eq!(encode(&None::<u8>), [0]);
        assert_eq!(encode(&true), [1]);
        assert_eq!(
            encode(&BTreeMap::from([(2u8, 0u8), (1, 9)])),
            [2, 0, 0, 0, 1, 9, 2, 0]
        );
    }

    #[test]
    fn non_canonical_refused() {
        // bool and Option tags other than 0/1.
        assert!(matches!(decode::<bool>(&[2], 1), Err(Error::Decode(_))));
        assert!(matches!(
            decode::<Option<u8>>(&[2, 0], 2),
            Err(Error::Decode(_))
        ));
        // Map keys out of order, or repeated.
        let unordered = [2, 0, 0, 0, 2, 0, 1, 9];
        assert!(matches!(
            decode::<BTreeMap<u8, u8>>(&unordered, 100),
            Err(Error::Decode(_))
        ));
        let repeated = [2, 0, 0, 0, 1, 0, 1, 9];
        assert!(matches!(
            decode::<BTreeMap<u8, u8>>(&repeated, 100),
            Err(Error::Decode(_))
        ));
        // An unknown enum variant.
        assert!(matches!(
            decode::<crate::chain::tx::Call>(&[200], 100),
            Err(Error::Decode(_))
        ));
    }

    #[test]
    fn limit_boundary() {
        let v: Vec<u8> = vec![9; 100];
        let bytes = encode(&v);
        assert_eq!(bytes.len(), 104);
        assert_eq!(decode::<Vec<u8>>(&bytes, 104).unwrap(), v);
        assert_eq!(
            decode::<Vec<u8>>(&bytes, 103),
            Err(Error::TooLarge { len: 104, max: 103 })
        );
        assert_eq!(
            decode::<Vec<u8>>(&bytes, usize::MAX).unwrap(),
            v,
            "a huge limit is clamped, not refused"
        );
    }

    #[test]
    fn max_tx_bytes_boundary() {
        // A byte string whose encoding is exactly MAX_TX_BYTES (4-byte length prefix + payload).
        let v = vec![1u8; MAX_TX_BYTES - 4];
        let bytes = encode(&v);
        assert_eq!(bytes.len(), MAX_TX_BYTES);
        assert!(decode::<Vec<u8>>(&bytes, MAX_TX_BYTES).is_ok());
        let v = vec![1u8; MAX_TX_BYTES - 3];
        let bytes = encode(&v);
        assert_eq!(
            decode::<Vec<u8>>(&bytes, MAX_TX_BYTES),
            Err(Error::TooLarge {
                len: MAX_TX_BYTES + 1,
                max: MAX_TX_BYTES
            })
        );
    }

    #[test]
    fn trailing_bytes_refused() {
        let mut bytes = encode(&7u64);
        bytes.push(0);
        assert_eq!(
            decode::<u64>(&bytes, 100),
            Err(Error::TrailingBytes { extra: 1 })
        );
    }

    #[test]
    fn garbage_refused() {
        assert!(matches!(
            decode::<u64>(&[1, 2, 3], 100),
            Err(Error::Decode(_))
        ));
        assert!(matches!(
            decode::<String>(&[1, 0, 0, 0, 0xff], 100),
            Err(Error::Decode(_))
        ));
    }

    #[test]
    #[allow(
        clippy::disallowed_methods,
        reason = "a test timing the decoder, not contract code"
    )]
    fn huge_length_prefix_refused_without_allocating() {
        // Claims u32::MAX bytes (and elements) while carrying only a few.
        let mut bytes = u32::MAX.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0; 8]);
        let start = std::time::Instant::now();
        assert!(matches!(
            decode::<Vec<u8>>(&bytes, MAX_TX_BYTES),
            Err(Error::Decode(_))
        ));
        assert!(matches!(
            decode::<String>(&bytes, MAX_TX_BYTES),
            Err(Error::Decode(_))
        ));
        assert!(matches!(
            decode::<Vec<u64>>(&bytes, MAX_TX_BYTES),
            Err(Error::Decode(_))
        ));
        assert!(matches!(
            decode::<Vec<crate::chain::tx::SignedTx>>(&bytes, MAX_BLOCK_BYTES),
            Err(Error::Decode(_))
        ));
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }
}
