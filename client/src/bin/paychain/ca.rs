//! `paychain ca init | propose | issue | consent | register | revoke | show`: the consortium CA,
//! over `paychain_client::ca`. Certificates and the CA key are PEM files other tools read
//! (`openssl x509 -text`, `openssl verify -CAfile ca.pem party.pem`, `openssl pkey`).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use paychain_client::ca::{self, NewParty};
use paychain_client::contracts::ca::{self as rules, PartyRole, Serial, MAX_CERT_BYTES};
use paychain_client::contracts::crypto::{PublicKey, Signature};
use paychain_client::contracts::enclave::KxPublicKey;
use paychain_client::contracts::ids::PlatformId;
use serde_json::json;

use crate::args::SendArgs;
use crate::input::read_file_bounded;
use crate::output::{self, Failure, Output};

#[derive(Debug, Subcommand)]
pub(crate) enum CaCmd {
    /// Make a platform's CA: a new Ed25519 key (ca.key, PKCS#8 PEM, mode 0600) and its
    /// self-signed certificate (ca.pem) in --out-dir.
    Init {
        /// The platform (the certificate's subject O).
        #[arg(long, value_name = "PLATFORM")]
        platform: PlatformId,
        /// Directory for ca.key and ca.pem (created; existing files are not overwritten).
        #[arg(long, value_name = "DIR")]
        out_dir: PathBuf,
        /// The subject's common name (default "<platform> CA").
        #[arg(long, value_name = "NAME")]
        common_name: Option<String>,
        /// Validity from now, in days.
        #[arg(long, value_name = "DAYS", default_value_t = 3650)]
        days: u32,
    },
    /// Propose to governance to approve a platform's CA certificate (or with --revoke, to revoke
    /// it); other governors vote with `paychain gov vote`.
    Propose {
        #[command(flatten)]
        send: SendArgs,
        /// The platform.
        #[arg(long, value_name = "PLATFORM")]
        platform: PlatformId,
        /// The CA certificate (PEM) to approve.
        #[arg(
            long,
            value_name = "PEMFILE",
            required_unless_present = "revoke",
            conflicts_with = "revoke"
        )]
        cert: Option<PathBuf>,
        /// Propose to revoke the platform's CA instead.
        #[arg(long)]
        revoke: bool,
    },
    /// Issue a party certificate (PEM) with the platform's CA.
    Issue(Box<IssueArgs>),
    /// The party signs its consent to the registration of its certificate (prints the signature
    /// the platform passes to `ca register`).
    Consent {
        /// The party's key file (its key must be the certificate's).
        #[arg(long, value_name = "KEYFILE")]
        key: PathBuf,
        /// The party certificate (PEM).
        #[arg(long, value_name = "PEMFILE")]
        cert: PathBuf,
    },
    /// Register a party certificate on chain (the platform's member key).
    Register {
        #[command(flatten)]
        send: SendArgs,
        /// The party certificate (PEM).
        #[arg(long, value_name = "PEMFILE")]
        cert: PathBuf,
        /// The party's consent (`ca consent`), 128 hex characters.
        #[arg(long, value_name = "HEX")]
        party_signature: Signature,
    },
    /// Revoke one of the platform's serials (on its on-chain revocation list).
    Revoke {
        #[command(flatten)]
        send: SendArgs,
        /// The serial, hex.
        #[arg(long, value_name = "HEX")]
        serial: Serial,
    },
    /// Show a party's registered certificate, a platform's CA, or whether a serial is revoked.
    Show(ShowArgs),
}

#[derive(Debug, Args)]
pub(crate) struct IssueArgs {
    /// The CA key (PKCS#8 PEM, from `ca init`).
    #[arg(long, value_name = "PEMFILE")]
    ca_key: PathBuf,
    /// The CA certificate (PEM).
    #[arg(long, value_name = "PEMFILE")]
    ca_cert: PathBuf,
    /// The party's Ed25519 signing key.
    #[arg(long, value_name = "PUBKEY")]
    party_key: PublicKey,
    /// The party's X25519 encryption key, 64 hex characters.
    #[arg(long, value_name = "HEX", value_parser = parse_kx)]
    encryption_key: KxPublicKey,
    /// user or merchant.
    #[arg(long, value_name = "ROLE")]
    role: PartyRole,
    /// The subject's common name (default "<role> <first 16 hex of the key>").
    #[arg(long, value_name = "NAME")]
    common_name: Option<String>,
    /// Serial, hex (random when left out).
    #[arg(long, value_name = "HEX")]
    serial: Option<Serial>,
    /// Validity from now, in days.
    #[arg(long, value_name = "DAYS", default_value_t = 365)]
    days: u32,
    /// Where to write the certificate (PEM; not overwritten).
    #[arg(long, short = 'o', value_name = "PEMFILE")]
    out: PathBuf,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false, id = "what")]
pub(crate) struct ShowWhat {
    /// The party key whose certificate to show.
    #[arg(long, value_name = "PUBKEY")]
    party: Option<PublicKey>,
    /// The platform whose CA to show (with --serial: whether that serial is revoked).
    #[arg(long, value_name = "PLATFORM")]
    platform: Option<PlatformId>,
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    #[command(flatten)]
    what: ShowWhat,
    /// With --platform: the serial to look up on its revocation list.
    #[arg(long, value_name = "HEX", requires = "platform")]
    serial: Option<Serial>,
    /// Also write the certificate's PEM to this file.
    #[arg(long, value_name = "PEMFILE", conflicts_with = "serial")]
    pem_out: Option<PathBuf>,
}

fn parse_kx(s: &str) -> Result<KxPublicKey, String> {
    let b = hex::decode(s.trim_start_matches("0x"))
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| "expected 64 hex characters".to_owned())?;
    Ok(KxPublicKey(b))
}

impl From<ca::Error> for Failure {
    fn from(e: ca::Error) -> Failure {
        match e {
            ca::Error::Rpc(e) => e.into(),
            ca::Error::Tx(e) => e.into(),
            ca::Error::Governance(e) => e.into(),
            e => Failure::usage(e),
        }
    }
}

impl From<rules::Error> for Failure {
    fn from(e: rules::Error) -> Failure {
        Failure::usage(e)
    }
}

fn read_cert(path: &Path) -> Result<Vec<u8>, Failure> {
    let bytes = read_file_bounded(path, 2 * MAX_CERT_BYTES, "certificate")?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Failure::usage(format!("{} is not a PEM file", path.display())))?;
    Ok(rules::from_pem(text)?)
}

/// Writes `contents` to a new file (never over an existing one), with `mode` on Unix.
fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), Failure> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts
        .open(path)
        .map_err(|e| Failure::usage(format!("cannot create {}: {e}", path.display())))?;
    f.write_all(contents)
        .map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(crate) async fn run(url: &str, cmd: CaCmd) -> Result<Output, Failure> {
    match cmd {
        CaCmd::Init {
            platform,
            out_dir,
            common_name,
            days,
        } => {
            let (nb, na) = ca::validity(now_s(), days)?;
            let key = ca::random_key();
            let cn = common_name.unwrap_or_else(|| format!("{platform} CA"));
            let der = ca::new_ca(&key, &platform, &cn, nb, na)?;
            std::fs::create_dir_all(&out_dir)
                .map_err(|e| Failure::usage(format!("cannot create {}: {e}", out_dir.display())))?;
            let key_path = out_dir.join("ca.key");
            let cert_path = out_dir.join("ca.pem");
            if cert_path.exists() {
                return Err(Failure::usage(format!(
                    "{} exists: not overwritten",
                    cert_path.display()
                )));
            }
            write_new(&key_path, ca::key_to_pem(&key).as_bytes(), 0o600)?;
            write_new(&cert_path, rules::to_pem(&der).as_bytes(), 0o644)?;
            let info = rules::decode_ca_cert(&der)?;
            let fp = paychain_client::contracts::crypto::Hash::digest(&der);
            let human = format!(
                "CA key       {}\nCA cert      {}\nsubject      {}\npublic key   {}\nfingerprint  {fp}\nvalid        {} .. {}\n",
                key_path.display(),
                cert_path.display(),
                info.subject,
                info.public_key,
                output::format_time_ms(info.not_before_s * 1000),
                output::format_time_ms(info.not_after_s * 1000),
            );
            Ok(Output::new(
                human,
                json!({
                    "key_file": key_path,
                    "cert_file": cert_path,
                    "subject": info.subject,
                    "public_key": info.public_key,
                    "fingerprint": fp,
                    "not_before_s": info.not_before_s,
                    "not_after_s": info.not_after_s,
                }),
            ))
        }
        CaCmd::Propose {
            send,
            platform,
            cert,
            revoke,
        } => {
            let client = crate::args::rpc_client(url)?;
            let key = send.load_key()?;
            let p = match (&cert, revoke) {
                (_, true) => {
                    ca::propose_ca_revocation(
                        &client,
                        key.secret_key(),
                        &platform,
                        send.wait.wait(),
                    )
                    .await?
                }
                (Some(path), false) => {
                    let der = read_cert(path)?;
                    ca::propose_ca(&client, key.secret_key(), &platform, &der, send.wait.wait())
                        .await?
                }
                (None, false) => return Err(Failure::usage("--cert or --revoke is needed")),
            };
            let (id, executed) = (p.proposal_id, p.executed);
            let out = output::sent(p.sent, None)?;
            let status = if executed { "executed" } else { "open" };
            let lines = match &id {
                Some(id) => format!("proposal     {id} ({status})\n"),
                None => String::new(),
            };
            Ok(out.extend(
                json!({ "proposal_id": id, "proposal_status": status }),
                &lines,
            ))
        }
        CaCmd::Issue(a) => {
            let key_pem = read_file_bounded(&a.ca_key, ca::MAX_KEY_PEM_BYTES, "CA key")?;
            let key_pem = zeroize::Zeroizing::new(key_pem);
            let key_text = std::str::from_utf8(&key_pem)
                .map_err(|_| Failure::usage("the CA key is not a PEM file"))?;
            let ca_key = ca::key_from_pem(key_text)?;
            let ca_der = read_cert(&a.ca_cert)?;
            let (nb, na) = ca::validity(now_s(), a.days)?;
            let common_name = a
                .common_name
                .clone()
                .unwrap_or_else(|| format!("{} {}", a.role, &a.party_key.to_hex()[..16]));
            let der = ca::issue(
                &ca_key,
                &ca_der,
                &NewParty {
                    party_key: a.party_key,
                    encryption_key: a.encryption_key,
                    role: a.role,
                    common_name,
                    serial: a.serial.clone(),
                    not_before_s: nb,
                    not_after_s: na,
                },
            )?;
            write_new(&a.out, rules::to_pem(&der).as_bytes(), 0o644)?;
            let info = rules::decode_party_cert(&der)?;
            let human = format!(
                "certificate  {}\nsubject      {}\nparty        {}\nrole         {}\nplatform     {}\nserial       {}\nvalid        {} .. {}\n",
                a.out.display(),
                info.subject,
                info.party_key,
                info.role,
                info.platform,
                info.serial,
                output::format_time_ms(info.not_before_s * 1000),
                output::format_time_ms(info.not_after_s * 1000),
            );
            Ok(Output::new(
                human,
                json!({
                    "cert_file": a.out,
                    "subject": info.subject,
                    "party": info.party_key,
                    "encryption_key": info.encryption_key,
                    "role": info.role,
                    "platform": info.platform,
                    "serial": info.serial,
                    "not_before_s": info.not_before_s,
                    "not_after_s": info.not_after_s,
                }),
            ))
        }
        CaCmd::Consent { key, cert } => {
            let client = crate::args::rpc_client(url)?;
            let key = paychain_client::keystore::load(&key)?;
            let der = read_cert(&cert)?;
            let sig = ca::consent(&client, key.secret_key(), &der).await?;
            Ok(Output::new(
                format!("party signature  {sig}\n"),
                json!({ "party_signature": sig }),
            ))
        }
        CaCmd::Register {
            send,
            cert,
            party_signature,
        } => {
            let client = crate::args::rpc_client(url)?;
            let key = send.load_key()?;
            let der = read_cert(&cert)?;
            let sent = ca::register(
                &client,
                key.secret_key(),
                &der,
                party_signature,
                send.wait.wait(),
            )
            .await?;
            output::sent(sent, None)
        }
        CaCmd::Revoke { send, serial } => {
            let client = crate::args::rpc_client(url)?;
            let key = send.load_key()?;
            let sent = ca::revoke(&client, key.secret_key(), serial, send.wait.wait()).await?;
            output::sent(sent, None)
        }
        CaCmd::Show(a) => show(url, a).await,
    }
}

async fn show(url: &str, a: ShowArgs) -> Result<Output, Failure> {
    let client = crate::args::rpc_client(url)?;
    let write_pem = |pem: &str| -> Result<(), Failure> {
        match &a.pem_out {
            Some(path) => write_new(path, pem.as_bytes(), 0o644),
            None => Ok(()),
        }
    };
    if let Some(party) = &a.what.party {
        let v = client.party_cert(party).await?;
        write_pem(&v.pem)?;
        let r = &v.record;
        let status = match &v.invalid {
            None => "valid".to_owned(),
            Some(why) => format!("INVALID (code {}): {}", why.code, why.message),
        };
        let human = format!(
            "party        {}\nrole         {}\nplatform     {}\nserial       {}\nsubject      {}\nencryption   {}\nvalid        {} .. {}\nregistered   at height {}\nstatus       {status}\n{}",
            r.party,
            r.role,
            r.platform,
            r.serial,
            r.subject,
            r.encryption_key,
            output::format_time_ms(r.not_before_s * 1000),
            output::format_time_ms(r.not_after_s * 1000),
            r.registered_height,
            v.pem,
        );
        return Ok(Output::new(human, &v));
    }
    let Some(platform) = &a.what.platform else {
        return Err(Failure::usage("--party or --platform is needed"));
    };
    if let Some(serial) = &a.serial {
        let v = client.ca_revocation(platform, serial).await?;
        let human = match &v.revocation {
            Some(r) => format!(
                "serial {} of {}: REVOKED at height {} ({})\n",
                v.serial,
                v.platform,
                r.height,
                output::format_time_ms(r.time_ms)
            ),
            None => format!("serial {} of {}: not revoked\n", v.serial, v.platform),
        };
        return Ok(Output::new(human, &v));
    }
    let v = client.platform_ca(platform).await?;
    write_pem(&v.pem)?;
    let r = &v.record;
    let status = match r.revoked_height {
        None => format!(
            "approved at height {} (proposal {})",
            r.approved_height, r.proposal
        ),
        Some(h) => format!("REVOKED at height {h}"),
    };
    let human = format!(
        "platform     {}\nsubject      {}\nCA key       {}\nvalid        {} .. {}\nstatus       {status}\n{}",
        r.platform,
        r.subject,
        r.public_key,
        output::format_time_ms(r.not_before_s * 1000),
        output::format_time_ms(r.not_after_s * 1000),
        v.pem,
    );
    Ok(Output::new(human, &v))
}

/// Issues a CA and a party certificate as the CLI writes them and has `openssl` check them: `x509
/// -text -noout` prints them, `verify -CAfile ca.pem party.pem` accepts the chain, `pkey` reads the
/// CA key. Skipped (with a message) where `openssl` is not installed.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::tests::parse;
    use std::process::Command;

    #[test]
    fn ca_arguments() {
        let pk = PublicKey([1; 32]).to_hex();
        assert!(parse(&["ca", "init", "--platform", "plat-a", "--out-dir", "d"]).is_ok());
        assert!(parse(&["ca", "init", "--platform", "Bad!", "--out-dir", "d"]).is_err());
        assert!(parse(&[
            "ca",
            "propose",
            "--key",
            "k",
            "--platform",
            "p",
            "--cert",
            "c"
        ])
        .is_ok());
        assert!(parse(&["ca", "propose", "--key", "k", "--platform", "p", "--revoke"]).is_ok());
        assert!(parse(&["ca", "propose", "--key", "k", "--platform", "p"]).is_err());
        assert!(parse(&[
            "ca",
            "propose",
            "--key",
            "k",
            "--platform",
            "p",
            "--revoke",
            "--cert",
            "c"
        ])
        .is_err());
        let enc = "11".repeat(32);
        let issue = [
            "ca",
            "issue",
            "--ca-key",
            "k",
            "--ca-cert",
            "c",
            "--party-key",
            &pk,
            "--encryption-key",
            &enc,
            "--role",
            "user",
            "-o",
            "p.pem",
        ];
        assert!(parse(&issue).is_ok());
        let mut bad_role = issue;
        bad_role[11] = "admin";
        assert!(parse(&bad_role).is_err());
        assert!(parse(&["ca", "revoke", "--key", "k", "--serial", "0a"]).is_ok());
        assert!(parse(&["ca", "revoke", "--key", "k", "--serial", "zz"]).is_err());
        assert!(parse(&["ca", "show", "--party", &pk]).is_ok());
        assert!(parse(&["ca", "show", "--platform", "p", "--serial", "01"]).is_ok());
        assert!(parse(&["ca", "show", "--serial", "01"]).is_err());
        assert!(parse(&["ca", "show", "--party", &pk, "--platform", "p"]).is_err());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn openssl_accepts_the_pem_files() {
        if Command::new("openssl").arg("version").output().is_err() {
            eprintln!("SKIPPED openssl_accepts_the_pem_files: no openssl binary on PATH");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let ca_dir = dir.path().join("ca");
        let out = run(
            "http://127.0.0.1:9",
            CaCmd::Init {
                platform: PlatformId::new("plat-a").unwrap(),
                out_dir: ca_dir.clone(),
                common_name: None,
                days: 30,
            },
        )
        .await
        .unwrap();
        drop(out);
        let party = paychain_client::contracts::crypto::SecretKey::from_seed([5; 32]);
        let enc = paychain_client::contracts::enclave::KxSecret::from_seed([6; 32]).public_key();
        let party_pem = dir.path().join("party.pem");
        let cmd = CaCmd::Issue(Box::new(IssueArgs {
            ca_key: ca_dir.join("ca.key"),
            ca_cert: ca_dir.join("ca.pem"),
            party_key: party.public_key(),
            encryption_key: enc,
            role: PartyRole::Merchant,
            common_name: Some("Noodle House".into()),
            serial: Some("1f2e".parse().unwrap()),
            days: 10,
            out: party_pem.clone(),
        }));
        run("http://127.0.0.1:9", cmd).await.unwrap();
        // Files are never overwritten.
        let again = CaCmd::Init {
            platform: PlatformId::new("plat-a").unwrap(),
            out_dir: ca_dir.clone(),
            common_name: None,
            days: 30,
        };
        assert!(run("http://127.0.0.1:9", again).await.is_err());

        let ossl = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let text = ossl(&["x509", "-text", "-noout", "-in", "ca/ca.pem"]);
        assert!(
            text.contains("Subject: O = plat-a, CN = plat-a CA"),
            "{text}"
        );
        assert!(text.contains("CA:TRUE"), "{text}");
        assert!(text.contains("ED25519"), "{text}");
        let text = ossl(&["x509", "-text", "-noout", "-in", "party.pem"]);
        assert!(
            text.contains("Issuer: O = plat-a, CN = plat-a CA"),
            "{text}"
        );
        assert!(
            text.contains("Subject: O = plat-a, CN = Noodle House"),
            "{text}"
        );
        assert!(text.contains("Serial Number: 7982 (0x1f2e)"), "{text}");
        assert!(text.contains("1.3.6.1.3.7269.1.1"), "{text}");
        let verified = ossl(&["verify", "-CAfile", "ca/ca.pem", "party.pem"]);
        assert!(verified.contains("party.pem: OK"), "{verified}");
        // The CA key is a PKCS#8 Ed25519 key openssl reads, and it is the certificate's key.
        let pub_from_key = ossl(&["pkey", "-in", "ca/ca.key", "-pubout"]);
        let pub_from_cert = ossl(&["x509", "-in", "ca/ca.pem", "-noout", "-pubkey"]);
        assert_eq!(pub_from_key, pub_from_cert);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(ca_dir.join("ca.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A certificate of another CA does not verify against this one.
        let other = dir.path().join("other");
        run(
            "http://127.0.0.1:9",
            CaCmd::Init {
                platform: PlatformId::new("plat-a").unwrap(),
                out_dir: other.clone(),
                common_name: None,
                days: 30,
            },
        )
        .await
        .unwrap();
        let out = Command::new("openssl")
            .args(["verify", "-CAfile", "other/ca.pem", "party.pem"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(!out.status.success(), "a forged CA verified");
    }
}
