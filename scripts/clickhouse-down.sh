#!/usr/bin/env bash
# Stop the test ClickHouse started by clickhouse-up.sh and remove its data. Idempotent.
# Env: LEADPIPE_RUN (see lib.sh).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lock clickhouse
dir=$LEADPIPE_RUN/clickhouse
stop_pid "$dir/pid" clickhouse-server ClickHouse
keep_logs "$dir" clickhouse
rm -rf "$dir"
log "ClickHouse stopped, $dir removed"
