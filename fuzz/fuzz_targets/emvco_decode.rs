//! The EMVCo merchant-code decoder on arbitrary input: it must never panic, and whatever it
//! accepts must be a code whose CRC and structure it can state again.
//!
//! Run with `cargo +nightly fuzz run emvco_decode` from the repository root.

#![no_main]

use libfuzzer_sys::fuzz_target;

/// The client's decoder itself (client/src/emvco.rs), compiled in without the rest of the client.
#[path = "../../client/src/emvco.rs"]
#[allow(dead_code)]
mod emvco;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(code) = emvco::decode(&text) {
        // Accepted codes are bounded and carry a verified 4-digit CRC.
        assert!(text.trim().chars().count() <= emvco::MAX_PAYLOAD_CHARS);
        assert_eq!(code.crc.len(), 4);
        let _ = code.paychain_merchant();
        let _ = code.scheme();
        let _ = serde_json::to_string(&code);
    }
});
