//! The bottom layer: values every other module builds on, with no knowledge of state, transactions
//! or contracts (ids, hashes and keys, money, the canonical codec, Merkle trees, the calendar).

pub mod calendar;
pub mod codec;
pub mod crypto;
pub mod ids;
pub mod merkle;
pub mod money;
