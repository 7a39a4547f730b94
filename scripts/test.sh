#!/usr/bin/env bash
# Install what is missing, then run the test suite against real Mosquitto and InfluxDB.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
