# Portico build. `make` builds ./portico; `make test` installs what the tests
# need and runs every test; `make run` starts the demo. See README.md.

CC       ?= cc
PKGS     := libcurl jansson yaml-0.1 libuv openssl
CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes -Wvla \
            -Werror
CPPFLAGS := -std=c11 -D_GNU_SOURCE -Isrc
LDLIBS   :=

ifneq ($(SANITIZE),)
CFLAGS   += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=$(SANITIZE)
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

BUILD    := build$(if $(SANITIZE),-san)
SRCS     := $(sort $(wildcard src/*/*.c))
OBJS     := $(SRCS:src/%.c=$(BUILD)/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps test-deps test unit golden e2e lint docs run clean check-docs portico

all: portico

portico: $(BUILD)/portico
	cp $< $@.tmp && mv -f $@.tmp $@

$(BUILD)/portico: $(OBJS) $(BUILD)/main.o
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(BUILD)/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) $(WARN) -MMD -MP -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(PKG_CFLAGS) $(CFLAGS) $(WARN) -Wno-missing-prototypes -o $@ $< \
		$(OBJS) $(PKG_LIBS) $$(pkg-config --cflags --libs cmocka) $(LDLIBS)

-include $(OBJS:.o=.d) $(BUILD)/main.d

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
	rm -rf build build-san portico
