#!/bin/sh
# bench/registry.sh - registry benchmarks (docs/benchmarks.md, "Registry").
#
#   1. migrate-architecture over 1,000 config-only installs      (target < 2 s)
#   2. reconcile-architecture of a 100,000-line metrics log      (target < 1 s)
#   3. one upsert (scan of one install) into a 10,000-entry registry (target < 100 ms),
#      after six untimed writes so the snapshot, the lock record and the 5 backups
#      per file (each write now prunes the oldest) are as in daily use
#   4. show NAME and list on that registry (read only), and the I/O floor of a write
#      (bench/registry_floor.c: read + 2 x (write + fsync + rename) + fsync dir of
#      the same bytes, no JSON)
#
# Usage: bench/registry.sh [BUILD_DIR]
# BUILD_DIR defaults to build-bench, configured here as Release without
# sanitizers (numbers from an ASan build are not meaningful).
# Needs python3 (to generate the inputs) and GNU time (/usr/bin/time).
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$SRC/build-bench}
cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DIW_SANITIZE=OFF -DIW_TESTS=OFF >"$BUILD.log" 2>&1 &&
    cmake --build "$BUILD" -j2 --target imageworks-download >>"$BUILD.log" 2>&1 ||
    { cat "$BUILD.log"; echo "build failed"; exit 1; }
CLI=$BUILD/imageworks-download
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# Wall time and CPU time (user+sys) of one run.  On a shared machine the wall
# time includes waiting for a core; CPU time is what the command itself costs.
timeit() { # label target_ms command...
    label=$1; target=$2; shift 2
    /usr/bin/time -f "%e %U %S" -o "$T/time.txt" "$@" >"$T/out.txt" 2>&1 ||
        { cat "$T/out.txt"; echo "FAILED: $label"; exit 1; }
    read -r wall user sys <"$T/time.txt"
    wms=$(awk -v w="$wall" 'BEGIN { printf "%.0f", w * 1000 }')
    cms=$(awk -v u="$user" -v s="$sys" 'BEGIN { printf "%.0f", (u + s) * 1000 }')
    verdict=$([ "$wms" -lt "$target" ] && echo ok || echo SLOW)
    printf '%-56s wall %6s ms  cpu %6s ms  (target < %s ms) %s\n' "$label" "$wms" "$cms" "$target" "$verdict"
    tail -1 "$T/out.txt" | sed 's/^/    /'
}

python3 - "$T" <<'PY'
import json, os, sys, random
t = sys.argv[1]
cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
       "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
       "intermediate_size": 14336, "vocab_size": 128256, "max_position_embeddings": 131072,
       "rope_theta": 500000.0, "torch_dtype": "bfloat16"}
def skeleton(name, path):
    return {"name": name, "display_name": name, "backend": "vllm",
            "backend_config": {"port": 24001, "model_path": path,
                               "extra_args": ["--max-model-len", "78643", "--max-num-seqs", "1",
                                              "--gpu-memory-utilization", "0.85", "--tensor-parallel-size", "1"]},
            "capabilities": {"text": True, "vision": False, "audio": False, "embedding": False},
            "artifacts": {"aggregate_sha256": "", "files": [{"path": "config.json", "sha256": None, "size": 400}]},
            "chat_template": {"source": "embedded", "path": None, "sha256": None},
            "version_lock": {"locked": False, "expected_aggregate_sha256": None, "last_verified": None},
            "performance": {"rolling_samples": 0, "ttft_ms_avg": None, "throughput_toks_per_s_avg": None, "last_sample": None},
            "probes": {"vision": None}, "profiles_placeholder": None, "metadata": {},
            "served_model_id": None, "model_aliases": [], "roles": [], "license": None, "source": None,
            "deprecated": False, "family": name, "source_provider": "hf", "quantization": "bf16",
            "backend_alternatives": [], "role_priority": {}, "download_format": "safetensors",
            "download_location": "linux_wsl", "download_path": path, "download_size_bytes": 400,
            "download_files": ["config.json"], "download_directory_checksum": "0123456789abcdef",
            "downloaded_at": "2025-11-06T22:32:45.240601+00:00", "last_accessed": None}
# 1. 1,000 config-only installs
os.makedirs(f"{t}/reg1")
ents = []
for i in range(1000):
    d = f"{t}/w/org/model-{i}"
    os.makedirs(d)
    c = dict(cfg); c["num_hidden_layers"] = 16 + i % 48
    json.dump(c, open(f"{d}/config.json", "w"))
    ents.append(skeleton(f"model-{i}", d))
json.dump(ents, open(f"{t}/reg1/model_registry.discovered.json", "w"), indent=2)
# 2. 100,000-line log over those 1,000 models (+1% malformed)
with open(f"{t}/metrics.jsonl", "w") as f:
    for n in range(100000):
        if n % 100 == 99:
            f.write("{not json\n"); continue
        m = random.randrange(1000)
        f.write(json.dumps({"timestamp": "2025-11-%02dT%02d:%02d:%02d.%06d+00:00" % (1 + n // 86400 % 28, n // 3600 % 24, n // 60 % 60, n % 60, n),
                            "model": f"model-{m}", "backend": "vllm", "served_model_id": f"model-{m}",
                            "payload": {"source": "vllm-manager", "metrics": {"configured_max_model_len": 4096,
                                        "configured_max_num_seqs": 1, "configured_gpu_memory_utilization": 0.9,
                                        "runtime_context_tokens": 4096, "gpu_memory_gib": {"index": 0, "used": 12.3, "total": 16.0}},
                                        "extra_args": ["--max-model-len", "4096"]}}) + "\n")
# 3. 10,000-entry registry and one new install
os.makedirs(f"{t}/reg3")
json.dump([skeleton(f"big-{i}", f"/nowhere/big-{i}") for i in range(10000)],
          open(f"{t}/reg3/model_registry.discovered.json", "w"), indent=2)
os.makedirs(f"{t}/one/org/new-model")
json.dump(cfg, open(f"{t}/one/org/new-model/config.json", "w"))
for k in range(6):
    os.makedirs(f"{t}/warm{k}/org/warm-model-{k}")
    json.dump(cfg, open(f"{t}/warm{k}/org/warm-model-{k}/config.json", "w"))
PY
cc -O2 -o "$T/registry_floor" "$SRC/bench/registry_floor.c" || { echo "cannot build registry_floor"; exit 1; }
cp -r "$T/reg1" "$T/reg2"

echo "registry benchmarks ($(nproc) cores, $(uname -sr), build $BUILD)"
IMAGEWORKS_REGISTRY_DIR=$T/reg1 timeit "migrate-architecture, 1,000 config-only installs" 2000 \
    "$CLI" migrate-architecture
IMAGEWORKS_REGISTRY_DIR=$T/reg1 timeit "migrate-architecture again (idempotent, nothing written)" 2000 \
    "$CLI" migrate-architecture
IMAGEWORKS_REGISTRY_DIR=$T/reg2 timeit "reconcile-architecture, 100,000-line log" 1000 \
    "$CLI" reconcile-architecture --metrics "$T/metrics.jsonl"
# steady state first: untimed writes leave the three files as this tool keeps
# them, with 5 backups each (seconds apart: backups are named by the second)
for k in 0 1 2 3 4 5; do
    IMAGEWORKS_REGISTRY_DIR=$T/reg3 "$CLI" scan "$T/warm$k" >/dev/null
    sleep 1
done
IMAGEWORKS_REGISTRY_DIR=$T/reg3 timeit "one upsert (scan of 1 install) into 10,000 entries" 100 \
    "$CLI" scan "$T/one"
IMAGEWORKS_REGISTRY_DIR=$T/reg3 timeit "read only: show NAME on 10,000 entries" 100 \
    "$CLI" show "new-model_(BF16)"
IMAGEWORKS_REGISTRY_DIR=$T/reg3 timeit "read only: list on 10,000 entries (parses all)" 1000 \
    "$CLI" list
printf 'backups kept: %s\n' "$(ls "$T/reg3" | grep -c '\.bak\.json$')"
"$T/registry_floor" "$T/reg3/model_registry.discovered.json"
printf 'registry sizes: %s bytes (1,000), %s bytes (10,000)\n' \
    "$(wc -c <"$T/reg1/model_registry.discovered.json")" "$(wc -c <"$T/reg3/model_registry.discovered.json")"
