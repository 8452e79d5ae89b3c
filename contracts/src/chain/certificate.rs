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

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::chain::block::Header;
use crate::chain::commit::{Commit, CommitError};
use crate::chain::kernel::Receipt;
use crate::chain::tx::SignedTx;
use crate::chain::validators::GenesisValidator;
use crate::primitives::merkle::Proof;

/// A transaction certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct TxCertificate {
    pub chain_id: crate::primitives::ids::ChainId,
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
        expected: crate::primitives::crypto::Hash,
        got: crate::primitives::crypto::Hash,
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
        chain_id: &crate::primitives::ids::ChainId,
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
            .verify(chain_id, &block_hash, validators)
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
            .verify(chain_id, &next_hash, validators)
            .map_err(CertificateError::NextBlockNotCommitted)?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::chain::commit::{vote_sign_bytes, CommitSignature, PRECOMMIT};
    use crate::chain::tx::Call;
    use crate::governance::{self, Role};
    use crate::primitives::crypto::Hash;
    use crate::primitives::merkle;
    use crate::testkit::{key, member, pk, Chain, CHAIN};

    fn commit_for(header: &Header) -> Commit {
        let hash = header.hash();
        Commit {
            height: header.height,
            round: 0,
            block_hash: hash,
            signatures: vec![CommitSignature {
                validator: pk(250),
                signature: key(250).sign(&vote_sign_bytes(
                    &crate::primitives::ids::ChainId::new(CHAIN),
                    PRECOMMIT,
                    header.height,
                    0,
                    Some(&hash),
                    &pk(250),
                )),
            }],
        }
    }

    fn validators() -> Vec<GenesisValidator> {
        vec![GenesisValidator {
            name: "v0".into(),
            public_key: pk(250),
            power: 1,
        }]
    }

    /// A real two-block chain and the certificate of its second transaction.
    fn certificate() -> TxCertificate {
        let mut chain = Chain::new(vec![
            member(1, "platform-a", &[Role::Platform]),
            member(2, "platform-b", &[Role::Platform]),
        ]);
        let rename =
            |n: &str| Call::Governance(governance::Call::UpdateMemberName { name: n.into() });
        let txs = vec![chain.tx(1, rename("Alpha")), chain.tx(2, rename("Beta"))];
        let block = chain.block(txs.clone());
        let receipts = chain.run_block(txs.clone());
        let next = chain.block(Vec::new());
        chain.run_block(Vec::new());
        let index = 1;
        let tx_hashes: Vec<Hash> = txs.iter().map(|t| t.hash()).collect();
        let receipt_hashes: Vec<Hash> = receipts.iter().map(|r| r.hash()).collect();
        TxCertificate {
            chain_id: crate::primitives::ids::ChainId::new(CHAIN),
            tx: txs[index].clone(),
            receipt: receipts[index].clone(),
            tx_proof: merkle::proof(&tx_hashes, index).unwrap(),
            commit: commit_for(&block.header),
            header: block.header,
            receipt_proof: merkle::proof(&receipt_hashes, index).unwrap(),
            next_commit: commit_for(&next.header),
            next_header: next.header,
        }
    }

    fn verify(c: &TxCertificate) -> Result<(), CertificateError> {
        c.verify(&crate::primitives::ids::ChainId::new(CHAIN), &validators())
    }

    #[test]
    fn a_real_certificate_verifies_and_survives_json() {
        let c = certificate();
        assert!(c.receipt.is_ok(), "{:?}", c.receipt);
        verify(&c).unwrap();
        let json = serde_json::to_string(&c).unwrap();
        let back: TxCertificate = serde_json::from_str(&json).unwrap();
        verify(&back).unwrap();
    }

    #[test]
    fn each_tampered_field_is_detected_with_a_precise_reason() {
        let base = certificate();
        type Tamper = fn(&mut TxCertificate);
        type Expect = fn(&CertificateError) -> bool;
        let cases: Vec<(&str, Tamper, Expect)> = vec![
            (
                "tx call (amount/payee)",
                |c| c.tx.tx.nonce += 1,
                |e| matches!(e, CertificateError::BadTxSignature),
            ),
            (
                "tx signature",
                |c| c.tx.signature.0[5] ^= 1,
                |e| matches!(e, CertificateError::BadTxSignature),
            ),
            (
                "receipt outcome",
                |c| c.receipt.code = 7,
                |e| matches!(e, CertificateError::BadReceiptProof),
            ),
            (
                "receipt tx hash",
                |c| c.receipt.tx_hash = Hash::digest(b"x"),
                |e| matches!(e, CertificateError::ReceiptForOtherTx { .. }),
            ),
            (
                "tx proof",
                |c| c.tx_proof.siblings[0] = Hash::digest(b"x"),
                |e| matches!(e, CertificateError::BadTxProof),
            ),
            (
                "receipt proof",
                |c| c.receipt_proof.siblings[0] = Hash::digest(b"x"),
                |e| matches!(e, CertificateError::BadReceiptProof),
            ),
            (
                "block header",
                |c| c.header.time_ms += 1,
                |e| matches!(e, CertificateError::NotNextBlock { .. }),
            ),
            (
                "next header",
                |c| c.next_header.time_ms += 1,
                |e| matches!(e, CertificateError::NextBlockNotCommitted(_)),
            ),
            (
                "commit signature",
                |c| c.commit.signatures[0].signature.0[0] ^= 1,
                |e| {
                    matches!(
                        e,
                        CertificateError::BlockNotCommitted(CommitError::BadSignature(_))
                    )
                },
            ),
            (
                "next commit signature",
                |c| c.next_commit.signatures[0].signature.0[0] ^= 1,
                |e| {
                    matches!(
                        e,
                        CertificateError::NextBlockNotCommitted(CommitError::BadSignature(_))
                    )
                },
            ),
            (
                "chain id",
                |c| c.chain_id = crate::primitives::ids::ChainId::new("other-chain"),
                |e| matches!(e, CertificateError::WrongChain { .. }),
            ),
        ];
        for (what, tamper, expected) in cases {
            let mut c = base.clone();
            tamper(&mut c);
            let err = verify(&c).expect_err(what);
            assert!(expected(&err), "{what}: unexpected error {err}");
            assert!(!err.to_string().is_empty());
        }
    }

    #[test]
    fn fewer_than_two_thirds_of_signers_is_refused() {
        let c = certificate();
        let mut four = validators();
        for n in 251..=253u8 {
            four.push(GenesisValidator {
                name: format!("v{n}"),
                public_key: pk(n),
                power: 1,
            });
        }
        let err = c
            .verify(&crate::primitives::ids::ChainId::new(CHAIN), &four)
            .unwrap_err();
        assert_eq!(
            err,
            CertificateError::BlockNotCommitted(CommitError::InsufficientPower {
                signed: 1,
                total: 4
            })
        );
    }
}

/// What an enclave discloses, with a certificate, to a party entitled to the transaction on a chain
/// with private state: the call in the clear, the key of its sealed call (it opens that one call and
/// nothing else), and the receipt's message and events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Disclosure {
    /// The key of the sealed call ([`crate::private::open_disclosed_call`]); absent when the
    /// call was not sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_key: Option<crate::primitives::crypto::Hash>,
    /// The call.
    pub call: crate::chain::tx::Call,
    /// The receipt's message and events.
    pub receipt: crate::private::ReceiptDetails,
}

/// A certificate as `paychain_certificate` answers it: on a chain with private state, with the
/// [`Disclosure`] of its sealed call to the requester.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateView {
    /// The certificate.
    #[serde(flatten)]
    pub certificate: TxCertificate,
    /// The disclosure, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disclosure: Option<Disclosure>,
}

/// Why a disclosure does not match its certificate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisclosureError {
    #[error("the disclosed key does not open the certificate's sealed call: {0}")]
    DoesNotOpen(String),
    #[error("the disclosed call is not the call the certificate's transaction carries")]
    OtherCall,
    #[error("the certificate's call is not sealed and the disclosure names another call")]
    NotSealed,
}

impl CertificateView {
    /// Checks that the disclosure is what the certificate's transaction committed: its key opens the
    /// sealed call (the one key the sender committed to) to exactly the disclosed call. Returns that
    /// call. Verify the certificate itself ([`TxCertificate::verify`]) too.
    pub fn check_disclosure(&self) -> Result<Option<&crate::chain::tx::Call>, DisclosureError> {
        let Some(d) = &self.disclosure else {
            return Ok(None);
        };
        let tx = &self.certificate.tx.tx;
        match (&tx.call, &d.call_key) {
            (crate::chain::tx::Call::Sealed(sealed), Some(key)) => {
                let opened = crate::private::open_disclosed_call(
                    &tx.chain_id,
                    &tx.sender,
                    tx.nonce,
                    sealed,
                    &key.0,
                )
                .map_err(|e| DisclosureError::DoesNotOpen(e.to_string()))?;
                if opened != d.call {
                    return Err(DisclosureError::OtherCall);
                }
            }
            (call, None) if *call == d.call => {}
            _ => return Err(DisclosureError::NotSealed),
        }
        Ok(Some(&d.call))
    }
}
