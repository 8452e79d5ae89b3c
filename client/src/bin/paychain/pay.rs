//! `paychain pay` (scan and pay, as a payer or a guardian's dependant), `paychain settle` and
//! `paychain refund` (the acquirer), over `paychain_client::{pay, wallet}`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Args;
use paychain_client::contracts::crypto::Hash;
use paychain_client::contracts::ids::MerchantId;
use paychain_client::contracts::money::{Amount, Currency};
use paychain_client::pay::{self, PayRequest};
use paychain_client::wallet;
use rust_decimal::Decimal;
use serde_json::json;

use crate::args::{parse_amount, SendArgs};
use crate::input::{emvco_payload, read_template};
use crate::output::{self, Failure, Output};

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
    /// Your tip, when the code asks for one (0 for none); a convenience fee the code states is
    /// added without asking.
    #[arg(long, value_parser = parse_amount)]
    tip: Option<Decimal>,
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

pub(crate) async fn settle(url: &str, args: SettleArgs) -> Result<Output, Failure> {
    let client = crate::args::rpc_client(url)?;
    let amount = match (args.amount, args.currency) {
        (Some(v), Some(c)) => Some(Amount::new(v, c).map_err(Failure::usage)?),
        _ => None,
    };
    let key = args.send.load_key()?;
    let sent = wallet::settle(
        &client,
        key.secret_key(),
        args.merchant.clone(),
        amount,
        args.send.wait.wait(),
    )
    .await?;
    // On a chain with private state the receipt's events are sealed: say what was asked.
    let (settled, currency) = match (
        sent.event_attr("settled", "amount"),
        sent.event_attr("settled", "currency"),
        &amount,
    ) {
        (Some(a), Some(c), _) => (a.to_owned(), c.to_owned()),
        (_, _, Some(asked)) => (asked.value.to_string(), asked.currency.to_string()),
        _ => ("the whole balance".to_owned(), String::new()),
    };
    Ok(output::sent(sent, None)?.extend(
        json!({ "merchant_id": args.merchant }),
        &format!(
            "settled      {settled} {currency} of merchant {}\n",
            args.merchant
        ),
    ))
}

pub(crate) async fn refund(url: &str, args: RefundArgs) -> Result<Output, Failure> {
    let client = crate::args::rpc_client(url)?;
    let key = args.send.load_key()?;
    let r = wallet::refund(
        &client,
        key.secret_key(),
        args.payment,
        args.amount,
        args.send.wait.wait(),
    )
    .await?;
    let amount = r.amount;
    let total = match r.sent.event_attr("refunded", "refunded_total") {
        Some(t) => t.to_owned(),
        // On a chain with private state the receipt's events are sealed: the acquirer reads the
        // payment (a signed read, answered by an enclave).
        None => client
            .clone()
            .with_reader(key.secret_key())
            .payment(&args.payment)
            .await
            .map(|p| p.payment.refunded.to_string())
            .unwrap_or_default(),
    };
    Ok(output::sent(r.sent, None)?.extend(
        json!({ "payment_id": args.payment, "amount": amount, "refunded_total": total }),
        &format!(
            "refunded     {amount} of payment {} (total refunded {total})\n",
            args.payment
        ),
    ))
}

pub(crate) async fn pay(
    url: &str,
    args: PayArgs,
    genesis: Option<&std::path::Path>,
) -> Result<Output, Failure> {
    let scanning = Instant::now();
    let payload = emvco_payload(&args.code)?;
    // What the code says is checked before the key is read or the node asked.
    let code = pay::scan_at(&payload, now_secs())?;
    let scan = scanning.elapsed();
    let pin = crate::enclave::pin(genesis)?;
    let key = paychain_client::keystore::load(&args.key)?;
    let client = crate::args::rpc_client(url)?;
    let template = args
        .biometric_template
        .as_deref()
        .map(read_template)
        .transpose()?;
    let request = PayRequest {
        amount: args.amount,
        currency: args.currency,
        order_ref: args.order.clone(),
        binding: args.binding,
        biometric_template: template.as_deref(),
        tip: args.tip,
        now: now_secs(),
        pin,
    };
    let wait = Duration::from_secs(args.wait_timeout);
    let pay::Paid {
        quote,
        tx_hash,
        receipt,
        steps,
        certificate: cert,
    } = pay::pay_scanned(&client, key.secret_key(), code, request, wait).await?;
    let path = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("cert-{}.json", &tx_hash.to_hex()[..16])));
    let text = serde_json::to_string_pretty(&cert)
        .map_err(|e| Failure::chain(format!("cannot encode certificate: {e}")))?;
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
    let a = &quote.acquiring;
    let _ = writeln!(
        human,
        "routed by    its record v{} ({}): institution {}, merchant id {}, terminal {}",
        quote.route.record_version,
        quote.route.record_hash,
        a.acquirer_institution_id,
        a.acquirer_merchant_id,
        a.terminal_id
    );
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
    let _ = writeln!(human, "amount       {}", quote.due);
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
    let ms = |d: Duration| (d.as_secs_f64() * 10_000.0).round() / 10.0;
    let total = scan + steps.checks + steps.lookup + steps.commit + steps.certificate;
    let _ = writeln!(
        human,
        "took         {} ms: scan {} + checks {} + lookup {} + commit {} + certificate {}",
        ms(total),
        ms(scan),
        ms(steps.checks),
        ms(steps.lookup),
        ms(steps.commit),
        ms(steps.certificate)
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
        "route": quote.route,
        "acquiring": quote.acquiring,
        "wallet_id": quote.wallet.wallet.id,
        "amount": quote.amount,
        "due": quote.due,
        "steps_ms": {
            "scan": ms(scan), "checks": ms(steps.checks), "lookup": ms(steps.lookup),
            "commit": ms(steps.commit), "certificate": ms(steps.certificate), "total": ms(total),
        },
        "order_ref": quote.order_ref,
        "dynamic_code": quote.code.dynamic,
        "binding": quote.delegated.as_ref().map(|d| d.binding),
        "receipt": receipt,
        "certificate": path,
    });
    Ok(Output::new(human, json))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::tests::parse;
    use crate::Command;
    use paychain_client::contracts::crypto::PublicKey;
    use paychain_client::contracts::ids::PlatformId;

    #[test]
    fn pay_settle_refund_arguments() {
        let h = Hash::ZERO.to_hex();
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
        let e = Failure::from(pay::Error::NoBiometric(Hash::ZERO));
        assert_eq!(e.code, 2);
        assert!(e
            .message
            .ends_with("has no biometric: leave out --biometric-template"));
    }
}
