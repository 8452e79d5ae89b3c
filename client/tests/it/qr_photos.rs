//! Photo-like images of merchant codes, generated deterministically (fixed seeds, no image files
//! committed): rotation by any angle, perspective, blur, noise, low resolution, JPEG at low
//! quality, a cropped quiet zone, and all of these at once ("photo": a tilted card in an unevenly
//! lit textured scene, out of focus, noisy, saved as JPEG). `qr::decode_image` must read at least a
//! floor of each kind (measured, set a little below what it reads) and must never return anything
//! but the payload drawn.
//!
//! `cargo test -p paychain-client --test it qr_photos::rates_by_engine -- --ignored --nocapture`
//! prints the decode rate of each kind for rqrr alone (the decoder before rxing), rxing alone and
//! the default path, on the set the decoder's steps were chosen on and on two held-out sets;
//! `QR_PHOTOS_DIR=/tmp/x cargo test ... qr_photos::write_photo_set -- --ignored` writes the images.

use std::io::Cursor;
use std::str::FromStr;
use std::time::Instant;

use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, GrayImage, ImageFormat};
use paychain_client::contracts::ids::MerchantId;
use paychain_client::emvco::{self, MerchantCodeSpec, Tip};
use paychain_client::qr::{self, Engine};
use rust_decimal::Decimal;

/// xorshift64*: a fixed, dependency-free sequence for a given seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [-1, 1).
    fn signed(&mut self) -> f64 {
        2.0 * self.unit() - 1.0
    }

    /// Approximately standard normal (sum of four uniforms, scaled to unit variance).
    fn gauss(&mut self) -> f64 {
        (self.unit() + self.unit() + self.unit() + self.unit() - 2.0) * 3f64.sqrt()
    }
}

/// Real-shaped payloads: paychain codes from the crate's encoder (static, dynamic with multibyte
/// text, dynamic with a percentage convenience fee) and published codes of national schemes.
fn payloads() -> Vec<String> {
    let id = MerchantId::from_str("M0123456789ABCDEF0123").unwrap();
    let spec = MerchantCodeSpec::new(id, "Café 北京", "Beijing", "5812", "156", "CN").unwrap();
    vec![
        emvco::encode(&spec),
        emvco::encode(
            &spec
                .clone()
                .with_payment(Decimal::from_str("88.80").unwrap(), "ORDER-2024-0001")
                .unwrap(),
        ),
        emvco::encode(
            &spec
                .with_payment(Decimal::from_str("1234.50").unwrap(), "T-99")
                .unwrap()
                .with_tip(Tip::PercentageFee {
                    percent: Decimal::from_str("3.5").unwrap(),
                })
                .unwrap(),
        ),
        // Pix (BCB manual's example).
        "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D".into(),
        // SGQR sticker with PayNow.
        "00020101021126430009SG.PAYNOW010120210T04SS0129D030110502QS51810007SG.SGQR011221073031741D020701.000103066003160402010503279060400000708202107305204000053037025802SG5925LOVING HEART MULTI-SERVIC6009Singapore6304A177".into(),
        // QRIS (DANA), the longest.
        "00020101021226570011ID.DANA.WWW011893600915015706056102091570605610303UME51440014ID.CO.QRIS.WWW0215ID20210807329890303UME5204893153033605405100005802ID5906XENDIT6015Kota Jakarta Se61051219062720115SzW8BPHhw35i1vT60490011ID.DANA.WWW0425MER2021071400774509608641050116304B00A".into(),
    ]
}

/// Pixels per module of the clean renderings most distortions start from.
const PPM: u32 = 4;

/// Pixels per module of the sharp renderings scaled down to a given module size.
const HI_PPM: u32 = 10;

// Blur and resize go through `DynamicImage`: its methods are compiled (optimised) in `image`, the
// generic `imageops` functions here, unoptimised in debug builds. The per-pixel code below works
// on raw buffers for the same reason.

fn blur(img: &GrayImage, sigma: f64) -> GrayImage {
    DynamicImage::ImageLuma8(img.clone())
        .blur(sigma as f32)
        .into_luma8()
}

fn resize(img: &GrayImage, w: u32, h: u32) -> GrayImage {
    DynamicImage::ImageLuma8(img.clone())
        .resize_exact(w, h, FilterType::Triangle)
        .into_luma8()
}

fn to_u8(v: f64) -> u8 {
    v.round().clamp(0.0, 255.0) as u8
}

/// The homography taking each `from[i]` to `to[i]` (row-major 3x3, h33 = 1).
fn homography(from: [(f64, f64); 4], to: [(f64, f64); 4]) -> [f64; 9] {
    let mut a = [[0.0f64; 9]; 8];
    for (i, (&(x, y), &(u, v))) in from.iter().zip(&to).enumerate() {
        a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
        a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
    }
    // Gauss-Jordan elimination with partial pivoting (last column: the right-hand side).
    for col in 0..8 {
        let pivot = (col..8)
            .max_by(|&p, &q| a[p][col].abs().total_cmp(&a[q][col].abs()))
            .unwrap();
        a.swap(col, pivot);
        let pivot_row = a[col];
        for (r, row) in a.iter_mut().enumerate() {
            if r != col {
                let f = row[col] / pivot_row[col];
                for (x, p) in row.iter_mut().zip(pivot_row).skip(col) {
                    *x -= f * p;
                }
            }
        }
    }
    let mut h = [1.0; 9];
    for (i, (h, row)) in h.iter_mut().zip(&a).enumerate() {
        *h = row[8] / row[i];
    }
    h
}

/// A `w` x `h` picture of `background` (a function of the pixel) with `img` drawn in it, its
/// corners at `quad` (clockwise from top left): rotation, scaling and perspective in one pass,
/// each picture pixel sampling the code bilinearly through the inverse homography.
fn warp(
    img: &GrayImage,
    quad: [(f64, f64); 4],
    (w, h): (u32, u32),
    background: &dyn Fn(usize, usize) -> f64,
) -> GrayImage {
    let (sw, sh) = (img.width() as usize, img.height() as usize);
    let (fw, fh) = (sw as f64, sh as f64);
    let src = img.as_raw();
    let m = homography(quad, [(0.0, 0.0), (fw, 0.0), (fw, fh), (0.0, fh)]);
    let mut out = vec![0u8; w as usize * h as usize];
    for y in 0..h as usize {
        for x in 0..w as usize {
            let (u, v) = (x as f64 + 0.5, y as f64 + 0.5);
            let d = m[6] * u + m[7] * v + m[8];
            let sx = (m[0] * u + m[1] * v + m[2]) / d - 0.5;
            let sy = (m[3] * u + m[4] * v + m[5]) / d - 0.5;
            let value = if sx < 0.0 || sy < 0.0 || sx > fw - 1.0 || sy > fh - 1.0 {
                background(x, y)
            } else {
                let (x0, y0) = (sx as usize, sy as usize);
                let (x1, y1) = ((x0 + 1).min(sw - 1), (y0 + 1).min(sh - 1));
                let (fx, fy) = (sx - x0 as f64, sy - y0 as f64);
                let p = |xx: usize, yy: usize| f64::from(src[yy * sw + xx]);
                let top = p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx;
                let bottom = p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx;
                top * (1.0 - fy) + bottom * fy
            };
            out[y * w as usize + x] = to_u8(value);
        }
    }
    GrayImage::from_raw(w, h, out).unwrap()
}

/// The corners of a `side` square turned by `degrees` about `centre`, clockwise from top left.
fn turned(side: f64, degrees: f64, centre: (f64, f64)) -> [(f64, f64); 4] {
    let (s, c) = degrees.to_radians().sin_cos();
    let r = side / 2.0;
    [(-r, -r), (r, -r), (r, r), (-r, r)]
        .map(|(x, y)| (centre.0 + c * x - s * y, centre.1 + s * x + c * y))
}

/// Rotated by `degrees` on a white canvas holding all of it.
fn rotate(img: &GrayImage, degrees: f64) -> GrayImage {
    let side = f64::from(img.width());
    let (s, c) = degrees.to_radians().sin_cos();
    let canvas = (side * (s.abs() + c.abs())).ceil() + 8.0;
    let quad = turned(side, degrees, (canvas / 2.0, canvas / 2.0));
    warp(img, quad, (canvas as u32, canvas as u32), &|_, _| 255.0)
}

/// Each corner of `quad` pulled in by up to `strength` of `side`, at random.
fn skew(quad: [(f64, f64); 4], side: f64, strength: f64, rng: &mut Rng) -> [(f64, f64); 4] {
    let centre = (
        quad.iter().map(|p| p.0).sum::<f64>() / 4.0,
        quad.iter().map(|p| p.1).sum::<f64>() / 4.0,
    );
    quad.map(|(x, y)| {
        let (dx, dy) = (centre.0 - x, centre.1 - y);
        let len = (dx * dx + dy * dy).sqrt();
        let pull = rng.unit() * strength * side;
        let sideways = rng.signed() * strength * side / 2.0;
        (
            x + (dx * pull - dy * sideways) / len,
            y + (dy * pull + dx * sideways) / len,
        )
    })
}

/// A perspective view of the code on a light grey canvas.
fn perspective(img: &GrayImage, strength: f64, rng: &mut Rng) -> GrayImage {
    let side = f64::from(img.width());
    let canvas = side * 1.2;
    let quad = skew(
        turned(side, 0.0, (canvas / 2.0, canvas / 2.0)),
        side,
        strength,
        rng,
    );
    warp(img, quad, (canvas as u32, canvas as u32), &|_, _| 235.0)
}

fn add_noise(img: &GrayImage, sigma: f64, rng: &mut Rng) -> GrayImage {
    let mut out = img.clone();
    for p in out.iter_mut() {
        *p = to_u8(f64::from(*p) + sigma * rng.gauss());
    }
    out
}

/// `hi` (rendered at [`HI_PPM`]) scaled to `ppm` pixels per module.
fn to_module_size(hi: &GrayImage, ppm: f64) -> GrayImage {
    let side = (f64::from(hi.width()) * ppm / f64::from(HI_PPM)).round() as u32;
    resize(hi, side, side)
}

/// `img` centred on a `background` canvas, `margin` pixels each side (copied row by row).
fn pad(img: &GrayImage, margin: u32, background: u8) -> GrayImage {
    let (w, m) = (img.width() as usize, margin as usize);
    let out_w = w + 2 * m;
    let out_h = img.height() as usize + 2 * m;
    let mut out = vec![background; out_w * out_h];
    for (y, row) in img.as_raw().chunks_exact(w).enumerate() {
        let at = (y + m) * out_w + m;
        out[at..at + w].copy_from_slice(row);
    }
    GrayImage::from_raw(out_w as u32, out_h as u32, out).unwrap()
}

/// The code's quiet zone cut down to `keep` modules, on a `background` canvas.
fn crop_quiet_zone(img: &GrayImage, keep: f64, background: u8) -> GrayImage {
    let cut = ((4.0 - keep) * f64::from(PPM)).round() as u32;
    let side = img.width() - 2 * cut;
    let inner = image::imageops::crop_imm(img, cut, cut, side, side).to_image();
    pad(&inner, side / 6, background)
}

fn png(img: &GrayImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).unwrap();
    out.into_inner()
}

fn jpeg(img: &GrayImage, quality: u8) -> Vec<u8> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(img)
        .unwrap();
    out
}

/// A phone photo at strength `t` (0 to 1): the code on a light card, turned by up to 40 degrees
/// and seen at an angle, in a textured scene with light falling off across it, out of focus,
/// noisy, saved as JPEG at a low quality.
fn photo(code: &GrayImage, t: f64, rng: &mut Rng) -> Vec<u8> {
    let card = pad(code, code.width() / 10, 235);
    let side = f64::from(card.width());
    let scene = (side * 1.6) as u32;
    let room = f64::from(scene) - side;
    let centre = (
        side / 2.0 + rng.unit() * room,
        side / 2.0 + rng.unit() * room,
    );
    let quad = skew(
        turned(side * 0.9, rng.signed() * 40.0, centre),
        side,
        0.04 + 0.1 * t,
        rng,
    );
    let angle = rng.unit() * std::f64::consts::TAU;
    let (dx, dy, depth) = (angle.cos(), angle.sin(), 0.3 + 0.3 * t);
    let n = f64::from(scene);
    let texture = |x: usize, y: usize| f64::from(150 + ((x / 7 * 31 + y / 5 * 17) % 60) as u8);
    let lit = warp(&card, quad, (scene, scene), &texture);
    // Light falls off from 1 to 1 - depth across the picture.
    let mut lit = lit;
    for (i, p) in lit.iter_mut().enumerate() {
        let (x, y) = (
            (i % scene as usize) as f64 / n,
            (i / scene as usize) as f64 / n,
        );
        let along = ((x - 0.5) * dx + (y - 0.5) * dy + 0.71) / 1.42;
        *p = to_u8(f64::from(*p) * (1.0 - depth * along));
    }
    let blurred = blur(&lit, 0.6 + 0.9 * t);
    jpeg(
        &add_noise(&blurred, 6.0 + 14.0 * t, rng),
        (60.0 - 35.0 * t) as u8,
    )
}

/// One generated image: its kind, strength, the file bytes (PNG or JPEG) and the payload drawn.
struct Case {
    kind: &'static str,
    strength: String,
    bytes: Vec<u8>,
    payload: String,
}

/// Kinds in the order of the table.
const KINDS: &[&str] = &[
    "rotation",
    "perspective",
    "blur",
    "noise",
    "low resolution",
    "jpeg",
    "quiet zone",
    "photo",
];

/// Images per kind.
const PER_KIND: usize = 10;

/// The images of set `set`: set 0 is the one the decoder's steps were chosen on (strengths evenly
/// spread); other sets draw other seeds, payloads and strengths (each jittered by up to half a
/// step), to check that what helps on set 0 is not tuned to it.
fn cases(set: u64) -> Vec<Case> {
    let payloads = payloads();
    let renders: Vec<(GrayImage, GrayImage)> = payloads
        .iter()
        .map(|p| (qr::image(p, PPM).unwrap(), qr::image(p, HI_PPM).unwrap()))
        .collect();
    let mut out = Vec::new();
    for (k, kind) in KINDS.iter().enumerate() {
        for level in 0..PER_KIND {
            let which = (k + level + set as usize) % payloads.len();
            let (code, hi) = &renders[which];
            let mut rng = Rng::new(set * 10_000 + (k * 100 + level) as u64 + 1);
            let jitter = if set == 0 { 0.0 } else { rng.signed() / 2.0 };
            let t = ((level as f64 + jitter) / (PER_KIND - 1) as f64).clamp(0.0, 1.0);
            let (strength, bytes) = match *kind {
                "rotation" => {
                    let deg = 7.0 + 333.0 * t + 3.0 * rng.signed();
                    (format!("{deg:.0} deg"), png(&rotate(code, deg)))
                }
                "perspective" => {
                    let s = 0.06 + 0.24 * t;
                    (format!("{s:.2}"), png(&perspective(code, s, &mut rng)))
                }
                "blur" => {
                    let sigma = 0.8 + 2.0 * t;
                    let name = format!("sigma {:.2} module", sigma / f64::from(PPM));
                    (name, png(&blur(code, sigma)))
                }
                "noise" => {
                    let sigma = 25.0 + 95.0 * t;
                    let img = add_noise(&blur(code, 0.8), sigma, &mut rng);
                    (format!("sigma {sigma:.0}"), png(&img))
                }
                "low resolution" => {
                    let ppm = 2.6 - 1.5 * t;
                    let name = format!("{ppm:.2} px per module");
                    (name, png(&to_module_size(hi, ppm)))
                }
                "jpeg" => {
                    let q = (40.0 - 35.0 * t) as u8;
                    let img = to_module_size(hi, 3.0);
                    (format!("quality {q}, 3 px per module"), jpeg(&img, q))
                }
                "quiet zone" => {
                    let keep = [2.0, 1.0, 0.5, 0.0][(level + set as usize) % 4];
                    let background = [255, 200, 120, 40][(level + 2 * set as usize) / 3 % 4];
                    let img = crop_quiet_zone(code, keep, background);
                    (format!("{keep} modules on {background}"), png(&img))
                }
                _ => (format!("level {t:.2}"), photo(code, t, &mut rng)),
            };
            out.push(Case {
                kind,
                strength,
                bytes,
                payload: payloads[which].clone(),
            });
        }
    }
    out
}

/// Images read per kind by `decode`; panics on a wrong read.
fn rates(cases: &[Case], decode: impl Fn(&[u8]) -> Result<String, qr::Error>) -> Vec<usize> {
    let mut read = vec![0; KINDS.len()];
    for case in cases {
        if let Ok(text) = decode(&case.bytes) {
            assert_eq!(
                text, case.payload,
                "wrong read of {} {}",
                case.kind, case.strength
            );
            read[KINDS.iter().position(|k| *k == case.kind).unwrap()] += 1;
        }
    }
    read
}

#[test]
fn photo_set_decode_rates() {
    let started = Instant::now();
    let cases = cases(0);
    assert!(cases.len() >= 60);
    let generated = started.elapsed();
    let read = rates(&cases, qr::decode_image);
    eprintln!(
        "{} images generated in {generated:?}, decoded in {:?}: {read:?}",
        cases.len(),
        started.elapsed() - generated
    );
    // Reads per 10, measured (see rates_by_engine), a little below.
    let floors = [9, 9, 6, 9, 8, 9, 9, 8];
    for ((kind, got), floor) in KINDS.iter().zip(&read).zip(floors) {
        assert!(
            *got >= floor,
            "{kind}: {got}/{PER_KIND} read, floor {floor}"
        );
    }
}

#[test]
#[ignore = "prints the table of decode rates by engine (about a minute in debug builds)"]
fn rates_by_engine() {
    let only = |engines: &'static [Engine]| {
        move |bytes: &[u8]| qr::decode_gray_with(&qr::load(bytes)?, engines)
    };
    for set in [0, 1, 2] {
        let cases = cases(set);
        let columns: Vec<(&str, Vec<usize>)> = vec![
            ("rqrr alone (before)", rates(&cases, only(&[Engine::Rqrr]))),
            ("rxing alone", rates(&cases, only(&[Engine::Rxing]))),
            ("default: rxing, then rqrr", rates(&cases, qr::decode_image)),
        ];
        println!("\nset {set}\n");
        println!(
            "| kind | images | {} |",
            columns.iter().map(|c| c.0).collect::<Vec<_>>().join(" | ")
        );
        println!("|---|---|{}", "---|".repeat(columns.len()));
        for (k, kind) in KINDS.iter().enumerate() {
            let cells: Vec<String> = columns.iter().map(|c| c.1[k].to_string()).collect();
            println!("| {kind} | {PER_KIND} | {} |", cells.join(" | "));
        }
        let total = cases.len();
        let cells: Vec<String> = columns
            .iter()
            .map(|c| {
                let n: usize = c.1.iter().sum();
                format!("{n} ({:.0}%)", 100.0 * n as f64 / total as f64)
            })
            .collect();
        println!("| all | {total} | {} |", cells.join(" | "));
    }
}

#[test]
#[ignore = "writes the generated images to $QR_PHOTOS_DIR for a look"]
fn write_photo_set() {
    let dir = std::env::var("QR_PHOTOS_DIR").unwrap();
    for (i, case) in cases(0).iter().enumerate() {
        let ext = if case.bytes.starts_with(&[0xFF, 0xD8]) {
            "jpg"
        } else {
            "png"
        };
        let name = format!("{i:02}-{}-{}.{ext}", case.kind, case.strength);
        let path = std::path::Path::new(&dir).join(name.replace([' ', ','], "_"));
        std::fs::write(&path, &case.bytes).unwrap();
        if ext == "jpg" {
            // A PNG copy for viewers that show PNG only.
            qr::load(&case.bytes)
                .unwrap()
                .save(path.with_extension("jpg.png"))
                .unwrap();
        }
    }
}
