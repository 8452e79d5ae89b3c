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
//!
//! The same box, keyed by the submitter's address instead ([`Penalties::with_debt`]), slows down an
//! RPC client whose submissions keep failing at the door (`[mempool] door_failure_burst_per_ip`,
//! `door_failures_per_sec_per_ip`): a flood of fresh keys costs each key only its burst, but all
//! of them come from the flooder's address. There every failure counts (the address sent it; TCP
//! does not let anyone send in another address's name), and a batch's failures may take the
//! bucket into debt down to minus the burst, so that a batch of a thousand failures is paid for
//! in time, not just its first `burst`.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::time::{Duration, Instant};

use paychain_contracts::crypto::PublicKey;

/// One sender's bucket, and its place in the least-recently-failed order.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
    seq: u64,
}

/// The penalty box (see the module docs), by sender key (`K`: a [`PublicKey`]) or by address.
/// Not thread-safe by itself: the mempool holds it in a lock.
#[derive(Debug)]
pub struct Penalties<K = PublicKey> {
    burst: f64,
    per_sec: f64,
    /// How far below zero failures take a bucket (0: not at all).
    max_debt: f64,
    max_tracked: usize,
    buckets: HashMap<K, Bucket>,
    /// seq → key, oldest failure first.
    order: BTreeMap<u64, K>,
    next_seq: u64,
}

impl<K: Copy + Eq + Hash> Penalties<K> {
    /// `burst` failures at once, refilled at `per_sec` a second (0: no penalty), for at most
    /// `max_tracked` keys.
    pub fn new(burst: u32, per_sec: u32, max_tracked: usize) -> Penalties<K> {
        Penalties {
            burst: f64::from(burst.max(1)),
            per_sec: f64::from(per_sec),
            max_debt: 0.0,
            max_tracked: max_tracked.max(1),
            buckets: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// [`Penalties::new`], where failures beyond the burst go into debt down to minus the burst:
    /// a key that failed `2 * burst` times at once waits `(burst + 1) / per_sec` seconds.
    pub fn with_debt(burst: u32, per_sec: u32, max_tracked: usize) -> Penalties<K> {
        let mut p = Penalties::new(burst, per_sec, max_tracked);
        p.max_debt = p.burst;
        p
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
    pub fn blocked(&mut self, sender: &K, now: Instant) -> Option<Duration> {
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
    pub fn fail(&mut self, sender: &K, now: Instant) {
        self.fail_n(sender, 1, now);
    }

    /// Counts `n` failures of `sender` at the door.
    pub fn fail_n(&mut self, sender: &K, n: usize, now: Instant) {
        if !self.enabled() || n == 0 {
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
        b.tokens = (b.tokens - n as f64).max(-self.max_debt);
        b.seq = seq;
        self.buckets.insert(*sender, b);
        self.order.insert(seq, *sender);
    }

    /// Keys tracked now.
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
        let mut p: Penalties = Penalties::new(3, 2, 100);
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
        let mut p: Penalties = Penalties::new(1, 1, 10);
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
        let mut p: Penalties = Penalties::new(1, 1, 3);
        p.fail(&key(1), t0);
        for n in 100..110 {
            p.fail(&key(1), t0);
            p.fail(&key(n), t0);
        }
        assert!(p.blocked(&key(1), t0).is_some());
    }

    #[test]
    fn an_address_pays_a_batch_of_failures_in_time_and_others_are_not_affected() {
        // Per address: 8 failures at once, 4 a second, debt down to -8.
        let mut p: Penalties<u32> = Penalties::with_debt(8, 4, 100);
        let t0 = Instant::now();
        let (flooder, honest) = (1u32, 2u32);
        // A batch of 7 failures passes (within the burst); the next batch is looked at too ...
        p.fail_n(&flooder, 7, t0);
        assert_eq!(p.blocked(&flooder, t0), None);
        // ... and its 500 failures take the bucket to -8, not to -493: refused for 9 tokens at
        // 4 a second.
        p.fail_n(&flooder, 500, t0);
        let wait = p.blocked(&flooder, t0).unwrap();
        assert!(
            (Duration::from_millis(2249)..=Duration::from_millis(2250)).contains(&wait),
            "{wait:?}"
        );
        assert!(p.blocked(&flooder, t0 + Duration::from_secs(2)).is_some());
        assert_eq!(p.blocked(&flooder, t0 + Duration::from_millis(2250)), None);
        // Another address was never slowed down, whatever the flooder did.
        assert_eq!(p.blocked(&honest, t0), None);
        p.fail_n(&honest, 0, t0);
        assert_eq!(p.tracked(), 1, "no failure, no entry");
        // A key table without debt stops at zero: one token back after 1 / per_sec.
        let mut keys: Penalties<u32> = Penalties::new(8, 4, 100);
        keys.fail_n(&flooder, 500, t0);
        assert_eq!(keys.blocked(&flooder, t0), Some(Duration::from_millis(250)));
        // Memory stays bounded with debt too.
        for a in 0..1000u32 {
            p.fail_n(&a, 100, t0);
            assert!(p.tracked() <= 100);
        }
    }

    #[test]
    fn zero_rate_disables_the_penalty() {
        let mut p: Penalties = Penalties::new(1, 0, 10);
        let t0 = Instant::now();
        for _ in 0..5 {
            p.fail(&key(1), t0);
        }
        assert_eq!(p.blocked(&key(1), t0), None);
        assert_eq!(p.tracked(), 0);
    }
}
