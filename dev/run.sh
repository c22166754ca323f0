#!/usr/bin/env bash
# Installs plastrond, starts the local ActiveMQ and Fedora, and runs plastrond against them
# with dev/plastrond.yml. The mode defaults to stomp: `dev/run.sh http` serves the HTTP API.
# It creates the container the sample imports into (REPOSITORY.RELPATH, /pcdm) when missing;
# README "Your first job" sends it work.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash dev/setup.sh
bash services/activemq.sh >/dev/null
bash services/fedora.sh >/dev/null
export PLASTROND_DEV_STATE="${PLASTROND_DEV_STATE:-$PWD/.services/dev}"
export PLASTROND_DEV_ROOT="$PWD"
mkdir -p "$PLASTROND_DEV_STATE/jobs" "$PLASTROND_DEV_STATE/exports" "$PLASTROND_DEV_STATE/binaries"
container="${PLASTROND_DEV_CONTAINER:-http://127.0.0.1:8080/fcrepo/rest/pcdm}"
auth="${FEDORA_ADMIN_USER:-fedoraAdmin}:${FEDORA_ADMIN_PASSWORD:-fedoraAdmin}"
status="$(curl -s -o /dev/null -w '%{http_code}' -u "$auth" "$container")"
if [ "$status" = 404 ]; then
  curl -fsS -o /dev/null -u "$auth" -X PUT "$container"
  echo "created $container" >&2
elif [ "$status" != 200 ]; then
  echo "dev/run.sh: $container answers $status; the sample imports into it" >&2
  exit 1
fi
exec .venv/bin/plastrond -c dev/plastrond.yml "${@:-stomp}"
