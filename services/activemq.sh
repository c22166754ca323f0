#!/usr/bin/env bash
# ActiveMQ (Debian's package) with a STOMP connector on loopback, for development and tests.
#   services/activemq.sh [start|stop|restart|status|pid]   (the contract: common.sh)
# start is idempotent: if a broker already answers STOMP there, it only says where.
# Data, config and logs live under $PLASTROND_SERVICES_STATE/activemq (default .services/),
# never in the system instance under /var/lib/activemq.
# With ACTIVEMQ_OPENWIRE_PORT set, the broker also has an OpenWire connector on that port (for
# JMS clients such as the Camel status route, services/camel.sh); without it, STOMP only.
# With ACTIVEMQ_PLUGINS_FILE naming a file, its XML goes in the broker's <plugins> (e.g. the
# authentication and authorization plugins of a test's private broker).
# Size limits (README "Size limits"): the STOMP connector refuses a frame whose body is over
# ACTIVEMQ_MAX_DATA_LENGTH bytes (default 128 MiB; the sender gets an ERROR and is
# disconnected, the message goes nowhere), and the JVM heap (ACTIVEMQ_MAX_HEAP, default 2g) is
# sized so that a message of that size can be received, stored and delivered: with 512 MiB a
# single persistent 50 MiB SEND failed with "Java heap space".
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SERVICE=ActiveMQ
SERVICE_HOST="${ACTIVEMQ_HOST:-127.0.0.1}"
SERVICE_PORT="${ACTIVEMQ_STOMP_PORT:-61613}"
OPENWIRE_PORT="${ACTIVEMQ_OPENWIRE_PORT:-}"
PLUGINS_FILE="${ACTIVEMQ_PLUGINS_FILE:-}"
MAX_DATA_LENGTH="${ACTIVEMQ_MAX_DATA_LENGTH:-134217728}"
MAX_HEAP="${ACTIVEMQ_MAX_HEAP:-2g}"
BASE="$STATE_DIR/activemq"
PIDFILE="$BASE/activemq.pid"
LOGFILE="$BASE/activemq.log"
START_TIMEOUT="${ACTIVEMQ_START_TIMEOUT:-120}"
PORT_TAKEN="something that does not answer STOMP CONNECT"
AMQ_HOME=/usr/share/activemq

ready() {
  local reply
  reply="$( (exec 3<>"/dev/tcp/$SERVICE_HOST/$SERVICE_PORT" || exit 1
             printf 'CONNECT\naccept-version:1.0,1.1,1.2\nhost:localhost\n\n\0' >&3
             timeout 5 head -c 9 <&3) 2>/dev/null || true)"
  [ "$reply" = "CONNECTED" ]
}

where() {
  echo "stomp://$SERVICE_HOST:$SERVICE_PORT"
}

write_config() {
  mkdir -p "$BASE/conf" "$BASE/data" "$BASE/tmp"
  local openwire=""
  if [ -n "$OPENWIRE_PORT" ]; then
    openwire="<transportConnector name=\"openwire\" uri=\"tcp://$SERVICE_HOST:$OPENWIRE_PORT\"/>"
  fi
  local plugins=""
  if [ -n "$PLUGINS_FILE" ]; then
    plugins="<plugins>$(cat "$PLUGINS_FILE")</plugins>"
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
    $plugins
    <systemUsage>
      <systemUsage>
        <memoryUsage><memoryUsage percentOfJvmHeap="70"/></memoryUsage>
        <storeUsage><storeUsage limit="4 gb"/></storeUsage>
        <tempUsage><tempUsage limit="1 gb"/></tempUsage>
      </systemUsage>
    </systemUsage>
    <transportConnectors>
      <transportConnector name="stomp" uri="stomp+nio://$SERVICE_HOST:$SERVICE_PORT?transport.closeAsync=false&amp;wireFormat.maxDataLength=$MAX_DATA_LENGTH&amp;wireFormat.maxFrameSize=$((MAX_DATA_LENGTH + 1048576))"/>
      $openwire
    </transportConnectors>
  </broker>
</beans>
XML
}

launch() {
  [ -f "$AMQ_HOME/bin/activemq.jar" ] || need_debs activemq
  dpkg-query -W -f='${Version}' activemq | grep -q "^$ACTIVEMQ_DEB_VERSION_PREFIX" \
    || die "expected ActiveMQ $ACTIVEMQ_DEB_VERSION_PREFIX.x, found $(dpkg-query -W -f='${Version}' activemq)"
  command -v java >/dev/null || need_debs openjdk-17-jre-headless
  write_config
  run_logged java -Xms128m "-Xmx$MAX_HEAP" \
    -Dactivemq.home="$AMQ_HOME" -Dactivemq.base="$BASE" \
    -Dactivemq.conf="$BASE/conf" -Dactivemq.data="$BASE/data" \
    -Djava.io.tmpdir="$BASE/tmp" \
    -jar "$AMQ_HOME/bin/activemq.jar" start "xbean:file:$BASE/conf/activemq.xml"
}

service_main "$@"
