//! The machine's device store (the simulated CPU: its fused secret and the vendor's certificate
//! of the attestation key derived from it), and the private-file and randomness helpers the
//! sidecar and the testnet generator share. Only the sidecar reads the secret at run time.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use paychain_contracts::crypto::PublicKey;
use paychain_contracts::enclave::{device_attestation_key, BoxRandomness, DeviceCert};
use rand::RngCore;
use zeroize::Zeroizing;

pub(crate) fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

pub(crate) fn fresh_randomness() -> BoxRandomness {
    BoxRandomness::new(random(), random())
}

/// The simulated CPU of one machine: its fused secret and the vendor's certificate of the
/// attestation key derived from it, in a directory outside the node home.
#[derive(Clone, Debug)]
pub struct Device {
    dir: PathBuf,
}

/// File name of the device secret in the device store.
pub const DEVICE_SECRET_FILE: &str = "device.secret";
/// File name of the vendor's device certificate in the device store.
pub const DEVICE_CERT_FILE: &str = "device.cert.json";

impl Device {
    /// The store at `dir`.
    pub fn at(dir: PathBuf) -> Device {
        Device { dir }
    }

    /// The store's directory.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    fn secret_path(&self) -> PathBuf {
        self.dir.join(DEVICE_SECRET_FILE)
    }

    /// Where the vendor's certificate of this machine goes.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join(DEVICE_CERT_FILE)
    }

    /// Creates the device secret if the store has none (the machine's fuses, blown once). Run
    /// by the sidecar (`paychain-enclave device --init`), never by the node process.
    pub(crate) fn init(&self) -> anyhow::Result<()> {
        let path = self.secret_path();
        if !path.exists() {
            let secret = Zeroizing::new(hex::encode(random::<32>()));
            write_private(&path, secret.as_bytes())?;
        }
        Ok(())
    }

    pub(crate) fn install(&self, secret: &[u8; 32], cert: &DeviceCert) -> anyhow::Result<()> {
        let hex_secret = Zeroizing::new(hex::encode(secret));
        write_private(&self.secret_path(), hex_secret.as_bytes())?;
        write_private(&self.cert_path(), &serde_json::to_vec_pretty(cert)?)?;
        Ok(())
    }

    /// The device secret: read by the sidecar alone.
    pub(crate) fn secret(&self) -> anyhow::Result<Zeroizing<[u8; 32]>> {
        let path = self.secret_path();
        let text = Zeroizing::new(std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read the device secret {} (run `paychain-node init`, or set [enclave] device_dir)",
                path.display()
            )
        })?);
        let mut secret = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text.trim(), secret.as_mut_slice())
            .map_err(|_| anyhow::anyhow!("{} is not 64 hex characters", path.display()))?;
        Ok(secret)
    }

    /// This machine's device attestation key, for the vendor to certify (computed by the
    /// sidecar; the node asks `paychain-enclave device`).
    pub(crate) fn attestation_key(&self) -> anyhow::Result<PublicKey> {
        Ok(device_attestation_key(&*self.secret()?)
            .map_err(|e| anyhow::anyhow!("deriving the device key: {e}"))?
            .public_key())
    }

    /// The vendor's certificate of this machine, if it has one.
    pub fn cert(&self) -> anyhow::Result<Option<DeviceCert>> {
        let path = self.cert_path();
        match std::fs::read(&path) {
            Ok(bytes) if bytes.len() <= 4096 => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| anyhow::anyhow!("device certificate {}: {e}", path.display())),
            Ok(_) => anyhow::bail!("device certificate {} is too large", path.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
        }
    }
}

pub(crate) fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Write a temp file then rename, so a crash never leaves half a sealed blob.
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}
