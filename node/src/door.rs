//! The penalty box of the mempool's door: a sender whose transactions keep failing at the door is
//! slowed down.
//!
//! Each sender that failed has a token bucket of `burst` failures, refilled at `per_sec`; every
//! failure takes a token, and while the bucket holds less than one, every transaction of that sender
//! is refused at once ("slowed down, retry after N ms"), before any state read or signature work.
//! So a sender may fail `burst` times in a row, then about `per_sec` times a second.
//!
//! Memory is bounded: at most `max_tracked` senders, the least recently failed forgotten first (a
//! forgotten sender starts again with a full bucket, which is what it would have after
//! `burst / per_sec` seconds of quiet anyway).
//!
//! Only failures the sender is answerable for count: an unknown sender (the key is not on the
//! chain, so there is no one to protect), and a signed transaction with a nonce too far ahead. A bad
//! signature or a replayed (stale) transaction does not count against the key it names: anyone can
//! forge the first and replay the second, and that would slow down an honest sender. (Anyone can
//! still drain the bucket of a key the chain does not know yet by sending in its name; once the key
//! is onboarded that stops, and the bucket refills at `per_sec`: a new user at worst waits
//! `1 / per_sec` seconds per transaction for `burst / per_sec` seconds.)

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use paychain_contracts::crypto::PublicKey;

/// One sender's bucket, and its place in the least-recently-failed order.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
    seq: u64,
}

/// The penalty box (see the module docs). Not thread-safe by itself: the mempool holds it in its
/// lock.
#[derive(Debug)]
pub struct Penalties {
    burst: f64,
    per_sec: f64,
    max_tracked: usize,
    buckets: HashMap<PublicKey, Bucket>,
    /// seq → sender, oldest failure first.
    order: BTreeMap<u64, PublicKey>,
    next_seq: u64,
}

impl Penalties {
    /// `burst` failures at once, refilled at `per_sec` a second (0: no penalty), for at most
    /// `max_tracked` senders.
    pub fn new(burst: u32, per_sec: u32, max_tracked: usize) -> Penalties {
        Penalties {
            burst: f64::from(burst.max(1)),
            per_sec: f64::from(per_sec),
            max_tracked: max_tracked.max(1),
            buckets: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
        }
    }

    fn enabled(&self) -> bool {
        self.per_sec > 0.0
    }

    fn refill(&self, b: &mut Bucket, now: Instant) {
        let dt = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + dt * self.per_sec).min(self.burst);
        b.at = now;
    }

    /// How long `sender` must wait before its next transaction is looked at, if it is slowed down.
    pub fn blocked(&mut self, sender: &PublicKey, now: Instant) -> Option<Duration> {
        if !self.enabled() {
            return None;
        }
        let mut b = *self.buckets.get(sender)?;
        self.refill(&mut b, now);
        self.buckets.insert(*sender, b);
        (b.tokens < 1.0)
            .then(|| Duration::from_secs_f64(((1.0 - b.tokens) / self.per_sec).max(0.001)))
    }

    /// Counts one failure of `sender` at the door.
    pub fn fail(&mut self, sender: &PublicKey, now: Instant) {
        if !self.enabled() {
            return;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut b = match self.buckets.remove(sender) {
            Some(b) => {
                self.order.remove(&b.seq);
                b
            }
            None => {
                while self.buckets.len() >= self.max_tracked {
                    let Some((_, oldest)) = self.order.pop_first() else {
                        break;
                    };
                    self.buckets.remove(&oldest);
                }
                Bucket {
                    tokens: self.burst,
                    at: now,
                    seq,
                }
            }
        };
        self.refill(&mut b, now);
        b.tokens = (b.tokens - 1.0).max(0.0);
        b.seq = seq;
        self.buckets.insert(*sender, b);
        self.order.insert(seq, *sender);
    }

    /// Senders tracked now.
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(n: u32) -> PublicKey {
        let mut seed = [7u8; 32];
        seed[..4].copy_from_slice(&n.to_be_bytes());
        paychain_contracts::crypto::SecretKey::from_seed(seed).public_key()
    }

    #[test]
    fn a_sender_is_slowed_down_after_its_burst_and_recovers_at_the_rate() {
        let mut p = Penalties::new(3, 2, 100);
        let t0 = Instant::now();
        let k = key(1);
        assert_eq!(p.blocked(&k, t0), None);
        for _ in 0..3 {
            assert_eq!(p.blocked(&k, t0), None);
            p.fail(&k, t0);
        }
        // Burst used up: refused for half a second (one token at 2 a second).
        let wait = p.blocked(&k, t0).unwrap();
        assert!(
            (Duration::from_millis(499)..=Duration::from_millis(500)).contains(&wait),
            "{wait:?}"
        );
        assert!(p.blocked(&k, t0 + Duration::from_millis(400)).is_some());
        assert_eq!(p.blocked(&k, t0 + Duration::from_millis(500)), None);
        // Another sender is not affected.
        assert_eq!(p.blocked(&key(2), t0), None);
    }

    #[test]
    fn memory_is_bounded_and_the_least_recently_failed_is_forgotten() {
        let mut p = Penalties::new(1, 1, 10);
        let t0 = Instant::now();
        for n in 0..1000 {
            p.fail(&key(n), t0);
            assert!(p.tracked() <= 10);
        }
        assert_eq!(p.tracked(), 10);
        // The last ten are slowed down, the first ones forgotten.
        assert!(p.blocked(&key(999), t0).is_some());
        assert!(p.blocked(&key(990), t0).is_some());
        assert_eq!(p.blocked(&key(0), t0), None);
        // A repeat offender is kept while fresh keys come and go.
        let mut p = Penalties::new(1, 1, 3);
        p.fail(&key(1), t0);
        for n in 100..110 {
            p.fail(&key(1), t0);
            p.fail(&key(n), t0);
        }
        assert!(p.blocked(&key(1), t0).is_some());
    }

    #[test]
    fn zero_rate_disables_the_penalty() {
        let mut p = Penalties::new(1, 0, 10);
        let t0 = Instant::now();
        for _ in 0..5 {
            p.fail(&key(1), t0);
        }
        assert_eq!(p.blocked(&key(1), t0), None);
        assert_eq!(p.tracked(), 0);
    }
}
