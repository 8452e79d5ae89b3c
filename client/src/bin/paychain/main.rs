//! `paychain`: the command-line client. Parses arguments, calls the `paychain_client` library, prints the
//! result (human text, or one JSON document with `--json`) and maps failures to documented exit codes.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use paychain_client::contracts::api::{
    AccountView, BlockView, MerchantView, RecordView, StatusView, TxView,
};
use paychain_client::contracts::certificate::TxCertificate;
use paychain_client::contracts::codec::MAX_TX_BYTES;
use paychain_client::contracts::crypto::{Hash, PublicKey};
use paychain_client::contracts::executor::Receipt;
use paychain_client::contracts::genesis::Genesis;
use paychain_client::contracts::ids::{MerchantId, PlatformId};
use paychain_client::contracts::registry;
use paychain_client::contracts::tx::Call;
use paychain_client::keystore::{self, KeyFile, Overwrite};
use paychain_client::{emvco, qr, rpc, tx};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::json;

mod collect;
mod enclave;
mod guardian;
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
struct Cli {
    /// JSON-RPC address of the node.
    #[arg(long, global = true, env = "PAYCHAIN_RPC", default_value = rpc::DEFAULT_URL, value_name = "URL")]
    rpc: String,
    /// Print exactly one JSON document on stdout instead of human text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create or inspect key files.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Show the node's and the chain's status.
    Status,
    /// Register or show merchants.
    #[command(subcommand)]
    Merchant(MerchantCmd),
    /// Put, get or revoke a platform's acquiring record for a merchant.
    #[command(subcommand)]
    Record(RecordCmd),
    /// Show a merchant and the platforms serving it; with --key and --platform, the platform's record
    /// in plaintext, answered by the node's enclave and verified against its registered quote.
    Lookup(enclave::LookupArgs),
    /// The chain's simulated enclave: configuration, registered enclaves, this node's enclave.
    #[command(subcommand)]
    Enclave(enclave::EnclaveCmd),
    /// Show or submit transactions.
    #[command(subcommand)]
    Tx(TxCmd),
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
    Qr(QrCmd),
    /// Fetch or verify transaction certificates.
    #[command(subcommand)]
    Cert(CertCmd),
    /// Consortium governance: propose, vote, show proposals.
    #[command(subcommand)]
    Gov(wallet::GovCmd),
    /// Wallet accounts: verify users, open wallets, bind cards, top up, balances, statements.
    #[command(subcommand)]
    Wallet(wallet::WalletCmd),
    /// Scan a merchant code and pay it from your wallet; writes the payment's certificate.
    Pay(wallet::PayArgs),
    /// The acquirer settles a merchant's to-be-settled balance to its bank.
    Settle(wallet::SettleArgs),
    /// The acquirer refunds (part of) a payment to the payer's wallet.
    Refund(wallet::RefundArgs),
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
}

#[derive(Debug, Subcommand)]
enum CertCmd {
    /// Fetch the certificate of a committed transaction (needs the next block committed).
    Get {
        /// Transaction hash.
        tx: Hash,
        /// Write the certificate (JSON) to this file.
        #[arg(short = 'o', long = "out")]
        out: Option<PathBuf>,
    },
    /// Verify a certificate offline against the genesis validator set: that the transaction was
    /// committed and what the chain decided. Exits 0 only for a successful transaction, 1 for a
    /// committed one the contract refused (unless --inclusion-only), 1 for a certificate that does
    /// not verify.
    Verify {
        /// Certificate file (JSON).
        file: PathBuf,
        /// The chain's genesis.json.
        #[arg(long)]
        genesis: PathBuf,
        /// Only check inclusion: exit 0 for a refused transaction too (the verdict is still printed).
        #[arg(long)]
        inclusion_only: bool,
    },
    /// List the payments and refunds of a payer (its wallets) or a payee (a merchant's key).
    List {
        #[command(flatten)]
        who: wallet::WhoArgs,
        /// At most this many, newest first (node default 100).
        #[arg(long)]
        limit: Option<usize>,
    },
}

#[derive(Debug, Subcommand)]
enum QrCmd {
    /// Make a paychain merchant code: a PNG with -o, else drawn in the terminal. With --amount and
    /// --order it is a dynamic code for one order.
    Encode(Box<QrEncodeArgs>),
    /// Read a merchant code of any EMVCo scheme and print its fields.
    Decode {
        /// The payload text, a PNG file, or - for standard input (text or PNG).
        #[arg(value_name = "PAYLOAD | FILE.png | -")]
        input: String,
    },
}

#[derive(Debug, Args)]
struct QrEncodeArgs {
    /// Merchant id ("M" + 20 uppercase hex characters).
    #[arg(long, value_name = "ID")]
    merchant: MerchantId,
    /// Merchant name (1 to 25 characters).
    #[arg(long)]
    name: String,
    /// City (1 to 15 characters).
    #[arg(long)]
    city: String,
    /// Merchant category code (4 digits).
    #[arg(long)]
    mcc: String,
    /// ISO 4217 currency, numeric or letters (156 or CNY).
    #[arg(long, default_value = "156")]
    currency: String,
    /// ISO 3166-1 alpha-2 country code.
    #[arg(long, default_value = "CN")]
    country: String,
    /// Amount to pay, e.g. 12.50 (makes a dynamic code; needs --order).
    #[arg(long, requires = "order", value_parser = parse_amount)]
    amount: Option<Decimal>,
    /// Order reference (1 to 25 characters; needs --amount).
    #[arg(long, requires = "amount")]
    order: Option<String>,
    /// Seconds until a dynamic code expires (written as Unix seconds in field 26-02; payers'
    /// wallets refuse it afterwards).
    #[arg(long, requires = "amount", value_name = "SECS")]
    expires_in: Option<u64>,
    /// PNG file to write.
    #[arg(short = 'o', long = "out", value_name = "FILE.png")]
    out: Option<PathBuf>,
    /// Pixels per QR module in the PNG.
    #[arg(long, default_value_t = qr::DEFAULT_SCALE, value_parser = clap::value_parser!(u32).range(1..=64))]
    scale: u32,
}

fn parse_amount(s: &str) -> Result<Decimal, String> {
    Decimal::from_str_exact(s.trim()).map_err(|e| format!("not a decimal amount: {e}"))
}

#[derive(Debug, Subcommand)]
enum KeysCmd {
    /// Generate a key and write it to a new file (mode 0600).
    New {
        /// File to create.
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: PathBuf,
        /// Overwrite the file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Print a key file's public key (never the secret).
    Show {
        /// Key file.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum MerchantCmd {
    /// Register a merchant (signed by a platform's key); prints the merchant id.
    Register(RegisterArgs),
    /// Show a registered merchant.
    Show {
        /// Merchant id.
        id: MerchantId,
    },
}

#[derive(Debug, Args)]
struct RegisterArgs {
    #[command(flatten)]
    send: SendArgs,
    /// Merchant name (1 to 25 characters).
    #[arg(long)]
    name: String,
    /// City (1 to 15 characters).
    #[arg(long)]
    city: String,
    /// Merchant category code (4 digits).
    #[arg(long)]
    mcc: String,
    /// ISO 3166-1 alpha-2 country code, e.g. CN.
    #[arg(long)]
    country: String,
    #[command(flatten)]
    merchant_key: MerchantKeyArg,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct MerchantKeyArg {
    /// The merchant's public key (64 hex characters).
    #[arg(long, value_name = "HEX")]
    merchant_key: Option<PublicKey>,
    /// A key file holding the merchant's key (only its public key is used).
    #[arg(long, value_name = "FILE")]
    merchant_keyfile: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum RecordCmd {
    /// Create or replace the signing platform's record for a merchant.
    Put {
        #[command(flatten)]
        send: SendArgs,
        /// Merchant id.
        #[arg(long, value_name = "ID")]
        merchant: MerchantId,
        #[command(flatten)]
        payload: PayloadArg,
        /// Send the payload as it is, even on a chain that seals records (which refuses it there).
        #[arg(long)]
        raw: bool,
    },
    /// Show one platform's record for a merchant.
    Get {
        /// Merchant id.
        #[arg(long, value_name = "ID")]
        merchant: MerchantId,
        /// Platform id.
        #[arg(long, value_name = "PID")]
        platform: PlatformId,
    },
    /// Revoke the signing platform's record for a merchant.
    Revoke {
        #[command(flatten)]
        send: SendArgs,
        /// Merchant id.
        #[arg(long, value_name = "ID")]
        merchant: MerchantId,
    },
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct PayloadArg {
    /// File holding the record (sealed to the consortium enclave key on a chain that has one).
    #[arg(long, value_name = "FILE")]
    info: Option<PathBuf>,
    /// The record as hex (sealed like --info).
    #[arg(long, value_name = "HEX", value_parser = parse_hex)]
    payload_hex: Option<Bytes>,
}

#[derive(Debug, Subcommand)]
enum TxCmd {
    /// Show a transaction's status and receipt.
    Show {
        /// Transaction hash (64 hex characters).
        hash: Hash,
    },
    /// Submit already encoded transaction bytes as they are.
    SubmitRaw {
        /// Hex of the encoded signed transaction.
        #[arg(value_parser = parse_hex)]
        hex: Bytes,
        #[command(flatten)]
        wait: WaitArgs,
    },
}

/// Options of every command that signs and sends a transaction.
#[derive(Debug, Args)]
struct SendArgs {
    /// Key file of the sender.
    #[arg(long, value_name = "KEYFILE")]
    key: PathBuf,
    #[command(flatten)]
    wait: WaitArgs,
}

#[derive(Debug, Args)]
struct WaitArgs {
    /// Seconds to wait for the transaction to be committed.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    wait_timeout: u64,
    /// Return once the node accepted the transaction, without waiting for it to be committed.
    #[arg(long)]
    no_wait: bool,
}

/// Bytes parsed from hex (a named type so clap does not treat `Vec<u8>` as a repeated argument).
#[derive(Debug, Clone)]
struct Bytes(Vec<u8>);

fn parse_hex(s: &str) -> Result<Bytes, String> {
    let s = s.trim();
    let s = s.strip_prefix("0x").unwrap_or(s);
    hex::decode(s)
        .map(Bytes)
        .map_err(|e| format!("not hex: {e}"))
}

/// A failure: the exit code, the one-line reason, and what to print on stdout anyway (a submitted
/// transaction's outcome).
#[derive(Debug)]
struct Failure {
    code: u8,
    message: String,
    output: Option<Output>,
}

impl Failure {
    fn usage(message: impl ToString) -> Failure {
        Failure {
            code: 2,
            message: message.to_string(),
            output: None,
        }
    }

    /// A refusal or failure on the chain's side (exit code 1).
    fn chain(message: impl ToString) -> Failure {
        Failure {
            code: 1,
            message: message.to_string(),
            output: None,
        }
    }
}

impl From<rpc::Error> for Failure {
    fn from(e: rpc::Error) -> Failure {
        let code = match e {
            rpc::Error::InvalidUrl { .. } => 2,
            _ => 1,
        };
        Failure {
            code,
            message: e.to_string(),
            output: None,
        }
    }
}

impl From<tx::Error> for Failure {
    fn from(e: tx::Error) -> Failure {
        match e {
            tx::Error::Rpc(e) => e.into(),
            other => Failure {
                code: 1,
                message: other.to_string(),
                output: None,
            },
        }
    }
}

impl From<keystore::Error> for Failure {
    fn from(e: keystore::Error) -> Failure {
        Failure::usage(e)
    }
}

/// What a command prints: human text, or one JSON document.
#[derive(Debug)]
struct Output {
    human: String,
    json: serde_json::Value,
}

impl Output {
    fn new(human: String, json: impl Serialize) -> Output {
        Output {
            human,
            json: serde_json::to_value(json).unwrap_or(serde_json::Value::Null),
        }
    }

    fn print(&self, json: bool) {
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&self.json).unwrap_or_else(|_| "null".into())
            );
        } else {
            print!("{}", self.human);
        }
    }
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

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

async fn run(cli: Cli) -> Result<Output, Failure> {
    let client = || rpc::Client::new(&cli.rpc);
    match cli.command {
        Command::Qr(QrCmd::Encode(args)) => qr_encode(*args),
        Command::Qr(QrCmd::Decode { input }) => qr_decode(&input),
        Command::Keys(KeysCmd::New { out, force }) => {
            let key = KeyFile::generate();
            let mode = if force {
                Overwrite::Force
            } else {
                Overwrite::Refuse
            };
            key.write(&out, mode)?;
            Ok(key_output(&key, &out, "wrote"))
        }
        Command::Keys(KeysCmd::Show { file }) => {
            let key = keystore::load(&file)?;
            Ok(key_output(&key, &file, "show"))
        }
        Command::Status => {
            let status = client()?.status().await?;
            Ok(Output::new(human_status(&status), &status))
        }
        Command::Merchant(MerchantCmd::Register(args)) => {
            let merchant_key = match (
                &args.merchant_key.merchant_key,
                &args.merchant_key.merchant_keyfile,
            ) {
                (Some(key), _) => *key,
                (None, Some(file)) => keystore::load(file)?.public_key(),
                (None, None) => {
                    return Err(Failure::usage(
                        "--merchant-key or --merchant-keyfile is required",
                    ))
                }
            };
            registry::validate_merchant_fields(
                &args.name,
                &args.city,
                &args.mcc,
                &args.country,
                &merchant_key,
            )
            .map_err(Failure::usage)?;
            let merchant_id = MerchantId::derive(&merchant_key);
            let call = Call::Registry(registry::Call::RegisterMerchant {
                name: args.name,
                city: args.city,
                mcc: args.mcc,
                country: args.country,
                merchant_key,
            });
            send(&client()?, &args.send, call, Some(&merchant_id)).await
        }
        Command::Merchant(MerchantCmd::Show { id }) => {
            let view = client()?.merchant(&id).await?;
            Ok(Output::new(human_merchant(&view), &view))
        }
        Command::Lookup(args) => enclave::lookup(&cli.rpc, args).await,
        Command::Enclave(cmd) => enclave::enclave_cmd(&cli.rpc, cmd).await,
        Command::Record(RecordCmd::Put {
            send: send_args,
            merchant,
            payload,
            raw,
        }) => {
            let payload = match (payload.info, payload.payload_hex) {
                (Some(file), _) => read_payload(&file)?,
                (None, Some(bytes)) => bytes.0,
                (None, None) => return Err(Failure::usage("--info or --payload-hex is required")),
            };
            enclave::record_put(&cli.rpc, &send_args, merchant, payload, raw).await
        }
        Command::Record(RecordCmd::Get { merchant, platform }) => {
            let view = client()?.record(&merchant, &platform).await?;
            Ok(Output::new(human_record(&view), &view))
        }
        Command::Record(RecordCmd::Revoke {
            send: send_args,
            merchant,
        }) => {
            let call = Call::Registry(registry::Call::RevokeRecord {
                merchant_id: merchant.clone(),
            });
            send(&client()?, &send_args, call, Some(&merchant)).await
        }
        Command::Tx(TxCmd::Show { hash }) => {
            let view = client()?.tx(&hash).await?;
            Ok(Output::new(human_tx(&view), &view))
        }
        Command::Tx(TxCmd::SubmitRaw { hex, wait }) => {
            let client = client()?;
            let answer = client.submit_raw(&hex.0).await?;
            follow(&client, answer.tx_hash, &wait, None).await
        }
        Command::Block { height } => {
            let view = client()?.block(height).await?.ok_or_else(|| Failure {
                code: 1,
                message: format!("no block at height {height}"),
                output: None,
            })?;
            Ok(Output::new(human_block(&view), &view))
        }
        Command::Cert(CertCmd::Get { tx, out }) => {
            let cert = client()?.certificate(&tx).await?;
            let text = serde_json::to_string_pretty(&cert).map_err(|e| Failure {
                code: 1,
                message: format!("cannot encode certificate: {e}"),
                output: None,
            })?;
            let human = match &out {
                Some(path) => {
                    std::fs::write(path, &text).map_err(|e| Failure {
                        code: 2,
                        message: format!("cannot write {}: {e}", path.display()),
                        output: None,
                    })?;
                    format!(
                        "certificate of tx {} (block {}) written to {}\n",
                        tx,
                        cert.header.height,
                        path.display()
                    )
                }
                None => format!("{text}\n"),
            };
            Ok(Output::new(human, &cert))
        }
        Command::Cert(CertCmd::Verify {
            file,
            genesis,
            inclusion_only,
        }) => cert_verify(&file, &genesis, inclusion_only),
        Command::Cert(CertCmd::List { who, limit }) => {
            wallet::cert_list(&cli.rpc, who, limit).await
        }
        Command::Gov(cmd) => wallet::gov(&cli.rpc, cmd).await,
        Command::Wallet(cmd) => wallet::wallet(&cli.rpc, cmd).await,
        Command::Pay(args) => wallet::pay_cmd(&cli.rpc, args).await,
        Command::Settle(args) => wallet::settle(&cli.rpc, args).await,
        Command::Refund(args) => wallet::refund(&cli.rpc, args).await,
        Command::Collect(cmd) => collect::collect(&cli.rpc, cmd).await,
        Command::Store(cmd) => store::store_cmd(&cli.rpc, cmd).await,
        Command::Identity(cmd) => store::identity(cmd),
        Command::Guardian(cmd) => guardian::guardian_cmd(&cli.rpc, cmd).await,
        Command::Account { public_key } => {
            let view = client()?.account(&public_key).await?;
            Ok(Output::new(human_account(&view), &view))
        }
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T, Failure> {
    let file = std::fs::File::open(path).map_err(|e| Failure {
        code: 2,
        message: format!("cannot read {what} {}: {e}", path.display()),
        output: None,
    })?;
    let bytes = read_bounded(file, 4 * 1024 * 1024, what)?;
    serde_json::from_slice(&bytes).map_err(|e| Failure {
        code: 2,
        message: format!("{what} {} is not valid: {e}", path.display()),
        output: None,
    })
}

/// Offline verification: no node is contacted. A certificate proves inclusion and the receipt the
/// chain committed; a refused transaction is reported as refused, and fails unless `inclusion_only`.
fn cert_verify(file: &Path, genesis: &Path, inclusion_only: bool) -> Result<Output, Failure> {
    let cert: TxCertificate = read_json(file, "certificate")?;
    let genesis: Genesis = read_json(genesis, "genesis")?;
    cert.verify(&genesis.chain_id, &genesis.validators)
        .map_err(|e| Failure {
            code: 1,
            message: format!("certificate does not verify: {e}"),
            output: None,
        })?;
    let succeeded = cert.receipt.code == 0;
    let verdict = if succeeded {
        "succeeded".to_string()
    } else {
        format!(
            "was REFUSED by the chain (code {}: {})",
            cert.receipt.code,
            cert.receipt
                .error
                .as_deref()
                .unwrap_or("no reason recorded")
        )
    };
    let human = format!(
        "certificate valid: tx {} committed in block {} of {} and {verdict}; signed by {} and {} of {} validators\n",
        cert.tx.hash(),
        cert.header.height,
        genesis.chain_id,
        cert.commit.signatures.len(),
        cert.next_commit.signatures.len(),
        genesis.validators.len()
    );
    let output = Output::new(
        human,
        json!({
            "valid": true,
            "succeeded": succeeded,
            "tx_hash": cert.tx.hash(),
            "height": cert.header.height,
            "receipt": cert.receipt,
        }),
    );
    if succeeded || inclusion_only {
        return Ok(output);
    }
    Err(Failure {
        code: 1,
        message: format!(
            "the certificate is valid, but it proves that tx {} {verdict} (pass --inclusion-only to check inclusion alone)",
            cert.tx.hash()
        ),
        output: Some(output),
    })
}

fn key_output(key: &KeyFile, path: &Path, action: &str) -> Output {
    let human = if action == "wrote" {
        format!(
            "wrote {}\npublic key {}\n",
            path.display(),
            key.public_key()
        )
    } else {
        format!("{}\n", key.public_key())
    };
    Output::new(
        human,
        json!({ "path": path, "public_key": key.public_key() }),
    )
}

/// Reads a payload file, refusing more than a transaction can carry.
fn read_payload(path: &Path) -> Result<Vec<u8>, Failure> {
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
    let mut bytes = Vec::new();
    file.take(MAX_TX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
    if bytes.len() > MAX_TX_BYTES {
        return Err(Failure::usage(format!(
            "{} is larger than a transaction may be ({MAX_TX_BYTES} bytes)",
            path.display()
        )));
    }
    Ok(bytes)
}

/// Signs `call` with the key file, submits it and (unless `--no-wait`) waits for its receipt.
async fn send(
    client: &rpc::Client,
    args: &SendArgs,
    call: Call,
    merchant_id: Option<&MerchantId>,
) -> Result<Output, Failure> {
    let key = keystore::load(&args.key)?;
    let submitted = tx::TxBuilder::new(client, key.secret_key())
        .submit(call)
        .await?;
    follow(client, submitted.tx_hash, &args.wait, merchant_id).await
}

/// The JSON document of every transaction-sending command.
#[derive(Debug, Serialize)]
struct TxOutcome<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    merchant_id: Option<&'a MerchantId>,
    tx_hash: Hash,
    /// `submitted` (--no-wait), `committed`, `failed` or `timeout`.
    status: &'static str,
    height: Option<u64>,
    receipt: Option<&'a Receipt>,
}

async fn follow(
    client: &rpc::Client,
    tx_hash: Hash,
    wait: &WaitArgs,
    merchant_id: Option<&MerchantId>,
) -> Result<Output, Failure> {
    let result = if wait.no_wait {
        None
    } else {
        Some(tx::wait_committed(client, &tx_hash, Duration::from_secs(wait.wait_timeout)).await)
    };
    let (status, receipt) = match &result {
        None => ("submitted", None),
        Some(Ok(receipt)) => ("committed", Some(receipt)),
        Some(Err(tx::Error::Failed { receipt })) => ("failed", Some(receipt.as_ref())),
        Some(Err(tx::Error::Timeout { .. })) => ("timeout", None),
        // The node stopped answering after it accepted the transaction.
        Some(Err(_)) => ("unknown", None),
    };
    let outcome = TxOutcome {
        merchant_id,
        tx_hash,
        status,
        height: receipt.map(|r| r.height),
        receipt,
    };
    let mut human = String::new();
    if let Some(id) = merchant_id {
        let _ = writeln!(human, "merchant id  {id}");
    }
    let _ = writeln!(human, "tx           {tx_hash}");
    let _ = match (status, receipt) {
        ("committed", Some(r)) => writeln!(
            human,
            "status       committed at height {} (index {})",
            r.height, r.index
        ),
        ("failed", Some(r)) => writeln!(
            human,
            "status       failed at height {} (code {})",
            r.height, r.code
        ),
        _ => writeln!(human, "status       {status}"),
    };
    let output = Output::new(human, &outcome);
    match result {
        Some(Err(e)) => {
            let mut failure = Failure::from(e);
            failure.output = Some(output);
            Err(failure)
        }
        _ => Ok(output),
    }
}

// ---- merchant codes ----

impl From<qr::Error> for Failure {
    fn from(e: qr::Error) -> Failure {
        Failure::usage(e)
    }
}

fn qr_encode(args: QrEncodeArgs) -> Result<Output, Failure> {
    let mut spec = emvco::MerchantCodeSpec::new(
        args.merchant,
        &args.name,
        &args.city,
        &args.mcc,
        &args.currency,
        &args.country,
    )
    .map_err(Failure::usage)?;
    if let (Some(amount), Some(order)) = (args.amount, &args.order) {
        spec = spec.with_payment(amount, order).map_err(Failure::usage)?;
    }
    let mut payload = emvco::encode(&spec);
    let mut expires_at = None;
    if let Some(secs) = args.expires_in {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let at = now.saturating_add(secs);
        payload = paychain_client::pay::with_expiry(&payload, at)
            .map_err(|e| Failure::usage(e.to_string()))?;
        expires_at = Some(at);
    }
    let mut human = String::new();
    if let Some(path) = &args.out {
        let png = qr::png(&payload, args.scale)?;
        std::fs::write(path, png)
            .map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))?;
        let _ = writeln!(human, "wrote {}", path.display());
    } else {
        human.push_str(&qr::terminal(&payload)?);
    }
    let _ = writeln!(human, "payload {payload}");
    let json = json!({
        "payload": payload,
        "path": args.out,
        "merchant_id": spec.merchant_id(),
        "point_of_initiation": if spec.amount().is_some() { "dynamic" } else { "static" },
        "amount": spec.amount(),
        "order_ref": spec.order_ref(),
        "expires_at": expires_at,
    });
    Ok(Output::new(human, json))
}

/// Reads at most `max` bytes; more is an error.
fn read_bounded(reader: impl std::io::Read, max: usize, what: &str) -> Result<Vec<u8>, Failure> {
    let mut bytes = Vec::new();
    reader
        .take(max as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::usage(format!("cannot read {what}: {e}")))?;
    if bytes.len() > max {
        return Err(Failure::usage(format!("{what} is larger than {max} bytes")));
    }
    Ok(bytes)
}

/// The contents of the file at `path`, at most `max` bytes.
fn read_file_bounded(path: &Path, max: usize, what: &str) -> Result<Vec<u8>, Failure> {
    let file = std::fs::File::open(path)
        .map_err(|e| Failure::usage(format!("cannot read {what} {}: {e}", path.display())))?;
    read_bounded(file, max, what)
}

/// The payload in `input`: text given as is, or read from a file or standard input, which may hold
/// the text or a PNG of the code.
fn qr_payload(input: &str) -> Result<String, Failure> {
    let bytes = if input == "-" {
        read_bounded(
            std::io::stdin().lock(),
            qr::MAX_IMAGE_BYTES,
            "standard input",
        )?
    } else if Path::new(input).is_file() {
        let file = std::fs::File::open(input)
            .map_err(|e| Failure::usage(format!("cannot read {input}: {e}")))?;
        read_bounded(file, qr::MAX_IMAGE_BYTES, input)?
    } else if input.trim_start().starts_with("00") {
        return Ok(input.to_owned());
    } else {
        return Err(Failure::usage(format!(
            "{input} is neither a file nor an EMVCo payload (payloads start with 00)"
        )));
    };
    if qr::is_image(&bytes) {
        return Ok(qr::decode_image(&bytes)?);
    }
    String::from_utf8(bytes)
        .map_err(|_| Failure::usage("input is neither a PNG image nor UTF-8 text"))
}

/// The JSON document of `qr decode`: the code's fields plus what it means for paychain.
#[derive(Debug, Serialize)]
struct DecodedCode<'a> {
    payload: &'a str,
    scheme: Option<&'static str>,
    paychain_merchant_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    not_paychain: Option<String>,
    #[serde(flatten)]
    code: &'a emvco::MerchantCode,
}

fn qr_decode(input: &str) -> Result<Output, Failure> {
    let payload = qr_payload(input)?;
    let payload = payload.trim();
    let code = emvco::decode(payload)
        .map_err(|e| Failure::usage(format!("invalid merchant code: {e}")))?;
    let paychain = code.paychain_merchant();
    let doc = DecodedCode {
        payload,
        scheme: code.scheme(),
        paychain_merchant_id: paychain.as_ref().ok().copied(),
        not_paychain: paychain.as_ref().err().map(ToString::to_string),
        code: &code,
    };
    Ok(Output::new(human_code(&doc), &doc))
}

fn human_code(d: &DecodedCode) -> String {
    let c = d.code;
    let mut out = String::new();
    let mut line = |label: &str, value: &str| {
        let _ = writeln!(out, "{label:<22} {value}");
    };
    match (d.paychain_merchant_id, &d.not_paychain) {
        (Some(id), _) => line("paychain merchant", id),
        (None, Some(reason)) => line("paychain merchant", &format!("none: {reason}")),
        (None, None) => {}
    }
    line("scheme", d.scheme.unwrap_or("unrecognised"));
    line("payload format", &c.payload_format);
    if let Some(p) = c.point_of_initiation {
        line(
            "point of initiation",
            match p {
                emvco::PointOfInitiation::Static => "static (11)",
                emvco::PointOfInitiation::Dynamic => "dynamic (12)",
            },
        );
    }
    for a in &c.merchant_accounts {
        let label = format!("merchant account {}", a.tag);
        match (&a.value, &a.guid) {
            (Some(v), _) => line(&label, v),
            (None, guid) => {
                line(
                    &label,
                    &format!("GUID {}", guid.as_deref().unwrap_or("(none)")),
                );
                for f in a.fields.iter().filter(|f| f.tag != "00") {
                    line(&format!("  {}-{}", a.tag, f.tag), &f.value);
                }
            }
        }
    }
    let opt = |v: &Option<String>| v.clone();
    let currency = c.currency.as_ref().map(|cur| match cur.alpha {
        Some(a) => format!("{a} ({})", cur.numeric),
        None => cur.numeric.clone(),
    });
    let tip = c.tip.as_ref().map(|t| match t {
        emvco::Tip::Prompt => "payer is asked for a tip".to_owned(),
        emvco::Tip::FixedFee { amount } => format!("fixed convenience fee {amount}"),
        emvco::Tip::PercentageFee { percent } => format!("convenience fee {percent}%"),
    });
    for (label, value) in [
        ("merchant category", opt(&c.mcc)),
        ("currency", currency),
        ("amount", c.amount.map(|a| a.to_string())),
        ("tip", tip),
        ("country", opt(&c.country)),
        ("merchant name", opt(&c.merchant_name)),
        ("merchant city", opt(&c.merchant_city)),
        ("postal code", opt(&c.postal_code)),
    ] {
        if let Some(v) = value {
            line(label, &v);
        }
    }
    if let Some(a) = &c.additional_data {
        for (label, value) in [
            ("bill number", &a.bill_number),
            ("mobile number", &a.mobile_number),
            ("store label", &a.store_label),
            ("loyalty number", &a.loyalty_number),
            ("reference label", &a.reference_label),
            ("customer label", &a.customer_label),
            ("terminal label", &a.terminal_label),
            ("purpose", &a.purpose_of_transaction),
            ("consumer data request", &a.additional_consumer_data_request),
        ] {
            if let Some(v) = value {
                line(label, v);
            }
        }
        for f in &a.other_fields {
            line(&format!("additional data 62-{}", f.tag), &f.value);
        }
    }
    if let Some(l) = &c.language {
        for (label, value) in [
            ("language", &l.language_preference),
            ("name (alt. language)", &l.merchant_name),
            ("city (alt. language)", &l.merchant_city),
        ] {
            if let Some(v) = value {
                line(label, v);
            }
        }
        for f in &l.other_fields {
            line(&format!("language 64-{}", f.tag), &f.value);
        }
    }
    for t in &c.unreserved_templates {
        line(
            &format!("template {}", t.tag),
            &format!("GUID {}", t.guid.as_deref().unwrap_or("(none)")),
        );
        for f in t.fields.iter().filter(|f| f.tag != "00") {
            line(&format!("  {}-{}", t.tag, f.tag), &f.value);
        }
    }
    for f in &c.other_fields {
        line(&format!("field {}", f.tag), &f.value);
    }
    line("crc", &format!("{} (verified)", c.crc));
    out
}

// ---- human output ----

fn human_status(s: &StatusView) -> String {
    let mut out = String::new();
    let total: u64 = s.validators.iter().map(|v| v.power).sum();
    let _ = writeln!(out, "chain id     {}", s.chain_id);
    let _ = writeln!(out, "node         {}", s.moniker);
    let _ = writeln!(out, "height       {}", s.height);
    let _ = writeln!(out, "app hash     {}", s.app_hash);
    let _ = writeln!(
        out,
        "latest block {} at {}",
        s.latest_block_hash,
        format_time_ms(s.latest_block_time_ms)
    );
    let _ = writeln!(
        out,
        "validators   {} (total power {total})",
        s.validators.len()
    );
    for v in &s.validators {
        let _ = writeln!(out, "  {}  {}  power {}", v.name, v.public_key, v.power);
    }
    let _ = writeln!(out, "peers        {}", s.peers);
    let _ = writeln!(out, "syncing      {}", if s.syncing { "yes" } else { "no" });
    let _ = writeln!(out, "mempool      {} txs", s.mempool_size);
    out
}

fn human_merchant(v: &MerchantView) -> String {
    let m = &v.merchant;
    let mut out = String::new();
    let _ = writeln!(out, "merchant     {}", m.id);
    let _ = writeln!(out, "name         {}", m.name);
    let _ = writeln!(out, "city         {}", m.city);
    let _ = writeln!(out, "mcc          {}", m.mcc);
    let _ = writeln!(out, "country      {}", m.country);
    let _ = writeln!(out, "key          {}", m.merchant_key);
    let _ = writeln!(
        out,
        "registered   by {} at height {}",
        m.registered_by, m.registered_at
    );
    let _ = writeln!(out, "platforms    {}", platform_list(&v.platforms));
    out
}

fn human_lookup(v: &MerchantView) -> String {
    let m = &v.merchant;
    let mut out = format!(
        "{}  {}, {} ({}), mcc {}\n",
        m.id, m.name, m.city, m.country, m.mcc
    );
    match v.platforms.len() {
        0 => out.push_str("served by no platform\n"),
        n => {
            let _ = writeln!(
                out,
                "served by {n} platform{}:",
                if n == 1 { "" } else { "s" }
            );
            for p in &v.platforms {
                let _ = writeln!(out, "  {p}");
            }
        }
    }
    out
}

fn platform_list(platforms: &[PlatformId]) -> String {
    if platforms.is_empty() {
        "none".into()
    } else {
        platforms
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn human_record(v: &RecordView) -> String {
    let r = &v.record;
    let mut out = String::new();
    let _ = writeln!(out, "merchant     {}", r.merchant_id);
    let _ = writeln!(out, "platform     {}", r.platform_id);
    let _ = writeln!(out, "version      {}", r.version);
    let _ = writeln!(
        out,
        "state        {}",
        if r.revoked { "revoked" } else { "active" }
    );
    let _ = writeln!(out, "updated at   height {}", r.updated_at);
    let _ = writeln!(
        out,
        "payload      {} bytes  {}",
        r.payload.len(),
        preview_hex(&r.payload)
    );
    out
}

/// Hex of at most the first 32 bytes, with an ellipsis when cut.
fn preview_hex(bytes: &[u8]) -> String {
    const MAX: usize = 32;
    if bytes.len() > MAX {
        format!("{}…", hex::encode(&bytes[..MAX]))
    } else {
        hex::encode(bytes)
    }
}

fn human_receipt(out: &mut String, r: &Receipt) {
    if r.is_ok() {
        let _ = writeln!(out, "result       ok");
    } else {
        let _ = writeln!(
            out,
            "result       failed (code {}): {}",
            r.code,
            r.error.as_deref().unwrap_or("no reason given")
        );
    }
    for e in &r.events {
        let attrs: Vec<String> = e
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(out, "event        {} {}", e.kind, attrs.join(" "));
    }
}

fn human_tx(v: &TxView) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "tx           {}", v.tx_hash);
    match (v.height, v.index) {
        (Some(h), Some(i)) => {
            let _ = writeln!(
                out,
                "status       {} at height {h} (index {i})",
                tx::status_name(v.status)
            );
        }
        _ => {
            let _ = writeln!(out, "status       {}", tx::status_name(v.status));
        }
    }
    if let Some(r) = &v.receipt {
        human_receipt(&mut out, r);
    }
    out
}

fn human_block(b: &BlockView) -> String {
    let h = &b.header;
    let mut out = String::new();
    let _ = writeln!(out, "block        {}", b.height);
    let _ = writeln!(out, "hash         {}", b.hash);
    let _ = writeln!(out, "chain id     {}", h.chain_id);
    let _ = writeln!(out, "time         {}", format_time_ms(h.time_ms));
    let _ = writeln!(out, "proposer     {}", h.proposer);
    let _ = writeln!(out, "parent       {}", h.prev_block_hash);
    let _ = writeln!(out, "prev app     {}", h.prev_app_hash);
    let _ = writeln!(out, "tx root      {}", h.tx_root);
    let _ = writeln!(out, "txs          {}", b.tx_hashes.len());
    for (i, hash) in b.tx_hashes.iter().enumerate() {
        let result = match b.receipts.get(i) {
            Some(r) if r.is_ok() => "ok".to_owned(),
            Some(r) => format!(
                "failed (code {}): {}",
                r.code,
                r.error.as_deref().unwrap_or("no reason given")
            ),
            None => "no receipt".to_owned(),
        };
        let _ = writeln!(out, "  {i:>4}  {hash}  {result}");
    }
    out
}

fn human_account(a: &AccountView) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "account      {}", a.public_key);
    let _ = writeln!(out, "nonce        {}", a.nonce);
    match &a.member {
        Some(m) => {
            let roles: Vec<String> = m
                .roles
                .iter()
                .map(|r| {
                    serde_json::to_value(r)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                })
                .collect();
            let _ = writeln!(
                out,
                "member       {} ({}), roles: {}",
                m.id,
                m.name,
                roles.join(", ")
            );
        }
        None => {
            let _ = writeln!(out, "member       none");
        }
    }
    out
}

/// `YYYY-MM-DD HH:MM:SS.mmm UTC` from milliseconds since the Unix epoch.
fn format_time_ms(ms: u64) -> String {
    paychain_client::contracts::calendar::format_utc(ms)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("paychain").chain(args.iter().copied()))
    }

    const MID: &str = "M0123456789ABCDEF0123";

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
    fn register_needs_exactly_one_merchant_key() {
        let base = [
            "merchant",
            "register",
            "--key",
            "k",
            "--name",
            "N",
            "--city",
            "C",
            "--mcc",
            "5812",
            "--country",
            "CN",
        ];
        let pk = PublicKey([1; 32]).to_hex();
        let with = |extra: &[&str]| parse(&[&base[..], extra].concat());
        assert!(with(&[]).is_err());
        assert!(with(&["--merchant-key", &pk, "--merchant-keyfile", "f"]).is_err());
        assert!(with(&["--merchant-key", "zz"]).is_err());
        let cli = with(&["--merchant-key", &pk, "--wait-timeout", "5"]).unwrap();
        match cli.command {
            Command::Merchant(MerchantCmd::Register(a)) => {
                assert_eq!(a.merchant_key.merchant_key, Some(PublicKey([1; 32])));
                assert_eq!(a.send.wait.wait_timeout, 5);
                assert!(!a.send.wait.no_wait);
            }
            other => panic!("{other:?}"),
        }
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
    fn qr_arguments_are_checked() {
        let base = [
            "qr",
            "encode",
            "--merchant",
            MID,
            "--name",
            "N",
            "--city",
            "C",
            "--mcc",
            "5812",
        ];
        let with = |extra: &[&str]| parse(&[&base[..], extra].concat());
        match with(&[]).unwrap().command {
            Command::Qr(QrCmd::Encode(a)) => {
                assert_eq!((a.currency.as_str(), a.country.as_str()), ("156", "CN"));
                assert_eq!((a.amount, a.out, a.scale), (None, None, qr::DEFAULT_SCALE));
            }
            other => panic!("{other:?}"),
        }
        assert!(with(&["--amount", "12.50", "--order", "R1", "-o", "c.png"]).is_ok());
        assert!(with(&["--amount", "12.50"]).is_err());
        assert!(with(&["--order", "R1"]).is_err());
        assert!(with(&["--amount", "12,50", "--order", "R1"]).is_err());
        assert!(with(&["--scale", "0"]).is_err());
        assert!(parse(&["qr", "encode", "--merchant", "m1", "--name", "N"]).is_err());
        assert!(parse(&["qr", "decode", "-"]).is_ok());
        assert!(parse(&["qr", "decode"]).is_err());
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

    #[test]
    fn exit_code_classes() {
        let unreachable = rpc::Error::Unreachable {
            url: "u".into(),
            reason: "r".into(),
        };
        assert_eq!(Failure::from(unreachable).code, 1);
        let refused = tx::Error::Rpc(rpc::Error::TxRefused {
            reason: "bad signature".into(),
        });
        let f = Failure::from(refused);
        assert_eq!(
            (f.code, f.message.as_str()),
            (1, "node refused transaction: bad signature")
        );
        let bad_url = rpc::Error::InvalidUrl {
            url: "x".into(),
            reason: "r".into(),
        };
        assert_eq!(Failure::from(bad_url).code, 2);
        let missing = keystore::Error::NotFound { path: "k".into() };
        assert_eq!(Failure::from(missing).code, 2);
    }

    #[test]
    fn time_formatting() {
        assert_eq!(format_time_ms(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(
            format_time_ms(1_709_210_096_789),
            "2024-02-29 12:34:56.789 UTC"
        );
        assert_eq!(
            format_time_ms(951_782_400_000),
            "2000-02-29 00:00:00.000 UTC"
        );
    }

    #[test]
    fn status_human_and_json() {
        let s = StatusView {
            chain_id: "paychain-dev".into(),
            moniker: "node0".into(),
            height: 42,
            app_hash: Hash::digest(b"a"),
            latest_block_hash: Hash::digest(b"b"),
            latest_block_time_ms: 0,
            validators: vec![],
            peers: 0,
            syncing: false,
            mempool_size: 3,
        };
        let out = Output::new(human_status(&s), &s);
        assert!(out.human.contains("height       42\n"));
        assert!(out
            .human
            .contains(&format!("app hash     {}\n", Hash::digest(b"a"))));
        assert_eq!(out.json["height"], 42);
        assert_eq!(out.json["app_hash"], Hash::digest(b"a").to_hex());
    }

    #[test]
    fn preview_is_bounded() {
        assert_eq!(preview_hex(&[1, 2]), "0102");
        assert_eq!(preview_hex(&[0; 40]).chars().count(), 65);
    }
}
