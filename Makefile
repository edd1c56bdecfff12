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
	@# the store's contract again with every event merged into device blocks as soon as it can
	@echo "== $(BUILD)/tests/test_store (merging every event)"; \
		DLOG_TEST_MERGE_EVENTS=1 $(BUILD)/tests/test_store

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

# ---- fuzzing: libFuzzer (clang) with ASan+UBSan, one target per tests/fuzz/fuzz_NAME.c ----
# The library is rebuilt into build-fuzz/ with coverage instrumentation. `make fuzz` runs each
# target FUZZ_SECONDS (default 300) against its committed corpus (tests/fuzz/corpus/NAME, new
# finds go to build-fuzz/corpus/NAME, not the repository) after replaying
# tests/fuzz/regressions/NAME; make test runs the same for a bounded time (tests/fuzz/run.sh).
FUZZ_BUILD   := build-fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZERS      := $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SECONDS ?= 300
.PHONY: fuzz fuzz-build san san-build

fuzz-build:
	@CC=clang BUILD=$(FUZZ_BUILD) CFLAGS="-O1 -g -fsanitize=fuzzer-no-link $(FUZZ_SAN)" \
		$(MAKE) --no-print-directory $(FUZZ_BUILD)/libdevicelog.a
	@$(MAKE) --no-print-directory $(FUZZERS)

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_BUILD)/libdevicelog.a
	clang -O1 -g -std=c17 -Wall -Wextra -Werror -D_GNU_SOURCE -Isrc -fsanitize=fuzzer $(FUZZ_SAN) \
		$< $(FUZZ_BUILD)/libdevicelog.a $(LDLIBS) -o $@

fuzz: fuzz-build
	tests/fuzz/run.sh $(FUZZ_SECONDS)

# ---- sanitizers: the daemon, CLI and unit tests with ASan+UBSan into build-san/ ----
# `make san` builds them and runs the unit tests, the integration suite and the abuse suite
# against build-san/devicelog; any sanitizer report (LeakSanitizer at exit included) fails it.
SAN_BUILD := build-san
san-build:
	@BUILD=$(SAN_BUILD) CFLAGS="-O1 -g -fno-omit-frame-pointer $(FUZZ_SAN)" \
		LDFLAGS="$(FUZZ_SAN)" $(MAKE) --no-print-directory $(SAN_BUILD)/devicelog \
		$(patsubst $(BUILD)/%,$(SAN_BUILD)/%,$(UNITS))

SAN_REPORTS := $(abspath $(SAN_BUILD))/reports
SAN_ENV := ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:log_path=$(SAN_REPORTS)/asan \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$(SAN_REPORTS)/ubsan \
	LSAN_OPTIONS=suppressions=$(abspath tests/fuzz/lsan.supp):print_suppressions=0
san: san-build
	@rm -rf $(SAN_REPORTS) && mkdir -p $(SAN_REPORTS)
	@set -e; for t in $(patsubst $(BUILD)/%,$(SAN_BUILD)/%,$(UNITS)); do \
		echo "== $$t"; $(SAN_ENV) $$t; done
	$(SAN_ENV) DLOG_TEST_MERGE_EVENTS=1 $(SAN_BUILD)/tests/test_store
	$(SAN_ENV) DEVICELOG_BIN=$(SAN_BUILD)/devicelog node --test --test-concurrency=1 \
		tests/integration/
	$(SAN_ENV) DEVICELOG_BIN=$(SAN_BUILD)/devicelog tests/abuse/run.sh
	@if ls $(SAN_REPORTS)/* >/dev/null 2>&1; then cat $(SAN_REPORTS)/*; \
		echo "sanitizer reports above"; exit 1; fi
