//! Plain serde views shared by the node's JSON-RPC server and the client SDK (no I/O).

use serde::{Deserialize, Serialize};

use crate::block::Header;
use crate::crypto::{Hash, PublicKey};
use crate::executor::Receipt;
use crate::governance::Member;
use crate::ids::PlatformId;
use crate::registry::{AcquiringRecord, Merchant};

/// A validator as shown by `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorView {
    /// Name.
    pub name: String,
    /// Consensus key.
    pub public_key: PublicKey,
    /// Voting power.
    pub power: u64,
}

/// Node and chain status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusView {
    /// Chain id.
    pub chain_id: String,
    /// This node's name.
    pub moniker: String,
    /// Latest committed height.
    pub height: u64,
    /// App hash after the latest committed block.
    pub app_hash: Hash,
    /// Hash of the latest committed block.
    pub latest_block_hash: Hash,
    /// Time of the latest committed block.
    pub latest_block_time_ms: u64,
    /// Current validators.
    pub validators: Vec<ValidatorView>,
    /// Connected peers.
    pub peers: u64,
    /// Whether the node is catching up.
    pub syncing: bool,
    /// Transactions waiting in the mempool.
    pub mempool_size: u64,
}

/// Answer to a submitted transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitView {
    /// The transaction's hash.
    pub tx_hash: Hash,
}

/// Where a transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TxStatus {
    /// In the mempool.
    Pending,
    /// In a committed block.
    Committed,
    /// Not known to the node.
    Unknown,
}

/// A transaction's status and receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxView {
    /// Hash.
    pub tx_hash: Hash,
    /// Status.
    pub status: TxStatus,
    /// Block height when committed.
    pub height: Option<u64>,
    /// Position in the block when committed.
    pub index: Option<u32>,
    /// Receipt when committed.
    pub receipt: Option<Receipt>,
}

/// A committed block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockView {
    /// Height.
    pub height: u64,
    /// Block hash.
    pub hash: Hash,
    /// Header.
    pub header: Header,
    /// Transaction hashes, in order.
    pub tx_hashes: Vec<Hash>,
    /// Receipts, in order.
    pub receipts: Vec<Receipt>,
}

/// An account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    /// Key.
    pub public_key: PublicKey,
    /// Next nonce.
    pub nonce: u64,
    /// The member owning the key, if any.
    pub member: Option<Member>,
}

/// A merchant and the platforms with an active record for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantView {
    /// Merchant.
    pub merchant: Merchant,
    /// Platforms with an active record, sorted.
    pub platforms: Vec<PlatformId>,
}

/// One acquiring record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordView {
    /// The record.
    pub record: AcquiringRecord,
}
