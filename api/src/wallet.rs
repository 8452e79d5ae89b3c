//! Wallets, balances, statements, payments, card bindings and governance proposals (read-only).
//!
//! An `account` is the JSON of `paychain_contracts::wallet::Account`: `{"wallet":{"id":HEX}}`,
//! `{"to_be_settled":{"merchant_id":"M…","acquirer":"platform-0","currency":"CNY"}}` or
//! `{"clearing":{"platform":"platform-0","currency":"CNY"}}`.

use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;
use paychain_contracts::api::ProposalView;
use paychain_contracts::ids::PlatformId;
use paychain_contracts::wallet::HostQualification;

use crate::doc::{Area, MethodDoc, ParamDoc};
use crate::reads::{SealedReply, SIGNED_READ};
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
    /// A wallet with its balance and its owner's bound cards (signed read).
    #[method(name = "wallet")]
    fn wallet(&self, read: Param<String>) -> RpcResult<SealedReply>;

    /// A user's attestation and wallets (signed read).
    #[method(name = "wallets")]
    fn wallets(&self, read: Param<String>) -> RpcResult<SealedReply>;

    /// A platform's wallet-host qualification.
    #[method(name = "walletHost")]
    fn wallet_host(&self, platform_id: Param<PlatformId>) -> RpcResult<HostQualification>;

    /// An account's currency and state (signed read).
    #[method(name = "balance")]
    fn balance(&self, read: Param<String>) -> RpcResult<SealedReply>;

    /// An account's movements between two heights (signed read).
    #[method(name = "statement")]
    fn statement(&self, read: Param<String>) -> RpcResult<SealedReply>;

    /// One payment (signed read).
    #[method(name = "payment")]
    fn payment(&self, read: Param<String>) -> RpcResult<SealedReply>;

    /// The payment of a merchant's order (signed read).
    #[method(name = "order")]
    fn order(&self, read: Param<String>) -> RpcResult<SealedReply>;

    /// One card binding (signed read).
    #[method(name = "cardBinding")]
    fn card_binding(&self, read: Param<String>) -> RpcResult<SealedReply>;

    /// One governance proposal.
    #[method(name = "proposal")]
    fn proposal(&self, id: Param<u64>) -> RpcResult<ProposalView>;

    /// Every governance proposal, by id.
    #[method(name = "proposals")]
    fn proposals(&self) -> RpcResult<Vec<ProposalView>>;

    /// Payment, refund and split-bill transactions of a key as payer and as payee, newest first
    /// (signed read, by the key itself or the regulator).
    #[method(name = "certificates")]
    fn certificates(&self, read: Param<String>) -> RpcResult<SealedReply>;
}

/// The reference of this area (see [`crate::doc`]).
pub const AREA: Area = Area {
    name: "Wallets and governance",
    traits: "WalletApi",
    summary: "Wallets, balances, statements, payments, card bindings and governance proposals.",
    methods: &[
        MethodDoc {
            name: method::WALLET,
            params: &[SIGNED_READ],
            result: "SealedReply of WalletView",
            errors: &[E::InvalidParams, E::UnknownWallet, E::ReadNotSigned, E::ReadBadSignature, E::ReadExpired, E::ReadNotEntitled, E::ReadMismatch, E::Internal],
            summary: "Signed read, query `wallet {wallet_id}`. A wallet with its balance and its owner's bound cards.",
            subscription: None,
        },
        MethodDoc {
            name: method::WALLETS,
            params: &[SIGNED_READ],
            result: "SealedReply of UserWalletsView `{user, verification, wallets}`",
            errors: &[E::InvalidParams, E::ReadNotSigned, E::ReadBadSignature, E::ReadExpired, E::ReadNotEntitled, E::ReadMismatch, E::Internal],
            summary: "Signed read, query `wallets {user}`. A user's attestation and wallets.",
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
            params: &[SIGNED_READ],
            result: "SealedReply of BalanceView `{account, currency, state}`",
            errors: &[E::InvalidParams, E::ReadNotSigned, E::ReadBadSignature, E::ReadExpired, E::ReadNotEntitled, E::ReadMismatch, E::Internal],
            summary: "Signed read, query `balance {account}`. An account's currency and state (zero balance for a known, empty account).",
            subscription: None,
        },
        MethodDoc {
            name: method::STATEMENT,
            params: &[SIGNED_READ],
            result: "SealedReply of StatementView",
            errors: &[E::InvalidParams, E::ReadNotSigned, E::ReadBadSignature, E::ReadExpired, E::ReadNotEntitled, E::ReadMismatch, E::Internal],
            summary: "Signed read, query `statement {account, from_height, to_height?}`. An account's movements between two heights (a page; `truncated` when more follow).",
            subscription: None,
        },
        MethodDoc {
            name: method::PAYMENT,
            params: &[SIGNED_READ],
            result: "SealedReply of PaymentView",
            errors: &[E::InvalidParams, E::UnknownPayment, E::ReadNotSigned, E::ReadBadSignature, E::ReadExpired, E::ReadNotEntitled, E::ReadMismatch, E::Internal],
            summary: "Signed read, query `payment {payment_id}`. One payment with its refunds.",
            subscription: None,
        },
        MethodDoc {
            name: method::ORDER,
            params: &[SIGNED_READ],
            result: "SealedReply of PaymentView",
            errors: &[E::InvalidParams, E::OrderNotPaid, E::ReadNotSigned, E::ReadBadSignature, E::ReadExpired, E::ReadNotEntitled, E::ReadMismatch, E::Internal],
            summary: "Signed read, query `order {merchant_id, order_ref}`. The payment of a merchant's order.",
            subscription: None,
        },
        MethodDoc {
            name: method::CARD_BINDING,
            params: &[SIGNED_READ],
            result: "SealedReply of CardBinding",
            errors: &[E::InvalidParams, E::UnknownCardBinding, E::ReadNotSigned, E::ReadBadSignature, E::ReadExpired, E::ReadNotEntitled, E::ReadMismatch, E::Internal],
            summary: "Signed read, query `card_binding {binding_id}`. One card binding.",
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
            params: &[SIGNED_READ],
            result: "SealedReply of CertificatesView `{public_key, merchant_id, certificates, truncated}`",
            errors: &[E::InvalidParams, E::ReadNotSigned, E::ReadBadSignature, E::ReadExpired, E::ReadNotEntitled, E::ReadMismatch, E::Internal],
            summary: "Signed read, query `certificates {public_key, limit?}`. Payment, refund and split-bill (share, completion, refund) txs of the key as payer \
                      (its wallets) and as payee (the merchant it is the key of), newest first.",
            subscription: None,
        },
    ],
};
