//! Client side of the simulated enclave: acquiring records sealed before they are put, and lookups whose
//! answers are verified against the registered, attested enclave before they are opened.
//!
//! ```text
//! record put:  pinned genesis ─► consortium key (or none: chain without enclave, bytes go as they are);
//!              paychain_status, paychain_enclave must match it
//!              proven (crate::proven): governance::member_by_key(sender) ─► platform id,
//!                                      registry::record(merchant, platform) ─► next version
//!              seal_record(plaintext, consortium, merchant, platform, version, OsRng) ─► PutRecord payload
//! lookup:      paychain_status ─► chain id, height     paychain_enclave ─► the node's enclave (its claim)
//!              proven: enclave config = genesis's, enclave_registry::serving(signer) ─► trusted_enclave
//!              LookupRequest { fresh reply key, fresh nonce, enclave = the trusted one's signer }
//!              ─sign─► paychain_lookup ─► SignedAnswer
//!              ─► verify_answer(signer, measurement of the registered quote) ─► open_answer ─► plaintext
//! audit:       paychain_enclave ─► the node's enclave signer    AuditRequest { platform, from_seq, .. }
//!              ─sign (platform key)─► paychain_enclaveAudit ─► pages ─► verify_chain ─► VerifiedAudit
//! ```
//!
//! What is trusted: nothing a node says. Every put and lookup takes a [`Pin`] read from the
//! consortium's genesis file: records are sealed to the genesis consortium key; the sender's
//! platform and the record's version are read from state proven under the genesis validator set
//! ([`crate::proven`]); and the enclave the answering node names is trusted only if that proven
//! state says it serves ([`check_enclave`]: the chain's enclave configuration is genesis's, the
//! enclave is registered, bound to a platform that is a current member, not retired, provisioned,
//! its quote verifies under the genesis attestation root (vendor root ─► device certificate ─►
//! quote) with an allowed, non-revoked measurement at or above the chain's minimum security
//! version). A lookup names that enclave, so no other node can answer (or replay) it.

use paychain_api::ErrorCode;
use paychain_contracts::api::LookupView;
use paychain_contracts::crypto::{Hash, PublicKey, SecretKey};
use paychain_contracts::enclave::audit::{
    verify_chain, AuditAnchor, AuditEntry, AuditError, AuditRequest, MAX_AUDIT_PAGE,
};
use paychain_contracts::enclave::query::LOOKUP_NONCE_LEN;
use paychain_contracts::enclave::{
    open_answer, seal_record, verify_answer, BoxRandomness, KxPublicKey, KxSecret, LookupAnswer,
    LookupRequest, Measurement, PlatformKey, QueryError, RecordError, RecordKey, SealedRecord,
    SignedLookup, NONCE_LEN,
};
use paychain_contracts::enclave_registry::EnclaveConfig;
use paychain_contracts::genesis::{Genesis, GenesisValidator};
use paychain_contracts::ids::{ChainId, MerchantId, PlatformId};
use paychain_contracts::state::{StateError, StateReader};
use paychain_contracts::{enclave_registry, governance, registry};
use rand::RngCore;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::rpc;

/// JSON-RPC code of `paychain_record` when the platform has no record for the merchant.
pub const NO_RECORD_CODE: i32 = ErrorCode::NoRecord.code();

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Talking to the node failed, or it refused (its message is kept).
    #[error(transparent)]
    Rpc(#[from] rpc::Error),
    /// The node cannot say whether the chain seals records: nothing is sent rather than plaintext.
    #[error("cannot tell whether this chain seals records ({0}); nothing was sent (--raw sends the payload as it is)")]
    EnclaveStatusUnknown(String),
    /// A lookup needs an enclave.
    #[error(
        "this chain has no enclave: records are not sealed and cannot be looked up through one"
    )]
    NoEnclave,
    /// The sender of a sealed put is not a consortium member.
    #[error("key {0} is not a platform member: only a platform can put a record")]
    NotAMember(PublicKey),
    /// The plaintext is not a valid acquiring record ([`crate::acquiring`]): nothing is sealed.
    #[error("invalid acquiring record: {0}")]
    Record(#[from] crate::acquiring::Error),
    /// Sealing failed (the record is too large).
    #[error("cannot seal record: {0}")]
    Seal(#[from] RecordError),
    /// The answering node's enclave is not one the chain vouches for.
    #[error("refusing to trust the node's enclave: {0}")]
    Untrusted(String),
    /// The node's chain or enclave keys differ from the pinned genesis.
    #[error("node does not match the pinned genesis: {0}")]
    AnchorMismatch(String),
    /// The genesis file to pin cannot be read.
    #[error("genesis: {0}")]
    Genesis(String),
    /// The answer does not verify or does not open.
    #[error("enclave answer refused: {0}")]
    Answer(#[from] QueryError),
    /// The audit trail the node returned does not verify.
    #[error("audit trail refused: {0}")]
    Audit(#[from] AuditError),
    /// What the node said of committed state is not supported by proofs under the pinned genesis.
    #[error(transparent)]
    Proven(#[from] crate::proven::Error),
}

/// What the client pins from a genesis file instead of believing the node: the chain id, the attestation
/// root and the consortium key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustAnchor {
    /// The chain.
    pub chain_id: ChainId,
    /// The simulated attestation root.
    pub attestation_root: PublicKey,
    /// The consortium enclave key of epoch 0.
    pub consortium_public: KxPublicKey,
    /// Epoch 0's record keys of the genesis platforms.
    pub platform_keys: Vec<PlatformKey>,
}

impl TrustAnchor {
    /// The anchor of a genesis document; `None` when the chain has no enclave.
    pub fn from_genesis(genesis: &Genesis) -> Option<TrustAnchor> {
        genesis.enclave.as_ref().map(|e| TrustAnchor {
            chain_id: genesis.chain_id.clone(),
            attestation_root: e.attestation_root,
            consortium_public: e.consortium_public,
            platform_keys: e.platform_keys.clone(),
        })
    }

    /// Checks that the node's chain id and enclave configuration are the pinned ones.
    pub fn check(&self, chain_id: &ChainId, config: &EnclaveConfig) -> Result<(), Error> {
        if chain_id != &self.chain_id {
            return Err(Error::AnchorMismatch(format!(
                "chain id is {chain_id}, genesis says {}",
                self.chain_id
            )));
        }
        if config.attestation_root != self.attestation_root {
            return Err(Error::AnchorMismatch(format!(
                "attestation root is {}, genesis says {}",
                config.attestation_root, self.attestation_root
            )));
        }
        if config.consortium_public != self.consortium_public {
            return Err(Error::AnchorMismatch(format!(
                "consortium key is {}, genesis says {}",
                config.consortium_public, self.consortium_public
            )));
        }
        Ok(())
    }
}

/// What a client pins from the consortium's genesis file and checks every node against: the chain
/// id, and on a chain with an enclave its [`TrustAnchor`]. Every record put and lookup takes one:
/// the SDK has no way to seal to, or trust an enclave named by, whatever a node says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// The chain.
    pub chain_id: ChainId,
    /// The genesis validator set: what certifies the state the client checks
    /// ([`crate::proven`]).
    pub validators: Vec<GenesisValidator>,
    /// The enclave anchor; `None` when genesis has no enclave (records go as they are).
    pub anchor: Option<TrustAnchor>,
    /// The exec key payment calls are sealed to, on a chain with private state.
    pub exec_public: Option<KxPublicKey>,
}

/// Largest genesis file read (a genesis of hundreds of validators and members is far smaller).
pub const MAX_GENESIS_BYTES: u64 = 4 * 1024 * 1024;

impl crate::proven::Anchor for Pin {
    fn chain_id(&self) -> &ChainId {
        &self.chain_id
    }
    fn validators(&self) -> &[GenesisValidator] {
        &self.validators
    }
}

impl Pin {
    /// The pin of a genesis document.
    pub fn from_genesis(genesis: &Genesis) -> Pin {
        Pin {
            chain_id: genesis.chain_id.clone(),
            validators: genesis.validators.clone(),
            anchor: TrustAnchor::from_genesis(genesis),
            exec_public: genesis.enclave.as_ref().and_then(|e| e.exec_public),
        }
    }

    /// Reads a genesis file (at most [`MAX_GENESIS_BYTES`]) and pins it.
    pub fn load(path: &std::path::Path) -> Result<Pin, Error> {
        use std::io::Read as _;
        let file = std::fs::File::open(path)
            .map_err(|e| Error::Genesis(format!("cannot read {}: {e}", path.display())))?;
        let mut bytes = Vec::new();
        file.take(MAX_GENESIS_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::Genesis(format!("cannot read {}: {e}", path.display())))?;
        if bytes.len() as u64 > MAX_GENESIS_BYTES {
            return Err(Error::Genesis(format!(
                "{} is larger than {MAX_GENESIS_BYTES} bytes",
                path.display()
            )));
        }
        let genesis: Genesis = serde_json::from_slice(&bytes).map_err(|e| {
            Error::Genesis(format!("{} is not a genesis file: {e}", path.display()))
        })?;
        Ok(Pin::from_genesis(&genesis))
    }

    /// Checks that the node behind `client` serves the pinned chain.
    pub fn check_chain(&self, chain_id: &ChainId) -> Result<(), Error> {
        if chain_id != &self.chain_id {
            return Err(Error::AnchorMismatch(format!(
                "chain id is {chain_id}, genesis says {}",
                self.chain_id
            )));
        }
        Ok(())
    }

    /// The enclave anchor, or [`Error::NoEnclave`].
    pub fn enclave(&self) -> Result<&TrustAnchor, Error> {
        self.anchor.as_ref().ok_or(Error::NoEnclave)
    }
}

/// Fresh randomness for one box, from the OS.
pub fn fresh_randomness() -> BoxRandomness {
    let mut ephemeral = [0u8; 32];
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut ephemeral);
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    BoxRandomness::new(ephemeral, nonce)
}

/// How a record put was sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SealedPut {
    /// The platform bound into the ciphertext (the sender's).
    pub platform_id: PlatformId,
    /// The version bound into the ciphertext (the one the chain will give the record).
    pub version: u64,
    /// [`SealedRecord::hash`], which a lookup answer cites.
    pub ciphertext_hash: Hash,
}

/// The payload of a `PutRecord` and, on a chain with an enclave, how it was sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedPut {
    /// What goes on chain.
    pub payload: Vec<u8>,
    /// `None` on a chain without an enclave (the plaintext is the payload).
    pub sealed: Option<SealedPut>,
}

/// Prepares `sender`'s record for `merchant`: checks that `plaintext` is a valid acquiring record
/// ([`crate::acquiring::AcquiringInfo::parse`]), then, on a chain whose pinned genesis has an enclave,
/// seals it to the consortium key **from genesis** (bound to the sender's platform and the record's
/// next version), after checking the node serves that chain with that key; the bytes as they are on
/// a chain without one. A node that reports other keys than genesis gets nothing.
///
/// The sender's platform and the version are read from state proven under the pinned genesis
/// ([`crate::proven`]), not taken on the node's word. The version is that of committed state: a put of
/// the same platform's record still in flight makes this one fail to open later (the AAD names the
/// wrong version), so send one put at a time.
pub async fn prepare_put(
    client: &rpc::Client,
    sender: &PublicKey,
    merchant: &MerchantId,
    plaintext: &[u8],
    pin: &Pin,
) -> Result<PreparedPut, Error> {
    crate::acquiring::AcquiringInfo::parse(plaintext)?;
    let status = client.status().await?;
    let status_height = status.height;
    let chain_id = ChainId::new(status.chain_id);
    pin.check_chain(&chain_id)?;
    let status = client
        .enclave()
        .await
        .map_err(|e| Error::EnclaveStatusUnknown(e.to_string()))?;
    let anchor = match (&pin.anchor, &status.config) {
        (None, None) => {
            return Ok(PreparedPut {
                payload: plaintext.to_vec(),
                sealed: None,
            })
        }
        (None, Some(_)) => {
            return Err(Error::AnchorMismatch(
                "the node reports an enclave, genesis has none".into(),
            ))
        }
        (Some(_), None) => {
            return Err(Error::AnchorMismatch(
                "the node reports no enclave, genesis has one".into(),
            ))
        }
        (Some(anchor), Some(config)) => {
            anchor.check(&chain_id, config)?;
            anchor
        }
    };
    // The sender's platform, its record's current version and the platform's record key of the
    // current epoch, from state proven under the pinned genesis (a node that lies about any of them
    // would make the record unopenable, bind it to another platform, or have it sealed to a key of
    // its choosing).
    let (member, _) = crate::proven::read(client, pin, status_height, |s| {
        // Read ahead what does not depend on the sender's entry, so that one call proves it all.
        enclave_registry::config(s)?;
        enclave_registry::epoch(s)?;
        enclave_registry::policy_lists(s)?;
        let Some(m) = governance::member_by_key(s, sender)? else {
            return Ok(None);
        };
        let current = registry::record(s, merchant, &m.id)?.map(|r| r.version);
        let key = proven_record_key(s, &chain_id, anchor, &m.id)?;
        Ok(Some((m.id, current, key)))
    })
    .await?;
    let (platform_id, current, key) = member.ok_or(Error::NotAMember(*sender))?;
    let key = key?;
    let version = current.map_or(1, |v| v.saturating_add(1));
    let sealed = seal_record(
        plaintext,
        &key,
        merchant,
        &platform_id,
        version,
        &fresh_randomness(),
    )?;
    Ok(PreparedPut {
        payload: sealed.to_bytes(),
        sealed: Some(SealedPut {
            platform_id,
            version,
            ciphertext_hash: sealed.hash(),
        }),
    })
}

/// The record key `platform`'s records are sealed to now, from `state` (proven under the pinned
/// genesis, see [`crate::proven`]): the current epoch's, from genesis (epoch 0 of a genesis platform:
/// it must be the pinned one) or signed by an enclave that serves as the contract decides it
/// ([`enclave_registry::serving`], under the genesis attestation root). A key the node made up,
/// another platform's, or one signed by an enclave that does not serve, is refused. The outer error is
/// a state that does not decode.
pub fn proven_record_key(
    state: &impl StateReader,
    chain_id: &ChainId,
    anchor: &TrustAnchor,
    platform: &PlatformId,
) -> Result<Result<RecordKey, Error>, StateError> {
    let config = enclave_registry::config(state)?;
    let epoch = enclave_registry::epoch(state)?;
    let (Some(config), Some(epoch)) = (config, epoch) else {
        return Ok(Err(Error::AnchorMismatch(
            "the certified state has no enclave configuration, genesis has one".into(),
        )));
    };
    if config.attestation_root != anchor.attestation_root {
        return Ok(Err(Error::AnchorMismatch(format!(
            "attestation root in the certified state is {}, genesis says {}",
            config.attestation_root, anchor.attestation_root
        ))));
    }
    let epoch = epoch.current;
    let Some(entry) = enclave_registry::platform_key(state, epoch, platform)? else {
        return Ok(Err(Error::Untrusted(format!(
            "no record key of platform {platform} is published for epoch {epoch} yet (an enclave publishes it within a few blocks; retry)"
        ))));
    };
    match &entry.attested {
        None => {
            if !anchor.platform_keys.contains(&entry.key) {
                return Ok(Err(Error::AnchorMismatch(format!(
                    "record key {} of platform {platform} in epoch {epoch} is not the one genesis gives",
                    entry.key.public
                ))));
            }
        }
        Some((signer, signature)) => {
            if entry.key.platform_id != *platform
                || entry.key.epoch != epoch
                || signer
                    .verify(&entry.key.sign_bytes(chain_id), signature)
                    .is_err()
            {
                return Ok(Err(Error::Untrusted(format!(
                    "record key of platform {platform} is not signed by enclave {signer}"
                ))));
            }
            if let Err(unfit) = enclave_registry::serving(state, chain_id, signer)? {
                return Ok(Err(Error::Untrusted(format!(
                    "record key of platform {platform} is signed by an enclave that does not serve: {unfit}"
                ))));
            }
        }
    }
    Ok(Ok(RecordKey {
        epoch,
        public: entry.key.public,
    }))
}

/// The enclave a node answers lookups with, once the chain vouches for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TrustedEnclave {
    /// Its answer-signing key (from its registered quote).
    pub signer: PublicKey,
    /// Its measurement (from its registered quote).
    pub measurement: Measurement,
}

/// Decides, from `state` (proven under the pinned genesis, see [`crate::proven`]), whether to
/// trust the enclave `signer` a node says it answers with, running `measurement`: the chain's
/// enclave configuration must be genesis's (`anchor`), and the enclave must serve as the contract
/// decides it ([`enclave_registry::serving`]: registered, bound to a platform that is a current
/// member, not retired, its quote within the chain's policy under the genesis attestation root,
/// provisioned), with the measurement the node claims. The outer error is a state that does not
/// decode; the inner one why the enclave is not trusted.
pub fn check_enclave(
    state: &impl StateReader,
    signer: &PublicKey,
    measurement: &Measurement,
    chain_id: &ChainId,
    anchor: &TrustAnchor,
) -> Result<Result<TrustedEnclave, Error>, StateError> {
    // The reads that do not depend on each other first, so that one call proves them together.
    let config = enclave_registry::config(state)?;
    let entry = enclave_registry::enclave(state, signer)?;
    enclave_registry::policy_lists(state)?;
    if let Some(e) = &entry {
        enclave_registry::is_platform_member(state, &e.platform_id)?;
    }
    let Some(config) = config else {
        return Ok(Err(Error::AnchorMismatch(
            "the certified state has no enclave configuration, genesis has one".into(),
        )));
    };
    if config.attestation_root != anchor.attestation_root {
        return Ok(Err(Error::AnchorMismatch(format!(
            "attestation root in the certified state is {}, genesis says {}",
            config.attestation_root, anchor.attestation_root
        ))));
    }
    if config.consortium_public != anchor.consortium_public {
        return Ok(Err(Error::AnchorMismatch(format!(
            "consortium key in the certified state is {}, genesis says {}",
            config.consortium_public, anchor.consortium_public
        ))));
    }
    let entry = match enclave_registry::serving(state, chain_id, signer)? {
        Ok(entry) => entry,
        Err(unfit) => return Ok(Err(Error::Untrusted(unfit.to_string()))),
    };
    let quote = &entry.quote.quote;
    if quote.measurement != *measurement {
        return Ok(Err(Error::Untrusted(format!(
            "node says its enclave {signer} runs measurement {measurement}, its registered quote says {}",
            quote.measurement
        ))));
    }
    Ok(Ok(TrustedEnclave {
        signer: quote.signer,
        measurement: quote.measurement,
    }))
}

/// The enclave the node behind `client` answers lookups with, once state proven under `pin`
/// vouches for it ([`check_enclave`]), and the height the node reported (a lookup is issued at
/// it). The node's own view of the chain's enclave configuration must match genesis too.
pub async fn trusted_enclave(
    client: &rpc::Client,
    pin: &Pin,
) -> Result<(TrustedEnclave, u64), Error> {
    let anchor = pin.enclave()?;
    let status = client.status().await?;
    let chain_id = ChainId::new(status.chain_id);
    pin.check_chain(&chain_id)?;
    let enclave_status = client.enclave().await?;
    let config = enclave_status.config.as_ref().ok_or_else(|| {
        Error::AnchorMismatch("the node reports no enclave, genesis has one".into())
    })?;
    anchor.check(&chain_id, config)?;
    let node = enclave_status
        .node_enclave
        .as_ref()
        .ok_or_else(|| Error::Untrusted("the node runs no enclave".into()))?;
    let (trusted, proven) = crate::proven::read(client, pin, status.height, |s| {
        check_enclave(s, &node.signer, &node.measurement, &chain_id, anchor)
    })
    .await?;
    let trusted = trusted.map_err(|e| match e {
        Error::Untrusted(why) => Error::Untrusted(format!(
            "{why} (in the state certified by block {})",
            proven.height
        )),
        e => e,
    })?;
    Ok((trusted, status.height))
}

/// A signed lookup and the reply secret its answer opens with.
pub struct PendingLookup {
    /// What is sent to `paychain_lookup`.
    pub signed: SignedLookup,
    reply: KxSecret,
}

impl std::fmt::Debug for PendingLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLookup")
            .field("signed", &self.signed)
            .finish_non_exhaustive()
    }
}

impl PendingLookup {
    /// A lookup of `merchant`'s record as `platform` by `key`, with a fresh reply key and nonce from
    /// the OS, issued at `height` on `chain_id`, to the enclave whose signer key is `enclave` (only
    /// it answers).
    pub fn new(
        key: &SecretKey,
        chain_id: ChainId,
        merchant: MerchantId,
        platform: PlatformId,
        height: u64,
        enclave: PublicKey,
    ) -> PendingLookup {
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(seed.as_mut());
        let reply = KxSecret::from_seed(*seed);
        let mut nonce = [0u8; LOOKUP_NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let request = LookupRequest {
            chain_id,
            merchant_id: merchant,
            platform_id: platform,
            requester: key.public_key(),
            reply_kx_public: reply.public_key(),
            nonce,
            issued_at_height: height,
            enclave,
        };
        PendingLookup {
            signed: request.sign(key),
            reply,
        }
    }

    /// Verifies `answer` came from `enclave` for this request, then opens the record.
    pub fn finish(
        &self,
        answer: &paychain_contracts::enclave::SignedAnswer,
        enclave: &TrustedEnclave,
    ) -> Result<VerifiedLookup, Error> {
        let request = &self.signed.request;
        verify_answer(
            answer,
            &request.hash(),
            &enclave.signer,
            &enclave.measurement,
        )?;
        let a = &answer.answer;
        // The request hash covers these; a signed answer naming others is a broken enclave.
        if a.chain_id != request.chain_id
            || a.merchant_id != request.merchant_id
            || a.platform_id != request.platform_id
        {
            return Err(Error::Answer(QueryError::RequestMismatch {
                expected: request.hash(),
                got: a.request_hash,
            }));
        }
        let plaintext = open_answer(&self.reply, a)?;
        Ok(VerifiedLookup {
            answer: a.clone(),
            plaintext,
            enclave: *enclave,
        })
    }
}

/// A verified, opened answer.
pub struct VerifiedLookup {
    /// The enclave-signed answer.
    pub answer: LookupAnswer,
    /// The requester's platform's record, `None` when it has none for this merchant.
    pub plaintext: Option<Zeroizing<Vec<u8>>>,
    /// The enclave that signed it.
    pub enclave: TrustedEnclave,
}

impl std::fmt::Debug for VerifiedLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedLookup")
            .field("answer", &self.answer)
            .field("plaintext", &self.plaintext.as_ref().map(|p| p.len()))
            .field("enclave", &self.enclave)
            .finish()
    }
}

/// Looks up `merchant`'s record as `platform` with `key` through the node behind `client`: checks the
/// node's enclave is trusted before asking, verifies and opens the answer.
pub async fn lookup(
    client: &rpc::Client,
    key: &SecretKey,
    merchant: &MerchantId,
    platform: &PlatformId,
    pin: &Pin,
) -> Result<VerifiedLookup, Error> {
    let (enclave, height) = trusted_enclave(client, pin).await?;
    lookup_through(
        client,
        key,
        &enclave,
        pin.chain_id.clone(),
        merchant.clone(),
        platform.clone(),
        height,
    )
    .await
}

/// One lookup through `enclave`, already trusted ([`trusted_enclave`]): signs a fresh request issued
/// at `height` (the enclave refuses stale ones), sends it, verifies and opens the answer.
/// [`lookup`] is this after the checks; a client making many lookups checks once and calls this.
pub async fn lookup_through(
    client: &rpc::Client,
    key: &SecretKey,
    enclave: &TrustedEnclave,
    chain_id: ChainId,
    merchant: MerchantId,
    platform: PlatformId,
    height: u64,
) -> Result<VerifiedLookup, Error> {
    let pending = PendingLookup::new(key, chain_id, merchant, platform, height, enclave.signer);
    let LookupView { answer } = client.lookup(&pending.signed).await?;
    pending.finish(&answer, enclave)
}

/// A platform's audit trail on one node, every page fetched and the hash chain checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifiedAudit {
    /// The platform.
    pub platform_id: PlatformId,
    /// The node's enclave the requests were addressed to.
    pub enclave: PublicKey,
    /// Where the kept trail starts (what was pruned before it is summed up by its hash).
    pub anchor: AuditAnchor,
    /// Every kept entry, in order, chained from `anchor`.
    pub entries: Vec<AuditEntry>,
    /// The hash of the last entry (the anchor's when there is none): what a later read must
    /// continue from.
    pub head_hash: Hash,
}

/// A signed audit request of `platform`'s trail by its member `key`, to the enclave `enclave`, from
/// entry `from_seq`, with a fresh nonce from the OS.
pub fn audit_request(
    key: &SecretKey,
    chain_id: ChainId,
    platform: PlatformId,
    enclave: PublicKey,
    from_seq: u64,
    height: u64,
) -> paychain_contracts::enclave::audit::SignedAuditRequest {
    let mut nonce = [0u8; LOOKUP_NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    AuditRequest {
        chain_id,
        platform_id: platform,
        requester: key.public_key(),
        enclave,
        from_seq,
        limit: MAX_AUDIT_PAGE,
        nonce,
        issued_at_height: height,
    }
    .sign(key)
}

/// [`fetch_audit`] of the platform whose member key is `key` (read from the chain): what
/// `paychain enclave audit --key K` prints.
pub async fn fetch_own_audit(
    client: &rpc::Client,
    key: &SecretKey,
) -> Result<VerifiedAudit, Error> {
    let platform = client
        .account(&key.public_key())
        .await?
        .member
        .map(|m| m.id)
        .ok_or(Error::NotAMember(key.public_key()))?;
    fetch_audit(client, key, &platform).await
}

/// Fetches `platform`'s whole audit trail from the node behind `client` with the platform's member
/// `key` (a fresh signed request per page), and verifies it as one unbroken hash chain from the
/// anchor the node reports. Another platform's key is refused by the node.
pub async fn fetch_audit(
    client: &rpc::Client,
    key: &SecretKey,
    platform: &PlatformId,
) -> Result<VerifiedAudit, Error> {
    let status = client.status().await?;
    let chain_id = ChainId::new(status.chain_id);
    let enclave = client
        .enclave()
        .await?
        .node_enclave
        .ok_or(Error::NoEnclave)?
        .signer;
    let mut entries: Vec<AuditEntry> = Vec::new();
    let mut anchor: Option<AuditAnchor> = None;
    let (mut next, mut head) = (0u64, Hash::ZERO);
    loop {
        let page = client
            .enclave_audit(&audit_request(
                key,
                chain_id.clone(),
                platform.clone(),
                enclave,
                next,
                status.height,
            ))
            .await?;
        let a = anchor.get_or_insert_with(|| page.anchor.clone());
        if entries.is_empty() {
            // The first page starts at the anchor (entries before it were pruned).
            next = a.first_seq;
            head = a.prev_hash;
        }
        let (n, h) = verify_chain(platform, next, head, &page.entries)?;
        let got = page.entries.len();
        entries.extend(page.entries);
        (next, head) = (n, h);
        if next > page.next_seq {
            return Err(AuditError::BadHead {
                last: next,
                next: page.next_seq,
            }
            .into());
        }
        if got == 0 || next == page.next_seq {
            break;
        }
    }
    let anchor = anchor.unwrap_or_else(|| AuditAnchor::origin(platform));
    if entries.is_empty() {
        head = anchor.prev_hash;
    }
    Ok(VerifiedAudit {
        platform_id: platform.clone(),
        enclave,
        anchor,
        entries,
        head_hash: head,
    })
}

/// The record as text when it is UTF-8, else as hex.
pub fn display_record(plaintext: &[u8]) -> String {
    match std::str::from_utf8(plaintext) {
        Ok(s) => s.to_owned(),
        Err(_) => hex::encode(plaintext),
    }
}

/// Whether `bytes` decode as a sealed record (what a chain with an enclave stores).
pub fn is_sealed(bytes: &[u8]) -> bool {
    SealedRecord::from_bytes(bytes).is_ok()
}

/// A platform (its member `key`) deregisters one of its enclaves, `signer`: the enclave frees its
/// place among the platform's enclaves and its wrapped consortium secret is deleted from state.
pub async fn deregister(
    client: &rpc::Client,
    key: &SecretKey,
    signer: PublicKey,
    wait: crate::tx::Wait,
) -> Result<crate::tx::Sent, crate::tx::Error> {
    let call = paychain_contracts::tx::Call::Enclave(
        paychain_contracts::enclave_registry::Call::Deregister { signer },
    );
    crate::tx::send(client, key, call, wait).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use paychain_contracts::enclave::{bootstrap, wrap_secret, Enclave, EnclaveConfig as Build};
    use paychain_contracts::enclave_registry::EnclaveEntry;

    struct Fixture {
        chain: ChainId,
        root: SecretKey,
        enclave: Enclave,
        /// The chain's state after genesis: platform-0 (key 7) and its enclave, provisioned.
        store: paychain_contracts::state::MemStore,
        anchor: TrustAnchor,
    }

    /// The validator set of the test chain: key 250 alone.
    fn validators() -> Vec<paychain_contracts::genesis::GenesisValidator> {
        vec![paychain_contracts::genesis::GenesisValidator {
            name: "v0".into(),
            public_key: SecretKey::from_seed([250; 32]).public_key(),
            power: 1,
        }]
    }

    /// A chain in memory whose block 1 registers `merchant_key`'s merchant, puts platform-0's
    /// `sealed` record (platform-0's member key: `platform_key`) and accepts it; the evidence of
    /// that state for `lookup`, certified by block 2's commit.
    fn chain_evidence(
        chain: &ChainId,
        platform_key: &SecretKey,
        merchant_key: &SecretKey,
        sealed: &paychain_contracts::enclave::SealedRecord,
        lookup: &paychain_contracts::enclave::SignedLookup,
    ) -> paychain_contracts::grants::StateEvidence {
        use paychain_contracts::block::{tx_root, Block, Header};
        use paychain_contracts::commit::{vote_sign_bytes, Commit, CommitSignature, PRECOMMIT};
        use paychain_contracts::crypto::Hash;
        use paychain_contracts::genesis::{genesis_state, Genesis};
        use paychain_contracts::governance::{Member, Role};
        use paychain_contracts::registry;
        use paychain_contracts::state::{prove, MemStore};
        use paychain_contracts::tx::{Call, SignedTx, Transaction};

        let platform = PlatformId::new("platform-0").unwrap();
        let genesis = Genesis {
            chain_id: chain.clone(),
            genesis_time_ms: 1_000,
            validators: validators(),
            members: vec![Member {
                id: platform.clone(),
                name: "Platform 0".into(),
                public_key: platform_key.public_key(),
                roles: [Role::Platform].into_iter().collect(),
            }],
            enclave: None,
        };
        let mut store = MemStore::new();
        store.apply(&genesis_state(&genesis).unwrap());
        let tx = |key: &SecretKey, nonce: u64, call: registry::Call| {
            SignedTx::sign(
                Transaction {
                    chain_id: chain.clone(),
                    sender: key.public_key(),
                    nonce,
                    call: Call::Registry(call),
                },
                key,
            )
        };
        let merchant = MerchantId::derive(&merchant_key.public_key());
        let txs = vec![
            tx(
                platform_key,
                0,
                registry::Call::RegisterMerchant {
                    name: "Lookup Noodles".into(),
                    city: "Shanghai".into(),
                    mcc: "5812".into(),
                    country: "CN".into(),
                    merchant_key: merchant_key.public_key(),
                },
            ),
            tx(
                platform_key,
                1,
                registry::Call::PutRecord {
                    merchant_id: merchant,
                    payload: sealed.to_bytes(),
                },
            ),
            tx(
                merchant_key,
                0,
                registry::Call::AcceptAcquirer {
                    platform_id: platform,
                },
            ),
        ];
        let validator = SecretKey::from_seed([250; 32]);
        let block = Block {
            header: Header {
                chain_id: chain.clone(),
                height: 1,
                time_ms: 2_000,
                proposer: validator.public_key(),
                prev_block_hash: Hash::ZERO,
                prev_app_hash: store.app_hash(),
                prev_result_root: Hash::ZERO,
                tx_root: tx_root(&txs),
            },
            txs,
        };
        let out = paychain_contracts::executor::execute_block(&store, &block).unwrap();
        assert!(out.receipts.iter().all(|r| r.is_ok()), "{:?}", out.receipts);
        store.apply(&out.writes);
        let header = Header {
            height: 2,
            time_ms: 3_000,
            prev_block_hash: block.hash(),
            prev_app_hash: store.app_hash(),
            prev_result_root: out.result_root,
            tx_root: tx_root(&[]),
            ..block.header
        };
        let hash = header.hash();
        let commit = Commit {
            height: 2,
            round: 0,
            block_hash: hash,
            signatures: vec![CommitSignature {
                validator: validator.public_key(),
                signature: validator.sign(&vote_sign_bytes(
                    chain,
                    PRECOMMIT,
                    2,
                    0,
                    Some(&hash),
                    &validator.public_key(),
                )),
            }],
        };
        paychain_contracts::grants::build_evidence(&store, &lookup.request, header, commit, |k| {
            prove(&store, k)
        })
        .unwrap()
        .0
    }

    fn platform_key0(
        secret: &paychain_contracts::enclave::ConsortiumSecret,
        chain: &ChainId,
    ) -> PlatformKey {
        let platform = PlatformId::new("platform-0").unwrap();
        PlatformKey {
            epoch: 0,
            public: paychain_contracts::enclave::platform_public(secret, chain, 0, &platform)
                .unwrap(),
            platform_id: platform,
        }
    }

    #[test]
    fn the_record_key_must_be_the_genesis_one_or_signed_by_a_serving_enclave() {
        use paychain_contracts::enclave_registry::{PlatformKeyEntry, Retirement};
        let f = fixture();
        let p0 = PlatformId::new("platform-0").unwrap();
        let key = |s: &paychain_contracts::state::MemStore| {
            proven_record_key(s, &f.chain, &f.anchor, &p0).unwrap()
        };
        let genesis = key(&f.store).unwrap();
        assert_eq!(
            (genesis.epoch, genesis.public),
            (0, f.anchor.platform_keys[0].public)
        );
        let read_key =
            |s: &crate::proven::Proven| enclave_registry::platform_key(s, 0, &p0).map(drop);
        let entry = |key: PlatformKey, attested| {
            Some(paychain_contracts::codec::encode(&PlatformKeyEntry {
                key,
                attested,
                published_at: 9,
            }))
        };
        // The node's state holds a key of its own instead of the genesis one.
        let mut fake = f.anchor.platform_keys[0].clone();
        fake.public = KxSecret::from_seed([9; 32]).public_key();
        let s = with(&f.store, read_key, entry(fake.clone(), None));
        let e = key(&s).unwrap_err().to_string();
        assert!(e.contains("not the one genesis gives"), "{e}");
        // A platform with no key published.
        let p1 = PlatformId::new("platform-1").unwrap();
        let e = proven_record_key(&f.store, &f.chain, &f.anchor, &p1)
            .unwrap()
            .unwrap_err()
            .to_string();
        assert!(e.contains("no record key of platform platform-1"), "{e}");
        // Signed by a key that is no serving enclave.
        let stranger = SecretKey::from_seed([11; 32]);
        let signed = (
            stranger.public_key(),
            stranger.sign(&fake.sign_bytes(&f.chain)),
        );
        let s = with(&f.store, read_key, entry(fake.clone(), Some(signed)));
        let e = key(&s).unwrap_err().to_string();
        assert!(e.contains("does not serve"), "{e}");
        // The serving enclave's own signed key is taken; its signature over another key is not.
        let good = f.enclave.platform_key(&p0).unwrap();
        let attested = Some((good.signer, good.signature));
        let s = with(&f.store, read_key, entry(good.key.clone(), attested));
        assert_eq!(key(&s).unwrap().public, good.key.public);
        let forged = with(&f.store, read_key, entry(fake, attested));
        let e = key(&forged).unwrap_err().to_string();
        assert!(e.contains("is not signed by enclave"), "{e}");
        // Once that enclave is retired, its keys are no longer taken.
        let retired = with_entry(&s, f.enclave.signer(), |e| {
            e.retired = Some(Retirement {
                height: 3,
                reason: "removed".into(),
            })
        });
        let e = key(&retired).unwrap_err().to_string();
        assert!(e.contains("does not serve") && e.contains("retired"), "{e}");
    }

    fn fixture() -> Fixture {
        use paychain_contracts::enclave_registry::{EnclaveGenesis, GenesisEnclave};
        use paychain_contracts::genesis::{genesis_state, Genesis};
        use paychain_contracts::governance::{Member, Role};
        let chain = ChainId::new("test-chain");
        let root = SecretKey::from_seed([1; 32]);
        let (secret, consortium) = bootstrap([2; 32]);
        let build = Build::new(chain.clone()).with_validators(validators());
        let mut enclave = Enclave::new(&[3; 32], build, None).unwrap();
        let quote = enclave.certified_quote(&root);
        let wrapped =
            wrap_secret(&secret, &quote.quote, &BoxRandomness::new([4; 32], [5; 12])).unwrap();
        enclave.provision(&wrapped, &consortium).unwrap();
        let genesis = Genesis {
            chain_id: chain.clone(),
            genesis_time_ms: 1_000,
            validators: validators(),
            members: vec![Member {
                id: PlatformId::new("platform-0").unwrap(),
                name: "Platform 0".into(),
                public_key: SecretKey::from_seed([7; 32]).public_key(),
                roles: [Role::Platform].into_iter().collect(),
            }],
            enclave: Some(EnclaveGenesis {
                attestation_root: root.public_key(),
                consortium_public: consortium,
                measurements: vec![enclave.measurement()],
                allow_debug: false,
                enclaves: vec![GenesisEnclave {
                    platform_id: PlatformId::new("platform-0").unwrap(),
                    quote,
                }],
                min_security_version: 1,
                platform_keys: vec![platform_key0(&secret, &chain)],
                exec_public: None,
            }),
        };
        let mut store = paychain_contracts::state::MemStore::new();
        store.apply(&genesis_state(&genesis).unwrap());
        let anchor = TrustAnchor::from_genesis(&genesis).unwrap();
        Fixture {
            chain,
            root,
            enclave,
            store,
            anchor,
        }
    }

    /// The one key `read` reads over `store` last, and a copy of `store` where it holds `value`.
    fn with(
        store: &paychain_contracts::state::MemStore,
        read: impl Fn(&crate::proven::Proven) -> Result<(), StateError>,
        value: Option<Vec<u8>>,
    ) -> paychain_contracts::state::MemStore {
        use paychain_contracts::state::Overlay;
        let keys = crate::proven::tests::keys_of(store, read);
        let key = keys.last().unwrap().clone();
        let mut out = store.clone();
        let mut ov = Overlay::new(&out);
        match value {
            Some(v) => ov.put(key, v),
            None => ov.delete(key),
        }
        let writes = ov.finish().unwrap();
        out.apply(&writes);
        out
    }

    /// `store` with the enclave entry of `signer` changed by `change`.
    fn with_entry(
        store: &paychain_contracts::state::MemStore,
        signer: PublicKey,
        change: impl Fn(&mut EnclaveEntry),
    ) -> paychain_contracts::state::MemStore {
        let mut entry = enclave_registry::enclave(store, &signer).unwrap().unwrap();
        change(&mut entry);
        with(
            store,
            move |s| enclave_registry::enclave(s, &signer).map(drop),
            Some(paychain_contracts::codec::encode(&entry)),
        )
    }

    /// Why the fixture's enclave is not trusted over `state`.
    fn refused(f: &Fixture, state: &impl StateReader) -> String {
        check_enclave(
            state,
            &f.enclave.signer(),
            &f.enclave.measurement(),
            &f.chain,
            &f.anchor,
        )
        .unwrap()
        .unwrap_err()
        .to_string()
    }

    #[test]
    fn trust_requires_a_proven_serving_enclave() {
        let f = fixture();
        let signer = f.enclave.signer();
        let t = check_enclave(
            &f.store,
            &signer,
            &f.enclave.measurement(),
            &f.chain,
            &f.anchor,
        )
        .unwrap()
        .unwrap();
        assert_eq!(t.signer, signer);
        assert_eq!(t.measurement, f.enclave.measurement());

        let m = f.enclave.measurement();
        let s = with(
            &f.store,
            |s| enclave_registry::revoked(s).map(drop),
            Some(paychain_contracts::codec::encode(&vec![m])),
        );
        let e = refused(&f, &s);
        assert!(e.contains("revoked"), "{e}");

        let s = with(
            &f.store,
            |s| enclave_registry::allowed(s).map(drop),
            Some(paychain_contracts::codec::encode(&Vec::<Measurement>::new())),
        );
        let e = refused(&f, &s);
        assert!(e.contains("not allowed"), "{e}");

        // An enclave the chain never registered, even on a machine the genesis vendor certified.
        let stranger = Enclave::new(&[9; 32], Build::new(f.chain.clone()), None).unwrap();
        let e = check_enclave(
            &f.store,
            &stranger.signer(),
            &stranger.measurement(),
            &f.chain,
            &f.anchor,
        )
        .unwrap()
        .unwrap_err()
        .to_string();
        assert!(e.contains("is not registered"), "{e}");

        let s = with_entry(&f.store, signer, |e| e.provisioned = false);
        let e = refused(&f, &s);
        assert!(e.contains("not provisioned"), "{e}");

        // A platform removed by governance: its enclave is retired, its answers untrusted.
        let s = with_entry(&f.store, signer, |e| {
            e.retired = Some(paychain_contracts::enclave_registry::Retirement {
                height: 9,
                reason: "its platform platform-0 was removed by governance".into(),
            })
        });
        let e = refused(&f, &s);
        assert!(
            e.contains("retired") && e.contains("removed by governance"),
            "{e}"
        );
        // An enclave bound to another platform, not a member.
        let s = with_entry(&f.store, signer, |e| {
            e.platform_id = PlatformId::new("platform-1").unwrap()
        });
        let e = refused(&f, &s);
        assert!(
            e.contains("belongs to platform platform-1, which is not a current platform member"),
            "{e}"
        );
        // Its platform no longer a member.
        let platform = PlatformId::new("platform-0").unwrap();
        let s = with(
            &f.store,
            |s| governance::member(s, &platform).map(drop),
            None,
        );
        let e = refused(&f, &s);
        assert!(e.contains("not a current platform member"), "{e}");

        // Below the minimum security version governance set.
        let mut cfg = enclave_registry::config(&f.store).unwrap().unwrap();
        cfg.min_security_version = 2;
        let s = with(
            &f.store,
            |s| enclave_registry::config(s).map(drop),
            Some(paychain_contracts::codec::encode(&cfg)),
        );
        let e = refused(&f, &s);
        assert!(e.contains("below the chain's minimum 2"), "{e}");

        // A chain whose certified configuration has another attestation root than genesis...
        let mut cfg = enclave_registry::config(&f.store).unwrap().unwrap();
        cfg.attestation_root = SecretKey::from_seed([9; 32]).public_key();
        let s = with(
            &f.store,
            |s| enclave_registry::config(s).map(drop),
            Some(paychain_contracts::codec::encode(&cfg)),
        );
        let e = refused(&f, &s);
        assert!(
            e.contains("attestation root in the certified state") && e.contains("genesis"),
            "{e}"
        );
        // ... or no enclave at all.
        let s = with(&f.store, |s| enclave_registry::config(s).map(drop), None);
        let e = refused(&f, &s);
        assert!(e.contains("no enclave configuration"), "{e}");
        // A quote from a device only another root certified is refused under genesis's root.
        let other = f.enclave.certified_quote(&SecretKey::from_seed([9; 32]));
        let s = with_entry(&f.store, signer, |e| e.quote = other.clone());
        let e = refused(&f, &s);
        assert!(e.contains("uncertified device"), "{e}");
        // The node claims another measurement than its registered quote's.
        let e = check_enclave(
            &f.store,
            &signer,
            &Measurement::of("other", "1"),
            &f.chain,
            &f.anchor,
        )
        .unwrap()
        .unwrap_err()
        .to_string();
        assert!(e.contains("its registered quote says"), "{e}");
        // The fixture's root is the anchor's.
        assert_eq!(f.anchor.attestation_root, f.root.public_key());
    }

    /// The whole client path over evidence: proofs of a retired entry, under a genuine commit,
    /// refuse the enclave; the honest state's proofs trust it.
    #[test]
    fn proven_evidence_decides_trust() {
        use crate::proven::tests::{evidence, keys_of, NOW};
        let f = fixture();
        let signer = f.enclave.signer();
        let pin = Pin {
            chain_id: f.chain.clone(),
            validators: validators(),
            anchor: Some(f.anchor.clone()),
            exec_public: None,
        };
        let check = |s: &crate::proven::Proven| {
            check_enclave(s, &signer, &f.enclave.measurement(), &f.chain, &f.anchor).map(drop)
        };
        let keys = keys_of(&f.store, |s| {
            governance::validators(s)?;
            check(s)
        });
        let validator = SecretKey::from_seed([250; 32]);
        let e = evidence(
            &f.store,
            &f.chain,
            &keys,
            std::slice::from_ref(&validator),
            NOW,
        );
        let proven = crate::proven::verify(&e, &pin, &keys, 2, NOW).unwrap();
        check_enclave(
            &proven,
            &signer,
            &f.enclave.measurement(),
            &f.chain,
            &f.anchor,
        )
        .unwrap()
        .unwrap();
        assert!(proven.unproven().is_empty());

        let retired = with_entry(&f.store, signer, |e| {
            e.retired = Some(paychain_contracts::enclave_registry::Retirement {
                height: 9,
                reason: "its platform platform-0 was removed by governance".into(),
            })
        });
        let e = evidence(&retired, &f.chain, &keys, &[validator], NOW);
        let proven = crate::proven::verify(&e, &pin, &keys, 2, NOW).unwrap();
        let err = refused(&f, &proven);
        assert!(err.contains("retired"), "{err}");
        // A node that shows the honest entry with the retired state's proofs is refused.
        let mut forged = e.clone();
        let honest = evidence(&f.store, &f.chain, &keys, &[], NOW);
        for (x, h) in forged.entries.iter_mut().zip(&honest.entries) {
            x.value = h.value.clone();
        }
        let err = crate::proven::verify(&forged, &pin, &keys, 2, NOW)
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not hold"), "{err}");
    }

    #[test]
    fn sealed_record_round_trips_through_a_lookup() {
        let f = fixture();
        let merchant_key = SecretKey::from_seed([6; 32]);
        let merchant = MerchantId::derive(&merchant_key.public_key());
        let platform = PlatformId::new("platform-0").unwrap();
        let key = proven_record_key(&f.store, &f.chain, &f.anchor, &platform)
            .unwrap()
            .unwrap();
        let sealed = seal_record(
            b"MARKER acct",
            &key,
            &merchant,
            &platform,
            1,
            &fresh_randomness(),
        )
        .unwrap();
        assert!(is_sealed(&sealed.to_bytes()));
        assert!(!is_sealed(b"plain"));
        let key = SecretKey::from_seed([7; 32]);
        let pending = PendingLookup::new(
            &key,
            f.chain.clone(),
            merchant.clone(),
            platform.clone(),
            2,
            f.enclave.signer(),
        );
        let evidence = chain_evidence(&f.chain, &key, &merchant_key, &sealed, &pending.signed);
        let answer = paychain_contracts::grants::answer(
            &f.enclave,
            &pending.signed,
            &evidence,
            &fresh_randomness(),
        )
        .unwrap();
        let trusted = check_enclave(
            &f.store,
            &f.enclave.signer(),
            &f.enclave.measurement(),
            &f.chain,
            &f.anchor,
        )
        .unwrap()
        .unwrap();
        let done = pending.finish(&answer, &trusted).unwrap();
        assert_eq!(&done.plaintext.unwrap()[..], b"MARKER acct");

        // Another enclave's key does not verify the answer.
        let wrong = TrustedEnclave {
            signer: SecretKey::from_seed([9; 32]).public_key(),
            ..trusted
        };
        assert!(matches!(
            pending.finish(&answer, &wrong),
            Err(Error::Answer(QueryError::BadAnswerSignature(_)))
        ));
        // Another request's answer is refused.
        let other = PendingLookup::new(
            &key,
            f.chain.clone(),
            merchant,
            answer.answer.platform_id.clone(),
            10,
            f.enclave.signer(),
        );
        assert!(matches!(
            other.finish(&answer, &trusted),
            Err(Error::Answer(QueryError::RequestMismatch { .. }))
        ));
    }

    #[test]
    fn record_display() {
        assert_eq!(display_record(b"abc"), "abc");
        assert_eq!(display_record(&[0xff, 0x00]), "ff00");
    }
}
