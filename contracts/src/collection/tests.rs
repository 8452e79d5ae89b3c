//! Collection contract tests: the split rule (table and proptest), a refusal table, the complete and
//! expire flows with their ledger effects.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;
use crate::chain::tx::Call as TxCall;
use crate::primitives::money::Currency;
use crate::testkit::{amt, cny, pid, pk, Chain, ACQ, HOST};
use crate::wallet::{balance, wallet_id};

// 1 host-a (platform, governor, wallet host), 2 acq-b (platform, governor, acquirer),
// 3 gov-c (governor), 50 merchant key, 20..=23 payers with 100 CNY each, 24 a JPY wallet.
const MERCHANT_KEY: u8 = 50;
const PAYERS: [u8; 4] = [20, 21, 22, 23];
const YEN: u8 = 24;
const STRANGER: u8 = 40;

fn merchant() -> MerchantId {
    MerchantId::derive(&pk(MERCHANT_KEY))
}

fn wal_of(user: u8) -> Hash {
    wallet_id(&pk(user), Currency::CNY)
}

fn fixture() -> Chain {
    static FIXTURE: std::sync::OnceLock<Chain> = std::sync::OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            let mut c = Chain::payments(
                &[(MERCHANT_KEY, "Noodle Bar")],
                &[
                    (PAYERS[0], Currency::CNY, "100.00"),
                    (PAYERS[1], Currency::CNY, "100.00"),
                    (PAYERS[2], Currency::CNY, "100.00"),
                    (PAYERS[3], Currency::CNY, "100.00"),
                    (YEN, Currency::JPY, "1000"),
                ],
            );
            // A verified user with no wallet and no part in any collection.
            c.verify_user(crate::testkit::HOST, STRANGER);
            c
        })
        .clone()
}

fn col(c: Call) -> TxCall {
    TxCall::Collection(c)
}

fn now_ms(c: &Chain) -> u64 {
    1_700_000_000_000 + 1000 * (c.height + 1)
}

fn create_call(c: &Chain, total: &str, shares: Shares, password: Option<&str>) -> TxCall {
    col(Call::Create {
        merchant_id: merchant(),
        acquirer: pid("acq-b"),
        total: cny(total),
        shares,
        expires_at_ms: now_ms(c) + 60_000,
        password_hash: password.map(password_hash),
    })
}

/// Creates a collection of 100.00 CNY for 3 equal payers (33.34, 33.33, 33.33) by the merchant key.
fn create(c: &mut Chain, password: Option<&str>) -> Hash {
    let call = create_call(c, "100.00", Shares::Equal { payers: 3 }, password);
    let r = c.ok(MERCHANT_KEY, call);
    r.tx_hash
}

fn pay_call(id: Hash, share: u32, payer: u8, v: &str, password: Option<&str>) -> TxCall {
    col(Call::Pay {
        collection: id,
        share,
        from_wallet: wal_of(payer),
        amount: cny(v),
        password: password.map(str::to_owned),
    })
}

fn tbs() -> Account {
    Account::ToBeSettled {
        merchant_id: merchant(),
        acquirer: pid("acq-b"),
        currency: Currency::CNY,
    }
}

fn bal(c: &Chain, a: &Account) -> String {
    balance(&c.store, a).unwrap().to_string()
}

fn values(v: &[Amount]) -> Vec<String> {
    v.iter().map(|a| a.value.to_string()).collect()
}

#[test]
fn split_table() {
    let eq = |n| Shares::Equal { payers: n };
    let p = |w: &[u32]| Shares::Proportions(w.to_vec());
    let cases: Vec<(Amount, Shares, Vec<&str>)> = vec![
        (cny("100.00"), eq(3), vec!["33.34", "33.33", "33.33"]),
        (cny("100"), eq(3), vec!["33.34", "33.33", "33.33"]),
        (cny("0.02"), eq(2), vec!["0.01", "0.01"]),
        (cny("10.00"), eq(4), vec!["2.50", "2.50", "2.50", "2.50"]),
        (
            cny("100.00"),
            p(&[1, 2, 1]),
            vec!["25.00", "50.00", "25.00"],
        ),
        (
            cny("1.00"),
            p(&[1, 1, 1, 3]),
            vec!["0.17", "0.17", "0.16", "0.50"],
        ),
        // Remainders 2/3 beat 1/3: the largest remainder takes the unit, not the earliest share.
        (cny("0.10"), p(&[1, 2]), vec!["0.03", "0.07"]),
        (amt("1000", Currency::JPY), eq(3), vec!["334", "333", "333"]),
        (
            amt("1.000", Currency::BHD),
            eq(3),
            vec!["0.334", "0.333", "0.333"],
        ),
        (amt("7", Currency::JPY), eq(7), vec!["1"; 7]),
    ];
    for (total, shares, want) in cases {
        let got = split(&total, &shares).unwrap();
        assert_eq!(values(&got), want, "{total} {shares:?}");
    }
    let refused: Vec<(Amount, Shares)> = vec![
        (cny("0.02"), eq(3)),
        (cny("1.00"), eq(0)),
        (cny("1.00"), eq(MAX_PAYERS + 1)),
        (cny("1.00"), p(&[])),
        (cny("1.00"), p(&[1, 0])),
        (cny("1.00"), p(&[MAX_WEIGHT + 1])),
        (cny("0.01"), p(&[1, 1000])),
    ];
    for (total, shares) in refused {
        assert!(
            matches!(split(&total, &shares), Err(Error::InvalidShares(_))),
            "{total} {shares:?}"
        );
    }
    assert_eq!(split(&cny("1.005"), &eq(2)).unwrap_err().code(), 302);
    assert_eq!(split(&cny("0"), &eq(2)).unwrap_err().code(), 301);
}

fn shares_strategy() -> impl Strategy<Value = Shares> {
    prop_oneof![
        (1u32..=MAX_PAYERS).prop_map(|payers| Shares::Equal { payers }),
        proptest::collection::vec(1u32..=MAX_WEIGHT, 1..=(MAX_PAYERS as usize))
            .prop_map(Shares::Proportions),
    ]
}

proptest! {
    #[test]
    fn shares_sum_to_the_total(
        units in 1u64..=1_000_000_000_000u64,
        currency in proptest::sample::select(vec![Currency::JPY, Currency::CNY, Currency::BHD]),
        shares in shares_strategy(),
    ) {
        let digits = currency.minor_units().unwrap();
        let total = Amount {
            value: Decimal::from_i128_with_scale(i128::from(units), digits),
            currency,
        };
        prop_assume!(total.validate().is_ok());
        let n = match &shares { Shares::Equal { payers } => *payers as u64, Shares::Proportions(w) => w.len() as u64 };
        match split(&total, &shares) {
            Ok(parts) => {
                prop_assert_eq!(parts.len() as u64, n);
                let sum: Decimal = parts.iter().map(|a| a.value).sum();
                prop_assert_eq!(sum, total.value);
                for a in &parts {
                    prop_assert!(a.validate().is_ok(), "{}", a);
                    prop_assert_eq!(a.value.scale(), digits);
                    prop_assert_eq!(a.currency, currency);
                }
                if let Shares::Equal { .. } = shares {
                    // Equal split: shares differ by at most one unit, larger ones first.
                    let unit = Decimal::new(1, digits);
                    prop_assert!(parts.windows(2).all(|w| w[0].value >= w[1].value));
                    prop_assert!(parts[0].value - parts[parts.len() - 1].value <= unit);
                }
            }
            // Only refused when some share would be below one minor unit.
            Err(Error::InvalidShares(_)) => {
                let w: Vec<u128> = match &shares {
                    Shares::Equal { payers } => vec![1; *payers as usize],
                    Shares::Proportions(w) => w.iter().map(|x| u128::from(*x)).collect(),
                };
                let sum: u128 = w.iter().sum();
                let min = *w.iter().min().unwrap();
                prop_assert!(u128::from(units) * min < sum || u128::from(units) < w.len() as u128);
            }
            Err(e) => prop_assert!(false, "unexpected {e}"),
        }
    }
}

#[test]
fn three_payers_complete_and_credit_the_payee_once() {
    let mut c = fixture();
    let id = create(&mut c, Some("lunch"));
    let v = collection_view(&c.store, &id).unwrap().unwrap();
    assert_eq!(v.outstanding.to_string(), "100.00");
    assert_eq!(
        values(
            &v.collection
                .sub_orders
                .iter()
                .map(|s| s.amount)
                .collect::<Vec<_>>()
        ),
        ["33.34", "33.33", "33.33"]
    );
    for (i, (payer, v)) in [(20u8, "33.34"), (21, "33.33"), (22, "33.33")]
        .into_iter()
        .enumerate()
    {
        assert_eq!(bal(&c, &tbs()), "0", "payee credited before the last share");
        c.ok(payer, pay_call(id, i as u32, payer, v, Some("lunch")));
    }
    assert_eq!(bal(&c, &tbs()), "100.00");
    assert_eq!(
        bal(
            &c,
            &Account::Escrow {
                collection: id,
                currency: Currency::CNY
            }
        ),
        "0.00"
    );
    assert_eq!(bal(&c, &Account::Wallet { id: wal_of(20) }), "66.66");
    let v = collection_view(&c.store, &id).unwrap().unwrap();
    assert_eq!(v.collection.status, Status::Completed);
    assert_eq!(v.outstanding.to_string(), "0.00");
    assert_eq!(v.paid.to_string(), "100.00");
    // A fourth payment is refused and credits nothing.
    let r = c.call(23, pay_call(id, 0, 23, "33.34", Some("lunch")));
    assert_eq!(r.code, 504, "{:?}", r.error);
    assert_eq!(bal(&c, &tbs()), "100.00");
    c.check_app_hash();
}

#[test]
fn expiry_refunds_paid_shares() {
    let mut c = fixture();
    let id = create(&mut c, None);
    c.ok(20, pay_call(id, 0, 20, "33.34", None));
    c.ok(21, pay_call(id, 1, 21, "33.33", None));
    assert_eq!(bal(&c, &Account::Wallet { id: wal_of(20) }), "66.66");
    let r = c.call(STRANGER, col(Call::Expire { collection: id }));
    assert_eq!(r.code, 511, "{:?}", r.error);
    c.advance_to(c.height + 120);
    let r = c.call(22, pay_call(id, 2, 22, "33.33", None));
    assert_eq!(r.code, 505, "{:?}", r.error);
    let r = c.ok(STRANGER, col(Call::Expire { collection: id }));
    assert_eq!(
        r.events
            .iter()
            .filter(|e| e.kind == "collection_share_refunded")
            .count(),
        2
    );
    assert_eq!(bal(&c, &Account::Wallet { id: wal_of(20) }), "100.00");
    assert_eq!(bal(&c, &Account::Wallet { id: wal_of(21) }), "100.00");
    assert_eq!(
        bal(
            &c,
            &Account::Escrow {
                collection: id,
                currency: Currency::CNY
            }
        ),
        "0.00"
    );
    assert_eq!(bal(&c, &tbs()), "0");
    let v = collection_view(&c.store, &id).unwrap().unwrap();
    assert_eq!(v.collection.status, Status::Expired);
    assert!(v.collection.sub_orders[..2].iter().all(|s| s.refunded));
    let r = c.call(STRANGER, col(Call::Expire { collection: id }));
    assert_eq!(r.code, 512);
    let r = c.call(22, pay_call(id, 2, 22, "33.33", None));
    assert_eq!(r.code, 505);
    c.check_app_hash();
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
fn create_table() {
    let c = fixture();
    let eq3 = Shares::Equal { payers: 3 };
    let with = |f: &dyn Fn(&mut Call)| {
        let TxCall::Collection(mut call) = create_call(&c, "100.00", eq3.clone(), None) else {
            unreachable!()
        };
        f(&mut call);
        col(call)
    };
    let now = now_ms(&c);
    run_table(
        &c,
        vec![
            ("merchant key", MERCHANT_KEY, with(&|_| {}), 0),
            ("acquirer", ACQ, with(&|_| {}), 0),
            ("other platform", HOST, with(&|_| {}), 500),
            ("a payer", 20, with(&|_| {}), 500),
            (
                "not an acquirer",
                HOST,
                with(&|c| {
                    if let Call::Create { acquirer, .. } = c {
                        *acquirer = pid("host-a");
                    }
                }),
                331,
            ),
            (
                "too small",
                MERCHANT_KEY,
                with(&|c| {
                    if let Call::Create { total, .. } = c {
                        *total = cny("0.02");
                    }
                }),
                501,
            ),
            (
                "too many decimals",
                MERCHANT_KEY,
                with(&|c| {
                    if let Call::Create { total, .. } = c {
                        *total = cny("1.001");
                    }
                }),
                302,
            ),
            (
                "expiry in the past",
                MERCHANT_KEY,
                with(&|c| {
                    if let Call::Create { expires_at_ms, .. } = c {
                        *expires_at_ms = now;
                    }
                }),
                502,
            ),
            (
                "expiry too far",
                MERCHANT_KEY,
                with(&|c| {
                    if let Call::Create { expires_at_ms, .. } = c {
                        *expires_at_ms = now + MAX_VALIDITY_MS + 1;
                    }
                }),
                502,
            ),
        ],
    );
}

#[test]
fn pay_table() {
    let mut c = fixture();
    let id = create(&mut c, Some("lunch"));
    c.ok(20, pay_call(id, 0, 20, "33.34", Some("lunch")));
    let jpy_pay = col(Call::Pay {
        collection: id,
        share: 2,
        from_wallet: wallet_id(&pk(YEN), Currency::JPY),
        amount: cny("33.33"),
        password: Some("lunch".into()),
    });
    let jpy_amount = col(Call::Pay {
        collection: id,
        share: 2,
        from_wallet: wal_of(21),
        amount: amt("33", Currency::JPY),
        password: Some("lunch".into()),
    });
    let others_wallet = col(Call::Pay {
        collection: id,
        share: 1,
        from_wallet: wal_of(22),
        amount: cny("33.33"),
        password: Some("lunch".into()),
    });
    run_table(
        &c,
        vec![
            ("ok", 21, pay_call(id, 1, 21, "33.33", Some("lunch")), 0),
            (
                "unknown collection",
                21,
                pay_call(Hash::digest(b"x"), 1, 21, "33.33", Some("lunch")),
                503,
            ),
            ("no password", 21, pay_call(id, 1, 21, "33.33", None), 506),
            (
                "wrong password",
                21,
                pay_call(id, 1, 21, "33.33", Some("dinner")),
                506,
            ),
            (
                "same payer twice",
                20,
                pay_call(id, 1, 20, "33.33", Some("lunch")),
                507,
            ),
            (
                "share already paid",
                21,
                pay_call(id, 0, 21, "33.34", Some("lunch")),
                508,
            ),
            (
                "unknown share",
                21,
                pay_call(id, 3, 21, "33.33", Some("lunch")),
                509,
            ),
            (
                "wrong amount",
                21,
                pay_call(id, 1, 21, "33.34", Some("lunch")),
                510,
            ),
            ("wrong amount currency", 21, jpy_amount, 304),
            ("wallet in another currency", YEN, jpy_pay, 304),
            ("not the wallet's owner", 21, others_wallet, 318),
        ],
    );
    // After completion, after expiry: see the flow tests (504, 505).
}

#[test]
fn insufficient_balance_refused() {
    let mut c = fixture();
    let call = create_call(&c, "300.00", Shares::Equal { payers: 2 }, None);
    let id = c.ok(ACQ, call).tx_hash;
    let r = c.call(20, pay_call(id, 0, 20, "150.00", None));
    assert_eq!(r.code, 327, "{:?}", r.error);
}

#[test]
fn call_json_shape() {
    let call = TxCall::Collection(Call::Pay {
        collection: Hash::ZERO,
        share: 1,
        from_wallet: Hash::ZERO,
        amount: cny("33.33"),
        password: None,
    });
    let v = serde_json::to_value(&call).unwrap();
    assert_eq!(v["collection"]["pay"]["amount"]["value"], "33.33");
    let s = serde_json::to_value(Shares::Proportions(vec![1, 2])).unwrap();
    assert_eq!(s, serde_json::json!({"proportions": [1, 2]}));
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

/// A share pays the merchant (on completion): the merchant's certificate and the payer's must be
/// valid when each share is paid, and the merchant's when the collection is created.
#[test]
fn certificates_gate_collections() {
    let mut c = fixture();
    let id = create(&mut c, None);
    c.ok(PAYERS[0], pay_call(id, 0, PAYERS[0], "33.34", None));

    // The host revokes payer 1's certificate: it can no longer pay a share; payer 2 still can.
    let mut payer_revoked = c.clone();
    revoke_cert(&mut payer_revoked, HOST, PAYERS[1]);
    let r = payer_revoked.call(PAYERS[1], pay_call(id, 1, PAYERS[1], "33.33", None));
    assert_eq!(r.code, 733, "{r:?}");
    assert!(r.error.unwrap().starts_with("payer "));
    assert_eq!(
        bal(
            &payer_revoked,
            &Account::Wallet {
                id: wal_of(PAYERS[1])
            }
        ),
        "100.00"
    );
    payer_revoked.ok(PAYERS[2], pay_call(id, 2, PAYERS[2], "33.33", None));

    // The acquirer revokes the merchant's certificate: no further share, no new collection.
    revoke_cert(&mut c, ACQ, MERCHANT_KEY);
    let r = c.call(PAYERS[1], pay_call(id, 1, PAYERS[1], "33.33", None));
    assert_eq!(r.code, 733, "{r:?}");
    assert!(r
        .error
        .unwrap()
        .starts_with(&format!("merchant {} ", merchant())));
    let call = create_call(&c, "10.00", Shares::Equal { payers: 2 }, None);
    assert_eq!(c.call(MERCHANT_KEY, call).code, 733);
    assert_eq!(bal(&c, &tbs()), "0");
    c.check_app_hash();
}
