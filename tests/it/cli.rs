//! The `paychain` CLI end to end: writes through one node, reads through another.

use std::process::Output;

use anyhow::{ensure, Context, Result};
use paychain_tests::Testnet;
use serde_json::Value;

use crate::PROGRESS;

/// The record object, whether the CLI prints `{record: {...}}` or the record itself.
fn record(v: &Value) -> &Value {
    v.get("record").unwrap_or(v)
}

fn one_line_error(out: &Output) -> Result<String> {
    ensure!(
        !out.status.success(),
        "expected a failure, got success: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    ensure!(
        stderr.starts_with("error: "),
        "stderr does not start with 'error: ': {stderr:?}"
    );
    ensure!(!stderr.contains('\n'), "error is not one line: {stderr:?}");
    Ok(stderr)
}

#[test]
fn cli_register_put_get_revoke_lookup_across_nodes() -> Result<()> {
    let net = Testnet::start(4)?;
    let work = tempfile::tempdir()?;
    let p0 = net.platform_key_path(0);
    let p0 = p0.to_str().context("path")?;
    let p1 = net.platform_key_path(1);
    let p1 = p1.to_str().context("path")?;

    // A merchant key, made by the CLI.
    let mkey_path = work.path().join("merchant.json");
    let mkey = mkey_path.to_str().context("path")?;
    net.cli_json(3, &["keys", "new", "-o", mkey])?;
    let key_file: Value = serde_json::from_str(&std::fs::read_to_string(&mkey_path)?)?;
    let merchant_key = key_file["public_key"]
        .as_str()
        .context("public_key")?
        .to_owned();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&mkey_path)?.permissions().mode() & 0o777;
        ensure!(mode == 0o600, "key file mode {mode:o}, expected 600");
    }

    // Register through node 3 (waits for commit), read through node 0.
    let reg = net.cli_json(
        3,
        &[
            "merchant",
            "register",
            "--key",
            p0,
            "--name",
            "Noodle House",
            "--city",
            "Shanghai",
            "--mcc",
            "5812",
            "--country",
            "CN",
            "--merchant-key",
            &merchant_key,
        ],
    )?;
    let id = reg
        .get("merchant_id")
        .or_else(|| reg.get("id"))
        .or_else(|| reg.get("merchant").and_then(|m| m.get("id")))
        .and_then(Value::as_str)
        .with_context(|| format!("no merchant id in {reg}"))?
        .to_owned();
    let shown = net.cli_json_until(0, &["merchant", "show", &id], PROGRESS, |v| !v.is_null())?;
    let m = shown.get("merchant").unwrap_or(&shown);
    ensure!(
        m["name"] == "Noodle House" && m["city"] == "Shanghai",
        "{shown}"
    );
    ensure!(m["registered_by"] == "platform-0", "{shown}");

    // Both platforms put their record through node 3; node 0 serves them.
    let info0 = work.path().join("p0.json");
    std::fs::write(
        &info0,
        paychain_tests::acquiring_record("48020000", "P0-000123"),
    )?;
    let info1 = work.path().join("p1.json");
    std::fs::write(
        &info1,
        paychain_tests::acquiring_record("48020001", "P1-998877"),
    )?;
    // Not an acquiring record: refused by the client before anything is sealed or sent.
    let bad = work.path().join("bad.json");
    std::fs::write(&bad, r#"{"mid":"P0-000123","terminal":"T01"}"#)?;
    let err = one_line_error(&net.cli(
        3,
        &[
            "record",
            "put",
            "--key",
            p0,
            "--merchant",
            &id,
            "--info",
            bad.to_str().context("path")?,
        ],
    )?)?;
    ensure!(err.contains("invalid acquiring record"), "{err}");
    net.cli_json(
        3,
        &[
            "record",
            "put",
            "--key",
            p0,
            "--merchant",
            &id,
            "--info",
            info0.to_str().context("path")?,
        ],
    )?;
    net.cli_json(
        3,
        &[
            "record",
            "put",
            "--key",
            p1,
            "--merchant",
            &id,
            "--info",
            info1.to_str().context("path")?,
        ],
    )?;
    let get1 = [
        "record",
        "get",
        "--merchant",
        &id,
        "--platform",
        "platform-1",
    ];
    let r1 = net.cli_json_until(0, &get1, PROGRESS, |v| record(v)["version"] == 1)?;
    // Both records wait for the merchant's consent; the merchant accepts both (its own key).
    net.cli_json_until(0, &["merchant", "show", &id], PROGRESS, |v| {
        v["pending"] == serde_json::json!(["platform-0", "platform-1"])
    })?;
    for platform in ["platform-0", "platform-1"] {
        net.cli_json(
            3,
            &["merchant", "accept", "--key", mkey, "--platform", platform],
        )?;
    }
    ensure!(record(&r1)["revoked"] == false, "{r1}");
    ensure!(record(&r1)["platform_id"] == "platform-1", "{r1}");
    let looked = net.cli_json_until(0, &["lookup", &id], PROGRESS, |v| {
        v["platforms"].as_array().map(Vec::len) == Some(2)
    })?;
    ensure!(
        looked["platforms"] == serde_json::json!(["platform-0", "platform-1"]),
        "{looked}"
    );

    // platform-1 revokes its record through node 3; node 0 sees it revoked and platform-0's untouched.
    net.cli_json(3, &["record", "revoke", "--key", p1, "--merchant", &id])?;
    net.cli_json_until(0, &get1, PROGRESS, |v| record(v)["revoked"] == true)?;
    let r0 = net.cli_json(
        0,
        &[
            "record",
            "get",
            "--merchant",
            &id,
            "--platform",
            "platform-0",
        ],
    )?;
    ensure!(
        record(&r0)["revoked"] == false && record(&r0)["version"] == 1,
        "{r0}"
    );
    let looked = net.cli_json_until(0, &["lookup", &id], PROGRESS, |v| {
        v["platforms"].as_array().map(Vec::len) == Some(1)
    })?;
    ensure!(
        looked["platforms"] == serde_json::json!(["platform-0"]),
        "{looked}"
    );

    // Status over the CLI carries height and app hash.
    let st = net.cli_json(1, &["status"])?;
    ensure!(
        st["height"].as_u64().is_some() && st["app_hash"].as_str().is_some(),
        "{st}"
    );

    // Failures: non-zero exit, one line on stderr.
    let unknown = "M00000000000000000000";
    one_line_error(&net.cli(0, &["merchant", "show", unknown])?)?;
    let again = net.cli(
        3,
        &[
            "merchant",
            "register",
            "--key",
            p0,
            "--name",
            "Noodle House",
            "--city",
            "Shanghai",
            "--mcc",
            "5812",
            "--country",
            "CN",
            "--merchant-key",
            &merchant_key,
        ],
    )?;
    let err = one_line_error(&again)?;
    ensure!(err.contains("already registered"), "{err}");
    let down = paychain_tests::cli("http://127.0.0.1:1", &["status"])?;
    one_line_error(&down)?;
    Ok(())
}
