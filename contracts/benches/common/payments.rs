//! The payments fixture of the baseline benchmark (`benches/baseline.rs`), shared with the test
//! that keeps it valid (`tests/it/bench_fixture.rs`): a host, an acquirer with one certified
//! merchant, and [`PAY_BLOCK`] verified, certified, funded users; and the block of one payment
//! from each, on a chain in the clear or with private state.

use std::collections::BTreeSet;

use paychain_contracts::block::{tx_root, Block, Header};
use paychain_contracts::crypto::{Hash, SecretKey};
use paychain_contracts::enclave::{BoxRandomness, KxSecret};
use paychain_contracts::executor::{self, execute_block_with};
use paychain_contracts::genesis::{genesis_state, Genesis, GenesisValidator};
use paychain_contracts::governance::{self, Action, Member, Role};
use paychain_contracts::ids::{ChainId, MerchantId, PlatformId};
use paychain_contracts::money::{Amount, Currency};
use paychain_contracts::private::{may_be_sealed, seal_call, Vault};
use paychain_contracts::state::{MemStore, Overlay};
use paychain_contracts::tx::{Call, SignedTx, Transaction};
use paychain_contracts::{ca, registry, wallet};

/// Payments per block.
pub(crate) const PAY_BLOCK: usize = 200;
/// Validity of the bench's certificates (the blocks' times are from 1_700_000_000 s on).
const CERT_FROM_S: u64 = 1_690_000_000;
const CERT_UNTIL_S: u64 = 1_900_000_000;

fn key(n: u32) -> SecretKey {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&n.to_le_bytes());
    seed[31] = 1;
    SecretKey::from_seed(seed)
}

fn cny(v: &str) -> Amount {
    Amount {
        value: v.parse().expect("an amount"),
        currency: Currency::CNY,
    }
}

pub(crate) struct Chain {
    pub(crate) store: MemStore,
    height: u64,
    pub(crate) vault: Option<Vault>,
    chain: ChainId,
}

impl Chain {
    fn tx(&self, signer: &SecretKey, call: Call) -> SignedTx {
        let nonce = executor::nonce(&self.store, &signer.public_key()).expect("nonce");
        self.tx_at(signer, nonce, call)
    }

    fn tx_at(&self, signer: &SecretKey, nonce: u64, call: Call) -> SignedTx {
        let call = match &self.vault {
            Some(v) if may_be_sealed(&call) => {
                let mut n = [0u8; 12];
                n[..8].copy_from_slice(&nonce.to_le_bytes());
                let rand = BoxRandomness::new(signer.public_key().0, n);
                Call::Sealed(
                    seal_call(
                        &v.exec_public(),
                        &self.chain,
                        &signer.public_key(),
                        nonce,
                        &call,
                        &rand,
                    )
                    .expect("seal"),
                )
            }
            _ => call,
        };
        SignedTx::sign(
            Transaction {
                chain_id: self.chain.clone(),
                sender: signer.public_key(),
                nonce,
                call,
            },
            signer,
        )
    }

    pub(crate) fn block(&self, txs: Vec<SignedTx>) -> Block {
        Block {
            header: Header {
                chain_id: self.chain.clone(),
                height: self.height + 1,
                time_ms: 1_700_000_000_000 + 1000 * (self.height + 1),
                proposer: key(0).public_key(),
                prev_block_hash: Hash::ZERO,
                prev_app_hash: self.store.app_hash(),
                prev_result_root: Hash::ZERO,
                tx_root: tx_root(&txs),
            },
            txs,
        }
    }

    fn run(&mut self, txs: Vec<SignedTx>) {
        let block = self.block(txs);
        let out = execute_block_with(&self.store, &block, self.vault.as_ref()).expect("execute");
        if let Some(r) = out.receipts.iter().find(|r| r.code != 0) {
            panic!(
                "setup transaction {} at height {} refused: code {}, {}",
                r.index,
                r.height,
                r.code,
                r.error.as_deref().unwrap_or("")
            );
        }
        self.store.apply(&out.writes);
        self.height += 1;
    }
}

/// A host, an acquirer with one merchant, and [`PAY_BLOCK`] funded users; and the block of one
/// payment from each.
pub(crate) fn setup(private: bool) -> (Chain, Block) {
    setup_n(private, PAY_BLOCK)
}

/// [`setup`] with `payers` users (and payments).
pub(crate) fn setup_n(private: bool, payers: usize) -> (Chain, Block) {
    let chain = ChainId::new("paychain-bench");
    let (host, acq, gov, merchant) = (key(1), key(2), key(3), key(4));
    let member = |k: &SecretKey, id: &str, roles: &[Role]| Member {
        id: PlatformId::new(id).expect("id"),
        name: id.into(),
        public_key: k.public_key(),
        roles: roles.iter().copied().collect::<BTreeSet<_>>(),
    };
    let genesis = Genesis {
        chain_id: chain.clone(),
        genesis_time_ms: 1_700_000_000_000,
        validators: vec![GenesisValidator {
            name: "v0".into(),
            public_key: key(0).public_key(),
            power: 1,
        }],
        members: vec![
            member(&host, "host-a", &[Role::Platform, Role::Governor]),
            member(&acq, "acq-b", &[Role::Platform, Role::Governor]),
            member(&gov, "gov-c", &[Role::Governor]),
        ],
        enclave: None,
    };
    let mut store = MemStore::new();
    store.apply(&genesis_state(&genesis).expect("genesis"));
    let vault = private.then(|| Vault::from_secret(&[42; 32], &chain).expect("vault"));
    if let Some(v) = &vault {
        // What a genesis with an exec key writes.
        let mut ov = Overlay::new(&store);
        ov.put(
            executor::PRIVATE_KEY.to_vec(),
            paychain_contracts::codec::encode(&v.exec_public()),
        );
        let w = ov.finish().expect("write");
        store.apply(&w);
    }
    let mut c = Chain {
        store,
        height: 0,
        vault,
        chain,
    };
    let host_id = PlatformId::new("host-a").expect("id");
    let acq_id = PlatformId::new("acq-b").expect("id");
    c.run(vec![c.tx(
        &host,
        Call::Governance(governance::Call::Propose {
            action: Action::QualifyWalletHost {
                platform: host_id.clone(),
            },
        }),
    )]);
    for g in [&acq, &gov] {
        c.run(vec![c.tx(
            g,
            Call::Governance(governance::Call::Vote {
                proposal: 1,
                approve: true,
            }),
        )]);
    }
    // Each platform's CA, approved by governance (proposals 2 and 3): wallets open and
    // payments go through only for parties their platform's CA certified.
    let ca_key = |id: &str| SecretKey::from_seed(Hash::digest(id.as_bytes()).0);
    let ca_der = |id: &str| {
        ca::build_ca_cert(
            &ca_key(id),
            &ca::CaParams {
                common_name: format!("{id} CA"),
                platform: PlatformId::new(id).expect("id"),
                serial: ca::Serial::from_u64(1).expect("serial"),
                not_before_s: CERT_FROM_S,
                not_after_s: CERT_UNTIL_S,
            },
        )
        .expect("a CA certificate")
    };
    for (proposal, (by, id)) in (2..).zip([(&host, "host-a"), (&acq, "acq-b")]) {
        c.run(vec![c.tx(
            by,
            Call::Governance(governance::Call::Propose {
                action: Action::ApprovePlatformCa {
                    platform: PlatformId::new(id).expect("id"),
                    ca_cert: ca::CertDer::new(ca_der(id)).expect("der"),
                },
            }),
        )]);
        for g in [&host, &acq, &gov]
            .into_iter()
            .filter(|g| g.public_key() != by.public_key())
        {
            c.run(vec![c.tx(
                g,
                Call::Governance(governance::Call::Vote {
                    proposal,
                    approve: true,
                }),
            )]);
        }
    }
    // A registration of `party`'s certificate from platform `id`, by `by` (the next nonce `n`).
    let certify = |c: &Chain, by: &SecretKey, n: u64, id: &str, party: &SecretKey, role, serial| {
        let der = ca::issue_party_cert(
            &ca_key(id),
            &ca_der(id),
            &ca::PartyParams {
                common_name: format!("bench party {serial}"),
                party_key: party.public_key(),
                encryption_key: KxSecret::from_seed(party.public_key().0).public_key(),
                role,
                serial: ca::Serial::from_u64(serial).expect("serial"),
                not_before_s: CERT_FROM_S,
                not_after_s: CERT_UNTIL_S,
            },
        )
        .expect("a party certificate");
        let party_signature = ca::sign_registration(party, &c.chain, &der);
        c.tx_at(
            by,
            n,
            Call::Ca(ca::Call::RegisterPartyCert {
                cert: ca::CertDer::new(der).expect("der"),
                party_signature,
            }),
        )
    };
    let merchant_id = MerchantId::derive(&merchant.public_key());
    c.run(vec![c.tx(
        &acq,
        Call::Registry(registry::Call::RegisterMerchant {
            name: "Bench Noodles".into(),
            city: "Shanghai".into(),
            mcc: "5812".into(),
            country: "CN".into(),
            merchant_key: merchant.public_key(),
        }),
    )]);
    c.run(vec![c.tx(
        &acq,
        Call::Registry(registry::Call::PutRecord {
            merchant_id: merchant_id.clone(),
            payload: vec![1],
        }),
    )]);
    c.run(vec![c.tx(
        &merchant,
        Call::Registry(registry::Call::AcceptAcquirer {
            platform_id: acq_id.clone(),
        }),
    )]);
    let acq_nonce = executor::nonce(&c.store, &acq.public_key()).expect("nonce");
    c.run(vec![certify(
        &c,
        &acq,
        acq_nonce,
        "acq-b",
        &merchant,
        ca::PartyRole::Merchant,
        2,
    )]);
    let users: Vec<SecretKey> = (0..payers as u32).map(|i| key(100 + i)).collect();
    let card = Hash::digest(b"card");
    let host_nonce = |c: &Chain| executor::nonce(&c.store, &host.public_key()).expect("nonce");
    // Host: verify, certify, open, request a card binding, per user (one block of them).
    let mut txs = Vec::new();
    let mut n = host_nonce(&c);
    let mut bindings = Vec::new();
    for (serial, u) in (10..).zip(&users) {
        txs.push(c.tx_at(
            &host,
            n,
            Call::Wallet(wallet::Call::VerifyUser {
                user: u.public_key(),
                name_hash: Hash::digest(&u.public_key().0),
                id_hash: Hash::digest(b"id"),
                phone_hash: Hash::digest(b"phone"),
            }),
        ));
        txs.push(certify(
            &c,
            &host,
            n + 1,
            "host-a",
            u,
            ca::PartyRole::User,
            serial,
        ));
        txs.push(c.tx_at(
            &host,
            n + 2,
            Call::Wallet(wallet::Call::OpenWallet {
                user: u.public_key(),
                currency: Currency::CNY,
            }),
        ));
        let binding = wallet::card_binding_id(&host.public_key(), n + 3);
        txs.push(c.tx_at(
            &host,
            n + 3,
            Call::Wallet(wallet::Call::RequestCardBinding {
                user: u.public_key(),
                card_hash: card,
                otp_commitment: wallet::otp_commitment(&binding, "123456"),
            }),
        ));
        bindings.push(binding);
        n += 4;
    }
    c.run(txs);
    let txs = users
        .iter()
        .zip(&bindings)
        .map(|(u, b)| {
            c.tx(
                u,
                Call::Wallet(wallet::Call::ConfirmCardBinding {
                    binding_id: *b,
                    otp: "123456".into(),
                }),
            )
        })
        .collect();
    c.run(txs);
    let mut txs = Vec::new();
    for (n, (i, u)) in (host_nonce(&c)..).zip(users.iter().enumerate()) {
        let w = wallet::wallet_id(&u.public_key(), Currency::CNY);
        let amount = cny("100.00");
        let mandate = wallet::sign_top_up(
            u,
            &c.chain,
            &w,
            &amount,
            &card,
            Hash::digest(&(i as u64).to_le_bytes()),
        );
        txs.push(c.tx_at(
            &host,
            n,
            Call::Wallet(wallet::Call::TopUp {
                wallet: w,
                amount,
                card_hash: card,
                mandate,
            }),
        ));
    }
    c.run(txs);
    let route = registry::Route {
        record_version: 1,
        record_hash: registry::payload_hash(&[1]),
    };
    let pays = users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            c.tx(
                u,
                Call::Wallet(wallet::Call::Pay {
                    from_wallet: wallet::wallet_id(&u.public_key(), Currency::CNY),
                    merchant_id: merchant_id.clone(),
                    acquirer: acq_id.clone(),
                    amount: cny("1.00"),
                    order_ref: format!("BENCH-{i}"),
                    route,
                }),
            )
        })
        .collect();
    let block = c.block(pays);
    let _ = host_id;
    (c, block)
}
