# devicelog build. `make` builds build/devicelog; `make run` starts it on a demo fleet;
# `make test` installs what the tests need, builds, and runs every test.

CC      ?= cc
PKGS    := libmicrohttpd jansson sqlite3 gnutls zlib libpq
CFLAGS  ?= -O2 -g
CFLAGS  += -std=c17 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -D_GNU_SOURCE -Isrc -Ibuild/gen
CFLAGS  += $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm

BUILD   ?= build
SRC     := $(sort $(wildcard src/*/*.c))
LIBSRC  := $(filter-out src/cli/% $(EXCLUDE),$(SRC))
LIBOBJ  := $(LIBSRC:%.c=$(BUILD)/%.o)
CLIOBJ  := $(patsubst %.c,$(BUILD)/%.o,$(wildcard src/cli/*.c))
UNITS   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(wildcard tests/unit/test_*.c))
WEB     := $(sort $(wildcard web/*))

.PHONY: all deps run test unit integration browser sdk clean fmt

all: $(BUILD)/devicelog

# Installs the Debian packages the build needs when one is missing (a fresh machine's package
# lists may be empty, hence the update).
deps:
	@scripts/deps.sh build

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The portal's static files, embedded into the binary as one generated C file.
$(BUILD)/gen/web_assets.c: $(WEB) scripts/embed.sh
	@mkdir -p $(dir $@)
	scripts/embed.sh $(WEB) > $@

$(BUILD)/gen/web_assets.o: $(BUILD)/gen/web_assets.c
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libdevicelog.a: $(LIBOBJ) $(BUILD)/gen/web_assets.o
	ar rcs $@ $^

$(BUILD)/devicelog: $(CLIOBJ) $(BUILD)/libdevicelog.a
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libdevicelog.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(BUILD)/libdevicelog.a $(LDLIBS) -lcmocka -o $@

unit: $(UNITS)
	@set -e; for t in $(UNITS); do echo "== $$t"; $$t; done

integration: $(BUILD)/devicelog
	DEVICELOG_BIN=$(BUILD)/devicelog node --test --test-concurrency=1 tests/integration/

# The portal in Debian's chromium against the real daemon (tests/browser/). playwright-core is
# installed from the lock file on first use; UPDATE_SCREENSHOTS=1 rewrites docs/screenshots/.
browser: $(BUILD)/devicelog
	@cd tests/browser && { [ -d node_modules ] || npm install --no-audit --no-fund; }
	cd tests/browser && DEVICELOG_BIN=$(abspath $(BUILD)/devicelog) node --test --test-concurrency=1

# The original API's JavaScript SDK (mbed-cloud-sdk, pinned in tests/sdk/package-lock.json)
# against the real daemon over TLS; installed from the lock file on first use.
sdk: $(BUILD)/devicelog
	@cd tests/sdk && { [ -d node_modules ] || npm install --no-audit --no-fund; }
	cd tests/sdk && DEVICELOG_BIN=$(abspath $(BUILD)/devicelog) node --test --test-concurrency=1

run:
	@scripts/deps.sh build
	@$(MAKE) --no-print-directory all
	@scripts/run-demo.sh $(BUILD)/devicelog

test:
	@scripts/deps.sh test
	@scripts/test.sh

clean:
	rm -rf build

fmt:
	clang-format -i src/*/*.c src/*/*.h tests/unit/*.c

-include $(LIBOBJ:.o=.d) $(CLIOBJ:.o=.d)
