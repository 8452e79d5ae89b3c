//! Multi-node tests of paychain on real `paychain-node` processes and loopback sockets.
//!
//! Scenarios are named by fault model: `n4` = 4 validators all up, `n4f1` = one of them faulty (killed),
//! `n4f2` = two faulty (more than f = 1: the chain must halt, never fork). Every wait polls for progress
//! (a height, a receipt) with a deadline; nothing sleeps and then asserts. Networks run one at a time
//! (see `paychain_tests::serial`). Run them with `scripts/test.sh`, which builds the binaries first.

mod abuse;
mod admission;
mod byzantine;
mod ca;
mod cli;
mod collection;
mod consensus;
mod disk;
mod double_sign;
mod enclave;
mod enclave_attacks;
mod epochs;
mod faults;
mod figures;
mod guardian;
mod honest;
mod hostile_node;
mod layout;
mod msrv;
mod netfaults;
mod other_lang;
mod partition;
mod peers;
mod private_reads;
mod restarts;
mod routing;
mod rpc;
mod store;
mod wallet;

use std::time::Duration;

use anyhow::{ensure, Result};
use paychain_tests::Testnet;

/// Deadline for a few blocks of progress on a loaded 2-core machine.
pub const PROGRESS: Duration = Duration::from_secs(40);

/// Asserts that the nodes in `which` have the same block at every height in `heights` and the same app
/// hash after the last one (compared at that height, not at whatever height each node is at now).
pub fn assert_same_chain(
    net: &mut Testnet,
    which: &[usize],
    heights: std::ops::RangeInclusive<u64>,
) -> Result<()> {
    let last = *heights.end();
    for h in heights {
        let reference = net.block_hash(which[0], h)?;
        ensure!(reference.is_some(), "node {} has no block {h}", which[0]);
        for &i in &which[1..] {
            let hash = net.block_hash(i, h)?;
            ensure!(
                hash == reference,
                "fork at height {h}: node {} has {reference:?}, node {i} has {hash:?}",
                which[0]
            );
        }
    }
    let reference = net.app_hash_after(which[0], last, PROGRESS)?;
    for &i in &which[1..] {
        let app = net.app_hash_after(i, last, PROGRESS)?;
        ensure!(
            app == reference,
            "app hash after height {last}: node {} has {reference}, node {i} has {app}",
            which[0]
        );
    }
    Ok(())
}
