//! Wallets, balances, statements, payments, card bindings and governance proposals (read-only).
//!
//! An `account` is the JSON of `paychain_contracts::wallet::Account`: `{"wallet":{"id":HEX}}`,
//! `{"to_be_settled":{"merchant_id":"M…","acquirer":"platform-0","currency":"CNY"}}` or
//! `{"clearing":{"platform":"platform-0","currency":"CNY"}}`.

use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;
use paychain_contracts::api::{
    BalanceView, CertificatesView, PaymentView, ProposalView, StatementView, UserWalletsView,
    WalletView,
};
use paychain_contracts::crypto::{Hash, PublicKey};
use paychain_contracts::ids::{MerchantId, PlatformId};
use paychain_contracts::wallet::{Account, CardBinding, HostQualification};

use crate::doc::{Area, MethodDoc, ParamDoc};
use crate::{ErrorCode as E, Param};

/// Method names of this area.
pub mod method {
    pub const WALLET: &str = "paychain_wallet";
    pub const WALLETS: &str = "paychain_wallets";
    pub const WALLET_HOST: &str = "paychain_walletHost";
    pub const BALANCE: &str = "paychain_balance";
    pub const STATEMENT: &str = "paychain_statement";
    pub const PAYMENT: &str = "paychain_payment";
    pub const ORDER: &str = "paychain_order";
    pub const CARD_BINDING: &str = "paychain_cardBinding";
    pub const PROPOSAL: &str = "paychain_proposal";
    pub const PROPOSALS: &str = "paychain_proposals";
    pub const CERTIFICATES: &str = "paychain_certificates";
}

/// Default `limit` of `paychain_certificates`.
pub const DEFAULT_CERTIFICATES: usize = 100;
/// Largest `limit` of `paychain_certificates`.
pub const MAX_CERTIFICATES: usize = 1000;

/// Wallet, payment and governance queries.
#[rpc(server, client, namespace = "paychain")]
pub trait WalletApi {
    /// A wallet with its balance and its owner's bound cards.
    #[method(name = "wallet")]
    fn wallet(&self, wallet_id: Param<Hash>) -> RpcResult<WalletView>;

    /// A user's attestation and wallets.
    #[method(name = "wallets")]
    fn wallets(&self, user: Param<PublicKey>) -> RpcResult<UserWalletsView>;

    /// A platform's wallet-host qualification.
    #[method(name = "walletHost")]
    fn wallet_host(&self, platform_id: Param<PlatformId>) -> RpcResult<HostQualification>;

    /// An account's currency and state.
    #[method(name = "balance")]
    fn balance(&self, account: Param<Account>) -> RpcResult<BalanceView>;

    /// An account's movements between two heights (`to` defaults to the tip).
    #[method(name = "statement")]
    fn statement(
        &self,
        account: Param<Account>,
        from_height: Option<Param<u64>>,
        to_height: Option<Param<u64>>,
    ) -> RpcResult<StatementView>;

    /// One payment.
    #[method(name = "payment")]
    fn payment(&self, payment_id: Param<Hash>) -> RpcResult<PaymentView>;

    /// The payment of a merchant's order.
    #[method(name = "order")]
    fn order(
        &self,
        merchant_id: Param<MerchantId>,
        order_ref: Param<String>,
    ) -> RpcResult<PaymentView>;

    /// One card binding.
    #[method(name = "cardBinding")]
    fn card_binding(&self, binding_id: Param<Hash>) -> RpcResult<CardBinding>;

    /// One governance proposal.
    #[method(name = "proposal")]
    fn proposal(&self, id: Param<u64>) -> RpcResult<ProposalView>;

    /// Every governance proposal, by id.
    #[method(name = "proposals")]
    fn proposals(&self) -> RpcResult<Vec<ProposalView>>;

    /// Payment, refund and split-bill transactions of a key as payer and as payee, newest first.
    #[method(name = "certificates")]
    fn certificates(
        &self,
        public_key: Param<PublicKey>,
        limit: Option<Param<usize>>,
    ) -> RpcResult<CertificatesView>;
}

const HEX64: &str = "string: 64 hex characters";
const ACCOUNT: &str = "Account JSON: `{\"wallet\":{\"id\":HEX}}`, `{\"to_be_settled\":{\"merchant_id\",\"acquirer\",\"currency\"}}` or `{\"clearing\":{\"platform\",\"currency\"}}`";

/// The reference of this area (see [`crate::doc`]).
pub const AREA: Area = Area {
    name: "Wallets and governance",
    traits: "WalletApi",
    summary: "Wallets, balances, statements, payments, card bindings and governance proposals.",
    methods: &[
        MethodDoc {
            name: method::WALLET,
            params: &[ParamDoc::required("wallet id", HEX64)],
            result: "WalletView",
            errors: &[E::InvalidParams, E::UnknownWallet, E::Internal],
            summary: "A wallet with its balance and its owner's bound cards.",
            subscription: None,
        },
        MethodDoc {
            name: method::WALLETS,
            params: &[ParamDoc::required("user public key", HEX64)],
            result: "UserWalletsView `{user, verification, wallets}`",
            errors: &[E::InvalidParams, E::Internal],
            summary: "A user's attestation and wallets.",
            subscription: None,
        },
        MethodDoc {
            name: method::WALLET_HOST,
            params: &[ParamDoc::required("platform id", "string: platform id")],
            result: "HostQualification",
            errors: &[E::InvalidParams, E::NotWalletHost, E::Internal],
            summary: "A platform's wallet-host qualification.",
            subscription: None,
        },
        MethodDoc {
            name: method::BALANCE,
            params: &[ParamDoc::required("account", ACCOUNT)],
            result: "BalanceView `{account, currency, state}`",
            errors: &[E::InvalidParams, E::Internal],
            summary: "An account's currency and state (zero balance for a known, empty account).",
            subscription: None,
        },
        MethodDoc {
            name: method::STATEMENT,
            params: &[
                ParamDoc::required("account", ACCOUNT),
                ParamDoc::optional("from height", "integer (default 0)"),
                ParamDoc::optional("to height", "integer (default: the tip)"),
            ],
            result: "StatementView",
            errors: &[E::InvalidParams, E::Internal],
            summary: "An account's movements between two heights (a page; `truncated` when more follow).",
            subscription: None,
        },
        MethodDoc {
            name: method::PAYMENT,
            params: &[ParamDoc::required("payment id", HEX64)],
            result: "PaymentView",
            errors: &[E::InvalidParams, E::UnknownPayment, E::Internal],
            summary: "One payment with its refunds.",
            subscription: None,
        },
        MethodDoc {
            name: method::ORDER,
            params: &[
                ParamDoc::required("merchant id", "string: merchant id"),
                ParamDoc::required("order reference", "string"),
            ],
            result: "PaymentView",
            errors: &[E::InvalidParams, E::OrderNotPaid, E::Internal],
            summary: "The payment of a merchant's order.",
            subscription: None,
        },
        MethodDoc {
            name: method::CARD_BINDING,
            params: &[ParamDoc::required("card binding id", HEX64)],
            result: "CardBinding",
            errors: &[E::InvalidParams, E::UnknownCardBinding, E::Internal],
            summary: "One card binding.",
            subscription: None,
        },
        MethodDoc {
            name: method::PROPOSAL,
            params: &[ParamDoc::required("proposal id", "integer")],
            result: "ProposalView",
            errors: &[E::InvalidParams, E::UnknownProposal, E::Internal],
            summary: "One governance proposal with its status at the tip.",
            subscription: None,
        },
        MethodDoc {
            name: method::PROPOSALS,
            params: &[],
            result: "array of ProposalView, by id",
            errors: &[E::Internal],
            summary: "Every governance proposal.",
            subscription: None,
        },
        MethodDoc {
            name: method::CERTIFICATES,
            params: &[
                ParamDoc::required("public key", HEX64),
                ParamDoc::optional("limit", "integer (default 100, at most 1000)"),
            ],
            result: "CertificatesView `{public_key, merchant_id, certificates, truncated}`",
            errors: &[E::InvalidParams, E::Internal],
            summary: "Payment, refund and split-bill (share, completion, refund) txs of the key as payer \
                      (its wallets) and as payee (the merchant it is the key of), newest first.",
            subscription: None,
        },
    ],
};
