//! Provisioning: the consortium secret travels to a new enclave only wrapped to its attested key.
//!
//! The sender (a provisioned enclave, or the testnet generator acting as the bootstrap enclave) verifies the
//! recipient's quote first, then boxes the secret to the quote's `kx_public` with associated data binding the
//! quote hash and the consortium public key. The [`WrappedSecret`] goes on chain by transaction; only the
//! enclave holding the quote's key-exchange secret can open it.
//!
//! On chain, a wrapped secret is accepted only as a [`SignedProvision`]: signed by the signer key of the
//! provisioned enclave that wrapped it (a key that never leaves that enclave), so that no transaction
//! sender can mark an enclave provisioned with bytes of its own.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use super::epoch::{EpochError, KeyRing};
use super::kx::{
    box_open, box_seal, BoxError, BoxRandomness, ConsortiumSecret, KxPublicKey, KxSecret, SealedBox,
};
use super::quote::Quote;
use crate::primitives::codec;
use crate::primitives::crypto::{sha256, Hash, PublicKey, SecretKey, Signature};
use crate::primitives::ids::ChainId;

/// Largest encoded [`WrappedSecret`] accepted.
pub const MAX_WRAPPED_SECRET_BYTES: usize = 2048;

const PROVISION_DOMAIN: &[u8] = b"paychain/enclave/provision/v1";
const PROVISION_SIGN_DOMAIN: &[u8] = b"paychain/enclave/provision-sign/v1";

/// Why a secret could not be wrapped or unwrapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProvisionError {
    /// The wrapped secret names another enclave's quote.
    #[error("secret is wrapped for enclave quote {got}, this enclave's quote is {expected}")]
    WrongRecipient {
        /// This enclave's quote hash.
        expected: Hash,
        /// The quote hash in the wrapped secret.
        got: Hash,
    },
    /// A low-order X25519 key.
    #[error("provisioning uses a low-order X25519 key")]
    WeakKey,
    /// AES-GCM refused: tampered, or wrapped to another key.
    #[error("wrapped secret failed authentication: tampered, or wrapped to another enclave")]
    Authentication,
    /// The decrypted payload is not a key ring.
    #[error("wrapped payload is not a key ring: {0}")]
    BadPayload(EpochError),
    /// The secret does not match the consortium public key it claims, or the one in genesis.
    #[error("wrapped secret's public key {got} is not the consortium key {expected}")]
    SecretMismatch {
        /// The consortium key expected.
        expected: KxPublicKey,
        /// The key of the secret received.
        got: KxPublicKey,
    },
    /// The bytes are not a wrapped secret.
    #[error("malformed wrapped secret: {0}")]
    Malformed(#[from] codec::Error),
    /// Key derivation failed.
    #[error("provisioning key derivation failed")]
    Kdf,
}

impl From<BoxError> for ProvisionError {
    fn from(e: BoxError) -> Self {
        match e {
            BoxError::WeakKey => ProvisionError::WeakKey,
            BoxError::Authentication => ProvisionError::Authentication,
            BoxError::Kdf => ProvisionError::Kdf,
        }
    }
}

/// Consortium secrets (a [`KeyRing`]: every epoch's, or one new epoch's) encrypted to one attested
/// enclave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct WrappedSecret {
    /// [`Quote::hash`] of the recipient.
    pub recipient_quote_hash: Hash,
    /// The consortium public key of the newest epoch's secret inside.
    pub consortium_public: KxPublicKey,
    /// The box to the recipient's `kx_public`.
    pub sealed: SealedBox,
}

impl WrappedSecret {
    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes at most [`MAX_WRAPPED_SECRET_BYTES`].
    pub fn from_bytes(bytes: &[u8]) -> Result<WrappedSecret, ProvisionError> {
        Ok(codec::decode(bytes, MAX_WRAPPED_SECRET_BYTES)?)
    }

    /// Identity of this provisioning (for receipts and logs).
    pub fn hash(&self) -> Hash {
        sha256(&[PROVISION_DOMAIN, &self.to_bytes()])
    }
}

/// A wrapped secret signed by the enclave that wrapped it (its quote's `signer`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct SignedProvision {
    /// The secret, wrapped to the recipient's quote.
    pub wrapped: WrappedSecret,
    /// The signer key of the provisioned enclave that wrapped it.
    pub provider: PublicKey,
    /// `provider`'s signature over [`SignedProvision::sign_bytes`].
    pub signature: Signature,
}

impl SignedProvision {
    /// The bytes the provider signs: `domain ‖ len ‖ chain id ‖ provider ‖ wrapped secret`.
    pub fn sign_bytes(
        chain_id: &ChainId,
        provider: &PublicKey,
        wrapped: &WrappedSecret,
    ) -> Vec<u8> {
        let mut out = PROVISION_SIGN_DOMAIN.to_vec();
        super::kx::put_lp(&mut out, chain_id.as_str().as_bytes());
        out.extend_from_slice(&provider.0);
        out.extend_from_slice(&wrapped.to_bytes());
        out
    }

    /// Signs `wrapped` as the enclave whose signer key is `signer` (inside the enclave).
    pub(crate) fn sign(chain_id: &ChainId, signer: &SecretKey, wrapped: WrappedSecret) -> Self {
        let provider = signer.public_key();
        let signature = signer.sign(&Self::sign_bytes(chain_id, &provider, &wrapped));
        SignedProvision {
            wrapped,
            provider,
            signature,
        }
    }

    /// Whether `provider` signed this on `chain_id`.
    pub fn verify(&self, chain_id: &ChainId) -> bool {
        self.provider
            .verify(
                &Self::sign_bytes(chain_id, &self.provider, &self.wrapped),
                &self.signature,
            )
            .is_ok()
    }
}

fn aad(quote_hash: &Hash, consortium_public: &KxPublicKey) -> Vec<u8> {
    let mut out = PROVISION_DOMAIN.to_vec();
    out.extend_from_slice(&quote_hash.0);
    out.extend_from_slice(&consortium_public.0);
    out
}

/// Wraps the genesis consortium secret (epoch 0) to the enclave described by `recipient`: the
/// testnet generator as bootstrap enclave.
pub fn wrap_secret(
    secret: &ConsortiumSecret,
    recipient: &Quote,
    rand: &BoxRandomness,
) -> Result<WrappedSecret, ProvisionError> {
    wrap_ring(&KeyRing::single(0, secret.clone()), recipient, rand)
}

/// Wraps `ring` to the enclave described by `recipient`. Verify the recipient's signed quote first
/// ([`super::verify_quote`]); [`super::Enclave::wrap_for`] does both.
pub(crate) fn wrap_ring(
    ring: &KeyRing,
    recipient: &Quote,
    rand: &BoxRandomness,
) -> Result<WrappedSecret, ProvisionError> {
    let recipient_quote_hash = recipient.hash();
    let consortium_public = ring
        .current()
        .map(|(_, s)| s.public_key())
        .ok_or(ProvisionError::BadPayload(EpochError::Malformed("empty")))?;
    let payload = ring.encode();
    let sealed = box_seal(
        PROVISION_DOMAIN,
        &recipient.kx_public,
        rand,
        &aad(&recipient_quote_hash, &consortium_public),
        payload.as_ref(),
    )?;
    Ok(WrappedSecret {
        recipient_quote_hash,
        consortium_public,
        sealed,
    })
}

/// Unwraps the key ring addressed to the enclave whose quote is `own_quote` and key-exchange secret
/// `own_kx`.
pub(crate) fn unwrap_secret(
    own_kx: &KxSecret,
    own_quote: &Quote,
    wrapped: &WrappedSecret,
) -> Result<KeyRing, ProvisionError> {
    let expected = own_quote.hash();
    if wrapped.recipient_quote_hash != expected {
        return Err(ProvisionError::WrongRecipient {
            expected,
            got: wrapped.recipient_quote_hash,
        });
    }
    let payload = box_open(
        PROVISION_DOMAIN,
        own_kx,
        &wrapped.sealed,
        &aad(&expected, &wrapped.consortium_public),
    )?;
    let ring = KeyRing::decode(&payload).map_err(ProvisionError::BadPayload)?;
    let newest = ring
        .current()
        .map(|(_, s)| s.public_key())
        .ok_or(ProvisionError::BadPayload(EpochError::Malformed("empty")))?;
    if newest != wrapped.consortium_public {
        return Err(ProvisionError::SecretMismatch {
            expected: wrapped.consortium_public,
            got: newest,
        });
    }
    Ok(ring)
}
