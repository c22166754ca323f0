#!/usr/bin/env bash
# Installs plastrond, starts the local ActiveMQ and Fedora, and runs plastrond against them
# with dev/plastrond.yml. The mode defaults to stomp: `dev/run.sh http` serves the HTTP API.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash dev/setup.sh
bash services/activemq.sh >/dev/null
bash services/fedora.sh >/dev/null
export PLASTROND_DEV_STATE="${PLASTROND_DEV_STATE:-$PWD/.services/dev}"
mkdir -p "$PLASTROND_DEV_STATE/jobs"
exec .venv/bin/plastrond -c dev/plastrond.yml "${@:-stomp}"
