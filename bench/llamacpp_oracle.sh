#!/usr/bin/env bash
# llamacpp_oracle.sh - the llama.cpp/Ollama estimate against llama.cpp itself.
#
# llama.cpp runs here from node-llama-cpp 3.22.1's prebuilt CPU libraries
# (llama.cpp v0.5.0; installed with npm into bench/llamacpp/node_modules when
# missing).  For each architecture we read, gguf-synth writes a full-size
# model from a corpus config.json as a sparse GGUF; llama.cpp loads it in its
# memory-fit mode (no_alloc: every buffer sized, nothing allocated) over a
# grid of contexts (512 .. 131072, up to the model's maximum; 1 and 4
# sequences; 1000 x 3 and 3000), flash attention on/off, KV f16 / q8_0 /
# q4_0, ubatch 256 / 512 / 2048, llama-server (one output per slot) and
# llama-cli (outputs for the batch); two small models are also loaded for
# real (mmap, KV and compute buffers allocated) to show both modes agree.
# Each case is compared with `imageworks-download estimate FILE --engine
# llama.cpp --json` and with node-llama-cpp's GgufInsights formula estimate.
#
# Usage: bench/llamacpp_oracle.sh [--quick] [--models a,b,...]
# Output: bench/out/llamacpp_oracle/{results.jsonl,summary.md}; the summary
# is printed.  The full grid takes ~30 minutes on 2 cores; --quick ~5.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
corpus=${IW_CORPUS_DIR:-$root/../shared/corpus}
out=$root/bench/out/llamacpp_oracle
bdir=$root/build-bench
mkdir -p "$out"

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
bins=$("$here/llamacpp/setup.sh" "$root/bench/out" | tail -n 1)
cmake -S "$root" -B "$bdir" -DCMAKE_BUILD_TYPE=Release -DIW_TESTS=OFF >/dev/null
cmake --build "$bdir" -j2 --target imageworks-download gguf-synth >/dev/null
python3 "$here/llamacpp/oracle_bench.py" --cli "$bdir/imageworks-download" --synth "$bdir/gguf-synth" \
    --oracle "$root/bench/out/oracle" --bins "$bins" --corpus "$corpus" --out "$out" "$@"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
