# Switchyard front door. `make bench-all` runs the suite; `make test` checks it.
PYTHON ?= /usr/bin/python3
JOBS   ?= $(shell nproc)
BUILD  ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
RESULTS ?= results/quick
CTEST_FLAGS ?= --output-on-failure -j$(JOBS)
# make stress: --gtest_repeat of each concurrency test binary (COPIES copies on one CPU).
REPEAT ?= 3
COPIES ?= 2

# Debian packages the project uses. `make deps` installs the missing ones.
DEB_PACKAGES := cmake g++ make pkg-config libgtest-dev libbenchmark-dev \
  libboost-dev libboost-context-dev libboost-fiber-dev libunwind-dev nlohmann-json3-dev libgc-dev \
  valgrind wrk nginx-light golang-go python3-matplotlib python3-numpy python3-scipy python3-pytest \
  libbenchmark-tools libcli11-dev

# The AArch64 cross build and qemu-user (the emulated stage, .ci/aarch64.sh), from Debian's
# multiarch arm64 packages: installed by `make deps` after `dpkg --add-architecture arm64`.
DEB_PACKAGES_CROSS := g++-aarch64-linux-gnu qemu-user ccache ninja-build
DEB_PACKAGES_ARM64 := libc6:arm64 libstdc++6:arm64 libgtest-dev:arm64 libbenchmark-dev:arm64 libboost-context-dev:arm64 \
  libboost-fiber-dev:arm64 libunwind-dev:arm64 libgc-dev:arm64

.PHONY: all deps build check test stress test-asan test-tsan bench-quick bench-all figures compare study catalog clean

all: build

# Installing a package that ships a service (nginx-light: a system nginx on port 80) would
# start it on a systemd or sysvinit host. The Debian mechanism to forbid that is a
# policy-rc.d that exits 101 ("action forbidden"): invoke-rc.d and deb-systemd-invoke ask it
# before starting anything. `make deps` writes one for the install and removes it after,
# also when apt-get fails or is interrupted; one that was there before is left as it was.
# The service stays enabled for the next boot (`systemctl disable nginx` if unwanted): the
# http scenario runs nginx itself with its own configuration and port.
POLICY_RC_D ?= /usr/sbin/policy-rc.d

# One guarded install for everything: the native packages, the cross toolchain and the
# :arm64 packages (after `dpkg --add-architecture arm64`, which apt-get update then reads).
DEPS_ALL := $(DEB_PACKAGES) $(DEB_PACKAGES_CROSS) $(DEB_PACKAGES_ARM64)

deps:
	@missing=$$(for p in $(DEPS_ALL); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing:" $$missing; \
	  if [ "$$(id -u)" != 0 ]; then echo "deps: need root to apt-get install:" $$missing >&2; exit 1; fi; \
	  if [ -e $(POLICY_RC_D) ]; then \
	    echo "deps: $(POLICY_RC_D) exists and is left as it is (it decides whether services start)"; \
	  else \
	    trap 'rm -f $(POLICY_RC_D)' EXIT; trap 'exit 130' INT TERM HUP; \
	    printf '#!/bin/sh\n# written by switchyard make deps for its apt-get install, removed after it\nexit 101\n' \
	      > $(POLICY_RC_D) && chmod 755 $(POLICY_RC_D) || exit 1; \
	  fi; \
	  case " $$missing" in *:arm64*) \
	    dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64 || exit 1;; esac; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "deps: all $(words $(DEPS_ALL)) packages present"; fi

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

# Quick iteration: build and unit tests; no sanitizers, no benchmarks.
check: build
	cd $(BUILD) && ctest $(CTEST_FLAGS) -LE slow

# Everything CI runs. Each stage has a time budget (seconds, the table in .ci/stages.sh)
# so that the whole fits in 45 minutes on 2 cores.
test: deps
	@bash .ci/stages.sh

# The concurrency tests pinned to one CPU, COPIES copies at once, REPEAT repeats each:
# about 5 minutes as is, 30 with REPEAT=20 (.ci/stress.sh; make test runs its --quick form).
stress: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS) --target $$(bash .ci/stress.sh --targets)
	@bash .ci/stress.sh --build $(BUILD) --repeat $(REPEAT) --copies $(COPIES)

test-asan:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Release -DSANITIZE=address,undefined
	cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && ctest $(CTEST_FLAGS) -L sanitize

test-tsan:
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=Release -DSANITIZE=thread
	cmake --build $(TSAN_BUILD) -j$(JOBS)
	cd $(TSAN_BUILD) && ctest $(CTEST_FLAGS) -L tsan

bench-quick: build
	$(BUILD)/bin/switchyard bench --profile quick --out-dir results/quick

# bench-all: the `all` profile carries its runs (3 fresh processes per measurement) and is
# planned to fit BENCH_BUDGET, pilot included (harness/budget.h): over it, repetitions and
# then sizes are reduced and each reduction recorded in the results' design.reductions.
BENCH_BUDGET ?= 2h
bench-all: deps build
	$(BUILD)/bin/switchyard bench --profile all --budget $(BENCH_BUDGET) --out-dir results/$$(hostname -s)-$$(date +%Y%m%d)
	$(MAKE) figures RESULTS=results/$$(hostname -s)-$$(date +%Y%m%d)

figures:
	$(PYTHON) analysis/figures.py $(RESULTS)

# harness/catalog.json: the machine-independent catalogue (variants, scenarios, metrics,
# peers) that the Python side reads. Regenerate after adding any of them; the ctest
# harness_catalog_current fails while it is stale.
catalog: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS) --target switchyard
	$(BUILD)/bin/switchyard list --json --portable > harness/catalog.json.tmp
	mv harness/catalog.json.tmp harness/catalog.json

# make compare: the last bench-quick (NEW, default $(RESULTS)) against the committed baseline
# (BASE): old, new, delta with its 95% interval, p, n per measurement both measured. Another
# host's baseline is shown, never counted as a regression (compare.py --cross-host).
BASE ?= results/vm-20261207
NEW ?= $(RESULTS)
compare:
	$(PYTHON) analysis/compare.py $(BASE) $(NEW)

# The studies over rounds (scaling against Go, HTTP against the event loop, the two modes)
# of one or more results folders: `make study RESULTS="DIR [DIR...]" [STUDY_FLAGS=--check]`.
# The two-mode figures go to the first folder's figures/.
study:
	$(PYTHON) analysis/study.py $(RESULTS) --plots $(firstword $(RESULTS))/figures $(STUDY_FLAGS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)
