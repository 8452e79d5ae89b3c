//! Record keys per platform and per epoch, rotated by governance, through the CLI on 4 nodes: the new
//! epoch's secret reaches only the serving enclaves of current members, records sealed under the old
//! epoch are refused after the rotation, a platform re-seals its records with one command, and every
//! node (one restarted) answers from the new epoch.

use anyhow::{ensure, Context, Result};
use paychain_contracts::ids::MerchantId;
use paychain_tests::Testnet;
use serde_json::Value;

use crate::wallet::p as path;
use crate::PROGRESS;

/// platform-0 proposes through node 0; platform-1 and platform-2 approve (3 of 4 governors).
fn pass(net: &Testnet, action: &[&str]) -> Result<()> {
    let key = |i: usize| net.platform_key_path(i).to_string_lossy().into_owned();
    let mut args = vec!["gov", "propose", "--key"];
    let k0 = key(0);
    args.push(&k0);
    args.extend_from_slice(action);
    let prop = net.cli_json(0, &args)?;
    let id = prop["proposal_id"]
        .as_u64()
        .with_context(|| format!("no proposal id: {prop}"))?
        .to_string();
    for i in [1, 2] {
        let k = key(i);
        net.cli_json(
            i,
            &["gov", "vote", "--key", &k, "--proposal", &id, "--approve"],
        )?;
    }
    Ok(())
}

fn epoch_of(status: &Value) -> Option<u64> {
    status["epoch"]["current"].as_u64()
}

fn lookup_own(net: &Testnet, i: usize, key: &str, merchant: &str) -> Result<Value> {
    net.cli_json(
        i,
        &["lookup", merchant, "--key", key, "--platform", "platform-0"],
    )
}

#[test]
fn n4_epoch_rotation_reaches_only_current_members_and_records_are_resealed() -> Result<()> {
    let mut net = Testnet::start(4)?;
    let work = tempfile::tempdir()?;
    let p0 = net.platform_key_path(0);
    let p0 = path(&p0)?;

    // Epoch 0 from genesis: every genesis platform's record key, none signed (genesis vouches).
    let status = net.cli_json(1, &["enclave", "status"])?;
    ensure!(epoch_of(&status) == Some(0), "{status}");
    let keys0 = status["platform_keys"].as_array().context("keys")?.clone();
    ensure!(keys0.len() == 4, "{status}");
    ensure!(keys0.iter().all(|k| k["attested"].is_null()), "{status}");

    // A merchant acquired by platform-0, its record put under epoch 0.
    let (id, _) = crate::wallet::merchant(&net, work.path(), "Epoch Noodles", (p0, 0), &[(p0, 0)])?;
    let record = crate::wallet::acquirer_record(0, &id);
    let before = lookup_own(&net, 0, p0, &id)?;
    ensure!(
        before["record"] == record.as_str() && before["version"] == 1,
        "{before}"
    );

    // platform-3 is removed (its enclave, node 3's, is retired), then governance rotates.
    pass(&net, &["--remove-platform", "platform-3"])?;
    pass(&net, &["--rotate-enclave-epoch"])?;

    // A serving enclave starts epoch 1; each serving enclave adopts it (waited on, not slept).
    let started = net.cli_json_until(1, &["enclave", "status"], PROGRESS, |v| {
        epoch_of(v) == Some(1)
    })?;
    let keys1 = started["platform_keys"].as_array().context("keys")?;
    let platforms: Vec<&str> = keys1
        .iter()
        .filter_map(|k| k["key"]["platform_id"].as_str())
        .collect();
    ensure!(
        platforms == ["platform-0", "platform-1", "platform-2"],
        "epoch 1 keys only for current members: {started}"
    );
    ensure!(
        keys1
            .iter()
            .all(|k| k["key"]["epoch"] == 1 && !k["attested"].is_null()),
        "{started}"
    );
    ensure!(
        keys1
            .iter()
            .zip(&keys0)
            .all(|(new, old)| new["key"]["public"] != old["key"]["public"]),
        "every platform's record key changed: {started}"
    );
    for i in 0..3 {
        net.cli_json_until(i, &["enclave", "status"], PROGRESS, |v| {
            v["node_enclave"]["epoch"] == 1
        })?;
    }
    // The removed platform's enclave got nothing of epoch 1.
    let node3 = net.cli_json(3, &["enclave", "status"])?;
    ensure!(node3["node_enclave"]["epoch"] == 0, "{node3}");
    ensure!(
        node3["node_enclave"]["not_serving"]
            .as_str()
            .is_some_and(|w| w.contains("retired")),
        "{node3}"
    );

    // A record sealed under epoch 0 (as a client that missed the rotation would) is refused.
    let merchant = MerchantId(id.clone());
    let stale = net.seal(&merchant, "platform-0", 2, record.as_bytes())?;
    let out = net.cli(
        0,
        &[
            "record",
            "put",
            "--key",
            p0,
            "--merchant",
            &id,
            "--payload-hex",
            &hex::encode(&stale),
            "--raw",
        ],
    )?;
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    ensure!(!out.status.success(), "stale put accepted");
    ensure!(
        said.contains("sealed under enclave epoch 0, the current epoch is 1"),
        "{said}"
    );

    // One command re-seals platform-0's record under epoch 1; a second finds nothing to do.
    let resealed = net.cli_json(0, &["record", "reseal", "--key", p0, "--merchant", &id])?;
    let row = &resealed["records"][0];
    ensure!(
        row["resealed"] == true && row["from_epoch"] == 0 && row["version"] == 2,
        "{resealed}"
    );
    let again = net.cli_json(2, &["record", "reseal", "--key", p0, "--merchant", &id])?;
    ensure!(
        again["records"][0]["resealed"] == false && again["records"][0]["epoch"] == 1,
        "{again}"
    );
    let stored = net.cli_json(
        1,
        &[
            "record",
            "get",
            "--merchant",
            &id,
            "--platform",
            "platform-0",
        ],
    )?;
    ensure!(stored["record"]["version"] == 2, "{stored}");

    // Node 1 restarts: its enclave unseals both epochs and answers the re-sealed record.
    net.restart(1)?;
    let after = net.cli_json_until(1, &["enclave", "status"], PROGRESS, |v| {
        v["node_enclave"]["epoch"] == 1 && v["node_enclave"]["not_serving"].is_null()
    })?;
    ensure!(after["node_enclave"]["provisioned"] == true, "{after}");
    for i in [1, 2] {
        let got = lookup_own(&net, i, p0, &id)?;
        ensure!(
            got["record"] == record.as_str() && got["version"] == 2,
            "node {i}: {got}"
        );
    }
    Ok(())
}
