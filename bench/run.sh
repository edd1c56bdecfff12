#!/bin/bash
# The benchmark of issue 3: devicelog against the naive baseline (bench/naive.c), same data,
# same load generator, same run. Prints one table: each figure, its target, the baseline and
# the ratio.
#
#   bench/run.sh [sqlite|postgresql] [--events N] [--smoke] [--perf DIR]
#
# --smoke: short phases (the `make test` suite: checks the harness runs and that no filter's
#          plan is a full scan; never a timing).
# --perf DIR: also `perf record` the server in every phase; flat profiles in DIR/<phase>.txt.
# Above the table: the disk's O_DSYNC write time. With sqlite, the WAL pages of the
# single-event commits by table and index (bench/walpages.c) and the plan of every filter's
# statements (bench/plans.c) follow the table; with postgresql, pgbench runs the page
# statements themselves beside devicelog's figures.
# Everything listens on and talks to 127.0.0.1 only; every phase is bounded by a request count
# and a duration; the EXIT trap stops the servers and removes the temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

backend=sqlite
events=10000000
smoke=0
perfdir=
while [ $# -gt 0 ]; do
	case $1 in
	sqlite | postgresql) backend=$1 ;;
	--events) events=$2; shift ;;
	--smoke) smoke=1 ;;
	--perf) perfdir=$(mkdir -p "$2" && cd "$2" && pwd); shift ;;
	*) echo "usage: bench/run.sh [sqlite|postgresql] [--events N] [--smoke] [--perf DIR]" >&2
	   exit 2 ;;
	esac
	shift
done

# Fleet shape: 100 accounts x 1,000 devices at full size; smaller runs keep 10,000-event
# requests by using fewer accounts (one block per account and round at least).
accounts=$((events / 100000))
[ $accounts -gt 100 ] && accounts=100
[ $accounts -lt 1 ] && accounts=1
devices=$((events / 100))
[ $devices -lt $((accounts * 10)) ] && devices=$((accounts * 10))
if [ $smoke -eq 1 ]; then
	read_s=1 single_s=1 filter_n=10 filter_s=1
else
	read_s=10 single_s=10 filter_n=300 filter_s=3
fi
ingest_conns=4

# ---- cleanup ----
T=$(mktemp -d /tmp/devicelog-bench.XXXXXX)
pids=()
pgdir=
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	[ -n "$pgdir" ] && "$ROOT/scripts/pg.sh" stop "$pgdir" >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }
# The machine is shared: note the 1-minute load average at each phase, printed with the table
# (above ~1 the numbers are depressed by other work, not by devicelog).
phase() { # text
	log "== $* (load average $(cut -d' ' -f1 /proc/loadavg))"
	cut -d' ' -f1 /proc/loadavg >>"$T/loadavg"
}

# ---- build ----
DL=$ROOT/build/devicelog
stale=
if ! make -s -C "$ROOT" all >&2; then
	# The tree is shared and may be mid-edit: measure the last commit instead, built apart
	# (git archive only reads the repository), and say so in the table.
	echo "bench: the working tree does not build; building HEAD in a scratch copy" >&2
	mkdir -p "$T/head"
	git -C "$ROOT" archive HEAD | tar -x -C "$T/head"
	make -s -C "$T/head" all >&2 || { echo "bench: HEAD does not build either" >&2; exit 1; }
	DL=$T/head/build/devicelog
	stale="commit $(git -C "$ROOT" rev-parse --short HEAD) (the working tree did not build)"
fi
B=$ROOT/build/bench
mkdir -p "$B"
CF="-std=c17 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE"
cc $CF bench/gen.c -o "$B/gen"
cc $CF bench/load.c -o "$B/load" -lpthread
# shellcheck disable=SC2046
cc $CF bench/walpages.c -o "$B/walpages" $(pkg-config --cflags --libs sqlite3)
# shellcheck disable=SC2046
cc $CF bench/naive.c -o "$B/naive" $(pkg-config --cflags --libs libmicrohttpd jansson sqlite3) \
	-lpthread
# the plans tool links the library the measured binary was built from
# shellcheck disable=SC2046
cc $CF -I"$(dirname "$DL")/../src" bench/plans.c "$(dirname "$DL")/libdevicelog.a" -o "$B/plans" \
	$(pkg-config --cflags --libs libmicrohttpd jansson sqlite3 gnutls zlib libpq libsystemd) \
	-lpthread -lm
# From here on a failed measurement shows as n/a in the table instead of ending the run.
set +e
# A private copy of the binary: a rebuild of build/ during a long run neither changes what is
# measured nor leaves perf with a deleted file to symbolise.
cp "$DL" "${perfdir:-$T}/devicelog"
DL=${perfdir:-$T}/devicelog

# ---- the disk ----
# Single-event ingest waits for one WAL sync per commit, so its figure follows the disk's sync
# time more than anything in devicelog: the mean time of one O_DSYNC write of 4 KiB and of
# 440 KiB (a single-event commit's WAL pages at 10M events), 300 each, in the directory the
# stores are in, printed with the table.
dsync_ms() { # block size
	local out
	out=$(dd if=/dev/zero of="$T/dsync.probe" bs="$1" count=300 oflag=dsync 2>&1 | tail -1)
	rm -f "$T/dsync.probe"
	echo "$out" | awk '{for (i = 2; i < NF; i++) if ($(i + 1) == "s,") printf "%.3f", $i * 1000 / 300}'
}
disk="one O_DSYNC write of 4 KiB $(dsync_ms 4k) ms, of 440 KiB $(dsync_ms 440k) ms (mean of 300)"
log "disk: $disk"

# ---- data ----
end=$(( $(date +%s) / 86400 * 86400 )) # today 00:00 UTC: same data all day
log "generating $events events, $accounts accounts, $devices devices"
"$B/gen" --events "$events" --accounts "$accounts" --devices "$devices" --batch 10000 \
	--end "$end" --seed 1 >"$T/events.ndjson"
month=$(date -u -d @$((end - 30 * 86400)) +%Y-%m-%dT%H:%M:%SZ)
# a few devices of each account, for the timeline pages
awk '/^#/ { a = substr($0, 2); n = 0; if (++blocks > '"$accounts"') exit; next }
     n < 10 { n++; split($0, f, "\""); print a, f[4] }' "$T/events.ndjson" >"$T/devices"

# ---- helpers ----
# RSS sampler, every 100 ms until stopped: the maximum of the process's own memory
# (RssAnon + RssShmem, kB) into FILE, and of VmRSS into FILE.vm. VmRSS also counts the pages of
# the database file that the readers map (mmap): those are the kernel's page cache, shared and
# reclaimable, which the targets set aside; so the target is checked against the first figure
# and both are printed.
rss_start() { # pid file
	( max=0 vmax=0; while kill -0 "$1" 2>/dev/null; do
		read -r v a <<<"$(awk '/^VmRSS/ {v = $2} /^RssAnon|^RssShmem/ {a += $2}
			END {print v + 0, a + 0}' "/proc/$1/status" 2>/dev/null || echo 0 0)"
		[ "${a:-0}" -gt "$max" ] && max=$a && echo "$max" >"$2"
		[ "${v:-0}" -gt "$vmax" ] && vmax=$v && echo "$vmax" >"$2.vm"
		sleep 0.1; done ) &
	rss_pid=$!
}
rss_stop() { kill "$rss_pid" 2>/dev/null || true; wait "$rss_pid" 2>/dev/null || true; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
field() { # key line
	echo "$2" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'
}
load() { "$B/load" --port "$port" "$@"; }

# Runs the load tool, logs its line, prints it.
measure() { # name load-args...
	local name=$1 out
	shift
	out=$(load "$@" 2>>"$T/load.err") || out="failed"
	log "$name: $out"
	echo "$out"
}

# The per-key rate limit stays on (its cost is part of every request) but high enough never to
# answer 429: a small run has few keys per account, and the limiter is not what is measured.
start_devicelog() {
	"$DL" serve --listen 127.0.0.1:0 --store "$store" --quiet --rate-key 1000000 \
		--rate-key-burst 10000000 >"$T/dl.out" 2>"$T/dl.err" &
	srv=$!
	pids+=("$srv")
	port=
	for _ in $(seq 100); do
		port=$(grep -o 'listening on http://127.0.0.1:[0-9]*' "$T/dl.err" | grep -o '[0-9]*$' ||
			true)
		[ -n "$port" ] && break
		kill -0 "$srv" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$port" ]
}

start_naive() {
	"$B/naive" "$T/naive.db" 0 >"$T/naive.out" 2>"$T/naive.err" &
	srv=$!
	pids+=("$srv")
	port=
	for _ in $(seq 100); do
		port=$(awk '/^port/ {print $2}' "$T/naive.out")
		[ -n "$port" ] && break
		sleep 0.1
	done
	[ -n "$port" ]
}

stop_server() {
	kill -TERM "$srv" 2>/dev/null || true
	wait "$srv" 2>/dev/null || true
}

# Bytes of an SQLite store after a checkpoint: the .db plus what is left of its -wal.
sqlite_bytes() { # path
	sqlite3 "$1" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null 2>&1 || true
	echo $(( $(stat -c %s "$1") + $(stat -c %s "$1-wal" 2>/dev/null || echo 0) ))
}

perf_on() { # name
	[ -n "$perfdir" ] || return 0
	perf record -F 499 -g -p "$srv" -o "$perfdir/$1.data" >/dev/null 2>&1 &
	perf_pid=$!
	sleep 0.5
}
perf_off() { # name
	[ -n "$perfdir" ] || return 0
	kill -INT "$perf_pid" 2>/dev/null || true
	wait "$perf_pid" 2>/dev/null || true
	{
		perf report -i "$perfdir/$1.data" --no-children --sort dso -g none --stdio
		perf report -i "$perfdir/$1.data" --no-children --sort dso,symbol -g none --stdio
	} 2>/dev/null | grep -v -e '^#' -e '^$' | cut -c1-110 | head -60 >"$perfdir/$1.txt"
}

# The three pages and the trivial response, 50 connections each.
read_paths() {
	awk '{ print $1, "/v3/device-events/?device_id=" $2 }' "$T/devices" >"$T/p_device"
	for a in $(seq 0 $((accounts - 1))); do
		echo "$a /v3/device-events/?order=DESC&date_time__gte=$month"
	done >"$T/p_month"
	for a in $(seq 0 $((accounts - 1))); do
		echo "$a /v3/device-events/?event_type=UPD4_FAIL_24&order=DESC&date_time__gte=$month"
	done >"$T/p_code"
	for a in $(seq 0 $((accounts - 1))); do echo "$a $1"; done >"$T/p_trivial"
}

# ---- one system: ingest, size, reads, single events ----
# Results go to $T/res.<sys>.<name> (the load line or a number).
run_system() { # sys (devicelog|naive)
	local sys=$1 r
	phase "$sys: bulk ingest"
	rss_start "$srv" "$T/rss.$sys.ingest"
	perf_on "$sys-ingest"
	r=$(measure "$sys ingest" --mode batch --file "$T/events.ndjson" --keys "$T/keys.$sys" \
		--conns $ingest_conns --duration 3000)
	perf_off "$sys-ingest"
	rss_stop
	echo "$r" >"$T/res.$sys.ingest"
	hwm "$srv" >"$T/hwm.$sys.ingest"

	# size after a checkpoint, then a fresh process for the read phase
	stop_server
	if [ "$sys" = devicelog ]; then
		if [ "$backend" = sqlite ]; then
			sqlite_bytes "${store#sqlite:}" >"$T/res.$sys.bytes"
		else
			"$psql" -X -q -t -A -d "$store_pg" -c \
				"SELECT pg_database_size(current_database())" >"$T/res.$sys.bytes" ||
				echo 0 >"$T/res.$sys.bytes"
			# What autovacuum does within a minute or so of a bulk load: without planner
			# statistics the device and code pages take bitmap plans over the whole
			# account (measured at 100k events: 564 pages/s through pgbench as through
			# devicelog, 0.3 ms per page after ANALYZE)
			"$psql" -X -q -d "$store_pg" -c "ANALYZE" >/dev/null 2>&1 || true
		fi
		start_devicelog
		trivial=/v3/device-event-codes/UPD4_FAIL_24/
	else
		sqlite_bytes "$T/naive.db" >"$T/res.$sys.bytes"
		start_naive
		trivial=/health
	fi
	read_paths "$trivial"
	phase "$sys: reads"
	rss_start "$srv" "$T/rss.$sys.read"
	for q in trivial device month code; do
		perf_on "$sys-$q"
		measure "$sys $q" --mode get --paths "$T/p_$q" --keys "$T/keys.$sys" --conns 50 \
			--duration $read_s >"$T/res.$sys.$q"
		perf_off "$sys-$q"
	done
	rss_stop
	hwm "$srv" >"$T/hwm.$sys.read"
	if [ "$sys" = devicelog ]; then
		filters
		[ "$backend" = postgresql ] && pgbench_pages
	fi
	phase "$sys: single-event ingest"
	[ "$sys" = devicelog ] && commits >"$T/commits.0"
	rss_start "$srv" "$T/rss.$sys.single"
	perf_on "$sys-single"
	measure "$sys single" --mode single --file "$T/events.ndjson" --keys "$T/keys.$sys" \
		--conns 50 --duration $single_s --requests 2000000 >"$T/res.$sys.single"
	perf_off "$sys-single"
	rss_stop
	if [ "$sys" = devicelog ]; then
		commits >"$T/commits.1"
		# the WAL since its last start over: the last commits' pages (walpages below)
		[ "$backend" = sqlite ] && cp "${store#sqlite:}-wal" "$T/single.wal" 2>/dev/null
	fi
}

# The group committer's counters from /metrics: "commits requests events".
commits() {
	curl -s -m 10 -H "Authorization: Bearer $admin_key" "http://127.0.0.1:$port/metrics" |
		awk '$1 == "devicelog_store_commits_total" {g = $2}
		     $1 == "devicelog_store_commit_requests_total" {r = $2}
		     $1 == "devicelog_store_commit_events_total" {e = $2}
		     END {print g + 0, r + 0, e + 0}'
}

# ---- PostgreSQL: the same page queries through pgbench, no devicelog in between ----
# The SQL is what the PostgreSQL store sends for each page (pg.c EVENT_SELECT + sqlgen.c, with
# the dictionary ids resolved in devicelog's memory), prepared (-M prepared, as devicelog's
# statement cache), in sessions set up as the store's (no parallel workers, no JIT), 50 clients.
# Each transaction first picks its device or account from a
# small table (one primary-key lookup, \gset), as devicelog's requests rotate over them.
pgbench_pages() {
	local pgb=${psql%/psql}/pgbench sel q tps p99 month_us
	[ -x "$pgb" ] || { log "pgbench not found next to $psql"; return 0; }
	month_us=$(( ($(date -u -d "$month" +%s)) * 1000000 ))
	"$psql" -X -q -d "$store_pg" -v ON_ERROR_STOP=1 >/dev/null 2>>"$T/pg.err" <<-SQL || return 0
		DROP SCHEMA IF EXISTS bench CASCADE;
		CREATE SCHEMA bench;
		CREATE TABLE bench.devices(i serial PRIMARY KEY, acct int, d text, a bigint);
		\copy bench.devices(acct, d) FROM '$T/devices' WITH (FORMAT text, DELIMITER ' ')
		UPDATE bench.devices b SET a = (SELECT id FROM accounts WHERE name = 'acct' || b.acct);
		CREATE TABLE bench.accounts AS SELECT row_number() OVER (ORDER BY id) AS i, id AS a
			FROM accounts WHERE name LIKE 'acct%';
		ALTER TABLE bench.accounts ADD PRIMARY KEY (i);
		ANALYZE bench.devices; ANALYZE bench.accounts;
	SQL
	sel="SELECT e.seq, e.created, e.ts, e.dev, e.code, e.mtype, e.cat, e.descr, e.flags, e.camp, e.extra, e.idem FROM events e"
	cat >"$T/pgb_device.sql" <<-SQL
		\\set i random(1, $(wc -l <"$T/devices"))
		SELECT a, d FROM bench.devices WHERE i = :i \\gset
		$sel WHERE e.account_id = :a AND e.dev = (SELECT id FROM devices WHERE account_id = :a AND device_id = :d) ORDER BY e.seq ASC LIMIT 51;
	SQL
	cat >"$T/pgb_month.sql" <<-SQL
		\\set i random(1, $accounts)
		SELECT a FROM bench.accounts WHERE i = :i \\gset
		$sel WHERE e.account_id = :a AND e.ts >= :m ORDER BY e.seq DESC LIMIT 51;
	SQL
	cat >"$T/pgb_code.sql" <<-SQL
		\\set i random(1, $accounts)
		SELECT a FROM bench.accounts WHERE i = :i \\gset
		$sel WHERE e.account_id = :a AND e.code = (SELECT id FROM strings WHERE s = :code) AND e.ts >= :m ORDER BY e.seq DESC LIMIT 51;
	SQL
	for q in device month code; do
		phase "pgbench: $q"
		rm -f "$T"/pgb_log*
		# the session settings the store's connections make (pg.c, conn_connect)
		PGOPTIONS="-c max_parallel_workers_per_gather=0 -c jit=off" \
			"$pgb" -n -M prepared -c 50 -j 2 -T "$read_s" -D m="$month_us" -D code=UPD4_FAIL_24 \
			-f "$T/pgb_$q.sql" -l --log-prefix="$T/pgb_log" "$store_pg" \
			>"$T/pgb_$q.out" 2>>"$T/pg.err" || true
		tps=$(awk '/^tps = / {print $3; exit}' "$T/pgb_$q.out")
		# per-transaction latency (microseconds) is the third column of the logs
		p99=$(cat "$T"/pgb_log* 2>/dev/null | awk '{print $3}' | sort -n | awk '{v[NR] = $1}
			END {if (NR) {i = int(NR * 0.99); if (i < 1) i = 1; printf "%.3f", v[i] / 1000}}')
		log "pgbench $q: tps=$tps p99_ms=$p99"
		echo "rps=$tps p99_ms=$p99" >"$T/res.pgbench.$q"
	done
	"$psql" -X -q -d "$store_pg" -c "DROP SCHEMA bench CASCADE" >/dev/null 2>&1 || true
}

# ---- every filter of SPEC.md, one keep-alive client ----
filters() {
	local k dev dev2 camp id id2 ts ts2 descr grp
	phase "devicelog: filters"
	k=$(awk '$1 == 0 {print $2; exit}' "$T/keys.devicelog")
	dev=$(awk '$1 == 0 {print $2; exit}' "$T/devices")
	dev2=$(awk '$1 == 0 {d = $2} END {print d}' "$T/devices")
	api() { curl -s -m 60 -H "Authorization: Bearer $k" "http://127.0.0.1:$port$1"; }
	ev=$(api "/v3/device-events/?device_id=$dev&limit=2")
	id=$(echo "$ev" | jq -r '.data[0].id')
	id2=$(echo "$ev" | jq -r '.data[1].id')
	ts=$(echo "$ev" | jq -r '.data[0].date_time')
	ts2=$(echo "$ev" | jq -r '.data[1].date_time')
	created=$(echo "$ev" | jq -r '.data[0].created_at')
	camp=$(awk '/^#/ { if ($0 != "#0") exit; next }
		/campaign_id/ { split($0, f, "\""); print f[18]; exit }' "$T/events.ndjson")
	descr=$(api "/v3/device-event-codes/UPD4_FAIL_24/" | jq -r '.description | @uri')
	grp=$(curl -s -m 10 -X POST -H "Authorization: Bearer $k" -H 'Content-Type: application/json' \
		-d '{"name":"bench"}' "http://127.0.0.1:$port/v3/device-groups/" | jq -r '.id // empty')
	for d in $(awk '$1 == 0 {print $2}' "$T/devices"); do
		curl -s -m 10 -o /dev/null -X POST -H "Authorization: Bearer $k" \
			-H 'Content-Type: application/json' -d "{\"device_id\":\"$d\"}" \
			"http://127.0.0.1:$port/v3/device-groups/$grp/devices/add/"
	done
	now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	old=$(date -u -d @$((end - 700 * 86400)) +%Y-%m-%dT%H:%M:%SZ)
	{
		echo "date_time__eq date_time__eq=$ts"
		echo "date_time__in date_time__in=$ts,$ts2"
		echo "date_time__nin date_time__nin=$ts,$ts2"
		echo "date_time__lte date_time__lte=$old"
		echo "date_time__gte date_time__gte=$month"
		echo "created_at__lte created_at__lte=$now"
		echo "created_at__gte created_at__gte=$created"
		echo "id__eq id__eq=$id"
		echo "id__neq id__neq=$id"
		echo "id__in id__in=$id,$id2"
		echo "id__nin id__nin=$id,$id2"
		echo "device_id__eq device_id=$dev"
		echo "device_id__neq device_id__neq=$dev"
		echo "device_id__in device_id__in=$dev,$dev2"
		echo "device_id__nin device_id__nin=$dev,$dev2"
		echo "event_type__eq event_type=UPD4_FAIL_24"
		echo "event_type__neq event_type__neq=SYS_106"
		echo "event_type__in event_type__in=UPD4_FAIL_24,UPD4_FAIL_33"
		echo "event_type__nin event_type__nin=SYS_106,SYS_107"
		echo "description__eq description=$descr"
		echo "description__neq description__neq=$descr"
		echo "description__in description__in=$descr"
		echo "description__nin description__nin=$descr"
		echo "event_type_description__eq event_type_description=SKIPPED"
		echo "event_type_description__neq event_type_description__neq=INFO"
		echo "event_type_description__in event_type_description__in=FAIL,SKIPPED"
		echo "event_type_description__nin event_type_description__nin=INFO,SUCCESS"
		echo "event_type_category__eq event_type_category=FAIL_NETWORK"
		echo "event_type_category__neq event_type_category__neq=INFO_LIFECYCLE"
		echo "event_type_category__in event_type_category__in=FAIL_STORAGE,FAIL_NETWORK"
		echo "event_type_category__nin event_type_category__nin=INFO_LIFECYCLE,SUCCESS"
		echo "event_type_category__eq(rare),DESC event_type_category=FAIL_CAMPAIGN_STOPPED&order=DESC"
		# values no event has: nothing to find, so nothing may be walked to find it
		echo "event_type_category__eq(absent) event_type_category=NO_SUCH_CATEGORY"
		echo "description__in(absent),total description__in=No%20such,Nor%20this&include=total_count"
		echo "event_type_category__eq(rare),total event_type_category=FAIL_CAMPAIGN_STOPPED&include=total_count"
		echo "campaign_id__eq campaign_id=$camp"
		echo "campaign_id__neq campaign_id__neq=$camp"
		echo "campaign_id__in campaign_id__in=$camp"
		echo "campaign_id__nin campaign_id__nin=$camp"
		# the campaign is among the account's first: newest first, every later event is
		# walked past unless an index leads to it
		echo "campaign_id__eq,DESC campaign_id=$camp&order=DESC"
		echo "state_change__eq state_change=false"
		echo "state_change__neq state_change__neq=true"
		echo "device_group_id__eq device_group_id=$grp"
		echo "device_group_id__in device_group_id__in=$grp"
		echo "month+FAIL,DESC order=DESC&event_type_description=FAIL&date_time__gte=$month"
		echo "device,DESC device_id=$dev&order=DESC"
		echo "legacy_filter= filter=$(printf 'event_type__in=UPD4_FAIL_24,UPD4_FAIL_26' |
			jq -sRr @uri)"
		echo "total_count(device) device_id=$dev&include=total_count&limit=2"
		echo "total_count(account) include=total_count&limit=2"
	} >"$T/filters"
	: >"$T/res.filters"
	while read -r name q; do
		: >"$T/p_f"
		# device filters rotate over account 0's devices: one device's pages would stay
		# in the caches, which no real client sees
		for d in $(awk '$1 == 0 {print $2}' "$T/devices"); do
			echo "0 /v3/device-events/?${q//$dev/$d}" >>"$T/p_f"
		done
		rows=$(api "/v3/device-events/?$q" | jq -r '(.data | length | tostring) +
			(if .total_count then "/" + (.total_count | tostring) else "" end)' 2>/dev/null)
		r=$(measure "filter $name" --mode get --paths "$T/p_f" --keys "$T/keys.devicelog" \
			--conns 1 --requests $filter_n --duration $filter_s)
		echo "$name ${rows:-?} $r" >>"$T/res.filters"
	done <"$T/filters"
	# the SQLite statements behind each filter, with their plans (bench/plans.c)
	if [ "$backend" = sqlite ]; then
		"$B/plans" "${store#sqlite:}" acct0 <"$T/filters" >"$T/plans" 2>&1
		echo "exit status $?" >>"$T/plans"
	fi
}

# ---- devicelog ----
available=1
psql=
case $backend in
sqlite)
	store=sqlite:$T/devicelog.db
	;;
postgresql)
	pgdir=$T/pg
	# under root the server runs as the postgres user (pg.sh), who must reach $T/pg
	chmod 755 "$T"
	psql=$(ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -1 || true)
	if store=$("$ROOT/scripts/pg.sh" start "$pgdir" 2>"$T/pg.err"); then
		store_pg=$store
	else
		pgdir=
		available=0
	fi
	;;
esac

# Several write keys per account ("ACCOUNT KEY" lines, see load.c): the server limits each key
# to DLOG_RATE_KEY requests/s (1,000), and a fleet's traffic comes from many producers and
# viewers with their own keys. Account 0 gets more: the filter runs use it alone.
if [ $available -eq 1 ]; then
	for a in $(seq 0 $((accounts - 1))); do
		for _ in $(seq $([ "$a" = 0 ] && echo 32 || echo 4)); do
			k=$("$DL" keys create --account "acct$a" --scope write --store "$store" \
				2>/dev/null) || { available=0; break 2; }
			echo "$a $k"
		done
	done >"$T/keys.devicelog"
fi
# an admin key, for /metrics
[ $available -eq 1 ] && { admin_key=$("$DL" keys create --account acct0 --scope admin \
	--store "$store" 2>/dev/null) || available=0; }
if [ $available -eq 1 ] && start_devicelog; then
	run_system devicelog
	stop_server
	if [ -s "$T/single.wal" ]; then
		"$B/walpages" "${store#sqlite:}" "$T/single.wal" >"$T/walpages" 2>>"$T/load.err"
	fi
else
	available=0
	log "devicelog serve --store $backend: not available ($(tail -1 "$T/dl.err" 2>/dev/null))"
fi

# ---- the naive baseline ----
for a in $(seq 0 $((accounts - 1))); do echo "acct$a"; done >"$T/keys.naive"
start_naive
run_system naive
stop_server

# ---- the table ----
get() { # sys name key
	local f=$T/res.$1.$2
	[ -f "$f" ] || { echo ""; return; }
	field "$3" "$(cat "$f")"
}
num() { [ -n "$1" ] && printf '%.0f' "$1" || echo "n/a"; }
ms() { [ -n "$1" ] && printf '%.2f' "$1" || echo "n/a"; }
ms3() { [ -n "$1" ] && printf '%.3f' "$1" || echo "n/a"; }
ratio() { # a b
	if [ -n "$1" ] && [ -n "$2" ] && [ "$(echo "$2 > 0" | bc)" = 1 ]; then
		printf '%.2fx' "$(echo "scale=4; $1 / $2" | bc)"
	else
		echo "n/a"
	fi
}
verdict() { # value op target
	[ -n "$1" ] && [ "$1" != n/a ] || { echo "n/a"; return; }
	[ "$(echo "$1 $2 $3" | bc)" = 1 ] && echo "yes" || echo "NO"
}
errs() { # sys name: the load line's errors, as a warning
	local e
	e=$(get "$1" "$2" errors)
	[ -n "$e" ] && [ "$e" != 0 ] && echo " ($e errors)" || true
}

row() { printf '|'; printf ' %s |' "$@"; printf '\n'; }

eps_dl=$(get devicelog ingest eps)
eps_nv=$(get naive ingest eps)
bytes_dl=$(cat "$T/res.devicelog.bytes" 2>/dev/null || echo "")
bytes_nv=$(cat "$T/res.naive.bytes" 2>/dev/null || echo "")
bpe_dl=$([ -n "$bytes_dl" ] && echo "scale=1; $bytes_dl / $events" | bc || echo "")
bpe_nv=$([ -n "$bytes_nv" ] && echo "scale=1; $bytes_nv / $events" | bc || echo "")
triv=$(get devicelog trivial rps)

echo
echo "devicelog benchmark: store=$backend events=$events accounts=$accounts devices=$devices" \
	"$( [ $smoke -eq 1 ] && echo '(smoke: short phases, figures not meaningful)')"
[ -n "$stale" ] && echo "WARNING: measured $stale"
echo "load average (1 min) at the phase starts: $(tr '\n' ' ' <"$T/loadavg")(2 CPUs)"
echo "disk: $disk"
echo "ratio = devicelog / naive baseline (bench/naive.c) unless stated; 'met' compares with the target"
echo
row "figure" "devicelog" "target" "naive" "ratio" "met"
row "---" "---" "---" "---" "---" "---"
row "bulk ingest, events/s (10k/request, $ingest_conns conns, 0 -> N)$(errs devicelog ingest)" \
	"$(num "$eps_dl")" ">= 250000, >= 5x naive" "$(num "$eps_nv")" "$(ratio "$eps_dl" "$eps_nv")" \
	"$(verdict "${eps_dl:-n/a}" '>=' 250000)/$(verdict "$(echo "${eps_dl:-0} / ${eps_nv:-1}" | bc -l)" '>=' 5)"
row "bulk ingest, events/s per tenth of the data" "$(get devicelog ingest deciles_eps)" \
	">= 250000 each" "$(get naive ingest deciles_eps)" "" ""
row "single-event ingest, events/s (50 conns)$(errs devicelog single)" \
	"$(num "$(get devicelog single eps)")" ">= 20000" "$(num "$(get naive single eps)")" \
	"$(ratio "$(get devicelog single eps)" "$(get naive single eps)")" \
	"$(verdict "$(get devicelog single eps)" '>=' 20000)"
row "single-event ingest p99 ms" "$(ms "$(get devicelog single p99_ms)")" "" \
	"$(ms "$(get naive single p99_ms)")" "" ""
if [ -s "$T/commits.0" ] && [ -s "$T/commits.1" ]; then
	# requests and events per commit over the phase (/metrics), WAL pages per commit over its
	# last commits (walpages)
	read -r g0 r0 e0 <"$T/commits.0"
	read -r g1 r1 e1 <"$T/commits.1"
	rpc=$([ $((g1 - g0)) -gt 0 ] && echo "scale=1; ($r1 - $r0) / ($g1 - $g0)" | bc || echo "")
	fpc=$(awk '$1 == "commits" {print $4}' "$T/walpages" 2>/dev/null)
	ppe=$([ -n "$fpc" ] && [ -n "$rpc" ] && echo "scale=1; $fpc * ($g1 - $g0) / ($e1 - $e0)" | bc || echo "")
	row "single-event ingest: requests per commit; WAL pages per commit, per event" \
		"${rpc:-n/a}; ${fpc:-n/a}, ${ppe:-n/a}" "" "" "" ""
fi
row "trivial response req/s (codes/UPD4_FAIL_24; naive: /health)" "$(num "$triv")" "" \
	"$(num "$(get naive trivial rps)")" "$(ratio "$triv" "$(get naive trivial rps)")" ""
for q in device month code; do
	case $q in
	device) label="device timeline page (50)" ;;
	month) label="fleet past-month page, DESC" ;;
	code) label="code-filtered month page, DESC" ;;
	esac
	r=$(get devicelog $q rps)
	row "$label req/s$(errs devicelog $q)" "$(num "$r")" ">= 15000, >= 0.4x trivial" \
		"$(num "$(get naive $q rps)")" "$(ratio "$r" "$(get naive $q rps)")" \
		"$(verdict "${r:-n/a}" '>=' 15000)/$(verdict "$(ratio "$r" "$triv" | tr -d x)" '>=' 0.4) ($(ratio "$r" "$triv") of trivial)"
	row "$label p99 ms" "$(ms "$(get devicelog $q p99_ms)")" "<= 5" \
		"$(ms "$(get naive $q p99_ms)")" "" "$(verdict "$(get devicelog $q p99_ms)" '<=' 5)"
	if [ -f "$T/res.pgbench.$q" ]; then
		p=$(get pgbench $q rps)
		row "$label: pgbench, same SQL, 50 clients: transactions/s, p99 ms (devicelog / pgbench in ratio)" \
			"$(num "$p"), $(ms "$(get pgbench $q p99_ms)")" "" "" "$(ratio "$r" "$p")" ""
	fi
done
row "storage bytes/event (db + wal after checkpoint)" "${bpe_dl:-n/a}" "<= 64" "${bpe_nv:-n/a}" \
	"$(ratio "$bpe_dl" "$bpe_nv")" "$(verdict "${bpe_dl:-n/a}" '<=' 64)"
rss() { [ -f "$1" ] && echo "$(( $(cat "$1") / 1024 ))" || echo ""; }
for ph in read ingest; do
	lim=$([ $ph = read ] && echo 64 || echo 256)
	m=$(rss "$T/rss.devicelog.$ph")
	row "RSS under $ph load, MB: RssAnon+RssShmem, page cache aside (max sampled; max VmRSS $(rss "$T/rss.devicelog.$ph.vm"), VmHWM $(( $(cat "$T/hwm.devicelog.$ph" 2>/dev/null || echo 0) / 1024 )))" \
		"${m:-n/a}" "<= $lim" "$(rss "$T/rss.naive.$ph")" "" "$(verdict "${m:-n/a}" '<=' "$lim")"
done
if [ -f "$T/res.filters" ]; then
	echo
	echo "Filters: first page (limit 50) at $events events, one keep-alive client. Client: at the" \
		"client (with loopback HTTP); server: inside the server, from its first line to the" \
		"answer (its Server-Timing header); the target is checked on the server's median."
	echo
	row "filter" "rows (/total)" "client median ms" "client p99 ms" "server median ms" \
		"server p99 ms" "requests" "target" "met"
	row "---" "---" "---" "---" "---" "---" "---" "---" "---"
	while read -r name rows line; do
		med=$(field p50_ms "$line")
		p99=$(field p99_ms "$line")
		smed=$(field server_p50_ms "$line")
		sp99=$(field server_p99_ms "$line")
		e=$(field errors "$line")
		tgt=2
		case $name in total_count*) tgt=1 ;; esac
		row "$name$([ -n "$e" ] && [ "$e" != 0 ] && echo " ($e errors)")" "$rows" "$(ms "$med")" \
			"$(ms "$p99")" "$(ms3 "${smed:-}")" "$(ms3 "${sp99:-}")" "$(field requests "$line")" \
			"<= $tgt" "$(verdict "${smed:-$med}" '<=' $tgt)"
	done <"$T/res.filters"
fi
if [ -s "$T/walpages" ]; then
	echo
	echo "WAL pages a single-event commit writes, per table and index (bench/walpages.c, over" \
		"the last $(awk '$1 == "commits" {print $2}' "$T/walpages") commits of the phase):" \
		"$(awk '$1 != "commits" {printf "%s%s %s", sep, $1, $2; sep = ", "}' "$T/walpages")"
fi
if [ -f "$T/plans" ]; then
	echo
	echo "Plans of the filters' SQLite statements (bench/plans.c; \"FULL SCAN\" marks a read of the"
	echo "whole events table, and makes the exit status 1):"
	echo
	echo '```'
	cat "$T/plans"
	echo '```'
fi
if [ $available -eq 0 ]; then
	echo
	echo "devicelog with store=$backend: not available (see the log above); rows show n/a."
fi
if [ -s "$T/load.err" ]; then
	echo
	echo "load generator messages:"
	sort "$T/load.err" | uniq -c | head -10
fi
# The smoke run (make test) checks what does not depend on timing: every filter's statements
# have plans without a full scan of events (the planner statistics are fixed, so a 100k-event
# store plans as a 10M one).
if [ $smoke -eq 1 ] && [ "$backend" = sqlite ] && ! grep -q '^exit status 0$' "$T/plans" 2>/dev/null; then
	echo "bench: a filter's plan reads the whole events table, or could not be made (see above)" >&2
	exit 1
fi
