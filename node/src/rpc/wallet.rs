//! [`WalletApiServer`]: wallets, balances, statements, payments, card bindings and governance
//! proposals (read-only).

use jsonrpsee::core::RpcResult;
use jsonrpsee::types::ErrorObjectOwned;
use paychain_api::wallet::{DEFAULT_CERTIFICATES, MAX_CERTIFICATES};
use paychain_api::{
    method, BalanceView, CertificateRef, CertificatesView, ErrorCode, Param, PaymentView,
    ProposalView, UserWalletsView, WalletApiServer,
};
use paychain_contracts::crypto::{Hash, PublicKey};
use paychain_contracts::governance;
use paychain_contracts::ids::{MerchantId, PlatformId};
use paychain_contracts::money::Currency;
use paychain_contracts::reads::{Query, SealedReply};
use paychain_contracts::registry;
use paychain_contracts::wallet::{self, Account, AccountState, HostQualification, MovementKind};

use super::reads::query;
use super::{internal, Rpc};
use crate::shared::Shared;

/// Statement pages (of [`wallet::MAX_STATEMENT_ENTRIES`]) read per account by `paychain_certificates`.
const MAX_PAGES: usize = 16;

impl WalletApiServer for Rpc {
    fn wallet(&self, read: Param<String>) -> RpcResult<SealedReply> {
        self.signed_read(method::WALLET, read, |rpc, r| {
            let id = query!(r, Query::Wallet { wallet_id } => *wallet_id);
            wallet::wallet_view(&rpc.shared.storage, &id)
                .map_err(internal)?
                .ok_or_else(|| ErrorCode::UnknownWallet.err(format!("unknown wallet {id}")))
        })
    }

    fn wallets(&self, read: Param<String>) -> RpcResult<SealedReply> {
        self.signed_read(method::WALLETS, read, |rpc, r| {
            let user = query!(r, Query::Wallets { user } => *user);
            let storage = &rpc.shared.storage;
            let verification = wallet::user(storage, &user).map_err(internal)?;
            let mut views = Vec::new();
            for w in wallet::wallets_of(storage, &user).map_err(internal)? {
                if let Some(v) = wallet::wallet_view(storage, &w.id).map_err(internal)? {
                    views.push(v);
                }
            }
            Ok(UserWalletsView {
                user,
                verification,
                wallets: views,
            })
        })
    }

    fn wallet_host(&self, platform_id: Param<PlatformId>) -> RpcResult<HostQualification> {
        let platform = platform_id.parsed("platform id", "a platform id")?;
        wallet::host(&self.shared.storage, &platform)
            .map_err(internal)?
            .ok_or_else(|| {
                ErrorCode::NotWalletHost.err(format!(
                    "platform {platform} is not a qualified wallet host"
                ))
            })
    }

    fn balance(&self, read: Param<String>) -> RpcResult<SealedReply> {
        self.signed_read(method::BALANCE, read, |rpc, r| {
            let account = query!(r, Query::Balance { account } => account.clone());
            let storage = &rpc.shared.storage;
            let currency = wallet::account_currency(storage, &account).map_err(internal)?;
            let state = match wallet::account_state(storage, &account).map_err(internal)? {
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
        })
    }

    fn statement(&self, read: Param<String>) -> RpcResult<SealedReply> {
        self.signed_read(method::STATEMENT, read, |rpc, r| {
            let (account, from, to) = query!(r, Query::Statement {
                account,
                from_height,
                to_height,
            } => (account, *from_height, *to_height));
            let to = to.unwrap_or_else(|| rpc.shared.tip().height);
            if from > to {
                return Err(ErrorCode::InvalidParams.err(format!(
                    "invalid height range: from {from} is above to {to}"
                )));
            }
            wallet::statement(&rpc.shared.storage, account, from, to).map_err(internal)
        })
    }

    fn payment(&self, read: Param<String>) -> RpcResult<SealedReply> {
        self.signed_read(method::PAYMENT, read, |rpc, r| {
            let id = query!(r, Query::Payment { payment_id } => *payment_id);
            payment_view(rpc, &id)
        })
    }

    fn order(&self, read: Param<String>) -> RpcResult<SealedReply> {
        self.signed_read(method::ORDER, read, |rpc, r| {
            let (merchant, order_ref) = query!(r, Query::Order {
                merchant_id,
                order_ref,
            } => (merchant_id, order_ref.as_str()));
            let storage = &rpc.shared.storage;
            let paid = wallet::payment_for_order(storage, merchant, order_ref).map_err(internal)?;
            let view = match paid {
                Some(p) => wallet::payment_view(storage, &p.id).map_err(internal)?,
                None => None,
            };
            view.ok_or_else(|| {
                ErrorCode::OrderNotPaid.err(format!(
                    "order {} of merchant {merchant} is not paid",
                    paychain_api::quote(order_ref)
                ))
            })
        })
    }

    fn card_binding(&self, read: Param<String>) -> RpcResult<SealedReply> {
        self.signed_read(method::CARD_BINDING, read, |rpc, r| {
            let id = query!(r, Query::CardBinding { binding_id } => *binding_id);
            wallet::card_binding(&rpc.shared.storage, &id)
                .map_err(internal)?
                .ok_or_else(|| {
                    ErrorCode::UnknownCardBinding.err(format!("unknown card binding {id}"))
                })
        })
    }

    fn proposal(&self, id: Param<u64>) -> RpcResult<ProposalView> {
        let id = id.value("proposal id")?;
        let height = self.shared.tip().height;
        governance::proposal(&self.shared.storage, id)
            .map_err(internal)?
            .map(|p| ProposalView::new(p, height))
            .ok_or_else(|| ErrorCode::UnknownProposal.err(format!("unknown proposal {id}")))
    }

    fn proposals(&self) -> RpcResult<Vec<ProposalView>> {
        let height = self.shared.tip().height;
        Ok(governance::proposals(&self.shared.storage)
            .map_err(internal)?
            .into_iter()
            .map(|p| ProposalView::new(p, height))
            .collect())
    }

    fn certificates(&self, read: Param<String>) -> RpcResult<SealedReply> {
        self.signed_read(method::CERTIFICATES, read, |rpc, r| {
            let (public_key, limit) =
                query!(r, Query::Certificates { public_key, limit } => (*public_key, *limit));
            let limit = limit
                .map_or(DEFAULT_CERTIFICATES, |l| l as usize)
                .min(MAX_CERTIFICATES);
            certificates(&rpc.shared, public_key, limit)
        })
    }
}

fn payment_view(rpc: &Rpc, id: &Hash) -> RpcResult<PaymentView> {
    wallet::payment_view(&rpc.shared.storage, id)
        .map_err(internal)?
        .ok_or_else(|| ErrorCode::UnknownPayment.err(format!("unknown payment {id}")))
}

fn certificates(s: &Shared, public_key: PublicKey, limit: usize) -> RpcResult<CertificatesView> {
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

/// Payment and refund entries of `account` (bounded by [`MAX_PAGES`] statement pages).
fn movements(
    shared: &Shared,
    account: &Account,
    role: &'static str,
    out: &mut Vec<CertificateRef>,
) -> Result<bool, ErrorObjectOwned> {
    let mut from = 0;
    for _ in 0..MAX_PAGES {
        let page = wallet::statement(&shared.storage, account, from, u64::MAX).map_err(internal)?;
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
