#!/usr/bin/env bash
# The main job on an embedded default, end to end on loopback:
#   start the bundled fixture hub (tools/fakehub) on 127.0.0.1 (CDN on 127.0.0.2),
#   download a model repo from it, extract its architecture, register it,
#   inspect it and estimate its GPU memory.
# Nothing touches the internet; everything lands in a temp folder (kept, path printed).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
BUILD=${IW_DEMO_BUILD:-build-demo}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIW_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target imageworks-download fakehub >/dev/null
IWD="$PWD/$BUILD/imageworks-download"

W=$(mktemp -d /tmp/imageworks-demo-XXXXXX)
"$BUILD/fakehub" --make-demo "$W/hub" >/dev/null
"$BUILD/fakehub" --root "$W/hub" --port 0 --cdn-port 0 --ready-file "$W/ready" >/dev/null 2>"$W/fakehub.err" &
HUB_PID=$!
trap 'kill $HUB_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s "$W/ready" ] && break; sleep 0.1; done
[ -s "$W/ready" ] || { echo "demo: fakehub did not start: $(cat "$W/fakehub.err")" >&2; exit 1; }
read -r HUB CDN < "$W/ready"

export HF_ENDPOINT="$HUB" HF_HOME="$W/hf-home" HF_TOKEN=""
export IMAGEWORKS_MODEL_ROOT="$W/models" IMAGEWORKS_REGISTRY_DIR="$W/registry"

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
step "imageworks-download download demo-org/tiny-llama      # fixture hub at $HUB, CDN at $CDN"
"$IWD" download demo-org/tiny-llama
step "imageworks-download inspect $IMAGEWORKS_MODEL_ROOT/demo-org/tiny-llama"
"$IWD" inspect "$IMAGEWORKS_MODEL_ROOT/demo-org/tiny-llama"
step "imageworks-download list"
"$IWD" list
NAME=$("$IWD" list --json | sed -n 's/.*"name": *"\([^"]*\)".*/\1/p' | head -1)
step "imageworks-download estimate '$NAME' --context 2048 --gpu rtx4090"
"$IWD" estimate "$NAME" --context 2048 --gpu rtx4090
step "imageworks-download estimate '$NAME' --context 2048 --gpu rtx4090 --emit vllm"
"$IWD" estimate "$NAME" --context 2048 --gpu rtx4090 --emit vllm
printf '\ndemo: done. Files, registry and logs are in %s\n' "$W"
