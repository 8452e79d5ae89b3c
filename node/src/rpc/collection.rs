//! [`CollectionApiServer`]: split-bill collections (signed reads).

use jsonrpsee::core::RpcResult;
use paychain_api::{method, CollectionApiServer, CollectionsView, ErrorCode, Param};
use paychain_contracts::collection;
use paychain_contracts::reads::{Query, SealedReply};

use super::guardian::list_limit;
use super::reads::query;
use super::{internal, Rpc};

impl CollectionApiServer for Rpc {
    fn collection(&self, read: Param<String>) -> RpcResult<SealedReply> {
        self.signed_read(method::COLLECTION, read, |rpc, r| {
            let id = query!(r, Query::Collection { collection_id } => *collection_id);
            collection::collection_view(&rpc.shared.storage, &id)
                .map_err(internal)?
                .ok_or_else(|| ErrorCode::UnknownCollection.err(format!("unknown collection {id}")))
        })
    }

    fn collections(&self, read: Param<String>) -> RpcResult<SealedReply> {
        self.signed_read(method::COLLECTIONS, read, |rpc, r| {
            let (key, limit) = query!(r, Query::Collections { public_key, limit } => (*public_key, list_limit(*limit)));
            let (collections, truncated) =
                collection::collections_of(&rpc.shared.storage, &key, limit).map_err(internal)?;
            Ok(CollectionsView {
                collections,
                truncated,
            })
        })
    }
}
