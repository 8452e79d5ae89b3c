//! The decoders of outside bytes on hostile input (the stable-toolchain guard next to the cargo-fuzz
//! targets in `fuzz/`): random bytes and mutated valid encodings never panic; input over a decoder's
//! limit is refused before it is parsed; what a decoder accepts re-encodes to exactly the input (one
//! value, one encoding) and decodes to the same value; valid values round-trip.
//!
//! `write_fuzz_seeds` (ignored) writes the valid encodings below, and JSON-RPC request bodies made
//! of them, as seeds of the fuzz targets:
//! `cargo test -p paychain-contracts --test it decoders::write_fuzz_seeds -- --ignored`.

use proptest::prelude::*;
use rust_decimal::Decimal;

use paychain_contracts::block::{tx_root, Block, Header};
use paychain_contracts::codec::{self, MAX_BLOCK_BYTES, MAX_TX_BYTES};
use paychain_contracts::crypto::{Hash, SecretKey, Signature};
use paychain_contracts::enclave::provision::MAX_WRAPPED_SECRET_BYTES;
use paychain_contracts::enclave::query::{
    LOOKUP_NONCE_LEN, MAX_SIGNED_ANSWER_BYTES, MAX_SIGNED_LOOKUP_BYTES,
};
use paychain_contracts::enclave::quote::MAX_SIGNED_QUOTE_BYTES;
use paychain_contracts::enclave::records::{RecordKey, MAX_SEALED_RECORD_BYTES};
use paychain_contracts::enclave::seal::{MAX_SEALED_BLOB_BYTES, SEALED_BLOB_MAGIC};
use paychain_contracts::enclave::{
    seal_record, AnsweredRecord, BoxRandomness, DeviceCert, KxSecret, LookupAnswer, LookupRequest,
    Measurement, ProvisionError, QueryError, Quote, QuoteError, RecordError, SealError, SealedBlob,
    SealedBox, SealedRecord, SignedAnswer, SignedLookup, SignedQuote, WrappedSecret, NONCE_LEN,
    TAG_LEN,
};
use paychain_contracts::ids::{ChainId, MerchantId, PlatformId};
use paychain_contracts::money::{Amount, Currency};
use paychain_contracts::tx::{Call, SignedTx, Transaction};
use paychain_contracts::{
    ca, collection, enclave_registry, governance, guardian, registry, store, wallet,
};

const CHAIN: &str = "paychain-fuzz";

fn key(n: u8) -> SecretKey {
    SecretKey::from_seed([n; 32])
}

fn h(n: u8) -> Hash {
    Hash([n; 32])
}

fn pid(s: &str) -> PlatformId {
    PlatformId::new(s).unwrap()
}

fn mid(n: u8) -> MerchantId {
    MerchantId::derive(&key(n).public_key())
}

fn sealed_box(n: u8, ciphertext_len: usize) -> SealedBox {
    SealedBox {
        ephemeral_public: KxSecret::from_seed([n; 32]).public_key(),
        nonce: [n; NONCE_LEN],
        ciphertext: vec![n; ciphertext_len],
    }
}

// ---- one valid value of each decoded type ----

fn signed_quote() -> SignedQuote {
    let signer = key(40).public_key();
    let kx_public = KxSecret::from_seed([41; 32]).public_key();
    let chain_id = ChainId::new(CHAIN);
    Quote {
        measurement: Measurement(h(42)),
        signer,
        kx_public,
        security_version: 3,
        debug: false,
        report_data: paychain_contracts::enclave::report_data(&signer, &kx_public, &chain_id),
        chain_id,
        simulated: true,
    }
    .attest(&key(43), DeviceCert::issue(&key(44), key(43).public_key()))
}

fn wrapped_secret() -> WrappedSecret {
    WrappedSecret {
        recipient_quote_hash: signed_quote().quote.hash(),
        consortium_public: KxSecret::from_seed([44; 32]).public_key(),
        sealed: sealed_box(45, 32 + TAG_LEN),
    }
}

fn sealed_record() -> SealedRecord {
    seal_record(
        b"{\"acquirer\":\"bank-a\",\"mid\":\"104110000000001\"}",
        &RecordKey {
            epoch: 0,
            public: KxSecret::from_seed([44; 32]).public_key(),
        },
        &mid(10),
        &pid("plat-a"),
        1,
        &BoxRandomness::new([46; 32], [47; NONCE_LEN]),
    )
    .unwrap()
}

fn signed_lookup() -> SignedLookup {
    LookupRequest {
        chain_id: ChainId::new(CHAIN),
        merchant_id: mid(10),
        platform_id: pid("plat-a"),
        requester: key(1).public_key(),
        reply_kx_public: KxSecret::from_seed([48; 32]).public_key(),
        nonce: [49; LOOKUP_NONCE_LEN],
        issued_at_height: 7,
        enclave: key(2).public_key(),
    }
    .sign(&key(1))
}

fn signed_answer() -> SignedAnswer {
    SignedAnswer {
        answer: LookupAnswer {
            chain_id: ChainId::new(CHAIN),
            request_hash: signed_lookup().request.hash(),
            merchant_id: mid(10),
            platform_id: pid("plat-a"),
            record: Some(AnsweredRecord {
                version: 1,
                ciphertext_hash: sealed_record().hash(),
                reencrypted: sealed_box(50, 40 + TAG_LEN),
            }),
            height: 8,
            measurement: Measurement(h(42)),
            other_platforms: vec![pid("plat-b"), pid("plat-c")],
        },
        signature: Signature([51; 64]),
    }
}

fn sealed_blob() -> SealedBlob {
    SealedBlob {
        measurement: Measurement(h(42)),
        nonce: [52; NONCE_LEN],
        ciphertext: vec![53; 32 + TAG_LEN],
    }
}

fn cny(minor: i64) -> Amount {
    Amount {
        value: Decimal::new(minor, 2),
        currency: Currency::CNY,
    }
}

/// One call of each contract, including the variants that carry nested decoded types.
fn calls() -> Vec<Call> {
    vec![
        Call::Registry(registry::Call::RegisterMerchant {
            name: "Noodle House".into(),
            city: "Shanghai".into(),
            mcc: "5812".into(),
            country: "CN".into(),
            merchant_key: key(10).public_key(),
        }),
        Call::Registry(registry::Call::PutRecord {
            merchant_id: mid(10),
            payload: sealed_record().to_bytes(),
        }),
        Call::Registry(registry::Call::RevokeRecord {
            merchant_id: mid(10),
        }),
        Call::Governance(governance::Call::UpdateMemberName {
            name: "Renamed".into(),
        }),
        Call::Wallet(wallet::Call::OpenWallet {
            user: key(20).public_key(),
            currency: Currency::CNY,
        }),
        Call::Wallet(wallet::Call::TopUp {
            wallet: h(21),
            amount: cny(10_000),
            card_hash: h(22),
            mandate: wallet::TopUpMandate {
                request_id: h(23),
                signature: paychain_contracts::crypto::Signature([7; 64]),
            },
        }),
        Call::Wallet(wallet::Call::Pay {
            from_wallet: h(21),
            merchant_id: mid(10),
            acquirer: pid("plat-a"),
            amount: cny(1_250),
            order_ref: "order-1".into(),
            route: registry::Route {
                record_version: 3,
                record_hash: h(24),
            },
        }),
        Call::Wallet(wallet::Call::Settle {
            merchant_id: mid(10),
            amount: None,
        }),
        Call::Enclave(enclave_registry::Call::Register {
            quote: signed_quote(),
        }),
        Call::Enclave(enclave_registry::Call::Provision {
            wrapped: wrapped_secret(),
        }),
        Call::Enclave(enclave_registry::Call::RegisterBound {
            quote: signed_quote(),
            binding: key(3).sign(b"binding"),
        }),
        Call::Enclave(enclave_registry::Call::ProvisionSigned {
            provision: paychain_contracts::enclave::SignedProvision {
                wrapped: wrapped_secret(),
                provider: key(4).public_key(),
                signature: key(4).sign(b"provision"),
            },
        }),
        Call::Enclave(enclave_registry::Call::Deregister {
            signer: key(5).public_key(),
        }),
    ]
}

fn signed_tx(signer: u8, nonce: u64, call: Call) -> SignedTx {
    let sk = key(signer);
    SignedTx::sign(
        Transaction {
            chain_id: ChainId::new(CHAIN),
            sender: sk.public_key(),
            nonce,
            call,
        },
        &sk,
    )
}

fn txs() -> Vec<SignedTx> {
    calls()
        .into_iter()
        .enumerate()
        .map(|(i, c)| signed_tx(1, i as u64, c))
        .collect()
}

fn block(txs: Vec<SignedTx>) -> Block {
    Block {
        header: Header {
            chain_id: ChainId::new(CHAIN),
            height: 3,
            time_ms: 1_700_000_000_000,
            proposer: key(100).public_key(),
            prev_block_hash: h(60),
            prev_app_hash: h(61),
            prev_result_root: h(62),
            tx_root: tx_root(&txs),
        },
        txs,
    }
}

// ---- the decoders under test, by name ----

/// Each decoder of outside bytes: name, limit (total input bytes), and a check that decodes `bytes`
/// and, when accepted, asserts canonical re-encoding and a stable round trip. Returns whether it
/// accepted.
type Check = fn(&[u8]) -> bool;

macro_rules! checker {
    ($ty:ty) => {
        |bytes: &[u8]| match <$ty>::from_bytes(bytes) {
            Ok(v) => {
                let again = v.to_bytes();
                assert_eq!(
                    again,
                    bytes,
                    "{} accepted a non-canonical encoding",
                    stringify!($ty)
                );
                assert_eq!(<$ty>::from_bytes(&again).ok().as_ref(), Some(&v));
                true
            }
            Err(_) => false,
        }
    };
}

fn check_codec_header(bytes: &[u8]) -> bool {
    match codec::decode::<Header>(bytes, MAX_BLOCK_BYTES) {
        Ok(v) => {
            assert_eq!(codec::encode(&v), bytes);
            true
        }
        Err(_) => false,
    }
}

fn check_codec_call(bytes: &[u8]) -> bool {
    match codec::decode::<Call>(bytes, MAX_TX_BYTES) {
        Ok(v) => {
            assert_eq!(codec::encode(&v), bytes);
            true
        }
        Err(_) => false,
    }
}

struct Decoder {
    name: &'static str,
    limit: usize,
    check: Check,
    valid: Vec<Vec<u8>>,
}

fn decoders() -> Vec<Decoder> {
    let txs = txs();
    vec![
        Decoder {
            name: "SignedTx",
            limit: MAX_TX_BYTES,
            check: checker!(SignedTx),
            valid: txs.iter().map(SignedTx::to_bytes).collect(),
        },
        Decoder {
            name: "Block",
            limit: MAX_BLOCK_BYTES,
            check: checker!(Block),
            valid: vec![block(txs.clone()).to_bytes(), block(vec![]).to_bytes()],
        },
        Decoder {
            name: "codec::decode::<Header>",
            limit: MAX_BLOCK_BYTES,
            check: check_codec_header,
            valid: vec![codec::encode(&block(vec![]).header)],
        },
        Decoder {
            name: "codec::decode::<Call>",
            limit: MAX_TX_BYTES,
            check: check_codec_call,
            valid: calls().iter().map(codec::encode).collect(),
        },
        Decoder {
            name: "SealedRecord",
            limit: MAX_SEALED_RECORD_BYTES,
            check: checker!(SealedRecord),
            valid: vec![sealed_record().to_bytes()],
        },
        Decoder {
            name: "SignedQuote",
            limit: MAX_SIGNED_QUOTE_BYTES,
            check: checker!(SignedQuote),
            valid: vec![signed_quote().to_bytes()],
        },
        Decoder {
            name: "SignedLookup",
            limit: MAX_SIGNED_LOOKUP_BYTES,
            check: checker!(SignedLookup),
            valid: vec![signed_lookup().to_bytes()],
        },
        Decoder {
            name: "SignedAnswer",
            limit: MAX_SIGNED_ANSWER_BYTES,
            check: checker!(SignedAnswer),
            valid: vec![signed_answer().to_bytes()],
        },
        Decoder {
            name: "WrappedSecret",
            limit: MAX_WRAPPED_SECRET_BYTES,
            check: checker!(WrappedSecret),
            valid: vec![wrapped_secret().to_bytes()],
        },
        Decoder {
            name: "SealedBlob",
            limit: SEALED_BLOB_MAGIC.len() + MAX_SEALED_BLOB_BYTES,
            check: checker!(SealedBlob),
            valid: vec![sealed_blob().to_bytes()],
        },
    ]
}

// ---- deterministic checks ----

#[test]
fn valid_values_round_trip() {
    for d in decoders() {
        for bytes in &d.valid {
            assert!(bytes.len() <= d.limit, "{}: sample over its limit", d.name);
            assert!((d.check)(bytes), "{}: valid encoding refused", d.name);
        }
    }
    // Typed equality for the values themselves.
    for tx in txs() {
        assert_eq!(SignedTx::from_bytes(&tx.to_bytes()), Ok(tx));
    }
    let b = block(txs());
    assert!(b.tx_root_matches());
    assert_eq!(Block::from_bytes(&b.to_bytes()), Ok(b));
    assert_eq!(
        SealedRecord::from_bytes(&sealed_record().to_bytes()),
        Ok(sealed_record())
    );
    assert_eq!(
        SignedQuote::from_bytes(&signed_quote().to_bytes()),
        Ok(signed_quote())
    );
    assert_eq!(
        SignedLookup::from_bytes(&signed_lookup().to_bytes()),
        Ok(signed_lookup())
    );
    assert_eq!(
        SignedAnswer::from_bytes(&signed_answer().to_bytes()),
        Ok(signed_answer())
    );
    assert_eq!(
        WrappedSecret::from_bytes(&wrapped_secret().to_bytes()),
        Ok(wrapped_secret())
    );
    assert_eq!(
        SealedBlob::from_bytes(&sealed_blob().to_bytes()),
        Ok(sealed_blob())
    );
}

#[test]
fn over_the_limit_is_refused_before_parsing() {
    // A valid encoding followed by padding up to limit + 1: a parser would report trailing bytes;
    // the limit check must answer first.
    fn padded(valid: &[u8], limit: usize) -> Vec<u8> {
        let mut v = valid.to_vec();
        v.resize(limit + 1, 0);
        v
    }
    let too_large = |e: &codec::Error| matches!(e, codec::Error::TooLarge { .. });

    let tx = txs().remove(0).to_bytes();
    assert!(too_large(
        &SignedTx::from_bytes(&padded(&tx, MAX_TX_BYTES)).unwrap_err()
    ));
    let b = block(txs()).to_bytes();
    assert!(too_large(
        &Block::from_bytes(&padded(&b, MAX_BLOCK_BYTES)).unwrap_err()
    ));
    assert!(too_large(
        &codec::decode::<Call>(&padded(&tx, MAX_TX_BYTES), MAX_TX_BYTES).unwrap_err()
    ));
    assert!(matches!(
        SealedRecord::from_bytes(&padded(
            &sealed_record().to_bytes(),
            MAX_SEALED_RECORD_BYTES
        )),
        Err(RecordError::Malformed(codec::Error::TooLarge { .. }))
    ));
    assert!(matches!(
        SignedQuote::from_bytes(&padded(&signed_quote().to_bytes(), MAX_SIGNED_QUOTE_BYTES)),
        Err(QuoteError::Malformed(codec::Error::TooLarge { .. }))
    ));
    assert!(matches!(
        SignedLookup::from_bytes(&padded(
            &signed_lookup().to_bytes(),
            MAX_SIGNED_LOOKUP_BYTES
        )),
        Err(QueryError::Malformed(codec::Error::TooLarge { .. }))
    ));
    assert!(matches!(
        SignedAnswer::from_bytes(&padded(
            &signed_answer().to_bytes(),
            MAX_SIGNED_ANSWER_BYTES
        )),
        Err(QueryError::Malformed(codec::Error::TooLarge { .. }))
    ));
    assert!(matches!(
        WrappedSecret::from_bytes(&padded(
            &wrapped_secret().to_bytes(),
            MAX_WRAPPED_SECRET_BYTES
        )),
        Err(ProvisionError::Malformed(codec::Error::TooLarge { .. }))
    ));
    assert!(matches!(
        SealedBlob::from_bytes(&padded(
            &sealed_blob().to_bytes(),
            SEALED_BLOB_MAGIC.len() + MAX_SEALED_BLOB_BYTES
        )),
        Err(SealError::Corrupted(codec::Error::TooLarge { .. }))
    ));
    // The generic decoder clamps any caller limit to MAX_DECODE_BYTES.
    assert!(matches!(
        codec::decode::<Vec<u8>>(&[], usize::MAX),
        Err(codec::Error::Decode(_))
    ));
}

#[test]
fn huge_length_prefixes_do_not_allocate() {
    // A u32 length prefix of u32::MAX (or just over the limit) in front of a few bytes: refused at the
    // end of the input, never an allocation of the claimed size.
    for claimed in [u32::MAX, MAX_BLOCK_BYTES as u32 + 1, u32::MAX / 2] {
        let mut bytes = claimed.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0; 16]);
        assert!(codec::decode::<Vec<u8>>(&bytes, MAX_BLOCK_BYTES).is_err());
        assert!(codec::decode::<Vec<Header>>(&bytes, MAX_BLOCK_BYTES).is_err());
        assert!(codec::decode::<String>(&bytes, MAX_TX_BYTES).is_err());
    }
    // A block whose tx count claims u32::MAX after a valid header.
    let mut bytes = codec::encode(&block(vec![]).header);
    bytes.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(Block::from_bytes(&bytes).is_err());
    // A sealed record whose ciphertext length claims far more than the input holds.
    let mut rec = sealed_record().to_bytes();
    let len_at = 8 + 32 + NONCE_LEN;
    rec[len_at..len_at + 4].copy_from_slice(&(u32::MAX / 2).to_le_bytes());
    assert!(SealedRecord::from_bytes(&rec).is_err());
}

#[test]
fn sealed_record_ciphertext_bounds() {
    let short = SealedRecord {
        epoch: 0,
        sealed: sealed_box(1, TAG_LEN - 1),
    }
    .to_bytes();
    assert!(matches!(
        SealedRecord::from_bytes(&short),
        Err(RecordError::CiphertextLength(_))
    ));
    let min = SealedRecord {
        epoch: 0,
        sealed: sealed_box(1, TAG_LEN),
    }
    .to_bytes();
    assert!(SealedRecord::from_bytes(&min).is_ok());
}

// ---- properties ----

/// Applies up to a few random edits to `bytes`: overwrite, flip, insert, delete, truncate.
fn mutate(mut bytes: Vec<u8>, edits: &[(u8, u16, u8)]) -> Vec<u8> {
    for &(kind, pos, val) in edits {
        let len = bytes.len();
        let at = if len == 0 { 0 } else { usize::from(pos) % len };
        match kind % 6 {
            0 if len > 0 => bytes[at] = val,
            1 if len > 0 => bytes[at] ^= 1 << (val % 8),
            2 => bytes.insert(at.min(len), val),
            3 if len > 0 => {
                bytes.remove(at);
            }
            4 => bytes.truncate(at),
            // A little-endian u32 length prefix or u64 integer field blown up.
            _ if val % 2 == 0 && len >= at + 4 => {
                bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes())
            }
            _ if len >= at + 8 => bytes[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes()),
            _ => {}
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        for d in decoders() {
            let accepted = (d.check)(&bytes);
            prop_assert!(!accepted || bytes.len() <= d.limit, "{}", d.name);
        }
    }

    #[test]
    fn mutated_encodings_never_panic(
        which in any::<prop::sample::Index>(),
        sample in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<u8>(), any::<u16>(), any::<u8>()), 1..6),
    ) {
        let all = decoders();
        let d = which.get(&all);
        let valid = sample.get(&d.valid).clone();
        let bytes = mutate(valid, &edits);
        let accepted = (d.check)(&bytes);
        prop_assert!(!accepted || bytes.len() <= d.limit, "{}", d.name);
        // The same bytes fed to every other decoder (type confusion across channels).
        for other in &all {
            let _ = (other.check)(&bytes);
        }
    }

    #[test]
    fn generated_txs_round_trip(
        signer in 1u8..=255,
        nonce in any::<u64>(),
        which in any::<prop::sample::Index>(),
        minor in 1i64..1_000_000_000,
        name in "[ -~]{0,40}",
    ) {
        let mut all = calls();
        all.push(Call::Wallet(wallet::Call::Refund { payment: h(9), amount: cny(minor) }));
        all.push(Call::Governance(governance::Call::UpdateMemberName { name }));
        let call = which.get(&all).clone();
        let tx = signed_tx(signer, nonce, call);
        let bytes = tx.to_bytes();
        prop_assert_eq!(SignedTx::from_bytes(&bytes), Ok(tx.clone()));
        let b = block(vec![tx]);
        prop_assert_eq!(Block::from_bytes(&b.to_bytes()), Ok(b));
    }
}

/// Writes the valid encodings above as fuzz seeds (`fuzz/seeds/<target>/`). Ignored: run on demand.
#[test]
#[ignore]
#[allow(
    clippy::disallowed_methods,
    reason = "a tool run on demand that writes the fuzz seeds, not contract code"
)]
fn write_fuzz_seeds() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds");
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    for (i, tx) in txs().iter().enumerate() {
        write("tx_decode", &format!("tx_{i}"), &tx.to_bytes());
    }
    write("block_decode", "block_10_txs", &block(txs()).to_bytes());
    write("block_decode", "block_empty", &block(vec![]).to_bytes());
    write(
        "block_decode",
        "header",
        &codec::encode(&block(vec![]).header),
    );
    // enclave_decode: the first byte selects the decoder (see fuzz_targets/enclave_decode.rs).
    let enclave: [(&str, Vec<u8>); 6] = [
        ("sealed_record", sealed_record().to_bytes()),
        ("signed_quote", signed_quote().to_bytes()),
        ("signed_lookup", signed_lookup().to_bytes()),
        ("signed_answer", signed_answer().to_bytes()),
        ("wrapped_secret", wrapped_secret().to_bytes()),
        ("sealed_blob", sealed_blob().to_bytes()),
    ];
    for (selector, (name, bytes)) in enclave.iter().enumerate() {
        let mut seed = vec![selector as u8];
        seed.extend_from_slice(bytes);
        write("enclave_decode", name, &seed);
    }
    // ca_decode: a CA certificate and a party certificate it issued (DER and PEM).
    let (ca_der, party_der) = ca_certs();
    write("ca_decode", "ca_cert.der", &ca_der);
    write("ca_decode", "party_cert.der", &party_der);
    write(
        "ca_decode",
        "party_cert.pem",
        ca::to_pem(&party_der).as_bytes(),
    );
    for (name, body) in rpc_bodies() {
        write("rpc_params", name, body.as_bytes());
    }
}

/// A CA certificate of `plat-a` and a merchant certificate it issued (fixed keys and times).
fn ca_certs() -> (Vec<u8>, Vec<u8>) {
    let ca_key = key(40);
    let ca_der = ca::build_ca_cert(
        &ca_key,
        &ca::CaParams {
            common_name: "plat-a CA".into(),
            platform: pid("plat-a"),
            serial: ca::Serial::from_u64(1).unwrap(),
            not_before_s: 1_700_000_000,
            not_after_s: 2_000_000_000,
        },
    )
    .unwrap();
    let party_der = ca::issue_party_cert(
        &ca_key,
        &ca_der,
        &ca::PartyParams {
            common_name: "Noodle House".into(),
            party_key: key(41).public_key(),
            encryption_key: paychain_contracts::enclave::KxSecret::from_seed([42; 32]).public_key(),
            role: ca::PartyRole::Merchant,
            serial: ca::Serial::from_u64(0x0102).unwrap(),
            not_before_s: 1_700_000_000,
            not_after_s: 1_800_000_000,
        },
    )
    .unwrap();
    (ca_der, party_der)
}

#[test]
fn ca_seed_certificates_decode() {
    let (ca_der, party_der) = ca_certs();
    let ca_info = ca::decode_ca_cert(&ca_der).unwrap();
    let party = ca::decode_party_cert(&party_der).unwrap();
    ca::verify_issued_by(&party, &ca_info).unwrap();
}

/// A JSON-RPC request as a client sends it.
fn rpc_body(method: &str, params: serde_json::Value) -> String {
    serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string()
}

/// One call of the guardian, collection and store contracts each (JSON seeds of `rpc_params`).
fn newer_calls() -> Vec<Call> {
    let terminal = guardian::Terminal::new("SCH-0042", "school").unwrap();
    let limits = guardian::Limits {
        per_payment: cny(5_000),
        per_day: cny(20_000),
        payments_per_day: 5,
    };
    vec![
        Call::Guardian(guardian::Call::RequestBinding {
            guardian: key(30).public_key(),
            terminal,
        }),
        Call::Guardian(guardian::Call::Approve {
            binding: h(31),
            wallet: h(21),
            limits,
            biometric: Some(guardian::Biometric {
                salt: h(32),
                template_hash: h(33),
            }),
        }),
        Call::Guardian(guardian::Call::Pay {
            binding: h(31),
            merchant_id: mid(10),
            acquirer: pid("plat-a"),
            amount: cny(1_250),
            order_ref: "lunch".into(),
            biometric: Some(h(34)),
            route: registry::Route {
                record_version: 1,
                record_hash: h(36),
            },
        }),
        Call::Collection(collection::Call::Create {
            merchant_id: mid(10),
            acquirer: pid("plat-a"),
            total: cny(9_000),
            shares: collection::Shares::Proportions(vec![1, 2]),
            expires_at_ms: 1_700_000_000_000,
            password_hash: Some(h(35)),
        }),
        Call::Collection(collection::Call::Pay {
            collection: h(36),
            share: 1,
            from_wallet: h(21),
            amount: cny(3_000),
            password: Some("1234".into()),
        }),
        Call::Store(store::Call::CreateOrder {
            merchant_id: mid(10),
            acquirer: pid("plat-a"),
            user: key(20).public_key(),
            order_no: "S-1".into(),
            amount: cny(4_200),
            items_digest: h(37),
            expires_at_ms: 1_700_000_000_000,
        }),
        Call::Store(store::Call::Authorise {
            merchant_id: mid(10),
            per_order_limit: cny(10_000),
            from_wallet: h(21),
        }),
    ]
}

/// Seeds of the `rpc_params` fuzz target: request bodies of the node's methods with valid params,
/// params of every type a handler parses, and the scanned codes.
fn rpc_bodies() -> Vec<(&'static str, String)> {
    use serde_json::{json, to_value};
    let tx = &txs()[2];
    let accounts = [
        wallet::Account::Wallet { id: h(21) },
        wallet::Account::ToBeSettled {
            merchant_id: mid(10),
            acquirer: pid("plat-a"),
            currency: Currency::CNY,
        },
        wallet::Account::Clearing {
            platform: pid("plat-a"),
            currency: Currency::JPY,
        },
        wallet::Account::Escrow {
            collection: h(36),
            currency: Currency::BHD,
        },
    ];
    let mut calls = calls();
    calls.extend(newer_calls());
    let signed: Vec<SignedTx> = newer_calls()
        .into_iter()
        .enumerate()
        .map(|(i, c)| signed_tx(30, i as u64, c))
        .collect();
    let mut out = vec![
        (
            "submit_tx",
            rpc_body("paychain_submitTx", json!([hex::encode(tx.to_bytes())])),
        ),
        (
            "submit_tx_0x",
            rpc_body(
                "paychain_submitTx",
                json!([format!("0x{}", hex::encode(signed[0].to_bytes()))]),
            ),
        ),
        (
            "submit_txs",
            rpc_body(
                "paychain_submitTxs",
                json!([[
                    hex::encode(tx.to_bytes()),
                    hex::encode(signed[3].to_bytes())
                ]]),
            ),
        ),
        (
            "tx_hash",
            rpc_body("paychain_tx", json!([tx.hash().to_string().to_uppercase()])),
        ),
        (
            "lookup",
            rpc_body(
                "paychain_lookup",
                json!([hex::encode(signed_lookup().to_bytes())]),
            ),
        ),
        (
            "account",
            rpc_body("paychain_account", json!([key(1).public_key()])),
        ),
        (
            "record",
            rpc_body("paychain_record", json!([mid(10), pid("plat-a")])),
        ),
        (
            "subscribe_events",
            rpc_body(
                "paychain_subscribeEvents",
                json!([{"kind_prefix": "guardian_", "attribute": ["guardian", key(30).public_key()]}]),
            ),
        ),
        (
            "guardian_statement",
            rpc_body("paychain_guardianStatement", json!([h(31), "2025-03"])),
        ),
        (
            "wallet_statement",
            rpc_body("paychain_statement", json!([accounts[0], 1, 99])),
        ),
        (
            "amounts",
            rpc_body(
                "amounts",
                json!([cny(1_250), "12.50", "0.001", "CNY", "KWD", {"value": "100", "currency": "JPY"}]),
            ),
        ),
        (
            "named_params",
            rpc_body(
                "paychain_balance",
                json!({"account": accounts[1], "limit": 20}),
            ),
        ),
        (
            "batch",
            format!(
                "[{},{}]",
                rpc_body("paychain_wallets", json!([key(20).public_key()])),
                rpc_body("paychain_walletHost", json!([pid("plat-a")]))
            ),
        ),
        (
            "terminal_code",
            guardian::Terminal::new("SCH-0042", "school")
                .unwrap()
                .code_text(),
        ),
        (
            "identity_code",
            format!("paychain-id:{}", key(20).public_key()),
        ),
        (
            "signed_tx_json",
            rpc_body("json", json!([signed[1], signed[5].tx, tx.signature])),
        ),
    ];
    let names = [
        "balance_wallet",
        "balance_to_be_settled",
        "balance_clearing",
        "balance_escrow",
    ];
    for (name, account) in names.into_iter().zip(&accounts) {
        out.push((name, rpc_body("paychain_balance", json!([account]))));
    }
    let call_names = [
        "call_registry_register",
        "call_registry_put",
        "call_registry_revoke",
        "call_governance",
        "call_wallet_open",
        "call_wallet_top_up",
        "call_wallet_pay",
        "call_wallet_settle",
        "call_enclave_register",
        "call_enclave_provision",
        "call_enclave_register_bound",
        "call_enclave_provision_signed",
        "call_enclave_deregister",
        "call_guardian_request",
        "call_guardian_approve",
        "call_guardian_pay",
        "call_collection_create",
        "call_collection_pay",
        "call_store_create",
        "call_store_authorise",
    ];
    assert_eq!(call_names.len(), calls.len());
    for (name, call) in call_names.into_iter().zip(calls) {
        out.push((name, rpc_body("call", json!([to_value(call).unwrap()]))));
    }
    out
}
