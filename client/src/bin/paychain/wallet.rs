//! `paychain wallet ...`: wallet accounts (verify users, open wallets, bind cards, top up,
//! balances, statements), over `paychain_client::wallet`.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use paychain_client::contracts::api::{StatementView, WalletView};
use paychain_client::contracts::crypto::{Hash, PublicKey};
use paychain_client::contracts::ids::{MerchantId, PlatformId};
use paychain_client::contracts::money::Currency;
use paychain_client::contracts::wallet::{self as wallet_contract, Account, Side};
use paychain_client::keystore;
use paychain_client::wallet::{
    self as sdk, BalanceView, CardNumber, HostSalt, Instruction, UserWalletsView,
};
use rust_decimal::Decimal;
use serde_json::json;

use crate::args::{parse_amount, ReadArgs, SendArgs};
use crate::output::{self, format_time_ms, Failure, Output};

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
    /// The hosting platform opens the user's wallet in a currency. The user must hold a valid user
    /// certificate of this platform's CA, registered on chain (`paychain ca issue --role user`,
    /// `ca consent`, `ca register`); otherwise the chain refuses it (codes 720..=749).
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
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Show a user's verification and wallets.
    List {
        /// The user's public key.
        #[arg(long, value_name = "PUBKEY")]
        user: PublicKey,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Show a card binding.
    Binding {
        /// Binding id.
        id: Hash,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Show an account's balance.
    Balance {
        #[command(flatten)]
        account: AccountArgs,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// List an account's movements over a height range.
    Statement {
        #[command(flatten)]
        account: AccountArgs,
        #[command(flatten)]
        read: ReadArgs,
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

impl SaltArg {
    /// The salt file: --salt-file, or the key file's path + ".salt".
    fn salt(&self, send: &SendArgs) -> HostSalt {
        HostSalt::at(
            self.salt_file
                .clone()
                .unwrap_or_else(|| sdk::default_salt_path(&send.key)),
        )
    }
}

pub(crate) async fn run(url: &str, cmd: WalletCmd) -> Result<Output, Failure> {
    let client = crate::args::rpc_client(url)?;
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
            let salt = salt.salt(&send);
            let host = send.load_key()?;
            let sent = sdk::verify_user(
                &client,
                host.secret_key(),
                &salt,
                user,
                &name,
                &id_number,
                &phone,
                send.wait.wait(),
            )
            .await?;
            let lines = format!(
                "user         {user} verified (salted hashes on chain; salt in {})\n",
                salt.path().display()
            );
            Ok(output::sent(sent, None)?
                .extend(json!({ "user": user, "salt_file": salt.path() }), &lines))
        }
        WalletCmd::Open {
            send,
            user,
            currency,
        } => {
            // Checked before the key is read, like every input.
            sdk::supported_currency(currency)?;
            let host = send.load_key()?;
            let opened =
                sdk::open_wallet(&client, host.secret_key(), user, currency, send.wait.wait())
                    .await?;
            let id = opened.wallet_id;
            let lines = format!("wallet       {id} ({currency}) for {user}\n");
            Ok(output::sent(opened.sent, None)?.extend(
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
            let card = CardNumber::parse(&card)?;
            let host = send.load_key()?;
            let b = sdk::bind_card(
                &client,
                host.secret_key(),
                &salt.salt(&send),
                user,
                &card,
                send.wait.wait(),
            )
            .await?;
            let (binding_id, card_hash, otp) = (b.binding_id, b.card_hash, b.otp);
            let lines = format!(
                "binding      {binding_id}\ncard         {} (hash {card_hash})\nSMS to the card holder (simulated bank channel): your paychain card binding code is {otp}\n  confirm with: paychain wallet confirm-card --key USERKEY --binding {binding_id} --otp {otp}\n",
                card.masked()
            );
            Ok(output::sent(b.sent, None)?.extend(
                json!({
                    "binding_id": binding_id,
                    "card_hash": card_hash,
                    "card": card.masked(),
                    "otp": otp,
                    "expires_in_blocks": wallet_contract::CARD_BINDING_TTL_BLOCKS,
                }),
                &lines,
            ))
        }
        WalletCmd::ConfirmCard { send, binding, otp } => {
            let user = send.load_key()?;
            let sent =
                sdk::confirm_card(&client, user.secret_key(), binding, otp, send.wait.wait())
                    .await?;
            let card = sent
                .event_attr("card_bound", "card_hash")
                .unwrap_or_default()
                .to_owned();
            Ok(output::sent(sent, None)?.extend(
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
            let card = CardNumber::parse(&card)?;
            // The owner's key, when the instruction is signed here (clap makes one of the two given).
            let owner = match (&instruction, &owner_key) {
                (None, Some(file)) => Some(keystore::load(file)?),
                _ => None,
            };
            let instruction = match (&instruction, &owner) {
                (Some(file), _) => Instruction::Given(sdk::read_instruction(file)?),
                (None, Some(owner)) => Instruction::SignAs(owner.secret_key()),
                (None, None) => {
                    return Err(Failure::usage(
                        "a top-up needs the owner's instruction: --instruction FILE or --owner-key FILE",
                    ))
                }
            };
            let host = send.load_key()?;
            let t = sdk::top_up(
                &client,
                host.secret_key(),
                &salt.salt(&send),
                wallet,
                amount,
                currency,
                &card,
                instruction,
                send.wait.wait(),
            )
            .await?;
            let amount = t.amount;
            Ok(output::sent(t.sent, None)?.extend(
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
            let (mandate, amount) = match sdk::top_up_instruction(
                &client,
                owner.secret_key(),
                wallet,
                amount,
                card_hash,
            )
            .await
            {
                Err(sdk::Error::NotOwner { wallet, owner, .. }) => {
                    return Err(Failure::usage(format!(
                        "wallet {wallet} belongs to {owner}, not to the key in {}",
                        key.display()
                    )))
                }
                other => other?,
            };
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
        WalletCmd::Show { id, read } => {
            let v = read.client(&client)?.wallet(&id).await?;
            Ok(Output::new(human_wallet(&v), &v))
        }
        WalletCmd::List { user, read } => {
            let v: UserWalletsView = read.client(&client)?.wallets(&user).await?;
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
        WalletCmd::Binding { id, read } => {
            let b = read.client(&client)?.card_binding(&id).await?;
            let human = format!(
                "binding      {}\nuser         {}\nhost         {}\ncard hash    {}\nstatus       {:?}\nrequested    height {} (expires after {})\nwrong codes  {}\n",
                b.id, b.user, b.host, b.card_hash, b.status, b.requested_at, b.expires_at, b.attempts
            );
            Ok(Output::new(human, &b))
        }
        WalletCmd::Balance { account, read } => {
            let account = account.account()?;
            let v: BalanceView = read.client(&client)?.balance(&account).await?;
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
        WalletCmd::Statement {
            account,
            read,
            from,
            to,
        } => {
            let account = account.account()?;
            let v = read.client(&client)?.statement(&account, from, to).await?;
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::tests::parse;
    use paychain_client::contracts::crypto::{Hash, PublicKey};

    #[test]
    fn wallet_arguments() {
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
        // Private reads are signed: --key is required.
        assert!(parse(&["wallet", "balance", "--wallet", &h, "--key", "k"]).is_ok());
        assert!(parse(&["wallet", "balance", "--wallet", &h]).is_err());
        assert!(parse(&[
            "wallet",
            "balance",
            "--merchant",
            "M0123456789ABCDEF0123",
            "--key",
            "k"
        ])
        .is_err());
        assert!(parse(&[
            "wallet",
            "statement",
            "--merchant",
            "M0123456789ABCDEF0123",
            "--acquirer",
            "platform-0",
            "--from",
            "3",
            "--key",
            "k"
        ])
        .is_ok());
        assert!(parse(&["wallet", "show", &h]).is_err());
    }
}
