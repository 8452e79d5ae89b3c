//! The consortium CA from the client side: a platform's CA key and self-signed certificate, the
//! party certificates it issues (PEM files any X.509 tool reads), the governance proposal that
//! approves its CA, the party's consent, the registration and revocation transactions, and the
//! node's CA queries. The profile is `paychain_contracts::ca`'s (`docs/ca.md`).
//!
//! ```text
//! platform: new_ca(key, platform, days) ─► ca.key (PKCS#8 PEM) + ca.pem (self-signed, cA TRUE)
//! governor: propose_ca(platform, ca.pem) ─► ApprovePlatformCa (voted with `gov vote`)
//! platform: issue(ca.key, ca.pem, party key, X25519 key, role, days) ─► party.pem
//! party:    consent(party key, party.pem) ─► signature (the party holds the key and agrees)
//! platform: register(party.pem, signature) ─► RegisterPartyCert;  revoke(serial) ─► RevokePartyCert
//! anyone:   paychain_partyCert / paychain_platformCa / paychain_caRevocation
//! ```

use paychain_api::{method, CaApiClient, PartyCertView, PlatformCaView, RevocationView};
use paychain_contracts::ca::{self, CaParams, CertDer, PartyParams, PartyRole, Serial};
use paychain_contracts::crypto::{PublicKey, SecretKey, Signature};
use paychain_contracts::enclave::KxPublicKey;
use paychain_contracts::governance::Action;
use paychain_contracts::ids::{ChainId, PlatformId};
use paychain_contracts::tx::Call;
use rand::RngCore;
use zeroize::Zeroizing;

use crate::rpc;
use crate::tx::{self, Sent, Wait};

/// The PKCS#8 (RFC 8410) prefix of an Ed25519 private key: `SEQUENCE { INTEGER 0, SEQUENCE { OID
/// 1.3.101.112 }, OCTET STRING { OCTET STRING (32) } }`; the 32-byte seed follows.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Longest CA key PEM read.
pub const MAX_KEY_PEM_BYTES: usize = 1024;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A certificate refused by the profile (or one that cannot be built).
    #[error(transparent)]
    Cert(#[from] ca::Error),
    /// The CA key file is not an Ed25519 PKCS#8 PEM.
    #[error("invalid CA key: {0}")]
    Key(String),
    /// Validity that cannot be.
    #[error("invalid validity: {0}")]
    Validity(String),
    /// A proposal the contract would refuse.
    #[error(transparent)]
    Governance(#[from] crate::governance::Error),
    /// Talking to the node failed.
    #[error(transparent)]
    Rpc(#[from] rpc::Error),
    /// The transaction was not admitted.
    #[error(transparent)]
    Tx(#[from] tx::Error),
}

impl rpc::Client {
    /// `paychain_partyCert`.
    pub async fn party_cert(&self, key: &PublicKey) -> Result<PartyCertView, rpc::Error> {
        self.run(method::PARTY_CERT, self.api().party_cert((*key).into()))
            .await
    }

    /// `paychain_platformCa`.
    pub async fn platform_ca(&self, platform: &PlatformId) -> Result<PlatformCaView, rpc::Error> {
        self.run(
            method::PLATFORM_CA,
            self.api().platform_ca(platform.clone().into()),
        )
        .await
    }

    /// `paychain_caRevocation`.
    pub async fn ca_revocation(
        &self,
        platform: &PlatformId,
        serial: &Serial,
    ) -> Result<RevocationView, rpc::Error> {
        self.run(
            method::CA_REVOCATION,
            self.api()
                .ca_revocation(platform.clone().into(), serial.clone().into()),
        )
        .await
    }
}

/// `key` as a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, what `openssl pkey` reads).
pub fn key_to_pem(key: &SecretKey) -> Zeroizing<String> {
    let mut der = Zeroizing::new(PKCS8_ED25519_PREFIX.to_vec());
    der.extend_from_slice(&key.to_seed()[..]);
    Zeroizing::new(paychain_contracts::ca::pem_encode("PRIVATE KEY", &der).unwrap_or_default())
}

/// The Ed25519 key of a PKCS#8 PEM (as [`key_to_pem`] writes it, or `openssl genpkey -algorithm
/// ed25519`).
pub fn key_from_pem(pem: &str) -> Result<SecretKey, Error> {
    if pem.len() > MAX_KEY_PEM_BYTES {
        return Err(Error::Key(format!("longer than {MAX_KEY_PEM_BYTES} bytes")));
    }
    let (label, der) = paychain_contracts::ca::pem_decode(pem.trim())
        .map_err(|e| Error::Key(format!("not PEM: {e}")))?;
    let der = Zeroizing::new(der);
    if label != "PRIVATE KEY" {
        return Err(Error::Key("PEM label is not PRIVATE KEY".into()));
    }
    if der.len() != PKCS8_ED25519_PREFIX.len() + 32 || der[..16] != PKCS8_ED25519_PREFIX {
        return Err(Error::Key("not an Ed25519 PKCS#8 key".into()));
    }
    let mut seed = [0u8; 32];
    seed.copy_from_slice(&der[16..]);
    Ok(SecretKey::from_seed(seed))
}

/// A fresh random Ed25519 key.
pub fn random_key() -> SecretKey {
    let mut seed = Zeroizing::new([0u8; 32]);
    rand::rngs::OsRng.fill_bytes(&mut seed[..]);
    SecretKey::from_seed(*seed)
}

/// A random 16-octet serial (positive, so at most 16 octets encoded).
pub fn random_serial() -> Serial {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b[0] = (b[0] & 0x7f) | 0x01;
    Serial::new(b.to_vec())
        .unwrap_or_else(|_| Serial::from_u64(1).unwrap_or_else(|_| unreachable!()))
}

/// Validity from `now_s` for `days` days.
pub fn validity(now_s: u64, days: u32) -> Result<(u64, u64), Error> {
    if days == 0 {
        return Err(Error::Validity("at least one day".into()));
    }
    // A minute back, for clocks a little behind the chain's.
    let not_before = now_s.saturating_sub(60);
    Ok((not_before, now_s.saturating_add(u64::from(days) * 86_400)))
}

/// A self-signed CA certificate (DER) for `key`, subject `O=<platform>, CN=<common name>`.
pub fn new_ca(
    key: &SecretKey,
    platform: &PlatformId,
    common_name: &str,
    not_before_s: u64,
    not_after_s: u64,
) -> Result<Vec<u8>, Error> {
    Ok(ca::build_ca_cert(
        key,
        &CaParams {
            common_name: common_name.to_owned(),
            platform: platform.clone(),
            serial: random_serial(),
            not_before_s,
            not_after_s,
        },
    )?)
}

/// What a party certificate certifies.
#[derive(Debug, Clone)]
pub struct NewParty {
    /// The party's Ed25519 signing key.
    pub party_key: PublicKey,
    /// Its X25519 encryption key.
    pub encryption_key: KxPublicKey,
    /// User or merchant.
    pub role: PartyRole,
    /// The subject's common name.
    pub common_name: String,
    /// Serial (random when `None`).
    pub serial: Option<Serial>,
    /// `notBefore`, Unix seconds.
    pub not_before_s: u64,
    /// `notAfter`, Unix seconds.
    pub not_after_s: u64,
}

/// Issues a party certificate (DER) with the CA's key and certificate; checks the result with the
/// chain's decoder.
pub fn issue(ca_key: &SecretKey, ca_cert_der: &[u8], party: &NewParty) -> Result<Vec<u8>, Error> {
    if party.encryption_key.is_weak() {
        return Err(ca::Error::WeakKey("encryption key is of low order".into()).into());
    }
    let der = ca::issue_party_cert(
        ca_key,
        ca_cert_der,
        &PartyParams {
            common_name: party.common_name.clone(),
            party_key: party.party_key,
            encryption_key: party.encryption_key,
            role: party.role,
            serial: party.serial.clone().unwrap_or_else(random_serial),
            not_before_s: party.not_before_s,
            not_after_s: party.not_after_s,
        },
    )?;
    let info = ca::decode_party_cert(&der)?;
    ca::verify_issued_by(&info, &ca::decode_ca_cert(ca_cert_der)?)?;
    Ok(der)
}

/// A governor proposes to approve `platform`'s CA certificate.
pub async fn propose_ca(
    client: &rpc::Client,
    governor: &SecretKey,
    platform: &PlatformId,
    ca_cert_der: &[u8],
    wait: Wait,
) -> Result<crate::governance::Proposed, Error> {
    // Checked here first, with the chain's rules.
    let info = ca::decode_ca_cert(ca_cert_der)?;
    if info.platform != *platform {
        return Err(ca::Error::CaPlatformMismatch {
            cert_platform: info.platform,
            platform: platform.clone(),
        }
        .into());
    }
    let action = Action::ApprovePlatformCa {
        platform: platform.clone(),
        ca_cert: CertDer::new(ca_cert_der.to_vec())?,
    };
    let proposal = crate::governance::Proposal::new(action)?;
    Ok(crate::governance::propose(client, governor, proposal, wait).await?)
}

/// A governor proposes to revoke `platform`'s CA.
pub async fn propose_ca_revocation(
    client: &rpc::Client,
    governor: &SecretKey,
    platform: &PlatformId,
    wait: Wait,
) -> Result<crate::governance::Proposed, Error> {
    let proposal = crate::governance::Proposal::new(Action::RevokePlatformCa {
        platform: platform.clone(),
    })?;
    Ok(crate::governance::propose(client, governor, proposal, wait).await?)
}

/// The party's consent to the registration of its certificate on the node's chain.
pub async fn consent(
    client: &rpc::Client,
    party: &SecretKey,
    cert_der: &[u8],
) -> Result<Signature, Error> {
    let info = ca::decode_party_cert(cert_der)?;
    if info.party_key != party.public_key() {
        return Err(ca::Error::PartyKeyMismatch {
            party: info.party_key,
        }
        .into());
    }
    let chain_id = ChainId::new(client.status().await?.chain_id);
    Ok(ca::sign_registration(party, &chain_id, cert_der))
}

/// The platform registers a party certificate (with the party's consent).
pub async fn register(
    client: &rpc::Client,
    platform: &SecretKey,
    cert_der: &[u8],
    party_signature: Signature,
    wait: Wait,
) -> Result<Sent, Error> {
    ca::decode_party_cert(cert_der)?;
    let call = Call::Ca(ca::Call::RegisterPartyCert {
        cert: CertDer::new(cert_der.to_vec())?,
        party_signature,
    });
    Ok(tx::send(client, platform, call, wait).await?)
}

/// The platform revokes one of its serials.
pub async fn revoke(
    client: &rpc::Client,
    platform: &SecretKey,
    serial: Serial,
    wait: Wait,
) -> Result<Sent, Error> {
    let call = Call::Ca(ca::Call::RevokePartyCert { serial });
    Ok(tx::send(client, platform, call, wait).await?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ca_key_pem_round_trip_and_refusals() {
        let key = SecretKey::from_seed([7; 32]);
        let pem = key_to_pem(&key);
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert_eq!(key_from_pem(&pem).unwrap().public_key(), key.public_key());
        assert!(key_from_pem("junk").is_err());
        let cert = new_ca(&key, &PlatformId::new("plat-a").unwrap(), "CA", 1, 2).unwrap();
        assert!(key_from_pem(&ca::to_pem(&cert)).is_err());
        assert!(key_from_pem(&"A".repeat(2000)).is_err());
    }

    #[test]
    fn serials_are_positive_and_short() {
        for _ in 0..32 {
            let s = random_serial();
            assert!(s.as_bytes().len() <= 16);
            assert!(s.as_bytes()[0] & 0x80 == 0);
        }
    }
}
