#!/usr/bin/env bash
# Run a Kafka command-line class from the jars fetched by kafka-up.sh, against the test broker.
#   scripts/kafka-cli.sh topics --create --topic t --partitions 8
#   scripts/kafka-cli.sh groups --describe --group g
#   scripts/kafka-cli.sh org.apache.kafka.tools.SomeOtherCommand ARGS...
# The short names add --bootstrap-server 127.0.0.1:$KAFKA_PORT.
# Env: KAFKA_VERSION, KAFKA_PORT, LEADPIPE_CACHE (see kafka-up.sh and lib.sh).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

libs=$LEADPIPE_CACHE/kafka-${KAFKA_VERSION:-4.1.1}
[[ -f $libs/.complete ]] || die "no Kafka jars in $libs: run scripts/kafka-up.sh first"
(($# > 0)) || die "usage: $0 topics|groups|api-versions|CLASS [ARGS...]"
bootstrap=(--bootstrap-server "127.0.0.1:${KAFKA_PORT:-19092}")
case $1 in
  topics) class=org.apache.kafka.tools.TopicCommand ;;
  groups) class=org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
  api-versions) class=org.apache.kafka.tools.BrokerApiVersionsCommand ;;
  *) class=$1 bootstrap=() ;;
esac
shift
exec java -Xmx256m "-Dlog4j2.configurationFile=$LEADPIPE_ROOT/deploy/kafka/log4j2-cli.xml" \
  -cp "$libs/jars/*" "$class" "${bootstrap[@]}" "$@"
