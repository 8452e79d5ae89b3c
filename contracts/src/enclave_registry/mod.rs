//! The on-chain side of the simulated enclave: which measurements are allowed, which enclaves
//! are registered (their quotes verified by every validator, deterministically), to which platform
//! each belongs, and the consortium secret wrapped to each newly registered enclave.
//!
//! ```text
//!  genesis: attestation root, consortium public key, allowed measurements, minimum security version,
//!           genesis enclaves (each bound to a genesis platform, provisioned)
//!  RegisterBound { quote, binding }   sender: a platform member's key. The quote must verify (root
//!                          signature, allowed and not revoked measurement, chain id, debug policy,
//!                          report data, security version ≥ the minimum) and `binding` is the
//!                          enclave's own signature saying it serves the sender's platform; the entry
//!                          is bound to that platform. At most MAX_ENCLAVES_PER_PLATFORM per platform.
//!  ProvisionSigned { provision }     any sender; accepted only when signed by a provisioned enclave
//!                          (its signer key) that still serves (platform a member, quote within policy,
//!                          not retired), wrapped to a registered, unprovisioned enclave of a current
//!                          platform member whose quote is within policy. The recipient enclave
//!                          unwraps it (only it can) and seals it to disk.
//!  Deregister { signer }   the owning platform's key removes one of its enclaves.
//!  PublishPlatformKey { key }  any sender; a serving enclave's signed record key of a current platform
//!                          member in the current epoch, when none is published (a platform admitted
//!                          after the epoch began; genesis carries epoch 0's of the genesis platforms).
//!  StartEpoch { start }    any sender; after governance's RotateEnclaveEpoch: signed by a serving
//!                          enclave, the next epoch, a signed record key for exactly the current
//!                          platform members, and the new secret wrapped to exactly the serving
//!                          enclaves (the creator included). Each enclave adopts its wrap.
//!  governance: ApproveMeasurement / RevokeMeasurement / SetEnclaveMinSecurityVersion (> 2/3 of the
//!              governors); RemovePlatform retires the platform's enclaves.
//!  Register, Provision     (the first formats) refused: a registration without the enclave's
//!                          platform binding, a provisioning without an enclave's signature.
//! ```
//!
//! An enclave **serves** ([`serving`]) while it is registered, provisioned, not retired, its platform is
//! a current member with the platform role, and its quote passes the current policy (a revoked
//! measurement or a raised minimum security version ends it). Nodes answer lookups only while their
//! own enclave serves; clients trust an answer only from an enclave that does.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::chain::kernel::{CallError, Context, Event, Refusal};
use crate::chain::state::{get_decoded, put_encoded, Overlay, StateError, StateReader};
use crate::enclave::{
    platform_binding_bytes, KxPublicKey, Measurement, PlatformKey, QuoteError, QuotePolicy,
    SignedEpochStart, SignedPlatformKey, SignedProvision, SignedQuote, WrappedSecret,
};
use crate::governance::{self, Role};
use crate::primitives::crypto::{PublicKey, Signature};
use crate::primitives::ids::{ChainId, PlatformId};

const CONFIG_KEY: &[u8] = b"enc/config";
const ALLOWED_KEY: &[u8] = b"enc/allowed";
const REVOKED_KEY: &[u8] = b"enc/revoked";
const ENCLAVES_KEY: &[u8] = b"enc/enclaves";
const EPOCH_KEY: &[u8] = b"enc/epoch";

/// Most registered enclaves that are not retired (bounds state and per-block work).
pub const MAX_ENCLAVES: usize = 256;
/// Most enclaves one platform may have registered (not retired). A platform runs a few nodes (say a
/// validator, a full node and a standby); every enclave build upgrade registers each of them again
/// under a new measurement before the old ones are deregistered: 3 nodes × 2 builds = 6, and 8 leaves
/// room for a replaced machine. Bounding it per platform keeps one member from filling
/// [`MAX_ENCLAVES`] (256 = 32 platforms at the limit) and from making every provisioned enclave wrap
/// the secret again and again.
pub const MAX_ENCLAVES_PER_PLATFORM: usize = 8;
/// The minimum security version of a chain that sets none.
pub const DEFAULT_MIN_SECURITY_VERSION: u32 = 1;

fn default_min_security_version() -> u32 {
    DEFAULT_MIN_SECURITY_VERSION
}

fn enclave_key(signer: &PublicKey) -> Vec<u8> {
    [b"enc/enclave/".as_slice(), &signer.0].concat()
}

fn wrapped_key(signer: &PublicKey) -> Vec<u8> {
    [b"enc/wrapped/".as_slice(), &signer.0].concat()
}

fn epoch_wrap_key(signer: &PublicKey) -> Vec<u8> {
    [b"enc/epoch-wrap/".as_slice(), &signer.0].concat()
}

/// The state key of `platform`'s record key in `epoch`.
pub fn platform_key_key(epoch: u64, platform: &PlatformId) -> Vec<u8> {
    [
        b"enc/platform-key/".as_slice(),
        &epoch.to_be_bytes(),
        b"/",
        platform.as_str().as_bytes(),
    ]
    .concat()
}

/// The chain's current enclave epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct EpochState {
    /// The epoch records are put under (0 from genesis).
    pub current: u64,
    /// The public key of its consortium secret.
    pub consortium_public: KxPublicKey,
    /// Height at which governance asked for the next epoch, until an enclave starts it.
    pub rotation_requested_at: Option<u64>,
}

/// A platform's record key as stored: from genesis (epoch 0 of a genesis platform, no signature)
/// or signed by the serving enclave that derived it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct PlatformKeyEntry {
    /// The key.
    pub key: PlatformKey,
    /// The enclave signer and its signature over [`PlatformKey::sign_bytes`] (`None`: genesis).
    pub attested: Option<(PublicKey, Signature)>,
    /// Height at which it was published.
    pub published_at: u64,
}

/// An epoch's secret wrapped to one enclave, as stored until the next rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct EpochWrap {
    /// The epoch.
    pub epoch: u64,
    /// Its secret, wrapped to the enclave.
    pub wrapped: WrappedSecret,
}

/// A genesis node's enclave and the genesis platform it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct GenesisEnclave {
    /// The platform (a genesis member with the platform role).
    pub platform_id: PlatformId,
    /// Its attested quote.
    pub quote: SignedQuote,
}

/// The enclave section of genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct EnclaveGenesis {
    /// Public key of the simulated attestation root (stands for the hardware vendor's).
    pub attestation_root: PublicKey,
    /// The consortium enclave key records are sealed to.
    pub consortium_public: KxPublicKey,
    /// Measurements allowed from the start.
    pub measurements: Vec<Measurement>,
    /// Whether debug enclaves are accepted (dev chains only).
    pub allow_debug: bool,
    /// The genesis nodes' enclaves, provisioned at genesis.
    pub enclaves: Vec<GenesisEnclave>,
    /// The lowest quote security version accepted (1 when absent).
    #[serde(default = "default_min_security_version")]
    pub min_security_version: u32,
    /// Epoch 0's record key of each genesis platform (derived by the bootstrap enclave).
    #[serde(default)]
    pub platform_keys: Vec<PlatformKey>,
    /// The exec key clients seal payment calls to (derived by the bootstrap enclave from epoch 0:
    /// `enclave::private`). Present: the chain keeps its payment state private, and only enclaves
    /// execute its blocks. Absent: a chain in the clear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec_public: Option<KxPublicKey>,
}

/// The stored configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct EnclaveConfig {
    pub attestation_root: PublicKey,
    pub consortium_public: KxPublicKey,
    pub allow_debug: bool,
    /// The lowest quote security version accepted (governance: `SetEnclaveMinSecurityVersion`).
    #[serde(default = "default_min_security_version")]
    pub min_security_version: u32,
}

/// Why an enclave stopped serving for good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Retirement {
    /// Height at which it was retired.
    pub height: u64,
    /// Why.
    pub reason: String,
}

/// A registered enclave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct EnclaveEntry {
    pub quote: SignedQuote,
    /// The platform the enclave belongs to (the member that registered it).
    pub platform_id: PlatformId,
    /// Whether a wrapped consortium secret was delivered (or it was provisioned at genesis).
    pub provisioned: bool,
    pub registered_at: u64,
    /// The enclave whose signed provisioning delivered the secret (`None`: genesis, or not yet).
    pub provisioned_by: Option<PublicKey>,
    /// Set when the enclave's platform was removed by governance: it never serves again.
    pub retired: Option<Retirement>,
}

/// Enclave registry calls.
///
/// Encoding: borsh, a `u8` variant index in declaration order (first variant = 0), then the variant's
/// fields (`docs/encoding.md`). The order is part of the signed format: new variants are appended
/// at the end, none is ever removed or reordered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// The first registration format, without the enclave's platform binding: refused
    /// ([`Error::UnboundRegistration`]); use [`Call::RegisterBound`].
    Register { quote: SignedQuote },
    /// The first provisioning format, without an enclave's signature: refused
    /// ([`Error::UnsignedProvision`]); use [`Call::ProvisionSigned`].
    Provision { wrapped: WrappedSecret },
    /// A platform member registers an enclave of its own, by its signed quote and the enclave's
    /// signature over ([`platform_binding_bytes`]) the sender's platform.
    RegisterBound {
        quote: SignedQuote,
        binding: Signature,
    },
    /// Delivers the consortium secret to a registered enclave, signed by the provisioned enclave
    /// that wrapped it.
    ProvisionSigned { provision: SignedProvision },
    /// The owning platform removes one of its enclaves (frees its place; its wrapped secret is
    /// deleted from state).
    Deregister { signer: PublicKey },
    /// A serving enclave's record key of a platform member in the current epoch.
    PublishPlatformKey { key: SignedPlatformKey },
    /// The next epoch, created by a serving enclave after governance asked for it.
    StartEpoch { start: SignedEpochStart },
}

/// Refusals.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("this chain has no enclave configured")]
    NotConfigured,
    #[error("quote refused: {0}")]
    Quote(String),
    #[error("enclave {0} is already registered")]
    AlreadyRegistered(PublicKey),
    #[error("no registered enclave has the quote this secret is wrapped to")]
    UnknownRecipient,
    #[error("enclave {0} is already provisioned")]
    AlreadyProvisioned(PublicKey),
    #[error("the wrapped secret is for consortium key {got}, this chain's is {expected}")]
    WrongConsortiumKey { expected: String, got: String },
    #[error("too many registered enclaves (limit {MAX_ENCLAVES})")]
    TooMany,
    #[error("measurement {0} is already allowed")]
    AlreadyAllowed(Measurement),
    #[error("measurement {0} is not allowed")]
    NotAllowed(Measurement),
    #[error("sender {0} is not a platform member: only a platform member's key registers an enclave, which then belongs to that platform")]
    NotAPlatform(PublicKey),
    #[error("platform {platform} already has {limit} enclaves registered (the most one platform may have; deregister one first)")]
    PlatformFull { platform: PlatformId, limit: usize },
    #[error("registration without the enclave's platform binding is refused (use register_bound)")]
    UnboundRegistration,
    #[error("the enclave's platform binding does not verify under enclave {signer} for platform {platform}: an enclave registers only for the platform it says it serves")]
    BadBinding {
        signer: PublicKey,
        platform: PlatformId,
    },
    #[error("provisioning without a provisioned enclave's signature is refused: only a provisioned enclave can mark another one provisioned (use provision_signed)")]
    UnsignedProvision,
    #[error("provisioning signature does not verify under enclave {0}: only the enclave that wrapped the secret can sign it")]
    BadProvisionSignature(PublicKey),
    #[error("the providing enclave may not provision: {0}")]
    ProviderUnfit(Unfit),
    #[error("the recipient enclave may not be provisioned: {0}")]
    RecipientUnfit(Unfit),
    #[error("enclave {0} is not registered")]
    UnknownEnclave(PublicKey),
    #[error(
        "enclave {signer} belongs to platform {platform}: only that platform's key deregisters it"
    )]
    NotOwner {
        signer: PublicKey,
        platform: PlatformId,
    },
    #[error("the minimum enclave security version must be at least 1 and differ from the current {current}, got {got}")]
    InvalidMinSecurityVersion { got: u32, current: u32 },
    #[error("signature of enclave {0} over the epoch keys does not verify")]
    BadEpochSignature(PublicKey),
    #[error("the publishing enclave may not publish keys: {0}")]
    PublisherUnfit(Unfit),
    #[error("epoch {got} is not {expected}")]
    WrongEpoch { got: u64, expected: u64 },
    #[error("no new epoch was asked for (governance: rotate_enclave_epoch)")]
    NoRotationRequested,
    #[error("a new epoch is already asked for (at height {0})")]
    RotationPending(u64),
    #[error("the new epoch's platform keys must be exactly the current platform members' ({0})")]
    PlatformKeysMismatch(String),
    #[error("platform {platform} already has a record key in epoch {epoch}")]
    PlatformKeyExists { platform: PlatformId, epoch: u64 },
    #[error("the new epoch's secret must be wrapped to exactly the serving enclaves ({0})")]
    WrapsMismatch(String),
    #[error("{0} is not a current platform member")]
    NotPlatformMember(PlatformId),
}

impl Error {
    /// Stable receipt codes: 400..=499.
    pub fn code(&self) -> u32 {
        match self {
            Error::NotConfigured => 400,
            Error::Quote(_) => 401,
            Error::AlreadyRegistered(_) => 402,
            Error::UnknownRecipient => 403,
            Error::AlreadyProvisioned(_) => 404,
            Error::WrongConsortiumKey { .. } => 405,
            Error::TooMany => 406,
            Error::AlreadyAllowed(_) => 407,
            Error::NotAllowed(_) => 408,
            Error::NotAPlatform(_) => 409,
            Error::PlatformFull { .. } => 410,
            Error::UnboundRegistration => 411,
            Error::BadBinding { .. } => 412,
            Error::UnsignedProvision => 413,
            Error::BadProvisionSignature(_) => 414,
            Error::ProviderUnfit(_) => 415,
            Error::RecipientUnfit(_) => 416,
            Error::UnknownEnclave(_) => 417,
            Error::NotOwner { .. } => 418,
            Error::InvalidMinSecurityVersion { .. } => 419,
            Error::BadEpochSignature(_) => 420,
            Error::PublisherUnfit(_) => 421,
            Error::WrongEpoch { .. } => 422,
            Error::NoRotationRequested => 423,
            Error::RotationPending(_) => 424,
            Error::PlatformKeysMismatch(_) => 425,
            Error::PlatformKeyExists { .. } => 426,
            Error::WrapsMismatch(_) => 427,
            Error::NotPlatformMember(_) => 428,
        }
    }
}

impl Refusal for Error {
    fn code(&self) -> u32 {
        Error::code(self)
    }
}

/// Why an enclave does not serve (is not trusted to answer, provision or be provisioned).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unfit {
    #[error("enclave {0} is not registered")]
    Unregistered(PublicKey),
    #[error("enclave {0} is not provisioned with the consortium secret")]
    NotProvisioned(PublicKey),
    #[error("enclave {signer} was retired at height {height}: {reason}")]
    Retired {
        signer: PublicKey,
        height: u64,
        reason: String,
    },
    #[error(
        "enclave {signer} belongs to platform {platform}, which is not a current platform member"
    )]
    PlatformNotMember {
        signer: PublicKey,
        platform: PlatformId,
    },
    #[error("enclave {signer}: {error}")]
    Quote {
        signer: PublicKey,
        error: QuoteError,
    },
}

/// The configuration, if the chain has an enclave.
pub fn config(reader: &impl StateReader) -> Result<Option<EnclaveConfig>, StateError> {
    get_decoded(reader, CONFIG_KEY)
}

/// Allowed measurements.
pub fn allowed(reader: &impl StateReader) -> Result<Vec<Measurement>, StateError> {
    Ok(get_decoded(reader, ALLOWED_KEY)?.unwrap_or_default())
}

/// Revoked measurements.
pub fn revoked(reader: &impl StateReader) -> Result<Vec<Measurement>, StateError> {
    Ok(get_decoded(reader, REVOKED_KEY)?.unwrap_or_default())
}

/// A registered enclave by its signer key.
pub fn enclave(
    reader: &impl StateReader,
    signer: &PublicKey,
) -> Result<Option<EnclaveEntry>, StateError> {
    get_decoded(reader, &enclave_key(signer))
}

/// All registered enclaves, by signer key.
pub fn enclaves(reader: &impl StateReader) -> Result<Vec<EnclaveEntry>, StateError> {
    let signers: Vec<PublicKey> = get_decoded(reader, ENCLAVES_KEY)?.unwrap_or_default();
    let mut out = Vec::with_capacity(signers.len());
    for s in &signers {
        if let Some(e) = enclave(reader, s)? {
            out.push(e);
        }
    }
    Ok(out)
}

/// The secret wrapped to `signer`'s enclave, if delivered.
pub fn wrapped_for(
    reader: &impl StateReader,
    signer: &PublicKey,
) -> Result<Option<WrappedSecret>, StateError> {
    get_decoded(reader, &wrapped_key(signer))
}

/// The current epoch (`None` on a chain without an enclave).
pub fn epoch(reader: &impl StateReader) -> Result<Option<EpochState>, StateError> {
    let Some(cfg) = config(reader)? else {
        return Ok(None);
    };
    Ok(Some(get_decoded(reader, EPOCH_KEY)?.unwrap_or(
        EpochState {
            current: 0,
            consortium_public: cfg.consortium_public,
            rotation_requested_at: None,
        },
    )))
}

/// `platform`'s record key in `epoch`, if published.
pub fn platform_key(
    reader: &impl StateReader,
    epoch: u64,
    platform: &PlatformId,
) -> Result<Option<PlatformKeyEntry>, StateError> {
    get_decoded(reader, &platform_key_key(epoch, platform))
}

/// The current platform members (platform role), by id.
pub fn platform_members(reader: &impl StateReader) -> Result<Vec<PlatformId>, StateError> {
    let mut ids: Vec<PlatformId> = governance::members(reader)?
        .into_iter()
        .filter(|m| m.has_role(Role::Platform))
        .map(|m| m.id)
        .collect();
    ids.sort();
    Ok(ids)
}

/// The current epoch's record keys of the current platform members (those published).
pub fn current_platform_keys(
    reader: &impl StateReader,
) -> Result<Vec<PlatformKeyEntry>, StateError> {
    let Some(e) = epoch(reader)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for p in platform_members(reader)? {
        if let Some(k) = platform_key(reader, e.current, &p)? {
            out.push(k);
        }
    }
    Ok(out)
}

/// The newest epoch secret wrapped to `signer`'s enclave at a rotation, if any.
pub fn epoch_wrap_for(
    reader: &impl StateReader,
    signer: &PublicKey,
) -> Result<Option<EpochWrap>, StateError> {
    get_decoded(reader, &epoch_wrap_key(signer))
}

/// The enclaves that serve now ([`serving`]), in registry order.
pub fn serving_enclaves(
    reader: &impl StateReader,
    chain_id: &ChainId,
) -> Result<Vec<EnclaveEntry>, StateError> {
    let mut out = Vec::new();
    for e in enclaves(reader)? {
        if let Ok(entry) = serving(reader, chain_id, &e.quote.quote.signer)? {
            out.push(entry);
        }
    }
    Ok(out)
}

/// Checks a `RotateEnclaveEpoch` before it is voted on.
pub(crate) fn check_rotation(reader: &impl StateReader) -> Result<(), CallError> {
    let e = epoch(reader)?.ok_or(Error::NotConfigured)?;
    if let Some(at) = e.rotation_requested_at {
        return Err(Error::RotationPending(at).into());
    }
    Ok(())
}

/// Governance asked for the next epoch.
pub(crate) fn request_rotation<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    height: u64,
) -> Result<(), CallError> {
    check_rotation(ov)?;
    let mut e = epoch(ov)?.ok_or(Error::NotConfigured)?;
    e.rotation_requested_at = Some(height);
    put_encoded(ov, EPOCH_KEY.to_vec(), &e);
    Ok(())
}

fn publish_platform_key<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: &Context,
    chain_id: &ChainId,
    k: &SignedPlatformKey,
) -> Result<Vec<Event>, CallError> {
    if !k.verify(chain_id) {
        return Err(Error::BadEpochSignature(k.signer).into());
    }
    if let Err(unfit) = serving(ov, chain_id, &k.signer)? {
        return Err(Error::PublisherUnfit(unfit).into());
    }
    let e = epoch(ov)?.ok_or(Error::NotConfigured)?;
    if k.key.epoch != e.current {
        return Err(Error::WrongEpoch {
            got: k.key.epoch,
            expected: e.current,
        }
        .into());
    }
    let platform = &k.key.platform_id;
    if !is_platform_member(ov, platform)? {
        return Err(Error::NotPlatformMember(platform.clone()).into());
    }
    if platform_key(ov, e.current, platform)?.is_some() {
        return Err(Error::PlatformKeyExists {
            platform: platform.clone(),
            epoch: e.current,
        }
        .into());
    }
    put_encoded(
        ov,
        platform_key_key(e.current, platform),
        &PlatformKeyEntry {
            key: k.key.clone(),
            attested: Some((k.signer, k.signature)),
            published_at: ctx.height,
        },
    );
    Ok(vec![Event::new("platform_key_published")
        .with("platform_id", platform.as_str())
        .with("epoch", e.current.to_string())
        .with("signer", k.signer.to_hex())])
}

fn start_epoch<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: &Context,
    chain_id: &ChainId,
    s: &SignedEpochStart,
) -> Result<Vec<Event>, CallError> {
    if !s.verify(chain_id) {
        return Err(Error::BadEpochSignature(s.signer).into());
    }
    if let Err(unfit) = serving(ov, chain_id, &s.signer)? {
        return Err(Error::PublisherUnfit(unfit).into());
    }
    let mut e = epoch(ov)?.ok_or(Error::NotConfigured)?;
    if e.rotation_requested_at.is_none() {
        return Err(Error::NoRotationRequested.into());
    }
    let next = e.current.saturating_add(1);
    let start = &s.start;
    if start.epoch != next {
        return Err(Error::WrongEpoch {
            got: start.epoch,
            expected: next,
        }
        .into());
    }
    let members = platform_members(ov)?;
    let keyed: Vec<PlatformId> = start
        .platform_keys
        .iter()
        .map(|k| k.key.platform_id.clone())
        .collect();
    if keyed != members || start.platform_keys.iter().any(|k| k.key.epoch != next) {
        return Err(Error::PlatformKeysMismatch(format!(
            "{} members, {} keys",
            members.len(),
            keyed.len()
        ))
        .into());
    }
    let serving = serving_enclaves(ov, chain_id)?;
    let mut expected: Vec<_> = serving
        .iter()
        .map(|e| (e.quote.quote.hash(), e.quote.quote.signer))
        .collect();
    expected.sort();
    let mut given: Vec<_> = start.wraps.iter().map(|w| w.recipient_quote_hash).collect();
    given.sort();
    if given != expected.iter().map(|(h, _)| *h).collect::<Vec<_>>()
        || start
            .wraps
            .iter()
            .any(|w| w.consortium_public != start.consortium_public)
    {
        return Err(Error::WrapsMismatch(format!(
            "{} serving, {} wraps",
            expected.len(),
            given.len()
        ))
        .into());
    }
    for w in &start.wraps {
        let Some((_, signer)) = expected.iter().find(|(h, _)| *h == w.recipient_quote_hash) else {
            continue;
        };
        put_encoded(
            ov,
            epoch_wrap_key(signer),
            &EpochWrap {
                epoch: next,
                wrapped: w.clone(),
            },
        );
    }
    for k in &start.platform_keys {
        put_encoded(
            ov,
            platform_key_key(next, &k.key.platform_id),
            &PlatformKeyEntry {
                key: k.key.clone(),
                attested: Some((k.signer, k.signature)),
                published_at: ctx.height,
            },
        );
    }
    e.current = next;
    e.consortium_public = start.consortium_public;
    e.rotation_requested_at = None;
    put_encoded(ov, EPOCH_KEY.to_vec(), &e);
    Ok(vec![Event::new("enclave_epoch_started")
        .with("epoch", next.to_string())
        .with("signer", s.signer.to_hex())
        .with("enclaves", expected.len().to_string())
        .with("platforms", members.len().to_string())])
}

/// Whether `id` is a current member with the platform role.
pub fn is_platform_member(reader: &impl StateReader, id: &PlatformId) -> Result<bool, StateError> {
    Ok(governance::member(reader, id)?.is_some_and(|m| m.has_role(Role::Platform)))
}

/// The chain's quote policy, over lists the caller holds (see [`policy_lists`]).
pub fn policy<'a>(
    cfg: &'a EnclaveConfig,
    chain_id: &'a ChainId,
    allowed: &'a [Measurement],
    revoked: &'a [Measurement],
) -> QuotePolicy<'a> {
    QuotePolicy {
        root: &cfg.attestation_root,
        allowed,
        revoked,
        chain_id,
        allow_debug: cfg.allow_debug,
        min_security_version: cfg.min_security_version,
    }
}

/// The allowed and revoked measurements, for [`policy`].
pub fn policy_lists(
    reader: &impl StateReader,
) -> Result<(Vec<Measurement>, Vec<Measurement>), StateError> {
    Ok((allowed(reader)?, revoked(reader)?))
}

/// Checks what makes an enclave fit to serve apart from being provisioned: not retired, its platform
/// a current member (`platform_is_member`), its quote within `policy`. Pure.
pub fn check_fit(
    entry: &EnclaveEntry,
    policy: &QuotePolicy<'_>,
    platform_is_member: bool,
) -> Result<(), Unfit> {
    let signer = entry.quote.quote.signer;
    if let Some(r) = &entry.retired {
        return Err(Unfit::Retired {
            signer,
            height: r.height,
            reason: r.reason.clone(),
        });
    }
    if !platform_is_member {
        return Err(Unfit::PlatformNotMember {
            signer,
            platform: entry.platform_id.clone(),
        });
    }
    policy
        .verify(&entry.quote)
        .map_err(|error| Unfit::Quote { signer, error })
}

/// Whether the enclave `signer` serves now: registered, provisioned, and fit ([`check_fit`]).
/// The outer error is a storage fault; the inner one says why it does not serve.
pub fn serving(
    reader: &impl StateReader,
    chain_id: &ChainId,
    signer: &PublicKey,
) -> Result<Result<EnclaveEntry, Unfit>, StateError> {
    let Some(cfg) = config(reader)? else {
        return Ok(Err(Unfit::Unregistered(*signer)));
    };
    let Some(entry) = enclave(reader, signer)? else {
        return Ok(Err(Unfit::Unregistered(*signer)));
    };
    let (allowed, revoked) = policy_lists(reader)?;
    let member = is_platform_member(reader, &entry.platform_id)?;
    if let Err(e) = check_fit(&entry, &policy(&cfg, chain_id, &allowed, &revoked), member) {
        return Ok(Err(e));
    }
    if !entry.provisioned {
        return Ok(Err(Unfit::NotProvisioned(*signer)));
    }
    Ok(Ok(entry))
}

fn verify<R: StateReader>(
    ov: &Overlay<'_, R>,
    cfg: &EnclaveConfig,
    chain_id: &ChainId,
    quote: &SignedQuote,
) -> Result<(), CallError> {
    let (allowed, revoked) = policy_lists(ov)?;
    policy(cfg, chain_id, &allowed, &revoked)
        .verify(quote)
        .map_err(|e| CallError::from(Error::Quote(e.to_string())))
}

fn insert<R: StateReader>(ov: &mut Overlay<'_, R>, entry: EnclaveEntry) -> Result<(), CallError> {
    let signer = entry.quote.quote.signer;
    let mut signers: Vec<PublicKey> = get_decoded(ov, ENCLAVES_KEY)?.unwrap_or_default();
    let pos = match signers.binary_search(&signer) {
        Ok(_) => return Err(Error::AlreadyRegistered(signer).into()),
        Err(pos) => pos,
    };
    let live: Vec<EnclaveEntry> = enclaves(ov)?
        .into_iter()
        .filter(|e| e.retired.is_none())
        .collect();
    if live.len() >= MAX_ENCLAVES {
        return Err(Error::TooMany.into());
    }
    let of_platform = live
        .iter()
        .filter(|e| e.platform_id == entry.platform_id)
        .count();
    if of_platform >= MAX_ENCLAVES_PER_PLATFORM {
        return Err(Error::PlatformFull {
            platform: entry.platform_id.clone(),
            limit: MAX_ENCLAVES_PER_PLATFORM,
        }
        .into());
    }
    signers.insert(pos, signer);
    put_encoded(ov, ENCLAVES_KEY.to_vec(), &signers);
    put_encoded(ov, enclave_key(&signer), &entry);
    Ok(())
}

/// Writes the genesis enclave section (quotes verified like any registration; each genesis enclave's
/// platform must be a genesis member with the platform role, written before this).
pub(crate) fn write_genesis<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    chain_id: &ChainId,
    g: &EnclaveGenesis,
) -> Result<(), String> {
    if g.min_security_version == 0 {
        return Err("min_security_version must be at least 1".into());
    }
    let cfg = EnclaveConfig {
        attestation_root: g.attestation_root,
        consortium_public: g.consortium_public,
        allow_debug: g.allow_debug,
        min_security_version: g.min_security_version,
    };
    put_encoded(ov, CONFIG_KEY.to_vec(), &cfg);
    let mut measurements = g.measurements.clone();
    measurements.sort();
    measurements.dedup();
    put_encoded(ov, ALLOWED_KEY.to_vec(), &measurements);
    for e in &g.enclaves {
        if !is_platform_member(ov, &e.platform_id).map_err(|e| e.to_string())? {
            return Err(format!(
                "genesis enclave {} belongs to {}, which is not a genesis platform member",
                e.quote.quote.signer, e.platform_id
            ));
        }
        verify(ov, &cfg, chain_id, &e.quote).map_err(|e| format!("genesis enclave: {e:?}"))?;
        insert(
            ov,
            EnclaveEntry {
                quote: e.quote.clone(),
                platform_id: e.platform_id.clone(),
                provisioned: true,
                registered_at: 0,
                provisioned_by: None,
                retired: None,
            },
        )
        .map_err(|e| format!("genesis enclave: {e:?}"))?;
    }
    for k in &g.platform_keys {
        if k.epoch != 0 || !is_platform_member(ov, &k.platform_id).map_err(|e| e.to_string())? {
            return Err(format!(
                "genesis platform key of {} must be of epoch 0 and of a genesis platform member",
                k.platform_id
            ));
        }
        if platform_key(ov, 0, &k.platform_id)
            .map_err(|e| e.to_string())?
            .is_some()
        {
            return Err(format!("two genesis platform keys of {}", k.platform_id));
        }
        put_encoded(
            ov,
            platform_key_key(0, &k.platform_id),
            &PlatformKeyEntry {
                key: k.clone(),
                attested: None,
                published_at: 0,
            },
        );
    }
    if let Some(exec) = &g.exec_public {
        if exec.is_weak() {
            return Err("the genesis exec key is a weak X25519 key".into());
        }
        put_encoded(ov, PRIVATE_KEY.to_vec(), exec);
    }
    Ok(())
}

/// Governance: allow a measurement.
pub(crate) fn approve_measurement<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    m: &Measurement,
) -> Result<(), CallError> {
    config(ov)?.ok_or(Error::NotConfigured)?;
    let mut list = allowed(ov)?;
    match list.binary_search(m) {
        Ok(_) => Err(Error::AlreadyAllowed(*m).into()),
        Err(pos) => {
            list.insert(pos, *m);
            put_encoded(ov, ALLOWED_KEY.to_vec(), &list);
            // A re-approved measurement is no longer revoked.
            let mut rev = revoked(ov)?;
            rev.retain(|r| r != m);
            put_encoded(ov, REVOKED_KEY.to_vec(), &rev);
            Ok(())
        }
    }
}

/// Governance: revoke a measurement (registered enclaves of it stop serving: their nodes stop
/// answering and clients stop trusting them; no new one registers).
pub(crate) fn revoke_measurement<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    m: &Measurement,
) -> Result<(), CallError> {
    let mut list = allowed(ov)?;
    let Ok(pos) = list.binary_search(m) else {
        return Err(Error::NotAllowed(*m).into());
    };
    list.remove(pos);
    put_encoded(ov, ALLOWED_KEY.to_vec(), &list);
    let mut rev = revoked(ov)?;
    if let Err(pos) = rev.binary_search(m) {
        rev.insert(pos, *m);
    }
    put_encoded(ov, REVOKED_KEY.to_vec(), &rev);
    Ok(())
}

/// Checks a governance action touching measurements before it is voted on.
pub(crate) fn check_measurement_action(
    reader: &impl StateReader,
    m: &Measurement,
    approve: bool,
) -> Result<(), CallError> {
    config(reader)?.ok_or(Error::NotConfigured)?;
    let list = allowed(reader)?;
    match (approve, list.binary_search(m).is_ok()) {
        (true, true) => Err(Error::AlreadyAllowed(*m).into()),
        (false, false) => Err(Error::NotAllowed(*m).into()),
        _ => Ok(()),
    }
}

/// Checks a new minimum security version before it is voted on.
pub(crate) fn check_min_security_version(
    reader: &impl StateReader,
    version: u32,
) -> Result<(), CallError> {
    let cfg = config(reader)?.ok_or(Error::NotConfigured)?;
    if version == 0 || version == cfg.min_security_version {
        return Err(Error::InvalidMinSecurityVersion {
            got: version,
            current: cfg.min_security_version,
        }
        .into());
    }
    Ok(())
}

/// Governance: sets the minimum security version (enclaves below it stop serving, none below it
/// registers or is provisioned).
pub(crate) fn set_min_security_version<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    version: u32,
) -> Result<(), CallError> {
    check_min_security_version(ov, version)?;
    let mut cfg = config(ov)?.ok_or(Error::NotConfigured)?;
    cfg.min_security_version = version;
    put_encoded(ov, CONFIG_KEY.to_vec(), &cfg);
    Ok(())
}

/// Governance removed platform `platform`: its enclaves are retired (never serve again, even if a
/// member of the same id is admitted later). Returns how many.
pub(crate) fn retire_platform<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    height: u64,
    platform: &PlatformId,
) -> Result<usize, StateError> {
    let mut n = 0;
    for mut e in enclaves(ov)? {
        if &e.platform_id == platform && e.retired.is_none() {
            e.retired = Some(Retirement {
                height,
                reason: format!("its platform {platform} was removed by governance"),
            });
            put_encoded(ov, enclave_key(&e.quote.quote.signer), &e);
            n += 1;
        }
    }
    Ok(n)
}

/// The sender's platform, if it is a member with the platform role.
fn sender_platform(reader: &impl StateReader, ctx: &Context) -> Result<PlatformId, CallError> {
    match governance::member_by_key(reader, &ctx.sender)? {
        Some(m) if m.has_role(Role::Platform) => Ok(m.id),
        _ => Err(Error::NotAPlatform(ctx.sender).into()),
    }
}

fn provision<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    cfg: &EnclaveConfig,
    chain_id: &ChainId,
    p: &SignedProvision,
) -> Result<Vec<Event>, CallError> {
    let wrapped = &p.wrapped;
    // The ring wrapped must reach the current epoch (its newest secret is the current one's).
    let current = epoch(ov)?.map_or(cfg.consortium_public, |e| e.consortium_public);
    if wrapped.consortium_public != current {
        return Err(Error::WrongConsortiumKey {
            expected: hex::encode(current.0),
            got: hex::encode(wrapped.consortium_public.0),
        }
        .into());
    }
    if !p.verify(chain_id) {
        return Err(Error::BadProvisionSignature(p.provider).into());
    }
    if let Err(unfit) = serving(ov, chain_id, &p.provider)? {
        return Err(Error::ProviderUnfit(unfit).into());
    }
    let mut entry = enclaves(ov)?
        .into_iter()
        .find(|e| e.quote.quote.hash() == wrapped.recipient_quote_hash)
        .ok_or(Error::UnknownRecipient)?;
    let signer = entry.quote.quote.signer;
    if entry.provisioned {
        return Err(Error::AlreadyProvisioned(signer).into());
    }
    let (allowed, revoked) = policy_lists(ov)?;
    let member = is_platform_member(ov, &entry.platform_id)?;
    check_fit(&entry, &policy(cfg, chain_id, &allowed, &revoked), member)
        .map_err(Error::RecipientUnfit)?;
    entry.provisioned = true;
    entry.provisioned_by = Some(p.provider);
    put_encoded(ov, enclave_key(&signer), &entry);
    put_encoded(ov, wrapped_key(&signer), wrapped);
    Ok(vec![Event::new("enclave_provisioned")
        .with("signer", signer.to_hex())
        .with("platform_id", entry.platform_id.as_str())
        .with("provider", p.provider.to_hex())])
}

/// Runs an enclave registry call.
pub(crate) fn execute<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: &Context,
    chain_id: &ChainId,
    call: &Call,
) -> Result<Vec<Event>, CallError> {
    let cfg = config(ov)?.ok_or(Error::NotConfigured)?;
    match call {
        Call::Register { .. } => Err(Error::UnboundRegistration.into()),
        Call::Provision { .. } => Err(Error::UnsignedProvision.into()),
        Call::RegisterBound { quote, binding } => {
            let platform = sender_platform(ov, ctx)?;
            verify(ov, &cfg, chain_id, quote)?;
            let signer = quote.quote.signer;
            if signer
                .verify(&platform_binding_bytes(chain_id, &platform), binding)
                .is_err()
            {
                return Err(Error::BadBinding { signer, platform }.into());
            }
            insert(
                ov,
                EnclaveEntry {
                    quote: quote.clone(),
                    platform_id: platform.clone(),
                    provisioned: false,
                    registered_at: ctx.height,
                    provisioned_by: None,
                    retired: None,
                },
            )?;
            Ok(vec![Event::new("enclave_registered")
                .with("signer", signer.to_hex())
                .with("platform_id", platform.as_str())
                .with("measurement", quote.quote.measurement.to_string())])
        }
        Call::ProvisionSigned { provision: p } => provision(ov, &cfg, chain_id, p),
        Call::PublishPlatformKey { key } => publish_platform_key(ov, ctx, chain_id, key),
        Call::StartEpoch { start } => start_epoch(ov, ctx, chain_id, start),
        Call::Deregister { signer } => {
            let platform = sender_platform(ov, ctx)?;
            let entry = enclave(ov, signer)?.ok_or(Error::UnknownEnclave(*signer))?;
            if entry.platform_id != platform {
                return Err(Error::NotOwner {
                    signer: *signer,
                    platform: entry.platform_id,
                }
                .into());
            }
            let mut signers: Vec<PublicKey> = get_decoded(ov, ENCLAVES_KEY)?.unwrap_or_default();
            signers.retain(|s| s != signer);
            put_encoded(ov, ENCLAVES_KEY.to_vec(), &signers);
            ov.delete(enclave_key(signer));
            ov.delete(wrapped_key(signer));
            ov.delete(epoch_wrap_key(signer));
            Ok(vec![Event::new("enclave_deregistered")
                .with("signer", signer.to_hex())
                .with("platform_id", platform.as_str())])
        }
    }
}

#[cfg(test)]
mod tests;

/// Where a chain with private state keeps its exec key (public state, set at genesis).
pub const PRIVATE_KEY: &[u8] = b"enc/private";

/// The exec public key clients seal calls to, on a chain with private state (`None`: a chain
/// without). Set at genesis.
pub fn private_exec_public(reader: &impl StateReader) -> Result<Option<KxPublicKey>, StateError> {
    match reader.get(PRIVATE_KEY)? {
        None => Ok(None),
        Some(bytes) => crate::primitives::codec::decode(&bytes, 32)
            .map(Some)
            .map_err(|_| StateError("corrupt private-state configuration".into())),
    }
}
