#!/usr/bin/env bash
# Apache Camel running the job status route of umd-fcrepo-messaging (camel/plastron.xml) in
# front of a test endpoint: it consumes the status queue over OpenWire, keeps the messages
# that carry a PlastronStatusURL header and POSTs each body to that URL, as current Archelon's
# broker does. For integration tests and development, never unit tests.
#   services/camel.sh [start|stop|restart|status|pid|fetch]   (the contract: common.sh)
# Settings (environment):
#   CAMEL_BROKER_URL    OpenWire URL of the broker (default tcp://127.0.0.1:61616); the broker
#                       needs an OpenWire connector: services/activemq.sh adds one with
#                       ACTIVEMQ_OPENWIRE_PORT
#   CAMEL_STATUS_QUEUE  queue to consume, JMS name without /queue/ (default plastron.jobs.status)
#   CAMEL_ERRORS_QUEUE  where failed POSTs go (default errors.queue.plastron.jobs.status)
# The route and its Maven project are in services/camel/; the runtime jars are copied once
# from Maven Central into the download cache (`fetch` does only that). start is idempotent (a
# running route is kept, whatever its settings: stop it first to change them) and prints the
# broker URL and queue. It listens on no port: it is up once its log says Camel started.
# State (pid, log) under $PLASTROND_SERVICES_STATE/camel.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SERVICE="Camel status route"
PROJECT="$SERVICES_DIR/camel"
BASE="$STATE_DIR/camel"
PIDFILE="$BASE/camel.pid"
LOGFILE="$BASE/camel.log"
START_TIMEOUT="${CAMEL_START_TIMEOUT:-120}"
EXTRA_COMMANDS=fetch
BROKER_URL="${CAMEL_BROKER_URL:-tcp://127.0.0.1:61616}"
STATUS_QUEUE="${CAMEL_STATUS_QUEUE:-plastron.jobs.status}"
ERRORS_QUEUE="${CAMEL_ERRORS_QUEUE:-errors.queue.plastron.jobs.status}"

# lib_dir: the route's runtime jars, fetched once per version of the pom.
lib_dir() {
  local hash dest
  hash="$(sha1sum "$PROJECT/pom.xml" | cut -c1-12)"
  dest="$CACHE_DIR/camel-route-$hash/lib"
  if [ ! -f "$dest/.complete" ]; then
    command -v mvn >/dev/null || need_debs maven
    log "fetching Apache Camel and the route's components from Maven Central"
    rm -rf "$dest" && mkdir -p "$dest"
    mvn -q -B -f "$PROJECT/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
        -DoutputDirectory="$dest" >"$dest/../mvn.log" 2>&1 \
      || { cat "$dest/../mvn.log" >&2; die "could not fetch the Camel route's dependencies"; }
    touch "$dest/.complete"
  fi
  printf '%s\n' "$dest"
}

cmd_fetch() {
  lib_dir >/dev/null
}

ready() {
  pid_alive "$PIDFILE" && grep -q 'Apache Camel .* started in' "$LOGFILE" 2>/dev/null
}

where() {
  echo "camel $BROKER_URL queue://$STATUS_QUEUE"
}

launch() {
  local hostport="${BROKER_URL#*://}"
  hostport="${hostport%%\?*}"
  port_open "${hostport%:*}" "${hostport##*:}" \
    || die "no broker answers OpenWire at $BROKER_URL (services/activemq.sh with ACTIVEMQ_OPENWIRE_PORT adds a connector)"
  command -v java >/dev/null || need_debs openjdk-17-jre-headless
  local lib
  lib="$(lib_dir)"
  log "the route consumes $STATUS_QUEUE on $BROKER_URL"
  run_logged java -Xms32m -Xmx256m -XX:TieredStopAtLevel=1 \
    -Dorg.slf4j.simpleLogger.showDateTime=true \
    -Dcamel.component.activemq.broker-url="$BROKER_URL" \
    -Dcamel.main.routes-include-pattern="file:$PROJECT/plastron-status.xml" \
    -Dplastron.status.queue="$STATUS_QUEUE" \
    -Dplastron.errors.queue="$ERRORS_QUEUE" \
    -cp "$PROJECT:$lib/*" org.apache.camel.main.Main
}

service_main "$@"
