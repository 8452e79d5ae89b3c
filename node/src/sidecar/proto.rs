//! The wire between a node and its enclave sidecar (`paychain-enclave`): one request, one reply,
//! each a frame of a 4-byte little-endian length and that many bytes of borsh.
//!
//! ```text
//! frame    len: u32 LE (at most MAX_FRAME_BYTES) ‖ borsh(Request | Result<Reply, WireError>)
//! session  node connects to the Unix socket; request, reply, request, reply, ...; either side
//!          may close between frames
//! ```
//!
//! The sidecar treats the node as hostile: a frame is decoded with [`decode_request`], which
//! checks the length before anything else, never panics, and refuses trailing bytes. A frame
//! that is too large is answered with an error and the connection is closed (its body is not
//! read); a frame that does not decode is answered with an error and the connection goes on.
//!
//! This file depends only on `paychain-contracts`, `borsh` and `std`, so that the fuzz target
//! `sidecar_decode` compiles it as it is.

use std::io::{self, Read, Write};

use borsh::{BorshDeserialize, BorshSerialize};
use paychain_contracts::block::Block;
use paychain_contracts::certificate::TxCertificate;
use paychain_contracts::codec;
use paychain_contracts::commit::Commit;
use paychain_contracts::crypto::{Hash, PublicKey, Signature};
use paychain_contracts::enclave::{
    KxPublicKey, LookupRequest, Measurement, SignedAnswer, SignedEpochStart, SignedLookup,
    SignedPlatformKey, SignedProvision, SignedQuote, WrappedSecret,
};
use paychain_contracts::executor::Receipt;
use paychain_contracts::grants::{StateEvidence, MAX_EVIDENCE_ENTRIES, MAX_EVIDENCE_VALUE_BYTES};
use paychain_contracts::ids::PlatformId;
use paychain_contracts::reads::{SealedReply, SignedRead};

/// The largest frame either side accepts: a lookup's evidence (at most
/// [`MAX_EVIDENCE_ENTRIES`] entries with values of at most [`MAX_EVIDENCE_VALUE_BYTES`], 4 MiB,
/// plus keys and proofs) with room to spare. Everything else is far smaller.
pub const MAX_FRAME_BYTES: usize = 2 * MAX_EVIDENCE_ENTRIES * MAX_EVIDENCE_VALUE_BYTES;

/// The most answered lookups restored in one [`Request::RememberAnswered`].
pub const MAX_REMEMBERED_PER_FRAME: usize = 8192;

/// The most state keys or values in one frame of a block's execution.
pub const MAX_STATE_PER_FRAME: usize = 65_536;

/// The most state values an execution may be supplied in all (far above a 4 MiB block's needs).
pub const MAX_STATE_PER_BLOCK: usize = 1 << 20;

/// The most quotes or platforms in one request (far above any consortium's size).
pub const MAX_LIST: usize = 4096;

/// The longest error message sent back (longer ones are cut).
pub const MAX_ERROR_CHARS: usize = 512;

/// The chain's enclave policy now (registry config, allowed and revoked measurements), as the
/// node proves it: the sidecar verifies the evidence itself (`grants::proven_policy`) and builds
/// the quote policy from the proven values, on its own chain id. The node's word is never taken.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Policy {
    pub evidence: StateEvidence,
}

/// One request from the node.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Request {
    /// Who the enclave is and what it holds.
    Info,
    /// The quote signed by the device key with the vendor certificate from the device store.
    SignedQuote,
    /// The enclave's signature saying it serves `platform`.
    PlatformBinding { platform: PlatformId },
    /// Take the consortium secrets wrapped to this enclave, then seal them to disk.
    Provision {
        wrapped: WrappedSecret,
        genesis_consortium_public: KxPublicKey,
    },
    /// Adopt the next epoch's secret, then seal the key ring to disk.
    AdoptEpoch {
        wrapped: WrappedSecret,
        epoch: u64,
        expected_public: KxPublicKey,
    },
    /// Create the next epoch (its entropy drawn inside the sidecar).
    StartEpoch {
        epoch: u64,
        platforms: Vec<PlatformId>,
        recipients: Vec<SignedQuote>,
        policy: Policy,
    },
    /// `platform`'s record key in the current epoch, signed.
    PlatformKey { platform: PlatformId },
    /// The consortium secrets wrapped to `peer`, signed (a provisioning).
    ProvisionFor { peer: SignedQuote, policy: Policy },
    /// A lookup's answer, decided from `evidence` inside the enclave (`grants::answer`).
    Answer {
        lookup: SignedLookup,
        evidence: StateEvidence,
    },
    /// Chain, addressed enclave, window and replay checks of a lookup at `height`.
    Precheck { request: LookupRequest, height: u64 },
    /// Lookups answered before (issued-at height, request hash), for the replay guard; `complete`
    /// on the last frame of the set. Until a complete set arrives the sidecar answers no lookup
    /// ([`ErrorKind::NotRestored`]), so a restarted sidecar never answers a replay.
    RememberAnswered {
        answered: Vec<(u64, Hash)>,
        complete: bool,
    },
    /// Execute `block` of a chain with private state over the state values supplied so far for it
    /// ([`Request::SupplyState`]): [`Reply::NeedState`] names the values still missing,
    /// [`Reply::Executed`] gives the physical writes and the receipts.
    Execute { block: Block, commit: Commit },
    /// A signed read of private state, answered inside the enclave from the state `evidence`
    /// proves: [`Reply::NeedState`] names the values still to prove, [`Reply::ReadAnswer`] is the
    /// answer sealed to the requester, [`Reply::ReadRefused`] an RPC error for the requester.
    Read {
        read: SignedRead,
        evidence: StateEvidence,
    },
    /// A signed read of a transaction's certificate on a chain with private state: the enclave
    /// decides entitlement on the opened call from the state `evidence` proves and answers the
    /// certificate with its [`paychain_contracts::certificate::Disclosure`], sealed to the
    /// requester ([`Reply::ReadAnswer`]), or names state to prove, or refuses.
    Disclose {
        read: SignedRead,
        certificate: Box<TxCertificate>,
        evidence: StateEvidence,
    },
    /// Values (physical key, value; `None`: absent) of the state `block_hash` executes over.
    SupplyState {
        block_hash: Hash,
        entries: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    },
}

impl Request {
    /// A short name, for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Request::Info => "info",
            Request::SignedQuote => "signed_quote",
            Request::PlatformBinding { .. } => "platform_binding",
            Request::Provision { .. } => "provision",
            Request::AdoptEpoch { .. } => "adopt_epoch",
            Request::StartEpoch { .. } => "start_epoch",
            Request::PlatformKey { .. } => "platform_key",
            Request::ProvisionFor { .. } => "provision_for",
            Request::Answer { .. } => "answer",
            Request::Precheck { .. } => "precheck",
            Request::RememberAnswered { .. } => "remember_answered",
            Request::Execute { .. } => "execute",
            Request::SupplyState { .. } => "supply_state",
            Request::Read { .. } => "read",
            Request::Disclose { .. } => "disclose",
        }
    }

    /// Refuses lists longer than the protocol allows (checked after decoding, before any work).
    pub fn check_bounds(&self) -> Result<(), WireError> {
        let too_many = |what: &str, n: usize, max: usize| {
            WireError::malformed(format!("{n} {what} exceed the limit of {max}"))
        };
        match self {
            Request::StartEpoch {
                platforms,
                recipients,
                policy,
                ..
            } => {
                if platforms.len() > MAX_LIST {
                    return Err(too_many("platforms", platforms.len(), MAX_LIST));
                }
                if recipients.len() > MAX_LIST {
                    return Err(too_many("recipients", recipients.len(), MAX_LIST));
                }
                policy.check_bounds()
            }
            Request::ProvisionFor { policy, .. } => policy.check_bounds(),
            Request::SupplyState { entries, .. } if entries.len() > MAX_STATE_PER_FRAME => Err(
                too_many("state entries", entries.len(), MAX_STATE_PER_FRAME),
            ),
            Request::RememberAnswered { answered, .. }
                if answered.len() > MAX_REMEMBERED_PER_FRAME =>
            {
                Err(too_many(
                    "answered lookups",
                    answered.len(),
                    MAX_REMEMBERED_PER_FRAME,
                ))
            }
            _ => Ok(()),
        }
    }
}

impl Policy {
    fn check_bounds(&self) -> Result<(), WireError> {
        // The evidence's own bounds (entries, key and value sizes) are checked when it is verified.
        if self.evidence.entries.len() > MAX_LIST {
            return Err(WireError::malformed(format!(
                "{} proven entries exceed the limit of {MAX_LIST}",
                self.evidence.entries.len()
            )));
        }
        Ok(())
    }
}

/// Who the enclave is and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Info {
    pub signer: PublicKey,
    pub kx_public: KxPublicKey,
    pub measurement: Measurement,
    pub device_key: PublicKey,
    pub lookup_window: u64,
    pub provisioned: bool,
    /// The newest epoch held and its public key.
    pub epoch: Option<(u64, KxPublicKey)>,
}

/// One reply, for the request of the same name.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Reply {
    Info(Info),
    SignedQuote(SignedQuote),
    PlatformBinding(Signature),
    Provisioned,
    EpochAdopted,
    EpochStarted(SignedEpochStart),
    PlatformKey(SignedPlatformKey),
    Provision(SignedProvision),
    Answer(Box<SignedAnswer>),
    Prechecked,
    Remembered,
    /// The physical keys whose values the execution still needs (at most [`MAX_STATE_PER_FRAME`]).
    NeedState(Vec<Vec<u8>>),
    StateSupplied,
    /// A read's answer, sealed to the requester's reply key inside the enclave.
    ReadAnswer(SealedReply),
    /// A read refused or failed: the RPC error code and message for the requester.
    ReadRefused {
        code: i32,
        message: String,
    },
    /// The physical writes (`None` deletes) and the receipts of an executed block.
    Executed {
        puts: Vec<(Vec<u8>, Option<Vec<u8>>)>,
        receipts: Vec<Receipt>,
    },
}

/// What kind of refusal: the node acts on some of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ErrorKind {
    /// The frame was too large or did not decode.
    Malformed,
    /// The enclave holds no consortium secret yet.
    NotProvisioned,
    /// The lookup was answered before.
    Replayed,
    /// The device store has no vendor certificate of this machine.
    NoCertificate,
    /// Any other refusal (the message says which).
    Refused,
    /// The sidecar could not do its own I/O (e.g. writing the sealed blob).
    Internal,
    /// The sidecar has not been handed the lookups answered before it started: it answers no
    /// lookup until it has (the node hands them over and asks again).
    NotRestored,
}

/// A refusal: its kind and a short message.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, thiserror::Error)]
#[error("{message}")]
pub struct WireError {
    pub kind: ErrorKind,
    pub message: String,
}

impl WireError {
    /// A refusal of `kind`, its message cut to [`MAX_ERROR_CHARS`].
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> WireError {
        let mut message: String = message.into();
        if message.chars().count() > MAX_ERROR_CHARS {
            message = message.chars().take(MAX_ERROR_CHARS).collect::<String>() + "…";
        }
        WireError { kind, message }
    }

    /// A frame that was too large or did not decode.
    pub fn malformed(message: impl Into<String>) -> WireError {
        WireError::new(ErrorKind::Malformed, message)
    }
}

/// What the sidecar sends back.
pub type Response = Result<Reply, WireError>;

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed the connection between frames.
    #[error("connection closed")]
    Closed,
    /// The announced length exceeds the bound (the body was not read).
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("socket: {0}")]
    Io(#[from] io::Error),
}

/// Reads one frame's body (at most `max` bytes), or says why not. The body is read only after
/// its length is checked.
pub fn read_frame(r: &mut impl Read, max: usize) -> Result<Vec<u8>, FrameError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    Ok(body)
}

/// Writes `value` as one frame.
pub fn write_frame(w: &mut impl Write, value: &impl BorshSerialize) -> io::Result<()> {
    let body = borsh::to_vec(value)?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|n| (*n as usize) <= MAX_FRAME_BYTES)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "frame too large"))?;
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&body);
    w.write_all(&out)?;
    w.flush()
}

/// Decodes a request frame's body: bounded, exactly one request, lists within their limits.
pub fn decode_request(body: &[u8]) -> Result<Request, WireError> {
    let request: Request = codec::decode(body, MAX_FRAME_BYTES)
        .map_err(|e| WireError::malformed(format!("malformed request: {e}")))?;
    request.check_bounds()?;
    Ok(request)
}

/// Decodes a reply frame's body.
pub fn decode_response(body: &[u8]) -> Result<Response, WireError> {
    codec::decode(body, MAX_FRAME_BYTES)
        .map_err(|e| WireError::malformed(format!("malformed reply from the sidecar: {e}")))
}
