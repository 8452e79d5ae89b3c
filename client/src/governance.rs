//! Consortium governance from the client side: the node's proposal queries, and a governor's
//! proposal and vote.
//!
//! ```text
//! governor: propose(action) ─► Propose tx ─► events proposal_created (id), proposal_executed
//!           (a threshold of one executes at once)
//! governor: vote(proposal, approve) ─► Vote tx ─► paychain_proposal: status, approvals, threshold
//! ```
//!
//! The chain checks every rule ([`paychain_contracts::governance`]); a [`Proposal`] is checked
//! first (a new member's name), with the contract's rule and message.

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
    /// A proposal the contract would refuse ([`Proposal::new`]).
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

/// An action to propose, checked with the contract's rules first (a new member's name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal(Action);

impl Proposal {
    /// `action`, if the contract would take it.
    pub fn new(action: Action) -> Result<Proposal, Error> {
        if let Action::AdmitPlatform { member } = &action {
            governance::validate_member_name(&member.name)?;
        }
        Ok(Proposal(action))
    }

    /// The action.
    pub fn action(&self) -> &Action {
        &self.0
    }
}

/// A governor proposes an action (its proposal counts as its approval).
pub async fn propose(
    client: &rpc::Client,
    governor: &SecretKey,
    proposal: Proposal,
    wait: Wait,
) -> Result<Proposed, Error> {
    let call = Call::Governance(governance::Call::Propose { action: proposal.0 });
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use paychain_contracts::crypto::PublicKey;
    use paychain_contracts::governance::{Member, Role};
    use paychain_contracts::ids::PlatformId;

    #[test]
    fn a_new_members_name_is_checked_first() {
        let admit = |name: &str| Action::AdmitPlatform {
            member: Member {
                id: PlatformId::new("platform-9").unwrap(),
                name: name.into(),
                public_key: PublicKey([9; 32]),
                roles: [Role::Platform].into(),
            },
        };
        assert!(Proposal::new(admit("Platform Nine")).is_ok());
        assert!(matches!(Proposal::new(admit("")), Err(Error::Invalid(_))));
        let qualify = Action::QualifyWalletHost {
            platform: PlatformId::new("platform-0").unwrap(),
        };
        assert_eq!(Proposal::new(qualify.clone()).unwrap().action(), &qualify);
    }
}
