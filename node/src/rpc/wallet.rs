//! [`WalletApiServer`]: wallets, balances, statements, payments, card bindings and governance
//! proposals (read-only).

use jsonrpsee::core::RpcResult;
use jsonrpsee::types::ErrorObjectOwned;
use paychain_api::wallet::{DEFAULT_CERTIFICATES, MAX_CERTIFICATES};
use paychain_api::{
    BalanceView, CertificateRef, CertificatesView, ErrorCode, Param, PaymentView, ProposalView,
    StatementView, UserWalletsView, WalletApiServer, WalletView,
};
use paychain_contracts::crypto::{Hash, PublicKey};
use paychain_contracts::governance;
use paychain_contracts::ids::{MerchantId, PlatformId};
use paychain_contracts::money::Currency;
use paychain_contracts::registry;
use paychain_contracts::wallet::{
    self, Account, AccountState, CardBinding, HostQualification, MovementKind,
};

use super::chain::HEX64;
use super::{internal, Rpc};
use crate::shared::Shared;

/// Statement pages (of [`wallet::MAX_STATEMENT_ENTRIES`]) read per account by `paychain_certificates`.
const MAX_PAGES: usize = 16;

impl WalletApiServer for Rpc {
    fn wallet(&self, wallet_id: Param<Hash>) -> RpcResult<WalletView> {
        let id = wallet_id.parsed("wallet id", HEX64)?;
        wallet::wallet_view(&self.shared.storage, &id)
            .map_err(internal)?
            .ok_or_else(|| ErrorCode::UnknownWallet.err(format!("unknown wallet {id}")))
    }

    fn wallets(&self, user: Param<PublicKey>) -> RpcResult<UserWalletsView> {
        let user = user.parsed("user public key", HEX64)?;
        let storage = &self.shared.storage;
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

    fn balance(&self, account: Param<Account>) -> RpcResult<BalanceView> {
        let account = account.value("account")?;
        let storage = &self.shared.storage;
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
    }

    fn statement(
        &self,
        account: Param<Account>,
        from_height: Option<Param<u64>>,
        to_height: Option<Param<u64>>,
    ) -> RpcResult<StatementView> {
        let account = account.value("account")?;
        let from = match from_height {
            Some(h) => h.value("from height")?,
            None => 0,
        };
        let to = match to_height {
            Some(h) => h.value("to height")?,
            None => self.shared.tip().height,
        };
        if from > to {
            return Err(ErrorCode::InvalidParams.err(format!(
                "invalid height range: from {from} is above to {to}"
            )));
        }
        wallet::statement(&self.shared.storage, &account, from, to).map_err(internal)
    }

    fn payment(&self, payment_id: Param<Hash>) -> RpcResult<PaymentView> {
        let id = payment_id.parsed("payment id", HEX64)?;
        wallet::payment_view(&self.shared.storage, &id)
            .map_err(internal)?
            .ok_or_else(|| ErrorCode::UnknownPayment.err(format!("unknown payment {id}")))
    }

    fn order(
        &self,
        merchant_id: Param<MerchantId>,
        order_ref: Param<String>,
    ) -> RpcResult<PaymentView> {
        let merchant = merchant_id.parsed_with("merchant id", MerchantId::parse)?;
        let order_ref = order_ref.text("order reference")?;
        let storage = &self.shared.storage;
        let paid = wallet::payment_for_order(storage, &merchant, order_ref).map_err(internal)?;
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
    }

    fn card_binding(&self, binding_id: Param<Hash>) -> RpcResult<CardBinding> {
        let id = binding_id.parsed("card binding id", HEX64)?;
        wallet::card_binding(&self.shared.storage, &id)
            .map_err(internal)?
            .ok_or_else(|| ErrorCode::UnknownCardBinding.err(format!("unknown card binding {id}")))
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

    fn certificates(
        &self,
        public_key: Param<PublicKey>,
        limit: Option<Param<usize>>,
    ) -> RpcResult<CertificatesView> {
        let public_key = public_key.parsed("public key", HEX64)?;
        let limit = match limit {
            Some(l) => l.value("limit")?,
            None => DEFAULT_CERTIFICATES,
        }
        .min(MAX_CERTIFICATES);
        let s: &Shared = &self.shared;
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
