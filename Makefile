# The two commands of the README, plus the build and the benchmarks.
#   make        build everything into build/ (release with debug info)
#   make run    install what is missing, build, start the chat on :3000
#   make test   install what is missing, build with ASan+UBSan, run all tests
#   make fuzz   run every fuzz target longer
#   make bench  benchmarks side by side with the Node reference
#   make valgrind  unit and end-to-end suites with every program under memcheck
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PORT ?= 3000
DB ?= chat.db
FUZZ_SECONDS ?= 120

.PHONY: all build run test fuzz bench valgrind setup clean format

all: build

setup:
	@scripts/setup.sh

build:
	@command -v cmake >/dev/null && pkg-config --exists libuv libwslay jansson || scripts/setup.sh
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build -j $(JOBS)

run: setup build
	./build/sioc-chat --port $(PORT) --db $(DB)

test: setup
	CC=clang cmake -S . -B build/test -DCMAKE_BUILD_TYPE=Debug -DSIOC_SANITIZE=ON \
	  -DSIOC_FUZZ=ON -DSIOC_WERROR=ON >/dev/null
	cmake --build build/test -j $(JOBS)
	cd build/test && ctest --output-on-failure -j $(JOBS)

fuzz: setup
	CC=clang cmake -S . -B build/test -DSIOC_SANITIZE=ON -DSIOC_FUZZ=ON \
	  -DSIOC_FUZZ_SECONDS=$(FUZZ_SECONDS) >/dev/null
	cmake --build build/test -j $(JOBS)
	cd build/test && ctest --output-on-failure -L fuzz

bench: setup build
	bench/run.sh

valgrind: setup
	scripts/valgrind.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build
