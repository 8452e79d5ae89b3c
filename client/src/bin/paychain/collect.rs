//! `paychain collect create | pay | show | list | expire`: split-bill collections over
//! `paychain_client::collect`.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use paychain_client::collect::{self, NewCollection};
use paychain_client::contracts::api::CollectionView;
use paychain_client::contracts::collection::{Shares, Status};
use paychain_client::contracts::crypto::Hash;
use paychain_client::contracts::ids::{MerchantId, PlatformId};
use paychain_client::contracts::money::{Amount, Currency};
use paychain_client::{keystore, rpc};
use rust_decimal::Decimal;
use serde_json::json;

use crate::args::{parse_amount, ReadArgs, SendArgs, WaitArgs, WhoArgs};
use crate::input::emvco_payload;
use crate::output::{self, format_time_ms, qr_code, Failure, Output};

#[derive(Debug, Subcommand)]
pub(crate) enum CollectCmd {
    /// The payee (the merchant's key or its acquirer) opens a collection; prints its id and writes
    /// its dynamic EMVCo code (total in 54, collection id in 62-50-01).
    Create(Box<CreateArgs>),
    /// Pay one share of a collection from your wallet (default: the first unpaid share).
    Pay(PayArgs),
    /// Show a collection and its sub-orders.
    Show {
        /// Collection id (64 hex characters).
        id: Hash,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Collections a key created, is the payee of, or paid a share of, newest first.
    List {
        #[command(flatten)]
        who: WhoArgs,
    },
    /// After its expiry (block time), close an incomplete collection: every paid share goes
    /// back to the wallet it came from. Anyone may send it.
    Expire {
        /// Collection id (64 hex characters).
        id: Hash,
        #[command(flatten)]
        send: SendArgs,
    },
}

#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    #[command(flatten)]
    send: SendArgs,
    /// Merchant paid.
    #[arg(long, value_name = "ID")]
    merchant: MerchantId,
    /// Acquiring platform credited on completion.
    #[arg(long, value_name = "PLATFORM")]
    acquirer: PlatformId,
    /// Total amount.
    #[arg(long, value_parser = parse_amount)]
    total: Decimal,
    /// Currency.
    #[arg(long, default_value = "CNY")]
    currency: Currency,
    /// Number of equal shares.
    #[arg(
        long,
        value_name = "N",
        required_unless_present = "proportions",
        conflicts_with = "proportions"
    )]
    payers: Option<u32>,
    /// Per-payer weights, e.g. 1,2,1.
    #[arg(long, value_name = "W,W,...", value_delimiter = ',')]
    proportions: Option<Vec<u32>>,
    /// Validity in seconds of block time from the latest block.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    expires_in: u64,
    /// Password payers must give.
    #[arg(long, value_name = "PW")]
    password: Option<String>,
    /// Write the code as a PNG here (default: print it in the terminal).
    #[arg(short = 'o', long = "out", value_name = "FILE.png")]
    out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct PayArgs {
    /// The collection code: a PNG file, the payload text, or - for standard input.
    #[arg(long, value_name = "FILE.png | PAYLOAD | -")]
    code: String,
    /// Key file of the payer (the wallet's owner).
    #[arg(long, value_name = "KEYFILE")]
    key: PathBuf,
    /// Wallet that pays (default: your wallet in the collection's currency).
    #[arg(long, value_name = "ID")]
    wallet: Option<Hash>,
    /// Share to pay (default: the first unpaid share).
    #[arg(long, value_name = "N")]
    share: Option<u32>,
    /// The collection's password.
    #[arg(long, value_name = "PW")]
    password: Option<String>,
    #[command(flatten)]
    wait: WaitArgs,
}

pub(crate) async fn run(url: &str, cmd: CollectCmd) -> Result<Output, Failure> {
    let client = crate::args::rpc_client(url)?;
    match cmd {
        CollectCmd::Create(args) => create(&client, *args).await,
        CollectCmd::Pay(args) => pay(&client, args).await,
        CollectCmd::Expire { id, send } => {
            let key = send.load_key()?;
            let sent = collect::expire(&client, key.secret_key(), id, send.wait.wait()).await?;
            output::sent(sent, None)
        }
        CollectCmd::Show { id, read } => {
            let v = read.client(&client)?.collection(&id).await?;
            Ok(Output::new(human_view(&v), &v))
        }
        CollectCmd::List { who } => {
            let (key, client) = who.load(&client)?;
            let v = client.collections(&key).await?;
            let mut h = String::new();
            for cv in &v.collections {
                let c = &cv.collection;
                let role = if c.creator == key {
                    "payee".to_owned()
                } else {
                    match c.sub_orders.iter().find(|s| s.payer == Some(key)) {
                        Some(s) => format!("paid share {} ({})", s.share, s.amount),
                        None => "payee's merchant".to_owned(),
                    }
                };
                let _ = writeln!(
                    h,
                    "{}  {:<9} {}  {} payers  {role}",
                    c.id,
                    format!("{:?}", c.status).to_lowercase(),
                    c.total,
                    c.sub_orders.len()
                );
            }
            if v.collections.is_empty() {
                h.push_str("no collections\n");
            }
            Ok(Output::new(h, &v))
        }
    }
}

async fn create(client: &rpc::Client, args: CreateArgs) -> Result<Output, Failure> {
    let total = Amount::new(args.total, args.currency).map_err(Failure::usage)?;
    let shares = match (&args.proportions, args.payers) {
        (Some(w), _) => Shares::Proportions(w.clone()),
        (None, Some(n)) => Shares::Equal { payers: n },
        (None, None) => return Err(Failure::usage("give --payers N or --proportions W,W,...")),
    };
    let new = NewCollection::new(
        args.merchant,
        args.acquirer,
        total,
        shares,
        args.expires_in,
        args.password,
    )?;
    let key = args.send.load_key()?;
    let collect::Created {
        id,
        shares: amounts,
        expires_at_ms,
        total,
        merchant,
        sent,
    } = collect::create(client, key.secret_key(), new, args.send.wait.wait()).await?;
    let out = output::sent(sent, None)?;
    let payload = collect::code(&merchant, &total, &id)?;
    let mut human = String::new();
    let _ = writeln!(human, "collection   {id}");
    let _ = writeln!(
        human,
        "total        {total} in {} shares: {}",
        amounts.len(),
        amounts
            .iter()
            .map(|a| a.value.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(human, "expires      {}", format_time_ms(expires_at_ms));
    human.push_str(&qr_code(&payload, args.out.as_deref())?);
    let _ = writeln!(human, "payload      {payload}");
    Ok(out.prepend(
        human,
        json!({
            "collection_id": id,
            "payload": payload,
            "path": args.out,
            "shares": amounts,
            "expires_at_ms": expires_at_ms,
        }),
    ))
}

async fn pay(client: &rpc::Client, args: PayArgs) -> Result<Output, Failure> {
    let id = collect::scan(&emvco_payload(&args.code)?)?;
    let key = keystore::load(&args.key)?;
    let paid = collect::pay_share(
        client,
        key.secret_key(),
        id,
        args.share,
        args.wallet,
        args.password,
        args.wait.wait(),
    )
    .await?;
    let completed = paid.completed();
    let collect::SharePaid {
        id,
        share,
        amount,
        from_wallet,
        total,
        sent,
    } = paid;
    let out = output::sent(sent, None)?;
    let mut human = String::new();
    let _ = writeln!(human, "collection   {id}");
    let _ = writeln!(
        human,
        "share        {share}: {amount} from wallet {from_wallet}"
    );
    if completed {
        let _ = writeln!(human, "completed    the payee is credited {total}");
    }
    Ok(out.prepend(
        human,
        json!({
            "collection_id": id,
            "share": share,
            "amount": amount,
            "wallet_id": from_wallet,
            "completed": completed,
        }),
    ))
}

fn human_view(v: &CollectionView) -> String {
    let c = &v.collection;
    let status = match c.status {
        Status::Open => "open",
        Status::Completed => "completed",
        Status::Expired => "expired (paid shares refunded)",
    };
    let mut h = String::new();
    let _ = writeln!(h, "collection   {}", c.id);
    let _ = writeln!(h, "merchant     {} via {}", c.merchant_id, c.acquirer);
    let _ = writeln!(h, "total        {}", c.total);
    let _ = writeln!(h, "status       {status}");
    let _ = writeln!(h, "expires      {}", format_time_ms(c.expires_at_ms));
    let _ = writeln!(h, "paid         {}", c.total.currency.format(v.paid));
    let _ = writeln!(h, "outstanding  {}", c.total.currency.format(v.outstanding));
    for s in &c.sub_orders {
        let who = match (&s.payer, s.refunded) {
            (Some(p), false) => format!("paid by {p}"),
            (Some(p), true) => format!("refunded to {p}"),
            (None, _) => "unpaid".into(),
        };
        let _ = writeln!(h, "  share {:>3}  {}  {who}", s.share, s.amount);
    }
    h
}
