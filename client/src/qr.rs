//! QR images of payment codes: render a payload as PNG bytes or as terminal text, and find the
//! payload in an image (a PNG or JPEG file: a screenshot, or a phone photo of a code: rotated,
//! seen at an angle, out of focus, noisy, small, compressed).
//!
//! ```text
//! payload ──► png(payload, scale) ──► PNG bytes        payload ──► terminal(payload) ──► text
//! image bytes ──► load ──► decode_gray ──► payload text (then emvco::decode)
//!   (decode_image)  │         rxing (ZXing's readers), then rqrr (quirc) as a fallback, each on the
//!                   │         image and on variants made for photos (smoothed, enlarged and sharpened, ...)
//!                   └── PNG or JPEG, bounded before any pixel is decoded
//! ```
//!
//! Pure functions over bytes: reading and writing files is the caller's business. Image inputs are
//! bounded ([`MAX_IMAGE_BYTES`]; [`MAX_IMAGE_SIDE`] and [`MAX_IMAGE_PIXELS`], read from the header)
//! so a hostile file cannot exhaust memory; the decoders never panic the caller (a panic inside
//! rxing is caught and reported as an unreadable code).
//!
//! On a generated set of 80 photo-like images (`tests/it/qr_photos.rs`: rotation, perspective,
//! blur, noise, low resolution, JPEG, cropped quiet zone, all at once), rqrr alone reads 69%, this
//! module 94% (and 91-92% on two held-out sets), never a wrong payload.

use std::io::Cursor;

use image::imageops::FilterType;
use image::{DynamicImage, GrayImage, ImageFormat, ImageReader};
use qrcode::render::unicode::Dense1x2;
use qrcode::{Color, EcLevel, QrCode};

/// Largest image file accepted, in bytes.
pub const MAX_IMAGE_BYTES: usize = 16 * 1024 * 1024;

/// Largest image width or height accepted, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 8192;

/// Most pixels accepted (a 48-megapixel phone photo fits), checked on the header before decoding.
pub const MAX_IMAGE_PIXELS: u64 = 50_000_000;

/// Most memory the image decoder may allocate.
const MAX_DECODE_ALLOC: u64 = 512 * 1024 * 1024;

/// Pixels per QR module in PNGs unless the caller says otherwise.
pub const DEFAULT_SCALE: u32 = 8;

/// Modules of white border around the code (the quiet zone QR readers need).
const QUIET_ZONE: u32 = 4;

/// Longest side the detector is given; photos are scaled down to this first.
const DETECT_SIDE: u32 = 1200;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot make a QR code of this payload: {0}")]
    Encode(#[from] qrcode::types::QrError),
    #[error("the image is larger than {max} bytes")]
    TooLarge { max: usize },
    #[error("not a readable image: {0}")]
    Image(String),
    #[error("the image is {width}x{height} pixels, more than {MAX_IMAGE_PIXELS} pixels or {MAX_IMAGE_SIDE} on a side")]
    TooManyPixels { width: u32, height: u32 },
    #[error("no QR code found in the image")]
    NotFound,
    #[error("a QR code was found but could not be read: {0}")]
    Unreadable(String),
    #[error("the QR code does not hold text")]
    NotText,
}

fn code(payload: &str) -> Result<QrCode, Error> {
    // Level M survives a little damage and keeps a 512-character code at a scannable size.
    Ok(QrCode::with_error_correction_level(
        payload.as_bytes(),
        EcLevel::M,
    )?)
}

/// A grayscale image of the code: `scale` pixels per module (at least 1), quiet zone included.
pub fn image(payload: &str, scale: u32) -> Result<GrayImage, Error> {
    let code = code(payload)?;
    let scale = scale.max(1);
    let modules = u32::try_from(code.width()).map_err(|e| Error::Image(e.to_string()))?;
    let colors = code.to_colors();
    let span = modules + 2 * QUIET_ZONE;
    let side = span * scale;
    let dark = |mx: u32, my: u32| {
        mx >= QUIET_ZONE
            && my >= QUIET_ZONE
            && mx - QUIET_ZONE < modules
            && my - QUIET_ZONE < modules
            && colors
                .get(((my - QUIET_ZONE) * modules + (mx - QUIET_ZONE)) as usize)
                .is_some_and(|c| *c == Color::Dark)
    };
    // One pixel row per module row, repeated `scale` times.
    let mut pixels = Vec::with_capacity(side as usize * side as usize);
    for my in 0..span {
        let row: Vec<u8> = (0..side)
            .map(|x| if dark(x / scale, my) { 0 } else { 255 })
            .collect();
        for _ in 0..scale {
            pixels.extend_from_slice(&row);
        }
    }
    GrayImage::from_raw(side, side, pixels)
        .ok_or_else(|| Error::Image("inconsistent pixel buffer".to_owned()))
}

/// The code as PNG bytes.
pub fn png(payload: &str, scale: u32) -> Result<Vec<u8>, Error> {
    let img = image(payload, scale)?;
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png)
        .map_err(|e| Error::Image(e.to_string()))?;
    Ok(out.into_inner())
}

/// The code drawn with Unicode half blocks (two modules per character cell), light on dark, for a
/// terminal with a dark background.
pub fn terminal(payload: &str) -> Result<String, Error> {
    Ok(code(payload)?
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Light)
        .light_color(Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

/// Whether `bytes` look like an image this module can read (PNG or JPEG) rather than payload text.
pub fn is_image(bytes: &[u8]) -> bool {
    image_format(bytes).is_some()
}

/// The format of `bytes` if it is one this module reads.
fn image_format(bytes: &[u8]) -> Option<ImageFormat> {
    image::guess_format(bytes)
        .ok()
        .filter(|f| matches!(f, ImageFormat::Png | ImageFormat::Jpeg))
}

/// The first characters of a foreign error message (never more than a line's worth).
fn short(msg: impl std::fmt::Display) -> String {
    const MAX: usize = 160;
    let msg = msg.to_string();
    match msg.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}...", &msg[..at]),
        None => msg,
    }
}

/// Decodes the image file in `bytes` (PNG or JPEG) to grayscale, transparent pixels as white.
///
/// Bounded before any pixel is decoded: more than [`MAX_IMAGE_BYTES`] bytes, a side over
/// [`MAX_IMAGE_SIDE`] or more than [`MAX_IMAGE_PIXELS`] pixels (read from the header) are refused.
pub fn load(bytes: &[u8]) -> Result<GrayImage, Error> {
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(Error::TooLarge {
            max: MAX_IMAGE_BYTES,
        });
    }
    let format =
        image_format(bytes).ok_or_else(|| Error::Image("not a PNG or JPEG image".to_owned()))?;
    let reader = || ImageReader::with_format(Cursor::new(bytes), format);
    let (width, height) = reader()
        .into_dimensions()
        .map_err(|e| Error::Image(short(e)))?;
    if width > MAX_IMAGE_SIDE
        || height > MAX_IMAGE_SIDE
        || u64::from(width) * u64::from(height) > MAX_IMAGE_PIXELS
    {
        return Err(Error::TooManyPixels { width, height });
    }
    let mut reader = reader();
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| Error::Image(short(e)))?;
    if !img.color().has_alpha() {
        return Ok(img.into_luma8());
    }
    let la = img.into_luma_alpha8();
    let (width, height) = la.dimensions();
    // Composite over white so a transparent background does not read as black.
    let gray = la
        .as_raw()
        .chunks_exact(2)
        .map(|p| {
            let (l, a) = (u32::from(p[0]), u32::from(p[1]));
            ((l * a + 255 * (255 - a)) / 255) as u8
        })
        .collect();
    GrayImage::from_raw(width, height, gray)
        .ok_or_else(|| Error::Image("inconsistent pixel buffer".to_owned()))
}

/// The text of the first QR code found in the image file `bytes` (PNG or JPEG).
pub fn decode_image(bytes: &[u8]) -> Result<String, Error> {
    decode_gray(&load(bytes)?)
}

/// A QR decoder this module can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// `rxing`, the Rust port of ZXing: its port of zxing-cpp's QR reader, then ZXing's own.
    Rxing,
    /// `rqrr`, a port of quirc (the only decoder before rxing was added).
    Rqrr,
}

/// The engines [`decode_gray`] runs, in order: rxing, then rqrr as a fallback (rqrr reads a few
/// images rxing misses; see `tests/it/qr_photos.rs`).
pub const ENGINES: &[Engine] = &[Engine::Rxing, Engine::Rqrr];

/// The text of the first QR code found in `img`, by the engines of [`ENGINES`].
pub fn decode_gray(img: &GrayImage) -> Result<String, Error> {
    decode_gray_with(img, ENGINES)
}

/// The text of the first QR code found in `img` by `engines`, in order. Photos are first scaled
/// down to 1200 pixels on their longest side. Each engine gets the image as it is, then
/// variants that help with photos, each made only when the ones before it failed:
///
/// - rxing: smoothed (noise); twice the size and sharpened (blur, few pixels per module); on a
///   white border and smoothed (a code cropped to its edge); three times the size (very low
///   resolution). Each was kept because it reads images of the generated photo set
///   (`tests/it/qr_photos.rs`) that the steps before it do not.
/// - rqrr: its steps from before rxing: a white border, 2x, 0.5x, a border and smoothing, a
///   quarter turn.
///
/// The first failure other than "no code found" is the error when nothing reads.
pub fn decode_gray_with(img: &GrayImage, engines: &[Engine]) -> Result<String, Error> {
    let mut first_failure = None;
    let fitted = fit(img);
    let base = fitted.as_ref().unwrap_or(img);
    for engine in engines {
        let steps = match engine {
            Engine::Rxing => 5,
            Engine::Rqrr => 6,
        };
        for step in 0..steps {
            let variant = match (engine, step) {
                (_, 0) => None,
                (Engine::Rxing, 1) => Some(blur(base, 0.8)),
                (Engine::Rxing, 2) => Some(sharpen(&scaled(img, base, 2.0), 2.0)),
                (Engine::Rxing, 3) => Some(blur(&with_border(base), 1.2)),
                (Engine::Rxing, _) => Some(scaled(img, base, 3.0)),
                (Engine::Rqrr, 1) => Some(with_border(base)),
                (Engine::Rqrr, 2) => Some(scaled(base, base, 2.0)),
                (Engine::Rqrr, 3) => Some(scaled(base, base, 0.5)),
                (Engine::Rqrr, 4) => Some(blur(&with_border(base), 1.2)),
                (Engine::Rqrr, _) => Some(dynamic(&with_border(base)).rotate90().into_luma8()),
            };
            let candidate = variant.as_ref().unwrap_or(base);
            let found = match engine {
                Engine::Rxing => detect_rxing(candidate),
                Engine::Rqrr => detect_rqrr(candidate),
            };
            match found {
                Ok(text) => return Ok(text),
                Err(Error::NotFound) => {}
                Err(e) => {
                    first_failure.get_or_insert(e);
                }
            }
        }
    }
    Err(first_failure.unwrap_or(Error::NotFound))
}

fn detect_rxing(img: &GrayImage) -> Result<String, Error> {
    use rxing::{BarcodeFormat, DecodeHints, Exceptions};
    if img.width() < 21 || img.height() < 21 {
        return Err(Error::NotFound);
    }
    // The helper (not the generic reader API) so the decoder runs as compiled in rxing, optimised
    // even in this crate's debug builds. It tries hard (more rows scanned, both QR readers).
    let mut hints = DecodeHints::default();
    // A decoder of outside pixels must not take the process down: a panic in it is a failed read.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rxing::helpers::detect_in_luma_slice_with_hints(
            img.as_raw(),
            img.width(),
            img.height(),
            Some(BarcodeFormat::QR_CODE),
            &mut hints,
        )
    }));
    let why = match result {
        Ok(Ok(found)) => return Ok(found.getText().to_owned()),
        Ok(Err(Exceptions::NotFoundException(_))) => return Err(Error::NotFound),
        Ok(Err(Exceptions::ChecksumException(_) | Exceptions::ReedSolomonException(_))) => {
            "too damaged for its error correction".to_owned()
        }
        Ok(Err(Exceptions::FormatException(_))) => "its format or version is unreadable".to_owned(),
        Ok(Err(e)) => short(e),
        Err(_) => "the QR decoder failed".to_owned(),
    };
    Err(Error::Unreadable(why))
}

fn detect_rqrr(img: &GrayImage) -> Result<String, Error> {
    if img.width() < 21 || img.height() < 21 {
        return Err(Error::NotFound);
    }
    let width = img.width() as usize;
    let pixels = img.as_raw();
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(width, img.height() as usize, |x, y| {
            pixels.get(y * width + x).copied().unwrap_or(255)
        });
    let grids = prepared.detect_grids();
    let mut failure = None;
    for grid in grids {
        let mut bytes = Vec::new();
        match grid.decode_to(&mut bytes) {
            Ok(_) => return String::from_utf8(bytes).map_err(|_| Error::NotText),
            Err(e) => {
                failure.get_or_insert(Error::Unreadable(short(e)));
            }
        }
    }
    Err(failure.unwrap_or(Error::NotFound))
}

// Image operations go through `DynamicImage`'s methods: they are compiled (optimised) in the
// `image` crate, where the generic `imageops` functions would be compiled here, unoptimised in
// debug builds and tens of times slower.

fn dynamic(img: &GrayImage) -> DynamicImage {
    DynamicImage::ImageLuma8(img.clone())
}

fn blur(img: &GrayImage, sigma: f32) -> GrayImage {
    dynamic(img).blur(sigma).into_luma8()
}

/// Unsharp mask: `img` plus its difference from a blurred copy.
fn sharpen(img: &GrayImage, sigma: f32) -> GrayImage {
    dynamic(img).unsharpen(sigma, 0).into_luma8()
}

/// Scaled down so the longest side is at most [`DETECT_SIDE`], if it is longer.
fn fit(img: &GrayImage) -> Option<GrayImage> {
    let side = img.width().max(img.height());
    (side > DETECT_SIDE).then(|| scaled(img, img, f64::from(DETECT_SIDE) / f64::from(side)))
}

/// `base` (`original` or `original` fitted to [`DETECT_SIDE`]) scaled by `factor`, resampled from
/// `original` so a photo scaled down by [`fit`] regains its detail; at most twice [`DETECT_SIDE`]
/// on its longest side.
fn scaled(original: &GrayImage, base: &GrayImage, factor: f64) -> GrayImage {
    let longest = f64::from(base.width().max(base.height()));
    let factor = factor.min(f64::from(2 * DETECT_SIDE) / longest);
    let w = ((f64::from(base.width()) * factor).round() as u32).max(1);
    let h = ((f64::from(base.height()) * factor).round() as u32).max(1);
    dynamic(original)
        .resize_exact(w, h, FilterType::Triangle)
        .into_luma8()
}

/// `img` on a white canvas with a margin of a tenth of its size (codes cropped to their edge lack
/// the quiet zone detectors look for).
fn with_border(img: &GrayImage) -> GrayImage {
    let margin = (img.width().max(img.height()) / 10).max(8) as usize;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let out_w = w + 2 * margin;
    let mut out = vec![255u8; out_w * (h + 2 * margin)];
    for (y, row) in img.as_raw().chunks_exact(w.max(1)).enumerate() {
        let at = (y + margin) * out_w + margin;
        out[at..at + w].copy_from_slice(row);
    }
    GrayImage::from_raw(out_w as u32, (h + 2 * margin) as u32, out).unwrap_or_else(|| img.clone())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use image::Luma;

    #[test]
    fn png_round_trip() {
        let bytes = png("hello paychain", 4).unwrap();
        assert!(is_image(&bytes));
        assert_eq!(decode_image(&bytes).unwrap(), "hello paychain");
    }

    #[test]
    fn not_an_image() {
        assert!(!is_image(b"00020101021126"));
        assert!(matches!(decode_image(b"not a png"), Err(Error::Image(_))));
    }

    #[test]
    fn blank_image_has_no_code() {
        let img = GrayImage::from_pixel(200, 200, Luma([255]));
        assert!(matches!(decode_gray(&img), Err(Error::NotFound)));
    }

    #[test]
    fn terminal_rendering_uses_half_blocks() {
        let text = terminal("hi").unwrap();
        assert!(text.contains('▀') || text.contains('▄') || text.contains('█'));
        assert!(text.lines().count() > 10);
    }
}
