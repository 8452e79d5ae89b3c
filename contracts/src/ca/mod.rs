//! The consortium CA: each platform's X.509 CA certificate, approved (and revoked) by governance,
//! and the party certificates the platforms issue to their users and merchants, registered on chain
//! and revocable by their platform (an on-chain revocation list).
//!
//! ```text
//!  governance: ApprovePlatformCa { platform, ca_cert }   a self-signed Ed25519 CA certificate
//!              (profile: x509.rs, docs/ca.md) whose subject O is the platform, within its validity
//!              at the block's time, for a member with the platform role that has no approved CA.
//!              RevokePlatformCa { platform }             the CA and every certificate it issued
//!              stop being valid; RemovePlatform revokes the platform's CA too.
//!  RegisterPartyCert { cert, party_signature }   sender: a platform member's key. The certificate
//!              must be issued (issuer name and Ed25519 signature) by the sender's approved,
//!              unrevoked CA, name the sender's platform in its party extension, be within its
//!              validity at the block's time (the CA's too), its serial not revoked nor used by
//!              another certificate, and `party_signature` must be the certified key's signature of
//!              `registration_bytes(chain, cert)`: the party holds the key and agrees. A key certified
//!              by another platform (still valid) cannot be taken over.
//!  RevokePartyCert { serial }   sender: a platform member's key; revokes that serial in its own
//!              namespace (whether or not it is registered: an issued certificate can be revoked
//!              before anyone registers it).
//! ```
//!
//! Validity is always judged at a block's time (`Header.time_ms`, the BFT time every validator
//! agreed on), never a clock: [`party_status`] re-checks a registered certificate at any time (its
//! CA approved and the same, unrevoked, both within validity, serial not revoked, platform still a
//! member).
//!
//! State keys: `ca/platform/{platform id}` → [`PlatformCa`], `ca/party/{party key}` →
//! [`PartyCert`], `ca/serial/{platform id}/{serial}` → the party key that holds it,
//! `ca/revoked/{platform id}/{serial}` → [`Revocation`].

use std::fmt;
use std::io;
use std::str::FromStr;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::chain::kernel::{CallError, Context, Event, Refusal};
use crate::chain::state::{get_decoded, put_encoded, Overlay, StateError, StateReader};
use crate::enclave::KxPublicKey;
use crate::governance::{self, Role};
use crate::primitives::codec;
use crate::primitives::crypto::{sha256, Hash, PublicKey, SecretKey, Signature};
use crate::primitives::ids::{ChainId, PlatformId};

mod x509;
pub use x509::{
    build_ca_cert, check_validity, decode_ca_cert, decode_party_cert, from_pem, issue_party_cert,
    pem_decode, pem_encode, to_pem, verify_issued_by, CaCertInfo, CaParams, PartyCertInfo,
    PartyParams, ED25519_OID, MAX_CERT_BYTES, PARTY_EXTENSION_OID, PARTY_EXTENSION_VERSION,
};

/// Longest serial, in octets (RFC 5280).
pub const MAX_SERIAL_BYTES: usize = 20;

/// Domain separator of a party's consent to its registration.
pub const REGISTRATION_DOMAIN: &[u8] = b"paychain/ca/register/v1";

const PLATFORM_PREFIX: &[u8] = b"ca/platform/";
const PARTY_PREFIX: &[u8] = b"ca/party/";
const SERIAL_PREFIX: &[u8] = b"ca/serial/";
const REVOKED_PREFIX: &[u8] = b"ca/revoked/";

/// Refusals of the CA contract and of its certificate checks (codes 720..=749).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The bytes are not a certificate of the profile.
    #[error("malformed certificate: {0}")]
    Malformed(String),
    /// The certificate (or its PEM) is larger than the limit.
    #[error("certificate is {len} bytes, limit is {max}")]
    CertTooLarge {
        /// Length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// A key or signature algorithm other than Ed25519.
    #[error("wrong key type: {0}")]
    WrongKeyType(String),
    /// A key that cannot serve (small order, non-canonical, low-order X25519).
    #[error("weak key: {0}")]
    WeakKey(String),
    /// The certificate is not a CA certificate of the profile.
    #[error("not a CA certificate: {0}")]
    NotCa(String),
    /// A signature does not verify.
    #[error("bad certificate signature: {0}")]
    BadSignature(String),
    /// The certificate's issuer is not the CA's subject.
    #[error("certificate issuer is not the platform's CA \"{ca_subject}\"")]
    IssuerMismatch {
        /// The CA's subject.
        ca_subject: String,
    },
    /// Not yet valid at the block's time.
    #[error("{what} not valid before {not_before_s} (block time {now_s})")]
    NotYetValid {
        /// Which certificate.
        what: &'static str,
        /// `notBefore`, Unix seconds.
        not_before_s: u64,
        /// The block time, Unix seconds.
        now_s: u64,
    },
    /// Expired at the block's time.
    #[error("{what} expired at {not_after_s} (block time {now_s})")]
    Expired {
        /// Which certificate.
        what: &'static str,
        /// `notAfter`, Unix seconds.
        not_after_s: u64,
        /// The block time, Unix seconds.
        now_s: u64,
    },
    /// The platform has no CA approved by governance.
    #[error("platform {0} has no approved CA")]
    NoApprovedCa(PlatformId),
    /// The platform's CA was revoked by governance.
    #[error("the CA of platform {0} is revoked")]
    CaRevoked(PlatformId),
    /// The platform already has an approved, unrevoked CA.
    #[error("platform {0} already has an approved CA (revoke it first)")]
    CaExists(PlatformId),
    /// The CA certificate's subject names another platform.
    #[error("CA certificate names platform {cert_platform}, not {platform}")]
    CaPlatformMismatch {
        /// In the certificate.
        cert_platform: PlatformId,
        /// In the action.
        platform: PlatformId,
    },
    /// The serial is on the platform's revocation list.
    #[error("certificate {serial} of platform {platform} is revoked")]
    Revoked {
        /// Platform.
        platform: PlatformId,
        /// Serial.
        serial: Serial,
    },
    /// The party's signature of the registration does not verify under the certified key.
    #[error("the registration is not signed by the certified key {party}")]
    PartyKeyMismatch {
        /// The certified key.
        party: PublicKey,
    },
    /// The certificate names another platform than the sender's.
    #[error("certificate is for platform {cert_platform}, sender is {sender}")]
    PlatformMismatch {
        /// In the certificate.
        cert_platform: PlatformId,
        /// The sender's platform.
        sender: PlatformId,
    },
    /// The sender is not a member with the platform role.
    #[error("sender is not a platform member")]
    NotAPlatform,
    /// The serial is already used by another registered certificate.
    #[error("serial {serial} of platform {platform} is already registered for {party}")]
    SerialInUse {
        /// Platform.
        platform: PlatformId,
        /// Serial.
        serial: Serial,
        /// The key that holds it.
        party: PublicKey,
    },
    /// The key holds a valid certificate of another platform.
    #[error("{party} holds a valid certificate of platform {platform}")]
    AlreadyCertified {
        /// Key.
        party: PublicKey,
        /// The other platform.
        platform: PlatformId,
    },
    /// The serial is already revoked.
    #[error("serial {serial} of platform {platform} is already revoked")]
    AlreadyRevoked {
        /// Platform.
        platform: PlatformId,
        /// Serial.
        serial: Serial,
    },
    /// A serial that is not a positive integer of at most 20 octets.
    #[error("invalid serial: {0}")]
    InvalidSerial(String),
    /// The key holds no registered certificate.
    #[error("{0} holds no registered certificate")]
    NoCertificate(PublicKey),
    /// The key's certificate is for another role.
    #[error("{party} is certified as a {certified}, not a {needed}")]
    WrongRole {
        /// Key.
        party: PublicKey,
        /// Its certificate's role.
        certified: PartyRole,
        /// The role needed.
        needed: PartyRole,
    },
    /// The platform that issued the certificate is no longer a member.
    #[error("platform {0} is no longer a member")]
    PlatformGone(PlatformId),
}

impl Error {
    /// Stable receipt code (720..=749).
    pub fn code(&self) -> u32 {
        match self {
            Error::Malformed(_) => 720,
            Error::CertTooLarge { .. } => 721,
            Error::WrongKeyType(_) => 722,
            Error::WeakKey(_) => 723,
            Error::NotCa(_) => 724,
            Error::BadSignature(_) => 725,
            Error::IssuerMismatch { .. } => 726,
            Error::NotYetValid { .. } => 727,
            Error::Expired { .. } => 728,
            Error::NoApprovedCa(_) => 729,
            Error::CaRevoked(_) => 730,
            Error::CaExists(_) => 731,
            Error::CaPlatformMismatch { .. } => 732,
            Error::Revoked { .. } => 733,
            Error::PartyKeyMismatch { .. } => 734,
            Error::PlatformMismatch { .. } => 735,
            Error::NotAPlatform => 736,
            Error::SerialInUse { .. } => 737,
            Error::AlreadyCertified { .. } => 738,
            Error::AlreadyRevoked { .. } => 739,
            Error::InvalidSerial(_) => 740,
            Error::NoCertificate(_) => 741,
            Error::WrongRole { .. } => 742,
            Error::PlatformGone(_) => 743,
        }
    }
}

impl Refusal for Error {
    fn code(&self) -> u32 {
        Error::code(self)
    }
}

/// What a party certificate certifies.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    BorshSerialize,
    BorshDeserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum PartyRole {
    /// A wallet user (certified after real-name verification).
    User,
    /// A merchant (certified at registration).
    Merchant,
}

impl fmt::Display for PartyRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PartyRole::User => "user",
            PartyRole::Merchant => "merchant",
        })
    }
}

impl FromStr for PartyRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "user" => Ok(PartyRole::User),
            "merchant" => Ok(PartyRole::Merchant),
            _ => Err("role must be user or merchant".into()),
        }
    }
}

/// A certificate serial: the magnitude of a positive INTEGER, big-endian without leading zero
/// octets, 1..=20 octets. Text form: lowercase hex. Checked on every decode.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize)]
pub struct Serial(Vec<u8>);

impl Serial {
    /// A serial from its canonical bytes.
    pub fn new(bytes: Vec<u8>) -> Result<Serial, Error> {
        if bytes.is_empty() || bytes.iter().all(|b| *b == 0) {
            return Err(Error::InvalidSerial("must be a positive integer".into()));
        }
        if bytes[0] == 0 {
            return Err(Error::InvalidSerial("leading zero octet".into()));
        }
        if bytes.len() > MAX_SERIAL_BYTES {
            return Err(Error::InvalidSerial(format!(
                "{} octets, at most {MAX_SERIAL_BYTES}",
                bytes.len()
            )));
        }
        Ok(Serial(bytes))
    }

    /// From a DER INTEGER's content octets (two's complement).
    pub fn from_der_integer(content: &[u8]) -> Result<Serial, Error> {
        match content.first() {
            None => Err(Error::InvalidSerial("empty".into())),
            Some(b) if b & 0x80 != 0 => Err(Error::InvalidSerial("negative".into())),
            Some(_) => {
                let start = content
                    .iter()
                    .position(|b| *b != 0)
                    .unwrap_or(content.len());
                Serial::new(content[start..].to_vec())
            }
        }
    }

    /// A serial from a `u64` (non-zero).
    pub fn from_u64(n: u64) -> Result<Serial, Error> {
        let b = n.to_be_bytes();
        let start = b.iter().position(|x| *x != 0).unwrap_or(b.len());
        Serial::new(b[start..].to_vec())
    }

    /// The magnitude, big-endian.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Display for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

impl fmt::Debug for Serial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Serial({self})")
    }
}

/// Hex (an optional `0x`, leading zero octets dropped).
impl FromStr for Serial {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.trim().trim_start_matches("0x");
        if s.len() > 2 * (MAX_SERIAL_BYTES + 1) {
            return Err(Error::InvalidSerial(format!(
                "at most {MAX_SERIAL_BYTES} octets of hex"
            )));
        }
        let padded = if s.len() % 2 == 1 {
            format!("0{s}")
        } else {
            s.to_owned()
        };
        let bytes = hex::decode(padded).map_err(|_| Error::InvalidSerial("not hex".into()))?;
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        Serial::new(bytes[start..].to_vec())
    }
}

impl BorshDeserialize for Serial {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        let len = u32::deserialize_reader(reader)? as usize;
        if len > MAX_SERIAL_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("serial of {len} octets, at most {MAX_SERIAL_BYTES}"),
            ));
        }
        let mut buf = vec![0; len];
        reader.read_exact(&mut buf)?;
        Serial::new(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
    }
}

impl Serialize for Serial {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Serial {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <String as Deserialize>::deserialize(d)?;
        let bytes = hex::decode(&s).map_err(|_| serde::de::Error::custom("serial: not hex"))?;
        Serial::new(bytes).map_err(serde::de::Error::custom)
    }
}

/// A DER certificate of at most [`MAX_CERT_BYTES`]: a longer one is refused when the transaction
/// is decoded. JSON: hex.
#[derive(Clone, PartialEq, Eq, BorshSerialize, Serialize)]
pub struct CertDer(#[serde(with = "crate::primitives::codec::hex_bytes")] Vec<u8>);

impl CertDer {
    /// Wraps `der` (at most [`MAX_CERT_BYTES`]).
    pub fn new(der: Vec<u8>) -> Result<CertDer, Error> {
        if der.len() > MAX_CERT_BYTES {
            return Err(Error::CertTooLarge {
                len: der.len(),
                max: MAX_CERT_BYTES,
            });
        }
        Ok(CertDer(der))
    }

    /// The DER bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// `sha256` of the DER (the certificate's fingerprint).
    pub fn fingerprint(&self) -> Hash {
        Hash::digest(&self.0)
    }
}

impl fmt::Debug for CertDer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CertDer({} bytes, sha256 {})",
            self.0.len(),
            self.fingerprint()
        )
    }
}

impl BorshDeserialize for CertDer {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        let len = u32::deserialize_reader(reader)? as usize;
        if len > MAX_CERT_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("certificate of {len} bytes, limit is {MAX_CERT_BYTES}"),
            ));
        }
        let mut buf = vec![0; len];
        reader.read_exact(&mut buf)?;
        Ok(CertDer(buf))
    }
}

impl<'de> Deserialize<'de> for CertDer {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bytes = crate::primitives::codec::hex_bytes::deserialize(d)?;
        CertDer::new(bytes).map_err(serde::de::Error::custom)
    }
}

/// A platform's CA as approved by governance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct PlatformCa {
    /// The platform.
    pub platform: PlatformId,
    /// The CA certificate.
    pub cert: CertDer,
    /// Its subject (RFC 4514).
    pub subject: String,
    /// Its subject's DER (party certificates' issuer).
    #[serde(with = "crate::primitives::codec::hex_bytes")]
    pub subject_der: Vec<u8>,
    /// The CA key.
    pub public_key: PublicKey,
    /// The CA certificate's serial.
    pub serial: Serial,
    /// `notBefore`, Unix seconds.
    pub not_before_s: u64,
    /// `notAfter`, Unix seconds.
    pub not_after_s: u64,
    /// Height of the approval.
    pub approved_height: u64,
    /// The approving proposal.
    pub proposal: u64,
    /// Height of the revocation, if revoked.
    pub revoked_height: Option<u64>,
}

impl PlatformCa {
    fn info(&self) -> CaCertInfo {
        CaCertInfo {
            subject: self.subject.clone(),
            subject_der: self.subject_der.clone(),
            platform: self.platform.clone(),
            public_key: self.public_key,
            serial: self.serial.clone(),
            not_before_s: self.not_before_s,
            not_after_s: self.not_after_s,
        }
    }
}

/// A registered party certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct PartyCert {
    /// The party's signing key.
    pub party: PublicKey,
    /// The issuing platform.
    pub platform: PlatformId,
    /// User or merchant.
    pub role: PartyRole,
    /// Serial.
    pub serial: Serial,
    /// The party's X25519 encryption key.
    pub encryption_key: KxPublicKey,
    /// Subject (RFC 4514).
    pub subject: String,
    /// The key of the CA that issued it.
    pub ca_key: PublicKey,
    /// `notBefore`, Unix seconds.
    pub not_before_s: u64,
    /// `notAfter`, Unix seconds.
    pub not_after_s: u64,
    /// The certificate.
    pub cert: CertDer,
    /// Height of the registration.
    pub registered_height: u64,
}

/// An entry of a platform's revocation list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Revocation {
    /// Platform.
    pub platform: PlatformId,
    /// Serial.
    pub serial: Serial,
    /// Height of the revocation.
    pub height: u64,
    /// Block time of the revocation, ms.
    pub time_ms: u64,
}

/// CA calls.
///
/// Encoding: borsh, a `u8` variant index in declaration order, then the fields. New variants are
/// appended at the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// The sending platform registers a party certificate its CA issued.
    RegisterPartyCert {
        /// The certificate (DER).
        cert: CertDer,
        /// The certified key's signature of [`registration_bytes`].
        party_signature: Signature,
    },
    /// The sending platform revokes one of its serials.
    RevokePartyCert {
        /// The serial.
        serial: Serial,
    },
}

/// What the party signs to consent to the registration of `cert` on `chain_id`:
/// `sha256("paychain/ca/register/v1" ‖ encode(chain_id) ‖ sha256(cert))`.
pub fn registration_bytes(chain_id: &ChainId, cert_der: &[u8]) -> Vec<u8> {
    sha256(&[
        REGISTRATION_DOMAIN,
        &codec::encode(chain_id),
        &Hash::digest(cert_der).0,
    ])
    .0
    .to_vec()
}

/// The party's consent (see [`registration_bytes`]).
pub fn sign_registration(key: &SecretKey, chain_id: &ChainId, cert_der: &[u8]) -> Signature {
    key.sign(&registration_bytes(chain_id, cert_der))
}

fn platform_key(p: &PlatformId) -> Vec<u8> {
    [PLATFORM_PREFIX, p.as_str().as_bytes()].concat()
}

fn party_key(k: &PublicKey) -> Vec<u8> {
    [PARTY_PREFIX, &k.0[..]].concat()
}

fn serial_key(prefix: &[u8], p: &PlatformId, s: &Serial) -> Vec<u8> {
    [prefix, p.as_str().as_bytes(), b"/", s.as_bytes()].concat()
}

/// The platform's CA record (approved, possibly revoked).
pub fn platform_ca(
    reader: &impl StateReader,
    platform: &PlatformId,
) -> Result<Option<PlatformCa>, StateError> {
    get_decoded(reader, &platform_key(platform))
}

/// The certificate registered for `party`.
pub fn party_cert(
    reader: &impl StateReader,
    party: &PublicKey,
) -> Result<Option<PartyCert>, StateError> {
    get_decoded(reader, &party_key(party))
}

/// The revocation of `serial` by `platform`, if revoked.
pub fn revocation(
    reader: &impl StateReader,
    platform: &PlatformId,
    serial: &Serial,
) -> Result<Option<Revocation>, StateError> {
    get_decoded(reader, &serial_key(REVOKED_PREFIX, platform, serial))
}

/// The approved, unrevoked CA of `platform`.
fn active_ca(reader: &impl StateReader, platform: &PlatformId) -> Result<PlatformCa, CallError> {
    match platform_ca(reader, platform)? {
        None => Err(Error::NoApprovedCa(platform.clone()).into()),
        Some(ca) if ca.revoked_height.is_some() => Err(Error::CaRevoked(platform.clone()).into()),
        Some(ca) => Ok(ca),
    }
}

/// Whether the registered certificate `cert` is valid at block time `time_ms`: its platform still a
/// member, its CA approved, unrevoked and the one that issued it, both certificates within their
/// validity, its serial not revoked. `Ok(Err(reason))` when it is not.
pub fn party_status(
    reader: &impl StateReader,
    cert: &PartyCert,
    time_ms: u64,
) -> Result<Result<(), Error>, StateError> {
    match governance::member(reader, &cert.platform)? {
        Some(m) if m.has_role(Role::Platform) => {}
        _ => return Ok(Err(Error::PlatformGone(cert.platform.clone()))),
    }
    let ca = match platform_ca(reader, &cert.platform)? {
        None => return Ok(Err(Error::NoApprovedCa(cert.platform.clone()))),
        Some(ca) if ca.revoked_height.is_some() => {
            return Ok(Err(Error::CaRevoked(cert.platform.clone())))
        }
        Some(ca) => ca,
    };
    if ca.public_key != cert.ca_key {
        // Another CA was approved since (the issuing one was revoked and replaced).
        return Ok(Err(Error::CaRevoked(cert.platform.clone())));
    }
    if let Err(e) = check_validity("CA certificate", ca.not_before_s, ca.not_after_s, time_ms) {
        return Ok(Err(e));
    }
    if let Err(e) = check_validity(
        "party certificate",
        cert.not_before_s,
        cert.not_after_s,
        time_ms,
    ) {
        return Ok(Err(e));
    }
    if revocation(reader, &cert.platform, &cert.serial)?.is_some() {
        return Ok(Err(Error::Revoked {
            platform: cert.platform.clone(),
            serial: cert.serial.clone(),
        }));
    }
    Ok(Ok(()))
}

/// The valid certificate of `party` in `role` at block time `time_ms`, or why there is none.
pub fn certified(
    reader: &impl StateReader,
    party: &PublicKey,
    role: PartyRole,
    time_ms: u64,
) -> Result<Result<PartyCert, Error>, StateError> {
    let Some(cert) = party_cert(reader, party)? else {
        return Ok(Err(Error::NoCertificate(*party)));
    };
    if cert.role != role {
        return Ok(Err(Error::WrongRole {
            party: *party,
            certified: cert.role,
            needed: role,
        }));
    }
    Ok(party_status(reader, &cert, time_ms)?.map(|()| cert))
}

// ---------------------------------------------------------------------------------------------
// Views (`paychain_partyCert`, `paychain_platformCa`, `paychain_caRevocation`).

/// A registered party certificate, its PEM, and whether it is valid at a block's time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyCertView {
    /// The registered record.
    #[serde(flatten)]
    pub record: PartyCert,
    /// The certificate as PEM.
    pub pem: String,
    /// The block time it was judged at (the node's committed tip), ms.
    pub at_time_ms: u64,
    /// Whether it is valid then.
    pub valid: bool,
    /// Why not: the refusal code (720..=749) and its message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid: Option<InvalidReason>,
}

/// Why a certificate is not valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvalidReason {
    /// The refusal code a registration would get (720..=749).
    pub code: u32,
    /// Its message.
    pub message: String,
}

impl From<Error> for InvalidReason {
    fn from(e: Error) -> Self {
        InvalidReason {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

/// A platform's CA and its PEM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformCaView {
    /// The record (approved, and revoked when `revoked_height` is set).
    #[serde(flatten)]
    pub record: PlatformCa,
    /// The CA certificate as PEM.
    pub pem: String,
}

/// Whether a platform's serial is on its revocation list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationView {
    /// Platform.
    pub platform: PlatformId,
    /// Serial.
    pub serial: Serial,
    /// Whether it is revoked.
    pub revoked: bool,
    /// When.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<Revocation>,
    /// The key whose registered certificate has this serial, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub party: Option<PublicKey>,
}

/// The view of `party`'s registered certificate at block time `time_ms`.
pub fn party_cert_view(
    reader: &impl StateReader,
    party: &PublicKey,
    time_ms: u64,
) -> Result<Option<PartyCertView>, StateError> {
    let Some(record) = party_cert(reader, party)? else {
        return Ok(None);
    };
    let status = party_status(reader, &record, time_ms)?;
    Ok(Some(PartyCertView {
        pem: to_pem(record.cert.as_bytes()),
        record,
        at_time_ms: time_ms,
        valid: status.is_ok(),
        invalid: status.err().map(InvalidReason::from),
    }))
}

/// The view of `platform`'s CA.
pub fn platform_ca_view(
    reader: &impl StateReader,
    platform: &PlatformId,
) -> Result<Option<PlatformCaView>, StateError> {
    Ok(platform_ca(reader, platform)?.map(|record| PlatformCaView {
        pem: to_pem(record.cert.as_bytes()),
        record,
    }))
}

/// The view of `platform`'s `serial`.
pub fn revocation_view(
    reader: &impl StateReader,
    platform: &PlatformId,
    serial: &Serial,
) -> Result<RevocationView, StateError> {
    let revocation = revocation(reader, platform, serial)?;
    Ok(RevocationView {
        platform: platform.clone(),
        serial: serial.clone(),
        revoked: revocation.is_some(),
        revocation,
        party: get_decoded(reader, &serial_key(SERIAL_PREFIX, platform, serial))?,
    })
}

// ---------------------------------------------------------------------------------------------
// Governance actions.

/// Checks `ApprovePlatformCa` at block time `time_ms`.
pub(crate) fn check_approve(
    reader: &impl StateReader,
    time_ms: u64,
    platform: &PlatformId,
    cert: &CertDer,
) -> Result<CaCertInfo, CallError> {
    let m = governance::member(reader, platform)?
        .ok_or_else(|| governance::Error::UnknownMember(platform.clone()))?;
    if !m.has_role(Role::Platform) {
        return Err(governance::Error::NotPlatformRole(platform.clone()).into());
    }
    let info = decode_ca_cert(cert.as_bytes())?;
    if info.platform != *platform {
        return Err(Error::CaPlatformMismatch {
            cert_platform: info.platform,
            platform: platform.clone(),
        }
        .into());
    }
    check_validity(
        "CA certificate",
        info.not_before_s,
        info.not_after_s,
        time_ms,
    )?;
    if let Some(ca) = platform_ca(reader, platform)? {
        if ca.revoked_height.is_none() {
            return Err(Error::CaExists(platform.clone()).into());
        }
    }
    Ok(info)
}

/// Applies `ApprovePlatformCa` (checked again).
pub(crate) fn approve<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: &Context,
    proposal: u64,
    platform: &PlatformId,
    cert: &CertDer,
) -> Result<(), CallError> {
    let info = check_approve(ov, ctx.time_ms, platform, cert)?;
    let record = PlatformCa {
        platform: platform.clone(),
        cert: cert.clone(),
        subject: info.subject,
        subject_der: info.subject_der,
        public_key: info.public_key,
        serial: info.serial,
        not_before_s: info.not_before_s,
        not_after_s: info.not_after_s,
        approved_height: ctx.height,
        proposal,
        revoked_height: None,
    };
    put_encoded(ov, platform_key(platform), &record);
    Ok(())
}

/// Checks `RevokePlatformCa`.
pub(crate) fn check_revoke(
    reader: &impl StateReader,
    platform: &PlatformId,
) -> Result<(), CallError> {
    active_ca(reader, platform).map(|_| ())
}

/// Applies `RevokePlatformCa`.
pub(crate) fn revoke<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    height: u64,
    platform: &PlatformId,
) -> Result<(), CallError> {
    let mut ca = active_ca(ov, platform)?;
    ca.revoked_height = Some(height);
    put_encoded(ov, platform_key(platform), &ca);
    Ok(())
}

/// A removed platform's CA is revoked (a later member of the same id needs a new approval).
pub(crate) fn retire_platform<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    height: u64,
    platform: &PlatformId,
) -> Result<(), StateError> {
    if let Some(mut ca) = platform_ca(ov, platform)? {
        if ca.revoked_height.is_none() {
            ca.revoked_height = Some(height);
            put_encoded(ov, platform_key(platform), &ca);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Calls.

fn sender_platform(reader: &impl StateReader, ctx: &Context) -> Result<PlatformId, CallError> {
    match governance::member_by_key(reader, &ctx.sender)? {
        Some(m) if m.has_role(Role::Platform) => Ok(m.id),
        _ => Err(Error::NotAPlatform.into()),
    }
}

/// Runs a CA call.
pub(crate) fn execute<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: &Context,
    call: &Call,
) -> Result<Vec<Event>, CallError> {
    match call {
        Call::RegisterPartyCert {
            cert,
            party_signature,
        } => register(ov, ctx, cert, party_signature),
        Call::RevokePartyCert { serial } => {
            let platform = sender_platform(ov, ctx)?;
            let key = serial_key(REVOKED_PREFIX, &platform, serial);
            if get_decoded::<Revocation>(ov, &key)?.is_some() {
                return Err(Error::AlreadyRevoked {
                    platform,
                    serial: serial.clone(),
                }
                .into());
            }
            let holder: Option<PublicKey> =
                get_decoded(ov, &serial_key(SERIAL_PREFIX, &platform, serial))?;
            put_encoded(
                ov,
                key,
                &Revocation {
                    platform: platform.clone(),
                    serial: serial.clone(),
                    height: ctx.height,
                    time_ms: ctx.time_ms,
                },
            );
            let mut ev = Event::new("party_cert_revoked")
                .with("platform_id", platform.as_str())
                .with("serial", serial.to_string());
            if let Some(p) = holder {
                ev = ev.with("party", p.to_hex());
            }
            Ok(vec![ev])
        }
    }
}

fn register<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: &Context,
    cert: &CertDer,
    party_signature: &Signature,
) -> Result<Vec<Event>, CallError> {
    let sender = sender_platform(ov, ctx)?;
    let info = decode_party_cert(cert.as_bytes())?;
    if info.platform != sender {
        return Err(Error::PlatformMismatch {
            cert_platform: info.platform,
            sender,
        }
        .into());
    }
    let ca = active_ca(ov, &sender)?;
    verify_issued_by(&info, &ca.info())?;
    check_validity(
        "CA certificate",
        ca.not_before_s,
        ca.not_after_s,
        ctx.time_ms,
    )?;
    check_validity(
        "party certificate",
        info.not_before_s,
        info.not_after_s,
        ctx.time_ms,
    )?;
    if revocation(ov, &sender, &info.serial)?.is_some() {
        return Err(Error::Revoked {
            platform: sender,
            serial: info.serial,
        }
        .into());
    }
    info.party_key
        .verify(
            &registration_bytes(&ctx.chain_id, cert.as_bytes()),
            party_signature,
        )
        .map_err(|_| Error::PartyKeyMismatch {
            party: info.party_key,
        })?;
    let skey = serial_key(SERIAL_PREFIX, &sender, &info.serial);
    if let Some(holder) = get_decoded::<PublicKey>(ov, &skey)? {
        return Err(Error::SerialInUse {
            platform: sender,
            serial: info.serial,
            party: holder,
        }
        .into());
    }
    if let Some(old) = party_cert(ov, &info.party_key)? {
        if old.platform != sender && party_status(ov, &old, ctx.time_ms)?.is_ok() {
            return Err(Error::AlreadyCertified {
                party: info.party_key,
                platform: old.platform,
            }
            .into());
        }
    }
    put_encoded(ov, skey, &info.party_key);
    let record = PartyCert {
        party: info.party_key,
        platform: sender.clone(),
        role: info.role,
        serial: info.serial.clone(),
        encryption_key: info.encryption_key,
        subject: info.subject,
        ca_key: ca.public_key,
        not_before_s: info.not_before_s,
        not_after_s: info.not_after_s,
        cert: cert.clone(),
        registered_height: ctx.height,
    };
    put_encoded(ov, party_key(&info.party_key), &record);
    Ok(vec![Event::new("party_cert_registered")
        .with("party", info.party_key.to_hex())
        .with("platform_id", sender.as_str())
        .with("role", info.role.to_string())
        .with("serial", info.serial.to_string())])
}

#[cfg(test)]
mod tests;
