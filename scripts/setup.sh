#!/usr/bin/env bash
# Installs what building, running and testing sioc need, and nothing twice:
# Debian packages (only the missing ones) and the npm devDependencies (only
# when node_modules is missing or older than the lockfile). Runs as root on a
# fresh Debian 12; elsewhere it uses sudo when it has to.
#
#   scripts/setup.sh run    what building and running the chat needs (make run)
#   scripts/setup.sh [test] that plus the test tools: clang and its sanitizer
#                           runtime, cmocka, the browser, valgrind, gnuplot,
#                           the redis server the tests start, and nginx and
#                           systemd-analyze for the deploy/ files (make test)
#
# A package manager busy elsewhere (unattended-upgrades, another apt) is
# waited for, up to APT_LOCK_WAIT seconds (default 600), instead of failing.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=${1:-test}
[[ $MODE == run || $MODE == test ]] || { echo "usage: scripts/setup.sh [run|test]" >&2; exit 2; }
APT_LOCK_WAIT=${APT_LOCK_WAIT:-600}

# nodejs/npm: npm ci provides the client bundle the chat serves.
RUN_PKGS=(build-essential cmake pkg-config ca-certificates
  libuv1-dev zlib1g-dev libjansson-dev libssl-dev libsqlite3-dev libmsgpack-dev
  libhiredis-dev libcrypt-dev nodejs npm)
# libwslay-dev: the reference framer of fuzz_ws_diff.
TEST_PKGS=(clang clang-format git libcmocka-dev libwslay-dev libclang-rt-14-dev llvm redis-server chromium gnuplot-nox valgrind
  nginx systemd)
APT_PKGS=("${RUN_PKGS[@]}")
[[ $MODE == run ]] || APT_PKGS+=("${TEST_PKGS[@]}")

# Runs apt-get, waiting while another process holds the dpkg or lists lock:
# DPkg::Lock::Timeout covers the dpkg lock; a lists lock (apt-get update)
# fails at once, so that case is retried every 5 s until APT_LOCK_WAIT.
apt_get() {
  local waited=0 out
  while :; do
    if out=$($SUDO apt-get -o DPkg::Lock::Timeout="$APT_LOCK_WAIT" "$@" 2>&1); then
      [[ -z $out ]] || printf '%s\n' "$out"
      return 0
    fi
    if ! grep -qiE 'could not get lock|unable to acquire|is another process using it' <<<"$out" ||
      ((waited >= APT_LOCK_WAIT)); then
      printf '%s\n' "$out" >&2
      return 1
    fi
    ((waited == 0)) && echo "setup: waiting for another package manager to finish" >&2
    sleep 5
    waited=$((waited + 5))
  done
}

missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# A machine with its own Node.js (not from Debian) keeps it.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
if ((${#missing[@]})); then
  SUDO=""; [[ $(id -u) == 0 ]] || SUDO=sudo
  echo "setup: installing ${missing[*]}"
  apt_get update -qq
  DEBIAN_FRONTEND=noninteractive apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  # npm ci empties node_modules first: through a symlink (a git worktree
  # sharing another checkout's modules) it would wipe the other checkout's.
  if [[ -L node_modules ]]; then
    echo "setup: node_modules is a symlink to $(readlink -f node_modules); refusing to run npm ci" \
      "through it (replace it with a copy or a directory of its own)" >&2
    exit 1
  fi
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
