#!/bin/bash
# make install / uninstall with PREFIX and DESTDIR; the installed unit passes
# systemd-analyze verify.
. "$(dirname "$0")/lib.sh"

d=$T/stage
make -s install DESTDIR="$d" PREFIX=/usr > "$T/install.log" 2>&1
check "make install PREFIX=/usr DESTDIR=... succeeds" [ $? -eq 0 ]
for f in usr/bin/devicelog usr/share/man/man8/devicelog.8 \
	usr/share/doc/devicelog/devicelog.conf.example usr/share/doc/devicelog/openapi.json \
	usr/share/doc/devicelog/OPERATIONS.md usr/lib/systemd/system/devicelog.service \
	etc/devicelog/devicelog.conf; do
	check "installs /$f" test -f "$d/$f"
done
check "the binary is executable and runs" bash -c "'$d/usr/bin/devicelog' --version > /dev/null"
check "the unit runs the installed binary" \
	has "$d/usr/lib/systemd/system/devicelog.service" "^ExecStart=/usr/bin/devicelog serve "
check "no placeholder left in the unit" bash -c "! grep -q @BINDIR@ '$d/usr/lib/systemd/system/devicelog.service'"
u=$d/usr/lib/systemd/system/devicelog.service
for k in Type=notify User=devicelog ProtectSystem=strict PrivateTmp=yes NoNewPrivileges=yes \
	StateDirectory=devicelog "ExecReload=/bin/kill -HUP"; do
	check "unit has $k" grep -qF -- "$k" "$u"
done
check "the installed configuration is valid" bash -c \
	"'$d/usr/bin/devicelog' config check --config '$d/etc/devicelog/devicelog.conf' > /dev/null 2>&1"

if command -v systemd-analyze > /dev/null; then
	# verify resolves ExecStart= against the real root: point it at the staged binary
	sed "s,^ExecStart=/usr/bin/devicelog,ExecStart=$d/usr/bin/devicelog," "$u" \
		> "$T/devicelog.service"
	SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$T/devicelog.service" > "$T/verify" 2>&1
	check "systemd-analyze verify accepts the unit" [ $? -eq 0 ]
	# its messages about other units (the host's) do not count; about ours they do
	check "systemd-analyze has nothing to say about it" \
		bash -c "! grep -i 'devicelog.service' '$T/verify'"
	systemd-analyze security --offline=true "$T/devicelog.service" > "$T/sec" 2>&1 || true
	score=$(grep -Eo 'Overall exposure level for devicelog.service: [0-9.]+' "$T/sec" |
		grep -Eo '[0-9.]+$')
	check "systemd-analyze security: exposure below 3 (got ${score:-none})" \
		awk -v s="${score:-99}" 'BEGIN { exit !(s < 3) }'
else
	echo "skip - systemd-analyze not installed"
fi

# an operator's configuration survives install and uninstall
echo "# mine" >> "$d/etc/devicelog/devicelog.conf"
make -s install DESTDIR="$d" PREFIX=/usr > /dev/null 2>&1
check "install keeps an edited configuration" has "$d/etc/devicelog/devicelog.conf" "^# mine$"
make -s uninstall DESTDIR="$d" PREFIX=/usr > /dev/null 2>&1
check "make uninstall succeeds" [ $? -eq 0 ]
check "uninstall removes the files" bash -c "[ -z \"\$(find '$d' -type f ! -path '*/etc/*')\" ]"
check "uninstall keeps an edited configuration" test -f "$d/etc/devicelog/devicelog.conf"
rm -f "$d/etc/devicelog/devicelog.conf"

# the default PREFIX and an unedited configuration
d2=$T/stage2
make -s install DESTDIR="$d2" > /dev/null 2>&1
check "default PREFIX is /usr/local" test -x "$d2/usr/local/bin/devicelog"
check "its unit runs /usr/local/bin/devicelog" \
	has "$d2/usr/local/lib/systemd/system/devicelog.service" "^ExecStart=/usr/local/bin/devicelog "
make -s uninstall DESTDIR="$d2" > /dev/null 2>&1
check "uninstall removes everything, unedited configuration included" \
	bash -c "[ -z \"\$(find '$d2' -type f)\" ]"
finish
