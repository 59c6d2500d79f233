#!/usr/bin/env bash
# Static checks: gofmt, go vet, generated code freshness.
source "$(dirname "$0")/lib.sh"

unformatted=$(gofmt -l $(git ls-files '*.go'))
if [[ -n "$unformatted" ]]; then
  echo "gofmt needed on:" >&2
  echo "$unformatted" >&2
  exit 1
fi
echo "gofmt: ok"
go vet ./...
echo "go vet: ok"
scripts/proto.sh check
