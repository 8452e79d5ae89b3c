//! Offline store, online identity, end to end through the `paychain` CLI on a 4-node network: a
//! wallet host is qualified, Alice and Bob get funded CNY wallets, a store is registered. The store
//! scans Alice's identity code (a PNG) and creates an order; Alice confirms it and the store's
//! to-be-settled account is credited once; a second confirmation, Bob confirming Alice's order and
//! confirming an expired order (block time) are refused; with a standing authorisation an order at
//! the limit is paid in its create tx and one above it stays pending.
//!
//! Every step waits on its receipt or polls a read with a deadline; nothing sleeps. Each key always
//! submits through the same node (store and Alice: node 1, Bob: node 2).

use anyhow::{ensure, Context, Result};
use paychain_tests::Testnet;
use serde_json::Value;

use crate::collection::{acquired_merchant, funded_user, p, refused, s};
use crate::PROGRESS;

#[allow(clippy::too_many_arguments)]
fn order_args<'a>(
    mkey: &'a str,
    mid: &'a str,
    user_code: &'a str,
    order_no: &'a str,
    amount: &'a str,
    expires_in: &'a str,
) -> Vec<&'a str> {
    vec![
        "store",
        "order",
        "--key",
        mkey,
        "--merchant",
        mid,
        "--acquirer",
        "platform-0",
        "--user-code",
        user_code,
        "--order-no",
        order_no,
        "--amount",
        amount,
        "--currency",
        "CNY",
        "--expires-in",
        expires_in,
    ]
}

fn tbs_entries(net: &Testnet, node: usize, mid: &str) -> Result<Vec<Value>> {
    let p0 = paychain_tests::load_key(&net.platform_key_path(0))?;
    let st = net
        .rpc(node)
        .read(&p0, crate::collection::tbs_statement(mid)?)?;
    Ok(st["entries"].as_array().cloned().unwrap_or_default())
}

#[test]
fn n4_store_order_identity_code_end_to_end() -> Result<()> {
    let net = Testnet::start(4)?;
    let work = tempfile::tempdir()?;
    let dir = work.path();
    let p0_path = net.platform_key_path(0);
    let p0 = p0_path.to_str().context("path")?;
    net.qualify_wallet_host(0)?;

    // The store, acquired by platform-0.
    let (mkey_file, mid) = acquired_merchant(&net, dir, p0, ("Corner Shop", "Shanghai", "5411"))?;
    let (a, a_wallet) = funded_user(&net, dir, p0, "Alice", 1)?;
    let (b, _) = funded_user(&net, dir, p0, "Bob", 2)?;
    net.cli_json_until(1, &["merchant", "show", &mid], PROGRESS, |v| {
        v["platforms"].as_array().is_some_and(|p| !p.is_empty())
    })?;

    // Alice shows her identity code; the store scans it (a PNG) and creates the order.
    let png = dir.join("alice-id.png");
    let code = net.cli_json(1, &["identity", "code", "--key", &a, "-o", p(&png)?])?;
    let alice = s(&code, "/public_key")?;
    ensure!(
        s(&code, "/payload")? == format!("paychain-id:{alice}"),
        "{code}"
    );
    let items = dir.join("items.txt");
    std::fs::write(&items, "2 x milk\n1 x bread\n")?;
    let mut args = order_args(&mkey_file, &mid, p(&png)?, "S-0001", "12.50", "600");
    args.extend(["--items", p(&items)?]);
    let created = net.cli_json(1, &args)?;
    ensure!(
        created["status"] == "committed" && created["auto_paid"] == false,
        "{created}"
    );
    ensure!(created["user"] == alice.as_str(), "{created}");
    let oid = s(&created, "/order_id")?;
    let shown = net.cli_json(1, &["store", "show", &oid, "--key", p0])?;
    ensure!(
        shown["order"]["status"] == "pending" && shown["expired"] == false,
        "{shown}"
    );

    // Alice confirms: her wallet is debited, the store's to-be-settled account credited once.
    let paid = net.cli_json(1, &["store", "confirm", "--key", &a, "--order", &oid])?;
    ensure!(paid["status"] == "committed", "{paid}");
    let w = net.cli_json_until(
        1,
        &["wallet", "show", &a_wallet, "--key", p0],
        PROGRESS,
        |v| v["balance"] == "87.50",
    )?;
    ensure!(w["balance"] == "87.50", "{w}");
    let entries = tbs_entries(&net, 1, &mid)?;
    ensure!(
        entries.len() == 1 && entries[0]["amount"]["value"] == "12.50",
        "{entries:?}"
    );
    let shown = net.cli_json(1, &["store", "show", &oid, "--key", p0])?;
    ensure!(shown["order"]["status"] == "paid", "{shown}");
    // Its certificate is issued like any payment's.
    let paid_tx = s(&paid, "/tx_hash")?;
    let cert_path = dir.join("store-cert.json");
    net.cli_json_until(1, &["status"], PROGRESS, |v| {
        v["height"].as_u64().unwrap_or(0) > paid["height"].as_u64().unwrap_or(u64::MAX)
    })?;
    net.cli_json(
        1,
        &["cert", "get", &paid_tx, "--key", p0, "-o", p(&cert_path)?],
    )?;

    // Paid twice: refused, nothing moves.
    let e = refused(&net, 1, &["store", "confirm", "--key", &a, "--order", &oid])?;
    ensure!(e.contains("already paid"), "{e}");

    // Bob cannot confirm Alice's (pending) order.
    let created = net.cli_json(
        1,
        &order_args(&mkey_file, &mid, p(&png)?, "S-0002", "3.00", "600"),
    )?;
    let oid2 = s(&created, "/order_id")?;
    net.cli_json_until(2, &["store", "show", &oid2, "--key", p0], PROGRESS, |v| {
        v["order"]["status"] == "pending"
    })?;
    let e = refused(
        &net,
        2,
        &["store", "confirm", "--key", &b, "--order", &oid2],
    )?;
    // (Refused at the read: Bob may not even read Alice's order.)
    ensure!(e.contains("may not read store order"), "{e}");

    // An order that expired (block time) is refused.
    let created = net.cli_json(
        1,
        &order_args(
            &mkey_file,
            &mid,
            &format!("paychain-id:{alice}"),
            "S-0003",
            "4.00",
            "3",
        ),
    )?;
    let oid3 = s(&created, "/order_id")?;
    let expires_at = created["expires_at_ms"].as_u64().context("expires_at_ms")?;
    net.cli_json_until(1, &["status"], PROGRESS, |v| {
        v["latest_block_time_ms"].as_u64().unwrap_or(0) >= expires_at
    })?;
    let e = refused(
        &net,
        1,
        &["store", "confirm", "--key", &a, "--order", &oid3],
    )?;
    ensure!(e.contains("expired"), "{e}");
    let shown = net.cli_json(1, &["store", "show", &oid3, "--key", p0])?;
    ensure!(
        shown["expired"] == true && shown["order"]["status"] == "pending",
        "{shown}"
    );

    // A standing authorisation of 20.00: an order at the limit is paid at once, one above is not.
    let auth = net.cli_json(
        1,
        &[
            "store",
            "authorise",
            "--key",
            &a,
            "--merchant",
            &mid,
            "--limit",
            "20.00",
        ],
    )?;
    ensure!(auth["status"] == "committed", "{auth}");
    let created = net.cli_json(
        1,
        &order_args(&mkey_file, &mid, p(&png)?, "S-0004", "20.00", "600"),
    )?;
    ensure!(created["auto_paid"] == true, "{created}");
    let shown = net.cli_json(
        1,
        &["store", "show", &s(&created, "/order_id")?, "--key", p0],
    )?;
    ensure!(
        shown["order"]["status"] == "paid" && shown["order"]["auto_paid"] == true,
        "{shown}"
    );
    let created = net.cli_json(
        1,
        &order_args(&mkey_file, &mid, p(&png)?, "S-0005", "20.01", "600"),
    )?;
    ensure!(created["auto_paid"] == false, "{created}");
    let shown = net.cli_json(
        1,
        &["store", "show", &s(&created, "/order_id")?, "--key", p0],
    )?;
    ensure!(shown["order"]["status"] == "pending", "{shown}");

    let entries = tbs_entries(&net, 1, &mid)?;
    let credited: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["amount"]["value"].as_str())
        .collect();
    ensure!(credited == ["12.50", "20.00"], "{entries:?}");
    let w = net.cli_json(1, &["wallet", "show", &a_wallet, "--key", p0])?;
    ensure!(w["balance"] == "67.50", "{w}");

    // User and store list their orders, newest first.
    let mine = net.cli_json(1, &["store", "list", "--key", &a])?;
    let nos: Vec<&str> = mine["orders"]
        .as_array()
        .context("orders")?
        .iter()
        .filter_map(|o| o["order"]["order_no"].as_str())
        .collect();
    ensure!(
        nos.first() == Some(&"S-0005") && nos.contains(&"S-0001"),
        "{mine}"
    );
    let store_orders = net.cli_json(1, &["store", "list", "--key", &mkey_file])?;
    ensure!(
        store_orders["orders"].as_array().map(Vec::len) >= mine["orders"].as_array().map(Vec::len),
        "{store_orders}"
    );
    let bobs = net.cli_json(2, &["store", "list", "--key", &b])?;
    ensure!(
        bobs["orders"].as_array().is_some_and(|o| o
            .iter()
            .all(|o| o["order"]["user"] == bobs["orders"][0]["order"]["user"])),
        "{bobs}"
    );
    Ok(())
}
