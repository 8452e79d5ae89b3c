//! [`CaApiServer`]: the consortium CA (read-only).

use jsonrpsee::core::RpcResult;
use paychain_api::{CaApiServer, ErrorCode, Param, PartyCertView, PlatformCaView, RevocationView};
use paychain_contracts::ca::{self, Serial};
use paychain_contracts::crypto::PublicKey;
use paychain_contracts::ids::PlatformId;

use super::chain::HEX64;
use super::{internal, Rpc};

impl CaApiServer for Rpc {
    fn party_cert(&self, public_key: Param<PublicKey>) -> RpcResult<PartyCertView> {
        let key = public_key.parsed("public key", HEX64)?;
        let time_ms = self.shared.tip().time_ms;
        ca::party_cert_view(&self.shared.storage, &key, time_ms)
            .map_err(internal)?
            .ok_or_else(|| {
                ErrorCode::UnknownPartyCert.err(format!("no certificate is registered for {key}"))
            })
    }

    fn platform_ca(&self, platform_id: Param<PlatformId>) -> RpcResult<PlatformCaView> {
        let platform = platform_id.parsed_with("platform id", |s| PlatformId::new(s))?;
        ca::platform_ca_view(&self.shared.storage, &platform)
            .map_err(internal)?
            .ok_or_else(|| {
                ErrorCode::UnknownPlatformCa.err(format!("platform {platform} has no approved CA"))
            })
    }

    fn ca_revocation(
        &self,
        platform_id: Param<PlatformId>,
        serial: Param<Serial>,
    ) -> RpcResult<RevocationView> {
        let platform = platform_id.parsed_with("platform id", |s| PlatformId::new(s))?;
        let serial = serial.parsed_with("serial", |s| s.parse::<Serial>())?;
        ca::revocation_view(&self.shared.storage, &platform, &serial).map_err(internal)
    }
}
