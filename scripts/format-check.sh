#!/usr/bin/env bash
# Lists the tracked C files that clang-format (.clang-format) would change.
# With --fatal (as make test runs it) a difference fails the run; without,
# it only lists the offenders.
set -uo pipefail
cd "$(dirname "$0")/.."
fatal=0
[[ ${1:-} == --fatal ]] && fatal=1
command -v clang-format >/dev/null || { echo "format-check: clang-format not found" >&2; exit $fatal; }
bad=()
while IFS= read -r f; do
  clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done < <(git ls-files '*.c' '*.h')
if ((${#bad[@]})); then
  echo "format-check: ${#bad[@]} file(s) differ from .clang-format (clang-format -i FILE):"
  printf '  %s\n' "${bad[@]}"
  exit $fatal
fi
echo "format-check: all tracked C files are formatted"
