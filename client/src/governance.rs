//! Consortium governance from the client side: the node's proposal queries, and a governor's
//! proposal and vote.
//!
//! ```text
//! governor: propose(action) ─► Propose tx ─► events proposal_created (id), proposal_executed
//!           (a threshold of one executes at once)
//! governor: vote(proposal, approve) ─► Vote tx ─► paychain_proposal: status, approvals, threshold
//! ```
//!
//! The chain checks every rule ([`paychain_contracts::governance`]); [`propose`] checks a new
//! member's name first, with the contract's rule and message.

use paychain_api::{method, WalletApiClient};
use paychain_contracts::api::ProposalView;
use paychain_contracts::crypto::SecretKey;
use paychain_contracts::governance::{self, Action};
use paychain_contracts::tx::Call;

use crate::rpc;
use crate::tx::{self, Sent, Wait};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A proposal the contract would refuse (checked before anything is sent).
    #[error(transparent)]
    Invalid(#[from] governance::Error),
    /// The transaction was not admitted.
    #[error(transparent)]
    Tx(#[from] tx::Error),
}

impl rpc::Client {
    /// `paychain_proposal`.
    pub async fn proposal(&self, id: u64) -> Result<ProposalView, rpc::Error> {
        self.run(method::PROPOSAL, self.api().proposal(id.into()))
            .await
    }

    /// `paychain_proposals`.
    pub async fn proposals(&self) -> Result<Vec<ProposalView>, rpc::Error> {
        self.run(method::PROPOSALS, self.api().proposals()).await
    }
}

/// A proposal sent.
#[derive(Debug)]
pub struct Proposed {
    /// Its id (event `proposal_created`), once committed.
    pub proposal_id: Option<u64>,
    /// Whether it was executed at once (event `proposal_executed`).
    pub executed: bool,
    /// The `Propose` transaction.
    pub sent: Sent,
}

/// A governor proposes `action` (its proposal counts as its approval).
pub async fn propose(
    client: &rpc::Client,
    governor: &SecretKey,
    action: Action,
    wait: Wait,
) -> Result<Proposed, Error> {
    if let Action::AdmitPlatform { member } = &action {
        governance::validate_member_name(&member.name)?;
    }
    let call = Call::Governance(governance::Call::Propose { action });
    let sent = tx::send(client, governor, call, wait).await?;
    Ok(Proposed {
        proposal_id: sent
            .event_attr("proposal_created", "proposal_id")
            .and_then(|s| s.parse().ok()),
        executed: sent
            .event_attr("proposal_executed", "proposal_id")
            .is_some(),
        sent,
    })
}

/// A governor votes on `proposal`.
pub async fn vote(
    client: &rpc::Client,
    governor: &SecretKey,
    proposal: u64,
    approve: bool,
    wait: Wait,
) -> Result<Sent, Error> {
    let call = Call::Governance(governance::Call::Vote { proposal, approve });
    Ok(tx::send(client, governor, call, wait).await?)
}
