#!/usr/bin/env bash
# The classic manual test of events: DispatchEvent with {"event": "test"};
# the plugin server answers {}.
# Usage: scripts/grpcurl-event.sh [host:port]   (default: the lab's)
source "$(dirname "$0")/lib.sh"

go tool grpcurl -plaintext -d '{"payload": "{\"event\": \"test\"}"}' "${1:-$PLUGIN_ADDR}" coprocess.Dispatcher/DispatchEvent
