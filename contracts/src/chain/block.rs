//! Blocks: a header that chains to the parent and commits to the parent's state and receipts, and the
//! ordered transactions.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::chain::tx::SignedTx;
use crate::primitives::codec::{self, MAX_BLOCK_BYTES};
use crate::primitives::crypto::{Hash, PublicKey};
use crate::primitives::ids::ChainId;
use crate::primitives::merkle;

/// A block header. Its hash is the block hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Header {
    /// Chain.
    pub chain_id: ChainId,
    /// Height, starting at 1.
    pub height: u64,
    /// BFT time taken from the proposal (milliseconds since the Unix epoch); never a local clock.
    pub time_ms: u64,
    /// Validator that proposed the block.
    pub proposer: PublicKey,
    /// Hash of the parent block ([`Hash::ZERO`] at height 1).
    pub prev_block_hash: Hash,
    /// App hash after executing the parent block (the genesis state's app hash at height 1).
    pub prev_app_hash: Hash,
    /// Merkle root of the parent block's receipt hashes ([`Hash::ZERO`] at height 1).
    pub prev_result_root: Hash,
    /// [`tx_root`] of this block's transactions.
    pub tx_root: Hash,
}

impl Header {
    /// The block hash: `sha256(codec::encode(header))`.
    pub fn hash(&self) -> Hash {
        Hash::digest(&codec::encode(self))
    }
}

/// A block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Block {
    /// Header.
    pub header: Header,
    /// Transactions, in execution order.
    pub txs: Vec<SignedTx>,
}

impl Block {
    /// The block hash (the header's hash).
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    /// The canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes at most [`MAX_BLOCK_BYTES`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Block, codec::Error> {
        codec::decode(bytes, MAX_BLOCK_BYTES)
    }

    /// Whether `header.tx_root` matches the transactions.
    pub fn tx_root_matches(&self) -> bool {
        self.header.tx_root == tx_root(&self.txs)
    }
}

/// Merkle root ([`merkle::root`]) over the transactions' hashes.
pub fn tx_root(txs: &[SignedTx]) -> Hash {
    let hashes: Vec<Hash> = txs.iter().map(SignedTx::hash).collect();
    merkle::root(&hashes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn block_round_trip_and_hash() {
        let header = Header {
            chain_id: ChainId::new("c"),
            height: 1,
            time_ms: 5,
            proposer: PublicKey([1; 32]),
            prev_block_hash: Hash::ZERO,
            prev_app_hash: Hash::digest(b"s"),
            prev_result_root: Hash::ZERO,
            tx_root: tx_root(&[]),
        };
        let block = Block {
            header: header.clone(),
            txs: vec![],
        };
        assert!(block.tx_root_matches());
        assert_eq!(block.hash(), header.hash());
        assert_eq!(Block::from_bytes(&block.to_bytes()).unwrap(), block);
        let mut h2 = header.clone();
        h2.height = 2;
        assert_ne!(h2.hash(), header.hash());
        let json = serde_json::to_value(&header).unwrap();
        assert_eq!(json["prev_app_hash"], Hash::digest(b"s").to_string());
    }
}
