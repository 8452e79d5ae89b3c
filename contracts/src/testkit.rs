//! A chain in memory for the contracts' unit tests: genesis, blocks, nonces.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use crate::chain::block::{tx_root, Block, Header};
use crate::chain::executor::{self, Receipt};
use crate::chain::genesis::{genesis_state, Genesis, GenesisValidator};
use crate::chain::state::{compute_app_hash_full, Entry, MemStore, StateError, StateReader};
use crate::chain::tx::{Call, SignedTx, Transaction};
use crate::governance::{Member, Role};
use crate::primitives::crypto::{Hash, PublicKey, SecretKey};
use crate::primitives::ids::{ChainId, PlatformId};
use crate::private::{may_be_sealed, seal_call, PrivateView, Vault};

pub(crate) const CHAIN: &str = "paychain-unit";

pub(crate) fn key(n: u8) -> SecretKey {
    SecretKey::from_seed([n; 32])
}

pub(crate) fn pk(n: u8) -> PublicKey {
    key(n).public_key()
}

/// The owner `owner`'s signed instruction for one top-up. The request id is derived from the
/// top-up and `salt` (deterministic, so two chains built alike agree); the same top-up twice on one
/// chain needs two salts.
pub(crate) fn mandate(
    owner: u8,
    wallet: Hash,
    amount: &crate::primitives::money::Amount,
    card_hash: Hash,
    salt: u64,
) -> crate::wallet::TopUpMandate {
    let request_id = crate::primitives::crypto::sha256(&[
        b"testkit/mandate",
        &salt.to_be_bytes(),
        &[owner],
        &wallet.0,
        &crate::primitives::codec::encode(amount),
        &card_hash.0,
    ]);
    crate::wallet::sign_top_up(
        &key(owner),
        &ChainId::new(CHAIN),
        &wallet,
        amount,
        &card_hash,
        request_id,
    )
}

/// The route of a record put with `payload`, now at `version`.
pub(crate) fn route(version: u64, payload: &[u8]) -> crate::registry::Route {
    crate::registry::Route {
        record_version: version,
        record_hash: crate::registry::payload_hash(payload),
    }
}

pub(crate) fn pid(s: &str) -> PlatformId {
    PlatformId::new(s).unwrap()
}

pub(crate) fn member(n: u8, id: &str, roles: &[Role]) -> Member {
    Member {
        id: pid(id),
        name: format!("Member {id}"),
        public_key: pk(n),
        roles: roles.iter().copied().collect::<BTreeSet<_>>(),
    }
}

#[derive(Clone)]
pub(crate) struct Chain {
    pub store: MemStore,
    pub height: u64,
    prev_block_hash: Hash,
    prev_result_root: Hash,
    nonces: BTreeMap<u8, u64>,
    /// `Some` on a chain with private state: the enclaves' keys, held here in the enclave's place.
    vault: Option<Vault>,
    /// The next serial [`Chain::certify`] issues (per chain, so serials never collide).
    next_serial: u64,
}

/// Block time of the test chain at height 0, in seconds (height h is `T0_S + h`).
pub(crate) const T0_S: u64 = 1_700_000_000;
/// Default validity of the testkit's certificates: a day before height 0 to 30 years after.
pub(crate) const CERT_NOT_BEFORE_S: u64 = T0_S - 86_400;
/// See [`CERT_NOT_BEFORE_S`].
pub(crate) const CERT_NOT_AFTER_S: u64 = T0_S + 30 * 365 * 86_400;

/// The CA key of platform `platform` in unit tests (derived from its id).
pub(crate) fn ca_key(platform: &str) -> SecretKey {
    SecretKey::from_seed(crate::primitives::crypto::sha256(&[b"testkit/ca", platform.as_bytes()]).0)
}

/// The self-signed CA certificate of platform `platform` (key [`ca_key`]).
pub(crate) fn ca_der(platform: &str) -> Vec<u8> {
    crate::ca::build_ca_cert(
        &ca_key(platform),
        &crate::ca::CaParams {
            common_name: format!("{platform} CA"),
            platform: pid(platform),
            serial: crate::ca::Serial::from_u64(1).unwrap(),
            not_before_s: CERT_NOT_BEFORE_S,
            not_after_s: CERT_NOT_AFTER_S,
        },
    )
    .unwrap()
}

/// The encryption key certified for key `n`.
pub(crate) fn enc_key(n: u8) -> crate::enclave::KxPublicKey {
    crate::enclave::KxSecret::from_seed([n; 32]).public_key()
}

/// A certificate of key `party` in `role` issued by [`ca_der`]`(platform)`.
pub(crate) fn party_der(
    platform: &str,
    party: u8,
    role: crate::ca::PartyRole,
    serial: u64,
    not_before_s: u64,
    not_after_s: u64,
) -> Vec<u8> {
    crate::ca::issue_party_cert(
        &ca_key(platform),
        &ca_der(platform),
        &crate::ca::PartyParams {
            common_name: format!("{role} {party}"),
            party_key: pk(party),
            encryption_key: enc_key(party),
            role,
            serial: crate::ca::Serial::from_u64(serial).unwrap(),
            not_before_s,
            not_after_s,
        },
    )
    .unwrap()
}

/// The state secret of the test chains with private state (an enclave's epoch-0 secret in a node).
pub(crate) const TEST_STATE_SECRET: [u8; 32] = [42; 32];

/// The contracts' view of a test chain's state: the store itself, or on a chain with private state
/// the logical view through the vault.
pub(crate) enum ChainView<'a> {
    Clear(&'a MemStore),
    Private(PrivateView<'a, MemStore>),
}

impl StateReader for ChainView<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        match self {
            ChainView::Clear(s) => s.get(key),
            ChainView::Private(v) => v.get(key),
        }
    }
    fn bucket_entries(&self, bucket: u16) -> Result<Vec<Entry>, StateError> {
        match self {
            ChainView::Clear(s) => s.bucket_entries(bucket),
            ChainView::Private(v) => v.bucket_entries(bucket),
        }
    }
    fn bucket_hash(&self, bucket: u16) -> Result<Hash, StateError> {
        match self {
            ChainView::Clear(s) => s.bucket_hash(bucket),
            ChainView::Private(v) => v.bucket_hash(bucket),
        }
    }
}

impl Chain {
    pub(crate) fn new(members: Vec<Member>) -> Chain {
        Chain::with_enclave(members, None)
    }

    /// A chain with private state: its genesis publishes the exec key of [`TEST_STATE_SECRET`], and
    /// this chain executes its blocks with the vault, as an enclave does; wallet, collection, store
    /// and guardian calls are sealed by [`Chain::tx`].
    pub(crate) fn new_private(members: Vec<Member>) -> Chain {
        let vault = Vault::from_secret(&TEST_STATE_SECRET, &ChainId::new(CHAIN)).unwrap();
        // What a genesis with `enclave.exec_public` writes, without an enclave registry (whose
        // sealed-record checks the payment fixtures' plain record payloads would not pass).
        let mut c = Chain::new(members);
        let mut ov = crate::chain::state::Overlay::new(&c.store);
        ov.put(
            executor::PRIVATE_KEY.to_vec(),
            crate::primitives::codec::encode(&vault.exec_public()),
        );
        let writes = ov.finish().unwrap();
        c.store.apply(&writes);
        c.vault = Some(vault);
        c
    }

    /// Whether this chain keeps private state.
    pub(crate) fn is_private(&self) -> bool {
        self.vault.is_some()
    }

    /// The vault of a chain with private state.
    pub(crate) fn vault(&self) -> &Vault {
        self.vault.as_ref().expect("a chain with private state")
    }

    /// The state as the contracts see it (through the vault on a chain with private state).
    pub(crate) fn state(&self) -> ChainView<'_> {
        match &self.vault {
            None => ChainView::Clear(&self.store),
            Some(v) => ChainView::Private(PrivateView::new(&self.store, v)),
        }
    }

    /// A chain whose genesis has `enclave`.
    pub(crate) fn with_enclave(
        members: Vec<Member>,
        enclave: Option<crate::enclave_registry::EnclaveGenesis>,
    ) -> Chain {
        let genesis = Genesis {
            chain_id: ChainId::new(CHAIN),
            genesis_time_ms: 1_700_000_000_000,
            validators: vec![GenesisValidator {
                name: "v0".into(),
                public_key: pk(250),
                power: 1,
            }],
            members,
            enclave,
        };
        let mut store = MemStore::new();
        store.apply(&genesis_state(&genesis).unwrap());
        Chain {
            store,
            height: 0,
            prev_block_hash: Hash::ZERO,
            prev_result_root: Hash::ZERO,
            nonces: BTreeMap::new(),
            vault: None,
            next_serial: 1000,
        }
    }

    /// Governance approves [`ca_der`]`(platform)` as `platform`'s CA: `proposer` proposes and each
    /// of `voters` approves (enough governors to pass); asserts it was executed.
    pub(crate) fn approve_ca(&mut self, proposer: u8, voters: &[u8], platform: &str) {
        use crate::governance::{Action, Call as GovCall};
        let r = self.ok(
            proposer,
            Call::Governance(GovCall::Propose {
                action: Action::ApprovePlatformCa {
                    platform: pid(platform),
                    ca_cert: crate::ca::CertDer::new(ca_der(platform)).unwrap(),
                },
            }),
        );
        let id: u64 = r.events[0]
            .attribute("proposal_id")
            .unwrap()
            .parse()
            .unwrap();
        let mut last = r;
        for &v in voters {
            last = self.ok(
                v,
                Call::Governance(GovCall::Vote {
                    proposal: id,
                    approve: true,
                }),
            );
        }
        assert!(
            last.events.iter().any(|e| e.kind == "proposal_executed"),
            "the CA of {platform} was not approved: {last:?}"
        );
    }

    /// Platform member `by` registers `der` (a certificate of key `party`, who consents).
    pub(crate) fn register_cert(&mut self, by: u8, der: Vec<u8>, party: u8) -> Receipt {
        let party_signature = crate::ca::sign_registration(&key(party), &ChainId::new(CHAIN), &der);
        self.call(
            by,
            Call::Ca(crate::ca::Call::RegisterPartyCert {
                cert: crate::ca::CertDer::new(der).unwrap(),
                party_signature,
            }),
        )
    }

    /// Platform member `by` of `platform` (whose CA [`Chain::approve_ca`] approved) certifies key
    /// `party` in `role` (a fresh serial, [`CERT_NOT_BEFORE_S`]..[`CERT_NOT_AFTER_S`]); returns the
    /// serial.
    pub(crate) fn certify(
        &mut self,
        by: u8,
        platform: &str,
        party: u8,
        role: crate::ca::PartyRole,
    ) -> u64 {
        let serial = self.next_serial;
        self.next_serial += 1;
        let der = party_der(
            platform,
            party,
            role,
            serial,
            CERT_NOT_BEFORE_S,
            CERT_NOT_AFTER_S,
        );
        let r = self.register_cert(by, der, party);
        assert!(r.is_ok(), "certifying {party} as a {role}: {r:?}");
        serial
    }

    /// Signs `call` by key `signer` with its next nonce (counting txs built but not yet run).
    pub(crate) fn tx(&mut self, signer: u8, call: Call) -> SignedTx {
        let sk = key(signer);
        let nonce = *self
            .nonces
            .entry(signer)
            .or_insert_with(|| executor::nonce(&self.store, &sk.public_key()).unwrap());
        self.nonces.insert(signer, nonce + 1);
        let call = match &self.vault {
            Some(v) if may_be_sealed(&call) => {
                // Deterministic randomness, so that two chains built alike agree.
                let seed = crate::primitives::crypto::sha256(&[
                    b"testkit/seal",
                    &[signer],
                    &nonce.to_le_bytes(),
                ]);
                let mut box_nonce = [0u8; 12];
                box_nonce.copy_from_slice(&seed.0[..12]);
                let rand = crate::enclave::BoxRandomness::new(seed.0, box_nonce);
                Call::Sealed(
                    seal_call(
                        &v.exec_public(),
                        &ChainId::new(CHAIN),
                        &sk.public_key(),
                        nonce,
                        &call,
                        &rand,
                    )
                    .unwrap(),
                )
            }
            _ => call,
        };
        SignedTx::sign(
            Transaction {
                chain_id: ChainId::new(CHAIN),
                sender: sk.public_key(),
                nonce,
                call,
            },
            &sk,
        )
    }

    /// The nonce the next tx of `signer` will carry.
    pub(crate) fn next_nonce(&self, signer: u8) -> u64 {
        self.nonces
            .get(&signer)
            .copied()
            .unwrap_or_else(|| executor::nonce(&self.store, &pk(signer)).unwrap())
    }

    pub(crate) fn block(&self, txs: Vec<SignedTx>) -> Block {
        Block {
            header: Header {
                chain_id: ChainId::new(CHAIN),
                height: self.height + 1,
                time_ms: 1_700_000_000_000 + 1000 * (self.height + 1),
                proposer: pk(250),
                prev_block_hash: self.prev_block_hash,
                prev_app_hash: self.store.app_hash(),
                prev_result_root: self.prev_result_root,
                tx_root: tx_root(&txs),
            },
            txs,
        }
    }

    pub(crate) fn run_block(&mut self, txs: Vec<SignedTx>) -> Vec<Receipt> {
        let block = self.block(txs);
        executor::validate_block(&self.store, &block).unwrap();
        let out = executor::execute_block_with(&self.store, &block, self.vault.as_ref()).unwrap();
        self.store.apply(&out.writes);
        self.height += 1;
        self.prev_block_hash = block.hash();
        self.prev_result_root = out.result_root;
        // A refused unknown sender used no nonce: its next tx reuses it.
        for (tx, r) in block.txs.iter().zip(&out.receipts) {
            if r.code == 3 {
                if let Some(n) = self.nonces.iter().find(|(n, _)| pk(**n) == tx.tx.sender) {
                    let n = *n.0;
                    self.nonces.remove(&n);
                }
            }
        }
        match &self.vault {
            None => out.receipts,
            // What the parties read: a sealed receipt opened by an enclave.
            Some(v) => out
                .receipts
                .into_iter()
                .zip(&block.txs)
                .map(|(r, tx)| open_receipt(v, r, tx))
                .collect(),
        }
    }

    /// Moves to height `h` as if empty blocks had run (an empty block writes nothing, so the state
    /// and its app hash are those of running them).
    pub(crate) fn advance_to(&mut self, h: u64) {
        if self.height < h {
            self.run_block(Vec::new());
            self.height = self.height.max(h);
        }
    }

    /// Runs one call in its own block.
    pub(crate) fn call(&mut self, signer: u8, call: Call) -> Receipt {
        let tx = self.tx(signer, call);
        self.run_block(vec![tx]).remove(0)
    }

    /// Runs one call and asserts success.
    pub(crate) fn ok(&mut self, signer: u8, call: Call) -> Receipt {
        let r = self.call(signer, call);
        assert!(r.is_ok(), "expected success, got {r:?}");
        r
    }

    /// Makes key `n` known to the chain ([`crate::chain::admission`]) as a verified user of a
    /// platform `test-onboarding` that is no member, by writing its attestation as `VerifyUser`
    /// would: a known key that is nothing else, for tests of a contract's own refusals of an
    /// outsider (an unknown key is refused before any contract runs). Fixtures with a wallet host
    /// onboard through `VerifyUser` instead.
    pub(crate) fn make_known(&mut self, n: u8) {
        let u = crate::wallet::VerifiedUser {
            user: pk(n),
            host: pid("test-onboarding"),
            name_hash: Hash::digest(&[b'n', n]),
            id_hash: Hash::digest(&[b'i', n]),
            phone_hash: Hash::digest(&[b'p', n]),
            verified_at: self.height,
            verified_at_ms: 0,
        };
        assert!(
            !self.is_private(),
            "make_known writes the store in the clear"
        );
        let mut ov = crate::chain::state::Overlay::new(&self.store);
        ov.put(
            [b"wal/user/".as_slice(), &pk(n).0[..]].concat(),
            crate::primitives::codec::encode(&u),
        );
        let writes = ov.finish().unwrap();
        self.store.apply(&writes);
        assert!(crate::chain::admission::known_sender(&self.store, &pk(n))
            .unwrap()
            .is_some());
    }

    /// Host `host` (a qualified wallet host) verifies user `n` (`VerifyUser`): the onboarding that
    /// makes the key known.
    pub(crate) fn verify_user(&mut self, host: u8, n: u8) {
        self.ok(
            host,
            Call::Wallet(crate::wallet::Call::VerifyUser {
                user: pk(n),
                name_hash: Hash::digest(&[b'n', n]),
                id_hash: Hash::digest(&[b'i', n]),
                phone_hash: Hash::digest(&[b'p', n]),
            }),
        );
    }

    pub(crate) fn check_app_hash(&self) {
        assert_eq!(
            self.store.app_hash(),
            compute_app_hash_full(&self.store).unwrap()
        );
    }
}

/// A sealed call's receipt with its message and events opened (what an entitled reader sees).
pub(crate) fn open_receipt(vault: &Vault, mut r: Receipt, tx: &SignedTx) -> Receipt {
    if !matches!(tx.tx.call, Call::Sealed(_)) {
        return r;
    }
    assert_eq!(r.events.len(), 1, "a sealed receipt has one event: {r:?}");
    assert_eq!(r.events[0].kind, executor::SEALED_EVENT);
    let blob = hex::decode(r.events[0].attribute(executor::SEALED_DETAILS).unwrap()).unwrap();
    let details = vault.open_receipt_details(&r.tx_hash, &blob).unwrap();
    r.error = details.error;
    r.events = details.events;
    r
}

/// Key numbers of the payments fixture ([`Chain::payments`]).
pub(crate) const HOST: u8 = 1;
/// The acquiring platform `acq-b`.
pub(crate) const ACQ: u8 = 2;
/// A governor-only member `gov-c`.
pub(crate) const GOV: u8 = 3;

/// An amount from a decimal string.
pub(crate) fn amt(
    v: &str,
    c: crate::primitives::money::Currency,
) -> crate::primitives::money::Amount {
    crate::primitives::money::Amount {
        value: rust_decimal::Decimal::from_str_exact(v).unwrap(),
        currency: c,
    }
}

/// An amount in CNY.
pub(crate) fn cny(v: &str) -> crate::primitives::money::Amount {
    amt(v, crate::primitives::money::Currency::CNY)
}

/// The bound card of every fixture user.
pub(crate) fn card() -> Hash {
    Hash::digest(b"card")
}

impl Chain {
    /// A chain for payment flows: `host-a` (wallet host, qualified by a governance vote),
    /// `acq-b` (acquirer of every merchant in `merchants`, with an active record, payload `[1]`, that
    /// the merchant accepted, and a merchant certificate of its CA), `gov-c`; both platforms' CAs
    /// approved ([`ca_der`], proposals 2 and 3); each user verified and certified by the host, with
    /// a wallet in its currency, a bound card and `top_up`.
    pub(crate) fn payments(
        merchants: &[(u8, &str)],
        users: &[(u8, crate::primitives::money::Currency, &str)],
    ) -> Chain {
        use crate::governance::{Action, Call as GovCall};
        use crate::registry::Call as RegCall;
        use crate::wallet::{self, Call as WalCall};
        let mut c = Chain::new(vec![
            member(HOST, "host-a", &[Role::Platform, Role::Governor]),
            member(ACQ, "acq-b", &[Role::Platform, Role::Governor]),
            member(GOV, "gov-c", &[Role::Governor]),
        ]);
        c.ok(
            HOST,
            Call::Governance(GovCall::Propose {
                action: Action::QualifyWalletHost {
                    platform: pid("host-a"),
                },
            }),
        );
        for g in [ACQ, GOV] {
            c.ok(
                g,
                Call::Governance(GovCall::Vote {
                    proposal: 1,
                    approve: true,
                }),
            );
        }
        // The host certifies its users, the acquirer its merchants (proposals 2 and 3).
        c.approve_ca(HOST, &[ACQ, GOV], "host-a");
        c.approve_ca(HOST, &[ACQ, GOV], "acq-b");
        for &(k, name) in merchants {
            c.ok(
                ACQ,
                Call::Registry(RegCall::RegisterMerchant {
                    name: name.into(),
                    city: "Shanghai".into(),
                    mcc: "5812".into(),
                    country: "CN".into(),
                    merchant_key: pk(k),
                }),
            );
            c.ok(
                ACQ,
                Call::Registry(RegCall::PutRecord {
                    merchant_id: crate::primitives::ids::MerchantId::derive(&pk(k)),
                    payload: vec![1],
                }),
            );
            c.ok(
                k,
                Call::Registry(RegCall::AcceptAcquirer {
                    platform_id: pid("acq-b"),
                }),
            );
            c.certify(ACQ, "acq-b", k, crate::ca::PartyRole::Merchant);
        }
        for &(u, currency, top) in users {
            c.ok(
                HOST,
                Call::Wallet(WalCall::VerifyUser {
                    user: pk(u),
                    name_hash: Hash::digest(&[b'n', u]),
                    id_hash: Hash::digest(&[b'i', u]),
                    phone_hash: Hash::digest(&[b'p', u]),
                }),
            );
            if crate::ca::party_cert(&c.store, &pk(u)).unwrap().is_none() {
                c.certify(HOST, "host-a", u, crate::ca::PartyRole::User);
            }
            c.ok(
                HOST,
                Call::Wallet(WalCall::OpenWallet {
                    user: pk(u),
                    currency,
                }),
            );
            let b = wallet::card_binding_id(&pk(HOST), c.next_nonce(HOST));
            c.ok(
                HOST,
                Call::Wallet(WalCall::RequestCardBinding {
                    user: pk(u),
                    card_hash: card(),
                    otp_commitment: wallet::otp_commitment(&b, "123456"),
                }),
            );
            c.ok(
                u,
                Call::Wallet(WalCall::ConfirmCardBinding {
                    binding_id: b,
                    otp: "123456".into(),
                }),
            );
            c.ok(
                HOST,
                Call::Wallet(WalCall::TopUp {
                    wallet: wallet::wallet_id(&pk(u), currency),
                    amount: amt(top, currency),
                    card_hash: card(),
                    mandate: mandate(
                        u,
                        wallet::wallet_id(&pk(u), currency),
                        &amt(top, currency),
                        card(),
                        0,
                    ),
                }),
            );
        }
        c
    }
}
