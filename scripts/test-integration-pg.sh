#!/bin/sh
# The HTTP integration suite (tests/integration/) against PostgreSQL: a throwaway server
# (scripts/pg.sh), each daemon of the suite on a fresh database of it
# (DEVICELOG_TEST_STORE_URL_BASE, see tests/integration/lib/harness.mjs); stopped and removed
# whatever happens. Tests that only make sense on SQLite skip themselves.
set -eu
cd "$(dirname "$0")/.."
make -s build/devicelog
dir=$(mktemp -d /tmp/devicelog-itpg.XXXXXX)
trap 'scripts/pg.sh stop "$dir"' EXIT
trap 'exit 1' INT TERM
url=$(scripts/pg.sh start "$dir")
DEVICELOG_TEST_STORE_URL_BASE=$url DEVICELOG_BIN=build/devicelog \
	node --test --test-concurrency=1 tests/integration/
