#!/bin/sh
# The store contract suite against a throwaway PostgreSQL (scripts/pg.sh), stopped and removed
# whatever happens. Needs build/tests/test_store (`make unit` builds it).
set -eu
cd "$(dirname "$0")/.."
make -s build/tests/test_store
dir=$(mktemp -d /tmp/devicelog-pg.XXXXXX)
trap 'scripts/pg.sh stop "$dir"' EXIT
trap 'exit 1' INT TERM
url=$(scripts/pg.sh start "$dir")
DLOG_TEST_STORE=$url build/tests/test_store
