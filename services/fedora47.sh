#!/usr/bin/env bash
# Fedora 4.7 (org.fcrepo:fcrepo-webapp 4.7.5 from Maven Central) in Jetty 9.4 (jetty-runner),
# Java 17, for development and tests, beside Fedora 6 (fedora.sh).
#   services/fedora47.sh [start|stop|restart|status|pid]   (the contract: common.sh)
# REST root: http://127.0.0.1:8090/rest, HTTP Basic users (realm "fcrepo"), as for fedora.sh:
#   $FEDORA_ADMIN_USER/$FEDORA_ADMIN_PASSWORD (role fedoraAdmin; may delegate with On-Behalf-Of)
#   $FEDORA_TEST_USER/$FEDORA_TEST_PASSWORD   (role fedoraUser)
# start is idempotent: if this Fedora already answers there, it only says where.
#
# The stock war has authentication commented out and no authorization module, so this script
# runs it from an unpacked copy in its state folder that
#   - turns on the war's own (commented) Basic security constraint (web.xml),
#   - adds org.fcrepo:fcrepo-auth-roles-{common,basic} 4.7.5 (Maven Central) as the
#     authorization delegate, with On-Behalf-Of delegation (DelegateHeaderPrincipalProvider),
#     wired by a spring repo.xml of ours (fcrepo.spring.repo.configuration),
#   - uses ModeShape's file storage (config/file-simple) with the servlet-container
#     authentication provider instead of file-simple's "bypass security" one.
# Fedora 4.7 on Java 17 needs the JDK packages its libraries reflect into opened (JAVA_OPENS).
# Its embedded ActiveMQ broker cannot be turned off; its ports move off ours (61616/61613).
# FEDORA47_JAVA_OPTS: more JVM options (e.g. -Dfcrepo.log=DEBUG).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SERVICE="Fedora $FCREPO47_VERSION"
SERVICE_HOST="${FEDORA47_HOST:-127.0.0.1}"
SERVICE_PORT="${FEDORA47_PORT:-8090}"
JMS_PORT="${FEDORA47_JMS_PORT:-61736}"
STOMP_PORT="${FEDORA47_STOMP_PORT:-61733}"
REST="http://$SERVICE_HOST:$SERVICE_PORT/rest"
BASE="$STATE_DIR/fedora47"
PIDFILE="$BASE/fedora.pid"
LOGFILE="$BASE/fedora.log"
fedora_service
WEBAPP="$BASE/webapp-$FCREPO47_VERSION"

JAVA_OPENS=()
for pkg in java.lang java.lang.reflect java.lang.invoke java.util java.util.concurrent \
           java.util.concurrent.atomic java.util.regex java.io java.net java.nio java.math \
           java.text java.security java.sql sun.nio.ch; do
  case "$pkg" in
    java.sql) JAVA_OPENS+=("--add-opens" "java.sql/$pkg=ALL-UNNAMED") ;;
    *) JAVA_OPENS+=("--add-opens" "java.base/$pkg=ALL-UNNAMED") ;;
  esac
done
JAVA_OPENS+=("--add-opens" "java.management/javax.management=ALL-UNNAMED"
             "--add-opens" "java.rmi/sun.rmi.transport=ALL-UNNAMED")

# fetch_all: the war, the authorization jars and jetty-runner in the download cache.
fetch_all() {
  maven_fetch "org.fcrepo:fcrepo-webapp:$FCREPO47_VERSION:war" "fcrepo-webapp-$FCREPO47_VERSION.war"
  maven_fetch "org.fcrepo:fcrepo-auth-roles-common:$FCREPO47_VERSION" \
    "fcrepo-auth-roles-common-$FCREPO47_VERSION.jar"
  maven_fetch "org.fcrepo:fcrepo-auth-roles-basic:$FCREPO47_VERSION" \
    "fcrepo-auth-roles-basic-$FCREPO47_VERSION.jar"
  maven_fetch "org.eclipse.jetty:jetty-runner:$JETTY_RUNNER_VERSION" \
    "jetty-runner-$JETTY_RUNNER_VERSION.jar"
}

# unpack WAR COMMON_JAR BASIC_JAR: the web application with authentication and authorization on.
unpack() {
  local war="$1" common_jar="$2" basic_jar="$3"
  [ -f "$WEBAPP/.unpacked" ] && return 0
  command -v unzip >/dev/null || need_debs unzip
  rm -rf "$WEBAPP.part"
  mkdir -p "$WEBAPP.part"
  (cd "$WEBAPP.part" && unzip -q "$war")
  cp "$common_jar" "$basic_jar" "$WEBAPP.part/WEB-INF/lib/"
  # Uncomment the war's own Basic security constraint and login config.
  python3 - "$WEBAPP.part/WEB-INF/web.xml" <<'PY'
import re, sys
path = sys.argv[1]
text = open(path, encoding="utf-8").read()
marker = "<!--Uncomment section below to enable Basic-Authentication-->"
head, found, tail = text.partition(marker)
if not found:
    sys.exit("web.xml: the Basic-Authentication section was not found")
tail = re.sub(r"<!--\s*(<security-constraint>.*?</login-config>)\s*-->", r"\1", tail, count=1,
              flags=re.S)
if "<!--" in tail.split("</login-config>")[0]:
    sys.exit("web.xml: could not uncomment the security constraint")
open(path, "w", encoding="utf-8").write(head + tail)
PY
  touch "$WEBAPP.part/.unpacked"
  mv "$WEBAPP.part" "$WEBAPP"
}

write_config() {
  mkdir -p "$BASE/home" "$BASE/tmp"
  write_jetty_users "$BASE"
  # ModeShape: file storage as config/file-simple, authenticated by the servlet container.
  # and with the access roles' node types (cnd/access-control.cnd, in fcrepo-auth-roles-common).
  sed -e 's/org\.fcrepo\.auth\.common\.BypassSecurityServletAuthenticationProvider/org.fcrepo.auth.common.ServletContainerAuthenticationProvider/' \
      -e 's#"node-types" : \["fedora-node-types.cnd"\]#"node-types" : ["fedora-node-types.cnd", "cnd/access-control.cnd"]#' \
    "$WEBAPP/WEB-INF/classes/config/file-simple/repository.json" >"$BASE/repository.json"
  grep -q ServletContainerAuthenticationProvider "$BASE/repository.json" \
    && grep -q access-control.cnd "$BASE/repository.json" \
    || die "file-simple/repository.json: authentication provider or node types not found"
  cat >"$BASE/repo.xml" <<'XML'
<?xml version="1.0" encoding="UTF-8"?>
<beans xmlns="http://www.springframework.org/schema/beans"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    xmlns:context="http://www.springframework.org/schema/context"
    xmlns:p="http://www.springframework.org/schema/p"
    xsi:schemaLocation="
    http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans-3.0.xsd
    http://www.springframework.org/schema/context http://www.springframework.org/schema/context/spring-context-3.0.xsd">
  <!-- The war's spring/repo.xml plus authorization (basic roles) and On-Behalf-Of delegation. -->
  <context:annotation-config/>
  <bean name="modeshapeRepofactory"
      class="org.fcrepo.kernel.modeshape.spring.ModeShapeRepositoryFactoryBean"
      p:repositoryConfiguration="${fcrepo.modeshape.configuration}"
      depends-on="authenticationProvider"/>
  <bean class="org.modeshape.jcr.ModeShapeEngine" init-method="start"/>
  <bean class="org.fcrepo.metrics.MetricsConfig"/>
  <bean id="connectionManager" class="org.apache.http.impl.conn.PoolingHttpClientConnectionManager"/>

  <!-- Access roles (POST {"user": ["reader"|"writer"|"admin"]} to <resource>/fcr:accessroles);
       the provider (RbAclAccessRolesProvider) comes by component scan. -->
  <bean class="org.fcrepo.auth.roles.common.AccessRolesTypes"/>
  <bean name="fad" class="org.fcrepo.auth.roles.basic.BasicRolesAuthorizationDelegate"/>
  <bean name="delegatedPrincipalProvider" class="org.fcrepo.auth.common.DelegateHeaderPrincipalProvider"/>
  <bean name="authenticationProvider"
      class="org.fcrepo.auth.common.ServletContainerAuthenticationProvider"
      factory-method="getInstance">
    <property name="fad" ref="fad"/>
    <property name="principalProviders">
      <set><ref bean="delegatedPrincipalProvider"/></set>
    </property>
  </bean>
</beans>
XML
}

launch() {
  command -v java >/dev/null || need_debs openjdk-17-jre-headless
  local files
  mapfile -t files < <(fetch_all)
  unpack "${files[0]}" "${files[1]}" "${files[2]}"
  write_config
  # (from its home: ModeShape and Arjuna write relative to the working folder too)
  # shellcheck disable=SC2086  # FEDORA47_JAVA_OPTS: several options
  (cd "$BASE/home" && run_logged java -Xms256m -Xmx1g "${JAVA_OPENS[@]}" ${FEDORA47_JAVA_OPTS:-} \
    -Djava.io.tmpdir="$BASE/tmp" \
    -Dfcrepo.home="$BASE/home" \
    -Dfcrepo.modeshape.configuration="file:$BASE/repository.json" \
    -Dfcrepo.spring.repo.configuration="file:$BASE/repo.xml" \
    -Dfcrepo.object.directory="$BASE/home/objects" \
    -Dfcrepo.binary.directory="$BASE/home/binaries" \
    -Dfcrepo.activemq.directory="$BASE/home/activemq" \
    -Dcom.arjuna.ats.arjuna.common.ObjectStoreEnvironmentBean.default.objectStoreDir="$BASE/home/tx-store" \
    -Dcom.arjuna.ats.arjuna.objectstore.objectStoreDir="$BASE/home/tx-store" \
    -Dfcrepo.dynamic.jms.port="$JMS_PORT" -Dfcrepo.dynamic.stomp.port="$STOMP_PORT" \
    -jar "${files[3]}" --host "$SERVICE_HOST" --port "$SERVICE_PORT" --config "$BASE/jetty.xml" \
    --path / "$WEBAPP")
}

# failed: the webapp did not deploy (e.g. a ModeShape store whose node types name a prefix
# its namespace registry lost): Jetty runs on and answers 503, so waiting is no use.
failed() {
  grep -q -e "Context initialization failed" -e "Failed startup of context" "$LOGFILE" 2>/dev/null
}

service_main "$@"
