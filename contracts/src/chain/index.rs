//! Per-key lists of ids, so that a payer, a payee, a store or a guardian can list "their"
//! collections, orders or bindings without a scan of the state.
//!
//! A list lives in its contract's namespace `ns` (e.g. `col/`): `{ns}idx/n/{key}` holds its length
//! and `{ns}idx/i/{key}/{u64be position}` each id, in the order they were added. Adding is O(1)
//! writes; reading the newest `limit` ids is O(limit) reads.

use crate::chain::state::{get_decoded, put_encoded, Overlay, StateError, StateReader};
use crate::primitives::crypto::{Hash, PublicKey};

fn len_key(ns: &[u8], owner: &PublicKey) -> Vec<u8> {
    [ns, b"idx/n/", &owner.0[..]].concat()
}

fn item_key(ns: &[u8], owner: &PublicKey, pos: u64) -> Vec<u8> {
    [ns, b"idx/i/", &owner.0[..], b"/", &pos.to_be_bytes()].concat()
}

/// Appends `id` to `owner`'s list in `ns`.
pub(crate) fn push<R: StateReader>(
    ov: &mut Overlay<'_, R>,
    ns: &[u8],
    owner: &PublicKey,
    id: &Hash,
) -> Result<(), StateError> {
    let n: u64 = get_decoded(ov, &len_key(ns, owner))?.unwrap_or(0);
    put_encoded(ov, item_key(ns, owner, n), id);
    put_encoded(ov, len_key(ns, owner), &n.saturating_add(1));
    Ok(())
}

/// The newest `limit` ids of `owner`'s list in `ns`, newest first, and whether older ones were
/// left out.
pub fn newest(
    reader: &impl StateReader,
    ns: &[u8],
    owner: &PublicKey,
    limit: usize,
) -> Result<(Vec<Hash>, bool), StateError> {
    let n: u64 = get_decoded(reader, &len_key(ns, owner))?.unwrap_or(0);
    let take = n.min(limit as u64);
    let mut out = Vec::with_capacity(take as usize);
    for pos in (n - take..n).rev() {
        if let Some(id) = get_decoded::<Hash>(reader, &item_key(ns, owner, pos))? {
            out.push(id);
        }
    }
    Ok((out, take < n))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::chain::state::MemStore;

    #[test]
    fn lists_are_per_key_and_newest_first() {
        let store = MemStore::new();
        let mut ov = Overlay::new(&store);
        let (a, b) = (PublicKey([1; 32]), PublicKey([2; 32]));
        for i in 0..5u8 {
            push(&mut ov, b"t/", &a, &Hash([i; 32])).unwrap();
        }
        push(&mut ov, b"t/", &b, &Hash([9; 32])).unwrap();
        push(&mut ov, b"u/", &a, &Hash([8; 32])).unwrap();
        let (ids, more) = newest(&ov, b"t/", &a, 3).unwrap();
        assert_eq!(ids, vec![Hash([4; 32]), Hash([3; 32]), Hash([2; 32])]);
        assert!(more);
        let (ids, more) = newest(&ov, b"t/", &b, 10).unwrap();
        assert_eq!((ids, more), (vec![Hash([9; 32])], false));
        assert_eq!(
            newest(&ov, b"t/", &PublicKey([3; 32]), 10).unwrap(),
            (vec![], false)
        );
    }
}
