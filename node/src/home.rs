//! The layout of a node's home directory.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use paychain_contracts::genesis::Genesis;

/// Paths inside a node home directory.
pub struct Home(pub PathBuf);

impl Home {
    pub fn config(&self) -> PathBuf {
        self.0.join("config.toml")
    }
    pub fn genesis(&self) -> PathBuf {
        self.0.join("genesis.json")
    }
    pub fn validator_key(&self) -> PathBuf {
        self.0.join("keys").join("validator.json")
    }
    pub fn data(&self) -> PathBuf {
        self.0.join("data")
    }
    pub fn wal(&self) -> PathBuf {
        self.0.join("wal").join("consensus.wal")
    }
}

/// Reads a genesis file.
pub fn load_genesis(path: &Path) -> anyhow::Result<Genesis> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read genesis {}", path.display()))?;
    let genesis: Genesis = serde_json::from_str(&text)
        .with_context(|| format!("invalid genesis {}", path.display()))?;
    genesis
        .validate()
        .map_err(|e| anyhow::anyhow!("invalid genesis {}: {e}", path.display()))?;
    Ok(genesis)
}
