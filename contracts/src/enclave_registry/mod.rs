//! The on-chain side of the simulated enclave: which measurements are allowed, which enclaves
//! are registered (their quotes verified by every validator, deterministically), and the
//! consortium secret wrapped to each newly registered enclave.
//!
//! ```text
//!  genesis: attestation root, consortium public key, allowed measurements, genesis enclaves
//!  Register { quote }      any sender; the attestation (root signature, allowed and not revoked
//!                          measurement, chain id, debug policy, report data) is the credential
//!  Provision { wrapped }   a provisioned node wraps the consortium secret to a registered quote;
//!                          the recipient enclave unwraps it (only it can) and seals it to disk
//!  governance: ApproveMeasurement / RevokeMeasurement (> 2/3 of the governors)
//! ```

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::chain::kernel::{CallError, Context, Event, Refusal};
use crate::chain::state::{get_decoded, put_encoded, Overlay, StateError, StateReader};
use crate::enclave::{KxPublicKey, Measurement, QuotePolicy, SignedQuote, WrappedSecret};
use crate::primitives::crypto::PublicKey;

const CONFIG_KEY: &[u8] = b"enc/config";
const ALLOWED_KEY: &[u8] = b"enc/allowed";
const REVOKED_KEY: &[u8] = b"enc/revoked";
const ENCLAVES_KEY: &[u8] = b"enc/enclaves";

/// Most registered enclaves (bounds state and per-block work).
pub const MAX_ENCLAVES: usize = 256;

fn enclave_key(signer: &PublicKey) -> Vec<u8> {
    [b"enc/enclave/".as_slice(), &signer.0].concat()
}

fn wrapped_key(signer: &PublicKey) -> Vec<u8> {
    [b"enc/wrapped/".as_slice(), &signer.0].concat()
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
    pub enclaves: Vec<SignedQuote>,
}

/// The stored configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct EnclaveConfig {
    pub attestation_root: PublicKey,
    pub consortium_public: KxPublicKey,
    pub allow_debug: bool,
}

/// A registered enclave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct EnclaveEntry {
    pub quote: SignedQuote,
    /// Whether a wrapped consortium secret was delivered (or it was provisioned at genesis).
    pub provisioned: bool,
    pub registered_at: u64,
}

/// Enclave registry calls.
///
/// Encoding: borsh, a `u8` variant index in declaration order (first variant = 0), then the variant's
/// fields (`docs/encoding.md`). The order is part of the signed format: new variants are appended
/// at the end, none is ever removed or reordered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// Registers an enclave by its signed quote.
    Register { quote: SignedQuote },
    /// Delivers the consortium secret, wrapped to a registered enclave's quote.
    Provision { wrapped: WrappedSecret },
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
        }
    }
}

impl Refusal for Error {
    fn code(&self) -> u32 {
        Error::code(self)
    }
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

fn verify<R: StateReader>(
    ov: &Overlay<'_, R>,
    cfg: &EnclaveConfig,
    chain_id: &crate::primitives::ids::ChainId,
    quote: &SignedQuote,
) -> Result<(), CallError> {
    let allowed = allowed(ov)?;
    let revoked = revoked(ov)?;
    QuotePolicy {
        root: &cfg.attestation_root,
        allowed: &allowed,
        revoked: &revoked,
        chain_id,
        allow_debug: cfg.allow_debug,
    }
    .verify(quote)
    .map_err(|e| CallError::from(Error::Quote(e.to_string())))
}

fn insert<R: StateReader>(ov: &mut Overlay<'_, R>, entry: EnclaveEntry) -> Result<(), CallError> {
    let signer = entry.quote.quote.signer;
    let mut signers: Vec<PublicKey> = get_decoded(ov, ENCLAVES_KEY)?.unwrap_or_default();
    match signers.binary_search(&signer) {
        Ok(_) => return Err(Error::AlreadyRegistered(signer).into()),
        Err(pos) => {
            if signers.len() >= MAX_ENCLAVES {
                return Err(Error::TooMany.into());
            }
            signers.insert(pos, signer);
        }
    }
    put_encoded(ov, ENCLAVES_KEY.to_vec(), &signers);
    put_encoded(ov, enclave_key(&signer), &entry);
    Ok(())
}

/// Writes the genesis enclave section (quotes verified like any registration).
pub(crate) fn write_genesis<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    chain_id: &crate::primitives::ids::ChainId,
    g: &EnclaveGenesis,
) -> Result<(), String> {
    let cfg = EnclaveConfig {
        attestation_root: g.attestation_root,
        consortium_public: g.consortium_public,
        allow_debug: g.allow_debug,
    };
    put_encoded(ov, CONFIG_KEY.to_vec(), &cfg);
    let mut measurements = g.measurements.clone();
    measurements.sort();
    measurements.dedup();
    put_encoded(ov, ALLOWED_KEY.to_vec(), &measurements);
    for quote in &g.enclaves {
        verify(ov, &cfg, chain_id, quote).map_err(|e| format!("genesis enclave: {e:?}"))?;
        insert(
            ov,
            EnclaveEntry {
                quote: quote.clone(),
                provisioned: true,
                registered_at: 0,
            },
        )
        .map_err(|e| format!("genesis enclave: {e:?}"))?;
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

/// Governance: revoke a measurement (registered enclaves of it stop being trusted by clients,
/// and no new one registers).
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

/// Runs an enclave registry call.
pub(crate) fn execute<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: &Context,
    chain_id: &crate::primitives::ids::ChainId,
    call: &Call,
) -> Result<Vec<Event>, CallError> {
    let cfg = config(ov)?.ok_or(Error::NotConfigured)?;
    match call {
        Call::Register { quote } => {
            verify(ov, &cfg, chain_id, quote)?;
            insert(
                ov,
                EnclaveEntry {
                    quote: quote.clone(),
                    provisioned: false,
                    registered_at: ctx.height,
                },
            )?;
            Ok(vec![Event::new("enclave_registered")
                .with("signer", quote.quote.signer.to_hex())
                .with("measurement", quote.quote.measurement.to_string())])
        }
        Call::Provision { wrapped } => {
            if wrapped.consortium_public != cfg.consortium_public {
                return Err(Error::WrongConsortiumKey {
                    expected: hex::encode(cfg.consortium_public.0),
                    got: hex::encode(wrapped.consortium_public.0),
                }
                .into());
            }
            let mut entry = enclaves(ov)?
                .into_iter()
                .find(|e| e.quote.quote.hash() == wrapped.recipient_quote_hash)
                .ok_or(Error::UnknownRecipient)?;
            let signer = entry.quote.quote.signer;
            if entry.provisioned {
                return Err(Error::AlreadyProvisioned(signer).into());
            }
            entry.provisioned = true;
            put_encoded(ov, enclave_key(&signer), &entry);
            put_encoded(ov, wrapped_key(&signer), wrapped);
            Ok(vec![
                Event::new("enclave_provisioned").with("signer", signer.to_hex())
            ])
        }
    }
}
