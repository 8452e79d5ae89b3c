//! Governance: the consortium's members (platforms) with their keys and roles, the validator set, and
//! proposals voted by the governors.
//!
//! Members and validators are written at genesis. A member renames itself directly; everything else
//! goes through a proposal:
//!
//! ```text
//! Propose { action }  (a Governor; counts as its approval; the electorate = the governors now)
//!   └─► Vote { proposal, approve }  (each elector once, before `created_at + proposal_ttl_blocks`)
//!         approvals · 3 > electorate · 2        ─► executed in the same tx  (Executed, or Failed
//!                                                   with the action's refusal: the votes stay)
//!         approvals can no longer reach that     ─► Rejected
//!         height > expires_at                     ─► Expired (read as such; votes refused)
//! ```
//!
//! The threshold counts members, not stake: strictly more than two thirds of the governors at the
//! time of the proposal (1 of 1, 2 of 2, 3 of 3, 3 of 4, 4 of 5, 5 of 6, 5 of 7). The electorate is
//! fixed at creation: a governor admitted later does not vote on it, and a removed one keeps its
//! seat in the count but can no longer vote.
//!
//! State keys: `gov/member/{id}` → [`Member`], `gov/member_key/{public key}` → member id,
//! `gov/members` → sorted list of member ids, `gov/validators` → list of [`GenesisValidator`],
//! `gov/params` → [`Params`] (defaults when absent), `gov/next_proposal` → u64,
//! `gov/proposal/{u64 big-endian}` → [`Proposal`], `gov/regulator` → the regulator's key.

use std::collections::{BTreeMap, BTreeSet};

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::chain::kernel::{CallError, Context, Event, Refusal};
use crate::chain::state::{get_decoded, put_encoded, Overlay, StateError, StateReader};
use crate::chain::validators::GenesisValidator;
use crate::primitives::crypto::PublicKey;
use crate::primitives::ids::PlatformId;
use crate::wallet;

/// Longest member name, in characters.
pub const MAX_MEMBER_NAME_CHARS: usize = 64;

const MEMBER_PREFIX: &[u8] = b"gov/member/";
const MEMBER_BY_KEY_PREFIX: &[u8] = b"gov/member_key/";
const MEMBER_IDS_KEY: &[u8] = b"gov/members";
const VALIDATORS_KEY: &[u8] = b"gov/validators";
const PARAMS_KEY: &[u8] = b"gov/params";
const NEXT_PROPOSAL_KEY: &[u8] = b"gov/next_proposal";
const PROPOSAL_PREFIX: &[u8] = b"gov/proposal/";
/// Where the regulator's key is (public state).
pub const REGULATOR_KEY: &[u8] = b"gov/regulator";

/// Default lifetime of a proposal, in blocks.
pub const DEFAULT_PROPOSAL_TTL_BLOCKS: u64 = 10_000;
/// Bounds of [`Params::proposal_ttl_blocks`].
pub const PROPOSAL_TTL_RANGE: std::ops::RangeInclusive<u64> = 1..=10_000_000;

/// Refusals of governance calls.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The sender's key belongs to no member.
    #[error("sender is not a consortium member")]
    NotAMember,
    /// A name is empty, too long or has control characters.
    #[error("invalid member name: {0}")]
    InvalidName(String),
    /// The sender is not a member with the Governor role.
    #[error("sender is not a governor")]
    NotAGovernor,
    /// No proposal has this id.
    #[error("unknown proposal {0}")]
    UnknownProposal(u64),
    /// The voter was not a governor when the proposal was made.
    #[error("{voter} is not in the electorate of proposal {proposal}")]
    NotInElectorate {
        /// Proposal.
        proposal: u64,
        /// The voter.
        voter: PlatformId,
    },
    /// The member has already voted on this proposal.
    #[error("{voter} has already voted on proposal {proposal}")]
    AlreadyVoted {
        /// Proposal.
        proposal: u64,
        /// The voter.
        voter: PlatformId,
    },
    /// The proposal is decided (executed, failed or rejected).
    #[error("proposal {proposal} is closed: {status}")]
    ProposalClosed {
        /// Proposal.
        proposal: u64,
        /// Its status.
        status: String,
    },
    /// The proposal expired.
    #[error("proposal {proposal} expired at height {expires_at}")]
    ProposalExpired {
        /// Proposal.
        proposal: u64,
        /// Last height at which it could be voted.
        expires_at: u64,
    },
    /// The action is malformed or does not apply to the current state.
    #[error("invalid action: {0}")]
    InvalidAction(String),
    /// A member with this id exists.
    #[error("member {0} already exists")]
    MemberExists(PlatformId),
    /// A member already uses this key.
    #[error("key {0} already belongs to member {1}")]
    MemberKeyInUse(PublicKey, PlatformId),
    /// No such member.
    #[error("unknown member {0}")]
    UnknownMember(PlatformId),
    /// Removing the member would leave no governor.
    #[error("removing {0} would leave the consortium without a governor")]
    LastGovernor(PlatformId),
    /// The platform is already a qualified wallet host.
    #[error("platform {0} is already a qualified wallet host")]
    AlreadyWalletHost(PlatformId),
    /// The platform is not a qualified wallet host.
    #[error("platform {0} is not a qualified wallet host")]
    NotWalletHost(PlatformId),
    /// The member does not have the Platform role.
    #[error("member {0} does not have the platform role")]
    NotPlatformRole(PlatformId),
    /// The key proposed as regulator is the regulator already.
    #[error("{0} is the regulator already")]
    RegulatorUnchanged(PublicKey),
}

impl Error {
    /// Stable receipt code (100..=199).
    pub fn code(&self) -> u32 {
        match self {
            Error::NotAMember => 100,
            Error::InvalidName(_) => 101,
            Error::NotAGovernor => 102,
            Error::UnknownProposal(_) => 103,
            Error::NotInElectorate { .. } => 104,
            Error::AlreadyVoted { .. } => 105,
            Error::ProposalClosed { .. } => 106,
            Error::ProposalExpired { .. } => 107,
            Error::InvalidAction(_) => 108,
            Error::MemberExists(_) => 109,
            Error::MemberKeyInUse(..) => 110,
            Error::UnknownMember(_) => 111,
            Error::LastGovernor(_) => 112,
            Error::AlreadyWalletHost(_) => 113,
            Error::NotWalletHost(_) => 114,
            Error::NotPlatformRole(_) => 115,
            Error::RegulatorUnchanged(_) => 120,
        }
    }
}

impl Refusal for Error {
    fn code(&self) -> u32 {
        Error::code(self)
    }
}

/// A member's role.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    BorshSerialize,
    BorshDeserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A payment platform: registers merchants and writes acquiring records.
    Platform,
    /// Votes on governance proposals.
    Governor,
}

/// A consortium member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Member {
    /// Id.
    pub id: PlatformId,
    /// Display name.
    pub name: String,
    /// The key that signs the member's transactions.
    pub public_key: PublicKey,
    /// Roles.
    pub roles: BTreeSet<Role>,
}

impl Member {
    /// Whether the member has `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// Governance calls.
///
/// Encoding: borsh, a `u8` variant index in declaration order (first variant = 0), then the variant's
/// fields (`docs/encoding.md`). The order is part of the signed format: new variants are appended
/// at the end, none is ever removed or reordered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// The sending member renames itself.
    UpdateMemberName {
        /// New name (1..=64 characters, no control characters).
        name: String,
    },
    /// A governor proposes `action`; the proposal counts as the proposer's approval.
    Propose {
        /// What to do once approved.
        action: Action,
    },
    /// A governor in the proposal's electorate votes once.
    Vote {
        /// Proposal id.
        proposal: u64,
        /// Approve or reject.
        approve: bool,
    },
}

/// What an approved proposal does. New actions are appended at the end (the borsh `u8` variant
/// index, declaration order, is part of the signed encoding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Admits a new member (normally with the Platform role) with its key.
    AdmitPlatform {
        /// The new member.
        member: Member,
    },
    /// Removes a member (its key loses every right; its wallet-host qualification goes too; its
    /// enclaves are retired).
    RemovePlatform {
        /// The member.
        id: PlatformId,
    },
    /// Qualifies a platform member to host wallets.
    QualifyWalletHost {
        /// The platform.
        platform: PlatformId,
    },
    /// Withdraws a wallet-host qualification (existing wallets stay; the platform can no longer
    /// verify users, open wallets, bind cards or top up).
    RevokeWalletHost {
        /// The platform.
        platform: PlatformId,
    },
    /// Changes the governance parameters.
    SetParams {
        /// The new parameters.
        params: Params,
    },
    /// Allows an enclave measurement (a new enclave build) to register.
    ApproveMeasurement {
        /// The measurement.
        measurement: crate::enclave::Measurement,
    },
    /// Revokes an enclave measurement: no new enclave of it registers, clients stop trusting it.
    RevokeMeasurement {
        /// The measurement.
        measurement: crate::enclave::Measurement,
    },
    /// Sets how much a wallet host's clearing account may owe in one currency (its net debit cap):
    /// a top-up that would take the clearing account below `-cap` is refused.
    SetNetDebitCap {
        /// The wallet host.
        platform: PlatformId,
        /// The cap, a positive amount (its currency is the clearing account's).
        cap: crate::money::Amount,
    },
    /// Sets the lowest enclave security version the chain accepts: no enclave below it registers or
    /// is provisioned, and those registered stop serving.
    SetEnclaveMinSecurityVersion {
        /// The new minimum (at least 1).
        version: u32,
    },
    /// Approves a platform's CA certificate (self-signed Ed25519, `cA` TRUE, its subject's O the
    /// platform, within its validity at the block's time; see `docs/ca.md`). The platform must
    /// have no approved CA that is not revoked.
    ApprovePlatformCa {
        /// The platform (a member with the platform role).
        platform: PlatformId,
        /// The CA certificate, DER (at most 4 KiB, refused when the transaction is decoded).
        ca_cert: crate::ca::CertDer,
    },
    /// Revokes a platform's CA: it and every party certificate it issued stop being valid.
    RevokePlatformCa {
        /// The platform.
        platform: PlatformId,
    },
    /// Appoints the consortium's regulator (replacing any before): its key may read every payment,
    /// balance and statement with a signed read (`crate::reads`), and each of its reads is audited
    /// by the answering node.
    AppointRegulator {
        /// The regulator's ed25519 key.
        key: PublicKey,
    },
    /// Asks the enclaves for a new epoch: a serving enclave creates the next consortium secret,
    /// provisions it only to serving enclaves of current members, and publishes every current
    /// platform's new record key (`enclave_registry::Call::StartEpoch`). Records are then put under
    /// the new epoch; platforms re-seal theirs (`paychain record reseal`).
    RotateEnclaveEpoch,
}

impl Action {
    /// Short name for events and views.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::AdmitPlatform { .. } => "admit_platform",
            Action::RemovePlatform { .. } => "remove_platform",
            Action::QualifyWalletHost { .. } => "qualify_wallet_host",
            Action::RevokeWalletHost { .. } => "revoke_wallet_host",
            Action::SetParams { .. } => "set_params",
            Action::ApproveMeasurement { .. } => "approve_measurement",
            Action::RevokeMeasurement { .. } => "revoke_measurement",
            Action::SetNetDebitCap { .. } => "set_net_debit_cap",
            Action::SetEnclaveMinSecurityVersion { .. } => "set_enclave_min_security_version",
            Action::ApprovePlatformCa { .. } => "approve_platform_ca",
            Action::RevokePlatformCa { .. } => "revoke_platform_ca",
            Action::AppointRegulator { .. } => "appoint_regulator",
            Action::RotateEnclaveEpoch => "rotate_enclave_epoch",
        }
    }
}

/// Governance parameters.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize,
)]
pub struct Params {
    /// Blocks after its creation height during which a proposal can be voted.
    pub proposal_ttl_blocks: u64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            proposal_ttl_blocks: DEFAULT_PROPOSAL_TTL_BLOCKS,
        }
    }
}

/// Where a proposal stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalStatus {
    /// Open for votes.
    Open,
    /// Approved and its action applied.
    Executed {
        /// Height of execution.
        height: u64,
    },
    /// Approved but its action was refused when applied (state unchanged by the action).
    Failed {
        /// Height of the attempt.
        height: u64,
        /// The refusal's receipt code.
        code: u32,
        /// The refusal's message.
        error: String,
    },
    /// Approval became impossible.
    Rejected {
        /// Height of the deciding vote.
        height: u64,
    },
    /// Not decided before `expires_at` (never stored: [`Proposal::status_at`] reports it).
    Expired,
}

impl ProposalStatus {
    fn name(&self) -> &'static str {
        match self {
            ProposalStatus::Open => "open",
            ProposalStatus::Executed { .. } => "executed",
            ProposalStatus::Failed { .. } => "failed",
            ProposalStatus::Rejected { .. } => "rejected",
            ProposalStatus::Expired => "expired",
        }
    }
}

/// A governance proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Proposal {
    /// Id (1, 2, ...).
    pub id: u64,
    /// Proposing member.
    pub proposer: PlatformId,
    /// The action.
    pub action: Action,
    /// Height of the proposal.
    pub created_at: u64,
    /// Block time of the proposal.
    pub created_at_ms: u64,
    /// Last height at which votes are accepted.
    pub expires_at: u64,
    /// The governors when the proposal was made, sorted: who may vote and what the threshold counts.
    pub electorate: Vec<PlatformId>,
    /// Votes cast (the proposer's approval included).
    pub votes: BTreeMap<PlatformId, bool>,
    /// Stored status (see [`Proposal::status_at`] for expiry).
    pub status: ProposalStatus,
}

impl Proposal {
    /// Approvals cast.
    pub fn approvals(&self) -> usize {
        self.votes.values().filter(|v| **v).count()
    }

    /// Rejections cast.
    pub fn rejections(&self) -> usize {
        self.votes.values().filter(|v| !**v).count()
    }

    /// Approvals needed: the least count strictly above two thirds of the electorate.
    pub fn threshold(&self) -> usize {
        approvals_needed(self.electorate.len())
    }

    /// The status at `height`: an open proposal past `expires_at` is [`ProposalStatus::Expired`].
    pub fn status_at(&self, height: u64) -> ProposalStatus {
        match self.status {
            ProposalStatus::Open if height > self.expires_at => ProposalStatus::Expired,
            ref s => s.clone(),
        }
    }
}

/// The least number of approvals strictly above two thirds of `electorate` members.
pub fn approvals_needed(electorate: usize) -> usize {
    electorate.saturating_mul(2) / 3 + 1
}

/// Whether `approvals` out of `electorate` passes: `approvals · 3 > electorate · 2`.
pub fn passes(approvals: usize, electorate: usize) -> bool {
    approvals.saturating_mul(3) > electorate.saturating_mul(2)
}

/// Checks a member name.
pub fn validate_member_name(name: &str) -> Result<(), Error> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_MEMBER_NAME_CHARS {
        return Err(Error::InvalidName(format!(
            "must be 1 to {MAX_MEMBER_NAME_CHARS} characters, got {chars}"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::InvalidName(
            "must not contain control characters".into(),
        ));
    }
    Ok(())
}

fn member_key(id: &PlatformId) -> Vec<u8> {
    [MEMBER_PREFIX, id.as_str().as_bytes()].concat()
}

/// The state key of the index entry naming the member whose key is `pk`.
pub fn member_by_key_key(pk: &PublicKey) -> Vec<u8> {
    [MEMBER_BY_KEY_PREFIX, &pk.0[..]].concat()
}

/// The member whose key is `pk`.
pub fn member_by_key(
    reader: &impl StateReader,
    pk: &PublicKey,
) -> Result<Option<Member>, StateError> {
    match get_decoded::<PlatformId>(reader, &member_by_key_key(pk))? {
        Some(id) => member(reader, &id),
        None => Ok(None),
    }
}

/// The member `id`.
pub fn member(reader: &impl StateReader, id: &PlatformId) -> Result<Option<Member>, StateError> {
    get_decoded(reader, &member_key(id))
}

fn member_ids(reader: &impl StateReader) -> Result<Vec<PlatformId>, StateError> {
    Ok(get_decoded(reader, MEMBER_IDS_KEY)?.unwrap_or_default())
}

/// The consortium's regulator, once governance appointed one ([`Action::AppointRegulator`]).
pub fn regulator(reader: &impl StateReader) -> Result<Option<PublicKey>, StateError> {
    get_decoded(reader, REGULATOR_KEY)
}

/// All members, sorted by id.
pub fn members(reader: &impl StateReader) -> Result<Vec<Member>, StateError> {
    let mut out = Vec::new();
    for id in member_ids(reader)? {
        let m = member(reader, &id)?
            .ok_or_else(|| StateError(format!("member index names missing member {id}")))?;
        out.push(m);
    }
    Ok(out)
}

/// The validator set.
pub fn validators(reader: &impl StateReader) -> Result<Vec<GenesisValidator>, StateError> {
    Ok(get_decoded(reader, VALIDATORS_KEY)?.unwrap_or_default())
}

/// The governance parameters (defaults when never set).
pub fn params(reader: &impl StateReader) -> Result<Params, StateError> {
    Ok(get_decoded(reader, PARAMS_KEY)?.unwrap_or_default())
}

fn proposal_key(id: u64) -> Vec<u8> {
    [PROPOSAL_PREFIX, &id.to_be_bytes()[..]].concat()
}

fn next_proposal_id(reader: &impl StateReader) -> Result<u64, StateError> {
    Ok(get_decoded(reader, NEXT_PROPOSAL_KEY)?.unwrap_or(1))
}

/// The proposal `id`.
pub fn proposal(reader: &impl StateReader, id: u64) -> Result<Option<Proposal>, StateError> {
    get_decoded(reader, &proposal_key(id))
}

/// All proposals, by id.
pub fn proposals(reader: &impl StateReader) -> Result<Vec<Proposal>, StateError> {
    let next = next_proposal_id(reader)?;
    let mut out = Vec::new();
    for id in 1..next {
        let p = proposal(reader, id)?
            .ok_or_else(|| StateError(format!("proposal counter passes missing proposal {id}")))?;
        out.push(p);
    }
    Ok(out)
}

/// The ids of the members with the Governor role, sorted.
pub fn governors(reader: &impl StateReader) -> Result<Vec<PlatformId>, StateError> {
    Ok(members(reader)?
        .into_iter()
        .filter(|m| m.has_role(Role::Governor))
        .map(|m| m.id)
        .collect())
}

/// Removes member `id`, its key index and its place in the member list.
fn remove_member<R: StateReader>(ov: &mut Overlay<'_, R>, m: &Member) -> Result<(), StateError> {
    let mut ids = member_ids(ov)?;
    if let Ok(pos) = ids.binary_search(&m.id) {
        ids.remove(pos);
        put_encoded(ov, MEMBER_IDS_KEY.to_vec(), &ids);
    }
    ov.delete(member_by_key_key(&m.public_key));
    ov.delete(member_key(&m.id));
    Ok(())
}

/// Writes (inserts or replaces) `m` with its key index and the member list.
pub(crate) fn write_member<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    m: &Member,
) -> Result<(), StateError> {
    let mut ids = member_ids(ov)?;
    if let Err(pos) = ids.binary_search(&m.id) {
        ids.insert(pos, m.id.clone());
        put_encoded(ov, MEMBER_IDS_KEY.to_vec(), &ids);
    }
    put_encoded(ov, member_by_key_key(&m.public_key), &m.id);
    put_encoded(ov, member_key(&m.id), m);
    Ok(())
}

/// Replaces the validator set.
pub(crate) fn write_validators<R: StateReader>(ov: &mut Overlay<'_, R>, vals: &[GenesisValidator]) {
    put_encoded(ov, VALIDATORS_KEY.to_vec(), &vals);
}

/// Checks what an action needs from the state (at the block's time), without applying it.
fn check_action(
    reader: &impl StateReader,
    ctx: &Context,
    action: &Action,
) -> Result<(), CallError> {
    match action {
        Action::AdmitPlatform { member: m } => {
            validate_member_name(&m.name)?;
            if m.public_key.validate().is_err() {
                return Err(Error::InvalidAction(format!(
                    "member key {} is not a valid ed25519 key",
                    m.public_key
                ))
                .into());
            }
            if m.roles.is_empty() {
                return Err(Error::InvalidAction("member has no role".into()).into());
            }
            if member(reader, &m.id)?.is_some() {
                return Err(Error::MemberExists(m.id.clone()).into());
            }
            if let Some(other) = member_by_key(reader, &m.public_key)? {
                return Err(Error::MemberKeyInUse(m.public_key, other.id).into());
            }
        }
        Action::RemovePlatform { id } => {
            let m = member(reader, id)?.ok_or_else(|| Error::UnknownMember(id.clone()))?;
            if m.has_role(Role::Governor) && governors(reader)?.len() <= 1 {
                return Err(Error::LastGovernor(id.clone()).into());
            }
        }
        Action::QualifyWalletHost { platform } => {
            let m =
                member(reader, platform)?.ok_or_else(|| Error::UnknownMember(platform.clone()))?;
            if !m.has_role(Role::Platform) {
                return Err(Error::NotPlatformRole(platform.clone()).into());
            }
            if wallet::host(reader, platform)?.is_some() {
                return Err(Error::AlreadyWalletHost(platform.clone()).into());
            }
        }
        Action::RevokeWalletHost { platform } => {
            if wallet::host(reader, platform)?.is_none() {
                return Err(Error::NotWalletHost(platform.clone()).into());
            }
        }
        Action::SetParams { params } => {
            if !PROPOSAL_TTL_RANGE.contains(&params.proposal_ttl_blocks) {
                return Err(Error::InvalidAction(format!(
                    "proposal_ttl_blocks must be in {}..={}, got {}",
                    PROPOSAL_TTL_RANGE.start(),
                    PROPOSAL_TTL_RANGE.end(),
                    params.proposal_ttl_blocks
                ))
                .into());
            }
        }
        Action::ApproveMeasurement { measurement } => {
            crate::enclave_registry::check_measurement_action(reader, measurement, true)?
        }
        Action::RevokeMeasurement { measurement } => {
            crate::enclave_registry::check_measurement_action(reader, measurement, false)?
        }
        Action::SetNetDebitCap { platform, cap } => {
            let m =
                member(reader, platform)?.ok_or_else(|| Error::UnknownMember(platform.clone()))?;
            if !m.has_role(Role::Platform) {
                return Err(Error::NotPlatformRole(platform.clone()).into());
            }
            cap.validate()
                .map_err(|e| Error::InvalidAction(format!("net debit cap: {e}")))?;
        }
        Action::SetEnclaveMinSecurityVersion { version } => {
            crate::enclave_registry::check_min_security_version(reader, *version)?
        }
        Action::ApprovePlatformCa { platform, ca_cert } => {
            crate::ca::check_approve(reader, ctx.time_ms, platform, ca_cert).map(|_| ())?
        }
        Action::RevokePlatformCa { platform } => crate::ca::check_revoke(reader, platform)?,
        Action::AppointRegulator { key } => {
            if key.validate().is_err() {
                return Err(Error::InvalidAction(format!(
                    "regulator key {key} is not a valid ed25519 key"
                ))
                .into());
            }
            if regulator(reader)? == Some(*key) {
                return Err(Error::RegulatorUnchanged(*key).into());
            }
        }
        Action::RotateEnclaveEpoch => crate::enclave_registry::check_rotation(reader)?,
    }
    Ok(())
}

/// Applies an approved action.
fn apply_action<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: &Context,
    proposal_id: u64,
    action: &Action,
) -> Result<(), CallError> {
    check_action(ov, ctx, action)?;
    match action {
        Action::AdmitPlatform { member: m } => write_member(ov, m)?,
        Action::RemovePlatform { id } => {
            let m = member(ov, id)?.ok_or_else(|| Error::UnknownMember(id.clone()))?;
            remove_member(ov, &m)?;
            wallet::revoke_host(ov, id);
            // Its enclaves stop serving for good (a later member of the same id does not revive them).
            crate::enclave_registry::retire_platform(ov, ctx.height, id)?;
            // Its CA is revoked: its party certificates stop being valid.
            crate::ca::retire_platform(ov, ctx.height, id)?;
        }
        Action::QualifyWalletHost { platform } => {
            wallet::qualify_host(ov, ctx, platform, proposal_id);
        }
        Action::RevokeWalletHost { platform } => wallet::revoke_host(ov, platform),
        Action::SetParams { params } => put_encoded(ov, PARAMS_KEY.to_vec(), params),
        Action::ApproveMeasurement { measurement } => {
            crate::enclave_registry::approve_measurement(ov, measurement)?
        }
        Action::RevokeMeasurement { measurement } => {
            crate::enclave_registry::revoke_measurement(ov, measurement)?
        }
        Action::SetNetDebitCap { platform, cap } => wallet::set_net_debit_cap(ov, platform, cap),
        Action::SetEnclaveMinSecurityVersion { version } => {
            crate::enclave_registry::set_min_security_version(ov, *version)?
        }
        Action::ApprovePlatformCa { platform, ca_cert } => {
            crate::ca::approve(ov, ctx, proposal_id, platform, ca_cert)?
        }
        Action::RevokePlatformCa { platform } => crate::ca::revoke(ov, ctx.height, platform)?,
        Action::AppointRegulator { key } => put_encoded(ov, REGULATOR_KEY.to_vec(), key),
        Action::RotateEnclaveEpoch => crate::enclave_registry::request_rotation(ov, ctx.height)?,
    }
    Ok(())
}

fn sender_governor(reader: &impl StateReader, ctx: &Context) -> Result<Member, CallError> {
    match member_by_key(reader, &ctx.sender)? {
        Some(m) if m.has_role(Role::Governor) => Ok(m),
        Some(_) => Err(Error::NotAGovernor.into()),
        None => Err(Error::NotAMember.into()),
    }
}

/// Decides `p` after a vote: executes (in a child overlay, kept only if the action succeeds) or
/// rejects it, and returns the events.
fn decide<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: &Context,
    p: &mut Proposal,
) -> Result<Vec<Event>, CallError> {
    let n = p.electorate.len();
    let approvals = p.approvals();
    let id = p.id.to_string();
    if passes(approvals, n) {
        let mut child = Overlay::new(&*ov);
        let outcome = apply_action(&mut child, ctx, p.id, &p.action);
        match outcome {
            Ok(()) => {
                let puts = child.into_puts();
                ov.extend(puts);
                p.status = ProposalStatus::Executed { height: ctx.height };
                Ok(vec![Event::new("proposal_executed")
                    .with("proposal_id", id)
                    .with("action", p.action.kind())])
            }
            Err(CallError::Refused(e)) | Err(CallError::RefusedKeep(e)) => {
                p.status = ProposalStatus::Failed {
                    height: ctx.height,
                    code: e.code(),
                    error: e.to_string(),
                };
                Ok(vec![Event::new("proposal_failed")
                    .with("proposal_id", id)
                    .with("action", p.action.kind())
                    .with("code", e.code().to_string())
                    .with("error", e.to_string())])
            }
            Err(e @ CallError::Storage(_)) => Err(e),
        }
    } else {
        let undecided = n.saturating_sub(p.votes.len());
        if passes(approvals.saturating_add(undecided), n) {
            Ok(Vec::new())
        } else {
            p.status = ProposalStatus::Rejected { height: ctx.height };
            Ok(vec![Event::new("proposal_rejected").with("proposal_id", id)])
        }
    }
}

/// Runs a governance call.
pub(crate) fn execute<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: &Context,
    call: &Call,
) -> Result<Vec<Event>, CallError> {
    match call {
        Call::Propose { action } => {
            let proposer = sender_governor(ov, ctx)?;
            check_action(ov, ctx, action)?;
            let id = next_proposal_id(ov)?;
            put_encoded(ov, NEXT_PROPOSAL_KEY.to_vec(), &id.saturating_add(1));
            let ttl = params(ov)?.proposal_ttl_blocks;
            let mut p = Proposal {
                id,
                proposer: proposer.id.clone(),
                action: action.clone(),
                created_at: ctx.height,
                created_at_ms: ctx.time_ms,
                expires_at: ctx.height.saturating_add(ttl),
                electorate: governors(ov)?,
                votes: BTreeMap::from([(proposer.id.clone(), true)]),
                status: ProposalStatus::Open,
            };
            let mut events = vec![Event::new("proposal_created")
                .with("proposal_id", id.to_string())
                .with("proposer", proposer.id.as_str())
                .with("action", action.kind())
                .with("expires_at", p.expires_at.to_string())
                .with("threshold", p.threshold().to_string())];
            events.extend(decide(ov, ctx, &mut p)?);
            put_encoded(ov, proposal_key(id), &p);
            Ok(events)
        }
        Call::Vote {
            proposal: id,
            approve,
        } => {
            let voter = sender_governor(ov, ctx)?;
            let mut p = proposal(ov, *id)?.ok_or(Error::UnknownProposal(*id))?;
            match p.status_at(ctx.height) {
                ProposalStatus::Open => {}
                ProposalStatus::Expired => {
                    return Err(Error::ProposalExpired {
                        proposal: *id,
                        expires_at: p.expires_at,
                    }
                    .into())
                }
                s => {
                    return Err(Error::ProposalClosed {
                        proposal: *id,
                        status: s.name().to_owned(),
                    }
                    .into())
                }
            }
            if p.electorate.binary_search(&voter.id).is_err() {
                return Err(Error::NotInElectorate {
                    proposal: *id,
                    voter: voter.id,
                }
                .into());
            }
            if p.votes.contains_key(&voter.id) {
                return Err(Error::AlreadyVoted {
                    proposal: *id,
                    voter: voter.id,
                }
                .into());
            }
            p.votes.insert(voter.id.clone(), *approve);
            let mut events = vec![Event::new("proposal_voted")
                .with("proposal_id", id.to_string())
                .with("voter", voter.id.as_str())
                .with("approve", approve.to_string())
                .with("approvals", p.approvals().to_string())
                .with("rejections", p.rejections().to_string())
                .with("threshold", p.threshold().to_string())];
            events.extend(decide(ov, ctx, &mut p)?);
            put_encoded(ov, proposal_key(*id), &p);
            Ok(events)
        }
        Call::UpdateMemberName { name } => {
            let mut m = member_by_key(ov, &ctx.sender)?.ok_or(Error::NotAMember)?;
            validate_member_name(name)?;
            m.name = name.clone();
            write_member(ov, &m)?;
            Ok(vec![
                Event::new("member_renamed").with("platform_id", m.id.as_str())
            ])
        }
    }
}

#[cfg(test)]
mod tests;
