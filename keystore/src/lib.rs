//! Key files: one ed25519 key per JSON file, readable by its owner only.
//!
//! ```json
//! {"public_key": "<64 hex>", "secret_key": "<64 hex: the 32-byte seed>"}
//! ```
//!
//! The node stores its keys in the same format, so [`KeyFile::load`] and [`KeyFile::write`] are the one
//! implementation of it. Files are created with mode 0600 and never silently overwritten; the seed and
//! every buffer holding it (hex, JSON) are zeroized when dropped. The public key is stored for humans and
//! checked against the seed on load.

// Every dependency of the library is used by it (test builds also link dev-dependencies, so only
// non-test builds are checked).
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use paychain_contracts::crypto::{PublicKey, SecretKey};
use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Largest key file accepted by [`KeyFile::load`]; a real one is about 150 bytes.
pub const MAX_KEY_FILE_BYTES: u64 = 4096;

/// Errors of this module. Every message names the file and fits on one line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file does not exist.
    #[error("key file {} not found", .path.display())]
    NotFound {
        /// File.
        path: PathBuf,
    },
    /// Refused to replace an existing file.
    #[error("key file {} already exists (use --force to overwrite)", .path.display())]
    AlreadyExists {
        /// File.
        path: PathBuf,
    },
    /// Reading or writing failed.
    #[error("cannot {action} key file {}: {source}", .path.display())]
    Io {
        /// "read", "create", "write", ...
        action: &'static str,
        /// File.
        path: PathBuf,
        /// Cause.
        source: io::Error,
    },
    /// Larger than [`MAX_KEY_FILE_BYTES`].
    #[error("key file {} is larger than {MAX_KEY_FILE_BYTES} bytes: not a key file", .path.display())]
    TooLarge {
        /// File.
        path: PathBuf,
    },
    /// Not the expected JSON document.
    #[error("key file {} is not valid key JSON: {reason}", .path.display())]
    BadJson {
        /// File.
        path: PathBuf,
        /// Parser message (never contains the secret).
        reason: String,
    },
    /// A field is not the expected hex.
    #[error("key file {}: field {field} must be 64 hex characters", .path.display())]
    BadHex {
        /// File.
        path: PathBuf,
        /// `public_key` or `secret_key`.
        field: &'static str,
    },
    /// The stored public key is not the one of the stored seed.
    #[error(
        "key file {}: public key {stored} does not match the secret key (which gives {derived})",
        .path.display()
    )]
    PublicKeyMismatch {
        /// File.
        path: PathBuf,
        /// `public_key` field.
        stored: PublicKey,
        /// Key derived from `secret_key`.
        derived: PublicKey,
    },
}

/// How [`KeyFile::write`] treats an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// Fail with [`Error::AlreadyExists`] (the file is created with `create_new`).
    Refuse,
    /// Replace it atomically (write a temporary file beside it, then rename).
    Force,
}

/// One key pair, as stored in a key file. `Debug` never prints the secret.
#[derive(Clone)]
pub struct KeyFile {
    secret: SecretKey,
    public: PublicKey,
}

/// The JSON document. Zeroized on drop: it holds the seed's hex.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct Doc {
    public_key: String,
    secret_key: String,
}

impl KeyFile {
    /// A new key from the operating system's randomness.
    pub fn generate() -> KeyFile {
        let mut seed = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(seed.as_mut());
        KeyFile::from_secret(SecretKey::from_seed(*seed))
    }

    /// Wraps an existing key.
    pub fn from_secret(secret: SecretKey) -> KeyFile {
        let public = secret.public_key();
        KeyFile { secret, public }
    }

    /// The public key (the account).
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    /// The signing key.
    pub fn secret_key(&self) -> &SecretKey {
        &self.secret
    }

    /// Reads and checks a key file: JSON, hex of both fields, and that the public key matches the seed.
    pub fn load(path: impl AsRef<Path>) -> Result<KeyFile, Error> {
        let path = path.as_ref();
        let file = fs::File::open(path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::NotFound {
                path: path.to_owned(),
            },
            _ => io_err("read", path, e),
        })?;
        // Sized for the largest accepted file so that reading never reallocates (and leaves copies).
        let mut text = Zeroizing::new(Vec::with_capacity(MAX_KEY_FILE_BYTES as usize + 1));
        file.take(MAX_KEY_FILE_BYTES + 1)
            .read_to_end(&mut text)
            .map_err(|e| io_err("read", path, e))?;
        if text.len() as u64 > MAX_KEY_FILE_BYTES {
            return Err(Error::TooLarge {
                path: path.to_owned(),
            });
        }
        Self::from_json(&text).map_err(|e| e.at(path))
    }

    /// Parses the JSON document (errors carry an empty path; [`KeyFile::load`] fills it in).
    pub fn from_json(bytes: &[u8]) -> Result<KeyFile, Error> {
        let path = PathBuf::new();
        let doc: Doc = serde_json::from_slice(bytes).map_err(|e| Error::BadJson {
            path: path.clone(),
            // serde_json's messages quote at most the offending token's type and position, never values
            // of string fields, so the secret cannot leak through here.
            reason: e.to_string(),
        })?;
        let stored: PublicKey = doc.public_key.trim().parse().map_err(|_| Error::BadHex {
            path: path.clone(),
            field: "public_key",
        })?;
        let mut seed = Zeroizing::new([0u8; 32]);
        let secret_hex = doc.secret_key.trim();
        if secret_hex.len() != 64 || hex::decode_to_slice(secret_hex, seed.as_mut()).is_err() {
            return Err(Error::BadHex {
                path,
                field: "secret_key",
            });
        }
        let key = KeyFile::from_secret(SecretKey::from_seed(*seed));
        if key.public != stored {
            return Err(Error::PublicKeyMismatch {
                path,
                stored,
                derived: key.public,
            });
        }
        Ok(key)
    }

    /// The JSON document (pretty, with a trailing newline); zeroized when dropped.
    pub fn to_json(&self) -> Zeroizing<Vec<u8>> {
        let doc = Doc {
            public_key: self.public.to_hex(),
            secret_key: hex::encode(*self.secret.to_seed()),
        };
        // Room for the whole document up front: a reallocation would leave an unzeroized copy behind.
        let mut out = Zeroizing::new(Vec::with_capacity(512));
        // Serializing two strings into a Vec cannot fail.
        let _ = serde_json::to_writer_pretty(&mut *out, &doc);
        out.push(b'\n');
        out
    }

    /// Writes the key file with mode 0600 (on Unix).
    ///
    /// With [`Overwrite::Refuse`] the file is created with `create_new`, so an existing file (or a
    /// symlink planted in its place) is never touched. With [`Overwrite::Force`] the document goes to a
    /// new temporary file in the same directory, which is synced and renamed over `path`.
    pub fn write(&self, path: impl AsRef<Path>, overwrite: Overwrite) -> Result<(), Error> {
        let path = path.as_ref();
        let json = self.to_json();
        match overwrite {
            Overwrite::Refuse => write_new(path, &json).map_err(|e| match e.kind() {
                io::ErrorKind::AlreadyExists => Error::AlreadyExists {
                    path: path.to_owned(),
                },
                _ => io_err("create", path, e),
            }),
            Overwrite::Force => {
                let tmp = temp_path(path);
                let result = write_new(&tmp, &json).and_then(|()| fs::rename(&tmp, path));
                if result.is_err() {
                    let _ = fs::remove_file(&tmp);
                }
                result.map_err(|e| io_err("write", path, e))
            }
        }
    }
}

impl fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyFile")
            .field("public_key", &self.public)
            .finish_non_exhaustive()
    }
}

impl Error {
    /// Sets the file name of an error from [`KeyFile::from_json`].
    fn at(self, file: &Path) -> Error {
        let file = file.to_owned();
        match self {
            Error::BadJson { reason, .. } => Error::BadJson { path: file, reason },
            Error::BadHex { field, .. } => Error::BadHex { path: file, field },
            Error::PublicKeyMismatch {
                stored, derived, ..
            } => Error::PublicKeyMismatch {
                path: file,
                stored,
                derived,
            },
            other => other,
        }
    }
}

/// Generates a key (see [`KeyFile::generate`]).
pub fn generate() -> KeyFile {
    KeyFile::generate()
}

/// Loads a key file (see [`KeyFile::load`]).
pub fn load(path: impl AsRef<Path>) -> Result<KeyFile, Error> {
    KeyFile::load(path)
}

fn io_err(action: &'static str, path: &Path, source: io::Error) -> Error {
    Error::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "key".to_owned());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

fn write_new(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn round_trip() {
        let dir = tmp();
        let path = dir.path().join("k.json");
        let key = KeyFile::generate();
        key.write(&path, Overwrite::Refuse).unwrap();
        let back = KeyFile::load(&path).unwrap();
        assert_eq!(back.public_key(), key.public_key());
        assert_eq!(*back.secret_key().to_seed(), *key.secret_key().to_seed());
        let sig = back.secret_key().sign(b"m");
        assert!(key.public_key().verify(b"m", &sig).is_ok());
        // The documented format, exactly two fields.
        let v: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["public_key"], key.public_key().to_hex());
        assert_eq!(v["secret_key"], hex::encode(*key.secret_key().to_seed()));
        assert_eq!(v.as_object().unwrap().len(), 2);
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(
            KeyFile::generate().public_key(),
            KeyFile::generate().public_key()
        );
    }

    #[cfg(unix)]
    #[test]
    fn mode_is_0600_also_when_forced() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tmp();
        let path = dir.path().join("k.json");
        KeyFile::generate().write(&path, Overwrite::Refuse).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        KeyFile::generate().write(&path, Overwrite::Force).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn refuses_to_overwrite_unless_forced() {
        let dir = tmp();
        let path = dir.path().join("k.json");
        let first = KeyFile::generate();
        first.write(&path, Overwrite::Refuse).unwrap();
        let second = KeyFile::generate();
        let err = second.write(&path, Overwrite::Refuse).unwrap_err();
        assert!(matches!(err, Error::AlreadyExists { .. }), "{err}");
        assert!(err.to_string().contains("already exists"));
        assert_eq!(
            KeyFile::load(&path).unwrap().public_key(),
            first.public_key()
        );
        second.write(&path, Overwrite::Force).unwrap();
        assert_eq!(
            KeyFile::load(&path).unwrap().public_key(),
            second.public_key()
        );
        // No temporary file left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn bad_files_give_clear_errors() {
        let dir = tmp();
        let key = KeyFile::generate();
        let pk = key.public_key().to_hex();
        let sk = hex::encode(*key.secret_key().to_seed());
        let other_pk = KeyFile::generate().public_key().to_hex();
        let cases: Vec<(&str, String, &str)> = vec![
            ("empty", String::new(), "is not valid key JSON"),
            ("garbage", "not json".into(), "is not valid key JSON"),
            (
                "missing",
                format!(r#"{{"public_key":"{pk}"}}"#),
                "missing field `secret_key`",
            ),
            (
                "badpk",
                format!(r#"{{"public_key":"xyz","secret_key":"{sk}"}}"#),
                "field public_key must be 64 hex",
            ),
            (
                "badsk",
                format!(r#"{{"public_key":"{pk}","secret_key":"{}"}}"#, &sk[..10]),
                "field secret_key must be 64 hex",
            ),
            (
                "mismatch",
                format!(r#"{{"public_key":"{other_pk}","secret_key":"{sk}"}}"#),
                "does not match the secret key",
            ),
        ];
        for (name, content, expected) in cases {
            let path = dir.path().join(name);
            fs::write(&path, content).unwrap();
            let err = KeyFile::load(&path).unwrap_err().to_string();
            assert!(err.contains(expected), "{name}: {err}");
            assert!(err.contains(name), "{name}: error names the file: {err}");
            assert!(!err.contains(&sk), "{name}: secret leaked: {err}");
            assert!(!err.contains('\n'), "{name}: one line: {err}");
        }
        let err = KeyFile::load(dir.path().join("nope")).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }));
        assert!(err.to_string().contains("not found"));
        let big = dir.path().join("big");
        fs::write(&big, vec![b' '; MAX_KEY_FILE_BYTES as usize + 1]).unwrap();
        assert!(matches!(
            KeyFile::load(&big).unwrap_err(),
            Error::TooLarge { .. }
        ));
    }

    #[test]
    fn debug_hides_the_secret() {
        let key = KeyFile::generate();
        let dbg = format!("{key:?}");
        assert!(!dbg.contains(&hex::encode(*key.secret_key().to_seed())));
        assert!(dbg.contains(&key.public_key().to_hex()));
    }
}
