# Shared by tests/ops/*.sh (sourced): assertions, a temporary directory, the daemon.
# Each test script: `. "$(dirname "$0")/lib.sh"`, then checks, then `finish`.
set -u
cd "$(dirname "$0")/../.."
BIN=${DEVICELOG_BIN:-$PWD/build/devicelog}
[ -x "$BIN" ] || { echo "no binary at $BIN (run make)" >&2; exit 1; }
T=$(mktemp -d /tmp/devicelog-ops.XXXXXX)
PIDS=""
nok=0 nfail=0

cleanup_lib() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "${KEEP:-}" ] && echo "kept $T" || rm -rf "$T"
}
trap cleanup_lib EXIT

ok() { nok=$((nok + 1)); echo "ok - $*"; }
fail() { nfail=$((nfail + 1)); echo "FAIL - $*"; }
# check DESCRIPTION COMMAND...: passes when the command succeeds
check() { local d=$1; shift; if "$@"; then ok "$d"; else fail "$d"; fi; }
# has FILE REGEX
has() { grep -Eq -- "$2" "$1"; }
finish() {
	echo "$(basename "$0"): $nok passed, $nfail failed"
	[ "$nfail" -eq 0 ]
}

# start_serve NAME ARGS...: runs `devicelog serve ARGS` with output in $T/NAME.{out,err};
# sets PID and PORT once it listens (10 s at most).
start_serve() {
	local name=$1 i
	shift
	"$BIN" serve "$@" > "$T/$name.out" 2> "$T/$name.err" &
	PID=$!
	PIDS="$PIDS $PID"
	PORT=""
	for i in $(seq 200); do
		PORT=$(grep -Eo 'listening on https?://[0-9.]+:[0-9]+' "$T/$name.err" | grep -Eo '[0-9]+$')
		[ -n "$PORT" ] && return 0
		kill -0 "$PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "serve $name did not start:" >&2
	cat "$T/$name.err" >&2
	return 1
}

# stop PID: SIGTERM and wait; returns its exit status
stop() {
	kill -TERM "$1" 2>/dev/null
	wait "$1"
}
