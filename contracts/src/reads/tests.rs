#![allow(clippy::unwrap_used)]

use super::*;
use crate::chain::tx::{Call as TxCall, SignedTx};
use crate::governance::{Action, Call as GovCall};
use crate::primitives::money::Currency;
use crate::testkit::{cny, pid, pk, route, Chain, ACQ, GOV, HOST};
use crate::wallet::Call as WalCall;

const MERCHANT: u8 = 10;
const PAYER: u8 = 20;
const OTHER_USER: u8 = 21;
const THIRD_USER: u8 = 22;
const REGULATOR: u8 = 30;
const STRANGER: u8 = 99;

fn merchant_id() -> MerchantId {
    MerchantId::derive(&pk(MERCHANT))
}

fn wallet_of(u: u8) -> Hash {
    wallet::wallet_id(&pk(u), Currency::CNY)
}

/// A payer hosted by `host-a` pays a merchant acquired by `acq-b`; `gov-c` is a third member (built
/// once, cloned per test).
fn paid() -> (Chain, SignedTx) {
    static FIXTURE: std::sync::OnceLock<(Chain, SignedTx)> = std::sync::OnceLock::new();
    FIXTURE.get_or_init(build_paid).clone()
}

/// [`paid`], with `REGULATOR` appointed.
fn regulated() -> (Chain, SignedTx) {
    static FIXTURE: std::sync::OnceLock<(Chain, SignedTx)> = std::sync::OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            let (mut c, tx) = paid();
            appoint(&mut c, pk(REGULATOR));
            (c, tx)
        })
        .clone()
}

fn build_paid() -> (Chain, SignedTx) {
    let mut c = Chain::payments(
        &[(MERCHANT, "Noodles")],
        &[
            (PAYER, Currency::CNY, "100.00"),
            (OTHER_USER, Currency::CNY, "10.00"),
            (THIRD_USER, Currency::CNY, "1.00"),
        ],
    );
    let tx = c.tx(
        PAYER,
        TxCall::Wallet(WalCall::Pay {
            from_wallet: wallet_of(PAYER),
            merchant_id: merchant_id(),
            acquirer: pid("acq-b"),
            amount: cny("12.50"),
            order_ref: "ORDER-1".into(),
            route: route(1, &[1]),
        }),
    );
    let r = c.run_block(vec![tx.clone()]);
    assert!(r[0].is_ok(), "{r:?}");
    (c, tx)
}

fn appoint(c: &mut Chain, key: PublicKey) -> crate::chain::executor::Receipt {
    let r = c.ok(
        HOST,
        TxCall::Governance(GovCall::Propose {
            action: Action::AppointRegulator { key },
        }),
    );
    let id = governance::proposals(&c.store).unwrap().last().unwrap().id;
    for g in [ACQ, GOV] {
        c.ok(
            g,
            TxCall::Governance(GovCall::Vote {
                proposal: id,
                approve: true,
            }),
        );
    }
    r
}

fn grant(c: &Chain, who: u8, q: &Query) -> Option<Grant> {
    may_read(&c.store, &pk(who), q).unwrap()
}

#[test]
fn payment_parties_platforms_and_regulator() {
    let (c, tx) = paid();
    let q = Query::Payment {
        payment_id: tx.hash(),
    };
    assert_eq!(grant(&c, PAYER, &q), Some(Grant::Party));
    assert_eq!(grant(&c, MERCHANT, &q), Some(Grant::Party));
    assert_eq!(
        grant(&c, HOST, &q),
        Some(Grant::Platform),
        "payer's wallet host"
    );
    assert_eq!(grant(&c, ACQ, &q), Some(Grant::Platform), "acquirer");
    assert_eq!(grant(&c, GOV, &q), None, "a third platform");
    assert_eq!(
        grant(&c, OTHER_USER, &q),
        None,
        "another user of the same host"
    );
    assert_eq!(grant(&c, STRANGER, &q), None);
    assert_eq!(grant(&c, REGULATOR, &q), None, "no regulator appointed yet");
    let (c, _) = regulated();
    assert_eq!(grant(&c, REGULATOR, &q), Some(Grant::Regulator));
    // The order view is the same payment.
    let order = Query::Order {
        merchant_id: merchant_id(),
        order_ref: "ORDER-1".into(),
    };
    for (who, want) in [
        (PAYER, Some(Grant::Party)),
        (ACQ, Some(Grant::Platform)),
        (GOV, None),
        (REGULATOR, Some(Grant::Regulator)),
    ] {
        assert_eq!(grant(&c, who, &order), want, "order, key {who}");
    }
    // An unknown payment: only the regulator learns it does not exist.
    let unknown = Query::Payment {
        payment_id: Hash::digest(b"nope"),
    };
    assert_eq!(grant(&c, PAYER, &unknown), None);
    assert_eq!(grant(&c, REGULATOR, &unknown), Some(Grant::Regulator));
}

#[test]
fn accounts_belong_to_owner_platform_and_regulator() {
    let (c, _) = regulated();
    let wallet = Account::Wallet {
        id: wallet_of(PAYER),
    };
    let tbs = Account::ToBeSettled {
        merchant_id: merchant_id(),
        acquirer: pid("acq-b"),
        currency: Currency::CNY,
    };
    let clearing = Account::Clearing {
        platform: pid("host-a"),
        currency: Currency::CNY,
    };
    let cases = [
        (&wallet, PAYER, Some(Grant::Party)),
        (&wallet, HOST, Some(Grant::Platform)),
        (&wallet, ACQ, None),
        (&wallet, OTHER_USER, None),
        (&wallet, MERCHANT, None),
        (&tbs, MERCHANT, Some(Grant::Party)),
        (&tbs, ACQ, Some(Grant::Platform)),
        (&tbs, HOST, None),
        (&tbs, PAYER, None),
        (&clearing, HOST, Some(Grant::Platform)),
        (&clearing, ACQ, None),
        (&clearing, PAYER, None),
    ];
    for (account, who, want) in cases {
        for q in [
            Query::Balance {
                account: account.clone(),
            },
            Query::Statement {
                account: account.clone(),
                from_height: 0,
                to_height: None,
            },
        ] {
            assert_eq!(grant(&c, who, &q), want, "{} by key {who}", q.subject());
            assert_eq!(grant(&c, STRANGER, &q), None);
            assert_eq!(grant(&c, REGULATOR, &q), Some(Grant::Regulator));
        }
    }
    let w = Query::Wallet {
        wallet_id: wallet_of(PAYER),
    };
    assert_eq!(grant(&c, PAYER, &w), Some(Grant::Party));
    assert_eq!(grant(&c, HOST, &w), Some(Grant::Platform));
    assert_eq!(grant(&c, OTHER_USER, &w), None);
    // A user's wallets: the user and the platform that verified it.
    let ws = Query::Wallets { user: pk(PAYER) };
    assert_eq!(grant(&c, PAYER, &ws), Some(Grant::Party));
    assert_eq!(grant(&c, HOST, &ws), Some(Grant::Platform));
    assert_eq!(grant(&c, ACQ, &ws), None);
    assert_eq!(grant(&c, OTHER_USER, &ws), None);
}

#[test]
fn lists_are_their_keys_own() {
    let (c, _) = regulated();
    for q in [
        Query::Certificates {
            public_key: pk(PAYER),
            limit: None,
        },
        Query::Collections {
            public_key: pk(PAYER),
            limit: None,
        },
        Query::StoreOrders {
            public_key: pk(PAYER),
            limit: Some(5),
        },
        Query::GuardianBindings {
            public_key: pk(PAYER),
            limit: None,
        },
    ] {
        assert_eq!(grant(&c, PAYER, &q), Some(Grant::Party), "{}", q.method());
        assert_eq!(grant(&c, REGULATOR, &q), Some(Grant::Regulator));
        for who in [HOST, ACQ, MERCHANT, OTHER_USER, STRANGER] {
            assert_eq!(grant(&c, who, &q), None, "{} by key {who}", q.method());
        }
    }
}

#[test]
fn certificates_follow_the_tx_and_its_payment() {
    let (c, tx) = paid();
    let h = tx.hash();
    let t = &tx.tx;
    let g = |c: &Chain, who: u8| may_read_tx(&c.store, &pk(who), &h, t).unwrap();
    assert_eq!(g(&c, PAYER), Some(Grant::Party), "the sender");
    assert_eq!(g(&c, MERCHANT), Some(Grant::Party));
    assert_eq!(g(&c, HOST), Some(Grant::Platform));
    assert_eq!(g(&c, ACQ), Some(Grant::Platform));
    assert_eq!(g(&c, GOV), None);
    assert_eq!(g(&c, STRANGER), None);
    // Without the tx, `may_read` leaves certificates to the regulator.
    let (mut c, _) = regulated();
    assert_eq!(g(&c, REGULATOR), Some(Grant::Regulator));
    let q = Query::Certificate { tx_hash: h };
    assert_eq!(grant(&c, PAYER, &q), None);
    assert_eq!(grant(&c, REGULATOR, &q), Some(Grant::Regulator));
    // A refund's certificate: the refunded payment's readers.
    let refund = c.tx(
        MERCHANT,
        TxCall::Wallet(WalCall::Refund {
            payment: h,
            amount: cny("1.00"),
        }),
    );
    let rh = refund.hash();
    assert_eq!(
        may_read_tx(&c.store, &pk(PAYER), &rh, &refund.tx).unwrap(),
        Some(Grant::Party)
    );
    assert_eq!(
        may_read_tx(&c.store, &pk(GOV), &rh, &refund.tx).unwrap(),
        None
    );
}

#[test]
fn card_bindings_collections_store_orders_and_guardian_rules() {
    let (c, _) = regulated();
    // The payer's card binding (made by the testkit): the user and the host.
    let binding = wallet::cards_of(&c.store, &pk(PAYER)).unwrap()[0].binding_id;
    let q = Query::CardBinding {
        binding_id: binding,
    };
    assert_eq!(grant(&c, PAYER, &q), Some(Grant::Party));
    assert_eq!(grant(&c, HOST, &q), Some(Grant::Platform));
    assert_eq!(grant(&c, ACQ, &q), None);
    assert_eq!(grant(&c, OTHER_USER, &q), None);
    assert_eq!(grant(&c, REGULATOR, &q), Some(Grant::Regulator));

    // A collection paid a share of by the payer.
    let col = collection::Collection {
        id: Hash::digest(b"col"),
        creator: pk(OTHER_USER),
        merchant_id: merchant_id(),
        acquirer: pid("acq-b"),
        total: cny("20.00"),
        sub_orders: vec![collection::SubOrder {
            share: 0,
            amount: cny("20.00"),
            payer: Some(pk(PAYER)),
            wallet: Some(wallet_of(PAYER)),
            paid_tx: None,
            paid_at_ms: None,
            refunded: false,
        }],
        expires_at_ms: 0,
        password_hash: None,
        created_at: 0,
        created_at_ms: 0,
        status: collection::Status::Open,
        closed_at_ms: None,
    };
    let g = |who: u8| may_read_collection(&c.store, &pk(who), &col).unwrap();
    assert_eq!(g(OTHER_USER), Some(Grant::Party), "creator");
    assert_eq!(g(PAYER), Some(Grant::Party), "share payer");
    assert_eq!(g(MERCHANT), Some(Grant::Party), "payee");
    assert_eq!(g(ACQ), Some(Grant::Platform), "acquirer");
    assert_eq!(g(HOST), Some(Grant::Platform), "share payer's host");
    assert_eq!(g(GOV), None);
    assert_eq!(g(STRANGER), None);
    assert_eq!(g(REGULATOR), Some(Grant::Regulator));
    // Open: a verified user with the code may read it to pay a share; closed: no longer.
    assert_eq!(g(THIRD_USER), Some(Grant::Invited));
    let mut closed = col.clone();
    closed.status = collection::Status::Completed;
    assert_eq!(
        may_read_collection(&c.store, &pk(THIRD_USER), &closed).unwrap(),
        None
    );

    // A store order of the payer, unpaid: its user's verifying host stands for the paying one.
    let order = store::Order {
        id: Hash::digest(b"ord"),
        merchant_id: merchant_id(),
        acquirer: pid("acq-b"),
        user: pk(PAYER),
        order_no: "S1".into(),
        amount: cny("3.00"),
        items_digest: Hash::ZERO,
        expires_at_ms: 0,
        created_at: 0,
        created_at_ms: 0,
        status: store::Status::Pending,
        paid_from: None,
        paid_tx: None,
        paid_at_ms: None,
        auto_paid: false,
    };
    let g = |who: u8| may_read_store_order(&c.store, &pk(who), &order).unwrap();
    assert_eq!(g(PAYER), Some(Grant::Party));
    assert_eq!(g(MERCHANT), Some(Grant::Party));
    assert_eq!(g(ACQ), Some(Grant::Platform));
    assert_eq!(g(HOST), Some(Grant::Platform));
    assert_eq!(g(OTHER_USER), None);
    assert_eq!(g(GOV), None);
    assert_eq!(g(REGULATOR), Some(Grant::Regulator));

    // Unknown ids of every kind: the regulator only.
    for q in [
        Query::Collection {
            collection_id: col.id,
        },
        Query::StoreOrder { order_id: order.id },
        Query::GuardianBinding {
            binding_id: Hash::digest(b"gb"),
        },
        Query::GuardianStatement {
            binding_id: Hash::digest(b"gb"),
            month: "2026-01".into(),
        },
    ] {
        assert_eq!(grant(&c, PAYER, &q), None, "{}", q.method());
        assert_eq!(grant(&c, REGULATOR, &q), Some(Grant::Regulator));
    }
}

#[test]
fn regulator_audit_is_for_members_and_the_regulator() {
    let (c, _) = paid();
    let q = Query::RegulatorAudit {
        from_seq: 0,
        limit: 10,
    };
    for m in [HOST, ACQ, GOV] {
        assert_eq!(grant(&c, m, &q), Some(Grant::Member));
    }
    assert_eq!(grant(&c, PAYER, &q), None);
    assert_eq!(grant(&c, REGULATOR, &q), None);
    let (c, _) = regulated();
    assert_eq!(grant(&c, REGULATOR, &q), Some(Grant::Regulator));
    assert_eq!(grant(&c, STRANGER, &q), None);
}

#[test]
fn appointing_a_regulator_is_voted_and_checked() {
    let (mut c, _) = regulated();
    assert_eq!(
        governance::regulator(&c.store).unwrap(),
        Some(pk(REGULATOR))
    );
    // The same key again: refused at proposal (120).
    let r = c.call(
        HOST,
        TxCall::Governance(GovCall::Propose {
            action: Action::AppointRegulator { key: pk(REGULATOR) },
        }),
    );
    assert_eq!(r.code, 120, "{r:?}");
    // A proposal alone (one of three governors) appoints no one.
    c.ok(
        HOST,
        TxCall::Governance(GovCall::Propose {
            action: Action::AppointRegulator { key: pk(STRANGER) },
        }),
    );
    assert_eq!(
        governance::regulator(&c.store).unwrap(),
        Some(pk(REGULATOR))
    );
    // Only a governor proposes.
    let r = c.call(
        PAYER,
        TxCall::Governance(GovCall::Propose {
            action: Action::AppointRegulator { key: pk(PAYER) },
        }),
    );
    assert_eq!(r.code, governance::Error::NotAMember.code(), "{r:?}");
    // The action's borsh index is the last one (appended, existing indexes unchanged).
    let bytes = codec::encode(&Action::AppointRegulator { key: pk(1) });
    assert_eq!(bytes[0], 11);
}

fn request(valid_until: u64) -> ReadRequest {
    ReadRequest {
        chain_id: ChainId::new("c"),
        requester: pk(PAYER),
        query: Query::Payment {
            payment_id: Hash::digest(b"p"),
        },
        reply_kx_public: KxSecret::from_seed([7; 32]).public_key(),
        nonce: [3; READ_NONCE_LEN],
        valid_until_height: valid_until,
    }
}

#[test]
fn signed_reads_check_signature_chain_method_and_height() {
    let chain = ChainId::new("c");
    let key = crate::testkit::key(PAYER);
    let signed = request(110).sign(&key);
    assert_eq!(signed.check(&chain, "paychain_payment", 100), Ok(()));
    // Codec round trip, bounded.
    let bytes = signed.to_bytes();
    assert!(bytes.len() <= MAX_SIGNED_READ_BYTES);
    assert_eq!(SignedRead::from_bytes(&bytes).unwrap(), signed);
    assert!(matches!(
        SignedRead::from_bytes(&vec![0u8; MAX_SIGNED_READ_BYTES + 1]),
        Err(ReadError::Malformed(_))
    ));
    assert!(matches!(
        SignedRead::from_bytes(&bytes[..bytes.len() - 1]),
        Err(ReadError::Malformed(_))
    ));
    // Signed by one key, claiming another.
    let forged = request(110).sign(&crate::testkit::key(STRANGER));
    assert_eq!(
        forged.check(&chain, "paychain_payment", 100),
        Err(ReadError::BadSignature(pk(PAYER)))
    );
    // Altered after signing.
    let mut altered = signed.clone();
    altered.request.valid_until_height = 111;
    assert!(matches!(
        altered.check(&chain, "paychain_payment", 100),
        Err(ReadError::BadSignature(_))
    ));
    // Expired, and too far ahead.
    assert_eq!(
        signed.check(&chain, "paychain_payment", 111),
        Err(ReadError::Expired {
            valid_until: 110,
            height: 111
        })
    );
    assert_eq!(signed.check(&chain, "paychain_payment", 110), Ok(()));
    assert!(matches!(
        request(100 + MAX_READ_AHEAD_BLOCKS + 1)
            .sign(&key)
            .check(&chain, "paychain_payment", 100),
        Err(ReadError::TooFarAhead { .. })
    ));
    // Another method, another chain.
    assert!(matches!(
        signed.check(&chain, "paychain_balance", 100),
        Err(ReadError::WrongMethod { .. })
    ));
    assert!(matches!(
        signed.check(&ChainId::new("other"), "paychain_payment", 100),
        Err(ReadError::WrongChain { .. })
    ));
    // A low-order reply key.
    let mut weak = request(110);
    weak.reply_kx_public = KxPublicKey([0; 32]);
    assert_eq!(
        weak.sign(&key).check(&chain, "paychain_payment", 100),
        Err(ReadError::WeakReplyKey)
    );
}

#[test]
fn replies_open_only_with_the_reply_key_for_the_request() {
    let reply = KxSecret::from_seed([7; 32]);
    let req = request(110);
    let rand = BoxRandomness::new([5; 32], [6; 12]);
    let sealed = seal_reply(&req, 100, br#"{"amount":"12.50"}"#, &rand).unwrap();
    assert_eq!(
        &open_reply(&reply, &req.hash(), &sealed).unwrap()[..],
        br#"{"amount":"12.50"}"#
    );
    assert!(!sealed.sealed.ciphertext.windows(5).any(|w| w == b"12.50"));
    let other = KxSecret::from_seed([8; 32]);
    assert_eq!(
        open_reply(&other, &req.hash(), &sealed),
        Err(ReadError::Authentication)
    );
    assert!(matches!(
        open_reply(&reply, &Hash::digest(b"x"), &sealed),
        Err(ReadError::RequestMismatch { .. })
    ));
    let mut moved = sealed.clone();
    moved.height = 101;
    assert_eq!(
        open_reply(&reply, &req.hash(), &moved),
        Err(ReadError::Authentication)
    );
}

#[test]
fn guardian_bindings_and_the_delegated_wallet() {
    const CHILD: u8 = 40;
    let (mut c, _) = regulated();
    // The dependant is onboarded by its platform first (an unknown key cannot request).
    c.verify_user(crate::testkit::HOST, CHILD);
    let binding = c
        .ok(
            CHILD,
            TxCall::Guardian(guardian::Call::RequestBinding {
                guardian: pk(PAYER),
                terminal: guardian::Terminal::new("SCH-0042", "school").unwrap(),
            }),
        )
        .tx_hash;
    let wallet_q = Query::Wallet {
        wallet_id: wallet_of(PAYER),
    };
    // Requested, not approved: the child may read its binding, not the guardian's wallet.
    assert_eq!(grant(&c, CHILD, &wallet_q), None);
    c.ok(
        PAYER,
        TxCall::Guardian(guardian::Call::Approve {
            binding,
            wallet: wallet_of(PAYER),
            limits: guardian::Limits {
                per_payment: cny("30.00"),
                per_day: cny("50.00"),
                payments_per_day: 3,
            },
            biometric: None,
        }),
    );
    for q in [
        Query::GuardianBinding {
            binding_id: binding,
        },
        Query::GuardianStatement {
            binding_id: binding,
            month: "2026-01".into(),
        },
    ] {
        assert_eq!(grant(&c, PAYER, &q), Some(Grant::Party), "guardian");
        assert_eq!(grant(&c, CHILD, &q), Some(Grant::Party), "dependant");
        assert_eq!(grant(&c, HOST, &q), None);
        assert_eq!(grant(&c, STRANGER, &q), None);
        assert_eq!(grant(&c, REGULATOR, &q), Some(Grant::Regulator));
    }
    // Active: the child reads the wallet it pays from (its currency), not its balance or statement.
    assert_eq!(grant(&c, CHILD, &wallet_q), Some(Grant::Party));
    let account = Account::Wallet {
        id: wallet_of(PAYER),
    };
    assert_eq!(grant(&c, CHILD, &Query::Balance { account }), None);
    assert_eq!(
        grant(
            &c,
            CHILD,
            &Query::Wallet {
                wallet_id: wallet_of(OTHER_USER)
            }
        ),
        None
    );
    // Revoked: no longer.
    c.ok(PAYER, TxCall::Guardian(guardian::Call::Revoke { binding }));
    assert_eq!(grant(&c, CHILD, &wallet_q), None);
}
