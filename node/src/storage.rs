//! RocksDB storage: committed state, blocks, receipts, commit certificates, the tx index,
//! undecided proposals, and the enclave host's node-local records (the audit trail of lookups per
//! platform, the hashes of answered lookups within the replay window).
//!
//! A decided block is committed with **one** write batch (one fsync): state writes, bucket
//! hashes, the block, its receipts, its commit certificate, the tx index and the new tip.
//! Either all of it is on disk or none of it, so a crash can never apply a block twice or
//! half-apply one. RocksDB types stay inside this module.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use borsh::{BorshDeserialize, BorshSerialize};
use paychain_contracts::block::Block;
use paychain_contracts::codec;
use paychain_contracts::crypto::Hash;
use paychain_contracts::enclave::audit::{AuditAnchor, AuditEntry};
use paychain_contracts::executor::Receipt;
use paychain_contracts::ids::PlatformId;
use paychain_contracts::merkle;
use paychain_contracts::state::{StateError, StateReader, ValueHashes, WriteSet, BUCKETS};
use rocksdb::{ColumnFamilyDescriptor, Direction, IteratorMode, Options, WriteBatch, DB};
use serde::{Deserialize, Serialize};

const CF_STATE: &str = "state";
const CF_BUCKETS: &str = "buckets";
const CF_BLOCKS: &str = "blocks";
const CF_RECEIPTS: &str = "receipts";
const CF_CERTS: &str = "certs";
const CF_TXINDEX: &str = "txindex";
const CF_PENDING: &str = "pending";
const CF_META: &str = "meta";
/// The first audit log (JSON rows keyed by height and a counter that restarted at 0): no longer
/// written, still opened so that an older database opens.
const CF_AUDIT: &str = "audit";
/// The audit trail: `len(platform) ‖ platform ‖ seq (u64 BE)` → borsh [`AuditEntry`].
const CF_ENCLAVE_AUDIT: &str = "enclave_audit";
/// Answered lookups (and audit reads) within the replay window: `issued_at (u64 BE) ‖ request
/// hash` → empty.
const CF_ENCLAVE_REPLAY: &str = "enclave_replay";
/// Equivocation evidence seen by this node (see `host::evidence`): `height (u64 BE) ‖ hash of the
/// record` → borsh record. Not part of the state (each node keeps what it saw).
const CF_EVIDENCE: &str = "evidence";
const ALL_CFS: [&str; 12] = [
    CF_STATE,
    CF_BUCKETS,
    CF_BLOCKS,
    CF_RECEIPTS,
    CF_CERTS,
    CF_TXINDEX,
    CF_PENDING,
    CF_META,
    CF_AUDIT,
    CF_ENCLAVE_AUDIT,
    CF_ENCLAVE_REPLAY,
    CF_EVIDENCE,
];

const META_TIP: &[u8] = b"tip";
const META_AUDIT_ANCHOR: &[u8] = b"audit_anchor/";

fn audit_prefix(platform: &PlatformId) -> Vec<u8> {
    let id = platform.as_str().as_bytes();
    let mut k = Vec::with_capacity(1 + id.len() + 8);
    // Platform ids are at most 32 bytes: the length fits a byte, and no id's key prefix is another's.
    k.push(id.len() as u8);
    k.extend_from_slice(id);
    k
}

fn audit_key(platform: &PlatformId, seq: u64) -> Vec<u8> {
    let mut k = audit_prefix(platform);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn anchor_key(platform: &PlatformId) -> Vec<u8> {
    [META_AUDIT_ANCHOR, platform.as_str().as_bytes()].concat()
}

fn replay_key(issued_at: u64, hash: &Hash) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..8].copy_from_slice(&issued_at.to_be_bytes());
    k[8..].copy_from_slice(&hash.0);
    k
}

/// Storage errors. Any of them is fatal for the node: it stops rather than diverge.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("rocksdb: {0}")]
    Db(#[from] rocksdb::Error),
    #[error("corrupt {what} in storage: {reason}")]
    Corrupt { what: &'static str, reason: String },
    #[error("write refused by test fault injection (PAYCHAIN_TEST_FAIL_COMMIT_AT={0})")]
    InjectedFault(u64),
}

impl From<Error> for StateError {
    fn from(e: Error) -> Self {
        StateError(e.to_string())
    }
}

/// A raw key/value pair.
pub type Entry = (Vec<u8>, Vec<u8>);

/// What the node has committed last.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize,
)]
pub struct Tip {
    /// Height of the last committed block (0 = only genesis state).
    pub height: u64,
    /// Hash of the last committed block (zero at genesis).
    pub block_hash: Hash,
    /// App hash after the last committed block (the genesis state's hash at height 0).
    pub app_hash: Hash,
    /// Merkle root of the last committed block's receipts.
    pub result_root: Hash,
    /// BFT time of the last committed block (genesis time at height 0).
    pub time_ms: u64,
}

/// Where a committed transaction sits.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize,
)]
pub struct TxLocation {
    pub height: u64,
    pub index: u32,
}

/// RocksDB's memory, in bytes. Memtables are bounded by [`MEMTABLE_BUDGET_BYTES`] and the block
/// cache by [`BLOCK_CACHE_BYTES`] (data blocks and the index and filter partitions); table readers
/// hold the pinned top-level index and filter of each open SST file, which grow with the number of
/// files, slowly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StorageMemory {
    pub memtables: u64,
    pub block_cache: u64,
    pub table_readers: u64,
}

/// Everything committed for one decided block.
pub struct Commit<'a> {
    pub block: &'a Block,
    pub block_bytes: &'a [u8],
    pub writes: &'a WriteSet,
    pub receipts: &'a [Receipt],
    pub result_root: Hash,
    pub certificate: &'a [u8],
}

/// The Merkle tree over the [`BUCKETS`] bucket hashes, so a block's app hash costs the hashes above
/// the buckets it changed rather than a scan of every bucket hash and a rehash of the whole tree.
#[derive(Default)]
struct TreeCache {
    /// The tree of the committed state (built on first use).
    committed: Option<merkle::Tree>,
    /// The tree of the last [`StateReader::app_hash_after`], by its root: the commit that writes
    /// that app hash installs it.
    prepared: Option<(Hash, merkle::Tree)>,
}

/// The state before the last committed block (see [`Storage::keep_previous_state`]).
struct Previous {
    /// The block after which this is the state (the last committed block's parent).
    height: u64,
    /// Its app hash: what the last committed block's header carries as `prev_app_hash`.
    app_hash: Hash,
    /// Per bucket, the values the keys written by the last block had before it (`None`: absent).
    undo: BTreeMap<u16, BTreeMap<Vec<u8>, Option<Vec<u8>>>>,
    /// The bucket tree of this state.
    tree: merkle::Tree,
}

/// The state after block [`PreviousState::height`], read through the committed state and the undo
/// of the last block; commits wait while it is held.
pub struct PreviousState<'a> {
    storage: &'a Storage,
    previous: Arc<Previous>,
    _gate: std::sync::RwLockReadGuard<'a, ()>,
}

impl PreviousState<'_> {
    /// The block after which this is the state.
    pub fn height(&self) -> u64 {
        self.previous.height
    }

    /// Its app hash.
    pub fn app_hash(&self) -> Hash {
        self.previous.app_hash
    }

    /// Whether the last committed block wrote `key` (its value there may differ from this one).
    pub fn written_by_last_block(&self, key: &[u8]) -> bool {
        let bucket = paychain_contracts::state::bucket_of(key);
        self.previous
            .undo
            .get(&bucket)
            .is_some_and(|u| u.contains_key(key))
    }

    /// The proof of `key` in this state, the bucket's proof taken from the kept tree.
    pub fn prove(&self, key: &[u8]) -> Result<paychain_contracts::state::StateProof, StateError> {
        paychain_contracts::state::prove_with(self, key, |bucket| {
            self.previous
                .tree
                .proof(usize::from(bucket))
                .ok_or_else(|| StateError(format!("no bucket {bucket}")))
        })
    }
}

impl StateReader for PreviousState<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        let bucket = paychain_contracts::state::bucket_of(key);
        if let Some(before) = self.previous.undo.get(&bucket).and_then(|u| u.get(key)) {
            return Ok(before.clone());
        }
        self.storage.get(key)
    }

    fn bucket_entries(&self, bucket: u16) -> Result<Vec<Entry>, StateError> {
        let entries = self.storage.bucket_entries(bucket)?;
        let Some(undo) = self.previous.undo.get(&bucket) else {
            return Ok(entries);
        };
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = entries.into_iter().collect();
        for (k, before) in undo {
            match before {
                Some(v) => merged.insert(k.clone(), v.clone()),
                None => merged.remove(k),
            };
        }
        Ok(merged.into_iter().collect())
    }

    fn bucket_hash(&self, bucket: u16) -> Result<Hash, StateError> {
        Err(StateError(format!(
            "the previous state keeps no bucket hash ({bucket}): use its tree"
        )))
    }
}

/// The node's database. Cheap to clone.
#[derive(Clone)]
pub struct Storage {
    db: Arc<DB>,
    /// The block cache every column family shares (kept for its usage figure).
    cache: rocksdb::Cache,
    /// The bucket tree of the committed state, kept between blocks.
    tree: Arc<std::sync::Mutex<TreeCache>>,
    /// Test-only: the commit of this height fails (see [`crate::faults`]).
    fail_commit_at: Option<u64>,
    /// Whether commits keep the state before them ([`Storage::keep_previous_state`]).
    keep_previous: bool,
    previous: Arc<std::sync::RwLock<Option<Arc<Previous>>>>,
    /// Notified when a commit sets the previous state (the mutex guards no data: it orders the
    /// notification after a waiter's check).
    previous_set: Arc<(std::sync::Mutex<()>, std::sync::Condvar)>,
    /// Held for writing while a commit is written, for reading while the previous state is read.
    commit_gate: Arc<std::sync::RwLock<()>>,
}

fn height_key(height: u64) -> [u8; 8] {
    height.to_be_bytes()
}

fn state_key(key: &[u8]) -> Vec<u8> {
    let bucket = paychain_contracts::state::bucket_of(key);
    let mut k = Vec::with_capacity(2 + key.len());
    k.extend_from_slice(&bucket.to_be_bytes());
    k.extend_from_slice(key);
    k
}

/// What one column family keeps on disk (see [`Storage::compact`]).
#[derive(Clone, Debug, serde::Serialize)]
pub struct ColumnFamilySize {
    pub name: &'static str,
    /// Bytes of its table files.
    pub sst_bytes: u64,
    /// RocksDB's estimate of its live keys.
    pub keys: u64,
}

/// Blocks touching at least this many buckets read them on two threads.
const PARALLEL_BUCKET_SCAN: usize = 256;

/// The LRU block cache shared by every column family.
pub const BLOCK_CACHE_BYTES: usize = 32 << 20;
/// Size at which one column family's memtable is flushed.
pub const MEMTABLE_BYTES: usize = 8 << 20;
/// The memtables of all column families together.
pub const MEMTABLE_BUDGET_BYTES: usize = 32 << 20;

impl Storage {
    /// Opens (or creates) the database under `path`.
    ///
    /// Memory is bounded whatever the load: all column families share one LRU block cache of
    /// [`BLOCK_CACHE_BYTES`] and one memtable budget of [`MEMTABLE_BUDGET_BYTES`] (RocksDB
    /// flushes the largest memtable when the sum reaches it); without these, each of the column
    /// families would keep up to two 64 MiB memtables and the node's memory would grow with the
    /// data written until every one of them flushed.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let cache = rocksdb::Cache::new_lru_cache(BLOCK_CACHE_BYTES);
        let cf_options = || {
            let mut table = rocksdb::BlockBasedOptions::default();
            table.set_block_cache(&cache);
            // Bloom filters: most gets of a block's execution are for keys in one file of
            // many, or in none (a new order reference, a new payment). Filter and index
            // blocks live in the block cache, so they stay within its bound.
            table.set_bloom_filter(10.0, false);
            table.set_cache_index_and_filter_blocks(true);
            table.set_pin_l0_filter_and_index_blocks_in_cache(true);
            // Partitioned: a file's index and filter are cut into 4 KiB partitions under a
            // small top-level index, which stays pinned. With one monolithic index per file,
            // the data blocks of bucket scans evicted a file's whole index (hundreds of KiB,
            // LZ4-compressed) from the cache, and every get then read and decompressed it
            // again: 21 % of a node's CPU under overload, and the commit slowed as files grew.
            table.set_index_type(rocksdb::BlockBasedIndexType::TwoLevelIndexSearch);
            table.set_partition_filters(true);
            table.set_metadata_block_size(4096);
            table.set_pin_top_level_index_and_filter(true);
            let mut o = Options::default();
            o.set_block_based_table_factory(&table);
            o.set_compression_type(rocksdb::DBCompressionType::Lz4);
            o.set_write_buffer_size(MEMTABLE_BYTES);
            // A whole-key bloom filter in each memtable too (2 % of its size).
            o.set_memtable_whole_key_filtering(true);
            o.set_memtable_prefix_bloom_ratio(0.02);
            o
        };
        let mut opts = cf_options();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.set_keep_log_file_num(4);
        opts.set_db_write_buffer_size(MEMTABLE_BUDGET_BYTES);
        let cfs = ALL_CFS
            .iter()
            .map(|name| ColumnFamilyDescriptor::new(*name, cf_options()));
        let db = DB::open_cf_descriptors(&opts, path, cfs)?;
        Ok(Self {
            db: Arc::new(db),
            cache,
            tree: Arc::default(),
            fail_commit_at: None,
            keep_previous: false,
            previous: Arc::default(),
            previous_set: Arc::default(),
            commit_gate: Arc::default(),
        })
    }

    /// Makes every commit keep the state before it (the undo of its writes and the bucket tree),
    /// so that [`Storage::previous_state`] can prove keys against the app hash the last block's
    /// header certifies. Costs a multi-get of the keys a block writes. Set before cloning.
    pub fn keep_previous_state(&mut self) {
        self.keep_previous = true;
    }

    /// The state before the last committed block (`None` before the first commit since the node
    /// started, or without [`Storage::keep_previous_state`]). Commits wait while it is held.
    pub fn previous_state(&self) -> Option<PreviousState<'_>> {
        let gate = self.commit_gate.read().unwrap_or_else(|p| p.into_inner());
        let previous = self
            .previous
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        Some(PreviousState {
            storage: self,
            previous,
            _gate: gate,
        })
    }

    /// [`Storage::previous_state`] once it is the state after block `height` or a later one,
    /// waiting up to `timeout` for the commits that make it so (`height` 0: the first commit after
    /// a start).
    pub fn wait_previous_state(
        &self,
        height: u64,
        timeout: std::time::Duration,
    ) -> Option<PreviousState<'_>> {
        let deadline = std::time::Instant::now() + timeout;
        {
            let (lock, set) = &*self.previous_set;
            let mut order = lock.lock().unwrap_or_else(|p| p.into_inner());
            while self
                .previous
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .is_none_or(|p| p.height < height)
            {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if left.is_zero() {
                    return None;
                }
                order = set
                    .wait_timeout(order, left)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
        self.previous_state()
    }

    /// What [`Storage::previous_state`] needs of the state `writes` are about to change.
    fn previous_of(&self, writes: &WriteSet) -> Result<Option<Previous>, Error> {
        let Some(tip) = self.tip()? else {
            return Ok(None);
        };
        let kept = self
            .tree_cache()
            .committed
            .clone()
            .filter(|t| t.root() == tip.app_hash);
        let tree = match kept {
            Some(tree) => tree,
            None => {
                let hashes = self.all_bucket_hashes().map_err(|e| Error::Corrupt {
                    what: "bucket hashes",
                    reason: e.0,
                })?;
                let tree = merkle::Tree::new(&hashes);
                if tree.root() != tip.app_hash {
                    return Ok(None);
                }
                tree
            }
        };
        let cf = self.cf(CF_STATE)?;
        let keys: Vec<(&Vec<u8>, Vec<u8>)> =
            writes.puts.keys().map(|k| (k, state_key(k))).collect();
        let values = self
            .db
            .multi_get_cf(keys.iter().map(|(_, sk)| (cf, sk.as_slice())));
        let mut undo: BTreeMap<u16, BTreeMap<Vec<u8>, Option<Vec<u8>>>> = BTreeMap::new();
        for ((key, sk), value) in keys.iter().zip(values) {
            let bucket = u16::from_be_bytes([sk[0], sk[1]]);
            undo.entry(bucket)
                .or_default()
                .insert((*key).clone(), value?);
        }
        Ok(Some(Previous {
            height: tip.height,
            app_hash: tip.app_hash,
            undo,
            tree,
        }))
    }

    /// What RocksDB holds in memory now: the bounded part of the node's footprint.
    pub fn memory(&self) -> Result<StorageMemory, Error> {
        let stats = rocksdb::perf::get_memory_usage_stats(Some(&[&self.db]), Some(&[&self.cache]))?;
        Ok(StorageMemory {
            memtables: stats.mem_table_total,
            block_cache: stats.cache_total,
            table_readers: stats.mem_table_readers_total,
        })
    }

    /// Flushes and fully compacts every column family, then reports what each keeps on disk: the
    /// footprint of the data at rest, with overwritten versions, tombstones and the write-ahead
    /// log gone (an operator's offline `paychain-node compact`).
    pub fn compact(&self) -> Result<Vec<ColumnFamilySize>, Error> {
        let mut out = Vec::with_capacity(ALL_CFS.len());
        for name in ALL_CFS {
            let cf = self.cf(name)?;
            self.db.flush_cf(cf)?;
            // Rewrite even a lone file (a trivial move to the last level would keep its
            // overwritten versions and tombstones).
            let mut opts = rocksdb::CompactOptions::default();
            opts.set_bottommost_level_compaction(rocksdb::BottommostLevelCompaction::Force);
            self.db
                .compact_range_cf_opt::<&[u8], &[u8]>(cf, None, None, &opts);
            let int = |property: &str| -> Result<u64, Error> {
                Ok(self.db.property_int_value_cf(cf, property)?.unwrap_or(0))
            };
            out.push(ColumnFamilySize {
                name,
                sst_bytes: int("rocksdb.total-sst-files-size")?,
                keys: int("rocksdb.estimate-num-keys")?,
            });
        }
        Ok(out)
    }

    /// Transactions in the chain (one index entry each).
    pub fn indexed_txs(&self) -> Result<u64, Error> {
        let mut n = 0u64;
        for item in self
            .db
            .iterator_cf(self.cf(CF_TXINDEX)?, IteratorMode::Start)
        {
            item?;
            n += 1;
        }
        Ok(n)
    }

    /// The entries of `buckets` (ascending) as (key, value hash), with one iterator that seeks
    /// from bucket to bucket and hashes values in place rather than copying them out.
    fn scan_buckets(&self, buckets: &[u16]) -> Result<Vec<ValueHashes>, StateError> {
        let mut iter = self.db.raw_iterator_cf(self.cf(CF_STATE)?);
        let mut out = Vec::with_capacity(buckets.len());
        for bucket in buckets {
            let prefix = bucket.to_be_bytes();
            iter.seek(prefix);
            let mut entries = Vec::new();
            while let (Some(k), Some(v)) = (iter.key(), iter.value()) {
                let Some(key) = k.strip_prefix(&prefix) else {
                    break;
                };
                entries.push((key.to_vec(), Hash::digest(v)));
                iter.next();
            }
            iter.status().map_err(Error::from)?;
            out.push(entries);
        }
        Ok(out)
    }

    /// Test-only fault injection (see [`crate::faults`]): the commit of block `height` fails
    /// without writing anything, as it would on a full or failing disk.
    pub fn fail_commit_at(&mut self, height: u64) {
        self.fail_commit_at = Some(height);
    }

    fn cf(&self, name: &'static str) -> Result<&rocksdb::ColumnFamily, Error> {
        self.db.cf_handle(name).ok_or(Error::Corrupt {
            what: "column family",
            reason: format!("{name} missing"),
        })
    }

    fn get_cf(&self, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.db.get_cf(self.cf(cf)?, key)?)
    }

    /// The committed tip, or `None` before genesis was written.
    pub fn tip(&self) -> Result<Option<Tip>, Error> {
        match self.get_cf(CF_META, META_TIP)? {
            None => Ok(None),
            Some(bytes) => codec::decode(&bytes, 1024)
                .map(Some)
                .map_err(|e| Error::Corrupt {
                    what: "tip",
                    reason: e.to_string(),
                }),
        }
    }

    /// Writes the genesis state and tip (height 0) in one batch. Only on an empty database.
    pub fn write_genesis(&self, writes: &WriteSet, genesis_time_ms: u64) -> Result<Tip, Error> {
        let mut batch = WriteBatch::default();
        self.put_writes(&mut batch, writes)?;
        let tip = Tip {
            height: 0,
            block_hash: Hash::ZERO,
            app_hash: writes.app_hash,
            result_root: Hash::ZERO,
            time_ms: genesis_time_ms,
        };
        batch.put_cf(self.cf(CF_META)?, META_TIP, codec::encode(&tip));
        self.write(batch)?;
        *self.tree_cache() = TreeCache::default();
        Ok(tip)
    }

    fn put_writes(&self, batch: &mut WriteBatch, writes: &WriteSet) -> Result<(), Error> {
        let state = self.cf(CF_STATE)?;
        for (key, value) in &writes.puts {
            match value {
                Some(v) => batch.put_cf(state, state_key(key), v),
                None => batch.delete_cf(state, state_key(key)),
            }
        }
        let buckets = self.cf(CF_BUCKETS)?;
        for (bucket, hash) in &writes.bucket_hashes {
            if *hash == Hash::ZERO {
                batch.delete_cf(buckets, bucket.to_be_bytes());
            } else {
                batch.put_cf(buckets, bucket.to_be_bytes(), hash.0);
            }
        }
        Ok(())
    }

    fn write(&self, batch: WriteBatch) -> Result<(), Error> {
        let mut opts = rocksdb::WriteOptions::default();
        opts.set_sync(true);
        self.db.write_opt(batch, &opts)?;
        Ok(())
    }

    /// Commits a decided block atomically and returns the new tip.
    pub fn commit(&self, c: Commit<'_>) -> Result<Tip, Error> {
        let height = c.block.header.height;
        let mut batch = WriteBatch::default();
        self.put_writes(&mut batch, c.writes)?;
        batch.put_cf(self.cf(CF_BLOCKS)?, height_key(height), c.block_bytes);
        batch.put_cf(
            self.cf(CF_RECEIPTS)?,
            height_key(height),
            codec::encode(&c.receipts.to_vec()),
        );
        batch.put_cf(self.cf(CF_CERTS)?, height_key(height), c.certificate);
        let txindex = self.cf(CF_TXINDEX)?;
        for (index, tx) in c.block.txs.iter().enumerate() {
            let loc = TxLocation {
                height,
                index: index as u32,
            };
            batch.put_cf(txindex, tx.hash().0, codec::encode(&loc));
        }
        // The undecided proposals of this height are no longer needed. Point deletes of the few
        // keys there are, not a range delete: every range tombstone stays in the (rarely flushed)
        // memtable and is re-fragmented by every later read of the column family, so one per
        // block made memory and read time grow with the height.
        let pending = self.cf(CF_PENDING)?;
        for (key, _) in self.pending_entries(height, height, false)? {
            batch.delete_cf(pending, key);
        }
        let tip = Tip {
            height,
            block_hash: c.block.hash(),
            app_hash: c.writes.app_hash,
            result_root: c.result_root,
            time_ms: c.block.header.time_ms,
        };
        batch.put_cf(self.cf(CF_META)?, META_TIP, codec::encode(&tip));
        if self.fail_commit_at == Some(height) {
            return Err(Error::InjectedFault(height));
        }
        let previous = if self.keep_previous {
            self.previous_of(c.writes)?
        } else {
            None
        };
        let _gate = self.commit_gate.write().unwrap_or_else(|p| p.into_inner());
        self.write(batch)?;
        self.tree_committed(c.writes);
        if self.keep_previous {
            let (lock, set) = &*self.previous_set;
            let _order = lock.lock().unwrap_or_else(|p| p.into_inner());
            *self.previous.write().unwrap_or_else(|p| p.into_inner()) = previous.map(Arc::new);
            set.notify_all();
        }
        Ok(tip)
    }

    fn tree_cache(&self) -> std::sync::MutexGuard<'_, TreeCache> {
        // Every update replaces whole values, so a panic elsewhere cannot leave it half-written.
        self.tree.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves the cached bucket tree to the state just committed.
    fn tree_committed(&self, writes: &WriteSet) {
        let mut cache = self.tree_cache();
        match cache.prepared.take() {
            Some((root, tree)) if root == writes.app_hash => cache.committed = Some(tree),
            _ => {
                if let Some(tree) = cache.committed.as_mut() {
                    tree.update(
                        writes
                            .bucket_hashes
                            .iter()
                            .map(|(b, h)| (usize::from(*b), *h)),
                    );
                    if tree.root() != writes.app_hash {
                        // Not the state it was built for: rebuilt from disk on next use.
                        cache.committed = None;
                    }
                }
            }
        }
    }

    /// Encoded block at `height`.
    pub fn block_bytes(&self, height: u64) -> Result<Option<Vec<u8>>, Error> {
        self.get_cf(CF_BLOCKS, &height_key(height))
    }

    /// Decoded block at `height`.
    pub fn block(&self, height: u64) -> Result<Option<Block>, Error> {
        self.block_bytes(height)?
            .map(|b| {
                Block::from_bytes(&b).map_err(|e| Error::Corrupt {
                    what: "block",
                    reason: e.to_string(),
                })
            })
            .transpose()
    }

    /// Receipts of the block at `height`.
    pub fn receipts(&self, height: u64) -> Result<Option<Vec<Receipt>>, Error> {
        self.get_cf(CF_RECEIPTS, &height_key(height))?
            .map(|b| {
                codec::decode(&b, codec::MAX_BLOCK_BYTES * 4).map_err(|e| Error::Corrupt {
                    what: "receipts",
                    reason: e.to_string(),
                })
            })
            .transpose()
    }

    /// Encoded commit certificate of the block at `height`.
    pub fn certificate(&self, height: u64) -> Result<Option<Vec<u8>>, Error> {
        self.get_cf(CF_CERTS, &height_key(height))
    }

    /// Where a committed tx is.
    pub fn tx_location(&self, tx_hash: &Hash) -> Result<Option<TxLocation>, Error> {
        self.get_cf(CF_TXINDEX, &tx_hash.0)?
            .map(|b| {
                codec::decode(&b, 64).map_err(|e| Error::Corrupt {
                    what: "tx index",
                    reason: e.to_string(),
                })
            })
            .transpose()
    }

    /// The last audit entry of `platform`'s trail, if it has one.
    pub fn audit_last(&self, platform: &PlatformId) -> Result<Option<AuditEntry>, Error> {
        let prefix = audit_prefix(platform);
        let mut upper = prefix.clone();
        upper.extend_from_slice(&u64::MAX.to_be_bytes());
        let mut iter = self.db.raw_iterator_cf(self.cf(CF_ENCLAVE_AUDIT)?);
        iter.seek_for_prev(&upper);
        if let (Some(k), Some(v)) = (iter.key(), iter.value()) {
            if k.starts_with(&prefix) && k.len() == prefix.len() + 8 {
                return decode_audit(v).map(Some);
            }
        }
        iter.status()?;
        Ok(None)
    }

    /// Where `platform`'s kept trail starts, once something was pruned from it.
    pub fn audit_anchor(&self, platform: &PlatformId) -> Result<Option<AuditAnchor>, Error> {
        self.get_cf(CF_META, &anchor_key(platform))?
            .map(|b| {
                codec::decode(&b, 256).map_err(|e| Error::Corrupt {
                    what: "audit anchor",
                    reason: e.to_string(),
                })
            })
            .transpose()
    }

    /// Appends `entry` to its platform's trail and, when `prune` is given, deletes that platform's
    /// entries below `prune.first_seq` and records `prune` as the trail's anchor, in one batch.
    ///
    /// Written through the write-ahead log without an fsync: an entry survives the process being
    /// killed (what a restart is), not the machine losing power.
    pub fn audit_append(
        &self,
        entry: &AuditEntry,
        prune: Option<(u64, &AuditAnchor)>,
    ) -> Result<(), Error> {
        let cf = self.cf(CF_ENCLAVE_AUDIT)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(
            cf,
            audit_key(&entry.platform_id, entry.seq),
            codec::encode(entry),
        );
        if let Some((from, anchor)) = prune {
            for seq in from..anchor.first_seq {
                batch.delete_cf(cf, audit_key(&entry.platform_id, seq));
            }
            batch.put_cf(
                self.cf(CF_META)?,
                anchor_key(&entry.platform_id),
                codec::encode(anchor),
            );
        }
        self.db.write(batch)?;
        Ok(())
    }

    /// One audit entry.
    pub fn audit_entry(
        &self,
        platform: &PlatformId,
        seq: u64,
    ) -> Result<Option<AuditEntry>, Error> {
        self.get_cf(CF_ENCLAVE_AUDIT, &audit_key(platform, seq))?
            .map(|v| decode_audit(&v))
            .transpose()
    }

    /// Up to `limit` entries of `platform`'s trail from `from_seq` on, in order.
    pub fn audit_entries(
        &self,
        platform: &PlatformId,
        from_seq: u64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, Error> {
        let prefix = audit_prefix(platform);
        let start = audit_key(platform, from_seq);
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(
            self.cf(CF_ENCLAVE_AUDIT)?,
            IteratorMode::From(&start, Direction::Forward),
        );
        for item in iter {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item?;
            if !k.starts_with(&prefix) || k.len() != prefix.len() + 8 {
                break;
            }
            out.push(decode_audit(&v)?);
        }
        Ok(out)
    }

    /// Remembers an answered request (issued at `issued_at`) for the replay window.
    pub fn replay_insert(&self, issued_at: u64, hash: &Hash) -> Result<(), Error> {
        self.db
            .put_cf(self.cf(CF_ENCLAVE_REPLAY)?, replay_key(issued_at, hash), [])?;
        Ok(())
    }

    /// Whether the request was answered.
    pub fn replay_contains(&self, issued_at: u64, hash: &Hash) -> Result<bool, Error> {
        Ok(self
            .get_cf(CF_ENCLAVE_REPLAY, &replay_key(issued_at, hash))?
            .is_some())
    }

    /// The answered requests issued at `from_height` or later, at most `limit`.
    pub fn replay_entries(
        &self,
        from_height: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Hash)>, Error> {
        let start = from_height.to_be_bytes();
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(
            self.cf(CF_ENCLAVE_REPLAY)?,
            IteratorMode::From(&start, Direction::Forward),
        );
        for item in iter {
            if out.len() >= limit {
                break;
            }
            let (k, _) = item?;
            let Ok(k) = <[u8; 40]>::try_from(k.as_ref()) else {
                return Err(Error::Corrupt {
                    what: "replay key",
                    reason: format!("{} bytes", k.len()),
                });
            };
            let mut h = [0u8; 8];
            h.copy_from_slice(&k[..8]);
            let mut hash = [0u8; 32];
            hash.copy_from_slice(&k[8..]);
            out.push((u64::from_be_bytes(h), Hash(hash)));
        }
        Ok(out)
    }

    /// Forgets the answered requests issued before `height` (out of the window): point deletes of
    /// the few there are, not a range tombstone (see [`Storage::commit`]).
    pub fn replay_prune(&self, height: u64) -> Result<usize, Error> {
        let cf = self.cf(CF_ENCLAVE_REPLAY)?;
        let mut read = rocksdb::ReadOptions::default();
        read.set_iterate_upper_bound(height.to_be_bytes().to_vec());
        let mut batch = WriteBatch::default();
        let mut n = 0;
        for item in self.db.iterator_cf_opt(cf, read, IteratorMode::Start) {
            let (k, _) = item?;
            batch.delete_cf(cf, k);
            n += 1;
        }
        if n > 0 {
            self.db.write(batch)?;
        }
        Ok(n)
    }

    /// Stores an equivocation record seen at `height` under `id` (the same record twice is
    /// stored once).
    pub fn put_evidence(&self, height: u64, id: &Hash, record: &[u8]) -> Result<(), Error> {
        let mut k = height_key(height).to_vec();
        k.extend_from_slice(&id.0);
        self.db.put_cf(self.cf(CF_EVIDENCE)?, k, record)?;
        Ok(())
    }

    /// Up to `limit` stored equivocation records, oldest height first.
    pub fn evidence(&self, limit: usize) -> Result<Vec<Vec<u8>>, Error> {
        let mut out = Vec::new();
        for item in self
            .db
            .iterator_cf(self.cf(CF_EVIDENCE)?, IteratorMode::Start)
            .take(limit)
        {
            out.push(item?.1.to_vec());
        }
        Ok(out)
    }

    /// Stores an undecided proposal record under (height, key); with `durable`, synced to disk
    /// before this returns (a proposal we signed: after a power loss we must propose it again,
    /// not another one, which would be double signing).
    pub fn put_pending(
        &self,
        height: u64,
        key: &[u8],
        value: &[u8],
        durable: bool,
    ) -> Result<(), Error> {
        let mut k = height_key(height).to_vec();
        k.extend_from_slice(key);
        let mut opts = rocksdb::WriteOptions::default();
        opts.set_sync(durable);
        self.db.put_cf_opt(self.cf(CF_PENDING)?, k, value, &opts)?;
        Ok(())
    }

    /// All undecided proposal records at `height`, keyed as given to [`Self::put_pending`].
    pub fn pending_at(&self, height: u64) -> Result<Vec<Entry>, Error> {
        Ok(self
            .pending_entries(height, height, true)?
            .into_iter()
            .map(|(k, v)| (k[8..].to_vec(), v))
            .collect())
    }

    /// Raw (full key, value) pending records at heights `from..=to`; with `values` false the values
    /// (whole blocks) are left empty, for callers that only delete. The iterator is bounded on both
    /// sides, so the tombstones of other heights are never scanned.
    fn pending_entries(&self, from: u64, to: u64, values: bool) -> Result<Vec<Entry>, Error> {
        let lower = height_key(from);
        let mut read = rocksdb::ReadOptions::default();
        if let Some(end) = to.checked_add(1) {
            read.set_iterate_upper_bound(height_key(end).to_vec());
        }
        let mut out = Vec::new();
        let iter = self.db.iterator_cf_opt(
            self.cf(CF_PENDING)?,
            read,
            IteratorMode::From(&lower, Direction::Forward),
        );
        for item in iter {
            let (k, v) = item?;
            if k.len() < 8 {
                return Err(Error::Corrupt {
                    what: "pending proposal key",
                    reason: format!("{} bytes", k.len()),
                });
            }
            out.push((k.to_vec(), if values { v.to_vec() } else { Vec::new() }));
        }
        Ok(out)
    }

    /// Deletes the undecided proposal records of heights up to `height` (at start-up: a crash
    /// between a commit and the deletes of an older version could have left some behind).
    pub fn prune_pending(&self, height: u64) -> Result<usize, Error> {
        let stale = self.pending_entries(0, height, false)?;
        if stale.is_empty() {
            return Ok(0);
        }
        let mut batch = WriteBatch::default();
        let pending = self.cf(CF_PENDING)?;
        for (key, _) in &stale {
            batch.delete_cf(pending, key);
        }
        self.write(batch)?;
        Ok(stale.len())
    }
}

impl StateReader for Storage {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self.get_cf(CF_STATE, &state_key(key))?)
    }

    fn bucket_entries(&self, bucket: u16) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StateError> {
        let prefix = bucket.to_be_bytes();
        let mut out = Vec::new();
        let iter = self.db.iterator_cf(
            self.cf(CF_STATE)?,
            IteratorMode::From(&prefix, Direction::Forward),
        );
        for item in iter {
            let (k, v) = item.map_err(Error::from)?;
            if !k.starts_with(&prefix) {
                break;
            }
            out.push((k[2..].to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// A block touches thousands of buckets: they are read in two halves on two threads (seeks
    /// dominate, and RocksDB reads in parallel).
    fn bucket_value_hashes(&self, buckets: &[u16]) -> Result<Vec<ValueHashes>, StateError> {
        if buckets.len() < PARALLEL_BUCKET_SCAN {
            return self.scan_buckets(buckets);
        }
        let (first, second) = buckets.split_at(buckets.len() / 2);
        let (a, b) = std::thread::scope(|s| {
            let other = s.spawn(|| self.scan_buckets(second));
            let a = self.scan_buckets(first);
            let b = other
                .join()
                .unwrap_or_else(|_| Err(StateError("a bucket scan thread panicked".into())));
            (a, b)
        });
        let mut out = a?;
        out.extend(b?);
        Ok(out)
    }

    fn bucket_hash(&self, bucket: u16) -> Result<Hash, StateError> {
        match self.get_cf(CF_BUCKETS, &bucket.to_be_bytes())? {
            None => Ok(Hash::ZERO),
            Some(b) => to_hash(bucket, &b),
        }
    }

    fn app_hash_after(&self, changed: &BTreeMap<u16, Hash>) -> Result<Hash, StateError> {
        let mut cache = self.tree_cache();
        let mut tree = match &cache.committed {
            Some(tree) => tree.clone(),
            None => {
                let hashes = self.all_bucket_hashes().map_err(|e| Error::Corrupt {
                    what: "bucket hashes",
                    reason: e.0,
                })?;
                let tree = merkle::Tree::new(&hashes);
                cache.committed = Some(tree.clone());
                tree
            }
        };
        tree.update(changed.iter().map(|(b, h)| (usize::from(*b), *h)));
        let root = tree.root();
        cache.prepared = Some((root, tree));
        Ok(root)
    }

    /// One scan of the (non-empty-only) bucket column instead of a point read per bucket.
    fn all_bucket_hashes(&self) -> Result<Vec<Hash>, StateError> {
        let mut out = vec![Hash::ZERO; BUCKETS];
        for item in self
            .db
            .iterator_cf(self.cf(CF_BUCKETS)?, IteratorMode::Start)
        {
            let (k, v) = item.map_err(Error::from)?;
            let bucket: [u8; 2] = k
                .as_ref()
                .try_into()
                .map_err(|_| StateError(format!("bucket key of {} bytes", k.len())))?;
            let bucket = u16::from_be_bytes(bucket);
            let slot = out
                .get_mut(bucket as usize)
                .ok_or_else(|| StateError(format!("bucket {bucket} out of range")))?;
            *slot = to_hash(bucket, &v)?;
        }
        Ok(out)
    }
}

fn decode_audit(bytes: &[u8]) -> Result<AuditEntry, Error> {
    codec::decode(bytes, 4096).map_err(|e| Error::Corrupt {
        what: "audit entry",
        reason: e.to_string(),
    })
}

fn to_hash(bucket: u16, bytes: &[u8]) -> Result<Hash, StateError> {
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| StateError(format!("bucket hash {bucket} has {} bytes", bytes.len())))?;
    Ok(Hash(arr))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use paychain_contracts::block::{tx_root, Header};
    use paychain_contracts::crypto::SecretKey;
    use paychain_contracts::executor::execute_block;
    use paychain_contracts::genesis::{genesis_state, Genesis, GenesisValidator};
    use paychain_contracts::governance::{self, Member, Role};
    use paychain_contracts::ids::{ChainId, PlatformId};
    use paychain_contracts::state::{bucket_of, compute_app_hash_full, MemStore, Overlay};
    use paychain_contracts::tx::{Call, SignedTx, Transaction};

    fn genesis(platform: &SecretKey) -> Genesis {
        Genesis {
            chain_id: ChainId::new("storage-test"),
            genesis_time_ms: 1,
            validators: vec![GenesisValidator {
                name: "v".into(),
                public_key: SecretKey::from_seed([1; 32]).public_key(),
                power: 1,
            }],
            members: vec![Member {
                id: PlatformId::new("platform-0").unwrap(),
                name: "P0".into(),
                public_key: platform.public_key(),
                roles: [Role::Platform].into(),
            }],
            enclave: None,
        }
    }

    fn entry(p: &PlatformId, seq: u64, prev: Hash) -> AuditEntry {
        AuditEntry {
            seq,
            height: seq + 1,
            platform_id: p.clone(),
            requester: SecretKey::from_seed([1; 32]).public_key(),
            merchant_id: paychain_contracts::ids::MerchantId::derive(
                &SecretKey::from_seed([2; 32]).public_key(),
            ),
            request_hash: Hash::digest(&seq.to_be_bytes()),
            outcome: "answered".into(),
            prev_hash: prev,
        }
    }

    #[test]
    fn audit_trail_and_replay_set_survive_reopen_and_prune() {
        use paychain_contracts::enclave::audit::audit_origin;
        let dir = tempfile::tempdir().unwrap();
        let p = PlatformId::new("p").unwrap();
        // A platform whose id is a prefix of another's does not see its entries.
        let pp = PlatformId::new("pp").unwrap();
        {
            let db = Storage::open(dir.path()).unwrap();
            assert_eq!(db.audit_last(&p).unwrap(), None);
            let mut prev = audit_origin(&p);
            for seq in 0..3 {
                let e = entry(&p, seq, prev);
                prev = e.hash();
                db.audit_append(&e, None).unwrap();
            }
            db.audit_append(&entry(&pp, 0, audit_origin(&pp)), None)
                .unwrap();
            db.replay_insert(10, &Hash::digest(b"a")).unwrap();
            db.replay_insert(12, &Hash::digest(b"b")).unwrap();
        }
        let db = Storage::open(dir.path()).unwrap();
        let last = db.audit_last(&p).unwrap().unwrap();
        assert_eq!(last.seq, 2);
        assert_eq!(db.audit_entries(&p, 0, 10).unwrap().len(), 3);
        assert_eq!(db.audit_entries(&p, 1, 1).unwrap()[0].seq, 1);
        assert_eq!(db.audit_entries(&pp, 0, 10).unwrap().len(), 1);
        // Pruning below seq 2 keeps the chain verifiable from the anchor.
        let anchor = AuditAnchor {
            first_seq: 2,
            prev_hash: db.audit_entry(&p, 1).unwrap().unwrap().hash(),
        };
        let next = entry(&p, 3, last.hash());
        db.audit_append(&next, Some((0, &anchor))).unwrap();
        let kept = db.audit_entries(&p, 0, 10).unwrap();
        assert_eq!(kept.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(db.audit_anchor(&p).unwrap(), Some(anchor.clone()));
        paychain_contracts::enclave::audit::verify_chain(
            &p,
            anchor.first_seq,
            anchor.prev_hash,
            &kept,
        )
        .unwrap();
        // Replays: kept across the reopen, pruned below the window.
        assert!(db.replay_contains(10, &Hash::digest(b"a")).unwrap());
        assert_eq!(
            db.replay_entries(11, 10).unwrap(),
            vec![(12, Hash::digest(b"b"))]
        );
        assert_eq!(db.replay_prune(11).unwrap(), 1);
        assert!(!db.replay_contains(10, &Hash::digest(b"a")).unwrap());
        assert_eq!(db.replay_entries(0, 10).unwrap().len(), 1);
    }

    /// The one-pass bucket read of RocksDB gives the same bucket and app hashes as the in-memory
    /// store, over rounds of puts, overwrites and deletes of keys crowded into a few buckets (and
    /// of keys spread over many).
    #[test]
    fn bucket_hashes_from_storage_equal_the_reference_store() {
        let dir = tempfile::tempdir().unwrap();
        let db = Storage::open(dir.path()).unwrap();
        let mut mem = MemStore::new();
        let keys: Vec<Vec<u8>> = (0u32..)
            .map(|i| format!("key-{i}").into_bytes())
            .filter(|k| bucket_of(k) % 4096 == 7)
            .take(64)
            .collect();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..8u8 {
            let (mut on_disk, mut in_memory) = (Overlay::new(&db), Overlay::new(&mem));
            for _ in 0..40 {
                let key = keys[(next() % keys.len() as u64) as usize].clone();
                if next() % 4 == 0 {
                    on_disk.delete(key.clone());
                    in_memory.delete(key);
                } else {
                    let value = vec![round; (next() % 300) as usize];
                    on_disk.put(key.clone(), value.clone());
                    in_memory.put(key, value);
                }
            }
            // And keys spread over many buckets, so the scan runs on two threads.
            for i in 0..PARALLEL_BUCKET_SCAN as u32 * 2 {
                let key = format!("spread-{}", next() % 2048 + u64::from(i)).into_bytes();
                on_disk.put(key.clone(), vec![round, 1]);
                in_memory.put(key, vec![round, 1]);
            }
            let (disk, reference) = (on_disk.finish().unwrap(), in_memory.finish().unwrap());
            assert!(disk.bucket_hashes.len() > PARALLEL_BUCKET_SCAN);
            assert_eq!(disk.bucket_hashes, reference.bucket_hashes, "round {round}");
            assert_eq!(disk.app_hash, reference.app_hash, "round {round}");
            db.write_genesis(&disk, 1).unwrap();
            mem.apply(&reference);
            assert_eq!(compute_app_hash_full(&db).unwrap(), disk.app_hash);
        }
    }

    /// With `keep_previous_state`, the state before the last block reads the values it had (the
    /// undo of the block's writes) and proves them against the app hash the block's header carries.
    #[test]
    fn the_previous_state_proves_against_the_last_headers_app_hash() {
        let dir = tempfile::tempdir().unwrap();
        let platform = SecretKey::from_seed([2; 32]);
        let g = genesis(&platform);
        let mut db = Storage::open(dir.path()).unwrap();
        db.keep_previous_state();
        let tip0 = db
            .write_genesis(&genesis_state(&g).unwrap(), g.genesis_time_ms)
            .unwrap();
        assert!(db.previous_state().is_none(), "no commit yet");
        let tx = SignedTx::sign(
            Transaction {
                chain_id: g.chain_id.clone(),
                sender: platform.public_key(),
                nonce: 0,
                call: Call::Governance(governance::Call::UpdateMemberName {
                    name: "Renamed".into(),
                }),
            },
            &platform,
        );
        let block = Block {
            header: Header {
                chain_id: g.chain_id.clone(),
                height: 1,
                time_ms: 2,
                proposer: SecretKey::from_seed([1; 32]).public_key(),
                prev_block_hash: Hash::ZERO,
                prev_app_hash: tip0.app_hash,
                prev_result_root: Hash::ZERO,
                tx_root: tx_root(std::slice::from_ref(&tx)),
            },
            txs: vec![tx],
        };
        let outcome = execute_block(&db, &block).unwrap();
        db.commit(Commit {
            block: &block,
            block_bytes: &block.to_bytes(),
            writes: &outcome.writes,
            receipts: &outcome.receipts,
            result_root: outcome.result_root,
            certificate: b"cert",
        })
        .unwrap();
        let id = PlatformId::new("platform-0").unwrap();
        let member_key = [b"gov/member/".as_slice(), id.as_str().as_bytes()].concat();
        assert_eq!(
            governance::member(&db, &id).unwrap().unwrap().name,
            "Renamed"
        );
        let before = db.previous_state().unwrap();
        assert_eq!((before.height(), before.app_hash()), (0, tip0.app_hash));
        let old = governance::member(&before, &id).unwrap().unwrap();
        assert_eq!(old.name, "P0");
        assert!(before.written_by_last_block(&member_key));
        let value = before.get(&member_key).unwrap();
        assert!(value.is_some(), "member key is {member_key:?}");
        for (key, value) in [
            (member_key.clone(), value),
            (
                b"gov/validators".to_vec(),
                db.get(b"gov/validators").unwrap(),
            ),
            (b"no/such/key".to_vec(), None),
        ] {
            let proof = before.prove(&key).unwrap();
            assert!(
                proof.verify(&key, value.as_deref(), &tip0.app_hash),
                "{key:?}"
            );
            assert!(!proof.verify(&key, value.as_deref(), &outcome.writes.app_hash));
        }
        // The new name does not verify under the old app hash.
        let now = db.get(&member_key).unwrap();
        assert!(!before.prove(&member_key).unwrap().verify(
            &member_key,
            now.as_deref(),
            &tip0.app_hash
        ));
        drop(before);
        assert!(db
            .wait_previous_state(1, std::time::Duration::ZERO)
            .is_none());
    }

    #[test]
    fn commit_is_atomic_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let platform = SecretKey::from_seed([2; 32]);
        let g = genesis(&platform);
        let tip0 = {
            let db = Storage::open(dir.path()).unwrap();
            assert!(db.tip().unwrap().is_none());
            db.write_genesis(&genesis_state(&g).unwrap(), g.genesis_time_ms)
                .unwrap()
        };
        let db = Storage::open(dir.path()).unwrap();
        assert_eq!(db.tip().unwrap(), Some(tip0.clone()));
        assert_eq!(compute_app_hash_full(&db).unwrap(), tip0.app_hash);

        let tx = SignedTx::sign(
            Transaction {
                chain_id: g.chain_id.clone(),
                sender: platform.public_key(),
                nonce: 0,
                call: Call::Governance(governance::Call::UpdateMemberName {
                    name: "Renamed".into(),
                }),
            },
            &platform,
        );
        let txs = vec![tx];
        let block = Block {
            header: Header {
                chain_id: g.chain_id.clone(),
                height: 1,
                time_ms: 2,
                proposer: SecretKey::from_seed([1; 32]).public_key(),
                prev_block_hash: Hash::ZERO,
                prev_app_hash: tip0.app_hash,
                prev_result_root: Hash::ZERO,
                tx_root: tx_root(&txs),
            },
            txs,
        };
        let outcome = execute_block(&db, &block).unwrap();
        assert!(outcome.receipts[0].is_ok(), "{:?}", outcome.receipts[0]);
        let bytes = block.to_bytes();
        db.put_pending(1, b"round-0", b"proposal of height 1", true)
            .unwrap();
        db.put_pending(1, b"round-1", b"another of height 1", false)
            .unwrap();
        db.put_pending(2, b"round-0", b"proposal of height 2", false)
            .unwrap();
        assert_eq!(db.pending_at(1).unwrap().len(), 2);
        let tip1 = db
            .commit(Commit {
                block: &block,
                block_bytes: &bytes,
                writes: &outcome.writes,
                receipts: &outcome.receipts,
                result_root: outcome.result_root,
                certificate: b"cert",
            })
            .unwrap();
        // The commit of height 1 dropped its undecided proposals and kept the next height's.
        assert!(db.pending_at(1).unwrap().is_empty());
        assert_eq!(
            db.pending_at(2).unwrap(),
            vec![(b"round-0".to_vec(), b"proposal of height 2".to_vec())]
        );
        assert_eq!(db.prune_pending(1).unwrap(), 0);
        assert_eq!(db.prune_pending(2).unwrap(), 1);
        assert!(db.pending_at(2).unwrap().is_empty());
        drop(db);

        let db = Storage::open(dir.path()).unwrap();
        assert_eq!(db.tip().unwrap(), Some(tip1.clone()));
        assert_ne!(tip1.app_hash, tip0.app_hash);
        // Incremental app hash equals a full recomputation over what is on disk.
        assert_eq!(compute_app_hash_full(&db).unwrap(), tip1.app_hash);
        assert_eq!(db.block(1).unwrap().unwrap().hash(), block.hash());
        assert_eq!(db.receipts(1).unwrap().unwrap(), outcome.receipts);
        assert_eq!(db.certificate(1).unwrap().unwrap(), b"cert");
        let loc = db.tx_location(&block.txs[0].hash()).unwrap().unwrap();
        assert_eq!((loc.height, loc.index), (1, 0));
        let member = governance::member_by_key(&db, &platform.public_key())
            .unwrap()
            .unwrap();
        assert_eq!(member.name, "Renamed");
        // Overlays over storage read committed state.
        let ov = Overlay::new(&db);
        assert_eq!(ov.get(b"missing").unwrap(), None);

        // Next blocks' app hashes come from the cached bucket tree: each equals a full
        // recomputation from disk, and so does the cold tree of a reopened database.
        let mut tip = tip1;
        for n in 2..5u64 {
            let tx = SignedTx::sign(
                Transaction {
                    chain_id: g.chain_id.clone(),
                    sender: platform.public_key(),
                    nonce: n - 1,
                    call: Call::Governance(governance::Call::UpdateMemberName {
                        name: format!("Renamed {n}"),
                    }),
                },
                &platform,
            );
            let txs = vec![tx];
            let block = Block {
                header: Header {
                    chain_id: g.chain_id.clone(),
                    height: n,
                    time_ms: n + 1,
                    proposer: SecretKey::from_seed([1; 32]).public_key(),
                    prev_block_hash: tip.block_hash,
                    prev_app_hash: tip.app_hash,
                    prev_result_root: tip.result_root,
                    tx_root: tx_root(&txs),
                },
                txs,
            };
            let outcome = execute_block(&db, &block).unwrap();
            assert!(outcome.receipts[0].is_ok(), "{:?}", outcome.receipts[0]);
            tip = db
                .commit(Commit {
                    block: &block,
                    block_bytes: &block.to_bytes(),
                    writes: &outcome.writes,
                    receipts: &outcome.receipts,
                    result_root: outcome.result_root,
                    certificate: b"cert",
                })
                .unwrap();
            assert_ne!(tip.app_hash, block.header.prev_app_hash);
            assert_eq!(compute_app_hash_full(&db).unwrap(), tip.app_hash);
        }
        drop(db);
        let db = Storage::open(dir.path()).unwrap();
        assert_eq!(db.app_hash_after(&BTreeMap::new()).unwrap(), tip.app_hash);

        // Offline compaction: the data stays as it was and each family's table files are counted.
        let sizes = db.compact().unwrap();
        assert_eq!(sizes.len(), ALL_CFS.len());
        let size_of = |name: &str| sizes.iter().find(|s| s.name == name).unwrap().sst_bytes;
        assert!(size_of(CF_BLOCKS) > 0 && size_of(CF_STATE) > 0 && size_of(CF_TXINDEX) > 0);
        assert_eq!(
            size_of(CF_PENDING),
            0,
            "every proposal was committed or pruned"
        );
        assert_eq!(db.indexed_txs().unwrap(), 4);
        assert_eq!(db.tip().unwrap(), Some(tip.clone()));
        assert_eq!(compute_app_hash_full(&db).unwrap(), tip.app_hash);
        assert_eq!(db.block(4).unwrap().unwrap().header.height, 4);
    }
}
