//! The protocol's bounds, without a socket.

#![allow(clippy::unwrap_used)]

use paychain_contracts::crypto::Hash;

use super::proto::*;

fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

#[test]
fn requests_round_trip_through_frames() {
    let request = Request::RememberAnswered {
        answered: vec![(7, Hash([3; 32]))],
        complete: true,
    };
    let mut wire = Vec::new();
    write_frame(&mut wire, &request).unwrap();
    let body = read_frame(&mut wire.as_slice(), MAX_FRAME_BYTES).unwrap();
    assert_eq!(decode_request(&body).unwrap(), request);
    let reply: Response = Err(WireError::new(ErrorKind::Replayed, "again"));
    let mut wire = Vec::new();
    write_frame(&mut wire, &reply).unwrap();
    let body = read_frame(&mut wire.as_slice(), MAX_FRAME_BYTES).unwrap();
    assert_eq!(decode_response(&body).unwrap(), reply);
}

#[test]
fn an_oversized_frame_is_refused_before_its_body_is_read() {
    // Only the length header: reading the body would fail with an I/O error instead.
    let header = ((MAX_FRAME_BYTES + 1) as u32).to_le_bytes();
    match read_frame(&mut header.as_slice(), MAX_FRAME_BYTES) {
        Err(FrameError::TooLarge { len, max }) => {
            assert_eq!((len, max), (MAX_FRAME_BYTES + 1, MAX_FRAME_BYTES))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        read_frame(&mut [].as_slice(), MAX_FRAME_BYTES),
        Err(FrameError::Closed)
    ));
    // A body shorter than announced: an error, not a panic.
    let short = frame(&[0; 3]);
    assert!(matches!(
        read_frame(&mut &short[..5], MAX_FRAME_BYTES),
        Err(FrameError::Io(_))
    ));
}

#[test]
fn malformed_requests_are_refused_with_short_errors() {
    for (body, says) in [
        (&[0xff][..], "malformed request"),
        (&[0, 0][..], "trailing"),
        (&[][..], "malformed request"),
        // RememberAnswered announcing 2^32 - 1 entries with none there.
        (&[10, 0xff, 0xff, 0xff, 0xff][..], "malformed request"),
    ] {
        let e = decode_request(body).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Malformed);
        assert!(e.message.contains(says), "{body:?}: {}", e.message);
    }
    let too_many = Request::RememberAnswered {
        answered: vec![(0, Hash::ZERO); MAX_REMEMBERED_PER_FRAME + 1],
        complete: true,
    };
    let e = decode_request(&borsh::to_vec(&too_many).unwrap()).unwrap_err();
    assert!(e.message.contains("exceed the limit"), "{}", e.message);
    let long = WireError::new(ErrorKind::Refused, "x".repeat(10_000));
    assert!(long.message.chars().count() <= MAX_ERROR_CHARS + 1);
}

/// A sidecar answers no lookup before the node has handed it the answered ones (a restarted
/// sidecar would otherwise answer a replay); afterwards it checks them itself.
#[test]
fn lookups_wait_for_the_answered_set() {
    use paychain_contracts::crypto::SecretKey;
    use paychain_contracts::enclave::{Enclave, EnclaveConfig, KxSecret, LookupRequest};
    use paychain_contracts::ids::{ChainId, MerchantId, PlatformId};

    let dir = tempfile::tempdir().unwrap();
    let chain = ChainId::new("sidecar-test");
    let enclave = Enclave::new(&[1; 32], EnclaveConfig::new(chain.clone()), None).unwrap();
    let request = LookupRequest {
        chain_id: chain.clone(),
        merchant_id: MerchantId::derive(&SecretKey::from_seed([2; 32]).public_key()),
        platform_id: PlatformId::new("p0").unwrap(),
        requester: SecretKey::from_seed([3; 32]).public_key(),
        reply_kx_public: KxSecret::from_seed([4; 32]).public_key(),
        nonce: [5; 16],
        issued_at_height: 10,
        enclave: enclave.signer(),
    };
    let sidecar = super::server::Sidecar::new(
        enclave,
        chain,
        dir.path().join("sealed.bin"),
        super::device::Device::at(dir.path().join("device")),
        super::server::Pins {
            attestation_root: SecretKey::from_seed([9; 32]).public_key(),
            allow_debug: false,
            min_security_version: 1,
        },
    );
    let precheck = || Request::Precheck {
        request: request.clone(),
        height: 10,
    };
    assert_eq!(
        sidecar.handle(precheck()).unwrap_err().kind,
        ErrorKind::NotRestored
    );
    // Part of the set: still refused.
    let answered = vec![(10, request.hash())];
    sidecar
        .handle(Request::RememberAnswered {
            answered: Vec::new(),
            complete: false,
        })
        .unwrap();
    assert_eq!(
        sidecar.handle(precheck()).unwrap_err().kind,
        ErrorKind::NotRestored
    );
    sidecar
        .handle(Request::RememberAnswered {
            answered,
            complete: true,
        })
        .unwrap();
    // Now the enclave's own check runs: this request was answered before.
    let e = sidecar.handle(precheck()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Refused);
    assert!(e.message.contains("replay"), "{}", e.message);
}

/// A node that hands the sidecar a policy of its own (to have the enclave wrap the consortium
/// secrets, or a new epoch's, to a build or a machine governance never allowed) is refused: the
/// sidecar takes the policy only from state proven by a commit of the validators it trusts
/// (`grants::proven_policy`; its own tests play the forged lists).
#[test]
fn a_policy_the_node_does_not_prove_is_refused() {
    use paychain_contracts::block::Header;
    use paychain_contracts::commit::Commit;
    use paychain_contracts::crypto::SecretKey;
    use paychain_contracts::enclave::{Enclave, EnclaveConfig};
    use paychain_contracts::genesis::GenesisValidator;
    use paychain_contracts::grants::StateEvidence;
    use paychain_contracts::ids::ChainId;

    let dir = tempfile::tempdir().unwrap();
    let chain = ChainId::new("sidecar-test");
    let genesis_root = SecretKey::from_seed([9; 32]);
    let validator = SecretKey::from_seed([250; 32]);
    let build = EnclaveConfig::new(chain.clone()).with_validators(vec![GenesisValidator {
        name: "v".into(),
        public_key: validator.public_key(),
        power: 1,
    }]);
    let enclave = Enclave::new(&[1; 32], build, None).unwrap();
    let peer = Enclave::new(&[2; 32], EnclaveConfig::new(chain.clone()), None).unwrap();
    let sidecar = super::server::Sidecar::new(
        enclave,
        chain.clone(),
        dir.path().join("sealed.bin"),
        super::device::Device::at(dir.path().join("device")),
        super::server::Pins {
            attestation_root: genesis_root.public_key(),
            allow_debug: false,
            min_security_version: 1,
        },
    );
    // Evidence under a header no validator signed (any lists the node likes could be in it).
    let header = Header {
        chain_id: chain,
        height: 7,
        time_ms: 1,
        proposer: validator.public_key(),
        prev_block_hash: Hash([1; 32]),
        prev_app_hash: Hash([2; 32]),
        prev_result_root: Hash([3; 32]),
        tx_root: Hash([4; 32]),
    };
    let policy = || Policy {
        evidence: StateEvidence {
            commit: Commit {
                height: 7,
                round: 0,
                block_hash: header.hash(),
                signatures: Vec::new(),
            },
            header: header.clone(),
            entries: Vec::new(),
        },
    };
    for request in [
        Request::ProvisionFor {
            peer: peer.certified_quote(&genesis_root),
            policy: policy(),
        },
        Request::StartEpoch {
            epoch: 1,
            platforms: Vec::new(),
            recipients: vec![peer.certified_quote(&genesis_root)],
            policy: policy(),
        },
    ] {
        let e = sidecar.handle(request).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Refused);
        assert!(
            e.message.contains("the policy's evidence was refused")
                && e.message.contains("not certified"),
            "{}",
            e.message
        );
    }
}

/// What `fuzz/fuzz_targets/sidecar_decode.rs` checks, on a fixed sample: valid encodings with
/// bytes flipped, cut or extended, and random bytes. Nothing panics; whatever decodes re-encodes
/// to exactly the input.
#[test]
fn mutated_and_random_frames_never_panic() {
    let valid = [
        borsh::to_vec(&Request::Info).unwrap(),
        borsh::to_vec(&Request::RememberAnswered {
            answered: vec![(1, Hash([7; 32])), (2, Hash([8; 32]))],
            complete: true,
        })
        .unwrap(),
        borsh::to_vec(&Request::PlatformKey {
            platform: paychain_contracts::ids::PlatformId::new("platform-0").unwrap(),
        })
        .unwrap(),
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut decoded = 0;
    for round in 0..20_000u32 {
        let mut input = valid[round as usize % valid.len()].clone();
        match next() % 4 {
            0 => {
                let i = next() as usize % input.len();
                input[i] ^= 1 << (next() % 8);
            }
            1 => input.truncate(next() as usize % input.len()),
            2 => input.extend((0..next() % 8).map(|_| next() as u8)),
            _ => input = (0..next() % 64).map(|_| next() as u8).collect(),
        }
        if let Ok(request) = decode_request(&input) {
            assert_eq!(borsh::to_vec(&request).unwrap(), input);
            decoded += 1;
        }
        let _ = decode_response(&input);
        let _ = read_frame(&mut input.as_slice(), MAX_FRAME_BYTES);
    }
    assert!(decoded > 0, "no mutation decoded: the sample is too harsh");
}

/// A host that makes up a block (a payment from someone else's wallet, to learn from the public
/// receipt code whether it would go through), or changes a decided block's transactions, or
/// proves a read with state no validator certified, is refused by its own enclave.
#[test]
fn an_enclave_executes_only_decided_blocks_and_reads_only_certified_state() {
    use paychain_contracts::block::{tx_root, Block, Header};
    use paychain_contracts::commit::{Commit, CommitSignature};
    use paychain_contracts::crypto::{SecretKey, Signature};
    use paychain_contracts::enclave::{
        bootstrap, wrap_secret, BoxRandomness, Enclave, EnclaveConfig, KxSecret,
    };
    use paychain_contracts::genesis::GenesisValidator;
    use paychain_contracts::grants::StateEvidence;
    use paychain_contracts::ids::ChainId;
    use paychain_contracts::reads::{Query, ReadRequest};
    use paychain_contracts::tx::{Call, SignedTx, Transaction};

    let dir = tempfile::tempdir().unwrap();
    let chain = ChainId::new("sidecar-test");
    let validator = SecretKey::from_seed([250; 32]);
    let build = EnclaveConfig::new(chain.clone()).with_validators(vec![GenesisValidator {
        name: "v".into(),
        public_key: validator.public_key(),
        power: 1,
    }]);
    let mut enclave = Enclave::new(&[1; 32], build, None).unwrap();
    let (secret, public) = bootstrap([5; 32]);
    let wrapped = wrap_secret(
        &secret,
        &enclave.quote(),
        &BoxRandomness::new([6; 32], [7; 12]),
    )
    .unwrap();
    enclave.provision(&wrapped, &public).unwrap();
    let sidecar = super::server::Sidecar::new(
        enclave,
        chain.clone(),
        dir.path().join("sealed.bin"),
        super::device::Device::at(dir.path().join("device")),
        super::server::Pins {
            attestation_root: SecretKey::from_seed([9; 32]).public_key(),
            allow_debug: false,
            min_security_version: 1,
        },
    );
    let victim = SecretKey::from_seed([30; 32]);
    let made_up = SignedTx::sign(
        Transaction {
            chain_id: chain.clone(),
            sender: victim.public_key(),
            nonce: 0,
            call: Call::Wallet(paychain_contracts::wallet::Call::Settle {
                merchant_id: paychain_contracts::ids::MerchantId::derive(&victim.public_key()),
                amount: None,
            }),
        },
        &SecretKey::from_seed([31; 32]), // not the sender's key: the host has no other
    );
    let header = Header {
        chain_id: chain.clone(),
        height: 7,
        time_ms: 1,
        proposer: validator.public_key(),
        prev_block_hash: Hash([1; 32]),
        prev_app_hash: Hash([2; 32]),
        prev_result_root: Hash([3; 32]),
        tx_root: tx_root(std::slice::from_ref(&made_up)),
    };
    let block = Block {
        header: header.clone(),
        txs: vec![made_up],
    };
    let stranger = SecretKey::from_seed([32; 32]);
    let commits = [
        Vec::new(),
        vec![CommitSignature {
            validator: stranger.public_key(),
            signature: Signature([0; 64]),
        }],
        vec![CommitSignature {
            validator: validator.public_key(),
            signature: Signature([0; 64]),
        }],
    ];
    for signatures in commits {
        let e = sidecar
            .handle(Request::Execute {
                block: block.clone(),
                commit: Commit {
                    height: 7,
                    round: 0,
                    block_hash: block.hash(),
                    signatures,
                },
            })
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Refused);
        assert!(e.message.contains("not decided"), "{}", e.message);
    }
    // The transactions swapped under a header.
    let mut swapped = block.clone();
    swapped.txs.clear();
    let e = sidecar
        .handle(Request::Execute {
            block: swapped,
            commit: Commit {
                height: 7,
                round: 0,
                block_hash: block.hash(),
                signatures: Vec::new(),
            },
        })
        .unwrap_err();
    assert!(e.message.contains("header commits to"), "{}", e.message);

    // A read proven under a header no validator signed.
    let reader = SecretKey::from_seed([33; 32]);
    let read = ReadRequest {
        chain_id: chain.clone(),
        requester: reader.public_key(),
        query: Query::Balance {
            account: paychain_contracts::wallet::Account::Wallet { id: Hash([8; 32]) },
        },
        reply_kx_public: KxSecret::from_seed([34; 32]).public_key(),
        nonce: [9; 16],
        valid_until_height: 10,
    }
    .sign(&reader);
    let e = sidecar
        .handle(Request::Read {
            read,
            evidence: StateEvidence {
                commit: Commit {
                    height: 7,
                    round: 0,
                    block_hash: header.hash(),
                    signatures: Vec::new(),
                },
                header,
                entries: Vec::new(),
            },
        })
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Refused);
    assert!(e.message.contains("read evidence refused"), "{}", e.message);
}
