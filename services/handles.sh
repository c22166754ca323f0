#!/usr/bin/env bash
# A stand-in for UMD's umd-handle service (handles.md's API v1), for tests: nobody can run
# umd-handle here. services/handle_service.py, Python's standard library only.
#   services/handles.sh [start|stop|restart|status|pid]
# Listens on 127.0.0.1:$HANDLE_SERVICE_PORT (default 3010); its bearer token and handles live
# under $PLASTROND_SERVICES_STATE/handles (kept across restarts). start prints the API's base
# URL and the path of the token file.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

HOST=127.0.0.1
PORT="${HANDLE_SERVICE_PORT:-3010}"
BASE="$STATE_DIR/handles"
PIDFILE="$BASE/handles.pid"
LOGFILE="$BASE/handles.log"
PYTHON="${PYTHON:-python3}"

ready() {
  [ -s "$BASE/token" ] || return 1
  local answer
  answer="$( (exec 3<>"/dev/tcp/$HOST/$PORT" || exit 1
    printf 'GET /api/v1/handles/info?prefix=0&suffix=0 HTTP/1.0\r\nAuthorization: Bearer %s\r\n\r\n' \
      "$(cat "$BASE/token")" >&3
    timeout 5 head -c 200 <&3) 2>/dev/null || true)"
  [[ "$answer" == "HTTP/1."*" 200 "* ]]
}

where() {
  echo "http://$HOST:$PORT/api/v1"
  echo "token_file=$BASE/token"
}

start() {
  if ready; then
    # It answered with this folder's token: it is the service of this folder.
    log "handle service already answers at $HOST:$PORT"
    where
    return 0
  fi
  if port_open "$HOST" "$PORT"; then
    die "port $HOST:$PORT is taken by something that is not this handle service"
  fi
  mkdir -p "$BASE"
  chmod 700 "$BASE"
  log "starting the handle service; log in $LOGFILE"
  # The service writes its pid file itself once it holds the port: of two starts at once,
  # the one that lost the port leaves no pid behind.
  nohup "$PYTHON" "$SERVICES_DIR/handle_service.py" --port "$PORT" --state "$BASE" \
    --pidfile "$PIDFILE" >>"$LOGFILE" 2>&1 </dev/null &
  if ! wait_until 30 "handle service" ready; then
    tail -n 20 "$LOGFILE" >&2 || true
    die "the handle service did not answer at $HOST:$PORT in time"
  fi
  where
}

stop() {
  if pid_alive "$PIDFILE"; then
    kill "$(cat "$PIDFILE")"
    log "handle service stopped"
  else
    log "the handle service is not running from $BASE"
  fi
  rm -f "$PIDFILE"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  restart) stop; sleep 1; start ;;
  status) if ready; then echo "up"; where; else echo "down"; exit 1; fi ;;
  pid) pid_alive "$PIDFILE" && cat "$PIDFILE" ;;
  *) die "usage: $0 [start|stop|restart|status|pid]" ;;
esac
