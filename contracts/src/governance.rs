//! Governance: the consortium's members (platforms) with their keys and roles, and the validator set.
//!
//! Members and validators are written at genesis. For now a member can only rename itself; proposals
//! and votes (admit/remove members and validators, parameters) extend [`Call`] later.
//!
//! State keys: `gov/member/{id}` → [`Member`], `gov/member_key/{public key}` → member id,
//! `gov/members` → sorted list of member ids, `gov/validators` → list of [`GenesisValidator`].

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::crypto::PublicKey;
use crate::executor::{CallError, Context, Event};
use crate::genesis::GenesisValidator;
use crate::ids::PlatformId;
use crate::state::{get_decoded, put_encoded, Overlay, StateError, StateReader};

/// Longest member name, in characters.
pub const MAX_MEMBER_NAME_CHARS: usize = 64;

const MEMBER_PREFIX: &[u8] = b"gov/member/";
const MEMBER_BY_KEY_PREFIX: &[u8] = b"gov/member_key/";
const MEMBER_IDS_KEY: &[u8] = b"gov/members";
const VALIDATORS_KEY: &[u8] = b"gov/validators";

/// Refusals of governance calls.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The sender's key belongs to no member.
    #[error("sender is not a consortium member")]
    NotAMember,
    /// A name is empty, too long or has control characters.
    #[error("invalid member name: {0}")]
    InvalidName(String),
}

impl Error {
    /// Stable receipt code (100..=199).
    pub fn code(&self) -> u32 {
        match self {
            Error::NotAMember => 100,
            Error::InvalidName(_) => 101,
        }
    }
}

/// A member's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A payment platform: registers merchants and writes acquiring records.
    Platform,
    /// Votes on governance proposals.
    Governor,
}

/// A consortium member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// The sending member renames itself.
    UpdateMemberName {
        /// New name (1..=64 characters, no control characters).
        name: String,
    },
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

fn member_by_key_key(pk: &PublicKey) -> Vec<u8> {
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

/// Runs a governance call.
pub(crate) fn execute<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: &Context,
    call: &Call,
) -> Result<Vec<Event>, CallError> {
    match call {
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
