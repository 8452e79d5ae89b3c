#![allow(clippy::unwrap_used)]

use super::*;
use crate::chain::tx::Call;
use crate::primitives::crypto::SecretKey;

fn chain() -> ChainId {
    ChainId::new("paychain-private")
}

fn vault() -> Vault {
    Vault::from_secret(&[3; 32], &chain()).unwrap()
}

fn rand(n: u8) -> BoxRandomness {
    BoxRandomness::new([n; 32], [n; 12])
}

fn settle() -> Call {
    Call::Wallet(crate::wallet::Call::Settle {
        merchant_id: crate::primitives::ids::MerchantId::derive(
            &SecretKey::from_seed([5; 32]).public_key(),
        ),
        amount: None,
    })
}

#[test]
fn private_keys_are_blinded_and_values_sealed_deterministically() {
    let v = vault();
    let key = b"wal/wallet/abc".to_vec();
    let pk = v.physical_key(&key);
    assert!(pk.starts_with(PHYSICAL_PREFIX) && pk.len() == PHYSICAL_PREFIX.len() + 32);
    assert!(!contains(&pk, b"abc"));
    // Public keys stay as they are.
    assert_eq!(v.physical_key(b"gov/members"), b"gov/members".to_vec());
    assert_eq!(v.physical_key(b"wal/user/x"), b"wal/user/x".to_vec());
    let a = v.seal_value(&pk, b"balance 12.34").unwrap();
    assert_eq!(
        a,
        v.seal_value(&pk, b"balance 12.34").unwrap(),
        "deterministic"
    );
    assert_ne!(a, v.seal_value(&pk, b"balance 12.35").unwrap());
    assert!(!contains(&a, b"12.34"));
    assert_eq!(&v.open_value(&pk, &a).unwrap()[..], b"balance 12.34");
    // Another chain's vault from the same secret blinds and seals differently.
    let other = Vault::from_secret(&[3; 32], &ChainId::new("paychain-other")).unwrap();
    assert_ne!(other.physical_key(&key), pk);
    assert!(other.open_value(&pk, &a).is_err());
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_value_moved_tampered_or_cut_does_not_open() {
    let v = vault();
    let a_key = v.physical_key(b"wal/wallet/a");
    let b_key = v.physical_key(b"wal/wallet/b");
    let sealed = v.seal_value(&a_key, b"100.00").unwrap();
    // Moved to another slot (an operator swapping two balances).
    assert_eq!(
        v.open_value(&b_key, &sealed),
        Err(PrivateError::Corrupt("authentication failed"))
    );
    let mut flipped = sealed.clone();
    *flipped.last_mut().unwrap() ^= 1;
    assert!(v.open_value(&a_key, &flipped).is_err());
    assert!(v.open_value(&a_key, &sealed[..10]).is_err());
    assert!(v.open_value(&a_key, &[]).is_err());
    let mut version = sealed;
    version[0] = 9;
    assert_eq!(
        v.open_value(&a_key, &version),
        Err(PrivateError::Corrupt("unknown format"))
    );
}

#[test]
fn a_sealed_call_opens_only_for_its_sender_nonce_and_chain() {
    let v = vault();
    let sender = SecretKey::from_seed([8; 32]).public_key();
    let other = SecretKey::from_seed([9; 32]).public_key();
    let sealed = seal_call(&v.exec_public(), &chain(), &sender, 4, &settle(), &rand(1)).unwrap();
    assert_eq!(
        v.open_call(&chain(), &sender, 4, &sealed).unwrap(),
        settle()
    );
    assert_eq!(
        v.open_call(&chain(), &other, 4, &sealed),
        Err(PrivateError::CallDoesNotOpen)
    );
    assert_eq!(
        v.open_call(&chain(), &sender, 5, &sealed),
        Err(PrivateError::CallDoesNotOpen)
    );
    let elsewhere = ChainId::new("paychain-other");
    assert_eq!(
        v.open_call(&elsewhere, &sender, 4, &sealed),
        Err(PrivateError::CallDoesNotOpen)
    );
    // Sealed to a key that is not the exec key: the enclaves cannot open it.
    let wrong = KxSecret::from_seed([1; 32]).public_key();
    let sealed = seal_call(&wrong, &chain(), &sender, 4, &settle(), &rand(2)).unwrap();
    assert!(v.open_call(&chain(), &sender, 4, &sealed).is_err());
    // Another epoch than the one the key is of.
    let mut sealed =
        seal_call(&v.exec_public(), &chain(), &sender, 4, &settle(), &rand(3)).unwrap();
    sealed.epoch = 1;
    assert!(v.open_call(&chain(), &sender, 4, &sealed).is_err());
}

#[test]
fn only_payment_calls_travel_sealed_and_oversized_ones_are_refused() {
    let v = vault();
    let sender = SecretKey::from_seed([8; 32]).public_key();
    let gov = Call::Governance(crate::governance::Call::Vote {
        proposal: 1,
        approve: true,
    });
    assert_eq!(
        seal_call(&v.exec_public(), &chain(), &sender, 0, &gov, &rand(1)),
        Err(PrivateError::CallNotAllowed)
    );
    // A client that seals a governance call by hand: opened, then refused.
    let aad = call_aad(&chain(), &sender, 0, 0);
    let boxed = box_seal(
        CALL_DOMAIN,
        &v.exec_public(),
        &rand(2),
        &aad,
        &codec::encode(&gov),
    )
    .unwrap();
    let key =
        crate::enclave::kx::box_seal_key(CALL_DOMAIN, &v.exec_public(), &rand(2), &aad).unwrap();
    let sealed = SealedCall {
        epoch: 0,
        sealed: boxed,
        key_commitment: key_commitment(&key),
    };
    assert_eq!(
        v.open_call(&chain(), &sender, 0, &sealed),
        Err(PrivateError::CallNotAllowed)
    );
    // Bytes that are no call at all.
    let boxed = box_seal(CALL_DOMAIN, &v.exec_public(), &rand(3), &aad, &[0xff; 40]).unwrap();
    let key =
        crate::enclave::kx::box_seal_key(CALL_DOMAIN, &v.exec_public(), &rand(3), &aad).unwrap();
    let sealed = SealedCall {
        epoch: 0,
        sealed: boxed,
        key_commitment: key_commitment(&key),
    };
    assert_eq!(
        v.open_call(&chain(), &sender, 0, &sealed),
        Err(PrivateError::Malformed("inner call"))
    );
    let mut big = seal_call(&v.exec_public(), &chain(), &sender, 0, &settle(), &rand(4)).unwrap();
    big.sealed.ciphertext = vec![0; MAX_SEALED_CALL_BYTES + 1];
    assert_eq!(
        v.open_call(&chain(), &sender, 0, &big),
        Err(PrivateError::Malformed("too large"))
    );
}

#[test]
fn receipt_details_open_only_for_their_transaction() {
    let v = vault();
    let details = ReceiptDetails {
        error: Some("insufficient balance: 12.34".into()),
        events: Vec::new(),
    };
    let tx = Hash::digest(b"tx");
    let sealed = v.seal_receipt_details(&tx, &details).unwrap();
    assert!(!contains(&sealed, b"12.34"));
    assert_eq!(v.open_receipt_details(&tx, &sealed).unwrap(), details);
    assert!(v
        .open_receipt_details(&Hash::digest(b"other"), &sealed)
        .is_err());
}

#[test]
fn a_disclosed_key_opens_its_call_only_and_a_call_without_its_commitment_is_refused() {
    let v = vault();
    let sender = SecretKey::from_seed([8; 32]).public_key();
    let sealed = seal_call(&v.exec_public(), &chain(), &sender, 4, &settle(), &rand(1)).unwrap();
    let key = v.call_key(&chain(), &sender, 4, &sealed).unwrap();
    // What a third party does with a disclosure: the key opens that call.
    assert_eq!(
        open_disclosed_call(&chain(), &sender, 4, &sealed, &key).unwrap(),
        settle()
    );
    // It opens no other call, and a made-up key opens nothing.
    let other = seal_call(&v.exec_public(), &chain(), &sender, 5, &settle(), &rand(2)).unwrap();
    assert!(open_disclosed_call(&chain(), &sender, 5, &other, &key).is_err());
    assert!(open_disclosed_call(&chain(), &sender, 4, &sealed, &[0; 32]).is_err());
    // A sender that commits to another key than the one its call is sealed under (to disclose a
    // different call later) is refused by the enclaves: the call never executes.
    let mut forged = sealed.clone();
    forged.key_commitment = key_commitment(&[9; 32]);
    assert_eq!(
        v.open_call(&chain(), &sender, 4, &forged),
        Err(PrivateError::CallDoesNotOpen)
    );
}
