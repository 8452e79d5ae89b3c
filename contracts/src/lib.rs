//! paychain's deterministic state machine: the data model, its codec and the native contracts.
//!
//! No I/O, no clocks, no randomness, no floats, no hash-map iteration: every validator computes the same
//! bytes from the same inputs. The node and the client depend on this crate; it depends on neither.
//!
//! # Modules
//!
//! Folders show the layers. Bottom up, each imports only from the ones before it: `primitives/`;
//! the lower half of `chain/` (state, index, the call kernel, validators, commit); `enclave/`; the
//! contracts; the upper half of `chain/` (tx, block, executor, genesis, certificate), which names every
//! contract; `api`. The one import circle is between contracts that call each other (governance,
//! registry, wallet); `tests/it/layout.rs` fails on any other.
//!
//! `primitives/`: values with no knowledge of state, transactions or contracts.
//! - [`crypto`]: SHA-256 [`crypto::Hash`], ed25519 keys and signatures (ZIP-215, one rule everywhere).
//! - [`codec`]: the canonical borsh encoding with size limits ([`codec::MAX_TX_BYTES`],
//!   [`codec::MAX_BLOCK_BYTES`]).
//! - [`ids`]: chain, platform and merchant identifiers.
//! - [`money`]: ISO 4217 currencies and validated `rust_decimal` amounts (canonical string encoding).
//! - [`merkle`]: the binary Merkle tree behind tx roots, result roots and the app hash.
//! - [`calendar`]: the UTC calendar of block times.
//!
//! `chain/`: state, transactions, blocks and their execution.
//! - [`state`]: the bucketed authenticated key-value state, overlays, write sets, proofs.
//! - [`index`]: per-key lists of ids in state (newest first).
//! - `kernel` (crate-private): what a contract call sees and returns ([`executor::Event`],
//!   [`executor::Receipt`], the call's context and error); contracts import it, not the executor.
//! - [`tx`]: transactions, signing, stateless checks.
//! - [`block`]: headers (the block hash) and blocks.
//! - [`executor`]: `(state, block) → (writes, receipts)`, dispatching each call to its contract.
//! - [`genesis`]: the genesis document and the state it defines.
//! - [`commit`]: vote sign bytes and offline-verifiable commit certificates.
//! - [`certificate`]: offline-verifiable transaction certificates.
//!
//! The contracts, one folder each (`mod.rs`, and its unit tests in `tests.rs`):
//! - [`governance`]: members, roles, validators; proposals voted by > 2/3 of the governors.
//! - [`registry`]: merchants and per-platform acquiring records.
//! - [`wallet`]: wallet hosting, real-name attestation, wallets, card binding, top-up, pay, settle,
//!   refund, double-entry statements (`execute.rs` runs the calls, `views.rs` builds the RPC views).
//! - [`collection`]: split-bill collections: one code, shares exact to the minor unit, escrow until
//!   the last share completes the order, refunds on expiry.
//! - [`store`]: offline store orders against a user's online identity, confirmed by the user or
//!   paid by a standing authorisation up to a limit.
//! - [`guardian`]: guardian-delegated payment: a dependant pays merchants from a guardian's wallet,
//!   within limits the guardian sets.
//! - [`enclave_registry`]: allowed measurements, registered enclaves, provisioning (on chain).
//! - [`ca`]: the consortium CA: platforms' X.509 CA certificates (approved by governance) and the
//!   party certificates they issue, registered and revocable on chain, checked at block time.
//!
//! And:
//! - [`reads`]: signed, scoped reads of private state: who may read what (from committed state), and
//!   answers sealed to the requester.
//! - [`enclave`]: the simulated trusted enclave (attestation, provisioning, sealing, sealed records, lookups).
//! - [`grants`]: whom the enclave answers a lookup to, decided from committed state it verifies itself
//!   (a commit certificate and state proofs); above the contracts, whose state it decodes, and
//!   measured with `enclave/`.
//! - [`api`]: serde views for the JSON-RPC API (those a contract builds are defined in it and
//!   re-exported here).
//! - `testkit` (tests only): a chain in memory for the contracts' unit tests.
//!
//! # Flow
//!
//! ```text
//! bytes ─► SignedTx::from_bytes ─► tx::check_stateless (chain id, signature; node caches by tx hash)
//!       ─► mempool ─► proposal Block { header { prev_app_hash, prev_result_root, tx_root }, txs }
//!       ─► executor::validate_block (tx root, chain ids, contiguous nonces)            [before voting]
//!       ─► executor::execute_block(&committed_state, &block)                           [on decision]
//!            per tx: nonce check → nonce+1 → contract call in a child Overlay (kept only on success)
//!       ─► BlockOutcome { writes: WriteSet { puts, bucket_hashes, app_hash }, receipts, result_root }
//!       ─► node commits the WriteSet atomically; app_hash / result_root go in the next header
//! ```
//!
//! # Encoding
//!
//! What is signed, hashed and stored is [`codec::encode`]: borsh 1.x with strict decoding (ids,
//! currencies and decimals as validated strings, enum variants indexed in declaration order). A
//! transaction's signing bytes are `sha256("paychain/tx/v1" ‖ encode(tx))` ([`tx::signing_bytes`]), its
//! hash `sha256(encode(signed_tx))`. `docs/encoding.md` specifies the bytes for implementations in other
//! languages; `docs/vectors/` holds test vectors that `tests/it/vectors.rs` keeps current.
//!
//! Genesis: [`genesis::genesis_state`] yields the first [`state::WriteSet`]; its app hash is the
//! `prev_app_hash` of height 1.

// Every dependency of the library is used by it (test builds also link dev-dependencies, so only
// non-test builds are checked).
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod chain;
mod primitives;

// The layers are folders (`primitives/`, `chain/`); their modules keep the crate-root paths the node,
// the client, the API crate and the fuzz targets use (`paychain_contracts::tx`, `::ids`, ...).
pub use chain::{admission, block, certificate, commit, executor, genesis, index, state, tx};
pub use primitives::{calendar, codec, crypto, ids, merkle, money};

pub mod api;
pub mod ca;
pub mod collection;
pub mod confidential;
pub mod enclave;
pub mod enclave_registry;
pub mod governance;
pub mod grants;
pub mod guardian;
pub mod private;
pub mod reads;
pub mod registry;
pub mod store;
#[cfg(test)]
mod testkit;
pub mod wallet;
