#!/usr/bin/env bash
# Writes what the running lab's gateway really sent, for plugintest.Load:
# the last N journal records (default 100) with their objects, secrets
# redacted, to DIR/<gateway version>/NAME.jsonl.
#   ID=prefix*  only the records of these correlation ids (X-Request-Id)
#   DIR         default plugin-server/plugin/testdata/captures
#   NAME        default capture-<date>
# Bodies are kept up to PLUGIN_JOURNAL_MAX_BODY_BYTES (.env; -1: whole).
source "$(dirname "$0")/lib.sh"

dir=${DIR:-plugin-server/plugin/testdata/captures}
name=${NAME:-capture-$(date -u +%Y%m%d-%H%M%S)}
hello=$(curl -fsS "$GATEWAY_URL/hello") || { echo "capture: the lab's gateway does not answer at $GATEWAY_URL (make up)" >&2; exit 1; }
version=$(grep -o '"version": *"[^"]*"' <<<"$hello" | grep -o '[0-9][^"]*' | head -1)
[[ -n $version ]] || { echo "capture: no version in $GATEWAY_URL/hello: $hello" >&2; exit 1; }
out="$dir/v$version/$name.jsonl"
mkdir -p "$(dirname "$out")"
$COMPOSE exec -T plugin-server /plugin-server journal -objects -n "${N:-100}" -correlation-id "${ID:-}" >"$out.tmp"
grep '"kind":"dispatch"' "$out.tmp" >"$out" || true
rm -f "$out.tmp"
count=$(wc -l <"$out")
if [[ $count -eq 0 ]]; then
  rm -f "$out"
  echo "capture: no dispatch in the journal${ID:+ for $ID}; send requests first (make smoke)" >&2
  exit 1
fi
echo "capture: $count dispatches from gateway $version → $out"
echo "read them in a test with plugintest.Load(t, \"${dir#plugin-server/plugin/}\", plugintest.Match{})"
