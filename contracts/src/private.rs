//! Confidential execution: private state encrypted at rest, calls sealed to the enclaves, receipts
//! sealed. Only an enclave holds a [`Vault`]; the node's host process executes no block that touches
//! private state (it asks its enclave), and its disk, logs and RPC hold only ciphertext of it.
//!
//! ```text
//! state secret  = HKDF(salt = domain, ikm = consortium secret of epoch 0, info = domain ‖ lp(chain id))
//! blind key     = HKDF(state secret, "blind")    physical key = "prv/" ‖ HMAC-SHA256(blind key, logical key)
//! value key     = HKDF(state secret, "value")    physical value = 0x01 ‖ nonce(12) ‖ AES-256-GCM(value)
//! nonce key     = HKDF(state secret, "nonce")    nonce = HMAC-SHA256(nonce key, physical key ‖ value)[..12]
//!                                                 AAD   = domain ‖ physical key
//! exec secret   = X25519 from HKDF(state secret, "exec"): clients seal calls to its public key
//! ```
//!
//! **Deterministic.** Every validator's enclave derives the same keys from the same provisioned
//! secret, and the nonce is synthetic (derived from the key and the value, as AES-GCM-SIV does), so
//! the same logical writes give the same physical bytes on every validator: the app hash commits to
//! the ciphertext and all validators agree on it. The price of determinism: an observer sees when a
//! slot is rewritten with a value it held before (equal ciphertexts), never the value.
//!
//! **Which keys are private** ([`is_private`]): balances and ledgers, wallets, payments, orders,
//! card bindings, top-up mandates, collections, store orders, guardian bindings and statements.
//! Public: membership and governance, the validator set, the registry (merchants' public profiles,
//! sealed acquiring records, platforms per merchant), the enclave registry, the CA, who is a verified
//! user of which platform (`wal/user/`, what the door checks), host qualifications, net debit caps and
//! nonces.
//!
//! **Sealed calls** ([`SealedCall`]): the payer's client encrypts a wallet, collection, store or
//! guardian call to the exec public key (published in genesis), with the transaction's chain id,
//! sender and nonce as associated data, so a sealed call lifted into another sender's or another
//! nonce's transaction does not open. The transaction's sender, nonce, size and time stay public.
//!
//! **Sealed receipts.** A sealed call's receipt keeps its code (success or the refusal's number) and
//! carries its message and events as one `sealed` event, encrypted under the state key with the
//! transaction hash as associated data; an enclave opens it for an entitled reader.
//!
//! The state secret comes from epoch 0 and is pinned in every enclave's key ring (never dropped), so
//! state written under it stays readable after any number of rotations; rotating the state key itself
//! (a re-encryption of all private state) is not built.

use std::collections::BTreeMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use borsh::{BorshDeserialize, BorshSerialize};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::chain::state::{Entry, Puts, StateError, StateReader};
use crate::enclave::epoch::KeyRing;
use crate::enclave::kx::{
    aead_open, box_open_key, box_seal, box_seal_key, hkdf32, put_lp, BoxRandomness, KxPublicKey,
    KxSecret,
};
use crate::primitives::codec;
use crate::primitives::crypto::{Hash, PublicKey};
use crate::primitives::ids::ChainId;

const STATE_SECRET_DOMAIN: &[u8] = b"paychain/private/state-secret/v1";
const VALUE_AAD_DOMAIN: &[u8] = b"paychain/private/value/v1";
const RECEIPT_AAD_DOMAIN: &[u8] = b"paychain/private/receipt/v1";
const CALL_DOMAIN: &[u8] = b"paychain/private/call/v1";
const KEY_COMMIT_DOMAIN: &[u8] = b"paychain/private/key-commit/v1";

/// Where private state lives: `prv/` ‖ 32 bytes.
pub const PHYSICAL_PREFIX: &[u8] = b"prv/";
/// Format byte of a physical value.
const VALUE_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// Largest sealed call accepted (the transaction's own bound is lower).
pub const MAX_SEALED_CALL_BYTES: usize = 64 * 1024;

/// Logical key prefixes whose entries are private.
pub const PRIVATE_PREFIXES: &[&[u8]] = &[
    b"wal/wallet/",
    b"wal/user_wallets/",
    b"wal/binding/",
    b"wal/cards/",
    b"wal/payment/",
    b"wal/order/",
    b"wal/acct/",
    b"wal/entry/",
    b"wal/movements",
    b"wal/mandate/",
    b"col/",
    b"sto/",
    b"grd/",
];

/// Whether the logical `key` is private state.
pub fn is_private(key: &[u8]) -> bool {
    PRIVATE_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// Why private state or a sealed call could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrivateError {
    /// A stored private value does not open under the state key (corrupt or forged storage).
    #[error("a private state value does not open: {0}")]
    Corrupt(&'static str),
    /// The sealed call does not open for this transaction.
    #[error(
        "the sealed call does not open for this transaction (wrong key, sender, nonce or chain)"
    )]
    CallDoesNotOpen,
    /// The sealed call opened but is not an allowed call.
    #[error("a sealed call must be one wallet, collection, store or guardian call")]
    CallNotAllowed,
    /// The sealed call is too large or malformed.
    #[error("malformed sealed call: {0}")]
    Malformed(&'static str),
    /// Key derivation failed.
    #[error("private key derivation failed")]
    Kdf,
}

impl From<PrivateError> for StateError {
    fn from(e: PrivateError) -> Self {
        StateError(e.to_string())
    }
}

fn call_aad(chain_id: &ChainId, sender: &PublicKey, nonce: u64, epoch: u64) -> Vec<u8> {
    let mut aad = Vec::with_capacity(96);
    put_lp(&mut aad, CALL_DOMAIN);
    put_lp(&mut aad, chain_id.as_str().as_bytes());
    aad.extend_from_slice(&sender.0);
    aad.extend_from_slice(&nonce.to_le_bytes());
    aad.extend_from_slice(&epoch.to_le_bytes());
    aad
}

pub use crate::chain::tx::{may_be_sealed, SealedCall};

/// Seals `call` for the transaction (`chain_id`, `sender`, `nonce`) to the exec key `exec_public`
/// (the client's side). `call` must be one [`may_be_sealed`] allows.
pub fn seal_call(
    exec_public: &KxPublicKey,
    chain_id: &ChainId,
    sender: &PublicKey,
    nonce: u64,
    call: &crate::chain::tx::Call,
    rand: &BoxRandomness,
) -> Result<SealedCall, PrivateError> {
    if !may_be_sealed(call) {
        return Err(PrivateError::CallNotAllowed);
    }
    let epoch = 0;
    let plain = Zeroizing::new(codec::encode(call));
    let aad = call_aad(chain_id, sender, nonce, epoch);
    let sealed = box_seal(CALL_DOMAIN, exec_public, rand, &aad, &plain)
        .map_err(|_| PrivateError::CallDoesNotOpen)?;
    let key = box_seal_key(CALL_DOMAIN, exec_public, rand, &aad)
        .map_err(|_| PrivateError::CallDoesNotOpen)?;
    Ok(SealedCall {
        epoch,
        sealed,
        key_commitment: key_commitment(&key),
    })
}

fn key_commitment(key: &[u8; 32]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts a 32-byte key"));
    mac.update(KEY_COMMIT_DOMAIN);
    mac.finalize().into_bytes().into()
}

/// Opens `sealed`, the call of the transaction (`chain_id`, `sender`, `nonce`), with `key`, the
/// key of that one call an enclave disclosed to a party entitled to it: what a third party checks
/// a disclosure with, offline. The key must be the one the sender committed to.
pub fn open_disclosed_call(
    chain_id: &ChainId,
    sender: &PublicKey,
    nonce: u64,
    sealed: &SealedCall,
    key: &[u8; 32],
) -> Result<crate::chain::tx::Call, PrivateError> {
    open_with_key(
        &call_aad(chain_id, sender, nonce, sealed.epoch),
        sealed,
        key,
    )
}

fn open_with_key(
    aad: &[u8],
    sealed: &SealedCall,
    key: &[u8; 32],
) -> Result<crate::chain::tx::Call, PrivateError> {
    if sealed.sealed.ciphertext.len() > MAX_SEALED_CALL_BYTES {
        return Err(PrivateError::Malformed("too large"));
    }
    if key_commitment(key) != sealed.key_commitment {
        return Err(PrivateError::CallDoesNotOpen);
    }
    let plain = aead_open(key, &sealed.sealed.nonce, aad, &sealed.sealed.ciphertext)
        .map_err(|_| PrivateError::CallDoesNotOpen)?;
    let call: crate::chain::tx::Call = codec::decode(&plain, MAX_SEALED_CALL_BYTES)
        .map_err(|_| PrivateError::Malformed("inner call"))?;
    if !may_be_sealed(&call) {
        return Err(PrivateError::CallNotAllowed);
    }
    Ok(call)
}

/// The keys of private execution; only an enclave holds them. Zeroized on drop.
#[derive(Clone)]
pub struct Vault {
    blind: Zeroizing<[u8; 32]>,
    value: Zeroizing<[u8; 32]>,
    nonce: Zeroizing<[u8; 32]>,
    exec: KxSecret,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Vault(exec public: {})", self.exec.public_key())
    }
}

impl Vault {
    /// The vault of `chain_id` from a key ring holding epoch 0.
    pub fn from_ring(ring: &KeyRing, chain_id: &ChainId) -> Result<Vault, PrivateError> {
        let secret = ring.get(0).ok_or(PrivateError::Kdf)?;
        Vault::from_secret(&secret.expose(), chain_id)
    }

    /// The vault for a 32-byte state root secret (the epoch-0 consortium secret in an enclave;
    /// a fixed seed in the contracts' tests).
    pub fn from_secret(secret: &[u8; 32], chain_id: &ChainId) -> Result<Vault, PrivateError> {
        let mut info = Vec::new();
        put_lp(&mut info, chain_id.as_str().as_bytes());
        let root = hkdf32(STATE_SECRET_DOMAIN, secret, &[STATE_SECRET_DOMAIN, &info])
            .map_err(|_| PrivateError::Kdf)?;
        let derive = |label: &[u8]| {
            hkdf32(STATE_SECRET_DOMAIN, root.as_ref(), &[label]).map_err(|_| PrivateError::Kdf)
        };
        let exec_seed = derive(b"exec")?;
        Ok(Vault {
            blind: derive(b"blind")?,
            value: derive(b"value")?,
            nonce: derive(b"nonce")?,
            exec: KxSecret::from_seed(*exec_seed),
        })
    }

    /// The vault derived from the epoch-0 consortium secret (the bootstrap enclave publishes its exec
    /// key in genesis).
    pub fn from_consortium(
        secret: &crate::enclave::ConsortiumSecret,
        chain_id: &ChainId,
    ) -> Result<Vault, PrivateError> {
        Vault::from_secret(&secret.expose(), chain_id)
    }

    /// The public key clients seal calls to.
    pub fn exec_public(&self) -> KxPublicKey {
        self.exec.public_key()
    }

    fn mac(&self, key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
        // HMAC takes keys of any length: this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts a 32-byte key"));
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    /// Where the logical `key` is stored: itself if public, else `prv/` ‖ HMAC(blind key, key).
    pub fn physical_key(&self, key: &[u8]) -> Vec<u8> {
        if !is_private(key) {
            return key.to_vec();
        }
        let mut out = Vec::with_capacity(PHYSICAL_PREFIX.len() + 32);
        out.extend_from_slice(PHYSICAL_PREFIX);
        out.extend_from_slice(&self.mac(&self.blind, &[key]));
        out
    }

    fn aead(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.value.as_ref().into())
    }

    fn seal_det(&self, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, PrivateError> {
        let synthetic = self.mac(
            &self.nonce,
            &[&(aad.len() as u64).to_le_bytes(), aad, plain],
        );
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&synthetic[..NONCE_LEN]);
        let ct = self
            .aead()
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain, aad })
            .map_err(|_| PrivateError::Corrupt("encryption failed"))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(VALUE_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    fn open_det(&self, aad: &[u8], stored: &[u8]) -> Result<Zeroizing<Vec<u8>>, PrivateError> {
        if stored.len() < 1 + NONCE_LEN + TAG_LEN {
            return Err(PrivateError::Corrupt("too short"));
        }
        if stored[0] != VALUE_VERSION {
            return Err(PrivateError::Corrupt("unknown format"));
        }
        let (nonce, ct) = stored[1..].split_at(NONCE_LEN);
        self.aead()
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
            .map(Zeroizing::new)
            .map_err(|_| PrivateError::Corrupt("authentication failed"))
    }

    fn value_aad(physical_key: &[u8]) -> Vec<u8> {
        [VALUE_AAD_DOMAIN, physical_key].concat()
    }

    /// The stored form of `value` at `physical_key` (deterministic).
    pub fn seal_value(&self, physical_key: &[u8], value: &[u8]) -> Result<Vec<u8>, PrivateError> {
        self.seal_det(&Self::value_aad(physical_key), value)
    }

    /// Opens a value stored at `physical_key`; a value moved from another key does not open.
    pub fn open_value(
        &self,
        physical_key: &[u8],
        stored: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, PrivateError> {
        self.open_det(&Self::value_aad(physical_key), stored)
    }

    /// The physical writes of logical `puts`: private keys blinded, their values sealed.
    pub fn seal_puts(&self, puts: Puts) -> Result<Puts, PrivateError> {
        let mut out = BTreeMap::new();
        for (k, v) in puts {
            if is_private(&k) {
                let pk = self.physical_key(&k);
                let sealed = match v {
                    Some(v) => Some(self.seal_value(&pk, &v)?),
                    None => None,
                };
                out.insert(pk, sealed);
            } else {
                out.insert(k, v);
            }
        }
        Ok(out)
    }

    /// Opens the sealed call of the transaction (`chain_id`, `sender`, `nonce`).
    pub fn open_call(
        &self,
        chain_id: &ChainId,
        sender: &PublicKey,
        nonce: u64,
        sealed: &SealedCall,
    ) -> Result<crate::chain::tx::Call, PrivateError> {
        let key = self.call_key(chain_id, sender, nonce, sealed)?;
        open_with_key(
            &call_aad(chain_id, sender, nonce, sealed.epoch),
            sealed,
            &key,
        )
    }

    /// The key of one sealed call (what an enclave discloses to a party entitled to the call: it
    /// opens that call and nothing else).
    pub fn call_key(
        &self,
        chain_id: &ChainId,
        sender: &PublicKey,
        nonce: u64,
        sealed: &SealedCall,
    ) -> Result<Zeroizing<[u8; 32]>, PrivateError> {
        if sealed.sealed.ciphertext.len() > MAX_SEALED_CALL_BYTES {
            return Err(PrivateError::Malformed("too large"));
        }
        if sealed.epoch != 0 {
            return Err(PrivateError::CallDoesNotOpen);
        }
        box_open_key(
            CALL_DOMAIN,
            &self.exec,
            &sealed.sealed.ephemeral_public,
            &call_aad(chain_id, sender, nonce, sealed.epoch),
        )
        .map_err(|_| PrivateError::CallDoesNotOpen)
    }

    /// The sealed details (message and events) of a receipt of the transaction `tx_hash`.
    pub fn seal_receipt_details(
        &self,
        tx_hash: &Hash,
        details: &ReceiptDetails,
    ) -> Result<Vec<u8>, PrivateError> {
        let aad = [RECEIPT_AAD_DOMAIN, &tx_hash.0[..]].concat();
        self.seal_det(&aad, &codec::encode(details))
    }

    /// Opens what [`Vault::seal_receipt_details`] sealed.
    pub fn open_receipt_details(
        &self,
        tx_hash: &Hash,
        sealed: &[u8],
    ) -> Result<ReceiptDetails, PrivateError> {
        let aad = [RECEIPT_AAD_DOMAIN, &tx_hash.0[..]].concat();
        let plain = self.open_det(&aad, sealed)?;
        codec::decode(&plain, codec::MAX_BLOCK_BYTES)
            .map_err(|_| PrivateError::Corrupt("receipt details"))
    }
}

/// What a sealed call's receipt hides: its message and events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct ReceiptDetails {
    /// The refusal's message, if any.
    pub error: Option<String>,
    /// The call's events.
    pub events: Vec<crate::chain::kernel::Event>,
}

/// The logical state over physical storage: private keys are read through the vault. Contracts see
/// plaintext; storage holds ciphertext. Only point reads: bucket scans of logical keys do not exist.
pub struct PrivateView<'a, R: StateReader> {
    reader: &'a R,
    vault: &'a Vault,
}

impl<'a, R: StateReader> PrivateView<'a, R> {
    /// The logical view of `reader`.
    pub fn new(reader: &'a R, vault: &'a Vault) -> Self {
        PrivateView { reader, vault }
    }
}

impl<R: StateReader> StateReader for PrivateView<'_, R> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        if key.starts_with(PHYSICAL_PREFIX) {
            // A contract never names physical keys.
            return Ok(None);
        }
        if !is_private(key) {
            return self.reader.get(key);
        }
        let pk = self.vault.physical_key(key);
        match self.reader.get(&pk)? {
            None => Ok(None),
            Some(stored) => Ok(Some(self.vault.open_value(&pk, &stored)?.to_vec())),
        }
    }

    fn bucket_entries(&self, _bucket: u16) -> Result<Vec<Entry>, StateError> {
        Err(StateError(
            "a private view has no buckets of logical keys".into(),
        ))
    }

    fn bucket_hash(&self, _bucket: u16) -> Result<Hash, StateError> {
        Err(StateError(
            "a private view has no buckets of logical keys".into(),
        ))
    }
}

/// State values an enclave was handed (by its host, for an execution; proven, for a read): a value
/// not among them is recorded as missing and read as absent, so one speculative run names every
/// value its path needs. Only a run with nothing missing counts. Point reads only.
pub struct Supplied<'a> {
    entries: &'a BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    missing: std::cell::RefCell<std::collections::BTreeSet<Vec<u8>>>,
}

impl<'a> Supplied<'a> {
    /// The values `entries` (physical key, value or `None` for absent).
    pub fn new(entries: &'a BTreeMap<Vec<u8>, Option<Vec<u8>>>) -> Self {
        Supplied {
            entries,
            missing: Default::default(),
        }
    }

    /// The keys read that were not supplied.
    pub fn into_missing(self) -> std::collections::BTreeSet<Vec<u8>> {
        self.missing.into_inner()
    }
}

impl StateReader for Supplied<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        match self.entries.get(key) {
            Some(v) => Ok(v.clone()),
            None => {
                self.missing.borrow_mut().insert(key.to_vec());
                Ok(None)
            }
        }
    }
    fn bucket_entries(&self, _bucket: u16) -> Result<Vec<Entry>, StateError> {
        Err(StateError("an enclave reads point values only".into()))
    }
    fn bucket_hash(&self, _bucket: u16) -> Result<Hash, StateError> {
        Err(StateError("an enclave reads point values only".into()))
    }
}

#[cfg(test)]
#[path = "private_tests.rs"]
mod tests;
