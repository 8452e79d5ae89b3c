//! What one IP may hold and do: open connections (counted as they are accepted) and calls per
//! second (a token bucket per IP). Also [`Conn`], the state one connection shares between the
//! listener, its HTTP layer, the RPC middleware and its idle watcher.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::task::AtomicWaker;
use tokio::sync::Notify;

use crate::config;
use crate::metrics::{ConnRefusal, RpcMetrics};

/// Most IPs with a rate-limit bucket at once; beyond it, buckets back to full are forgotten, and a
/// new IP is refused while none is.
const MAX_BUCKETS: usize = 1 << 16;

pub(crate) use crate::source::IpKey;

/// A token bucket: `rate` tokens a second, at most `burst`.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn refill(&mut self, now: Instant, rate: f64, burst: f64) {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + dt * rate).min(burst);
        self.at = now;
    }
}

#[derive(Default)]
struct State {
    connections: u32,
    per_ip: HashMap<IpKey, u32>,
    buckets: HashMap<IpKey, Bucket>,
}

/// The per-IP and total bounds of one server.
pub(crate) struct Limits {
    max_connections: u32,
    max_per_ip: u32,
    /// Calls a second per IP; 0: no rate limit.
    rate: f64,
    burst: f64,
    metrics: RpcMetrics,
    state: Mutex<State>,
}

/// A connection's place in the counts, given back when dropped.
pub(crate) struct Slot {
    limits: Arc<Limits>,
    key: IpKey,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut st = self.limits.lock();
        st.connections = st.connections.saturating_sub(1);
        if let Some(n) = st.per_ip.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                st.per_ip.remove(&self.key);
            }
        }
        drop(st);
        self.limits.metrics.connections_add(-1);
    }
}

/// A call refused by the rate limit: when the caller may try again.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct RetryAfter(pub Duration);

impl Limits {
    pub(crate) fn new(cfg: &config::Rpc, metrics: RpcMetrics) -> Arc<Limits> {
        Arc::new(Limits {
            max_connections: cfg.max_connections,
            max_per_ip: cfg.max_connections_per_ip.min(cfg.max_connections),
            rate: f64::from(cfg.max_calls_per_sec_per_ip),
            burst: f64::from(cfg.call_burst_per_ip),
            metrics,
            state: Mutex::new(State::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update is a few integer operations: a panic cannot leave it half done.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn max_connections(&self) -> u32 {
        self.max_connections
    }

    pub(crate) fn max_per_ip(&self) -> u32 {
        self.max_per_ip
    }

    /// The rate limit, in calls a second (0: none), and the burst.
    pub(crate) fn rate(&self) -> (u32, u32) {
        (self.rate as u32, self.burst as u32)
    }

    /// Counts a new connection from `ip`, or says which bound it would pass.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, ConnRefusal> {
        let key = IpKey::of(ip);
        let mut st = self.lock();
        if st.connections >= self.max_connections {
            return Err(ConnRefusal::Total);
        }
        let n = st.per_ip.entry(key).or_insert(0);
        if *n >= self.max_per_ip {
            return Err(ConnRefusal::PerIp);
        }
        *n += 1;
        st.connections += 1;
        drop(st);
        self.metrics.connections_add(1);
        Ok(Slot {
            limits: self.clone(),
            key,
        })
    }

    /// Takes `n` calls from `key`'s bucket, or says how long until they would be there.
    pub(crate) fn take(&self, key: IpKey, n: u32) -> Result<(), RetryAfter> {
        self.take_at(key, n, Instant::now())
    }

    fn take_at(&self, key: IpKey, n: u32, now: Instant) -> Result<(), RetryAfter> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let need = f64::from(n);
        let mut st = self.lock();
        if !st.buckets.contains_key(&key) && st.buckets.len() >= MAX_BUCKETS {
            let (rate, burst) = (self.rate, self.burst);
            st.buckets.retain(|_, b| {
                b.refill(now, rate, burst);
                b.tokens < burst
            });
            if st.buckets.len() >= MAX_BUCKETS {
                return Err(RetryAfter(Duration::from_secs(1)));
            }
        }
        let b = st.buckets.entry(key).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        b.refill(now, self.rate, self.burst);
        if b.tokens >= need {
            b.tokens -= need;
            Ok(())
        } else {
            let wait = (need.min(self.burst) - b.tokens) / self.rate;
            Err(RetryAfter(Duration::from_secs_f64(wait.max(0.001))))
        }
    }

    /// Charges `key` for `n` calls it was refused (an oversized batch: it costs its sender what
    /// it tried to send), into debt down to minus the burst. While in debt, its connections are
    /// not read ([`Slot::debt`]): the next oversized batch is not even parsed.
    pub(crate) fn charge(&self, key: IpKey, n: u32) {
        self.charge_at(key, n, Instant::now());
    }

    fn charge_at(&self, key: IpKey, n: u32, now: Instant) {
        if self.rate <= 0.0 {
            return;
        }
        let (rate, burst) = (self.rate, self.burst);
        let mut st = self.lock();
        if !st.buckets.contains_key(&key) && st.buckets.len() >= MAX_BUCKETS {
            return;
        }
        let b = st.buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        b.refill(now, rate, burst);
        b.tokens = (b.tokens - f64::from(n)).max(-burst);
    }

    /// Puts `key` in debt for `wait` (at most the burst's worth of calls), unless it owes more
    /// already: its connections are not read until then ([`Slot::debt`]). For an address the
    /// mempool's door slowed down, so that what it sends meanwhile is not even parsed.
    pub(crate) fn hold(&self, key: IpKey, wait: Duration) {
        self.hold_at(key, wait, Instant::now());
    }

    fn hold_at(&self, key: IpKey, wait: Duration, now: Instant) {
        if self.rate <= 0.0 {
            return;
        }
        let (rate, burst) = (self.rate, self.burst);
        let owed = (wait.as_secs_f64() * rate).min(burst);
        let mut st = self.lock();
        if !st.buckets.contains_key(&key) && st.buckets.len() >= MAX_BUCKETS {
            return;
        }
        let b = st.buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        b.refill(now, rate, burst);
        b.tokens = b.tokens.min(-owed);
    }

    /// How long until `key` is out of debt, if it is in debt.
    fn debt_at(&self, key: IpKey, now: Instant) -> Option<Duration> {
        if self.rate <= 0.0 {
            return None;
        }
        let mut st = self.lock();
        let b = st.buckets.get_mut(&key)?;
        b.refill(now, self.rate, self.burst);
        (b.tokens < 0.0).then(|| Duration::from_secs_f64(-b.tokens / self.rate))
    }
}

impl Slot {
    /// How long until this connection's IP is out of debt (see [`Limits::charge`]), if it is.
    pub(crate) fn debt(&self) -> Option<Duration> {
        self.limits.debt_at(self.key, Instant::now())
    }
}

/// How far a connection has been closed by its idle watcher.
const OPEN: u8 = 0;
/// Reads end (the server's side closes as if the client had).
const CLOSING: u8 = 1;
/// Writes fail too (for a client that does not read what is still being sent).
const CUT: u8 = 2;

/// One accepted connection, shared by its socket, its HTTP layer, the RPC middleware (through the
/// requests' extensions) and its idle watcher.
pub(crate) struct Conn {
    pub(crate) peer: SocketAddr,
    pub(crate) key: IpKey,
    started: Instant,
    /// Milliseconds after `started` of the last call or request (start or end).
    last_activity_ms: AtomicU64,
    subscriptions: AtomicU32,
    websocket: AtomicBool,
    closing: AtomicU8,
    closed: AtomicBool,
    pub(crate) read_waker: AtomicWaker,
    pub(crate) write_waker: AtomicWaker,
    /// Notified once the socket is dropped.
    pub(crate) closed_notify: Notify,
}

impl Conn {
    pub(crate) fn new(peer: SocketAddr) -> Conn {
        Conn {
            peer,
            key: IpKey::of(peer.ip()),
            started: Instant::now(),
            last_activity_ms: AtomicU64::new(0),
            subscriptions: AtomicU32::new(0),
            websocket: AtomicBool::new(false),
            closing: AtomicU8::new(OPEN),
            closed: AtomicBool::new(false),
            read_waker: AtomicWaker::new(),
            write_waker: AtomicWaker::new(),
            closed_notify: Notify::new(),
        }
    }

    /// Something happened on the connection: a request or call began or ended.
    pub(crate) fn touch(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_activity_ms.fetch_max(ms, Ordering::AcqRel);
    }

    /// When something last happened.
    pub(crate) fn last_activity(&self) -> Instant {
        self.started + Duration::from_millis(self.last_activity_ms.load(Ordering::Acquire))
    }

    pub(crate) fn subscribed(&self) {
        self.subscriptions.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn unsubscribed(&self) {
        let _ = self
            .subscriptions
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    pub(crate) fn subscriptions(&self) -> u32 {
        self.subscriptions.load(Ordering::Acquire)
    }

    pub(crate) fn set_websocket(&self) {
        self.websocket.store(true, Ordering::Release);
    }

    pub(crate) fn is_websocket(&self) -> bool {
        self.websocket.load(Ordering::Acquire)
    }

    /// Ends reads (`cut`: and writes) on the socket.
    pub(crate) fn close(&self, cut: bool) {
        self.closing
            .fetch_max(if cut { CUT } else { CLOSING }, Ordering::AcqRel);
        self.read_waker.wake();
        if cut {
            self.write_waker.wake();
        }
    }

    pub(crate) fn reads_closed(&self) -> bool {
        self.closing.load(Ordering::Acquire) >= CLOSING
    }

    pub(crate) fn writes_cut(&self) -> bool {
        self.closing.load(Ordering::Acquire) >= CUT
    }

    /// The socket was dropped.
    pub(crate) fn set_closed(&self) {
        self.closed.store(true, Ordering::Release);
        self.closed_notify.notify_one();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn limits(per_ip: u32, total: u32, rate: u32, burst: u32) -> Arc<Limits> {
        let cfg = config::Rpc {
            max_connections: total,
            max_connections_per_ip: per_ip,
            max_calls_per_sec_per_ip: rate,
            call_burst_per_ip: burst,
            ..config::Rpc::new("127.0.0.1:0".parse().unwrap())
        };
        Limits::new(&cfg, RpcMetrics::default())
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let a = IpKey::of("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = IpKey::of("2001:db8:1:2:bbbb::2".parse().unwrap());
        let c = IpKey::of("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.to_string(), "2001:db8:1:2::/64");
        assert_eq!(
            IpKey::of("::ffff:10.0.0.1".parse().unwrap()),
            IpKey::of("10.0.0.1".parse().unwrap())
        );
    }

    #[test]
    fn connections_are_capped_per_ip_and_in_total() {
        let l = limits(2, 3, 0, 0);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let a1 = l.admit(ip("127.0.0.2")).unwrap();
        let _a2 = l.admit(ip("127.0.0.2")).unwrap();
        assert_eq!(l.admit(ip("127.0.0.2")).err(), Some(ConnRefusal::PerIp));
        let _b1 = l.admit(ip("127.0.0.3")).unwrap();
        assert_eq!(l.admit(ip("127.0.0.4")).err(), Some(ConnRefusal::Total));
        drop(a1);
        assert!(
            l.admit(ip("127.0.0.2")).is_ok(),
            "a closed connection gives its slot back"
        );
    }

    #[test]
    fn the_bucket_refills_at_the_rate_up_to_the_burst() {
        let l = limits(1, 1, 100, 200);
        let k = IpKey::of("127.0.0.2".parse().unwrap());
        let other = IpKey::of("127.0.0.3".parse().unwrap());
        let t0 = Instant::now();
        assert!(l.take_at(k, 150, t0).is_ok());
        assert!(l.take_at(k, 50, t0).is_ok());
        let RetryAfter(wait) = l.take_at(k, 10, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-6, "{wait:?}");
        // Another IP has its own bucket.
        assert!(l.take_at(other, 200, t0).is_ok());
        // 100 ms later, 10 calls are back; a second later, no more than the burst.
        assert!(l.take_at(k, 10, t0 + Duration::from_millis(100)).is_ok());
        assert!(l.take_at(k, 201, t0 + Duration::from_secs(10)).is_err());
        assert!(l.take_at(k, 200, t0 + Duration::from_secs(10)).is_ok());
        // No rate: everything passes.
        let free = limits(1, 1, 0, 0);
        assert!(free.take_at(k, 1_000_000, t0).is_ok());
    }

    #[test]
    fn a_charge_puts_the_ip_in_debt_down_to_minus_the_burst() {
        let l = limits(1, 1, 100, 200);
        let k = IpKey::of("127.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        assert_eq!(l.debt_at(k, t0), None);
        l.charge_at(k, 14_000, t0);
        // 200 tokens owed at most: 2 s at 100 a second.
        let owed = l.debt_at(k, t0).unwrap();
        assert!((owed.as_secs_f64() - 2.0).abs() < 1e-6, "{owed:?}");
        assert!(l.take_at(k, 1, t0 + Duration::from_secs(1)).is_err());
        assert_eq!(l.debt_at(k, t0 + Duration::from_secs(2)), None);
        assert!(l.take_at(k, 1, t0 + Duration::from_millis(2010)).is_ok());
    }

    #[test]
    fn a_hold_puts_the_ip_in_debt_for_the_wait_up_to_the_burst() {
        let l = limits(1, 1, 100, 200);
        let (k, other) = (
            IpKey::of("127.0.0.2".parse().unwrap()),
            IpKey::of("127.0.0.3".parse().unwrap()),
        );
        let t0 = Instant::now();
        l.hold_at(k, Duration::from_millis(500), t0);
        let owed = l.debt_at(k, t0).unwrap();
        assert!((owed.as_secs_f64() - 0.5).abs() < 1e-6, "{owed:?}");
        assert_eq!(l.debt_at(other, t0), None);
        // A shorter hold does not shorten a debt; a longer one is capped at the burst (2 s).
        l.hold_at(k, Duration::from_millis(100), t0);
        assert!(l.debt_at(k, t0).unwrap() >= Duration::from_millis(499));
        l.hold_at(k, Duration::from_secs(60), t0);
        let owed = l.debt_at(k, t0).unwrap();
        assert!((owed.as_secs_f64() - 2.0).abs() < 1e-6, "{owed:?}");
        // No rate limit, no hold.
        let free = limits(1, 1, 0, 0);
        free.hold_at(k, Duration::from_secs(1), t0);
        assert_eq!(free.debt_at(k, t0), None);
    }
}
