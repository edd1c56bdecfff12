#!/bin/bash
# The Debian package: built with dpkg-buildpackage from a copy of the tree, installed with apt,
# checked (user, state directory, files, ${shlibs:Depends}, the unit), started as the service
# would start it and queried, then purged; the machine is left as it was, also on failure.
. "$(dirname "$0")/lib.sh"

if ! command -v dpkg-buildpackage > /dev/null || ! command -v dh > /dev/null; then
	echo "skip - dpkg-buildpackage/debhelper not installed (scripts/deps.sh test installs them)"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "skip - installing a package needs root"
	exit 0
fi
if dpkg-query -W -f='${Status}' devicelog 2>/dev/null | grep -q installed ||
	getent passwd devicelog > /dev/null || [ -e /var/lib/devicelog ] || [ -e /etc/devicelog ]; then
	echo "skip - devicelog is already installed here: this test would change that"
	exit 0
fi

purge() {
	[ -n "${SPID:-}" ] && kill "$SPID" 2>/dev/null
	dpkg --purge devicelog > /dev/null 2>&1
	cleanup_lib
}
trap purge EXIT

# a copy: the build must not touch the shared tree (dh_auto_clean, debian/ output, ../*.deb)
src=$T/devicelog-0.1.0
mkdir -p "$src"
cp -a Makefile src scripts man dist debian docs web "$src"/
rm -rf "$src/debian/devicelog" "$src/debian/.debhelper" "$src/debian/files"
(cd "$src" && dpkg-buildpackage -us -uc -b -j"$(nproc)") > "$T/build.log" 2>&1
check "dpkg-buildpackage builds the package" [ $? -eq 0 ] || tail -30 "$T/build.log"
deb=$(ls "$T"/devicelog_*.deb 2>/dev/null | head -1)
check "a .deb was made" [ -n "$deb" ]
[ -n "$deb" ] || finish || exit 1

dpkg-deb -f "$deb" Depends > "$T/depends"
for lib in libmicrohttpd12 libjansson4 libsqlite3-0 libgnutls30 libsystemd0 adduser; do
	check "Depends names $lib (from \${shlibs:Depends})" has "$T/depends" "(^|, )$lib( |,|$)"
done
dpkg-deb -c "$deb" > "$T/contents"
for f in ./usr/bin/devicelog ./usr/share/man/man8/devicelog.8.gz ./etc/devicelog/devicelog.conf \
	./lib/systemd/system/devicelog.service; do
	check "contains $f" has "$T/contents" " $f\$"
done
dpkg-deb -e "$deb" "$T/control"
check "the configuration is a conffile" has "$T/control/conffiles" "^/etc/devicelog/devicelog.conf$"

DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$deb" \
	> "$T/install.log" 2>&1
check "installs with apt-get" [ $? -eq 0 ] || tail -20 "$T/install.log"
check "creates the system user devicelog" bash -c \
	"[ \$(getent passwd devicelog | cut -d: -f3) -lt 1000 ]"
check "creates /var/lib/devicelog owned by devicelog" \
	[ "$(stat -c '%U %a' /var/lib/devicelog 2>/dev/null)" = "devicelog 750" ]
check "installs the binary" bash -c "/usr/bin/devicelog --version > /dev/null"
check "its configuration is valid" bash -c \
	"/usr/bin/devicelog config check > /dev/null 2>&1"
if command -v systemd-analyze > /dev/null; then
	check "systemd-analyze verify accepts the installed unit" \
		systemd-analyze verify /lib/systemd/system/devicelog.service
fi

# start it as the unit does: as devicelog, in its state directory, with the packaged config
# (only the port differs: a free one)
cd /var/lib/devicelog
runuser -u devicelog -- env DEVICELOG_LISTEN=127.0.0.1:0 /usr/bin/devicelog serve \
	--config /etc/devicelog/devicelog.conf > "$T/serve.out" 2> "$T/serve.err" &
SPID=$!
cd - > /dev/null
PORT=""
for i in $(seq 200); do
	PORT=$(grep -Eo 'listening on http://127.0.0.1:[0-9]+' "$T/serve.err" 2>/dev/null | grep -Eo '[0-9]+$')
	[ -n "$PORT" ] && break
	sleep 0.05
done
check "the service starts" [ -n "$PORT" ] || cat "$T/serve.err"
key=$(grep -Eo 'ak_[^ ]+' "$T/serve.out")
code=$(curl -s -o "$T/post" -w '%{http_code}' -H "Authorization: Bearer $key" \
	-H 'Content-Type: application/json' -d '{"device_id":"deb-1","event_type":"SYS_106"}' \
	"http://127.0.0.1:$PORT/v3/device-events/")
check "it ingests an event (201)" [ "$code" = 201 ]
curl -s -H "Authorization: Bearer $key" "http://127.0.0.1:$PORT/v3/device-events/?device_id=deb-1" \
	> "$T/list"
check "and lists it" has "$T/list" '"device_id":"deb-1"'
check "the store is in /var/lib/devicelog, owned by devicelog" \
	[ "$(stat -c %U /var/lib/devicelog/devicelog.db 2>/dev/null)" = devicelog ]
# runuser waits for devicelog and exits with its status: signal devicelog itself
kill -TERM "$(pgrep -P "$SPID" -x devicelog)"
wait "$SPID"
check "it stops with exit 0" [ $? -eq 0 ]
SPID=""

dpkg --purge devicelog > "$T/purge.log" 2>&1
check "purges" [ $? -eq 0 ]
check "purge removes the user" bash -c "! getent passwd devicelog > /dev/null"
check "purge removes the group" bash -c "! getent group devicelog > /dev/null"
check "purge removes /var/lib/devicelog and /etc/devicelog" \
	bash -c "[ ! -e /var/lib/devicelog ] && [ ! -e /etc/devicelog ]"
check "purge removes the binary and the unit" \
	bash -c "[ ! -e /usr/bin/devicelog ] && [ ! -e /lib/systemd/system/devicelog.service ]"
check "no enablement link is left" \
	bash -c "[ -z \"\$(find /etc/systemd -name 'devicelog*' 2>/dev/null)\" ]"
finish
