//! Long-form criterion harness for the primitives that bound the chain's throughput: signature
//! verification (single and batched, ZIP-215), transaction hashing, encoding and decoding, AES-256-GCM.
//!
//! `cargo bench -p paychain-contracts --bench primitives` (bench profile = release; a cold build of the
//! contracts' dependencies takes a few minutes). `scripts/bench.sh` uses the quicker `baseline` program.

#![allow(
    clippy::disallowed_methods,
    clippy::disallowed_types,
    reason = "a benchmark program measures this machine: clocks and OS randomness are its tools"
)]

use std::hint::black_box;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ed25519_zebra::{batch, SigningKey, VerificationKeyBytes};
use paychain_contracts::crypto::{Hash, SecretKey};
use paychain_contracts::ids::{ChainId, MerchantId};
use paychain_contracts::registry;
use paychain_contracts::tx::{Call, SignedTx, Transaction};
use sha2::{Digest, Sha256};

fn sample_tx(i: u64) -> SignedTx {
    let key = SecretKey::from_seed(Hash::digest(&i.to_le_bytes()).0);
    SignedTx::sign(
        Transaction {
            chain_id: ChainId::new("bench".to_string()),
            sender: key.public_key(),
            nonce: i,
            call: Call::Registry(registry::Call::RevokeRecord {
                merchant_id: MerchantId::derive(&key.public_key()),
            }),
        },
        &key,
    )
}

fn signatures(c: &mut Criterion) {
    let keys: Vec<SigningKey> = (0..1024u64)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&i.to_le_bytes());
            SigningKey::from(seed)
        })
        .collect();
    let msg = [3u8; 200];
    let sigs: Vec<_> = keys.iter().map(|k| k.sign(&msg)).collect();
    let vks: Vec<_> = keys.iter().map(|k| k.verification_key()).collect();

    let mut g = c.benchmark_group("ed25519");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sign", |b| b.iter(|| keys[0].sign(black_box(&msg))));
    g.bench_function("verify", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % vks.len();
            vks[i].verify(&sigs[i], black_box(&msg))
        })
    });
    for size in [64usize, 1024] {
        g.throughput(Throughput::Elements(size as u64));
        g.bench_function(format!("batch_verify_{size}"), |b| {
            b.iter_batched(
                || {
                    let mut v = batch::Verifier::new();
                    for k in 0..size {
                        let vkb: VerificationKeyBytes = vks[k].into();
                        v.queue((vkb, sigs[k], &msg[..]));
                    }
                    v
                },
                |v| v.verify(rand::thread_rng()),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

fn hashing_and_codec(c: &mut Criterion) {
    let tx = sample_tx(1);
    let bytes = tx.to_bytes();
    let mut g = c.benchmark_group("tx");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sha256_200b", |b| {
        let m = [1u8; 200];
        b.iter(|| Sha256::digest(black_box(&m)))
    });
    g.bench_function("hash", |b| b.iter(|| black_box(&tx).hash()));
    g.bench_function("encode", |b| b.iter(|| black_box(&tx).to_bytes()));
    g.bench_function("decode", |b| {
        b.iter(|| SignedTx::from_bytes(black_box(&bytes)))
    });
    g.finish();
}

fn aead(c: &mut Criterion) {
    let aes = Aes256Gcm::new(&[9u8; 32].into());
    let mut buf = vec![0u8; 1024];
    let mut g = c.benchmark_group("aes256gcm");
    g.throughput(Throughput::Bytes(1024));
    g.bench_function("encrypt_1kib", |b| {
        b.iter(|| aes.encrypt_in_place_detached(Nonce::from_slice(&[0u8; 12]), b"aad", &mut buf))
    });
    g.finish();
}

criterion_group!(benches, signatures, hashing_and_codec, aead);
criterion_main!(benches);
