# The README's two commands (`make demo`, `make test`) plus the ones developers use.
# Everything goes through one CMake build directory.
BUILD   ?= build
JOBS    ?= 2
PYTHON  := /usr/bin/python3
GENERATOR := $(shell command -v ninja >/dev/null 2>&1 && echo Ninja || echo "Unix Makefiles")
LAUNCHER  := $(shell command -v ccache >/dev/null 2>&1 && echo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

.PHONY: all bootstrap configure build test demo docs clean

all: build

bootstrap:
	@scripts/bootstrap

$(BUILD)/CMakeCache.txt: | bootstrap
	cmake -S . -B $(BUILD) -G "$(GENERATOR)" $(LAUNCHER) -DPython3_EXECUTABLE=$(PYTHON) $(CMAKE_ARGS)

configure: bootstrap $(BUILD)/CMakeCache.txt

build: configure
	cmake --build $(BUILD) -j $(JOBS)

docs: configure
	cmake --build $(BUILD) --target docs

test: build docs
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

demo: build
	$(BUILD)/examples/loop_tour
	@for b in reactor proactor; do \
	  echo; echo "== C++ echo server and client, $$b backend"; \
	  examples/run_echo_demo.sh $(BUILD)/examples/echo_server $(BUILD)/examples/echo_client $$b || exit 1; \
	done

clean:
	rm -rf $(BUILD)
