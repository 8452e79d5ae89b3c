//! The SDK and the CLI against an in-process mock node speaking the paychain JSON-RPC API.
//!
//! The mock "commits" every admitted transaction at once, so these tests pin the client's side of the
//! protocol (encoding, nonces, receipts, exit codes, `--json` documents); tests against real nodes live in
//! the workspace's `tests/` crate.

#![allow(clippy::unwrap_used)]

mod emvco;
mod emvco_tip;
mod qr;
mod qr_photos;

use std::collections::BTreeMap;
use std::process::Output;
use std::sync::Mutex;
use std::time::Duration;

use jsonrpsee::server::{RpcModule, Server, ServerHandle};
use jsonrpsee::types::ErrorObjectOwned;
use paychain_api::{method, SubmitError, SubmitItem};
use paychain_client::contracts::api::{
    AccountView, MerchantView, StatusView, SubmitView, TxStatus, TxView,
};
use paychain_client::contracts::crypto::{Hash, PublicKey};
use paychain_client::contracts::executor::{Event, Receipt};
use paychain_client::contracts::ids::{ChainId, MerchantId, PlatformId};
use paychain_client::contracts::registry::{self, Merchant};
use paychain_client::contracts::tx::{self as ctx, Call, SignedTx};
use paychain_client::keystore::{KeyFile, Overwrite};
use paychain_client::{registry as sdk_registry, rpc, tx};

const CHAIN: &str = "mock-chain";

#[derive(Default)]
struct Mock {
    height: u64,
    nonces: BTreeMap<PublicKey, u64>,
    receipts: BTreeMap<Hash, Receipt>,
    merchants: BTreeMap<MerchantId, Merchant>,
}

fn refuse(msg: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(-32000, msg.into(), None::<()>)
}

impl Mock {
    fn submit(&mut self, hex_tx: &str) -> Result<SubmitView, ErrorObjectOwned> {
        let bytes = hex::decode(hex_tx).map_err(|_| refuse("tx is not hex"))?;
        let stx = SignedTx::from_bytes(&bytes)
            .map_err(|e| refuse(format!("undecodable transaction: {e}")))?;
        ctx::check_stateless(&stx, &ChainId::new(CHAIN)).map_err(|e| refuse(e.to_string()))?;
        let nonce = self.nonces.entry(stx.tx.sender).or_default();
        if stx.tx.nonce != *nonce {
            return Err(refuse(format!(
                "stale nonce: expected {nonce}, got {}",
                stx.tx.nonce
            )));
        }
        *nonce += 1;
        self.height += 1;
        let tx_hash = stx.hash();
        let mut receipt = Receipt {
            tx_hash,
            height: self.height,
            index: 0,
            code: 0,
            error: None,
            events: vec![],
        };
        match stx.tx.call {
            Call::Registry(registry::Call::RegisterMerchant { name, .. }) if name == "Fail" => {
                receipt.code = 3;
                receipt.error = Some("sender is not a platform".into());
            }
            Call::Registry(registry::Call::RegisterMerchant {
                name,
                city,
                mcc,
                country,
                merchant_key,
            }) => {
                let id = MerchantId::derive(&merchant_key);
                receipt
                    .events
                    .push(Event::new("merchant_registered").with("merchant_id", id.as_str()));
                let m = Merchant {
                    id: id.clone(),
                    name,
                    city,
                    mcc,
                    country,
                    merchant_key,
                    registered_by: PlatformId::new("p1").unwrap(),
                    registered_at: self.height,
                };
                self.merchants.insert(id, m);
            }
            _ => {}
        }
        self.receipts.insert(tx_hash, receipt);
        Ok(SubmitView { tx_hash })
    }
}

async fn mock_node() -> (String, ServerHandle) {
    let server = Server::builder().build("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", server.local_addr().unwrap());
    let mut module = RpcModule::new(Mutex::new(Mock::default()));
    module
        .register_method(method::STATUS, |_, m, _| {
            let m = m.lock().unwrap();
            Ok::<_, ErrorObjectOwned>(StatusView {
                chain_id: CHAIN.into(),
                moniker: "mock".into(),
                height: m.height,
                app_hash: Hash::digest(&m.height.to_be_bytes()),
                latest_block_hash: Hash::ZERO,
                latest_block_time_ms: 0,
                validators: vec![],
                peers: 0,
                syncing: false,
                mempool_size: 0,
            })
        })
        .unwrap();
    module
        .register_method(method::ACCOUNT, |p, m, _| {
            let key: PublicKey = p.one()?;
            let nonce = m.lock().unwrap().nonces.get(&key).copied().unwrap_or(0);
            Ok::<_, ErrorObjectOwned>(AccountView {
                public_key: key,
                nonce,
                member: None,
            })
        })
        .unwrap();
    module
        .register_method(method::SUBMIT_TX, |p, m, _| {
            let hex_tx: String = p.one()?;
            m.lock().unwrap().submit(&hex_tx)
        })
        .unwrap();
    module
        .register_method(method::SUBMIT_TXS, |p, m, _| {
            let hexes: Vec<String> = p.one()?;
            let mut m = m.lock().unwrap();
            Ok::<_, ErrorObjectOwned>(
                hexes
                    .iter()
                    .map(|h| match m.submit(h) {
                        Ok(v) => SubmitItem {
                            tx_hash: Some(v.tx_hash),
                            error: None,
                        },
                        Err(e) => SubmitItem {
                            tx_hash: None,
                            error: Some(SubmitError {
                                code: e.code(),
                                message: e.message().to_owned(),
                            }),
                        },
                    })
                    .collect::<Vec<_>>(),
            )
        })
        .unwrap();
    module
        .register_method(method::TX, |p, m, _| {
            let tx_hash: Hash = p.one()?;
            let receipt = m.lock().unwrap().receipts.get(&tx_hash).cloned();
            Ok::<_, ErrorObjectOwned>(TxView {
                tx_hash,
                status: if receipt.is_some() {
                    TxStatus::Committed
                } else {
                    TxStatus::Unknown
                },
                height: receipt.as_ref().map(|r| r.height),
                index: receipt.as_ref().map(|r| r.index),
                receipt,
            })
        })
        .unwrap();
    module
        .register_method(method::MERCHANT, |p, m, _| {
            let id: MerchantId = p.one()?;
            let merchant = m.lock().unwrap().merchants.get(&id).cloned();
            merchant
                .map(|merchant| MerchantView {
                    merchant,
                    platforms: vec![],
                    routes: vec![],
                    pending: vec![],
                })
                .ok_or_else(|| refuse(format!("unknown merchant {id}")))
        })
        .unwrap();
    (url, server.start(module))
}

fn key_file(dir: &std::path::Path, name: &str) -> (KeyFile, std::path::PathBuf) {
    let key = KeyFile::generate();
    let path = dir.join(name);
    key.write(&path, Overwrite::Refuse).unwrap();
    (key, path)
}

fn register_call(name: &str, merchant_key: PublicKey) -> Call {
    Call::Registry(registry::Call::RegisterMerchant {
        name: name.into(),
        city: "Shanghai".into(),
        mcc: "5812".into(),
        country: "CN".into(),
        merchant_key,
    })
}

#[tokio::test]
async fn sdk_submits_a_batch_with_one_answer_per_tx() {
    let (url, _node) = mock_node().await;
    let client = rpc::Client::new(&url).unwrap();
    let key = KeyFile::generate();
    let merchant = KeyFile::generate().public_key();
    let mut txs = Vec::new();
    for nonce in [0, 1, 1] {
        txs.push(
            tx::TxBuilder::new(&client, key.secret_key())
                .nonce(nonce)
                .build(register_call("Noodles", merchant))
                .await
                .unwrap(),
        );
    }
    let items = client.submit_txs(&txs).await.unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0].tx_hash, Some(txs[0].hash()));
    assert_eq!(items[1].tx_hash, Some(txs[1].hash()));
    let refused = items[2].error.as_ref().unwrap();
    assert!(refused.message.contains("stale nonce"), "{refused:?}");
    assert_eq!(items[2].tx_hash, None);
    assert_eq!(client.account(&key.public_key()).await.unwrap().nonce, 2);
}

#[tokio::test]
async fn sdk_send_reports_what_came_of_each_transaction() {
    let (url, _node) = mock_node().await;
    let client = rpc::Client::new(&url).unwrap();
    let key = KeyFile::generate();
    let merchant = KeyFile::generate().public_key();
    let wait = tx::Wait::Committed(Duration::from_secs(5));

    // A flow: checked inputs, then the one send helper.
    let new = sdk_registry::NewMerchant::new(
        "Noodles".into(),
        "Shanghai".into(),
        "5812".into(),
        "CN".into(),
        merchant,
    )
    .unwrap();
    let r = sdk_registry::register(&client, key.secret_key(), new, wait)
        .await
        .unwrap();
    assert_eq!(r.merchant_id, MerchantId::derive(&merchant));
    assert_eq!(
        r.sent.event_attr("merchant_registered", "merchant_id"),
        Some(r.merchant_id.as_str())
    );
    assert_eq!(r.sent.receipt().unwrap().tx_hash, r.sent.tx_hash);

    // Committed but refused by the contract: the hash and the failed receipt, not an error.
    let sent = tx::send(
        &client,
        key.secret_key(),
        register_call("Fail", merchant),
        wait,
    )
    .await
    .unwrap();
    assert_eq!(sent.receipt().unwrap().code, 3);
    assert!(matches!(
        sent.committed,
        Some(Err(tx::Error::Failed { .. }))
    ));

    // Not waited for.
    let sent = tx::send(
        &client,
        key.secret_key(),
        register_call("Noodles", merchant),
        tx::Wait::Admitted,
    )
    .await
    .unwrap();
    assert!(sent.committed.is_none());
    assert!(matches!(sent.into_receipt(), Err(tx::Error::NotWaited(_))));
    assert_eq!(client.account(&key.public_key()).await.unwrap().nonce, 3);

    // Not admitted: an error, no hash.
    let err = tx::TxBuilder::new(&client, key.secret_key())
        .nonce(0)
        .send(register_call("X", merchant), wait)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("stale nonce"), "{err}");
}

#[tokio::test]
async fn sdk_submit_wait_and_refusals() {
    let (url, _node) = mock_node().await;
    let client = rpc::Client::new(&url).unwrap();
    let key = KeyFile::generate();
    let merchant = KeyFile::generate().public_key();

    // Two transactions in a row: the builder fetches the next nonce each time.
    for _ in 0..2 {
        let sent = tx::TxBuilder::new(&client, key.secret_key())
            .submit(register_call("Noodles", merchant))
            .await
            .unwrap();
        let receipt = tx::wait_committed(&client, &sent.tx_hash, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(receipt.tx_hash, sent.tx_hash);
    }
    assert_eq!(client.account(&key.public_key()).await.unwrap().nonce, 2);

    let sent = tx::TxBuilder::new(&client, key.secret_key())
        .submit(register_call("Fail", merchant))
        .await
        .unwrap();
    let err = tx::wait_committed(&client, &sent.tx_hash, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("(code 3): sender is not a platform"),
        "{err}"
    );
    assert_eq!(err.receipt().unwrap().code, 3);

    let err = tx::TxBuilder::new(&client, key.secret_key())
        .chain_id(ChainId::new("other"))
        .submit(register_call("X", merchant))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("node refused transaction: wrong chain id"),
        "{err}"
    );

    let err = tx::TxBuilder::new(&client, key.secret_key())
        .nonce(0)
        .submit(register_call("X", merchant))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "node refused transaction: stale nonce: expected 3, got 0"
    );

    let err = tx::wait_committed(&client, &Hash::ZERO, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            tx::Error::Timeout {
                last: TxStatus::Unknown,
                ..
            }
        ),
        "{err}"
    );

    let err = client
        .merchant(&MerchantId::derive(&PublicKey([9; 32])))
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("unknown merchant M"), "{err}");
}

async fn cli(url: &str, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_paychain"));
    cmd.arg("--rpc").arg(url).args(args);
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn stdout_json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn stderr_line(out: &Output) -> String {
    let err = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.starts_with("error: "), "{err:?}");
    err.trim_end().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_against_mock_node() {
    let (url, _node) = mock_node().await;
    let dir = tempfile::tempdir().unwrap();
    let (_, platform) = key_file(dir.path(), "platform.json");
    let (merchant, merchant_path) = key_file(dir.path(), "merchant.json");
    let platform = platform.to_str().unwrap();

    let out = cli(&url, &["status", "--json"]).await;
    assert!(out.status.success());
    let status = stdout_json(&out);
    assert_eq!(status["height"], 0);
    assert!(status["app_hash"].as_str().unwrap().len() == 64);

    let register = |name: &'static str| {
        let merchant_path = merchant_path.to_str().unwrap().to_owned();
        let url = url.clone();
        let platform = platform.to_owned();
        async move {
            cli(
                &url,
                &[
                    "--json",
                    "merchant",
                    "register",
                    "--key",
                    &platform,
                    "--name",
                    name,
                    "--city",
                    "Shanghai",
                    "--mcc",
                    "5812",
                    "--country",
                    "CN",
                    "--merchant-keyfile",
                    &merchant_path,
                ],
            )
            .await
        }
    };
    let out = register("Noodles").await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = stdout_json(&out);
    let id = MerchantId::derive(&merchant.public_key());
    assert_eq!(doc["merchant_id"], id.as_str());
    assert_eq!(doc["status"], "committed");
    assert_eq!(doc["receipt"]["code"], 0);
    assert_eq!(doc["tx_hash"].as_str().unwrap().len(), 64);

    // A contract failure: exit 1, the contract's message on stderr, the outcome still on stdout.
    let out = register("Fail").await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_line(&out).ends_with("sender is not a platform"));
    assert_eq!(stdout_json(&out)["status"], "failed");

    let out = cli(&url, &["lookup", id.as_str()]).await;
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Noodles, Shanghai (CN)"));

    let unknown = MerchantId::derive(&PublicKey([7; 32]));
    let out = cli(&url, &["merchant", "show", unknown.as_str(), "--json"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        stderr_line(&out),
        format!("error: unknown merchant {unknown}")
    );

    let out = cli(&url, &["tx", "submit-raw", "00ff"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr_line(&out).starts_with("error: node refused transaction: undecodable"));

    let out = cli(&url, &["keys", "show", "/nonexistent/key.json"]).await;
    assert_eq!(out.status.code(), Some(2));
    stderr_line(&out);
}
