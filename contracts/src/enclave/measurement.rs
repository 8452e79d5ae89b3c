//! The enclave's measurement: SHA-256 over its code identity, version and code hash.
//!
//! The code hash is computed at build time over the enclave's source (`contracts/build.rs`: every
//! file of `src/enclave/` but its tests, and the crypto and codec primitives), so the measurement
//! says what the enclave runs, the way `MRENCLAVE` hashes the enclave's pages: change one byte of
//! that code and the build has a new measurement, which governance must allow, and which cannot
//! unseal what the old build sealed.

use std::fmt;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::primitives::crypto::{sha256, Hash};

/// Code identity of this enclave build.
pub const ENCLAVE_CODE_ID: &str = "paychain/enclave";
/// Version of this enclave build. Bump it whenever code under `contracts/src/enclave/` changes what the
/// enclave does with secrets: the new build then has a new measurement, which governance must allow, and
/// cannot unseal what the old build sealed (it is provisioned again through the chain).
pub const ENCLAVE_VERSION: &str = "1.0.0";
/// Security version carried in this build's quotes.
pub const ENCLAVE_SECURITY_VERSION: u32 = 1;

const DOMAIN: &[u8] = b"paychain/enclave/measurement/v1";

include!(concat!(env!("OUT_DIR"), "/enclave_code_hash.rs"));

/// SHA-256 over an enclave's code identity and version (the simulated `MRENCLAVE`).
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    BorshSerialize,
    BorshDeserialize,
)]
#[serde(transparent)]
pub struct Measurement(pub Hash);

impl Measurement {
    /// The measurement of the build named `code_id` at `version` (length-prefixed, so no two
    /// `(code_id, version)` pairs share one).
    pub fn of(code_id: &str, version: &str) -> Measurement {
        let mut buf = Vec::with_capacity(8 + code_id.len() + version.len());
        super::kx::put_lp(&mut buf, code_id.as_bytes());
        super::kx::put_lp(&mut buf, version.as_bytes());
        Measurement(sha256(&[DOMAIN, &buf]))
    }

    /// The measurement of a build named `code_id` at `version` whose enclave source hashes to
    /// `code_hash`.
    pub fn of_build(code_id: &str, version: &str, code_hash: &[u8; 32]) -> Measurement {
        let mut buf = Vec::with_capacity(40 + code_id.len() + version.len());
        super::kx::put_lp(&mut buf, code_id.as_bytes());
        super::kx::put_lp(&mut buf, version.as_bytes());
        buf.extend_from_slice(code_hash);
        Measurement(sha256(&[DOMAIN, &buf]))
    }

    /// The measurement of this build: [`ENCLAVE_CODE_ID`], [`ENCLAVE_VERSION`] and the hash of the
    /// enclave's source compiled into it ([`ENCLAVE_CODE_HASH`]).
    pub fn current() -> Measurement {
        Measurement::of_build(ENCLAVE_CODE_ID, ENCLAVE_VERSION, &ENCLAVE_CODE_HASH)
    }
}

impl fmt::Debug for Measurement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Measurement({})", self.0)
    }
}

impl fmt::Display for Measurement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_builds_distinct_measurements() {
        assert_eq!(Measurement::current(), Measurement::current());
        assert_ne!(
            Measurement::current(),
            Measurement::of(ENCLAVE_CODE_ID, "1.0.1")
        );
        assert_ne!(Measurement::of("ab", "c"), Measurement::of("a", "bc"));
        // The code is part of what is measured: same name and version, other code, other build.
        assert_ne!(
            Measurement::current(),
            Measurement::of(ENCLAVE_CODE_ID, ENCLAVE_VERSION)
        );
        let mut other_code = ENCLAVE_CODE_HASH;
        other_code[0] ^= 1;
        assert_ne!(
            Measurement::current(),
            Measurement::of_build(ENCLAVE_CODE_ID, ENCLAVE_VERSION, &other_code)
        );
        assert_ne!(ENCLAVE_CODE_HASH, [0; 32]);
    }
}
