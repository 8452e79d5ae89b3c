//! Transaction certificates: everything needed to check, offline and with the validator set
//! alone, that a transaction was committed with a given receipt.
//!
//! ```text
//!  commit(H) ──signs──► header(H).hash ◄──prev_block_hash── header(H+1) ◄──signs── commit(H+1)
//!                        │ tx_root                              │ prev_result_root
//!                 tx_proof: tx.hash ∈ tx_root        receipt_proof: receipt.hash ∈ result root
//! ```
//!
//! The receipt of block H is committed by block H+1's header (execution happens after the
//! decision), so a certificate exists once H+1 is committed.

use serde::{Deserialize, Serialize};

use crate::block::Header;
use crate::commit::{Commit, CommitError};
use crate::executor::Receipt;
use crate::genesis::GenesisValidator;
use crate::merkle::Proof;
use crate::tx::SignedTx;

/// A transaction certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxCertificate {
    pub chain_id: crate::ids::ChainId,
    pub tx: SignedTx,
    pub receipt: Receipt,
    /// Header of the block that contains the transaction.
    pub header: Header,
    /// Inclusion of the tx hash under `header.tx_root`.
    pub tx_proof: Proof,
    /// Precommits for `header`.
    pub commit: Commit,
    /// Header of the next block, whose `prev_result_root` commits to the receipts.
    pub next_header: Header,
    /// Inclusion of the receipt hash under `next_header.prev_result_root`.
    pub receipt_proof: Proof,
    /// Precommits for `next_header`.
    pub next_commit: Commit,
}

/// Why a certificate does not verify. Each names the part that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    #[error("certificate is for chain {got}, the validator set is for {expected}")]
    WrongChain { expected: String, got: String },
    #[error("the transaction's signature is invalid")]
    BadTxSignature,
    #[error("the receipt is for tx {got}, not for the certified tx {expected}")]
    ReceiptForOtherTx {
        expected: crate::crypto::Hash,
        got: crate::crypto::Hash,
    },
    #[error("the receipt says height {receipt}, the block header says {header}")]
    HeightMismatch { receipt: u64, header: u64 },
    #[error("the tx inclusion proof does not lead to the header's tx root")]
    BadTxProof,
    #[error("the receipt proof does not lead to the next header's result root")]
    BadReceiptProof,
    #[error("the next header (height {next}) does not follow the block (height {height})")]
    NotNextBlock { height: u64, next: u64 },
    #[error("the block header was not committed: {0}")]
    BlockNotCommitted(CommitError),
    #[error("the next block header was not committed: {0}")]
    NextBlockNotCommitted(CommitError),
}

impl TxCertificate {
    /// Verifies every link against the validator set of the chain.
    pub fn verify(
        &self,
        chain_id: &crate::ids::ChainId,
        validators: &[GenesisValidator],
    ) -> Result<(), CertificateError> {
        if &self.chain_id != chain_id || &self.header.chain_id != chain_id {
            return Err(CertificateError::WrongChain {
                expected: chain_id.0.clone(),
                got: self.header.chain_id.0.clone(),
            });
        }
        self.tx
            .verify_signature()
            .map_err(|_| CertificateError::BadTxSignature)?;
        let tx_hash = self.tx.hash();
        if self.receipt.tx_hash != tx_hash {
            return Err(CertificateError::ReceiptForOtherTx {
                expected: tx_hash,
                got: self.receipt.tx_hash,
            });
        }
        if self.receipt.height != self.header.height {
            return Err(CertificateError::HeightMismatch {
                receipt: self.receipt.height,
                header: self.header.height,
            });
        }
        if self.tx_proof.index != u64::from(self.receipt.index)
            || !self.tx_proof.verify(&tx_hash, &self.header.tx_root)
        {
            return Err(CertificateError::BadTxProof);
        }
        let block_hash = self.header.hash();
        if self.next_header.height != self.header.height + 1
            || self.next_header.prev_block_hash != block_hash
            || self.next_header.chain_id != self.header.chain_id
        {
            return Err(CertificateError::NotNextBlock {
                height: self.header.height,
                next: self.next_header.height,
            });
        }
        if self.receipt_proof.index != u64::from(self.receipt.index)
            || !self
                .receipt_proof
                .verify(&self.receipt.hash(), &self.next_header.prev_result_root)
        {
            return Err(CertificateError::BadReceiptProof);
        }
        if self.commit.height != self.header.height {
            return Err(CertificateError::BlockNotCommitted(
                CommitError::WrongBlock {
                    expected: block_hash,
                    got: self.commit.block_hash,
                },
            ));
        }
        self.commit
            .verify(&block_hash, validators)
            .map_err(CertificateError::BlockNotCommitted)?;
        let next_hash = self.next_header.hash();
        if self.next_commit.height != self.next_header.height {
            return Err(CertificateError::NextBlockNotCommitted(
                CommitError::WrongBlock {
                    expected: next_hash,
                    got: self.next_commit.block_hash,
                },
            ));
        }
        self.next_commit
            .verify(&next_hash, validators)
            .map_err(CertificateError::NextBlockNotCommitted)?;
        Ok(())
    }
}
