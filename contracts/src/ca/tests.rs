#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;
use crate::chain::executor::Receipt;
use crate::chain::tx::{Call as TxCall, SignedTx, Transaction};
use crate::governance::{Action, Call as GovCall};
use crate::testkit::{key, member, pid, pk, Chain, CHAIN};

const A: u8 = 1; // plat-a: platform and the one governor
const B: u8 = 2; // plat-b: platform
const STRANGER: u8 = 9;
const CA_A: u8 = 41;
const CA_B: u8 = 42;
const FORGER: u8 = 43;
const USER: u8 = 20;
const USER2: u8 = 21;

/// Block time of the test chain at height h is 1_700_000_000 + h seconds.
const T0: u64 = 1_700_000_000;
const YEAR: u64 = 365 * 86_400;

/// An ECDSA P-256 self-signed certificate made by `openssl req -x509 -newkey ec` (O=plat-a).
const P256_PEM: &str = "-----BEGIN CERTIFICATE-----
MIIBozCCAUmgAwIBAgIUXlt31H25O8Jw1F2Mg+GPESPiXzEwCgYIKoZIzj0EAwIw
JzEPMA0GA1UECgwGcGxhdC1hMRQwEgYDVQQDDAtQLTI1NiBwYXJ0eTAeFw0yNjEy
MDYwMTU0MjFaFw0zNjEyMDMwMTU0MjFaMCcxDzANBgNVBAoMBnBsYXQtYTEUMBIG
A1UEAwwLUC0yNTYgcGFydHkwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAATIBrjk
aZf6Y0xaTMReiCUKiitzPkogdDP5JZcJCTBYoDtmUpu5c2ZKvi5gynm+d+1h+3q2
s0TxKGwidglUluYPo1MwUTAdBgNVHQ4EFgQUhZouyVw5Ws9QkmJNyHlPKeVqc5kw
HwYDVR0jBBgwFoAUhZouyVw5Ws9QkmJNyHlPKeVqc5kwDwYDVR0TAQH/BAUwAwEB
/zAKBggqhkjOPQQDAgNIADBFAiB3ggMAAgbxBWfnA1e4QJD8a94dXOC8ScJhKTWn
aVqUNgIhAMxtiETUYoqW4aWD4RV4+k/txxfKh5Y0eikj1QeQU/AN
-----END CERTIFICATE-----
";

fn chain() -> Chain {
    use crate::governance::Role;
    Chain::new(vec![
        member(A, "plat-a", &[Role::Platform, Role::Governor]),
        member(B, "plat-b", &[Role::Platform]),
    ])
}

fn ca_cert_of(ca: u8, platform: &str, cn: &str, nb: u64, na: u64) -> Vec<u8> {
    build_ca_cert(
        &key(ca),
        &CaParams {
            common_name: cn.into(),
            platform: pid(platform),
            serial: Serial::from_u64(1).unwrap(),
            not_before_s: nb,
            not_after_s: na,
        },
    )
    .unwrap()
}

fn ca_cert(ca: u8, platform: &str) -> Vec<u8> {
    ca_cert_of(
        ca,
        platform,
        &format!("{platform} root CA"),
        T0 - YEAR,
        T0 + YEAR,
    )
}

fn enc_key(n: u8) -> KxPublicKey {
    crate::enclave::KxSecret::from_seed([n; 32]).public_key()
}

fn party_params(party: u8, role: PartyRole, serial: u64, nb: u64, na: u64) -> PartyParams {
    PartyParams {
        common_name: format!("party {party}"),
        party_key: pk(party),
        encryption_key: enc_key(party),
        role,
        serial: Serial::from_u64(serial).unwrap(),
        not_before_s: nb,
        not_after_s: na,
    }
}

fn user_cert(ca: u8, ca_der: &[u8], party: u8, serial: u64) -> Vec<u8> {
    issue_party_cert(
        &key(ca),
        ca_der,
        &party_params(party, PartyRole::User, serial, T0 - 10, T0 + YEAR),
    )
    .unwrap()
}

fn propose(c: &mut Chain, action: Action) -> Receipt {
    c.call(A, TxCall::Governance(GovCall::Propose { action }))
}

fn approve(c: &mut Chain, platform: &str, der: &[u8]) {
    let r = propose(
        c,
        Action::ApprovePlatformCa {
            platform: pid(platform),
            ca_cert: CertDer::new(der.to_vec()).unwrap(),
        },
    );
    assert!(
        r.events.iter().any(|e| e.kind == "proposal_executed"),
        "{r:?}"
    );
}

fn register_signed(c: &mut Chain, sender: u8, der: &[u8], consenting: u8) -> Receipt {
    let party_signature = sign_registration(&key(consenting), &ChainId::new(CHAIN), der);
    c.call(
        sender,
        TxCall::Ca(Call::RegisterPartyCert {
            cert: CertDer::new(der.to_vec()).unwrap(),
            party_signature,
        }),
    )
}

fn register(c: &mut Chain, sender: u8, der: &[u8], party: u8) -> Receipt {
    register_signed(c, sender, der, party)
}

fn revoke_serial(c: &mut Chain, sender: u8, serial: u64) -> Receipt {
    c.call(
        sender,
        TxCall::Ca(Call::RevokePartyCert {
            serial: Serial::from_u64(serial).unwrap(),
        }),
    )
}

/// The receipt is a refusal with `code` whose message contains `needle`.
#[track_caller]
fn refused(r: &Receipt, code: u32, needle: &str) {
    assert_eq!(r.code, code, "{r:?}");
    let msg = r.error.as_deref().unwrap_or_default();
    assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
}

/// A: CA approved; the user certificate of USER issued.
fn setup() -> (Chain, Vec<u8>, Vec<u8>) {
    let mut c = chain();
    let ca = ca_cert(CA_A, "plat-a");
    approve(&mut c, "plat-a", &ca);
    let cert = user_cert(CA_A, &ca, USER, 7);
    (c, ca, cert)
}

#[test]
fn register_view_and_revoke() {
    let (mut c, ca, cert) = setup();
    let stored = platform_ca(&c.store, &pid("plat-a")).unwrap().unwrap();
    assert_eq!(stored.public_key, pk(CA_A));
    assert_eq!(stored.cert.as_bytes(), &ca[..]);
    assert_eq!(stored.revoked_height, None);

    let r = register(&mut c, A, &cert, USER);
    assert!(r.is_ok(), "{r:?}");
    let ev = &r.events[0];
    assert_eq!(ev.kind, "party_cert_registered");
    assert_eq!(ev.attribute("serial"), Some("07"));
    let rec = party_cert(&c.store, &pk(USER)).unwrap().unwrap();
    assert_eq!(rec.platform, pid("plat-a"));
    assert_eq!(rec.role, PartyRole::User);
    assert_eq!(rec.encryption_key, enc_key(USER));
    assert_eq!(rec.cert.as_bytes(), &cert[..]);
    assert_eq!(rec.subject, "CN=party 20,O=plat-a");
    let now = (T0 + 100) * 1000;
    assert_eq!(party_status(&c.store, &rec, now).unwrap(), Ok(()));
    assert!(certified(&c.store, &pk(USER), PartyRole::User, now)
        .unwrap()
        .is_ok());
    assert_eq!(
        certified(&c.store, &pk(USER), PartyRole::Merchant, now)
            .unwrap()
            .unwrap_err()
            .code(),
        742
    );
    assert_eq!(
        certified(&c.store, &pk(USER2), PartyRole::User, now)
            .unwrap()
            .unwrap_err()
            .code(),
        741
    );
    // Judged at block time: after notAfter the registered certificate is no longer valid.
    assert_eq!(
        party_status(&c.store, &rec, (T0 + 2 * YEAR) * 1000)
            .unwrap()
            .unwrap_err()
            .code(),
        728
    );

    // The same certificate again: its serial is taken.
    refused(&register(&mut c, A, &cert, USER), 737, "already registered");

    // The platform revokes the serial: on the list, the registered certificate is invalid.
    assert_eq!(
        revocation(&c.store, &pid("plat-a"), &Serial::from_u64(7).unwrap()).unwrap(),
        None
    );
    let r = revoke_serial(&mut c, A, 7);
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(
        r.events[0].attribute("party"),
        Some(pk(USER).to_hex().as_str())
    );
    let rev = revocation(&c.store, &pid("plat-a"), &Serial::from_u64(7).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(rev.height, c.height);
    assert_eq!(
        party_status(&c.store, &rec, now)
            .unwrap()
            .unwrap_err()
            .code(),
        733
    );
    refused(&revoke_serial(&mut c, A, 7), 739, "already revoked");
    // B's revocation list is its own: revoking serial 7 there leaves A's untouched and vice versa.
    assert!(revoke_serial(&mut c, B, 8).is_ok());
    assert_eq!(
        revocation(&c.store, &pid("plat-a"), &Serial::from_u64(8).unwrap()).unwrap(),
        None
    );
    c.check_app_hash();
}

#[test]
fn ca_not_approved_refused() {
    let mut c = chain();
    // B made a CA but governance never approved it.
    let ca_b = ca_cert(CA_B, "plat-b");
    let cert = user_cert(CA_B, &ca_b, USER, 1);
    refused(
        &register(&mut c, B, &cert, USER),
        729,
        "plat-b has no approved CA",
    );
    assert_eq!(party_cert(&c.store, &pk(USER)).unwrap(), None);
}

#[test]
fn validity_is_judged_at_block_time() {
    let (mut c, ca, _) = setup();
    // Expired a second before the block (height 2: T0 + 2).
    let expired = issue_party_cert(
        &key(CA_A),
        &ca,
        &party_params(USER, PartyRole::User, 2, T0 - YEAR, T0 + 1),
    )
    .unwrap();
    refused(
        &register(&mut c, A, &expired, USER),
        728,
        "party certificate expired",
    );
    // Valid only from a day after the block.
    let future = issue_party_cert(
        &key(CA_A),
        &ca,
        &party_params(USER, PartyRole::User, 3, T0 + 86_400, T0 + YEAR),
    )
    .unwrap();
    refused(&register(&mut c, A, &future, USER), 727, "not valid before");
    // notAfter is inclusive: a certificate whose notAfter is the block's second registers.
    let edge = issue_party_cert(
        &key(CA_A),
        &ca,
        &party_params(USER, PartyRole::User, 4, T0, T0 + c.height + 1),
    )
    .unwrap();
    let r = register(&mut c, A, &edge, USER);
    assert!(r.is_ok(), "{r:?}");

    // A CA certificate that has expired at the block's time is not approved.
    let mut c = chain();
    let old_ca = ca_cert_of(CA_A, "plat-a", "old", T0 - YEAR, T0 - 1);
    let r = propose(
        &mut c,
        Action::ApprovePlatformCa {
            platform: pid("plat-a"),
            ca_cert: CertDer::new(old_ca).unwrap(),
        },
    );
    refused(&r, 728, "CA certificate expired");
}

#[test]
fn revoked_serial_cannot_register() {
    let (mut c, _, cert) = setup();
    // Revoked before anyone registered it (issued, then withdrawn).
    assert!(revoke_serial(&mut c, A, 7).is_ok());
    refused(&register(&mut c, A, &cert, USER), 733, "is revoked");
}

#[test]
fn key_not_matching_the_signer_refused() {
    let (mut c, _, cert) = setup();
    // The platform registers USER's certificate with another key's consent (its own).
    refused(
        &register_signed(&mut c, A, &cert, A),
        734,
        "not signed by the certified key",
    );
    refused(
        &register_signed(&mut c, A, &cert, USER2),
        734,
        &pk(USER).to_hex(),
    );
    // Consent given on another chain does not count either.
    let sig = sign_registration(&key(USER), &ChainId::new("other-chain"), &cert);
    let r = c.call(
        A,
        TxCall::Ca(Call::RegisterPartyCert {
            cert: CertDer::new(cert.clone()).unwrap(),
            party_signature: sig,
        }),
    );
    refused(&r, 734, "not signed");
}

#[test]
fn forged_ca_refused() {
    let (mut c, ca, _) = setup();
    // Same subject as A's approved CA (O=plat-a, CN=plat-a root CA), another key.
    let forged = ca_cert(FORGER, "plat-a");
    assert_ne!(forged, ca);
    assert_eq!(
        decode_ca_cert(&forged).unwrap().subject,
        decode_ca_cert(&ca).unwrap().subject
    );
    let cert = user_cert(FORGER, &forged, USER, 9);
    refused(
        &register(&mut c, A, &cert, USER),
        725,
        "forged or another CA",
    );
    // A CA with another subject: its issuer name is not the approved CA's.
    let other = ca_cert_of(FORGER, "plat-a", "another CA", T0 - YEAR, T0 + YEAR);
    let cert = user_cert(FORGER, &other, USER, 10);
    refused(&register(&mut c, A, &cert, USER), 726, "issuer is not");
}

#[test]
fn platform_and_sender_must_agree() {
    let (mut c, _, cert) = setup();
    // A stranger (no member, but a key the chain knows) registers a valid certificate of A.
    c.make_known(STRANGER);
    refused(
        &register(&mut c, STRANGER, &cert, USER),
        736,
        "not a platform",
    );
    // Platform B registers A's certificate.
    refused(
        &register(&mut c, B, &cert, USER),
        735,
        "for platform plat-a, sender is plat-b",
    );
    // B with an approved CA of its own still cannot take over a key A certified.
    let ca_b = ca_cert(CA_B, "plat-b");
    approve(&mut c, "plat-b", &ca_b);
    assert!(register(&mut c, A, &cert, USER).is_ok());
    let by_b = user_cert(CA_B, &ca_b, USER, 1);
    refused(
        &register(&mut c, B, &by_b, USER),
        738,
        "valid certificate of platform plat-a",
    );
    // ... until A revokes it.
    assert!(revoke_serial(&mut c, A, 7).is_ok());
    let r = register(&mut c, B, &by_b, USER);
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(
        party_cert(&c.store, &pk(USER)).unwrap().unwrap().platform,
        pid("plat-b")
    );
    // A revokes B's serial 1 in A's own list: B's certificate stays valid.
    assert!(revoke_serial(&mut c, A, 1).is_ok());
    let rec = party_cert(&c.store, &pk(USER)).unwrap().unwrap();
    assert_eq!(
        party_status(&c.store, &rec, (T0 + 100) * 1000).unwrap(),
        Ok(())
    );
    // A stranger cannot revoke anything.
    refused(&revoke_serial(&mut c, STRANGER, 1), 736, "not a platform");
}

#[test]
fn governance_ca_rules() {
    let mut c = chain();
    let ca = ca_cert(CA_A, "plat-a");
    // A CA whose subject names another platform.
    let r = propose(
        &mut c,
        Action::ApprovePlatformCa {
            platform: pid("plat-b"),
            ca_cert: CertDer::new(ca.clone()).unwrap(),
        },
    );
    refused(&r, 732, "names platform plat-a, not plat-b");
    // A party certificate offered as a CA.
    let party = user_cert(CA_A, &ca, USER, 1);
    let r = propose(
        &mut c,
        Action::ApprovePlatformCa {
            platform: pid("plat-a"),
            ca_cert: CertDer::new(party).unwrap(),
        },
    );
    refused(&r, 724, "cA TRUE");
    // Not a member.
    let r = propose(
        &mut c,
        Action::ApprovePlatformCa {
            platform: pid("plat-z"),
            ca_cert: CertDer::new(ca_cert(CA_B, "plat-z")).unwrap(),
        },
    );
    assert_eq!(r.code, 111, "{r:?}");
    // Revoking a CA that is not there.
    refused(
        &propose(
            &mut c,
            Action::RevokePlatformCa {
                platform: pid("plat-a"),
            },
        ),
        729,
        "no approved CA",
    );

    approve(&mut c, "plat-a", &ca);
    // A second CA while one is approved.
    let r = propose(
        &mut c,
        Action::ApprovePlatformCa {
            platform: pid("plat-a"),
            ca_cert: CertDer::new(ca_cert(CA_B, "plat-a")).unwrap(),
        },
    );
    refused(&r, 731, "already has an approved CA");
    let cert = user_cert(CA_A, &ca, USER, 1);
    assert!(register(&mut c, A, &cert, USER).is_ok());

    // Governance revokes A's CA: the certificate it issued is invalid, no new one registers.
    let r = propose(
        &mut c,
        Action::RevokePlatformCa {
            platform: pid("plat-a"),
        },
    );
    assert!(
        r.events.iter().any(|e| e.kind == "proposal_executed"),
        "{r:?}"
    );
    let rec = party_cert(&c.store, &pk(USER)).unwrap().unwrap();
    let now = (T0 + 100) * 1000;
    assert_eq!(
        party_status(&c.store, &rec, now)
            .unwrap()
            .unwrap_err()
            .code(),
        730
    );
    let cert2 = user_cert(CA_A, &ca, USER2, 2);
    refused(&register(&mut c, A, &cert2, USER2), 730, "is revoked");

    // A new CA for A: the old CA's certificates stay invalid, the new one's register.
    let ca2 = ca_cert(CA_B, "plat-a");
    approve(&mut c, "plat-a", &ca2);
    assert_eq!(
        party_status(&c.store, &rec, now)
            .unwrap()
            .unwrap_err()
            .code(),
        730
    );
    refused(
        &register(&mut c, A, &cert2, USER2),
        725,
        "forged or another CA",
    );
    let cert3 = user_cert(CA_B, &ca2, USER2, 3);
    assert!(register(&mut c, A, &cert3, USER2).is_ok());

    // Removing the platform revokes its CA.
    let r = propose(&mut c, Action::RemovePlatform { id: pid("plat-b") });
    assert!(r.is_ok(), "{r:?}");
    c.check_app_hash();
}

#[test]
fn wrong_key_types_refused() {
    let der = from_pem(P256_PEM).unwrap();
    let e = decode_party_cert(&der).unwrap_err();
    assert_eq!(e.code(), 722, "{e}");
    assert!(e.to_string().contains("not Ed25519"), "{e}");
    assert_eq!(decode_ca_cert(&der).unwrap_err().code(), 722);
    let mut c = chain();
    let r = propose(
        &mut c,
        Action::ApprovePlatformCa {
            platform: pid("plat-a"),
            ca_cert: CertDer::new(der.clone()).unwrap(),
        },
    );
    refused(&r, 722, "not Ed25519");
    refused(&register(&mut c, A, &der, USER), 722, "not Ed25519");
}

#[test]
fn malformed_and_oversized_refused() {
    let (mut c, _, cert) = setup();
    for bad in [
        &b""[..],
        &b"hello"[..],
        &cert[..cert.len() - 1],
        &[0x30, 0x82, 0xff, 0xff][..],
    ] {
        let e = decode_party_cert(bad).unwrap_err();
        assert_eq!(e.code(), 720, "{e}");
        refused(
            &register(&mut c, A, bad, USER),
            720,
            "malformed certificate",
        );
    }
    // Trailing bytes after a valid certificate.
    let mut trailing = cert.clone();
    trailing.push(0);
    assert_eq!(decode_party_cert(&trailing).unwrap_err().code(), 720);
    // A non-canonical (BER long-form) length of the outer SEQUENCE.
    let mut ber = vec![0x30, 0x84];
    ber.extend_from_slice(&u32::try_from(cert.len() - 4).unwrap().to_be_bytes());
    ber.extend_from_slice(&cert[4..]);
    assert_eq!(decode_party_cert(&ber).unwrap_err().code(), 720);

    // Oversized: refused by the decoder with its size, and by the transaction decoder.
    let big = vec![0x30; MAX_CERT_BYTES + 1];
    let e = decode_party_cert(&big).unwrap_err();
    assert_eq!(
        e,
        Error::CertTooLarge {
            len: MAX_CERT_BYTES + 1,
            max: MAX_CERT_BYTES
        }
    );
    assert!(CertDer::new(big.clone()).is_err());
    let tx = SignedTx::sign(
        Transaction {
            chain_id: ChainId::new(CHAIN),
            sender: pk(A),
            nonce: 0,
            call: TxCall::Ca(Call::RegisterPartyCert {
                cert: CertDer(big.clone()),
                party_signature: Signature([0; 64]),
            }),
        },
        &key(A),
    );
    let err = SignedTx::from_bytes(&tx.to_bytes())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("certificate of 4097 bytes, limit is 4096"),
        "{err}"
    );
    // The same in a governance action.
    let tx = SignedTx::sign(
        Transaction {
            chain_id: ChainId::new(CHAIN),
            sender: pk(A),
            nonce: 0,
            call: TxCall::Governance(GovCall::Propose {
                action: Action::ApprovePlatformCa {
                    platform: pid("plat-a"),
                    ca_cert: CertDer(big),
                },
            }),
        },
        &key(A),
    );
    assert!(SignedTx::from_bytes(&tx.to_bytes()).is_err());
    // JSON is bounded the same way.
    let json = format!("\"{}\"", "00".repeat(MAX_CERT_BYTES + 1));
    assert!(serde_json::from_str::<CertDer>(&json).is_err());

    // PEM: wrong label, garbage, oversized.
    assert_eq!(
        from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
            .unwrap_err()
            .code(),
        720
    );
    assert_eq!(from_pem("not pem").unwrap_err().code(), 720);
    assert_eq!(
        from_pem(&"A".repeat(3 * MAX_CERT_BYTES))
            .unwrap_err()
            .code(),
        721
    );
    let pem = to_pem(&cert);
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
    assert_eq!(from_pem(&pem).unwrap(), cert);
}

#[test]
fn weak_keys_refused() {
    let (_, ca, _) = setup();
    // An X25519 encryption key of low order (all zeroes) is refused at issue... and at decode.
    let mut p = party_params(USER, PartyRole::User, 5, T0, T0 + YEAR);
    p.encryption_key = KxPublicKey([0; 32]);
    let der = issue_party_cert(&key(CA_A), &ca, &p).unwrap();
    assert_eq!(decode_party_cert(&der).unwrap_err().code(), 723);
    // An Ed25519 party key of small order.
    let mut p = party_params(USER, PartyRole::User, 6, T0, T0 + YEAR);
    let mut identity = [0u8; 32];
    identity[0] = 1;
    p.party_key = PublicKey(identity);
    let der = issue_party_cert(&key(CA_A), &ca, &p).unwrap();
    assert_eq!(decode_party_cert(&der).unwrap_err().code(), 723);
}

#[test]
fn serials() {
    assert_eq!("0x00ff".parse::<Serial>().unwrap().as_bytes(), &[0xff]);
    assert_eq!("abc".parse::<Serial>().unwrap().to_string(), "0abc");
    for bad in ["", "0", "00", "zz", &"ff".repeat(21)] {
        assert_eq!(bad.parse::<Serial>().unwrap_err().code(), 740, "{bad}");
    }
    assert!(Serial::new(vec![0, 1]).is_err());
    assert!(Serial::from_der_integer(&[0x80]).is_err());
    assert_eq!(
        Serial::from_der_integer(&[0, 0x80]).unwrap().as_bytes(),
        &[0x80]
    );
    // Borsh: a serial of 21 octets or with a leading zero does not decode.
    assert!(codec::decode::<Serial>(&codec::encode(&vec![1u8; 21]), 100).is_err());
    assert!(codec::decode::<Serial>(&codec::encode(&vec![0u8, 1]), 100).is_err());
    let s = Serial::from_u64(0x0102).unwrap();
    assert_eq!(codec::decode::<Serial>(&codec::encode(&s), 100).unwrap(), s);
    // A 20-octet serial round-trips through the builder and the decoder; one whose encoding
    // would take 21 octets (high bit set) is refused by the builder (RFC 5280: 20 octets).
    let (_, ca, _) = setup();
    let mut p = party_params(USER, PartyRole::Merchant, 1, T0, T0 + YEAR);
    p.serial = Serial::new(vec![0x7f; MAX_SERIAL_BYTES]).unwrap();
    let info = decode_party_cert(&issue_party_cert(&key(CA_A), &ca, &p).unwrap()).unwrap();
    assert_eq!(info.serial, p.serial);
    assert_eq!(info.role, PartyRole::Merchant);
    p.serial = Serial::new(vec![0xff; MAX_SERIAL_BYTES]).unwrap();
    assert_eq!(
        issue_party_cert(&key(CA_A), &ca, &p).unwrap_err().code(),
        720
    );
}

#[test]
fn building_is_deterministic() {
    let ca1 = ca_cert(CA_A, "plat-a");
    assert_eq!(ca1, ca_cert(CA_A, "plat-a"));
    assert_eq!(
        user_cert(CA_A, &ca1, USER, 3),
        user_cert(CA_A, &ca1, USER, 3)
    );
    // The CA key must be the CA certificate's.
    assert!(issue_party_cert(
        &key(CA_B),
        &ca1,
        &party_params(USER, PartyRole::User, 1, T0, T0 + YEAR)
    )
    .is_err());
    // Times after 2049 are GeneralizedTime and decode to the same second.
    let far = 4_102_444_800 + 17; // 2100-01-01T00:00:17Z
    let ca = ca_cert_of(CA_A, "plat-a", "long", T0, far);
    assert_eq!(decode_ca_cert(&ca).unwrap().not_after_s, far);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Arbitrary bytes never panic the decoders.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
        let _ = decode_party_cert(&bytes);
        let _ = decode_ca_cert(&bytes);
        let _ = codec::decode::<CertDer>(&bytes, 8192);
        let _ = codec::decode::<Serial>(&bytes, 64);
        if let Ok(s) = std::str::from_utf8(&bytes) {
            let _ = from_pem(s);
        }
    }

    /// Any one changed byte of a signed certificate makes it undecodable or unverifiable, never a
    /// different valid certificate, and never a panic.
    #[test]
    fn mutated_certificates_never_verify(pos in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let ca = ca_cert(CA_A, "plat-a");
        let ca_info = decode_ca_cert(&ca).unwrap();
        let mut cert = user_cert(CA_A, &ca, USER, 7);
        let i = pos.index(cert.len());
        cert[i] ^= xor;
        if let Ok(info) = decode_party_cert(&cert) {
            prop_assert!(verify_issued_by(&info, &ca_info).is_err());
        }
        let mut ca_m = ca.clone();
        let j = pos.index(ca_m.len());
        ca_m[j] ^= xor;
        prop_assert!(decode_ca_cert(&ca_m).is_err());
    }
}
