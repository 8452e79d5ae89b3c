//! The validator set's entries: in the genesis document, in governance's state (`gov/validators`),
//! and what commit certificates are checked against. Its own module so that governance, which keeps
//! the set, does not import the genesis that writes governance's first state.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::primitives::crypto::PublicKey;

/// A genesis validator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct GenesisValidator {
    /// Human name (the node's moniker).
    pub name: String,
    /// Consensus key.
    pub public_key: PublicKey,
    /// Voting power (> 0).
    pub power: u64,
}
