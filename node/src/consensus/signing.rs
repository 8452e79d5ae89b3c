//! ed25519 signing for consensus messages (ZIP-215 verification through `ed25519-zebra`,
//! the same rule the chain uses for transactions). Every signed message includes the chain id.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use super::scheme::{PrivateKey, PublicKey, Signature};
use async_trait::async_trait;
use malachitebft_core_types::{SignedMessage, ValidatorProof, VoteExtensionScope};
use malachitebft_signing::{Error, Signer, VerificationResult, Verifier};

use paychain_contracts::ids::ChainId;

use super::types::{PaychainContext, Proposal, Vote};

/// Verifies consensus signatures made on one chain.
#[derive(Clone, Debug)]
pub struct ConsensusVerifier {
    chain_id: ChainId,
    bindings: PeerBindings,
}

impl ConsensusVerifier {
    pub fn new(chain_id: ChainId) -> Self {
        Self {
            chain_id,
            bindings: PeerBindings::default(),
        }
    }

    /// Records in `bindings` the peer of every validator whose proof verifies.
    pub fn with_bindings(mut self, bindings: PeerBindings) -> Self {
        self.bindings = bindings;
        self
    }
}

/// Most peers recorded per validator (the same key run on two nodes has two).
const MAX_PEERS_PER_VALIDATOR: usize = 4;

/// Which libp2p peers speak for which validator, learned from the validator proofs Malachite hands
/// our verifier when a peer connects (`verify_validator_proof`): a proof is the validator's
/// signature over its consensus key and the peer id, and Malachite's network layer has checked that
/// the peer id is the connection's. Only keys of our validator set are recorded, at most
/// [`MAX_PEERS_PER_VALIDATOR`] peers each (the newest kept).
#[derive(Clone, Debug, Default)]
pub struct PeerBindings(Arc<RwLock<Bindings>>);

#[derive(Debug, Default)]
struct Bindings {
    validators: BTreeSet<[u8; 32]>,
    peers: BTreeMap<[u8; 32], Vec<Vec<u8>>>,
}

impl PeerBindings {
    /// Bindings for the validators whose consensus keys are `validators`.
    pub fn new(validators: impl IntoIterator<Item = [u8; 32]>) -> Self {
        PeerBindings(Arc::new(RwLock::new(Bindings {
            validators: validators.into_iter().collect(),
            peers: BTreeMap::new(),
        })))
    }

    /// Records that `peer` (libp2p peer id bytes) speaks for the validator of `public_key`.
    pub fn bind(&self, public_key: &[u8], peer: &[u8]) {
        let Ok(key) = <[u8; 32]>::try_from(public_key) else {
            return;
        };
        let mut b = self.0.write().unwrap_or_else(|p| p.into_inner());
        if !b.validators.contains(&key) {
            return;
        }
        let peers = b.peers.entry(key).or_default();
        peers.retain(|p| p.as_slice() != peer);
        peers.push(peer.to_vec());
        if peers.len() > MAX_PEERS_PER_VALIDATOR {
            peers.remove(0);
        }
    }

    /// Whether `peer` may publish for the validator of `public_key`: yes when it is one of its
    /// recorded peers, or when none is recorded yet (its proof has not reached us).
    pub fn may_publish_for(&self, public_key: &[u8; 32], peer: &[u8]) -> bool {
        let b = self.0.read().unwrap_or_else(|p| p.into_inner());
        b.peers
            .get(public_key)
            .is_none_or(|peers| peers.iter().any(|p| p.as_slice() == peer))
    }
}

/// A validator's consensus signing key, for one chain.
pub struct ConsensusKeys {
    key: PrivateKey,
    verifier: ConsensusVerifier,
}

impl std::fmt::Debug for ConsensusKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConsensusKeys(..)")
    }
}

impl ConsensusKeys {
    pub fn from_seed(seed: [u8; 32], chain_id: ChainId) -> Self {
        Self {
            key: PrivateKey::from_seed(seed),
            verifier: ConsensusVerifier::new(chain_id),
        }
    }

    pub fn public_key(&self) -> PublicKey {
        self.key.public_key()
    }

    pub fn sign(&self, msg: &[u8]) -> Signature {
        self.key.sign(msg)
    }
}

fn verify(msg: &[u8], signature: &Signature, public_key: &PublicKey) -> VerificationResult {
    VerificationResult::from_bool(public_key.verify(msg, signature).is_ok())
}

fn extension_bytes(
    chain_id: &ChainId,
    scope: &VoteExtensionScope<PaychainContext>,
    extension: &[u8],
) -> Vec<u8> {
    let mut out = b"paychain/vote-extension/v2".to_vec();
    out.extend_from_slice(&(chain_id.0.len() as u32).to_le_bytes());
    out.extend_from_slice(chain_id.0.as_bytes());
    out.extend_from_slice(&scope.height.0.to_be_bytes());
    out.extend_from_slice(&scope.round.as_i64().to_be_bytes());
    out.extend_from_slice(&scope.value_id.0);
    out.extend_from_slice(extension);
    out
}

#[async_trait]
impl Verifier<PaychainContext> for ConsensusVerifier {
    async fn verify_signed_vote(
        &self,
        vote: &Vote,
        signature: &Signature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        Ok(verify(
            &vote.to_sign_bytes(&self.chain_id),
            signature,
            public_key,
        ))
    }

    async fn verify_signed_proposal(
        &self,
        proposal: &Proposal,
        signature: &Signature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        Ok(verify(
            &proposal.to_sign_bytes(&self.chain_id),
            signature,
            public_key,
        ))
    }

    async fn verify_signed_vote_extension(
        &self,
        scope: &VoteExtensionScope<PaychainContext>,
        extension: &Vec<u8>,
        signature: &Signature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        Ok(verify(
            &extension_bytes(&self.chain_id, scope, extension),
            signature,
            public_key,
        ))
    }

    async fn verify_validator_proof(
        &self,
        proof: &ValidatorProof<PaychainContext>,
    ) -> Result<VerificationResult, Error> {
        let Ok(public_key) = proof.decoded_public_key() else {
            return Ok(VerificationResult::Invalid);
        };
        let result = verify(&proof.preimage(), &proof.signature, &public_key);
        if result.is_valid() {
            self.bindings.bind(&proof.public_key, &proof.peer_id);
        }
        Ok(result)
    }
}

#[async_trait]
impl Verifier<PaychainContext> for ConsensusKeys {
    async fn verify_signed_vote(
        &self,
        vote: &Vote,
        signature: &Signature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        self.verifier
            .verify_signed_vote(vote, signature, public_key)
            .await
    }

    async fn verify_signed_proposal(
        &self,
        proposal: &Proposal,
        signature: &Signature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        self.verifier
            .verify_signed_proposal(proposal, signature, public_key)
            .await
    }

    async fn verify_signed_vote_extension(
        &self,
        scope: &VoteExtensionScope<PaychainContext>,
        extension: &Vec<u8>,
        signature: &Signature,
        public_key: &PublicKey,
    ) -> Result<VerificationResult, Error> {
        self.verifier
            .verify_signed_vote_extension(scope, extension, signature, public_key)
            .await
    }

    async fn verify_validator_proof(
        &self,
        proof: &ValidatorProof<PaychainContext>,
    ) -> Result<VerificationResult, Error> {
        self.verifier.verify_validator_proof(proof).await
    }
}

#[async_trait]
impl Signer<PaychainContext> for ConsensusKeys {
    async fn sign_vote(&self, vote: Vote) -> Result<SignedMessage<PaychainContext, Vote>, Error> {
        let signature = self.key.sign(&vote.to_sign_bytes(&self.verifier.chain_id));
        Ok(SignedMessage::new(vote, signature))
    }

    async fn sign_proposal(
        &self,
        proposal: Proposal,
    ) -> Result<SignedMessage<PaychainContext, Proposal>, Error> {
        let signature = self
            .key
            .sign(&proposal.to_sign_bytes(&self.verifier.chain_id));
        Ok(SignedMessage::new(proposal, signature))
    }

    async fn sign_vote_extension(
        &self,
        scope: VoteExtensionScope<PaychainContext>,
        extension: Vec<u8>,
    ) -> Result<SignedMessage<PaychainContext, Vec<u8>>, Error> {
        let signature = self.key.sign(&extension_bytes(
            &self.verifier.chain_id,
            &scope,
            &extension,
        ));
        Ok(SignedMessage::new(extension, signature))
    }

    async fn sign_validator_proof(
        &self,
        public_key: Vec<u8>,
        peer_id: Vec<u8>,
    ) -> Result<ValidatorProof<PaychainContext>, Error> {
        let signature = self
            .key
            .sign(&ValidatorProof::<PaychainContext>::signing_bytes(
                &public_key,
                &peer_id,
            ));
        Ok(ValidatorProof::new(public_key, peer_id, signature))
    }
}

#[cfg(test)]
mod binding_tests {
    use super::*;

    #[test]
    fn only_validators_are_bound_and_a_bound_validator_speaks_through_its_peers_only() {
        let b = PeerBindings::new([[1; 32], [2; 32]]);
        // Nothing known yet: any peer may publish for a validator (the content is checked).
        assert!(b.may_publish_for(&[1; 32], b"p1"));
        b.bind(&[1; 32], b"p1");
        assert!(b.may_publish_for(&[1; 32], b"p1"));
        assert!(!b.may_publish_for(&[1; 32], b"p9"));
        // The same key on a second node: both peers speak for it.
        b.bind(&[1; 32], b"p1-twin");
        assert!(b.may_publish_for(&[1; 32], b"p1") && b.may_publish_for(&[1; 32], b"p1-twin"));
        // A key outside the validator set, or malformed, binds nothing.
        b.bind(&[3; 32], b"p3");
        b.bind(&[2; 31], b"p2");
        assert!(b.may_publish_for(&[3; 32], b"anyone") && b.may_publish_for(&[2; 32], b"anyone"));
        // At most MAX_PEERS_PER_VALIDATOR, the newest kept.
        for n in 0..10u8 {
            b.bind(&[2; 32], &[n]);
        }
        assert!(!b.may_publish_for(&[2; 32], &[0]));
        assert!(b.may_publish_for(&[2; 32], &[9]));
    }
}
