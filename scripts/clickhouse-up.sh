#!/usr/bin/env bash
# Start a test ClickHouse (Debian's clickhouse-server 18.16) on 127.0.0.1, installing it if missing.
# Idempotent: a server that already answers on the port is reused.
# Env: CLICKHOUSE_PORT (native, default 19000), CLICKHOUSE_HTTP_PORT (19123), LEADPIPE_RUN (see lib.sh).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

port=${CLICKHOUSE_PORT:-19000}
http_port=${CLICKHOUSE_HTTP_PORT:-19123}
dir=$LEADPIPE_RUN/clickhouse

lock clickhouse
if ! command -v clickhouse-server >/dev/null || ! command -v clickhouse-client >/dev/null; then
  apt_install clickhouse-server clickhouse-client
fi

if ch_ready "$port" >/dev/null 2>&1; then
  # ClickHouse rereads users.xml by itself: a reused server gets the users of this checkout.
  [[ -d $dir ]] && cp "$LEADPIPE_ROOT/deploy/clickhouse/users.xml" "$dir/users.xml"
  log "ClickHouse already answers on 127.0.0.1:$port, reusing it"
  exit 0
fi

if pid_alive "$dir/pid" clickhouse-server; then
  log "ClickHouse (pid $(cat "$dir/pid")) is still starting, waiting for it"
else
  port_open "$port" && die "port $port is taken by something that is not ClickHouse"
  mkdir -p "$dir"/{data,tmp,user_files,format_schemas,log}
  sed -e "s|@DIR@|$dir|g" -e "s|@TCP_PORT@|$port|g" -e "s|@HTTP_PORT@|$http_port|g" \
    "$LEADPIPE_ROOT/deploy/clickhouse/config.xml" >"$dir/config.xml"
  cp "$LEADPIPE_ROOT/deploy/clickhouse/users.xml" "$dir/users.xml"
  log "starting ClickHouse on 127.0.0.1:$port (http $http_port), data in $dir"
  nohup clickhouse-server --config-file="$dir/config.xml" >"$dir/log/stdout.log" 2>&1 </dev/null 9>&- &
  echo $! >"$dir/pid"
fi

wait_started 60 "$dir/pid" clickhouse-server ch_ready "$port" ||
  fail_with_log "ClickHouse did not come up on 127.0.0.1:$port (no answer to SELECT 1)" \
    "$dir/log/stdout.log" "$dir/log/clickhouse-server.err.log"
log "ClickHouse $(clickhouse-client --host 127.0.0.1 --port "$port" -q 'SELECT version()') is up on 127.0.0.1:$port"
