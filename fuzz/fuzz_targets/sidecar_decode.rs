//! The enclave sidecar's decoders of what the node sends it (the node is hostile to the sidecar),
//! and the node's decoder of what the sidecar answers, on arbitrary input: `read_frame` on the
//! byte stream, `decode_request` and `decode_response` on a frame's body. None may panic; a frame
//! body over the bound is never read; whatever `decode_request` accepts is within its list bounds
//! and re-encodes to exactly the input.
//!
//! The protocol file is compiled from `node/src/sidecar/proto.rs` as it is (it needs only
//! paychain-contracts, borsh and thiserror), so no node dependency enters a fuzz build.
//!
//! Run with `cargo +nightly fuzz run sidecar_decode` from `fuzz/`.

#![no_main]

#[path = "../../node/src/sidecar/proto.rs"]
#[allow(dead_code)]
mod proto;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut stream = data;
    if let Ok(body) = proto::read_frame(&mut stream, proto::MAX_FRAME_BYTES) {
        assert!(body.len() <= proto::MAX_FRAME_BYTES);
        assert_eq!(body.as_slice(), &data[4..4 + body.len()]);
        let _ = proto::decode_request(&body);
    }
    if let Ok(request) = proto::decode_request(data) {
        assert!(request.check_bounds().is_ok());
        let bytes = borsh::to_vec(&request).expect("a decoded request encodes");
        assert_eq!(bytes.as_slice(), data, "accepted a non-canonical encoding");
    }
    let _ = proto::decode_response(data);
});
