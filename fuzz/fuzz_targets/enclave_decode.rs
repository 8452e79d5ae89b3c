//! Every enclave decoder of outside bytes on arbitrary input, chosen by the first byte: sealed
//! records, signed quotes, signed lookups, signed answers, wrapped secrets and sealed blobs. None may
//! panic, each refuses input over its limit, and whatever one accepts re-encodes to exactly the
//! input and decodes again to the same value.
//!
//! Run with `cargo +nightly fuzz run enclave_decode` from `fuzz/`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use paychain_contracts::enclave::provision::MAX_WRAPPED_SECRET_BYTES;
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
    match selector % 6 {
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
        _ => check!(
            SealedBlob,
            rest,
            SEALED_BLOB_MAGIC.len() + MAX_SEALED_BLOB_BYTES
        ),
    }
});
