//! RocksDB write baseline, printed as one JSON object for `scripts/bench.sh`.
//!
//! Batches of `--batch` puts (32-byte keys, 200-byte values: a transaction-sized record), each batch
//! written with `sync = true` (one fsync, as the node commits one batch per block), for `--secs`; plus
//! the single-put-per-fsync rate for contrast. The database uses the node's options (LZ4) in a fresh
//! temporary directory under `$TMPDIR` (put it on the disk the nodes use).
//!
//! ```text
//! cargo bench -p paychain-node --bench rocksdb_batch -- --secs 1    # release (bench profile)
//! cargo test  -p paychain-node --bench rocksdb_batch -- --secs 1    # dev profile
//! ```

use std::time::{Duration, Instant};

use rocksdb::{Options, WriteBatch, WriteOptions, DB};
use sha2::{Digest, Sha256};

fn arg(args: &[String], name: &str, default: f64) -> f64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` appends `--bench`; ignore anything we do not know.
    let args: Vec<String> = std::env::args().collect();
    let secs = arg(&args, "--secs", 1.0);
    let batch_size = arg(&args, "--batch", 1000.0) as u64;

    let dir = tempfile::tempdir()?;
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
    let db = DB::open(&opts, dir.path())?;
    let mut sync = WriteOptions::default();
    sync.set_sync(true);
    let value = [0xabu8; 200];
    let key = |n: u64| Sha256::digest(n.to_le_bytes());

    let budget = Duration::from_secs_f64(secs);
    let mut n = 0u64;
    let mut batches = 0u64;
    let mut batch_ms = Vec::new();
    let t0 = Instant::now();
    while t0.elapsed() < budget {
        let tb = Instant::now();
        let mut batch = WriteBatch::default();
        for _ in 0..batch_size {
            batch.put(key(n), value);
            n += 1;
        }
        db.write_opt(batch, &sync)?;
        batch_ms.push(tb.elapsed().as_secs_f64() * 1000.0);
        batches += 1;
    }
    let batched = n as f64 / t0.elapsed().as_secs_f64();
    batch_ms.sort_by(|a, b| a.total_cmp(b));

    let t1 = Instant::now();
    let mut single = 0u64;
    while t1.elapsed() < budget / 4 {
        db.put_opt(key(n + single), value, &sync)?;
        single += 1;
    }
    let single_rate = single as f64 / t1.elapsed().as_secs_f64();

    let profile = if cfg!(debug_assertions) {
        "dev (this crate at opt-level 0; rocksdb as built)"
    } else {
        "release"
    };
    let out = serde_json::json!({
        "profile": profile,
        "dir": dir.path().display().to_string(),
        "batch_size": batch_size,
        "batches": batches,
        "rocksdb_batched_puts_per_s": batched.round(),
        "rocksdb_batch_write_ms_p50": batch_ms.get(batch_ms.len() / 2).copied().unwrap_or(f64::NAN),
        "rocksdb_synced_single_puts_per_s": single_rate.round(),
    });
    println!("{out}");
    Ok(())
}
