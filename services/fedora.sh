#!/usr/bin/env bash
# Fedora 6 (org.fcrepo:fcrepo-webapp from Maven Central) in Jetty 9.4 (jetty-runner), Java 17,
# for development and tests.
#   services/fedora.sh [start|stop|restart|status|pid]
# REST root: http://127.0.0.1:8080/fcrepo/rest, HTTP Basic users (realm "fcrepo"):
#   $FEDORA_ADMIN_USER/$FEDORA_ADMIN_PASSWORD (role fedoraAdmin; may delegate with On-Behalf-Of)
#   $FEDORA_TEST_USER/$FEDORA_TEST_PASSWORD   (role fedoraUser)
# start is idempotent: if Fedora already answers there, it only says where.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

HOST="${FEDORA_HOST:-127.0.0.1}"
PORT="${FEDORA_PORT:-8080}"
ADMIN_USER="${FEDORA_ADMIN_USER:-fedoraAdmin}"
ADMIN_PASSWORD="${FEDORA_ADMIN_PASSWORD:-fedoraAdmin}"
TEST_USER="${FEDORA_TEST_USER:-testuser}"
TEST_PASSWORD="${FEDORA_TEST_PASSWORD:-testpass}"
REST="http://$HOST:$PORT/fcrepo/rest"
BASE="$STATE_DIR/fedora"
PIDFILE="$BASE/fedora.pid"
LOGFILE="$BASE/fedora.log"

fedora_ready() {
  local code
  code="$(curl -s -o /dev/null -w '%{http_code}' -m 10 -u "$ADMIN_USER:$ADMIN_PASSWORD" \
          -H 'Accept: text/turtle' "$REST/" 2>/dev/null || true)"
  [ "$code" = "200" ]
}

write_config() {
  mkdir -p "$BASE/home" "$BASE/tmp"
  umask 077
  printf '%s: %s,fedoraAdmin\n%s: %s,fedoraUser\n' \
    "$ADMIN_USER" "$ADMIN_PASSWORD" "$TEST_USER" "$TEST_PASSWORD" >"$BASE/realm.properties"
  cat >"$BASE/jetty.xml" <<XML
<?xml version="1.0"?>
<!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "http://www.eclipse.org/jetty/configure_9_3.dtd">
<Configure id="Server" class="org.eclipse.jetty.server.Server">
  <Call name="addBean">
    <Arg>
      <New class="org.eclipse.jetty.security.HashLoginService">
        <Set name="name">fcrepo</Set>
        <Set name="config">$BASE/realm.properties</Set>
      </New>
    </Arg>
  </Call>
</Configure>
XML
}

start() {
  command -v curl >/dev/null || need_debs curl
  if fedora_ready; then
    log "Fedora already answers at $REST"
    echo "$REST"
    return 0
  fi
  if pid_alive "$PIDFILE"; then
    log "Fedora (pid $(cat "$PIDFILE")) is starting; waiting"
  else
    if port_open "$HOST" "$PORT"; then
      die "port $HOST:$PORT is taken by something that is not this Fedora (or rejects its users)"
    fi
    command -v java >/dev/null || need_debs openjdk-17-jre-headless
    local war runner
    war="$(maven_fetch "org.fcrepo:fcrepo-webapp:$FCREPO_VERSION:war" "fcrepo-webapp-$FCREPO_VERSION.war")"
    runner="$(maven_fetch "org.eclipse.jetty:jetty-runner:$JETTY_RUNNER_VERSION" \
              "jetty-runner-$JETTY_RUNNER_VERSION.jar")"
    write_config
    log "starting Fedora $FCREPO_VERSION; log in $LOGFILE"
    # Fedora's embedded JMS broker is off: it would take 61613/61616 from our ActiveMQ.
    setsid nohup java -Xms256m -Xmx1g \
      -Djava.io.tmpdir="$BASE/tmp" \
      -Dfcrepo.home="$BASE/home" \
      -Dfcrepo.jms.enabled=false \
      -Dfcrepo.dynamic.jms.port=0 -Dfcrepo.dynamic.stomp.port=0 \
      -Dfcrepo.auth.principal.delegate.enabled=true \
      -jar "$runner" --host "$HOST" --port "$PORT" --config "$BASE/jetty.xml" \
      --path /fcrepo "$war" >"$LOGFILE" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
  fi
  if ! wait_until "${FEDORA_START_TIMEOUT:-300}" "Fedora" fedora_ready; then
    tail -n 40 "$LOGFILE" >&2 || true
    die "Fedora did not answer at $REST in time"
  fi
  echo "$REST"
}

stop() {
  if pid_alive "$PIDFILE"; then
    local pid
    pid="$(cat "$PIDFILE")"
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -9 "$pid" 2>/dev/null || true
    log "Fedora stopped"
  else
    log "Fedora is not running from $BASE"
  fi
  rm -f "$PIDFILE"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status) if fedora_ready; then echo "up $REST"; else echo "down"; exit 1; fi ;;
  pid) pid_alive "$PIDFILE" && cat "$PIDFILE" ;;
  *) die "usage: $0 [start|stop|restart|status|pid]" ;;
esac
