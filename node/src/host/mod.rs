//! The consensus host: answers Malachite's [`AppMsg`]s.
//!
//! - `GetValue`: build a block from the mempool, remember it (so a restart re-proposes the
//!   same value), stream it as proposal parts.
//! - `ReceivedProposalPart`: reassemble a stream, validate the block against our tip before
//!   voting (signatures, proposer, linkage, tx root, nonces) and report it valid or invalid.
//! - `Decided`/`Finalized`: execute the block and commit everything in one RocksDB batch,
//!   then start the next height.
//! - `GetDecidedValues`/`ProcessSyncedValue`: serve and accept blocks for catching up.
//!
//! A proposal stream that does not authenticate (not the round's proposer, bad signature, bytes
//! that do not hash to the signed value) is dropped without a verdict: anyone can publish such a
//! stream, so it must not make us vote against the real proposer's value. Only a block the
//! round's proposer did sign is judged, and reported invalid when it is.
//!
//! Inside: [`streams`] reassembles proposal streams within bounds, [`validate`] holds the checks a
//! proposal passes before we vote (pure functions, unit-tested), and [`byzantine`] the test-only
//! misbehaviour ([`crate::faults`]): invalid proposals and garbage floods.

mod byzantine;
pub mod evidence;
mod streams;
mod validate;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use borsh::{BorshDeserialize, BorshSerialize};
use bytes::Bytes;
use malachitebft_app::engine::host::{HeightParams, Next, SyncedValueOutcome};
use malachitebft_app::streaming::StreamMessage;
use malachitebft_app::types::codec::Codec;
use malachitebft_app::types::sync::RawDecidedValue;
use malachitebft_app::types::{LocallyProposedValue, PeerId, ProposedValue};
use malachitebft_app_channel::{AppMsg, Channels, NetworkMsg};
use malachitebft_core_types::{
    CommitCertificate, Context as _, ExtendedCommitCertificate, LinearTimeouts, Round, Validity,
};
use paychain_contracts::block::{self, Block, Header};
use paychain_contracts::codec::MAX_BLOCK_BYTES;
use paychain_contracts::crypto::PublicKey;
use paychain_contracts::executor;
use paychain_contracts::merkle;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

use crate::consensus::signing::PeerBindings;
use crate::consensus::{
    Address, BlockHash, BlockValue, BorshCodec, ConsensusKeys, Height, PaychainContext,
    ProposalInit, ProposalPart, ValidatorSet,
};
use crate::faults::Faults;
use crate::shared::Shared;
use crate::storage::{Commit, Tip};
use byzantine::Byzantine;
use streams::{parts_of, split_parts, stream_messages, Streams};
use validate::Refusal;

/// Most decided values served per sync request.
const MAX_SYNC_BATCH: u64 = 50;
/// Test-only: how often a garbage-flooding node sends a burst.
const GARBAGE_EVERY: Duration = Duration::from_millis(200);

/// Consensus pacing, from the node config.
#[derive(Clone, Debug)]
pub struct Pacing {
    pub timeouts: LinearTimeouts,
    /// Minimum time per height (`None` = as fast as consensus goes).
    pub block_time: Option<Duration>,
    /// Most transactions per block.
    pub max_block_txs: usize,
    /// How long a proposer with an empty mempool waits for a transaction before proposing an
    /// empty block (capped by the propose timeout).
    pub empty_block_wait: Duration,
}

/// A proposal postponed while the mempool is empty.
struct DeferredProposal {
    height: Height,
    round: Round,
    reply: oneshot::Sender<LocallyProposedValue<PaychainContext>>,
}

/// An undecided proposal we built or validated, persisted so a restart can resume.
#[derive(BorshSerialize, BorshDeserialize)]
struct PendingProposal {
    round: i64,
    pol_round: i64,
    proposer: [u8; 32],
    block_hash: [u8; 32],
    block: Vec<u8>,
    signature: Vec<u8>,
    /// Built and signed by this node (`propose`), not received or synced. Only such a proposal
    /// is proposed again (after a restart): one received from the network that carries our own
    /// key (the same key run on a second host, a double-signing operator) is never adopted as
    /// ours, so that misconfiguration shows as equivocation evidence at once instead of
    /// whenever the two hosts happen to race differently.
    built_here: bool,
}

/// [`PendingProposal`] as stored before `built_here` existed.
#[derive(BorshDeserialize)]
#[cfg_attr(test, derive(BorshSerialize))]
struct LegacyPendingProposal {
    round: i64,
    pol_round: i64,
    proposer: [u8; 32],
    block_hash: [u8; 32],
    block: Vec<u8>,
    signature: Vec<u8>,
}

impl PendingProposal {
    /// Decodes a stored proposal. A record written before `built_here` existed counts as built
    /// here when it names our address (the rule it was written under), so a node restarted on
    /// the new binary in the middle of a height still re-proposes what it proposed.
    fn decode(bytes: &[u8], ours: &Address) -> Option<PendingProposal> {
        if let Ok(p) = borsh::from_slice::<PendingProposal>(bytes) {
            return Some(p);
        }
        let p = borsh::from_slice::<LegacyPendingProposal>(bytes).ok()?;
        Some(PendingProposal {
            built_here: p.proposer == ours.0,
            round: p.round,
            pol_round: p.pol_round,
            proposer: p.proposer,
            block_hash: p.block_hash,
            block: p.block,
            signature: p.signature,
        })
    }

    /// Whether this is the proposal we built for `round`.
    fn ours_at(&self, round: Round, address: &Address) -> bool {
        self.built_here && self.round == round.as_i64() && self.proposer == address.0
    }

    /// The proposal's stream parts at `height`.
    fn parts(&self, height: Height) -> Vec<ProposalPart> {
        parts_of(
            height,
            round_from(self.round),
            round_from(self.pol_round),
            Address(self.proposer),
            BlockHash(self.block_hash),
            &self.block,
            &self.signature,
        )
    }
}

/// The host's state.
pub struct Host {
    shared: Arc<Shared>,
    keys: Option<Arc<ConsensusKeys>>,
    address: Address,
    validators: ValidatorSet,
    pacing: Pacing,
    height: Height,
    round: Round,
    streams: Streams<PeerId>,
    /// Complete proposals for future heights, replayed when we get there.
    future: Vec<Vec<ProposalPart>>,
    /// Test-only faults (all off in production).
    byzantine: Byzantine,
    /// Which peers speak for which validator (from the validator proofs our verifier checked).
    bindings: PeerBindings,
    /// Test-only (`equivocate`): proposals made with our key by another host, held until we have
    /// proposed our own in their round.
    held: Vec<Vec<ProposalPart>>,
}

/// Heights ahead of ours whose proposal streams we buffer (a node a little behind keeps the next
/// proposals; one further behind catches up by value sync).
pub(crate) const MAX_FUTURE_HEIGHTS: u64 = 4;
/// Rounds ahead of our round (of round 0 for a height ahead) whose proposal streams we buffer.
pub(crate) const MAX_ROUNDS_AHEAD: i64 = 8;
/// Complete, authenticated proposals for heights ahead of ours that we keep.
const MAX_FUTURE: usize = 8;

/// Whether a proposal stream whose init is `init` may be buffered while we are at `height`,
/// `round`: it names the proposer of its height and round (our validator set, Malachite's
/// proposer selection), for our height or at most [`MAX_FUTURE_HEIGHTS`] ahead and a round at most
/// [`MAX_ROUNDS_AHEAD`] ahead. Its signature is checked once the stream is complete.
fn admit_init(
    validators: &ValidatorSet,
    height: Height,
    round: Round,
    init: &ProposalInit,
) -> Result<(), streams::Dropped> {
    use streams::Dropped::{NotProposer, OutOfReach};
    let h = init.height.0;
    if h < height.0 || h > height.0.saturating_add(MAX_FUTURE_HEIGHTS) {
        return Err(OutOfReach);
    }
    let base = if h == height.0 {
        round.as_i64().max(0)
    } else {
        0
    };
    let r = init.round.as_i64();
    if r < 0 || r > base + MAX_ROUNDS_AHEAD {
        return Err(OutOfReach);
    }
    if PaychainContext
        .select_proposer(validators, init.height, init.round)
        .address
        != init.proposer
    {
        return Err(NotProposer);
    }
    Ok(())
}

fn round_from(r: i64) -> Round {
    if r < 0 {
        Round::Nil
    } else {
        Round::new(r as u32)
    }
}

impl Host {
    pub fn new(
        shared: Arc<Shared>,
        keys: Option<Arc<ConsensusKeys>>,
        address: Address,
        validators: ValidatorSet,
        pacing: Pacing,
    ) -> Self {
        Self {
            shared,
            keys,
            address,
            validators,
            pacing,
            height: Height(1),
            round: Round::Nil,
            streams: Streams::new(),
            future: Vec::new(),
            byzantine: Byzantine::default(),
            bindings: PeerBindings::default(),
            held: Vec::new(),
        }
    }

    /// Refuses proposal streams whose publisher is not a peer the proposer's validator proof
    /// names, once that proof has reached us.
    pub fn with_peer_bindings(mut self, bindings: PeerBindings) -> Self {
        self.bindings = bindings;
        self
    }

    /// Test-only fault injection (see [`crate::faults`]).
    pub fn with_test_faults(mut self, faults: Faults) -> Self {
        self.byzantine = Byzantine::new(faults);
        self
    }

    fn params(&self) -> HeightParams<PaychainContext> {
        HeightParams::new(
            self.validators.clone(),
            self.pacing.timeouts,
            self.pacing.block_time,
        )
    }

    fn tip(&self) -> Tip {
        self.shared.tip()
    }

    /// The host clock in Unix milliseconds (shifted by the test-only clock skew, zero otherwise).
    fn now_ms(&self) -> u64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        now.saturating_add_signed(self.byzantine.faults.clock_offset_ms)
    }

    /// Runs until the engine stops or a fatal local fault occurs.
    pub async fn run(mut self, channels: &mut Channels<PaychainContext>) -> anyhow::Result<()> {
        let (deferred_tx, mut deferred_rx) = mpsc::channel::<DeferredProposal>(4);
        let mut garbage_tick = tokio::time::interval(GARBAGE_EVERY);
        loop {
            tokio::select! {
                _ = garbage_tick.tick(), if self.byzantine.faults.garbage => {
                    self.send_garbage(channels).await?;
                }
                msg = channels.consensus.recv() => match msg {
                    Some(msg) => self.handle(msg, channels, &deferred_tx).await?,
                    None => anyhow::bail!("consensus engine stopped"),
                },
                Some(d) = deferred_rx.recv() => {
                    // Only if consensus is still waiting for this very proposal.
                    if d.height == self.height && d.round == self.round {
                        self.reply_proposal(d.height, d.round, d.reply, channels).await?;
                    }
                }
            }
        }
    }

    /// Builds, replies and streams our proposal for (height, round).
    async fn reply_proposal(
        &mut self,
        height: Height,
        round: Round,
        reply: oneshot::Sender<LocallyProposedValue<PaychainContext>>,
        channels: &mut Channels<PaychainContext>,
    ) -> anyhow::Result<()> {
        let (value, parts) = self.propose(height, round)?;
        let _ = reply.send(LocallyProposedValue::new(height, round, value));
        for msg in stream_messages(height, round, parts) {
            channels
                .network
                .send(NetworkMsg::PublishProposalPart(msg))
                .await?;
        }
        Ok(())
    }

    async fn handle(
        &mut self,
        msg: AppMsg<PaychainContext>,
        channels: &mut Channels<PaychainContext>,
        deferred: &mpsc::Sender<DeferredProposal>,
    ) -> anyhow::Result<()> {
        match msg {
            AppMsg::ConsensusReady { reply } => {
                let start = Height(self.tip().height + 1);
                self.height = start;
                info!(target: "consensus", height = %start, "consensus ready");
                let _ = reply.send((start, self.params()));
            }
            AppMsg::StartedRound {
                height,
                round,
                proposer,
                role,
                reply_value,
            } => {
                debug!(target: "consensus", %height, %round, %proposer, ?role, "started round");
                self.height = height;
                self.round = round;
                self.shared.metrics.round_started(round.as_i64());
                // Proposals that arrived before we reached this height.
                let future = std::mem::take(&mut self.future);
                for parts in future {
                    match parts.first() {
                        Some(ProposalPart::Init(init)) if init.height == height => {
                            // Validated (and, if valid, stored) now; handed to consensus
                            // below with the other undecided values of this round.
                            let _ = self.complete_proposal(parts);
                        }
                        Some(ProposalPart::Init(init)) if init.height > height => {
                            self.future.push(parts)
                        }
                        _ => {}
                    }
                }
                let values = self.pending_values(height, Some(round))?;
                let _ = reply_value.send(values);
            }
            AppMsg::GetValue {
                height,
                round,
                timeout,
                reply,
            } => {
                let rebuilding = self.has_own_proposal(height, round)?;
                let wait = self.pacing.empty_block_wait.min(timeout.mul_f32(0.6));
                // The block after one with transactions is proposed at once, even empty: it
                // commits their receipts (its header carries their result root), which is what a
                // payer at the till waits for to get its certificate.
                let certifies = self.shared.tip().result_root != merkle::root(&[]);
                if !rebuilding && !certifies && self.shared.mempool.is_empty() && !wait.is_zero() {
                    // Idle chain: wait for a transaction (or the empty-block interval) before
                    // proposing, so an idle network makes about one block per interval.
                    let notify = self.shared.mempool.notifier();
                    let deferred = deferred.clone();
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = notify.notified() => {}
                            _ = tokio::time::sleep(wait) => {}
                        }
                        let _ = deferred
                            .send(DeferredProposal {
                                height,
                                round,
                                reply,
                            })
                            .await;
                    });
                } else {
                    self.reply_proposal(height, round, reply, channels).await?;
                }
            }
            AppMsg::ExtendVote { reply, .. } => {
                let _ = reply.send(None);
            }
            AppMsg::VerifyVoteExtensions {
                extensions, reply, ..
            } => {
                // paychain does not use vote extensions; none are produced, none matter.
                let verdicts = extensions.into_iter().map(|(a, _)| (a, Ok(()))).collect();
                let _ = reply.send(verdicts);
            }
            AppMsg::RestreamProposal {
                height,
                round,
                value_id,
                ..
            } => {
                if let Some((p, _)) = self.find_pending(height, &value_id)? {
                    let parts = p.parts(height);
                    for msg in stream_messages(height, round, parts) {
                        channels
                            .network
                            .send(NetworkMsg::PublishProposalPart(msg))
                            .await?;
                    }
                }
            }
            AppMsg::GetHistoryMinHeight { reply } => {
                let min = if self.tip().height >= 1 { 1 } else { 0 };
                let _ = reply.send(Height(min));
            }
            AppMsg::ReceivedProposalPart {
                from,
                published_by,
                part,
                reply,
            } => {
                let mut value = self.received_part(published_by.unwrap_or(from), part);
                if value.is_none() && !self.held.is_empty() {
                    // Test-only: the reply is our one way to hand consensus a value.
                    value = self.release_held();
                }
                if value.is_some() {
                    // Live proposals for our height: we are caught up.
                    self.shared.syncing.store(false, Ordering::Relaxed);
                }
                let _ = reply.send(value);
            }
            AppMsg::Decided {
                certificate, reply, ..
            } => {
                self.commit(&certificate)?;
                let _ = reply.send(());
            }
            AppMsg::Finalized {
                certificate,
                evidence,
                reply,
                ..
            } => {
                evidence::record(&self.shared, &evidence);
                self.commit(&certificate)?;
                let next = Height(self.tip().height + 1);
                let _ = reply.send(Next::Start(next, self.params()));
            }
            AppMsg::GetDecidedValues { range, reply } => {
                let tip = self.tip().height;
                let start = range.start().0.max(1);
                let end = range
                    .end()
                    .0
                    .min(tip)
                    .min(start.saturating_add(MAX_SYNC_BATCH - 1));
                let mut values = Vec::new();
                for h in start..=end {
                    let (Some(block), Some(cert)) = (
                        self.shared.storage.block_bytes(h)?,
                        self.shared.storage.certificate(h)?,
                    ) else {
                        break;
                    };
                    let certificate: CommitCertificate<PaychainContext> =
                        BorshCodec.decode(Bytes::from(cert))?;
                    values.push(RawDecidedValue {
                        certificate:
                            ExtendedCommitCertificate::from_commit_certificate_and_extensions(
                                certificate,
                                Default::default(),
                            ),
                        value_bytes: Bytes::from(block),
                    });
                }
                let _ = reply.send(values);
            }
            AppMsg::ProcessSyncedValue {
                height,
                round,
                proposer,
                value_bytes,
                reply,
            } => {
                let outcome = self.synced_value(height, round, proposer, &value_bytes)?;
                let _ = reply.send(outcome);
            }
        }
        Ok(())
    }

    fn propose(
        &mut self,
        height: Height,
        round: Round,
    ) -> anyhow::Result<(BlockValue, Vec<ProposalPart>)> {
        // A restart must re-propose exactly what we proposed before in this round; what we
        // received, even signed with our own key, is not ours to propose.
        for (key, bytes) in self.shared.storage.pending_at(height.0)? {
            let Some(p) = PendingProposal::decode(&bytes, &self.address) else {
                warn!(target: "consensus", key = %hex::encode(key), "undecodable pending proposal");
                continue;
            };
            if p.ours_at(round, &self.address) {
                return Ok((BlockValue(BlockHash(p.block_hash)), p.parts(height)));
            }
        }
        let keys = self
            .keys
            .clone()
            .ok_or_else(|| anyhow::anyhow!("asked to propose without a signing key"))?;
        let tip = self.tip();
        let storage = &self.shared.storage;
        let mut txs = self.shared.mempool.reap(
            MAX_BLOCK_BYTES - 64 * 1024,
            self.pacing.max_block_txs,
            |pk| executor::nonce(storage, pk).unwrap_or(u64::MAX),
        );
        let mut prev_app_hash = tip.app_hash;
        self.byzantine.spoil_proposal(
            &self.shared.chain_id,
            height,
            round,
            &mut txs,
            &mut prev_app_hash,
        );
        let header = Header {
            chain_id: self.shared.chain_id.clone(),
            height: height.0,
            time_ms: self.now_ms().max(tip.time_ms + 1),
            proposer: PublicKey(self.address.0),
            prev_block_hash: tip.block_hash,
            prev_app_hash,
            prev_result_root: tip.result_root,
            tx_root: block::tx_root(&txs),
        };
        let block = Block { header, txs };
        let block_hash = block.hash();
        let block_bytes = block.to_bytes();
        let init = ProposalInit {
            height,
            round,
            pol_round: Round::Nil,
            proposer: self.address,
            block_hash: BlockHash(block_hash.0),
            block_len: block_bytes.len() as u32,
        };
        let signature = keys
            .sign(&init.to_sign_bytes(&self.shared.chain_id))
            .0
            .to_vec();
        let pending = PendingProposal {
            round: round.as_i64(),
            pol_round: -1,
            proposer: self.address.0,
            block_hash: block_hash.0,
            block: block_bytes,
            signature,
            built_here: true,
        };
        self.store_pending(height, &pending)?;
        info!(target: "consensus", %height, %round, txs = block.txs.len(), hash = %block_hash, "proposing block");
        Ok((BlockValue(BlockHash(block_hash.0)), pending.parts(height)))
    }

    /// True if we already built a proposal for this round (a restart must re-propose it). A
    /// proposal received with our own key does not count (see [`PendingProposal::built_here`]).
    fn has_own_proposal(&self, height: Height, round: Round) -> anyhow::Result<bool> {
        Ok(self
            .shared
            .storage
            .pending_at(height.0)?
            .iter()
            .filter_map(|(_, b)| PendingProposal::decode(b, &self.address))
            .any(|p| p.ours_at(round, &self.address)))
    }

    fn store_pending(&self, height: Height, p: &PendingProposal) -> anyhow::Result<()> {
        let mut key = p.round.to_be_bytes().to_vec();
        key.extend_from_slice(&p.block_hash);
        if !p.built_here {
            // Our own proposal coming back (the same round and block) stays ours.
            let ours = self
                .shared
                .storage
                .pending_at(height.0)?
                .iter()
                .any(|(k, b)| {
                    *k == key
                        && PendingProposal::decode(b, &self.address).is_some_and(|q| q.built_here)
                });
            if ours {
                return Ok(());
            }
        }
        self.shared
            .storage
            .put_pending(height.0, &key, &borsh::to_vec(p)?, p.built_here)
            .map_err(|e| {
                error!(target: "consensus", height = height.0, error = %e, "storage write failed, stopping");
                anyhow::anyhow!("storage write of a proposal at height {} failed: {e}", height.0)
            })?;
        Ok(())
    }

    fn find_pending(
        &self,
        height: Height,
        id: &BlockHash,
    ) -> anyhow::Result<Option<(PendingProposal, Block)>> {
        for (_, bytes) in self.shared.storage.pending_at(height.0)? {
            let Some(p) = PendingProposal::decode(&bytes, &self.address) else {
                continue;
            };
            if p.block_hash == id.0 {
                let block = Block::from_bytes(&p.block)?;
                return Ok(Some((p, block)));
            }
        }
        Ok(None)
    }

    fn pending_values(
        &self,
        height: Height,
        round: Option<Round>,
    ) -> anyhow::Result<Vec<ProposedValue<PaychainContext>>> {
        let mut out = Vec::new();
        for (_, bytes) in self.shared.storage.pending_at(height.0)? {
            let Some(p) = PendingProposal::decode(&bytes, &self.address) else {
                continue;
            };
            if round.is_some_and(|r| r.as_i64() != p.round) {
                continue;
            }
            out.push(ProposedValue {
                height,
                round: round_from(p.round),
                valid_round: round_from(p.pol_round),
                proposer: Address(p.proposer),
                value: BlockValue(BlockHash(p.block_hash)),
                validity: Validity::Valid,
            });
        }
        Ok(out)
    }

    fn received_part(
        &mut self,
        publisher: PeerId,
        msg: StreamMessage<ProposalPart>,
    ) -> Option<ProposedValue<PaychainContext>> {
        let (height, round, validators) = (self.height, self.round, &self.validators);
        let (bindings, peer) = (&self.bindings, publisher.to_bytes());
        let admit = |init: &ProposalInit| {
            admit_init(validators, height, round, init)?;
            if !bindings.may_publish_for(&init.proposer.0, &peer) {
                return Err(streams::Dropped::NotProposersPeer);
            }
            Ok(())
        };
        let parts = match self.streams.receive(publisher, msg, &admit) {
            Ok(Some(parts)) => parts,
            Ok(None) => return None,
            Err(why) => {
                debug!(target: "consensus", %publisher, ?why, "proposal stream dropped");
                self.shared.metrics.proposal_stream_dropped(why.label());
                return None;
            }
        };
        match parts.first() {
            Some(ProposalPart::Init(init)) if init.height > self.height => {
                self.keep_future(parts);
                None
            }
            Some(ProposalPart::Init(init)) if init.height < self.height => None,
            _ => self.complete_proposal(parts),
        }
    }

    /// Keeps a complete stream for a height ahead of ours, once its proposer's signature checks, at
    /// most one per height and round and [`MAX_FUTURE`] in all.
    fn keep_future(&mut self, parts: Vec<ProposalPart>) {
        let Some((init, data, fin)) = split_parts(parts.clone()) else {
            self.shared.metrics.proposal_stream_dropped("malformed");
            return;
        };
        if let Err(Refusal::Unauthenticated(reason)) =
            validate::authenticate(&self.shared.chain_id, &self.validators, &init, &data, &fin)
        {
            debug!(target: "consensus", height = %init.height, round = %init.round, %reason, "unauthenticated future proposal stream dropped");
            self.shared
                .metrics
                .proposal_stream_dropped("unauthenticated");
            return;
        }
        let same_round = self.future.iter().any(|p| {
            matches!(p.first(), Some(ProposalPart::Init(i)) if i.height == init.height && i.round == init.round)
        });
        if same_round {
            self.shared
                .metrics
                .proposal_stream_dropped("duplicate_stream");
        } else if self.future.len() >= MAX_FUTURE {
            self.shared.metrics.proposal_stream_dropped("future_full");
        } else {
            self.future.push(parts);
        }
    }

    /// Validates a complete stream for the current height.
    fn complete_proposal(
        &mut self,
        parts: Vec<ProposalPart>,
    ) -> Option<ProposedValue<PaychainContext>> {
        let held = self.byzantine.faults.equivocate.then(|| parts.clone());
        let (init, data, fin) = split_parts(parts)?;
        let validity = match self.validate_proposal(&init, &data, &fin) {
            Ok(())
                if held.is_some()
                    && init.proposer == self.address
                    && !self.built_here(&init)
                    && !self
                        .has_own_proposal(init.height, init.round)
                        .unwrap_or(true) =>
            {
                // Test-only (see `crate::faults`): a proposal made with our key by the other host
                // running it waits until we have proposed our own block for its round (so we sign
                // that block and vote for it), then goes to consensus like any other (so we can
                // still commit it if it is decided): see `release_held`.
                if self.held.len() >= MAX_FUTURE {
                    self.held.remove(0);
                }
                self.held.extend(held);
                return None;
            }
            Ok(()) => {
                self.byzantine.saw_valid_proposal(&init, &fin);
                let pending = PendingProposal {
                    round: init.round.as_i64(),
                    pol_round: init.pol_round.as_i64(),
                    proposer: init.proposer.0,
                    block_hash: init.block_hash.0,
                    block: data,
                    signature: fin.signature,
                    built_here: false,
                };
                if let Err(e) = self.store_pending(init.height, &pending) {
                    error!(target: "consensus", error = %e, "cannot store proposal");
                    return None;
                }
                Validity::Valid
            }
            Err(Refusal::Unauthenticated(reason)) => {
                debug!(target: "consensus", height = %init.height, round = %init.round, claimed_proposer = %init.proposer, %reason, "unauthenticated proposal stream dropped");
                self.shared
                    .metrics
                    .proposal_stream_dropped("unauthenticated");
                return None;
            }
            Err(Refusal::Invalid(reason)) => {
                warn!(target: "consensus", height = %init.height, round = %init.round, proposer = %init.proposer, %reason, "invalid proposal");
                self.shared.metrics.invalid_proposal();
                Validity::Invalid
            }
        };
        Some(ProposedValue {
            height: init.height,
            round: init.round,
            valid_round: init.pol_round,
            proposer: init.proposer,
            value: BlockValue(init.block_hash),
            validity,
        })
    }

    /// Test-only (`equivocate`): a held proposal of the other host running our key, for our
    /// height and a round we have now proposed in, validated and handed to consensus. Held streams
    /// of heights below ours are dropped.
    fn release_held(&mut self) -> Option<ProposedValue<PaychainContext>> {
        let height = self.height;
        self.held
            .retain(|p| matches!(p.first(), Some(ProposalPart::Init(i)) if i.height >= height));
        let ready = self.held.iter().position(|p| {
            matches!(p.first(), Some(ProposalPart::Init(i))
                if i.height == height && self.has_own_proposal(i.height, i.round).unwrap_or(false))
        })?;
        let parts = self.held.swap_remove(ready);
        self.complete_proposal(parts)
    }

    /// Whether we built the proposal `init` announces (stored with `built_here`).
    fn built_here(&self, init: &ProposalInit) -> bool {
        self.shared
            .storage
            .pending_at(init.height.0)
            .unwrap_or_default()
            .iter()
            .filter_map(|(_, b)| PendingProposal::decode(b, &self.address))
            .any(|p| p.ours_at(init.round, &self.address) && p.block_hash == init.block_hash.0)
    }

    fn validate_proposal(
        &self,
        init: &ProposalInit,
        data: &[u8],
        fin: &crate::consensus::ProposalFin,
    ) -> Result<(), Refusal> {
        let block =
            validate::authenticate(&self.shared.chain_id, &self.validators, init, data, fin)?;
        self.validate_block(&block, true).map_err(Refusal::Invalid)
    }

    /// Checks a block against our tip (header, against our clock when `check_clock`), then its
    /// transactions: signatures and nonces.
    fn validate_block(&self, block: &Block, check_clock: bool) -> Result<(), String> {
        let tip = self.tip();
        validate::check_header(
            &self.shared.chain_id,
            &tip,
            block,
            check_clock.then(|| self.now_ms()),
        )?;
        // Verified at mempool admission already when we hold it (same hash, same bytes): verify
        // once per node; the others' signatures are checked as one batch.
        self.shared
            .mempool
            .check_unknown(&block.txs)
            .map_err(|(i, e)| format!("tx {}: {e}", block.txs[i].hash()))?;
        executor::validate_block_txs(&self.shared.storage, &block.header, &block.txs)
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    fn synced_value(
        &mut self,
        height: Height,
        round: Round,
        proposer: Address,
        bytes: &[u8],
    ) -> anyhow::Result<SyncedValueOutcome<PaychainContext>> {
        self.shared.syncing.store(true, Ordering::Relaxed);
        let Ok(block) = Block::from_bytes(bytes) else {
            warn!(target: "sync", %height, "undecodable synced block");
            return Ok(SyncedValueOutcome::PeerFault);
        };
        if block.header.height != height.0 {
            return Ok(SyncedValueOutcome::PeerFault);
        }
        if height.0 == self.tip().height + 1 {
            // A decided block was already validated by 2/3 of the validators; we still refuse
            // one that does not extend our chain (the certificate check is the engine's).
            if let Err(reason) = self.validate_block(&block, false) {
                warn!(target: "sync", %height, %reason, "synced block refused");
                return Ok(SyncedValueOutcome::PeerFault);
            }
        }
        let hash = block.hash();
        self.store_pending(
            height,
            &PendingProposal {
                round: round.as_i64(),
                pol_round: -1,
                proposer: proposer.0,
                block_hash: hash.0,
                block: bytes.to_vec(),
                signature: Vec::new(),
                built_here: false,
            },
        )?;
        Ok(SyncedValueOutcome::Verdict(ProposedValue {
            height,
            round,
            valid_round: Round::Nil,
            proposer,
            value: BlockValue(BlockHash(hash.0)),
            validity: Validity::Valid,
        }))
    }

    /// Test-only garbage flood (see [`crate::faults`]): undecodable and badly signed tx gossip, proposal streams
    /// impersonating the round's proposer, and a replay of a genuine proposal with other bytes.
    async fn send_garbage(
        &mut self,
        channels: &mut Channels<PaychainContext>,
    ) -> anyhow::Result<()> {
        let (txs, streams) =
            self.byzantine
                .garbage(&self.validators, self.address, self.height, self.round);
        for bytes in txs {
            self.shared.gossip(bytes);
        }
        // And a well-formed transaction whose signature does not verify.
        if let Some(bytes) =
            byzantine::badly_signed_tx(&self.shared.chain_id, PublicKey(self.address.0))
        {
            self.shared.gossip(bytes);
        }
        for msg in streams {
            channels
                .network
                .send(NetworkMsg::PublishProposalPart(msg))
                .await?;
        }
        Ok(())
    }

    /// Executes `block` over the committed state: here, or on a chain with private state inside
    /// this node's enclave, which alone holds the state key (the node supplies the values it asks
    /// for and computes the hashes over the sealed writes it returns).
    fn execute(
        &self,
        block: &Block,
        cert: &CommitCertificate<PaychainContext>,
    ) -> anyhow::Result<executor::BlockOutcome> {
        let storage = &self.shared.storage;
        if executor::private_exec_public(storage)?.is_none() {
            return Ok(executor::execute_block(storage, block)?);
        }
        let enclave = self.shared.enclave.as_ref().ok_or_else(|| {
            anyhow::anyhow!(
                "this chain keeps private state and this node has no enclave to execute it"
            )
        })?;
        let commit = crate::enclave::commit_of(cert);
        let (puts, receipts, rounds) = enclave.execute(block, &commit, |key| {
            Ok(paychain_contracts::state::StateReader::get(storage, key)?)
        })?;
        self.shared.metrics.enclave_executed(rounds);
        debug!(target: "enclave", height = block.header.height, txs = block.txs.len(), rounds, "block executed in the enclave");
        Ok(executor::finish_private(storage, puts, receipts)?)
    }

    /// Executes and commits the decided block, once.
    fn commit(&mut self, cert: &CommitCertificate<PaychainContext>) -> anyhow::Result<()> {
        let tip = self.tip();
        let height = cert.height.0;
        if height <= tip.height {
            return Ok(()); // already committed (e.g. Finalized after Decided, or a replay)
        }
        if height != tip.height + 1 {
            anyhow::bail!(
                "decided height {height} does not follow committed {}",
                tip.height
            );
        }
        let started = Instant::now();
        let (pending, block) =
            self.find_pending(cert.height, &cert.value_id)?
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "decided block {} at {height} is not in storage",
                        cert.value_id
                    )
                })?;
        let outcome = self
            .execute(&block, cert)
            .map_err(|e| anyhow::anyhow!("executing block {height}: {e:#}"))?;
        let cert_bytes = Codec::<CommitCertificate<PaychainContext>>::encode(&BorshCodec, cert)?;
        // The bytes the block was decoded from: the codec gives one value exactly one encoding.
        let block_bytes = pending.block;
        // A failed write (full or broken disk) is fatal: the node stops with the reason and,
        // once restarted, replays this height from its WAL or syncs it from peers.
        let new_tip = self
            .shared
            .storage
            .commit(Commit {
                block: &block,
                block_bytes: &block_bytes,
                writes: &outcome.writes,
                receipts: &outcome.receipts,
                result_root: outcome.result_root,
                certificate: &cert_bytes,
            })
            .map_err(|e| {
                error!(target: "consensus", height, error = %e, "storage write failed, stopping");
                anyhow::anyhow!("storage write of block {height} failed: {e}")
            })?;
        let storage = &self.shared.storage;
        self.shared
            .mempool
            .remove_committed(&block.txs, |pk| executor::nonce(storage, pk).unwrap_or(0));
        let expired = self.shared.mempool.expire(Instant::now(), height);
        if expired > 0 {
            debug!(target: "mempool", height, expired, "dropped transactions that waited too long");
        }
        // Idle chains make a few empty blocks a second: those are debug, the rest info.
        let level_info = !block.txs.is_empty();
        if level_info {
            info!(
                target: "consensus",
                height,
                round = %cert.round,
                txs = block.txs.len(),
                app_hash = %new_tip.app_hash,
                took_ms = started.elapsed().as_millis() as u64,
                "committed block"
            );
        }
        debug!(
            target: "consensus",
            height,
            round = %cert.round,
            txs = block.txs.len(),
            app_hash = %new_tip.app_hash,
            took_ms = started.elapsed().as_millis() as u64,
            "committed block"
        );
        self.shared
            .committed(new_tip, block.txs.len() as u64, started.elapsed());
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod admit_tests {
    use super::*;
    use crate::consensus::Validator;
    use paychain_contracts::ids::ChainId;
    use streams::Dropped;

    fn set() -> ValidatorSet {
        ValidatorSet::new(
            (1..=4u8)
                .map(|i| {
                    let k = ConsensusKeys::from_seed([i; 32], ChainId::new("paychain-test"));
                    Validator::new(k.public_key(), 1)
                })
                .collect(),
        )
    }

    fn init(validators: &ValidatorSet, h: u64, r: u32, proposer: Option<Address>) -> ProposalInit {
        let round = Round::new(r);
        ProposalInit {
            height: Height(h),
            round,
            pol_round: Round::Nil,
            proposer: proposer.unwrap_or_else(|| {
                PaychainContext
                    .select_proposer(validators, Height(h), round)
                    .address
            }),
            block_hash: BlockHash([0; 32]),
            block_len: 0,
        }
    }

    #[test]
    fn only_the_rounds_proposer_within_reach_is_admitted() {
        let v = set();
        let (h, r) = (Height(10), Round::new(2));
        let admit = |i: &ProposalInit| admit_init(&v, h, r, i);
        // The proposer of this height and round, of an earlier round, of a later one within reach,
        // and of the next heights.
        assert_eq!(admit(&init(&v, 10, 2, None)), Ok(()));
        assert_eq!(admit(&init(&v, 10, 0, None)), Ok(()));
        assert_eq!(
            admit(&init(&v, 10, 2 + MAX_ROUNDS_AHEAD as u32, None)),
            Ok(())
        );
        assert_eq!(
            admit(&init(
                &v,
                10 + MAX_FUTURE_HEIGHTS,
                MAX_ROUNDS_AHEAD as u32,
                None
            )),
            Ok(())
        );
        // Another validator naming itself for a round it does not lead.
        let proposer = init(&v, 10, 2, None).proposer;
        let other = v
            .validators()
            .iter()
            .map(|x| x.address)
            .find(|a| *a != proposer)
            .unwrap();
        assert_eq!(
            admit(&init(&v, 10, 2, Some(other))),
            Err(Dropped::NotProposer)
        );
        // Behind us, too far ahead in heights or rounds.
        assert_eq!(admit(&init(&v, 9, 0, None)), Err(Dropped::OutOfReach));
        assert_eq!(
            admit(&init(&v, 11 + MAX_FUTURE_HEIGHTS, 0, None)),
            Err(Dropped::OutOfReach)
        );
        assert_eq!(
            admit(&init(&v, 10, 3 + MAX_ROUNDS_AHEAD as u32, None)),
            Err(Dropped::OutOfReach)
        );
        assert_eq!(
            admit(&init(&v, 11, 1 + MAX_ROUNDS_AHEAD as u32, None)),
            Err(Dropped::OutOfReach)
        );
        assert_eq!(
            admit(&init(&v, u64::MAX, 0, None)),
            Err(Dropped::OutOfReach)
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod pending_tests {
    use super::*;

    fn pending(proposer: [u8; 32], built_here: bool) -> PendingProposal {
        PendingProposal {
            round: 2,
            pol_round: -1,
            proposer,
            block_hash: [7; 32],
            block: vec![1, 2, 3],
            signature: vec![9; 64],
            built_here,
        }
    }

    #[test]
    fn only_a_proposal_we_built_is_ours_to_propose_again() {
        let me = Address([3; 32]);
        let built = pending(me.0, true);
        assert!(built.ours_at(Round::new(2), &me));
        assert!(!built.ours_at(Round::new(1), &me));
        // Received from the network with our own key (a second host running it): not ours.
        let received = pending(me.0, false);
        assert!(!received.ours_at(Round::new(2), &me));
        let bytes = borsh::to_vec(&received).unwrap();
        let read = PendingProposal::decode(&bytes, &me).unwrap();
        assert!(!read.built_here && read.block == vec![1, 2, 3]);
    }

    #[test]
    fn records_stored_before_the_marker_keep_the_old_rule() {
        let me = Address([3; 32]);
        let old = |proposer: [u8; 32]| {
            borsh::to_vec(&LegacyPendingProposal {
                round: 2,
                pol_round: -1,
                proposer,
                block_hash: [7; 32],
                block: vec![1],
                signature: vec![9; 64],
            })
            .unwrap()
        };
        let mine = PendingProposal::decode(&old(me.0), &me).unwrap();
        assert!(mine.built_here && mine.ours_at(Round::new(2), &me));
        let theirs = PendingProposal::decode(&old([4; 32]), &me).unwrap();
        assert!(!theirs.built_here);
        assert!(PendingProposal::decode(&[1, 2, 3], &me).is_none());
    }
}
