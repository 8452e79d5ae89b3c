//! The errors RPC callers get, shared by the RPC and the enclave sidecar (which answers private
//! reads on a chain with private state): internal faults logged under a number, signed reads
//! refused. A leaf module: it depends on the API and the contracts only.

use std::sync::atomic::{AtomicU64, Ordering};

use jsonrpsee::types::ErrorObjectOwned;
use paychain_api::ErrorCode;
use paychain_contracts::crypto::PublicKey;
use paychain_contracts::reads::{Query, ReadError};

/// Numbers of the internal faults logged for callers (`internal error (logged as #N)`).
static INTERNAL_ERRORS: AtomicU64 = AtomicU64::new(0);

/// An internal fault (storage, a failed task): logged with its detail under a fresh number; the
/// caller gets only that number (-32603 `internal error (logged as #N)`).
pub fn internal(e: impl std::fmt::Display) -> ErrorObjectOwned {
    let id = INTERNAL_ERRORS.fetch_add(1, Ordering::Relaxed) + 1;
    tracing::error!(target: "rpc", id, error = %e, "internal error answered to an RPC caller");
    ErrorCode::internal(id)
}

/// A signed read refused before any state is read.
pub fn read_error(e: ReadError) -> ErrorObjectOwned {
    let code = match &e {
        ReadError::Malformed(_) | ReadError::TooLarge(_) => ErrorCode::ReadNotSigned,
        ReadError::BadSignature(_) => ErrorCode::ReadBadSignature,
        ReadError::Expired { .. } | ReadError::TooFarAhead { .. } => ErrorCode::ReadExpired,
        ReadError::WrongChain { .. }
        | ReadError::WrongMethod { .. }
        | ReadError::WeakReplyKey
        | ReadError::RequestMismatch { .. }
        | ReadError::Authentication => ErrorCode::ReadMismatch,
    };
    code.err(e.to_string())
}

/// The refusal of a read the requester may not make (also for a subject that does not exist).
pub fn not_entitled(requester: &PublicKey, query: &Query) -> ErrorObjectOwned {
    ErrorCode::ReadNotEntitled.err(format!(
        "key {requester} may not read {} (not a party, a party's platform or the regulator; or it does not exist)",
        query.subject()
    ))
}
