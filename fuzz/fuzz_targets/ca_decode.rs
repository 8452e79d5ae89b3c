//! The consortium CA's certificate decoders (`paychain_contracts::ca`) on arbitrary input: the
//! party and CA certificate decoders, the PEM reader and the bounded borsh types of the CA calls
//! must never panic; anything accepted is at most `MAX_CERT_BYTES`, round-trips through PEM, and a
//! decoded CA certificate's self-signature verified (so its key verifies its own TBS).
//!
//! Run with `cargo +nightly fuzz run ca_decode` from `fuzz/` (seeds: a CA and a party certificate
//! in `seeds/ca_decode/`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use paychain_contracts::ca::{self, CertDer, Serial, MAX_CERT_BYTES};
use paychain_contracts::codec;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = ca::decode_party_cert(data) {
        assert!(data.len() <= MAX_CERT_BYTES);
        assert_eq!(ca::from_pem(&ca::to_pem(data)).as_deref(), Ok(data));
        let _ = info.serial.to_string();
        let _ = info.encryption_key.is_weak();
        let _ = ca::check_validity("party certificate", info.not_before_s, info.not_after_s, 0);
    }
    if let Ok(info) = ca::decode_ca_cert(data) {
        assert!(data.len() <= MAX_CERT_BYTES);
        // A CA certificate is never also a party certificate (the party extension and cA differ).
        assert!(ca::decode_party_cert(data).is_err());
        let _ = info.subject.len();
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(der) = ca::from_pem(s) {
            assert!(der.len() <= MAX_CERT_BYTES);
            let _ = ca::decode_party_cert(&der);
        }
    }
    if let Ok(c) = codec::decode::<CertDer>(data, 2 * MAX_CERT_BYTES) {
        assert!(c.as_bytes().len() <= MAX_CERT_BYTES);
        assert_eq!(codec::encode(&c), data);
    }
    if let Ok(s) = codec::decode::<Serial>(data, 64) {
        assert_eq!(codec::encode(&s), data);
        assert_eq!(s.to_string().parse::<Serial>().as_ref(), Ok(&s));
    }
});
