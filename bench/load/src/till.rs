//! `--till N`: latency at the till, measured on complete payer flows.
//!
//! Each flow is what a payer's phone does at a till, timed from the camera's image to a
//! certificate the payer verified offline:
//!
//! ```text
//! scan         the merchant's code decoded from its PNG (qr::decode_image), then pay::scan_at
//! checks       pay_scanned: merchant, wallet, order, balance (RPC reads)
//! lookup       pay_scanned: the signed enclave lookup of the acquiring record, verified against
//!              the enclave genesis pins (--genesis), opened
//! commit       pay_scanned: sign, submit, wait until committed (the SDK polls paychain_tx)
//! certificate  pay_scanned: wait for the certificate (it needs block H+1), check it against the
//!              node's validator set
//! verify       pay::verify_offline against genesis.json: no node asked
//! total        scan .. verify
//! ```
//!
//! The merchant's terminal renders a dynamic code (amount and order ref) per flow with the SDK's
//! encoder before the clock starts (`--static-code`: one printed static code, the amount entered).
//! `--till-payers K` payers pay at the same time, each closed loop (one flow after the other, after a
//! random pause of up to `--till-pause-ms`, off the clock: a payer who started the moment the last
//! certificate arrived would always meet the chain at the same point of its block cycle).
//! The payers are set up first like `--payments` wallets (verified, wallet, card, top-up), by the
//! host of `--platform-key`, unless `--no-setup` reuses those of an earlier run with the same
//! `--payer-seed` (the top-up covers four runs of the same size).
//!
//! To tell the chain's time from the SDK's polling, blocks are followed over a WebSocket on the
//! same node: per flow, when block H (the payment's) and H+1 (the one its certificate needs)
//! arrived, against when the SDK noticed each.
//!
//! `--till-wait push` measures what the flow would take if the SDK waited for pushed blocks instead
//! of polling (`paychain_tx` and `paychain_certificate`, every 150 ms): the same SDK calls for the
//! quote (`pay::quote`: checks and lookup), the same signed transaction (`tx::TxBuilder`,
//! `tx::submit`), then the payment's block and the next one awaited on a block subscription the
//! payer's wallet holds open (opened before the clock starts, as an app keeps its connection), and
//! the certificate fetched once block H+1 is pushed. It skips the SDK's extra check of the
//! certificate against the node's validator set (the offline check against genesis stays).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonrpsee::http_client::HttpClientBuilder;
use paychain_api::ErrorCode;
use paychain_client::contracts::crypto::{Hash, SecretKey};
use paychain_client::contracts::genesis::Genesis;
use paychain_client::contracts::ids::{ChainId, MerchantId};
use paychain_client::contracts::money::{Amount, Currency};
use paychain_client::emvco::{self, MerchantCodeSpec};
use paychain_client::enclave::Pin;
use paychain_client::pay::{self, PayOptions, PayRequest};
use paychain_client::rpc::{BlockSubscription, Client};
use paychain_client::{keystore, qr, tx};

use super::{num, payer_keys, percentile, sample, setup_wallets, Args, ProcSample};

/// How long one flow waits for its commit and for its certificate, each.
const WAIT: Duration = Duration::from_secs(30);

/// The steps of a flow, in order (and the report's keys).
const STEPS: [&str; 6] = [
    "scan",
    "checks",
    "lookup",
    "commit",
    "certificate",
    "verify",
];

/// One flow, timed.
struct Flow {
    /// Durations of [`STEPS`], in order.
    steps: [Duration; 6],
    total: Duration,
    /// The payment's block.
    height: u64,
    /// When the quote was done (the payment is signed and submitted from here).
    quoted: Instant,
    /// When the SDK saw the payment committed.
    committed: Instant,
    /// When the SDK had the certificate (checked against the node's validators).
    certified: Instant,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// One till flow: the code's PNG to a certificate verified offline.
async fn flow(
    client: &Client,
    key: &SecretKey,
    png: &[u8],
    mut request: PayRequest<'_>,
    genesis: &Genesis,
) -> Result<Flow, String> {
    let t0 = Instant::now();
    let payload = qr::decode_image(png).map_err(|e| format!("decoding the code: {e}"))?;
    let code = pay::scan_at(&payload, now_secs()).map_err(|e| e.to_string())?;
    let scanned = Instant::now();
    request.now = now_secs();
    let paid = pay::pay_scanned(client, key, code, request, WAIT)
        .await
        .map_err(|e| e.to_string())?;
    let certified = Instant::now();
    pay::verify_offline(&paid.certificate, &paid.tx_hash, genesis).map_err(|e| e.to_string())?;
    let verified = Instant::now();
    let s = paid.steps;
    let quoted = scanned + s.checks + s.lookup;
    Ok(Flow {
        steps: [
            scanned - t0,
            s.checks,
            s.lookup,
            s.commit,
            s.certificate,
            verified - certified,
        ],
        total: verified - t0,
        height: paid.receipt.height,
        quoted,
        committed: quoted + s.commit,
        certified,
    })
}

/// The next block pushed on `sub`, by `deadline`.
async fn next_block(
    sub: &mut BlockSubscription,
    deadline: tokio::time::Instant,
) -> Result<paychain_client::contracts::api::BlockView, String> {
    match tokio::time::timeout_at(deadline, sub.next()).await {
        Ok(Some(Ok(block))) => Ok(block),
        Ok(Some(Err(e))) => Err(e.to_string()),
        Ok(None) => Err("the node closed the block subscription".to_owned()),
        Err(_) => Err(format!("not certified within {WAIT:?}")),
    }
}

/// The same flow with the waits on pushed blocks (`--till-wait push`, see the module docs):
/// `sub` is the payer's open block subscription.
async fn flow_push(
    client: &Client,
    sub: &mut BlockSubscription,
    key: &SecretKey,
    png: &[u8],
    request: PayRequest<'_>,
    genesis: &Genesis,
) -> Result<Flow, String> {
    let t0 = Instant::now();
    let payload = qr::decode_image(png).map_err(|e| format!("decoding the code: {e}"))?;
    let code = pay::scan_at(&payload, now_secs()).map_err(|e| e.to_string())?;
    let scanned = Instant::now();
    let opts = PayOptions {
        amount: request.amount,
        currency: request.currency,
        order_ref: request.order_ref,
        delegated: None,
        tip: request.tip,
        now: now_secs(),
        pin: request.pin,
    };
    let quote = pay::quote(client, key, code, &opts)
        .await
        .map_err(|e| e.to_string())?;
    let quoted = Instant::now();
    let signed = tx::TxBuilder::new(client, key)
        .build(quote.call())
        .await
        .map_err(|e| e.to_string())?;
    let tx_hash = signed.hash();
    tx::submit(client, signed)
        .await
        .map_err(|e| e.to_string())?;
    let deadline = tokio::time::Instant::now() + WAIT;
    // Blocks pushed while the quote ran are older: the payment is in a later one.
    let height = loop {
        let block = next_block(sub, deadline).await?;
        if let Some(i) = block.tx_hashes.iter().position(|h| *h == tx_hash) {
            let receipt = block
                .receipts
                .get(i)
                .cloned()
                .ok_or("a block without receipts")?;
            tx::check_receipt(receipt).map_err(|e| e.to_string())?;
            break block.height;
        }
    };
    let committed = Instant::now();
    while next_block(sub, deadline).await?.height <= height {}
    // The payer fetches its certificate with a signed read.
    let reader = client.clone().with_reader(key);
    let certificate = loop {
        match reader.certificate(&tx_hash).await {
            Ok(cert) => break cert,
            Err(e)
                if e.code().is_some_and(|c| {
                    matches!(c, ErrorCode::NotCommitted | ErrorCode::NotYetCertifiable)
                }) && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(5)).await
            }
            Err(e) => return Err(e.to_string()),
        }
    };
    let certified = Instant::now();
    pay::verify_offline(&certificate, &tx_hash, genesis).map_err(|e| e.to_string())?;
    let verified = Instant::now();
    Ok(Flow {
        steps: [
            scanned - t0,
            (quoted - scanned).saturating_sub(quote.lookup_time),
            quote.lookup_time,
            committed - quoted,
            certified - committed,
            verified - certified,
        ],
        total: verified - t0,
        height,
        quoted,
        committed,
        certified,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// p50/p95/p99/max/mean of `v` (milliseconds).
fn stats(mut v: Vec<f64>) -> serde_json::Value {
    v.sort_by(|a, b| a.total_cmp(b));
    let mean = if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    };
    serde_json::json!({
        "p50": num(percentile(&v, 0.50)),
        "p95": num(percentile(&v, 0.95)),
        "p99": num(percentile(&v, 0.99)),
        "max": num(v.last().copied().unwrap_or(f64::NAN)),
        "mean": num(mean),
    })
}

/// Signed difference `a - b` in milliseconds.
fn diff_ms(a: Instant, b: Instant) -> f64 {
    match a.checked_duration_since(b) {
        Some(d) => ms(d),
        None => -ms(b - a),
    }
}

/// Follows blocks on `client` (pushed over a WebSocket, polled by height without one) and notes
/// when each height arrived.
fn follow_blocks(
    client: Client,
    from: u64,
    stop: Arc<AtomicBool>,
) -> (
    Arc<Mutex<HashMap<u64, Instant>>>,
    tokio::task::JoinHandle<()>,
) {
    let seen = Arc::new(Mutex::new(HashMap::new()));
    let arrivals = seen.clone();
    let task = tokio::spawn(async move {
        let mut sub = client.subscribe_blocks().await.ok();
        let mut next = from;
        while !stop.load(Ordering::Relaxed) {
            match sub.as_mut() {
                Some(s) => match tokio::time::timeout(Duration::from_millis(200), s.next()).await {
                    Ok(Some(Ok(block))) => {
                        arrivals
                            .lock()
                            .expect("lock")
                            .entry(block.height)
                            .or_insert_with(Instant::now);
                        next = block.height + 1;
                    }
                    Ok(_) => sub = None,
                    Err(_) => {}
                },
                None => match client.block(next).await {
                    Ok(Some(_)) => {
                        arrivals
                            .lock()
                            .expect("lock")
                            .entry(next)
                            .or_insert_with(Instant::now);
                        next += 1;
                    }
                    _ => tokio::time::sleep(Duration::from_millis(5)).await,
                },
            }
        }
    });
    (seen, task)
}

/// `--till N`: see the module docs. Prints one JSON report.
pub(crate) async fn run(
    args: &Args,
    url: &str,
    client: &Client,
    chain_id: &ChainId,
    pids: &[u32],
    n: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    let genesis_path = args.genesis.as_deref().unwrap_or_default();
    let genesis: Genesis = serde_json::from_slice(
        &std::fs::read(genesis_path).map_err(|e| format!("reading {genesis_path}: {e}"))?,
    )
    .map_err(|e| format!("{genesis_path} is not a genesis: {e}"))?;
    if genesis.chain_id != *chain_id {
        return Err(format!(
            "{genesis_path} is the genesis of {}, the node runs {chain_id}",
            genesis.chain_id
        )
        .into());
    }
    let pin = Pin::from_genesis(&genesis);
    let merchant_id = MerchantId::parse(args.merchant.as_deref().unwrap_or_default().trim())
        .map_err(|e| e.to_string())?;
    let merchant = client.merchant(&merchant_id).await?.merchant;
    let payers_n = args.till_payers.max(1);
    let per_payer = n.div_ceil(payers_n);
    let currency = Currency::CNY;
    let amount = Amount::parse("1.00", currency).map_err(|e| e.to_string())?;
    let run_id = std::process::id();
    let seed = args
        .payer_seed
        .clone()
        .unwrap_or_else(|| format!("paychain-till/{run_id}"));

    let t_setup = Instant::now();
    let payers = if args.no_setup {
        payer_keys(&seed, payers_n)
    } else {
        let host = keystore::load(
            args.platform_key
                .as_deref()
                .ok_or("--till needs --platform-key to set the payers up (or --no-setup)")?,
        )?
        .secret_key()
        .clone();
        let http = HttpClientBuilder::default()
            .request_timeout(Duration::from_secs(30))
            .max_request_size(16 * 1024 * 1024)
            .build(url)?;
        // Enough for this run and three more of the same size (--no-setup).
        let top_up = Amount::parse(&format!("{}.00", 4 * per_payer + 10), currency)
            .map_err(|e| e.to_string())?;
        let ca = crate::HostCa::load(args)?;
        setup_wallets(
            client,
            &http,
            chain_id,
            (&host, &ca),
            &seed,
            payers_n,
            top_up,
        )
        .await?
    };
    let setup_s = t_setup.elapsed().as_secs_f64();

    // The merchant's code, as its terminal renders it (before the clock starts).
    let spec = MerchantCodeSpec::new(
        merchant_id.clone(),
        &merchant.name,
        &merchant.city,
        &merchant.mcc,
        currency.code(),
        &merchant.country,
    )?;
    let render = move |order: Option<&str>| -> Result<Vec<u8>, String> {
        let spec = match order {
            Some(order) => spec
                .clone()
                .with_payment(amount.value, order)
                .map_err(|e| e.to_string())?,
            None => spec.clone(),
        };
        qr::png(&emvco::encode(&spec), qr::DEFAULT_SCALE).map_err(|e| e.to_string())
    };
    let static_png = render(None)?;
    let sample_png = if args.static_code {
        static_png.clone()
    } else {
        render(Some(&format!("till-{run_id}-sample")))?
    };
    let png_side = qr::load(&sample_png).map(|img| img.width()).unwrap_or(0);

    let stop = Arc::new(AtomicBool::new(false));
    let start_height = client.status().await?.height;
    let (arrivals, follower) = follow_blocks(
        Client::with_timeout(url, Duration::from_secs(10))?,
        start_height + 1,
        stop.clone(),
    );
    let before: Vec<Option<ProcSample>> = pids.iter().map(|p| sample(*p)).collect();
    let self_before = sample(std::process::id());
    let t0 = Instant::now();
    let deadline = args.till_secs.map(|s| t0 + Duration::from_secs(s));
    let started = Arc::new(AtomicU64::new(0));
    let (genesis, static_png) = (Arc::new(genesis), Arc::new(static_png));
    let render = Arc::new(render);
    eprintln!(
        "{n} till flows by {payers_n} payer(s) closed loop ({} code, {} bytes of PNG, {png_side} px){}",
        if args.static_code { "one static" } else { "a dynamic" },
        sample_png.len(),
        deadline.map_or(String::new(), |_| format!(
            ", at most {} s",
            args.till_secs.unwrap_or_default()
        )),
    );
    let push = match args.till_wait.as_str() {
        "poll" => false,
        "push" => true,
        other => return Err(format!("--till-wait {other}: poll or push").into()),
    };
    let mut tasks = Vec::new();
    for (p, key) in payers.into_iter().enumerate() {
        let (client, started, genesis, static_png, render, pin) = (
            client.clone(),
            started.clone(),
            genesis.clone(),
            static_png.clone(),
            render.clone(),
            pin.clone(),
        );
        let static_code = args.static_code;
        let quiet = args.quiet;
        let pause_ms = args.till_pause_ms;
        let mut sub = match push {
            true => Some(client.subscribe_blocks().await?),
            false => None,
        };
        tasks.push(tokio::spawn(async move {
            let (mut flows, mut errors) = (Vec::new(), HashMap::<String, u64>::new());
            loop {
                let k = started.fetch_add(1, Ordering::Relaxed);
                if k >= n || deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let order = format!("till-{run_id}-{p}-{k}");
                if pause_ms > 0 {
                    let h = Hash::digest(order.as_bytes()).0;
                    let r = u64::from_le_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]);
                    tokio::time::sleep(Duration::from_millis(r % (pause_ms + 1))).await;
                }
                let (png, request) = if static_code {
                    let request = PayRequest {
                        amount: Some(amount.value),
                        order_ref: Some(order),
                        ..PayRequest::new(pin.clone())
                    };
                    (static_png.as_ref().clone(), request)
                } else {
                    let png = match render(Some(&order)) {
                        Ok(png) => png,
                        Err(e) => {
                            *errors
                                .entry(format!("rendering the code: {e}"))
                                .or_default() += 1;
                            continue;
                        }
                    };
                    let request = PayRequest::new(pin.clone());
                    (png, request)
                };
                let done = match sub.as_mut() {
                    Some(sub) => flow_push(&client, sub, &key, &png, request, &genesis).await,
                    None => flow(&client, &key, &png, request, &genesis).await,
                };
                match done {
                    Ok(f) => {
                        if !quiet && (k + 1) % 25 == 0 {
                            eprintln!("  flow {} done: {:.0} ms", k + 1, ms(f.total));
                        }
                        flows.push(f);
                    }
                    Err(e) => {
                        eprintln!("  flow {k} failed: {e}");
                        *errors.entry(e.chars().take(120).collect()).or_default() += 1;
                    }
                }
            }
            (flows, errors)
        }));
    }
    let (mut flows, mut errors) = (Vec::new(), HashMap::<String, u64>::new());
    for t in tasks {
        let (f, e) = t.await?;
        flows.extend(f);
        for (k, v) in e {
            *errors.entry(k).or_default() += v;
        }
    }
    let took = t0.elapsed().as_secs_f64();
    let after: Vec<Option<ProcSample>> = pids.iter().map(|p| sample(*p)).collect();
    let self_after = sample(std::process::id());
    // The last certificates' blocks may still be on their way to the follower.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let _ = follower.await;
    let arrivals = arrivals.lock().expect("lock").clone();

    let failed: u64 = errors.values().sum();
    let totals: Vec<f64> = flows.iter().map(|f| ms(f.total)).collect();
    let mean_total = totals.iter().sum::<f64>() / totals.len().max(1) as f64;
    let mut steps = serde_json::Map::new();
    let mut shares = serde_json::Map::new();
    let mut dominant = ("", 0.0);
    for (i, name) in STEPS.iter().enumerate() {
        let v: Vec<f64> = flows.iter().map(|f| ms(f.steps[i])).collect();
        let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
        if mean > dominant.1 {
            dominant = (name, mean);
        }
        shares.insert((*name).into(), num(mean / mean_total));
        steps.insert((*name).into(), stats(v));
    }
    // What the steps leave out (the moments between them): should be about 0.
    let other: Vec<f64> = flows
        .iter()
        .map(|f| ms(f.total.saturating_sub(f.steps.iter().sum())))
        .collect();
    shares.insert(
        "other".into(),
        num(other.iter().sum::<f64>() / other.len().max(1) as f64 / mean_total),
    );
    steps.insert("other".into(), stats(other));

    // The chain's time against the SDK's: per flow with both blocks seen.
    let (mut to_block, mut commit_seen, mut next_block, mut cert_seen) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for f in &flows {
        if let (Some(h), Some(h1)) = (arrivals.get(&f.height), arrivals.get(&(f.height + 1))) {
            to_block.push(diff_ms(*h, f.quoted));
            commit_seen.push(diff_ms(f.committed, *h));
            next_block.push(diff_ms(*h1, *h));
            cert_seen.push(diff_ms(f.certified, *h1));
        }
    }
    let with_blocks = to_block.len();

    let nodes = crate::node_usage(pids, &before, &after, took);
    let generator = match (self_before, self_after) {
        (Some(b), Some(a)) => serde_json::json!({
            "cpu_percent": num((a.cpu_s - b.cpu_s) / took * 100.0),
            "peak_rss_mib": num(a.hwm_kib as f64 / 1024.0),
        }),
        _ => serde_json::Value::Null,
    };
    let total = stats(totals);
    let report = serde_json::json!({
        "mode": "till",
        "nodes": 1,
        "planned": n,
        "flows": flows.len(),
        "failed": failed,
        "errors": errors,
        "payers": payers_n,
        "pause_between_flows_ms": format!("uniform 0..{}", args.till_pause_ms),
        "payer_setup_s": if args.no_setup { serde_json::Value::Null } else { num(setup_s) },
        "wait": if push {
            "push: the payment's block and the next awaited on an open block subscription, the certificate fetched once H+1 is pushed"
        } else {
            "poll: the SDK's pay_scanned (paychain_tx, then paychain_certificate, polled every 150 ms)"
        },
        "code": if args.static_code { "static (amount entered)" } else { "dynamic (one per order)" },
        "code_png": { "bytes": sample_png.len(), "side_px": png_side, "scale_px_per_module": qr::DEFAULT_SCALE },
        "amount": amount.to_string(),
        "duration_s": num(took),
        "flows_per_s": num(flows.len() as f64 / took),
        "total_ms": total,
        "latency_ms": { "p50": total["p50"], "p95": total["p95"], "p99": total["p99"] },
        "steps_ms": steps,
        "share_of_mean_total": shares,
        "dominant_step": dominant.0,
        "chain_vs_sdk_ms": {
            "flows": with_blocks,
            "note": "per flow, from node 0's block pushes: quote done -> block H pushed (sign, submit, consensus); block H pushed -> SDK saw the commit (paychain_tx polled every 150 ms); block H -> block H+1 pushed (the certificate's wait for the next block); block H+1 pushed -> SDK had the certificate (polled every 150 ms, then paychain_status and the check against the node's validators)",
            "quote_to_block": stats(to_block),
            "block_to_commit_seen": stats(commit_seen),
            "block_to_next_block": stats(next_block),
            "next_block_to_certificate_seen": stats(cert_seen),
        },
        "node_processes": nodes,
        "generator": generator,
    });
    println!("{report}");
    Ok(())
}
