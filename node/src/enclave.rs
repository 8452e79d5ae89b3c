//! The node's side of the simulated enclave: its files (device secret, sealed consortium
//! secret), registration and provisioning through the chain, and requester-scoped lookups.
//!
//! The host process never sees a record's plaintext or the consortium secret: the `Enclave`
//! object (paychain-contracts) only hands out quotes, wrapped secrets, sealed blobs and answers
//! re-encrypted to a requester. What stands in for hardware here is the device secret file and
//! the simulated attestation root key, both kept 0600 in the node home.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use anyhow::Context as _;
use paychain_api::ErrorCode;
use paychain_contracts::crypto::{Hash, SecretKey};
use paychain_contracts::enclave::{
    bootstrap, wrap_secret, BoxRandomness, Enclave, EnclaveConfig, EnclaveError, Measurement,
    QuotePolicy, RequesterRole, RoleGrant, SealedBlob, SealedRecord, SignedAnswer, SignedLookup,
    SignedQuote, StoredRecord,
};
use paychain_contracts::enclave_registry::{self, EnclaveGenesis};
use paychain_contracts::governance::{self, Role};
use paychain_contracts::ids::ChainId;
use paychain_contracts::tx::{Call, SignedTx, Transaction};
use paychain_contracts::{guardian, registry, wallet};
use rand::RngCore;
use tracing::{info, warn};
use zeroize::Zeroizing;

use crate::home::Home;
use crate::keys;
use crate::shared::Shared;

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

fn fresh_randomness() -> BoxRandomness {
    BoxRandomness::new(random(), random())
}

fn device_secret_path(home: &Home) -> PathBuf {
    home.0.join("keys").join("device.secret")
}

fn sealed_path(home: &Home) -> PathBuf {
    home.0.join("enclave").join("sealed.bin")
}

fn root_key_path(home: &Home) -> PathBuf {
    home.0.join("keys").join("attestation-root.json")
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // Write a temp file then rename, so a crash never leaves half a sealed blob.
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Creates the device secret if the home has none.
pub fn write_device_secret(home: &Home) -> anyhow::Result<()> {
    let path = device_secret_path(home);
    if !path.exists() {
        let secret = Zeroizing::new(hex::encode(random::<32>()));
        write_private(&path, secret.as_bytes())?;
    }
    Ok(())
}

fn read_device_secret(home: &Home) -> anyhow::Result<Zeroizing<[u8; 32]>> {
    write_device_secret(home)?;
    let path = device_secret_path(home);
    let text = Zeroizing::new(
        std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?,
    );
    let mut secret = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(text.trim(), secret.as_mut_slice())
        .map_err(|_| anyhow::anyhow!("{} is not 64 hex characters", path.display()))?;
    Ok(secret)
}

/// One genesis node's enclave files.
pub struct NodeEnclaveFiles {
    device_secret: Zeroizing<[u8; 32]>,
    sealed: SealedBlob,
}

/// The enclave part of a generated network.
pub struct NetworkEnclaves {
    /// The simulated attestation root (stands for the hardware vendor's key).
    pub root: SecretKey,
    pub genesis: EnclaveGenesis,
    pub nodes: Vec<NodeEnclaveFiles>,
}

/// The testnet generator acting as bootstrap enclave: creates the consortium secret, an enclave
/// per genesis node (quoted by the simulated root), provisions each, and forgets the secret.
pub fn bootstrap_network(chain_id: &ChainId, n: usize) -> anyhow::Result<NetworkEnclaves> {
    let root = keys::generate();
    let (secret, consortium_public) = bootstrap(random());
    let mut quotes = Vec::with_capacity(n);
    let mut nodes = Vec::with_capacity(n);
    for _ in 0..n {
        let device_secret = Zeroizing::new(random::<32>());
        let mut enclave = Enclave::new(&device_secret, EnclaveConfig::new(chain_id.clone()), None)
            .map_err(|e| anyhow::anyhow!("creating an enclave: {e}"))?;
        let quote = enclave.quote();
        let wrapped = wrap_secret(&secret, &quote, &fresh_randomness())
            .map_err(|e| anyhow::anyhow!("wrapping the consortium secret: {e}"))?;
        enclave
            .provision(&wrapped, &consortium_public)
            .map_err(|e| anyhow::anyhow!("provisioning a genesis enclave: {e}"))?;
        let sealed = enclave
            .sealed_blob(random())
            .map_err(|e| anyhow::anyhow!("sealing: {e}"))?;
        quotes.push(quote.attest(&root));
        nodes.push(NodeEnclaveFiles {
            device_secret,
            sealed,
        });
    }
    drop(secret);
    Ok(NetworkEnclaves {
        genesis: EnclaveGenesis {
            attestation_root: root.public_key(),
            consortium_public,
            measurements: vec![Measurement::current()],
            allow_debug: false,
            enclaves: quotes,
        },
        root,
        nodes,
    })
}

/// Writes a genesis node's enclave files into its home.
pub fn install(home: &Home, root: &SecretKey, files: &NodeEnclaveFiles) -> anyhow::Result<()> {
    let secret = Zeroizing::new(hex::encode(*files.device_secret));
    write_private(&device_secret_path(home), secret.as_bytes())?;
    write_private(&sealed_path(home), &files.sealed.to_bytes())?;
    keys::save(&root_key_path(home), root)?;
    Ok(())
}

/// Opens this node's enclave: this build, its device secret, and its sealed blob if any. A blob
/// that cannot be unsealed (corrupted, or sealed by another build) stops the node with a clear
/// error rather than silently re-provisioning.
pub fn open(home: &Home, chain_id: &ChainId) -> anyhow::Result<Enclave> {
    let device = read_device_secret(home)?;
    let path = sealed_path(home);
    let blob = match std::fs::read(&path) {
        Ok(bytes) => Some(
            SealedBlob::from_bytes(&bytes)
                .map_err(|e| anyhow::anyhow!("sealed enclave file {}: {e}", path.display()))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
    };
    Enclave::new(&device, EnclaveConfig::new(chain_id.clone()), blob.as_ref())
        .map_err(|e| anyhow::anyhow!("sealed enclave file {}: {e}", path.display()))
}

/// On chains with an enclave, a record put whose payload is not sealed is refused at the door
/// (and in proposals), so its plaintext never reaches a block, a log or a disk.
pub fn record_policy(sealed_records: bool) -> crate::mempool::Policy {
    Box::new(move |tx: &SignedTx| {
        if !sealed_records {
            return Ok(());
        }
        if let Call::Registry(registry::Call::PutRecord { payload, .. }) = &tx.tx.call {
            SealedRecord::from_bytes(payload).map_err(|e| {
                format!("record payload is not sealed to the consortium enclave: {e}")
            })?;
        }
        Ok(())
    })
}

/// Why a lookup was not answered.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("this chain has no enclave")]
    NoEnclave,
    #[error("this node's enclave is not provisioned yet")]
    NotProvisioned,
    #[error("{0}")]
    Refused(String),
    #[error("malformed lookup: {0}")]
    Malformed(String),
    #[error("node storage error: {0}")]
    Storage(String),
}

impl LookupError {
    /// JSON-RPC code.
    pub fn code(&self) -> ErrorCode {
        match self {
            LookupError::NoEnclave => ErrorCode::NoEnclave,
            LookupError::NotProvisioned => ErrorCode::NotProvisioned,
            LookupError::Refused(_) => ErrorCode::LookupRefused,
            LookupError::Malformed(_) => ErrorCode::MalformedLookup,
            LookupError::Storage(_) => ErrorCode::Internal,
        }
    }
}

/// The role a requester holds at a platform, from committed state.
/// How many of a requester's newest guardian bindings a lookup checks for a delegated payment.
const GUARDIAN_BINDINGS_CHECKED: usize = 16;

fn role_of(shared: &Shared, lookup: &SignedLookup) -> Result<Option<RoleGrant>, LookupError> {
    let req = &lookup.request;
    let storage = &shared.storage;
    let st = |e: paychain_contracts::state::StateError| LookupError::Storage(e.to_string());
    if let Some(m) = governance::member_by_key(storage, &req.requester).map_err(st)? {
        if m.id == req.platform_id && m.has_role(Role::Platform) {
            return Ok(Some(RoleGrant {
                requester: req.requester,
                platform: m.id,
                role: RequesterRole::Platform,
            }));
        }
    }
    if let Some(user) = wallet::user(storage, &req.requester).map_err(st)? {
        if user.host == req.platform_id {
            return Ok(Some(RoleGrant {
                requester: req.requester,
                platform: user.host,
                role: RequesterRole::HostedUser,
            }));
        }
    }
    // A dependant paying from a guardian's wallet hosted by the platform (an active binding): it is
    // routed by that platform's records, so it may read them as the platform's user.
    let (bindings, _) =
        guardian::bindings_of(storage, &req.requester, GUARDIAN_BINDINGS_CHECKED).map_err(st)?;
    for b in bindings {
        let Some(a) = b
            .authorisation
            .filter(|_| b.dependant == req.requester && b.status == guardian::Status::Active)
        else {
            continue;
        };
        if let Some(w) = wallet::wallet(storage, &a.wallet).map_err(st)? {
            if w.host == req.platform_id {
                return Ok(Some(RoleGrant {
                    requester: req.requester,
                    platform: w.host,
                    role: RequesterRole::HostedUser,
                }));
            }
        }
    }
    Ok(None)
}

/// Answers a lookup and writes its audit entry (no plaintext: request hash, requester, merchant,
/// platform, height, outcome); a lookup whose signature does not verify is refused first, without
/// an entry.
pub fn lookup(shared: &Shared, bytes: &[u8]) -> Result<SignedAnswer, LookupError> {
    let Some(enclave) = &shared.enclave else {
        return Err(LookupError::NoEnclave);
    };
    let lookup =
        SignedLookup::from_bytes(bytes).map_err(|e| LookupError::Malformed(e.to_string()))?;
    // Unauthenticated: no state read, no audit entry (the requester it names did not send it).
    lookup
        .verify_signature()
        .map_err(|e| LookupError::Refused(EnclaveError::from(e).to_string()))?;
    let req = &lookup.request;
    let st = |e: paychain_contracts::state::StateError| LookupError::Storage(e.to_string());
    let grant = role_of(shared, &lookup)?;
    let mut records = Vec::new();
    for platform in registry::platforms_of(&shared.storage, &req.merchant_id).map_err(st)? {
        let Some(rec) =
            registry::record(&shared.storage, &req.merchant_id, &platform).map_err(st)?
        else {
            continue;
        };
        match SealedRecord::from_bytes(&rec.payload) {
            Ok(sealed) => records.push(StoredRecord {
                platform_id: rec.platform_id,
                version: rec.version,
                sealed,
            }),
            Err(e) => {
                warn!(target: "enclave", merchant = %req.merchant_id, %platform, error = %e, "unsealed record skipped")
            }
        }
    }
    let height = shared.tip().height;
    let outcome = {
        let enclave = enclave.read().unwrap_or_else(|p| p.into_inner());
        enclave.answer(
            &lookup,
            grant.as_ref(),
            &records,
            height,
            &fresh_randomness(),
        )
    };
    let result = match outcome {
        Ok(answer) => Ok(answer),
        Err(EnclaveError::NotProvisioned) => Err(LookupError::NotProvisioned),
        Err(e) => Err(LookupError::Refused(e.to_string())),
    };
    let entry = serde_json::json!({
        "request_hash": req.hash(),
        "requester": req.requester,
        "merchant_id": req.merchant_id,
        "platform_id": req.platform_id,
        "height": height,
        "outcome": match &result { Ok(_) => "answered".to_string(), Err(e) => e.to_string() },
    });
    if let Err(e) = shared.storage.audit(height, entry.to_string().as_bytes()) {
        warn!(target: "enclave", error = %e, "audit entry not written");
    }
    result
}

/// Keeps the enclave in step with the chain after each block: registers it if needed, unwraps
/// a delivered consortium secret (and seals it to disk), and, once provisioned, wraps the
/// secret to newly registered enclaves.
pub fn spawn_service(shared: Arc<Shared>, home: Home, node_key: SecretKey) {
    let Some(enclave) = shared.enclave.clone() else {
        return;
    };
    tokio::spawn(async move {
        let mut blocks = shared.subscribe_blocks();
        let mut sent: HashMap<Hash, u64> = HashMap::new(); // tx hash → height sent
        loop {
            match blocks.recv().await {
                Ok(height) => {
                    if let Err(e) = step(&shared, &home, &enclave, &node_key, height, &mut sent) {
                        warn!(target: "enclave", error = %e, "enclave maintenance failed");
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}

fn submit(shared: &Shared, key: &SecretKey, call: Call) -> anyhow::Result<Hash> {
    let tx = SignedTx::sign(
        Transaction {
            chain_id: shared.chain_id.clone(),
            sender: key.public_key(),
            nonce: shared.account_nonce(&key.public_key()),
            call,
        },
        key,
    );
    let bytes = tx.to_bytes();
    let (hash, _) = shared
        .mempool
        .admit_bytes(&bytes, |pk| shared.account_nonce(pk))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    shared.gossip(bytes);
    Ok(hash)
}

fn step(
    shared: &Shared,
    home: &Home,
    enclave: &RwLock<Enclave>,
    node_key: &SecretKey,
    height: u64,
    sent: &mut HashMap<Hash, u64>,
) -> anyhow::Result<()> {
    let storage = &shared.storage;
    let Some(cfg) = enclave_registry::config(storage)? else {
        return Ok(());
    };
    // One maintenance tx of ours in flight at a time; retry after 20 blocks.
    sent.retain(|_, at| height < *at + 20);
    if sent.keys().any(|h| shared.mempool.contains(h)) {
        return Ok(());
    }
    // Exclusive only while provisioning; lookups go on meanwhile otherwise.
    let read = || enclave.read().unwrap_or_else(|p| p.into_inner());
    let me = read().signer();
    match enclave_registry::enclave(storage, &me)? {
        None => {
            let root = keys::load(&root_key_path(home)).map_err(|e| {
                anyhow::anyhow!("cannot register the enclave without the attestation root: {e}")
            })?;
            let quote: SignedQuote = read().quote().attest(&root);
            let hash = submit(
                shared,
                node_key,
                Call::Enclave(enclave_registry::Call::Register { quote }),
            )?;
            info!(target: "enclave", signer = %me, "enclave registration submitted");
            sent.insert(hash, height);
        }
        Some(_) if !read().is_provisioned() => {
            if let Some(wrapped) = enclave_registry::wrapped_for(storage, &me)? {
                let mut enclave = enclave.write().unwrap_or_else(|p| p.into_inner());
                enclave
                    .provision(&wrapped, &cfg.consortium_public)
                    .map_err(|e| anyhow::anyhow!("provisioning: {e}"))?;
                let blob = enclave
                    .sealed_blob(random())
                    .map_err(|e| anyhow::anyhow!("sealing: {e}"))?;
                write_private(&sealed_path(home), &blob.to_bytes())?;
                info!(target: "enclave", signer = %me, "enclave provisioned through the chain and sealed");
            }
        }
        Some(_) => {
            let allowed = enclave_registry::allowed(storage)?;
            let revoked = enclave_registry::revoked(storage)?;
            let policy = QuotePolicy {
                root: &cfg.attestation_root,
                allowed: &allowed,
                revoked: &revoked,
                chain_id: &shared.chain_id,
                allow_debug: cfg.allow_debug,
            };
            for entry in enclave_registry::enclaves(storage)? {
                if entry.provisioned || entry.quote.quote.signer == me {
                    continue;
                }
                let wrapped = read()
                    .wrap_for(&entry.quote, &policy, &fresh_randomness())
                    .map_err(|e| {
                        anyhow::anyhow!("wrapping for {}: {e}", entry.quote.quote.signer)
                    })?;
                let hash = submit(
                    shared,
                    node_key,
                    Call::Enclave(enclave_registry::Call::Provision { wrapped }),
                )?;
                info!(target: "enclave", recipient = %entry.quote.quote.signer, "consortium secret wrapped to a new enclave");
                sent.insert(hash, height);
                break;
            }
        }
    }
    Ok(())
}
