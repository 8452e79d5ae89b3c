//! A hostile node, or a man in the middle on plain HTTP, between a platform's client and the chain.
//!
//! The attacker is a JSON-RPC proxy that forwards every call to an honest node and rewrites what it
//! likes of the answers. The client pins the network's genesis (`PAYCHAIN_GENESIS`, as every
//! installation does), so `record put` must not seal to a key the attacker substituted, and
//! `lookup` must not trust an enclave or an answer the genesis vendor root and the chain do not
//! vouch for. A pass-through proxy is the positive control: through it, put and lookup work.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use anyhow::{ensure, Context, Result};
use paychain_api::method;
use paychain_contracts::crypto::{sha256, SecretKey};
use paychain_contracts::enclave::{Enclave, EnclaveConfig, KxSecret};
use paychain_contracts::ids::ChainId;
use paychain_tests::{existing_bin, Rpc, Testnet};

use crate::wallet::p as path;
use serde_json::{json, Value};

/// How the attacker rewrites a successful answer to `method`.
type Rewrite = Arc<dyn Fn(&str, Value) -> Value + Send + Sync>;

/// A JSON-RPC proxy on 127.0.0.1 in front of `upstream`, rewriting answers with `rewrite`. It
/// lives as long as the test process (its threads block on accept).
fn hostile_proxy(upstream: Rpc, rewrite: Rewrite) -> Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}", listener.local_addr()?);
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let (upstream, rewrite) = (upstream.clone(), rewrite.clone());
            std::thread::spawn(move || {
                let _ = serve(conn, &upstream, &*rewrite);
            });
        }
    });
    Ok(url)
}

/// Serves HTTP/1.1 JSON-RPC requests on one connection (keep-alive) until the client closes it.
fn serve(conn: TcpStream, upstream: &Rpc, rewrite: &dyn Fn(&str, Value) -> Value) -> Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut writer = conn;
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse()?;
                }
            }
        }
        ensure!(length <= 1 << 20, "request too large for the test proxy");
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body)?;
        let request: Value = serde_json::from_slice(&body)?;
        let name = request["method"].as_str().unwrap_or_default().to_owned();
        let params = request.get("params").cloned().unwrap_or(json!([]));
        let answer = match upstream.try_call(&name, params)? {
            Ok(result) => {
                json!({"jsonrpc": "2.0", "id": request["id"], "result": rewrite(&name, result)})
            }
            Err(e) => json!({"jsonrpc": "2.0", "id": request["id"],
                "error": {"code": e.code, "message": e.message, "data": e.data}}),
        };
        let text = answer.to_string();
        write!(
            writer,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        )?;
        writer.flush()?;
    }
}

/// `paychain --rpc URL --json ARGS` with the network's genesis pinned.
fn cli_via(url: &str, genesis: &Path, args: &[&str]) -> Result<Output> {
    Command::new(existing_bin("paychain")?)
        .args(["--rpc", url, "--json"])
        .args(args)
        .env("PAYCHAIN_GENESIS", genesis)
        .stdin(Stdio::null())
        .output()
        .context("run paychain")
}

/// Expects `out` to be a refusal whose one error line contains every one of `says`.
fn refused(attack: &str, out: &Output, says: &[&str]) -> Result<String> {
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    ensure!(
        !out.status.success() && says.iter().all(|s| stderr.contains(s)),
        "{attack}: expected a refusal saying {says:?}, got exit {:?}: {stderr} {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout)
    );
    eprintln!("{attack}: refused: {stderr}");
    Ok(stderr)
}

fn ok_json(what: &str, out: &Output) -> Result<Value> {
    ensure!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

#[test]
fn n1_hostile_node_cannot_redirect_a_put_or_forge_a_lookup() -> Result<()> {
    let net = Testnet::start(1)?;
    let genesis = net.genesis_path();
    let upstream = net.rpc(0);
    let work = tempfile::tempdir()?;
    let p0 = net.platform_key_path(0);
    let p0 = path(&p0)?;
    let chain_id = ChainId::new(
        upstream.status()?["chain_id"]
            .as_str()
            .context("chain id")?
            .to_owned(),
    );

    // The positive control: a pass-through proxy. Through it a merchant is registered, a record
    // put and looked up.
    let honest = hostile_proxy(upstream.clone(), Arc::new(|_, v| v))?;
    let mkey_path = work.path().join("merchant.json");
    let mkey = ok_json(
        "keys new",
        &cli_via(&honest, &genesis, &["keys", "new", "-o", path(&mkey_path)?])?,
    )?["public_key"]
        .as_str()
        .context("public key")?
        .to_owned();
    let reg = ok_json(
        "merchant register",
        &cli_via(
            &honest,
            &genesis,
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
                &mkey,
            ],
        )?,
    )?;
    let mid = reg["merchant_id"]
        .as_str()
        .context("merchant id")?
        .to_owned();
    let info = work.path().join("info.json");
    std::fs::write(
        &info,
        paychain_tests::acquiring_record("48020000", "P0-000123"),
    )?;
    let put = [
        "record",
        "put",
        "--key",
        p0,
        "--merchant",
        &mid,
        "--info",
        path(&info)?,
    ];
    let done = ok_json("record put (honest)", &cli_via(&honest, &genesis, &put)?)?;
    ensure!(done["sealed"]["version"] == 1, "{done}");
    ok_json(
        "merchant accept",
        &cli_via(
            &honest,
            &genesis,
            &[
                "merchant",
                "accept",
                "--key",
                path(&mkey_path)?,
                "--platform",
                "platform-0",
            ],
        )?,
    )?;
    let lookup = ["lookup", &mid, "--key", p0, "--platform", "platform-0"];
    let seen = ok_json("lookup (honest)", &cli_via(&honest, &genesis, &lookup)?)?;
    ensure!(
        seen["record"]
            .as_str()
            .is_some_and(|r| r.contains("48020000")),
        "{seen}"
    );

    // The attacker's own keys: a consortium key it can open, a vendor root, an enclave on a
    // machine that root certified.
    let evil_kx = KxSecret::from_seed(sha256(&[b"attacker kx"]).0).public_key();
    let evil_root = SecretKey::from_seed(sha256(&[b"attacker vendor root"]).0);
    let evil_enclave = Enclave::new(
        &sha256(&[b"attacker machine"]).0,
        EnclaveConfig::new(chain_id),
        None,
    )?;
    let evil_quote = serde_json::to_value(evil_enclave.certified_quote(&evil_root))?;
    let evil_signer = serde_json::to_value(evil_enclave.signer())?;
    let record_version = || -> Result<u64> {
        let r = upstream.call(method::RECORD, json!([mid, "platform-0"]))?;
        r["record"]["version"].as_u64().context("version")
    };

    // (1) The consortium key swapped for the attacker's: the put would be sealed to it.
    let swap_key = hostile_proxy(
        upstream.clone(),
        Arc::new(move |m, mut v| {
            if m == method::ENCLAVE {
                v["config"]["consortium_public"] = json!(evil_kx.to_string());
            }
            v
        }),
    )?;
    refused(
        "hostile node substitutes its consortium key for record put",
        &cli_via(&swap_key, &genesis, &put)?,
        &["does not match the pinned genesis", "consortium key"],
    )?;
    // (2) "This chain has no enclave": the plaintext would go on chain as it is.
    let no_enclave = hostile_proxy(
        upstream.clone(),
        Arc::new(|m, mut v| {
            if m == method::ENCLAVE {
                v["config"] = Value::Null;
            }
            v
        }),
    )?;
    refused(
        "hostile node says the chain has no enclave for record put",
        &cli_via(&no_enclave, &genesis, &put)?,
        &["reports no enclave, genesis has one"],
    )?;
    ensure!(
        record_version()? == 1,
        "a refused put reached the chain anyway"
    );

    // (3) Its own vendor root and an enclave that root certified, in place of the chain's.
    let (q, s) = (evil_quote.clone(), evil_signer.clone());
    let swap_root = hostile_proxy(
        upstream.clone(),
        Arc::new(move |m, mut v| {
            if m == method::ENCLAVE {
                v["config"]["attestation_root"] = json!(evil_root.public_key().to_string());
                v["enclaves"][0]["quote"] = q.clone();
                v["node_enclave"]["signer"] = s.clone();
            }
            v
        }),
    )?;
    refused(
        "hostile node substitutes its own vendor root and enclave for lookup",
        &cli_via(&swap_root, &genesis, &lookup)?,
        &["does not match the pinned genesis", "attestation root"],
    )?;
    // (4) Keeps the genesis root but lists its enclave, certified by its own root, as the node's.
    let (q, s) = (evil_quote, evil_signer);
    let swap_enclave = hostile_proxy(
        upstream.clone(),
        Arc::new(move |m, mut v| {
            if m == method::ENCLAVE {
                v["enclaves"][0]["quote"] = q.clone();
                v["node_enclave"]["signer"] = s.clone();
            }
            v
        }),
    )?;
    refused(
        "hostile node presents an enclave on a machine the genesis vendor never certified",
        &cli_via(&swap_enclave, &genesis, &lookup)?,
        &["refusing to trust the node's enclave", "uncertified device"],
    )?;
    // (5) An honest enclave status, then a forged answer (the acquiring details of its choosing
    // would need the trusted enclave's signature).
    let forge_answer = hostile_proxy(
        upstream.clone(),
        Arc::new(|m, mut v| {
            if m == method::LOOKUP {
                v["answer"]["signature"] = json!("00".repeat(64));
            }
            v
        }),
    )?;
    refused(
        "hostile node forges the enclave's answer to a lookup",
        &cli_via(&forge_answer, &genesis, &lookup)?,
        &["enclave answer refused"],
    )?;
    // (6) A node of another chain (a genesis the client did not pin).
    let other_chain = hostile_proxy(
        upstream.clone(),
        Arc::new(|m, mut v| {
            if m == method::STATUS {
                v["chain_id"] = json!("attacker-chain");
            }
            v
        }),
    )?;
    refused(
        "a node of another chain answers the put",
        &cli_via(&other_chain, &genesis, &put)?,
        &["does not match the pinned genesis", "chain id"],
    )?;
    ensure!(record_version()? == 1, "a refused put reached the chain");
    Ok(())
}
