#!/usr/bin/env bash
# Calls each lab API once with its own X-Request-Id and shows what the
# plugin server journaled for those requests: each dispatch, and after the
# arrow what the plugin did with it (unchanged, its changes, or its error).
source "$(dirname "$0")/lib.sh"

run="smoke-$(date +%s)"
upstream_saw=$(mktemp)
trap 'rm -f "$upstream_saw"' EXIT
call() { # name, then curl arguments
  local name=$1; shift
  printf '%-16s HTTP %s\n' "$name" \
    "$(curl -sS -o "$upstream_saw.$name" -D "$upstream_saw.$name.headers" -w '%{http_code}' -H "X-Request-Id: $run-$name" "$@")"
}
call classic-keyless "$GATEWAY_URL/classic/anything/smoke?x=1"
call oas-keyless     "$GATEWAY_URL/oas/anything/smoke"
call classic-auth    -H 'Authorization: lab-demo-key' "$GATEWAY_URL/auth/anything/smoke"
call auth-bad-key    -H 'Authorization: not-a-key' "$GATEWAY_URL/auth/anything/smoke"
call no-plugins      "$GATEWAY_URL/no-plugins/anything/smoke"
# The examples (plugin-server/examples), when apis/ still wires them (make
# remove-examples deletes them): all five hooks: a token of its own (the
# gateway caches a token's session), a JSON body and a header for
# ExamplePreRequest to change, Post's short-circuit, a bad token.
has() { [[ -f apis/$1.json ]]; }
if has classic-examples; then
  token="Bearer lab-token-smoke-$(date +%s)"
  call examples        -H "Authorization: $token" -H 'Content-Type: application/json' -H 'X-Example-Remove: gone' \
                       -d '{"hello":"world"}' "$GATEWAY_URL/examples/anything/smoke?example_remove=1"
  call examples-cached -H "Authorization: $token" "$GATEWAY_URL/examples/anything/smoke"
  call short-circuit   -H "Authorization: $token" "$GATEWAY_URL/examples/short-circuit"
  call bad-token       -H 'Authorization: Bearer nope' "$GATEWAY_URL/examples/anything/smoke"
  if has oas-examples; then call oas-examples -H "Authorization: $token" "$GATEWAY_URL/oas-examples/anything/smoke"; fi
fi
# Per-API configuration: one hook (ExampleConfigured), each API's config_data.
if has classic-config; then
  call config          "$GATEWAY_URL/config/anything/smoke"
  call config-denied   -X DELETE "$GATEWAY_URL/config/anything/smoke"
fi
if has oas-config; then call oas-config "$GATEWAY_URL/oas-config/anything/smoke"; fi
if has classic-config-bad; then call config-bad "$GATEWAY_URL/config-bad/anything/smoke"; fi
sleep 0.5 # the journal is written asynchronously

echo
echo "Dispatches the plugin server received for these requests (→ what the plugin did):"
$COMPOSE exec -T plugin-server /plugin-server journal -n 500 -text -correlation-id "$run-*"
echo
echo "Latest event (the bad key's AuthFailure, via cp_dynamic_handler):"
$COMPOSE exec -T plugin-server /plugin-server journal -n 500 -text | grep ' event ' | tail -1
echo
echo "What the upstream received for /classic/anything/smoke (go-httpbin's echo, as the client got it):"
cat "$upstream_saw.classic-keyless"; echo
echo
if has classic-examples; then
  echo "The examples' request: what the upstream received (ExamplePreRequest's and ExamplePostKeyAuth's"
  echo "changes) and what the client got (ExampleResponse's X-Example-Response and example_response):"
  grep -i '^x-example' "$upstream_saw.examples.headers"
  cat "$upstream_saw.examples"; echo
  echo
  echo "Post's short-circuit and the bad token, as the client got them:"
  grep -i '^HTTP\|^x-example' "$upstream_saw.short-circuit.headers"
  cat "$upstream_saw.short-circuit"; echo
  grep -i '^HTTP\|^www-authenticate' "$upstream_saw.bad-token.headers"
  cat "$upstream_saw.bad-token"; echo
  echo
fi
if has classic-config; then
  echo "Per-API configuration (ExampleConfigured): the X-Tenant each API's config_data set upstream,"
  echo "the method classic-config denies, and the API whose config_data does not decode:"
  for name in config oas-config; do
    [[ -f $upstream_saw.$name ]] || continue
    printf '%-11s ' "$name"; tr -d '\n ' <"$upstream_saw.$name" | grep -o '"X-\(Tenant\|Plan\)":\[[^]]*\]' | tr '\n' ' '; echo
  done
  printf '%-11s %s\n' config-denied "$(cat "$upstream_saw.config-denied")"
  if [[ -f $upstream_saw.config-bad ]]; then printf '%-11s %s\n' config-bad "$(cat "$upstream_saw.config-bad")"; fi
fi
rm -f "$upstream_saw".*
