//! The sidecar's side: `paychain-enclave serve` owns the [`Enclave`], alone reads the device
//! store (device secret, vendor certificate) and the sealed blob, writes the sealed blob after
//! provisioning and epoch adoption, and answers the node over a Unix socket (0600, in a 0700
//! directory). The node is treated as hostile: every frame is bounded and decoded without
//! panicking ([`super::proto`]), every refusal is a short [`WireError`].

use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Context as _;
use paychain_contracts::block::Block;
use paychain_contracts::certificate::TxCertificate;
use paychain_contracts::commit::Commit;
use paychain_contracts::confidential;
use paychain_contracts::crypto::Hash;
use paychain_contracts::enclave::{
    Enclave, EnclaveConfig, EnclaveError, QueryError, SealedBlob, ENCLAVE_SECURITY_VERSION,
};
use paychain_contracts::enclave_registry;
use paychain_contracts::grants::StateEvidence;
use paychain_contracts::grants::{self, AnswerError, ProvenPolicy};
use paychain_contracts::ids::ChainId;
use paychain_contracts::private::Supplied;
use paychain_contracts::reads::{self, SignedRead};
use paychain_contracts::state::Puts;
use tracing::{info, warn};

use super::device::{fresh_randomness, random, write_private, Device};
use super::proto::{
    decode_request, read_frame, write_frame, ErrorKind, FrameError, Info, Policy, Reply, Request,
    Response, WireError, MAX_FRAME_BYTES, MAX_STATE_PER_BLOCK, MAX_STATE_PER_FRAME,
};

/// Connections served at once; more are closed at once.
pub const MAX_CONNECTIONS: usize = 256;

/// What `paychain-enclave serve` is started with.
#[derive(Debug, Clone)]
pub struct Options {
    /// The socket to listen on (its directory is created 0700, the socket made 0600).
    pub socket: PathBuf,
    /// The machine's device store.
    pub device_dir: PathBuf,
    /// The sealed consortium secrets (read at start, written after provisioning and adoption).
    pub sealed: PathBuf,
    /// The chain's genesis: its chain id and the validator set whose commits the enclave trusts.
    pub genesis: PathBuf,
    /// Most state values kept from one executed block for the next (0: none; see
    /// [`ExecState::carried`]): the enclave memory it may spend to save its host round trips.
    pub carried_values: usize,
}

/// What the sidecar takes from genesis rather than from the node when it checks a quote: the
/// vendor's attestation root and whether debug enclaves may exist (no governance action changes
/// either), and the lowest security version (governance may only raise it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pins {
    pub attestation_root: paychain_contracts::crypto::PublicKey,
    pub allow_debug: bool,
    pub min_security_version: u32,
}

impl Pins {
    /// The pins of a chain whose genesis enclave configuration is `genesis`.
    pub fn of(genesis: &enclave_registry::EnclaveGenesis) -> Pins {
        Pins {
            attestation_root: genesis.attestation_root,
            allow_debug: genesis.allow_debug,
            min_security_version: genesis.min_security_version,
        }
    }

    /// The node's policy with the pins applied: another root is refused (a node that names its own
    /// root would have the enclave wrap secrets to a quote it made), debug only if genesis allows
    /// it, the security version never below genesis's.
    fn apply(&self, mut policy: ProvenPolicy) -> Result<ProvenPolicy, WireError> {
        if policy.config.attestation_root != self.attestation_root {
            return Err(WireError::new(
                ErrorKind::Refused,
                format!(
                    "the policy names attestation root {}, genesis names {}",
                    policy.config.attestation_root, self.attestation_root
                ),
            ));
        }
        policy.config.allow_debug &= self.allow_debug;
        policy.config.min_security_version = policy
            .config
            .min_security_version
            .max(self.min_security_version);
        Ok(policy)
    }
}

/// The enclave and its files.
pub struct Sidecar {
    enclave: RwLock<Enclave>,
    chain_id: ChainId,
    sealed: PathBuf,
    device: Device,
    pins: Pins,
    /// Whether the node has handed over the lookups answered before this process started.
    restored: AtomicBool,
    /// The block being executed, and what the last one left.
    exec: Mutex<ExecState>,
    /// [`Options::carried_values`].
    carried_values: usize,
}

/// Physical state values by key (`None`: absent).
type Values = Puts;

/// Most values kept from one executed block for the next by default ([`ExecState::carried`]):
/// about 20 MB of enclave memory.
pub const DEFAULT_CARRIED_VALUES: usize = 50_000;

/// Most bytes (keys and values) kept from one executed block for the next, whatever the count.
const MAX_CARRIED_BYTES: usize = 32 << 20;

/// Block execution in the enclave.
#[derive(Default)]
struct ExecState {
    /// The block being executed and the values known of its pre-state.
    session: Option<ExecSession>,
    /// The last block executed here, and the values of its post-state this enclave knows: what its
    /// host supplied for it, overlaid with its own writes. A block whose parent it is starts from
    /// them, so the values every block reads (the merchant, the platforms' clearing accounts, the
    /// CA) cross the socket once, not in every block's rounds. Sound because a block's hash fixes
    /// its parent and execution is a pure function of (state, block): the post-state of P is P's
    /// pre-state with P's writes, whichever host asks. A host that supplied a wrong value for P
    /// gets the same wrong value again, as it would by supplying it again.
    carried: Option<(Hash, Values)>,
}

impl ExecState {
    /// The session of block `block_hash`, whose parent is `parent`: the one under way, or a new
    /// one that starts from the carried values when they are the parent's post-state.
    fn session_for(&mut self, block_hash: Hash, parent: Hash) -> &mut ExecSession {
        if self.session.as_ref().map(|s| s.block_hash) != Some(block_hash) {
            let entries = match self.carried.take() {
                Some((carried, values)) if carried == parent => values,
                _ => Values::new(),
            };
            self.session = Some(ExecSession {
                block_hash,
                entries,
                supplied: 0,
            });
        }
        self.session.get_or_insert_with(|| ExecSession {
            block_hash,
            entries: Values::new(),
            supplied: 0,
        })
    }

    /// Ends the session with its block's writes: what it knew, overlaid with them, is carried to
    /// the block's child, unless that is more than `cap` values or [`MAX_CARRIED_BYTES`] (a host
    /// may supply large values: the count alone does not bound the memory).
    fn finish(&mut self, puts: &Puts, cap: usize) {
        self.carried = self.session.take().and_then(|mut s| {
            s.entries
                .extend(puts.iter().map(|(k, v)| (k.clone(), v.clone())));
            let bytes: usize = s
                .entries
                .iter()
                .map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len))
                .sum();
            (s.entries.len() <= cap && bytes <= MAX_CARRIED_BYTES)
                .then_some((s.block_hash, s.entries))
        });
    }
}

/// The block being executed and the values known of its pre-state so far.
struct ExecSession {
    block_hash: Hash,
    entries: Values,
    /// How many of `entries` the host supplied for this block (the rest were carried).
    supplied: usize,
}

impl Sidecar {
    /// Opens the enclave: this build on the genesis chain, the device secret, the sealed blob if
    /// any (one that does not unseal stops the sidecar with a clear error).
    pub fn open(opts: &Options) -> anyhow::Result<Sidecar> {
        let genesis = crate::home::load_genesis(&opts.genesis)?;
        let device = Device::at(opts.device_dir.clone());
        let secret = device.secret()?;
        let blob = match std::fs::read(&opts.sealed) {
            Ok(bytes) => Some(SealedBlob::from_bytes(&bytes).map_err(|e| {
                anyhow::anyhow!("sealed enclave file {}: {e}", opts.sealed.display())
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => anyhow::bail!("cannot read {}: {e}", opts.sealed.display()),
        };
        let pins = Pins::of(
            genesis
                .enclave
                .as_ref()
                .context("the genesis has no enclave configuration")?,
        );
        let config =
            EnclaveConfig::new(genesis.chain_id.clone()).with_validators(genesis.validators);
        let enclave = Enclave::new(&secret, config, blob.as_ref())
            .map_err(|e| anyhow::anyhow!("sealed enclave file {}: {e}", opts.sealed.display()))?;
        Ok(
            Sidecar::new(enclave, genesis.chain_id, opts.sealed.clone(), device, pins)
                .carrying(opts.carried_values),
        )
    }

    /// A sidecar around an enclave already made (tests).
    pub fn new(
        enclave: Enclave,
        chain_id: ChainId,
        sealed: PathBuf,
        device: Device,
        pins: Pins,
    ) -> Sidecar {
        Sidecar {
            enclave: RwLock::new(enclave),
            chain_id,
            sealed,
            device,
            pins,
            restored: AtomicBool::new(false),
            exec: Mutex::new(ExecState::default()),
            carried_values: DEFAULT_CARRIED_VALUES,
        }
    }

    /// Keeps at most `n` values of an executed block's state for the next block (0: none).
    pub fn carrying(mut self, n: usize) -> Sidecar {
        self.carried_values = n;
        self
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Enclave> {
        self.enclave.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Enclave> {
        self.enclave.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Seals the key ring of `enclave` to disk.
    fn seal(&self, enclave: &Enclave) -> Result<(), WireError> {
        let blob = enclave.sealed_blob(random()).map_err(refused)?;
        write_private(&self.sealed, &blob.to_bytes()).map_err(|e| {
            WireError::new(
                ErrorKind::Internal,
                format!(
                    "cannot write the sealed blob {}: {e}",
                    self.sealed.display()
                ),
            )
        })
    }

    /// Refuses lookups until the answered ones of the window are known (see
    /// [`Request::RememberAnswered`]).
    fn check_restored(&self) -> Result<(), WireError> {
        if self.restored.load(Ordering::Acquire) {
            return Ok(());
        }
        Err(WireError::new(
            ErrorKind::NotRestored,
            "the enclave has not been handed the lookups answered before it started",
        ))
    }

    /// The quote policy the node's evidence proves, verified inside the enclave.
    fn proven_policy(&self, policy: &Policy) -> Result<ProvenPolicy, WireError> {
        grants::proven_policy(&self.read(), &policy.evidence).map_err(|e| {
            WireError::new(
                ErrorKind::Refused,
                format!("the policy's evidence was refused: {e}"),
            )
        })
    }

    /// Executes `block` over the values supplied for it, or names the values still missing.
    fn execute(&self, block: &Block, commit: &Commit) -> Response {
        let block_hash = block.hash();
        let mut exec = self.exec.lock().unwrap_or_else(|p| p.into_inner());
        let session = exec.session_for(block_hash, block.header.prev_block_hash);
        let supplied = Supplied::new(&session.entries);
        let outcome = confidential::execute(&self.read(), &supplied, block, commit);
        let missing = supplied.into_missing();
        if !missing.is_empty() {
            return need_state(missing);
        }
        match outcome {
            Ok((puts, receipts)) => {
                exec.finish(&puts, self.carried_values);
                Ok(Reply::Executed {
                    puts: puts.into_iter().collect(),
                    receipts,
                })
            }
            Err(e) => {
                *exec = ExecState::default();
                Err(refused(e))
            }
        }
    }

    /// Answers a signed read of private state from the state `evidence` proves: the request's
    /// signature, chain and height bound, the requester's entitlement and the view are all decided
    /// here, over plaintext that never leaves the enclave but sealed to the requester.
    fn private_read(&self, read: &SignedRead, evidence: &StateEvidence) -> Response {
        let request = &read.request;
        let height = evidence.header.height;
        if !crate::views::is_state_view(&request.query) {
            return read_refused(crate::errors::internal("not a read of state"));
        }
        if let Err(e) = read.check(&self.chain_id, request.query.method(), height) {
            return read_refused(crate::errors::read_error(e));
        }
        let at = crate::views::At {
            height,
            time_ms: evidence.header.time_ms,
        };
        let (answer, missing) = confidential::read(&self.read(), evidence, |state, _| {
            match reads::may_read(state, &request.requester, &request.query) {
                Ok(Some(_)) => {}
                Ok(None) => {
                    return Err(crate::errors::not_entitled(
                        &request.requester,
                        &request.query,
                    ))
                }
                Err(e) => return Err(crate::errors::internal(e)),
            }
            crate::views::view(state, at, &request.query)
        })
        .map_err(refused)?;
        if !missing.is_empty() {
            return need_state(missing);
        }
        let json = match answer {
            Ok(json) => json,
            Err(e) => return read_refused(e),
        };
        seal_answer(request, height, &json)
    }

    /// Answers a signed read of a certificate with the disclosure of its transaction, decided
    /// inside the enclave on the opened call.
    fn disclose(
        &self,
        read: &SignedRead,
        certificate: &TxCertificate,
        evidence: &StateEvidence,
    ) -> Response {
        let request = &read.request;
        let height = evidence.header.height;
        let reads::Query::Certificate { tx_hash } = &request.query else {
            return read_refused(crate::errors::internal("not a read of a certificate"));
        };
        if *tx_hash != certificate.tx.hash() {
            return read_refused(crate::errors::internal(
                "the certificate is of another transaction",
            ));
        }
        if let Err(e) = read.check(&self.chain_id, request.query.method(), height) {
            return read_refused(crate::errors::read_error(e));
        }
        let (disclosure, missing) =
            confidential::disclose(&self.read(), evidence, &request.requester, certificate)
                .map_err(refused)?;
        if !missing.is_empty() {
            return need_state(missing);
        }
        let Some(disclosure) = disclosure else {
            return read_refused(crate::errors::not_entitled(
                &request.requester,
                &request.query,
            ));
        };
        let view = paychain_contracts::certificate::CertificateView {
            certificate: certificate.clone(),
            disclosure: Some(disclosure),
        };
        seal_answer(request, height, &view)
    }

    /// Answers one request.
    pub fn handle(&self, request: Request) -> Response {
        match request {
            Request::Info => {
                let e = self.read();
                Ok(Reply::Info(Info {
                    signer: e.signer(),
                    kx_public: e.kx_public(),
                    measurement: e.measurement(),
                    device_key: e.device_key(),
                    lookup_window: e.lookup_window(),
                    provisioned: e.is_provisioned(),
                    epoch: e.current_epoch(),
                }))
            }
            Request::SignedQuote => {
                let cert = self
                    .device
                    .cert()
                    .map_err(|e| WireError::new(ErrorKind::Internal, e.to_string()))?;
                let e = self.read();
                match cert {
                    None => Err(WireError::new(
                        ErrorKind::NoCertificate,
                        format!(
                            "this machine's device key {} has no vendor certificate; have the vendor run `paychain-vendor certify --device-key {}` and put the certificate at {}",
                            e.device_key(),
                            e.device_key(),
                            self.device.cert_path().display()
                        ),
                    )),
                    Some(cert) => e.signed_quote(&cert).map(Reply::SignedQuote).map_err(|err| {
                        WireError::new(
                            ErrorKind::Refused,
                            format!("device certificate {}: {err}", self.device.cert_path().display()),
                        )
                    }),
                }
            }
            Request::PlatformBinding { platform } => Ok(Reply::PlatformBinding(
                self.read().platform_binding(&platform),
            )),
            Request::Provision {
                wrapped,
                genesis_consortium_public,
            } => {
                let mut e = self.write();
                e.provision(&wrapped, &genesis_consortium_public)
                    .map_err(refused)?;
                self.seal(&e)?;
                Ok(Reply::Provisioned)
            }
            Request::AdoptEpoch {
                wrapped,
                epoch,
                expected_public,
            } => {
                let mut e = self.write();
                e.adopt_epoch(&wrapped, epoch, &expected_public)
                    .map_err(refused)?;
                self.seal(&e)?;
                Ok(Reply::EpochAdopted)
            }
            Request::StartEpoch {
                epoch,
                platforms,
                recipients,
                policy,
            } => {
                let ProvenPolicy {
                    config,
                    allowed,
                    revoked,
                } = self.pins.apply(self.proven_policy(&policy)?)?;
                let policy = enclave_registry::policy(&config, &self.chain_id, &allowed, &revoked);
                self.read()
                    .start_epoch(
                        epoch,
                        &platforms,
                        &recipients,
                        &policy,
                        &random(),
                        fresh_randomness,
                    )
                    .map(Reply::EpochStarted)
                    .map_err(refused)
            }
            Request::PlatformKey { platform } => self
                .read()
                .platform_key(&platform)
                .map(Reply::PlatformKey)
                .map_err(refused),
            Request::ProvisionFor { peer, policy } => {
                let ProvenPolicy {
                    config,
                    allowed,
                    revoked,
                } = self.pins.apply(self.proven_policy(&policy)?)?;
                let policy = enclave_registry::policy(&config, &self.chain_id, &allowed, &revoked);
                self.read()
                    .provision_for(&peer, &policy, &fresh_randomness())
                    .map(Reply::Provision)
                    .map_err(refused)
            }
            Request::Answer { lookup, evidence } => {
                self.check_restored()?;
                match grants::answer(&self.read(), &lookup, &evidence, &fresh_randomness()) {
                    Ok(answer) => Ok(Reply::Answer(Box::new(answer))),
                    Err(e @ AnswerError::Enclave(EnclaveError::Query(QueryError::Replayed(_)))) => {
                        Err(WireError::new(ErrorKind::Replayed, e.to_string()))
                    }
                    Err(e @ AnswerError::Enclave(EnclaveError::NotProvisioned)) => {
                        Err(WireError::new(ErrorKind::NotProvisioned, e.to_string()))
                    }
                    Err(e) => Err(WireError::new(ErrorKind::Refused, e.to_string())),
                }
            }
            Request::Precheck { request, height } => self
                .check_restored()
                .and_then(|()| {
                    self.read()
                        .precheck(&request, &request.hash(), height)
                        .map_err(|e| WireError::new(ErrorKind::Refused, e.to_string()))
                })
                .map(|()| Reply::Prechecked),
            Request::Execute { block, commit } => self.execute(&block, &commit),
            Request::Read { read, evidence } => self.private_read(&read, &evidence),
            Request::Disclose {
                read,
                certificate,
                evidence,
            } => self.disclose(&read, &certificate, &evidence),
            Request::SupplyState {
                block_hash,
                entries,
            } => {
                let mut exec = self.exec.lock().unwrap_or_else(|p| p.into_inner());
                let s = exec.session.get_or_insert_with(|| ExecSession {
                    block_hash,
                    entries: Values::new(),
                    supplied: 0,
                });
                if s.block_hash != block_hash {
                    *s = ExecSession {
                        block_hash,
                        entries: Values::new(),
                        supplied: 0,
                    };
                }
                if s.supplied.saturating_add(entries.len()) > MAX_STATE_PER_BLOCK {
                    exec.session = None;
                    return Err(WireError::new(
                        ErrorKind::Refused,
                        format!("more than {MAX_STATE_PER_BLOCK} state values for one block"),
                    ));
                }
                s.supplied += entries.len();
                s.entries.extend(entries);
                Ok(Reply::StateSupplied)
            }
            Request::RememberAnswered { answered, complete } => {
                let e = self.read();
                for (issued_at, hash) in &answered {
                    e.remember_answered(*issued_at, hash);
                }
                if complete {
                    self.restored.store(true, Ordering::Release);
                }
                Ok(Reply::Remembered)
            }
        }
    }

    /// Answers frames on one connection until the node closes it. A frame that does not decode
    /// is answered with an error and the connection goes on; one announced larger than
    /// [`MAX_FRAME_BYTES`] is answered with an error and the connection is closed.
    pub fn serve_connection(&self, mut stream: UnixStream) {
        loop {
            let response = match read_frame(&mut stream, MAX_FRAME_BYTES) {
                Ok(body) => decode_request(&body).and_then(|r| self.handle(r)),
                Err(FrameError::TooLarge { len, max }) => {
                    let e = WireError::malformed(format!(
                        "frame of {len} bytes exceeds the limit of {max}"
                    ));
                    let _ = write_frame(&mut stream, &Response::Err(e));
                    return;
                }
                Err(FrameError::Closed | FrameError::Io(_)) => return,
            };
            if write_frame(&mut stream, &response).is_err() {
                return;
            }
        }
    }

    /// Accepts connections on `listener` for ever, each on a thread of its own (at most
    /// [`MAX_CONNECTIONS`] at once).
    pub fn serve(self: Arc<Self>, listener: UnixListener) {
        let active = Arc::new(AtomicUsize::new(0));
        for stream in listener.incoming() {
            let stream = match stream {
                Ok(s) => s,
                Err(e) => {
                    warn!(target: "sidecar", error = %e, "accept failed");
                    continue;
                }
            };
            if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
                active.fetch_sub(1, Ordering::AcqRel);
                warn!(target: "sidecar", "too many connections; one closed");
                continue;
            }
            let (me, active) = (self.clone(), active.clone());
            let spawned = std::thread::Builder::new()
                .name("sidecar-conn".into())
                .spawn(move || {
                    me.serve_connection(stream);
                    active.fetch_sub(1, Ordering::AcqRel);
                });
            if let Err(e) = spawned {
                warn!(target: "sidecar", error = %e, "cannot start a connection thread");
            }
        }
    }
}

/// An enclave refusal on the wire (the node acts on `NotProvisioned`).
fn refused(e: EnclaveError) -> WireError {
    match e {
        EnclaveError::NotProvisioned => WireError::new(ErrorKind::NotProvisioned, e.to_string()),
        e => WireError::new(ErrorKind::Refused, e.to_string()),
    }
}

/// A read refused: the RPC error for the requester, passed on by the node as it is.
fn read_refused(e: jsonrpsee::types::ErrorObjectOwned) -> Response {
    Ok(Reply::ReadRefused {
        code: e.code(),
        message: e.message().to_owned(),
    })
}

/// The state values a run still needs, at most a frame's worth.
fn need_state(missing: std::collections::BTreeSet<Vec<u8>>) -> Response {
    Ok(Reply::NeedState(
        missing.into_iter().take(MAX_STATE_PER_FRAME).collect(),
    ))
}

/// `answer` as JSON, sealed inside the enclave to the request's reply key.
fn seal_answer(
    request: &reads::ReadRequest,
    height: u64,
    answer: &impl serde::Serialize,
) -> Response {
    let bytes = serde_json::to_vec(answer)
        .map_err(|e| WireError::new(ErrorKind::Internal, e.to_string()))?;
    reads::seal_reply(request, height, &bytes, &fresh_randomness())
        .map(Reply::ReadAnswer)
        .map_err(|e| WireError::new(ErrorKind::Refused, e.to_string()))
}

/// Binds the socket: its directory created and made 0700, a stale socket removed, the socket
/// made 0600.
pub fn bind(socket: &Path) -> anyhow::Result<UnixListener> {
    let dir = socket
        .parent()
        .context("the sidecar socket path has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    match std::fs::remove_file(socket) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => anyhow::bail!("cannot remove the stale socket {}: {e}", socket.display()),
    }
    let listener = UnixListener::bind(socket)
        .with_context(|| format!("cannot listen on {}", socket.display()))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// `paychain-enclave serve`: opens the enclave, binds the socket and serves. With
/// `exit_with_stdin`, the sidecar exits when its standard input closes (the node that started it
/// holds the other end, so the sidecar never outlives it, even when the node is killed).
pub fn run(opts: &Options, exit_with_stdin: bool) -> anyhow::Result<()> {
    let sidecar = Arc::new(Sidecar::open(opts)?);
    let listener = bind(&opts.socket)?;
    {
        let e = sidecar.read();
        info!(target: "sidecar", socket = %opts.socket.display(), signer = %e.signer(), measurement = %e.measurement(), security_version = ENCLAVE_SECURITY_VERSION, provisioned = e.is_provisioned(), "enclave sidecar serving");
    }
    if exit_with_stdin {
        std::thread::spawn(move || {
            let mut sink = [0u8; 64];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            // The socket stays: a newer sidecar may already listen on its path.
            tracing::debug!(target: "sidecar", "the node closed our standard input; exiting");
            std::process::exit(0);
        });
    }
    sidecar.serve(listener);
    Ok(())
}

/// This machine's device key (`paychain-enclave device`), creating the device secret first with
/// `init` if the store has none.
pub fn device_key(
    device_dir: &Path,
    init: bool,
) -> anyhow::Result<paychain_contracts::crypto::PublicKey> {
    let device = Device::at(device_dir.to_path_buf());
    if init {
        device.init()?;
    }
    device.attestation_key()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, Option<&str>)]) -> Values {
        pairs
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec())))
            .collect()
    }

    #[test]
    fn a_block_starts_from_its_parents_post_state_and_nothing_else() {
        let (p, c, other) = (Hash([1; 32]), Hash([2; 32]), Hash([3; 32]));
        let mut exec = ExecState::default();
        // Block P: the host supplied a and b; P wrote b, deleted a and created n.
        exec.session_for(p, Hash([0; 32]))
            .entries
            .extend(values(&[("a", Some("1")), ("b", Some("2"))]));
        exec.finish(
            &values(&[("a", None), ("b", Some("3")), ("n", Some("9"))]),
            10,
        );
        // A block whose parent is not P starts from nothing, and P's values are gone.
        assert!(exec.session_for(other, other).entries.is_empty());
        exec.session = None;
        assert!(exec.session_for(c, p).entries.is_empty());

        // Again; now P's child starts from P's post-state, its own supplies on top.
        let mut exec = ExecState::default();
        exec.session_for(p, Hash([0; 32]))
            .entries
            .extend(values(&[("a", Some("1")), ("b", Some("2"))]));
        exec.finish(
            &values(&[("a", None), ("b", Some("3")), ("n", Some("9"))]),
            10,
        );
        let child = exec.session_for(c, p);
        assert_eq!(
            child.entries,
            values(&[("a", None), ("b", Some("3")), ("n", Some("9"))])
        );
        assert_eq!(
            child.supplied, 0,
            "carried values are not counted as supplied"
        );
        // Asked again for the same block, the session goes on (rounds of one block).
        child.entries.extend(values(&[("z", Some("5"))]));
        assert_eq!(exec.session_for(c, p).entries.len(), 4);
        // Over the cap, nothing is carried: by count, or by bytes whatever the count.
        exec.finish(&Values::new(), 3);
        assert!(exec.carried.is_none());
        let big = vec![7u8; MAX_CARRIED_BYTES / 2 + 1];
        exec.session_for(c, p).entries.extend([
            (b"x".to_vec(), Some(big.clone())),
            (b"y".to_vec(), Some(big)),
        ]);
        exec.finish(&Values::new(), 10);
        assert!(exec.carried.is_none(), "over the byte bound");
        assert!(exec.session_for(Hash([4; 32]), c).entries.is_empty());
    }
}
