//! `paychain-load`: an open-loop load generator for a paychain network.
//!
//! Pre-signs transactions from many fresh keys (so nonces never block each other), submits them
//! at a fixed rate spread over every node's RPC, follows committed blocks on one node, and
//! prints committed tx/s, blocks/s and submit→commit latency percentiles as one JSON object.
//!
//! The transactions are registry calls from keys that are not platforms: each is signed,
//! gossiped, ordered, executed (refused by the contract, nonce bumped) and committed like any
//! other, so this measures the chain's pipeline, not one contract's logic.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use paychain_client::contracts::crypto::{Hash, SecretKey};
use paychain_client::contracts::ids::ChainId;
use paychain_client::contracts::registry;
use paychain_client::contracts::tx::{Call, SignedTx, Transaction};
use paychain_client::rpc::Client;
use tokio::sync::Mutex;

#[derive(Parser)]
#[command(name = "paychain-load", about = "open-loop load generator")]
struct Args {
    /// Comma-separated RPC URLs; submissions rotate over them.
    #[arg(long, default_value = "http://127.0.0.1:26657")]
    rpc: String,
    /// Target submissions per second.
    #[arg(long, default_value_t = 500)]
    rate: u64,
    /// Seconds of load.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// Transactions per sender (≤ the mempool's per-sender window).
    #[arg(long, default_value_t = 16)]
    per_sender: u64,
    /// Seconds to keep following blocks after the load stops.
    #[arg(long, default_value_t = 10)]
    drain: u64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> anyhow_like::Result {
    let args = Args::parse();
    let urls: Vec<String> = args.rpc.split(',').map(|s| s.trim().to_string()).collect();
    let clients: Vec<Client> = urls
        .iter()
        .map(|u| Client::with_timeout(u, Duration::from_secs(10)))
        .collect::<Result<_, _>>()?;
    let status = clients[0].status().await?;
    let chain_id = ChainId::new(status.chain_id.clone());
    let start_height = status.height;

    let total = args.rate * args.duration;
    let senders = total.div_ceil(args.per_sender.max(1));
    eprintln!("signing {total} transactions from {senders} senders ...");
    let mut txs: Vec<(Hash, Vec<u8>)> = Vec::with_capacity(total as usize);
    'outer: for s in 0..senders {
        let seed = Hash::digest(format!("paychain-load/{}/{s}", std::process::id()).as_bytes());
        let key = SecretKey::from_seed(seed.0);
        for nonce in 0..args.per_sender {
            if txs.len() as u64 >= total {
                break 'outer;
            }
            let tx = SignedTx::sign(
                Transaction {
                    chain_id: chain_id.clone(),
                    sender: key.public_key(),
                    nonce,
                    call: Call::Registry(registry::Call::RevokeRecord {
                        merchant_id: paychain_client::contracts::ids::MerchantId::derive(
                            &key.public_key(),
                        ),
                    }),
                },
                &key,
            );
            txs.push((tx.hash(), tx.to_bytes()));
        }
    }
    // Interleave senders so consecutive submissions come from different keys, keeping each
    // sender's nonces in order.
    let per = args.per_sender as usize;
    let mut order: Vec<usize> = Vec::with_capacity(txs.len());
    for n in 0..per {
        let mut i = n;
        while i < txs.len() {
            order.push(i);
            i += per;
        }
    }

    let submitted: Arc<Mutex<HashMap<Hash, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let refused = Arc::new(std::sync::atomic::AtomicU64::new(0));
    // Follow committed blocks from the start, concurrently with the load.
    let committed_at: Arc<Mutex<HashMap<Hash, Instant>>> = Arc::new(Mutex::new(HashMap::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let follower = {
        let client = clients[0].clone();
        let committed_at = committed_at.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut next = start_height + 1;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match client.block(next).await {
                    Ok(Some(block)) => {
                        let now = Instant::now();
                        let mut map = committed_at.lock().await;
                        for h in block.tx_hashes {
                            map.insert(h, now);
                        }
                        next += 1;
                    }
                    _ => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            }
        })
    };
    let t0 = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / args.rate.max(1) as f64);
    let mut handles = Vec::new();
    for (k, idx) in order.into_iter().enumerate() {
        let due = t0 + interval.mul_f64(k as f64);
        let (hash, bytes) = txs[idx].clone();
        let client = clients[k % clients.len()].clone();
        let submitted = submitted.clone();
        let refused = refused.clone();
        tokio::time::sleep_until(due.into()).await;
        handles.push(tokio::spawn(async move {
            let at = Instant::now();
            match client.submit_raw(&bytes).await {
                Ok(_) => {
                    submitted.lock().await.insert(hash, at);
                }
                Err(_) => {
                    refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    let load_secs = t0.elapsed().as_secs_f64();
    for h in handles {
        let _ = h.await;
    }
    let want = submitted.lock().await.len();
    let deadline = Instant::now() + Duration::from_secs(args.drain);
    loop {
        let done = {
            let c = committed_at.lock().await;
            let s = submitted.lock().await;
            s.keys().filter(|h| c.contains_key(*h)).count()
        };
        if done >= want || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = follower.await;
    let mut latencies = Vec::new();
    let mut last_commit = t0;
    {
        let c = committed_at.lock().await;
        for (h, at) in submitted.lock().await.iter() {
            if let Some(done) = c.get(h) {
                latencies.push(done.saturating_duration_since(*at).as_secs_f64() * 1000.0);
                last_commit = last_commit.max(*done);
            }
        }
    }
    let committed = latencies.len() as u64;
    let want = want as u64;
    let follower = &clients[0];
    let end = follower.status().await?;
    let span = last_commit.duration_since(t0).as_secs_f64().max(load_secs);
    latencies.sort_by(|a, b| a.total_cmp(b));
    let blocks = end.height - start_height;
    let report = serde_json::json!({
        "nodes": urls.len(),
        "target_rate": args.rate,
        "duration_s": args.duration,
        "submitted": want,
        "refused_at_submit": refused.load(std::sync::atomic::Ordering::Relaxed),
        "committed": committed,
        "committed_tx_per_s": committed as f64 / span,
        "blocks": blocks,
        "blocks_per_s": blocks as f64 / t0.elapsed().as_secs_f64(),
        "latency_ms": {
            "p50": percentile(&latencies, 0.50),
            "p95": percentile(&latencies, 0.95),
            "p99": percentile(&latencies, 0.99),
        },
    });
    println!("{report}");
    Ok(())
}

/// Minimal error plumbing for a tool binary.
mod anyhow_like {
    pub type Result = std::result::Result<(), Box<dyn std::error::Error>>;
}
