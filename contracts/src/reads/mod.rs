//! Signed, scoped reads of private state: who may read what, decided from committed state.
//!
//! Payments, balances, statements, certificates, collections, store orders, card bindings and guardian
//! statements are private to their parties. A client asks for one with a [`SignedRead`]: the requester's
//! key, the [`Query`] (the RPC method and its params), an X25519 reply key, a fresh nonce and a height
//! bound, signed with ed25519 over `"paychain/read/v1" ‖ encode(request)`. The node checks the signature,
//! the chain, the height bound ([`check_fresh`]) and the requester's entitlement ([`may_read`], from the
//! state committed at its tip), then seals the JSON answer to the reply key ([`seal_reply`]); the client
//! opens it with [`open_reply`].
//!
//! ```text
//! client: ReadRequest { chain_id, requester, query, reply_kx_public, nonce, valid_until_height }
//!         ─sign─► SignedRead ─hex─► paychain_<method>
//! node:   decode (≤ MAX_SIGNED_READ_BYTES) ─► signature ─► chain, method ─► check_fresh(tip)
//!         ─► may_read(state, requester, query) ─► view as JSON ─► seal_reply ─► SealedReply
//! client: open_reply(reply secret, request hash) ─► JSON
//! ```
//!
//! # Who reads what
//!
//! | subject | parties | platforms (member key) | regulator |
//! |---|---|---|---|
//! | payment (by id or merchant order) | payer, merchant key | payer's wallet host, acquirer | yes |
//! | wallet, its balance and statement | owner (the wallet view: also the dependant of an active guardian binding paying from it) | host | yes |
//! | to-be-settled account | merchant key | acquirer | yes |
//! | clearing account | — | the platform | yes |
//! | escrow account, collection | creator, merchant key, share payers (while open: any verified user, by id) | acquirer, payers' hosts | yes |
//! | store order | user, merchant key | acquirer, host of the paying wallet | yes |
//! | guardian binding and statement | guardian, dependant | — | yes |
//! | card binding | user | host | yes |
//! | a key's lists (wallets, certificates, collections, store orders, guardian bindings) | the key | (wallets: the user's verifying host) | yes |
//! | a transaction's certificate | its sender, and the readers of the payment, collection or store order it is about | as for those | yes |
//! | the regulator's read audit | — | every member | yes |
//!
//! Public stays public (no signed read): block headers, the validator set, merchants' public profiles,
//! the registry's platforms per merchant, status, proposals.
//!
//! Not covered here: a block's transactions and its receipts' events (`paychain_tx`, `paychain_block`,
//! `paychain_subscribeEvents`, and every validator's disk) still hold payment details in the clear;
//! this module scopes the *reads of state*, and the payment records themselves must be encrypted to
//! their readers for the rest (issue 17, item 2).
//!
//! # Freshness and replays
//!
//! A request is valid while the answering node's tip is at most `valid_until_height`, and
//! `valid_until_height` may be at most [`MAX_READ_AHEAD_BLOCKS`] above that tip, so a captured request
//! expires within that many blocks. Within its window a replay is answered again (the node keeps no
//! record of answered reads): the answer is sealed to the reply key inside the signed bytes, which only
//! the requester holds, so a replayer learns nothing but the answer's size. A regulator's read is audited
//! once per request hash, so a replay does not add audit entries.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::chain::state::{StateError, StateReader};
use crate::chain::tx::{Call, Transaction};
use crate::enclave::{
    box_open, box_seal, BoxError, BoxRandomness, KxPublicKey, KxSecret, SealedBox,
};
use crate::primitives::codec;
use crate::primitives::crypto::{sha256, Hash, PublicKey, SecretKey, Signature};
use crate::primitives::ids::{ChainId, MerchantId, PlatformId};
use crate::wallet::{self, Account, Payment};
use crate::{collection, governance, guardian, registry, store};

/// Length of a read's fresh nonce.
pub const READ_NONCE_LEN: usize = 16;
/// Largest encoded [`SignedRead`] accepted.
pub const MAX_SIGNED_READ_BYTES: usize = 512;
/// How far above the answering node's tip a request's `valid_until_height` may be.
pub const MAX_READ_AHEAD_BLOCKS: u64 = 100;
/// Largest answer [`open_reply`] opens (the node's response limit is lower).
pub const MAX_REPLY_BYTES: usize = 32 * 1024 * 1024;

const READ_SIGN_DOMAIN: &[u8] = b"paychain/read/v1";
const REPLY_DOMAIN: &[u8] = b"paychain/read/reply/v1";

/// Why a read was refused or an answer did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The bytes are not a signed read.
    #[error("not a signed read: {0}")]
    Malformed(#[from] codec::Error),
    /// The signature does not verify under the key the request names.
    #[error(
        "read signature does not verify for requester {0} (signed by another key, or altered)"
    )]
    BadSignature(PublicKey),
    /// The request is for another chain.
    #[error("read is for chain {got}, this is chain {expected}")]
    WrongChain {
        /// This chain.
        expected: ChainId,
        /// The request's chain.
        got: ChainId,
    },
    /// The request was sent to another method than the one it asks.
    #[error("read asks {asked} but was sent to {called}")]
    WrongMethod {
        /// The method called.
        called: String,
        /// The request's method.
        asked: &'static str,
    },
    /// The request's height bound has passed.
    #[error("read expired: valid until height {valid_until}, the tip is at {height}")]
    Expired {
        /// The request's bound.
        valid_until: u64,
        /// The answering node's tip.
        height: u64,
    },
    /// The request's height bound is too far ahead.
    #[error("read valid until height {valid_until} is more than {MAX_READ_AHEAD_BLOCKS} blocks above the tip ({height})")]
    TooFarAhead {
        /// The request's bound.
        valid_until: u64,
        /// The answering node's tip.
        height: u64,
    },
    /// The reply key is of low order.
    #[error("reply key is a low-order X25519 point")]
    WeakReplyKey,
    /// The answer is for another request.
    #[error("answer is for request {got}, expected {expected}")]
    RequestMismatch {
        /// The client's request hash.
        expected: Hash,
        /// The answer's.
        got: Hash,
    },
    /// The answer did not open with the reply key (tampered, or another key).
    #[error("answer failed authentication (wrong reply key or tampered)")]
    Authentication,
    /// The answer is larger than [`MAX_REPLY_BYTES`].
    #[error("answer of {0} bytes is larger than {MAX_REPLY_BYTES}")]
    TooLarge(usize),
}

impl From<BoxError> for ReadError {
    fn from(e: BoxError) -> Self {
        match e {
            BoxError::WeakKey => ReadError::WeakReplyKey,
            BoxError::Authentication | BoxError::Kdf => ReadError::Authentication,
        }
    }
}

/// What a read asks: one private RPC method and its params. Appended at the end only (the borsh
/// variant index is signed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(rename_all = "snake_case")]
pub enum Query {
    /// `paychain_payment`.
    Payment {
        /// Payment id.
        payment_id: Hash,
    },
    /// `paychain_order`: the payment of a merchant's order.
    Order {
        /// Merchant.
        merchant_id: MerchantId,
        /// Order reference.
        order_ref: String,
    },
    /// `paychain_wallet`.
    Wallet {
        /// Wallet id.
        wallet_id: Hash,
    },
    /// `paychain_wallets`: a user's attestation and wallets.
    Wallets {
        /// User.
        user: PublicKey,
    },
    /// `paychain_balance`.
    Balance {
        /// Account.
        account: Account,
    },
    /// `paychain_statement`.
    Statement {
        /// Account.
        account: Account,
        /// First height (inclusive).
        from_height: u64,
        /// Last height (the tip when `None`).
        to_height: Option<u64>,
    },
    /// `paychain_certificates`: a key's payment, refund and split-bill transactions.
    Certificates {
        /// The key.
        public_key: PublicKey,
        /// Most entries.
        limit: Option<u32>,
    },
    /// `paychain_certificate`: one transaction's offline-verifiable certificate.
    Certificate {
        /// Transaction hash.
        tx_hash: Hash,
    },
    /// `paychain_cardBinding`.
    CardBinding {
        /// Binding id.
        binding_id: Hash,
    },
    /// `paychain_collection`.
    Collection {
        /// Collection id.
        collection_id: Hash,
    },
    /// `paychain_collections`.
    Collections {
        /// The key.
        public_key: PublicKey,
        /// Most entries.
        limit: Option<u32>,
    },
    /// `paychain_storeOrder`.
    StoreOrder {
        /// Order id.
        order_id: Hash,
    },
    /// `paychain_storeOrders`.
    StoreOrders {
        /// The key.
        public_key: PublicKey,
        /// Most entries.
        limit: Option<u32>,
    },
    /// `paychain_guardianBinding`.
    GuardianBinding {
        /// Binding id.
        binding_id: Hash,
    },
    /// `paychain_guardianBindings`.
    GuardianBindings {
        /// The key.
        public_key: PublicKey,
        /// Most entries.
        limit: Option<u32>,
    },
    /// `paychain_guardianStatement`.
    GuardianStatement {
        /// Binding id.
        binding_id: Hash,
        /// `YYYY-MM`.
        month: String,
    },
    /// `paychain_regulatorAudit`: the answering node's audit of the regulator's reads.
    RegulatorAudit {
        /// First sequence number.
        from_seq: u64,
        /// Most entries.
        limit: u32,
    },
}

impl Query {
    /// The RPC method that answers this query.
    pub fn method(&self) -> &'static str {
        match self {
            Query::Payment { .. } => "paychain_payment",
            Query::Order { .. } => "paychain_order",
            Query::Wallet { .. } => "paychain_wallet",
            Query::Wallets { .. } => "paychain_wallets",
            Query::Balance { .. } => "paychain_balance",
            Query::Statement { .. } => "paychain_statement",
            Query::Certificates { .. } => "paychain_certificates",
            Query::Certificate { .. } => "paychain_certificate",
            Query::CardBinding { .. } => "paychain_cardBinding",
            Query::Collection { .. } => "paychain_collection",
            Query::Collections { .. } => "paychain_collections",
            Query::StoreOrder { .. } => "paychain_storeOrder",
            Query::StoreOrders { .. } => "paychain_storeOrders",
            Query::GuardianBinding { .. } => "paychain_guardianBinding",
            Query::GuardianBindings { .. } => "paychain_guardianBindings",
            Query::GuardianStatement { .. } => "paychain_guardianStatement",
            Query::RegulatorAudit { .. } => "paychain_regulatorAudit",
        }
    }

    /// What is read, by id only (for the regulator's audit: no amounts, references or names).
    pub fn subject(&self) -> String {
        match self {
            Query::Payment { payment_id } => format!("payment {payment_id}"),
            Query::Order { merchant_id, .. } => format!("an order of merchant {merchant_id}"),
            Query::Wallet { wallet_id } => format!("wallet {wallet_id}"),
            Query::Wallets { user } => format!("wallets of {user}"),
            Query::Balance { account } => format!("balance of {}", account.key()),
            Query::Statement { account, .. } => format!("statement of {}", account.key()),
            Query::Certificates { public_key, .. } => format!("certificates of {public_key}"),
            Query::Certificate { tx_hash } => format!("certificate of tx {tx_hash}"),
            Query::CardBinding { binding_id } => format!("card binding {binding_id}"),
            Query::Collection { collection_id } => format!("collection {collection_id}"),
            Query::Collections { public_key, .. } => format!("collections of {public_key}"),
            Query::StoreOrder { order_id } => format!("store order {order_id}"),
            Query::StoreOrders { public_key, .. } => format!("store orders of {public_key}"),
            Query::GuardianBinding { binding_id } => format!("guardian binding {binding_id}"),
            Query::GuardianBindings { public_key, .. } => {
                format!("guardian bindings of {public_key}")
            }
            Query::GuardianStatement { binding_id, .. } => {
                format!("guardian statement of {binding_id}")
            }
            Query::RegulatorAudit { .. } => "regulator audit".into(),
        }
    }
}

/// A request to read private state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct ReadRequest {
    /// The chain asked.
    pub chain_id: ChainId,
    /// The requester's key: entitlement is decided for it, and it signs.
    pub requester: PublicKey,
    /// What is asked.
    pub query: Query,
    /// The client's (ephemeral) X25519 key; the answer is sealed to it.
    pub reply_kx_public: KxPublicKey,
    /// Fresh random bytes.
    #[serde(with = "hex_nonce")]
    pub nonce: [u8; READ_NONCE_LEN],
    /// The last tip height at which the request is answered.
    pub valid_until_height: u64,
}

impl ReadRequest {
    /// The bytes the requester signs: `"paychain/read/v1" ‖ encode(request)`.
    pub fn sign_bytes(&self) -> Vec<u8> {
        let mut out = READ_SIGN_DOMAIN.to_vec();
        out.extend_from_slice(&codec::encode(self));
        out
    }

    /// The request hash the answer cites: `sha256(sign_bytes)`.
    pub fn hash(&self) -> Hash {
        sha256(&[&self.sign_bytes()])
    }

    /// Signs as `requester` (whose public key should be [`ReadRequest::requester`]).
    pub fn sign(self, requester: &SecretKey) -> SignedRead {
        let signature = requester.sign(&self.sign_bytes());
        SignedRead {
            request: self,
            signature,
        }
    }
}

/// A read request with the requester's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct SignedRead {
    /// The request.
    pub request: ReadRequest,
    /// The requester's signature over [`ReadRequest::sign_bytes`].
    pub signature: Signature,
}

impl SignedRead {
    /// Canonical encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes at most [`MAX_SIGNED_READ_BYTES`] (no verification).
    pub fn from_bytes(bytes: &[u8]) -> Result<SignedRead, ReadError> {
        Ok(codec::decode(bytes, MAX_SIGNED_READ_BYTES)?)
    }

    /// Checks the requester's signature.
    pub fn verify_signature(&self) -> Result<(), ReadError> {
        self.request
            .requester
            .verify(&self.request.sign_bytes(), &self.signature)
            .map_err(|_| ReadError::BadSignature(self.request.requester))
    }

    /// Stateless checks at a node whose tip is `height` on `chain_id`, called as `method`: signature,
    /// chain, method, height bound, reply key.
    pub fn check(&self, chain_id: &ChainId, method: &str, height: u64) -> Result<(), ReadError> {
        let r = &self.request;
        if &r.chain_id != chain_id {
            return Err(ReadError::WrongChain {
                expected: chain_id.clone(),
                got: r.chain_id.clone(),
            });
        }
        if r.query.method() != method {
            return Err(ReadError::WrongMethod {
                called: method.chars().take(64).collect(),
                asked: r.query.method(),
            });
        }
        check_fresh(r, height)?;
        if r.reply_kx_public.is_weak() {
            return Err(ReadError::WeakReplyKey);
        }
        self.verify_signature()
    }
}

/// The height bound: `height ≤ valid_until_height ≤ height + MAX_READ_AHEAD_BLOCKS`.
pub fn check_fresh(request: &ReadRequest, height: u64) -> Result<(), ReadError> {
    let valid_until = request.valid_until_height;
    if valid_until < height {
        return Err(ReadError::Expired {
            valid_until,
            height,
        });
    }
    if valid_until > height.saturating_add(MAX_READ_AHEAD_BLOCKS) {
        return Err(ReadError::TooFarAhead {
            valid_until,
            height,
        });
    }
    Ok(())
}

/// An answer sealed to the request's reply key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct SealedReply {
    /// [`ReadRequest::hash`] of the request answered.
    pub request_hash: Hash,
    /// The tip height the answer was read at.
    pub height: u64,
    /// The JSON answer, boxed to `reply_kx_public`.
    pub sealed: SealedBox,
}

fn reply_aad(request_hash: &Hash, height: u64) -> Vec<u8> {
    let mut out = REPLY_DOMAIN.to_vec();
    out.extend_from_slice(&request_hash.0);
    out.extend_from_slice(&height.to_le_bytes());
    out
}

/// Node side: seals `answer` (the JSON view) to the request's reply key. `rand` is fresh OS randomness.
pub fn seal_reply(
    request: &ReadRequest,
    height: u64,
    answer: &[u8],
    rand: &BoxRandomness,
) -> Result<SealedReply, ReadError> {
    let request_hash = request.hash();
    let sealed = box_seal(
        REPLY_DOMAIN,
        &request.reply_kx_public,
        rand,
        &reply_aad(&request_hash, height),
        answer,
    )?;
    Ok(SealedReply {
        request_hash,
        height,
        sealed,
    })
}

/// Client side: opens the answer to the request hashed `expected_request_hash` with the reply secret.
pub fn open_reply(
    reply_secret: &KxSecret,
    expected_request_hash: &Hash,
    reply: &SealedReply,
) -> Result<Zeroizing<Vec<u8>>, ReadError> {
    if &reply.request_hash != expected_request_hash {
        return Err(ReadError::RequestMismatch {
            expected: *expected_request_hash,
            got: reply.request_hash,
        });
    }
    if reply.sealed.ciphertext.len() > MAX_REPLY_BYTES {
        return Err(ReadError::TooLarge(reply.sealed.ciphertext.len()));
    }
    Ok(box_open(
        REPLY_DOMAIN,
        reply_secret,
        &reply.sealed,
        &reply_aad(&reply.request_hash, reply.height),
    )?)
}

/// Why a requester may read something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    /// A party of it (payer, merchant, owner, user, guardian, ...).
    Party,
    /// A platform serving a party (wallet host, acquirer), by its member key.
    Platform,
    /// A consortium member (reads of the regulator's audit).
    Member,
    /// A verified user reading an open collection by its id (the id, in the collection's code, is
    /// the invitation to pay a share).
    Invited,
    /// The regulator.
    Regulator,
}

fn regulator_or_none(
    reader: &impl StateReader,
    requester: &PublicKey,
) -> Result<Option<Grant>, StateError> {
    Ok((governance::regulator(reader)?.as_ref() == Some(requester)).then_some(Grant::Regulator))
}

/// Whether `key` is the member key of `platform`.
fn is_platform(
    reader: &impl StateReader,
    platform: &PlatformId,
    key: &PublicKey,
) -> Result<bool, StateError> {
    Ok(governance::member(reader, platform)?.is_some_and(|m| &m.public_key == key))
}

/// Whether `key` is the merchant key of `merchant`.
fn is_merchant(
    reader: &impl StateReader,
    merchant: &MerchantId,
    key: &PublicKey,
) -> Result<bool, StateError> {
    Ok(registry::merchant(reader, merchant)?.is_some_and(|m| &m.merchant_key == key))
}

/// Whether `key` is the member key of the platform hosting wallet `wallet_id`.
fn is_wallet_host(
    reader: &impl StateReader,
    wallet_id: &Hash,
    key: &PublicKey,
) -> Result<bool, StateError> {
    match wallet::wallet(reader, wallet_id)? {
        Some(w) => is_platform(reader, &w.host, key),
        None => Ok(false),
    }
}

/// A payment: its payer and merchant key (parties), the payer's wallet host and the acquirer (platforms),
/// the regulator.
pub fn may_read_payment(
    reader: &impl StateReader,
    requester: &PublicKey,
    p: &Payment,
) -> Result<Option<Grant>, StateError> {
    if &p.payer == requester || is_merchant(reader, &p.merchant_id, requester)? {
        return Ok(Some(Grant::Party));
    }
    if is_wallet_host(reader, &p.from_wallet, requester)?
        || is_platform(reader, &p.acquirer, requester)?
    {
        return Ok(Some(Grant::Platform));
    }
    regulator_or_none(reader, requester)
}

/// Most guardian bindings of a dependant looked at for [`may_read_delegated_wallet`].
pub const MAX_DELEGATIONS_CHECKED: usize = 100;

/// A guardian's wallet (the wallet view only, not its statement): also the dependant of an active
/// binding that pays from it, which needs its currency to pay.
pub fn may_read_delegated_wallet(
    reader: &impl StateReader,
    requester: &PublicKey,
    wallet_id: &Hash,
) -> Result<Option<Grant>, StateError> {
    let (bindings, _) = guardian::bindings_of(reader, requester, MAX_DELEGATIONS_CHECKED)?;
    let delegated = bindings.iter().any(|b| {
        &b.dependant == requester
            && b.status == guardian::Status::Active
            && b.authorisation
                .as_ref()
                .is_some_and(|a| &a.wallet == wallet_id)
    });
    Ok(delegated.then_some(Grant::Party))
}

/// A wallet (and its balance and statement): its owner, its host, the regulator.
pub fn may_read_wallet(
    reader: &impl StateReader,
    requester: &PublicKey,
    w: &wallet::Wallet,
) -> Result<Option<Grant>, StateError> {
    if &w.owner == requester {
        return Ok(Some(Grant::Party));
    }
    if is_platform(reader, &w.host, requester)? {
        return Ok(Some(Grant::Platform));
    }
    regulator_or_none(reader, requester)
}

/// An account's balance and statement: see the module's table. An unknown wallet or collection is
/// the regulator's only.
pub fn may_read_account(
    reader: &impl StateReader,
    requester: &PublicKey,
    account: &Account,
) -> Result<Option<Grant>, StateError> {
    match account {
        Account::Wallet { id } => match wallet::wallet(reader, id)? {
            Some(w) => may_read_wallet(reader, requester, &w),
            None => regulator_or_none(reader, requester),
        },
        Account::ToBeSettled {
            merchant_id,
            acquirer,
            ..
        } => {
            if is_merchant(reader, merchant_id, requester)? {
                Ok(Some(Grant::Party))
            } else if is_platform(reader, acquirer, requester)? {
                Ok(Some(Grant::Platform))
            } else {
                regulator_or_none(reader, requester)
            }
        }
        Account::Clearing { platform, .. } => {
            if is_platform(reader, platform, requester)? {
                Ok(Some(Grant::Platform))
            } else {
                regulator_or_none(reader, requester)
            }
        }
        Account::Escrow { collection: id, .. } => match collection::collection(reader, id)? {
            Some(c) => may_read_collection(reader, requester, &c),
            None => regulator_or_none(reader, requester),
        },
    }
}

/// A split-bill collection: its creator, merchant key and share payers; the acquirer and the payers'
/// wallet hosts; the regulator; and while it is open, any verified user (a prospective payer who
/// scanned its code: the id is the invitation).
pub fn may_read_collection(
    reader: &impl StateReader,
    requester: &PublicKey,
    c: &collection::Collection,
) -> Result<Option<Grant>, StateError> {
    if &c.creator == requester
        || c.sub_orders
            .iter()
            .any(|s| s.payer.as_ref() == Some(requester))
        || is_merchant(reader, &c.merchant_id, requester)?
    {
        return Ok(Some(Grant::Party));
    }
    if is_platform(reader, &c.acquirer, requester)? {
        return Ok(Some(Grant::Platform));
    }
    for w in c.sub_orders.iter().filter_map(|s| s.wallet.as_ref()) {
        if is_wallet_host(reader, w, requester)? {
            return Ok(Some(Grant::Platform));
        }
    }
    if let Some(g) = regulator_or_none(reader, requester)? {
        return Ok(Some(g));
    }
    if c.status == collection::Status::Open && wallet::user(reader, requester)?.is_some() {
        return Ok(Some(Grant::Invited));
    }
    Ok(None)
}

/// A store order: its user and the store's merchant key; the acquirer and the host of the wallet that
/// paid it (or of the user's attestation while unpaid); the regulator.
pub fn may_read_store_order(
    reader: &impl StateReader,
    requester: &PublicKey,
    o: &store::Order,
) -> Result<Option<Grant>, StateError> {
    if &o.user == requester || is_merchant(reader, &o.merchant_id, requester)? {
        return Ok(Some(Grant::Party));
    }
    if is_platform(reader, &o.acquirer, requester)? {
        return Ok(Some(Grant::Platform));
    }
    let host = match &o.paid_from {
        Some(w) => wallet::wallet(reader, w)?.map(|w| w.host),
        None => wallet::user(reader, &o.user)?.map(|u| u.host),
    };
    if let Some(host) = host {
        if is_platform(reader, &host, requester)? {
            return Ok(Some(Grant::Platform));
        }
    }
    regulator_or_none(reader, requester)
}

/// A guardian binding and its statements: the guardian and the dependant; the regulator.
pub fn may_read_guardian_binding(
    reader: &impl StateReader,
    requester: &PublicKey,
    b: &guardian::Binding,
) -> Result<Option<Grant>, StateError> {
    if &b.guardian == requester || &b.dependant == requester {
        return Ok(Some(Grant::Party));
    }
    regulator_or_none(reader, requester)
}

/// A card binding: its user and host; the regulator.
pub fn may_read_card_binding(
    reader: &impl StateReader,
    requester: &PublicKey,
    b: &wallet::CardBinding,
) -> Result<Option<Grant>, StateError> {
    if &b.user == requester {
        return Ok(Some(Grant::Party));
    }
    if is_platform(reader, &b.host, requester)? {
        return Ok(Some(Grant::Platform));
    }
    regulator_or_none(reader, requester)
}

/// A key's own lists (certificates, collections, store orders, guardian bindings): the key itself and
/// the regulator. A platform reads its customers' items one by one (a payment, a wallet's statement).
pub fn may_read_lists_of(
    reader: &impl StateReader,
    requester: &PublicKey,
    key: &PublicKey,
) -> Result<Option<Grant>, StateError> {
    if key == requester {
        return Ok(Some(Grant::Party));
    }
    regulator_or_none(reader, requester)
}

/// A user's attestation and wallets: the user, the platform that verified the user, the regulator.
pub fn may_read_user(
    reader: &impl StateReader,
    requester: &PublicKey,
    user: &PublicKey,
) -> Result<Option<Grant>, StateError> {
    if user == requester {
        return Ok(Some(Grant::Party));
    }
    if let Some(u) = wallet::user(reader, user)? {
        if is_platform(reader, &u.host, requester)? {
            return Ok(Some(Grant::Platform));
        }
    }
    regulator_or_none(reader, requester)
}

/// A committed transaction's certificate: its sender; when it made a payment (its hash is the payment
/// id) or refunded one, whoever may read that payment; for a collection's or store order's
/// transaction, whoever may read that collection or order; the regulator.
pub fn may_read_tx(
    reader: &impl StateReader,
    requester: &PublicKey,
    tx_hash: &Hash,
    tx: &Transaction,
) -> Result<Option<Grant>, StateError> {
    if &tx.sender == requester {
        return Ok(Some(Grant::Party));
    }
    let payment_id = match &tx.call {
        Call::Wallet(wallet::Call::Refund { payment, .. }) => *payment,
        _ => *tx_hash,
    };
    if let Some(p) = wallet::payment(reader, &payment_id)? {
        return may_read_payment(reader, requester, &p);
    }
    // A split-bill or store-order transaction: whoever may read its collection or order.
    let collection_id = match &tx.call {
        Call::Collection(collection::Call::Create { .. }) => Some(*tx_hash),
        Call::Collection(
            collection::Call::Pay { collection, .. } | collection::Call::Expire { collection },
        ) => Some(*collection),
        _ => None,
    };
    if let Some(Some(c)) = collection_id
        .map(|id| collection::collection(reader, &id))
        .transpose()?
    {
        return may_read_collection(reader, requester, &c);
    }
    let order_id = match &tx.call {
        Call::Store(store::Call::CreateOrder { .. }) => Some(*tx_hash),
        Call::Store(store::Call::Confirm { order, .. }) => Some(*order),
        _ => None,
    };
    if let Some(Some(o)) = order_id.map(|id| store::order(reader, &id)).transpose()? {
        return may_read_store_order(reader, requester, &o);
    }
    regulator_or_none(reader, requester)
}

/// The regulator's read audit: every consortium member, and the regulator.
pub fn may_read_regulator_audit(
    reader: &impl StateReader,
    requester: &PublicKey,
) -> Result<Option<Grant>, StateError> {
    if governance::member_by_key(reader, requester)?.is_some() {
        return Ok(Some(Grant::Member));
    }
    regulator_or_none(reader, requester)
}

/// Whether `requester` may read what `query` asks, from committed state: `None` when not (or when the
/// subject does not exist and the requester is not the regulator, so a stranger learns neither).
/// [`Query::Certificate`] needs the transaction: decide it with [`may_read_tx`] (here: the regulator
/// only).
pub fn may_read(
    reader: &impl StateReader,
    requester: &PublicKey,
    query: &Query,
) -> Result<Option<Grant>, StateError> {
    match query {
        Query::Payment { payment_id } => match wallet::payment(reader, payment_id)? {
            Some(p) => may_read_payment(reader, requester, &p),
            None => regulator_or_none(reader, requester),
        },
        Query::Order {
            merchant_id,
            order_ref,
        } => match wallet::payment_for_order(reader, merchant_id, order_ref)? {
            Some(p) => may_read_payment(reader, requester, &p),
            // An unpaid order: the merchant may ask whether it is paid.
            None if is_merchant(reader, merchant_id, requester)? => Ok(Some(Grant::Party)),
            None => regulator_or_none(reader, requester),
        },
        Query::Wallet { wallet_id } => {
            match may_read_account(reader, requester, &Account::Wallet { id: *wallet_id })? {
                Some(g) => Ok(Some(g)),
                None => may_read_delegated_wallet(reader, requester, wallet_id),
            }
        }
        Query::Wallets { user } => may_read_user(reader, requester, user),
        Query::Balance { account } | Query::Statement { account, .. } => {
            may_read_account(reader, requester, account)
        }
        Query::Certificates { public_key, .. }
        | Query::Collections { public_key, .. }
        | Query::StoreOrders { public_key, .. }
        | Query::GuardianBindings { public_key, .. } => {
            may_read_lists_of(reader, requester, public_key)
        }
        Query::Certificate { .. } => regulator_or_none(reader, requester),
        Query::CardBinding { binding_id } => match wallet::card_binding(reader, binding_id)? {
            Some(b) => may_read_card_binding(reader, requester, &b),
            None => regulator_or_none(reader, requester),
        },
        Query::Collection { collection_id } => match collection::collection(reader, collection_id)?
        {
            Some(c) => may_read_collection(reader, requester, &c),
            None => regulator_or_none(reader, requester),
        },
        Query::StoreOrder { order_id } => match store::order(reader, order_id)? {
            Some(o) => may_read_store_order(reader, requester, &o),
            None => regulator_or_none(reader, requester),
        },
        Query::GuardianBinding { binding_id } | Query::GuardianStatement { binding_id, .. } => {
            match guardian::binding(reader, binding_id)? {
                Some(b) => may_read_guardian_binding(reader, requester, &b),
                None => regulator_or_none(reader, requester),
            }
        }
        Query::RegulatorAudit { .. } => may_read_regulator_audit(reader, requester),
    }
}

/// Serde helper: the nonce as lowercase hex in JSON.
mod hex_nonce {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::READ_NONCE_LEN;

    pub(super) fn serialize<S: Serializer>(
        b: &[u8; READ_NONCE_LEN],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<[u8; READ_NONCE_LEN], D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; READ_NONCE_LEN];
        hex::decode_to_slice(&s, &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
