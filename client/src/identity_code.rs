//! The user's identity code of the offline-store flow: the text `paychain-id:<public key hex>`, shown
//! as a QR code and read back from a scan. No I/O and no dependency beyond `paychain-contracts` and
//! `thiserror`, so the fuzz target of the text parsers compiles this file in (fuzz/fuzz_targets/
//! rpc_params.rs) without the rest of the client.

use paychain_contracts::crypto::PublicKey;

/// Prefix of an identity code.
pub const IDENTITY_PREFIX: &str = "paychain-id:";

/// Why an identity code cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not `paychain-id:<64 hex>`.
    #[error("invalid identity code {0:?}: expected paychain-id:<64 hex characters>")]
    BadIdentityCode(String),
}

/// The identity code of `user`: `paychain-id:<hex>`.
pub fn identity_code(user: &PublicKey) -> String {
    format!("{IDENTITY_PREFIX}{}", user.to_hex())
}

/// The public key an identity code carries.
pub fn parse_identity_code(text: &str) -> Result<PublicKey, Error> {
    let t = text.trim();
    t.strip_prefix(IDENTITY_PREFIX)
        .and_then(|hex| hex.parse().ok())
        .ok_or_else(|| Error::BadIdentityCode(t.chars().take(80).collect()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn identity_code_round_trip() {
        let pk = PublicKey([7; 32]);
        let code = identity_code(&pk);
        assert!(code.starts_with("paychain-id:0707"));
        assert_eq!(parse_identity_code(&format!(" {code}\n")).unwrap(), pk);
        assert!(parse_identity_code("paychain-id:zz").is_err());
        assert!(parse_identity_code(&pk.to_hex()).is_err());
    }
}
