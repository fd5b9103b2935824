# The README's two commands: `make run` and `make test`. Both install what is missing first.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCHALKBOT_WITH_ESPEAK=ON
CONFIG ?= chalkbot.yaml

.PHONY: all deps build run test unit bench clean

all: build

deps:
	@scripts/install-deps

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	$(BUILD_DIR)/src/chalkbot serve $(if $(wildcard $(CONFIG)),--config $(CONFIG))

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 600

unit: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L unit

# Component figures, then the system benchmarks through the real binary (bench/results/*.json).
bench: build
	$(BUILD_DIR)/bench/chalkbot_bench
	python3 bench/system_bench.py --chalkbot $(BUILD_DIR)/src/chalkbot \
	  --sink $(BUILD_DIR)/bench/chalkbot_rtp_sink

clean:
	rm -rf $(BUILD_DIR)
