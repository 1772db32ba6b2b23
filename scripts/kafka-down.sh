#!/usr/bin/env bash
# Stop the Kafka broker started by kafka-up.sh and remove its data. Idempotent.
# Env: LEADPIPE_RUN (see lib.sh).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lock kafka
dir=$LEADPIPE_RUN/kafka
stop_pid "$dir/pid" kafka.Kafka Kafka
keep_logs "$dir" kafka
rm -rf "$dir"
log "Kafka stopped, $dir removed"
