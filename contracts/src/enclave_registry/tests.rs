//! Enclave registry tests: who registers an enclave and for which platform, who provisions whom, the
//! per-platform bound, deregistration, the minimum security version, revocation and a removed
//! platform's enclaves. Each refusal is the attack it stops.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::chain::tx::Call as TxCall;
use crate::enclave::{
    bootstrap, wrap_secret, BoxRandomness, ConsortiumSecret, DeviceCert, Enclave,
    EnclaveConfig as Build, Measurement, Quote,
};
use crate::governance::{Action, Call as GovCall};
use crate::primitives::crypto::SecretKey;
use crate::testkit::{key, member, pid, Chain, CHAIN};

/// Keys: 1 = platform `p1` (the one governor), 2 = platform `p2`, 3 = governor-only `gov3`'s key is
/// not used; 9 = a stranger (no member).
const P1: u8 = 1;
const P2: u8 = 2;
const STRANGER: u8 = 9;

fn chain_id() -> ChainId {
    ChainId::new(CHAIN)
}

fn root() -> SecretKey {
    SecretKey::from_seed([77; 32])
}

fn rand(n: u8) -> BoxRandomness {
    BoxRandomness::new([n; 32], [n; 12])
}

fn enclave(device: u8) -> Enclave {
    Enclave::new(&[device; 32], Build::new(chain_id()), None).unwrap()
}

fn consortium() -> (ConsortiumSecret, KxPublicKey) {
    bootstrap([55; 32])
}

/// A chain with platforms p1 (governor) and p2, and one genesis enclave (device 1) of p1,
/// provisioned. Returns the chain and that enclave, holding the consortium secret.
fn setup() -> (Chain, Enclave) {
    let (secret, public) = consortium();
    let mut e1 = enclave(1);
    let wrapped = wrap_secret(&secret, &e1.quote(), &rand(1)).unwrap();
    e1.provision(&wrapped, &public).unwrap();
    let genesis = EnclaveGenesis {
        attestation_root: root().public_key(),
        consortium_public: public,
        measurements: vec![Measurement::current()],
        allow_debug: false,
        enclaves: vec![GenesisEnclave {
            platform_id: pid("p1"),
            quote: e1.certified_quote(&root()),
        }],
        min_security_version: 1,
        platform_keys: Vec::new(),
        exec_public: None,
    };
    let mut c = Chain::with_enclave(
        vec![
            member(P1, "p1", &[Role::Platform, Role::Governor]),
            member(P2, "p2", &[Role::Platform]),
        ],
        Some(genesis),
    );
    // A key the chain knows that is no member: the contract's own refusals answer it.
    c.make_known(STRANGER);
    (c, e1)
}

fn register(e: &Enclave, platform: &str) -> TxCall {
    TxCall::Enclave(Call::RegisterBound {
        quote: e.certified_quote(&root()),
        binding: e.platform_binding(&pid(platform)),
    })
}

fn policy_of(c: &Chain) -> (EnclaveConfig, Vec<Measurement>, Vec<Measurement>) {
    let (a, r) = policy_lists(&c.store).unwrap();
    (config(&c.store).unwrap().unwrap(), a, r)
}

fn provision_call(provider: &Enclave, c: &Chain, recipient: &Enclave) -> TxCall {
    let (cfg, a, r) = policy_of(c);
    let id = chain_id();
    let p = provider
        .provision_for(
            &recipient.certified_quote(&root()),
            &policy(&cfg, &id, &a, &r),
            &rand(3),
        )
        .unwrap();
    TxCall::Enclave(Call::ProvisionSigned { provision: p })
}

fn refused(c: &mut Chain, signer: u8, call: TxCall, code: u32, text: &str) -> String {
    let r = c.call(signer, call);
    let msg = r.error.clone().unwrap_or_default();
    assert_eq!(r.code, code, "{r:?}");
    assert!(msg.contains(text), "{msg:?} does not say {text:?}");
    msg
}

fn gov(c: &mut Chain, action: Action) {
    let r = c.ok(P1, TxCall::Governance(GovCall::Propose { action }));
    assert!(
        r.events.iter().any(|e| e.kind == "proposal_executed"),
        "{r:?}"
    );
}

#[test]
fn genesis_enclaves_belong_to_genesis_platforms() {
    let (c, e1) = setup();
    let entry = enclave_entry(&c, &e1);
    assert_eq!(entry.platform_id, pid("p1"));
    assert!(entry.provisioned && entry.retired.is_none());
    assert_eq!(config(&c.store).unwrap().unwrap().min_security_version, 1);
    assert!(serving(&c.store, &chain_id(), &e1.signer())
        .unwrap()
        .is_ok());

    // A genesis enclave of a platform that is not a member is refused.
    let (_, public) = consortium();
    let g = crate::chain::genesis::Genesis {
        chain_id: chain_id(),
        genesis_time_ms: 1,
        validators: vec![crate::chain::genesis::GenesisValidator {
            name: "v".into(),
            public_key: key(250).public_key(),
            power: 1,
        }],
        members: vec![member(P1, "p1", &[Role::Platform])],
        enclave: Some(EnclaveGenesis {
            attestation_root: root().public_key(),
            consortium_public: public,
            measurements: vec![Measurement::current()],
            allow_debug: false,
            enclaves: vec![GenesisEnclave {
                platform_id: pid("nobody"),
                quote: e1.certified_quote(&root()),
            }],
            min_security_version: 1,
            platform_keys: Vec::new(),
            exec_public: None,
        }),
    };
    let e = crate::chain::genesis::genesis_state(&g).unwrap_err();
    assert!(
        e.to_string().contains("not a genesis platform member"),
        "{e}"
    );
}

fn enclave_entry(c: &Chain, e: &Enclave) -> EnclaveEntry {
    enclave_fn(&c.store, &e.signer()).unwrap().unwrap()
}

use super::enclave as enclave_fn;

/// Attack (a): a key that is no member signs a quote with the attestation root for a key pair it
/// holds and registers it, to be provisioned with the consortium secret. Refused: only a member
/// registers, and nothing is provisioned to an unregistered quote.
#[test]
fn attack_non_member_registers_a_quote_it_signed_refused() {
    let (mut c, e1) = setup();
    let mine = enclave(40);
    let msg = refused(
        &mut c,
        STRANGER,
        register(&mine, "p1"),
        409,
        "is not a platform member",
    );
    assert!(
        msg.contains(&key(STRANGER).public_key().to_string()),
        "{msg}"
    );
    assert!(enclave_fn(&c.store, &mine.signer()).unwrap().is_none());
    // The first format (no binding) is refused whoever sends it.
    refused(
        &mut c,
        P1,
        TxCall::Enclave(Call::Register {
            quote: mine.certified_quote(&root()),
        }),
        411,
        "without the enclave's platform binding",
    );
    // A provisioned enclave's wrap to the unregistered quote is refused on chain.
    let p = provision_call(&e1, &c, &mine);
    refused(&mut c, STRANGER, p, 403, "no registered enclave");
}

#[test]
fn a_member_registers_its_enclave_bound_to_its_platform() {
    let (mut c, _) = setup();
    let e2 = enclave(2);
    let r = c.ok(P2, register(&e2, "p2"));
    assert_eq!(r.events[0].attribute("platform_id"), Some("p2"));
    let entry = enclave_entry(&c, &e2);
    assert_eq!(entry.platform_id, pid("p2"));
    assert!(!entry.provisioned);
    assert_eq!(
        serving(&c.store, &chain_id(), &e2.signer()).unwrap(),
        Err(Unfit::NotProvisioned(e2.signer()))
    );
    // Twice: refused.
    refused(&mut c, P2, register(&e2, "p2"), 402, "already registered");
}

/// Another platform copies a quote (and binding) it saw in the mempool to register that enclave as
/// its own: refused, the enclave's binding names the platform it serves.
#[test]
fn attack_another_platform_registers_a_copied_enclave_refused() {
    let (mut c, _) = setup();
    let e2 = enclave(2);
    let msg = refused(
        &mut c,
        P1,
        register(&e2, "p2"),
        412,
        "platform binding does not verify",
    );
    assert!(msg.contains("for platform p1"), "{msg}");
    c.ok(P2, register(&e2, "p2"));
}

/// Attack (e): a stranger, another platform or an unprovisioned enclave marks an enclave
/// provisioned. Refused: a provisioning is accepted only signed by a provisioned enclave that
/// serves; the first format, unsigned, not at all.
#[test]
fn attack_mark_another_enclave_provisioned_refused() {
    let (mut c, e1) = setup();
    let (secret, _) = consortium();
    let e2 = enclave(2);
    c.ok(P2, register(&e2, "p2"));
    // Garbage or a genuine wrap, unsigned: refused from anyone.
    let wrapped = wrap_secret(&secret, &e2.quote(), &rand(4)).unwrap();
    for sender in [STRANGER, P1, P2] {
        refused(
            &mut c,
            sender,
            TxCall::Enclave(Call::Provision {
                wrapped: wrapped.clone(),
            }),
            413,
            "only a provisioned enclave can mark another one provisioned",
        );
    }
    // Signed by a key that is not an enclave (the stranger's own), or re-signed by another
    // platform's member key: the signer is no registered enclave.
    for k in [STRANGER, P1] {
        let sk = key(k);
        let provider = sk.public_key();
        let signature = sk.sign(&SignedProvision::sign_bytes(
            &chain_id(),
            &provider,
            &wrapped,
        ));
        let msg = refused(
            &mut c,
            k,
            TxCall::Enclave(Call::ProvisionSigned {
                provision: SignedProvision {
                    wrapped: wrapped.clone(),
                    provider,
                    signature,
                },
            }),
            415,
            "the providing enclave may not provision",
        );
        assert!(msg.contains("is not registered"), "{msg}");
    }
    // A provisioned enclave's signature over other bytes (a garbage wrap) does not verify.
    let TxCall::Enclave(Call::ProvisionSigned { provision: good }) = provision_call(&e1, &c, &e2)
    else {
        unreachable!()
    };
    let mut garbage = good.clone();
    garbage.wrapped.sealed.ciphertext = vec![0; garbage.wrapped.sealed.ciphertext.len()];
    refused(
        &mut c,
        STRANGER,
        TxCall::Enclave(Call::ProvisionSigned { provision: garbage }),
        414,
        "only the enclave that wrapped the secret can sign it",
    );
    // An enclave that is registered but not provisioned provisions nobody.
    let e3 = enclave(3);
    c.ok(P1, register(&e3, "p1"));
    let e3_holds_no_secret = e3.provision_for(
        &e2.certified_quote(&root()),
        &policy(
            &config(&c.store).unwrap().unwrap(),
            &chain_id(),
            &[Measurement::current()],
            &[],
        ),
        &rand(5),
    );
    assert!(e3_holds_no_secret.is_err());
    // The genuine signed provisioning, sent by anyone (the stranger relays it), is accepted once.
    let r = c.ok(
        STRANGER,
        TxCall::Enclave(Call::ProvisionSigned {
            provision: good.clone(),
        }),
    );
    assert_eq!(
        r.events[0].attribute("provider"),
        Some(e1.signer().to_hex().as_str())
    );
    let entry = enclave_entry(&c, &e2);
    assert!(entry.provisioned);
    assert_eq!(entry.provisioned_by, Some(e1.signer()));
    assert_eq!(
        wrapped_for(&c.store, &e2.signer()).unwrap(),
        Some(good.wrapped.clone())
    );
    refused(
        &mut c,
        STRANGER,
        TxCall::Enclave(Call::ProvisionSigned { provision: good }),
        404,
        "already provisioned",
    );
    assert!(serving(&c.store, &chain_id(), &e2.signer())
        .unwrap()
        .is_ok());
}

#[test]
fn an_unprovisioned_enclave_signature_provisions_nobody() {
    let (mut c, _) = setup();
    let (secret, _) = consortium();
    let e2 = enclave(2);
    let e3 = enclave(3);
    c.ok(P2, register(&e2, "p2"));
    c.ok(P2, register(&e3, "p2"));
    // e3 got hold of the secret off chain and signs a wrap: the chain says it is not provisioned,
    // so it does not serve and provisions nobody.
    let mut e3_prov = e3;
    let w3 = wrap_secret(&secret, &e3_prov.quote(), &rand(7)).unwrap();
    let signed_by_unprovisioned = {
        // Provision e3 off chain only to let it sign; the chain still says it is unprovisioned.
        e3_prov.provision(&w3, &consortium().1).unwrap();
        let (cfg, a, r) = policy_of(&c);
        e3_prov
            .provision_for(
                &e2.certified_quote(&root()),
                &policy(&cfg, &chain_id(), &a, &r),
                &rand(8),
            )
            .unwrap()
    };
    let msg = refused(
        &mut c,
        P2,
        TxCall::Enclave(Call::ProvisionSigned {
            provision: signed_by_unprovisioned,
        }),
        415,
        "the providing enclave may not provision",
    );
    assert!(msg.contains("not provisioned"), "{msg}");
}

#[test]
fn at_most_n_enclaves_per_platform_and_deregistration_frees_a_place() {
    let (mut c, e1) = setup();
    // p1 has its genesis enclave: 7 more fit.
    for d in 10..10 + (MAX_ENCLAVES_PER_PLATFORM as u8 - 1) {
        c.ok(P1, register(&enclave(d), "p1"));
    }
    let extra = enclave(60);
    refused(
        &mut c,
        P1,
        register(&extra, "p1"),
        410,
        "already has 8 enclaves registered",
    );
    // Another platform is not affected.
    c.ok(P2, register(&enclave(61), "p2"));
    // p2 cannot deregister p1's enclave; p1 can.
    refused(
        &mut c,
        P2,
        TxCall::Enclave(Call::Deregister {
            signer: e1.signer(),
        }),
        418,
        "only that platform's key deregisters it",
    );
    refused(
        &mut c,
        STRANGER,
        TxCall::Enclave(Call::Deregister {
            signer: e1.signer(),
        }),
        409,
        "is not a platform member",
    );
    let gone = enclave(10);
    c.ok(
        P1,
        TxCall::Enclave(Call::Deregister {
            signer: gone.signer(),
        }),
    );
    assert!(enclave_fn(&c.store, &gone.signer()).unwrap().is_none());
    c.ok(P1, register(&extra, "p1"));
    refused(
        &mut c,
        P1,
        TxCall::Enclave(Call::Deregister {
            signer: gone.signer(),
        }),
        417,
        "is not registered",
    );
    c.check_app_hash();
}

/// Attack: an enclave build with a known flaw (security version below the minimum) registers, is
/// provisioned or keeps answering. Refused at each step once governance raises the minimum.
#[test]
fn security_version_below_the_governance_minimum_refused() {
    let (mut c, e1) = setup();
    // A quote of security version 0 (the root signs what the hardware reports).
    let low = enclave(20);
    let mut q: Quote = low.quote();
    q.security_version = 0;
    let msg = refused(
        &mut c,
        P2,
        TxCall::Enclave(Call::RegisterBound {
            quote: {
                let device = SecretKey::from_seed([21; 32]);
                q.attest(&device, DeviceCert::issue(&root(), device.public_key()))
            },
            binding: low.platform_binding(&pid("p2")),
        }),
        401,
        "enclave security version 0 is below the chain's minimum 1",
    );
    assert!(msg.starts_with("quote refused"), "{msg}");
    // A current enclave registers; then governance raises the minimum to 2.
    let e2 = enclave(2);
    c.ok(P2, register(&e2, "p2"));
    let provision_before = provision_call(&e1, &c, &e2);
    refused(
        &mut c,
        P1,
        TxCall::Governance(GovCall::Propose {
            action: Action::SetEnclaveMinSecurityVersion { version: 1 },
        }),
        419,
        "differ from the current 1",
    );
    gov(&mut c, Action::SetEnclaveMinSecurityVersion { version: 2 });
    assert_eq!(config(&c.store).unwrap().unwrap().min_security_version, 2);
    // The genesis enclave (version 1) no longer serves, so its provisioning is refused.
    let unfit = serving(&c.store, &chain_id(), &e1.signer())
        .unwrap()
        .unwrap_err();
    assert!(
        unfit.to_string().contains("below the chain's minimum 2"),
        "{unfit}"
    );
    refused(
        &mut c,
        P1,
        provision_before,
        415,
        "below the chain's minimum 2",
    );
    refused(&mut c, P1, register(&enclave(21), "p1"), 401, "minimum 2");
}

/// A removed platform's enclaves are retired: they do not serve, provision or get provisioned,
/// even if a member of the same id is admitted again.
#[test]
fn removed_platforms_enclaves_are_retired() {
    let (mut c, e1) = setup();
    let e2 = enclave(2);
    c.ok(P2, register(&e2, "p2"));
    let p = provision_call(&e1, &c, &e2);
    c.ok(P1, p);
    assert!(serving(&c.store, &chain_id(), &e2.signer())
        .unwrap()
        .is_ok());
    let e3 = enclave(3);
    c.ok(P2, register(&e3, "p2"));
    gov(&mut c, Action::RemovePlatform { id: pid("p2") });
    let entry = enclave_entry(&c, &e2);
    let retired = entry.retired.clone().unwrap();
    assert!(retired
        .reason
        .contains("platform p2 was removed by governance"));
    let unfit = serving(&c.store, &chain_id(), &e2.signer())
        .unwrap()
        .unwrap_err();
    assert!(matches!(unfit, Unfit::Retired { .. }), "{unfit}");
    // Its unprovisioned enclave is not provisioned.
    let p = provision_call(&e1, &c, &e3);
    let msg = refused(
        &mut c,
        P1,
        p,
        416,
        "the recipient enclave may not be provisioned",
    );
    assert!(msg.contains("removed by governance"), "{msg}");
    // Its old key registers nothing: it is no longer known to the chain at all.
    refused(
        &mut c,
        P2,
        register(&enclave(4), "p2"),
        3,
        "is not known to this chain",
    );
    // Admitted again under the same id: the retired enclaves stay retired.
    gov(
        &mut c,
        Action::AdmitPlatform {
            member: member(P2, "p2", &[Role::Platform]),
        },
    );
    assert!(matches!(
        serving(&c.store, &chain_id(), &e2.signer()).unwrap(),
        Err(Unfit::Retired { .. })
    ));
    c.check_app_hash();
}

#[test]
fn revoked_measurement_stops_serving() {
    let (mut c, e1) = setup();
    gov(
        &mut c,
        Action::RevokeMeasurement {
            measurement: Measurement::current(),
        },
    );
    let unfit = serving(&c.store, &chain_id(), &e1.signer())
        .unwrap()
        .unwrap_err();
    assert!(unfit.to_string().contains("revoked"), "{unfit}");
}

/// `creator` starts `epoch` for `platforms`, its secret wrapped to `recipients`.
fn start_call(
    c: &Chain,
    creator: &Enclave,
    epoch: u64,
    platforms: &[&str],
    recipients: &[&Enclave],
) -> TxCall {
    TxCall::Enclave(Call::StartEpoch {
        start: start_of(c, creator, epoch, platforms, recipients),
    })
}

fn start_of(
    c: &Chain,
    creator: &Enclave,
    epoch: u64,
    platforms: &[&str],
    recipients: &[&Enclave],
) -> crate::enclave::SignedEpochStart {
    let (cfg, a, r) = policy_of(c);
    let id = chain_id();
    let quotes: Vec<_> = recipients
        .iter()
        .map(|e| e.certified_quote(&root()))
        .collect();
    let platforms: Vec<PlatformId> = platforms.iter().map(|p| pid(p)).collect();
    let mut n = 40u8;
    creator
        .start_epoch(
            epoch,
            &platforms,
            &quotes,
            &policy(&cfg, &id, &a, &r),
            &[9; 32],
            || {
                n += 1;
                rand(n)
            },
        )
        .unwrap()
}

/// A record payload sealed under `epoch` (the contract checks its form and epoch, not the key).
fn sealed_under(epoch: u64) -> Vec<u8> {
    crate::enclave::seal_record(
        b"{}",
        &crate::enclave::RecordKey {
            epoch,
            public: crate::enclave::KxSecret::from_seed([3; 32]).public_key(),
        },
        &crate::primitives::ids::MerchantId::derive(&key(40).public_key()),
        &pid("p1"),
        1,
        &rand(60),
    )
    .unwrap()
    .to_bytes()
}

#[test]
fn epochs_start_only_when_asked_by_a_serving_enclave_covering_exactly_members_and_enclaves() {
    let (mut c, mut e1) = setup();
    let mut e2 = enclave(2);
    c.ok(P2, register(&e2, "p2"));
    c.ok(P1, provision_call(&e1, &c, &e2));
    let w2 = wrapped_for(&c.store, &e2.signer()).unwrap().unwrap();
    e2.provision(&w2, &consortium().1).unwrap();
    assert_eq!(epoch(&c.store).unwrap().unwrap().current, 0);

    // Nobody asked for a new epoch.
    let call = start_call(&c, &e1, 1, &["p1", "p2"], &[&e1, &e2]);
    refused(&mut c, P1, call, 423, "no new epoch was asked for");
    gov(&mut c, Action::RotateEnclaveEpoch);
    assert!(epoch(&c.store)
        .unwrap()
        .unwrap()
        .rotation_requested_at
        .is_some());
    // A platform left out (its records would have no key), or an enclave left out (it could no
    // longer answer): refused.
    let call = start_call(&c, &e1, 1, &["p1"], &[&e1, &e2]);
    refused(
        &mut c,
        P1,
        call,
        425,
        "exactly the current platform members",
    );
    let call = start_call(&c, &e1, 1, &["p1", "p2"], &[&e1]);
    refused(&mut c, P1, call, 427, "exactly the serving enclaves");
    // An enclave that holds the secret (given out of band) but is not registered and serving.
    let mut e3 = enclave(3);
    e3.provision(
        &wrap_secret(&consortium().0, &e3.quote(), &rand(5)).unwrap(),
        &consortium().1,
    )
    .unwrap();
    let call = start_call(&c, &e3, 1, &["p1", "p2"], &[&e1, &e2]);
    refused(&mut c, P1, call, 421, "may not publish keys");
    // A genuine start with one platform key swapped after signing.
    let mut forged = start_of(&c, &e1, 1, &["p1", "p2"], &[&e1, &e2]);
    forged.start.platform_keys[1].key.public =
        crate::enclave::KxSecret::from_seed([8; 32]).public_key();
    refused(
        &mut c,
        P1,
        TxCall::Enclave(Call::StartEpoch { start: forged }),
        420,
        "does not verify",
    );

    // The genuine start: epoch 1, keys of p1 and p2 signed by e1, a wrap for each enclave.
    let call = start_call(&c, &e1, 1, &["p1", "p2"], &[&e1, &e2]);
    let r = c.ok(P1, call);
    assert_eq!(r.events[0].kind, "enclave_epoch_started");
    let now = epoch(&c.store).unwrap().unwrap();
    assert_eq!((now.current, now.rotation_requested_at), (1, None));
    let keys = current_platform_keys(&c.store).unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys
        .iter()
        .all(|k| k.key.epoch == 1 && k.attested.map(|(s, _)| s) == Some(e1.signer())));
    for e in [&mut e1, &mut e2] {
        let w = epoch_wrap_for(&c.store, &e.signer()).unwrap().unwrap();
        assert_eq!(w.epoch, 1);
        // A wrap cannot be adopted as another epoch or under another public key.
        assert!(e
            .adopt_epoch(&w.wrapped, 2, &now.consortium_public)
            .is_err());
        assert!(e.adopt_epoch(&w.wrapped, 1, &consortium().1).is_err());
        e.adopt_epoch(&w.wrapped, 1, &now.consortium_public)
            .unwrap();
        assert_eq!(e.current_epoch(), Some((1, now.consortium_public)));
        // Its platform key of epoch 1 is the one published.
        assert_eq!(e.platform_key(&pid("p2")).unwrap().key, keys[1].key);
    }
    // The same start again: no new epoch asked for.
    let call = start_call(&c, &e1, 2, &["p1", "p2"], &[&e1, &e2]);
    refused(&mut c, P1, call, 423, "no new epoch was asked for");

    // Records: under the old epoch refused, under the current one accepted.
    c.ok(
        P1,
        TxCall::Registry(crate::registry::Call::RegisterMerchant {
            name: "Epoch Tea".into(),
            city: "Hangzhou".into(),
            mcc: "5812".into(),
            country: "CN".into(),
            merchant_key: key(40).public_key(),
        }),
    );
    let merchant = crate::primitives::ids::MerchantId::derive(&key(40).public_key());
    refused(
        &mut c,
        P1,
        TxCall::Registry(crate::registry::Call::PutRecord {
            merchant_id: merchant.clone(),
            payload: sealed_under(0),
        }),
        212,
        "sealed under enclave epoch 0, the current epoch is 1",
    );
    c.ok(
        P1,
        TxCall::Registry(crate::registry::Call::PutRecord {
            merchant_id: merchant,
            payload: sealed_under(1),
        }),
    );
}

#[test]
fn a_platform_admitted_later_gets_its_key_from_a_serving_enclave_once() {
    let (mut c, e1) = setup();
    let publish = |e: &Enclave, p: &str| {
        TxCall::Enclave(Call::PublishPlatformKey {
            key: e.platform_key(&pid(p)).unwrap(),
        })
    };
    // Not a member yet.
    refused(
        &mut c,
        P1,
        publish(&e1, "p4"),
        428,
        "not a current platform member",
    );
    gov(
        &mut c,
        Action::AdmitPlatform {
            member: member(4, "p4", &[Role::Platform]),
        },
    );
    // Not signed by a serving enclave (an enclave holding the secret out of band).
    let mut e3 = enclave(3);
    e3.provision(
        &wrap_secret(&consortium().0, &e3.quote(), &rand(5)).unwrap(),
        &consortium().1,
    )
    .unwrap();
    refused(&mut c, P1, publish(&e3, "p4"), 421, "may not publish keys");
    // Signed, then the key swapped.
    let TxCall::Enclave(Call::PublishPlatformKey { key: mut swapped }) = publish(&e1, "p4") else {
        unreachable!()
    };
    swapped.key.platform_id = pid("p2");
    refused(
        &mut c,
        P1,
        TxCall::Enclave(Call::PublishPlatformKey { key: swapped }),
        420,
        "does not verify",
    );
    let r = c.ok(STRANGER, publish(&e1, "p4"));
    assert_eq!(r.events[0].kind, "platform_key_published");
    let entry = platform_key(&c.store, 0, &pid("p4")).unwrap().unwrap();
    assert_eq!(entry.attested.map(|(s, _)| s), Some(e1.signer()));
    refused(
        &mut c,
        P1,
        publish(&e1, "p4"),
        426,
        "already has a record key in epoch 0",
    );
}
