#!/usr/bin/env bash
# make rollout: rolls the plugin servers over to a fresh build of the
# plugin, one replica at a time, failing no request. For each running
# replica: start one more from the new image, wait until it is healthy and
# the gateway sends it calls, then stop the old one (SIGTERM: it finishes
# its calls and says goodbye, GOAWAY, so the gateway stops using it).
# Returns when every API answers again.
source "$(dirname "$0")/lib.sh"

check_replicas
$COMPOSE build plugin-server
old=$($COMPOSE ps -q plugin-server)
[[ -n $old ]] || { echo "rollout: no plugin server is running; make up first" >&2; exit 1; }
n=$(wc -w <<<"$old")
if ((n + 1 > $(port_room))); then
  echo "rollout: $n replicas and one more need $((n + 1)) ports; PLUGIN_SERVER_PORT=$PLUGIN_SERVER_PORT has $(port_room)" >&2
  exit 1
fi
name() { docker inspect -f '{{.Name}}' "$1" | tr -d /; }

# served prints how many calls a replica has served (its metrics).
served() {
  local port
  port=$(docker port "$1" 9464/tcp | head -1 | cut -d: -f2)
  curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null |
    awk '/^tyk_plugin_dispatches_total/ {n += $NF} END {printf "%d\n", n}'
}

start=$SECONDS
i=0
for id in $old; do
  i=$((i + 1))
  before=$($COMPOSE ps -q plugin-server | sort)
  # Compose was once seen to start nothing here right after the previous
  # replica's removal (it counted one replica too many): ask once more.
  for try in 1 2; do
    $COMPOSE up --detach --no-deps --no-recreate --scale "plugin-server=$((n + 1))" plugin-server 2>&1 | grep -v 'Running *$' || true
    new=$(comm -13 <(echo "$before") <($COMPOSE ps -q plugin-server | sort))
    [[ -z $new && $try == 1 ]] || break
    sleep 2
  done
  [[ $(wc -w <<<"$new") == 1 ]] || { echo "rollout: expected one new replica, got: ${new:-none}" >&2; $COMPOSE ps --all plugin-server >&2; exit 1; }
  printf 'rollout %d/%d: %s started; ' "$i" "$n" "$(name "$new")"
  deadline=$((SECONDS + 60))
  until [[ $(docker inspect -f '{{.State.Health.Status}}' "$new") == healthy ]]; do
    ((SECONDS < deadline)) || { echo; echo "rollout: $(name "$new") not healthy within 60 s; the old replicas keep serving" >&2; docker logs --tail 20 "$new" >&2; exit 1; }
    sleep 0.5
  done
  printf 'healthy; '
  # The gateway finds it when it asks DNS again: when a connection of its
  # ends (the server's max connection age, PLUGIN_MAX_CONNECTION_AGE).
  # Probe requests keep calls flowing meanwhile.
  deadline=$((SECONDS + 120))
  while (($(served "$new") == 0)); do
    ((SECONDS < deadline)) || { echo; echo "rollout: the gateway sent $(name "$new") no call within 120 s; stopping here, nothing removed" >&2; exit 1; }
    curl -s -o /dev/null -H "X-Request-Id: rollout-probe" "$GATEWAY_URL/classic/anything/rollout" || true
    sleep 0.2
  done
  printf 'serving; stopping %s… ' "$(name "$id")"
  docker stop -t 15 "$id" >/dev/null
  docker rm "$id" >/dev/null
  echo "done"
done
wait_apis
echo "rollout: $n replica(s) replaced in $((SECONDS - start)) s; every API answers"
