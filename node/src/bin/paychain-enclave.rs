//! `paychain-enclave`: the enclave sidecar. It alone reads the machine's device store and the
//! sealed consortium secrets, and answers its node over a Unix socket (see
//! `paychain_node::sidecar`). The node starts it (`[enclave] spawn_sidecar`, on by default); an
//! operator may run it instead, e.g. as another OS user, and point `[enclave] sidecar_socket` at it.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "paychain-enclave", about = "paychain's enclave sidecar")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the node over a Unix socket.
    Serve {
        /// The socket (its directory is made 0700, the socket 0600).
        #[arg(long)]
        socket: PathBuf,
        /// The machine's device store (device secret, vendor certificate).
        #[arg(long)]
        device_dir: PathBuf,
        /// The sealed consortium secrets (`<home>/enclave/sealed.bin`).
        #[arg(long)]
        sealed: PathBuf,
        /// The chain's genesis (`<home>/genesis.json`): chain id and trusted validator set.
        #[arg(long)]
        genesis: PathBuf,
        /// Exit when standard input closes (how the node that starts the sidecar ends it).
        #[arg(long)]
        exit_with_stdin: bool,
        /// Most state values kept in enclave memory from one executed block for the next (about
        /// 400 bytes each), so the node need not send them again; 0 keeps none.
        #[arg(long, env = "PAYCHAIN_ENCLAVE_CARRIED_VALUES", default_value_t = paychain_node::sidecar::server::DEFAULT_CARRIED_VALUES)]
        carried_values: usize,
    },
    /// Print this machine's device attestation key (for the vendor to certify).
    Device {
        #[arg(long)]
        device_dir: PathBuf,
        /// Create the device secret first if the store has none.
        #[arg(long)]
        init: bool,
    },
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let result = match Cli::parse().command {
        Command::Serve {
            socket,
            device_dir,
            sealed,
            genesis,
            exit_with_stdin,
            carried_values,
        } => paychain_node::sidecar::server::run(
            &paychain_node::sidecar::server::Options {
                socket,
                device_dir,
                sealed,
                genesis,
                carried_values,
            },
            exit_with_stdin,
        ),
        Command::Device { device_dir, init } => {
            paychain_node::sidecar::server::device_key(&device_dir, init).map(|key| {
                println!("{key}");
            })
        }
    };
    if let Err(e) = result {
        eprintln!("error: paychain-enclave: {e:#}");
        std::process::exit(1);
    }
}
