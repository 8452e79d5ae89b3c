//! The lookup protocol: a signed request in, an enclave-signed answer out, the plaintext boxed to the
//! requester's ephemeral key.
//!
//! ```text
//! client: LookupRequest { chain, merchant, platform, requester, reply_kx_public, nonce, issued_at_height,
//!                         enclave }
//!         ─sign─► SignedLookup ─► node: signature, evidence of chain state ─► Enclave::answer
//! enclave: verifies the evidence (crate::grants), derives role and records from it ─► opens only
//!          `platform`'s record ─► re-encrypts to reply_kx_public ─► signs LookupAnswer
//! client: verify_answer (enclave signer from the registered quote, measurement, request hash)
//!         ─► open_answer (reply secret) ─► plaintext
//! ```
//!
//! # Replays
//!
//! A lookup is valid once, at one enclave, for a while:
//!
//! - **once**: the enclave refuses a request hash it answered ([`ReplayGuard`]); the node keeps the
//!   answered hashes of the window on disk and hands them back to the guard when it restarts, so a
//!   restart does not forget them;
//! - **at one enclave**: the request names the answering enclave's signer key (`enclave`, part of the
//!   signed bytes), and any other enclave refuses it ([`QueryError::WrongEnclave`]). A per-node store
//!   cannot see what other nodes answered, and sharing one through the chain would cost a transaction
//!   per lookup; binding the request to one enclave makes that enclave's own guard sufficient;
//! - **for a while**: `issued_at_height` must be within the window (default 100 blocks) behind the
//!   height of the block whose commit certificate the evidence carries, and at most [`MAX_LOOKUP_FUTURE_SKEW`] ahead, so the remembered set stays
//!   bounded.
//!
//! What a replay would gain is small anyway: the answer is boxed to the requester's reply key, which
//! only the requester holds. What the rules take away is the load, the audit noise and any count an
//! observer could derive from repeated answers.

use std::collections::BTreeSet;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::kx::{
    box_open, box_seal, hex_array, BoxError, BoxRandomness, KxPublicKey, KxSecret, SealedBox,
};
use super::measurement::Measurement;
use super::records::{MAX_RECORD_PLAINTEXT_BYTES, MAX_SEALED_RECORD_BYTES};
use crate::primitives::codec;
use crate::primitives::crypto::{sha256, Hash, PublicKey, SecretKey, Signature};
use crate::primitives::ids::{ChainId, MerchantId, PlatformId};

/// Length of a lookup's fresh nonce.
pub const LOOKUP_NONCE_LEN: usize = 16;
/// Largest encoded [`SignedLookup`] accepted.
pub const MAX_SIGNED_LOOKUP_BYTES: usize = 512;
/// Most platforms an answer lists (and most records the enclave considers for one merchant).
pub const MAX_RECORDS_PER_MERCHANT: usize = 64;
/// Largest encoded [`SignedAnswer`] accepted.
pub const MAX_SIGNED_ANSWER_BYTES: usize = MAX_SEALED_RECORD_BYTES
    + MAX_RECORDS_PER_MERCHANT * (8 + crate::primitives::ids::MAX_PLATFORM_ID_LEN)
    + 1024;
/// How many blocks a lookup may claim to be ahead of the answering node (clients read the height from
/// a node that may be slightly ahead).
pub const MAX_LOOKUP_FUTURE_SKEW: u64 = 5;

const LOOKUP_SIGN_DOMAIN: &[u8] = b"paychain/enclave/lookup/v1";
const ANSWER_SIGN_DOMAIN: &[u8] = b"paychain/enclave/answer/v1";
const ANSWER_BOX_DOMAIN: &[u8] = b"paychain/enclave/answer-box/v1";

/// Why a lookup or an answer was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The requester's signature does not verify.
    #[error("lookup signature does not verify for requester {0}")]
    BadRequestSignature(PublicKey),
    /// The lookup is for another chain.
    #[error("lookup is for chain {got}, expected {expected}")]
    WrongChain {
        /// This chain.
        expected: ChainId,
        /// The lookup's chain.
        got: ChainId,
    },
    /// The lookup was issued too long ago.
    #[error(
        "lookup issued at height {issued_at} is stale at height {height} (window {window} blocks)"
    )]
    Stale {
        /// The lookup's height.
        issued_at: u64,
        /// The current height.
        height: u64,
        /// The accepted age.
        window: u64,
    },
    /// The lookup claims a height too far ahead.
    #[error("lookup issued at height {issued_at} is ahead of the chain (height {height})")]
    FromFuture {
        /// The lookup's height.
        issued_at: u64,
        /// The current height.
        height: u64,
    },
    /// This exact lookup was answered already.
    #[error("lookup {0} was already answered (replay)")]
    Replayed(Hash),
    /// The lookup names another enclave (a lookup is valid at the one enclave it names).
    #[error("lookup is addressed to enclave {addressed}, this is enclave {this} (a captured lookup is not valid at another node)")]
    WrongEnclave {
        /// The enclave the request names.
        addressed: PublicKey,
        /// The enclave asked.
        this: PublicKey,
    },
    /// Too many lookups in flight within the window.
    #[error("too many recent lookups; retry later")]
    Busy,
    /// The answer is for another request.
    #[error("answer is for request {got}, expected {expected}")]
    RequestMismatch {
        /// The client's request hash.
        expected: Hash,
        /// The answer's request hash.
        got: Hash,
    },
    /// The answer was produced by another enclave build.
    #[error("answer comes from enclave measurement {got}, expected {expected}")]
    MeasurementMismatch {
        /// The registered measurement.
        expected: Measurement,
        /// The answer's measurement.
        got: Measurement,
    },
    /// The enclave's signature does not verify (tampered answer, or another enclave).
    #[error("answer signature does not verify under enclave key {0}")]
    BadAnswerSignature(PublicKey),
    /// The answer's platform list is unsorted, repeated, too long or contains the requester's platform.
    #[error("answer lists other platforms inconsistently")]
    BadPlatformList,
    /// The re-encrypted record did not open with the reply key.
    #[error("answer's re-encrypted record failed authentication (wrong reply key or tampered)")]
    Authentication,
    /// A low-order X25519 key.
    #[error("low-order X25519 key in lookup or answer")]
    WeakKey,
    /// Key derivation failed.
    #[error("answer key derivation failed")]
    Kdf,
    /// The bytes are not a lookup or an answer.
    #[error("malformed lookup or answer: {0}")]
    Malformed(#[from] codec::Error),
}

impl From<BoxError> for QueryError {
    fn from(e: BoxError) -> Self {
        match e {
            BoxError::WeakKey => QueryError::WeakKey,
            BoxError::Authentication => QueryError::Authentication,
            BoxError::Kdf => QueryError::Kdf,
        }
    }
}

/// A request for a merchant's acquiring record as seen by one platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct LookupRequest {
    /// The chain asked.
    pub chain_id: ChainId,
    /// The merchant looked up.
    pub merchant_id: MerchantId,
    /// The requester's platform: only this platform's record is opened.
    pub platform_id: PlatformId,
    /// The requester's key (the platform's key or a user hosted by it).
    pub requester: PublicKey,
    /// The client's ephemeral X25519 key; the answer is encrypted to it.
    pub reply_kx_public: KxPublicKey,
    /// Fresh random bytes making every request unique.
    #[serde(with = "hex_array")]
    pub nonce: [u8; LOOKUP_NONCE_LEN],
    /// The chain height the client saw when asking (bounds the replay window).
    pub issued_at_height: u64,
    /// The signer key of the enclave asked: no other enclave answers this request.
    pub enclave: PublicKey,
}

impl LookupRequest {
    /// The bytes the requester signs.
    pub fn sign_bytes(&self) -> Vec<u8> {
        let mut out = LOOKUP_SIGN_DOMAIN.to_vec();
        out.extend_from_slice(&codec::encode(self));
        out
    }

    /// The request hash the answer cites.
    pub fn hash(&self) -> Hash {
        sha256(&[&self.sign_bytes()])
    }

    /// Signs as `requester` (its public key should be [`LookupRequest::requester`]).
    pub fn sign(self, requester: &SecretKey) -> SignedLookup {
        let signature = requester.sign(&self.sign_bytes());
        SignedLookup {
            request: self,
            signature,
        }
    }
}

/// A lookup with the requester's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct SignedLookup {
    /// The request.
    pub request: LookupRequest,
    /// The requester's signature over [`LookupRequest::sign_bytes`].
    pub signature: Signature,
}

impl SignedLookup {
    /// Checks the requester's signature.
    pub fn verify_signature(&self) -> Result<(), QueryError> {
        self.request
            .requester
            .verify(&self.request.sign_bytes(), &self.signature)
            .map_err(|_| QueryError::BadRequestSignature(self.request.requester))
    }

    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes at most [`MAX_SIGNED_LOOKUP_BYTES`] (no verification).
    pub fn from_bytes(bytes: &[u8]) -> Result<SignedLookup, QueryError> {
        Ok(codec::decode(bytes, MAX_SIGNED_LOOKUP_BYTES)?)
    }
}

/// The requester's own platform record, re-encrypted to its reply key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct AnsweredRecord {
    /// The record's version.
    pub version: u64,
    /// [`super::SealedRecord::hash`] of the chain's ciphertext that was opened.
    pub ciphertext_hash: Hash,
    /// The plaintext boxed to the request's `reply_kx_public`.
    pub reencrypted: SealedBox,
}

/// What the enclave answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct LookupAnswer {
    /// The chain.
    pub chain_id: ChainId,
    /// [`LookupRequest::hash`] of the request answered.
    pub request_hash: Hash,
    /// The merchant.
    pub merchant_id: MerchantId,
    /// The requester's platform.
    pub platform_id: PlatformId,
    /// That platform's record, if it has one for this merchant.
    pub record: Option<AnsweredRecord>,
    /// The height of the state the records were read from.
    pub height: u64,
    /// The answering enclave's measurement.
    pub measurement: Measurement,
    /// Other platforms serving this merchant, by id only (sorted, unique).
    pub other_platforms: Vec<PlatformId>,
}

impl LookupAnswer {
    /// The bytes the enclave signs.
    pub fn sign_bytes(&self) -> Vec<u8> {
        let mut out = ANSWER_SIGN_DOMAIN.to_vec();
        out.extend_from_slice(&codec::encode(self));
        out
    }
}

/// An answer with the enclave's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct SignedAnswer {
    /// The answer.
    pub answer: LookupAnswer,
    /// The enclave signer's signature over [`LookupAnswer::sign_bytes`].
    pub signature: Signature,
}

impl SignedAnswer {
    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes at most [`MAX_SIGNED_ANSWER_BYTES`] (no verification: see [`verify_answer`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<SignedAnswer, QueryError> {
        Ok(codec::decode(bytes, MAX_SIGNED_ANSWER_BYTES)?)
    }
}

fn answer_aad(request_hash: &Hash, version: u64, ciphertext_hash: &Hash) -> Vec<u8> {
    let mut out = ANSWER_BOX_DOMAIN.to_vec();
    out.extend_from_slice(&request_hash.0);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&ciphertext_hash.0);
    out
}

/// Boxes a record's plaintext to the requester (inside the enclave).
pub(crate) fn reencrypt(
    request: &LookupRequest,
    request_hash: &Hash,
    version: u64,
    ciphertext_hash: Hash,
    plaintext: &[u8],
    rand: &BoxRandomness,
) -> Result<AnsweredRecord, QueryError> {
    let reencrypted = box_seal(
        ANSWER_BOX_DOMAIN,
        &request.reply_kx_public,
        rand,
        &answer_aad(request_hash, version, &ciphertext_hash),
        plaintext,
    )?;
    Ok(AnsweredRecord {
        version,
        ciphertext_hash,
        reencrypted,
    })
}

/// Client side: checks that `signed` answers the request hashed `expected_request_hash`, comes from the
/// enclave whose registered quote names `enclave_signer` and `expected_measurement`, and is well formed.
pub fn verify_answer(
    signed: &SignedAnswer,
    expected_request_hash: &Hash,
    enclave_signer: &PublicKey,
    expected_measurement: &Measurement,
) -> Result<(), QueryError> {
    let a = &signed.answer;
    enclave_signer
        .verify(&a.sign_bytes(), &signed.signature)
        .map_err(|_| QueryError::BadAnswerSignature(*enclave_signer))?;
    if &a.request_hash != expected_request_hash {
        return Err(QueryError::RequestMismatch {
            expected: *expected_request_hash,
            got: a.request_hash,
        });
    }
    if &a.measurement != expected_measurement {
        return Err(QueryError::MeasurementMismatch {
            expected: *expected_measurement,
            got: a.measurement,
        });
    }
    let sorted_unique = a.other_platforms.windows(2).all(|w| w[0] < w[1]);
    if !sorted_unique
        || a.other_platforms.len() > MAX_RECORDS_PER_MERCHANT
        || a.other_platforms.contains(&a.platform_id)
    {
        return Err(QueryError::BadPlatformList);
    }
    Ok(())
}

/// Client side: the plaintext of the requester's own record, or `None` when its platform has none for this
/// merchant. Call [`verify_answer`] first.
pub fn open_answer(
    reply_secret: &KxSecret,
    answer: &LookupAnswer,
) -> Result<Option<Zeroizing<Vec<u8>>>, QueryError> {
    let Some(record) = &answer.record else {
        return Ok(None);
    };
    if record.reencrypted.ciphertext.len() > MAX_RECORD_PLAINTEXT_BYTES + super::kx::TAG_LEN {
        return Err(QueryError::Authentication);
    }
    let aad = answer_aad(
        &answer.request_hash,
        record.version,
        &record.ciphertext_hash,
    );
    Ok(Some(box_open(
        ANSWER_BOX_DOMAIN,
        reply_secret,
        &record.reencrypted,
        &aad,
    )?))
}

/// Refuses stale, future and repeated lookups. Pure and bounded: it remembers the hashes of the lookups
/// answered within the last `window` blocks, at most `capacity` of them.
#[derive(Debug, Clone)]
pub struct ReplayGuard {
    window: u64,
    capacity: usize,
    seen: BTreeSet<(u64, Hash)>,
}

impl ReplayGuard {
    /// A guard accepting lookups issued at most `window` blocks ago, remembering at most `capacity`.
    pub fn new(window: u64, capacity: usize) -> ReplayGuard {
        ReplayGuard {
            window,
            capacity,
            seen: BTreeSet::new(),
        }
    }

    /// Checks that `request` (hashed `hash`) is fresh at `height` and was not answered; forgets lookups
    /// that fell out of the window.
    pub fn check(
        &mut self,
        request: &LookupRequest,
        hash: &Hash,
        height: u64,
    ) -> Result<(), QueryError> {
        let issued_at = request.issued_at_height;
        if issued_at > height.saturating_add(MAX_LOOKUP_FUTURE_SKEW) {
            return Err(QueryError::FromFuture { issued_at, height });
        }
        if height.saturating_sub(issued_at) > self.window {
            return Err(QueryError::Stale {
                issued_at,
                height,
                window: self.window,
            });
        }
        let oldest = height.saturating_sub(self.window);
        self.seen = self.seen.split_off(&(oldest, Hash::ZERO));
        if self.seen.contains(&(issued_at, *hash)) {
            return Err(QueryError::Replayed(*hash));
        }
        if self.seen.len() >= self.capacity {
            return Err(QueryError::Busy);
        }
        Ok(())
    }

    /// Remembers a lookup answered before (issued at `issued_at`, hashed `hash`), e.g. one the node
    /// kept on disk across a restart. Nothing is remembered past the capacity.
    pub fn remember(&mut self, issued_at: u64, hash: &Hash) {
        if self.seen.len() < self.capacity {
            self.seen.insert((issued_at, *hash));
        }
    }

    /// The window, in blocks.
    pub fn window(&self) -> u64 {
        self.window
    }

    /// Records `request` as answered (after a successful [`ReplayGuard::check`]).
    pub fn insert(&mut self, request: &LookupRequest, hash: &Hash) {
        self.seen.insert((request.issued_at_height, *hash));
    }

    /// [`ReplayGuard::check`] then [`ReplayGuard::insert`] in one step: a second copy of the
    /// request is a replay from now on, even while the first is still being answered.
    pub fn reserve(
        &mut self,
        request: &LookupRequest,
        hash: &Hash,
        height: u64,
    ) -> Result<(), QueryError> {
        self.check(request, hash, height)?;
        self.insert(request, hash);
        Ok(())
    }

    /// Forgets a reservation whose lookup was not answered.
    pub fn release(&mut self, request: &LookupRequest, hash: &Hash) {
        self.seen.remove(&(request.issued_at_height, *hash));
    }

    /// How many lookups are remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no lookup is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::enclave::records::tests::{merchant, platform};

    fn request(height: u64, nonce: u8) -> LookupRequest {
        LookupRequest {
            chain_id: ChainId::new("c"),
            merchant_id: merchant(1),
            platform_id: platform("p"),
            requester: SecretKey::from_seed([1; 32]).public_key(),
            reply_kx_public: KxSecret::from_seed([2; 32]).public_key(),
            nonce: [nonce; LOOKUP_NONCE_LEN],
            issued_at_height: height,
            enclave: SecretKey::from_seed([3; 32]).public_key(),
        }
    }

    #[test]
    fn lookup_signature_and_codec() {
        let signed = request(10, 0).sign(&SecretKey::from_seed([1; 32]));
        assert_eq!(signed.verify_signature(), Ok(()));
        let bytes = signed.to_bytes();
        assert!(bytes.len() <= MAX_SIGNED_LOOKUP_BYTES);
        assert_eq!(SignedLookup::from_bytes(&bytes).unwrap(), signed);
        let forged = request(10, 0).sign(&SecretKey::from_seed([3; 32]));
        assert!(matches!(
            forged.verify_signature(),
            Err(QueryError::BadRequestSignature(_))
        ));
    }

    #[test]
    fn replay_guard_windows_and_replays() {
        let mut g = ReplayGuard::new(10, 3);
        let r = request(100, 0);
        let h = r.hash();
        assert_eq!(g.check(&r, &h, 100), Ok(()));
        g.insert(&r, &h);
        assert_eq!(g.check(&r, &h, 101), Err(QueryError::Replayed(h)));
        assert!(matches!(
            g.check(&r, &h, 111),
            Err(QueryError::Stale { .. })
        ));
        assert!(matches!(
            g.check(&request(106, 1), &request(106, 1).hash(), 100),
            Err(QueryError::FromFuture { .. })
        ));
        assert_eq!(
            g.check(&request(105, 1), &request(105, 1).hash(), 100),
            Ok(())
        );
        for n in 1..3 {
            let r = request(100, n);
            g.insert(&r, &r.hash());
        }
        let r4 = request(100, 9);
        assert_eq!(g.check(&r4, &r4.hash(), 100), Err(QueryError::Busy));
        // Entries older than the window are forgotten.
        let r5 = request(120, 9);
        assert_eq!(g.check(&r5, &r5.hash(), 120), Ok(()));
        assert!(g.is_empty());
    }
}
