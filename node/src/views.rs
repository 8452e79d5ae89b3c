//! The views of private state that signed reads answer (payments, wallets, balances, statements,
//! certificate lists, card bindings, collections, store orders, guardian bindings and statements),
//! as pure functions of a state reader and the tip.
//!
//! On a chain in the clear the node runs them over its storage; on a chain with private state its
//! enclave (the sidecar) runs them over the logical view of state proven to it, so that the node
//! never holds the plaintext (`crate::sidecar`). The entitlement check ([`reads::may_read`]) runs
//! before, in the same place.

use jsonrpsee::core::RpcResult;
use jsonrpsee::types::ErrorObjectOwned;
use paychain_api::wallet::{DEFAULT_CERTIFICATES, MAX_CERTIFICATES};
use paychain_api::{
    BalanceView, CertificateRef, CertificatesView, CollectionsView, ErrorCode,
    GuardianBindingsView, StoreOrdersView, UserWalletsView,
};
use paychain_contracts::crypto::{Hash, PublicKey};
use paychain_contracts::ids::MerchantId;
use paychain_contracts::money::Currency;
use paychain_contracts::reads::Query;
use paychain_contracts::state::StateReader;
use paychain_contracts::wallet::{self, Account, AccountState, MovementKind};
use paychain_contracts::{collection, governance, guardian, registry, store};
use serde::Serialize;

use crate::errors::internal;

/// Statement pages (of [`wallet::MAX_STATEMENT_ENTRIES`]) read per account by `paychain_certificates`.
const MAX_PAGES: usize = 16;

/// Most entries of a list query when it names no limit (and at most).
pub use paychain_api::guardian::MAX_LIST;

/// The tip a view is answered at.
#[derive(Debug, Clone, Copy)]
pub struct At {
    /// Height.
    pub height: u64,
    /// Block time, ms.
    pub time_ms: u64,
}

fn json(v: impl Serialize) -> RpcResult<serde_json::Value> {
    serde_json::to_value(v).map_err(internal)
}

/// The `limit` of a list query: [`MAX_LIST`] when absent, at most [`MAX_LIST`].
pub fn list_limit(limit: Option<u32>) -> usize {
    limit.map_or(MAX_LIST, |l| l as usize).min(MAX_LIST)
}

/// Whether [`view`] answers `query` (the rest need the node's block store or its audit log).
pub fn is_state_view(query: &Query) -> bool {
    !matches!(
        query,
        Query::Certificate { .. } | Query::RegulatorAudit { .. }
    )
}

/// The answer to `query` from `state` at `at`, as JSON; an error names what is unknown.
pub fn view<R: StateReader>(state: &R, at: At, query: &Query) -> RpcResult<serde_json::Value> {
    match query {
        Query::Wallet { wallet_id } => json(
            wallet::wallet_view(state, wallet_id)
                .map_err(internal)?
                .ok_or_else(|| {
                    ErrorCode::UnknownWallet.err(format!("unknown wallet {wallet_id}"))
                })?,
        ),
        Query::Wallets { user } => {
            let verification = wallet::user(state, user).map_err(internal)?;
            let mut views = Vec::new();
            for w in wallet::wallets_of(state, user).map_err(internal)? {
                if let Some(v) = wallet::wallet_view(state, &w.id).map_err(internal)? {
                    views.push(v);
                }
            }
            json(UserWalletsView {
                user: *user,
                verification,
                wallets: views,
            })
        }
        Query::Balance { account } => {
            let currency = wallet::account_currency(state, account).map_err(internal)?;
            let st = match wallet::account_state(state, account).map_err(internal)? {
                Some(st) => Some(st),
                None => currency.map(|currency| AccountState {
                    currency,
                    balance: Default::default(),
                    entries: 0,
                }),
            };
            json(BalanceView {
                account: account.clone(),
                currency,
                state: st,
            })
        }
        Query::Statement {
            account,
            from_height,
            to_height,
        } => {
            let (from, to) = (*from_height, to_height.unwrap_or(at.height));
            if from > to {
                return Err(ErrorCode::InvalidParams.err(format!(
                    "invalid height range: from {from} is above to {to}"
                )));
            }
            json(wallet::statement(state, account, from, to).map_err(internal)?)
        }
        Query::Payment { payment_id } => json(
            wallet::payment_view(state, payment_id)
                .map_err(internal)?
                .ok_or_else(|| {
                    ErrorCode::UnknownPayment.err(format!("unknown payment {payment_id}"))
                })?,
        ),
        Query::Order {
            merchant_id,
            order_ref,
        } => {
            let paid =
                wallet::payment_for_order(state, merchant_id, order_ref).map_err(internal)?;
            let view = match paid {
                Some(p) => wallet::payment_view(state, &p.id).map_err(internal)?,
                None => None,
            };
            json(view.ok_or_else(|| {
                ErrorCode::OrderNotPaid.err(format!(
                    "order {} of merchant {merchant_id} is not paid",
                    paychain_api::quote(order_ref)
                ))
            })?)
        }
        Query::CardBinding { binding_id } => json(
            wallet::card_binding(state, binding_id)
                .map_err(internal)?
                .ok_or_else(|| {
                    ErrorCode::UnknownCardBinding.err(format!("unknown card binding {binding_id}"))
                })?,
        ),
        Query::Certificates { public_key, limit } => {
            let limit = limit
                .map_or(DEFAULT_CERTIFICATES, |l| l as usize)
                .min(MAX_CERTIFICATES);
            json(certificates(state, *public_key, limit)?)
        }
        Query::Collection { collection_id } => json(
            collection::collection_view(state, collection_id)
                .map_err(internal)?
                .ok_or_else(|| {
                    ErrorCode::UnknownCollection.err(format!("unknown collection {collection_id}"))
                })?,
        ),
        Query::Collections { public_key, limit } => {
            let (collections, truncated) =
                collection::collections_of(state, public_key, list_limit(*limit))
                    .map_err(internal)?;
            json(CollectionsView {
                collections,
                truncated,
            })
        }
        Query::StoreOrder { order_id } => json(
            store::order_view(state, order_id, at.time_ms)
                .map_err(internal)?
                .ok_or_else(|| ErrorCode::UnknownOrder.err(format!("unknown order {order_id}")))?,
        ),
        Query::StoreOrders { public_key, limit } => {
            let (orders, truncated) =
                store::orders_of(state, public_key, at.time_ms, list_limit(*limit))
                    .map_err(internal)?;
            json(StoreOrdersView { orders, truncated })
        }
        Query::GuardianBinding { binding_id } => json(
            guardian::binding(state, binding_id)
                .map_err(internal)?
                .ok_or_else(|| unknown_binding(binding_id))?,
        ),
        Query::GuardianBindings { public_key, limit } => {
            let (bindings, truncated) =
                guardian::bindings_of(state, public_key, list_limit(*limit)).map_err(internal)?;
            json(GuardianBindingsView {
                bindings,
                truncated,
            })
        }
        Query::GuardianStatement { binding_id, month } => {
            let month = parse_month(month)?;
            if guardian::binding(state, binding_id)
                .map_err(internal)?
                .is_none()
            {
                return Err(unknown_binding(binding_id));
            }
            json(guardian::statement(state, binding_id, month).map_err(internal)?)
        }
        Query::Certificate { .. } | Query::RegulatorAudit { .. } => {
            Err(internal("not a view of state"))
        }
    }
}

fn unknown_binding(id: &Hash) -> ErrorObjectOwned {
    ErrorCode::UnknownGuardianBinding.err(format!("unknown guardian binding {id}"))
}

/// A `YYYY-MM` month as `YYYYMM`.
pub fn parse_month(raw: &str) -> Result<u32, ErrorObjectOwned> {
    let bad = || {
        ErrorCode::InvalidParams.err(format!(
            "invalid month {:?}: expected YYYY-MM",
            raw.chars().take(16).collect::<String>()
        ))
    };
    let (y, m) = raw.split_once('-').ok_or_else(bad)?;
    if y.len() != 4 || m.len() != 2 {
        return Err(bad());
    }
    let y: u32 = y.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    if !(1..=12).contains(&m) {
        return Err(bad());
    }
    Ok(y * 100 + m)
}

fn certificates<R: StateReader>(
    state: &R,
    public_key: PublicKey,
    limit: usize,
) -> RpcResult<CertificatesView> {
    let mut refs = Vec::new();
    let mut truncated = false;
    for w in wallet::wallets_of(state, &public_key).map_err(internal)? {
        truncated |= movements(state, &Account::Wallet { id: w.id }, "payer", &mut refs)?;
    }
    let candidate = MerchantId::derive(&public_key);
    let merchant_id = registry::merchant(state, &candidate)
        .map_err(internal)?
        .map(|m| m.id);
    if let Some(id) = &merchant_id {
        // Acquirers that stopped serving the merchant keep its history: every member is tried.
        for member in governance::members(state).map_err(internal)? {
            for currency in Currency::supported() {
                let account = Account::ToBeSettled {
                    merchant_id: id.clone(),
                    acquirer: member.id.clone(),
                    currency,
                };
                if wallet::account_state(state, &account)
                    .map_err(internal)?
                    .is_some()
                {
                    truncated |= movements(state, &account, "payee", &mut refs)?;
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
fn movements<R: StateReader>(
    state: &R,
    account: &Account,
    role: &'static str,
    out: &mut Vec<CertificateRef>,
) -> Result<bool, ErrorObjectOwned> {
    let mut from = 0;
    for _ in 0..MAX_PAGES {
        let page = wallet::statement(state, account, from, u64::MAX).map_err(internal)?;
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

#[cfg(test)]
mod tests {
    use super::parse_month as month;

    #[test]
    fn months_parse_strictly() {
        assert_eq!(month("2026-11").ok(), Some(202611));
        for bad in [
            "2026-13", "2026-00", "26-11", "2026/11", "2026-1", "", "abcd-ef",
        ] {
            assert!(month(bad).is_err(), "{bad}");
        }
    }
}
