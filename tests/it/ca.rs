//! The consortium CA end to end through the `paychain` CLI on a 2-node network (two platforms,
//! both governors): platform-0 makes its CA, governance approves it (platform-0 proposes through
//! node 0, platform-1 votes through node 1), platform-0 issues a user certificate, the user
//! consents, platform-0 registers it; node 1 shows it valid with the PEM platform-0 wrote; a
//! stranger key and platform-1 (another platform, its own CA never approved) are refused; platform-0
//! revokes the serial and both the revocation list and the party's view say so.
//!
//! Every step waits on its receipt or polls a read with a deadline; nothing sleeps.

use anyhow::{ensure, Context, Result};
use paychain_contracts::enclave::KxSecret;
use paychain_tests::Testnet;
use serde_json::Value;

use crate::collection::{new_key, p, refused, s};
use crate::PROGRESS;

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn n2_ca_approve_issue_register_revoke() -> Result<()> {
    let net = Testnet::start(2)?;
    let work = tempfile::tempdir()?;
    let dir = work.path();
    let p0_path = net.platform_key_path(0);
    let p0 = p(&p0_path)?;
    let p1_path = net.platform_key_path(1);
    let p1 = p(&p1_path)?;

    // platform-0 makes its CA (offline).
    let ca0 = dir.join("ca0");
    let init = net.cli_json(
        0,
        &[
            "ca",
            "init",
            "--platform",
            "platform-0",
            "--out-dir",
            p(&ca0)?,
        ],
    )?;
    ensure!(
        s(&init, "/subject")? == "CN=platform-0 CA,O=platform-0",
        "{init}"
    );
    let ca_pem = std::fs::read_to_string(ca0.join("ca.pem"))?;

    // Nothing is approved yet.
    let err = refused(&net, 1, &["ca", "show", "--platform", "platform-0"])?;
    ensure!(err.contains("platform-0 has no approved CA"), "{err}");

    // Governance: 2 of 2 governors. platform-0 proposes, platform-1 approves.
    let prop = net.cli_json(
        0,
        &[
            "ca",
            "propose",
            "--key",
            p0,
            "--platform",
            "platform-0",
            "--cert",
            p(&ca0.join("ca.pem"))?,
        ],
    )?;
    ensure!(prop["proposal_status"] == "open", "{prop}");
    let id = prop["proposal_id"]
        .as_u64()
        .context("proposal id")?
        .to_string();
    net.cli_json(
        1,
        &["gov", "vote", "--key", p1, "--proposal", &id, "--approve"],
    )?;
    let shown = net.cli_json_until(
        1,
        &["ca", "show", "--platform", "platform-0"],
        PROGRESS,
        |v| v["pem"].is_string(),
    )?;
    ensure!(shown["pem"] == ca_pem.as_str(), "{shown}");
    ensure!(shown["revoked_height"].is_null(), "{shown}");
    ensure!(shown["proposal"].as_u64() == id.parse().ok(), "{shown}");

    // A user, with an X25519 encryption key, certified by platform-0.
    let (user_file, user_key) = new_key(&net, dir, "user")?;
    let enc = KxSecret::from_seed([7; 32]).public_key().to_string();
    let party_pem = dir.join("user.pem");
    let issued = net.cli_json(
        0,
        &[
            "ca",
            "issue",
            "--ca-key",
            p(&ca0.join("ca.key"))?,
            "--ca-cert",
            p(&ca0.join("ca.pem"))?,
            "--party-key",
            &user_key,
            "--encryption-key",
            &enc,
            "--role",
            "user",
            "--days",
            "30",
            "-o",
            p(&party_pem)?,
        ],
    )?;
    let serial = s(&issued, "/serial")?;
    let consent = net.cli_json(
        0,
        &[
            "ca",
            "consent",
            "--key",
            &user_file,
            "--cert",
            p(&party_pem)?,
        ],
    )?;
    let sig = s(&consent, "/party_signature")?;
    let register = |key: &str, pem: &str, sig: &str| {
        vec![
            "ca".to_owned(),
            "register".to_owned(),
            "--key".to_owned(),
            key.to_owned(),
            "--cert".to_owned(),
            pem.to_owned(),
            "--party-signature".to_owned(),
            sig.to_owned(),
        ]
    };

    // A stranger (a key the chain does not know) cannot register it: refused at the door.
    let (stranger, _) = new_key(&net, dir, "stranger")?;
    let args = register(&stranger, p(&party_pem)?, &sig);
    let err = refused(&net, 1, &refs(&args))?;
    ensure!(err.contains("is not known to this chain"), "{err}");
    // Nor can platform-1: the certificate is under platform-0's CA.
    let args = register(p1, p(&party_pem)?, &sig);
    let err = refused(&net, 1, &refs(&args))?;
    ensure!(
        err.contains("certificate is for platform platform-0, sender is platform-1"),
        "{err}"
    );
    // platform-1's own CA was never approved: what it issues does not register.
    let ca1 = dir.join("ca1");
    net.cli_json(
        1,
        &[
            "ca",
            "init",
            "--platform",
            "platform-1",
            "--out-dir",
            p(&ca1)?,
        ],
    )?;
    let (other_file, other_key) = new_key(&net, dir, "other")?;
    let other_pem = dir.join("other.pem");
    net.cli_json(
        1,
        &[
            "ca",
            "issue",
            "--ca-key",
            p(&ca1.join("ca.key"))?,
            "--ca-cert",
            p(&ca1.join("ca.pem"))?,
            "--party-key",
            &other_key,
            "--encryption-key",
            &enc,
            "--role",
            "merchant",
            "-o",
            p(&other_pem)?,
        ],
    )?;
    let other_sig = s(
        &net.cli_json(
            1,
            &[
                "ca",
                "consent",
                "--key",
                &other_file,
                "--cert",
                p(&other_pem)?,
            ],
        )?,
        "/party_signature",
    )?;
    let args = register(p1, p(&other_pem)?, &other_sig);
    let err = refused(&net, 1, &refs(&args))?;
    ensure!(err.contains("platform-1 has no approved CA"), "{err}");
    // platform-0 with a consent signed by another key than the certified one.
    let args = register(p0, p(&party_pem)?, &other_sig);
    let err = refused(&net, 0, &refs(&args))?;
    ensure!(err.contains("not signed by the certified key"), "{err}");

    // platform-0 registers it; node 1 shows it, valid, with the PEM platform-0 wrote.
    net.cli_json(0, &refs(&register(p0, p(&party_pem)?, &sig)))?;
    let view = net.cli_json_until(1, &["ca", "show", "--party", &user_key], PROGRESS, |v| {
        v["valid"] == true
    })?;
    ensure!(
        view["pem"] == std::fs::read_to_string(&party_pem)?.as_str(),
        "{view}"
    );
    ensure!(
        view["platform"] == "platform-0"
            && view["role"] == "user"
            && view["serial"] == serial.as_str(),
        "{view}"
    );
    ensure!(view["encryption_key"] == enc.as_str(), "{view}");

    // platform-0 revokes the serial: on its list, and the party's certificate is no longer valid.
    net.cli_json(0, &["ca", "revoke", "--key", p0, "--serial", &serial])?;
    let rev = net.cli_json_until(
        1,
        &[
            "ca",
            "show",
            "--platform",
            "platform-0",
            "--serial",
            &serial,
        ],
        PROGRESS,
        |v| v["revoked"] == true,
    )?;
    ensure!(rev["party"] == user_key.as_str(), "{rev}");
    let view: Value = net.cli_json(1, &["ca", "show", "--party", &user_key])?;
    ensure!(view["valid"] == false, "{view}");
    ensure!(view["invalid"]["code"] == 733, "{view}");
    // Another platform's list is its own.
    let other = net.cli_json(
        1,
        &[
            "ca",
            "show",
            "--platform",
            "platform-1",
            "--serial",
            &serial,
        ],
    )?;
    ensure!(other["revoked"] == false, "{other}");
    Ok(())
}
