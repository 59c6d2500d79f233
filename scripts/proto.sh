#!/usr/bin/env bash
# proto.sh generate   regenerate coprocess/ from proto/
# proto.sh check      fail if the committed coprocess/ differs from what
#                     proto/ generates (generated code must be fresh)
# The generators (buf, protoc-gen-go, protoc-gen-go-grpc) are pinned as
# tools in go.mod: nothing else needs installing.
source "$(dirname "$0")/lib.sh"

generate() { (cd proto && go tool buf generate); }

case "${1:-generate}" in
  generate)
    generate
    echo "coprocess/ regenerated from proto/"
    ;;
  check)
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    cp -r coprocess "$tmp/committed"
    generate
    if ! diff -r "$tmp/committed" coprocess; then
      cp -r "$tmp/committed/." coprocess/
      echo "coprocess/ is stale: run 'make proto' and commit the result" >&2
      exit 1
    fi
    echo "coprocess/ is fresh"
    ;;
  *)
    echo "usage: $0 generate|check" >&2
    exit 2
    ;;
esac
