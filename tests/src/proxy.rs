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
//! The proxy runs on its own small tokio runtime; the tests stay synchronous.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

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
    cut: watch::Sender<bool>,
    connections: Arc<AtomicU64>,
}

impl Link {
    /// Connections passed through so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }

    /// Whether the link is cut now.
    pub fn is_cut(&self) -> bool {
        *self.cut.borrow()
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
        let (cut, cut_rx) = watch::channel(false);
        let connections = Arc::new(AtomicU64::new(0));
        runtime.spawn(serve(listener, target, cut_rx, connections.clone()));
        self.links.push(Link {
            from,
            to,
            kind,
            port,
            cut,
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
            link.cut.send_replace(!same);
        }
    }

    /// Lets traffic through on every link again.
    pub fn heal(&self) {
        for link in &self.links {
            link.cut.send_replace(false);
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
    cut: watch::Receiver<bool>,
    connections: Arc<AtomicU64>,
) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            continue;
        };
        if *cut.borrow() {
            // Refused: the dialer sees the connection close before any handshake.
            let _ = inbound.shutdown().await;
            continue;
        }
        connections.fetch_add(1, Ordering::Relaxed);
        let mut cut = cut.clone();
        tokio::spawn(async move {
            let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target)).await else {
                return;
            };
            let _ = inbound.set_nodelay(true);
            let _ = outbound.set_nodelay(true);
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                _ = cut.wait_for(|c| *c) => {}
            }
            // Dropping both sockets closes the connection on both nodes.
        });
    }
}
