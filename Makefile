# The README's two commands: `make run` and `make test`. Both install what is missing first.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
# Unity build: sources compiled eight to a unit, so the heavy headers (JSON, fmt, Beast) are parsed
# and their templates instantiated once per unit, not per file: 442 -> 259 s from scratch on 2
# cores. A plain `cmake -B build` is file by file (faster to rebuild one file while editing).
# Ninja compiles a layer's sources while the layers below it still link (make waits for each
# target), and -g1 keeps line tables for backtraces but no variables: full -g made a unit 70 %
# slower to compile (agent: 24.6 -> 14.3 s). Debug with your own `cmake -B build -G Ninja`.
CMAKE_FLAGS ?= -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
  -DCHALKBOT_WITH_ESPEAK=ON -DCMAKE_UNITY_BUILD=ON
CONFIG ?= chalkbot.yaml

.PHONY: all deps build run test unit bench clean test-sanitize test-tsan fuzz-build fuzz-smoke fuzz

all: build

deps:
	@scripts/install-deps

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	$(BUILD_DIR)/src/chalkbot serve $(if $(wildcard $(CONFIG)),--config $(CONFIG))

# Three times as many tests at once as there are cores: most of the run is integration tests
# waiting on real-time calls (2 cores, four at a time: the tests used 60 % of the CPU; six at a
# time: 533 -> 389 s). Their checks hold under that load: none hinges on a thread's timing.
TEST_JOBS ?= $(shell echo $$((3 * $$(nproc))))
test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(TEST_JOBS) --timeout 600

unit: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L unit

# Component figures, then the system benchmarks through the real binary (bench/results/*.json).
bench: build
	$(BUILD_DIR)/bench/chalkbot_bench
	python3 bench/system_bench.py --chalkbot $(BUILD_DIR)/src/chalkbot \
	  --sink $(BUILD_DIR)/bench/chalkbot_rtp_sink

# Sanitizer builds, each in its own directory (see README "Tests"). Runtime options: stop at the
# first error; leaks and races inside third-party libraries are suppressed by name.
SAN_CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCHALKBOT_WITH_ESPEAK=ON
SAN_DIR = $(CURDIR)/tests/sanitizers
SAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1 \
  LSAN_OPTIONS=suppressions=$(SAN_DIR)/lsan.supp:print_suppressions=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:suppressions=$(SAN_DIR)/ubsan.supp \
  TSAN_OPTIONS=suppressions=$(SAN_DIR)/tsan.supp:halt_on_error=1:second_deadlock_stack=1
# ASan+UBSan over the unit, component and integration tiers. Not the soak: under ASan RSS is
# mostly the sanitizer's own (quarantine, shadow memory), not the program's.
test-sanitize: deps
	cmake -S . -B build-asan $(SAN_CMAKE_FLAGS) -DCHALKBOT_SANITIZE=address
	cmake --build build-asan -j $(JOBS)
	cd build-asan && $(SAN_ENV) ctest --output-on-failure -j $(JOBS) --timeout 900 \
	  -L 'unit|component|integration' -E 'bench\.soak'
# TSan over the threaded parts: media engine, SIP endpoint, store, LLM streaming, the test caller,
# and (through the binary) gateway, call agent and speaker in three integration scripts.
TSAN_TESTS ?= Media|Spsc|Jitter|Caller|Store|Memory|SipEndpoint|Http|LlmChat|BrowserPhone|test_sipp|test_voice_turn|test_transfer
test-tsan: deps
	cmake -S . -B build-tsan $(SAN_CMAKE_FLAGS) -DCHALKBOT_SANITIZE=thread
	cmake --build build-tsan -j $(JOBS)
	cd build-tsan && $(SAN_ENV) ctest --output-on-failure -j $(JOBS) --timeout 900 \
	  -L 'unit|component|integration' -R '$(TSAN_TESTS)'

# libFuzzer targets (tests/fuzz, clang). fuzz-smoke runs each for FUZZ_SECONDS on its seed corpus
# and fails on the first crash (the input is kept in build-fuzz/crashes/). 15 s each: with nine
# targets two at a time that is 75 s of CI time; `make fuzz` is the long run.
FUZZ_SECONDS ?= 15
FUZZ_CMAKE_FLAGS ?= -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG"
fuzz-build: deps
	cmake -S . -B build-fuzz $(FUZZ_CMAKE_FLAGS) -DCMAKE_CXX_COMPILER=clang++-14 -DCHALKBOT_FUZZ=ON
	cmake --build build-fuzz -j $(JOBS)
fuzz-smoke: fuzz-build
	scripts/fuzz-smoke build-fuzz $(FUZZ_SECONDS)
# The long run: every target, FUZZ_LONG_SECONDS of wall time in all (targets run one per core, so
# each gets its share of the rounds), then how many inputs ran.
FUZZ_LONG_SECONDS ?= 1200
FUZZ_TARGET_COUNT = $(words $(wildcard tests/fuzz/corpus/*/))
FUZZ_ROUNDS = $$(( ($(FUZZ_TARGET_COUNT) + $$(nproc) - 1) / $$(nproc) ))
fuzz: fuzz-build
	scripts/fuzz-smoke build-fuzz $$(( $(FUZZ_LONG_SECONDS) / $(FUZZ_ROUNDS) ))

clean:
	rm -rf $(BUILD_DIR)
