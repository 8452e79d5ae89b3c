//! Wallet accounts and governance from the client side: the node's wallet queries, the hosting
//! platform's off-chain secrets (salts, one-time codes) and the calls that use them.
//!
//! ```text
//! host salt file (32 random bytes, 0600, never on chain)
//!   └─ user_salt(host salt, user) ─► salted_hash(user salt, name | id number | phone | card number)
//! bind card:  nonce ◄─ paychain_account; binding_id = card_binding_id(host key, nonce)
//!             otp = generate_otp() ─► "SMS" to the user; RequestCardBinding { otp_commitment(binding_id, otp) }
//! user:       ConfirmCardBinding { binding_id, otp }
//! ```
//!
//! Queries are methods of [`rpc::Client`] (`paychain_wallet`, `paychain_statement`, ...; see
//! `paychain_api::wallet`); the views are `paychain_contracts::api`'s.

use std::path::{Path, PathBuf};

use paychain_api::{method, ErrorCode, WalletApiClient};
pub use paychain_contracts::api::{BalanceView, CertificateRef, CertificatesView, UserWalletsView};
use paychain_contracts::api::{PaymentView, ProposalView, StatementView, WalletView};
use paychain_contracts::crypto::{sha256, Hash, PublicKey};
use paychain_contracts::ids::{MerchantId, PlatformId};
use paychain_contracts::wallet::{Account, CardBinding, HostQualification};
use rand::{Rng, RngCore};

use crate::rpc;

/// Characters of a simulated bank channel's one-time code (no look-alikes: 0/O, 1/I/L).
const OTP_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Length of a one-time code: 20 characters of a 31-letter alphabet, about 99 bits.
pub const OTP_CHARS: usize = 20;

/// Errors of this module's local work (salt files).
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
}

impl rpc::Client {
    /// `paychain_wallet`.
    pub async fn wallet(&self, id: &Hash) -> Result<WalletView, rpc::Error> {
        self.run(method::WALLET, self.api().wallet((*id).into()))
            .await
    }

    /// `paychain_wallets`.
    pub async fn wallets(&self, user: &PublicKey) -> Result<UserWalletsView, rpc::Error> {
        self.run(method::WALLETS, self.api().wallets((*user).into()))
            .await
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

    /// `paychain_balance`.
    pub async fn balance(&self, account: &Account) -> Result<BalanceView, rpc::Error> {
        self.run(method::BALANCE, self.api().balance(account.clone().into()))
            .await
    }

    /// `paychain_statement` (`to` defaults to the node's tip).
    pub async fn statement(
        &self,
        account: &Account,
        from: u64,
        to: Option<u64>,
    ) -> Result<StatementView, rpc::Error> {
        let call = self.api().statement(
            account.clone().into(),
            Some(from.into()),
            to.map(Into::into),
        );
        self.run(method::STATEMENT, call).await
    }

    /// `paychain_payment`.
    pub async fn payment(&self, id: &Hash) -> Result<PaymentView, rpc::Error> {
        self.run(method::PAYMENT, self.api().payment((*id).into()))
            .await
    }

    /// `paychain_order`: the payment of a merchant's order (error 3004 when unpaid).
    pub async fn order(
        &self,
        merchant: &MerchantId,
        order_ref: &str,
    ) -> Result<PaymentView, rpc::Error> {
        let call = self
            .api()
            .order(merchant.clone().into(), order_ref.to_owned().into());
        self.run(method::ORDER, call).await
    }

    /// `paychain_cardBinding`.
    pub async fn card_binding(&self, id: &Hash) -> Result<CardBinding, rpc::Error> {
        self.run(method::CARD_BINDING, self.api().card_binding((*id).into()))
            .await
    }

    /// `paychain_proposal`.
    pub async fn proposal(&self, id: u64) -> Result<ProposalView, rpc::Error> {
        self.run(method::PROPOSAL, self.api().proposal(id.into()))
            .await
    }

    /// `paychain_proposals`.
    pub async fn proposals(&self) -> Result<Vec<ProposalView>, rpc::Error> {
        self.run(method::PROPOSALS, self.api().proposals()).await
    }

    /// `paychain_certificates`.
    pub async fn certificates(
        &self,
        key: &PublicKey,
        limit: Option<usize>,
    ) -> Result<CertificatesView, rpc::Error> {
        let call = self
            .api()
            .certificates((*key).into(), limit.map(Into::into));
        self.run(method::CERTIFICATES, call).await
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

/// The card hash of `card` for `user` at the host whose salt is `host_salt`.
pub fn card_hash(host_salt: &[u8; 32], user: &PublicKey, card: &str) -> Hash {
    salted_hash(&user_salt(host_salt, user), card)
}

/// The wallet owner's signed instruction for one top-up of `amount` into `wallet` from the card
/// `card_hash`, with a fresh random request id (the chain accepts each instruction once).
pub fn instruct_top_up(
    owner: &paychain_contracts::crypto::SecretKey,
    chain_id: &paychain_contracts::ids::ChainId,
    wallet: &Hash,
    amount: &paychain_contracts::money::Amount,
    card_hash: &Hash,
) -> paychain_contracts::wallet::TopUpMandate {
    let mut id = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut id);
    paychain_contracts::wallet::sign_top_up(owner, chain_id, wallet, amount, card_hash, Hash(id))
}

/// A one-time code of [`OTP_CHARS`] characters from the OS random generator.
pub fn generate_otp() -> String {
    let mut rng = rand::rngs::OsRng;
    (0..OTP_CHARS)
        .map(|_| OTP_ALPHABET[rng.gen_range(0..OTP_ALPHABET.len())] as char)
        .collect()
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
