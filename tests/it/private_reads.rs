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

/// The parties of a payment between platforms: a user hosted by platform-0 (A) with a funded
/// wallet, a merchant acquired by platform-1 (B) only, platform-2 (C), a regulator appointed by
/// governance, a stranger. Driven through the CLI.
struct Parties {
    pa: String,
    pb: String,
    pc: String,
    user_key: String,
    user: String,
    mkey_path: String,
    reg_path: String,
    reg: String,
    stranger_path: String,
    wallet: String,
    mid: String,
}

fn parties(net: &mut Testnet, dir: &Path) -> Result<Parties> {
    let keys: Vec<String> = (0..3)
        .map(|i| net.platform_key_path(i).to_str().map(str::to_owned))
        .collect::<Option<_>>()
        .context("path")?;
    let (pa, pb, pc) = (keys[0].as_str(), keys[1].as_str(), keys[2].as_str());
    let (user_key, user) = new_key(net, dir, "user")?;
    let (mkey_path, mkey) = new_key(net, dir, "merchant")?;
    let (reg_path, reg) = new_key(net, dir, "regulator")?;
    let (stranger_path, _) = new_key(net, dir, "stranger")?;

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

    Ok(Parties {
        pa: pa.to_owned(),
        pb: pb.to_owned(),
        pc: pc.to_owned(),
        user_key,
        user,
        mkey_path,
        reg_path,
        reg,
        stranger_path,
        wallet,
        mid,
    })
}

/// Pays `amount` CNY from the user's wallet to the merchant through platform-1's route, with the
/// order reference `order` (the SDK's `pay` routes to the payer's own platform; the contract lets a
/// payer of A pay through B's route), sealed to the chain's exec key when its genesis has one.
/// Returns the payment id and its height, once every node has it.
fn pay(net: &mut Testnet, x: &Parties, order: &str, amount: &str) -> Result<(String, u64)> {
    let (hash, committed) = pay_committed(net, x, order, amount)?;
    ensure!(committed["code"] == 0, "{committed}");
    // Every node has the payment before anyone reads it.
    let h = committed["height"].as_u64().context("height")?;
    net.wait_all(&[0, 1, 2, 3], h, PROGRESS)?;
    Ok((hash, h))
}

/// [`pay`]'s transaction, committed (whatever its code): its hash and receipt.
fn pay_committed(
    net: &mut Testnet,
    x: &Parties,
    order: &str,
    amount: &str,
) -> Result<(String, serde_json::Value)> {
    let tx = pay_tx(net, x, order, amount, true)?;
    let rpc3 = net.rpc(3);
    let hash = rpc3
        .submit(&tx.to_bytes())?
        .map_err(|e| anyhow::anyhow!("submit: {e}"))?;
    let committed = rpc3.wait_committed(&hash, PROGRESS)?;
    Ok((hash, committed))
}

/// [`pay`]'s transaction, signed by the payer; sealed when `seal` and the genesis has an exec key.
fn pay_tx(
    net: &mut Testnet,
    x: &Parties,
    order: &str,
    amount: &str,
    seal: bool,
) -> Result<paychain_contracts::tx::SignedTx> {
    let (wallet, mid, user_key) = (&x.wallet, &x.mid, &x.user_key);
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
        merchant_id: MerchantId::parse(mid)?,
        acquirer: PlatformId::new("platform-1")?,
        amount: serde_json::from_value(json!({"value": amount, "currency": "CNY"}))?,
        order_ref: order.into(),
        route: serde_json::from_value(route)?,
    });
    let nonce = rpc3.nonce(&payer.public_key())?;
    let exec = if seal { net.exec_key()? } else { None };
    let call = paychain_client::tx::seal_if_private(
        exec.as_ref(),
        &paychain_contracts::ids::ChainId::new(chain.as_str()),
        &payer.public_key(),
        nonce,
        pay,
    )?;
    Ok(txs::signed_call(&payer, &chain, nonce, call))
}

#[test]
fn n4_private_reads_are_signed_scoped_and_audited() -> Result<()> {
    let mut net = Testnet::start(4)?;
    let work = tempfile::tempdir()?;
    let dir = work.path();
    let x = parties(&mut net, dir)?;
    let (pa, pb, pc) = (x.pa.as_str(), x.pb.as_str(), x.pc.as_str());
    let Parties {
        user_key,
        user,
        mkey_path,
        reg_path,
        reg,
        stranger_path,
        wallet,
        ..
    } = &x;
    let (hash, _) = pay(&mut net, &x, "MARK-PRIV-7", "12.50")?;
    let payer = load_key(Path::new(user_key))?;
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
        .send_read(&claim.sign(&key(stranger_path)?), &reply)?
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
    let certs = net.cli_json(2, &["cert", "list", "--key", user_key])?;
    ensure!(
        certs["certificates"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["tx_hash"] == payment.as_str())),
        "{certs}"
    );
    let e = refused(
        &net,
        2,
        &["cert", "list", "--key", stranger_path, "--public-key", user],
    )?;
    ensure!(e.contains("may not read certificates of"), "{e}");
    let e = refused(
        &net,
        2,
        &["wallet", "statement", "--wallet", wallet, "--key", pc],
    )?;
    ensure!(e.contains("may not read statement of"), "{e}");
    let st = net.cli_json(
        2,
        &["wallet", "statement", "--wallet", wallet, "--key", user_key],
    )?;
    ensure!(st["closing_balance"] == "87.50", "{st}");
    // The merchant (payee) fetches the certificate with a signed read and verifies it offline.
    let cert = dir.join("cert.json");
    // (Its certificate needs the next block committed: wait for it.)
    net.cli_json_until(
        2,
        &["cert", "get", &payment, "--key", mkey_path, "-o", p(&cert)?],
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
        &key(stranger_path)?,
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

/// Every file under `dir` whose bytes contain `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Result<Vec<String>> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.is_file() {
                // A socket or a file gone in between is not an error of the scan.
                if let Ok(bytes) = std::fs::read(&path) {
                    if bytes.windows(needle.len()).any(|w| w == needle) {
                        hits.push(path.display().to_string());
                    }
                }
            }
        }
    }
    Ok(hits)
}

/// On a chain with private state (issue 17, item 2), a payment from a user of platform A to a
/// merchant acquired by platform B executes inside every validator's enclave: platform C's node
/// (its home: RocksDB, WAL, logs, keys) holds neither the order reference nor the amount, its RPC
/// serves the transaction and its receipt sealed, every validator reaches the same app hash, and the
/// enclaves still enforce the balance (a payment over it is refused). C's node is a lying host: it
/// tells its enclave that C's key is the regulator, and is refused. The payer, the merchant, A, B
/// and the regulator read the payment in full; a stranger and C do not.
#[test]
fn n4_private_state_keeps_payment_details_off_other_platforms_nodes() -> Result<()> {
    const MARKER: &str = "MARK-SEALED-4417";
    let mut net = Testnet::start_with(
        4,
        paychain_tests::Options {
            private_state: true,
            env: [
                ("PAYCHAIN_TEST_FAULTS", "enable"),
                ("PAYCHAIN_TEST_BYZANTINE", "forge-role"),
            ]
            .iter()
            .map(|(k, v)| (2, k.to_string(), v.to_string()))
            .collect(),
            ..Default::default()
        },
    )?;
    ensure!(
        net.exec_key()?.is_some(),
        "the genesis publishes no exec key"
    );
    let work = tempfile::tempdir()?;
    let x = parties(&mut net, work.path())?;
    let (hash, h) = pay(&mut net, &x, MARKER, "12.34")?;
    let hashes = (0..4)
        .map(|i| net.app_hash_after(i, h, PROGRESS))
        .collect::<Result<Vec<_>>>()?;
    ensure!(
        hashes.iter().all(|a| *a == hashes[0]),
        "app hashes differ: {hashes:?}"
    );
    // A payment in the clear (a careless or hostile client) is refused at the door: its details
    // never reach a block.
    let plain = pay_tx(&mut net, &x, "MARK-PLAIN-1", "1.00", false)?;
    let e = net
        .rpc(3)
        .submit(&plain.to_bytes())?
        .err()
        .context("a payment in the clear was admitted")?;
    ensure!(e.to_string().contains("must be sealed"), "{e}");
    // The enclaves enforce the balance they alone can read: 100.00 - 12.34 leaves 87.66.
    let (_, over) = pay_committed(&mut net, &x, "MARK-OVER-1", "90.00")?;
    ensure!(
        over["code"] != 0,
        "a payment over the balance went through: {over}"
    );
    ensure!(
        !over.to_string().contains("90.00") && !over.to_string().contains("87.66"),
        "the refusal's receipt tells the amounts: {over}"
    );

    // What platform C's operator has: its node's RPC ...
    let rpc = net.rpc(2);
    let tx = rpc.call(method::TX, json!([hash]))?;
    let block = rpc.block(h)?.context("no block")?;
    for (what, v) in [("tx", &tx), ("block", &block)] {
        let text = v.to_string();
        ensure!(
            !text.contains(MARKER) && !text.contains("12.34"),
            "the {what} served by C's node holds the payment's details: {text}"
        );
    }
    ensure!(
        tx.to_string().contains("sealed"),
        "the transaction is not sealed: {tx}"
    );
    // ... and its node home, every file of it (RocksDB, its WAL, logs). The merchant's public
    // name is in it (the scanner's positive control); the order reference and the amount's
    // encoding are not.
    let home = net.nodes[2].home.clone();
    ensure!(
        !files_holding(&home, b"Quiet Noodles")?.is_empty(),
        "the scan finds not even the merchant's public name in {}",
        home.display()
    );
    let amount = paychain_contracts::codec::encode(&paychain_contracts::money::Amount {
        value: "12.34".parse()?,
        currency: paychain_contracts::money::Currency::CNY,
    });
    for (what, needle) in [
        ("order reference", MARKER.as_bytes()),
        ("amount", &amount[..]),
    ] {
        let hits = files_holding(&home, needle)?;
        ensure!(hits.is_empty(), "C's node home holds the {what}: {hits:?}");
    }

    // C's operator asks its own node, which tells its enclave that C's key is the regulator (the
    // genuine proof of that entry, a forged value): the enclave checks the proof and refuses.
    let payment_id: Hash = hash.parse().context("payment id")?;
    let q = || Query::Payment { payment_id };
    let key = |path: &str| load_key(Path::new(path));
    let e = rpc.read_err(&key(&x.pc)?, q())?;
    ensure!(
        !e.message.contains(MARKER) && !e.message.contains("12.34"),
        "C's lying node got an answer: {e:?}"
    );
    // Refused for the forged evidence (an honest node would say "not entitled": below).
    ensure!(
        e.code != i64::from(ErrorCode::ReadNotEntitled.code()),
        "the forged evidence was not used: {e:?}"
    );
    // Those entitled read it in full, answered by another node's enclave (the node proves the
    // state to its enclave and passes on an answer sealed to the reader); the rest are refused.
    let rpc = net.rpc(3);
    for (who, path) in [
        ("payer", x.user_key.as_str()),
        ("merchant", x.mkey_path.as_str()),
        ("platform A", x.pa.as_str()),
        ("platform B", x.pb.as_str()),
        ("regulator", x.reg_path.as_str()),
    ] {
        let v = rpc.read(&key(path)?, q()).with_context(|| who.to_owned())?;
        ensure!(
            v["payment"]["order_ref"] == MARKER && v["payment"]["amount"]["value"] == "12.34",
            "{who}: {v}"
        );
    }
    for (who, path) in [
        ("stranger", x.stranger_path.as_str()),
        ("platform C", x.pc.as_str()),
    ] {
        let e = rpc.read_err(&key(path)?, q())?;
        ensure!(
            e.code == i64::from(ErrorCode::ReadNotEntitled.code()) && !e.message.contains(MARKER),
            "{who}: {e:?}"
        );
    }
    // Through the CLI: the payer's statement shows the payment to the payer, its host A and the
    // regulator; C may not read it.
    for (who, path) in [
        ("payer", x.user_key.as_str()),
        ("platform A", x.pa.as_str()),
        ("regulator", x.reg_path.as_str()),
    ] {
        let st = net.cli_json(
            3,
            &["wallet", "statement", "--wallet", &x.wallet, "--key", path],
        )?;
        ensure!(
            st.to_string().contains(MARKER) && st.to_string().contains("87.66"),
            "{who}'s view of the payer's statement: {st}"
        );
    }
    let e = refused(
        &net,
        3,
        &["wallet", "statement", "--wallet", &x.wallet, "--key", &x.pc],
    )?;
    ensure!(e.contains("may not read") && !e.contains(MARKER), "{e}");

    // The merchant's certificate comes with the disclosure of the sealed payment; anyone given the
    // file checks offline, against genesis, that the disclosed payment is the one the chain
    // committed. A disclosure with another amount is refused; C gets no certificate.
    let file = work.path().join("merchant-cert.json");
    let file_s = p(&file)?;
    net.cli_json(
        3,
        &["cert", "get", &hash, "--key", &x.mkey_path, "-o", file_s],
    )?;
    let genesis = net.genesis_path();
    let genesis_s = p(&genesis)?;
    let v = net.cli_json(3, &["cert", "verify", file_s, "--genesis", genesis_s])?;
    ensure!(
        v["valid"] == true && v["disclosed_call"].to_string().contains(MARKER),
        "{v}"
    );
    let text = std::fs::read_to_string(&file)?;
    ensure!(
        text.contains("\"12.34\""),
        "the disclosure shows no amount: {text}"
    );
    let forged = work.path().join("forged.json");
    std::fs::write(&forged, text.replace("12.34", "1.23"))?;
    let e = refused(
        &net,
        3,
        &["cert", "verify", p(&forged)?, "--genesis", genesis_s],
    )?;
    ensure!(e.contains("disclosure does not match"), "{e}");
    let e = refused(&net, 3, &["cert", "get", &hash, "--key", &x.pc])?;
    ensure!(e.contains("may not read") && !e.contains(MARKER), "{e}");
    // The other parties get it disclosed as well.
    for (who, path) in [
        ("payer", x.user_key.as_str()),
        ("platform A", x.pa.as_str()),
        ("platform B", x.pb.as_str()),
        ("regulator", x.reg_path.as_str()),
    ] {
        let v = net.cli_json(3, &["cert", "get", &hash, "--key", path])?;
        ensure!(
            v["disclosure"]["call"].to_string().contains(MARKER),
            "{who}: {v}"
        );
    }
    Ok(())
}
