//! The call kernel: what the executor and the contracts share. A contract sees its call through a
//! [`Context`], reports [`Event`]s, and fails with a [`CallError`] carrying its own error type as a
//! [`Refusal`]; the executor turns the outcome into a [`Receipt`].
//!
//! This module names no contract, so that a contract imports the kernel and not the executor, which
//! dispatches to every contract (`chain::executor` → contracts → `chain::kernel`).

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::chain::state::StateError;
use crate::primitives::codec;
use crate::primitives::crypto::{Hash, PublicKey};
use crate::primitives::ids::ChainId;

/// Something a successful call reports (e.g. `merchant_registered` with `merchant_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Event {
    /// Event name.
    pub kind: String,
    /// Attributes, in emission order.
    pub attributes: Vec<(String, String)>,
}

impl Event {
    /// An event with no attributes.
    pub fn new(kind: impl Into<String>) -> Event {
        Event {
            kind: kind.into(),
            attributes: Vec::new(),
        }
    }

    /// Adds an attribute.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Event {
        self.attributes.push((key.into(), value.into()));
        self
    }

    /// The first value of attribute `key`.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The outcome of one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Receipt {
    /// Transaction hash.
    pub tx_hash: Hash,
    /// Block height.
    pub height: u64,
    /// Position in the block.
    pub index: u32,
    /// 0 on success, else the refusal's code ([`crate::chain::executor::ContractError::code`]).
    pub code: u32,
    /// The refusal's message, if any.
    pub error: Option<String>,
    /// Events of a successful call.
    pub events: Vec<Event>,
}

impl Receipt {
    /// Whether the call succeeded.
    pub fn is_ok(&self) -> bool {
        self.code == 0
    }

    /// `sha256(codec::encode(self))`: the leaf data of the result root.
    pub fn hash(&self) -> Hash {
        Hash::digest(&codec::encode(self))
    }
}

/// What a contract call sees of its transaction and block.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    /// Block height.
    pub height: u64,
    /// Block BFT time (`Header.time_ms`), milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// Signing account.
    pub sender: PublicKey,
    /// The transaction's nonce.
    pub nonce: u64,
    /// The transaction's hash (payment ids are tx hashes).
    pub tx_hash: Hash,
    /// The chain (quotes are bound to it).
    pub chain_id: ChainId,
}

/// A contract's refusal: its stable receipt code and its message. Each contract's `Error`
/// implements it, with the code and message [`crate::chain::executor::ContractError`] gives it.
pub(crate) trait Refusal: std::error::Error {
    /// The receipt code (see [`crate::chain::executor::ContractError::code`]).
    fn code(&self) -> u32;
}

/// A call's failure: a refusal (receipt), a refusal that keeps its writes (receipt), or a storage
/// fault (abort).
#[derive(Debug)]
pub(crate) enum CallError {
    Refused(Box<dyn Refusal>),
    /// Refused, but the call's writes are committed (e.g. a counted failed attempt).
    RefusedKeep(Box<dyn Refusal>),
    Storage(StateError),
}

impl CallError {
    /// A refusal whose writes are committed.
    pub(crate) fn refused_keep(e: impl Refusal + 'static) -> CallError {
        CallError::RefusedKeep(Box::new(e))
    }
}

impl From<StateError> for CallError {
    fn from(e: StateError) -> Self {
        CallError::Storage(e)
    }
}

impl<E: Refusal + 'static> From<E> for CallError {
    fn from(e: E) -> Self {
        CallError::Refused(Box::new(e))
    }
}
