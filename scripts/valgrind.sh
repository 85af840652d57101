#!/usr/bin/env bash
# Runs the end-to-end suites with every sioc program under valgrind memcheck.
#
# Valgrind and ASan do not mix, so this builds its own unsanitized Debug tree
# (build/vg by default) and starts each program through SIOC_WRAPPER (see
# tests/e2e/lib/server.mjs). A memcheck error (invalid read/write, use of
# uninitialised memory, bad free) or a definitely/indirectly lost block makes
# the program exit 99 and its stderr carry a "==PID== " report, and the test's
# stop() fails on either. Suites run one after another: valgrind is 20-50x
# slower and the machine may be shared. The pseudo-suite "unit" runs every
# cmocka unit test program of the tree under memcheck the same way. (browser
# skips itself without Chromium.)
#
#   scripts/valgrind.sh                     unit tests and the e2e suites
#   scripts/valgrind.sh chat robustness     only tests/e2e/{chat,robustness}.test.mjs
#   VG_BUILD_DIR=build/x VG_EXTRA="--track-origins=yes" scripts/valgrind.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${VG_BUILD_DIR:-build/vg}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
SUITES=("$@")
((${#SUITES[@]})) || SUITES=(unit engine socketio socketio_more chat browser robustness)

command -v valgrind >/dev/null || { echo "valgrind.sh: valgrind is not installed (scripts/setup.sh)" >&2; exit 2; }
[[ -d node_modules ]] || npm ci --silent

cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Debug -DSIOC_SANITIZE=OFF >/dev/null
if [[ " ${SUITES[*]} " == *" unit "* ]]; then
  cmake --build "$BUILD_DIR" -j "$JOBS"
else
  cmake --build "$BUILD_DIR" -j "$JOBS" --target sioc-protocol-server sioc-chat
fi

export SIOC_BUILD_DIR=$BUILD_DIR
export SIOC_WRAPPER="valgrind --error-exitcode=99 --leak-check=full \
--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
--track-origins=no -q ${VG_EXTRA:-}"

# Every unit test program under memcheck; its name is added to failed on error.
run_unit() {
  local t
  for t in "$BUILD_DIR"/unit_*; do
    [[ -x $t ]] || continue
    echo "=== valgrind: $t"
    # shellcheck disable=SC2086 # the wrapper is a word list on purpose
    $SIOC_WRAPPER "$t" || failed+=("$(basename "$t")")
  done
}

failed=()
for s in "${SUITES[@]}"; do
  if [[ $s == unit ]]; then
    run_unit
    continue
  fi
  echo "=== valgrind: tests/e2e/$s.test.mjs"
  node --test --test-reporter=spec "tests/e2e/$s.test.mjs" || failed+=("$s")
done
if ((${#failed[@]})); then
  echo "valgrind.sh: failed suites: ${failed[*]}" >&2
  exit 1
fi
echo "valgrind.sh: all suites clean under memcheck"
