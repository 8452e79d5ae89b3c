//! What the enclave host keeps besides the enclave: a token bucket per requester key (the rate
//! limit of lookups and audit reads) and the per-platform audit trails, hash-chained and persisted
//! in storage, with their retention. Its own module so that the shared state holds it without
//! importing the enclave host's wiring (`crate::enclave`).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Instant;

use paychain_contracts::block::Header;
use paychain_contracts::commit::Commit;
use paychain_contracts::crypto::{Hash, PublicKey};
use paychain_contracts::enclave::audit::{
    AuditAnchor, AuditEntry, AuditPage, MAX_AUDIT_OUTCOME_BYTES, MAX_AUDIT_PAGE,
};
use paychain_contracts::enclave::LookupRequest;
use paychain_contracts::ids::PlatformId;

use crate::storage::Storage;

/// A token bucket per requester key: `burst` requests at once, refilled at `rate` per second.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<BTreeMap<PublicKey, Bucket>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Most requester keys a [`RateLimiter`] tracks; past it, keys whose bucket has refilled are
/// forgotten (a full bucket is what a new key gets anyway).
const MAX_BUCKETS: usize = 100_000;

impl RateLimiter {
    /// `rate` requests per second on average, `burst` at once.
    pub fn new(rate: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            rate: f64::from(rate.max(1)),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(BTreeMap::new()),
        }
    }

    /// Takes one token of `key` at `now`, or says how many milliseconds until one is there.
    pub fn take(&self, key: &PublicKey, now: Instant) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (rate, burst) = (self.rate, self.burst);
        let refill = |b: &mut Bucket| {
            let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
            b.tokens = (b.tokens + elapsed * rate).min(burst);
            b.at = now;
        };
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(key) {
            buckets.retain(|_, b| {
                refill(b);
                b.tokens < burst
            });
        }
        let b = buckets.entry(*key).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        refill(b);
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err((((1.0 - b.tokens) / rate) * 1000.0).ceil().max(1.0) as u64)
        }
    }
}

/// The per-platform audit trails, with their heads cached (loaded from storage on first use, so
/// the sequence goes on after a restart).
pub struct AuditLog {
    retention: u64,
    heads: Mutex<BTreeMap<PlatformId, Head>>,
}

#[derive(Clone)]
struct Head {
    next_seq: u64,
    prev_hash: Hash,
    anchor: AuditAnchor,
}

impl AuditLog {
    /// Keeps at most `retention` (≥ 1) entries per platform.
    pub fn new(retention: u64) -> AuditLog {
        AuditLog {
            retention: retention.max(1),
            heads: Mutex::new(BTreeMap::new()),
        }
    }

    fn head(
        storage: &Storage,
        heads: &mut BTreeMap<PlatformId, Head>,
        platform: &PlatformId,
    ) -> Result<Head, crate::storage::Error> {
        if let Some(h) = heads.get(platform) {
            return Ok(h.clone());
        }
        let anchor = storage
            .audit_anchor(platform)?
            .unwrap_or_else(|| AuditAnchor::origin(platform));
        let head = match storage.audit_last(platform)? {
            Some(last) => Head {
                next_seq: last.seq.saturating_add(1),
                prev_hash: last.hash(),
                anchor,
            },
            None => Head {
                next_seq: anchor.first_seq,
                prev_hash: anchor.prev_hash,
                anchor,
            },
        };
        heads.insert(platform.clone(), head.clone());
        Ok(head)
    }

    /// Appends the entry of a lookup of `request.platform_id`'s records handled at `height`,
    /// pruning the oldest past the retention.
    pub fn append(
        &self,
        storage: &Storage,
        request: &LookupRequest,
        request_hash: Hash,
        height: u64,
        outcome: &str,
    ) -> Result<AuditEntry, crate::storage::Error> {
        let platform = &request.platform_id;
        let mut heads = self.heads.lock().unwrap_or_else(|p| p.into_inner());
        let head = Self::head(storage, &mut heads, platform)?;
        let mut outcome = outcome.to_owned();
        if outcome.len() > MAX_AUDIT_OUTCOME_BYTES {
            let mut cut = MAX_AUDIT_OUTCOME_BYTES;
            while !outcome.is_char_boundary(cut) {
                cut -= 1;
            }
            outcome.truncate(cut);
        }
        let entry = AuditEntry {
            seq: head.next_seq,
            height,
            platform_id: platform.clone(),
            requester: request.requester,
            merchant_id: request.merchant_id.clone(),
            request_hash,
            outcome,
            prev_hash: head.prev_hash,
        };
        let kept = entry
            .seq
            .saturating_add(1)
            .saturating_sub(head.anchor.first_seq);
        let mut anchor = head.anchor.clone();
        let mut pruned_from = None;
        if kept > self.retention {
            let first_seq = entry.seq.saturating_add(1).saturating_sub(self.retention);
            let last_pruned = storage.audit_entry(platform, first_seq - 1)?.ok_or(
                crate::storage::Error::Corrupt {
                    what: "audit trail",
                    reason: format!("entry {} of {platform} is missing", first_seq - 1),
                },
            )?;
            pruned_from = Some(head.anchor.first_seq);
            anchor = AuditAnchor {
                first_seq,
                prev_hash: last_pruned.hash(),
            };
        }
        storage.audit_append(&entry, pruned_from.map(|from| (from, &anchor)))?;
        heads.insert(
            platform.clone(),
            Head {
                next_seq: entry.seq.saturating_add(1),
                prev_hash: entry.hash(),
                anchor,
            },
        );
        Ok(entry)
    }

    /// Up to `limit` entries of `platform`'s trail from `from_seq` (or its first kept entry).
    pub fn page(
        &self,
        storage: &Storage,
        platform: &PlatformId,
        from_seq: u64,
        limit: u32,
    ) -> Result<AuditPage, crate::storage::Error> {
        let mut heads = self.heads.lock().unwrap_or_else(|p| p.into_inner());
        let head = Self::head(storage, &mut heads, platform)?;
        let from = from_seq.max(head.anchor.first_seq);
        let entries = storage.audit_entries(platform, from, limit.min(MAX_AUDIT_PAGE) as usize)?;
        Ok(AuditPage {
            platform_id: platform.clone(),
            anchor: head.anchor,
            entries,
            next_seq: head.next_seq,
        })
    }
}

/// What the enclave host keeps besides the enclave: the rate limiter, the audit trails, and the lock
/// that makes an audit read's replay check and record one step.
pub struct Host {
    pub limiter: RateLimiter,
    pub audit: AuditLog,
    pub(crate) audit_reads: Mutex<()>,
    /// The header and commit of the newest block evidence was built from (read once per height).
    pub(crate) certified: Mutex<Option<(u64, Header, Commit)>>,
    /// Test-only ([`crate::faults`], `PAYCHAIN_TEST_BYZANTINE=forge-role`): the host lies to its
    /// enclave about roles.
    pub forge_roles: bool,
}

impl Host {
    /// The host of a node with this `[enclave]` config.
    pub fn new(config: &crate::config::Enclave) -> Host {
        Host {
            limiter: RateLimiter::new(config.lookup_rate_per_sec, config.lookup_burst),
            audit: AuditLog::new(config.audit_retention_entries),
            audit_reads: Mutex::new(()),
            certified: Mutex::new(None),
            forge_roles: false,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use paychain_contracts::crypto::SecretKey;
    use paychain_contracts::enclave::audit::verify_chain;
    use paychain_contracts::enclave::KxSecret;
    use paychain_contracts::ids::{ChainId, MerchantId};
    use std::time::Duration;

    #[test]
    fn a_flood_from_one_key_is_limited_while_another_key_is_served() {
        let limiter = RateLimiter::new(2, 3);
        let (a, b) = (
            SecretKey::from_seed([1; 32]).public_key(),
            SecretKey::from_seed([2; 32]).public_key(),
        );
        let t0 = Instant::now();
        for _ in 0..3 {
            limiter.take(&a, t0).unwrap();
        }
        let wait = limiter.take(&a, t0).unwrap_err();
        assert_eq!(wait, 500, "one token at 2/s is 500 ms away");
        limiter.take(&b, t0).unwrap();
        // Half a second later one token is back, and only one.
        let t1 = t0 + Duration::from_millis(500);
        limiter.take(&a, t1).unwrap();
        assert!(limiter.take(&a, t1).is_err());
        // A long pause refills to the burst, no more.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..3 {
            limiter.take(&a, t2).unwrap();
        }
        assert!(limiter.take(&a, t2).is_err());
    }

    fn request(n: u8) -> LookupRequest {
        LookupRequest {
            chain_id: ChainId::new("c"),
            merchant_id: MerchantId::derive(&SecretKey::from_seed([9; 32]).public_key()),
            platform_id: PlatformId::new("p").unwrap(),
            requester: SecretKey::from_seed([1; 32]).public_key(),
            reply_kx_public: KxSecret::from_seed([2; 32]).public_key(),
            nonce: [n; 16],
            issued_at_height: 5,
            enclave: SecretKey::from_seed([3; 32]).public_key(),
        }
    }

    #[test]
    fn audit_trail_continues_across_restarts_and_prunes_verifiably() {
        let dir = tempfile::tempdir().unwrap();
        let p = PlatformId::new("p").unwrap();
        {
            let storage = Storage::open(dir.path()).unwrap();
            let log = AuditLog::new(3);
            for n in 0..2 {
                let r = request(n);
                log.append(&storage, &r, r.hash(), 10, "answered").unwrap();
            }
        }
        // A restart: a new log over the same database goes on at seq 2.
        let storage = Storage::open(dir.path()).unwrap();
        let log = AuditLog::new(3);
        for n in 2..6 {
            let r = request(n);
            let e = log
                .append(&storage, &r, r.hash(), 11, &"x".repeat(1000))
                .unwrap();
            assert_eq!(e.seq, u64::from(n));
            assert_eq!(e.outcome.len(), MAX_AUDIT_OUTCOME_BYTES);
        }
        let page = log.page(&storage, &p, 0, 100).unwrap();
        assert_eq!(page.next_seq, 6);
        assert_eq!(page.anchor.first_seq, 3);
        assert_eq!(
            page.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![3, 4, 5]
        );
        let (next, _) = verify_chain(
            &p,
            page.anchor.first_seq,
            page.anchor.prev_hash,
            &page.entries,
        )
        .unwrap();
        assert_eq!(next, 6);
        // And after another restart, the pruned trail still verifies and goes on.
        drop(log);
        let log = AuditLog::new(3);
        let r = request(6);
        let e = log.append(&storage, &r, r.hash(), 12, "answered").unwrap();
        assert_eq!(e.seq, 6);
        let page = log.page(&storage, &p, 0, 100).unwrap();
        assert_eq!(page.anchor.first_seq, 4);
        verify_chain(
            &p,
            page.anchor.first_seq,
            page.anchor.prev_hash,
            &page.entries,
        )
        .unwrap();
    }
}
