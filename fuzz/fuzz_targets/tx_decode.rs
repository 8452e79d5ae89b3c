//! The transaction decoder on arbitrary input: it must never panic, it must refuse anything over
//! `MAX_TX_BYTES`, and whatever it accepts must re-encode to exactly the input (one value, one
//! encoding; the tx hash and signature commit to those bytes) and decode again to the same value.
//!
//! Run with `cargo +nightly fuzz run tx_decode` from `fuzz/`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use paychain_contracts::codec::{self, MAX_TX_BYTES};
use paychain_contracts::tx::SignedTx;

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = SignedTx::from_bytes(data) {
        assert!(data.len() <= MAX_TX_BYTES);
        let bytes = tx.to_bytes();
        assert_eq!(bytes, data, "accepted a non-canonical encoding");
        assert_eq!(SignedTx::from_bytes(&bytes).as_ref(), Ok(&tx));
        // What the node does next with a decoded tx must not panic either.
        let _ = tx.hash();
        let _ = tx.verify_signature();
        let _ = serde_json::to_string(&tx);
    }
    // The generic decoder with the same limit agrees.
    assert_eq!(
        codec::decode::<SignedTx>(data, MAX_TX_BYTES).is_ok(),
        SignedTx::from_bytes(data).is_ok()
    );
});
