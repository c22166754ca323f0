#!/usr/bin/env bash
# Prometheus (Debian's package) on loopback, scraping whatever plastrond instances the tests
# (or you) list in target files, for development and tests.
#   services/prometheus.sh [start|stop|restart|status|pid]
# start is idempotent: if our Prometheus already answers there, it only says where.
# Listens on 127.0.0.1:$PROMETHEUS_PORT (default 9390). Data, config and logs live under
# $PLASTROND_SERVICES_STATE/prometheus. Scrape targets: every `targets/*.json` file there (file
# service discovery, `[{"targets": ["127.0.0.1:PORT"], "labels": {...}}]`, picked up within a
# second or two); every target is scraped each second. start prints the URL and the folder:
#   http://127.0.0.1:9390
#   targets=<folder>
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

HOST=127.0.0.1
PORT="${PROMETHEUS_PORT:-9390}"
BASE="$STATE_DIR/prometheus"
PIDFILE="$BASE/prometheus.pid"
LOGFILE="$BASE/prometheus.log"
PROMETHEUS=/usr/bin/prometheus

ready() {
  curl -fsS -m 5 "http://$HOST:$PORT/-/ready" >/dev/null 2>&1
}

ours() {
  # The answering server must be the one started from $BASE: its config names our folder.
  curl -fsS -m 5 "http://$HOST:$PORT/api/v1/status/config" 2>/dev/null | grep -qF "$BASE/targets"
}

where() {
  echo "http://$HOST:$PORT"
  echo "targets=$BASE/targets"
}

write_config() {
  mkdir -p "$BASE/data" "$BASE/targets"
  cat >"$BASE/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 5s
scrape_configs:
  - job_name: plastrond
    metrics_path: /metrics
    file_sd_configs:
      - files: ["$BASE/targets/*.json"]
        refresh_interval: 1s
YAML
}

start() {
  if ready; then
    ours || die "a Prometheus not started from $BASE answers at $HOST:$PORT; stop it or set PROMETHEUS_PORT"
    log "Prometheus already answers at $HOST:$PORT"
    where
    return 0
  fi
  if pid_alive "$PIDFILE"; then
    log "Prometheus (pid $(cat "$PIDFILE")) is starting; waiting"
  else
    if port_open "$HOST" "$PORT"; then
      die "port $HOST:$PORT is taken by something that is not our Prometheus"
    fi
    [ -x "$PROMETHEUS" ] || need_debs prometheus
    write_config
    log "starting Prometheus; log in $LOGFILE"
    setsid nohup "$PROMETHEUS" \
      --config.file="$BASE/prometheus.yml" \
      --storage.tsdb.path="$BASE/data" \
      --storage.tsdb.retention.time=2d \
      --web.listen-address="$HOST:$PORT" \
      >"$LOGFILE" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
  fi
  if ! wait_until "${PROMETHEUS_START_TIMEOUT:-60}" "Prometheus" ready; then
    tail -n 30 "$LOGFILE" >&2 || true
    die "Prometheus did not answer at $HOST:$PORT in time"
  fi
  where
}

stop() {
  if pid_alive "$PIDFILE"; then
    local pid
    pid="$(cat "$PIDFILE")"
    kill "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -9 "$pid" 2>/dev/null || true
    log "Prometheus stopped"
  else
    log "Prometheus is not running from $BASE"
  fi
  rm -f "$PIDFILE"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status) if ready; then echo "up"; where; else echo "down"; exit 1; fi ;;
  pid) pid_alive "$PIDFILE" && cat "$PIDFILE" ;;
  *) die "usage: $0 [start|stop|restart|status|pid]" ;;
esac
