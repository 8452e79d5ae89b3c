//! Integration tests of the state machine: contracts through `execute_block`, determinism, proofs.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use paychain_contracts::block::{tx_root, Block, Header};
use paychain_contracts::crypto::{Hash, PublicKey, SecretKey};
use paychain_contracts::executor::{self, BlockError, Receipt};
use paychain_contracts::genesis::{genesis_state, Genesis, GenesisError, GenesisValidator};
use paychain_contracts::governance::{self, Member, Role};
use paychain_contracts::ids::{ChainId, MerchantId, PlatformId};
use paychain_contracts::registry::{self, MAX_RECORD_PAYLOAD};
use paychain_contracts::state::{self, compute_app_hash_full, MemStore, StateReader};
use paychain_contracts::tx::{Call, SignedTx, Transaction};
use paychain_contracts::{api, codec};

mod bench_fixture;
mod codec_props;
mod decoders;
mod vectors;

const CHAIN: &str = "paychain-test";

fn key(n: u8) -> SecretKey {
    SecretKey::from_seed([n; 32])
}

/// Platform A = key 1, platform B = key 2, governor-only member G = key 3, outsider = key 9 (a
/// validator's key: known to the chain, a member of nothing), stranger = key 8 (unknown to the chain).
fn genesis() -> Genesis {
    let member = |n: u8, id: &str, roles: &[Role]| Member {
        id: PlatformId::new(id).unwrap(),
        name: format!("Member {id}"),
        public_key: key(n).public_key(),
        roles: roles.iter().copied().collect::<BTreeSet<_>>(),
    };
    Genesis {
        chain_id: ChainId::new(CHAIN),
        genesis_time_ms: 1_700_000_000_000,
        validators: vec![
            GenesisValidator {
                name: "v0".into(),
                public_key: key(100).public_key(),
                power: 1,
            },
            GenesisValidator {
                name: "outsider".into(),
                public_key: key(9).public_key(),
                power: 1,
            },
        ],
        members: vec![
            member(1, "plat-a", &[Role::Platform, Role::Governor]),
            member(2, "plat-b", &[Role::Platform]),
            member(3, "gov-only", &[Role::Governor]),
        ],
        enclave: None,
    }
}

/// A chain in memory: applies blocks and tracks nonces.
struct Chain {
    store: MemStore,
    height: u64,
    prev_block_hash: Hash,
    prev_result_root: Hash,
}

impl Chain {
    fn new() -> Chain {
        let ws = genesis_state(&genesis()).unwrap();
        let mut store = MemStore::new();
        store.apply(&ws);
        Chain {
            store,
            height: 0,
            prev_block_hash: Hash::ZERO,
            prev_result_root: Hash::ZERO,
        }
    }

    fn tx(&self, signer: u8, nonce: u64, call: Call) -> SignedTx {
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

    fn next_nonce(&self, signer: u8) -> u64 {
        executor::nonce(&self.store, &key(signer).public_key()).unwrap()
    }

    fn block(&self, txs: Vec<SignedTx>) -> Block {
        Block {
            header: Header {
                chain_id: ChainId::new(CHAIN),
                height: self.height + 1,
                time_ms: 1_700_000_000_000 + self.height,
                proposer: key(100).public_key(),
                prev_block_hash: self.prev_block_hash,
                prev_app_hash: self.store.app_hash(),
                prev_result_root: self.prev_result_root,
                tx_root: tx_root(&txs),
            },
            txs,
        }
    }

    fn run_block(&mut self, txs: Vec<SignedTx>) -> Vec<Receipt> {
        let block = self.block(txs);
        executor::validate_block(&self.store, &block).unwrap();
        let out = executor::execute_block(&self.store, &block).unwrap();
        self.store.apply(&out.writes);
        assert_eq!(
            self.store.app_hash(),
            compute_app_hash_full(&self.store).unwrap()
        );
        self.height += 1;
        self.prev_block_hash = block.hash();
        self.prev_result_root = out.result_root;
        out.receipts
    }

    /// Runs one call from `signer` with its next nonce in its own block.
    fn call(&mut self, signer: u8, call: Call) -> Receipt {
        let tx = self.tx(signer, self.next_nonce(signer), call);
        self.run_block(vec![tx]).remove(0)
    }
}

fn register(merchant_key: u8) -> Call {
    Call::Registry(registry::Call::RegisterMerchant {
        name: "Noodle House".into(),
        city: "Shanghai".into(),
        mcc: "5812".into(),
        country: "CN".into(),
        merchant_key: key(merchant_key).public_key(),
    })
}

fn put(merchant: &MerchantId, payload: &[u8]) -> Call {
    Call::Registry(registry::Call::PutRecord {
        merchant_id: merchant.clone(),
        payload: payload.to_vec(),
    })
}

fn revoke(merchant: &MerchantId) -> Call {
    Call::Registry(registry::Call::RevokeRecord {
        merchant_id: merchant.clone(),
    })
}

fn mid(merchant_key: u8) -> MerchantId {
    MerchantId::derive(&key(merchant_key).public_key())
}

fn pid(s: &str) -> PlatformId {
    PlatformId::new(s).unwrap()
}

#[test]
fn register_merchant_fields_table() {
    let base = |name: &str, city: &str, mcc: &str, country: &str| {
        Call::Registry(registry::Call::RegisterMerchant {
            name: name.into(),
            city: city.into(),
            mcc: mcc.into(),
            country: country.into(),
            merchant_key: key(50).public_key(),
        })
    };
    let long_name = "N".repeat(26);
    let max_name = "N".repeat(25);
    let cases: Vec<(&str, u8, Call, u32)> = vec![
        ("outsider", 9, base("Shop", "City", "5812", "CN"), 200),
        ("governor only", 3, base("Shop", "City", "5812", "CN"), 200),
        ("empty name", 1, base("", "City", "5812", "CN"), 201),
        (
            "name too long",
            1,
            base(&long_name, "City", "5812", "CN"),
            201,
        ),
        (
            "city too long",
            1,
            base("Shop", "A city far too long", "5812", "CN"),
            201,
        ),
        ("control char", 1, base("Sh\nop", "City", "5812", "CN"), 201),
        ("mcc letters", 1, base("Shop", "City", "58a2", "CN"), 201),
        ("mcc short", 1, base("Shop", "City", "581", "CN"), 201),
        (
            "country lowercase",
            1,
            base("Shop", "City", "5812", "cn"),
            201,
        ),
        (
            "country 3 letters",
            1,
            base("Shop", "City", "5812", "CHN"),
            201,
        ),
        (
            "ok at limits",
            1,
            base(&max_name, "Fifteen chars!!", "0000", "CN"),
            0,
        ),
        ("duplicate", 2, base("Shop", "City", "5812", "CN"), 202),
    ];
    let mut chain = Chain::new();
    for (name, signer, call, code) in cases {
        let r = chain.call(signer, call);
        assert_eq!(r.code, code, "{name}: {:?}", r.error);
        assert_eq!(r.is_ok(), code == 0, "{name}");
    }
    let m = registry::merchant(&chain.store, &mid(50)).unwrap().unwrap();
    assert_eq!(m.registered_by, pid("plat-a"));
    assert_eq!(m.name, "N".repeat(25));
}

#[test]
fn records_table() {
    let mut chain = Chain::new();
    let m = mid(10);
    let unknown = mid(11);
    assert!(chain.call(1, register(10)).is_ok());
    let cases: Vec<(&str, u8, Call, u32)> = vec![
        ("put on unknown merchant", 1, put(&unknown, b"x"), 203),
        ("outsider put", 9, put(&m, b"x"), 200),
        (
            "payload too large",
            1,
            put(&m, &vec![0; MAX_RECORD_PAYLOAD + 1]),
            206,
        ),
        ("revoke missing", 1, revoke(&m), 204),
        ("revoke unknown merchant", 1, revoke(&unknown), 203),
        (
            "A puts v1 at the limit",
            1,
            put(&m, &vec![7; MAX_RECORD_PAYLOAD]),
            0,
        ),
        ("A puts v2", 1, put(&m, b"a2"), 0),
        ("B revokes: B has no record", 2, revoke(&m), 204),
        ("B puts its own", 2, put(&m, b"b1"), 0),
        ("A revokes", 1, revoke(&m), 0),
        ("A revokes twice", 1, revoke(&m), 205),
        ("A re-activates", 1, put(&m, b"a3"), 0),
    ];
    for (name, signer, call, code) in cases {
        let r = chain.call(signer, call);
        assert_eq!(r.code, code, "{name}: {:?}", r.error);
    }
    let a = registry::record(&chain.store, &m, &pid("plat-a"))
        .unwrap()
        .unwrap();
    assert_eq!(
        (a.version, a.revoked, a.payload.as_slice()),
        (3, false, &b"a3"[..])
    );
    let b = registry::record(&chain.store, &m, &pid("plat-b"))
        .unwrap()
        .unwrap();
    assert_eq!(
        (b.version, b.revoked, b.payload.as_slice()),
        (1, false, &b"b1"[..])
    );
    assert_eq!(
        registry::active_of(&chain.store, &m).unwrap(),
        vec![pid("plat-a"), pid("plat-b")]
    );
}

#[test]
fn platform_cannot_touch_another_platforms_record() {
    let mut chain = Chain::new();
    let m = mid(10);
    assert!(chain.call(1, register(10)).is_ok());
    assert!(chain.call(1, put(&m, b"secret-a")).is_ok());
    let before = registry::record(&chain.store, &m, &pid("plat-a")).unwrap();
    // B's put lands in B's own record; B's revoke finds no record of B.
    assert!(chain.call(2, put(&m, b"evil")).is_ok());
    assert!(chain.call(2, revoke(&m)).is_ok());
    assert_eq!(chain.call(2, revoke(&m)).code, 205);
    assert_eq!(
        registry::record(&chain.store, &m, &pid("plat-a")).unwrap(),
        before
    );
    assert_eq!(
        registry::active_of(&chain.store, &m).unwrap(),
        vec![pid("plat-a")]
    );
    // Revoking the last active record empties the index.
    assert!(chain.call(1, revoke(&m)).is_ok());
    assert!(registry::active_of(&chain.store, &m).unwrap().is_empty());
    let a = registry::record(&chain.store, &m, &pid("plat-a"))
        .unwrap()
        .unwrap();
    assert!(a.revoked);
    assert_eq!(a.version, 1);
}

#[test]
fn events_and_messages() {
    let mut chain = Chain::new();
    let r = chain.call(1, register(10));
    assert_eq!(r.events[0].kind, "merchant_registered");
    assert_eq!(r.events[0].attribute("merchant_id"), Some(mid(10).as_str()));
    let r = chain.call(9, register(11));
    assert_eq!(r.error.as_deref(), Some("sender is not a platform member"));
    let r = chain.call(1, put(&mid(11), b""));
    assert_eq!(r.error.unwrap(), format!("unknown merchant {}", mid(11)));
}

#[test]
fn governance_rename() {
    let mut chain = Chain::new();
    let r = chain.call(
        3,
        Call::Governance(governance::Call::UpdateMemberName {
            name: "Renamed".into(),
        }),
    );
    assert!(r.is_ok(), "{:?}", r.error);
    let m = governance::member(&chain.store, &pid("gov-only"))
        .unwrap()
        .unwrap();
    assert_eq!(m.name, "Renamed");
    let by_key = governance::member_by_key(&chain.store, &key(3).public_key()).unwrap();
    assert_eq!(by_key, Some(m));
    let rename = |n: &str| Call::Governance(governance::Call::UpdateMemberName { name: n.into() });
    assert_eq!(chain.call(9, rename("x")).code, 100);
    assert_eq!(chain.call(1, rename("")).code, 101);
    assert_eq!(chain.call(1, rename(&"x".repeat(65))).code, 101);
    let members = governance::members(&chain.store).unwrap();
    assert_eq!(members.len(), 3);
    assert!(members.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(
        governance::validators(&chain.store).unwrap(),
        genesis().validators
    );
}

#[test]
fn an_unknown_sender_writes_nothing() {
    let mut chain = Chain::new();
    let before = chain.store.app_hash();
    let tx = chain.tx(8, 0, register(10));
    let block = chain.block(vec![tx]);
    let out = executor::execute_block(&chain.store, &block).unwrap();
    assert_eq!(out.receipts[0].code, 3);
    assert!(out.writes.puts.is_empty(), "{:?}", out.writes.puts);
    assert_eq!(out.writes.app_hash, before);
    chain.run_block(block.txs);
    assert_eq!(chain.next_nonce(8), 0);
    assert_eq!(chain.store.app_hash(), before);
}

#[test]
fn failed_call_only_bumps_the_nonce() {
    let mut chain = Chain::new();
    let before_hash = chain.store.app_hash();
    let snapshot: Vec<_> = (0..state::BUCKETS as u16)
        .map(|b| chain.store.bucket_entries(b).unwrap())
        .collect();
    let tx = chain.tx(9, 0, register(10));
    let block = chain.block(vec![tx]);
    let out = executor::execute_block(&chain.store, &block).unwrap();
    assert_eq!(out.receipts[0].code, 200);
    assert_eq!(
        out.writes.puts.len(),
        1,
        "only the nonce: {:?}",
        out.writes.puts
    );
    chain.store.apply(&out.writes);
    assert_ne!(chain.store.app_hash(), before_hash);
    assert_eq!(chain.next_nonce(9), 1);
    let nonce_key_bucket = out.writes.bucket_hashes.keys().copied().collect::<Vec<_>>();
    for b in 0..state::BUCKETS as u16 {
        if !nonce_key_bucket.contains(&b) {
            assert_eq!(
                chain.store.bucket_entries(b).unwrap(),
                snapshot[usize::from(b)]
            );
        }
    }
}

#[test]
fn bad_nonce_is_skipped_in_execution_and_refused_in_validation() {
    let chain = Chain::new();
    let txs = vec![chain.tx(1, 0, register(10)), chain.tx(1, 2, register(11))];
    let block = chain.block(txs.clone());
    assert!(matches!(
        executor::validate_block_txs(&chain.store, &block.header, &txs),
        Err(BlockError::BadNonce {
            index: 1,
            expected: 1,
            got: 2,
            ..
        })
    ));
    let out = executor::execute_block(&chain.store, &block).unwrap();
    assert!(out.receipts[0].is_ok());
    assert_eq!(out.receipts[1].code, 1);
    let mut store = chain.store.clone();
    store.apply(&out.writes);
    assert_eq!(executor::nonce(&store, &key(1).public_key()).unwrap(), 1);
    assert!(registry::merchant(&store, &mid(11)).unwrap().is_none());

    // Wrong chain id and tx root.
    let mut foreign = chain.tx(2, 0, register(12));
    foreign.tx.chain_id = ChainId::new("other");
    let block = chain.block(vec![foreign]);
    assert!(matches!(
        executor::validate_block(&chain.store, &block),
        Err(BlockError::WrongChainId { index: 0, .. })
    ));
    let out = executor::execute_block(&chain.store, &block).unwrap();
    assert_eq!(out.receipts[0].code, 2);
    let mut block = chain.block(vec![chain.tx(1, 0, register(10))]);
    block.header.tx_root = Hash::ZERO;
    assert!(matches!(
        executor::validate_block(&chain.store, &block),
        Err(BlockError::TxRootMismatch { .. })
    ));
    // Contiguous nonces of one sender in one block are fine.
    let txs: Vec<_> = (0..5)
        .map(|n| chain.tx(1, n, register(20 + n as u8)))
        .collect();
    let block = chain.block(txs);
    executor::validate_block(&chain.store, &block).unwrap();
}

#[test]
fn app_hash_is_deterministic_and_order_sensitive() {
    let make_txs = |c: &Chain| {
        vec![
            c.tx(1, 0, register(10)),
            c.tx(2, 0, register(11)),
            c.tx(1, 1, put(&mid(10), b"a")),
            c.tx(2, 1, put(&mid(10), b"b")),
        ]
    };
    let mut c1 = Chain::new();
    let mut c2 = Chain::new();
    let r1 = c1.run_block(make_txs(&c1));
    let r2 = c2.run_block(make_txs(&c2));
    assert_eq!(r1, r2);
    assert!(r1.iter().all(Receipt::is_ok));
    assert_eq!(c1.store.app_hash(), c2.store.app_hash());
    assert_eq!(c1.prev_result_root, c2.prev_result_root);

    // The same calls from swapped senders (each order valid per sender) give another app hash:
    // `registered_by` differs.
    let mut c3 = Chain::new();
    let txs = vec![
        c3.tx(2, 0, register(10)),
        c3.tx(1, 0, register(11)),
        c3.tx(1, 1, put(&mid(10), b"a")),
        c3.tx(2, 1, put(&mid(10), b"b")),
    ];
    c3.run_block(txs);
    assert_ne!(c1.store.app_hash(), c3.store.app_hash());

    // Two puts by one platform in swapped order leave different payloads.
    let mut c4 = Chain::new();
    let mut c5 = Chain::new();
    c4.call(1, register(10));
    c5.call(1, register(10));
    let n = c4.next_nonce(1);
    c4.run_block(vec![
        c4.tx(1, n, put(&mid(10), b"x")),
        c4.tx(1, n + 1, put(&mid(10), b"y")),
    ]);
    c5.run_block(vec![
        c5.tx(1, n, put(&mid(10), b"y")),
        c5.tx(1, n + 1, put(&mid(10), b"x")),
    ]);
    assert_ne!(c4.store.app_hash(), c5.store.app_hash());
}

#[test]
fn proofs_verify_after_several_blocks() {
    let mut chain = Chain::new();
    for i in 0..4u8 {
        chain.call(1, register(10 + i));
        chain.call(2, put(&mid(10 + i), &[i; 10]));
    }
    let root = chain.store.app_hash();
    let keys: Vec<Vec<u8>> = (0..state::BUCKETS as u16)
        .flat_map(|b| chain.store.bucket_entries(b).unwrap())
        .map(|(k, _)| k)
        .collect();
    assert!(keys.len() > 10);
    for k in &keys {
        let v = chain.store.get(k).unwrap().unwrap();
        let p = state::prove(&chain.store, k).unwrap();
        assert!(p.verify(k, Some(&v), &root));
        assert!(!p.verify(k, Some(b"tampered"), &Hash::digest(b"other root")));
        // Round trip the proof through JSON as the client would receive it.
        let json = serde_json::to_string(&p).unwrap();
        let p2: state::StateProof = serde_json::from_str(&json).unwrap();
        assert!(p2.verify(k, Some(&v), &root));
    }
    let missing = b"reg/merchant/MNOTREGISTERED0000000";
    let p = state::prove(&chain.store, missing).unwrap();
    assert!(p.verify(missing, None, &root));
}

#[test]
fn genesis_validation_and_json() {
    let g = genesis();
    g.validate().unwrap();
    let json = serde_json::to_string_pretty(&g).unwrap();
    assert!(json.contains(&key(1).public_key().to_string()));
    assert!(json.contains("\"platform\""));
    let back: Genesis = serde_json::from_str(&json).unwrap();
    assert_eq!(back, g);
    assert_eq!(back.hash(), g.hash());
    assert_eq!(
        genesis_state(&g).unwrap().app_hash,
        genesis_state(&back).unwrap().app_hash
    );

    let mut bad = g.clone();
    bad.validators.clear();
    assert_eq!(bad.validate(), Err(GenesisError::NoValidators));
    let mut bad = g.clone();
    bad.validators.push(bad.validators[0].clone());
    assert!(matches!(
        bad.validate(),
        Err(GenesisError::DuplicateValidator(_))
    ));
    let mut bad = g.clone();
    bad.validators[0].power = 0;
    assert!(matches!(
        bad.validate(),
        Err(GenesisError::ZeroPower { .. })
    ));
    let mut bad = g.clone();
    bad.members[1].id = bad.members[0].id.clone();
    assert!(matches!(
        bad.validate(),
        Err(GenesisError::DuplicateMember(_))
    ));
    let mut bad = g.clone();
    bad.members[1].public_key = bad.members[0].public_key;
    assert!(matches!(
        bad.validate(),
        Err(GenesisError::DuplicateMemberKey(_))
    ));
    let mut bad = g;
    bad.chain_id = ChainId::new("");
    assert!(bad.validate().is_err());
}

#[test]
fn api_views_json() {
    let mut chain = Chain::new();
    let r = chain.call(1, register(10));
    chain.call(1, put(&mid(10), &[0xab, 0xcd]));
    let rec = registry::record(&chain.store, &mid(10), &pid("plat-a"))
        .unwrap()
        .unwrap();
    let v = serde_json::to_value(api::RecordView {
        record: rec.clone(),
    })
    .unwrap();
    assert_eq!(v["record"]["payload"], "abcd");
    let back: api::RecordView = serde_json::from_value(v).unwrap();
    assert_eq!(back.record, rec);
    let tv = api::TxView {
        tx_hash: r.tx_hash,
        status: api::TxStatus::Committed,
        height: Some(r.height),
        index: Some(r.index),
        receipt: Some(r.clone()),
    };
    let v = serde_json::to_value(&tv).unwrap();
    assert_eq!(v["status"], "committed");
    assert_eq!(v["tx_hash"], r.tx_hash.to_string());
    assert_eq!(serde_json::from_value::<api::TxView>(v).unwrap(), tv);
    // The receipt hash commits to the binary encoding, which round-trips.
    let bytes = codec::encode(&r);
    assert_eq!(codec::decode::<Receipt>(&bytes, bytes.len()).unwrap(), r);
    let _ = PublicKey::default();
}

mod incremental {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        /// Random call sequences: every block's incremental app hash equals the full recomputation
        /// (checked inside `run_block`), and two chains fed the same blocks agree.
        #[test]
        fn random_calls_keep_hashes_consistent(ops in proptest::collection::vec((0u8..4, 1u8..4, 0u8..5), 1..25)) {
            let mut a = Chain::new();
            let mut b = Chain::new();
            for chunk in ops.chunks(4) {
                let mut txs = Vec::new();
                let mut nonces = std::collections::BTreeMap::new();
                for (kind, signer, m) in chunk {
                    let n = nonces.entry(*signer).or_insert_with(|| a.next_nonce(*signer));
                    let call = match kind {
                        0 => register(30 + m),
                        1 => put(&mid(30 + m), &[*m; 3]),
                        2 => revoke(&mid(30 + m)),
                        _ => Call::Governance(governance::Call::UpdateMemberName { name: format!("n{m}") }),
                    };
                    txs.push(a.tx(*signer, *n, call));
                    *n += 1;
                }
                let ra = a.run_block(txs.clone());
                let rb = b.run_block(txs);
                prop_assert_eq!(ra, rb);
                prop_assert_eq!(a.store.app_hash(), b.store.app_hash());
            }
        }
    }
}
