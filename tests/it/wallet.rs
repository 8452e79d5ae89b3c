//! Wallet accounts and scan-and-pay end to end, through the `paychain` CLI on a 4-node network:
//! governance qualifies a wallet host, the host verifies a user, opens a wallet, binds a card with a
//! one-time code and tops up; the user pays a dynamic QR code from a PNG; the certificate verifies
//! offline and every tampering is refused with its reason; settlement, refund and statements follow.
//!
//! One network for the whole scenario (steps are serial and each waits on a receipt or a read that
//! reflects it, never on a sleep). Each key always submits through the same node: platform-i through
//! node i, the user through node 3, so the nonce the CLI reads there includes its previous tx.

use std::path::Path;
use std::process::Output;

use anyhow::{ensure, Context, Result};
use paychain_contracts::ca::PartyRole;
use paychain_tests::Testnet;
use serde_json::Value;

use crate::PROGRESS;

fn run(net: &Testnet, i: usize, args: &[&str]) -> Result<Output> {
    net.cli(i, args)
}

/// Runs the CLI and expects a failure with exit code `code` and one `error:` line; returns it.
fn refused(net: &Testnet, i: usize, code: i32, args: &[&str]) -> Result<String> {
    let out = run(net, i, args)?;
    refusal(&out, code, args)
}

fn refusal(out: &Output, code: i32, args: &[&str]) -> Result<String> {
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    ensure!(
        out.status.code() == Some(code),
        "paychain {}: expected exit {code}, got {:?}: {stderr} {}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout)
    );
    ensure!(
        stderr.starts_with("error: ") && !stderr.contains('\n'),
        "not one error line: {stderr:?}"
    );
    Ok(stderr)
}

/// The string at JSON pointer `path` of `v` (shared by the CLI-driven test files).
pub(crate) fn s(v: &Value, path: &str) -> Result<String> {
    v.pointer(path)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("no string at {path} in {v}"))
}

/// A path as a CLI argument.
pub(crate) fn p(path: &Path) -> Result<&str> {
    path.to_str().context("non-UTF-8 path")
}

/// A new key file `name.json` in `dir` through the CLI: (its path, its public key).
pub(crate) fn new_key(net: &Testnet, dir: &Path, name: &str) -> Result<(String, String)> {
    let path = dir.join(format!("{name}.json"));
    let v = net.cli_json(0, &["keys", "new", "-o", p(&path)?])?;
    Ok((p(&path)?.to_owned(), s(&v, "/public_key")?))
}

/// Registers a merchant through platform `by` (which certifies it), puts the acquiring record of each of `acquirers` and
/// has the merchant accept each. Each platform key is paired with the node it always submits through
/// (its nonce comes from that node's committed state, which has its previous transaction); platform-i
/// submits through node i. The merchant submits through node 3. Returns its id and public key; the
/// record of acquirer i is [`acquirer_record`]`(i, id)`.
pub(crate) fn merchant(
    net: &Testnet,
    dir: &Path,
    name: &str,
    by: (&str, usize),
    acquirers: &[(&str, usize)],
) -> Result<(String, String)> {
    let (mkey_path, mkey) = new_key(net, dir, name)?;
    let (by, node) = by;
    let reg = net.cli_json(
        node,
        &[
            "merchant",
            "register",
            "--key",
            by,
            "--name",
            name,
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
    let id = s(&reg, "/merchant_id")?;
    // Payments to it need its merchant certificate, from the registering platform's CA.
    net.certify_file(by, &mkey_path, PartyRole::Merchant)?;
    for (a, node) in acquirers {
        let info = dir.join(format!("{id}-{node}.json"));
        std::fs::write(&info, acquirer_record(*node, &id))?;
        net.cli_json(
            *node,
            &[
                "record",
                "put",
                "--key",
                a,
                "--merchant",
                &id,
                "--info",
                p(&info)?,
            ],
        )?;
        let platform = format!("platform-{node}");
        net.cli_json(
            3,
            &[
                "merchant",
                "accept",
                "--key",
                &mkey_path,
                "--platform",
                &platform,
            ],
        )?;
    }
    Ok((id, mkey))
}

/// The acquiring record [`merchant`] puts for the acquirer that submits through node `node`.
pub(crate) fn acquirer_record(node: usize, merchant_id: &str) -> String {
    paychain_tests::acquiring_record(
        &format!("4802000{node}"),
        &format!("P{node}-{}", &merchant_id[merchant_id.len() - 8..]),
    )
}

/// An edit of a certificate's JSON.
type Tamper<'a> = Box<dyn FnOnce(&mut Value) + 'a>;

fn tampered(cert: &Value, dir: &Path, name: &str, edit: impl FnOnce(&mut Value)) -> Result<String> {
    let mut c = cert.clone();
    edit(&mut c);
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string(&c)?)?;
    Ok(p(&path)?.to_owned())
}

#[test]
fn n4_wallet_scan_and_pay_end_to_end() -> Result<()> {
    let net = Testnet::start(4)?;
    let work = tempfile::tempdir()?;
    let dir = work.path();
    let genesis = net.dir.path().join("genesis.json");
    let genesis = p(&genesis)?;
    let keys: Vec<String> = (0..3)
        .map(|i| net.platform_key_path(i).to_str().map(str::to_owned))
        .collect::<Option<_>>()
        .context("path")?;
    let (p0, p1, p2) = (keys[0].as_str(), keys[1].as_str(), keys[2].as_str());
    let (user_key, user) = new_key(&net, dir, "user")?;

    // 1. Not yet a host: the contract refuses.
    let e = refused(
        &net,
        0,
        1,
        &[
            "wallet",
            "verify-user",
            "--key",
            p0,
            "--user",
            &user,
            "--name",
            "Li Lei",
            "--id-number",
            "110101199003074512",
            "--phone",
            "+8613800138000",
        ],
    )?;
    ensure!(e.contains("is not a qualified wallet host"), "{e}");

    // 2. Governance: platform-0 proposes, platform-1 and platform-2 approve (3 of 4 > 2/3).
    let prop = net.cli_json(
        0,
        &[
            "gov",
            "propose",
            "--key",
            p0,
            "--qualify-wallet-host",
            "platform-0",
        ],
    )?;
    ensure!(prop["proposal_status"] == "open", "{prop}");
    let id = prop["proposal_id"]
        .as_u64()
        .context("proposal id")?
        .to_string();
    let v1 = net.cli_json(
        1,
        &["gov", "vote", "--key", p1, "--proposal", &id, "--approve"],
    )?;
    ensure!(v1["proposal"]["status"] == "open", "{v1}");
    let v2 = net.cli_json(
        2,
        &["gov", "vote", "--key", p2, "--proposal", &id, "--approve"],
    )?;
    ensure!(v2["proposal"]["status"].get("executed").is_some(), "{v2}");
    net.cli_json_until(3, &["gov", "show", &id], PROGRESS, |v| {
        v["approvals"] == 3 && v["threshold"] == 3
    })?;

    // 3. Real-name verification, wallet, card binding (a wrong code is refused and counted).
    net.cli_json(
        0,
        &[
            "wallet",
            "verify-user",
            "--key",
            p0,
            "--user",
            &user,
            "--name",
            "Li Lei",
            "--id-number",
            "110101199003074512",
            "--phone",
            "+8613800138000",
        ],
    )?;
    let list = net.cli_json(0, &["wallet", "list", "--user", &user, "--key", p0])?;
    let on_chain = list["verification"].to_string();
    ensure!(
        list["verification"]["host"] == "platform-0"
            && !on_chain.contains("Li Lei")
            && !on_chain.contains("1380013"),
        "{list}"
    );
    // platform-0's CA certifies the user (issue, the user's consent, registration).
    net.certify_file(p0, &user_key, PartyRole::User)?;
    let opened = net.cli_json(
        0,
        &[
            "wallet",
            "open",
            "--key",
            p0,
            "--user",
            &user,
            "--currency",
            "CNY",
        ],
    )?;
    let wallet = s(&opened, "/wallet_id")?;
    let card = "6222020200112233";
    let bind = net.cli_json(
        0,
        &[
            "wallet",
            "bind-card",
            "--key",
            p0,
            "--user",
            &user,
            "--card",
            card,
        ],
    )?;
    let binding = s(&bind, "/binding_id")?;
    let otp = s(&bind, "/otp")?;
    ensure!(otp.len() >= 16, "one-time code too short: {otp}");
    let e = refused(
        &net,
        3,
        1,
        &[
            "wallet",
            "confirm-card",
            "--key",
            &user_key,
            "--binding",
            &binding,
            "--otp",
            "WRONG-CODE-123",
        ],
    )?;
    ensure!(
        e.contains("wrong one-time code") && e.contains("2 attempts left"),
        "{e}"
    );
    net.cli_json(
        3,
        &[
            "wallet",
            "confirm-card",
            "--key",
            &user_key,
            "--binding",
            &binding,
            "--otp",
            &otp,
        ],
    )?;
    let b = net.cli_json(0, &["wallet", "binding", &binding, "--key", p0])?;
    ensure!(b["status"] == "bound" && b["attempts"] == 1, "{b}");
    // The host alone cannot load the wallet: an instruction signed by the host's key is refused by
    // the contract; the owner's is carried out.
    let top_up = |owner_key: &str| {
        vec![
            "wallet".to_owned(),
            "top-up".into(),
            "--key".into(),
            p0.to_owned(),
            "--owner-key".into(),
            owner_key.to_owned(),
            "--wallet".into(),
            wallet.clone(),
            "--amount".into(),
            "100.00".into(),
            "--currency".into(),
            "CNY".into(),
            "--card".into(),
            card.to_owned(),
        ]
    };
    let by_host = top_up(p0);
    let by_host: Vec<&str> = by_host.iter().map(String::as_str).collect();
    let e = refused(&net, 0, 1, &by_host)?;
    ensure!(
        e.contains("not authorised by its owner") && e.contains("code 340"),
        "{e}"
    );
    let by_owner = top_up(&user_key);
    let by_owner: Vec<&str> = by_owner.iter().map(String::as_str).collect();
    net.cli_json(0, &by_owner)?;
    let w = net.cli_json_until(
        3,
        &["wallet", "show", &wallet, "--key", &user_key],
        PROGRESS,
        |v| v["balance"] == "100.00",
    )?;
    ensure!(w["cards"].as_array().map(Vec::len) == Some(1), "{w}");

    // Governance caps what platform-0 may owe for the money it loads into wallets: its clearing
    // account owes 100.00 CNY; with a cap of 120.00, a top-up of 30.00 is refused.
    let prop = net.cli_json(
        0,
        &[
            "gov",
            "propose",
            "--key",
            p0,
            "--set-net-debit-cap",
            "platform-0",
            "--cap",
            "120.00",
            "--currency",
            "CNY",
        ],
    )?;
    let cap_id = prop["proposal_id"]
        .as_u64()
        .context("proposal id")?
        .to_string();
    net.cli_json(
        1,
        &[
            "gov",
            "vote",
            "--key",
            p1,
            "--proposal",
            &cap_id,
            "--approve",
        ],
    )?;
    net.cli_json(
        2,
        &[
            "gov",
            "vote",
            "--key",
            p2,
            "--proposal",
            &cap_id,
            "--approve",
        ],
    )?;
    net.cli_json_until(0, &["gov", "show", &cap_id], PROGRESS, |v| {
        v["status"].get("executed").is_some()
    })?;
    let mut over_cap = top_up(&user_key);
    over_cap[9] = "30.00".into();
    let over_cap: Vec<&str> = over_cap.iter().map(String::as_str).collect();
    let e = refused(&net, 0, 1, &over_cap)?;
    ensure!(
        e.contains("would owe 130.00 CNY, above its net debit cap of 120.00 CNY")
            && e.contains("code 344"),
        "{e}"
    );

    // 4. Merchants: one served by platform-0 (and 1), one only by platform-1.
    let (mid, mkey) = merchant(&net, dir, "Noodle House", (p0, 0), &[(p0, 0), (p1, 1)])?;
    let (other, _) = merchant(&net, dir, "Tea Corner", (p1, 1), &[(p1, 1)])?;

    // 5. A dynamic code as PNG; decoded from the image.
    let png = dir.join("code.png");
    net.cli_json(
        0,
        &[
            "qr",
            "encode",
            "--merchant",
            &mid,
            "--name",
            "Noodle House",
            "--city",
            "Shanghai",
            "--mcc",
            "5812",
            "--currency",
            "CNY",
            "--amount",
            "12.50",
            "--order",
            "ORDER-1",
            "-o",
            p(&png)?,
        ],
    )?;
    let decoded = net.cli_json(0, &["qr", "decode", p(&png)?])?;
    ensure!(
        decoded["paychain_merchant_id"] == mid.as_str() && decoded["amount"] == "12.50",
        "{decoded}"
    );

    // 6. Pay it (through node 3); the merchant's to-be-settled balance at platform-0 grows.
    let cert_path = dir.join("cert.json");
    let e = refused(
        &net,
        3,
        2,
        &[
            "pay",
            "--code",
            p(&png)?,
            "--key",
            &user_key,
            "--amount",
            "13.00",
        ],
    )?;
    ensure!(
        e.contains("amount mismatch") && e.contains("12.50 CNY"),
        "{e}"
    );
    let paid = net.cli_json(
        3,
        &[
            "pay",
            "--code",
            p(&png)?,
            "--key",
            &user_key,
            "-o",
            p(&cert_path)?,
        ],
    )?;
    ensure!(
        paid["status"] == "paid"
            && paid["acquirer"] == "platform-0"
            && paid["acquiring"]["acquirer_institution_id"] == "48020000"
            && paid["route"]["record_version"] == 1,
        "{paid}"
    );
    ensure!(
        paid["amount"]["value"] == "12.50" && paid["order_ref"] == "ORDER-1",
        "{paid}"
    );
    let payment = s(&paid, "/payment_id")?;
    net.cli_json_until(
        2,
        &[
            "wallet",
            "balance",
            "--merchant",
            &mid,
            "--acquirer",
            "platform-0",
            "--currency",
            "CNY",
            "--key",
            p0,
        ],
        PROGRESS,
        |v| v["state"]["balance"] == "12.50",
    )?;
    net.cli_json_until(
        2,
        &["wallet", "show", &wallet, "--key", &user_key],
        PROGRESS,
        |v| v["balance"] == "87.50",
    )?;

    // 7. The certificate verifies offline; each tampering is refused with its reason.
    let valid = net.cli_json(0, &["cert", "verify", p(&cert_path)?, "--genesis", genesis])?;
    ensure!(
        valid["valid"] == true && valid["tx_hash"] == payment.as_str(),
        "{valid}"
    );
    let cert: Value = serde_json::from_str(&std::fs::read_to_string(&cert_path)?)?;
    let pay_call = "/tx/tx/call/wallet/pay";
    ensure!(
        cert.pointer(pay_call).is_some(),
        "unexpected certificate shape: {cert}"
    );
    let cases: Vec<(&str, Tamper, &str)> = vec![
        (
            "amount",
            Box::new(|c: &mut Value| {
                if let Some(v) = c.pointer_mut("/tx/tx/call/wallet/pay/amount/value") {
                    *v = "1.00".into();
                }
            }),
            "the transaction's signature is invalid",
        ),
        (
            "payee",
            Box::new(|c: &mut Value| {
                if let Some(v) = c.pointer_mut("/tx/tx/call/wallet/pay/merchant_id") {
                    *v = other.as_str().into();
                }
            }),
            "the transaction's signature is invalid",
        ),
        (
            "receipt",
            Box::new(|c: &mut Value| {
                if let Some(v) = c.pointer_mut("/receipt/events/0/attributes/0/1") {
                    *v = Value::from("0".repeat(64));
                }
            }),
            "the receipt proof does not lead to the next header's result root",
        ),
        (
            "signature",
            Box::new(|c: &mut Value| {
                if let Some(v) = c.pointer_mut("/commit/signatures/0/signature") {
                    let sig = v.as_str().unwrap_or_default();
                    let flipped = if sig.starts_with('0') { "1" } else { "0" };
                    *v = format!("{flipped}{}", &sig[1..]).into();
                }
            }),
            "the block header was not committed: invalid precommit signature by validator",
        ),
        (
            "quorum",
            Box::new(|c: &mut Value| {
                if let Some(sigs) = c
                    .pointer_mut("/next_commit/signatures")
                    .and_then(Value::as_array_mut)
                {
                    sigs.truncate(2);
                }
            }),
            "more than 2/3 is required",
        ),
    ];
    for (name, edit, reason) in cases {
        let path = tampered(&cert, dir, &format!("cert-{name}.json"), edit)?;
        let e = refused(&net, 0, 1, &["cert", "verify", &path, "--genesis", genesis])?;
        ensure!(
            e.contains("certificate does not verify") && e.contains(reason),
            "{name}: {e}"
        );
    }

    // A certificate of a transaction the contract refused proves the refusal: `cert verify` reports
    // it and fails, and passes only when asked about inclusion alone.
    let stranger = dir.join("stranger.json");
    let stranger_pk = s(
        &net.cli_json(0, &["keys", "new", "-o", p(&stranger)?])?,
        "/public_key",
    )?;
    // A user the chain knows (verified by platform-0), so the registry refuses it (an unknown key
    // would be refused at the door and leave no transaction to certify).
    net.cli_json(
        0,
        &[
            "wallet",
            "verify-user",
            "--key",
            p0,
            "--user",
            &stranger_pk,
            "--name",
            "Nobody",
            "--id-number",
            "110101199003074512",
            "--phone",
            "+8613800138003",
        ],
    )?;
    let register = [
        "merchant",
        "register",
        "--key",
        p(&stranger)?,
        "--name",
        "Nobody's Shop",
        "--city",
        "Shanghai",
        "--mcc",
        "5812",
        "--country",
        "CN",
        "--merchant-key",
        &stranger_pk,
    ];
    let out = run(&net, 0, &register)?;
    refusal(&out, 1, &register)?;
    let failed: Value = serde_json::from_slice(&out.stdout)?;
    ensure!(failed["status"] == "failed", "{failed}");
    let refused_tx = s(&failed, "/tx_hash")?;
    let refused_cert = dir.join("cert-refused.json");
    net.cli_json_until(
        1,
        &[
            "cert",
            "get",
            &refused_tx,
            "--key",
            p(&stranger)?,
            "-o",
            p(&refused_cert)?,
        ],
        PROGRESS,
        |v| v["tx"].is_object(),
    )?;
    let e = refused(
        &net,
        0,
        1,
        &["cert", "verify", p(&refused_cert)?, "--genesis", genesis],
    )?;
    ensure!(
        e.contains("certificate is valid") && e.contains("REFUSED") && e.contains(&refused_tx),
        "{e}"
    );
    let inclusion = net.cli_json(
        0,
        &[
            "cert",
            "verify",
            p(&refused_cert)?,
            "--genesis",
            genesis,
            "--inclusion-only",
        ],
    )?;
    ensure!(
        inclusion["valid"] == true
            && inclusion["succeeded"] == false
            && inclusion["receipt"]["code"] != 0,
        "{inclusion}"
    );
    ensure!(valid["succeeded"] == true, "{valid}");

    // 8. Refusals: the same order twice, a merchant the payer's platform does not serve, too much.
    let e = refused(&net, 3, 1, &["pay", "--code", p(&png)?, "--key", &user_key])?;
    ensure!(e.contains("ORDER-1") && e.contains("already paid"), "{e}");
    let static_other = net.cli_json(
        0,
        &[
            "qr",
            "encode",
            "--merchant",
            &other,
            "--name",
            "Tea Corner",
            "--city",
            "Shanghai",
            "--mcc",
            "5812",
        ],
    )?;
    let e = refused(
        &net,
        3,
        1,
        &[
            "pay",
            "--code",
            &s(&static_other, "/payload")?,
            "--key",
            &user_key,
            "--amount",
            "1.00",
        ],
    )?;
    ensure!(
        e.contains(&format!(
            "merchant {other} is not served by your platform platform-0 (served by: platform-1)"
        )),
        "{e}"
    );
    let static_code = net.cli_json(
        0,
        &[
            "qr",
            "encode",
            "--merchant",
            &mid,
            "--name",
            "Noodle House",
            "--city",
            "Shanghai",
            "--mcc",
            "5812",
        ],
    )?;
    let payload = s(&static_code, "/payload")?;
    let e = refused(&net, 3, 2, &["pay", "--code", &payload, "--key", &user_key])?;
    ensure!(e.contains("static code") && e.contains("--amount"), "{e}");
    let e = refused(
        &net,
        3,
        1,
        &[
            "pay", "--code", &payload, "--key", &user_key, "--amount", "1000.00",
        ],
    )?;
    ensure!(
        e.contains("insufficient balance") && e.contains("87.50 CNY"),
        "{e}"
    );

    // 9. Settlement of part of the balance, then a partial refund; over-refunding is refused.
    net.cli_json(
        0,
        &[
            "settle",
            "--key",
            p0,
            "--merchant",
            &mid,
            "--amount",
            "5.00",
            "--currency",
            "CNY",
        ],
    )?;
    net.cli_json(
        0,
        &[
            "refund",
            "--key",
            p0,
            "--payment",
            &payment,
            "--amount",
            "2.50",
        ],
    )?;
    let e = refused(
        &net,
        1,
        1,
        &[
            "refund",
            "--key",
            p0,
            "--payment",
            &payment,
            "--amount",
            "20.00",
        ],
    )?;
    ensure!(e.contains("exceeds"), "{e}");
    net.cli_json_until(
        1,
        &["wallet", "show", &wallet, "--key", &user_key],
        PROGRESS,
        |v| v["balance"] == "90.00",
    )?;
    let tbs = net.cli_json(
        1,
        &[
            "wallet",
            "balance",
            "--merchant",
            &mid,
            "--acquirer",
            "platform-0",
            "--currency",
            "CNY",
            "--key",
            p0,
        ],
    )?;
    ensure!(tbs["state"]["balance"] == "5.00", "{tbs}");

    // 10. Statements list the movements; certificates are listed for payer and payee.
    let kinds = |v: &Value| -> Vec<String> {
        v["entries"]
            .as_array()
            .map(|es| {
                es.iter()
                    .filter_map(|e| e["kind"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let st = net.cli_json(
        1,
        &[
            "wallet",
            "statement",
            "--wallet",
            &wallet,
            "--key",
            &user_key,
        ],
    )?;
    ensure!(kinds(&st) == ["top_up", "payment", "refund"], "{st}");
    ensure!(st["closing_balance"] == "90.00", "{st}");
    let st = net.cli_json(
        1,
        &[
            "wallet",
            "statement",
            "--merchant",
            &mid,
            "--acquirer",
            "platform-0",
            "--currency",
            "CNY",
            "--key",
            p0,
        ],
    )?;
    ensure!(kinds(&st) == ["payment", "settlement", "refund"], "{st}");
    let payer = net.cli_json(1, &["cert", "list", "--key", &user_key])?;
    let mkey_path = dir.join("Noodle House.json");
    let payee = net.cli_json(1, &["cert", "list", "--key", p(&mkey_path)?])?;
    for (v, role) in [(&payer, "payer"), (&payee, "payee")] {
        let certs = v["certificates"].as_array().context("certificates")?;
        ensure!(
            certs
                .iter()
                .any(|c| c["tx_hash"] == payment.as_str() && c["role"] == role),
            "{role}: {v}"
        );
    }
    ensure!(payee["merchant_id"] == mid.as_str(), "{payee}");
    ensure!(payee["public_key"] == mkey.as_str(), "{payee}");
    Ok(())
}

/// A payer whose node is down gets one clear line, before anything is signed.
#[test]
fn pay_with_node_down_is_one_clear_line() -> Result<()> {
    let work = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let key = work.path().join("user.json");
    let cli = |args: &[&str]| paychain_tests::cli(&url, args);
    let out = cli(&["keys", "new", "-o", p(&key)?])?;
    ensure!(out.status.success(), "{out:?}");
    let code = cli(&[
        "qr",
        "encode",
        "--merchant",
        "M0123456789ABCDEF0123",
        "--name",
        "Noodle House",
        "--city",
        "Shanghai",
        "--mcc",
        "5812",
        "--amount",
        "3.00",
        "--order",
        "R9",
    ])?;
    let code: Value = serde_json::from_slice(&code.stdout)?;
    let args = [
        "pay",
        "--code",
        code["payload"].as_str().context("payload")?,
        "--key",
        p(&key)?,
    ];
    // Without a pinned genesis nothing is asked of any node (the payer would have to believe the
    // node's keys): one line saying what to pin.
    let unpinned = std::process::Command::new(paychain_tests::existing_bin("paychain")?)
        .args(["--rpc", &url, "--json"])
        .args(args)
        .env_remove("PAYCHAIN_GENESIS")
        .env("HOME", work.path())
        .output()?;
    let e = refusal(&unpinned, 2, &args)?;
    ensure!(e.starts_with("error: no genesis pinned"), "{e}");
    // With the consortium's genesis pinned, the node being down is the one line.
    let net_dir = work.path().join("net");
    let made = std::process::Command::new(paychain_tests::existing_bin("paychain-node")?)
        .args(["testnet", "--validators", "1", "--out", p(&net_dir)?])
        .output()?;
    ensure!(made.status.success(), "{made:?}");
    let genesis = net_dir.join("genesis.json");
    let pinned = [&args[..], &["--genesis", p(&genesis)?]].concat();
    let e = refusal(&cli(&pinned)?, 1, &pinned)?;
    ensure!(
        e == format!("error: cannot reach node at {url}: connection refused"),
        "{e}"
    );
    Ok(())
}
