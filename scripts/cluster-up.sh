#!/usr/bin/env bash
# Start (or reuse) the local test ClickHouse cluster: one ZooKeeper (Debian's zookeeper package)
# and three ClickHouse 18.16 servers on 127.0.0.1, named leadpipe: shard 1 on ch1 and ch2
# (replicas), shard 2 on ch3. Installs what is missing. Idempotent: a cluster whose nodes all
# answer is reused. Prints on stdout the variables the cluster tests read:
#   set -a; eval "$(scripts/cluster-up.sh)"; set +a
# Env: CLUSTER_ZK_PORT (default 19181), CLUSTER_PORT_BASE (19200: node i listens on
# BASE+i native, BASE+10+i http, BASE+20+i interserver), LEADPIPE_RUN (see lib.sh).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

zk_port=${CLUSTER_ZK_PORT:-19181}
base=${CLUSTER_PORT_BASE:-19200}
root=$LEADPIPE_RUN/cluster
shards=(1 1 2) # the shard of ch1, ch2, ch3

zk_ready() {
  local r
  r=$( (exec 3<>"/dev/tcp/127.0.0.1/$zk_port" && printf ruok >&3 && timeout 2 cat <&3) 2>/dev/null) && [[ $r == imok ]]
}

lock cluster
if ! command -v clickhouse-server >/dev/null || ! command -v clickhouse-client >/dev/null; then
  apt_install clickhouse-server clickhouse-client
fi
[[ -f /usr/share/java/zookeeper.jar ]] || apt_install zookeeper
command -v java >/dev/null || die "java is needed for ZooKeeper (Java 17 is on the machine image)"

# ZooKeeper, standalone: the coordination of replication and of ON CLUSTER statements.
zk=$root/zookeeper
if zk_ready; then
  log "ZooKeeper already answers on 127.0.0.1:$zk_port, reusing it"
else
  if ! pid_alive "$zk/pid" QuorumPeerMain; then
    port_open "$zk_port" && die "port $zk_port is taken by something that is not ZooKeeper"
    mkdir -p "$zk/data"
    cat >"$zk/zoo.cfg" <<CFG
tickTime=500
dataDir=$zk/data
clientPort=$zk_port
clientPortAddress=127.0.0.1
admin.enableServer=false
maxClientCnxns=0
4lw.commands.whitelist=ruok,stat
CFG
    log "starting ZooKeeper on 127.0.0.1:$zk_port, data in $zk"
    nohup java -Xmx256m -cp /usr/share/java/zookeeper.jar org.apache.zookeeper.server.quorum.QuorumPeerMain \
      "$zk/zoo.cfg" >"$zk/stdout.log" 2>&1 </dev/null 9>&- &
    echo $! >"$zk/pid"
  fi
  wait_started 60 "$zk/pid" QuorumPeerMain zk_ready ||
    fail_with_log "ZooKeeper did not come up on 127.0.0.1:$zk_port (no imok)" "$zk/stdout.log"
fi

# The three servers: the single server's config.xml, with the cluster overlay in config.d/.
for i in 1 2 3; do
  node=ch$i dir=$root/ch$i port=$((base + i)) http=$((base + 10 + i)) inter=$((base + 20 + i))
  if ch_ready "$port" >/dev/null 2>&1; then
    [[ -d $dir ]] && cp "$LEADPIPE_ROOT/deploy/clickhouse/users.xml" "$dir/users.xml"
    log "ClickHouse $node already answers on 127.0.0.1:$port, reusing it"
    continue
  fi
  if ! pid_alive "$dir/pid" clickhouse-server; then
    for p in "$port" "$http" "$inter"; do
      port_open "$p" && die "port $p is taken by something that is not ClickHouse $node"
    done
    mkdir -p "$dir"/{data,tmp,user_files,format_schemas,log,config.d}
    sed -e "s|@DIR@|$dir|g" -e "s|@TCP_PORT@|$port|g" -e "s|@HTTP_PORT@|$http|g" \
      "$LEADPIPE_ROOT/deploy/clickhouse/config.xml" >"$dir/config.xml"
    sed -e "s|@NODE@|$node|g" -e "s|@SHARD@|${shards[i - 1]}|g" -e "s|@INTERSERVER_PORT@|$inter|g" \
      -e "s|@ZK_PORT@|$zk_port|g" -e "s|@PORT_1@|$((base + 1))|g" -e "s|@PORT_2@|$((base + 2))|g" \
      -e "s|@PORT_3@|$((base + 3))|g" "$LEADPIPE_ROOT/deploy/clickhouse/cluster.xml" >"$dir/config.d/cluster.xml"
    cp "$LEADPIPE_ROOT/deploy/clickhouse/users.xml" "$dir/users.xml"
    log "starting ClickHouse $node (shard ${shards[i - 1]}) on 127.0.0.1:$port, data in $dir"
    nohup clickhouse-server --config-file="$dir/config.xml" >"$dir/log/stdout.log" 2>&1 </dev/null 9>&- &
    echo $! >"$dir/pid"
  fi
done
for i in 1 2 3; do
  dir=$root/ch$i port=$((base + i))
  wait_started 60 "$dir/pid" clickhouse-server ch_ready "$port" ||
    fail_with_log "ClickHouse ch$i did not come up on 127.0.0.1:$port (no answer to SELECT 1)" \
      "$dir/log/stdout.log" "$dir/log/clickhouse-server.err.log"
done
log "cluster leadpipe is up: shard 1 on 127.0.0.1:$((base + 1)) and :$((base + 2)), shard 2 on :$((base + 3)); ZooKeeper on :$zk_port"
echo "LEADPIPE_TEST_CLUSTER=127.0.0.1:$((base + 1)),127.0.0.1:$((base + 2)),127.0.0.1:$((base + 3))"
