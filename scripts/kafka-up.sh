#!/usr/bin/env bash
# Start a single-node Apache Kafka (KRaft, broker+controller) on 127.0.0.1, from the official
# jars on Maven Central (fetched once into the cache). Installs kcat for the health check.
# Idempotent: a broker that already answers on the port is reused.
# Env: KAFKA_VERSION (default 4.1.1), KAFKA_PORT (19092), KAFKA_CONTROLLER_PORT (19093),
#      KAFKA_HEAP_OPTS (-Xmx1g -Xms256m), LEADPIPE_RUN, LEADPIPE_CACHE (see lib.sh).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

version=${KAFKA_VERSION:-4.1.1}
port=${KAFKA_PORT:-19092}
cport=${KAFKA_CONTROLLER_PORT:-19093}
dir=$LEADPIPE_RUN/kafka
libs=$LEADPIPE_CACHE/kafka-$version
cluster_id=MkU3OEVBNTcwNTJENDM2Qg  # any base64 UUID will do: the data folder is throwaway
# shellcheck disable=SC2206 # KAFKA_HEAP_OPTS is split on purpose
java_opts=(${KAFKA_HEAP_OPTS:--Xmx1g -Xms256m} -XX:+UseG1GC -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=$dir/log4j2.xml")

lock kafka
command -v kcat >/dev/null || apt_install kcat
command -v java >/dev/null || apt_install openjdk-17-jre-headless

# kafka_ready: the broker answers a metadata request with itself in it.
kafka_ready() { port_open "$port" && kcat -b "127.0.0.1:$port" -L -m 3 2>/dev/null | grep -q "broker 1 at"; }

if kafka_ready; then
  log "Kafka already answers on 127.0.0.1:$port, reusing it"
  exit 0
fi

if [[ ! -f $libs/.complete ]]; then
  command -v mvn >/dev/null || apt_install maven
  log "fetching Kafka $version jars from Maven Central into $libs"
  rm -rf "$libs" && mkdir -p "$libs"
  cp "$LEADPIPE_ROOT/deploy/kafka/pom.xml" "$libs/pom.xml"  # maven works next to the pom, not in the repo
  (cd "$libs" && mvn -B -Dkafka.version="$version" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$libs/jars" >"$libs/mvn.log" 2>&1) ||
    fail_with_log "could not fetch the Kafka $version jars with Maven" "$libs/mvn.log"
  touch "$libs/.complete"
fi
classpath="$libs/jars/*"

if pid_alive "$dir/pid" kafka.Kafka; then
  log "Kafka (pid $(cat "$dir/pid")) is still starting, waiting for it"
else
  port_open "$port" && die "port $port is taken by something that does not answer as a Kafka broker"
  port_open "$cport" && die "controller port $cport is already taken"
  mkdir -p "$dir/data"
  cp "$LEADPIPE_ROOT/deploy/kafka/log4j2.xml" "$dir/log4j2.xml"
  sed -e "s|@PORT@|$port|g" -e "s|@CONTROLLER_PORT@|$cport|g" -e "s|@DATA@|$dir/data|g" \
    "$LEADPIPE_ROOT/deploy/kafka/server.properties" >"$dir/server.properties"
  if [[ ! -f $dir/data/meta.properties ]]; then
    java "${java_opts[@]}" -cp "$classpath" kafka.tools.StorageTool format -t "$cluster_id" \
      -c "$dir/server.properties" >"$dir/format.log" 2>&1 ||
      fail_with_log "formatting the Kafka storage failed" "$dir/format.log"
  fi
  log "starting Kafka $version on 127.0.0.1:$port (controller $cport), data in $dir/data"
  nohup java "${java_opts[@]}" -cp "$classpath" kafka.Kafka "$dir/server.properties" >"$dir/broker.log" 2>&1 </dev/null 9>&- &
  echo $! >"$dir/pid"
fi

wait_started 90 "$dir/pid" kafka.Kafka kafka_ready ||
  fail_with_log "Kafka did not come up on 127.0.0.1:$port (no answer to a metadata request)" "$dir/broker.log"
# Warm up the group coordinator: the first consumer group creates __consumer_offsets, and
# clients that hit it while it is being created back off for seconds (kafka-go: 5 s).
if ! { echo warmup | kcat -b "127.0.0.1:$port" -P -t leadpipe-warmup &&
  timeout 30 kcat -q -b "127.0.0.1:$port" -G leadpipe-warmup -o beginning -e leadpipe-warmup; } >/dev/null 2>&1; then
  log "warning: the consumer-group warm-up did not finish; the first group join may be slow"
fi
log "Kafka $version is up on 127.0.0.1:$port"
