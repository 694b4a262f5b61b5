# The newcomer's commands: `make demo` and `make test`. `make` builds build/imgstash.
JOBS ?= $(shell nproc)
PREFIX ?= /usr/local

.PHONY: all deps release debug asan test demo install bench fuzz clean format

all: release

deps:
	@bash scripts/install-deps.sh

release:
	@cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g -DNDEBUG" \
	  -DCMAKE_C_FLAGS="-D_FORTIFY_SOURCE=2 -fstack-protector-strong" -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build build -j $(JOBS)

debug:
	@cmake -S . -B build-debug -DCMAKE_BUILD_TYPE=Debug -DIMS_WERROR=ON >/dev/null
	@cmake --build build-debug -j $(JOBS)

# Tests run on a -Werror ASan+UBSan build.
asan:
	@cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DIMS_WERROR=ON -DIMS_SANITIZE=ON \
	  -DCMAKE_C_FLAGS="-O1" >/dev/null
	@cmake --build build-asan -j $(JOBS)

test: deps asan
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

demo: deps release
	@bash scripts/demo.sh

install: release
	@cmake --install build

bench: deps release
	@bash bench/peers.sh

fuzz: deps
	@cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
	  -DIMS_FUZZ=ON -DIMS_SANITIZE=ON -DIMS_WITH_FFMPEG=OFF >/dev/null
	@cmake --build build-fuzz -j $(JOBS)

clean:
	rm -rf build build-debug build-asan build-fuzz
