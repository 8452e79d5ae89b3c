//! Every private read is a signed, scoped request (issue 17, items 3 and 5), on a 4-node network
//! through the `paychain` CLI and signed reads over RPC.
//!
//! A user hosted by platform-0 (A) pays a merchant acquired by platform-1 (B); platform-2 (C) is
//! another member, and governance appoints a regulator. The payer, the merchant, A, B and the
//! regulator read the payment; a stranger and C are refused with 6103; an unsigned read is refused
//! (6100), a stale or too-far-ahead one (6102), one signed by a key other than the one it names
//! (6101). The answers are sealed: the raw RPC answer does not hold the order reference. Every
//! read by the regulator shows in the node's audit, which members list and strangers may not.

use std::path::Path;

use anyhow::{ensure, Context, Result};
use paychain_api::{method, ErrorCode};
use paychain_contracts::ca::PartyRole;
use paychain_contracts::crypto::Hash;
use paychain_contracts::ids::{MerchantId, PlatformId};
use paychain_contracts::reads::Query;
use paychain_contracts::tx::Call;
use paychain_contracts::wallet::{self, Account};
use paychain_tests::{load_key, txs, Testnet};
use serde_json::json;

use crate::wallet::{new_key, p, s};
use crate::PROGRESS;

/// The CLI refuses (non-zero exit, one error line); returns the line.
fn refused(net: &Testnet, i: usize, args: &[&str]) -> Result<String> {
    let out = net.cli(i, args)?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    ensure!(
        !out.status.success() && stderr.starts_with("error: ") && !stderr.contains('\n'),
        "paychain {}: expected one error line, got {:?}: {stderr}",
        args.join(" "),
        out.status.code()
    );
    Ok(stderr)
}

#[test]
fn n4_private_reads_are_signed_scoped_and_audited() -> Result<()> {
    let mut net = Testnet::start(4)?;
    let work = tempfile::tempdir()?;
    let dir = work.path();
    let keys: Vec<String> = (0..3)
        .map(|i| net.platform_key_path(i).to_str().map(str::to_owned))
        .collect::<Option<_>>()
        .context("path")?;
    let (pa, pb, pc) = (keys[0].as_str(), keys[1].as_str(), keys[2].as_str());
    let (user_key, user) = new_key(&net, dir, "user")?;
    let (mkey_path, mkey) = new_key(&net, dir, "merchant")?;
    let (reg_path, reg) = new_key(&net, dir, "regulator")?;
    let (stranger_path, _) = new_key(&net, dir, "stranger")?;

    // Governance: platform-0 hosts wallets; a regulator is appointed (3 of 4 governors).
    net.qualify_wallet_host(0)?;
    let prop = net.cli_json(
        0,
        &["gov", "propose", "--key", pa, "--appoint-regulator", &reg],
    )?;
    let id = prop["proposal_id"].as_u64().context("id")?.to_string();
    for (i, k) in [(1, pb), (2, pc)] {
        net.cli_json(
            i,
            &["gov", "vote", "--key", k, "--proposal", &id, "--approve"],
        )?;
    }
    net.cli_json_until(0, &["gov", "show", &id], PROGRESS, |v| {
        v["status"].get("executed").is_some()
    })?;

    // The payer at platform-0: verified, a wallet, a card, 100.00.
    net.cli_json(
        0,
        &[
            "wallet",
            "verify-user",
            "--key",
            pa,
            "--user",
            &user,
            "--name",
            "Han Meimei",
            "--id-number",
            "110101199003074512",
            "--phone",
            "+8613800138001",
        ],
    )?;
    net.certify_file(pa, &user_key, PartyRole::User)?;
    let opened = net.cli_json(
        0,
        &[
            "wallet",
            "open",
            "--key",
            pa,
            "--user",
            &user,
            "--currency",
            "CNY",
        ],
    )?;
    let wallet = s(&opened, "/wallet_id")?;
    let card = "6222020200112234";
    let bind = net.cli_json(
        0,
        &[
            "wallet",
            "bind-card",
            "--key",
            pa,
            "--user",
            &user,
            "--card",
            card,
        ],
    )?;
    let (binding, otp) = (s(&bind, "/binding_id")?, s(&bind, "/otp")?);
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
    net.cli_json(
        0,
        &[
            "wallet",
            "top-up",
            "--key",
            pa,
            "--owner-key",
            &user_key,
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

    // The merchant, registered and acquired by platform-1 only.
    let reg_out = net.cli_json(
        1,
        &[
            "merchant",
            "register",
            "--key",
            pb,
            "--name",
            "Quiet Noodles",
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
    let mid = s(&reg_out, "/merchant_id")?;
    net.certify_file(pb, &mkey_path, PartyRole::Merchant)?;
    let info = dir.join("record.json");
    std::fs::write(
        &info,
        paychain_tests::acquiring_record("48020001", "P1-PRIV"),
    )?;
    net.cli_json(
        1,
        &[
            "record",
            "put",
            "--key",
            pb,
            "--merchant",
            &mid,
            "--info",
            p(&info)?,
        ],
    )?;
    net.cli_json(
        3,
        &[
            "merchant",
            "accept",
            "--key",
            &mkey_path,
            "--platform",
            "platform-1",
        ],
    )?;
    net.cli_json_until(3, &["merchant", "show", &mid], PROGRESS, |v| {
        v["platforms"].as_array().is_some_and(|a| !a.is_empty())
    })?;

    // The payment, marked in its order reference, routed to platform-1 (the SDK's `pay` routes to
    // the payer's own platform; the contract lets a payer of A pay through B's route).
    let merchant = net.rpc(3).call(method::MERCHANT, json!([mid]))?;
    let route = merchant["routes"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["platform_id"] == "platform-1"))
        .context("no route at platform-1")?
        .clone();
    let payer = load_key(Path::new(&user_key))?;
    let rpc3 = net.rpc(3);
    let chain = s(&rpc3.status()?, "/chain_id")?;
    let pay = Call::Wallet(wallet::Call::Pay {
        from_wallet: wallet.parse().context("wallet id")?,
        merchant_id: MerchantId::parse(&mid)?,
        acquirer: PlatformId::new("platform-1")?,
        amount: serde_json::from_value(json!({"value": "12.50", "currency": "CNY"}))?,
        order_ref: "MARK-PRIV-7".into(),
        route: serde_json::from_value(route)?,
    });
    let tx = txs::signed_call(&payer, &chain, rpc3.nonce(&payer.public_key())?, pay);
    let hash = rpc3
        .submit(&tx.to_bytes())?
        .map_err(|e| anyhow::anyhow!("submit: {e}"))?;
    let committed = rpc3.wait_committed(&hash, PROGRESS)?;
    ensure!(committed["code"] == 0, "{committed}");
    // Every node has the payment before anyone reads it (reads go to node 2).
    let h = committed["height"].as_u64().context("height")?;
    net.wait_all(&[0, 1, 2, 3], h, PROGRESS)?;
    let payment = hash;
    let payment_id: Hash = payment.parse().context("payment id")?;
    let q = || Query::Payment { payment_id };

    // Entitled: payer, merchant, A (payer's host), B (acquirer), the regulator.
    let rpc = net.rpc(2);
    let key = |path: &str| load_key(Path::new(path));
    for (who, path) in [
        ("payer", user_key.as_str()),
        ("merchant", mkey_path.as_str()),
        ("platform A", pa),
        ("platform B", pb),
        ("regulator", reg_path.as_str()),
    ] {
        let v = rpc.read(&key(path)?, q()).with_context(|| who.to_owned())?;
        ensure!(
            v["payment"]["order_ref"] == "MARK-PRIV-7"
                && v["payment"]["amount"]["value"] == "12.50",
            "{who}: {v}"
        );
    }
    // Refused, with the clear error: a stranger and platform C.
    for (who, path) in [("stranger", stranger_path.as_str()), ("platform C", pc)] {
        let e = rpc.read_err(&key(path)?, q())?;
        ensure!(
            e.code == i64::from(ErrorCode::ReadNotEntitled.code())
                && e.message.contains("may not read payment")
                && !e.message.contains("MARK-PRIV"),
            "{who}: {e}"
        );
    }
    // Unsigned (the old positional param): refused.
    let e = rpc.call_err(method::PAYMENT, json!([payment]))?;
    ensure!(
        e.code == i64::from(ErrorCode::ReadNotSigned.code()) && e.message.contains("signed read"),
        "{e}"
    );
    // Stale, and too far ahead: refused.
    let (mut stale, reply) = rpc.read_request(&payer, q())?;
    let tip = rpc.height()?;
    stale.valid_until_height = tip.saturating_sub(1);
    let e = rpc
        .send_read(&stale.sign(&payer), &reply)?
        .err()
        .context("stale answered")?;
    ensure!(e.code == i64::from(ErrorCode::ReadExpired.code()), "{e}");
    let (mut ahead, reply) = rpc.read_request(&payer, q())?;
    ahead.valid_until_height = tip + 1000;
    let e = rpc
        .send_read(&ahead.sign(&payer), &reply)?
        .err()
        .context("ahead answered")?;
    ensure!(e.code == i64::from(ErrorCode::ReadExpired.code()), "{e}");
    // Signed by the stranger, claiming to be the payer: refused.
    let (claim, reply) = rpc.read_request(&payer, q())?;
    let e = rpc
        .send_read(&claim.sign(&key(&stranger_path)?), &reply)?
        .err()
        .context("forged read answered")?;
    ensure!(
        e.code == i64::from(ErrorCode::ReadBadSignature.code()),
        "{e}"
    );
    // The answer on the wire is sealed: no order reference, no amount in the clear.
    let (req, _) = rpc.read_request(&payer, q())?;
    let raw = rpc
        .call(
            method::PAYMENT,
            json!([hex::encode(req.sign(&payer).to_bytes())]),
        )?
        .to_string();
    ensure!(
        !raw.contains("MARK-PRIV") && !raw.contains("12.50") && raw.contains("sealed"),
        "{raw:.300}"
    );

    // Balances and statements: the owner and its host read the wallet, C does not.
    let account = Account::Wallet {
        id: wallet.parse().context("wallet id")?,
    };
    let st = rpc.read(
        &key(pa)?,
        Query::Statement {
            account: account.clone(),
            from_height: 0,
            to_height: None,
        },
    )?;
    ensure!(st["closing_balance"] == "87.50", "{st}");
    let e = rpc.read_err(&key(pc)?, Query::Balance { account })?;
    ensure!(
        e.code == i64::from(ErrorCode::ReadNotEntitled.code()),
        "{e}"
    );

    // The CLI signs its reads with --key: the payer lists its own certificates and statement; a
    // stranger's key cannot list the payer's, nor C's read the payer's wallet.
    let certs = net.cli_json(2, &["cert", "list", "--key", &user_key])?;
    ensure!(
        certs["certificates"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["tx_hash"] == payment.as_str())),
        "{certs}"
    );
    let e = refused(
        &net,
        2,
        &[
            "cert",
            "list",
            "--key",
            &stranger_path,
            "--public-key",
            &user,
        ],
    )?;
    ensure!(e.contains("may not read certificates of"), "{e}");
    let e = refused(
        &net,
        2,
        &["wallet", "statement", "--wallet", &wallet, "--key", pc],
    )?;
    ensure!(e.contains("may not read statement of"), "{e}");
    let st = net.cli_json(
        2,
        &[
            "wallet",
            "statement",
            "--wallet",
            &wallet,
            "--key",
            &user_key,
        ],
    )?;
    ensure!(st["closing_balance"] == "87.50", "{st}");
    // The merchant (payee) fetches the certificate with a signed read and verifies it offline.
    let cert = dir.join("cert.json");
    // (Its certificate needs the next block committed: wait for it.)
    net.cli_json_until(
        2,
        &[
            "cert",
            "get",
            &payment,
            "--key",
            &mkey_path,
            "-o",
            p(&cert)?,
        ],
        PROGRESS,
        |v| v["tx"].is_object(),
    )?;
    let genesis = net.dir.path().join("genesis.json");
    let ok = net.cli_json(2, &["cert", "verify", p(&cert)?, "--genesis", p(&genesis)?])?;
    ensure!(ok["valid"] == true, "{ok}");
    let e = refused(&net, 2, &["cert", "get", &payment, "--key", pc])?;
    ensure!(e.contains("may not read certificate of tx"), "{e}");

    // The regulator's reads are audited on the node that answered them: members list them (by id,
    // no plaintext); a stranger may not.
    let audit = net.cli_json(2, &["gov", "audit", "--key", pc])?;
    let entries = audit["entries"].as_array().context("entries")?;
    ensure!(
        entries.iter().any(|e| e["requester"] == reg.as_str()
            && e["method"] == method::PAYMENT
            && e["subject"] == format!("payment {payment}").as_str()),
        "{audit}"
    );
    ensure!(!audit.to_string().contains("MARK-PRIV"), "{audit}");
    let e = rpc.read_err(
        &key(&stranger_path)?,
        Query::RegulatorAudit {
            from_seq: 0,
            limit: 100,
        },
    )?;
    ensure!(
        e.code == i64::from(ErrorCode::ReadNotEntitled.code()),
        "{e}"
    );
    Ok(())
}
