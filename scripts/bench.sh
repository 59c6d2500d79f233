#!/usr/bin/env bash
# `make bench`: how much the lab's plugin server costs. See BENCHMARKS.md.
#
#   Part 1 (no Docker; needs redis-server): the plugin server's Dispatch
#           through real gRPC against a bare echo (plugin-server/internal/devtools/bench/dispatch).
#   Go benchmarks: allocations per dispatch (plugin-server/internal/server/instrument).
#   Part 2 (only when the lab is up, `make up`): the gateway's Classic API
#           with its two gRPC hooks against the same API without plugins
#           (plugin-server/internal/devtools/bench/gateway), and the plugin server's CPU per dispatch.
#   Part 3 (only when the lab is up): raw_body_only, with JSON POSTs of 64 KiB and 1 MiB
#           to /bodies/ (body and raw_body) and /bodies-raw/ (raw_body only), three gRPC
#           hooks each: throughput and bytes per Dispatch (the same program with -bodies).
#
# BENCH_QUICK=1 makes every part short (about a minute in all).
# BENCH_GATEWAY_BARE=1 also runs part 2 with plugin-server/internal/devtools/bench/bareecho in place of the
#   lab's plugin server (stopped meanwhile, then restarted).
# BENCH_PRODUCTION=1 runs part 2 with the plugin server in the production settings (journal off,
#   log level warn, redaction on) against the bare echo: the target is >= 0.95× on medians.
# The last lines are part 1's: BENCH dispatch_vs_bare small=<ratio> large=<ratio>
# (tracing off, the default) and BENCH traced_vs_bare … (tracing on).
source "$(dirname "$0")/lib.sh"

quick=${BENCH_QUICK:-0}
dispatch_flags=()
gateway_flags=()
bodies_flags=()
benchtime=1s
if [[ $quick == 1 ]]; then
  dispatch_flags+=(-quick)
  gateway_flags+=(-quick)
  bodies_flags+=(-quick)
  benchtime=100ms
fi
if [[ ${BENCH_GATEWAY_BARE:-0} == 1 ]]; then
  gateway_flags+=(-swap-bare)
fi
if [[ ${BENCH_PRODUCTION:-0} == 1 ]]; then
  gateway_flags+=(-production)
fi

out=$(mktemp)
gotest=$(mktemp)
trap 'rm -f "$out" "$gotest"' EXIT

echo "=== Part 1: plugin server vs bare echo (no Docker)"
go run ./plugin-server/internal/devtools/bench/dispatch "${dispatch_flags[@]}" | tee "$out"

echo
echo "=== Go benchmarks: cost and allocations per dispatch (go test -bench . -benchmem ./plugin-server/internal/server/instrument)"
if ! go test -run '^$' -bench . -benchmem -benchtime "$benchtime" ./plugin-server/internal/server/instrument >"$gotest" 2>&1; then
  cat "$gotest" >&2
  exit 1
fi
grep -E '^(Benchmark|--- SKIP)' "$gotest" || cat "$gotest"

echo
echo "=== Part 2: the gateway with and without the two gRPC hooks"
go run ./plugin-server/internal/devtools/bench/gateway "${gateway_flags[@]}"

echo
echo "=== Part 3: raw_body_only, bodies of 64 KiB and 1 MiB through three gRPC hooks"
go run ./plugin-server/internal/devtools/bench/gateway -bodies "${bodies_flags[@]}"

echo
grep -E '^BENCH (dispatch|traced)_vs_bare ' "$out"
