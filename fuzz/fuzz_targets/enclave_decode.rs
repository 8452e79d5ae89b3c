//! Every enclave decoder of outside bytes on arbitrary input, chosen by the first byte: sealed
//! records, signed quotes, signed lookups, signed answers, wrapped secrets, sealed blobs, and the
//! private-state openings (a stored value the host supplies, a sealed call, a sealed receipt). None
//! may panic, each refuses input over its limit, and whatever one accepts re-encodes to exactly the
//! input and decodes again to the same value.
//!
//! Run with `cargo +nightly fuzz run enclave_decode` from `fuzz/`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use paychain_contracts::codec;
use paychain_contracts::crypto::{Hash, PublicKey};
use paychain_contracts::private::{SealedCall, Vault, MAX_SEALED_CALL_BYTES};
use paychain_contracts::enclave::provision::MAX_WRAPPED_SECRET_BYTES;
use paychain_contracts::ids::ChainId;
use paychain_contracts::enclave::query::{MAX_SIGNED_ANSWER_BYTES, MAX_SIGNED_LOOKUP_BYTES};
use paychain_contracts::enclave::quote::MAX_SIGNED_QUOTE_BYTES;
use paychain_contracts::enclave::records::MAX_SEALED_RECORD_BYTES;
use paychain_contracts::enclave::seal::{MAX_SEALED_BLOB_BYTES, SEALED_BLOB_MAGIC};
use paychain_contracts::enclave::{
    SealedBlob, SealedRecord, SignedAnswer, SignedLookup, SignedQuote, WrappedSecret,
};

macro_rules! check {
    ($ty:ty, $data:expr, $max:expr) => {{
        let data: &[u8] = $data;
        if let Ok(v) = <$ty>::from_bytes(data) {
            assert!(data.len() <= $max, "accepted {} bytes", data.len());
            let bytes = v.to_bytes();
            assert_eq!(bytes, data, "accepted a non-canonical encoding");
            assert_eq!(<$ty>::from_bytes(&bytes).ok().as_ref(), Some(&v));
        }
    }};
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 7 {
        0 => {
            check!(SealedRecord, rest, MAX_SEALED_RECORD_BYTES);
            if let Ok(r) = SealedRecord::from_bytes(rest) {
                assert!(r.check_bounds().is_ok());
                let _ = r.hash();
            }
        }
        1 => check!(SignedQuote, rest, MAX_SIGNED_QUOTE_BYTES),
        2 => {
            check!(SignedLookup, rest, MAX_SIGNED_LOOKUP_BYTES);
            if let Ok(l) = SignedLookup::from_bytes(rest) {
                let _ = l.verify_signature();
                let _ = l.request.hash();
            }
        }
        3 => check!(SignedAnswer, rest, MAX_SIGNED_ANSWER_BYTES),
        4 => {
            check!(WrappedSecret, rest, MAX_WRAPPED_SECRET_BYTES);
            if let Ok(w) = WrappedSecret::from_bytes(rest) {
                let _ = w.hash();
            }
        }
        6 => {
            // What the host hands an enclave of a chain with private state: nothing it makes up opens.
            let vault = Vault::from_secret(&[1; 32], &ChainId::new("fuzz")).expect("a vault");
            let (key, value) = rest.split_at(rest.len().min(36));
            assert!(vault.open_value(key, value).is_err());
            assert!(vault
                .open_receipt_details(&Hash::digest(key), value)
                .is_err());
            if let Ok(sealed) = codec::decode::<SealedCall>(rest, MAX_SEALED_CALL_BYTES) {
                let sender = PublicKey([7; 32]);
                let _ = vault.open_call(&ChainId::new("fuzz"), &sender, 0, &sealed);
            }
        }
        _ => check!(
            SealedBlob,
            rest,
            SEALED_BLOB_MAGIC.len() + MAX_SEALED_BLOB_BYTES
        ),
    }
});
