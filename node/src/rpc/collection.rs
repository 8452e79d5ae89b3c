//! [`CollectionApiServer`]: split-bill collections (signed reads, [`crate::views`]).

use jsonrpsee::core::RpcResult;
use paychain_api::{method, CollectionApiServer, Param};
use paychain_contracts::reads::SealedReply;

use super::Rpc;

impl CollectionApiServer for Rpc {
    fn collection(&self, read: Param<String>) -> RpcResult<SealedReply> {
        self.signed_read(method::COLLECTION, read)
    }

    fn collections(&self, read: Param<String>) -> RpcResult<SealedReply> {
        self.signed_read(method::COLLECTIONS, read)
    }
}
