//! paychain's client SDK; the `paychain` command-line tool (`src/main.rs`) is a thin layer over it.
//!
//! # Modules
//!
//! - [`collect`]: split-bill collections: the collection query, the collection code (id in 62-50),
//!   the share a payer pays.
//! - [`emvco`]: EMVCo merchant-presented payment codes: decode any scheme's (bounded, never panics),
//!   encode paychain's (template 26, GUID `COM.PAYCHAIN`), and say when a code has no paychain merchant.
//! - [`enclave`]: records sealed to the consortium enclave key before a put; lookups answered by a
//!   node's enclave, trusted only once its registered quote verifies, then verified and opened.
//! - [`keystore`]: ed25519 key files (JSON, mode 0600, seeds zeroized), re-exported from `paychain-keystore`,
//!   which the node uses too.
//! - [`rpc`]: a typed JSON-RPC client for one node ([`rpc::Client`]), one error enum with one-line
//!   messages, and the WebSocket block feed.
//! - [`qr`]: QR images of those codes: PNG and terminal rendering, and reading codes from images.
//! - [`store`]: offline store, online identity: the user's identity code (`paychain-id:<key>`) and
//!   the store order query.
//! - [`tx`]: build, sign and submit a contract call ([`tx::TxBuilder`]), then wait for its receipt
//!   ([`tx::wait_committed`]).
//! - [`wallet`]: wallet and governance queries, the hosting platform's off-chain secrets (salted
//!   hashes, one-time codes of the simulated bank channel).
//! - [`pay`]: scan and pay: a merchant code to a quote (merchant, acquirer, wallet, amount), the
//!   payment, and its certificate.
//!
//! The data types (keys, ids, transactions, API views) are `paychain-contracts`' own; this crate adds
//! I/O around them, and the merchant-code codec and images the chain never sees.
//!
//! # Flow
//!
//! ```text
//! keystore::load(file) ──► KeyFile { secret } ─┐
//! rpc::Client::new(url) ───────────────────────┼─► tx::TxBuilder::submit(call) ──► Submitted { tx_hash }
//!                                              │     (chain id: paychain_status, nonce: paychain_account)
//!                                              └─► tx::wait_committed(tx_hash, timeout) ──► Receipt
//! rpc::Client::{status, tx, block, account, merchant, record}  ──► paychain_contracts::api views
//! ```

// Every dependency of the library is used by it (test builds also link dev-dependencies, so only
// non-test builds are checked).
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

// Used by the `paychain` and `paychain-load` binaries; cargo has no binary-only dependencies.
use clap as _;
use serde_json as _;

pub mod acquiring;
pub mod collect;
pub mod emvco;
pub mod enclave;
pub mod guardian;
pub mod identity_code;
pub use paychain_keystore as keystore;
pub mod pay;
pub mod qr;
pub mod rpc;
pub mod store;
pub mod tx;
pub mod wallet;

pub use paychain_contracts as contracts;
