#!/bin/bash
# The configuration: file, environment and flags in that precedence; errors that name the file
# and line; `config check` and `config example`; the generated example file is up to date.
. "$(dirname "$0")/lib.sh"

cfg=$T/devicelog.conf
cat > "$cfg" <<CONF
# a comment
listen = 127.0.0.1:0
store = sqlite:$T/file.db
threads = 2
quiet = yes
CONF

# file only
"$BIN" config check --config "$cfg" > "$T/c1" 2> "$T/c1.err"
check "config check exits 0 on a valid file" [ $? -eq 0 ]
check "file values and their lines are shown" has "$T/c1" "^threads = 2 +# $cfg:4$"
check "defaults are marked" has "$T/c1" "^trust-proxy = false +# default$"
check "bools accept yes" has "$T/c1" "^quiet = true +# $cfg:5$"

# env over file, flag over env
DEVICELOG_THREADS=5 "$BIN" config check --config "$cfg" > "$T/c2" 2>&1
check "environment wins over the file" has "$T/c2" '^threads = 5 +# \$DEVICELOG_THREADS$'
DEVICELOG_THREADS=5 "$BIN" config check --config "$cfg" --threads 7 --no-quiet > "$T/c3" 2>&1
check "a flag wins over the environment" has "$T/c3" '^threads = 7 +# --threads$'
check "--no-quiet turns a file's quiet off" has "$T/c3" '^quiet = false +# --quiet$'
DEVICELOG_CONFIG=$cfg "$BIN" config check > "$T/c4" 2>&1
check "DEVICELOG_CONFIG names the file" has "$T/c4" "^threads = 2 +# $cfg:4$"

# the precedence holds in serve itself: the file says quiet, the env says listen
DEVICELOG_LISTEN=127.0.0.1:0 start_serve s1 --config "$cfg" --store "sqlite:$T/flag.db"
check "serve starts from a config file" [ -n "$PORT" ]
check "serve logs the config file it read" has "$T/s1.err" "config=$cfg"
curl -s -o /dev/null "http://127.0.0.1:$PORT/v3/device-events/"
sleep 0.2
check "quiet from the file: no request lines" bash -c "! grep -q request_id= '$T/s1.err'"
check "store from the flag, not the file" test -f "$T/flag.db" -a ! -f "$T/file.db"
stop "$PID"

# errors name the file and the line, and exit 2
bad() { # DESCRIPTION CONTENT REGEX
	printf '%b' "$2" > "$T/bad.conf"
	"$BIN" config check --config "$T/bad.conf" > /dev/null 2> "$T/bad.err"
	local rc=$?
	check "$1: exit 2" [ $rc -eq 2 ]
	check "$1: message names file:line" has "$T/bad.err" "$3"
}
bad "out of bounds" 'listen = 127.0.0.1:0\n\nthreads = 99\n' "^error: $T/bad.conf:3: threads must be a whole number from 0 to 16"
bad "unknown key" '# x\nlisten = 1.2.3.4:5\nlisten-port = 8\n' "^error: $T/bad.conf:3: unknown setting 'listen-port'"
bad "no equals sign" 'quiet\n' "^error: $T/bad.conf:1: expected 'name = value'"
bad "duplicate" 'quiet = 1\nquiet = 0\n' "^error: $T/bad.conf:2: quiet is already set on line 1"
bad "bad bool" 'trust_proxy = maybe\n' "^error: $T/bad.conf:1: trust-proxy must be true or false"
bad "bad listen" 'listen = nowhere\n' "^error: listen 'nowhere': expected IPV4:PORT"
bad "tls pair" 'tls-cert = /etc/hostname\n' "^error: tls-cert and tls-key go together"
bad "unreadable cert" "tls-cert = $T/none.pem\ntls-key = $T/none.key\n" "^error: tls-cert $T/none.pem: No such file"

DEVICELOG_THREADS=x "$BIN" config check --config "$cfg" > /dev/null 2> "$T/e.err"
check "a bad environment value: exit 2" [ $? -eq 2 ]
check "a bad environment value names the variable" has "$T/e.err" '^error: \$DEVICELOG_THREADS: threads must'
"$BIN" serve --config "$T/missing.conf" > /dev/null 2> "$T/m.err"
check "serve with a missing --config file exits 2" [ $? -eq 2 ]
check "and says which file" has "$T/m.err" "$T/missing.conf: cannot read"
printf 'threads = 99\n' > "$T/bad.conf"
"$BIN" serve --config "$T/bad.conf" --listen 127.0.0.1:0 > /dev/null 2> "$T/b.err"
check "serve refuses an invalid file (exit 2)" [ $? -eq 2 ]

# other commands take the store from the file
printf 'store = sqlite:%s/keys.db\n' "$T" > "$T/k.conf"
"$BIN" keys create --config "$T/k.conf" --account a --scope read > /dev/null 2>&1
check "keys uses the file's store" test -f "$T/keys.db"

# the example file: generated from the table, every setting present, up to date in the repo
"$BIN" config example > "$T/example.conf"
for s in listen store threads tls-cert tls-key quiet trust-proxy; do
	check "example documents $s" has "$T/example.conf" "^#$s = "
done
"$BIN" config check --config "$T/example.conf" > /dev/null 2>&1
check "the example is itself a valid configuration" [ $? -eq 0 ]
"$BIN" config example --store sqlite:/var/lib/devicelog/devicelog.db > "$T/dist.conf"
check "dist/devicelog.conf is up to date (make man)" cmp -s "$T/dist.conf" dist/devicelog.conf
"$BIN" serve --help > "$T/help"
for s in listen store threads tls-cert tls-key quiet trust-proxy; do
	check "serve --help names $s and its variable" has "$T/help" \
		"DEVICELOG_$(echo $s | tr a-z- A-Z_)"
done
finish
