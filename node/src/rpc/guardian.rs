//! [`GuardianApiServer`]: guardian-delegated payment (signed reads, [`crate::views`]).

use jsonrpsee::core::RpcResult;
use paychain_api::{method, GuardianApiServer, Param};
use paychain_contracts::reads::SealedReply;

use super::Rpc;

impl GuardianApiServer for Rpc {
    fn guardian_binding(&self, read: Param<String>) -> RpcResult<SealedReply> {
        self.signed_read(method::GUARDIAN_BINDING, read)
    }

    fn guardian_bindings(&self, read: Param<String>) -> RpcResult<SealedReply> {
        self.signed_read(method::GUARDIAN_BINDINGS, read)
    }

    fn guardian_statement(&self, read: Param<String>) -> RpcResult<SealedReply> {
        self.signed_read(method::GUARDIAN_STATEMENT, read)
    }
}
