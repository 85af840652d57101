#!/usr/bin/env bash
# Keeps what a fuzz campaign found: for each fuzz target built in BUILD
# (default build/test), merges the corpus the run grew (BUILD/corpus/<target>)
# into the committed one (fuzz/corpus/<target>) with libFuzzer's -set_cover_merge=1,
# which adds only the inputs that reach coverage the committed corpus does
# not (small, minimised files named by their SHA-1). Then `git status
# fuzz/corpus` shows what to commit. Crashes a run found are in
# BUILD/artifacts/<target>/ (crash-*, leak-*, timeout-*, oom-*): listed at
# the end, never merged; reproduce one with BUILD/<target> FILE.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/test}
status=0
for bin in "$build"/fuzz_*; do
  [[ -x $bin && -f $bin ]] || continue
  t=$(basename "$bin")
  grown="$build/corpus/$t"
  [[ -d $grown ]] || continue
  mkdir -p "fuzz/corpus/$t"
  before=$(find "fuzz/corpus/$t" -type f | wc -l)
  if ! ASAN_OPTIONS=detect_leaks=0 "$bin" -set_cover_merge=1 -timeout=10 -rss_limit_mb=2048 \
      "fuzz/corpus/$t" "$grown" >"$build/merge-$t.log" 2>&1; then
    echo "fuzz-merge: $t: merge failed (see $build/merge-$t.log)"
    status=1
    continue
  fi
  after=$(find "fuzz/corpus/$t" -type f | wc -l)
  echo "fuzz-merge: $t: $((after - before)) new input(s) in fuzz/corpus/$t ($after in all)"
done
found=$(find "$build/artifacts" -type f 2>/dev/null)
if [[ -n $found ]]; then
  echo "fuzz-merge: findings to reproduce and fix:"
  printf '  %s\n' $found
fi
exit $status
