#!/usr/bin/env bash
# Installs everything and runs the whole test suite. The test fixtures start ActiveMQ and
# Fedora (services/*.sh) when they are not already running. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash dev/setup.sh
exec .venv/bin/python -m pytest "$@"
