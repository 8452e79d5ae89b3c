//! `paychain-node`: run a validator, generate a local network, or run a dev chain.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use paychain_node::config::Config;
use paychain_node::node::{self, Home};
use paychain_node::storage::Storage;
use paychain_node::testnet;
use tracing_subscriber::EnvFilter;

mod dev;

#[derive(Parser)]
#[command(name = "paychain-node", version, about = "paychain validator node")]
struct Cli {
    /// Run a one-validator development chain with demo data under --home.
    #[arg(long)]
    dev: bool,
    /// Home directory (with --dev).
    #[arg(long, default_value = "./paychain-dev")]
    home: PathBuf,
    /// RPC port (with --dev); consensus and gossip use the next two ports.
    #[arg(long, default_value_t = 26657)]
    rpc_port: u16,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Start a node from its home directory.
    Start {
        #[arg(long)]
        home: PathBuf,
    },
    /// Create keys and a default config for an operator's node (genesis comes separately).
    Init {
        #[arg(long)]
        home: PathBuf,
        #[arg(long, default_value = "node")]
        moniker: String,
        #[arg(long, default_value_t = 26657)]
        base_port: u16,
    },
    /// Print this machine's device attestation key (for the vendor to certify with
    /// `paychain-vendor certify`) and whether the device store holds its certificate (JSON).
    Device {
        #[arg(long)]
        home: PathBuf,
    },
    /// Print the node's libp2p peer id (derived from its validator key), for the other nodes'
    /// `[gossip] allowed_peers`.
    PeerId {
        #[arg(long)]
        home: PathBuf,
    },
    /// Print the equivocation evidence a stopped node has stored (JSON lines: two conflicting
    /// signed messages of one validator for one height, round and step, oldest first).
    Evidence {
        #[arg(long)]
        home: PathBuf,
        /// Also check each pair's two signatures against its validator's key on the chain of the
        /// home's genesis (`"verified": true`, with `"member": true` when the key is in the
        /// genesis validator set); exit non-zero if any pair does not check.
        #[arg(long)]
        verify: bool,
    },
    /// Check equivocation evidence offline, as anyone given it can: reads JSON lines as
    /// `paychain-node evidence` prints them from stdin (at most 4 KiB each), checks each pair's two
    /// signatures against its validator's key over chain `--chain-id`'s sign bytes, prints
    /// `ok` or the reason per line, exits non-zero if any line does not check. With `--genesis`,
    /// the chain id comes from that file and a pair also needs a key of its validator set (a key
    /// anyone made up signs "conflicting" messages at will: they prove nothing against the chain).
    VerifyEvidence {
        #[arg(long, required_unless_present = "genesis")]
        chain_id: Option<String>,
        /// The chain's genesis file: its chain id and validator set.
        #[arg(long)]
        genesis: Option<PathBuf>,
    },
    /// Compact a stopped node's database and print what it keeps on disk (JSON): per column
    /// family, in total and per transaction in the chain.
    Compact {
        #[arg(long)]
        home: PathBuf,
    },
    /// Write keys, genesis and configs for N validators on 127.0.0.1.
    Testnet {
        #[arg(long, default_value_t = 4)]
        validators: usize,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 26657)]
        base_port: u16,
        #[arg(long, default_value = "paychain-local")]
        chain_id: String,
        /// Genesis platform members (default: one per validator).
        #[arg(long)]
        platforms: Option<usize>,
        /// Payment state: `private` (the default: wallet, collection, store and guardian calls
        /// travel sealed to the enclaves, and only enclaves execute blocks and read that state) or
        /// `clear` (every validator executes and stores it in the clear).
        #[arg(long, value_enum, default_value_t = StateMode::Private)]
        state: StateMode,
    },
}

/// How a generated chain keeps its payment state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StateMode {
    /// Encrypted at rest, executed and read only inside the enclaves.
    Private,
    /// In the clear on every validator.
    Clear,
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

async fn start(home: Home) -> anyhow::Result<()> {
    let config = Config::load(&home.config())?;
    let running = node::start(&home, config).await?;
    running.wait(shutdown_signal()).await
}

fn compact(home: &Home) -> anyhow::Result<()> {
    let path = home.data();
    anyhow::ensure!(path.is_dir(), "no database at {}", path.display());
    let storage = Storage::open(&path).with_context(|| {
        format!(
            "opening {} (is the node still running? compact a stopped node)",
            path.display()
        )
    })?;
    let families = storage.compact().context("compacting the database")?;
    let txs = storage.indexed_txs()?;
    let height = storage.tip()?.map_or(0, |t| t.height);
    let total: u64 = families.iter().map(|f| f.sst_bytes).sum();
    let report = serde_json::json!({
        "height": height,
        "txs": txs,
        "sst_bytes": total,
        "bytes_per_tx": (txs > 0).then(|| total / txs),
        "column_families": families,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

fn evidence(home: &Home, verify: bool) -> anyhow::Result<()> {
    use paychain_node::host::evidence::{self, Equivocation};
    let genesis = if verify {
        Some(paychain_node::node::load_genesis(&home.genesis())?)
    } else {
        None
    };
    let path = home.data();
    anyhow::ensure!(path.is_dir(), "no database at {}", path.display());
    let storage = Storage::open(&path).with_context(|| {
        format!(
            "opening {} (is the node still running? read the evidence of a stopped node)",
            path.display()
        )
    })?;
    let mut refuted = 0usize;
    for bytes in storage.evidence(100_000)? {
        let e = Equivocation::decode(&bytes).map_err(|e| anyhow::anyhow!(e))?;
        let mut line = e.to_json();
        if let Some(g) = &genesis {
            match evidence::verify(&e, &g.chain_id) {
                Ok(()) => line["verified"] = serde_json::json!(true),
                Err(why) => {
                    refuted += 1;
                    line["verified"] = serde_json::json!(false);
                    line["why"] = serde_json::json!(why);
                }
            }
            line["member"] =
                serde_json::json!(g.validators.iter().any(|v| v.public_key.0 == e.validator));
        }
        println!("{line}");
    }
    anyhow::ensure!(refuted == 0, "{refuted} stored pair(s) do not verify");
    Ok(())
}

/// `verify-evidence`: JSON lines from stdin, one verdict per line.
fn verify_evidence(chain_id: Option<&str>, genesis: Option<&Path>) -> anyhow::Result<()> {
    use paychain_node::host::evidence::{self, Equivocation, MAX_JSON_LINE};
    use std::io::{BufRead, Read};
    let genesis = genesis.map(paychain_node::home::load_genesis).transpose()?;
    let chain_id = match (chain_id, &genesis) {
        (Some(id), Some(g)) if g.chain_id.0 != id => {
            anyhow::bail!(
                "--chain-id {id} is not the genesis file's chain ({})",
                g.chain_id
            )
        }
        (Some(id), _) => id.to_owned(),
        (None, Some(g)) => g.chain_id.0.clone(),
        (None, None) => anyhow::bail!("give --chain-id or --genesis"),
    };
    let chain = paychain_contracts::ids::ChainId::new(&chain_id);
    let validator = |e: &Equivocation| -> Result<(), String> {
        match &genesis {
            Some(g) if !g.validators.iter().any(|v| v.public_key.0 == e.validator) => Err(format!(
                "{} is not a key of the genesis validator set",
                hex::encode(e.validator)
            )),
            _ => Ok(()),
        }
    };
    let (mut checked, mut refuted) = (0usize, 0usize);
    let mut stdin = std::io::stdin().lock();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        // Reads at most one byte past the bound, so a huge line is refused without holding it.
        let n = (&mut stdin)
            .take(MAX_JSON_LINE as u64 + 1)
            .read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        let too_long = buf.len() > MAX_JSON_LINE && buf.last() != Some(&b'\n');
        if too_long {
            // Skip the rest of that line.
            let mut sink = Vec::new();
            loop {
                sink.clear();
                let m = (&mut stdin).take(64 * 1024).read_until(b'\n', &mut sink)?;
                if m == 0 || sink.last() == Some(&b'\n') {
                    break;
                }
            }
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        checked += 1;
        let verdict = if too_long {
            Err(format!("line longer than {MAX_JSON_LINE} bytes"))
        } else {
            Equivocation::from_json(line)
                .and_then(|e| evidence::verify(&e, &chain).and_then(|()| validator(&e)))
        };
        match verdict {
            Ok(()) => println!("ok"),
            Err(why) => {
                refuted += 1;
                println!("refuted: {why}");
            }
        }
    }
    anyhow::ensure!(checked > 0, "no evidence on stdin");
    anyhow::ensure!(
        refuted == 0,
        "{refuted} of {checked} pair(s) do not prove double signing on chain {chain_id}"
    );
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Start { home }) => start(Home(home)).await,
        Some(Command::Init {
            home,
            moniker,
            base_port,
        }) => {
            let home = Home(home);
            testnet::init(&home, &moniker, base_port)?;
            let config = Config::load(&home.config())?;
            let device = paychain_node::enclave::Device::of(&home, &config.enclave);
            println!(
                "initialised {} (put the consortium's genesis.json there, then `paychain-node start --home {}`)",
                home.0.display(),
                home.0.display()
            );
            println!(
                "device store {}: device key {} (have the vendor certify it: `paychain-vendor certify --device-key <key> --out {}`)",
                device.dir().display(),
                paychain_node::enclave::device_key(&config.enclave, &device, false)?,
                device.cert_path().display()
            );
            Ok(())
        }
        Some(Command::Testnet {
            validators,
            out,
            base_port,
            chain_id,
            platforms,
            state,
        }) => {
            let private_state = state == StateMode::Private;
            let genesis = testnet::generate(
                &out,
                validators,
                platforms.unwrap_or(validators),
                base_port,
                &chain_id,
                private_state,
            )?;
            for i in 0..validators {
                let (rpc, _, _) = testnet::ports(base_port, i)?;
                println!(
                    "node{i}: home {} rpc http://127.0.0.1:{rpc}",
                    out.join(format!("node{i}")).display()
                );
            }
            println!(
                "chain {} with {} validators and {} platforms written to {}",
                genesis.chain_id.0,
                validators,
                genesis.members.len(),
                out.display()
            );
            Ok(())
        }
        Some(Command::Compact { home }) => compact(&Home(home)),
        Some(Command::Device { home }) => {
            let home = Home(home);
            let config = Config::load(&home.config())?;
            let device = paychain_node::enclave::Device::of(&home, &config.enclave);
            let key = paychain_node::enclave::device_key(&config.enclave, &device, false)?;
            let cert = device.cert()?;
            let report = serde_json::json!({
                "device_key": key.to_string(),
                "device_dir": device.dir().display().to_string(),
                "certificate": device.cert_path().display().to_string(),
                "certified": cert.is_some_and(|c| c.device_key == key),
            });
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Some(Command::Evidence { home, verify }) => evidence(&Home(home), verify),
        Some(Command::VerifyEvidence { chain_id, genesis }) => {
            verify_evidence(chain_id.as_deref(), genesis.as_deref())
        }
        Some(Command::PeerId { home }) => {
            let key = paychain_node::keys::load(&Home(home).validator_key())?;
            println!(
                "{}",
                paychain_node::node::network_keypair(&key)?
                    .public()
                    .to_peer_id()
            );
            Ok(())
        }
        None if cli.dev => dev::run(cli.home, cli.rpc_port, shutdown_signal()).await,
        None => anyhow::bail!("nothing to do: pass --dev or a subcommand (see --help)"),
    }
}

fn main() {
    let cli = Cli::parse();
    // A lone dev validator has no peers: the engine would log every publish as an error.
    // The engine logs every vote at info; operators want paychain's own events by default.
    let default_filter = if cli.dev {
        "info,arc_malachitebft=warn,arc_malachitebft_network=off"
    } else {
        "info,arc_malachitebft=warn"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter)),
        )
        .with_writer(log_writer)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(run(cli));
    // Stop every task first, so that the reason the node stops is the last line an operator sees,
    // not followed by the engine's logging of messages still arriving.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    if let Err(e) = result.context("paychain-node") {
        // The engine's own threads (its WAL's) may still log as they wind down: from here on their
        // lines go nowhere. Taking stderr's lock waits out a line being written.
        LOG_CLOSED.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "error: {e:#}");
        std::process::exit(1);
    }
}

/// Set once the node stops on an error: log lines are dropped, so its reason stays the last line.
static LOG_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Where log lines go: stderr, or nowhere once [`LOG_CLOSED`].
fn log_writer() -> Box<dyn std::io::Write> {
    if LOG_CLOSED.load(std::sync::atomic::Ordering::SeqCst) {
        Box::new(std::io::sink())
    } else {
        Box::new(std::io::stderr())
    }
}
