//! A hostile node, or a man in the middle on plain HTTP, between a platform's client and the chain.
//!
//! The attacker is a JSON-RPC proxy that forwards every call to an honest node and rewrites what it
//! likes of the answers. The client pins the network's genesis (`PAYCHAIN_GENESIS`, as every
//! installation does), so `record put` must not seal to a key the attacker substituted, nor take
//! the sender's platform or the record's version from anything but state proven under the genesis
//! validator set (`paychain_provenState`), and `lookup` must not trust an enclave, or an answer,
//! that the genesis vendor root and the proven state do not vouch for. A pass-through proxy is the
//! positive control: through it, put and lookup work.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use anyhow::{ensure, Context, Result};
use paychain_api::method;
use paychain_contracts::crypto::{sha256, Hash, SecretKey};
use paychain_contracts::enclave::{Enclave, EnclaveConfig, KxSecret};
use paychain_contracts::enclave_registry::{self, EnclaveEntry};
use paychain_contracts::governance;
use paychain_contracts::ids::{ChainId, MerchantId, PlatformId};
use paychain_contracts::registry::{self, AcquiringRecord};
use paychain_contracts::state::{Entry, StateError, StateReader};
use paychain_tests::{existing_bin, load_key, Rpc, Testnet};

use crate::wallet::p as path;
use serde_json::{json, Value};

/// How the attacker rewrites a successful answer to `method`.
pub(crate) type Rewrite = Arc<dyn Fn(&str, Value) -> Value + Send + Sync>;

/// A JSON-RPC proxy on 127.0.0.1 in front of `upstream`, rewriting answers with `rewrite`. It
/// lives as long as the test process (its threads block on accept).
pub(crate) fn hostile_proxy(upstream: Rpc, rewrite: Rewrite) -> Result<String> {
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

/// The state keys a contracts reader reads (so the test names no key layout of its own).
#[derive(Default)]
struct KeySpy(std::cell::RefCell<Vec<Vec<u8>>>);

impl StateReader for KeySpy {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        self.0.borrow_mut().push(key.to_vec());
        Ok(None)
    }
    fn bucket_entries(&self, _: u16) -> Result<Vec<Entry>, StateError> {
        Ok(Vec::new())
    }
    fn bucket_hash(&self, _: u16) -> Result<Hash, StateError> {
        Ok(Hash::ZERO)
    }
}

/// The last key `read` reads.
fn key_of(read: impl Fn(&KeySpy) -> Result<(), StateError>) -> Result<String> {
    let spy = KeySpy::default();
    let _ = read(&spy);
    let keys = spy.0.into_inner();
    Ok(hex::encode(keys.last().context("the reader reads no key")?))
}

/// Rewrites, in a `paychain_provenState` answer, the proven value of state key `key` (hex) with
/// `forge`, keeping its genuine proof.
fn forge_proven(v: &mut Value, key: &str, forge: &dyn Fn(Option<Vec<u8>>) -> Option<Vec<u8>>) {
    let Some(entries) = v["entries"].as_array_mut() else {
        return;
    };
    for e in entries.iter_mut().filter(|e| e["key"] == key) {
        let value: Option<Vec<u8>> = serde_json::from_value(e["value"].clone()).unwrap_or(None);
        e["value"] = json!(forge(value));
    }
}

/// `paychain --rpc URL --json ARGS` with the network's genesis pinned.
pub(crate) fn cli_via(url: &str, genesis: &Path, args: &[&str]) -> Result<Output> {
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
        EnclaveConfig::new(chain_id.clone()),
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
        &["refusing to trust the node's enclave", "is not registered"],
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

    // What the client now takes from proven state only. The attacker keeps the genuine proofs
    // and forges values, or serves proofs the genesis validator set did not certify.
    let p0_key = load_key(Path::new(p0))?.public_key();
    let mid_id = MerchantId::parse(&mid)?;
    let platform0 = PlatformId::new("platform-0")?;
    // (a) The sender's platform: its member-key index entry says another platform.
    let index = key_of(|s| governance::member_by_key(s, &p0_key).map(drop))?;
    let forge_platform = hostile_proxy(
        upstream.clone(),
        Arc::new(move |m, mut v| {
            if m == method::ACCOUNT {
                v["member"]["id"] = json!("platform-9");
            }
            if m == method::PROVEN_STATE {
                forge_proven(&mut v, &index, &|_| {
                    Some(paychain_contracts::codec::encode(
                        &PlatformId::new("platform-9").unwrap_or_else(|_| unreachable!()),
                    ))
                });
            }
            v
        }),
    )?;
    refused(
        "(a) hostile node lies about the sender's platform id for record put",
        &cli_via(&forge_platform, &genesis, &put)?,
        &[
            "the node's proof of state refused",
            "gov/member_key/",
            "does not hold",
        ],
    )?;
    // (b) The record's version: the next put would be sealed to a version the chain never gives.
    let record_key = key_of(|s| registry::record(s, &mid_id, &platform0).map(drop))?;
    let forge_version = hostile_proxy(
        upstream.clone(),
        Arc::new(move |m, mut v| {
            if m == method::RECORD {
                v["record"]["version"] = json!(7);
            }
            if m == method::PROVEN_STATE {
                forge_proven(&mut v, &record_key, &|value| {
                    let mut r: AcquiringRecord =
                        paychain_contracts::codec::decode(&value?, 1 << 20).ok()?;
                    r.version = 7;
                    Some(paychain_contracts::codec::encode(&r))
                });
            }
            v
        }),
    )?;
    refused(
        "(b) hostile node lies about the record's version for record put",
        &cli_via(&forge_version, &genesis, &put)?,
        &[
            "the node's proof of state refused",
            "reg/record/",
            "does not hold",
        ],
    )?;
    ensure!(record_version()? == 1, "a refused put reached the chain");

    // (c) An enclave on a machine the genesis vendor did certify (the attacker's own hardware),
    // never registered, presented as the node's, registered and provisioned.
    let vendor_root = load_key(&net.vendor_root_path())?;
    let rogue = Enclave::new(
        &sha256(&[b"attacker's certified machine"]).0,
        EnclaveConfig::new(chain_id.clone()),
        None,
    )?;
    let rogue_quote = rogue.certified_quote(&vendor_root);
    let rogue_signer = rogue.signer();
    let rogue_entry = EnclaveEntry {
        quote: rogue_quote.clone(),
        platform_id: platform0.clone(),
        provisioned: true,
        registered_at: 1,
        provisioned_by: None,
        retired: None,
    };
    let (entry_json, measurement) = (
        serde_json::to_value(&rogue_entry)?,
        serde_json::to_value(rogue.measurement())?,
    );
    let present_rogue = move |m: &str, v: &mut Value| {
        if m == method::ENCLAVE {
            if let Some(list) = v["enclaves"].as_array_mut() {
                list.push(entry_json.clone());
            }
            v["node_enclave"]["signer"] = json!(rogue_signer.to_string());
            v["node_enclave"]["measurement"] = measurement.clone();
        }
    };
    let present = present_rogue.clone();
    let rogue_json = hostile_proxy(
        upstream.clone(),
        Arc::new(move |m, mut v| {
            present(m, &mut v);
            v
        }),
    )?;
    refused(
        "(c) hostile node presents an unregistered enclave on a certified machine as serving",
        &cli_via(&rogue_json, &genesis, &lookup)?,
        &[
            "refusing to trust the node's enclave",
            &format!("enclave {rogue_signer} is not registered"),
            "in the state certified by block",
        ],
    )?;
    // ... and forges its registry entry into the proven state too.
    let entry_key = key_of(|s| enclave_registry::enclave(s, &rogue_signer).map(drop))?;
    let entry_bytes = paychain_contracts::codec::encode(&rogue_entry);
    let rogue_proof = hostile_proxy(
        upstream.clone(),
        Arc::new(move |m, mut v| {
            present_rogue(m, &mut v);
            if m == method::PROVEN_STATE {
                forge_proven(&mut v, &entry_key, &|_| Some(entry_bytes.clone()));
            }
            v
        }),
    )?;
    refused(
        "(c) hostile node forges a serving registry entry for its enclave into the proofs",
        &cli_via(&rogue_proof, &genesis, &lookup)?,
        &[
            "the node's proof of state refused",
            "enc/enclave/",
            "does not hold",
        ],
    )?;

    // (d) Proofs under a commit the genesis validator set did not sign: signatures dropped, or
    // forged in the validators' names.
    let under_signed = hostile_proxy(
        upstream.clone(),
        Arc::new(|m, mut v| {
            if m == method::PROVEN_STATE {
                v["commit"]["signatures"] = json!([]);
            }
            v
        }),
    )?;
    for (what, args) in [("record put", &put[..]), ("lookup", &lookup[..])] {
        refused(
            &format!("(d) hostile node serves proofs under an unsigned commit for {what}"),
            &cli_via(&under_signed, &genesis, args)?,
            &["not certified by the genesis validator set"],
        )?;
    }
    let forged_commit = hostile_proxy(
        upstream.clone(),
        Arc::new(|m, mut v| {
            if m == method::PROVEN_STATE {
                if let Some(sigs) = v["commit"]["signatures"].as_array_mut() {
                    for s in sigs {
                        s["signature"] = json!("11".repeat(64));
                    }
                }
            }
            v
        }),
    )?;
    refused(
        "(d) hostile node serves proofs under a forged commit",
        &cli_via(&forged_commit, &genesis, &lookup)?,
        &["not certified by the genesis validator set"],
    )?;
    // Proofs of another state: today's proofs under an older block's genuine header and commit
    // (block 2, before the merchant and its record existed).
    let (old_header, old_commit) = (
        upstream
            .block(2)?
            .context("block 2")?
            .get("header")
            .cloned()
            .context("header")?,
        upstream.call(method::COMMIT, json!([2]))?,
    );
    let other_state = hostile_proxy(
        upstream.clone(),
        Arc::new(move |m, mut v| {
            if m == method::PROVEN_STATE {
                v["header"] = old_header.clone();
                v["commit"] = old_commit.clone();
            }
            v
        }),
    )?;
    refused(
        "(d) hostile node serves proofs of another state under a genuine older commit",
        &cli_via(&other_state, &genesis, &put)?,
        &["the node's proof of state refused", "does not hold"],
    )?;
    ensure!(record_version()? == 1, "a refused put reached the chain");

    // The merchant entry a payer sees (and `pay` routes by) comes from proven state too: a lie in
    // `paychain_merchant` is not used, a forged proof is refused.
    let merchant_key = key_of(|s| registry::merchant(s, &mid_id).map(drop))?;
    let rename = |v: Option<Vec<u8>>| -> Option<Vec<u8>> {
        let mut m: registry::Merchant = paychain_contracts::codec::decode(&v?, 1 << 20).ok()?;
        m.name = "Attacker Noodles".into();
        Some(paychain_contracts::codec::encode(&m))
    };
    let forge_merchant = hostile_proxy(
        upstream.clone(),
        Arc::new(move |m, mut v| {
            if m == method::MERCHANT {
                v["merchant"]["name"] = json!("Attacker Noodles");
            }
            v
        }),
    )?;
    let shown = ok_json(
        "public lookup through a node that lies in paychain_merchant",
        &cli_via(&forge_merchant, &genesis, &["lookup", &mid])?,
    )?;
    ensure!(
        shown["merchant"]["name"] == "Noodle House",
        "the client showed the node's word: {shown}"
    );
    let forge_merchant_proof = hostile_proxy(
        upstream.clone(),
        Arc::new(move |m, mut v| {
            if m == method::PROVEN_STATE {
                forge_proven(&mut v, &merchant_key, &rename);
            }
            v
        }),
    )?;
    refused(
        "hostile node forges the merchant entry into the proofs",
        &cli_via(&forge_merchant_proof, &genesis, &["lookup", &mid])?,
        &[
            "the node's proof of state refused",
            "reg/merchant/",
            "does not hold",
        ],
    )?;

    // The node's bounds on `paychain_provenState`: clear refusals, nothing echoed at length.
    let too_many: Vec<String> = (0..=paychain_api::chain::MAX_PROVEN_KEYS)
        .map(|i| hex::encode(format!("k{i}")))
        .collect();
    let e = upstream.call_err(method::PROVEN_STATE, json!([too_many]))?;
    ensure!(
        e.code == 2006 && e.message.contains("33 keys asked, at most 32"),
        "{e}"
    );
    let e = upstream.call_err(method::PROVEN_STATE, json!([["ab".repeat(513)]]))?;
    ensure!(
        e.code == 2006 && e.message.contains("longer than 512 bytes"),
        "{e}"
    );
    let e = upstream.call_err(method::PROVEN_STATE, json!([["zz".repeat(200)]]))?;
    ensure!(
        e.code == -32602 && e.message.contains("not hex") && e.message.len() < 200,
        "{e}"
    );
    let e = upstream.call_err(method::PROVEN_STATE, json!(["not an array"]))?;
    ensure!(
        e.code == -32602 && e.message.contains("invalid keys"),
        "{e}"
    );

    // The honest path through the same kind of proxy still works: a second put (version 2, from
    // proven state) and its lookup.
    std::fs::write(
        &info,
        paychain_tests::acquiring_record("48020000", "P0-000456"),
    )?;
    let done = ok_json(
        "record put (honest, again)",
        &cli_via(&honest, &genesis, &put)?,
    )?;
    ensure!(done["sealed"]["version"] == 2, "{done}");
    // Proven state shows what was committed before the call, even when it is in the last block
    // (whose header does not certify its writes yet: the node waits for the next one). A
    // transaction, then at once its effect read through the SDK's verifier.
    let p0_secret = load_key(Path::new(p0))?;
    let nonce = upstream.nonce(&p0_key)?;
    let tx = paychain_tests::txs::signed(
        &p0_secret,
        chain_id.as_str(),
        nonce,
        paychain_tests::txs::register(&paychain_tests::txs::merchant_key(77), "Other Noodles"),
    );
    let hash = upstream
        .submit(&tx.to_bytes())?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    upstream.wait_committed(&hash, crate::PROGRESS)?;
    let committed_at = upstream.tx(&hash)?["height"]
        .as_u64()
        .context("tx height")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (seen, proven) = rt.block_on(async {
        let client = paychain_client::rpc::Client::new(&upstream.url())?;
        let pin = paychain_client::enclave::Pin::load(&genesis)?;
        let height = client.status().await?.height;
        anyhow::Ok(
            paychain_client::proven::read(&client, &pin, height, |s| {
                paychain_contracts::executor::nonce(s, &p0_key)
            })
            .await?,
        )
    })?;
    ensure!(
        seen == nonce + 1 && proven.height > committed_at,
        "proven state after a tx committed in block {committed_at}: nonce {seen} (expected {}), certified by block {}",
        nonce + 1,
        proven.height
    );
    ensure!(record_version()? == 2, "the honest put did not land");
    let seen = ok_json(
        "lookup (honest, again)",
        &cli_via(&honest, &genesis, &lookup)?,
    )?;
    ensure!(
        seen["record"]
            .as_str()
            .is_some_and(|r| r.contains("P0-000456")),
        "{seen}"
    );
    Ok(())
}
