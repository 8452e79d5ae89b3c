//! X25519 keys and the one hybrid-encryption primitive every enclave box uses.
//!
//! A box to a recipient's X25519 public key: a fresh ephemeral X25519 secret (its randomness passed in by
//! the caller), `X25519(ephemeral, recipient)` → HKDF-SHA256 (salt = the box's domain, info = domain ‖
//! ephemeral public ‖ recipient public ‖ associated data) → a 32-byte AES-256-GCM key, used once with the
//! caller's 12-byte nonce and the box's associated data. Records, provisioning and lookup answers each use
//! their own domain, so a ciphertext made for one purpose never authenticates as another.

use std::fmt;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use borsh::{BorshDeserialize, BorshSerialize};
use hkdf::Hkdf;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use x25519_dalek::{PublicKey as DalekPublic, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Length of an AES-256-GCM nonce.
pub const NONCE_LEN: usize = 12;
/// Length of the AES-256-GCM authentication tag appended to every ciphertext.
pub const TAG_LEN: usize = 16;

/// Errors of the box primitive; each caller maps them to its own error with context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BoxError {
    /// The other side's X25519 key is of low order: the shared secret would be known to anyone.
    #[error("X25519 key of low order (non-contributory shared secret)")]
    WeakKey,
    /// AES-GCM refused: wrong key, tampered ciphertext, or associated data that does not match.
    #[error("authentication failed")]
    Authentication,
    /// HKDF refused the output length (never for the 32 bytes used here).
    #[error("key derivation failed")]
    Kdf,
}

/// An X25519 public key (the enclave's key-exchange key, the consortium key, a client's reply key).
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    BorshSerialize,
    BorshDeserialize,
)]
pub struct KxPublicKey(#[serde(with = "hex_array")] pub [u8; 32]);

impl KxPublicKey {
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether this point is of low order (every shared secret with it is all zeroes).
    pub fn is_weak(&self) -> bool {
        // A clamped scalar is a multiple of the cofactor, so the product is the identity exactly when
        // the point lies in the small subgroup, whatever the scalar.
        !StaticSecret::from([1u8; 32])
            .diffie_hellman(&DalekPublic::from(self.0))
            .was_contributory()
    }
}

impl fmt::Debug for KxPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KxPublicKey({})", hex::encode(self.0))
    }
}

impl fmt::Display for KxPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// An X25519 static secret (a client's reply key, an enclave's key-exchange key). Zeroized on drop;
/// `Debug` never prints it.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct KxSecret {
    secret: StaticSecret,
    /// Computed once: every box opened to this key needs it for the key derivation.
    #[zeroize(skip)]
    public: KxPublicKey,
}

impl KxSecret {
    /// The secret for 32 random bytes drawn by the caller (clamped as X25519 requires).
    pub fn from_seed(mut seed: [u8; 32]) -> KxSecret {
        let secret = StaticSecret::from(seed);
        seed.zeroize();
        let public = KxPublicKey(DalekPublic::from(&secret).to_bytes());
        KxSecret { secret, public }
    }

    /// The matching public key.
    pub fn public_key(&self) -> KxPublicKey {
        self.public
    }

    pub(crate) fn inner(&self) -> &StaticSecret {
        &self.secret
    }
}

impl fmt::Debug for KxSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KxSecret(..)")
    }
}

/// The consortium enclave secret: the X25519 key every acquiring record is encrypted to.
///
/// It exists in enclaves (and, once, in the testnet generator acting as the bootstrap enclave:
/// [`super::bootstrap`]). No public function returns its bytes; it leaves an enclave only wrapped to
/// another attested enclave ([`super::provision`]) or sealed to disk ([`super::seal`]).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ConsortiumSecret(KxSecret);

impl ConsortiumSecret {
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> ConsortiumSecret {
        ConsortiumSecret(KxSecret::from_seed(bytes))
    }

    /// The raw secret, only for sealing and wrapping inside this module.
    pub(crate) fn expose(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.inner().to_bytes())
    }

    /// The consortium public key records are encrypted to (published in genesis).
    pub fn public_key(&self) -> KxPublicKey {
        self.0.public_key()
    }
}

impl fmt::Debug for ConsortiumSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConsortiumSecret(public: {})", self.public_key())
    }
}

/// Fresh randomness for one box, drawn by the caller from the OS (this crate has none): the ephemeral
/// X25519 secret and the AES-GCM nonce. Zeroized on drop; never reuse one.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct BoxRandomness {
    /// Seed of the ephemeral X25519 secret.
    pub ephemeral_secret: [u8; 32],
    /// The AES-256-GCM nonce.
    pub nonce: [u8; NONCE_LEN],
}

impl BoxRandomness {
    /// Wraps 44 random bytes.
    pub fn new(ephemeral_secret: [u8; 32], nonce: [u8; NONCE_LEN]) -> BoxRandomness {
        BoxRandomness {
            ephemeral_secret,
            nonce,
        }
    }
}

impl fmt::Debug for BoxRandomness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoxRandomness(..)")
    }
}

/// One encrypted box: the sender's ephemeral public key, the nonce and the ciphertext (tag included).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct SealedBox {
    /// The sender's ephemeral X25519 public key.
    pub ephemeral_public: KxPublicKey,
    /// The AES-256-GCM nonce.
    #[serde(with = "hex_array")]
    pub nonce: [u8; NONCE_LEN],
    /// AES-256-GCM ciphertext with its 16-byte tag.
    #[serde(with = "crate::primitives::codec::hex_bytes")]
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for SealedBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedBox")
            .field("ephemeral_public", &self.ephemeral_public)
            .field("nonce", &hex::encode(self.nonce))
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

/// HKDF-SHA256 with a 32-byte output.
pub(crate) fn hkdf32(
    salt: &[u8],
    ikm: &[u8],
    info: &[&[u8]],
) -> Result<Zeroizing<[u8; 32]>, BoxError> {
    let mut okm = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand_multi_info(info, okm.as_mut())
        .map_err(|_| BoxError::Kdf)?;
    Ok(okm)
}

pub(crate) fn aead_seal(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, BoxError> {
    Aes256Gcm::new(key.into())
        .encrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| BoxError::Authentication)
}

pub(crate) fn aead_open(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, BoxError> {
    Aes256Gcm::new(key.into())
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| BoxError::Authentication)
}

fn box_key(
    domain: &[u8],
    shared: &x25519_dalek::SharedSecret,
    ephemeral_public: &KxPublicKey,
    recipient: &KxPublicKey,
    aad: &[u8],
) -> Result<Zeroizing<[u8; 32]>, BoxError> {
    if !shared.was_contributory() {
        return Err(BoxError::WeakKey);
    }
    // The associated data is also in the key derivation: should a caller ever reuse its randomness, two
    // boxes with different associated data (another request, another record version) still get different
    // keys, so an AES-GCM nonce is never reused under one key for different contexts.
    hkdf32(
        domain,
        shared.as_bytes(),
        &[domain, &ephemeral_public.0, &recipient.0, aad],
    )
}

/// Encrypts `plaintext` to `recipient` under `domain` with associated data `aad`.
pub(crate) fn box_seal(
    domain: &[u8],
    recipient: &KxPublicKey,
    rand: &BoxRandomness,
    aad: &[u8],
    plaintext: &[u8],
) -> Result<SealedBox, BoxError> {
    // A low-order recipient key gives a non-contributory shared secret, refused by `box_key`
    // (without a second scalar multiplication to test the key first).
    let ephemeral = KxSecret::from_seed(rand.ephemeral_secret);
    let ephemeral_public = ephemeral.public_key();
    let shared = ephemeral
        .inner()
        .diffie_hellman(&DalekPublic::from(recipient.0));
    let key = box_key(domain, &shared, &ephemeral_public, recipient, aad)?;
    let ciphertext = aead_seal(&key, &rand.nonce, aad, plaintext)?;
    Ok(SealedBox {
        ephemeral_public,
        nonce: rand.nonce,
        ciphertext,
    })
}

/// The AES-256-GCM key [`box_seal`] derives for (`rand`, `recipient`, `aad`): the sender's side of
/// [`box_open_key`] (a sealed call's sender commits to it; a party it is disclosed to opens that
/// one box with it and nothing else).
pub(crate) fn box_seal_key(
    domain: &[u8],
    recipient: &KxPublicKey,
    rand: &BoxRandomness,
    aad: &[u8],
) -> Result<Zeroizing<[u8; 32]>, BoxError> {
    let ephemeral = KxSecret::from_seed(rand.ephemeral_secret);
    let ephemeral_public = ephemeral.public_key();
    let shared = ephemeral
        .inner()
        .diffie_hellman(&DalekPublic::from(recipient.0));
    box_key(domain, &shared, &ephemeral_public, recipient, aad)
}

/// Opens a box sealed by [`box_seal`] to `recipient`'s public key.
pub(crate) fn box_open(
    domain: &[u8],
    recipient: &KxSecret,
    sealed: &SealedBox,
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, BoxError> {
    let key = box_open_key(domain, recipient, &sealed.ephemeral_public, aad)?;
    aead_open(&key, &sealed.nonce, aad, &sealed.ciphertext)
}

/// The AES-256-GCM key of a box sealed to `recipient` with `ephemeral_public` and `aad`: the X25519
/// agreement and key derivation of [`box_open`], without the decryption.
pub(crate) fn box_open_key(
    domain: &[u8],
    recipient: &KxSecret,
    ephemeral_public: &KxPublicKey,
    aad: &[u8],
) -> Result<Zeroizing<[u8; 32]>, BoxError> {
    let shared = recipient
        .inner()
        .diffie_hellman(&DalekPublic::from(ephemeral_public.0));
    box_key(
        domain,
        &shared,
        ephemeral_public,
        &recipient.public_key(),
        aad,
    )
}

/// Appends `bytes` with a 4-byte little-endian length prefix (unambiguous concatenation).
pub(crate) fn put_lp(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Serde helper for fixed byte arrays: lowercase hex in human-readable formats, raw bytes otherwise.
pub(crate) mod hex_array {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        s: S,
    ) -> Result<S::Ok, S::Error>
    where
        [u8; N]: Serialize,
    {
        if s.is_human_readable() {
            s.serialize_str(&hex::encode(bytes))
        } else {
            bytes.serialize(s)
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error>
    where
        [u8; N]: Deserialize<'de>,
    {
        if d.is_human_readable() {
            let s = String::deserialize(d)?;
            let mut out = [0u8; N];
            hex::decode_to_slice(&s, &mut out).map_err(serde::de::Error::custom)?;
            Ok(out)
        } else {
            <[u8; N]>::deserialize(d)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn box_round_trip_and_domain_separation() {
        let recipient = KxSecret::from_seed([5; 32]);
        let rand = BoxRandomness::new([6; 32], [7; 12]);
        let sealed = box_seal(b"d1", &recipient.public_key(), &rand, b"aad", b"hello").unwrap();
        assert_eq!(
            &box_open(b"d1", &recipient, &sealed, b"aad").unwrap()[..],
            b"hello"
        );
        assert_eq!(
            box_open(b"d2", &recipient, &sealed, b"aad"),
            Err(BoxError::Authentication)
        );
        assert_eq!(
            box_open(b"d1", &recipient, &sealed, b"aaD"),
            Err(BoxError::Authentication)
        );
        let other = KxSecret::from_seed([8; 32]);
        assert_eq!(
            box_open(b"d1", &other, &sealed, b"aad"),
            Err(BoxError::Authentication)
        );
    }

    #[test]
    fn reused_randomness_still_separates_contexts() {
        let recipient = KxSecret::from_seed([5; 32]).public_key();
        let rand = BoxRandomness::new([6; 32], [7; 12]);
        let a = box_seal(b"d", &recipient, &rand, b"request-1", b"same").unwrap();
        let b = box_seal(b"d", &recipient, &rand, b"request-2", b"same").unwrap();
        assert_eq!(a.ephemeral_public, b.ephemeral_public);
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn low_order_keys_refused() {
        let zero = KxPublicKey([0; 32]);
        assert!(zero.is_weak());
        assert!(!KxSecret::from_seed([1; 32]).public_key().is_weak());
        let rand = BoxRandomness::new([6; 32], [7; 12]);
        assert_eq!(
            box_seal(b"d", &zero, &rand, b"", b"x"),
            Err(BoxError::WeakKey)
        );
        let recipient = KxSecret::from_seed([5; 32]);
        let mut sealed = box_seal(b"d", &recipient.public_key(), &rand, b"", b"x").unwrap();
        sealed.ephemeral_public = zero;
        assert_eq!(
            box_open(b"d", &recipient, &sealed, b""),
            Err(BoxError::WeakKey)
        );
    }

    #[test]
    fn secrets_do_not_debug_print() {
        let s = KxSecret::from_seed([9; 32]);
        assert_eq!(format!("{s:?}"), "KxSecret(..)");
        let r = BoxRandomness::new([9; 32], [9; 12]);
        assert_eq!(format!("{r:?}"), "BoxRandomness(..)");
    }

    #[test]
    fn public_key_json_is_hex() {
        let pk = KxSecret::from_seed([3; 32]).public_key();
        let json = serde_json::to_string(&pk).unwrap();
        assert_eq!(json, format!("\"{pk}\""));
        assert_eq!(serde_json::from_str::<KxPublicKey>(&json).unwrap(), pk);
        assert_eq!(crate::primitives::codec::encode(&pk), pk.0.to_vec());
    }
}
