# The two commands of the README, plus the build and the benchmarks.
#   make        build everything into build/ (release with debug info)
#   make install [PREFIX=/usr/local]  install the library (see README)
#   make run    install what is missing, build, start the chat on :3000
#   make test   install what is missing, build with ASan+UBSan, run all tests
#   make fuzz   run every fuzz target longer (FUZZ_SECONDS each, FUZZ_JOBS at
#               a time) and merge new coverage into fuzz/corpus/
#   make bench  benchmarks side by side with the Node reference
#   make soak   the fault tests at full length on the release build
#               (SOAK_SECONDS=3600, SOAK_CONNS=10000)
#   make valgrind  unit and end-to-end suites with every program under memcheck
#   make format-check  list tracked C files that differ from .clang-format
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PORT ?= 3000
DB ?= chat.db
FUZZ_SECONDS ?= 120
FUZZ_JOBS ?= 1
SOAK_SECONDS ?= 3600
SOAK_CONNS ?= 10000
PREFIX ?= /usr/local

.PHONY: all build install run test fuzz fuzz-merge bench soak valgrind setup setup-run clean format format-check

all: build

# Everything the tests need (make test, fuzz, bench, valgrind).
setup:
	@scripts/setup.sh test

# Only what building and running the chat needs.
setup-run:
	@scripts/setup.sh run

HAVE_DEPS = command -v cmake >/dev/null && \
	pkg-config --exists libuv jansson libcrypto libssl zlib sqlite3 hiredis msgpack

build:
	@$(HAVE_DEPS) || scripts/setup.sh run
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	cmake --build build -j $(JOBS)

# Installs the library, its headers, sioc.pc and the CMake package under
# PREFIX (DESTDIR for staging, as usual).
install: build
	cmake --install build --prefix $(PREFIX)

run: setup-run build
	./build/sioc-chat --port $(PORT) --db $(DB)

# The tests run on the clang ASan+UBSan build; gcc must build the whole tree
# warning-free too (build/gcc, not run), and every tracked C file must match
# .clang-format (make format fixes it).
test: setup
	CC=clang cmake -S . -B build/test -DCMAKE_BUILD_TYPE=Debug -DSIOC_SANITIZE=ON \
	  -DSIOC_FUZZ=ON -DSIOC_WERROR=ON >/dev/null
	cmake --build build/test -j $(JOBS)
	CC=gcc cmake -S . -B build/gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIOC_WERROR=ON >/dev/null
	cmake --build build/gcc -j $(JOBS)
	@scripts/format-check.sh --fatal
	cd build/test && ctest --output-on-failure -j $(JOBS)

format-check:
	@scripts/format-check.sh --fatal

# Each target FUZZ_SECONDS (FUZZ_JOBS at a time), then what the runs found
# that the committed corpus lacks is merged into fuzz/corpus/<target>/ (to
# commit), even when a target failed; findings are in build/test/artifacts/.
fuzz: setup
	CC=clang cmake -S . -B build/test -DSIOC_SANITIZE=ON -DSIOC_FUZZ=ON \
	  -DSIOC_FUZZ_SECONDS=$(FUZZ_SECONDS) >/dev/null
	cmake --build build/test -j $(JOBS)
	cd build/test && ctest --output-on-failure -L fuzz -j $(FUZZ_JOBS); \
	  status=$$?; cd ../.. && scripts/fuzz-merge.sh build/test; exit $$status

# Only the merge step of make fuzz (after running targets by hand).
fuzz-merge:
	scripts/fuzz-merge.sh build/test

# The fault tests (tests/e2e/faults.test.mjs) at full size, on the release
# build so RSS is the server's own; the soak needs a descriptor per client
# (the soft limit goes up to the hard one: containers often cap it at 20000).
soak: setup build
	ulimit -n $$(ulimit -Hn) && SIOC_SOAK=1 SOAK_SECONDS=$(SOAK_SECONDS) SOAK_CONNS=$(SOAK_CONNS) \
	  SIOC_BUILD_DIR=$(CURDIR)/build node --test --test-reporter=spec tests/e2e/faults.test.mjs

bench: setup build
	bench/run.sh

valgrind: setup
	scripts/valgrind.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build
