//! End-to-end tests of the enclave's pure core: attestation, provisioning, sealing, lookups.

use super::records::tests::{merchant, platform};
use super::*;
use crate::primitives::crypto::Hash;
use crate::primitives::ids::MerchantId;

const MARKER: &str = "MARKER-7f3a9c-acquirer-account";

fn chain() -> ChainId {
    ChainId::new("paychain-test")
}

fn root() -> SecretKey {
    SecretKey::from_seed([200; 32])
}

fn rand(n: u8) -> BoxRandomness {
    BoxRandomness::new([n; 32], [n; 12])
}

fn allowed() -> Vec<Measurement> {
    vec![Measurement::current()]
}

fn policy<'a>(
    root_pk: &'a PublicKey,
    allowed: &'a [Measurement],
    chain_id: &'a ChainId,
) -> QuotePolicy<'a> {
    QuotePolicy {
        root: root_pk,
        allowed,
        revoked: &[],
        chain_id,
        allow_debug: false,
        min_security_version: 1,
    }
}

/// A provisioned enclave on device `device`, and the consortium public key.
fn provisioned(device: u8) -> (Enclave, KxPublicKey) {
    let (secret, public) = bootstrap([100; 32]);
    let mut e = Enclave::new(&[device; 32], EnclaveConfig::new(chain()), None).unwrap();
    let wrapped = wrap_secret(&secret, &e.quote(), &rand(1)).unwrap();
    e.provision(&wrapped, &public).unwrap();
    (e, public)
}

/// The record key of platform `p` in epoch 0 of the consortium whose public key is `public` (the
/// tests' consortium, from seed 100).
fn epoch0_key(public: &KxPublicKey, p: &str) -> RecordKey {
    let (secret, genesis_public) = bootstrap([100; 32]);
    assert_eq!(public, &genesis_public, "the tests' consortium");
    RecordKey {
        epoch: 0,
        public: platform_public(&secret, &chain(), 0, &platform(p)).unwrap(),
    }
}

fn record(public: &KxPublicKey, m: &MerchantId, p: &str, version: u64, text: &str) -> StoredRecord {
    StoredRecord {
        platform_id: platform(p),
        version,
        sealed: seal_record(
            text.as_bytes(),
            &epoch0_key(public, p),
            m,
            &platform(p),
            version,
            &rand(version as u8 + 30),
        )
        .unwrap(),
    }
}

struct Client {
    key: SecretKey,
    reply: KxSecret,
}

fn client(n: u8) -> Client {
    Client {
        key: SecretKey::from_seed([n; 32]),
        reply: KxSecret::from_seed([n.wrapping_add(100); 32]),
    }
}

fn lookup(c: &Client, m: &MerchantId, p: &str, height: u64, nonce: u8) -> SignedLookup {
    LookupRequest {
        chain_id: chain(),
        merchant_id: m.clone(),
        platform_id: platform(p),
        requester: c.key.public_key(),
        reply_kx_public: c.reply.public_key(),
        nonce: [nonce; query::LOOKUP_NONCE_LEN],
        issued_at_height: height,
        // Every lookup test asks the enclave of device 1 ([`provisioned`]`(1)`).
        enclave: Enclave::new(&[1; 32], EnclaveConfig::new(chain()), None)
            .unwrap()
            .signer(),
    }
    .sign(&c.key)
}

/// What the role check gave: the tests here are of the record paths (`crate::grants`' tests prove roles).
fn grant(_c: &Client, _p: &str) -> RequesterRole {
    RequesterRole::HostedUser
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| w == &needle)
        .count()
}

#[test]
fn identity_is_stable_per_device_and_build() {
    let a = Enclave::new(&[1; 32], EnclaveConfig::new(chain()), None).unwrap();
    let a2 = Enclave::new(&[1; 32], EnclaveConfig::new(chain()), None).unwrap();
    assert_eq!(a.quote(), a2.quote());
    let b = Enclave::new(&[2; 32], EnclaveConfig::new(chain()), None).unwrap();
    assert_ne!(a.signer(), b.signer());
    assert_ne!(a.kx_public(), b.kx_public());
    let mut other_build = EnclaveConfig::new(chain());
    other_build.measurement = Measurement::of(ENCLAVE_CODE_ID, "2.0.0");
    let c = Enclave::new(&[1; 32], other_build, None).unwrap();
    assert_ne!(a.signer(), c.signer());
    // The quote an enclave produces verifies once the root signs it.
    let sq = a.certified_quote(&root());
    assert!(sq.quote.simulated);
    assert_eq!(
        verify_quote(
            &sq,
            &root().public_key(),
            &allowed(),
            &[],
            &chain(),
            false,
            1
        ),
        Ok(())
    );
}

#[test]
fn provisioning_round_trip_through_the_chain() {
    let (a, public) = provisioned(1);
    let mut b = Enclave::new(&[2; 32], EnclaveConfig::new(chain()), None).unwrap();
    assert!(!b.is_provisioned());
    let root_pk = root().public_key();
    let allowed = allowed();
    let chain_id = chain();
    let pol = policy(&root_pk, &allowed, &chain_id);
    let wrapped = a
        .wrap_for(&b.certified_quote(&root()), &pol, &rand(2))
        .unwrap();
    // Travels as bytes in a transaction.
    let wrapped = WrappedSecret::from_bytes(&wrapped.to_bytes()).unwrap();
    b.provision(&wrapped, &public).unwrap();
    assert_eq!(b.consortium_public(), Some(public));
    // Idempotent.
    b.provision(&wrapped, &public).unwrap();
}

#[test]
fn provisioning_refuses_unverified_quotes_and_wrong_recipients() {
    let (a, public) = provisioned(1);
    let root_pk = root().public_key();
    let allowed = allowed();
    let chain_id = chain();
    let pol = policy(&root_pk, &allowed, &chain_id);
    let b = Enclave::new(&[2; 32], EnclaveConfig::new(chain()), None).unwrap();
    // A quote from a device no vendor root in genesis certified gets nothing.
    let forged = b.certified_quote(&SecretKey::from_seed([66; 32]));
    assert_eq!(
        a.wrap_for(&forged, &pol, &rand(2)).unwrap_err(),
        EnclaveError::Quote(QuoteError::UncertifiedDevice)
    );
    // Nor does a certified device's certificate on a quote its key did not sign.
    let mut stolen = b.certified_quote(&root());
    stolen.signature = a.certified_quote(&root()).signature;
    assert_eq!(
        a.wrap_for(&stolen, &pol, &rand(2)).unwrap_err(),
        EnclaveError::Quote(QuoteError::ForgedSignature)
    );
    // An enclave refuses to sign its quote under another machine's certificate.
    let other_machine = DeviceCert::issue(&root(), a.device_key());
    assert!(matches!(
        b.signed_quote(&other_machine),
        Err(EnclaveError::WrongDevice { .. })
    ));
    assert_eq!(
        b.signed_quote(&DeviceCert::issue(&root(), b.device_key()))
            .unwrap(),
        b.certified_quote(&root())
    );
    // A debug enclave on a non-dev chain gets nothing.
    let mut debug_cfg = EnclaveConfig::new(chain());
    debug_cfg.debug = true;
    let d = Enclave::new(&[3; 32], debug_cfg, None).unwrap();
    assert_eq!(
        a.wrap_for(&d.certified_quote(&root()), &pol, &rand(2))
            .unwrap_err(),
        EnclaveError::Quote(QuoteError::DebugNotAllowed)
    );
    // A secret wrapped for B does not open in C.
    let wrapped = a
        .wrap_for(&b.certified_quote(&root()), &pol, &rand(2))
        .unwrap();
    let mut c = Enclave::new(&[4; 32], EnclaveConfig::new(chain()), None).unwrap();
    assert!(matches!(
        c.provision(&wrapped, &public).unwrap_err(),
        EnclaveError::Provision(ProvisionError::WrongRecipient { .. })
    ));
    // Relabelled for C, it still fails authentication (it is boxed to B's key).
    let mut relabelled = wrapped.clone();
    relabelled.recipient_quote_hash = c.quote().hash();
    assert_eq!(
        c.provision(&relabelled, &public).unwrap_err(),
        EnclaveError::Provision(ProvisionError::Authentication)
    );
    // A secret that is not the genesis consortium key is refused.
    let (_, other_public) = bootstrap([101; 32]);
    let mut b = b;
    assert!(matches!(
        b.provision(&wrapped, &other_public).unwrap_err(),
        EnclaveError::Provision(ProvisionError::SecretMismatch { .. })
    ));
    // An unprovisioned enclave cannot wrap.
    assert_eq!(
        c.wrap_for(&b.certified_quote(&root()), &pol, &rand(2))
            .unwrap_err(),
        EnclaveError::NotProvisioned
    );
}

#[test]
fn restart_unseals_other_build_cannot_corrupt_file_is_clear() {
    let (e, public) = provisioned(1);
    let file = e.sealed_blob([9; 12]).unwrap().to_bytes();
    drop(e);
    // Restart: same device, same build.
    let blob = SealedBlob::from_bytes(&file).unwrap();
    let e = Enclave::new(&[1; 32], EnclaveConfig::new(chain()), Some(&blob)).unwrap();
    assert_eq!(e.consortium_public(), Some(public));
    // Another build on the same device.
    let mut other = EnclaveConfig::new(chain());
    other.measurement = Measurement::of(ENCLAVE_CODE_ID, "2.0.0");
    assert!(matches!(
        Enclave::new(&[1; 32], other, Some(&blob)).unwrap_err(),
        EnclaveError::Seal(SealError::WrongMeasurement { .. })
    ));
    // Same build, another device.
    assert_eq!(
        Enclave::new(&[2; 32], EnclaveConfig::new(chain()), Some(&blob)).unwrap_err(),
        EnclaveError::Seal(SealError::Authentication)
    );
    // A corrupted file.
    let mut bad = file.clone();
    let i = bad.len() - 3;
    bad[i] ^= 0xff;
    let err = Enclave::new(
        &[1; 32],
        EnclaveConfig::new(chain()),
        Some(&SealedBlob::from_bytes(&bad).unwrap()),
    )
    .unwrap_err();
    assert_eq!(err, EnclaveError::Seal(SealError::Authentication));
    assert!(err.to_string().contains("corrupted"));
    // An unprovisioned enclave has nothing to seal.
    let fresh = Enclave::new(&[5; 32], EnclaveConfig::new(chain()), None).unwrap();
    assert_eq!(
        fresh.sealed_blob([0; 12]).unwrap_err(),
        EnclaveError::NotProvisioned
    );
}

#[test]
fn lookup_for_p_opens_only_p_record_reencrypted_and_verifiable() {
    let (e, public) = provisioned(1);
    let m = merchant(1);
    let records = [
        record(&public, &m, "p", 2, "P-secret acct 111"),
        record(&public, &m, "q", 5, "Q-secret acct 222"),
        record(&public, &m, "r", 1, "R-secret acct 333"),
    ];
    let alice = client(1);
    let req = lookup(&alice, &m, "p", 50, 0);
    let signed = e
        .answer_unproven(&req, Some(grant(&alice, "p")), &records, 51, &rand(3))
        .unwrap();
    // Travels as bytes over RPC.
    let signed = SignedAnswer::from_bytes(&signed.to_bytes()).unwrap();
    assert_eq!(
        verify_answer(&signed, &req.request.hash(), &e.signer(), &e.measurement()),
        Ok(())
    );
    let a = &signed.answer;
    assert_eq!(a.other_platforms, vec![platform("q"), platform("r")]);
    assert_eq!(a.height, 51);
    let rec = a.record.as_ref().unwrap();
    assert_eq!(rec.version, 2);
    assert_eq!(rec.ciphertext_hash, records[0].sealed.hash());
    let plaintext = open_answer(&alice.reply, a).unwrap().unwrap();
    assert_eq!(&plaintext[..], b"P-secret acct 111");
    // Nothing of the other platforms' plaintext, nor P's, is in the answer's bytes.
    let bytes = signed.to_bytes();
    for s in ["P-secret", "Q-secret", "R-secret"] {
        assert_eq!(count(&bytes, s.as_bytes()), 0);
    }
    // Another reply key cannot open it.
    assert_eq!(
        open_answer(&client(2).reply, a).unwrap_err(),
        QueryError::Authentication
    );
}

#[test]
fn other_platforms_user_gets_no_plaintext() {
    let (e, public) = provisioned(1);
    let m = merchant(1);
    let records = [record(&public, &m, "p", 2, "P-secret acct 111")];
    let bob = client(2);
    // Bob is hosted by q: his lookup names q, and q has no record for this merchant.
    let req = lookup(&bob, &m, "q", 50, 0);
    let signed = e
        .answer_unproven(&req, Some(grant(&bob, "q")), &records, 50, &rand(3))
        .unwrap();
    verify_answer(&signed, &req.request.hash(), &e.signer(), &e.measurement()).unwrap();
    assert_eq!(signed.answer.record, None);
    assert_eq!(signed.answer.other_platforms, vec![platform("p")]);
    assert_eq!(open_answer(&bob.reply, &signed.answer).unwrap(), None);
    // Bob naming p, where the state gives him no role, is refused.
    let req = lookup(&bob, &m, "p", 50, 1);
    assert!(matches!(
        e.answer_unproven(&req, None, &records, 50, &rand(3)),
        Err(EnclaveError::NoRole { .. })
    ));
}

#[test]
fn lookup_refusals() {
    let (e, public) = provisioned(1);
    let m = merchant(1);
    let records = [record(&public, &m, "p", 2, "P-secret")];
    let alice = client(1);
    let g = grant(&alice, "p");

    // Replay.
    let req = lookup(&alice, &m, "p", 50, 0);
    e.answer_unproven(&req, Some(g), &records, 50, &rand(3))
        .unwrap();
    assert!(matches!(
        e.answer_unproven(&req, Some(g), &records, 51, &rand(4)),
        Err(EnclaveError::Query(QueryError::Replayed(_)))
    ));
    // Stale.
    let old = lookup(&alice, &m, "p", 10, 1);
    assert!(matches!(
        e.answer_unproven(
            &old,
            Some(g),
            &records,
            10 + DEFAULT_LOOKUP_WINDOW + 1,
            &rand(4)
        ),
        Err(EnclaveError::Query(QueryError::Stale { .. }))
    ));
    // Forged signature: signed by someone else.
    let mut forged = lookup(&alice, &m, "p", 50, 2);
    forged.signature = client(9).key.sign(&forged.request.sign_bytes());
    assert!(matches!(
        e.answer_unproven(&forged, Some(g), &records, 50, &rand(4)),
        Err(EnclaveError::Query(QueryError::BadRequestSignature(_)))
    ));
    // Another chain.
    let mut req = lookup(&alice, &m, "p", 50, 3).request;
    req.chain_id = ChainId::new("other");
    assert!(matches!(
        e.answer_unproven(&req.sign(&alice.key), Some(g), &records, 50, &rand(4)),
        Err(EnclaveError::Query(QueryError::WrongChain { .. }))
    ));
    // A record copied under another merchant (AAD mismatch) fails authentication, no panic.
    let other_m = merchant(2);
    let req = lookup(&alice, &other_m, "p", 50, 4);
    let err = e
        .answer_unproven(&req, Some(g), &records, 50, &rand(4))
        .unwrap_err();
    assert!(matches!(
        err,
        EnclaveError::Record(RecordError::Authentication { .. })
    ));
    assert!(err.to_string().contains("another merchant"));
    // A tampered ciphertext likewise.
    let mut tampered = records.clone();
    tampered[0].sealed.sealed.ciphertext[2] ^= 4;
    let req = lookup(&alice, &m, "p", 50, 5);
    assert!(matches!(
        e.answer_unproven(&req, Some(g), &tampered, 50, &rand(4)),
        Err(EnclaveError::Record(RecordError::Authentication { .. }))
    ));
    // A lookup that got no answer is not spent: the same request is answered once the record is good.
    e.answer_unproven(&req, Some(g), &records, 50, &rand(4))
        .unwrap();
    // Duplicates and oversized inputs.
    let dup = [records[0].clone(), records[0].clone()];
    let req = lookup(&alice, &m, "p", 50, 6);
    assert!(matches!(
        e.answer_unproven(&req, Some(g), &dup, 50, &rand(4)),
        Err(EnclaveError::DuplicateRecord(_))
    ));
    let many = vec![records[0].clone(); query::MAX_RECORDS_PER_MERCHANT + 1];
    let req = lookup(&alice, &m, "p", 50, 7);
    assert!(matches!(
        e.answer_unproven(&req, Some(g), &many, 50, &rand(4)),
        Err(EnclaveError::TooManyRecords(_))
    ));
    // Unprovisioned enclave.
    let fresh = Enclave::new(&[7; 32], EnclaveConfig::new(chain()), None).unwrap();
    let mut req = lookup(&alice, &m, "p", 50, 8).request;
    req.enclave = fresh.signer();
    let req = req.sign(&alice.key);
    assert_eq!(
        fresh
            .answer_unproven(&req, Some(g), &records, 50, &rand(4))
            .unwrap_err(),
        EnclaveError::NotProvisioned
    );
}

#[test]
fn a_lookup_is_answered_only_by_the_enclave_it_names() {
    let (e, public) = provisioned(1);
    let (other, _) = provisioned(2);
    let m = merchant(1);
    let records = [record(&public, &m, "p", 1, "P-secret")];
    let alice = client(1);
    let g = grant(&alice, "p");
    let req = lookup(&alice, &m, "p", 50, 0);
    // Captured and replayed at another node: refused there, before anything is opened.
    let err = other
        .answer_unproven(&req, Some(g), &records, 50, &rand(3))
        .unwrap_err();
    assert_eq!(
        err,
        EnclaveError::Query(QueryError::WrongEnclave {
            addressed: e.signer(),
            this: other.signer(),
        })
    );
    assert!(
        err.to_string().contains("not valid at another node"),
        "{err}"
    );
    assert!(matches!(
        other.precheck(&req.request, &req.request.hash(), 50),
        Err(QueryError::WrongEnclave { .. })
    ));
    // The enclave it names answers it once.
    assert_eq!(e.precheck(&req.request, &req.request.hash(), 50), Ok(()));
    e.answer_unproven(&req, Some(g), &records, 50, &rand(3))
        .unwrap();
    assert_eq!(
        e.precheck(&req.request, &req.request.hash(), 51),
        Err(QueryError::Replayed(req.request.hash()))
    );
}

#[test]
fn answered_lookups_remembered_across_a_restart_stay_replays() {
    let (e, public) = provisioned(1);
    let m = merchant(1);
    let records = [record(&public, &m, "p", 1, "P-secret")];
    let alice = client(1);
    let g = grant(&alice, "p");
    let req = lookup(&alice, &m, "p", 50, 0);
    e.answer_unproven(&req, Some(g), &records, 50, &rand(3))
        .unwrap();
    // A restart: a new enclave object, told by the node what was answered.
    let blob = e.sealed_blob([9; 12]).unwrap();
    drop(e);
    let restarted = Enclave::new(&[1; 32], EnclaveConfig::new(chain()), Some(&blob)).unwrap();
    restarted.remember_answered(req.request.issued_at_height, &req.request.hash());
    assert!(matches!(
        restarted.answer_unproven(&req, Some(g), &records, 52, &rand(4)),
        Err(EnclaveError::Query(QueryError::Replayed(_)))
    ));
    assert_eq!(restarted.lookup_window(), DEFAULT_LOOKUP_WINDOW);
}

#[test]
fn provisioning_is_signed_by_the_providing_enclave() {
    let (a, public) = provisioned(1);
    let mut b = Enclave::new(&[2; 32], EnclaveConfig::new(chain()), None).unwrap();
    let root_pk = root().public_key();
    let allowed = allowed();
    let chain_id = chain();
    let pol = policy(&root_pk, &allowed, &chain_id);
    let signed = a
        .provision_for(&b.certified_quote(&root()), &pol, &rand(2))
        .unwrap();
    assert_eq!(signed.provider, a.signer());
    assert!(signed.verify(&chain_id));
    assert!(!signed.verify(&ChainId::new("other")));
    // Another key's signature, or a swapped secret, does not verify.
    let mut forged = signed.clone();
    forged.provider = b.signer();
    assert!(!forged.verify(&chain_id));
    let mut swapped = signed.clone();
    swapped.wrapped.sealed.ciphertext[0] ^= 1;
    assert!(!swapped.verify(&chain_id));
    b.provision(&signed.wrapped, &public).unwrap();
    // A quote under the minimum security version is not provisioned.
    let strict = QuotePolicy {
        min_security_version: ENCLAVE_SECURITY_VERSION + 1,
        ..pol
    };
    let c = Enclave::new(&[3; 32], EnclaveConfig::new(chain()), None).unwrap();
    assert!(matches!(
        a.provision_for(&c.certified_quote(&root()), &strict, &rand(2)),
        Err(EnclaveError::Quote(
            QuoteError::SecurityVersionTooLow { .. }
        ))
    ));
}

#[test]
fn concurrent_copies_of_one_lookup_get_one_answer() {
    let (e, public) = provisioned(1);
    let m = merchant(1);
    let records = [record(&public, &m, "p", 2, "P-secret")];
    let alice = client(1);
    let g = grant(&alice, "p");
    let req = lookup(&alice, &m, "p", 50, 0);
    // Answers run in parallel (the enclave is shared, not locked, by the node's RPC workers); the
    // replay guard still lets exactly one copy of a request through.
    let outcomes: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (e, req, g, records) = (&e, &req, &g, &records);
                s.spawn(move || e.answer_unproven(req, Some(*g), records, 50, &rand(i)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1);
    assert!(outcomes
        .iter()
        .filter(|o| o.is_err())
        .all(|o| matches!(o, Err(EnclaveError::Query(QueryError::Replayed(_))))));
}

#[test]
fn tampered_answer_refused() {
    let (e, public) = provisioned(1);
    let m = merchant(1);
    let records = [
        record(&public, &m, "p", 2, "P-secret"),
        record(&public, &m, "q", 2, "Q-secret"),
    ];
    let alice = client(1);
    let req = lookup(&alice, &m, "p", 50, 0);
    let good = e
        .answer_unproven(&req, Some(grant(&alice, "p")), &records, 50, &rand(3))
        .unwrap();
    let h = req.request.hash();
    let (signer, meas) = (e.signer(), e.measurement());

    let mut t = good.clone();
    t.answer.other_platforms.clear();
    assert!(matches!(
        verify_answer(&t, &h, &signer, &meas),
        Err(QueryError::BadAnswerSignature(_))
    ));
    let mut t = good.clone();
    t.answer.record.as_mut().unwrap().reencrypted.ciphertext[0] ^= 1;
    assert!(matches!(
        verify_answer(&t, &h, &signer, &meas),
        Err(QueryError::BadAnswerSignature(_))
    ));
    // Even unverified, the tampered box does not open.
    assert_eq!(
        open_answer(&alice.reply, &t.answer).unwrap_err(),
        QueryError::Authentication
    );
    let mut t = good.clone();
    t.answer.height += 1;
    assert!(verify_answer(&t, &h, &signer, &meas).is_err());
    // Signed by another enclave.
    let (other, _) = provisioned(2);
    assert!(matches!(
        verify_answer(&good, &h, &other.signer(), &meas),
        Err(QueryError::BadAnswerSignature(_))
    ));
    // For another request.
    assert!(matches!(
        verify_answer(&good, &Hash::digest(b"x"), &signer, &meas),
        Err(QueryError::RequestMismatch { .. })
    ));
    // From another build.
    assert!(matches!(
        verify_answer(&good, &h, &signer, &Measurement::of("x", "y")),
        Err(QueryError::MeasurementMismatch { .. })
    ));
    assert!(SignedAnswer::from_bytes(&[0xff; 10]).is_err());
    assert_eq!(verify_answer(&good, &h, &signer, &meas), Ok(()));
}

#[test]
fn marker_never_appears_in_any_artefact() {
    let (secret, public) = bootstrap([100; 32]);
    let mut e = Enclave::new(&[1; 32], EnclaveConfig::new(chain()), None).unwrap();
    let quote = e.certified_quote(&root());
    let wrapped = wrap_secret(&secret, &quote.quote, &rand(1)).unwrap();
    e.provision(&wrapped, &public).unwrap();
    let blob = e.sealed_blob([9; 12]).unwrap();
    let m = merchant(1);
    let text = format!("iban=DE00 1234 {MARKER}");
    let records = [
        record(&public, &m, "p", 1, &text),
        record(&public, &m, "q", 1, &format!("{MARKER}-q")),
    ];
    let alice = client(1);
    let req = lookup(&alice, &m, "p", 5, 0);
    let answer = e
        .answer_unproven(&req, Some(grant(&alice, "p")), &records, 5, &rand(3))
        .unwrap();

    let consortium_hex = hex::encode([100u8; 32]);
    let mut artefacts: Vec<Vec<u8>> = vec![
        quote.to_bytes(),
        wrapped.to_bytes(),
        blob.to_bytes(),
        answer.to_bytes(),
        req.to_bytes(),
        serde_json::to_vec(&quote).unwrap(),
        serde_json::to_vec(&wrapped).unwrap(),
        serde_json::to_vec(&blob).unwrap(),
        serde_json::to_vec(&answer).unwrap(),
        format!("{e:?} {secret:?} {blob:?} {answer:?} {wrapped:?}").into_bytes(),
    ];
    for r in &records {
        artefacts.push(r.sealed.to_bytes());
        artefacts.push(serde_json::to_vec(&r.sealed).unwrap());
        artefacts.push(format!("{r:?}").into_bytes());
    }
    for (i, a) in artefacts.iter().enumerate() {
        assert_eq!(count(a, MARKER.as_bytes()), 0, "marker in artefact {i}");
        assert_eq!(
            count(a, &[100u8; 32]),
            0,
            "raw consortium secret in artefact {i}"
        );
        assert_eq!(
            count(a, consortium_hex.as_bytes()),
            0,
            "hex consortium secret in artefact {i}"
        );
    }
    // And yet the owner reads it.
    let pt = open_answer(&alice.reply, &answer.answer).unwrap().unwrap();
    assert_eq!(count(&pt, MARKER.as_bytes()), 1);
}

#[test]
fn secrets_zeroize_on_drop() {
    fn assert_zod<T: ZeroizeOnDrop>() {}
    assert_zod::<Enclave>();
    assert_zod::<KxSecret>();
    assert_zod::<ConsortiumSecret>();
    assert_zod::<BoxRandomness>();
}

/// Epoch 1 started by `a` for platforms p and q, wrapped to `a` and `b`; both adopt it.
fn rotate(a: &mut Enclave, b: &mut Enclave) -> SignedEpochStart {
    let root_pk = root().public_key();
    let allowed = allowed();
    let id = chain();
    let quotes = [a.certified_quote(&root()), b.certified_quote(&root())];
    let mut n = 70u8;
    let start = a
        .start_epoch(
            1,
            &[platform("q"), platform("p")],
            &quotes,
            &policy(&root_pk, &allowed, &id),
            &[5; 32],
            || {
                n += 1;
                rand(n)
            },
        )
        .unwrap();
    assert!(start.verify(&chain()));
    let public = start.start.consortium_public;
    a.adopt_epoch(&start.start.wraps[0], 1, &public).unwrap();
    b.adopt_epoch(&start.start.wraps[1], 1, &public).unwrap();
    // Each wrap opens only for its recipient.
    let mut c = provisioned(3).0;
    assert!(c.adopt_epoch(&start.start.wraps[0], 1, &public).is_err());
    start
}

#[test]
fn records_of_a_new_epoch_are_out_of_the_old_secrets_and_other_platforms_reach() {
    // Lookups here address device 1's enclave: b answers, a creates the epoch, and `stale` is
    // device 1's enclave as it would be had it kept only epoch 0 (its platform removed).
    let (mut a, public) = provisioned(2);
    let (mut b, _) = provisioned(1);
    let (stale, _) = provisioned(1);
    // The enclave creates epoch 1 only as the next one.
    let root_pk = root().public_key();
    let allowed = allowed();
    let id = chain();
    assert!(matches!(
        a.start_epoch(
            2,
            &[],
            &[],
            &policy(&root_pk, &allowed, &id),
            &[5; 32],
            || rand(1)
        ),
        Err(EnclaveError::Epoch(EpochError::NotNext {
            current: 0,
            got: 2
        }))
    ));
    let start = rotate(&mut a, &mut b);
    let keys = &start.start.platform_keys;
    assert_eq!(
        keys.iter()
            .map(|k| k.key.platform_id.as_str())
            .collect::<Vec<_>>(),
        ["p", "q"]
    );
    let m = merchant(1);
    let p1 = RecordKey {
        epoch: 1,
        public: keys[0].key.public,
    };
    let sealed = seal_record(b"P-epoch-1 acct 999", &p1, &m, &platform("p"), 3, &rand(90)).unwrap();
    let new = StoredRecord {
        platform_id: platform("p"),
        version: 3,
        sealed: sealed.clone(),
    };
    let old = record(&public, &m, "p", 2, "P-epoch-0 acct 111");

    // The epoch-0 secret (and every key derived from it) opens none of it.
    let (secret0, _) = bootstrap([100; 32]);
    for epoch in [0, 1] {
        let derived = epoch::platform_secret(&secret0, &chain(), epoch, &platform("p")).unwrap();
        assert!(matches!(
            records::open_record(&derived, &sealed, &m, &platform("p"), 3),
            Err(RecordError::Authentication { .. })
        ));
    }
    // Nor does platform q's key of the same epoch.
    let q1 = epoch::platform_secret(
        a.ring.as_ref().unwrap().get(1).unwrap(),
        &chain(),
        1,
        &platform("q"),
    )
    .unwrap();
    assert_eq!(q1.public_key(), keys[1].key.public);
    assert!(records::open_record(&q1, &sealed, &m, &platform("p"), 3).is_err());
    // The record relabelled as epoch 0 fails too (the epoch is authenticated).
    let mut relabelled = sealed.clone();
    relabelled.epoch = 0;
    let p0 = epoch::platform_secret(&secret0, &chain(), 0, &platform("p")).unwrap();
    assert!(records::open_record(&p0, &relabelled, &m, &platform("p"), 3).is_err());

    // An enclave without epoch 1 cannot answer the new record; one with it answers both epochs.
    let alice = client(1);
    let req = lookup(&alice, &m, "p", 50, 0);
    assert_eq!(
        stale
            .answer_unproven(
                &req,
                Some(grant(&alice, "p")),
                std::slice::from_ref(&new),
                50,
                &rand(3)
            )
            .unwrap_err(),
        EnclaveError::Epoch(EpochError::UnknownEpoch(1))
    );
    for (records, text, nonce) in [
        (vec![new], "P-epoch-1 acct 999", 1),
        (vec![old], "P-epoch-0 acct 111", 2),
    ] {
        let req = lookup(&alice, &m, "p", 50, nonce);
        let signed = b
            .answer_unproven(&req, Some(grant(&alice, "p")), &records, 50, &rand(4))
            .unwrap();
        let plaintext = open_answer(&alice.reply, &signed.answer).unwrap().unwrap();
        assert_eq!(&plaintext[..], text.as_bytes());
    }

    // Both epochs survive a restart (sealed ring), and a newly provisioned enclave gets both.
    let blob = b.sealed_blob([6; 12]).unwrap();
    let restarted = Enclave::new(&[1; 32], EnclaveConfig::new(chain()), Some(&blob)).unwrap();
    assert_eq!(restarted.ring.as_ref().unwrap().epochs(), vec![0, 1]);
    let mut newcomer = Enclave::new(&[4; 32], EnclaveConfig::new(chain()), None).unwrap();
    let wrapped = restarted
        .wrap_for(
            &newcomer.certified_quote(&root()),
            &policy(&root_pk, &allowed, &id),
            &rand(8),
        )
        .unwrap();
    assert_eq!(wrapped.consortium_public, start.start.consortium_public);
    newcomer.provision(&wrapped, &public).unwrap();
    assert_eq!(newcomer.current_epoch().map(|(e, _)| e), Some(1));
    assert_eq!(newcomer.consortium_public(), Some(public));
}
