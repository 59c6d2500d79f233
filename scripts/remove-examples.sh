#!/usr/bin/env bash
# make remove-examples: deletes the lab's examples, for a repository of your
# own started from the lab: their package (plugin-server/examples, and
# plugin-server/examples.go, which serves them), the API definitions in
# apis/ that wire them, their e2e tests (e2e/examples_test.go,
# e2e/examples_*_test.go), and takes them out of PLUGIN_FAIL_OPEN in .env.
# Your hooks (plugin-server/plugin), the SDK (plugin-server/tykplugin) and
# the rest of the lab (the gateway-fact probes of plugin-server/returned
# too) stay; make check, make test and make e2e still pass. When something
# else still uses the examples it says what and changes nothing. Run again,
# it finds nothing left to remove (or finishes an interrupted run).
set -euo pipefail

die() {
  echo "remove-examples: $*" >&2
  echo "remove-examples: nothing was changed." >&2
  exit 1
}

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# A checkout of the lab (or a copy of it): its go.mod names the module.
[[ -f go.mod && -r go.mod ]] || die "no readable go.mod in $root: run it in a checkout of the lab (make remove-examples)."
module=$(sed -n 's/^module[[:space:]]\{1,\}"\{0,1\}\([^"[:space:]]*\)"\{0,1\}.*$/\1/p' go.mod | head -1)
[[ -n $module ]] || die "$root/go.mod names no module: run it in a checkout of the lab."
[[ -f plugin-server/main.go && -d apis ]] || die "$root (module $module) is not the lab: it has no plugin-server/main.go or apis/."

shopt -s nullglob

# The hooks plugin-server/examples serves (its Hooks), and the API
# definitions of apis/ that wire them.
example_hooks=(ExamplePreRequest ExampleAuthCheck ExamplePostKeyAuth ExamplePost ExampleResponse
  ExampleConfigured ExampleSlowCheck ExampleEnrich)
example_apis=(classic-examples oas-examples classic-config classic-config-bad classic-config-disabled
  classic-config-empty oas-config oas-config-disabled classic-slow classic-enrich)
# A definition wires an example hook when it names one, quoted ("ExamplePost").
hook_pattern="\"($(IFS='|'; echo "${example_hooks[*]}"))\""
wires_examples() { grep -Eq "$hook_pattern" "$1"; }
is_example_hook() {
  local h
  for h in "${example_hooks[@]}"; do [[ $1 == "$h" ]] && return 0; done
  return 1
}

# --- what goes, in the order it goes: what uses the examples first -----------

remove=()    # paths to delete
kept_apis=() # example APIs rewired to other hooks: kept
api_ids=()   # the ids of the APIs deleted
for p in e2e/examples_test.go e2e/examples_*_test.go plugin-server/examples.go plugin-server/examples; do
  if [[ -e $p ]]; then remove+=("$p"); fi
done
for name in "${example_apis[@]}"; do
  f=apis/$name.json
  [[ -f $f ]] || continue
  if wires_examples "$f"; then
    remove+=("$f")
    api_ids+=("$name")
    id=$(sed -n 's/.*"api_id"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$f" | head -1)
    if [[ -n $id && $id != "$name" ]]; then api_ids+=("$id"); fi
  else
    kept_apis+=("$f")
  fi
done
is_removed() {
  local p
  for p in "${remove[@]}"; do [[ $1 == "$p" || $1 == "$p"/* ]] && return 0; done
  return 1
}

# --- what must not depend on them (checked before anything changes) ----------

problems=()
# Go code that imports the examples' package and is not deleted with it.
while IFS= read -r f; do
  f=${f#./}
  is_removed "$f" || problems+=("$f imports $module/plugin-server/examples")
done < <(grep -rlF --include='*.go' --exclude-dir=.git \
  -e "\"$module/plugin-server/examples\"" -e "\"$module/plugin-server/examples/" . || true)
# Other API definitions wiring an example hook: the gateway would call a
# hook the plugin server no longer has.
for f in apis/*.json; do
  is_removed "$f" && continue
  if wires_examples "$f"; then
    problems+=("$f wires $(grep -Eo "$hook_pattern" "$f" | tr -d '"' | sort -u | paste -sd, -), of the examples")
  fi
done
# Keys granting access to an API that goes.
for f in apis/keys/*.json; do
  for id in "${api_ids[@]}"; do
    if grep -qF "\"$id\"" "$f"; then problems+=("$f grants access to $id, an API this deletes"); fi
  done
done
if ((${#problems[@]})); then
  echo "remove-examples: these still use the examples; change (or delete) them, then run it again:" >&2
  printf '  %s\n' "${problems[@]}" >&2
  die "refused."
fi

# .env: PLUGIN_FAIL_OPEN without the example hooks (the plugin server
# refuses to start when it names a hook it does not have).
env_new=""
env_gone=()
if [[ -f .env ]]; then
  while IFS= read -r line || [[ -n $line ]]; do
    # The lab's comment points at the enrichment example's API: it goes.
    if [[ $line == "# example (apis/classic-enrich.json)." && $env_new == *"; here the optional enrichment"$'\n' ]]; then
      env_new=${env_new%"; here the optional enrichment"$'\n'}.$'\n'
      continue
    fi
    if [[ $line =~ ^PLUGIN_FAIL_OPEN=(.*)$ ]]; then
      value=${BASH_REMATCH[1]}
      value=${value#\"} value=${value%\"}
      keep=() gone=()
      IFS=',' read -r -a names <<<"$value"
      for n in "${names[@]}"; do
        n=${n//[[:space:]]/}
        [[ -z $n ]] && continue
        if is_example_hook "$n"; then gone+=("$n"); else keep+=("$n"); fi
      done
      if ((${#gone[@]})); then
        env_gone+=("${gone[@]}")
        if ((${#keep[@]})); then
          line="PLUGIN_FAIL_OPEN=$(IFS=,; echo "${keep[*]}")"
        else
          line="# make remove-examples took out $(IFS=,; echo "${gone[*]}") (deleted with the examples): list
# your own hooks here, e.g. PLUGIN_FAIL_OPEN=MyPreRequestPlugin. The plugin
# server refuses to start when it names a hook it does not have.
# PLUGIN_FAIL_OPEN="
        fi
      fi
    fi
    env_new+="$line"$'\n'
  done <.env
fi

# In a git work tree: the deleted files git still lists (tracked, gone
# from disk), so that what lists the tracked files (make check's gofmt)
# lists none of them.
in_git=false
if command -v git >/dev/null && git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  in_git=true
fi
example_paths=(e2e/examples_test.go 'e2e/examples_*_test.go' plugin-server/examples.go plugin-server/examples)
for name in "${example_apis[@]}"; do example_paths+=("apis/$name.json"); done
unstaged() {
  $in_git || return 0
  local f
  while IFS= read -r -d '' f; do
    [[ -e $f ]] || printf '%s\0' "$f"
  done < <(git ls-files -z -- "${example_paths[@]}")
}

if ((${#remove[@]} == 0 && ${#env_gone[@]} == 0)) && [[ -z $(unstaged | tr -d '\0') ]]; then
  echo "remove-examples: nothing left to remove: the examples, their APIs and e2e tests are gone, and .env names none of their hooks."
  exit 0
fi

# --- the removal ---------------------------------------------------------------

if ((${#env_gone[@]})); then
  printf '%s' "$env_new" >.env
  echo "edited .env: PLUGIN_FAIL_OPEN no longer names $(IFS=,; echo "${env_gone[*]}")"
fi
for p in "${remove[@]}"; do
  rm -rf -- "$p"
  case $p in
    plugin-server/examples) echo "removed plugin-server/examples/ (the examples' package, with examplecheck)" ;;
    plugin-server/examples.go) echo "removed plugin-server/examples.go (served the examples with PLUGIN_LAB_HOOKS)" ;;
    e2e/*) echo "removed $p (tests of the examples)" ;;
    apis/*) echo "removed $p (an API wiring example hooks)" ;;
    *) echo "removed $p" ;;
  esac
done
mapfile -d '' -t gone_from_git < <(unstaged)
if ((${#gone_from_git[@]})); then
  git rm -r -q --cached --ignore-unmatch -- "${gone_from_git[@]}"
  echo "git: staged the deletion of ${#gone_from_git[@]} tracked files (git rm --cached); commit it when you like"
fi
for f in "${kept_apis[@]}"; do
  echo "kept $f: it no longer wires an example hook"
done
fail_open=${PLUGIN_FAIL_OPEN:-}
for h in "${example_hooks[@]}"; do
  if [[ ,${fail_open//[[:space:]]/}, == *",$h,"* ]]; then
    echo "note: your environment sets PLUGIN_FAIL_OPEN=$fail_open, which wins over .env, and names $h: unset it" >&2
    break
  fi
done

cat <<'TXT'

Your hooks (plugin-server/plugin), the SDK (plugin-server/tykplugin) and the
lab stay. Next: make check && make test. A lab already running still has the
deleted APIs loaded: make down && make up. README.md and docs/ still
describe the examples: trim them as you like, keeping the tables that tests
check (e2e/apiconfig_test.go, plugin-server/returned), or drop those tests.
TXT
