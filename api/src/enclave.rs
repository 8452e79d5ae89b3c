//! The consortium enclave: its configuration and registered enclaves, signed record lookups, and a
//! platform's audit trail of the lookups of its records.

use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;
use paychain_contracts::api::{EnclaveStatusView, LookupView};
pub use paychain_contracts::enclave::audit::{AuditAnchor, AuditEntry, AuditPage};

use crate::doc::{Area, MethodDoc, ParamDoc};
use crate::{ErrorCode as E, Param};

/// Method names of this area.
pub mod method {
    pub const ENCLAVE: &str = "paychain_enclave";
    pub const LOOKUP: &str = "paychain_lookup";
    pub const ENCLAVE_AUDIT: &str = "paychain_enclaveAudit";
}

/// Largest signed lookup `paychain_lookup` takes, in bytes (before hex).
pub const MAX_LOOKUP_BYTES: usize = 4096;

/// Enclave status and lookups.
#[rpc(server, client, namespace = "paychain")]
pub trait EnclaveApi {
    /// The chain's enclave configuration, registered enclaves and the node's own enclave.
    #[method(name = "enclave")]
    fn enclave(&self) -> RpcResult<EnclaveStatusView>;

    /// The node's enclave answers a signed lookup (hex of its encoding), re-encrypted to the
    /// requester's ephemeral key and signed by the enclave.
    #[method(name = "lookup")]
    fn lookup(&self, lookup: Param<String>) -> RpcResult<LookupView>;

    /// A page of a platform's audit trail on this node, for a signed audit request (hex of its
    /// encoding) by the platform's own key.
    #[method(name = "enclaveAudit")]
    fn enclave_audit(&self, request: Param<String>) -> RpcResult<AuditPage>;
}

/// The reference of this area (see [`crate::doc`]).
pub const AREA: Area = Area {
    name: "Enclave",
    traits: "EnclaveApi",
    summary: "The consortium enclave and confidential record lookups. The requester's role is \
              checked from committed state by the node's enclave, not by the RPC layer.",
    methods: &[
        MethodDoc {
            name: method::ENCLAVE,
            params: &[],
            result: "EnclaveStatusView `{config, allowed_measurements, revoked_measurements, enclaves, node_enclave}`",
            errors: &[E::Internal],
            summary: "The enclave configuration (null on chains without one), measurements, registered \
                      enclaves and the answering node's own enclave.",
            subscription: None,
        },
        MethodDoc {
            name: method::LOOKUP,
            params: &[ParamDoc::required("lookup", "string: hex of the encoded SignedLookup (≤ 4 KiB)")],
            result: "LookupView `{answer}` (verify it before trusting it)",
            errors: &[
                E::InvalidParams,
                E::NoEnclave,
                E::NotProvisioned,
                E::LookupRefused,
                E::MalformedLookup,
                E::RateLimited,
                E::EnclaveNotServing,
                E::Internal,
            ],
            summary: "A signed lookup of a sealed acquiring record, answered by the node's enclave. The \
                      lookup names the enclave (`enclave`, its signer key) and the height it was issued \
                      at: it is answered once, by that enclave only, within 100 blocks; the node keeps \
                      the answered ones on disk across restarts. Each authenticated lookup with a role \
                      at the platform leaves an entry in that platform's audit trail.",
            subscription: None,
        },
        MethodDoc {
            name: method::ENCLAVE_AUDIT,
            params: &[ParamDoc::required(
                "request",
                "string: hex of the encoded SignedAuditRequest `{chain_id, platform_id, requester, enclave, from_seq, limit ≤ 1000, nonce, issued_at_height}` signed by the platform's member key (≤ 4 KiB)",
            )],
            result: "AuditPage `{platform_id, anchor: {first_seq, prev_hash}, entries: [{seq, height, platform_id, requester, merchant_id, request_hash, outcome, prev_hash}], next_seq}`",
            errors: &[
                E::InvalidParams,
                E::NoEnclave,
                E::MalformedLookup,
                E::AuditRefused,
                E::RateLimited,
                E::Internal,
            ],
            summary: "The platform's audit trail on this node: one hash-chained entry per \
                      authenticated lookup of its records (no plaintext). Only the platform's own key \
                      reads it; the request is answered once, by the enclave it names, within 100 \
                      blocks. Verify the chain from `anchor` (entry `first_seq`'s `prev_hash`).",
            subscription: None,
        },
    ],
};
