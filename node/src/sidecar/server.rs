//! The sidecar's side: `paychain-enclave serve` owns the [`Enclave`], alone reads the device
//! store (device secret, vendor certificate) and the sealed blob, writes the sealed blob after
//! provisioning and epoch adoption, and answers the node over a Unix socket (0600, in a 0700
//! directory). The node is treated as hostile: every frame is bounded and decoded without
//! panicking ([`super::proto`]), every refusal is a short [`WireError`].

use std::collections::BTreeMap;
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
    /// The state values supplied for the block being executed.
    exec: Mutex<Option<ExecSession>>,
}

/// The block being executed and the state values its host supplied so far.
struct ExecSession {
    block_hash: Hash,
    entries: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
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
        Ok(Sidecar::new(
            enclave,
            genesis.chain_id,
            opts.sealed.clone(),
            device,
            pins,
        ))
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
            exec: Mutex::new(None),
        }
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
        let mut session = self.exec.lock().unwrap_or_else(|p| p.into_inner());
        let empty = BTreeMap::new();
        let entries = match session.as_ref() {
            Some(s) if s.block_hash == block_hash => &s.entries,
            _ => &empty,
        };
        let supplied = Supplied::new(entries);
        let outcome = confidential::execute(&self.read(), &supplied, block, commit);
        let missing = supplied.into_missing();
        if !missing.is_empty() {
            return need_state(missing);
        }
        *session = None;
        let (puts, receipts) = outcome.map_err(refused)?;
        Ok(Reply::Executed {
            puts: puts.into_iter().collect(),
            receipts,
        })
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
                let mut session = self.exec.lock().unwrap_or_else(|p| p.into_inner());
                let s = session.get_or_insert_with(|| ExecSession {
                    block_hash,
                    entries: BTreeMap::new(),
                });
                if s.block_hash != block_hash {
                    *s = ExecSession {
                        block_hash,
                        entries: BTreeMap::new(),
                    };
                }
                if s.entries.len().saturating_add(entries.len()) > MAX_STATE_PER_BLOCK {
                    *session = None;
                    return Err(WireError::new(
                        ErrorKind::Refused,
                        format!("more than {MAX_STATE_PER_BLOCK} state values for one block"),
                    ));
                }
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
