//! The node's side: [`EnclaveClient`] stands where the `Enclave` object stood in the node
//! (`Shared::enclave`). Each method is one request over the sidecar's Unix socket; calls block
//! (they run on the RPC's blocking pool and the maintenance task's blocking thread, never on an
//! async worker).
//!
//! By default the node starts the sidecar itself ([`start`]), holding the write end of its
//! standard input so that the sidecar exits with the node however the node ends; if the sidecar
//! dies, the node logs it, starts it again (at most `[enclave] sidecar_restarts` times) and
//! hands it the answered lookups of the replay window, or stops with a one-line reason.

use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use paychain_contracts::crypto::{Hash, PublicKey, Signature};
use paychain_contracts::enclave::{
    KxPublicKey, LookupRequest, Measurement, SignedAnswer, SignedEpochStart, SignedLookup,
    SignedPlatformKey, SignedProvision, SignedQuote, WrappedSecret,
};
use paychain_contracts::grants::{StateEvidence, MAX_READ_EVIDENCE_ENTRIES};
use paychain_contracts::ids::PlatformId;
use paychain_contracts::reads::{SealedReply, SignedRead};
use tracing::{error, info, warn};

use super::proto::{
    decode_response, read_frame, write_frame, ErrorKind, Info, Policy, Reply, Request, WireError,
    MAX_FRAME_BYTES, MAX_REMEMBERED_PER_FRAME, MAX_STATE_PER_FRAME,
};
use paychain_contracts::block::Block;
use paychain_contracts::certificate::TxCertificate;
use paychain_contracts::commit::Commit;
use paychain_contracts::executor::Receipt;
use paychain_contracts::state::Puts;

/// How long a started sidecar has to answer its first request.
const READY_WITHIN: Duration = Duration::from_secs(20);
/// How long one request may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Most request rounds of one block's execution (each supplies the values the last run missed;
/// the depth of a block's reads, a handful in practice).
const MAX_EXECUTION_ROUNDS: usize = 64;
/// Idle connections kept for reuse.
const MAX_IDLE: usize = 32;

/// Why a call to the sidecar failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The enclave refused (its kind and message).
    #[error("{0}")]
    Refused(WireError),
    /// The sidecar could not be reached or broke the protocol.
    #[error("enclave sidecar unavailable: {0}")]
    Down(String),
}

impl CallError {
    /// The kind of refusal, if the enclave refused.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            CallError::Refused(e) => Some(e.kind),
            CallError::Down(_) => None,
        }
    }
}

/// How the node reaches its sidecar.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The socket.
    pub socket: PathBuf,
    /// `Some`: start this binary with these arguments (and supervise it); `None`: connect to a
    /// sidecar someone else runs.
    pub spawn: Option<(PathBuf, Vec<std::ffi::OsString>)>,
    /// How many times a dead sidecar is started again before the node stops.
    pub restarts: u32,
}

type Restore = dyn Fn(&EnclaveClient) -> anyhow::Result<()> + Send + Sync;

/// The node's handle on its enclave sidecar.
pub struct EnclaveClient {
    socket: PathBuf,
    idle: Mutex<Vec<UnixStream>>,
    /// Calls hold it shared; a restart holds it exclusively from the old sidecar's exit until the
    /// new one has the replay window, so that no lookup reaches a sidecar that does not yet know
    /// what was answered.
    gate: RwLock<()>,
    /// Hands a sidecar the answered lookups of the window (set by [`start`]); run again when a
    /// sidecar says it lacks them ([`ErrorKind::NotRestored`]: one restarted by someone else).
    restore: Mutex<Option<Arc<Restore>>>,
    /// What does not change while the same device runs the same build.
    fixed: Info,
}

impl std::fmt::Debug for EnclaveClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnclaveClient")
            .field("socket", &self.socket)
            .field("signer", &self.fixed.signer)
            .finish_non_exhaustive()
    }
}

impl EnclaveClient {
    /// Connects to the sidecar at `socket`, waiting until it answers (at most `within`).
    pub fn connect(socket: PathBuf, within: Duration) -> anyhow::Result<EnclaveClient> {
        let info = wait_info(&socket, within, || Ok(()))?;
        Ok(EnclaveClient::new(socket, info))
    }

    fn new(socket: PathBuf, fixed: Info) -> EnclaveClient {
        EnclaveClient {
            socket,
            idle: Mutex::new(Vec::new()),
            gate: RwLock::new(()),
            restore: Mutex::new(None),
            fixed,
        }
    }

    fn call(&self, request: &Request) -> Result<Reply, CallError> {
        let _gate = self.gate.read().unwrap_or_else(|p| p.into_inner());
        self.call_now(request)
    }

    /// [`EnclaveClient::call`] without waiting for a restart to finish (the restart's own calls).
    fn call_now(&self, request: &Request) -> Result<Reply, CallError> {
        // A pooled connection may have been closed by a sidecar that restarted: one retry on a
        // fresh one.
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        if let Some(stream) = pooled {
            if let Ok(reply) = self.exchange(stream, request) {
                return reply;
            }
        }
        let stream = UnixStream::connect(&self.socket).map_err(|e| {
            CallError::Down(format!("cannot connect to {}: {e}", self.socket.display()))
        })?;
        self.exchange(stream, request)
            .map_err(|e| CallError::Down(format!("{}: {e}", request.name())))?
    }

    /// One request and its reply on `stream`; the stream goes back to the pool after a full
    /// exchange. `Err`: the transport failed.
    fn exchange(
        &self,
        mut stream: UnixStream,
        request: &Request,
    ) -> Result<Result<Reply, CallError>, String> {
        stream
            .set_read_timeout(Some(CALL_TIMEOUT))
            .and_then(|()| stream.set_write_timeout(Some(CALL_TIMEOUT)))
            .map_err(|e| e.to_string())?;
        write_frame(&mut stream, request).map_err(|e| e.to_string())?;
        let body = read_frame(&mut stream, MAX_FRAME_BYTES).map_err(|e| e.to_string())?;
        let response = decode_response(&body).map_err(|e| e.to_string())?;
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(stream);
        }
        Ok(response.map_err(CallError::Refused))
    }

    fn unexpected(request: &Request, reply: Reply) -> CallError {
        CallError::Down(format!(
            "the sidecar answered {} with {reply:?}",
            request.name()
        ))
    }

    /// Who the enclave is and what it holds now.
    pub fn info(&self) -> Result<Info, CallError> {
        match self.call(&Request::Info)? {
            Reply::Info(info) => Ok(info),
            other => Err(Self::unexpected(&Request::Info, other)),
        }
    }

    /// The key that signs answers.
    pub fn signer(&self) -> PublicKey {
        self.fixed.signer
    }

    /// The build's measurement.
    pub fn measurement(&self) -> Measurement {
        self.fixed.measurement
    }

    /// This machine's device attestation key.
    pub fn device_key(&self) -> PublicKey {
        self.fixed.device_key
    }

    /// The key the consortium secret is wrapped to.
    pub fn kx_public(&self) -> KxPublicKey {
        self.fixed.kx_public
    }

    /// How many blocks old a lookup may be.
    pub fn lookup_window(&self) -> u64 {
        self.fixed.lookup_window
    }

    /// Whether the enclave holds the consortium secret (a sidecar that cannot be reached: no).
    pub fn is_provisioned(&self) -> bool {
        self.info().is_ok_and(|i| i.provisioned)
    }

    /// The newest epoch whose secret the enclave holds.
    pub fn current_epoch(&self) -> Result<Option<(u64, KxPublicKey)>, CallError> {
        Ok(self.info()?.epoch)
    }

    /// The quote signed by the device key, with the vendor certificate the sidecar reads from the
    /// device store ([`ErrorKind::NoCertificate`] when there is none).
    pub fn signed_quote(&self) -> Result<SignedQuote, CallError> {
        let request = Request::SignedQuote;
        match self.call(&request)? {
            Reply::SignedQuote(q) => Ok(q),
            other => Err(Self::unexpected(&request, other)),
        }
    }

    /// The enclave's signature saying it serves `platform`.
    pub fn platform_binding(&self, platform: &PlatformId) -> Result<Signature, CallError> {
        let request = Request::PlatformBinding {
            platform: platform.clone(),
        };
        match self.call(&request)? {
            Reply::PlatformBinding(s) => Ok(s),
            other => Err(Self::unexpected(&request, other)),
        }
    }

    /// Provisions the enclave (the sidecar seals the secrets to disk).
    pub fn provision(
        &self,
        wrapped: &WrappedSecret,
        genesis_consortium_public: &KxPublicKey,
    ) -> Result<(), CallError> {
        let request = Request::Provision {
            wrapped: wrapped.clone(),
            genesis_consortium_public: *genesis_consortium_public,
        };
        match self.call(&request)? {
            Reply::Provisioned => Ok(()),
            other => Err(Self::unexpected(&request, other)),
        }
    }

    /// Adopts the next epoch's secret (the sidecar seals the ring to disk).
    pub fn adopt_epoch(
        &self,
        wrapped: &WrappedSecret,
        epoch: u64,
        expected_public: &KxPublicKey,
    ) -> Result<(), CallError> {
        let request = Request::AdoptEpoch {
            wrapped: wrapped.clone(),
            epoch,
            expected_public: *expected_public,
        };
        match self.call(&request)? {
            Reply::EpochAdopted => Ok(()),
            other => Err(Self::unexpected(&request, other)),
        }
    }

    /// Creates the next epoch inside the enclave (its entropy drawn there).
    pub fn start_epoch(
        &self,
        epoch: u64,
        platforms: &[PlatformId],
        recipients: &[SignedQuote],
        policy: Policy,
    ) -> Result<SignedEpochStart, CallError> {
        let request = Request::StartEpoch {
            epoch,
            platforms: platforms.to_vec(),
            recipients: recipients.to_vec(),
            policy,
        };
        match self.call(&request)? {
            Reply::EpochStarted(s) => Ok(s),
            other => Err(Self::unexpected(&request, other)),
        }
    }

    /// Executes `block` of a chain with private state inside the enclave: the enclave names the
    /// state values it needs, `get` reads them (physical keys, from the node's storage), until it
    /// has run the block over nothing but supplied values. Returns the physical writes and the
    /// receipts, and the number of execute requests it took; the node computes the bucket and app
    /// hashes over them itself.
    pub fn execute(
        &self,
        block: &Block,
        commit: &Commit,
        get: impl Fn(&[u8]) -> anyhow::Result<Option<Vec<u8>>>,
    ) -> Result<(Puts, Vec<Receipt>, u32), CallError> {
        let block_hash = block.hash();
        let request = Request::Execute {
            block: block.clone(),
            commit: commit.clone(),
        };
        for round in 1..=MAX_EXECUTION_ROUNDS {
            match self.call(&request)? {
                Reply::Executed { puts, receipts } => {
                    return Ok((puts.into_iter().collect(), receipts, round as u32))
                }
                Reply::NeedState(keys) => {
                    let mut chunk = Vec::new();
                    let mut bytes = 0usize;
                    for key in keys {
                        let value = get(&key).map_err(|e| CallError::Down(format!("{e:#}")))?;
                        bytes += key.len() + value.as_ref().map_or(0, Vec::len) + 16;
                        chunk.push((key, value));
                        if bytes > MAX_FRAME_BYTES / 2 || chunk.len() >= MAX_STATE_PER_FRAME {
                            self.supply(block_hash, std::mem::take(&mut chunk))?;
                            bytes = 0;
                        }
                    }
                    if !chunk.is_empty() {
                        self.supply(block_hash, chunk)?;
                    }
                }
                other => return Err(Self::unexpected(&request, other)),
            }
        }
        Err(CallError::Down(format!(
            "the enclave still needed state after {MAX_EXECUTION_ROUNDS} rounds"
        )))
    }

    /// A signed read of private state, answered inside the enclave: the enclave names the state it
    /// needs, `prove(keys)` proves them (all keys asked so far, at one certified height), until the
    /// enclave answers. `Ok(Err((code, message)))` is the RPC error for the requester.
    pub fn read(
        &self,
        read: &SignedRead,
        certificate: Option<&TxCertificate>,
        prove: impl Fn(&[Vec<u8>]) -> anyhow::Result<StateEvidence>,
    ) -> Result<Result<SealedReply, (i32, String)>, CallError> {
        let mut keys: Vec<Vec<u8>> = Vec::new();
        for _ in 0..MAX_EXECUTION_ROUNDS {
            let evidence = prove(&keys).map_err(|e| CallError::Down(format!("{e:#}")))?;
            let request = match certificate {
                None => Request::Read {
                    read: read.clone(),
                    evidence,
                },
                Some(c) => Request::Disclose {
                    read: read.clone(),
                    certificate: Box::new(c.clone()),
                    evidence,
                },
            };
            match self.call(&request)? {
                Reply::ReadAnswer(sealed) => return Ok(Ok(sealed)),
                Reply::ReadRefused { code, message } => return Ok(Err((code, message))),
                Reply::NeedState(more) => {
                    if more.is_empty() || keys.len() + more.len() > MAX_READ_EVIDENCE_ENTRIES {
                        return Err(CallError::Down(format!(
                            "a read needs more than {MAX_READ_EVIDENCE_ENTRIES} proven values"
                        )));
                    }
                    keys.extend(more);
                }
                other => return Err(Self::unexpected(&request, other)),
            }
        }
        Err(CallError::Down(format!(
            "the enclave still needed state after {MAX_EXECUTION_ROUNDS} rounds"
        )))
    }

    fn supply(
        &self,
        block_hash: Hash,
        entries: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    ) -> Result<(), CallError> {
        let request = Request::SupplyState {
            block_hash,
            entries,
        };
        match self.call(&request)? {
            Reply::StateSupplied => Ok(()),
            other => Err(Self::unexpected(&request, other)),
        }
    }

    /// `platform`'s record key in the current epoch, signed.
    pub fn platform_key(&self, platform: &PlatformId) -> Result<SignedPlatformKey, CallError> {
        let request = Request::PlatformKey {
            platform: platform.clone(),
        };
        match self.call(&request)? {
            Reply::PlatformKey(k) => Ok(k),
            other => Err(Self::unexpected(&request, other)),
        }
    }

    /// A signed provisioning of `peer`.
    pub fn provision_for(
        &self,
        peer: &SignedQuote,
        policy: Policy,
    ) -> Result<SignedProvision, CallError> {
        let request = Request::ProvisionFor {
            peer: peer.clone(),
            policy,
        };
        match self.call(&request)? {
            Reply::Provision(p) => Ok(p),
            other => Err(Self::unexpected(&request, other)),
        }
    }

    /// [`EnclaveClient::call`] of a lookup request: a sidecar that has not been handed the
    /// answered lookups (restarted by someone else) gets them, then the request again.
    fn call_lookup(&self, request: &Request) -> Result<Reply, CallError> {
        match self.call(request) {
            Err(e) if e.kind() == Some(ErrorKind::NotRestored) => {
                let restore = self
                    .restore
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                let Some(restore) = restore else {
                    return Err(e);
                };
                warn!(target: "enclave", "the enclave sidecar does not know the answered lookups (it was restarted): handing them over");
                restore(self).map_err(|e| CallError::Down(format!("{e:#}")))?;
                self.call(request)
            }
            other => other,
        }
    }

    /// A lookup's answer, decided inside the enclave from `evidence`.
    pub fn answer(
        &self,
        lookup: &SignedLookup,
        evidence: &StateEvidence,
    ) -> Result<SignedAnswer, CallError> {
        let request = Request::Answer {
            lookup: lookup.clone(),
            evidence: evidence.clone(),
        };
        match self.call_lookup(&request)? {
            Reply::Answer(a) => Ok(*a),
            other => Err(Self::unexpected(&request, other)),
        }
    }

    /// The enclave's checks of `request` before any work (chain, addressee, window, replay).
    pub fn precheck(&self, request: &LookupRequest, height: u64) -> Result<(), CallError> {
        let request = Request::Precheck {
            request: request.clone(),
            height,
        };
        match self.call_lookup(&request)? {
            Reply::Prechecked => Ok(()),
            other => Err(Self::unexpected(&request, other)),
        }
    }

    /// Hands the enclave the lookups answered within the window (in frames of bounded size, the
    /// last one marked complete: only then does the sidecar answer lookups).
    pub fn remember_answered(&self, answered: &[(u64, Hash)]) -> Result<(), CallError> {
        let chunks: Vec<&[(u64, Hash)]> = if answered.is_empty() {
            vec![&[]]
        } else {
            answered.chunks(MAX_REMEMBERED_PER_FRAME).collect()
        };
        let last = chunks.len() - 1;
        for (i, chunk) in chunks.into_iter().enumerate() {
            let request = Request::RememberAnswered {
                answered: chunk.to_vec(),
                complete: i == last,
            };
            // The restore after a restart runs while other calls wait: no waiting here.
            match self.call_now(&request)? {
                Reply::Remembered => {}
                other => return Err(Self::unexpected(&request, other)),
            }
        }
        Ok(())
    }
}

/// Asks `socket` for the enclave's [`Info`] until it answers or `within` passes; `alive` says
/// why to give up early (the sidecar process exited).
fn wait_info(
    socket: &std::path::Path,
    within: Duration,
    mut alive: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<Info> {
    let deadline = Instant::now() + within;
    loop {
        alive()?;
        let last = match UnixStream::connect(socket) {
            Ok(mut stream) => {
                let asked = write_frame(&mut stream, &Request::Info)
                    .map_err(|e| e.to_string())
                    .and_then(|()| {
                        read_frame(&mut stream, MAX_FRAME_BYTES).map_err(|e| e.to_string())
                    })
                    .and_then(|body| decode_response(&body).map_err(|e| e.to_string()));
                match asked {
                    Ok(Ok(Reply::Info(info))) => return Ok(info),
                    Ok(other) => format!("unexpected answer {other:?}"),
                    Err(e) => e,
                }
            }
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            anyhow::bail!(
                "the enclave sidecar at {} did not answer within {} s: {last}",
                socket.display(),
                within.as_secs()
            );
        }
        // Polling a socket that is not there yet: there is nothing to wait on but time.
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts the sidecar in a process group of its own: a signal to the node's group (^C, a service
/// manager's stop) reaches the node, which ends, and the sidecar follows when its standard input
/// closes, rather than dying first and being restarted by a node that is shutting down.
fn spawn_child(bin: &std::path::Path, args: &[std::ffi::OsString]) -> anyhow::Result<Child> {
    use std::os::unix::process::CommandExt as _;
    Command::new(bin)
        .args(args)
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot start the enclave sidecar {} (build it with `cargo build --workspace --bins`, or set [enclave] sidecar_bin): {e}",
                bin.display()
            )
        })
}

/// Starts (or, without `launch.spawn`, connects to) the node's sidecar and waits until it
/// answers; `restore` runs on the new client and again after every restart (it hands the
/// sidecar the answered lookups of the window).
pub fn start(
    launch: Launch,
    restore: impl Fn(&EnclaveClient) -> anyhow::Result<()> + Send + Sync + 'static,
) -> anyhow::Result<Arc<EnclaveClient>> {
    let restore: Arc<Restore> = Arc::new(restore);
    let Some((bin, args)) = launch.spawn.clone() else {
        let client = Arc::new(EnclaveClient::connect(launch.socket.clone(), READY_WITHIN)?);
        restore(&client)?;
        *client.restore.lock().unwrap_or_else(|p| p.into_inner()) = Some(restore);
        return Ok(client);
    };
    let mut child = spawn_child(&bin, &args)?;
    let info = wait_ready(&launch.socket, &mut child)?;
    let client = Arc::new(EnclaveClient::new(launch.socket.clone(), info));
    restore(&client)?;
    *client.restore.lock().unwrap_or_else(|p| p.into_inner()) = Some(restore.clone());
    info!(target: "enclave", pid = child.id(), socket = %launch.socket.display(), signer = %client.signer(), "enclave sidecar started");
    let weak = Arc::downgrade(&client);
    std::thread::Builder::new()
        .name("sidecar-supervisor".into())
        .spawn(move || supervise(child, weak, launch, bin, args, restore))?;
    Ok(client)
}

fn wait_ready(socket: &std::path::Path, child: &mut Child) -> anyhow::Result<Info> {
    wait_info(socket, READY_WITHIN, || match child.try_wait()? {
        Some(status) => anyhow::bail!("the enclave sidecar exited before it served: {status}"),
        None => Ok(()),
    })
}

/// Waits for the sidecar to exit; starts it again (at most `launch.restarts` times) or stops the
/// node with a one-line reason.
fn supervise(
    mut child: Child,
    client: Weak<EnclaveClient>,
    launch: Launch,
    bin: PathBuf,
    args: Vec<std::ffi::OsString>,
    restore: Arc<Restore>,
) {
    // Held (not written) for the sidecar's life: when the node ends, however it ends, the
    // sidecar reads end of file and exits.
    let mut _stdin: Option<ChildStdin> = child.stdin.take();
    let mut restarts = 0u32;
    loop {
        let status = child.wait();
        let Some(client) = client.upgrade() else {
            return;
        };
        let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
        if restarts >= launch.restarts {
            stop_node(format!(
                "the enclave sidecar exited ({status}) and was restarted {restarts} times already; stopping"
            ));
        }
        restarts += 1;
        let gate = client.gate.write().unwrap_or_else(|p| p.into_inner());
        warn!(target: "enclave", %status, restart = restarts, of = launch.restarts, "the enclave sidecar exited; starting it again");
        let restarted = spawn_child(&bin, &args).and_then(|mut c| {
            let info = wait_ready(&launch.socket, &mut c)?;
            Ok((c, info))
        });
        match restarted {
            Ok((c, info)) if info.signer == client.signer() => {
                client
                    .idle
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clear();
                if let Err(e) = restore(&client) {
                    stop_node(format!(
                        "the restarted enclave sidecar could not be restored: {e:#}"
                    ));
                }
                drop(gate);
                info!(target: "enclave", pid = c.id(), "enclave sidecar restarted");
                child = c;
                _stdin = child.stdin.take();
            }
            Ok((_, info)) => stop_node(format!(
                "the restarted enclave sidecar is another enclave ({}, was {}); stopping",
                info.signer,
                client.signer()
            )),
            Err(e) => stop_node(format!("the enclave sidecar could not be restarted: {e:#}")),
        }
    }
}

fn stop_node(reason: String) -> ! {
    error!(target: "enclave", "{reason}");
    eprintln!("error: paychain-node: {reason}");
    std::process::exit(1)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use paychain_contracts::crypto::SecretKey;
    use paychain_contracts::enclave::{Enclave, EnclaveConfig, KxSecret};
    use paychain_contracts::ids::{ChainId, MerchantId};

    fn serve(dir: &std::path::Path, socket: &std::path::Path) {
        let chain = ChainId::new("client-test");
        let enclave = Enclave::new(&[1; 32], EnclaveConfig::new(chain.clone()), None).unwrap();
        let sidecar = Arc::new(super::super::server::Sidecar::new(
            enclave,
            chain,
            dir.join("sealed.bin"),
            super::super::device::Device::at(dir.join("device")),
            super::super::server::Pins {
                attestation_root: SecretKey::from_seed([9; 32]).public_key(),
                allow_debug: false,
                min_security_version: 1,
            },
        ));
        let listener = super::super::server::bind(socket).unwrap();
        std::thread::spawn(move || sidecar.serve(listener));
    }

    /// A sidecar someone else runs (`spawn_sidecar = false`) and restarts: the new one answers no
    /// lookup until the client has handed it the answered set, which the client does by itself, so
    /// a lookup answered before the restart is still refused as a replay.
    #[test]
    fn a_sidecar_restarted_by_someone_else_is_handed_the_answered_set() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("sidecar").join("enclave.sock");
        serve(dir.path(), &socket);
        let restores = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let client = {
            let restores = restores.clone();
            start(
                Launch {
                    socket: socket.clone(),
                    spawn: None,
                    restarts: 0,
                },
                move |client| {
                    restores.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let answered = LookupRequest {
                        chain_id: ChainId::new("client-test"),
                        merchant_id: MerchantId::derive(
                            &SecretKey::from_seed([2; 32]).public_key(),
                        ),
                        platform_id: PlatformId::new("p0").unwrap(),
                        requester: SecretKey::from_seed([3; 32]).public_key(),
                        reply_kx_public: KxSecret::from_seed([4; 32]).public_key(),
                        nonce: [5; 16],
                        issued_at_height: 10,
                        enclave: client.signer(),
                    };
                    client.remember_answered(&[(10, answered.hash())])?;
                    Ok(())
                },
            )
            .unwrap()
        };
        let request = LookupRequest {
            chain_id: ChainId::new("client-test"),
            merchant_id: MerchantId::derive(&SecretKey::from_seed([2; 32]).public_key()),
            platform_id: PlatformId::new("p0").unwrap(),
            requester: SecretKey::from_seed([3; 32]).public_key(),
            reply_kx_public: KxSecret::from_seed([4; 32]).public_key(),
            nonce: [5; 16],
            issued_at_height: 10,
            enclave: client.signer(),
        };
        let replayed = |e: CallError| e.to_string().contains("replay");
        assert!(replayed(client.precheck(&request, 10).unwrap_err()));
        assert_eq!(restores.load(std::sync::atomic::Ordering::SeqCst), 1);

        // Restarted by its operator: a new process (here a new server) on the same socket.
        serve(dir.path(), &socket);
        client.idle.lock().unwrap().clear();
        assert!(replayed(client.precheck(&request, 10).unwrap_err()));
        assert_eq!(restores.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
