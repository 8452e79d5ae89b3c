#!/usr/bin/env bash
# The paychain demo: installs what is missing, builds, brings up a 4-validator localnet, registers merchants,
# writes, reads and revokes acquiring records through different nodes, checks that all four nodes agree, then
# runs the payment flows (wallet, scan and pay, offline certificate, settlement, refund, split bill, guardian,
# offline store). The localnet keeps payment state private (LOCALNET_PRIVATE_STATE=1, the default): payments are
# sealed to the enclaves, executed and read only inside them; LOCALNET_PRIVATE_STATE=0 runs it in the clear.
#
#   scripts/demo.sh              (stop it afterwards with: scripts/localnet.sh down)
#
# Environment: as scripts/localnet.sh (LOCALNET_DIR, BASE_PORT, ...).
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export LOCALNET_DIR="${LOCALNET_DIR:-$ROOT/localnet}"
LOCALNET="$ROOT/scripts/localnet.sh"
N=4

on_exit() {
  local rc=$?
  if ((rc)); then
    printf '%sdemo failed%s (exit %s); node logs: %s/node<i>/node.log; stop with: scripts/localnet.sh down\n' \
      "$_R" "$_N" "$rc" "$LOCALNET_DIR" >&2
  fi
}
trap on_exit EXIT

say "step 1/6: build (dev profile)"
build_bins

say "step 2/6: a fresh 4-validator localnet"
"$LOCALNET" down >/dev/null 2>&1 || true
"$LOCALNET" up "$N"
# shellcheck disable=SC1091
source "$LOCALNET_DIR/localnet.env"
rpc() { echo "http://127.0.0.1:$((BASE_PORT + 10 * $1))"; }
# The client pins the consortium's genesis (PAYCHAIN_GENESIS) and checks every node against it: record
# puts seal to its consortium key, lookups trust only the enclave it vouches for.
export PAYCHAIN_GENESIS="$LOCALNET_DIR/genesis.json"

# pc NODE ARGS...: runs the client against node NODE, echoing the command line.
pc() {
  local node=$1
  shift
  printf '  $ paychain --rpc %s %s\n' "$(rpc "$node")" "$*" >&2
  "$CLI_BIN" --rpc "$(rpc "$node")" "$@"
}

P0_KEY="$LOCALNET_DIR/platforms/platform-0.json"
P1_KEY="$LOCALNET_DIR/platforms/platform-1.json"
P2_KEY="$LOCALNET_DIR/platforms/platform-2.json"
[[ -f "$P0_KEY" && -f "$P1_KEY" ]] || die "the testnet wrote no platform keys in $LOCALNET_DIR/platforms/"
DEMO="$LOCALNET_DIR/demo"
mkdir -p "$DEMO"

say "step 3/6: platform-0 registers two merchants (through node 0)"
register() { # register NAME CITY MCC KEYFILE -> merchant id
  local out id
  pc 0 keys new -o "$4" >/dev/null
  local mkey
  mkey="$(json_get .public_key <"$4")"
  out="$(pc 0 --json merchant register --key "$P0_KEY" --name "$1" --city "$2" --mcc "$3" --country CN \
    --merchant-key "$mkey")"
  id="$(json_get .merchant_id <<<"$out" 2>/dev/null || json_get .id <<<"$out")"
  [[ -n "$id" ]] || die "merchant register printed no merchant id: $out"
  echo "$id"
}
M1="$(register 'Noodle House' Shanghai 5812 "$DEMO/merchant-1.json")"
ok "merchant 'Noodle House' registered: $M1"
M2="$(register 'Tea Corner' Hangzhou 5814 "$DEMO/merchant-2.json")"
ok "merchant 'Tea Corner' registered: $M2"

say "step 4/6: acquiring records: platform-0 through node 1, platform-1 through node 2; the merchants consent"
# record INSTITUTION MID: an acquiring record (schema paychain/acquiring-record/v1; the client checks
# every field before sealing it to the enclave).
record() {
  printf '{"schema":"paychain/acquiring-record/v1","acquirer_institution_id":"%s","acquirer_merchant_id":"%s",' "$1" "$2"
  printf '"terminal_id":"T0000001","settlement_account":"SETTLE-%s","currencies":["CNY"],"mcc":"5812",' "$2"
  printf '"fees":{"rate_bps":60},"valid_from":1735689600}\n'
}
record 48020000 P0-000123 >"$DEMO/p0-info.json"
record 48020001 P1-998877 >"$DEMO/p1-info.json"
pc 1 record put --key "$P0_KEY" --merchant "$M1" --info "$DEMO/p0-info.json"
pc 2 record put --key "$P1_KEY" --merchant "$M1" --info "$DEMO/p1-info.json"
pc 1 record put --key "$P0_KEY" --merchant "$M2" --info "$DEMO/p0-info.json"
pc 3 merchant show "$M1"   # both records pending: the merchant has not accepted either platform yet
pc 0 merchant accept --key "$DEMO/merchant-1.json" --platform platform-0
pc 0 merchant accept --key "$DEMO/merchant-1.json" --platform platform-1
pc 0 merchant accept --key "$DEMO/merchant-2.json" --platform platform-0
ok "three records written; each merchant accepted its acquirers with its own key (until then a record is pending, never routed to)"

say "step 5/6: reads through node 3; platform-1 revokes its record of $M1 through node 0"
pc 3 merchant show "$M1"
pc 3 record get --merchant "$M1" --platform platform-1
pc 0 record revoke --key "$P1_KEY" --merchant "$M1"
pc 3 record get --merchant "$M1" --platform platform-1
pc 3 lookup "$M1"
pc 3 lookup "$M2"
ok "records read back from another node; revocation visible"
say "      the chain holds only ciphertext: platform-0 reads its own record through node 2's enclave"
pc 2 lookup "$M2" --key "$P0_KEY" --platform platform-0
if refusal="$(pc 2 lookup "$M2" --key "$P1_KEY" --platform platform-0 2>&1)"; then
  die "platform-1 was given platform-0's record"
fi
printf '%s\n' "$refusal"
ok "platform-1 asking for platform-0's record was refused (no role at platform-0)"
say "      governance rotates the enclave epoch: a new secret made inside an enclave, new record keys per platform"
ROTATION="$(pc 0 --json gov propose --key "$P0_KEY" --rotate-enclave-epoch | json_get .proposal_id)"
pc 1 gov vote --key "$P1_KEY" --proposal "$ROTATION" --approve
pc 2 gov vote --key "$P2_KEY" --proposal "$ROTATION" --approve
epoch=""
for _ in $(seq 1 120); do
  epoch="$("$CLI_BIN" --rpc "$(rpc 3)" --json enclave status | json_get .epoch.current)"
  [ "$epoch" = 1 ] && break
  sleep 0.5
done
[ "$epoch" = 1 ] || die "no enclave started epoch 1 within 60 s"
pc 1 record reseal --key "$P0_KEY" --merchant "$M1" --merchant "$M2"
pc 3 lookup "$M2" --key "$P0_KEY" --platform platform-0
ok "epoch 1 started; platform-0 re-sealed its records with one command and they are answered from the new epoch"

say "step 6/6: all four nodes agree"
"$LOCALNET" status
# Nodes keep committing, so compare them at one fixed height: the lowest height any node has reached.
min=""
for ((i = 0; i < N; i++)); do
  h="$("$CLI_BIN" --rpc "$(rpc "$i")" --json status | json_get .height)"
  if [[ -z "$min" || "$h" -lt "$min" ]]; then min=$h; fi
done
printf '%-5s %-7s %-66s %s\n' INDEX HEIGHT BLOCK_HASH APP_HASH_BEFORE_IT
ref=""
for ((i = 0; i < N; i++)); do
  block="$("$CLI_BIN" --rpc "$(rpc "$i")" --json block "$min")" || die "node $i has no block $min"
  hash="$(json_get .hash <<<"$block")"
  app="$(json_get .header.prev_app_hash <<<"$block")"
  printf '%-5s %-7s %-66s %s\n' "$i" "$min" "$hash" "$app"
  if [[ -z "$ref" ]]; then
    ref="$hash $app"
  elif [[ "$hash $app" != "$ref" ]]; then
    die "node $i disagrees with node 0 at height $min"
  fi
done
ok "all $N nodes have the same block and app hash at height $min (the chain keeps growing, hence one fixed height)"

trap - EXIT
cat <<MSG

${_B}What happened${_N}
  * 4 validators (one process each) run BFT consensus on 127.0.0.1, ports from $BASE_PORT.
  * platform-0 registered merchants $M1 and $M2 (the ID is what a merchant's QR code carries).
  * platform-0 and platform-1 each put an acquiring record for $M1, submitted to different nodes;
    platform-1 then revoked its record; every read went to yet another node.
  * every node committed the same blocks: same height, same app hash.

  Look around:   scripts/localnet.sh status
                 $CLI_BIN --rpc $(rpc 0) lookup $M1
  Stop a node:   scripts/localnet.sh stop 3   (the other three keep going; 'start 3' and it catches up)
  Stop it all:   scripts/localnet.sh down
MSG

# ---------------------------------------------------------------------------------------------------------
# Scan and pay: a wallet host qualified by governance, a verified payer with a wallet and a bound card, a
# dynamic merchant code as a PNG, one command to pay it, and the payment's certificate checked offline.
trap on_exit EXIT
GENESIS="$LOCALNET_DIR/genesis.json"
# Every transaction below goes through node 0, so each key's next nonce is read where its last tx
# landed; first let node 0 catch up with the others (platform-0 last wrote through node 1).
target=0
for ((i = 1; i < N; i++)); do
  h="$("$CLI_BIN" --rpc "$(rpc "$i")" --json status | json_get .height)"
  ((h > target)) && target=$h
done
for ((t = 0; t < 300; t++)); do
  h="$("$CLI_BIN" --rpc "$(rpc 0)" --json status | json_get .height)"
  ((h >= target)) && break
  sleep 0.1
done

say "scan and pay 1/6: governance qualifies platform-0 as a wallet host (3 of 4 governors approve)"
PROPOSAL="$(pc 0 --json gov propose --key "$P0_KEY" --qualify-wallet-host platform-0 | json_get .proposal_id)"
pc 0 gov vote --key "$P1_KEY" --proposal "$PROPOSAL" --approve
pc 0 gov vote --key "$P2_KEY" --proposal "$PROPOSAL" --approve
pc 3 gov show "$PROPOSAL"
ok "proposal $PROPOSAL executed: platform-0 hosts wallets"

say "scan and pay 1b/6: platform-0's consortium CA (X.509), approved by governance; it certifies its merchants"
pc 0 ca init --platform platform-0 --out-dir "$DEMO/ca0" | grep -E '^(subject|fingerprint) '
CA_PROPOSAL="$(pc 0 --json ca propose --key "$P0_KEY" --platform platform-0 --cert "$DEMO/ca0/ca.pem" |
  json_get .proposal_id)"
pc 0 gov vote --key "$P1_KEY" --proposal "$CA_PROPOSAL" --approve >/dev/null
pc 0 gov vote --key "$P2_KEY" --proposal "$CA_PROPOSAL" --approve >/dev/null
pc 0 ca show --platform platform-0 | grep -E '^(subject|approved) ' || true
# certify KEYFILE ROLE: platform-0 issues the party's certificate (PEM), the party consents with its key,
# platform-0 registers it on chain. The X25519 encryption key would come from the party's wallet app;
# here a fresh random one.
certify() {
  local key=$1 role=$2 pub pem sig
  pub="$(json_get .public_key <"$key")"
  pem="${key%.json}.pem"
  "$CLI_BIN" --rpc "$(rpc 0)" --json ca issue --ca-key "$DEMO/ca0/ca.key" --ca-cert "$DEMO/ca0/ca.pem" --party-key "$pub" \
    --encryption-key "$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" --role "$role" -o "$pem" >/dev/null
  sig="$("$CLI_BIN" --rpc "$(rpc 0)" --json ca consent --key "$key" --cert "$pem" | json_get .party_signature)"
  "$CLI_BIN" --rpc "$(rpc 0)" --json ca register --key "$P0_KEY" --cert "$pem" --party-signature "$sig" >/dev/null
}
certify "$DEMO/merchant-1.json" merchant
certify "$DEMO/merchant-2.json" merchant
pc 0 ca show --party "$(json_get .public_key <"$DEMO/merchant-1.json")" | grep -E '^(subject|role|valid) ' || true
ok "proposal $CA_PROPOSAL executed: platform-0's CA approved; Noodle House and Tea Corner hold merchant certificates"

say "scan and pay 2/6: platform-0 verifies a payer, opens a CNY wallet, binds a card (one-time code), tops up"
pc 0 keys new -o "$DEMO/payer.json" >/dev/null
PAYER="$(json_get .public_key <"$DEMO/payer.json")"
pc 0 wallet verify-user --key "$P0_KEY" --user "$PAYER" --name "Li Lei" --id-number 110101199003074512 \
  --phone +8613800138000
if pc 0 wallet open --key "$P0_KEY" --user "$PAYER" --currency CNY >/dev/null 2>"$DEMO/uncertified.err"; then
  die "a wallet opened for a user without a certificate"
fi
printf '  refused before certification: %s\n' "$(tail -n 1 "$DEMO/uncertified.err")"
certify "$DEMO/payer.json" user
WALLET="$(pc 0 --json wallet open --key "$P0_KEY" --user "$PAYER" --currency CNY | json_get .wallet_id)"
CARD=6222020200112233
bind="$(pc 0 --json wallet bind-card --key "$P0_KEY" --user "$PAYER" --card "$CARD")"
BINDING="$(json_get .binding_id <<<"$bind")"
OTP="$(json_get .otp <<<"$bind")"
printf '  (bank channel SMS to the payer: your card binding code is %s)\n' "$OTP"
pc 0 wallet confirm-card --key "$DEMO/payer.json" --binding "$BINDING" --otp "$OTP"
pc 0 wallet top-up --key "$P0_KEY" --owner-key "$DEMO/payer.json" --wallet "$WALLET" --amount 200.00 --currency CNY \
  --card "$CARD"   # the payer signs the instruction; the host alone cannot load a wallet
pc 3 wallet show "$WALLET" --key "$DEMO/payer.json"
ok "wallet $WALLET holds 200.00 CNY"

say "scan and pay 3/6: Noodle House shows a dynamic code for order DEMO-0001 (38.00 CNY)"
pc 0 qr encode --merchant "$M1" --name 'Noodle House' --city Shanghai --mcc 5812 --currency CNY \
  --amount 38.00 --order DEMO-0001 -o "$DEMO/code.png"
pc 0 qr decode "$DEMO/code.png"

say "scan and pay 4/6: the payer scans the PNG, looks up its own platform's record through the enclave, pays by it"
paid="$(pc 0 --json pay --code "$DEMO/code.png" --key "$DEMO/payer.json" -o "$DEMO/cert.json")"
PAYMENT="$(json_get .payment_id <<<"$paid")"
printf '  paid %s CNY to %s through acquirer %s: payment %s, final at height %s, certificate %s\n' \
  "$(json_get .amount.value <<<"$paid")" "$(json_get .merchant.name <<<"$paid")" "$(json_get .acquirer <<<"$paid")" \
  "$PAYMENT" "$(json_get .height <<<"$paid")" "$DEMO/cert.json"
printf '  routed by record v%s of %s: institution %s, merchant id %s, terminal %s (decrypted for the payer only)\n' \
  "$(json_get .route.record_version <<<"$paid")" "$(json_get .acquirer <<<"$paid")" \
  "$(json_get .acquiring.acquirer_institution_id <<<"$paid")" "$(json_get .acquiring.acquirer_merchant_id <<<"$paid")" \
  "$(json_get .acquiring.terminal_id <<<"$paid")"
printf '  took %s ms from scan to checked certificate: scan %s, checks %s, enclave lookup %s, commit %s, certificate %s\n' \
  "$(json_get .steps_ms.total <<<"$paid")" "$(json_get .steps_ms.scan <<<"$paid")" "$(json_get .steps_ms.checks <<<"$paid")" \
  "$(json_get .steps_ms.lookup <<<"$paid")" "$(json_get .steps_ms.commit <<<"$paid")" "$(json_get .steps_ms.certificate <<<"$paid")"
if pc 0 pay --code "$DEMO/code.png" --key "$DEMO/payer.json" -o "$DEMO/cert2.json" 2>"$DEMO/again.err"; then
  die "paying the same order twice was accepted"
fi
ok "paid once; paying the same order again is refused: $(tail -n 1 "$DEMO/again.err")"

say "scan and pay 5/6: anyone verifies the certificate offline, with genesis.json only"
printf '  $ paychain cert verify %s --genesis %s\n' "$DEMO/cert.json" "$GENESIS" >&2
"$CLI_BIN" cert verify "$DEMO/cert.json" --genesis "$GENESIS"
if grep -q '"value": "38.00"' "$DEMO/cert.json"; then
  # A chain in the clear: the certificate shows the amount; change it.
  sed 's/"value": "38.00"/"value": "3.80"/' "$DEMO/cert.json" >"$DEMO/cert-tampered.json"
  what="the amount changed to 3.80"
else
  # A chain with private state: the payment inside is sealed (only its parties, their platforms and
  # the regulator read it, through an enclave); change one byte of the sealed call.
  grep -q '"sealed"' "$DEMO/cert.json" || die "the certificate shows neither the amount nor a sealed call"
  jq '.tx.tx.call.sealed.sealed.ciphertext |= (if startswith("0") then "1" + .[1:] else "0" + .[1:] end)' \
    "$DEMO/cert.json" >"$DEMO/cert-tampered.json"
  what="one byte of its sealed payment changed"
  ok "the certificate holds the payment sealed: $(jq -r '.tx.tx.call | keys[0]' "$DEMO/cert.json") call, receipt event $(jq -r '.receipt.events[0].kind' "$DEMO/cert.json")"
fi
if "$CLI_BIN" cert verify "$DEMO/cert-tampered.json" --genesis "$GENESIS" 2>"$DEMO/tampered.err"; then
  die "a certificate with $what verified"
fi
ok "a copy with $what is refused: $(cat "$DEMO/tampered.err")"

say "scan and pay 6/6: to-be-settled balance, settlement, a partial refund, statements"
pc 3 wallet balance --merchant "$M1" --acquirer platform-0 --currency CNY --key "$DEMO/merchant-1.json"
pc 0 settle --key "$P0_KEY" --merchant "$M1" --amount 30.00 --currency CNY
pc 0 refund --key "$P0_KEY" --payment "$PAYMENT" --amount 8.00
pc 3 wallet statement --wallet "$WALLET" --key "$DEMO/payer.json"
pc 3 wallet statement --merchant "$M1" --acquirer platform-0 --currency CNY --key "$P0_KEY"
pc 3 cert list --key "$DEMO/payer.json"
if pc 3 cert list --key "$DEMO/merchant-1.json" --public-key "$PAYER" >/dev/null 2>"$DEMO/private.err"; then
  die "another key listed the payer's certificates"
fi
ok "private reads are signed by an entitled key: the merchant listing the payer's certificates is refused: $(tail -n 1 "$DEMO/private.err")"
ok "scan and pay done: money moved wallet → to-be-settled → bank, and back to the wallet by refund"

trap - EXIT
cat <<MSG

${_B}Scan and pay${_N}
  * governance (3 of 4 governors) qualified platform-0 to host wallets and approved its X.509 CA; it
    certified the merchants and the payer (PEM files in $DEMO), verified the payer (only salted hashes
    on chain), opened wallet $WALLET (refused before the payer was certified), bound a card with a
    one-time code and topped it up.
  * the payer paid the dynamic code $DEMO/code.png with one command: \`paychain pay --code code.png\`;
    the acquirer is the payer's own platform: the client looked up that platform's record through the
    enclave (decrypted for the payer only) and the payment names the record version it was routed by.
  * $DEMO/cert.json proves the payment offline: \`paychain cert verify cert.json --genesis genesis.json\`.
MSG

# ---------------------------------------------------------------------------------------------------------
# More payment flows, a few lines each: a split-bill code paid by two payers, a child paying from a
# guardian's wallet within limits, and a store order paid by the user's online identity. Every tx goes
# through node 0.
trap on_exit EXIT

# fund NAME KEYFILE AMOUNT: a verified and certified platform-0 user with a CNY wallet, a bound card and AMOUNT; prints
# the wallet id.
fund() {
  local name=$1 key=$2 amount=$3 user wallet bind
  "$CLI_BIN" --rpc "$(rpc 0)" keys new -o "$key" >/dev/null
  user="$(json_get .public_key <"$key")"
  "$CLI_BIN" --rpc "$(rpc 0)" --json wallet verify-user --key "$P0_KEY" --user "$user" --name "$name" \
    --id-number 110101199003074512 --phone +8613800138000 >/dev/null
  certify "$key" user
  wallet="$("$CLI_BIN" --rpc "$(rpc 0)" --json wallet open --key "$P0_KEY" --user "$user" --currency CNY |
    json_get .wallet_id)"
  bind="$("$CLI_BIN" --rpc "$(rpc 0)" --json wallet bind-card --key "$P0_KEY" --user "$user" --card "$CARD")"
  "$CLI_BIN" --rpc "$(rpc 0)" --json wallet confirm-card --key "$key" --binding "$(json_get .binding_id <<<"$bind")" \
    --otp "$(json_get .otp <<<"$bind")" >/dev/null
  "$CLI_BIN" --rpc "$(rpc 0)" --json wallet top-up --key "$P0_KEY" --owner-key "$key" --wallet "$wallet" --amount "$amount" \
    --currency CNY --card "$CARD" >/dev/null
  echo "$wallet"
}
WALLET2="$(fund 'Han Meimei' "$DEMO/payer-2.json" 100.00)"
ok "a second payer, Han Meimei, has wallet $WALLET2 with 100.00 CNY"

say "split bill: Noodle House asks 90.00 CNY from 2 payers with one code (password 'lunch')"
pc 0 collect create --key "$DEMO/merchant-1.json" --merchant "$M1" --acquirer platform-0 --total 90.00 \
  --currency CNY --payers 2 --expires-in 3600 --password lunch -o "$DEMO/split.png" |
  grep -E '^(collection|total|code) '
pc 0 collect pay --code "$DEMO/split.png" --key "$DEMO/payer.json" --password lunch | grep -E '^(share|status) '
if pc 0 collect pay --code "$DEMO/split.png" --key "$DEMO/payer.json" --password lunch >/dev/null 2>"$DEMO/split.err"; then
  die "the same payer paid two shares"
fi
printf '  refused: %s\n' "$(tail -n 1 "$DEMO/split.err")"
pc 0 collect pay --code "$DEMO/split.png" --key "$DEMO/payer-2.json" --password lunch | grep -E '^(share|completed|status) '
ok "two shares of 45.00 paid; the second completed the order and credited Noodle House once"

say "guardian: a child scans a school terminal's code and asks Li Lei (the first payer) to pay for them"
pc 0 guardian terminal-code --device SCH-0042 --business school -o "$DEMO/terminal.png" | grep '^terminal '
pc 0 keys new -o "$DEMO/child.json" >/dev/null
# The child is onboarded by platform-0 like any user: the chain admits no transaction from an unknown key.
pc 0 wallet verify-user --key "$P0_KEY" --user "$(json_get .public_key <"$DEMO/child.json")" --name "Li Xiaoming" \
  --id-number 110101201503074518 --phone +8613800138001 >/dev/null
GUARDIAN="$(json_get .public_key <"$DEMO/payer.json")"
GB="$(pc 0 --json guardian request --key "$DEMO/child.json" --guardian "$GUARDIAN" --terminal "$DEMO/terminal.png" |
  json_get .binding_id)"
pc 0 guardian approve --key "$DEMO/payer.json" --binding "$GB" --per-payment 30.00 --per-day 50.00 \
  --payments-per-day 3 | grep -E '^(binding|limits) '
pc 0 qr encode --merchant "$M2" --name 'Tea Corner' --city Hangzhou --mcc 5814 --currency CNY -o "$DEMO/tea.png" \
  >/dev/null
pc 0 pay --code "$DEMO/tea.png" --key "$DEMO/child.json" --binding "$GB" --amount 18.00 -o "$DEMO/cert-child.json" |
  grep -E '^(amount|paid for|paid) '
if pc 0 pay --code "$DEMO/tea.png" --key "$DEMO/child.json" --binding "$GB" --amount 35.00 >/dev/null 2>"$DEMO/limit.err"; then
  die "a payment above the per-payment limit was accepted"
fi
printf '  refused: %s\n' "$(tail -n 1 "$DEMO/limit.err")"
pc 0 guardian statement --binding "$GB" --key "$DEMO/payer.json"
ok "the child paid from the guardian's wallet within the limits; the guardian sees the month's statement"

say "offline store, online identity: Tea Corner scans Han Meimei's identity code and she confirms"
pc 0 identity code --key "$DEMO/payer-2.json" -o "$DEMO/identity.png" | grep '^identity '
ORDER="$(pc 0 --json store order --key "$DEMO/merchant-2.json" --merchant "$M2" --acquirer platform-0 \
  --user-code "$DEMO/identity.png" --order-no T-0001 --amount 26.00 --currency CNY --expires-in 600 |
  json_get .order_id)"
pc 0 store confirm --key "$DEMO/payer-2.json" --order "$ORDER" | grep -E '^(order|paid) '
if pc 0 store confirm --key "$DEMO/payer-2.json" --order "$ORDER" >/dev/null 2>"$DEMO/twice.err"; then
  die "a store order was paid twice"
fi
printf '  refused: %s\n' "$(tail -n 1 "$DEMO/twice.err")"
pc 0 store list --key "$DEMO/payer-2.json"
ok "store order T-0001 paid from her wallet once; a second confirmation is refused"
trap - EXIT
ok "demo finished in $((SECONDS / 60)) min $((SECONDS % 60)) s; the 4 validators keep running (scripts/localnet.sh status, scripts/localnet.sh down)"
