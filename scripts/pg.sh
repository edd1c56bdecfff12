#!/bin/sh
# A throwaway PostgreSQL cluster for tests.
#   pg.sh start DIR   initialise a cluster in DIR (created if missing), start it listening only on
#                     a Unix socket in DIR, create database devicelog, print its store URL
#   pg.sh stop DIR    stop the cluster and remove DIR
# PostgreSQL refuses to run as root, so under root (CI) the server runs as the `postgres` system
# user (the Debian package creates it); otherwise as the caller. Trust authentication is safe
# here only because nothing but the socket in DIR listens.
set -eu
cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
	echo "usage: pg.sh start|stop DIR" >&2
	exit 2
fi
bin=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1)")
if [ ! -x "$bin/initdb" ]; then
	echo "pg.sh: no PostgreSQL server found under /usr/lib/postgresql (apt-get install postgresql)" >&2
	exit 1
fi
# Any port number works with a socket-only server: it only names the socket file.
port=5432

if [ "$(id -u)" -eq 0 ]; then
	as() { runuser -u postgres -- "$@"; }
	user=postgres
else
	as() { "$@"; }
	user=$(id -un)
fi

case "$cmd" in
start)
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	[ "$(id -u)" -eq 0 ] && chown postgres "$dir"
	# the socket lives in DIR: clients of any user must be able to reach it
	chmod 755 "$dir"
	as "$bin/initdb" -D "$dir/data" -U "$user" --auth=trust --encoding=UTF8 --locale=C -N \
		>"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
	if ! as "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
		-o "-c listen_addresses='' -c unix_socket_directories='$dir' -p $port" \
		start >/dev/null; then
		cat "$dir/server.log" >&2
		exit 1
	fi
	as "$bin/psql" -X -q -h "$dir" -p "$port" -U "$user" -d postgres \
		-c "CREATE DATABASE devicelog" >/dev/null
	echo "postgresql:///devicelog?host=$dir&port=$port&user=$user"
	;;
stop)
	[ -d "$dir" ] || exit 0
	dir=$(cd "$dir" && pwd)
	if [ -f "$dir/data/postmaster.pid" ]; then
		as "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
	fi
	rm -rf "$dir"
	;;
*)
	echo "usage: pg.sh start|stop DIR" >&2
	exit 2
	;;
esac
