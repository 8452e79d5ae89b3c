//! Wiring: storage, mempool, gossip, RPC and the Malachite engine, started from a home dir.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::consensus::scheme::PublicKey as ConsPublicKey;
use anyhow::Context as _;
use malachitebft_app::config::{ConsensusConfig, NodeConfig, ValueSyncConfig};
use malachitebft_app::metrics::SharedRegistry;
use malachitebft_app::types::Keypair;
use malachitebft_app_channel::{
    ConsensusContext, EngineBuilder, NetworkContext, NetworkIdentity, RequestContext, SyncContext,
    WalContext,
};
use malachitebft_core_types::LinearTimeouts;
use malachitebft_signing::Signer as _;
use paychain_contracts::crypto::{Hash, SecretKey};
use paychain_contracts::genesis::{genesis_state, Genesis};
use tracing::info;

use crate::config::Config;
use crate::consensus::{
    Address, BorshCodec, ConsensusKeys, PaychainContext, Validator, ValidatorSet,
};
pub use crate::home::Home;
use crate::host::{Host, Pacing};
use crate::mempool::Mempool;
use crate::metrics::Metrics;
pub use crate::shared::Shared;
use crate::storage::Storage;
use crate::{gossip, rpc};

pub use crate::home::load_genesis;

/// The libp2p identity of a node, derived from its validator key.
pub fn network_keypair(key: &SecretKey) -> anyhow::Result<Keypair> {
    let seed = key.to_seed();
    let derived = Hash::digest(&[b"paychain/p2p/v1".as_slice(), seed.as_slice()].concat());
    Ok(Keypair::ed25519_from_bytes(derived.0)?)
}

#[derive(Clone)]
struct EngineConfig {
    moniker: String,
    consensus: ConsensusConfig,
    value_sync: ValueSyncConfig,
}

impl NodeConfig for EngineConfig {
    fn moniker(&self) -> &str {
        &self.moniker
    }
    fn consensus(&self) -> &ConsensusConfig {
        &self.consensus
    }
    fn consensus_mut(&mut self) -> &mut ConsensusConfig {
        &mut self.consensus
    }
    fn value_sync(&self) -> &ValueSyncConfig {
        &self.value_sync
    }
    fn value_sync_mut(&mut self) -> &mut ValueSyncConfig {
        &mut self.value_sync
    }
}

/// A running node, for embedding (the `start` command and `--dev`).
pub struct Running {
    pub shared: Arc<Shared>,
    pub rpc_addr: std::net::SocketAddr,
    host: tokio::task::JoinHandle<anyhow::Result<()>>,
    _rpc: jsonrpsee::server::ServerHandle,
}

impl Running {
    /// Waits until the host stops (an error) or `shutdown` resolves.
    pub async fn wait(self, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
        tokio::select! {
            r = self.host => r.context("consensus host panicked")?,
            _ = shutdown => {
                info!("shutting down");
                Ok(())
            }
        }
    }
}

/// [`network_keypair`], or under the test-only `own-peer-id` fault one derived with another salt.
fn node_keypair(key: &SecretKey, faults: &crate::faults::Faults) -> anyhow::Result<Keypair> {
    if !faults.own_peer_id {
        return network_keypair(key);
    }
    let seed = key.to_seed();
    let derived = Hash::digest(&[b"paychain/p2p/test-twin".as_slice(), seed.as_slice()].concat());
    Ok(Keypair::ed25519_from_bytes(derived.0)?)
}

/// Parses the peer ids of a config list named `what`.
fn parse_peer_ids(what: &str, ids: &[String]) -> anyhow::Result<Vec<libp2p::PeerId>> {
    ids.iter()
        .map(|p| {
            p.parse::<libp2p::PeerId>()
                .map_err(|e| anyhow::anyhow!("{what}: {p:?} is not a peer id: {e}"))
        })
        .collect()
}

/// Starts a node from its home directory: its state, then one service at a time (transaction gossip,
/// JSON-RPC, consensus, the enclave host), each spawned by its own function.
pub async fn start(home: &Home, config: Config) -> anyhow::Result<Running> {
    let genesis = load_genesis(&home.genesis())?;
    let key = crate::keys::load(&home.validator_key())?;

    // Test-only switches; refused unless explicitly enabled in a debug build.
    let faults = crate::faults::Faults::from_env()?;
    if faults.any() {
        tracing::warn!(%faults, "TEST-ONLY FAULT INJECTION IS ON: this node misbehaves on purpose");
    }
    let shared = open_shared(home, &config, &genesis, &faults)?;
    spawn_gossip(&shared, node_keypair(&key, &faults)?, &config)?;
    let (rpc_handle, rpc_addr) = rpc::start(shared.clone(), &config.rpc).await?;
    info!(%rpc_addr, "JSON-RPC listening");
    let host = spawn_consensus(home, &config, &genesis, &key, shared.clone(), faults).await?;
    let platform_key = crate::enclave::load_platform_key(home, &config.enclave)?;
    crate::enclave::spawn_service(shared.clone(), key.clone(), platform_key);
    shared.syncing.store(false, Ordering::Relaxed);
    Ok(Running {
        shared,
        rpc_addr,
        host,
        _rpc: rpc_handle,
    })
}

/// Opens storage (writing the genesis state on first start), the mempool, metrics and the enclave's
/// state: what every service shares.
fn open_shared(
    home: &Home,
    config: &Config,
    genesis: &Genesis,
    faults: &crate::faults::Faults,
) -> anyhow::Result<Arc<Shared>> {
    let chain_id = genesis.chain_id.clone();
    let mut storage = Storage::open(&home.data())
        .with_context(|| format!("cannot open database {}", home.data().display()))?;
    if let Some(h) = faults.fail_commit_at {
        storage.fail_commit_at(h);
    }
    // Lookups are answered, and `paychain_provenState` proves keys, from the state the last
    // block's header certifies.
    storage.keep_previous_state();
    let tip = match storage.tip()? {
        Some(tip) => tip,
        None => {
            let writes = genesis_state(genesis)
                .map_err(|e| anyhow::anyhow!("building genesis state: {e}"))?;
            storage.write_genesis(&writes, genesis.genesis_time_ms)?
        }
    };
    let stale = storage.prune_pending(tip.height)?;
    info!(height = tip.height, app_hash = %tip.app_hash, chain_id = %chain_id.0, stale_proposals = stale, "storage opened");

    let registry = SharedRegistry::global().with_moniker(config.moniker.clone());
    let metrics = Metrics::register(&registry);
    metrics.set_height(tip.height);
    let enclave = match &genesis.enclave {
        Some(_) => Some(crate::enclave::open(
            home,
            &crate::enclave::Device::of(home, &config.enclave),
            &config.enclave,
            &storage,
        )?),
        None => None,
    };
    Ok(Arc::new(Shared::new(
        chain_id.clone(),
        config.moniker.clone(),
        genesis.clone(),
        storage,
        Mempool::with_policy(
            config.mempool.clone(),
            chain_id,
            crate::enclave::record_policy(
                genesis.enclave.is_some(),
                genesis
                    .enclave
                    .as_ref()
                    .is_some_and(|e| e.exec_public.is_some()),
            ),
        ),
        metrics,
        tip,
        enclave,
        {
            let mut host = crate::enclave_host::Host::new(&config.enclave);
            host.forge_roles = faults.forge_roles;
            host
        },
    )))
}

/// Spawns transaction gossip: batches from peers go through the same mempool admission as RPC's.
fn spawn_gossip(shared: &Arc<Shared>, keypair: Keypair, config: &Config) -> anyhow::Result<()> {
    let on_tx = {
        let shared = shared.clone();
        move |batch: Vec<Vec<u8>>| {
            let bad_signature = paychain_contracts::tx::TxError::BadSignature.to_string();
            shared
                .mempool
                .admit_many(&batch, |pk| shared.sender_nonce(pk))
                .into_iter()
                .map(|r| match r {
                    Err(
                        crate::mempool::Error::Decode(_) | crate::mempool::Error::TooLarge { .. },
                    ) => gossip::Verdict {
                        undecodable: 1,
                        ..Default::default()
                    },
                    Err(crate::mempool::Error::Invalid(why)) if why == bad_signature => {
                        gossip::Verdict {
                            bad_signatures: 1,
                            ..Default::default()
                        }
                    }
                    Err(
                        crate::mempool::Error::UnknownSender(_)
                        | crate::mempool::Error::SlowedDown { .. },
                    ) => gossip::Verdict {
                        unknown_senders: 1,
                        ..Default::default()
                    },
                    _ => gossip::Verdict::default(),
                })
                .collect()
        }
    };
    let on_event = {
        let shared = shared.clone();
        move |event| shared.metrics.gossip_event(event)
    };
    let allowed = parse_peer_ids("[gossip] allowed_peers", &config.gossip.allowed_peers)?;
    if allowed.is_empty() {
        tracing::warn!(
            "tx gossip accepts connections from any peer: list the consortium's nodes in [gossip] allowed_peers (paychain-node peer-id prints a node's)"
        );
    } else {
        info!(
            peers = allowed.len(),
            "tx gossip only from [gossip] allowed_peers"
        );
    }
    let handle = gossip::spawn(
        keypair,
        config.gossip.listen.clone(),
        config.gossip.peers.clone(),
        allowed,
        gossip::Bounds {
            max_per_source: config.gossip.max_connections_per_source,
            handshake_timeout: std::time::Duration::from_millis(config.gossip.handshake_timeout_ms),
        },
        on_tx,
        on_event,
    )?;
    shared.set_gossip(handle);
    Ok(())
}

/// The genesis validators as Malachite's validator set.
fn validator_set(genesis: &Genesis) -> anyhow::Result<ValidatorSet> {
    Ok(ValidatorSet::new(
        genesis
            .validators
            .iter()
            .map(|v| {
                ConsPublicKey::from_bytes(v.public_key.0)
                    .map(|pk| Validator::new(pk, v.power))
                    .map_err(|e| anyhow::anyhow!("genesis validator {}: {e}", v.name))
            })
            .collect::<anyhow::Result<Vec<_>>>()?,
    ))
}

/// Malachite's configuration and our block pacing, from `[p2p]` and `[consensus]`.
fn engine_config(config: &Config) -> (EngineConfig, Pacing) {
    let c = &config.consensus;
    let mut consensus = ConsensusConfig::default();
    consensus.p2p.listen_addr = config.p2p.listen.clone();
    consensus.p2p.persistent_peers = config.p2p.persistent_peers.clone();
    consensus.p2p.discovery.enabled = false;
    // Validators dial each other directly (persistent peers, no discovery), so consensus messages go
    // straight to every peer once. GossipSub's epidemic mesh would relay them, and sign and verify
    // each copy with the libp2p key: 9 % of a 4-validator node's CPU under load, for messages our
    // own verifier checks anyway (signed votes, proposal streams signed by the proposer).
    consensus.p2p.protocol = malachitebft_app::config::PubSubProtocol::Broadcast;
    // Persistent peers are redialed on a 1 s tick once a dial's retries are used up; the default
    // Fibonacci retries (1, 2, 3, 5, 8 s) would leave up to 8 s between attempts after a network
    // outage. Two retries keep a lost peer redialed about every 2 s.
    consensus.p2p.discovery.dial_max_retries = 2;
    let value_sync = ValueSyncConfig {
        status_update_interval: Duration::from_millis(c.sync_status_interval_ms),
        request_timeout: Duration::from_secs(5),
        ..Default::default()
    };
    let engine = EngineConfig {
        moniker: config.moniker.clone(),
        consensus,
        value_sync,
    };
    let timeouts = LinearTimeouts {
        propose: Duration::from_millis(c.propose_timeout_ms),
        propose_delta: Duration::from_millis(c.timeout_delta_ms),
        prevote: Duration::from_millis(c.prevote_timeout_ms),
        prevote_delta: Duration::from_millis(c.timeout_delta_ms),
        precommit: Duration::from_millis(c.precommit_timeout_ms),
        precommit_delta: Duration::from_millis(c.timeout_delta_ms),
        rebroadcast: Duration::from_millis(
            c.propose_timeout_ms + c.prevote_timeout_ms + c.precommit_timeout_ms,
        ),
        max_timeout: Duration::from_secs(30),
    };
    let pacing = Pacing {
        timeouts,
        block_time: (c.block_time_ms > 0).then(|| Duration::from_millis(c.block_time_ms)),
        max_block_txs: c.max_block_txs,
        empty_block_wait: Duration::from_millis(c.empty_block_wait_ms),
    };
    (engine, pacing)
}

/// The TCP address of a `/ip4|ip6/…/tcp/…` multiaddr.
fn socket_addr(addr: &libp2p::Multiaddr) -> anyhow::Result<std::net::SocketAddr> {
    use libp2p::multiaddr::Protocol;
    let mut ip = None;
    let mut port = None;
    for p in addr.iter() {
        match p {
            Protocol::Ip4(a) => ip = Some(std::net::IpAddr::V4(a)),
            Protocol::Ip6(a) => ip = Some(std::net::IpAddr::V6(a)),
            Protocol::Tcp(p) => port = Some(p),
            _ => {}
        }
    }
    match (ip, port) {
        (Some(ip), Some(port)) => Ok((ip, port).into()),
        _ => anyhow::bail!("[p2p] listen {addr} is not an IP and TCP port"),
    }
}

/// Builds the Malachite engine (network, WAL, consensus, value sync) and spawns our host actor over
/// its channels; the handle ends when the host stops.
async fn spawn_consensus(
    home: &Home,
    config: &Config,
    genesis: &Genesis,
    key: &SecretKey,
    shared: Arc<Shared>,
    faults: crate::faults::Faults,
) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<()>>> {
    let chain_id = genesis.chain_id.clone();
    let validators = validator_set(genesis)?;
    let keys = Arc::new(ConsensusKeys::from_seed(*key.to_seed(), chain_id.clone()));
    let address = Address(key.public_key().0);
    let is_validator = validators.validators().iter().any(|v| v.address == address);
    let keypair = node_keypair(key, &faults)?;
    let (mut engine_config, pacing) = engine_config(config);
    // Malachite 0.8's network has no hook to refuse a peer id (its `persistent_peers_only` does not
    // refuse inbound connections), so the consensus port is gated by source address
    // ([p2p] allowed_sources, `p2p_gate`): the swarm listens on a loopback port behind the gate.
    // Without a list a stranger still cannot vote or propose (signatures are checked against the
    // validator set), but it can hold a connection and receive blocks: the node warns.
    if config.p2p.allowed_sources.is_empty() {
        tracing::warn!(
            "the consensus port accepts connections from any address: list the consortium's hosts in [p2p] allowed_sources"
        );
    } else {
        let public = socket_addr(&config.p2p.listen)?;
        let internal = crate::p2p_gate::internal_address()?;
        let bounds = crate::p2p_gate::Bounds {
            allowed: crate::p2p_gate::parse_sources(&config.p2p.allowed_sources)?,
            max_connections: config.p2p.max_connections,
            max_per_source: config.p2p.max_connections_per_source,
        };
        let metrics = shared.metrics.clone();
        crate::p2p_gate::spawn(public, internal, bounds, move |why| {
            metrics.p2p_gate_refused(why)
        })
        .await?;
        let p2p = &mut engine_config.consensus.p2p;
        p2p.listen_addr = libp2p::Multiaddr::from(internal.ip())
            .with(libp2p::multiaddr::Protocol::Tcp(internal.port()));
        // Behind the gate every inbound connection comes from loopback: Malachite's own per-IP
        // bound and reconnect throttle would count all peers as one address, so the gate enforces
        // them per real source instead.
        p2p.discovery.max_connections_per_ip = config.p2p.max_connections;
        p2p.discovery.ip_throttle_duration = Duration::ZERO;
    }

    let identity = if is_validator {
        let peer_id = keypair.public().to_peer_id().to_bytes();
        let proof = keys
            .sign_validator_proof(key.public_key().0.to_vec(), peer_id)
            .await
            .map_err(|e| anyhow::anyhow!("signing validator proof: {e:?}"))?;
        let proof_bytes = malachitebft_app::types::codec::Codec::encode(&BorshCodec, &proof)?;
        NetworkIdentity::new_validator(
            config.moniker.clone(),
            keypair,
            address.to_string(),
            proof_bytes,
        )
    } else {
        NetworkIdentity::new(config.moniker.clone(), keypair, None)
    };
    let bindings = crate::consensus::signing::PeerBindings::new(
        validators.validators().iter().map(|v| v.address.0),
    );
    let verifier = Box::new(
        crate::consensus::signing::ConsensusVerifier::new(chain_id.clone())
            .with_bindings(bindings.clone()),
    );
    let consensus_ctx = if is_validator {
        ConsensusContext::new_validator(
            address,
            verifier,
            Box::new(ConsensusKeys::from_seed(*key.to_seed(), chain_id)),
        )
    } else {
        ConsensusContext::new_full_node(address, verifier)
    };
    std::fs::create_dir_all(home.wal().parent().unwrap_or(&home.0))?;
    let (mut channels, engine) = EngineBuilder::new(PaychainContext, engine_config)
        .with_default_wal(WalContext::new(home.wal(), BorshCodec))
        .with_default_network(NetworkContext::new(identity, BorshCodec))
        .with_default_consensus(consensus_ctx)
        .with_default_sync(SyncContext::new(BorshCodec))
        .with_default_request(RequestContext::new(100))
        .build()
        .await
        .map_err(|e| anyhow::anyhow!("starting consensus engine: {e}"))?;

    let host = Host::new(
        shared,
        is_validator.then_some(keys),
        address,
        validators,
        pacing,
    )
    .with_peer_bindings(bindings)
    .with_test_faults(faults);
    Ok(tokio::spawn(async move {
        // The engine's actors live as long as the host that drives them.
        let _engine = engine;
        host.run(&mut channels).await
    }))
}
