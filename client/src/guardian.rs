//! Guardian-delegated payment from the client side: the registration terminal's code, the
//! biometric hash, the node's guardian queries and the guardian's notifications.
//!
//! ```text
//! terminal:  Terminal::new(device, business type).code_text() ─► QR on the terminal
//! dependant: scan ─► Terminal::parse ─► request ─► RequestBinding { guardian, terminal } tx
//! guardian:  watch: subscribe_events(kind_prefix "guardian_", guardian = me) ─► request
//!            ─► approve (limits, wallet, biometric) ─► Approve tx
//!            set_limits / set_biometric / reject / revoke (the dependant may revoke too)
//! dependant: paychain pay --binding ─► Guardian::Pay tx (see crate::pay)
//! guardian:  statement: paychain_guardianStatement(binding, YYYY-MM)
//! ```
//!
//! The chain checks every rule ([`paychain_contracts::guardian`]); this module reads codes, checks
//! limits with the contract's rule before sending, and talks to the node.

use std::time::Duration;

use paychain_api::{method, GuardianApiClient};
use paychain_contracts::api::{EventFilter, EventNotification, GuardianBindingsView};
use paychain_contracts::crypto::{Hash, PublicKey, SecretKey};
use paychain_contracts::guardian::{self, Binding, Limits, Statement, Status};
use paychain_contracts::money::{self, Amount, Currency};
use paychain_contracts::reads::Query;
use paychain_contracts::tx::Call;
use paychain_contracts::wallet;
use rand::RngCore;
use rust_decimal::Decimal;

use crate::rpc;
use crate::tx::{self, Sent, Wait};

pub use paychain_contracts::guardian::Terminal;

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Limits or a terminal the contract would refuse (checked before anything is sent).
    #[error(transparent)]
    Invalid(#[from] guardian::Error),
    /// An amount the money rules refuse.
    #[error(transparent)]
    Money(#[from] money::Error),
    /// Limits of a binding that has none (not approved).
    #[error("binding {binding} is {status}, not approved")]
    NotApproved {
        /// Binding.
        binding: Hash,
        /// Its status.
        status: Status,
    },
    /// [`watch`] saw fewer notifications than asked before its deadline.
    #[error(
        "no more guardian notifications for {who} within {timeout_secs} s ({received} received)"
    )]
    Quiet {
        /// The guardian watched.
        who: PublicKey,
        /// The deadline.
        timeout_secs: u64,
        /// Notifications seen.
        received: usize,
    },
    /// The node ended the subscription.
    #[error("the node closed the subscription (this client fell behind)")]
    Closed,
    /// Talking to the node failed.
    #[error(transparent)]
    Rpc(#[from] rpc::Error),
    /// The transaction was not admitted.
    #[error(transparent)]
    Tx(#[from] tx::Error),
}

impl rpc::Client {
    /// `paychain_guardianBinding`.
    pub async fn guardian_binding(&self, id: &Hash) -> Result<Binding, rpc::Error> {
        let q = Query::GuardianBinding { binding_id: *id };
        crate::rpc::signed_read!(self, method::GUARDIAN_BINDING, q, guardian_binding)
    }

    /// `paychain_guardianBindings`: the bindings where `key` is guardian or dependant, newest
    /// first.
    pub async fn guardian_bindings(
        &self,
        key: &PublicKey,
    ) -> Result<GuardianBindingsView, rpc::Error> {
        let q = Query::GuardianBindings {
            public_key: *key,
            limit: None,
        };
        crate::rpc::signed_read!(self, method::GUARDIAN_BINDINGS, q, guardian_bindings)
    }

    /// `paychain_guardianStatement` for `month` (`YYYY-MM`).
    pub async fn guardian_statement(
        &self,
        binding: &Hash,
        month: &str,
    ) -> Result<Statement, rpc::Error> {
        let q = Query::GuardianStatement {
            binding_id: *binding,
            month: month.to_owned(),
        };
        crate::rpc::signed_read!(self, method::GUARDIAN_STATEMENT, q, guardian_statement)
    }
}

/// The events a guardian is told about: every `guardian_*` event naming `guardian`.
pub fn guardian_filter(guardian: &PublicKey) -> EventFilter {
    EventFilter {
        kind_prefix: Some("guardian_".into()),
        attribute: Some(("guardian".into(), guardian.to_hex())),
    }
}

/// A biometric binding for `template` with a fresh random salt.
pub fn new_biometric(template: &[u8]) -> guardian::Biometric {
    let mut salt = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = Hash(salt);
    guardian::Biometric {
        salt,
        template_hash: guardian::biometric_hash(&salt, template),
    }
}

/// Limits as given, before they are checked in a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitValues {
    /// Largest single payment.
    pub per_payment: Decimal,
    /// Largest total per day (UTC day of block time).
    pub per_day: Decimal,
    /// Most payments per day.
    pub payments_per_day: u32,
}

impl LimitValues {
    /// The limits in `currency`, checked with the contract's rule ([`Limits::check`]).
    pub fn limits(&self, currency: Currency) -> Result<Limits, Error> {
        let l = Limits {
            per_payment: Amount::new(self.per_payment, currency)?,
            per_day: Amount::new(self.per_day, currency)?,
            payments_per_day: self.payments_per_day,
        };
        l.check(currency)?;
        Ok(l)
    }
}

/// The dependant, having scanned `terminal`'s code, asks `guardian` to let them pay. The binding's
/// id is the transaction's hash.
pub async fn request(
    client: &rpc::Client,
    dependant: &SecretKey,
    guardian: PublicKey,
    terminal: Terminal,
    wait: Wait,
) -> Result<Sent, Error> {
    let call = Call::Guardian(guardian::Call::RequestBinding { guardian, terminal });
    Ok(tx::send(client, dependant, call, wait).await?)
}

/// An approval sent.
#[derive(Debug)]
pub struct Approved {
    /// The guardian's wallet that pays.
    pub wallet_id: Hash,
    /// Whether a biometric was bound.
    pub biometric: bool,
    /// The `Approve` transaction.
    pub sent: Sent,
}

/// The guardian approves `binding`: password-free payment within `limits` from `wallet`, else from
/// the guardian's wallet in `currency`; with the dependant's biometric `template`, only a salted
/// hash of it goes on chain.
#[allow(clippy::too_many_arguments)]
pub async fn approve(
    client: &rpc::Client,
    guardian_key: &SecretKey,
    binding: Hash,
    wallet: Option<Hash>,
    currency: Currency,
    limits: Limits,
    template: Option<&[u8]>,
    wait: Wait,
) -> Result<Approved, Error> {
    let wallet_id =
        wallet.unwrap_or_else(|| wallet::wallet_id(&guardian_key.public_key(), currency));
    let biometric = template.map(new_biometric);
    let call = Call::Guardian(guardian::Call::Approve {
        binding,
        wallet: wallet_id,
        limits,
        biometric,
    });
    let sent = tx::send(client, guardian_key, call, wait).await?;
    Ok(Approved {
        wallet_id,
        biometric: biometric.is_some(),
        sent,
    })
}

/// The guardian changes the limits of an active binding, in the currency it pays in.
pub async fn set_limits(
    client: &rpc::Client,
    guardian_key: &SecretKey,
    binding: Hash,
    values: &LimitValues,
    wait: Wait,
) -> Result<(Limits, Sent), Error> {
    let client = &client.clone().with_reader(guardian_key);
    let b = client.guardian_binding(&binding).await?;
    let currency = b
        .authorisation
        .as_ref()
        .map(|a| a.limits.per_day.currency)
        .ok_or(Error::NotApproved {
            binding,
            status: b.status,
        })?;
    let limits = values.limits(currency)?;
    let call = Call::Guardian(guardian::Call::SetLimits {
        binding,
        limits: limits.clone(),
    });
    let sent = tx::send(client, guardian_key, call, wait).await?;
    Ok((limits, sent))
}

/// The guardian binds a new biometric `template` to the dependant (a salted hash of it), or
/// removes it (`None`).
pub async fn set_biometric(
    client: &rpc::Client,
    guardian_key: &SecretKey,
    binding: Hash,
    template: Option<&[u8]>,
    wait: Wait,
) -> Result<Sent, Error> {
    let biometric = template.map(new_biometric);
    let call = Call::Guardian(guardian::Call::SetBiometric { binding, biometric });
    Ok(tx::send(client, guardian_key, call, wait).await?)
}

/// The guardian refuses a pending request.
pub async fn reject(
    client: &rpc::Client,
    guardian_key: &SecretKey,
    binding: Hash,
    wait: Wait,
) -> Result<Sent, Error> {
    let call = Call::Guardian(guardian::Call::Reject { binding });
    Ok(tx::send(client, guardian_key, call, wait).await?)
}

/// The guardian or the dependant ends a binding.
pub async fn revoke(
    client: &rpc::Client,
    key: &SecretKey,
    binding: Hash,
    wait: Wait,
) -> Result<Sent, Error> {
    let call = Call::Guardian(guardian::Call::Revoke { binding });
    Ok(tx::send(client, key, call, wait).await?)
}

/// Waits for `count` guardian notifications for `who` ([`guardian_filter`]), each as it is
/// committed, for at most `timeout_secs`; `subscribed` runs once the subscription is open (from
/// then on nothing is missed).
pub async fn watch(
    client: &rpc::Client,
    who: &PublicKey,
    count: usize,
    timeout_secs: u64,
    subscribed: impl FnOnce(),
) -> Result<Vec<EventNotification>, Error> {
    let mut sub = client.subscribe_events(&guardian_filter(who)).await?;
    subscribed();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout_secs);
    let mut seen = Vec::new();
    while seen.len() < count {
        match tokio::time::timeout_at(deadline, sub.next()).await {
            Err(_) => {
                return Err(Error::Quiet {
                    who: *who,
                    timeout_secs,
                    received: seen.len(),
                })
            }
            Ok(None) => return Err(Error::Closed),
            Ok(Some(n)) => seen.push(n?),
        }
    }
    Ok(seen)
}

/// A guardian's monthly statement of a dependant's payments.
#[derive(Debug, Clone)]
pub struct MonthlyStatement {
    /// The month, `YYYY-MM` (UTC, block time).
    pub month: String,
    /// The binding.
    pub binding: Binding,
    /// The payments.
    pub statement: Statement,
}

/// The statement of `binding` for `month` (`YYYY-MM`), by default the month of the latest block.
pub async fn statement(
    client: &rpc::Client,
    binding: Hash,
    month: Option<String>,
) -> Result<MonthlyStatement, Error> {
    let month = match month {
        Some(m) => m,
        None => {
            let t = client.status().await?.latest_block_time_ms;
            let (y, m) = paychain_contracts::calendar::year_month(t);
            format!("{y:04}-{m:02}")
        }
    };
    let b = client.guardian_binding(&binding).await?;
    let statement = client.guardian_statement(&binding, &month).await?;
    Ok(MonthlyStatement {
        month,
        binding: b,
        statement,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use paychain_contracts::executor::Event;

    #[test]
    fn filter_matches_only_this_guardians_events() {
        let me = PublicKey([1; 32]);
        let f = guardian_filter(&me);
        let mine = Event::new("guardian_binding_requested").with("guardian", me.to_hex());
        let other = Event::new("guardian_binding_requested").with("guardian", "00");
        let not_guardian = Event::new("payment").with("guardian", me.to_hex());
        assert!(f.matches(&mine));
        assert!(!f.matches(&other));
        assert!(!f.matches(&not_guardian));
    }

    #[test]
    fn limit_values_are_checked_in_a_currency() {
        let d = |s: &str| Decimal::from_str_exact(s).unwrap();
        let v = LimitValues {
            per_payment: d("20"),
            per_day: d("50"),
            payments_per_day: 3,
        };
        let l = v.limits(Currency::CNY).unwrap();
        assert_eq!(l.per_day.to_string(), "50.00 CNY");
        let too_fine = LimitValues {
            per_payment: d("0.001"),
            ..v
        };
        assert!(matches!(
            too_fine.limits(Currency::CNY),
            Err(Error::Money(_))
        ));
        let upside_down = LimitValues {
            per_payment: d("60"),
            ..v
        };
        assert!(matches!(
            upside_down.limits(Currency::CNY),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn biometric_salts_differ_and_hashes_verify() {
        let a = new_biometric(b"t");
        let b = new_biometric(b"t");
        assert_ne!(a.salt, b.salt);
        assert_eq!(a.template_hash, guardian::biometric_hash(&a.salt, b"t"));
        assert_ne!(a.template_hash, b.template_hash);
    }
}
