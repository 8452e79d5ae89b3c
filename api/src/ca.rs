//! The consortium CA (read-only): platforms' CA certificates, registered party certificates and
//! the platforms' revocation lists. Certificates are public: they bind keys, not payments.

use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;
use paychain_contracts::api::{PartyCertView, PlatformCaView, RevocationView};
use paychain_contracts::ca::Serial;
use paychain_contracts::crypto::PublicKey;
use paychain_contracts::ids::PlatformId;

use crate::doc::{Area, MethodDoc, ParamDoc};
use crate::{ErrorCode as E, Param};

/// Method names of this area.
pub mod method {
    pub const PARTY_CERT: &str = "paychain_partyCert";
    pub const PLATFORM_CA: &str = "paychain_platformCa";
    pub const CA_REVOCATION: &str = "paychain_caRevocation";
}

/// Consortium CA queries.
#[rpc(server, client, namespace = "paychain")]
pub trait CaApi {
    /// The certificate registered for a party key, with its PEM and whether it is valid at the
    /// committed tip's block time (and why not).
    #[method(name = "partyCert")]
    fn party_cert(&self, public_key: Param<PublicKey>) -> RpcResult<PartyCertView>;

    /// A platform's CA certificate as governance approved it (possibly revoked).
    #[method(name = "platformCa")]
    fn platform_ca(&self, platform_id: Param<PlatformId>) -> RpcResult<PlatformCaView>;

    /// Whether a platform's serial is on its revocation list.
    #[method(name = "caRevocation")]
    fn ca_revocation(
        &self,
        platform_id: Param<PlatformId>,
        serial: Param<Serial>,
    ) -> RpcResult<RevocationView>;
}

/// The reference of this area (see [`crate::doc`]).
pub const AREA: Area = Area {
    name: "Consortium CA",
    traits: "CaApi",
    summary: "Platforms' X.509 CA certificates (approved by governance), the party certificates \
              they register, and their revocation lists (`docs/ca.md`).",
    methods: &[
        MethodDoc {
            name: method::PARTY_CERT,
            params: &[ParamDoc::required(
                "public key",
                "string: 64 hex characters",
            )],
            result:
                "PartyCertView `{party, platform, role, serial, encryption_key, subject, ca_key, \
                     not_before_s, not_after_s, cert, registered_height, pem, at_time_ms, valid, \
                     invalid?: {code, message}}`",
            errors: &[E::InvalidParams, E::UnknownPartyCert, E::Internal],
            summary: "The certificate registered for the key, its PEM, and whether it is valid at \
                      the committed tip's block time (and why not).",
            subscription: None,
        },
        MethodDoc {
            name: method::PLATFORM_CA,
            params: &[ParamDoc::required(
                "platform id",
                "string: [a-z0-9-], 1 to 32",
            )],
            result: "PlatformCaView `{platform, cert, subject, subject_der, public_key, serial, \
                     not_before_s, not_after_s, approved_height, proposal, revoked_height, pem}`",
            errors: &[E::InvalidParams, E::UnknownPlatformCa, E::Internal],
            summary: "The platform's CA certificate as governance approved it (revoked when \
                      `revoked_height` is set).",
            subscription: None,
        },
        MethodDoc {
            name: method::CA_REVOCATION,
            params: &[
                ParamDoc::required("platform id", "string: [a-z0-9-], 1 to 32"),
                ParamDoc::required("serial", "string: hex, at most 20 octets"),
            ],
            result: "RevocationView `{platform, serial, revoked, revocation?: {height, time_ms}, \
                     party?}`",
            errors: &[E::InvalidParams, E::Internal],
            summary: "Whether the platform revoked the serial, and the key registered with it.",
            subscription: None,
        },
    ],
};
