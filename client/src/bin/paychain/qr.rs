//! `paychain qr encode | decode`: EMVCo merchant codes and their QR images (works offline), over
//! `paychain_client::{emvco, qr}`.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use paychain_client::contracts::ids::MerchantId;
use paychain_client::{emvco, qr};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::json;

use crate::args::parse_amount;
use crate::input::emvco_payload;
use crate::output::{Failure, Output};

#[derive(Debug, Subcommand)]
pub(crate) enum QrCmd {
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
pub(crate) struct QrEncodeArgs {
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
    /// Ask the payer for a tip (field 55 = 01).
    #[arg(long, conflicts_with_all = ["fee", "fee_percent"])]
    tip_prompt: bool,
    /// A fixed convenience fee the payer pays on top (fields 55 = 02 and 56), e.g. 0.50.
    #[arg(long, value_parser = parse_amount, conflicts_with = "fee_percent")]
    fee: Option<Decimal>,
    /// A convenience fee of this percentage of the amount (fields 55 = 03 and 57), e.g. 3.00.
    #[arg(long, value_parser = parse_amount)]
    fee_percent: Option<Decimal>,
    /// PNG file to write.
    #[arg(short = 'o', long = "out", value_name = "FILE.png")]
    out: Option<PathBuf>,
    /// Pixels per QR module in the PNG.
    #[arg(long, default_value_t = qr::DEFAULT_SCALE, value_parser = clap::value_parser!(u32).range(1..=64))]
    scale: u32,
}

pub(crate) fn run(cmd: QrCmd) -> Result<Output, Failure> {
    match cmd {
        QrCmd::Encode(args) => encode(*args),
        QrCmd::Decode { input } => decode(&input),
    }
}

fn encode(args: QrEncodeArgs) -> Result<Output, Failure> {
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
    let tip = match (args.tip_prompt, args.fee, args.fee_percent) {
        (true, _, _) => Some(emvco::Tip::Prompt),
        (_, Some(amount), _) => Some(emvco::Tip::FixedFee { amount }),
        (_, _, Some(percent)) => Some(emvco::Tip::PercentageFee { percent }),
        _ => None,
    };
    if let Some(tip) = tip {
        spec = spec.with_tip(tip).map_err(Failure::usage)?;
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
        "tip": spec.tip(),
    });
    Ok(Output::new(human, json))
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

fn decode(input: &str) -> Result<Output, Failure> {
    let payload = emvco_payload(input)?;
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::tests::{parse, MID};
    use crate::Command;

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
}
