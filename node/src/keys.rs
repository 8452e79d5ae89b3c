//! Key files: JSON `{"public_key": hex, "secret_key": hex seed}`, mode 0600 — the same format
//! the `paychain` client uses. Secrets are zeroized when dropped and never logged.

use std::io::Write;
use std::path::Path;

use paychain_contracts::crypto::{PublicKey, SecretKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Key file errors.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("key file {path}: {reason}")]
    Bad { path: String, reason: String },
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    public_key: PublicKey,
    secret_key: String,
}

/// Reads a key file and checks that the public key matches the secret.
pub fn load(path: &Path) -> Result<SecretKey, Error> {
    let bad = |reason: String| Error::Bad {
        path: path.display().to_string(),
        reason,
    };
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?);
    let file: KeyFile = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    let secret = Zeroizing::new(file.secret_key);
    let mut seed = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(secret.as_str(), seed.as_mut_slice())
        .map_err(|_| bad("secret_key is not 64 hex characters".into()))?;
    let key = SecretKey::from_seed(*seed);
    if key.public_key() != file.public_key {
        return Err(bad("public_key does not match secret_key".into()));
    }
    Ok(key)
}

/// Writes a new key file (never overwrites), readable by the owner only.
pub fn save(path: &Path, key: &SecretKey) -> Result<(), Error> {
    let bad = |reason: String| Error::Bad {
        path: path.display().to_string(),
        reason,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| bad(e.to_string()))?;
    }
    let file = KeyFile {
        public_key: key.public_key(),
        secret_key: hex::encode(*key.to_seed()),
    };
    let text = Zeroizing::new(serde_json::to_string_pretty(&file).map_err(|e| bad(e.to_string()))?);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| bad(e.to_string()))?;
    f.write_all(text.as_bytes())
        .map_err(|e| bad(e.to_string()))?;
    Ok(())
}

/// A fresh key from OS randomness.
pub fn generate() -> SecretKey {
    let mut seed = Zeroizing::new([0u8; 32]);
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, seed.as_mut_slice());
    SecretKey::from_seed(*seed)
}
