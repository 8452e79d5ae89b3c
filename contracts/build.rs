//! Computes the enclave's code hash: SHA-256 over the source of what the enclave runs (every file
//! of `src/enclave/` but its tests, `tests.rs` and `*_tests.rs`, the crypto and codec primitives it
//! is built on, and, since the enclave executes the blocks of a chain with private state, every
//! contract and the executor: all of `src/` but tests and the test kit), in name order, each with
//! its path and length. The enclave's
//! measurement is derived from it (`enclave::measurement`), so a build whose enclave code differs
//! by one byte has another measurement, which governance must allow before it is provisioned.

// The build script runs once on the builder's machine, never in a validator's state transition: the
// contracts crate's "no I/O, no environment" rule (clippy.toml) is about execution.
#![allow(clippy::disallowed_methods)]

use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

const ENCLAVE_DIR: &str = "src/enclave";
/// Also measured: the lookup decision from proven state (`grants`, above the contracts because it
/// decodes their state) and the primitives the enclave is built on.
const PRIMITIVES: [&str; 3] = [
    "src/grants/mod.rs",
    "src/primitives/crypto.rs",
    "src/primitives/codec.rs",
];

fn main() {
    let mut files: Vec<PathBuf> = Vec::new();
    collect(Path::new("src"), &mut files);
    files.extend(PRIMITIVES.iter().map(PathBuf::from));
    files.sort();
    files.dedup();
    let mut hash = Sha256::new();
    hash.update(b"paychain/enclave/code/v1");
    for file in &files {
        let bytes = std::fs::read(file).expect("enclave source is readable");
        let name = file.to_string_lossy().replace('\\', "/");
        hash.update((name.len() as u64).to_le_bytes());
        hash.update(name.as_bytes());
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(&bytes);
        println!("cargo:rerun-if-changed={}", file.display());
    }
    println!("cargo:rerun-if-changed={ENCLAVE_DIR}");
    println!("cargo:rerun-if-changed=src");
    let digest: [u8; 32] = hash.finalize().into();
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("enclave_code_hash.rs");
    let mut f = std::fs::File::create(out).expect("OUT_DIR is writable");
    writeln!(
        f,
        "/// SHA-256 over the enclave's source (see `build.rs`).\npub const ENCLAVE_CODE_HASH: [u8; 32] = {digest:?};"
    )
    .expect("write the code hash");
}

/// Every `.rs` file under `dir` but tests (`tests.rs`, `*_tests.rs`, `tests/`) and the test kit.
fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("the source directory is readable")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if p.is_dir() {
            if name != "tests" {
                collect(&p, out);
            }
        } else if name.ends_with(".rs") && !name.ends_with("tests.rs") && name != "testkit.rs" {
            out.push(p);
        }
    }
}
