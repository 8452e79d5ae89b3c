#!/usr/bin/env python3
"""An independent implementation of paychain's transaction encoding, written from docs/encoding.md
alone: it builds a wallet payment, signs it with ed25519 (PyNaCl), submits it over JSON-RPC and waits
for its receipt. It does not call any Rust code.

    paychain_pay.py check-vectors DOCS_VECTORS_DIR
        Re-derives every wallet payment in docs/vectors/*.json (unsigned bytes, signing bytes,
        signature, signed bytes, tx hash) and exits 1 on the first difference.

    paychain_pay.py pay --rpc URL --key KEYFILE --wallet HEX --merchant ID --acquirer PLATFORM
                        --amount 12.50 --currency CNY --order REF [--timeout SECONDS]
        Reads the chain id (paychain_status) and the sender's next nonce (paychain_account), signs
        the payment with the key file's seed ({"secret_key": hex seed}), submits it
        (paychain_submitTx), waits until paychain_tx reports it committed, and prints one JSON line
        {"tx_hash", "height", "code"}. Exits 1 unless the receipt's code is 0.

Dependencies: Python 3.8+, PyNaCl (ed25519). SHA-256 and HTTP come from the standard library.
"""

import argparse
import glob
import hashlib
import json
import os
import struct
import sys
import time
import urllib.request

import nacl.signing

# docs/encoding.md, "Signing bytes": the domain separator in front of the unsigned encoding.
SIGNING_DOMAIN = b"paychain/tx/v1"

# docs/encoding.md, "Call": variant indices (u8) of the transaction call and of the wallet call.
CALL_WALLET = 2
WALLET_PAY = 5


# ---- borsh, by hand (docs/encoding.md, "Rules") ----

def u8(n):
    return struct.pack("<B", n)


def u32(n):
    return struct.pack("<I", n)


def u64(n):
    return struct.pack("<Q", n)


def string(s):
    b = s.encode("utf-8")
    return u32(len(b)) + b


def fixed(b, n):
    if len(b) != n:
        raise ValueError(f"expected {n} bytes, got {len(b)}")
    return bytes(b)


# ---- the transaction (docs/encoding.md, "Transaction" and "Wallet payment") ----

def encode_pay_call(from_wallet, merchant_id, acquirer, value, currency, order_ref, record_version, record_hash):
    """Call::Wallet(wallet::Call::Pay { .. }). `value` is the canonical decimal string ("12.50");
    (record_version, record_hash) is the route: the acquirer's record the payment is routed by."""
    return (
        u8(CALL_WALLET)
        + u8(WALLET_PAY)
        + fixed(from_wallet, 32)
        + string(merchant_id)
        + string(acquirer)
        + string(value)
        + string(currency)
        + string(order_ref)
        + u64(record_version)
        + fixed(record_hash, 32)
    )


def encode_transaction(chain_id, sender, nonce, call):
    return string(chain_id) + fixed(sender, 32) + u64(nonce) + call


def signing_bytes(unsigned):
    return hashlib.sha256(SIGNING_DOMAIN + unsigned).digest()


def sign(seed, unsigned):
    """Returns (signature, signed encoding, tx hash)."""
    key = nacl.signing.SigningKey(fixed(seed, 32))
    signature = key.sign(signing_bytes(unsigned)).signature
    signed = unsigned + fixed(signature, 64)
    return signature, signed, hashlib.sha256(signed).digest()


def pay_call_from_json(call):
    pay = call["wallet"]["pay"]
    return encode_pay_call(
        bytes.fromhex(pay["from_wallet"]),
        pay["merchant_id"],
        pay["acquirer"],
        pay["amount"]["value"],
        pay["amount"]["currency"],
        pay["order_ref"],
        pay["route"]["record_version"],
        bytes.fromhex(pay["route"]["record_hash"]),
    )


# ---- check-vectors ----

def check_vectors(directory):
    checked = 0
    for path in sorted(glob.glob(os.path.join(directory, "*.json"))):
        with open(path, encoding="utf-8") as f:
            v = json.load(f)
        tx = v["transaction"]
        if "pay" not in tx["call"].get("wallet", {}):
            continue
        seed = bytes.fromhex(v["secret_key_seed"])
        public = nacl.signing.SigningKey(seed).verify_key.encode()
        want = {
            "public_key": v["public_key"],
            "unsigned_hex": v["unsigned_hex"],
            "signing_bytes_hex": v["signing_bytes_hex"],
            "signature_hex": v["signature_hex"],
            "signed_hex": v["signed_hex"],
            "tx_hash": v["tx_hash"],
        }
        unsigned = encode_transaction(
            tx["chain_id"], bytes.fromhex(tx["sender"]), tx["nonce"], pay_call_from_json(tx["call"])
        )
        signature, signed, tx_hash = sign(seed, unsigned)
        got = {
            "public_key": public.hex(),
            "unsigned_hex": unsigned.hex(),
            "signing_bytes_hex": signing_bytes(unsigned).hex(),
            "signature_hex": signature.hex(),
            "signed_hex": signed.hex(),
            "tx_hash": tx_hash.hex(),
        }
        for k in want:
            if got[k] != want[k]:
                print(f"{path}: {k} differs:\n  vector: {want[k]}\n  python: {got[k]}", file=sys.stderr)
                return 1
        checked += 1
    if checked == 0:
        print(f"no wallet payment vectors in {directory}", file=sys.stderr)
        return 1
    print(json.dumps({"vectors_checked": checked}))
    return 0


# ---- JSON-RPC ----

class RpcError(Exception):
    pass


def rpc(url, method, params, timeout=10):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        answer = json.loads(resp.read())
    if answer.get("error") is not None:
        e = answer["error"]
        raise RpcError(f"{method}: {e.get('code')} {e.get('message')}")
    return answer["result"]


def pay(args):
    with open(args.key, encoding="utf-8") as f:
        seed = bytes.fromhex(json.load(f)["secret_key"])
    sender = nacl.signing.SigningKey(seed).verify_key.encode()
    chain_id = rpc(args.rpc, "paychain_status", [])["chain_id"]
    nonce = rpc(args.rpc, "paychain_account", [sender.hex()])["nonce"]
    # The route: the acquirer's current record, as the merchant's public view lists it.
    routes = rpc(args.rpc, "paychain_merchant", [args.merchant])["routes"]
    route = next((r for r in routes if r["platform_id"] == args.acquirer), None)
    if route is None:
        print(f"merchant {args.merchant} has no record of {args.acquirer} that it accepted", file=sys.stderr)
        return 1
    call = encode_pay_call(
        bytes.fromhex(args.wallet), args.merchant, args.acquirer, args.amount, args.currency, args.order,
        route["record_version"], bytes.fromhex(route["record_hash"]),
    )
    unsigned = encode_transaction(chain_id, sender, nonce, call)
    _, signed, tx_hash = sign(seed, unsigned)
    answer = rpc(args.rpc, "paychain_submitTx", [signed.hex()])
    if answer.get("tx_hash") != tx_hash.hex():
        print(f"the node answered tx hash {answer.get('tx_hash')}, expected {tx_hash.hex()}", file=sys.stderr)
        return 1
    deadline = time.monotonic() + args.timeout
    while True:
        t = rpc(args.rpc, "paychain_tx", [tx_hash.hex()])
        if t["status"] == "committed":
            break
        if time.monotonic() > deadline:
            print(f"tx {tx_hash.hex()} not committed within {args.timeout} s: {t}", file=sys.stderr)
            return 1
        time.sleep(0.2)
    receipt = t["receipt"]
    print(json.dumps({"tx_hash": tx_hash.hex(), "height": t["height"], "code": receipt["code"],
                      "chain_id": chain_id, "nonce": nonce}))
    if receipt["code"] != 0:
        print(f"payment refused: {receipt.get('code')} {receipt.get('error')}", file=sys.stderr)
        return 1
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    cv = sub.add_parser("check-vectors")
    cv.add_argument("dir")
    p = sub.add_parser("pay")
    p.add_argument("--rpc", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--wallet", required=True)
    p.add_argument("--merchant", required=True)
    p.add_argument("--acquirer", required=True)
    p.add_argument("--amount", required=True, help="canonical decimal string, e.g. 12.50")
    p.add_argument("--currency", required=True)
    p.add_argument("--order", required=True)
    p.add_argument("--timeout", type=float, default=40.0)
    args = parser.parse_args()
    if args.command == "check-vectors":
        return check_vectors(args.dir)
    return pay(args)


if __name__ == "__main__":
    sys.exit(main())
