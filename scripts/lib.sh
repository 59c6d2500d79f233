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
# TRACING=1 (make up TRACING=1) adds the tracing part for this command, as
# COMPOSE_FILE=compose.yaml:compose.tracing.yaml in .env does for all.
case ${TRACING:-} in
  ""|0|false) ;;
  1|true) export COMPOSE_FILE=compose.yaml:compose.tracing.yaml ;;
  *) echo "TRACING=$TRACING: want 1 or 0" >&2; exit 2 ;;
esac
tracing_on() { [[ ${COMPOSE_FILE:-} == *compose.tracing.yaml* ]]; }
GATEWAY_URL="http://127.0.0.1:${TYK_GATEWAY_PORT:?set in .env}"
PLUGIN_ADDR="127.0.0.1:${PLUGIN_SERVER_PORT:?set in .env}"
METRICS_URL="http://127.0.0.1:${PLUGIN_METRICS_PORT:?set in .env}/metrics"
INSPECTOR_URL="http://127.0.0.1:${INSPECTOR_PORT:?set in .env}"
