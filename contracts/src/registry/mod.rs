//! The merchant registry: merchants, and per merchant one acquiring record per platform.
//!
//! Every rule is enforced here, in the contract: only members with [`Role::Platform`] write; merchant
//! fields follow the EMVCo limits; a merchant's id is derived from its key ([`MerchantId::derive`]);
//! a record is keyed by (merchant, the *sender's* platform id), so a platform can only ever write or
//! revoke its own record.
//!
//! # The merchant's consent
//!
//! A platform's record becomes usable only once the merchant accepts that platform as its acquirer
//! ([`Call::AcceptAcquirer`], signed by the merchant's own key), and stops being usable when the
//! merchant ends the association ([`Call::EndAcquirer`]). Acceptance may come before or after the
//! platform's first put. A record that is active but not accepted is *pending*: listed, never routed
//! to ([`platforms_of`] is the routable set; [`pending_of`] the rest).
//!
//! # Routes
//!
//! A payment names the record it was routed by ([`Route`]: the record's version and the hash of its
//! stored payload, which is what an enclave lookup answers). [`check_route`] refuses a payment whose
//! record was since updated, revoked or un-consented, so no payment goes to an acquiring setup that no
//! longer holds.
//!
//! State keys: `reg/merchant/{merchant id}` → [`Merchant`],
//! `reg/record/{merchant id}/{platform id}` → [`AcquiringRecord`],
//! `reg/platforms/{merchant id}` → sorted ids of the platforms with an active record,
//! `reg/consent/{merchant id}` → sorted ids of the platforms the merchant accepted.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::chain::kernel::{CallError, Context, Event, Refusal};
use crate::chain::state::{get_decoded, put_encoded, Overlay, StateError, StateReader};
use crate::governance::{self, Member, Role};
use crate::primitives::codec::hex_bytes;
use crate::primitives::crypto::{Hash, PublicKey};
use crate::primitives::ids::{MerchantId, PlatformId};

/// Largest acquiring record payload.
pub const MAX_RECORD_PAYLOAD: usize = 16 * 1024;
/// Longest merchant name, in characters (EMVCo tag 59).
pub const MAX_MERCHANT_NAME_CHARS: usize = 25;
/// Longest merchant city, in characters (EMVCo tag 60).
pub const MAX_MERCHANT_CITY_CHARS: usize = 15;

const MERCHANT_PREFIX: &[u8] = b"reg/merchant/";
const RECORD_PREFIX: &[u8] = b"reg/record/";
const PLATFORMS_PREFIX: &[u8] = b"reg/platforms/";
const CONSENT_PREFIX: &[u8] = b"reg/consent/";

/// Refusals of registry calls.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The sender is not a member with the platform role.
    #[error("sender is not a platform member")]
    NotAPlatform,
    /// A merchant field is invalid.
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// Field name.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A merchant with this key is already registered.
    #[error("merchant {0} is already registered")]
    MerchantExists(MerchantId),
    /// No such merchant.
    #[error("unknown merchant {0}")]
    UnknownMerchant(MerchantId),
    /// The platform has no record for this merchant.
    #[error("platform {platform_id} has no record for merchant {merchant_id}")]
    NoRecord {
        /// Merchant.
        merchant_id: MerchantId,
        /// Platform.
        platform_id: PlatformId,
    },
    /// The record is already revoked.
    #[error("the record of platform {platform_id} for merchant {merchant_id} is already revoked")]
    AlreadyRevoked {
        /// Merchant.
        merchant_id: MerchantId,
        /// Platform.
        platform_id: PlatformId,
    },
    /// The chain seals records to its enclave and the payload is not a sealed record.
    #[error("record payload is not sealed to the consortium enclave: {0}")]
    NotSealed(String),
    /// The record is sealed under another epoch than the chain's current one.
    #[error("record is sealed under enclave epoch {sealed}, the current epoch is {current}: seal it to the platform's key of epoch {current}")]
    WrongEpoch {
        /// The epoch it is sealed under.
        sealed: u64,
        /// The chain's current epoch.
        current: u64,
    },
    /// The payload exceeds [`MAX_RECORD_PAYLOAD`].
    #[error("record payload is {len} bytes, limit is {max}")]
    PayloadTooLarge {
        /// Payload length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// A consent call not signed by a registered merchant's key.
    #[error("sender is not a registered merchant's key")]
    NotAMerchant,
    /// The platform named in a consent call is not a platform member.
    #[error("{0} is not a platform member")]
    UnknownPlatform(PlatformId),
    /// The merchant already accepted this platform.
    #[error("merchant {merchant_id} already accepted platform {platform_id}")]
    AlreadyAccepted {
        /// Merchant.
        merchant_id: MerchantId,
        /// Platform.
        platform_id: PlatformId,
    },
    /// The merchant has not accepted this platform.
    #[error("merchant {merchant_id} has not accepted platform {platform_id} as its acquirer")]
    NotAccepted {
        /// Merchant.
        merchant_id: MerchantId,
        /// Platform.
        platform_id: PlatformId,
    },
}

impl Error {
    /// Stable receipt code (200..=299).
    pub fn code(&self) -> u32 {
        match self {
            Error::NotAPlatform => 200,
            Error::InvalidField { .. } => 201,
            Error::MerchantExists(_) => 202,
            Error::UnknownMerchant(_) => 203,
            Error::NoRecord { .. } => 204,
            Error::AlreadyRevoked { .. } => 205,
            Error::PayloadTooLarge { .. } => 206,
            Error::NotSealed(_) => 207,
            Error::NotAMerchant => 208,
            Error::UnknownPlatform(_) => 209,
            Error::AlreadyAccepted { .. } => 210,
            Error::NotAccepted { .. } => 211,
            Error::WrongEpoch { .. } => 212,
        }
    }
}

impl Refusal for Error {
    fn code(&self) -> u32 {
        Error::code(self)
    }
}

/// A registered merchant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Merchant {
    /// Id, derived from `merchant_key`.
    pub id: MerchantId,
    /// Name (1..=25 characters).
    pub name: String,
    /// City (1..=15 characters).
    pub city: String,
    /// Merchant category code: 4 ASCII digits.
    pub mcc: String,
    /// ISO 3166-1 alpha-2 country, uppercase.
    pub country: String,
    /// The merchant's key.
    pub merchant_key: PublicKey,
    /// Platform that registered it.
    pub registered_by: PlatformId,
    /// Height of registration.
    pub registered_at: u64,
}

/// One platform's acquiring record for one merchant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct AcquiringRecord {
    /// Merchant.
    pub merchant_id: MerchantId,
    /// Owning platform.
    pub platform_id: PlatformId,
    /// 1 for the first put, +1 on every put (a revoke keeps it).
    pub version: u64,
    /// Opaque payload (ciphertext once records are sealed), at most [`MAX_RECORD_PAYLOAD`] bytes.
    #[serde(with = "hex_bytes")]
    pub payload: Vec<u8>,
    /// Whether the platform revoked it (the payload is kept; a later put re-activates it).
    pub revoked: bool,
    /// Height of the last put or revoke.
    pub updated_at: u64,
    /// [`payload_hash`] of `payload`: what a [`Route`] names.
    pub payload_hash: Hash,
}

/// The record a payment was routed by: the version and payload hash that the payer's enclave lookup
/// returned ([`crate::enclave::AnsweredRecord`]'s `version` and `ciphertext_hash`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize,
)]
pub struct Route {
    /// [`AcquiringRecord::version`].
    pub record_version: u64,
    /// [`AcquiringRecord::payload_hash`].
    pub record_hash: Hash,
}

/// Why a payment's route does not hold (see [`check_route`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// The platform never put a record for the merchant.
    NoRecord,
    /// The platform revoked its record.
    Revoked,
    /// The record is active but the merchant has not accepted the platform (or ended it).
    NotAccepted,
    /// The record was updated since the payer looked it up.
    Changed {
        /// The version now on chain.
        current: u64,
    },
}

/// The hash of a stored record payload: `sha256("paychain/enclave/record-ciphertext/v1" ‖ payload)`,
/// equal to [`crate::enclave::SealedRecord::hash`] of a sealed record, which lookups answer.
pub fn payload_hash(payload: &[u8]) -> Hash {
    crate::enclave::ciphertext_hash(payload)
}

/// Registry calls.
///
/// Encoding: borsh, a `u8` variant index in declaration order (first variant = 0), then the variant's
/// fields (`docs/encoding.md`). The order is part of the signed format: new variants are appended
/// at the end, none is ever removed or reordered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// Registers a merchant; its id is derived from `merchant_key`.
    RegisterMerchant {
        /// Name (1..=25 characters).
        name: String,
        /// City (1..=15 characters).
        city: String,
        /// 4 ASCII digits.
        mcc: String,
        /// ISO 3166-1 alpha-2, uppercase.
        country: String,
        /// The merchant's key.
        merchant_key: PublicKey,
    },
    /// Creates or replaces the sender platform's record for a merchant.
    PutRecord {
        /// Merchant.
        merchant_id: MerchantId,
        /// Opaque payload.
        #[serde(with = "hex_bytes")]
        payload: Vec<u8>,
    },
    /// Revokes the sender platform's record for a merchant.
    RevokeRecord {
        /// Merchant.
        merchant_id: MerchantId,
    },
    /// Signed by a registered merchant's key: the merchant accepts `platform_id` as its acquirer, so
    /// that platform's record (now or once put) is routed to.
    AcceptAcquirer {
        /// The accepted platform.
        platform_id: PlatformId,
    },
    /// Signed by a registered merchant's key: the merchant ends its association with `platform_id`;
    /// that platform's record is no longer routed to (it stays, pending, until accepted again).
    EndAcquirer {
        /// The platform.
        platform_id: PlatformId,
    },
}

fn invalid(field: &str, reason: impl Into<String>) -> Error {
    Error::InvalidField {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

fn check_text(field: &str, value: &str, max_chars: usize) -> Result<(), Error> {
    let chars = value.chars().count();
    if chars == 0 || chars > max_chars {
        return Err(invalid(
            field,
            format!("must be 1 to {max_chars} characters, got {chars}"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    if value.trim() != value {
        return Err(invalid(field, "must not start or end with whitespace"));
    }
    Ok(())
}

/// Checks the fields of a merchant registration.
pub fn validate_merchant_fields(
    name: &str,
    city: &str,
    mcc: &str,
    country: &str,
    merchant_key: &PublicKey,
) -> Result<(), Error> {
    check_text("name", name, MAX_MERCHANT_NAME_CHARS)?;
    check_text("city", city, MAX_MERCHANT_CITY_CHARS)?;
    if mcc.len() != 4 || !mcc.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("mcc", "must be 4 ASCII digits"));
    }
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(invalid(
            "country",
            "must be 2 uppercase ASCII letters (ISO 3166-1 alpha-2)",
        ));
    }
    merchant_key
        .validate()
        .map_err(|_| invalid("merchant_key", "not a valid ed25519 public key"))
}

fn merchant_key(id: &MerchantId) -> Vec<u8> {
    [MERCHANT_PREFIX, id.as_str().as_bytes()].concat()
}

fn record_key(merchant: &MerchantId, platform: &PlatformId) -> Vec<u8> {
    [
        RECORD_PREFIX,
        merchant.as_str().as_bytes(),
        b"/",
        platform.as_str().as_bytes(),
    ]
    .concat()
}

fn platforms_key(id: &MerchantId) -> Vec<u8> {
    [PLATFORMS_PREFIX, id.as_str().as_bytes()].concat()
}

fn consent_key(id: &MerchantId) -> Vec<u8> {
    [CONSENT_PREFIX, id.as_str().as_bytes()].concat()
}

/// The merchant `id`.
pub fn merchant(
    reader: &impl StateReader,
    id: &MerchantId,
) -> Result<Option<Merchant>, StateError> {
    get_decoded(reader, &merchant_key(id))
}

/// The platforms with an active record for merchant `id`, sorted, whether accepted or not.
pub fn active_of(
    reader: &impl StateReader,
    id: &MerchantId,
) -> Result<Vec<PlatformId>, StateError> {
    Ok(get_decoded(reader, &platforms_key(id))?.unwrap_or_default())
}

/// The platforms merchant `id` accepted as acquirers, sorted, whether they put a record or not.
pub fn accepted_of(
    reader: &impl StateReader,
    id: &MerchantId,
) -> Result<Vec<PlatformId>, StateError> {
    Ok(get_decoded(reader, &consent_key(id))?.unwrap_or_default())
}

/// The platforms a payment to merchant `id` may be routed to: an active record and the merchant's
/// acceptance, sorted.
pub fn platforms_of(
    reader: &impl StateReader,
    id: &MerchantId,
) -> Result<Vec<PlatformId>, StateError> {
    let accepted = accepted_of(reader, id)?;
    let mut active = active_of(reader, id)?;
    active.retain(|p| accepted.binary_search(p).is_ok());
    Ok(active)
}

/// The platforms with an active record that merchant `id` has not accepted (never routed to), sorted.
pub fn pending_of(
    reader: &impl StateReader,
    id: &MerchantId,
) -> Result<Vec<PlatformId>, StateError> {
    let accepted = accepted_of(reader, id)?;
    let mut active = active_of(reader, id)?;
    active.retain(|p| accepted.binary_search(p).is_err());
    Ok(active)
}

/// Whether a payment to `merchant` through `platform` routed by `route` may be made now: the
/// platform's record is active, accepted by the merchant, and still the version (and payload) that
/// the route names.
pub fn check_route(
    reader: &impl StateReader,
    merchant: &MerchantId,
    platform: &PlatformId,
    route: &Route,
) -> Result<Result<(), RouteError>, StateError> {
    let Some(rec) = record(reader, merchant, platform)? else {
        return Ok(Err(RouteError::NoRecord));
    };
    if rec.revoked {
        return Ok(Err(RouteError::Revoked));
    }
    if accepted_of(reader, merchant)?
        .binary_search(platform)
        .is_err()
    {
        return Ok(Err(RouteError::NotAccepted));
    }
    if rec.version != route.record_version || rec.payload_hash != route.record_hash {
        return Ok(Err(RouteError::Changed {
            current: rec.version,
        }));
    }
    Ok(Ok(()))
}

/// The record of `platform` for `merchant` (revoked ones included).
pub fn record(
    reader: &impl StateReader,
    merchant: &MerchantId,
    platform: &PlatformId,
) -> Result<Option<AcquiringRecord>, StateError> {
    get_decoded(reader, &record_key(merchant, platform))
}

fn sender_platform(reader: &impl StateReader, ctx: &Context) -> Result<Member, CallError> {
    match governance::member_by_key(reader, &ctx.sender)? {
        Some(m) if m.has_role(Role::Platform) => Ok(m),
        _ => Err(Error::NotAPlatform.into()),
    }
}

/// Adds `platform` to (or removes it from) the sorted list under `key`; whether the list changed.
fn set_member<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    key: Vec<u8>,
    platform: &PlatformId,
    member: bool,
) -> Result<bool, StateError> {
    let mut list: Vec<PlatformId> = get_decoded(ov, &key)?.unwrap_or_default();
    match (list.binary_search(platform), member) {
        (Err(pos), true) => list.insert(pos, platform.clone()),
        (Ok(pos), false) => {
            list.remove(pos);
        }
        _ => return Ok(false),
    }
    if list.is_empty() {
        ov.delete(key);
    } else {
        put_encoded(ov, key, &list);
    }
    Ok(true)
}

fn set_platform_active<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    merchant: &MerchantId,
    platform: &PlatformId,
    active: bool,
) -> Result<(), StateError> {
    set_member(ov, platforms_key(merchant), platform, active).map(|_| ())
}

/// The merchant's own calls: accepting or ending a platform as its acquirer. The sender's key must be
/// a registered merchant's key (the merchant id is derived from it).
fn execute_merchant<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: &Context,
    platform_id: &PlatformId,
    accept: bool,
) -> Result<Vec<Event>, CallError> {
    let merchant_id = MerchantId::derive(&ctx.sender);
    match merchant(ov, &merchant_id)? {
        Some(m) if m.merchant_key == ctx.sender => {}
        _ => return Err(Error::NotAMerchant.into()),
    }
    if accept && !governance::member(ov, platform_id)?.is_some_and(|m| m.has_role(Role::Platform)) {
        return Err(Error::UnknownPlatform(platform_id.clone()).into());
    }
    if !set_member(ov, consent_key(&merchant_id), platform_id, accept)? {
        let (merchant_id, platform_id) = (merchant_id.clone(), platform_id.clone());
        return Err(if accept {
            Error::AlreadyAccepted {
                merchant_id,
                platform_id,
            }
        } else {
            Error::NotAccepted {
                merchant_id,
                platform_id,
            }
        }
        .into());
    }
    let name = if accept {
        "acquirer_accepted"
    } else {
        "acquirer_ended"
    };
    Ok(vec![Event::new(name)
        .with("merchant_id", merchant_id.as_str())
        .with("platform_id", platform_id.as_str())])
}

/// Runs a registry call.
pub(crate) fn execute<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: &Context,
    call: &Call,
) -> Result<Vec<Event>, CallError> {
    match call {
        Call::AcceptAcquirer { platform_id } => execute_merchant(ov, ctx, platform_id, true),
        Call::EndAcquirer { platform_id } => execute_merchant(ov, ctx, platform_id, false),
        Call::RegisterMerchant { .. } | Call::PutRecord { .. } | Call::RevokeRecord { .. } => {
            let platform = sender_platform(ov, ctx)?;
            execute_platform(ov, ctx, &platform, call)
        }
    }
}

/// The platform's calls (the sender is a platform member).
fn execute_platform<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: &Context,
    platform: &Member,
    call: &Call,
) -> Result<Vec<Event>, CallError> {
    match call {
        Call::RegisterMerchant {
            name,
            city,
            mcc,
            country,
            merchant_key: key,
        } => {
            validate_merchant_fields(name, city, mcc, country, key)?;
            let id = MerchantId::derive(key);
            if merchant(ov, &id)?.is_some() {
                return Err(Error::MerchantExists(id).into());
            }
            let m = Merchant {
                id: id.clone(),
                name: name.clone(),
                city: city.clone(),
                mcc: mcc.clone(),
                country: country.clone(),
                merchant_key: *key,
                registered_by: platform.id.clone(),
                registered_at: ctx.height,
            };
            put_encoded(ov, merchant_key(&id), &m);
            Ok(vec![Event::new("merchant_registered")
                .with("merchant_id", id.as_str())
                .with("platform_id", platform.id.as_str())])
        }
        Call::PutRecord {
            merchant_id,
            payload,
        } => {
            if payload.len() > MAX_RECORD_PAYLOAD {
                return Err(Error::PayloadTooLarge {
                    len: payload.len(),
                    max: MAX_RECORD_PAYLOAD,
                }
                .into());
            }
            // On a chain with an enclave, the chain stores only ciphertext sealed to it, under
            // the current epoch (records put after a rotation are out of the old secret's reach).
            if let Some(epoch) = crate::enclave_registry::epoch(ov)? {
                let sealed = crate::enclave::SealedRecord::from_bytes(payload)
                    .map_err(|e| Error::NotSealed(e.to_string()))?;
                if sealed.epoch != epoch.current {
                    return Err(Error::WrongEpoch {
                        sealed: sealed.epoch,
                        current: epoch.current,
                    }
                    .into());
                }
            }
            if merchant(ov, merchant_id)?.is_none() {
                return Err(Error::UnknownMerchant(merchant_id.clone()).into());
            }
            let version = match record(ov, merchant_id, &platform.id)? {
                Some(r) => r.version.saturating_add(1),
                None => 1,
            };
            let rec = AcquiringRecord {
                merchant_id: merchant_id.clone(),
                platform_id: platform.id.clone(),
                version,
                payload: payload.clone(),
                revoked: false,
                updated_at: ctx.height,
                payload_hash: payload_hash(payload),
            };
            put_encoded(ov, record_key(merchant_id, &platform.id), &rec);
            set_platform_active(ov, merchant_id, &platform.id, true)?;
            Ok(vec![Event::new("record_put")
                .with("merchant_id", merchant_id.as_str())
                .with("platform_id", platform.id.as_str())
                .with("version", version.to_string())])
        }
        Call::RevokeRecord { merchant_id } => {
            if merchant(ov, merchant_id)?.is_none() {
                return Err(Error::UnknownMerchant(merchant_id.clone()).into());
            }
            let mut rec =
                record(ov, merchant_id, &platform.id)?.ok_or_else(|| Error::NoRecord {
                    merchant_id: merchant_id.clone(),
                    platform_id: platform.id.clone(),
                })?;
            if rec.revoked {
                return Err(Error::AlreadyRevoked {
                    merchant_id: merchant_id.clone(),
                    platform_id: platform.id.clone(),
                }
                .into());
            }
            rec.revoked = true;
            rec.updated_at = ctx.height;
            put_encoded(ov, record_key(merchant_id, &platform.id), &rec);
            set_platform_active(ov, merchant_id, &platform.id, false)?;
            Ok(vec![Event::new("record_revoked")
                .with("merchant_id", merchant_id.as_str())
                .with("platform_id", platform.id.as_str())])
        }
        Call::AcceptAcquirer { platform_id } => execute_merchant(ov, ctx, platform_id, true),
        Call::EndAcquirer { platform_id } => execute_merchant(ov, ctx, platform_id, false),
    }
}
