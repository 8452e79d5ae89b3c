//! What a command prints ([`Output`]: human text, or one JSON document), how a failure maps to its
//! exit code ([`Failure`], from every SDK error), and the report of a sent transaction ([`sent`]).

use std::fmt::Write as _;

use paychain_client::contracts::crypto::Hash;
use paychain_client::contracts::executor::Receipt;
use paychain_client::contracts::ids::MerchantId;
use paychain_client::keystore;
use paychain_client::tx::{self, Sent};
use paychain_client::{
    collect, enclave, governance, guardian, identity_code, pay, qr, registry, rpc, store, wallet,
};
use serde::Serialize;
use serde_json::Value;

/// A failure: the exit code, the one-line reason, and what to print on stdout anyway (a submitted
/// transaction's outcome).
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
    pub(crate) output: Option<Output>,
}

impl Failure {
    /// An input error (exit code 2).
    pub(crate) fn usage(message: impl ToString) -> Failure {
        Failure {
            code: 2,
            message: message.to_string(),
            output: None,
        }
    }

    /// A refusal or failure on the chain's side (exit code 1).
    pub(crate) fn chain(message: impl ToString) -> Failure {
        Failure {
            code: 1,
            message: message.to_string(),
            output: None,
        }
    }
}

impl From<rpc::Error> for Failure {
    fn from(e: rpc::Error) -> Failure {
        match e {
            rpc::Error::InvalidUrl { .. } => Failure::usage(e),
            _ => Failure::chain(e),
        }
    }
}

impl From<tx::Error> for Failure {
    fn from(e: tx::Error) -> Failure {
        match e {
            tx::Error::Rpc(e) => e.into(),
            other => Failure::chain(other),
        }
    }
}

impl From<keystore::Error> for Failure {
    fn from(e: keystore::Error) -> Failure {
        Failure::usage(e)
    }
}

impl From<qr::Error> for Failure {
    fn from(e: qr::Error) -> Failure {
        Failure::usage(e)
    }
}

impl From<identity_code::Error> for Failure {
    fn from(e: identity_code::Error) -> Failure {
        Failure::usage(e)
    }
}

/// The contract's own checks run by the CLI (terminal codes).
impl From<paychain_client::contracts::guardian::Error> for Failure {
    fn from(e: paychain_client::contracts::guardian::Error) -> Failure {
        Failure::usage(e)
    }
}

impl From<enclave::Error> for Failure {
    fn from(e: enclave::Error) -> Failure {
        match e {
            enclave::Error::Rpc(e) => e.into(),
            enclave::Error::Seal(_) => Failure::usage(e),
            other => Failure::chain(other),
        }
    }
}

impl From<registry::Error> for Failure {
    fn from(e: registry::Error) -> Failure {
        match e {
            registry::Error::Enclave(e) => e.into(),
            registry::Error::Tx(e) => e.into(),
            e @ registry::Error::Invalid(_) => Failure::usage(e),
        }
    }
}

impl From<governance::Error> for Failure {
    fn from(e: governance::Error) -> Failure {
        match e {
            governance::Error::Tx(e) => e.into(),
            e @ governance::Error::Invalid(_) => Failure::usage(e),
        }
    }
}

impl From<wallet::Error> for Failure {
    fn from(e: wallet::Error) -> Failure {
        match e {
            wallet::Error::Rpc(e) => e.into(),
            wallet::Error::Tx(e) => e.into(),
            e @ wallet::Error::ExceedsRefundable { .. } => Failure::chain(e),
            e => Failure::usage(e),
        }
    }
}

impl From<pay::Error> for Failure {
    fn from(e: pay::Error) -> Failure {
        match e {
            pay::Error::Rpc(e) => e.into(),
            pay::Error::Tx(e) => e.into(),
            e if e.is_input() => Failure::usage(e),
            e => Failure::chain(e),
        }
    }
}

impl From<collect::Error> for Failure {
    fn from(e: collect::Error) -> Failure {
        match e {
            collect::Error::Rpc(e) => e.into(),
            collect::Error::Tx(e) => e.into(),
            e @ (collect::Error::Closed { .. } | collect::Error::NoUnpaidShare(_)) => {
                Failure::chain(e)
            }
            e => Failure::usage(e),
        }
    }
}

impl From<store::Error> for Failure {
    fn from(e: store::Error) -> Failure {
        match e {
            store::Error::Rpc(e) => e.into(),
            store::Error::Tx(e) => e.into(),
            e => Failure::usage(e),
        }
    }
}

impl From<guardian::Error> for Failure {
    fn from(e: guardian::Error) -> Failure {
        match e {
            guardian::Error::Rpc(e) => e.into(),
            guardian::Error::Tx(e) => e.into(),
            e @ (guardian::Error::Quiet { .. } | guardian::Error::Closed) => Failure::chain(e),
            e => Failure::usage(e),
        }
    }
}

/// What a command prints: human text, or one JSON document.
#[derive(Debug)]
pub(crate) struct Output {
    pub(crate) human: String,
    pub(crate) json: Value,
}

impl Output {
    pub(crate) fn new(human: String, json: impl Serialize) -> Output {
        Output {
            human,
            json: serde_json::to_value(json).unwrap_or(Value::Null),
        }
    }

    pub(crate) fn print(&self, json: bool) {
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&self.json).unwrap_or_else(|_| "null".into())
            );
        } else {
            print!("{}", self.human);
        }
    }

    /// Adds the fields of `extra` to the JSON document and `lines` after the human text.
    pub(crate) fn extend(mut self, extra: Value, lines: &str) -> Output {
        self.add_fields(extra);
        self.human.push_str(lines);
        self
    }

    /// Adds the fields of `extra` to the JSON document and `head` before the human text.
    pub(crate) fn prepend(mut self, head: String, extra: Value) -> Output {
        self.add_fields(extra);
        self.human = head + &self.human;
        self
    }

    fn add_fields(&mut self, extra: Value) {
        if let (Value::Object(map), Value::Object(more)) = (&mut self.json, extra) {
            map.extend(more);
        }
    }
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

/// The report of a sent transaction (`merchant id` first when given): `Ok` when it was committed
/// and succeeded, or not waited for; otherwise the failure, with the report to print anyway.
pub(crate) fn sent(sent: Sent, merchant_id: Option<&MerchantId>) -> Result<Output, Failure> {
    let Sent { tx_hash, committed } = sent;
    let (status, receipt) = match &committed {
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
    match committed {
        Some(Err(e)) => {
            let mut failure = Failure::from(e);
            failure.output = Some(output);
            Err(failure)
        }
        _ => Ok(output),
    }
}

/// The QR code of `payload`: written as a PNG to `out` (the text is then the line naming the file),
/// else drawn for the terminal.
pub(crate) fn qr_code(payload: &str, out: Option<&std::path::Path>) -> Result<String, Failure> {
    match out {
        Some(path) => {
            std::fs::write(path, qr::png(payload, 8)?)
                .map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))?;
            Ok(format!("code         {}\n", path.display()))
        }
        None => Ok(qr::terminal(payload)?),
    }
}

/// `YYYY-MM-DD HH:MM:SS.mmm UTC` from milliseconds since the Unix epoch.
pub(crate) fn format_time_ms(ms: u64) -> String {
    paychain_client::contracts::calendar::format_utc(ms)
}

/// The words of `s` on one line.
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Platform ids joined with commas, or `none`.
pub(crate) fn platform_list(platforms: &[paychain_client::contracts::ids::PlatformId]) -> String {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use paychain_client::contracts::crypto::PublicKey;
    use paychain_client::contracts::ids::PlatformId;

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
    fn sdk_errors_keep_their_classes() {
        let bad_url = || rpc::Error::InvalidUrl {
            url: "x".into(),
            reason: "r".into(),
        };
        // Node errors inside an SDK error keep the node error's class.
        assert_eq!(Failure::from(wallet::Error::Rpc(bad_url())).code, 2);
        assert_eq!(
            Failure::from(collect::Error::Tx(tx::Error::Rpc(bad_url()))).code,
            2
        );
        assert_eq!(Failure::from(wallet::Error::InvalidCard).code, 2);
        let refund = wallet::Error::ExceedsRefundable {
            amount: paychain_client::contracts::money::Amount::parse(
                "2.00",
                paychain_client::contracts::money::Currency::CNY,
            )
            .unwrap(),
            payment: Hash::ZERO,
            refundable: "1.00 CNY".into(),
        };
        assert_eq!(Failure::from(refund).code, 1);
        let quiet = guardian::Error::Quiet {
            who: PublicKey([1; 32]),
            timeout_secs: 3,
            received: 0,
        };
        let f = Failure::from(quiet);
        assert_eq!(f.code, 1);
        assert!(
            f.message.ends_with("within 3 s (0 received)"),
            "{}",
            f.message
        );
        assert_eq!(Failure::from(guardian::Error::Closed).code, 1);
        let p0 = PlatformId::new("platform-0").unwrap();
        assert_eq!(platform_list(&[]), "none");
        assert_eq!(platform_list(&[p0.clone(), p0]), "platform-0, platform-0");
    }

    #[test]
    fn a_sent_transaction_is_reported_like_before() {
        let receipt = Receipt {
            tx_hash: Hash::digest(b"t"),
            height: 7,
            index: 2,
            code: 0,
            error: None,
            events: vec![],
        };
        let ok = Sent {
            tx_hash: receipt.tx_hash,
            committed: Some(Ok(receipt.clone())),
        };
        let out = sent(ok, None).unwrap();
        assert!(out
            .human
            .ends_with("status       committed at height 7 (index 2)\n"));
        assert_eq!(out.json["status"], "committed");
        assert_eq!(out.json["height"], 7);
        assert!(out.json.get("merchant_id").is_none());

        let failed = Sent {
            tx_hash: receipt.tx_hash,
            committed: Some(tx::check_receipt(Receipt {
                code: 3,
                error: Some("not a platform".into()),
                ..receipt.clone()
            })),
        };
        let f = sent(failed, None).unwrap_err();
        assert_eq!(f.code, 1);
        assert!(
            f.message.ends_with("(code 3): not a platform"),
            "{}",
            f.message
        );
        let out = f.output.unwrap();
        assert_eq!(out.json["status"], "failed");
        assert!(out
            .human
            .ends_with("status       failed at height 7 (code 3)\n"));

        let m = MerchantId::derive(&PublicKey([1; 32]));
        let admitted = Sent {
            tx_hash: Hash::ZERO,
            committed: None,
        };
        let out = sent(admitted, Some(&m)).unwrap();
        assert!(out.human.starts_with(&format!("merchant id  {m}\n")));
        assert_eq!(out.json["status"], "submitted");
        assert!(out.json["receipt"].is_null());
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
}
