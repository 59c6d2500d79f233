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
    "$(curl -sS -o "$upstream_saw.$name" -w '%{http_code}' -H "X-Request-Id: $run-$name" "$@")"
}
call classic-keyless "$GATEWAY_URL/classic/smoke?x=1"
call oas-keyless     "$GATEWAY_URL/oas/smoke"
call classic-auth    -H 'Authorization: lab-demo-key' "$GATEWAY_URL/auth/smoke"
call auth-bad-key    -H 'Authorization: not-a-key' "$GATEWAY_URL/auth/smoke"
call no-plugins      "$GATEWAY_URL/no-plugins/smoke"
sleep 0.5 # the journal is written asynchronously

echo
echo "Dispatches the plugin server received for these requests (→ what the plugin did):"
$COMPOSE exec -T plugin-server /plugin-server journal -n 500 -text -correlation-id "$run-*"
echo
echo "Latest event (the bad key's AuthFailure, via cp_dynamic_handler):"
$COMPOSE exec -T plugin-server /plugin-server journal -n 500 -text | grep ' event ' | tail -1
echo
echo "What the upstream received for /classic/smoke (its echo, as the client got it):"
cat "$upstream_saw.classic-keyless"; echo
rm -f "$upstream_saw".*
