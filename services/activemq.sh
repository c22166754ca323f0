#!/usr/bin/env bash
# ActiveMQ (Debian's package) with a STOMP connector on loopback, for development and tests.
#   services/activemq.sh [start|stop|restart|status|pid]
# start is idempotent: if a broker already answers STOMP there, it only says where.
# Data, config and logs live under $PLASTROND_SERVICES_STATE/activemq (default .services/),
# never in the system instance under /var/lib/activemq.
# With ACTIVEMQ_OPENWIRE_PORT set, the broker also has an OpenWire connector on that port (for
# JMS clients such as the Camel status route, services/camel.sh); without it, STOMP only.
# Size limits (README "Size limits"): the STOMP connector refuses a frame whose body is over
# ACTIVEMQ_MAX_DATA_LENGTH bytes (default 128 MiB; the sender gets an ERROR and is
# disconnected, the message goes nowhere), and the JVM heap (ACTIVEMQ_MAX_HEAP, default 2g) is
# sized so that a message of that size can be received, stored and delivered: with 512 MiB a
# single persistent 50 MiB SEND failed with "Java heap space".
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

HOST="${ACTIVEMQ_HOST:-127.0.0.1}"
PORT="${ACTIVEMQ_STOMP_PORT:-61613}"
OPENWIRE_PORT="${ACTIVEMQ_OPENWIRE_PORT:-}"
MAX_DATA_LENGTH="${ACTIVEMQ_MAX_DATA_LENGTH:-134217728}"
MAX_HEAP="${ACTIVEMQ_MAX_HEAP:-2g}"
BASE="$STATE_DIR/activemq"
PIDFILE="$BASE/activemq.pid"
LOGFILE="$BASE/activemq.log"
AMQ_HOME=/usr/share/activemq

stomp_ready() {
  local reply
  reply="$( (exec 3<>"/dev/tcp/$HOST/$PORT" || exit 1
             printf 'CONNECT\naccept-version:1.0,1.1,1.2\nhost:localhost\n\n\0' >&3
             timeout 5 head -c 9 <&3) 2>/dev/null || true)"
  [ "$reply" = "CONNECTED" ]
}

write_config() {
  mkdir -p "$BASE/conf" "$BASE/data" "$BASE/tmp"
  local openwire=""
  if [ -n "$OPENWIRE_PORT" ]; then
    openwire="<transportConnector name=\"openwire\" uri=\"tcp://$HOST:$OPENWIRE_PORT\"/>"
  fi
  cat >"$BASE/conf/activemq.xml" <<XML
<beans xmlns="http://www.springframework.org/schema/beans"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans.xsd
  http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <broker xmlns="http://activemq.apache.org/schema/core" brokerName="plastrond-dev"
          useJmx="false" schedulerSupport="false" dataDirectory="$BASE/data">
    <persistenceAdapter>
      <kahaDB directory="$BASE/data/kahadb"/>
    </persistenceAdapter>
    <systemUsage>
      <systemUsage>
        <memoryUsage><memoryUsage percentOfJvmHeap="70"/></memoryUsage>
        <storeUsage><storeUsage limit="4 gb"/></storeUsage>
        <tempUsage><tempUsage limit="1 gb"/></tempUsage>
      </systemUsage>
    </systemUsage>
    <transportConnectors>
      <transportConnector name="stomp" uri="stomp+nio://$HOST:$PORT?transport.closeAsync=false&amp;wireFormat.maxDataLength=$MAX_DATA_LENGTH&amp;wireFormat.maxFrameSize=$((MAX_DATA_LENGTH + 1048576))"/>
      $openwire
    </transportConnectors>
  </broker>
</beans>
XML
}

start() {
  if stomp_ready; then
    log "ActiveMQ already answers STOMP at $HOST:$PORT"
    echo "stomp://$HOST:$PORT"
    return 0
  fi
  if pid_alive "$PIDFILE"; then
    log "ActiveMQ (pid $(cat "$PIDFILE")) is starting; waiting"
  else
    if port_open "$HOST" "$PORT"; then
      die "port $HOST:$PORT is taken by something that does not answer STOMP CONNECT"
    fi
    [ -f "$AMQ_HOME/bin/activemq.jar" ] || need_debs activemq
    dpkg-query -W -f='${Version}' activemq | grep -q "^$ACTIVEMQ_DEB_VERSION_PREFIX" \
      || die "expected ActiveMQ $ACTIVEMQ_DEB_VERSION_PREFIX.x, found $(dpkg-query -W -f='${Version}' activemq)"
    command -v java >/dev/null || need_debs openjdk-17-jre-headless
    write_config
    log "starting ActiveMQ; log in $LOGFILE"
    setsid nohup java -Xms128m "-Xmx$MAX_HEAP" \
      -Dactivemq.home="$AMQ_HOME" -Dactivemq.base="$BASE" \
      -Dactivemq.conf="$BASE/conf" -Dactivemq.data="$BASE/data" \
      -Djava.io.tmpdir="$BASE/tmp" \
      -jar "$AMQ_HOME/bin/activemq.jar" start "xbean:file:$BASE/conf/activemq.xml" \
      >"$LOGFILE" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
  fi
  if ! wait_until "${ACTIVEMQ_START_TIMEOUT:-120}" "ActiveMQ" stomp_ready; then
    tail -n 30 "$LOGFILE" >&2 || true
    die "ActiveMQ did not answer STOMP at $HOST:$PORT in time"
  fi
  echo "stomp://$HOST:$PORT"
}

stop() {
  if pid_alive "$PIDFILE"; then
    local pid
    pid="$(cat "$PIDFILE")"
    kill -CONT "$pid" 2>/dev/null || true
    kill "$pid"
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -9 "$pid" 2>/dev/null || true
    log "ActiveMQ stopped"
  else
    log "ActiveMQ is not running from $BASE"
  fi
  rm -f "$PIDFILE"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status) if stomp_ready; then echo "up stomp://$HOST:$PORT"; else echo "down"; exit 1; fi ;;
  pid) pid_alive "$PIDFILE" && cat "$PIDFILE" ;;
  *) die "usage: $0 [start|stop|restart|status|pid]" ;;
esac
