#!/usr/bin/env bash
# The classic manual test: a Pre Dispatch with the sample basic-auth payload,
# sent to the plugin server with grpcurl (pinned in go.mod, nothing to
# install). The answer is the same Object, unchanged.
# Usage: scripts/grpcurl-dispatch.sh [host:port]   (default: the lab's)
source "$(dirname "$0")/lib.sh"

go tool grpcurl -plaintext -d @ "${1:-$PLUGIN_ADDR}" coprocess.Dispatcher/Dispatch <<'JSON'
{
  "hook_type": "Pre",
  "hook_name": "MyPreMiddleware",
  "request": {
    "headers": {
      "User-Agent": "curl/7.79.1",
      "Accept": "*/*",
      "Authorization": "Basic dXNlcjpwYXNzd29yZA=="
    },
    "url": "/basic-auth-api/get",
    "return_overrides": {"response_code": -1},
    "method": "GET",
    "request_uri": "/basic-auth-api/get",
    "scheme": "https"
  },
  "spec": {
    "APIID": "basic-auth-api",
    "OrgID": "default",
    "bundle_hash": "d41d8cd98f00b204e9800998ecf8427e"
  }
}
JSON
