#!/usr/bin/env bash
# Install what is missing, then run the whole local stack (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/shouwang "$@" up
