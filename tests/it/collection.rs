//! Split-bill collection end to end, through the `paychain` CLI on a 4-node network: a wallet host
//! is qualified, four users get funded CNY wallets, a merchant opens a 3-payer collection with a
//! password and a PNG code; a wrong password is refused, three payers pay (one of them tries twice
//! and is refused), the payee's to-be-settled account is credited exactly once, and a fourth payer
//! is refused.
//!
//! Every step waits on its receipt (the CLI follows each tx until committed) or polls a read with a
//! deadline; nothing sleeps. Each key always submits through the same node.

use std::path::Path;

use anyhow::{ensure, Context, Result};
use paychain_contracts::ca::PartyRole;
use paychain_contracts::ids::{MerchantId, PlatformId};
use paychain_contracts::money::Currency;
use paychain_contracts::reads::Query;
use paychain_contracts::wallet::Account;
use paychain_tests::Testnet;
use serde_json::{json, Value};

use crate::PROGRESS;

pub(crate) fn p(path: &Path) -> Result<&str> {
    path.to_str().context("non-UTF-8 path")
}

pub(crate) fn s(v: &Value, path: &str) -> Result<String> {
    v.pointer(path)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("no string at {path} in {v}"))
}

pub(crate) fn new_key(net: &Testnet, dir: &Path, name: &str) -> Result<(String, String)> {
    let path = dir.join(format!("{name}.json"));
    let v = net.cli_json(0, &["keys", "new", "-o", p(&path)?])?;
    Ok((p(&path)?.to_owned(), s(&v, "/public_key")?))
}

/// A merchant registered, certified and acquired by platform-0 (key file `p0`), with platform-0's
/// record; returns (merchant key file, merchant id).
pub(crate) fn acquired_merchant(
    net: &Testnet,
    dir: &Path,
    p0: &str,
    (name, city, mcc): (&str, &str, &str),
) -> Result<(String, String)> {
    let (key_file, key) = new_key(net, dir, &name.replace(' ', "-").to_lowercase())?;
    let reg = net.cli_json(
        0,
        &[
            "merchant",
            "register",
            "--key",
            p0,
            "--name",
            name,
            "--city",
            city,
            "--mcc",
            mcc,
            "--country",
            "CN",
            "--merchant-key",
            &key,
        ],
    )?;
    let mid = s(&reg, "/merchant_id")?;
    // Payments to it need its merchant certificate (platform-0's CA).
    net.certify_file(p0, &key_file, PartyRole::Merchant)?;
    let info = dir.join(format!("{mid}.json"));
    std::fs::write(
        &info,
        paychain_tests::acquiring_record("48020000", &mid[mid.len() - 12..]),
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
            &key_file,
            "--platform",
            "platform-0",
        ],
    )?;
    Ok((key_file, mid))
}

/// Runs the CLI on node `i`, expects exit 1 and one `error:` line, and returns it.
pub(crate) fn refused(net: &Testnet, i: usize, args: &[&str]) -> Result<String> {
    let out = net.cli(i, args)?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    ensure!(
        out.status.code() == Some(1),
        "paychain {}: expected exit 1, got {:?}: {stderr}",
        args.join(" "),
        out.status.code()
    );
    ensure!(
        stderr.starts_with("error: ") && !stderr.contains('\n'),
        "not one error line: {stderr:?}"
    );
    Ok(stderr)
}

/// A verified user of platform-0 with a CNY wallet holding 100.00; returns (key file, wallet id).
pub(crate) fn funded_user(
    net: &Testnet,
    dir: &Path,
    p0: &str,
    name: &str,
    node: usize,
) -> Result<(String, String)> {
    funded_user_of(net, dir, (p0, 0), name, node)
}

/// A verified and certified user of the platform whose key file is `p0` (submitting through node
/// `via`), with a CNY wallet holding 100.00; the user submits through node `node`. Returns (key file, wallet id).
pub(crate) fn funded_user_of(
    net: &Testnet,
    dir: &Path,
    (p0, via): (&str, usize),
    name: &str,
    node: usize,
) -> Result<(String, String)> {
    let (key, user) = new_key(net, dir, name)?;
    net.cli_json(
        via,
        &[
            "wallet",
            "verify-user",
            "--key",
            p0,
            "--user",
            &user,
            "--name",
            name,
            "--id-number",
            "110101199003074512",
            "--phone",
            "+8613800138000",
        ],
    )?;
    // A wallet opens only for a user its host certified.
    net.certify_file(p0, &key, PartyRole::User)?;
    let opened = net.cli_json(
        via,
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
        via,
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
    // The user's first tx goes through its own node: wait until that node has the binding.
    net.cli_json_until(
        node,
        &["wallet", "binding", &binding, "--key", &key],
        PROGRESS,
        |v| v["status"] == "pending",
    )?;
    let confirmed = net.cli_json(
        node,
        &[
            "wallet",
            "confirm-card",
            "--key",
            &key,
            "--binding",
            &binding,
            "--otp",
            &otp,
        ],
    )?;
    let card_hash = s(&confirmed, "/card_hash")?;
    net.cli_json_until(
        via,
        &["wallet", "binding", &binding, "--key", &key],
        PROGRESS,
        |v| v["status"] == "bound",
    )?;
    // The user instructs the top-up with its own key; the host carries the instruction out.
    let instruction = dir.join(format!("{name}-top-up.json"));
    net.cli_json(
        node,
        &[
            "wallet",
            "instruct-top-up",
            "--key",
            &key,
            "--wallet",
            &wallet,
            "--amount",
            "100.00",
            "--card-hash",
            &card_hash,
            "-o",
            p(&instruction)?,
        ],
    )?;
    net.cli_json(
        via,
        &[
            "wallet",
            "top-up",
            "--key",
            p0,
            "--instruction",
            p(&instruction)?,
            "--wallet",
            &wallet,
            "--amount",
            "100.00",
            "--currency",
            "CNY",
            "--card",
            card,
        ],
    )?;
    net.cli_json_until(
        node,
        &["wallet", "show", &wallet, "--key", &key],
        PROGRESS,
        |v| v["balance"] == "100.00",
    )?;
    Ok((key, wallet))
}

fn pay<'a>(code: &'a str, key: &'a str, password: &'a str) -> [&'a str; 8] {
    [
        "collect",
        "pay",
        "--code",
        code,
        "--key",
        key,
        "--password",
        password,
    ]
}

/// A signed read of the statement of `mid`'s to-be-settled account at platform-0 (by platform-0's key).
pub(crate) fn tbs_statement(mid: &str) -> Result<Query> {
    Ok(Query::Statement {
        account: Account::ToBeSettled {
            merchant_id: MerchantId::parse(mid)?,
            acquirer: PlatformId::new("platform-0")?,
            currency: Currency::CNY,
        },
        from_height: 0,
        to_height: None,
    })
}

#[test]
fn n4_collection_three_payers_end_to_end() -> Result<()> {
    let net = Testnet::start(4)?;
    let work = tempfile::tempdir()?;
    let dir = work.path();
    let p0_path = net.platform_key_path(0);
    let p0 = p0_path.to_str().context("path")?;
    let p0_key = paychain_tests::load_key(&p0_path)?;
    net.qualify_wallet_host(0)?;

    // A merchant acquired by platform-0; its own key opens the collection.
    let (mkey_file, mid) = acquired_merchant(&net, dir, p0, ("Noodle House", "Shanghai", "5812"))?;

    // Payers: each submits through its own node.
    let (a, a_wallet) = funded_user(&net, dir, p0, "Alice", 1)?;
    let (b, b_wallet) = funded_user(&net, dir, p0, "Bob", 2)?;
    let (c, _) = funded_user(&net, dir, p0, "Carol", 3)?;
    let (d, _) = funded_user(&net, dir, p0, "Dave", 3)?;

    // The merchant creates a 3-payer collection with a password; the code is a PNG.
    net.cli_json_until(1, &["merchant", "show", &mid], PROGRESS, |v| {
        v["platforms"].as_array().is_some_and(|p| !p.is_empty())
    })?;
    let png = dir.join("collect.png");
    let created = net.cli_json(
        1,
        &[
            "collect",
            "create",
            "--key",
            &mkey_file,
            "--merchant",
            &mid,
            "--acquirer",
            "platform-0",
            "--total",
            "100.00",
            "--currency",
            "CNY",
            "--payers",
            "3",
            "--expires-in",
            "3600",
            "--password",
            "lunch",
            "-o",
            p(&png)?,
        ],
    )?;
    let cid = s(&created, "/collection_id")?;
    ensure!(created["status"] == "committed", "{created}");
    ensure!(
        created["shares"]
            == json!([
                {"value": "33.34", "currency": "CNY"},
                {"value": "33.33", "currency": "CNY"},
                {"value": "33.33", "currency": "CNY"}
            ]),
        "{created}"
    );
    let decoded = net.cli_json(0, &["qr", "decode", p(&png)?])?;
    ensure!(
        decoded.to_string().contains(&cid),
        "code carries no collection id: {decoded}"
    );
    let code = p(&png)?;

    // Wrong password: refused, nothing paid.
    let e = refused(&net, 1, &pay(code, &a, "dinner"))?;
    ensure!(e.contains("wrong password"), "{e}");

    // Alice pays share 0; paying again is refused.
    let paid = net.cli_json(1, &pay(code, &a, "lunch"))?;
    ensure!(paid["share"] == 0 && paid["completed"] == false, "{paid}");
    net.cli_json_until(1, &["collect", "show", &cid, "--key", p0], PROGRESS, |v| {
        v["paid"] == "33.34"
    })?;
    let e = refused(&net, 1, &pay(code, &a, "lunch"))?;
    ensure!(e.contains("already paid share 0"), "{e}");

    // Bob and Carol complete it.
    net.cli_json_until(2, &["collect", "show", &cid, "--key", p0], PROGRESS, |v| {
        v["paid"] == "33.34"
    })?;
    let paid = net.cli_json(2, &pay(code, &b, "lunch"))?;
    ensure!(paid["share"] == 1 && paid["completed"] == false, "{paid}");
    net.cli_json_until(3, &["collect", "show", &cid, "--key", p0], PROGRESS, |v| {
        v["paid"] == "66.67"
    })?;
    let paid = net.cli_json(3, &pay(code, &c, "lunch"))?;
    ensure!(paid["share"] == 2 && paid["completed"] == true, "{paid}");

    // The payee is credited exactly once, with the total.
    let st = net.rpc(3).read(&p0_key, tbs_statement(&mid)?)?;
    let entries = st["entries"].as_array().context("entries")?;
    ensure!(
        entries.len() == 1,
        "payee credited {} times: {st}",
        entries.len()
    );
    ensure!(
        entries[0]["amount"]["value"] == "100.00" && entries[0]["kind"] == "collection_completed",
        "{st}"
    );
    let shown = net.cli_json(3, &["collect", "show", &cid, "--key", p0])?;
    ensure!(
        shown["collection"]["status"] == "completed" && shown["outstanding"] == "0.00",
        "{shown}"
    );
    let w = net.cli_json_until(
        1,
        &["wallet", "show", &a_wallet, "--key", p0],
        PROGRESS,
        |v| v["balance"] == "66.66",
    )?;
    ensure!(w["balance"] == "66.66", "{w}");

    // Payee and payer each list the collection and its certificates.
    let listed = net.cli_json(3, &["collect", "list", "--key", &mkey_file])?;
    ensure!(
        listed["collections"][0]["collection"]["id"] == cid.as_str(),
        "{listed}"
    );
    let listed = net.cli_json(1, &["collect", "list", "--key", &a])?;
    ensure!(
        listed["collections"].as_array().map(Vec::len) == Some(1)
            && listed["collections"][0]["collection"]["id"] == cid.as_str(),
        "{listed}"
    );
    let certs = net.cli_json(1, &["cert", "list", "--key", &a])?;
    ensure!(
        certs["certificates"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["kind"] == "collection_share")),
        "{certs}"
    );
    let certs = net.cli_json(1, &["cert", "list", "--key", &mkey_file])?;
    let completed = certs["certificates"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["kind"] == "collection_completed"))
        .context("payee has no completion certificate")?;
    let tx = completed["tx_hash"].as_str().context("tx_hash")?;
    net.cli_json_until(
        1,
        &["cert", "get", tx, "--key", &mkey_file],
        PROGRESS,
        |v| v["tx"].is_object(),
    )?;

    // A fourth payer is refused: once completed, the collection is its parties' only (read refused).
    let e = refused(&net, 3, &pay(code, &d, "lunch"))?;
    ensure!(e.contains("may not read collection"), "{e}");
    let st = net.rpc(0).read(&p0_key, tbs_statement(&mid)?)?;
    ensure!(st["entries"].as_array().map(Vec::len) == Some(1), "{st}");

    // A collection that expires before it completes: paid shares go back to their wallets.
    let before = net.cli_json(0, &["wallet", "show", &b_wallet, "--key", p0])?["balance"].clone();
    let png2 = dir.join("collect-2.png");
    let created = net.cli_json(
        1,
        &[
            "collect",
            "create",
            "--key",
            &mkey_file,
            "--merchant",
            &mid,
            "--acquirer",
            "platform-0",
            "--total",
            "10.00",
            "--currency",
            "CNY",
            "--payers",
            "2",
            "--expires-in",
            "3",
            "--password",
            "lunch",
            "-o",
            p(&png2)?,
        ],
    )?;
    let cid2 = s(&created, "/collection_id")?;
    let expires_at = created["expires_at_ms"].as_u64().context("expires_at_ms")?;
    let code2 = p(&png2)?;
    net.cli_json(2, &pay(code2, &b, "lunch"))?;
    // Wait for block time (not the local clock) to pass the expiry.
    net.cli_json_until(0, &["status"], PROGRESS, |v| {
        v["latest_block_time_ms"].as_u64().unwrap_or(0) >= expires_at
    })?;
    let e = refused(&net, 3, &pay(code2, &c, "lunch"))?;
    ensure!(e.contains("expired"), "{e}");
    let expired = net.cli_json(3, &["collect", "expire", &cid2, "--key", &c])?;
    ensure!(expired["status"] == "committed", "{expired}");
    let w = net.cli_json_until(
        0,
        &["wallet", "show", &b_wallet, "--key", p0],
        PROGRESS,
        |v| v["balance"] == before,
    )?;
    ensure!(w["balance"] == before, "share not refunded: {w}");
    Ok(())
}
