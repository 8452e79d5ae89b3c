//! Block execution: the pure function `(state, block) → (writes, receipts)`.
//!
//! For each transaction in order: the sender must be known to the chain
//! ([`crate::chain::admission::known_sender`]: a member, validator, verified user or merchant;
//! otherwise a [`ContractError::UnknownSender`] receipt and no write at all, not even a nonce); the nonce must equal the sender's state nonce (otherwise the
//! transaction is skipped with a [`ContractError::BadNonce`] receipt and changes nothing); the nonce is
//! incremented; the call runs in a child [`Overlay`] whose writes are kept only if it succeeds. A failed
//! call yields a receipt with its error code and changes nothing but the nonce, with one deliberate
//! exception: a refusal that must leave a trace (a wrong one-time code counts a card-binding attempt)
//! keeps the call's writes while its receipt carries the error. Only storage faults abort execution
//! ([`ExecError`]).
//!
//! A call sees its block's height and BFT time (`Header.time_ms`), its transaction's hash and nonce
//! through [`Context`]; never a clock.
//!
//! Signatures are **not** checked here: the node verifies each transaction once
//! ([`crate::chain::tx::check_stateless`], cached by tx hash) before it enters the mempool or a validated
//! proposal, so execution never pays for it twice.

use std::collections::BTreeMap;

use crate::chain::block::{Block, Header};
use crate::chain::kernel::{CallError, Context, Refusal};
use crate::chain::state::{Overlay, StateError, StateReader, WriteSet};
use crate::chain::tx::{Call, SignedTx};
use crate::primitives::codec::{self, MAX_BLOCK_BYTES};
use crate::primitives::crypto::{Hash, PublicKey};
use crate::primitives::ids::ChainId;
use crate::primitives::merkle;
use crate::{ca, collection, enclave_registry, governance, guardian, registry, store, wallet};

// Defined with the call kernel, which the contracts import instead of this module.
pub use crate::chain::kernel::{Event, Receipt};

const NONCE_PREFIX: &[u8] = b"acct/nonce/";

/// A refusal: a normal outcome recorded in the receipt, never a node fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// The transaction's nonce is not the sender's next nonce.
    #[error("bad nonce: expected {expected}, got {got}")]
    BadNonce {
        /// Sender's next nonce.
        expected: u64,
        /// The transaction's.
        got: u64,
    },
    /// The transaction is for another chain.
    #[error("wrong chain id: expected {expected}, got {got}")]
    WrongChainId {
        /// This chain.
        expected: ChainId,
        /// The transaction's.
        got: ChainId,
    },
    /// The sender's key is not known to this chain ([`crate::chain::admission::known_sender`]):
    /// refused before its nonce is read, so nothing is written.
    #[error("sender {sender} is not known to this chain: {hint}", hint = crate::chain::admission::UNKNOWN_SENDER_HINT)]
    UnknownSender {
        /// The transaction's sender.
        sender: PublicKey,
    },
    /// A governance refusal.
    #[error(transparent)]
    Governance(#[from] governance::Error),
    /// A registry refusal.
    #[error(transparent)]
    Registry(#[from] registry::Error),
    /// A wallet (or money) refusal.
    #[error(transparent)]
    Wallet(#[from] wallet::Error),
    /// An enclave registry refusal.
    #[error(transparent)]
    Enclave(#[from] enclave_registry::Error),
    /// A split-bill collection refusal.
    #[error(transparent)]
    Collection(#[from] collection::Error),
    /// A store order refusal.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// A guardian-delegated payment refusal.
    #[error(transparent)]
    Guardian(#[from] guardian::Error),
    /// A consortium CA refusal.
    #[error(transparent)]
    Ca(#[from] ca::Error),
}

impl ContractError {
    /// Stable receipt code: 1..=99 execution, 100..=199 governance, 200..=299 registry,
    /// 300..=309 money, 310..=399 wallet, 400..=499 enclave registry, 500..=599 collection, 600..=699
    /// store, 700..=719 guardian, 720..=749 consortium CA. 0 is success.
    pub fn code(&self) -> u32 {
        match self {
            ContractError::BadNonce { .. } => 1,
            ContractError::WrongChainId { .. } => 2,
            ContractError::UnknownSender { .. } => 3,
            ContractError::Governance(e) => e.code(),
            ContractError::Registry(e) => e.code(),
            ContractError::Wallet(e) => e.code(),
            ContractError::Enclave(e) => e.code(),
            ContractError::Collection(e) => e.code(),
            ContractError::Store(e) => e.code(),
            ContractError::Guardian(e) => e.code(),
            ContractError::Ca(e) => e.code(),
        }
    }
}

impl Refusal for ContractError {
    fn code(&self) -> u32 {
        ContractError::code(self)
    }
}

/// A fault that stops execution of the whole block (the node must stop).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// Storage failed or returned corrupt data.
    #[error(transparent)]
    Storage(#[from] StateError),
}

/// Why a block's transactions are invalid (the proposal must be rejected).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// A transaction is for another chain.
    #[error("tx {index}: wrong chain id: expected {expected}, got {got}")]
    WrongChainId {
        /// Position in the block.
        index: usize,
        /// The header's chain.
        expected: ChainId,
        /// The transaction's.
        got: ChainId,
    },
    /// A sender's nonces are not contiguous from its state nonce.
    #[error("tx {index}: bad nonce for sender {sender}: expected {expected}, got {got}")]
    BadNonce {
        /// Position in the block.
        index: usize,
        /// Sender.
        sender: PublicKey,
        /// Expected nonce.
        expected: u64,
        /// The transaction's.
        got: u64,
    },
    /// `header.tx_root` does not match the transactions.
    #[error("tx root mismatch: header has {header}, transactions give {computed}")]
    TxRootMismatch {
        /// In the header.
        header: Hash,
        /// Computed.
        computed: Hash,
    },
    /// The encoded block exceeds [`MAX_BLOCK_BYTES`].
    #[error("block is {len} bytes, limit is {max}")]
    TooLarge {
        /// Encoded length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StateError),
}

/// What executing a block yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockOutcome {
    /// State changes and the new app hash.
    pub writes: WriteSet,
    /// One receipt per transaction, in order.
    pub receipts: Vec<Receipt>,
    /// [`merkle::root`] over the receipt hashes (the next header's `prev_result_root`).
    pub result_root: Hash,
}

fn nonce_key(pk: &PublicKey) -> Vec<u8> {
    [NONCE_PREFIX, &pk.0[..]].concat()
}

/// The next nonce expected from `account` (0 for a new account).
pub fn nonce(reader: &impl StateReader, account: &PublicKey) -> Result<u64, StateError> {
    match reader.get(&nonce_key(account))? {
        None => Ok(0),
        Some(bytes) => {
            let arr: [u8; 8] = bytes.as_slice().try_into().map_err(|_| {
                StateError(format!("corrupt nonce of {account}: {} bytes", bytes.len()))
            })?;
            Ok(u64::from_be_bytes(arr))
        }
    }
}

/// Checks that every transaction is for `header.chain_id` and that, per sender, nonces are contiguous
/// from the sender's state nonce. Signatures are the caller's job (verified once and cached).
pub fn validate_block_txs(
    reader: &impl StateReader,
    header: &Header,
    txs: &[SignedTx],
) -> Result<(), BlockError> {
    let mut next: BTreeMap<PublicKey, u64> = BTreeMap::new();
    for (index, stx) in txs.iter().enumerate() {
        let tx = &stx.tx;
        if tx.chain_id != header.chain_id {
            return Err(BlockError::WrongChainId {
                index,
                expected: header.chain_id.clone(),
                got: tx.chain_id.clone(),
            });
        }
        let expected = match next.get(&tx.sender) {
            Some(n) => *n,
            None => nonce(reader, &tx.sender)?,
        };
        if tx.nonce != expected {
            return Err(BlockError::BadNonce {
                index,
                sender: tx.sender,
                expected,
                got: tx.nonce,
            });
        }
        next.insert(tx.sender, expected.saturating_add(1));
    }
    Ok(())
}

/// [`validate_block_txs`] plus the tx root and the encoded size.
pub fn validate_block(reader: &impl StateReader, block: &Block) -> Result<(), BlockError> {
    let len = codec::encode(block).len();
    if len > MAX_BLOCK_BYTES {
        return Err(BlockError::TooLarge {
            len,
            max: MAX_BLOCK_BYTES,
        });
    }
    let computed = crate::chain::block::tx_root(&block.txs);
    if computed != block.header.tx_root {
        return Err(BlockError::TxRootMismatch {
            header: block.header.tx_root,
            computed,
        });
    }
    validate_block_txs(reader, &block.header, &block.txs)
}

fn dispatch<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ctx: &Context,
    call: &Call,
) -> Result<Vec<Event>, CallError> {
    match call {
        Call::Registry(c) => registry::execute(ov, ctx, c),
        Call::Governance(c) => governance::execute(ov, ctx, c),
        Call::Wallet(c) => wallet::execute(ov, ctx, c),
        Call::Enclave(c) => enclave_registry::execute(ov, ctx, &ctx.chain_id, c),
        Call::Collection(c) => collection::execute(ov, ctx, c),
        Call::Store(c) => store::execute(ov, ctx, c),
        Call::Guardian(c) => guardian::execute(ov, ctx, c),
        Call::Ca(c) => ca::execute(ov, ctx, c),
    }
}

/// Executes `block` over `reader` (the state after the parent block). Pure and deterministic.
pub fn execute_block(reader: &impl StateReader, block: &Block) -> Result<BlockOutcome, ExecError> {
    let height = block.header.height;
    let mut ov = Overlay::new(reader);
    let mut receipts = Vec::with_capacity(block.txs.len());
    for (i, stx) in block.txs.iter().enumerate() {
        let index = u32::try_from(i).unwrap_or(u32::MAX);
        let tx_hash = stx.hash();
        let outcome = execute_tx(&mut ov, &block.header, stx, tx_hash)?;
        let (code, error, events) = match outcome {
            Ok(events) => (0, None, events),
            Err(e) => (e.code(), Some(e.to_string()), Vec::new()),
        };
        receipts.push(Receipt {
            tx_hash,
            height,
            index,
            code,
            error,
            events,
        });
    }
    let writes = ov.finish()?;
    let hashes: Vec<Hash> = receipts.iter().map(Receipt::hash).collect();
    Ok(BlockOutcome {
        writes,
        receipts,
        result_root: merkle::root(&hashes),
    })
}

fn execute_tx<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    header: &Header,
    stx: &SignedTx,
    tx_hash: Hash,
) -> Result<Result<Vec<Event>, Box<dyn Refusal>>, ExecError> {
    let tx = &stx.tx;
    if tx.chain_id != header.chain_id {
        return Ok(Err(Box::new(ContractError::WrongChainId {
            expected: header.chain_id.clone(),
            got: tx.chain_id.clone(),
        })));
    }
    // Before the nonce: an unknown key leaves no trace in state, not even a nonce entry.
    if crate::chain::admission::known_sender(ov, &tx.sender)?.is_none() {
        return Ok(Err(Box::new(ContractError::UnknownSender {
            sender: tx.sender,
        })));
    }
    let expected = nonce(ov, &tx.sender)?;
    if tx.nonce != expected {
        return Ok(Err(Box::new(ContractError::BadNonce {
            expected,
            got: tx.nonce,
        })));
    }
    ov.put(
        nonce_key(&tx.sender),
        expected.saturating_add(1).to_be_bytes().to_vec(),
    );
    let ctx = Context {
        height: header.height,
        time_ms: header.time_ms,
        sender: tx.sender,
        nonce: tx.nonce,
        tx_hash,
        chain_id: header.chain_id.clone(),
    };
    let mut child = Overlay::new(&*ov);
    match dispatch(&mut child, &ctx, &tx.call) {
        Ok(events) => {
            let puts = child.into_puts();
            ov.extend(puts);
            Ok(Ok(events))
        }
        Err(CallError::Refused(e)) => Ok(Err(e)),
        Err(CallError::RefusedKeep(e)) => {
            let puts = child.into_puts();
            ov.extend(puts);
            Ok(Err(e))
        }
        Err(CallError::Storage(e)) => Err(ExecError::Storage(e)),
    }
}
