//! The chain: authenticated state, transactions, blocks, genesis, execution and certificates.
//!
//! Two layers, with the contracts between them. Below: [`state`], [`index`], `kernel` (what a call
//! sees and returns), `validators` and [`commit`], which name no contract. Above: [`tx`] (its `Call`
//! names every contract's call), [`admission`] (who may send), [`block`], [`executor`] (dispatches to every contract),
//! [`genesis`] (writes governance's and the enclave registry's first state) and [`certificate`].

pub mod admission;
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
