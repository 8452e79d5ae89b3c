//! Genesis: the chain's first validator set and consortium members, and the state they define.

use std::collections::BTreeSet;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::chain::state::{MemStore, Overlay, StateError, WriteSet};
// Defined in its own module, which governance (the validator set in state) imports too.
pub use crate::chain::validators::GenesisValidator;
use crate::governance::{self, Member};
use crate::primitives::codec;
use crate::primitives::crypto::{Hash, PublicKey};
use crate::primitives::ids::{self, ChainId};

/// Why a genesis document is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenesisError {
    /// The enclave section is invalid (e.g. a genesis quote does not verify).
    #[error("invalid enclave section: {0}")]
    Enclave(String),
    /// The chain id is malformed.
    #[error(transparent)]
    ChainId(#[from] ids::Error),
    /// No validator.
    #[error("genesis has no validator")]
    NoValidators,
    /// Two validators share a key.
    #[error("duplicate validator key {0}")]
    DuplicateValidator(PublicKey),
    /// A validator has zero power.
    #[error("validator {name} has zero power")]
    ZeroPower {
        /// Its name.
        name: String,
    },
    /// Two members share an id.
    #[error("duplicate member id {0}")]
    DuplicateMember(ids::PlatformId),
    /// Two members share a key.
    #[error("duplicate member key {0}")]
    DuplicateMemberKey(PublicKey),
    /// A member's name is invalid.
    #[error("member {id}: {source}")]
    MemberName {
        /// The member.
        id: ids::PlatformId,
        /// What is wrong.
        source: governance::Error,
    },
    /// A key is not a valid ed25519 key.
    #[error("invalid public key {0}")]
    InvalidKey(PublicKey),
    /// Building the state failed.
    #[error(transparent)]
    Storage(#[from] StateError),
}

/// The genesis document (JSON in the node's home; keys in hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Genesis {
    /// Chain id.
    pub chain_id: ChainId,
    /// Genesis time (milliseconds since the Unix epoch).
    pub genesis_time_ms: u64,
    /// Initial validator set.
    pub validators: Vec<GenesisValidator>,
    /// Initial consortium members.
    pub members: Vec<Member>,
    /// The simulated enclave (attestation root, consortium key, measurements, genesis enclaves);
    /// absent on chains whose records are not sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enclave: Option<crate::enclave_registry::EnclaveGenesis>,
}

impl Genesis {
    /// Checks: valid chain id, at least one validator, unique valid validator keys with power > 0,
    /// unique member ids and keys, valid member names and keys.
    pub fn validate(&self) -> Result<(), GenesisError> {
        self.chain_id.validate()?;
        if self.validators.is_empty() {
            return Err(GenesisError::NoValidators);
        }
        let mut keys = BTreeSet::new();
        for v in &self.validators {
            if v.power == 0 {
                return Err(GenesisError::ZeroPower {
                    name: v.name.clone(),
                });
            }
            if v.public_key.validate().is_err() {
                return Err(GenesisError::InvalidKey(v.public_key));
            }
            if !keys.insert(v.public_key) {
                return Err(GenesisError::DuplicateValidator(v.public_key));
            }
        }
        let mut ids = BTreeSet::new();
        let mut member_keys = BTreeSet::new();
        for m in &self.members {
            if !ids.insert(&m.id) {
                return Err(GenesisError::DuplicateMember(m.id.clone()));
            }
            if !member_keys.insert(m.public_key) {
                return Err(GenesisError::DuplicateMemberKey(m.public_key));
            }
            if m.public_key.validate().is_err() {
                return Err(GenesisError::InvalidKey(m.public_key));
            }
            governance::validate_member_name(&m.name).map_err(|source| {
                GenesisError::MemberName {
                    id: m.id.clone(),
                    source,
                }
            })?;
        }
        Ok(())
    }

    /// `sha256(codec::encode(self))`.
    pub fn hash(&self) -> Hash {
        Hash::digest(&codec::encode(self))
    }
}

/// The genesis state as a [`WriteSet`] over the empty state; its `app_hash` is height 1's
/// `prev_app_hash`. Validates `genesis` first.
pub fn genesis_state(genesis: &Genesis) -> Result<WriteSet, GenesisError> {
    genesis.validate()?;
    let empty = MemStore::new();
    let mut ov = Overlay::new(&empty);
    governance::write_validators(&mut ov, &genesis.validators);
    for m in &genesis.members {
        governance::write_member(&mut ov, m)?;
    }
    if let Some(enclave) = &genesis.enclave {
        crate::enclave_registry::write_genesis(&mut ov, &genesis.chain_id, enclave)
            .map_err(GenesisError::Enclave)?;
    }
    Ok(ov.finish()?)
}
