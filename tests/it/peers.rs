//! Bounded peers: only the consortium's nodes (their peer ids in `[gossip] allowed_peers`) may
//! connect to transaction gossip, and
//! a listed node that gossips garbage or badly signed transactions is disconnected and refused
//! from then on; every refusal is counted in `/metrics`.
//!
//! The stranger is a real `paychain-node` (a full node the validators do not list) that dials
//! every validator's consensus and gossip ports; the misbehaving peer is validator 3 with the test-only
//! `garbage` switch (it gossips undecodable and badly signed transactions every few hundred ms).

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use paychain_tests::{txs, Options, Testnet};

use crate::honest::{exactly_once, HonestLoad};
use crate::PROGRESS;

const HONEST: [usize; 3] = [0, 1, 2];
const GARBAGE: usize = 3;

/// The sum of `paychain_<name>` samples (with `labels`) in node `i`'s `/metrics`.
fn metric(net: &Testnet, i: usize, name: &str, labels: &str) -> Result<u64> {
    let (status, text) = net.rpc(i).http("GET", "/metrics", None)?;
    ensure!(status == 200, "node {i} /metrics: HTTP {status}");
    let prefix = format!("paychain_{name}");
    Ok(text
        .lines()
        .filter(|l| l.starts_with(&prefix) && l.contains(labels))
        .filter(|l| l[prefix.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64)
}

/// Polls until `ok` holds, failing with `what` at the deadline.
fn wait_until(what: &str, mut ok: impl FnMut() -> Result<bool>) -> Result<Duration> {
    let start = Instant::now();
    while !ok()? {
        ensure!(
            start.elapsed() < PROGRESS,
            "{what}: not within {PROGRESS:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(start.elapsed())
}

#[test]
fn n4_gossip_only_from_allowed_peers_stranger_refused_garbage_peer_dropped() -> Result<()> {
    let env = |k: &str, v: &str| (GARBAGE, k.to_owned(), v.to_owned());
    let mut net = Testnet::start_with(
        4,
        Options {
            allow_list: true,
            env: vec![
                env("PAYCHAIN_TEST_FAULTS", "enable"),
                env("PAYCHAIN_TEST_BYZANTINE", "garbage"),
            ],
            ..Options::default()
        },
    )?;
    net.wait_all(&[0, 1, 2, 3], 2, PROGRESS)?;

    // The garbage peer is dropped by every honest node, its rejected transactions counted by
    // kind; the honest nodes keep gossiping among themselves (two peers each).
    for i in HONEST {
        let took = wait_until(&format!("node {i} drops the garbage peer"), || {
            Ok(metric(&net, i, "gossip_peers_dropped_total", "")? >= 1)
        })?;
        eprintln!("node {i} dropped the garbage peer after {took:?}");
    }
    let undecodable = metric(
        &net,
        0,
        "gossip_rejected_txs_total",
        "reason=\"undecodable\"",
    )?;
    let bad_sig = metric(
        &net,
        0,
        "gossip_rejected_txs_total",
        "reason=\"bad_signature\"",
    )?;
    ensure!(
        undecodable > 0 && bad_sig > 0,
        "node 0 counted {undecodable} undecodable and {bad_sig} badly signed gossip transactions"
    );

    // A stranger (a node nobody lists) dials every validator's gossip port and is refused.
    let stranger = net.add_full_node()?;
    for i in HONEST {
        wait_until(&format!("node {i} refuses the stranger's gossip"), || {
            Ok(metric(&net, i, "gossip_refused_connections_total", "")? >= 1)
        })?;
    }
    for i in HONEST {
        wait_until(&format!("node {i} keeps only the two honest peers"), || {
            Ok(net.rpc(i).status()?["peers"] == 2)
        })?;
    }
    ensure!(
        net.rpc(stranger).status()?["peers"] == 0,
        "the stranger holds gossip connections: {}",
        net.rpc(stranger).status()?
    );

    // What the stranger admits goes nowhere: the chain moves on without it.
    let tx = platform_registration(&net, 91, "Via stranger")?;
    let hash = net
        .rpc(stranger)
        .submit(&tx.to_bytes())?
        .map_err(|e| anyhow::anyhow!("the stranger's own RPC refused the tx: {e}"))?;
    let h = net.height(0)?;
    net.wait_all(&HONEST, h + 3, PROGRESS)?;
    for i in HONEST {
        let t = net.rpc(i).tx(&hash)?;
        ensure!(
            t["status"] != "pending" && t["status"] != "committed",
            "node {i} got the stranger's gossip: {t}"
        );
    }

    // Honest transactions keep committing through every honest node.
    let load = HonestLoad::start_n(&net, 3)?;
    let t = Instant::now();
    load.wait_more(9, PROGRESS)?;
    let during = load.figures(t, Instant::now());
    // The key of the stranger's tx is platform-0's: it never got in, so nonces count only the load.
    let (acked, keys) = load.stop()?;
    exactly_once(&net, &HONEST, &acked, &keys)?;
    eprintln!(
        "FIGURES bounded gossip peers: garbage peer dropped, {undecodable} undecodable + {bad_sig} badly signed txs counted at node 0; stranger refused (consensus and gossip, height 0); honest {during}"
    );
    Ok(())
}

/// A TCP connection to `port` on loopback from source address `source` (any 127/8 address is this
/// host on Linux), as a blocking stream with a read deadline.
fn connect_from(source: [u8; 4], port: u16) -> Result<std::net::TcpStream> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let stream = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind((std::net::Ipv4Addr::from(source), 0).into())?;
        socket.connect(([127, 0, 0, 1], port).into()).await
    })?;
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(PROGRESS))?;
    Ok(stream)
}

const MULTISTREAM: &[u8] = b"\x13/multistream/1.0.0\n";

/// Whether the node's libp2p swarm answers the multistream-select header on `stream` (it got past the
/// gate), or the connection was closed (it did not).
fn swarm_answers(stream: &mut std::net::TcpStream) -> Result<bool> {
    use std::io::{Read, Write};
    // A closed connection may refuse the write already; that is a "no" too.
    if stream.write_all(MULTISTREAM).is_err() {
        return Ok(false);
    }
    let mut got = [0u8; MULTISTREAM.len()];
    match stream.read_exact(&mut got) {
        Ok(()) => {
            ensure!(
                got == MULTISTREAM,
                "unexpected bytes from the swarm: {got:?}"
            );
            Ok(true)
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(anyhow::anyhow!("neither answered nor closed: {e}")),
    }
}

#[test]
fn n4_consensus_port_only_from_allowed_sources_within_bounds() -> Result<()> {
    // Node 0 admits the other validators' host (127.0.0.1) and one more host, 127.0.0.5, at most 8
    // connections from one address.
    let mut net = Testnet::start_with(
        4,
        Options {
            config: vec![(
                0,
                "p2p.allowed_sources".to_owned(),
                "[\"127.0.0.1\", \"127.0.0.5\"]".to_owned(),
            )],
            ..Options::default()
        },
    )?;
    let port = net.base_port + 1;
    let h0 = net.height(0)?;

    // A stranger's host: closed before a byte, counted.
    let mut stranger = connect_from([127, 0, 0, 9], port)?;
    ensure!(
        !swarm_answers(&mut stranger)?,
        "a connection from 127.0.0.9 reached the consensus swarm"
    );
    wait_until("the refusal counted", || {
        Ok(metric(&net, 0, "p2p_gate_refused_total", "reason=\"source\"")? >= 1)
    })?;

    // An allowed host reaches the swarm (the positive control) ...
    let mut held = Vec::new();
    let mut first = connect_from([127, 0, 0, 5], port)?;
    ensure!(
        swarm_answers(&mut first)?,
        "an allowed host was not let through"
    );
    held.push(first);
    // ... up to 8 connections at once; the 9th is closed.
    for _ in 1..8 {
        held.push(connect_from([127, 0, 0, 5], port)?);
    }
    for s in held.iter_mut().skip(1) {
        ensure!(
            swarm_answers(s)?,
            "a connection within the bound was closed"
        );
    }
    let mut ninth = connect_from([127, 0, 0, 5], port)?;
    ensure!(
        !swarm_answers(&mut ninth)?,
        "a 9th connection from one host was let through"
    );
    ensure!(metric(&net, 0, "p2p_gate_refused_total", "reason=\"limit\"")? >= 1);
    // Places come back when connections close.
    drop(held);
    wait_until("a place freed", || {
        let mut again = connect_from([127, 0, 0, 5], port)?;
        swarm_answers(&mut again)
    })?;

    // Through all of it the validators, connected through the gate, kept deciding.
    net.wait_all(&[0, 1, 2, 3], h0 + 3, PROGRESS)?;
    Ok(())
}

/// The node's handshake timeout in the flood test (`[gossip] handshake_timeout_ms`).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections one address may hold on the gossip port (the default of a generated network of
/// one validator, `[gossip] max_connections_per_source`).
const PER_SOURCE: u64 = 8;

/// What the gossip flooder saw of its own connections.
#[derive(Debug, Default)]
struct Flooded {
    opened: u64,
    /// Closed by the node within 200 ms of opening (refused as they arrived).
    closed_at_once: u64,
    /// Closed by the node later (held in their handshake, then timed out).
    closed_later: u64,
    /// The longest any connection stayed open before the node closed it.
    longest: Duration,
}

/// One address (127.0.0.2) keeps up to 60 silent connections open to the gossip port,
/// reopening what the node closes, until `stop`.
fn flood_gossip(port: u16, stop: &std::sync::atomic::AtomicBool) -> Result<Flooded> {
    use std::io::{ErrorKind, Read};
    let mut seen = Flooded::default();
    let mut open: Vec<(std::net::TcpStream, Instant)> = Vec::new();
    let mut buf = [0u8; 256];
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        while open.len() < 60 {
            let s = crate::abuse::wire::connect_from([127, 0, 0, 2], port)?;
            s.set_nonblocking(true)?;
            open.push((s, Instant::now()));
            seen.opened += 1;
        }
        open.retain_mut(|(s, since)| {
            let closed = match s.read(&mut buf) {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) => e.kind() != ErrorKind::WouldBlock,
            };
            if closed {
                let lived = since.elapsed();
                seen.longest = seen.longest.max(lived);
                if lived < Duration::from_millis(200) {
                    seen.closed_at_once += 1;
                } else {
                    seen.closed_later += 1;
                }
            }
            !closed
        });
        // Pacing of the flood (a few hundred connections a second), not a wait for anything.
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(seen)
}

/// The gossip connection flood of issue 18: one address opens connections to the gossip port
/// over and over and never says a word. The node holds at most `max_connections_per_source` of
/// them (the gauge of connections in their handshake stays there), closes the rest as they arrive
/// and the held ones when their handshake times out; meanwhile an honest peer (a full node that
/// dials in, from another address) connects and gossips a transaction that the validator
/// commits.
#[test]
fn n1_gossip_connection_flood_from_one_address_is_bounded_and_an_honest_peer_still_gossips(
) -> Result<()> {
    let mut net = Testnet::start_with(
        1,
        Options {
            config: vec![(
                0,
                "gossip.handshake_timeout_ms".to_owned(),
                HANDSHAKE_TIMEOUT.as_millis().to_string(),
            )],
            ..Options::default()
        },
    )?;
    let port = net.base_port + 2;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flooder = {
        let stop = stop.clone();
        std::thread::spawn(move || flood_gossip(port, &stop))
    };
    let mut most_in_handshake = 0;
    let mut sample = |net: &Testnet| -> Result<()> {
        let n = metric(net, 0, "gossip_connections", "state=\"handshake\"")?;
        most_in_handshake = most_in_handshake.max(n);
        Ok(())
    };
    let result = (|| -> Result<()> {
        wait_until("the flood is refused per source", || {
            sample(&net)?;
            Ok(metric(
                &net,
                0,
                "gossip_connections_refused_total",
                "reason=\"per_source\"",
            )? >= 100)
        })?;

        // An honest peer from another address (127.0.0.1) dials in during the flood and gossips a
        // transaction; it reaches the validator only through that connection.
        let honest = net.add_full_node()?;
        wait_until("the honest peer connects", || {
            sample(&net)?;
            Ok(net.rpc(honest).status()?["peers"] == 1)
        })?;
        let tx = platform_registration(&net, 92, "During the flood")?;
        let hash = net
            .rpc(honest)
            .submit(&tx.to_bytes())?
            .map_err(|e| anyhow::anyhow!("the honest peer refused the tx: {e}"))?;
        wait_until("the gossiped tx is committed by the validator", || {
            sample(&net)?;
            Ok(net.rpc(0).tx(&hash)?["status"] == "committed")
        })?;

        // The held connections are closed when their handshake times out (twice over, so that
        // the flooder has seen the first ones close).
        wait_until("held connections time out", || {
            sample(&net)?;
            Ok(metric(
                &net,
                0,
                "gossip_handshakes_failed_total",
                "reason=\"timeout\"",
            )? >= 2 * PER_SOURCE)
        })?;
        Ok(())
    })();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = flooder
        .join()
        .map_err(|_| anyhow::anyhow!("the flooder panicked"))??;
    result?;
    let established = metric(&net, 0, "gossip_connections", "state=\"established\"")?;
    eprintln!(
        "FIGURES gossip connection flood: {seen:?}; node 0 held at most {most_in_handshake} in their handshake, {established} established at the end"
    );
    // One address never held more than its share (the honest peer's own handshake may be counted
    // in the same sample).
    ensure!(
        most_in_handshake <= PER_SOURCE + 1,
        "node 0 held {most_in_handshake} connections in their handshake (per source: {PER_SOURCE})"
    );
    ensure!(
        established <= 2,
        "node 0 holds {established} established gossip connections (one honest peer)"
    );
    ensure!(
        seen.closed_at_once >= 100 && seen.closed_later >= PER_SOURCE,
        "the flooder's connections: {seen:?}"
    );
    // Closed by the timeout, not held any longer (a margin for the flooder's polling and a
    // loaded machine).
    ensure!(
        seen.longest < HANDSHAKE_TIMEOUT + Duration::from_millis(1500),
        "a silent connection stayed open {:?} (handshake timeout {HANDSHAKE_TIMEOUT:?})",
        seen.longest
    );
    Ok(())
}

/// Platform 0's registration of merchant key `seed` as `name`, at its next nonce on node 0.
fn platform_registration(
    net: &Testnet,
    seed: u8,
    name: &str,
) -> Result<paychain_contracts::tx::SignedTx> {
    let chain = net.rpc(0).status()?["chain_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let key = net.platform_key(0)?;
    Ok(txs::signed(
        &key,
        &chain,
        net.rpc(0).nonce(&key.public_key())?,
        txs::register(&txs::merchant_key(seed), name),
    ))
}
