//! Reassembly of proposal streams, bounded against whoever publishes them.
//!
//! Proposal parts arrive from any consensus peer, before anything authenticates them (the signature is in
//! the last part). So a stream is buffered only once its init (part 0) passes the host's check (`Admit`:
//! it names the proposer of its height and round, by our validator set and Malachite's proposer selection,
//! for a height and round within reach), and everything a publisher can make us hold is bounded:
//!
//! - one stream per publisher and (height, round): a newer stream id claiming the same height and round
//!   replaces the older one (a proposer has one stream per round);
//! - a stream whose part 0 is not an init is refused; parts that arrive before their stream's init (gossip
//!   does not keep order) are held for at most [`MAX_WAITING_PER_PEER`] such streams per publisher;
//! - at most [`MAX_STREAMS`] streams in all and [`MAX_STREAMS_PER_PEER`] per publisher: a publisher that
//!   opens more loses its own oldest stream, never another peer's; when the buffer is full, the oldest
//!   stream of the publisher holding the most is dropped, so no single peer can push out the proposer's;
//! - at most [`MAX_PARTS`] parts per stream (sequence numbers beyond it are refused) and
//!   [`MAX_STREAM_BYTES`] per stream, each part counted with a fixed overhead so that empty parts cost too;
//! - a stream is complete only when its parts are exactly `0..fin`.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use bytes::Bytes;
use malachitebft_app::streaming::{StreamContent, StreamId, StreamMessage};
use paychain_contracts::codec::MAX_BLOCK_BYTES;

use crate::consensus::{Address, BlockHash, Height, ProposalFin, ProposalInit, ProposalPart};
use malachitebft_core_types::Round;

/// Size of one streamed block chunk.
pub(super) const CHUNK_BYTES: usize = 128 * 1024;
/// Most proposal streams buffered at once.
pub(super) const MAX_STREAMS: usize = 64;
/// Most proposal streams buffered per publisher (a proposer has one per round in flight).
pub(super) const MAX_STREAMS_PER_PEER: usize = 4;
/// Most streams per publisher whose parts arrived before their init.
const MAX_WAITING_PER_PEER: usize = 2;
/// Most parts in one stream: a largest block in chunks, its init and fin, and slack.
pub(super) const MAX_PARTS: u64 = (MAX_BLOCK_BYTES / CHUNK_BYTES) as u64 + 8;
/// Most bytes buffered for one stream (parts counted with [`PART_OVERHEAD`] each).
pub(super) const MAX_STREAM_BYTES: usize = MAX_BLOCK_BYTES + 64 * 1024;
/// What each buffered part counts for beyond its data, so that a flood of empty parts is bounded too.
const PART_OVERHEAD: usize = 256;

struct Stream {
    parts: BTreeMap<u64, ProposalPart>,
    fin: Option<u64>,
    bytes: usize,
    born: u64,
    /// The (height, round) its admitted init claims; `None` until the init arrives.
    claim: Option<(u64, i64)>,
}

/// Why a message was not buffered (for logs and metrics; the stream is dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dropped {
    /// A part's sequence number is at or beyond [`MAX_PARTS`] or beyond the stream's fin, or a
    /// second init.
    BadSequence,
    /// The stream grew past [`MAX_STREAM_BYTES`].
    Oversize,
    /// Part 0 is not an init.
    NoInit,
    /// The init does not name the proposer of its height and round (decided by the host).
    NotProposer,
    /// The publisher is not a peer the named proposer's validator proof binds to its key
    /// (decided by the host).
    NotProposersPeer,
    /// The init's height is behind us or too far ahead, or its round too far ahead (decided by
    /// the host).
    OutOfReach,
}

impl Dropped {
    /// The `reason` label of `paychain_proposal_streams_dropped_total`.
    pub(super) fn label(self) -> &'static str {
        match self {
            Dropped::BadSequence => "bad_sequence",
            Dropped::Oversize => "oversize",
            Dropped::NoInit => "no_init",
            Dropped::NotProposer => "not_proposer",
            Dropped::NotProposersPeer => "not_proposers_peer",
            Dropped::OutOfReach => "out_of_reach",
        }
    }
}

/// The host's check of a stream's init before anything of the stream is buffered.
pub(super) type Admit<'a> = &'a dyn Fn(&ProposalInit) -> Result<(), Dropped>;

/// Streams being reassembled, keyed by publisher and stream id.
pub(super) struct Streams<P> {
    streams: HashMap<(P, StreamId), Stream>,
    counter: u64,
}

impl<P: Clone + Eq + Hash> Streams<P> {
    pub(super) fn new() -> Self {
        Streams {
            streams: HashMap::new(),
            counter: 0,
        }
    }

    /// Streams buffered now.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.streams.len()
    }

    /// Buffers `msg` from `publisher` once `admit` accepted its stream's init; returns the stream's
    /// parts in order once it is complete.
    pub(super) fn receive(
        &mut self,
        publisher: P,
        msg: StreamMessage<ProposalPart>,
        admit: Admit<'_>,
    ) -> Result<Option<Vec<ProposalPart>>, Dropped> {
        let key = (publisher, msg.stream_id.clone());
        let refuse = |streams: &mut HashMap<(P, StreamId), Stream>, why| {
            streams.remove(&key);
            Err(why)
        };
        if msg.sequence >= MAX_PARTS {
            return refuse(&mut self.streams, Dropped::BadSequence);
        }
        let claim = if msg.sequence == 0 {
            let StreamContent::Data(ProposalPart::Init(init)) = &msg.content else {
                return refuse(&mut self.streams, Dropped::NoInit);
            };
            if let Err(why) = admit(init) {
                return refuse(&mut self.streams, why);
            }
            let claim = (init.height.0, init.round.as_i64());
            if self.streams.get(&key).is_some_and(|s| s.claim.is_some()) {
                return refuse(&mut self.streams, Dropped::BadSequence);
            }
            // One stream per publisher and (height, round): a newer stream id replaces an older
            // one (a proposer sends one stream per round; an older one of the same publisher that
            // never completed is dropped rather than block the round).
            let older: Vec<(P, StreamId)> = self
                .streams
                .iter()
                .filter(|((p, id), s)| *p == key.0 && *id != key.1 && s.claim == Some(claim))
                .map(|(k, _)| k.clone())
                .collect();
            for k in older {
                self.streams.remove(&k);
            }
            Some(claim)
        } else {
            None
        };
        if !self.streams.contains_key(&key) {
            if claim.is_none() {
                // Parts ahead of their init (gossip does not keep order): at most
                // MAX_WAITING_PER_PEER such streams per publisher, its oldest one dropped.
                let mut waiting: Vec<(u64, (P, StreamId))> = self
                    .streams
                    .iter()
                    .filter(|((p, _), s)| *p == key.0 && s.claim.is_none())
                    .map(|(k, s)| (s.born, k.clone()))
                    .collect();
                if waiting.len() >= MAX_WAITING_PER_PEER {
                    waiting.sort_by_key(|(born, _)| *born);
                    if let Some((_, oldest)) = waiting.into_iter().next() {
                        self.streams.remove(&oldest);
                    }
                }
            }
            self.make_room(&key.0);
        }
        self.counter += 1;
        let born = self.counter;
        let stream = self.streams.entry(key.clone()).or_insert_with(|| Stream {
            parts: BTreeMap::new(),
            fin: None,
            bytes: 0,
            born,
            claim: None,
        });
        if claim.is_some() {
            stream.claim = claim;
        }
        match msg.content {
            StreamContent::Data(part) => {
                if stream.fin.is_some_and(|fin| msg.sequence >= fin) {
                    self.streams.remove(&key);
                    return Err(Dropped::BadSequence);
                }
                let size = match &part {
                    ProposalPart::Data(d) => d.len(),
                    _ => 0,
                };
                stream.bytes += size + PART_OVERHEAD;
                if stream.bytes > MAX_STREAM_BYTES {
                    self.streams.remove(&key);
                    return Err(Dropped::Oversize);
                }
                stream.parts.insert(msg.sequence, part);
            }
            StreamContent::Fin => {
                if stream.parts.range(msg.sequence..).next().is_some() {
                    self.streams.remove(&key);
                    return Err(Dropped::BadSequence);
                }
                stream.fin = Some(msg.sequence);
            }
        }
        let Some(fin) = stream.fin else {
            return Ok(None);
        };
        // Keys are below `fin` (checked above), so `fin` of them are exactly 0..fin.
        if stream.parts.len() as u64 != fin {
            return Ok(None);
        }
        Ok(self
            .streams
            .remove(&key)
            .map(|s| s.parts.into_values().collect()))
    }

    /// Drops one stream when `publisher` is at its share or the buffer is full.
    fn make_room(&mut self, publisher: &P) {
        let own = self.streams.keys().filter(|(p, _)| p == publisher).count();
        let victim_peer = if own >= MAX_STREAMS_PER_PEER {
            Some(publisher.clone())
        } else if self.streams.len() >= MAX_STREAMS {
            let mut counts: Vec<(&P, usize)> = Vec::new();
            for (p, _) in self.streams.keys() {
                match counts.iter_mut().find(|(q, _)| *q == p) {
                    Some((_, n)) => *n += 1,
                    None => counts.push((p, 1)),
                }
            }
            counts
                .into_iter()
                .max_by_key(|(_, n)| *n)
                .map(|(p, _)| p.clone())
        } else {
            None
        };
        let Some(peer) = victim_peer else { return };
        let oldest = self
            .streams
            .iter()
            .filter(|((p, _), _)| *p == peer)
            .min_by_key(|(_, s)| s.born)
            .map(|(k, _)| k.clone());
        if let Some(k) = oldest {
            self.streams.remove(&k);
        }
    }
}

/// Splits a complete stream into (init, block bytes, fin); `None` unless it is exactly
/// `Init, Data*, Fin` with at most [`MAX_BLOCK_BYTES`] of data.
pub(super) fn split_parts(
    parts: Vec<ProposalPart>,
) -> Option<(ProposalInit, Vec<u8>, ProposalFin)> {
    let mut iter = parts.into_iter();
    let Some(ProposalPart::Init(init)) = iter.next() else {
        return None;
    };
    let mut data = Vec::new();
    let mut fin = None;
    for part in iter {
        match part {
            ProposalPart::Data(d) if fin.is_none() => {
                if data.len() + d.len() > MAX_BLOCK_BYTES {
                    return None;
                }
                data.extend_from_slice(&d)
            }
            ProposalPart::Fin(f) if fin.is_none() => fin = Some(f),
            _ => return None,
        }
    }
    Some((init, data, fin?))
}

/// The parts of a proposal: init, the block in [`CHUNK_BYTES`] chunks, fin with the signature.
pub(super) fn parts_of(
    height: Height,
    round: Round,
    pol_round: Round,
    proposer: Address,
    block_hash: BlockHash,
    block: &[u8],
    signature: &[u8],
) -> Vec<ProposalPart> {
    let mut parts = vec![ProposalPart::Init(ProposalInit {
        height,
        round,
        pol_round,
        proposer,
        block_hash,
        block_len: block.len() as u32,
    })];
    parts.extend(
        block
            .chunks(CHUNK_BYTES)
            .map(|c| ProposalPart::Data(c.to_vec())),
    );
    parts.push(ProposalPart::Fin(ProposalFin {
        signature: signature.to_vec(),
    }));
    parts
}

/// The stream messages of our own proposal for (height, round): one stream id per height and round.
pub(super) fn stream_messages(
    height: Height,
    round: Round,
    parts: Vec<ProposalPart>,
) -> Vec<StreamMessage<ProposalPart>> {
    let mut id = height.0.to_be_bytes().to_vec();
    id.extend_from_slice(&round.as_i64().to_be_bytes());
    let stream_id = StreamId::new(Bytes::from(id));
    let n = parts.len() as u64;
    let mut out: Vec<_> = parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| StreamMessage::new(stream_id.clone(), i as u64, StreamContent::Data(p)))
        .collect();
    out.push(StreamMessage::new(stream_id, n, StreamContent::Fin));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parts(block: &[u8]) -> Vec<ProposalPart> {
        parts_of(
            Height(5),
            Round::new(0),
            Round::Nil,
            Address([7; 32]),
            BlockHash([9; 32]),
            block,
            &[1; 64],
        )
    }

    fn feed<P: Clone + Eq + Hash>(
        s: &mut Streams<P>,
        peer: P,
        msgs: Vec<StreamMessage<ProposalPart>>,
    ) -> Vec<Result<Option<Vec<ProposalPart>>, Dropped>> {
        msgs.into_iter()
            .map(|m| s.receive(peer.clone(), m, &any))
            .collect()
    }

    /// The host's check, passing everything.
    fn any(_: &ProposalInit) -> Result<(), Dropped> {
        Ok(())
    }

    /// The init of a stream for height `h`, round `r`.
    fn init_at(h: u64, r: u32) -> StreamContent<ProposalPart> {
        StreamContent::Data(ProposalPart::Init(ProposalInit {
            height: Height(h),
            round: Round::new(r),
            pol_round: Round::Nil,
            proposer: Address([7; 32]),
            block_hash: BlockHash([9; 32]),
            block_len: 1,
        }))
    }

    fn id(n: u8) -> StreamId {
        StreamId::new(Bytes::from(vec![n]))
    }

    fn msg(
        stream: u8,
        seq: u64,
        content: StreamContent<ProposalPart>,
    ) -> StreamMessage<ProposalPart> {
        StreamMessage::new(id(stream), seq, content)
    }

    #[test]
    fn a_stream_in_order_and_shuffled_reassembles_to_the_same_block() {
        let block: Vec<u8> = (0..(CHUNK_BYTES * 2 + 100)).map(|i| i as u8).collect();
        let expected = parts(&block);
        let msgs = stream_messages(Height(5), Round::new(0), expected.clone());
        assert_eq!(msgs.len(), expected.len() + 1);

        let mut s = Streams::new();
        let out = feed(&mut s, 1u8, msgs.clone());
        assert!(out[..out.len() - 1].iter().all(|r| r == &Ok(None)));
        assert_eq!(out.last(), Some(&Ok(Some(expected.clone()))));
        assert_eq!(s.len(), 0, "a complete stream is no longer buffered");

        let mut reversed = msgs;
        reversed.reverse();
        let out = feed(&mut s, 1u8, reversed);
        assert_eq!(out.last(), Some(&Ok(Some(expected.clone()))));
        let (init, data, fin) = split_parts(expected).unwrap();
        assert_eq!(data, block);
        assert_eq!(init.block_len as usize, block.len());
        assert_eq!(fin.signature, vec![1; 64]);
    }

    #[test]
    fn a_gap_never_completes_and_parts_beyond_fin_are_refused() {
        let mut s = Streams::new();
        let data = |n| StreamContent::Data(ProposalPart::Data(vec![0; n]));
        // parts 0 and 2 with fin = 2 would have two parts but not 0..2
        assert_eq!(s.receive(1u8, msg(1, 0, init_at(5, 0)), &any), Ok(None));
        assert_eq!(s.receive(1u8, msg(1, 2, data(1)), &any), Ok(None));
        assert_eq!(
            s.receive(1u8, msg(1, 2, StreamContent::Fin), &any),
            Err(Dropped::BadSequence)
        );
        assert_eq!(s.len(), 0);
        // a fin first, then a part at or past it
        assert_eq!(
            s.receive(1u8, msg(2, 1, StreamContent::Fin), &any),
            Ok(None)
        );
        assert_eq!(
            s.receive(1u8, msg(2, 1, data(1)), &any),
            Err(Dropped::BadSequence)
        );
        // a sequence number past any real proposal
        assert_eq!(
            s.receive(1u8, msg(3, MAX_PARTS, data(1)), &any),
            Err(Dropped::BadSequence)
        );
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn oversize_streams_and_floods_of_empty_parts_are_dropped() {
        let mut s = Streams::new();
        let mut last = Ok(None);
        for seq in 0..MAX_PARTS {
            let part = if seq == 0 {
                init_at(5, 0)
            } else {
                StreamContent::Data(ProposalPart::Data(vec![0; CHUNK_BYTES]))
            };
            last = s.receive(1u8, msg(1, seq, part), &any);
            if last.is_err() {
                break;
            }
        }
        assert_eq!(last, Err(Dropped::Oversize));
        assert_eq!(s.len(), 0);
        // empty parts: bounded by MAX_PARTS, each counted
        for seq in 0..MAX_PARTS {
            let part = if seq == 0 {
                init_at(5, 1)
            } else {
                StreamContent::Data(ProposalPart::Data(vec![]))
            };
            assert_eq!(s.receive(2u8, msg(2, seq, part), &any), Ok(None));
        }
        assert_eq!(
            s.receive(
                2u8,
                msg(
                    2,
                    MAX_PARTS,
                    StreamContent::Data(ProposalPart::Data(vec![]))
                ),
                &any
            ),
            Err(Dropped::BadSequence)
        );
    }

    #[test]
    fn one_publisher_cannot_evict_another_publishers_stream() {
        let mut s = Streams::new();
        let proposer_parts = stream_messages(Height(5), Round::new(0), parts(b"the real block"));
        let (last, first) = proposer_parts.split_last().unwrap();
        // the proposer's stream is under way ...
        for m in first.iter().cloned() {
            assert_eq!(s.receive(0u32, m, &any), Ok(None));
        }
        // ... while one attacker opens thousands of streams (each for another round, all passing
        // the host's check here), and sixty others one each (the buffer overflows by one: the
        // attacker, holding the most, loses one more)
        for n in 0..5000u32 {
            let stream = StreamId::new(Bytes::from(n.to_be_bytes().to_vec()));
            let _ = s.receive(1u32, StreamMessage::new(stream, 0, init_at(5, n)), &any);
        }
        for peer in 2..62u32 {
            let _ = s.receive(peer, msg(1, 0, init_at(5, 0)), &any);
        }
        assert!(s.len() <= MAX_STREAMS);
        assert_eq!(
            s.receive(0u32, last.clone(), &any),
            Ok(Some(parts(b"the real block"))),
            "the proposer's stream survived"
        );
    }

    #[test]
    fn only_streams_the_host_admits_are_buffered_one_per_publisher_and_round() {
        let mut s = Streams::new();
        // The host refuses the init (not the round's proposer): nothing of the stream is kept,
        // and its later parts wait as one stream without an init at most.
        let not_proposer = |_: &ProposalInit| Err(Dropped::NotProposer);
        assert_eq!(
            s.receive(1u8, msg(1, 0, init_at(5, 0)), &not_proposer),
            Err(Dropped::NotProposer)
        );
        assert_eq!(s.len(), 0);
        // A stream whose part 0 is not an init.
        assert_eq!(
            s.receive(
                1u8,
                msg(2, 0, StreamContent::Data(ProposalPart::Data(vec![1]))),
                &any
            ),
            Err(Dropped::NoInit)
        );
        // Parts ahead of their init: two such streams per publisher, the oldest dropped; a
        // stream is refused when its init is.
        let data = StreamContent::Data(ProposalPart::Data(vec![1]));
        assert_eq!(s.receive(1u8, msg(3, 1, data.clone()), &any), Ok(None));
        assert_eq!(s.receive(1u8, msg(4, 1, data.clone()), &any), Ok(None));
        assert_eq!(s.receive(1u8, msg(5, 1, data.clone()), &any), Ok(None));
        assert_eq!(s.len(), 2);
        assert_eq!(
            s.receive(1u8, msg(5, 0, init_at(5, 0)), &not_proposer),
            Err(Dropped::NotProposer)
        );
        assert_eq!(
            s.receive(1u8, msg(4, 0, init_at(5, 0)), &not_proposer),
            Err(Dropped::NotProposer)
        );
        assert_eq!(s.len(), 0);
        // One stream per publisher and (height, round): a second stream id replaces the first,
        // another round is a stream of its own, and so is another publisher's for the same round.
        assert_eq!(s.receive(1u8, msg(5, 0, init_at(5, 0)), &any), Ok(None));
        assert_eq!(s.receive(1u8, msg(6, 0, init_at(5, 0)), &any), Ok(None));
        assert_eq!(s.len(), 1);
        assert_eq!(s.receive(1u8, msg(7, 0, init_at(5, 1)), &any), Ok(None));
        assert_eq!(s.receive(2u8, msg(6, 0, init_at(5, 0)), &any), Ok(None));
        assert_eq!(s.len(), 3);
        // The replacement completes.
        let fin = StreamContent::Data(ProposalPart::Fin(ProposalFin { signature: vec![] }));
        assert_eq!(s.receive(1u8, msg(6, 1, fin), &any), Ok(None));
        assert!(matches!(
            s.receive(1u8, msg(6, 2, StreamContent::Fin), &any),
            Ok(Some(p)) if p.len() == 2
        ));
        // A second init in a stream drops it.
        assert_eq!(
            s.receive(1u8, msg(7, 0, init_at(5, 1)), &any),
            Err(Dropped::BadSequence)
        );
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn malformed_part_orders_do_not_split() {
        let init = parts(b"x")[0].clone();
        let fin = ProposalPart::Fin(ProposalFin { signature: vec![] });
        let data = ProposalPart::Data(vec![1]);
        assert!(
            split_parts(vec![data.clone(), fin.clone()]).is_none(),
            "no init"
        );
        assert!(
            split_parts(vec![init.clone(), data.clone()]).is_none(),
            "no fin"
        );
        assert!(
            split_parts(vec![init.clone(), fin.clone(), data.clone()]).is_none(),
            "data after fin"
        );
        assert!(
            split_parts(vec![init.clone(), init.clone(), fin.clone()]).is_none(),
            "two inits"
        );
        let big = ProposalPart::Data(vec![0; MAX_BLOCK_BYTES]);
        assert!(
            split_parts(vec![init.clone(), big, data, fin.clone()]).is_none(),
            "over the block limit"
        );
        assert!(split_parts(vec![init, fin]).is_some());
    }
}
