//! Trust between platforms, with a malicious operator playing each attack against real nodes:
//! a quote signed for a key pair of its own, a provisioning it marks itself, a quote below the
//! minimum security version, a removed platform's enclave, a captured lookup replayed after a restart
//! and at another node, a node host that lies to its enclave about roles, another platform reading an
//! audit trail, garbage written to the trail, and a flood from one key. Each attempt ends in a refusal
//! the test names.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use paychain_api::method;
use paychain_contracts::crypto::{sha256, PublicKey, SecretKey};
use paychain_contracts::enclave::audit::{AuditRequest, MAX_AUDIT_PAGE};
use paychain_contracts::enclave::query::LOOKUP_NONCE_LEN;
use paychain_contracts::enclave::{
    device_attestation_key, open_answer, verify_answer, DeviceCert, Enclave, EnclaveConfig,
    KxSecret, LookupRequest, Measurement, SealedBlob, SignedAnswer, SignedProvision, WrappedSecret,
};
use paychain_contracts::enclave_registry::Call as EnclaveCall;
use paychain_contracts::governance::{Action, Call as GovCall};
use paychain_contracts::ids::{ChainId, MerchantId, PlatformId};
use paychain_contracts::tx::Call;
use paychain_tests::{load_key, txs, RpcError, Testnet};
use serde_json::{json, Value};

use crate::PROGRESS;

/// A key from a label (distinct per label and per run of the test binary).
fn key(label: &str) -> SecretKey {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    SecretKey::from_seed(sha256(&[label.as_bytes(), &nanos.to_le_bytes()]).0)
}

struct Net {
    net: Testnet,
    chain: String,
}

impl Net {
    fn start(n: usize) -> Result<Net> {
        let net = Testnet::start(n)?;
        let chain = net.rpc(0).status()?["chain_id"]
            .as_str()
            .context("chain id")?
            .to_owned();
        Ok(Net { net, chain })
    }

    fn chain_id(&self) -> ChainId {
        ChainId::new(self.chain.clone())
    }

    /// A merchant (key seed `seed`) registered by platform-0, its record `plaintext` sealed and put
    /// through node 0, and platform-0 accepted by the merchant; also the acceptance's receipt.
    fn acquired_by_platform_0(
        &self,
        seed: u8,
        name: &str,
        plaintext: &str,
    ) -> Result<(MerchantId, Value)> {
        let p0 = self.net.platform_key(0)?;
        let merchant_key = txs::merchant_key(seed);
        let merchant = MerchantId::derive(&merchant_key);
        let r = self.send(0, &p0, Call::Registry(txs::register(&merchant_key, name)))?;
        ensure!(r["code"] == 0, "{r}");
        let sealed = self
            .net
            .seal(&merchant, "platform-0", 1, plaintext.as_bytes())?;
        let r = self.send(0, &p0, Call::Registry(txs::put(&merchant, &sealed)))?;
        ensure!(r["code"] == 0, "{r}");
        let r = self.send(
            0,
            &txs::merchant_secret(seed),
            Call::Registry(txs::accept("platform-0")),
        )?;
        ensure!(r["code"] == 0, "{r}");
        Ok((merchant, r))
    }

    /// Sends `call` from `key` through node `i`; returns the committed receipt.
    fn send(&self, i: usize, key: &SecretKey, call: Call) -> Result<Value> {
        let rpc = self.net.rpc(i);
        let tx = txs::signed_call(key, &self.chain, rpc.nonce(&key.public_key())?, call);
        let hash = rpc
            .submit(&tx.to_bytes())?
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        rpc.wait_committed(&hash, PROGRESS)
    }

    /// Sends `call` and expects it refused with `code` and a message containing `text`.
    fn refused(
        &self,
        attack: &str,
        key: &SecretKey,
        call: Call,
        code: u64,
        text: &str,
    ) -> Result<String> {
        let r = self.send(0, key, call)?;
        let error = r["error"].as_str().unwrap_or_default().to_owned();
        ensure!(
            r["code"] == code && error.contains(text),
            "{attack}: expected refusal {code} saying {text:?}, got {r}"
        );
        eprintln!("{attack}: refused ({code}) {error}");
        Ok(error)
    }

    /// platform-0 proposes `action`, platform-1 and platform-2 approve (3 of 4).
    fn govern(&self, action: Action) -> Result<()> {
        let r = self.send(
            0,
            &self.net.platform_key(0)?,
            Call::Governance(GovCall::Propose { action }),
        )?;
        ensure!(r["code"] == 0, "proposal refused: {r}");
        let id = r["events"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["kind"] == "proposal_created"))
            .and_then(|e| e["attributes"].as_array())
            .and_then(|a| a.iter().find(|kv| kv[0] == "proposal_id"))
            .and_then(|kv| kv[1].as_str())
            .and_then(|s| s.parse::<u64>().ok())
            .with_context(|| format!("no proposal id in {r}"))?;
        for i in [1, 2] {
            let r = self.send(
                i,
                &self.net.platform_key(i)?,
                Call::Governance(GovCall::Vote {
                    proposal: id,
                    approve: true,
                }),
            )?;
            ensure!(r["code"] == 0, "vote refused: {r}");
        }
        Ok(())
    }

    fn enclave_status(&self, i: usize) -> Result<Value> {
        self.net.rpc(i).call(method::ENCLAVE, json!([]))
    }

    fn node_signer(&self, i: usize) -> Result<PublicKey> {
        Ok(serde_json::from_value(
            self.enclave_status(i)?["node_enclave"]["signer"].clone(),
        )?)
    }

    fn entry(&self, signer: &PublicKey) -> Result<Option<Value>> {
        Ok(self.enclave_status(0)?["enclaves"]
            .as_array()
            .context("enclaves")?
            .iter()
            .find(|e| e["quote"]["quote"]["signer"] == signer.to_hex())
            .cloned())
    }

    /// A fresh enclave on a device of the test's own (its operator's machine).
    fn enclave(&self, label: &str) -> Result<Enclave> {
        Ok(Enclave::new(
            &sha256(&[label.as_bytes(), self.chain.as_bytes()]).0,
            EnclaveConfig::new(self.chain_id()),
            None,
        )?)
    }

    fn register(&self, e: &Enclave, platform: &str) -> Result<Call> {
        let root = load_key(&self.net.vendor_root_path())?;
        Ok(Call::Enclave(EnclaveCall::RegisterBound {
            quote: e.certified_quote(&root),
            binding: e.platform_binding(&PlatformId::new(platform)?),
        }))
    }
}

/// A lookup of `merchant`'s record as `platform` by `key`, addressed to the enclave `enclave`.
fn lookup(
    net: &Net,
    key: &SecretKey,
    platform: &str,
    merchant: &MerchantId,
    enclave: PublicKey,
    height: u64,
    label: &str,
) -> Result<(LookupRequest, String, KxSecret)> {
    let reply = KxSecret::from_seed(key_seed(label, 1));
    let mut nonce = [0u8; LOOKUP_NONCE_LEN];
    nonce.copy_from_slice(&key_seed(label, 2)[..LOOKUP_NONCE_LEN]);
    let request = LookupRequest {
        chain_id: net.chain_id(),
        merchant_id: merchant.clone(),
        platform_id: PlatformId::new(platform)?,
        requester: key.public_key(),
        reply_kx_public: reply.public_key(),
        nonce,
        issued_at_height: height,
        enclave,
    };
    let hex_lookup = hex::encode(request.clone().sign(key).to_bytes());
    Ok((request, hex_lookup, reply))
}

fn key_seed(label: &str, n: u8) -> [u8; 32] {
    sha256(&[label.as_bytes(), &[n]]).0
}

fn expect_err(e: &RpcError, attack: &str, code: i64, text: &str) -> Result<()> {
    ensure!(
        e.code == code && e.message.contains(text),
        "{attack}: expected error {code} saying {text:?}, got {e}"
    );
    eprintln!("{attack}: refused ({code}) {}", e.message);
    Ok(())
}

#[test]
fn n4_enclave_registration_and_provisioning_attacks_are_refused() -> Result<()> {
    let net = Net::start(4)?;
    let stranger = key("stranger");
    let p1 = net.net.platform_key(1)?;
    let p2 = net.net.platform_key(2)?;
    // The stranger is a key the chain knows (platform-0 registered it as a merchant's), a member
    // of nothing: so the enclave registry's own refusals answer it (an unknown key is refused at
    // the door before any contract runs).
    let r = net.send(
        0,
        &net.net.platform_key(0)?,
        Call::Registry(txs::register(&stranger.public_key(), "Stranger's Shop")),
    )?;
    ensure!(r["code"] == 0, "{r}");

    // Genesis enclaves belong to genesis platforms: node i's to platform-i.
    let status = net.enclave_status(0)?;
    let mut owners: Vec<String> = status["enclaves"]
        .as_array()
        .context("enclaves")?
        .iter()
        .map(|e| e["platform_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    owners.sort();
    ensure!(
        owners == ["platform-0", "platform-1", "platform-2", "platform-3"],
        "genesis enclaves' platforms: {owners:?}"
    );
    let genesis_signers: Vec<Value> = status["enclaves"]
        .as_array()
        .context("enclaves")?
        .iter()
        .map(|e| e["quote"]["quote"]["signer"].clone())
        .collect();

    // (a) A fresh non-member key signs a quote with the attestation root for a key pair it holds
    // and registers it, to be provisioned with the consortium secret.
    let mine = net.enclave("stranger's enclave")?;
    net.refused(
        "attack (a) non-member registers a quote it signed",
        &stranger,
        net.register(&mine, "platform-0")?,
        409,
        "is not a platform member",
    )?;
    // (a) An operator (platform-1's member key, its node home) has no vendor root: it signs the
    // quote of an enclave it made up with a device key of its own, certified by itself.
    let made_up = net.enclave("operator's made-up enclave")?;
    let own_device = key("operator's own device key");
    net.refused(
        "attack (a) operator registers a quote its own uncertified device key signed",
        &p1,
        Call::Enclave(EnclaveCall::RegisterBound {
            quote: made_up.quote().attest(
                &own_device,
                DeviceCert::issue(&own_device, own_device.public_key()),
            ),
            binding: made_up.platform_binding(&PlatformId::new("platform-1")?),
        }),
        401,
        "uncertified device",
    )?;
    // ... nor with a genuine machine's certificate (copied from genesis) on a quote its key signs.
    let genuine: DeviceCert =
        serde_json::from_value(status["enclaves"][1]["quote"]["device"].clone())?;
    net.refused(
        "attack (a) operator reuses node1's device certificate for its own quote",
        &p1,
        Call::Enclave(EnclaveCall::RegisterBound {
            quote: made_up.quote().attest(&own_device, genuine),
            binding: made_up.platform_binding(&PlatformId::new("platform-1")?),
        }),
        401,
        "forged quote",
    )?;
    ensure!(
        net.entry(&made_up.signer())?.is_none(),
        "a made-up enclave got registered"
    );
    let root = load_key(&net.net.vendor_root_path())?;
    net.refused(
        "attack (a) the first, unbound registration format",
        &stranger,
        Call::Enclave(EnclaveCall::Register {
            quote: mine.certified_quote(&root),
        }),
        411,
        "without the enclave's platform binding",
    )?;
    // Another platform copies that quote and binding to own the enclave: the binding names
    // platform-0.
    net.refused(
        "attack: a platform registers an enclave bound to another platform",
        &p1,
        net.register(&mine, "platform-0")?,
        412,
        "platform binding does not verify",
    )?;
    ensure!(net.entry(&mine.signer())?.is_none(), "registered after all");

    // A quote below the chain's minimum security version (1).
    let low = net.enclave("old build")?;
    let mut q = low.quote();
    q.security_version = 0;
    net.refused(
        "attack: register a quote below the minimum security version",
        &p1,
        Call::Enclave(EnclaveCall::RegisterBound {
            quote: {
                let device = SecretKey::from_seed([21; 32]);
                q.attest(&device, DeviceCert::issue(&root, device.public_key()))
            },
            binding: low.platform_binding(&PlatformId::new("platform-1")?),
        }),
        401,
        "enclave security version 0 is below the chain's minimum 1",
    )?;

    // A member's enclave is registered, bound to it, and provisioned by a running enclave.
    let e1 = net.enclave("platform-1's new enclave")?;
    let r = net.send(0, &p1, net.register(&e1, "platform-1")?)?;
    ensure!(r["code"] == 0, "registration refused: {r}");
    let deadline = Instant::now() + PROGRESS;
    let entry = loop {
        let entry = net.entry(&e1.signer())?.context("not registered")?;
        if entry["provisioned"] == true {
            break entry;
        }
        ensure!(
            Instant::now() < deadline,
            "not provisioned in time: {entry}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    ensure!(entry["platform_id"] == "platform-1", "{entry}");
    ensure!(
        genesis_signers.contains(&entry["provisioned_by"]),
        "provisioned by {} (not a genesis enclave)",
        entry["provisioned_by"]
    );

    // (e) Marking an enclave provisioned: the first, unsigned format from anyone; a provisioning
    // signed by a key that is no enclave (the stranger's) or by another platform's member key.
    let e2 = net.enclave("platform-2's new enclave")?;
    let r = net.send(0, &p2, net.register(&e2, "platform-2")?)?;
    ensure!(r["code"] == 0, "registration refused: {r}");
    let garbage = WrappedSecret {
        recipient_quote_hash: e2.quote().hash(),
        consortium_public: serde_json::from_value(status["config"]["consortium_public"].clone())?,
        sealed: paychain_contracts::enclave::SealedBox {
            ephemeral_public: KxSecret::from_seed([5; 32]).public_key(),
            nonce: [0; 12],
            ciphertext: vec![0; 48],
        },
    };
    for (who, k) in [("a stranger", &stranger), ("platform-1", &p1)] {
        net.refused(
            &format!("attack (e) {who} sends an unsigned provisioning"),
            k,
            Call::Enclave(EnclaveCall::Provision {
                wrapped: garbage.clone(),
            }),
            413,
            "only a provisioned enclave can mark another one provisioned",
        )?;
        let provider = k.public_key();
        let signature = k.sign(&SignedProvision::sign_bytes(
            &net.chain_id(),
            &provider,
            &garbage,
        ));
        net.refused(
            &format!("attack (e) {who} signs a provisioning itself"),
            k,
            Call::Enclave(EnclaveCall::ProvisionSigned {
                provision: SignedProvision {
                    wrapped: garbage.clone(),
                    provider,
                    signature,
                },
            }),
            415,
            "is not registered",
        )?;
    }
    // A genesis enclave's key named as provider, with a signature that is not its own.
    let victim: PublicKey = serde_json::from_value(genesis_signers[0].clone())?;
    net.refused(
        "attack (e) a provisioning in a running enclave's name",
        &stranger,
        Call::Enclave(EnclaveCall::ProvisionSigned {
            provision: SignedProvision {
                wrapped: garbage.clone(),
                provider: victim,
                signature: stranger.sign(b"not the enclave"),
            },
        }),
        414,
        "only the enclave that wrapped the secret can sign it",
    )?;

    // Governance removes platform-3: its node's enclave (genesis, platform-3's) stops serving, its
    // node refuses lookups and clients refuse its answers.
    net.govern(Action::RemovePlatform {
        id: PlatformId::new("platform-3")?,
    })?;
    let node3 = net.node_signer(3)?;
    let entry = net.entry(&node3)?.context("node 3's enclave")?;
    ensure!(
        entry["retired"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("platform platform-3 was removed by governance")),
        "{entry}"
    );
    let deadline = Instant::now() + PROGRESS;
    loop {
        let s = net.enclave_status(3)?;
        if s["node_enclave"]["not_serving"]
            .as_str()
            .is_some_and(|r| r.contains("retired"))
        {
            break;
        }
        ensure!(Instant::now() < deadline, "node 3 still serves: {s}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let p0 = net.net.platform_key(0)?;
    let merchant = MerchantId::derive(&key("any merchant").public_key());
    let height = net.net.height(3)?;
    let (_, l, _) = lookup(
        &net,
        &p0,
        "platform-0",
        &merchant,
        node3,
        height,
        "at node 3",
    )?;
    let e = net.net.rpc(3).call_err(method::LOOKUP, json!([l]))?;
    expect_err(
        &e,
        "a removed platform's enclave is asked",
        4006,
        "does not serve",
    )?;
    ensure!(e.message.contains("retired"), "{e}");
    let key0 = net.net.platform_key_path(0);
    let out = net.net.cli(
        3,
        &[
            "lookup",
            merchant.as_str(),
            "--key",
            key0.to_str().context("path")?,
            "--platform",
            "platform-0",
        ],
    )?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(1) && stderr.contains("retired"),
        "the client trusted a removed platform's enclave: {stderr}"
    );
    eprintln!(
        "client refuses a removed platform's enclave: {}",
        stderr.trim()
    );
    // Node 3's operator (or a man in the middle) presents its retired enclave as serving: the
    // registry entry in `paychain_enclave` unretired, its own status cleared. The client reads
    // the entry from proven state, not from that answer.
    let node3_hex = node3.to_hex();
    let unretire = crate::hostile_node::hostile_proxy(
        net.net.rpc(3),
        std::sync::Arc::new(move |m, mut v| {
            if m == method::ENCLAVE {
                if let Some(list) = v["enclaves"].as_array_mut() {
                    for e in list
                        .iter_mut()
                        .filter(|e| e["quote"]["quote"]["signer"] == node3_hex)
                    {
                        e["retired"] = Value::Null;
                    }
                }
                v["node_enclave"]["not_serving"] = Value::Null;
            }
            v
        }),
    )?;
    let out = crate::hostile_node::cli_via(
        &unretire,
        &net.net.genesis_path(),
        &[
            "lookup",
            merchant.as_str(),
            "--key",
            key0.to_str().context("path")?,
            "--platform",
            "platform-0",
        ],
    )?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(1)
            && stderr.contains("refusing to trust the node's enclave")
            && stderr.contains("retired")
            && stderr.contains("in the state certified by block"),
        "the client trusted a retired enclave presented as serving: {stderr}"
    );
    eprintln!(
        "hostile node presents its retired enclave as serving: refused: {}",
        stderr.trim()
    );

    // Through the CLI: platform-1 cannot deregister platform-2's enclave; platform-2 can.
    let node2 = net.node_signer(2)?.to_hex();
    let key1 = net.net.platform_key_path(1);
    let key2 = net.net.platform_key_path(2);
    let out = net.net.cli(
        0,
        &[
            "enclave",
            "deregister",
            "--key",
            key1.to_str().context("path")?,
            "--signer",
            &node2,
        ],
    )?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(1) && stderr.contains("only that platform's key deregisters it"),
        "attack: platform-1 deregisters platform-2's enclave: {stderr}"
    );
    eprintln!(
        "attack: another platform deregisters an enclave: refused: {}",
        stderr.trim()
    );
    let done = net.net.cli_json(
        0,
        &[
            "enclave",
            "deregister",
            "--key",
            key2.to_str().context("path")?,
            "--signer",
            &node2,
        ],
    )?;
    ensure!(
        done["receipt"]["code"] == 0 && done["status"] == "committed",
        "platform-2's own deregistration: {done}"
    );

    // Through the CLI: governance raises the minimum security version above this build's (1);
    // the chain's enclaves stop serving.
    let key0 = key0.to_str().context("path")?;
    let proposed = net.net.cli_json(
        0,
        &[
            "gov",
            "propose",
            "--key",
            key0,
            "--set-enclave-min-security-version",
            "2",
        ],
    )?;
    let id = proposed["proposal_id"]
        .as_u64()
        .or_else(|| proposed["id"].as_u64())
        .with_context(|| format!("no proposal id in {proposed}"))?
        .to_string();
    for key in [&key1, &key2] {
        let voted = net.net.cli_json(
            0,
            &[
                "gov",
                "vote",
                "--key",
                key.to_str().context("path")?,
                "--proposal",
                &id,
                "--approve",
            ],
        )?;
        ensure!(voted["receipt"]["code"] == 0, "vote: {voted}");
    }
    let deadline = Instant::now() + PROGRESS;
    loop {
        let s = net.enclave_status(0)?;
        if s["node_enclave"]["not_serving"]
            .as_str()
            .is_some_and(|r| r.contains("security version"))
        {
            eprintln!("min security version 2: node 0 {}", s["node_enclave"]);
            break;
        }
        ensure!(Instant::now() < deadline, "node 0 still serves: {s}");
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}

#[test]
fn n4_lookup_replays_audit_trail_and_rate_limit() -> Result<()> {
    let mut net = Net::start(4)?;
    let p0 = net.net.platform_key(0)?;
    let p1 = net.net.platform_key(1)?;
    let stranger = key("stranger");

    // A merchant with platform-0's sealed record, accepted by the merchant.
    let plaintext = "platform-0-acquirer-record-61";
    let (merchant, r) = net.acquired_by_platform_0(61, "Replay Noodles", plaintext)?;
    let h = r["height"].as_u64().context("height")?;
    net.net.wait_all(&[0, 1, 2, 3], h, PROGRESS)?;

    let signer0 = net.node_signer(0)?;
    let measurement: Measurement =
        serde_json::from_value(net.enclave_status(0)?["node_enclave"]["measurement"].clone())?;
    let rpc0 = net.net.rpc(0);
    let height = rpc0.height()?;

    // Answered once by node 0's enclave.
    let (req1, l1, reply1) = lookup(&net, &p0, "platform-0", &merchant, signer0, height, "l1")?;
    let v = rpc0.call(method::LOOKUP, json!([l1]))?;
    let answer: SignedAnswer = serde_json::from_value(v["answer"].clone())?;
    verify_answer(&answer, &req1.hash(), &signer0, &measurement)?;
    let opened = open_answer(&reply1, &answer.answer)?.context("no record")?;
    ensure!(opened.as_slice() == plaintext.as_bytes());

    // (d) The captured lookup replayed at another node: refused there.
    let e = net.net.rpc(1).call_err(method::LOOKUP, json!([l1]))?;
    expect_err(
        &e,
        "attack (d) replay at another node",
        4003,
        "not valid at another node",
    )?;
    // Garbage, a forged signature and a key with no role: refused, and no audit row.
    let e = rpc0.call_err(method::LOOKUP, json!(["00ff00ff"]))?;
    expect_err(&e, "garbage lookup", 4004, "malformed lookup")?;
    let (forged, _, _) = lookup(&net, &p0, "platform-0", &merchant, signer0, height, "f")?;
    let mut signed = forged.sign(&stranger);
    signed.request.requester = p0.public_key();
    let e = rpc0.call_err(method::LOOKUP, json!([hex::encode(signed.to_bytes())]))?;
    expect_err(
        &e,
        "forged lookup signature",
        4003,
        "signature does not verify",
    )?;
    let (_, l, _) = lookup(
        &net,
        &stranger,
        "platform-0",
        &merchant,
        signer0,
        height,
        "s",
    )?;
    let e = rpc0.call_err(method::LOOKUP, json!([l]))?;
    expect_err(
        &e,
        "lookup by a key with no role",
        4003,
        "has no role at platform",
    )?;

    // P reads its trail: the one authenticated lookup.
    let p0_id = PlatformId::new("platform-0")?;
    let trail = fetch_audit(&net, 0, &p0, &p0_id)?;
    ensure!(trail.entries.len() == 1, "{:?}", trail.entries);
    let e0 = &trail.entries[0];
    ensure!(
        e0.seq == 0
            && e0.requester == p0.public_key()
            && e0.merchant_id == merchant
            && e0.request_hash == req1.hash()
            && e0.outcome == "answered",
        "{e0:?}"
    );
    ensure!(
        !serde_json::to_string(&trail)?.contains(plaintext),
        "plaintext in the audit trail"
    );

    // (d) Node 0 restarts: the captured lookup is refused (the answered set is on disk); a new one
    // is answered and continues the trail.
    net.net.restart(0)?;
    let e = rpc0.call_err(method::LOOKUP, json!([l1]))?;
    expect_err(
        &e,
        "attack (d) replay after a restart",
        4003,
        "already answered (replay)",
    )?;
    let height = rpc0.height()?;
    let (_, l2, _) = lookup(&net, &p0, "platform-0", &merchant, signer0, height, "l2")?;
    rpc0.call(method::LOOKUP, json!([l2]))?;
    let trail = fetch_audit(&net, 0, &p0, &p0_id)?;
    let seqs: Vec<u64> = trail.entries.iter().map(|e| e.seq).collect();
    ensure!(seqs == vec![0, 1], "entries across the restart: {seqs:?}");
    ensure!(trail.entries[1].prev_hash == trail.entries[0].hash());

    // Q cannot read P's trail; a captured audit request is not answered twice.
    let e = audit_err(&net, 0, &p1, &p0_id, "q-reads-p")?;
    expect_err(
        &e,
        "platform-1 reads platform-0's audit trail",
        4007,
        "is not platform platform-0's member key",
    )?;
    let req = audit_request(&net, 0, &p0, &p0_id, "once")?;
    net.net.rpc(0).call(method::ENCLAVE_AUDIT, json!([req]))?;
    let e = net
        .net
        .rpc(0)
        .call_err(method::ENCLAVE_AUDIT, json!([req]))?;
    expect_err(&e, "replayed audit request", 4007, "replay")?;
    let e = net
        .net
        .rpc(1)
        .call_err(method::ENCLAVE_AUDIT, json!([req]))?;
    expect_err(
        &e,
        "audit request replayed at another node",
        4007,
        "not valid at another node",
    )?;

    // Rate limit: node 2 allows 1 lookup per second per key, 3 at once. A flood from platform-0's
    // key is refused past that, while platform-1's key is served.
    net.net.set_enclave_config(2, "lookup_rate_per_sec", "1")?;
    net.net.set_enclave_config(2, "lookup_burst", "3")?;
    net.net.restart(2)?;
    let signer2 = net.node_signer(2)?;
    let rpc2 = net.net.rpc(2);
    let height = rpc2.height()?;
    let (mut answered, mut limited) = (0, Vec::new());
    for n in 0..10 {
        let (_, l, _) = lookup(
            &net,
            &p0,
            "platform-0",
            &merchant,
            signer2,
            height,
            &format!("flood-{n}"),
        )?;
        match rpc2.try_call(method::LOOKUP, json!([l]))? {
            Ok(_) => answered += 1,
            Err(e) => limited.push(e),
        }
    }
    ensure!(
        (3..=5).contains(&answered) && !limited.is_empty(),
        "answered {answered}, refused {limited:?}"
    );
    for e in &limited {
        ensure!(e.code == 4005, "{e}");
        let ms: u64 = e
            .message
            .strip_prefix("rate limited, retry after ")
            .and_then(|m| m.strip_suffix(" ms"))
            .and_then(|m| m.parse().ok())
            .with_context(|| format!("not `rate limited, retry after N ms`: {e}"))?;
        ensure!((1..=1000).contains(&ms), "{e}");
    }
    eprintln!(
        "flood from one key: {answered} answered, {} refused: {}",
        limited.len(),
        limited[0].message
    );
    let (_, l, _) = lookup(
        &net,
        &p1,
        "platform-1",
        &merchant,
        signer2,
        height,
        "other key",
    )?;
    let v = rpc2.call(method::LOOKUP, json!([l]))?;
    ensure!(v["answer"]["answer"]["platform_id"] == "platform-1", "{v}");
    let (status, metrics) = rpc2.http("GET", "/metrics", None)?;
    ensure!(status == 200);
    let line = metrics
        .lines()
        .find(|l| l.starts_with("paychain_enclave_rate_limited_total{"))
        .with_context(|| "no rate-limited counter in /metrics".to_string())?;
    let counted: u64 = line
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .with_context(|| line.to_string())?;
    ensure!(counted == limited.len() as u64, "{line}");
    ensure!(
        metrics
            .lines()
            .any(|l| l.starts_with("paychain_enclave_requests_total{")
                && l.contains("method=\"lookup\"")
                && l.contains("outcome=\"answered\"")),
        "no answered counter in {}",
        metrics
            .lines()
            .filter(|l| l.contains("enclave"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // (c) Node 1's operator (platform-1) makes its node host lie to its own enclave: a lookup by
    // platform-1's key naming platform-0 comes with evidence that platform-1's key is platform-0's
    // member key (test-only fault switch, see paychain_node::faults). The enclave checks the
    // evidence against the commit certificate and refuses.
    net.net.set_env(1, "PAYCHAIN_TEST_FAULTS", Some("enable"));
    net.net
        .set_env(1, "PAYCHAIN_TEST_BYZANTINE", Some("forge-role"));
    net.net.restart(1)?;
    let rpc1 = net.net.rpc(1);
    let height = rpc1.height()?;
    let signer1 = net.node_signer(1)?;
    let (_, l, _) = lookup(
        &net,
        &p1,
        "platform-0",
        &merchant,
        signer1,
        height,
        "forged role",
    )?;
    let e = rpc1.call_err(method::LOOKUP, json!([l]))?;
    expect_err(
        &e,
        "attack (c) operator's host grants its own platform key another platform's role",
        4003,
        "does not hold for the value given",
    )?;
    // The same node answers platform-0's own lookup: the host lies only where it gains.
    let (req, l, reply) = lookup(
        &net,
        &p0,
        "platform-0",
        &merchant,
        signer1,
        height,
        "honest at node 1",
    )?;
    let v = rpc1.call(method::LOOKUP, json!([l]))?;
    let answer: SignedAnswer = serde_json::from_value(v["answer"].clone())?;
    verify_answer(&answer, &req.hash(), &signer1, &measurement)?;
    let opened = open_answer(&reply, &answer.answer)?.context("no record")?;
    ensure!(opened.as_slice() == plaintext.as_bytes());
    eprintln!("attack (c): an honest lookup through the same node is answered");
    Ok(())
}

fn audit_request(
    net: &Net,
    i: usize,
    key: &SecretKey,
    platform: &PlatformId,
    label: &str,
) -> Result<String> {
    let mut nonce = [0u8; LOOKUP_NONCE_LEN];
    nonce.copy_from_slice(&key_seed(label, 3)[..LOOKUP_NONCE_LEN]);
    let req = AuditRequest {
        chain_id: net.chain_id(),
        platform_id: platform.clone(),
        requester: key.public_key(),
        enclave: net.node_signer(i)?,
        from_seq: 0,
        limit: MAX_AUDIT_PAGE,
        nonce,
        issued_at_height: net.net.height(i)?,
    };
    Ok(hex::encode(req.sign(key).to_bytes()))
}

fn audit_err(
    net: &Net,
    i: usize,
    key: &SecretKey,
    platform: &PlatformId,
    label: &str,
) -> Result<RpcError> {
    let req = audit_request(net, i, key, platform, label)?;
    net.net.rpc(i).call_err(method::ENCLAVE_AUDIT, json!([req]))
}

/// The SDK's read of `platform`'s trail at node `i` with `key` (its own platform's, found from
/// the key): every page, the chain verified.
fn fetch_audit(
    net: &Net,
    i: usize,
    key: &SecretKey,
    platform: &PlatformId,
) -> Result<paychain_client::enclave::VerifiedAudit> {
    let url = net.net.rpc(i).url();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let trail = rt.block_on(async {
        let client = paychain_client::rpc::Client::new(&url)?;
        anyhow::Ok(paychain_client::enclave::fetch_own_audit(&client, key).await?)
    })?;
    ensure!(&trail.platform_id == platform, "{trail:?}");
    Ok(trail)
}

/// Every 32-byte secret a file could hold: each run of 64 hex characters (key files, configs,
/// logs, strings in the database) and, in small binary files (the sealed secret), every 32-byte
/// window.
fn candidate_secrets(bytes: &[u8], out: &mut BTreeSet<[u8; 32]>) {
    let mut run = 0usize;
    for (i, b) in bytes.iter().enumerate() {
        if b.is_ascii_hexdigit() {
            run += 1;
            if run >= 64 {
                let mut s = [0u8; 32];
                if hex::decode_to_slice(&bytes[i + 1 - 64..=i], &mut s).is_ok() {
                    out.insert(s);
                }
            }
        } else {
            run = 0;
        }
    }
    if bytes.len() < 4096 && std::str::from_utf8(bytes).is_err() {
        for w in bytes.windows(32) {
            out.insert(w.try_into().unwrap_or([0; 32]));
        }
    }
}

fn secrets_under(dir: &Path, out: &mut BTreeSet<[u8; 32]>) -> Result<usize> {
    let mut files = 0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files += secrets_under(&path, out)?;
        } else if let Ok(bytes) = std::fs::read(&path) {
            candidate_secrets(&bytes, out);
            files += 1;
        }
    }
    Ok(files)
}

/// The malicious operator's files: everything in its node home (keys, config, database, sealed
/// secret, logs) after the chain ran. No 32-byte secret in any of them is the vendor root's key
/// (issue: "derive the public key of every 32-byte secret found in the homes and compare with
/// genesis"), nor any genesis machine's device secret, and none of them opens the sealed
/// consortium secret in the home. The device store (`<home>.device`, the simulated CPU) and the
/// vendor's store are scanned as positive controls: the scan does find the device secret and the
/// root there.
#[test]
fn n4_no_node_home_holds_the_vendor_root_or_a_device_secret() -> Result<()> {
    let mut net = Net::start(4)?;
    // Let the homes fill: blocks, the database, logs.
    net.net.wait_height(0, 3, PROGRESS)?;
    let dir = net.net.dir.path();
    let genesis: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("genesis.json"))?)?;
    let root: PublicKey = serde_json::from_value(genesis["enclave"]["attestation_root"].clone())?;
    let devices: Vec<PublicKey> = genesis["enclave"]["enclaves"]
        .as_array()
        .context("genesis enclaves")?
        .iter()
        .map(|e| serde_json::from_value(e["quote"]["device"]["device_key"].clone()))
        .collect::<Result<_, _>>()?;
    ensure!(devices.len() == 4, "genesis machines: {devices:?}");
    let validators: Vec<Value> = genesis["validators"]
        .as_array()
        .context("validators")?
        .iter()
        .map(|v| v["public_key"].clone())
        .collect();

    for i in 0..4 {
        let home = dir.join(format!("node{i}"));
        let mut found = BTreeSet::new();
        let files = secrets_under(&home, &mut found)?;
        let sealed = SealedBlob::from_bytes(&std::fs::read(home.join("enclave/sealed.bin"))?)?;
        let mut saw_validator_key = false;
        for s in &found {
            let public = SecretKey::from_seed(*s).public_key();
            ensure!(
                public != root,
                "node{i}'s home holds the vendor root's private key"
            );
            saw_validator_key |= validators.contains(&Value::String(public.to_hex()));
            let device = device_attestation_key(s)?.public_key();
            ensure!(
                !devices.contains(&device),
                "node{i}'s home holds a machine's device secret"
            );
            ensure!(
                Enclave::new(s, EnclaveConfig::new(net.chain_id()), Some(&sealed)).is_err(),
                "a secret from node{i}'s home unseals its consortium secret"
            );
        }
        // Positive control: the scan reads key files (it finds the node's own validator key).
        ensure!(
            saw_validator_key,
            "scan of node{i}'s home ({files} files, {} candidates) missed its validator key",
            found.len()
        );
        eprintln!(
            "node{i}: {files} files, {} candidate secrets: no vendor root, no device secret, none unseals",
            found.len()
        );
        // Positive control: the device store beside the home is the simulated CPU.
        let mut cpu = BTreeSet::new();
        secrets_under(&dir.join(format!("node{i}.device")), &mut cpu)?;
        ensure!(
            cpu.iter()
                .any(|s| device_attestation_key(s).is_ok_and(|k| k.public_key() == devices[i])),
            "node{i}.device holds no device secret: the scan is blind"
        );
    }
    let mut vendor = BTreeSet::new();
    secrets_under(&dir.join("vendor"), &mut vendor)?;
    ensure!(
        vendor
            .iter()
            .any(|s| SecretKey::from_seed(*s).public_key() == root),
        "the vendor's store holds no root: the scan is blind"
    );
    Ok(())
}

/// The readable memory of process `pid` that can hold what the process computed: writable or
/// anonymous mappings (a read-only file mapping holds the file's bytes, which the home scan above
/// covers). Read as root would: `/proc/<pid>/maps`, then `/proc/<pid>/mem`.
fn process_memory(pid: u32) -> Result<Vec<Vec<u8>>> {
    use std::io::{Read, Seek, SeekFrom};
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem"))
        .with_context(|| format!("open /proc/{pid}/mem (the test reads it as root)"))?;
    let mut regions = Vec::new();
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        let path = fields.nth(3).unwrap_or("");
        let anonymous = path.is_empty() || path.starts_with("[heap]") || path.starts_with("[stack");
        if !perms.starts_with('r') || !(perms.as_bytes()[1] == b'w' || anonymous) {
            continue;
        }
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (start, end) = (
            u64::from_str_radix(start, 16)?,
            u64::from_str_radix(end, 16)?,
        );
        let mut buf = vec![0u8; usize::try_from(end - start)?];
        // A region may go away while it is read (the process runs): skip it.
        if mem.seek(SeekFrom::Start(start)).is_ok() && mem.read_exact(&mut buf).is_ok() {
            regions.push(buf);
        }
    }
    Ok(regions)
}

/// Which of `needles` (name, bytes) occur in `regions`.
fn found_in(regions: &[Vec<u8>], needles: &[(&str, Vec<u8>)]) -> Vec<String> {
    needles
        .iter()
        .filter(|(_, n)| {
            let finder = memchr::memmem::Finder::new(n);
            regions.iter().any(|r| finder.find(r).is_some())
        })
        .map(|(name, _)| (*name).to_owned())
        .collect()
}

/// The enclave sidecar's pid: the child of `node_pid` named `paychain-enclave`.
fn sidecar_pid(node_pid: u32) -> Result<Option<u32>> {
    for entry in std::fs::read_dir("/proc")? {
        let Ok(pid) = entry?.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split after its closing paren.
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let ppid = tail
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(node_pid) && head.contains("(paychain-enclav") {
            return Ok(Some(pid));
        }
    }
    Ok(None)
}

/// One request frame to the sidecar's socket; the reply's body.
fn sidecar_exchange(stream: &mut std::os::unix::net::UnixStream, frame: &[u8]) -> Result<Vec<u8>> {
    use std::io::{Read, Write};
    stream.write_all(frame)?;
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let mut body = vec![0u8; u32::from_le_bytes(len) as usize];
    stream.read_exact(&mut body)?;
    Ok(body)
}

/// A reply that is an error (borsh `Result::Err` = 0, then the kind, then the message).
fn sidecar_error(body: &[u8]) -> Result<(u8, String)> {
    ensure!(
        body.len() >= 6 && body[0] == 0,
        "not an error reply: {body:?}"
    );
    let len = u32::from_le_bytes(body[2..6].try_into()?) as usize;
    let text = std::str::from_utf8(body.get(6..6 + len).context("short error reply")?)?;
    Ok((body[1], text.to_owned()))
}

/// The enclave runs in its own process (issue 16, item 2). Played as root on the node's host:
/// the node process's memory (every writable or anonymous region, read through `/proc`) holds
/// neither the machine's device secret (raw or hex) nor the device attestation key derived from
/// it, nor a record's plaintext, after the node answered a lookup; the sidecar's memory does hold
/// the device key (the positive control: the scan finds a secret where it is). The node, as a
/// hostile client of the sidecar's socket (0600 in a 0700 directory): a malformed frame gets a
/// "malformed" error and the connection goes on; a frame announced at 4 GiB gets an error and the
/// connection is closed; the sidecar keeps serving. The sidecar killed: the node starts it again,
/// hands it the answered lookups (a captured lookup is still refused as a replay) and answers new
/// lookups.
#[test]
fn n1_node_process_never_holds_the_device_secret_and_the_sidecar_holds_out() -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut net = Net::start(1)?;
    let p0 = net.net.platform_key(0)?;
    let plaintext = "platform-0-acquirer-record-71-sidecar";
    let (merchant, _) = net.acquired_by_platform_0(71, "Sidecar Tea", plaintext)?;
    let signer = net.node_signer(0)?;
    let rpc = net.net.rpc(0);
    let lookup_ok = |net: &Net, label: &str| -> Result<String> {
        let height = rpc.height()?;
        let (_, l, reply) = lookup(net, &p0, "platform-0", &merchant, signer, height, label)?;
        let v = rpc.call(method::LOOKUP, json!([l]))?;
        let answer: SignedAnswer = serde_json::from_value(v["answer"].clone())?;
        let opened = open_answer(&reply, &answer.answer)?.context("no record")?;
        ensure!(
            opened.as_slice() == plaintext.as_bytes(),
            "{label}: wrong record"
        );
        Ok(l)
    };
    let l1 = lookup_ok(&net, "sidecar-l1")?;

    // The machine's secrets, as the test (root) reads them from the device store.
    let dir = net.net.dir.path().to_path_buf();
    let hex_secret = std::fs::read_to_string(dir.join("node0.device").join("device.secret"))?;
    let mut secret = [0u8; 32];
    hex::decode_to_slice(hex_secret.trim(), &mut secret)?;
    let device_key = device_attestation_key(&secret)?;
    let needles = [
        ("device secret", secret.to_vec()),
        ("device secret (hex)", hex_secret.trim().as_bytes().to_vec()),
        ("device attestation key", device_key.to_seed().to_vec()),
        ("record plaintext", plaintext.as_bytes().to_vec()),
    ];
    let node_pid = net.net.nodes[0].pid().context("node 0 runs")?;
    let side_pid = sidecar_pid(node_pid)?.context("node 0 has no paychain-enclave child")?;
    let node_mem = process_memory(node_pid)?;
    let node_bytes: usize = node_mem.iter().map(Vec::len).sum();
    let in_node = found_in(&node_mem, &needles);
    ensure!(
        in_node.is_empty(),
        "the node process's memory holds: {in_node:?}"
    );
    let side_mem = process_memory(side_pid)?;
    let in_sidecar = found_in(&side_mem, &needles);
    ensure!(
        in_sidecar.iter().any(|n| n == "device attestation key"),
        "the scan is blind: the sidecar's memory does not hold the device key ({in_sidecar:?})"
    );
    eprintln!(
        "node {node_pid}: {} MiB in {} regions, none of {:?}; sidecar {side_pid} holds {in_sidecar:?}",
        node_bytes >> 20,
        node_mem.len(),
        needles.iter().map(|n| n.0).collect::<Vec<_>>()
    );
    drop((node_mem, side_mem));

    // The socket, as the node (a hostile client) sees it.
    let socket = dir.join("node0").join("sidecar").join("enclave.sock");
    let mode = |p: &Path| -> Result<u32> { Ok(std::fs::metadata(p)?.permissions().mode() & 0o777) };
    ensure!(mode(&socket)? == 0o600, "socket mode {:o}", mode(&socket)?);
    ensure!(
        mode(socket.parent().context("socket dir")?)? == 0o700,
        "socket directory mode"
    );
    let mut s = std::os::unix::net::UnixStream::connect(&socket)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    // A variant that does not exist: "malformed", and the connection goes on.
    let (kind, text) = sidecar_error(&sidecar_exchange(&mut s, &[1, 0, 0, 0, 0xff])?)?;
    ensure!(
        kind == 0 && text.contains("malformed request"),
        "{kind} {text}"
    );
    // Trailing bytes after a valid request: refused too.
    let (kind, text) = sidecar_error(&sidecar_exchange(&mut s, &[2, 0, 0, 0, 0, 0])?)?;
    ensure!(
        kind == 0 && text.contains("malformed request"),
        "{kind} {text}"
    );
    // Info (variant 0) on the same connection: answered (Ok = 1, Reply::Info = 0).
    let body = sidecar_exchange(&mut s, &[1, 0, 0, 0, 0])?;
    ensure!(
        body.starts_with(&[1, 0]),
        "info after a malformed frame: {body:?}"
    );
    // A frame announced at 4 GiB: an error, and the connection is closed without its body read.
    let (kind, text) = sidecar_error(&sidecar_exchange(&mut s, &[0xff, 0xff, 0xff, 0xff])?)?;
    ensure!(
        kind == 0 && text.contains("exceeds the limit"),
        "{kind} {text}"
    );
    let mut rest = Vec::new();
    ensure!(
        std::io::Read::read_to_end(&mut s, &mut rest)? == 0,
        "connection kept open"
    );
    // The sidecar keeps serving the node.
    lookup_ok(&net, "sidecar-l2")?;

    // The sidecar killed: the node starts it again and restores the replay window.
    let kill = std::process::Command::new("kill")
        .arg("-9")
        .arg(side_pid.to_string())
        .status()?;
    ensure!(kill.success(), "kill -9 {side_pid}");
    let deadline = Instant::now() + PROGRESS;
    let new_pid = loop {
        match sidecar_pid(node_pid)? {
            Some(p) if p != side_pid => break p,
            _ if Instant::now() > deadline => anyhow::bail!("the node did not restart its sidecar"),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    ensure!(net.net.nodes[0].is_running(), "the node stopped");
    let deadline = Instant::now() + PROGRESS;
    let answered = loop {
        match lookup_ok(&net, "sidecar-l3") {
            Ok(_) => break true,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(e.context("no answer after the sidecar restarted")),
        }
    };
    ensure!(answered);
    let e = rpc.call_err(method::LOOKUP, json!([l1]))?;
    expect_err(&e, "replay after the sidecar restarted", 4003, "replay")?;
    let log = std::fs::read_to_string(net.net.nodes[0].log_path())?;
    ensure!(
        log.contains("the enclave sidecar exited; starting it again"),
        "the restart is not logged"
    );
    eprintln!("sidecar {side_pid} killed, restarted as {new_pid}; replay still refused");
    Ok(())
}
