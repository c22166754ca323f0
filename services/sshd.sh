#!/usr/bin/env bash
# OpenSSH's sshd (Debian's openssh-server) on loopback, for SFTP sources and destinations.
#   services/sshd.sh [start|stop|restart|status|pid]
# Listens on 127.0.0.1:$SSHD_PORT (default 2222) with a host key and a client key of its own
# under $PLASTROND_SERVICES_STATE/sshd; the client key logs in as the user running the script.
# start prints sftp://USER@127.0.0.1:PORT and the paths of the client key and known_hosts.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

HOST=127.0.0.1
PORT="${SSHD_PORT:-2222}"
BASE="$STATE_DIR/sshd"
PIDFILE="$BASE/sshd.pid"
LOGFILE="$BASE/sshd.log"
USER_NAME="$(id -un)"

ssh_ready() {
  local banner
  banner="$( (exec 3<>"/dev/tcp/$HOST/$PORT" || exit 1; timeout 5 head -c 7 <&3) 2>/dev/null || true)"
  [ "$banner" = "SSH-2.0" ]
}

where() {
  echo "sftp://$USER_NAME@$HOST:$PORT"
  echo "key=$BASE/client_key"
  echo "known_hosts=$BASE/known_hosts"
}

write_config() {
  mkdir -p "$BASE"
  chmod 700 "$BASE"
  [ -f "$BASE/host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$BASE/host_ed25519_key"
  [ -f "$BASE/client_key" ] || ssh-keygen -q -t rsa -b 3072 -m PEM -N '' -f "$BASE/client_key"
  cp "$BASE/client_key.pub" "$BASE/authorized_keys"
  printf '[%s]:%s %s\n' "$HOST" "$PORT" "$(cut -d' ' -f1,2 "$BASE/host_ed25519_key.pub")" \
    >"$BASE/known_hosts"
  cat >"$BASE/sshd_config" <<CONF
ListenAddress $HOST:$PORT
HostKey $BASE/host_ed25519_key
PidFile $PIDFILE
AuthorizedKeysFile $BASE/authorized_keys
AllowUsers $USER_NAME
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
X11Forwarding no
AllowTcpForwarding no
Subsystem sftp internal-sftp
LogLevel INFO
CONF
}

start() {
  if ssh_ready; then
    # The keys printed must be those of the server that answers: only ours will do.
    pid_alive "$PIDFILE" \
      || die "an SSH server not started from $BASE answers at $HOST:$PORT; stop it or set SSHD_PORT"
    log "sshd already answers at $HOST:$PORT"
    where
    return 0
  fi
  if port_open "$HOST" "$PORT"; then
    die "port $HOST:$PORT is taken by something that is not an SSH server"
  fi
  [ -x /usr/sbin/sshd ] || need_debs openssh-server
  write_config
  mkdir -p /run/sshd 2>/dev/null || true
  log "starting sshd; log in $LOGFILE"
  /usr/sbin/sshd -f "$BASE/sshd_config" -E "$LOGFILE"
  if ! wait_until 30 "sshd" ssh_ready; then
    tail -n 20 "$LOGFILE" >&2 || true
    die "sshd did not answer at $HOST:$PORT in time"
  fi
  where
}

stop() {
  if pid_alive "$PIDFILE"; then
    kill "$(cat "$PIDFILE")"
    log "sshd stopped"
  else
    log "sshd is not running from $BASE"
  fi
  rm -f "$PIDFILE"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  restart) stop; sleep 1; start ;;
  status) if ssh_ready; then echo "up"; where; else echo "down"; exit 1; fi ;;
  pid) pid_alive "$PIDFILE" && cat "$PIDFILE" ;;
  *) die "usage: $0 [start|stop|restart|status|pid]" ;;
esac
