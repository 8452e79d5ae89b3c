//! JSON-RPC queries of guardian-delegated payment (read-only).
//!
//! | method | params | answer |
//! |---|---|---|
//! | `paychain_guardianBinding` | `[binding_id]` | [`Binding`] (3301 unknown binding) |
//! | `paychain_guardianBindings` | `[public_key, limit?]` | [`GuardianBindingsView`]: bindings where the key is guardian or dependant, newest first |
//! | `paychain_guardianStatement` | `[binding_id, "YYYY-MM"]` | [`Statement`]: that UTC month's payments by the dependant, with refunds |
//!
//! Guardians learn of new requests through `paychain_subscribeEvents` with the filter
//! `{"kind_prefix": "guardian_", "attribute": ["guardian", "<key>"]}` (see [`crate::rpc`]).

use std::sync::Arc;

use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::RpcModule;
use paychain_contracts::api::GuardianBindingsView;
use paychain_contracts::crypto::{Hash, PublicKey};
use paychain_contracts::guardian::{self, Binding, Statement};

use crate::node::Shared;
use crate::rpc_wallet::{Args, HEX64};

/// Error codes of these methods.
pub mod code {
    /// Malformed params (JSON-RPC standard).
    pub const INVALID_PARAMS: i32 = -32602;
    /// Storage trouble on the node.
    pub const INTERNAL: i32 = -32603;
    /// No such binding.
    pub const UNKNOWN_BINDING: i32 = 3301;
}

fn err(code: i32, msg: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, msg.into(), None::<()>)
}

fn storage(e: impl std::fmt::Display) -> ErrorObjectOwned {
    err(code::INTERNAL, format!("node storage error: {e}"))
}

/// Parses `YYYY-MM` into `yyyymm`.
fn month(raw: &str) -> Result<u32, ErrorObjectOwned> {
    let bad = || {
        err(
            code::INVALID_PARAMS,
            format!(
                "invalid month {:?}: expected YYYY-MM",
                raw.chars().take(16).collect::<String>()
            ),
        )
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

fn binding(s: &Shared, p: &Params<'_>) -> Result<Binding, ErrorObjectOwned> {
    let id: Hash = Args::new(p).parsed("binding id", HEX64)?;
    guardian::binding(&s.storage, &id)
        .map_err(storage)?
        .ok_or_else(|| {
            err(
                code::UNKNOWN_BINDING,
                format!("unknown guardian binding {id}"),
            )
        })
}

fn bindings(s: &Shared, p: &Params<'_>) -> Result<GuardianBindingsView, ErrorObjectOwned> {
    let (key, limit) = key_and_limit(p)?;
    let (bindings, truncated) = guardian::bindings_of(&s.storage, &key, limit).map_err(storage)?;
    Ok(GuardianBindingsView {
        bindings,
        truncated,
    })
}

/// `[public_key, limit?]` of the per-key listings (limit: default and at most [`MAX_LIST`]).
pub(crate) fn key_and_limit(p: &Params<'_>) -> Result<(PublicKey, usize), ErrorObjectOwned> {
    let mut args = Args::new(p);
    let key: PublicKey = args.parsed("public key", HEX64)?;
    let limit = args
        .optional::<usize>("limit")?
        .unwrap_or(MAX_LIST)
        .min(MAX_LIST);
    Ok((key, limit))
}

/// Default and largest `limit` of the per-key listings.
pub const MAX_LIST: usize = 100;

fn statement(s: &Shared, p: &Params<'_>) -> Result<Statement, ErrorObjectOwned> {
    let mut args = Args::new(p);
    let id: Hash = args.parsed("binding id", HEX64)?;
    let month = month(&args.next::<String>("month")?)?;
    if guardian::binding(&s.storage, &id)
        .map_err(storage)?
        .is_none()
    {
        return Err(err(
            code::UNKNOWN_BINDING,
            format!("unknown guardian binding {id}"),
        ));
    }
    guardian::statement(&s.storage, &id, month).map_err(storage)
}

/// Registers this module's methods.
pub(crate) fn register(
    m: &mut RpcModule<Arc<Shared>>,
) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    m.register_method("paychain_guardianBinding", |p, s, _| binding(s, &p))?;
    m.register_method("paychain_guardianBindings", |p, s, _| bindings(s, &p))?;
    m.register_method("paychain_guardianStatement", |p, s, _| statement(s, &p))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::month;

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
