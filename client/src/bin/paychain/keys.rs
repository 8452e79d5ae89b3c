//! `paychain keys new | show`: key files.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use paychain_client::keystore::{self, KeyFile, Overwrite};
use serde_json::json;

use crate::output::{Failure, Output};

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCmd {
    /// Generate a key and write it to a new file (mode 0600).
    New {
        /// File to create.
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: PathBuf,
        /// Overwrite the file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Print a key file's public key (never the secret).
    Show {
        /// Key file.
        file: PathBuf,
    },
}

pub(crate) fn run(cmd: KeysCmd) -> Result<Output, Failure> {
    match cmd {
        KeysCmd::New { out, force } => {
            let key = KeyFile::generate();
            let mode = if force {
                Overwrite::Force
            } else {
                Overwrite::Refuse
            };
            key.write(&out, mode)?;
            Ok(key_output(&key, &out, true))
        }
        KeysCmd::Show { file } => {
            let key = keystore::load(&file)?;
            Ok(key_output(&key, &file, false))
        }
    }
}

fn key_output(key: &KeyFile, path: &Path, wrote: bool) -> Output {
    let human = if wrote {
        format!(
            "wrote {}\npublic key {}\n",
            path.display(),
            key.public_key()
        )
    } else {
        format!("{}\n", key.public_key())
    };
    Output::new(
        human,
        json!({ "path": path, "public_key": key.public_key() }),
    )
}
