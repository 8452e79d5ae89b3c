//! JSON-RPC queries of wallets, payments, card bindings and governance proposals (read-only).
//!
//! Methods (positional params; errors are one line, codes 3001..=3099 for "not found"):
//!
//! | method | params | answer |
//! |---|---|---|
//! | `paychain_wallet` | `[wallet_id]` | [`WalletView`] (3001 unknown wallet) |
//! | `paychain_wallets` | `[user_pubkey]` | [`UserWalletsView`]: the user's attestation and wallets |
//! | `paychain_walletHost` | `[platform_id]` | [`HostQualification`] (3007 not a wallet host) |
//! | `paychain_balance` | `[account]` | [`BalanceView`] |
//! | `paychain_statement` | `[account, from_height?, to_height?]` | [`StatementView`] (to defaults to the tip) |
//! | `paychain_payment` | `[payment_id]` | [`PaymentView`] (3003 unknown payment) |
//! | `paychain_order` | `[merchant_id, order_ref]` | [`PaymentView`] (3004 order not paid) |
//! | `paychain_cardBinding` | `[binding_id]` | [`CardBinding`] (3005 unknown binding) |
//! | `paychain_proposal` | `[id]` | [`ProposalView`] (3006 unknown proposal) |
//! | `paychain_proposals` | `[]` | every [`ProposalView`], by id |
//! | `paychain_certificates` | `[pubkey, limit?]` | [`CertificatesView`]: payment, refund and split-bill (share, completion, refund) txs of the key as payer (its wallets) and as payee (the merchant it is the key of), newest first |
//!
//! An `account` is the JSON of [`Account`]: `{"wallet":{"id":HEX}}`,
//! `{"to_be_settled":{"merchant_id":"M…","acquirer":"platform-0","currency":"CNY"}}` or
//! `{"clearing":{"platform":"platform-0","currency":"CNY"}}`.
//!
//! The views that `paychain_contracts::api` has no type for are defined here and mirrored by the
//! client SDK (`paychain_client::wallet`).

use std::sync::Arc;

use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::RpcModule;
use paychain_contracts::api::{
    BalanceView, CertificateRef, CertificatesView, PaymentView, ProposalView, StatementView,
    UserWalletsView, WalletView,
};
use paychain_contracts::crypto::{Hash, PublicKey};
use paychain_contracts::governance;
use paychain_contracts::ids::{MerchantId, PlatformId};
use paychain_contracts::money::Currency;
use paychain_contracts::registry;
use paychain_contracts::wallet::{
    self, Account, AccountState, CardBinding, HostQualification, MovementKind,
};

use crate::node::Shared;

/// Error codes of these methods.
pub mod code {
    /// Malformed params (JSON-RPC standard).
    pub const INVALID_PARAMS: i32 = -32602;
    /// Storage trouble on the node.
    pub const INTERNAL: i32 = -32603;
    pub const UNKNOWN_WALLET: i32 = 3001;
    pub const UNKNOWN_PAYMENT: i32 = 3003;
    pub const ORDER_NOT_PAID: i32 = 3004;
    pub const UNKNOWN_BINDING: i32 = 3005;
    pub const UNKNOWN_PROPOSAL: i32 = 3006;
    pub const NOT_WALLET_HOST: i32 = 3007;
}

/// Default and largest `limit` of `paychain_certificates`.
pub const DEFAULT_CERTIFICATES: usize = 100;
/// Largest `limit` of `paychain_certificates`.
pub const MAX_CERTIFICATES: usize = 1000;
/// Statement pages (of [`wallet::MAX_STATEMENT_ENTRIES`]) read per account by `paychain_certificates`.
const MAX_PAGES: usize = 16;

fn err(code: i32, msg: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, msg.into(), None::<()>)
}

fn internal(e: impl std::fmt::Display) -> ErrorObjectOwned {
    err(code::INTERNAL, format!("node storage error: {e}"))
}

/// Positional params, read in order with a readable error per parameter (shared by the other
/// `rpc_*` modules).
pub(crate) struct Args<'a>(jsonrpsee::types::params::ParamsSequence<'a>);

impl<'a> Args<'a> {
    pub(crate) fn new(params: &'a Params<'a>) -> Self {
        Args(params.sequence())
    }

    pub(crate) fn next<T: serde::de::DeserializeOwned>(
        &mut self,
        what: &str,
    ) -> Result<T, ErrorObjectOwned> {
        self.0.next::<T>().map_err(|e| {
            err(
                code::INVALID_PARAMS,
                format!("invalid {what}: {}", e.message()),
            )
        })
    }

    pub(crate) fn optional<T: serde::de::DeserializeOwned>(
        &mut self,
        what: &str,
    ) -> Result<Option<T>, ErrorObjectOwned> {
        self.0.optional_next::<T>().map_err(|e| {
            err(
                code::INVALID_PARAMS,
                format!("invalid {what}: {}", e.message()),
            )
        })
    }

    pub(crate) fn parsed<T: std::str::FromStr>(
        &mut self,
        what: &str,
        expected: &str,
    ) -> Result<T, ErrorObjectOwned> {
        let s: String = self.next(what)?;
        s.parse().map_err(|_| {
            err(
                code::INVALID_PARAMS,
                format!("invalid {what} {s:?}: expected {expected}"),
            )
        })
    }
}

pub(crate) const HEX64: &str = "64 hex characters";

fn wallet_view(s: &Shared, p: &Params<'_>) -> Result<WalletView, ErrorObjectOwned> {
    let id: Hash = Args::new(p).parsed("wallet id", HEX64)?;
    wallet::wallet_view(&s.storage, &id)
        .map_err(internal)?
        .ok_or_else(|| err(code::UNKNOWN_WALLET, format!("unknown wallet {id}")))
}

fn wallets(s: &Shared, p: &Params<'_>) -> Result<UserWalletsView, ErrorObjectOwned> {
    let user: PublicKey = Args::new(p).parsed("user public key", HEX64)?;
    let verification = wallet::user(&s.storage, &user).map_err(internal)?;
    let mut views = Vec::new();
    for w in wallet::wallets_of(&s.storage, &user).map_err(internal)? {
        if let Some(v) = wallet::wallet_view(&s.storage, &w.id).map_err(internal)? {
            views.push(v);
        }
    }
    Ok(UserWalletsView {
        user,
        verification,
        wallets: views,
    })
}

fn wallet_host(s: &Shared, p: &Params<'_>) -> Result<HostQualification, ErrorObjectOwned> {
    let platform: PlatformId = Args::new(p).parsed("platform id", "a platform id")?;
    wallet::host(&s.storage, &platform)
        .map_err(internal)?
        .ok_or_else(|| {
            err(
                code::NOT_WALLET_HOST,
                format!("platform {platform} is not a qualified wallet host"),
            )
        })
}

fn balance(s: &Shared, p: &Params<'_>) -> Result<BalanceView, ErrorObjectOwned> {
    let account: Account = Args::new(p).next("account")?;
    let currency = wallet::account_currency(&s.storage, &account).map_err(internal)?;
    let state = match wallet::account_state(&s.storage, &account).map_err(internal)? {
        Some(st) => Some(st),
        None => currency.map(|currency| AccountState {
            currency,
            balance: Default::default(),
            entries: 0,
        }),
    };
    Ok(BalanceView {
        account,
        currency,
        state,
    })
}

fn statement(s: &Shared, p: &Params<'_>) -> Result<StatementView, ErrorObjectOwned> {
    let mut args = Args::new(p);
    let account: Account = args.next("account")?;
    let from: u64 = args.optional("from height")?.unwrap_or(0);
    let to: u64 = match args.optional("to height")? {
        Some(h) => h,
        None => s.tip().height,
    };
    if from > to {
        return Err(err(
            code::INVALID_PARAMS,
            format!("invalid height range: from {from} is above to {to}"),
        ));
    }
    wallet::statement(&s.storage, &account, from, to).map_err(internal)
}

fn payment(s: &Shared, p: &Params<'_>) -> Result<PaymentView, ErrorObjectOwned> {
    let id: Hash = Args::new(p).parsed("payment id", HEX64)?;
    wallet::payment_view(&s.storage, &id)
        .map_err(internal)?
        .ok_or_else(|| err(code::UNKNOWN_PAYMENT, format!("unknown payment {id}")))
}

fn order(s: &Shared, p: &Params<'_>) -> Result<PaymentView, ErrorObjectOwned> {
    let mut args = Args::new(p);
    let merchant: String = args.next("merchant id")?;
    let merchant = MerchantId::parse(&merchant).map_err(|e| {
        err(
            code::INVALID_PARAMS,
            format!("invalid merchant id {merchant:?}: {e}"),
        )
    })?;
    let order_ref: String = args.next("order reference")?;
    let paid = wallet::payment_for_order(&s.storage, &merchant, &order_ref).map_err(internal)?;
    let view = match paid {
        Some(p) => wallet::payment_view(&s.storage, &p.id).map_err(internal)?,
        None => None,
    };
    view.ok_or_else(|| {
        err(
            code::ORDER_NOT_PAID,
            format!("order {order_ref:?} of merchant {merchant} is not paid"),
        )
    })
}

fn card_binding(s: &Shared, p: &Params<'_>) -> Result<CardBinding, ErrorObjectOwned> {
    let id: Hash = Args::new(p).parsed("card binding id", HEX64)?;
    wallet::card_binding(&s.storage, &id)
        .map_err(internal)?
        .ok_or_else(|| err(code::UNKNOWN_BINDING, format!("unknown card binding {id}")))
}

fn proposal(s: &Shared, p: &Params<'_>) -> Result<ProposalView, ErrorObjectOwned> {
    let id: u64 = Args::new(p).next("proposal id")?;
    let height = s.tip().height;
    governance::proposal(&s.storage, id)
        .map_err(internal)?
        .map(|p| ProposalView::new(p, height))
        .ok_or_else(|| err(code::UNKNOWN_PROPOSAL, format!("unknown proposal {id}")))
}

fn proposals(s: &Shared) -> Result<Vec<ProposalView>, ErrorObjectOwned> {
    let height = s.tip().height;
    Ok(governance::proposals(&s.storage)
        .map_err(internal)?
        .into_iter()
        .map(|p| ProposalView::new(p, height))
        .collect())
}

/// Payment and refund entries of `account` (bounded by [`MAX_PAGES`] statement pages).
fn movements(
    s: &Shared,
    account: &Account,
    role: &'static str,
    out: &mut Vec<CertificateRef>,
) -> Result<bool, ErrorObjectOwned> {
    let mut from = 0;
    for _ in 0..MAX_PAGES {
        let page = wallet::statement(&s.storage, account, from, u64::MAX).map_err(internal)?;
        for e in &page.entries {
            if matches!(
                e.kind,
                MovementKind::Payment
                    | MovementKind::Refund
                    | MovementKind::CollectionShare
                    | MovementKind::CollectionCompleted
                    | MovementKind::CollectionRefund
            ) {
                out.push(CertificateRef {
                    tx_hash: e.tx_hash,
                    role: role.to_string(),
                    kind: e.kind,
                    height: e.height,
                    amount: e.amount,
                    reference: e.reference.clone(),
                });
            }
        }
        match (page.truncated, page.entries.last()) {
            (true, Some(last)) => from = last.height.saturating_add(1),
            _ => return Ok(false),
        }
    }
    Ok(true)
}

fn certificates(s: &Shared, p: &Params<'_>) -> Result<CertificatesView, ErrorObjectOwned> {
    let mut args = Args::new(p);
    let public_key: PublicKey = args.parsed("public key", HEX64)?;
    let limit: usize = args
        .optional::<usize>("limit")?
        .unwrap_or(DEFAULT_CERTIFICATES)
        .min(MAX_CERTIFICATES);
    let mut refs = Vec::new();
    let mut truncated = false;
    for w in wallet::wallets_of(&s.storage, &public_key).map_err(internal)? {
        truncated |= movements(s, &Account::Wallet { id: w.id }, "payer", &mut refs)?;
    }
    let candidate = MerchantId::derive(&public_key);
    let merchant_id = registry::merchant(&s.storage, &candidate)
        .map_err(internal)?
        .map(|m| m.id);
    if let Some(id) = &merchant_id {
        // Acquirers that stopped serving the merchant keep its history: every member is tried.
        for member in governance::members(&s.storage).map_err(internal)? {
            for currency in Currency::supported() {
                let account = Account::ToBeSettled {
                    merchant_id: id.clone(),
                    acquirer: member.id.clone(),
                    currency,
                };
                if wallet::account_state(&s.storage, &account)
                    .map_err(internal)?
                    .is_some()
                {
                    truncated |= movements(s, &account, "payee", &mut refs)?;
                }
            }
        }
    }
    refs.sort_by(|a, b| b.height.cmp(&a.height).then(a.tx_hash.cmp(&b.tx_hash)));
    if refs.len() > limit {
        refs.truncate(limit);
        truncated = true;
    }
    Ok(CertificatesView {
        public_key,
        merchant_id,
        certificates: refs,
        truncated,
    })
}

/// Registers the methods above on the node's RPC module.
pub(crate) fn register(
    m: &mut RpcModule<Arc<Shared>>,
) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    m.register_method("paychain_wallet", |p, s, _| wallet_view(s, &p))?;
    m.register_method("paychain_wallets", |p, s, _| wallets(s, &p))?;
    m.register_method("paychain_walletHost", |p, s, _| wallet_host(s, &p))?;
    m.register_method("paychain_balance", |p, s, _| balance(s, &p))?;
    m.register_method("paychain_statement", |p, s, _| statement(s, &p))?;
    m.register_method("paychain_payment", |p, s, _| payment(s, &p))?;
    m.register_method("paychain_order", |p, s, _| order(s, &p))?;
    m.register_method("paychain_cardBinding", |p, s, _| card_binding(s, &p))?;
    m.register_method("paychain_proposal", |p, s, _| proposal(s, &p))?;
    m.register_method("paychain_proposals", |_, s, _| proposals(s))?;
    m.register_method("paychain_certificates", |p, s, _| certificates(s, &p))?;
    Ok(())
}
