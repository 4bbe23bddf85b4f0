# stampede — the commands a newcomer needs:
#   make demo   install what is missing, build, run the 100-request burst on
#               the local Lambda emulator, serve the dashboard
#   make test   install what is missing, build, run every test
# and the ones CI and developers use:
#   make deps | build | package | test-sanitize | fuzz | format | format-check | bench | clean
#   (package: the Debian package, the function zip and the agent's OCI image,
#   in $(BUILD)/package/; see docs/deploy-daemons.md)

BUILD      ?= build
SAN_BUILD  ?= build-sanitize
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

# Debian packages the project builds, tests and runs with.
DEB_PACKAGES = build-essential cmake pkg-config clang clang-format \
	libczmq-dev libzmq3-dev libcurl4-openssl-dev libprotobuf-c-dev \
	protobuf-c-compiler libsqlite3-dev sqlite3 libmicrohttpd-dev \
	libjansson-dev libssl-dev libhttp-parser-dev libclang-rt-14-dev chromium curl python3 \
	procps time awscli autoconf automake libtool g++ faketime openssl iproute2 \
	$(DEPLOY_PACKAGES)
# What deploy/ is linted, packaged and proved offline with.
DEPLOY_PACKAGES = shellcheck zip umoci cloud-init jq systemd ca-certificates
# Installed only when the node / npm commands are missing (a machine may
# carry a newer Node.js from elsewhere that already brings npm).
NODE_PACKAGES = nodejs npm
# npm directories `make deps` installs from their lockfiles.
NPM_DIRS = web tests/conformance tests/deploy

.PHONY: all deps build package demo test test-sanitize fuzz format format-check bench clean

all: build

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done; command -v node >/dev/null && command -v npm >/dev/null || echo $(NODE_PACKAGES)); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "make deps: installing" $$missing; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
		else \
			echo "make deps: missing Debian packages; run:"; \
			echo "  sudo apt-get install -y" $$missing; exit 1; \
		fi; \
	fi
	@# Every npm directory with a lockfile is installed exactly as locked.
	@# aws-lambda-ric (tests/conformance) compiles native code against
	@# Debian's Node.js headers (/usr/include/node) with autotools and cmake.
	@for d in $(NPM_DIRS); do \
		if [ -f $$d/package-lock.json ] && [ ! -f $$d/node_modules/.package-lock.json -o $$d/package-lock.json -nt $$d/node_modules/.package-lock.json ]; then \
			echo "make deps: npm ci ($$d/)"; \
			(cd $$d && npm_config_nodedir=/usr npm ci --no-audit --no-fund --loglevel=error) || exit 1; \
		fi; \
	done

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DSTAMPEDE_WERROR=ON $(CMAKE_ARGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	$(BUILD)/bin/stampede demo

# The deployables, in $(BUILD)/package/: the Debian package (CPack:
# cmake/Package.cmake), the provided.al2023 function zip (bootstrap at its
# root, executable, statically linked: it must run on Amazon Linux) and the
# agent's OCI image (deploy/oci/build-image.sh, with umoci).
# PACKAGE_DEPS= packages the tree as it is built (tests/integration/
# test_package.py does, so it never rebuilds binaries other tests run).
PACKAGE_DIR = $(BUILD)/package
PACKAGE_DEPS ?= build
package: $(PACKAGE_DEPS)
	rm -f $(PACKAGE_DIR)/stampede_*.deb
	cd $(BUILD) && cpack -G DEB
	@if readelf --program-headers $(BUILD)/bin/bootstrap | grep -q INTERP; then \
		echo "make package: $(BUILD)/bin/bootstrap is dynamically linked; the zip needs it static" \
			"(libjansson-dev and libhttp-parser-dev bring the static libraries: make deps)"; exit 1; \
	fi
	rm -rf $(PACKAGE_DIR)/function $(PACKAGE_DIR)/stampede-function.zip
	mkdir -p $(PACKAGE_DIR)/function
	strip -o $(PACKAGE_DIR)/function/bootstrap $(BUILD)/bin/bootstrap
	chmod 0755 $(PACKAGE_DIR)/function/bootstrap
	touch -t 198001010000 $(PACKAGE_DIR)/function/bootstrap
	cd $(PACKAGE_DIR)/function && zip -X -q ../stampede-function.zip bootstrap
	@if command -v umoci >/dev/null; then \
		deploy/oci/build-image.sh $(PACKAGE_DIR)/stampede_*.deb $(PACKAGE_DIR)/stampede-agent-oci; \
	else \
		echo "make package: umoci is not installed (make deps): the agent's OCI image is not built"; \
	fi

# ctest reports a test that exits 77 as skipped; check_skips.py then fails
# the run for any skip not listed as allowed (none is, on CI).
CHECK_SKIPS = python3 $(CURDIR)/tests/tools/check_skips.py

test: build
	cd $(BUILD) && { ctest --output-on-failure -j $(JOBS) --output-junit ctest-junit.xml; status=$$?; \
		$(CHECK_SKIPS) ctest-junit.xml && exit $$status; }

# The same suite with AddressSanitizer and UndefinedBehaviorSanitizer.
test-sanitize: deps
	cmake -S . -B $(SAN_BUILD) -DSTAMPEDE_WERROR=ON -DSTAMPEDE_ASAN=ON -DSTAMPEDE_UBSAN=ON \
		-DCMAKE_BUILD_TYPE=Debug $(CMAKE_ARGS)
	cmake --build $(SAN_BUILD) -j $(JOBS)
	cd $(SAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j $(JOBS) --output-junit ctest-junit.xml; status=$$?; \
		$(CHECK_SKIPS) ctest-junit.xml && exit $$status

# stampede against hey, wrk, ab and locust on the same local target; not
# part of `make test` (it measures time). BENCH_ARGS go to burst_bench.py,
# e.g. BENCH_ARGS='--sizes 100 --repeat 1'.
# Coverage-guided libFuzzer runs of every target in tests/fuzz (clang, ASan,
# UBSan), FUZZ_SECONDS each. The corpus replays already run in `make test`.
FUZZ_SECONDS ?= 30
fuzz: deps
	tests/fuzz/run.sh $(FUZZ_SECONDS) build-fuzz

# clang-format (.clang-format) settles the whitespace of every C source.
C_SOURCES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	clang-format -i $(C_SOURCES)

format-check:
	@clang-format --dry-run -Werror $(C_SOURCES) && echo "format-check: $(words $(C_SOURCES)) C sources match .clang-format"

bench: build
	tests/bench/run.sh $(BUILD) $(BENCH_ARGS)

clean:
	rm -rf $(BUILD) $(SAN_BUILD) build-fuzz web/dist $(addsuffix /node_modules,$(filter-out web,$(NPM_DIRS)))
