//! Guardian contract tests: the terminal code, the binding life cycle with a refusal for every
//! call, limits at and over each bound, day boundaries of block time, the monthly statement, and a
//! property test that no sequence of payments across days ever exceeds a limit.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;
use crate::chain::tx::Call as TxCall;
use crate::primitives::money::Currency;
use crate::testkit::{cny, pid, pk, route, Chain, ACQ};
use crate::wallet::{balance, wallet_id, Account};

// 1 host-a, 2 acq-b, 3 gov-c; 50 a shop; 20 the guardian (100.00 CNY), 30 the dependant (no
// wallet), 31 another dependant, 40 a stranger.
const SHOP: u8 = 50;
const GUARDIAN: u8 = 20;
const CHILD: u8 = 30;
const OTHER_CHILD: u8 = 31;
const STRANGER: u8 = 40;

fn shop() -> MerchantId {
    MerchantId::derive(&pk(SHOP))
}

fn gwallet() -> Hash {
    wallet_id(&pk(GUARDIAN), Currency::CNY)
}

fn fixture() -> Chain {
    static FIXTURE: std::sync::OnceLock<Chain> = std::sync::OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            let mut c = Chain::payments(
                &[(SHOP, "School Canteen")],
                &[(GUARDIAN, Currency::CNY, "100.00")],
            );
            // Dependants are onboarded by a platform like any user (no wallet of their own): a
            // binding request from an unknown key is refused (`chain::admission`). So is the
            // stranger, to reach the contract's own refusals.
            for k in [CHILD, OTHER_CHILD, STRANGER] {
                c.verify_user(crate::testkit::HOST, k);
            }
            c
        })
        .clone()
}

fn g(c: Call) -> TxCall {
    TxCall::Guardian(c)
}

fn terminal() -> Terminal {
    Terminal::new("SCH-0042", "school").unwrap()
}

fn limits(per_payment: &str, per_day: &str, n: u32) -> Limits {
    Limits {
        per_payment: cny(per_payment),
        per_day: cny(per_day),
        payments_per_day: n,
    }
}

fn request(c: &mut Chain, dependant: u8) -> Hash {
    let r = c.ok(
        dependant,
        g(Call::RequestBinding {
            guardian: pk(GUARDIAN),
            terminal: terminal(),
        }),
    );
    r.tx_hash
}

fn approved(c: &mut Chain, l: Limits, biometric: Option<Biometric>) -> Hash {
    let id = request(c, CHILD);
    c.ok(
        GUARDIAN,
        g(Call::Approve {
            binding: id,
            wallet: gwallet(),
            limits: l,
            biometric,
        }),
    );
    id
}

fn pay_call(binding: Hash, v: &str, order: &str, biometric: Option<Hash>) -> TxCall {
    g(Call::Pay {
        binding,
        merchant_id: shop(),
        acquirer: pid("acq-b"),
        amount: cny(v),
        order_ref: order.into(),
        biometric,
        route: route(1, &[1]),
    })
}

fn code(c: &mut Chain, signer: u8, call: TxCall) -> (u32, String) {
    let r = c.call(signer, call);
    (r.code, r.error.unwrap_or_default())
}

fn gbal(c: &Chain) -> Decimal {
    balance(&c.store, &Account::Wallet { id: gwallet() }).unwrap()
}

#[test]
fn terminal_code_round_trips_and_refuses_damage() {
    let t = terminal();
    assert_eq!(
        t.code_text(),
        format!("PCREG1:SCH-0042:school:{}", t.check_code)
    );
    assert_eq!(Terminal::parse(&t.code_text()).unwrap(), t);
    let cases = [
        ("", "expected PCREG1"),
        ("PCREG1:SCH-0042:school", "expected PCREG1"),
        (
            "XXREG1:SCH-0042:school:00000000",
            "not a registration terminal code",
        ),
        ("PCREG1:sch-0042:school:00000000", "device number"),
        ("PCREG1:SCH-0042:School:00000000", "business type"),
        ("PCREG1:SCH-0042:school:00000000", "check code"),
        ("PCREG1:SCH-0043:school:", "check code"),
    ];
    for (text, want) in cases {
        let e = Terminal::parse(text).unwrap_err().to_string();
        assert!(e.contains(want), "{text:?}: {e}");
    }
    let damaged = t.code_text().replace("SCH-0042", "SCH-0043");
    assert!(Terminal::parse(&damaged)
        .unwrap_err()
        .to_string()
        .contains("check code"));
    assert!(Terminal::parse(&"A".repeat(200))
        .unwrap_err()
        .to_string()
        .contains("at most 128"));
}

#[test]
fn request_approve_pay_debits_the_guardians_wallet() {
    let mut c = fixture();
    let id = request(&mut c, CHILD);
    let b = binding(&c.store, &id).unwrap().unwrap();
    assert_eq!(
        (b.status, b.dependant, b.guardian),
        (Status::Pending, pk(CHILD), pk(GUARDIAN))
    );
    assert_eq!(
        bindings_of(&c.store, &pk(GUARDIAN), 10).unwrap(),
        (vec![b.clone()], false)
    );
    assert_eq!(
        bindings_of(&c.store, &pk(CHILD), 10).unwrap(),
        (vec![b], false)
    );

    // unapproved: pays nothing
    assert_eq!(
        code(&mut c, CHILD, pay_call(id, "5.00", "o-0", None)).0,
        706
    );
    c.ok(
        GUARDIAN,
        g(Call::Approve {
            binding: id,
            wallet: gwallet(),
            limits: limits("20.00", "30.00", 3),
            biometric: None,
        }),
    );
    let before = gbal(&c);
    let r = c.ok(CHILD, pay_call(id, "12.50", "o-1", None));
    assert_eq!(gbal(&c), before - Decimal::new(1250, 2));
    let credit = Account::ToBeSettled {
        merchant_id: shop(),
        acquirer: pid("acq-b"),
        currency: Currency::CNY,
    };
    assert_eq!(balance(&c.store, &credit).unwrap(), Decimal::new(1250, 2));
    let p = wallet::payment(&c.store, &r.tx_hash).unwrap().unwrap();
    assert_eq!((p.payer, p.from_wallet), (pk(GUARDIAN), gwallet()));
    assert!(r.events.iter().any(|e| e.kind == "guardian_payment"));
    let b = binding(&c.store, &id).unwrap().unwrap();
    assert_eq!(
        (b.usage.count, b.usage.spent, b.payments),
        (1, Decimal::new(1250, 2), 1)
    );
    c.check_app_hash();
}

#[test]
fn each_limit_refuses_with_its_name() {
    let mut c = fixture();
    let id = approved(&mut c, limits("20.00", "30.00", 2), None);
    let (k, e) = code(&mut c, CHILD, pay_call(id, "20.01", "a", None));
    assert_eq!(k, 710, "{e}");
    assert!(e.contains("limit per payment exceeded"), "{e}");
    c.ok(CHILD, pay_call(id, "20.00", "b", None)); // exactly at the limit
    let (k, e) = code(&mut c, CHILD, pay_call(id, "10.01", "c", None));
    assert_eq!(k, 711, "{e}");
    assert!(
        e.contains("daily limit exceeded: 20.00 CNY spent today"),
        "{e}"
    );
    c.ok(CHILD, pay_call(id, "10.00", "d", None)); // exactly the daily total
    let (k, e) = code(&mut c, CHILD, pay_call(id, "0.01", "e", None));
    assert_eq!(k, 712, "{e}");
    assert!(e.contains("payments per day exceeded: 2 of 2"), "{e}");
    // wrong currency
    let (k, _) = code(
        &mut c,
        CHILD,
        g(Call::Pay {
            binding: id,
            merchant_id: shop(),
            acquirer: pid("acq-b"),
            amount: crate::testkit::amt("1", Currency::JPY),
            order_ref: "f".into(),
            biometric: None,
            route: route(1, &[1]),
        }),
    );
    assert!((300..310).contains(&k));
}

#[test]
fn a_new_day_of_block_time_resets_usage() {
    let mut c = fixture();
    let id = approved(&mut c, limits("20.00", "20.00", 1), None);
    c.ok(CHILD, pay_call(id, "20.00", "a", None));
    assert_eq!(code(&mut c, CHILD, pay_call(id, "1.00", "b", None)).0, 712);
    // the fixture's block time is 1000 ms per height: skip to the next UTC day
    let now = 1_700_000_000_000 + 1000 * (c.height + 1);
    let next_day = (now / DAY_MS + 1) * DAY_MS;
    c.advance_to((next_day - 1_700_000_000_000) / 1000);
    c.ok(CHILD, pay_call(id, "20.00", "c", None));
    let b = binding(&c.store, &id).unwrap().unwrap();
    assert_eq!(b.usage.count, 1);
    assert_eq!(b.usage.day, next_day / DAY_MS);
}

#[test]
fn limits_change_at_once_and_revocation_stops_payment() {
    let mut c = fixture();
    let id = approved(&mut c, limits("20.00", "50.00", 5), None);
    c.ok(CHILD, pay_call(id, "10.00", "a", None));
    c.ok(
        GUARDIAN,
        g(Call::SetLimits {
            binding: id,
            limits: limits("5.00", "12.00", 5),
        }),
    );
    assert_eq!(code(&mut c, CHILD, pay_call(id, "6.00", "b", None)).0, 710);
    // usage is kept: 10 spent, 12 per day
    assert_eq!(code(&mut c, CHILD, pay_call(id, "3.00", "c", None)).0, 711);
    c.ok(CHILD, pay_call(id, "2.00", "d", None));
    // only the guardian sets limits
    assert_eq!(
        code(
            &mut c,
            CHILD,
            g(Call::SetLimits {
                binding: id,
                limits: limits("50.00", "50.00", 5)
            })
        )
        .0,
        704
    );
    // invalid limits
    let (k, e) = code(
        &mut c,
        GUARDIAN,
        g(Call::SetLimits {
            binding: id,
            limits: limits("20.00", "10.00", 5),
        }),
    );
    assert_eq!(k, 707, "{e}");
    assert_eq!(
        code(
            &mut c,
            GUARDIAN,
            g(Call::SetLimits {
                binding: id,
                limits: limits("1.00", "10.00", 0)
            })
        )
        .0,
        707
    );
    // a stranger cannot revoke; the guardian can
    assert_eq!(
        code(&mut c, STRANGER, g(Call::Revoke { binding: id })).0,
        708
    );
    c.ok(GUARDIAN, g(Call::Revoke { binding: id }));
    let before = gbal(&c);
    let (k, e) = code(&mut c, CHILD, pay_call(id, "1.00", "e", None));
    assert_eq!(k, 706, "{e}");
    assert!(e.contains("is revoked, it must be active"), "{e}");
    assert_eq!(gbal(&c), before);
    // the pair may ask again after revocation
    request(&mut c, CHILD);
}

#[test]
fn refusals_of_requests_and_approvals() {
    let mut c = fixture();
    let t = terminal();
    // self-guardian
    assert_eq!(
        code(
            &mut c,
            GUARDIAN,
            g(Call::RequestBinding {
                guardian: pk(GUARDIAN),
                terminal: t.clone()
            })
        )
        .0,
        701
    );
    // bad check code
    let mut bad = t.clone();
    bad.check_code = "00000000".into();
    assert_eq!(
        code(
            &mut c,
            CHILD,
            g(Call::RequestBinding {
                guardian: pk(GUARDIAN),
                terminal: bad
            })
        )
        .0,
        700
    );
    let id = request(&mut c, CHILD);
    // duplicate while pending
    assert_eq!(
        code(
            &mut c,
            CHILD,
            g(Call::RequestBinding {
                guardian: pk(GUARDIAN),
                terminal: t.clone()
            })
        )
        .0,
        702
    );
    // only the guardian approves, with their own wallet
    let approve = |w: Hash| {
        g(Call::Approve {
            binding: id,
            wallet: w,
            limits: limits("1.00", "1.00", 1),
            biometric: None,
        })
    };
    assert_eq!(code(&mut c, CHILD, approve(gwallet())).0, 704);
    assert_eq!(code(&mut c, STRANGER, approve(gwallet())).0, 704);
    let (k, _) = code(&mut c, GUARDIAN, approve(Hash::digest(b"nope")));
    assert!((310..400).contains(&k), "{k}");
    // unknown binding
    assert_eq!(
        code(
            &mut c,
            GUARDIAN,
            g(Call::Approve {
                binding: Hash::digest(b"x"),
                wallet: gwallet(),
                limits: limits("1.00", "1.00", 1),
                biometric: None
            })
        )
        .0,
        703
    );
    // another dependant's request: rejected by the guardian, then no longer approvable
    let other = request(&mut c, OTHER_CHILD);
    c.ok(GUARDIAN, g(Call::Reject { binding: other }));
    assert_eq!(
        code(
            &mut c,
            GUARDIAN,
            g(Call::Approve {
                binding: other,
                wallet: gwallet(),
                limits: limits("1.00", "1.00", 1),
                biometric: None
            })
        )
        .0,
        706
    );
    // approve; a second approval is refused; another child cannot pay with this binding
    c.ok(GUARDIAN, approve(gwallet()));
    assert_eq!(code(&mut c, GUARDIAN, approve(gwallet())).0, 706);
    assert_eq!(
        code(&mut c, OTHER_CHILD, pay_call(id, "1.00", "z", None)).0,
        705
    );
    assert_eq!(
        code(&mut c, GUARDIAN, pay_call(id, "1.00", "z", None)).0,
        705
    );
}

#[test]
fn biometric_is_required_and_matched_when_bound() {
    let mut c = fixture();
    let salt = Hash::digest(b"salt");
    let bio = Biometric {
        salt,
        template_hash: biometric_hash(&salt, b"template-of-the-child"),
    };
    let id = approved(&mut c, limits("10.00", "10.00", 5), Some(bio));
    assert_eq!(code(&mut c, CHILD, pay_call(id, "1.00", "a", None)).0, 713);
    let wrong = biometric_hash(&salt, b"someone-else");
    assert_eq!(
        code(&mut c, CHILD, pay_call(id, "1.00", "b", Some(wrong))).0,
        714
    );
    c.ok(CHILD, pay_call(id, "1.00", "c", Some(bio.template_hash)));
    c.ok(
        GUARDIAN,
        g(Call::SetBiometric {
            binding: id,
            biometric: None,
        }),
    );
    c.ok(CHILD, pay_call(id, "1.00", "d", None));
}

#[test]
fn refused_payments_change_nothing_and_orders_are_paid_once() {
    let mut c = fixture();
    let id = approved(&mut c, limits("100.00", "200.00", 10), None);
    c.ok(CHILD, pay_call(id, "60.00", "a", None));
    let before = c.store.app_hash();
    let snapshot = binding(&c.store, &id).unwrap().unwrap();
    // the wallet holds 40: insufficient balance, within the limits
    let (k, e) = code(&mut c, CHILD, pay_call(id, "50.00", "b", None));
    assert!(
        (310..400).contains(&k) && e.contains("insufficient"),
        "{k} {e}"
    );
    // same order twice
    let (k, _) = code(&mut c, CHILD, pay_call(id, "1.00", "a", None));
    assert!((310..400).contains(&k));
    assert_eq!(binding(&c.store, &id).unwrap().unwrap(), snapshot);
    // only nonces changed
    assert_ne!(c.store.app_hash(), before);
    assert_eq!(gbal(&c), Decimal::new(4000, 2));
}

#[test]
fn monthly_statement_lists_a_months_payments_with_refunds() {
    let mut c = fixture();
    let id = approved(&mut c, limits("10.00", "50.00", 10), None);
    let r1 = c.ok(CHILD, pay_call(id, "3.00", "a", None));
    c.ok(CHILD, pay_call(id, "4.50", "b", None));
    c.ok(
        ACQ,
        TxCall::Wallet(wallet::Call::Refund {
            payment: r1.tx_hash,
            amount: cny("1.00"),
        }),
    );
    let now = 1_700_000_000_000 + 1000 * c.height;
    let month = month_index(now);
    assert_eq!(month, 202311); // 2023-11-14
    let s = statement(&c.store, &id, month).unwrap();
    assert_eq!(s.payments.len(), 2);
    assert_eq!(s.total, Decimal::new(750, 2));
    assert_eq!(s.refunded, Decimal::new(100, 2));
    assert_eq!(s.payments[0].payment.payment_id, r1.tx_hash);
    assert_eq!(s.payments[0].refunded.to_string(), "1.00");
    assert_eq!(s.total.to_string(), "7.50");
    assert!(statement(&c.store, &id, 202310)
        .unwrap()
        .payments
        .is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Random payments, spread over several UTC days of block time: each day's accepted payments
    /// stay within every limit, and a payment is accepted exactly when a model of the limits says
    /// it should be.
    #[test]
    fn limits_never_exceeded_across_days(
        per_payment in 1u32..=2000,
        per_day_extra in 0u32..=3000,
        n in 1u32..=4,
        steps in proptest::collection::vec((1u32..=2500, 0u64..=40_000_000), 1..20),
    ) {
        let mut c = fixture();
        let l = Limits {
            per_payment: cny(&format!("{}.{:02}", per_payment / 100, per_payment % 100)),
            per_day: {
                let d = per_payment + per_day_extra;
                cny(&format!("{}.{:02}", d / 100, d % 100))
            },
            payments_per_day: n,
        };
        let id = approved(&mut c, l.clone(), None);
        let mut model: std::collections::BTreeMap<u64, (Decimal, u32)> = Default::default();
        let mut balance_left = gbal(&c);
        for (i, (cents, skip_ms)) in steps.into_iter().enumerate() {
            // jump ahead by whole blocks (1 s each in the fixture)
            c.advance_to(c.height + skip_ms / 1000);
            let now = 1_700_000_000_000 + 1000 * (c.height + 1);
            let amount = Decimal::new(i64::from(cents), 2);
            let day = now / DAY_MS;
            let (spent, count) = model.get(&day).copied().unwrap_or_default();
            let should = amount <= l.per_payment.value
                && count < n
                && spent + amount <= l.per_day.value
                && amount <= balance_left;
            let r = c.call(
                CHILD,
                pay_call(id, &format!("{}.{:02}", cents / 100, cents % 100), &format!("o{i}"), None),
            );
            prop_assert_eq!(r.is_ok(), should, "step {} {:?}", i, r.error);
            if r.is_ok() {
                model.insert(day, (spent + amount, count + 1));
                balance_left -= amount;
            }
        }
        for (spent, count) in model.values() {
            prop_assert!(*spent <= l.per_day.value);
            prop_assert!(*count <= n);
        }
        prop_assert_eq!(gbal(&c), balance_left);
    }
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

/// A delegated payment pays a merchant from the guardian's wallet: it needs the merchant's valid
/// certificate and the guardian's (the payer's), like the guardian's own payments.
#[test]
fn certificates_gate_delegated_payments() {
    let mut c = fixture();
    let id = approved(&mut c, limits("20.00", "50.00", 5), None);
    c.ok(CHILD, pay_call(id, "1.00", "G-1", None));

    let mut guardian_revoked = c.clone();
    revoke_cert(&mut guardian_revoked, crate::testkit::HOST, GUARDIAN);
    let (code_, msg) = code(
        &mut guardian_revoked,
        CHILD,
        pay_call(id, "1.00", "G-2", None),
    );
    assert_eq!(code_, 733, "{msg}");
    assert!(
        msg.starts_with(&format!("payer {} ", pk(GUARDIAN))),
        "{msg}"
    );

    revoke_cert(&mut c, ACQ, SHOP);
    let (code_, msg) = code(&mut c, CHILD, pay_call(id, "1.00", "G-3", None));
    assert_eq!(code_, 733, "{msg}");
    assert!(msg.starts_with(&format!("merchant {} ", shop())), "{msg}");
    for c in [&c, &guardian_revoked] {
        assert_eq!(gbal(c).to_string(), "99.00");
        c.check_app_hash();
    }
}
