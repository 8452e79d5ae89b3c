//! `paychain merchant register | show` and `paychain record put | get | revoke`: merchants and
//! their acquiring records, over `paychain_client::registry`.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use paychain_client::contracts::api::{MerchantView, RecordView};
use paychain_client::contracts::crypto::PublicKey;
use paychain_client::contracts::ids::{MerchantId, PlatformId};
use paychain_client::keystore;
use paychain_client::registry::{self, NewMerchant, RecordPut};
use serde_json::json;

use crate::args::{parse_hex, Bytes, SendArgs};
use crate::input::read_payload;
use crate::output::{self, platform_list, Failure, Output};

#[derive(Debug, Subcommand)]
pub(crate) enum MerchantCmd {
    /// Register a merchant (signed by a platform's key); prints the merchant id. Payments to it need
    /// its merchant certificate registered on chain (`paychain ca issue --role merchant`, `ca
    /// consent`, `ca register`).
    Register(RegisterArgs),
    /// Show a registered merchant.
    Show {
        /// Merchant id.
        id: MerchantId,
    },
    /// As the merchant (--key is the merchant's own key file): accept a platform as an acquirer, so
    /// payments may be routed by its record.
    Accept {
        #[command(flatten)]
        send: SendArgs,
        /// The platform accepted.
        #[arg(long, value_name = "PID")]
        platform: PlatformId,
    },
    /// As the merchant: end the association with a platform; its record is no longer routed to.
    End {
        #[command(flatten)]
        send: SendArgs,
        /// The platform.
        #[arg(long, value_name = "PID")]
        platform: PlatformId,
    },
}

#[derive(Debug, Args)]
pub(crate) struct RegisterArgs {
    #[command(flatten)]
    pub(crate) send: SendArgs,
    /// Merchant name (1 to 25 characters).
    #[arg(long)]
    name: String,
    /// City (1 to 15 characters).
    #[arg(long)]
    city: String,
    /// Merchant category code (4 digits).
    #[arg(long)]
    mcc: String,
    /// ISO 3166-1 alpha-2 country code, e.g. CN.
    #[arg(long)]
    country: String,
    #[command(flatten)]
    pub(crate) merchant_key: MerchantKeyArg,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct MerchantKeyArg {
    /// The merchant's public key (64 hex characters).
    #[arg(long, value_name = "HEX")]
    pub(crate) merchant_key: Option<PublicKey>,
    /// A key file holding the merchant's key (only its public key is used).
    #[arg(long, value_name = "FILE")]
    merchant_keyfile: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RecordCmd {
    /// Create or replace the signing platform's record for a merchant.
    Put {
        #[command(flatten)]
        send: SendArgs,
        /// Merchant id.
        #[arg(long, value_name = "ID")]
        merchant: MerchantId,
        #[command(flatten)]
        payload: PayloadArg,
        /// Send the payload as it is, even on a chain that seals records (which refuses it there).
        #[arg(long)]
        raw: bool,
    },
    /// Show one platform's record for a merchant.
    Get {
        /// Merchant id.
        #[arg(long, value_name = "ID")]
        merchant: MerchantId,
        /// Platform id.
        #[arg(long, value_name = "PID")]
        platform: PlatformId,
    },
    /// After an enclave epoch rotation, re-seal the signing platform's records under the current
    /// epoch: each is opened for the platform by an attested enclave and put again (one version
    /// more), sealed to the platform's new record key. Records already current are left alone.
    Reseal {
        #[command(flatten)]
        send: SendArgs,
        /// Merchant id (repeat for each merchant).
        #[arg(long, value_name = "ID", required = true)]
        merchant: Vec<MerchantId>,
    },
    /// Revoke the signing platform's record for a merchant.
    Revoke {
        #[command(flatten)]
        send: SendArgs,
        /// Merchant id.
        #[arg(long, value_name = "ID")]
        merchant: MerchantId,
    },
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct PayloadArg {
    /// File holding the record (sealed to the consortium enclave key on a chain that has one).
    #[arg(long, value_name = "FILE")]
    info: Option<PathBuf>,
    /// The record as hex (sealed like --info).
    #[arg(long, value_name = "HEX", value_parser = parse_hex)]
    payload_hex: Option<Bytes>,
}

pub(crate) async fn merchant(url: &str, cmd: MerchantCmd) -> Result<Output, Failure> {
    match cmd {
        MerchantCmd::Register(args) => {
            let merchant_key = match (
                &args.merchant_key.merchant_key,
                &args.merchant_key.merchant_keyfile,
            ) {
                (Some(key), _) => *key,
                (None, Some(file)) => keystore::load(file)?.public_key(),
                (None, None) => {
                    return Err(Failure::usage(
                        "--merchant-key or --merchant-keyfile is required",
                    ))
                }
            };
            let new = NewMerchant::new(args.name, args.city, args.mcc, args.country, merchant_key)?;
            let client = crate::args::rpc_client(url)?;
            let key = args.send.load_key()?;
            let r =
                registry::register(&client, key.secret_key(), new, args.send.wait.wait()).await?;
            output::sent(r.sent, Some(&r.merchant_id))
        }
        MerchantCmd::Show { id } => {
            let view = crate::args::rpc_client(url)?.merchant(&id).await?;
            Ok(Output::new(human_merchant(&view), &view))
        }
        MerchantCmd::Accept { send, platform } => consent(url, send, platform, true).await,
        MerchantCmd::End { send, platform } => consent(url, send, platform, false).await,
    }
}

async fn consent(
    url: &str,
    send: SendArgs,
    platform: PlatformId,
    accept: bool,
) -> Result<Output, Failure> {
    let client = crate::args::rpc_client(url)?;
    let key = send.load_key()?;
    let (merchant_id, sent) = registry::consent(
        &client,
        key.secret_key(),
        platform,
        accept,
        send.wait.wait(),
    )
    .await?;
    output::sent(sent, Some(&merchant_id))
}

pub(crate) async fn record(
    url: &str,
    cmd: RecordCmd,
    genesis: Option<&std::path::Path>,
) -> Result<Output, Failure> {
    match cmd {
        RecordCmd::Put {
            send,
            merchant,
            payload,
            raw,
        } => {
            let plaintext = match (payload.info, payload.payload_hex) {
                (Some(file), _) => read_payload(&file)?,
                (None, Some(bytes)) => bytes.0,
                (None, None) => return Err(Failure::usage("--info or --payload-hex is required")),
            };
            let pin = crate::enclave::pin(genesis)?;
            let client = crate::args::rpc_client(url)?;
            let key = send.load_key()?;
            let RecordPut { sealed, sent } = registry::put_record(
                &client,
                key.secret_key(),
                &merchant,
                plaintext,
                raw,
                &pin,
                send.wait.wait(),
            )
            .await?;
            // The sealing is reported on a failed or timed-out put too.
            let add = |mut out: Output| {
                if let Some(s) = &sealed {
                    out.human.push_str(&format!(
                        "sealed       to the consortium enclave key as {} version {}\n",
                        s.platform_id, s.version
                    ));
                }
                if let Some(obj) = out.json.as_object_mut() {
                    obj.insert(
                        "sealed".into(),
                        serde_json::to_value(&sealed).unwrap_or_default(),
                    );
                }
                out
            };
            match output::sent(sent, Some(&merchant)) {
                Ok(out) => Ok(add(out)),
                Err(mut f) => {
                    f.output = f.output.map(add);
                    Err(f)
                }
            }
        }
        RecordCmd::Reseal { send, merchant } => {
            let pin = crate::enclave::pin(genesis)?;
            let client = crate::args::rpc_client(url)?;
            let key = send.load_key()?;
            let mut human = String::new();
            let mut rows = Vec::with_capacity(merchant.len());
            for m in &merchant {
                match registry::reseal_record(&client, key.secret_key(), m, &pin, send.wait.wait())
                    .await?
                {
                    registry::Reseal::Current { epoch } => {
                        let _ = writeln!(human, "{m}  already sealed under epoch {epoch}");
                        rows.push(json!({"merchant_id": m, "epoch": epoch, "resealed": false}));
                    }
                    registry::Reseal::Resealed { from_epoch, put } => {
                        let version = put.sealed.as_ref().map(|s| s.version);
                        let tx = output::sent(put.sent, Some(m))?;
                        let _ = writeln!(
                            human,
                            "{m}  resealed from epoch {from_epoch} as version {}",
                            version.unwrap_or_default()
                        );
                        rows.push(json!({
                            "merchant_id": m,
                            "from_epoch": from_epoch,
                            "version": version,
                            "resealed": true,
                            "tx": tx.json,
                        }));
                    }
                }
            }
            Ok(Output::new(human, json!({ "records": rows })))
        }
        RecordCmd::Get { merchant, platform } => {
            let view = crate::args::rpc_client(url)?
                .record(&merchant, &platform)
                .await?;
            Ok(Output::new(human_record(&view), &view))
        }
        RecordCmd::Revoke { send, merchant } => {
            let client = crate::args::rpc_client(url)?;
            let key = send.load_key()?;
            let sent =
                registry::revoke_record(&client, key.secret_key(), &merchant, send.wait.wait())
                    .await?;
            output::sent(sent, Some(&merchant))
        }
    }
}

fn human_merchant(v: &MerchantView) -> String {
    let m = &v.merchant;
    let mut out = String::new();
    let _ = writeln!(out, "merchant     {}", m.id);
    let _ = writeln!(out, "name         {}", m.name);
    let _ = writeln!(out, "city         {}", m.city);
    let _ = writeln!(out, "mcc          {}", m.mcc);
    let _ = writeln!(out, "country      {}", m.country);
    let _ = writeln!(out, "key          {}", m.merchant_key);
    let _ = writeln!(
        out,
        "registered   by {} at height {}",
        m.registered_by, m.registered_at
    );
    let _ = writeln!(out, "platforms    {}", platform_list(&v.platforms));
    for r in &v.routes {
        let _ = writeln!(
            out,
            "  route      {} record v{} {}",
            r.platform_id, r.route.record_version, r.route.record_hash
        );
    }
    if !v.pending.is_empty() {
        let _ = writeln!(
            out,
            "pending      {} (records awaiting the merchant's consent)",
            platform_list(&v.pending)
        );
    }
    out
}

fn human_record(v: &RecordView) -> String {
    let r = &v.record;
    let mut out = String::new();
    let _ = writeln!(out, "merchant     {}", r.merchant_id);
    let _ = writeln!(out, "platform     {}", r.platform_id);
    let _ = writeln!(out, "version      {}", r.version);
    let _ = writeln!(
        out,
        "state        {}",
        if r.revoked { "revoked" } else { "active" }
    );
    let _ = writeln!(out, "updated at   height {}", r.updated_at);
    let _ = writeln!(
        out,
        "payload      {} bytes  {}",
        r.payload.len(),
        preview_hex(&r.payload)
    );
    out
}

/// Hex of at most the first 32 bytes, with an ellipsis when cut.
fn preview_hex(bytes: &[u8]) -> String {
    const MAX: usize = 32;
    if bytes.len() > MAX {
        format!("{}…", hex::encode(&bytes[..MAX]))
    } else {
        hex::encode(bytes)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::tests::{parse, MID};
    use crate::Command;

    #[test]
    fn register_needs_exactly_one_merchant_key() {
        let base = [
            "merchant",
            "register",
            "--key",
            "k",
            "--name",
            "N",
            "--city",
            "C",
            "--mcc",
            "5812",
            "--country",
            "CN",
        ];
        let pk = PublicKey([1; 32]).to_hex();
        let with = |extra: &[&str]| parse(&[&base[..], extra].concat());
        assert!(with(&[]).is_err());
        assert!(with(&["--merchant-key", &pk, "--merchant-keyfile", "f"]).is_err());
        assert!(with(&["--merchant-key", "zz"]).is_err());
        let cli = with(&["--merchant-key", &pk, "--wait-timeout", "5"]).unwrap();
        match cli.command {
            Command::Merchant(MerchantCmd::Register(a)) => {
                assert_eq!(a.merchant_key.merchant_key, Some(PublicKey([1; 32])));
                assert_eq!(a.send.wait.wait_timeout, 5);
                assert!(!a.send.wait.no_wait);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn record_put_raw_flag() {
        let args = [
            "record",
            "put",
            "--key",
            "k",
            "--merchant",
            MID,
            "--payload-hex",
            "00",
        ];
        match parse(&args).unwrap().command {
            Command::Record(RecordCmd::Put { raw, .. }) => assert!(!raw),
            other => panic!("{other:?}"),
        }
        match parse(&[&args[..], &["--raw"]].concat()).unwrap().command {
            Command::Record(RecordCmd::Put { raw, .. }) => assert!(raw),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn preview_is_bounded() {
        assert_eq!(preview_hex(&[1, 2]), "0102");
        assert_eq!(preview_hex(&[0; 40]).chars().count(), 65);
    }
}
