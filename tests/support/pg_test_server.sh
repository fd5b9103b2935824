#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests: loopback TCP only, in a directory of its own.
#   pg_test_server.sh start DIR   initdb + start; prints the connection URL (also in DIR/url);
#                                 prints nothing when PostgreSQL is not installed
#   pg_test_server.sh stop DIR    fast shutdown and delete DIR
#   pg_test_server.sh bin         prints the server binaries' directory, or fails if not installed
# Root may not run the server: as root it runs as the 'postgres' user the Debian package creates.
set -euo pipefail

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] || { echo "PostgreSQL server binaries not found" >&2; return 1; }
  echo "$dir"
}

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cmd=${1:?usage: pg_test_server.sh start|stop|bin [DIR]}
case "$cmd" in
  bin) pg_bin ;;
  start)
    dir=${2:?DIR}
    # Without the server the store tests skip visibly (GTEST_SKIP), so this is not an error here.
    bin=$(pg_bin) || { echo "pg_test_server: not started (install postgresql)" >&2; exit 0; }
    "$0" stop "$dir"  # what a killed earlier run left behind
    mkdir -p "$dir"
    # The cluster lives where its owner can reach it: as root, the 'postgres' user cannot enter a
    # checkout under a private directory (/root, a mktemp -d), so it gets a directory in /tmp.
    cluster="$dir"
    if [ "$(id -u)" -eq 0 ]; then
      cluster=$(mktemp -d /tmp/chalkbot-pg.XXXXXX)
      chown postgres: "$cluster"
    fi
    echo "$cluster" >"$dir/cluster"
    chmod 700 "$cluster"
    # Trust is safe here: the server listens on 127.0.0.1 only and lives as long as the test.
    as_owner "$bin/initdb" -D "$cluster/data" -U chalkbot --auth=trust -E UTF8 --no-locale \
      --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    for attempt in 1 2 3; do
      port=$(free_port)
      if as_owner "$bin/pg_ctl" -D "$cluster/data" -l "$cluster/server.log" -w -t 30 start \
          -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='' -c max_connections=60" \
          >/dev/null; then
        break
      fi
      [ "$attempt" = 3 ] && { cat "$cluster/server.log" >&2; exit 1; }
    done
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U chalkbot chalkbot
    url="postgresql://chalkbot@127.0.0.1:$port/chalkbot"
    echo "$url" >"$dir/url"
    echo "$url"
    ;;
  stop)
    dir=${2:?DIR}
    cluster=$(cat "$dir/cluster" 2>/dev/null || true)
    if [ -n "$cluster" ] && [ -d "$cluster/data" ]; then
      as_owner "$(pg_bin)/pg_ctl" -D "$cluster/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    [ -n "$cluster" ] && [ "$cluster" != "$dir" ] && rm -rf "$cluster"
    rm -rf "$dir"
    ;;
  *) echo "usage: pg_test_server.sh start|stop|bin [DIR]" >&2; exit 2 ;;
esac
