//! Binary Merkle tree in the style of RFC 6962, with domain-separated leaves and nodes.
//!
//! The input to [`root`] and [`proof`] is a list of *leaf data hashes* (a tx hash, a receipt hash, a state
//! leaf hash, ...). Each is wrapped as the tree leaf `sha256(0x00 ‖ h)`; inner nodes are
//! `sha256(0x01 ‖ left ‖ right)`. Levels are built pairwise from the left; an odd last node is promoted
//! unchanged to the next level. The root of an empty list is [`Hash::ZERO`].

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::primitives::crypto::{sha256, Hash};

const LEAF_PREFIX: &[u8] = &[0x00];
const NODE_PREFIX: &[u8] = &[0x01];

/// The tree leaf for the leaf data hash `data`: `sha256(0x00 ‖ data)`.
pub fn leaf(data: &Hash) -> Hash {
    sha256(&[LEAF_PREFIX, &data.0])
}

/// An inner node: `sha256(0x01 ‖ left ‖ right)`.
pub fn node(left: &Hash, right: &Hash) -> Hash {
    sha256(&[NODE_PREFIX, &left.0, &right.0])
}

fn next_level(level: &[Hash]) -> Vec<Hash> {
    level
        .chunks(2)
        .map(|pair| match pair {
            [l, r] => node(l, r),
            [single] => *single,
            _ => Hash::ZERO, // chunks(2) yields 1 or 2 items
        })
        .collect()
}

/// The root over the leaf data hashes `leaves` (see the module doc); [`Hash::ZERO`] when empty.
pub fn root(leaves: &[Hash]) -> Hash {
    if leaves.is_empty() {
        return Hash::ZERO;
    }
    let mut level: Vec<Hash> = leaves.iter().map(leaf).collect();
    while level.len() > 1 {
        level = next_level(&level);
    }
    level[0]
}

/// Every level of the tree over a fixed number of leaves, so that changing a few leaves recomputes
/// only the nodes above them: [`Tree::root`] always equals [`root`] of the current leaf data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tree {
    /// `levels[0]` holds the tree leaves (`leaf(data)`), the last level the root alone.
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    /// The tree over `leaves` (leaf data hashes, as for [`root`]).
    pub fn new(leaves: &[Hash]) -> Tree {
        let mut levels = vec![leaves.iter().map(leaf).collect::<Vec<_>>()];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let next = levels.last().map(|l| next_level(l)).unwrap_or_default();
            levels.push(next);
        }
        Tree { levels }
    }

    /// Number of leaves.
    pub fn len(&self) -> usize {
        self.levels.first().map_or(0, Vec::len)
    }

    /// Whether the tree has no leaves.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The root ([`Hash::ZERO`] when empty).
    pub fn root(&self) -> Hash {
        match self.levels.last() {
            Some(top) if top.len() == 1 => top[0],
            _ => Hash::ZERO,
        }
    }

    /// The inclusion proof of leaf `index` (equal to [`proof`] over the current leaf data), or
    /// `None` when `index` is out of range: the siblings are read from the kept levels.
    pub fn proof(&self, index: usize) -> Option<Proof> {
        let total = self.len();
        if index >= total {
            return None;
        }
        let mut siblings = Vec::new();
        let mut idx = index;
        for level in &self.levels {
            if level.len() <= 1 {
                break;
            }
            if let Some(s) = level.get(idx ^ 1) {
                siblings.push(*s);
            }
            idx /= 2;
        }
        Some(Proof {
            index: index as u64,
            total: total as u64,
            siblings,
        })
    }

    /// Sets the leaf data of the given positions and recomputes the nodes above them, each once.
    /// Positions past the end are ignored (the leaf count is fixed).
    pub fn update(&mut self, changes: impl IntoIterator<Item = (usize, Hash)>) {
        let mut dirty: Vec<usize> = Vec::new();
        if let Some(leaves) = self.levels.first_mut() {
            for (i, data) in changes {
                if let Some(slot) = leaves.get_mut(i) {
                    *slot = leaf(&data);
                    dirty.push(i);
                }
            }
        }
        for depth in 1..self.levels.len() {
            for d in dirty.iter_mut() {
                *d /= 2;
            }
            dirty.sort_unstable();
            dirty.dedup();
            let (below, above) = self.levels.split_at_mut(depth);
            let (children, parents) = (&below[depth - 1], &mut above[0]);
            for &p in &dirty {
                let value = match (children.get(2 * p), children.get(2 * p + 1)) {
                    (Some(l), Some(r)) => node(l, r),
                    (Some(single), None) => *single,
                    _ => continue,
                };
                if let Some(slot) = parents.get_mut(p) {
                    *slot = value;
                }
            }
        }
    }
}

/// An inclusion proof: the sibling hashes from the leaf level up (promoted levels contribute none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Proof {
    /// Position of the leaf.
    pub index: u64,
    /// Number of leaves in the tree.
    pub total: u64,
    /// Siblings, bottom-up.
    pub siblings: Vec<Hash>,
}

/// The proof for `leaves[index]`, or `None` when `index` is out of range.
pub fn proof(leaves: &[Hash], index: usize) -> Option<Proof> {
    if index >= leaves.len() {
        return None;
    }
    let mut siblings = Vec::new();
    let mut level: Vec<Hash> = leaves.iter().map(leaf).collect();
    let mut idx = index;
    while level.len() > 1 {
        let sibling = idx ^ 1;
        if sibling < level.len() {
            siblings.push(level[sibling]);
        }
        level = next_level(&level);
        idx /= 2;
    }
    Some(Proof {
        index: index as u64,
        total: leaves.len() as u64,
        siblings,
    })
}

impl Proof {
    /// The root this proof yields for the leaf data hash `leaf_data`, or `None` if the proof is malformed
    /// (index out of range, wrong number of siblings).
    pub fn compute_root(&self, leaf_data: &Hash) -> Option<Hash> {
        if self.index >= self.total {
            return None;
        }
        let mut acc = leaf(leaf_data);
        let mut idx = self.index;
        let mut n = self.total;
        let mut siblings = self.siblings.iter();
        while n > 1 {
            if idx % 2 == 1 {
                acc = node(siblings.next()?, &acc);
            } else if idx + 1 < n {
                acc = node(&acc, siblings.next()?);
            }
            idx /= 2;
            n = n.div_ceil(2);
        }
        if siblings.next().is_some() {
            return None;
        }
        Some(acc)
    }

    /// Whether `leaf_data` is the leaf at `self.index` of the tree with root `root`.
    pub fn verify(&self, leaf_data: &Hash, root: &Hash) -> bool {
        self.compute_root(leaf_data).as_ref() == Some(root)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n as u32)
            .map(|i| Hash::digest(&i.to_be_bytes()))
            .collect()
    }

    #[test]
    fn tree_proofs_equal_list_proofs() {
        for n in [1usize, 2, 3, 5, 8, 13] {
            let l = leaves(n);
            let tree = Tree::new(&l);
            for i in 0..n {
                assert_eq!(tree.proof(i), proof(&l, i), "n={n} i={i}");
            }
            assert_eq!(tree.proof(n), None);
        }
    }

    #[test]
    fn small_trees() {
        assert_eq!(root(&[]), Hash::ZERO);
        let l = leaves(3);
        assert_eq!(root(&l[..1]), leaf(&l[0]));
        assert_eq!(root(&l[..2]), node(&leaf(&l[0]), &leaf(&l[1])));
        assert_eq!(
            root(&l),
            node(&node(&leaf(&l[0]), &leaf(&l[1])), &leaf(&l[2]))
        );
        assert!(proof(&l, 3).is_none());
        assert!(proof(&[], 0).is_none());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn cached_tree_root_equals_a_full_recomputation(
            n in 0usize..80,
            rounds in proptest::collection::vec(proptest::collection::vec((0usize..90, any::<u8>()), 0..12), 1..5),
        ) {
            let mut data = leaves(n);
            let mut tree = Tree::new(&data);
            prop_assert_eq!(tree.root(), root(&data));
            prop_assert_eq!(tree.len(), n);
            for changes in rounds {
                let changes: Vec<(usize, Hash)> =
                    changes.into_iter().map(|(i, b)| (i, Hash::digest(&[b, i as u8]))).collect();
                for (i, h) in &changes {
                    if let Some(slot) = data.get_mut(*i) {
                        *slot = *h;
                    }
                }
                tree.update(changes);
                prop_assert_eq!(tree.root(), root(&data));
                prop_assert_eq!(&tree, &Tree::new(&data));
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn proofs_verify_and_tampering_fails(n in 1usize..70, seed: u64) {
            let l: Vec<Hash> = (0..n as u64).map(|i| Hash::digest(&[seed.to_be_bytes(), i.to_be_bytes()].concat())).collect();
            let r = root(&l);
            for (i, item) in l.iter().enumerate() {
                let p = proof(&l, i).unwrap();
                prop_assert!(p.verify(item, &r));
                // tampered leaf
                prop_assert!(!p.verify(&Hash::digest(b"other"), &r));
                // tampered siblings
                for s in 0..p.siblings.len() {
                    let mut q = p.clone();
                    q.siblings[s].0[0] ^= 1;
                    prop_assert!(!q.verify(item, &r));
                }
                // tampered index
                for j in 0..n as u64 {
                    if j != i as u64 {
                        let mut q = p.clone();
                        q.index = j;
                        prop_assert!(!q.verify(item, &r));
                    }
                }
                let mut q = p.clone();
                q.index = n as u64;
                prop_assert!(!q.verify(item, &r));
                // extra sibling
                let mut q = p.clone();
                q.siblings.push(Hash::ZERO);
                prop_assert!(!q.verify(item, &r));
            }
        }
    }
}
