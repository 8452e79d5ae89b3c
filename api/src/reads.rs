//! Signed reads: the private methods (payments, balances, statements, certificates, wallets,
//! collections, store orders, card and guardian bindings) take one param, the hex of a
//! [`SignedRead`], and answer a [`SealedReply`]: the JSON view sealed to the request's reply key.
//! Who may read what is decided by the contracts (`paychain_contracts::reads::may_read`), from the
//! state committed at the answering node's tip. This file also declares the regulator's read audit.

use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;
use paychain_contracts::crypto::{Hash, PublicKey};
pub use paychain_contracts::reads::{
    Grant, Query, ReadError, ReadRequest, SealedReply, SignedRead, MAX_READ_AHEAD_BLOCKS,
    MAX_SIGNED_READ_BYTES, READ_NONCE_LEN,
};
use serde::{Deserialize, Serialize};

use crate::doc::{Area, MethodDoc, ParamDoc};
use crate::{ErrorCode as E, Param};

/// Method names of this area.
pub mod method {
    pub const REGULATOR_AUDIT: &str = "paychain_regulatorAudit";
}

/// The one param of every private method.
pub const SIGNED_READ: ParamDoc = ParamDoc::required(
    "read",
    "string: hex of the encoded SignedRead `{chain_id, requester, query, reply_kx_public, nonce, valid_until_height}` signed by `requester` (≤ 512 bytes)",
);

/// What every private method may answer besides its own errors.
pub const READ_ERRORS: &[E] = &[
    E::InvalidParams,
    E::ReadNotSigned,
    E::ReadBadSignature,
    E::ReadExpired,
    E::ReadNotEntitled,
    E::ReadMismatch,
    E::Internal,
];

/// Most entries the node keeps in the regulator's read audit (older ones are dropped).
pub const REGULATOR_AUDIT_RETENTION: usize = 10_000;
/// Most entries of one `paychain_regulatorAudit` page.
pub const MAX_REGULATOR_AUDIT_PAGE: u32 = 1000;

/// One read by the regulator, as the answering node recorded it (no plaintext: what was asked, by id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegulatorAuditEntry {
    /// Sequence number on this node (from 1, gapless).
    pub seq: u64,
    /// The node's tip when it answered.
    pub height: u64,
    /// The regulator's key.
    pub requester: PublicKey,
    /// The method.
    pub method: String,
    /// What was read, by id (`payment <id>`, `statement of w:<id>`, ...).
    pub subject: String,
    /// The signed request's hash (a replay of it is not recorded again).
    pub request_hash: Hash,
}

/// A page of the regulator's read audit on the answering node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegulatorAuditPage {
    /// Entries from `from_seq` on, oldest first.
    pub entries: Vec<RegulatorAuditEntry>,
    /// The oldest sequence number still kept (older entries were dropped past the retention).
    pub oldest_seq: u64,
    /// The next sequence number to ask for.
    pub next_seq: u64,
}

/// The regulator's read audit.
#[rpc(server, client, namespace = "paychain")]
pub trait ReadsApi {
    /// The answering node's audit of the regulator's reads, for a signed read
    /// ([`Query::RegulatorAudit`]) by a consortium member's key or the regulator's.
    #[method(name = "regulatorAudit")]
    fn regulator_audit(&self, read: Param<String>) -> RpcResult<SealedReply>;
}

/// The reference of this area (see [`crate::doc`]).
pub const AREA: Area = Area {
    name: "Signed reads and the regulator's audit",
    traits: "ReadsApi",
    summary: "Private methods take one param, a SignedRead (hex): the requester's key, the query \
              (method and params), an X25519 reply key, a 16-byte nonce and `valid_until_height` \
              (the tip must be at most it, and it at most 100 blocks above the tip), signed with \
              ed25519 over `\"paychain/read/v1\" ‖ borsh(request)`. The node answers only an \
              entitled requester (decided by the contracts from committed state: parties, their \
              platforms, the regulator), with a SealedReply `{request_hash, height, sealed}`: the \
              JSON view boxed to the reply key (X25519, HKDF-SHA256, AES-256-GCM, domain \
              `paychain/read/reply/v1`). A replay within the window is answered again, sealed to \
              the same reply key, useless to anyone but the requester. Every read by the regulator \
              is recorded in the answering node's audit (no plaintext). Not private yet: the \
              events of receipts (`paychain_tx`, `paychain_block`, `paychain_subscribeEvents`) and \
              the transactions in blocks still carry payment details in the clear, until the \
              payment records themselves are encrypted (issue 17, item 2).",
    methods: &[MethodDoc {
        name: method::REGULATOR_AUDIT,
        params: &[SIGNED_READ],
        result: "SealedReply of RegulatorAuditPage `{entries: [{seq, height, requester, method, subject, request_hash}], oldest_seq, next_seq}`",
        errors: READ_ERRORS,
        summary: "The answering node's audit of the regulator's reads (query `regulator_audit {from_seq, limit ≤ 1000}`), \
                  readable by every consortium member's key and the regulator's. Kept in memory, the last 10000 \
                  entries; one entry per distinct signed request.",
        subscription: None,
    }],
};
