# Gatehouse — the two commands a new user needs are `make run` and `make test`.
# Both install any missing Debian packages first (apt-get, as root or via sudo).

BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
LISTEN ?= 127.0.0.1:8000
CONFIG ?= config/gatehouse.toml
DATA ?= var

# Everything the build, the server and the test suite need, from Debian 12.
PACKAGES := build-essential cmake pkg-config ccache python3 curl jq libpq-dev \
  libcaf-dev libpistache-dev liblmdb-dev lmdb-utils libsodium-dev libcrypt-dev catch2 \
  nlohmann-json3-dev libtomlplusplus-dev libcli11-dev libspdlog-dev \
  libcurl4-openssl-dev libssl-dev prometheus-cpp-dev libjemalloc-dev prometheus python3-jwt python3-cryptography python3-aiosmtpd python3-lmdb chromium \
  protobuf-compiler python3-protobuf libbenchmark-dev libunistring-dev zlib1g-dev
# Only the tests need a PostgreSQL server (a temporary cluster of their own;
# Debian's package also starts a default cluster on port 5432, unused) and
# haproxy (integration.pg.instances: several servers behind one balancer,
# started by the test on a free port).
TEST_PACKAGES := postgresql-15 haproxy
# Only for `make bench` (load generator, the nginx ceiling) and `make fuzz`.
BENCH_PACKAGES := wrk nginx-light
FUZZ_PACKAGES := clang-14 libclang-rt-14-dev

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps bench-deps fuzz-deps install-packages test-tools build run test bench bench-micro soak fuzz test-asan test-tsan clean

all: build

# Extra CMake flags (sanitizer builds set them).
CMAKE_ARGS ?=

## deps: install the Debian packages that are missing (apt-get update first).
deps:
	@$(MAKE) --no-print-directory install-packages WANT="$(PACKAGES)"
bench-deps: deps
	@$(MAKE) --no-print-directory install-packages WANT="$(BENCH_PACKAGES)"
fuzz-deps: deps
	@$(MAKE) --no-print-directory install-packages WANT="$(FUZZ_PACKAGES)"
install-packages:
	@missing=$$(for p in $(WANT); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get update && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends $$missing; \
	fi

## test-tools: npm packages used only by tests (the OpenTelemetry protos).
test-tools: deps
	@$(MAKE) --no-print-directory install-packages WANT="$(TEST_PACKAGES)"
	@[ -d tests/tools/node_modules/@opentelemetry/otlp-grpc-exporter-base ] || \
	  (cd tests/tools && npm ci --no-audit --no-fund --ignore-scripts)

## build: configure and build with CMake (Release by default).
build: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_ARGS)
	cmake --build $(BUILD_DIR) -j $(JOBS)

## run: serve on 127.0.0.1:8000 with the LMDB store under ./var/.
run: build
	mkdir -p $(DATA)
	./$(BUILD_DIR)/gatehouse serve --config $(CONFIG) --data $(DATA) --listen $(LISTEN)

## test: the whole suite (unit + integration) through ctest.
test: build test-tools
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

## bench-micro: Google Benchmark micro-benchmarks of the hot pieces.
bench-micro: deps
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD_DIR) -j $(JOBS) --target bench_micro
	./$(BUILD_DIR)/bench_micro

## bench: the load benchmark of the brief's PERFORMANCE.md (P1-P6) against its ceilings,
## written to bench/RESULTS.md. `make bench BENCH_ARGS=--quick` is a one-minute smoke.
BENCH_ARGS ?=
bench: build bench-deps
	/usr/bin/python3 bench/run.py --bin $(BUILD_DIR)/gatehouse --build-dir $(BUILD_DIR) $(BENCH_ARGS)

## soak: the long crash-consistency run (SIGKILL at random moments, KILLS times).
KILLS ?= 500
soak: build
	/usr/bin/python3 tests/crash/crash_test.py --bin $(BUILD_DIR)/gatehouse --kills $(KILLS)

## fuzz: libFuzzer targets (clang-14) for every parser of outside input,
## each run for FUZZ_SECONDS.
FUZZ_SECONDS ?= 60
fuzz: fuzz-deps
	tests/fuzz/run.sh $(FUZZ_SECONDS)

## test-asan / test-tsan: the whole suite under AddressSanitizer +
## UndefinedBehaviorSanitizer, or ThreadSanitizer, in their own build folders.
test-asan:
	$(MAKE) test BUILD_DIR=build-asan BUILD_TYPE=RelWithDebInfo CMAKE_ARGS=-DGATEHOUSE_SANITIZE=address
# TSan needs CAF itself instrumented: tests/tsan/build-caf.sh builds it from
# Debian's source package into build-tsan/caf (once), and only this build
# links it.
TSAN_CAF := $(CURDIR)/build-tsan/caf/prefix
test-tsan: deps
	JOBS=$(JOBS) tests/tsan/build-caf.sh build-tsan/caf
	$(MAKE) test BUILD_DIR=build-tsan BUILD_TYPE=RelWithDebInfo \
	  CMAKE_ARGS="-DGATEHOUSE_SANITIZE=thread -DCAF_INCLUDE_DIR=$(TSAN_CAF)/include -DCAF_CORE_LIBRARY=$(TSAN_CAF)/lib/libcaf_core.so"

clean:
	rm -rf $(BUILD_DIR) build-asan build-tsan build-fuzz
