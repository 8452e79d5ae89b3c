//! Merchants and their acquiring records from a platform's side: registration (checked first with
//! the contract's own rules), the put of a record (sealed to the consortium enclave key on a chain
//! that has one) and its revocation.
//!
//! ```text
//! NewMerchant::new(fields) validate_merchant_fields (offline)
//! register(new merchant)   merchant id = derive(merchant key) ─► RegisterMerchant tx
//! put_record(plaintext)    enclave::prepare_put (sealed, or as it is without an enclave) ─► PutRecord tx
//! revoke_record(merchant)  RevokeRecord tx
//! ```
//!
//! Queries are methods of [`rpc::Client`] (`merchant`, `record`).

use paychain_contracts::crypto::{PublicKey, SecretKey};
use paychain_contracts::ids::{MerchantId, PlatformId};
use paychain_contracts::registry;
use paychain_contracts::tx::Call;

use paychain_contracts::enclave::SealedRecord;

use crate::enclave::{self, SealedPut};
use crate::rpc;
use crate::tx::{self, Sent, Wait};

/// Errors of this module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A field the contract would refuse ([`NewMerchant::new`]).
    #[error(transparent)]
    Invalid(#[from] registry::Error),
    /// Preparing a sealed record failed (nothing was sent).
    #[error(transparent)]
    Enclave(#[from] enclave::Error),
    /// The transaction was not admitted.
    #[error(transparent)]
    Tx(#[from] tx::Error),
}

/// A merchant to register, its fields checked with the contract's rules ([`NewMerchant::new`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMerchant {
    name: String,
    city: String,
    mcc: String,
    country: String,
    merchant_key: PublicKey,
}

impl NewMerchant {
    /// The merchant `name` (1 to 25 characters) in `city` (1 to 15), category `mcc` (4 digits),
    /// `country` (ISO 3166-1 alpha-2) with key `merchant_key`, if the contract would take them.
    pub fn new(
        name: String,
        city: String,
        mcc: String,
        country: String,
        merchant_key: PublicKey,
    ) -> Result<NewMerchant, Error> {
        registry::validate_merchant_fields(&name, &city, &mcc, &country, &merchant_key)?;
        Ok(NewMerchant {
            name,
            city,
            mcc,
            country,
            merchant_key,
        })
    }

    /// The merchant's id (derived from its key).
    pub fn merchant_id(&self) -> MerchantId {
        MerchantId::derive(&self.merchant_key)
    }
}

/// A registration sent.
#[derive(Debug)]
pub struct Registered {
    /// The merchant's id.
    pub merchant_id: MerchantId,
    /// The `RegisterMerchant` transaction.
    pub sent: Sent,
}

/// A platform registers `merchant`.
pub async fn register(
    client: &rpc::Client,
    platform: &SecretKey,
    merchant: NewMerchant,
    wait: Wait,
) -> Result<Registered, Error> {
    let merchant_id = merchant.merchant_id();
    let NewMerchant {
        name,
        city,
        mcc,
        country,
        merchant_key,
    } = merchant;
    let call = Call::Registry(registry::Call::RegisterMerchant {
        name,
        city,
        mcc,
        country,
        merchant_key,
    });
    let sent = tx::send(client, platform, call, wait).await?;
    Ok(Registered { merchant_id, sent })
}

/// A record put sent.
#[derive(Debug)]
pub struct RecordPut {
    /// How it was sealed; `None` when sent as it is.
    pub sealed: Option<SealedPut>,
    /// The `PutRecord` transaction.
    pub sent: Sent,
}

/// A platform creates or replaces its record for `merchant`: sealed to the consortium key of the
/// pinned genesis on a chain with an enclave ([`enclave::prepare_put`]), unless `raw` (the payload as it is, which such a chain refuses).
pub async fn put_record(
    client: &rpc::Client,
    platform: &SecretKey,
    merchant: &MerchantId,
    plaintext: Vec<u8>,
    raw: bool,
    pin: &enclave::Pin,
    wait: Wait,
) -> Result<RecordPut, Error> {
    let (payload, sealed) = if raw {
        (plaintext, None)
    } else {
        let prepared =
            enclave::prepare_put(client, &platform.public_key(), merchant, &plaintext, pin).await?;
        (prepared.payload, prepared.sealed)
    };
    let call = Call::Registry(registry::Call::PutRecord {
        merchant_id: merchant.clone(),
        payload,
    });
    let sent = tx::send(client, platform, call, wait).await?;
    Ok(RecordPut { sealed, sent })
}

/// What [`reseal_record`] did.
#[derive(Debug)]
pub enum Reseal {
    /// The record was already sealed under the current epoch: nothing sent.
    Current {
        /// The epoch.
        epoch: u64,
    },
    /// The record was opened by an enclave for the platform and put again under the current epoch.
    Resealed {
        /// The epoch it was sealed under.
        from_epoch: u64,
        /// The new version's sealing, and the put.
        put: RecordPut,
    },
}

/// After an epoch rotation, a platform re-seals its record for `merchant` under the current epoch:
/// its own key looks the record up (an attested enclave opens it and re-encrypts it to the
/// platform, see [`enclave::lookup`]), and the plaintext is put again, sealed to the platform's
/// record key of the current epoch ([`put_record`]). The plaintext never leaves the client.
pub async fn reseal_record(
    client: &rpc::Client,
    platform: &SecretKey,
    merchant: &MerchantId,
    pin: &enclave::Pin,
    wait: Wait,
) -> Result<Reseal, Error> {
    let platform_id = client
        .account(&platform.public_key())
        .await
        .map_err(enclave::Error::from)?
        .member
        .map(|m| m.id)
        .ok_or(enclave::Error::NotAMember(platform.public_key()))?;
    let view = client
        .record(merchant, &platform_id)
        .await
        .map_err(enclave::Error::from)?;
    let stored = SealedRecord::from_bytes(&view.record.payload).map_err(enclave::Error::from)?;
    let current = client
        .enclave()
        .await
        .map_err(|e| enclave::Error::EnclaveStatusUnknown(e.to_string()))?
        .epoch
        .ok_or(enclave::Error::NoEnclave)?
        .current;
    if stored.epoch == current {
        return Ok(Reseal::Current { epoch: current });
    }
    let opened = enclave::lookup(client, platform, merchant, &platform_id, pin).await?;
    let plaintext = opened.plaintext.ok_or_else(|| {
        enclave::Error::Untrusted(format!(
            "the enclave returned no record of {platform_id} for merchant {merchant} (revoked?)"
        ))
    })?;
    let put = put_record(
        client,
        platform,
        merchant,
        plaintext.to_vec(),
        false,
        pin,
        wait,
    )
    .await?;
    Ok(Reseal::Resealed {
        from_epoch: stored.epoch,
        put,
    })
}

/// A platform revokes its record for `merchant`.
pub async fn revoke_record(
    client: &rpc::Client,
    platform: &SecretKey,
    merchant: &MerchantId,
    wait: Wait,
) -> Result<Sent, Error> {
    let call = Call::Registry(registry::Call::RevokeRecord {
        merchant_id: merchant.clone(),
    });
    Ok(tx::send(client, platform, call, wait).await?)
}

/// The merchant's consent, signed by `merchant`'s own key: with `accept`, `platform` becomes an
/// acquirer whose record payments may be routed by; without, the association ends and its record is
/// no longer routed to. Returns the merchant id (derived from the key) and the sent transaction.
pub async fn consent(
    client: &rpc::Client,
    merchant: &SecretKey,
    platform: PlatformId,
    accept: bool,
    wait: Wait,
) -> Result<(MerchantId, Sent), Error> {
    let merchant_id = MerchantId::derive(&merchant.public_key());
    let call = Call::Registry(if accept {
        registry::Call::AcceptAcquirer {
            platform_id: platform,
        }
    } else {
        registry::Call::EndAcquirer {
            platform_id: platform,
        }
    });
    Ok((merchant_id, tx::send(client, merchant, call, wait).await?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn new_merchants_are_checked_with_the_contracts_rules() {
        let key = PublicKey([3; 32]);
        let m = |name: &str, mcc: &str| {
            NewMerchant::new(name.into(), "Shanghai".into(), mcc.into(), "CN".into(), key)
        };
        assert_eq!(
            m("Noodle House", "5812").unwrap().merchant_id(),
            MerchantId::derive(&key)
        );
        let e = m("Noodle House", "58a2").unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{e}");
        assert!(e.to_string().contains("mcc"), "{e}");
        assert!(m("", "5812").is_err());
    }
}
