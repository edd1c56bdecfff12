#!/bin/sh
# Installs the Debian packages devicelog needs, when one is missing.
#   deps.sh build   what `make` needs
#   deps.sh test    plus what `make test` needs
set -eu
build="build-essential pkg-config libmicrohttpd-dev libjansson-dev libsqlite3-dev libgnutls28-dev zlib1g-dev libpq-dev libsystemd-dev"
test_pkgs="libcmocka-dev curl bc nodejs npm clang libclang-rt-14-dev postgresql sqlite3 gnutls-bin chromium devscripts debhelper"
want="$build"
[ "${1:-build}" = test ] && want="$build $test_pkgs"
missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
# node and npm may come from elsewhere than Debian: then they are not missing
for tool in nodejs:node npm:npm; do
	pkg=${tool%%:*} cmd=${tool##*:}
	case "$missing" in *" $pkg"*) command -v "$cmd" >/dev/null 2>&1 && missing=$(echo "$missing" | sed "s/ $pkg\b//") ;; esac
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
