//! Sealing the consortium secret to disk, bound to the device and the enclave build.
//!
//! The seal key is `HKDF-SHA256(ikm = device secret, info = domain ‖ measurement)`; the blob is AES-256-GCM
//! with the measurement as associated data. The same build on the same device unseals after a restart;
//! another build (another measurement) derives another key and cannot. The node only stores the blob.

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::epoch::{KeyRing, MAX_RING_BYTES};
use super::kx::{aead_open, aead_seal, hex_array, hkdf32, BoxError, ConsortiumSecret, NONCE_LEN};
use super::measurement::Measurement;
use crate::primitives::codec;

/// First bytes of an encoded [`SealedBlob`].
pub const SEALED_BLOB_MAGIC: &[u8; 8] = b"PCSEAL1\0";
/// Largest encoded [`SealedBlob`] accepted.
pub const MAX_SEALED_BLOB_BYTES: usize = 128 + MAX_RING_BYTES;

const SEAL_KEY_DOMAIN: &[u8] = b"paychain/enclave/seal-key/v1";
const SEAL_AAD_DOMAIN: &[u8] = b"paychain/enclave/sealed-blob/v1";

/// Why a sealed blob could not be read or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The bytes do not start with [`SEALED_BLOB_MAGIC`].
    #[error("not a paychain sealed blob (bad magic)")]
    BadMagic,
    /// The bytes after the magic are not a sealed blob.
    #[error("sealed blob is corrupted: {0}")]
    Corrupted(codec::Error),
    /// The blob was sealed by another enclave build.
    #[error("sealed by enclave measurement {sealed_by}, this enclave is {current}: another build cannot unseal it")]
    WrongMeasurement {
        /// The measurement recorded in the blob.
        sealed_by: Measurement,
        /// This enclave's measurement.
        current: Measurement,
    },
    /// AES-GCM refused: the blob was altered, or it was sealed on another device.
    #[error("sealed blob failed authentication: corrupted, or sealed on another device")]
    Authentication,
    /// The decrypted payload is not a key ring.
    #[error("sealed blob holds no key ring: {0}")]
    BadPayload(super::epoch::EpochError),
    /// Key derivation failed.
    #[error("seal key derivation failed")]
    Kdf,
}

/// The key sealing binds to one device and one measurement. Zeroized on drop; `Debug` never prints it.
pub struct SealKey {
    key: Zeroizing<[u8; 32]>,
    measurement: Measurement,
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealKey(measurement: {})", self.measurement)
    }
}

/// The consortium secret sealed to a device and a measurement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct SealedBlob {
    /// The measurement of the build that sealed it (also the associated data).
    pub measurement: Measurement,
    /// The AES-256-GCM nonce.
    #[serde(with = "hex_array")]
    pub nonce: [u8; NONCE_LEN],
    /// AES-256-GCM ciphertext with its tag.
    #[serde(with = "crate::primitives::codec::hex_bytes")]
    pub ciphertext: Vec<u8>,
}

impl SealedBlob {
    /// [`SEALED_BLOB_MAGIC`] followed by the canonical encoding: what the node writes to disk.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = SEALED_BLOB_MAGIC.to_vec();
        out.extend_from_slice(&codec::encode(self));
        out
    }

    /// Parses what [`SealedBlob::to_bytes`] wrote (at most [`MAX_SEALED_BLOB_BYTES`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<SealedBlob, SealError> {
        let body = bytes
            .strip_prefix(SEALED_BLOB_MAGIC.as_slice())
            .ok_or(SealError::BadMagic)?;
        codec::decode(body, MAX_SEALED_BLOB_BYTES).map_err(SealError::Corrupted)
    }
}

fn aad(measurement: &Measurement) -> Vec<u8> {
    let mut out = SEAL_AAD_DOMAIN.to_vec();
    out.extend_from_slice(&measurement.0 .0);
    out
}

/// The seal key of `measurement` on the device whose secret is `device_secret`.
pub(crate) fn seal_key(
    device_secret: &[u8; 32],
    measurement: &Measurement,
) -> Result<SealKey, SealError> {
    let key = hkdf32(
        SEAL_KEY_DOMAIN,
        device_secret,
        &[SEAL_KEY_DOMAIN, &measurement.0 .0],
    )
    .map_err(|_| SealError::Kdf)?;
    Ok(SealKey {
        key,
        measurement: *measurement,
    })
}

/// Seals `ring` under `key` with a fresh `nonce` from the caller.
pub(crate) fn seal(
    ring: &KeyRing,
    key: &SealKey,
    nonce: [u8; NONCE_LEN],
) -> Result<SealedBlob, SealError> {
    let plaintext = ring.encode();
    let ciphertext = aead_seal(&key.key, &nonce, &aad(&key.measurement), plaintext.as_ref())
        .map_err(|_| SealError::Authentication)?;
    Ok(SealedBlob {
        measurement: key.measurement,
        nonce,
        ciphertext,
    })
}

/// Opens a blob sealed under `key`.
/// A blob of a build before epochs holds one 32-byte secret: epoch 0's.
pub(crate) fn unseal(blob: &SealedBlob, key: &SealKey) -> Result<KeyRing, SealError> {
    if blob.measurement != key.measurement {
        return Err(SealError::WrongMeasurement {
            sealed_by: blob.measurement,
            current: key.measurement,
        });
    }
    let plaintext = aead_open(
        &key.key,
        &blob.nonce,
        &aad(&key.measurement),
        &blob.ciphertext,
    )
    .map_err(|e| match e {
        BoxError::Kdf => SealError::Kdf,
        BoxError::WeakKey | BoxError::Authentication => SealError::Authentication,
    })?;
    if let Ok(bytes) = <[u8; 32]>::try_from(plaintext.as_slice()) {
        return Ok(KeyRing::single(0, ConsortiumSecret::from_bytes(bytes)));
    }
    KeyRing::decode(&plaintext).map_err(SealError::BadPayload)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn secret() -> KeyRing {
        let mut ring = KeyRing::single(0, ConsortiumSecret::from_bytes([77; 32]));
        ring.merge(&KeyRing::single(3, ConsortiumSecret::from_bytes([78; 32])))
            .unwrap();
        ring
    }

    #[test]
    fn seal_unseal_round_trip() {
        let m = Measurement::current();
        let key = seal_key(&[1; 32], &m).unwrap();
        let blob = seal(&secret(), &key, [2; 12]).unwrap();
        let bytes = blob.to_bytes();
        let parsed = SealedBlob::from_bytes(&bytes).unwrap();
        // A restart derives the same key from the same device secret and build.
        let key_after_restart = seal_key(&[1; 32], &m).unwrap();
        let opened = unseal(&parsed, &key_after_restart).unwrap();
        assert_eq!(opened.epochs(), vec![0, 3]);
        assert_eq!(
            opened.get(0).unwrap().public_key(),
            secret().get(0).unwrap().public_key()
        );
        assert_eq!(
            opened.get(3).unwrap().public_key(),
            secret().get(3).unwrap().public_key()
        );
    }

    #[test]
    fn another_measurement_cannot_unseal() {
        let key = seal_key(&[1; 32], &Measurement::current()).unwrap();
        let blob = seal(&secret(), &key, [2; 12]).unwrap();
        let other = Measurement::of("paychain/enclave", "9.9.9");
        let other_key = seal_key(&[1; 32], &other).unwrap();
        let err = unseal(&blob, &other_key).unwrap_err();
        assert!(matches!(err, SealError::WrongMeasurement { .. }));
        assert!(err.to_string().contains("another build cannot unseal"));
        // Relabelling the blob with the other measurement does not help: the key and AAD differ.
        let mut relabelled = blob.clone();
        relabelled.measurement = other;
        assert_eq!(
            unseal(&relabelled, &other_key).unwrap_err(),
            SealError::Authentication
        );
    }

    #[test]
    fn another_device_cannot_unseal() {
        let m = Measurement::current();
        let blob = seal(&secret(), &seal_key(&[1; 32], &m).unwrap(), [2; 12]).unwrap();
        assert_eq!(
            unseal(&blob, &seal_key(&[9; 32], &m).unwrap()).unwrap_err(),
            SealError::Authentication
        );
    }

    #[test]
    fn corrupted_blob_gives_clear_error() {
        let key = seal_key(&[1; 32], &Measurement::current()).unwrap();
        let bytes = seal(&secret(), &key, [2; 12]).unwrap().to_bytes();
        // Flipping a ciphertext byte: authentication fails.
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let err = unseal(&SealedBlob::from_bytes(&flipped).unwrap(), &key).unwrap_err();
        assert_eq!(err, SealError::Authentication);
        assert!(err.to_string().contains("corrupted"));
        // Truncation, garbage, an empty file: decode errors, never a panic.
        assert!(matches!(
            SealedBlob::from_bytes(&bytes[..bytes.len() - 5]),
            Err(SealError::Corrupted(_))
        ));
        assert_eq!(
            SealedBlob::from_bytes(b"hello world").unwrap_err(),
            SealError::BadMagic
        );
        assert_eq!(
            SealedBlob::from_bytes(&[]).unwrap_err(),
            SealError::BadMagic
        );
        let mut huge = SEALED_BLOB_MAGIC.to_vec();
        huge.extend_from_slice(&[0xff; 2000]);
        assert!(matches!(
            SealedBlob::from_bytes(&huge),
            Err(SealError::Corrupted(codec::Error::TooLarge { .. }))
        ));
        // A blob whose ciphertext is empty.
        let mut empty = SealedBlob::from_bytes(&bytes).unwrap();
        empty.ciphertext.clear();
        assert_eq!(unseal(&empty, &key).unwrap_err(), SealError::Authentication);
    }
}
