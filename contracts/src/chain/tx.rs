//! Transactions: what a sender asks the chain to do, signed.
//!
//! A [`SignedTx`] is decoded from at most [`MAX_TX_BYTES`], checked statelessly
//! ([`check_stateless`]: chain id and signature) at mempool admission or proposal validation, and then
//! executed by [`crate::chain::executor`], which checks the nonce and runs the [`Call`].

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::primitives::codec::{self, MAX_TX_BYTES};
use crate::primitives::crypto::{self, sha256, Hash, PublicKey, SecretKey, Signature};
use crate::primitives::ids::ChainId;
use crate::{governance, registry, wallet};

/// Domain separator of the signed message.
pub const TX_SIGNING_DOMAIN: &[u8] = b"paychain/tx/v1";

/// Errors of this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// The transaction is for another chain.
    #[error("wrong chain id: expected {expected}, got {got}")]
    WrongChainId {
        /// This chain.
        expected: ChainId,
        /// The transaction's.
        got: ChainId,
    },
    /// The signature does not verify under the sender's key.
    #[error("bad signature")]
    BadSignature,
    /// The sender's key cannot be an identity (small order, or a non-canonical encoding).
    #[error("sender key refused: {0}")]
    WeakSender(crypto::Error),
    /// The encoded transaction exceeds [`MAX_TX_BYTES`].
    #[error("transaction is {len} bytes, limit is {max}")]
    TooLarge {
        /// Encoded length.
        len: usize,
        /// Limit.
        max: usize,
    },
    /// The bytes are not a transaction.
    #[error("malformed transaction: {0}")]
    Decode(#[from] codec::Error),
}

/// One call to a native contract.
///
/// Encoding: borsh, a `u8` variant index in declaration order (`Registry` = 0, `Governance` = 1,
/// `Wallet` = 2, `Enclave` = 3, `Collection` = 4, `Store` = 5, `Guardian` = 6, `Ca` = 7, `Sealed` = 8), then the inner call
/// (`docs/encoding.md`). The order is part of the signed format: new variants are appended at the
/// end, none is ever removed or reordered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// Merchant registry.
    Registry(registry::Call),
    /// Consortium governance.
    Governance(governance::Call),
    /// Wallets, payments, settlement, refunds.
    Wallet(wallet::Call),
    /// Enclave registration and provisioning.
    Enclave(crate::enclave_registry::Call),
    /// Split-bill collections.
    Collection(crate::collection::Call),
    /// Offline store orders paid by an online identity.
    Store(crate::store::Call),
    /// Guardian-delegated payment.
    Guardian(crate::guardian::Call),
    /// The consortium CA: party certificates and their revocation.
    Ca(crate::ca::Call),
    /// A wallet, collection, store or guardian call encrypted to the enclaves' exec key: on a chain
    /// with private state every such call travels sealed (`enclave::private`).
    Sealed(SealedCall),
}

/// The signed content of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Transaction {
    /// Chain the transaction is valid on.
    pub chain_id: ChainId,
    /// Account that signs and pays the nonce.
    pub sender: PublicKey,
    /// Sender's next nonce (0 for a new account).
    pub nonce: u64,
    /// What to do.
    pub call: Call,
}

impl Transaction {
    /// The message the sender signs; see [`signing_bytes`].
    pub fn signing_bytes(&self) -> Vec<u8> {
        signing_bytes(self)
    }
}

/// The message signed for `tx`: the 32 bytes of `sha256("paychain/tx/v1" ‖ codec::encode(tx))`.
pub fn signing_bytes(tx: &Transaction) -> Vec<u8> {
    sha256(&[TX_SIGNING_DOMAIN, &codec::encode(tx)]).0.to_vec()
}

/// A transaction with its sender's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct SignedTx {
    /// Content.
    pub tx: Transaction,
    /// Signature of [`signing_bytes`] by `tx.sender`.
    pub signature: Signature,
    /// [`SignedTx::hash`], computed at most once per value (not part of the encoding).
    #[serde(skip)]
    #[borsh(skip)]
    hash_cache: HashCache,
}

/// The memo of [`SignedTx::hash`]: the hash with the signature, sender and nonce it was computed
/// under, used only while those are unchanged. A clone starts empty, so a copy whose fields are
/// then edited (as tests do to forge transactions) never inherits the original's hash. Equality,
/// `Debug` and the encoding ignore it.
#[derive(Default)]
struct HashCache(std::sync::OnceLock<HashMemo>);

#[derive(Clone, Copy)]
struct HashMemo {
    signature: Signature,
    sender: PublicKey,
    nonce: u64,
    hash: Hash,
}

impl Clone for HashCache {
    fn clone(&self) -> Self {
        HashCache::default()
    }
}

impl PartialEq for HashCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for HashCache {}

impl std::fmt::Debug for HashCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("_")
    }
}

impl SignedTx {
    /// A signed transaction from its parts (no check: see [`check_stateless`]).
    pub fn new(tx: Transaction, signature: Signature) -> SignedTx {
        SignedTx {
            tx,
            signature,
            hash_cache: HashCache::default(),
        }
    }

    /// Signs `tx` with `key`. The caller makes sure `tx.sender == key.public_key()`.
    pub fn sign(tx: Transaction, key: &SecretKey) -> SignedTx {
        let signature = key.sign(&signing_bytes(&tx));
        SignedTx::new(tx, signature)
    }

    /// Same as the free function [`signing_bytes`].
    pub fn signing_bytes(tx: &Transaction) -> Vec<u8> {
        signing_bytes(tx)
    }

    /// Checks the signature against `tx.sender` (ZIP-215 rules).
    pub fn verify_signature(&self) -> Result<(), TxError> {
        self.tx.sender.validate().map_err(TxError::WeakSender)?;
        self.tx
            .sender
            .verify(&signing_bytes(&self.tx), &self.signature)
            .map_err(|_: crypto::Error| TxError::BadSignature)
    }

    /// The transaction hash (its id): `sha256(codec::encode(self))`, signature included.
    ///
    /// Computed once per value and remembered (mempool, proposal, execution and storage all ask
    /// for it). Values are decoded or signed and then only read; should a value's signature,
    /// sender or nonce be changed in place after it was hashed, it is hashed afresh. (Editing
    /// only its call or chain id in place, without re-signing, after hashing it would keep the
    /// old hash: nothing does that outside deliberate forgeries in tests, which edit clones.)
    pub fn hash(&self) -> Hash {
        if let Some(m) = self.hash_cache.0.get() {
            if m.signature == self.signature
                && m.sender == self.tx.sender
                && m.nonce == self.tx.nonce
            {
                return m.hash;
            }
            return self.compute_hash();
        }
        let hash = self.compute_hash();
        let _ = self.hash_cache.0.set(HashMemo {
            signature: self.signature,
            sender: self.tx.sender,
            nonce: self.tx.nonce,
            hash,
        });
        hash
    }

    /// A copy that keeps the memo of [`SignedTx::hash`] (a plain `clone` starts without it, in
    /// case the copy is then edited): for copies that are only read, as a block's.
    pub fn clone_hashed(&self) -> SignedTx {
        let copy = self.clone();
        if let Some(m) = self.hash_cache.0.get() {
            let _ = copy.hash_cache.0.set(*m);
        }
        copy
    }

    fn compute_hash(&self) -> Hash {
        Hash::digest(&self.to_bytes())
    }

    /// The canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes at most [`MAX_TX_BYTES`] bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<SignedTx, codec::Error> {
        codec::decode(bytes, MAX_TX_BYTES)
    }
}

/// Checks what needs no state: the encoded size, the chain id and the signature.
pub fn check_stateless(tx: &SignedTx, chain_id: &ChainId) -> Result<(), TxError> {
    if tx.tx.chain_id != *chain_id {
        return Err(TxError::WrongChainId {
            expected: chain_id.clone(),
            got: tx.tx.chain_id.clone(),
        });
    }
    let len = codec::encode(tx).len();
    if len > MAX_TX_BYTES {
        return Err(TxError::TooLarge {
            len,
            max: MAX_TX_BYTES,
        });
    }
    tx.verify_signature()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::primitives::ids::MerchantId;

    fn sample(key: &SecretKey) -> SignedTx {
        SignedTx::sign(
            Transaction {
                chain_id: ChainId::new("test"),
                sender: key.public_key(),
                nonce: 3,
                call: Call::Registry(registry::Call::RevokeRecord {
                    merchant_id: MerchantId::derive(&PublicKey([1; 32])),
                }),
            },
            key,
        )
    }

    #[test]
    fn sign_verify_round_trip() {
        let key = SecretKey::from_seed([5; 32]);
        let stx = sample(&key);
        assert_eq!(check_stateless(&stx, &ChainId::new("test")), Ok(()));
        let bytes = stx.to_bytes();
        let back = SignedTx::from_bytes(&bytes).unwrap();
        assert_eq!(back, stx);
        assert_eq!(back.hash(), stx.hash());
        assert_eq!(stx.hash(), Hash::digest(&codec::encode(&stx)));
        // The memo is not part of the encoding, equality or JSON.
        assert_eq!(stx.to_bytes(), bytes);
        assert_eq!(back, stx);
        // A clone edited after the original was hashed gets its own hash.
        let mut edited = stx.clone();
        edited.tx.call = Call::Registry(registry::Call::RevokeRecord {
            merchant_id: MerchantId::derive(&PublicKey([2; 32])),
        });
        assert_eq!(edited.hash(), Hash::digest(&codec::encode(&edited)));
        assert_ne!(edited.hash(), stx.hash());
        // In place: a re-signed value, or a changed nonce, is hashed afresh.
        let mut t = stx.clone();
        let h0 = t.hash();
        t.tx.nonce += 1;
        assert_ne!(t.hash(), h0);
        assert_eq!(t.hash(), Hash::digest(&codec::encode(&t)));
        let kept = stx.clone_hashed();
        assert_eq!(kept.hash(), stx.hash());
        assert_eq!(kept, stx);
        let t2 = SignedTx::sign(t.tx.clone(), &key);
        assert_eq!(t2.hash(), Hash::digest(&codec::encode(&t2)));
        let json = serde_json::to_string(&stx).unwrap();
        assert_eq!(serde_json::from_str::<SignedTx>(&json).unwrap(), stx);
    }

    #[test]
    fn refusals() {
        let key = SecretKey::from_seed([5; 32]);
        let stx = sample(&key);
        assert!(matches!(
            check_stateless(&stx, &ChainId::new("other")),
            Err(TxError::WrongChainId { .. })
        ));
        let mut bad = stx.clone();
        bad.tx.nonce += 1;
        assert_eq!(
            check_stateless(&bad, &ChainId::new("test")),
            Err(TxError::BadSignature)
        );
        let mut bad = stx.clone();
        bad.tx.sender = SecretKey::from_seed([6; 32]).public_key();
        assert_eq!(bad.verify_signature(), Err(TxError::BadSignature));
        let big = SignedTx::sign(
            Transaction {
                call: Call::Registry(registry::Call::PutRecord {
                    merchant_id: MerchantId::derive(&PublicKey([1; 32])),
                    payload: vec![0; MAX_TX_BYTES],
                }),
                ..stx.tx.clone()
            },
            &key,
        );
        assert!(matches!(
            check_stateless(&big, &ChainId::new("test")),
            Err(TxError::TooLarge { .. })
        ));
        assert!(matches!(
            SignedTx::from_bytes(&big.to_bytes()),
            Err(codec::Error::TooLarge { .. })
        ));
    }
}

/// A call encrypted to the enclaves' exec key. Borsh: epoch (u64), the box, the key commitment.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct SealedCall {
    /// The key epoch the call is sealed under (0 today: see the module doc).
    pub epoch: u64,
    /// The encrypted borsh of the inner [`crate::tx::Call`].
    pub sealed: crate::enclave::SealedBox,
    /// `HMAC-SHA256(box key, "paychain/private/key-commit/v1")`: binds the call to the one key that
    /// opens it (AES-GCM alone is not key-committing), so that a disclosed key
    /// ([`open_disclosed_call`]) opens exactly what the enclaves executed.
    #[serde(with = "crate::enclave::kx::hex_array")]
    pub key_commitment: [u8; 32],
}

impl std::fmt::Debug for SealedCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedCall")
            .field("epoch", &self.epoch)
            .field("sealed", &self.sealed)
            .field("key_commitment", &hex::encode(self.key_commitment))
            .finish()
    }
}

/// Whether `call` may travel sealed, and on a chain with private state must: every wallet,
/// collection, store and guardian call (they move money or name orders, amounts, counterparties,
/// cards or dependants).
pub fn may_be_sealed(call: &Call) -> bool {
    matches!(
        call,
        Call::Wallet(_) | Call::Collection(_) | Call::Store(_) | Call::Guardian(_)
    )
}
