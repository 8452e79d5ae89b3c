//! The consortium CA end to end through the `paychain` CLI on a 2-node network (two platforms,
//! both governors): platform-0 makes its CA, governance approves it (platform-0 proposes through
//! node 0, platform-1 votes through node 1), platform-0 issues a user certificate, the user
//! consents, platform-0 registers it; node 1 shows it valid with the PEM platform-0 wrote; a
//! stranger key and platform-1 (another platform, its own CA never approved) are refused; platform-0
//! revokes the serial and both the revocation list and the party's view say so. On the way, the
//! certificates gate wallets and payments: a user without a certificate gets no wallet (741), a
//! payment to an uncertified merchant is refused (741) until platform-0 certifies it, and once the
//! payer's serial is revoked it neither pays from its wallet nor opens another (733).
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

    // Certificates gate wallets and payments (docs/ca.md). platform-0 becomes a wallet host and
    // verifies two users: the certified one and one without a certificate.
    net.qualify_wallet_host(0)?;
    let (_, plain_key) = new_key(&net, dir, "uncertified")?;
    for (name, key) in [("Li Lei", &user_key), ("Han Meimei", &plain_key)] {
        net.cli_json(
            0,
            &[
                "wallet",
                "verify-user",
                "--key",
                p0,
                "--user",
                key,
                "--name",
                name,
                "--id-number",
                "110101199003074512",
                "--phone",
                "+8613800138000",
            ],
        )?;
    }
    let open = |user: &str, currency: &str| {
        [
            "wallet",
            "open",
            "--key",
            p0,
            "--user",
            user,
            "--currency",
            currency,
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let (err, out) = failed_tx(&net, 0, &refs(&open(&plain_key, "CNY")))?;
    ensure!(out["receipt"]["code"] == 741, "{out}");
    ensure!(
        err.contains(&format!("wallet owner {plain_key} is not certified"))
            && err.contains("holds no registered certificate"),
        "{err}"
    );
    let opened = net.cli_json(0, &refs(&open(&user_key, "CNY")))?;
    let wallet = s(&opened, "/wallet_id")?;

    // A merchant registered, acquired and accepting platform-0, not yet certified.
    let (mkey_file, mkey) = new_key(&net, dir, "merchant")?;
    let reg = net.cli_json(
        0,
        &[
            "merchant",
            "register",
            "--key",
            p0,
            "--name",
            "Cert Noodles",
            "--city",
            "Shanghai",
            "--mcc",
            "5812",
            "--country",
            "CN",
            "--merchant-key",
            &mkey,
        ],
    )?;
    let mid = s(&reg, "/merchant_id")?;
    let info = dir.join("record.json");
    std::fs::write(
        &info,
        paychain_tests::acquiring_record("48020000", "P0-CERT"),
    )?;
    net.cli_json(
        0,
        &[
            "record",
            "put",
            "--key",
            p0,
            "--merchant",
            &mid,
            "--info",
            p(&info)?,
        ],
    )?;
    net.cli_json(
        0,
        &[
            "merchant",
            "accept",
            "--key",
            &mkey_file,
            "--platform",
            "platform-0",
        ],
    )?;
    let payer = paychain_tests::load_key(std::path::Path::new(&user_file))?;
    let pay = |order: &str| pay_rpc(&net, &payer, &wallet, &mid, order);
    let r = pay("CA-1")?;
    ensure!(r["code"] == 741, "{r}");
    let e = r["error"].as_str().unwrap_or_default();
    ensure!(
        e.starts_with(&format!("merchant {mid} {mkey} is not certified")),
        "{e}"
    );
    // platform-0 certifies the merchant: both certificates now pass, the empty wallet does not.
    certify_cli(&net, &ca0, p0, (&mkey_file, &mkey), "merchant")?;
    let r = pay("CA-2")?;
    ensure!(r["code"] == 327, "{r}");

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

    // The revoked user no longer pays from the wallet it opened, nor opens another.
    let r = pay("CA-3")?;
    ensure!(r["code"] == 733, "{r}");
    let e = r["error"].as_str().unwrap_or_default();
    ensure!(
        e.starts_with(&format!("payer {user_key} is not certified"))
            && e.contains(&format!(
                "certificate {serial} of platform platform-0 is revoked"
            )),
        "{e}"
    );
    let (err, out) = failed_tx(&net, 0, &refs(&open(&user_key, "JPY")))?;
    ensure!(out["receipt"]["code"] == 733, "{out}");
    ensure!(err.contains("is revoked"), "{err}");
    Ok(())
}

/// Runs the CLI on node `i`, expects a transaction that failed (exit 1): its error line and JSON.
fn failed_tx(net: &Testnet, i: usize, args: &[&str]) -> Result<(String, Value)> {
    let out = net.cli(i, args)?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    ensure!(
        out.status.code() == Some(1),
        "paychain {}: expected exit 1, got {:?}: {stderr}",
        args.join(" "),
        out.status.code()
    );
    let json: Value = serde_json::from_slice(&out.stdout)
        .with_context(|| format!("not JSON: {}", String::from_utf8_lossy(&out.stdout)))?;
    ensure!(json["status"] == "failed", "{json}");
    Ok((stderr, json))
}

/// Platform `p0` issues (CA in `ca_dir`) and registers a certificate of `role` for the party
/// (key file, public key), which consents: the `paychain ca` flow.
fn certify_cli(
    net: &Testnet,
    ca_dir: &std::path::Path,
    p0: &str,
    (key_file, key): (&str, &str),
    role: &str,
) -> Result<()> {
    let pem = ca_dir.join(format!("{key}.pem"));
    let enc = KxSecret::from_seed([9; 32]).public_key().to_string();
    net.cli_json(
        0,
        &[
            "ca",
            "issue",
            "--ca-key",
            p(&ca_dir.join("ca.key"))?,
            "--ca-cert",
            p(&ca_dir.join("ca.pem"))?,
            "--party-key",
            key,
            "--encryption-key",
            &enc,
            "--role",
            role,
            "-o",
            p(&pem)?,
        ],
    )?;
    let consent = net.cli_json(0, &["ca", "consent", "--key", key_file, "--cert", p(&pem)?])?;
    let sig = s(&consent, "/party_signature")?;
    net.cli_json(
        0,
        &[
            "ca",
            "register",
            "--key",
            p0,
            "--cert",
            p(&pem)?,
            "--party-signature",
            &sig,
        ],
    )?;
    Ok(())
}

/// The payer pays 1.00 CNY from `wallet` to merchant `mid` through platform-0 by its current
/// route, a transaction sent through node 0's RPC; returns its receipt.
fn pay_rpc(
    net: &Testnet,
    payer: &paychain_contracts::crypto::SecretKey,
    wallet: &str,
    mid: &str,
    order: &str,
) -> Result<Value> {
    use paychain_contracts::{ids, money, registry, tx, wallet as w};
    let view = net.cli_json(0, &["merchant", "show", mid])?;
    let route: registry::Route = serde_json::from_value(
        view["routes"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["platform_id"] == "platform-0"))
            .cloned()
            .with_context(|| format!("no route of platform-0 in {view}"))?,
    )?;
    let rpc = net.rpc(0);
    let chain = s(&rpc.status()?, "/chain_id")?;
    let call = tx::Call::Wallet(w::Call::Pay {
        from_wallet: wallet.parse().map_err(|e| anyhow::anyhow!("{e:?}"))?,
        merchant_id: ids::MerchantId::parse(mid)?,
        acquirer: ids::PlatformId::new("platform-0")?,
        amount: money::Amount::parse("1.00", money::Currency::CNY)?,
        order_ref: order.into(),
        route,
    });
    let signed =
        paychain_tests::txs::signed_call(payer, &chain, rpc.nonce(&payer.public_key())?, call);
    let hash = rpc
        .submit(&signed.to_bytes())?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    rpc.wait_committed(&hash, PROGRESS)
}
