//! Equivocation evidence: two conflicting votes (or proposals) signed by one validator for the
//! same height, round and step, as the engine's vote and proposal keepers detect them. The engine
//! hands what it collected for a height to the application with `Finalized`; each pair is logged
//! (one `warn` line naming the validator), counted in `paychain_equivocations_total{kind}` and
//! stored in the node's `evidence` column (`Storage::evidence`), so an operator can take the
//! two signed messages to the consortium. Both messages of a pair carry the validator's
//! signature over the chain's sign bytes, so anyone can check them offline.
//!
//! Not part of the replicated state: each node keeps the evidence it saw itself.

use borsh::{BorshDeserialize, BorshSerialize};
use malachitebft_app::types::MisbehaviorEvidence;
use malachitebft_core_types::{NilOrVal, VoteType};
use paychain_contracts::crypto::Hash;
use tracing::{error, warn};

use crate::consensus::{Address, PaychainContext};
use crate::shared::Shared;

/// What was signed twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Kind {
    Proposal,
    Prevote,
    Precommit,
}

impl Kind {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Proposal => "proposal",
            Kind::Prevote => "prevote",
            Kind::Precommit => "precommit",
        }
    }
}

/// One of the two conflicting messages: the value it was for (`None`: nil) and its signature.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Signed {
    pub value: Option<[u8; 32]>,
    pub signature: [u8; 64],
}

/// A stored equivocation.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Equivocation {
    pub kind: Kind,
    pub validator: [u8; 32],
    pub height: u64,
    pub round: i64,
    pub first: Signed,
    pub second: Signed,
}

fn hex_value(v: &Option<[u8; 32]>) -> String {
    v.map(hex::encode).unwrap_or_else(|| "nil".into())
}

/// The pairs in `evidence`, in the engine's order (validator address, then arrival).
pub fn equivocations(evidence: &MisbehaviorEvidence<PaychainContext>) -> Vec<Equivocation> {
    let mut out = Vec::new();
    for (address, pairs) in evidence.proposals.iter() {
        for (a, b) in pairs {
            out.push(Equivocation {
                kind: Kind::Proposal,
                validator: address_bytes(address),
                height: a.message.height.0,
                round: a.message.round.as_i64(),
                first: Signed {
                    value: Some(a.message.value.0 .0),
                    signature: a.signature.0,
                },
                second: Signed {
                    value: Some(b.message.value.0 .0),
                    signature: b.signature.0,
                },
            });
        }
    }
    for (address, pairs) in evidence.votes.iter() {
        for (a, b) in pairs {
            let value = |v: &NilOrVal<crate::consensus::BlockHash>| match v {
                NilOrVal::Nil => None,
                NilOrVal::Val(h) => Some(h.0),
            };
            out.push(Equivocation {
                kind: match a.message.typ {
                    VoteType::Prevote => Kind::Prevote,
                    VoteType::Precommit => Kind::Precommit,
                },
                validator: address_bytes(address),
                height: a.message.height.0,
                round: a.message.round.as_i64(),
                first: Signed {
                    value: value(&a.message.value),
                    signature: a.signature.0,
                },
                second: Signed {
                    value: value(&b.message.value),
                    signature: b.signature.0,
                },
            });
        }
    }
    out
}

fn address_bytes(a: &Address) -> [u8; 32] {
    a.0
}

/// Logs, counts and stores every pair of `evidence`; returns how many there were. A storage
/// failure is logged, not fatal: the evidence is a report, consensus goes on.
pub fn record(shared: &Shared, evidence: &MisbehaviorEvidence<PaychainContext>) -> usize {
    let found = equivocations(evidence);
    for e in &found {
        warn!(
            validator = %hex::encode(e.validator),
            height = e.height,
            round = e.round,
            kind = e.kind.label(),
            first = %hex_value(&e.first.value),
            second = %hex_value(&e.second.value),
            "equivocation: a validator signed two conflicting {}s (evidence stored)",
            e.kind.label()
        );
        shared.metrics.equivocation(e.kind.label());
        let bytes = borsh::to_vec(e).unwrap_or_default();
        if let Err(err) = shared
            .storage
            .put_evidence(e.height, &Hash::digest(&bytes), &bytes)
        {
            error!(%err, "could not store equivocation evidence");
        }
    }
    found.len()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_borsh() {
        let e = Equivocation {
            kind: Kind::Prevote,
            validator: [3; 32],
            height: 7,
            round: 0,
            first: Signed {
                value: Some([1; 32]),
                signature: [9; 64],
            },
            second: Signed {
                value: None,
                signature: [8; 64],
            },
        };
        let bytes = borsh::to_vec(&e).unwrap();
        assert_eq!(Equivocation::try_from_slice(&bytes).unwrap(), e);
    }
}
