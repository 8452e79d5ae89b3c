//! `paychain gov …`, `paychain wallet …`, `paychain pay`, `paychain settle`, `paychain refund` and
//! `paychain cert list`: argument structs and handlers over `paychain_client::{wallet, pay}`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, Subcommand};
use paychain_client::contracts::api::{ProposalView, StatementView, WalletView};
use paychain_client::contracts::crypto::{Hash, PublicKey};
use paychain_client::contracts::enclave::Measurement;
use paychain_client::contracts::governance::{self, Action, Member, ProposalStatus, Role};
use paychain_client::contracts::guardian;
use paychain_client::contracts::ids::{ChainId, MerchantId, PlatformId};
use paychain_client::contracts::money::{Amount, Currency};
use paychain_client::contracts::tx::Call;
use paychain_client::contracts::wallet::{self as wallet_contract, Account, Side};
use paychain_client::keystore;
use paychain_client::wallet::{self as sdk, BalanceView, CertificatesView, UserWalletsView};
use paychain_client::{pay, rpc, tx};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::{format_time_ms, parse_amount, Failure, Output, SendArgs};

// ---- arguments ----

#[derive(Debug, Subcommand)]
pub(crate) enum GovCmd {
    /// Propose a governance action (a governor's key; counts as its approval).
    Propose(Box<ProposeArgs>),
    /// Vote on a proposal (a governor's key; each governor once).
    Vote {
        #[command(flatten)]
        send: SendArgs,
        /// Proposal id.
        #[arg(long, value_name = "N")]
        proposal: u64,
        #[command(flatten)]
        choice: VoteChoice,
    },
    /// Show one proposal, or all of them.
    Show {
        /// Proposal id (all proposals when left out).
        id: Option<u64>,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ProposeArgs {
    #[command(flatten)]
    send: SendArgs,
    #[command(flatten)]
    action: ActionArgs,
    /// Display name of the member admitted with --admit-platform.
    #[arg(long, value_name = "NAME", requires = "admit_platform")]
    member_name: Option<String>,
    /// Public key of the member admitted with --admit-platform.
    #[arg(long, value_name = "HEX", requires = "admit_platform")]
    member_key: Option<PublicKey>,
    /// Give the admitted member the governor role too.
    #[arg(long, requires = "admit_platform")]
    governor: bool,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct ActionArgs {
    /// Qualify a platform member to host wallets.
    #[arg(long, value_name = "PLATFORM")]
    qualify_wallet_host: Option<PlatformId>,
    /// Withdraw a wallet-host qualification.
    #[arg(long, value_name = "PLATFORM")]
    revoke_wallet_host: Option<PlatformId>,
    /// Admit a new platform member (with --member-name and --member-key).
    #[arg(long, value_name = "PLATFORM", requires_all = ["member_name", "member_key"])]
    admit_platform: Option<PlatformId>,
    /// Remove a member.
    #[arg(long, value_name = "PLATFORM")]
    remove_platform: Option<PlatformId>,
    /// Allow an enclave measurement (64 hex characters) to register.
    #[arg(long, value_name = "HEX", value_parser = parse_measurement)]
    approve_measurement: Option<Measurement>,
    /// Revoke an enclave measurement.
    #[arg(long, value_name = "HEX", value_parser = parse_measurement)]
    revoke_measurement: Option<Measurement>,
}

fn parse_measurement(s: &str) -> Result<Measurement, String> {
    s.parse::<paychain_client::contracts::crypto::Hash>()
        .map(Measurement)
        .map_err(|_| format!("measurement {s:?} is not 64 hex characters"))
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct VoteChoice {
    /// Vote for.
    #[arg(long)]
    approve: bool,
    /// Vote against.
    #[arg(long)]
    reject: bool,
}

/// The hosting platform's salt file (defaults to `<key file>.salt`, created on first use).
#[derive(Debug, Args)]
pub(crate) struct SaltArg {
    /// File with the host's secret salt (64 hex characters; created, mode 0600, if missing).
    /// Default: the key file's path + ".salt".
    #[arg(long, value_name = "FILE")]
    salt_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum WalletCmd {
    /// The hosting platform attests a user's real-name verification (salted hashes only on chain).
    VerifyUser {
        #[command(flatten)]
        send: SendArgs,
        /// The user's public key.
        #[arg(long, value_name = "PUBKEY")]
        user: PublicKey,
        /// Legal name.
        #[arg(long)]
        name: String,
        /// ID document number.
        #[arg(long)]
        id_number: String,
        /// Phone number.
        #[arg(long)]
        phone: String,
        #[command(flatten)]
        salt: SaltArg,
    },
    /// The hosting platform opens the user's wallet in a currency.
    Open {
        #[command(flatten)]
        send: SendArgs,
        /// The user's public key.
        #[arg(long, value_name = "PUBKEY")]
        user: PublicKey,
        /// ISO 4217 currency.
        #[arg(long, default_value = "CNY")]
        currency: Currency,
    },
    /// The hosting platform starts binding a bank card; the simulated bank channel "texts" the
    /// one-time code to the user (printed here).
    BindCard {
        #[command(flatten)]
        send: SendArgs,
        /// The user's public key.
        #[arg(long, value_name = "PUBKEY")]
        user: PublicKey,
        /// Card number (12 to 19 digits; spaces and dashes ignored). Never sent: only its salted hash.
        #[arg(long)]
        card: String,
        #[command(flatten)]
        salt: SaltArg,
    },
    /// The user confirms a card binding with the one-time code.
    ConfirmCard {
        #[command(flatten)]
        send: SendArgs,
        /// Binding id printed by bind-card.
        #[arg(long, value_name = "ID")]
        binding: Hash,
        /// The one-time code.
        #[arg(long, value_name = "CODE")]
        otp: String,
    },
    /// The hosting platform loads a wallet from its owner's bound card, on the owner's signed
    /// instruction (--instruction, from `wallet instruct-top-up`, or --owner-key to sign it here).
    TopUp {
        #[command(flatten)]
        send: SendArgs,
        /// The owner's instruction for this top-up (JSON written by `wallet instruct-top-up`).
        #[arg(
            long,
            value_name = "FILE",
            conflicts_with = "owner_key",
            required_unless_present = "owner_key"
        )]
        instruction: Option<PathBuf>,
        /// The owner's key file: sign the instruction here (when owner and host act on one machine).
        #[arg(long, value_name = "FILE")]
        owner_key: Option<PathBuf>,
        /// Wallet id.
        #[arg(long, value_name = "ID")]
        wallet: Hash,
        /// Amount, e.g. 100.00.
        #[arg(long, value_parser = parse_amount)]
        amount: Decimal,
        /// Currency (must be the wallet's; default: the wallet's).
        #[arg(long)]
        currency: Option<Currency>,
        /// The bound card's number.
        #[arg(long)]
        card: String,
        #[command(flatten)]
        salt: SaltArg,
    },
    /// The wallet's owner signs an instruction for one top-up from a bound card (by its hash, as
    /// `wallet show` lists it), to hand to its host.
    InstructTopUp {
        /// The owner's key file.
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Wallet id.
        #[arg(long, value_name = "ID")]
        wallet: Hash,
        /// Amount, e.g. 100.00.
        #[arg(long, value_parser = parse_amount)]
        amount: Decimal,
        /// The bound card's hash.
        #[arg(long, value_name = "HASH")]
        card_hash: Hash,
        /// Write the instruction (JSON) here.
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: PathBuf,
    },
    /// Show a wallet, its balance and its owner's bound cards.
    Show {
        /// Wallet id.
        id: Hash,
    },
    /// Show a user's verification and wallets.
    List {
        /// The user's public key.
        #[arg(long, value_name = "PUBKEY")]
        user: PublicKey,
    },
    /// Show a card binding.
    Binding {
        /// Binding id.
        id: Hash,
    },
    /// Show an account's balance.
    Balance {
        #[command(flatten)]
        account: AccountArgs,
    },
    /// List an account's movements over a height range.
    Statement {
        #[command(flatten)]
        account: AccountArgs,
        /// First height (default 0).
        #[arg(long, value_name = "H", default_value_t = 0)]
        from: u64,
        /// Last height (default: the node's tip).
        #[arg(long, value_name = "H")]
        to: Option<u64>,
    },
}

/// Which ledger account: a wallet, a merchant's to-be-settled account at an acquirer, or a
/// platform's clearing account.
#[derive(Debug, Args)]
pub(crate) struct AccountArgs {
    /// A wallet id.
    #[arg(long, value_name = "ID", conflicts_with_all = ["merchant", "clearing"])]
    wallet: Option<Hash>,
    /// A merchant (its to-be-settled account; with --acquirer).
    #[arg(
        long,
        value_name = "ID",
        requires = "acquirer",
        conflicts_with = "clearing"
    )]
    merchant: Option<MerchantId>,
    /// The acquirer of --merchant.
    #[arg(long, value_name = "PLATFORM", requires = "merchant")]
    acquirer: Option<PlatformId>,
    /// A platform's bank-channel clearing account.
    #[arg(long, value_name = "PLATFORM")]
    clearing: Option<PlatformId>,
    /// Currency of a to-be-settled or clearing account.
    #[arg(long, default_value = "CNY")]
    currency: Currency,
}

impl AccountArgs {
    fn account(&self) -> Result<Account, Failure> {
        match (&self.wallet, &self.merchant, &self.acquirer, &self.clearing) {
            (Some(id), _, _, _) => Ok(Account::Wallet { id: *id }),
            (None, Some(m), Some(a), _) => Ok(Account::ToBeSettled {
                merchant_id: m.clone(),
                acquirer: a.clone(),
                currency: self.currency,
            }),
            (None, None, _, Some(p)) => Ok(Account::Clearing {
                platform: p.clone(),
                currency: self.currency,
            }),
            _ => Err(Failure::usage(
                "name an account: --wallet ID, --merchant ID --acquirer PLATFORM, or --clearing PLATFORM",
            )),
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct PayArgs {
    /// The merchant code: a PNG file, the payload text, or - for standard input.
    #[arg(long, value_name = "FILE.png | PAYLOAD | -")]
    code: String,
    /// Key file of the payer (the wallet's owner).
    #[arg(long, value_name = "KEYFILE")]
    key: PathBuf,
    /// Amount (required for a static code; must equal a dynamic code's).
    #[arg(long, value_parser = parse_amount)]
    amount: Option<Decimal>,
    /// Which wallet pays (default: the code's currency, or your only wallet).
    #[arg(long)]
    currency: Option<Currency>,
    /// Order reference for a static code (default: a random one; dynamic codes carry theirs).
    #[arg(long, value_name = "REF")]
    order: Option<String>,
    /// Pay as a dependant from your guardian's wallet through this guardian binding.
    #[arg(long, value_name = "ID")]
    binding: Option<Hash>,
    /// Your biometric template (a file), when the guardian bound one to the binding.
    #[arg(long, value_name = "FILE", requires = "binding")]
    biometric_template: Option<PathBuf>,
    /// Where to write the certificate (default: cert-<tx hash prefix>.json).
    #[arg(short = 'o', long = "out", value_name = "FILE")]
    out: Option<PathBuf>,
    /// Seconds to wait for the payment to be committed, and again for its certificate.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    wait_timeout: u64,
}

#[derive(Debug, Args)]
pub(crate) struct SettleArgs {
    #[command(flatten)]
    send: SendArgs,
    /// Merchant id.
    #[arg(long, value_name = "ID")]
    merchant: MerchantId,
    /// Amount to settle (default: every currency's whole to-be-settled balance).
    #[arg(long, value_parser = parse_amount, requires = "currency")]
    amount: Option<Decimal>,
    /// Currency of --amount.
    #[arg(long, requires = "amount")]
    currency: Option<Currency>,
}

#[derive(Debug, Args)]
pub(crate) struct RefundArgs {
    #[command(flatten)]
    send: SendArgs,
    /// Payment id (the pay transaction's hash).
    #[arg(long, value_name = "ID")]
    payment: Hash,
    /// Amount to refund (at most what is still refundable).
    #[arg(long, value_parser = parse_amount)]
    amount: Decimal,
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

// ---- helpers ----

fn client(url: &str) -> Result<rpc::Client, Failure> {
    Ok(rpc::Client::new(url)?)
}

fn chain_said_no(message: impl ToString) -> Failure {
    Failure::chain(message)
}

impl From<pay::Error> for Failure {
    fn from(e: pay::Error) -> Failure {
        match e {
            pay::Error::Rpc(e) => e.into(),
            pay::Error::Tx(e) => e.into(),
            e if e.is_input() => Failure::usage(e),
            e => chain_said_no(e),
        }
    }
}

impl From<sdk::Error> for Failure {
    fn from(e: sdk::Error) -> Failure {
        Failure::usage(e)
    }
}

/// Signs `call` (with `nonce` if given), submits it and follows it like every other command.
async fn send_with(
    client: &rpc::Client,
    args: &SendArgs,
    call: Call,
    nonce: Option<u64>,
) -> Result<Output, Failure> {
    let key = keystore::load(&args.key)?;
    let mut builder = tx::TxBuilder::new(client, key.secret_key());
    if let Some(n) = nonce {
        builder = builder.nonce(n);
    }
    let submitted = builder.submit(call).await?;
    super::follow(client, submitted.tx_hash, &args.wait, None).await
}

/// Adds `extra` to the JSON document and `lines` to the human text of a successful outcome.
fn extend(mut out: Output, extra: Value, lines: &str) -> Output {
    if let (Value::Object(map), Value::Object(more)) = (&mut out.json, extra) {
        map.extend(more);
    }
    out.human.push_str(lines);
    out
}

/// The first value of attribute `key` of the first event `kind` in an outcome's receipt.
fn event_attr(out: &Output, kind: &str, key: &str) -> Option<String> {
    out.json["receipt"]["events"]
        .as_array()?
        .iter()
        .filter(|e| e["kind"] == kind)
        .find_map(|e| {
            e["attributes"]
                .as_array()?
                .iter()
                .find_map(|kv| (kv[0] == key).then(|| kv[1].as_str().map(str::to_owned))?)
        })
}

fn salt_path(send: &SendArgs, salt: &SaltArg) -> PathBuf {
    salt.salt_file
        .clone()
        .unwrap_or_else(|| sdk::default_salt_path(&send.key))
}

fn card_number(card: &str) -> Result<String, Failure> {
    sdk::normalize_card(card)
        .ok_or_else(|| Failure::usage("invalid card number: expected 12 to 19 digits"))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

// ---- gov ----

pub(crate) async fn gov(url: &str, cmd: GovCmd) -> Result<Output, Failure> {
    let client = client(url)?;
    match cmd {
        GovCmd::Propose(args) => {
            let a = &args.action;
            let action = if let Some(p) = &a.qualify_wallet_host {
                Action::QualifyWalletHost {
                    platform: p.clone(),
                }
            } else if let Some(p) = &a.revoke_wallet_host {
                Action::RevokeWalletHost {
                    platform: p.clone(),
                }
            } else if let Some(p) = &a.remove_platform {
                Action::RemovePlatform { id: p.clone() }
            } else if let Some(m) = a.approve_measurement {
                Action::ApproveMeasurement { measurement: m }
            } else if let Some(m) = a.revoke_measurement {
                Action::RevokeMeasurement { measurement: m }
            } else if let (Some(id), Some(name), Some(key)) =
                (&a.admit_platform, &args.member_name, &args.member_key)
            {
                let mut roles = std::collections::BTreeSet::from([Role::Platform]);
                if args.governor {
                    roles.insert(Role::Governor);
                }
                governance::validate_member_name(name).map_err(Failure::usage)?;
                Action::AdmitPlatform {
                    member: Member {
                        id: id.clone(),
                        name: name.clone(),
                        public_key: *key,
                        roles,
                    },
                }
            } else {
                return Err(Failure::usage("name one action to propose (see --help)"));
            };
            let call = Call::Governance(governance::Call::Propose { action });
            let out = send_with(&client, &args.send, call, None).await?;
            let id = event_attr(&out, "proposal_created", "proposal_id");
            let executed = event_attr(&out, "proposal_executed", "proposal_id").is_some();
            let status = if executed { "executed" } else { "open" };
            let lines = match &id {
                Some(id) => format!("proposal     {id} ({status})\n"),
                None => String::new(),
            };
            let id: Option<u64> = id.and_then(|s| s.parse().ok());
            Ok(extend(
                out,
                json!({ "proposal_id": id, "proposal_status": status }),
                &lines,
            ))
        }
        GovCmd::Vote {
            send,
            proposal,
            choice,
        } => {
            let approve = choice.approve && !choice.reject;
            let call = Call::Governance(governance::Call::Vote { proposal, approve });
            let out = send_with(&client, &send, call, None).await?;
            let view = client.proposal(proposal).await?;
            let lines = format!(
                "proposal     {proposal}: {} ({} of {} approvals needed)\n",
                status_text(&view.status),
                view.approvals,
                view.threshold
            );
            Ok(extend(out, json!({ "proposal": view }), &lines))
        }
        GovCmd::Show { id: Some(id) } => {
            let view = client.proposal(id).await?;
            Ok(Output::new(human_proposal(&view), &view))
        }
        GovCmd::Show { id: None } => {
            let views = client.proposals().await?;
            let mut human = String::new();
            if views.is_empty() {
                human.push_str("no proposals\n");
            }
            for v in &views {
                human.push_str(&human_proposal(v));
            }
            Ok(Output::new(human, &views))
        }
    }
}

fn status_text(s: &ProposalStatus) -> String {
    match s {
        ProposalStatus::Open => "open".into(),
        ProposalStatus::Executed { height } => format!("executed at height {height}"),
        ProposalStatus::Failed {
            height,
            code,
            error,
        } => format!("failed at height {height} (code {code}): {error}"),
        ProposalStatus::Rejected { height } => format!("rejected at height {height}"),
        ProposalStatus::Expired => "expired".into(),
    }
}

fn human_proposal(v: &ProposalView) -> String {
    let p = &v.proposal;
    let action = match &p.action {
        Action::AdmitPlatform { member } => {
            format!("admit platform {} ({})", member.id, member.name)
        }
        Action::RemovePlatform { id } => format!("remove platform {id}"),
        Action::QualifyWalletHost { platform } => format!("qualify wallet host {platform}"),
        Action::RevokeWalletHost { platform } => format!("revoke wallet host {platform}"),
        other => other.kind().replace('_', " "),
    };
    let votes: Vec<String> = p
        .votes
        .iter()
        .map(|(who, yes)| format!("{who} {}", if *yes { "yes" } else { "no" }))
        .collect();
    format!(
        "proposal {}: {action}\n  proposer {} at height {}, expires after height {}\n  status   {}\n  votes    {} approve, {} reject, {} needed of {}: {}\n",
        p.id,
        p.proposer,
        p.created_at,
        p.expires_at,
        status_text(&v.status),
        v.approvals,
        v.rejections,
        v.threshold,
        p.electorate.len(),
        votes.join(", ")
    )
}

// ---- wallet ----

pub(crate) async fn wallet(url: &str, cmd: WalletCmd) -> Result<Output, Failure> {
    let client = client(url)?;
    match cmd {
        WalletCmd::VerifyUser {
            send,
            user,
            name,
            id_number,
            phone,
            salt,
        } => {
            for (what, v) in [
                ("--name", &name),
                ("--id-number", &id_number),
                ("--phone", &phone),
            ] {
                if v.trim().is_empty() {
                    return Err(Failure::usage(format!("{what} must not be empty")));
                }
            }
            let path = salt_path(&send, &salt);
            let host_salt = sdk::load_or_create_salt(&path)?;
            let s = sdk::user_salt(&host_salt, &user);
            let call = Call::Wallet(wallet_contract::Call::VerifyUser {
                user,
                name_hash: sdk::salted_hash(&s, &name),
                id_hash: sdk::salted_hash(&s, &id_number),
                phone_hash: sdk::salted_hash(&s, &phone),
            });
            let out = send_with(&client, &send, call, None).await?;
            let lines = format!(
                "user         {user} verified (salted hashes on chain; salt in {})\n",
                path.display()
            );
            Ok(extend(
                out,
                json!({ "user": user, "salt_file": path }),
                &lines,
            ))
        }
        WalletCmd::Open {
            send,
            user,
            currency,
        } => {
            currency.minor_units().map_err(Failure::usage)?;
            let id = wallet_contract::wallet_id(&user, currency);
            let call = Call::Wallet(wallet_contract::Call::OpenWallet { user, currency });
            let out = send_with(&client, &send, call, None).await?;
            let lines = format!("wallet       {id} ({currency}) for {user}\n");
            Ok(extend(
                out,
                json!({ "wallet_id": id, "user": user, "currency": currency }),
                &lines,
            ))
        }
        WalletCmd::BindCard {
            send,
            user,
            card,
            salt,
        } => {
            let card = card_number(&card)?;
            let host = keystore::load(&send.key)?;
            let host_salt = sdk::load_or_create_salt(&salt_path(&send, &salt))?;
            let card_hash = sdk::card_hash(&host_salt, &user, &card);
            // The binding id depends on the host's nonce, and the commitment on the binding id.
            let nonce = client.account(&host.public_key()).await?.nonce;
            let binding_id = wallet_contract::card_binding_id(&host.public_key(), nonce);
            let otp = sdk::generate_otp();
            let call = Call::Wallet(wallet_contract::Call::RequestCardBinding {
                user,
                card_hash,
                otp_commitment: wallet_contract::otp_commitment(&binding_id, &otp),
            });
            let out = send_with(&client, &send, call, Some(nonce)).await?;
            let lines = format!(
                "binding      {binding_id}\ncard         {} (hash {card_hash})\nSMS to the card holder (simulated bank channel): your paychain card binding code is {otp}\n  confirm with: paychain wallet confirm-card --key USERKEY --binding {binding_id} --otp {otp}\n",
                sdk::mask_card(&card)
            );
            Ok(extend(
                out,
                json!({
                    "binding_id": binding_id,
                    "card_hash": card_hash,
                    "card": sdk::mask_card(&card),
                    "otp": otp,
                    "expires_in_blocks": wallet_contract::CARD_BINDING_TTL_BLOCKS,
                }),
                &lines,
            ))
        }
        WalletCmd::ConfirmCard { send, binding, otp } => {
            let call = Call::Wallet(wallet_contract::Call::ConfirmCardBinding {
                binding_id: binding,
                otp,
            });
            let out = send_with(&client, &send, call, None).await?;
            let card = event_attr(&out, "card_bound", "card_hash").unwrap_or_default();
            Ok(extend(
                out,
                json!({ "binding_id": binding, "card_hash": card }),
                &format!("card         {card} bound\n"),
            ))
        }
        WalletCmd::TopUp {
            send,
            instruction,
            owner_key,
            wallet,
            amount,
            currency,
            card,
            salt,
        } => {
            let card = card_number(&card)?;
            let w = client.wallet(&wallet).await?;
            let currency = currency.unwrap_or(w.wallet.currency);
            if currency != w.wallet.currency {
                return Err(Failure::usage(format!(
                    "wallet {wallet} holds {}, not {currency}",
                    w.wallet.currency
                )));
            }
            let amount = Amount::new(amount, currency).map_err(Failure::usage)?;
            let host_salt = sdk::load_or_create_salt(&salt_path(&send, &salt))?;
            let card_hash = sdk::card_hash(&host_salt, &w.wallet.owner, &card);
            let mandate = match (instruction, owner_key) {
                (Some(file), _) => read_instruction(&file)?,
                (None, Some(file)) => {
                    let owner = keystore::load(&file)?;
                    let chain = ChainId::new(client.status().await?.chain_id);
                    sdk::instruct_top_up(owner.secret_key(), &chain, &wallet, &amount, &card_hash)
                }
                (None, None) => {
                    return Err(Failure::usage(
                        "a top-up needs the owner's instruction: --instruction FILE or --owner-key FILE",
                    ))
                }
            };
            let call = Call::Wallet(wallet_contract::Call::TopUp {
                wallet,
                amount,
                card_hash,
                mandate,
            });
            let out = send_with(&client, &send, call, None).await?;
            Ok(extend(
                out,
                json!({ "wallet_id": wallet, "amount": amount }),
                &format!("top-up       {amount} into wallet {wallet}\n"),
            ))
        }
        WalletCmd::InstructTopUp {
            key,
            wallet,
            amount,
            card_hash,
            out,
        } => {
            let owner = keystore::load(&key)?;
            let w = client.wallet(&wallet).await?;
            if w.wallet.owner != owner.public_key() {
                return Err(Failure::usage(format!(
                    "wallet {wallet} belongs to {}, not to the key in {}",
                    w.wallet.owner,
                    key.display()
                )));
            }
            let amount = Amount::new(amount, w.wallet.currency).map_err(Failure::usage)?;
            let chain = ChainId::new(client.status().await?.chain_id);
            let mandate =
                sdk::instruct_top_up(owner.secret_key(), &chain, &wallet, &amount, &card_hash);
            let text = serde_json::to_string_pretty(&mandate).unwrap_or_default();
            std::fs::write(&out, text)
                .map_err(|e| Failure::usage(format!("cannot write {}: {e}", out.display())))?;
            Ok(Output::new(
                format!(
                    "instruction  top-up of {amount} into wallet {wallet} from card {card_hash}\nwrote        {}\n",
                    out.display()
                ),
                json!({ "wallet_id": wallet, "amount": amount, "card_hash": card_hash, "instruction": mandate, "path": out }),
            ))
        }
        WalletCmd::Show { id } => {
            let v = client.wallet(&id).await?;
            Ok(Output::new(human_wallet(&v), &v))
        }
        WalletCmd::List { user } => {
            let v: UserWalletsView = client.wallets(&user).await?;
            let mut human = String::new();
            let _ = match &v.verification {
                Some(u) => writeln!(
                    human,
                    "user         {user}\nverified     by {} at height {}",
                    u.host, u.verified_at
                ),
                None => writeln!(human, "user         {user}\nverified     no"),
            };
            if v.wallets.is_empty() {
                human.push_str("wallets      none\n");
            }
            for w in &v.wallets {
                let _ = writeln!(
                    human,
                    "wallet       {}  {}  host {}",
                    w.wallet.id,
                    w.wallet.currency.format(w.balance),
                    w.wallet.host
                );
            }
            Ok(Output::new(human, &v))
        }
        WalletCmd::Binding { id } => {
            let b = client.card_binding(&id).await?;
            let human = format!(
                "binding      {}\nuser         {}\nhost         {}\ncard hash    {}\nstatus       {:?}\nrequested    height {} (expires after {})\nwrong codes  {}\n",
                b.id, b.user, b.host, b.card_hash, b.status, b.requested_at, b.expires_at, b.attempts
            );
            Ok(Output::new(human, &b))
        }
        WalletCmd::Balance { account } => {
            let v: BalanceView = client.balance(&account.account()?).await?;
            let human = match (&v.state, v.currency) {
                (Some(s), _) => format!(
                    "account      {}\nbalance      {}\nentries      {}\n",
                    v.account.key(),
                    s.currency.format(s.balance),
                    s.entries
                ),
                (None, _) => format!("account      {} (unknown wallet)\n", v.account.key()),
            };
            Ok(Output::new(human, &v))
        }
        WalletCmd::Statement { account, from, to } => {
            let v = client.statement(&account.account()?, from, to).await?;
            Ok(Output::new(human_statement(&v), &v))
        }
    }
}

fn human_wallet(v: &WalletView) -> String {
    let w = &v.wallet;
    let mut out = String::new();
    let _ = writeln!(out, "wallet       {}", w.id);
    let _ = writeln!(out, "owner        {}", w.owner);
    let _ = writeln!(out, "host         {}", w.host);
    let _ = writeln!(out, "balance      {}", w.currency.format(v.balance));
    let _ = writeln!(
        out,
        "opened       height {} ({})",
        w.opened_at,
        format_time_ms(w.opened_at_ms)
    );
    if v.cards.is_empty() {
        let _ = writeln!(out, "cards        none");
    }
    for c in &v.cards {
        let _ = writeln!(
            out,
            "card         {} via {} (bound at height {})",
            c.card_hash, c.host, c.bound_at
        );
    }
    out
}

fn human_statement(v: &StatementView) -> String {
    let cur = v.currency.unwrap_or(Currency::CNY);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "account      {}\nperiod       heights {} to {}\nopening      {}",
        v.account.key(),
        v.from_height,
        v.to_height,
        cur.format(v.opening_balance)
    );
    for e in &v.entries {
        let sign = match e.side {
            Side::Debit => "-",
            Side::Credit => "+",
        };
        let kind = serde_json::to_value(e.kind)
            .ok()
            .and_then(|k| k.as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:>6}  {:<10} {sign}{:<16} balance {:<16} {}",
            e.height,
            kind,
            e.amount.to_string(),
            cur.format(e.balance_after),
            e.tx_hash
        );
    }
    let _ = writeln!(out, "closing      {}", cur.format(v.closing_balance));
    if v.truncated {
        let _ = writeln!(out, "(more entries: ask again from the last height + 1)");
    }
    out
}

// ---- settle, refund ----

pub(crate) async fn settle(url: &str, args: SettleArgs) -> Result<Output, Failure> {
    let client = client(url)?;
    let amount = match (args.amount, args.currency) {
        (Some(v), Some(c)) => Some(Amount::new(v, c).map_err(Failure::usage)?),
        _ => None,
    };
    let call = Call::Wallet(wallet_contract::Call::Settle {
        merchant_id: args.merchant.clone(),
        amount,
    });
    let out = send_with(&client, &args.send, call, None).await?;
    let settled = event_attr(&out, "settled", "amount").unwrap_or_default();
    let currency = event_attr(&out, "settled", "currency").unwrap_or_default();
    Ok(extend(
        out,
        json!({ "merchant_id": args.merchant }),
        &format!(
            "settled      {settled} {currency} of merchant {}\n",
            args.merchant
        ),
    ))
}

pub(crate) async fn refund(url: &str, args: RefundArgs) -> Result<Output, Failure> {
    let client = client(url)?;
    let p = client.payment(&args.payment).await?;
    let amount = Amount::new(args.amount, p.payment.amount.currency).map_err(Failure::usage)?;
    if amount.value > p.refundable {
        return Err(chain_said_no(format!(
            "refund of {amount} exceeds what payment {} can still refund ({})",
            args.payment,
            amount.currency.format(p.refundable)
        )));
    }
    let call = Call::Wallet(wallet_contract::Call::Refund {
        payment: args.payment,
        amount,
    });
    let out = send_with(&client, &args.send, call, None).await?;
    let total = event_attr(&out, "refunded", "refunded_total").unwrap_or_default();
    Ok(extend(
        out,
        json!({ "payment_id": args.payment, "amount": amount, "refunded_total": total }),
        &format!(
            "refunded     {amount} of payment {} (total refunded {total})\n",
            args.payment
        ),
    ))
}

// ---- pay ----

pub(crate) async fn pay_cmd(url: &str, args: PayArgs) -> Result<Output, Failure> {
    let payload = super::qr_payload(&args.code)?;
    let code = pay::scan(&payload)?;
    code.check_expiry(now_secs())?;
    let key = keystore::load(&args.key)?;
    let client = client(url)?;
    let delegated = match args.binding {
        None => None,
        Some(binding) => {
            let biometric = match &args.biometric_template {
                None => None,
                Some(path) => {
                    let b = client.guardian_binding(&binding).await?;
                    let salt = b
                        .authorisation
                        .and_then(|a| a.biometric)
                        .map(|bio| bio.salt)
                        .ok_or_else(|| {
                            Failure::usage(format!(
                                "binding {binding} has no biometric: leave out --biometric-template"
                            ))
                        })?;
                    let template =
                        super::read_file_bounded(path, 1024 * 1024, "biometric template")?;
                    Some(guardian::biometric_hash(&salt, &template))
                }
            };
            Some(pay::Delegated { binding, biometric })
        }
    };
    let opts = pay::PayOptions {
        amount: args.amount,
        currency: args.currency,
        order_ref: args.order.clone(),
        delegated,
    };
    let wait = Duration::from_secs(args.wait_timeout);
    let quote = pay::quote(&client, &key.public_key(), code, &opts).await?;
    let (tx_hash, receipt) = pay::pay(&client, key.secret_key(), &quote, wait).await?;
    let cert = pay::wait_certificate(&client, &tx_hash, wait).await?;
    let path = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("cert-{}.json", &tx_hash.to_hex()[..16])));
    let text = serde_json::to_string_pretty(&cert)
        .map_err(|e| chain_said_no(format!("cannot encode certificate: {e}")))?;
    std::fs::write(&path, text)
        .map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))?;
    let m = &quote.merchant.merchant;
    let mut human = String::new();
    let _ = writeln!(
        human,
        "merchant     {} ({}), {} {}",
        m.name, m.id, m.city, m.country
    );
    let whose = if quote.delegated.is_some() {
        "your guardian's wallet's platform"
    } else {
        "your wallet's platform"
    };
    let _ = writeln!(human, "acquirer     {} ({whose})", quote.acquirer);
    if let Some(d) = &quote.delegated {
        let _ = writeln!(
            human,
            "paid for     you by guardian {} (binding {})",
            quote.wallet.wallet.owner, d.binding
        );
    }
    let _ = writeln!(
        human,
        "wallet       {} ({})",
        quote.wallet.wallet.id, quote.wallet.wallet.currency
    );
    let _ = writeln!(human, "amount       {}", quote.amount);
    let _ = writeln!(human, "order        {}", quote.order_ref);
    let _ = writeln!(
        human,
        "paid         tx {tx_hash} committed at height {} (final)",
        receipt.height
    );
    let _ = writeln!(
        human,
        "certificate  {} (checked against the node's {} validators; verify offline with `paychain cert verify {} --genesis genesis.json`)",
        path.display(),
        cert.commit.signatures.len().max(cert.next_commit.signatures.len()),
        path.display()
    );
    let json = json!({
        "status": "paid",
        "tx_hash": tx_hash,
        "payment_id": tx_hash,
        "height": receipt.height,
        "merchant": {
            "id": m.id, "name": m.name, "city": m.city, "country": m.country,
            "platforms": quote.merchant.platforms,
        },
        "acquirer": quote.acquirer,
        "wallet_id": quote.wallet.wallet.id,
        "amount": quote.amount,
        "order_ref": quote.order_ref,
        "dynamic_code": quote.code.dynamic,
        "binding": quote.delegated.as_ref().map(|d| d.binding),
        "receipt": receipt,
        "certificate": path,
    });
    Ok(Output::new(human, json))
}

// ---- cert list ----

pub(crate) async fn cert_list(
    url: &str,
    who: WhoArgs,
    limit: Option<usize>,
) -> Result<Output, Failure> {
    let key = who.public_key()?;
    let v: CertificatesView = client(url)?.certificates(&key, limit).await?;
    let mut human = String::new();
    if let Some(m) = &v.merchant_id {
        let _ = writeln!(human, "merchant     {m}");
    }
    if v.certificates.is_empty() {
        human.push_str("no payments\n");
    }
    for c in &v.certificates {
        let kind = serde_json::to_value(c.kind)
            .ok()
            .and_then(|k| k.as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = writeln!(
            human,
            "{:>6}  {:<5} {:<7} {:<16} {}",
            c.height,
            c.role,
            kind,
            c.amount.to_string(),
            c.tx_hash
        );
    }
    if v.truncated {
        human.push_str("(older entries left out)\n");
    }
    human.push_str("fetch one with: paychain cert get TX -o cert.json\n");
    Ok(Output::new(human, &v))
}

/// Reads an owner's top-up instruction (JSON), size-bounded.
fn read_instruction(path: &std::path::Path) -> Result<wallet_contract::TopUpMandate, Failure> {
    let bytes = std::fs::read(path)
        .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
    if bytes.len() > 4096 {
        return Err(Failure::usage(format!(
            "{} is larger than 4096 bytes: not a top-up instruction",
            path.display()
        )));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        Failure::usage(format!(
            "{} is not a top-up instruction: {e}",
            path.display()
        ))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::{Cli, Command};
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("paychain").chain(args.iter().copied()))
    }

    #[test]
    fn gov_arguments() {
        assert!(parse(&[
            "gov",
            "propose",
            "--key",
            "k",
            "--qualify-wallet-host",
            "platform-0"
        ])
        .is_ok());
        assert!(parse(&["gov", "propose", "--key", "k"]).is_err());
        assert!(parse(&[
            "gov",
            "propose",
            "--key",
            "k",
            "--qualify-wallet-host",
            "platform-0",
            "--revoke-wallet-host",
            "platform-1"
        ])
        .is_err());
        assert!(parse(&["gov", "propose", "--key", "k", "--admit-platform", "p9"]).is_err());
        let pk = PublicKey([1; 32]).to_hex();
        assert!(parse(&[
            "gov",
            "propose",
            "--key",
            "k",
            "--admit-platform",
            "p9",
            "--member-name",
            "P9",
            "--member-key",
            &pk
        ])
        .is_ok());
        assert!(parse(&["gov", "vote", "--key", "k", "--proposal", "1", "--approve"]).is_ok());
        assert!(parse(&["gov", "vote", "--key", "k", "--proposal", "1"]).is_err());
        assert!(parse(&[
            "gov",
            "vote",
            "--key",
            "k",
            "--proposal",
            "1",
            "--approve",
            "--reject"
        ])
        .is_err());
        assert!(parse(&["gov", "show"]).is_ok());
        assert!(parse(&["gov", "show", "3"]).is_ok());
    }

    #[test]
    fn wallet_and_pay_arguments() {
        let pk = PublicKey([1; 32]).to_hex();
        let h = Hash::ZERO.to_hex();
        assert!(parse(&[
            "wallet",
            "open",
            "--key",
            "k",
            "--user",
            &pk,
            "--currency",
            "CNY"
        ])
        .is_ok());
        assert!(parse(&[
            "wallet",
            "open",
            "--key",
            "k",
            "--user",
            &pk,
            "--currency",
            "cny"
        ])
        .is_err());
        // The owner's instruction is required: a file, or the owner's key to sign it here.
        assert!(parse(&[
            "wallet",
            "top-up",
            "--key",
            "k",
            "--wallet",
            &h,
            "--amount",
            "100.00",
            "--card",
            "6222020200112233"
        ])
        .is_err());
        for instruction in [["--instruction", "i.json"], ["--owner-key", "o.json"]] {
            assert!(parse(&[
                "wallet",
                "top-up",
                "--key",
                "k",
                instruction[0],
                instruction[1],
                "--wallet",
                &h,
                "--amount",
                "100.00",
                "--card",
                "6222020200112233"
            ])
            .is_ok());
        }
        assert!(parse(&["wallet", "balance", "--wallet", &h]).is_ok());
        assert!(parse(&["wallet", "balance", "--merchant", "M0123456789ABCDEF0123"]).is_err());
        assert!(parse(&[
            "wallet",
            "statement",
            "--merchant",
            "M0123456789ABCDEF0123",
            "--acquirer",
            "platform-0",
            "--from",
            "3"
        ])
        .is_ok());
        match parse(&["pay", "--code", "code.png", "--key", "k"])
            .unwrap()
            .command
        {
            Command::Pay(a) => assert_eq!((a.amount, a.wait_timeout), (None, 30)),
            other => panic!("{other:?}"),
        }
        assert!(parse(&["pay", "--code", "c", "--key", "k", "--amount", "1,5"]).is_err());
        assert!(parse(&[
            "settle",
            "--key",
            "k",
            "--merchant",
            "M0123456789ABCDEF0123"
        ])
        .is_ok());
        assert!(parse(&[
            "settle",
            "--key",
            "k",
            "--merchant",
            "M0123456789ABCDEF0123",
            "--amount",
            "1"
        ])
        .is_err());
        assert!(parse(&["refund", "--key", "k", "--payment", &h, "--amount", "1.00"]).is_ok());
        assert!(parse(&["cert", "list", "--public-key", &pk]).is_ok());
        assert!(parse(&["cert", "list"]).is_err());
    }

    #[test]
    fn pay_errors_map_to_exit_codes() {
        assert_eq!(Failure::from(pay::Error::AmountMissing).code, 2);
        let e = pay::Error::NotServed {
            merchant: MerchantId::derive(&PublicKey([1; 32])),
            platform: PlatformId::new("platform-0").unwrap(),
            served_by: "platform-1".into(),
        };
        assert_eq!(Failure::from(e).code, 1);
    }
}
