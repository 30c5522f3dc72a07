# quotad -- build, run and test.
#
#   make run     install missing Debian -dev packages, build, start quotad
#   make test    install, build with ASan+UBSan, run every test
#   make bench   benchmarks (long; not part of make test)
#
# Layout: every .c under server/ (except main.c), proto/, persistence/ and
# the generated protobuf-c code form the core; client/ is libquotad; each
# tests/unit/test_*.c and tests/integ/it_*.c is one test binary; each
# tools/*.c is one tool. New modules need no Makefile edit.

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
           -iquote persistence -iquote tests -iquote tests/lib
BASE    := -std=c11 -D_GNU_SOURCE -pthread $(INC) -MMD -MP
REL_CFLAGS  := $(BASE) $(WARN) -O2 -g
TEST_CFLAGS := $(BASE) $(WARN) -O1 -g -fno-omit-frame-pointer \
               -fsanitize=address,undefined -fno-sanitize-recover=undefined
GEN_WARN := -Wall -Wextra -Werror -Wno-unused-parameter

CORE_SRC := $(filter-out server/main.c,$(wildcard server/*.c)) \
            $(wildcard proto/*.c) $(wildcard persistence/*.c)
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

test-build: deps $(TEST_BINS) $(B)/asan/quotad $(if $(CTL_SRC),$(B)/asan/quotadctl) \
            $(if $(DATA_SRC),$(B)/asan/quotad-data)

# Integration tests find the daemon and CLI through these variables.
test: test-build
	@QUOTAD_BIN=$(abspath $(B)/asan/quotad) QUOTADCTL_BIN=$(abspath $(B)/asan/quotadctl) \
	  QUOTAD_DATA_BIN=$(abspath $(B)/asan/quotad-data) \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  tests/run.sh $(TEST_BINS)

run: deps build
	@mkdir -p data
	$(B)/rel/quotad

lint:
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance \
	  --suppress=missingIncludeSystem $(INC) server client proto persistence tools

clean:
	rm -rf $(B)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
