//! Arguments shared by several command groups, and their parsers.

use std::path::PathBuf;

use clap::Args;
use paychain_client::contracts::crypto::PublicKey;
use paychain_client::keystore::{self, KeyFile};
use paychain_client::rpc;
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

/// Whose lists to read, and the key that signs the read.
#[derive(Debug, Args)]
pub(crate) struct WhoArgs {
    /// Key file that signs the read; whose lists, unless --public-key names another key (which
    /// only the regulator's key may read).
    #[arg(long, value_name = "KEYFILE")]
    pub(crate) key: PathBuf,
    /// Whose lists (default: the --key's own).
    #[arg(long, value_name = "PUBKEY")]
    pub(crate) public_key: Option<PublicKey>,
}

impl WhoArgs {
    /// Whose lists, and a client signing its reads with --key.
    pub(crate) fn load(&self, client: &rpc::Client) -> Result<(PublicKey, rpc::Client), Failure> {
        let key = keystore::load(&self.key)?;
        let who = self.public_key.unwrap_or_else(|| key.public_key());
        Ok((who, client.clone().with_reader(key.secret_key())))
    }
}

/// The exec key of the pinned genesis, on a chain with private state ([`pin_exec_key`]).
static EXEC_KEY: std::sync::OnceLock<Option<paychain_contracts::enclave::KxPublicKey>> =
    std::sync::OnceLock::new();

/// Remembers the pinned genesis' exec key for every client this run makes ([`rpc_client`]).
pub(crate) fn pin_exec_key(key: Option<paychain_contracts::enclave::KxPublicKey>) {
    let _ = EXEC_KEY.set(key);
}

/// A client for the node at `url` that seals payment calls to the pinned genesis' exec key (on a
/// chain with private state; the key comes from genesis, never from a node).
pub(crate) fn rpc_client(url: &str) -> Result<rpc::Client, rpc::Error> {
    Ok(rpc::Client::new(url)?.with_exec_key(EXEC_KEY.get().copied().flatten()))
}

/// The key that signs a private read (payments, balances, statements, certificates, ...): the
/// node answers only what that key is entitled to, sealed to a fresh reply key.
#[derive(Debug, Args)]
pub(crate) struct ReadArgs {
    /// Key file that signs the read (a party, its platform's member key, or the regulator).
    #[arg(long, value_name = "KEYFILE")]
    pub(crate) key: PathBuf,
}

impl ReadArgs {
    /// `client`, signing its reads with --key.
    pub(crate) fn client(&self, client: &rpc::Client) -> Result<rpc::Client, Failure> {
        let key = keystore::load(&self.key)?;
        Ok(client.clone().with_reader(key.secret_key()))
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
