//! Guardian-delegated payment (read-only). Guardians learn of new requests through
//! `paychain_subscribeEvents` with the filter `{"kind_prefix": "guardian_", "attribute":
//! ["guardian", "<key>"]}`.

use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;

use crate::doc::{Area, MethodDoc};
use crate::reads::{SealedReply, SIGNED_READ};
use crate::{ErrorCode as E, Param};

/// Method names of this area.
pub mod method {
    pub const GUARDIAN_BINDING: &str = "paychain_guardianBinding";
    pub const GUARDIAN_BINDINGS: &str = "paychain_guardianBindings";
    pub const GUARDIAN_STATEMENT: &str = "paychain_guardianStatement";
}

/// Default and largest `limit` of the per-key listings (`paychain_guardianBindings`,
/// `paychain_collections`, `paychain_storeOrders`).
pub const MAX_LIST: usize = 100;

/// Guardian binding queries.
#[rpc(server, client, namespace = "paychain")]
pub trait GuardianApi {
    /// One guardian binding.
    #[method(name = "guardianBinding")]
    fn guardian_binding(&self, read: Param<String>) -> RpcResult<SealedReply>;

    /// Bindings where the key is guardian or dependant, newest first.
    #[method(name = "guardianBindings")]
    fn guardian_bindings(&self, read: Param<String>) -> RpcResult<SealedReply>;

    /// One UTC month (`YYYY-MM`) of the dependant's payments, with refunds.
    #[method(name = "guardianStatement")]
    fn guardian_statement(&self, read: Param<String>) -> RpcResult<SealedReply>;
}

/// The reference of this area (see [`crate::doc`]).
pub const AREA: Area = Area {
    name: "Guardian",
    traits: "GuardianApi",
    summary: "Guardian-delegated payment. Guardians learn of new requests through \
              `paychain_subscribeEvents` with the filter `{\"kind_prefix\": \"guardian_\", \
              \"attribute\": [\"guardian\", \"<key>\"]}`.",
    methods: &[
        MethodDoc {
            name: method::GUARDIAN_BINDING,
            params: &[SIGNED_READ],
            result: "SealedReply of Binding",
            errors: &[E::InvalidParams, E::UnknownGuardianBinding, E::ReadNotSigned, E::ReadBadSignature, E::ReadExpired, E::ReadNotEntitled, E::ReadMismatch, E::Internal],
            summary: "Signed read, query `guardian_binding {binding_id}`. One guardian binding.",
            subscription: None,
        },
        MethodDoc {
            name: method::GUARDIAN_BINDINGS,
            params: &[SIGNED_READ],
            result: "SealedReply of GuardianBindingsView `{bindings, truncated}`",
            errors: &[E::InvalidParams, E::ReadNotSigned, E::ReadBadSignature, E::ReadExpired, E::ReadNotEntitled, E::ReadMismatch, E::Internal],
            summary: "Signed read, query `guardian_bindings {public_key, limit?}`. Bindings where the key is guardian or dependant, newest first.",
            subscription: None,
        },
        MethodDoc {
            name: method::GUARDIAN_STATEMENT,
            params: &[SIGNED_READ],
            result: "SealedReply of Statement",
            errors: &[E::InvalidParams, E::UnknownGuardianBinding, E::ReadNotSigned, E::ReadBadSignature, E::ReadExpired, E::ReadNotEntitled, E::ReadMismatch, E::Internal],
            summary: "Signed read, query `guardian_statement {binding_id, month}`. That UTC month's payments by the dependant, with refunds.",
            subscription: None,
        },
    ],
};
