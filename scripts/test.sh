#!/bin/bash
# `make test`: every suite, in order of cost. Prints one summary line per suite and a final
# "N passed, N failed" line; exits non-zero when anything failed.
set -u
cd "$(dirname "$0")/.."
passed=0 failed=0
failures=()

suite() { # name command...
	local name=$1
	shift
	echo "=== $name"
	if "$@"; then
		passed=$((passed + 1))
		echo "=== $name: ok"
	else
		failed=$((failed + 1))
		failures+=("$name")
		echo "=== $name: FAILED"
	fi
}

suite build make -s -j2 all
suite unit make -s unit
suite integration make -s integration
if [ -x scripts/test-extra.sh ]; then
	. scripts/test-extra.sh
fi

echo
[ ${#failures[@]} -gt 0 ] && echo "failed suites: ${failures[*]}"
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
