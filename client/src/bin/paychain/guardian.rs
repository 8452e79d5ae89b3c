//! `paychain guardian ...`: guardian-delegated payment over `paychain_client::guardian`.
//!
//! The dependant pays with `paychain pay --binding ID`; everything else is here: the terminal's
//! code, the request, the guardian's notifications, approval, limits, biometric, revocation,
//! listings and the monthly statement.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use paychain_client::contracts::crypto::{Hash, PublicKey};
use paychain_client::contracts::guardian::{Binding, Limits, Status, Terminal};
use paychain_client::contracts::money::Currency;
use paychain_client::guardian::{self, LimitValues};
use paychain_client::{keystore, rpc};
use rust_decimal::Decimal;
use serde_json::json;

use crate::args::{parse_amount, ReadArgs, SendArgs, WhoArgs};
use crate::input::{code_or_file, read_template};
use crate::output::{self, format_time_ms, qr_code, Failure, Output};

#[derive(Debug, Subcommand)]
pub(crate) enum GuardianCmd {
    /// Print (or draw as a PNG) a registration terminal's code: device number, business type and
    /// check code.
    TerminalCode {
        /// The terminal's device number (A-Z, 0-9, -).
        #[arg(long, value_name = "NO")]
        device: String,
        /// Business type of the place (a-z, 0-9, -), e.g. school, clinic.
        #[arg(long, value_name = "TYPE")]
        business: String,
        /// Write the code as a PNG here (default: print it in the terminal).
        #[arg(short = 'o', long = "out", value_name = "FILE.png")]
        out: Option<PathBuf>,
    },
    /// The dependant scans a registration terminal's code and asks a guardian to let them pay;
    /// prints the binding id.
    Request {
        #[command(flatten)]
        send: SendArgs,
        /// The guardian's public key (64 hex characters).
        #[arg(long, value_name = "PUBKEY")]
        guardian: PublicKey,
        /// The terminal's code: a PNG file or its text.
        #[arg(long, value_name = "FILE.png | TEXT")]
        terminal: String,
    },
    /// Wait for guardian notifications (requests, approvals, payments, ...) for a key and print
    /// each as it is committed.
    Watch {
        /// Key file of the guardian (or give --public-key).
        #[arg(long, value_name = "KEYFILE", required_unless_present = "public_key")]
        key: Option<PathBuf>,
        /// The guardian's public key.
        #[arg(long, value_name = "PUBKEY", conflicts_with = "key")]
        public_key: Option<PublicKey>,
        /// Stop after this many notifications.
        #[arg(long, value_name = "N", default_value_t = 1)]
        count: usize,
        /// Give up after this many seconds.
        #[arg(long, value_name = "SECS", default_value_t = 60)]
        timeout: u64,
    },
    /// The guardian approves a request: password-free payment from their wallet within limits.
    Approve(Box<ApproveArgs>),
    /// The guardian refuses a pending request.
    Reject {
        #[command(flatten)]
        send: SendArgs,
        /// Binding id.
        #[arg(long, value_name = "ID")]
        binding: Hash,
    },
    /// The guardian changes the limits of an active binding (they apply at once).
    Limits {
        #[command(flatten)]
        send: SendArgs,
        /// Binding id.
        #[arg(long, value_name = "ID")]
        binding: Hash,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// The guardian binds a new biometric template to the dependant, or removes it.
    Biometric {
        #[command(flatten)]
        send: SendArgs,
        /// Binding id.
        #[arg(long, value_name = "ID")]
        binding: Hash,
        /// The dependant's template (only a salted hash goes on chain).
        #[arg(long, value_name = "FILE", required_unless_present = "remove")]
        template: Option<PathBuf>,
        /// Remove the biometric.
        #[arg(long, conflicts_with = "template")]
        remove: bool,
    },
    /// The guardian or the dependant ends a binding.
    Revoke {
        #[command(flatten)]
        send: SendArgs,
        /// Binding id.
        #[arg(long, value_name = "ID")]
        binding: Hash,
    },
    /// Bindings where a key is guardian or dependant.
    List {
        #[command(flatten)]
        who: WhoArgs,
    },
    /// Show a binding: status, limits, today's usage.
    Show {
        /// Binding id.
        id: Hash,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// The guardian's monthly statement of a dependant's payments.
    Statement {
        /// Binding id.
        #[arg(long, value_name = "ID")]
        binding: Hash,
        #[command(flatten)]
        read: ReadArgs,
        /// Month (UTC, block time), YYYY-MM; default: the month of the latest block.
        #[arg(long, value_name = "YYYY-MM")]
        month: Option<String>,
    },
}

#[derive(Debug, Args)]
pub(crate) struct LimitArgs {
    /// Largest single payment.
    #[arg(long, value_parser = parse_amount)]
    per_payment: Decimal,
    /// Largest total per day (UTC day of block time).
    #[arg(long, value_parser = parse_amount)]
    per_day: Decimal,
    /// Most payments per day.
    #[arg(long, value_name = "N")]
    payments_per_day: u32,
}

#[derive(Debug, Args)]
pub(crate) struct ApproveArgs {
    #[command(flatten)]
    send: SendArgs,
    /// Binding id.
    #[arg(long, value_name = "ID")]
    binding: Hash,
    #[command(flatten)]
    limits: LimitArgs,
    /// Currency of the wallet that pays (default CNY).
    #[arg(long, default_value = "CNY")]
    currency: Currency,
    /// Wallet that pays (default: your wallet in that currency).
    #[arg(long, value_name = "ID")]
    wallet: Option<Hash>,
    /// Bind the dependant's biometric template (only a salted hash goes on chain).
    #[arg(long, value_name = "FILE")]
    biometric_template: Option<PathBuf>,
}

impl LimitArgs {
    fn values(&self) -> LimitValues {
        LimitValues {
            per_payment: self.per_payment,
            per_day: self.per_day,
            payments_per_day: self.payments_per_day,
        }
    }
}

fn key_of(key: &Option<PathBuf>, public_key: Option<PublicKey>) -> Result<PublicKey, Failure> {
    match (public_key, key) {
        (Some(k), _) => Ok(k),
        (None, Some(file)) => Ok(keystore::load(file)?.public_key()),
        (None, None) => Err(Failure::usage("--public-key or --key is required")),
    }
}

pub(crate) async fn run(url: &str, cmd: GuardianCmd) -> Result<Output, Failure> {
    if let GuardianCmd::TerminalCode {
        device,
        business,
        out,
    } = &cmd
    {
        return terminal_code(device, business, out.as_deref());
    }
    let client = crate::args::rpc_client(url)?;
    match cmd {
        GuardianCmd::TerminalCode { .. } => Err(Failure::usage("unreachable")),
        GuardianCmd::Request {
            send,
            guardian: g,
            terminal,
        } => {
            let t = Terminal::parse(&code_or_file(&terminal)?)?;
            let key = send.load_key()?;
            let sent = guardian::request(&client, key.secret_key(), g, t.clone(), send.wait.wait())
                .await?;
            let id = sent.tx_hash;
            Ok(output::sent(sent, None)?.prepend(
                format!(
                    "binding      {id}\nguardian     {g}\nterminal     {} ({})\nstatus       pending: your guardian is notified and must approve\n",
                    t.device_no, t.business_type
                ),
                json!({"binding_id": id, "guardian": g, "terminal": t}),
            ))
        }
        GuardianCmd::Watch {
            key,
            public_key,
            count,
            timeout,
        } => watch(&client, key_of(&key, public_key)?, count, timeout).await,
        GuardianCmd::Approve(args) => {
            let key = args.send.load_key()?;
            let limits = args.limits.values().limits(args.currency)?;
            let template = args
                .biometric_template
                .as_deref()
                .map(read_template)
                .transpose()?;
            let a = guardian::approve(
                &client,
                key.secret_key(),
                args.binding,
                args.wallet,
                args.currency,
                limits.clone(),
                template.as_deref(),
                args.send.wait.wait(),
            )
            .await?;
            let (wallet_id, biometric) = (a.wallet_id, a.biometric);
            Ok(output::sent(a.sent, None)?.prepend(
                format!(
                    "binding      {} approved: pays from wallet {wallet_id}\n{}",
                    args.binding,
                    human_limits(&limits)
                ),
                json!({"binding_id": args.binding, "wallet_id": wallet_id, "limits": limits,
                       "biometric": biometric}),
            ))
        }
        GuardianCmd::Reject { send, binding } => {
            let key = send.load_key()?;
            let sent =
                guardian::reject(&client, key.secret_key(), binding, send.wait.wait()).await?;
            Ok(output::sent(sent, None)?.prepend(
                format!("binding      {binding} rejected\n"),
                json!({"binding_id": binding}),
            ))
        }
        GuardianCmd::Limits {
            send,
            binding,
            limits,
        } => {
            let key = send.load_key()?;
            let (limits, sent) = guardian::set_limits(
                &client,
                key.secret_key(),
                binding,
                &limits.values(),
                send.wait.wait(),
            )
            .await?;
            Ok(output::sent(sent, None)?.prepend(
                format!("binding      {binding}\n{}", human_limits(&limits)),
                json!({"binding_id": binding, "limits": limits}),
            ))
        }
        GuardianCmd::Biometric {
            send,
            binding,
            template,
            remove: _,
        } => {
            let template = template.as_deref().map(read_template).transpose()?;
            let key = send.load_key()?;
            let sent = guardian::set_biometric(
                &client,
                key.secret_key(),
                binding,
                template.as_deref(),
                send.wait.wait(),
            )
            .await?;
            let what = if template.is_some() {
                "bound"
            } else {
                "removed"
            };
            Ok(output::sent(sent, None)?.prepend(
                format!("binding      {binding}: biometric {what}\n"),
                json!({"binding_id": binding, "biometric": template.is_some()}),
            ))
        }
        GuardianCmd::Revoke { send, binding } => {
            let key = send.load_key()?;
            let sent =
                guardian::revoke(&client, key.secret_key(), binding, send.wait.wait()).await?;
            Ok(output::sent(sent, None)?.prepend(
                format!("binding      {binding} revoked: it pays nothing from now on\n"),
                json!({"binding_id": binding}),
            ))
        }
        GuardianCmd::List { who } => {
            let (key, client) = who.load(&client)?;
            let v = client.guardian_bindings(&key).await?;
            let mut h = String::new();
            for b in &v.bindings {
                let role = if b.guardian == key {
                    "guardian of"
                } else {
                    "dependant of"
                };
                let other = if b.guardian == key {
                    b.dependant
                } else {
                    b.guardian
                };
                let _ = writeln!(h, "{}  {:<9} {role} {other}", b.id, b.status.to_string());
            }
            if v.bindings.is_empty() {
                h.push_str("no guardian bindings\n");
            }
            Ok(Output::new(h, &v))
        }
        GuardianCmd::Show { id, read } => {
            let b = read.client(&client)?.guardian_binding(&id).await?;
            Ok(Output::new(human_binding(&b), &b))
        }
        GuardianCmd::Statement {
            binding,
            read,
            month,
        } => {
            let client = read.client(&client)?;
            let guardian::MonthlyStatement {
                month,
                binding: b,
                statement: s,
            } = guardian::statement(&client, binding, month).await?;
            let currency = b.authorisation.as_ref().map(|a| a.limits.per_day.currency);
            let fmt = |d: Decimal| match currency {
                Some(c) => c.format(d),
                None => d.to_string(),
            };
            let mut h = String::new();
            let _ = writeln!(h, "statement    {month} (UTC) of dependant {}", b.dependant);
            let _ = writeln!(h, "binding      {binding}, guardian {}", b.guardian);
            for line in &s.payments {
                let (p, refunded) = (&line.payment, line.refunded);
                let _ = write!(
                    h,
                    "  {}  {:>14}  {}  order {}",
                    format_time_ms(p.time_ms),
                    p.amount.to_string(),
                    p.merchant_id,
                    p.order_ref
                );
                if !refunded.is_zero() {
                    let _ = write!(h, "  (refunded {})", fmt(refunded));
                }
                h.push('\n');
            }
            let n = s.payments.len();
            let _ = writeln!(
                h,
                "total        {} in {n} payment{}, {} refunded",
                fmt(s.total),
                if n == 1 { "" } else { "s" },
                fmt(s.refunded)
            );
            Ok(Output::new(h, &s))
        }
    }
}

fn terminal_code(device: &str, business: &str, out: Option<&Path>) -> Result<Output, Failure> {
    let t = Terminal::new(device, business)?;
    let payload = t.code_text();
    let mut human = qr_code(&payload, out)?;
    let _ = writeln!(human, "terminal     {payload}");
    Ok(Output::new(
        human,
        json!({"terminal": t, "payload": payload, "path": out}),
    ))
}

async fn watch(
    client: &rpc::Client,
    who: PublicKey,
    count: usize,
    timeout: u64,
) -> Result<Output, Failure> {
    let notifications = guardian::watch(client, &who, count, timeout, || {
        // On stderr, so that a script (or a test) knows from when on nothing is missed.
        eprintln!("watching guardian notifications for {who}");
    })
    .await?;
    let mut seen = Vec::new();
    let mut human = String::new();
    for n in notifications {
        let attrs: serde_json::Map<String, serde_json::Value> = n
            .event
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        let _ = writeln!(
            human,
            "{}  height {}  {}  {}",
            format_time_ms(n.time_ms),
            n.height,
            n.event.kind,
            n.event
                .attributes
                .iter()
                .filter(|(k, _)| k != "guardian")
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        seen.push(json!({
            "height": n.height, "time_ms": n.time_ms, "tx_hash": n.tx_hash,
            "kind": n.event.kind, "attributes": attrs,
        }));
    }
    Ok(Output::new(human, json!({ "notifications": seen })))
}

fn human_limits(l: &Limits) -> String {
    format!(
        "limits       {} per payment, {} per day, {} payments per day\n",
        l.per_payment, l.per_day, l.payments_per_day
    )
}

fn human_binding(b: &Binding) -> String {
    let mut h = String::new();
    let _ = writeln!(h, "binding      {}", b.id);
    let _ = writeln!(h, "status       {}", b.status);
    let _ = writeln!(h, "dependant    {}", b.dependant);
    let _ = writeln!(h, "guardian     {}", b.guardian);
    let _ = writeln!(
        h,
        "terminal     {} ({})",
        b.terminal.device_no, b.terminal.business_type
    );
    let _ = writeln!(h, "requested    {}", format_time_ms(b.requested_at_ms));
    if let Some(a) = &b.authorisation {
        let _ = writeln!(h, "wallet       {} on {}", a.wallet, a.platform);
        h.push_str(&human_limits(&a.limits));
        let _ = writeln!(
            h,
            "biometric    {}",
            if a.biometric.is_some() {
                "required"
            } else {
                "none"
            }
        );
        if b.status == Status::Active {
            let c = a.limits.per_day.currency;
            let _ = writeln!(
                h,
                "last day     {} spent in {} payments (day {} of block time)",
                c.format(b.usage.spent),
                b.usage.count,
                b.usage.day
            );
        }
    }
    let _ = writeln!(h, "payments     {}", b.payments);
    h
}
