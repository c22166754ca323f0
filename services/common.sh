# Shared helpers for the service scripts. Source it; do not run it.
# shellcheck shell=bash

SERVICES_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SERVICES_DIR/.." && pwd)"
# shellcheck source=versions.env
. "$SERVICES_DIR/versions.env"

# Where running services keep their data, logs and pid files (owned by these scripts).
STATE_DIR="$(realpath -m "${PLASTROND_SERVICES_STATE:-$REPO_DIR/.services}")"
# Downloads survive fresh clones here, so a second run does not fetch again.
CACHE_DIR="${PLASTROND_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/plastrond}"

log() { printf '%s: %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# port_open HOST PORT: true when something accepts TCP connections there.
port_open() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# need_debs PKG...: install Debian packages that are missing (needs root).
need_debs() {
  local missing=()
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if [ ! -f "$STATE_DIR/.apt-updated" ] && [ -z "${PLASTROND_SKIP_APT_UPDATE:-}" ]; then
    $sudo apt-get update -q >/dev/null
    mkdir -p "$STATE_DIR" && touch "$STATE_DIR/.apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# maven_fetch GROUP:ARTIFACT:VERSION[:PACKAGING] FILE: copy an artifact from Maven Central
# into the cache once; prints the cached path.
maven_fetch() {
  local coords="$1" name="$2"
  local dest="$CACHE_DIR/maven/$name"
  if [ ! -s "$dest" ]; then
    command -v mvn >/dev/null || need_debs maven
    mkdir -p "$CACHE_DIR/maven"
    log "fetching $coords from Maven Central"
    local tmp
    tmp="$(mktemp -d)"
    (cd "$tmp" && mvn -q -B dependency:copy -Dartifact="$coords" -DoutputDirectory="$tmp/out" \
        -Dmdep.stripVersion=false >"$tmp/mvn.log" 2>&1) \
      || { cat "$tmp/mvn.log" >&2; rm -rf "$tmp"; die "could not fetch $coords"; }
    mv "$tmp/out/"* "$dest.part" && mv "$dest.part" "$dest"
    rm -rf "$tmp"
  fi
  printf '%s\n' "$dest"
}

# pid_alive FILE: true when FILE names a running process.
pid_alive() {
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

# wait_until SECONDS DESCRIPTION COMMAND...: poll COMMAND (four times a second) until it
# succeeds; fails after SECONDS.
wait_until() {
  local limit="$1" what="$2"
  shift 2
  local start=$SECONDS
  until "$@"; do
    if (( SECONDS - start >= limit )); then
      return 1
    fi
    sleep 0.25
  done
  log "$what ready after $((SECONDS - start)) s"
}

# --- Both Fedoras (fedora.sh, fedora47.sh) ------------------------------------------------------
# Their users (HTTP Basic, realm "fcrepo"), the same on both.
FEDORA_ADMIN_USER="${FEDORA_ADMIN_USER:-fedoraAdmin}"
FEDORA_ADMIN_PASSWORD="${FEDORA_ADMIN_PASSWORD:-fedoraAdmin}"
FEDORA_TEST_USER="${FEDORA_TEST_USER:-testuser}"
FEDORA_TEST_PASSWORD="${FEDORA_TEST_PASSWORD:-testpass}"

# fedora_answers REST_URL: true when Fedora answers its REST root to the admin user.
fedora_answers() {
  local code
  code="$(curl -s -o /dev/null -w '%{http_code}' -m 10 -u "$FEDORA_ADMIN_USER:$FEDORA_ADMIN_PASSWORD" \
          -H 'Accept: text/turtle' "$1/" 2>/dev/null || true)"
  [ "$code" = "200" ]
}

# fedora_service: what fedora.sh and fedora47.sh share of the service contract below, for a
# script that has set REST (its REST root).
fedora_service() {
  START_TIMEOUT="${FEDORA_START_TIMEOUT:-300}"
  STOP_TIMEOUT=60
  LOG_TAIL=40
  PORT_TAKEN="something that is not this Fedora (or rejects its users)"
  prepare() { command -v curl >/dev/null || need_debs curl; }
  ready() { fedora_answers "$REST"; }
  where() { echo "$REST"; }
}

# write_jetty_users DIR: the users' realm.properties and the jetty.xml that makes Jetty read it.
write_jetty_users() {
  local dir="$1"
  mkdir -p "$dir"
  umask 077  # the passwords: this and all the service writes after it are private
  printf '%s: %s,fedoraAdmin\n%s: %s,fedoraUser\n' \
    "$FEDORA_ADMIN_USER" "$FEDORA_ADMIN_PASSWORD" "$FEDORA_TEST_USER" "$FEDORA_TEST_PASSWORD" \
    >"$dir/realm.properties"
  cat >"$dir/jetty.xml" <<XML
<?xml version="1.0"?>
<!DOCTYPE Configure PUBLIC "-//Jetty//Configure//EN" "http://www.eclipse.org/jetty/configure_9_3.dtd">
<Configure id="Server" class="org.eclipse.jetty.server.Server">
  <Call name="addBean">
    <Arg>
      <New class="org.eclipse.jetty.security.HashLoginService">
        <Set name="name">fcrepo</Set>
        <Set name="config">$dir/realm.properties</Set>
      </New>
    </Arg>
  </Call>
</Configure>
XML
}

# --- The contract every service script keeps ----------------------------------------------------
#   services/<name>.sh [start|stop|restart|status|pid]
# start (the default) is idempotent: a service that already answers is reused and only said
# where; one that is still starting (its pid file names a live process) is waited for; else it
# is launched. start returns once the service answers and prints where it is (stdout, the part
# callers read); it fails at once when the process it waits for has exited. stop ends the
# process of this state folder (SIGTERM, then SIGKILL after STOP_TIMEOUT s); restart is stop
# then start; status prints "up <where>" (exit 0) or "down" (exit 1); pid prints the pid of the
# running process of this state folder (exit 1 when there is none).
#
# A script sets SERVICE (its name in messages), BASE (its state folder), PIDFILE, LOGFILE,
# SERVICE_HOST and SERVICE_PORT (where it listens: start refuses a port held by something that
# does not answer; leave SERVICE_PORT empty for a service that listens nowhere), and optionally
# START_TIMEOUT (default 60), STOP_TIMEOUT (default 30), LOG_TAIL (lines of LOGFILE shown when
# start fails, default 30), PORT_TAKEN (what the holder of a taken port is said to be) and
# EXTRA_COMMANDS (more commands, each a function cmd_<name>). It defines the functions
#   ready    true when the service answers (quietly)
#   where    prints where it is: the first line a URL, then key=value lines
#   launch   installs what is missing, writes the configuration and starts the service in the
#            background (run_logged writes the pid file; or the service writes it itself)
# and may define
#   prepare  run first by every start (installs what ready itself needs, e.g. curl)
#   ours     run when something answers at start: fails (die) when it is not this folder's
#   failed   true when the service can no longer come up although its process runs (e.g. a
#            webapp that did not deploy, its container answering 503): the start fails at once
#   then ends with `service_main "$@"`.

# run_logged COMMAND...: start COMMAND in a session of its own, detached, its output in
# LOGFILE, its pid in PIDFILE.
run_logged() {
  setsid nohup "$@" >"$LOGFILE" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
}

# service_up: true when the service answers; fails the start (die) when the process its pid
# file names has exited without answering.
service_up() {
  ready && return 0
  if declare -F failed >/dev/null && failed; then
    tail -n "${LOG_TAIL:-30}" "$LOGFILE" >&2 || true
    die "$SERVICE failed to start (log: $LOGFILE)"
  fi
  if [ -s "$PIDFILE" ] && ! pid_alive "$PIDFILE"; then
    ready && return 0
    tail -n "${LOG_TAIL:-30}" "$LOGFILE" >&2 || true
    rm -f "$PIDFILE"
    die "$SERVICE exited while starting (log: $LOGFILE)"
  fi
  return 1
}

# forget_stale_pid: remove a pid file left by a process that has ended (it would end the
# wait for the new one at once), never one a service has just written.
forget_stale_pid() {
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && [ "$(cat "$PIDFILE" 2>/dev/null)" = "$pid" ]; then
    rm -f "$PIDFILE"
  fi
}

service_start() {
  if declare -F prepare >/dev/null; then prepare; fi
  if ready; then
    if declare -F ours >/dev/null; then ours; fi
    log "$SERVICE already answers at $(where | head -n 1)"
    where
    return 0
  fi
  if pid_alive "$PIDFILE"; then
    log "$SERVICE (pid $(cat "$PIDFILE")) is starting; waiting"
  else
    if [ -n "${SERVICE_PORT:-}" ] && port_open "$SERVICE_HOST" "$SERVICE_PORT"; then
      die "port $SERVICE_HOST:$SERVICE_PORT is taken by ${PORT_TAKEN:-something that is not this $SERVICE}"
    fi
    mkdir -p "$BASE"
    forget_stale_pid
    log "starting $SERVICE; log in $LOGFILE"
    launch
  fi
  if ! wait_until "${START_TIMEOUT:-60}" "$SERVICE" service_up; then
    tail -n "${LOG_TAIL:-30}" "$LOGFILE" >&2 || true
    die "$SERVICE did not answer in ${START_TIMEOUT:-60} s (log: $LOGFILE)"
  fi
  where
}

service_stop() {
  if pid_alive "$PIDFILE"; then
    local pid
    pid="$(cat "$PIDFILE")"
    kill -CONT "$pid" 2>/dev/null || true  # a frozen (SIGSTOP) process cannot end
    kill "$pid" 2>/dev/null || true
    local waited=0
    while kill -0 "$pid" 2>/dev/null && (( waited < ${STOP_TIMEOUT:-30} * 10 )); do
      sleep 0.1
      waited=$((waited + 1))
    done
    kill -9 "$pid" 2>/dev/null || true
    log "$SERVICE stopped"
  else
    log "$SERVICE is not running from $BASE"
  fi
  rm -f "$PIDFILE"
}

service_status() {
  if ! ready; then
    echo "down"
    return 1
  fi
  local lines
  mapfile -t lines < <(where)
  if [ "${#lines[@]}" -eq 1 ]; then
    echo "up ${lines[0]}"
  else
    echo "up"
    printf '%s\n' "${lines[@]}"
  fi
}

service_main() {
  local command="${1:-start}"
  case "$command" in
    start) service_start ;;
    stop) service_stop ;;
    restart) service_stop; service_start ;;
    status) service_status ;;
    pid) pid_alive "$PIDFILE" && cat "$PIDFILE" ;;
    *)
      if [[ " ${EXTRA_COMMANDS:-} " == *" $command "* ]]; then
        "cmd_$command"
      else
        local usage="start|stop|restart|status|pid"
        [ -z "${EXTRA_COMMANDS:-}" ] || usage="$usage|${EXTRA_COMMANDS// /|}"
        die "usage: $0 [$usage]"
      fi
      ;;
  esac
}
