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
#[path = "common/payments.rs"]
mod payments;
