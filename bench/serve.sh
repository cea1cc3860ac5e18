#!/usr/bin/env bash
# bench/serve.sh - `serve` under load (docs/benchmarks.md, "serve"):
# 50 concurrent connections for 30 s each against GET /models and
# POST /estimate on loopback, with wrk (Debian package, installed here when
# missing).  Reports requests/s, latency percentiles and any error.
#
# Usage: bench/serve.sh [BUILD_DIR] [SECONDS] [CONNECTIONS]
# BUILD_DIR defaults to build-bench-serve (Release, no sanitizers, configured here).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build-bench-serve}
DUR=${2:-30}
CONN=${3:-50}

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v python3 >/dev/null || need+=(python3)
if ((${#need[@]})); then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    echo "bench: installing ${need[*]}"
    $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DIW_SANITIZE=OFF -DIW_TESTS=OFF >"$BUILD.log" 2>&1 &&
    cmake --build "$BUILD" -j"$(nproc)" --target imageworks-download >>"$BUILD.log" 2>&1 ||
    { cat "$BUILD.log"; echo "build failed"; exit 1; }
CLI=$BUILD/imageworks-download
T=$(mktemp -d)
SPID=""
cleanup() { [ -n "$SPID" ] && kill "$SPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
export IMAGEWORKS_REGISTRY_DIR=$T/reg XDG_CONFIG_HOME=$T/xdg IMAGEWORKS_SERVE_TOKEN= IMAGEWORKS_ESTIMATE_PROFILES=

# A registry of 200 entries with architectures, like a well-used install:
# 199 scanned Llama-3-8B-shaped folders plus the tiny-llama fixture.
python3 - "$T" <<'PY'
import json, os, sys
t = sys.argv[1]
cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
       "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
       "intermediate_size": 14336, "vocab_size": 128256, "max_position_embeddings": 8192,
       "rope_theta": 500000.0, "torch_dtype": "bfloat16"}
for i in range(199):
    d = f"{t}/models/org/model-{i:03d}"
    os.makedirs(d)
    c = dict(cfg); c["num_hidden_layers"] = 16 + i % 48
    json.dump(c, open(f"{d}/config.json", "w"))
PY
cp -r "$SRC/tests/fixtures/models/tiny-llama" "$T/models/org/"
"$CLI" scan "$T/models" >/dev/null
NAME=$("$CLI" list --json | python3 -c "import json,sys; print([e['name'] for e in json.load(sys.stdin) if e['name'].startswith('tiny-llama')][0])")

"$CLI" serve --listen 127.0.0.1:0 >"$T/serve.out" 2>"$T/serve.err" &
SPID=$!
for _ in $(seq 50); do grep -q "serving on" "$T/serve.out" 2>/dev/null && break; sleep 0.1; done
URL=$(grep -o 'http://[^/]*' "$T/serve.out")
[ -n "$URL" ] || { cat "$T/serve.err"; echo "serve did not start"; exit 1; }

cat >"$T/estimate.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"$NAME","gpu":"rtx4090","context":2048}'
EOF
# sanity: both endpoints answer 200 before loading them
curl -sf "$URL/models" >/dev/null
curl -sf -XPOST -H 'Content-Type: application/json' -d "{\"model\":\"$NAME\",\"gpu\":\"rtx4090\",\"context\":2048}" \
    "$URL/estimate" >/dev/null

echo "serve benchmark: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $CONN connections, ${DUR}s, $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
run() { # label wrk-args...
    label=$1; shift
    wrk -t2 -c"$CONN" -d"${DUR}s" --latency "$@" >"$T/wrk.out" 2>&1
    rps=$(awk '/Requests\/sec/ {print $2}' "$T/wrk.out")
    p50=$(awk '/^ +50%/ {print $2}' "$T/wrk.out"); p75=$(awk '/^ +75%/ {print $2}' "$T/wrk.out")
    p90=$(awk '/^ +90%/ {print $2}' "$T/wrk.out"); p99=$(awk '/^ +99%/ {print $2}' "$T/wrk.out")
    reqs=$(awk '/requests in/ {print $1}' "$T/wrk.out")
    non2xx=$(awk '/Non-2xx/ {print $5}' "$T/wrk.out"); non2xx=${non2xx:-0}
    sockerr=$(awk '/Socket errors/ {print $0}' "$T/wrk.out"); sockerr=${sockerr:-none}
    printf '%-34s %8s req/s  p50 %8s  p75 %8s  p90 %8s  p99 %8s  requests %s  non-2xx %s  socket errors: %s\n' \
        "$label" "$rps" "$p50" "$p75" "$p90" "$p99" "$reqs" "$non2xx" "$sockerr"
}
run "GET /models (200 entries)" "$URL/models"
run "POST /estimate (verdict, inverse)" -s "$T/estimate.lua" "$URL/estimate"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg); serve alive: $(kill -0 $SPID 2>/dev/null && echo yes || echo NO)"
