#!/bin/sh
# demo.sh - the README demo, offline: serve a generated tiny Llama repo with
# fakehub on loopback, download it with imageworks-download, inspect it.
#   tools/fakehub/demo.sh [BUILD_DIR]      (default: build)
set -eu
build=${1:-build}
hub_bin=$build/fakehub
cli=$build/imageworks-download
for b in "$hub_bin" "$cli"; do
    [ -x "$b" ] || { echo "demo: $b not built (cmake --build $build)" >&2; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/iw-demo-XXXXXX")
hub_pid=
cleanup() {
    [ -n "$hub_pid" ] && kill "$hub_pid" 2>/dev/null && wait "$hub_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

"$hub_bin" --make-demo "$work/repos"
"$hub_bin" --root "$work/repos" --ready-file "$work/ready" >/dev/null &
hub_pid=$!
i=0
while [ ! -s "$work/ready" ]; do
    i=$((i + 1))
    [ $i -le 200 ] || { echo "demo: fakehub did not start" >&2; exit 1; }
    sleep 0.05
done
read -r hub_url cdn_url < "$work/ready"
echo "fakehub: hub $hub_url, CDN $cdn_url"

export HF_ENDPOINT="$hub_url" HF_HOME="$work/hf" IMAGEWORKS_REGISTRY_DIR="$work/registry"
echo "\$ imageworks-download download demo-org/tiny-llama --dest $work/models/tiny-llama"
"$cli" download demo-org/tiny-llama --dest "$work/models/tiny-llama"
echo "\$ imageworks-download inspect $work/models/tiny-llama"
"$cli" inspect "$work/models/tiny-llama"
echo "\$ imageworks-download inspect demo-org/tiny-llama   # remote, by HTTP Range"
"$cli" inspect demo-org/tiny-llama
