#!/usr/bin/env bash
# make dev: starts the lab with the gateway pointed at a plugin server on
# the host, which devloop rebuilds and restarts on every saved change.
# Ctrl-C stops the loop and points the gateway back at the lab's container.
# .env (read by lib.sh) gives the plugin server its PLUGIN_* settings.
source "$(dirname "$0")/lib.sh"

# host-gateway, as the gateway's container resolves host.docker.internal:
# the default bridge's address. Listening there keeps the plugin server off
# the host's other networks.
# (Docker Desktop: set PLUGIN_DEV_HOST=127.0.0.1.)
bridge=${PLUGIN_DEV_HOST:-$(docker network inspect bridge --format '{{range .IPAM.Config}}{{.Gateway}}{{end}}')}
if [[ -z $bridge ]]; then # Docker 20.10 leaves Gateway out: read the bridge's own address
  ifname=$(docker network inspect bridge --format '{{index .Options "com.docker.network.bridge.name"}}')
  bridge=$(ip -4 -o addr show "${ifname:-docker0}" 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -1)
fi
[[ -n $bridge ]] || { echo "dev: no address for Docker's default bridge; set PLUGIN_DEV_HOST" >&2; exit 1; }

dev=(-f compose.yaml -f compose.dev.yaml)
$COMPOSE "${dev[@]}" up --detach --build --wait --wait-timeout 300
restore() {
  trap '' PIPE INT # whoever read our output may be gone: restore all the same
  echo "dev: pointing the gateway back at the plugin-server container"
  $COMPOSE up --detach --wait tyk-gateway >/dev/null
  # Not done until every API answers again through the container.
  wait_apis && echo "dev: every API answers again"
}
trap restore EXIT
# Ctrl-C is how make dev ends: devloop stops, the gateway is pointed back,
# and the script ends well (no "Error" from make).
interrupted=0
trap 'interrupted=1' INT

echo "dev: the gateway calls $bridge:$PLUGIN_DEV_PORT; edit plugin-server/plugin/hooks.go and save"
PLUGIN_JOURNAL_REDIS_URL="redis://127.0.0.1:$LAB_REDIS_PORT/1" \
PLUGIN_CORRELATION_HEADER=X-Request-Id \
PLUGIN_LAB_HOOKS=true \
PLUGIN_GRPC_MAX_RECV_BYTES="$GRPC_MAX_MESSAGE_BYTES" \
PLUGIN_GRPC_MAX_SEND_BYTES="$GRPC_MAX_MESSAGE_BYTES" \
  go run ./plugin-server/internal/devtools/devloop -listen "$bridge:$PLUGIN_DEV_PORT" || status=$?
if ((interrupted)); then
  exit 0
fi
exit "${status:-0}"
