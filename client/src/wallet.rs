//! Wallet accounts from the client side: the node's wallet queries, the hosting platform's off-chain
//! secrets (salts, one-time codes) and the flows that use them, one function per step.
//!
//! ```text
//! host salt file (32 random bytes, 0600, never on chain)
//!   └─ user_salt(host salt, user) ─► salted_hash(user salt, name | id number | phone | card number)
//! host:  verify_user ─► VerifyUser { salted hashes }          open_wallet ─► OpenWallet (wallet id)
//! bind card:  nonce ◄─ paychain_account; card_binding_request(host, nonce, user, card hash, otp)
//!             = { binding_id = card_binding_id(host key, nonce), RequestCardBinding { otp_commitment } }
//!             otp = generate_otp() ─► "SMS" to the user
//! user:  confirm_card ─► ConfirmCardBinding { binding_id, otp }
//! owner: top_up_instruction (signed TopUpMandate) ─► host: top_up ─► TopUp { mandate }
//! acquirer: settle ─► Settle          refund (checked against the payment's refundable rest) ─► Refund
//! ```
//!
//! Queries are methods of [`rpc::Client`] (`paychain_wallet`, `paychain_statement`, ...; see
//! `paychain_api::wallet`); the views are `paychain_contracts::api`'s. Every transaction goes through
//! [`tx::send`].

use std::path::{Path, PathBuf};

use paychain_api::{method, ErrorCode, WalletApiClient};
pub use paychain_contracts::api::{BalanceView, CertificateRef, CertificatesView, UserWalletsView};
use paychain_contracts::api::{PaymentView, StatementView, WalletView};
use paychain_contracts::crypto::{sha256, Hash, PublicKey, SecretKey};
use paychain_contracts::ids::{ChainId, MerchantId, PlatformId};
use paychain_contracts::money::{self, Amount, Currency};
use paychain_contracts::reads::Query;
use paychain_contracts::tx::Call;
use paychain_contracts::wallet::{
    self as contract, Account, CardBinding, HostQualification, TopUpMandate,
};
use rand::{Rng, RngCore};
use rust_decimal::Decimal;

use crate::rpc;
use crate::tx::{self, Sent, Wait};

/// Characters of a simulated bank channel's one-time code (no look-alikes: 0/O, 1/I/L).
const OTP_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Length of a one-time code: 20 characters of a 31-letter alphabet, about 99 bits.
pub const OTP_CHARS: usize = 20;

/// Errors of this module: local work (salt files, inputs checked before anything is sent), the
/// node's answers and the transactions.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The salt file cannot be read or written.
    #[error("salt file {path}: {reason}")]
    SaltFile {
        /// Path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Not a card number.
    #[error("invalid card number: expected 12 to 19 digits")]
    InvalidCard,
    /// An amount or currency the money rules refuse.
    #[error(transparent)]
    Money(#[from] money::Error),
    /// A currency other than the wallet's.
    #[error("wallet {wallet} holds {holds}, not {given}")]
    CurrencyMismatch {
        /// Wallet.
        wallet: Hash,
        /// Its currency.
        holds: Currency,
        /// The currency given.
        given: Currency,
    },
    /// The key is not the wallet owner's.
    #[error("wallet {wallet} belongs to {owner}, not to key {key}")]
    NotOwner {
        /// Wallet.
        wallet: Hash,
        /// Its owner.
        owner: PublicKey,
        /// The key given.
        key: PublicKey,
    },
    /// A top-up instruction file that cannot be read or is not one.
    #[error("{0}")]
    Instruction(String),
    /// More than the payment can still refund (checked before sending; the chain would refuse it).
    #[error("refund of {amount} exceeds what payment {payment} can still refund ({refundable})")]
    ExceedsRefundable {
        /// Asked.
        amount: Amount,
        /// Payment.
        payment: Hash,
        /// What is left, formatted in the payment's currency.
        refundable: String,
    },
    /// Talking to the node failed.
    #[error(transparent)]
    Rpc(#[from] rpc::Error),
    /// The transaction was not admitted.
    #[error(transparent)]
    Tx(#[from] tx::Error),
}

impl rpc::Client {
    /// `paychain_wallet` (signed read, as every private read of this client: see
    /// [`rpc::Client::with_reader`]).
    pub async fn wallet(&self, id: &Hash) -> Result<WalletView, rpc::Error> {
        let q = Query::Wallet { wallet_id: *id };
        crate::rpc::signed_read!(self, method::WALLET, q, wallet)
    }

    /// `paychain_wallets` (signed read).
    pub async fn wallets(&self, user: &PublicKey) -> Result<UserWalletsView, rpc::Error> {
        let q = Query::Wallets { user: *user };
        crate::rpc::signed_read!(self, method::WALLETS, q, wallets)
    }

    /// `paychain_walletHost`.
    pub async fn wallet_host(
        &self,
        platform: &PlatformId,
    ) -> Result<HostQualification, rpc::Error> {
        self.run(
            method::WALLET_HOST,
            self.api().wallet_host(platform.clone().into()),
        )
        .await
    }

    /// `paychain_balance` (signed read).
    pub async fn balance(&self, account: &Account) -> Result<BalanceView, rpc::Error> {
        let q = Query::Balance {
            account: account.clone(),
        };
        crate::rpc::signed_read!(self, method::BALANCE, q, balance)
    }

    /// `paychain_statement` (signed read; `to` defaults to the node's tip).
    pub async fn statement(
        &self,
        account: &Account,
        from: u64,
        to: Option<u64>,
    ) -> Result<StatementView, rpc::Error> {
        let q = Query::Statement {
            account: account.clone(),
            from_height: from,
            to_height: to,
        };
        crate::rpc::signed_read!(self, method::STATEMENT, q, statement)
    }

    /// `paychain_payment` (signed read).
    pub async fn payment(&self, id: &Hash) -> Result<PaymentView, rpc::Error> {
        let q = Query::Payment { payment_id: *id };
        crate::rpc::signed_read!(self, method::PAYMENT, q, payment)
    }

    /// `paychain_order`: the payment of a merchant's order (error 3004 when unpaid; signed read).
    pub async fn order(
        &self,
        merchant: &MerchantId,
        order_ref: &str,
    ) -> Result<PaymentView, rpc::Error> {
        let q = Query::Order {
            merchant_id: merchant.clone(),
            order_ref: order_ref.to_owned(),
        };
        crate::rpc::signed_read!(self, method::ORDER, q, order)
    }

    /// `paychain_cardBinding` (signed read).
    pub async fn card_binding(&self, id: &Hash) -> Result<CardBinding, rpc::Error> {
        let q = Query::CardBinding { binding_id: *id };
        crate::rpc::signed_read!(self, method::CARD_BINDING, q, card_binding)
    }

    /// `paychain_certificates` (signed read, by `key` itself or the regulator).
    pub async fn certificates(
        &self,
        key: &PublicKey,
        limit: Option<usize>,
    ) -> Result<CertificatesView, rpc::Error> {
        let q = Query::Certificates {
            public_key: *key,
            limit: limit.map(|l| u32::try_from(l).unwrap_or(u32::MAX)),
        };
        crate::rpc::signed_read!(self, method::CERTIFICATES, q, certificates)
    }
}

/// The JSON-RPC error code `paychain_order` answers for an unpaid order.
pub const ORDER_NOT_PAID: i32 = ErrorCode::OrderNotPaid.code();

/// The host's salt file next to its key file: `<key file>.salt`.
pub fn default_salt_path(host_key_file: &Path) -> PathBuf {
    let mut name = host_key_file.as_os_str().to_owned();
    name.push(".salt");
    PathBuf::from(name)
}

/// The hosting platform's salt file, read (or created) by the flows that hash with it, when they
/// get there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSalt {
    path: PathBuf,
}

impl HostSalt {
    /// The salt file at `path`.
    pub fn at(path: impl Into<PathBuf>) -> HostSalt {
        HostSalt { path: path.into() }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The salt ([`load_or_create_salt`]).
    pub fn load(&self) -> Result<[u8; 32], Error> {
        load_or_create_salt(&self.path)
    }
}

/// Loads the host's 32-byte salt (64 hex characters), creating the file (mode 0600) with a random
/// salt if it does not exist. The salt never goes on chain: without it the hashes cannot be
/// matched against guesses.
pub fn load_or_create_salt(path: &Path) -> Result<[u8; 32], Error> {
    let fail = |reason: String| Error::SaltFile {
        path: path.to_owned(),
        reason,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bytes = hex::decode(text.trim()).map_err(|e| fail(format!("not hex: {e}")))?;
            bytes
                .try_into()
                .map_err(|_| fail("expected 64 hex characters".into()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut salt = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut salt);
            write_private(path, &hex::encode(salt)).map_err(|e| fail(e.to_string()))?;
            Ok(salt)
        }
        Err(e) => Err(fail(e.to_string())),
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// The salt of one user: `sha256("paychain/user-salt/v1" ‖ host salt ‖ user key)`, so that the same
/// name or card of two users hashes differently.
pub fn user_salt(host_salt: &[u8; 32], user: &PublicKey) -> Hash {
    sha256(&[b"paychain/user-salt/v1", host_salt, &user.0])
}

/// `sha256(salt ‖ value)`, the form the chain stores (value trimmed; card numbers without spaces).
pub fn salted_hash(salt: &Hash, value: &str) -> Hash {
    sha256(&[&salt.0, value.trim().as_bytes()])
}

/// A card number with spaces and dashes removed, if what remains is 12 to 19 digits.
pub fn normalize_card(card: &str) -> Option<String> {
    let digits: String = card.chars().filter(|c| *c != ' ' && *c != '-').collect();
    let ok = (12..=19).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    ok.then_some(digits)
}

/// A card number, normalized ([`normalize_card`]). Never sent: only its salted hash.
#[derive(Clone, PartialEq, Eq)]
pub struct CardNumber(String);

impl CardNumber {
    /// `card` without spaces and dashes, if that is 12 to 19 digits.
    pub fn parse(card: &str) -> Result<CardNumber, Error> {
        normalize_card(card)
            .map(CardNumber)
            .ok_or(Error::InvalidCard)
    }

    /// The digits.
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// The number masked for display ([`mask_card`]).
    pub fn masked(&self) -> String {
        mask_card(&self.0)
    }
}

impl std::fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CardNumber").field(&self.masked()).finish()
    }
}

/// The card hash of `card` for `user` at the host whose salt is `host_salt`.
pub fn card_hash(host_salt: &[u8; 32], user: &PublicKey, card: &str) -> Hash {
    salted_hash(&user_salt(host_salt, user), card)
}

/// The wallet owner's signed instruction for one top-up of `amount` into `wallet` from the card
/// `card_hash`, with a fresh random request id (the chain accepts each instruction once).
pub fn instruct_top_up(
    owner: &SecretKey,
    chain_id: &ChainId,
    wallet: &Hash,
    amount: &Amount,
    card_hash: &Hash,
) -> TopUpMandate {
    let mut id = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut id);
    contract::sign_top_up(owner, chain_id, wallet, amount, card_hash, Hash(id))
}

/// A one-time code of [`OTP_CHARS`] characters from the OS random generator.
pub fn generate_otp() -> String {
    let mut rng = rand::rngs::OsRng;
    (0..OTP_CHARS)
        .map(|_| OTP_ALPHABET[rng.gen_range(0..OTP_ALPHABET.len())] as char)
        .collect()
}

/// A card binding request: the binding's id and the call that asks for it.
#[derive(Debug, Clone)]
pub struct CardBindingRequest {
    /// The binding's id: [`contract::card_binding_id`] of the host's key and the nonce it sends
    /// the request with.
    pub binding_id: Hash,
    /// `RequestCardBinding`, committing to the one-time code under the binding id.
    pub call: Call,
}

/// The request by which `host`, sending it with nonce `host_nonce`, asks to bind card `card_hash`
/// to `user`, committing to `otp`: the binding id depends on the host's nonce, the commitment on
/// the binding id.
pub fn card_binding_request(
    host: &PublicKey,
    host_nonce: u64,
    user: PublicKey,
    card_hash: Hash,
    otp: &str,
) -> CardBindingRequest {
    let binding_id = contract::card_binding_id(host, host_nonce);
    let call = Call::Wallet(contract::Call::RequestCardBinding {
        user,
        card_hash,
        otp_commitment: contract::otp_commitment(&binding_id, otp),
    });
    CardBindingRequest { binding_id, call }
}

/// The user's confirmation of binding `binding_id` with the one-time code.
pub fn confirm_card_call(binding_id: Hash, otp: String) -> Call {
    Call::Wallet(contract::Call::ConfirmCardBinding { binding_id, otp })
}

/// The host attests `user`'s real-name verification: salted hashes of name, ID number and phone
/// (the salt from `salt`, never on chain).
#[allow(clippy::too_many_arguments)]
pub async fn verify_user(
    client: &rpc::Client,
    host: &SecretKey,
    salt: &HostSalt,
    user: PublicKey,
    name: &str,
    id_number: &str,
    phone: &str,
    wait: Wait,
) -> Result<Sent, Error> {
    let s = user_salt(&salt.load()?, &user);
    let call = Call::Wallet(contract::Call::VerifyUser {
        user,
        name_hash: salted_hash(&s, name),
        id_hash: salted_hash(&s, id_number),
        phone_hash: salted_hash(&s, phone),
    });
    Ok(tx::send(client, host, call, wait).await?)
}

/// A wallet opened: its id and the transaction.
#[derive(Debug)]
pub struct Opened {
    /// [`contract::wallet_id`] of the user and the currency.
    pub wallet_id: Hash,
    /// The `OpenWallet` transaction.
    pub sent: Sent,
}

/// `currency`, if paychain supports it (the chain opens wallets in no other).
pub fn supported_currency(currency: Currency) -> Result<Currency, Error> {
    currency.minor_units()?;
    Ok(currency)
}

/// The host opens `user`'s wallet in `currency` ([`supported_currency`]).
pub async fn open_wallet(
    client: &rpc::Client,
    host: &SecretKey,
    user: PublicKey,
    currency: Currency,
    wait: Wait,
) -> Result<Opened, Error> {
    supported_currency(currency)?;
    let wallet_id = contract::wallet_id(&user, currency);
    let call = Call::Wallet(contract::Call::OpenWallet { user, currency });
    let sent = tx::send(client, host, call, wait).await?;
    Ok(Opened { wallet_id, sent })
}

/// A card binding started: what the user needs to confirm it.
#[derive(Debug)]
pub struct CardBindingStarted {
    /// The binding.
    pub binding_id: Hash,
    /// The card's salted hash.
    pub card_hash: Hash,
    /// The one-time code the simulated bank channel "texts" to the card holder.
    pub otp: String,
    /// The `RequestCardBinding` transaction.
    pub sent: Sent,
}

/// The host starts binding `card` to `user`: the card's salted hash, a fresh one-time code, and
/// the request sent with the host's next nonce (the binding id depends on it).
pub async fn bind_card(
    client: &rpc::Client,
    host: &SecretKey,
    salt: &HostSalt,
    user: PublicKey,
    card: &CardNumber,
    wait: Wait,
) -> Result<CardBindingStarted, Error> {
    let card_hash = card_hash(&salt.load()?, &user, card.digits());
    let nonce = client.account(&host.public_key()).await?.nonce;
    let otp = generate_otp();
    let request = card_binding_request(&host.public_key(), nonce, user, card_hash, &otp);
    let sent = tx::TxBuilder::new(client, host)
        .nonce(nonce)
        .send(request.call, wait)
        .await?;
    Ok(CardBindingStarted {
        binding_id: request.binding_id,
        card_hash,
        otp,
        sent,
    })
}

/// The user confirms card binding `binding` with the one-time code.
pub async fn confirm_card(
    client: &rpc::Client,
    user: &SecretKey,
    binding: Hash,
    otp: String,
    wait: Wait,
) -> Result<Sent, Error> {
    Ok(tx::send(client, user, confirm_card_call(binding, otp), wait).await?)
}

/// The wallet owner's instruction for a top-up: given (signed elsewhere), or signed here.
#[derive(Debug)]
pub enum Instruction<'a> {
    /// Signed by the owner elsewhere ([`top_up_instruction`]).
    Given(TopUpMandate),
    /// Sign it with the owner's key (owner and host act on one machine).
    SignAs(&'a SecretKey),
}

/// A top-up sent.
#[derive(Debug)]
pub struct ToppedUp {
    /// The amount, in the wallet's currency.
    pub amount: Amount,
    /// The `TopUp` transaction.
    pub sent: Sent,
}

/// The host loads `wallet` with `value` (in `currency`, by default the wallet's) from its owner's
/// bound `card`, on the owner's instruction.
#[allow(clippy::too_many_arguments)]
pub async fn top_up(
    client: &rpc::Client,
    host: &SecretKey,
    salt: &HostSalt,
    wallet: Hash,
    value: Decimal,
    currency: Option<Currency>,
    card: &CardNumber,
    instruction: Instruction<'_>,
    wait: Wait,
) -> Result<ToppedUp, Error> {
    // The host reads its user's wallet with its own key.
    let client = &client.clone().with_reader(host);
    let w = client.wallet(&wallet).await?;
    let currency = currency.unwrap_or(w.wallet.currency);
    if currency != w.wallet.currency {
        return Err(Error::CurrencyMismatch {
            wallet,
            holds: w.wallet.currency,
            given: currency,
        });
    }
    let amount = Amount::new(value, currency)?;
    let card_hash = card_hash(&salt.load()?, &w.wallet.owner, card.digits());
    let mandate = match instruction {
        Instruction::Given(mandate) => mandate,
        Instruction::SignAs(owner) => {
            let chain = ChainId::new(client.status().await?.chain_id);
            instruct_top_up(owner, &chain, &wallet, &amount, &card_hash)
        }
    };
    let call = Call::Wallet(contract::Call::TopUp {
        wallet,
        amount,
        card_hash,
        mandate,
    });
    let sent = tx::send(client, host, call, wait).await?;
    Ok(ToppedUp { amount, sent })
}

/// The owner of `wallet` signs an instruction for one top-up of `value` (in the wallet's currency)
/// from the bound card `card_hash`, to hand to its host.
pub async fn top_up_instruction(
    client: &rpc::Client,
    owner: &SecretKey,
    wallet: Hash,
    value: Decimal,
    card_hash: Hash,
) -> Result<(TopUpMandate, Amount), Error> {
    let client = &client.clone().with_reader(owner);
    let w = client.wallet(&wallet).await?;
    if w.wallet.owner != owner.public_key() {
        return Err(Error::NotOwner {
            wallet,
            owner: w.wallet.owner,
            key: owner.public_key(),
        });
    }
    let amount = Amount::new(value, w.wallet.currency)?;
    let chain = ChainId::new(client.status().await?.chain_id);
    let mandate = instruct_top_up(owner, &chain, &wallet, &amount, &card_hash);
    Ok((mandate, amount))
}

/// Reads an owner's top-up instruction (JSON, at most 4096 bytes).
pub fn read_instruction(path: &Path) -> Result<TopUpMandate, Error> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Instruction(format!("cannot read {}: {e}", path.display())))?;
    if bytes.len() > 4096 {
        return Err(Error::Instruction(format!(
            "{} is larger than 4096 bytes: not a top-up instruction",
            path.display()
        )));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::Instruction(format!(
            "{} is not a top-up instruction: {e}",
            path.display()
        ))
    })
}

/// The acquirer settles `merchant`'s to-be-settled balance: `amount`, or every currency's whole
/// balance.
pub async fn settle(
    client: &rpc::Client,
    acquirer: &SecretKey,
    merchant: MerchantId,
    amount: Option<Amount>,
    wait: Wait,
) -> Result<Sent, Error> {
    let call = Call::Wallet(contract::Call::Settle {
        merchant_id: merchant,
        amount,
    });
    Ok(tx::send(client, acquirer, call, wait).await?)
}

/// A refund sent.
#[derive(Debug)]
pub struct Refunded {
    /// The amount, in the payment's currency.
    pub amount: Amount,
    /// The `Refund` transaction.
    pub sent: Sent,
}

/// The acquirer refunds `value` of `payment` (in the payment's currency) to the payer's wallet;
/// more than the payment can still refund is refused before anything is sent.
pub async fn refund(
    client: &rpc::Client,
    acquirer: &SecretKey,
    payment: Hash,
    value: Decimal,
    wait: Wait,
) -> Result<Refunded, Error> {
    let client = &client.clone().with_reader(acquirer);
    let p = client.payment(&payment).await?;
    let amount = Amount::new(value, p.payment.amount.currency)?;
    if amount.value > p.refundable {
        return Err(Error::ExceedsRefundable {
            amount,
            payment,
            refundable: amount.currency.format(p.refundable),
        });
    }
    let call = Call::Wallet(contract::Call::Refund { payment, amount });
    let sent = tx::send(client, acquirer, call, wait).await?;
    Ok(Refunded { amount, sent })
}

/// `6222 **** **** 1234`-style masking for display.
pub fn mask_card(card: &str) -> String {
    let n = card.len();
    if n <= 8 {
        return "*".repeat(n);
    }
    format!("{}{}{}", &card[..4], "*".repeat(n - 8), &card[n - 4..])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use paychain_contracts::wallet::otp_commitment;

    #[test]
    fn otp_is_long_and_accepted_by_the_contract_rules() {
        let a = generate_otp();
        let b = generate_otp();
        assert_eq!(a.len(), OTP_CHARS);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| c.is_ascii_graphic()));
        assert_ne!(
            otp_commitment(&Hash::ZERO, &a),
            otp_commitment(&Hash::ZERO, &b)
        );
    }

    #[test]
    fn card_binding_request_commits_to_the_code_under_the_binding_id() {
        let host = PublicKey([5; 32]);
        let user = PublicKey([6; 32]);
        let r = card_binding_request(&host, 9, user, Hash::ZERO, "CODE");
        assert_eq!(r.binding_id, contract::card_binding_id(&host, 9));
        assert_ne!(r.binding_id, contract::card_binding_id(&host, 10));
        match r.call {
            Call::Wallet(contract::Call::RequestCardBinding {
                user: u,
                card_hash,
                otp_commitment: c,
            }) => {
                assert_eq!((u, card_hash), (user, Hash::ZERO));
                assert_eq!(c, otp_commitment(&r.binding_id, "CODE"));
            }
            other => panic!("{other:?}"),
        }
        match confirm_card_call(r.binding_id, "CODE".into()) {
            Call::Wallet(contract::Call::ConfirmCardBinding { binding_id, otp }) => {
                assert_eq!((binding_id, otp.as_str()), (r.binding_id, "CODE"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn card_numbers_parse_and_never_print_whole() {
        let c = CardNumber::parse("6222 0202-0011 2233").unwrap();
        assert_eq!(c.digits(), "6222020200112233");
        assert_eq!(c.masked(), "6222********2233");
        assert!(!format!("{c:?}").contains("020200112"));
        let e = CardNumber::parse("1234").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid card number: expected 12 to 19 digits"
        );
    }

    #[test]
    fn salts_separate_users_and_hosts() {
        let u1 = PublicKey([1; 32]);
        let u2 = PublicKey([2; 32]);
        let h1 = [7u8; 32];
        let h2 = [8u8; 32];
        let card = "6222020200112233";
        assert_ne!(card_hash(&h1, &u1, card), card_hash(&h1, &u2, card));
        assert_ne!(card_hash(&h1, &u1, card), card_hash(&h2, &u1, card));
        assert_eq!(card_hash(&h1, &u1, card), card_hash(&h1, &u1, card));
    }

    #[test]
    fn cards_are_normalized_and_masked() {
        assert_eq!(
            normalize_card("6222 0202-0011 2233").as_deref(),
            Some("6222020200112233")
        );
        assert_eq!(normalize_card("1234"), None);
        assert_eq!(normalize_card("6222x20200112233"), None);
        assert_eq!(mask_card("6222020200112233"), "6222********2233");
    }

    #[test]
    fn salt_file_is_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = default_salt_path(&dir.path().join("host.json"));
        assert!(path.ends_with("host.json.salt"));
        let a = load_or_create_salt(&path).unwrap();
        let b = load_or_create_salt(&path).unwrap();
        assert_eq!(a, b);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        std::fs::write(&path, "zz").unwrap();
        assert!(load_or_create_salt(&path).is_err());
    }
}
