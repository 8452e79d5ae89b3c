//! Validators in network namespaces with the kernel's netem between them (latency, jitter, loss),
//! for [`Options::netem`](crate::Options::netem). Root only; nothing touches the machine's own
//! interfaces: every interface lives in a namespace the test creates, and the namespaces are
//! deleted when the [`Namespaces`] guard drops (also when the test fails).
//!
//! ```text
//! ns pcit<P>n<i>  (node i, 10.213.<k>.<i+1>/24 on vn<i>, netem on vn<i>)
//!        │ veth
//! ns pcit<P>br    (bridge br0 over vb0..vbN, netem on each vb<i>)
//! ```
//!
//! A node's RPC listens on 127.0.0.1 inside its namespace; the tests reach it through
//! `paychain-netns-forward` (run inside the namespace, listening on a Unix socket) and a local
//! TCP port in the test process that forwards to that socket.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

/// What netem does on each veth end (so twice on the way from one node to another), e.g.
/// `"delay 25ms 10ms loss 1.5%"`; `None` runs the namespaces without impairment.
pub type Netem = Option<String>;

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .with_context(|| format!("run ip {}", args.join(" ")))?;
    ensure!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

fn tc(ns: &str, dev: &str, netem: &str) -> Result<()> {
    let mut args = vec!["-n", ns, "qdisc", "add", "dev", dev, "root", "netem"];
    args.extend(netem.split_whitespace());
    let out = Command::new("tc").args(&args).output().context("run tc")?;
    ensure!(
        out.status.success(),
        "tc {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// Why namespaces with netem cannot be used here (`ip`/`tc` missing, not root, no netem in the
/// kernel), or `Ok` when they can. Tries it in a throwaway namespace.
pub fn probe(netem: &Netem) -> Result<(), String> {
    for tool in ["ip", "tc"] {
        let found = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !found {
            return Err(format!("`{tool}` is not installed"));
        }
    }
    let ns = format!("pcit{}probe", std::process::id());
    let guard = Namespaces {
        names: vec![ns.clone()],
    };
    ip(&["netns", "add", &ns]).map_err(|e| format!("cannot create a network namespace: {e}"))?;
    if let Some(spec) = netem {
        ip(&["-n", &ns, "link", "set", "lo", "up"]).map_err(|e| e.to_string())?;
        tc(&ns, "lo", spec).map_err(|e| format!("no netem: {e}"))?;
    }
    drop(guard);
    Ok(())
}

/// The namespaces of one network; deleted on drop.
pub struct Namespaces {
    names: Vec<String>,
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.names {
            // Deleting a namespace deletes the veth ends in it (and so their peers).
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// `n` node namespaces on one bridge, netem on every veth end; returns the guard and each
/// node's (namespace, address).
pub fn create(n: usize, netem: &Netem) -> Result<(Namespaces, Vec<(String, String)>)> {
    let pid = std::process::id();
    let subnet = 1 + pid % 250;
    let bridge = format!("pcit{pid}br");
    let mut guard = Namespaces {
        names: vec![bridge.clone()],
    };
    ip(&["netns", "add", &bridge])?;
    ip(&["-n", &bridge, "link", "add", "br0", "type", "bridge"])?;
    ip(&["-n", &bridge, "link", "set", "br0", "up"])?;
    let mut nodes = Vec::new();
    for i in 0..n {
        let ns = format!("pcit{pid}n{i}");
        guard.names.push(ns.clone());
        ip(&["netns", "add", &ns])?;
        let (vn, vb) = (format!("vn{i}"), format!("vb{i}"));
        // Created inside the bridge namespace, then one end moved: nothing in the root one.
        ip(&[
            "-n", &bridge, "link", "add", &vb, "type", "veth", "peer", "name", &vn,
        ])?;
        ip(&["-n", &bridge, "link", "set", &vn, "netns", &ns])?;
        ip(&["-n", &bridge, "link", "set", &vb, "master", "br0"])?;
        ip(&["-n", &bridge, "link", "set", &vb, "up"])?;
        let addr = format!("10.213.{subnet}.{}", i + 1);
        ip(&["-n", &ns, "addr", "add", &format!("{addr}/24"), "dev", &vn])?;
        ip(&["-n", &ns, "link", "set", &vn, "up"])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        if let Some(spec) = netem {
            tc(&ns, &vn, spec)?;
            tc(&bridge, &vb, spec)?;
        }
        nodes.push((ns, addr));
    }
    Ok((guard, nodes))
}

/// Forwards a local TCP port (returned) to 127.0.0.1:`port` inside namespace `ns`, through a
/// `paychain-netns-forward` child (returned: the caller kills it) listening on `socket`.
pub fn forward(ns: &str, port: u16, socket: &Path) -> Result<(u16, Child)> {
    let child = Command::new("ip")
        .args(["netns", "exec", ns])
        .arg(crate::existing_bin("paychain-netns-forward")?)
        .arg(socket)
        .arg(port.to_string())
        .stdin(Stdio::null())
        .spawn()
        .context("spawn paychain-netns-forward")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while UnixStream::connect(socket).is_err() {
        if Instant::now() >= deadline {
            bail!(
                "paychain-netns-forward in {ns} did not listen on {}",
                socket.display()
            );
        }
        thread::sleep(Duration::from_millis(20));
    }
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let local = listener.local_addr()?.port();
    let socket: PathBuf = socket.to_path_buf();
    thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let socket = socket.clone();
            thread::spawn(move || -> Result<()> {
                let inner = UnixStream::connect(&socket)?;
                let (c2, i2) = (client.try_clone()?, inner.try_clone()?);
                let back = thread::spawn(move || {
                    pipe(&i2, &c2);
                    let _ = c2.shutdown(Shutdown::Write);
                });
                pipe(&client, &inner);
                let _ = inner.shutdown(Shutdown::Write);
                let _ = back.join();
                Ok(())
            });
        }
    });
    Ok((local, child))
}

fn pipe(mut from: impl Read, mut to: impl Write) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

/// Rewrites a node config's consensus and gossip addresses of node j (`base + 10j + {1, 2}` on
/// 127.0.0.1) to node j's namespace address.
pub fn rewrite_config(config: &str, base: u16, addrs: &[String]) -> String {
    let mut out = config.to_owned();
    for (j, addr) in addrs.iter().enumerate() {
        for offset in [1u16, 2] {
            let port = base + 10 * j as u16 + offset;
            out = out.replace(
                &format!("\"/ip4/127.0.0.1/tcp/{port}\""),
                &format!("\"/ip4/{addr}/tcp/{port}\""),
            );
        }
    }
    // Consensus connections now come from the namespaces' addresses.
    let sources: Vec<String> = addrs.iter().map(|a| format!("\"{a}\"")).collect();
    out.replace(
        "allowed_sources = [\"127.0.0.1\"]",
        &format!("allowed_sources = [{}]", sources.join(", ")),
    )
}

/// Builds the command that runs `program` inside namespace `ns`.
pub fn command_in(ns: &str, program: &Path) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).arg(program);
    c
}
