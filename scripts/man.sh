#!/bin/sh
# Writes devicelog(8) to stdout: man/devicelog.8.in with its @GENERATED@ line replaced by the
# sections the binary prints from its option table (devicelog --help-man), @VERSION@ by its
# version. `make man` keeps man/devicelog.8 up to date; tests/ops/test_man.sh checks it is.
set -eu
bin=${1:-build/devicelog}
dir=$(dirname "$0")/..
version=$("$bin" --version | sed 's/^devicelog //')
gen=$(mktemp)
trap 'rm -f "$gen"' EXIT
"$bin" --help-man > "$gen"
while IFS= read -r line; do
	if [ "$line" = "@GENERATED@" ]; then
		cat "$gen"
	else
		printf '%s\n' "$line" | sed "s/@VERSION@/$version/g"
	fi
done < "$dir/man/devicelog.8.in"
