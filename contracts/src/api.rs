//! Plain serde views shared by the node's JSON-RPC server and the client SDK (no I/O).
//!
//! A layer above the contracts: it names them, none of them imports it. The views a contract
//! builds itself (a wallet with its balance, a statement, a collection, a store order) are defined
//! in that contract and re-exported here.

use serde::{Deserialize, Serialize};

use crate::chain::block::Header;
use crate::chain::kernel::Receipt;
use crate::governance::{Member, Proposal, ProposalStatus};
use crate::primitives::crypto::{Hash, PublicKey};
use crate::primitives::ids::{MerchantId, PlatformId};
use crate::primitives::money::{Amount, Currency};
use crate::registry::{AcquiringRecord, Merchant};
use crate::wallet::{Account, AccountState, MovementKind, VerifiedUser};

// Views a contract builds itself are defined beside it (no contract imports this module).
pub use crate::ca::{InvalidReason, PartyCertView, PlatformCaView, RevocationView};
pub use crate::collection::CollectionView;
pub use crate::store::StoreOrderView;
pub use crate::wallet::{PaymentView, StatementView, WalletView};

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

/// A merchant, the platforms a payment to it may be routed to, and those pending its consent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantView {
    /// Merchant.
    pub merchant: Merchant,
    /// Platforms with an active record that the merchant accepted (routable), sorted.
    pub platforms: Vec<PlatformId>,
    /// Each routable platform's current record: what a payment's route must name.
    pub routes: Vec<RouteView>,
    /// Platforms with an active record that the merchant has not accepted (never routed to), sorted.
    pub pending: Vec<PlatformId>,
}

/// A routable platform's current record version and payload hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteView {
    /// The platform.
    pub platform_id: PlatformId,
    /// The route a payment through it names now.
    #[serde(flatten)]
    pub route: crate::registry::Route,
}

/// One acquiring record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordView {
    /// The record.
    pub record: AcquiringRecord,
}

/// A governance proposal as seen at some height.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalView {
    /// The proposal.
    pub proposal: Proposal,
    /// Its status at `height` (an open proposal past its expiry reads `expired`).
    pub status: ProposalStatus,
    /// Approvals cast.
    pub approvals: u64,
    /// Rejections cast.
    pub rejections: u64,
    /// Approvals needed (strictly more than 2/3 of the electorate).
    pub threshold: u64,
    /// Height the status refers to.
    pub height: u64,
}

impl ProposalView {
    /// The view of `proposal` at `height` (the latest committed height).
    pub fn new(proposal: Proposal, height: u64) -> ProposalView {
        let as_u64 = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        ProposalView {
            status: proposal.status_at(height),
            approvals: as_u64(proposal.approvals()),
            rejections: as_u64(proposal.rejections()),
            threshold: as_u64(proposal.threshold()),
            height,
            proposal,
        }
    }
}

/// A user's real-name attestation (if any) and wallets (`paychain_wallets`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserWalletsView {
    /// The user.
    pub user: PublicKey,
    /// The host's attestation.
    pub verification: Option<VerifiedUser>,
    /// The user's wallets.
    pub wallets: Vec<WalletView>,
}

/// An account's balance (`paychain_balance`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceView {
    /// The account.
    pub account: Account,
    /// Its currency (`None` for an unknown wallet).
    pub currency: Option<Currency>,
    /// Balance and entry count.
    pub state: Option<AccountState>,
}

/// A payment or refund a key took part in (`paychain_certificates`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRef {
    /// The tx whose certificate proves it.
    pub tx_hash: Hash,
    /// `payer` or `payee`.
    pub role: String,
    /// Payment or refund.
    pub kind: MovementKind,
    /// Height.
    pub height: u64,
    /// Amount.
    pub amount: Amount,
    /// Statement reference.
    pub reference: String,
}

/// A key's certificates, newest first (`paychain_certificates`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificatesView {
    /// The key.
    pub public_key: PublicKey,
    /// The merchant whose key it is, if any.
    pub merchant_id: Option<MerchantId>,
    /// The list.
    pub certificates: Vec<CertificateRef>,
    /// Whether older ones were left out.
    pub truncated: bool,
}

/// The chain's enclave configuration and registered enclaves (`paychain_enclave`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnclaveStatusView {
    /// `None` on chains without an enclave (records are then opaque bytes).
    pub config: Option<crate::enclave_registry::EnclaveConfig>,
    /// Measurements allowed to register.
    pub allowed_measurements: Vec<crate::enclave::Measurement>,
    /// Revoked measurements (clients must not trust their enclaves).
    pub revoked_measurements: Vec<crate::enclave::Measurement>,
    /// Registered enclaves.
    pub enclaves: Vec<crate::enclave_registry::EnclaveEntry>,
    /// The answering node's own enclave.
    pub node_enclave: Option<NodeEnclaveView>,
    /// The current epoch (`None` on chains without an enclave).
    #[serde(default)]
    pub epoch: Option<crate::enclave_registry::EpochState>,
    /// The current epoch's record keys of the current platform members (those published).
    #[serde(default)]
    pub platform_keys: Vec<crate::enclave_registry::PlatformKeyEntry>,
}

/// A node's own enclave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeEnclaveView {
    /// Key that signs lookup answers.
    pub signer: PublicKey,
    /// Its measurement.
    pub measurement: crate::enclave::Measurement,
    /// Whether it holds the consortium secret.
    pub provisioned: bool,
    /// The newest epoch whose secret it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
    /// Why it does not serve lookups now (unregistered, not provisioned, retired, its platform
    /// removed, its measurement revoked, below the minimum security version); `None` while it
    /// serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_serving: Option<String>,
}

/// The answer to `paychain_lookup`: signed by the node's enclave, the record re-encrypted to
/// the requester's ephemeral key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupView {
    /// The signed answer.
    pub answer: crate::enclave::SignedAnswer,
}

/// One event of a committed transaction, as `paychain_subscribeEvents` sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventNotification {
    /// Height of the block.
    pub height: u64,
    /// Block time.
    pub time_ms: u64,
    /// The transaction.
    pub tx_hash: Hash,
    /// The event.
    pub event: crate::chain::kernel::Event,
}

/// Which events a `paychain_subscribeEvents` subscriber wants: all of them match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventFilter {
    /// The event kind starts with this (e.g. `guardian_`).
    #[serde(default)]
    pub kind_prefix: Option<String>,
    /// The event has this attribute with this value (e.g. `["guardian", "<key hex>"]`).
    #[serde(default)]
    pub attribute: Option<(String, String)>,
}

impl EventFilter {
    /// Longest prefix, attribute name or value accepted.
    pub const MAX_LEN: usize = 128;

    /// Whether `e` matches.
    pub fn matches(&self, e: &crate::chain::kernel::Event) -> bool {
        self.kind_prefix
            .as_ref()
            .is_none_or(|p| e.kind.starts_with(p.as_str()))
            && self
                .attribute
                .as_ref()
                .is_none_or(|(k, v)| e.attributes.iter().any(|(ek, ev)| ek == k && ev == v))
    }
}

/// The guardian bindings of a key, as `paychain_guardianBindings` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardianBindingsView {
    /// The bindings in which the key is guardian or dependant, newest first.
    pub bindings: Vec<crate::guardian::Binding>,
    /// Older ones were left out (raise `limit`).
    pub truncated: bool,
}

/// The split-bill collections of a key, as `paychain_collections` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionsView {
    /// Collections the key created, is the payee's merchant key of, or paid a share of, newest
    /// first.
    pub collections: Vec<CollectionView>,
    /// Older ones were left out (raise `limit`).
    pub truncated: bool,
}

/// The store orders of a key, as `paychain_storeOrders` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreOrdersView {
    /// Orders where the key is the user or the store's merchant key, newest first.
    pub orders: Vec<StoreOrderView>,
    /// Older ones were left out (raise `limit`).
    pub truncated: bool,
}
