//! The checks a proposal passes before we vote for it, as pure functions of what they look at.
//!
//! Two outcomes are kept apart: a stream not shown to come from the round's proposer
//! ([`Refusal::Unauthenticated`]: anyone can publish one, so it is dropped without a verdict and never
//! makes us vote against the real proposer's value), and a block the proposer did sign that is invalid
//! ([`Refusal::Invalid`]: we report it and vote nil).

use malachitebft_core_types::Context as _;
use paychain_contracts::block::{self, Block};
use paychain_contracts::codec::MAX_BLOCK_BYTES;
use paychain_contracts::ids::ChainId;

use crate::consensus::scheme::{PublicKey as ConsPublicKey, Signature as ConsSignature};
use crate::consensus::{PaychainContext, ProposalFin, ProposalInit, ValidatorSet};
use crate::storage::Tip;

/// How far ahead of our clock a proposed block time may be.
pub(super) const MAX_CLOCK_DRIFT_MS: u64 = 30_000;

/// Why a proposal stream is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refusal {
    /// Not shown to come from the round's proposer: anyone could have sent it.
    Unauthenticated(String),
    /// Signed by the round's proposer, and invalid.
    Invalid(String),
}

/// Authenticates a complete stream: the round's proposer signed `init`, and `data` is the block it
/// names. Returns the decoded block; its contents are checked by [`check_header`] and the caller.
pub(super) fn authenticate(
    chain_id: &ChainId,
    validators: &ValidatorSet,
    init: &ProposalInit,
    data: &[u8],
    fin: &ProposalFin,
) -> Result<Block, Refusal> {
    use Refusal::{Invalid, Unauthenticated};
    let expected = PaychainContext.select_proposer(validators, init.height, init.round);
    if expected.address != init.proposer {
        return Err(Unauthenticated(format!(
            "proposer {} is not the proposer of this round ({})",
            init.proposer, expected.address
        )));
    }
    let signature = ConsSignature::try_from(fin.signature.as_slice())
        .map_err(|_| Unauthenticated("malformed proposal signature".into()))?;
    let pk: &ConsPublicKey = &expected.public_key;
    pk.verify(&init.to_sign_bytes(chain_id), &signature)
        .map_err(|_| Unauthenticated("bad proposal signature".into()))?;
    // The signature covers the init only: bytes that are not the signed block may come from
    // whoever relayed the stream, so they are no verdict on the proposer's value.
    if data.len() != init.block_len as usize || data.len() > MAX_BLOCK_BYTES {
        return Err(Unauthenticated(format!(
            "block of {} bytes (announced {}, limit {MAX_BLOCK_BYTES})",
            data.len(),
            init.block_len
        )));
    }
    let Ok(block) = Block::from_bytes(data) else {
        // Not shown to be the signed block either: no verdict (if the proposer did send these, the
        // propose timeout makes us vote nil all the same).
        return Err(Unauthenticated("undecodable block bytes".into()));
    };
    if block.hash().0 != init.block_hash.0 {
        return Err(Unauthenticated(
            "block does not hash to the proposed value".into(),
        ));
    }
    if block.header.proposer.0 != init.proposer.0 {
        return Err(Invalid(
            "block proposer differs from the stream's proposer".into(),
        ));
    }
    Ok(block)
}

/// Checks a block's header against our tip: chain, height, linkage, time (against `now_ms` when
/// given: a proposal is checked against our clock, a block decided by others is not) and tx root.
pub(super) fn check_header(
    chain_id: &ChainId,
    tip: &Tip,
    block: &Block,
    now_ms: Option<u64>,
) -> Result<(), String> {
    let h = &block.header;
    if h.chain_id != *chain_id {
        return Err(format!("wrong chain id {}", h.chain_id.0));
    }
    if h.height != tip.height + 1 {
        return Err(format!(
            "height {} does not follow {}",
            h.height, tip.height
        ));
    }
    if h.prev_block_hash != tip.block_hash {
        return Err("previous block hash mismatch".into());
    }
    if h.prev_app_hash != tip.app_hash {
        return Err(format!(
            "previous app hash {} differs from ours {}",
            h.prev_app_hash, tip.app_hash
        ));
    }
    if h.prev_result_root != tip.result_root {
        return Err("previous result root mismatch".into());
    }
    if h.time_ms <= tip.time_ms {
        return Err("block time does not increase".into());
    }
    if now_ms.is_some_and(|now| h.time_ms > now.saturating_add(MAX_CLOCK_DRIFT_MS)) {
        return Err("block time is too far in the future".into());
    }
    if h.tx_root != block::tx_root(&block.txs) {
        return Err("tx root mismatch".into());
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::consensus::{Address, BlockHash, ConsensusKeys, Height, Validator};
    use malachitebft_core_types::Round;
    use paychain_contracts::block::Header;
    use paychain_contracts::crypto::{Hash, PublicKey, SecretKey};
    use paychain_contracts::tx::{Call, SignedTx, Transaction};

    struct Net {
        keys: Vec<ConsensusKeys>,
        validators: ValidatorSet,
        tip: Tip,
        chain: ChainId,
    }

    fn net() -> Net {
        let keys: Vec<ConsensusKeys> = (1..=4u8)
            .map(|i| ConsensusKeys::from_seed([i; 32], ChainId::new("paychain-test")))
            .collect();
        let validators = ValidatorSet::new(
            keys.iter()
                .map(|k| Validator::new(k.public_key(), 1))
                .collect(),
        );
        let tip = Tip {
            height: 9,
            block_hash: Hash::digest(b"block 9"),
            app_hash: Hash::digest(b"app 9"),
            result_root: Hash::digest(b"results 9"),
            time_ms: 1_000_000,
        };
        Net {
            keys,
            validators,
            tip,
            chain: ChainId::new("paychain-test"),
        }
    }

    impl Net {
        /// A validator other than `p`.
        fn other_than(&self, p: &ConsensusKeys) -> &ConsensusKeys {
            self.keys
                .iter()
                .find(|k| k.public_key() != p.public_key())
                .expect("four validators")
        }

        fn proposer_keys(&self, height: Height, round: Round) -> &ConsensusKeys {
            let p = PaychainContext.select_proposer(&self.validators, height, round);
            self.keys
                .iter()
                .find(|k| Address(*k.public_key().as_bytes()) == p.address)
                .expect("the proposer is one of ours")
        }

        fn block(&self, proposer: &ConsensusKeys, txs: Vec<SignedTx>) -> Block {
            let header = Header {
                chain_id: self.chain.clone(),
                height: self.tip.height + 1,
                time_ms: self.tip.time_ms + 500,
                proposer: PublicKey(*proposer.public_key().as_bytes()),
                prev_block_hash: self.tip.block_hash,
                prev_app_hash: self.tip.app_hash,
                prev_result_root: self.tip.result_root,
                tx_root: block::tx_root(&txs),
            };
            Block { header, txs }
        }

        /// A stream for `block`, signed by `signer`, claiming `proposer`.
        fn stream(
            &self,
            block: &Block,
            round: Round,
            proposer: &ConsensusKeys,
            signer: &ConsensusKeys,
        ) -> (ProposalInit, Vec<u8>, ProposalFin) {
            let data = block.to_bytes();
            let init = ProposalInit {
                height: Height(block.header.height),
                round,
                pol_round: Round::Nil,
                proposer: Address(*proposer.public_key().as_bytes()),
                block_hash: BlockHash(block.hash().0),
                block_len: data.len() as u32,
            };
            let fin = ProposalFin {
                signature: signer.sign(&init.to_sign_bytes(&self.chain)).0.to_vec(),
            };
            (init, data, fin)
        }
    }

    fn tx(chain: &ChainId) -> SignedTx {
        let key = SecretKey::from_seed([42; 32]);
        SignedTx::sign(
            Transaction {
                chain_id: chain.clone(),
                sender: key.public_key(),
                nonce: 0,
                call: Call::Registry(paychain_contracts::registry::Call::RegisterMerchant {
                    name: "Noodle House".into(),
                    city: "Shanghai".into(),
                    mcc: "5812".into(),
                    country: "CN".into(),
                    merchant_key: SecretKey::from_seed([43; 32]).public_key(),
                }),
            },
            &key,
        )
    }

    fn unauthenticated(r: Result<Block, Refusal>) -> String {
        match r {
            Err(Refusal::Unauthenticated(why)) => why,
            other => panic!("expected an unauthenticated refusal, got {other:?}"),
        }
    }

    #[test]
    fn the_rounds_proposer_with_its_signed_block_is_accepted() {
        let n = net();
        let round = Round::new(0);
        let p = n.proposer_keys(Height(10), round);
        let block = n.block(p, vec![tx(&n.chain)]);
        let (init, data, fin) = n.stream(&block, round, p, p);
        let got = authenticate(&n.chain, &n.validators, &init, &data, &fin).expect("authentic");
        assert_eq!(got, block);
        assert_eq!(
            check_header(&n.chain, &n.tip, &got, Some(n.tip.time_ms)),
            Ok(())
        );
    }

    #[test]
    fn streams_not_from_the_rounds_proposer_get_no_verdict() {
        let n = net();
        let round = Round::new(1);
        let p = n.proposer_keys(Height(10), round);
        let other = n.other_than(p);
        let block = n.block(p, vec![]);

        // another validator claims the round
        let (init, data, fin) = n.stream(&block, round, other, other);
        assert!(
            unauthenticated(authenticate(&n.chain, &n.validators, &init, &data, &fin))
                .contains("not the proposer")
        );
        // the right proposer named, someone else's signature
        let (init, data, fin) = n.stream(&block, round, p, other);
        assert_eq!(
            unauthenticated(authenticate(&n.chain, &n.validators, &init, &data, &fin)),
            "bad proposal signature"
        );
        // a malformed signature
        let (init, data, mut fin) = n.stream(&block, round, p, p);
        fin.signature.truncate(10);
        assert_eq!(
            unauthenticated(authenticate(&n.chain, &n.validators, &init, &data, &fin)),
            "malformed proposal signature"
        );
        // the right proposer's signature, made for another chain
        let (init, data, _) = n.stream(&block, round, p, p);
        let elsewhere = ChainId::new("another-chain");
        let fin = ProposalFin {
            signature: p.sign(&init.to_sign_bytes(&elsewhere)).0.to_vec(),
        };
        assert_eq!(
            unauthenticated(authenticate(&n.chain, &n.validators, &init, &data, &fin)),
            "bad proposal signature"
        );
        // the signed init, but other bytes relayed: of another length, undecodable, or another block
        let (init, mut data, fin) = n.stream(&block, round, p, p);
        data.push(0);
        assert!(
            unauthenticated(authenticate(&n.chain, &n.validators, &init, &data, &fin))
                .contains("announced")
        );
        let (init, data, fin) = n.stream(&block, round, p, p);
        let garbage = vec![0xff; data.len()];
        assert_eq!(
            unauthenticated(authenticate(&n.chain, &n.validators, &init, &garbage, &fin)),
            "undecodable block bytes"
        );
        // another block of the same length under the signed init
        let mut other_block = n.block(p, vec![]);
        other_block.header.time_ms += 1;
        let other_bytes = other_block.to_bytes();
        assert_eq!(other_bytes.len(), data.len());
        assert!(unauthenticated(authenticate(
            &n.chain,
            &n.validators,
            &init,
            &other_bytes,
            &fin
        ))
        .contains("hash"));
    }

    #[test]
    fn a_signed_block_naming_another_proposer_is_invalid() {
        let n = net();
        let round = Round::new(0);
        let p = n.proposer_keys(Height(10), round);
        let other = n.other_than(p);
        let block = n.block(other, vec![]);
        let (init, data, fin) = n.stream(&block, round, p, p);
        assert_eq!(
            authenticate(&n.chain, &n.validators, &init, &data, &fin),
            Err(Refusal::Invalid(
                "block proposer differs from the stream's proposer".into()
            ))
        );
    }

    #[test]
    fn headers_that_do_not_extend_our_tip_are_refused() {
        let n = net();
        let p = n.proposer_keys(Height(10), Round::new(0));
        let good = n.block(p, vec![tx(&n.chain)]);
        let now = Some(n.tip.time_ms);
        type Edit = fn(&mut Block);
        let cases: [(&str, Edit); 8] = [
            ("wrong chain id", |b| {
                b.header.chain_id = ChainId::new("other-chain")
            }),
            ("does not follow", |b| b.header.height += 1),
            ("previous block hash", |b| {
                b.header.prev_block_hash = Hash::digest(b"fork")
            }),
            ("previous app hash", |b| {
                b.header.prev_app_hash = Hash::digest(b"lie")
            }),
            ("previous result root", |b| {
                b.header.prev_result_root = Hash::digest(b"lie")
            }),
            ("does not increase", |b| b.header.time_ms = 1_000_000),
            ("too far in the future", |b| {
                b.header.time_ms = 1_000_000 + MAX_CLOCK_DRIFT_MS + 1
            }),
            ("tx root", |b| {
                b.txs.clear();
            }),
        ];
        assert_eq!(check_header(&n.chain, &n.tip, &good, now), Ok(()));
        for (why, edit) in cases {
            let mut b = good.clone();
            edit(&mut b);
            let err = check_header(&n.chain, &n.tip, &b, now).expect_err(why);
            assert!(err.contains(why), "{why}: got {err:?}");
        }
        // a decided block (no clock check) may be ahead of our clock
        let mut ahead = good.clone();
        ahead.header.time_ms = n.tip.time_ms + 10 * MAX_CLOCK_DRIFT_MS;
        assert_eq!(check_header(&n.chain, &n.tip, &ahead, None), Ok(()));
    }
}
