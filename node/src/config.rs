//! Node configuration: one TOML file per node, unknown fields refused, validated on load.

use std::net::SocketAddr;
use std::path::Path;

use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};

use crate::mempool;

/// Errors loading a config file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid config {path}: {reason}")]
    Invalid { path: String, reason: String },
}

/// The whole node config (`config.toml`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Human name of this node, shown in status and logs.
    pub moniker: String,
    pub p2p: P2p,
    pub gossip: Gossip,
    pub rpc: Rpc,
    #[serde(default)]
    pub consensus: Consensus,
    #[serde(default)]
    pub mempool: mempool::Config,
    #[serde(default)]
    pub enclave: Enclave,
}

/// The node's enclave host: whose enclave it is, how long its audit trail is kept, how fast one
/// requester may ask.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Enclave {
    /// Key file of the platform member this node's enclave belongs to (relative to the node home, or
    /// absolute). The node registers its enclave with it, bound to that platform. Without it, a
    /// node whose enclave is not registered (one that joined after genesis) stays unregistered.
    pub platform_key: Option<std::path::PathBuf>,
    /// The machine's device store (the simulated CPU: its fused secret and the vendor's
    /// certificate), outside the node home so that copies and backups of the home never hold it.
    /// Absolute, or relative to the home's parent directory; by default `<home>.device`.
    pub device_dir: Option<std::path::PathBuf>,
    /// Audit entries kept per platform; the oldest are pruned past it (the trail still verifies
    /// from the kept part).
    pub audit_retention_entries: u64,
    /// Lookups (and audit reads) one requester key may make per second, on average.
    pub lookup_rate_per_sec: u32,
    /// How many it may make at once after a quiet spell.
    pub lookup_burst: u32,
    /// Whether the node starts its enclave sidecar (`paychain-enclave`) itself, as a child process
    /// that ends with it (true, the default), or connects to one run separately at
    /// `sidecar_socket` (e.g. as another OS user, so that the node's user cannot read its memory).
    pub spawn_sidecar: bool,
    /// The sidecar binary the node starts; by default `paychain-enclave` next to the node's own
    /// executable.
    pub sidecar_bin: Option<std::path::PathBuf>,
    /// The sidecar's Unix socket (absolute, or relative to the home); by default
    /// `<home>/sidecar/enclave.sock`. Its directory is 0700, the socket 0600.
    pub sidecar_socket: Option<std::path::PathBuf>,
    /// How many times a sidecar that died is started again before the node stops.
    pub sidecar_restarts: u32,
}

impl Default for Enclave {
    fn default() -> Self {
        Self {
            platform_key: None,
            device_dir: None,
            audit_retention_entries: 100_000,
            lookup_rate_per_sec: 20,
            lookup_burst: 40,
            spawn_sidecar: true,
            sidecar_bin: None,
            sidecar_socket: None,
            sidecar_restarts: 3,
        }
    }
}

/// Consensus p2p (Malachite's own libp2p swarm).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct P2p {
    pub listen: Multiaddr,
    #[serde(default)]
    pub persistent_peers: Vec<Multiaddr>,
    /// Source addresses (IPs or CIDR blocks) that may connect to the consensus port: the other
    /// validators' and sentries' hosts. Empty: any (the node warns). See `p2p_gate`.
    #[serde(default)]
    pub allowed_sources: Vec<String>,
    /// Consensus connections the gate splices at once (with `allowed_sources`).
    #[serde(default = "default_p2p_max_connections")]
    pub max_connections: usize,
    /// Consensus connections from one source address at once (with `allowed_sources`).
    #[serde(default = "default_p2p_max_connections_per_source")]
    pub max_connections_per_source: usize,
}

fn default_p2p_max_connections() -> usize {
    64
}

fn default_p2p_max_connections_per_source() -> usize {
    8
}

/// Transaction gossip (our second libp2p swarm).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gossip {
    pub listen: Multiaddr,
    #[serde(default)]
    pub peers: Vec<Multiaddr>,
    /// Peer ids (`paychain-node peer-id`) that may connect; empty: any peer (the node warns at
    /// startup). A consortium lists its nodes here.
    #[serde(default)]
    pub allowed_peers: Vec<String>,
    /// Inbound gossip connections from one source address (an IPv4 address, or an IPv6 /64) at
    /// once, in their handshake or established; more are closed as they arrive, before any
    /// handshake work. Below `gossip::MAX_PENDING_INBOUND` (32), so one address cannot hold every
    /// handshake slot. A host running several nodes of the consortium needs one per node.
    #[serde(default = "default_gossip_max_connections_per_source")]
    pub max_connections_per_source: u32,
    /// A gossip connection that has not finished its handshake (Noise and yamux) this long after
    /// it was accepted or dialed is closed.
    #[serde(default = "default_gossip_handshake_timeout")]
    pub handshake_timeout_ms: u64,
}

fn default_gossip_max_connections_per_source() -> u32 {
    8
}

fn default_gossip_handshake_timeout() -> u64 {
    5_000
}

impl Gossip {
    /// The defaults, listening on `listen` and dialing `peers`.
    pub fn new(listen: Multiaddr, peers: Vec<Multiaddr>) -> Gossip {
        Gossip {
            listen,
            peers,
            allowed_peers: Vec::new(),
            max_connections_per_source: default_gossip_max_connections_per_source(),
            handshake_timeout_ms: default_gossip_handshake_timeout(),
        }
    }

    /// Checks values serde cannot.
    fn validate(&self) -> Result<(), String> {
        let max = crate::gossip::MAX_PENDING_INBOUND;
        if self.max_connections_per_source == 0 || self.max_connections_per_source >= max {
            return Err(format!(
                "gossip.max_connections_per_source must be within 1..{max} (below the handshake slots, so that one address cannot hold them all)"
            ));
        }
        if !(100..=60_000).contains(&self.handshake_timeout_ms) {
            return Err("gossip.handshake_timeout_ms must be within 100..=60000".into());
        }
        Ok(())
    }
}

/// JSON-RPC over HTTP and WebSocket, plus `/health` and `/metrics`: what one client, one address
/// and everyone together may take of the node (see `rpc` for how each bound is enforced).
///
/// "Per IP" means per IPv4 address, and per /64 prefix for IPv6 (one host usually holds a whole
/// /64).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rpc {
    pub listen: SocketAddr,
    /// Largest request body (HTTP) or message (WebSocket).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: u32,
    /// Largest response (a batch's responses together).
    #[serde(default = "default_max_response")]
    pub max_response_bytes: u32,
    /// Open connections (TCP), over all clients.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// Open connections from one IP (within `max_connections`).
    #[serde(default = "default_max_connections_per_ip")]
    pub max_connections_per_ip: u32,
    /// Calls per second from one IP (a token bucket: a batch of n calls takes n); 0 for no limit.
    #[serde(default = "default_max_calls_per_sec_per_ip")]
    pub max_calls_per_sec_per_ip: u32,
    /// Calls one IP may make at once above that rate (the bucket's size); at least
    /// `max_batch_calls`, so that a full batch can pass.
    #[serde(default = "default_call_burst_per_ip")]
    pub call_burst_per_ip: u32,
    /// Calls in one JSON-RPC batch.
    #[serde(default = "default_max_batch_calls")]
    pub max_batch_calls: u32,
    /// Subscriptions one WebSocket connection may hold.
    #[serde(default = "default_max_subscriptions")]
    pub max_subscriptions_per_connection: u32,
    /// How often the node pings each WebSocket client.
    #[serde(default = "default_ws_ping_interval")]
    pub ws_ping_interval_ms: u64,
    /// A connection that makes no call and holds no subscription for this long is closed, and so
    /// is a WebSocket that neither sends nor answers a ping for this long.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_ms: u64,
    /// Threads that run calls reading storage or checking signatures, off the async workers that
    /// drive consensus; 0 for one per core.
    #[serde(default)]
    pub blocking_threads: u32,
}

impl Rpc {
    /// The defaults, listening on `listen`.
    pub fn new(listen: SocketAddr) -> Rpc {
        Rpc {
            listen,
            max_body_bytes: default_max_body(),
            max_response_bytes: default_max_response(),
            max_connections: default_max_connections(),
            max_connections_per_ip: default_max_connections_per_ip(),
            max_calls_per_sec_per_ip: default_max_calls_per_sec_per_ip(),
            call_burst_per_ip: default_call_burst_per_ip(),
            max_batch_calls: default_max_batch_calls(),
            max_subscriptions_per_connection: default_max_subscriptions(),
            ws_ping_interval_ms: default_ws_ping_interval(),
            idle_timeout_ms: default_idle_timeout(),
            blocking_threads: 0,
        }
    }

    /// Checks values serde cannot.
    fn validate(&self) -> Result<(), String> {
        if self.max_body_bytes < 1024 || self.max_body_bytes > 16 * 1024 * 1024 {
            return Err("rpc.max_body_bytes must be within 1 KiB..=16 MiB".into());
        }
        if self.max_response_bytes < 1024 * 1024 || self.max_response_bytes > 256 * 1024 * 1024 {
            return Err("rpc.max_response_bytes must be within 1 MiB..=256 MiB".into());
        }
        if self.max_connections == 0 {
            return Err("rpc.max_connections must be at least 1".into());
        }
        if self.max_connections_per_ip == 0 {
            return Err("rpc.max_connections_per_ip must be at least 1".into());
        }
        if self.max_batch_calls == 0 {
            return Err("rpc.max_batch_calls must be at least 1".into());
        }
        if self.max_calls_per_sec_per_ip > 0 && self.call_burst_per_ip < self.max_batch_calls {
            return Err(
                "rpc.call_burst_per_ip must be at least rpc.max_batch_calls (or a full batch could never pass)"
                    .into(),
            );
        }
        if self.max_subscriptions_per_connection == 0 {
            return Err("rpc.max_subscriptions_per_connection must be at least 1".into());
        }
        if self.ws_ping_interval_ms < 100 || self.idle_timeout_ms < 100 {
            return Err(
                "rpc.ws_ping_interval_ms and rpc.idle_timeout_ms must be at least 100".into(),
            );
        }
        if self.ws_ping_interval_ms >= self.idle_timeout_ms {
            return Err(
                "rpc.ws_ping_interval_ms must be below rpc.idle_timeout_ms (a live client answers a ping before it counts as gone)"
                    .into(),
            );
        }
        if self.blocking_threads > 1024 {
            return Err("rpc.blocking_threads must be at most 1024".into());
        }
        Ok(())
    }
}

fn default_max_body() -> u32 {
    1024 * 1024
}

fn default_max_response() -> u32 {
    64 * 1024 * 1024
}

fn default_max_connections() -> u32 {
    256
}

fn default_max_connections_per_ip() -> u32 {
    32
}

fn default_max_calls_per_sec_per_ip() -> u32 {
    200
}

fn default_call_burst_per_ip() -> u32 {
    400
}

fn default_max_batch_calls() -> u32 {
    100
}

fn default_max_subscriptions() -> u32 {
    16
}

fn default_ws_ping_interval() -> u64 {
    20_000
}

fn default_idle_timeout() -> u64 {
    60_000
}

/// Consensus pacing and timeouts.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Consensus {
    pub propose_timeout_ms: u64,
    pub prevote_timeout_ms: u64,
    pub precommit_timeout_ms: u64,
    /// Added to each timeout per round.
    pub timeout_delta_ms: u64,
    /// Minimum time per height; 0 lets heights run back to back.
    pub block_time_ms: u64,
    pub max_block_txs: usize,
    /// How often peers exchange sync status (a restarted node catches up this soon).
    pub sync_status_interval_ms: u64,
    /// An idle proposer waits this long for a transaction before proposing an empty block.
    pub empty_block_wait_ms: u64,
}

impl Default for Consensus {
    fn default() -> Self {
        Self {
            propose_timeout_ms: 1500,
            prevote_timeout_ms: 500,
            precommit_timeout_ms: 500,
            timeout_delta_ms: 250,
            block_time_ms: 100,
            max_block_txs: 10_000,
            sync_status_interval_ms: 1000,
            empty_block_wait_ms: 800,
        }
    }
}

/// TOML errors come with a multi-line excerpt; operators get one line with the position.
fn one_line(message: &str, span: Option<std::ops::Range<usize>>) -> String {
    let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
    match span {
        Some(span) => format!("{message} (at byte {})", span.start),
        None => message,
    }
}

impl Config {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.display().to_string(),
            source,
        })?;
        let invalid = |reason: String| Error::Invalid {
            path: path.display().to_string(),
            reason,
        };
        let config: Config =
            toml::from_str(&text).map_err(|e| invalid(one_line(e.message(), e.span())))?;
        config.validate().map_err(invalid)?;
        Ok(config)
    }

    /// Checks values serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.moniker.trim().is_empty() || self.moniker.len() > 64 {
            return Err("moniker must be 1..=64 characters".into());
        }
        self.rpc.validate()?;
        self.gossip.validate()?;
        let c = &self.consensus;
        if c.propose_timeout_ms == 0 || c.prevote_timeout_ms == 0 || c.precommit_timeout_ms == 0 {
            return Err("consensus timeouts must be positive".into());
        }
        if c.max_block_txs == 0 {
            return Err("consensus.max_block_txs must be at least 1".into());
        }
        if self.mempool.max_txs == 0
            || self.mempool.max_per_sender == 0
            || self.mempool.ttl_secs == 0
            || self.mempool.ttl_blocks == 0
        {
            return Err("mempool limits must be positive".into());
        }
        let e = &self.enclave;
        if e.audit_retention_entries == 0 {
            return Err("enclave.audit_retention_entries must be at least 1".into());
        }
        if e.lookup_rate_per_sec == 0 || e.lookup_burst == 0 {
            return Err(
                "enclave.lookup_rate_per_sec and enclave.lookup_burst must be at least 1".into(),
            );
        }
        Ok(())
    }

    /// Writes the config as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sample() -> Config {
        Config {
            moniker: "node0".into(),
            p2p: P2p {
                listen: "/ip4/127.0.0.1/tcp/1".parse().unwrap(),
                persistent_peers: vec![],
                allowed_sources: vec![],
                max_connections: default_p2p_max_connections(),
                max_connections_per_source: default_p2p_max_connections_per_source(),
            },
            gossip: Gossip::new("/ip4/127.0.0.1/tcp/2".parse().unwrap(), vec![]),
            rpc: Rpc {
                max_connections: 8,
                max_connections_per_ip: 8,
                ..Rpc::new("127.0.0.1:3".parse().unwrap())
            },
            consensus: Consensus::default(),
            mempool: mempool::Config::default(),
            enclave: Enclave::default(),
        }
    }

    #[test]
    fn round_trips_and_refuses_unknown_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, sample().to_toml()).unwrap();
        let back = Config::load(&path).unwrap();
        assert_eq!(back.moniker, "node0");
        // A config written before the per-IP bounds existed gets their defaults.
        let mut section = String::new();
        let old = sample()
            .to_toml()
            .lines()
            .filter(|l| {
                if l.starts_with('[') {
                    section = l.to_string();
                }
                section != "[rpc]"
                    || l.starts_with('[')
                    || ["listen", "max_body_bytes", "max_connections ="]
                        .iter()
                        .any(|k| l.starts_with(k))
            })
            .collect::<Vec<_>>()
            .join("\n");
        assert!(!old.contains("max_batch_calls") && old.contains("max_connections = 8"));
        std::fs::write(&path, old).unwrap();
        let back = Config::load(&path).unwrap();
        assert_eq!(back.rpc.max_calls_per_sec_per_ip, 200);
        assert_eq!(back.rpc.max_batch_calls, 100);
        std::fs::write(&path, format!("{}\nbogus = 1\n", sample().to_toml())).unwrap();
        let err = Config::load(&path).unwrap_err().to_string();
        assert!(err.contains("unknown field"), "{err}");
    }

    #[test]
    fn refuses_bad_values() {
        let mut c = sample();
        c.rpc.max_body_bytes = 10;
        assert!(c.validate().unwrap_err().contains("max_body_bytes"));
        let mut c = sample();
        c.rpc.max_connections_per_ip = 0;
        assert!(c.validate().unwrap_err().contains("max_connections_per_ip"));
        let mut c = sample();
        c.rpc.max_batch_calls = 500;
        assert!(c.validate().unwrap_err().contains("call_burst_per_ip"));
        c.rpc.max_calls_per_sec_per_ip = 0;
        assert_eq!(
            c.validate(),
            Ok(()),
            "no rate limit, no burst to fit a batch in"
        );
        let mut c = sample();
        c.rpc.ws_ping_interval_ms = c.rpc.idle_timeout_ms;
        assert!(c.validate().unwrap_err().contains("ws_ping_interval_ms"));
        let mut c = sample();
        c.gossip.max_connections_per_source = crate::gossip::MAX_PENDING_INBOUND;
        assert!(c
            .validate()
            .unwrap_err()
            .contains("max_connections_per_source"));
        let mut c = sample();
        c.gossip.handshake_timeout_ms = 10;
        assert!(c.validate().unwrap_err().contains("handshake_timeout_ms"));
        let mut c = sample();
        c.moniker = String::new();
        assert!(c.validate().unwrap_err().contains("moniker"));
        let mut c = sample();
        c.enclave.lookup_rate_per_sec = 0;
        assert!(c.validate().unwrap_err().contains("lookup_rate_per_sec"));
        let mut c = sample();
        c.enclave.audit_retention_entries = 0;
        assert!(c
            .validate()
            .unwrap_err()
            .contains("audit_retention_entries"));
    }

    #[test]
    fn enclave_section_is_optional_and_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let text = sample().to_toml();
        let without: String = text.split("[enclave]").next().unwrap().to_owned();
        std::fs::write(&path, &without).unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(c.enclave.lookup_burst, 40);
        assert!(c.enclave.platform_key.is_none());
        std::fs::write(
            &path,
            format!("{without}\n[enclave]\nplatform_key = \"keys/platform.json\"\nlookup_rate_per_sec = 2\n"),
        )
        .unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(c.enclave.lookup_rate_per_sec, 2);
        assert_eq!(
            c.enclave.platform_key.as_deref(),
            Some(std::path::Path::new("keys/platform.json"))
        );
    }
}
