//! Equivocation evidence: two conflicting votes (or proposals) signed by one validator for the
//! same height, round and step, as the engine's vote and proposal keepers detect them. The engine
//! hands what it collected for a height to the application with `Finalized`; each pair is logged
//! (one `warn` line naming the validator), counted in `paychain_equivocations_total{kind}` and
//! stored in the node's `evidence` column (`Storage::evidence`), so an operator can take the
//! two signed messages to the consortium. Both messages of a pair carry the validator's
//! signature over the chain's sign bytes, so anyone can check them offline.
//!
//! Not part of the replicated state: each node keeps the evidence it saw itself.
//!
//! Checking a pair offline: [`verify`] (used by `paychain-node evidence --verify` and
//! `paychain-node verify-evidence`) rebuilds both messages' sign bytes on the chain's id and checks
//! both signatures against the validator's key (its address is its ed25519 public key), and that
//! the two messages differ. Nothing else is needed: no node, no storage, no engine.

use borsh::{BorshDeserialize, BorshSerialize};
use malachitebft_app::types::MisbehaviorEvidence;
use malachitebft_core_types::{NilOrVal, Round, VoteType};
use paychain_contracts::crypto::Hash;
use paychain_contracts::ids::ChainId;
use serde_json::{json, Value};
use tracing::{error, warn};

use crate::consensus::scheme::{PublicKey, Signature};
use crate::consensus::{Address, BlockHash, BlockValue, Height, PaychainContext, Proposal, Vote};
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

/// One of the two conflicting messages: the value it was for (`None`: nil), its signature, and
/// for a proposal the POL round it named (signed too; `-1`: none; always `-1` for votes).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Signed {
    pub value: Option<[u8; 32]>,
    pub signature: [u8; 64],
    pub pol_round: i64,
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

/// [`Equivocation`] as stored before `Signed::pol_round` existed.
#[derive(BorshDeserialize)]
struct LegacyEquivocation {
    kind: Kind,
    validator: [u8; 32],
    height: u64,
    round: i64,
    first: LegacySigned,
    second: LegacySigned,
}

#[derive(BorshDeserialize)]
struct LegacySigned {
    value: Option<[u8; 32]>,
    signature: [u8; 64],
}

/// Most bytes of one JSON evidence line [`Equivocation::from_json`] reads.
pub const MAX_JSON_LINE: usize = 4096;

impl Equivocation {
    /// Decodes a stored record. A record stored before the POL round was kept reads with `-1`
    /// (no POL round, what nearly every proposal has); [`verify`] refutes that guess if it is wrong.
    pub fn decode(bytes: &[u8]) -> Result<Equivocation, String> {
        if let Ok(e) = borsh::from_slice::<Equivocation>(bytes) {
            return Ok(e);
        }
        let e = borsh::from_slice::<LegacyEquivocation>(bytes)
            .map_err(|e| format!("undecodable evidence record: {e}"))?;
        let signed = |s: LegacySigned| Signed {
            value: s.value,
            signature: s.signature,
            pol_round: -1,
        };
        Ok(Equivocation {
            kind: e.kind,
            validator: e.validator,
            height: e.height,
            round: e.round,
            first: signed(e.first),
            second: signed(e.second),
        })
    }

    /// The JSON line `paychain-node evidence` prints.
    pub fn to_json(&self) -> Value {
        let signed = |s: &Signed| {
            let mut v = json!({
                "value": s.value.map(hex::encode),
                "signature": hex::encode(s.signature),
            });
            if self.kind == Kind::Proposal {
                v["pol_round"] = json!(s.pol_round);
            }
            v
        };
        json!({
            "kind": self.kind.label(),
            "validator": hex::encode(self.validator),
            "height": self.height,
            "round": self.round,
            "first": signed(&self.first),
            "second": signed(&self.second),
        })
    }

    /// Parses a line of `paychain-node evidence` (at most [`MAX_JSON_LINE`] bytes); errors quote
    /// none of the input.
    pub fn from_json(line: &str) -> Result<Equivocation, String> {
        if line.len() > MAX_JSON_LINE {
            return Err(format!(
                "line of {} bytes (at most {MAX_JSON_LINE})",
                line.len()
            ));
        }
        let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
        let kind = match v["kind"].as_str() {
            Some("proposal") => Kind::Proposal,
            Some("prevote") => Kind::Prevote,
            Some("precommit") => Kind::Precommit,
            _ => return Err("kind: not proposal, prevote or precommit".into()),
        };
        fn bytes<const N: usize>(v: &Value, what: &str) -> Result<[u8; N], String> {
            let text = v.as_str().ok_or_else(|| format!("{what}: not a string"))?;
            let raw = hex::decode(text).map_err(|_| format!("{what}: not hex"))?;
            raw.try_into().map_err(|_| format!("{what}: not {N} bytes"))
        }
        let signed = |s: &Value, which: &str| -> Result<Signed, String> {
            Ok(Signed {
                value: match &s["value"] {
                    Value::Null => None,
                    v => Some(bytes::<32>(v, &format!("{which}.value"))?),
                },
                signature: bytes::<64>(&s["signature"], &format!("{which}.signature"))?,
                pol_round: match &s["pol_round"] {
                    Value::Null => -1,
                    r => r
                        .as_i64()
                        .ok_or_else(|| format!("{which}.pol_round: not an integer"))?,
                },
            })
        };
        Ok(Equivocation {
            kind,
            validator: bytes::<32>(&v["validator"], "validator")?,
            height: v["height"].as_u64().ok_or("height: not a height")?,
            round: v["round"].as_i64().ok_or("round: not an integer")?,
            first: signed(&v["first"], "first")?,
            second: signed(&v["second"], "second")?,
        })
    }

    /// The bytes `signed` was signed over on chain `chain_id` (the engine's sign bytes of the
    /// proposal or vote it stands for).
    pub fn sign_bytes(&self, signed: &Signed, chain_id: &ChainId) -> Result<Vec<u8>, String> {
        let round = u32::try_from(self.round)
            .map(Round::new)
            .map_err(|_| format!("round {} is not a round", self.round))?;
        let address = Address(self.validator);
        Ok(match self.kind {
            Kind::Proposal => {
                let value = signed.value.ok_or("a proposal for nil")?;
                let pol_round = match signed.pol_round {
                    -1 => Round::Nil,
                    r => u32::try_from(r)
                        .map(Round::new)
                        .map_err(|_| format!("POL round {r} is not a round"))?,
                };
                Proposal {
                    height: Height(self.height),
                    round,
                    value: BlockValue(BlockHash(value)),
                    pol_round,
                    validator_address: address,
                }
                .to_sign_bytes(chain_id)
            }
            Kind::Prevote | Kind::Precommit => Vote {
                typ: if self.kind == Kind::Prevote {
                    VoteType::Prevote
                } else {
                    VoteType::Precommit
                },
                height: Height(self.height),
                round,
                value: match signed.value {
                    None => NilOrVal::Nil,
                    Some(h) => NilOrVal::Val(BlockHash(h)),
                },
                validator_address: address,
            }
            .to_sign_bytes(chain_id),
        })
    }
}

/// Checks offline that `e` proves double signing on chain `chain_id`: two different messages for
/// one height, round and step, each carrying a valid signature of `e.validator` (a validator's
/// address is its ed25519 public key) over the chain's sign bytes. Whether that key belongs to a
/// validator of the chain at that height is for the reader to check against the validator set.
pub fn verify(e: &Equivocation, chain_id: &ChainId) -> Result<(), String> {
    let first = e.sign_bytes(&e.first, chain_id)?;
    let second = e.sign_bytes(&e.second, chain_id)?;
    if first == second {
        return Err("the two messages are the same: no conflict".into());
    }
    let key = PublicKey::from_bytes(e.validator).map_err(|err| err.0)?;
    for (which, bytes, s) in [("first", &first, &e.first), ("second", &second, &e.second)] {
        key.verify(bytes, &Signature(s.signature)).map_err(|_| {
            format!(
                "the {which} signature is not {}'s over this {} on chain {}",
                hex::encode(e.validator),
                e.kind.label(),
                chain_id.0
            )
        })?;
    }
    Ok(())
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
                    pol_round: a.message.pol_round.as_i64(),
                },
                second: Signed {
                    value: Some(b.message.value.0 .0),
                    signature: b.signature.0,
                    pol_round: b.message.pol_round.as_i64(),
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
                    pol_round: -1,
                },
                second: Signed {
                    value: value(&b.message.value),
                    signature: b.signature.0,
                    pol_round: -1,
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
    use crate::consensus::ConsensusKeys;

    fn chain() -> ChainId {
        ChainId::new("paychain-test")
    }

    /// Validator `seed` signing two prevotes (or proposals) at height 7, round 2, for `a` and `b`.
    fn signed_pair(kind: Kind, a: Option<[u8; 32]>, b: Option<[u8; 32]>) -> Equivocation {
        let keys = ConsensusKeys::from_seed([5; 32], chain());
        let mut e = Equivocation {
            kind,
            validator: *keys.public_key().as_bytes(),
            height: 7,
            round: 2,
            first: Signed {
                value: a,
                signature: [0; 64],
                pol_round: -1,
            },
            second: Signed {
                value: b,
                signature: [0; 64],
                pol_round: if kind == Kind::Proposal { 1 } else { -1 },
            },
        };
        e.first.signature = keys.sign(&e.sign_bytes(&e.first, &chain()).unwrap()).0;
        e.second.signature = keys.sign(&e.sign_bytes(&e.second, &chain()).unwrap()).0;
        e
    }

    #[test]
    fn records_round_trip_through_borsh_and_json() {
        let e = signed_pair(Kind::Prevote, Some([1; 32]), None);
        let bytes = borsh::to_vec(&e).unwrap();
        assert_eq!(Equivocation::decode(&bytes).unwrap(), e);
        let line = e.to_json().to_string();
        assert_eq!(Equivocation::from_json(&line).unwrap(), e);
        let p = signed_pair(Kind::Proposal, Some([1; 32]), Some([2; 32]));
        assert_eq!(
            Equivocation::from_json(&p.to_json().to_string()).unwrap(),
            p
        );
    }

    #[test]
    fn records_stored_before_the_pol_round_still_read() {
        #[derive(BorshSerialize)]
        struct Old {
            kind: Kind,
            validator: [u8; 32],
            height: u64,
            round: i64,
            first: (Option<[u8; 32]>, [u8; 64]),
            second: (Option<[u8; 32]>, [u8; 64]),
        }
        let e = signed_pair(Kind::Precommit, Some([1; 32]), Some([2; 32]));
        let old = borsh::to_vec(&Old {
            kind: e.kind,
            validator: e.validator,
            height: e.height,
            round: e.round,
            first: (e.first.value, e.first.signature),
            second: (e.second.value, e.second.signature),
        })
        .unwrap();
        let read = Equivocation::decode(&old).unwrap();
        assert_eq!(read, e);
        assert_eq!(verify(&read, &chain()), Ok(()));
        assert!(Equivocation::decode(&old[..old.len() - 1]).is_err());
    }

    #[test]
    fn a_genuine_pair_verifies_offline_and_a_forged_one_does_not() {
        for e in [
            signed_pair(Kind::Prevote, Some([1; 32]), None),
            signed_pair(Kind::Precommit, Some([1; 32]), Some([2; 32])),
            signed_pair(Kind::Proposal, Some([1; 32]), Some([2; 32])),
        ] {
            assert_eq!(verify(&e, &chain()), Ok(()), "{e:?}");
            // Signed on another chain: not evidence here.
            assert!(verify(&e, &ChainId::new("paychain-other")).is_err());
            // Someone else's key, a changed value, a changed POL round, a broken signature.
            let mut other = e.clone();
            other.validator = *ConsensusKeys::from_seed([6; 32], chain())
                .public_key()
                .as_bytes();
            assert!(verify(&other, &chain()).is_err());
            let mut moved = e.clone();
            moved.second.value = Some([3; 32]);
            assert!(verify(&moved, &chain()).unwrap_err().contains("second"));
            let mut broken = e.clone();
            broken.first.signature[0] ^= 1;
            assert!(verify(&broken, &chain()).unwrap_err().contains("first"));
            let mut later = e.clone();
            later.round += 1;
            assert!(verify(&later, &chain()).is_err());
        }
        let mut pol = signed_pair(Kind::Proposal, Some([1; 32]), Some([2; 32]));
        pol.second.pol_round = -1;
        assert!(verify(&pol, &chain()).is_err());
        // One message twice is no conflict, even with both signatures valid.
        let mut same = signed_pair(Kind::Prevote, Some([1; 32]), Some([1; 32]));
        same.second = same.first.clone();
        assert!(verify(&same, &chain()).unwrap_err().contains("no conflict"));
    }

    #[test]
    fn json_lines_are_bounded_and_errors_quote_no_input() {
        let long = format!("{{\"kind\": \"{}\"}}", "x".repeat(MAX_JSON_LINE));
        let err = Equivocation::from_json(&long).unwrap_err();
        assert!(err.len() < 100 && !err.contains("xxx"), "{err}");
        let mut v = signed_pair(Kind::Prevote, Some([1; 32]), None).to_json();
        v["first"]["signature"] = json!("zz".repeat(64));
        let err = Equivocation::from_json(&v.to_string()).unwrap_err();
        assert!(
            err.contains("first.signature") && !err.contains("zz"),
            "{err}"
        );
        assert!(Equivocation::from_json("not json").is_err());
        assert!(Equivocation::from_json("{}").is_err());
    }

    #[test]
    fn mutated_and_random_lines_and_records_never_panic() {
        // A deterministic xorshift: the same cases every run.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let good = signed_pair(Kind::Proposal, Some([1; 32]), Some([2; 32]));
        let line = good.to_json().to_string().into_bytes();
        let record = borsh::to_vec(&good).unwrap();
        for _ in 0..4000 {
            for base in [&line, &record] {
                let mut m = base.clone();
                for _ in 0..1 + next() % 4 {
                    let i = (next() % m.len() as u64) as usize;
                    match next() % 3 {
                        0 => m[i] = next() as u8,
                        1 => m.truncate(i),
                        _ => m.insert(i, next() as u8),
                    }
                    if m.is_empty() {
                        break;
                    }
                }
                if let Ok(e) = Equivocation::decode(&m) {
                    let _ = verify(&e, &chain());
                }
                if let Ok(e) = Equivocation::from_json(&String::from_utf8_lossy(&m)) {
                    let _ = verify(&e, &chain());
                }
                if let Err(err) = Equivocation::from_json(&String::from_utf8_lossy(&m)) {
                    assert!(err.len() < 200, "a long error: {err}");
                }
            }
        }
    }
}
