//! Guardian-delegated payment, end to end through the `paychain` CLI on a 4-node network: a
//! registration terminal shows its code (a PNG); the dependant scans it and asks a guardian, who
//! is watching notifications on another node and sees the request; an unapproved binding pays
//! nothing; the guardian approves with limits and a biometric; the dependant scans a merchant
//! code and pays from the guardian's wallet while every limit holds, and each limit, a missing
//! and a wrong biometric are refused with their reason; the guardian raises the limits, reads the
//! monthly statement, and revokes; a revoked binding pays nothing.
//!
//! Every step waits on its receipt or polls a read with a deadline; nothing sleeps. Each key
//! submits through one node (guardian: node 0, dependant: node 1).

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;

use anyhow::{ensure, Context, Result};
use paychain_tests::Testnet;
use serde_json::Value;

use crate::collection::{acquired_merchant, funded_user, new_key, p, refused, s};
use crate::PROGRESS;

/// `paychain pay` of `amount` by the dependant through the binding, with an optional template;
/// the certificate goes to `cert-<amount>.json` beside the key.
fn pay_args<'a>(
    code: &'a str,
    key: &'a str,
    binding: &'a str,
    amount: &'a str,
    template: Option<&'a str>,
) -> Vec<String> {
    let cert = std::path::Path::new(key).with_file_name(format!("cert-{amount}.json"));
    let mut a: Vec<String> = [
        "pay",
        "--code",
        code,
        "--key",
        key,
        "--binding",
        binding,
        "--amount",
        amount,
        "-o",
        &cert.to_string_lossy(),
    ]
    .map(str::to_owned)
    .to_vec();
    if let Some(t) = template {
        a.extend(["--biometric-template".to_owned(), t.to_owned()]);
    }
    a
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn n4_guardian_delegated_payment_end_to_end() -> Result<()> {
    let net = Testnet::start(4)?;
    let work = tempfile::tempdir()?;
    let dir = work.path();
    let p0_path = net.platform_key_path(0);
    let p0 = p0_path.to_str().context("path")?;
    net.qualify_wallet_host(0)?;

    // A school canteen acquired by platform-0, with a static merchant code.
    let (_, mid) = acquired_merchant(&net, dir, p0, ("School Canteen", "Hangzhou", "5814"))?;
    let code = dir.join("canteen.png");
    net.cli_json(
        0,
        &[
            "qr",
            "encode",
            "--merchant",
            &mid,
            "--name",
            "School Canteen",
            "--city",
            "Hangzhou",
            "--mcc",
            "5814",
            "--currency",
            "CNY",
            "-o",
            p(&code)?,
        ],
    )?;
    let code = p(&code)?;
    let (g, g_wallet) = funded_user(&net, dir, p0, "Guardian", 0)?;
    let g_pk = s(&net.cli_json(0, &["keys", "show", &g])?, "/public_key")?;
    let (child, child_pk) = new_key(&net, dir, "child")?;
    // The dependant is onboarded by its platform like any user (an unknown key cannot request).
    net.cli_json(
        0,
        &[
            "wallet",
            "verify-user",
            "--key",
            p0,
            "--user",
            &child_pk,
            "--name",
            "Child",
            "--id-number",
            "110101201503074518",
            "--phone",
            "+8613800138001",
        ],
    )?;
    net.cli_json_until(1, &["merchant", "show", &mid], PROGRESS, |v| {
        v["platforms"].as_array().is_some_and(|p| !p.is_empty())
    })?;

    // The registration terminal's code; a damaged one is refused before anything is sent.
    let term = dir.join("terminal.png");
    let shown = net.cli_json(
        0,
        &[
            "guardian",
            "terminal-code",
            "--device",
            "SCH-0042",
            "--business",
            "school",
            "-o",
            p(&term)?,
        ],
    )?;
    let payload = s(&shown, "/payload")?;
    let damaged = payload.replace("SCH-0042", "SCH-0043");
    let out = net.cli(
        1,
        &[
            "guardian",
            "request",
            "--key",
            &child,
            "--guardian",
            &g_pk,
            "--terminal",
            &damaged,
        ],
    )?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(2) && stderr.contains("check code"),
        "{stderr}"
    );

    // The guardian watches for notifications through node 2.
    let mut watch = net
        .cli_command(
            2,
            &[
                "guardian",
                "watch",
                "--key",
                &g,
                "--count",
                "1",
                "--timeout",
                "60",
            ],
        )?
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut watch_err = BufReader::new(watch.stderr.take().context("stderr")?);
    let mut line = String::new();
    watch_err.read_line(&mut line)?;
    ensure!(line.contains("watching guardian notifications"), "{line}");

    // The dependant scans the terminal and asks.
    let req = net.cli_json(
        1,
        &[
            "guardian",
            "request",
            "--key",
            &child,
            "--guardian",
            &g_pk,
            "--terminal",
            p(&term)?,
        ],
    )?;
    ensure!(req["status"] == "committed", "{req}");
    let binding = s(&req, "/binding_id")?;

    let status = watch.wait()?;
    let mut stdout = String::new();
    watch
        .stdout
        .take()
        .context("stdout")?
        .read_to_string(&mut stdout)?;
    ensure!(status.success(), "watch failed: {stdout}");
    let seen: Value = serde_json::from_str(&stdout)?;
    let n = &seen["notifications"][0];
    ensure!(
        n["kind"] == "guardian_binding_requested"
            && n["attributes"]["binding_id"] == binding.as_str()
            && n["attributes"]["dependant"] == child_pk.as_str()
            && n["attributes"]["device_no"] == "SCH-0042"
            && n["attributes"]["business_type"] == "school",
        "{seen}"
    );

    // Not approved yet: pays nothing.
    let e = refused(
        &net,
        1,
        &strs(&pay_args(code, &child, &binding, "5.00", None)),
    )?;
    ensure!(e.contains("not approved it"), "{e}");

    // The guardian approves with limits and binds the child's biometric template.
    let tmpl = dir.join("child.tmpl");
    std::fs::write(&tmpl, b"minutiae of the child's right thumb")?;
    let other_tmpl = dir.join("other.tmpl");
    std::fs::write(&other_tmpl, b"someone else's thumb")?;
    let tmpl = p(&tmpl)?;
    let approved = net.cli_json(
        0,
        &[
            "guardian",
            "approve",
            "--key",
            &g,
            "--binding",
            &binding,
            "--per-payment",
            "20.00",
            "--per-day",
            "30.00",
            "--payments-per-day",
            "2",
            "--biometric-template",
            tmpl,
        ],
    )?;
    ensure!(approved["status"] == "committed", "{approved}");
    net.cli_json_until(
        1,
        &["guardian", "show", &binding, "--key", &g],
        PROGRESS,
        |v| v["status"] == "active",
    )?;

    // Biometric missing, then wrong.
    let e = refused(
        &net,
        1,
        &strs(&pay_args(code, &child, &binding, "5.00", None)),
    )?;
    ensure!(e.contains("requires your biometric"), "{e}");
    let e = refused(
        &net,
        1,
        &strs(&pay_args(
            code,
            &child,
            &binding,
            "5.00",
            Some(p(&other_tmpl)?),
        )),
    )?;
    ensure!(e.contains("biometric does not match"), "{e}");

    // Over the per-payment limit.
    let e = refused(
        &net,
        1,
        &strs(&pay_args(code, &child, &binding, "25.00", Some(tmpl))),
    )?;
    ensure!(e.contains("limit per payment exceeded"), "{e}");

    // Within every limit: paid from the guardian's wallet, with a certificate.
    let cert = dir.join("cert-18.00.json");
    let paid = net.cli_json(
        1,
        &strs(&pay_args(code, &child, &binding, "18.00", Some(tmpl))),
    )?;
    ensure!(
        paid["status"] == "paid"
            && paid["binding"] == binding.as_str()
            && paid["wallet_id"] == g_wallet.as_str()
            && paid["acquirer"] == "platform-0",
        "{paid}"
    );
    let genesis = net.dir.path().join("genesis.json");
    let verified = net.cli_json(1, &["cert", "verify", p(&cert)?, "--genesis", p(&genesis)?])?;
    ensure!(verified["valid"] == true, "{verified}");
    net.cli_json_until(
        0,
        &["wallet", "show", &g_wallet, "--key", &g],
        PROGRESS,
        |v| v["balance"] == "82.00",
    )?;

    // The daily amount, then the daily count.
    let e = refused(
        &net,
        1,
        &strs(&pay_args(code, &child, &binding, "15.00", Some(tmpl))),
    )?;
    ensure!(
        e.contains("daily limit exceeded: 18.00 CNY spent today"),
        "{e}"
    );
    net.cli_json(
        1,
        &strs(&pay_args(code, &child, &binding, "12.00", Some(tmpl))),
    )?;
    let e = refused(
        &net,
        1,
        &strs(&pay_args(code, &child, &binding, "0.01", Some(tmpl))),
    )?;
    ensure!(e.contains("payments per day exceeded: 2 of 2"), "{e}");

    // The guardian raises the limits; they apply at once.
    let changed = net.cli_json(
        0,
        &[
            "guardian",
            "limits",
            "--key",
            &g,
            "--binding",
            &binding,
            "--per-payment",
            "50.00",
            "--per-day",
            "100.00",
            "--payments-per-day",
            "5",
        ],
    )?;
    ensure!(changed["status"] == "committed", "{changed}");
    net.cli_json_until(
        1,
        &["guardian", "show", &binding, "--key", &g],
        PROGRESS,
        |v| v["authorisation"]["limits"]["payments_per_day"] == 5,
    )?;
    net.cli_json(
        1,
        &strs(&pay_args(code, &child, &binding, "1.00", Some(tmpl))),
    )?;

    // The monthly statement and the listings.
    let st = net.cli_json_until(
        0,
        &["guardian", "statement", "--binding", &binding, "--key", &g],
        PROGRESS,
        |v| v["payments"].as_array().is_some_and(|a| a.len() == 3),
    )?;
    ensure!(st["total"] == "31.00" && st["refunded"] == "0.00", "{st}");
    let listed = net.cli_json(0, &["guardian", "list", "--key", &child])?;
    ensure!(
        listed["bindings"].as_array().map(Vec::len) == Some(1)
            && listed["bindings"][0]["guardian"] == g_pk.as_str(),
        "{listed}"
    );

    // Someone else cannot revoke; the guardian does; a revoked binding pays nothing.
    let (stranger, _) = new_key(&net, dir, "stranger")?;
    let e = refused(
        &net,
        3,
        &[
            "guardian",
            "revoke",
            "--key",
            &stranger,
            "--binding",
            &binding,
        ],
    )?;
    ensure!(e.contains("is not known to this chain"), "{e}");
    // Nor can a user the chain knows who is no party to the binding.
    let stranger_pk = s(
        &net.cli_json(0, &["keys", "show", &stranger])?,
        "/public_key",
    )?;
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
            "Stranger",
            "--id-number",
            "110101199003074512",
            "--phone",
            "+8613800138002",
        ],
    )?;
    let e = refused(
        &net,
        3,
        &[
            "guardian",
            "revoke",
            "--key",
            &stranger,
            "--binding",
            &binding,
        ],
    )?;
    ensure!(e.contains("only the guardian or the dependant"), "{e}");
    net.cli_json(
        0,
        &["guardian", "revoke", "--key", &g, "--binding", &binding],
    )?;
    net.cli_json_until(
        1,
        &["guardian", "show", &binding, "--key", &g],
        PROGRESS,
        |v| v["status"] == "revoked",
    )?;
    let e = refused(
        &net,
        1,
        &strs(&pay_args(code, &child, &binding, "1.00", Some(tmpl))),
    )?;
    ensure!(e.contains("is revoked"), "{e}");
    let w = net.cli_json(0, &["wallet", "show", &g_wallet, "--key", &g])?;
    ensure!(w["balance"] == "69.00", "{w}");
    Ok(())
}
