//! The authenticated key-value state.
//!
//! The logical state maps byte-string keys to byte-string values. Keys fall into [`BUCKETS`] buckets by
//! the top 15 bits of their SHA-256 ([`bucket_of`]). A bucket's hash is [`merkle::root`] over the
//! [`leaf_hash`]es of its entries sorted by key ([`Hash::ZERO`] when empty); the app hash is
//! [`merkle::root`] over the 32768 bucket hashes in bucket order. A block therefore rehashes only the
//! buckets it touches, and one key is proven by a proof inside its bucket plus a proof of the bucket
//! ([`prove`], [`StateProof`]).
//!
//! Storage is behind [`StateReader`] (RocksDB in the node, [`MemStore`] here). Execution writes into an
//! [`Overlay`], whose [`Overlay::finish`] yields the [`WriteSet`] to commit atomically.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::primitives::codec::hex_bytes;
use crate::primitives::crypto::{sha256, Hash};
use crate::primitives::merkle;

/// Number of state buckets.
///
/// A block rehashes every bucket it writes to from all of that bucket's entries, so the share of
/// the state it rescans is about `1 - exp(-writes / BUCKETS)`. A block of 500 payments writes about
/// 4000 keys: with 4096 buckets that rescanned 62 % of the whole state per block (most of the
/// commit time once the chain held some 10^5 payments); with 32768 it is 11 %. The price is the
/// top tree (65535 hashes, 2 MiB, kept in memory by the node) and 15 siblings per bucket proof.
/// Fits a `u16` (bucket numbers are `u16` throughout).
pub const BUCKETS: usize = 1 << 15;

/// A state entry: (key, value).
pub type Entry = (Vec<u8>, Vec<u8>);

/// A bucket's entries as (key, sha256(value)), sorted by key: what its hash needs.
pub type ValueHashes = Vec<(Vec<u8>, Hash)>;

/// Pending writes by key; `None` deletes.
pub type Puts = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// A storage fault: fatal for the node, never a transaction's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("state storage: {0}")]
pub struct StateError(pub String);

/// The bucket of `key`: the top 15 bits of `sha256(key)`.
pub fn bucket_of(key: &[u8]) -> u16 {
    let h = sha256(&[key]);
    (u16::from(h.0[0]) << 7) | (u16::from(h.0[1]) >> 1)
}

/// The leaf data hash of an entry: `sha256(0x00 ‖ u32be(key.len) ‖ key ‖ sha256(value))`.
pub fn leaf_hash(key: &[u8], value: &[u8]) -> Hash {
    leaf_hash_with_value_hash(key, &Hash::digest(value))
}

fn leaf_hash_with_value_hash(key: &[u8], value_hash: &Hash) -> Hash {
    // Keys are bounded by the transaction size, far below u32::MAX.
    let len = u32::try_from(key.len()).unwrap_or(u32::MAX);
    sha256(&[&[0x00], &len.to_be_bytes(), key, &value_hash.0])
}

/// The bucket hash of `entries`, which must be sorted by key.
pub fn bucket_hash_of<'a>(entries: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> Hash {
    let leaves: Vec<Hash> = entries.into_iter().map(|(k, v)| leaf_hash(k, v)).collect();
    merkle::root(&leaves)
}

/// The hash of a bucket whose stored entries `stored` (key, value hash; sorted by key) receive
/// `writes` (sorted by key; `None` deletes).
fn merged_bucket_hash(stored: &[(Vec<u8>, Hash)], writes: &[(&[u8], Option<Hash>)]) -> Hash {
    let mut leaves = Vec::with_capacity(stored.len() + writes.len());
    let (mut s, mut w) = (stored.iter().peekable(), writes.iter().peekable());
    loop {
        let order = match (s.peek(), w.peek()) {
            (None, None) => break,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some((stored_key, _)), Some((written_key, _))) => {
                stored_key.as_slice().cmp(written_key)
            }
        };
        if order == Ordering::Equal {
            s.next(); // overwritten or deleted
        }
        if order == Ordering::Less {
            if let Some((k, h)) = s.next() {
                leaves.push(leaf_hash_with_value_hash(k, h));
            }
        } else if let Some((k, Some(h))) = w.next() {
            leaves.push(leaf_hash_with_value_hash(k, h));
        }
    }
    merkle::root(&leaves)
}

/// The app hash for the [`BUCKETS`] bucket hashes, in bucket order.
pub fn app_hash_of(bucket_hashes: &[Hash]) -> Hash {
    merkle::root(bucket_hashes)
}

/// The app hash of the empty state (not [`Hash::ZERO`]: the root over [`BUCKETS`] zero bucket
/// hashes).
pub fn empty_app_hash() -> Hash {
    app_hash_of(&[Hash::ZERO; BUCKETS])
}

/// Read access to the committed state.
pub trait StateReader {
    /// The value of `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError>;
    /// The entries of `bucket`, sorted by key.
    fn bucket_entries(&self, bucket: u16) -> Result<Vec<Entry>, StateError>;
    /// The stored hash of `bucket` ([`Hash::ZERO`] if empty).
    fn bucket_hash(&self, bucket: u16) -> Result<Hash, StateError>;
    /// For each of `buckets` (ascending), its entries as `(key, sha256(value))` sorted by key: what
    /// a bucket hash needs, without the values. Override to read all of them in one pass.
    fn bucket_value_hashes(&self, buckets: &[u16]) -> Result<Vec<ValueHashes>, StateError> {
        buckets
            .iter()
            .map(|b| {
                Ok(self
                    .bucket_entries(*b)?
                    .into_iter()
                    .map(|(k, v)| {
                        let h = Hash::digest(&v);
                        (k, h)
                    })
                    .collect())
            })
            .collect()
    }
    /// All [`BUCKETS`] bucket hashes in bucket order. Override when a scan is cheaper than a get per bucket.
    fn all_bucket_hashes(&self) -> Result<Vec<Hash>, StateError> {
        (0..BUCKETS as u16).map(|b| self.bucket_hash(b)).collect()
    }
    /// The app hash once the `changed` bucket hashes replace the stored ones. Override to keep the
    /// bucket tree between blocks (see [`merkle::Tree`]); the result must equal this default's.
    fn app_hash_after(&self, changed: &BTreeMap<u16, Hash>) -> Result<Hash, StateError> {
        let mut all = self.all_bucket_hashes()?;
        if all.len() != BUCKETS {
            return Err(StateError(format!(
                "expected {BUCKETS} bucket hashes, storage returned {}",
                all.len()
            )));
        }
        for (bucket, h) in changed {
            all[usize::from(*bucket)] = *h;
        }
        Ok(app_hash_of(&all))
    }
}

impl<T: StateReader + ?Sized> StateReader for &T {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        (**self).get(key)
    }
    fn bucket_entries(&self, bucket: u16) -> Result<Vec<Entry>, StateError> {
        (**self).bucket_entries(bucket)
    }
    fn bucket_hash(&self, bucket: u16) -> Result<Hash, StateError> {
        (**self).bucket_hash(bucket)
    }
    fn all_bucket_hashes(&self) -> Result<Vec<Hash>, StateError> {
        (**self).all_bucket_hashes()
    }
    fn app_hash_after(&self, changed: &BTreeMap<u16, Hash>) -> Result<Hash, StateError> {
        (**self).app_hash_after(changed)
    }
}

/// What a block (or genesis) changes, ready to be committed atomically.
#[derive(
    Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, BorshSerialize, BorshDeserialize,
)]
pub struct WriteSet {
    /// New values; `None` deletes the key.
    pub puts: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// New hashes of the touched buckets ([`Hash::ZERO`] for a bucket that became empty).
    pub bucket_hashes: BTreeMap<u16, Hash>,
    /// The app hash after the writes.
    pub app_hash: Hash,
}

/// Pending writes over a [`StateReader`]; reads see the pending writes first.
///
/// An `Overlay` is itself a `StateReader`, so overlays nest: the executor runs each call in a child
/// overlay and merges its writes ([`Overlay::into_puts`], [`Overlay::extend`]) only on success.
pub struct Overlay<'a, R: StateReader> {
    reader: &'a R,
    pending: Puts,
}

impl<'a, R: StateReader> Overlay<'a, R> {
    /// An overlay with no pending writes.
    pub fn new(reader: &'a R) -> Self {
        Overlay {
            reader,
            pending: BTreeMap::new(),
        }
    }

    /// The value of `key`, pending writes first.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        match self.pending.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.reader.get(key),
        }
    }

    /// Sets `key` to `value`.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.pending.insert(key, Some(value));
    }

    /// Deletes `key`.
    pub fn delete(&mut self, key: Vec<u8>) {
        self.pending.insert(key, None);
    }

    /// The pending writes.
    pub fn pending(&self) -> &Puts {
        &self.pending
    }

    /// Gives up the pending writes (to merge them into a parent overlay).
    pub fn into_puts(self) -> Puts {
        self.pending
    }

    /// Adds `puts` on top of the pending writes.
    pub fn extend(&mut self, puts: Puts) {
        self.pending.extend(puts);
    }

    fn merged_bucket(&self, bucket: u16) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, StateError> {
        let mut entries: BTreeMap<Vec<u8>, Vec<u8>> =
            self.reader.bucket_entries(bucket)?.into_iter().collect();
        for (k, v) in &self.pending {
            if bucket_of(k) == bucket {
                match v {
                    Some(v) => entries.insert(k.clone(), v.clone()),
                    None => entries.remove(k),
                };
            }
        }
        Ok(entries)
    }

    /// Recomputes the touched buckets and the app hash and returns everything to commit.
    pub fn finish(self) -> Result<WriteSet, StateError> {
        // The writes of each touched bucket, in key order (`pending` is sorted by key).
        type Writes<'k> = Vec<(&'k [u8], Option<Hash>)>;
        let mut touched: BTreeMap<u16, Writes<'_>> = BTreeMap::new();
        for (k, v) in &self.pending {
            touched
                .entry(bucket_of(k))
                .or_default()
                .push((k.as_slice(), v.as_deref().map(Hash::digest)));
        }
        let buckets: Vec<u16> = touched.keys().copied().collect();
        let stored = self.reader.bucket_value_hashes(&buckets)?;
        if stored.len() != buckets.len() {
            return Err(StateError(format!(
                "asked for {} buckets, storage returned {}",
                buckets.len(),
                stored.len()
            )));
        }
        let mut bucket_hashes = BTreeMap::new();
        for ((bucket, writes), stored) in touched.iter().zip(stored) {
            bucket_hashes.insert(*bucket, merged_bucket_hash(&stored, writes));
        }
        let app_hash = self.reader.app_hash_after(&bucket_hashes)?;
        Ok(WriteSet {
            puts: self.pending,
            bucket_hashes,
            app_hash,
        })
    }
}

impl<R: StateReader> StateReader for Overlay<'_, R> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Overlay::get(self, key)
    }

    fn bucket_entries(&self, bucket: u16) -> Result<Vec<Entry>, StateError> {
        Ok(self.merged_bucket(bucket)?.into_iter().collect())
    }

    fn bucket_hash(&self, bucket: u16) -> Result<Hash, StateError> {
        if self.pending.keys().any(|k| bucket_of(k) == bucket) {
            let entries = self.merged_bucket(bucket)?;
            Ok(bucket_hash_of(
                entries.iter().map(|(k, v)| (k.as_slice(), v.as_slice())),
            ))
        } else {
            self.reader.bucket_hash(bucket)
        }
    }

    fn all_bucket_hashes(&self) -> Result<Vec<Hash>, StateError> {
        let mut all = self.reader.all_bucket_hashes()?;
        let touched: std::collections::BTreeSet<u16> =
            self.pending.keys().map(|k| bucket_of(k)).collect();
        for bucket in touched {
            let entries = self.merged_bucket(bucket)?;
            let h = bucket_hash_of(entries.iter().map(|(k, v)| (k.as_slice(), v.as_slice())));
            if let Some(slot) = all.get_mut(usize::from(bucket)) {
                *slot = h;
            }
        }
        Ok(all)
    }
}

/// The app hash recomputed from every bucket's entries (ignores stored bucket hashes): a check that
/// costs a full state scan.
pub fn compute_app_hash_full(reader: &impl StateReader) -> Result<Hash, StateError> {
    let mut hashes = Vec::with_capacity(BUCKETS);
    for bucket in 0..BUCKETS as u16 {
        let entries = reader.bucket_entries(bucket)?;
        hashes.push(bucket_hash_of(
            entries.iter().map(|(k, v)| (k.as_slice(), v.as_slice())),
        ));
    }
    Ok(app_hash_of(&hashes))
}

/// An in-memory [`StateReader`] (tests, the client's light checks).
#[derive(Debug, Clone)]
pub struct MemStore {
    buckets: BTreeMap<u16, BTreeMap<Vec<u8>, Vec<u8>>>,
    bucket_hashes: BTreeMap<u16, Hash>,
    app_hash: Hash,
}

impl Default for MemStore {
    fn default() -> Self {
        MemStore::new()
    }
}

impl MemStore {
    /// The empty state.
    pub fn new() -> MemStore {
        MemStore {
            buckets: BTreeMap::new(),
            bucket_hashes: BTreeMap::new(),
            app_hash: empty_app_hash(),
        }
    }

    /// Commits `writes`.
    pub fn apply(&mut self, writes: &WriteSet) {
        for (k, v) in &writes.puts {
            let bucket = bucket_of(k);
            match v {
                Some(v) => {
                    self.buckets
                        .entry(bucket)
                        .or_default()
                        .insert(k.clone(), v.clone());
                }
                None => {
                    if let Some(entries) = self.buckets.get_mut(&bucket) {
                        entries.remove(k);
                        if entries.is_empty() {
                            self.buckets.remove(&bucket);
                        }
                    }
                }
            }
        }
        for (bucket, h) in &writes.bucket_hashes {
            if *h == Hash::ZERO {
                self.bucket_hashes.remove(bucket);
            } else {
                self.bucket_hashes.insert(*bucket, *h);
            }
        }
        self.app_hash = writes.app_hash;
    }

    /// The app hash of the committed state.
    pub fn app_hash(&self) -> Hash {
        self.app_hash
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.buckets.values().map(BTreeMap::len).sum()
    }

    /// Whether the state is empty.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

impl StateReader for MemStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StateError> {
        Ok(self
            .buckets
            .get(&bucket_of(key))
            .and_then(|b| b.get(key))
            .cloned())
    }

    fn bucket_entries(&self, bucket: u16) -> Result<Vec<Entry>, StateError> {
        Ok(self
            .buckets
            .get(&bucket)
            .map(|b| b.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default())
    }

    fn bucket_hash(&self, bucket: u16) -> Result<Hash, StateError> {
        Ok(self
            .bucket_hashes
            .get(&bucket)
            .copied()
            .unwrap_or(Hash::ZERO))
    }
}

/// A neighbouring entry in an exclusion proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Neighbor {
    /// The neighbour's key.
    #[serde(with = "hex_bytes")]
    pub key: Vec<u8>,
    /// `sha256` of its value.
    pub value_hash: Hash,
    /// Its proof inside the bucket.
    pub proof: merkle::Proof,
}

/// How a key is placed inside its bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
#[serde(rename_all = "snake_case")]
pub enum BucketProof {
    /// The key is present: the proof of its leaf.
    Present(merkle::Proof),
    /// The key is absent: its sorted neighbours inside the bucket (none for an empty bucket), which are
    /// adjacent leaves (or the first/last leaf) with `left.key < key < right.key`.
    Absent {
        /// Greatest key below, if any.
        left: Option<Neighbor>,
        /// Least key above, if any.
        right: Option<Neighbor>,
    },
}

/// A proof that a key has a given value (or none) under an app hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct StateProof {
    /// The key's bucket.
    pub bucket: u16,
    /// Placement inside the bucket.
    pub in_bucket: BucketProof,
    /// The bucket hash's proof under the app hash.
    pub bucket_proof: merkle::Proof,
}

/// Builds the proof for `key` (inclusion if present, exclusion otherwise) over the committed state.
pub fn prove(reader: &impl StateReader, key: &[u8]) -> Result<StateProof, StateError> {
    prove_with(reader, key, |bucket| {
        let bucket_hashes = reader.all_bucket_hashes()?;
        merkle::proof(&bucket_hashes, usize::from(bucket))
            .ok_or_else(|| StateError(format!("no bucket {bucket}")))
    })
}

/// [`prove`], with the bucket's proof under the app hash from `bucket_proof` (e.g. from a kept
/// [`merkle::Tree`] of the bucket hashes, rather than a scan of all of them).
pub fn prove_with(
    reader: &impl StateReader,
    key: &[u8],
    bucket_proof: impl FnOnce(u16) -> Result<merkle::Proof, StateError>,
) -> Result<StateProof, StateError> {
    let bucket = bucket_of(key);
    let entries = reader.bucket_entries(bucket)?;
    let leaves: Vec<Hash> = entries.iter().map(|(k, v)| leaf_hash(k, v)).collect();
    let proof_at = |i: usize| {
        merkle::proof(&leaves, i)
            .ok_or_else(|| StateError(format!("no leaf {i} in bucket {bucket}")))
    };
    let in_bucket = match entries.binary_search_by(|(k, _)| k.as_slice().cmp(key)) {
        Ok(i) => BucketProof::Present(proof_at(i)?),
        Err(i) => {
            let neighbor = |j: usize| -> Result<Neighbor, StateError> {
                Ok(Neighbor {
                    key: entries[j].0.clone(),
                    value_hash: Hash::digest(&entries[j].1),
                    proof: proof_at(j)?,
                })
            };
            BucketProof::Absent {
                left: if i > 0 { Some(neighbor(i - 1)?) } else { None },
                right: if i < entries.len() {
                    Some(neighbor(i)?)
                } else {
                    None
                },
            }
        }
    };
    let bucket_proof = bucket_proof(bucket)?;
    Ok(StateProof {
        bucket,
        in_bucket,
        bucket_proof,
    })
}

impl StateProof {
    /// Whether, under `app_hash`, `key` has `value` (`Some`) or is absent (`None`).
    pub fn verify(&self, key: &[u8], value: Option<&[u8]>, app_hash: &Hash) -> bool {
        if bucket_of(key) != self.bucket
            || self.bucket_proof.index != u64::from(self.bucket)
            || self.bucket_proof.total != BUCKETS as u64
        {
            return false;
        }
        let bucket_hash = match (&self.in_bucket, value) {
            (BucketProof::Present(p), Some(v)) => p.compute_root(&leaf_hash(key, v)),
            (BucketProof::Absent { left, right }, None) => absent_root(key, left, right),
            _ => None,
        };
        match bucket_hash {
            Some(h) => self.bucket_proof.verify(&h, app_hash),
            None => false,
        }
    }
}

fn neighbor_root(n: &Neighbor) -> Option<Hash> {
    n.proof
        .compute_root(&leaf_hash_with_value_hash(&n.key, &n.value_hash))
}

fn absent_root(key: &[u8], left: &Option<Neighbor>, right: &Option<Neighbor>) -> Option<Hash> {
    match (left, right) {
        (None, None) => Some(Hash::ZERO),
        (Some(l), None) => {
            (l.key.as_slice() < key && l.proof.index + 1 == l.proof.total).then_some(())?;
            neighbor_root(l)
        }
        (None, Some(r)) => {
            (key < r.key.as_slice() && r.proof.index == 0).then_some(())?;
            neighbor_root(r)
        }
        (Some(l), Some(r)) => {
            let ok = l.key.as_slice() < key
                && key < r.key.as_slice()
                && l.proof.total == r.proof.total
                && l.proof.index + 1 == r.proof.index;
            ok.then_some(())?;
            let root = neighbor_root(l)?;
            (neighbor_root(r)? == root).then_some(root)
        }
    }
}

/// Reads and decodes the value of `key`; an undecodable value is a storage fault.
pub(crate) fn get_decoded<T: BorshDeserialize>(
    reader: &impl StateReader,
    key: &[u8],
) -> Result<Option<T>, StateError> {
    match reader.get(key)? {
        None => Ok(None),
        Some(bytes) => {
            crate::primitives::codec::decode(&bytes, crate::primitives::codec::MAX_BLOCK_BYTES)
                .map(Some)
                .map_err(|e| StateError(format!("corrupt value at {}: {e}", hex::encode(key))))
        }
    }
}

/// Encodes `value` and writes it at `key`.
pub(crate) fn put_encoded<R: StateReader, T: BorshSerialize>(
    ov: &mut Overlay<'_, R>,
    key: Vec<u8>,
    value: &T,
) {
    ov.put(key, crate::primitives::codec::encode(value));
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn commit(store: &mut MemStore, ops: &[(Vec<u8>, Option<Vec<u8>>)]) -> WriteSet {
        let mut ov = Overlay::new(&*store);
        for (k, v) in ops {
            match v {
                Some(v) => ov.put(k.clone(), v.clone()),
                None => ov.delete(k.clone()),
            }
        }
        let ws = ov.finish().unwrap();
        store.apply(&ws);
        ws
    }

    #[test]
    fn empty_state() {
        let store = MemStore::new();
        assert_eq!(store.app_hash(), compute_app_hash_full(&store).unwrap());
        assert_ne!(store.app_hash(), Hash::ZERO);
        let p = prove(&store, b"k").unwrap();
        assert!(p.verify(b"k", None, &store.app_hash()));
        assert!(!p.verify(b"k", Some(b"v"), &store.app_hash()));
    }

    #[test]
    fn bucket_of_is_top_15_bits() {
        let h = Hash::digest(b"abc"); // ba78...
        assert_eq!((h.0[0], h.0[1]), (0xba, 0x78));
        assert_eq!(bucket_of(b"abc"), 0xba78 >> 1);
        const { assert!(BUCKETS - 1 <= u16::MAX as usize) };
        assert!((0..1000u32).all(|i| usize::from(bucket_of(&i.to_be_bytes())) < BUCKETS));
    }

    #[test]
    fn overlay_reads_through_and_nests() {
        let mut store = MemStore::new();
        commit(&mut store, &[(b"a".to_vec(), Some(b"1".to_vec()))]);
        let mut ov = Overlay::new(&store);
        assert_eq!(ov.get(b"a").unwrap(), Some(b"1".to_vec()));
        ov.put(b"b".to_vec(), b"2".to_vec());
        ov.delete(b"a".to_vec());
        {
            let mut child = Overlay::new(&ov);
            assert_eq!(child.get(b"b").unwrap(), Some(b"2".to_vec()));
            assert_eq!(child.get(b"a").unwrap(), None);
            child.put(b"c".to_vec(), b"3".to_vec());
            let puts = child.into_puts();
            ov.extend(puts);
        }
        assert_eq!(ov.get(b"c").unwrap(), Some(b"3".to_vec()));
        let overlay_root = app_hash_of(&ov.all_bucket_hashes().unwrap());
        assert_eq!(overlay_root, compute_app_hash_full(&ov).unwrap());
        let ws = ov.finish().unwrap();
        assert_eq!(ws.app_hash, overlay_root);
        store.apply(&ws);
        assert_eq!(store.len(), 2);
        assert_eq!(store.app_hash(), compute_app_hash_full(&store).unwrap());
    }

    fn key_strategy() -> impl Strategy<Value = Vec<u8>> {
        // A small key space so that keys repeat, collide in buckets and get deleted.
        (0u16..300).prop_map(|i| format!("k{i}").into_bytes())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        #[test]
        fn incremental_equals_full(batches in proptest::collection::vec(
            proptest::collection::vec((key_strategy(), proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8))), 0..60), 1..6)) {
            let mut store = MemStore::new();
            for ops in &batches {
                let ws = commit(&mut store, ops);
                prop_assert_eq!(ws.app_hash, compute_app_hash_full(&store).unwrap());
                for b in 0..BUCKETS as u16 {
                    let e = store.bucket_entries(b).unwrap();
                    prop_assert_eq!(store.bucket_hash(b).unwrap(),
                        bucket_hash_of(e.iter().map(|(k, v)| (k.as_slice(), v.as_slice()))));
                }
            }
            // Proofs for present and absent keys.
            let root = store.app_hash();
            for i in (0u16..300).step_by(23) {
                let key = format!("k{i}").into_bytes();
                let value = store.get(&key).unwrap();
                let p = prove(&store, &key).unwrap();
                prop_assert!(p.verify(&key, value.as_deref(), &root));
                prop_assert!(!p.verify(&key, Some(b"forged-value-xyz"), &root));
                if value.is_some() {
                    prop_assert!(!p.verify(&key, None, &root));
                }
            }
        }
    }

    #[test]
    fn exclusion_cannot_hide_a_present_key() {
        let mut store = MemStore::new();
        let ops: Vec<_> = (0u16..2000)
            .map(|i| (format!("k{i}").into_bytes(), Some(vec![1])))
            .collect();
        commit(&mut store, &ops);
        let root = store.app_hash();
        // Find two keys in the same bucket; an absence proof built for a missing key must not verify
        // for a present one.
        let present = b"k5".to_vec();
        let p = prove(&store, &present).unwrap();
        assert!(p.verify(&present, Some(&[1]), &root));
        assert!(!p.verify(&present, None, &root));
        let missing = b"zz-missing".to_vec();
        let p = prove(&store, &missing).unwrap();
        assert!(p.verify(&missing, None, &root));
        assert!(!p.verify(&missing, Some(&[1]), &root));
        assert!(!p.verify(&present, None, &root));
    }
}
