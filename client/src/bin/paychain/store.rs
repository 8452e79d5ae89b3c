//! `paychain store order | confirm | authorise | revoke | show` and `paychain identity code`:
//! offline store, online identity, over `paychain_client::store`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use paychain_client::contracts::api::StoreOrderView;
use paychain_client::contracts::crypto::{Hash, PublicKey};
use paychain_client::contracts::ids::{MerchantId, PlatformId};
use paychain_client::contracts::money::{Amount, Currency};
use paychain_client::contracts::store::{self, Status};
use paychain_client::contracts::tx::Call;
use paychain_client::contracts::wallet;
use paychain_client::{keystore, qr, rpc, tx};
use rust_decimal::Decimal;
use serde_json::json;

use super::wallet::WhoArgs;
use super::{
    follow, format_time_ms, parse_amount, read_bounded, Failure, Output, SendArgs, WaitArgs,
};

#[derive(Debug, Subcommand)]
pub(crate) enum StoreCmd {
    /// The store (its merchant key) creates a pending order for a user identified by their public
    /// key or scanned identity code; prints the order id. A standing authorisation of the user may
    /// pay it at once.
    Order(Box<OrderArgs>),
    /// The order's user pays it from their wallet.
    Confirm(ConfirmArgs),
    /// Let a store's orders up to a limit be paid automatically from your wallet (replaces any
    /// previous authorisation for that store).
    Authorise(AuthoriseArgs),
    /// Withdraw a standing authorisation.
    Revoke {
        /// The store.
        #[arg(long, value_name = "ID")]
        merchant: MerchantId,
        #[command(flatten)]
        send: SendArgs,
    },
    /// Show an order.
    Show {
        /// Order id (64 hex characters).
        id: Hash,
    },
    /// Orders where a key is the user or the store's merchant key, newest first.
    List {
        #[command(flatten)]
        who: WhoArgs,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum IdentityCmd {
    /// Print (or draw as a PNG) your identity code: `paychain-id:<public key hex>`, for a store to scan.
    Code {
        /// Your key file.
        #[arg(long, value_name = "KEYFILE")]
        key: PathBuf,
        /// Write the code as a PNG here (default: print it in the terminal).
        #[arg(short = 'o', long = "out", value_name = "FILE.png")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub(crate) struct OrderArgs {
    #[command(flatten)]
    send: SendArgs,
    /// The store.
    #[arg(long, value_name = "ID")]
    merchant: MerchantId,
    /// Acquiring platform credited when paid.
    #[arg(long, value_name = "PLATFORM")]
    acquirer: PlatformId,
    /// The user's public key (64 hex characters).
    #[arg(
        long,
        value_name = "PUBKEY",
        required_unless_present = "user_code",
        conflicts_with = "user_code"
    )]
    user: Option<PublicKey>,
    /// The user's identity code: a PNG file or its text (`paychain-id:<hex>`).
    #[arg(long, value_name = "FILE.png | TEXT")]
    user_code: Option<String>,
    /// The store's order number (unique per store, at most 32 characters).
    #[arg(long, value_name = "N")]
    order_no: String,
    /// Amount.
    #[arg(long, value_parser = parse_amount)]
    amount: Decimal,
    /// Currency.
    #[arg(long, default_value = "CNY")]
    currency: Currency,
    /// File listing the items; its SHA-256 goes on chain (default: the digest of nothing).
    #[arg(long, value_name = "FILE")]
    items: Option<PathBuf>,
    /// Validity in seconds of block time from the latest block.
    #[arg(long, value_name = "SECS", default_value_t = 900)]
    expires_in: u64,
}

#[derive(Debug, Args)]
pub(crate) struct ConfirmArgs {
    /// Key file of the order's user.
    #[arg(long, value_name = "KEYFILE")]
    key: PathBuf,
    /// Order id.
    #[arg(long, value_name = "ID")]
    order: Hash,
    /// Wallet that pays (default: your wallet in the order's currency).
    #[arg(long, value_name = "ID")]
    wallet: Option<Hash>,
    #[command(flatten)]
    wait: WaitArgs,
}

#[derive(Debug, Args)]
pub(crate) struct AuthoriseArgs {
    #[command(flatten)]
    send: SendArgs,
    /// The store.
    #[arg(long, value_name = "ID")]
    merchant: MerchantId,
    /// Largest order paid automatically.
    #[arg(long, value_parser = parse_amount)]
    limit: Decimal,
    /// Currency of the limit.
    #[arg(long, default_value = "CNY")]
    currency: Currency,
    /// Wallet that pays (default: your wallet in that currency).
    #[arg(long, value_name = "ID")]
    wallet: Option<Hash>,
}

impl From<paychain_client::store::Error> for Failure {
    fn from(e: paychain_client::store::Error) -> Failure {
        Failure::usage(e)
    }
}

pub(crate) fn identity(cmd: IdentityCmd) -> Result<Output, Failure> {
    match cmd {
        IdentityCmd::Code { key, out } => {
            let key = keystore::load(&key)?;
            let pk = key.public_key();
            let payload = paychain_client::store::identity_code(&pk);
            let mut human = String::new();
            if let Some(path) = &out {
                std::fs::write(path, qr::png(&payload, 8)?)
                    .map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))?;
                let _ = writeln!(human, "code         {}", path.display());
            } else {
                human.push_str(&qr::terminal(&payload)?);
            }
            let _ = writeln!(human, "identity     {payload}");
            Ok(Output::new(
                human,
                json!({"public_key": pk, "payload": payload, "path": out}),
            ))
        }
    }
}

/// The identity code from a PNG file, a text file or the text itself.
fn read_identity(input: &str) -> Result<PublicKey, Failure> {
    let text = if Path::new(input).is_file() {
        let file = std::fs::File::open(input)
            .map_err(|e| Failure::usage(format!("cannot read {input}: {e}")))?;
        let bytes = read_bounded(file, qr::MAX_IMAGE_BYTES, input)?;
        if qr::is_image(&bytes) {
            qr::decode_image(&bytes)?
        } else {
            String::from_utf8(bytes)
                .map_err(|_| Failure::usage("input is neither a PNG image nor UTF-8 text"))?
        }
    } else {
        input.to_owned()
    };
    paychain_client::store::parse_identity_code(&text).map_err(Failure::usage)
}

pub(crate) async fn store_cmd(url: &str, cmd: StoreCmd) -> Result<Output, Failure> {
    let client = rpc::Client::new(url)?;
    match cmd {
        StoreCmd::Order(args) => order(&client, *args).await,
        StoreCmd::Confirm(args) => confirm(&client, args).await,
        StoreCmd::Authorise(args) => {
            let limit = Amount::new(args.limit, args.currency).map_err(Failure::usage)?;
            let key = keystore::load(&args.send.key)?;
            let from_wallet = args
                .wallet
                .unwrap_or_else(|| wallet::wallet_id(&key.public_key(), args.currency));
            let submitted = tx::TxBuilder::new(&client, key.secret_key())
                .submit(Call::Store(store::Call::Authorise {
                    merchant_id: args.merchant.clone(),
                    per_order_limit: limit,
                    from_wallet,
                }))
                .await?;
            let mut out = follow(&client, submitted.tx_hash, &args.send.wait, None).await?;
            out.human = format!(
                "authorised   orders of {} up to {limit} from wallet {from_wallet}\n{}",
                args.merchant, out.human
            );
            Ok(out)
        }
        StoreCmd::Revoke { merchant, send } => {
            let key = keystore::load(&send.key)?;
            let submitted = tx::TxBuilder::new(&client, key.secret_key())
                .submit(Call::Store(store::Call::Revoke {
                    merchant_id: merchant,
                }))
                .await?;
            follow(&client, submitted.tx_hash, &send.wait, None).await
        }
        StoreCmd::Show { id } => {
            let v = client.store_order(&id).await?;
            Ok(Output::new(human_view(&v), &v))
        }
        StoreCmd::List { who } => {
            let key = who.public_key()?;
            let v = client.store_orders(&key).await?;
            let mut h = String::new();
            for ov in &v.orders {
                let o = &ov.order;
                let status = match (o.status, ov.expired) {
                    (Status::Paid, _) => "paid",
                    (Status::Pending, true) => "expired",
                    (Status::Pending, false) => "pending",
                };
                let _ = writeln!(
                    h,
                    "{}  {:<8} {:<12} {}  store {}  user {}",
                    o.id, status, o.order_no, o.amount, o.merchant_id, o.user
                );
            }
            if v.orders.is_empty() {
                h.push_str("no store orders\n");
            }
            Ok(Output::new(h, &v))
        }
    }
}

async fn order(client: &rpc::Client, args: OrderArgs) -> Result<Output, Failure> {
    let amount = Amount::new(args.amount, args.currency).map_err(Failure::usage)?;
    store::check_order_no(&args.order_no).map_err(Failure::usage)?;
    let user = match (&args.user, &args.user_code) {
        (Some(u), _) => *u,
        (None, Some(code)) => read_identity(code)?,
        (None, None) => return Err(Failure::usage("give --user PUBKEY or --user-code CODE")),
    };
    let items_digest = match &args.items {
        Some(path) => {
            let file = std::fs::File::open(path)
                .map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))?;
            Hash::digest(&read_bounded(file, 4 * 1024 * 1024, "items file")?)
        }
        None => Hash::digest(b""),
    };
    let now_ms = client.status().await?.latest_block_time_ms;
    let expires_at_ms = now_ms.saturating_add(args.expires_in.saturating_mul(1000));
    let key = keystore::load(&args.send.key)?;
    let submitted = tx::TxBuilder::new(client, key.secret_key())
        .submit(Call::Store(store::Call::CreateOrder {
            merchant_id: args.merchant.clone(),
            acquirer: args.acquirer.clone(),
            user,
            order_no: args.order_no.clone(),
            amount,
            items_digest,
            expires_at_ms,
        }))
        .await?;
    let id = submitted.tx_hash;
    let mut out = follow(client, id, &args.send.wait, None).await?;
    let paid = out.json["receipt"]["events"]
        .as_array()
        .is_some_and(|e| e.iter().any(|e| e["kind"] == "store_order_paid"));
    let mut human = String::new();
    let _ = writeln!(human, "order        {id}");
    let _ = writeln!(human, "order no     {} for user {user}", args.order_no);
    let _ = writeln!(human, "amount       {amount}");
    let _ = writeln!(human, "expires      {}", format_time_ms(expires_at_ms));
    if paid {
        let _ = writeln!(human, "paid         by the user's standing authorisation");
    }
    human.push_str(&out.human);
    out.human = human;
    if let serde_json::Value::Object(map) = &mut out.json {
        map.insert("order_id".into(), json!(id));
        map.insert("user".into(), json!(user));
        map.insert("expires_at_ms".into(), json!(expires_at_ms));
        map.insert("auto_paid".into(), json!(paid));
    }
    Ok(out)
}

async fn confirm(client: &rpc::Client, args: ConfirmArgs) -> Result<Output, Failure> {
    let view = client.store_order(&args.order).await?;
    let key = keystore::load(&args.key)?;
    let from_wallet = args
        .wallet
        .unwrap_or_else(|| wallet::wallet_id(&key.public_key(), view.order.amount.currency));
    let submitted = tx::TxBuilder::new(client, key.secret_key())
        .submit(Call::Store(store::Call::Confirm {
            order: args.order,
            from_wallet,
        }))
        .await?;
    let mut out = follow(client, submitted.tx_hash, &args.wait, None).await?;
    out.human = format!(
        "order        {}\npaid         {} from wallet {from_wallet}\n{}",
        args.order, view.order.amount, out.human
    );
    if let serde_json::Value::Object(map) = &mut out.json {
        map.insert("order_id".into(), json!(args.order));
        map.insert("wallet_id".into(), json!(from_wallet));
        map.insert("amount".into(), json!(view.order.amount));
    }
    Ok(out)
}

fn human_view(v: &StoreOrderView) -> String {
    let o = &v.order;
    let status = match (o.status, v.expired, o.auto_paid) {
        (Status::Paid, _, true) => "paid (standing authorisation)",
        (Status::Paid, _, false) => "paid",
        (Status::Pending, true, _) => "expired",
        (Status::Pending, false, _) => "pending",
    };
    let mut h = String::new();
    let _ = writeln!(h, "order        {}", o.id);
    let _ = writeln!(h, "store        {} via {}", o.merchant_id, o.acquirer);
    let _ = writeln!(h, "order no     {}", o.order_no);
    let _ = writeln!(h, "user         {}", o.user);
    let _ = writeln!(h, "amount       {}", o.amount);
    let _ = writeln!(h, "items        {}", o.items_digest);
    let _ = writeln!(h, "status       {status}");
    let _ = writeln!(h, "expires      {}", format_time_ms(o.expires_at_ms));
    if let (Some(tx), Some(w)) = (o.paid_tx, o.paid_from) {
        let _ = writeln!(h, "paid by      tx {tx} from wallet {w}");
    }
    h
}
