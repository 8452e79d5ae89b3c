//! QR images of merchant codes: PNG round trips, including the distortions of a photo (rotation,
//! scaling, blur, a code that fills only part of the picture).

use std::io::Cursor;
use std::str::FromStr;

use image::imageops::{self, FilterType};
use image::{GrayImage, ImageFormat, Luma};
use paychain_client::contracts::ids::MerchantId;
use paychain_client::emvco::{self, MerchantCodeSpec};
use paychain_client::qr;
use rust_decimal::Decimal;

fn payload() -> String {
    let id = MerchantId::from_str("M0123456789ABCDEF0123").unwrap();
    let spec = MerchantCodeSpec::new(id, "Café 北京", "Beijing", "5812", "156", "CN")
        .unwrap()
        .with_payment(Decimal::from_str("88.80").unwrap(), "ORDER-2024-0001")
        .unwrap();
    emvco::encode(&spec)
}

fn to_png(img: &GrayImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).unwrap();
    out.into_inner()
}

fn round_trip(name: &str, img: &GrayImage, want: &str) {
    let got = qr::decode_image(&to_png(img)).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(got, want, "{name}");
    assert!(emvco::decode(&got).is_ok(), "{name}");
}

#[test]
fn png_round_trip() {
    let payload = payload();
    let bytes = qr::png(&payload, qr::DEFAULT_SCALE).unwrap();
    assert!(qr::is_image(&bytes));
    let got = qr::decode_image(&bytes).unwrap();
    assert_eq!(got, payload);
    let code = emvco::decode(&got).unwrap();
    assert_eq!(code.paychain_merchant(), Ok("M0123456789ABCDEF0123"));
    assert_eq!(code.merchant_name.as_deref(), Some("Café 北京"));
}

#[test]
fn rotated_scaled_and_blurred_images() {
    let payload = payload();
    let img = qr::image(&payload, qr::DEFAULT_SCALE).unwrap();
    let (w, h) = img.dimensions();
    let cases: Vec<(&str, GrayImage)> = vec![
        ("rotated 90", imageops::rotate90(&img)),
        ("rotated 180", imageops::rotate180(&img)),
        ("rotated 270", imageops::rotate270(&img)),
        (
            "scaled 0.5x",
            imageops::resize(&img, w / 2, h / 2, FilterType::Triangle),
        ),
        (
            "scaled 2x",
            imageops::resize(&img, w * 2, h * 2, FilterType::Nearest),
        ),
        ("slightly blurred", imageops::blur(&img, 1.5)),
        (
            "rotated 90, scaled 0.5x and blurred",
            imageops::blur(
                &imageops::resize(
                    &imageops::rotate90(&img),
                    w / 2,
                    h / 2,
                    FilterType::Triangle,
                ),
                0.8,
            ),
        ),
        ("small part of a large grey photo", in_photo(&img)),
        ("cropped to the code, no quiet zone", crop_quiet_zone(&img)),
    ];
    for (name, variant) in cases {
        round_trip(name, &variant, &payload);
    }
}

/// The code at 0.7x, off-centre on a larger light-grey canvas with a soft edge.
fn in_photo(code: &GrayImage) -> GrayImage {
    let small = imageops::resize(
        code,
        code.width() * 7 / 10,
        code.height() * 7 / 10,
        FilterType::Triangle,
    );
    let mut canvas = GrayImage::from_fn(small.width() * 2, small.height() * 2, |x, y| {
        Luma([200 + ((x * 7 + y * 13) % 40) as u8])
    });
    imageops::replace(
        &mut canvas,
        &small,
        i64::from(small.width() / 3),
        i64::from(small.height() / 2),
    );
    imageops::blur(&canvas, 0.7)
}

/// The code without its white border (some screenshots are cropped this tight).
fn crop_quiet_zone(code: &GrayImage) -> GrayImage {
    let margin = 4 * qr::DEFAULT_SCALE;
    imageops::crop_imm(
        code,
        margin,
        margin,
        code.width() - 2 * margin,
        code.height() - 2 * margin,
    )
    .to_image()
}

#[test]
fn transparent_background_reads_as_white() {
    let payload = payload();
    let gray = qr::image(&payload, 4).unwrap();
    let rgba = image::RgbaImage::from_fn(gray.width(), gray.height(), |x, y| {
        if gray.get_pixel(x, y)[0] < 128 {
            image::Rgba([0, 0, 0, 255])
        } else {
            image::Rgba([0, 0, 0, 0])
        }
    });
    let mut out = Cursor::new(Vec::new());
    rgba.write_to(&mut out, ImageFormat::Png).unwrap();
    assert_eq!(qr::decode_image(&out.into_inner()).unwrap(), payload);
}

#[test]
fn hostile_images_are_refused() {
    assert!(matches!(
        qr::decode_image(&vec![0u8; qr::MAX_IMAGE_BYTES + 1]),
        Err(qr::Error::TooLarge { .. })
    ));
    // Wider than MAX_IMAGE_SIDE (PNG and JPEG): refused on the header, before any pixel is decoded.
    let wide = GrayImage::from_pixel(qr::MAX_IMAGE_SIDE + 1, 1, Luma([255]));
    let err = qr::decode_image(&to_png(&wide)).unwrap_err();
    assert!(
        matches!(err, qr::Error::TooManyPixels { width, height: 1 } if width == qr::MAX_IMAGE_SIDE + 1),
        "{err}"
    );
    let err = qr::decode_image(&to_jpeg(&wide, 90)).unwrap_err();
    assert!(matches!(err, qr::Error::TooManyPixels { .. }), "{err}");
    // A header claiming 7000 x 7500 pixels (each side allowed, the area not) and no pixel data:
    // refused for its size, not for the missing data, so nothing was decoded.
    let err = qr::decode_image(&png_header(7000, 7500)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the image is 7000x7500 pixels, more than 50000000 pixels or 8192 on a side"
    );
    // Truncated PNG and JPEG.
    let good = qr::png("x", 2).unwrap();
    assert!(qr::decode_image(&good[..good.len() / 2]).is_err());
    let good = to_jpeg(&qr::image("x", 4).unwrap(), 90);
    assert!(qr::decode_image(&good[..good.len() / 2]).is_err());
    // Other formats are not images here (and the message does not echo the input).
    let gif = [b"GIF89a".as_slice(), &[0u8; 100_000]].concat();
    assert!(!qr::is_image(&gif));
    let err = qr::decode_image(&gif).unwrap_err();
    assert_eq!(
        err.to_string(),
        "not a readable image: not a PNG or JPEG image"
    );
}

/// A PNG signature, an IHDR chunk (8-bit grayscale, `width` x `height`) and an empty IDAT chunk:
/// a header and no pixels.
fn png_header(width: u32, height: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    for (kind, data) in [(b"IHDR", ihdr), (b"IDAT", Vec::new())] {
        let body = [kind.as_slice(), &data].concat();
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    out
}

fn to_jpeg(img: &GrayImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(img)
        .unwrap();
    out
}

#[test]
fn jpeg_round_trip() {
    let payload = payload();
    let bytes = to_jpeg(&qr::image(&payload, 4).unwrap(), 75);
    assert!(qr::is_image(&bytes));
    assert_eq!(qr::decode_image(&bytes).unwrap(), payload);
    // A colour JPEG, as phones write them.
    let gray = qr::image(&payload, 4).unwrap();
    let rgb = image::RgbImage::from_fn(gray.width(), gray.height(), |x, y| {
        let l = gray.get_pixel(x, y)[0];
        image::Rgb([l, l.saturating_sub(20), l / 2 + 100])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
        .encode_image(&rgb)
        .unwrap();
    assert_eq!(qr::decode_image(&out).unwrap(), payload);
}

#[test]
fn engines_read_the_same_payload() {
    let payload = payload();
    let img = qr::image(&payload, 4).unwrap();
    for engines in [&[qr::Engine::Rxing][..], &[qr::Engine::Rqrr], qr::ENGINES] {
        assert_eq!(qr::decode_gray_with(&img, engines).unwrap(), payload);
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Garbage behind a PNG or JPEG signature is an error, never a panic.
    #[test]
    fn image_decoder_never_panics(
        jpeg in proptest::prelude::any::<bool>(),
        body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000),
    ) {
        let head: &[u8] = if jpeg { &[0xFF, 0xD8, 0xFF, 0xE0] } else { b"\x89PNG\r\n\x1a\n" };
        let _ = qr::decode_image(&[head, &body].concat());
    }
}

/// Seeds of the `qr_decode` fuzz target (fuzz/seeds/qr_decode): a static paychain code as a PNG
/// and as a JPEG, a few kilobytes each.
#[test]
#[ignore = "writes fuzz/seeds/qr_decode"]
fn write_fuzz_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/qr_decode");
    std::fs::create_dir_all(&dir).unwrap();
    let id = MerchantId::from_str("M0123456789ABCDEF0123").unwrap();
    let spec = MerchantCodeSpec::new(id, "Noodle Bar", "Shanghai", "5812", "156", "CN").unwrap();
    let payload = emvco::encode(&spec);
    std::fs::write(dir.join("static_code.png"), qr::png(&payload, 2).unwrap()).unwrap();
    let img = qr::image(&payload, 3).unwrap();
    std::fs::write(dir.join("static_code.jpg"), to_jpeg(&img, 50)).unwrap();
}
