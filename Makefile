# quotad -- build, run and test.
#
#   make run     install missing Debian -dev packages, build, start quotad
#   make test    install, build with ASan+UBSan, run every test
#   make bench   benchmarks (long; not part of make test)
#
# Layout: every .c under server/ (except main.c), proto/, persistence/,
# common/ and the generated protobuf-c code form the core; client/ is
# libquotad; each tests/unit/test_*.c and tests/integ/it_*.c is one test
# binary; each tools/*.c is one tool. New modules need no Makefile edit.

CC      ?= cc
B       := build
GEN     := $(B)/gen
DEB_PKGS := libevent-dev libxxhash-dev libsodium-dev libprotobuf-c-dev \
            protobuf-c-compiler libzstd-dev pkg-config
LIBS    := -levent_core -levent_pthreads -lsodium -lprotobuf-c -lxxhash \
           -lzstd -lpthread -lm
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wno-missing-field-initializers
INC     := -iquote $(GEN) -iquote proto -iquote server -iquote client \
           -iquote persistence -iquote common -iquote tests -iquote tests/lib
BASE    := -std=c11 -D_GNU_SOURCE -pthread $(INC) -MMD -MP
REL_CFLAGS  := $(BASE) $(WARN) -O2 -g
TEST_CFLAGS := $(BASE) $(WARN) -O1 -g -fno-omit-frame-pointer \
               -fsanitize=address,undefined -fno-sanitize-recover=undefined
GEN_WARN := -Wall -Wextra -Werror -Wno-unused-parameter

CORE_SRC := $(filter-out server/main.c,$(wildcard server/*.c)) \
            $(wildcard proto/*.c) $(wildcard persistence/*.c) \
            $(wildcard common/*.c)
CLIENT_SRC := $(wildcard client/*.c)
TOOL_SRC := $(wildcard tools/*.c)
CTL_SRC  := $(wildcard tools/quotadctl/*.c)
DATA_SRC := $(wildcard tools/qdata/*.c)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
INTEG_SRC := $(wildcard tests/integ/it_*.c)
TEST_HELPER_SRC := $(wildcard tests/lib/*.c)

PB_C := $(GEN)/quotad.pb-c.c
PB_H := $(GEN)/quotad.pb-c.h

# obj(dir, sources) -> object paths
obj = $(patsubst %.c,$(B)/$(1)/%.o,$(2))

REL_CORE  := $(call obj,rel,$(CORE_SRC)) $(B)/rel/gen/quotad.pb-c.o
REL_CLI   := $(call obj,rel,$(CLIENT_SRC))
TEST_CORE := $(call obj,asan,$(CORE_SRC)) $(B)/asan/gen/quotad.pb-c.o
TEST_CLI  := $(call obj,asan,$(CLIENT_SRC))
TEST_HELP := $(call obj,asan,$(TEST_HELPER_SRC))

REL_BINS  := $(B)/rel/quotad $(patsubst tools/%.c,$(B)/rel/%,$(TOOL_SRC)) \
             $(if $(CTL_SRC),$(B)/rel/quotadctl) \
             $(if $(DATA_SRC),$(B)/rel/quotad-data)
TEST_BINS := $(patsubst tests/unit/%.c,$(B)/asan/tests/%,$(UNIT_SRC)) \
             $(patsubst tests/integ/%.c,$(B)/asan/tests/%,$(INTEG_SRC))

.PHONY: all deps build run test test-build clean bench soak lint
# Keep every object: they are not throwaway intermediates.
.SECONDARY:
.DEFAULT_GOAL := all

all: deps build

# Install whatever Debian package is missing (we run as root on CI).
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

build: $(REL_BINS) $(B)/rel/libquotad.a

$(PB_C) $(PB_H): proto/quotad.proto
	@mkdir -p $(GEN)
	@echo "  GEN $@"
	@protoc-c --c_out=$(GEN) -Iproto proto/quotad.proto

# Everything depends on the generated header existing first.
$(B)/rel/%.o: %.c | $(PB_H)
	@mkdir -p $(dir $@)
	@echo "  CC  $@"
	@$(CC) $(REL_CFLAGS) -c $< -o $@
$(B)/asan/%.o: %.c | $(PB_H)
	@mkdir -p $(dir $@)
	@echo "  CC  $@"
	@$(CC) $(TEST_CFLAGS) -c $< -o $@
$(B)/rel/gen/quotad.pb-c.o: $(PB_C)
	@mkdir -p $(dir $@)
	@echo "  CC  $@"
	@$(CC) -std=c11 -O2 -g -iquote $(GEN) $(GEN_WARN) -c $< -o $@
$(B)/asan/gen/quotad.pb-c.o: $(PB_C)
	@mkdir -p $(dir $@)
	@echo "  CC  $@"
	@$(CC) -std=c11 -O1 -g -fsanitize=address,undefined -iquote $(GEN) $(GEN_WARN) -c $< -o $@

$(B)/rel/libquotad.a: $(REL_CLI) $(call obj,rel,proto/qd_frame.c) $(B)/rel/gen/quotad.pb-c.o
	@echo "  AR  $@"
	@ar rcs $@ $^

$(B)/rel/quotad: $(B)/rel/server/main.o $(REL_CORE)
	@echo "  LD  $@"
	@$(CC) $(REL_CFLAGS) $^ -o $@ $(LIBS)
$(B)/rel/quotadctl: $(call obj,rel,$(CTL_SRC)) $(REL_CLI) $(B)/rel/proto/qd_frame.o $(B)/rel/gen/quotad.pb-c.o
	@echo "  LD  $@"
	@$(CC) $(REL_CFLAGS) $^ -o $@ $(LIBS)
$(B)/rel/quotad-data: $(call obj,rel,$(DATA_SRC)) $(REL_CORE)
	@echo "  LD  $@"
	@$(CC) $(REL_CFLAGS) $^ -o $@ $(LIBS)
$(B)/asan/quotad-data: $(call obj,asan,$(DATA_SRC)) $(TEST_CORE)
	@echo "  LD  $@"
	@$(CC) $(TEST_CFLAGS) $^ -o $@ $(LIBS)
# quotad-bench (issue 4): a multi-file tool like quotadctl, linked with
# libquotad only; part of `make build`.
BENCH_SRC := $(wildcard tools/bench/*.c)
$(B)/rel/quotad-bench: $(call obj,rel,$(BENCH_SRC)) $(REL_CLI) $(B)/rel/proto/qd_frame.o $(B)/rel/gen/quotad.pb-c.o
	@echo "  LD  $@"
	@$(CC) $(REL_CFLAGS) $^ -o $@ $(LIBS)
build: $(B)/rel/quotad-bench
$(B)/rel/%: $(B)/rel/tools/%.o $(REL_CORE) $(REL_CLI)
	@echo "  LD  $@"
	@$(CC) $(REL_CFLAGS) $^ -o $@ $(LIBS)

$(B)/asan/quotad: $(B)/asan/server/main.o $(TEST_CORE)
	@echo "  LD  $@"
	@$(CC) $(TEST_CFLAGS) $^ -o $@ $(LIBS)
$(B)/asan/quotadctl: $(call obj,asan,$(CTL_SRC)) $(TEST_CLI) $(B)/asan/proto/qd_frame.o $(B)/asan/gen/quotad.pb-c.o
	@echo "  LD  $@"
	@$(CC) $(TEST_CFLAGS) $^ -o $@ $(LIBS)
$(B)/asan/tests/%: $(B)/asan/tests/unit/%.o $(TEST_CORE) $(TEST_CLI) $(TEST_HELP)
	@mkdir -p $(dir $@)
	@echo "  LD  $@"
	@$(CC) $(TEST_CFLAGS) $^ -o $@ $(LIBS)
$(B)/asan/tests/%: $(B)/asan/tests/integ/%.o $(TEST_CORE) $(TEST_CLI) $(TEST_HELP)
	@mkdir -p $(dir $@)
	@echo "  LD  $@"
	@$(CC) $(TEST_CFLAGS) $^ -o $@ $(LIBS)

# The release build too: every tool compiles (-Werror) in `make test`.
test-build: deps build $(TEST_BINS) $(B)/asan/quotad \
            $(if $(CTL_SRC),$(B)/asan/quotadctl) \
            $(if $(DATA_SRC),$(B)/asan/quotad-data)

# Integration tests find the daemon and CLI through these variables.
test: test-build
	@QUOTAD_BIN=$(abspath $(B)/asan/quotad) QUOTADCTL_BIN=$(abspath $(B)/asan/quotadctl) \
	  QUOTAD_DATA_BIN=$(abspath $(B)/asan/quotad-data) \
	  QUOTAD_BENCH_BIN=$(abspath $(B)/rel/quotad-bench) \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  tests/run.sh $(TEST_BINS)

run: deps build
	@mkdir -p data
	$(B)/rel/quotad

# Benchmarks against Redis + Lua (bench/run.sh; results in bench/results.md).
# bench-quick: the same steps with short runs and a small population.
.PHONY: bench-quick
bench: deps $(B)/rel/quotad $(B)/rel/quotad-bench $(B)/rel/quotadctl
	@bench/run.sh
bench-quick: deps $(B)/rel/quotad $(B)/rel/quotad-bench $(B)/rel/quotadctl
	@BENCH_QUICK=1 bench/run.sh

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance \
	  --suppress=missingIncludeSystem $(INC) server client proto persistence common tools

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)

# ---------------------------------------------------------------------------
# Fuzzing (issue 5, hardening): libFuzzer targets tests/fuzz/fuzz_*.c, built
# with clang into build/fuzz/ (own objects: coverage + ASan + UBSan), never
# part of `make test`.
#   make fuzz         build every target, run each for FUZZ_SECONDS (default
#                     60) on a scratch copy of its committed corpus
#                     (tests/fuzz/corpus/<target>/ -> build/fuzz/corpus-work/);
#                     prints executions and exec/s per target, exits non-zero
#                     on any finding (artifacts in build/fuzz/findings/)
#   make fuzz-build   build only (installs clang + libFuzzer when missing)
#   make fuzz-seeds   regenerate the committed seed corpus with mkseeds
#   make fuzz-crashes rewrite the hand-made repros in tests/fuzz/crashes/
#                     (mkcrashes; replay: build/fuzz/fuzz_record FILE)
FUZZ_CC       ?= clang
FUZZ_SECONDS  ?= 60
FUZZ_DIR      := $(B)/fuzz
FUZZ_DEB_PKGS := clang libclang-rt-14-dev
FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS   := $(BASE) -iquote tests/fuzz $(WARN) -O1 -g \
                 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link $(FUZZ_SAN)
FUZZ_TARGETS  := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS     := $(addprefix $(FUZZ_DIR)/,$(FUZZ_TARGETS))
FUZZ_CORE     := $(call obj,fuzz,$(CORE_SRC)) $(FUZZ_DIR)/gen/quotad.pb-c.o

.PHONY: fuzz fuzz-deps fuzz-build fuzz-seeds fuzz-crashes

fuzz: fuzz-deps
	@$(MAKE) --no-print-directory fuzz-build
	@tests/fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# clang with the libFuzzer runtime (Debian 12: clang-14 + libclang-rt-14-dev).
fuzz-deps: deps
	@mkdir -p $(FUZZ_DIR)
	@printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n)\n{ (void)d; (void)n; return 0; }\n' \
	  >$(FUZZ_DIR)/probe.c; \
	if ! $(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_DIR)/probe.c -o $(FUZZ_DIR)/probe \
	     >/dev/null 2>&1; then \
	  echo "installing:$(FUZZ_DEB_PKGS:%= %)"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(FUZZ_DEB_PKGS); \
	fi; rm -f $(FUZZ_DIR)/probe $(FUZZ_DIR)/probe.c

fuzz-build: $(FUZZ_BINS) $(FUZZ_DIR)/mkseeds $(FUZZ_DIR)/mkcrashes

fuzz-seeds: fuzz-deps
	@$(MAKE) --no-print-directory $(FUZZ_DIR)/mkseeds
	@$(FUZZ_DIR)/mkseeds tests/fuzz/corpus

fuzz-crashes: fuzz-deps
	@$(MAKE) --no-print-directory $(FUZZ_DIR)/mkcrashes
	@$(FUZZ_DIR)/mkcrashes tests/fuzz/crashes

$(FUZZ_DIR)/%.o: %.c | $(PB_H)
	@mkdir -p $(dir $@)
	@echo "  CC  $@"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@
$(FUZZ_DIR)/gen/quotad.pb-c.o: $(PB_C)
	@mkdir -p $(dir $@)
	@echo "  CC  $@"
	@$(FUZZ_CC) -std=c11 -O1 -g -fsanitize=fuzzer-no-link $(FUZZ_SAN) \
	  -iquote $(GEN) $(GEN_WARN) -c $< -o $@
$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/tests/fuzz/fuzz_%.o $(FUZZ_CORE)
	@echo "  LD  $@"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $^ -o $@ $(LIBS)
$(FUZZ_DIR)/mkseeds: $(FUZZ_DIR)/tests/fuzz/mkseeds.o \
                  $(FUZZ_DIR)/tests/fuzz/mkseeds_rq.o $(FUZZ_CORE)
	@echo "  LD  $@"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) $^ -o $@ $(LIBS)
$(FUZZ_DIR)/mkcrashes: $(FUZZ_DIR)/tests/fuzz/mkcrashes.o $(FUZZ_CORE)
	@echo "  LD  $@"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) $^ -o $@ $(LIBS)

# --- reference gateway (issue 6): tools/gateway -> quotad-gateway ----------
# Proxy, nginx auth_request endpoint and fake upstream in one binary; its
# end-to-end test (tests/integ/it_gateway.c) needs node + the openai npm
# package (tests/gateway/package-lock.json) and nginx: deps-gateway
# installs whatever is missing. `make bench-gateway` measures the auth hop.
GW_SRC  := $(wildcard tools/gateway/*.c)
GW_LIBS := -levent_extra
GW_DEB_PKGS := nginx curl
$(B)/rel/quotad-gateway: $(call obj,rel,$(GW_SRC) common/cfgfile.c) $(REL_CLI) $(B)/rel/proto/qd_frame.o $(B)/rel/gen/quotad.pb-c.o
	@echo "  LD  $@"
	@$(CC) $(REL_CFLAGS) $^ -o $@ $(GW_LIBS) $(LIBS)
$(B)/asan/quotad-gateway: $(call obj,asan,$(GW_SRC) common/cfgfile.c) $(TEST_CLI) $(B)/asan/proto/qd_frame.o $(B)/asan/gen/quotad.pb-c.o
	@echo "  LD  $@"
	@$(CC) $(TEST_CFLAGS) $^ -o $@ $(GW_LIBS) $(LIBS)
build: $(B)/rel/quotad-gateway
test-build: deps-gateway $(B)/asan/quotad-gateway
.PHONY: deps-gateway bench-gateway
deps-gateway:
	@missing=""; pkgs="$(GW_DEB_PKGS)"; \
	command -v node >/dev/null 2>&1 || pkgs="$$pkgs nodejs npm"; \
	for p in $$pkgs; do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi
	@if [ ! -f tests/gateway/node_modules/openai/package.json ] || \
	    [ tests/gateway/package-lock.json -nt tests/gateway/node_modules/.package-lock.json ]; then \
	  echo "  NPM tests/gateway"; \
	  cd tests/gateway && npm ci --no-audit --no-fund --loglevel=error; \
	fi
bench-gateway: $(B)/rel/quotad $(B)/rel/quotadctl $(B)/rel/quotad-gateway
	@$(MAKE) --no-print-directory deps-gateway GW_DEB_PKGS="nginx curl wrk"
	tests/gateway/bench.sh

# ---------------------------------------------------------------------------
# Persistence (issue 3), appended block:
#   make bench-persist  throughput per fsync policy vs --persist 0, log bytes
#                       per record (zstd vs raw), recovery time for 1 M keys
#                       (tools/persist_bench/; also bench/persist-results.md)
#   make soak           the persistence integration tests in their long form
#                       (QUOTAD_SOAK=1: >= 1000 kill -9 rounds in it_crash,
#                       more torn-tail trials and snapshots); not in make test
PERSIST_SOAK_TESTS := $(B)/asan/tests/it_crash $(B)/asan/tests/it_torn \
                      $(B)/asan/tests/it_snapload $(B)/asan/tests/it_restart
# persist_bench: a multi-file tool (tools/persist_bench/*.c, not matched by
# TOOL_SRC), linked with the core (segment layout) and libquotad; part of
# `make build` like the single-file tools.
PBENCH_SRC := $(wildcard tools/persist_bench/*.c)
$(B)/rel/persist_bench: $(call obj,rel,$(PBENCH_SRC)) $(REL_CORE) $(REL_CLI)
	@echo "  LD  $@"
	@$(CC) $(REL_CFLAGS) $^ -o $@ $(LIBS)
build: $(B)/rel/persist_bench
.PHONY: bench-persist
bench-persist: deps $(B)/rel/quotad $(B)/rel/persist_bench
	@mkdir -p bench
	@$(B)/rel/persist_bench --quotad $(abspath $(B)/rel/quotad) \
	  --out bench/persist-results.md
soak: test-build
	@QUOTAD_SOAK=1 TEST_TIMEOUT_S=7200 \
	  QUOTAD_BIN=$(abspath $(B)/asan/quotad) \
	  QUOTADCTL_BIN=$(abspath $(B)/asan/quotadctl) \
	  QUOTAD_DATA_BIN=$(abspath $(B)/asan/quotad-data) \
	  QUOTAD_BENCH_BIN=$(abspath $(B)/rel/quotad-bench) \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  tests/run.sh $(PERSIST_SOAK_TESTS)
