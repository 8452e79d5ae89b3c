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
    // Wider than MAX_IMAGE_SIDE: refused by the decoder's limits before any pixel buffer is made.
    let wide = GrayImage::from_pixel(qr::MAX_IMAGE_SIDE + 1, 1, Luma([255]));
    let err = qr::decode_image(&to_png(&wide)).unwrap_err();
    assert!(matches!(err, qr::Error::Image(_)), "{err}");
    // Truncated PNG.
    let good = qr::png("x", 2).unwrap();
    assert!(qr::decode_image(&good[..good.len() / 2]).is_err());
}
