#!/usr/bin/env bash
# Fedora 6 (org.fcrepo:fcrepo-webapp from Maven Central) in Jetty 9.4 (jetty-runner), Java 17,
# for development and tests.
#   services/fedora.sh [start|stop|restart|status|pid]   (the contract: common.sh)
# REST root: http://127.0.0.1:8080/fcrepo/rest, HTTP Basic users (realm "fcrepo"):
#   $FEDORA_ADMIN_USER/$FEDORA_ADMIN_PASSWORD (role fedoraAdmin; may delegate with On-Behalf-Of)
#   $FEDORA_TEST_USER/$FEDORA_TEST_PASSWORD   (role fedoraUser)
# start is idempotent: if Fedora already answers there, it only says where.
# FEDORA_JMS_PORT and FEDORA_STOMP_PORT (both): Fedora's embedded JMS broker on, its OpenWire and
# STOMP connectors on those ports, events on the topic "fedora" (off by default).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SERVICE="Fedora $FCREPO_VERSION"
SERVICE_HOST="${FEDORA_HOST:-127.0.0.1}"
SERVICE_PORT="${FEDORA_PORT:-8080}"
REST="http://$SERVICE_HOST:$SERVICE_PORT/fcrepo/rest"
BASE="$STATE_DIR/fedora"
PIDFILE="$BASE/fedora.pid"
LOGFILE="$BASE/fedora.log"
fedora_service

launch() {
  command -v java >/dev/null || need_debs openjdk-17-jre-headless
  local war runner
  war="$(maven_fetch "org.fcrepo:fcrepo-webapp:$FCREPO_VERSION:war" "fcrepo-webapp-$FCREPO_VERSION.war")"
  runner="$(maven_fetch "org.eclipse.jetty:jetty-runner:$JETTY_RUNNER_VERSION" \
            "jetty-runner-$JETTY_RUNNER_VERSION.jar")"
  mkdir -p "$BASE/home" "$BASE/tmp"
  write_jetty_users "$BASE"
  # Fedora's embedded JMS broker is off: it would take 61613/61616 from our ActiveMQ; with
  # FEDORA_JMS_PORT and FEDORA_STOMP_PORT it is on, on those ports (a test that reads events).
  local jms=(-Dfcrepo.jms.enabled=false -Dfcrepo.dynamic.jms.port=0 -Dfcrepo.dynamic.stomp.port=0)
  if [ -n "${FEDORA_JMS_PORT:-}" ] && [ -n "${FEDORA_STOMP_PORT:-}" ]; then
    jms=(-Dfcrepo.jms.enabled=true -Dfcrepo.dynamic.jms.port="$FEDORA_JMS_PORT"
         -Dfcrepo.dynamic.stomp.port="$FEDORA_STOMP_PORT")
  fi
  # Its index database is Fedora's default H2 file (the same path as without the setting),
  # with a lock timeout of 20 s instead of H2's 1 s: on a loaded machine concurrent
  # transactions otherwise fail their commits with "Timeout trying to lock table" (409), where
  # a production Fedora on PostgreSQL or MySQL would wait for the lock.
  run_logged java -Xms256m -Xmx1g \
    -Djava.io.tmpdir="$BASE/tmp" \
    -Dfcrepo.home="$BASE/home" \
    -Dfcrepo.db.url="jdbc:h2:$BASE/home/data/fcrepo-h2;FILE_LOCK=SOCKET;LOCK_TIMEOUT=20000" \
    "${jms[@]}" \
    -Dfcrepo.auth.principal.delegate.enabled=true \
    -jar "$runner" --host "$SERVICE_HOST" --port "$SERVICE_PORT" --config "$BASE/jetty.xml" \
    --path /fcrepo "$war"
}

service_main "$@"
