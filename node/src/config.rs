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
    /// Audit entries kept per platform; the oldest are pruned past it (the trail still verifies
    /// from the kept part).
    pub audit_retention_entries: u64,
    /// Lookups (and audit reads) one requester key may make per second, on average.
    pub lookup_rate_per_sec: u32,
    /// How many it may make at once after a quiet spell.
    pub lookup_burst: u32,
}

impl Default for Enclave {
    fn default() -> Self {
        Self {
            platform_key: None,
            audit_retention_entries: 100_000,
            lookup_rate_per_sec: 20,
            lookup_burst: 40,
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
}

/// Transaction gossip (our second libp2p swarm).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gossip {
    pub listen: Multiaddr,
    #[serde(default)]
    pub peers: Vec<Multiaddr>,
}

/// JSON-RPC over HTTP and WebSocket, plus `/health` and `/metrics`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rpc {
    pub listen: SocketAddr,
    #[serde(default = "default_max_body")]
    pub max_body_bytes: u32,
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
}

fn default_max_body() -> u32 {
    1024 * 1024
}

fn default_max_connections() -> u32 {
    256
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
        if self.rpc.max_body_bytes < 1024 || self.rpc.max_body_bytes > 16 * 1024 * 1024 {
            return Err("rpc.max_body_bytes must be within 1 KiB..=16 MiB".into());
        }
        if self.rpc.max_connections == 0 {
            return Err("rpc.max_connections must be at least 1".into());
        }
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
            },
            gossip: Gossip {
                listen: "/ip4/127.0.0.1/tcp/2".parse().unwrap(),
                peers: vec![],
            },
            rpc: Rpc {
                listen: "127.0.0.1:3".parse().unwrap(),
                max_body_bytes: default_max_body(),
                max_connections: 8,
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
