//! Reading what the user hands in: files (size-bounded), JSON documents, and codes given as text, as a
//! file (text or PNG) or on standard input.

use std::io::Read as _;
use std::path::Path;

use paychain_client::contracts::codec::MAX_TX_BYTES;
use paychain_client::qr;

use crate::output::Failure;

/// Reads at most `max` bytes; more is an error.
pub(crate) fn read_bounded(
    reader: impl std::io::Read,
    max: usize,
    what: &str,
) -> Result<Vec<u8>, Failure> {
    let mut bytes = Vec::new();
    reader
        .take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::usage(format!("cannot read {what}: {e}")))?;
    if bytes.len() > max {
        return Err(Failure::usage(format!("{what} is larger than {max} bytes")));
    }
    Ok(bytes)
}

/// The contents of the file at `path`, at most `max` bytes.
pub(crate) fn read_file_bounded(path: &Path, max: usize, what: &str) -> Result<Vec<u8>, Failure> {
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::usage(format!("cannot read {what} {}: {e}", path.display())))?;
    read_bounded(file, max, what)
}

/// Largest biometric template file read.
const MAX_TEMPLATE_BYTES: usize = 1024 * 1024;

/// A biometric template file (at most 1 MiB).
pub(crate) fn read_template(path: &Path) -> Result<Vec<u8>, Failure> {
    read_file_bounded(path, MAX_TEMPLATE_BYTES, "biometric template")
}

/// A JSON document (at most 4 MiB) from the file at `path`.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &str,
) -> Result<T, Failure> {
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::usage(format!("cannot read {what} {}: {e}", path.display())))?;
    let bytes = read_bounded(file, 4 * 1024 * 1024, what)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Failure::usage(format!("{what} {} is not valid: {e}", path.display())))
}

/// Reads a payload file, refusing more than a transaction can carry.
pub(crate) fn read_payload(path: &Path) -> Result<Vec<u8>, Failure> {
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
    let mut bytes = Vec::new();
    file.take(MAX_TX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
    if bytes.len() > MAX_TX_BYTES {
        return Err(Failure::usage(format!(
            "{} is larger than a transaction may be ({MAX_TX_BYTES} bytes)",
            path.display()
        )));
    }
    Ok(bytes)
}

/// The text of a scanned code: the image's code when `bytes` are a PNG, else the bytes as UTF-8.
fn code_text(bytes: Vec<u8>) -> Result<String, Failure> {
    if qr::is_image(&bytes) {
        return Ok(qr::decode_image(&bytes)?);
    }
    String::from_utf8(bytes)
        .map_err(|_| Failure::usage("input is neither a PNG image nor UTF-8 text"))
}

/// The contents of the file `path` (at most [`qr::MAX_IMAGE_BYTES`]) as a code's text.
fn file_code_text(path: &str) -> Result<String, Failure> {
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::usage(format!("cannot read {path}: {e}")))?;
    code_text(read_bounded(file, qr::MAX_IMAGE_BYTES, path)?)
}

/// The EMVCo payload in `input`: text given as is, or read from a file or standard input, which may
/// hold the text or a PNG of the code.
pub(crate) fn emvco_payload(input: &str) -> Result<String, Failure> {
    if input == "-" {
        let bytes = read_bounded(
            std::io::stdin().lock(),
            qr::MAX_IMAGE_BYTES,
            "standard input",
        )?;
        code_text(bytes)
    } else if Path::new(input).is_file() {
        file_code_text(input)
    } else if input.trim_start().starts_with("00") {
        Ok(input.to_owned())
    } else {
        Err(Failure::usage(format!(
            "{input} is neither a file nor an EMVCo payload (payloads start with 00)"
        )))
    }
}

/// The text of a code given as a file (a PNG of it, or its text) or as the text itself.
pub(crate) fn code_or_file(input: &str) -> Result<String, Failure> {
    if Path::new(input).is_file() {
        file_code_text(input)
    } else {
        Ok(input.to_owned())
    }
}
