//! Split-bill collections (read-only).

use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;
use paychain_contracts::api::{CollectionView, CollectionsView};
use paychain_contracts::crypto::{Hash, PublicKey};

use crate::doc::{Area, MethodDoc, ParamDoc};
use crate::{ErrorCode as E, Param};

/// Method names of this area.
pub mod method {
    pub const COLLECTION: &str = "paychain_collection";
    pub const COLLECTIONS: &str = "paychain_collections";
}

/// Split-bill collection queries.
#[rpc(server, client, namespace = "paychain")]
pub trait CollectionApi {
    /// The total order, its sub-orders, what is paid and what is outstanding.
    #[method(name = "collection")]
    fn collection(&self, collection_id: Param<Hash>) -> RpcResult<CollectionView>;

    /// Collections the key created, is the payee of, or paid a share of, newest first.
    #[method(name = "collections")]
    fn collections(
        &self,
        public_key: Param<PublicKey>,
        limit: Option<Param<usize>>,
    ) -> RpcResult<CollectionsView>;
}

/// The reference of this area (see [`crate::doc`]).
pub const AREA: Area = Area {
    name: "Collections",
    traits: "CollectionApi",
    summary: "Split-bill collections.",
    methods: &[
        MethodDoc {
            name: method::COLLECTION,
            params: &[ParamDoc::required("collection id", "string: 64 hex characters")],
            result: "CollectionView `{collection, paid, outstanding}`",
            errors: &[E::InvalidParams, E::UnknownCollection, E::Internal],
            summary: "The total order, its sub-orders, paid (in escrow) and outstanding.",
            subscription: None,
        },
        MethodDoc {
            name: method::COLLECTIONS,
            params: &[
                ParamDoc::required("public key", "string: 64 hex characters"),
                ParamDoc::optional("limit", "integer (default and at most 100)"),
            ],
            result: "CollectionsView `{collections, truncated}`",
            errors: &[E::InvalidParams, E::Internal],
            summary: "Collections the key created, is the payee's merchant key of, or paid a share of, newest first.",
            subscription: None,
        },
    ],
};
