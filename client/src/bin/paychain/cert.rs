//! `paychain cert get | verify | list`: transaction certificates, fetched from a node or verified
//! offline against the genesis validator set.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use paychain_client::contracts::certificate::CertificateView;
use paychain_client::contracts::crypto::Hash;
use paychain_client::contracts::genesis::Genesis;
use paychain_client::wallet::CertificatesView;
use serde_json::json;

use crate::args::{ReadArgs, WhoArgs};
use crate::input::read_json;
use crate::output::{Failure, Output};

#[derive(Debug, Subcommand)]
pub(crate) enum CertCmd {
    /// Fetch the certificate of a committed transaction (needs the next block committed).
    Get {
        /// Transaction hash.
        tx: Hash,
        #[command(flatten)]
        read: ReadArgs,
        /// Write the certificate (JSON) to this file.
        #[arg(short = 'o', long = "out")]
        out: Option<PathBuf>,
    },
    /// Verify a certificate offline against the genesis validator set: that the transaction was
    /// committed and what the chain decided. Exits 0 only for a successful transaction, 1 for a
    /// committed one the contract refused (unless --inclusion-only), 1 for a certificate that does
    /// not verify.
    Verify {
        /// Certificate file (JSON); checked against the pinned genesis (`--genesis`).
        file: PathBuf,
        /// Only check inclusion: exit 0 for a refused transaction too (the verdict is still printed).
        #[arg(long)]
        inclusion_only: bool,
    },
    /// List the payments and refunds of a payer (its wallets) or a payee (a merchant's key).
    List {
        #[command(flatten)]
        who: WhoArgs,
        /// At most this many, newest first (node default 100).
        #[arg(long)]
        limit: Option<usize>,
    },
}

pub(crate) async fn run(
    url: &str,
    cmd: CertCmd,
    genesis: Option<&std::path::Path>,
) -> Result<Output, Failure> {
    match cmd {
        CertCmd::Get { tx, read, out } => get(url, tx, &read, out).await,
        CertCmd::Verify {
            file,
            inclusion_only,
        } => {
            let genesis = genesis.ok_or_else(|| {
                Failure::usage(
                    "cert verify needs the chain's genesis: --genesis FILE (or PAYCHAIN_GENESIS)",
                )
            })?;
            verify(&file, genesis, inclusion_only)
        }
        CertCmd::List { who, limit } => list(url, who, limit).await,
    }
}

async fn get(
    url: &str,
    tx: Hash,
    read: &ReadArgs,
    out: Option<PathBuf>,
) -> Result<Output, Failure> {
    let view = read
        .client(&crate::args::rpc_client(url)?)?
        .certificate_view(&tx)
        .await?;
    let cert = &view.certificate;
    let text = serde_json::to_string_pretty(&view)
        .map_err(|e| Failure::chain(format!("cannot encode certificate: {e}")))?;
    let human = match &out {
        Some(path) => {
            std::fs::write(path, &text)
                .map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))?;
            format!(
                "certificate of tx {} (block {}) written to {}\n",
                tx,
                cert.header.height,
                path.display()
            ) + &disclosed(&view)
        }
        None => format!("{text}\n"),
    };
    Ok(Output::new(human, &view))
}

/// What a disclosure says, for people (empty without one).
fn disclosed(view: &CertificateView) -> String {
    match &view.disclosure {
        None => String::new(),
        Some(d) => format!(
            "disclosed    {} (the sealed call, opened for this reader; anyone given this file checks it against the certificate)\n",
            serde_json::to_string(&d.call).unwrap_or_default()
        ),
    }
}

/// Offline verification: no node is contacted. A certificate proves inclusion and the receipt the
/// chain committed; a refused transaction is reported as refused, and fails unless `inclusion_only`.
fn verify(file: &Path, genesis: &Path, inclusion_only: bool) -> Result<Output, Failure> {
    let view: CertificateView = read_json(file, "certificate")?;
    let cert = &view.certificate;
    let genesis: Genesis = read_json(genesis, "genesis")?;
    cert.verify(&genesis.chain_id, &genesis.validators)
        .map_err(|e| Failure::chain(format!("certificate does not verify: {e}")))?;
    // A disclosure (a chain with private state) must open the certificate's own sealed call.
    let disclosed_call = view
        .check_disclosure()
        .map_err(|e| Failure::chain(format!("disclosure does not match the certificate: {e}")))?;
    let succeeded = cert.receipt.code == 0;
    let verdict = if succeeded {
        "succeeded".to_string()
    } else {
        format!(
            "was REFUSED by the chain (code {}: {})",
            cert.receipt.code,
            cert.receipt
                .error
                .as_deref()
                .unwrap_or("no reason recorded")
        )
    };
    let human = format!(
        "certificate valid: tx {} committed in block {} of {} and {verdict}; signed by {} and {} of {} validators\n",
        cert.tx.hash(),
        cert.header.height,
        genesis.chain_id,
        cert.commit.signatures.len(),
        cert.next_commit.signatures.len(),
        genesis.validators.len()
    ) + &match disclosed_call {
        Some(call) => format!(
            "disclosure valid: the sealed call opens with the disclosed key to {}\n",
            serde_json::to_string(call).unwrap_or_default()
        ),
        None => String::new(),
    };
    let output = Output::new(
        human,
        json!({
            "valid": true,
            "succeeded": succeeded,
            "tx_hash": cert.tx.hash(),
            "height": cert.header.height,
            "receipt": cert.receipt,
            "disclosed_call": disclosed_call,
        }),
    );
    if succeeded || inclusion_only {
        return Ok(output);
    }
    Err(Failure {
        code: 1,
        message: format!(
            "the certificate is valid, but it proves that tx {} {verdict} (pass --inclusion-only to check inclusion alone)",
            cert.tx.hash()
        ),
        output: Some(output),
    })
}

async fn list(url: &str, who: WhoArgs, limit: Option<usize>) -> Result<Output, Failure> {
    let (key, client) = who.load(&crate::args::rpc_client(url)?)?;
    let v: CertificatesView = client.certificates(&key, limit).await?;
    let mut human = String::new();
    if let Some(m) = &v.merchant_id {
        let _ = writeln!(human, "merchant     {m}");
    }
    if v.certificates.is_empty() {
        human.push_str("no payments\n");
    }
    for c in &v.certificates {
        let kind = serde_json::to_value(c.kind)
            .ok()
            .and_then(|k| k.as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = writeln!(
            human,
            "{:>6}  {:<5} {:<7} {:<16} {}",
            c.height,
            c.role,
            kind,
            c.amount.to_string(),
            c.tx_hash
        );
    }
    if v.truncated {
        human.push_str("(older entries left out)\n");
    }
    human.push_str("fetch one with: paychain cert get TX -o cert.json\n");
    Ok(Output::new(human, &v))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::tests::parse;
    use paychain_client::contracts::crypto::PublicKey;

    #[test]
    fn list_needs_a_key_to_sign() {
        let pk = PublicKey([1; 32]).to_hex();
        assert!(parse(&["cert", "list", "--key", "k.json"]).is_ok());
        assert!(parse(&["cert", "list", "--key", "k.json", "--public-key", &pk]).is_ok());
        assert!(parse(&["cert", "list", "--public-key", &pk]).is_err());
        assert!(parse(&["cert", "list"]).is_err());
        assert!(parse(&["cert", "get", &PublicKey([2; 32]).to_hex()]).is_err());
    }
}
