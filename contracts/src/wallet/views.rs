//! The wallet's views for the JSON-RPC API (re-exported by [`crate::api`]) and the queries that
//! build them.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{
    account_currency, account_state, balance, cards_of, entry, payment, wallet, Account, BoundCard,
    Payment, StatementEntry, Wallet, MAX_STATEMENT_ENTRIES,
};
use crate::chain::state::{StateError, StateReader};
use crate::primitives::crypto::Hash;
use crate::primitives::money::{decimal_str, Currency};

/// A wallet with its balance and its owner's bound cards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletView {
    /// The wallet.
    pub wallet: Wallet,
    /// Balance at the currency's minor-unit scale (a decimal string in JSON).
    #[serde(with = "decimal_str")]
    pub balance: Decimal,
    /// The owner's bound cards (any currency; each names its host).
    pub cards: Vec<BoundCard>,
}

/// An account's entries over a height range, with the period's opening and closing balances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementView {
    /// The account.
    pub account: Account,
    /// Its currency (`None` for an unknown wallet).
    pub currency: Option<Currency>,
    /// First height included.
    pub from_height: u64,
    /// Last height included.
    pub to_height: u64,
    /// Balance before the first entry of the period.
    #[serde(with = "decimal_str")]
    pub opening_balance: Decimal,
    /// Balance after the last entry returned.
    #[serde(with = "decimal_str")]
    pub closing_balance: Decimal,
    /// Entries, oldest first, at most [`MAX_STATEMENT_ENTRIES`].
    pub entries: Vec<StatementEntry>,
    /// Whether more entries of the period were left out.
    pub truncated: bool,
}

/// A payment and what can still be refunded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentView {
    /// The payment.
    pub payment: Payment,
    /// Paid minus refunded.
    #[serde(with = "decimal_str")]
    pub refundable: Decimal,
}

/// The entries of `account` with `from_height <= height <= to_height`, at most
/// [`MAX_STATEMENT_ENTRIES`] (then `truncated`; ask again from the last entry's height + 1 or
/// a narrower range), with the opening and closing balances of the period.
pub fn statement(
    reader: &impl StateReader,
    account: &Account,
    from_height: u64,
    to_height: u64,
) -> Result<StatementView, StateError> {
    let state = account_state(reader, account)?;
    let currency = match &state {
        Some(s) => Some(s.currency),
        None => account_currency(reader, account)?,
    };
    let n = state.as_ref().map_or(0, |s| s.entries);
    // Heights are non-decreasing along the statement: binary search the first entry at or after
    // `from_height`.
    let (mut lo, mut hi) = (0u64, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if entry(reader, account, mid)?.height < from_height {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let opening = if lo == 0 {
        Decimal::ZERO
    } else {
        entry(reader, account, lo - 1)?.balance_after
    };
    let mut entries = Vec::new();
    let mut truncated = false;
    let mut seq = lo;
    while seq < n {
        let e = entry(reader, account, seq)?;
        if e.height > to_height {
            break;
        }
        if entries.len() == MAX_STATEMENT_ENTRIES {
            truncated = true;
            break;
        }
        entries.push(e);
        seq += 1;
    }
    let closing = entries.last().map_or(opening, |e| e.balance_after);
    Ok(StatementView {
        account: account.clone(),
        currency,
        from_height,
        to_height,
        opening_balance: opening,
        closing_balance: closing,
        entries,
        truncated,
    })
}

/// The wallet `id` with its balance and its owner's bound cards.
pub fn wallet_view(reader: &impl StateReader, id: &Hash) -> Result<Option<WalletView>, StateError> {
    let Some(w) = wallet(reader, id)? else {
        return Ok(None);
    };
    let balance = balance(reader, &Account::Wallet { id: *id })?;
    let cards = cards_of(reader, &w.owner)?;
    Ok(Some(WalletView {
        wallet: w,
        balance,
        cards,
    }))
}

/// The payment `id` with what can still be refunded.
pub fn payment_view(
    reader: &impl StateReader,
    id: &Hash,
) -> Result<Option<PaymentView>, StateError> {
    Ok(payment(reader, id)?.map(|p| {
        let refundable = p
            .amount
            .value
            .checked_sub(p.refunded)
            .unwrap_or(Decimal::ZERO);
        PaymentView {
            payment: p,
            refundable,
        }
    }))
}
