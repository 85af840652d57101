#!/usr/bin/env bash
# The installed package, tested as a user outside the tree would use it.
#
#   run.sh install    SRC WORK   configure sioc alone (library only: no
#                                SQLite, zlib or cmocka), build, install
#                                into WORK/prefix
#   run.sh pkgconfig  SRC WORK   build examples/*.c with pkg-config
#                                (shared, then --static) and run them
#   run.sh cmake      SRC WORK   build them with find_package(sioc)
#   run.sh subdir     SRC WORK   build them with add_subdirectory(SRC) in a
#                                project of their own (no install needed)
#
# The library is built without sanitizers in WORK/build: the programs built
# here are plain programs, as a user would build them.
set -euo pipefail
trap 'echo "run.sh $mode: failed at line $LINENO" >&2' ERR
mode=$1 src=$2 work=$3
prefix=$work/prefix
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
CC=${CC:-cc}

# Each example must start, print its "listening on" line, and exit 0 on
# SIGTERM.
smoke() {
  local bin=$1 out=$work/smoke-$mode.out pid i
  rm -f "$out" # not the previous program's line: the redirection below is the child's
  "$bin" 0 >"$out" 2>&1 &
  pid=$!
  for i in $(seq 100); do grep -qs '^listening on http://localhost:' "$out" && break; sleep 0.1; done
  kill -TERM "$pid"
  wait "$pid" || { echo "$bin: exit status $? on SIGTERM" >&2; cat "$out" >&2; exit 1; }
  grep -q '^listening on http://localhost:' "$out" || { echo "$bin: no listening line" >&2; cat "$out" >&2; exit 1; }
}

case $mode in
install)
  rm -rf "$work/build" "$prefix" && mkdir -p "$work"
  cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$prefix" \
    -DCMAKE_INSTALL_LIBDIR=lib -DSIOC_BUILD_APPS=OFF -DSIOC_BUILD_TESTS=OFF \
    -DSIOC_BUILD_EXAMPLES=OFF -DSIOC_WERROR=ON >/dev/null
  cmake --build "$work/build" -j 2 >/dev/null
  cmake --install "$work/build" >/dev/null
  soname=$(readelf -d "$prefix/lib/libsioc.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
  [[ $soname == libsioc.so.0 ]] || { echo "SONAME is '$soname'" >&2; exit 1; }
  # Only the public API is exported.
  if nm -D --defined-only "$prefix/lib/libsioc.so" | grep ' sio__' >/dev/null; then
    echo "libsioc.so exports internal sio__ symbols" >&2; exit 1
  fi
  for f in lib/libsioc.a include/sioc.h include/sioc_uv.h lib/pkgconfig/sioc.pc \
    lib/cmake/sioc/siocConfig.cmake share/doc/sioc/LICENSE; do
    test -f "$prefix/$f" || { echo "not installed: $f" >&2; exit 1; }
  done
  ;;
pkgconfig)
  mkdir -p "$work/pc"
  have=$(pkg-config --modversion sioc) || { echo "pkg-config finds no sioc in $PKG_CONFIG_PATH" >&2; exit 1; }
  want=$(sed -n 's/^#define SIOC_VERSION "\(.*\)"/\1/p' "$src/include/sioc.h")
  [[ $have == "$want" ]] || { echo "sioc.pc says $have, sioc.h $want" >&2; exit 1; }
  for f in "$src"/examples/*.c; do
    base=$(basename "$f" .c)
    # shellcheck disable=SC2046
    $CC -Wall -Werror -o "$work/pc/$base" "$f" $(pkg-config --cflags --libs sioc libuv)
    LD_LIBRARY_PATH=$prefix/lib smoke "$work/pc/$base"
    # (not ldd | grep -q: grep's early exit fails the pipe under pipefail)
    deps=$(LD_LIBRARY_PATH=$prefix/lib ldd "$work/pc/$base")
    [[ $deps == *"libsioc.so.0 => $prefix/lib/"* ]] ||
      { echo "$base is not linked with $prefix/lib/libsioc.so.0: $deps" >&2; exit 1; }
    # shellcheck disable=SC2046
    $CC -Wall -Werror -o "$work/pc/${base}_static" "$f" \
      $(pkg-config --static --cflags sioc libuv) "$prefix/lib/libsioc.a" \
      $(pkg-config --static --libs-only-l --libs-only-other sioc libuv | sed 's/-lsioc//')
    smoke "$work/pc/${base}_static"
  done
  ;;
cmake)
  rm -rf "$work/cm"
  cmake -S "$src/tests/install" -B "$work/cm" -DCMAKE_PREFIX_PATH="$prefix" \
    -DSIOC_EXAMPLES_DIR="$src/examples" -DCMAKE_C_FLAGS="-Wall -Werror" >/dev/null
  cmake --build "$work/cm" -j 2 >/dev/null
  for f in "$src"/examples/*.c; do
    base=$(basename "$f" .c)
    LD_LIBRARY_PATH=$prefix/lib smoke "$work/cm/$base"
    smoke "$work/cm/${base}_static"
  done
  ;;
subdir)
  rm -rf "$work/sub" && mkdir -p "$work"
  cmake -S "$src/tests/install" -B "$work/sub" -DSIOC_SOURCE_DIR="$src" \
    -DSIOC_EXAMPLES_DIR="$src/examples" -DCMAKE_C_FLAGS="-Wall -Werror" >/dev/null
  cmake --build "$work/sub" -j 2 >/dev/null
  # Nothing of sioc's own programs or tests is built in a parent project.
  if [[ -n $(find "$work/sub" -name 'sioc-chat' -o -name 'unit_*') ]]; then
    echo "add_subdirectory built sioc's apps or tests" >&2; exit 1
  fi
  for f in "$src"/examples/*.c; do
    base=$(basename "$f" .c)
    smoke "$work/sub/$base"
    smoke "$work/sub/${base}_static"
  done
  ;;
*) echo "usage: $0 install|pkgconfig|cmake|subdir SRC WORK" >&2; exit 2 ;;
esac
echo "install test '$mode': ok"
