//! The paychain node: a Malachite BFT validator hosting paychain's native contracts.
//!
//! ```text
//!  RPC (rpc) ──submit──► mempool ◄──gossip (libp2p, our swarm)── other nodes
//!                          │ reap
//!                          ▼
//!  Malachite engine ◄──► host (consensus host: propose / validate / decide)
//!   (its own libp2p,        │ execute (paychain-contracts, pure)
//!    WAL, value sync)       ▼
//!                        storage (RocksDB: state + block + receipts + certificate, one batch)
//! ```
//!
//! - [`consensus`]: our Malachite `Context`, signing and codecs.
//! - [`host`]: answers the engine's messages.
//! - [`mempool`], [`gossip`], [`storage`], [`metrics`], [`config`], [`keys`].
//! - [`rpc`]: the JSON-RPC server, implementing the `paychain-api` traits (one file per area).
//! - [`enclave`]: the node's enclave files, registration/provisioning through the chain, lookups.
//! - [`sidecar`]: the enclave as its own process (`paychain-enclave`) and the node's client of it.
//! - [`source`]: the unit per-address bounds count (an IPv4 address, an IPv6 /64).
//! - [`faults`]: test-only fault injection, refused unless explicitly enabled in a debug build.
//! - [`node`]: wires everything from a home directory; [`testnet`]: key/genesis/config generation.

// Every dependency of the library is used by it (test builds also link dev-dependencies, so only
// non-test builds are checked).
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

// Used by the `paychain-node` binary (src/main.rs); cargo has no binary-only dependencies.
use clap as _;
use tracing_subscriber as _;
// Declared for its `borsh` feature: the engine's own messages go through our borsh codec.
use malachitebft_engine as _;

pub mod config;
pub mod consensus;
pub mod door;
pub mod enclave;
pub mod enclave_host;
pub mod errors;
pub mod faults;
pub mod gossip;
pub mod home;
pub mod host;
pub mod keys;
pub mod mempool;
pub mod metrics;
pub mod node;
pub mod p2p_gate;
pub mod rpc;
pub mod shared;
pub mod sidecar;
pub mod source;
pub mod storage;
pub mod testnet;
pub mod views;
