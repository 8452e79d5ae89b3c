//! Prometheus metrics, registered in the same registry as the engine's own (round and step
//! timings, sync, network), so `/metrics` shows both.

use std::time::Duration;

use malachitebft_app::metrics::SharedRegistry;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

/// The node's metrics. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    height: Gauge,
    round: Gauge,
    txs_committed: Counter,
    blocks_committed: Counter,
    invalid_proposals: Counter,
    mempool_size: Gauge,
    peers: Gauge,
    commit_seconds: Histogram,
    enclave_execution_rounds: Histogram,
    storage_memory: Family<MemoryLabels, Gauge>,
    rpc: RpcMetrics,
    enclave_requests: Family<EnclaveLabels, Counter>,
    enclave_rate_limited: Family<EnclaveLabels, Counter>,
    equivocations: Family<KindLabels, Counter>,
    gossip_refused: Counter,
    gossip_rejected_txs: Family<ReasonLabels, Counter>,
    gossip_peers_dropped: Counter,
    gossip_connections: Family<StateLabels, Gauge>,
    gossip_connections_refused: Family<ReasonLabels, Counter>,
    gossip_handshakes_failed: Family<ReasonLabels, Counter>,
    door_refused: Family<ReasonLabels, Counter>,
    door_address_refused: Counter,
    door_address_failures: Counter,
    door_tracked_addresses: Gauge,
    p2p_gate_refused: Family<ReasonLabels, Counter>,
    proposal_streams_dropped: Family<ReasonLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    /// `proposal`, `prevote` or `precommit`.
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EnclaveLabels {
    /// `lookup` or `audit`.
    method: &'static str,
    /// `answered`, `refused` or `rate_limited` (requests only).
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MemoryLabels {
    part: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransportLabels {
    transport: &'static str,
}

/// What the RPC server's bounds did (see `rpc`): every refusal and forced close is counted.
#[derive(Clone, Default)]
pub struct RpcMetrics {
    connections: Gauge,
    connections_refused: Family<ReasonLabels, Counter>,
    calls_rate_limited: Counter,
    batches_refused: Counter,
    calls_refused_busy: Counter,
    idle_closed: Family<TransportLabels, Counter>,
}

/// Why a connection was refused as it arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnRefusal {
    /// Its IP already holds `[rpc] max_connections_per_ip`.
    PerIp,
    /// The node already holds `[rpc] max_connections`.
    Total,
}

impl ConnRefusal {
    /// The `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            ConnRefusal::PerIp => "per_ip",
            ConnRefusal::Total => "total",
        }
    }
}

impl RpcMetrics {
    /// A connection was accepted (`+1`) or closed (`-1`).
    pub fn connections_add(&self, n: i64) {
        self.connections.inc_by(n);
    }

    pub fn connection_refused(&self, why: ConnRefusal) {
        self.connections_refused
            .get_or_create(&ReasonLabels {
                reason: why.label(),
            })
            .inc();
    }

    /// A call (or a whole batch, as one) was refused by the per-IP rate limit.
    pub fn rate_limited(&self) {
        self.calls_rate_limited.inc();
    }

    pub fn batch_refused(&self) {
        self.batches_refused.inc();
    }

    /// A call was refused because too many calls already waited for a blocking thread.
    pub fn busy(&self) {
        self.calls_refused_busy.inc();
    }

    /// An idle connection was closed; `websocket` says which kind.
    pub fn idle_closed(&self, websocket: bool) {
        let transport = if websocket { "ws" } else { "http" };
        self.idle_closed
            .get_or_create(&TransportLabels { transport })
            .inc();
    }
}

impl Metrics {
    /// Registers the metrics under the `paychain_` prefix.
    pub fn register(registry: &SharedRegistry) -> Self {
        let m = Self {
            height: Gauge::default(),
            round: Gauge::default(),
            txs_committed: Counter::default(),
            blocks_committed: Counter::default(),
            invalid_proposals: Counter::default(),
            mempool_size: Gauge::default(),
            peers: Gauge::default(),
            commit_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            enclave_execution_rounds: Histogram::new([1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0]),
            storage_memory: Family::default(),
            rpc: RpcMetrics::default(),
            enclave_requests: Family::default(),
            enclave_rate_limited: Family::default(),
            equivocations: Family::default(),
            gossip_refused: Counter::default(),
            p2p_gate_refused: Family::default(),
            proposal_streams_dropped: Family::default(),
            gossip_rejected_txs: Family::default(),
            door_refused: Family::default(),
            door_address_refused: Counter::default(),
            door_address_failures: Counter::default(),
            door_tracked_addresses: Gauge::default(),
            gossip_peers_dropped: Counter::default(),
            gossip_connections: Family::default(),
            gossip_connections_refused: Family::default(),
            gossip_handshakes_failed: Family::default(),
        };
        registry.with_prefix("paychain", |r| {
            r.register(
                "height",
                "Height of the last committed block",
                m.height.clone(),
            );
            r.register(
                "round",
                "Consensus round of the current height",
                m.round.clone(),
            );
            r.register(
                "txs_committed",
                "Transactions committed",
                m.txs_committed.clone(),
            );
            r.register(
                "blocks_committed",
                "Blocks committed",
                m.blocks_committed.clone(),
            );
            r.register(
                "invalid_proposals",
                "Proposals refused by validation",
                m.invalid_proposals.clone(),
            );
            r.register(
                "mempool_size",
                "Pending transactions",
                m.mempool_size.clone(),
            );
            r.register("peers", "Connected tx-gossip peers", m.peers.clone());
            r.register(
                "block_commit_seconds",
                "Time to execute and commit a decided block",
                m.commit_seconds.clone(),
            );
            r.register(
                "storage_memory_bytes",
                "RocksDB memory by part: memtables and block_cache are bounded by configuration, table_readers grow with the data on disk",
                m.storage_memory.clone(),
            );
            r.register(
                "rpc_connections",
                "Open JSON-RPC connections (HTTP and WebSocket)",
                m.rpc.connections.clone(),
            );
            r.register(
                "rpc_connections_refused",
                "JSON-RPC connections refused as they arrived, by reason: per_ip (the address holds rpc.max_connections_per_ip) or total (rpc.max_connections)",
                m.rpc.connections_refused.clone(),
            );
            r.register(
                "rpc_calls_rate_limited",
                "JSON-RPC calls (a batch counts once) refused by the per-IP rate limit (rpc.max_calls_per_sec_per_ip)",
                m.rpc.calls_rate_limited.clone(),
            );
            r.register(
                "rpc_batches_refused",
                "JSON-RPC batches refused for holding more than rpc.max_batch_calls calls",
                m.rpc.batches_refused.clone(),
            );
            r.register(
                "rpc_calls_refused_busy",
                "JSON-RPC calls refused because too many already waited for a blocking thread",
                m.rpc.calls_refused_busy.clone(),
            );
            r.register(
                "rpc_idle_closed",
                "JSON-RPC connections closed for idleness (rpc.idle_timeout_ms), by transport (http, ws)",
                m.rpc.idle_closed.clone(),
            );
            r.register(
                "enclave_requests",
                "Enclave lookups and audit reads by method and outcome (answered, refused, rate_limited)",
                m.enclave_requests.clone(),
            );
            r.register(
                "enclave_rate_limited",
                "Enclave lookups and audit reads refused because their requester key exceeded its rate",
                m.enclave_rate_limited.clone(),
            );
            r.register(
                "equivocations",
                "Pairs of conflicting messages signed by one validator (double signing), by kind",
                m.equivocations.clone(),
            );
            r.register(
                "gossip_refused_connections",
                "Tx-gossip connections refused: the peer id is not in [gossip] allowed_peers, or was dropped",
                m.gossip_refused.clone(),
            );
            r.register(
                "gossip_rejected_txs",
                "Transactions in gossip from peers that were undecodable or badly signed, by reason",
                m.gossip_rejected_txs.clone(),
            );
            r.register(
                "proposal_streams_dropped",
                "Proposal streams not buffered or dropped, by reason: not_proposer, out_of_reach (height or round), no_init, duplicate_stream (one per publisher and round; one per round ahead of our height), bad_sequence, oversize, malformed, unauthenticated (bad signature), future_full",
                m.proposal_streams_dropped.clone(),
            );
            r.register(
                "p2p_gate_refused",
                "Consensus connections closed by the gate, by reason: source (not in [p2p] allowed_sources) or limit",
                m.p2p_gate_refused.clone(),
            );
            r.register(
                "gossip_peers_dropped",
                "Tx-gossip peers disconnected and refused for sending garbage or bad signatures",
                m.gossip_peers_dropped.clone(),
            );
            r.register(
                "enclave_execution_rounds",
                "Requests to the enclave per executed block on a chain with private state (the first, plus one per batch of state values it still needed)",
                m.enclave_execution_rounds.clone(),
            );
            r.register(
                "gossip_connections",
                "Tx-gossip connections the node holds, by state: handshake (inbound, not yet through Noise and yamux) or established (inbound and dialed)",
                m.gossip_connections.clone(),
            );
            r.register(
                "gossip_connections_refused",
                "Tx-gossip connections closed as they arrived, by reason: per_source ([gossip] max_connections_per_source), handshakes (all handshake slots taken), inbound (all inbound slots taken), per_peer",
                m.gossip_connections_refused.clone(),
            );
            r.register(
                "gossip_handshakes_failed",
                "Inbound tx-gossip connections closed in their handshake, by reason: timeout ([gossip] handshake_timeout_ms) or error",
                m.gossip_handshakes_failed.clone(),
            );
            r.register(
                "door_refused_txs",
                "Transactions refused at the mempool's door (RPC and gossip), by reason: unknown_sender, slowed_down",
                m.door_refused.clone(),
            );
            r.register(
                "door_address_refused_calls",
                "paychain_submitTx and paychain_submitTxs calls refused at once (1012) because their address failed at the door too often ([mempool] door_failure_burst_per_ip, door_failures_per_sec_per_ip)",
                m.door_address_refused.clone(),
            );
            r.register(
                "door_address_failures",
                "Submitted transactions whose refusal counted against the submitting address (too large, undecodable, bad signature, unknown sender, nonce too far ahead)",
                m.door_address_failures.clone(),
            );
            r.register(
                "door_tracked_addresses",
                "Addresses whose door failures are tracked (at most [mempool] door_max_tracked_ips)",
                m.door_tracked_addresses.clone(),
            );
        });
        m
    }

    /// The RPC server's counters.
    pub fn rpc(&self) -> &RpcMetrics {
        &self.rpc
    }

    pub fn committed(&self, height: u64, txs: u64, took: Duration) {
        self.height.set(height as i64);
        self.txs_committed.inc_by(txs);
        self.blocks_committed.inc();
        self.commit_seconds.observe(took.as_secs_f64());
    }

    /// A block was executed in the enclave in `rounds` requests.
    pub fn enclave_executed(&self, rounds: u32) {
        self.enclave_execution_rounds.observe(f64::from(rounds));
    }

    /// Sets the height gauge at startup (no block was committed).
    pub fn set_height(&self, height: u64) {
        self.height.set(height as i64);
    }

    pub fn round_started(&self, round: i64) {
        self.round.set(round);
    }

    /// A proposal stream was not buffered, or dropped, for `reason` (see `host::streams`).
    pub fn proposal_stream_dropped(&self, reason: &'static str) {
        self.proposal_streams_dropped
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// Counts a consensus connection the gate closed.
    pub fn p2p_gate_refused(&self, why: crate::p2p_gate::Refusal) {
        let reason = match why {
            crate::p2p_gate::Refusal::Source => "source",
            crate::p2p_gate::Refusal::Limit => "limit",
        };
        self.p2p_gate_refused
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// Counts what the tx-gossip swarm reports.
    pub fn gossip_event(&self, event: crate::gossip::Event) {
        use crate::gossip::Event;
        match event {
            Event::Refused => self.gossip_refused.inc(),
            Event::Garbage(n) => self
                .gossip_rejected_txs
                .get_or_create(&ReasonLabels {
                    reason: "undecodable",
                })
                .inc_by(n as u64),
            Event::BadSignatures(n) => self
                .gossip_rejected_txs
                .get_or_create(&ReasonLabels {
                    reason: "bad_signature",
                })
                .inc_by(n as u64),
            Event::UnknownSenders(n) => self
                .gossip_rejected_txs
                .get_or_create(&ReasonLabels {
                    reason: "unknown_sender",
                })
                .inc_by(n as u64),
            Event::Dropped => self.gossip_peers_dropped.inc(),
            Event::Bounded(why) => self
                .gossip_connections_refused
                .get_or_create(&ReasonLabels {
                    reason: why.label(),
                })
                .inc(),
            Event::HandshakeFailed { timeout } => self
                .gossip_handshakes_failed
                .get_or_create(&ReasonLabels {
                    reason: if timeout { "timeout" } else { "error" },
                })
                .inc(),
        };
    }

    /// Sets the gauge of gossip connections held (sampled at scrape time).
    pub fn set_gossip_connections(&self, handshakes: u64, established: u64) {
        for (state, n) in [("handshake", handshakes), ("established", established)] {
            self.gossip_connections
                .get_or_create(&StateLabels { state })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Counts a transaction refused at the mempool's door (`reason`: `unknown_sender` or
    /// `slowed_down`), from RPC or gossip.
    pub fn door_refused(&self, reason: &'static str) {
        self.door_refused
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// Counts a submission call refused for its address.
    pub fn door_address_refused(&self) {
        self.door_address_refused.inc();
    }

    /// Counts `n` door failures against submitting addresses.
    pub fn door_address_failures(&self, n: u64) {
        self.door_address_failures.inc_by(n);
    }

    /// Sets the gauge of addresses tracked by the door (sampled at scrape time).
    pub fn set_door_tracked_addresses(&self, n: usize) {
        self.door_tracked_addresses
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Counts one equivocation pair (`kind`: `proposal`, `prevote` or `precommit`).
    pub fn equivocation(&self, kind: &'static str) {
        self.equivocations.get_or_create(&KindLabels { kind }).inc();
    }

    pub fn invalid_proposal(&self) {
        self.invalid_proposals.inc();
    }

    /// Counts an enclave request (`method`: `lookup` or `audit`) by its outcome.
    pub fn enclave_request(&self, method: &'static str, outcome: &'static str) {
        self.enclave_requests
            .get_or_create(&EnclaveLabels { method, outcome })
            .inc();
        if outcome == "rate_limited" {
            self.enclave_rate_limited
                .get_or_create(&EnclaveLabels { method, outcome })
                .inc();
        }
    }

    /// Refreshes the gauges sampled at scrape time and renders everything.
    pub fn render(
        &self,
        mempool_size: usize,
        peers: u64,
        storage: Option<crate::storage::StorageMemory>,
    ) -> String {
        self.mempool_size.set(mempool_size as i64);
        self.peers.set(peers as i64);
        if let Some(m) = storage {
            for (part, bytes) in [
                ("memtables", m.memtables),
                ("block_cache", m.block_cache),
                ("table_readers", m.table_readers),
            ] {
                self.storage_memory
                    .get_or_create(&MemoryLabels { part })
                    .set(i64::try_from(bytes).unwrap_or(i64::MAX));
            }
        }
        let mut out = String::new();
        malachitebft_app::metrics::export(&mut out);
        out
    }
}
