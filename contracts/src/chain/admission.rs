//! Who may send a transaction: only a key the chain knows, decided from committed state.
//!
//! paychain is permissioned: a transaction is executed only when its sender is
//!
//! | kind | known from | how the key got there |
//! | --- | --- | --- |
//! | [`KnownAs::Member`] | `gov/member_key/{key}` | genesis or a governance `AddMember` |
//! | [`KnownAs::Validator`] | `gov/validators` | genesis or a governance validator change (a node signs the enclave provisioning it relays) |
//! | [`KnownAs::User`] | `wal/user/{key}` | a platform's `wallet::VerifyUser` (the host signs it: onboarding is the platform's call) |
//! | [`KnownAs::Merchant`] | `reg/merchant/{derive(key)}` with that key | a platform's `registry::RegisterMerchant` |
//!
//! Every other key is refused ([`crate::chain::executor::ContractError::UnknownSender`], receipt
//! code 3) **without any state write**: no nonce entry, no balance or fee change; and the node refuses
//! it at the door (RPC, gossip) before its mempool holds it.
//!
//! The calls that onboard a party (`VerifyUser`, `OpenWallet`, `RegisterMerchant`, the card binding
//! request, `ca::RegisterPartyCert`) are signed by the platform, which is a member: the new party's
//! first own call follows its onboarding, so no call needs an exception for an unknown sender.
//!
//! **Binding parties.** A guardian binding's guardian approves it from a wallet of its own (so it is a
//! verified user) and its dependant signs the request. The dependant is *not* an exception: a
//! dependant (a child, an elder) is onboarded by a platform with `VerifyUser` like any user before
//! its `guardian::RequestBinding`. An exception for "a request naming a verified guardian" would let
//! any fresh key write a pending binding (and its index entries) against any verified user, which is
//! the state spam this rule exists to stop. Both parties of every binding are therefore known users.
//!
//! The regulator (appointed by governance) only reads; a party certificate is registered for a key
//! its platform onboarded already (users after verification, merchants at registration). Neither is a
//! kind of its own.
//!
//! Deterministic: a few point reads and one scan of the (small) validator list; no iteration order
//! of a hash map, no clock.

use std::fmt;

use crate::chain::state::{StateError, StateReader};
use crate::primitives::crypto::PublicKey;
use crate::primitives::ids::MerchantId;
use crate::{governance, registry, wallet};

/// Why a key is known to the chain (the first kind that applies, in this order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownAs {
    /// A consortium member's key.
    Member,
    /// A validator's consensus key.
    Validator,
    /// A user a platform verified (`wallet::VerifyUser`).
    User,
    /// A registered merchant's key.
    Merchant,
}

impl fmt::Display for KnownAs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KnownAs::Member => "member",
            KnownAs::Validator => "validator",
            KnownAs::User => "verified user",
            KnownAs::Merchant => "merchant",
        })
    }
}

/// What an unknown sender is told (after "sender X is not known to this chain: ").
pub const UNKNOWN_SENDER_HINT: &str =
    "not a member, validator, verified user or merchant; a platform must onboard the key first";

/// Whether `key` may send transactions, and as what; `None` for an unknown key.
pub fn known_sender(
    reader: &impl StateReader,
    key: &PublicKey,
) -> Result<Option<KnownAs>, StateError> {
    if reader.get(&governance::member_by_key_key(key))?.is_some() {
        return Ok(Some(KnownAs::Member));
    }
    if governance::validators(reader)?
        .iter()
        .any(|v| v.public_key == *key)
    {
        return Ok(Some(KnownAs::Validator));
    }
    if wallet::user(reader, key)?.is_some() {
        return Ok(Some(KnownAs::User));
    }
    if registry::merchant(reader, &MerchantId::derive(key))?.is_some_and(|m| m.merchant_key == *key)
    {
        return Ok(Some(KnownAs::Merchant));
    }
    Ok(None)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::chain::executor::{self, execute_block};
    use crate::chain::tx::Call;
    use crate::guardian;
    use crate::primitives::crypto::Hash;
    use crate::primitives::money::Currency;
    use crate::testkit::{cny, pid, pk, route, Chain, ACQ, GOV, HOST};
    use crate::wallet::{self, wallet_id};

    // 1 host-a, 2 acq-b, 3 gov-c (governor only); 50 a merchant; 20 a verified user with a
    // wallet; 30 a dependant the host verified; 250 the validator; 77 a fresh key.
    const SHOP: u8 = 50;
    const USER: u8 = 20;
    const CHILD: u8 = 30;
    const VALIDATOR: u8 = 250;
    const FRESH: u8 = 77;

    fn fixture() -> Chain {
        static FIXTURE: std::sync::OnceLock<Chain> = std::sync::OnceLock::new();
        FIXTURE
            .get_or_init(|| Chain::payments(&[(SHOP, "Shop")], &[(USER, Currency::CNY, "100.00")]))
            .clone()
    }

    fn known(c: &Chain, n: u8) -> Option<KnownAs> {
        known_sender(&c.store, &pk(n)).unwrap()
    }

    /// A payment-shaped call from `n`'s (would-be) wallet.
    fn pay(n: u8, order: &str) -> Call {
        Call::Wallet(wallet::Call::Pay {
            from_wallet: wallet_id(&pk(n), Currency::CNY),
            merchant_id: MerchantId::derive(&pk(SHOP)),
            acquirer: pid("acq-b"),
            amount: cny("1.00"),
            order_ref: order.into(),
            route: route(1, &[1]),
        })
    }

    #[test]
    fn each_kind_is_known() {
        let c = fixture();
        for m in [HOST, ACQ, GOV] {
            assert_eq!(known(&c, m), Some(KnownAs::Member), "member {m}");
        }
        assert_eq!(known(&c, VALIDATOR), Some(KnownAs::Validator));
        assert_eq!(known(&c, USER), Some(KnownAs::User));
        assert_eq!(known(&c, SHOP), Some(KnownAs::Merchant));
        assert_eq!(known(&c, FRESH), None);
        assert_eq!(KnownAs::User.to_string(), "verified user");
    }

    #[test]
    fn a_merchant_id_alone_is_not_a_key() {
        // The merchant record is found by the id derived from the key, and must name that key.
        let c = fixture();
        let m = crate::registry::merchant(&c.store, &MerchantId::derive(&pk(SHOP)))
            .unwrap()
            .unwrap();
        assert_eq!(m.merchant_key, pk(SHOP));
        assert_eq!(known(&c, SHOP + 1), None);
    }

    #[test]
    fn onboarding_by_the_platform_makes_a_key_known_even_in_the_same_block() {
        let mut c = fixture();
        assert_eq!(known(&c, FRESH), None);
        // The host verifies the key, and the key's first call follows in the same block.
        let verify = c.tx(
            HOST,
            Call::Wallet(wallet::Call::VerifyUser {
                user: pk(FRESH),
                name_hash: Hash::digest(b"n"),
                id_hash: Hash::digest(b"i"),
                phone_hash: Hash::digest(b"p"),
            }),
        );
        let first = c.tx(
            FRESH,
            Call::Store(crate::store::Call::Revoke {
                merchant_id: MerchantId::derive(&pk(SHOP)),
            }),
        );
        let r = c.run_block(vec![verify, first]);
        assert!(r[0].is_ok(), "{r:?}");
        // Known: the store contract answered (nothing to revoke), not admission.
        assert_ne!(r[1].code, 3, "{r:?}");
        assert_ne!(r[1].code, 0, "{r:?}");
        assert_eq!(known(&c, FRESH), Some(KnownAs::User));
        assert_eq!(executor::nonce(&c.store, &pk(FRESH)).unwrap(), 1);
    }

    #[test]
    fn binding_parties_are_onboarded_users_and_an_unknown_dependant_is_refused() {
        let mut c = fixture();
        let request = |g: u8| {
            Call::Guardian(guardian::Call::RequestBinding {
                guardian: pk(g),
                terminal: guardian::Terminal::new("SCH-0042", "school").unwrap(),
            })
        };
        // An unknown key asking a verified guardian: refused, and no binding is written.
        let before = c.store.app_hash();
        let r = c.call(CHILD, request(USER));
        assert_eq!(r.code, 3, "{r:?}");
        assert_eq!(c.store.app_hash(), before);
        assert!(guardian::bindings_of(&c.store, &pk(USER), 10)
            .unwrap()
            .0
            .is_empty());
        // Once its platform verified it, the dependant requests; both parties are known users.
        c.verify_user(HOST, CHILD);
        let r = c.call(CHILD, request(USER));
        assert!(r.is_ok(), "{r:?}");
        assert_eq!(known(&c, CHILD), Some(KnownAs::User));
        assert_eq!(known(&c, USER), Some(KnownAs::User));
    }

    #[test]
    fn an_unknown_sender_is_refused_without_any_state_write() {
        let mut c = fixture();
        let before = c.store.clone();
        let app_hash = c.store.app_hash();
        // A payment-shaped call at nonce 0, and a gap nonce from the same key.
        let t0 = c.tx(FRESH, pay(FRESH, "o-1"));
        let gap = {
            let mut t = c.tx(FRESH, pay(FRESH, "o-2"));
            t = crate::chain::tx::SignedTx::sign(
                crate::chain::tx::Transaction {
                    nonce: 40,
                    ..t.tx.clone()
                },
                &crate::testkit::key(FRESH),
            );
            t
        };
        let block = c.block(vec![t0, gap]);
        // Every validator executing the block gets the same outcome: nothing written.
        let a = execute_block(&c.store, &block).unwrap();
        let b = execute_block(&before, &block).unwrap();
        assert_eq!(a, b);
        assert!(a.writes.puts.is_empty(), "{:?}", a.writes.puts.len());
        assert_eq!(a.writes.app_hash, app_hash);
        for r in &a.receipts {
            assert_eq!(r.code, 3, "{r:?}");
            let msg = r.error.as_deref().unwrap();
            assert!(
                msg.starts_with(&format!(
                    "sender {} is not known to this chain: ",
                    pk(FRESH)
                )),
                "{msg}"
            );
        }
        // Through block validation too (the gap nonce alone makes a block invalid), then no nonce
        // entry for the key, and the next honest payment still goes through.
        let r = c.run_block(block.txs[..1].to_vec());
        assert_eq!(r[0].code, 3, "{r:?}");
        assert_eq!(executor::nonce(&c.store, &pk(FRESH)).unwrap(), 0);
        assert_eq!(c.store.app_hash(), app_hash);
        let honest = c.call(USER, pay(USER, "honest-1"));
        assert!(honest.is_ok(), "{honest:?}");
        c.check_app_hash();
    }
}
