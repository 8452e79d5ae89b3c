//! Reassembly of proposal streams, bounded against whoever publishes them.
//!
//! Proposal parts arrive from any consensus peer, before anything authenticates them (the signature is in
//! the last part). So everything a publisher can make us hold is bounded:
//!
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
}

/// Why a message was not buffered (for logs and metrics; the stream is dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dropped {
    /// A part's sequence number is at or beyond [`MAX_PARTS`] or beyond the stream's fin.
    BadSequence,
    /// The stream grew past [`MAX_STREAM_BYTES`].
    Oversize,
}

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

    /// Buffers `msg` from `publisher`; returns the stream's parts in order once it is complete.
    pub(super) fn receive(
        &mut self,
        publisher: P,
        msg: StreamMessage<ProposalPart>,
    ) -> Result<Option<Vec<ProposalPart>>, Dropped> {
        let key = (publisher, msg.stream_id.clone());
        if msg.sequence >= MAX_PARTS {
            self.streams.remove(&key);
            return Err(Dropped::BadSequence);
        }
        if !self.streams.contains_key(&key) {
            self.make_room(&key.0);
        }
        self.counter += 1;
        let born = self.counter;
        let stream = self.streams.entry(key.clone()).or_insert_with(|| Stream {
            parts: BTreeMap::new(),
            fin: None,
            bytes: 0,
            born,
        });
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
            .map(|m| s.receive(peer.clone(), m))
            .collect()
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
        assert_eq!(s.receive(1u8, msg(1, 0, data(1))), Ok(None));
        assert_eq!(s.receive(1u8, msg(1, 2, data(1))), Ok(None));
        assert_eq!(
            s.receive(1u8, msg(1, 2, StreamContent::Fin)),
            Err(Dropped::BadSequence)
        );
        assert_eq!(s.len(), 0);
        // a fin first, then a part at or past it
        assert_eq!(s.receive(1u8, msg(2, 1, StreamContent::Fin)), Ok(None));
        assert_eq!(
            s.receive(1u8, msg(2, 1, data(1))),
            Err(Dropped::BadSequence)
        );
        // a sequence number past any real proposal
        assert_eq!(
            s.receive(1u8, msg(3, MAX_PARTS, data(1))),
            Err(Dropped::BadSequence)
        );
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn oversize_streams_and_floods_of_empty_parts_are_dropped() {
        let mut s = Streams::new();
        let mut last = Ok(None);
        for seq in 0..MAX_PARTS {
            last = s.receive(
                1u8,
                msg(
                    1,
                    seq,
                    StreamContent::Data(ProposalPart::Data(vec![0; CHUNK_BYTES])),
                ),
            );
            if last.is_err() {
                break;
            }
        }
        assert_eq!(last, Err(Dropped::Oversize));
        assert_eq!(s.len(), 0);
        // empty parts: bounded by MAX_PARTS, each counted
        for seq in 0..MAX_PARTS {
            assert_eq!(
                s.receive(
                    2u8,
                    msg(2, seq, StreamContent::Data(ProposalPart::Data(vec![])))
                ),
                Ok(None)
            );
        }
        assert_eq!(
            s.receive(
                2u8,
                msg(
                    2,
                    MAX_PARTS,
                    StreamContent::Data(ProposalPart::Data(vec![]))
                )
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
            assert_eq!(s.receive(0u32, m), Ok(None));
        }
        // ... while one attacker opens thousands of streams, and sixty others one each (the buffer
        // overflows by one: the attacker, holding the most, loses one more)
        for n in 0..5000u32 {
            let stream = StreamId::new(Bytes::from(n.to_be_bytes().to_vec()));
            let _ = s.receive(
                1u32,
                StreamMessage::new(stream, 0, StreamContent::Data(ProposalPart::Data(vec![1]))),
            );
        }
        for peer in 2..62u32 {
            let _ = s.receive(
                peer,
                msg(1, 0, StreamContent::Data(ProposalPart::Data(vec![1]))),
            );
        }
        assert!(s.len() <= MAX_STREAMS);
        assert_eq!(
            s.receive(0u32, last.clone()),
            Ok(Some(parts(b"the real block"))),
            "the proposer's stream survived"
        );
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
