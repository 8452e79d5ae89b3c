//! `paychain store order | confirm | authorise | revoke | show | list` and `paychain identity code`:
//! offline store, online identity, over `paychain_client::store`.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use paychain_client::contracts::api::StoreOrderView;
use paychain_client::contracts::crypto::{Hash, PublicKey};
use paychain_client::contracts::ids::{MerchantId, PlatformId};
use paychain_client::contracts::money::{Amount, Currency};
use paychain_client::contracts::store::Status;
use paychain_client::store::{self, NewOrder};
use paychain_client::{keystore, rpc};
use rust_decimal::Decimal;
use serde_json::json;

use crate::args::{parse_amount, ReadArgs, SendArgs, WaitArgs, WhoArgs};
use crate::input::{code_or_file, read_bounded};
use crate::output::{self, format_time_ms, qr_code, Failure, Output};

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
        #[command(flatten)]
        read: ReadArgs,
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

pub(crate) fn identity(cmd: IdentityCmd) -> Result<Output, Failure> {
    match cmd {
        IdentityCmd::Code { key, out } => {
            let key = keystore::load(&key)?;
            let pk = key.public_key();
            let payload = store::identity_code(&pk);
            let mut human = qr_code(&payload, out.as_deref())?;
            let _ = writeln!(human, "identity     {payload}");
            Ok(Output::new(
                human,
                json!({"public_key": pk, "payload": payload, "path": out}),
            ))
        }
    }
}

pub(crate) async fn run(url: &str, cmd: StoreCmd) -> Result<Output, Failure> {
    let client = crate::args::rpc_client(url)?;
    match cmd {
        StoreCmd::Order(args) => order(&client, *args).await,
        StoreCmd::Confirm(args) => confirm(&client, args).await,
        StoreCmd::Authorise(args) => {
            let limit = Amount::new(args.limit, args.currency).map_err(Failure::usage)?;
            let key = args.send.load_key()?;
            let a = store::authorise(
                &client,
                key.secret_key(),
                args.merchant.clone(),
                limit,
                args.wallet,
                args.send.wait.wait(),
            )
            .await?;
            let from_wallet = a.from_wallet;
            Ok(output::sent(a.sent, None)?.prepend(
                format!(
                    "authorised   orders of {} up to {limit} from wallet {from_wallet}\n",
                    args.merchant
                ),
                json!({}),
            ))
        }
        StoreCmd::Revoke { merchant, send } => {
            let key = send.load_key()?;
            let sent = store::revoke(&client, key.secret_key(), merchant, send.wait.wait()).await?;
            output::sent(sent, None)
        }
        StoreCmd::Show { id, read } => {
            let v = read.client(&client)?.store_order(&id).await?;
            Ok(Output::new(human_view(&v), &v))
        }
        StoreCmd::List { who } => {
            let (key, client) = who.load(&client)?;
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
    let order_no = store::OrderNo::parse(&args.order_no)?;
    let user = match (&args.user, &args.user_code) {
        (Some(u), _) => *u,
        (None, Some(code)) => store::parse_identity_code(&code_or_file(code)?)?,
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
    let key = args.send.load_key()?;
    let new = NewOrder {
        merchant: args.merchant,
        acquirer: args.acquirer,
        user,
        order_no,
        amount,
        items_digest,
        expires_in_secs: args.expires_in,
    };
    let created = store::create_order(client, key.secret_key(), new, args.send.wait.wait()).await?;
    let (id, expires_at_ms, paid) = (created.id, created.expires_at_ms, created.auto_paid());
    let out = output::sent(created.sent, None)?;
    let mut human = String::new();
    let _ = writeln!(human, "order        {id}");
    let _ = writeln!(human, "order no     {} for user {user}", args.order_no);
    let _ = writeln!(human, "amount       {amount}");
    let _ = writeln!(human, "expires      {}", format_time_ms(expires_at_ms));
    if paid {
        let _ = writeln!(human, "paid         by the user's standing authorisation");
    }
    Ok(out.prepend(
        human,
        json!({
            "order_id": id,
            "user": user,
            "expires_at_ms": expires_at_ms,
            "auto_paid": paid,
        }),
    ))
}

async fn confirm(client: &rpc::Client, args: ConfirmArgs) -> Result<Output, Failure> {
    let key = keystore::load(&args.key)?;
    let c = store::confirm(
        client,
        key.secret_key(),
        args.order,
        args.wallet,
        args.wait.wait(),
    )
    .await?;
    let (amount, from_wallet) = (c.amount, c.from_wallet);
    Ok(output::sent(c.sent, None)?.prepend(
        format!(
            "order        {}\npaid         {amount} from wallet {from_wallet}\n",
            args.order
        ),
        json!({
            "order_id": args.order,
            "wallet_id": from_wallet,
            "amount": amount,
        }),
    ))
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
