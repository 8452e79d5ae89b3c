//! The audit trail of lookups a platform can read: one hash-chained list of entries per platform on
//! each node, and the signed request that reads it.
//!
//! ```text
//! node, per authenticated lookup of P's records (signature valid, role at P granted):
//!   AuditEntry { seq, height, platform P, requester, merchant, request hash, outcome, prev_hash }
//!   prev_hash = hash of entry seq-1, or audit_origin(P) for seq 0 (no plaintext in any field)
//! retention: the oldest entries are pruned; AuditAnchor { first_seq, prev_hash } keeps the hash the
//!   first kept entry must chain to, so what is kept still verifies
//! P's key: SignedAuditRequest { chain, P, requester, enclave, from_seq, limit, nonce, issued_at_height }
//!   ─► paychain_enclaveAudit ─► AuditPage { anchor, entries, next_seq } ─► verify_chain
//! ```
//!
//! Only P's own member key reads P's trail (not its hosted users, not another platform). The node keeps
//! the trail; the chain makes it tamper-evident, not secret from the node's operator.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use super::kx::hex_array;
use super::query::LOOKUP_NONCE_LEN;
use crate::primitives::codec;
use crate::primitives::crypto::{sha256, Hash, PublicKey, SecretKey, Signature};
use crate::primitives::ids::{ChainId, MerchantId, PlatformId};

/// Most entries one page holds.
pub const MAX_AUDIT_PAGE: u32 = 1000;
/// Longest outcome text of an entry, in bytes.
pub const MAX_AUDIT_OUTCOME_BYTES: usize = 256;
/// Largest encoded [`SignedAuditRequest`] accepted.
pub const MAX_SIGNED_AUDIT_REQUEST_BYTES: usize = 512;

const ENTRY_DOMAIN: &[u8] = b"paychain/enclave/audit-entry/v1";
const ORIGIN_DOMAIN: &[u8] = b"paychain/enclave/audit-origin/v1";
const REQUEST_DOMAIN: &[u8] = b"paychain/enclave/audit-request/v1";

/// One authenticated lookup of a platform's records, as the answering node saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct AuditEntry {
    /// Position in the platform's trail (0, 1, ...; never reused, also across restarts).
    pub seq: u64,
    /// The node's committed height when the lookup was handled.
    pub height: u64,
    /// The platform whose records were asked for.
    pub platform_id: PlatformId,
    /// The requester's key (the platform's key or one of its users').
    pub requester: PublicKey,
    /// The merchant looked up.
    pub merchant_id: MerchantId,
    /// [`super::LookupRequest::hash`] of the lookup.
    pub request_hash: Hash,
    /// `answered`, `answered: no record`, or `refused: <reason>` (no plaintext).
    pub outcome: String,
    /// [`AuditEntry::hash`] of the previous entry, or [`audit_origin`] for the first.
    pub prev_hash: Hash,
}

impl AuditEntry {
    /// `sha256(domain ‖ borsh(entry))`: what the next entry's `prev_hash` is.
    pub fn hash(&self) -> Hash {
        sha256(&[ENTRY_DOMAIN, &codec::encode(self)])
    }
}

/// The `prev_hash` of a platform's first entry.
pub fn audit_origin(platform: &PlatformId) -> Hash {
    sha256(&[ORIGIN_DOMAIN, platform.as_str().as_bytes()])
}

/// Where a platform's kept trail starts: its first kept entry's `seq` and the hash it chains to
/// ([`audit_origin`] until something was pruned, then the last pruned entry's hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct AuditAnchor {
    /// The first kept entry's sequence number (the next one to be written when none is kept).
    pub first_seq: u64,
    /// The hash that entry's `prev_hash` must be.
    pub prev_hash: Hash,
}

impl AuditAnchor {
    /// The anchor of a trail nothing was pruned from.
    pub fn origin(platform: &PlatformId) -> AuditAnchor {
        AuditAnchor {
            first_seq: 0,
            prev_hash: audit_origin(platform),
        }
    }
}

/// One page of a platform's trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    /// The platform.
    pub platform_id: PlatformId,
    /// Where the kept trail starts.
    pub anchor: AuditAnchor,
    /// Entries from `max(from_seq, anchor.first_seq)`, in order, at most the request's limit.
    pub entries: Vec<AuditEntry>,
    /// The sequence number the next entry written will get.
    pub next_seq: u64,
}

/// Why a trail or a request does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    /// An entry of another platform.
    #[error("audit entry {seq} is for platform {got}, expected {expected}")]
    WrongPlatform {
        /// The entry.
        seq: u64,
        /// The platform asked for.
        expected: PlatformId,
        /// The entry's platform.
        got: PlatformId,
    },
    /// A gap or a reordering.
    #[error("audit trail broken: expected entry {expected}, got entry {got}")]
    Gap {
        /// The sequence number expected.
        expected: u64,
        /// The one found.
        got: u64,
    },
    /// An entry does not chain to the one before it (or to the anchor).
    #[error("audit trail broken at entry {seq}: its prev_hash {got} is not {expected}")]
    BrokenLink {
        /// The entry.
        seq: u64,
        /// The hash it should chain to.
        expected: Hash,
        /// Its prev_hash.
        got: Hash,
    },
    /// The page says the trail goes on past what it holds, inconsistently.
    #[error("audit page ends at entry {last} but says the next is {next}")]
    BadHead {
        /// One past the last entry of the page.
        last: u64,
        /// The page's `next_seq`.
        next: u64,
    },
    /// The request's signature does not verify.
    #[error("audit request signature does not verify for requester {0}")]
    BadSignature(PublicKey),
    /// The bytes are not a signed audit request.
    #[error("malformed audit request: {0}")]
    Malformed(#[from] codec::Error),
}

/// Checks that `entries` continue a trail of `platform` whose last verified point is entry
/// `expected_seq - 1` with hash `prev_hash` (for the first page: the anchor's `first_seq` and
/// `prev_hash`). Returns the sequence number and hash the next entry must continue from.
pub fn verify_chain(
    platform: &PlatformId,
    mut expected_seq: u64,
    mut prev_hash: Hash,
    entries: &[AuditEntry],
) -> Result<(u64, Hash), AuditError> {
    for e in entries {
        if &e.platform_id != platform {
            return Err(AuditError::WrongPlatform {
                seq: e.seq,
                expected: platform.clone(),
                got: e.platform_id.clone(),
            });
        }
        if e.seq != expected_seq {
            return Err(AuditError::Gap {
                expected: expected_seq,
                got: e.seq,
            });
        }
        if e.prev_hash != prev_hash {
            return Err(AuditError::BrokenLink {
                seq: e.seq,
                expected: prev_hash,
                got: e.prev_hash,
            });
        }
        prev_hash = e.hash();
        expected_seq = expected_seq.saturating_add(1);
    }
    Ok((expected_seq, prev_hash))
}

/// A platform's request for its audit trail on one node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct AuditRequest {
    /// The chain.
    pub chain_id: ChainId,
    /// The platform whose trail is read.
    pub platform_id: PlatformId,
    /// The platform's member key (it signs).
    pub requester: PublicKey,
    /// The signer key of the answering node's enclave: no other node answers this request.
    pub enclave: PublicKey,
    /// The first entry wanted.
    pub from_seq: u64,
    /// How many entries at most (≤ [`MAX_AUDIT_PAGE`]).
    pub limit: u32,
    /// Fresh random bytes: every request is answered once.
    #[serde(with = "hex_array")]
    pub nonce: [u8; LOOKUP_NONCE_LEN],
    /// The chain height the client saw (bounds the window in which it is answered).
    pub issued_at_height: u64,
}

impl AuditRequest {
    /// The bytes the requester signs.
    pub fn sign_bytes(&self) -> Vec<u8> {
        let mut out = REQUEST_DOMAIN.to_vec();
        out.extend_from_slice(&codec::encode(self));
        out
    }

    /// The request's identity (for the replay guard).
    pub fn hash(&self) -> Hash {
        sha256(&[&self.sign_bytes()])
    }

    /// Signs as `requester`.
    pub fn sign(self, requester: &SecretKey) -> SignedAuditRequest {
        let signature = requester.sign(&self.sign_bytes());
        SignedAuditRequest {
            request: self,
            signature,
        }
    }
}

/// An audit request with the requester's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct SignedAuditRequest {
    /// The request.
    pub request: AuditRequest,
    /// The requester's signature over [`AuditRequest::sign_bytes`].
    pub signature: Signature,
}

impl SignedAuditRequest {
    /// Checks the requester's signature.
    pub fn verify_signature(&self) -> Result<(), AuditError> {
        self.request
            .requester
            .verify(&self.request.sign_bytes(), &self.signature)
            .map_err(|_| AuditError::BadSignature(self.request.requester))
    }

    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes at most [`MAX_SIGNED_AUDIT_REQUEST_BYTES`] (no verification).
    pub fn from_bytes(bytes: &[u8]) -> Result<SignedAuditRequest, AuditError> {
        Ok(codec::decode(bytes, MAX_SIGNED_AUDIT_REQUEST_BYTES)?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn platform(s: &str) -> PlatformId {
        PlatformId::new(s).unwrap()
    }

    fn trail(p: &PlatformId, n: u64) -> Vec<AuditEntry> {
        let mut prev = audit_origin(p);
        (0..n)
            .map(|seq| {
                let e = AuditEntry {
                    seq,
                    height: 10 + seq,
                    platform_id: p.clone(),
                    requester: SecretKey::from_seed([1; 32]).public_key(),
                    merchant_id: MerchantId::derive(&SecretKey::from_seed([2; 32]).public_key()),
                    request_hash: Hash::digest(&seq.to_le_bytes()),
                    outcome: "answered".into(),
                    prev_hash: prev,
                };
                prev = e.hash();
                e
            })
            .collect()
    }

    #[test]
    fn a_whole_trail_verifies_and_any_change_breaks_it() {
        let p = platform("p");
        let t = trail(&p, 5);
        let (next, head) = verify_chain(&p, 0, audit_origin(&p), &t).unwrap();
        assert_eq!((next, head), (5, t[4].hash()));
        // In two pages.
        let (n, h) = verify_chain(&p, 0, audit_origin(&p), &t[..2]).unwrap();
        assert_eq!(verify_chain(&p, n, h, &t[2..]).unwrap(), (5, head));
        // A dropped entry, an edited one, a reordering, another platform's origin.
        let mut dropped = t.clone();
        dropped.remove(2);
        assert!(matches!(
            verify_chain(&p, 0, audit_origin(&p), &dropped),
            Err(AuditError::Gap {
                expected: 2,
                got: 3
            })
        ));
        let mut edited = t.clone();
        edited[1].merchant_id = MerchantId::derive(&SecretKey::from_seed([3; 32]).public_key());
        assert!(matches!(
            verify_chain(&p, 0, audit_origin(&p), &edited),
            Err(AuditError::BrokenLink { seq: 2, .. })
        ));
        assert!(matches!(
            verify_chain(&platform("q"), 0, audit_origin(&platform("q")), &t),
            Err(AuditError::WrongPlatform { .. })
        ));
        // A pruned prefix: the kept part verifies from the anchor.
        let anchor = AuditAnchor {
            first_seq: 3,
            prev_hash: t[2].hash(),
        };
        assert_eq!(
            verify_chain(&p, anchor.first_seq, anchor.prev_hash, &t[3..]).unwrap(),
            (5, head)
        );
        assert!(verify_chain(&p, anchor.first_seq, audit_origin(&p), &t[3..]).is_err());
    }

    #[test]
    fn audit_request_signature_and_codec() {
        let key = SecretKey::from_seed([1; 32]);
        let req = AuditRequest {
            chain_id: ChainId::new("c"),
            platform_id: platform("p"),
            requester: key.public_key(),
            enclave: SecretKey::from_seed([2; 32]).public_key(),
            from_seq: 0,
            limit: 10,
            nonce: [7; LOOKUP_NONCE_LEN],
            issued_at_height: 5,
        };
        let signed = req.clone().sign(&key);
        signed.verify_signature().unwrap();
        let back = SignedAuditRequest::from_bytes(&signed.to_bytes()).unwrap();
        assert_eq!(back, signed);
        let forged = req.sign(&SecretKey::from_seed([3; 32]));
        assert!(matches!(
            forged.verify_signature(),
            Err(AuditError::BadSignature(_))
        ));
        assert!(SignedAuditRequest::from_bytes(&[1, 2, 3]).is_err());
    }
}
