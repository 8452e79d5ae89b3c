//! The canonical binary encoding: bincode 2 through serde, fixed-width little-endian integers.
//!
//! Every decoder of outside bytes takes an explicit size limit: the input is refused before decoding when
//! it is longer than the limit, bincode's own limit stops a length prefix from allocating more than that,
//! and trailing bytes are refused so that one value has exactly one encoding.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Largest encoded [`crate::tx::SignedTx`] accepted anywhere.
pub const MAX_TX_BYTES: usize = 64 * 1024;
/// Largest encoded [`crate::block::Block`] accepted anywhere.
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
    /// The value could not be encoded (a foreign `Serialize` impl failed).
    #[error("encode: {0}")]
    Encode(String),
}

fn config() -> bincode::config::Configuration<bincode::config::LittleEndian, bincode::config::Fixint>
{
    bincode::config::standard().with_fixed_int_encoding()
}

/// Encodes `v`, reporting a failing `Serialize` impl.
pub fn try_encode<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, Error> {
    bincode::serde::encode_to_vec(v, config()).map_err(|e| Error::Encode(e.to_string()))
}

/// Encodes `v`.
///
/// Encoding fails only when a `Serialize` impl reports an error or a sequence does not know its length;
/// no type of this crate does either (derived impls, `Vec`, `BTreeMap`, the hex helpers), so this returns
/// the bytes directly. Should a foreign type fail anyway, the result is an empty vector (deterministic on
/// every node, never a panic); use [`try_encode`] for such types.
pub fn encode<T: Serialize + ?Sized>(v: &T) -> Vec<u8> {
    try_encode(v).unwrap_or_default()
}

fn decode_limited<T: DeserializeOwned, const LIMIT: usize>(bytes: &[u8]) -> Result<T, Error> {
    let (value, used): (T, usize) =
        bincode::serde::decode_from_slice(bytes, config().with_limit::<LIMIT>())
            .map_err(|e| Error::Decode(e.to_string()))?;
    if used != bytes.len() {
        return Err(Error::TrailingBytes {
            extra: bytes.len() - used,
        });
    }
    Ok(value)
}

/// Decodes exactly one `T` from `bytes`, which must be at most `max_len` bytes long.
///
/// The bincode limit is the smallest of [`MAX_TX_BYTES`], [`MAX_BLOCK_BYTES`] and [`MAX_DECODE_BYTES`]
/// that covers `max_len` (bincode's limit is a compile-time constant), so a length prefix can never make
/// the decoder allocate more than that, whatever it claims.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], max_len: usize) -> Result<T, Error> {
    let max = max_len.min(MAX_DECODE_BYTES);
    if bytes.len() > max {
        return Err(Error::TooLarge {
            len: bytes.len(),
            max,
        });
    }
    if max <= MAX_TX_BYTES {
        decode_limited::<T, MAX_TX_BYTES>(bytes)
    } else if max <= MAX_BLOCK_BYTES {
        decode_limited::<T, MAX_BLOCK_BYTES>(bytes)
    } else {
        decode_limited::<T, MAX_DECODE_BYTES>(bytes)
    }
}

/// Serde helper for `Vec<u8>` fields: lowercase hex in human-readable formats, length-prefixed bytes
/// otherwise. Use as `#[serde(with = "paychain_contracts::codec::hex_bytes")]`.
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
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Sample {
        a: u64,
        s: String,
        #[serde(with = "hex_bytes")]
        payload: Vec<u8>,
        list: Vec<u32>,
    }

    proptest! {
        #[test]
        fn round_trip(a: u64, s in ".{0,40}", payload in proptest::collection::vec(any::<u8>(), 0..200),
                      list in proptest::collection::vec(any::<u32>(), 0..20)) {
            let v = Sample { a, s, payload, list };
            let bytes = encode(&v);
            prop_assert_eq!(decode::<Sample>(&bytes, bytes.len()).unwrap(), v.clone());
            let json = serde_json::to_string(&v).unwrap();
            prop_assert_eq!(serde_json::from_str::<Sample>(&json).unwrap(), v);
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode::<Sample>(&bytes, MAX_TX_BYTES);
            let _ = decode::<crate::tx::SignedTx>(&bytes, MAX_TX_BYTES);
            let _ = decode::<crate::block::Block>(&bytes, MAX_BLOCK_BYTES);
        }
    }

    #[test]
    fn limit_boundary() {
        let v: Vec<u8> = vec![9; 100];
        let bytes = encode(&v);
        assert_eq!(bytes.len(), 108);
        assert_eq!(decode::<Vec<u8>>(&bytes, 108).unwrap(), v);
        assert_eq!(
            decode::<Vec<u8>>(&bytes, 107),
            Err(Error::TooLarge { len: 108, max: 107 })
        );
    }

    #[test]
    fn max_tx_bytes_boundary() {
        // A byte string whose encoding is exactly MAX_TX_BYTES (8-byte length prefix + payload).
        let v = serde_bytes_vec(MAX_TX_BYTES - 8);
        let bytes = encode(&v);
        assert_eq!(bytes.len(), MAX_TX_BYTES);
        assert!(decode::<Wrapper>(&bytes, MAX_TX_BYTES).is_ok());
        let v = serde_bytes_vec(MAX_TX_BYTES - 7);
        let bytes = encode(&v);
        assert_eq!(
            decode::<Wrapper>(&bytes, MAX_TX_BYTES),
            Err(Error::TooLarge {
                len: MAX_TX_BYTES + 1,
                max: MAX_TX_BYTES
            })
        );
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Wrapper(#[serde(with = "hex_bytes")] Vec<u8>);

    fn serde_bytes_vec(n: usize) -> Wrapper {
        Wrapper(vec![1; n])
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
            decode::<String>(&[1, 0, 0, 0, 0, 0, 0, 0, 0xff], 100),
            Err(Error::Decode(_))
        ));
    }

    #[test]
    #[allow(
        clippy::disallowed_methods,
        reason = "a test timing the decoder, not contract code"
    )]
    fn huge_length_prefix_refused_without_allocating() {
        // Claims 2^62 bytes (and 2^62 elements) while carrying only a few.
        let mut bytes = (1u64 << 62).to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0; 8]);
        let start = std::time::Instant::now();
        assert!(matches!(
            decode::<Wrapper>(&bytes, MAX_TX_BYTES),
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
            decode::<Vec<crate::tx::SignedTx>>(&bytes, MAX_BLOCK_BYTES),
            Err(Error::Decode(_))
        ));
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }
}
