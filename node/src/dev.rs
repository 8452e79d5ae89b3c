//! `--dev`: a one-validator chain with demo platforms, merchants and acquiring records.

use std::path::PathBuf;
use std::sync::Arc;

use paychain_contracts::crypto::{Hash, SecretKey};
use paychain_contracts::enclave::{seal_record, BoxRandomness, RecordKey};
use paychain_contracts::ids::{MerchantId, PlatformId};
use paychain_contracts::registry;
use paychain_contracts::tx::{Call, SignedTx, Transaction};
use paychain_node::config::Config;
use paychain_node::node::{self, Home, Shared};
use paychain_node::{keys, testnet};
use tracing::{info, warn};

/// Demo merchants: (name, city, MCC, country).
const MERCHANTS: [(&str, &str, &str, &str); 3] = [
    ("Lotus Tea House", "Hangzhou", "5812", "CN"),
    ("Harbour Books", "Singapore", "5942", "SG"),
    ("Mercado Azul", "Sao Paulo", "5411", "BR"),
];

fn demo_merchant_key(i: usize) -> SecretKey {
    SecretKey::from_seed(Hash::digest(format!("paychain/demo-merchant/{i}").as_bytes()).0)
}

fn sign(shared: &Shared, key: &SecretKey, nonce: u64, call: Call) -> SignedTx {
    SignedTx::sign(
        Transaction {
            chain_id: shared.chain_id.clone(),
            sender: key.public_key(),
            nonce,
            call,
        },
        key,
    )
}

/// Queues the demo transactions (only on a fresh chain): platform-0 registers the merchants
/// and puts its records; once those are committed, platform-1 puts its own.
async fn load_demo(shared: Arc<Shared>, home: &Home) -> anyhow::Result<()> {
    let p0 = keys::load(&home.0.join("platforms").join("platform-0.json"))?;
    let p1 = keys::load(&home.0.join("platforms").join("platform-1.json"))?;
    let mut txs = Vec::new();
    let mut later = Vec::new();
    let mut n0 = 0;
    for (i, (name, city, mcc, country)) in MERCHANTS.iter().enumerate() {
        let merchant_key = demo_merchant_key(i).public_key();
        txs.push(sign(
            &shared,
            &p0,
            n0,
            Call::Registry(registry::Call::RegisterMerchant {
                name: name.to_string(),
                city: city.to_string(),
                mcc: mcc.to_string(),
                country: country.to_string(),
                merchant_key,
            }),
        ));
        n0 += 1;
        let id = MerchantId::derive(&merchant_key);
        txs.push(sign(
            &shared,
            &p0,
            n0,
            Call::Registry(registry::Call::PutRecord {
                merchant_id: id.clone(),
                payload: sealed(
                    &shared,
                    &id,
                    "platform-0",
                    format!(
                        "{{\"acquirer\":\"platform-0\",\"mid\":\"P0-{i:04}\",\"terminal\":\"T{i}\"}}"
                    ),
                )?,
            }),
        ));
        n0 += 1;
        if i < 2 {
            later.push(sign(
                &shared,
                &p1,
                i as u64,
                Call::Registry(registry::Call::PutRecord {
                    merchant_id: id.clone(),
                    payload: sealed(
                        &shared,
                        &id,
                        "platform-1",
                        format!("{{\"acquirer\":\"platform-1\",\"mid\":\"P1-{i:04}\"}}"),
                    )?,
                }),
            ));
        }
        info!(merchant = %id, name, "demo merchant queued");
    }
    admit_all(&shared, txs);
    // Wait on committed blocks (not on time) until platform-0's transactions are in.
    let mut blocks = shared.subscribe_blocks();
    while shared.account_nonce(&p0.public_key()) < n0 {
        if blocks.recv().await.is_err() {
            anyhow::bail!("node stopped before the demo data was committed");
        }
    }
    admit_all(&shared, later);
    Ok(())
}

/// A demo acquiring record, sealed to the platform's epoch-0 record key from genesis as platforms'
/// clients do (plain bytes on chains without an enclave).
fn sealed(
    shared: &Shared,
    merchant: &MerchantId,
    platform: &str,
    plaintext: String,
) -> anyhow::Result<Vec<u8>> {
    let Some(enclave) = &shared.genesis.enclave else {
        return Ok(plaintext.into_bytes());
    };
    let mut ephemeral = [0u8; 32];
    let mut nonce = [0u8; 12];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut ephemeral);
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
    let platform = PlatformId::new(platform)?;
    let key = enclave
        .platform_keys
        .iter()
        .find(|k| k.platform_id == platform)
        .ok_or_else(|| anyhow::anyhow!("genesis has no record key of {platform}"))?;
    let record = seal_record(
        plaintext.as_bytes(),
        &RecordKey {
            epoch: key.epoch,
            public: key.public,
        },
        merchant,
        &platform,
        1,
        &BoxRandomness::new(ephemeral, nonce),
    )?;
    Ok(record.to_bytes())
}

fn admit_all(shared: &Shared, txs: Vec<SignedTx>) {
    for tx in txs {
        let size = tx.to_bytes().len();
        if let Err(e) = shared.mempool.admit(tx, size, |pk| shared.sender_nonce(pk)) {
            warn!(error = %e, "demo tx refused");
        }
    }
}

pub(crate) async fn run(
    home: PathBuf,
    rpc_port: u16,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let root = Home(home.clone());
    let node_home = Home(home.join("node0"));
    if !root.0.join("genesis.json").exists() {
        testnet::generate(&home, 1, 2, rpc_port, "paychain-dev", false)?;
        info!(home = %home.display(), "initialised dev chain");
    }
    let config = Config::load(&node_home.config())?;
    let running = node::start(&node_home, config).await?;
    if running.shared.tip().height == 0 {
        let shared = running.shared.clone();
        tokio::spawn(async move {
            if let Err(e) = load_demo(shared, &root).await {
                warn!(error = %e, "demo data not loaded");
            }
        });
    }
    println!(
        "paychain dev chain running: rpc http://{} (platform keys in {}/platforms)",
        running.rpc_addr,
        home.display()
    );
    running.wait(shutdown).await
}
