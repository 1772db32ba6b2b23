#!/usr/bin/env bash
# Stop the local test ClickHouse cluster started by cluster-up.sh and remove its data. Idempotent.
# Env: LEADPIPE_RUN (see lib.sh).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lock cluster
root=$LEADPIPE_RUN/cluster
for i in 1 2 3; do
  stop_pid "$root/ch$i/pid" clickhouse-server "ClickHouse ch$i"
done
stop_pid "$root/zookeeper/pid" QuorumPeerMain ZooKeeper
keep_logs "$root" cluster
rm -rf "$root"
log "cluster stopped, $root removed"
