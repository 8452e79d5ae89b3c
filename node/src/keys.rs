//! Key files of validators, platforms and the attestation root: the one key-file format of the node and
//! the `paychain` client (`paychain_keystore`: JSON `{"public_key": hex, "secret_key": hex seed}`, mode
//! 0600, size-bounded reads, the public key checked against the seed), a small crate of its own so that
//! the validator does not link the client's HTTP, QR and image crates. The node only
//! adds its own error type. Secrets are zeroized when dropped and never logged.

use std::path::Path;

use paychain_contracts::crypto::SecretKey;
use paychain_keystore::{self as keystore, KeyFile, Overwrite};

/// Key file errors (the keystore's message, which names the file and never the secret).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Error(#[from] keystore::Error);

/// Reads a key file and checks that the public key matches the secret.
pub fn load(path: &Path) -> Result<SecretKey, Error> {
    Ok(keystore::load(path)?.secret_key().clone())
}

/// Writes a new key file (never overwrites), readable by the owner only; creates its directory.
pub fn save(path: &Path, key: &SecretKey) -> Result<(), Error> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| keystore::Error::Io {
            action: "create the directory of",
            path: path.to_owned(),
            source,
        })?;
    }
    Ok(KeyFile::from_secret(key.clone()).write(path, Overwrite::Refuse)?)
}

/// A fresh key from OS randomness.
pub fn generate() -> SecretKey {
    keystore::generate().secret_key().clone()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn saved_keys_load_back_and_are_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("k.json");
        let key = generate();
        save(&path, &key).unwrap();
        assert_eq!(load(&path).unwrap().public_key(), key.public_key());
        let again = save(&path, &generate()).unwrap_err().to_string();
        assert!(again.contains("exists"), "{again}");
        // the client reads what the node wrote
        assert_eq!(
            keystore::load(&path).unwrap().public_key(),
            key.public_key()
        );
    }
}
