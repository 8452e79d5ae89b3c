//! [`WalletApiServer`]: wallets, balances, statements, payments, card bindings and governance
//! proposals (read-only).

use jsonrpsee::core::RpcResult;
use paychain_api::{method, ErrorCode, Param, ProposalView, WalletApiServer};
use paychain_contracts::governance;
use paychain_contracts::ids::PlatformId;
use paychain_contracts::reads::SealedReply;
use paychain_contracts::wallet::{self, HostQualification};

use super::{internal, Rpc};

impl WalletApiServer for Rpc {
    fn wallet(&self, read: Param<String>) -> RpcResult<SealedReply> {
        self.signed_read(method::WALLET, read)
    }

    fn wallets(&self, read: Param<String>) -> RpcResult<SealedReply> {
        self.signed_read(method::WALLETS, read)
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
        self.signed_read(method::BALANCE, read)
    }

    fn statement(&self, read: Param<String>) -> RpcResult<SealedReply> {
        self.signed_read(method::STATEMENT, read)
    }

    fn payment(&self, read: Param<String>) -> RpcResult<SealedReply> {
        self.signed_read(method::PAYMENT, read)
    }

    fn order(&self, read: Param<String>) -> RpcResult<SealedReply> {
        self.signed_read(method::ORDER, read)
    }

    fn card_binding(&self, read: Param<String>) -> RpcResult<SealedReply> {
        self.signed_read(method::CARD_BINDING, read)
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
        self.signed_read(method::CERTIFICATES, read)
    }
}
