//! Test-only misbehaviour of the host ([`crate::faults`]): an invalid proposer and a garbage flood.
//! All of it is off unless a debug build runs with the fault switches set (see `faults.rs`); the
//! multi-node tests (`tests/it/byzantine.rs`) check that none of it reaches an honest node's state.

use bytes::Bytes;
use malachitebft_app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_core_types::{Context as _, Round};
use paychain_contracts::crypto::{Hash, SecretKey};
use paychain_contracts::ids::ChainId;
use paychain_contracts::tx::{Call, SignedTx, Transaction};
use rand::RngCore;
use tracing::warn;

use crate::consensus::{
    Address, BlockHash, Height, PaychainContext, ProposalFin, ProposalInit, ProposalPart,
    ValidatorSet,
};
use crate::faults::Faults;

/// The host's test-only faults and what they remember between blocks.
#[derive(Default)]
pub(super) struct Byzantine {
    pub(super) faults: Faults,
    /// Blocks we proposed (to alternate the invalid kinds).
    own_proposals: u64,
    /// Garbage streams sent.
    garbage_seq: u64,
    /// A genuine proposal's init and signature, to replay with tampered bytes.
    replay: Option<(ProposalInit, ProposalFin)>,
}

impl Byzantine {
    pub(super) fn new(faults: Faults) -> Self {
        Byzantine {
            faults,
            ..Byzantine::default()
        }
    }

    /// An invalid proposer spoils every block it proposes: a badly signed tx, or a wrong app hash.
    pub(super) fn spoil_proposal(
        &mut self,
        chain_id: &ChainId,
        height: Height,
        round: Round,
        txs: &mut Vec<SignedTx>,
        prev_app_hash: &mut Hash,
    ) {
        if let Some(tx) = self
            .faults
            .unknown_sender
            .then(|| stranger_payment(chain_id))
            .flatten()
        {
            warn!(target: "byzantine", %height, %round, tx = %tx.hash(), sender = %tx.tx.sender, "proposing a block with a transaction from an unknown sender");
            txs.push(tx);
        }
        if !self.faults.invalid_proposals {
            return;
        }
        self.own_proposals += 1;
        if self.own_proposals % 2 == 1 {
            let bad = byzantine_tx(chain_id);
            warn!(target: "byzantine", %height, %round, tx = %bad.hash(), "proposing a block with a badly signed tx");
            txs.push(bad);
        } else {
            *prev_app_hash = Hash::digest(b"byzantine");
            warn!(target: "byzantine", %height, %round, "proposing a block with a wrong prev_app_hash");
        }
    }

    /// Remembers a genuine proposal, to replay its signed init with other bytes.
    pub(super) fn saw_valid_proposal(&mut self, init: &ProposalInit, fin: &ProposalFin) {
        if self.faults.garbage {
            self.replay = Some((init.clone(), fin.clone()));
        }
    }

    /// One burst of the garbage flood: undecodable tx gossip, proposal streams impersonating the
    /// round's proposer, a stream naming a validator that is not the round's proposer, one for a
    /// height far ahead, and a replay of a genuine proposal with other bytes.
    pub(super) fn garbage(
        &mut self,
        validators: &ValidatorSet,
        own: Address,
        height: Height,
        round: Round,
    ) -> (Vec<Vec<u8>>, Vec<StreamMessage<ProposalPart>>) {
        let mut rng = rand::thread_rng();
        let mut noise = |len: usize| {
            let mut b = vec![0u8; len];
            rng.fill_bytes(&mut b);
            b
        };
        let txs = (0..4)
            .map(|i| noise(1 + (i * 997) % 3000))
            .collect::<Vec<_>>();
        let mut round = if round.as_i64() < 0 {
            Round::new(0)
        } else {
            round
        };
        // In a round of our own, impersonate the next round's proposer: a stream of ours for our
        // own round would take the place of our (invalid) proposal, one stream per round.
        if PaychainContext
            .select_proposer(validators, height, round)
            .address
            == own
        {
            round = round.increment();
        }
        let proposer = PaychainContext
            .select_proposer(validators, height, round)
            .address;
        let data = noise(300);
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&noise(32));
        let impersonation = vec![
            ProposalPart::Init(ProposalInit {
                height,
                round,
                pol_round: Round::Nil,
                proposer,
                block_hash: BlockHash(hash),
                block_len: data.len() as u32,
            }),
            ProposalPart::Data(data),
            ProposalPart::Fin(ProposalFin {
                signature: noise(64),
            }),
        ];
        let headless = vec![
            ProposalPart::Data(noise(512)),
            ProposalPart::Fin(ProposalFin {
                signature: noise(64),
            }),
        ];
        let stream_of = |init: ProposalInit| {
            vec![
                ProposalPart::Init(init),
                ProposalPart::Data(vec![0; 64]),
                ProposalPart::Fin(ProposalFin {
                    signature: vec![0; 64],
                }),
            ]
        };
        let not_proposer = validators
            .validators()
            .iter()
            .map(|v| v.address)
            .find(|a| *a != proposer)
            .map(|other| {
                stream_of(ProposalInit {
                    height,
                    round,
                    pol_round: Round::Nil,
                    proposer: other,
                    block_hash: BlockHash([1; 32]),
                    block_len: 64,
                })
            });
        let far = Height(height.0 + 1_000);
        let far_ahead = stream_of(ProposalInit {
            height: far,
            round: Round::new(0),
            pol_round: Round::Nil,
            proposer: PaychainContext
                .select_proposer(validators, far, Round::new(0))
                .address,
            block_hash: BlockHash([2; 32]),
            block_len: 64,
        });
        let mut batches = vec![impersonation, headless, far_ahead];
        batches.extend(not_proposer);
        if let Some((init, fin)) = self.replay.take() {
            if init.height == height {
                let len = (init.block_len as usize).clamp(1, 4096);
                let mut init = init;
                init.block_len = len as u32;
                batches.push(vec![
                    ProposalPart::Init(init),
                    ProposalPart::Data(noise(len)),
                    ProposalPart::Fin(fin),
                ]);
            }
        }
        let mut streams = Vec::new();
        for parts in batches {
            self.garbage_seq += 1;
            let mut id = b"garbage/".to_vec();
            id.extend_from_slice(&self.garbage_seq.to_be_bytes());
            let stream_id = StreamId::new(Bytes::from(id));
            let n = parts.len() as u64;
            for (i, p) in parts.into_iter().enumerate() {
                streams.push(StreamMessage::new(
                    stream_id.clone(),
                    i as u64,
                    StreamContent::Data(p),
                ));
            }
            streams.push(StreamMessage::new(stream_id, n, StreamContent::Fin));
        }
        (txs, streams)
    }
}

/// A validly signed wallet payment (nonce 0) from a fresh random key the chain does not know.
fn stranger_payment(chain_id: &ChainId) -> Option<SignedTx> {
    use paychain_contracts::money::{Amount, Currency};
    let mut seed = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut seed);
    let key = SecretKey::from_seed(seed);
    let merchant =
        SecretKey::from_seed(Hash::digest(b"paychain/test/byzantine/merchant").0).public_key();
    Some(SignedTx::sign(
        Transaction {
            chain_id: chain_id.clone(),
            sender: key.public_key(),
            nonce: 0,
            call: Call::Wallet(paychain_contracts::wallet::Call::Pay {
                from_wallet: paychain_contracts::wallet::wallet_id(
                    &key.public_key(),
                    Currency::CNY,
                ),
                merchant_id: paychain_contracts::ids::MerchantId::derive(&merchant),
                acquirer: paychain_contracts::ids::PlatformId::new("platform-0").ok()?,
                amount: Amount::parse("1.00", Currency::CNY).ok()?,
                order_ref: "byzantine".into(),
                route: paychain_contracts::registry::Route {
                    record_version: 1,
                    record_hash: Hash::digest(b"byzantine"),
                },
            }),
        },
        &key,
    ))
}

/// A transaction with a bad signature, from a fixed key, registering a fixed merchant.
fn byzantine_tx(chain_id: &ChainId) -> SignedTx {
    let key = SecretKey::from_seed(Hash::digest(b"paychain/test/byzantine/sender").0);
    let merchant =
        SecretKey::from_seed(Hash::digest(b"paychain/test/byzantine/merchant").0).public_key();
    let mut tx = SignedTx::sign(
        Transaction {
            chain_id: chain_id.clone(),
            sender: key.public_key(),
            nonce: 0,
            call: Call::Registry(paychain_contracts::registry::Call::RegisterMerchant {
                name: "Byzantine".into(),
                city: "Shanghai".into(),
                mcc: "5812".into(),
                country: "CN".into(),
                merchant_key: merchant,
            }),
        },
        &key,
    );
    tx.signature.0[0] ^= 0xff;
    tx
}

/// Test-only: a well-formed registration from `sender` (this node's validator key, which the chain
/// knows, so admission gets as far as the signature) on `chain_id`, signed by a fresh key instead,
/// so that its signature does not verify.
pub(super) fn badly_signed_tx(
    chain_id: &paychain_contracts::ids::ChainId,
    sender: paychain_contracts::crypto::PublicKey,
) -> Option<Vec<u8>> {
    use paychain_contracts::crypto::SecretKey;
    use paychain_contracts::tx::{Call, SignedTx, Transaction};
    let mut seed = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut seed);
    let key = SecretKey::from_seed(seed);
    let mut tx = SignedTx::sign(
        Transaction {
            chain_id: chain_id.clone(),
            sender,
            nonce: seed[0].into(),
            call: Call::Registry(paychain_contracts::registry::Call::AcceptAcquirer {
                platform_id: paychain_contracts::ids::PlatformId::new("platform-0").ok()?,
            }),
        },
        &key,
    );
    tx.signature.0[0] ^= 1;
    Some(tx.to_bytes())
}
