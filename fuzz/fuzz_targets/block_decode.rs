//! The block decoder on arbitrary input: it must never panic, it must refuse anything over
//! `MAX_BLOCK_BYTES`, and whatever it accepts must re-encode to exactly the input and decode again
//! to the same value.
//!
//! Run with `cargo +nightly fuzz run block_decode` from `fuzz/`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use paychain_contracts::block::{Block, Header};
use paychain_contracts::codec::{self, MAX_BLOCK_BYTES};

fuzz_target!(|data: &[u8]| {
    if let Ok(block) = Block::from_bytes(data) {
        assert!(data.len() <= MAX_BLOCK_BYTES);
        let bytes = block.to_bytes();
        assert_eq!(bytes, data, "accepted a non-canonical encoding");
        assert_eq!(Block::from_bytes(&bytes).as_ref(), Ok(&block));
        let _ = block.hash();
        let _ = block.tx_root_matches();
    }
    // A bare header (what a proposal's first part carries) through the generic decoder.
    if let Ok(header) = codec::decode::<Header>(data, MAX_BLOCK_BYTES) {
        let bytes = codec::encode(&header);
        assert_eq!(bytes, data, "accepted a non-canonical header");
        assert_eq!(codec::decode::<Header>(&bytes, MAX_BLOCK_BYTES), Ok(header));
    }
});
