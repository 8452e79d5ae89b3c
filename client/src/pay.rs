//! Scan and pay: from a merchant code to a committed payment and its certificate.
//!
//! ```text
//! scan(payload) ──► ScannedCode { merchant, amount?, currency?, order_ref?, expires_at? }   (offline)
//!   check_expiry(now)                                         expired dynamic code ─► Error::Expired
//! quote(client, payer key, code, PayOptions)
//!   proven merchant entry ─► merchant + platforms serving it   unknown ─► Error::UnknownMerchant
//!     (registry::merchant, platforms_of, record over state proven under the pinned genesis)
//!   paychain_wallets  ─► payer's wallet (by currency)          none    ─► Error::NoWallet
//!   acquirer = the wallet's host, if the merchant accepted it  pending ─► Error::PendingConsent
//!                                                              else    ─► Error::NotServed
//!   signed enclave lookup as the payer ─► the host's record, verified against the enclave's
//!     registered quote, proven serving under genesis, opened  refused ─► Error::Lookup
//!                                                              none    ─► Error::NoRecord
//!   the record parsed and usable now, in the currency         else    ─► Error::Record
//!   route = (record version, ciphertext hash) from the answer
//!   amount: the code's (dynamic) or --amount (static)          differ  ─► Error::AmountMismatch
//!     + the convenience fee of fields 55-57, + --tip when 55 = 01       ─► Error::Due
//!   paychain_order    ─► not paid yet                          paid    ─► Error::OrderAlreadyPaid
//!   balance ≥ amount                                           else    ─► Error::InsufficientBalance
//! pay(client, key, &quote, wait) ─► Pay tx, committed (BFT: committed is final) ─► Receipt
//! wait_certificate(client, tx, pin, wait) ─► TxCertificate (once the next block is committed),
//!   checked against the pinned genesis validator set
//! scan_at(payload, now) = scan + check_expiry, offline
//! pay_scanned(client, key, code, PayRequest, wait) ─► quote, pay, wait_certificate ─► Paid
//!   (with a guardian binding: delegation(binding, template) ─► the biometric hashed with its salt)
//! ```
//!
//! The chain checks all of this again (the quote only gives clear errors early), and refuses a route
//! whose record changed since the lookup (`the merchant's acquiring record changed: look it up again`).
//! On a chain without an enclave, records are public: the record and its route are read from the
//! registry, proven under the pinned genesis, instead of a lookup.
//!
//! # Expiry of dynamic codes
//!
//! paychain's template 26 may carry sub-field `02`: the code's expiry as Unix time in seconds (UTC,
//! 1 to 10 digits). A code is expired when the payer's clock reads that second or later; the
//! payer's wallet refuses it before anything is signed. The chain never sees the code, so this is
//! a wallet rule, not a contract rule; what the chain guarantees is one payment per order.

use std::time::Duration;

use paychain_api::ErrorCode;
use paychain_contracts::api::{MerchantView, RouteView, WalletView};
use paychain_contracts::certificate::TxCertificate;
use paychain_contracts::crypto::{Hash, PublicKey, SecretKey};
use paychain_contracts::executor::Receipt;
use paychain_contracts::genesis::Genesis;
use paychain_contracts::guardian;
use paychain_contracts::ids::{MerchantId, PlatformId};
use paychain_contracts::money::{self, Amount, Currency};
use paychain_contracts::registry::{self, Route};
use paychain_contracts::tx::Call;
use paychain_contracts::wallet;
use rand::RngCore;
use rust_decimal::Decimal;
use serde::Serialize;
use tokio::time::Instant;

use crate::acquiring::{self, AcquiringInfo};
use crate::emvco::{self, NotPaychain};
use crate::enclave::Pin;
use crate::{rpc, tx};

/// Sub-field of template 26 that holds a code's expiry (Unix seconds).
pub const EXPIRY_SUBFIELD: &str = "02";
/// JSON-RPC codes of `paychain_certificate` before the certificate exists.
const NOT_CERTIFIABLE_YET: [ErrorCode; 2] = [ErrorCode::NotCommitted, ErrorCode::NotYetCertifiable];

/// Why a payment cannot be made. Each message is one line a payer understands.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not a valid EMVCo code.
    #[error("invalid merchant code: {0}")]
    Code(#[from] emvco::Error),
    /// A valid code of another scheme.
    #[error("cannot pay this code through paychain: {0}")]
    NotPaychain(#[from] NotPaychain),
    /// Template 26 holds something that is not a merchant id.
    #[error("invalid merchant code: merchant id {0:?} in field 26-01 is malformed")]
    BadMerchantId(String),
    /// Template 26-02 is not Unix seconds.
    #[error("invalid merchant code: expiry {0:?} in field 26-02 is not Unix seconds")]
    BadExpiry(String),
    /// The code's currency is not one paychain supports.
    #[error("the code's currency {0} is not supported by paychain")]
    UnsupportedCurrency(String),
    /// The dynamic code expired.
    #[error("this payment code expired at {expires_at} (Unix seconds; now {now}): ask the merchant for a new one")]
    Expired {
        /// Expiry.
        expires_at: u64,
        /// The payer's clock.
        now: u64,
    },
    /// A split-bill collection code given to `paychain pay`.
    #[error("this is a split-bill collection code (collection {0}): pay your share with `paychain collect pay`")]
    CollectionCode(String),
    /// A static code and no amount given.
    #[error("this is a static code without an amount: give the amount with --amount")]
    AmountMissing,
    /// The amount given differs from the code's.
    #[error("amount mismatch: the code asks for {code}, --amount says {given}")]
    AmountMismatch {
        /// The code's amount.
        code: String,
        /// Given.
        given: String,
    },
    /// The tip or convenience fee of the code (fields 55 to 57) cannot be applied.
    #[error("{0}")]
    Due(#[from] emvco::DueError),
    /// Amount refused by the money rules.
    #[error("invalid amount: {0}")]
    Amount(#[from] money::Error),
    /// The currency chosen differs from the code's.
    #[error("currency mismatch: the code is in {code}, you chose {chosen}")]
    CurrencyMismatch {
        /// The code's.
        code: Currency,
        /// Chosen.
        chosen: Currency,
    },
    /// An order reference that the chain would refuse.
    #[error("invalid order reference {0:?}: 1 to 64 printable ASCII characters")]
    BadOrderRef(String),
    /// The merchant is not registered.
    #[error(
        "unknown merchant {0}: the code names a merchant that is not registered on this chain"
    )]
    UnknownMerchant(MerchantId),
    /// The payer has no wallet (in the currency).
    #[error("{user} has no {what}wallet: ask your platform to open one")]
    NoWallet {
        /// The payer.
        user: PublicKey,
        /// `"CNY "` or empty.
        what: String,
    },
    /// Several wallets, no currency to choose.
    #[error("you have wallets in {0}: choose one with --currency")]
    AmbiguousWallet(String),
    /// The payer's platform does not serve the merchant.
    #[error(
        "merchant {merchant} is not served by your platform {platform} (served by: {served_by})"
    )]
    NotServed {
        /// Merchant.
        merchant: MerchantId,
        /// The payer's hosting platform.
        platform: PlatformId,
        /// Platforms that do.
        served_by: String,
    },
    /// The payer's platform put a record that the merchant has not accepted (or no longer accepts).
    #[error("your platform {platform}'s record for merchant {merchant} awaits the merchant's consent: it cannot be paid through {platform} yet")]
    PendingConsent {
        /// Merchant.
        merchant: MerchantId,
        /// The payer's hosting platform.
        platform: PlatformId,
    },
    /// The signed lookup of the acquiring record failed (enclave not attested, answer refused, ...).
    #[error("looking up your platform's acquiring record for merchant {merchant}: {source}")]
    Lookup {
        /// Merchant.
        merchant: MerchantId,
        /// Why.
        source: Box<crate::enclave::Error>,
    },
    /// The merchant's entry could not be read from state proven under the pinned genesis.
    #[error("reading merchant {merchant} from proven state: {source}")]
    Unproven {
        /// Merchant.
        merchant: MerchantId,
        /// Why.
        source: Box<crate::proven::Error>,
    },
    /// The enclave answered that the payer's platform has no record for the merchant.
    #[error("your platform {platform} has no acquiring record for merchant {merchant}")]
    NoRecord {
        /// Merchant.
        merchant: MerchantId,
        /// The payer's hosting platform.
        platform: PlatformId,
    },
    /// The record is not a valid acquiring record, or not usable for this payment.
    #[error("your platform {platform}'s acquiring record for merchant {merchant}: {source}")]
    Record {
        /// Merchant.
        merchant: MerchantId,
        /// The payer's hosting platform.
        platform: PlatformId,
        /// Why.
        source: acquiring::Error,
    },
    /// The order was paid before.
    #[error("order {order_ref:?} of merchant {merchant} is already paid (payment {payment})")]
    OrderAlreadyPaid {
        /// Order.
        order_ref: String,
        /// Merchant.
        merchant: MerchantId,
        /// Earlier payment.
        payment: Hash,
    },
    /// Not enough money.
    #[error("insufficient balance: wallet {wallet} holds {holds}, the payment needs {needs}")]
    InsufficientBalance {
        /// Wallet.
        wallet: Hash,
        /// Balance.
        holds: String,
        /// Amount.
        needs: String,
    },
    /// The certificate did not appear in time.
    #[error("payment {tx_hash} is committed but its certificate was not available within {} s; fetch it later with `paychain cert get {tx_hash}`", .timeout.as_secs())]
    CertificateTimeout {
        /// The payment tx.
        tx_hash: Hash,
        /// How long we waited.
        timeout: Duration,
    },
    /// The node's certificate does not verify against its own validator set.
    #[error("the node's certificate of {tx_hash} does not verify: {reason}")]
    BadCertificate {
        /// The payment tx.
        tx_hash: Hash,
        /// Why.
        reason: String,
    },
    /// A guardian binding that cannot pay.
    #[error("{0}")]
    Binding(String),
    /// A biometric template given for a binding that has no biometric.
    #[error("binding {0} has no biometric: leave out --biometric-template")]
    NoBiometric(Hash),
    /// Talking to the node failed (network down, timeout, ...).
    #[error(transparent)]
    Rpc(#[from] rpc::Error),
    /// Submitting or following the transaction failed (includes a refusal on chain).
    #[error(transparent)]
    Tx(#[from] tx::Error),
}

impl Error {
    /// Whether the fault is in the input (the code, the amount), not in the chain's answer.
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            Error::Code(_)
                | Error::NotPaychain(_)
                | Error::BadMerchantId(_)
                | Error::BadExpiry(_)
                | Error::UnsupportedCurrency(_)
                | Error::Expired { .. }
                | Error::CollectionCode(_)
                | Error::AmountMissing
                | Error::AmountMismatch { .. }
                | Error::Amount(_)
                | Error::CurrencyMismatch { .. }
                | Error::BadOrderRef(_)
                | Error::Due(_)
                | Error::NoBiometric(_)
        )
    }
}

/// What a paychain merchant code says, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScannedCode {
    /// The payload as scanned (trimmed).
    pub payload: String,
    /// The merchant.
    pub merchant_id: MerchantId,
    /// The name printed in the code (the chain's record is what counts).
    pub merchant_name: Option<String>,
    /// Whether it is a dynamic (one order) code.
    pub dynamic: bool,
    /// Field 54.
    pub amount: Option<Decimal>,
    /// Field 53, as a paychain currency.
    pub currency: Option<Currency>,
    /// Field 62-05.
    pub order_ref: Option<String>,
    /// Field 26-02, Unix seconds.
    pub expires_at: Option<u64>,
}

/// Decodes `payload` and extracts what paying needs (offline).
pub fn scan(payload: &str) -> Result<ScannedCode, Error> {
    let payload = payload.trim();
    let code = emvco::decode(payload)?;
    let merchant = code.paychain_merchant()?;
    if let Some(id) = code.collection_ref() {
        return Err(Error::CollectionCode(id));
    }
    let merchant_id =
        MerchantId::parse(merchant).map_err(|_| Error::BadMerchantId(merchant.to_owned()))?;
    let expires_at = match code
        .merchant_accounts
        .iter()
        .find(|a| a.guid.as_deref() == Some(emvco::PAYCHAIN_GUID))
        .and_then(|a| a.field(EXPIRY_SUBFIELD))
    {
        None => None,
        Some(s) => {
            let ok = !s.is_empty() && s.len() <= 10 && s.bytes().all(|b| b.is_ascii_digit());
            Some(
                s.parse::<u64>()
                    .ok()
                    .filter(|_| ok)
                    .ok_or_else(|| Error::BadExpiry(s.to_owned()))?,
            )
        }
    };
    let currency = match &code.currency {
        None => None,
        Some(c) => {
            let alpha = emvco::currency_alpha(&c.numeric)
                .ok_or_else(|| Error::UnsupportedCurrency(c.numeric.clone()))?;
            let cur = Currency::new(alpha)?;
            cur.minor_units()
                .map_err(|_| Error::UnsupportedCurrency(alpha.to_owned()))?;
            Some(cur)
        }
    };
    Ok(ScannedCode {
        payload: payload.to_owned(),
        merchant_id,
        merchant_name: code.merchant_name.clone(),
        dynamic: code.point_of_initiation == Some(emvco::PointOfInitiation::Dynamic),
        amount: code.amount,
        currency,
        order_ref: code.order_ref().map(str::to_owned),
        expires_at,
    })
}

impl ScannedCode {
    /// Refuses a code whose expiry has passed at `now` (Unix seconds).
    pub fn check_expiry(&self, now: u64) -> Result<(), Error> {
        match self.expires_at {
            Some(expires_at) if now >= expires_at => Err(Error::Expired { expires_at, now }),
            _ => Ok(()),
        }
    }

    /// The amount to pay in `currency`: the code's if it has one (a different `given` is a
    /// mismatch), else `given` (required).
    pub fn amount(&self, given: Option<Decimal>, currency: Currency) -> Result<Amount, Error> {
        let value = match (self.amount, given) {
            (Some(code), Some(given)) if code != given => {
                return Err(Error::AmountMismatch {
                    code: currency.format(code),
                    given: currency.format(given),
                })
            }
            (Some(code), _) => code,
            (None, Some(given)) => given,
            (None, None) => return Err(Error::AmountMissing),
        };
        let mut value = value.normalize();
        let digits = currency.minor_units()?;
        if value.scale() < digits {
            value.rescale(digits);
        }
        Ok(Amount::new(value, currency)?)
    }

    /// The order reference: the code's (dynamic codes), else `given`, else a fresh random one.
    pub fn order_ref(&self, given: Option<&str>) -> Result<String, Error> {
        let r = match (&self.order_ref, given) {
            (Some(r), _) => r.clone(),
            (None, Some(g)) => g.to_owned(),
            (None, None) => {
                let mut b = [0u8; 8];
                rand::rngs::OsRng.fill_bytes(&mut b);
                format!("pc-{}", hex::encode(b))
            }
        };
        let ok = !r.is_empty()
            && r.len() <= wallet::MAX_ORDER_REF_LEN
            && r.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
        if ok {
            Ok(r)
        } else {
            Err(Error::BadOrderRef(r))
        }
    }
}

/// Adds (or replaces) the expiry sub-field 26-02 of a paychain code and recomputes the CRC.
pub fn with_expiry(payload: &str, expires_at: u64) -> Result<String, Error> {
    let code = emvco::decode(payload.trim())?;
    code.paychain_merchant()?;
    let chars: Vec<char> = payload.trim().chars().collect();
    let mut out = String::new();
    let mut pos = 0;
    // The decode above vouches for the structure: every field has a two-digit id and length.
    while pos + 4 <= chars.len() {
        let id: String = chars[pos..pos + 2].iter().collect();
        let len: usize = chars[pos + 2..pos + 4]
            .iter()
            .collect::<String>()
            .parse()
            .unwrap_or(0);
        let end = (pos + 4 + len).min(chars.len());
        let value: String = chars[pos + 4..end].iter().collect();
        pos = end;
        if id == "63" {
            break;
        }
        let value = if id == emvco::PAYCHAIN_TEMPLATE {
            let mut inner = String::new();
            let mut p = 0;
            let v: Vec<char> = value.chars().collect();
            while p + 4 <= v.len() {
                let sid: String = v[p..p + 2].iter().collect();
                let slen: usize = v[p + 2..p + 4]
                    .iter()
                    .collect::<String>()
                    .parse()
                    .unwrap_or(0);
                let send = (p + 4 + slen).min(v.len());
                if sid != EXPIRY_SUBFIELD {
                    inner.extend(&v[p..send]);
                }
                p = send;
            }
            let secs = expires_at.to_string();
            inner.push_str(&format!("{EXPIRY_SUBFIELD}{:02}{secs}", secs.len()));
            inner
        } else {
            value
        };
        out.push_str(&format!("{id}{:02}{value}", value.chars().count()));
    }
    out.push_str("6304");
    let crc = emvco::crc16(out.as_bytes());
    out.push_str(&format!("{crc:04X}"));
    emvco::decode(&out)?;
    Ok(out)
}

/// Options of a payment.
#[derive(Debug, Clone)]
pub struct PayOptions {
    /// `--amount`.
    pub amount: Option<Decimal>,
    /// `--currency`: which wallet pays.
    pub currency: Option<Currency>,
    /// `--order` for a static code.
    pub order_ref: Option<String>,
    /// `--binding`: a dependant pays from their guardian's wallet.
    pub delegated: Option<Delegated>,
    /// `--tip`: the payer's tip, when the code asks for one (field 55 = 01; 0 for none).
    pub tip: Option<Decimal>,
    /// The payer's clock (Unix seconds): the record must be valid then.
    pub now: u64,
    /// The chain's genesis, pinned: the chain id, and the enclave genesis trusts.
    pub pin: Pin,
}

/// A payment by a dependant through a guardian binding ([`guardian`]).
#[derive(Debug, Clone, Serialize)]
pub struct Delegated {
    /// The binding.
    pub binding: Hash,
    /// [`guardian::biometric_hash`] of the presented template, if the binding needs one.
    pub biometric: Option<Hash>,
}

/// Everything checked before signing: who is paid, through whom, from which wallet, how much.
#[derive(Debug, Clone, Serialize)]
pub struct Quote {
    /// The code.
    pub code: ScannedCode,
    /// The merchant as registered, with the platforms serving it.
    pub merchant: MerchantView,
    /// The payer's wallet.
    pub wallet: WalletView,
    /// The acquirer: the payer's hosting platform.
    pub acquirer: PlatformId,
    /// The acquirer's record for the merchant, as the payer's lookup opened it.
    pub acquiring: AcquiringInfo,
    /// The record the payment is routed by (its version and ciphertext hash).
    pub route: Route,
    /// What the payer pays (`due.total`): the code's or the entered amount, plus the convenience fee
    /// the code states, plus the payer's tip.
    pub amount: Amount,
    /// How `amount` is made up.
    pub due: emvco::Due,
    /// How long the lookup of the record took.
    #[serde(skip)]
    pub lookup_time: Duration,
    /// Order reference.
    pub order_ref: String,
    /// Paid by a dependant from the guardian's wallet.
    pub delegated: Option<Delegated>,
}

impl Quote {
    /// The pay call.
    pub fn call(&self) -> Call {
        if let Some(d) = &self.delegated {
            return Call::Guardian(guardian::Call::Pay {
                binding: d.binding,
                merchant_id: self.code.merchant_id.clone(),
                acquirer: self.acquirer.clone(),
                amount: self.amount,
                order_ref: self.order_ref.clone(),
                biometric: d.biometric,
                route: self.route,
            });
        }
        Call::Wallet(wallet::Call::Pay {
            from_wallet: self.wallet.wallet.id,
            merchant_id: self.code.merchant_id.clone(),
            acquirer: self.acquirer.clone(),
            amount: self.amount,
            order_ref: self.order_ref.clone(),
            route: self.route,
        })
    }
}

/// The payer's wallet for `currency` (or the only one).
pub fn choose_wallet(
    user: &PublicKey,
    wallets: &[WalletView],
    currency: Option<Currency>,
) -> Result<WalletView, Error> {
    match currency {
        Some(c) => wallets
            .iter()
            .find(|w| w.wallet.currency == c)
            .cloned()
            .ok_or_else(|| Error::NoWallet {
                user: *user,
                what: format!("{c} "),
            }),
        None => match wallets {
            [] => Err(Error::NoWallet {
                user: *user,
                what: String::new(),
            }),
            [one] => Ok(one.clone()),
            many => Err(Error::AmbiguousWallet(
                many.iter()
                    .map(|w| w.wallet.currency.code().to_owned())
                    .collect::<Vec<_>>()
                    .join(", "),
            )),
        },
    }
}

/// The acquirer for a payer hosted by `host`: `host` itself, if the merchant accepted it and its
/// record is active.
pub fn choose_acquirer(merchant: &MerchantView, host: &PlatformId) -> Result<PlatformId, Error> {
    if merchant.platforms.contains(host) {
        return Ok(host.clone());
    }
    if merchant.pending.contains(host) {
        return Err(Error::PendingConsent {
            merchant: merchant.merchant.id.clone(),
            platform: host.clone(),
        });
    }
    let served_by = if merchant.platforms.is_empty() {
        "none".to_owned()
    } else {
        merchant
            .platforms
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(Error::NotServed {
        merchant: merchant.merchant.id.clone(),
        platform: host.clone(),
        served_by,
    })
}

/// Queries the chain and checks everything a payment needs (see the module docs).
pub async fn quote(
    client: &rpc::Client,
    key: &SecretKey,
    code: ScannedCode,
    opts: &PayOptions,
) -> Result<Quote, Error> {
    let payer = &key.public_key();
    // The payer's own reads (its wallets, its order, its guardian binding) are signed with its key.
    let client = &client.clone().with_reader(key);
    if let (Some(code_cur), Some(chosen)) = (code.currency, opts.currency) {
        if code_cur != chosen {
            return Err(Error::CurrencyMismatch {
                code: code_cur,
                chosen,
            });
        }
    }
    // The merchant, the platforms it accepted and their routes: from state proven under the
    // pinned genesis, not a node's word.
    let status = client.status().await?;
    let merchant = proven_merchant(client, &opts.pin, status.height, &code.merchant_id)
        .await?
        .ok_or_else(|| Error::UnknownMerchant(code.merchant_id.clone()))?;
    let wallet = match &opts.delegated {
        None => {
            let wallets = client.wallets(payer).await?;
            choose_wallet(payer, &wallets.wallets, opts.currency.or(code.currency))?
        }
        Some(d) => delegated_wallet(client, payer, d, opts.currency.or(code.currency)).await?,
    };
    let acquirer = choose_acquirer(&merchant, &wallet.wallet.host)?;
    let looked_up = Instant::now();
    let (acquiring, route) = routed_record(
        client,
        key,
        &code.merchant_id,
        &acquirer,
        opts,
        status.height,
    )
    .await?;
    let lookup_time = looked_up.elapsed();
    acquiring
        .check_usable(opts.now, wallet.wallet.currency)
        .map_err(|source| Error::Record {
            merchant: code.merchant_id.clone(),
            platform: acquirer.clone(),
            source,
        })?;
    let base = code.amount(opts.amount, wallet.wallet.currency)?;
    let due = emvco::decode(&code.payload)?.amount_due(base, opts.tip)?;
    let amount = due.total;
    let order_ref = code.order_ref(opts.order_ref.as_deref())?;
    match client.order(&code.merchant_id, &order_ref).await {
        Ok(paid) => {
            return Err(Error::OrderAlreadyPaid {
                order_ref,
                merchant: code.merchant_id.clone(),
                payment: paid.payment.id,
            })
        }
        // Unpaid, or paid by someone else (whose payment the payer may not read): the chain
        // refuses a second payment of one order anyway.
        Err(e)
            if matches!(
                e.code(),
                Some(ErrorCode::OrderNotPaid | ErrorCode::ReadNotEntitled)
            ) => {}
        Err(e) => return Err(e.into()),
    }
    if wallet.balance < amount.value {
        return Err(Error::InsufficientBalance {
            wallet: wallet.wallet.id,
            holds: amount.currency.format(wallet.balance),
            needs: amount.to_string(),
        });
    }
    Ok(Quote {
        code,
        merchant,
        wallet,
        acquirer,
        acquiring,
        route,
        amount,
        due,
        lookup_time,
        order_ref,
        delegated: opts.delegated.clone(),
    })
}

/// The acquirer's record for `merchant` and the route a payment names: through a signed enclave
/// lookup as `key` (verified, opened only by the payer), or, on a chain without an enclave, from the
/// public registry.
async fn routed_record(
    client: &rpc::Client,
    key: &SecretKey,
    merchant: &MerchantId,
    platform: &PlatformId,
    opts: &PayOptions,
    height: u64,
) -> Result<(AcquiringInfo, Route), Error> {
    let record_error = |source| Error::Record {
        merchant: merchant.clone(),
        platform: platform.clone(),
        source,
    };
    // Whether records are sealed is genesis's word, not the node's: a node that says "no enclave"
    // on a chain that has one must not get to hand the payer a plaintext record of its choosing.
    if opts.pin.anchor.is_none() {
        if client.enclave().await?.config.is_some() {
            return Err(Error::Lookup {
                merchant: merchant.clone(),
                source: Box::new(crate::enclave::Error::AnchorMismatch(
                    "the node reports an enclave, genesis has none".into(),
                )),
            });
        }
        // The record from proven state: a node cannot hand the payer acquiring details of its
        // choosing.
        let (record, _) = crate::proven::read(client, &opts.pin, height, |s| {
            registry::record(s, merchant, platform)
        })
        .await
        .map_err(|e| Error::Lookup {
            merchant: merchant.clone(),
            source: Box::new(e.into()),
        })?;
        let record = record.ok_or_else(|| Error::NoRecord {
            merchant: merchant.clone(),
            platform: platform.clone(),
        })?;
        let info = AcquiringInfo::parse(&record.payload).map_err(record_error)?;
        let route = Route {
            record_version: record.version,
            record_hash: record.payload_hash,
        };
        return Ok((info, route));
    }
    let lookup = crate::enclave::lookup(client, key, merchant, platform, &opts.pin)
        .await
        .map_err(|e| Error::Lookup {
            merchant: merchant.clone(),
            source: Box::new(e),
        })?;
    let (Some(plaintext), Some(record)) = (&lookup.plaintext, &lookup.answer.record) else {
        return Err(Error::NoRecord {
            merchant: merchant.clone(),
            platform: platform.clone(),
        });
    };
    let info = AcquiringInfo::parse(plaintext).map_err(record_error)?;
    let route = Route {
        record_version: record.version,
        record_hash: record.ciphertext_hash,
    };
    Ok((info, route))
}

/// The merchant `id` as `paychain_merchant` shows it, read from state proven under `pin` (at the
/// node's reported `height`); `None` when it is not registered.
pub async fn proven_merchant(
    client: &rpc::Client,
    pin: &Pin,
    height: u64,
    id: &MerchantId,
) -> Result<Option<MerchantView>, Error> {
    let read = crate::proven::read(client, pin, height, |s| {
        // The independent reads first, so that one call proves them together.
        let merchant = registry::merchant(s, id)?;
        let platforms = registry::platforms_of(s, id)?;
        let pending = registry::pending_of(s, id)?;
        let Some(merchant) = merchant else {
            return Ok(None);
        };
        let mut routes = Vec::with_capacity(platforms.len());
        for p in &platforms {
            if let Some(r) = registry::record(s, id, p)? {
                routes.push(RouteView {
                    platform_id: r.platform_id,
                    route: Route {
                        record_version: r.version,
                        record_hash: r.payload_hash,
                    },
                });
            }
        }
        Ok(Some(MerchantView {
            merchant,
            platforms,
            routes,
            pending,
        }))
    })
    .await;
    match read {
        Ok((view, _)) => Ok(view),
        Err(e) => Err(Error::Unproven {
            merchant: id.clone(),
            source: Box::new(e),
        }),
    }
}

/// The guardian's wallet that an active binding of `dependant` pays from.
async fn delegated_wallet(
    client: &rpc::Client,
    dependant: &PublicKey,
    d: &Delegated,
    currency: Option<Currency>,
) -> Result<WalletView, Error> {
    let b = client.guardian_binding(&d.binding).await?;
    if b.dependant != *dependant {
        return Err(Error::Binding(format!(
            "binding {} belongs to dependant {}, not to you ({dependant})",
            b.id, b.dependant
        )));
    }
    let (guardian::Status::Active, Some(a)) = (b.status, &b.authorisation) else {
        return Err(Error::Binding(format!(
            "binding {} is {}: your guardian has not approved it, or ended it",
            b.id, b.status
        )));
    };
    if a.biometric.is_some() && d.biometric.is_none() {
        return Err(Error::Binding(format!(
            "binding {} requires your biometric: give --biometric-template",
            b.id
        )));
    }
    let w = client.wallet(&a.wallet).await?;
    if let Some(c) = currency.filter(|c| *c != w.wallet.currency) {
        return Err(Error::CurrencyMismatch {
            code: c,
            chosen: w.wallet.currency,
        });
    }
    Ok(w)
}

/// Signs and submits the payment, then waits until it is committed (final: BFT does not fork).
pub async fn pay(
    client: &rpc::Client,
    key: &SecretKey,
    quote: &Quote,
    wait: Duration,
) -> Result<(Hash, Receipt), Error> {
    let sent = tx::send(client, key, quote.call(), tx::Wait::Committed(wait)).await?;
    let tx_hash = sent.tx_hash;
    Ok((tx_hash, sent.into_receipt()?))
}

/// A dependant's payment through guardian binding `binding`, with the presented biometric
/// `template` hashed with the binding's salt (the binding is asked only when a template is given).
pub async fn delegation(
    client: &rpc::Client,
    binding: Hash,
    template: Option<&[u8]>,
) -> Result<Delegated, Error> {
    let biometric = match template {
        None => None,
        Some(template) => {
            let b = client.guardian_binding(&binding).await?;
            let salt = b
                .authorisation
                .and_then(|a| a.biometric)
                .map(|bio| bio.salt)
                .ok_or(Error::NoBiometric(binding))?;
            Some(guardian::biometric_hash(&salt, template))
        }
    };
    Ok(Delegated { binding, biometric })
}

/// What a payer asks of [`pay_scanned`] besides the code.
#[derive(Debug, Clone)]
pub struct PayRequest<'a> {
    /// Amount (required for a static code; must equal a dynamic code's).
    pub amount: Option<Decimal>,
    /// Which wallet pays.
    pub currency: Option<Currency>,
    /// Order reference for a static code.
    pub order_ref: Option<String>,
    /// Pay as a dependant from the guardian's wallet through this binding.
    pub binding: Option<Hash>,
    /// The dependant's biometric template, when the binding needs one.
    pub biometric_template: Option<&'a [u8]>,
    /// The payer's tip, when the code asks for one (0 for none).
    pub tip: Option<Decimal>,
    /// The payer's clock (Unix seconds): the acquiring record must be valid then.
    pub now: u64,
    /// The chain's genesis, pinned.
    pub pin: Pin,
}

impl PayRequest<'_> {
    /// A request against the pinned genesis `pin`, with nothing else asked: the code's amount and
    /// order, the default wallet, no tip, no binding.
    pub fn new(pin: Pin) -> Self {
        PayRequest {
            amount: None,
            currency: None,
            order_ref: None,
            binding: None,
            biometric_template: None,
            tip: None,
            now: 0,
            pin,
        }
    }
}

/// How long each step of a payment took, as the payer saw it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Steps {
    /// The checks before signing, without the lookup: merchant, wallet, order, balance.
    pub checks: Duration,
    /// The signed enclave lookup of the acquiring record, verified and opened.
    pub lookup: Duration,
    /// Sign, submit, and wait until the payment is committed.
    pub commit: Duration,
    /// Wait for the certificate (the next block) and check it against the validator set.
    pub certificate: Duration,
}

/// A payment made: what was checked, its receipt and its certificate.
#[derive(Debug, Clone)]
pub struct Paid {
    /// What was paid, to whom, from which wallet.
    pub quote: Quote,
    /// The payment transaction (the payment's id).
    pub tx_hash: Hash,
    /// Its receipt.
    pub receipt: Receipt,
    /// How long each step took.
    pub steps: Steps,
    /// Its certificate, checked against the node's validator set.
    pub certificate: TxCertificate,
}

/// A code scanned ([`scan`]) and not expired at `now` (Unix seconds): all that is checked offline,
/// before any key or node is needed.
pub fn scan_at(payload: &str, now: u64) -> Result<ScannedCode, Error> {
    let code = scan(payload)?;
    code.check_expiry(now)?;
    Ok(code)
}

/// Pays a scanned code ([`scan_at`]), the rest of the flow: the guardian [`delegation`] if asked,
/// [`quote`], [`pay`] and [`wait_certificate`] (each wait at most `wait`).
pub async fn pay_scanned(
    client: &rpc::Client,
    key: &SecretKey,
    code: ScannedCode,
    request: PayRequest<'_>,
    wait: Duration,
) -> Result<Paid, Error> {
    // The payer's reads (its binding, its certificate) are signed with its key.
    let client = &client.clone().with_reader(key);
    let delegated = match request.binding {
        None => None,
        Some(binding) => Some(delegation(client, binding, request.biometric_template).await?),
    };
    let opts = PayOptions {
        amount: request.amount,
        currency: request.currency,
        order_ref: request.order_ref,
        delegated,
        tip: request.tip,
        now: request.now,
        pin: request.pin,
    };
    let started = Instant::now();
    let quote = quote(client, key, code, &opts).await?;
    let quoted = Instant::now();
    let (tx_hash, receipt) = pay(client, key, &quote, wait).await?;
    let committed = Instant::now();
    let certificate = wait_certificate(client, &tx_hash, &opts.pin, wait).await?;
    let steps = Steps {
        checks: (quoted - started).saturating_sub(quote.lookup_time),
        lookup: quote.lookup_time,
        commit: committed - quoted,
        certificate: committed.elapsed(),
    };
    Ok(Paid {
        quote,
        tx_hash,
        receipt,
        steps,
        certificate,
    })
}

/// Polls `paychain_certificate` until the certificate exists (the next block is committed), then
/// checks it against the pinned genesis (chain id and validator set), not the node's word.
pub async fn wait_certificate(
    client: &rpc::Client,
    tx_hash: &Hash,
    pin: &Pin,
    timeout: Duration,
) -> Result<TxCertificate, Error> {
    let deadline = Instant::now() + timeout;
    let cert = loop {
        match client.certificate(tx_hash).await {
            Ok(cert) => break cert,
            Err(e) if e.code().is_some_and(|c| NOT_CERTIFIABLE_YET.contains(&c)) => {}
            Err(e) => return Err(e.into()),
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::CertificateTimeout {
                tx_hash: *tx_hash,
                timeout,
            });
        }
        tokio::time::sleep(tx::POLL_INTERVAL.min(deadline - now)).await;
    };
    cert.verify(&pin.chain_id, &pin.validators)
        .map_err(|e| Error::BadCertificate {
            tx_hash: *tx_hash,
            reason: format!("{e} (against genesis)"),
        })?;
    Ok(cert)
}

/// Checks the certificate of payment `tx_hash` offline, against the chain's genesis (its chain id and
/// validator set) rather than a node's word, as `paychain cert verify` does: that it certifies this
/// transaction, that every link verifies, and that the chain executed it successfully (a valid
/// certificate of a refused payment proves no payment). No node is asked.
pub fn verify_offline(
    cert: &TxCertificate,
    tx_hash: &Hash,
    genesis: &Genesis,
) -> Result<(), Error> {
    let bad = |reason: String| Error::BadCertificate {
        tx_hash: *tx_hash,
        reason,
    };
    let certified = cert.tx.hash();
    if certified != *tx_hash {
        return Err(bad(format!("it certifies transaction {certified}")));
    }
    cert.verify(&genesis.chain_id, &genesis.validators)
        .map_err(|e| bad(format!("{e} (against genesis)")))?;
    if cert.receipt.code != 0 {
        return Err(bad(format!(
            "it proves the payment was refused (code {}: {})",
            cert.receipt.code,
            cert.receipt
                .error
                .as_deref()
                .unwrap_or("no reason recorded")
        )));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use paychain_contracts::registry::Merchant;
    use paychain_contracts::wallet::Wallet;

    fn mid() -> MerchantId {
        MerchantId::derive(&PublicKey([3; 32]))
    }

    fn spec() -> emvco::MerchantCodeSpec {
        emvco::MerchantCodeSpec::new(mid(), "Noodle House", "Shanghai", "5812", "CNY", "CN")
            .unwrap()
    }

    fn dec(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    #[test]
    fn dynamic_code_amount_and_order() {
        let payload = emvco::encode(&spec().with_payment(dec("12.5"), "R-1").unwrap());
        let c = scan(&payload).unwrap();
        assert!(c.dynamic);
        assert_eq!(
            (c.merchant_id.clone(), c.currency),
            (mid(), Some(Currency::CNY))
        );
        assert_eq!(c.order_ref(Some("other")).unwrap(), "R-1");
        let a = c.amount(None, Currency::CNY).unwrap();
        assert_eq!(a.to_string(), "12.50 CNY");
        assert_eq!(c.amount(Some(dec("12.50")), Currency::CNY).unwrap(), a);
        let e = c.amount(Some(dec("13")), Currency::CNY).unwrap_err();
        assert_eq!(
            e.to_string(),
            "amount mismatch: the code asks for 12.50 CNY, --amount says 13.00 CNY"
        );
        assert!(e.is_input());
    }

    #[test]
    fn static_code_needs_an_amount_and_gets_an_order_ref() {
        let c = scan(&emvco::encode(&spec())).unwrap();
        assert!(!c.dynamic);
        assert!(matches!(
            c.amount(None, Currency::CNY),
            Err(Error::AmountMissing)
        ));
        assert!(matches!(
            c.amount(Some(dec("1.234")), Currency::CNY),
            Err(Error::Amount(_))
        ));
        assert!(matches!(
            c.amount(Some(dec("0")), Currency::CNY),
            Err(Error::Amount(_))
        ));
        let a = c.order_ref(None).unwrap();
        let b = c.order_ref(None).unwrap();
        assert!(a.starts_with("pc-") && a != b);
        assert_eq!(c.order_ref(Some("table 7")).unwrap(), "table 7");
        assert!(c.order_ref(Some("naïve")).is_err());
    }

    #[test]
    fn expiry_rule() {
        let payload = emvco::encode(&spec().with_payment(dec("3"), "R-2").unwrap());
        let with = with_expiry(&payload, 1_700_000_000).unwrap();
        let c = scan(&with).unwrap();
        assert_eq!(c.expires_at, Some(1_700_000_000));
        assert_eq!(
            (c.amount, c.order_ref.as_deref()),
            (Some(dec("3.00")), Some("R-2"))
        );
        assert!(c.check_expiry(1_699_999_999).is_ok());
        let e = c.check_expiry(1_700_000_000).unwrap_err();
        assert!(matches!(e, Error::Expired { .. }) && e.is_input(), "{e}");
        // Replacing the expiry keeps a single 26-02.
        let again = with_expiry(&with, 1_800_000_000).unwrap();
        assert_eq!(scan(&again).unwrap().expires_at, Some(1_800_000_000));
        assert_eq!(again.matches("0210").count(), 1);
        // No expiry: never expired.
        assert!(scan(&payload).unwrap().check_expiry(u64::MAX).is_ok());
        // scan_at = scan + the expiry check.
        assert!(scan_at(&with, 1_700_000_000).is_err());
        assert_eq!(scan_at(&with, 1).unwrap(), scan(&with).unwrap());
    }

    #[test]
    fn not_paychain_and_broken_codes() {
        let payload = emvco::encode(&spec());
        let mut bad = payload.clone();
        bad.replace_range(bad.len() - 4.., "0000");
        assert!(matches!(scan(&bad), Err(Error::Code(_))));
        assert!(matches!(scan(""), Err(Error::Code(_))));
    }

    fn merchant_view(platforms: &[&str]) -> MerchantView {
        MerchantView {
            merchant: Merchant {
                id: mid(),
                name: "Noodle House".into(),
                city: "Shanghai".into(),
                mcc: "5812".into(),
                country: "CN".into(),
                merchant_key: PublicKey([3; 32]),
                registered_by: PlatformId::new("platform-0").unwrap(),
                registered_at: 1,
            },
            platforms: platforms
                .iter()
                .map(|p| PlatformId::new(*p).unwrap())
                .collect(),
            routes: Vec::new(),
            pending: Vec::new(),
        }
    }

    #[test]
    fn acquirer_is_the_payers_platform_or_a_clear_refusal() {
        let p0 = PlatformId::new("platform-0").unwrap();
        let m = merchant_view(&["platform-0", "platform-1"]);
        assert_eq!(choose_acquirer(&m, &p0).unwrap(), p0);
        let m = merchant_view(&["platform-1", "platform-2"]);
        assert_eq!(
            choose_acquirer(&m, &p0).unwrap_err().to_string(),
            format!(
                "merchant {} is not served by your platform platform-0 (served by: platform-1, platform-2)",
                mid()
            )
        );
        let m = merchant_view(&[]);
        assert!(choose_acquirer(&m, &p0)
            .unwrap_err()
            .to_string()
            .ends_with("(served by: none)"));
        // A record the merchant has not accepted is pending, never chosen.
        let mut m = merchant_view(&["platform-1"]);
        m.pending = vec![p0.clone()];
        let e = choose_acquirer(&m, &p0).unwrap_err().to_string();
        assert!(e.contains("awaits the merchant's consent"), "{e}");
    }

    #[test]
    fn wallet_choice() {
        let user = PublicKey([9; 32]);
        let w = |c: Currency| WalletView {
            wallet: Wallet {
                id: wallet::wallet_id(&user, c),
                owner: user,
                currency: c,
                host: PlatformId::new("platform-0").unwrap(),
                opened_at: 1,
                opened_at_ms: 0,
            },
            balance: Decimal::ZERO,
            cards: vec![],
        };
        assert!(matches!(
            choose_wallet(&user, &[], None),
            Err(Error::NoWallet { .. })
        ));
        let both = [w(Currency::CNY), w(Currency::USD)];
        assert!(matches!(
            choose_wallet(&user, &both, None),
            Err(Error::AmbiguousWallet(_))
        ));
        assert_eq!(
            choose_wallet(&user, &both, Some(Currency::USD))
                .unwrap()
                .wallet
                .currency,
            Currency::USD
        );
        assert!(choose_wallet(&user, &both, Some(Currency::EUR))
            .unwrap_err()
            .to_string()
            .contains("has no EUR wallet"));
    }
}
