//! Arguments shared by several command groups, and their parsers.

use std::path::PathBuf;

use clap::Args;
use paychain_client::contracts::crypto::PublicKey;
use paychain_client::keystore::{self, KeyFile};
use paychain_client::tx::Wait;
use rust_decimal::Decimal;

use crate::output::Failure;

/// Options of every command that signs and sends a transaction.
#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// Key file of the sender.
    #[arg(long, value_name = "KEYFILE")]
    pub(crate) key: PathBuf,
    #[command(flatten)]
    pub(crate) wait: WaitArgs,
}

impl SendArgs {
    /// The sender's key file.
    pub(crate) fn load_key(&self) -> Result<KeyFile, Failure> {
        Ok(keystore::load(&self.key)?)
    }
}

#[derive(Debug, Args)]
pub(crate) struct WaitArgs {
    /// Seconds to wait for the transaction to be committed.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub(crate) wait_timeout: u64,
    /// Return once the node accepted the transaction, without waiting for it to be committed.
    #[arg(long)]
    pub(crate) no_wait: bool,
}

impl WaitArgs {
    /// What to wait for after sending.
    pub(crate) fn wait(&self) -> Wait {
        Wait::new(self.no_wait, self.wait_timeout)
    }
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct WhoArgs {
    /// Public key (a payer, or a merchant's key).
    #[arg(long, value_name = "PUBKEY")]
    pub(crate) public_key: Option<PublicKey>,
    /// Key file (only its public key is used).
    #[arg(long, value_name = "KEYFILE")]
    pub(crate) key: Option<PathBuf>,
}

impl WhoArgs {
    /// The public key given, or the one of the key file.
    pub(crate) fn public_key(&self) -> Result<PublicKey, Failure> {
        match (self.public_key, &self.key) {
            (Some(k), _) => Ok(k),
            (None, Some(file)) => Ok(keystore::load(file)?.public_key()),
            (None, None) => Err(Failure::usage("--public-key or --key is required")),
        }
    }
}

pub(crate) fn parse_amount(s: &str) -> Result<Decimal, String> {
    Decimal::from_str_exact(s.trim()).map_err(|e| format!("not a decimal amount: {e}"))
}

/// Bytes parsed from hex (a named type so clap does not treat `Vec<u8>` as a repeated argument).
#[derive(Debug, Clone)]
pub(crate) struct Bytes(pub(crate) Vec<u8>);

pub(crate) fn parse_hex(s: &str) -> Result<Bytes, String> {
    let s = s.trim();
    let s = s.strip_prefix("0x").unwrap_or(s);
    hex::decode(s)
        .map(Bytes)
        .map_err(|e| format!("not hex: {e}"))
}
