//! A TCP proxy between the validators of a [`Testnet`](crate::Testnet), for network partitions
//! without root privileges.
//!
//! ```text
//! node i ──dials──► 127.0.0.1:<link (i→j)> ──proxy──► node j's real port
//! ```
//!
//! Every directed link (`from` → `to`, consensus p2p and transaction gossip alike) has its own
//! listener, so a partition is a set of links: [`Proxy::partition`] cuts every link between two
//! groups: open connections on a cut link are closed at once, and new ones are accepted and
//! closed immediately (the port stays bound, so no other process can take it meanwhile).
//! [`Proxy::heal`] lets traffic through again; the nodes must redial on their own.
//!
//! Beyond clean cuts, a link can misbehave the way real networks do:
//! - **one-way**: [`Proxy::deafen`] discards every byte *to* a node (it still sends: its votes
//!   arrive, nothing reaches it), [`Proxy::mute`] every byte *from* it. The TCP connections stay
//!   open; only the payload vanishes, as on a half-broken route. Healing closes the connections
//!   that lost bytes (their encrypted streams cannot resume), so the nodes redial.
//! - **stall**: [`Proxy::stall`] holds the bytes between groups (connections stay open) until the
//!   heal, as a link down for less than TCP's patience does.
//! - **latency and jitter**: [`Proxy::set_delay`] holds every chunk for `delay ± jitter` (order kept,
//!   as TCP would), plus an occasional extra hold that models a retransmission after a lost segment.
//!
//! The proxy runs on its own small tokio runtime; the tests stay synchronous.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// What a link carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Malachite's consensus p2p (votes, proposals, value sync).
    P2p,
    /// Transaction gossip.
    Gossip,
}

/// One directed link `from` → `to`.
#[derive(Debug)]
pub struct Link {
    /// The dialing node.
    pub from: usize,
    /// The node dialed.
    pub to: usize,
    /// What it carries.
    pub kind: Kind,
    /// The proxy's listening port (what `from` dials).
    pub port: u16,
    state: watch::Sender<LinkState>,
    connections: Arc<AtomicU64>,
}

/// What a link does to its traffic now.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LinkState {
    /// Cut: open connections are closed, new ones refused.
    pub cut: bool,
    /// Stalled: connections stay open, bytes wait in the proxy until the stall ends (a link down
    /// for less than TCP's patience: segments are retransmitted when it comes back).
    pub stalled: bool,
    /// Bytes from the dialer to the dialed node are discarded.
    pub drop_forward: bool,
    /// Bytes from the dialed node back to the dialer are discarded.
    pub drop_back: bool,
    /// Every chunk is held this long (both directions)...
    pub delay: Duration,
    /// ... plus or minus up to this.
    pub jitter: Duration,
    /// Per mille of chunks held one extra retransmission timeout (200 ms): TCP's face of loss.
    pub loss_per_mille: u32,
}

impl Link {
    /// Connections passed through so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Whether the link is cut now.
    pub fn is_cut(&self) -> bool {
        self.state.borrow().cut
    }

    /// What the link does now.
    pub fn state(&self) -> LinkState {
        *self.state.borrow()
    }

    fn update(&self, f: impl FnOnce(&mut LinkState)) {
        self.state.send_modify(f);
    }
}

/// The proxy of one testnet.
pub struct Proxy {
    runtime: Option<tokio::runtime::Runtime>,
    links: Vec<Link>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").field("links", &self.links).finish()
    }
}

impl Proxy {
    /// A proxy with no links yet.
    pub fn new() -> Result<Proxy> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("test-proxy")
            .enable_all()
            .build()
            .context("proxy runtime")?;
        Ok(Proxy {
            runtime: Some(runtime),
            links: Vec::new(),
        })
    }

    /// Adds the link `from` → `to` forwarding to 127.0.0.1:`target`; returns its listening port
    /// (an OS-assigned one, held for the proxy's lifetime).
    pub fn add_link(&mut self, from: usize, to: usize, kind: Kind, target: u16) -> Result<u16> {
        let runtime = self.runtime.as_ref().context("proxy stopped")?;
        let listener = runtime
            .block_on(TcpListener::bind(("127.0.0.1", 0)))
            .context("proxy listener")?;
        let port = listener.local_addr()?.port();
        let (state, state_rx) = watch::channel(LinkState::default());
        let connections = Arc::new(AtomicU64::new(0));
        runtime.spawn(serve(listener, target, state_rx, connections.clone()));
        self.links.push(Link {
            from,
            to,
            kind,
            port,
            state,
            connections,
        });
        Ok(port)
    }

    /// The links.
    pub fn links(&self) -> &[Link] {
        &self.links
    }

    /// The listening port of link `from` → `to` of `kind`.
    pub fn port(&self, from: usize, to: usize, kind: Kind) -> Option<u16> {
        self.links
            .iter()
            .find(|l| l.from == from && l.to == to && l.kind == kind)
            .map(|l| l.port)
    }

    /// Cuts every link (both directions, both kinds) between a node of one group and a node of
    /// another; links inside a group stay up. A node in no group is cut off from everyone.
    pub fn partition(&self, groups: &[&[usize]]) {
        let group_of = |n: usize| groups.iter().position(|g| g.contains(&n));
        for link in &self.links {
            let same = match (group_of(link.from), group_of(link.to)) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            };
            link.update(|s| s.cut = !same);
        }
    }

    /// Like [`Proxy::partition`], but the links between groups stall instead of being cut: open
    /// connections survive and their bytes are delivered when [`Proxy::heal`] is called.
    pub fn stall(&self, groups: &[&[usize]]) {
        let group_of = |n: usize| groups.iter().position(|g| g.contains(&n));
        for link in &self.links {
            let same = match (group_of(link.from), group_of(link.to)) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            };
            link.update(|s| s.stalled = !same);
        }
    }

    /// Node `n` hears nothing: every byte sent *to* it, on every link of either kind, is
    /// discarded, while what it sends still arrives.
    pub fn deafen(&self, n: usize) {
        for link in &self.links {
            link.update(|s| {
                s.drop_forward |= link.to == n;
                s.drop_back |= link.from == n;
            });
        }
    }

    /// Node `n` is not heard: every byte *from* it is discarded, while it still receives.
    pub fn mute(&self, n: usize) {
        for link in &self.links {
            link.update(|s| {
                s.drop_forward |= link.from == n;
                s.drop_back |= link.to == n;
            });
        }
    }

    /// Holds every chunk on every link for `delay ± jitter`, and `loss_per_mille` ‰ of them
    /// a further 200 ms (a lost segment's retransmission).
    pub fn set_delay(&self, delay: Duration, jitter: Duration, loss_per_mille: u32) {
        for link in &self.links {
            link.update(|s| {
                s.delay = delay;
                s.jitter = jitter;
                s.loss_per_mille = loss_per_mille;
            });
        }
    }

    /// Lets traffic through on every link again, at full speed: no cut, no discarded bytes, no
    /// delay. Connections that lost bytes are closed (the nodes redial).
    pub fn heal(&self) {
        for link in &self.links {
            link.update(|s| *s = LinkState::default());
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

async fn serve(
    listener: TcpListener,
    target: u16,
    state: watch::Receiver<LinkState>,
    connections: Arc<AtomicU64>,
) {
    let mut seed = u64::from(target) | 1;
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            continue;
        };
        if state.borrow().cut {
            // Refused: the dialer sees the connection close before any handshake.
            let _ = inbound.shutdown().await;
            continue;
        }
        connections.fetch_add(1, Ordering::Relaxed);
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let mut state = state.clone();
        tokio::spawn(async move {
            let Ok(outbound) = TcpStream::connect(("127.0.0.1", target)).await else {
                return;
            };
            let _ = inbound.set_nodelay(true);
            let _ = outbound.set_nodelay(true);
            let (in_read, in_write) = inbound.into_split();
            let (out_read, out_write) = outbound.into_split();
            let lost = Arc::new(AtomicBool::new(false));
            let forward = pump(in_read, out_write, state.clone(), true, lost.clone(), seed);
            let back = pump(
                out_read,
                in_write,
                state.clone(),
                false,
                lost.clone(),
                !seed,
            );
            let closer = async {
                loop {
                    if state.changed().await.is_err() {
                        return;
                    }
                    let now = *state.borrow();
                    let dropping = now.drop_forward || now.drop_back;
                    if now.cut || (!dropping && lost.load(Ordering::Relaxed)) {
                        return;
                    }
                }
            };
            tokio::select! {
                _ = forward => {}
                _ = back => {}
                _ = closer => {}
            }
            // Dropping both sockets closes the connection on both nodes.
        });
    }
}

/// Copies one direction of a connection, applying the link's state to every chunk: discards it
/// while this direction drops (noting in `lost` that bytes were lost), else forwards it after the
/// link's delay. Order is kept: a chunk never leaves before the one read before it.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    state: watch::Receiver<LinkState>,
    forward: bool,
    lost: Arc<AtomicBool>,
    mut seed: u64,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let mut stall = state.clone();
    let reader = async move {
        let mut buf = vec![0u8; 64 * 1024];
        let mut last = Instant::now();
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let s = *state.borrow();
            if (forward && s.drop_forward) || (!forward && s.drop_back) {
                lost.store(true, Ordering::Relaxed);
                continue;
            }
            let mut hold = s.delay;
            if !s.jitter.is_zero() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let span = s.jitter.as_micros() as u64;
                let offset = seed % (2 * span + 1);
                hold = (hold + Duration::from_micros(offset)).saturating_sub(s.jitter);
            }
            if s.loss_per_mille > 0 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                if (seed % 1000) < u64::from(s.loss_per_mille) {
                    hold += Duration::from_millis(200);
                }
            }
            last = last.max(Instant::now() + hold);
            if tx.send((last, buf[..n].to_vec())).is_err() {
                return;
            }
        }
    };
    let writer = async move {
        while let Some((at, chunk)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if stall.wait_for(|s| !s.stalled).await.is_err() {
                return;
            }
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = reader => {}
        _ = writer => {}
    }
}
