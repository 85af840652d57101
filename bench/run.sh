#!/usr/bin/env bash
# `make bench`: sioc-chat and the Node reference chat, side by side, same run,
# and the broadcast rows also against sioc-floor, the floor server
# (bench/floor: a minimal epoll fan-out, no protocol layers, no database),
# so the table shows how far sioc is from what the machine can do.
#
# Every scenario point runs against each server in turn (the order flips on
# each repetition), each time on a fresh server with a fresh database in a
# temporary directory; the medians over repetitions make one table
# (bench/results/table.{txt,md}), the raw JSON lines go to
# bench/results/raw.jsonl, the plots to bench/results/{latency,memory}.png.
# A server whose program is missing is skipped with a message.
#
# The cluster scenario runs each server as a pair: one redis-server (free
# port, no persistence) and two chat processes on it (--redis) sharing one
# database, with sioc-bench's clients alternating between the two.
#
# Environment: QUICK=1 (a ~2 minute smoke run), REPS (repetitions, default
# 3), BUILD_DIR (default build), SERVERS ("sioc node floor" by default),
# SCENARIOS ("connect broadcast chat replay cluster" by default; a subset
# re-measures only those: the other rows of the table are kept from the
# raw.jsonl already there), BENCH_OUT (default bench/results),
# BENCH_TIMEOUT (seconds allowed to one sioc-bench run, default 180),
# BENCH_KEEP_LOGS=1 (keep the servers' logs, under $TMPDIR, for a test).
# make builds sioc-bench and sioc-chat first; this script builds nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
BENCH=$BUILD_DIR/sioc-bench
SIOC_CHAT=$BUILD_DIR/sioc-chat
SIOC_FLOOR=$BUILD_DIR/sioc-floor
NODE_REF=bench/node-ref/index.js
REPORT=bench/node-ref/report.mjs
OUT=${BENCH_OUT:-bench/results}
QUICK=${QUICK:-0}
ALL_SCENARIOS="connect broadcast chat replay cluster"
SCENARIOS=${SCENARIOS:-$ALL_SCENARIOS}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-180}

if [[ $QUICK == 1 ]]; then
  REPS=${REPS:-1}
  CONNECT_NS=(1000)
  BC_N=200 BC_SENDERS=4 SAT_SENDERS=20 DURATION=2 WARMUP=0.5
  RATES=(4000 16000)
  CHAT_SENDERS=20 REPLAY_N=100 REPLAY_ROWS=200
  CL_N=200 CL_SAT_SENDERS=20 CL_SENDERS=4 CL_RATE=4000
else
  REPS=${REPS:-3}
  CONNECT_NS=(1000 10000 100000) # 100k only where the descriptor limit allows
  BC_N=1000 BC_SENDERS=10 SAT_SENDERS=100 DURATION=5 WARMUP=1
  RATES=(10000 20000 40000 80000 160000 320000 640000 1280000)
  CHAT_SENDERS=100 REPLAY_N=1000 REPLAY_ROWS=1000
  CL_N=1000 CL_SAT_SENDERS=100 CL_SENDERS=10 CL_RATE=20000
fi
# Test-sized runs (tests/e2e/bench_cluster.test.mjs) may shrink the cluster.
CL_N=${BENCH_CL_N:-$CL_N} CL_SAT_SENDERS=${BENCH_CL_SAT_SENDERS:-$CL_SAT_SENDERS}
CL_SENDERS=${BENCH_CL_SENDERS:-$CL_SENDERS} CL_RATE=${BENCH_CL_RATE:-$CL_RATE}
DURATION=${BENCH_DURATION:-$DURATION} WARMUP=${BENCH_WARMUP:-$WARMUP}

die() { echo "bench: $*" >&2; exit 1; }
want() { [[ " $SCENARIOS " == *" $1 "* ]]; }
for sc in $SCENARIOS; do
  [[ " $ALL_SCENARIOS " == *" $sc "* ]] || die "unknown scenario $sc (known: $ALL_SCENARIOS)"
done
[[ -x $BENCH ]] || die "$BENCH is missing: run 'make' first"
command -v node >/dev/null || die "node is missing: run 'make setup'"

# More descriptors for us and for the servers we start.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FDS=$(ulimit -n)

# Which servers can run.
SERVERS=${SERVERS:-"sioc node floor"}
AVAILABLE=()
for s in $SERVERS; do
  case $s in
    sioc) if [[ -x $SIOC_CHAT ]]; then AVAILABLE+=(sioc)
          else echo "bench: skipping sioc: $SIOC_CHAT is missing (not built yet?)" >&2; fi ;;
    floor) if [[ -x $SIOC_FLOOR ]]; then AVAILABLE+=(floor)
           else echo "bench: skipping floor: $SIOC_FLOOR is missing (not built yet?)" >&2; fi ;;
    node) if node -e "require.resolve('socket.io');require.resolve('better-sqlite3');require.resolve('express')" 2>/dev/null
          then AVAILABLE+=(node)
          else echo "bench: skipping node: npm packages missing (run 'make setup')" >&2; fi ;;
    *) die "unknown server $s" ;;
  esac
done
((${#AVAILABLE[@]})) || die "no server to measure"

# The cluster pairs need redis-server, and the Node pair the Redis adapter.
CL_AVAILABLE=()
if want cluster; then
  if ! command -v redis-server >/dev/null; then
    echo "bench: skipping cluster: redis-server is missing (run 'make setup')" >&2
  else
    for s in "${AVAILABLE[@]}"; do
      if [[ $s == floor ]]; then continue; fi # a single process: no cluster of its own
      if [[ $s == node ]] && ! node -e "require.resolve('redis');require.resolve('@socket.io/redis-adapter')" 2>/dev/null
      then echo "bench: skipping the node cluster: npm packages missing (run 'make setup')" >&2
      else CL_AVAILABLE+=("$s"); fi
    done
  fi
fi

# Connection counts above what the descriptor limit allows are dropped.
CNS=()
for n in "${CONNECT_NS[@]}"; do
  if ((n + 200 <= FDS)); then CNS+=("$n")
  else echo "bench: skipping connect n=$n: only $FDS file descriptors (hard limit)" >&2; fi
done

mkdir -p "$OUT"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/sioc-bench.XXXXXX")
RAW=$OUT/raw.jsonl
KEPT=""
if [[ " $SCENARIOS " != " $ALL_SCENARIOS " && -s $RAW ]]; then
  # A subset: the rows of the other scenarios stay as they were measured.
  node "$REPORT" keep "$RAW" "$SCENARIOS"
  for sc in $ALL_SCENARIOS; do want "$sc" || KEPT+="${KEPT:+ }$sc"; done
else
  : >"$RAW"
fi
SERVER_PID=""
PORT=""
CLUSTER_PIDS=()
REDIS_PID=""

cleanup() {
  stop_server
  stop_cluster
  if [[ ${BENCH_KEEP_LOGS:-0} == 1 ]]; then echo "bench: server logs kept in $TMP" >&2
  else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_server NAME [DB [ARGS...]]: a fresh server on a free port with a
# fresh database (or DB, with extra ARGS); sets SERVER_PID and PORT.
start_server() {
  local name=$1 dir log db
  dir=$(mktemp -d "$TMP/$name.XXXX")
  log=$dir/server.log
  db=${2:-$dir/chat.db}
  shift $(($# < 2 ? $# : 2))
  case $name in
    sioc) "$SIOC_CHAT" --port 0 --db "$db" "$@" >"$log" 2>&1 & ;;
    node) node "$NODE_REF" --port 0 --db "$db" "$@" >"$log" 2>&1 & ;;
    floor) "$SIOC_FLOOR" --port 0 >"$log" 2>&1 & ;;
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

# stop_pid PID: SIGTERM, then SIGKILL after 5 s.
stop_pid() {
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  stop_pid "$SERVER_PID"
  SERVER_PID=""
}

# A free TCP port on 127.0.0.1 (the kernel's pick, released at once).
free_port() {
  node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

# start_cluster NAME: a fresh redis-server (free port, no persistence) and
# two NAME servers on it sharing one fresh database; sets REDIS_PID,
# CLUSTER_PIDS and CLUSTER_PORTS.
start_cluster() {
  local name=$1 dir rport
  dir=$(mktemp -d "$TMP/$name-cluster.XXXX")
  rport=$(free_port)
  redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no \
    --logfile "$dir/redis.log" &
  REDIS_PID=$!
  for _ in $(seq 1 50); do
    redis-cli -p "$rport" ping 2>/dev/null | grep -q PONG && break
    sleep 0.1
  done
  CLUSTER_PIDS=() CLUSTER_PORTS=()
  for _ in 1 2; do
    if ! start_server "$name" "$dir/chat.db" --redis "redis://127.0.0.1:$rport"; then
      stop_cluster
      return 1
    fi
    CLUSTER_PIDS+=("$SERVER_PID") CLUSTER_PORTS+=("$PORT")
    SERVER_PID=""
  done
  sleep 0.5 # both subscribed before the first broadcast
}

stop_cluster() {
  local p
  for p in "${CLUSTER_PIDS[@]}"; do stop_pid "$p"; done
  CLUSTER_PIDS=()
  [[ -n $REDIS_PID ]] && stop_pid "$REDIS_PID"
  REDIS_PID=""
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

# measure_cluster SERVER POINT REP ARGS...: one sioc-bench broadcast run on
# a fresh pair of SERVER nodes and a fresh Redis.
measure_cluster() {
  local server=$1 point=$2 rep=$3 line
  shift 3
  start_cluster "$server" || return 0
  echo "bench: $server $point (run $rep)" >&2
  line=$(timeout "$BENCH_TIMEOUT" "$BENCH" broadcast \
    --url "http://127.0.0.1:${CLUSTER_PORTS[0]}" --url2 "http://127.0.0.1:${CLUSTER_PORTS[1]}" \
    --pid "${CLUSTER_PIDS[0]}" --pid2 "${CLUSTER_PIDS[1]}" --redis-pid "$REDIS_PID" \
    --label "$server/$point/$rep" "$@" || true)
  stop_cluster
  if [[ -n $line ]]; then echo "$line" >>"$RAW"
  else echo "bench: $server $point (run $rep) gave no result" >&2; fi
}

# The points the floor server runs too: the broadcast rows the targets are
# set on (it has no store, so chat and replay mean nothing there, and its
# connect figures would only measure the kernel).
FLOOR_POINTS=" bc-sat bc-sat10 bc-r40000 "

# run_point REP POINT SCENARIO ARGS...: the point against every server (the
# floor only on FLOOR_POINTS), in an order that flips with each repetition
# (SCENARIO cluster: against every server pair).
run_point() {
  local rep=$1 point=$2
  shift 2
  local order=() run=measure
  for s in "${AVAILABLE[@]}"; do
    [[ $s == floor && $FLOOR_POINTS != *" $point "* ]] || order+=("$s")
  done
  if [[ $1 == cluster ]]; then
    order=("${CL_AVAILABLE[@]}") run=measure_cluster
    shift
    ((${#order[@]})) || return 0
  fi
  if ((rep % 2 == 0)); then
    local rev=()
    for ((i = ${#order[@]} - 1; i >= 0; i--)); do rev+=("${order[i]}"); done
    order=("${rev[@]}")
  fi
  for s in "${order[@]}"; do $run "$s" "$point" "$rep" "$@"; done
}

BC=(--n "$BC_N" --duration "$DURATION" --warmup "$WARMUP")
START=$(date +%s)
CL=(--n "$CL_N" --duration "$DURATION" --warmup "$WARMUP")
for ((rep = 1; rep <= REPS; rep++)); do
  if want connect; then
    for n in "${CNS[@]}"; do
      run_point "$rep" "connect-$((n / 1000))k" connect --n "$n" --idle 2 --sources $((n / 20000 + 4))
    done
  fi
  if want broadcast; then
    # Saturation: many senders, each waiting until all clients got its
    # message, so the server always has work whatever its commit latency.
    run_point "$rep" bc-sat broadcast "${BC[@]}" --senders "$SAT_SENDERS" --rate 0
    # The same closed loop with the open-loop runs' 10 senders: Node's figure
    # here is the "saturation rate" offered to both below.
    run_point "$rep" bc-sat10 broadcast "${BC[@]}" --senders "$BC_SENDERS" --rate 0
    run_point "$rep" bc-r40000 broadcast "${BC[@]}" --senders "$BC_SENDERS" --rate 40000
  fi
  if want chat; then
    run_point "$rep" chat chat --n "$CHAT_SENDERS" --senders "$CHAT_SENDERS" \
      --duration "$DURATION" --warmup "$WARMUP"
  fi
  if want replay; then
    run_point "$rep" replay replay --n "$REPLAY_N" --rows "$REPLAY_ROWS" --timeout 120
  fi
  if want cluster; then
    # Two nodes and one Redis, clients alternating between the nodes.
    # Saturation: closed loop, senders half on each node.
    run_point "$rep" cluster-sat cluster "${CL[@]}" --senders "$CL_SAT_SENDERS" --rate 0
    # A fixed rate both pairs carry, all senders on the first node: every
    # message crosses once, and the second node's CPU is all receiving.
    run_point "$rep" "cluster-r$CL_RATE" cluster "${CL[@]}" --senders "$CL_SENDERS" \
      --rate "$CL_RATE" --one-way 1
  fi
done

# Node's saturation rate, offered to both: p99 at the load Node can just carry.
NODE_SAT=""
if want broadcast && [[ " ${AVAILABLE[*]} " == *" node "* ]]; then
  NODE_SAT=$(node "$REPORT" median "$RAW" bc-sat10 node deliveries_per_s)
fi
if [[ -n $NODE_SAT && $NODE_SAT -gt 0 ]]; then
  for ((rep = 1; rep <= REPS; rep++)); do
    run_point "$rep" bc-nodesat broadcast "${BC[@]}" --senders "$BC_SENDERS" --rate "$NODE_SAT"
  done
fi

# The latency curve: one run per offered rate (40k already has REPS runs).
for rate in "${RATES[@]}"; do
  want broadcast || break
  [[ $rate == 40000 ]] && continue
  run_point 1 "bc-r$rate" broadcast "${BC[@]}" --senders "$BC_SENDERS" --rate "$rate"
done

echo >&2
echo "bench: $(( $(date +%s) - START )) s; raw results in $RAW" >&2
echo
SIOC_REV=$(git rev-parse --short HEAD 2>/dev/null || true) BENCH_KEPT=$KEPT \
  node "$REPORT" table "$RAW" "$OUT"
if ! grep -qs '^[0-9]' "$OUT"/latency-*.dat "$OUT"/memory-*.dat; then
  echo "bench: no broadcast or connect figures: no plots" >&2
elif command -v gnuplot >/dev/null; then
  PLOTTED=$(echo " ${AVAILABLE[*]} " | sed 's/ floor / /; s/^ *//; s/ *$//') # no curves of its own
  gnuplot -e "dir='$OUT'; servers='$PLOTTED'; clients='$BC_N'" bench/plot.gp &&
    echo "plots: $OUT/latency.png $OUT/memory.png"
else
  echo "bench: gnuplot missing: no plots (apt-get install gnuplot-nox)" >&2
fi

# The README shows the table this command printed (full runs only), between
# its bench markers, so the figures there are always the measured ones.
if [[ $QUICK != 1 && $OUT == bench/results && -f README.md ]] && grep -q '<!-- bench:begin -->' README.md; then
  awk -v tbl="$OUT/table.md" '
    /<!-- bench:begin -->/ { print; while ((getline l < tbl) > 0) print l; skip = 1; next }
    /<!-- bench:end -->/ { skip = 0 }
    !skip' README.md > README.md.tmp && mv README.md.tmp README.md &&
    echo "README.md: benchmark table updated"
fi
