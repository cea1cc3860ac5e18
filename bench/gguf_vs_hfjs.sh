#!/bin/sh
# gguf_vs_hfjs.sh - whole-process time (hyperfine) and peak RSS (/usr/bin/time -v)
# of reading a GGUF header: imageworks-download inspect --json FILE against
# @huggingface/gguf (node).  Usage: bench/gguf_vs_hfjs.sh [FILE.gguf]
# Default FILE: the largest GGUF in ../shared/corpus/gguf.
# Builds a Release tree in build-bench/ (no sanitizers).  When `inspect` cannot
# read a .gguf in this build, the C side falls back to bench/gguf_bench.c (the
# same parser + iw_arch mapping in a minimal process) and says so.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
corpus=${IW_CORPUS_DIR:-$root/../shared/corpus}
file=${1:-$(ls -S "$corpus"/gguf/*.gguf | head -n 1)}
bdir=$root/build-bench
out=$root/bench/out
mkdir -p "$out"

# 1. @huggingface/gguf, pinned, installed locally (node_modules is gitignored)
if [ ! -d "$here/gguf_hfjs/node_modules/@huggingface/gguf" ]; then
    mkdir -p "$here/gguf_hfjs"
    npm install --silent --no-audit --no-fund --prefix "$here/gguf_hfjs" @huggingface/gguf@0.4.6 >/dev/null
fi

# 2. Release build of the tool and the libraries
cmake -S "$root" -B "$bdir" -DCMAKE_BUILD_TYPE=Release -DIW_TESTS=OFF >/dev/null
cmake --build "$bdir" -j2 --target imageworks-download iw_extract iw_common >/dev/null

ours="$bdir/imageworks-download inspect --json $file"
what="imageworks-download inspect --json"
if ! $ours >/dev/null 2>&1; then
    cc -O2 -I "$root/include" -o "$bdir/gguf_bench" "$here/gguf_bench.c" \
        "$bdir/libiw_extract.a" "$bdir/libiw_common.a" -lcjson -lcrypto -lm -lpthread
    ours="$bdir/gguf_bench $file"
    what="bench/gguf_bench.c (inspect cannot read .gguf in this build)"
fi
theirs="node $here/gguf_hfjs.mjs $file"

echo "file: $file ($(stat -c %s "$file") bytes)"
echo "C side: $what"
echo "ours:   $($ours | tr -d "\n " | head -c 200)"
echo "hfjs:   $($theirs | head -c 200)"

hyperfine -N --warmup 3 --min-runs 20 --export-json "$out/gguf_vs_hfjs.json" \
    -n ours "$ours" -n hfjs "$theirs"

rss() { /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F': ' '/Maximum resident set size/ {print $2}'; }
echo "peak RSS ours: $(rss $ours) KiB"
echo "peak RSS hfjs: $(rss $theirs) KiB"
python3 - "$out/gguf_vs_hfjs.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
o, h = r["ours"]["mean"], r["hfjs"]["mean"]
print(f"mean ours {o*1e3:.2f} ms, hfjs {h*1e3:.2f} ms, ratio {h/o:.1f}x")
PY
