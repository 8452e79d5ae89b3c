//! Grants proven from state: a host that lies about a role or a record, shows another state or an
//! uncertified block, is refused with its reason; the honest evidence answers.

use super::{
    answer, build_evidence, AnswerError, EvidenceError, ProvenEntry, StateEvidence,
    MAX_EVIDENCE_ENTRIES,
};
use crate::chain::block::Header;
use crate::chain::commit::{vote_sign_bytes, Commit, CommitError, CommitSignature, PRECOMMIT};
use crate::chain::genesis::GenesisValidator;
use crate::chain::state::{prove_with, StateError, StateReader};
use crate::chain::tx::Call;
use crate::enclave::*;
use crate::governance::{self, Role};
use crate::primitives::codec;
use crate::primitives::ids::{ChainId, MerchantId};
use crate::primitives::merkle;
use crate::registry;
use crate::testkit::{key, member, pid, pk, Chain, CHAIN};

const P_TEXT: &str = "P-acquirer-record-MARKER";
const Q_TEXT: &str = "Q-acquirer-record-MARKER";

fn chain_id() -> ChainId {
    ChainId::new(CHAIN)
}

fn validators(keys: &[u8]) -> Vec<GenesisValidator> {
    keys.iter()
        .map(|n| GenesisValidator {
            name: format!("v{n}"),
            public_key: pk(*n),
            power: 1,
        })
        .collect()
}

fn rand(n: u8) -> BoxRandomness {
    BoxRandomness::new([n; 32], [n; 12])
}

/// A chain (validator 250) with platforms p (key 1), q (key 2) and r (key 3); a merchant (key 40)
/// with sealed records of p and q, both accepted; and a provisioned enclave trusting `trusted`.
struct Fx {
    chain: Chain,
    enclave: Enclave,
    merchant: MerchantId,
}

fn fixture_trusting(trusted: &[u8]) -> Fx {
    let mut chain = Chain::new(vec![
        member(1, "p", &[Role::Platform]),
        member(2, "q", &[Role::Platform]),
        member(3, "r", &[Role::Platform]),
    ]);
    let (secret, public) = bootstrap([100; 32]);
    let config = EnclaveConfig::new(chain_id()).with_validators(validators(trusted));
    let mut enclave = Enclave::new(&[1; 32], config, None).unwrap();
    let wrapped = wrap_secret(&secret, &enclave.quote(), &rand(1)).unwrap();
    enclave.provision(&wrapped, &public).unwrap();
    let merchant = MerchantId::derive(&pk(40));
    chain.ok(
        1,
        Call::Registry(registry::Call::RegisterMerchant {
            name: "Grant Noodles".into(),
            city: "Shanghai".into(),
            mcc: "5812".into(),
            country: "CN".into(),
            merchant_key: pk(40),
        }),
    );
    for (n, p, text) in [(1, "p", P_TEXT), (2, "q", Q_TEXT)] {
        let key = RecordKey {
            epoch: 0,
            public: platform_public(&secret, &chain_id(), 0, &pid(p)).unwrap(),
        };
        let sealed =
            seal_record(text.as_bytes(), &key, &merchant, &pid(p), 1, &rand(n + 10)).unwrap();
        chain.ok(
            n,
            Call::Registry(registry::Call::PutRecord {
                merchant_id: merchant.clone(),
                payload: sealed.to_bytes(),
            }),
        );
        chain.ok(
            40,
            Call::Registry(registry::Call::AcceptAcquirer {
                platform_id: pid(p),
            }),
        );
    }
    Fx {
        chain,
        enclave,
        merchant,
    }
}

fn fixture() -> Fx {
    fixture_trusting(&[250])
}

/// The header of the next block (it certifies the chain's current state) and its commit signed by
/// the keys `signers`.
fn certify(chain: &Chain, signers: &[u8]) -> (Header, Commit) {
    let header = chain.block(Vec::new()).header;
    let hash = header.hash();
    let commit = Commit {
        height: header.height,
        round: 0,
        block_hash: hash,
        signatures: signers
            .iter()
            .map(|n| CommitSignature {
                validator: pk(*n),
                signature: key(*n).sign(&vote_sign_bytes(
                    &chain_id(),
                    PRECOMMIT,
                    header.height,
                    0,
                    Some(&hash),
                    &pk(*n),
                )),
            })
            .collect(),
    };
    (header, commit)
}

fn prover(
    chain: &Chain,
) -> impl Fn(&[u8]) -> Result<crate::chain::state::StateProof, StateError> + '_ {
    let tree = merkle::Tree::new(&chain.store.all_bucket_hashes().unwrap());
    move |k: &[u8]| {
        prove_with(&chain.store, k, |b| {
            tree.proof(usize::from(b))
                .ok_or_else(|| StateError("no bucket".into()))
        })
    }
}

/// The honest host's evidence for `lookup`, certified by `signers`.
fn evidence_by(fx: &Fx, lookup: &SignedLookup, signers: &[u8]) -> StateEvidence {
    let (header, commit) = certify(&fx.chain, signers);
    build_evidence(
        &fx.chain.store,
        &lookup.request,
        header,
        commit,
        prover(&fx.chain),
    )
    .unwrap()
    .0
}

fn evidence(fx: &Fx, lookup: &SignedLookup) -> StateEvidence {
    evidence_by(fx, lookup, &[250])
}

/// A lookup of the merchant as platform `platform` by key `n`, issued at the next block.
fn lookup(fx: &Fx, n: u8, platform: &str, nonce: u8) -> (SignedLookup, KxSecret) {
    let reply = KxSecret::from_seed([n.wrapping_add(nonce).wrapping_add(60); 32]);
    let signed = LookupRequest {
        chain_id: chain_id(),
        merchant_id: fx.merchant.clone(),
        platform_id: pid(platform),
        requester: pk(n),
        reply_kx_public: reply.public_key(),
        nonce: [nonce; crate::enclave::query::LOOKUP_NONCE_LEN],
        issued_at_height: fx.chain.height + 1,
        enclave: fx.enclave.signer(),
    }
    .sign(&key(n));
    (signed, reply)
}

fn refused(fx: &Fx, lookup: &SignedLookup, ev: &StateEvidence) -> EvidenceError {
    match answer(&fx.enclave, lookup, ev, &rand(7)) {
        Err(AnswerError::Evidence(e)) => {
            assert!(!e.to_string().is_empty());
            e
        }
        other => panic!("expected an evidence refusal, got {other:?}"),
    }
}

#[test]
fn the_honest_evidence_answers_and_opens_only_the_platforms_record() {
    let fx = fixture();
    let (req, reply) = lookup(&fx, 1, "p", 0);
    let ev = evidence(&fx, &req);
    // validator set, member index and member, platform lists, two records (and the role checks
    // that stop at the member)
    assert!(ev.entries.len() <= MAX_EVIDENCE_ENTRIES);
    let signed = answer(&fx.enclave, &req, &ev, &rand(3)).unwrap();
    assert_eq!(signed.answer.height, ev.header.height);
    verify_answer(
        &signed,
        &req.request.hash(),
        &fx.enclave.signer(),
        &fx.enclave.measurement(),
    )
    .unwrap();
    let plaintext = open_answer(&reply, &signed.answer).unwrap().unwrap();
    assert_eq!(plaintext.as_slice(), P_TEXT.as_bytes());
    assert_eq!(signed.answer.other_platforms, vec![pid("q")]);
    // A key with no role at p: the proven state says so.
    let (req, _) = lookup(&fx, 2, "p", 1);
    let ev = evidence(&fx, &req);
    assert!(matches!(
        answer(&fx.enclave, &req, &ev, &rand(3)),
        Err(AnswerError::Enclave(EnclaveError::NoRole { .. }))
    ));
}

#[test]
fn a_forged_role_value_is_refused() {
    let fx = fixture();
    // q's key asks for p's record; the lying host claims q's key is p's member key.
    let (req, _) = lookup(&fx, 2, "p", 0);
    let mut ev = evidence(&fx, &req);
    let k = governance::member_by_key_key(&pk(2));
    let entry = ev.entries.iter_mut().find(|e| e.key == k).unwrap();
    entry.value = Some(codec::encode(&pid("p")));
    let e = refused(&fx, &req, &ev);
    assert!(matches!(e, EvidenceError::BadProof { .. }), "{e}");
    assert!(e.to_string().contains("gov/"), "{e}");
}

#[test]
fn a_proof_of_another_key_is_refused() {
    let fx = fixture();
    let (req, _) = lookup(&fx, 2, "p", 0);
    let mut ev = evidence(&fx, &req);
    // p's genuine index entry and proof, relabelled as q's key's.
    let (p_req, _) = lookup(&fx, 1, "p", 1);
    let p_ev = evidence(&fx, &p_req);
    let p_key = governance::member_by_key_key(&pk(1));
    let genuine = p_ev.entries.iter().find(|e| e.key == p_key).unwrap();
    let k = governance::member_by_key_key(&pk(2));
    let entry = ev.entries.iter_mut().find(|e| e.key == k).unwrap();
    entry.value = genuine.value.clone();
    entry.proof = genuine.proof.clone();
    let e = refused(&fx, &req, &ev);
    assert!(matches!(e, EvidenceError::BadProof { .. }), "{e}");
}

#[test]
fn proofs_of_another_state_are_refused() {
    let mut fx = fixture();
    let (req, _) = lookup(&fx, 1, "p", 0);
    let old = evidence(&fx, &req);
    // The chain moves on (q renames itself): the old proofs under the new certified header.
    fx.chain.ok(
        2,
        Call::Governance(governance::Call::UpdateMemberName {
            name: "Q renamed".into(),
        }),
    );
    let (header, commit) = certify(&fx.chain, &[250]);
    assert_ne!(header.prev_app_hash, old.header.prev_app_hash);
    let mixed = StateEvidence {
        header,
        commit: commit.clone(),
        entries: old.entries.clone(),
    };
    let e = refused(&fx, &req, &mixed);
    assert!(matches!(e, EvidenceError::BadProof { .. }), "{e}");
    // The old header with the new block's commit: not its commit.
    let e = refused(
        &fx,
        &req,
        &StateEvidence {
            commit,
            ..old.clone()
        },
    );
    assert!(matches!(e, EvidenceError::CommitHeight { .. }), "{e}");
    // The old header with a commit of its height for another block.
    let mut ev = old;
    ev.commit.block_hash = crate::primitives::crypto::Hash::digest(b"another block");
    let e = refused(&fx, &req, &ev);
    assert!(
        matches!(
            e,
            EvidenceError::NotCertified {
                reason: CommitError::WrongBlock { .. },
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn a_stale_certificate_is_refused() {
    let mut fx = fixture();
    let (old_req, _) = lookup(&fx, 1, "p", 0);
    let old = evidence(&fx, &old_req);
    fx.chain.advance_to(fx.chain.height + 10);
    let (req, _) = lookup(&fx, 1, "p", 1);
    answer(&fx.enclave, &req, &evidence(&fx, &req), &rand(3)).unwrap();
    let e = refused(&fx, &old_req, &old);
    assert!(matches!(e, EvidenceError::Stale { .. }), "{e}");
}

#[test]
fn a_certificate_with_too_little_power_or_bad_signers_is_refused() {
    let fx = fixture();
    let (req, _) = lookup(&fx, 1, "p", 0);
    type Expect = fn(&CommitError) -> bool;
    let cases: Vec<(&str, StateEvidence, Expect)> = vec![
        ("no signature", evidence_by(&fx, &req, &[]), |e| {
            matches!(
                e,
                CommitError::InsufficientPower {
                    signed: 0,
                    total: 1
                }
            )
        }),
        ("a non-validator", evidence_by(&fx, &req, &[99]), |e| {
            matches!(e, CommitError::UnknownValidator(_))
        }),
        (
            "a bad signature",
            {
                let mut ev = evidence(&fx, &req);
                ev.commit.signatures[0].signature.0[3] ^= 1;
                ev
            },
            |e| matches!(e, CommitError::BadSignature(_)),
        ),
    ];
    for (what, ev, expected) in cases {
        match refused(&fx, &req, &ev) {
            EvidenceError::NotCertified { reason, .. } => {
                assert!(expected(&reason), "{what}: {reason}")
            }
            e => panic!("{what}: {e}"),
        }
    }
    // An enclave trusting four validators: one signature of four is too little.
    let fx4 = fixture_trusting(&[250, 251, 252, 253]);
    let (req, _) = lookup(&fx4, 1, "p", 0);
    let e = refused(&fx4, &req, &evidence_by(&fx4, &req, &[250]));
    assert!(
        matches!(
            e,
            EvidenceError::NotCertified {
                reason: CommitError::InsufficientPower {
                    signed: 1,
                    total: 4
                },
                ..
            }
        ),
        "{e}"
    );
    // Certified by the four it trusts, but the state's validator set is another.
    let e = refused(&fx4, &req, &evidence_by(&fx4, &req, &[250, 251, 252]));
    assert_eq!(e, EvidenceError::ValidatorSetChanged);
}

#[test]
fn records_dropped_added_or_substituted_are_refused() {
    let fx = fixture();
    let (req, _) = lookup(&fx, 1, "p", 0);
    let honest = evidence(&fx, &req);

    // Dropped: q's record (read last) left out.
    let mut ev = honest.clone();
    let dropped = ev.entries.pop().unwrap();
    assert!(dropped.key.starts_with(b"reg/record/"), "{:?}", dropped.key);
    let e = refused(&fx, &req, &ev);
    assert!(matches!(e, EvidenceError::Missing(_)), "{e}");

    // Dropped and claimed absent: the proof of a present key does not prove its absence.
    let mut ev = honest.clone();
    ev.entries.last_mut().unwrap().value = None;
    let e = refused(&fx, &req, &ev);
    assert!(matches!(e, EvidenceError::BadProof { .. }), "{e}");

    // Added: a genuinely proven entry the decision does not read (r's absent record).
    let mut ev = honest.clone();
    let r_key = [b"reg/record/", fx.merchant.as_str().as_bytes(), b"/r"].concat();
    let proof = prover(&fx.chain)(&r_key).unwrap();
    ev.entries.push(ProvenEntry {
        key: r_key,
        value: None,
        proof,
    });
    let e = refused(&fx, &req, &ev);
    assert!(matches!(e, EvidenceError::Unused(_)), "{e}");

    // Substituted: p's record replaced by q's value.
    let mut ev = honest.clone();
    let n = ev.entries.len();
    let q_value = ev.entries[n - 1].value.clone();
    ev.entries[n - 2].value = q_value;
    let e = refused(&fx, &req, &ev);
    assert!(matches!(e, EvidenceError::BadProof { .. }), "{e}");

    // Duplicated, and too many.
    let mut ev = honest.clone();
    let first = ev.entries[0].clone();
    ev.entries.push(first);
    let e = refused(&fx, &req, &ev);
    assert!(matches!(e, EvidenceError::DuplicateEntry(_)), "{e}");
    let mut ev = honest.clone();
    let first = ev.entries[0].clone();
    ev.entries.resize(MAX_EVIDENCE_ENTRIES + 1, first);
    let e = refused(&fx, &req, &ev);
    assert_eq!(e, EvidenceError::TooManyEntries(MAX_EVIDENCE_ENTRIES + 1));

    // After all that, the honest evidence still answers (nothing was reserved by a refusal).
    answer(&fx.enclave, &req, &honest, &rand(3)).unwrap();
}

#[test]
fn an_enclave_without_a_trusted_set_or_of_another_chain_refuses() {
    let fx = fixture();
    let (req, _) = lookup(&fx, 1, "p", 0);
    let ev = evidence(&fx, &req);
    let (secret, public) = bootstrap([100; 32]);
    let mut bare = Enclave::new(&[1; 32], EnclaveConfig::new(chain_id()), None).unwrap();
    let wrapped = wrap_secret(&secret, &bare.quote(), &rand(1)).unwrap();
    bare.provision(&wrapped, &public).unwrap();
    assert_eq!(
        answer(&bare, &req, &ev, &rand(3)),
        Err(AnswerError::Evidence(EvidenceError::NoTrustedValidators))
    );
    let mut other = ev.clone();
    other.header.chain_id = ChainId::new("another-chain");
    assert!(matches!(
        refused(&fx, &req, &other),
        EvidenceError::WrongChain { .. }
    ));
}

/// A chain whose genesis has an enclave (root key 77, this build allowed), and an enclave
/// trusting validator 250.
fn policy_fixture() -> (Chain, Enclave) {
    let root = crate::primitives::crypto::SecretKey::from_seed([77; 32]);
    let (secret, public) = bootstrap([100; 32]);
    let config = EnclaveConfig::new(chain_id()).with_validators(validators(&[250]));
    let mut enclave = Enclave::new(&[1; 32], config, None).unwrap();
    let wrapped = wrap_secret(&secret, &enclave.quote(), &rand(1)).unwrap();
    enclave.provision(&wrapped, &public).unwrap();
    let chain = Chain::with_enclave(
        vec![member(1, "p", &[Role::Platform])],
        Some(crate::enclave_registry::EnclaveGenesis {
            attestation_root: root.public_key(),
            consortium_public: public,
            measurements: vec![Measurement::current()],
            allow_debug: false,
            enclaves: vec![crate::enclave_registry::GenesisEnclave {
                platform_id: pid("p"),
                quote: enclave.certified_quote(&root),
            }],
            min_security_version: 1,
            platform_keys: Vec::new(),
            exec_public: None,
        }),
    );
    (chain, enclave)
}

#[test]
fn the_provisioning_policy_comes_from_certified_state_not_the_host() {
    let (chain, enclave) = policy_fixture();
    let honest = || {
        let (header, commit) = certify(&chain, &[250]);
        super::build_policy_evidence(&chain.store, header, commit, prover(&chain)).unwrap()
    };
    // Certified by a key that is no validator (checked first: once a block's commit verified,
    // the enclave does not check it again).
    let (header, commit) = certify(&chain, &[9]);
    let unsigned =
        super::build_policy_evidence(&chain.store, header, commit, prover(&chain)).unwrap();
    assert!(matches!(
        super::proven_policy(&enclave, &unsigned),
        Err(EvidenceError::NotCertified { .. })
    ));
    let p = super::proven_policy(&enclave, &honest()).unwrap();
    assert_eq!(p.allowed, vec![Measurement::current()]);
    assert!(p.revoked.is_empty());
    assert_eq!(p.config.min_security_version, 1);

    // A host that adds the measurement of a build of its own (one that would print the secrets it
    // receives) to the allowed list: its value does not hold under the certified app hash.
    let evil = Measurement::of("paychain/enclave-that-prints-secrets", "1.0.0");
    let mut forged = honest();
    let allowed = forged
        .entries
        .iter_mut()
        .find(|e| e.value.as_ref().is_some_and(|v| v.len() == 4 + 32))
        .unwrap();
    allowed.value = Some(codec::encode(&vec![Measurement::current(), evil]));
    assert!(matches!(
        super::proven_policy(&enclave, &forged),
        Err(EvidenceError::BadProof { .. })
    ));
    // ... or that leaves the revoked list out.
    let mut dropped = honest();
    dropped.entries.remove(2);
    assert!(matches!(
        super::proven_policy(&enclave, &dropped),
        Err(EvidenceError::Missing(_))
    ));
}
