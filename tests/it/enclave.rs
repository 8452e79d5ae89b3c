//! The simulated enclave end to end through the CLI: records sealed on put, requester-scoped lookups
//! answered by a node's enclave, refusals (wrong platform, no role, replay), and a search of every node's
//! files and of every answer a non-owner saw for the plaintext.

use std::process::Output;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context, Result};
use paychain_api::method;
use paychain_contracts::crypto::{sha256, PublicKey};
use paychain_contracts::enclave::query::LOOKUP_NONCE_LEN;
use paychain_contracts::enclave::{
    open_answer, verify_answer, KxSecret, LookupRequest, Measurement, SealedRecord, SignedAnswer,
};
use paychain_contracts::ids::{ChainId, MerchantId, PlatformId};
use paychain_tests::{leaks, txs, Testnet};
use serde_json::{json, Value};

use crate::wallet::{p as path, s};
use crate::PROGRESS;

/// Runs the CLI against node `i`, expects exit code 1 and one `error:` line; returns the line and the
/// whole output (kept to be searched).
fn refused(net: &Testnet, i: usize, args: &[&str]) -> Result<(String, Output)> {
    let out = net.cli(i, args)?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    ensure!(
        out.status.code() == Some(1),
        "paychain {} (node {i}): expected exit 1, got {:?}; stdout {} stderr {stderr}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout)
    );
    ensure!(
        stderr.starts_with("error: ") && !stderr.contains('\n'),
        "not one error line: {stderr:?}"
    );
    Ok((stderr, out))
}

/// A marker nobody else would write: 32 hex characters from the clock and the pid.
fn unique_hex(label: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    sha256(&[
        label.as_bytes(),
        &nanos.to_le_bytes(),
        &std::process::id().to_le_bytes(),
    ])
    .to_hex()[..32]
        .to_owned()
}

/// Something a party saw, and the markers it must not contain.
struct Seen {
    label: String,
    bytes: Vec<u8>,
    forbidden: Vec<Vec<u8>>,
}

impl Seen {
    fn output(label: &str, out: &Output, forbidden: &[&[u8]]) -> Seen {
        Seen {
            label: label.to_owned(),
            bytes: [out.stdout.as_slice(), b"\n", out.stderr.as_slice()].concat(),
            forbidden: forbidden.iter().map(|f| f.to_vec()).collect(),
        }
    }

    fn text(label: &str, text: &str, forbidden: &[&[u8]]) -> Seen {
        Seen {
            label: label.to_owned(),
            bytes: text.as_bytes().to_vec(),
            forbidden: forbidden.iter().map(|f| f.to_vec()).collect(),
        }
    }
}

/// The marker as it would appear in plaintext, and hex-encoded (as payloads are in JSON).
fn forms(marker: &str) -> [Vec<u8>; 2] {
    [marker.as_bytes().to_vec(), hex::encode(marker).into_bytes()]
}

#[test]
fn plaintext_is_nowhere_it_should_not_be() -> Result<()> {
    let mut net = Testnet::start(4)?;
    let work = tempfile::tempdir()?;
    let p0 = net.platform_key_path(0);
    let p0 = path(&p0)?;
    let p1 = net.platform_key_path(1);
    let p1 = path(&p1)?;
    let p2 = net.platform_key_path(2);
    let p2 = path(&p2)?;

    // Markers: one per platform's record, and a control string that must be found (proves the search
    // reads the nodes' databases, WAL and logs).
    // At most 34 characters with its suffix: it is a record's settlement account reference.
    let marker = format!("PLAINTEXT-{}", &unique_hex("marker")[..20]);
    let marker0 = format!("{marker}-P0");
    let marker1 = format!("{marker}-P1");
    let control = format!("Ctl {}", &unique_hex("control")[..16]);
    let [m0, m0_hex] = forms(&marker0);
    let [m1, m1_hex] = forms(&marker1);
    let all: [&[u8]; 4] = [&m0, &m0_hex, &m1, &m1_hex];
    let only_p0: [&[u8]; 2] = [&m0, &m0_hex];
    let only_p1: [&[u8]; 2] = [&m1, &m1_hex];
    let mut seen: Vec<Seen> = Vec::new();

    // The chain has an enclave and every genesis node's enclave is registered and provisioned.
    let status = net.cli_json(2, &["enclave", "status"])?;
    ensure!(!status["config"].is_null(), "no enclave: {status}");
    let node2_signer = s(&status, "/node_enclave/signer")?;
    ensure!(status["node_enclave"]["provisioned"] == true, "{status}");
    let registered = status["enclaves"].as_array().context("enclaves")?;
    ensure!(registered.len() >= 4, "{status}");
    ensure!(
        registered.iter().all(|e| e["provisioned"] == true),
        "{status}"
    );

    // A merchant registered by platform-0; both platforms put a record holding their marker.
    let mkey_path = work.path().join("merchant.json");
    let mkey = s(
        &net.cli_json(0, &["keys", "new", "-o", path(&mkey_path)?])?,
        "/public_key",
    )?;
    let reg = net.cli_json(
        0,
        &[
            "merchant",
            "register",
            "--key",
            p0,
            "--name",
            &control,
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
    let id = s(&reg, "/merchant_id")?;
    // Each record carries its marker as the settlement account reference.
    let with_marker = |institution: &str, mid: &str, marker: &str| -> Result<String> {
        let mut v: Value =
            serde_json::from_str(&paychain_tests::acquiring_record(institution, mid))?;
        v["settlement_account"] = marker.into();
        Ok(v.to_string())
    };
    let record0 = with_marker("48020000", "P0-000123", &marker0)?;
    let record1 = with_marker("48020001", "P1-998877", &marker1)?;
    let info0 = work.path().join("p0.json");
    std::fs::write(&info0, &record0)?;
    let info1 = work.path().join("p1.json");
    std::fs::write(&info1, &record1)?;
    let put0 = net.cli_json(
        0,
        &[
            "record",
            "put",
            "--key",
            p0,
            "--merchant",
            &id,
            "--info",
            path(&info0)?,
        ],
    )?;
    ensure!(
        put0["sealed"]["platform_id"] == "platform-0" && put0["sealed"]["version"] == 1,
        "{put0}"
    );
    let put1 = net.cli_json(
        1,
        &[
            "record",
            "put",
            "--key",
            p1,
            "--merchant",
            &id,
            "--info",
            path(&info1)?,
        ],
    )?;
    ensure!(put1["sealed"]["platform_id"] == "platform-1", "{put1}");
    // The merchant accepts both platforms (its own key), so their records are answered.
    let mut accepted = Vec::new();
    for platform in ["platform-0", "platform-1"] {
        accepted.push(net.cli_json(
            0,
            &[
                "merchant",
                "accept",
                "--key",
                path(&mkey_path)?,
                "--platform",
                platform,
            ],
        )?);
    }
    let h = [&put0, &put1, &accepted[0], &accepted[1]]
        .iter()
        .filter_map(|v| v["height"].as_u64())
        .max()
        .context("put heights")?;
    net.wait_all(&[0, 1, 2, 3], h, PROGRESS)?;

    // The chain holds ciphertext only: anyone reading platform-0's record gets a sealed record.
    let got = net.cli(
        3,
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
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    let got_json: Value = serde_json::from_slice(&got.stdout)?;
    let payload = hex::decode(s(&got_json, "/record/payload")?)?;
    SealedRecord::from_bytes(&payload).context("the chain's payload is not a sealed record")?;
    seen.push(Seen::output("record get platform-0 (anyone)", &got, &all));
    for (method, params) in [
        (method::RECORD, json!([id, "platform-0"])),
        (method::RECORD, json!([id, "platform-1"])),
        (method::MERCHANT, json!([id])),
        (method::ENCLAVE, json!([])),
    ] {
        for i in 0..4 {
            let (_, body) = net.rpc(i).http(
                "POST",
                "/",
                Some(
                    &json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
                        .to_string(),
                ),
            )?;
            seen.push(Seen::text(&format!("{method} at node {i}"), &body, &all));
        }
    }

    // platform-0's key, through node 2: its own record in plaintext, the other platform by id only.
    let mine = net.cli_json(2, &["lookup", &id, "--key", p0, "--platform", "platform-0"])?;
    ensure!(mine["record"] == record0.as_str(), "{mine}");
    ensure!(
        mine["version"] == 1 && mine["platform_id"] == "platform-0",
        "{mine}"
    );
    ensure!(mine["other_platforms"] == json!(["platform-1"]), "{mine}");
    ensure!(mine["enclave_signer"] == node2_signer.as_str(), "{mine}");
    ensure!(
        !mine.to_string().contains(&marker1),
        "platform-0's answer holds platform-1's record: {mine}"
    );
    // platform-0 reads its audit trail on node 2 through the CLI: the lookup is there (requester,
    // merchant, outcome; the chain of entries verified by the client), and no record's plaintext.
    let out = net.cli(2, &["enclave", "audit", "--key", p0])?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let audit: Value = serde_json::from_slice(&out.stdout)?;
    let entries = audit["entries"].as_array().context("entries")?;
    ensure!(
        entries
            .iter()
            .any(|e| e["merchant_id"] == id.as_str() && e["platform_id"] == "platform-0"),
        "{audit}"
    );
    seen.push(Seen::output("platform-0's audit trail", &out, &all));
    // platform-1's key cannot read platform-0's trail: it reads its own (empty on node 2).
    let theirs = net.cli_json(2, &["enclave", "audit", "--key", p1])?;
    ensure!(
        theirs["platform_id"] == "platform-1"
            && theirs["entries"]
                .as_array()
                .is_some_and(|e| e.iter().all(|e| e["platform_id"] == "platform-1")),
        "{theirs}"
    );

    // platform-1's key: its own record through node 3; platform-0's is refused.
    let out = net.cli(3, &["lookup", &id, "--key", p1, "--platform", "platform-1"])?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Value = serde_json::from_slice(&out.stdout)?;
    ensure!(theirs["record"] == record1.as_str(), "{theirs}");
    ensure!(
        theirs["other_platforms"] == json!(["platform-0"]),
        "{theirs}"
    );
    seen.push(Seen::output("platform-1's own lookup", &out, &only_p0));
    let (e, out) = refused(
        &net,
        2,
        &["lookup", &id, "--key", p1, "--platform", "platform-0"],
    )?;
    ensure!(e.contains("has no role at platform platform-0"), "{e}");
    seen.push(Seen::output("platform-1 asking for platform-0", &out, &all));

    // A key with no role is refused, whatever platform it names.
    let stranger = work.path().join("stranger.json");
    net.cli_json(1, &["keys", "new", "-o", path(&stranger)?])?;
    for platform in ["platform-0", "platform-1"] {
        let (e, out) = refused(
            &net,
            1,
            &[
                "lookup",
                &id,
                "--key",
                path(&stranger)?,
                "--platform",
                platform,
            ],
        )?;
        ensure!(
            e.contains(&format!("has no role at platform {platform}")),
            "{e}"
        );
        seen.push(Seen::output(
            &format!("stranger asking for {platform}"),
            &out,
            &all,
        ));
    }

    // A user verified by platform-0 (a qualified wallet host after a 3-of-4 vote) gets platform-0's
    // record, and not platform-1's.
    let prop = net.cli_json(
        0,
        &[
            "gov",
            "propose",
            "--key",
            p0,
            "--qualify-wallet-host",
            "platform-0",
        ],
    )?;
    let pid = prop["proposal_id"]
        .as_u64()
        .context("proposal id")?
        .to_string();
    net.cli_json(
        1,
        &["gov", "vote", "--key", p1, "--proposal", &pid, "--approve"],
    )?;
    net.cli_json(
        2,
        &["gov", "vote", "--key", p2, "--proposal", &pid, "--approve"],
    )?;
    let user_path = work.path().join("user.json");
    let user = s(
        &net.cli_json(0, &["keys", "new", "-o", path(&user_path)?])?,
        "/public_key",
    )?;
    let verified = net.cli_json(
        0,
        &[
            "wallet",
            "verify-user",
            "--key",
            p0,
            "--user",
            &user,
            "--name",
            "Li Lei",
            "--id-number",
            "110101199003074512",
            "--phone",
            "+8613800138000",
        ],
    )?;
    let h = verified["height"].as_u64().context("verify height")?;
    net.wait_all(&[0, 1, 2, 3], h, PROGRESS)?;
    let users = net.cli_json(
        3,
        &[
            "lookup",
            &id,
            "--key",
            path(&user_path)?,
            "--platform",
            "platform-0",
        ],
    )?;
    ensure!(users["record"] == record0.as_str(), "{users}");
    let (e, out) = refused(
        &net,
        3,
        &[
            "lookup",
            &id,
            "--key",
            path(&user_path)?,
            "--platform",
            "platform-1",
        ],
    )?;
    ensure!(e.contains("has no role at platform platform-1"), "{e}");
    seen.push(Seen::output(
        "platform-0's user asking for platform-1",
        &out,
        &only_p1,
    ));

    // A replayed lookup over raw RPC: answered once (ciphertext on the wire), refused the second time.
    let rpc = net.rpc(2);
    let chain = ChainId::new(s(&rpc.status()?, "/chain_id")?);
    let key0 = net.platform_key(0)?;
    let reply = KxSecret::from_seed(sha256(&[b"reply", marker.as_bytes()]).0);
    let mut nonce = [0u8; LOOKUP_NONCE_LEN];
    nonce.copy_from_slice(&sha256(&[b"nonce", marker.as_bytes()]).0[..LOOKUP_NONCE_LEN]);
    let enclave = rpc.call(method::ENCLAVE, json!([]))?;
    let signer: PublicKey = serde_json::from_value(enclave["node_enclave"]["signer"].clone())?;
    let request = LookupRequest {
        chain_id: chain,
        merchant_id: MerchantId::parse(&id)?,
        platform_id: PlatformId::new("platform-0")?,
        requester: key0.public_key(),
        reply_kx_public: reply.public_key(),
        nonce,
        issued_at_height: rpc.height()?,
        enclave: signer,
    };
    let request_hash = request.hash();
    let lookup_hex = hex::encode(request.sign(&key0).to_bytes());
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method::LOOKUP, "params": [lookup_hex]})
        .to_string();
    let (_, first) = rpc.http("POST", "/", Some(&body))?;
    seen.push(Seen::text(
        "raw paychain_lookup (owner, on the wire)",
        &first,
        &all,
    ));
    let first: Value = serde_json::from_str(&first)?;
    let answer: SignedAnswer = serde_json::from_value(
        first
            .pointer("/result/answer")
            .cloned()
            .with_context(|| format!("no answer: {first}"))?,
    )?;
    let measurement: Measurement =
        serde_json::from_value(enclave["node_enclave"]["measurement"].clone())?;
    verify_answer(&answer, &request_hash, &signer, &measurement)?;
    let opened = open_answer(&reply, &answer.answer)?.context("no record in the answer")?;
    ensure!(
        opened.as_slice() == record0.as_bytes(),
        "opened another record"
    );
    let replay = rpc.call_err(method::LOOKUP, json!([lookup_hex]))?;
    ensure!(
        replay.code == 4003 && replay.message.contains("replay"),
        "replay: {replay}"
    );
    seen.push(Seen::text(
        "replayed paychain_lookup",
        &replay.to_string(),
        &all,
    ));

    // Nothing a non-owner saw holds a record's plaintext.
    for item in &seen {
        for needle in &item.forbidden {
            let n = leaks::count(&item.bytes, needle);
            ensure!(
                n == 0,
                "{}: marker {:?} found {n} times in {}",
                item.label,
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(&item.bytes)
            );
        }
    }

    // No node's files (RocksDB tables, WAL, manifest, logs, config, enclave files) hold it either;
    // the control string written on chain is found in every node's home.
    for (i, node) in net.nodes.iter().enumerate() {
        let scan = leaks::scan_tree(
            &node.home,
            &[&m0, &m0_hex, &m1, &m1_hex, control.as_bytes()],
        )?;
        ensure!(
            scan.files > 0,
            "node {i}: no files under {}",
            node.home.display()
        );
        let leaked: Vec<_> = scan.hits.iter().filter(|h| h.needle < 4).collect();
        ensure!(
            leaked.is_empty(),
            "node {i}: plaintext marker on disk: {leaked:?}"
        );
        ensure!(
            scan.total(4) > 0,
            "node {i}: control string not found in {} files ({} bytes): the search does not see the data",
            scan.files,
            scan.bytes
        );
    }
    // The generator's directory (genesis, platform keys) too.
    let scan = leaks::scan_tree(net.dir.path(), &all)?;
    ensure!(
        scan.hits.is_empty(),
        "plaintext marker on disk: {:?}",
        scan.hits
    );
    Ok(())
}

#[test]
fn unsealed_record_payload_is_refused() -> Result<()> {
    let net = Testnet::start(2)?;
    let work = tempfile::tempdir()?;
    let p0 = net.platform_key_path(0);
    let p0 = path(&p0)?;
    let mkey_path = work.path().join("merchant.json");
    let mkey = s(
        &net.cli_json(0, &["keys", "new", "-o", path(&mkey_path)?])?,
        "/public_key",
    )?;
    let reg = net.cli_json(
        0,
        &[
            "merchant",
            "register",
            "--key",
            p0,
            "--name",
            "Dumpling Bar",
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
    let id = s(&reg, "/merchant_id")?;
    const NOT_SEALED: &str = "record payload is not sealed to the consortium enclave";

    // The CLI's --raw sends the bytes as they are: refused (at the door, or by the contract with 207).
    let (e, out) = refused(
        &net,
        0,
        &[
            "record",
            "put",
            "--key",
            p0,
            "--merchant",
            &id,
            "--payload-hex",
            "7b7d",
            "--raw",
        ],
    )?;
    ensure!(e.contains(NOT_SEALED), "{e}");
    if let Ok(v) = serde_json::from_slice::<Value>(&out.stdout) {
        ensure!(v["receipt"]["code"] == 207, "{v}");
    }

    // The same through tx submit-raw with a transaction built by hand.
    let rpc = net.rpc(0);
    let chain = s(&rpc.status()?, "/chain_id")?;
    let key0 = net.platform_key(0)?;
    let nonce = rpc.nonce(&key0.public_key())?;
    let merchant = MerchantId::parse(&id)?;
    let tx = txs::signed(
        &key0,
        &chain,
        nonce,
        txs::put(&merchant, b"{\"mid\":\"plain\"}"),
    );
    let (e, out) = refused(&net, 0, &["tx", "submit-raw", &hex::encode(tx.to_bytes())])?;
    ensure!(e.contains(NOT_SEALED), "{e}");
    if let Ok(v) = serde_json::from_slice::<Value>(&out.stdout) {
        ensure!(v["receipt"]["code"] == 207, "{v}");
    }
    let (e, _) = refused(
        &net,
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
    ensure!(e.contains("has no acquiring record"), "{e}");

    // Without --raw, the client refuses bytes that are not an acquiring record before sealing.
    let (e, _) = refused(
        &net,
        0,
        &[
            "record",
            "put",
            "--key",
            p0,
            "--merchant",
            &id,
            "--payload-hex",
            "7b7d",
        ],
    )?;
    ensure!(e.contains("invalid acquiring record"), "{e}");
    // A valid record without --raw is sealed and accepted; the chain stores the ciphertext.
    let record = paychain_tests::acquiring_record("48020000", "P0-000123");
    let put = net.cli_json(
        0,
        &[
            "record",
            "put",
            "--key",
            p0,
            "--merchant",
            &id,
            "--payload-hex",
            &hex::encode(&record),
        ],
    )?;
    ensure!(
        put["status"] == "committed" && put["sealed"]["version"] == 1,
        "{put}"
    );
    let got = net.cli_json(
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
    let payload = hex::decode(s(&got, "/record/payload")?)?;
    SealedRecord::from_bytes(&payload).context("stored payload is not sealed")?;
    ensure!(payload != record.as_bytes(), "stored in plaintext");
    Ok(())
}
