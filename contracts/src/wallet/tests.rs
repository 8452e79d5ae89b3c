//! Wallet contract tests: table-driven refusals per call, flows, ledger invariants (proptest),
//! determinism.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use rust_decimal::Decimal;

use super::*;
use crate::chain::tx::Call as TxCall;
use crate::governance::{Action, Call as GovCall};
use crate::primitives::ids::ChainId;
use crate::private::PrivateView;
use crate::registry::Call as RegCall;
use crate::testkit::{mandate, member, pid, pk, route, Chain};

// Keys: 1 host-a (platform, governor), 2 acq-b (platform, governor), 3 gov-c (governor),
// 4 plat-d (platform, not a host), 20.. users, 50/51 merchant keys.
const HOST: u8 = 1;
const ACQ: u8 = 2;
const GOV: u8 = 3;
const OTHER: u8 = 4;
const ALICE: u8 = 20;
const BOB: u8 = 21;
const CAROL: u8 = 22; // verified, no wallet
const DAVE: u8 = 23; // not verified
const OTP: &str = "493817";

fn card(n: u8) -> Hash {
    Hash::digest(&[b'c', n])
}

fn merchant() -> MerchantId {
    MerchantId::derive(&pk(50))
}

fn merchant2() -> MerchantId {
    MerchantId::derive(&pk(51))
}

fn cny(v: &str) -> Amount {
    Amount {
        value: Decimal::from_str_exact(v).unwrap(),
        currency: Currency::CNY,
    }
}

fn wal(c: Call) -> TxCall {
    TxCall::Wallet(c)
}

fn gov(c: GovCall) -> TxCall {
    TxCall::Governance(c)
}

fn alice_wallet() -> Hash {
    wallet_id(&pk(ALICE), Currency::CNY)
}

fn bob_wallet() -> Hash {
    wallet_id(&pk(BOB), Currency::CNY)
}

fn verify(user: u8) -> TxCall {
    wal(Call::VerifyUser {
        user: pk(user),
        name_hash: Hash::digest(&[b'n', user]),
        id_hash: Hash::digest(&[b'i', user]),
        phone_hash: Hash::digest(&[b'p', user]),
    })
}

fn open(user: u8) -> TxCall {
    wal(Call::OpenWallet {
        user: pk(user),
        currency: Currency::CNY,
    })
}

/// Requests a binding by the host and returns its id.
fn request_binding(c: &mut Chain, user: u8, card_hash: Hash, otp: &str) -> Hash {
    let id = card_binding_id(&pk(HOST), c.next_nonce(HOST));
    c.ok(
        HOST,
        wal(Call::RequestCardBinding {
            user: pk(user),
            card_hash,
            otp_commitment: otp_commitment(&id, otp),
        }),
    );
    id
}

fn confirm(binding_id: Hash, otp: &str) -> TxCall {
    wal(Call::ConfirmCardBinding {
        binding_id,
        otp: otp.into(),
    })
}

/// The owner of the fixture's wallets (Alice for any other id).
fn owner_of(wallet: Hash) -> u8 {
    if wallet == bob_wallet() {
        BOB
    } else {
        ALICE
    }
}

/// A top-up of `wallet` with card 1, instructed by the wallet's owner.
fn top_up(wallet: Hash, v: &str) -> TxCall {
    top_up_by(owner_of(wallet), wallet, &cny(v), card(1))
}

/// A top-up whose instruction `signer` signed.
fn top_up_by(signer: u8, wallet: Hash, amount: &Amount, card_hash: Hash) -> TxCall {
    top_up_salted(signer, wallet, amount, card_hash, 0)
}

/// [`top_up_by`] with the instruction's request id salted (the same top-up twice on one chain).
fn top_up_salted(signer: u8, wallet: Hash, amount: &Amount, card_hash: Hash, salt: u64) -> TxCall {
    wal(Call::TopUp {
        wallet,
        amount: *amount,
        card_hash,
        mandate: mandate(signer, wallet, amount, card_hash, salt),
    })
}

fn pay(from_wallet: Hash, v: &str, order: &str) -> TxCall {
    wal(Call::Pay {
        from_wallet,
        merchant_id: merchant(),
        acquirer: pid("acq-b"),
        amount: cny(v),
        order_ref: order.into(),
        route: route(1, &[1, 2, 3]),
    })
}

fn bal(c: &Chain, a: &Account) -> Decimal {
    balance(&c.state(), a).unwrap()
}

fn wallet_acct(id: Hash) -> Account {
    Account::Wallet { id }
}

fn tbs() -> Account {
    Account::ToBeSettled {
        merchant_id: merchant(),
        acquirer: pid("acq-b"),
        currency: Currency::CNY,
    }
}

fn clearing(p: &str) -> Account {
    Account::Clearing {
        platform: pid(p),
        currency: Currency::CNY,
    }
}

/// host-a qualified; both platforms' CAs approved; merchant 1 acquired by acq-b (merchant 2
/// registered, no record), both certified by acq-b; Alice and Bob verified and certified by host-a
/// with CNY wallets and card 1 bound; Alice holds 100.00, Bob 50.00; Carol verified and certified
/// only; Dave unknown. Built once, cloned per test.
fn fixture() -> Chain {
    static FIXTURE: std::sync::OnceLock<Chain> = std::sync::OnceLock::new();
    FIXTURE.get_or_init(build_fixture).clone()
}

/// The fixture on a chain with private state (every wallet call sealed, state encrypted).
fn private_fixture() -> Chain {
    static FIXTURE: std::sync::OnceLock<Chain> = std::sync::OnceLock::new();
    FIXTURE.get_or_init(|| build_fixture_in(true)).clone()
}

fn fixture_in(private: bool) -> Chain {
    if private {
        private_fixture()
    } else {
        fixture()
    }
}

fn build_fixture() -> Chain {
    build_fixture_in(false)
}

fn build_fixture_in(private: bool) -> Chain {
    let members = vec![
        member(HOST, "host-a", &[Role::Platform, Role::Governor]),
        member(ACQ, "acq-b", &[Role::Platform, Role::Governor]),
        member(GOV, "gov-c", &[Role::Governor]),
        member(OTHER, "plat-d", &[Role::Platform]),
    ];
    let mut c = if private {
        Chain::new_private(members)
    } else {
        Chain::new(members)
    };
    c.ok(
        HOST,
        gov(GovCall::Propose {
            action: Action::QualifyWalletHost {
                platform: pid("host-a"),
            },
        }),
    );
    c.ok(
        ACQ,
        gov(GovCall::Vote {
            proposal: 1,
            approve: true,
        }),
    );
    c.ok(
        GOV,
        gov(GovCall::Vote {
            proposal: 1,
            approve: true,
        }),
    );
    assert!(host(&c.store, &pid("host-a")).unwrap().is_some());
    // Proposals 2 and 3: the host's CA certifies its users, the acquirer's its merchants.
    c.approve_ca(HOST, &[ACQ, GOV], "host-a");
    c.approve_ca(HOST, &[ACQ, GOV], "acq-b");
    for (k, name) in [(50u8, "Noodle Bar"), (51, "Tea House")] {
        c.ok(
            ACQ,
            TxCall::Registry(RegCall::RegisterMerchant {
                name: name.into(),
                city: "Shanghai".into(),
                mcc: "5812".into(),
                country: "CN".into(),
                merchant_key: pk(k),
            }),
        );
    }
    c.ok(
        ACQ,
        TxCall::Registry(RegCall::PutRecord {
            merchant_id: merchant(),
            payload: vec![1, 2, 3],
        }),
    );
    c.ok(
        50,
        TxCall::Registry(RegCall::AcceptAcquirer {
            platform_id: pid("acq-b"),
        }),
    );
    for k in [50, 51] {
        c.certify(ACQ, "acq-b", k, PartyRole::Merchant);
    }
    for u in [ALICE, BOB, CAROL] {
        c.ok(HOST, verify(u));
        c.certify(HOST, "host-a", u, PartyRole::User);
    }
    for u in [ALICE, BOB] {
        c.ok(HOST, open(u));
        let b = request_binding(&mut c, u, card(1), OTP);
        c.ok(u, confirm(b, OTP));
    }
    c.ok(HOST, top_up(alice_wallet(), "100.00"));
    c.ok(HOST, top_up(bob_wallet(), "50"));
    c
}

/// Runs each case on its own copy of `base` and checks the receipt code (0 = success) and, on
/// refusal, that nothing but the nonce changed (nothing at all for an unknown sender, code 3).
fn run_table(base: &Chain, cases: Vec<(&str, u8, TxCall, u32)>) {
    for (name, signer, call, code) in cases {
        let mut c = base.clone();
        let before = c.store.clone();
        let r = c.call(signer, call);
        assert_eq!(r.code, code, "{name}: {:?}", r.error);
        if code != 0 {
            // Only the sender's nonce changed.
            let after = c.store.clone();
            let mut diff = 0;
            for b in 0..crate::chain::state::BUCKETS as u16 {
                use crate::chain::state::StateReader;
                let x = before.bucket_entries(b).unwrap();
                let y = after.bucket_entries(b).unwrap();
                if x != y {
                    diff += 1;
                }
            }
            let nonce_only = usize::from(code != 3);
            assert_eq!(
                diff, nonce_only,
                "{name}: a refusal changed more than the nonce"
            );
        }
    }
}

#[test]
fn fixture_balances_and_views() {
    let c = fixture();
    assert_eq!(bal(&c, &wallet_acct(alice_wallet())).to_string(), "100.00");
    assert_eq!(bal(&c, &wallet_acct(bob_wallet())).to_string(), "50.00");
    assert_eq!(bal(&c, &clearing("host-a")).to_string(), "-150.00");
    let v = wallet_view(&c.store, &alice_wallet()).unwrap().unwrap();
    assert_eq!(v.wallet.owner, pk(ALICE));
    assert_eq!(v.cards.len(), 1);
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["balance"], "100.00");
    assert_eq!(json["wallet"]["currency"], "CNY");
    assert_eq!(wallets_of(&c.store, &pk(ALICE)).unwrap().len(), 1);
    c.check_app_hash();
}

/// A 32-byte string that is not an ed25519 point.
fn invalid_key() -> PublicKey {
    (0u8..=255)
        .map(|n| {
            let mut b = [0u8; 32];
            b[0] = n;
            PublicKey(b)
        })
        .find(|k| k.validate().is_err())
        .unwrap()
}

#[test]
fn verify_user_table() {
    let base = fixture();
    run_table(
        &base,
        vec![
            ("host verifies new user", HOST, verify(DAVE), 0),
            ("host re-attests its user", HOST, verify(ALICE), 0),
            ("unqualified platform", OTHER, verify(DAVE), 311),
            ("acquirer is not a host", ACQ, verify(DAVE), 311),
            ("governor-only member", GOV, verify(DAVE), 310),
            ("unknown user cannot self-verify", DAVE, verify(DAVE), 3),
            (
                "invalid user key",
                HOST,
                wal(Call::VerifyUser {
                    user: invalid_key(),
                    name_hash: Hash::ZERO,
                    id_hash: Hash::ZERO,
                    phone_hash: Hash::ZERO,
                }),
                312,
            ),
        ],
    );
}

#[test]
fn user_hosted_elsewhere_and_revoked_host() {
    let mut c = fixture();
    // Qualify acq-b too; it cannot take over host-a's user.
    c.ok(
        HOST,
        gov(GovCall::Propose {
            action: Action::QualifyWalletHost {
                platform: pid("acq-b"),
            },
        }),
    );
    c.ok(
        ACQ,
        gov(GovCall::Vote {
            proposal: 4,
            approve: true,
        }),
    );
    c.ok(
        GOV,
        gov(GovCall::Vote {
            proposal: 4,
            approve: true,
        }),
    );
    let r = c.call(ACQ, verify(ALICE));
    assert_eq!(r.code, 313);
    assert!(r
        .error
        .unwrap()
        .contains("is hosted by platform host-a, not acq-b"));
    assert_eq!(c.call(ACQ, open(ALICE)).code, 313);
    // Revoke host-a: it can no longer top up; Alice can still pay.
    c.ok(
        ACQ,
        gov(GovCall::Propose {
            action: Action::RevokeWalletHost {
                platform: pid("host-a"),
            },
        }),
    );
    c.ok(
        HOST,
        gov(GovCall::Vote {
            proposal: 5,
            approve: true,
        }),
    );
    c.ok(
        GOV,
        gov(GovCall::Vote {
            proposal: 5,
            approve: true,
        }),
    );
    assert_eq!(c.call(HOST, top_up(alice_wallet(), "1")).code, 311);
    c.ok(ALICE, pay(alice_wallet(), "1.00", "after-revoke"));
}

#[test]
fn open_wallet_table() {
    let base = fixture();
    run_table(
        &base,
        vec![
            ("host opens for verified user", HOST, open(CAROL), 0),
            (
                "second currency",
                HOST,
                wal(Call::OpenWallet {
                    user: pk(ALICE),
                    currency: Currency::JPY,
                }),
                0,
            ),
            ("duplicate (user, currency)", HOST, open(ALICE), 315),
            ("unverified user", HOST, open(DAVE), 314),
            ("unqualified platform", OTHER, open(CAROL), 311),
            ("user opens own wallet", CAROL, open(CAROL), 310),
            (
                "unsupported currency",
                HOST,
                wal(Call::OpenWallet {
                    user: pk(CAROL),
                    currency: Currency::new("XYZ").unwrap(),
                }),
                300,
            ),
        ],
    );
}

#[test]
fn card_binding_protocol() {
    let mut c = fixture();
    c.ok(HOST, open(CAROL));
    // Refusals of step 1.
    let req = |user: u8, card_hash: Hash| {
        wal(Call::RequestCardBinding {
            user: pk(user),
            card_hash,
            otp_commitment: Hash::ZERO,
        })
    };
    run_table(
        &c,
        vec![
            ("host requests", HOST, req(CAROL, card(7)), 0),
            ("unqualified platform", OTHER, req(CAROL, card(7)), 311),
            ("user requests", CAROL, req(CAROL, card(7)), 310),
            ("unverified user", HOST, req(DAVE, card(7)), 314),
            ("card already bound", HOST, req(ALICE, card(1)), 320),
        ],
    );

    // Wrong codes count; the 3rd locks; a 4th attempt (even right) is refused.
    let b = request_binding(&mut c, CAROL, card(7), OTP);
    let r = c.call(CAROL, confirm(b, "000000"));
    assert_eq!(r.code, 323);
    assert_eq!(
        r.error.as_deref(),
        Some(format!("wrong one-time code for card binding {b}: 2 attempts left").as_str())
    );
    assert_eq!(card_binding(&c.store, &b).unwrap().unwrap().attempts, 1);
    assert_eq!(c.call(BOB, confirm(b, OTP)).code, 326); // not the user
    assert_eq!(c.call(CAROL, confirm(b, "12")).code, 338); // malformed, not counted
    assert_eq!(c.call(CAROL, confirm(b, "111111")).code, 323);
    let r = c.call(CAROL, confirm(b, "222222"));
    assert_eq!(r.code, 323);
    assert!(r.error.unwrap().contains("0 attempts left"));
    let binding = card_binding(&c.store, &b).unwrap().unwrap();
    assert_eq!(
        (binding.attempts, binding.status),
        (3, BindingStatus::Locked)
    );
    let r = c.call(CAROL, confirm(b, OTP));
    assert_eq!(r.code, 324, "4th attempt: {r:?}");
    assert!(cards_of(&c.store, &pk(CAROL)).unwrap().is_empty());

    // Expiry: confirmable up to `expires_at`, refused after.
    let b = request_binding(&mut c, CAROL, card(8), OTP);
    let expires = card_binding(&c.store, &b).unwrap().unwrap().expires_at;
    assert_eq!(expires, c.height + CARD_BINDING_TTL_BLOCKS);
    c.advance_to(expires);
    let r = c.call(CAROL, confirm(b, OTP));
    assert_eq!(r.code, 322, "{r:?}");

    let b = request_binding(&mut c, CAROL, card(9), OTP);
    c.advance_to(c.height + CARD_BINDING_TTL_BLOCKS - 1);
    let r = c.ok(CAROL, confirm(b, OTP));
    assert_eq!(r.events[0].kind, "card_bound");
    assert_eq!(c.call(CAROL, confirm(b, OTP)).code, 325);
    assert_eq!(c.call(CAROL, confirm(Hash::ZERO, OTP)).code, 321);
    let cards = cards_of(&c.store, &pk(CAROL)).unwrap();
    assert_eq!(cards.len(), 1);
    assert_eq!(cards[0].card_hash, card(9));
    c.check_app_hash();
}

#[test]
fn top_up_table() {
    let base = fixture();
    let with_card = |card_hash: Hash| top_up_by(ALICE, alice_wallet(), &cny("10.00"), card_hash);
    let amt = |v: &str, currency: Currency| {
        let amount = Amount {
            value: Decimal::from_str_exact(v).unwrap(),
            currency,
        };
        top_up_by(ALICE, alice_wallet(), &amount, card(1))
    };
    // The host alone, or an instruction for another top-up, authorises nothing.
    let signed_by_host = top_up_by(HOST, alice_wallet(), &cny("10.00"), card(1));
    let other_amount = match top_up(alice_wallet(), "10.00") {
        TxCall::Wallet(Call::TopUp {
            wallet,
            card_hash,
            mandate,
            ..
        }) => wal(Call::TopUp {
            wallet,
            amount: cny("99.00"),
            card_hash,
            mandate,
        }),
        other => other,
    };
    run_table(
        &base,
        vec![
            ("host tops up", HOST, top_up(alice_wallet(), "10.5"), 0),
            (
                "up to the default net debit cap (150.00 already owed)",
                HOST,
                top_up(alice_wallet(), "999850"),
                0,
            ),
            (
                "max amount, above the default net debit cap",
                HOST,
                top_up(alice_wallet(), "1000000000000"),
                344,
            ),
            (
                "unqualified platform",
                OTHER,
                top_up(alice_wallet(), "1"),
                311,
            ),
            ("acquirer", ACQ, top_up(alice_wallet(), "1"), 311),
            ("user tops up", ALICE, top_up(alice_wallet(), "1"), 310),
            ("unknown wallet", HOST, top_up(Hash::ZERO, "1"), 316),
            ("card not bound", HOST, with_card(card(2)), 319),
            ("instruction signed by the host", HOST, signed_by_host, 340),
            ("instruction for another amount", HOST, other_amount, 340),
            ("zero", HOST, amt("0", Currency::CNY), 301),
            ("negative", HOST, amt("-5.00", Currency::CNY), 301),
            ("too many decimals", HOST, amt("1.001", Currency::CNY), 302),
            (
                "too large",
                HOST,
                amt("1000000000000.01", Currency::CNY),
                303,
            ),
            ("wrong currency", HOST, amt("1", Currency::USD), 304),
            (
                "unsupported currency",
                HOST,
                amt("1", Currency::new("XYZ").unwrap()),
                300,
            ),
        ],
    );
}

#[test]
fn pay_table() {
    let base = fixture();
    let mut paid = base.clone();
    paid.ok(ALICE, pay(alice_wallet(), "10.00", "ORD-1"));
    let to = |m: MerchantId, acquirer: &str| {
        wal(Call::Pay {
            from_wallet: alice_wallet(),
            merchant_id: m,
            acquirer: pid(acquirer),
            amount: cny("1.00"),
            order_ref: "X".into(),
            route: route(1, &[1, 2, 3]),
        })
    };
    run_table(
        &base,
        vec![
            ("user pays", ALICE, pay(alice_wallet(), "15.00", "ORD-1"), 0),
            ("all of it", ALICE, pay(alice_wallet(), "100", "ORD-1"), 0),
            (
                "someone else's wallet",
                BOB,
                pay(alice_wallet(), "1", "ORD-1"),
                318,
            ),
            (
                "host pays for user",
                HOST,
                pay(alice_wallet(), "1", "ORD-1"),
                318,
            ),
            ("unknown wallet", ALICE, pay(Hash::ZERO, "1", "ORD-1"), 316),
            (
                "insufficient",
                ALICE,
                pay(alice_wallet(), "100.01", "ORD-1"),
                327,
            ),
            ("zero", ALICE, pay(alice_wallet(), "0.00", "ORD-1"), 301),
            ("empty order", ALICE, pay(alice_wallet(), "1", ""), 329),
            (
                "control in order",
                ALICE,
                pay(alice_wallet(), "1", "a\nb"),
                329,
            ),
            (
                "long order",
                ALICE,
                pay(alice_wallet(), "1", &"x".repeat(65)),
                329,
            ),
            ("no acquiring record", ALICE, to(merchant2(), "acq-b"), 331),
            (
                "acquirer without record",
                ALICE,
                to(merchant(), "host-a"),
                331,
            ),
            (
                "unknown merchant",
                ALICE,
                to(MerchantId::derive(&pk(99)), "acq-b"),
                330,
            ),
        ],
    );
    run_table(
        &paid,
        vec![
            (
                "replayed order",
                ALICE,
                pay(alice_wallet(), "10.00", "ORD-1"),
                328,
            ),
            (
                "same order from bob",
                BOB,
                pay(bob_wallet(), "1", "ORD-1"),
                328,
            ),
            (
                "next order",
                ALICE,
                pay(alice_wallet(), "10.00", "ORD-2"),
                0,
            ),
        ],
    );
    let mut c = paid.clone();
    let r = c.call(ALICE, pay(alice_wallet(), "10.00", "ORD-1"));
    let e = r.error.unwrap();
    assert!(
        e.starts_with(&format!(
            "order ORD-1 of merchant {} is already paid",
            merchant()
        )),
        "{e}"
    );
    let mut c = base.clone();
    c.ok(ALICE, pay(alice_wallet(), "88.00", "A"));
    let r = c.call(ALICE, pay(alice_wallet(), "15.00", "B"));
    assert_eq!(
        r.error.as_deref(),
        Some("insufficient balance: wallet holds 12.00 CNY, payment needs 15.00 CNY")
    );
    // A replayed transaction (same bytes) is refused by its nonce.
    let mut c = base.clone();
    let tx = c.tx(ALICE, pay(alice_wallet(), "1", "R"));
    assert!(c.run_block(vec![tx.clone()])[0].is_ok());
    let block = c.block(vec![tx]);
    assert!(crate::chain::executor::validate_block(&c.store, &block).is_err());
    let out = crate::chain::executor::execute_block(&c.store, &block).unwrap();
    assert_eq!(out.receipts[0].code, 1);
}

#[test]
fn pay_settle_refund_flow_and_statements() {
    let mut c = fixture();
    let r = c.ok(ALICE, pay(alice_wallet(), "30.00", "ORD-9"));
    let pay_height = c.height;
    let payment_id = r.tx_hash;
    assert_eq!(
        r.events[0].attribute("payment_id"),
        Some(payment_id.to_string().as_str())
    );
    let p = payment_for_order(&c.store, &merchant(), "ORD-9")
        .unwrap()
        .unwrap();
    assert_eq!(p.id, payment_id);
    assert_eq!(bal(&c, &tbs()).to_string(), "30.00");

    let refund = |payment: Hash, v: &str| {
        wal(Call::Refund {
            payment,
            amount: cny(v),
        })
    };
    run_table(
        &c,
        vec![
            ("partial", ACQ, refund(payment_id, "10.00"), 0),
            ("full", ACQ, refund(payment_id, "30.00"), 0),
            ("over amount", ACQ, refund(payment_id, "30.01"), 334),
            ("not the acquirer", HOST, refund(payment_id, "1"), 333),
            ("governor-only", GOV, refund(payment_id, "1"), 310),
            ("payer", ALICE, refund(payment_id, "1"), 310),
            ("unknown payment", ACQ, refund(Hash::ZERO, "1"), 332),
            ("too many decimals", ACQ, refund(payment_id, "0.001"), 302),
        ],
    );
    c.ok(ACQ, refund(payment_id, "10.00"));
    let r = c.call(ACQ, refund(payment_id, "20.01"));
    assert_eq!(r.code, 334);
    assert!(r
        .error
        .unwrap()
        .contains("paid 30.00 CNY, already refunded 10.00 CNY"));
    assert_eq!(
        payment_view(&c.store, &payment_id)
            .unwrap()
            .unwrap()
            .refundable
            .to_string(),
        "20.00"
    );

    // Settle 15 of the 20 left; a refund of 10 no longer fits in to-be-settled.
    let settle = |amount: Option<Amount>| {
        wal(Call::Settle {
            merchant_id: merchant(),
            amount,
        })
    };
    assert_eq!(c.call(ACQ, settle(Some(cny("20.01")))).code, 335);
    assert_eq!(c.call(HOST, settle(None)).code, 336);
    assert_eq!(c.call(OTHER, settle(None)).code, 336);
    assert_eq!(c.call(ALICE, settle(None)).code, 310);
    c.ok(ACQ, settle(Some(cny("15"))));
    let r = c.call(ACQ, refund(payment_id, "10.00"));
    assert_eq!(r.code, 335);
    assert_eq!(
        r.error.as_deref(),
        Some(
            format!(
            "to-be-settled balance of merchant {} at acq-b holds 5.00 CNY, refund needs 10.00 CNY",
            merchant()
        )
            .as_str()
        )
    );
    let r = c.ok(ACQ, settle(None));
    assert_eq!(r.events[0].attribute("amount"), Some("5.00"));
    assert_eq!(bal(&c, &tbs()), Decimal::ZERO);
    assert_eq!(bal(&c, &clearing("acq-b")).to_string(), "20.00");
    assert_eq!(c.call(ACQ, settle(None)).code, 336);

    // Statements: Alice's wallet: top-up, payment, refund.
    let st = statement(&c.store, &wallet_acct(alice_wallet()), 0, u64::MAX).unwrap();
    let kinds: Vec<_> = st.entries.iter().map(|e| (e.kind, e.side)).collect();
    assert_eq!(
        kinds,
        vec![
            (MovementKind::TopUp, Side::Credit),
            (MovementKind::Payment, Side::Debit),
            (MovementKind::Refund, Side::Credit)
        ]
    );
    assert_eq!(st.closing_balance.to_string(), "80.00");
    assert_eq!(st.entries[1].counterparty, tbs());
    // Period: from the payment's height on.
    let st = statement(
        &c.store,
        &wallet_acct(alice_wallet()),
        pay_height,
        pay_height,
    )
    .unwrap();
    assert_eq!(st.entries.len(), 1);
    assert_eq!(st.opening_balance.to_string(), "100.00");
    assert_eq!(st.closing_balance.to_string(), "70.00");
    let st = statement(
        &c.store,
        &wallet_acct(alice_wallet()),
        c.height + 1,
        u64::MAX,
    )
    .unwrap();
    assert!(st.entries.is_empty());
    assert_eq!(st.opening_balance.to_string(), "80.00");
    let json = serde_json::to_value(&st).unwrap();
    assert_eq!(json["account"]["wallet"]["id"], alice_wallet().to_string());
    // Both sides of every movement share its id and amount.
    let m = statement(&c.store, &tbs(), 0, u64::MAX).unwrap();
    assert_eq!(m.entries.len(), 4);
    for e in &m.entries {
        let other = statement(&c.store, &e.counterparty, e.height, e.height).unwrap();
        assert!(other
            .entries
            .iter()
            .any(|o| o.movement == e.movement && o.amount == e.amount && o.side != e.side));
    }
    c.check_app_hash();
}

#[test]
fn call_json_shapes() {
    let call = pay(alice_wallet(), "12.50", "ORD-1");
    let v = serde_json::to_value(&call).unwrap();
    assert_eq!(v["wallet"]["pay"]["amount"]["value"], "12.50");
    assert_eq!(v["wallet"]["pay"]["amount"]["currency"], "CNY");
    assert_eq!(v["wallet"]["pay"]["acquirer"], "acq-b");
    assert_eq!(v["wallet"]["pay"]["merchant_id"], merchant().to_string());
    let back: TxCall = serde_json::from_value(v).unwrap();
    assert_eq!(back, call);
    let bytes = crate::primitives::codec::encode(&back);
    assert_eq!(
        crate::primitives::codec::decode::<TxCall>(&bytes, bytes.len()).unwrap(),
        call
    );
    let settle = wal(Call::Settle {
        merchant_id: merchant(),
        amount: None,
    });
    let v = serde_json::to_value(&settle).unwrap();
    assert!(v["wallet"]["settle"]["amount"].is_null());
}

#[test]
fn two_executors_agree() {
    // Two chains built independently from genesis.
    let a = build_fixture();
    let b = build_fixture();
    assert_eq!(a.store.app_hash(), b.store.app_hash());
    let mut a = a;
    let mut b = b;
    let txs_a = vec![
        a.tx(ALICE, pay(alice_wallet(), "60", "P1")),
        a.tx(ALICE, pay(alice_wallet(), "60", "P2")),
        a.tx(BOB, pay(bob_wallet(), "10", "P3")),
    ];
    let txs_b = vec![
        b.tx(ALICE, pay(alice_wallet(), "60", "P1")),
        b.tx(ALICE, pay(alice_wallet(), "60", "P2")),
        b.tx(BOB, pay(bob_wallet(), "10", "P3")),
    ];
    assert_eq!(txs_a, txs_b);
    let block = a.block(txs_a);
    let out_a = crate::chain::executor::execute_block(&a.store, &block).unwrap();
    let out_b = crate::chain::executor::execute_block(&b.store, &block).unwrap();
    assert_eq!(out_a, out_b);
    let ra = a.run_block(block.txs.clone());
    let rb = b.run_block(txs_b);
    assert_eq!(ra, rb);
    assert_eq!(a.store.app_hash(), b.store.app_hash());
    // The second payment from Alice's wallet in the same block conflicts with the first.
    assert_eq!(
        ra.iter().map(|r| r.code).collect::<Vec<_>>(),
        vec![0, 327, 0]
    );
}

// ---------------------------------------------------------------------------------------------
// Invariants under random sequences.

#[derive(Debug, Clone)]
enum Op {
    TopUp { user: usize, cents: u64 },
    Pay { user: usize, cents: u64, order: u8 },
    Refund { payment: usize, cents: u64 },
    Settle { cents: Option<u64> },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0usize..2, 1u64..20_000).prop_map(|(user, cents)| Op::TopUp { user, cents }),
        (0usize..2, 1u64..15_000, 0u8..12).prop_map(|(user, cents, order)| Op::Pay {
            user,
            cents,
            order
        }),
        (0usize..8, 1u64..10_000).prop_map(|(payment, cents)| Op::Refund { payment, cents }),
        proptest::option::of(1u64..10_000).prop_map(|cents| Op::Settle { cents }),
    ]
}

fn cents(c: u64) -> Amount {
    Amount {
        value: Decimal::new(i64::try_from(c).unwrap(), 2),
        currency: Currency::CNY,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn money_is_conserved_and_never_negative(
        blocks in proptest::collection::vec(proptest::collection::vec(op(), 1..6), 1..8),
        private in any::<bool>(),
    ) {
        // Also over private state: every call sealed, the state encrypted, run by the vault.
        let mut c = fixture_in(private);
        let users = [ALICE, BOB];
        let wallets = [alice_wallet(), bob_wallet()];
        let accounts = vec![
            wallet_acct(alice_wallet()),
            wallet_acct(bob_wallet()),
            tbs(),
            clearing("host-a"),
            clearing("acq-b"),
        ];
        let total = |c: &Chain| -> Decimal { accounts.iter().map(|a| bal(c, a)).sum() };
        prop_assert_eq!(total(&c), Decimal::ZERO);
        let mut payments: Vec<Hash> = Vec::new();
        let mut refunded: BTreeMap<Hash, Decimal> = BTreeMap::new();
        let mut salt = 0u64;
        for ops in blocks {
            let mut txs = Vec::new();
            for op in &ops {
                let call = match op {
                    Op::TopUp { user, cents: v } => {
                        salt += 1;
                        top_up_salted(users[*user], wallets[*user], &cents(*v), card(1), salt)
                    }
                    Op::Pay { user, cents: v, order } => wal(Call::Pay {
                        from_wallet: wallets[*user], merchant_id: merchant(),
                        acquirer: pid("acq-b"), amount: cents(*v), order_ref: format!("O{order}"),
                        route: route(1, &[1, 2, 3]),
                    }),
                    Op::Refund { payment, cents: v } => wal(Call::Refund {
                        payment: payments.get(*payment).copied().unwrap_or(Hash::ZERO),
                        amount: cents(*v),
                    }),
                    Op::Settle { cents: v } => wal(Call::Settle {
                        merchant_id: merchant(), amount: v.map(cents),
                    }),
                };
                let signer = match op {
                    Op::TopUp { .. } => HOST,
                    Op::Pay { user, .. } => users[*user],
                    Op::Refund { .. } | Op::Settle { .. } => ACQ,
                };
                txs.push(c.tx(signer, call));
            }
            let receipts = c.run_block(txs);
            for (op, r) in ops.iter().zip(&receipts) {
                if let (Op::Pay { .. }, true) = (op, r.is_ok()) {
                    payments.push(r.tx_hash);
                }
                if let (Op::Refund { payment, cents: v }, true) = (op, r.is_ok()) {
                    *refunded.entry(payments[*payment]).or_default() += cents(*v).value;
                }
            }
            prop_assert_eq!(total(&c), Decimal::ZERO);
            for a in &accounts[..3] {
                prop_assert!(bal(&c, a) >= Decimal::ZERO, "{:?} negative", a);
            }
            for id in &payments {
                let p = payment(&c.state(), id).unwrap().unwrap();
                prop_assert!(p.refunded <= p.amount.value);
                prop_assert_eq!(p.refunded, refunded.get(id).copied().unwrap_or_default());
            }
            // Each order is paid at most once.
            let orders: std::collections::BTreeSet<_> = payments
                .iter()
                .map(|id| payment(&c.state(), id).unwrap().unwrap().order_ref)
                .collect();
            prop_assert_eq!(orders.len(), payments.len());
            // Statements replay to the balances.
            for a in &accounts {
                let st = statement(&c.state(), a, 0, u64::MAX).unwrap();
                let replay: Decimal = st.entries.iter().map(|e| match e.side {
                    Side::Credit => e.amount.value,
                    Side::Debit => -e.amount.value,
                }).sum();
                prop_assert_eq!(replay, bal(&c, a));
            }
        }
        c.check_app_hash();
    }
}

#[test]
fn a_top_up_instruction_loads_the_wallet_once() {
    let mut c = fixture();
    let call = top_up(alice_wallet(), "10.00");
    c.ok(HOST, call.clone());
    let again = c.call(HOST, call);
    assert_eq!(again.code, 341, "{:?}", again.error);
    c.check_app_hash();
}

fn pay_routed(order: &str, r: crate::registry::Route) -> TxCall {
    wal(Call::Pay {
        from_wallet: alice_wallet(),
        merchant_id: merchant(),
        acquirer: pid("acq-b"),
        amount: cny("1.00"),
        order_ref: order.into(),
        route: r,
    })
}

fn refused(c: &mut Chain, signer: u8, call: TxCall, code: u32) -> String {
    let r = c.call(signer, call);
    assert_eq!(r.code, code, "{:?}", r.error);
    r.error.unwrap_or_default()
}

fn reg(call: RegCall) -> TxCall {
    TxCall::Registry(call)
}

/// A payment names the record it was routed by; an update, a revoke or the merchant ending the
/// association makes that route stale, and the payment is refused until the payer looks it up again.
#[test]
fn payment_routed_by_a_stale_record_is_refused() {
    let mut c = fixture();
    c.ok(ALICE, pay_routed("R-1", route(1, &[1, 2, 3])));
    let paid = payment_for_order(&c.store, &merchant(), "R-1")
        .unwrap()
        .unwrap();
    assert_eq!(paid.route, Some(route(1, &[1, 2, 3])));

    // The acquirer updates its record: the old route is refused, the new one is paid.
    c.ok(
        ACQ,
        reg(RegCall::PutRecord {
            merchant_id: merchant(),
            payload: vec![4, 5],
        }),
    );
    let e = refused(&mut c, ALICE, pay_routed("R-2", route(1, &[1, 2, 3])), 343);
    assert!(e.contains("the merchant's acquiring record changed"), "{e}");
    assert!(e.contains("routed by version 1, now version 2"), "{e}");
    assert!(e.contains("look it up again"), "{e}");
    // The right version with a payload hash that is not the chain's.
    let e = refused(&mut c, ALICE, pay_routed("R-2", route(2, &[1, 2, 3])), 343);
    assert!(e.contains("now version 2 with another payload"), "{e}");
    c.ok(ALICE, pay_routed("R-2", route(2, &[4, 5])));

    // Revoked: refused.
    c.ok(
        ACQ,
        reg(RegCall::RevokeRecord {
            merchant_id: merchant(),
        }),
    );
    let e = refused(&mut c, ALICE, pay_routed("R-3", route(2, &[4, 5])), 343);
    assert!(e.contains("now revoked"), "{e}");

    // Never put by that platform: not an acquirer.
    let mut other = wal(Call::Pay {
        from_wallet: alice_wallet(),
        merchant_id: merchant(),
        acquirer: pid("host-a"),
        amount: cny("1.00"),
        order_ref: "R-3".into(),
        route: route(1, &[1]),
    });
    refused(&mut c, ALICE, other.clone(), 331);
    if let TxCall::Wallet(Call::Pay { merchant_id, .. }) = &mut other {
        *merchant_id = MerchantId::derive(&pk(99));
    }
    refused(&mut c, ALICE, other, 330);
}

/// A record is routed to only while the merchant accepts its platform: pending before, refused again
/// after the merchant ends the association; only the merchant's own key decides.
#[test]
fn merchant_consent_gates_routing() {
    let mut c = fixture();
    let m = merchant();
    // The merchant ends its association with acq-b: the record stays, pending, never routed to.
    c.ok(
        50,
        reg(RegCall::EndAcquirer {
            platform_id: pid("acq-b"),
        }),
    );
    assert_eq!(
        crate::registry::pending_of(&c.store, &m).unwrap(),
        vec![pid("acq-b")]
    );
    assert!(crate::registry::platforms_of(&c.store, &m)
        .unwrap()
        .is_empty());
    let e = refused(&mut c, ALICE, pay_routed("C-1", route(1, &[1, 2, 3])), 342);
    assert!(e.contains("pending the merchant's consent"), "{e}");
    // Nobody but the merchant can consent for it: not the acquirer, not another registered merchant
    // (51 accepts for itself only), not a stranger.
    for signer in [ACQ, HOST, ALICE] {
        refused(
            &mut c,
            signer,
            reg(RegCall::AcceptAcquirer {
                platform_id: pid("acq-b"),
            }),
            208,
        );
    }
    c.ok(
        51,
        reg(RegCall::AcceptAcquirer {
            platform_id: pid("acq-b"),
        }),
    );
    refused(&mut c, ALICE, pay_routed("C-1", route(1, &[1, 2, 3])), 342);
    // Bad consent calls.
    refused(
        &mut c,
        50,
        reg(RegCall::AcceptAcquirer {
            platform_id: pid("gov-c"),
        }),
        209,
    );
    refused(
        &mut c,
        50,
        reg(RegCall::EndAcquirer {
            platform_id: pid("acq-b"),
        }),
        211,
    );
    // Accepted again: routed to.
    c.ok(
        50,
        reg(RegCall::AcceptAcquirer {
            platform_id: pid("acq-b"),
        }),
    );
    refused(
        &mut c,
        50,
        reg(RegCall::AcceptAcquirer {
            platform_id: pid("acq-b"),
        }),
        210,
    );
    assert_eq!(
        crate::registry::platforms_of(&c.store, &m).unwrap(),
        vec![pid("acq-b")]
    );
    c.ok(ALICE, pay_routed("C-1", route(1, &[1, 2, 3])));
}

/// A wallet host's clearing account owes what it tops up until it settles; governance caps that
/// debt per currency, and a top-up past the cap is refused (nothing moves but the nonce).
#[test]
fn net_debit_cap_bounds_what_a_host_can_owe() {
    let mut c = fixture();
    let clearing = Account::Clearing {
        platform: pid("host-a"),
        currency: Currency::CNY,
    };
    // The fixture's top-ups (100.00 + 50.00) are owed; the default cap is far above.
    assert_eq!(bal(&c, &clearing).to_string(), "-150.00");
    assert_eq!(
        net_debit_cap(&c.store, &pid("host-a"), Currency::CNY).unwrap(),
        Decimal::from(DEFAULT_NET_DEBIT_CAP)
    );
    let next = 4; // the fixture made proposals 1 (qualification), 2 and 3 (CAs)
    c.ok(
        HOST,
        gov(GovCall::Propose {
            action: Action::SetNetDebitCap {
                platform: pid("host-a"),
                cap: cny("160.00"),
            },
        }),
    );
    for g in [ACQ, GOV] {
        c.ok(
            g,
            gov(GovCall::Vote {
                proposal: next,
                approve: true,
            }),
        );
    }
    c.ok(
        HOST,
        top_up_salted(ALICE, alice_wallet(), &cny("10.00"), card(1), 7),
    );
    assert_eq!(bal(&c, &clearing).to_string(), "-160.00");
    let r = c.call(
        HOST,
        top_up_salted(ALICE, alice_wallet(), &cny("0.01"), card(1), 8),
    );
    assert_eq!(r.code, 344, "{:?}", r.error);
    let e = r.error.unwrap_or_default();
    assert!(
        e.contains("would owe 160.01 CNY, above its net debit cap of 160.00 CNY"),
        "{e}"
    );
    assert_eq!(bal(&c, &clearing).to_string(), "-160.00");
    assert_eq!(bal(&c, &wallet_acct(alice_wallet())).to_string(), "110.00");
    // Paying and settling do not touch the cap: a payment moves wallet money to the merchant.
    c.ok(ALICE, pay(alice_wallet(), "5.00", "CAP-1"));
    // A cap that is not a positive amount is refused when proposed.
    let r = c.call(
        HOST,
        gov(GovCall::Propose {
            action: Action::SetNetDebitCap {
                platform: pid("host-a"),
                cap: Amount {
                    value: Decimal::ZERO,
                    currency: Currency::CNY,
                },
            },
        }),
    );
    assert_ne!(r.code, 0);
}

fn revoke_cert(c: &mut Chain, platform_key: u8, party: u8) -> crate::ca::Serial {
    let serial = crate::ca::party_cert(&c.store, &pk(party))
        .unwrap()
        .unwrap()
        .serial;
    c.ok(
        platform_key,
        TxCall::Ca(crate::ca::Call::RevokePartyCert {
            serial: serial.clone(),
        }),
    );
    serial
}

/// A wallet opens only for a party the host's CA certified as a user, valid at the block's time;
/// each refusal carries the CA's code, names the party, and writes nothing but the nonce.
#[test]
fn open_wallet_needs_a_valid_user_certificate() {
    use crate::testkit::{party_der, T0_S};
    let mut base = fixture();
    base.ok(HOST, verify(DAVE));
    let mut cases: Vec<(&str, u8, TxCall, u32)> = vec![("no certificate", HOST, open(DAVE), 741)];
    // Certified as a merchant, not a user.
    let mut merchant_role = base.clone();
    merchant_role.certify(HOST, "host-a", DAVE, PartyRole::Merchant);
    let r = merchant_role.call(HOST, open(DAVE));
    assert_eq!(r.code, 742, "{r:?}");
    let msg = r.error.unwrap();
    assert!(
        msg.contains("is certified as a merchant, not a user"),
        "{msg}"
    );
    // Certified as a user by the acquirer's CA, not by the host that verified it.
    let mut elsewhere = base.clone();
    elsewhere.certify(ACQ, "acq-b", DAVE, PartyRole::User);
    let r = elsewhere.call(HOST, open(DAVE));
    assert_eq!(r.code, 735, "{r:?}");
    assert!(r
        .error
        .unwrap()
        .contains("certificate is for platform acq-b, sender is host-a"));
    // Revoked by the host.
    let mut revoked = base.clone();
    revoked.certify(HOST, "host-a", DAVE, PartyRole::User);
    let serial = revoke_cert(&mut revoked, HOST, DAVE);
    let r = revoked.call(HOST, open(DAVE));
    assert_eq!(r.code, 733, "{r:?}");
    assert!(r.error.unwrap().contains(&format!(
        "certificate {serial} of platform host-a is revoked"
    )));
    // Valid when registered, expired at the block time the wallet is asked for.
    let mut expired = base.clone();
    let now_s = T0_S + expired.height + 1;
    let der = party_der("host-a", DAVE, PartyRole::User, 7, now_s - 10, now_s + 5);
    assert!(expired.register_cert(HOST, der, DAVE).is_ok());
    let h = expired.height;
    expired.advance_to(h + 10);
    let r = expired.call(HOST, open(DAVE));
    assert_eq!(r.code, 728, "{r:?}");
    assert!(r.error.unwrap().contains("party certificate expired at"));
    // The same opening succeeds once certified, and the refusals above changed nothing else.
    let mut certified = base.clone();
    certified.certify(HOST, "host-a", DAVE, PartyRole::User);
    cases.push(("certified", HOST, open(DAVE), 0));
    run_table(&base, cases[..1].to_vec());
    run_table(&certified, cases[1..].to_vec());
    for c in [merchant_role, elsewhere, revoked, expired] {
        assert!(wallets_of(&c.store, &pk(DAVE)).unwrap().is_empty());
        c.check_app_hash();
    }
}

/// A payment needs the merchant's valid certificate and the payer's: missing or revoked, refused
/// with the CA's code, the payer's money untouched; a payer revoked after its wallet opened no
/// longer pays from it.
#[test]
fn pay_needs_certified_merchant_and_payer() {
    let base = fixture();
    // A merchant with an accepted record but no certificate.
    let mut missing = base.clone();
    missing.ok(
        ACQ,
        reg(RegCall::RegisterMerchant {
            name: "Uncertified".into(),
            city: "Shanghai".into(),
            mcc: "5812".into(),
            country: "CN".into(),
            merchant_key: pk(52),
        }),
    );
    let m52 = MerchantId::derive(&pk(52));
    missing.ok(
        ACQ,
        reg(RegCall::PutRecord {
            merchant_id: m52.clone(),
            payload: vec![9],
        }),
    );
    missing.ok(
        52,
        reg(RegCall::AcceptAcquirer {
            platform_id: pid("acq-b"),
        }),
    );
    let pay52 = wal(Call::Pay {
        from_wallet: alice_wallet(),
        merchant_id: m52.clone(),
        acquirer: pid("acq-b"),
        amount: cny("1.00"),
        order_ref: "no-cert".into(),
        route: route(1, &[9]),
    });
    let msg = refused(&mut missing, ALICE, pay52, 741);
    assert!(
        msg.contains(&format!("merchant {m52} "))
            && msg.contains("holds no registered certificate"),
        "{msg}"
    );

    // The acquirer revokes the merchant's certificate.
    let mut merchant_revoked = base.clone();
    revoke_cert(&mut merchant_revoked, ACQ, 50);
    let msg = refused(
        &mut merchant_revoked,
        ALICE,
        pay(alice_wallet(), "1.00", "m-revoked"),
        733,
    );
    assert!(msg.contains(&format!("merchant {} ", merchant())), "{msg}");

    // The host revokes Alice's certificate after her wallet opened: she can no longer pay; Bob can.
    let mut payer_revoked = base.clone();
    revoke_cert(&mut payer_revoked, HOST, ALICE);
    let msg = refused(
        &mut payer_revoked,
        ALICE,
        pay(alice_wallet(), "1.00", "p-revoked"),
        733,
    );
    assert!(msg.starts_with(&format!("payer {} ", pk(ALICE))), "{msg}");
    payer_revoked.ok(BOB, pay(bob_wallet(), "1.00", "bob-still-pays"));

    for c in [&missing, &merchant_revoked, &payer_revoked] {
        assert_eq!(bal(c, &wallet_acct(alice_wallet())).to_string(), "100.00");
        c.check_app_hash();
    }
    assert_eq!(bal(&payer_revoked, &tbs()).to_string(), "1.00");
}

// ---------------------------------------------------------------------------------------------
// Private state (`enclave::private`): payments sealed, state encrypted, executed by the vault.

/// Every occurrence of `needle` in the physical state: keys and values of every bucket.
fn physical_hits(c: &Chain, needle: &[u8]) -> usize {
    use crate::chain::state::StateReader;
    let mut hits = 0;
    for b in 0..crate::chain::state::BUCKETS as u16 {
        for (k, v) in c.store.bucket_entries(b).unwrap() {
            hits += usize::from(k.windows(needle.len()).any(|w| w == needle));
            hits += usize::from(v.windows(needle.len()).any(|w| w == needle));
        }
    }
    hits
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_private_chain_holds_no_payment_detail_in_the_clear_and_the_vault_reads_it_all() {
    const MARKER: &str = "ORD-MARKER-7731";
    let amount_bytes = crate::primitives::codec::encode(&cny("12.34"));
    for private in [false, true] {
        let mut c = fixture_in(private);
        let tx = c.tx(ALICE, pay(alice_wallet(), "12.34", MARKER));
        let block = c.block(vec![tx.clone()]);
        let r = c.run_block(vec![tx.clone()]).remove(0);
        assert!(r.is_ok(), "{r:?}");
        let block_bytes = crate::primitives::codec::encode(&block);
        let in_state = physical_hits(&c, MARKER.as_bytes());
        let wallet_key = crate::primitives::codec::encode(&alice_wallet());
        if !private {
            // The scanner's positive control: in the clear, everything is there.
            assert!(in_state > 0 && contains(&block_bytes, MARKER.as_bytes()));
            assert!(contains(&block_bytes, &amount_bytes));
            continue;
        }
        assert_eq!(in_state, 0, "the order reference is in the physical state");
        assert_eq!(
            physical_hits(&c, &wallet_key),
            0,
            "a wallet id is in the physical state"
        );
        assert!(
            !contains(&block_bytes, MARKER.as_bytes()),
            "the block holds the marker"
        );
        assert!(
            !contains(&block_bytes, &amount_bytes),
            "the block holds the amount"
        );
        assert!(
            !contains(&block_bytes, &alice_wallet().0),
            "the block holds the wallet"
        );
        // Through the vault (an enclave), everything is there.
        let p = payment(&c.state(), &r.tx_hash).unwrap().unwrap();
        assert_eq!(p.order_ref, MARKER);
        assert_eq!(p.amount, cny("12.34"));
        assert_eq!(bal(&c, &wallet_acct(alice_wallet())).to_string(), "87.66");
        c.check_app_hash();
    }
}

#[test]
fn a_sealed_receipt_shows_its_code_and_nothing_else() {
    let mut c = private_fixture();
    let ok = c.tx(ALICE, pay(alice_wallet(), "1.00", "R-OK"));
    let too_much = c.tx(ALICE, pay(alice_wallet(), "5000.00", "R-NO"));
    let block = c.block(vec![ok, too_much]);
    let out =
        crate::chain::executor::execute_block_with(&c.store, &block, Some(c.vault())).unwrap();
    let (ok_r, no_r) = (&out.receipts[0], &out.receipts[1]);
    assert_eq!(ok_r.code, 0);
    assert_ne!(no_r.code, 0);
    for r in [ok_r, no_r] {
        let text = format!("{:?}", r);
        assert!(!text.contains("R-OK") && !text.contains("R-NO") && !text.contains("5000"));
        assert_eq!(r.events.len(), 1);
        assert_eq!(r.events[0].kind, crate::chain::executor::SEALED_EVENT);
    }
    assert_eq!(
        no_r.error.as_deref(),
        Some(crate::chain::executor::SEALED_REFUSAL)
    );
    // The vault opens the refusal's reason and the payment's events.
    let opened = crate::testkit::open_receipt(c.vault(), no_r.clone(), &block.txs[1]);
    assert!(opened.error.unwrap().contains("5000"));
    let opened = crate::testkit::open_receipt(c.vault(), ok_r.clone(), &block.txs[0]);
    assert!(!opened.events.is_empty());
}

#[test]
fn a_payment_in_the_clear_is_refused_on_a_private_chain_and_moves_nothing() {
    let mut c = private_fixture();
    let plain = c.tx(ALICE, pay(alice_wallet(), "1.00", "PLAIN-1"));
    // Replace the sealed call by the same call in the clear (a careless or hostile client).
    let sk = crate::testkit::key(ALICE);
    let mut t = plain.tx.clone();
    t.call = pay(alice_wallet(), "1.00", "PLAIN-1");
    let plain = crate::chain::tx::SignedTx::sign(t, &sk);
    let r = c.run_block(vec![plain]).remove(0);
    assert_eq!(r.code, 5, "{r:?}");
    assert_eq!(bal(&c, &wallet_acct(alice_wallet())).to_string(), "100.00");
}

#[test]
fn a_sealed_call_does_not_open_in_another_transaction() {
    let mut c = private_fixture();
    let alice = c.tx(ALICE, pay(alice_wallet(), "1.00", "LIFT-1"));
    // Bob's transaction carrying Alice's sealed call: another sender in the associated data.
    let bob_nonce = c.next_nonce(BOB);
    let lifted = crate::chain::tx::SignedTx::sign(
        crate::chain::tx::Transaction {
            chain_id: ChainId::new(crate::testkit::CHAIN),
            sender: pk(BOB),
            nonce: bob_nonce,
            call: alice.tx.call.clone(),
        },
        &crate::testkit::key(BOB),
    );
    let r = c.run_block(vec![lifted]).remove(0);
    assert_eq!(r.code, 4, "{r:?}");
    // Alice's own call, replayed under her next nonce: another nonce in the associated data.
    let r = c.run_block(vec![alice.clone()]).remove(0);
    assert!(r.is_ok(), "{r:?}");
    let mut replay = alice.tx.clone();
    replay.nonce += 1;
    let replay = crate::chain::tx::SignedTx::sign(replay, &crate::testkit::key(ALICE));
    let r = c.run_block(vec![replay]).remove(0);
    assert_eq!(r.code, 4, "{r:?}");
    assert_eq!(bal(&c, &wallet_acct(alice_wallet())).to_string(), "99.00");
}

#[test]
fn only_a_vault_executes_a_private_chain_and_two_enclaves_agree() {
    let mut c = private_fixture();
    let txs = vec![
        c.tx(ALICE, pay(alice_wallet(), "3.00", "AG-1")),
        c.tx(BOB, pay(bob_wallet(), "4.00", "AG-2")),
    ];
    let block = c.block(txs);
    // The host process, without the vault, cannot execute it.
    assert_eq!(
        crate::chain::executor::execute_block(&c.store, &block),
        Err(crate::chain::executor::ExecError::NeedsVault)
    );
    // Two enclaves provisioned with the same secret reach the same writes and app hash.
    let other = crate::private::Vault::from_secret(
        &crate::testkit::TEST_STATE_SECRET,
        &ChainId::new(crate::testkit::CHAIN),
    )
    .unwrap();
    let a = crate::chain::executor::execute_block_with(&c.store, &block, Some(c.vault())).unwrap();
    let b = crate::chain::executor::execute_block_with(&c.store, &block, Some(&other)).unwrap();
    assert_eq!(a, b);
    // A vault with another secret opens nothing: it cannot even read the payer's wallet.
    let stranger =
        crate::private::Vault::from_secret(&[7; 32], &ChainId::new(crate::testkit::CHAIN)).unwrap();
    let s = crate::chain::executor::execute_block_with(&c.store, &block, Some(&stranger));
    assert!(s
        .map(|o| o.receipts.iter().all(|r| r.code != 0))
        .unwrap_or(true));
    assert!(
        wallet_view(&PrivateView::new(&c.store, &stranger), &alice_wallet()).is_err()
            || wallet_view(&PrivateView::new(&c.store, &stranger), &alice_wallet())
                .unwrap()
                .is_none()
    );
}

#[test]
fn a_sealed_call_on_a_chain_in_the_clear_is_refused() {
    let mut p = private_fixture();
    let sealed = p.tx(ALICE, pay(alice_wallet(), "1.00", "CLEAR-1"));
    let mut c = fixture();
    assert_eq!(c.next_nonce(ALICE), sealed.tx.nonce);
    let r = c.run_block(vec![sealed]).remove(0);
    assert_eq!(r.code, 4, "{r:?}");
    assert_eq!(bal(&c, &wallet_acct(alice_wallet())).to_string(), "100.00");
}
