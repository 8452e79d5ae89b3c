//! The consensus signing scheme: ed25519 with ZIP-215 verification (`ed25519-zebra`), the
//! same rule as for transactions, with borsh-encodable signatures for the engine's codecs.

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_zebra::{SigningKey, VerificationKey};
use malachitebft_core_types::SigningScheme;

/// An ed25519 signature.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({})", hex::encode(self.0))
    }
}

impl TryFrom<&[u8]> for Signature {
    type Error = SchemeError;

    fn try_from(bytes: &[u8]) -> Result<Self, SchemeError> {
        bytes
            .try_into()
            .map(Signature)
            .map_err(|_| SchemeError(format!("signature of {} bytes, expected 64", bytes.len())))
    }
}

/// An ed25519 verification key.
#[derive(Clone, Copy)]
pub struct PublicKey {
    bytes: [u8; 32],
    key: VerificationKey,
}

impl PublicKey {
    /// Parses and validates a key.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, SchemeError> {
        let key = VerificationKey::try_from(bytes)
            .map_err(|e| SchemeError(format!("invalid ed25519 public key: {e}")))?;
        Ok(Self { bytes, key })
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// ZIP-215 verification.
    pub fn verify(&self, msg: &[u8], signature: &Signature) -> Result<(), SchemeError> {
        self.key
            .verify(&ed25519_zebra::Signature::from(signature.0), msg)
            .map_err(|_| SchemeError("bad signature".into()))
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for PublicKey {}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", hex::encode(self.bytes))
    }
}

/// A signing key, zeroized on drop.
#[derive(Clone)]
pub struct PrivateKey(SigningKey);

impl Drop for PrivateKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl PrivateKey {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(SigningKey::from(seed))
    }

    pub fn public_key(&self) -> PublicKey {
        let key = self.0.verification_key();
        PublicKey {
            bytes: key.into(),
            key,
        }
    }

    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.0.sign(msg).to_bytes())
    }
}

/// Decoding errors of the scheme.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SchemeError(pub String);

/// The scheme marker type for the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ed25519;

impl SigningScheme for Ed25519 {
    type DecodingError = SchemeError;
    type Signature = Signature;
    type PublicKey = PublicKey;
    type PrivateKey = PrivateKey;

    fn decode_signature(bytes: &[u8]) -> Result<Signature, SchemeError> {
        Signature::try_from(bytes)
    }

    fn encode_signature(signature: &Signature) -> Vec<u8> {
        signature.0.to_vec()
    }

    fn decode_public_key(bytes: &[u8]) -> Result<PublicKey, SchemeError> {
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| {
            SchemeError(format!("public key of {} bytes, expected 32", bytes.len()))
        })?;
        PublicKey::from_bytes(bytes)
    }

    fn encode_public_key(public_key: &PublicKey) -> Vec<u8> {
        public_key.bytes.to_vec()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_tamper() {
        let k = PrivateKey::from_seed([7; 32]);
        let sig = k.sign(b"msg");
        k.public_key().verify(b"msg", &sig).unwrap();
        assert!(k.public_key().verify(b"msh", &sig).is_err());
        let mut bad = sig;
        bad.0[3] ^= 1;
        assert!(k.public_key().verify(b"msg", &bad).is_err());
        assert!(Ed25519::decode_signature(&[0; 63]).is_err());
        assert!(Ed25519::decode_public_key(&[0; 31]).is_err());
    }
}
