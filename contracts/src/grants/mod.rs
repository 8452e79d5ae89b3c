//! Grants proven from state: whom the enclave answers, decided from committed state it verifies
//! itself, never from what its host says.
//!
//! The host passes a [`StateEvidence`]: the header of a block `H`, the commit certificate of that
//! header (the precommits of more than 2/3 of the voting power for its hash), and a
//! [`StateProof`] for every state key the decision reads. The header of block `H` carries, as
//! `prev_app_hash`, the app hash **after block `H - 1`** (execution follows the decision, so the
//! state after `H` is committed to only by header `H + 1`): the proofs are of that state, and `H`
//! is the height the lookup's window is checked at.
//!
//! Inside the enclave ([`answer`], [`verify`]): the commit is checked against the validator set the
//! enclave was started with (the genesis set, [`crate::enclave::EnclaveConfig::validators`]); every proof against
//! the certified app hash; the values are decoded with the contracts' own decoders by running
//! [`decide`] over the proven entries only ([`ProvenState`]): the validator set in state (which
//! must be the trusted one: a chain whose set changed is refused, as none can change it today),
//! the requester's role at the platform ([`role_of`]) and the merchant's sealed records
//! ([`stored_records`]). A key the decision reads that the evidence does not prove is refused
//! ([`EvidenceError::Missing`]), and so is a proven key it does not read
//! ([`EvidenceError::Unused`]): a host can neither drop nor add a record, forge a value, or prove
//! another key, another state or an uncertified block.
//!
//! The host builds the evidence with the same [`decide`] over its storage ([`build_evidence`]),
//! so both read the same keys in the same order.
//!
//! This module is part of what the enclave runs (the build hashes it into the measurement with
//! `src/enclave/`); it sits above the contracts because it decodes their state, which the enclave's
//! core does not import. [`answer`] is the only way into an enclave's lookup answer from outside
//! this crate.
//!
//! Bounds: at most [`MAX_EVIDENCE_ENTRIES`] entries, keys of at most [`MAX_EVIDENCE_KEY_BYTES`]
//! and values of at most [`MAX_EVIDENCE_VALUE_BYTES`]; a proof's siblings are bounded by its
//! tree's size (a proof with more is refused before any hashing beyond 64 levels). The enclave
//! has no clock: it refuses evidence more than [`MAX_EVIDENCE_LAG`] blocks older than the newest
//! it has verified.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::chain::block::Header;
use crate::chain::commit::{Commit, CommitError};
use crate::chain::state::{Entry, StateError, StateProof, StateReader};
use crate::chain::validators::GenesisValidator;
use crate::enclave::query::{LookupRequest, MAX_RECORDS_PER_MERCHANT};
use crate::enclave::records::SealedRecord;
use crate::enclave::{
    BoxRandomness, Enclave, EnclaveError, RequesterRole, SignedAnswer, SignedLookup, StoredRecord,
};
use crate::primitives::crypto::{Hash, PublicKey};
use crate::primitives::ids::{ChainId, MerchantId, PlatformId};
use crate::{enclave_registry, governance, guardian, registry, wallet};

/// Most proven entries one evidence may carry. A decision reads at most 1 (validator set) + 2
/// (member) + 1 (hosted user) + 1 + 3 × [`GUARDIAN_BINDINGS_CHECKED`] (guardian bindings and their
/// wallets) + 2 (the merchant's platform lists) + [`MAX_RECORDS_PER_MERCHANT`] keys = 119.
pub const MAX_EVIDENCE_ENTRIES: usize = 128;
/// Most entries of the evidence of a private read (a statement page of
/// `wallet::MAX_STATEMENT_ENTRIES` entries and what it reads besides).
pub const MAX_READ_EVIDENCE_ENTRIES: usize = 2048;
/// Longest state key in evidence.
pub const MAX_EVIDENCE_KEY_BYTES: usize = 512;
/// Largest state value in evidence (a sealed record is at most 16 KiB).
pub const MAX_EVIDENCE_VALUE_BYTES: usize = 32 * 1024;
/// How many blocks older than the newest verified one evidence may be.
pub const MAX_EVIDENCE_LAG: u64 = 5;
/// How many of a requester's newest guardian bindings the decision checks for a delegated payment.
pub const GUARDIAN_BINDINGS_CHECKED: usize = 16;

/// Proven entries by key (`None`: proven absent).
pub type ProvenEntries = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// One state entry and its proof under the certified app hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct ProvenEntry {
    /// The state key.
    #[serde(with = "crate::primitives::codec::hex_bytes")]
    pub key: Vec<u8>,
    /// Its value (`None`: absent).
    pub value: Option<Vec<u8>>,
    /// Inclusion (or exclusion) proof.
    pub proof: StateProof,
}

/// What a host shows the enclave about committed state (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct StateEvidence {
    /// Header of block `H`; its `prev_app_hash` is the app hash after block `H - 1`.
    pub header: Header,
    /// The precommits for `header`.
    pub commit: Commit,
    /// The entries the decision reads, each proven under `header.prev_app_hash`.
    pub entries: Vec<ProvenEntry>,
}

/// Why evidence was refused. Each names what the host got wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    /// The enclave was started without a validator set.
    #[error("this enclave trusts no validator set, so it cannot check committed state")]
    NoTrustedValidators,
    /// The header is another chain's.
    #[error("evidence is a block of chain {got}, this enclave serves {expected}")]
    WrongChain {
        /// This enclave's chain.
        expected: ChainId,
        /// The header's.
        got: ChainId,
    },
    /// The commit is for another height than the header.
    #[error("the commit is for height {commit}, the header is of height {header}")]
    CommitHeight {
        /// The header's height.
        header: u64,
        /// The commit's.
        commit: u64,
    },
    /// The block is not certified by the trusted validator set.
    #[error("block {height} is not certified by the validator set this enclave trusts: {reason}")]
    NotCertified {
        /// The block's height.
        height: u64,
        /// Why the commit does not verify.
        reason: CommitError,
    },
    /// Evidence older than a block already verified.
    #[error(
        "stale evidence: block {height} is more than {MAX_EVIDENCE_LAG} blocks older than block {newest} this enclave verified"
    )]
    Stale {
        /// The evidence's height.
        height: u64,
        /// The newest height verified.
        newest: u64,
    },
    /// Too many entries.
    #[error("{0} proven entries exceed the limit")]
    TooManyEntries(usize),
    /// An entry's key or value is too large.
    #[error("a proven entry is too large (key {key} bytes, value {value} bytes)")]
    EntryTooLarge {
        /// Key length.
        key: usize,
        /// Value length.
        value: usize,
    },
    /// Two entries for one key.
    #[error("two proven entries for state key {0}")]
    DuplicateEntry(String),
    /// A proof does not hold for the value given under the certified app hash.
    #[error(
        "the proof of state key {key} does not hold for the value given under the app hash certified at block {height} (a forged value, or a proof of another key or another state)"
    )]
    BadProof {
        /// The key, printable.
        key: String,
        /// The evidence's height.
        height: u64,
    },
    /// A key the decision reads is not proven.
    #[error(
        "the evidence does not prove state key {0}, which the decision reads (an entry left out)"
    )]
    Missing(String),
    /// A proven key the decision does not read.
    #[error(
        "the evidence proves state key {0}, which the decision does not read (an entry added)"
    )]
    Unused(String),
    /// A proven value does not decode, or the state is inconsistent.
    #[error("certified state: {0}")]
    Undecodable(String),
    /// The validator set in the certified state is not the trusted one.
    #[error(
        "the validator set in the certified state differs from the one this enclave trusts (a changed validator set is not supported: restart the enclave with the new set)"
    )]
    ValidatorSetChanged,
}

/// Why a lookup was not answered: the evidence, or the enclave's own checks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// The host's evidence of committed state was refused.
    #[error("evidence refused: {0}")]
    Evidence(#[from] EvidenceError),
    /// The enclave refused (signature, address, no role, replay, not provisioned, ...).
    #[error(transparent)]
    Enclave(#[from] EnclaveError),
}

/// Answers `lookup` in `enclave` from the host's `evidence`: checks the requester's signature and
/// the chain and enclave it names; [`verify`]s the evidence (commit certificate of block `H`
/// against the enclave's trusted validator set, every proof against the app hash it certifies);
/// derives the requester's role and the merchant's records from the proven state; checks the
/// replay window at `H`; opens only the lookup's platform's record, boxes it to the reply key and
/// signs the answer. `rand` must be fresh for every call.
pub fn answer(
    enclave: &Enclave,
    lookup: &SignedLookup,
    evidence: &StateEvidence,
    rand: &BoxRandomness,
) -> Result<SignedAnswer, AnswerError> {
    lookup.verify_signature().map_err(EnclaveError::from)?;
    enclave
        .check_addressed(&lookup.request)
        .map_err(EnclaveError::from)?;
    let (newest, last) = enclave.certified();
    let (height, block_hash, decision) = verify(
        evidence,
        &lookup.request,
        enclave.chain_id(),
        enclave.trusted_validators(),
        newest,
        |hash| *hash == last,
    )?;
    enclave.note_certified(height, block_hash);
    Ok(enclave.answer_decided(lookup, decision.role, &decision.records, height, rand)?)
}

/// What the enclave derives from committed state for one lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The validator set in state.
    pub validators: Vec<GenesisValidator>,
    /// The requester's role at the requested platform, if any.
    pub role: Option<RequesterRole>,
    /// The merchant's sealed records (read only when the requester has a role).
    pub records: Vec<StoredRecord>,
    /// Records whose payload is not sealed (skipped).
    pub unsealed: usize,
}

/// The decision for `request` over `reader`: the keys it reads are exactly those the evidence must
/// prove.
pub fn decide(reader: &impl StateReader, request: &LookupRequest) -> Result<Decision, StateError> {
    let validators = governance::validators(reader)?;
    let role = role_of(reader, &request.requester, &request.platform_id)?;
    let (records, unsealed) = match role {
        Some(_) => stored_records(reader, &request.merchant_id)?,
        None => (Vec::new(), 0),
    };
    Ok(Decision {
        validators,
        role,
        records,
        unsealed,
    })
}

/// The role `requester` holds at `platform`: its member key (a platform member with the Platform
/// role), a user it hosts, or a dependant paying from a guardian's wallet it hosts (an active
/// binding among the newest [`GUARDIAN_BINDINGS_CHECKED`]).
pub fn role_of(
    reader: &impl StateReader,
    requester: &PublicKey,
    platform: &PlatformId,
) -> Result<Option<RequesterRole>, StateError> {
    if let Some(m) = governance::member_by_key(reader, requester)? {
        if &m.id == platform && m.public_key == *requester && m.has_role(governance::Role::Platform)
        {
            return Ok(Some(RequesterRole::Platform));
        }
    }
    if let Some(user) = wallet::user(reader, requester)? {
        if &user.host == platform {
            return Ok(Some(RequesterRole::HostedUser));
        }
    }
    let (bindings, _) = guardian::bindings_of(reader, requester, GUARDIAN_BINDINGS_CHECKED)?;
    for b in bindings {
        let Some(a) = b
            .authorisation
            .filter(|_| b.dependant == *requester && b.status == guardian::Status::Active)
        else {
            continue;
        };
        if let Some(w) = wallet::wallet(reader, &a.wallet)? {
            if &w.host == platform {
                return Ok(Some(RequesterRole::HostedUser));
            }
        }
    }
    Ok(None)
}

/// The merchant's records on chain (active and accepted), those whose payload is sealed, and how
/// many were not.
pub fn stored_records(
    reader: &impl StateReader,
    merchant: &MerchantId,
) -> Result<(Vec<StoredRecord>, usize), StateError> {
    let platforms = registry::platforms_of(reader, merchant)?;
    if platforms.len() > MAX_RECORDS_PER_MERCHANT {
        return Err(StateError(format!(
            "merchant {merchant} has records of {} platforms, more than the {MAX_RECORDS_PER_MERCHANT} a lookup reads",
            platforms.len()
        )));
    }
    let mut records = Vec::with_capacity(platforms.len());
    let mut unsealed = 0;
    for platform in platforms {
        let Some(rec) = registry::record(reader, merchant, &platform)? else {
            continue;
        };
        match SealedRecord::from_bytes(&rec.payload) {
            Ok(sealed) => records.push(StoredRecord {
                platform_id: rec.platform_id,
                version: rec.version,
                sealed,
            }),
            Err(_) => unsealed += 1,
        }
    }
    Ok((records, unsealed))
}

/// A state key, printable: ASCII as is, other bytes as `\xNN`, cut after 96 characters.
pub fn printable_key(key: &[u8]) -> String {
    let mut out = String::new();
    for &b in key {
        if out.len() >= 96 {
            out.push('…');
            break;
        }
        if b.is_ascii_graphic() {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// The proven entries as a read-only state: a key not proven is an error, and every key read is
/// remembered.
pub struct ProvenState {
    entries: ProvenEntries,
    read: RefCell<BTreeSet<Vec<u8>>>,
    missing: RefCell<Option<Vec<u8>>>,
}

impl StateReader for ProvenState {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        match self.entries.get(key) {
            Some(value) => {
                self.read.borrow_mut().insert(key.to_vec());
                Ok(value.clone())
            }
            None => {
                self.missing
                    .borrow_mut()
                    .get_or_insert_with(|| key.to_vec());
                Err(StateError(format!(
                    "no proof of state key {}",
                    printable_key(key)
                )))
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

/// Checks `evidence` for `request` against the trusted `validators` of `chain_id` (see the module
/// doc) and returns the certified height `H` and the decision. `newest` is the newest height this
/// enclave verified before; `certified(block hash)` says whether that header's commit was verified
/// already (its signatures are then not checked again).
pub fn verify(
    evidence: &StateEvidence,
    request: &LookupRequest,
    chain_id: &ChainId,
    validators: &[GenesisValidator],
    newest: u64,
    certified: impl FnOnce(&Hash) -> bool,
) -> Result<(u64, Hash, Decision), EvidenceError> {
    let (height, block_hash, entries) =
        verify_certified(evidence, chain_id, validators, newest, certified)?;
    let state = ProvenState {
        entries,
        read: RefCell::new(BTreeSet::new()),
        missing: RefCell::new(None),
    };
    let decision = decide(&state, request).map_err(|e| match state.missing.borrow().as_ref() {
        Some(key) => EvidenceError::Missing(printable_key(key)),
        None => EvidenceError::Undecodable(e.0),
    })?;
    let read = state.read.borrow();
    if let Some(extra) = state.entries.keys().find(|k| !read.contains(*k)) {
        return Err(EvidenceError::Unused(printable_key(extra)));
    }
    if !same_validator_set(&decision.validators, validators) {
        return Err(EvidenceError::ValidatorSetChanged);
    }
    Ok((height, block_hash, decision))
}

/// Whether two validator sets are the same: names are monikers, a set is its keys and their power.
pub fn same_validator_set(a: &[GenesisValidator], b: &[GenesisValidator]) -> bool {
    let set = |vs: &[GenesisValidator]| -> BTreeSet<(PublicKey, u64)> {
        vs.iter().map(|v| (v.public_key, v.power)).collect()
    };
    set(a) == set(b)
}

/// The part of [`verify`] that does not depend on what is read (clients use it too, through
/// `paychain_provenState`): the header is of `chain_id`, its commit verifies against the trusted
/// `validators` (unless `certified(block hash)` says it was verified already), it is not more than
/// [`MAX_EVIDENCE_LAG`] blocks older than `newest`, the entries are within bounds, and every proof
/// holds under the certified app hash. Returns the height `H`, the block hash and the proven
/// entries (the state after block `H - 1`).
pub fn verify_certified(
    evidence: &StateEvidence,
    chain_id: &ChainId,
    validators: &[GenesisValidator],
    newest: u64,
    certified: impl FnOnce(&Hash) -> bool,
) -> Result<(u64, Hash, ProvenEntries), EvidenceError> {
    verify_certified_up_to(
        evidence,
        chain_id,
        validators,
        newest,
        certified,
        MAX_EVIDENCE_ENTRIES,
    )
}

/// [`verify_certified`] with at most `max_entries` entries (a private read's statement proves up
/// to [`MAX_READ_EVIDENCE_ENTRIES`] values).
pub fn verify_certified_up_to(
    evidence: &StateEvidence,
    chain_id: &ChainId,
    validators: &[GenesisValidator],
    newest: u64,
    certified: impl FnOnce(&Hash) -> bool,
    max_entries: usize,
) -> Result<(u64, Hash, ProvenEntries), EvidenceError> {
    if validators.is_empty() {
        return Err(EvidenceError::NoTrustedValidators);
    }
    let header = &evidence.header;
    let height = header.height;
    if &header.chain_id != chain_id {
        return Err(EvidenceError::WrongChain {
            expected: chain_id.clone(),
            got: header.chain_id.clone(),
        });
    }
    if evidence.commit.height != height {
        return Err(EvidenceError::CommitHeight {
            header: height,
            commit: evidence.commit.height,
        });
    }
    let block_hash = header.hash();
    if !certified(&block_hash) {
        evidence
            .commit
            .verify(chain_id, &block_hash, validators)
            .map_err(|reason| EvidenceError::NotCertified { height, reason })?;
    }
    if height.saturating_add(MAX_EVIDENCE_LAG) < newest {
        return Err(EvidenceError::Stale { height, newest });
    }
    if evidence.entries.len() > max_entries {
        return Err(EvidenceError::TooManyEntries(evidence.entries.len()));
    }
    let app_hash = header.prev_app_hash;
    let mut entries = BTreeMap::new();
    for e in &evidence.entries {
        let value_len = e.value.as_ref().map_or(0, Vec::len);
        if e.key.len() > MAX_EVIDENCE_KEY_BYTES || value_len > MAX_EVIDENCE_VALUE_BYTES {
            return Err(EvidenceError::EntryTooLarge {
                key: e.key.len(),
                value: value_len,
            });
        }
        if !e.proof.verify(&e.key, e.value.as_deref(), &app_hash) {
            return Err(EvidenceError::BadProof {
                key: printable_key(&e.key),
                height,
            });
        }
        if entries.insert(e.key.clone(), e.value.clone()).is_some() {
            return Err(EvidenceError::DuplicateEntry(printable_key(&e.key)));
        }
    }
    Ok((height, block_hash, entries))
}

/// A key read and the value it had (`None`: absent).
type Read = (Vec<u8>, Option<Vec<u8>>);

/// A reader that remembers the keys read, in order, with their values.
struct Recording<'a, R: StateReader> {
    reader: &'a R,
    read: RefCell<Vec<Read>>,
}

impl<R: StateReader> StateReader for Recording<'_, R> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        let value = self.reader.get(key)?;
        let mut read = self.read.borrow_mut();
        if !read.iter().any(|(k, _)| k == key) {
            read.push((key.to_vec(), value.clone()));
        }
        Ok(value)
    }

    fn bucket_entries(&self, bucket: u16) -> Result<Vec<Entry>, StateError> {
        self.reader.bucket_entries(bucket)
    }

    fn bucket_hash(&self, bucket: u16) -> Result<Hash, StateError> {
        self.reader.bucket_hash(bucket)
    }
}

/// The host's side: runs [`decide`] for `request` over `reader` (the state whose app hash
/// `header.prev_app_hash` is) and proves every key it read with `prove`. Returns the decision too,
/// so the host can refuse a requester without a role before spending anything on it.
pub fn build_evidence<R: StateReader>(
    reader: &R,
    request: &LookupRequest,
    header: Header,
    commit: Commit,
    prove: impl Fn(&[u8]) -> Result<StateProof, StateError>,
) -> Result<(StateEvidence, Decision), StateError> {
    let recording = Recording {
        reader,
        read: RefCell::new(Vec::new()),
    };
    let decision = decide(&recording, request)?;
    let mut entries = Vec::new();
    for (key, value) in recording.read.into_inner() {
        let proof = prove(&key)?;
        entries.push(ProvenEntry { key, value, proof });
    }
    Ok((
        StateEvidence {
            header,
            commit,
            entries,
        },
        decision,
    ))
}

/// The chain's quote policy as committed state says it: what an enclave checks a quote against
/// before it wraps the consortium secrets to it (a provisioning, an epoch start). Taken from the
/// host, a policy would let a hostile operator have its own enclave wrap every secret to a build
/// governance never allowed (one that prints them) running on a machine of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenPolicy {
    /// The enclave configuration (attestation root, debug flag, minimum security version).
    pub config: enclave_registry::EnclaveConfig,
    /// Allowed measurements.
    pub allowed: Vec<crate::enclave::Measurement>,
    /// Revoked measurements.
    pub revoked: Vec<crate::enclave::Measurement>,
}

type PolicyRead = (
    Option<enclave_registry::EnclaveConfig>,
    Vec<crate::enclave::Measurement>,
    Vec<crate::enclave::Measurement>,
    Vec<GenesisValidator>,
);

/// What a policy decision reads, in order: the enclave configuration, the allowed and revoked
/// measurements, and the validator set.
fn read_policy(reader: &impl StateReader) -> Result<PolicyRead, StateError> {
    Ok((
        enclave_registry::config(reader)?,
        enclave_registry::allowed(reader)?,
        enclave_registry::revoked(reader)?,
        governance::validators(reader)?,
    ))
}

/// The state keys a policy decision reads (the host proves them: see [`proven_policy`]).
pub fn policy_keys(reader: &impl StateReader) -> Result<Vec<Vec<u8>>, StateError> {
    let recording = Recording {
        reader,
        read: RefCell::new(Vec::new()),
    };
    read_policy(&recording)?;
    Ok(recording
        .read
        .into_inner()
        .into_iter()
        .map(|(k, _)| k)
        .collect())
}

/// The host's side of [`proven_policy`]: proves every key [`policy_keys`] names over `reader` (the
/// state whose app hash `header.prev_app_hash` is).
pub fn build_policy_evidence<R: StateReader>(
    reader: &R,
    header: Header,
    commit: Commit,
    prove: impl Fn(&[u8]) -> Result<StateProof, StateError>,
) -> Result<StateEvidence, StateError> {
    let mut entries = Vec::new();
    for key in policy_keys(reader)? {
        entries.push(ProvenEntry {
            value: reader.get(&key)?,
            proof: prove(&key)?,
            key,
        });
    }
    Ok(StateEvidence {
        header,
        commit,
        entries,
    })
}

/// Inside the enclave: the quote policy from `evidence` (a commit certificate the enclave checks
/// against its trusted validator set, and proofs of exactly the keys [`policy_keys`] names), never
/// from the host's word.
pub fn proven_policy(
    enclave: &Enclave,
    evidence: &StateEvidence,
) -> Result<ProvenPolicy, EvidenceError> {
    let (newest, newest_hash) = enclave.certified();
    let (height, block_hash, entries) = verify_certified(
        evidence,
        enclave.chain_id(),
        enclave.trusted_validators(),
        newest,
        |h| *h == newest_hash,
    )?;
    let state = ProvenState {
        entries,
        read: RefCell::new(BTreeSet::new()),
        missing: RefCell::new(None),
    };
    let (config, allowed, revoked, validators) =
        read_policy(&state).map_err(|e| match state.missing.borrow().as_ref() {
            Some(key) => EvidenceError::Missing(printable_key(key)),
            None => EvidenceError::Undecodable(e.0),
        })?;
    let read = state.read.borrow();
    if let Some(extra) = state.entries.keys().find(|k| !read.contains(*k)) {
        return Err(EvidenceError::Unused(printable_key(extra)));
    }
    if !same_validator_set(&validators, enclave.trusted_validators()) {
        return Err(EvidenceError::ValidatorSetChanged);
    }
    let config = config.ok_or_else(|| {
        EvidenceError::Undecodable("the certified state has no enclave configuration".into())
    })?;
    enclave.note_certified(height, block_hash);
    Ok(ProvenPolicy {
        config,
        allowed,
        revoked,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
