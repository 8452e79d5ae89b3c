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
use crate::chain::state::{Overlay, Puts, StateError, StateReader, WriteSet};
use crate::chain::tx::may_be_sealed;
use crate::chain::tx::{Call, SignedTx};
use crate::primitives::codec::{self, MAX_BLOCK_BYTES};
use crate::primitives::crypto::{Hash, PublicKey};
use crate::primitives::ids::ChainId;
use crate::primitives::merkle;
use crate::private::{PrivateView, ReceiptDetails, Vault};
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
    /// A sealed call that does not open for its transaction, or a sealed call on a chain without
    /// private state.
    #[error("sealed call refused: {0}")]
    Sealed(String),
    /// A wallet, collection, store or guardian call sent in the clear on a chain with private state.
    #[error("this chain keeps payment details private: wallet, collection, store and guardian calls must be sealed to the enclaves' exec key")]
    MustBeSealed,
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
            ContractError::Sealed(_) => 4,
            ContractError::MustBeSealed => 5,
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
    /// The chain keeps private state and this executor holds no vault: only an enclave executes
    /// its blocks.
    #[error(
        "this chain keeps private state: only an enclave holding the state key executes its blocks"
    )]
    NeedsVault,
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
        // Opened before dispatch (`execute_tx`); a sealed call never reaches here sealed.
        Call::Sealed(_) => Err(CallError::Refused(Box::new(ContractError::Sealed(
            "a sealed call inside a sealed call".into(),
        )))),
    }
}

/// Executes `block` over `reader` (the state after the parent block) on a chain without private
/// state. Pure and deterministic. On a chain with private state it refuses
/// ([`ExecError::NeedsVault`]): see [`execute_block_with`].
pub fn execute_block(reader: &impl StateReader, block: &Block) -> Result<BlockOutcome, ExecError> {
    execute_block_with(reader, block, None)
}

/// Executes `block` over `reader`, the physical state after the parent block. On a chain with private
/// state ([`private_exec_public`]) only a holder of the [`Vault`] (an enclave) can: contracts then
/// run over the logical view ([`PrivateView`]), sealed calls are opened, sealed calls' receipts
/// carry their message and events sealed, and the writes are blinded and sealed before the app
/// hash is computed over them. Pure and deterministic either way.
pub fn execute_block_with(
    reader: &impl StateReader,
    block: &Block,
    vault: Option<&Vault>,
) -> Result<BlockOutcome, ExecError> {
    let private = private_exec_public(reader)?.is_some();
    match (private, vault) {
        (false, _) => run_block(reader, block, None),
        (true, None) => Err(ExecError::NeedsVault),
        (true, Some(vault)) => {
            let (puts, receipts) = run_private(reader, block, vault)?;
            finish_private(reader, puts, receipts)
        }
    }
}

/// The enclave's half of executing a block of a chain with private state: runs the transactions
/// over the logical view of `reader` and returns the physical writes (blinded, sealed) and the
/// receipts (sealed calls' details sealed). Reads only point values of `reader`: an enclave can run
/// it over the values its host supplies ([`finish_private`] is the host's half).
pub fn run_private(
    reader: &impl StateReader,
    block: &Block,
    vault: &Vault,
) -> Result<(Puts, Vec<Receipt>), ExecError> {
    let view = PrivateView::new(reader, vault);
    let (logical, receipts) = run_txs(&view, block, Some(vault))?;
    let physical = vault
        .seal_puts(logical)
        .map_err(|e| ExecError::Storage(e.into()))?;
    Ok((physical, receipts))
}

/// The host's half: the [`BlockOutcome`] of the physical writes and receipts an enclave returned
/// ([`run_private`]), over the host's own storage (bucket hashes, app hash, result root).
pub fn finish_private(
    reader: &impl StateReader,
    puts: Puts,
    receipts: Vec<Receipt>,
) -> Result<BlockOutcome, ExecError> {
    let mut ov = Overlay::new(reader);
    ov.extend(puts);
    finish_block(ov, receipts)
}

fn run_block(
    reader: &impl StateReader,
    block: &Block,
    vault: Option<&Vault>,
) -> Result<BlockOutcome, ExecError> {
    let (puts, receipts) = run_txs(reader, block, vault)?;
    let mut ov = Overlay::new(reader);
    ov.extend(puts);
    finish_block(ov, receipts)
}

fn finish_block<R: StateReader>(
    ov: Overlay<'_, R>,
    receipts: Vec<Receipt>,
) -> Result<BlockOutcome, ExecError> {
    let writes = ov.finish()?;
    let hashes: Vec<Hash> = receipts.iter().map(Receipt::hash).collect();
    Ok(BlockOutcome {
        writes,
        receipts,
        result_root: merkle::root(&hashes),
    })
}

/// Runs the block's transactions; `vault` is `Some` exactly on a chain with private state.
fn run_txs(
    reader: &impl StateReader,
    block: &Block,
    vault: Option<&Vault>,
) -> Result<(Puts, Vec<Receipt>), ExecError> {
    let height = block.header.height;
    let mut ov = Overlay::new(reader);
    let mut receipts = Vec::with_capacity(block.txs.len());
    for (i, stx) in block.txs.iter().enumerate() {
        let index = u32::try_from(i).unwrap_or(u32::MAX);
        let tx_hash = stx.hash();
        let sealed = matches!(stx.tx.call, Call::Sealed(_));
        let outcome = execute_tx(&mut ov, &block.header, stx, tx_hash, vault)?;
        let (code, mut error, mut events) = match outcome {
            Ok(events) => (0, None, events),
            Err(e) => (e.code(), Some(e.to_string()), Vec::new()),
        };
        if let (true, Some(vault)) = (sealed, vault) {
            // The code stays public (whether the payment went through); what it says does not.
            let details = ReceiptDetails { error, events };
            let blob = vault
                .seal_receipt_details(&tx_hash, &details)
                .map_err(|e| ExecError::Storage(e.into()))?;
            error = (code != 0).then(|| SEALED_REFUSAL.to_string());
            events = vec![Event::new(SEALED_EVENT).with(SEALED_DETAILS, hex::encode(blob))];
        }
        receipts.push(Receipt {
            tx_hash,
            height,
            index,
            code,
            error,
            events,
        });
    }
    Ok((ov.into_puts(), receipts))
}

/// The kind of the one event of a sealed call's receipt.
pub const SEALED_EVENT: &str = "sealed";
/// Its attribute: hex of the sealed [`ReceiptDetails`].
pub const SEALED_DETAILS: &str = "details";
/// A refused sealed call's public message.
pub const SEALED_REFUSAL: &str = "refused (the reason is sealed to the transaction's readers)";

pub use crate::enclave_registry::{private_exec_public, PRIVATE_KEY};

fn execute_tx<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    header: &Header,
    stx: &SignedTx,
    tx_hash: Hash,
    vault: Option<&Vault>,
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
    // On a chain with private state (`vault` is `Some`), payment calls travel sealed only.
    let opened;
    let call = match (&tx.call, vault) {
        (Call::Sealed(sealed), Some(vault)) => {
            match vault.open_call(&tx.chain_id, &tx.sender, tx.nonce, sealed) {
                Ok(c) => {
                    opened = c;
                    &opened
                }
                Err(e) => return Ok(Err(Box::new(ContractError::Sealed(e.to_string())))),
            }
        }
        (Call::Sealed(_), None) => {
            return Ok(Err(Box::new(ContractError::Sealed(
                "this chain keeps no private state".into(),
            ))))
        }
        (c, Some(_)) if may_be_sealed(c) => return Ok(Err(Box::new(ContractError::MustBeSealed))),
        (c, _) => c,
    };
    let ctx = Context {
        height: header.height,
        time_ms: header.time_ms,
        sender: tx.sender,
        nonce: tx.nonce,
        tx_hash,
        chain_id: header.chain_id.clone(),
    };
    let mut child = Overlay::new(&*ov);
    match dispatch(&mut child, &ctx, call) {
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
