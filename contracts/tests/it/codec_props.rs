//! Properties of the canonical borsh encoding on generated values: every encoded type round-trips
//! (value → bytes → the same value, and the bytes re-encode to themselves); decoding arbitrary bytes
//! as any of them never panics; input over the limit, and trailing bytes, are refused.

use proptest::prelude::*;
use rust_decimal::Decimal;

use paychain_contracts::block::{Block, Header};
use paychain_contracts::codec::{self, MAX_BLOCK_BYTES, MAX_TX_BYTES};
use paychain_contracts::crypto::{Hash, PublicKey, Signature};
use paychain_contracts::executor::{Event, Receipt};
use paychain_contracts::ids::{ChainId, MerchantId, PlatformId};
use paychain_contracts::money::{Amount, Currency};
use paychain_contracts::tx::{Call, SignedTx, Transaction};
use paychain_contracts::{registry, wallet};

fn hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(Hash)
}

fn key() -> impl Strategy<Value = PublicKey> {
    any::<[u8; 32]>().prop_map(PublicKey)
}

fn merchant() -> impl Strategy<Value = MerchantId> {
    key().prop_map(|k| MerchantId::derive(&k))
}

fn platform() -> impl Strategy<Value = PlatformId> {
    "[a-z0-9-]{1,32}".prop_map(|s| PlatformId::new(s).expect("valid"))
}

fn currency() -> impl Strategy<Value = Currency> {
    prop_oneof![
        proptest::sample::select(Currency::supported().collect::<Vec<_>>()),
        "[A-Z]{3}".prop_map(|s| Currency::new(&s).expect("three letters")),
    ]
}

/// Any decimal (the encoding does not validate amounts; the contracts do): every scale, sign.
fn amount() -> impl Strategy<Value = Amount> {
    (any::<i64>(), 0u32..=28, currency()).prop_map(|(m, scale, currency)| Amount {
        value: Decimal::new(m, scale),
        currency,
    })
}

fn text() -> impl Strategy<Value = String> {
    ".{0,24}"
}

fn wallet_call() -> impl Strategy<Value = wallet::Call> {
    prop_oneof![
        (key(), hash(), hash(), hash()).prop_map(|(user, name_hash, id_hash, phone_hash)| {
            wallet::Call::VerifyUser {
                user,
                name_hash,
                id_hash,
                phone_hash,
            }
        }),
        (key(), currency())
            .prop_map(|(user, currency)| wallet::Call::OpenWallet { user, currency }),
        (key(), hash(), hash()).prop_map(|(user, card_hash, otp_commitment)| {
            wallet::Call::RequestCardBinding {
                user,
                card_hash,
                otp_commitment,
            }
        }),
        (hash(), text())
            .prop_map(|(binding_id, otp)| wallet::Call::ConfirmCardBinding { binding_id, otp }),
        (hash(), amount(), hash(), hash(), hash()).prop_map(
            |(wallet, amount, card_hash, request_id, sig)| wallet::Call::TopUp {
                wallet,
                amount,
                card_hash,
                mandate: wallet::TopUpMandate {
                    request_id,
                    signature: paychain_contracts::crypto::Signature(
                        [sig.0, sig.0].concat().try_into().unwrap_or([0; 64])
                    ),
                },
            }
        ),
        (
            (hash(), merchant(), platform(), amount(), text()),
            (any::<u64>(), hash())
        )
            .prop_map(
                |((from_wallet, merchant_id, acquirer, amount, order_ref), (v, h))| {
                    wallet::Call::Pay {
                        from_wallet,
                        merchant_id,
                        acquirer,
                        amount,
                        order_ref,
                        route: registry::Route {
                            record_version: v,
                            record_hash: h,
                        },
                    }
                }
            ),
        (merchant(), proptest::option::of(amount())).prop_map(|(merchant_id, amount)| {
            wallet::Call::Settle {
                merchant_id,
                amount,
            }
        }),
        (hash(), amount()).prop_map(|(payment, amount)| wallet::Call::Refund { payment, amount }),
    ]
}

fn registry_call() -> impl Strategy<Value = registry::Call> {
    prop_oneof![
        (text(), text(), text(), text(), key()).prop_map(
            |(name, city, mcc, country, merchant_key)| registry::Call::RegisterMerchant {
                name,
                city,
                mcc,
                country,
                merchant_key,
            }
        ),
        (merchant(), proptest::collection::vec(any::<u8>(), 0..64)).prop_map(
            |(merchant_id, payload)| registry::Call::PutRecord {
                merchant_id,
                payload
            }
        ),
        merchant().prop_map(|merchant_id| registry::Call::RevokeRecord { merchant_id }),
    ]
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        wallet_call().prop_map(Call::Wallet),
        registry_call().prop_map(Call::Registry),
    ]
}

fn transaction() -> impl Strategy<Value = Transaction> {
    ("[A-Za-z0-9._-]{0,64}", key(), any::<u64>(), call()).prop_map(
        |(chain_id, sender, nonce, call)| Transaction {
            chain_id: ChainId::new(chain_id),
            sender,
            nonce,
            call,
        },
    )
}

fn signed_tx() -> impl Strategy<Value = SignedTx> {
    (transaction(), proptest::collection::vec(any::<u8>(), 64))
        .prop_map(|(tx, sig)| SignedTx::new(tx, Signature(sig.try_into().expect("64 bytes"))))
}

fn header() -> impl Strategy<Value = Header> {
    (
        "[a-z-]{1,20}",
        any::<u64>(),
        any::<u64>(),
        key(),
        (hash(), hash(), hash(), hash()),
    )
        .prop_map(
            |(chain_id, height, time_ms, proposer, (a, b, c, d))| Header {
                chain_id: ChainId::new(chain_id),
                height,
                time_ms,
                proposer,
                prev_block_hash: a,
                prev_app_hash: b,
                prev_result_root: c,
                tx_root: d,
            },
        )
}

fn receipt() -> impl Strategy<Value = Receipt> {
    (
        hash(),
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
        proptest::option::of(text()),
        proptest::collection::vec(
            (text(), proptest::collection::vec((text(), text()), 0..3)),
            0..3,
        ),
    )
        .prop_map(|(tx_hash, height, index, code, error, events)| Receipt {
            tx_hash,
            height,
            index,
            code,
            error,
            events: events
                .into_iter()
                .map(|(kind, attributes)| Event { kind, attributes })
                .collect(),
        })
}

/// Round trip, canonical re-encoding, and refusal of oversize and trailing input.
fn check<T>(v: &T, limit: usize) -> Result<(), TestCaseError>
where
    T: borsh::BorshSerialize + borsh::BorshDeserialize + PartialEq + std::fmt::Debug,
{
    let bytes = codec::encode(v);
    prop_assert!(bytes.len() <= limit);
    let back: T = codec::decode(&bytes, limit).expect("a valid encoding decodes");
    prop_assert_eq!(&back, v);
    prop_assert_eq!(codec::encode(&back), bytes.clone());
    prop_assert_eq!(
        codec::decode::<T>(&bytes, bytes.len() - 1),
        Err(codec::Error::TooLarge {
            len: bytes.len(),
            max: bytes.len() - 1
        })
    );
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0, 1]);
    prop_assert_eq!(
        codec::decode::<T>(&longer, limit),
        Err(codec::Error::TrailingBytes { extra: 2 })
    );
    // Every strict prefix is refused (a truncated value never decodes).
    for cut in [0, bytes.len() / 2, bytes.len() - 1] {
        prop_assert!(codec::decode::<T>(&bytes[..cut], limit).is_err());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn every_encoded_type_round_trips(
        stx in signed_tx(),
        header in header(),
        receipt in receipt(),
        amount in amount(),
        opt in proptest::option::of(amount()),
        m in merchant(),
        p in platform(),
        c in currency(),
        more in proptest::collection::vec(signed_tx(), 0..4),
    ) {
        check(&stx, MAX_TX_BYTES)?;
        check(&stx.tx, MAX_TX_BYTES)?;
        check(&stx.tx.call, MAX_TX_BYTES)?;
        check(&header, MAX_BLOCK_BYTES)?;
        check(&receipt, MAX_BLOCK_BYTES)?;
        check(&amount, 100)?;
        check(&opt, 100)?;
        check(&m, 100)?;
        check(&p, 100)?;
        check(&c, 100)?;
        check(&Block { header, txs: more }, MAX_BLOCK_BYTES)?;
        // The signed encoding is the unsigned one followed by the 64 signature bytes.
        prop_assert_eq!(stx.to_bytes(), [codec::encode(&stx.tx), stx.signature.0.to_vec()].concat());
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        fn any_of<T: borsh::BorshSerialize + borsh::BorshDeserialize>(bytes: &[u8], limit: usize) {
            if let Ok(v) = codec::decode::<T>(bytes, limit) {
                assert_eq!(codec::encode(&v), bytes, "a non-canonical encoding was accepted");
            }
        }
        any_of::<SignedTx>(&bytes, MAX_TX_BYTES);
        any_of::<Transaction>(&bytes, MAX_TX_BYTES);
        any_of::<Call>(&bytes, MAX_TX_BYTES);
        any_of::<wallet::Call>(&bytes, MAX_TX_BYTES);
        any_of::<Block>(&bytes, MAX_BLOCK_BYTES);
        any_of::<Header>(&bytes, MAX_BLOCK_BYTES);
        any_of::<Receipt>(&bytes, MAX_BLOCK_BYTES);
        any_of::<Amount>(&bytes, 100);
        any_of::<Option<Amount>>(&bytes, 100);
        any_of::<MerchantId>(&bytes, 100);
        any_of::<PlatformId>(&bytes, 100);
        any_of::<Currency>(&bytes, 100);
    }

    /// Mostly-valid input: a payment's encoding with one byte changed decodes to a canonical value
    /// or is refused, never panics.
    #[test]
    fn edited_payments_never_panic(stx in signed_tx(), at in any::<prop::sample::Index>(), b: u8) {
        let mut bytes = stx.to_bytes();
        let i = at.index(bytes.len());
        bytes[i] = b;
        if let Ok(v) = SignedTx::from_bytes(&bytes) {
            prop_assert_eq!(v.to_bytes(), bytes);
        }
    }
}
