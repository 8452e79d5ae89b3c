//! The enclave's measurement: SHA-256 over its code identity and version.

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

    /// The measurement of this build ([`ENCLAVE_CODE_ID`], [`ENCLAVE_VERSION`]).
    pub fn current() -> Measurement {
        Measurement::of(ENCLAVE_CODE_ID, ENCLAVE_VERSION)
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
    }
}
