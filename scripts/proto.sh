#!/usr/bin/env bash
# proto.sh generate   regenerate coprocess/*.pb.go from coprocess/*.proto
# proto.sh check      fail if the committed *.pb.go differ from what the
#                     .proto files generate (generated code must be fresh)
# The generators (buf, protoc-gen-go, protoc-gen-go-grpc) are pinned as
# tools in go.mod: nothing else needs installing.
source "$(dirname "$0")/lib.sh"

generate() { (cd coprocess && go tool buf generate); }

case "${1:-generate}" in
  generate)
    generate
    echo "coprocess/*.pb.go regenerated"
    ;;
  check)
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    cp coprocess/*.pb.go "$tmp/"
    generate
    if ! diff -r -x '*.proto' -x '*.yaml' -x doc.go "$tmp" coprocess; then
      cp "$tmp"/*.pb.go coprocess/
      echo "coprocess/*.pb.go is stale: run 'make proto' and commit the result" >&2
      exit 1
    fi
    echo "coprocess/*.pb.go is fresh"
    ;;
  *)
    echo "usage: $0 generate|check" >&2
    exit 2
    ;;
esac
