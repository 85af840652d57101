#!/usr/bin/env bash
# Installs what building, running and testing sioc need, and nothing twice:
# Debian packages (only the missing ones) and the npm devDependencies (only
# when node_modules is missing or older than the lockfile). Runs as root on a
# fresh Debian 12; elsewhere it uses sudo when it has to.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PKGS=(build-essential clang cmake pkg-config git ca-certificates
  libuv1-dev libwslay-dev zlib1g-dev libjansson-dev libssl-dev libsqlite3-dev libcmocka-dev
  libclang-rt-14-dev llvm nodejs npm redis-server chromium gnuplot-nox valgrind)

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
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -d node_modules || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
