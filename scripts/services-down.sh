#!/usr/bin/env bash
# Stop the test Kafka, ClickHouse and ClickHouse cluster, and remove their data. Idempotent.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
here=$LEADPIPE_ROOT/scripts

rc=0
"$here/kafka-down.sh" || rc=$?
"$here/clickhouse-down.sh" || rc=$?
"$here/cluster-down.sh" || rc=$?
exit $rc
