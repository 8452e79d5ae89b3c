//! A platform admitted by governance vote joins with its own node: the node's enclave registers
//! through the chain, a running enclave provisions it with the consortium secret, and it then
//! answers lookups for the new platform's records.

use std::time::Instant;

use anyhow::{ensure, Context, Result};
use paychain_api::method;
use paychain_contracts::ids::MerchantId;
use paychain_tests::{load_key, txs, Testnet};
use serde_json::json;

use crate::PROGRESS;

#[test]
fn n4_admitted_platform_node_is_provisioned_through_the_chain_and_answers_its_lookups() -> Result<()>
{
    let mut net = Testnet::start(4)?;
    let key_path = net.dir.path().join("platform-4.json");
    let key_arg = key_path.to_string_lossy().to_string();
    let new_key = net.cli_json(0, &["keys", "new", "-o", &key_arg])?;
    let new_pub = new_key["public_key"]
        .as_str()
        .context("public key")?
        .to_owned();

    // Governance: platform-0 proposes, platform-1 and platform-2 approve (3 of 4 > 2/3).
    let keys: Vec<String> = (0..4)
        .map(|i| net.platform_key_path(i).to_string_lossy().to_string())
        .collect();
    let p = |i: usize| keys[i].clone();
    let proposed = net.cli_json(
        0,
        &[
            "gov",
            "propose",
            "--key",
            &p(0),
            "--admit-platform",
            "platform-4",
            "--member-name",
            "Platform 4",
            "--member-key",
            &new_pub,
        ],
    )?;
    let id = proposed["proposal_id"]
        .as_u64()
        .context("proposal id")?
        .to_string();
    for i in [1, 2] {
        net.cli_json(
            i,
            &[
                "gov",
                "vote",
                "--key",
                &p(i),
                "--proposal",
                &id,
                "--approve",
            ],
        )?;
    }
    let account = net.rpc(0).call(method::ACCOUNT, json!([new_pub]))?;
    ensure!(
        account["member"]["id"] == "platform-4",
        "not admitted: {account}"
    );

    // Its operator brings up a node holding the platform's key; the enclave goes registered (bound
    // to platform-4) → provisioned through the chain.
    let n = net.add_platform_node(&key_path)?;
    let deadline = Instant::now() + PROGRESS;
    loop {
        let status = net.rpc(n).call(method::ENCLAVE, json!([]))?;
        if status["node_enclave"]["provisioned"] == true {
            let signer = status["node_enclave"]["signer"].clone();
            let on_chain = status["enclaves"]
                .as_array()
                .context("enclaves")?
                .iter()
                .any(|e| {
                    e["quote"]["quote"]["signer"] == signer
                        && e["provisioned"] == true
                        && e["platform_id"] == "platform-4"
                });
            ensure!(on_chain, "provisioned but not on chain: {status}");
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "node {n}'s enclave was not provisioned in time: {status}"
        );
        net.wait_height(0, net.height(0)? + 1, PROGRESS)?;
    }

    // The new platform stores a sealed record and reads it back through its own node.
    let chain = net.rpc(0).status()?["chain_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let p0 = net.platform_key(0)?;
    let merchant_key = txs::merchant_key(44);
    let merchant = MerchantId::derive(&merchant_key);
    let reg = txs::signed(
        &p0,
        &chain,
        net.rpc(0).nonce(&p0.public_key())?,
        txs::register(&merchant_key, "Night Market"),
    );
    let hash = net
        .rpc(0)
        .submit(&reg.to_bytes())?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    net.rpc(0).wait_committed(&hash, PROGRESS)?;
    let p4 = load_key(&key_path)?;
    // A serving enclave publishes the admitted platform's record key of the current epoch,
    // signed; its records are sealed to it.
    let published = net.cli_json_until(0, &["enclave", "status"], PROGRESS, |v| {
        v["platform_keys"].as_array().is_some_and(|keys| {
            keys.iter()
                .any(|k| k["key"]["platform_id"] == "platform-4" && !k["attested"].is_null())
        })
    })?;
    ensure!(published["epoch"]["current"] == 0, "{published}");
    let marker = "platform-4-acquirer-7f3a";
    // (The node registered its enclave with the platform's key: that used nonce 0.)
    let put = txs::signed(
        &p4,
        &chain,
        net.rpc(n).nonce(&p4.public_key())?,
        txs::put(
            &merchant,
            &net.seal(&merchant, "platform-4", 1, marker.as_bytes())?,
        ),
    );
    let hash = net
        .rpc(n)
        .submit(&put.to_bytes())?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let receipt = net.rpc(n).wait_committed(&hash, PROGRESS)?;
    ensure!(receipt["code"] == 0, "put refused: {receipt}");
    // The merchant accepts the new platform as its acquirer (its own key).
    let shop = txs::merchant_secret(44);
    let accept = txs::signed(
        &shop,
        &chain,
        net.rpc(n).nonce(&shop.public_key())?,
        txs::accept("platform-4"),
    );
    let hash = net
        .rpc(n)
        .submit(&accept.to_bytes())?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let receipt = net.rpc(n).wait_committed(&hash, PROGRESS)?;
    ensure!(receipt["code"] == 0, "acceptance refused: {receipt}");
    let looked = net.cli_json(
        n,
        &[
            "lookup",
            merchant.as_str(),
            "--key",
            &key_arg,
            "--platform",
            "platform-4",
        ],
    )?;
    ensure!(
        looked.to_string().contains(marker),
        "the new platform's node did not return its record: {looked}"
    );

    // Governance revokes the enclave build: clients stop trusting its answers.
    let status = net.rpc(0).call(method::ENCLAVE, json!([]))?;
    let measurement = status["allowed_measurements"][0]
        .as_str()
        .context("measurement")?
        .to_owned();
    let proposed = net.cli_json(
        0,
        &[
            "gov",
            "propose",
            "--key",
            &p(0),
            "--revoke-measurement",
            &measurement,
        ],
    )?;
    let id = proposed["proposal_id"]
        .as_u64()
        .context("proposal id")?
        .to_string();
    for i in [1, 2] {
        net.cli_json(
            i,
            &[
                "gov",
                "vote",
                "--key",
                &p(i),
                "--proposal",
                &id,
                "--approve",
            ],
        )?;
    }
    let status = net.rpc(0).call(method::ENCLAVE, json!([]))?;
    ensure!(
        status["revoked_measurements"][0] == measurement.as_str(),
        "not revoked: {status}"
    );
    // The lookup goes through the new node, which may be a block behind node 0: it must have the
    // revocation's block first.
    let revoked_at = net.height(0)?;
    net.wait_height(n, revoked_at, PROGRESS)?;
    let refused = net.cli(
        n,
        &[
            "lookup",
            merchant.as_str(),
            "--key",
            &key_arg,
            "--platform",
            "platform-4",
        ],
    )?;
    let err = String::from_utf8_lossy(&refused.stderr);
    ensure!(
        refused.status.code() == Some(1) && err.contains("revoked"),
        "lookup through a revoked enclave: exit {:?}: {err}",
        refused.status.code()
    );
    ensure!(!String::from_utf8_lossy(&refused.stdout).contains(marker));
    Ok(())
}
