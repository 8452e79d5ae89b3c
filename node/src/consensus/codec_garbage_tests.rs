//! Every decoder of [`BorshCodec`] (the consensus wire and WAL codec) on hostile bytes: random
//! input, and valid encodings truncated, extended, overwritten byte by byte and mutated at random.
//! None may panic or allocate what the input does not hold, and whatever one accepts must encode
//! back to exactly the input (one value, one encoding).
//!
//! This stands in for a cargo-fuzz target: the codec needs the node's Malachite context, and a fuzz
//! build of `paychain-node` would compile RocksDB (the fuzz targets in `fuzz/` cover the decoders
//! of `paychain-contracts` and `paychain-client`). A fixed-seed generator keeps the runs
//! reproducible; a failure prints the input in hex.

#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use malachitebft_app::consensus::{LivenessMsg, ProposedValue, SignedConsensusMsg};
use malachitebft_app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app::types::codec::Codec;
use malachitebft_app::types::sync;
use malachitebft_core_types::{
    CommitCertificate, CommitSignature, ExtendedCommitCertificate, ExtendedCommitSignature,
    NilOrVal, PolkaCertificate, PolkaSignature, Round, RoundCertificate, RoundCertificateType,
    RoundSignature, SignedMessage, ValidatorProof, Validity, VoteType,
};
use malachitebft_peer::PeerId;

use super::codec::{BorshCodec, Error, MAX_MESSAGE_BYTES};
use super::scheme::Signature;
use super::types::{
    Address, BlockHash, BlockValue, Height, PaychainContext as Ctx, Proposal, ProposalFin,
    ProposalInit, ProposalPart, Vote,
};

/// splitmix64: a small deterministic generator, so every run feeds the same inputs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn byte(&mut self) -> u8 {
        // Boundary values more often than uniform: they are what breaks length and tag checks.
        match self.below(8) {
            0 => 0,
            1 => 0xff,
            2 => 1,
            3 => 0x80,
            _ => self.next() as u8,
        }
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.byte()).collect()
    }
}

/// Decodes `bytes` as a `T`; an accepted input must re-encode to itself.
fn decode_one<T>(name: &str, bytes: &[u8]) -> bool
where
    BorshCodec: Codec<T, Error = Error>,
{
    match Codec::<T>::decode(&BorshCodec, Bytes::copy_from_slice(bytes)) {
        Ok(v) => {
            let again = Codec::<T>::encode(&BorshCodec, &v).unwrap();
            assert_eq!(
                again.as_ref(),
                bytes,
                "{name} accepted a non-canonical encoding: {}",
                hex::encode(bytes)
            );
            true
        }
        Err(_) => false,
    }
}

/// Random input, then every valid encoding of `valid` truncated at each length, extended,
/// overwritten at each position with boundary bytes, and mutated at random.
fn hammer<T>(name: &str, valid: &[T], seed: u64)
where
    BorshCodec: Codec<T, Error = Error>,
{
    let mut rng = Rng(seed);
    for _ in 0..3_000 {
        let len = rng.below(200);
        let bytes = rng.bytes(len);
        decode_one::<T>(name, &bytes);
    }
    for v in valid {
        let enc = Codec::<T>::encode(&BorshCodec, v).unwrap().to_vec();
        assert!(
            decode_one::<T>(name, &enc),
            "{name}: a valid value does not decode"
        );
        for cut in 0..enc.len() {
            decode_one::<T>(name, &enc[..cut]);
        }
        for extra in [&[0u8][..], &[0xff; 9][..]] {
            let mut longer = enc.clone();
            longer.extend_from_slice(extra);
            assert!(
                !decode_one::<T>(name, &longer),
                "{name} accepted trailing bytes"
            );
        }
        for i in 0..enc.len() {
            for b in [0u8, 1, 0x7f, 0x80, 0xff, enc[i] ^ 1] {
                let mut m = enc.clone();
                m[i] = b;
                decode_one::<T>(name, &m);
            }
        }
        for _ in 0..1_000 {
            let mut m = enc.clone();
            for _ in 0..1 + rng.below(4) {
                match rng.below(4) {
                    0 if !m.is_empty() => {
                        let i = rng.below(m.len());
                        m[i] = rng.byte();
                    }
                    1 => {
                        let i = rng.below(m.len() + 1);
                        let n = rng.below(8);
                        let ins = rng.bytes(n);
                        m.splice(i..i, ins);
                    }
                    2 if !m.is_empty() => {
                        let i = rng.below(m.len());
                        let n = rng.below(m.len() - i + 1);
                        m.drain(i..i + n);
                    }
                    _ if m.len() >= 4 => {
                        // A length prefix (or any u32) claiming far more than the input holds.
                        let i = rng.below(m.len() - 3);
                        m[i..i + 4].copy_from_slice(&u32::MAX.to_le_bytes());
                    }
                    _ => {}
                }
            }
            decode_one::<T>(name, &m);
        }
    }
    let huge = Bytes::from(vec![0u8; MAX_MESSAGE_BYTES + 1]);
    assert!(matches!(
        Codec::<T>::decode(&BorshCodec, huge),
        Err(Error::TooLarge { .. })
    ));
}

fn sig(n: u8) -> Signature {
    Signature([n; 64])
}

fn addr(n: u8) -> Address {
    Address([n; 32])
}

fn hash(n: u8) -> BlockHash {
    BlockHash([n; 32])
}

fn vote(typ: VoteType, value: NilOrVal<BlockHash>) -> Vote {
    Vote {
        typ,
        height: Height(5),
        round: Round::new(1),
        value,
        validator_address: addr(2),
    }
}

fn proposal() -> Proposal {
    Proposal {
        height: Height(5),
        round: Round::new(0),
        value: BlockValue(hash(7)),
        pol_round: Round::Nil,
        validator_address: addr(3),
    }
}

fn parts() -> Vec<ProposalPart> {
    vec![
        ProposalPart::Init(ProposalInit {
            height: Height(7),
            round: Round::new(2),
            pol_round: Round::Nil,
            proposer: addr(3),
            block_hash: hash(9),
            block_len: 1234,
        }),
        ProposalPart::Data(vec![5; 40]),
        ProposalPart::Fin(ProposalFin {
            signature: vec![6; 64],
        }),
    ]
}

fn polka() -> PolkaCertificate<Ctx> {
    PolkaCertificate {
        height: Height(5),
        round: Round::new(1),
        value_id: hash(7),
        polka_signatures: vec![
            PolkaSignature::new(addr(1), sig(1)),
            PolkaSignature::new(addr(2), sig(2)),
        ],
    }
}

fn commit() -> CommitCertificate<Ctx> {
    CommitCertificate {
        height: Height(5),
        round: Round::new(0),
        value_id: hash(7),
        commit_signatures: vec![
            CommitSignature::new(addr(1), sig(1)),
            CommitSignature::new(addr(2), sig(2)),
        ],
    }
}

fn peer(n: u8) -> PeerId {
    // A SHA-256 multihash: code 0x12, 32 bytes.
    let mut bytes = vec![0x12, 32];
    bytes.extend_from_slice(&[n; 32]);
    PeerId::from_bytes(&bytes).unwrap()
}

#[test]
fn proposal_parts() {
    hammer::<ProposalPart>("ProposalPart", &parts(), 1);
}

#[test]
fn signed_consensus_messages() {
    let valid: Vec<SignedConsensusMsg<Ctx>> = vec![
        SignedConsensusMsg::Vote(SignedMessage::new(
            vote(VoteType::Prevote, NilOrVal::Val(hash(7))),
            sig(1),
        )),
        SignedConsensusMsg::Vote(SignedMessage::new(
            vote(VoteType::Precommit, NilOrVal::Nil),
            sig(2),
        )),
        SignedConsensusMsg::Proposal(SignedMessage::new(proposal(), sig(3))),
    ];
    hammer("SignedConsensusMsg", &valid, 2);
}

#[test]
fn liveness_messages() {
    let valid: Vec<LivenessMsg<Ctx>> = vec![
        LivenessMsg::Vote(SignedMessage::new(
            vote(VoteType::Precommit, NilOrVal::Val(hash(7))),
            sig(1),
        )),
        LivenessMsg::PolkaCertificate(polka()),
        LivenessMsg::SkipRoundCertificate(RoundCertificate {
            height: Height(5),
            round: Round::new(3),
            cert_type: RoundCertificateType::Skip,
            round_signatures: vec![RoundSignature {
                vote_type: VoteType::Prevote,
                value_id: NilOrVal::Nil,
                address: addr(4),
                signature: sig(4),
            }],
        }),
    ];
    hammer("LivenessMsg", &valid, 3);
}

#[test]
fn stream_messages() {
    let id = StreamId::new(Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 1]));
    let mut valid: Vec<StreamMessage<ProposalPart>> = parts()
        .into_iter()
        .enumerate()
        .map(|(i, p)| StreamMessage::new(id.clone(), i as u64, StreamContent::Data(p)))
        .collect();
    valid.push(StreamMessage::new(id, 3, StreamContent::Fin));
    hammer("StreamMessage<ProposalPart>", &valid, 4);
}

#[test]
fn proposed_values() {
    let valid: Vec<ProposedValue<Ctx>> = vec![ProposedValue {
        height: Height(5),
        round: Round::new(0),
        valid_round: Round::Nil,
        proposer: addr(3),
        value: BlockValue(hash(7)),
        validity: Validity::Valid,
    }];
    hammer("ProposedValue", &valid, 5);
}

#[test]
fn certificates() {
    hammer::<PolkaCertificate<Ctx>>("PolkaCertificate", &[polka()], 6);
    hammer::<CommitCertificate<Ctx>>("CommitCertificate", &[commit()], 7);
}

#[test]
fn sync_messages() {
    let status = sync::Status::<Ctx> {
        peer_id: peer(1),
        tip_height: Height(9),
        history_min_height: Height(1),
    };
    hammer("sync::Status", &[status], 8);
    let request = sync::Request::<Ctx>::ValueRequest(malachitebft_sync::ValueRequest::new(
        Height(3)..=Height(6),
    ));
    hammer("sync::Request", &[request], 9);
    let c = commit();
    let response = sync::Response::<Ctx>::ValueResponse(malachitebft_sync::ValueResponse::new(
        Height(5),
        vec![sync::RawDecidedValue::new(
            Bytes::from(vec![8u8; 48]),
            ExtendedCommitCertificate {
                height: c.height,
                round: c.round,
                value_id: c.value_id,
                commit_signatures: c
                    .commit_signatures
                    .iter()
                    .map(|s| ExtendedCommitSignature::new(s.address, s.signature, None))
                    .collect(),
            },
        )],
    ));
    let empty = sync::Response::<Ctx>::ValueResponse(malachitebft_sync::ValueResponse::new(
        Height(5),
        vec![],
    ));
    hammer("sync::Response", &[response, empty], 10);
}

#[test]
fn validator_proofs() {
    let proof = ValidatorProof::<Ctx>::new(vec![1; 32], peer(2).to_bytes(), sig(3));
    hammer("ValidatorProof", &[proof], 11);
}
