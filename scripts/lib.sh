# shellcheck shell=bash
# Shared helpers for scripts/*.sh (source it; it turns on strict mode).
#
# Environment honoured by all scripts:
#   LEADPIPE_RUN    throwaway state: data, logs, pid files   (default /tmp/leadpipe-run)
#   LEADPIPE_CACHE  downloads kept between runs (Kafka jars) (default ~/.cache/leadpipe)
#   LEADPIPE_LOGS   the services' logs, kept when a *-down.sh removes their data (default /tmp/leadpipe-logs)
set -euo pipefail

# shellcheck disable=SC2034 # used by the scripts that source this file
LEADPIPE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LEADPIPE_RUN="${LEADPIPE_RUN:-/tmp/leadpipe-run}"
LEADPIPE_CACHE="${LEADPIPE_CACHE:-${HOME:-/root}/.cache/leadpipe}"
export DEBIAN_FRONTEND=noninteractive

log() { printf 'leadpipe: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# keep_logs DIR NAME: copies the last MiB of every log file under DIR (not
# under a data/ folder: Kafka's segments are *.log too) to
# LEADPIPE_LOGS/NAME-TIME, so that a failed run's logs outlive the services'
# data, which the *-down.sh scripts remove. Never fails.
keep_logs() {
  local dir=$1 name=$2 out f rel n=0
  [ -d "$dir" ] || return 0
  out="${LEADPIPE_LOGS:-/tmp/leadpipe-logs}/$name-$(date -u +%Y%m%dT%H%M%SZ)"
  while IFS= read -r -d '' f; do
    rel=${f#"$dir"/}
    mkdir -p "$out/$(dirname "$rel")" && tail -c 1048576 "$f" >"$out/$rel" && n=$((n + 1))
  done < <(find "$dir" -path '*/data/*' -prune -o -type f \( -name '*.log' -o -name '*.err' -o -name '*.out' \) -print0 2>/dev/null)
  if [ "$n" -gt 0 ]; then log "kept the last MiB of $n log files of $name in $out"; fi
  return 0
}

# port_open PORT: something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for SECONDS CMD...: retry CMD (quietly) every 0.5 s until it succeeds; fail after SECONDS.
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

# wait_started SECONDS PIDFILE PATTERN CMD...: like wait_for, but gives up at once
# when the process in PIDFILE has exited. Only its life is checked, not PATTERN:
# just after `cmd &`, the child may not have exec'd yet, and its command line is
# still the script's (a start failed that way once, the server coming up after).
wait_started() {
  local secs=$1 pidfile=$2; shift 3
  local deadline=$((SECONDS + secs)) pid
  pid=$(cat "$pidfile" 2>/dev/null) || { log "no pid in $pidfile"; return 1; }
  until "$@" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { log "the server process has exited"; return 1; }
    ((SECONDS < deadline)) || { log "timed out after $secs s"; return 1; }
    sleep 0.5
  done
}

# ch_ready PORT: the ClickHouse on 127.0.0.1:PORT answers a query (bounded: a foreign listener
# must not hang the check).
ch_ready() {
  timeout 10 clickhouse-client --host 127.0.0.1 --port "$1" --connect_timeout=2 \
    --receive_timeout=5 --send_timeout=5 -q 'SELECT 1'
}

# lock NAME: serialize the up/down scripts of one service; held on fd 9 until the script exits
# (start servers with 9>&- so that they do not keep it).
lock() {
  mkdir -p "$LEADPIPE_RUN"
  exec 9>"$LEADPIPE_RUN/$1.lock"
  flock -w 300 9 || die "another script still holds $LEADPIPE_RUN/$1.lock after 300 s"
}

# apt_install PKG...: install Debian packages without asking, and without
# letting their maintainer scripts start system services.
apt_install() {
  local policy=/usr/sbin/policy-rc.d added=
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && added=1
  fi
  log "installing $* with apt-get"
  local rc=0
  { apt-get update -q && apt-get install -y -q --no-install-recommends "$@"; } >&2 || rc=$?
  [[ -z $added ]] || rm -f "$policy"
  ((rc == 0)) || die "apt-get install $* failed (exit $rc)"
}

# pid_alive PIDFILE PATTERN: the pid in PIDFILE runs and its command line contains PATTERN
# (guards against killing an unrelated process that reused the pid).
pid_alive() {
  local pid
  pid=$(cat "$1" 2>/dev/null) && [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null &&
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"
}

# stop_pid PIDFILE PATTERN NAME: SIGTERM the process, SIGKILL it after 20 s, remove PIDFILE.
stop_pid() {
  local pidfile=$1 pattern=$2 name=$3 pid
  if pid_alive "$pidfile" "$pattern"; then
    pid=$(cat "$pidfile")
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    if ! wait_for 20 eval "! kill -0 $pid"; then
      log "$name did not stop within 20 s, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      wait_for 5 eval "! kill -0 $pid" || die "could not kill $name (pid $pid)"
    fi
  else
    log "$name is not running (no live pid in $pidfile)"
  fi
  rm -f "$pidfile"
}

# fail_with_log MESSAGE LOGFILE...: print each log's last 40 lines, then die with MESSAGE.
fail_with_log() {
  local msg=$1 f; shift
  for f in "$@"; do
    [[ -s $f ]] || continue
    log "---- last 40 lines of $f ----"
    tail -n 40 "$f" >&2
  done
  die "$msg"
}
