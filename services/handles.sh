#!/usr/bin/env bash
# UMD's handle service, umd-handle-django (REST API v1, ../shared/reference/handles.md), run
# unmodified from ../shared/counterparts/umd-handle-django for the tests.
#   services/handles.sh [start|stop|restart|status|pid|install|token]   (the contract: common.sh)
# Listens on 127.0.0.1:$HANDLE_SERVICE_PORT (default 3010). Everything lives under
# $PLASTROND_SERVICES_STATE/handles: a copy of the application (app/, its .env), its virtual
# environment (venv/, Django and the rest from PyPI), its SQLite database (db.sqlite3, kept
# across restarts), the self-signed key and certificate its SAML settings need (saml/; SAML is
# only for its admin pages) and the JWT bearer token made with its own jwt_create_token
# (token). The first start installs all that (about 30 s); later ones only start waitress.
# start prints the API's base URL, then token_file= and db= (the SQLite file, for tests that
# count handles). HANDLE_SERVICE_SOURCE names another copy of the application;
# HANDLE_SERVICE_PYTHON the Python that makes its virtual environment (3.10 or newer).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SERVICE="handle service (umd-handle-django)"
SERVICE_HOST=127.0.0.1
SERVICE_PORT="${HANDLE_SERVICE_PORT:-3010}"
BASE="$STATE_DIR/handles"
PIDFILE="$BASE/handles.pid"
LOGFILE="$BASE/handles.log"
INSTALL_LOG="$BASE/install.log"
START_TIMEOUT="${HANDLE_SERVICE_START_TIMEOUT:-60}"
LOG_TAIL=30
SOURCE="${HANDLE_SERVICE_SOURCE:-$REPO_DIR/../shared/counterparts/umd-handle-django}"
if [ -z "${HANDLE_SERVICE_SOURCE:-}" ] && [ ! -d "$SOURCE" ]; then
  # A git worktree elsewhere: shared/ is beside the main checkout.
  common="$(git -C "$REPO_DIR" rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)"
  [ -z "$common" ] || [ ! -d "$common/../../shared" ] \
    || SOURCE="$(cd "$common/../../shared" && pwd)/counterparts/umd-handle-django"
fi
PYTHON="${HANDLE_SERVICE_PYTHON:-python3}"
APP="$BASE/app"
VENV="$BASE/venv"
EXTRA_COMMANDS="install token"

# ready: the API answers this folder's token (a JWT only this folder's JWT_SECRET signs).
ready() {
  [ -s "$BASE/token" ] && [ -f "$APP/.installed" ] || return 1
  local answer
  answer="$( (exec 3<>"/dev/tcp/$SERVICE_HOST/$SERVICE_PORT" || exit 1
    printf 'GET /api/v1/handles/info?prefix=1903.1&suffix=0 HTTP/1.1\r\nHost: %s:%s\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n' \
      "$SERVICE_HOST" "$SERVICE_PORT" "$(cat "$BASE/token")" >&3
    timeout 5 cat <&3) 2>/dev/null || true)"
  [[ "$answer" == "HTTP/1."*" 200 "* && "$answer" == *'"exists": false'* ]]
}

where() {
  echo "http://$SERVICE_HOST:$SERVICE_PORT/api/v1"
  echo "token_file=$BASE/token"
  echo "db=$BASE/db.sqlite3"
}

prepare() {
  # A state folder of the stand-in this script used to run (handles.json, a random token):
  # its files go, once its process is gone.
  if [ ! -f "$APP/.installed" ] && { [ -f "$BASE/handles.json" ] || [ -f "$BASE/token" ]; }; then
    if pid_alive "$PIDFILE"; then
      die "the old stand-in handle service (pid $(cat "$PIDFILE")) runs from $BASE: '$0 stop' it first"
    fi
    log "removing the old stand-in's handles.json and token from $BASE"
    rm -f "$BASE/handles.json" "$BASE/token" "$PIDFILE"
  fi
}

# source_stamp: what the installed copy was made from (its files' checksums).
source_stamp() {
  (cd "$SOURCE" && find . -path ./.git -prune -o -type f -print0 | LC_ALL=C sort -z \
    | xargs -0 sha1sum | sha1sum | cut -c1-40)
}

# install: the application, its virtual environment, key, .env, database and token; each only
# when missing (or, for the copy and the venv, when the source changed).
install() {
  command -v openssl >/dev/null || need_debs openssl
  umask 077  # its secrets: .env, the key, the token
  local stamp installed
  installed="$(cat "$APP/.installed" 2>/dev/null || true)"
  if [ -f "$SOURCE/pyproject.toml" ]; then
    stamp="$(source_stamp)"
  elif [ -n "$installed" ]; then
    stamp="$installed"  # the copy installed before runs as it is
  else
    die "no umd-handle-django at $SOURCE (../shared/counterparts beside the checkout; or set HANDLE_SERVICE_SOURCE)"
  fi
  if [ "$installed" != "$stamp" ]; then
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null \
      || die "umd-handle-django needs Python 3.10 or newer; set HANDLE_SERVICE_PYTHON"
    log "installing umd-handle-django from $SOURCE into $BASE (Python packages from PyPI)"
    local env_kept=""
    [ -f "$APP/.env" ] && env_kept="$(cat "$APP/.env")"
    rm -rf "$APP" "$VENV"
    cp -r "$SOURCE" "$APP"
    chmod -R u+w "$APP"
    rm -f "$APP/.installed"
    [ -z "$env_kept" ] || printf '%s\n' "$env_kept" >"$APP/.env"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$APP" >>"$INSTALL_LOG" 2>&1 \
      || { tail -n 20 "$INSTALL_LOG" >&2; die "pip could not install umd-handle-django (log: $INSTALL_LOG)"; }
  fi
  if [ ! -s "$BASE/saml/sp.key" ] || [ ! -s "$BASE/saml/sp.crt" ]; then
    mkdir -p "$BASE/saml"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$BASE/saml/sp.key" -out "$BASE/saml/sp.crt" \
      -days 3650 -subj /CN=handle-local >>"$INSTALL_LOG" 2>&1 || die "openssl could not make the SAML key"
  fi
  if [ ! -s "$APP/.env" ]; then
    cat >"$APP/.env" <<EOF
DEBUG=False
BASE_URL=http://$SERVICE_HOST:$SERVICE_PORT/
HANDLE_HTTP_PROXY_BASE=http://hdl-local.lib.umd.edu/
SECRET_KEY=$(openssl rand -hex 32)
JWT_SECRET=$(openssl rand -hex 32)
SAML_KEY_FILE=$BASE/saml/sp.key
SAML_CERT_FILE=$BASE/saml/sp.crt
SESSION_COOKIE_SECURE=False
DB_NAME=$BASE/db.sqlite3
EOF
    rm -f "$BASE/token"  # made with another JWT_SECRET
  fi
  # BASE_URL names the port (its host is the one Django allows): follow HANDLE_SERVICE_PORT.
  sed -i "s|^BASE_URL=.*|BASE_URL=http://$SERVICE_HOST:$SERVICE_PORT/|" "$APP/.env"
  manage migrate --noinput >>"$INSTALL_LOG" 2>&1 \
    || { tail -n 20 "$INSTALL_LOG" >&2; die "its database migration failed (log: $INSTALL_LOG)"; }
  if [ ! -s "$BASE/token" ]; then
    local token
    token="$(manage jwt_create_token plastrond-tests 2>>"$INSTALL_LOG" | tail -n 1)"
    [ -n "$token" ] || die "jwt_create_token printed no token (log: $INSTALL_LOG)"
    printf '%s\n' "$token" >"$BASE/token.tmp" && mv "$BASE/token.tmp" "$BASE/token"
  fi
  printf '%s\n' "$stamp" >"$APP/.installed"
}

# manage ARGS...: the application's manage.py, run from its src/ (where settings find .env).
manage() {
  (cd "$APP/src" && PYTHONPATH="$APP/src" "$VENV/bin/python" manage.py "$@")
}

launch() {
  chmod 700 "$BASE"
  : >"$INSTALL_LOG"
  install
  cd "$APP/src"
  PYTHONPATH="$APP/src" run_logged "$VENV/bin/python" -c \
    'from umd_handle.server import run; run()' --listen "$SERVICE_HOST:$SERVICE_PORT" 9>&-
}

# install: everything start needs, without starting (dev/setup.sh).
cmd_install() {
  prepare
  mkdir -p "$BASE" && chmod 700 "$BASE"
  install
  log "umd-handle-django installed in $BASE"
}

# token: print the bearer token (for a person trying the API with curl).
cmd_token() {
  [ -s "$BASE/token" ] || die "no token yet: start the service first"
  cat "$BASE/token"
}

# Two starts at once (parallel test sessions) install and launch once: the second waits for
# the first and then finds the service answering. (The service itself does not inherit the
# lock: launch closes it.)
case "${1:-start}" in
  start|restart|install)
    mkdir -p "$BASE"
    exec 9>"$BASE/.start.lock"
    flock 9
    ;;
esac
service_main "$@"
