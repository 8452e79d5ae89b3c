//! The parsing the node's RPC handlers do on request bodies, on arbitrary input: the body as JSON,
//! then every positional param (and the whole document, and named params) through each param type
//! of `paychain_contracts` that a handler deserializes, and every string param through each text
//! parser a handler applies (hashes and keys, ids, currencies, canonical decimals and amounts, hex
//! transactions as `paychain_submitTx` and `paychain_submitTxs` decode them, hex lookups as
//! `paychain_lookup` does, hex signed reads as the private methods do, terminal codes, and the client's identity codes). None may
//! panic, and what one accepts must survive a round trip: JSON → value → JSON → the same value;
//! text → value → text → the same value (hex in lowercase); a call or transaction taken from JSON
//! encodes with the wire codec and decodes to the same value.
//!
//! The jsonrpsee plumbing (the `paychain-api` traits) and the handlers' storage lookups live in
//! `paychain-api` and `paychain-node` (RocksDB, too heavy for a fuzz build) and are not driven here;
//! the node's `YYYY-MM` month parser is covered by a unit test in `node/src/rpc/guardian.rs`.
//!
//! Run with `cargo fuzz run rpc_params` from `fuzz/` (see `scripts/fuzz.sh`).

#![no_main]

use std::fmt::Debug;

use libfuzzer_sys::fuzz_target;

/// The client's identity-code parser (client/src/identity_code.rs), compiled in without the rest of
/// the client.
#[path = "../../client/src/identity_code.rs"]
mod identity_code;
use borsh::{BorshDeserialize, BorshSerialize};
use paychain_contracts::api::EventFilter;
use paychain_contracts::codec::{self, MAX_TX_BYTES};
use paychain_contracts::crypto::{Hash, PublicKey, Signature};
use paychain_contracts::enclave::query::MAX_SIGNED_LOOKUP_BYTES;
use paychain_contracts::enclave::SignedLookup;
use paychain_contracts::guardian::{self, Terminal};
use paychain_contracts::ids::{ChainId, MerchantId, PlatformId};
use paychain_contracts::money::{self, Amount, Currency};
use paychain_contracts::reads::{SignedRead, MAX_SIGNED_READ_BYTES};
use paychain_contracts::tx::{Call, SignedTx, Transaction};
use paychain_contracts::wallet::Account;
use paychain_contracts::{collection, governance, registry, store, wallet};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Bodies above this are not looked at (the node's `rpc.max_body_bytes` bounds real ones; the
/// parsers are linear, so larger inputs only slow the fuzzer down).
const MAX_BODY: usize = 256 * 1024;

/// `value` as a `T`; when accepted, JSON → `T` → JSON → `T` gives the same value.
fn json<T: DeserializeOwned + Serialize + PartialEq + Debug>(value: &Value) -> Option<T> {
    let t = T::deserialize(value).ok()?;
    let text = serde_json::to_string(&t).expect("an accepted param serializes");
    let back: T =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text} does not parse back: {e}"));
    assert_eq!(back, t, "JSON round trip changed the value");
    Some(t)
}

/// A value taken from JSON encodes with the wire codec and, within `limit`, decodes to itself.
fn wire<T: BorshSerialize + BorshDeserialize + PartialEq + Debug>(t: &T, limit: usize) {
    let bytes = codec::encode(t);
    if bytes.len() <= limit {
        let back: T = codec::decode(&bytes, limit)
            .unwrap_or_else(|e| panic!("{t:?} encodes to bytes it does not decode from: {e}"));
        assert_eq!(&back, t, "wire round trip changed the value");
    }
}

/// Every param type a handler deserializes from JSON.
fn typed(value: &Value) {
    if let Some(f) = json::<EventFilter>(value) {
        // What paychain_subscribeEvents does with it: the length check, then matching.
        let _ = f
            .kind_prefix
            .iter()
            .chain(f.attribute.iter().flat_map(|(k, v)| [k, v]))
            .any(|s| s.len() > EventFilter::MAX_LEN);
    }
    if let Some(a) = json::<Account>(value) {
        wire(&a, MAX_TX_BYTES);
    }
    json::<Hash>(value);
    json::<PublicKey>(value);
    json::<Signature>(value);
    json::<MerchantId>(value);
    json::<PlatformId>(value);
    json::<Currency>(value);
    if let Some(a) = json::<Amount>(value) {
        let _ = a.validate();
        let _ = a.to_string();
        wire(&a, MAX_TX_BYTES);
    }
    if let Some(t) = json::<Terminal>(value) {
        if t.check().is_ok() {
            assert_eq!(Terminal::parse(&t.code_text()).as_ref(), Ok(&t));
        }
    }
    if let Some(l) = json::<guardian::Limits>(value) {
        wire(&l, MAX_TX_BYTES);
    }
    macro_rules! calls {
        ($($ty:ty),* $(,)?) => {$(
            if let Some(c) = json::<$ty>(value) {
                wire(&c, MAX_TX_BYTES);
            }
        )*};
    }
    calls!(
        guardian::Call,
        collection::Call,
        store::Call,
        wallet::Call,
        registry::Call,
        governance::Call,
        Call,
        Transaction,
    );
    if let Some(tx) = json::<SignedTx>(value) {
        wire(&tx, MAX_TX_BYTES);
        let _ = tx.hash();
        let _ = tx.verify_signature();
    }
    json::<u64>(value);
}

/// Text → value → text gives the input back (`expected`), and parses to the same value again.
fn text<T: std::str::FromStr + ToString + PartialEq + Debug>(
    s: &str,
    expected: impl FnOnce(&str) -> String,
) {
    if let Ok(v) = s.parse::<T>() {
        let shown = v.to_string();
        assert_eq!(shown, expected(s), "accepted a non-canonical form");
        assert_eq!(shown.parse::<T>().ok().as_ref(), Some(&v));
    }
}

/// Every text parser a handler (or the client, on a scanned code) applies to a string.
fn strings(s: &str) {
    let lower = |s: &str| s.to_ascii_lowercase();
    let same = |s: &str| s.to_owned();
    text::<Hash>(s, lower);
    text::<PublicKey>(s, lower);
    text::<Signature>(s, lower);
    text::<MerchantId>(s, same);
    text::<PlatformId>(s, same);
    text::<ChainId>(s, same);
    text::<Currency>(s, same);
    if let Ok(d) = money::parse_decimal(s) {
        assert_eq!(d.to_string(), s, "accepted a non-canonical decimal");
        for c in Currency::supported() {
            if let Ok(a) = Amount::parse(s, c) {
                assert!(a.validate().is_ok());
                assert_eq!(a.value, d);
                let _ = a.to_string();
            }
        }
    }
    // paychain_submitTx: bounded hex (an optional 0x), then the transaction decoder.
    if s.len() <= 2 * MAX_TX_BYTES {
        if let Ok(bytes) = hex::decode(s.trim_start_matches("0x")) {
            if let Ok(tx) = SignedTx::from_bytes(&bytes) {
                assert_eq!(tx.to_bytes(), bytes, "accepted a non-canonical transaction");
                let _ = tx.verify_signature();
            }
        }
    }
    // paychain_lookup: hex, then the signed lookup decoder.
    if s.len() <= 2 * MAX_SIGNED_LOOKUP_BYTES + 2 {
        if let Ok(bytes) = hex::decode(s) {
            if let Ok(l) = SignedLookup::from_bytes(&bytes) {
                assert_eq!(l.to_bytes(), bytes, "accepted a non-canonical lookup");
                let _ = l.verify_signature();
            }
        }
    }
    // The private methods: hex, then the signed read decoder and its stateless checks.
    if s.len() <= 2 * MAX_SIGNED_READ_BYTES + 2 {
        if let Ok(bytes) = hex::decode(s) {
            if let Ok(r) = SignedRead::from_bytes(&bytes) {
                assert_eq!(r.to_bytes(), bytes, "accepted a non-canonical signed read");
                let _ = r.check(&ChainId::new("fuzz"), r.request.query.method(), 1);
                let _ = r.request.query.subject();
            }
        }
    }
    // Scanned codes: a registration terminal's and a user's identity code.
    if let Ok(t) = Terminal::parse(s) {
        assert_eq!(
            t.code_text(),
            s.trim(),
            "accepted a non-canonical terminal code"
        );
        assert_eq!(Terminal::parse(&t.code_text()).as_ref(), Ok(&t));
    }
    if let Ok(pk) = identity_code::parse_identity_code(s) {
        let code = identity_code::identity_code(&pk);
        assert_eq!(code.to_ascii_lowercase(), s.trim().to_ascii_lowercase());
        assert_eq!(
            identity_code::parse_identity_code(&code).ok(),
            Some(pk)
        );
    }
}

/// A param: its types, and its text when it is a string, or each string of a list
/// (`paychain_submitTxs [[hex, ...]]`).
fn param(value: &Value) {
    typed(value);
    match value {
        Value::String(s) => strings(s),
        Value::Array(items) => items.iter().filter_map(Value::as_str).for_each(strings),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() > MAX_BODY {
        return;
    }
    // Text parsers on the raw input too (a scanned code is not JSON).
    if let Ok(s) = std::str::from_utf8(data) {
        strings(s);
    }
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    // The whole document, then the params of a request (positional or named), as jsonrpsee
    // hands them to the handlers; a batch is an array of requests.
    param(&body);
    let requests: Vec<&Value> = match &body {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    for request in requests {
        match request.get("params") {
            Some(Value::Array(params)) => params.iter().for_each(param),
            Some(Value::Object(named)) => named.values().for_each(param),
            Some(other) => param(other),
            None => {}
        }
    }
});
