#!/usr/bin/env bash
# Builds and starts the lab and waits until api-loader reports every API
# answering; on failure shows the logs of what did not come up.
source "$(dirname "$0")/lib.sh"

# Bad settings stop here, before anything starts: the replica count, then
# the plugin server's own settings, checked by the image just built.
check_replicas
$COMPOSE build
running=$($COMPOSE ps -q)
if ! $COMPOSE run --rm --no-deps -T plugin-server -check; then
  # The check's run made the lab's network: leave nothing behind.
  [[ -n $running ]] || $COMPOSE down --remove-orphans >/dev/null 2>&1 || true
  echo "up: the plugin server's settings (.env, compose.yaml) are wrong: see above. Nothing was started." >&2
  exit 1
fi

unhealthy() {
  echo >&2
  echo "The lab did not become healthy. Service states and recent logs:" >&2
  $COMPOSE ps --all >&2
  $COMPOSE logs --tail=40 >&2
  exit 1
}

# stale_replicas lists the running plugin servers that compose would
# recreate: built from an older image, or from another configuration (the
# service's config hash).
stale_replicas() {
  local want id image name hash
  want=$($COMPOSE config --hash plugin-server | awk '{print $2}')
  for id in $($COMPOSE ps -q plugin-server); do
    read -r image name hash < <(docker inspect -f '{{.Image}} {{.Config.Image}} {{index .Config.Labels "com.docker.compose.config-hash"}}' "$id")
    if [[ $hash != "$want" || $image != "$(docker image inspect -f '{{.Id}}' "$name")" ]]; then
      echo "$id"
    fi
  done
}

replicas=$($COMPOSE ps -q plugin-server)
if [[ -z $replicas ]]; then
  $COMPOSE up --detach --wait --wait-timeout 300 || unhealthy
else
  # Plugin servers are running: compose would recreate all of them at once
  # when their image or configuration changed, failing every call until
  # one is back. Instead the rest of the lab comes up as usual, the plugin
  # servers are left alone, and then replicas are removed or added without
  # touching the others, and stale ones rolled over one at a time (make
  # rollout).
  # shellcheck disable=SC2046 # one service name per word
  $COMPOSE up --detach --wait --wait-timeout 300 --no-deps $($COMPOSE config --services | grep -vx plugin-server) || unhealthy
  n=$(wc -w <<<"$replicas")
  if ((n > PLUGIN_REPLICAS)); then
    echo "up: $n plugin servers run, PLUGIN_REPLICAS=$PLUGIN_REPLICAS: stopping $((n - PLUGIN_REPLICAS)) (each finishes its calls first)"
    $COMPOSE up --detach --wait --no-deps --no-recreate --scale "plugin-server=$PLUGIN_REPLICAS" plugin-server || unhealthy
  fi
  waited=0
  if [[ -n $(stale_replicas) ]]; then
    echo "up: the running plugin servers are of an older build or configuration: replacing them one at a time (make rollout), never all at once"
    bash "$(dirname "$0")/rollout.sh" # waits for the APIs
    waited=1
  fi
  if ((n < PLUGIN_REPLICAS)); then
    echo "up: $n plugin servers run, PLUGIN_REPLICAS=$PLUGIN_REPLICAS: adding $((PLUGIN_REPLICAS - n)), the running ones untouched"
    $COMPOSE up --detach --wait --no-deps --no-recreate --scale "plugin-server=$PLUGIN_REPLICAS" plugin-server || unhealthy
    waited=0
  fi
  ((waited)) || wait_apis
fi

# The examples' APIs, while apis/ has them (make remove-examples deletes them).
examples=""
if [[ -f apis/classic-examples.json ]]; then
  examples+=$'\n'"  curl -H 'Authorization: Bearer lab-token-alice' $GATEWAY_URL/examples/anything/hello      # all five example hooks (Classic)"
fi
if [[ -f apis/oas-examples.json ]]; then
  examples+=$'\n'"  curl -H 'Authorization: Bearer lab-token-alice' $GATEWAY_URL/oas-examples/anything/hello  # the same, Tyk OAS"
fi
if [[ -f apis/classic-config.json && -f apis/oas-config.json ]]; then
  examples+=$'\n'"  curl $GATEWAY_URL/config/anything/hello  $GATEWAY_URL/oas-config/anything/hello  # one hook, each API's config_data"
fi

cat <<TXT

The lab is up: Tyk Gateway $GATEWAY_URL, $(replicas_text)

Inspector: $INSPECTOR_URL  (open it, send a request below, click it: every hook's
received and returned object, what changed, and what the gateway does with it)
$(if tracing_on; then echo "Tracing is on: Jaeger http://127.0.0.1:${JAEGER_UI_PORT:?set in .env} (the trace of each request: gateway and every hook)."; else echo "Tracing is off: make up TRACING=1 adds Jaeger and traces every hook."; fi)

APIs (apis/) in front of go-httpbin (/anything echoes the request):
  curl -H 'X-Request-Id: hello-1' $GATEWAY_URL/classic/anything/hello     # Tyk Classic, keyless: MyPreRequestPlugin, MyResponsePlugin
  curl -H 'X-Request-Id: hello-2' $GATEWAY_URL/oas/anything/hello         # Tyk OAS, keyless: the same hooks
  curl -H 'Authorization: lab-demo-key' $GATEWAY_URL/auth/anything/hello  # Tyk Classic, auth token: the same hooks$examples
  curl $GATEWAY_URL/no-plugins/anything/hello                             # no plugins (baseline)

What the plugin server received (or open the inspector):
  make smoke      # call each API, show the dispatches and what each hook changed
  make capture    # write what the gateway sent, for plugintest unit tests
  make dev        # the plugin server rebuilt and swapped on every save
  make journal    # last journal records
  make logs       # every service's log

Talk to the plugin server directly:
  make grpcurl-dispatch     # scripts/grpcurl-dispatch.sh
  go tool grpcurl -plaintext $PLUGIN_ADDR list

Stop everything: make down
TXT
