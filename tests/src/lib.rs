//! Harness for paychain's multi-node tests: real `paychain-node` processes on loopback sockets.
//!
//! ```text
//! Testnet::start(4)
//!   ├─ paychain-node testnet --validators 4 --out <tempdir> --base-port <free>
//!   ├─ spawn `paychain-node start --home <tempdir>/node<i>` ×4 (stderr → node<i>/node.log)
//!   └─ wait until every node answers `paychain_status`
//! net.rpc(i).call(method::STATUS, json!([]))      JSON-RPC 2.0 over HTTP (std only, no async runtime)
//! net.wait_height(i, h, timeout)                   polls status until height ≥ h, fails early if node i died
//! net.kill_9(i) / net.restart(i)                    fault injection
//! Testnet::start_with(4, Options { proxied: true, .. })   every link through a test-controlled TCP proxy
//! net.proxy().partition(&[&[0, 1], &[2, 3]]) / .heal()   network partitions (see [`proxy`])
//! net.set_env(i, "PAYCHAIN_TEST_...", Some(v))      test-only node switches for the next (re)start
//! Testnet::start_with(1, Options { config: vec![(0, "rpc.idle_timeout_ms".into(), "3000".into())], .. })
//!                                                   config values set before the nodes start
//! drop(net)                                         kills every child; prints log tails if the test panicked
//!                                                   (and keeps the directory when PAYCHAIN_IT_KEEP is set)
//! ```
//!
//! The binaries come from `${CARGO_TARGET_DIR:-<workspace>/target}/debug/` (`scripts/test.sh` builds them
//! first). Multi-node tests hold a process-wide lock ([`Testnet::start`] takes it) so that two networks never
//! share the machine's two cores at once; a test that needs no network does not take it.

// Every dependency of the library is used by it (test builds also link dev-dependencies, so only
// non-test builds are checked).
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use paychain_api::method;
use paychain_contracts::crypto::{Hash, PublicKey, SecretKey};
use paychain_contracts::enclave::KxSecret;
use paychain_contracts::ids::ChainId;
use paychain_contracts::reads::{Query, ReadRequest, SealedReply, SignedRead, READ_NONCE_LEN};
use serde_json::{json, Value};

pub mod netns;
pub mod proxy;

/// How long a node may take to answer its first `paychain_status` after being spawned.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Timeout of one RPC round trip.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest HTTP response the helper reads.
const MAX_RESPONSE_BYTES: u64 = 16 * 1024 * 1024;

static SERIAL: Mutex<()> = Mutex::new(());

/// Takes the process-wide lock that keeps multi-node tests from running at the same time.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Path of the dev-profile binary `name` (`paychain-node`, `paychain`).
pub fn bin(name: &str) -> PathBuf {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    };
    target.join("debug").join(name)
}

/// The path of a built workspace binary (`cargo build --workspace --bins`), or an error saying so.
pub fn existing_bin(name: &str) -> Result<PathBuf> {
    let path = bin(name);
    if !path.is_file() {
        bail!(
            "{} not found: build the binaries first (scripts/test.sh does: cargo build --workspace --bins)",
            path.display()
        );
    }
    Ok(path)
}

/// Last `n` lines of the file at `path` (or a note that it cannot be read).
pub fn tail(path: &Path, n: usize) -> String {
    match fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(e) => format!("({}: {e})", path.display()),
    }
}

/// A JSON-RPC 2.0 error object returned by a node.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// JSON-RPC error code.
    pub code: i64,
    /// The one-line reason.
    pub message: String,
    /// Optional `data`.
    pub data: Option<Value>,
}

impl std::fmt::Display for RpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JSON-RPC error {}: {}", self.code, self.message)?;
        if let Some(data) = &self.data {
            write!(f, " ({data})")?;
        }
        Ok(())
    }
}

impl std::error::Error for RpcError {}

/// A JSON-RPC 2.0 client over plain HTTP/1.1 (one connection per call).
#[derive(Debug, Clone)]
pub struct Rpc {
    addr: SocketAddr,
}

impl Rpc {
    /// A client of the node whose RPC listens on 127.0.0.1:`port`.
    pub fn new(port: u16) -> Rpc {
        Rpc {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Calls `method` with positional `params`. The outer error is transport or protocol trouble; the
    /// inner one is the node's JSON-RPC error.
    pub fn try_call(&self, method: &str, params: Value) -> Result<Result<Value, RpcError>> {
        let body =
            json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string();
        let (status, text) = self.http("POST", "/", Some(&body))?;
        let v: Value = serde_json::from_str(&text)
            .with_context(|| format!("{method}: HTTP {status}, not JSON: {text:.200}"))?;
        if let Some(err) = v.get("error") {
            return Ok(Err(RpcError {
                code: err.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: err
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                data: err.get("data").cloned(),
            }));
        }
        match v.get("result") {
            Some(result) => Ok(Ok(result.clone())),
            None => bail!("{method}: response has neither result nor error: {text:.200}"),
        }
    }

    /// Calls `method`, treating a JSON-RPC error as an error. The node's per-address call rate
    /// (5001: the test's own polling from the same address, or a load running beside it) is waited
    /// out as the node says (`retry_after_ms`), for up to 5 s; [`Rpc::try_call`] shows it instead.
    pub fn call(&self, method: &str, params: Value) -> Result<Value> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.try_call(method, params.clone())? {
                Ok(v) => return Ok(v),
                Err(e) if e.code == 5001 && Instant::now() < deadline => {
                    let wait = e
                        .data
                        .as_ref()
                        .and_then(|d| d["retry_after_ms"].as_u64())
                        .unwrap_or(20)
                        .clamp(1, 500);
                    thread::sleep(Duration::from_millis(wait));
                }
                Err(e) => return Err(anyhow!("{method}: {e}")),
            }
        }
    }

    /// Calls `method` and expects a JSON-RPC error.
    pub fn call_err(&self, method: &str, params: Value) -> Result<RpcError> {
        match self.try_call(method, params)? {
            Ok(v) => bail!("{method}: expected an error, got {v}"),
            Err(e) => Ok(e),
        }
    }

    /// A signed read of `query` by `key`, valid 20 blocks past the tip, with a fresh reply key: the
    /// request (for tests that alter it) and the reply secret.
    pub fn read_request(&self, key: &SecretKey, query: Query) -> Result<(ReadRequest, KxSecret)> {
        let status = self.status()?;
        let chain = status["chain_id"]
            .as_str()
            .context("status has no chain_id")?;
        let height = status["height"].as_u64().context("status has no height")?;
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let seed = Hash::digest(&[&n.to_le_bytes()[..], &t.to_le_bytes()[..]].concat());
        let reply = KxSecret::from_seed(seed.0);
        let mut nonce = [0u8; READ_NONCE_LEN];
        nonce.copy_from_slice(&seed.0[..READ_NONCE_LEN]);
        let request = ReadRequest {
            chain_id: ChainId::new(chain),
            requester: key.public_key(),
            query,
            reply_kx_public: reply.public_key(),
            nonce,
            valid_until_height: height + 20,
        };
        Ok((request, reply))
    }

    /// Sends a signed read to the method its query names; opens the sealed answer with `reply`.
    pub fn send_read(
        &self,
        signed: &SignedRead,
        reply: &KxSecret,
    ) -> Result<Result<Value, RpcError>> {
        let method = signed.request.query.method();
        let answer = self.try_call(method, json!([hex::encode(signed.to_bytes())]))?;
        Ok(match answer {
            Err(e) => Err(e),
            Ok(v) => {
                let sealed: SealedReply = serde_json::from_value(v)
                    .with_context(|| format!("{method}: not a sealed reply"))?;
                let json =
                    paychain_contracts::reads::open_reply(reply, &signed.request.hash(), &sealed)
                        .map_err(|e| anyhow!("{method}: answer does not open: {e}"))?;
                Ok(serde_json::from_slice(&json)?)
            }
        })
    }

    /// A signed read of `query` by `key`: the opened answer, or the node's error.
    pub fn try_read(&self, key: &SecretKey, query: Query) -> Result<Result<Value, RpcError>> {
        let (request, reply) = self.read_request(key, query)?;
        self.send_read(&request.sign(key), &reply)
    }

    /// A signed read of `query` by `key`, which must succeed.
    pub fn read(&self, key: &SecretKey, query: Query) -> Result<Value> {
        let method = query.method();
        self.try_read(key, query)?
            .map_err(|e| anyhow!("{method}: {e}"))
    }

    /// A signed read of `query` by `key`, which must be refused.
    pub fn read_err(&self, key: &SecretKey, query: Query) -> Result<RpcError> {
        let method = query.method();
        match self.try_read(key, query)? {
            Ok(v) => bail!("{method}: expected a refusal, got {v}"),
            Err(e) => Ok(e),
        }
    }

    /// `paychain_status`.
    pub fn status(&self) -> Result<Value> {
        self.call(method::STATUS, json!([]))
    }

    /// Height from `paychain_status`.
    pub fn height(&self) -> Result<u64> {
        let s = self.status()?;
        s["height"]
            .as_u64()
            .ok_or_else(|| anyhow!("status has no numeric height: {s}"))
    }

    /// `paychain_block` at `height` (None if the node does not have it).
    pub fn block(&self, height: u64) -> Result<Option<Value>> {
        let b = self.call(method::BLOCK, json!([height]))?;
        Ok((!b.is_null()).then_some(b))
    }

    /// Submits encoded transaction bytes; returns the tx hash or the node's refusal.
    pub fn submit(&self, tx_bytes: &[u8]) -> Result<Result<String, RpcError>> {
        Ok(self
            .try_call(method::SUBMIT_TX, json!([hex::encode(tx_bytes)]))?
            .map(|v| v["tx_hash"].as_str().unwrap_or_default().to_owned()))
    }

    /// `paychain_tx`.
    pub fn tx(&self, tx_hash: &str) -> Result<Value> {
        self.call(method::TX, json!([tx_hash]))
    }

    /// Polls `paychain_tx` until the transaction is committed; returns its receipt.
    pub fn wait_committed(&self, tx_hash: &str, timeout: Duration) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let t = self.tx(tx_hash)?;
            if t["status"] == "committed" {
                return Ok(t["receipt"].clone());
            }
            if Instant::now() >= deadline {
                bail!("tx {tx_hash} not committed within {timeout:?}: last answer {t}");
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// `paychain_account`: the sender's next nonce (0 for an unknown account).
    pub fn nonce(&self, key: &PublicKey) -> Result<u64> {
        let a = self.call(method::ACCOUNT, json!([hex::encode(key.0)]))?;
        Ok(a["nonce"].as_u64().unwrap_or(0))
    }

    /// Plain HTTP request; returns status code and body.
    pub fn http(&self, method: &str, path: &str, body: Option<&str>) -> Result<(u16, String)> {
        let mut stream = TcpStream::connect_timeout(&self.addr, RPC_TIMEOUT)
            .with_context(|| format!("connect {}", self.addr))?;
        stream.set_read_timeout(Some(RPC_TIMEOUT))?;
        stream.set_write_timeout(Some(RPC_TIMEOUT))?;
        let body = body.unwrap_or("");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Accept: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        stream.write_all(request.as_bytes())?;
        let mut reader = BufReader::new(stream.take(MAX_RESPONSE_BYTES));
        let mut status_line = String::new();
        reader.read_line(&mut status_line)?;
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("bad HTTP status line {status_line:?}"))?;
        let mut content_length = None;
        let mut chunked = false;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                break;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    content_length = value.parse::<usize>().ok();
                } else if name.eq_ignore_ascii_case("transfer-encoding")
                    && value.eq_ignore_ascii_case("chunked")
                {
                    chunked = true;
                }
            }
        }
        let mut raw = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size)?;
                let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                    .context("bad chunk size")?;
                if size == 0 {
                    break;
                }
                let mut chunk = vec![0; size.min(MAX_RESPONSE_BYTES as usize)];
                reader.read_exact(&mut chunk)?;
                raw.extend_from_slice(&chunk);
                let mut crlf = String::new();
                reader.read_line(&mut crlf)?;
            }
        } else if let Some(len) = content_length {
            raw.resize(len.min(MAX_RESPONSE_BYTES as usize), 0);
            reader.read_exact(&mut raw)?;
        } else {
            reader.read_to_end(&mut raw)?;
        }
        Ok((status, String::from_utf8_lossy(&raw).into_owned()))
    }
}

/// Reads a key file (`{"public_key": hex, "secret_key": hex seed}`).
pub fn load_key(path: &Path) -> Result<SecretKey> {
    let text = fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let v: Value =
        serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))?;
    let seed_hex = v["secret_key"]
        .as_str()
        .ok_or_else(|| anyhow!("{}: no secret_key", path.display()))?;
    let seed: [u8; 32] = hex::decode(seed_hex)?
        .try_into()
        .map_err(|_| anyhow!("{}: secret_key is not 32 bytes", path.display()))?;
    Ok(SecretKey::from_seed(seed))
}

/// One validator process of a [`Testnet`].
#[derive(Debug)]
pub struct Node {
    /// Its home directory.
    pub home: PathBuf,
    /// Its RPC port.
    pub rpc_port: u16,
    /// Extra environment of the process (test-only switches), applied at every (re)start.
    pub env: Vec<(String, String)>,
    /// The network namespace it runs in ([`Options::namespaces`]).
    pub netns: Option<String>,
    child: Option<Child>,
}

impl Node {
    /// The node's log (stdout and stderr of every run).
    pub fn log_path(&self) -> PathBuf {
        self.home.join("node.log")
    }

    fn spawn(&mut self) -> Result<()> {
        let mut log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        writeln!(log, "---- spawn ----")?;
        let bin = existing_bin("paychain-node")?;
        let mut command = match &self.netns {
            Some(ns) => netns::command_in(ns, &bin),
            None => Command::new(bin),
        };
        let child = command
            .arg("start")
            .arg("--home")
            .arg(&self.home)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("spawn paychain-node start")?;
        self.child = Some(child);
        Ok(())
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process runs (false once it has exited or been killed).
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Sends a signal (`STOP`, `CONT`, ...) to the running process.
    fn signal(&mut self, name: &str) -> Result<()> {
        let pid = self.child.as_ref().context("node not started")?.id();
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .context("run kill")?;
        ensure!(status.success(), "kill -{name} {pid} failed");
        Ok(())
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until the process exits by itself; returns its exit status, or an error when it
    /// still runs at `timeout` (or was never started).
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let child = self.child.as_mut().context("node not started")?;
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                bail!("node still running after {timeout:?}");
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

/// How [`Testnet::start_with`] sets a network up.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Route every node-to-node link (consensus p2p and tx gossip) through a [`proxy::Proxy`]
    /// the test controls.
    pub proxied: bool,
    /// Extra environment per node: `(node, name, value)`.
    pub env: Vec<(usize, String, String)>,
    /// Config values per node, set before it first starts: `(node, "section.key", value as
    /// TOML)`, e.g. `(0, "rpc.idle_timeout_ms", "3000")`. The key must be in the generated
    /// config (every field is).
    pub config: Vec<(usize, String, String)>,
    /// Run every validator in a network namespace of its own, all on one bridge, with this netem
    /// on every veth end (see [`netns`]; root only: check [`netns::probe`] first).
    pub namespaces: Option<netns::Netem>,
    /// List every validator's peer id in every validator's `[gossip] allowed_peers` (so that
    /// only they may gossip with each other).
    pub allow_list: bool,
    /// A chain with private payment state (`paychain-node testnet --state private`; otherwise
    /// the harness asks for `--state clear`).
    pub private_state: bool,
}

/// The libp2p peer id of the node at `home` (`paychain-node peer-id`).
pub fn peer_id(home: &Path) -> Result<String> {
    let out = Command::new(existing_bin("paychain-node")?)
        .args(["peer-id", "--home"])
        .arg(home)
        .output()
        .context("run paychain-node peer-id")?;
    ensure!(
        out.status.success(),
        "paychain-node peer-id failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The namespaces of a testnet and the RPC forwarders into them: the forwarders are killed, then
/// the namespaces deleted.
struct NetnsRun {
    forwarders: Vec<Child>,
    _namespaces: netns::Namespaces,
}

impl Drop for NetnsRun {
    fn drop(&mut self) {
        for child in &mut self.forwarders {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// N validators, each its own `paychain-node` process, on free loopback ports.
pub struct Testnet {
    /// The directory `paychain-node testnet` wrote (genesis, platform keys, node homes).
    pub dir: tempfile::TempDir,
    /// The validators, index `i` = `node<i>`.
    pub nodes: Vec<Node>,
    /// Base port (node i's RPC port is `base_port + 10 * i`).
    pub base_port: u16,
    proxy: Option<proxy::Proxy>,
    /// Environment of the next node [`Testnet::add_node`] adds.
    pending_env: Vec<(String, String)>,
    /// Config values for the next node [`Testnet::add_node`] starts.
    pending_config: Vec<(String, String)>,
    /// The namespaces and RPC forwarders of [`Options::namespaces`] (dropped after the nodes).
    _netns: Option<NetnsRun>,
    /// Whether [`Testnet::approve_cas`] has run.
    cas_approved: Mutex<bool>,
    _serial: MutexGuard<'static, ()>,
}

/// Validity of the harness's CA and party certificates: 2020-01-01 to 2100-01-01 (the chain judges
/// them at block time, which is wall time on a test network).
pub const CERT_NOT_BEFORE_S: u64 = 1_577_836_800;
/// See [`CERT_NOT_BEFORE_S`].
pub const CERT_NOT_AFTER_S: u64 = 4_102_444_800;

/// The harness's CA key of genesis platform `platform-<i>` (derived from `i`: the same on every run).
pub fn test_ca_key(i: usize) -> SecretKey {
    SecretKey::from_seed(
        paychain_contracts::crypto::sha256(&[b"paychain-tests/ca", &(i as u64).to_be_bytes()]).0,
    )
}

/// The harness's self-signed CA certificate (DER) of genesis platform `platform-<i>`.
pub fn test_ca_cert(i: usize) -> Result<Vec<u8>> {
    let platform = paychain_contracts::ids::PlatformId::new(format!("platform-{i}"))
        .map_err(|e| anyhow!("{e}"))?;
    paychain_contracts::ca::build_ca_cert(
        &test_ca_key(i),
        &paychain_contracts::ca::CaParams {
            common_name: format!("platform-{i} test CA"),
            platform,
            serial: paychain_contracts::ca::Serial::from_u64(1)?,
            not_before_s: CERT_NOT_BEFORE_S,
            not_after_s: CERT_NOT_AFTER_S,
        },
    )
    .map_err(Into::into)
}

/// A party certificate (DER) of `party` in `role` issued by the harness CA of `platform-<i>`, its
/// serial derived from the key and role, its encryption key from the signing key.
pub fn test_party_cert(
    i: usize,
    party: &SecretKey,
    role: paychain_contracts::ca::PartyRole,
) -> Result<Vec<u8>> {
    let pk = party.public_key();
    let digest = paychain_contracts::crypto::sha256(&[
        b"paychain-tests/serial",
        &pk.0,
        role.to_string().as_bytes(),
    ]);
    // 16 octets, the first non-zero: a positive serial unique per (key, role).
    let mut serial = digest.0[..16].to_vec();
    serial[0] |= 1;
    let enc = KxSecret::from_seed(
        paychain_contracts::crypto::sha256(&[b"paychain-tests/enc", &party.to_seed()[..]]).0,
    );
    paychain_contracts::ca::issue_party_cert(
        &test_ca_key(i),
        &test_ca_cert(i)?,
        &paychain_contracts::ca::PartyParams {
            common_name: format!("{role} {}", &pk.to_hex()[..16]),
            party_key: pk,
            encryption_key: enc.public_key(),
            role,
            serial: paychain_contracts::ca::Serial::new(serial)?,
            not_before_s: CERT_NOT_BEFORE_S,
            not_after_s: CERT_NOT_AFTER_S,
        },
    )
    .map_err(Into::into)
}

impl Testnet {
    /// Generates an `n`-validator network on free ports, starts every node and waits until each answers.
    /// Retries on another base port when a port turned out to be taken.
    pub fn start(n: usize) -> Result<Testnet> {
        Self::start_with(n, Options::default())
    }

    /// [`Testnet::start`] with [`Options`]: a proxy between the nodes, extra node environment.
    pub fn start_with(n: usize, options: Options) -> Result<Testnet> {
        let guard = serial();
        let mut last_err = None;
        for attempt in 0..4 {
            let base = free_base_port(n, attempt)?;
            match Self::try_start(n, base, &options) {
                Ok((dir, nodes, proxy, netns)) => {
                    return Ok(Testnet {
                        dir,
                        nodes,
                        base_port: base,
                        proxy,
                        pending_env: Vec::new(),
                        pending_config: Vec::new(),
                        _netns: netns,
                        cas_approved: Mutex::new(false),
                        _serial: guard,
                    })
                }
                Err(StartError::PortTaken(e)) => last_err = Some(e),
                Err(StartError::Other(e)) => return Err(e),
            }
        }
        Err(last_err
            .unwrap_or_else(|| anyhow!("no attempt made"))
            .context("could not find free ports for the testnet"))
    }

    #[allow(clippy::type_complexity)]
    fn try_start(
        n: usize,
        base: u16,
        options: &Options,
    ) -> Result<
        (
            tempfile::TempDir,
            Vec<Node>,
            Option<proxy::Proxy>,
            Option<NetnsRun>,
        ),
        StartError,
    > {
        let dir = tempfile::Builder::new()
            .prefix("paychain-it-")
            .tempdir()
            .map_err(|e| StartError::Other(e.into()))?;
        let out = Command::new(existing_bin("paychain-node")?)
            .args(["testnet", "--validators", &n.to_string(), "--out"])
            .arg(dir.path())
            .args(["--base-port", &base.to_string()])
            .args([
                "--state",
                if options.private_state {
                    "private"
                } else {
                    "clear"
                },
            ])
            .output()
            .map_err(|e| StartError::Other(anyhow!("run paychain-node testnet: {e}")))?;
        if !out.status.success() {
            return Err(StartError::Other(anyhow!(
                "paychain-node testnet failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let mut nodes: Vec<Node> = (0..n)
            .map(|i| Node {
                home: dir.path().join(format!("node{i}")),
                rpc_port: base + 10 * i as u16,
                env: options
                    .env
                    .iter()
                    .filter(|(node, _, _)| *node == i)
                    .map(|(_, k, v)| (k.clone(), v.clone()))
                    .collect(),
                netns: None,
                child: None,
            })
            .collect();
        for (i, key, value) in &options.config {
            let node = nodes
                .get(*i)
                .ok_or_else(|| anyhow!("config for node {i} of {n}"))?;
            set_config(&node.home.join("config.toml"), key, value)?;
        }
        if options.allow_list {
            let ids = nodes
                .iter()
                .map(|node| peer_id(&node.home).map(|id| format!("\"{id}\"")))
                .collect::<Result<Vec<_>>>()?;
            for node in &nodes {
                set_config(
                    &node.home.join("config.toml"),
                    "gossip.allowed_peers",
                    &format!("[{}]", ids.join(", ")),
                )?;
            }
        }
        let proxy = if options.proxied {
            Some(route_through_proxy(&nodes, base).map_err(StartError::Other)?)
        } else {
            None
        };
        let mut netns_run = match &options.namespaces {
            Some(netem) => {
                let (namespaces, placed) = netns::create(n, netem)?;
                let addrs: Vec<String> = placed.iter().map(|(_, a)| a.clone()).collect();
                for (node, (ns, _)) in nodes.iter_mut().zip(&placed) {
                    let path = node.home.join("config.toml");
                    let text = fs::read_to_string(&path).map_err(anyhow::Error::from)?;
                    fs::write(&path, netns::rewrite_config(&text, base, &addrs))
                        .map_err(anyhow::Error::from)?;
                    node.netns = Some(ns.clone());
                }
                Some(NetnsRun {
                    forwarders: Vec::new(),
                    _namespaces: namespaces,
                })
            }
            None => None,
        };
        let result = (|| {
            for node in &mut nodes {
                node.spawn()?;
            }
            if let Some(run) = &mut netns_run {
                for (i, node) in nodes.iter_mut().enumerate() {
                    let ns = node.netns.clone().context("node without namespace")?;
                    let socket = dir.path().join(format!("node{i}.rpc.sock"));
                    let (local, child) = netns::forward(&ns, node.rpc_port, &socket)?;
                    run.forwarders.push(child);
                    node.rpc_port = local;
                }
            }
            for (i, node) in nodes.iter_mut().enumerate() {
                wait_answers(node, i, START_TIMEOUT)?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            let port_taken = nodes.iter().any(|node| {
                fs::read_to_string(node.log_path())
                    .map(|log| {
                        let log = log.to_lowercase();
                        log.contains("address already in use") || log.contains("addrinuse")
                    })
                    .unwrap_or(false)
            });
            for node in &mut nodes {
                node.kill();
            }
            return Err(if port_taken {
                StartError::PortTaken(e)
            } else {
                StartError::Other(e)
            });
        }
        Ok((dir, nodes, proxy, netns_run))
    }

    /// The proxy between the nodes (panics unless started with [`Options::proxied`]).
    pub fn proxy(&self) -> &proxy::Proxy {
        match &self.proxy {
            Some(p) => p,
            None => panic!("this testnet was started without Options::proxied"),
        }
    }

    /// Sets `section.key = value` in node `i`'s config for its next (re)start (the key must be
    /// there already).
    pub fn set_config(&self, i: usize, key: &str, value: &str) -> Result<()> {
        set_config(&self.nodes[i].home.join("config.toml"), key, value)
    }

    /// Sets (`Some`) or removes (`None`) an environment variable of node `i` for its next
    /// (re)start.
    pub fn set_env(&mut self, i: usize, name: &str, value: Option<&str>) {
        let env = &mut self.nodes[i].env;
        env.retain(|(k, _)| k != name);
        if let Some(v) = value {
            env.push((name.to_owned(), v.to_owned()));
        }
    }

    /// Runs `paychain --json ARGS` against node `i` and parses its JSON output; a failure names
    /// the command and carries its one-line error.
    pub fn cli_json(&self, i: usize, args: &[&str]) -> Result<Value> {
        let out = self.cli(i, args)?;
        ensure!(
            out.status.success(),
            "paychain {} (node {i}) failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "paychain {}: output is not JSON: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// Polls `paychain --json ARGS` on node `i` until `accept` holds for its output (e.g. a
    /// record a commit elsewhere should have produced), failing with the last output at `timeout`.
    pub fn cli_json_until(
        &self,
        i: usize,
        args: &[&str],
        timeout: Duration,
        accept: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = self.cli_json(i, args);
            match &last {
                Ok(v) if accept(v) => return last,
                _ if Instant::now() >= deadline => bail!(
                    "paychain {} at node {i}: never as expected; last: {last:?}",
                    args.join(" ")
                ),
                _ => thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// Qualifies genesis platform `platform-<host>` as a wallet host: platform-0 proposes through
    /// node 0, platform-1 and platform-2 approve through nodes 1 and 2 (3 of 4 governors), and
    /// the proposal is executed.
    pub fn qualify_wallet_host(&self, host: usize) -> Result<()> {
        let key = |i: usize| self.platform_key_path(i).to_string_lossy().into_owned();
        let platform = format!("platform-{host}");
        let prop = self.cli_json(
            0,
            &[
                "gov",
                "propose",
                "--key",
                &key(0),
                "--qualify-wallet-host",
                &platform,
            ],
        )?;
        let id = prop["proposal_id"]
            .as_u64()
            .context("proposal id")?
            .to_string();
        // More than 2/3 of the governors: 3 of 4, or the only one of a 1-node network.
        for i in (1..3).filter(|i| *i < self.nodes.len()) {
            self.cli_json(
                i,
                &[
                    "gov",
                    "vote",
                    "--key",
                    &key(i),
                    "--proposal",
                    &id,
                    "--approve",
                ],
            )?;
        }
        self.cli_json_until(0, &["gov", "show", &id], Duration::from_secs(40), |v| {
            v["status"].get("executed").is_some()
        })?;
        Ok(())
    }

    /// Onboards `users` as platform `host`'s verified users (`VerifyUser`, signed by its member key,
    /// submitted through node `host` in one `paychain_submitTxs`), so the chain knows their keys and
    /// admits their transactions; waits until every one is committed. The host must be a qualified
    /// wallet host ([`Testnet::qualify_wallet_host`]).
    pub fn onboard_users(&self, host: usize, users: &[PublicKey]) -> Result<()> {
        let rpc = self.rpc(host);
        let chain = rpc.status()?["chain_id"]
            .as_str()
            .context("chain id")?
            .to_owned();
        let key = self.platform_key(host)?;
        let first = rpc.nonce(&key.public_key())?;
        let mut hashes = Vec::with_capacity(users.len());
        for chunk in users.chunks(64) {
            let start = first + hashes.len() as u64;
            let batch: Vec<String> = chunk
                .iter()
                .enumerate()
                .map(|(k, user)| {
                    let call = paychain_contracts::tx::Call::Wallet(
                        paychain_contracts::wallet::Call::VerifyUser {
                            user: *user,
                            name_hash: Hash::digest(&[b"n".as_slice(), &user.0].concat()),
                            id_hash: Hash::digest(&[b"i".as_slice(), &user.0].concat()),
                            phone_hash: Hash::digest(&[b"p".as_slice(), &user.0].concat()),
                        },
                    );
                    hex::encode(txs::signed_call(&key, &chain, start + k as u64, call).to_bytes())
                })
                .collect();
            let answers = rpc.call(paychain_api::method::SUBMIT_TXS, serde_json::json!([batch]))?;
            for a in answers.as_array().context("one answer per tx")? {
                let hash = a["tx_hash"]
                    .as_str()
                    .with_context(|| format!("onboarding refused: {a}"))?;
                hashes.push(hash.to_owned());
            }
        }
        for h in &hashes {
            let r = rpc.wait_committed(h, Duration::from_secs(60))?;
            ensure!(r["code"] == 0, "onboarding failed: {r}");
        }
        Ok(())
    }

    /// Signs `calls` with `key` (consecutive nonces from node `via`'s committed state), submits them
    /// through node `via` in one `paychain_submitTxs`, waits until each is committed and succeeded;
    /// returns the receipts.
    pub fn submit_calls(
        &self,
        via: usize,
        key: &SecretKey,
        calls: Vec<paychain_contracts::tx::Call>,
    ) -> Result<Vec<Value>> {
        let rpc = self.rpc(via);
        let chain = rpc.status()?["chain_id"]
            .as_str()
            .context("chain id")?
            .to_owned();
        let first = rpc.nonce(&key.public_key())?;
        let batch: Vec<String> = calls
            .into_iter()
            .enumerate()
            .map(|(k, call)| {
                hex::encode(txs::signed_call(key, &chain, first + k as u64, call).to_bytes())
            })
            .collect();
        let answers = rpc.call(method::SUBMIT_TXS, json!([batch]))?;
        let mut hashes = Vec::new();
        for a in answers.as_array().context("one answer per tx")? {
            let hash = a["tx_hash"]
                .as_str()
                .with_context(|| format!("refused at the door: {a}"))?;
            hashes.push(hash.to_owned());
        }
        let mut receipts = Vec::with_capacity(hashes.len());
        for h in &hashes {
            let r = rpc.wait_committed(h, Duration::from_secs(60))?;
            ensure!(r["code"] == 0, "tx {h} failed: {r}");
            receipts.push(r);
        }
        Ok(receipts)
    }

    /// The number of genesis platforms (`platforms/platform-<i>.json`).
    pub fn platforms(&self) -> usize {
        (0..)
            .take_while(|i| self.platform_key_path(*i).exists())
            .count()
    }

    /// The genesis platform whose key file is `path`, if any.
    pub fn platform_of_key_file(&self, path: &str) -> Option<usize> {
        (0..self.platforms()).find(|i| self.platform_key_path(*i) == Path::new(path))
    }

    /// Governance approves the harness CA ([`test_ca_cert`]) of every genesis platform, once per
    /// network: platform-0 proposes them all through node 0, platform-1 and platform-2 approve
    /// through nodes 1 and 2 (3 of 4 governors, 2 of 2, or the only one). Later calls return at once.
    pub fn approve_cas(&self) -> Result<()> {
        let mut done = self.cas_approved.lock().unwrap_or_else(|e| e.into_inner());
        if *done {
            return Ok(());
        }
        let n = self.platforms();
        let proposals = (0..n)
            .map(|i| {
                Ok(paychain_contracts::tx::Call::Governance(
                    paychain_contracts::governance::Call::Propose {
                        action: paychain_contracts::governance::Action::ApprovePlatformCa {
                            platform: paychain_contracts::ids::PlatformId::new(format!(
                                "platform-{i}"
                            ))
                            .map_err(|e| anyhow!("{e}"))?,
                            ca_cert: paychain_contracts::ca::CertDer::new(test_ca_cert(i)?)?,
                        },
                    },
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let receipts = self.submit_calls(0, &self.platform_key(0)?, proposals)?;
        let ids = receipts
            .iter()
            .map(|r| {
                event_attribute(r, "proposal_created", "proposal_id")
                    .and_then(|id| id.parse::<u64>().ok())
                    .with_context(|| format!("no proposal id in {r}"))
            })
            .collect::<Result<Vec<u64>>>()?;
        for v in (1..3).filter(|v| *v < n) {
            let votes = ids
                .iter()
                .map(|id| {
                    paychain_contracts::tx::Call::Governance(
                        paychain_contracts::governance::Call::Vote {
                            proposal: *id,
                            approve: true,
                        },
                    )
                })
                .collect();
            let via = v.min(self.nodes.len() - 1);
            self.submit_calls(via, &self.platform_key(v)?, votes)?;
        }
        let rpc = self.rpc(0);
        for i in 0..n {
            let deadline = Instant::now() + Duration::from_secs(40);
            loop {
                let ca = rpc.try_call(
                    paychain_api::ca::method::PLATFORM_CA,
                    json!([format!("platform-{i}")]),
                )?;
                match ca {
                    Ok(v) if v["pem"].is_string() => break,
                    _ if Instant::now() >= deadline => {
                        bail!("the CA of platform-{i} was never approved: {ca:?}")
                    }
                    _ => thread::sleep(Duration::from_millis(100)),
                }
            }
        }
        *done = true;
        Ok(())
    }

    /// Genesis platform `platform-<i>` certifies `parties` (each key in its role) with its harness CA
    /// (approving the CAs first, [`Testnet::approve_cas`]): issues [`test_party_cert`], has the
    /// party sign its consent, and registers every certificate through node `i` (node 0 for a
    /// platform without a node of its own) in one batch; waits until each is committed.
    pub fn certify(
        &self,
        i: usize,
        parties: &[(&SecretKey, paychain_contracts::ca::PartyRole)],
    ) -> Result<()> {
        self.approve_cas()?;
        let chain = self.rpc(0).status()?["chain_id"]
            .as_str()
            .context("chain id")?
            .to_owned();
        let calls = parties
            .iter()
            .map(|(party, role)| {
                let der = test_party_cert(i, party, *role)?;
                let party_signature =
                    paychain_contracts::ca::sign_registration(party, &ChainId::new(&chain), &der);
                Ok(paychain_contracts::tx::Call::Ca(
                    paychain_contracts::ca::Call::RegisterPartyCert {
                        cert: paychain_contracts::ca::CertDer::new(der)?,
                        party_signature,
                    },
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let via = if i < self.nodes.len() { i } else { 0 };
        self.submit_calls(via, &self.platform_key(i)?, calls)?;
        Ok(())
    }

    /// [`Testnet::certify`] of one party by key files: the platform's (a genesis platform's) and the
    /// party's.
    pub fn certify_file(
        &self,
        platform_key_file: &str,
        party_key_file: &str,
        role: paychain_contracts::ca::PartyRole,
    ) -> Result<()> {
        let i = self
            .platform_of_key_file(platform_key_file)
            .with_context(|| format!("{platform_key_file} is no genesis platform's key file"))?;
        let party = load_key(Path::new(party_key_file))?;
        self.certify(i, &[(&party, role)])
    }

    /// Sets `key = value` (a TOML value) in the `[enclave]` section of node `i`'s config, for its
    /// next (re)start.
    pub fn set_enclave_config(&self, i: usize, key: &str, value: &str) -> Result<()> {
        let path = self.nodes[i].home.join("config.toml");
        let config = fs::read_to_string(&path)?;
        let mut out = String::new();
        let (mut in_enclave, mut done) = (false, false);
        for line in config.lines() {
            let trimmed = line.trim();
            if trimmed.starts_with('[') {
                if in_enclave && !done {
                    out.push_str(&format!("{key} = {value}\n"));
                    done = true;
                }
                in_enclave = trimmed == "[enclave]";
            } else if in_enclave && trimmed.split('=').next().map(str::trim) == Some(key) {
                continue;
            }
            out.push_str(line);
            out.push('\n');
        }
        if !done {
            if !in_enclave {
                out.push_str("\n[enclave]\n");
            }
            out.push_str(&format!("{key} = {value}\n"));
        }
        fs::write(&path, out)?;
        Ok(())
    }

    /// Starts one more node (a full node: its key is not in the validator set), set up the way
    /// an operator joining the consortium would: `paychain-node init`, the consortium's genesis,
    /// the peers in its config, and its machine certified by the vendor. Without a platform key its
    /// enclave stays unregistered ([`Testnet::add_platform_node`] gives it one). Returns its index.
    pub fn add_full_node(&mut self) -> Result<usize> {
        self.add_node(None, None)
    }

    /// Starts one more node that runs validator `of`'s key (a double-signing operator: the same
    /// key on two hosts, both voting and proposing for it), set up as [`Testnet::add_full_node`]
    /// does otherwise. Returns its index.
    /// `env` is the twin's environment (e.g. the test-only switch that gives it a libp2p identity
    /// of its own), `config` values set in its config before it starts (`section.key`, value).
    pub fn add_twin(
        &mut self,
        of: usize,
        env: &[(&str, &str)],
        config: &[(&str, &str)],
    ) -> Result<usize> {
        let key = self.nodes[of].home.join("keys").join("validator.json");
        self.pending_env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.pending_config = config
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.add_node(None, Some(&key))
    }

    /// [`Testnet::add_full_node`] run by a platform: the platform's member key file `platform_key`
    /// goes into the node's home (`[enclave] platform_key`), so that the node registers its enclave
    /// for that platform.
    pub fn add_platform_node(&mut self, platform_key: &Path) -> Result<usize> {
        self.add_node(Some(platform_key), None)
    }

    fn add_node(
        &mut self,
        platform_key: Option<&Path>,
        validator_key: Option<&Path>,
    ) -> Result<usize> {
        let i = self.nodes.len();
        let home = self.dir.path().join(format!("node{i}"));
        let base = self.base_port + 10 * i as u16;
        let out = Command::new(existing_bin("paychain-node")?)
            .args([
                "init",
                "--moniker",
                &format!("node{i}"),
                "--base-port",
                &base.to_string(),
                "--home",
            ])
            .arg(&home)
            .output()
            .context("run paychain-node init")?;
        ensure!(
            out.status.success(),
            "paychain-node init failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        fs::copy(
            self.dir.path().join("genesis.json"),
            home.join("genesis.json"),
        )?;
        self.certify_device(&home)?;
        let peers = |offset: u16| {
            (0..i)
                .map(|j| {
                    format!(
                        "\"/ip4/127.0.0.1/tcp/{}\"",
                        self.base_port + 10 * j as u16 + offset
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let config = fs::read_to_string(home.join("config.toml"))?
            .replace(
                "persistent_peers = []",
                &format!("persistent_peers = [{}]", peers(1)),
            )
            .replacen("\npeers = []", &format!("\npeers = [{}]", peers(2)), 1);
        fs::write(home.join("config.toml"), config)?;
        for (key, value) in std::mem::take(&mut self.pending_config) {
            set_config(&home.join("config.toml"), &key, &value)?;
        }
        if let Some(key) = platform_key {
            fs::copy(key, home.join("keys").join("platform.json"))?;
        }
        if let Some(key) = validator_key {
            fs::copy(key, home.join("keys").join("validator.json"))?;
        }
        let node = Node {
            home,
            rpc_port: base,
            env: std::mem::take(&mut self.pending_env),
            netns: None,
            child: None,
        };
        self.nodes.push(node);
        if platform_key.is_some() {
            self.set_enclave_config(i, "platform_key", "\"keys/platform.json\"")?;
        }
        let node = &mut self.nodes[i];
        node.spawn()?;
        wait_answers(node, i, START_TIMEOUT)?;
        Ok(i)
    }

    /// The simulated vendor's root key file (the vendor's store, outside every node home).
    pub fn vendor_root_path(&self) -> PathBuf {
        self.dir.path().join("vendor").join("root.json")
    }

    /// Plays the vendor for a new machine, the way an operator gets its hardware certified: the
    /// node prints its device key (`paychain-node device`), the vendor certifies it
    /// (`paychain-vendor certify`), the certificate goes into the machine's device store.
    pub fn certify_device(&self, home: &Path) -> Result<()> {
        let out = Command::new(existing_bin("paychain-node")?)
            .arg("device")
            .arg("--home")
            .arg(home)
            .output()
            .context("run paychain-node device")?;
        ensure!(
            out.status.success(),
            "paychain-node device failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        let device: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        let key = device["device_key"].as_str().context("device_key")?;
        let cert = device["certificate"].as_str().context("certificate")?;
        let out = Command::new(existing_bin("paychain-vendor")?)
            .arg("--dir")
            .arg(self.dir.path().join("vendor"))
            .args(["certify", "--device-key", key, "--out", cert])
            .output()
            .context("run paychain-vendor certify")?;
        ensure!(
            out.status.success(),
            "paychain-vendor certify failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(())
    }

    /// Number of validators.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: a testnet has at least one validator.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// RPC client of node `i`.
    pub fn rpc(&self, i: usize) -> Rpc {
        Rpc::new(self.nodes[i].rpc_port)
    }

    /// Key file of genesis platform `platform-<i>`.
    pub fn platform_key_path(&self, i: usize) -> PathBuf {
        self.dir
            .path()
            .join("platforms")
            .join(format!("platform-{i}.json"))
    }

    /// Seals a record's plaintext to the platform's epoch-0 record key (from genesis), as a
    /// platform's client does before `PutRecord` until the first rotation.
    pub fn seal(
        &self,
        merchant: &paychain_contracts::ids::MerchantId,
        platform: &str,
        version: u64,
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        let text = std::fs::read_to_string(self.dir.path().join("genesis.json"))?;
        let genesis: paychain_contracts::genesis::Genesis = serde_json::from_str(&text)?;
        let enclave = genesis.enclave.context("genesis has no enclave")?;
        let platform = paychain_contracts::ids::PlatformId::new(platform)?;
        let key = match enclave
            .platform_keys
            .iter()
            .find(|k| k.platform_id == platform)
        {
            Some(k) => k.clone(),
            // A platform admitted after genesis: the key a serving enclave published (tests
            // that check the client's own vetting of it go through the CLI).
            None => {
                let status = self
                    .rpc(0)
                    .call("paychain_enclave", serde_json::json!([]))?;
                let entry = status["platform_keys"]
                    .as_array()
                    .and_then(|keys| {
                        keys.iter()
                            .find(|k| k["key"]["platform_id"] == platform.as_str())
                    })
                    .with_context(|| format!("no record key of {platform} published yet"))?;
                serde_json::from_value(entry["key"].clone())?
            }
        };
        let record = paychain_contracts::enclave::seal_record(
            plaintext,
            &paychain_contracts::enclave::RecordKey {
                epoch: key.epoch,
                public: key.public,
            },
            merchant,
            &platform,
            version,
            // Test-only: randomness derived from the plaintext (clients use the OS's).
            &paychain_contracts::enclave::BoxRandomness::new(
                paychain_contracts::crypto::Hash::digest(plaintext).0,
                [7; 12],
            ),
        )?;
        Ok(record.to_bytes())
    }

    /// Signing key of genesis platform `platform-<i>`.
    pub fn platform_key(&self, i: usize) -> Result<SecretKey> {
        load_key(&self.platform_key_path(i))
    }

    /// Kills node `i` with SIGKILL (no chance to flush or clean up).
    pub fn kill_9(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    /// Stops node `i` with SIGSTOP: the process holds its sockets and state but does nothing (a long
    /// GC pause, a VM migration), until [`Testnet::resume`].
    pub fn pause(&mut self, i: usize) -> Result<()> {
        self.nodes[i].signal("STOP")
    }

    /// Continues node `i` after [`Testnet::pause`] (SIGCONT).
    pub fn resume(&mut self, i: usize) -> Result<()> {
        self.nodes[i].signal("CONT")
    }

    /// Starts node `i` again on its existing home without waiting for it (a start expected to
    /// fail: see [`Node::wait_exit`]).
    pub fn spawn(&mut self, i: usize) -> Result<()> {
        self.nodes[i].kill();
        self.nodes[i].spawn()
    }

    /// Starts node `i` again on its existing home and waits until it answers.
    pub fn restart(&mut self, i: usize) -> Result<()> {
        self.nodes[i].kill();
        self.nodes[i].spawn()?;
        wait_answers(&mut self.nodes[i], i, START_TIMEOUT)
    }

    /// Height of node `i` now.
    pub fn height(&self, i: usize) -> Result<u64> {
        self.rpc(i).height()
    }

    /// App hash of node `i` now (from status; pair it with the height for comparisons: see
    /// [`Testnet::app_hash_after`]).
    pub fn app_hash(&self, i: usize) -> Result<String> {
        let s = self.rpc(i).status()?;
        Ok(s["app_hash"].as_str().unwrap_or_default().to_owned())
    }

    /// The app hash of node `i` after executing block `h`, read from block `h + 1`'s header (so every node
    /// is compared at the same height). Waits until node `i` has block `h + 1`.
    pub fn app_hash_after(&mut self, i: usize, h: u64, timeout: Duration) -> Result<String> {
        self.wait_height(i, h + 1, timeout)?;
        let block = self
            .rpc(i)
            .block(h + 1)?
            .ok_or_else(|| anyhow!("node {i} reports height ≥ {} but has no such block", h + 1))?;
        header_app_hash(&block)
            .ok_or_else(|| anyhow!("block {} has no prev_app_hash: {block}", h + 1))
    }

    /// Hash of block `h` at node `i` (None if it does not have it).
    pub fn block_hash(&self, i: usize, h: u64) -> Result<Option<String>> {
        Ok(self
            .rpc(i)
            .block(h)?
            .and_then(|b| b["hash"].as_str().map(str::to_owned)))
    }

    /// Polls node `i` until its height is ≥ `h`; fails when `timeout` passes or the process exits.
    pub fn wait_height(&mut self, i: usize, h: u64, timeout: Duration) -> Result<u64> {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        loop {
            if !self.nodes[i].is_running() {
                bail!(
                    "node {i} is not running (waiting for height {h}); log tail:\n{}",
                    tail(&self.nodes[i].log_path(), 30)
                );
            }
            match self.rpc(i).height() {
                Ok(height) if height >= h => return Ok(height),
                Ok(height) => last = Some(height),
                Err(_) => {}
            }
            if Instant::now() >= deadline {
                bail!("node {i} did not reach height {h} within {timeout:?} (last seen {last:?})");
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until every running node in `which` reaches height `h`.
    pub fn wait_all(&mut self, which: &[usize], h: u64, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        for &i in which {
            let left = deadline.saturating_duration_since(Instant::now());
            self.wait_height(i, h, left.max(Duration::from_millis(1)))?;
        }
        Ok(())
    }

    /// Prints the last lines of every node's log to stderr.
    pub fn print_logs(&self, lines: usize) {
        for (i, node) in self.nodes.iter().enumerate() {
            eprintln!(
                "──── node {i} ({}) last {lines} lines ────\n{}",
                node.log_path().display(),
                tail(&node.log_path(), lines)
            );
        }
    }

    /// Runs the `paychain` CLI against node `i` with `--json`; returns the process output.
    /// The CLI pins this network's genesis (`PAYCHAIN_GENESIS`), as a platform's or payer's
    /// installation does.
    pub fn cli(&self, i: usize, args: &[&str]) -> Result<Output> {
        self.cli_command(i, args)?
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("run paychain {}", args.join(" ")))
    }

    /// This network's genesis file.
    pub fn genesis_path(&self) -> PathBuf {
        self.dir.path().join("genesis.json")
    }

    /// The exec key payment calls are sealed to, on a chain with private state (from genesis).
    pub fn exec_key(&self) -> Result<Option<paychain_contracts::enclave::KxPublicKey>> {
        let bytes = std::fs::read(self.genesis_path()).context("read genesis")?;
        let genesis: paychain_contracts::genesis::Genesis =
            serde_json::from_slice(&bytes).context("parse genesis")?;
        Ok(genesis.enclave.and_then(|e| e.exec_public))
    }

    /// A `paychain --rpc <node i> --json ARGS` command to spawn (for long-running commands such
    /// as `guardian watch`).
    pub fn cli_command(&self, i: usize, args: &[&str]) -> Result<Command> {
        let mut c = Command::new(existing_bin("paychain")?);
        c.args(["--rpc", &self.rpc(i).url(), "--json"])
            .args(args)
            .env("PAYCHAIN_GENESIS", self.genesis_path());
        Ok(c)
    }
}

impl Drop for Testnet {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        if thread::panicking() {
            self.print_logs(40);
        }
        if std::env::var_os("PAYCHAIN_IT_KEEP").is_some() {
            // Debugging aid: keep the homes and logs of this network.
            self.dir.disable_cleanup(true);
            eprintln!("kept {}", self.dir.path().display());
        }
    }
}

/// Runs `paychain --rpc URL --json ARGS...`.
pub fn cli(rpc_url: &str, args: &[&str]) -> Result<Output> {
    Command::new(existing_bin("paychain")?)
        .args(["--rpc", rpc_url, "--json"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("run paychain {}", args.join(" ")))
}

/// The `prev_app_hash` of a `paychain_block` answer's header.
pub fn header_app_hash(block: &Value) -> Option<String> {
    let header = &block["header"];
    ["prev_app_hash", "app_hash"]
        .iter()
        .find_map(|k| header[*k].as_str())
        .map(str::to_owned)
}

enum StartError {
    PortTaken(anyhow::Error),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for StartError {
    fn from(e: anyhow::Error) -> Self {
        StartError::Other(e)
    }
}

/// Sets `section.key = value` (TOML) in the config file at `path`; the key must be there already.
fn set_config(path: &Path, key: &str, value: &str) -> Result<()> {
    let (section, name) = key
        .split_once('.')
        .ok_or_else(|| anyhow!("config key {key:?} is not section.key"))?;
    let text = fs::read_to_string(path)?;
    let mut current = String::new();
    let mut found = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            let trimmed = line.trim();
            if trimmed.starts_with('[') {
                current = trimmed.trim_matches(|c| c == '[' || c == ']').to_owned();
            } else if current == section && trimmed.split('=').next().map(str::trim) == Some(name) {
                found = true;
                return format!("{name} = {value}");
            }
            line.to_owned()
        })
        .collect();
    ensure!(found, "{} has no {key}", path.display());
    fs::write(path, lines.join("\n") + "\n")?;
    Ok(())
}

/// Puts a proxy link in front of every peer address of every node's config (consensus p2p at
/// `+1`, gossip at `+2`): node i dials node j only through link (i → j).
fn route_through_proxy(nodes: &[Node], base: u16) -> Result<proxy::Proxy> {
    let mut proxy = proxy::Proxy::new()?;
    for (i, node) in nodes.iter().enumerate() {
        let path = node.home.join("config.toml");
        let mut config = fs::read_to_string(&path)?;
        for j in (0..nodes.len()).filter(|j| *j != i) {
            for (kind, offset) in [(proxy::Kind::P2p, 1), (proxy::Kind::Gossip, 2)] {
                let real = base + 10 * j as u16 + offset;
                let via = proxy.add_link(i, j, kind, real)?;
                let from = format!("\"/ip4/127.0.0.1/tcp/{real}\"");
                ensure!(
                    config.matches(&from).count() == 1,
                    "node {i}'s config does not list {from} exactly once"
                );
                config = config.replace(&from, &format!("\"/ip4/127.0.0.1/tcp/{via}\""));
            }
        }
        fs::write(&path, config)?;
    }
    Ok(proxy)
}

fn wait_answers(node: &mut Node, i: usize, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if !node.is_running() {
            bail!(
                "node {i} exited during startup; log tail:\n{}",
                tail(&node.log_path(), 30)
            );
        }
        if Rpc::new(node.rpc_port).status().is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "node {i} did not answer paychain_status within {timeout:?}; log tail:\n{}",
                tail(&node.log_path(), 30)
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// A base port P such that P + 10*i + {0, 1, 2} are free for i < n. Candidates lie below Linux's ephemeral
/// range (32768+) so that outgoing connections do not grab them between this check and the nodes' bind.
fn free_base_port(n: usize, attempt: u32) -> Result<u16> {
    const LOW: u32 = 20_000;
    const HIGH: u32 = 32_000;
    let span = 10 * n as u32 + 3;
    // Seed from an OS-assigned port, the pid and the attempt, so parallel test binaries spread out.
    let seed = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port() as u32;
    let mut x = seed
        .wrapping_mul(2_654_435_761)
        .wrapping_add(std::process::id().wrapping_mul(40_503))
        .wrapping_add(attempt.wrapping_mul(7_919));
    for _ in 0..200 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let base = LOW + (x >> 8) % (HIGH - LOW - span);
        let all_free = (0..n as u32).all(|i| {
            (0..3).all(|k| TcpListener::bind(("127.0.0.1", (base + 10 * i + k) as u16)).is_ok())
        });
        if all_free {
            return Ok(base as u16);
        }
    }
    bail!("no free port range of {span} ports found")
}

/// The value of attribute `key` of the first event `kind` in a receipt's JSON.
pub fn event_attribute(receipt: &Value, kind: &str, key: &str) -> Option<String> {
    let event = receipt["events"]
        .as_array()?
        .iter()
        .find(|e| e["kind"] == kind)?;
    event["attributes"].as_array()?.iter().find_map(|a| {
        let pair = a.as_array()?;
        (pair.first()?.as_str()? == key).then(|| pair.get(1)?.as_str().map(str::to_owned))?
    })
}

/// Building and signing transactions.
pub mod txs {
    use paychain_contracts::crypto::{PublicKey, SecretKey};
    use paychain_contracts::ids::{ChainId, MerchantId};
    use paychain_contracts::registry;
    use paychain_contracts::tx::{Call, SignedTx, Transaction};

    /// Signs `call` from `key` with `nonce` on `chain_id`.
    pub fn signed(key: &SecretKey, chain_id: &str, nonce: u64, call: registry::Call) -> SignedTx {
        signed_call(key, chain_id, nonce, Call::Registry(call))
    }

    /// Signs any `call` from `key` with `nonce` on `chain_id`.
    pub fn signed_call(key: &SecretKey, chain_id: &str, nonce: u64, call: Call) -> SignedTx {
        SignedTx::sign(
            Transaction {
                chain_id: ChainId::new(chain_id),
                sender: key.public_key(),
                nonce,
                call,
            },
            key,
        )
    }

    /// A merchant key from a test seed.
    pub fn merchant_key(seed: u8) -> PublicKey {
        SecretKey::from_seed([seed; 32]).public_key()
    }

    /// Registration of the merchant with key `key`, named `name`, in Shanghai, MCC 5812, CN.
    pub fn register(key: &PublicKey, name: &str) -> registry::Call {
        registry::Call::RegisterMerchant {
            name: name.to_owned(),
            city: "Shanghai".to_owned(),
            mcc: "5812".to_owned(),
            country: "CN".to_owned(),
            merchant_key: *key,
        }
    }

    /// Put of the sender platform's record for `merchant`.
    pub fn put(merchant: &MerchantId, payload: &[u8]) -> registry::Call {
        registry::Call::PutRecord {
            merchant_id: merchant.clone(),
            payload: payload.to_vec(),
        }
    }

    /// Revocation of the sender platform's record for `merchant`.
    pub fn revoke(merchant: &MerchantId) -> registry::Call {
        registry::Call::RevokeRecord {
            merchant_id: merchant.clone(),
        }
    }

    /// The merchant's acceptance of `platform` as its acquirer (signed by the merchant's key).
    pub fn accept(platform: &str) -> registry::Call {
        registry::Call::AcceptAcquirer {
            platform_id: paychain_contracts::ids::PlatformId::new(platform).expect("platform id"),
        }
    }

    /// The merchant key of test seed `seed`, as a secret key (to sign the merchant's own calls).
    pub fn merchant_secret(seed: u8) -> SecretKey {
        SecretKey::from_seed([seed; 32])
    }
}

/// A valid acquiring record (`paychain_client::acquiring`'s schema) with acquiring institution
/// `institution` (4 to 11 digits) and the acquirer's merchant id `mid`, for CNY, JPY, USD and EUR,
/// valid from 2020 with no end.
pub fn acquiring_record(institution: &str, mid: &str) -> String {
    serde_json::json!({
        "schema": "paychain/acquiring-record/v1",
        "acquirer_institution_id": institution,
        "acquirer_merchant_id": mid,
        "terminal_id": "T0000001",
        "settlement_account": format!("SETTLE-{mid}"),
        "currencies": ["CNY", "JPY", "USD", "EUR"],
        "mcc": "5812",
        "valid_from": 1_577_836_800u64,
    })
    .to_string()
}

/// Searching files and answers for bytes that must not be there (plaintext markers).
pub mod leaks {
    use std::fs;
    use std::path::{Path, PathBuf};

    use anyhow::{Context, Result};

    /// Occurrences of `needle` in `haystack` (overlapping ones counted; 0 for an empty needle).
    pub fn count(haystack: &[u8], needle: &[u8]) -> usize {
        if needle.is_empty() || haystack.len() < needle.len() {
            return 0;
        }
        haystack
            .windows(needle.len())
            .filter(|w| *w == needle)
            .count()
    }

    /// A file that holds a needle.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Hit {
        /// The file.
        pub path: PathBuf,
        /// Index of the needle in the list searched for.
        pub needle: usize,
        /// How often it occurs.
        pub count: usize,
    }

    /// What a tree search saw.
    #[derive(Debug, Clone, Default)]
    pub struct Scan {
        /// Regular files read.
        pub files: usize,
        /// Bytes read.
        pub bytes: u64,
        /// Files holding a needle.
        pub hits: Vec<Hit>,
    }

    impl Scan {
        /// Total occurrences of needle `i`.
        pub fn total(&self, i: usize) -> usize {
            self.hits
                .iter()
                .filter(|h| h.needle == i)
                .map(|h| h.count)
                .sum()
        }
    }

    /// Reads every regular file under `root` (symlinks are not followed; a file that vanished while
    /// scanning, e.g. a RocksDB file compacted away, is skipped) and counts each needle.
    pub fn scan_tree(root: &Path, needles: &[&[u8]]) -> Result<Scan> {
        let mut scan = Scan::default();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let entries =
                fs::read_dir(&dir).with_context(|| format!("read dir {}", dir.display()))?;
            for entry in entries {
                let entry = entry?;
                let kind = entry.file_type()?;
                let path = entry.path();
                if kind.is_dir() {
                    stack.push(path);
                } else if kind.is_file() {
                    let bytes = match fs::read(&path) {
                        Ok(b) => b,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => {
                            return Err(e).with_context(|| format!("read {}", path.display()))
                        }
                    };
                    scan.files += 1;
                    scan.bytes += bytes.len() as u64;
                    for (i, needle) in needles.iter().enumerate() {
                        let n = count(&bytes, needle);
                        if n > 0 {
                            scan.hits.push(Hit {
                                path: path.clone(),
                                needle: i,
                                count: n,
                            });
                        }
                    }
                }
            }
        }
        Ok(scan)
    }
}
