#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for the tests (PEERS.md §6.3), on a free loopback port.
#   scripts/pg-test.sh start   prints the URL (postgres://postgres:secret@127.0.0.1:PORT/qonyrau)
#   scripts/pg-test.sh stop    stops it and removes its directory
#   scripts/pg-test.sh pause   stops the server, keeping its data (fault tests)
#   scripts/pg-test.sh resume  starts it again on the same port
# State is kept in $QONYRAU_PG_STATE (default /tmp/qonyrau-pg-test); scripts/test.sh gives
# each run a directory of its own.
set -euo pipefail
state=${QONYRAU_PG_STATE:-/tmp/qonyrau-pg-test}
bin=/usr/lib/postgresql/15/bin
case ${1:-} in
  start)
    [ -x "$bin/initdb" ] || { echo "PostgreSQL 15 is not installed (apt-get install postgresql)" >&2; exit 1; }
    if [ -f "$state/url" ] && runuser -u postgres -- "$bin/pg_ctl" -D "$state/data" status >/dev/null 2>&1; then
      cat "$state/url"; exit 0
    fi
    rm -rf "$state"; mkdir -p "$state"; chown postgres: "$state"
    echo secret > "$state/pw"; chown postgres "$state/pw"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    runuser -u postgres -- "$bin/initdb" -D "$state/data" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 --pwfile="$state/pw" >/dev/null
    echo "$port" > "$state/port"
    "$0" resume
    PGPASSWORD=secret psql -q "postgresql://postgres@127.0.0.1:$port/postgres" -c 'create database qonyrau' >/dev/null
    echo "postgres://postgres:secret@127.0.0.1:$port/qonyrau" | tee "$state/url"
    ;;
  resume)
    port=$(cat "$state/port")
    runuser -u postgres -- "$bin/pg_ctl" -D "$state/data" -l "$state/pg.log" -w -t 30 \
      -o "-p $port -k $state -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start >/dev/null
    ;;
  pause)
    runuser -u postgres -- "$bin/pg_ctl" -D "$state/data" -m fast -w stop >/dev/null
    ;;
  stop)
    [ -d "$state/data" ] && runuser -u postgres -- "$bin/pg_ctl" -D "$state/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$state"
    ;;
  *) echo "usage: $0 start|stop|pause|resume" >&2; exit 2;;
esac
