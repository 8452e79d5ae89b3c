//! ed25519 signing for consensus messages (ZIP-215 verification through `ed25519-zebra`,
//! the same rule the chain uses for transactions). Every signed message includes the chain id.

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
}

impl ConsensusVerifier {
    pub fn new(chain_id: ChainId) -> Self {
        Self { chain_id }
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
        Ok(verify(&proof.preimage(), &proof.signature, &public_key))
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
