//! `paychain enclave status`, `paychain lookup` (plain and through the node's enclave) and the sealing
//! step of `paychain record put`, over `paychain_client::enclave`.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use paychain_client::contracts::api::EnclaveStatusView;
use paychain_client::contracts::genesis::Genesis;
use paychain_client::contracts::ids::{MerchantId, PlatformId};
use paychain_client::contracts::registry;
use paychain_client::contracts::tx::Call;
use paychain_client::enclave::{self, TrustAnchor};
use paychain_client::{keystore, rpc};
use serde_json::json;

use super::{human_lookup, platform_list, read_json, send, Failure, Output, SendArgs};

#[derive(Debug, Subcommand)]
pub(crate) enum EnclaveCmd {
    /// Show the chain's enclave configuration, registered enclaves and the node's own enclave.
    Status,
}

#[derive(Debug, Args)]
pub(crate) struct LookupArgs {
    /// Merchant id ("M" + 20 uppercase hex characters).
    id: MerchantId,
    /// Requester's key file (the platform's key, or a user verified by that platform): asks the node's
    /// enclave for the platform's record and prints it in plaintext.
    #[arg(long, value_name = "KEYFILE", requires = "platform")]
    key: Option<PathBuf>,
    /// The requester's platform (only its record is opened).
    #[arg(long, value_name = "PID", requires = "key")]
    platform: Option<PlatformId>,
    /// The chain's genesis.json: pins chain id, attestation root and consortium key instead of
    /// believing the node.
    #[arg(long, value_name = "FILE", requires = "key")]
    genesis: Option<PathBuf>,
}

impl From<enclave::Error> for Failure {
    fn from(e: enclave::Error) -> Failure {
        match e {
            enclave::Error::Rpc(e) => e.into(),
            enclave::Error::Seal(_) => Failure::usage(e),
            other => Failure {
                code: 1,
                message: other.to_string(),
                output: None,
            },
        }
    }
}

fn client(url: &str) -> Result<rpc::Client, Failure> {
    Ok(rpc::Client::new(url)?)
}

pub(crate) async fn enclave_cmd(url: &str, cmd: EnclaveCmd) -> Result<Output, Failure> {
    match cmd {
        EnclaveCmd::Status => {
            let view = client(url)?.enclave().await?;
            Ok(Output::new(human_enclave(&view), &view))
        }
    }
}

fn human_enclave(v: &EnclaveStatusView) -> String {
    let mut out = String::new();
    let Some(c) = &v.config else {
        out.push_str("enclave      none (records on this chain are not sealed)\n");
        return out;
    };
    let _ = writeln!(out, "attestation  root {} (simulated)", c.attestation_root);
    let _ = writeln!(out, "consortium   {}", c.consortium_public);
    let _ = writeln!(
        out,
        "debug quotes {}",
        if c.allow_debug { "allowed" } else { "refused" }
    );
    let list = |ms: &[paychain_client::contracts::enclave::Measurement]| {
        if ms.is_empty() {
            "none".to_owned()
        } else {
            ms.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let _ = writeln!(out, "allowed      {}", list(&v.allowed_measurements));
    let _ = writeln!(out, "revoked      {}", list(&v.revoked_measurements));
    let _ = writeln!(out, "enclaves     {}", v.enclaves.len());
    for e in &v.enclaves {
        let q = &e.quote.quote;
        let _ = writeln!(
            out,
            "  {}  measurement {}  svn {}{}  registered at {}  {}",
            q.signer,
            q.measurement,
            q.security_version,
            if q.debug { "  debug" } else { "" },
            e.registered_at,
            if e.provisioned {
                "provisioned"
            } else {
                "not provisioned"
            }
        );
    }
    match &v.node_enclave {
        Some(n) => {
            let _ = writeln!(
                out,
                "this node    {}  measurement {}  {}",
                n.signer,
                n.measurement,
                if n.provisioned {
                    "provisioned"
                } else {
                    "not provisioned"
                }
            );
        }
        None => out.push_str("this node    no enclave\n"),
    }
    out
}

pub(crate) async fn lookup(url: &str, args: LookupArgs) -> Result<Output, Failure> {
    let client = client(url)?;
    let (Some(key_path), Some(platform)) = (&args.key, &args.platform) else {
        let view = client.merchant(&args.id).await?;
        return Ok(Output::new(human_lookup(&view), &view));
    };
    let anchor = match &args.genesis {
        Some(path) => {
            let genesis: Genesis = read_json(path, "genesis")?;
            Some(TrustAnchor::from_genesis(&genesis).ok_or_else(|| Failure {
                code: 1,
                message: format!(
                    "genesis {} has no enclave section: records of this chain cannot be looked up through an enclave",
                    path.display()
                ),
                output: None,
            })?)
        }
        None => None,
    };
    let key = keystore::load(key_path)?;
    let done = enclave::lookup(
        &client,
        key.secret_key(),
        &args.id,
        platform,
        anchor.as_ref(),
    )
    .await?;
    let a = &done.answer;
    let record = done.plaintext.as_ref().map(|p| enclave::display_record(p));
    let version = a.record.as_ref().map(|r| r.version);
    let mut human = String::new();
    let _ = writeln!(human, "merchant     {}", a.merchant_id);
    let _ = writeln!(human, "platform     {}", a.platform_id);
    match (&record, version) {
        (Some(text), Some(v)) => {
            let _ = writeln!(human, "version      {v}");
            let _ = writeln!(human, "record       {}", text.trim_end());
        }
        _ => {
            let _ = writeln!(
                human,
                "record       none ({} has no record for this merchant)",
                a.platform_id
            );
        }
    }
    let _ = writeln!(human, "others       {}", platform_list(&a.other_platforms));
    let _ = writeln!(
        human,
        "enclave      {} (measurement {}), answer verified",
        done.enclave.signer, done.enclave.measurement
    );
    let _ = writeln!(human, "height       {}", a.height);
    let doc = json!({
        "merchant_id": a.merchant_id,
        "platform_id": a.platform_id,
        "version": version,
        "record": record,
        "other_platforms": a.other_platforms,
        "enclave_signer": done.enclave.signer,
        "measurement": done.enclave.measurement,
        "ciphertext_hash": a.record.as_ref().map(|r| r.ciphertext_hash),
        "height": a.height,
    });
    Ok(Output::new(human, doc))
}

/// `record put`: seals `plaintext` on a chain with an enclave (unless `raw`), then sends the put.
pub(crate) async fn record_put(
    url: &str,
    send_args: &SendArgs,
    merchant: MerchantId,
    plaintext: Vec<u8>,
    raw: bool,
) -> Result<Output, Failure> {
    let client = client(url)?;
    let (payload, sealed) = if raw {
        (plaintext, None)
    } else {
        let sender = keystore::load(&send_args.key)?.public_key();
        let prepared = enclave::prepare_put(&client, &sender, &merchant, &plaintext, None).await?;
        (prepared.payload, prepared.sealed)
    };
    let call = Call::Registry(registry::Call::PutRecord {
        merchant_id: merchant.clone(),
        payload,
    });
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
    match send(&client, send_args, call, Some(&merchant)).await {
        Ok(out) => Ok(add(out)),
        Err(mut f) => {
            f.output = f.output.map(add);
            Err(f)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clap::Parser;

    use crate::{Cli, Command, RecordCmd};

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("paychain").chain(args.iter().copied()))
    }

    const MID: &str = "M0123456789ABCDEF0123";

    #[test]
    fn lookup_arguments() {
        match parse(&["lookup", MID]).unwrap().command {
            Command::Lookup(a) => assert!(a.key.is_none() && a.platform.is_none()),
            other => panic!("{other:?}"),
        }
        let full = ["lookup", MID, "--key", "k", "--platform", "platform-0"];
        match parse(&full).unwrap().command {
            Command::Lookup(a) => assert_eq!(a.platform.unwrap().as_str(), "platform-0"),
            other => panic!("{other:?}"),
        }
        assert!(parse(&[&full[..], &["--genesis", "g.json"]].concat()).is_ok());
        assert!(parse(&["lookup", MID, "--key", "k"]).is_err());
        assert!(parse(&["lookup", MID, "--platform", "platform-0"]).is_err());
        assert!(parse(&["lookup", MID, "--genesis", "g.json"]).is_err());
        assert!(parse(&["lookup", MID, "--key", "k", "--platform", "Bad_Id"]).is_err());
        assert!(parse(&["enclave", "status"]).is_ok());
        assert!(parse(&["enclave"]).is_err());
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
}
