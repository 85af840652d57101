#!/usr/bin/env bash
# `make bench`: sioc-chat and the Node reference chat, side by side, same run.
#
# Every scenario point runs against each server in turn (the order flips on
# each repetition), each time on a fresh server with a fresh database in a
# temporary directory; the medians over repetitions make one table
# (bench/results/table.{txt,md}), the raw JSON lines go to
# bench/results/raw.jsonl, the plots to bench/results/{latency,memory}.png.
# A server whose program is missing is skipped with a message.
#
# Environment: QUICK=1 (a ~2 minute smoke run), REPS (repetitions, default
# 3), BUILD_DIR (default build), SERVERS ("sioc node" by default),
# BENCH_TIMEOUT (seconds allowed to one sioc-bench run, default 180).
# make builds sioc-bench and sioc-chat first; this script builds nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
BENCH=$BUILD_DIR/sioc-bench
SIOC_CHAT=$BUILD_DIR/sioc-chat
NODE_REF=bench/node-ref/index.js
REPORT=bench/node-ref/report.mjs
OUT=bench/results
QUICK=${QUICK:-0}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-180}

if [[ $QUICK == 1 ]]; then
  REPS=${REPS:-1}
  CONNECT_NS=(1000)
  BC_N=200 BC_SENDERS=4 SAT_SENDERS=20 DURATION=2 WARMUP=0.5
  RATES=(4000 16000)
  CHAT_SENDERS=20 REPLAY_N=100 REPLAY_ROWS=200
else
  REPS=${REPS:-3}
  CONNECT_NS=(1000 10000 100000) # 100k only where the descriptor limit allows
  BC_N=1000 BC_SENDERS=10 SAT_SENDERS=100 DURATION=5 WARMUP=1
  RATES=(10000 20000 40000 80000 160000 320000 640000 1280000)
  CHAT_SENDERS=100 REPLAY_N=1000 REPLAY_ROWS=1000
fi

die() { echo "bench: $*" >&2; exit 1; }
[[ -x $BENCH ]] || die "$BENCH is missing: run 'make' first"
command -v node >/dev/null || die "node is missing: run 'make setup'"

# More descriptors for us and for the servers we start.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FDS=$(ulimit -n)

# Which servers can run.
SERVERS=${SERVERS:-"sioc node"}
AVAILABLE=()
for s in $SERVERS; do
  case $s in
    sioc) if [[ -x $SIOC_CHAT ]]; then AVAILABLE+=(sioc)
          else echo "bench: skipping sioc: $SIOC_CHAT is missing (not built yet?)" >&2; fi ;;
    node) if node -e "require.resolve('socket.io');require.resolve('better-sqlite3');require.resolve('express')" 2>/dev/null
          then AVAILABLE+=(node)
          else echo "bench: skipping node: npm packages missing (run 'make setup')" >&2; fi ;;
    *) die "unknown server $s" ;;
  esac
done
((${#AVAILABLE[@]})) || die "no server to measure"

# Connection counts above what the descriptor limit allows are dropped.
CNS=()
for n in "${CONNECT_NS[@]}"; do
  if ((n + 200 <= FDS)); then CNS+=("$n")
  else echo "bench: skipping connect n=$n: only $FDS file descriptors (hard limit)" >&2; fi
done

mkdir -p "$OUT"
TMP=$(mktemp -d /tmp/sioc-bench.XXXXXX)
RAW=$OUT/raw.jsonl
: >"$RAW"
SERVER_PID=""
PORT=""

cleanup() {
  stop_server
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server NAME: a fresh server on a free port with a fresh database;
# sets SERVER_PID and PORT.
start_server() {
  local name=$1 dir log
  dir=$(mktemp -d "$TMP/$name.XXXX")
  log=$dir/server.log
  case $name in
    sioc) "$SIOC_CHAT" --port 0 --db "$dir/chat.db" >"$log" 2>&1 & ;;
    node) node "$NODE_REF" --port 0 --db "$dir/chat.db" >"$log" 2>&1 & ;;
  esac
  SERVER_PID=$!
  PORT=""
  for _ in $(seq 1 100); do   # at most 10 s to start
    PORT=$(sed -n 's|^listening on http://localhost:\([0-9]*\).*|\1|p' "$log" | head -1)
    [[ -n $PORT ]] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench: $name did not start:" >&2
  cat "$log" >&2
  stop_server
  return 1
}

# stop_server: SIGTERM, then SIGKILL after 5 s.
stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# measure SERVER POINT REP SCENARIO ARGS...: one sioc-bench run on a fresh
# server; its JSON line goes to the raw file.
measure() {
  local server=$1 point=$2 rep=$3 scenario=$4 line
  shift 4
  start_server "$server" || return 0
  echo "bench: $server $point (run $rep)" >&2
  line=$(timeout "$BENCH_TIMEOUT" "$BENCH" "$scenario" --url "http://127.0.0.1:$PORT" \
    --pid "$SERVER_PID" --label "$server/$point/$rep" "$@" || true)
  stop_server
  if [[ -n $line ]]; then echo "$line" >>"$RAW"
  else echo "bench: $server $point (run $rep) gave no result" >&2; fi
}

# run_point REP POINT SCENARIO ARGS...: the point against every server, in
# an order that flips with each repetition.
run_point() {
  local rep=$1 point=$2
  shift 2
  local order=("${AVAILABLE[@]}")
  if ((rep % 2 == 0)); then
    local rev=()
    for ((i = ${#order[@]} - 1; i >= 0; i--)); do rev+=("${order[i]}"); done
    order=("${rev[@]}")
  fi
  for s in "${order[@]}"; do measure "$s" "$point" "$rep" "$@"; done
}

BC=(--n "$BC_N" --duration "$DURATION" --warmup "$WARMUP")
START=$(date +%s)
for ((rep = 1; rep <= REPS; rep++)); do
  for n in "${CNS[@]}"; do
    run_point "$rep" "connect-$((n / 1000))k" connect --n "$n" --idle 2 --sources $((n / 20000 + 4))
  done
  # Saturation: many senders, each waiting until all clients got its
  # message, so the server always has work whatever its commit latency.
  run_point "$rep" bc-sat broadcast "${BC[@]}" --senders "$SAT_SENDERS" --rate 0
  # The same closed loop with the open-loop runs' 10 senders: Node's figure
  # here is the "saturation rate" offered to both below.
  run_point "$rep" bc-sat10 broadcast "${BC[@]}" --senders "$BC_SENDERS" --rate 0
  run_point "$rep" bc-r40000 broadcast "${BC[@]}" --senders "$BC_SENDERS" --rate 40000
  run_point "$rep" chat chat --n "$CHAT_SENDERS" --senders "$CHAT_SENDERS" \
    --duration "$DURATION" --warmup "$WARMUP"
  run_point "$rep" replay replay --n "$REPLAY_N" --rows "$REPLAY_ROWS" --timeout 120
done

# Node's saturation rate, offered to both: p99 at the load Node can just carry.
NODE_SAT=""
if [[ " ${AVAILABLE[*]} " == *" node "* ]]; then
  NODE_SAT=$(node "$REPORT" median "$RAW" bc-sat10 node deliveries_per_s)
fi
if [[ -n $NODE_SAT && $NODE_SAT -gt 0 ]]; then
  for ((rep = 1; rep <= REPS; rep++)); do
    run_point "$rep" bc-nodesat broadcast "${BC[@]}" --senders "$BC_SENDERS" --rate "$NODE_SAT"
  done
fi

# The latency curve: one run per offered rate (40k already has REPS runs).
for rate in "${RATES[@]}"; do
  [[ $rate == 40000 ]] && continue
  run_point 1 "bc-r$rate" broadcast "${BC[@]}" --senders "$BC_SENDERS" --rate "$rate"
done

echo >&2
echo "bench: $(( $(date +%s) - START )) s; raw results in $RAW" >&2
echo
SIOC_REV=$(git rev-parse --short HEAD 2>/dev/null || true) node "$REPORT" table "$RAW" "$OUT"
if command -v gnuplot >/dev/null; then
  gnuplot -e "dir='$OUT'; servers='${AVAILABLE[*]}'; clients='$BC_N'" bench/plot.gp &&
    echo "plots: $OUT/latency.png $OUT/memory.png"
else
  echo "bench: gnuplot missing: no plots (apt-get install gnuplot-nox)" >&2
fi

# The README shows the table this command printed (full runs only), between
# its bench markers, so the figures there are always the measured ones.
if [[ $QUICK != 1 && -f README.md ]] && grep -q '<!-- bench:begin -->' README.md; then
  awk -v tbl="$OUT/table.md" '
    /<!-- bench:begin -->/ { print; while ((getline l < tbl) > 0) print l; skip = 1; next }
    /<!-- bench:end -->/ { skip = 0 }
    !skip' README.md > README.md.tmp && mv README.md.tmp README.md &&
    echo "README.md: benchmark table updated"
fi
