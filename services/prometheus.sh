#!/usr/bin/env bash
# Prometheus (Debian's package) on loopback, scraping whatever plastrond instances the tests
# (or you) list in target files, for development and tests.
#   services/prometheus.sh [start|stop|restart|status|pid]   (the contract: common.sh)
# start is idempotent: if our Prometheus already answers there, it only says where.
# Listens on 127.0.0.1:$PROMETHEUS_PORT (default 9390). Data, config and logs live under
# $PLASTROND_SERVICES_STATE/prometheus. Scrape targets: every `targets/*.json` file there (file
# service discovery, `[{"targets": ["127.0.0.1:PORT"], "labels": {...}}]`, picked up within a
# second or two); every target is scraped each second. start prints the URL and the folder:
#   http://127.0.0.1:9390
#   targets=<folder>
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SERVICE=Prometheus
SERVICE_HOST=127.0.0.1
SERVICE_PORT="${PROMETHEUS_PORT:-9390}"
BASE="$STATE_DIR/prometheus"
PIDFILE="$BASE/prometheus.pid"
LOGFILE="$BASE/prometheus.log"
START_TIMEOUT="${PROMETHEUS_START_TIMEOUT:-60}"
PORT_TAKEN="something that is not our Prometheus"
PROMETHEUS=/usr/bin/prometheus

ready() {
  curl -fsS -m 5 "http://$SERVICE_HOST:$SERVICE_PORT/-/ready" >/dev/null 2>&1
}

# ours: the answering server must be the one started from $BASE: its config names our folder.
ours() {
  curl -fsS -m 5 "http://$SERVICE_HOST:$SERVICE_PORT/api/v1/status/config" 2>/dev/null \
    | grep -qF "$BASE/targets" \
    || die "a Prometheus not started from $BASE answers at $SERVICE_HOST:$SERVICE_PORT; stop it or set PROMETHEUS_PORT"
}

where() {
  echo "http://$SERVICE_HOST:$SERVICE_PORT"
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

prepare() {
  command -v curl >/dev/null || need_debs curl
}

launch() {
  [ -x "$PROMETHEUS" ] || need_debs prometheus
  write_config
  run_logged "$PROMETHEUS" \
    --config.file="$BASE/prometheus.yml" \
    --storage.tsdb.path="$BASE/data" \
    --storage.tsdb.retention.time=2d \
    --web.listen-address="$SERVICE_HOST:$SERVICE_PORT"
}

service_main "$@"
