//! paychain's client SDK; the `paychain` command-line tool (`src/bin/paychain/`) is a thin layer
//! over it, and the load generator (`bench/load`) uses it too.
//!
//! Every flow lives here, one function per step a payer, a platform or a guardian takes (e.g.
//! [`wallet::bind_card`], [`pay::pay_scanned`], [`collect::pay_share`]). What can be checked
//! offline is checked when the inputs are made (e.g. [`registry::NewMerchant::new`],
//! [`pay::scan_at`], [`collect::NewCollection::new`]), with the contract's rules and messages, before
//! any key or node is needed; then the flow asks the node what it needs and sends the transaction
//! through the one send helper, [`tx::send`], which returns a [`tx::Sent`] (hash, and what came of
//! it). A caller only gathers inputs and shows results.
//!
//! # Modules
//!
//! - [`ca`]: the consortium CA: a platform's CA key and certificate, party certificates (PEM),
//!   the approval proposal, the party's consent, registration, revocation and the CA queries.
//! - [`collect`]: split-bill collections: the collection query, the collection code (id in 62-50),
//!   the share a payer pays; create, pay a share, expire.
//! - [`emvco`]: EMVCo merchant-presented payment codes: decode any scheme's (bounded, never panics),
//!   encode paychain's (template 26, GUID `COM.PAYCHAIN`), and say when a code has no paychain merchant.
//! - [`enclave`]: records sealed to the consortium enclave key before a put; lookups answered by a
//!   node's enclave, trusted only once its registered quote verifies, then verified and opened.
//! - [`governance`]: proposal queries; a governor's proposal and vote.
//! - [`guardian`]: guardian-delegated payment: the terminal code, the biometric hash, the guardian
//!   queries, the request, approval, limits, biometric, revocation, notifications and statement.
//! - [`keystore`]: ed25519 key files (JSON, mode 0600, seeds zeroized), re-exported from `paychain-keystore`,
//!   which the node uses too.
//! - [`rpc`]: a typed JSON-RPC client for one node ([`rpc::Client`]), one error enum with one-line
//!   messages, and the WebSocket block feed.
//! - [`proven`]: state proven against the pinned genesis (commit certificate, state proofs),
//!   decoded by the contracts' own readers: what the client checks instead of a node's word.
//! - [`qr`]: QR images of those codes: PNG and terminal rendering, and reading codes from images.
//! - [`registry`]: merchants and their acquiring records: register, put (sealed), revoke.
//! - [`store`]: offline store, online identity: the user's identity code (`paychain-id:<key>`), the
//!   store order queries, the store's order, the user's confirmation and standing authorisation.
//! - [`tx`]: build, sign and submit a contract call ([`tx::TxBuilder`]), then wait for its receipt
//!   ([`tx::wait_committed`]); [`tx::send`] does both, [`tx::sign`] signs offline.
//! - [`wallet`]: wallet queries, the hosting platform's off-chain secrets (salted hashes, one-time
//!   codes of the simulated bank channel) and the wallet flows: verify a user, open a wallet, bind
//!   and confirm a card, top up on the owner's instruction, settle, refund.
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
//! rpc::Client::new(url) ───────────────────────┼─► tx::send(call, Wait) ──► Sent { tx_hash, committed }
//!                                              │     = TxBuilder::submit (chain id: paychain_status,
//!                                              │       nonce: paychain_account) ──► paychain_submitTx
//!                                              └───► + tx::wait_committed(tx_hash, timeout) ──► Receipt
//! rpc::Client::{status, tx, block, account, merchant, record}  ──► paychain_contracts::api views
//! ```

// Every dependency of the library is used by it (test builds also link dev-dependencies, so only
// non-test builds are checked).
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

// Used by the `paychain` binary; cargo has no binary-only dependencies.
use clap as _;

pub mod acquiring;
pub mod ca;
pub mod collect;
pub mod emvco;
pub mod enclave;
pub mod governance;
pub mod guardian;
pub mod identity_code;
pub use paychain_keystore as keystore;
pub mod pay;
pub mod proven;
pub mod qr;
pub mod registry;
pub mod rpc;
pub mod store;
pub mod tx;
pub mod wallet;

pub use paychain_contracts as contracts;
