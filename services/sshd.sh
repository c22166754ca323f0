#!/usr/bin/env bash
# OpenSSH's sshd (Debian's openssh-server) on loopback, for SFTP sources and destinations.
#   services/sshd.sh [start|stop|restart|status|pid]   (the contract: common.sh)
# Listens on 127.0.0.1:$SSHD_PORT (default 2222) with a host key and a client key of its own
# under $PLASTROND_SERVICES_STATE/sshd; the client key logs in as the user running the script.
# start prints sftp://USER@127.0.0.1:PORT and the paths of the client key and known_hosts.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SERVICE=sshd
SERVICE_HOST=127.0.0.1
SERVICE_PORT="${SSHD_PORT:-2222}"
BASE="$STATE_DIR/sshd"
PIDFILE="$BASE/sshd.pid"
LOGFILE="$BASE/sshd.log"
START_TIMEOUT=30
LOG_TAIL=20
PORT_TAKEN="something that is not an SSH server"
USER_NAME="$(id -un)"

ready() {
  local banner
  banner="$( (exec 3<>"/dev/tcp/$SERVICE_HOST/$SERVICE_PORT" || exit 1; timeout 5 head -c 7 <&3) 2>/dev/null || true)"
  [ "$banner" = "SSH-2.0" ]
}

# ours: the keys printed must be those of the server that answers: only ours will do.
ours() {
  pid_alive "$PIDFILE" \
    || die "an SSH server not started from $BASE answers at $SERVICE_HOST:$SERVICE_PORT; stop it or set SSHD_PORT"
}

where() {
  echo "sftp://$USER_NAME@$SERVICE_HOST:$SERVICE_PORT"
  echo "key=$BASE/client_key"
  echo "known_hosts=$BASE/known_hosts"
}

write_config() {
  chmod 700 "$BASE"
  [ -f "$BASE/host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$BASE/host_ed25519_key"
  [ -f "$BASE/client_key" ] || ssh-keygen -q -t rsa -b 3072 -m PEM -N '' -f "$BASE/client_key"
  cp "$BASE/client_key.pub" "$BASE/authorized_keys"
  printf '[%s]:%s %s\n' "$SERVICE_HOST" "$SERVICE_PORT" "$(cut -d' ' -f1,2 "$BASE/host_ed25519_key.pub")" \
    >"$BASE/known_hosts"
  cat >"$BASE/sshd_config" <<CONF
ListenAddress $SERVICE_HOST:$SERVICE_PORT
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

launch() {
  [ -x /usr/sbin/sshd ] || need_debs openssh-server
  write_config
  mkdir -p /run/sshd 2>/dev/null || true
  # sshd detaches by itself and writes PIDFILE (PidFile above).
  /usr/sbin/sshd -f "$BASE/sshd_config" -E "$LOGFILE"
}

service_main "$@"
