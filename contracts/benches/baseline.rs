//! Primitive rates on one core, printed as one JSON object for `scripts/bench.sh`.
//!
//! Not a criterion harness (`harness = false`): each primitive runs for a fixed time in-process and its
//! rate is printed, so the chain's headline figures can be expressed as ratios to the single-core
//! signature verification rate measured in the same run (absolute numbers drift on a shared machine).
//!
//! ```text
//! cargo bench -p paychain-contracts --bench baseline -- --secs 1     # release (bench profile)
//! cargo test  -p paychain-contracts --bench baseline -- --secs 1     # dev profile, no release build
//! ```
//!
//! The divisor of every ratio, `ed25519_verify_per_s`, is the reference the benchmark issue names:
//! ed25519-dalek's `verify_strict` on one core. The chain itself verifies under ZIP-215 with
//! `ed25519-zebra` (single: `zip215_verify_per_s`; batched: `ed25519_batch*_sig_per_s`), and
//! `zip215_consensus_verify_per_s` is the same rule in `ed25519-consensus` (Malachite's choice, on the
//! serial backend of curve25519-dalek-ng), the implementation paychain used before.
//!
//! `--only-verify` prints `ed25519_verify_per_s` alone (the bench's check of the machine's speed beside
//! each scenario).

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "a benchmark program measures this machine: clocks and OS randomness are its tools"
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use ed25519_zebra::{batch, SigningKey, VerificationKey, VerificationKeyBytes};
use sha2::{Digest, Sha256};

/// Size of a typical signed transaction's signing bytes.
const MSG_LEN: usize = 200;
/// Distinct (key, message, signature) triples cycled through, so caches do not flatter the rate.
const POOL: usize = 1024;

/// Runs `op` (which does `per_call` units of work) repeatedly for `secs` and returns units per second.
fn rate(secs: f64, per_call: u64, mut op: impl FnMut(u64)) -> f64 {
    // Warm up (page faults, lazy tables) for a tenth of the time.
    let warm = Instant::now();
    let mut i = 0u64;
    while warm.elapsed().as_secs_f64() < secs / 10.0 {
        op(i);
        i += 1;
    }
    let budget = Duration::from_secs_f64(secs);
    let t0 = Instant::now();
    let mut calls = 0u64;
    while t0.elapsed() < budget {
        // Check the clock every few calls only.
        for _ in 0..8 {
            op(calls);
            calls += 1;
        }
    }
    (calls * per_call) as f64 / t0.elapsed().as_secs_f64()
}

struct Signed {
    vk: VerificationKey,
    vk_bytes: VerificationKeyBytes,
    sig: ed25519_zebra::Signature,
    msg: Vec<u8>,
    /// The same key and signature for ed25519-dalek (`verify_strict`) and ed25519-consensus.
    dalek_vk: ed25519_dalek::VerifyingKey,
    dalek_sig: ed25519_dalek::Signature,
    consensus_vk: ed25519_consensus::VerificationKey,
    consensus_sig: ed25519_consensus::Signature,
}

fn pool() -> Vec<Signed> {
    (0..POOL)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let sk = SigningKey::from(seed);
            let msg: Vec<u8> = (0..MSG_LEN).map(|j| (i * 31 + j) as u8).collect();
            let sig = sk.sign(&msg);
            let vk = sk.verification_key();
            let vk_bytes: [u8; 32] = vk.into();
            let sig_bytes = sig.to_bytes();
            Signed {
                vk,
                vk_bytes: vk.into(),
                sig,
                msg,
                dalek_vk: ed25519_dalek::VerifyingKey::from_bytes(&vk_bytes).expect("valid key"),
                dalek_sig: ed25519_dalek::Signature::from_bytes(&sig_bytes),
                consensus_vk: ed25519_consensus::VerificationKey::try_from(vk_bytes)
                    .expect("valid key"),
                consensus_sig: ed25519_consensus::Signature::from(sig_bytes),
            }
        })
        .collect()
}

fn batch_rate(secs: f64, pool: &[Signed], size: usize) -> f64 {
    let mut rng = rand::thread_rng();
    rate(secs, size as u64, |call| {
        let mut v = batch::Verifier::new();
        let start = (call as usize * size) % POOL;
        for k in 0..size {
            let s = &pool[(start + k) % POOL];
            v.queue((s.vk_bytes, s.sig, &s.msg[..]));
        }
        v.verify(&mut rng).expect("valid batch");
    })
}

fn main() {
    // `cargo bench` appends `--bench`; ignore anything we do not know.
    let args: Vec<String> = std::env::args().collect();
    let secs = args
        .iter()
        .position(|a| a == "--secs")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(1.0);

    let pool = pool();
    let verify_strict = |secs: f64| {
        rate(secs, 1, |i| {
            let s = &pool[i as usize % POOL];
            s.dalek_vk
                .verify_strict(&s.msg, &s.dalek_sig)
                .expect("valid signature");
        })
    };
    if args.iter().any(|a| a == "--only-verify") {
        let out = serde_json::json!({ "ed25519_verify_per_s": verify_strict(secs).round() });
        println!("{out}");
        return;
    }
    let sign_key = SigningKey::from([7u8; 32]);
    let msg = [5u8; MSG_LEN];

    let sign = rate(secs / 2.0, 1, |_| {
        black_box(sign_key.sign(black_box(&msg)));
    });
    let verify = verify_strict(secs);
    let zip215 = rate(secs, 1, |i| {
        let s = &pool[i as usize % POOL];
        s.vk.verify(&s.sig, &s.msg).expect("valid signature");
    });
    let zip215_consensus = rate(secs, 1, |i| {
        let s = &pool[i as usize % POOL];
        s.consensus_vk
            .verify(&s.consensus_sig, &s.msg)
            .expect("valid signature");
    });
    let batch64 = batch_rate(secs, &pool, 64);
    let batch1024 = batch_rate(secs, &pool, 1024);
    let sha = rate(secs / 2.0, 1, |i| {
        let mut m = msg;
        m[..8].copy_from_slice(&i.to_le_bytes());
        black_box(Sha256::digest(black_box(&m)));
    });
    let aes = Aes256Gcm::new(&[9u8; 32].into());
    let mut buf = vec![0u8; 1024];
    let aes_msgs = rate(secs / 2.0, 1, |i| {
        let mut nonce = [0u8; 12];
        nonce[..8].copy_from_slice(&i.to_le_bytes());
        let tag = aes
            .encrypt_in_place_detached(Nonce::from_slice(&nonce), b"aad", &mut buf)
            .expect("encrypt");
        black_box(tag);
    });

    let (clear, clear_block) = payments::setup(false);
    let (private, private_block) = payments::setup(true);
    let execute = |c: &payments::Chain, b: &paychain_contracts::block::Block| {
        let out = paychain_contracts::executor::execute_block_with(&c.store, b, c.vault.as_ref())
            .expect("execute");
        assert!(out.receipts.iter().all(|r| r.code == 0));
        black_box(out);
    };
    let pay_block = payments::PAY_BLOCK as u64;
    // Alternated, three rounds each, the median kept: the machine is shared, the ratio is what counts.
    let (mut clear_rates, mut private_rates) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        clear_rates.push(rate(secs, pay_block, |_| execute(&clear, &clear_block)));
        private_rates.push(rate(secs, pay_block, |_| execute(&private, &private_block)));
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (clear_pay, private_pay) = (median(clear_rates), median(private_rates));

    let profile = if cfg!(debug_assertions) {
        "dev (this crate at opt-level 0; dependencies as built)"
    } else {
        "release"
    };
    let out = serde_json::json!({
        "profile": profile,
        "secs_per_primitive": secs,
        "ed25519_sign_per_s": sign.round(),
        "ed25519_verify_per_s": verify.round(),
        "zip215_verify_per_s": zip215.round(),
        "zip215_consensus_verify_per_s": zip215_consensus.round(),
        "ed25519_batch64_sig_per_s": batch64.round(),
        "ed25519_batch1024_sig_per_s": batch1024.round(),
        "sha256_200b_per_s": sha.round(),
        "aes256gcm_1kib_mb_per_s": (aes_msgs * 1024.0 / 1e6 * 10.0).round() / 10.0,
        "payments_executed_per_s_clear": clear_pay.round(),
        "payments_executed_per_s_private": private_pay.round(),
        "private_execution_cost_us_per_payment": ((1e6 / private_pay - 1e6 / clear_pay) * 10.0).round() / 10.0,
        "private_over_clear_execution": (private_pay / clear_pay * 1000.0).round() / 1000.0,
        "scheme": "ratios divide by ed25519_verify_per_s (ed25519-dalek verify_strict); the chain verifies under ZIP-215 with ed25519-zebra (zip215_verify_per_s, batch rates); zip215_consensus_verify_per_s is ed25519-consensus",
    });
    println!("{out}");
}

/// Payments executed per second by the contracts' executor, in blocks of [`PAY_BLOCK`] payments
/// from as many wallets, on a chain in the clear and on a chain with private state (what each
/// validator's enclave runs: every call opened, every state value decrypted and re-sealed, the
/// receipts sealed). In-process, without the host/enclave socket: the cost of the encryption alone.
mod payments {
    use std::collections::BTreeSet;

    use paychain_contracts::block::{tx_root, Block, Header};
    use paychain_contracts::crypto::{Hash, SecretKey};
    use paychain_contracts::enclave::{BoxRandomness, KxSecret};
    use paychain_contracts::executor::{self, execute_block_with};
    use paychain_contracts::genesis::{genesis_state, Genesis, GenesisValidator};
    use paychain_contracts::governance::{self, Action, Member, Role};
    use paychain_contracts::ids::{ChainId, MerchantId, PlatformId};
    use paychain_contracts::money::{Amount, Currency};
    use paychain_contracts::private::{may_be_sealed, seal_call, Vault};
    use paychain_contracts::state::{MemStore, Overlay};
    use paychain_contracts::tx::{Call, SignedTx, Transaction};
    use paychain_contracts::{ca, registry, wallet};

    /// Payments per block.
    pub(crate) const PAY_BLOCK: usize = 200;
    /// Validity of the bench's certificates (the blocks' times are from 1_700_000_000 s on).
    const CERT_FROM_S: u64 = 1_690_000_000;
    const CERT_UNTIL_S: u64 = 1_900_000_000;

    fn key(n: u32) -> SecretKey {
        let mut seed = [0u8; 32];
        seed[..4].copy_from_slice(&n.to_le_bytes());
        seed[31] = 1;
        SecretKey::from_seed(seed)
    }

    fn cny(v: &str) -> Amount {
        Amount {
            value: v.parse().expect("an amount"),
            currency: Currency::CNY,
        }
    }

    pub(crate) struct Chain {
        pub(crate) store: MemStore,
        height: u64,
        pub(crate) vault: Option<Vault>,
        chain: ChainId,
    }

    impl Chain {
        fn tx(&self, signer: &SecretKey, call: Call) -> SignedTx {
            let nonce = executor::nonce(&self.store, &signer.public_key()).expect("nonce");
            self.tx_at(signer, nonce, call)
        }

        fn tx_at(&self, signer: &SecretKey, nonce: u64, call: Call) -> SignedTx {
            let call = match &self.vault {
                Some(v) if may_be_sealed(&call) => {
                    let mut n = [0u8; 12];
                    n[..8].copy_from_slice(&nonce.to_le_bytes());
                    let rand = BoxRandomness::new(signer.public_key().0, n);
                    Call::Sealed(
                        seal_call(
                            &v.exec_public(),
                            &self.chain,
                            &signer.public_key(),
                            nonce,
                            &call,
                            &rand,
                        )
                        .expect("seal"),
                    )
                }
                _ => call,
            };
            SignedTx::sign(
                Transaction {
                    chain_id: self.chain.clone(),
                    sender: signer.public_key(),
                    nonce,
                    call,
                },
                signer,
            )
        }

        pub(crate) fn block(&self, txs: Vec<SignedTx>) -> Block {
            Block {
                header: Header {
                    chain_id: self.chain.clone(),
                    height: self.height + 1,
                    time_ms: 1_700_000_000_000 + 1000 * (self.height + 1),
                    proposer: key(0).public_key(),
                    prev_block_hash: Hash::ZERO,
                    prev_app_hash: self.store.app_hash(),
                    prev_result_root: Hash::ZERO,
                    tx_root: tx_root(&txs),
                },
                txs,
            }
        }

        fn run(&mut self, txs: Vec<SignedTx>) {
            let block = self.block(txs);
            let out =
                execute_block_with(&self.store, &block, self.vault.as_ref()).expect("execute");
            if let Some(r) = out.receipts.iter().find(|r| r.code != 0) {
                panic!(
                    "setup transaction {} at height {} refused: code {}, {}",
                    r.index,
                    r.height,
                    r.code,
                    r.error.as_deref().unwrap_or("")
                );
            }
            self.store.apply(&out.writes);
            self.height += 1;
        }
    }

    /// A host, an acquirer with one merchant, and [`PAY_BLOCK`] funded users; and the block of one
    /// payment from each.
    pub(crate) fn setup(private: bool) -> (Chain, Block) {
        let chain = ChainId::new("paychain-bench");
        let (host, acq, gov, merchant) = (key(1), key(2), key(3), key(4));
        let member = |k: &SecretKey, id: &str, roles: &[Role]| Member {
            id: PlatformId::new(id).expect("id"),
            name: id.into(),
            public_key: k.public_key(),
            roles: roles.iter().copied().collect::<BTreeSet<_>>(),
        };
        let genesis = Genesis {
            chain_id: chain.clone(),
            genesis_time_ms: 1_700_000_000_000,
            validators: vec![GenesisValidator {
                name: "v0".into(),
                public_key: key(0).public_key(),
                power: 1,
            }],
            members: vec![
                member(&host, "host-a", &[Role::Platform, Role::Governor]),
                member(&acq, "acq-b", &[Role::Platform, Role::Governor]),
                member(&gov, "gov-c", &[Role::Governor]),
            ],
            enclave: None,
        };
        let mut store = MemStore::new();
        store.apply(&genesis_state(&genesis).expect("genesis"));
        let vault = private.then(|| Vault::from_secret(&[42; 32], &chain).expect("vault"));
        if let Some(v) = &vault {
            // What a genesis with an exec key writes.
            let mut ov = Overlay::new(&store);
            ov.put(
                executor::PRIVATE_KEY.to_vec(),
                paychain_contracts::codec::encode(&v.exec_public()),
            );
            let w = ov.finish().expect("write");
            store.apply(&w);
        }
        let mut c = Chain {
            store,
            height: 0,
            vault,
            chain,
        };
        let host_id = PlatformId::new("host-a").expect("id");
        let acq_id = PlatformId::new("acq-b").expect("id");
        c.run(vec![c.tx(
            &host,
            Call::Governance(governance::Call::Propose {
                action: Action::QualifyWalletHost {
                    platform: host_id.clone(),
                },
            }),
        )]);
        for g in [&acq, &gov] {
            c.run(vec![c.tx(
                g,
                Call::Governance(governance::Call::Vote {
                    proposal: 1,
                    approve: true,
                }),
            )]);
        }
        // Each platform's CA, approved by governance (proposals 2 and 3): wallets open and
        // payments go through only for parties their platform's CA certified.
        let ca_key = |id: &str| SecretKey::from_seed(Hash::digest(id.as_bytes()).0);
        let ca_der = |id: &str| {
            ca::build_ca_cert(
                &ca_key(id),
                &ca::CaParams {
                    common_name: format!("{id} CA"),
                    platform: PlatformId::new(id).expect("id"),
                    serial: ca::Serial::from_u64(1).expect("serial"),
                    not_before_s: CERT_FROM_S,
                    not_after_s: CERT_UNTIL_S,
                },
            )
            .expect("a CA certificate")
        };
        for (proposal, (by, id)) in (2..).zip([(&host, "host-a"), (&acq, "acq-b")]) {
            c.run(vec![c.tx(
                by,
                Call::Governance(governance::Call::Propose {
                    action: Action::ApprovePlatformCa {
                        platform: PlatformId::new(id).expect("id"),
                        ca_cert: ca::CertDer::new(ca_der(id)).expect("der"),
                    },
                }),
            )]);
            for g in [&host, &acq, &gov]
                .into_iter()
                .filter(|g| g.public_key() != by.public_key())
            {
                c.run(vec![c.tx(
                    g,
                    Call::Governance(governance::Call::Vote {
                        proposal,
                        approve: true,
                    }),
                )]);
            }
        }
        // A registration of `party`'s certificate from platform `id`, by `by` (the next nonce `n`).
        let certify =
            |c: &Chain, by: &SecretKey, n: u64, id: &str, party: &SecretKey, role, serial| {
                let der = ca::issue_party_cert(
                    &ca_key(id),
                    &ca_der(id),
                    &ca::PartyParams {
                        common_name: format!("bench party {serial}"),
                        party_key: party.public_key(),
                        encryption_key: KxSecret::from_seed(party.public_key().0).public_key(),
                        role,
                        serial: ca::Serial::from_u64(serial).expect("serial"),
                        not_before_s: CERT_FROM_S,
                        not_after_s: CERT_UNTIL_S,
                    },
                )
                .expect("a party certificate");
                let party_signature = ca::sign_registration(party, &c.chain, &der);
                c.tx_at(
                    by,
                    n,
                    Call::Ca(ca::Call::RegisterPartyCert {
                        cert: ca::CertDer::new(der).expect("der"),
                        party_signature,
                    }),
                )
            };
        let merchant_id = MerchantId::derive(&merchant.public_key());
        c.run(vec![c.tx(
            &acq,
            Call::Registry(registry::Call::RegisterMerchant {
                name: "Bench Noodles".into(),
                city: "Shanghai".into(),
                mcc: "5812".into(),
                country: "CN".into(),
                merchant_key: merchant.public_key(),
            }),
        )]);
        c.run(vec![c.tx(
            &acq,
            Call::Registry(registry::Call::PutRecord {
                merchant_id: merchant_id.clone(),
                payload: vec![1],
            }),
        )]);
        c.run(vec![c.tx(
            &merchant,
            Call::Registry(registry::Call::AcceptAcquirer {
                platform_id: acq_id.clone(),
            }),
        )]);
        let acq_nonce = executor::nonce(&c.store, &acq.public_key()).expect("nonce");
        c.run(vec![certify(
            &c,
            &acq,
            acq_nonce,
            "acq-b",
            &merchant,
            ca::PartyRole::Merchant,
            2,
        )]);
        let users: Vec<SecretKey> = (0..PAY_BLOCK as u32).map(|i| key(100 + i)).collect();
        let card = Hash::digest(b"card");
        let host_nonce = |c: &Chain| executor::nonce(&c.store, &host.public_key()).expect("nonce");
        // Host: verify, certify, open, request a card binding, per user (one block of them).
        let mut txs = Vec::new();
        let mut n = host_nonce(&c);
        let mut bindings = Vec::new();
        for (serial, u) in (10..).zip(&users) {
            txs.push(c.tx_at(
                &host,
                n,
                Call::Wallet(wallet::Call::VerifyUser {
                    user: u.public_key(),
                    name_hash: Hash::digest(&u.public_key().0),
                    id_hash: Hash::digest(b"id"),
                    phone_hash: Hash::digest(b"phone"),
                }),
            ));
            txs.push(certify(
                &c,
                &host,
                n + 1,
                "host-a",
                u,
                ca::PartyRole::User,
                serial,
            ));
            txs.push(c.tx_at(
                &host,
                n + 2,
                Call::Wallet(wallet::Call::OpenWallet {
                    user: u.public_key(),
                    currency: Currency::CNY,
                }),
            ));
            let binding = wallet::card_binding_id(&host.public_key(), n + 3);
            txs.push(c.tx_at(
                &host,
                n + 3,
                Call::Wallet(wallet::Call::RequestCardBinding {
                    user: u.public_key(),
                    card_hash: card,
                    otp_commitment: wallet::otp_commitment(&binding, "123456"),
                }),
            ));
            bindings.push(binding);
            n += 4;
        }
        c.run(txs);
        let txs = users
            .iter()
            .zip(&bindings)
            .map(|(u, b)| {
                c.tx(
                    u,
                    Call::Wallet(wallet::Call::ConfirmCardBinding {
                        binding_id: *b,
                        otp: "123456".into(),
                    }),
                )
            })
            .collect();
        c.run(txs);
        let mut txs = Vec::new();
        for (n, (i, u)) in (host_nonce(&c)..).zip(users.iter().enumerate()) {
            let w = wallet::wallet_id(&u.public_key(), Currency::CNY);
            let amount = cny("100.00");
            let mandate = wallet::sign_top_up(
                u,
                &c.chain,
                &w,
                &amount,
                &card,
                Hash::digest(&(i as u64).to_le_bytes()),
            );
            txs.push(c.tx_at(
                &host,
                n,
                Call::Wallet(wallet::Call::TopUp {
                    wallet: w,
                    amount,
                    card_hash: card,
                    mandate,
                }),
            ));
        }
        c.run(txs);
        let route = registry::Route {
            record_version: 1,
            record_hash: registry::payload_hash(&[1]),
        };
        let pays = users
            .iter()
            .enumerate()
            .map(|(i, u)| {
                c.tx(
                    u,
                    Call::Wallet(wallet::Call::Pay {
                        from_wallet: wallet::wallet_id(&u.public_key(), Currency::CNY),
                        merchant_id: merchant_id.clone(),
                        acquirer: acq_id.clone(),
                        amount: cny("1.00"),
                        order_ref: format!("BENCH-{i}"),
                        route,
                    }),
                )
            })
            .collect();
        let block = c.block(pays);
        let _ = host_id;
        (c, block)
    }
}
