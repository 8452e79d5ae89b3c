//! `paychain collect create | pay | show`: split-bill collections over `paychain_client::collect`.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use paychain_client::contracts::api::CollectionView;
use paychain_client::contracts::collection::{self, Shares, Status};
use paychain_client::contracts::crypto::Hash;
use paychain_client::contracts::ids::{MerchantId, PlatformId};
use paychain_client::contracts::money::{Amount, Currency};
use paychain_client::contracts::tx::Call;
use paychain_client::contracts::wallet;
use paychain_client::{collect, keystore, qr, rpc, tx};
use rust_decimal::Decimal;
use serde_json::json;

use super::wallet::WhoArgs;
use super::{follow, format_time_ms, parse_amount, Failure, Output, SendArgs, WaitArgs};

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

impl From<collect::Error> for Failure {
    fn from(e: collect::Error) -> Failure {
        match e {
            collect::Error::Closed { .. } | collect::Error::NoUnpaidShare(_) => Failure {
                code: 1,
                message: e.to_string(),
                output: None,
            },
            e => Failure::usage(e),
        }
    }
}

pub(crate) async fn collect(url: &str, cmd: CollectCmd) -> Result<Output, Failure> {
    let client = rpc::Client::new(url)?;
    match cmd {
        CollectCmd::Create(args) => create(&client, *args).await,
        CollectCmd::Pay(args) => pay(&client, args).await,
        CollectCmd::Expire { id, send } => {
            let key = keystore::load(&send.key)?;
            let submitted = tx::TxBuilder::new(&client, key.secret_key())
                .submit(Call::Collection(collection::Call::Expire {
                    collection: id,
                }))
                .await?;
            follow(&client, submitted.tx_hash, &send.wait, None).await
        }
        CollectCmd::Show { id } => {
            let v = client.collection(&id).await?;
            Ok(Output::new(human_view(&v), &v))
        }
        CollectCmd::List { who } => {
            let key = who.public_key()?;
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
    // Refuse locally what the chain would refuse, with the same message.
    let amounts = collection::split(&total, &shares).map_err(Failure::usage)?;
    let merchant = client.merchant(&args.merchant).await?;
    let now_ms = client.status().await?.latest_block_time_ms;
    let expires_at_ms = now_ms.saturating_add(args.expires_in.saturating_mul(1000));
    let call = Call::Collection(collection::Call::Create {
        merchant_id: args.merchant.clone(),
        acquirer: args.acquirer.clone(),
        total,
        shares,
        expires_at_ms,
        password_hash: args.password.as_deref().map(collection::password_hash),
    });
    let key = keystore::load(&args.send.key)?;
    let submitted = tx::TxBuilder::new(client, key.secret_key())
        .submit(call)
        .await?;
    let id = submitted.tx_hash;
    let mut out = follow(client, id, &args.send.wait, None).await?;
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
    if let Some(path) = &args.out {
        std::fs::write(path, qr::png(&payload, 8)?)
            .map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))?;
        let _ = writeln!(human, "code         {}", path.display());
    } else {
        human.push_str(&qr::terminal(&payload)?);
    }
    let _ = writeln!(human, "payload      {payload}");
    human.push_str(&out.human);
    out.human = human;
    if let serde_json::Value::Object(map) = &mut out.json {
        map.extend(
            json!({
                "collection_id": id,
                "payload": payload,
                "path": args.out,
                "shares": amounts,
                "expires_at_ms": expires_at_ms,
            })
            .as_object()
            .cloned()
            .unwrap_or_default(),
        );
    }
    Ok(out)
}

async fn pay(client: &rpc::Client, args: PayArgs) -> Result<Output, Failure> {
    let payload = super::qr_payload(&args.code)?;
    let id = collect::scan(&payload)?;
    let view = client.collection(&id).await?;
    let (share, amount) = collect::choose_share(&view, args.share)?;
    let key = keystore::load(&args.key)?;
    let from_wallet = args
        .wallet
        .unwrap_or_else(|| wallet::wallet_id(&key.public_key(), amount.currency));
    let call = Call::Collection(collection::Call::Pay {
        collection: id,
        share,
        from_wallet,
        amount,
        password: args.password.clone(),
    });
    let submitted = tx::TxBuilder::new(client, key.secret_key())
        .submit(call)
        .await?;
    let mut out = follow(client, submitted.tx_hash, &args.wait, None).await?;
    let completed = out.json["receipt"]["events"]
        .as_array()
        .is_some_and(|e| e.iter().any(|e| e["kind"] == "collection_completed"));
    let mut human = String::new();
    let _ = writeln!(human, "collection   {id}");
    let _ = writeln!(
        human,
        "share        {share}: {amount} from wallet {from_wallet}"
    );
    if completed {
        let _ = writeln!(
            human,
            "completed    the payee is credited {}",
            view.collection.total
        );
    }
    human.push_str(&out.human);
    out.human = human;
    if let serde_json::Value::Object(map) = &mut out.json {
        map.insert("collection_id".into(), json!(id));
        map.insert("share".into(), json!(share));
        map.insert("amount".into(), json!(amount));
        map.insert("wallet_id".into(), json!(from_wallet));
        map.insert("completed".into(), json!(completed));
    }
    Ok(out)
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
