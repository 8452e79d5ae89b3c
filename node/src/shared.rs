//! The state the consensus host, the RPC server, gossip and the enclave host share: storage, mempool,
//! metrics, the committed tip and its subscribers. Its own module so that each of those imports it
//! without importing the wiring in [`crate::node`].

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use paychain_contracts::genesis::Genesis;
use paychain_contracts::ids::ChainId;
use tokio::sync::broadcast;

use crate::gossip;
use crate::mempool::Mempool;
use crate::metrics::Metrics;
use crate::storage::{Storage, Tip};

/// State shared by the consensus host and the RPC server.
pub struct Shared {
    pub chain_id: ChainId,
    pub moniker: String,
    pub genesis: Genesis,
    pub storage: Storage,
    pub mempool: Mempool,
    pub metrics: Metrics,
    tip: RwLock<Tip>,
    blocks: broadcast::Sender<u64>,
    gossip: std::sync::OnceLock<gossip::Handle>,
    pub syncing: AtomicBool,
    /// This node's enclave sidecar, on chains that have one (the enclave itself runs in the
    /// sidecar's process: see [`crate::sidecar`]).
    pub enclave: Option<Arc<crate::sidecar::EnclaveClient>>,
    /// The enclave host's rate limiter and audit trails.
    pub enclave_host: crate::enclave_host::Host,
}

impl Shared {
    /// The shared state of a node that has committed `tip`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        chain_id: ChainId,
        moniker: String,
        genesis: Genesis,
        storage: Storage,
        mempool: Mempool,
        metrics: Metrics,
        tip: Tip,
        enclave: Option<Arc<crate::sidecar::EnclaveClient>>,
        enclave_host: crate::enclave_host::Host,
    ) -> Shared {
        let (blocks, _) = broadcast::channel(256);
        mempool.set_metrics(metrics.clone());
        Shared {
            chain_id,
            moniker,
            genesis,
            storage,
            mempool,
            metrics,
            tip: RwLock::new(tip),
            blocks,
            gossip: std::sync::OnceLock::new(),
            syncing: AtomicBool::new(false),
            enclave,
            enclave_host,
        }
    }

    /// Attaches the transaction gossip once it runs (set once; later calls are ignored).
    pub fn set_gossip(&self, handle: gossip::Handle) {
        let _ = self.gossip.set(handle);
    }

    /// The committed tip.
    pub fn tip(&self) -> Tip {
        self.tip.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Called by the host after a block is committed.
    pub fn committed(&self, tip: Tip, txs: u64, took: Duration) {
        let height = tip.height;
        *self.tip.write().unwrap_or_else(|p| p.into_inner()) = tip;
        self.metrics.committed(height, txs, took);
        let _ = self.blocks.send(height);
    }

    /// New committed heights, for subscriptions.
    pub fn subscribe_blocks(&self) -> broadcast::Receiver<u64> {
        self.blocks.subscribe()
    }

    /// Publishes admitted tx bytes to peers.
    pub fn gossip(&self, bytes: Vec<u8>) {
        if let Some(g) = self.gossip.get() {
            g.publish(bytes);
        }
    }

    /// Connected gossip peers.
    pub fn peers(&self) -> u64 {
        self.gossip.get().map(|g| g.peers()).unwrap_or(0)
    }

    /// Gossip connections held now: (inbound in their handshake, established).
    pub fn gossip_connections(&self) -> (u64, u64) {
        self.gossip.get().map(|g| g.connections()).unwrap_or((0, 0))
    }

    /// For the mempool's door: the sender's committed next nonce if the chain knows the sender
    /// ([`paychain_contracts::admission::known_sender`] in the latest committed state), `None` if it
    /// does not (storage faults read as a known sender with no nonce that fits).
    pub fn sender_nonce(&self, pk: &paychain_contracts::crypto::PublicKey) -> Option<u64> {
        match paychain_contracts::admission::known_sender(&self.storage, pk) {
            Ok(None) => None,
            Ok(Some(_)) => Some(self.account_nonce(pk)),
            Err(_) => Some(u64::MAX),
        }
    }

    /// The sender's committed next nonce (storage faults read as "no nonce fits").
    pub fn account_nonce(&self, pk: &paychain_contracts::crypto::PublicKey) -> u64 {
        paychain_contracts::executor::nonce(&self.storage, pk).unwrap_or(u64::MAX)
    }

    /// An empty node (no validators, no peers, no enclave) on a fresh database in `dir`, for unit
    /// tests of the parts above storage (e.g. the RPC module).
    #[cfg(test)]
    #[allow(clippy::unwrap_used)]
    pub(crate) fn for_tests(dir: &std::path::Path) -> Shared {
        let chain_id = ChainId::default();
        let (blocks, _) = broadcast::channel(16);
        Shared {
            chain_id: chain_id.clone(),
            moniker: "test".into(),
            genesis: Genesis {
                chain_id: chain_id.clone(),
                genesis_time_ms: 0,
                validators: Vec::new(),
                members: Vec::new(),
                enclave: None,
            },
            storage: Storage::open(dir).unwrap(),
            mempool: Mempool::new(Default::default(), chain_id),
            metrics: Metrics::register(malachitebft_app::metrics::SharedRegistry::global()),
            tip: RwLock::new(Tip::default()),
            blocks,
            gossip: std::sync::OnceLock::new(),
            syncing: AtomicBool::new(false),
            enclave: None,
            enclave_host: crate::enclave_host::Host::new(&Default::default()),
        }
    }
}
