#!/bin/bash
# devicelog(8): generated from man/devicelog.8.in and the option table, committed up to date,
# renders without groff warnings, and covers every command, option and setting.
. "$(dirname "$0")/lib.sh"

scripts/man.sh "$BIN" > "$T/devicelog.8"
check "man/devicelog.8 is up to date (run make man)" cmp -s "$T/devicelog.8" man/devicelog.8
LC_ALL=C.UTF-8 MANWIDTH=100 man --warnings -l man/devicelog.8 > "$T/man.txt" 2> "$T/man.err"
check "renders" [ -s "$T/man.txt" ]
check "renders without groff warnings" [ ! -s "$T/man.err" ]
for sect in NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS CONFIGURATION ENVIRONMENT \
	"STORE URLS" SIGNALS LOGGING FILES "EXIT STATUS"; do
	check "has section $sect" has "$T/man.txt" "^$sect\$"
done
for cmd in serve config keys import demo; do
	check "documents the command $cmd" has "$T/man.txt" "^ +devicelog +$cmd "
	"$BIN" "$cmd" --help | grep -Eo -- '^  --[a-z-]+' | sed 's/^ *//' > "$T/opts"
	while read -r o; do
		check "documents $cmd's option $o" has "$T/man.txt" "^ +$o( |$)"
	done < "$T/opts"
done
for v in CONFIG LISTEN STORE THREADS TLS_CERT TLS_KEY QUIET TRUST_PROXY; do
	check "documents DEVICELOG_$v" has "$T/man.txt" "DEVICELOG_$v"
done
for s in sqlite:PATH "postgresql://" SIGHUP SIGTERM /etc/devicelog/devicelog.conf \
	/var/lib/devicelog; do
	check "mentions $s" grep -qF -- "$s" "$T/man.txt"
done
finish
