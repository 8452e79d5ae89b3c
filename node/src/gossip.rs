//! Transaction gossip: a libp2p gossipsub swarm of our own, beside Malachite's.
//!
//! Malachite owns its swarm and exposes no way to publish arbitrary messages, so transactions
//! travel on a second swarm (same libp2p version and the same node identity, another port).
//! A transaction admitted to any node's mempool is published; every receiver runs the same
//! admission checks before keeping it. libp2p types do not leave this module.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use libp2p::core::ConnectedPoint;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, MessageId, ValidationMode};
use libp2p::swarm::SwarmEvent;
use libp2p::{identity::Keypair, noise, tcp, yamux, Multiaddr, PeerId};
use paychain_contracts::codec::MAX_TX_BYTES;
use paychain_contracts::crypto::Hash;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

const TOPIC: &str = "paychain/tx/v1";
const REDIAL_EVERY: Duration = Duration::from_secs(2);

/// Errors starting the gossip swarm.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("gossip transport: {0}")]
    Transport(String),
    #[error("gossip cannot listen on {addr}: {reason}")]
    Listen { addr: Multiaddr, reason: String },
}

/// A handle to publish transactions and read the peer count.
#[derive(Clone)]
pub struct Handle {
    publish: mpsc::Sender<Vec<u8>>,
    peers: Arc<AtomicU64>,
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
}

/// Starts the swarm. Every received tx is passed to `on_tx` (which runs mempool admission).
pub fn spawn(
    keypair: Keypair,
    listen: Multiaddr,
    peers: Vec<Multiaddr>,
    on_tx: impl Fn(&[u8]) + Send + 'static,
) -> Result<Handle, Error> {
    let config = gossipsub::ConfigBuilder::default()
        .max_transmit_size(MAX_TX_BYTES + 4096)
        // Transactions carry their own signatures (checked at admission), so signing every
        // gossip message with the node key again would only cost CPU (~14 % under load).
        .validation_mode(ValidationMode::Anonymous)
        .heartbeat_interval(Duration::from_millis(500))
        .message_id_fn(|m: &gossipsub::Message| MessageId::from(Hash::digest(&m.data).0.to_vec()))
        .build()
        .map_err(|e| Error::Transport(e.to_string()))?;
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| Error::Transport(e.to_string()))?
        .with_behaviour(|_key| {
            gossipsub::Behaviour::<
                gossipsub::IdentityTransform,
                gossipsub::AllowAllSubscriptionFilter,
            >::new(MessageAuthenticity::Anonymous, config)
            .map_err(|e| {
                Box::new(std::io::Error::other(e)) as Box<dyn std::error::Error + Send + Sync>
            })
        })
        .map_err(|e| Error::Transport(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    let topic = IdentTopic::new(TOPIC);
    swarm
        .behaviour_mut()
        .subscribe(&topic)
        .map_err(|e| Error::Transport(e.to_string()))?;
    swarm.listen_on(listen.clone()).map_err(|e| Error::Listen {
        addr: listen,
        reason: e.to_string(),
    })?;

    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(4096);
    let peer_count = Arc::new(AtomicU64::new(0));
    let handle = Handle {
        publish: tx,
        peers: peer_count.clone(),
    };

    tokio::spawn(async move {
        let mut connected: HashSet<PeerId> = HashSet::new();
        // Configured addresses we hold an outbound connection to, by peer.
        let mut dialed: HashMap<PeerId, Multiaddr> = HashMap::new();
        let mut redial = tokio::time::interval(REDIAL_EVERY);
        loop {
            tokio::select! {
                event = swarm.select_next_some() => match event {
                    SwarmEvent::Behaviour(gossipsub::Event::Message { message, .. }) => {
                        on_tx(&message.data);
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
                Some(bytes) = rx.recv() => {
                    if let Err(e) = swarm.behaviour_mut().publish(topic.clone(), bytes) {
                        debug!(target: "gossip", error = %e, "publish failed");
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
