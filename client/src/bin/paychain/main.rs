//! `paychain`: the command-line client. Parses arguments, calls the `paychain_client` SDK, prints the
//! result (human text, or one JSON document with `--json`) and maps failures to documented exit codes.
//!
//! This file holds the command tree and the dispatch; each command group has its file (`wallet.rs`,
//! `pay.rs`, ...), over the SDK module of the same name. `args.rs` holds the arguments several groups
//! share, `input.rs` the reading of files and codes, `output.rs` the printing, the exit codes of the
//! SDK's errors and the report of a sent transaction.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use paychain_client::contracts::crypto::PublicKey;
use paychain_client::rpc;

use crate::output::{one_line, Output};

mod args;
mod ca;
mod cert;
mod chain;
mod collect;
mod enclave;
mod governance;
mod guardian;
mod input;
mod keys;
mod merchant;
mod output;
mod pay;
mod qr;
mod store;
mod wallet;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the node or the chain said no: node unreachable or timed out, transaction refused by the node,
     transaction failed on chain (the contract's message is printed), not found, not committed in time
  2  usage or input error: bad arguments, unreadable or invalid key file, bad hex or id, invalid field,
     invalid merchant code (bad CRC, length, structure), no readable QR code in an image

On failure exactly one line `error: <reason>` goes to stderr. With --json, stdout holds exactly one
JSON document on success, and also when a submitted transaction then failed or timed out (so scripts
get its hash); otherwise stdout is empty.";

/// paychain command-line client.
#[derive(Debug, Parser)]
#[command(name = "paychain", version, about, after_help = EXIT_CODES)]
pub(crate) struct Cli {
    /// JSON-RPC address of the node.
    #[arg(long, global = true, env = "PAYCHAIN_RPC", default_value = rpc::DEFAULT_URL, value_name = "URL")]
    pub(crate) rpc: String,
    /// Print exactly one JSON document on stdout instead of human text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// The consortium's genesis.json, pinned: record puts seal to its consortium key, lookups and
    /// payments trust only the enclave it vouches for, certificates verify against its validators;
    /// every node is checked against it. Default: ~/.paychain/genesis.json.
    #[arg(long, global = true, env = "PAYCHAIN_GENESIS", value_name = "FILE")]
    pub(crate) genesis: Option<std::path::PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create or inspect key files.
    #[command(subcommand)]
    Keys(keys::KeysCmd),
    /// Show the node's and the chain's status.
    Status,
    /// Register or show merchants.
    #[command(subcommand)]
    Merchant(merchant::MerchantCmd),
    /// Put, get or revoke a platform's acquiring record for a merchant.
    #[command(subcommand)]
    Record(merchant::RecordCmd),
    /// Show a merchant and the platforms serving it; with --key and --platform, the platform's record
    /// in plaintext, answered by the node's enclave and verified against its registered quote.
    Lookup(enclave::LookupArgs),
    /// The chain's simulated enclave: configuration, registered enclaves, this node's enclave.
    #[command(subcommand)]
    Enclave(enclave::EnclaveCmd),
    /// Show or submit transactions.
    #[command(subcommand)]
    Tx(chain::TxCmd),
    /// Show a committed block.
    Block {
        /// Height (from 1).
        height: u64,
    },
    /// Show an account's nonce and membership.
    Account {
        /// Public key (64 hex characters).
        public_key: PublicKey,
    },
    /// Make or read EMVCo merchant QR codes (works offline).
    #[command(subcommand)]
    Qr(qr::QrCmd),
    /// Fetch or verify transaction certificates.
    #[command(subcommand)]
    Cert(cert::CertCmd),
    /// Consortium governance: propose, vote, show proposals.
    #[command(subcommand)]
    Gov(governance::GovCmd),
    /// Wallet accounts: verify users, open wallets, bind cards, top up, balances, statements.
    #[command(subcommand)]
    Wallet(wallet::WalletCmd),
    /// Scan a merchant code and pay it from your wallet; writes the payment's certificate.
    Pay(pay::PayArgs),
    /// The acquirer settles a merchant's to-be-settled balance to its bank.
    Settle(pay::SettleArgs),
    /// The acquirer refunds (part of) a payment to the payer's wallet.
    Refund(pay::RefundArgs),
    /// Split-bill collections: create (payee), pay a share (payer), show.
    #[command(subcommand)]
    Collect(collect::CollectCmd),
    /// Offline store, online identity: the store creates an order for a user, the user confirms it
    /// (or authorises a store up to a limit); show orders.
    #[command(subcommand)]
    Store(store::StoreCmd),
    /// Your online identity: the code a store scans.
    #[command(subcommand)]
    Identity(store::IdentityCmd),
    /// Guardian-delegated payment: a dependant asks, the guardian approves with limits, the
    /// dependant pays with `paychain pay --binding`; notifications and monthly statements.
    #[command(subcommand)]
    Guardian(guardian::GuardianCmd),
    /// The consortium CA: a platform's CA (init, governance approval), party certificates (issue,
    /// the party's consent, register, revoke) and their on-chain state (show).
    #[command(subcommand)]
    Ca(ca::CaCmd),
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_exit(e),
    };
    let json = cli.json;
    match run(cli).await {
        Ok(output) => {
            output.print(json);
            ExitCode::SUCCESS
        }
        Err(failure) => {
            if let Some(output) = &failure.output {
                output.print(json);
            }
            eprintln!("error: {}", one_line(&failure.message));
            ExitCode::from(failure.code)
        }
    }
}

/// Help and version go to stdout with code 0; every parse error becomes one `error:` line and code 2.
fn clap_exit(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
            eprintln!("error: a subcommand is required (see --help)");
            ExitCode::from(2)
        }
        _ => {
            eprintln!("error: {}", clap_message(&e));
            ExitCode::from(2)
        }
    }
}

/// Clap's message without the `error:` prefix, the usage block and the `--help` hint, on one line.
fn clap_message(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let text = text.split("\n\nUsage:").next().unwrap_or_default();
    let text = text
        .split("\n\nFor more information")
        .next()
        .unwrap_or_default();
    let text = one_line(text);
    text.strip_prefix("error: ").unwrap_or(&text).to_owned()
}

async fn run(cli: Cli) -> Result<Output, output::Failure> {
    let url = cli.rpc.as_str();
    let genesis = cli.genesis.as_deref();
    // On a chain with private state, payment calls are sealed to the pinned genesis' exec key; a
    // command that needs the pin itself says so when there is none.
    args::pin_exec_key(enclave::pin(genesis).ok().and_then(|p| p.exec_public));
    match cli.command {
        Command::Keys(cmd) => keys::run(cmd),
        Command::Status => chain::status(url).await,
        Command::Merchant(cmd) => merchant::merchant(url, cmd).await,
        Command::Record(cmd) => merchant::record(url, cmd, genesis).await,
        Command::Lookup(args) => enclave::lookup(url, args, genesis).await,
        Command::Enclave(cmd) => enclave::run(url, cmd).await,
        Command::Tx(cmd) => chain::tx(url, cmd).await,
        Command::Block { height } => chain::block(url, height).await,
        Command::Account { public_key } => chain::account(url, public_key).await,
        Command::Qr(cmd) => qr::run(cmd),
        Command::Cert(cmd) => cert::run(url, cmd, genesis).await,
        Command::Gov(cmd) => governance::run(url, cmd).await,
        Command::Wallet(cmd) => wallet::run(url, cmd).await,
        Command::Pay(args) => pay::pay(url, args, genesis).await,
        Command::Settle(args) => pay::settle(url, args).await,
        Command::Refund(args) => pay::refund(url, args).await,
        Command::Collect(cmd) => collect::run(url, cmd).await,
        Command::Store(cmd) => store::run(url, cmd).await,
        Command::Identity(cmd) => store::identity(cmd),
        Command::Guardian(cmd) => guardian::run(url, cmd).await,
        Command::Ca(cmd) => ca::run(url, cmd).await,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Parses `paychain ARGS`.
    pub(crate) fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("paychain").chain(args.iter().copied()))
    }

    pub(crate) const MID: &str = "M0123456789ABCDEF0123";

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_anywhere_and_defaults() {
        let cli = parse(&["status", "--json", "--rpc", "http://h:1"]).unwrap();
        assert!(cli.json);
        assert_eq!(cli.rpc, "http://h:1");
        let cli = parse(&["status"]).unwrap();
        // PAYCHAIN_RPC may be set in the environment running the tests.
        if std::env::var_os("PAYCHAIN_RPC").is_none() {
            assert_eq!(cli.rpc, rpc::DEFAULT_URL);
        }
        assert!(!cli.json);
    }

    #[test]
    fn typed_arguments_are_checked() {
        assert!(parse(&["lookup", MID]).is_ok());
        assert!(parse(&["lookup", "m0123"]).is_err());
        assert!(parse(&["record", "get", "--merchant", MID, "--platform", "Bad_Id"]).is_err());
        assert!(parse(&["record", "put", "--key", "k", "--merchant", MID]).is_err());
        assert!(parse(&[
            "record",
            "put",
            "--key",
            "k",
            "--merchant",
            MID,
            "--payload-hex",
            "0xab01"
        ])
        .is_ok());
        assert!(parse(&[
            "record",
            "put",
            "--key",
            "k",
            "--merchant",
            MID,
            "--payload-hex",
            "abc"
        ])
        .is_err());
        assert!(parse(&["tx", "submit-raw", "00ff"]).is_ok());
        assert!(parse(&["tx", "show", "00"]).is_err());
        assert!(parse(&["block", "-1"]).is_err());
    }

    #[test]
    fn parse_errors_are_one_line() {
        let e = parse(&["merchant", "register", "--key", "k"]).unwrap_err();
        let msg = clap_message(&e);
        assert!(!msg.contains('\n'));
        assert!(msg.contains("--name"), "{msg}");
        assert!(!msg.starts_with("error:"));
        let e = parse(&["lookup", "nope"]).unwrap_err();
        assert!(
            clap_message(&e).contains("invalid merchant id"),
            "{}",
            clap_message(&e)
        );
    }
}
