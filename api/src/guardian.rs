//! Guardian-delegated payment (read-only). Guardians learn of new requests through
//! `paychain_subscribeEvents` with the filter `{"kind_prefix": "guardian_", "attribute":
//! ["guardian", "<key>"]}`.

use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;
use paychain_contracts::api::GuardianBindingsView;
use paychain_contracts::crypto::{Hash, PublicKey};
use paychain_contracts::guardian::{Binding, Statement};

use crate::doc::{Area, MethodDoc, ParamDoc};
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
    fn guardian_binding(&self, binding_id: Param<Hash>) -> RpcResult<Binding>;

    /// Bindings where the key is guardian or dependant, newest first.
    #[method(name = "guardianBindings")]
    fn guardian_bindings(
        &self,
        public_key: Param<PublicKey>,
        limit: Option<Param<usize>>,
    ) -> RpcResult<GuardianBindingsView>;

    /// One UTC month (`YYYY-MM`) of the dependant's payments, with refunds.
    #[method(name = "guardianStatement")]
    fn guardian_statement(
        &self,
        binding_id: Param<Hash>,
        month: Param<String>,
    ) -> RpcResult<Statement>;
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
            params: &[ParamDoc::required(
                "binding id",
                "string: 64 hex characters",
            )],
            result: "Binding",
            errors: &[E::InvalidParams, E::UnknownGuardianBinding, E::Internal],
            summary: "One guardian binding.",
            subscription: None,
        },
        MethodDoc {
            name: method::GUARDIAN_BINDINGS,
            params: &[
                ParamDoc::required("public key", "string: 64 hex characters"),
                ParamDoc::optional("limit", "integer (default and at most 100)"),
            ],
            result: "GuardianBindingsView `{bindings, truncated}`",
            errors: &[E::InvalidParams, E::Internal],
            summary: "Bindings where the key is guardian or dependant, newest first.",
            subscription: None,
        },
        MethodDoc {
            name: method::GUARDIAN_STATEMENT,
            params: &[
                ParamDoc::required("binding id", "string: 64 hex characters"),
                ParamDoc::required("month", "string: YYYY-MM (UTC)"),
            ],
            result: "Statement",
            errors: &[E::InvalidParams, E::UnknownGuardianBinding, E::Internal],
            summary: "That UTC month's payments by the dependant, with refunds.",
            subscription: None,
        },
    ],
};
