# Shared by the scripts: run from the repository root, read .env.
# shellcheck shell=bash
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# As compose does, a variable already set in the environment wins over
# .env (the e2e suite runs these scripts on its own copy of the lab).
if [[ -f .env ]]; then
  while IFS= read -r line; do
    [[ $line =~ ^([A-Z_][A-Z0-9_]*)=(.*)$ ]] || continue
    [[ -n ${!BASH_REMATCH[1]+set} ]] && continue
    export "${BASH_REMATCH[1]}=${BASH_REMATCH[2]}"
  done <.env
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
GATEWAY_URL="http://$($COMPOSE port tyk-gateway 8080 2>/dev/null | tail -1 || true)"
[[ $GATEWAY_URL != http:// ]] || GATEWAY_URL="http://127.0.0.1:${TYK_GATEWAY_PORT:?set in .env}"
# The ports are ranges (one port per replica): the first replica's, as
# Docker bound it, else the range's first.
first_port() { # container port, range
  local p
  p=$($COMPOSE port --index 1 plugin-server "$1" 2>/dev/null | tail -1) || true
  echo "${p:-127.0.0.1:${2%%-*}}"
}
PLUGIN_ADDR=$(first_port 50051 "$PLUGIN_SERVER_PORT")
METRICS_URL="http://$(first_port 9464 "$PLUGIN_METRICS_PORT")/metrics"
INSPECTOR_URL="http://127.0.0.1:${INSPECTOR_PORT:?set in .env}"

# check_replicas fails, saying why, unless PLUGIN_REPLICAS is a whole number
# from 1 to the size of the port ranges.
check_replicas() {
  local n=${PLUGIN_REPLICAS:-}
  if ! [[ $n =~ ^[1-9][0-9]*$ ]]; then
    echo "PLUGIN_REPLICAS=\"$n\" (.env): want a positive whole number of plugin servers, e.g. 1 or 3. Nothing was started." >&2
    exit 2
  fi
  if ((n > $(port_room))); then
    echo "PLUGIN_REPLICAS=$n (.env): the port range PLUGIN_SERVER_PORT=$PLUGIN_SERVER_PORT has room for $(port_room); widen it (and PLUGIN_METRICS_PORT). Nothing was started." >&2
    exit 2
  fi
}

# port_room is how many replicas the port range has room for (random
# ports, 0: any number).
port_room() {
  local first=${PLUGIN_SERVER_PORT%%-*} last=${PLUGIN_SERVER_PORT##*-}
  if ((first == 0)); then echo 999999; else echo $((last - first + 1)); fi
}

# replicas_text says where each plugin server listens.
replicas_text() {
  local ids id grpc metrics n=0
  ids=$($COMPOSE ps -q plugin-server)
  for id in $ids; do n=$((n + 1)); done
  if ((n <= 1)); then
    echo "plugin server $(first_port 50051 "$PLUGIN_SERVER_PORT") (gRPC), its Prometheus metrics http://$(first_port 9464 "$PLUGIN_METRICS_PORT")/metrics."
    return
  fi
  echo "$n plugin servers behind the gateway's round robin (gRPC, metrics):"
  for id in $ids; do
    grpc=$(docker port "$id" 50051/tcp | head -1)
    metrics=$(docker port "$id" 9464/tcp | head -1)
    printf '  %-32s %s  http://%s/metrics\n' "$(docker inspect -f '{{.Name}}' "$id" | tr -d /)" "$grpc" "$metrics"
  done
}

# wait_apis returns once api-loader has seen every API answer through the
# gateway after the moment it is called (at most 2 minutes): what a make
# target that recreated the gateway or a plugin server waits for.
wait_apis() {
  local since now deadline=$((SECONDS + 120))
  since=$(date +%s%3N)
  sleep 0.2
  until now=$(date +%s%3N) && $COMPOSE exec -T api-loader /api-loader healthcheck -max-age "$((now - since))ms" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      echo "the APIs did not all answer within 2 minutes; see make logs" >&2
      return 1
    fi
    sleep 0.25
  done
}
