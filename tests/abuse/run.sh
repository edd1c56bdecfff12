#!/bin/bash
# The hardening suites against the real daemon: tests/abuse (security, abuse) and, with faults,
# tests/faults. Raises the open-file limit where allowed (10,000 idle connections need about as
# many descriptors on each side); DEVICELOG_BIN defaults to build/devicelog.
set -u
cd "$(dirname "$0")/../.."
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 16384 ]; then
	echo "abuse: open-file limit $(ulimit -n) is below 16384; the idle-connection test will fail" >&2
fi
export DEVICELOG_BIN=${DEVICELOG_BIN:-build/devicelog}
dirs=(tests/abuse/)
[ "${1:-}" = faults ] && dirs=(tests/faults/)
exec node --test --test-concurrency=1 "${dirs[@]}"
