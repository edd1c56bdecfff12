#!/bin/bash
# Replays every regression input, then fuzzes each target for SECONDS against its committed
# corpus. Usage: tests/fuzz/run.sh SECONDS (after `make fuzz-build`). New inputs go to
# build-fuzz/corpus/NAME (the committed corpus is only read); a crash leaves its input in
# build-fuzz/crashes/NAME/ and fails the run: make it a named file in tests/fuzz/regressions/NAME/.
set -u
cd "$(dirname "$0")/../.."
secs=${1:-25}
fail=0
export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# per target: the longest input worth trying (a query string, a body of a few events, a date, an id)
declare -A maxlen=([query]=8192 [ingest]=16384 [date]=64 [cursor]=64)
for bin in build-fuzz/fuzz_*; do
	name=${bin#build-fuzz/fuzz_}
	regs=(tests/fuzz/regressions/"$name"/*)
	inputs=()
	for f in "${regs[@]}"; do [ -f "$f" ] && inputs+=("$f"); done
	if [ ${#inputs[@]} -gt 0 ]; then
		if ! "$bin" -runs=1 "${inputs[@]}" >build-fuzz/"$name".replay.log 2>&1; then
			echo "fuzz $name: a regression input fails again:"
			tail -30 build-fuzz/"$name".replay.log
			fail=1
			continue
		fi
	fi
	work=build-fuzz/corpus/$name crashes=build-fuzz/crashes/$name
	mkdir -p "$work" "$crashes"
	if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="${maxlen[$name]:-4096}" \
		-artifact_prefix="$crashes/" -print_final_stats=1 "$work" tests/fuzz/corpus/"$name" \
		>build-fuzz/"$name".log 2>&1; then
		runs=$(grep -a -o 'stat::number_of_executed_units: *[0-9]*' build-fuzz/"$name".log | grep -o '[0-9]*$')
		cov=$(grep -a -o 'cov: [0-9]*' build-fuzz/"$name".log | tail -1)
		echo "fuzz $name: ok, ${runs:-?} runs in ${secs}s, ${#inputs[@]} regressions replayed, $cov"
	else
		echo "fuzz $name: FAILED (input in $crashes/):"
		grep -a -A25 'ERROR\|==ERROR\|runtime error\|deadly signal' build-fuzz/"$name".log | head -40
		fail=1
	fi
done
exit $fail
