//! The enclave as its own process: `paychain-enclave` (the sidecar) owns the `Enclave`, the
//! device store and the sealed blob; the node talks to it over a Unix socket, so that the node
//! process never holds the device secret, a seal key or a consortium secret.
//!
//! - [`proto`]: the frames and the one enum of requests (bounded, fuzzed: `fuzz/sidecar_decode`).
//! - [`server`]: the sidecar (`paychain-enclave serve`).
//! - [`client`]: [`EnclaveClient`], the node's handle (`Shared::enclave`), started and supervised
//!   by the node.

pub mod client;
pub mod device;
pub mod proto;
pub mod server;

pub use client::{CallError, EnclaveClient, Launch};
pub use proto::{ErrorKind, Info, Policy};

#[cfg(test)]
mod tests;
