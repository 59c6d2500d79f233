#!/usr/bin/env bash
# Static checks: gofmt, go vet, go.mod tidy, generated code freshness.
source "$(dirname "$0")/lib.sh"

# The Go files git tracks; outside git (a fresh gonew copy), all of them.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t gofiles < <(git ls-files '*.go')
else
  mapfile -t gofiles < <(find . -name '*.go' -not -path './.git/*')
fi
unformatted=$(gofmt -l "${gofiles[@]}")
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
bash scripts/proto.sh check
