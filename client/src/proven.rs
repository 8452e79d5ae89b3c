//! Proven state: what the client reads of the chain, checked against the genesis it pinned rather
//! than taken on a node's word.
//!
//! ```text
//! fetch_proven(client, pin, keys, node_height)
//!   paychain_provenState { keys } ─► StateEvidence { header H, commit, a proof per key }
//!   ─► verify: header of the pinned chain, commit by > 2/3 of the genesis validator set
//!      (grants::verify_certified, the check the enclave makes), every proof under H's
//!      prev_app_hash (the state after H - 1), every asked key proven and no other
//!   ─► fresh: H at most MAX_LAG_BLOCKS behind the height the node itself reported, and H's
//!      certified time at most MAX_STATE_AGE older than the client's clock
//!   ─► Proven { height, time, entries }
//! read(client, pin, node_height, f)
//!   f runs the contracts' own readers (governance::member_by_key, registry::record,
//!   enclave_registry::serving, ...) over Proven. A key it reads that is not proven yet is
//!   noted (read as absent) and, once f returns, fetched with every key before it, all from one
//!   certified state; f runs again, until it reads only proven keys (at most MAX_ROUNDS calls).
//!   Its result is then derived from certified state only, decoded by the contracts' decoders.
//! ```
//!
//! So the client names no state key itself: the contracts' readers say which keys they read. The
//! validator set in the certified state must be the pinned one (as in the enclave, a changed set
//! is not followed). A node that lies gets one of this module's errors, which say what it got wrong.
//!
//! Freshness: a proof is of committed state, but a hostile node could show an old state (before a
//! record was updated, an enclave retired). The client has a clock; the chain's block times are
//! the validators' (each header's time increases and is at most a few seconds ahead of the
//! validators' clocks), and an idle chain still makes a block a second. So the client refuses
//! state certified more than [`MAX_STATE_AGE`] ago by its clock, and state more than
//! [`MAX_LAG_BLOCKS`] blocks behind the height the node itself reported (a node that contradicts
//! itself).

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::Duration;

use paychain_contracts::crypto::Hash;
use paychain_contracts::genesis::GenesisValidator;
use paychain_contracts::governance;
use paychain_contracts::grants::{
    printable_key, same_validator_set, verify_certified, EvidenceError, ProvenEntries,
    StateEvidence,
};
use paychain_contracts::ids::ChainId;
use paychain_contracts::state::{Entry, StateError, StateReader};

use crate::rpc;

/// What proofs are checked against: the chain and validator set of the pinned genesis
/// (the client's `enclave::Pin`).
pub trait Anchor {
    /// The pinned chain.
    fn chain_id(&self) -> &ChainId;
    /// The pinned genesis validator set.
    fn validators(&self) -> &[GenesisValidator];
}

/// Most blocks the certified state may be behind the height the node reported.
pub const MAX_LAG_BLOCKS: u64 = paychain_contracts::grants::MAX_EVIDENCE_LAG;
/// Oldest certified state accepted, by the client's clock.
pub const MAX_STATE_AGE: Duration = Duration::from_secs(60);
/// Most `paychain_provenState` calls one [`read`] makes. A record put after a rotation reads the
/// deepest chain of dependent keys: the sender's member index, its member entry, its record and
/// record key, the key's signing enclave, that enclave's platform entry (5), read ahead where the
/// reads do not depend on each other.
pub const MAX_ROUNDS: usize = 6;
/// Most keys one call asks (the node's bound).
pub const MAX_KEYS: usize = paychain_api::chain::MAX_PROVEN_KEYS;

/// Why the node's word about state was not taken.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Talking to the node failed, or it refused.
    #[error(transparent)]
    Rpc(#[from] rpc::Error),
    /// The evidence does not verify against the pinned genesis.
    #[error("the node's proof of state refused: {0}")]
    Refused(String),
    /// The certified state is too old.
    #[error("the node's proof of state refused: stale state: {0}")]
    Stale(String),
    /// The proven state does not decode, or is not what the client can follow.
    #[error("certified state: {0}")]
    Undecodable(String),
    /// The readers kept asking for keys not proven yet.
    #[error(
        "still reading unproven state keys after {MAX_ROUNDS} calls (or more than {MAX_KEYS} keys)"
    )]
    TooManyKeys,
}

/// State the client verified: the state after block `height - 1`, certified by block `height`.
/// A [`StateReader`] over the proven entries; a key read that is not among them is noted
/// ([`Proven::unproven`]) and reads as absent, so that [`read`] can fetch it and run again.
#[derive(Debug)]
pub struct Proven {
    /// The certifying block `H`.
    pub height: u64,
    /// Its time (ms since the Unix epoch), as the validators certified it.
    pub time_ms: u64,
    /// Its hash.
    pub block_hash: Hash,
    /// The certified app hash (of the state after `H - 1`).
    pub app_hash: Hash,
    entries: ProvenEntries,
    unproven: RefCell<BTreeSet<Vec<u8>>>,
}

impl Proven {
    /// A proven state with no entries (a first run of a reader, to learn the keys it reads).
    fn empty() -> Proven {
        Proven {
            height: 0,
            time_ms: 0,
            block_hash: Hash::ZERO,
            app_hash: Hash::ZERO,
            entries: ProvenEntries::new(),
            unproven: RefCell::new(BTreeSet::new()),
        }
    }

    /// The proven entries (`None`: proven absent).
    pub fn entries(&self) -> &ProvenEntries {
        &self.entries
    }

    /// The keys read that were not proven.
    pub fn unproven(&self) -> BTreeSet<Vec<u8>> {
        self.unproven.borrow().clone()
    }
}

impl StateReader for Proven {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        match self.entries.get(key) {
            Some(v) => Ok(v.clone()),
            None => {
                self.unproven.borrow_mut().insert(key.to_vec());
                Ok(None)
            }
        }
    }

    fn bucket_entries(&self, _bucket: u16) -> Result<Vec<Entry>, StateError> {
        Err(StateError("proven state has no buckets".into()))
    }

    fn bucket_hash(&self, _bucket: u16) -> Result<Hash, StateError> {
        Err(StateError("proven state has no buckets".into()))
    }
}

/// Checks `evidence`, the node's answer for `keys`, against `pin` (see the module doc): the
/// commit, the proofs, every asked key proven and no other, and freshness against the height the
/// node reported (`node_height`) and the client's clock (`now_ms`).
pub fn verify(
    evidence: &StateEvidence,
    pin: &impl Anchor,
    keys: &BTreeSet<Vec<u8>>,
    node_height: u64,
    now_ms: u64,
) -> Result<Proven, Error> {
    let (height, block_hash, entries) =
        verify_certified(evidence, pin.chain_id(), pin.validators(), 0, |_| false).map_err(
            |e| match e {
                EvidenceError::NotCertified { height, reason } => Error::Refused(format!(
                    "block {height} is not certified by the genesis validator set: {reason}"
                )),
                EvidenceError::WrongChain { got, .. } => Error::Refused(format!(
                    "it is of chain {got}, genesis says {}",
                    pin.chain_id()
                )),
                e => Error::Refused(e.to_string()),
            },
        )?;
    if let Some(k) = keys.iter().find(|k| !entries.contains_key(*k)) {
        return Err(Error::Refused(format!(
            "it does not prove state key {}, which was asked",
            printable_key(k)
        )));
    }
    if let Some(k) = entries.keys().find(|k| !keys.contains(*k)) {
        return Err(Error::Refused(format!(
            "it proves state key {}, which was not asked",
            printable_key(k)
        )));
    }
    if height.saturating_add(MAX_LAG_BLOCKS) < node_height {
        return Err(Error::Stale(format!(
            "block {height} is more than {MAX_LAG_BLOCKS} blocks behind the node's own height {node_height}"
        )));
    }
    let time_ms = evidence.header.time_ms;
    let max_age = MAX_STATE_AGE.as_millis() as u64;
    if time_ms.saturating_add(max_age) < now_ms {
        return Err(Error::Stale(format!(
            "block {height} was certified {} s ago by this machine's clock, more than the {} s accepted",
            (now_ms - time_ms) / 1000,
            MAX_STATE_AGE.as_secs()
        )));
    }
    Ok(Proven {
        height,
        time_ms,
        block_hash,
        app_hash: evidence.header.prev_app_hash,
        entries,
        unproven: RefCell::new(BTreeSet::new()),
    })
}

/// The client's clock, in ms since the Unix epoch.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Asks the node behind `client` to prove `keys` and [`verify`]s the answer against `pin`.
pub async fn fetch_proven(
    client: &rpc::Client,
    pin: &impl Anchor,
    keys: &BTreeSet<Vec<u8>>,
    node_height: u64,
) -> Result<Proven, Error> {
    if keys.len() > MAX_KEYS {
        return Err(Error::TooManyKeys);
    }
    let evidence = client.proven_state(keys).await?;
    verify(&evidence, pin, keys, node_height, now_ms())
}

/// Runs `f` over state proven by the node behind `client` (see the module doc): the keys `f`
/// reads are fetched, in as many calls as their dependencies need (at most [`MAX_ROUNDS`]), and
/// `f`'s result is the one of its run over proven keys only. Also checks that the validator set in
/// that state is the pinned one. `node_height` is the height the node reported (`paychain_status`).
pub async fn read<T>(
    client: &rpc::Client,
    pin: &impl Anchor,
    node_height: u64,
    f: impl Fn(&Proven) -> Result<T, StateError>,
) -> Result<(T, Proven), Error> {
    let run = |state: &Proven| {
        let validators = governance::validators(state);
        let out = f(state);
        (validators, out)
    };
    let mut keys = BTreeSet::new();
    let mut state = Proven::empty();
    let mut calls = 0;
    loop {
        let (validators, out) = run(&state);
        let unproven = state.unproven();
        if unproven.is_empty() && calls > 0 {
            let out = conclude(&state, pin, validators, out)?;
            return Ok((out, state));
        }
        keys.extend(unproven);
        if calls == MAX_ROUNDS || keys.len() > MAX_KEYS {
            return Err(Error::TooManyKeys);
        }
        state = fetch_proven(client, pin, &keys, node_height).await?;
        calls += 1;
    }
}

/// The end of a [`read`] whose last run over `state` read proven keys only: its result `out`,
/// once the validator set in `state` (`validators`) is the pinned one.
fn conclude<T>(
    state: &Proven,
    pin: &impl Anchor,
    validators: Result<Vec<GenesisValidator>, StateError>,
    out: Result<T, StateError>,
) -> Result<T, Error> {
    let validators = validators.map_err(|e| Error::Undecodable(e.0))?;
    if !same_validator_set(&validators, pin.validators()) {
        return Err(Error::Undecodable(format!(
            "the validator set at block {} differs from genesis (a changed validator set is not supported: pin the new genesis)",
            state.height
        )));
    }
    out.map_err(|e| Error::Undecodable(e.0))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use paychain_contracts::block::{tx_root, Header};
    use paychain_contracts::commit::{vote_sign_bytes, Commit, CommitSignature, PRECOMMIT};
    use paychain_contracts::crypto::SecretKey;
    use paychain_contracts::genesis::{genesis_state, Genesis, GenesisValidator};
    use paychain_contracts::governance::{Member, Role};
    use paychain_contracts::grants::ProvenEntry;
    use paychain_contracts::ids::PlatformId;
    use paychain_contracts::state::{prove_with, MemStore, Overlay};

    pub(crate) const NOW: u64 = 1_000_000;

    fn validator() -> SecretKey {
        SecretKey::from_seed([250; 32])
    }

    fn platform_key() -> SecretKey {
        SecretKey::from_seed([7; 32])
    }

    fn genesis() -> Genesis {
        Genesis {
            chain_id: ChainId::new("test-chain"),
            genesis_time_ms: 1_000,
            validators: vec![GenesisValidator {
                name: "v0".into(),
                public_key: validator().public_key(),
                power: 1,
            }],
            members: vec![Member {
                id: PlatformId::new("platform-0").unwrap(),
                name: "Platform 0".into(),
                public_key: platform_key().public_key(),
                roles: [Role::Platform].into_iter().collect(),
            }],
            enclave: None,
        }
    }

    fn store(genesis: &Genesis) -> MemStore {
        let mut store = MemStore::new();
        store.apply(&genesis_state(genesis).unwrap());
        store
    }

    /// The keys `f` reads over `store`.
    pub(crate) fn keys_of(
        store: &MemStore,
        f: impl Fn(&Proven) -> Result<(), StateError>,
    ) -> BTreeSet<Vec<u8>> {
        // Run over a proven copy of every key read, until no new key is read.
        let mut keys = BTreeSet::new();
        loop {
            let p = Proven {
                entries: keys
                    .iter()
                    .map(|k: &Vec<u8>| (k.clone(), store.get(k).unwrap()))
                    .collect(),
                ..Proven::empty()
            };
            let _ = f(&p);
            let new = p.unproven();
            if new.is_empty() {
                return keys;
            }
            keys.extend(new);
        }
    }

    /// Evidence of `keys` in `store`, certified by block 2 of `chain` (time `time_ms`) signed by
    /// `signers`.
    pub(crate) fn evidence(
        store: &MemStore,
        chain: &ChainId,
        keys: &BTreeSet<Vec<u8>>,
        signers: &[SecretKey],
        time_ms: u64,
    ) -> StateEvidence {
        let header = Header {
            chain_id: chain.clone(),
            height: 2,
            time_ms,
            proposer: validator().public_key(),
            prev_block_hash: Hash::ZERO,
            prev_app_hash: store.app_hash(),
            prev_result_root: Hash::ZERO,
            tx_root: tx_root(&[]),
        };
        let hash = header.hash();
        let commit = Commit {
            height: 2,
            round: 0,
            block_hash: hash,
            signatures: signers
                .iter()
                .map(|v| CommitSignature {
                    validator: v.public_key(),
                    signature: v.sign(&vote_sign_bytes(
                        chain,
                        PRECOMMIT,
                        2,
                        0,
                        Some(&hash),
                        &v.public_key(),
                    )),
                })
                .collect(),
        };
        // The bucket tree once, not once per key (a debug build hashes every bucket slowly).
        let tree = paychain_contracts::merkle::Tree::new(&store.all_bucket_hashes().unwrap());
        let entries = keys
            .iter()
            .map(|k| ProvenEntry {
                key: k.clone(),
                value: store.get(k).unwrap(),
                proof: prove_with(store, k, |b| Ok(tree.proof(usize::from(b)).unwrap())).unwrap(),
            })
            .collect();
        StateEvidence {
            header,
            commit,
            entries,
        }
    }

    fn member_keys(store: &MemStore) -> BTreeSet<Vec<u8>> {
        keys_of(store, |s| {
            governance::validators(s)?;
            governance::member_by_key(s, &platform_key().public_key())?;
            Ok(())
        })
    }

    /// The chain and validators a client pins from `genesis`.
    pub(crate) struct TestPin(ChainId, Vec<GenesisValidator>);

    impl Anchor for TestPin {
        fn chain_id(&self) -> &ChainId {
            &self.0
        }
        fn validators(&self) -> &[GenesisValidator] {
            &self.1
        }
    }

    fn pin(genesis: &Genesis) -> TestPin {
        TestPin(genesis.chain_id.clone(), genesis.validators.clone())
    }

    #[test]
    fn honest_evidence_is_read_with_the_contracts_decoders() {
        let g = genesis();
        let store = store(&g);
        let keys = member_keys(&store);
        assert_eq!(keys.len(), 3, "validators, the key index, the member");
        let e = evidence(&store, &g.chain_id, &keys, &[validator()], NOW);
        let proven = verify(&e, &pin(&g), &keys, 2, NOW).unwrap();
        assert_eq!(proven.height, 2);
        let m = governance::member_by_key(&proven, &platform_key().public_key())
            .unwrap()
            .unwrap();
        assert_eq!(m.id.as_str(), "platform-0");
        assert!(proven.unproven().is_empty());
        // A key that was not proven reads as absent and is noted, for the next call.
        let other = SecretKey::from_seed([8; 32]).public_key();
        assert!(governance::member_by_key(&proven, &other)
            .unwrap()
            .is_none());
        assert_eq!(proven.unproven().len(), 1);
    }

    #[test]
    fn a_forged_value_or_a_proof_of_another_state_is_refused() {
        let g = genesis();
        let store = store(&g);
        let keys = member_keys(&store);
        let index = governance::member_by_key_key(&platform_key().public_key());

        // The hostile node says the sender is another platform's member.
        let mut e = evidence(&store, &g.chain_id, &keys, &[validator()], NOW);
        let entry = e.entries.iter_mut().find(|x| x.key == index).unwrap();
        entry.value = Some(paychain_contracts::codec::encode(
            &PlatformId::new("platform-9").unwrap(),
        ));
        let err = verify(&e, &pin(&g), &keys, 2, NOW).unwrap_err().to_string();
        assert!(
            err.contains("does not hold for the value given") && err.contains("gov/"),
            "{err}"
        );

        // Proofs of another state (where the index names platform-9) under this block's header.
        let mut other = store.clone();
        let mut ov = Overlay::new(&other);
        ov.put(
            index.clone(),
            paychain_contracts::codec::encode(&PlatformId::new("platform-9").unwrap()),
        );
        let writes = ov.finish().unwrap();
        other.apply(&writes);
        let honest = evidence(&store, &g.chain_id, &keys, &[validator()], NOW);
        let mut e = evidence(&other, &g.chain_id, &keys, &[validator()], NOW);
        e.header = honest.header.clone();
        e.commit = honest.commit.clone();
        let err = verify(&e, &pin(&g), &keys, 2, NOW).unwrap_err().to_string();
        assert!(err.contains("does not hold"), "{err}");
        // ... and that state certified by a commit of its own is not signed by the genesis set.
        let e = evidence(
            &other,
            &g.chain_id,
            &keys,
            &[SecretKey::from_seed([9; 32])],
            NOW,
        );
        let err = verify(&e, &pin(&g), &keys, 2, NOW).unwrap_err().to_string();
        assert!(
            err.contains("block 2 is not certified by the genesis validator set"),
            "{err}"
        );
    }

    #[test]
    fn forged_or_under_signed_commits_and_other_chains_are_refused() {
        let g = genesis();
        let store = store(&g);
        let keys = member_keys(&store);
        // No signature at all.
        let e = evidence(&store, &g.chain_id, &keys, &[], NOW);
        let err = verify(&e, &pin(&g), &keys, 2, NOW).unwrap_err().to_string();
        assert!(
            err.contains("not certified by the genesis validator set"),
            "{err}"
        );
        // A forged signature in the genesis validator's name.
        let mut e = evidence(&store, &g.chain_id, &keys, &[validator()], NOW);
        e.commit.signatures[0].signature = validator().sign(b"something else");
        let err = verify(&e, &pin(&g), &keys, 2, NOW).unwrap_err().to_string();
        assert!(
            err.contains("not certified by the genesis validator set"),
            "{err}"
        );
        // Under-signed: two genesis validators of equal power, one signs (1/2 is not > 2/3).
        let mut g2 = g.clone();
        g2.validators.push(GenesisValidator {
            name: "v1".into(),
            public_key: SecretKey::from_seed([251; 32]).public_key(),
            power: 1,
        });
        let e = evidence(&store, &g.chain_id, &keys, &[validator()], NOW);
        let err = verify(&e, &pin(&g2), &keys, 2, NOW)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not certified by the genesis validator set"),
            "{err}"
        );
        // A header (and commit) of another chain.
        let other = ChainId::new("attacker-chain");
        let e = evidence(&store, &other, &keys, &[validator()], NOW);
        let err = verify(&e, &pin(&g), &keys, 2, NOW).unwrap_err().to_string();
        assert!(
            err.contains("chain attacker-chain, genesis says test-chain"),
            "{err}"
        );
    }

    #[test]
    fn left_out_added_and_stale_entries_are_refused() {
        let g = genesis();
        let store = store(&g);
        let keys = member_keys(&store);
        let mut e = evidence(&store, &g.chain_id, &keys, &[validator()], NOW);
        e.entries.pop();
        let err = verify(&e, &pin(&g), &keys, 2, NOW).unwrap_err().to_string();
        assert!(err.contains("does not prove state key"), "{err}");

        let mut fewer = keys.clone();
        fewer.pop_first();
        let e = evidence(&store, &g.chain_id, &keys, &[validator()], NOW);
        let err = verify(&e, &pin(&g), &fewer, 2, NOW)
            .unwrap_err()
            .to_string();
        assert!(err.contains("which was not asked"), "{err}");

        // Old state: certified two minutes before the client's clock.
        let e = evidence(&store, &g.chain_id, &keys, &[validator()], NOW - 120_000);
        let err = verify(&e, &pin(&g), &keys, 2, NOW).unwrap_err().to_string();
        assert!(
            err.contains("stale state") && err.contains("120 s ago"),
            "{err}"
        );
        // Certified block far behind the height the node itself reported.
        let e = evidence(&store, &g.chain_id, &keys, &[validator()], NOW);
        let err = verify(&e, &pin(&g), &keys, 40, NOW)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("stale state") && err.contains("behind the node's own height 40"),
            "{err}"
        );
        // Within the bounds it is accepted.
        let e = evidence(&store, &g.chain_id, &keys, &[validator()], NOW - 30_000);
        verify(&e, &pin(&g), &keys, 2 + MAX_LAG_BLOCKS, NOW).unwrap();
    }

    #[test]
    fn a_certified_state_with_another_validator_set_is_not_followed() {
        let g = genesis();
        let mut store = store(&g);
        let other = vec![GenesisValidator {
            name: "v1".into(),
            public_key: SecretKey::from_seed([251; 32]).public_key(),
            power: 1,
        }];
        let key = keys_of(&store, |s| governance::validators(s).map(drop))
            .pop_first()
            .unwrap();
        let mut ov = Overlay::new(&store);
        ov.put(key, paychain_contracts::codec::encode(&other));
        let writes = ov.finish().unwrap();
        store.apply(&writes);
        let keys = member_keys(&store);
        // Certified by the genesis validator (the commit verifies), but the set in state differs.
        let e = evidence(&store, &g.chain_id, &keys, &[validator()], NOW);
        let proven = verify(&e, &pin(&g), &keys, 2, NOW).unwrap();
        let err = conclude(&proven, &pin(&g), governance::validators(&proven), Ok(()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("differs from genesis"), "{err}");
        // The genesis state concludes.
        let store = super::tests::store(&g);
        let e = evidence(&store, &g.chain_id, &keys, &[validator()], NOW);
        let proven = verify(&e, &pin(&g), &keys, 2, NOW).unwrap();
        conclude(&proven, &pin(&g), governance::validators(&proven), Ok(())).unwrap();
    }
}
