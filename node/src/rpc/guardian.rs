//! [`GuardianApiServer`]: guardian-delegated payment (read-only), and the `[public_key, limit?]`
//! params of the per-key listings.

use jsonrpsee::core::RpcResult;
use jsonrpsee::types::ErrorObjectOwned;
pub use paychain_api::guardian::MAX_LIST;
use paychain_api::{method, ErrorCode, GuardianApiServer, GuardianBindingsView, Param};
use paychain_contracts::crypto::Hash;
use paychain_contracts::guardian;
use paychain_contracts::reads::{Query, SealedReply};

use super::reads::query;
use super::{internal, Rpc};

impl GuardianApiServer for Rpc {
    fn guardian_binding(&self, read: Param<String>) -> RpcResult<SealedReply> {
        self.signed_read(method::GUARDIAN_BINDING, read, |rpc, r| {
            let id = query!(r, Query::GuardianBinding { binding_id } => *binding_id);
            guardian::binding(&rpc.shared.storage, &id)
                .map_err(internal)?
                .ok_or_else(|| unknown_binding(&id))
        })
    }

    fn guardian_bindings(&self, read: Param<String>) -> RpcResult<SealedReply> {
        self.signed_read(method::GUARDIAN_BINDINGS, read, |rpc, r| {
            let (key, limit) = query!(r, Query::GuardianBindings { public_key, limit } => (*public_key, list_limit(*limit)));
            let (bindings, truncated) =
                guardian::bindings_of(&rpc.shared.storage, &key, limit).map_err(internal)?;
            Ok(GuardianBindingsView {
                bindings,
                truncated,
            })
        })
    }

    fn guardian_statement(&self, read: Param<String>) -> RpcResult<SealedReply> {
        self.signed_read(method::GUARDIAN_STATEMENT, read, |rpc, r| {
            let (id, month) = query!(r, Query::GuardianStatement { binding_id, month } => (*binding_id, month.as_str()));
            let month = parse_month(month)?;
            let storage = &rpc.shared.storage;
            if guardian::binding(storage, &id).map_err(internal)?.is_none() {
                return Err(unknown_binding(&id));
            }
            guardian::statement(storage, &id, month).map_err(internal)
        })
    }
}

fn unknown_binding(id: &Hash) -> ErrorObjectOwned {
    ErrorCode::UnknownGuardianBinding.err(format!("unknown guardian binding {id}"))
}

/// The `limit` of a list query: [`MAX_LIST`] when absent, at most [`MAX_LIST`].
pub(crate) fn list_limit(limit: Option<u32>) -> usize {
    limit.map_or(MAX_LIST, |l| l as usize).min(MAX_LIST)
}

fn parse_month(raw: &str) -> Result<u32, ErrorObjectOwned> {
    let bad = || {
        ErrorCode::InvalidParams.err(format!(
            "invalid month {:?}: expected YYYY-MM",
            raw.chars().take(16).collect::<String>()
        ))
    };
    let (y, m) = raw.split_once('-').ok_or_else(bad)?;
    if y.len() != 4 || m.len() != 2 {
        return Err(bad());
    }
    let y: u32 = y.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if !(1..=12).contains(&m) {
        return Err(bad());
    }
    Ok(y * 100 + m)
}

#[cfg(test)]
mod tests {
    use super::parse_month as month;

    #[test]
    fn months_parse_strictly() {
        assert_eq!(month("2026-11").ok(), Some(202611));
        for bad in [
            "2026-13", "2026-00", "26-11", "2026/11", "2026-1", "", "abcd-ef",
        ] {
            assert!(month(bad).is_err(), "{bad}");
        }
    }
}
