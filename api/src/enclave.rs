//! The consortium enclave: its configuration and registered enclaves, and signed record lookups.

use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;
use paychain_contracts::api::{EnclaveStatusView, LookupView};

use crate::doc::{Area, MethodDoc, ParamDoc};
use crate::{ErrorCode as E, Param};

/// Method names of this area.
pub mod method {
    pub const ENCLAVE: &str = "paychain_enclave";
    pub const LOOKUP: &str = "paychain_lookup";
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
                E::Internal,
            ],
            summary: "A signed lookup of a sealed acquiring record, answered by the node's enclave.",
            subscription: None,
        },
    ],
};
