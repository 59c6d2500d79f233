# Shared by the scripts: run from the repository root, read .env.
# shellcheck shell=bash
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [[ -f .env ]]; then
  set -a
  # shellcheck disable=SC1091
  source .env
  set +a
fi
COMPOSE=${COMPOSE:-docker compose}
GATEWAY_URL="http://127.0.0.1:${TYK_GATEWAY_PORT:?set in .env}"
PLUGIN_ADDR="127.0.0.1:${PLUGIN_SERVER_PORT:?set in .env}"
