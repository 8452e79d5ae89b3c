//! Transaction gossip: a libp2p gossipsub swarm of our own, beside Malachite's.
//!
//! Malachite owns its swarm and exposes no way to publish arbitrary messages, so transactions
//! travel on a second swarm (same libp2p version and the same node identity, another port).
//! A transaction admitted to any node's mempool is published; every receiver runs the same
//! admission checks before keeping it. libp2p types do not leave this module.
//!
//! Transactions travel in batches: whatever is queued for publication when the swarm gets to it
//! (up to [`MAX_BATCH_TXS`] transactions and [`MAX_BATCH_BYTES`]) goes out as one gossipsub
//! message, so a busy node sends a few large messages instead of one per transaction, and the
//! receivers check a batch's signatures together. Received batches are decoded with bounds
//! ([`decode_batch`]) and admitted on a thread of their own, off the swarm's and the consensus
//! engine's tasks; when that thread falls behind, further batches are dropped (the transactions
//! still reach the chain through the node that admitted them).
//!
//! Only known nodes gossip: with `[gossip] allowed_peers` set (the consortium's nodes' peer ids,
//! see `paychain-node peer-id`), a connection from any other peer id is refused once its handshake
//! has shown who it is ([`Event::Refused`]). A message is forwarded to other peers only after
//! admission found nothing wrong with it; a peer whose message is not a well-formed batch, or
//! holds an undecodable transaction or a bad signature, is disconnected and refused from then
//! on (honest nodes only forward what they admitted, so such a message is the peer's own doing).
//!
//! Anyone can reach the gossip port, so connections are bounded ([`Bounds`], checked by
//! [`SourceLimits`] as a connection arrives, before any handshake work): at most
//! `[gossip] max_connections_per_source` from one source address (an IPv4 address or an IPv6 /64,
//! in their handshake or established), [`MAX_PENDING_INBOUND`] in their handshake and
//! [`MAX_INBOUND`] established in all, [`MAX_PER_PEER`] per peer. A connection beyond them is
//! closed as it arrives (counted by reason), so a flood of raw connections cannot take the node's
//! file descriptors, and one host cannot take every handshake slot: since the per-source bound is
//! below [`MAX_PENDING_INBOUND`], an honest peer on another address can still (re)connect during
//! such a flood. A connection that does not finish its handshake (Noise, then yamux) within
//! `[gossip] handshake_timeout_ms` is closed, so a silent one holds its slot only that long.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use libp2p::allow_block_list::{self, AllowedPeers, BlockedPeers};
use libp2p::connection_limits::{self, ConnectionLimits};
use libp2p::core::transport::PortUse;
use libp2p::core::{ConnectedPoint, Endpoint};
use libp2p::gossipsub::{
    self, IdentTopic, MessageAcceptance, MessageAuthenticity, MessageId, ValidationMode,
};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::{
    dummy, ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, ListenError, ListenFailure,
    NetworkBehaviour, SwarmEvent, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{identity::Keypair, noise, tcp, yamux, Multiaddr, PeerId};
use paychain_contracts::codec::MAX_TX_BYTES;
use paychain_contracts::crypto::Hash;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::source::IpKey;

/// v2: a message is a batch of transactions ([`encode_batch`]).
const TOPIC: &str = "paychain/txs/v2";
const REDIAL_EVERY: Duration = Duration::from_secs(2);
/// Most transactions in one gossip message.
pub const MAX_BATCH_TXS: usize = 1024;
/// Most transaction bytes in one gossip message (a single larger transaction goes alone).
pub const MAX_BATCH_BYTES: usize = 256 * 1024;
/// Largest gossip message: a batch's framing included; one transaction of the largest size fits.
const MAX_MESSAGE_BYTES: usize = MAX_BATCH_BYTES + MAX_TX_BYTES + 8 * MAX_BATCH_TXS + 16;
/// Format byte of a batch message.
const BATCH_V1: u8 = 1;
/// Most transactions handed to admission in one call when received batches have queued up.
const MAX_COALESCED_TXS: usize = 4 * MAX_BATCH_TXS;
/// Received batches waiting for admission before further ones are dropped.
const ADMISSION_QUEUE: usize = 256;
/// Most established inbound gossip connections (a consortium has tens of nodes).
pub const MAX_INBOUND: u32 = 64;
/// Most inbound connections still in their handshake (`[gossip] max_connections_per_source` must
/// stay below it, so that one address cannot hold them all).
pub const MAX_PENDING_INBOUND: u32 = 32;
/// Most connections with one peer.
pub const MAX_PER_PEER: u32 = 2;

/// The swarm's behaviour: connection bounds first (per source, handshakes and inbound in all, then
/// per peer), then the allow-list (when configured) and the peers dropped for misbehaving, then
/// gossipsub.
#[derive(NetworkBehaviour)]
#[behaviour(prelude = "libp2p::swarm::derive_prelude")]
struct Behaviour {
    sources: SourceLimits,
    limits: connection_limits::Behaviour,
    allowed: Toggle<allow_block_list::Behaviour<AllowedPeers>>,
    blocked: allow_block_list::Behaviour<BlockedPeers>,
    gossip:
        gossipsub::Behaviour<gossipsub::IdentityTransform, gossipsub::AllowAllSubscriptionFilter>,
}

/// The bounds of the gossip port (`[gossip]`).
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Inbound connections from one source address (IPv4, or IPv6 /64), in their handshake or
    /// established.
    pub max_per_source: u32,
    /// A connection (inbound or dialed) that has not finished its handshake by then is closed.
    pub handshake_timeout: Duration,
}

/// Why a connection was closed as it arrived (or once its handshake showed its peer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Its source address already holds `[gossip] max_connections_per_source`.
    PerSource,
    /// [`MAX_PENDING_INBOUND`] connections are already in their handshake.
    Handshakes,
    /// [`MAX_INBOUND`] inbound connections are already established.
    Inbound,
    /// Its peer already holds [`MAX_PER_PEER`] connections.
    PerPeer,
}

impl Refusal {
    /// The `reason` label in `/metrics`.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::PerSource => "per_source",
            Refusal::Handshakes => "handshakes",
            Refusal::Inbound => "inbound",
            Refusal::PerPeer => "per_peer",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self {
            Refusal::PerSource => "too many gossip connections from this address",
            Refusal::Handshakes => "too many gossip connections in their handshake",
            Refusal::Inbound => "too many inbound gossip connections",
            Refusal::PerPeer => "too many gossip connections with this peer",
        };
        f.write_str(what)
    }
}

impl std::error::Error for Refusal {}

/// Gossip connections the node holds now (sampled by `/metrics`).
#[derive(Debug, Default)]
pub struct Held {
    /// Inbound connections in their handshake.
    pub handshakes: AtomicU64,
    /// Established connections, inbound and dialed.
    pub established: AtomicU64,
}

/// The first bounds a connection meets: per source address, then handshakes and established
/// inbound connections in all. Checked when the listener hands over an accepted socket, before a
/// byte of it is read; a refused one is closed at once.
struct SourceLimits {
    bounds: Bounds,
    /// Inbound connections (in their handshake, or established) by id: their source, and whether
    /// established.
    inbound: HashMap<ConnectionId, (Option<IpKey>, bool)>,
    by_source: HashMap<IpKey, u32>,
    handshakes: u32,
    established_in: u32,
    outbound: HashSet<ConnectionId>,
    held: Arc<Held>,
}

/// The source of a connection from its address (`/ip4/a.b.c.d/tcp/p`, `/ip6/...`).
fn source_of(addr: &Multiaddr) -> Option<IpKey> {
    use libp2p::multiaddr::Protocol;
    match addr.iter().next()? {
        Protocol::Ip4(ip) => Some(IpKey::of(ip.into())),
        Protocol::Ip6(ip) => Some(IpKey::of(ip.into())),
        _ => None,
    }
}

impl SourceLimits {
    fn new(bounds: Bounds, held: Arc<Held>) -> SourceLimits {
        SourceLimits {
            bounds,
            inbound: HashMap::new(),
            by_source: HashMap::new(),
            handshakes: 0,
            established_in: 0,
            outbound: HashSet::new(),
            held,
        }
    }

    /// Admits a new inbound connection from `source` (`None`: an address that is not IP, bounded
    /// in all only), or says which bound it would pass.
    fn admit(&mut self, id: ConnectionId, source: Option<IpKey>) -> Result<(), Refusal> {
        if let Some(src) = source {
            if self.by_source.get(&src).copied().unwrap_or(0) >= self.bounds.max_per_source {
                return Err(Refusal::PerSource);
            }
        }
        if self.handshakes >= MAX_PENDING_INBOUND {
            return Err(Refusal::Handshakes);
        }
        if let Some(src) = source {
            *self.by_source.entry(src).or_default() += 1;
        }
        self.inbound.insert(id, (source, false));
        self.handshakes += 1;
        self.publish();
        Ok(())
    }

    /// Inbound connection `id` finished its handshake and was kept.
    fn established(&mut self, id: ConnectionId) {
        if let Some(entry) = self.inbound.get_mut(&id) {
            if !entry.1 {
                entry.1 = true;
                self.handshakes = self.handshakes.saturating_sub(1);
                self.established_in += 1;
            }
        }
        self.publish();
    }

    /// Forgets connection `id` (its handshake failed or was refused, or it closed).
    fn forget(&mut self, id: ConnectionId) {
        if let Some((source, established)) = self.inbound.remove(&id) {
            if let Some(src) = source {
                if let Some(n) = self.by_source.get_mut(&src) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        self.by_source.remove(&src);
                    }
                }
            }
            if established {
                self.established_in = self.established_in.saturating_sub(1);
            } else {
                self.handshakes = self.handshakes.saturating_sub(1);
            }
        }
        self.outbound.remove(&id);
        self.publish();
    }

    fn publish(&self) {
        self.held
            .handshakes
            .store(u64::from(self.handshakes), Ordering::Relaxed);
        self.held.established.store(
            u64::from(self.established_in) + self.outbound.len() as u64,
            Ordering::Relaxed,
        );
    }
}

impl NetworkBehaviour for SourceLimits {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = std::convert::Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.admit(id, source_of(remote))
            .map_err(ConnectionDenied::new)
    }

    fn handle_established_inbound_connection(
        &mut self,
        _id: ConnectionId,
        _peer: PeerId,
        _local: &Multiaddr,
        _remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        if self.established_in >= MAX_INBOUND {
            return Err(ConnectionDenied::new(Refusal::Inbound));
        }
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _id: ConnectionId,
        _peer: PeerId,
        _addr: &Multiaddr,
        _role: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(libp2p::swarm::behaviour::ConnectionEstablished {
                connection_id,
                endpoint,
                ..
            }) => match endpoint {
                ConnectedPoint::Listener { .. } => self.established(connection_id),
                ConnectedPoint::Dialer { .. } => {
                    self.outbound.insert(connection_id);
                    self.publish();
                }
            },
            FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. })
            | FromSwarm::ListenFailure(ListenFailure { connection_id, .. }) => {
                self.forget(connection_id)
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer: PeerId,
        _id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        libp2p::core::util::unreachable(event)
    }

    fn poll(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        std::task::Poll::Pending
    }
}

/// Encodes transactions as one gossip message: a format byte, a u32 count, then each
/// transaction as a u32 length and its bytes (little endian).
pub fn encode_batch(txs: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + txs.iter().map(|t| 4 + t.len()).sum::<usize>());
    out.push(BATCH_V1);
    out.extend_from_slice(&(txs.len() as u32).to_le_bytes());
    for tx in txs {
        out.extend_from_slice(&(tx.len() as u32).to_le_bytes());
        out.extend_from_slice(tx);
    }
    out
}

/// Decodes a gossip message from a peer: `None` unless it is exactly one well-formed batch of at
/// most [`MAX_BATCH_TXS`] transactions of at most [`MAX_TX_BYTES`] each, within
/// [`MAX_MESSAGE_BYTES`] (so nothing is allocated beyond the message's own size).
pub fn decode_batch(data: &[u8]) -> Option<Vec<Vec<u8>>> {
    if data.len() > MAX_MESSAGE_BYTES {
        return None;
    }
    let (&format, rest) = data.split_first()?;
    if format != BATCH_V1 {
        return None;
    }
    let (count, mut rest) = read_u32(rest)?;
    let count = count as usize;
    if count > MAX_BATCH_TXS {
        return None;
    }
    let mut txs = Vec::with_capacity(count);
    for _ in 0..count {
        let (len, after) = read_u32(rest)?;
        let len = len as usize;
        if len > MAX_TX_BYTES || len > after.len() {
            return None;
        }
        let (tx, after) = after.split_at(len);
        txs.push(tx.to_vec());
        rest = after;
    }
    rest.is_empty().then_some(txs)
}

fn read_u32(b: &[u8]) -> Option<(u32, &[u8])> {
    let (head, rest) = b.split_first_chunk::<4>()?;
    Some((u32::from_le_bytes(*head), rest))
}

/// Errors starting the gossip swarm.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("gossip transport: {0}")]
    Transport(String),
    #[error("gossip cannot listen on {addr}: {reason}")]
    Listen { addr: Multiaddr, reason: String },
}

/// What the swarm reports to the node (counted in `/metrics`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A connection from a peer id not in `allowed_peers` (or dropped) was refused.
    Refused,
    /// A connection was closed as it arrived, for a bound of the port.
    Bounded(Refusal),
    /// An inbound connection was closed in its handshake: it did not finish within
    /// `[gossip] handshake_timeout_ms` (`timeout`), or failed.
    HandshakeFailed { timeout: bool },
    /// A message that was not a well-formed batch, or a batch holding `n` undecodable
    /// transactions.
    Garbage(usize),
    /// A batch holding `n` transactions whose signature does not verify.
    BadSignatures(usize),
    /// A batch holding `n` transactions refused at the door for their sender (not known to the
    /// chain, or slowed down).
    UnknownSenders(usize),
    /// A peer was disconnected and is refused from now on, for sending one of the above.
    Dropped,
}

/// What admission found in one received batch: how many transactions were undecodable and how
/// many had a bad signature (either makes the sending peer faulty), and how many came from a
/// sender the chain does not know (a peer that keeps relaying those is faulty too, see
/// [`MAX_UNKNOWN_SENDERS`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    pub undecodable: usize,
    pub bad_signatures: usize,
    pub unknown_senders: usize,
}

/// Transactions from unknown senders one peer may relay within [`UNKNOWN_SENDERS_WINDOW`] before
/// it is dropped like a peer sending garbage. Not zero: an honest peer a block ahead of this node
/// may relay the first transaction of a user onboarded in a block this node has not committed yet.
pub const MAX_UNKNOWN_SENDERS: usize = 256;
/// The window [`MAX_UNKNOWN_SENDERS`] counts in.
pub const UNKNOWN_SENDERS_WINDOW: Duration = Duration::from_secs(60);

/// A received batch on its way to admission: its transactions, and where to send the verdict.
struct Received {
    txs: Vec<Vec<u8>>,
    id: MessageId,
    source: PeerId,
}

/// A handle to publish transactions and read the peer count.
#[derive(Clone)]
pub struct Handle {
    publish: mpsc::Sender<Vec<u8>>,
    peers: Arc<AtomicU64>,
    held: Arc<Held>,
}

impl Handle {
    /// Queues raw tx bytes for publication. Drops them if the queue is full (the tx is still
    /// in our own mempool and will be proposed by us in our turn).
    pub fn publish(&self, tx_bytes: Vec<u8>) {
        if self.publish.try_send(tx_bytes).is_err() {
            debug!(target: "gossip", "publish queue full, not gossiping a tx");
        }
    }

    /// Number of connected gossip peers.
    pub fn peers(&self) -> u64 {
        self.peers.load(Ordering::Relaxed)
    }

    /// Gossip connections held now: (inbound in their handshake, established).
    pub fn connections(&self) -> (u64, u64) {
        (
            self.held.handshakes.load(Ordering::Relaxed),
            self.held.established.load(Ordering::Relaxed),
        )
    }
}

/// Starts the swarm. Every received batch of raw transactions is passed to `on_txs` (which runs
/// mempool admission and says, per transaction, whether it was undecodable or badly signed), on
/// a thread of its own. `allowed` (empty: anyone) are the peer ids that may connect, within
/// `bounds`; `on_event` hears of refusals and dropped peers.
pub fn spawn(
    keypair: Keypair,
    listen: Multiaddr,
    peers: Vec<Multiaddr>,
    allowed: Vec<PeerId>,
    bounds: Bounds,
    on_txs: impl Fn(Vec<Vec<u8>>) -> Vec<Verdict> + Send + 'static,
    on_event: impl Fn(Event) + Send + 'static,
) -> Result<Handle, Error> {
    let config = gossipsub::ConfigBuilder::default()
        .max_transmit_size(MAX_MESSAGE_BYTES + 4096)
        // Transactions carry their own signatures (checked at admission), so signing every
        // gossip message with the node key again would only cost CPU (~14 % under load).
        .validation_mode(ValidationMode::Anonymous)
        .heartbeat_interval(Duration::from_millis(500))
        .message_id_fn(|m: &gossipsub::Message| MessageId::from(Hash::digest(&m.data).0.to_vec()))
        // Forward a message only once admission has judged it (report_message_validation_result).
        .validate_messages()
        .build()
        .map_err(|e| Error::Transport(e.to_string()))?;
    let held = Arc::new(Held::default());
    let sources = SourceLimits::new(bounds, held.clone());
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| Error::Transport(e.to_string()))?
        .with_behaviour(|_key| {
            let gossip = gossipsub::Behaviour::<
                gossipsub::IdentityTransform,
                gossipsub::AllowAllSubscriptionFilter,
            >::new(MessageAuthenticity::Anonymous, config)
            .map_err(|e| {
                Box::new(std::io::Error::other(e)) as Box<dyn std::error::Error + Send + Sync>
            })?;
            // Per source, handshakes and inbound in all: `sources`.
            let limits = connection_limits::Behaviour::new(
                ConnectionLimits::default().with_max_established_per_peer(Some(MAX_PER_PEER)),
            );
            let allowed = (!allowed.is_empty()).then(|| {
                let mut list = allow_block_list::Behaviour::<AllowedPeers>::default();
                for peer in &allowed {
                    list.allow_peer(*peer);
                }
                list
            });
            Ok(Behaviour {
                sources,
                limits,
                allowed: allowed.into(),
                blocked: allow_block_list::Behaviour::default(),
                gossip,
            })
        })
        .map_err(|e| Error::Transport(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        // Noise and yamux must be done by then (libp2p's default is 10 s).
        .with_connection_timeout(bounds.handshake_timeout)
        .build();
    let topic = IdentTopic::new(TOPIC);
    swarm
        .behaviour_mut()
        .gossip
        .subscribe(&topic)
        .map_err(|e| Error::Transport(e.to_string()))?;
    swarm.listen_on(listen.clone()).map_err(|e| Error::Listen {
        addr: listen,
        reason: e.to_string(),
    })?;

    let (admit_tx, admit_rx) = std::sync::mpsc::sync_channel::<Received>(ADMISSION_QUEUE);
    let (verdict_tx, mut verdict_rx) = mpsc::unbounded_channel::<(Received, Verdict)>();
    std::thread::Builder::new()
        .name("tx-admission".into())
        .spawn(move || {
            while let Ok(first) = admit_rx.recv() {
                // Batches that queued up meanwhile go in the same call, so their signatures are
                // checked as one batch: no added wait, and a busy node verifies in larger batches
                // (below 4 signatures each is verified alone, at twice the cost per signature).
                let mut received = vec![first];
                let mut count = received[0].txs.len();
                while count < MAX_COALESCED_TXS {
                    match admit_rx.try_recv() {
                        Ok(more) => {
                            count += more.txs.len();
                            received.push(more);
                        }
                        Err(_) => break,
                    }
                }
                let sizes: Vec<usize> = received.iter().map(|r| r.txs.len()).collect();
                let mut all = Vec::with_capacity(count);
                for r in &mut received {
                    all.append(&mut r.txs);
                }
                let verdicts = on_txs(all);
                // Split the per-transaction verdicts back per message.
                let mut at = 0;
                for (r, n) in received.into_iter().zip(sizes) {
                    let mut v = Verdict::default();
                    for t in verdicts.get(at..at + n).unwrap_or_default() {
                        v.undecodable += t.undecodable;
                        v.bad_signatures += t.bad_signatures;
                        v.unknown_senders += t.unknown_senders;
                    }
                    at += n;
                    if verdict_tx.send((r, v)).is_err() {
                        return;
                    }
                }
            }
        })
        .map_err(|e| Error::Transport(format!("cannot start the admission thread: {e}")))?;

    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(16 * 1024);
    let peer_count = Arc::new(AtomicU64::new(0));
    let handle = Handle {
        publish: tx,
        peers: peer_count.clone(),
        held,
    };

    tokio::spawn(async move {
        let mut connected: HashSet<PeerId> = HashSet::new();
        // Peers dropped for misbehaving (refused by `blocked` from then on).
        let mut dropped: HashSet<PeerId> = HashSet::new();
        // Per peer: transactions of unknown senders relayed in the current window, and its start.
        let mut unknown: HashMap<PeerId, (usize, std::time::Instant)> = HashMap::new();
        // Configured addresses we hold an outbound connection to, by peer.
        let mut dialed: HashMap<PeerId, Multiaddr> = HashMap::new();
        let mut redial = tokio::time::interval(REDIAL_EVERY);
        // A transaction taken from the queue that did not fit in the last batch.
        let mut carry: Option<Vec<u8>> = None;
        loop {
            tokio::select! {
                event = swarm.select_next_some() => match event {
                    SwarmEvent::Behaviour(BehaviourEvent::Gossip(gossipsub::Event::Message {
                        propagation_source,
                        message_id,
                        message,
                    })) => match decode_batch(&message.data) {
                        Some(txs) => {
                            let received = Received { txs, id: message_id, source: propagation_source };
                            if let Err(e) = admit_tx.try_send(received) {
                                debug!(target: "gossip", "admission queue full, dropping a batch");
                                let r = match e {
                                    std::sync::mpsc::TrySendError::Full(r)
                                    | std::sync::mpsc::TrySendError::Disconnected(r) => r,
                                };
                                // Not judged: neither forwarded nor held against the peer.
                                let _ = swarm.behaviour_mut().gossip.report_message_validation_result(
                                    &r.id,
                                    &r.source,
                                    MessageAcceptance::Ignore,
                                );
                            }
                        }
                        None => {
                            on_event(Event::Garbage(1));
                            drop_peer(&mut swarm, &mut dropped, (&message_id, propagation_source), &on_event, "a malformed tx batch");
                        }
                    },
                    SwarmEvent::IncomingConnectionError { error: ListenError::Denied { cause }, .. }
                        if cause.downcast_ref::<allow_block_list::NotAllowed>().is_some()
                            || cause.downcast_ref::<allow_block_list::Blocked>().is_some() =>
                    {
                        on_event(Event::Refused);
                    }
                    SwarmEvent::IncomingConnectionError { error: ListenError::Denied { cause }, send_back_addr, .. } => {
                        let why = match cause.downcast::<Refusal>() {
                            Ok(r) => Some(r),
                            Err(cause) => cause
                                .downcast_ref::<connection_limits::Exceeded>()
                                .map(|_| Refusal::PerPeer),
                        };
                        if let Some(why) = why {
                            debug!(target: "gossip", %send_back_addr, %why, "gossip connection refused");
                            on_event(Event::Bounded(why));
                        }
                    }
                    SwarmEvent::IncomingConnectionError { error: ListenError::Transport(e), peer_id: None, send_back_addr, .. } => {
                        let timeout = is_timeout(&e);
                        debug!(target: "gossip", %send_back_addr, timeout, error = ?e, "gossip handshake failed");
                        on_event(Event::HandshakeFailed { timeout });
                    }
                    SwarmEvent::ConnectionEstablished { peer_id, endpoint, .. } => {
                        if let ConnectedPoint::Dialer { address, .. } = endpoint {
                            dialed.insert(peer_id, address);
                        }
                        connected.insert(peer_id);
                        peer_count.store(connected.len() as u64, Ordering::Relaxed);
                        debug!(target: "gossip", %peer_id, "connected");
                    }
                    SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                        connected.remove(&peer_id);
                        dialed.remove(&peer_id);
                        peer_count.store(connected.len() as u64, Ordering::Relaxed);
                    }
                    SwarmEvent::NewListenAddr { address, .. } => {
                        info!(target: "gossip", %address, "tx gossip listening");
                    }
                    _ => {}
                },
                Some(first) = async { match carry.take() { Some(c) => Some(c), None => rx.recv().await } } => {
                    // Everything queued meanwhile goes in the same message, within bounds.
                    let mut bytes = first.len();
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH_TXS {
                        let Ok(next) = rx.try_recv() else { break };
                        if bytes + next.len() > MAX_BATCH_BYTES {
                            carry = Some(next);
                            break;
                        }
                        bytes += next.len();
                        batch.push(next);
                    }
                    if let Err(e) = swarm.behaviour_mut().gossip.publish(topic.clone(), encode_batch(&batch)) {
                        debug!(target: "gossip", error = %e, txs = batch.len(), "publish failed");
                    }
                }
                Some((r, v)) = verdict_rx.recv() => {
                    if v.undecodable > 0 {
                        on_event(Event::Garbage(v.undecodable));
                    }
                    if v.bad_signatures > 0 {
                        on_event(Event::BadSignatures(v.bad_signatures));
                    }
                    let relayed_unknown = v.unknown_senders > 0 && {
                        on_event(Event::UnknownSenders(v.unknown_senders));
                        let now = std::time::Instant::now();
                        if unknown.len() >= 4096 {
                            unknown.retain(|_, (_, since)| now.saturating_duration_since(*since) <= UNKNOWN_SENDERS_WINDOW);
                        }
                        let (count, since) = unknown.entry(r.source).or_insert((0, now));
                        if now.saturating_duration_since(*since) > UNKNOWN_SENDERS_WINDOW {
                            *count = 0;
                            *since = now;
                        }
                        *count += v.unknown_senders;
                        *count > MAX_UNKNOWN_SENDERS
                    };
                    if v.undecodable > 0 || v.bad_signatures > 0 {
                        drop_peer(&mut swarm, &mut dropped, (&r.id, r.source), &on_event, "undecodable or badly signed transactions");
                    } else if relayed_unknown {
                        unknown.remove(&r.source);
                        drop_peer(&mut swarm, &mut dropped, (&r.id, r.source), &on_event, "transactions of senders unknown to the chain, again and again");
                    } else if v.unknown_senders > 0 {
                        // Not forwarded (its other transactions are in this node's pool), not
                        // held against the peer yet.
                        let _ = swarm.behaviour_mut().gossip.report_message_validation_result(
                            &r.id,
                            &r.source,
                            MessageAcceptance::Ignore,
                        );
                    } else {
                        let _ = swarm.behaviour_mut().gossip.report_message_validation_result(
                            &r.id,
                            &r.source,
                            MessageAcceptance::Accept,
                        );
                    }
                }
                _ = redial.tick() => {
                    // Keep dialing configured peers until connected; cheap when connected.
                    for addr in &peers {
                        if !dialed.values().any(|a| a == addr) {
                            if let Err(e) = swarm.dial(addr.clone()) {
                                warn!(target: "gossip", %addr, error = %e, "dial failed");
                            }
                        }
                    }
                }
            }
        }
    });
    Ok(handle)
}

/// Whether a failed inbound upgrade ran out of `[gossip] handshake_timeout_ms`: the swarm's
/// `TransportTimeoutError::Timeout`, inside the boxed transport's `io::Error`. Its type parameter is
/// the builder's unnameable upgrade error, so it is told by its text (`gossip_handshakes_failed`
/// in the integration tests would show a change).
fn is_timeout(e: &libp2p::TransportError<std::io::Error>) -> bool {
    match e {
        libp2p::TransportError::Other(io) => io
            .get_ref()
            .is_some_and(|inner| inner.to_string() == "Timeout has been reached"),
        _ => false,
    }
}

/// Rejects message `id` (not forwarded), disconnects `peer` and refuses it from now on.
fn drop_peer(
    swarm: &mut libp2p::Swarm<Behaviour>,
    dropped: &mut HashSet<PeerId>,
    (id, peer): (&MessageId, PeerId),
    on_event: &impl Fn(Event),
    why: &str,
) {
    let _ = swarm
        .behaviour_mut()
        .gossip
        .report_message_validation_result(id, &peer, MessageAcceptance::Reject);
    if dropped.insert(peer) {
        swarm.behaviour_mut().blocked.block_peer(peer);
        warn!(target: "gossip", %peer, "gossip peer sent {why}: dropped and refused from now on");
        on_event(Event::Dropped);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn one_source_holds_at_most_its_share_and_places_come_back() {
        let held = Arc::new(Held::default());
        let mut l = SourceLimits::new(
            Bounds {
                max_per_source: 3,
                handshake_timeout: Duration::from_secs(1),
            },
            held.clone(),
        );
        let src = |a: [u8; 4]| Some(IpKey::of(std::net::IpAddr::from(a)));
        let id = ConnectionId::new_unchecked;
        let flooder = src([10, 0, 0, 2]);
        for n in 0..3 {
            l.admit(id(n), flooder).unwrap();
        }
        assert_eq!(l.admit(id(3), flooder), Err(Refusal::PerSource));
        // The same address as IPv6-mapped IPv4 is the same source; another /64 is another.
        let mapped: std::net::IpAddr = "::ffff:10.0.0.2".parse().unwrap();
        assert_eq!(
            l.admit(id(4), Some(IpKey::of(mapped))),
            Err(Refusal::PerSource)
        );
        let other: std::net::IpAddr = "2001:db8::1".parse().unwrap();
        l.admit(id(5), Some(IpKey::of(other))).unwrap();
        assert_eq!(held.handshakes.load(Ordering::Relaxed), 4);
        // An honest peer on another address gets in; once established it still counts for its
        // source, no longer as a handshake.
        l.admit(id(6), src([10, 0, 0, 3])).unwrap();
        l.established(id(6));
        assert_eq!(held.handshakes.load(Ordering::Relaxed), 4);
        assert_eq!(held.established.load(Ordering::Relaxed), 1);
        // A timed-out handshake gives its place back.
        l.forget(id(0));
        l.admit(id(7), flooder).unwrap();
        // Many sources fill the handshake slots in all.
        let mut n = 100;
        while l.handshakes < MAX_PENDING_INBOUND {
            l.admit(id(n), src([10, 1, (n / 256) as u8, n as u8]))
                .unwrap();
            n += 1;
        }
        assert_eq!(l.admit(id(n), src([10, 2, 0, 1])), Err(Refusal::Handshakes));
        // Everything closed: nothing held, nothing tracked.
        let ids: Vec<ConnectionId> = l.inbound.keys().copied().collect();
        for c in ids {
            l.forget(c);
        }
        assert_eq!(held.handshakes.load(Ordering::Relaxed), 0);
        assert_eq!(held.established.load(Ordering::Relaxed), 0);
        assert!(l.by_source.is_empty());
    }

    #[test]
    fn batches_round_trip_and_hostile_bytes_are_refused() {
        let txs = vec![vec![1u8, 2, 3], vec![], vec![7u8; 1000]];
        let enc = encode_batch(&txs);
        assert_eq!(decode_batch(&enc).unwrap(), txs);
        assert_eq!(
            decode_batch(&encode_batch(&[])).unwrap(),
            Vec::<Vec<u8>>::new()
        );
        // Truncated anywhere, extended, other format byte.
        for cut in 0..enc.len() {
            assert!(decode_batch(&enc[..cut]).is_none(), "cut at {cut}");
        }
        let mut longer = enc.clone();
        longer.push(0);
        assert!(decode_batch(&longer).is_none());
        let mut other = enc.clone();
        other[0] = 2;
        assert!(decode_batch(&other).is_none());
        // Counts and lengths beyond the bounds, whatever follows.
        let mut many = vec![BATCH_V1];
        many.extend_from_slice(&(MAX_BATCH_TXS as u32 + 1).to_le_bytes());
        assert!(decode_batch(&many).is_none());
        let mut huge = vec![BATCH_V1];
        huge.extend_from_slice(&1u32.to_le_bytes());
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_batch(&huge).is_none());
        let mut big = vec![BATCH_V1];
        big.extend_from_slice(&1u32.to_le_bytes());
        big.extend_from_slice(&(MAX_TX_BYTES as u32 + 1).to_le_bytes());
        big.extend(std::iter::repeat_n(0u8, MAX_TX_BYTES + 1));
        assert!(decode_batch(&big).is_none());
        assert!(decode_batch(&vec![BATCH_V1; MAX_MESSAGE_BYTES + 1]).is_none());
    }
}
