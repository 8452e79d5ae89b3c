//! Generation of keys, genesis and per-node configs (for `testnet`, `init` and `--dev`).

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use paychain_contracts::crypto::SecretKey;
use paychain_contracts::genesis::{Genesis, GenesisValidator};
use paychain_contracts::governance::{Member, Role};
use paychain_contracts::ids::{ChainId, PlatformId};

use crate::config::{self, Config};
use crate::home::Home;
use crate::keys;

/// Ports of node `i` from a base port: RPC, consensus p2p, tx gossip.
pub fn ports(base: u16, i: usize) -> anyhow::Result<(u16, u16, u16)> {
    let rpc = u16::try_from(base as usize + 10 * i).context("port out of range")?;
    let p2p = rpc.checked_add(1).context("port out of range")?;
    let gossip = rpc.checked_add(2).context("port out of range")?;
    Ok((rpc, p2p, gossip))
}

fn tcp(port: u16) -> libp2p::Multiaddr {
    libp2p::Multiaddr::empty()
        .with(libp2p::multiaddr::Protocol::Ip4([127, 0, 0, 1].into()))
        .with(libp2p::multiaddr::Protocol::Tcp(port))
}

/// A default config for a node listening on the given ports, peering with `peers` (indexes
/// into `all_ports`).
pub fn node_config(moniker: &str, own: (u16, u16, u16), peers: &[(u16, u16, u16)]) -> Config {
    Config {
        moniker: moniker.to_string(),
        p2p: config::P2p {
            listen: tcp(own.1),
            persistent_peers: peers.iter().map(|p| tcp(p.1)).collect(),
            // Every node of a generated network is on this host.
            allowed_sources: vec!["127.0.0.1".into()],
            max_connections: 64,
            max_connections_per_source: 8,
        },
        gossip: config::Gossip {
            // Every node of a generated network is on this host: one connection from each
            // (and one more while a redial overlaps), with room for the default's margin.
            max_connections_per_source: (2 * peers.len() as u32 + 2)
                .clamp(8, crate::gossip::MAX_PENDING_INBOUND - 1),
            ..config::Gossip::new(tcp(own.2), peers.iter().map(|p| tcp(p.2)).collect())
        },
        rpc: config::Rpc::new(std::net::SocketAddr::from(([127, 0, 0, 1], own.0))),
        consensus: config::Consensus::default(),
        mempool: Default::default(),
        enclave: Default::default(),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// A platform member of genesis with both roles.
fn platform(i: usize, key: &SecretKey) -> anyhow::Result<Member> {
    Ok(Member {
        id: PlatformId::new(format!("platform-{i}")).map_err(|e| anyhow::anyhow!("{e}"))?,
        name: format!("Platform {i}"),
        public_key: key.public_key(),
        roles: BTreeSet::from([Role::Platform, Role::Governor]),
    })
}

/// Writes an N-validator network under `out`: `genesis.json`, `platforms/platform-<i>.json`,
/// and `node<i>/{config.toml, genesis.json, keys/validator.json}`.
pub fn generate(
    out: &Path,
    validators: usize,
    platforms: usize,
    base_port: u16,
    chain_id: &str,
    private_state: bool,
) -> anyhow::Result<Genesis> {
    anyhow::ensure!(validators >= 1, "at least one validator is needed");
    anyhow::ensure!(
        !out.join("genesis.json").exists(),
        "{} already holds a network; remove it first",
        out.display()
    );
    let all_ports = (0..validators)
        .map(|i| ports(base_port, i))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let node_keys: Vec<SecretKey> = (0..validators).map(|_| keys::generate()).collect();
    let platform_keys: Vec<SecretKey> = (0..platforms).map(|_| keys::generate()).collect();
    let platform_ids = (0..platforms)
        .map(|i| PlatformId::new(format!("platform-{i}")).map_err(|e| anyhow::anyhow!("{e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let enclaves = crate::enclave::bootstrap_network(
        &ChainId(chain_id.to_string()),
        validators,
        &platform_ids,
        private_state,
    )?;
    let genesis = Genesis {
        chain_id: ChainId(chain_id.to_string()),
        genesis_time_ms: now_ms(),
        validators: node_keys
            .iter()
            .enumerate()
            .map(|(i, k)| GenesisValidator {
                name: format!("node{i}"),
                public_key: k.public_key(),
                power: 1,
            })
            .collect(),
        members: platform_keys
            .iter()
            .enumerate()
            .map(|(i, k)| platform(i, k))
            .collect::<anyhow::Result<Vec<_>>>()?,
        enclave: Some(enclaves.genesis.clone()),
    };
    genesis
        .validate()
        .map_err(|e| anyhow::anyhow!("generated genesis is invalid: {e}"))?;
    let genesis_json = serde_json::to_string_pretty(&genesis)?;
    write(&out.join("genesis.json"), &genesis_json)?;
    for (i, key) in platform_keys.iter().enumerate() {
        keys::save(
            &out.join("platforms").join(format!("platform-{i}.json")),
            key,
        )?;
    }
    // The generator played the hardware vendor for the genesis machines: the root goes to the
    // vendor's own store (`paychain-vendor --dir <out>/vendor` certifies machines that join later),
    // never into a node home or a device store.
    keys::save(&out.join("vendor").join(VENDOR_ROOT_FILE), &enclaves.root)?;
    for (i, key) in node_keys.iter().enumerate() {
        let home = Home(out.join(format!("node{i}")));
        let peers: Vec<_> = all_ports
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, p)| *p)
            .collect();
        let config = node_config(&format!("node{i}"), all_ports[i], &peers);
        write(&home.config(), &config.to_toml())?;
        write(&home.genesis(), &genesis_json)?;
        keys::save(&home.validator_key(), key)?;
        let device = crate::enclave::Device::of(&home, &config.enclave);
        crate::enclave::install(&home, &device, &enclaves.nodes[i])?;
    }
    Ok(genesis)
}

/// File name of the vendor's root key in the vendor's store (`paychain-vendor --dir`).
pub const VENDOR_ROOT_FILE: &str = "root.json";

/// Prepares an operator's home: a validator key and a default config (genesis comes from the
/// consortium), and the machine's device store beside it (`<home>.device`, the simulated CPU).
pub fn init(home: &Home, moniker: &str, base_port: u16) -> anyhow::Result<()> {
    anyhow::ensure!(
        !home.config().exists(),
        "{} is already initialised",
        home.0.display()
    );
    keys::save(&home.validator_key(), &keys::generate())?;
    let config = node_config(moniker, ports(base_port, 0)?, &[]);
    // The sidecar blows the machine's fuses: the device secret never passes through this process.
    crate::enclave::device_key(
        &config.enclave,
        &crate::enclave::Device::of(home, &config.enclave),
        true,
    )?;
    write(&home.config(), &config.to_toml())?;
    Ok(())
}
