//! Consensus types for Malachite, instantiated for paychain.

use std::fmt;

use paychain_contracts::commit;
use paychain_contracts::crypto::{Hash, PublicKey as CPublicKey};
use paychain_contracts::ids::ChainId;

use super::scheme::{Ed25519, PublicKey};
use borsh::{BorshDeserialize, BorshSerialize};
use malachitebft_core_types as mc;
use malachitebft_core_types::{LinearTimeouts, NilOrVal, Round, SignedExtension, VoteType};

/// A block height. Height 0 is the genesis state; the first block is height 1.
#[derive(
    Copy,
    Clone,
    Default,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
)]
pub struct Height(pub u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl mc::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);

    fn increment_by(&self, n: u64) -> Self {
        Height(self.0.saturating_add(n))
    }

    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }

    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// A validator's consensus address: its ed25519 public key bytes.
#[derive(
    Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
pub struct Address(pub [u8; 32]);

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl mc::Address for Address {}

/// The id of a proposed value: the block hash.
#[derive(
    Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
pub struct BlockHash(pub [u8; 32]);

impl fmt::Display for BlockHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// The value consensus decides on. It is just the block hash, so that value equality and
/// value-id equality coincide (a mismatch there stalled heights when this was tried).
#[derive(
    Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
pub struct BlockValue(pub BlockHash);

impl mc::Value for BlockValue {
    type Id = BlockHash;

    fn id(&self) -> BlockHash {
        self.0
    }
}

/// A member of the validator set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    pub address: Address,
    pub public_key: PublicKey,
    pub voting_power: u64,
}

impl Validator {
    pub fn new(public_key: PublicKey, voting_power: u64) -> Self {
        Self {
            address: Address(*public_key.as_bytes()),
            public_key,
            voting_power,
        }
    }
}

impl mc::Validator<PaychainContext> for Validator {
    fn address(&self) -> &Address {
        &self.address
    }

    fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    fn voting_power(&self) -> mc::VotingPower {
        self.voting_power
    }
}

/// The validator set, sorted by address so every node indexes it identically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatorSet {
    validators: Vec<Validator>,
}

impl ValidatorSet {
    /// Builds a set; duplicates (by address) keep the first occurrence.
    pub fn new(mut validators: Vec<Validator>) -> Self {
        validators.sort_by_key(|v| v.address);
        validators.dedup_by(|a, b| a.address == b.address);
        Self { validators }
    }

    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }
}

impl mc::ValidatorSet<PaychainContext> for ValidatorSet {
    fn count(&self) -> usize {
        self.validators.len()
    }

    fn total_voting_power(&self) -> mc::VotingPower {
        self.validators.iter().map(|v| v.voting_power).sum()
    }

    fn get_by_address(&self, address: &Address) -> Option<&Validator> {
        self.validators
            .binary_search_by(|v| v.address.cmp(address))
            .ok()
            .and_then(|i| self.validators.get(i))
    }

    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.validators.get(index)
    }
}

/// A signed-over proposal: (height, round, block hash, POL round, proposer).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Proposal {
    pub height: Height,
    pub round: Round,
    pub value: BlockValue,
    pub pol_round: Round,
    pub validator_address: Address,
}

impl Proposal {
    /// The bytes a proposer signs on chain `chain_id`.
    pub fn to_sign_bytes(&self, chain_id: &ChainId) -> Vec<u8> {
        sign_bytes(b"paychain/proposal/v2", chain_id, self)
    }
}

impl mc::Proposal<PaychainContext> for Proposal {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &BlockValue {
        &self.value
    }

    fn take_value(self) -> BlockValue {
        self.value
    }

    fn pol_round(&self) -> Round {
        self.pol_round
    }

    fn validator_address(&self) -> &Address {
        &self.validator_address
    }
}

/// A prevote or precommit. paychain does not use vote extensions.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Vote {
    pub typ: VoteType,
    pub height: Height,
    pub round: Round,
    pub value: NilOrVal<BlockHash>,
    pub validator_address: Address,
}

impl Vote {
    /// The bytes a validator signs: `paychain_contracts::commit::vote_sign_bytes`, so commits
    /// can be verified offline without the engine.
    pub fn to_sign_bytes(&self, chain_id: &ChainId) -> Vec<u8> {
        let kind = match self.typ {
            VoteType::Prevote => commit::PREVOTE,
            VoteType::Precommit => commit::PRECOMMIT,
        };
        let value = match &self.value {
            NilOrVal::Nil => None,
            NilOrVal::Val(h) => Some(Hash(h.0)),
        };
        commit::vote_sign_bytes(
            chain_id,
            kind,
            self.height.0,
            self.round.as_i64(),
            value.as_ref(),
            &CPublicKey(self.validator_address.0),
        )
    }
}

impl mc::Vote<PaychainContext> for Vote {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        self.round
    }

    fn value(&self) -> &NilOrVal<BlockHash> {
        &self.value
    }

    fn take_value(self) -> NilOrVal<BlockHash> {
        self.value
    }

    fn vote_type(&self) -> VoteType {
        self.typ
    }

    fn validator_address(&self) -> &Address {
        &self.validator_address
    }

    fn extension(&self) -> Option<&SignedExtension<PaychainContext>> {
        None
    }

    fn take_extension(&mut self) -> Option<SignedExtension<PaychainContext>> {
        None
    }

    fn extend(self, _extension: SignedExtension<PaychainContext>) -> Self {
        self
    }
}

/// First part of a streamed proposal: who proposes what, where.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ProposalInit {
    pub height: Height,
    pub round: Round,
    pub pol_round: Round,
    pub proposer: Address,
    pub block_hash: BlockHash,
    /// Length of the encoded block, so a receiver can refuse an oversize stream early.
    pub block_len: u32,
}

/// Last part of a streamed proposal: the proposer's signature over the init fields.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ProposalFin {
    pub signature: Vec<u8>,
}

/// A part of a streamed block proposal.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ProposalPart {
    Init(ProposalInit),
    Data(Vec<u8>),
    Fin(ProposalFin),
}

impl ProposalInit {
    /// The bytes the proposer signs in [`ProposalFin`], on chain `chain_id`.
    pub fn to_sign_bytes(&self, chain_id: &ChainId) -> Vec<u8> {
        sign_bytes(b"paychain/proposal-parts/v2", chain_id, self)
    }
}

impl mc::ProposalPart<PaychainContext> for ProposalPart {
    fn is_first(&self) -> bool {
        matches!(self, ProposalPart::Init(_))
    }

    fn is_last(&self) -> bool {
        matches!(self, ProposalPart::Fin(_))
    }
}

/// The domain, the chain id (u32 LE length, then its bytes), then the value's borsh encoding: a
/// signature made for one chain is worthless on another.
fn sign_bytes<T: BorshSerialize>(domain: &[u8], chain_id: &ChainId, value: &T) -> Vec<u8> {
    let mut out = domain.to_vec();
    out.extend_from_slice(&(chain_id.0.len() as u32).to_le_bytes());
    out.extend_from_slice(chain_id.0.as_bytes());
    // Serialising into a Vec cannot fail.
    let _ = value.serialize(&mut out);
    out
}

/// paychain's consensus context: round-robin proposer over the sorted validator set.
#[derive(Clone, Debug, Default)]
pub struct PaychainContext;

impl mc::Context for PaychainContext {
    type Address = Address;
    type Height = Height;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Timeouts = LinearTimeouts;
    type Value = BlockValue;
    type Vote = Vote;
    type Extension = Vec<u8>;
    type SigningScheme = Ed25519;

    fn select_proposer<'a>(
        &self,
        validator_set: &'a ValidatorSet,
        height: Height,
        round: Round,
    ) -> &'a Validator {
        let n = validator_set.validators.len().max(1) as u64;
        let round = u64::try_from(round.as_i64()).unwrap_or(0);
        let index = (height.0.saturating_sub(1).wrapping_add(round) % n) as usize;
        // The engine never runs with an empty validator set (genesis validation refuses it).
        &validator_set.validators[index]
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        value: BlockValue,
        pol_round: Round,
        address: Address,
    ) -> Proposal {
        Proposal {
            height,
            round,
            value,
            pol_round,
            validator_address: address,
        }
    }

    fn new_prevote(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<BlockHash>,
        address: Address,
    ) -> Vote {
        Vote {
            typ: VoteType::Prevote,
            height,
            round,
            value: value_id,
            validator_address: address,
        }
    }

    fn new_precommit(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<BlockHash>,
        address: Address,
    ) -> Vote {
        Vote {
            typ: VoteType::Precommit,
            height,
            round,
            value: value_id,
            validator_address: address,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::consensus::scheme::PrivateKey;
    use malachitebft_core_types::{Context, ValidatorSet as _};

    fn set(n: u8) -> ValidatorSet {
        ValidatorSet::new(
            (0..n)
                .map(|i| Validator::new(PrivateKey::from_seed([i + 1; 32]).public_key(), 1))
                .collect(),
        )
    }

    #[test]
    fn proposer_rotates_over_heights_and_rounds() {
        let vs = set(4);
        let ctx = PaychainContext;
        let p = |h, r| ctx.select_proposer(&vs, Height(h), Round::new(r)).address;
        assert_eq!(p(1, 0), vs.get_by_index(0).unwrap().address);
        assert_eq!(p(2, 0), vs.get_by_index(1).unwrap().address);
        assert_eq!(p(1, 1), vs.get_by_index(1).unwrap().address);
        assert_eq!(p(5, 0), vs.get_by_index(0).unwrap().address);
    }

    #[test]
    fn validator_lookup_by_address() {
        let vs = set(4);
        for v in vs.validators() {
            assert_eq!(vs.get_by_address(&v.address), Some(v));
        }
        assert!(vs.get_by_address(&Address([0; 32])).is_none());
        assert_eq!(vs.total_voting_power(), 4);
    }
}
