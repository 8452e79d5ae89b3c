//! Record keys per platform and per epoch, and the rotation of the consortium secret.
//!
//! The consortium holds one secret per **epoch** (epoch 0 from genesis; governance's
//! `RotateEnclaveEpoch` asks for the next). A platform's records are never sealed to the
//! consortium key itself but to the platform's **record key** of the epoch:
//!
//! ```text
//! platform secret(P, e) = X25519 secret from HKDF-SHA256(salt = domain, ikm = consortium secret of e,
//!                                                       info = domain ‖ len ‖ chain id ‖ e ‖ len ‖ P)
//! ```
//!
//! so the key that opens P's records opens no other platform's records and no other epoch's (HKDF
//! is one-way: a leaked platform secret gives neither the consortium secret nor a sibling key).
//! Only enclaves hold consortium secrets, so only they derive platform secrets; the public halves
//! are published: genesis carries epoch 0's for the genesis platforms, and a serving enclave signs
//! the others ([`SignedPlatformKey`]) — for a platform admitted later, and for every platform at a
//! rotation. Clients seal to a platform key they checked against genesis or an attested enclave's
//! signature.
//!
//! **Rotation.** A serving enclave creates the next epoch's secret inside
//! ([`super::Enclave::start_epoch`]): `HKDF(ikm = current epoch's secret, info = host entropy ‖ epoch)`,
//! so the host that supplies the entropy still learns nothing of it. It wraps the secret (alone) to
//! each serving enclave of a current member, itself included, signs the platform keys and the
//! whole [`SignedEpochStart`]; the contract checks coverage and signatures, and each enclave adopts
//! its wrap ([`super::Enclave::adopt_epoch`]). An enclave keeps the secrets of earlier epochs (a
//! [`KeyRing`], at most [`MAX_EPOCHS`]) to open records not yet re-sealed; records written after a
//! rotation are sealed under the new epoch (the contract refuses puts under an older one) and the old
//! epoch's secret does not open them.

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::kx::{hkdf32, put_lp, ConsortiumSecret, KxPublicKey, KxSecret};
use super::provision::WrappedSecret;
use crate::primitives::crypto::{PublicKey, SecretKey, Signature};
use crate::primitives::ids::{ChainId, PlatformId};

/// Most epochs an enclave keeps secrets of (each costs 40 bytes sealed). Rotations past it drop the
/// oldest epoch but epoch 0 (the private state key's root), whose records must have been re-sealed
/// by then.
pub const MAX_EPOCHS: usize = 32;
/// Largest encoded key ring.
pub const MAX_RING_BYTES: usize = 1 + MAX_EPOCHS * 40;

const PLATFORM_KEY_DOMAIN: &[u8] = b"paychain/enclave/platform-record-key/v1";
const PLATFORM_KEY_SIGN_DOMAIN: &[u8] = b"paychain/enclave/platform-key-sign/v1";
const EPOCH_SECRET_DOMAIN: &[u8] = b"paychain/enclave/epoch-secret/v1";
const EPOCH_START_DOMAIN: &[u8] = b"paychain/enclave/epoch-start/v1";

/// Why a key ring could not be read or extended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EpochError {
    /// The bytes are not a key ring.
    #[error("malformed key ring: {0}")]
    Malformed(&'static str),
    /// Two different secrets for one epoch.
    #[error("a different secret for epoch {0} is already held")]
    Conflict(u64),
    /// The enclave does not hold the epoch's secret.
    #[error("this enclave holds no secret of epoch {0}")]
    UnknownEpoch(u64),
    /// A new epoch must follow the current one.
    #[error("epoch {got} does not follow the current epoch {current}")]
    NotNext {
        /// The enclave's current epoch.
        current: u64,
        /// The epoch asked for.
        got: u64,
    },
    /// Key derivation failed.
    #[error("epoch key derivation failed")]
    Kdf,
}

/// The consortium secrets of the epochs an enclave holds. Zeroized on drop (each secret is).
#[derive(Clone, Default)]
pub struct KeyRing {
    secrets: BTreeMap<u64, ConsortiumSecret>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.secrets.iter().map(|(e, s)| (e, s.public_key())))
            .finish()
    }
}

impl KeyRing {
    /// A ring of one epoch's secret.
    pub(crate) fn single(epoch: u64, secret: ConsortiumSecret) -> KeyRing {
        KeyRing {
            secrets: BTreeMap::from([(epoch, secret)]),
        }
    }

    /// The newest epoch held, and its secret.
    pub(crate) fn current(&self) -> Option<(u64, &ConsortiumSecret)> {
        self.secrets.iter().next_back().map(|(e, s)| (*e, s))
    }

    /// The secret of `epoch`.
    pub(crate) fn get(&self, epoch: u64) -> Option<&ConsortiumSecret> {
        self.secrets.get(&epoch)
    }

    /// The epochs held, oldest first.
    pub fn epochs(&self) -> Vec<u64> {
        self.secrets.keys().copied().collect()
    }

    /// Adds every epoch of `other`; a different secret for an epoch already held is refused. Past
    /// [`MAX_EPOCHS`] the oldest epochs go.
    pub(crate) fn merge(&mut self, other: &KeyRing) -> Result<(), EpochError> {
        for (epoch, secret) in &other.secrets {
            if let Some(held) = self.secrets.get(epoch) {
                if held.public_key() != secret.public_key() {
                    return Err(EpochError::Conflict(*epoch));
                }
            }
        }
        for (epoch, secret) in &other.secrets {
            self.secrets.insert(*epoch, secret.clone());
        }
        // Past the bound the oldest go, but never epoch 0: the private state key derives from it
        // (`super::private`), and state written under it must stay readable.
        while self.secrets.len() > MAX_EPOCHS {
            let oldest_after_zero = self.secrets.keys().copied().find(|e| *e != 0);
            match oldest_after_zero {
                Some(e) => {
                    self.secrets.remove(&e);
                }
                None => break,
            }
        }
        Ok(())
    }

    /// `count (u8) ‖ (epoch u64 LE ‖ secret 32 bytes)*`, oldest first; zeroized on drop.
    pub(crate) fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(1 + self.secrets.len() * 40));
        out.push(self.secrets.len() as u8);
        for (epoch, secret) in &self.secrets {
            out.extend_from_slice(&epoch.to_le_bytes());
            out.extend_from_slice(secret.expose().as_ref());
        }
        out
    }

    /// Parses [`KeyRing::encode`]: 1 to [`MAX_EPOCHS`] entries, epochs strictly increasing, no
    /// trailing bytes.
    pub(crate) fn decode(bytes: &[u8]) -> Result<KeyRing, EpochError> {
        let (&count, mut rest) = bytes.split_first().ok_or(EpochError::Malformed("empty"))?;
        let count = usize::from(count);
        if count == 0 || count > MAX_EPOCHS {
            return Err(EpochError::Malformed("epoch count out of bounds"));
        }
        if rest.len() != count * 40 {
            return Err(EpochError::Malformed(
                "length does not match the epoch count",
            ));
        }
        let mut secrets = BTreeMap::new();
        let mut last = None;
        while let Some((entry, tail)) = rest.split_first_chunk::<40>() {
            let (epoch, secret) = entry.split_at(8);
            let epoch = u64::from_le_bytes(epoch.try_into().map_err(|_| EpochError::Kdf)?);
            if last.is_some_and(|l| epoch <= l) {
                return Err(EpochError::Malformed("epochs not increasing"));
            }
            last = Some(epoch);
            let secret: [u8; 32] = secret.try_into().map_err(|_| EpochError::Kdf)?;
            secrets.insert(epoch, ConsortiumSecret::from_bytes(secret));
            rest = tail;
        }
        Ok(KeyRing { secrets })
    }
}

/// The secret of `platform`'s record key in `epoch`, from that epoch's consortium secret.
pub(crate) fn platform_secret(
    consortium: &ConsortiumSecret,
    chain_id: &ChainId,
    epoch: u64,
    platform: &PlatformId,
) -> Result<KxSecret, EpochError> {
    let mut info = Vec::new();
    put_lp(&mut info, chain_id.as_str().as_bytes());
    info.extend_from_slice(&epoch.to_le_bytes());
    put_lp(&mut info, platform.as_str().as_bytes());
    let seed = hkdf32(
        PLATFORM_KEY_DOMAIN,
        consortium.expose().as_ref(),
        &[PLATFORM_KEY_DOMAIN, &info],
    )
    .map_err(|_| EpochError::Kdf)?;
    Ok(KxSecret::from_seed(*seed))
}

/// The public record key of `platform` in `epoch` (genesis generator and enclaves: they hold the
/// epoch's secret).
pub fn platform_public(
    consortium: &ConsortiumSecret,
    chain_id: &ChainId,
    epoch: u64,
    platform: &PlatformId,
) -> Result<KxPublicKey, EpochError> {
    Ok(platform_secret(consortium, chain_id, epoch, platform)?.public_key())
}

/// The next epoch's secret: derived from the current one and the host's entropy, so neither alone
/// determines it.
pub(crate) fn next_secret(
    current: &ConsortiumSecret,
    epoch: u64,
    entropy: &[u8; 32],
) -> Result<ConsortiumSecret, EpochError> {
    let seed = hkdf32(
        EPOCH_SECRET_DOMAIN,
        current.expose().as_ref(),
        &[EPOCH_SECRET_DOMAIN, entropy, &epoch.to_le_bytes()],
    )
    .map_err(|_| EpochError::Kdf)?;
    Ok(ConsortiumSecret::from_bytes(*seed))
}

/// A platform's public record key in an epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct PlatformKey {
    /// The epoch.
    pub epoch: u64,
    /// The platform whose records it seals.
    pub platform_id: PlatformId,
    /// The X25519 public key records are sealed to.
    pub public: KxPublicKey,
}

impl PlatformKey {
    /// `domain ‖ len ‖ chain id ‖ epoch ‖ len ‖ platform ‖ public`: what an enclave signs.
    pub fn sign_bytes(&self, chain_id: &ChainId) -> Vec<u8> {
        let mut out = PLATFORM_KEY_SIGN_DOMAIN.to_vec();
        put_lp(&mut out, chain_id.as_str().as_bytes());
        out.extend_from_slice(&self.epoch.to_le_bytes());
        put_lp(&mut out, self.platform_id.as_str().as_bytes());
        out.extend_from_slice(&self.public.0);
        out
    }
}

/// A platform key signed by the enclave that derived it (its quote's signer key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct SignedPlatformKey {
    /// The key.
    pub key: PlatformKey,
    /// The enclave's signer key.
    pub signer: PublicKey,
    /// `signer`'s signature over [`PlatformKey::sign_bytes`].
    pub signature: Signature,
}

impl SignedPlatformKey {
    pub(crate) fn sign(chain_id: &ChainId, signer: &SecretKey, key: PlatformKey) -> Self {
        let signature = signer.sign(&key.sign_bytes(chain_id));
        SignedPlatformKey {
            key,
            signer: signer.public_key(),
            signature,
        }
    }

    /// Whether `signer` signed this key on `chain_id`.
    pub fn verify(&self, chain_id: &ChainId) -> bool {
        self.signer
            .verify(&self.key.sign_bytes(chain_id), &self.signature)
            .is_ok()
    }
}

/// The start of an epoch, made inside the enclave that created its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct EpochStart {
    /// The new epoch.
    pub epoch: u64,
    /// The public key of its consortium secret.
    pub consortium_public: KxPublicKey,
    /// Every current platform's record key in the new epoch, sorted by platform.
    pub platform_keys: Vec<SignedPlatformKey>,
    /// The new secret wrapped to each serving enclave (the creator included), in the order given.
    pub wraps: Vec<WrappedSecret>,
}

/// An [`EpochStart`] signed by its creator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct SignedEpochStart {
    /// The start.
    pub start: EpochStart,
    /// The creating enclave's signer key.
    pub signer: PublicKey,
    /// Its signature over [`SignedEpochStart::sign_bytes`].
    pub signature: Signature,
}

impl SignedEpochStart {
    /// `domain ‖ len ‖ chain id ‖ borsh(start)`.
    pub fn sign_bytes(chain_id: &ChainId, start: &EpochStart) -> Vec<u8> {
        let mut out = EPOCH_START_DOMAIN.to_vec();
        put_lp(&mut out, chain_id.as_str().as_bytes());
        out.extend_from_slice(&crate::primitives::codec::encode(start));
        out
    }

    pub(crate) fn sign(chain_id: &ChainId, signer: &SecretKey, start: EpochStart) -> Self {
        let signature = signer.sign(&Self::sign_bytes(chain_id, &start));
        SignedEpochStart {
            start,
            signer: signer.public_key(),
            signature,
        }
    }

    /// Whether `signer` signed this start, and each platform key in it, on `chain_id`.
    pub fn verify(&self, chain_id: &ChainId) -> bool {
        self.signer
            .verify(&Self::sign_bytes(chain_id, &self.start), &self.signature)
            .is_ok()
            && self
                .start
                .platform_keys
                .iter()
                .all(|k| k.signer == self.signer && k.verify(chain_id))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ring(epochs: &[u64]) -> KeyRing {
        let mut r = KeyRing::default();
        for e in epochs {
            r.merge(&KeyRing::single(
                *e,
                ConsortiumSecret::from_bytes([*e as u8 + 1; 32]),
            ))
            .unwrap();
        }
        r
    }

    #[test]
    fn a_ring_round_trips_and_bad_bytes_are_refused_without_panic() {
        let r = ring(&[0, 1, 5]);
        let bytes = r.encode();
        let back = KeyRing::decode(&bytes).unwrap();
        assert_eq!(back.epochs(), vec![0, 1, 5]);
        assert_eq!(
            back.get(5).unwrap().public_key(),
            r.get(5).unwrap().public_key()
        );
        assert_eq!(back.current().unwrap().0, 5);
        for bad in [
            vec![],
            vec![0],
            vec![1],
            vec![(MAX_EPOCHS + 1) as u8],
            bytes[..bytes.len() - 1].to_vec(),
            [bytes.as_slice(), &[0]].concat(),
        ] {
            assert!(KeyRing::decode(&bad).is_err(), "{bad:?}");
        }
        // Epochs out of order.
        let mut swapped = bytes.to_vec();
        swapped[1..9].copy_from_slice(&9u64.to_le_bytes());
        assert_eq!(
            KeyRing::decode(&swapped).unwrap_err(),
            EpochError::Malformed("epochs not increasing")
        );
    }

    #[test]
    fn a_ring_refuses_a_second_secret_for_an_epoch_and_keeps_epoch_0_and_the_newest() {
        let mut r = ring(&[0]);
        let other = KeyRing::single(0, ConsortiumSecret::from_bytes([99; 32]));
        assert_eq!(r.merge(&other).unwrap_err(), EpochError::Conflict(0));
        let all: Vec<u64> = (0..(MAX_EPOCHS as u64 + 3)).collect();
        let big = ring(&all);
        assert_eq!(big.epochs().len(), MAX_EPOCHS);
        // Epoch 0 (the private state key's root) stays; the next oldest went.
        assert_eq!(big.epochs()[0], 0);
        assert_eq!(big.epochs()[1], 4);
        assert_eq!(*big.epochs().last().unwrap(), MAX_EPOCHS as u64 + 2);
        assert!(big.encode().len() <= MAX_RING_BYTES);
    }

    #[test]
    fn platform_keys_differ_per_platform_epoch_and_chain() {
        let s = ConsortiumSecret::from_bytes([1; 32]);
        let chain = ChainId::new("c");
        let p = PlatformId::new("p").unwrap();
        let q = PlatformId::new("q").unwrap();
        let k = |c: &ChainId, e, p: &PlatformId| platform_public(&s, c, e, p).unwrap();
        let base = k(&chain, 0, &p);
        assert_ne!(base, k(&chain, 0, &q));
        assert_ne!(base, k(&chain, 1, &p));
        assert_ne!(base, k(&ChainId::new("d"), 0, &p));
        assert_ne!(base, s.public_key());
        // The next epoch's secret depends on both the current secret and the host's entropy.
        let n = next_secret(&s, 1, &[0; 32]).unwrap().public_key();
        assert_ne!(n, next_secret(&s, 1, &[1; 32]).unwrap().public_key());
        let other = ConsortiumSecret::from_bytes([2; 32]);
        assert_ne!(n, next_secret(&other, 1, &[0; 32]).unwrap().public_key());
    }
}
