//! Acquiring records sealed to the platform's record key of an epoch ([`super::epoch`]).
//!
//! A platform's client encrypts each record with [`seal_record`]: X25519(ephemeral, platform key) →
//! HKDF-SHA256 → AES-256-GCM with associated data `len ‖ merchant id ‖ len ‖ platform id ‖ version ‖
//! epoch`, so a ciphertext copied under another merchant, platform, version or epoch fails
//! authentication. The chain stores only
//! the [`SealedRecord`]; the randomness is drawn by the client, never during block execution.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::kx::{
    aead_open, box_open_key, box_seal, put_lp, BoxError, BoxRandomness, KxPublicKey, KxSecret,
    SealedBox, TAG_LEN,
};
use crate::primitives::codec;
use crate::primitives::crypto::{sha256, Hash};
use crate::primitives::ids::{MerchantId, PlatformId};

/// Largest record plaintext.
pub const MAX_RECORD_PLAINTEXT_BYTES: usize = 8 * 1024;
/// Largest encoded [`SealedRecord`]: epoch, key, nonce, the u32 length prefix, ciphertext and tag.
pub const MAX_SEALED_RECORD_BYTES: usize = 8 + 32 + 12 + 4 + MAX_RECORD_PLAINTEXT_BYTES + TAG_LEN;

const RECORD_DOMAIN: &[u8] = b"paychain/enclave/record/v1";
const RECORD_HASH_DOMAIN: &[u8] = b"paychain/enclave/record-ciphertext/v1";

/// Why a record could not be sealed, decoded or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The plaintext is longer than [`MAX_RECORD_PLAINTEXT_BYTES`].
    #[error("record is {len} bytes, limit is {max}")]
    TooLarge {
        /// Plaintext length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// The ciphertext is shorter than a tag or longer than the limit allows.
    #[error("record ciphertext of {0} bytes is out of bounds")]
    CiphertextLength(usize),
    /// The bytes are not a sealed record.
    #[error("malformed sealed record: {0}")]
    Malformed(codec::Error),
    /// A low-order X25519 key (consortium key when sealing, ephemeral key when opening).
    #[error("sealed record uses a low-order X25519 key")]
    WeakKey,
    /// AES-GCM refused.
    #[error("record for merchant {merchant}, platform {platform}, version {version} failed authentication: ciphertext tampered with, or sealed for another merchant, platform or version")]
    Authentication {
        /// Merchant the record was opened for.
        merchant: MerchantId,
        /// Platform the record was opened for.
        platform: PlatformId,
        /// Version the record was opened for.
        version: u64,
    },
    /// Key derivation failed.
    #[error("record key derivation failed")]
    Kdf,
}

/// An acquiring record encrypted to its platform's record key of `epoch`: what the chain stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct SealedRecord {
    /// The epoch whose platform key sealed it.
    pub epoch: u64,
    /// The box.
    pub sealed: SealedBox,
}

impl SealedRecord {
    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes at most [`MAX_SEALED_RECORD_BYTES`] and checks the ciphertext length.
    pub fn from_bytes(bytes: &[u8]) -> Result<SealedRecord, RecordError> {
        let record: SealedRecord =
            codec::decode(bytes, MAX_SEALED_RECORD_BYTES).map_err(RecordError::Malformed)?;
        record.check_bounds()?;
        Ok(record)
    }

    /// Checks `TAG_LEN <= ciphertext <= MAX_RECORD_PLAINTEXT_BYTES + TAG_LEN`.
    pub fn check_bounds(&self) -> Result<(), RecordError> {
        let len = self.sealed.ciphertext.len();
        if !(TAG_LEN..=MAX_RECORD_PLAINTEXT_BYTES + TAG_LEN).contains(&len) {
            return Err(RecordError::CiphertextLength(len));
        }
        Ok(())
    }

    /// The hash a lookup answer cites, so a client can match it against the chain's copy.
    pub fn hash(&self) -> Hash {
        ciphertext_hash(&self.to_bytes())
    }
}

/// The hash of a stored record's bytes (a sealed record's canonical encoding): what lookups cite and
/// payments are routed by.
pub fn ciphertext_hash(stored: &[u8]) -> Hash {
    sha256(&[RECORD_HASH_DOMAIN, stored])
}

/// The associated data binding a record to its merchant, platform, version and epoch.
pub(crate) fn record_aad(
    merchant: &MerchantId,
    platform: &PlatformId,
    version: u64,
    epoch: u64,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECORD_DOMAIN.len() + 8 + 64 + 16);
    out.extend_from_slice(RECORD_DOMAIN);
    put_lp(&mut out, merchant.as_str().as_bytes());
    put_lp(&mut out, platform.as_str().as_bytes());
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&epoch.to_le_bytes());
    out
}

/// The key a record of `platform` is sealed to in an epoch, with that epoch
/// (see [`super::epoch::PlatformKey`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordKey {
    /// The epoch.
    pub epoch: u64,
    /// The platform's public record key in it.
    pub public: KxPublicKey,
}

/// Encrypts an acquiring record to its platform's record key of an epoch (client side).
pub fn seal_record(
    plaintext: &[u8],
    key: &RecordKey,
    merchant: &MerchantId,
    platform: &PlatformId,
    version: u64,
    rand: &BoxRandomness,
) -> Result<SealedRecord, RecordError> {
    if plaintext.len() > MAX_RECORD_PLAINTEXT_BYTES {
        return Err(RecordError::TooLarge {
            len: plaintext.len(),
            max: MAX_RECORD_PLAINTEXT_BYTES,
        });
    }
    let aad = record_aad(merchant, platform, version, key.epoch);
    box_seal(RECORD_DOMAIN, &key.public, rand, &aad, plaintext)
        .map(|sealed| SealedRecord {
            epoch: key.epoch,
            sealed,
        })
        .map_err(|e| match e {
            BoxError::WeakKey => RecordError::WeakKey,
            BoxError::Kdf => RecordError::Kdf,
            // AES-GCM encryption fails only past its length limit (far above ours).
            BoxError::Authentication => RecordError::TooLarge {
                len: plaintext.len(),
                max: MAX_RECORD_PLAINTEXT_BYTES,
            },
        })
}

/// Decrypts a record with its platform's epoch secret, with no key cache (tests: every open does
/// the full X25519 agreement).
#[cfg(test)]
pub(crate) fn open_record(
    secret: &KxSecret,
    record: &SealedRecord,
    merchant: &MerchantId,
    platform: &PlatformId,
    version: u64,
) -> Result<Zeroizing<Vec<u8>>, RecordError> {
    RecordKeys::new(0).open(secret, record, merchant, platform, version)
}

fn record_error(
    e: BoxError,
    merchant: &MerchantId,
    platform: &PlatformId,
    version: u64,
) -> RecordError {
    match e {
        BoxError::WeakKey => RecordError::WeakKey,
        BoxError::Kdf => RecordError::Kdf,
        BoxError::Authentication => RecordError::Authentication {
            merchant: merchant.clone(),
            platform: platform.clone(),
            version,
        },
    }
}

const RECORD_KEY_SLOT_DOMAIN: &[u8] = b"paychain/enclave/record-key-slot/v1";

/// The box keys of records the enclave has opened, so looking a record up again costs one AES-GCM
/// decryption instead of an X25519 agreement (the agreement was most of a lookup's cost).
///
/// A key depends only on the record's ephemeral public key and associated data (the consortium secret is
/// fixed), so that pair names its slot. A key is kept only after it authenticated a record. The cache
/// lives inside the enclave like the consortium secret, holds at most `capacity` keys (the oldest goes
/// first), and every key is zeroized when evicted or dropped.
pub(crate) struct RecordKeys {
    capacity: usize,
    inner: Mutex<KeySlots>,
}

#[derive(Default)]
struct KeySlots {
    keys: BTreeMap<Hash, Zeroizing<[u8; 32]>>,
    order: VecDeque<Hash>,
}

impl RecordKeys {
    pub(crate) fn new(capacity: usize) -> RecordKeys {
        RecordKeys {
            capacity,
            inner: Mutex::new(KeySlots::default()),
        }
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, KeySlots> {
        // Each update is a couple of map operations: a panic elsewhere cannot leave them inconsistent
        // in a way that matters, so poisoning is ignored.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many keys are cached.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots().keys.len()
    }

    /// Decrypts a record inside the enclave with its platform's secret of the record's epoch,
    /// with the key from the cache when this record was opened before.
    pub(crate) fn open(
        &self,
        secret: &KxSecret,
        record: &SealedRecord,
        merchant: &MerchantId,
        platform: &PlatformId,
        version: u64,
    ) -> Result<Zeroizing<Vec<u8>>, RecordError> {
        record.check_bounds()?;
        let aad = record_aad(merchant, platform, version, record.epoch);
        let err = |e| record_error(e, merchant, platform, version);
        // The slot also names the opening key: the same ephemeral key and associated data under
        // another platform key is another record key.
        let slot = sha256(&[
            RECORD_KEY_SLOT_DOMAIN,
            &secret.public_key().0,
            &record.sealed.ephemeral_public.0,
            &aad,
        ]);
        let cached = self.slots().keys.get(&slot).cloned();
        let key = match cached {
            Some(key) => key,
            None => box_open_key(RECORD_DOMAIN, secret, &record.sealed.ephemeral_public, &aad)
                .map_err(err)?,
        };
        let plaintext =
            aead_open(&key, &record.sealed.nonce, &aad, &record.sealed.ciphertext).map_err(err)?;
        if self.capacity > 0 {
            let mut slots = self.slots();
            if !slots.keys.contains_key(&slot) {
                while slots.keys.len() >= self.capacity {
                    match slots.order.pop_front() {
                        Some(oldest) => drop(slots.keys.remove(&oldest)),
                        None => break,
                    }
                }
                slots.keys.insert(slot, key);
                slots.order.push_back(slot);
            }
        }
        Ok(plaintext)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use crate::primitives::crypto::PublicKey;

    pub(crate) fn merchant(n: u8) -> MerchantId {
        MerchantId::derive(&PublicKey([n; 32]))
    }

    pub(crate) fn platform(s: &str) -> PlatformId {
        PlatformId::new(s).unwrap()
    }

    /// The record key (epoch 2) of a platform secret.
    pub(crate) fn key_of(secret: &KxSecret) -> RecordKey {
        RecordKey {
            epoch: 2,
            public: secret.public_key(),
        }
    }

    fn setup() -> (KxSecret, SealedRecord) {
        let secret = KxSecret::from_seed([11; 32]);
        let rec = seal_record(
            b"acct=12345 MARKER",
            &key_of(&secret),
            &merchant(1),
            &platform("p"),
            3,
            &BoxRandomness::new([12; 32], [13; 12]),
        )
        .unwrap();
        (secret, rec)
    }

    #[test]
    fn round_trip_through_bytes() {
        let (secret, rec) = setup();
        let parsed = SealedRecord::from_bytes(&rec.to_bytes()).unwrap();
        let pt = open_record(&secret, &parsed, &merchant(1), &platform("p"), 3).unwrap();
        assert_eq!(&pt[..], b"acct=12345 MARKER");
        let json = serde_json::to_string(&rec).unwrap();
        assert_eq!(serde_json::from_str::<SealedRecord>(&json).unwrap(), rec);
    }

    #[test]
    fn tampered_ciphertext_fails_authentication() {
        let (secret, mut rec) = setup();
        rec.sealed.ciphertext[0] ^= 0x80;
        let err = open_record(&secret, &rec, &merchant(1), &platform("p"), 3).unwrap_err();
        assert!(matches!(err, RecordError::Authentication { .. }));
        assert!(err.to_string().contains("tampered"));
        let (secret, mut rec) = setup();
        rec.sealed.nonce[0] ^= 1;
        assert!(matches!(
            open_record(&secret, &rec, &merchant(1), &platform("p"), 3),
            Err(RecordError::Authentication { .. })
        ));
    }

    #[test]
    fn record_copied_under_another_merchant_platform_or_version_fails() {
        let (secret, rec) = setup();
        for (m, p, v) in [
            (merchant(2), platform("p"), 3),
            (merchant(1), platform("q"), 3),
            (merchant(1), platform("p"), 4),
        ] {
            let err = open_record(&secret, &rec, &m, &p, v).unwrap_err();
            assert_eq!(
                err,
                RecordError::Authentication {
                    merchant: m.clone(),
                    platform: p.clone(),
                    version: v
                }
            );
        }
    }

    #[test]
    fn cached_keys_open_only_what_the_full_agreement_opens() {
        let (secret, rec) = setup();
        let keys = RecordKeys::new(2);
        let open =
            |r: &SealedRecord, m: &MerchantId, v: u64| keys.open(&secret, r, m, &platform("p"), v);
        assert_eq!(
            &open(&rec, &merchant(1), 3).unwrap()[..],
            b"acct=12345 MARKER"
        );
        assert_eq!(keys.len(), 1);
        // Opened again from the cache, same plaintext.
        assert_eq!(
            &open(&rec, &merchant(1), 3).unwrap()[..],
            b"acct=12345 MARKER"
        );
        assert_eq!(keys.len(), 1);
        // With the key cached, a tampered ciphertext or another merchant or version still fails, and
        // nothing that failed is cached.
        let mut tampered = rec.clone();
        tampered.sealed.ciphertext[1] ^= 1;
        assert!(matches!(
            open(&tampered, &merchant(1), 3),
            Err(RecordError::Authentication { .. })
        ));
        assert!(matches!(
            open(&rec, &merchant(2), 3),
            Err(RecordError::Authentication { .. })
        ));
        assert!(matches!(
            open(&rec, &merchant(1), 4),
            Err(RecordError::Authentication { .. })
        ));
        assert_eq!(keys.len(), 1);
        // Bounded: the oldest key goes first.
        for n in 20..24u8 {
            let r = seal_record(
                b"x",
                &key_of(&secret),
                &merchant(n),
                &platform("p"),
                1,
                &BoxRandomness::new([n; 32], [n; 12]),
            )
            .unwrap();
            open(&r, &merchant(n), 1).unwrap();
            assert!(keys.len() <= 2);
        }
        assert_eq!(keys.len(), 2);
        assert_eq!(
            &open(&rec, &merchant(1), 3).unwrap()[..],
            b"acct=12345 MARKER"
        );
    }

    #[test]
    fn wrong_consortium_key_fails() {
        let (_, rec) = setup();
        let other = KxSecret::from_seed([99; 32]);
        assert!(matches!(
            open_record(&other, &rec, &merchant(1), &platform("p"), 3),
            Err(RecordError::Authentication { .. })
        ));
    }

    #[test]
    fn sizes_are_bounded() {
        let secret = KxSecret::from_seed([11; 32]);
        let rand = BoxRandomness::new([12; 32], [13; 12]);
        let max = vec![7u8; MAX_RECORD_PLAINTEXT_BYTES];
        let rec = seal_record(
            &max,
            &key_of(&secret),
            &merchant(1),
            &platform("p"),
            0,
            &rand,
        )
        .unwrap();
        assert_eq!(rec.to_bytes().len(), MAX_SEALED_RECORD_BYTES);
        assert!(SealedRecord::from_bytes(&rec.to_bytes()).is_ok());
        let too_big = vec![7u8; MAX_RECORD_PLAINTEXT_BYTES + 1];
        assert!(matches!(
            seal_record(
                &too_big,
                &key_of(&secret),
                &merchant(1),
                &platform("p"),
                0,
                &rand
            ),
            Err(RecordError::TooLarge { .. })
        ));
        let mut short = rec.clone();
        short.sealed.ciphertext.truncate(3);
        assert_eq!(
            SealedRecord::from_bytes(&short.to_bytes()),
            Err(RecordError::CiphertextLength(3))
        );
        assert_eq!(
            open_record(&secret, &short, &merchant(1), &platform("p"), 0),
            Err(RecordError::CiphertextLength(3))
        );
        assert!(matches!(
            SealedRecord::from_bytes(&[0xff; 100]),
            Err(RecordError::Malformed(_))
        ));
    }
}
