//! Commit certificates that anyone can verify offline against the validator set.
//!
//! Validators sign their consensus votes over [`vote_sign_bytes`]; the node's consensus types use
//! exactly these bytes, so a block's commit (the precommits of more than 2/3 of the voting
//! power for its hash) can be checked here without the consensus engine. The chain id is part of
//! every signed vote (as in CometBFT's canonical votes), so a validator key used on two chains cannot
//! have a vote of one replayed on the other.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::chain::validators::GenesisValidator;
use crate::primitives::crypto::{Hash, PublicKey, Signature};
use crate::primitives::ids::ChainId;

/// Vote kinds as signed.
pub const PREVOTE: u8 = 1;
/// Vote kinds as signed.
pub const PRECOMMIT: u8 = 2;

const VOTE_DOMAIN: &[u8] = b"paychain/vote/v2";

/// The bytes a validator signs for a vote on chain `chain_id`: the domain, the chain id (u32 LE
/// length, then its bytes), the kind, height and round (big endian), the value (0, or 1 and the
/// hash) and the validator. `round` is -1 for "no round"; `value` is `None` for a vote for nil.
pub fn vote_sign_bytes(
    chain_id: &ChainId,
    kind: u8,
    height: u64,
    round: i64,
    value: Option<&Hash>,
    validator: &PublicKey,
) -> Vec<u8> {
    let chain = chain_id.0.as_bytes();
    let mut out = Vec::with_capacity(VOTE_DOMAIN.len() + 4 + chain.len() + 1 + 8 + 8 + 33 + 32);
    out.extend_from_slice(VOTE_DOMAIN);
    out.extend_from_slice(&(chain.len() as u32).to_le_bytes());
    out.extend_from_slice(chain);
    out.push(kind);
    out.extend_from_slice(&height.to_be_bytes());
    out.extend_from_slice(&round.to_be_bytes());
    match value {
        None => out.push(0),
        Some(h) => {
            out.push(1);
            out.extend_from_slice(&h.0);
        }
    }
    out.extend_from_slice(&validator.0);
    out
}

/// One validator's precommit signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct CommitSignature {
    pub validator: PublicKey,
    pub signature: Signature,
}

/// The precommits that decided a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Commit {
    pub height: u64,
    pub round: i64,
    /// The decided block's hash (its header hash).
    pub block_hash: Hash,
    pub signatures: Vec<CommitSignature>,
}

/// Why a commit does not prove a decision.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitError {
    #[error("signature by {0}, which is not in the validator set")]
    UnknownValidator(PublicKey),
    #[error("validator {0} signed twice")]
    Duplicate(PublicKey),
    #[error("invalid precommit signature by validator {0}")]
    BadSignature(PublicKey),
    #[error("commit is for block {got}, expected {expected}")]
    WrongBlock { expected: Hash, got: Hash },
    #[error("signers hold {signed} of {total} voting power; more than 2/3 is required")]
    InsufficientPower { signed: u64, total: u64 },
}

impl Commit {
    /// Checks that more than 2/3 of `validators`' power precommitted `block_hash` on `chain_id`.
    pub fn verify(
        &self,
        chain_id: &ChainId,
        block_hash: &Hash,
        validators: &[GenesisValidator],
    ) -> Result<(), CommitError> {
        if self.block_hash != *block_hash {
            return Err(CommitError::WrongBlock {
                expected: *block_hash,
                got: self.block_hash,
            });
        }
        let total: u64 = validators.iter().map(|v| v.power).sum();
        let mut seen: Vec<PublicKey> = Vec::with_capacity(self.signatures.len());
        let mut signed: u64 = 0;
        for s in &self.signatures {
            let v = validators
                .iter()
                .find(|v| v.public_key == s.validator)
                .ok_or(CommitError::UnknownValidator(s.validator))?;
            if seen.contains(&s.validator) {
                return Err(CommitError::Duplicate(s.validator));
            }
            seen.push(s.validator);
            let msg = vote_sign_bytes(
                chain_id,
                PRECOMMIT,
                self.height,
                self.round,
                Some(&self.block_hash),
                &s.validator,
            );
            s.validator
                .verify(&msg, &s.signature)
                .map_err(|_| CommitError::BadSignature(s.validator))?;
            signed = signed.saturating_add(v.power);
        }
        // signed > 2/3 total, without overflow or rounding.
        if (signed as u128) * 3 <= (total as u128) * 2 {
            return Err(CommitError::InsufficientPower { signed, total });
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::primitives::crypto::SecretKey;

    fn chain() -> ChainId {
        ChainId::new("commit-test")
    }

    fn setup(n: u8) -> (Vec<SecretKey>, Vec<GenesisValidator>) {
        let keys: Vec<SecretKey> = (1..=n).map(|i| SecretKey::from_seed([i; 32])).collect();
        let vals = keys
            .iter()
            .enumerate()
            .map(|(i, k)| GenesisValidator {
                name: format!("v{i}"),
                public_key: k.public_key(),
                power: 1,
            })
            .collect();
        (keys, vals)
    }

    fn commit(keys: &[SecretKey], block: Hash) -> Commit {
        Commit {
            height: 9,
            round: 0,
            block_hash: block,
            signatures: keys
                .iter()
                .map(|k| CommitSignature {
                    validator: k.public_key(),
                    signature: k.sign(&vote_sign_bytes(
                        &chain(),
                        PRECOMMIT,
                        9,
                        0,
                        Some(&block),
                        &k.public_key(),
                    )),
                })
                .collect(),
        }
    }

    #[test]
    fn a_commit_signed_on_another_chain_does_not_verify() {
        let (keys, vals) = setup(4);
        let block = Hash::digest(b"block");
        let c = commit(&keys, block);
        c.verify(&chain(), &block, &vals).unwrap();
        assert!(matches!(
            c.verify(&ChainId::new("another-chain"), &block, &vals),
            Err(CommitError::BadSignature(_))
        ));
    }

    #[test]
    fn needs_more_than_two_thirds() {
        let (keys, vals) = setup(4);
        let block = Hash::digest(b"block");
        commit(&keys[..3], block)
            .verify(&chain(), &block, &vals)
            .unwrap();
        let e = commit(&keys[..2], block)
            .verify(&chain(), &block, &vals)
            .unwrap_err();
        assert_eq!(
            e,
            CommitError::InsufficientPower {
                signed: 2,
                total: 4
            }
        );
    }

    #[test]
    fn tampering_is_detected() {
        let (keys, vals) = setup(4);
        let block = Hash::digest(b"block");
        let mut c = commit(&keys[..3], block);
        c.signatures[1].signature.0[0] ^= 1;
        assert!(matches!(
            c.verify(&chain(), &block, &vals),
            Err(CommitError::BadSignature(_))
        ));
        let mut c = commit(&keys[..3], block);
        c.signatures.push(c.signatures[0].clone());
        assert!(matches!(
            c.verify(&chain(), &block, &vals),
            Err(CommitError::Duplicate(_))
        ));
        let c = commit(&keys[..3], block);
        let other = Hash::digest(b"other");
        assert!(matches!(
            c.verify(&chain(), &other, &vals),
            Err(CommitError::WrongBlock { .. })
        ));
        let (outsiders, _) = setup(6);
        let c = commit(&outsiders[4..], block);
        assert!(matches!(
            c.verify(&chain(), &block, &vals),
            Err(CommitError::UnknownValidator(_))
        ));
        // A signature over another height does not count.
        let mut c = commit(&keys[..3], block);
        c.height = 10;
        assert!(matches!(
            c.verify(&chain(), &block, &vals),
            Err(CommitError::BadSignature(_))
        ));
    }
}
