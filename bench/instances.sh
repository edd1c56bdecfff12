#!/bin/bash
# Several instances over one PostgreSQL database: ingest events/s and list requests/s with one
# `devicelog serve` and with two on the same database (README "Several instances over
# PostgreSQL"). Ingest: bench/load posting 1,000-event NDJSON blocks (gen's fleet), 8
# connections per instance; lists: wrk, GET /v3/device-events/?limit=50 (the first page of the
# account, newest first), 16 connections per instance. With two instances the load is split
# between them and the figures are the sums. Everything on 127.0.0.1; PostgreSQL is a
# throwaway scripts/pg.sh cluster; the EXIT trap stops everything.
#
#   bench/instances.sh [--events N] [--seconds S]
set -euo pipefail
cd "$(dirname "$0")/.."
events=200000
secs=10
while [ $# -gt 0 ]; do
	case $1 in
	--events) events=$2; shift ;;
	--seconds) secs=$2; shift ;;
	*) echo "usage: bench/instances.sh [--events N] [--seconds S]" >&2; exit 2 ;;
	esac
	shift
done
command -v wrk >/dev/null || { echo "instances.sh: needs wrk (apt-get install wrk)" >&2; exit 1; }
make -s build/devicelog
T=$(mktemp -d /tmp/devicelog-inst.XXXXXX)
chmod 755 "$T" # scripts/pg.sh runs the server as postgres under root
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	scripts/pg.sh stop "$T/pg" || true
	rm -rf "$T"
}
trap cleanup EXIT
CF="-std=c17 -O2 -Wall -Wextra -D_GNU_SOURCE"
cc $CF bench/gen.c -o "$T/gen"
cc $CF bench/load.c -o "$T/load" -lpthread
cp build/devicelog "$T/devicelog"
DL=$T/devicelog

start() { # name: starts `serve` on the store, sets port_<name>
	"$DL" serve --listen 127.0.0.1:0 --store "$store" --quiet 2>"$T/$1.err" &
	pids+=($!)
	for _ in $(seq 100); do
		p=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$T/$1.err" | grep -o '[0-9]*$' || true)
		[ -n "$p" ] && { eval "port_$1=$p"; return; }
		sleep 0.1
	done
	echo "serve did not start: $(cat "$T/$1.err")" >&2
	exit 1
}

field() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }

# Ingest the blocks of FILE through the instances given (ports), one load each, all at once;
# prints the summed events/s.
ingest() { # file ports...
	local f=$1 n=0 total=0
	shift
	for p in "$@"; do
		"$T/load" --port "$p" --mode batch --file "$f.$n" --keys "$T/keys" --conns 8 \
			--duration "$secs" >"$T/ing.$n" 2>>"$T/load.err" &
		n=$((n + 1))
	done
	wait # (a subshell: only the load generators are its children)
	for i in $(seq 0 $((n - 1))); do
		total=$(awk -v t="$total" -v v="$(field eps <"$T/ing.$i")" 'BEGIN {print t + v}')
		e=$(field errors <"$T/ing.$i")
		[ "${e:-1}" = 0 ] || echo "ingest through instance $i: ${e:-no} errors" >&2
	done
	echo "$total"
}

lists() { # ports...: summed requests/s of wrk on each
	local n=0 total=0
	for p in "$@"; do
		wrk -t1 -c16 -d"${secs}s" -H "Authorization: Bearer $key" \
			"http://127.0.0.1:$p/v3/device-events/?limit=50&order=DESC" >"$T/wrk.$n" 2>&1 &
		n=$((n + 1))
	done
	wait # (a subshell: only the load generators are its children)
	for i in $(seq 0 $((n - 1))); do
		total=$(awk -v t="$total" -v v="$(awk '/Requests\/sec/ {print $2}' "$T/wrk.$i")" \
			'BEGIN {print t + v}')
	done
	echo "$total"
}

# Blocks of 1,000 events, split in two halves by block for the two-instance runs.
end=$(( $(date +%s) / 86400 * 86400 ))
"$T/gen" --events "$events" --accounts 1 --devices $((events / 100)) --batch 1000 --end "$end" \
	--seed 1 >"$T/ev"
awk -v f="$T/ev" '/^#/ { b++ } { print > (f (b % 2 ? ".h0" : ".h1")) }' "$T/ev"
cp "$T/ev" "$T/ev.one.0"
cp "$T/ev.h0" "$T/ev.two.0"
cp "$T/ev.h1" "$T/ev.two.1"

run() { # label instances
	scripts/pg.sh stop "$T/pg" >/dev/null 2>&1 || true
	store=$(scripts/pg.sh start "$T/pg")
	key=$("$DL" keys create --account acct0 --scope write --store "$store" 2>/dev/null)
	echo "0 $key" >"$T/keys"
	start a
	ports=("$port_a")
	if [ "$2" = 2 ]; then
		start b
		ports+=("$port_b")
	fi
	ing=$(ingest "$T/ev.$1" "${ports[@]}")
	lst=$(lists "${ports[@]}")
	printf '%-22s %14.0f %16.0f\n' "$2 instance(s)" "$ing" "$lst"
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
}

echo "PostgreSQL $(ls /usr/lib/postgresql | sort -V | tail -1), $(nproc) CPUs, ${secs} s per figure"
printf '%-22s %14s %16s\n' "" "ingest ev/s" "list req/s"
run one 1
run two 2
if [ -s "$T/load.err" ]; then
	echo "load messages:"
	sort "$T/load.err" | uniq -c | head -5
fi
