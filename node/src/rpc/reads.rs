//! Signed reads: every private method takes one [`SignedRead`] (hex), checked here (size, signature,
//! chain, method, height bound), decided by the contracts ([`reads::may_read`], from the state committed
//! at the tip) and answered as the JSON view sealed to the request's reply key ([`reads::seal_reply`]).
//! Each read by the regulator is recorded in a bounded in-memory audit that consortium members list
//! with `paychain_regulatorAudit`.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Mutex;

use jsonrpsee::core::RpcResult;
use jsonrpsee::types::ErrorObjectOwned;
use paychain_api::reads::{
    RegulatorAuditEntry, RegulatorAuditPage, MAX_REGULATOR_AUDIT_PAGE, REGULATOR_AUDIT_RETENTION,
};
use paychain_api::{ErrorCode, Param, ReadsApiServer};
use paychain_contracts::crypto::Hash;
use paychain_contracts::enclave::{BoxRandomness, NONCE_LEN};
use paychain_contracts::governance;
use paychain_contracts::reads::{
    self, Grant, Query, ReadRequest, SealedReply, SignedRead, MAX_SIGNED_READ_BYTES,
};
use rand::RngCore;
use serde::Serialize;

use super::{internal, Rpc};

/// The regulator's reads on this node: the last [`REGULATOR_AUDIT_RETENTION`], one per request hash.
#[derive(Debug, Default)]
pub(crate) struct Audit {
    entries: VecDeque<RegulatorAuditEntry>,
    hashes: BTreeSet<Hash>,
    next_seq: u64,
}

impl Audit {
    fn record(&mut self, height: u64, request: &ReadRequest, request_hash: Hash) {
        if !self.hashes.insert(request_hash) {
            return;
        }
        self.next_seq = self.next_seq.max(1);
        self.entries.push_back(RegulatorAuditEntry {
            seq: self.next_seq,
            height,
            requester: request.requester,
            method: request.query.method().to_string(),
            subject: request.query.subject(),
            request_hash,
        });
        self.next_seq += 1;
        while self.entries.len() > REGULATOR_AUDIT_RETENTION {
            if let Some(old) = self.entries.pop_front() {
                self.hashes.remove(&old.request_hash);
            }
        }
    }

    fn page(&self, from_seq: u64, limit: u32) -> RegulatorAuditPage {
        let limit = limit.min(MAX_REGULATOR_AUDIT_PAGE) as usize;
        let entries: Vec<RegulatorAuditEntry> = self
            .entries
            .iter()
            .filter(|e| e.seq >= from_seq)
            .take(limit)
            .cloned()
            .collect();
        let oldest_seq = self.entries.front().map_or(self.next_seq.max(1), |e| e.seq);
        let next_seq = entries
            .last()
            .map_or(from_seq.max(oldest_seq), |e| e.seq + 1);
        RegulatorAuditPage {
            entries,
            oldest_seq,
            next_seq,
        }
    }
}

/// The shared audit of an [`Rpc`].
pub(crate) type SharedAudit = std::sync::Arc<Mutex<Audit>>;

pub(crate) use crate::errors::{not_entitled, read_error};

/// Decodes a signed read sent to `method` (no check beyond the encoding).
fn decode(method: &'static str, read: &Param<String>) -> Result<SignedRead, ErrorObjectOwned> {
    let unsigned = |why: &str| {
        ErrorCode::ReadNotSigned.err(format!(
            "{method} answers only a signed read: its one param is the hex of a SignedRead (≤ {MAX_SIGNED_READ_BYTES} bytes) by the requester's key; {why}"
        ))
    };
    let Some(text) = read.as_json().as_str() else {
        return Err(unsigned("got no string"));
    };
    let text = text.strip_prefix("0x").unwrap_or(text);
    if text.len() > 2 * MAX_SIGNED_READ_BYTES {
        return Err(unsigned("got a longer string"));
    }
    let bytes = hex::decode(text).map_err(|_| unsigned("got a string that is not hex"))?;
    SignedRead::from_bytes(&bytes).map_err(|_| unsigned("got bytes that do not decode as one"))
}

impl Rpc {
    /// Checks a signed read of state sent to `method` and answers it with its view
    /// ([`crate::views::view`]) sealed to the request's reply key, once the requester is found
    /// entitled: here on a chain in the clear, inside this node's enclave on a chain with private
    /// state (the node proves the state it is asked for and never sees the answer).
    pub(crate) fn signed_read(
        &self,
        method: &'static str,
        read: Param<String>,
    ) -> RpcResult<SealedReply> {
        let signed = decode(method, &read)?;
        let tip = self.shared.tip();
        signed
            .check(&self.shared.chain_id, method, tip.height)
            .map_err(read_error)?;
        if !crate::views::is_state_view(&signed.request.query) {
            return Err(internal(
                "a signed read of state dispatched to the wrong method",
            ));
        }
        let storage = &self.shared.storage;
        self.audit_regulator(&signed.request, tip.height)?;
        if paychain_contracts::executor::private_exec_public(storage)
            .map_err(internal)?
            .is_some()
        {
            return crate::enclave::private_read(&self.shared, &signed, None);
        }
        let request = signed.request;
        let grant =
            reads::may_read(storage, &request.requester, &request.query).map_err(internal)?;
        if grant.is_none() {
            return Err(not_entitled(&request.requester, &request.query));
        }
        let at = crate::views::At {
            height: tip.height,
            time_ms: tip.time_ms,
        };
        let answer = crate::views::view(storage, at, &request.query)?;
        seal(&request, tip.height, &answer)
    }

    /// A regulator's read is audited before it is answered: one that finds nothing is a read too.
    fn audit_regulator(&self, request: &ReadRequest, height: u64) -> RpcResult<()> {
        if governance::regulator(&self.shared.storage).map_err(internal)? == Some(request.requester)
        {
            let request_hash = request.hash();
            self.audit.lock().unwrap_or_else(|p| p.into_inner()).record(
                height,
                request,
                request_hash,
            );
        }
        Ok(())
    }

    /// A certificate on a chain with private state: the node builds it from its block store, its
    /// enclave decides entitlement on the opened call and answers it with the disclosure, sealed to
    /// the requester.
    pub(crate) fn disclosed_certificate(
        &self,
        read: Param<String>,
        certificate: impl FnOnce(
            &Rpc,
            Hash,
        ) -> RpcResult<paychain_contracts::certificate::TxCertificate>,
    ) -> RpcResult<SealedReply> {
        let method = paychain_api::method::CERTIFICATE;
        let signed = decode(method, &read)?;
        let tip = self.shared.tip();
        signed
            .check(&self.shared.chain_id, method, tip.height)
            .map_err(read_error)?;
        let tx_hash = query!(signed.request, Query::Certificate { tx_hash } => *tx_hash);
        let cert = certificate(self, tx_hash)?;
        self.audit_regulator(&signed.request, tip.height)?;
        crate::enclave::private_read(&self.shared, &signed, Some(&cert))
    }

    /// Checks a signed read that the node answers from what only it holds (a transaction's
    /// certificate from its block store, the regulator's audit): `view` builds the JSON view once
    /// the requester is found entitled (for [`Query::Certificate`], `view` decides it, with
    /// [`reads::may_read_tx`]).
    pub(crate) fn signed_read_host<T: Serialize>(
        &self,
        method: &'static str,
        read: Param<String>,
        view: impl FnOnce(&Rpc, &ReadRequest) -> RpcResult<T>,
    ) -> RpcResult<SealedReply> {
        let signed = decode(method, &read)?;
        let height = self.shared.tip().height;
        signed
            .check(&self.shared.chain_id, method, height)
            .map_err(read_error)?;
        let request = signed.request;
        let storage = &self.shared.storage;
        if !matches!(request.query, Query::Certificate { .. }) {
            let grant =
                reads::may_read(storage, &request.requester, &request.query).map_err(internal)?;
            if grant.is_none() {
                return Err(not_entitled(&request.requester, &request.query));
            }
        }
        self.audit_regulator(&request, height)?;
        let answer = view(self, &request)?;
        seal(&request, height, &answer)
    }

    /// For views that decide entitlement themselves: refuses unless `grant` is some.
    pub(crate) fn entitled(
        request: &ReadRequest,
        grant: Result<Option<Grant>, paychain_contracts::state::StateError>,
    ) -> Result<Grant, ErrorObjectOwned> {
        grant
            .map_err(internal)?
            .ok_or_else(|| not_entitled(&request.requester, &request.query))
    }
}

/// `answer` as JSON sealed to the request's reply key, with fresh randomness.
pub(crate) fn seal(
    request: &ReadRequest,
    height: u64,
    answer: &impl Serialize,
) -> RpcResult<SealedReply> {
    let json = serde_json::to_vec(answer).map_err(internal)?;
    let mut seed = [0u8; 32];
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let rand = BoxRandomness::new(seed, nonce);
    reads::seal_reply(request, height, &json, &rand).map_err(read_error)
}

/// The query of a checked request, for a view that expects variant `$v`.
macro_rules! query {
    ($request:expr, $v:pat => $out:expr) => {
        match &$request.query {
            $v => $out,
            _ => {
                return Err($crate::rpc::internal(
                    "signed read dispatched to the wrong view",
                ))
            }
        }
    };
}
pub(crate) use query;

impl ReadsApiServer for Rpc {
    fn regulator_audit(&self, read: Param<String>) -> RpcResult<SealedReply> {
        self.signed_read_host(
            paychain_api::method::REGULATOR_AUDIT,
            read,
            |rpc, request| {
                let (from, limit) = query!(request, Query::RegulatorAudit { from_seq, limit } => (*from_seq, *limit));
                Ok(rpc
                    .audit
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .page(from, limit))
            },
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use paychain_contracts::crypto::SecretKey;
    use paychain_contracts::enclave::KxSecret;
    use paychain_contracts::ids::ChainId;

    fn request(n: u8) -> ReadRequest {
        ReadRequest {
            chain_id: ChainId::new("c"),
            requester: SecretKey::from_seed([1; 32]).public_key(),
            query: Query::Payment {
                payment_id: Hash::digest(&[n]),
            },
            reply_kx_public: KxSecret::from_seed([2; 32]).public_key(),
            nonce: [n; 16],
            valid_until_height: 10,
        }
    }

    #[test]
    fn audit_is_bounded_deduplicated_and_paged() {
        let mut a = Audit::default();
        let r = request(1);
        a.record(5, &r, r.hash());
        a.record(6, &r, r.hash());
        assert_eq!(a.entries.len(), 1, "a replay is recorded once");
        for n in 2..=(REGULATOR_AUDIT_RETENTION + 5) {
            let r = request((n % 251) as u8);
            a.record(7, &r, Hash::digest(&n.to_le_bytes()));
        }
        assert_eq!(a.entries.len(), REGULATOR_AUDIT_RETENTION);
        assert_eq!(a.hashes.len(), REGULATOR_AUDIT_RETENTION);
        let page = a.page(0, 3);
        assert_eq!(page.oldest_seq, 6);
        assert_eq!(
            page.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![6, 7, 8]
        );
        assert_eq!(page.next_seq, 9);
        assert!(page.entries[0].subject.starts_with("payment "));
        let end = a.page(page.next_seq + 100_000, 10);
        assert!(end.entries.is_empty());
        assert_eq!(
            a.page(0, u32::MAX).entries.len(),
            MAX_REGULATOR_AUDIT_PAGE as usize
        );
    }

    #[test]
    fn unsigned_reads_are_refused_clearly() {
        let m = "paychain_payment";
        let e = decode(m, &Param::raw(serde_json::json!({"wallet": {"id": "ab"}}))).unwrap_err();
        assert_eq!(e.code(), ErrorCode::ReadNotSigned.code());
        let e = decode(m, &Param::raw(serde_json::json!("ab".repeat(32)))).unwrap_err();
        assert_eq!(e.code(), ErrorCode::ReadNotSigned.code());
        let e = decode(m, &Param::raw(serde_json::json!("zz"))).unwrap_err();
        assert!(e.message().contains("not hex"), "{}", e.message());
        let e = decode(m, &Param::raw(serde_json::json!("00".repeat(100_000)))).unwrap_err();
        assert!(e.message().len() < 300, "{}", e.message());
    }
}
