#!/usr/bin/env bash
# Static checks: gofmt, go vet, go.mod tidy, generated code freshness.
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
if ! diff=$(go mod tidy -diff 2>&1); then
  echo "go.mod/go.sum are not tidy (run go mod tidy):" >&2
  echo "$diff" >&2
  exit 1
fi
echo "go mod tidy: ok"
scripts/proto.sh check
