//! The node's side of the simulated enclave: its files (device secret, sealed consortium
//! secret), registration and provisioning through the chain, requester-scoped lookups with their
//! replay guard, rate limit and audit trail.
//!
//! The `Enclave` object (paychain-contracts) runs in its own process, the sidecar
//! `paychain-enclave` ([`crate::sidecar`]), which alone reads the device store and the sealed blob;
//! the node holds an [`EnclaveClient`] and gets only quotes, signed provisionings and answers
//! re-encrypted to a requester over a Unix socket. The node process never holds the device secret,
//! a seal key, a consortium secret or a record's plaintext (`tests/it/enclave_attacks.rs` reads its
//! memory to show it). Root on the host can still read the sidecar's memory: real hardware would
//! stop that (see `docs/trust-model.md`, "What is simulated").
//!
//! What stands in for the hardware is the **device store** ([`Device`]): a directory outside the
//! node home (`[enclave] device_dir`, by default `<home>.device`) holding the machine's fused
//! secret and the vendor's certificate of its attestation key. Backups and copies of the node home
//! never include it, and the sealed consortium secret in the home (`enclave/sealed.bin`) cannot be
//! opened without it. The vendor's attestation root key is never on a node: the vendor
//! (`paychain-vendor`) certifies each machine's device key once, and the enclave signs its own
//! quotes with that key.
//!
//! ```text
//! registration  the node signs RegisterBound with its platform's member key ([enclave] platform_key),
//!               carrying the enclave's binding to that platform
//! provisioning  each block: for every registered, unprovisioned enclave the contract would accept
//!               (platform a member, quote within policy, not retired) the node's serving enclave
//!               signs a provisioning; an entry that fails is logged and skipped, never stops the rest
//! lookup        decode ─► signature ─► own enclave serves (chain) ─► chain, addressed enclave,
//!               window, replay ─► evidence: the commit certificate of the last block H (cached
//!               per height) and a state proof of every key the decision reads, in the state after
//!               H - 1 that H's header certifies ─► role (from that state) ─► rate limit (requester
//!               key) ─► enclave verifies the evidence and derives role and records itself, answers
//!               ─► answered hash kept on disk ─► audit entry (every authenticated lookup with a
//!               role: answered or refused by the enclave) ─► answer
//! audit read    decode ─► signature ─► chain, addressed enclave, window ─► the platform's own
//!               member key ─► replay (on disk) ─► rate limit ─► page of the platform's trail
//! ```
//!
//! The host decides nothing the enclave relies on: the role it finds only spares the enclave a
//! lookup without one, and the enclave refuses any evidence that does not verify
//! (`paychain_contracts::grants`). Storage keeps the state before the last block for this
//! (`Storage::keep_previous_state`), since the last block's header certifies that state, not the
//! newest.
//!
//! Nothing is counted or written for a request that fails before the role check: garbage costs a
//! decode and a signature check, and leaves no audit row. A replayed lookup and one refused for its
//! rate leave no row either (they are counted in `/metrics`): a flood or a replay must not grow a
//! platform's trail or push its real entries out of the retention. The replay set lives in RocksDB for the
//! window (a restart reads it back into the enclave's guard); a lookup names the enclave that
//! answers it, so a captured lookup is refused by every other node (see
//! `paychain_contracts::enclave::query`).

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use paychain_api::ErrorCode;
use paychain_contracts::admission;
use paychain_contracts::block::Header;
use paychain_contracts::commit::{Commit, CommitSignature};
use paychain_contracts::crypto::Signature;
use paychain_contracts::crypto::{Hash, PublicKey, SecretKey};
use paychain_contracts::enclave::audit::{AuditPage, SignedAuditRequest};
use paychain_contracts::enclave::query::MAX_LOOKUP_FUTURE_SKEW;
use paychain_contracts::enclave::{
    bootstrap, platform_public, wrap_secret, DeviceCert, Enclave, EnclaveConfig, EnclaveError,
    Measurement, PlatformKey, QueryError, SealedBlob, SealedRecord, SignedAnswer, SignedLookup,
    SignedQuote, DEFAULT_REPLAY_CAPACITY,
};
use paychain_contracts::enclave_registry::{self, EnclaveGenesis, GenesisEnclave, Unfit};
use paychain_contracts::governance::{self, Role};
use paychain_contracts::grants::{self, StateEvidence};
use paychain_contracts::ids::{ChainId, PlatformId};
use paychain_contracts::registry;
use paychain_contracts::state::StateReader as _;
use paychain_contracts::tx::{Call, SignedTx, Transaction};

use tracing::{info, warn};
use zeroize::Zeroizing;

use crate::home::Home;
use crate::keys;
use crate::shared::Shared;
use crate::sidecar::{CallError, EnclaveClient, ErrorKind, Launch, Policy};
use crate::storage::Storage;

pub use crate::enclave_host::{AuditLog, Host, RateLimiter};
use crate::sidecar::device::{fresh_randomness, random, write_private};
pub use crate::sidecar::device::{Device, DEVICE_CERT_FILE, DEVICE_SECRET_FILE};

fn sealed_path(home: &Home) -> PathBuf {
    home.0.join("enclave").join("sealed.bin")
}

impl Device {
    /// The device store of the node at `home`: `[enclave] device_dir` (absolute, or relative to
    /// the home's parent directory), by default the home's path with `.device` appended.
    pub fn of(home: &Home, config: &crate::config::Enclave) -> Device {
        let dir = match &config.device_dir {
            Some(d) if d.is_absolute() => d.clone(),
            Some(d) => home
                .0
                .parent()
                .map_or_else(|| d.clone(), |parent| parent.join(d)),
            None => {
                let mut name = home.0.as_os_str().to_owned();
                name.push(".device");
                PathBuf::from(name)
            }
        };
        Device::at(dir)
    }
}

/// One genesis node's enclave files: its machine's device store, and the sealed secret for its home.
pub struct NodeEnclaveFiles {
    device_secret: Zeroizing<[u8; 32]>,
    device_cert: DeviceCert,
    sealed: SealedBlob,
}

/// The enclave part of a generated network.
pub struct NetworkEnclaves {
    /// The simulated vendor's attestation root: the generator plays the vendor for the genesis
    /// machines and hands this to the vendor's store, never to a node home.
    pub root: SecretKey,
    pub genesis: EnclaveGenesis,
    pub nodes: Vec<NodeEnclaveFiles>,
}

/// The testnet generator acting as bootstrap enclave and as the vendor of the genesis machines:
/// creates the vendor root and the consortium secret, a machine per genesis node whose device key
/// the root certifies, its enclave (bound to `platforms[i % platforms.len()]`), provisions each, and
/// forgets the consortium secret.
pub fn bootstrap_network(
    chain_id: &ChainId,
    n: usize,
    platforms: &[PlatformId],
    private_state: bool,
) -> anyhow::Result<NetworkEnclaves> {
    anyhow::ensure!(
        !platforms.is_empty(),
        "a chain with an enclave needs at least one platform (each enclave belongs to one)"
    );
    let root = keys::generate();
    let (secret, consortium_public) = bootstrap(random());
    let mut quotes = Vec::with_capacity(n);
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
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
        let device_cert = DeviceCert::issue(&root, enclave.device_key());
        quotes.push(GenesisEnclave {
            platform_id: platforms[i % platforms.len()].clone(),
            quote: enclave
                .signed_quote(&device_cert)
                .map_err(|e| anyhow::anyhow!("signing a genesis quote: {e}"))?,
        });
        nodes.push(NodeEnclaveFiles {
            device_secret,
            device_cert,
            sealed,
        });
    }
    let mut platform_keys = Vec::with_capacity(platforms.len());
    let mut ids: Vec<&PlatformId> = platforms.iter().collect();
    ids.sort();
    ids.dedup();
    for platform in ids {
        platform_keys.push(PlatformKey {
            epoch: 0,
            platform_id: platform.clone(),
            public: platform_public(&secret, chain_id, 0, platform)
                .map_err(|e| anyhow::anyhow!("deriving a platform record key: {e}"))?,
        });
    }
    let exec_public = if private_state {
        Some(
            paychain_contracts::private::Vault::from_consortium(&secret, chain_id)
                .map_err(|e| anyhow::anyhow!("deriving the exec key: {e}"))?
                .exec_public(),
        )
    } else {
        None
    };
    drop(secret);
    Ok(NetworkEnclaves {
        genesis: EnclaveGenesis {
            attestation_root: root.public_key(),
            consortium_public,
            measurements: vec![Measurement::current()],
            allow_debug: false,
            enclaves: quotes,
            min_security_version: enclave_registry::DEFAULT_MIN_SECURITY_VERSION,
            platform_keys,
            exec_public,
        },
        root,
        nodes,
    })
}

/// Writes a genesis node's machine (device secret and certificate) into its device store and its
/// sealed consortium secret into its home.
pub fn install(home: &Home, device: &Device, files: &NodeEnclaveFiles) -> anyhow::Result<()> {
    device.install(&files.device_secret, &files.device_cert)?;
    write_private(&sealed_path(home), &files.sealed.to_bytes())?;
    Ok(())
}

/// Where the node reaches its sidecar: `[enclave] sidecar_socket` (absolute, or relative to the
/// home), by default `<home>/sidecar/enclave.sock`.
pub fn sidecar_socket(home: &Home, config: &crate::config::Enclave) -> PathBuf {
    match &config.sidecar_socket {
        Some(p) if p.is_absolute() => p.clone(),
        Some(p) => home.0.join(p),
        None => home.0.join("sidecar").join("enclave.sock"),
    }
}

/// The sidecar binary: `[enclave] sidecar_bin`, by default `paychain-enclave` next to this
/// executable.
pub fn sidecar_bin(config: &crate::config::Enclave) -> anyhow::Result<PathBuf> {
    if let Some(p) = &config.sidecar_bin {
        return Ok(p.clone());
    }
    let exe = std::env::current_exe().context("cannot find this executable's path")?;
    Ok(exe.with_file_name("paychain-enclave"))
}

/// This machine's device attestation key, asked of the sidecar binary (`paychain-enclave device`),
/// which creates the device secret first with `init`: the node process never reads the secret.
pub fn device_key(
    config: &crate::config::Enclave,
    device: &Device,
    init: bool,
) -> anyhow::Result<PublicKey> {
    let bin = sidecar_bin(config)?;
    let mut command = std::process::Command::new(&bin);
    command.arg("device").arg("--device-dir").arg(device.dir());
    if init {
        command.arg("--init");
    }
    let out = command.output().map_err(|e| {
        anyhow::anyhow!(
            "cannot run the enclave sidecar {} (build it with `cargo build --workspace --bins`, or set [enclave] sidecar_bin): {e}",
            bin.display()
        )
    })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    anyhow::ensure!(out.status.success(), "{}", stderr.trim());
    stdout
        .trim()
        .parse::<PublicKey>()
        .map_err(|e| anyhow::anyhow!("`{} device` printed no device key: {e}", bin.display()))
}

/// Starts this node's enclave sidecar (or, with `[enclave] spawn_sidecar = false`, connects to the
/// one at `[enclave] sidecar_socket`) and waits until it answers. The sidecar opens the enclave
/// itself: this build, the device secret, the sealed blob if any (a blob that cannot be unsealed
/// stops it, and so the node, with a clear error rather than silently re-provisioning). The
/// lookups answered within the window before the node stopped (kept in `storage`) are handed to
/// the enclave's replay guard, now and after every restart of the sidecar.
pub fn open(
    home: &Home,
    device: &Device,
    config: &crate::config::Enclave,
    storage: &Storage,
) -> anyhow::Result<Arc<EnclaveClient>> {
    let socket = sidecar_socket(home, config);
    let spawn = if config.spawn_sidecar {
        let args: Vec<std::ffi::OsString> = vec![
            "serve".into(),
            "--socket".into(),
            socket.clone().into(),
            "--device-dir".into(),
            device.dir().into(),
            "--sealed".into(),
            sealed_path(home).into(),
            "--genesis".into(),
            home.genesis().into(),
            "--exit-with-stdin".into(),
        ];
        Some((sidecar_bin(config)?, args))
    } else {
        None
    };
    let storage = storage.clone();
    crate::sidecar::client::start(
        Launch {
            socket,
            spawn,
            restarts: config.sidecar_restarts,
        },
        move |client| {
            let height = storage.tip()?.map_or(0, |t| t.height);
            let from = height.saturating_sub(client.lookup_window());
            let answered = storage.replay_entries(from, DEFAULT_REPLAY_CAPACITY)?;
            client.remember_answered(&answered)?;
            info!(target: "enclave", remembered = answered.len(), "answered lookups of the window restored");
            Ok(())
        },
    )
}

/// On chains with an enclave, a record put whose payload is not sealed is refused at the door
/// (and in proposals), so its plaintext never reaches a block, a log or a disk; on chains with
/// private state, so is a wallet, collection, store or guardian call in the clear (execution would
/// refuse it with receipt code 5, after its details reached every validator's disk).
pub fn record_policy(sealed_records: bool, private_state: bool) -> crate::mempool::Policy {
    Box::new(move |tx: &SignedTx| {
        if private_state && paychain_contracts::private::may_be_sealed(&tx.tx.call) {
            return Err("this chain keeps payment details private: wallet, collection, store and guardian calls must be sealed to the exec key of its genesis (the paychain client does so when it pins the genesis)".into());
        }
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

/// Loads the platform key the node registers its enclave with (`[enclave] platform_key`, relative
/// to the home).
pub fn load_platform_key(
    home: &Home,
    config: &crate::config::Enclave,
) -> anyhow::Result<Option<SecretKey>> {
    let Some(path) = &config.platform_key else {
        return Ok(None);
    };
    let path = if path.is_absolute() {
        path.clone()
    } else {
        home.0.join(path)
    };
    keys::load(&path)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("[enclave] platform_key {}: {e}", path.display()))
}

/// Why a lookup or an audit read was not answered.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("this chain has no enclave")]
    NoEnclave,
    #[error("this node's enclave is not provisioned yet")]
    NotProvisioned,
    #[error("this node's enclave does not serve: {0}")]
    NotServing(String),
    #[error("{0}")]
    Refused(String),
    #[error("rate limited, retry after {0} ms")]
    RateLimited(u64),
    #[error("audit read refused: {0}")]
    AuditRefused(String),
    #[error("malformed lookup: {0}")]
    Malformed(String),
    #[error("node storage error: {0}")]
    Storage(String),
    #[error("{0}")]
    Enclave(String),
}

impl LookupError {
    /// JSON-RPC code.
    pub fn code(&self) -> ErrorCode {
        match self {
            LookupError::NoEnclave => ErrorCode::NoEnclave,
            LookupError::NotProvisioned => ErrorCode::NotProvisioned,
            LookupError::NotServing(_) => ErrorCode::EnclaveNotServing,
            LookupError::Refused(_) => ErrorCode::LookupRefused,
            LookupError::RateLimited(_) => ErrorCode::LookupRateLimited,
            LookupError::AuditRefused(_) => ErrorCode::AuditRefused,
            LookupError::Malformed(_) => ErrorCode::MalformedLookup,
            LookupError::Storage(_) | LookupError::Enclave(_) => ErrorCode::Internal,
        }
    }

    fn metric(&self) -> &'static str {
        match self {
            LookupError::RateLimited(_) => "rate_limited",
            _ => "refused",
        }
    }
}

impl From<crate::storage::Error> for LookupError {
    fn from(e: crate::storage::Error) -> Self {
        LookupError::Storage(e.to_string())
    }
}

impl From<paychain_contracts::state::StateError> for LookupError {
    fn from(e: paychain_contracts::state::StateError) -> Self {
        LookupError::Storage(e.to_string())
    }
}

/// A refusal from the sidecar as a lookup error (an unreachable sidecar is the node's fault).
fn sidecar_refusal(e: CallError) -> LookupError {
    match e {
        CallError::Refused(w) if w.kind == ErrorKind::NotProvisioned => LookupError::NotProvisioned,
        CallError::Refused(w) => LookupError::Refused(w.message),
        e @ CallError::Down(_) => LookupError::Enclave(e.to_string()),
    }
}

/// Why this node's enclave `me` does not serve now, from committed state (`None` while it does).
pub fn not_serving(shared: &Shared, me: &PublicKey) -> Result<Option<Unfit>, LookupError> {
    Ok(enclave_registry::serving(&shared.storage, &shared.chain_id, me)?.err())
}

fn check_serving(shared: &Shared, enclave: &EnclaveClient) -> Result<(), LookupError> {
    // An unreachable sidecar is said as such, not as "not provisioned".
    let provisioned = enclave.info().map_err(sidecar_refusal)?.provisioned;
    match not_serving(shared, &enclave.signer())? {
        None if provisioned => Ok(()),
        None | Some(Unfit::NotProvisioned(_)) => Err(LookupError::NotProvisioned),
        Some(unfit) => Err(LookupError::NotServing(unfit.to_string())),
    }
}

/// Answers a lookup (see the module doc for the order of the checks) and writes its audit entry.
pub fn lookup(shared: &Shared, bytes: &[u8]) -> Result<SignedAnswer, LookupError> {
    let result = answer_lookup(shared, bytes);
    shared.metrics.enclave_request(
        "lookup",
        match &result {
            Ok(_) => "answered",
            Err(e) => e.metric(),
        },
    );
    result
}

fn answer_lookup(shared: &Shared, bytes: &[u8]) -> Result<SignedAnswer, LookupError> {
    let Some(enclave) = &shared.enclave else {
        return Err(LookupError::NoEnclave);
    };
    let lookup =
        SignedLookup::from_bytes(bytes).map_err(|e| LookupError::Malformed(e.to_string()))?;
    lookup
        .verify_signature()
        .map_err(|e| LookupError::Refused(e.to_string()))?;
    let req = &lookup.request;
    let request_hash = req.hash();
    let height = shared.tip().height;
    check_serving(shared, enclave)?;
    enclave.precheck(req, height).map_err(sidecar_refusal)?;
    let (evidence, decision) = evidence(shared, &lookup)?;
    let height = evidence.header.height;
    let evidence = match decision.role {
        Some(_) => evidence,
        // Test-only (crate::faults): a lying host grants the requester the platform's role.
        None if shared.enclave_host.forge_roles => forge_role(evidence, req),
        None => {
            return Err(LookupError::Refused(
                EnclaveError::NoRole {
                    requester: req.requester,
                    platform: req.platform_id.clone(),
                }
                .to_string(),
            ))
        }
    };
    if decision.unsealed > 0 {
        warn!(target: "enclave", merchant = %req.merchant_id, unsealed = decision.unsealed, "records whose payload is not sealed skipped");
    }
    shared
        .enclave_host
        .limiter
        .take(&req.requester, Instant::now())
        .map_err(LookupError::RateLimited)?;

    // The sidecar verifies the evidence and decides (`grants::answer`, inside the enclave).
    let outcome = enclave.answer(&lookup, &evidence);
    let (result, text) = match outcome {
        // A concurrent copy won the reservation: a replay, like one the precheck refuses.
        Err(e) if e.kind() == Some(ErrorKind::Replayed) => {
            return Err(LookupError::Refused(e.to_string()))
        }
        // An unreachable sidecar answered nothing: no audit entry.
        Err(e @ CallError::Down(_)) => return Err(LookupError::Enclave(e.to_string())),
        Ok(answer) => {
            // Kept before the answer leaves, so a restart cannot answer it again.
            shared
                .storage
                .replay_insert(req.issued_at_height, &request_hash)?;
            let text = if answer.answer.record.is_some() {
                "answered".to_owned()
            } else {
                "answered: no record".to_owned()
            };
            (Ok(answer), text)
        }
        Err(e) if e.kind() == Some(ErrorKind::NotProvisioned) => (
            Err(LookupError::NotProvisioned),
            "refused: enclave not provisioned".to_owned(),
        ),
        Err(e) => {
            let text = format!("refused: {e}");
            (Err(LookupError::Refused(e.to_string())), text)
        }
    };
    // No answer leaves without its audit entry.
    shared
        .enclave_host
        .audit
        .append(&shared.storage, req, request_hash, height, &text)?;
    result
}

/// How long a lookup waits for the node's first commit after a start (the state the last block
/// certifies is known from the first block committed by this process on), and for the next block
/// when the last one changed what the lookup reads.
pub(crate) const BLOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The evidence for `lookup`: the last committed block's header and commit certificate, and the
/// proofs of what the decision reads in the state its header certifies (the state before it);
/// with the host's own reading of that decision.
///
/// That state is one block behind the newest. When the last block wrote a key the lookup reads
/// (a record just put, a role just granted), the lookup waits for the next block (at most
/// [`BLOCK_WAIT`]), so that what was committed before it is asked is what it sees.
fn evidence(
    shared: &Shared,
    lookup: &SignedLookup,
) -> Result<(StateEvidence, grants::Decision), LookupError> {
    let mut first = None;
    let mut after = 0;
    loop {
        let Some(state) = shared.storage.wait_previous_state(after, BLOCK_WAIT) else {
            return first.ok_or_else(|| {
                LookupError::Refused(format!(
                    "this node has committed no block in the {} s since it started, so it has no certified state to answer from yet; retry after its next block",
                    BLOCK_WAIT.as_secs()
                ))
            });
        };
        let height = state.height() + 1;
        let (header, commit) = certified_block(shared, height)?;
        if header.prev_app_hash != state.app_hash() {
            return Err(LookupError::Storage(format!(
                "block {height}'s header does not carry the app hash of the state before it"
            )));
        }
        let built = grants::build_evidence(&state, &lookup.request, header, commit, |key| {
            state.prove(key)
        })?;
        let stale = built
            .0
            .entries
            .iter()
            .any(|e| state.written_by_last_block(&e.key));
        if !stale || first.is_some() {
            return Ok(built);
        }
        first = Some(built);
        after = height;
    }
}

/// A signed read of private state on a chain with private state, answered by this node's enclave:
/// the node proves the state the enclave asks for (at a certified height that includes every block
/// committed when the read arrived) and passes on the enclave's sealed answer or refusal. The node
/// never holds the plaintext.
pub fn private_read(
    shared: &Shared,
    signed: &paychain_contracts::reads::SignedRead,
    certificate: Option<&paychain_contracts::certificate::TxCertificate>,
) -> jsonrpsee::core::RpcResult<paychain_contracts::reads::SealedReply> {
    let Some(enclave) = shared.enclave.as_ref() else {
        return Err(paychain_api::ErrorCode::NoEnclave
            .err("this chain keeps private state and this node has no enclave to read it"));
    };
    let after = shared.tip().height;
    let prove = |keys: &[Vec<u8>]| -> anyhow::Result<StateEvidence> {
        let deadline = std::time::Instant::now() + BLOCK_WAIT;
        loop {
            if let Some((evidence, _)) =
                proven_state_now(shared, keys, after).map_err(|e| anyhow::anyhow!("{e}"))?
            {
                // Test-only (crate::faults): a lying host names the requester the regulator.
                if shared.enclave_host.forge_roles {
                    return Ok(forge_regulator(evidence, &signed.request.requester));
                }
                return Ok(evidence);
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                anyhow::bail!("no certified state after block {after} within {BLOCK_WAIT:?}");
            }
            // Blocks until the state after `after` is there (or the time is up).
            let _ = shared.storage.wait_previous_state(after, left);
        }
    };
    match enclave.read(signed, certificate, prove) {
        Ok(Ok(sealed)) => Ok(sealed),
        Ok(Err((code, message))) => Err(jsonrpsee::types::ErrorObjectOwned::owned(
            code, message, None::<()>,
        )),
        Err(e) => Err(crate::errors::internal(e)),
    }
}

/// One attempt at what `paychain_provenState` answers, without waiting: the last committed block
/// `H`'s header and commit certificate, and a proof of each of `keys` (inclusion or exclusion) in
/// the state that header certifies (the state after `H - 1`), once that is the state after block
/// `after` or a later one; with whether the last block wrote one of `keys` (the answer then does
/// not show that write: the caller may wait for the next block and ask again). `None` when there
/// is no such state yet (no block committed since the node started). Keys are deduplicated; the
/// caller bounds their number and size, and does the waiting (the RPC waits on the async side, so
/// that no pool thread is held while a block is awaited).
pub fn proven_state_now(
    shared: &Shared,
    keys: &[Vec<u8>],
    after: u64,
) -> Result<Option<(StateEvidence, bool)>, LookupError> {
    let keys: BTreeSet<&Vec<u8>> = keys.iter().collect();
    let Some(state) = shared
        .storage
        .wait_previous_state(after, std::time::Duration::ZERO)
    else {
        return Ok(None);
    };
    let height = state.height() + 1;
    let (header, commit) = certified_block(shared, height)?;
    if header.prev_app_hash != state.app_hash() {
        return Err(LookupError::Storage(format!(
            "block {height}'s header does not carry the app hash of the state before it"
        )));
    }
    let mut entries = Vec::with_capacity(keys.len());
    let mut written = false;
    for key in &keys {
        written |= state.written_by_last_block(key);
        entries.push(grants::ProvenEntry {
            key: key.to_vec(),
            value: state.get(key)?,
            proof: state.prove(key)?,
        });
    }
    Ok(Some((
        StateEvidence {
            header,
            commit,
            entries,
        },
        written,
    )))
}

/// The contracts' form of a commit certificate (what enclaves and clients verify).
pub fn commit_of(
    cert: &malachitebft_core_types::CommitCertificate<crate::consensus::PaychainContext>,
) -> Commit {
    Commit {
        height: cert.height.0,
        round: cert.round.as_i64(),
        block_hash: Hash(cert.value_id.0),
        signatures: cert
            .commit_signatures
            .iter()
            .map(|s| CommitSignature {
                validator: PublicKey(s.address.0),
                signature: Signature(s.signature.0),
            })
            .collect(),
    }
}

/// The header and commit of block `height`, read once per height.
fn certified_block(shared: &Shared, height: u64) -> Result<(Header, Commit), LookupError> {
    let cache = &shared.enclave_host.certified;
    if let Some((h, header, commit)) = &*cache.lock().unwrap_or_else(|p| p.into_inner()) {
        if *h == height {
            return Ok((header.clone(), commit.clone()));
        }
    }
    let missing = |what: &str| LookupError::Storage(format!("block {height} has no {what}"));
    let header = shared
        .storage
        .block(height)?
        .ok_or_else(|| missing("block"))?
        .header;
    let bytes = shared
        .storage
        .certificate(height)?
        .ok_or_else(|| missing("commit certificate"))?;
    let cert: malachitebft_core_types::CommitCertificate<crate::consensus::PaychainContext> =
        malachitebft_app::types::codec::Codec::decode(
            &crate::consensus::BorshCodec,
            bytes::Bytes::from(bytes),
        )
        .map_err(|e| LookupError::Storage(format!("commit certificate of block {height}: {e}")))?;
    let commit = commit_of(&cert);
    let mut slot = cache.lock().unwrap_or_else(|p| p.into_inner());
    if slot.as_ref().is_none_or(|(h, _, _)| *h < height) {
        *slot = Some((height, header.clone(), commit.clone()));
    }
    Ok((header, commit))
}

/// Test-only lying host ([`crate::faults`]): claims in a private read's evidence that the requester
/// is the regulator (who may read every payment), keeping the genuine proof of that entry.
fn forge_regulator(mut evidence: StateEvidence, requester: &PublicKey) -> StateEvidence {
    for e in &mut evidence.entries {
        if e.key == paychain_contracts::governance::REGULATOR_KEY {
            e.value = Some(paychain_contracts::codec::encode(requester));
        }
    }
    evidence
}

/// Test-only lying host ([`crate::faults`]): claims in the evidence that the requester is the
/// member key of the platform it names, keeping the genuine proof of that index entry.
fn forge_role(
    mut evidence: StateEvidence,
    req: &paychain_contracts::enclave::LookupRequest,
) -> StateEvidence {
    let key = governance::member_by_key_key(&req.requester);
    if let Some(entry) = evidence.entries.iter_mut().find(|e| e.key == key) {
        entry.value = Some(paychain_contracts::codec::encode(&req.platform_id));
    }
    evidence
}

/// Reads a page of a platform's audit trail for a signed request by that platform's own key.
pub fn audit(shared: &Shared, bytes: &[u8]) -> Result<AuditPage, LookupError> {
    let result = read_audit(shared, bytes);
    shared.metrics.enclave_request(
        "audit",
        match &result {
            Ok(_) => "answered",
            Err(e) => e.metric(),
        },
    );
    result
}

fn read_audit(shared: &Shared, bytes: &[u8]) -> Result<AuditPage, LookupError> {
    let Some(enclave) = &shared.enclave else {
        return Err(LookupError::NoEnclave);
    };
    let signed =
        SignedAuditRequest::from_bytes(bytes).map_err(|e| LookupError::Malformed(e.to_string()))?;
    let refused = |m: String| LookupError::AuditRefused(m);
    signed
        .verify_signature()
        .map_err(|e| refused(e.to_string()))?;
    let req = &signed.request;
    if req.chain_id != shared.chain_id {
        return Err(refused(format!(
            "request is for chain {}, this is {}",
            req.chain_id, shared.chain_id
        )));
    }
    let (me, window) = (enclave.signer(), enclave.lookup_window());
    if req.enclave != me {
        return Err(refused(format!(
            "request is addressed to enclave {}, this is enclave {me} (a captured request is not valid at another node)",
            req.enclave
        )));
    }
    let height = shared.tip().height;
    let issued_at = req.issued_at_height;
    if issued_at > height.saturating_add(MAX_LOOKUP_FUTURE_SKEW) {
        return Err(refused(
            QueryError::FromFuture { issued_at, height }.to_string(),
        ));
    }
    if height.saturating_sub(issued_at) > window {
        return Err(refused(
            QueryError::Stale {
                issued_at,
                height,
                window,
            }
            .to_string(),
        ));
    }
    match governance::member_by_key(&shared.storage, &req.requester)? {
        Some(m) if m.id == req.platform_id && m.has_role(Role::Platform) => {}
        _ => {
            return Err(refused(format!(
                "key {} is not platform {}'s member key: a platform's audit trail is read only with its own key",
                req.requester, req.platform_id
            )))
        }
    }
    let hash = signed.request.hash();
    {
        let _one_at_a_time = shared
            .enclave_host
            .audit_reads
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if shared.storage.replay_contains(issued_at, &hash)? {
            return Err(refused(format!(
                "request {hash} was already answered (replay)"
            )));
        }
        shared
            .enclave_host
            .limiter
            .take(&req.requester, Instant::now())
            .map_err(LookupError::RateLimited)?;
        shared.storage.replay_insert(issued_at, &hash)?;
    }
    Ok(shared.enclave_host.audit.page(
        &shared.storage,
        &req.platform_id,
        req.from_seq,
        req.limit,
    )?)
}

/// Keeps the enclave in step with the chain after each block: registers it if needed, hands it a
/// delivered consortium secret (the sidecar seals it to disk), and, while it serves, provisions
/// the registered enclaves the contract would accept; forgets answered lookups out of the window.
/// Each step runs on a blocking thread (every enclave call is a round trip to the sidecar).
pub fn spawn_service(shared: Arc<Shared>, node_key: SecretKey, platform_key: Option<SecretKey>) {
    let Some(enclave) = shared.enclave.clone() else {
        return;
    };
    tokio::spawn(async move {
        let mut blocks = shared.subscribe_blocks();
        let mut state = Some(ServiceState {
            node_key,
            platform_key,
            sent: HashMap::new(),
            said: BTreeSet::new(),
        });
        loop {
            match blocks.recv().await {
                Ok(height) => {
                    let (shared, enclave) = (shared.clone(), enclave.clone());
                    let Some(mut st) = state.take() else { return };
                    let done = tokio::task::spawn_blocking(move || {
                        let result = step(&shared, &enclave, &mut st, height);
                        (st, result)
                    })
                    .await;
                    match done {
                        Ok((st, result)) => {
                            state = Some(st);
                            if let Err(e) = result {
                                warn!(target: "enclave", error = %e, "enclave maintenance failed");
                            }
                        }
                        Err(e) => {
                            warn!(target: "enclave", error = %e, "enclave maintenance stopped");
                            return;
                        }
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}

struct ServiceState {
    node_key: SecretKey,
    platform_key: Option<SecretKey>,
    /// Our maintenance txs in flight: tx hash → height sent.
    sent: HashMap<Hash, u64>,
    /// Warnings already logged (each once).
    said: BTreeSet<String>,
}

impl ServiceState {
    fn warn_once(&mut self, message: String) {
        if self.said.insert(message.clone()) {
            warn!(target: "enclave", "{message}");
        }
    }
}

/// The key this node's maintenance transactions (provisioning, epoch start, record keys) are
/// signed with. Those calls are authenticated by the enclave's own signature inside them, so any
/// sender would do for the contract, but the door admits only keys the chain knows: the node's
/// own key when the chain knows it (a validator's node), else the platform's member key from
/// `[enclave] platform_key` (a platform's full node, whose node key is nobody on the chain).
/// `None`, warned once, when neither would pass the door.
fn maintenance_key(shared: &Shared, state: &mut ServiceState) -> anyhow::Result<Option<SecretKey>> {
    if admission::known_sender(&shared.storage, &state.node_key.public_key())?.is_some() {
        return Ok(Some(state.node_key.clone()));
    }
    if let Some(platform) = &state.platform_key {
        if admission::known_sender(&shared.storage, &platform.public_key())?.is_some() {
            return Ok(Some(platform.clone()));
        }
    }
    state.warn_once(format!(
        "this node's enclave cannot submit its maintenance transactions: node key {} is not known to the chain (not a validator) and [enclave] platform_key is {}",
        state.node_key.public_key(),
        if state.platform_key.is_some() { "not a member's key (yet)" } else { "not set" }
    ));
    Ok(None)
}

fn submit(shared: &Shared, key: &SecretKey, call: Call) -> anyhow::Result<Hash> {
    let tx = SignedTx::sign(
        Transaction {
            chain_id: shared.chain_id.clone(),
            sender: key.public_key(),
            nonce: shared
                .mempool
                .next_nonce(&key.public_key(), shared.account_nonce(&key.public_key())),
            call,
        },
        key,
    );
    let bytes = tx.to_bytes();
    let (hash, _) = shared
        .mempool
        .admit_bytes(&bytes, |pk| shared.sender_nonce(pk))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    shared.gossip(bytes);
    Ok(hash)
}

/// The chain's quote policy as the last certified state proves it, for the sidecar to verify
/// and build on its own chain id (it takes no policy on the node's word); `None` before the
/// node has a certified block.
fn policy_now(shared: &Shared) -> anyhow::Result<Option<Policy>> {
    let keys = grants::policy_keys(&shared.storage)?;
    Ok(proven_state_now(shared, &keys, 0)
        .map_err(|e| anyhow::anyhow!("proving the enclave policy: {e}"))?
        .map(|(evidence, _)| Policy { evidence }))
}

fn step(
    shared: &Shared,
    enclave: &EnclaveClient,
    state: &mut ServiceState,
    height: u64,
) -> anyhow::Result<()> {
    let storage = &shared.storage;
    let Some(cfg) = enclave_registry::config(storage)? else {
        return Ok(());
    };
    if height.is_multiple_of(10) {
        let window = enclave.lookup_window();
        storage.replay_prune(height.saturating_sub(window))?;
    }
    // One maintenance tx of ours in flight at a time; retry after 20 blocks.
    state.sent.retain(|_, at| height < *at + 20);
    if state.sent.keys().any(|h| shared.mempool.contains(h)) {
        return Ok(());
    }
    let me = enclave.signer();
    let info = enclave.info()?;
    match enclave_registry::enclave(storage, &me)? {
        None => register(shared, enclave, state, height),
        Some(_) if !info.provisioned => {
            if let Some(wrapped) = enclave_registry::wrapped_for(storage, &me)? {
                enclave
                    .provision(&wrapped, &cfg.consortium_public)
                    .map_err(|e| anyhow::anyhow!("provisioning: {e}"))?;
                info!(target: "enclave", signer = %me, "enclave provisioned through the chain and sealed");
            }
            Ok(())
        }
        Some(_) => {
            adopt_epoch(storage, enclave, info.epoch.map(|(e, _)| e), me)?;
            if let Some(unfit) = not_serving(shared, &me).map_err(|e| anyhow::anyhow!("{e}"))? {
                state.warn_once(format!(
                    "this node's enclave does not serve, so it answers no lookup and provisions no enclave: {unfit}"
                ));
                return Ok(());
            }
            if epoch_duty(shared, enclave, state, me, height)? {
                return Ok(());
            }
            provision_next(shared, &cfg, enclave, state, me, height)
        }
    }
}

/// Adopts the newest epoch's secret wrapped to this enclave at a rotation, if it does not hold it
/// yet (`held`: the newest epoch it holds); the sidecar seals the extended key ring to disk.
fn adopt_epoch(
    storage: &Storage,
    enclave: &EnclaveClient,
    held: Option<u64>,
    me: PublicKey,
) -> anyhow::Result<()> {
    let Some(wrap) = enclave_registry::epoch_wrap_for(storage, &me)? else {
        return Ok(());
    };
    if held.is_some_and(|e| e >= wrap.epoch) {
        return Ok(());
    }
    let expected = match enclave_registry::epoch(storage)? {
        Some(e) if e.current == wrap.epoch => e.consortium_public,
        _ => wrap.wrapped.consortium_public,
    };
    enclave
        .adopt_epoch(&wrap.wrapped, wrap.epoch, &expected)
        .map_err(|e| anyhow::anyhow!("adopting epoch {}: {e}", wrap.epoch))?;
    info!(target: "enclave", signer = %me, epoch = wrap.epoch, "enclave adopted the new epoch's secret and sealed it");
    Ok(())
}

/// The epoch work a serving enclave takes its turn at (the serving enclaves, sorted by signer,
/// take turns of 5 blocks, so one of them does it even if another is down): starting the epoch
/// governance asked for, or publishing the record key of a platform admitted after the epoch
/// began. True when a transaction was submitted.
fn epoch_duty(
    shared: &Shared,
    enclave: &EnclaveClient,
    state: &mut ServiceState,
    me: PublicKey,
    height: u64,
) -> anyhow::Result<bool> {
    let storage = &shared.storage;
    let Some(epoch) = enclave_registry::epoch(storage)? else {
        return Ok(false);
    };
    if enclave.current_epoch()?.map(|(e, _)| e) != Some(epoch.current) {
        return Ok(false);
    }
    let serving = enclave_registry::serving_enclaves(storage, &shared.chain_id)?;
    let mut signers: Vec<PublicKey> = serving.iter().map(|e| e.quote.quote.signer).collect();
    signers.sort();
    let Some(index) = signers.iter().position(|s| *s == me) else {
        return Ok(false);
    };
    if (height / 5) % signers.len() as u64 != index as u64 {
        return Ok(false);
    }
    let platforms = enclave_registry::platform_members(storage)?;
    let call = if epoch.rotation_requested_at.is_some() {
        let recipients: Vec<SignedQuote> = serving.iter().map(|e| e.quote.clone()).collect();
        let start = enclave
            .start_epoch(
                epoch.current + 1,
                &platforms,
                &recipients,
                policy_now(shared)?.context("no certified block yet to prove the policy")?,
            )
            .map_err(|e| anyhow::anyhow!("starting epoch {}: {e}", epoch.current + 1))?;
        info!(target: "enclave", epoch = epoch.current + 1, enclaves = recipients.len(), platforms = platforms.len(), "new epoch created; submitting it");
        enclave_registry::Call::StartEpoch { start }
    } else {
        let mut missing = None;
        for p in &platforms {
            if enclave_registry::platform_key(storage, epoch.current, p)?.is_none() {
                missing = Some(p.clone());
                break;
            }
        }
        let Some(platform) = missing else {
            return Ok(false);
        };
        let key = enclave
            .platform_key(&platform)
            .map_err(|e| anyhow::anyhow!("deriving the record key of {platform}: {e}"))?;
        info!(target: "enclave", %platform, epoch = epoch.current, "publishing a platform's record key");
        enclave_registry::Call::PublishPlatformKey { key }
    };
    let Some(key) = maintenance_key(shared, state)? else {
        return Ok(false);
    };
    let hash = submit(shared, &key, Call::Enclave(call))?;
    state.sent.insert(hash, height);
    Ok(true)
}

/// Registers this node's enclave for the platform whose member key the node holds.
fn register(
    shared: &Shared,
    enclave: &EnclaveClient,
    state: &mut ServiceState,
    height: u64,
) -> anyhow::Result<()> {
    let me = enclave.signer();
    let Some(platform_key) = state.platform_key.clone() else {
        state.warn_once(format!(
            "enclave {me} is not registered and cannot be: set [enclave] platform_key to the key file of the platform member it belongs to"
        ));
        return Ok(());
    };
    let platform = match governance::member_by_key(&shared.storage, &platform_key.public_key())? {
        Some(m) if m.has_role(Role::Platform) => m.id,
        _ => {
            state.warn_once(format!(
                "enclave {me} is not registered: [enclave] platform_key {} is not a platform member's key (yet)",
                platform_key.public_key()
            ));
            return Ok(());
        }
    };
    // The sidecar reads the vendor's certificate from the device store itself.
    let quote = match enclave.signed_quote() {
        Ok(q) => q,
        Err(e) if e.kind() == Some(ErrorKind::NoCertificate) => {
            state.warn_once(format!("enclave {me} is not registered: {e}"));
            return Ok(());
        }
        Err(e) => anyhow::bail!("{e}"),
    };
    let binding = enclave.platform_binding(&platform)?;
    let hash = submit(
        shared,
        &platform_key,
        Call::Enclave(enclave_registry::Call::RegisterBound { quote, binding }),
    )?;
    info!(target: "enclave", signer = %me, %platform, "enclave registration submitted");
    state.sent.insert(hash, height);
    Ok(())
}

/// Provisions the first registered, unprovisioned enclave the contract would accept; entries it
/// would refuse are logged (once each) and skipped, and so is one whose provisioning fails.
fn provision_next(
    shared: &Shared,
    cfg: &enclave_registry::EnclaveConfig,
    enclave: &EnclaveClient,
    state: &mut ServiceState,
    me: PublicKey,
    height: u64,
) -> anyhow::Result<()> {
    let storage = &shared.storage;
    let Some(wire_policy) = policy_now(shared)? else {
        return Ok(());
    };
    let (allowed, revoked) = enclave_registry::policy_lists(storage)?;
    let policy = enclave_registry::policy(cfg, &shared.chain_id, &allowed, &revoked);
    for entry in enclave_registry::enclaves(storage)? {
        let signer = entry.quote.quote.signer;
        if entry.provisioned || signer == me {
            continue;
        }
        let member = enclave_registry::is_platform_member(storage, &entry.platform_id)?;
        if let Err(unfit) = enclave_registry::check_fit(&entry, &policy, member) {
            state.warn_once(format!("not provisioning enclave {signer}: {unfit}"));
            continue;
        }
        let provision = match enclave.provision_for(&entry.quote, wire_policy.clone()) {
            Ok(p) => p,
            Err(e) => {
                state.warn_once(format!("not provisioning enclave {signer}: {e}"));
                continue;
            }
        };
        let Some(key) = maintenance_key(shared, state)? else {
            return Ok(());
        };
        match submit(
            shared,
            &key,
            Call::Enclave(enclave_registry::Call::ProvisionSigned { provision }),
        ) {
            Ok(hash) => {
                info!(target: "enclave", recipient = %signer, platform = %entry.platform_id, "consortium secret wrapped to a new enclave");
                state.sent.insert(hash, height);
                return Ok(());
            }
            Err(e) => state.warn_once(format!(
                "provisioning of enclave {signer} not submitted: {e}"
            )),
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use paychain_contracts::block::{tx_root, Block, Header};
    use paychain_contracts::executor::execute_block;
    use paychain_contracts::genesis::{genesis_state, Genesis, GenesisValidator};
    use paychain_contracts::governance::{Action, Call as GovCall, Member};

    const CHAIN: &str = "enclave-host-test";

    fn member(n: u8, id: &str, roles: &[Role]) -> Member {
        Member {
            id: PlatformId::new(id).unwrap(),
            name: id.into(),
            public_key: SecretKey::from_seed([n; 32]).public_key(),
            roles: roles.iter().copied().collect(),
        }
    }

    fn enclave(device: u8) -> Enclave {
        Enclave::new(&[device; 32], EnclaveConfig::new(ChainId::new(CHAIN)), None).unwrap()
    }

    /// Runs `calls` (signer seed, call) in one block on `storage`; returns the receipts' codes.
    fn block(storage: &Storage, calls: Vec<(u8, Call)>) -> Vec<u32> {
        let tip = storage.tip().unwrap().unwrap();
        let mut nonces = BTreeMap::new();
        let txs: Vec<SignedTx> = calls
            .into_iter()
            .map(|(n, call)| {
                let key = SecretKey::from_seed([n; 32]);
                let nonce = nonces.entry(n).or_insert_with(|| {
                    paychain_contracts::executor::nonce(storage, &key.public_key()).unwrap()
                });
                let tx = SignedTx::sign(
                    Transaction {
                        chain_id: ChainId::new(CHAIN),
                        sender: key.public_key(),
                        nonce: *nonce,
                        call,
                    },
                    &key,
                );
                *nonce += 1;
                tx
            })
            .collect();
        let block = Block {
            header: Header {
                chain_id: ChainId::new(CHAIN),
                height: tip.height + 1,
                time_ms: tip.time_ms + 1000,
                proposer: SecretKey::from_seed([250; 32]).public_key(),
                prev_block_hash: tip.block_hash,
                prev_app_hash: tip.app_hash,
                prev_result_root: tip.result_root,
                tx_root: tx_root(&txs),
            },
            txs,
        };
        let out = execute_block(storage, &block).unwrap();
        let certificate = certificate(block.header.height, block.header.hash());
        storage
            .commit(crate::storage::Commit {
                block: &block,
                block_bytes: &block.to_bytes(),
                writes: &out.writes,
                receipts: &out.receipts,
                result_root: out.result_root,
                certificate: &certificate,
            })
            .unwrap();
        out.receipts.iter().map(|r| r.code).collect()
    }

    /// The commit certificate of block `height` (hashed `hash`), signed by validator 250 alone, as
    /// the node stores it.
    fn certificate(height: u64, hash: Hash) -> Vec<u8> {
        use crate::consensus::{Address, BlockHash, Height, PaychainContext};
        use malachitebft_core_types::{CommitCertificate, CommitSignature, Round};
        let key = SecretKey::from_seed([250; 32]);
        let sign_bytes = paychain_contracts::commit::vote_sign_bytes(
            &ChainId::new(CHAIN),
            paychain_contracts::commit::PRECOMMIT,
            height,
            0,
            Some(&hash),
            &key.public_key(),
        );
        let cert = CommitCertificate::<PaychainContext> {
            height: Height(height),
            round: Round::new(0),
            value_id: BlockHash(hash.0),
            commit_signatures: vec![CommitSignature::new(
                Address(key.public_key().0),
                crate::consensus::scheme::Signature(key.sign(&sign_bytes).0),
            )],
        };
        malachitebft_app::types::codec::Codec::encode(&crate::consensus::BorshCodec, &cert)
            .unwrap()
            .to_vec()
    }

    /// An entry the contract would refuse (its platform removed) sorted before one it accepts: the
    /// provisioning loop logs and skips the first and provisions the second.
    #[test]
    fn provisioning_skips_an_unfit_entry_and_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let mut storage = Storage::open(dir.path()).unwrap();
        // As the node does: the state before the last block is what its header certifies.
        storage.keep_previous_state();
        let (secret, public) = bootstrap([5; 32]);
        let root = SecretKey::from_seed([77; 32]);
        // e0 trusts the commits of validator 250 (it checks the provisioning policy's proofs).
        let mut e0 = Enclave::new(
            &[1; 32],
            EnclaveConfig::new(ChainId::new(CHAIN)).with_validators(vec![GenesisValidator {
                name: "v".into(),
                public_key: SecretKey::from_seed([250; 32]).public_key(),
                power: 1,
            }]),
            None,
        )
        .unwrap();
        let wrapped = wrap_secret(&secret, &e0.quote(), &fresh_randomness()).unwrap();
        e0.provision(&wrapped, &public).unwrap();
        // Two enclaves to register: `gone` (of p1, whose platform is removed) sorts first.
        let (mut gone, mut fit) = (enclave(2), enclave(3));
        if gone.signer() > fit.signer() {
            std::mem::swap(&mut gone, &mut fit);
        }
        let genesis = Genesis {
            chain_id: ChainId::new(CHAIN),
            genesis_time_ms: 1,
            validators: vec![GenesisValidator {
                name: "v".into(),
                public_key: SecretKey::from_seed([250; 32]).public_key(),
                power: 1,
            }],
            members: vec![
                member(10, "p0", &[Role::Platform, Role::Governor]),
                member(11, "p1", &[Role::Platform]),
                member(12, "p2", &[Role::Platform]),
            ],
            enclave: Some(EnclaveGenesis {
                attestation_root: root.public_key(),
                consortium_public: public,
                measurements: vec![Measurement::current()],
                allow_debug: false,
                enclaves: vec![GenesisEnclave {
                    platform_id: PlatformId::new("p0").unwrap(),
                    quote: e0.certified_quote(&root),
                }],
                min_security_version: 1,
                platform_keys: Vec::new(),
                exec_public: None,
            }),
        };
        storage
            .write_genesis(&genesis_state(&genesis).unwrap(), 1)
            .unwrap();
        let register = |e: &Enclave, p: &str| {
            Call::Enclave(enclave_registry::Call::RegisterBound {
                quote: e.certified_quote(&root),
                binding: e.platform_binding(&PlatformId::new(p).unwrap()),
            })
        };
        assert_eq!(
            block(
                &storage,
                vec![(11, register(&gone, "p1")), (12, register(&fit, "p2"))]
            ),
            vec![0, 0]
        );
        let remove = Call::Governance(GovCall::Propose {
            action: Action::RemovePlatform {
                id: PlatformId::new("p1").unwrap(),
            },
        });
        assert_eq!(block(&storage, vec![(10, remove)]), vec![0]);

        let chain_id = ChainId::new(CHAIN);
        let tip = storage.tip().unwrap().unwrap();
        let shared = Shared::new(
            chain_id.clone(),
            "test".into(),
            genesis,
            storage,
            crate::mempool::Mempool::new(Default::default(), chain_id),
            crate::metrics::Metrics::register(malachitebft_app::metrics::SharedRegistry::global()),
            tip,
            None,
            Host::new(&Default::default()),
        );
        // e0 runs in a sidecar served from this test's thread, as the node would reach it.
        let socket = dir.path().join("sidecar").join("enclave.sock");
        let listener = crate::sidecar::server::bind(&socket).unwrap();
        let sidecar = Arc::new(crate::sidecar::server::Sidecar::new(
            e0,
            ChainId::new(CHAIN),
            dir.path().join("sealed.bin"),
            Device::at(dir.path().join("device")),
            crate::sidecar::server::Pins::of(shared.genesis.enclave.as_ref().unwrap()),
        ));
        std::thread::spawn(move || sidecar.serve(listener));
        let client = EnclaveClient::connect(socket, std::time::Duration::from_secs(10)).unwrap();
        let me = client.signer();
        let mut state = ServiceState {
            node_key: SecretKey::from_seed([250; 32]),
            platform_key: None,
            sent: HashMap::new(),
            said: BTreeSet::new(),
        };
        let cfg = enclave_registry::config(&shared.storage).unwrap().unwrap();
        provision_next(&shared, &cfg, &client, &mut state, me, 3).unwrap();
        assert!(
            state
                .said
                .iter()
                .any(|m| m.contains(&gone.signer().to_string())
                    && m.contains("removed by governance")),
            "{:?}",
            state.said
        );
        assert_eq!(state.sent.len(), 1, "the fit enclave was not provisioned");
        let hash = *state.sent.keys().next().unwrap();
        assert!(shared.mempool.contains(&hash));
        // What went to the mempool is the fit enclave's signed provisioning.
        let txs = shared
            .mempool
            .reap(1 << 20, 10, |pk| shared.account_nonce(pk));
        assert_eq!(txs.len(), 1);
        let tx = &txs[0];
        let Call::Enclave(enclave_registry::Call::ProvisionSigned { provision }) = &tx.tx.call
        else {
            panic!("not a provisioning: {:?}", tx.tx.call);
        };
        assert_eq!(provision.provider, me);
        assert_eq!(provision.wrapped.recipient_quote_hash, fit.quote().hash());

        // A platform's full node: its node key is nobody on the chain, so the door would refuse
        // what it signs. Without a platform key it submits nothing and says why, once.
        let stranger = SecretKey::from_seed([77; 32]);
        let mut full = ServiceState {
            node_key: stranger.clone(),
            platform_key: None,
            sent: HashMap::new(),
            said: BTreeSet::new(),
        };
        provision_next(&shared, &cfg, &client, &mut full, me, 4).unwrap();
        provision_next(&shared, &cfg, &client, &mut full, me, 5).unwrap();
        assert!(full.sent.is_empty(), "an unknown key's tx was submitted");
        let said: Vec<_> = full
            .said
            .iter()
            .filter(|m| m.contains("cannot submit its maintenance"))
            .collect();
        assert_eq!(said.len(), 1, "{:?}", full.said);
        assert!(
            said[0].contains(&stranger.public_key().to_string()) && said[0].contains("not set")
        );
        // With its platform's member key it signs with that, and the door admits it.
        full.platform_key = Some(SecretKey::from_seed([12; 32]));
        provision_next(&shared, &cfg, &client, &mut full, me, 6).unwrap();
        assert_eq!(full.sent.len(), 1, "{:?}", full.said);
        let txs = shared
            .mempool
            .reap(1 << 20, 10, |pk| shared.account_nonce(pk));
        assert!(
            txs.iter().any(
                |t| t.tx.sender == SecretKey::from_seed([12; 32]).public_key()
                    && matches!(
                        t.tx.call,
                        Call::Enclave(enclave_registry::Call::ProvisionSigned { .. })
                    )
            ),
            "the platform key's provisioning is not in the mempool"
        );
    }
}
