//! Governance contract tests: proposals, votes, thresholds, expiry, member and validator actions,
//! wallet-host qualification.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::chain::tx::Call as TxCall;
use crate::testkit::{member, pid, pk, Chain};

fn propose(action: Action) -> TxCall {
    TxCall::Governance(Call::Propose { action })
}

fn vote(proposal: u64, approve: bool) -> TxCall {
    TxCall::Governance(Call::Vote { proposal, approve })
}

fn qualify(p: &str) -> Action {
    Action::QualifyWalletHost { platform: pid(p) }
}

/// Keys 1..=n are governors "g1".."gN"; g1 is also a platform.
fn chain_with_governors(n: u8) -> Chain {
    let mut members = vec![member(1, "g1", &[Role::Governor, Role::Platform])];
    for i in 2..=n {
        members.push(member(i, &format!("g{i}"), &[Role::Governor]));
    }
    members.push(member(40, "plat-x", &[Role::Platform]));
    Chain::new(members)
}

fn status(c: &Chain, id: u64) -> ProposalStatus {
    proposal(&c.store, id).unwrap().unwrap().status_at(c.height)
}

#[test]
fn threshold_is_strictly_more_than_two_thirds() {
    let needed: Vec<usize> = (1..=7).map(approvals_needed).collect();
    assert_eq!(needed, vec![1, 2, 3, 3, 4, 5, 5]);
    for n in 1..=7usize {
        for a in 0..=n {
            assert_eq!(passes(a, n), 3 * a > 2 * n, "{a}/{n}");
            assert_eq!(passes(a, n), a >= approvals_needed(n), "{a}/{n}");
        }
    }
}

#[test]
fn executes_exactly_at_threshold_for_1_to_7_governors() {
    for n in 1..=7u8 {
        let mut c = chain_with_governors(n);
        let needed = approvals_needed(usize::from(n));
        let r = c.ok(1, propose(qualify("g1")));
        assert_eq!(r.events[0].kind, "proposal_created");
        assert_eq!(
            r.events[0].attribute("threshold"),
            Some(needed.to_string().as_str())
        );
        // The proposer's approval is the first.
        for approvals in 1..=usize::from(n) {
            if approvals > 1 {
                let voter = u8::try_from(approvals).unwrap();
                let r = c.ok(voter, vote(1, true));
                assert_eq!(r.events[0].kind, "proposal_voted");
            }
            let executed = crate::wallet::host(&c.store, &pid("g1")).unwrap().is_some();
            assert_eq!(executed, approvals >= needed, "n={n} approvals={approvals}");
            if approvals == needed {
                assert_eq!(status(&c, 1), ProposalStatus::Executed { height: c.height });
                break;
            }
            assert_eq!(status(&c, 1), ProposalStatus::Open);
        }
        c.check_app_hash();
    }
}

#[test]
fn rejected_when_approval_becomes_impossible() {
    for n in 2..=7u8 {
        let mut c = chain_with_governors(n);
        c.ok(1, propose(qualify("g1")));
        let needed = approvals_needed(usize::from(n));
        // Rejections needed to make `needed` unreachable: n - needed + 1.
        let to_reject = usize::from(n) - needed + 1;
        for i in 0..to_reject {
            let voter = u8::try_from(i + 2).unwrap();
            let r = c.ok(voter, vote(1, false));
            let last = i + 1 == to_reject;
            assert_eq!(
                r.events.iter().any(|e| e.kind == "proposal_rejected"),
                last,
                "n={n} rejection {}",
                i + 1
            );
        }
        assert!(matches!(status(&c, 1), ProposalStatus::Rejected { .. }));
        assert!(crate::wallet::host(&c.store, &pid("g1")).unwrap().is_none());
    }
}

#[test]
fn refusals() {
    let mut base = chain_with_governors(4);
    base.ok(1, propose(qualify("g1"))); // proposal 1, open
                                        // The outsider is a known key (a verified user), so governance's own refusal is what answers.
    base.make_known(99);
    let admit = |n: u8, id: &str| Action::AdmitPlatform {
        member: member(n, id, &[Role::Platform]),
    };
    let cases: Vec<(&str, u8, TxCall, u32)> = vec![
        ("outsider proposes", 99, propose(qualify("g1")), 100),
        ("platform proposes", 40, propose(qualify("plat-x")), 102),
        ("outsider votes", 99, vote(1, true), 100),
        ("unknown proposal", 2, vote(7, true), 103),
        ("proposer votes again", 1, vote(1, false), 105),
        ("admit existing id", 1, propose(admit(60, "g2")), 109),
        ("admit existing key", 1, propose(admit(2, "new-one")), 110),
        (
            "remove unknown",
            1,
            propose(Action::RemovePlatform { id: pid("nobody") }),
            111,
        ),
        ("qualify non-platform", 1, propose(qualify("g2")), 115),
        ("qualify unknown", 1, propose(qualify("nobody")), 111),
        (
            "revoke non-host",
            1,
            propose(Action::RevokeWalletHost {
                platform: pid("plat-x"),
            }),
            114,
        ),
        (
            "ttl zero",
            1,
            propose(Action::SetParams {
                params: Params {
                    proposal_ttl_blocks: 0,
                },
            }),
            108,
        ),
    ];
    for (name, signer, call, code) in cases {
        let mut c = base.clone();
        let r = c.call(signer, call);
        assert_eq!(r.code, code, "{name}: {r:?}");
        assert!(r.events.is_empty(), "{name}");
    }
    // The last governor cannot be removed.
    let mut c = Chain::new(vec![
        member(1, "solo", &[Role::Governor, Role::Platform]),
        member(40, "plat-x", &[Role::Platform]),
    ]);
    let r = c.call(1, propose(Action::RemovePlatform { id: pid("solo") }));
    assert_eq!(r.code, 112, "{r:?}");
    c.ok(1, propose(Action::RemovePlatform { id: pid("plat-x") }));
    assert!(super::member(&c.store, &pid("plat-x")).unwrap().is_none());
    assert!(member_by_key(&c.store, &pk(40)).unwrap().is_none());
    assert_eq!(members(&c.store).unwrap().len(), 1);
}

#[test]
fn closed_expired_and_electorate() {
    let mut c = chain_with_governors(4);
    c.ok(1, propose(qualify("g1")));
    c.ok(2, vote(1, true));
    c.ok(3, vote(1, true)); // 3 of 4: executed
    assert_eq!(c.call(4, vote(1, true)).code, 106);

    // Expiry: ttl 5 via a parameter change, then a proposal left open.
    c.ok(
        1,
        propose(Action::SetParams {
            params: Params {
                proposal_ttl_blocks: 5,
            },
        }),
    );
    c.ok(2, vote(2, true));
    c.ok(3, vote(2, true));
    assert_eq!(params(&c.store).unwrap().proposal_ttl_blocks, 5);
    let r = c.ok(
        1,
        propose(Action::RevokeWalletHost {
            platform: pid("g1"),
        }),
    );
    let expires: u64 = r.events[0]
        .attribute("expires_at")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(expires, c.height + 5);
    c.advance_to(expires - 1);
    c.ok(2, vote(3, true)); // at height `expires`: still open
    assert_eq!(c.call(3, vote(3, true)).code, 107);
    assert_eq!(status(&c, 3), ProposalStatus::Expired);

    // A governor admitted after a proposal is not in its electorate.
    let r = c.ok(
        1,
        propose(Action::RevokeWalletHost {
            platform: pid("g1"),
        }),
    );
    let open: u64 = r.events[0]
        .attribute("proposal_id")
        .unwrap()
        .parse()
        .unwrap();
    let newcomer = Action::AdmitPlatform {
        member: member(9, "g9", &[Role::Governor]),
    };
    let r = c.ok(1, propose(newcomer));
    let id: u64 = r.events[0]
        .attribute("proposal_id")
        .unwrap()
        .parse()
        .unwrap();
    c.ok(2, vote(id, true));
    let r = c.ok(3, vote(id, true));
    assert!(r.events.iter().any(|e| e.kind == "proposal_executed"));
    assert_eq!(c.call(9, vote(open, true)).code, 104);
    assert_eq!(governors(&c.store).unwrap().len(), 5);
}

#[test]
fn failing_action_marks_the_proposal_failed() {
    let mut c = chain_with_governors(3);
    let admit = Action::AdmitPlatform {
        member: member(60, "newco", &[Role::Platform]),
    };
    c.ok(1, propose(admit.clone())); // 1
    c.ok(1, propose(admit)); // 2, same member
    c.ok(2, vote(1, true));
    c.ok(3, vote(1, true));
    assert!(super::member(&c.store, &pid("newco")).unwrap().is_some());
    c.ok(2, vote(2, true));
    let r = c.ok(3, vote(2, true));
    let failed = r
        .events
        .iter()
        .find(|e| e.kind == "proposal_failed")
        .unwrap();
    assert_eq!(failed.attribute("code"), Some("109"));
    assert!(matches!(
        status(&c, 2),
        ProposalStatus::Failed { code: 109, .. }
    ));
    let all = proposals(&c.store).unwrap();
    assert_eq!(all.len(), 2);
    let view = crate::api::ProposalView::new(all[1].clone(), c.height);
    assert_eq!((view.approvals, view.threshold), (3, 3));
    // Admitted platforms can act; removed ones cannot.
    let reg = TxCall::Registry(crate::registry::Call::RegisterMerchant {
        name: "Shop".into(),
        city: "Town".into(),
        mcc: "5812".into(),
        country: "CN".into(),
        merchant_key: pk(70),
    });
    c.ok(60, reg.clone());
    c.ok(1, propose(Action::RemovePlatform { id: pid("newco") }));
    c.ok(2, vote(3, true));
    c.ok(3, vote(3, true));
    let reg2 = TxCall::Registry(crate::registry::Call::RegisterMerchant {
        name: "Shop".into(),
        city: "Town".into(),
        mcc: "5812".into(),
        country: "CN".into(),
        merchant_key: pk(71),
    });
    // A removed platform's key is no longer known to the chain: refused before any contract runs.
    assert_eq!(c.call(60, reg2).code, 3);
    c.check_app_hash();
}

#[test]
fn action_json_shape() {
    let call = TxCall::Governance(Call::Propose {
        action: Action::QualifyWalletHost {
            platform: pid("host-a"),
        },
    });
    let json = serde_json::to_string(&call).unwrap();
    assert_eq!(
        json,
        r#"{"governance":{"propose":{"action":{"qualify_wallet_host":{"platform":"host-a"}}}}}"#
    );
    let json = serde_json::to_string(&vote(3, true)).unwrap();
    assert_eq!(
        json,
        r#"{"governance":{"vote":{"proposal":3,"approve":true}}}"#
    );
}
