#!/usr/bin/env bash
# Instructions and allocations per incoming event, counted by callgrind
# (repeatable whatever the machine's load, unlike wall-clock benchmarks).
#
#   bench/callgrind/run.sh [BUILD_DIR] [MODE] [N]
#
# Runs BUILD_DIR/sioc-protocol-server (default build, a RelWithDebInfo
# build as `make` makes) under callgrind twice, driven by events.mjs in MODE
# (pingpong or burst, default pingpong) with N and then 2N events (default
# 2000), and prints the difference divided by N: what one more event costs,
# with start-up, connection and shutdown cancelled out. Figures: Ir (all
# instructions executed, the program and its libraries; it moves with the
# number of loop iterations, which timing decides), Ir inclusive in the
# receive path (net/http_server.c read_cb: steadier, the one to compare),
# and calls to malloc, calloc and realloc. The callgrind files stay in $OUT (default a
# temporary directory, printed) for callgrind_annotate.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${1:-build}
MODE=${2:-pingpong}
N=${3:-2000}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
SERVER=$BUILD_DIR/sioc-protocol-server
# Node's heartbeat: the 300/200 ms the protocol suites once used would cut
# the client off under callgrind, and a ping every 300 ms would count too.
export SIOC_SIO_HEARTBEAT=25000,20000

# One run with n events: prints "Ir mallocs callocs reallocs".
run_once() {
  local n=$1 log=$OUT/server-$MODE-$1.log file=$OUT/callgrind.$MODE.$1
  valgrind --tool=callgrind --callgrind-out-file="$file" "$SERVER" --port 0 >"$log" 2>&1 &
  local pid=$! port=""
  for _ in $(seq 600); do
    port=$(sed -n 's/^listening on http:\/\/localhost:\([0-9]*\)$/\1/p' "$log")
    [[ -n $port ]] && break
    sleep 0.1
  done
  [[ -n $port ]] || { cat "$log" >&2; kill "$pid"; return 1; }
  node bench/callgrind/events.mjs "http://127.0.0.1:$port" "$n" "$MODE" ||
    { kill -TERM "$pid"; wait "$pid" || true; return 1; }
  kill -TERM "$pid"
  wait "$pid"
  # Totals, and the calls made to each allocator function (callgrind's
  # compressed names: "cfn=(id) name" the first time, "cfn=(id)" after).
  awk '
    /^totals:/ { ir = $2 }
    /^c?fn=\(/ {
      match($0, /\([0-9]+\)/); id = substr($0, RSTART, RLENGTH)
      rest = substr($0, RSTART + RLENGTH + 1)
      if (rest != "") name[id] = rest
      if ($0 ~ /^cfn=/) callee = name[id]
    }
    /^calls=/ { split($0, a, /[= ]/); calls[callee] += a[2] }
    END { printf "%d %d %d %d ", ir, calls["malloc"], calls["calloc"], calls["realloc"] }
  ' "$file"
  # The receive path, inclusive (frames, Engine.IO, Socket.IO, the tick).
  callgrind_annotate --inclusive=yes "$file" |
    awk '/http_server\.c:read_cb / { gsub(",", "", $1); rx = $1 } END { print rx + 0 }'
}

r=$(run_once "$N")
read -r ir1 m1 c1 r1 rx1 <<<"$r"
r=$(run_once $((2 * N)))
read -r ir2 m2 c2 r2 rx2 <<<"$r"
echo "$SERVER $MODE: N=$N: Ir $ir1 -> $ir2; files in $OUT"
awk -v n="$N" -v i1="$ir1" -v i2="$ir2" -v m1="$m1" -v m2="$m2" -v c1="$c1" -v c2="$c2" \
  -v r1="$r1" -v r2="$r2" -v x1="$rx1" -v x2="$rx2" 'BEGIN {
    printf "per event: Ir %.0f (read_cb inclusive %.0f), malloc %.2f, calloc %.2f, realloc %.2f\n",
      (i2 - i1) / n, (x2 - x1) / n, (m2 - m1) / n, (c2 - c1) / n, (r2 - r1) / n
  }'
