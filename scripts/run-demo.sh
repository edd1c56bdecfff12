#!/bin/sh
# `make run`: a demo fleet in build/demo.db (made once), a fresh admin key, and the server.
set -eu
bin=${1:-build/devicelog}
db=${DEVICELOG_DEMO_DB:-build/demo.db}
listen=${DEVICELOG_LISTEN:-127.0.0.1:8080}
if [ ! -f "$db" ]; then
	"$bin" demo --store "sqlite:$db" --devices 2000 --days 60
fi
key=$("$bin" keys create --store "sqlite:$db" --account default --scope admin --name "make run" 2>/dev/null)
cat <<MSG

  devicelog is starting with a demo fleet ($db).
  Portal:     http://$listen/
  Access key: $key
  Try:        curl -X GET http://$listen/v3/device-events -H "Authorization: Bearer $key"

  Stop with Ctrl-C.

MSG
exec "$bin" serve --store "sqlite:$db" --listen "$listen"
