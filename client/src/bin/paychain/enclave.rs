//! `paychain enclave status` and `paychain lookup` (plain, and through the node's enclave: verified
//! against its registered quote, then opened), over `paychain_client::enclave`.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use paychain_client::contracts::api::{EnclaveStatusView, MerchantView};
use paychain_client::contracts::crypto::PublicKey;
use paychain_client::contracts::ids::{MerchantId, PlatformId};
use paychain_client::enclave::{self, Pin};
use paychain_client::keystore;
use serde_json::json;

use crate::args::SendArgs;
use crate::output::{platform_list, Failure, Output};

#[derive(Debug, Subcommand)]
pub(crate) enum EnclaveCmd {
    /// Show the chain's enclave configuration, registered enclaves and the node's own enclave.
    Status,
    /// As a platform (--key is its member key): read its audit trail on this node (every lookup of
    /// its records: requester, merchant, height, outcome; no plaintext) and check the hash chain.
    Audit {
        /// The platform's member key file.
        #[arg(long, value_name = "KEYFILE")]
        key: PathBuf,
    },
    /// As a platform (--key is its member key): deregister one of its enclaves (its signer key, from
    /// `enclave status`), e.g. a decommissioned machine's.
    Deregister {
        #[command(flatten)]
        send: SendArgs,
        /// The enclave's signer key (64 hex characters).
        #[arg(long, value_name = "HEX")]
        signer: PublicKey,
    },
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
}

pub(crate) async fn run(url: &str, cmd: EnclaveCmd) -> Result<Output, Failure> {
    match cmd {
        EnclaveCmd::Status => {
            let view = crate::args::rpc_client(url)?.enclave().await?;
            Ok(Output::new(human_enclave(&view), &view))
        }
        EnclaveCmd::Deregister { send, signer } => {
            let key = send.load_key()?;
            let client = crate::args::rpc_client(url)?;
            let sent =
                enclave::deregister(&client, key.secret_key(), signer, send.wait.wait()).await?;
            crate::output::sent(sent, None)
        }
        EnclaveCmd::Audit { key } => {
            let key = keystore::load(&key)?;
            let client = crate::args::rpc_client(url)?;
            let audit = enclave::fetch_own_audit(&client, key.secret_key()).await?;
            let mut human = format!(
                "platform {} on enclave {}: {} entries, hash chain verified (head {})\n",
                audit.platform_id,
                audit.enclave,
                audit.entries.len(),
                audit.head_hash
            );
            for e in &audit.entries {
                let _ = writeln!(
                    human,
                    "{:>6}  height {:>6}  {}  merchant {}  requester {}",
                    e.seq, e.height, e.outcome, e.merchant_id, e.requester
                );
            }
            Ok(Output::new(human, &audit))
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

/// The genesis the client pins (`--genesis`, `PAYCHAIN_GENESIS`, or `~/.paychain/genesis.json`):
/// without one, nothing that trusts a node's keys runs.
pub(crate) fn pin(genesis: Option<&std::path::Path>) -> Result<Pin, Failure> {
    let default = std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".paychain").join("genesis.json"))
        .filter(|p| p.is_file());
    let Some(path) = genesis.map(PathBuf::from).or(default) else {
        return Err(Failure::usage(
            "no genesis pinned: pass --genesis FILE or set PAYCHAIN_GENESIS to the consortium's genesis.json (or put it at ~/.paychain/genesis.json); the client checks every node against it and never takes a node's word for keys",
        ));
    };
    Ok(Pin::load(&path)?)
}

pub(crate) async fn lookup(
    url: &str,
    args: LookupArgs,
    genesis: Option<&std::path::Path>,
) -> Result<Output, Failure> {
    let client = crate::args::rpc_client(url)?;
    let (Some(key_path), Some(platform)) = (&args.key, &args.platform) else {
        // The public entry: from state proven under the pinned genesis when there is one (the
        // node's word otherwise: nothing is sealed or paid on it).
        let view = match pin(genesis) {
            Ok(pin) => {
                let height = client.status().await?.height;
                paychain_client::pay::proven_merchant(&client, &pin, height, &args.id)
                    .await?
                    .ok_or_else(|| Failure::chain(format!("unknown merchant {}", args.id)))?
            }
            Err(_) => client.merchant(&args.id).await?,
        };
        return Ok(Output::new(human_lookup(&view), &view));
    };
    let pin = pin(genesis)?;
    let key = keystore::load(key_path)?;
    let done = enclave::lookup(&client, key.secret_key(), &args.id, platform, &pin).await?;
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

fn human_lookup(v: &MerchantView) -> String {
    let m = &v.merchant;
    let mut out = format!(
        "{}  {}, {} ({}), mcc {}\n",
        m.id, m.name, m.city, m.country, m.mcc
    );
    match v.platforms.len() {
        0 => out.push_str("served by no platform\n"),
        n => {
            let _ = writeln!(
                out,
                "served by {n} platform{}:",
                if n == 1 { "" } else { "s" }
            );
            for p in &v.platforms {
                let _ = writeln!(out, "  {p}");
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::tests::{parse, MID};
    use crate::Command;

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
        assert!(parse(&["lookup", MID, "--key", "k", "--platform", "Bad_Id"]).is_err());
        assert!(parse(&["enclave", "status"]).is_ok());
        assert!(parse(&["enclave"]).is_err());
    }
}
