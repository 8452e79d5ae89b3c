//! Quotes: what an enclave says about itself, signed by its machine's device attestation key, which the
//! (simulated) hardware vendor certified.
//!
//! ```text
//! vendor root (paychain-vendor, off the consortium) ──certifies once──► device key (fused in the CPU)
//! device key ──signs──► quote { measurement, enclave keys, security version, chain id, report data }
//! validators: root public key from genesis ─► device certificate ─► quote signature ─► policy
//! ```
//!
//! The root's private key never reaches a node: the vendor certifies a machine's device key when the
//! machine is made ([`DeviceCert::issue`]), and the enclave signs its own quotes with that device key
//! ([`super::Enclave::signed_quote`]). Verification is a pure function of the quote and the chain's policy
//! (root key from genesis, allowed and revoked measurements and the minimum security version from
//! governance, chain id, whether debug enclaves are allowed), so every validator reaches the same verdict.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use super::kx::{put_lp, KxPublicKey};
use super::measurement::Measurement;
use crate::primitives::codec;
use crate::primitives::crypto::{sha256, Hash, PublicKey, SecretKey, Signature};
use crate::primitives::ids::ChainId;

/// Largest encoded [`SignedQuote`] accepted.
pub const MAX_SIGNED_QUOTE_BYTES: usize = 512;

const REPORT_DATA_DOMAIN: &[u8] = b"paychain/enclave/report-data/v1";
const QUOTE_SIGN_DOMAIN: &[u8] = b"paychain/enclave/quote/v1";
const QUOTE_HASH_DOMAIN: &[u8] = b"paychain/enclave/quote-hash/v1";
const DEVICE_CERT_DOMAIN: &[u8] = b"paychain/vendor/device-cert/v1";

/// Why a quote was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    /// The quote does not say `simulated: true` (this chain only knows the simulated root).
    #[error("quote is not from the simulated attestation service")]
    NotSimulated,
    /// The device certificate is not signed by the attestation root in genesis.
    #[error(
        "the quote's device certificate is not signed by the attestation root (uncertified device)"
    )]
    UncertifiedDevice,
    /// The device key's signature over the quote does not verify.
    #[error("quote signature does not verify under its certified device key (forged quote)")]
    ForgedSignature,
    /// The quote is for another chain.
    #[error("quote is for chain {got}, expected {expected}")]
    WrongChain {
        /// This chain.
        expected: ChainId,
        /// The quote's chain.
        got: ChainId,
    },
    /// `report_data` does not bind the quote's keys and chain id.
    #[error("quote report data does not bind its keys and chain id")]
    ReportDataMismatch,
    /// The enclave's signing key is not a valid ed25519 key.
    #[error("quote carries a malformed enclave signing key")]
    MalformedSigner,
    /// The enclave's key-exchange key is of low order.
    #[error("quote carries a low-order key-exchange key")]
    WeakKxKey,
    /// Governance revoked this measurement.
    #[error("enclave measurement {0} is revoked")]
    RevokedMeasurement(Measurement),
    /// Governance never allowed this measurement.
    #[error("enclave measurement {0} is not allowed by governance")]
    UnknownMeasurement(Measurement),
    /// A debug enclave on a chain that does not allow them.
    #[error("debug enclave quotes are not allowed on this chain")]
    DebugNotAllowed,
    /// The enclave's security version is below the governance minimum.
    #[error("enclave security version {got} is below the chain's minimum {min}")]
    SecurityVersionTooLow {
        /// The quote's security version.
        got: u32,
        /// The minimum governance set.
        min: u32,
    },
    /// The bytes are not a signed quote.
    #[error("malformed signed quote: {0}")]
    Malformed(#[from] codec::Error),
}

/// What an enclave reports about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Quote {
    /// SHA-256 over the enclave's code identity and version.
    pub measurement: Measurement,
    /// The enclave's ed25519 key; it signs lookup answers.
    pub signer: PublicKey,
    /// The enclave's X25519 key; the consortium secret is wrapped to it.
    pub kx_public: KxPublicKey,
    /// The enclave's security version.
    pub security_version: u32,
    /// Whether the enclave runs in debug mode (its memory is readable by the host).
    pub debug: bool,
    /// The chain this enclave serves.
    pub chain_id: ChainId,
    /// [`report_data`] of `signer`, `kx_public` and `chain_id`.
    pub report_data: Hash,
    /// Always true: the attestation root is a simulation key, not hardware.
    pub simulated: bool,
}

/// The report data binding an enclave's keys and chain id:
/// `sha256(domain ‖ signer ‖ kx_public ‖ len ‖ chain_id)`.
pub fn report_data(signer: &PublicKey, kx_public: &KxPublicKey, chain_id: &ChainId) -> Hash {
    let mut chain = Vec::with_capacity(4 + chain_id.as_str().len());
    put_lp(&mut chain, chain_id.as_str().as_bytes());
    sha256(&[REPORT_DATA_DOMAIN, &signer.0, &kx_public.0, &chain])
}

impl Quote {
    /// The bytes the attestation root signs.
    pub fn sign_bytes(&self) -> Vec<u8> {
        let mut out = QUOTE_SIGN_DOMAIN.to_vec();
        out.extend_from_slice(&codec::encode(self));
        out
    }

    /// The quote's identity (provisioning binds the wrapped secret to it).
    pub fn hash(&self) -> Hash {
        sha256(&[QUOTE_HASH_DOMAIN, &codec::encode(self)])
    }

    /// Signs the quote with a device attestation key and attaches the device's certificate. Enclaves do
    /// this with their own device key ([`super::Enclave::signed_quote`]); tests use it to build quotes an
    /// enclave would never sign.
    pub fn attest(self, device_key: &SecretKey, device: DeviceCert) -> SignedQuote {
        let signature = device_key.sign(&self.sign_bytes());
        SignedQuote {
            quote: self,
            device,
            signature,
        }
    }
}

/// The vendor's certificate of one machine's device attestation key, as a hardware vendor certifies a
/// CPU's key when it makes the chip. Issued once per machine by `paychain-vendor certify`, checked by
/// every validator against the attestation root in genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct DeviceCert {
    /// The device's attestation key (derived inside the simulated CPU from its fused secret).
    pub device_key: PublicKey,
    /// The attestation root's signature over [`DeviceCert::sign_bytes`].
    pub signature: Signature,
}

impl DeviceCert {
    /// The bytes the root signs: `domain ‖ device_key`.
    pub fn sign_bytes(device_key: &PublicKey) -> Vec<u8> {
        let mut out = DEVICE_CERT_DOMAIN.to_vec();
        out.extend_from_slice(&device_key.0);
        out
    }

    /// The vendor certifies `device_key` with its root (run by the vendor, never by a node).
    pub fn issue(root: &SecretKey, device_key: PublicKey) -> DeviceCert {
        DeviceCert {
            signature: root.sign(&DeviceCert::sign_bytes(&device_key)),
            device_key,
        }
    }

    /// Whether `root` certified this device key.
    pub fn verify(&self, root: &PublicKey) -> bool {
        root.verify(&DeviceCert::sign_bytes(&self.device_key), &self.signature)
            .is_ok()
    }
}

/// A quote signed by a certified device key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct SignedQuote {
    /// The quote.
    pub quote: Quote,
    /// The vendor's certificate of the device key that signed it.
    pub device: DeviceCert,
    /// The device key's signature over [`Quote::sign_bytes`].
    pub signature: Signature,
}

impl SignedQuote {
    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes at most [`MAX_SIGNED_QUOTE_BYTES`] (no verification: see [`verify_quote`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<SignedQuote, QuoteError> {
        Ok(codec::decode(bytes, MAX_SIGNED_QUOTE_BYTES)?)
    }
}

/// Verifies `signed` against the chain's policy. Checks, in this order: simulated flag, the device
/// certificate under the root, the quote's signature under the device key, chain id, report data, key validity, revocation, allow list, debug flag, security version against
/// `min_security_version`; the first failure is returned.
#[allow(clippy::too_many_arguments)]
pub fn verify_quote(
    signed: &SignedQuote,
    root: &PublicKey,
    allowed: &[Measurement],
    revoked: &[Measurement],
    chain_id: &ChainId,
    allow_debug: bool,
    min_security_version: u32,
) -> Result<(), QuoteError> {
    let q = &signed.quote;
    if !q.simulated {
        return Err(QuoteError::NotSimulated);
    }
    if !signed.device.verify(root) {
        return Err(QuoteError::UncertifiedDevice);
    }
    signed
        .device
        .device_key
        .verify(&q.sign_bytes(), &signed.signature)
        .map_err(|_| QuoteError::ForgedSignature)?;
    if &q.chain_id != chain_id {
        return Err(QuoteError::WrongChain {
            expected: chain_id.clone(),
            got: q.chain_id.clone(),
        });
    }
    if q.report_data != report_data(&q.signer, &q.kx_public, &q.chain_id) {
        return Err(QuoteError::ReportDataMismatch);
    }
    q.signer
        .validate()
        .map_err(|_| QuoteError::MalformedSigner)?;
    if q.kx_public.is_weak() {
        return Err(QuoteError::WeakKxKey);
    }
    if revoked.contains(&q.measurement) {
        return Err(QuoteError::RevokedMeasurement(q.measurement));
    }
    if !allowed.contains(&q.measurement) {
        return Err(QuoteError::UnknownMeasurement(q.measurement));
    }
    if q.debug && !allow_debug {
        return Err(QuoteError::DebugNotAllowed);
    }
    if q.security_version < min_security_version {
        return Err(QuoteError::SecurityVersionTooLow {
            got: q.security_version,
            min: min_security_version,
        });
    }
    Ok(())
}

/// The chain's quote policy as one value (for [`super::Enclave::wrap_for`]).
#[derive(Debug, Clone, Copy)]
pub struct QuotePolicy<'a> {
    /// The attestation root's public key (from genesis).
    pub root: &'a PublicKey,
    /// Measurements governance allows.
    pub allowed: &'a [Measurement],
    /// Measurements governance revoked.
    pub revoked: &'a [Measurement],
    /// This chain.
    pub chain_id: &'a ChainId,
    /// Whether debug enclaves are accepted (dev chains only).
    pub allow_debug: bool,
    /// The lowest security version accepted (governance; 1 by default).
    pub min_security_version: u32,
}

impl QuotePolicy<'_> {
    /// [`verify_quote`] under this policy.
    pub fn verify(&self, signed: &SignedQuote) -> Result<(), QuoteError> {
        verify_quote(
            signed,
            self.root,
            self.allowed,
            self.revoked,
            self.chain_id,
            self.allow_debug,
            self.min_security_version,
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::enclave::kx::KxSecret;

    fn chain() -> ChainId {
        ChainId::new("paychain-test")
    }

    fn quote(measurement: Measurement, debug: bool, chain_id: ChainId) -> Quote {
        let signer = SecretKey::from_seed([1; 32]).public_key();
        let kx_public = KxSecret::from_seed([2; 32]).public_key();
        Quote {
            measurement,
            signer,
            kx_public,
            security_version: 1,
            debug,
            report_data: report_data(&signer, &kx_public, &chain_id),
            chain_id,
            simulated: true,
        }
    }

    fn root() -> SecretKey {
        SecretKey::from_seed([42; 32])
    }

    fn device() -> SecretKey {
        SecretKey::from_seed([44; 32])
    }

    /// A quote signed by a device the root certified.
    fn certified(q: Quote) -> SignedQuote {
        q.attest(&device(), DeviceCert::issue(&root(), device().public_key()))
    }

    fn check(sq: &SignedQuote, allow_debug: bool) -> Result<(), QuoteError> {
        let m = Measurement::current();
        let revoked = [Measurement::of("paychain/enclave", "0.9")];
        verify_quote(
            sq,
            &root().public_key(),
            &[m, revoked[0]],
            &revoked,
            &chain(),
            allow_debug,
            1,
        )
    }

    #[test]
    fn good_quote_verifies_and_round_trips() {
        let sq = certified(quote(Measurement::current(), false, chain()));
        assert_eq!(check(&sq, false), Ok(()));
        let bytes = sq.to_bytes();
        assert!(bytes.len() <= MAX_SIGNED_QUOTE_BYTES);
        assert_eq!(SignedQuote::from_bytes(&bytes).unwrap(), sq);
        let json = serde_json::to_string(&sq).unwrap();
        assert_eq!(serde_json::from_str::<SignedQuote>(&json).unwrap(), sq);
    }

    #[test]
    fn forged_quote_refused() {
        // A key the root never certified, certifying itself.
        let other = SecretKey::from_seed([43; 32]);
        let sq = quote(Measurement::current(), false, chain())
            .attest(&other, DeviceCert::issue(&other, other.public_key()));
        assert_eq!(check(&sq, false), Err(QuoteError::UncertifiedDevice));
        // A certified device's certificate on a quote signed by another key.
        let sq = quote(Measurement::current(), false, chain())
            .attest(&other, DeviceCert::issue(&root(), device().public_key()));
        assert_eq!(check(&sq, false), Err(QuoteError::ForgedSignature));
        // A certificate whose device key was swapped after issue.
        let mut cert = DeviceCert::issue(&root(), device().public_key());
        cert.device_key = other.public_key();
        let sq = quote(Measurement::current(), false, chain()).attest(&other, cert);
        assert_eq!(check(&sq, false), Err(QuoteError::UncertifiedDevice));
        // A genuine signature over another quote does not transfer.
        let mut sq = certified(quote(Measurement::current(), false, chain()));
        sq.quote.security_version = 2;
        assert_eq!(check(&sq, false), Err(QuoteError::ForgedSignature));
    }

    #[test]
    fn unknown_measurement_refused() {
        let m = Measurement::of("evil", "1");
        let sq = certified(quote(m, false, chain()));
        assert_eq!(check(&sq, false), Err(QuoteError::UnknownMeasurement(m)));
        assert!(check(&sq, false)
            .unwrap_err()
            .to_string()
            .contains("not allowed by governance"));
    }

    #[test]
    fn revoked_measurement_refused_even_if_still_allowed() {
        let m = Measurement::of("paychain/enclave", "0.9");
        let sq = certified(quote(m, false, chain()));
        assert_eq!(check(&sq, false), Err(QuoteError::RevokedMeasurement(m)));
    }

    #[test]
    fn debug_quote_refused_unless_dev_chain() {
        let sq = certified(quote(Measurement::current(), true, chain()));
        assert_eq!(check(&sq, false), Err(QuoteError::DebugNotAllowed));
        assert_eq!(check(&sq, true), Ok(()));
    }

    #[test]
    fn security_version_below_the_minimum_refused() {
        let mut q = quote(Measurement::current(), false, chain());
        q.security_version = 2;
        let sq = certified(q);
        let m = Measurement::current();
        let check_min =
            |min| verify_quote(&sq, &root().public_key(), &[m], &[], &chain(), false, min);
        assert_eq!(check_min(1), Ok(()));
        assert_eq!(check_min(2), Ok(()));
        let e = check_min(3).unwrap_err();
        assert_eq!(e, QuoteError::SecurityVersionTooLow { got: 2, min: 3 });
        assert!(e.to_string().contains("below the chain's minimum 3"), "{e}");
    }

    #[test]
    fn quote_for_another_chain_refused() {
        let sq = certified(quote(Measurement::current(), false, ChainId::new("other")));
        assert_eq!(
            check(&sq, false),
            Err(QuoteError::WrongChain {
                expected: chain(),
                got: ChainId::new("other")
            })
        );
    }

    #[test]
    fn report_data_must_bind_keys() {
        let mut q = quote(Measurement::current(), false, chain());
        q.kx_public = KxSecret::from_seed([3; 32]).public_key();
        assert_eq!(
            check(&certified(q), false),
            Err(QuoteError::ReportDataMismatch)
        );
    }

    #[test]
    fn not_simulated_refused() {
        let mut q = quote(Measurement::current(), false, chain());
        q.simulated = false;
        assert_eq!(check(&certified(q), false), Err(QuoteError::NotSimulated));
    }

    #[test]
    fn weak_kx_key_refused() {
        let mut q = quote(Measurement::current(), false, chain());
        q.kx_public = KxPublicKey([0; 32]);
        q.report_data = report_data(&q.signer, &q.kx_public, &q.chain_id);
        assert_eq!(check(&certified(q), false), Err(QuoteError::WeakKxKey));
    }

    #[test]
    fn garbage_bytes_refused() {
        assert!(matches!(
            SignedQuote::from_bytes(&[1, 2, 3]),
            Err(QuoteError::Malformed(_))
        ));
        assert!(matches!(
            SignedQuote::from_bytes(&vec![0; MAX_SIGNED_QUOTE_BYTES + 1]),
            Err(QuoteError::Malformed(codec::Error::TooLarge { .. }))
        ));
    }
}
