//! A payment built, signed and submitted by another language: `tests/other-lang/paychain_pay.py`,
//! Python 3 with PyNaCl, written from `docs/encoding.md` alone (no Rust code is called). The test
//! first has it re-derive the test vectors of `docs/vectors/` offline, then sets up what a payment
//! needs on a 4-node network through the CLI (a wallet host qualified by governance, a merchant
//! acquired by platform-0, a verified payer with a funded CNY wallet), runs the script against node
//! 0, and checks through RPC on another node that the payment is committed with a successful
//! receipt and that the wallet was debited.
//!
//! The interpreter comes from `PAYCHAIN_PYTHON`, which `scripts/test.sh` sets to the venv it creates
//! under `${CARGO_TARGET_DIR:-target}/pyenv` with pinned packages. Without it the test fails (it is
//! never skipped).

use std::process::Command;

use anyhow::{anyhow, ensure, Context, Result};
use paychain_tests::{workspace_root, Testnet};
use serde_json::Value;

use crate::collection::{acquired_merchant, funded_user};
use crate::PROGRESS;

/// The Python interpreter with PyNaCl, from `PAYCHAIN_PYTHON`.
fn python() -> Result<String> {
    std::env::var("PAYCHAIN_PYTHON").map_err(|_| {
        anyhow!(
            "PAYCHAIN_PYTHON is not set: this test runs tests/other-lang/paychain_pay.py with a Python 3 \
             that has pynacl==1.5.0. Run the suite with scripts/test.sh (it creates \
             ${{CARGO_TARGET_DIR:-target}}/pyenv and sets PAYCHAIN_PYTHON), or set PAYCHAIN_PYTHON to such \
             an interpreter"
        )
    })
}

fn run_script(python: &str, args: &[&str]) -> Result<Value> {
    let script = workspace_root().join("tests/other-lang/paychain_pay.py");
    let out = Command::new(python)
        .arg(&script)
        .args(args)
        .output()
        .with_context(|| format!("run {python} {}", script.display()))?;
    ensure!(
        out.status.success(),
        "paychain_pay.py {} failed ({:?}): {}{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).with_context(|| format!("script output is not JSON: {stdout}"))
}

#[test]
fn n4_python_client_pays_from_the_spec() -> Result<()> {
    let python = python()?;

    // Offline: the Python encoder reproduces every payment vector of the document.
    let vectors = workspace_root().join("docs/vectors");
    let checked = run_script(
        &python,
        &["check-vectors", vectors.to_str().context("path")?],
    )?;
    ensure!(
        checked["vectors_checked"].as_u64().unwrap_or(0) >= 2,
        "{checked}"
    );

    let net = Testnet::start(4)?;
    let work = tempfile::tempdir()?;
    let dir = work.path();
    let p0_path = net.platform_key_path(0);
    let p0 = p0_path.to_str().context("path")?;
    net.qualify_wallet_host(0)?;
    let (_, mid) = acquired_merchant(&net, dir, p0, ("Noodle House", "Shanghai", "5812"))?;
    let (payer_key, wallet) = funded_user(&net, dir, p0, "Payer", 0)?;
    net.cli_json_until(0, &["merchant", "show", &mid], PROGRESS, |v| {
        v["platforms"].as_array().is_some_and(|p| !p.is_empty())
    })?;

    let paid = run_script(
        &python,
        &[
            "pay",
            "--rpc",
            &net.rpc(0).url(),
            "--key",
            &payer_key,
            "--wallet",
            &wallet,
            "--merchant",
            &mid,
            "--acquirer",
            "platform-0",
            "--amount",
            "12.50",
            "--currency",
            "CNY",
            "--order",
            "PY-0001",
        ],
    )?;
    let tx_hash = paid["tx_hash"].as_str().context("tx_hash")?.to_owned();
    ensure!(paid["code"] == 0, "{paid}");

    // Committed, successful, seen from another node; the wallet was debited.
    let receipt = net.rpc(2).wait_committed(&tx_hash, PROGRESS)?;
    ensure!(
        receipt["code"] == 0,
        "the Python payment failed on chain: {receipt}"
    );
    ensure!(receipt["tx_hash"] == tx_hash.as_str(), "{receipt}");
    net.cli_json_until(
        2,
        &["wallet", "show", &wallet, "--key", &payer_key],
        PROGRESS,
        |v| v["balance"] == "87.50",
    )?;
    // Paying the same order again is refused by the contract (a receipt with a non-zero code).
    let again = Command::new(&python)
        .arg(workspace_root().join("tests/other-lang/paychain_pay.py"))
        .args([
            "pay",
            "--rpc",
            &net.rpc(0).url(),
            "--key",
            &payer_key,
            "--wallet",
            &wallet,
            "--merchant",
            &mid,
            "--acquirer",
            "platform-0",
            "--amount",
            "12.50",
            "--currency",
            "CNY",
            "--order",
            "PY-0001",
        ])
        .output()?;
    ensure!(
        !again.status.success() && String::from_utf8_lossy(&again.stderr).contains("already paid"),
        "a second payment of the same order: {}{}",
        String::from_utf8_lossy(&again.stdout),
        String::from_utf8_lossy(&again.stderr)
    );
    Ok(())
}
