//! Pay by lookup on 4 nodes, through the CLI: each payer's payment is routed by the acquiring record
//! that its own platform configured for the merchant, as the enclave returned it to the payer; a
//! record without the merchant's consent is never routed to; a payment routed by a record that
//! changed since is refused by the contract.

use std::path::Path;

use anyhow::{ensure, Context, Result};
use paychain_contracts::ids::{MerchantId, PlatformId};
use paychain_contracts::money::{Amount, Currency};
use paychain_contracts::registry::Route;
use paychain_contracts::tx::Call;
use paychain_contracts::wallet;
use paychain_tests::{load_key, txs, Testnet};
use serde_json::Value;

use crate::collection::{funded_user_of, new_key, p, refused, s};
use crate::PROGRESS;

/// Puts `platform-<i>`'s record for `mid` (institution `4802000<i>`) through node `i`.
fn put_record(net: &Testnet, dir: &Path, i: usize, mid: &str, version_tag: &str) -> Result<Value> {
    let info = dir.join(format!("record-{i}-{version_tag}.json"));
    std::fs::write(
        &info,
        paychain_tests::acquiring_record(&format!("4802000{i}"), &format!("P{i}-{version_tag}")),
    )?;
    let key = net.platform_key_path(i);
    net.cli_json(
        i,
        &[
            "record",
            "put",
            "--key",
            p(&key)?,
            "--merchant",
            mid,
            "--info",
            p(&info)?,
        ],
    )
}

/// The merchant (key file `mkey`, submitting through node 3) accepts or ends `platform`.
fn consent(net: &Testnet, mkey: &str, verb: &str, platform: &str) -> Result<Value> {
    net.cli_json(
        3,
        &["merchant", verb, "--key", mkey, "--platform", platform],
    )
}

/// `paychain pay` of the static code `png` for 10.00 CNY, order `order`, as `payer`, writing the
/// certificate to `cert`.
fn pay_args<'a>(png: &'a str, payer: &'a str, order: &'a str, cert: &'a str) -> Vec<&'a str> {
    vec![
        "pay", "--code", png, "--key", payer, "--amount", "10.00", "--order", order, "-o", cert,
    ]
}

fn certified_acquirer(cert: &str) -> Result<(String, u64)> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(cert)?)?;
    let pay = &v["tx"]["tx"]["call"]["wallet"]["pay"];
    Ok((
        s(pay, "/acquirer")?,
        pay["route"]["record_version"]
            .as_u64()
            .with_context(|| format!("no route in {pay}"))?,
    ))
}

#[test]
fn n4_each_payer_is_routed_by_its_own_platforms_record() -> Result<()> {
    let mut net = Testnet::start(4)?;
    let work = tempfile::tempdir()?;
    let dir = work.path();
    let keys: Vec<String> = (0..3)
        .map(|i| p(&net.platform_key_path(i)).map(str::to_owned))
        .collect::<Result<_>>()?;
    for host in 0..3 {
        net.qualify_wallet_host(host)?;
    }

    // A merchant registered by platform-0; platform-0 and platform-1 each configure their own
    // acquiring record for it; both wait for the merchant's consent until it accepts them.
    let (mkey, mkey_pub) = new_key(&net, dir, "merchant")?;
    let reg = net.cli_json(
        0,
        &[
            "merchant",
            "register",
            "--key",
            &keys[0],
            "--name",
            "Noodle House",
            "--city",
            "Shanghai",
            "--mcc",
            "5812",
            "--country",
            "CN",
            "--merchant-key",
            &mkey_pub,
        ],
    )?;
    let mid = s(&reg, "/merchant_id")?;
    net.certify_file(&keys[0], &mkey, paychain_contracts::ca::PartyRole::Merchant)?;
    put_record(&net, dir, 0, &mid, "A1")?;
    put_record(&net, dir, 1, &mid, "B1")?;
    net.cli_json_until(3, &["merchant", "show", &mid], PROGRESS, |v| {
        v["pending"] == serde_json::json!(["platform-0", "platform-1"])
    })?;
    consent(&net, &mkey, "accept", "platform-0")?;
    consent(&net, &mkey, "accept", "platform-1")?;

    // One payer per platform (each submits through its own node), and one static code.
    let (payer_a, _) = funded_user_of(&net, dir, (&keys[0], 0), "payer-a", 1)?;
    let (payer_b, _) = funded_user_of(&net, dir, (&keys[1], 1), "payer-b", 2)?;
    let (payer_c, _) = funded_user_of(&net, dir, (&keys[2], 2), "payer-c", 3)?;
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
            "-o",
            p(&png)?,
        ],
    )?;
    let png = p(&png)?;

    // Both payers scan the same code; each payment is routed by its own platform's record.
    let cert_a = dir.join("cert-a.json");
    let paid_a = net.cli_json(1, &pay_args(png, &payer_a, "A-1", p(&cert_a)?))?;
    let cert_b = dir.join("cert-b.json");
    let paid_b = net.cli_json(2, &pay_args(png, &payer_b, "B-1", p(&cert_b)?))?;
    for (paid, platform, institution, mid_at_acquirer) in [
        (&paid_a, "platform-0", "48020000", "P0-A1"),
        (&paid_b, "platform-1", "48020001", "P1-B1"),
    ] {
        ensure!(
            paid["status"] == "paid"
                && paid["acquirer"] == platform
                && paid["acquiring"]["acquirer_institution_id"] == institution
                && paid["acquiring"]["acquirer_merchant_id"] == mid_at_acquirer
                && paid["route"]["record_version"] == 1,
            "{paid}"
        );
    }
    // The certificates name different acquirers, each with the record version it was routed by.
    ensure!(certified_acquirer(p(&cert_a)?)? == ("platform-0".into(), 1));
    ensure!(certified_acquirer(p(&cert_b)?)? == ("platform-1".into(), 1));

    // A payer whose platform has no record for the merchant: a clear refusal, nothing sent.
    let cert_c = dir.join("cert-c.json");
    let e = refused(&net, 3, &pay_args(png, &payer_c, "C-1", p(&cert_c)?))?;
    ensure!(e.contains("not served by your platform platform-2"), "{e}");

    // platform-2 puts a record: pending (no consent), never routed to.
    put_record(&net, dir, 2, &mid, "C1")?;
    net.cli_json_until(3, &["merchant", "show", &mid], PROGRESS, |v| {
        v["pending"] == serde_json::json!(["platform-2"])
    })?;
    let e = refused(&net, 3, &pay_args(png, &payer_c, "C-1", p(&cert_c)?))?;
    ensure!(e.contains("awaits the merchant's consent"), "{e}");
    // After consent it is routed to; after the merchant ends the association it is not.
    consent(&net, &mkey, "accept", "platform-2")?;
    net.cli_json_until(3, &["merchant", "show", &mid], PROGRESS, |v| {
        v["platforms"].as_array().map(Vec::len) == Some(3)
    })?;
    let paid_c = net.cli_json(3, &pay_args(png, &payer_c, "C-1", p(&cert_c)?))?;
    ensure!(
        paid_c["acquirer"] == "platform-2"
            && paid_c["acquiring"]["acquirer_institution_id"] == "48020002",
        "{paid_c}"
    );
    consent(&net, &mkey, "end", "platform-2")?;
    net.cli_json_until(3, &["merchant", "show", &mid], PROGRESS, |v| {
        v["pending"] == serde_json::json!(["platform-2"])
    })?;
    let e = refused(&net, 3, &pay_args(png, &payer_c, "C-2", p(&cert_c)?))?;
    ensure!(e.contains("awaits the merchant's consent"), "{e}");
    // Only the merchant's key speaks for the merchant: a platform's acceptance is refused.
    let e = refused(
        &net,
        2,
        &[
            "merchant",
            "accept",
            "--key",
            &keys[2],
            "--platform",
            "platform-2",
        ],
    )?;
    ensure!(e.contains("not a registered merchant's key"), "{e}");

    // A payment routed by a record that then changed: payer A's wallet signs a payment with the route
    // of platform-0's version 1; platform-0 puts version 2 first; the contract refuses it.
    let view = net.cli_json(1, &["merchant", "show", &mid])?;
    let old: Route = serde_json::from_value(
        view["routes"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["platform_id"] == "platform-0"))
            .cloned()
            .context("platform-0's route")?,
    )?;
    ensure!(old.record_version == 1, "{view}");
    let updated = put_record(&net, dir, 0, &mid, "A2")?;
    let h = updated["height"].as_u64().context("height")?;
    net.wait_all(&[0, 1, 2, 3], h, PROGRESS)?;
    let payer = load_key(Path::new(&payer_a))?;
    let rpc = net.rpc(1);
    let chain = s(&rpc.status()?, "/chain_id")?;
    let stale = txs::signed_call(
        &payer,
        &chain,
        rpc.nonce(&payer.public_key())?,
        Call::Wallet(wallet::Call::Pay {
            from_wallet: wallet::wallet_id(&payer.public_key(), Currency::CNY),
            merchant_id: MerchantId::parse(&mid)?,
            acquirer: PlatformId::new("platform-0")?,
            amount: Amount::parse("1.00", Currency::CNY)?,
            order_ref: "A-stale".into(),
            route: old,
        }),
    );
    let hash = rpc
        .submit(&stale.to_bytes())?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let receipt = rpc.wait_committed(&hash, PROGRESS)?;
    let error = receipt["error"].as_str().unwrap_or_default();
    ensure!(
        receipt["code"] == 343
            && error.contains("the merchant's acquiring record changed")
            && error.contains("routed by version 1, now version 2")
            && error.contains("look it up again"),
        "{receipt}"
    );
    // Paying through the CLI looks the record up again and is routed by version 2.
    let paid = net.cli_json(1, &pay_args(png, &payer_a, "A-2", p(&cert_a)?))?;
    ensure!(
        paid["route"]["record_version"] == 2
            && paid["acquiring"]["acquirer_merchant_id"] == "P0-A2",
        "{paid}"
    );

    // The fee a code states is shown and paid; a code that asks for a tip needs one.
    let code = |name: &str, order: &str, extra: &[&str]| -> Result<String> {
        let path = p(&dir.join(name))?.to_owned();
        let mut args = vec![
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
            "10.00",
            "--order",
            order,
            "-o",
            &path,
        ];
        args.extend_from_slice(extra);
        net.cli_json(0, &args)?;
        Ok(path)
    };
    let cert_f = dir.join("cert-f.json");
    let cert_f = p(&cert_f)?;
    let fee = code("fee.png", "F-1", &["--fee-percent", "3.00"])?;
    let paid = net.cli_json(1, &["pay", "--code", &fee, "--key", &payer_a, "-o", cert_f])?;
    ensure!(
        paid["amount"]["value"] == "10.30" && paid["due"]["fee"]["value"] == "0.30",
        "{paid}"
    );
    let tip = code("tip.png", "T-1", &["--tip-prompt"])?;
    let out = net.cli(1, &["pay", "--code", &tip, "--key", &payer_a, "-o", cert_f])?;
    let e = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(2) && e.contains("this code asks for a tip"),
        "{e}"
    );
    let paid = net.cli_json(
        1,
        &[
            "pay", "--code", &tip, "--key", &payer_a, "--tip", "1.50", "-o", cert_f,
        ],
    )?;
    ensure!(
        paid["amount"]["value"] == "11.50" && paid["due"]["tip"]["value"] == "1.50",
        "{paid}"
    );
    Ok(())
}
