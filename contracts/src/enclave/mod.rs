//! The simulated trusted enclave: attestation, provisioning, sealing and requester-scoped answers.
//!
//! Only the hardware is simulated: a per-machine device secret stands for the CPU's fused key, and the
//! device attestation key derived from it is certified once by the vendor's attestation root
//! (`paychain-vendor`, whose private key stays with the vendor; genesis holds its public key). Every check
//! runs for real. See `docs/trust-model.md`. Pure: keys and
//! nonces come from the caller, files are read and written by the node.
//!
//! # Files
//!
//! - [`measurement`]: SHA-256 over the enclave's code identity and version.
//! - [`quote`]: quotes signed by the certified device key, [`DeviceCert`], [`verify_quote`]
//!   (deterministic, run by every validator).
//! - [`epoch`]: one consortium secret per epoch ([`KeyRing`]), each platform's record key derived
//!   from it, and the rotation to a new epoch ([`Enclave::start_epoch`], [`Enclave::adopt_epoch`]).
//! - [`records`]: acquiring records sealed to their platform's record key of an epoch
//!   ([`seal_record`], client side).
//! - [`provision`]: every epoch's consortium secret wrapped to an attested enclave ([`wrap_secret`]).
//! - [`seal`]: the consortium secrets sealed to disk under (device secret, measurement).
//! - [`query`]: signed lookups, enclave-signed answers, [`verify_answer`] / [`open_answer`] (client side),
//!   and why a lookup is valid once, at one enclave, for a while.
//! - [`audit`]: the hash-chained audit trail of lookups a platform reads with its key.
//! - `crate::grants` (above the contracts, measured with this folder): whom a lookup is answered
//!   to, decided from committed state the enclave verifies itself (a commit certificate against its
//!   trusted validator set, and state proofs); `grants::answer` is the way into a lookup's answer.
//! - `kx`: X25519 keys and the one box construction (X25519 → HKDF-SHA256 → AES-256-GCM) used by all.
//!
//! # Flow
//!
//! ```text
//! genesis:   bootstrap(seed) ─► consortium public key in genesis; wrap_secret to each genesis enclave's quote
//! vendor:    paychain-vendor certify (device key) ─► DeviceCert, once per machine
//! node boot: Enclave::new(device secret, config, sealed blob from disk?) ─► signed_quote(device cert)
//!            ─► register tx
//! provision: a provisioned enclave: provision_for(new quote, policy) ─► SignedProvision (its signer's
//!            signature) ─► tx ─► new enclave: provision(wrapped)
//!            ─► sealed_blob(nonce) ─► node writes it to disk (a restart of the same build unseals it)
//! records:   client seal_record(plaintext, platform key of the epoch, merchant, platform, version) ─► chain
//! rotation:  governance RotateEnclaveEpoch ─► a serving enclave: start_epoch (secret made inside, wrapped
//!            to every serving enclave, platform keys signed) ─► StartEpoch tx ─► each enclave adopt_epoch
//! lookups:   client SignedLookup ─► node: StateEvidence (commit certificate of block H, state proofs of
//!            every key the decision reads) ─► grants::answer(enclave, lookup, evidence): certificate, proofs,
//!            role and records derived inside ─► SignedAnswer ─► client verify_answer + open_answer
//! ```
//!
//! No method of [`Enclave`] returns the consortium secret, a seal key or a record's plaintext; plaintext
//! leaves only boxed to a requester's reply key.

use std::fmt;
use std::sync::Mutex;

use zeroize::{ZeroizeOnDrop, Zeroizing};

pub mod audit;
pub mod epoch;
pub mod measurement;
pub mod provision;
pub mod query;
pub mod quote;
pub mod records;
pub mod seal;

pub(crate) mod kx;

// The box construction, for the signed reads' sealed answers (`crate::reads`).
pub use epoch::{
    platform_public, EpochError, EpochStart, KeyRing, PlatformKey, SignedEpochStart,
    SignedPlatformKey,
};
pub(crate) use kx::{box_open, box_seal};
pub use kx::{
    BoxError, BoxRandomness, ConsortiumSecret, KxPublicKey, KxSecret, SealedBox, NONCE_LEN, TAG_LEN,
};
pub use measurement::{
    Measurement, ENCLAVE_CODE_HASH, ENCLAVE_CODE_ID, ENCLAVE_SECURITY_VERSION, ENCLAVE_VERSION,
};
pub use provision::{wrap_secret, ProvisionError, SignedProvision, WrappedSecret};
pub use query::{
    open_answer, verify_answer, AnsweredRecord, LookupAnswer, LookupRequest, QueryError,
    ReplayGuard, SignedAnswer, SignedLookup,
};
pub use quote::{
    report_data, verify_quote, DeviceCert, Quote, QuoteError, QuotePolicy, SignedQuote,
};
pub use records::{ciphertext_hash, seal_record, RecordError, RecordKey, SealedRecord};
pub use seal::{SealError, SealedBlob};

use crate::chain::validators::GenesisValidator;
use crate::primitives::crypto::{Hash, PublicKey, SecretKey};
use crate::primitives::ids::{ChainId, PlatformId};

/// Record keys an enclave keeps (about 100 bytes each).
pub const RECORD_KEY_CACHE: usize = 16_384;

/// Default replay window of lookups, in blocks.
pub const DEFAULT_LOOKUP_WINDOW: u64 = 100;
/// Default number of answered lookups remembered within the window.
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

const IDENTITY_DOMAIN: &[u8] = b"paychain/enclave/identity/v1";
const DEVICE_KEY_DOMAIN: &[u8] = b"paychain/device/attestation-key/v1";

/// The device attestation key of the machine whose fused secret is `device_secret`: what the simulated CPU
/// derives, independent of which enclave build runs, so the vendor certifies it once per machine.
pub fn device_attestation_key(device_secret: &[u8; 32]) -> Result<SecretKey, EnclaveError> {
    let seed = kx::hkdf32(DEVICE_KEY_DOMAIN, device_secret, &[DEVICE_KEY_DOMAIN])
        .map_err(|_| EnclaveError::Kdf)?;
    Ok(SecretKey::from_seed(*seed))
}
const PLATFORM_BINDING_DOMAIN: &[u8] = b"paychain/enclave/platform-binding/v1";

/// The bytes an enclave signs to say it serves `platform` on `chain_id`:
/// `domain ‖ len ‖ chain id ‖ len ‖ platform id`. A registration carries this signature, so a
/// platform cannot register (and so own) another platform's enclave by copying its quote.
pub fn platform_binding_bytes(chain_id: &ChainId, platform: &PlatformId) -> Vec<u8> {
    let mut out = PLATFORM_BINDING_DOMAIN.to_vec();
    kx::put_lp(&mut out, chain_id.as_str().as_bytes());
    kx::put_lp(&mut out, platform.as_str().as_bytes());
    out
}

/// Why the enclave refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnclaveError {
    /// The enclave holds no consortium secret yet.
    #[error("enclave is not provisioned with the consortium secret")]
    NotProvisioned,
    /// The certified state gives the requester no role at the requested platform.
    #[error("requester {requester} has no role at platform {platform}")]
    NoRole {
        /// The requester.
        requester: PublicKey,
        /// The platform it named.
        platform: PlatformId,
    },
    /// More records than [`query::MAX_RECORDS_PER_MERCHANT`] were passed for one merchant.
    #[error("{0} records for one merchant exceed the limit")]
    TooManyRecords(usize),
    /// Two records were passed for the same platform.
    #[error("two records for platform {0}")]
    DuplicateRecord(PlatformId),
    /// A quote was refused.
    #[error(transparent)]
    Quote(#[from] QuoteError),
    /// The device certificate offered for signing quotes is for another machine's key.
    #[error(
        "the device certificate is for device key {certified}, this machine's key is {actual}"
    )]
    WrongDevice {
        /// The key the certificate names.
        certified: PublicKey,
        /// This machine's device key.
        actual: PublicKey,
    },
    /// Sealing or unsealing failed.
    #[error(transparent)]
    Seal(#[from] SealError),
    /// Provisioning failed.
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    /// A record failed to open.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// A lookup was refused.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// Key derivation failed.
    #[error("enclave key derivation failed")]
    Kdf,
    /// An epoch's secret is missing, conflicting or out of order.
    #[error(transparent)]
    Epoch(#[from] EpochError),
    /// Executing a block of private state failed (its state did not open or was not supplied).
    #[error("private execution: {0}")]
    Execution(String),
}

/// The build and chain an enclave runs as.
///
/// On hardware the CPU computes the measurement; here the host passes it, so that tests can run "another
/// build". Nodes use [`EnclaveConfig::new`], which is this build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnclaveConfig {
    /// The chain served.
    pub chain_id: ChainId,
    /// The build's measurement.
    pub measurement: Measurement,
    /// The build's security version.
    pub security_version: u32,
    /// Debug mode (accepted only on chains that allow debug quotes).
    pub debug: bool,
    /// How old a lookup may be, in blocks.
    pub lookup_window: u64,
    /// How many answered lookups are remembered for replay protection.
    pub replay_capacity: usize,
    /// The validator set whose commit certificates the enclave trusts (the genesis set; empty:
    /// every lookup is refused). On hardware it is part of what the enclave is started with.
    pub validators: Vec<GenesisValidator>,
}

impl EnclaveConfig {
    /// This build ([`Measurement::current`], [`ENCLAVE_SECURITY_VERSION`], not debug) on `chain_id`.
    pub fn new(chain_id: ChainId) -> EnclaveConfig {
        EnclaveConfig {
            chain_id,
            measurement: Measurement::current(),
            security_version: ENCLAVE_SECURITY_VERSION,
            debug: false,
            lookup_window: DEFAULT_LOOKUP_WINDOW,
            replay_capacity: DEFAULT_REPLAY_CAPACITY,
            validators: Vec::new(),
        }
    }

    /// This config, trusting commits of `validators`.
    pub fn with_validators(mut self, validators: Vec<GenesisValidator>) -> EnclaveConfig {
        self.validators = validators;
        self
    }
}

/// Who may look up a platform's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequesterRole {
    /// The platform's own key.
    Platform,
    /// A user hosted by the platform, or a dependant paying from a guardian's wallet it hosts.
    HostedUser,
}

/// One platform's sealed record for the merchant looked up, as stored on chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// The platform that stored it.
    pub platform_id: PlatformId,
    /// Its version.
    pub version: u64,
    /// The ciphertext.
    pub sealed: SealedRecord,
}

/// The in-node enclave. Secrets are zeroized on drop; `Debug` prints only public facts.
pub struct Enclave {
    config: EnclaveConfig,
    /// The machine's attestation key (the simulated CPU's, see [`device_attestation_key`]).
    device: SecretKey,
    signer: SecretKey,
    kx: KxSecret,
    seal_key: seal::SealKey,
    /// The consortium secrets of the epochs this enclave holds (`None`: not provisioned).
    ring: Option<KeyRing>,
    /// The only state a lookup changes: held just long enough to reserve the request, so answers
    /// (signature check, decryption, re-encryption, signing) run in parallel.
    replay: Mutex<ReplayGuard>,
    /// Keys of records opened before (see [`records::RecordKeys`]).
    record_keys: records::RecordKeys,
    /// The newest block height whose evidence verified, and that block's hash (its commit is not
    /// checked again).
    certified: Mutex<(u64, Hash)>,
}

// Every secret field zeroizes itself on drop (`SecretKey`, `KxSecret`, `SealKey`'s `Zeroizing` key,
// `KeyRing`'s `ConsortiumSecret`s).
impl ZeroizeOnDrop for Enclave {}

impl fmt::Debug for Enclave {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Enclave")
            .field("chain_id", &self.config.chain_id)
            .field("measurement", &self.config.measurement)
            .field("signer", &self.signer.public_key())
            .field("kx_public", &self.kx.public_key())
            .field("consortium_public", &self.consortium_public())
            .field("epoch", &self.current_epoch())
            .finish_non_exhaustive()
    }
}

/// The testnet generator as bootstrap enclave: the consortium secret from 32 random bytes, and its public
/// key for genesis. Wrap the secret to each genesis enclave with [`wrap_secret`], then drop it.
pub fn bootstrap(seed: [u8; 32]) -> (ConsortiumSecret, KxPublicKey) {
    let secret = ConsortiumSecret::from_bytes(seed);
    let public = secret.public_key();
    (secret, public)
}

impl Enclave {
    /// Starts the enclave on the device whose secret is `device_secret` (32 random bytes the node keeps in
    /// its home, standing in for the CPU's fused key), unsealing `sealed` if the node has a blob on disk.
    ///
    /// The signing and key-exchange keys are derived from the device secret, the measurement and the chain
    /// id, so a restart of the same build keeps the identity (and the registered quote); another build gets
    /// other keys and must register and be provisioned again.
    pub fn new(
        device_secret: &[u8; 32],
        config: EnclaveConfig,
        sealed: Option<&SealedBlob>,
    ) -> Result<Enclave, EnclaveError> {
        let m = config.measurement.0 .0;
        let mut chain = Vec::new();
        kx::put_lp(&mut chain, config.chain_id.as_str().as_bytes());
        let derive = |label: &[u8]| {
            kx::hkdf32(
                IDENTITY_DOMAIN,
                device_secret,
                &[IDENTITY_DOMAIN, label, &m, &chain],
            )
            .map_err(|_| EnclaveError::Kdf)
        };
        let device = device_attestation_key(device_secret)?;
        let signer = SecretKey::from_seed(*derive(b"signer")?);
        let kx = KxSecret::from_seed(*derive(b"kx")?);
        let seal_key = seal::seal_key(device_secret, &config.measurement)?;
        let ring = match sealed {
            Some(blob) => Some(seal::unseal(blob, &seal_key)?),
            None => None,
        };
        let replay = Mutex::new(ReplayGuard::new(
            config.lookup_window,
            config.replay_capacity,
        ));
        Ok(Enclave {
            config,
            device,
            signer,
            kx,
            seal_key,
            ring,
            replay,
            record_keys: records::RecordKeys::new(RECORD_KEY_CACHE),
            certified: Mutex::new((0, Hash::ZERO)),
        })
    }

    /// The build's measurement.
    pub fn measurement(&self) -> Measurement {
        self.config.measurement
    }

    /// The key that signs answers.
    pub fn signer(&self) -> PublicKey {
        self.signer.public_key()
    }

    /// The key the consortium secret is wrapped to.
    pub fn kx_public(&self) -> KxPublicKey {
        self.kx.public_key()
    }

    /// The genesis (epoch 0) consortium public key, once provisioned with it.
    pub fn consortium_public(&self) -> Option<KxPublicKey> {
        self.ring
            .as_ref()
            .and_then(|r| r.get(0))
            .map(ConsortiumSecret::public_key)
    }

    /// The newest epoch whose secret the enclave holds, and that secret's public key.
    pub fn current_epoch(&self) -> Option<(u64, KxPublicKey)> {
        self.ring
            .as_ref()
            .and_then(KeyRing::current)
            .map(|(e, s)| (e, s.public_key()))
    }

    /// Whether the enclave holds the consortium secret.
    pub fn is_provisioned(&self) -> bool {
        self.ring.is_some()
    }

    /// This machine's device attestation key, for the vendor to certify (`paychain-vendor certify`).
    pub fn device_key(&self) -> PublicKey {
        self.device.public_key()
    }

    /// This enclave's quote signed by the machine's device key, carrying the vendor's certificate of that
    /// key; refused if `cert` certifies another machine.
    pub fn signed_quote(&self, cert: &DeviceCert) -> Result<SignedQuote, EnclaveError> {
        let actual = self.device_key();
        if cert.device_key != actual {
            return Err(EnclaveError::WrongDevice {
                certified: cert.device_key,
                actual,
            });
        }
        Ok(self.quote().attest(&self.device, cert.clone()))
    }

    /// What the vendor and this enclave do together: certify this machine's device key with `root` and
    /// sign the quote. Only the genesis generator (which plays the vendor for a test network's first
    /// machines, and keeps the root out of every node home) and tests hold a root.
    pub fn certified_quote(&self, root: &SecretKey) -> SignedQuote {
        self.quote()
            .attest(&self.device, DeviceCert::issue(root, self.device_key()))
    }

    /// This enclave's quote (unsigned); [`Enclave::signed_quote`] is what a node registers.
    pub fn quote(&self) -> Quote {
        let signer = self.signer();
        let kx_public = self.kx_public();
        Quote {
            measurement: self.config.measurement,
            signer,
            kx_public,
            security_version: self.config.security_version,
            debug: self.config.debug,
            report_data: report_data(&signer, &kx_public, &self.config.chain_id),
            chain_id: self.config.chain_id.clone(),
            simulated: true,
        }
    }

    /// This enclave's signature saying it serves `platform` (see [`platform_binding_bytes`]); the
    /// platform's registration carries it.
    pub fn platform_binding(&self, platform: &PlatformId) -> crate::primitives::crypto::Signature {
        self.signer
            .sign(&platform_binding_bytes(&self.config.chain_id, platform))
    }

    /// Takes the consortium secrets (every epoch's) from a [`WrappedSecret`] addressed to this
    /// enclave's quote. The genesis epoch's secret must match `genesis_consortium_public`.
    /// Provisioning again with the same secrets is a no-op.
    pub fn provision(
        &mut self,
        wrapped: &WrappedSecret,
        genesis_consortium_public: &KxPublicKey,
    ) -> Result<(), EnclaveError> {
        let ring = provision::unwrap_secret(&self.kx, &self.quote(), wrapped)?;
        let genesis = ring.get(0).map(ConsortiumSecret::public_key);
        if genesis != Some(*genesis_consortium_public) {
            return Err(ProvisionError::SecretMismatch {
                expected: *genesis_consortium_public,
                got: genesis.unwrap_or(wrapped.consortium_public),
            }
            .into());
        }
        match &mut self.ring {
            Some(held) => held.merge(&ring)?,
            None => self.ring = Some(ring),
        }
        Ok(())
    }

    /// Adopts the next epoch's secret from a wrap of an [`EpochStart`] the chain accepted, addressed
    /// to this enclave: it must hold exactly `epoch`, whose public key is `expected_public` (from the
    /// committed start). Adopting it again is a no-op.
    pub fn adopt_epoch(
        &mut self,
        wrapped: &WrappedSecret,
        epoch: u64,
        expected_public: &KxPublicKey,
    ) -> Result<(), EnclaveError> {
        if self.ring.is_none() {
            return Err(EnclaveError::NotProvisioned);
        }
        let ring = provision::unwrap_secret(&self.kx, &self.quote(), wrapped)?;
        if ring.epochs() != [epoch] || &wrapped.consortium_public != expected_public {
            return Err(ProvisionError::SecretMismatch {
                expected: *expected_public,
                got: wrapped.consortium_public,
            }
            .into());
        }
        if let Some(held) = self.ring.as_mut() {
            held.merge(&ring)?;
        }
        Ok(())
    }

    /// Creates the next epoch inside the enclave: its secret from the current one and the host's
    /// `entropy` (the host learns nothing of it), the record key of each of `platforms`, signed, and
    /// the secret wrapped to each of `recipients` (every serving enclave, this one included) after
    /// verifying its quote under `policy`. `rand` gives each wrap its randomness.
    pub fn start_epoch(
        &self,
        epoch: u64,
        platforms: &[PlatformId],
        recipients: &[SignedQuote],
        policy: &QuotePolicy<'_>,
        entropy: &[u8; 32],
        mut rand: impl FnMut() -> BoxRandomness,
    ) -> Result<SignedEpochStart, EnclaveError> {
        let ring = self.ring.as_ref().ok_or(EnclaveError::NotProvisioned)?;
        let (current, secret) = ring.current().ok_or(EnclaveError::NotProvisioned)?;
        if Some(epoch) != current.checked_add(1) {
            return Err(EpochError::NotNext {
                current,
                got: epoch,
            }
            .into());
        }
        let next = epoch::next_secret(secret, epoch, entropy)?;
        let mut platform_keys = Vec::with_capacity(platforms.len());
        let mut sorted: Vec<&PlatformId> = platforms.iter().collect();
        sorted.sort();
        sorted.dedup();
        for platform in sorted {
            let public = platform_public(&next, &self.config.chain_id, epoch, platform)?;
            platform_keys.push(SignedPlatformKey::sign(
                &self.config.chain_id,
                &self.signer,
                PlatformKey {
                    epoch,
                    platform_id: platform.clone(),
                    public,
                },
            ));
        }
        let single = KeyRing::single(epoch, next.clone());
        let mut wraps = Vec::with_capacity(recipients.len());
        for quote in recipients {
            policy.verify(quote)?;
            wraps.push(provision::wrap_ring(&single, &quote.quote, &rand())?);
        }
        let start = EpochStart {
            epoch,
            consortium_public: next.public_key(),
            platform_keys,
            wraps,
        };
        Ok(SignedEpochStart::sign(
            &self.config.chain_id,
            &self.signer,
            start,
        ))
    }

    /// `platform`'s record key in this enclave's current epoch, signed: what a serving enclave
    /// publishes for a platform admitted after the epoch began.
    pub fn platform_key(&self, platform: &PlatformId) -> Result<SignedPlatformKey, EnclaveError> {
        let ring = self.ring.as_ref().ok_or(EnclaveError::NotProvisioned)?;
        let (epoch, secret) = ring.current().ok_or(EnclaveError::NotProvisioned)?;
        let public = platform_public(secret, &self.config.chain_id, epoch, platform)?;
        Ok(SignedPlatformKey::sign(
            &self.config.chain_id,
            &self.signer,
            PlatformKey {
                epoch,
                platform_id: platform.clone(),
                public,
            },
        ))
    }

    /// The consortium secrets sealed to this device and build, for the node to write to disk.
    pub fn sealed_blob(&self, nonce: [u8; NONCE_LEN]) -> Result<SealedBlob, EnclaveError> {
        let ring = self.ring.as_ref().ok_or(EnclaveError::NotProvisioned)?;
        Ok(seal::seal(ring, &self.seal_key, nonce)?)
    }

    /// [`Enclave::wrap_for`], signed by this enclave's signer key: what the chain accepts as a
    /// provisioning (see [`SignedProvision`]).
    pub fn provision_for(
        &self,
        peer: &SignedQuote,
        policy: &QuotePolicy<'_>,
        rand: &BoxRandomness,
    ) -> Result<SignedProvision, EnclaveError> {
        let wrapped = self.wrap_for(peer, policy, rand)?;
        Ok(SignedProvision::sign(
            &self.config.chain_id,
            &self.signer,
            wrapped,
        ))
    }

    /// Wraps the consortium secrets of every epoch held to another enclave, after verifying its
    /// quote under `policy`.
    pub fn wrap_for(
        &self,
        peer: &SignedQuote,
        policy: &QuotePolicy<'_>,
        rand: &BoxRandomness,
    ) -> Result<WrappedSecret, EnclaveError> {
        let ring = self.ring.as_ref().ok_or(EnclaveError::NotProvisioned)?;
        policy.verify(peer)?;
        Ok(provision::wrap_ring(ring, &peer.quote, rand)?)
    }

    /// The newest certified height whose evidence verified, and that block's hash.
    pub(crate) fn certified(&self) -> (u64, Hash) {
        *self.certified_lock()
    }

    /// Remembers that block `height` (hashed `block_hash`) verified, if it is the newest.
    pub(crate) fn note_certified(&self, height: u64, block_hash: Hash) {
        let mut certified = self.certified_lock();
        if height > certified.0 {
            *certified = (height, block_hash);
        }
    }

    /// The chain served.
    pub(crate) fn chain_id(&self) -> &ChainId {
        &self.config.chain_id
    }

    /// The validator set whose commits the enclave trusts.
    pub(crate) fn trusted_validators(&self) -> &[GenesisValidator] {
        &self.config.validators
    }

    fn certified_lock(&self) -> std::sync::MutexGuard<'_, (u64, Hash)> {
        // One assignment of a pair: a panic elsewhere cannot leave it half-updated.
        self.certified.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `grants::answer` with the role and records given rather than proven: the lookup tests of
    /// the record paths.
    #[cfg(test)]
    pub(crate) fn answer_unproven(
        &self,
        lookup: &SignedLookup,
        role: Option<RequesterRole>,
        records: &[StoredRecord],
        height: u64,
        rand: &BoxRandomness,
    ) -> Result<SignedAnswer, EnclaveError> {
        lookup.verify_signature()?;
        self.check_addressed(&lookup.request)?;
        self.answer_decided(lookup, role, records, height, rand)
    }

    /// The answer, once the lookup's signature and address are checked and its role and records
    /// established (by `crate::grants::answer`, from proven state), at `height`.
    pub(crate) fn answer_decided(
        &self,
        lookup: &SignedLookup,
        role: Option<RequesterRole>,
        records: &[StoredRecord],
        height: u64,
        rand: &BoxRandomness,
    ) -> Result<SignedAnswer, EnclaveError> {
        let request = &lookup.request;
        if role.is_none() {
            return Err(EnclaveError::NoRole {
                requester: request.requester,
                platform: request.platform_id.clone(),
            });
        }
        let ring = self.ring.as_ref().ok_or(EnclaveError::NotProvisioned)?;
        let request_hash = request.hash();
        // Reserve the request before the work, so a concurrent copy of it is refused as a replay;
        // give the reservation back if no answer comes out, so the payer can simply retry.
        self.replay_guard()
            .reserve(request, &request_hash, height)?;
        let answer = self.build_answer(request, &request_hash, ring, records, height, rand);
        if answer.is_err() {
            self.replay_guard().release(request, &request_hash);
        }
        answer
    }

    /// The chain and the enclave the request names must be this enclave's.
    pub(crate) fn check_addressed(&self, request: &LookupRequest) -> Result<(), QueryError> {
        if request.chain_id != self.config.chain_id {
            return Err(QueryError::WrongChain {
                expected: self.config.chain_id.clone(),
                got: request.chain_id.clone(),
            });
        }
        let this = self.signer();
        if request.enclave != this {
            return Err(QueryError::WrongEnclave {
                addressed: request.enclave,
                this,
            });
        }
        Ok(())
    }

    /// What [`Enclave::answer`] would say of `request` (hashed `hash`) at `height` before opening
    /// anything: chain, addressed enclave, window, replay. Reserves nothing, so the node can refuse
    /// a stale, misaddressed or replayed lookup before it counts it against the requester's rate
    /// or writes an audit entry. The signature is the caller's to check.
    pub fn precheck(
        &self,
        request: &LookupRequest,
        hash: &Hash,
        height: u64,
    ) -> Result<(), QueryError> {
        self.check_addressed(request)?;
        self.replay_guard().check(request, hash, height)
    }

    /// Remembers a lookup answered before a restart (the node keeps their hashes on disk).
    pub fn remember_answered(&self, issued_at: u64, hash: &Hash) {
        self.replay_guard().remember(issued_at, hash);
    }

    /// The epoch-0 consortium secret: the root of the private state keys
    /// ([`crate::confidential`]); never leaves the enclave's own code.
    pub(crate) fn state_root(&self) -> Option<Zeroizing<[u8; 32]>> {
        self.ring.as_ref()?.get(0).map(ConsortiumSecret::expose)
    }

    /// How many blocks old a lookup may be.
    pub fn lookup_window(&self) -> u64 {
        self.config.lookup_window
    }

    fn replay_guard(&self) -> std::sync::MutexGuard<'_, ReplayGuard> {
        // Every guard update is a single set operation, so a panic elsewhere cannot leave it
        // half-updated: poisoning is ignored.
        self.replay.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn build_answer(
        &self,
        request: &LookupRequest,
        request_hash: &Hash,
        ring: &KeyRing,
        records: &[StoredRecord],
        height: u64,
        rand: &BoxRandomness,
    ) -> Result<SignedAnswer, EnclaveError> {
        let request_hash = *request_hash;
        if records.len() > query::MAX_RECORDS_PER_MERCHANT {
            return Err(EnclaveError::TooManyRecords(records.len()));
        }

        let mut own = None;
        let mut others = std::collections::BTreeSet::new();
        for r in records {
            if r.platform_id == request.platform_id {
                if own.replace(r).is_some() {
                    return Err(EnclaveError::DuplicateRecord(r.platform_id.clone()));
                }
            } else if !others.insert(r.platform_id.clone()) {
                return Err(EnclaveError::DuplicateRecord(r.platform_id.clone()));
            }
        }
        let record = match own {
            None => None,
            Some(r) => {
                let epoch = r.sealed.epoch;
                let consortium = ring.get(epoch).ok_or(EpochError::UnknownEpoch(epoch))?;
                let platform_secret = epoch::platform_secret(
                    consortium,
                    &self.config.chain_id,
                    epoch,
                    &request.platform_id,
                )?;
                let plaintext = self.record_keys.open(
                    &platform_secret,
                    &r.sealed,
                    &request.merchant_id,
                    &request.platform_id,
                    r.version,
                )?;
                Some(query::reencrypt(
                    request,
                    &request_hash,
                    r.version,
                    r.sealed.hash(),
                    &plaintext,
                    rand,
                )?)
            }
        };
        let answer = LookupAnswer {
            chain_id: self.config.chain_id.clone(),
            request_hash,
            merchant_id: request.merchant_id.clone(),
            platform_id: request.platform_id.clone(),
            record,
            height,
            measurement: self.config.measurement,
            other_platforms: others.into_iter().collect(),
        };
        let signature = self.signer.sign(&answer.sign_bytes());
        Ok(SignedAnswer { answer, signature })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
