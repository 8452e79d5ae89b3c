//! What an enclave does for a chain with private state ([`crate::private`]), on top of the
//! contracts: execute a decided block over the values its host supplies, answer a read from state
//! proven to it, disclose a transaction's sealed call to a party entitled to it. The state key
//! derives from the enclave's epoch-0 secret here and never leaves this code.

use std::collections::BTreeSet;

use crate::chain::block::Block;
use crate::chain::certificate::{Disclosure, TxCertificate};
use crate::chain::commit::Commit;
use crate::chain::kernel::Receipt;
use crate::chain::state::Puts;
use crate::enclave::{Enclave, EnclaveError};
use crate::grants::StateEvidence;
use crate::primitives::crypto::{Hash, PublicKey};
use crate::private::{PrivateView, ReceiptDetails, Supplied, Vault};

fn vault(enclave: &Enclave) -> Result<Vault, EnclaveError> {
    let root = enclave.state_root().ok_or(EnclaveError::NotProvisioned)?;
    Vault::from_secret(&root, enclave.chain_id()).map_err(|_| EnclaveError::NotProvisioned)
}

/// The exec public key of the enclave's chain (what genesis publishes), once provisioned.
pub fn exec_public(enclave: &Enclave) -> Option<crate::enclave::KxPublicKey> {
    vault(enclave).ok().map(|v| v.exec_public())
}

/// Executes `block` of a chain with private state over the values `reader` supplies (the enclave's
/// half: [`crate::executor::run_private`]): the physical writes and the receipts.
///
/// Only a decided block: `commit` must hold precommits of more than 2/3 of the trusted validators
/// for it, and its transactions must be the ones its header commits to. A host that made up a
/// block (unsigned payments from someone else's wallet, say) to learn from the receipt codes
/// whether they would go through gets nothing.
pub fn execute(
    enclave: &Enclave,
    reader: &impl crate::chain::state::StateReader,
    block: &Block,
    commit: &Commit,
) -> Result<(Puts, Vec<Receipt>), EnclaveError> {
    if &block.header.chain_id != enclave.chain_id() {
        return Err(EnclaveError::Execution("a block of another chain".into()));
    }
    if crate::chain::block::tx_root(&block.txs) != block.header.tx_root {
        return Err(EnclaveError::Execution(
            "the transactions are not the ones the header commits to".into(),
        ));
    }
    if commit.height != block.header.height {
        return Err(EnclaveError::Execution(
            "the commit is for another height".into(),
        ));
    }
    commit
        .verify(
            enclave.chain_id(),
            &block.hash(),
            enclave.trusted_validators(),
        )
        .map_err(|e| EnclaveError::Execution(format!("the block is not decided: {e}")))?;
    let vault = vault(enclave)?;
    crate::executor::run_private(reader, block, &vault)
        .map_err(|e| EnclaveError::Execution(e.to_string()))
}

/// Runs `f` over the logical private state that `evidence` proves (a commit of the trusted
/// validators and a proof of each value, checked here), at the certified height. Returns what `f`
/// returned and the physical keys `f` read that the evidence did not hold: the answer counts only
/// when there are none (the host then proves those too and asks again).
pub fn read<T>(
    enclave: &Enclave,
    evidence: &StateEvidence,
    f: impl FnOnce(&PrivateView<'_, Supplied<'_>>, u64) -> T,
) -> Result<(T, BTreeSet<Vec<u8>>), EnclaveError> {
    let vault = vault(enclave)?;
    read_with(enclave, &vault, evidence, f)
}

fn read_with<T>(
    enclave: &Enclave,
    vault: &Vault,
    evidence: &StateEvidence,
    f: impl FnOnce(&PrivateView<'_, Supplied<'_>>, u64) -> T,
) -> Result<(T, BTreeSet<Vec<u8>>), EnclaveError> {
    let (newest, newest_hash) = enclave.certified();
    let (height, block_hash, entries) = crate::grants::verify_certified_up_to(
        evidence,
        enclave.chain_id(),
        enclave.trusted_validators(),
        newest,
        |h| *h == newest_hash,
        crate::grants::MAX_READ_EVIDENCE_ENTRIES,
    )
    .map_err(|e| EnclaveError::Execution(format!("read evidence refused: {e}")))?;
    enclave.note_certified(height, block_hash);
    let supplied = Supplied::new(&entries);
    let out = f(&PrivateView::new(&supplied, vault), height);
    Ok((out, supplied.into_missing()))
}

/// The [`Disclosure`] of `certificate`'s transaction to `requester`, if the state `evidence` proves
/// entitles it (`reads::may_read_tx`, decided on the opened call): the opened call, the key of its
/// sealed call, the receipt's opened details. `Ok((None, _))`: not entitled. As [`read`], the
/// answer counts only when no key is missing.
pub fn disclose(
    enclave: &Enclave,
    evidence: &StateEvidence,
    requester: &PublicKey,
    certificate: &TxCertificate,
) -> Result<(Option<Disclosure>, BTreeSet<Vec<u8>>), EnclaveError> {
    let vault = vault(enclave)?;
    let tx = &certificate.tx.tx;
    let tx_hash = certificate.tx.hash();
    let (call, call_key) = match &tx.call {
        crate::chain::tx::Call::Sealed(sealed) => {
            let refused = |e: crate::private::PrivateError| {
                EnclaveError::Execution(format!("the certificate's call: {e}"))
            };
            let call = vault
                .open_call(&tx.chain_id, &tx.sender, tx.nonce, sealed)
                .map_err(refused)?;
            let key = vault
                .call_key(&tx.chain_id, &tx.sender, tx.nonce, sealed)
                .map_err(refused)?;
            (call, Some(Hash(*key)))
        }
        call => (call.clone(), None),
    };
    let mut opened = tx.clone();
    opened.call = call.clone();
    let (grant, missing) = read_with(enclave, &vault, evidence, |state, _| {
        crate::reads::may_read_tx(state, requester, &tx_hash, &opened)
    })?;
    let grant = grant.map_err(|e| EnclaveError::Execution(e.to_string()))?;
    if !missing.is_empty() || grant.is_none() {
        return Ok((None, missing));
    }
    let r = &certificate.receipt;
    let sealed_details = r
        .events
        .iter()
        .find(|e| e.kind == crate::executor::SEALED_EVENT)
        .and_then(|e| e.attribute(crate::executor::SEALED_DETAILS))
        .and_then(|h| hex::decode(h).ok());
    let receipt = match sealed_details {
        Some(blob) => vault
            .open_receipt_details(&tx_hash, &blob)
            .map_err(|e| EnclaveError::Execution(format!("the receipt's details: {e}")))?,
        None => ReceiptDetails {
            error: r.error.clone(),
            events: r.events.clone(),
        },
    };
    Ok((
        Some(Disclosure {
            call_key,
            call,
            receipt,
        }),
        missing,
    ))
}
