//! The gate in front of the consensus port: only the consortium's hosts connect, and only so many.
//!
//! Malachite 0.8's network has no hook to refuse a peer by its id, so the node gates by where a
//! connection comes from, as validator deployments do with firewalls (CometBFT's sentry nodes, an
//! allow-list of the other validators' addresses). With `[p2p] allowed_sources` set, Malachite's
//! swarm listens on a loopback port only this process knows, and the gate listens on `[p2p] listen`:
//!
//! - a connection from a source address outside `allowed_sources` (IPs or CIDR blocks) is closed
//!   before a byte is read (`p2p_gate_refused{reason="source"}`);
//! - at most `max_connections` connections are spliced at once, and at most
//!   `max_connections_per_source` from one address (`reason="limit"`): a host that is allowed (or
//!   spoofs nothing and is simply on the list) cannot exhaust the node's descriptors;
//! - an accepted connection is spliced byte for byte to the swarm, which then runs its own
//!   authenticated handshake (Noise) and checks every vote and proposal against the validator set.
//!
//! The gate does not replace signatures; it stops strangers from holding consensus connections,
//! receiving blocks, and spending the node's descriptors and handshakes.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use ipnet::IpNet;
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info, warn};

/// Parses `allowed_sources` entries: an IP (`10.0.0.7`) or a CIDR block (`10.0.0.0/24`).
pub fn parse_sources(entries: &[String]) -> anyhow::Result<Vec<IpNet>> {
    entries
        .iter()
        .map(|e| {
            IpNet::from_str(e)
                .or_else(|_| IpAddr::from_str(e).map(IpNet::from))
                .map_err(|_| {
                    anyhow::anyhow!(
                        "[p2p] allowed_sources: {:?} is not an IP address or CIDR block",
                        e.chars().take(64).collect::<String>()
                    )
                })
        })
        .collect()
}

/// Why the gate closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its source is not allowed.
    Source,
    /// The total or per-source connection bound is reached.
    Limit,
}

/// The gate's bounds.
#[derive(Debug, Clone)]
pub struct Bounds {
    /// Sources allowed to connect.
    pub allowed: Vec<IpNet>,
    /// Connections spliced at once.
    pub max_connections: usize,
    /// Connections from one source address at once.
    pub max_per_source: usize,
}

impl Bounds {
    fn allows(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.allowed.iter().any(|net| net.contains(&ip))
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Connections open now, by source.
#[derive(Default)]
struct Open {
    total: usize,
    by_source: BTreeMap<IpAddr, usize>,
}

/// One admitted connection's place, given back when it closes.
struct Slot {
    open: Arc<Mutex<Open>>,
    source: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = lock(&self.open);
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_source.get_mut(&self.source) {
            *n -= 1;
            if *n == 0 {
                open.by_source.remove(&self.source);
            }
        }
    }
}

fn lock(open: &Mutex<Open>) -> std::sync::MutexGuard<'_, Open> {
    // Counter updates are single assignments: a panic elsewhere cannot leave them half-done.
    open.lock().unwrap_or_else(|p| p.into_inner())
}

fn admit(bounds: &Bounds, open: &Arc<Mutex<Open>>, source: IpAddr) -> Result<Slot, Refusal> {
    if !bounds.allows(source) {
        return Err(Refusal::Source);
    }
    let source = canonical(source);
    let mut o = lock(open);
    let from_source = o.by_source.get(&source).copied().unwrap_or(0);
    if o.total >= bounds.max_connections || from_source >= bounds.max_per_source {
        return Err(Refusal::Limit);
    }
    o.total += 1;
    *o.by_source.entry(source).or_default() += 1;
    Ok(Slot {
        open: open.clone(),
        source,
    })
}

/// A loopback address with a port free now, for the swarm behind the gate.
pub fn internal_address() -> anyhow::Result<SocketAddr> {
    let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(probe.local_addr()?)
}

/// Listens on `public` and splices admitted connections to `internal`; `refused` is told of each
/// refusal. Returns once the listener is bound.
pub async fn spawn(
    public: SocketAddr,
    internal: SocketAddr,
    bounds: Bounds,
    refused: impl Fn(Refusal) + Send + Sync + 'static,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(public)
        .await
        .map_err(|e| anyhow::anyhow!("consensus gate cannot listen on {public}: {e}"))?;
    info!(target: "p2p", %public, sources = bounds.allowed.len(), max = bounds.max_connections, "consensus port gated by [p2p] allowed_sources");
    let open = Arc::new(Mutex::new(Open::default()));
    tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors, or a connection reset before accept: keep serving.
                    warn!(target: "p2p", error = %e, "consensus gate accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            match admit(&bounds, &open, peer.ip()) {
                Err(why) => {
                    debug!(target: "p2p", %peer, ?why, "consensus connection refused");
                    refused(why);
                    drop(stream);
                }
                Ok(slot) => {
                    tokio::spawn(splice(stream, internal, slot));
                }
            }
        }
    });
    Ok(())
}

async fn splice(mut outside: TcpStream, internal: SocketAddr, slot: Slot) {
    let _ = outside.set_nodelay(true);
    match TcpStream::connect(internal).await {
        Ok(mut inside) => {
            let _ = inside.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut outside, &mut inside).await;
        }
        Err(e) => warn!(target: "p2p", error = %e, "consensus gate cannot reach the swarm"),
    }
    drop(slot);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn bounds(allowed: &[&str], max: usize, per: usize) -> Bounds {
        Bounds {
            allowed: parse_sources(&allowed.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap(),
            max_connections: max,
            max_per_source: per,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn sources_parse_as_ips_or_blocks_and_bad_ones_are_named() {
        let b = bounds(&["10.0.0.7", "192.168.1.0/24", "fd00::/8"], 8, 8);
        assert!(b.allows(ip("10.0.0.7")));
        assert!(!b.allows(ip("10.0.0.8")));
        assert!(b.allows(ip("192.168.1.200")));
        assert!(b.allows(ip("::ffff:192.168.1.9")));
        assert!(b.allows(ip("fd12::1")));
        assert!(!b.allows(ip("127.0.0.1")));
        let e = parse_sources(&["10.0.0.300".into()]).unwrap_err();
        assert!(
            e.to_string().contains("not an IP address or CIDR block"),
            "{e}"
        );
        let long = "x".repeat(10_000);
        let e = parse_sources(&[long]).unwrap_err().to_string();
        assert!(e.len() < 200, "the error quotes a short prefix only");
    }

    #[test]
    fn bounds_hold_and_places_come_back() {
        let b = bounds(&["127.0.0.0/8"], 3, 2);
        let open = Arc::new(Mutex::new(Open::default()));
        assert_eq!(
            admit(&b, &open, ip("10.1.1.1")).err(),
            Some(Refusal::Source)
        );
        let a1 = admit(&b, &open, ip("127.0.0.2")).unwrap();
        let a2 = admit(&b, &open, ip("127.0.0.2")).unwrap();
        assert_eq!(
            admit(&b, &open, ip("127.0.0.2")).err(),
            Some(Refusal::Limit),
            "per source"
        );
        let c1 = admit(&b, &open, ip("127.0.0.3")).unwrap();
        assert_eq!(
            admit(&b, &open, ip("127.0.0.4")).err(),
            Some(Refusal::Limit),
            "in total"
        );
        drop(a1);
        let a3 = admit(&b, &open, ip("127.0.0.2")).unwrap();
        drop((a2, a3, c1));
        assert_eq!(lock(&open).total, 0);
        assert!(lock(&open).by_source.is_empty());
    }
}
