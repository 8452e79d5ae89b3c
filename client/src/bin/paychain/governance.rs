//! `paychain gov propose | vote | show`: consortium governance, over `paychain_client::governance`.

use clap::{Args, Subcommand};
use paychain_client::contracts::api::ProposalView;
use paychain_client::contracts::crypto::PublicKey;
use paychain_client::contracts::enclave::Measurement;
use paychain_client::contracts::governance::{Action, Member, ProposalStatus, Role};
use paychain_client::contracts::ids::PlatformId;
use paychain_client::contracts::money::{Amount, Currency};
use paychain_client::governance;
use serde_json::json;

use crate::args::{parse_amount, ReadArgs, SendArgs};
use crate::output::{self, Failure, Output};

#[derive(Debug, Subcommand)]
pub(crate) enum GovCmd {
    /// Propose a governance action (a governor's key; counts as its approval).
    Propose(Box<ProposeArgs>),
    /// Vote on a proposal (a governor's key; each governor once).
    Vote {
        #[command(flatten)]
        send: SendArgs,
        /// Proposal id.
        #[arg(long, value_name = "N")]
        proposal: u64,
        #[command(flatten)]
        choice: VoteChoice,
    },
    /// Show one proposal, or all of them.
    Show {
        /// Proposal id (all proposals when left out).
        id: Option<u64>,
    },
    /// The node's audit of the regulator's reads (a member's key or the regulator's signs the read).
    Audit {
        #[command(flatten)]
        read: ReadArgs,
        /// First sequence number.
        #[arg(long, value_name = "N", default_value_t = 0)]
        from: u64,
        /// At most this many entries (at most 1000).
        #[arg(long, value_name = "N", default_value_t = 100)]
        limit: u32,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ProposeArgs {
    #[command(flatten)]
    send: SendArgs,
    #[command(flatten)]
    action: ActionArgs,
    /// Display name of the member admitted with --admit-platform.
    #[arg(long, value_name = "NAME", requires = "admit_platform")]
    member_name: Option<String>,
    /// Public key of the member admitted with --admit-platform.
    #[arg(long, value_name = "HEX", requires = "admit_platform")]
    member_key: Option<PublicKey>,
    /// Give the admitted member the governor role too.
    #[arg(long, requires = "admit_platform")]
    governor: bool,
    /// The cap set with --set-net-debit-cap, e.g. 500000.00.
    #[arg(long, value_name = "AMOUNT", value_parser = parse_amount, requires_all = ["set_net_debit_cap", "currency"])]
    cap: Option<rust_decimal::Decimal>,
    /// The currency of --cap.
    #[arg(long, requires = "set_net_debit_cap")]
    currency: Option<Currency>,
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct ActionArgs {
    /// Qualify a platform member to host wallets.
    #[arg(long, value_name = "PLATFORM")]
    qualify_wallet_host: Option<PlatformId>,
    /// Withdraw a wallet-host qualification.
    #[arg(long, value_name = "PLATFORM")]
    revoke_wallet_host: Option<PlatformId>,
    /// Admit a new platform member (with --member-name and --member-key).
    #[arg(long, value_name = "PLATFORM", requires_all = ["member_name", "member_key"])]
    admit_platform: Option<PlatformId>,
    /// Remove a member.
    #[arg(long, value_name = "PLATFORM")]
    remove_platform: Option<PlatformId>,
    /// Allow an enclave measurement (64 hex characters) to register.
    #[arg(long, value_name = "HEX", value_parser = parse_measurement)]
    approve_measurement: Option<Measurement>,
    /// Revoke an enclave measurement.
    #[arg(long, value_name = "HEX", value_parser = parse_measurement)]
    revoke_measurement: Option<Measurement>,
    /// Cap what a wallet host's clearing account may owe in one currency (with --cap, --currency).
    #[arg(long, value_name = "PLATFORM", requires_all = ["cap", "currency"])]
    set_net_debit_cap: Option<PlatformId>,
    /// Raise (or set) the lowest enclave security version the chain accepts (at least 1): enclaves
    /// below it are neither provisioned nor trusted, and stop answering.
    #[arg(long, value_name = "VERSION", value_parser = clap::value_parser!(u32).range(1..))]
    set_enclave_min_security_version: Option<u32>,
    /// Appoint the consortium's regulator (its public key): it may read every payment, balance and
    /// statement with signed reads, each audited.
    #[arg(long, value_name = "HEX")]
    appoint_regulator: Option<PublicKey>,
    /// Rotate the enclaves' epoch: a new consortium secret made inside a serving enclave, given
    /// only to serving enclaves of current members, and a new record key per platform; platforms
    /// then re-seal their records (`paychain record reseal`).
    #[arg(long)]
    rotate_enclave_epoch: bool,
}

fn parse_measurement(s: &str) -> Result<Measurement, String> {
    s.parse::<paychain_client::contracts::crypto::Hash>()
        .map(Measurement)
        .map_err(|_| format!("measurement {s:?} is not 64 hex characters"))
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct VoteChoice {
    /// Vote for.
    #[arg(long)]
    approve: bool,
    /// Vote against.
    #[arg(long)]
    reject: bool,
}

pub(crate) async fn run(url: &str, cmd: GovCmd) -> Result<Output, Failure> {
    let client = crate::args::rpc_client(url)?;
    match cmd {
        GovCmd::Propose(args) => {
            let a = &args.action;
            let action = if let Some(p) = &a.qualify_wallet_host {
                Action::QualifyWalletHost {
                    platform: p.clone(),
                }
            } else if let Some(p) = &a.revoke_wallet_host {
                Action::RevokeWalletHost {
                    platform: p.clone(),
                }
            } else if let Some(p) = &a.remove_platform {
                Action::RemovePlatform { id: p.clone() }
            } else if let Some(m) = a.approve_measurement {
                Action::ApproveMeasurement { measurement: m }
            } else if let Some(m) = a.revoke_measurement {
                Action::RevokeMeasurement { measurement: m }
            } else if let Some(version) = a.set_enclave_min_security_version {
                Action::SetEnclaveMinSecurityVersion { version }
            } else if let Some(key) = a.appoint_regulator {
                Action::AppointRegulator { key }
            } else if a.rotate_enclave_epoch {
                Action::RotateEnclaveEpoch
            } else if let (Some(p), Some(cap), Some(currency)) =
                (&a.set_net_debit_cap, args.cap, args.currency)
            {
                Action::SetNetDebitCap {
                    platform: p.clone(),
                    cap: Amount::new(cap, currency).map_err(Failure::usage)?,
                }
            } else if let (Some(id), Some(name), Some(key)) =
                (&a.admit_platform, &args.member_name, &args.member_key)
            {
                let mut roles = std::collections::BTreeSet::from([Role::Platform]);
                if args.governor {
                    roles.insert(Role::Governor);
                }
                Action::AdmitPlatform {
                    member: Member {
                        id: id.clone(),
                        name: name.clone(),
                        public_key: *key,
                        roles,
                    },
                }
            } else {
                return Err(Failure::usage("name one action to propose (see --help)"));
            };
            let proposal = governance::Proposal::new(action)?;
            let key = args.send.load_key()?;
            let p = governance::propose(&client, key.secret_key(), proposal, args.send.wait.wait())
                .await?;
            let (id, executed) = (p.proposal_id, p.executed);
            let out = output::sent(p.sent, None)?;
            let status = if executed { "executed" } else { "open" };
            let lines = match &id {
                Some(id) => format!("proposal     {id} ({status})\n"),
                None => String::new(),
            };
            Ok(out.extend(
                json!({ "proposal_id": id, "proposal_status": status }),
                &lines,
            ))
        }
        GovCmd::Vote {
            send,
            proposal,
            choice,
        } => {
            let approve = choice.approve && !choice.reject;
            let key = send.load_key()?;
            let sent = governance::vote(
                &client,
                key.secret_key(),
                proposal,
                approve,
                send.wait.wait(),
            )
            .await?;
            let out = output::sent(sent, None)?;
            let view = client.proposal(proposal).await?;
            let lines = format!(
                "proposal     {proposal}: {} ({} of {} approvals needed)\n",
                status_text(&view.status),
                view.approvals,
                view.threshold
            );
            Ok(out.extend(json!({ "proposal": view }), &lines))
        }
        GovCmd::Audit { read, from, limit } => {
            let page = read.client(&client)?.regulator_audit(from, limit).await?;
            let mut human = String::new();
            if page.entries.is_empty() {
                human.push_str("no regulator reads\n");
            }
            for e in &page.entries {
                human.push_str(&format!(
                    "{:>6}  height {:<8} {} {}\n",
                    e.seq, e.height, e.method, e.subject
                ));
            }
            human.push_str(&format!("next         --from {}\n", page.next_seq));
            Ok(Output::new(human, &page))
        }
        GovCmd::Show { id: Some(id) } => {
            let view = client.proposal(id).await?;
            Ok(Output::new(human_proposal(&view), &view))
        }
        GovCmd::Show { id: None } => {
            let views = client.proposals().await?;
            let mut human = String::new();
            if views.is_empty() {
                human.push_str("no proposals\n");
            }
            for v in &views {
                human.push_str(&human_proposal(v));
            }
            Ok(Output::new(human, &views))
        }
    }
}

fn status_text(s: &ProposalStatus) -> String {
    match s {
        ProposalStatus::Open => "open".into(),
        ProposalStatus::Executed { height } => format!("executed at height {height}"),
        ProposalStatus::Failed {
            height,
            code,
            error,
        } => format!("failed at height {height} (code {code}): {error}"),
        ProposalStatus::Rejected { height } => format!("rejected at height {height}"),
        ProposalStatus::Expired => "expired".into(),
    }
}

fn human_proposal(v: &ProposalView) -> String {
    let p = &v.proposal;
    let action = match &p.action {
        Action::AdmitPlatform { member } => {
            format!("admit platform {} ({})", member.id, member.name)
        }
        Action::RemovePlatform { id } => format!("remove platform {id}"),
        Action::QualifyWalletHost { platform } => format!("qualify wallet host {platform}"),
        Action::RevokeWalletHost { platform } => format!("revoke wallet host {platform}"),
        Action::SetNetDebitCap { platform, cap } => {
            format!("cap what wallet host {platform} may owe at {cap}")
        }
        Action::AppointRegulator { key } => format!("appoint regulator {key}"),
        other => other.kind().replace('_', " "),
    };
    let votes: Vec<String> = p
        .votes
        .iter()
        .map(|(who, yes)| format!("{who} {}", if *yes { "yes" } else { "no" }))
        .collect();
    format!(
        "proposal {}: {action}\n  proposer {} at height {}, expires after height {}\n  status   {}\n  votes    {} approve, {} reject, {} needed of {}: {}\n",
        p.id,
        p.proposer,
        p.created_at,
        p.expires_at,
        status_text(&v.status),
        v.approvals,
        v.rejections,
        v.threshold,
        p.electorate.len(),
        votes.join(", ")
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::tests::parse;

    #[test]
    fn gov_arguments() {
        assert!(parse(&[
            "gov",
            "propose",
            "--key",
            "k",
            "--qualify-wallet-host",
            "platform-0"
        ])
        .is_ok());
        assert!(parse(&["gov", "propose", "--key", "k"]).is_err());
        assert!(parse(&[
            "gov",
            "propose",
            "--key",
            "k",
            "--qualify-wallet-host",
            "platform-0",
            "--revoke-wallet-host",
            "platform-1"
        ])
        .is_err());
        assert!(parse(&["gov", "propose", "--key", "k", "--admit-platform", "p9"]).is_err());
        let pk = PublicKey([1; 32]).to_hex();
        assert!(parse(&[
            "gov",
            "propose",
            "--key",
            "k",
            "--admit-platform",
            "p9",
            "--member-name",
            "P9",
            "--member-key",
            &pk
        ])
        .is_ok());
        assert!(parse(&["gov", "vote", "--key", "k", "--proposal", "1", "--approve"]).is_ok());
        assert!(parse(&["gov", "vote", "--key", "k", "--proposal", "1"]).is_err());
        assert!(parse(&[
            "gov",
            "vote",
            "--key",
            "k",
            "--proposal",
            "1",
            "--approve",
            "--reject"
        ])
        .is_err());
        assert!(parse(&["gov", "show"]).is_ok());
        assert!(parse(&["gov", "show", "3"]).is_ok());
    }
}
