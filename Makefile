# devicelog build. `make` builds build/devicelog; `make run` starts it on a demo fleet;
# `make test` installs what the tests need, builds, and runs every test.

CC      ?= cc
PKGS    := libmicrohttpd jansson sqlite3 gnutls zlib libpq libsystemd
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

# ---- the API description, embedded (GET /v3/openapi.json) ----
$(BUILD)/gen/openapi_doc.c: docs/openapi.json scripts/embed-file.sh
	@mkdir -p $(dir $@)
	scripts/embed-file.sh dlog_openapi_json docs/openapi.json > $@

$(BUILD)/gen/openapi_doc.o: $(BUILD)/gen/openapi_doc.c
	$(CC) $(CFLAGS) -c $< -o $@

# An extra prerequisite of the library (the rule above links $^, which includes it).
$(BUILD)/libdevicelog.a: $(BUILD)/gen/openapi_doc.o

# ---- generated files kept in the repository (tests/ops check they are up to date) ----
# man/devicelog.8 from man/devicelog.8.in and the option table; dist/devicelog.conf, the
# commented example configuration, from the same table.
.PHONY: man install uninstall
man: $(BUILD)/devicelog
	scripts/man.sh $(BUILD)/devicelog > man/devicelog.8
	$(BUILD)/devicelog config example --store sqlite:/var/lib/devicelog/devicelog.db \
		> dist/devicelog.conf

# ---- install: `make install [PREFIX=/usr/local] [DESTDIR=...]`; `make uninstall` ----
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/devicelog
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc

# The configuration is installed only when none is there: an operator's file is never
# overwritten (the example beside the documentation always is).
install: $(BUILD)/devicelog
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR) \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/devicelog
	install -m 0755 $(BUILD)/devicelog $(DESTDIR)$(BINDIR)/devicelog
	install -m 0644 man/devicelog.8 $(DESTDIR)$(MANDIR)/man8/devicelog.8
	install -m 0644 dist/devicelog.conf $(DESTDIR)$(DOCDIR)/devicelog.conf.example
	install -m 0644 docs/OPERATIONS.md docs/openapi.json $(DESTDIR)$(DOCDIR)/
	sed 's,@BINDIR@,$(BINDIR),g' dist/devicelog.service.in > $(DESTDIR)$(UNITDIR)/devicelog.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/devicelog.service
	[ -e $(DESTDIR)$(SYSCONFDIR)/devicelog/devicelog.conf ] || \
		install -m 0644 dist/devicelog.conf $(DESTDIR)$(SYSCONFDIR)/devicelog/devicelog.conf

# The configuration goes only when it is still the installed example (else it is the
# operator's). The store (/var/lib/devicelog) is data: never removed here.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/devicelog $(DESTDIR)$(MANDIR)/man8/devicelog.8 \
		$(DESTDIR)$(UNITDIR)/devicelog.service
	rm -rf $(DESTDIR)$(DOCDIR)
	if cmp -s dist/devicelog.conf $(DESTDIR)$(SYSCONFDIR)/devicelog/devicelog.conf; then \
		rm -f $(DESTDIR)$(SYSCONFDIR)/devicelog/devicelog.conf; fi
	rmdir $(DESTDIR)$(SYSCONFDIR)/devicelog 2>/dev/null || true
