//! [`EnclaveApiServer`]: the chain's enclave status, and lookups answered by the node's enclave
//! (`crate::enclave` does the work; the requester's role is checked there, from committed state).

use paychain_api::enclave::AuditPage;
use paychain_api::enclave::MAX_LOOKUP_BYTES;
use paychain_api::{
    EnclaveApiServer, EnclaveStatusView, ErrorCode, LookupView, NodeEnclaveView, Param,
};
use paychain_contracts::enclave_registry;

use super::{internal, Rpc};
use jsonrpsee::core::RpcResult;

impl EnclaveApiServer for Rpc {
    fn enclave(&self) -> RpcResult<EnclaveStatusView> {
        let storage = &self.shared.storage;
        Ok(EnclaveStatusView {
            config: enclave_registry::config(storage).map_err(internal)?,
            allowed_measurements: enclave_registry::allowed(storage).map_err(internal)?,
            revoked_measurements: enclave_registry::revoked(storage).map_err(internal)?,
            enclaves: enclave_registry::enclaves(storage).map_err(internal)?,
            node_enclave: match self.shared.enclave.as_ref() {
                None => None,
                Some(e) => {
                    let (signer, measurement, provisioned, epoch) = {
                        let e = e.read().unwrap_or_else(|p| p.into_inner());
                        (
                            e.signer(),
                            e.measurement(),
                            e.is_provisioned(),
                            e.current_epoch().map(|(n, _)| n),
                        )
                    };
                    let not_serving = crate::enclave::not_serving(&self.shared, &signer)
                        .map_err(|e| e.code().err(e.to_string()))?
                        .map(|u| u.to_string());
                    Some(NodeEnclaveView {
                        signer,
                        measurement,
                        provisioned,
                        epoch,
                        not_serving,
                    })
                }
            },
            epoch: enclave_registry::epoch(storage).map_err(internal)?,
            platform_keys: enclave_registry::current_platform_keys(storage).map_err(internal)?,
        })
    }

    fn enclave_audit(&self, request: Param<String>) -> RpcResult<AuditPage> {
        let hex_req = request.text("request")?;
        if hex_req.len() > 2 * MAX_LOOKUP_BYTES {
            return Err(
                ErrorCode::MalformedLookup.err("malformed audit request: larger than 4 KiB")
            );
        }
        let bytes = hex::decode(hex_req).map_err(|e| {
            ErrorCode::MalformedLookup.err(format!("malformed audit request: not hex: {e}"))
        })?;
        crate::enclave::audit(&self.shared, &bytes).map_err(|e| e.code().err(e.to_string()))
    }

    fn lookup(&self, lookup: Param<String>) -> RpcResult<LookupView> {
        let hex_req = lookup.text("lookup")?;
        if hex_req.len() > 2 * MAX_LOOKUP_BYTES {
            return Err(ErrorCode::MalformedLookup.err("malformed lookup: larger than 4 KiB"));
        }
        let bytes = hex::decode(hex_req).map_err(|e| {
            ErrorCode::MalformedLookup.err(format!("malformed lookup: not hex: {e}"))
        })?;
        crate::enclave::lookup(&self.shared, &bytes)
            .map(|answer| LookupView { answer })
            .map_err(|e| match e {
                crate::enclave::LookupError::Storage(detail) => internal(detail),
                e => e.code().err(e.to_string()),
            })
    }
}
