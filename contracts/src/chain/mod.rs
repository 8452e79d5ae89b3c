//! The chain: authenticated state, transactions, blocks, genesis, execution and certificates.

pub mod block;
pub mod certificate;
pub mod commit;
pub mod executor;
pub mod genesis;
pub mod index;
pub(crate) mod kernel;
pub mod state;
pub mod tx;
pub(crate) mod validators;
