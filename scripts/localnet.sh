#!/usr/bin/env bash
# A local N-validator paychain network on 127.0.0.1, one OS process per validator. No docker.
#
#   scripts/localnet.sh up [N]    fresh network of N validators (default 4); returns once every node answers
#   scripts/localnet.sh status    index, RPC URL, up/down, height and app hash of every node
#   scripts/localnet.sh stop I    stop node I (SIGTERM, then SIGKILL after $STOP_TIMEOUT s)
#   scripts/localnet.sh start I   start node I again on its existing state
#   scripts/localnet.sh down      stop every node (state and logs stay in $LOCALNET_DIR)
#
# Environment: LOCALNET_DIR (default <repo>/localnet), BASE_PORT (default 26657; node i serves RPC on
# BASE_PORT+10*i, consensus p2p on +1, tx gossip on +2), UP_TIMEOUT (default 90 s), STOP_TIMEOUT (default 10 s),
# RUST_LOG (passed to the nodes), LOCALNET_PRIVATE_STATE (default 1: payment state private, executed and read only
# inside the enclaves; 0: a chain in the clear). Node i keeps its state, node.pid and node.log in $LOCALNET_DIR/node<i>/.
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

LOCALNET_DIR="${LOCALNET_DIR:-$ROOT/localnet}"
mkdir -p "$(dirname "$LOCALNET_DIR")"
LOCALNET_DIR="$(cd "$(dirname "$LOCALNET_DIR")" && pwd)/$(basename "$LOCALNET_DIR")"
UP_TIMEOUT="${UP_TIMEOUT:-90}"
STOP_TIMEOUT="${STOP_TIMEOUT:-10}"
STATE_FILE="$LOCALNET_DIR/localnet.env"

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
  exit "${1:-2}"
}

# Reads N and BASE_PORT as recorded by `up`.
load_state() {
  [[ -f "$STATE_FILE" ]] || die "no localnet in $LOCALNET_DIR: run 'scripts/localnet.sh up' first"
  # shellcheck disable=SC1090
  source "$STATE_FILE"
}

home_of() { echo "$LOCALNET_DIR/node$1"; }
rpc_url() { echo "http://127.0.0.1:$((BASE_PORT + 10 * $1))"; }

check_index() {
  if ! [[ "$1" =~ ^[0-9]+$ ]] || (($1 >= N)); then
    die "node index must be 0..$((N - 1)), got '$1'"
  fi
}

# Prints the pid of node $1 when it runs (a live paychain-node process from our pid file).
node_pid() {
  local f pid
  f="$(home_of "$1")/node.pid"
  [[ -f "$f" ]] || return 1
  pid="$(cat "$f")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'paychain-node' || return 1
  echo "$pid"
}

# Prints `paychain status --json` of node $1, or fails.
node_status() {
  "$CLI_BIN" --rpc "$(rpc_url "$1")" --json status 2>/dev/null
}

log_tail() {
  local log
  log="$(home_of "$1")/node.log"
  echo "---- last lines of $log ----" >&2
  tail -n 30 "$log" >&2 2>/dev/null || echo "(no log)" >&2
  echo "----" >&2
}

# Launches node $1 in its own session, detached from this shell.
launch() {
  local i=$1 home
  home="$(home_of "$i")"
  echo "---- start $(date -u +%FT%TZ) ----" >>"$home/node.log"
  # setsid: the node gets its own session and process group, so terminal signals (^C in this shell) do not
  # reach it and `stop` can signal the whole group.
  local detach=(setsid)
  command -v setsid >/dev/null 2>&1 || detach=(nohup)
  RUST_LOG="${RUST_LOG:-info}" "${detach[@]}" "$NODE_BIN" start --home "$home" </dev/null >>"$home/node.log" 2>&1 &
  echo $! >"$home/node.pid"
}

# Waits until every node in "$@" answers paychain_status; fails with its log tail if one dies or time runs out.
wait_up() {
  local deadline=$((SECONDS + UP_TIMEOUT)) pending=("$@") still i
  while ((${#pending[@]})); do
    still=()
    for i in "${pending[@]}"; do
      if node_status "$i" >/dev/null; then
        ok "node $i answers at $(rpc_url "$i")"
      elif ! node_pid "$i" >/dev/null; then
        log_tail "$i"
        die "node $i exited during startup (log: $(home_of "$i")/node.log)"
      else
        still+=("$i")
      fi
    done
    pending=("${still[@]+"${still[@]}"}")
    ((${#pending[@]})) || break
    if ((SECONDS >= deadline)); then
      for i in "${pending[@]}"; do log_tail "$i"; done
      die "node(s) ${pending[*]} did not answer within ${UP_TIMEOUT}s"
    fi
    sleep 0.5
  done
}

stop_node() {
  local i=$1 pid deadline
  if ! pid="$(node_pid "$i")"; then
    rm -f "$(home_of "$i")/node.pid"
    echo "node $i is not running"
    return 0
  fi
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      warn "node $i (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT}s: SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
  rm -f "$(home_of "$i")/node.pid"
  echo "node $i stopped"
}

any_running() {
  local i
  for ((i = 0; i < N; i++)); do node_pid "$i" >/dev/null && return 0; done
  return 1
}

cmd_up() {
  local n="${1:-4}" i port
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "N must be a positive number, got '$n'"
  if [[ -f "$STATE_FILE" ]]; then
    load_state
    any_running && die "a localnet is already running in $LOCALNET_DIR: run 'scripts/localnet.sh down' first"
  fi
  N=$n
  BASE_PORT="${BASE_PORT_ENV:-26657}"
  if ! [[ "$BASE_PORT" =~ ^[0-9]+$ ]] || ((BASE_PORT == 0 || BASE_PORT + 10 * N >= 65536)); then
    die "BASE_PORT=$BASE_PORT leaves no room for $N nodes"
  fi
  for ((i = 0; i < N; i++)); do
    for port in $((BASE_PORT + 10 * i)) $((BASE_PORT + 10 * i + 1)) $((BASE_PORT + 10 * i + 2)); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "port $port is in use (another localnet or 'paychain-node --dev'?): stop it or set BASE_PORT"
      fi
    done
  done
  ensure_bins

  if [[ -e "$LOCALNET_DIR" ]]; then
    say "removing the previous localnet in $LOCALNET_DIR"
    rm -rf "$LOCALNET_DIR"
  fi
  say "generating a $N-validator testnet in $LOCALNET_DIR (base port $BASE_PORT)"
  local private=(--state private)
  [[ "${LOCALNET_PRIVATE_STATE:-1}" == 1 ]] || private=(--state clear)
  "$NODE_BIN" testnet --validators "$N" --out "$LOCALNET_DIR" --base-port "$BASE_PORT" "${private[@]}" >/dev/null
  printf 'N=%s\nBASE_PORT=%s\n' "$N" "$BASE_PORT" >"$STATE_FILE"

  say "starting $N nodes"
  for ((i = 0; i < N; i++)); do launch "$i"; done
  local all=()
  for ((i = 0; i < N; i++)); do all+=("$i"); done
  if ! (wait_up "${all[@]}"); then
    say "stopping the nodes that did start"
    for ((i = 0; i < N; i++)); do stop_node "$i" >/dev/null; done
    exit 1
  fi
  say "localnet of $N validators is up; logs in $LOCALNET_DIR/node<i>/node.log"
  cmd_status
}

cmd_status() {
  load_state
  [[ -x "$CLI_BIN" ]] || die "$CLI_BIN not built (run: cargo build --bins)"
  local i url st state height app
  printf '%-5s %-24s %-5s %-8s %s\n' INDEX RPC STATE HEIGHT APP_HASH
  for ((i = 0; i < N; i++)); do
    url="$(rpc_url "$i")"
    height='-' app='-'
    if st="$(node_status "$i")"; then
      state=up
      height="$(json_get .height <<<"$st" || echo '?')"
      app="$(json_get .app_hash <<<"$st" || echo '?')"
    elif node_pid "$i" >/dev/null; then
      state=busy # the process runs but does not answer (starting, or stuck)
    else
      state=down
    fi
    printf '%-5s %-24s %-5s %-8s %s\n' "$i" "$url" "$state" "$height" "$app"
  done
}

cmd_stop() {
  [[ $# -eq 1 ]] || usage
  load_state
  check_index "$1"
  stop_node "$1"
}

cmd_start() {
  [[ $# -eq 1 ]] || usage
  load_state
  check_index "$1"
  ensure_bins
  if node_pid "$1" >/dev/null; then
    echo "node $1 is already running"
    return 0
  fi
  launch "$1"
  wait_up "$1"
}

cmd_down() {
  if [[ ! -f "$STATE_FILE" ]]; then
    echo "no localnet in $LOCALNET_DIR"
    return 0
  fi
  load_state
  local i
  for ((i = 0; i < N; i++)); do stop_node "$i"; done
  say "localnet stopped; state and logs kept in $LOCALNET_DIR ('up' starts a fresh one)"
}

BASE_PORT_ENV="${BASE_PORT:-}"
case "${1:-}" in
  up) shift; [[ $# -le 1 ]] || usage; cmd_up "$@" ;;
  status) cmd_status ;;
  stop) shift; cmd_stop "$@" ;;
  start) shift; cmd_start "$@" ;;
  down) cmd_down ;;
  -h | --help | help) usage 0 ;;
  *) usage ;;
esac
