//! Split-bill collections (read-only).

use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;

use crate::doc::{Area, MethodDoc};
use crate::reads::{SealedReply, SIGNED_READ};
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
    fn collection(&self, read: Param<String>) -> RpcResult<SealedReply>;

    /// Collections the key created, is the payee of, or paid a share of, newest first.
    #[method(name = "collections")]
    fn collections(&self, read: Param<String>) -> RpcResult<SealedReply>;
}

/// The reference of this area (see [`crate::doc`]).
pub const AREA: Area = Area {
    name: "Collections",
    traits: "CollectionApi",
    summary: "Split-bill collections.",
    methods: &[
        MethodDoc {
            name: method::COLLECTION,
            params: &[SIGNED_READ],
            result: "SealedReply of CollectionView `{collection, paid, outstanding}`",
            errors: &[E::InvalidParams, E::UnknownCollection, E::ReadNotSigned, E::ReadBadSignature, E::ReadExpired, E::ReadNotEntitled, E::ReadMismatch, E::Internal],
            summary: "Signed read, query `collection {collection_id}`. The total order, its sub-orders, paid (in escrow) and outstanding.",
            subscription: None,
        },
        MethodDoc {
            name: method::COLLECTIONS,
            params: &[SIGNED_READ],
            result: "SealedReply of CollectionsView `{collections, truncated}`",
            errors: &[E::InvalidParams, E::ReadNotSigned, E::ReadBadSignature, E::ReadExpired, E::ReadNotEntitled, E::ReadMismatch, E::Internal],
            summary: "Signed read, query `collections {public_key, limit?}`. Collections the key created, is the payee's merchant key of, or paid a share of, newest first.",
            subscription: None,
        },
    ],
};
