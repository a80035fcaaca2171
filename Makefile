# Portico build. `make` builds ./portico; `make test` installs what the tests
# need and runs every test; `make run` starts the demo. See README.md.

CC       ?= cc
PKGS     := jansson yaml-0.1 libuv openssl libpcre2-8
CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes -Wvla \
            -Werror
CPPFLAGS := -std=c11 -D_GNU_SOURCE -Isrc
LDLIBS   :=

ifneq ($(SANITIZE),)
# every report fails the run: UBSan would print and carry on
CFLAGS   += -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=$(SANITIZE)
endif

# FAULTS=1: a test build, with PORTICO_FAULT_AT (src/util/fault.h); the
# sanitizer builds the tests run are test builds. A release build has none.
FAULTS   ?= $(if $(SANITIZE),1,)

# libcurl: CURL=static (default) links one built without the protocol
# libraries Debian's shared libcurl loads; CURL=system links the shared one.
# scripts/curl.sh writes the choice to $(CURL_MK); build/curl.mode changes
# with CURL, so that the binaries link again. The targets that install the
# dependencies first leave both to their own 'make all'.
CURL     ?= static
CURL_MK  := build/curl-$(CURL).mk
ifeq ($(filter clean deps test-deps test run,$(MAKECMDGOALS)),)
-include $(CURL_MK)
$(shell mkdir -p build && { [ "$$(cat build/curl.mode 2>/dev/null)" = $(CURL) ] || \
	echo $(CURL) > build/curl.mode; })
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null) $(CURL_CFLAGS)
PKG_LIBS   = $(CURL_LIBS) $(shell pkg-config --libs $(PKGS) 2>/dev/null)

BUILD    := build$(if $(SANITIZE),-san)
SRCS     := $(sort $(wildcard src/*/*.c))
ifeq ($(FAULTS),)
SRCS     := $(filter-out src/util/fault.c,$(SRCS))
else
CPPFLAGS += -DPORTICO_FAULTS
endif
OBJS     := $(SRCS:src/%.c=$(BUILD)/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps test-deps test unit golden e2e lint docs run clean check-docs portico conformance \
        fuzz fuzz-regress fuzz-build fuzz-bins

all: portico

portico: $(BUILD)/portico
	cp $< $@.tmp && mv -f $@.tmp $@

$(CURL_MK): scripts/curl.sh
	scripts/curl.sh $(CURL) $@

$(BUILD)/portico: $(OBJS) $(BUILD)/main.o $(CURL_MK) build/curl.mode
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(PKG_LIBS) $(LDLIBS)

$(BUILD)/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) $(WARN) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(OBJS) $(CURL_MK) build/curl.mode
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) $(WARN) -Wno-missing-prototypes -o $@ $< \
		$(OBJS) $(PKG_LIBS) $$(pkg-config --cflags --libs cmocka) $(LDLIBS)

-include $(OBJS:.o=.d) $(BUILD)/main.d

# ====== Fuzzing (doc/fuzzing.md) ======
# The sources built again by clang into build-fuzz/ for libFuzzer with ASan
# and UBSan (every UBSan report fatal), and one binary per fuzz/fuzz_*.c. A
# target that #includes a source file, to reach its statics, is linked
# without that file's object. `make fuzz` runs each target FUZZ_SECONDS;
# `make fuzz-regress` replays fuzz/regressions/ and the seeds only.
FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_SRC     := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BIN     := $(FUZZ_SRC:fuzz/%.c=$(BUILD)/fuzz/%)

fuzz-build:
	@command -v $(FUZZ_CC) >/dev/null || { echo "$(FUZZ_CC) missing: scripts/deps.sh fuzz" >&2; exit 1; }
	+CFLAGS="-O1 -g -fno-sanitize-recover=all" $(MAKE) -s BUILD=build-fuzz CC=$(FUZZ_CC) \
		SANITIZE=fuzzer-no-link,address,undefined fuzz-bins

fuzz-bins: $(FUZZ_BIN)

$(BUILD)/fuzz/%: fuzz/%.c $(OBJS) $(CURL_MK) build/curl.mode
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) $(WARN) -fsanitize=fuzzer -MMD -MP -o $@ $< \
		$(filter-out $(patsubst %.c,$(BUILD)/%.o,$(shell sed -n 's/^\#include "\(.*\.c\)"$$/\1/p' $<)),$(OBJS)) \
		$(PKG_LIBS) $(LDLIBS)

-include $(FUZZ_BIN:=.d)

fuzz: fuzz-build
	fuzz/run.sh fuzz $(FUZZ_SECONDS)

fuzz-regress: fuzz-build
	fuzz/run.sh regress

deps:
	scripts/deps.sh build

test-deps:
	scripts/deps.sh test

unit: $(UNIT_BIN)
	@fail=0; for t in $(UNIT_BIN); do echo "== $$t"; $$t || fail=1; done; exit $$fail

golden: portico
	tests/golden/run.sh

e2e: portico
	python3 -m pytest -q tests/e2e

# The official Ingress conformance suite on a one-node cluster (about 17 min);
# see tests/conformance/README.md.
conformance: portico
	tests/conformance/run.sh

lint:
	scripts/checksrc.sh

docs: portico
	scripts/gen-docs.sh

check-docs: portico
	scripts/gen-docs.sh --check

test: test-deps
	$(MAKE) all
	scripts/test.sh

run: deps
	$(MAKE) all
	scripts/demo.sh

clean:
	rm -rf build build-san build-fuzz portico
