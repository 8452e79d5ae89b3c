//! Store contract tests: a refusal table for every call, the confirm flow with its ledger effects,
//! standing authorisations under and above the limit, expiry on block time.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::chain::tx::Call as TxCall;
use crate::primitives::money::Currency;
use crate::testkit::{cny, pid, pk, Chain, ACQ};
use crate::wallet::{balance, wallet_id};

// 1 host-a (platform, governor, wallet host), 2 acq-b (platform, governor, acquirer), 3 gov-c,
// 50 the store's merchant key, 51 another merchant's key; 20 Alice and 21 Bob with 100 CNY each,
// 24 a JPY wallet with 1000 JPY.
const STORE_KEY: u8 = 50;
const OTHER_STORE: u8 = 51;
const ALICE: u8 = 20;
const BOB: u8 = 21;
const YEN: u8 = 24;
const STRANGER: u8 = 40;

fn store() -> MerchantId {
    MerchantId::derive(&pk(STORE_KEY))
}

fn wal_of(user: u8) -> Hash {
    wallet_id(&pk(user), Currency::CNY)
}

fn fixture() -> Chain {
    static FIXTURE: std::sync::OnceLock<Chain> = std::sync::OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            let mut c = Chain::payments(
                &[(STORE_KEY, "Corner Shop"), (OTHER_STORE, "Bakery")],
                &[
                    (ALICE, Currency::CNY, "100.00"),
                    (BOB, Currency::CNY, "100.00"),
                    (YEN, Currency::JPY, "1000"),
                ],
            );
            // A verified user with no wallet and no order.
            c.verify_user(crate::testkit::HOST, STRANGER);
            c
        })
        .clone()
}

fn st(c: Call) -> TxCall {
    TxCall::Store(c)
}

fn now_ms(c: &Chain) -> u64 {
    1_700_000_000_000 + 1000 * (c.height + 1)
}

fn create_call(c: &Chain, user: u8, order_no: &str, v: &str) -> TxCall {
    st(Call::CreateOrder {
        merchant_id: store(),
        acquirer: pid("acq-b"),
        user: pk(user),
        order_no: order_no.into(),
        amount: cny(v),
        items_digest: Hash::digest(b"2 x milk, 1 x bread"),
        expires_at_ms: now_ms(c) + 60_000,
    })
}

fn create(c: &mut Chain, user: u8, order_no: &str, v: &str) -> Hash {
    let call = create_call(c, user, order_no, v);
    c.ok(STORE_KEY, call).tx_hash
}

fn confirm(order: Hash, user: u8) -> TxCall {
    st(Call::Confirm {
        order,
        from_wallet: wal_of(user),
    })
}

fn authorise(limit: &str, user: u8) -> TxCall {
    st(Call::Authorise {
        merchant_id: store(),
        per_order_limit: cny(limit),
        from_wallet: wal_of(user),
    })
}

fn tbs() -> Account {
    Account::ToBeSettled {
        merchant_id: store(),
        acquirer: pid("acq-b"),
        currency: Currency::CNY,
    }
}

fn bal(c: &Chain, a: &Account) -> String {
    balance(&c.store, a).unwrap().to_string()
}

fn status(c: &Chain, id: &Hash) -> Status {
    order(&c.store, id).unwrap().unwrap().status
}

/// Each case on its own copy; a refusal changes nothing but the sender's nonce.
fn run_table(base: &Chain, cases: Vec<(&str, u8, TxCall, u32)>) {
    for (name, signer, call, code) in cases {
        let mut c = base.clone();
        let before = c.store.clone();
        let r = c.call(signer, call);
        assert_eq!(r.code, code, "{name}: {:?}", r.error);
        if code != 0 {
            use crate::chain::state::StateReader;
            let diff = (0..crate::chain::state::BUCKETS as u16)
                .filter(|b| {
                    before.bucket_entries(*b).unwrap() != c.store.bucket_entries(*b).unwrap()
                })
                .count();
            assert_eq!(diff, 1, "{name}: a refusal changed more than the nonce");
        }
    }
}

#[test]
fn user_confirms_and_the_store_is_credited_once() {
    let mut c = fixture();
    let id = create(&mut c, ALICE, "A-0001", "12.50");
    assert_eq!(status(&c, &id), Status::Pending);
    assert_eq!(bal(&c, &tbs()), "0");
    let r = c.ok(ALICE, confirm(id, ALICE));
    assert!(r.events.iter().any(|e| e.kind == "store_order_paid"));
    assert_eq!(bal(&c, &Account::Wallet { id: wal_of(ALICE) }), "87.50");
    assert_eq!(bal(&c, &tbs()), "12.50");
    let o = order(&c.store, &id).unwrap().unwrap();
    assert_eq!(o.status, Status::Paid);
    assert_eq!(o.paid_tx, Some(r.tx_hash));
    assert!(!o.auto_paid);
    // The payment is an ordinary wallet payment: the acquirer can refund it.
    let p = wallet::payment(&c.store, &r.tx_hash).unwrap().unwrap();
    assert_eq!(p.amount, cny("12.50"));
    assert_eq!(p.order_ref, "A-0001");
    // Paid twice: refused, nothing moves.
    let r2 = c.call(ALICE, confirm(id, ALICE));
    assert_eq!(r2.code, 606, "{:?}", r2.error);
    assert_eq!(bal(&c, &tbs()), "12.50");
    assert_eq!(bal(&c, &Account::Wallet { id: wal_of(ALICE) }), "87.50");
    let v = order_view(&c.store, &id, u64::MAX).unwrap().unwrap();
    assert!(!v.expired, "a paid order never expires");
    c.check_app_hash();
}

#[test]
fn pending_orders_expire_on_block_time() {
    let mut c = fixture();
    let id = create(&mut c, ALICE, "A-0002", "5.00");
    assert!(
        !order_view(&c.store, &id, now_ms(&c))
            .unwrap()
            .unwrap()
            .expired
    );
    c.advance_to(c.height + 120);
    let r = c.call(ALICE, confirm(id, ALICE));
    assert_eq!(r.code, 605, "{:?}", r.error);
    assert_eq!(bal(&c, &Account::Wallet { id: wal_of(ALICE) }), "100.00");
    assert!(
        order_view(&c.store, &id, now_ms(&c))
            .unwrap()
            .unwrap()
            .expired
    );
}

#[test]
fn standing_authorisation_pays_under_the_limit_only() {
    let mut c = fixture();
    c.ok(ALICE, authorise("20.00", ALICE));
    // At the limit: paid in the create tx.
    let r = c.ok(STORE_KEY, create_call(&c, ALICE, "B-1", "20.00"));
    assert!(r.events.iter().any(|e| e.kind == "store_order_paid"));
    let o = order(&c.store, &r.tx_hash).unwrap().unwrap();
    assert_eq!(o.status, Status::Paid);
    assert!(o.auto_paid);
    assert_eq!(bal(&c, &tbs()), "20.00");
    assert_eq!(bal(&c, &Account::Wallet { id: wal_of(ALICE) }), "80.00");
    // Above the limit: pending, the user confirms.
    let r = c.ok(STORE_KEY, create_call(&c, ALICE, "B-2", "20.01"));
    assert!(r.events.iter().any(|e| e.kind == "store_auto_pay_skipped"));
    assert_eq!(status(&c, &r.tx_hash), Status::Pending);
    assert_eq!(bal(&c, &tbs()), "20.00");
    c.ok(ALICE, confirm(r.tx_hash, ALICE));
    assert_eq!(bal(&c, &tbs()), "40.01");
    // Under the limit but the wallet cannot cover it: pending, not refused.
    c.ok(ALICE, authorise("90.00", ALICE));
    let r = c.ok(STORE_KEY, create_call(&c, ALICE, "B-3", "80.00"));
    assert_eq!(status(&c, &r.tx_hash), Status::Pending);
    assert_eq!(bal(&c, &Account::Wallet { id: wal_of(ALICE) }), "59.99");
    // Another user's orders are not paid by Alice's authorisation.
    let r = c.ok(STORE_KEY, create_call(&c, BOB, "B-4", "1.00"));
    assert_eq!(status(&c, &r.tx_hash), Status::Pending);
    // Revoked: nothing is paid automatically any more.
    c.ok(
        ALICE,
        st(Call::Revoke {
            merchant_id: store(),
        }),
    );
    assert!(authorisation(&c.store, &pk(ALICE), &store())
        .unwrap()
        .is_none());
    let r = c.ok(STORE_KEY, create_call(&c, ALICE, "B-5", "1.00"));
    assert_eq!(status(&c, &r.tx_hash), Status::Pending);
    c.check_app_hash();
}

#[test]
fn create_table() {
    let c = fixture();
    let with = |f: &dyn Fn(&mut Call)| {
        let TxCall::Store(mut call) = create_call(&c, ALICE, "T-1", "10.00") else {
            unreachable!()
        };
        f(&mut call);
        st(call)
    };
    let mut dup = c.clone();
    create(&mut dup, ALICE, "T-1", "10.00");
    let now = now_ms(&c);
    let cases: Vec<(&str, u8, TxCall, u32)> = vec![
        ("ok", STORE_KEY, create_call(&c, ALICE, "T-1", "10.00"), 0),
        (
            "not the store's key",
            OTHER_STORE,
            create_call(&c, ALICE, "T-1", "10.00"),
            600,
        ),
        (
            "a platform is not the store",
            ACQ,
            create_call(&c, ALICE, "T-1", "10.00"),
            600,
        ),
        (
            "empty order no",
            STORE_KEY,
            create_call(&c, ALICE, "", "10.00"),
            601,
        ),
        (
            "order no too long",
            STORE_KEY,
            create_call(&c, ALICE, &"x".repeat(33), "10.00"),
            601,
        ),
        (
            "order no with a space",
            STORE_KEY,
            create_call(&c, ALICE, "A 1", "10.00"),
            601,
        ),
        (
            "expiry in the past",
            STORE_KEY,
            with(&|x| {
                if let Call::CreateOrder { expires_at_ms, .. } = x {
                    *expires_at_ms = now - 1;
                }
            }),
            602,
        ),
        (
            "expiry too far",
            STORE_KEY,
            with(&|x| {
                if let Call::CreateOrder { expires_at_ms, .. } = x {
                    *expires_at_ms = now + MAX_VALIDITY_MS + 1;
                }
            }),
            602,
        ),
        (
            "zero amount",
            STORE_KEY,
            create_call(&c, ALICE, "T-1", "0"),
            301,
        ),
        (
            "sub-fen amount",
            STORE_KEY,
            create_call(&c, ALICE, "T-1", "1.005"),
            302,
        ),
        (
            "unknown acquirer",
            STORE_KEY,
            with(&|x| {
                if let Call::CreateOrder { acquirer, .. } = x {
                    *acquirer = pid("host-a");
                }
            }),
            331,
        ),
    ];
    run_table(&c, cases);
    run_table(
        &dup,
        vec![(
            "duplicate order no",
            STORE_KEY,
            create_call(&dup, BOB, "T-1", "3.00"),
            604,
        )],
    );
}

#[test]
fn confirm_table() {
    let mut c = fixture();
    let id = create(&mut c, ALICE, "C-1", "10.00");
    let big = create(&mut c, ALICE, "C-2", "100.01");
    let yen_order = create(&mut c, YEN, "C-3", "10.00");
    let mut paid = c.clone();
    paid.ok(ALICE, confirm(id, ALICE));
    let mut late = c.clone();
    late.advance_to(late.height + 120);
    let cases: Vec<(&str, u8, TxCall, u32)> = vec![
        ("ok", ALICE, confirm(id, ALICE), 0),
        (
            "unknown order",
            ALICE,
            confirm(Hash::digest(b"nope"), ALICE),
            603,
        ),
        ("another user's order", BOB, confirm(id, BOB), 607),
        ("a stranger", STRANGER, confirm(id, ALICE), 607),
        ("insufficient balance", ALICE, confirm(big, ALICE), 327),
        ("someone else's wallet", ALICE, confirm(id, BOB), 318),
        (
            "no such wallet",
            ALICE,
            st(Call::Confirm {
                order: id,
                from_wallet: wallet_id(&pk(ALICE), Currency::JPY),
            }),
            316,
        ),
        (
            "wallet in another currency",
            YEN,
            st(Call::Confirm {
                order: yen_order,
                from_wallet: wallet_id(&pk(YEN), Currency::JPY),
            }),
            304,
        ),
    ];
    run_table(&c, cases);
    run_table(
        &paid,
        vec![
            ("paid twice", ALICE, confirm(id, ALICE), 606),
            ("paid, by another user", BOB, confirm(id, BOB), 607),
        ],
    );
    run_table(&late, vec![("expired", ALICE, confirm(id, ALICE), 605)]);
}

#[test]
fn authorise_and_revoke_table() {
    let c = fixture();
    let cases: Vec<(&str, u8, TxCall, u32)> = vec![
        ("ok", ALICE, authorise("50.00", ALICE), 0),
        ("someone else's wallet", BOB, authorise("50.00", ALICE), 318),
        ("zero limit", ALICE, authorise("0", ALICE), 301),
        (
            "limit in another currency",
            YEN,
            st(Call::Authorise {
                merchant_id: store(),
                per_order_limit: cny("10.00"),
                from_wallet: wallet_id(&pk(YEN), Currency::JPY),
            }),
            304,
        ),
        (
            "unknown merchant",
            ALICE,
            st(Call::Authorise {
                merchant_id: MerchantId::derive(&pk(99)),
                per_order_limit: cny("10.00"),
                from_wallet: wal_of(ALICE),
            }),
            330,
        ),
        (
            "revoke without authorisation",
            ALICE,
            st(Call::Revoke {
                merchant_id: store(),
            }),
            608,
        ),
    ];
    run_table(&c, cases);
}

#[test]
fn call_json_shape() {
    let call = st(Call::Confirm {
        order: Hash([1; 32]),
        from_wallet: Hash([2; 32]),
    });
    let j = serde_json::to_value(&call).unwrap();
    assert!(j["store"]["confirm"]["order"].is_string(), "{j}");
}

fn revoke_cert(c: &mut Chain, platform_key: u8, party: u8) {
    let serial = crate::ca::party_cert(&c.store, &pk(party))
        .unwrap()
        .unwrap()
        .serial;
    c.ok(
        platform_key,
        TxCall::Ca(crate::ca::Call::RevokePartyCert { serial }),
    );
}

/// A store order pays the store: its merchant certificate must be valid to create an order and
/// when the order is paid, the user's when it pays; an authorised user no longer certified is not
/// auto-paid (the order stays pending).
#[test]
fn certificates_gate_store_orders() {
    let mut c = fixture();
    let pending = create(&mut c, ALICE, "CERT-1", "5.00");
    c.ok(BOB, authorise("50.00", BOB));

    // Alice's certificate revoked: she cannot confirm.
    let mut alice_revoked = c.clone();
    revoke_cert(&mut alice_revoked, crate::testkit::HOST, ALICE);
    let r = alice_revoked.call(ALICE, confirm(pending, ALICE));
    assert_eq!(r.code, 733, "{r:?}");
    assert!(r.error.unwrap().starts_with("payer "));
    // Bob's revoked: his standing authorisation is skipped, the order stays pending.
    revoke_cert(&mut alice_revoked, crate::testkit::HOST, BOB);
    let call = create_call(&alice_revoked, BOB, "CERT-2", "5.00");
    let r = alice_revoked.ok(STORE_KEY, call);
    let skipped = r
        .events
        .iter()
        .find(|e| e.kind == "store_auto_pay_skipped")
        .unwrap();
    assert!(skipped.attribute("reason").unwrap().contains("is revoked"));
    assert_eq!(bal(&alice_revoked, &tbs()), "0");

    // The store's certificate revoked: no confirmation, no new order.
    revoke_cert(&mut c, ACQ, STORE_KEY);
    let r = c.call(ALICE, confirm(pending, ALICE));
    assert_eq!(r.code, 733, "{r:?}");
    assert!(r
        .error
        .unwrap()
        .starts_with(&format!("merchant {} ", store())));
    let call = create_call(&c, BOB, "CERT-3", "5.00");
    assert_eq!(c.call(STORE_KEY, call).code, 733);
    assert_eq!(bal(&c, &tbs()), "0");
    c.check_app_hash();
}
