#!/usr/bin/env bash
# A stand-in for UMD's umd-handle service (handles.md's API v1), for tests: nobody can run
# umd-handle here. services/handle_service.py, Python's standard library only.
#   services/handles.sh [start|stop|restart|status|pid]   (the contract: common.sh)
# Listens on 127.0.0.1:$HANDLE_SERVICE_PORT (default 3010); its bearer token and handles live
# under $PLASTROND_SERVICES_STATE/handles (kept across restarts). start prints the API's base
# URL and the path of the token file.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SERVICE="handle service"
SERVICE_HOST=127.0.0.1
SERVICE_PORT="${HANDLE_SERVICE_PORT:-3010}"
BASE="$STATE_DIR/handles"
PIDFILE="$BASE/handles.pid"
LOGFILE="$BASE/handles.log"
START_TIMEOUT=30
LOG_TAIL=20
PYTHON="${PYTHON:-python3}"

# ready: it answers with this folder's token, so it is the service of this folder.
ready() {
  [ -s "$BASE/token" ] || return 1
  local answer
  answer="$( (exec 3<>"/dev/tcp/$SERVICE_HOST/$SERVICE_PORT" || exit 1
    printf 'GET /api/v1/handles/info?prefix=0&suffix=0 HTTP/1.0\r\nAuthorization: Bearer %s\r\n\r\n' \
      "$(cat "$BASE/token")" >&3
    timeout 5 head -c 200 <&3) 2>/dev/null || true)"
  [[ "$answer" == "HTTP/1."*" 200 "* ]]
}

where() {
  echo "http://$SERVICE_HOST:$SERVICE_PORT/api/v1"
  echo "token_file=$BASE/token"
}

launch() {
  chmod 700 "$BASE"
  # The service writes its pid file itself once it holds the port: of two starts at once,
  # the one that lost the port leaves no pid behind (and waits for the other's).
  nohup "$PYTHON" "$SERVICES_DIR/handle_service.py" --port "$SERVICE_PORT" --state "$BASE" \
    --pidfile "$PIDFILE" >>"$LOGFILE" 2>&1 </dev/null &
}

service_main "$@"
