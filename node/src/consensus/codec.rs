//! One wire and WAL codec for everything the engine exchanges: borsh, through the encodings
//! Malachite ships for its own types, and derived encodings for ours.
//!
//! Decoding is bounded: every input is checked against [`MAX_MESSAGE_BYTES`] before it is
//! parsed, and borsh never pre-allocates more than it has read.

use bytes::Bytes;
use malachitebft_app::consensus::{LivenessMsg, ProposedValue, SignedConsensusMsg};
use malachitebft_app::streaming::StreamMessage;
use malachitebft_app::types::codec::{Codec, HasEncodedLen};
use malachitebft_app::types::sync;
use malachitebft_core_types::{
    CommitCertificate, ExtendedCommitCertificate, ExtendedCommitSignature, PolkaCertificate, Round,
    ValidatorProof,
};

use super::scheme::Signature;
use super::types::{Address, BlockHash, Height, PaychainContext, ProposalPart};

/// Largest engine message accepted: a sync response may carry a few full blocks.
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;

/// Error of [`BorshCodec`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("consensus message of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("malformed consensus message: {0}")]
    Malformed(#[from] std::io::Error),
}

/// Borsh codec for all engine messages.
#[derive(Clone, Copy, Debug, Default)]
pub struct BorshCodec;

fn decode<T: borsh::BorshDeserialize>(bytes: &[u8]) -> Result<T, Error> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(Error::TooLarge {
            len: bytes.len(),
            max: MAX_MESSAGE_BYTES,
        });
    }
    Ok(borsh::from_slice(bytes)?)
}

fn encode<T: borsh::BorshSerialize>(value: &T) -> Result<Bytes, Error> {
    Ok(Bytes::from(borsh::to_vec(value)?))
}

macro_rules! borsh_codec {
    ($($t:ty),* $(,)?) => {$(
        impl Codec<$t> for BorshCodec {
            type Error = Error;

            fn decode(&self, bytes: Bytes) -> Result<$t, Error> {
                decode(&bytes)
            }

            fn encode(&self, msg: &$t) -> Result<Bytes, Error> {
                encode(msg)
            }
        }
    )*};
}

borsh_codec!(
    ProposalPart,
    SignedConsensusMsg<PaychainContext>,
    LivenessMsg<PaychainContext>,
    StreamMessage<ProposalPart>,
    ProposedValue<PaychainContext>,
    PolkaCertificate<PaychainContext>,
    CommitCertificate<PaychainContext>,
    sync::Status<PaychainContext>,
    sync::Request<PaychainContext>,
);

/// Wire form of a sync response. Malachite 0.8.2 ships no borsh encoding for
/// `ExtendedCommitCertificate`; paychain uses no vote extensions, so certificates travel as
/// plain commit signatures and arrive with `extension: None`.
#[derive(borsh::BorshSerialize, borsh::BorshDeserialize)]
struct RawResponse {
    start_height: Height,
    values: Vec<RawValue>,
}

#[derive(borsh::BorshSerialize, borsh::BorshDeserialize)]
struct RawValue {
    value_bytes: Vec<u8>,
    height: Height,
    round: Round,
    value_id: BlockHash,
    signatures: Vec<(Address, Signature)>,
}

fn to_raw(msg: &sync::Response<PaychainContext>) -> RawResponse {
    let sync::Response::ValueResponse(r) = msg;
    RawResponse {
        start_height: r.start_height,
        values: r
            .values
            .iter()
            .map(|v| RawValue {
                value_bytes: v.value_bytes.to_vec(),
                height: v.certificate.height,
                round: v.certificate.round,
                value_id: v.certificate.value_id,
                signatures: v
                    .certificate
                    .commit_signatures
                    .iter()
                    .map(|s| (s.address, s.signature))
                    .collect(),
            })
            .collect(),
    }
}

impl Codec<sync::Response<PaychainContext>> for BorshCodec {
    type Error = Error;

    fn decode(&self, bytes: Bytes) -> Result<sync::Response<PaychainContext>, Error> {
        let raw: RawResponse = decode(&bytes)?;
        let values = raw
            .values
            .into_iter()
            .map(|v| sync::RawDecidedValue {
                value_bytes: Bytes::from(v.value_bytes),
                certificate: ExtendedCommitCertificate {
                    height: v.height,
                    round: v.round,
                    value_id: v.value_id,
                    commit_signatures: v
                        .signatures
                        .into_iter()
                        .map(|(address, signature)| {
                            ExtendedCommitSignature::new(address, signature, None)
                        })
                        .collect(),
                },
            })
            .collect();
        Ok(sync::Response::ValueResponse(
            malachitebft_sync::ValueResponse::new(raw.start_height, values),
        ))
    }

    fn encode(&self, msg: &sync::Response<PaychainContext>) -> Result<Bytes, Error> {
        encode(&to_raw(msg))
    }
}

impl HasEncodedLen<sync::Response<PaychainContext>> for BorshCodec {
    fn encoded_len(&self, msg: &sync::Response<PaychainContext>) -> Result<usize, Error> {
        Ok(borsh::object_length(&to_raw(msg))?)
    }
}

/// Wire form of a [`ValidatorProof`], for which Malachite ships no borsh encoding.
#[derive(borsh::BorshSerialize, borsh::BorshDeserialize)]
struct RawValidatorProof {
    public_key: Vec<u8>,
    peer_id: Vec<u8>,
    signature: Vec<u8>,
}

impl Codec<ValidatorProof<PaychainContext>> for BorshCodec {
    type Error = Error;

    fn decode(&self, bytes: Bytes) -> Result<ValidatorProof<PaychainContext>, Error> {
        let raw: RawValidatorProof = decode(&bytes)?;
        let signature = Signature::try_from(raw.signature.as_slice()).map_err(|_| {
            Error::Malformed(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "validator proof signature is not 64 bytes",
            ))
        })?;
        Ok(ValidatorProof::new(raw.public_key, raw.peer_id, signature))
    }

    fn encode(&self, msg: &ValidatorProof<PaychainContext>) -> Result<Bytes, Error> {
        encode(&RawValidatorProof {
            public_key: msg.public_key.clone(),
            peer_id: msg.peer_id.clone(),
            signature: msg.signature.0.to_vec(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::consensus::types::{Address, BlockHash, Height, ProposalInit};
    use malachitebft_core_types::Round;

    #[test]
    fn proposal_part_round_trips() {
        let part = ProposalPart::Init(ProposalInit {
            height: Height(7),
            round: Round::new(2),
            pol_round: Round::Nil,
            proposer: Address([3; 32]),
            block_hash: BlockHash([9; 32]),
            block_len: 1234,
        });
        let bytes = Codec::<ProposalPart>::encode(&BorshCodec, &part).unwrap();
        let back: ProposalPart = BorshCodec.decode(bytes).unwrap();
        assert_eq!(back, part);
    }

    #[test]
    fn garbage_and_oversize_are_refused() {
        let garbage = Bytes::from_static(&[0xff, 0x01, 0x02]);
        assert!(Codec::<ProposalPart>::decode(&BorshCodec, garbage).is_err());
        let huge = Bytes::from(vec![0u8; MAX_MESSAGE_BYTES + 1]);
        assert!(matches!(
            Codec::<ProposalPart>::decode(&BorshCodec, huge),
            Err(Error::TooLarge { .. })
        ));
        // A length prefix claiming 4 GiB of data must not allocate it.
        let mut lying = vec![1u8];
        lying.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(Codec::<ProposalPart>::decode(&BorshCodec, Bytes::from(lying)).is_err());
    }
}
