//! [`GuardianApiServer`]: guardian-delegated payment (read-only), and the `[public_key, limit?]`
//! params of the per-key listings.

use jsonrpsee::core::RpcResult;
use jsonrpsee::types::ErrorObjectOwned;
pub use paychain_api::guardian::MAX_LIST;
use paychain_api::{ErrorCode, GuardianApiServer, GuardianBindingsView, Param};
use paychain_contracts::crypto::{Hash, PublicKey};
use paychain_contracts::guardian::{self, Binding, Statement};

use super::chain::HEX64;
use super::{internal, Rpc};

impl GuardianApiServer for Rpc {
    fn guardian_binding(&self, binding_id: Param<Hash>) -> RpcResult<Binding> {
        let id = binding_id.parsed("binding id", HEX64)?;
        guardian::binding(&self.shared.storage, &id)
            .map_err(internal)?
            .ok_or_else(|| unknown_binding(&id))
    }

    fn guardian_bindings(
        &self,
        public_key: Param<PublicKey>,
        limit: Option<Param<usize>>,
    ) -> RpcResult<GuardianBindingsView> {
        let (key, limit) = key_and_limit(public_key, limit)?;
        let (bindings, truncated) =
            guardian::bindings_of(&self.shared.storage, &key, limit).map_err(internal)?;
        Ok(GuardianBindingsView {
            bindings,
            truncated,
        })
    }

    fn guardian_statement(
        &self,
        binding_id: Param<Hash>,
        month: Param<String>,
    ) -> RpcResult<Statement> {
        let id = binding_id.parsed("binding id", HEX64)?;
        let month = parse_month(month.text("month")?)?;
        let storage = &self.shared.storage;
        if guardian::binding(storage, &id).map_err(internal)?.is_none() {
            return Err(unknown_binding(&id));
        }
        guardian::statement(storage, &id, month).map_err(internal)
    }
}

fn unknown_binding(id: &Hash) -> ErrorObjectOwned {
    ErrorCode::UnknownGuardianBinding.err(format!("unknown guardian binding {id}"))
}

/// `[public_key, limit?]` of the per-key listings (limit: default and at most [`MAX_LIST`]).
pub(crate) fn key_and_limit(
    public_key: Param<PublicKey>,
    limit: Option<Param<usize>>,
) -> Result<(PublicKey, usize), ErrorObjectOwned> {
    let key = public_key.parsed("public key", HEX64)?;
    let limit = match limit {
        Some(l) => l.value("limit")?,
        None => MAX_LIST,
    };
    Ok((key, limit.min(MAX_LIST)))
}

/// Parses `YYYY-MM` into `yyyymm`.
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
