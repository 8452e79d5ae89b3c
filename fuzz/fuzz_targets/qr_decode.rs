//! The QR image reader on arbitrary bytes (what `paychain qr decode FILE` and `paychain pay --code
//! FILE` read): it must never panic, must refuse what is over its limits, and any text it reads
//! must read back the same from a clean rendering of it.
//!
//! Each input is loaded (PNG or JPEG, bounded by `MAX_IMAGE_BYTES`, `MAX_IMAGE_SIDE` and
//! `MAX_IMAGE_PIXELS` before pixels are decoded); images up to 512 x 512 are also run through both
//! QR decoders and their photo variants, so one execution stays fast.
//!
//! Run with `cargo +nightly fuzz run qr_decode` from `fuzz/`.

#![no_main]

use libfuzzer_sys::fuzz_target;

/// The client's image reader itself (client/src/qr.rs), compiled in without the rest of the client.
#[path = "../../client/src/qr.rs"]
#[allow(dead_code)]
mod qr;

fuzz_target!(|data: &[u8]| {
    if !qr::is_image(data) {
        assert!(matches!(
            qr::load(data),
            Err(qr::Error::Image(_) | qr::Error::TooLarge { .. })
        ));
        return;
    }
    let Ok(img) = qr::load(data) else {
        return;
    };
    assert!(img.width() <= qr::MAX_IMAGE_SIDE && img.height() <= qr::MAX_IMAGE_SIDE);
    assert!(u64::from(img.width()) * u64::from(img.height()) <= qr::MAX_IMAGE_PIXELS);
    if img.width() <= 512 && img.height() <= 512 {
        if let Ok(text) = qr::decode_gray(&img) {
            // (A code with more data than level M holds cannot be rendered again; skip those.)
            if let Ok(clean) = qr::image(&text, 4) {
                assert_eq!(qr::decode_gray(&clean).ok().as_deref(), Some(text.as_str()));
            }
        }
    }
});
