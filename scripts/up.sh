#!/usr/bin/env bash
# Builds and starts the lab and waits until api-loader reports every API
# answering; on failure shows the logs of what did not come up.
source "$(dirname "$0")/lib.sh"

if ! $COMPOSE up --detach --build --wait --wait-timeout 300; then
  echo >&2
  echo "The lab did not become healthy. Service states and recent logs:" >&2
  $COMPOSE ps --all >&2
  $COMPOSE logs --tail=40 >&2
  exit 1
fi

cat <<TXT

The lab is up: Tyk Gateway $GATEWAY_URL, plugin server $PLUGIN_ADDR (gRPC).

APIs (apis/), each calling MyPreRequestPlugin then MyResponsePlugin:
  curl -H 'X-Request-Id: hello-1' $GATEWAY_URL/classic/hello     # Tyk Classic, keyless
  curl -H 'X-Request-Id: hello-2' $GATEWAY_URL/oas/hello         # Tyk OAS, keyless
  curl -H 'Authorization: lab-demo-key' $GATEWAY_URL/auth/hello  # Tyk Classic, auth token
  curl $GATEWAY_URL/no-plugins/hello                             # no plugins (baseline)

What the plugin server received:
  make smoke      # call each API, show the dispatches
  make journal    # last journal records
  make logs       # every service's log

Talk to the plugin server directly:
  make grpcurl-dispatch     # scripts/grpcurl-dispatch.sh
  go tool grpcurl -plaintext $PLUGIN_ADDR list

Stop everything: make down
TXT
