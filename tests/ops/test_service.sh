#!/bin/bash
# The service side: readiness notification (sd_notify), log line prefixes for the journal,
# SIGHUP reload of the configuration and of the TLS pair without dropping connections, stop.
. "$(dirname "$0")/lib.sh"
PY=$(command -v /usr/bin/python3 || command -v python3)

# ---- sd_notify: a datagram socket like systemd's, recording what arrives ----
"$PY" - "$T/notify.sock" "$T/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        m = s.recv(4096).decode()
        f.write(m.replace("\n", " ") + "\n")
        if "STOPPING=1" in m:
            break
PY
PIDS="$PIDS $!"
for i in $(seq 100); do [ -S "$T/notify.sock" ] && break; sleep 0.05; done

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/a.key" -out "$T/a.crt" -days 2 \
	-subj "/CN=cert-a" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/b.key" -out "$T/b.crt" -days 2 \
	-subj "/CN=cert-b" 2>/dev/null
cp "$T/a.crt" "$T/tls.crt"
cp "$T/a.key" "$T/tls.key"
cat > "$T/d.conf" <<CONF
listen = 127.0.0.1:0
store = sqlite:$T/s.db
threads = 2
tls-cert = $T/tls.crt
tls-key = $T/tls.key
CONF
rkey=$("$BIN" keys create --store "sqlite:$T/s.db" --account A --scope read 2>/dev/null)
wkey=$("$BIN" keys create --store "sqlite:$T/s.db" --account A --scope write 2>/dev/null)

NOTIFY_SOCKET=$T/notify.sock start_serve d --config "$T/d.conf"
SPID=$PID
base=https://127.0.0.1:$PORT
sleep 0.2
check "READY=1 arrives once it listens" has "$T/notify.log" "^READY=1 STATUS=serving on port $PORT MAINPID=$SPID"
subject() { curl -skv "$base/" -o /dev/null 2>&1 | grep -Eo 'subject: CN=cert-[ab]' | head -1; }
check "serves the first certificate" [ "$(subject)" = "subject: CN=cert-a" ]

# a live stream opened before the reload: it must survive it
curl -skN -H "Authorization: Bearer $rkey" "$base/v3/device-events/stream" > "$T/stream.out" 2>&1 &
CPID=$!
PIDS="$PIDS $CPID"
sleep 0.5
check "the stream is open" has "$T/stream.out" "devicelog stream"

# requests running all through the reloads: none may fail
( for i in $(seq 150); do curl -sk -o /dev/null -w '%{http_code}\n' "$base/"; done ) > "$T/codes" &
LPID=$!
cp "$T/b.crt" "$T/tls.crt"
cp "$T/b.key" "$T/tls.key"
for i in 1 2 3 4 5; do kill -HUP "$SPID"; sleep 0.15; done
wait "$LPID"
check "150 requests during 5 reloads all answered 200" \
	[ "$(grep -c '^200$' "$T/codes")" -eq 150 ]
check "new connections get the new certificate" [ "$(subject)" = "subject: CN=cert-b" ]
check "reload is logged" has "$T/d.err" "reload: serving the certificate of $T/tls.crt"
check "RELOADING=1 then READY=1 sent to systemd" \
	bash -c "grep -A1 '^RELOADING=1' '$T/notify.log' | grep -q '^READY=1'"
check "the stream opened before the reloads is still open" kill -0 "$CPID"
curl -sk -H "Authorization: Bearer $wkey" -H 'Content-Type: application/json' \
	-d '{"device_id":"after-reload","event_type":"SYS_106"}' "$base/v3/device-events/" \
	-o /dev/null
sleep 1
check "and still delivers events" has "$T/stream.out" '"device_id":"after-reload"'

# an invalid configuration changes nothing
printf 'quiet = sometimes\n' >> "$T/d.conf"
kill -HUP "$SPID"
sleep 0.3
check "an invalid file on reload is reported with its line" \
	has "$T/d.err" "^error: $T/d.conf:6: quiet must be true or false"
check "and the server keeps serving" [ "$(curl -sk -o /dev/null -w '%{http_code}' "$base/")" = 200 ]
# a bad certificate changes nothing either
sed -i '$d' "$T/d.conf"
echo garbage > "$T/tls.crt"
kill -HUP "$SPID"
sleep 0.3
check "an unusable certificate is reported" has "$T/d.err" \
	"^error: reload: --tls-cert: not a PEM certificate.*still serving the previous"
check "and the previous one is still served" [ "$(subject)" = "subject: CN=cert-b" ]
# settings a running server cannot change are reported as such
sed -i 's/^threads = 2$/threads = 3/' "$T/d.conf"
cp "$T/a.crt" "$T/tls.crt"
cp "$T/a.key" "$T/tls.key"
kill -HUP "$SPID"
sleep 0.3
check "a restart-only change is a warning" has "$T/d.err" \
	"^warning: reload: threads changed: it takes effect at the next restart"
check "the rest of that reload applies" [ "$(subject)" = "subject: CN=cert-a" ]
check "one line per request with its request id" \
	has "$T/d.err" "^info: request_id=[0-9a-f]{32} client=127.0.0.1 method=GET path=/ status=200"

stop "$SPID"
check "SIGTERM with reloaded daemons and an open stream: exit 0" [ $? -eq 0 ]
sleep 0.2
check "STOPPING=1 sent" has "$T/notify.log" "^STOPPING=1"
check "the stream ended with the server" bash -c "! kill -0 $CPID 2>/dev/null"

# ---- log prefixes: sd-daemon priorities only when stderr is the journal ----
touch "$T/j.err"
JOURNAL_STREAM=$(stat -c '%d:%i' "$T/j.err") "$BIN" serve --listen 127.0.0.1:0 \
	--store "sqlite:$T/j.db" --threads 1 >/dev/null 2>> "$T/j.err" &
JPID=$!
PIDS="$PIDS $JPID"
sleep 0.5
stop "$JPID"
check "journal stream: info lines start with <6>" has "$T/j.err" "^<6>devicelog .* listening on"
check "journal stream: no plain prefixes" bash -c "! grep -q '^info: ' '$T/j.err'"
JOURNAL_STREAM=1:1 "$BIN" config check --config "$T/nope.conf" 2> "$T/j2.err"
check "JOURNAL_STREAM of another file: plain prefixes" has "$T/j2.err" "^error: "
touch "$T/j3.err"
JOURNAL_STREAM=$(stat -c '%d:%i' "$T/j3.err") "$BIN" config check --config "$T/nope.conf" \
	2>> "$T/j3.err"
check "journal stream: errors start with <3>" has "$T/j3.err" "^<3>$T/nope.conf: cannot read"
finish
