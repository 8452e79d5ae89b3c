//! paychain's binding to the Malachite BFT engine.
//!
//! Malachite is generic over a [`Context`](malachitebft_core_types::Context): the chain supplies
//! its own heights, addresses, values, votes, proposals, validator sets, signing scheme and wire
//! codecs. Everything engine-specific lives behind this module so that an engine upgrade stays
//! contained here.
//!
//! - [`types`]: the consensus types. The consensus *value* is only the block hash; block bodies
//!   travel as streamed proposal parts and live in our own store.
//! - [`signing`]: ed25519 signing and verification of votes, proposals and validator proofs.
//! - [`codec`]: one borsh codec for every message the engine puts on the wire or in its WAL.

pub mod codec;
#[cfg(test)]
mod codec_garbage_tests;
pub mod scheme;
pub mod signing;
pub mod types;

pub use codec::BorshCodec;
pub use signing::ConsensusKeys;
pub use types::{
    Address, BlockHash, BlockValue, Height, PaychainContext, Proposal, ProposalFin, ProposalInit,
    ProposalPart, Validator, ValidatorSet, Vote,
};
