//! QR images of payment codes: render a payload as PNG bytes or as terminal text, and find the
//! payload in an image (a PNG file or a photo of a code: rotated, scaled or a little blurred).
//!
//! ```text
//! payload ──► png(payload, scale) ──► PNG bytes        payload ──► terminal(payload) ──► text
//! image bytes ──► decode_image(bytes) ──► payload text (then emvco::decode)
//! ```
//!
//! Pure functions over bytes: reading and writing files is the caller's business. Image inputs are
//! bounded ([`MAX_IMAGE_BYTES`], [`MAX_IMAGE_SIDE`]) so a hostile file cannot exhaust memory.

use std::io::Cursor;

use image::imageops::{self, FilterType};
use image::{GrayImage, ImageFormat, ImageReader, Luma};
use qrcode::render::unicode::Dense1x2;
use qrcode::{Color, EcLevel, QrCode};

/// Largest image file accepted, in bytes.
pub const MAX_IMAGE_BYTES: usize = 16 * 1024 * 1024;

/// Largest image width or height accepted, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 8192;

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
    let side = (modules + 2 * QUIET_ZONE) * scale;
    Ok(GrayImage::from_fn(side, side, |x, y| {
        let (mx, my) = (x / scale, y / scale);
        let dark = mx >= QUIET_ZONE
            && my >= QUIET_ZONE
            && mx - QUIET_ZONE < modules
            && my - QUIET_ZONE < modules
            && colors
                .get(((my - QUIET_ZONE) * modules + (mx - QUIET_ZONE)) as usize)
                .is_some_and(|c| *c == Color::Dark);
        Luma([if dark { 0 } else { 255 }])
    }))
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

/// Whether `bytes` look like an image this module can read (rather than payload text).
pub fn is_image(bytes: &[u8]) -> bool {
    image::guess_format(bytes).is_ok_and(|f| f == ImageFormat::Png)
}

/// Decodes the image file in `bytes` (PNG) to grayscale, transparent pixels as white.
pub fn load(bytes: &[u8]) -> Result<GrayImage, Error> {
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(Error::TooLarge {
            max: MAX_IMAGE_BYTES,
        });
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::Image(e.to_string()))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(512 * 1024 * 1024);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| Error::Image(e.to_string()))?;
    let la = img.to_luma_alpha8();
    Ok(GrayImage::from_fn(la.width(), la.height(), |x, y| {
        let p = la.get_pixel(x, y);
        // Composite over white so a transparent background does not read as black.
        let (l, a) = (u32::from(p[0]), u32::from(p[1]));
        Luma([((l * a + 255 * (255 - a)) / 255) as u8])
    }))
}

/// The text of the first QR code found in the image file `bytes`.
pub fn decode_image(bytes: &[u8]) -> Result<String, Error> {
    decode_gray(&load(bytes)?)
}

/// The text of the first QR code found in `img`. Tries the image as it is, then a few variants
/// (rescaled, with a white border, smoothed, rotated) that help with photos.
pub fn decode_gray(img: &GrayImage) -> Result<String, Error> {
    let mut first_failure = None;
    let base = fit(img);
    let base = base.as_ref().unwrap_or(img);
    for variant in 0..6 {
        let candidate = match variant {
            0 => None,
            1 => Some(with_border(base)),
            2 => Some(rescale(base, 2.0)),
            3 => Some(rescale(base, 0.5)),
            4 => Some(imageops::blur(&with_border(base), 1.2)),
            _ => Some(imageops::rotate90(&with_border(base))),
        };
        let candidate = candidate.as_ref().unwrap_or(base);
        match detect(candidate) {
            Ok(text) => return Ok(text),
            Err(Error::NotFound) => {}
            Err(e) => {
                first_failure.get_or_insert(e);
            }
        }
    }
    Err(first_failure.unwrap_or(Error::NotFound))
}

fn detect(img: &GrayImage) -> Result<String, Error> {
    if img.width() < 21 || img.height() < 21 {
        return Err(Error::NotFound);
    }
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(
        img.width() as usize,
        img.height() as usize,
        |x, y| img.get_pixel(x as u32, y as u32)[0],
    );
    let grids = prepared.detect_grids();
    let mut failure = None;
    for grid in grids {
        let mut bytes = Vec::new();
        match grid.decode_to(&mut bytes) {
            Ok(_) => return String::from_utf8(bytes).map_err(|_| Error::NotText),
            Err(e) => {
                failure.get_or_insert(Error::Unreadable(e.to_string()));
            }
        }
    }
    Err(failure.unwrap_or(Error::NotFound))
}

/// Scaled down so the longest side is at most [`DETECT_SIDE`], if it is longer.
fn fit(img: &GrayImage) -> Option<GrayImage> {
    let side = img.width().max(img.height());
    (side > DETECT_SIDE).then(|| rescale(img, f64::from(DETECT_SIDE) / f64::from(side)))
}

fn rescale(img: &GrayImage, factor: f64) -> GrayImage {
    let w = ((f64::from(img.width()) * factor).round() as u32).clamp(1, 2 * DETECT_SIDE);
    let h = ((f64::from(img.height()) * factor).round() as u32).clamp(1, 2 * DETECT_SIDE);
    imageops::resize(img, w, h, FilterType::Triangle)
}

/// `img` on a white canvas with a margin of a tenth of its size (codes cropped to their edge lack
/// the quiet zone detectors look for).
fn with_border(img: &GrayImage) -> GrayImage {
    let margin = (img.width().max(img.height()) / 10).max(8);
    let mut out = GrayImage::from_pixel(
        img.width() + 2 * margin,
        img.height() + 2 * margin,
        Luma([255]),
    );
    imageops::replace(&mut out, img, i64::from(margin), i64::from(margin));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

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
