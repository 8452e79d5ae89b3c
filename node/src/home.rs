//! The layout of a node's home directory.

use std::path::PathBuf;

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
