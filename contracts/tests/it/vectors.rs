//! The test vectors of `docs/encoding.md`, in `docs/vectors/*.json`: each is a transaction (its JSON
//! form), the seed it is signed with, and the expected hex of the unsigned encoding, the signing
//! bytes, the signature (ed25519 signatures are deterministic), the signed encoding and the tx hash.
//!
//! `vectors_are_current` recomputes every vector with this crate and fails when a file differs (the
//! encoding changed, or a file was edited by hand); `write_vectors` (ignored) rewrites them:
//! `cargo test -p paychain-contracts --test it vectors::write_vectors -- --ignored`.
//!
//! The `wallet_pay` vectors also carry `fields`: the signed encoding cut into its fields as the
//! document lists them. They are built here by hand from the rules of the document (not by the
//! codec), and the test checks that their concatenation is what the codec produced, so the document's
//! layout of a payment is itself under test.

#![allow(
    clippy::disallowed_methods,
    reason = "the test reads and writes the vector files under docs/; the contract code it checks does no I/O"
)]

use std::path::PathBuf;

use rust_decimal::Decimal;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use paychain_contracts::codec;
use paychain_contracts::crypto::{Hash, SecretKey};
use paychain_contracts::ids::{ChainId, MerchantId, PlatformId};
use paychain_contracts::money::{Amount, Currency};
use paychain_contracts::tx::{self, Call, SignedTx, Transaction, TX_SIGNING_DOMAIN};
use paychain_contracts::{registry, wallet};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/vectors")
}

struct Vector {
    name: &'static str,
    description: &'static str,
    seed: [u8; 32],
    tx: Transaction,
}

fn amount(value: &str, currency: Currency) -> Amount {
    Amount {
        value: Decimal::from_str_exact(value).expect("decimal"),
        currency,
    }
}

fn transaction(seed: [u8; 32], chain_id: &str, nonce: u64, call: Call) -> Transaction {
    Transaction {
        chain_id: ChainId::new(chain_id),
        sender: SecretKey::from_seed(seed).public_key(),
        nonce,
        call,
    }
}

fn vectors() -> Vec<Vector> {
    let payer = [0x11; 32];
    let merchant = MerchantId::derive(&SecretKey::from_seed([0x22; 32]).public_key());
    let payer_pk = SecretKey::from_seed(payer).public_key();
    vec![
        Vector {
            name: "wallet_pay",
            description: "A payment of 12.50 CNY from the payer's CNY wallet to a merchant, acquired by platform-0.",
            seed: payer,
            tx: transaction(
                payer,
                "paychain-dev",
                7,
                Call::Wallet(wallet::Call::Pay {
                    from_wallet: wallet::wallet_id(&payer_pk, Currency::CNY),
                    merchant_id: merchant.clone(),
                    acquirer: PlatformId::new("platform-0").expect("id"),
                    amount: amount("12.50", Currency::CNY),
                    order_ref: "ORDER-0001".into(),
                    route: registry::Route {
                        record_version: 1,
                        record_hash: registry::payload_hash(b"{}"),
                    },
                }),
            ),
        },
        Vector {
            name: "wallet_pay_jpy_nonce_0",
            description: "A payment of 1500 JPY (no decimals) as the sender's first transaction (nonce 0), on another chain id.",
            seed: [0x33; 32],
            tx: transaction(
                [0x33; 32],
                "acme-payments.test_1",
                0,
                Call::Wallet(wallet::Call::Pay {
                    from_wallet: wallet::wallet_id(
                        &SecretKey::from_seed([0x33; 32]).public_key(),
                        Currency::JPY,
                    ),
                    merchant_id: merchant.clone(),
                    acquirer: PlatformId::new("bank-b").expect("id"),
                    amount: amount("1500", Currency::JPY),
                    order_ref: "Table 12 / lunch".into(),
                    route: registry::Route {
                        record_version: 258,
                        record_hash: registry::payload_hash(b"sealed record bytes"),
                    },
                }),
            ),
        },
        Vector {
            name: "wallet_settle_some",
            description: "A settlement of 30.00 CNY: an Option that is present (tag 1).",
            seed: [0x44; 32],
            tx: transaction(
                [0x44; 32],
                "paychain-dev",
                1_000_000_007,
                Call::Wallet(wallet::Call::Settle {
                    merchant_id: merchant.clone(),
                    amount: Some(amount("30.00", Currency::CNY)),
                }),
            ),
        },
        Vector {
            name: "wallet_settle_none",
            description: "A settlement of every balance: an Option that is absent (tag 0).",
            seed: [0x44; 32],
            tx: transaction(
                [0x44; 32],
                "paychain-dev",
                3,
                Call::Wallet(wallet::Call::Settle {
                    merchant_id: merchant.clone(),
                    amount: None,
                }),
            ),
        },
        Vector {
            name: "registry_put_record",
            description: "An acquiring record put by a platform: another contract (Registry = 0) and a byte string (u32 length + bytes).",
            seed: [0x55; 32],
            tx: transaction(
                [0x55; 32],
                "paychain-dev",
                42,
                Call::Registry(registry::Call::PutRecord {
                    merchant_id: merchant,
                    payload: b"{}".to_vec(),
                }),
            ),
        },
    ]
}

/// A borsh string, by hand: u32 LE byte length, then the UTF-8 bytes.
fn string(s: &str) -> String {
    let mut out = hex::encode((s.len() as u32).to_le_bytes());
    out.push_str(&hex::encode(s));
    out
}

/// The fields of a signed `Wallet(Pay)` transaction, in order, per `docs/encoding.md`.
fn pay_fields(tx: &Transaction, signature: &[u8]) -> Value {
    let Call::Wallet(wallet::Call::Pay {
        from_wallet,
        merchant_id,
        acquirer,
        amount,
        order_ref,
        route,
    }) = &tx.call
    else {
        panic!("not a payment");
    };
    let value = amount.value.to_string();
    json!([
        ["tx.chain_id", string(tx.chain_id.as_str())],
        ["tx.sender", hex::encode(tx.sender.0)],
        ["tx.nonce", hex::encode(tx.nonce.to_le_bytes())],
        ["tx.call: Call::Wallet = 2", "02"],
        ["wallet::Call::Pay = 5", "05"],
        ["pay.from_wallet", hex::encode(from_wallet.0)],
        ["pay.merchant_id", string(merchant_id.as_str())],
        ["pay.acquirer", string(acquirer.as_str())],
        ["pay.amount.value", string(&value)],
        ["pay.amount.currency", string(amount.currency.code())],
        ["pay.order_ref", string(order_ref)],
        [
            "pay.route.record_version",
            hex::encode(route.record_version.to_le_bytes())
        ],
        ["pay.route.record_hash", hex::encode(route.record_hash.0)],
        ["signature", hex::encode(signature)],
    ])
}

fn render(v: &Vector) -> Value {
    let key = SecretKey::from_seed(v.seed);
    assert_eq!(key.public_key(), v.tx.sender);
    let unsigned = codec::encode(&v.tx);
    let signing = tx::signing_bytes(&v.tx);
    // The signing bytes as the document defines them, recomputed apart from `tx::signing_bytes`.
    let mut h = Sha256::new();
    h.update(TX_SIGNING_DOMAIN);
    h.update(&unsigned);
    assert_eq!(signing, h.finalize().to_vec());
    let stx = SignedTx::sign(v.tx.clone(), &key);
    stx.verify_signature().expect("signature verifies");
    let signed = stx.to_bytes();
    assert_eq!(
        signed,
        [unsigned.clone(), stx.signature.0.to_vec()].concat()
    );
    let hash = stx.hash();
    assert_eq!(hash, Hash(Sha256::digest(&signed).into()));
    let mut out = json!({
        "name": v.name,
        "description": v.description,
        "secret_key_seed": hex::encode(v.seed),
        "public_key": v.tx.sender.to_hex(),
        "transaction": serde_json::to_value(&v.tx).expect("json"),
        "unsigned_hex": hex::encode(&unsigned),
        "signing_domain": std::str::from_utf8(TX_SIGNING_DOMAIN).expect("ascii"),
        "signing_bytes_hex": hex::encode(&signing),
        "signature_hex": stx.signature.to_hex(),
        "signed_hex": hex::encode(&signed),
        "tx_hash": hash.to_hex(),
    });
    if matches!(v.tx.call, Call::Wallet(wallet::Call::Pay { .. })) {
        let fields = pay_fields(&v.tx, &stx.signature.0);
        let joined: String = fields
            .as_array()
            .expect("array")
            .iter()
            .map(|f| f[1].as_str().expect("hex").to_owned())
            .collect();
        assert_eq!(
            joined,
            hex::encode(&signed),
            "{}: the documented layout differs from the codec",
            v.name
        );
        out["fields"] = fields;
    }
    // The JSON form decodes to the same transaction (what a reader of the file would rely on).
    let back: Transaction = serde_json::from_value(out["transaction"].clone()).expect("json");
    assert_eq!(back, v.tx);
    assert_eq!(SignedTx::from_bytes(&signed), Ok(stx));
    out
}

fn file_text(v: &Vector) -> String {
    let mut text = serde_json::to_string_pretty(&render(v)).expect("json");
    text.push('\n');
    text
}

#[test]
fn vectors_are_current() {
    let vs = vectors();
    for v in &vs {
        let path = dir().join(format!("{}.json", v.name));
        let on_disk = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; write the vectors with `cargo test -p paychain-contracts --test it vectors::write_vectors -- --ignored`",
                path.display()
            )
        });
        assert!(
            on_disk == file_text(v),
            "{} is stale (the encoding, signing bytes or hash changed, or it was edited): regenerate with \
             `cargo test -p paychain-contracts --test it vectors::write_vectors -- --ignored` and review the diff",
            path.display()
        );
    }
    // No stray vector files that nothing checks.
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .expect("docs/vectors")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    let mut expected: Vec<String> = vs.iter().map(|v| format!("{}.json", v.name)).collect();
    expected.sort();
    assert_eq!(names, expected, "docs/vectors holds files no test checks");
}

/// Writes `docs/vectors/*.json`. Ignored: run on demand after a deliberate format change.
#[test]
#[ignore]
fn write_vectors() {
    std::fs::create_dir_all(dir()).expect("mkdir");
    for v in vectors() {
        std::fs::write(dir().join(format!("{}.json", v.name)), file_text(&v)).expect("write");
    }
}
