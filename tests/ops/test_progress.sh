#!/bin/bash
# import and demo: a progress line (count, rate, ETA) on a terminal, a summary at the end;
# nothing but the summary off a terminal, nothing at all with --quiet (errors aside).
. "$(dirname "$0")/lib.sh"

# script(1) gives the command a terminal; its output is the terminal's
tty_run() { # OUTFILE COMMAND...
	local out=$1
	shift
	script -qfec "$(printf '%q ' "$@")" /dev/null > "$out" 2>&1
}

tty_run "$T/demo.tty" "$BIN" demo --store "sqlite:$T/d.db" --devices 3000 --days 30
check "demo on a terminal exits 0" [ $? -eq 0 ]
check "demo draws a progress line (count/total, rate)" \
	grep -qaE $'\r\e\\[Kdemo: [0-9]+/[0-9]+ events \\([0-9]+%\\), [0-9]+/s' "$T/demo.tty"
check "demo's progress shows an ETA" grep -qaE 'ETA [0-9]+:[0-9]{2}' "$T/demo.tty"
check "demo ends with a summary" grep -qaE 'info: demo fleet: 3000 devices, 30 days, [0-9]+ events in' "$T/demo.tty"

"$BIN" demo --store "sqlite:$T/d2.db" --devices 50 --days 5 > "$T/demo.out" 2> "$T/demo.err"
check "off a terminal: no progress line" bash -c "! grep -qa $'\r' '$T/demo.err'"
check "off a terminal: the summary alone" \
	bash -c "[ \$(wc -l < '$T/demo.err') -eq 1 ] && grep -q 'demo fleet: 50 devices' '$T/demo.err'"
tty_run "$T/demoq.tty" "$BIN" demo --store "sqlite:$T/d3.db" --devices 50 --days 5 --quiet
check "--quiet on a terminal: silent" [ ! -s "$T/demoq.tty" ]

for i in $(seq 3000); do
	printf '{"device_id":"p%d","event_type":"SYS_107","date_time":"2026-01-01T00:00:00Z"}\n' "$i"
done > "$T/ev.ndjson"
tty_run "$T/imp.tty" "$BIN" import --store "sqlite:$T/i.db" --account A "$T/ev.ndjson"
check "import on a terminal exits 0" [ $? -eq 0 ]
check "import draws a progress line" \
	grep -qaE $'\r\e\\[Kimport: [0-9]+/[0-9]+ bytes \\([0-9]+%\\), [0-9]+/s' "$T/imp.tty"
check "import ends with a summary" \
	grep -qaE 'accepted 3000 \(0 already present\), rejected 0 in [0-9.]+ s' "$T/imp.tty"
"$BIN" import --store "sqlite:$T/i.db" --account A --quiet "$T/ev.ndjson" 2> "$T/impq.err"
check "import --quiet: silent when all is well" [ ! -s "$T/impq.err" ]
printf '{"device_id":"x"}\n' | "$BIN" import --store "sqlite:$T/i.db" --account A --quiet - \
	2> "$T/impr.err"
check "import --quiet with a rejected line: exit 3" [ $? -eq 3 ]
check "and the rejection is still reported" has "$T/impr.err" "^warning: line 1: event_type"
finish
