//! The paychain certificate profile: X.509 v3, Ed25519 only, decoded and verified without a clock
//! (times are compared with the block's time by the caller), and built deterministically from given
//! inputs (the client's `paychain ca init` and `ca issue`, and the unit tests).
//!
//! `docs/ca.md` specifies the profile; in short:
//! - every certificate is DER, at most [`MAX_CERT_BYTES`], v3, signed with Ed25519 (RFC 8410: the
//!   algorithm `1.3.101.112` with absent parameters, in both the TBS and the outer signature
//!   algorithm) over the TBS bytes exactly as encoded; the whole encoding must be canonical DER (it
//!   re-encodes to the same bytes);
//! - its subject key is an Ed25519 key (`1.3.101.112`), valid as a paychain identity (not of small
//!   order, canonical);
//! - its serial is a positive INTEGER of at most 20 octets (its magnitude is the on-chain serial);
//! - a **CA** certificate is self-issued (issuer = subject), self-signed, has `basicConstraints`
//!   with `cA` TRUE, and, if it has `keyUsage`, `keyCertSign`;
//! - a **party** certificate has `basicConstraints` absent or `cA` FALSE, `keyUsage` (if present)
//!   with `digitalSignature`, and exactly one [`PARTY_EXTENSION_OID`] extension (non-critical, so
//!   that other tools that do not know it still accept the certificate):
//!
//! ```text
//! PaychainParty ::= SEQUENCE {
//!     version        INTEGER (1),
//!     platform       UTF8String (SIZE (1..32)),  -- the issuing platform's id, [a-z0-9-]
//!     role           ENUMERATED { user (0), merchant (1) },
//!     encryptionKey  OCTET STRING (SIZE (32))    -- X25519 public key (RFC 7748), not of low order
//! }
//! ```
//!
//! No extension may appear twice; an unknown extension marked critical is refused (RFC 5280).

use std::time::Duration;

use der::asn1::{BitString, GeneralizedTime, OctetString, UtcTime};
use der::oid::db::rfc4519;
use der::oid::{AssociatedOid, ObjectIdentifier};
use der::{Decode, Encode, Enumerated, Sequence};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};

use super::{Error, PartyRole, Serial};
use crate::enclave::KxPublicKey;
use crate::primitives::crypto::{sha256, PublicKey, SecretKey, Signature};
use crate::primitives::ids::PlatformId;

/// Largest certificate accepted anywhere (decoded, in a transaction, in state).
pub const MAX_CERT_BYTES: usize = 4096;

/// Ed25519 (RFC 8410), the only signature and subject-key algorithm of the profile.
pub const ED25519_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// The paychain party extension (`PaychainParty`, see the module doc). Provisional: `1.3.6.1.3` is
/// the Internet "experimental" arc; a deployment that registers an IANA Private Enterprise Number
/// moves it to `1.3.6.1.4.1.<PEN>.1.1` (this one constant).
pub const PARTY_EXTENSION_OID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.3.7269.1.1");

/// The version of the `PaychainParty` structure this profile writes and reads.
pub const PARTY_EXTENSION_VERSION: u8 = 1;

/// `PaychainParty.role`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Enumerated)]
#[repr(u8)]
enum RoleAsn {
    User = 0,
    Merchant = 1,
}

/// `PaychainParty` as DER.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
struct PartyExtension {
    version: u8,
    platform: String,
    role: RoleAsn,
    encryption_key: OctetString,
}

/// A decoded, self-signature-checked CA certificate (validity not yet compared with any time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaCertInfo {
    /// The subject, RFC 4514.
    pub subject: String,
    /// The subject's DER (party certificates' issuer must equal it byte for byte).
    pub subject_der: Vec<u8>,
    /// The platform the subject's organization (`O`) names.
    pub platform: PlatformId,
    /// The CA's Ed25519 key.
    pub public_key: PublicKey,
    /// The CA certificate's serial.
    pub serial: Serial,
    /// `notBefore`, seconds since the Unix epoch.
    pub not_before_s: u64,
    /// `notAfter`, seconds since the Unix epoch.
    pub not_after_s: u64,
}

/// A decoded party certificate (its signature not yet checked: see [`verify_issued_by`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartyCertInfo {
    /// The subject, RFC 4514.
    pub subject: String,
    /// The issuer's DER.
    pub issuer_der: Vec<u8>,
    /// The serial.
    pub serial: Serial,
    /// The party's Ed25519 signing key (the subject public key).
    pub party_key: PublicKey,
    /// The party's X25519 encryption key.
    pub encryption_key: KxPublicKey,
    /// The issuing platform, as the extension names it.
    pub platform: PlatformId,
    /// User or merchant.
    pub role: PartyRole,
    /// `notBefore`, seconds since the Unix epoch.
    pub not_before_s: u64,
    /// `notAfter`, seconds since the Unix epoch.
    pub not_after_s: u64,
    tbs_der: Vec<u8>,
    signature: Signature,
}

fn malformed(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Malformed(format!("{what}: {e}"))
}

fn ed25519_alg() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: ED25519_OID,
        parameters: None,
    }
}

/// The common structure of both kinds: size, canonical DER, v3, Ed25519 algorithms, key, serial,
/// validity, extensions unique.
struct Parsed {
    cert: Certificate,
    tbs_der: Vec<u8>,
    signature: Signature,
    key: PublicKey,
    serial: Serial,
    not_before_s: u64,
    not_after_s: u64,
}

fn parse(der_bytes: &[u8]) -> Result<Parsed, Error> {
    if der_bytes.len() > MAX_CERT_BYTES {
        return Err(Error::CertTooLarge {
            len: der_bytes.len(),
            max: MAX_CERT_BYTES,
        });
    }
    let cert =
        Certificate::from_der(der_bytes).map_err(|e| malformed("not a DER certificate", e))?;
    // Canonical: the bytes signed are the TBS as re-encoded, so the input must be exactly that.
    let again = cert.to_der().map_err(|e| malformed("re-encoding", e))?;
    if again != der_bytes {
        return Err(Error::Malformed("not canonical DER".into()));
    }
    let tbs = &cert.tbs_certificate;
    if tbs.version != Version::V3 {
        return Err(Error::Malformed(format!(
            "version {:?}, the profile needs v3",
            tbs.version
        )));
    }
    for (what, alg) in [
        ("signature algorithm", &cert.signature_algorithm),
        ("TBS signature algorithm", &tbs.signature),
    ] {
        if alg.oid != ED25519_OID {
            return Err(Error::WrongKeyType(format!(
                "{what} {} is not Ed25519 ({ED25519_OID})",
                alg.oid
            )));
        }
        if alg.parameters.is_some() {
            return Err(Error::Malformed(format!(
                "{what}: Ed25519 takes no parameters"
            )));
        }
    }
    let spki = &tbs.subject_public_key_info;
    if spki.algorithm.oid != ED25519_OID {
        return Err(Error::WrongKeyType(format!(
            "subject key algorithm {} is not Ed25519 ({ED25519_OID})",
            spki.algorithm.oid
        )));
    }
    if spki.algorithm.parameters.is_some() {
        return Err(Error::Malformed(
            "subject key: Ed25519 takes no parameters".into(),
        ));
    }
    let key_bytes: [u8; 32] = spki
        .subject_public_key
        .as_bytes()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Error::Malformed("subject key is not 32 bytes".into()))?;
    let key = PublicKey(key_bytes);
    key.validate()
        .map_err(|e| Error::WeakKey(format!("subject key: {e}")))?;
    let sig_bytes: [u8; 64] = cert
        .signature
        .as_bytes()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Error::Malformed("signature is not 64 bytes".into()))?;
    let serial = Serial::from_der_integer(tbs.serial_number.as_bytes())?;
    let not_before_s = tbs.validity.not_before.to_unix_duration().as_secs();
    let not_after_s = tbs.validity.not_after.to_unix_duration().as_secs();
    if not_before_s > not_after_s {
        return Err(Error::Malformed("notBefore is after notAfter".into()));
    }
    let exts = tbs.extensions.as_deref().unwrap_or(&[]);
    for (i, e) in exts.iter().enumerate() {
        if exts[..i].iter().any(|o| o.extn_id == e.extn_id) {
            return Err(Error::Malformed(format!(
                "extension {} appears twice",
                e.extn_id
            )));
        }
        let known = [
            BasicConstraints::OID,
            KeyUsage::OID,
            SubjectKeyIdentifier::OID,
            AuthorityKeyIdentifier::OID,
            PARTY_EXTENSION_OID,
        ];
        if e.critical && !known.contains(&e.extn_id) {
            return Err(Error::Malformed(format!(
                "unknown critical extension {}",
                e.extn_id
            )));
        }
    }
    let tbs_der = tbs.to_der().map_err(|e| malformed("re-encoding", e))?;
    Ok(Parsed {
        tbs_der,
        signature: Signature(sig_bytes),
        key,
        serial,
        not_before_s,
        not_after_s,
        cert,
    })
}

fn extension(cert: &Certificate, oid: ObjectIdentifier) -> Option<&Extension> {
    cert.tbs_certificate
        .extensions
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .find(|e| e.extn_id == oid)
}

fn decode_ext<'a, T: Decode<'a>>(e: &'a Extension, what: &str) -> Result<T, Error> {
    T::from_der(e.extn_value.as_bytes()).map_err(|err| malformed(what, err))
}

fn key_usage(cert: &Certificate) -> Result<Option<KeyUsage>, Error> {
    extension(cert, KeyUsage::OID)
        .map(|e| decode_ext::<KeyUsage>(e, "keyUsage"))
        .transpose()
}

fn basic_constraints(cert: &Certificate) -> Result<Option<BasicConstraints>, Error> {
    extension(cert, BasicConstraints::OID)
        .map(|e| decode_ext::<BasicConstraints>(e, "basicConstraints"))
        .transpose()
}

fn name_string(name: &Name) -> String {
    name.to_string()
}

/// The platform id in the (one) organization attribute of `name`.
fn subject_platform(name: &Name) -> Option<PlatformId> {
    let mut orgs = name
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .filter(|atv| atv.oid == rfc4519::O);
    let first = orgs.next()?;
    if orgs.next().is_some() {
        return None;
    }
    let s = std::str::from_utf8(first.value.value()).ok()?;
    PlatformId::new(s).ok()
}

/// Decodes a CA certificate and checks its profile and self-signature (not its validity period).
pub fn decode_ca_cert(der_bytes: &[u8]) -> Result<CaCertInfo, Error> {
    let p = parse(der_bytes)?;
    let tbs = &p.cert.tbs_certificate;
    match basic_constraints(&p.cert)? {
        Some(bc) if bc.ca => {}
        _ => return Err(Error::NotCa("no basicConstraints with cA TRUE".into())),
    }
    if let Some(ku) = key_usage(&p.cert)? {
        if !ku.key_cert_sign() {
            return Err(Error::NotCa("keyUsage lacks keyCertSign".into()));
        }
    }
    if extension(&p.cert, PARTY_EXTENSION_OID).is_some() {
        return Err(Error::NotCa(
            "a CA certificate has no party extension".into(),
        ));
    }
    if tbs.issuer != tbs.subject {
        return Err(Error::NotCa(
            "not self-issued (issuer differs from subject)".into(),
        ));
    }
    let platform = subject_platform(&tbs.subject).ok_or_else(|| {
        Error::Malformed("the subject has no platform id as its organization (O)".into())
    })?;
    p.key.verify(&p.tbs_der, &p.signature).map_err(|_| {
        Error::BadSignature("the CA certificate's self-signature does not verify".into())
    })?;
    let subject_der = tbs.subject.to_der().map_err(|e| malformed("subject", e))?;
    Ok(CaCertInfo {
        subject: name_string(&tbs.subject),
        subject_der,
        platform,
        public_key: p.key,
        serial: p.serial,
        not_before_s: p.not_before_s,
        not_after_s: p.not_after_s,
    })
}

/// Decodes a party certificate and checks its profile (not its issuer, signature or validity).
pub fn decode_party_cert(der_bytes: &[u8]) -> Result<PartyCertInfo, Error> {
    let p = parse(der_bytes)?;
    let tbs = &p.cert.tbs_certificate;
    if let Some(bc) = basic_constraints(&p.cert)? {
        if bc.ca {
            return Err(Error::Malformed(
                "a party certificate must not be a CA (basicConstraints cA TRUE)".into(),
            ));
        }
    }
    if let Some(ku) = key_usage(&p.cert)? {
        if !ku.digital_signature() {
            return Err(Error::Malformed("keyUsage lacks digitalSignature".into()));
        }
    }
    let ext = extension(&p.cert, PARTY_EXTENSION_OID).ok_or_else(|| {
        Error::Malformed(format!(
            "no paychain party extension ({PARTY_EXTENSION_OID})"
        ))
    })?;
    let party: PartyExtension = decode_ext(ext, "paychain party extension")?;
    if party.version != PARTY_EXTENSION_VERSION {
        return Err(Error::Malformed(format!(
            "paychain party extension version {}, expected {PARTY_EXTENSION_VERSION}",
            party.version
        )));
    }
    let platform = PlatformId::new(party.platform.clone())
        .map_err(|_| Error::Malformed("paychain party extension: invalid platform id".into()))?;
    let enc: [u8; 32] = party
        .encryption_key
        .as_bytes()
        .try_into()
        .map_err(|_| Error::Malformed("encryption key is not 32 bytes".into()))?;
    let encryption_key = KxPublicKey(enc);
    if encryption_key.is_weak() {
        return Err(Error::WeakKey(
            "encryption key is an X25519 point of low order".into(),
        ));
    }
    let role = match party.role {
        RoleAsn::User => PartyRole::User,
        RoleAsn::Merchant => PartyRole::Merchant,
    };
    let issuer_der = tbs.issuer.to_der().map_err(|e| malformed("issuer", e))?;
    Ok(PartyCertInfo {
        subject: name_string(&tbs.subject),
        issuer_der,
        serial: p.serial,
        party_key: p.key,
        encryption_key,
        platform,
        role,
        not_before_s: p.not_before_s,
        not_after_s: p.not_after_s,
        tbs_der: p.tbs_der,
        signature: p.signature,
    })
}

/// Checks that `party` names `ca` as its issuer and carries its valid signature.
pub fn verify_issued_by(party: &PartyCertInfo, ca: &CaCertInfo) -> Result<(), Error> {
    if party.issuer_der != ca.subject_der {
        return Err(Error::IssuerMismatch {
            ca_subject: ca.subject.clone(),
        });
    }
    ca.public_key
        .verify(&party.tbs_der, &party.signature)
        .map_err(|_| {
            Error::BadSignature(format!(
                "the certificate's signature does not verify under the key of CA \"{}\" (a \
                 forged or another CA)",
                ca.subject
            ))
        })
}

/// Checks `not_before_s ≤ now ≤ not_after_s` with `now` the block time in whole seconds
/// (RFC 5280: both bounds inclusive).
pub fn check_validity(
    what: &'static str,
    not_before_s: u64,
    not_after_s: u64,
    block_time_ms: u64,
) -> Result<(), Error> {
    let now = block_time_ms / 1000;
    if now < not_before_s {
        return Err(Error::NotYetValid {
            what,
            not_before_s,
            now_s: now,
        });
    }
    if now > not_after_s {
        return Err(Error::Expired {
            what,
            not_after_s,
            now_s: now,
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Building (client and tests): deterministic from the inputs.

/// What a new CA certificate says.
#[derive(Debug, Clone)]
pub struct CaParams {
    /// The subject's common name.
    pub common_name: String,
    /// The platform (the subject's organization).
    pub platform: PlatformId,
    /// Serial.
    pub serial: Serial,
    /// `notBefore`, seconds since the Unix epoch.
    pub not_before_s: u64,
    /// `notAfter`, seconds since the Unix epoch.
    pub not_after_s: u64,
}

/// What a new party certificate says.
#[derive(Debug, Clone)]
pub struct PartyParams {
    /// The subject's common name.
    pub common_name: String,
    /// The party's Ed25519 signing key.
    pub party_key: PublicKey,
    /// The party's X25519 encryption key.
    pub encryption_key: KxPublicKey,
    /// User or merchant.
    pub role: PartyRole,
    /// Serial.
    pub serial: Serial,
    /// `notBefore`, seconds since the Unix epoch.
    pub not_before_s: u64,
    /// `notAfter`, seconds since the Unix epoch.
    pub not_after_s: u64,
}

fn build_err(e: impl std::fmt::Display) -> Error {
    Error::Malformed(format!("cannot build the certificate: {e}"))
}

fn time(secs: u64) -> Result<Time, Error> {
    let d = Duration::from_secs(secs);
    // RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
    match UtcTime::from_unix_duration(d) {
        Ok(t) => Ok(Time::UtcTime(t)),
        Err(_) => GeneralizedTime::from_unix_duration(d)
            .map(Time::GeneralTime)
            .map_err(build_err),
    }
}

fn name(common_name: &str, platform: &PlatformId) -> Result<Name, Error> {
    let atv = |oid: ObjectIdentifier, s: &str| -> Result<RelativeDistinguishedName, Error> {
        let value = der::asn1::Any::new(der::Tag::Utf8String, s.as_bytes()).map_err(build_err)?;
        let set = der::asn1::SetOfVec::try_from(vec![AttributeTypeAndValue { oid, value }])
            .map_err(build_err)?;
        Ok(RelativeDistinguishedName(set))
    };
    Ok(RdnSequence(vec![
        atv(rfc4519::O, platform.as_str())?,
        atv(rfc4519::CN, common_name)?,
    ]))
}

fn key_id(key: &PublicKey) -> Result<OctetString, Error> {
    // RFC 7093 method 1 with SHA-256: the leftmost 160 bits of the hash of the key.
    OctetString::new(&sha256(&[&key.0[..]]).0[..20]).map_err(build_err)
}

fn ext<T: Encode>(oid: ObjectIdentifier, critical: bool, value: &T) -> Result<Extension, Error> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value.to_der().map_err(build_err)?).map_err(build_err)?,
    })
}

fn sign(tbs: TbsCertificate, key: &SecretKey) -> Result<Vec<u8>, Error> {
    let tbs_der = tbs.to_der().map_err(build_err)?;
    let sig = key.sign(&tbs_der);
    Certificate {
        tbs_certificate: tbs,
        signature_algorithm: ed25519_alg(),
        signature: BitString::from_bytes(&sig.0).map_err(build_err)?,
    }
    .to_der()
    .map_err(build_err)
}

fn spki(key: &PublicKey) -> Result<SubjectPublicKeyInfoOwned, Error> {
    Ok(SubjectPublicKeyInfoOwned {
        algorithm: ed25519_alg(),
        subject_public_key: BitString::from_bytes(&key.0).map_err(build_err)?,
    })
}

/// A self-signed CA certificate for `key` (DER).
pub fn build_ca_cert(key: &SecretKey, p: &CaParams) -> Result<Vec<u8>, Error> {
    let public = key.public_key();
    let subject = name(&p.common_name, &p.platform)?;
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&p.serial.0).map_err(build_err)?,
        signature: ed25519_alg(),
        issuer: subject.clone(),
        validity: Validity {
            not_before: time(p.not_before_s)?,
            not_after: time(p.not_after_s)?,
        },
        subject,
        subject_public_key_info: spki(&public)?,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(vec![
            ext(
                BasicConstraints::OID,
                true,
                &BasicConstraints {
                    ca: true,
                    path_len_constraint: Some(0),
                },
            )?,
            ext(
                KeyUsage::OID,
                true,
                &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
            )?,
            ext(
                SubjectKeyIdentifier::OID,
                false,
                &SubjectKeyIdentifier(key_id(&public)?),
            )?,
        ]),
    };
    sign(tbs, key)
}

/// A party certificate issued by the CA of `ca_cert_der` (whose key is `ca_key`), DER.
pub fn issue_party_cert(
    ca_key: &SecretKey,
    ca_cert_der: &[u8],
    p: &PartyParams,
) -> Result<Vec<u8>, Error> {
    let ca = decode_ca_cert(ca_cert_der)?;
    if ca.public_key != ca_key.public_key() {
        return Err(Error::BadSignature(
            "the CA key is not the CA certificate's key".into(),
        ));
    }
    let ca_cert = Certificate::from_der(ca_cert_der).map_err(build_err)?;
    let platform = ca.platform.clone();
    let party_ext = PartyExtension {
        version: PARTY_EXTENSION_VERSION,
        platform: platform.as_str().to_owned(),
        role: match p.role {
            PartyRole::User => RoleAsn::User,
            PartyRole::Merchant => RoleAsn::Merchant,
        },
        encryption_key: OctetString::new(&p.encryption_key.0[..]).map_err(build_err)?,
    };
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&p.serial.0).map_err(build_err)?,
        signature: ed25519_alg(),
        issuer: ca_cert.tbs_certificate.subject.clone(),
        validity: Validity {
            not_before: time(p.not_before_s)?,
            not_after: time(p.not_after_s)?,
        },
        subject: name(&p.common_name, &platform)?,
        subject_public_key_info: spki(&p.party_key)?,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(vec![
            ext(
                BasicConstraints::OID,
                true,
                &BasicConstraints {
                    ca: false,
                    path_len_constraint: None,
                },
            )?,
            ext(
                KeyUsage::OID,
                true,
                &KeyUsage(KeyUsages::DigitalSignature.into()),
            )?,
            ext(
                SubjectKeyIdentifier::OID,
                false,
                &SubjectKeyIdentifier(key_id(&p.party_key)?),
            )?,
            ext(
                AuthorityKeyIdentifier::OID,
                false,
                &AuthorityKeyIdentifier {
                    key_identifier: Some(key_id(&ca.public_key)?),
                    authority_cert_issuer: None,
                    authority_cert_serial_number: None,
                },
            )?,
            ext(PARTY_EXTENSION_OID, false, &party_ext)?,
        ]),
    };
    sign(tbs, ca_key)
}

/// `der` as PEM (`-----BEGIN CERTIFICATE-----`, 64-column base64, LF line endings).
pub fn to_pem(der_bytes: &[u8]) -> String {
    pem_encode("CERTIFICATE", der_bytes).unwrap_or_default()
}

/// PEM (RFC 7468) of `der_bytes` under `label`, LF line endings.
pub fn pem_encode(label: &str, der_bytes: &[u8]) -> Result<String, Error> {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der_bytes).map_err(build_err)
}

/// The label and bytes of one PEM block (strict RFC 7468; bound the input first).
pub fn pem_decode(pem: &str) -> Result<(String, Vec<u8>), Error> {
    let (label, bytes) = der::pem::decode_vec(pem.as_bytes()).map_err(|e| malformed("PEM", e))?;
    Ok((label.to_owned(), bytes))
}

/// The DER of a PEM `CERTIFICATE` (at most [`MAX_CERT_BYTES`] of DER; the PEM itself at most
/// twice that).
pub fn from_pem(pem: &str) -> Result<Vec<u8>, Error> {
    if pem.len() > 2 * MAX_CERT_BYTES {
        return Err(Error::CertTooLarge {
            len: pem.len(),
            max: 2 * MAX_CERT_BYTES,
        });
    }
    let (label, der_bytes) = pem_decode(pem.trim())?;
    if label != "CERTIFICATE" {
        return Err(Error::Malformed(format!(
            "PEM label is {:?}, expected CERTIFICATE",
            label.chars().take(32).collect::<String>()
        )));
    }
    if der_bytes.len() > MAX_CERT_BYTES {
        return Err(Error::CertTooLarge {
            len: der_bytes.len(),
            max: MAX_CERT_BYTES,
        });
    }
    Ok(der_bytes)
}
