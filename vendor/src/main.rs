//! `paychain-vendor`: the simulated hardware vendor, a party outside the consortium.
//!
//! A real TEE vendor fuses a key into each CPU and certifies its attestation key once, when the chip
//! is made; validators trust the vendor's root public key and nothing else about the machine. This
//! tool plays that vendor: it keeps the attestation root's private key in its own store (`--dir`,
//! never a node home), prints the root's public key for genesis, and certifies a machine's device
//! key (printed by `paychain-node device` or `paychain-node init`) with a [`DeviceCert`] the node
//! keeps in its device store. It never sees a node's secrets, and a node never sees the root.
//!
//! ```text
//! paychain-vendor init    --dir D                       root key D/root.json (0600), prints its public key
//! paychain-vendor root    --dir D                       prints the root public key
//! paychain-vendor certify --dir D --device-key K --out F   writes the device certificate (JSON)
//! ```

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use paychain_contracts::crypto::{PublicKey, SecretKey};
use paychain_contracts::enclave::DeviceCert;
use paychain_keystore::Overwrite;

/// File name of the root key in the vendor's store (the testnet generator writes the same).
const ROOT_FILE: &str = "root.json";

#[derive(Parser)]
#[command(
    name = "paychain-vendor",
    version,
    about = "simulated TEE vendor: attestation root and device certificates"
)]
struct Cli {
    /// The vendor's store (holds the root's private key; keep it off every node).
    #[arg(long, env = "PAYCHAIN_VENDOR_DIR", default_value = "./paychain-vendor")]
    dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the attestation root (refuses to overwrite one) and print its public key.
    Init,
    /// Print the attestation root's public key (what genesis pins).
    Root,
    /// Certify a machine's device attestation key.
    Certify {
        /// The device key (64 hex characters, from `paychain-node device --home H`).
        #[arg(long)]
        device_key: PublicKey,
        /// Where to write the certificate (JSON); standard output if absent.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn root_path(dir: &Path) -> PathBuf {
    dir.join(ROOT_FILE)
}

fn load_root(dir: &Path) -> anyhow::Result<SecretKey> {
    let path = root_path(dir);
    Ok(paychain_keystore::load(&path)
        .with_context(|| {
            format!(
                "no attestation root at {} (run `paychain-vendor init`)",
                path.display()
            )
        })?
        .secret_key()
        .clone())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Init => {
            std::fs::create_dir_all(&cli.dir)
                .with_context(|| format!("cannot create {}", cli.dir.display()))?;
            let key = paychain_keystore::generate();
            key.write(root_path(&cli.dir), Overwrite::Refuse)?;
            println!("{}", key.secret_key().public_key());
        }
        Command::Root => println!("{}", load_root(&cli.dir)?.public_key()),
        Command::Certify { device_key, out } => {
            device_key
                .validate()
                .map_err(|e| anyhow::anyhow!("refusing to certify device key {device_key}: {e}"))?;
            let root = load_root(&cli.dir)?;
            let cert = DeviceCert::issue(&root, device_key);
            let json = serde_json::to_string_pretty(&cert)?;
            match out {
                Some(path) => {
                    if let Some(parent) = path.parent() {
                        std::fs::create_dir_all(parent)?;
                    }
                    std::fs::write(&path, json.as_bytes())
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!("device {device_key} certified: {}", path.display());
                }
                None => {
                    let mut stdout = std::io::stdout().lock();
                    writeln!(stdout, "{json}")?;
                }
            }
        }
    }
    Ok(())
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn run_in(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
        let mut argv = vec!["paychain-vendor", "--dir", dir.to_str().unwrap()];
        argv.extend_from_slice(args);
        run(Cli::try_parse_from(argv)?)
    }

    #[test]
    fn certifies_devices_under_its_root_only() {
        let dir = tempfile::tempdir().unwrap();
        run_in(dir.path(), &["init"]).unwrap();
        // A second init never replaces the root (every certificate would die with it).
        assert!(run_in(dir.path(), &["init"]).is_err());
        let root = load_root(dir.path()).unwrap().public_key();
        let device = SecretKey::from_seed([5; 32]).public_key();
        let out = dir.path().join("cert.json");
        run_in(
            dir.path(),
            &[
                "certify",
                "--device-key",
                &device.to_string(),
                "--out",
                out.to_str().unwrap(),
            ],
        )
        .unwrap();
        let cert: DeviceCert = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(cert.device_key, device);
        assert!(cert.verify(&root));
        assert!(!cert.verify(&SecretKey::from_seed([6; 32]).public_key()));
        // A small-order key is nobody's device.
        let weak = "0100000000000000000000000000000000000000000000000000000000000000";
        let e = run_in(dir.path(), &["certify", "--device-key", weak]).unwrap_err();
        assert!(e.to_string().contains("refusing to certify"), "{e}");
        // Without a root there is nothing to certify with.
        let empty = tempfile::tempdir().unwrap();
        let e = run_in(
            empty.path(),
            &["certify", "--device-key", &device.to_string()],
        )
        .unwrap_err();
        assert!(e.to_string().contains("paychain-vendor init"), "{e}");
    }
}
