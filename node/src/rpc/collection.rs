//! [`CollectionApiServer`]: split-bill collections (read-only).

use jsonrpsee::core::RpcResult;
use paychain_api::{CollectionApiServer, CollectionView, CollectionsView, ErrorCode, Param};
use paychain_contracts::collection;
use paychain_contracts::crypto::{Hash, PublicKey};

use super::chain::HEX64;
use super::guardian::key_and_limit;
use super::{internal, Rpc};

impl CollectionApiServer for Rpc {
    fn collection(&self, collection_id: Param<Hash>) -> RpcResult<CollectionView> {
        let id = collection_id.parsed("collection id", HEX64)?;
        collection::collection_view(&self.shared.storage, &id)
            .map_err(internal)?
            .ok_or_else(|| ErrorCode::UnknownCollection.err(format!("unknown collection {id}")))
    }

    fn collections(
        &self,
        public_key: Param<PublicKey>,
        limit: Option<Param<usize>>,
    ) -> RpcResult<CollectionsView> {
        let (key, limit) = key_and_limit(public_key, limit)?;
        let (collections, truncated) =
            collection::collections_of(&self.shared.storage, &key, limit).map_err(internal)?;
        Ok(CollectionsView {
            collections,
            truncated,
        })
    }
}
