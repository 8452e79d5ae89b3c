//! Fault injection under load: a random validator killed with SIGKILL at random moments (between
//! payments, or right after a payment was handed to it and before it committed) while payers keep
//! paying and a second client floods registrations from fresh keys at every node; then restarted.
//!
//! Afterwards: all nodes agree block by block and on the app hash; every payment whose commit was
//! acknowledged to its payer is in the chain exactly once, at the acknowledged height; each
//! payer's nonce counts exactly its acknowledged payments; and money is conserved: each wallet
//! holds its top-up minus its acknowledged payments, the merchant's to-be-settled account holds
//! their sum, and together they equal what was topped up.
//!
//! The victims and moments come from a seeded generator: `FAULT_SEED` replays a run (the seed is
//! in every failure message), `FAULT_CYCLES` sets the number of cycles (10 here, 100 in
//! `scripts/faults.sh`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use paychain_contracts::ca::PartyRole;
use paychain_contracts::crypto::{Hash, SecretKey};
use paychain_contracts::ids::{MerchantId, PlatformId};
use paychain_contracts::money::{Amount, Currency};
use paychain_contracts::reads::Query;
use paychain_contracts::registry::{self, Route};
use paychain_contracts::tx::{Call, SignedTx};
use paychain_contracts::wallet::{self, Account};
use paychain_tests::{txs, Rpc, Testnet};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

use crate::{assert_same_chain, PROGRESS};

/// Kill-and-restart cycles (the long profile runs more through `FAULT_CYCLES`).
fn cycles() -> usize {
    std::env::var("FAULT_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10)
}

fn seed() -> u64 {
    std::env::var("FAULT_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(7)
        })
}

const PAYERS: usize = 3;
/// Rate of the background load: enough to keep every block busy, little enough that the 2-core
/// CI machine still runs the cycles in well under a minute.
const LOAD_PER_SEC: u64 = 40;
const TOP_UP: &str = "1000.00";

/// Signs and commits `call` from `key` through node `via` with the key's next nonce (setup, no
/// faults yet).
fn commit(net: &Testnet, via: usize, chain: &str, key: &SecretKey, call: Call) -> Result<()> {
    let nonce = net.rpc(via).nonce(&key.public_key())?;
    let tx = txs::signed_call(key, chain, nonce, call);
    let hash = tx.hash().to_hex();
    if let Err(e) = net.rpc(via).submit(&tx.to_bytes())? {
        bail!("setup tx refused: {}", e.message);
    }
    let r = net.rpc(via).wait_committed(&hash, PROGRESS)?;
    ensure!(r["code"] == 0, "setup tx failed: {r}");
    Ok(())
}

/// A payer that commits payments through whichever nodes are up, resubmitting the same signed
/// bytes elsewhere when a node dies (a tx is never signed twice with two meanings).
struct Payer {
    key: SecretKey,
    wallet: Hash,
    nonce: u64,
    /// tx hash → (height its commit was acknowledged at, amount).
    acked: HashMap<String, (u64, Decimal)>,
}

impl Payer {
    fn payment(
        &self,
        chain: &str,
        (merchant, acquirer, route): (&MerchantId, &PlatformId, &Route),
        cents: i64,
        order: u64,
    ) -> SignedTx {
        txs::signed_call(
            &self.key,
            chain,
            self.nonce,
            Call::Wallet(wallet::Call::Pay {
                from_wallet: self.wallet,
                merchant_id: merchant.clone(),
                acquirer: acquirer.clone(),
                amount: Amount {
                    value: Decimal::new(cents, 2),
                    currency: Currency::CNY,
                },
                order_ref: format!("F-{}-{order}", &self.key.public_key().to_hex()[..8]),
                route: *route,
            }),
        )
    }

    /// Follows `tx` until its commit is acknowledged by a live node, resubmitting it as needed.
    fn follow(
        &mut self,
        net: &Testnet,
        live: &[usize],
        tx: &SignedTx,
        amount: Decimal,
    ) -> Result<()> {
        let hash = tx.hash().to_hex();
        let deadline = Instant::now() + PROGRESS;
        let mut attempt = 0usize;
        loop {
            ensure!(
                Instant::now() < deadline,
                "payment {hash} not committed in time"
            );
            let via = live[attempt % live.len()];
            attempt += 1;
            match net.rpc(via).submit(&tx.to_bytes()) {
                Ok(Ok(_)) => {}
                // Already pending or already committed (a replay of these very bytes): follow it.
                Ok(Err(e))
                    if e.message.contains("already pending") || e.message.contains("nonce") => {}
                Ok(Err(e)) => bail!("node {via} refused payment {hash}: {}", e.message),
                Err(_) => continue, // node unreachable: try another
            }
            if let Ok(receipt) = net.rpc(via).wait_committed(&hash, Duration::from_secs(8)) {
                ensure!(receipt["code"] == 0, "receipt {receipt}");
                let height = receipt["height"].as_u64().context("receipt height")?;
                self.acked.insert(hash, (height, amount));
                self.nonce += 1;
                return Ok(());
            }
        }
    }
}

/// Registrations (refused by the registry: the senders are users, not platforms) from onboarded
/// users at every node in turn,
/// about [`LOAD_PER_SEC`] a second (paced, not synchronised: nothing waits on them), until `stop`.
/// Refusals and dead nodes are part of the weather.
fn background_load(
    rpcs: Vec<Rpc>,
    chain: String,
    keys: Vec<SecretKey>,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut i = 0u64;
        while !stop.load(Ordering::Relaxed) {
            // Onboarded users (the chain admits no other key), round robin, each with its own
            // nonces counted here (a lost one leaves a gap: more weather).
            let k = keys.len().max(1) as u64;
            let key = &keys[(i % k) as usize];
            let tx = txs::signed(
                key,
                &chain,
                i / k,
                txs::register(&key.public_key(), &format!("Load {i}")),
            );
            if let Ok(Ok(_)) = rpcs[(i as usize) % rpcs.len()].submit(&tx.to_bytes()) {
                sent.fetch_add(1, Ordering::Relaxed);
            }
            i += 1;
            std::thread::sleep(Duration::from_millis(1000 / LOAD_PER_SEC));
        }
    })
}

#[test]
fn n4f1_kill9_cycles_under_load_every_acknowledged_payment_committed_once_money_conserved(
) -> Result<()> {
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut net = Testnet::start(4)?;
    net.wait_all(&[0, 1, 2, 3], 2, PROGRESS)?;
    let chain = net.rpc(0).status()?["chain_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // Setup through node 0: platform-0 hosts wallets and acquires one merchant; each payer is
    // verified, has a CNY wallet, a bound card and a top-up.
    net.qualify_wallet_host(0)?;
    let p0 = net.platform_key(0)?;
    let shop_key = SecretKey::from_seed([77; 32]);
    let shop = shop_key.public_key();
    let merchant = MerchantId::derive(&shop);
    let acquirer = PlatformId::new("platform-0")?;
    let sealed = net.seal(
        &merchant,
        "platform-0",
        1,
        paychain_tests::acquiring_record("48020000", "FAULT-SHOP").as_bytes(),
    )?;
    let route = Route {
        record_version: 1,
        record_hash: registry::payload_hash(&sealed),
    };
    let to = (&merchant, &acquirer, &route);
    commit(
        &net,
        0,
        &chain,
        &p0,
        Call::Registry(txs::register(&shop, "Fault Shop")),
    )?;
    commit(
        &net,
        0,
        &chain,
        &p0,
        Call::Registry(txs::put(&merchant, &sealed)),
    )?;
    commit(
        &net,
        0,
        &chain,
        &shop_key,
        Call::Registry(txs::accept("platform-0")),
    )?;
    // platform-0's CA certifies the shop and every payer (one batch).
    let payer_keys: Vec<SecretKey> = (0..PAYERS)
        .map(|n| SecretKey::from_seed([100 + n as u8; 32]))
        .collect();
    let mut parties = vec![(&shop_key, PartyRole::Merchant)];
    parties.extend(payer_keys.iter().map(|k| (k, PartyRole::User)));
    net.certify(0, &parties)?;
    let card = Hash::digest(b"card");
    let top_up = Decimal::from_str_exact(TOP_UP)?;
    let mut payers = Vec::new();
    for n in 0..PAYERS {
        let key = SecretKey::from_seed([100 + n as u8; 32]);
        let user = key.public_key();
        let w = |call| Call::Wallet(call);
        commit(
            &net,
            0,
            &chain,
            &p0,
            w(wallet::Call::VerifyUser {
                user,
                name_hash: Hash::digest(&[b'n', n as u8]),
                id_hash: Hash::digest(&[b'i', n as u8]),
                phone_hash: Hash::digest(&[b'p', n as u8]),
            }),
        )?;
        commit(
            &net,
            0,
            &chain,
            &p0,
            w(wallet::Call::OpenWallet {
                user,
                currency: Currency::CNY,
            }),
        )?;
        let binding =
            wallet::card_binding_id(&p0.public_key(), net.rpc(0).nonce(&p0.public_key())?);
        commit(
            &net,
            0,
            &chain,
            &p0,
            w(wallet::Call::RequestCardBinding {
                user,
                card_hash: card,
                otp_commitment: wallet::otp_commitment(&binding, "424242"),
            }),
        )?;
        commit(
            &net,
            0,
            &chain,
            &key,
            w(wallet::Call::ConfirmCardBinding {
                binding_id: binding,
                otp: "424242".into(),
            }),
        )?;
        let wallet_id = wallet::wallet_id(&user, Currency::CNY);
        commit(
            &net,
            0,
            &chain,
            &p0,
            w(wallet::Call::TopUp {
                wallet: wallet_id,
                amount: Amount {
                    value: top_up,
                    currency: Currency::CNY,
                },
                card_hash: card,
                mandate: wallet::sign_top_up(
                    &key,
                    &paychain_contracts::ids::ChainId::new(chain.as_str()),
                    &wallet_id,
                    &Amount {
                        value: top_up,
                        currency: Currency::CNY,
                    },
                    &card,
                    Hash::digest(wallet_id.as_bytes()),
                ),
            }),
        )?;
        payers.push(Payer {
            key,
            wallet: wallet_id,
            nonce: 0,
            acked: HashMap::new(),
        });
    }
    // The card binding confirmation used nonce 0 of each payer.
    for p in &mut payers {
        p.nonce = net.rpc(0).nonce(&p.key.public_key())?;
    }

    let load_keys: Vec<SecretKey> = (0..32u32)
        .map(|i| SecretKey::from_seed(Hash::digest(format!("load/{i}").as_bytes()).0))
        .collect();
    net.onboard_users(
        0,
        &load_keys
            .iter()
            .map(SecretKey::public_key)
            .collect::<Vec<_>>(),
    )?;
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let load = background_load(
        (0..4).map(|i| net.rpc(i)).collect(),
        chain.clone(),
        load_keys,
        stop.clone(),
        sent.clone(),
    );

    let mut order = 0u64;
    let run = (|| -> Result<()> {
        for cycle in 0..cycles() {
            let victim = rng.gen_range(0..4usize);
            let live: Vec<usize> = (0..4).filter(|i| *i != victim).collect();
            // A few payments with everyone up.
            for _ in 0..rng.gen_range(0..3) {
                let p = rng.gen_range(0..PAYERS);
                let cents = rng.gen_range(1..2_000);
                order += 1;
                let tx = payers[p].payment(&chain, to, cents, order);
                payers[p].follow(&net, &[0, 1, 2, 3], &tx, Decimal::new(cents, 2))?;
            }
            // The kill: either between payments, or right after handing one to the victim.
            let in_flight = if rng.gen_bool(0.5) {
                let p = rng.gen_range(0..PAYERS);
                let cents = rng.gen_range(1..2_000);
                order += 1;
                let tx = payers[p].payment(&chain, to, cents, order);
                let _ = net.rpc(victim).submit(&tx.to_bytes());
                Some((p, tx, Decimal::new(cents, 2)))
            } else {
                None
            };
            net.kill_9(victim);
            if let Some((p, tx, amount)) = in_flight {
                payers[p].follow(&net, &live, &tx, amount)?;
            }
            for _ in 0..2 {
                let p = rng.gen_range(0..PAYERS);
                let cents = rng.gen_range(1..2_000);
                order += 1;
                let tx = payers[p].payment(&chain, to, cents, order);
                payers[p].follow(&net, &live, &tx, Decimal::new(cents, 2))?;
            }
            let h = net.height(live[0])?;
            net.wait_all(&live, h + 1, PROGRESS)?;
            net.restart(victim)?;
            let target = net.height(live[0])?;
            net.wait_height(victim, target, PROGRESS)
                .with_context(|| format!("cycle {cycle}: node {victim} did not catch up"))?;
        }
        Ok(())
    })();
    stop.store(true, Ordering::Relaxed);
    let _ = load.join();
    run.with_context(|| format!("FAULT_SEED={seed}"))?;
    ensure!(
        sent.load(Ordering::Relaxed) > 0,
        "the background load sent nothing"
    );

    let mut check = || -> Result<()> {
        // Everyone agrees on every block up to a common height.
        let top = (0..4)
            .map(|i| net.height(i))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .min()
            .unwrap_or(0);
        // Every acknowledged payment is in the chain exactly once, at the acknowledged height.
        let mut seen: HashMap<String, Vec<u64>> = HashMap::new();
        for h in 1..=top {
            let block = net.rpc(0).block(h)?.context("block")?;
            for t in block["tx_hashes"].as_array().context("tx_hashes")? {
                seen.entry(t.as_str().unwrap_or_default().to_owned())
                    .or_default()
                    .push(h);
            }
        }
        let mut total_paid = Decimal::ZERO;
        for p in &payers {
            for (hash, (height, _)) in &p.acked {
                let at = seen.get(hash).cloned().unwrap_or_default();
                ensure!(
                    at == vec![*height],
                    "payment {hash} acknowledged at {height} appears at heights {at:?}"
                );
            }
            let nonce = net.rpc(3).nonce(&p.key.public_key())?;
            ensure!(
                nonce == p.nonce,
                "payer nonce {nonce}, expected {} (card confirmation + {} payments)",
                p.nonce,
                p.acked.len()
            );
            // Money: each wallet holds its top-up minus its acknowledged payments.
            let paid: Decimal = p.acked.values().map(|(_, a)| *a).sum();
            total_paid += paid;
            let b = net.rpc(2).read(
                &p.key,
                Query::Balance {
                    account: Account::Wallet { id: p.wallet },
                },
            )?;
            let balance =
                Decimal::from_str_exact(b["state"]["balance"].as_str().context("balance")?)?;
            ensure!(
                balance == top_up - paid,
                "wallet {} holds {balance}, expected {} - {paid}",
                p.wallet,
                top_up
            );
        }
        let tbs = Account::ToBeSettled {
            merchant_id: merchant.clone(),
            acquirer: acquirer.clone(),
            currency: Currency::CNY,
        };
        let b = net.rpc(1).read(&p0, Query::Balance { account: tbs })?;
        let credited = Decimal::from_str_exact(b["state"]["balance"].as_str().context("balance")?)?;
        ensure!(
            credited == total_paid,
            "merchant credited {credited}, payers acknowledged {total_paid}"
        );
        let acked: usize = payers.iter().map(|p| p.acked.len()).sum();
        ensure!(acked >= 2 * cycles(), "too few payments: {acked}");
        assert_same_chain(&mut net, &[0, 1, 2, 3], 1..=top)?;
        Ok(())
    };
    check().with_context(|| format!("FAULT_SEED={seed}"))
}
