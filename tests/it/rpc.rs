//! Bad input at the RPC door and bad calls in the state machine: each refused with its reason, nothing
//! changes but what the rules say (a failed call in a block still uses up the sender's nonce).

use anyhow::{ensure, Context, Result};
use paychain_api::{method, ErrorCode};
use paychain_contracts::codec::MAX_TX_BYTES;
use paychain_contracts::crypto::SecretKey;
use paychain_contracts::ids::MerchantId;
use paychain_tests::{txs, Rpc, Testnet};
use serde_json::{json, Value};

use crate::PROGRESS;

/// What must not change while bad input is thrown at the node.
#[derive(Debug, PartialEq)]
struct Snapshot {
    merchant: Value,
    record: Value,
    nonce: u64,
}

fn snapshot(rpc: &Rpc, merchant: &MerchantId, key: &SecretKey) -> Result<Snapshot> {
    Ok(Snapshot {
        merchant: rpc.call(method::MERCHANT, json!([merchant.as_str()]))?,
        record: rpc.call(method::RECORD, json!([merchant.as_str(), "platform-0"]))?,
        nonce: rpc.nonce(&key.public_key())?,
    })
}

fn commit_ok(rpc: &Rpc, tx: &paychain_contracts::tx::SignedTx) -> Result<Value> {
    let hash = rpc
        .submit(&tx.to_bytes())?
        .map_err(|e| anyhow::anyhow!("submit: {e}"))?;
    let receipt = rpc.wait_committed(&hash, PROGRESS)?;
    ensure!(
        receipt["code"] == 0,
        "expected success, got receipt {receipt}"
    );
    Ok(receipt)
}

/// Submits `bytes` and returns the refusal's message (fails if the node accepts them).
fn refused(rpc: &Rpc, what: &str, bytes: &[u8]) -> Result<String> {
    match rpc.submit(bytes)? {
        Ok(hash) => anyhow::bail!("{what}: accepted as {hash}, expected a refusal"),
        Err(e) => Ok(e.message),
    }
}

fn expect_contains(what: &str, message: &str, expected: &str) -> Result<()> {
    ensure!(
        message.contains(expected),
        "{what}: error {message:?} does not say {expected:?}"
    );
    ensure!(
        !message.contains('\n'),
        "{what}: error is not one line: {message:?}"
    );
    Ok(())
}

#[test]
fn rpc_rejects_bad_input() -> Result<()> {
    // Two validators: the testnet gives one genesis platform per validator, and this needs two platforms.
    let net = Testnet::start(2)?;
    let rpc = net.rpc(0);
    let chain = rpc.status()?["chain_id"]
        .as_str()
        .context("chain id")?
        .to_owned();
    let p0 = net.platform_key(0)?;
    let p1 = net.platform_key(1)?;

    // A merchant with platform-0's record: the state the bad input must leave alone.
    let merchant_key = txs::merchant_key(7);
    let merchant = MerchantId::derive(&merchant_key);
    let register = txs::signed(&p0, &chain, 0, txs::register(&merchant_key, "Dumpling Bar"));
    commit_ok(&rpc, &register)?;
    commit_ok(
        &rpc,
        &txs::signed(
            &p0,
            &chain,
            1,
            txs::put(
                &merchant,
                &net.seal(&merchant, "platform-0", 1, b"p0-acquiring-info")?,
            ),
        ),
    )?;
    let before = snapshot(&rpc, &merchant, &p0)?;
    ensure!(before.nonce == 2, "platform-0 nonce {}", before.nonce);
    ensure!(before.record["record"]["version"] == 1, "{}", before.record);

    // Refused at the door (JSON-RPC errors), no nonce used.
    let mut bad_sig = txs::signed(&p0, &chain, 2, txs::put(&merchant, b"forged"));
    bad_sig.signature.0[0] ^= 1;
    expect_contains(
        "bad signature",
        &refused(&rpc, "bad signature", &bad_sig.to_bytes())?,
        "bad signature",
    )?;

    expect_contains(
        "replayed nonce",
        &refused(&rpc, "replayed nonce", &register.to_bytes())?,
        "replayed or stale nonce 0: the account's next nonce is 2",
    )?;

    let other_chain = txs::signed(&p0, "other-chain", 2, txs::put(&merchant, b"elsewhere"));
    expect_contains(
        "wrong chain id",
        &refused(&rpc, "wrong chain id", &other_chain.to_bytes())?,
        &format!("wrong chain id: expected {chain}, got other-chain"),
    )?;

    let oversize = txs::signed(
        &p0,
        &chain,
        2,
        txs::put(&merchant, &vec![0x55; MAX_TX_BYTES]),
    );
    let len = oversize.to_bytes().len();
    expect_contains(
        "oversize tx",
        &refused(&rpc, "oversize tx", &oversize.to_bytes())?,
        &format!("transaction of {len} bytes exceeds the limit of {MAX_TX_BYTES} bytes"),
    )?;

    expect_contains(
        "garbage bytes",
        &refused(&rpc, "garbage bytes", &[0xde, 0xad, 0xbe, 0xef])?,
        "undecodable transaction",
    )?;
    let not_hex = rpc.call_err(method::SUBMIT_TX, json!(["not hex at all"]))?;
    ensure!(!not_hex.message.is_empty(), "non-hex param: empty error");

    // Queries about what does not exist.
    let unknown = MerchantId::derive(&txs::merchant_key(99));
    let e = rpc.call_err(method::MERCHANT, json!([unknown.as_str()]))?;
    ensure!(
        e.message == format!("unknown merchant {unknown}"),
        "unknown merchant: {e}"
    );
    let e = rpc.call_err(method::RECORD, json!([merchant.as_str(), "platform-1"]))?;
    ensure!(
        e.message == format!("platform platform-1 has no acquiring record for merchant {merchant}"),
        "record of a platform without one: {e}"
    );
    let bad_id = rpc.call_err(method::MERCHANT, json!(["not-a-merchant-id"]))?;
    expect_contains(
        "malformed merchant id",
        &bad_id.message,
        "invalid merchant id",
    )?;

    // The wire the api traits keep: positional params only, each malformed or missing one named in
    // one line, code -32602, no data (jsonrpsee's generated servers would answer "Invalid params").
    let invalid = i64::from(ErrorCode::InvalidParams.code());
    for (m, params, expected) in [
        (method::TX, json!([]), "invalid tx hash: Invalid params"),
        (method::TX, json!([5]), "invalid tx hash: Invalid params"),
        (
            method::TX,
            json!({"tx_hash": "00"}),
            "invalid tx hash: Invalid params",
        ),
        (
            method::TX,
            json!(["zz"]),
            "invalid tx hash \"zz\": expected 64 hex characters",
        ),
        (
            method::RECORD,
            json!([merchant.as_str()]),
            "invalid platform id: Invalid params",
        ),
        (
            method::BLOCK,
            json!(["1"]),
            "invalid height: Invalid params",
        ),
        (
            method::SUBMIT_TXS,
            json!(["00"]),
            "invalid transactions: Invalid params",
        ),
    ] {
        let e = rpc.call_err(m, params.clone())?;
        ensure!(
            e.code == invalid && e.message == expected && e.data.is_none(),
            "{m} {params}: code {}, message {:?}, data {:?}",
            e.code,
            e.message,
            e.data
        );
    }

    // Private methods take a signed read: anything else is refused as unsigned (6100).
    for (m, params) in [
        (method::COLLECTIONS, json!([])),
        (method::STATEMENT, json!([{"wallet": 1}])),
    ] {
        let e = rpc.call_err(m, params.clone())?;
        ensure!(
            e.code == i64::from(paychain_api::ErrorCode::ReadNotSigned.code()),
            "{m} {params}: {e}"
        );
    }

    // Accepted at the door, refused by the contract: a receipt error, only the sender's nonce moves.
    // platform-1 cannot reach platform-0's record: a revoke addresses its own record, which it lacks.
    let p1_nonce = rpc.nonce(&p1.public_key())?;
    let revoke_other = txs::signed(&p1, &chain, p1_nonce, txs::revoke(&merchant));
    let hash = rpc
        .submit(&revoke_other.to_bytes())?
        .map_err(|e| anyhow::anyhow!("submit: {e}"))?;
    let receipt = rpc.wait_committed(&hash, PROGRESS)?;
    ensure!(receipt["code"] == 204, "receipt {receipt}");
    ensure!(
        receipt["error"] == format!("platform platform-1 has no record for merchant {merchant}"),
        "receipt {receipt}"
    );
    ensure!(
        rpc.nonce(&p1.public_key())? == p1_nonce + 1,
        "a failed call still uses the nonce"
    );

    // A plaintext record is refused at the door on a chain that seals records (even from a member;
    // its nonce is not used).
    let plain = txs::signed(&p1, &chain, p1_nonce + 1, txs::put(&merchant, b"plaintext"));
    let e = rpc
        .submit(&plain.to_bytes())?
        .err()
        .context("an unsealed record was accepted")?;
    ensure!(
        e.message.contains("not sealed to the consortium enclave"),
        "{}",
        e.message
    );

    // A key the chain does not know cannot write any record: refused at the door, never written
    // (not even a nonce).
    let stranger = stranger_key();
    let hijack = net.seal(&merchant, "platform-0", 2, b"hijack")?;
    let put_stranger = txs::signed(&stranger, &chain, 0, txs::put(&merchant, &hijack));
    let e = rpc
        .submit(&put_stranger.to_bytes())?
        .err()
        .context("a stranger's record was accepted")?;
    ensure!(
        e.code == 1011 && e.message.contains("is not known to this chain"),
        "{e}"
    );

    // platform-1 writing "for" the merchant creates platform-1's own record, never platform-0's.
    commit_ok(
        &rpc,
        &txs::signed(
            &p1,
            &chain,
            p1_nonce + 1,
            txs::put(
                &merchant,
                &net.seal(&merchant, "platform-1", 1, b"p1-info")?,
            ),
        ),
    )?;
    let p1_record = rpc.call(method::RECORD, json!([merchant.as_str(), "platform-1"]))?;
    ensure!(
        p1_record["record"]["platform_id"] == "platform-1",
        "{p1_record}"
    );

    let after = snapshot(&rpc, &merchant, &p0)?;
    ensure!(
        after.record == before.record,
        "platform-0's record changed: {:?} -> {:?}",
        before.record,
        after.record
    );
    ensure!(after.nonce == before.nonce, "platform-0's nonce changed");
    ensure!(
        after.merchant["merchant"] == before.merchant["merchant"],
        "merchant changed: {} -> {}",
        before.merchant,
        after.merchant
    );
    // Both records are active; the merchant has accepted neither, so both are pending.
    ensure!(
        after.merchant["pending"] == json!(["platform-0", "platform-1"])
            && after.merchant["platforms"] == json!([]),
        "{}",
        after.merchant
    );

    // Transport limits: an oversized body is refused, /health and /metrics answer.
    let huge = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"{}\",\"params\":[\"{}\"]}}",
        method::STATUS,
        "x".repeat(2 << 20)
    );
    // The server may also close the connection while we write: that is a refusal too.
    if let Ok((status, body)) = rpc.http("POST", "/", Some(&huge)) {
        ensure!(
            status != 200 || body.contains("\"error\""),
            "2 MiB body accepted: HTTP {status}"
        );
    }
    let (status, _) = rpc.http("GET", "/health", None)?;
    ensure!(status == 200, "/health: HTTP {status}");
    let (status, metrics) = rpc.http("GET", "/metrics", None)?;
    ensure!(
        status == 200 && metrics.contains("# TYPE"),
        "/metrics: HTTP {status}: {metrics:.200}"
    );
    // RocksDB's bounded memory is visible to the operator; the memtables hold the blocks written.
    let memtables = metrics
        .lines()
        .find(|l| {
            l.starts_with("paychain_storage_memory_bytes{") && l.contains("part=\"memtables\"")
        })
        .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok());
    ensure!(
        matches!(memtables, Some(b) if b > 0),
        "/metrics has no positive storage_memory_bytes for memtables: {metrics:.2000}"
    );
    Ok(())
}

fn stranger_key() -> SecretKey {
    SecretKey::from_seed([42; 32])
}
