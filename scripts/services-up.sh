#!/usr/bin/env bash
# Start (or reuse) the test Kafka and ClickHouse, install Chromium for the dashboard's browser test, then print on stdout the variables the tests read:
#   set -a; eval "$(scripts/services-up.sh)"; set +a
# Env: see kafka-up.sh and clickhouse-up.sh.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
here=$LEADPIPE_ROOT/scripts

"$here/kafka-up.sh"
"$here/clickhouse-up.sh"
"$here/chromium-up.sh" >/dev/null
echo "LEADPIPE_TEST_BROKERS=127.0.0.1:${KAFKA_PORT:-19092}"
echo "LEADPIPE_TEST_CLICKHOUSE=127.0.0.1:${CLICKHOUSE_PORT:-19000}"
